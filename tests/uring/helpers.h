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

static inline int th_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
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

/* Byte i of a test stream: a pattern that a lost, repeated or reordered chunk breaks. */
static inline unsigned char th_pattern(size_t i)
{
    return (unsigned char)((i * 131u) ^ (i >> 8) ^ (i >> 16));
}

#endif
