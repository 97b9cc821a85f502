/*
 * Shared by the tests in tests/uring/: loopback sockets, descriptor counting, the tier diag line.
 */
#ifndef TRPC_TESTS_URING_HELPERS_H
#define TRPC_TESTS_URING_HELPERS_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/tap.h"
#include "uring/uring.h"

/* Probes, prints the tier as a diag line and skips the test below T0. */
static inline struct uring_features th_require_t0(void)
{
    struct uring_features f;
    int tier = uring_probe(&f);

    diag("io_uring tier %s%s%s", uring_tier_name(f.tier), f.missing[0] ? "; missing: " : "", f.missing);
    if (tier < 0)
        skip_all("kernel below T0");
    return f;
}

static inline unsigned th_port_of(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        BAIL_OUT("getsockname: %s", strerror(errno));
    return ntohs(sa.sin_port);
}

/* A blocking client socket connected to 127.0.0.1:port. */
static inline int th_connect(unsigned port)
{
    struct sockaddr_in sa = {0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd == -1)
        return -errno;
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = -errno;

        close(fd);
        return err;
    }
    return fd;
}

/* All of len bytes read (in) or written, retrying on EINTR and short transfers: 0, or -1 on error or
 * end of file. */
static inline int th_xfer_all(int fd, char *p, size_t len, bool in)
{
    while (len > 0) {
        ssize_t n = in ? read(fd, p, len) : write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static inline int th_write_all(int fd, const void *buf, size_t len)
{
    return th_xfer_all(fd, (char *)buf, len, false);
}

static inline int th_read_all(int fd, void *buf, size_t len)
{
    return th_xfer_all(fd, buf, len, true);
}

static inline int th_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        BAIL_OUT("opendir /proc/self/fd: %s", strerror(errno));
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* Lists the open descriptors as diag lines (to explain a count that does not match). */
static inline void th_list_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char path[300], target[256];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        ssize_t n;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        diag("fd %s -> %s", e->d_name, target);
    }
    closedir(d);
}

/* A small loop (no traffic) with a timer set of cap deadlines on it: the deadline tests' start. */
static inline void th_tset_start(struct uring_loop *loop, struct uring_tset *set, unsigned cap)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 256};

    th_require_t0();
    if (uring_loop_init(loop, &o) != 0)
        BAIL_OUT("loop init");
    if (uring_tset_init(set, loop, cap, 0) != 0)
        BAIL_OUT("set init");
}

/* Byte i of a test stream: a pattern that a lost, repeated or reordered chunk breaks. */
static inline unsigned char th_pattern(size_t i)
{
    return (unsigned char)((i * 131u) ^ (i >> 8) ^ (i >> 16));
}

/* A client that connects to 127.0.0.1:port, writes `total` bytes of th_pattern() and closes: the
 * stream the receive tests check byte by byte. Run it with pthread_create(th_pattern_sender). */
struct th_pattern_stream {
    unsigned port;
    size_t total;
};

static inline void *th_pattern_sender(void *arg)
{
    const struct th_pattern_stream *ps = arg;
    unsigned char *buf = malloc(ps->total);
    int fd = th_connect(ps->port);

    if (buf == NULL || fd < 0)
        BAIL_OUT("sender setup");
    for (size_t i = 0; i < ps->total; i++)
        buf[i] = th_pattern(i);
    th_write_all(fd, buf, ps->total);
    close(fd);
    free(buf);
    return NULL;
}

/*
 * The fixture of the send-path tests: a loop with one connection on a Unix socketpair, whose other
 * end (peer) the test reads from a thread of its own, and a timer that drives the writes. The
 * connection discards what it receives; its close records the error and stops the loop.
 */
struct th_pair {
    struct uring_loop loop;
    struct uring_conn conn;
    struct uring_timer tick;
    int peer;
    int closed_err;
};

static inline void th_pair_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    (void)data;
    (void)len;
    uring_buf_put(c->loop, bid);
}

static inline void th_pair_close(struct uring_conn *c, int err)
{
    struct th_pair *p = (struct th_pair *)(void *)((char *)c - offsetof(struct th_pair, conn));

    p->closed_err = err;
    uring_loop_stop(c->loop);
}

/* Starts the fixture: the loop with options o, the socketpair (the connection's end with a send
 * buffer of sndbuf bytes unless 0), the connection bounded to out_max, and tick after tick_ns.
 * The connection's and the timer's data are `data`. Bails out on failure. */
static inline void th_pair_start(struct th_pair *p, const struct uring_loop_opts *o, int sndbuf, size_t out_max, uint64_t tick_ns,
                                 uring_timer_cb *tick, void *data)
{
    static const struct uring_conn_cbs cbs = {.on_recv = th_pair_recv, .on_close = th_pair_close};
    int sv[2];

    th_require_t0();
    if (uring_loop_init(&p->loop, o) != 0)
        BAIL_OUT("loop init");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        BAIL_OUT("socketpair");
    if (sndbuf > 0)
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    p->peer = sv[1];
    p->tick.data = data;
    p->conn.data = data;
    if (uring_conn_start(&p->conn, &p->loop, sv[0], &cbs, out_max) != 0 ||
        uring_timer_start(&p->loop, &p->tick, tick_ns, tick) != 0)
        BAIL_OUT("conn or timer start");
}

#endif
