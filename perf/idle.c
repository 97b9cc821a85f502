/*
 * idle: N idle connections held open against a server, and the server's resident memory before,
 * while and after they are held (see idle.h and perf/trpc-bench.1, "idle").
 *
 * One thread, one epoll set, non-blocking sockets. At most --parallel handshakes are in flight at
 * a time so that the server's listen backlog never overflows. A connection counts as established
 * when the PONG answering its handshake's PING arrives: by then the server has processed the
 * session (and the subscription). While held, a connection sends nothing but the PINGs its
 * keepalive asks for and the PONGs the server asks for.
 *
 * Memory comes from /proc/PID/status of --server-pid: VmRSS (resident now) and VmHWM (the peak).
 * Per connection is (largest VmRSS while held - VmRSS before) / connections. After closing, VmRSS
 * is read every AFTER_TICK_MS for --after seconds: whether the server gives the memory back.
 *
 * Two loads besides the bare connections, for that question: --subs K subscriptions per connection
 * (the rest after the hello's first stream out when the socket takes them, then a PING whose PONG
 * says the server has them all), and --partial BYTES, where each connection sends the first half
 * of a publish of BYTES bytes and holds it there, so the server keeps a partly received frame per
 * connection. Such a connection sends nothing more (a PING would land inside the frame).
 */
#include "perf/idle.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNS_MAX     1000000
#define FDS_SPARE     32 /* descriptors besides the connections: stdio, epoll, the status file */
#define EVENTS_MAX    256
#define RX_CHUNK      65536
#define TX_MAX        512
#define TOPIC_MAX     64
#define TICK_MS       100
#define AFTER_DEF_S   1.0 /* after closing, memory read until then */
#define AFTER_TICK_MS 250
#define AFTER_SAMPLES 64 /* readings after closing shown in the summary, at most */
#define SUBS_MAX      1000000
#define PARTIAL_MAX   (64ul << 20)
#define PARALLEL_DEF  128
#define HOLD_DEF_S    5.0
#define TIMEOUT_DEF_S 60.0
#define CONNS_DEF     1000

enum state { C_NEW, C_CONNECTING, C_HANDSHAKE, C_READY, C_DEAD };

struct conn {
    int fd;
    uint8_t state;
    uint8_t pongs;       /* PONGs seen during the handshake */
    uint8_t pongs_due;   /* PONGs that end it */
    uint64_t last_tx_ms; /* for keepalive PINGs */
    const uint8_t *tx;   /* bytes still to send after the hello, or NULL */
    uint32_t tx_len, tx_off;
    bool tx_owned; /* tx is this connection's (the subscriptions), else idle.partial */
    struct idle_rx rx;
};

struct idle_args {
    const char *url;
    unsigned long conns, parallel, subs, partial;
    double hold_s, timeout_s, after_s;
    long server_pid; /* 0: none */
    bool subscribe, quiet;
};

/* VmRSS and VmHWM in KiB; -1 when unknown. */
struct mem {
    long rss_kib, hwm_kib;
};

struct idle {
    const struct idle_proto *p;
    const struct idle_args *a;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int ep;
    struct conn *conns;
    unsigned long opened, ready, dead, dropped, inflight;
    uint64_t pings_sent, pongs_sent, unexpected;
    uint32_t keepalive_ms; /* the smallest a server announced; 0: none */
    char why[160];         /* the first failure */
    uint8_t *partial;      /* --partial: the first half of a publish, sent by every connection */
    size_t partial_len;
    uint8_t rx_chunk[RX_CHUNK];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct mem mem_read(long pid)
{
    struct mem m = {-1, -1};
    char path[64], line[256];
    FILE *f;

    if (pid <= 0)
        return m;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (!f)
        return m;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            m.rss_kib = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            m.hwm_kib = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    return m;
}

static void tx_done(struct conn *k)
{
    if (k->tx_owned)
        free((void *)k->tx);
    k->tx = NULL;
    k->tx_owned = false;
}

/* The first failure is the one reported; the rest are counted. */
static void note(struct idle *s, const char *what, unsigned long i, const char *detail)
{
    if (!s->why[0])
        snprintf(s->why, sizeof(s->why), "connection %lu: %s%s%s", i, what, detail ? ": " : "", detail ? detail : "");
}

static void conn_kill(struct idle *s, unsigned long i, const char *what, const char *detail)
{
    struct conn *k = &s->conns[i];

    if (k->state == C_DEAD)
        return;
    if (k->state == C_READY) {
        s->ready--;
        s->dropped++;
    } else if (k->state == C_CONNECTING || k->state == C_HANDSHAKE) {
        s->inflight--;
    }
    note(s, what, i, detail);
    tx_done(k);
    close(k->fd);
    k->fd = -1;
    k->state = C_DEAD;
    s->dead++;
}

/* Frames here are a few dozen bytes on a connection that sends nothing else, so the socket buffer
 * always has room: a short send means the connection is broken. */
static bool conn_send(struct idle *s, unsigned long i, const uint8_t *buf, ssize_t n)
{
    struct conn *k = &s->conns[i];

    if (n < 0 || send(k->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
        conn_kill(s, i, "send", n < 0 ? "frame does not fit" : strerror(errno));
        return false;
    }
    k->last_tx_ms = now_ms();
    return true;
}

/* The hello's handshake is over once its PONGs came and what followed it is sent. */
static void maybe_ready(struct idle *s, unsigned long i)
{
    struct conn *k = &s->conns[i];

    if (k->state != C_HANDSHAKE || k->pongs < k->pongs_due || k->tx != NULL)
        return;
    k->state = C_READY;
    s->inflight--;
    s->ready++;
}

/* Subscriptions 2..subs of connection i, then a PING: its PONG tells that the server has them. */
static bool subs_stream(struct idle *s, unsigned long i, const char *topic)
{
    struct conn *k = &s->conns[i];
    size_t cap = (s->a->subs - 1) * (TOPIC_MAX + 64) + TX_MAX, len = 0;
    uint8_t *buf = malloc(cap);
    ssize_t n;

    if (buf == NULL)
        return false;
    for (unsigned long j = 2; j <= s->a->subs; j++) {
        char t[TOPIC_MAX + 16];

        snprintf(t, sizeof(t), "%s.%lu", topic, j);
        n = s->p->sub(buf + len, cap - len, t, (uint32_t)j);
        if (n < 0)
            goto out_free;
        len += (size_t)n;
    }
    n = s->p->ping(buf + len, cap - len);
    if (n < 0)
        goto out_free;
    k->tx = buf;
    k->tx_len = (uint32_t)(len + (size_t)n);
    k->tx_owned = true;
    k->pongs_due = 2;
    return true;
out_free:
    free(buf);
    return false;
}

static void conn_hello(struct idle *s, unsigned long i)
{
    struct conn *k = &s->conns[i];
    uint8_t buf[TX_MAX];
    char topic[TOPIC_MAX];
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = i};

    snprintf(topic, sizeof(topic), "idle.%d.%lu", (int)getpid(), i);
    if (!conn_send(s, i, buf, s->p->hello(buf, sizeof(buf), s->a->subscribe ? topic : NULL)))
        return;
    k->state = C_HANDSHAKE;
    k->pongs_due = 1;
    if (s->a->subs > 1 && !subs_stream(s, i, topic)) {
        conn_kill(s, i, "subscriptions", "out of memory");
        return;
    }
    if (s->partial != NULL) {
        k->tx = s->partial;
        k->tx_len = (uint32_t)s->partial_len;
    }
    k->tx_off = 0;
    if (k->tx != NULL)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(s->ep, EPOLL_CTL_MOD, k->fd, &ev) != 0)
        conn_kill(s, i, "epoll_ctl", strerror(errno));
}

/* Sends what follows the hello as far as the socket takes it. */
static void conn_writable(struct idle *s, unsigned long i)
{
    struct conn *k = &s->conns[i];
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = i};

    while (k->tx_off < k->tx_len) {
        ssize_t n = send(k->fd, k->tx + k->tx_off, k->tx_len - k->tx_off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                conn_kill(s, i, "send", strerror(errno));
            return;
        }
        k->tx_off += (uint32_t)n;
    }
    k->last_tx_ms = now_ms();
    tx_done(k);
    if (epoll_ctl(s->ep, EPOLL_CTL_MOD, k->fd, &ev) != 0) {
        conn_kill(s, i, "epoll_ctl", strerror(errno));
        return;
    }
    maybe_ready(s, i);
}

/* Opens connection i. Returns false when the process ran out of descriptors or local ports, where
 * going on would only fail the same way. */
static bool conn_open(struct idle *s, unsigned long i)
{
    struct conn *k = &s->conns[i];
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u64 = i};

    s->opened++;
    k->fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k->fd == -1) {
        k->state = C_DEAD;
        s->dead++;
        note(s, "socket", i, errno == EMFILE || errno == ENFILE ? "out of file descriptors (ulimit -n)" : strerror(errno));
        return errno != EMFILE && errno != ENFILE;
    }
    k->state = C_CONNECTING;
    s->inflight++;
    if (connect(k->fd, (struct sockaddr *)&s->addr, s->addrlen) != 0 && errno != EINPROGRESS) {
        int e = errno;
        conn_kill(s, i, "connect",
                  e == EADDRNOTAVAIL ? "out of local ports (see /proc/sys/net/ipv4/ip_local_port_range)" : strerror(e));
        return e != EADDRNOTAVAIL;
    }
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, k->fd, &ev) != 0) {
        conn_kill(s, i, "epoll_ctl", strerror(errno));
        return false;
    }
    return true;
}

static void conn_readable(struct idle *s, unsigned long i)
{
    struct conn *k = &s->conns[i];

    for (;;) {
        struct idle_events ev;
        ssize_t n = recv(k->fd, s->rx_chunk, sizeof(s->rx_chunk), MSG_DONTWAIT);

        if (n == 0) {
            conn_kill(s, i, "closed by the server", NULL);
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                conn_kill(s, i, "recv", strerror(errno));
            return;
        }
        memset(&ev, 0, sizeof(ev));
        s->p->parse(&k->rx, s->rx_chunk, (size_t)n, &ev);
        if (ev.err != 0) {
            conn_kill(s, i, "refused", ev.why);
            return;
        }
        s->unexpected += ev.others;
        if (ev.keepalive_ms && (!s->keepalive_ms || ev.keepalive_ms < s->keepalive_ms))
            s->keepalive_ms = ev.keepalive_ms;
        for (unsigned j = 0; j < ev.pings && s->partial == NULL; j++) {
            uint8_t buf[TX_MAX];
            if (!conn_send(s, i, buf, s->p->pong(buf, sizeof(buf))))
                return;
            s->pongs_sent++;
        }
        if (k->state == C_HANDSHAKE) {
            k->pongs = (uint8_t)(k->pongs + ev.pongs > 2 ? 2 : k->pongs + ev.pongs);
            maybe_ready(s, i);
        }
    }
}

static void conn_event(struct idle *s, const struct epoll_event *ev)
{
    unsigned long i = (unsigned long)ev->data.u64;
    struct conn *k = &s->conns[i];

    if (k->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err != 0) {
            conn_kill(s, i, "connect", strerror(err));
            return;
        }
        if (!(ev->events & EPOLLOUT))
            return;
        conn_hello(s, i);
        return;
    }
    if (ev->events & EPOLLIN)
        conn_readable(s, i);
    if (k->state != C_DEAD && k->tx != NULL && (ev->events & EPOLLOUT))
        conn_writable(s, i);
    if (k->state != C_DEAD && (ev->events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
        conn_kill(s, i, "closed by the server", NULL);
}

/* Waits up to timeout_ms for events and handles them. */
static void poll_once(struct idle *s, int timeout_ms)
{
    struct epoll_event evs[EVENTS_MAX];
    int n = epoll_wait(s->ep, evs, EVENTS_MAX, timeout_ms);

    for (int j = 0; j < n; j++)
        conn_event(s, &evs[j]);
}

/* PINGs for connections silent for a keepalive interval: the server cuts those silent for two. */
static void keepalive(struct idle *s)
{
    uint64_t t = now_ms();
    uint8_t buf[TX_MAX];
    ssize_t n;

    if (s->keepalive_ms == 0 || s->partial != NULL)
        return;
    n = s->p->ping(buf, sizeof(buf));
    for (unsigned long i = 0; i < s->a->conns; i++) {
        if (s->conns[i].state == C_READY && t - s->conns[i].last_tx_ms >= s->keepalive_ms && conn_send(s, i, buf, n))
            s->pings_sent++;
    }
}

/* Opens every connection, at most --parallel handshakes at a time. Returns the seconds it took. */
static double connect_all(struct idle *s)
{
    uint64_t start = now_ms(), deadline = start + (uint64_t)(s->a->timeout_s * 1000);
    bool more = true;

    while (s->ready + s->dead < s->a->conns) {
        while (more && s->opened < s->a->conns && s->inflight < s->a->parallel)
            more = conn_open(s, s->opened);
        if (!more && s->inflight == 0)
            break;
        if (now_ms() >= deadline) {
            if (!s->why[0])
                snprintf(s->why, sizeof(s->why), "%lu connections not established after %.0f s (--timeout)", s->a->conns - s->ready,
                         s->a->timeout_s);
            break;
        }
        poll_once(s, TICK_MS);
        if (!s->a->quiet && isatty(STDERR_FILENO))
            fprintf(stderr, "\r\033[K%s idle: %lu of %lu established", s->p->system, s->ready, s->a->conns);
    }
    if (!s->a->quiet && isatty(STDERR_FILENO))
        fprintf(stderr, "\r\033[K");
    return (double)(now_ms() - start) / 1e3;
}

/* Holds the connections for --hold seconds; returns the largest VmRSS seen meanwhile. */
static long hold(struct idle *s)
{
    uint64_t end = now_ms() + (uint64_t)(s->a->hold_s * 1000), next_sample = 0;
    long rss_max = -1;

    for (uint64_t t = now_ms(); t < end; t = now_ms()) {
        if (t >= next_sample) {
            struct mem m = mem_read(s->a->server_pid);
            rss_max = m.rss_kib > rss_max ? m.rss_kib : rss_max;
            next_sample = t + 1000;
        }
        poll_once(s, (int)(end - t < TICK_MS ? end - t : TICK_MS));
        keepalive(s);
    }
    struct mem m = mem_read(s->a->server_pid);
    return m.rss_kib > rss_max ? m.rss_kib : rss_max;
}

static void close_all(struct idle *s)
{
    for (unsigned long i = 0; i < s->a->conns; i++) {
        if (s->conns[i].state != C_NEW && s->conns[i].state != C_DEAD)
            close(s->conns[i].fd);
        tx_done(&s->conns[i]);
        s->conns[i].state = C_DEAD;
    }
}

int idle_resolve(const char *url, uint16_t port_default, struct sockaddr_storage *addr, socklen_t *addrlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char host[256], port[8];
    const char *h = strstr(url, "://") + 3, *end, *colon;
    size_t hl;
    int rc;

    if (*h == '[') {
        end = strchr(++h, ']');
        if (!end)
            return EAI_NONAME;
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(h, ':');
        end = colon ? colon : h + strlen(h);
    }
    hl = (size_t)(end - h);
    if (hl == 0 || hl >= sizeof(host))
        return EAI_NONAME;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, sizeof(port), "%u", (unsigned)port_default);
    if (colon && (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port)))
        return EAI_SERVICE;
    if (colon)
        snprintf(port, sizeof(port), "%s", colon + 1);
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return rc;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Room for every connection: the soft limit raised as far as the hard one allows. */
static int raise_nofile(const char *prog, unsigned long conns)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)conns + FDS_SPARE;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -errno;
    if (rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        fprintf(stderr,
                "%s: idle: %lu connections need %lu open files, but the hard limit is %lu: raise it (ulimit -Hn, or "
                "LimitNOFILE=) or ask for fewer --conns\n",
                prog, conns, (unsigned long)need, (unsigned long)rl.rlim_max);
        return -EMFILE;
    }
    rl.rlim_cur = need;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : -errno;
}

static void help(const char *prog, const char *url_default)
{
    printf("NAME\n"
           "    %1$s idle - hold N idle connections open and measure the server's memory\n"
           "\n"
           "SYNOPSIS\n"
           "    %1$s idle [--url URL] [--conns N] [--hold S] [--subscribe] [--subs K]\n"
           "              [--partial BYTES] [--server-pid PID] [--after S] [--parallel P]\n"
           "              [--timeout S] [--quiet]\n"
           "\n"
           "DESCRIPTION\n"
           "    Opens N connections, each completing a real handshake (trpc:// URLs: CONNECT, CONNACK;\n"
           "    nats:// URLs: the NATS text protocol), optionally one subscription each, and holds them\n"
           "    for S seconds, sending only the keepalive PINGs the server asks for. With --server-pid\n"
           "    it reads the server's VmRSS and VmHWM from /proc/PID/status before connecting, every\n"
           "    second while holding, and every %9$d ms for S seconds after closing (--after). The\n"
           "    connections speak the wire protocol themselves from one thread (no client library), so\n"
           "    10,000 of them cost this process little.\n"
           "\n"
           "OPTIONS\n"
           "    --url URL          server (default %2$s; trpc:// or nats://)\n"
           "    --conns N          connections (default %3$d, at most %4$d); needs N+%5$d open files\n"
           "    --hold S           seconds to hold them once all are established (default %6$.0f)\n"
           "    --subscribe        each connection subscribes to its own topic idle.PID.I\n"
           "    --subs K           K subscriptions per connection (idle.PID.I, then idle.PID.I.J for\n"
           "                       J = 2..K; implies --subscribe)\n"
           "    --partial BYTES    each connection sends the first half of a publish of BYTES bytes\n"
           "                       and holds it (the server keeps a partial frame); no keepalive\n"
           "    --after S          read the server's memory for S seconds after closing (default %10$.0f)\n"
           "    --server-pid PID   the server process whose memory is read\n"
           "    --parallel P       handshakes in flight at a time (default %7$d)\n"
           "    --timeout S        give up when not all are established after S seconds (default %8$.0f)\n"
           "    --quiet            no progress line\n"
           "\n"
           "OUTPUT\n"
           "    A summary, then as the last line: result workload=idle conns= established= subs=\n"
           "    connect_s= hold_s= dropped= pings= rss_before_kib= rss_held_kib= hwm_kib=\n"
           "    rss_after_kib= rss_after_min_kib= after_s= per_conn_b= status=ok|failed system=\n"
           "    (memory fields are - without --server-pid). rss_after_kib is the last reading after\n"
           "    closing, rss_after_min_kib the smallest; per_conn_b is (largest VmRSS while held -\n"
           "    VmRSS before) / N.\n"
           "\n"
           "EXIT STATUS\n"
           "    0 all N established and none dropped while held, 1 otherwise, 2 bad usage.\n",
           prog, url_default, CONNS_DEF, CONNS_MAX, FDS_SPARE, HOLD_DEF_S, PARALLEL_DEF, TIMEOUT_DEF_S, AFTER_TICK_MS, AFTER_DEF_S);
}

static bool parse_seconds(const char *v, double *out)
{
    char *end = NULL;
    double d = strtod(v, &end);
    if (end == v || *end || !(d > 0) || d > 86400)
        return false;
    *out = d;
    return true;
}

static bool parse_count(const char *v, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    unsigned long n;

    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno || end == v || *end || *v == '-' || n < min || n > max)
        return false;
    *out = n;
    return true;
}

static int parse_args(const char *prog, const char *url_default, int argc, char **argv, struct idle_args *a)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"conns", required_argument, NULL, 'n'},
        {"hold", required_argument, NULL, 'H'},
        {"subscribe", no_argument, NULL, 's'},
        {"subs", required_argument, NULL, 'k'},
        {"partial", required_argument, NULL, 'f'},
        {"after", required_argument, NULL, 'a'},
        {"server-pid", required_argument, NULL, 'p'},
        {"parallel", required_argument, NULL, 'P'},
        {"timeout", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned long pid = 0;
    int c, idx = 0;

    *a = (struct idle_args){.url = url_default,
                            .conns = CONNS_DEF,
                            .parallel = PARALLEL_DEF,
                            .hold_s = HOLD_DEF_S,
                            .timeout_s = TIMEOUT_DEF_S,
                            .after_s = AFTER_DEF_S};
    optind = 2; /* argv[1] is "idle" */
    while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        bool good = true;
        switch (c) {
        case 'u':
            a->url = optarg;
            break;
        case 'n':
            good = parse_count(optarg, 1, CONNS_MAX, &a->conns);
            break;
        case 'H':
            good = parse_seconds(optarg, &a->hold_s);
            break;
        case 's':
            a->subscribe = true;
            break;
        case 'k':
            good = parse_count(optarg, 1, SUBS_MAX, &a->subs);
            a->subscribe = true;
            break;
        case 'f':
            good = parse_count(optarg, 256, PARTIAL_MAX, &a->partial);
            break;
        case 'a':
            good = parse_seconds(optarg, &a->after_s);
            break;
        case 'p':
            good = parse_count(optarg, 1, 1ul << 22, &pid);
            a->server_pid = (long)pid;
            break;
        case 'P':
            good = parse_count(optarg, 1, 65536, &a->parallel);
            break;
        case 't':
            good = parse_seconds(optarg, &a->timeout_s);
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'h':
            help(prog, url_default);
            exit(0);
        default:
            return 2;
        }
        if (!good) {
            fprintf(stderr, "%s: idle: bad value '%s' for --%s\n", prog, optarg, opts[idx].name);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: idle: unexpected argument '%s'\n", prog, argv[optind]);
        return 2;
    }
    if (a->subscribe && a->subs == 0)
        a->subs = 1;
    if (a->subs > 1 && a->partial > 0) {
        fprintf(stderr, "%s: idle: --subs and --partial are two different loads: one at a time\n", prog);
        return 2;
    }
    if (!idle_proto_for(a->url)) {
        fprintf(stderr, "%s: idle: --url must start with trpc:// or nats:// (got '%s')\n", prog, a->url);
        return 2;
    }
    return 0;
}

static void print_kib(const char *name, long kib)
{
    if (kib >= 0)
        printf(" %s=%ld", name, kib);
    else
        printf(" %s=-", name);
}

/* VmRSS read after closing, every AFTER_TICK_MS. */
struct after {
    long kib[AFTER_SAMPLES];
    unsigned n;
    long last_kib, min_kib;
};

static void read_after(const struct idle *s, struct after *r)
{
    uint64_t start = now_ms(), end = start + (uint64_t)(s->a->after_s * 1000);

    r->n = 0;
    r->last_kib = -1;
    r->min_kib = -1;
    for (uint64_t next = start + AFTER_TICK_MS;; next += AFTER_TICK_MS) {
        uint64_t t = now_ms();

        if (next > end)
            next = end;
        if (next > t)
            usleep((useconds_t)(next - t) * 1000);
        r->last_kib = mem_read(s->a->server_pid).rss_kib;
        if (r->last_kib >= 0 && (r->min_kib < 0 || r->last_kib < r->min_kib))
            r->min_kib = r->last_kib;
        if (r->n < AFTER_SAMPLES)
            r->kib[r->n++] = r->last_kib;
        if (next >= end)
            break;
    }
}

static void report(const struct idle *s, double connect_s, struct mem before, long held_kib, struct mem end,
                   const struct after *after)
{
    const struct idle_args *a = s->a;
    bool ok = s->ready == a->conns && s->dropped == 0;
    bool mem = before.rss_kib >= 0 && held_kib >= 0 && s->ready > 0;
    double per_conn = mem ? (double)(held_kib - before.rss_kib) * 1024.0 / (double)s->ready : 0;

    printf("%s idle: %lu of %lu connections established%s in %.2f s, held %.1f s, %lu dropped, %" PRIu64
           " keepalive PINGs sent, %" PRIu64 " unexpected messages\n",
           s->p->system, s->ready + s->dropped, a->conns,
           a->subs > 1    ? " with their subscriptions"
           : a->subscribe ? " and subscribed"
           : a->partial   ? " with a partial frame each"
                          : "",
           connect_s, a->hold_s, s->dropped, s->pings_sent, s->unexpected);
    if (s->why[0])
        printf("  first failure: %s\n", s->why);
    if (mem)
        printf("  server pid %ld: VmRSS %.1f MiB before, %.1f MiB held (+%.1f MiB, %.0f B per connection), VmHWM %.1f MiB, "
               "%.1f MiB %.1f s after closing\n",
               a->server_pid, before.rss_kib / 1024.0, held_kib / 1024.0, (held_kib - before.rss_kib) / 1024.0, per_conn,
               end.hwm_kib / 1024.0, after->last_kib / 1024.0, a->after_s);
    if (mem) {
        printf("  VmRSS after closing, every %d ms, MiB:", AFTER_TICK_MS);
        for (unsigned j = 0; j < after->n; j++)
            printf(" %.1f", after->kib[j] / 1024.0);
        printf("\n");
    }
    printf("result workload=idle conns=%lu established=%lu subs=%lu connect_s=%.2f hold_s=%.1f dropped=%lu pings=%" PRIu64,
           a->conns, s->ready + s->dropped, (s->ready + s->dropped) * a->subs, connect_s, a->hold_s, s->dropped, s->pings_sent);
    print_kib("rss_before_kib", before.rss_kib);
    print_kib("rss_held_kib", held_kib);
    print_kib("hwm_kib", end.hwm_kib);
    print_kib("rss_after_kib", after->last_kib);
    print_kib("rss_after_min_kib", after->min_kib);
    printf(" after_s=%.1f", a->after_s);
    if (mem)
        printf(" per_conn_b=%.0f", per_conn);
    else
        printf(" per_conn_b=-");
    printf(" status=%s system=%s\n", ok ? "ok" : "failed", s->p->system);
}

int idle_main(const char *prog, const char *url_default, int argc, char **argv)
{
    struct idle_args a;
    struct idle *s;
    struct mem before, end;
    long held_kib = -1;
    struct after after;
    double connect_s;
    int rc = parse_args(prog, url_default, argc, argv, &a);

    if (rc != 0)
        return rc;
    if (raise_nofile(prog, a.conns) != 0)
        return 1;
    s = calloc(1, sizeof(*s));
    if (!s)
        return 1;
    s->p = idle_proto_for(a.url);
    s->a = &a;
    s->ep = -1;
    rc = idle_resolve(a.url, s->p->port_default, &s->addr, &s->addrlen);
    if (rc != 0) {
        fprintf(stderr, "%s: idle: %s: %s\n", prog, a.url, gai_strerror(rc));
        rc = 1;
        goto out_free;
    }
    s->conns = calloc(a.conns, sizeof(*s->conns));
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!s->conns || s->ep == -1) {
        fprintf(stderr, "%s: idle: %s\n", prog, strerror(s->conns ? errno : ENOMEM));
        rc = 1;
        goto out_free;
    }
    if (a.partial > 0) {
        uint8_t *frame = malloc(a.partial);
        ssize_t n = frame ? s->p->pub(frame, a.partial, "idle.partial", a.partial) : -1;

        if (n != (ssize_t)a.partial) {
            fprintf(stderr, "%s: idle: cannot make a publish of %lu bytes\n", prog, a.partial);
            free(frame);
            rc = 1;
            goto out_free;
        }
        s->partial = frame; /* only the first half is sent */
        s->partial_len = a.partial / 2;
    }
    before = mem_read(a.server_pid);
    connect_s = connect_all(s);
    if (s->ready == a.conns)
        held_kib = hold(s);
    end = mem_read(a.server_pid);
    close_all(s);
    read_after(s, &after);
    report(s, connect_s, before, held_kib, end, &after);
    rc = s->ready == a.conns && s->dropped == 0 ? 0 : 1;
    if (rc != 0)
        fprintf(stderr, "%s: idle: %s\n", prog, s->why[0] ? s->why : "not every connection was held");
out_free:
    if (s->ep != -1)
        close(s->ep);
    free(s->conns);
    free(s->partial);
    free(s);
    return rc;
}
