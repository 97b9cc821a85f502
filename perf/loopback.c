/*
 * loopback: the raw limits of this machine's loopback TCP, the ceiling every broker number in
 * docs/performance.md is read against.
 *
 * Bandwidth: one TCP stream, one thread writing large blocks, another reading them, for the given
 * duration; counted at the reader. Round trip: one 16-byte message bounced by an echo thread and
 * timed from before write() to after the whole echo was read, TCP_NODELAY on both ends.
 * The last line is machine-readable:
 *   result workload=loopback mb_per_s=... rtt_p50_us=... rtt_p99_us=... rtt_p999_us=... round_trips=...
 */
#include "perf/hist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PING_SIZE  16
#define BLOCK_MAX  (64u << 20)
#define HIST_RANGE (UINT64_C(60) * 1000000000) /* 60 s in ns */

struct stream {
    int fd;
    size_t block;
    double duration_s;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "loopback: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* A connected pair of TCP sockets over 127.0.0.1 (client, server side), TCP_NODELAY on both. */
static void tcp_pair(int fds[2])
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd == -1 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(lfd, 1) == -1 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) == -1)
        die("listen on 127.0.0.1");
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[0] == -1 || connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)) == -1)
        die("connect");
    fds[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fds[1] == -1)
        die("accept");
    close(lfd);
    int one = 1;
    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, char *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Writes blocks until the duration is over, then closes so the reader sees EOF. */
static void *writer_main(void *arg)
{
    struct stream *s = arg;
    char *buf = calloc(1, s->block);
    if (!buf)
        die("calloc");
    uint64_t end = now_ns() + (uint64_t)(s->duration_s * 1e9);
    while (now_ns() < end)
        if (write_all(s->fd, buf, s->block) == -1)
            break;
    shutdown(s->fd, SHUT_WR);
    free(buf);
    return NULL;
}

static double measure_bandwidth(size_t block, double duration_s)
{
    int fds[2];
    tcp_pair(fds);
    struct stream s = {.fd = fds[0], .block = block, .duration_s = duration_s};
    char *buf = malloc(block);
    if (!buf)
        die("malloc");
    pthread_t t;
    uint64_t start = now_ns();
    if (pthread_create(&t, NULL, writer_main, &s) != 0)
        die("pthread_create");
    uint64_t bytes = 0;
    for (;;) {
        ssize_t r = read(fds[1], buf, block);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        bytes += (uint64_t)r;
    }
    uint64_t elapsed = now_ns() - start;
    pthread_join(t, NULL);
    free(buf);
    close(fds[0]);
    close(fds[1]);
    return (double)bytes / 1e6 / ((double)elapsed / 1e9);
}

static void *echo_main(void *arg)
{
    int fd = *(int *)arg;
    char buf[PING_SIZE];
    while (read_all(fd, buf, sizeof(buf)) == 0)
        if (write_all(fd, buf, sizeof(buf)) == -1)
            break;
    return NULL;
}

static uint64_t measure_rtt(double duration_s, struct hist *h)
{
    int fds[2];
    tcp_pair(fds);
    pthread_t t;
    if (pthread_create(&t, NULL, echo_main, &fds[1]) != 0)
        die("pthread_create");
    char buf[PING_SIZE] = "ping-0123456789";
    uint64_t end = now_ns() + (uint64_t)(duration_s * 1e9), n = 0;
    for (uint64_t t0 = now_ns(); t0 < end; t0 = now_ns(), n++) {
        if (write_all(fds[0], buf, sizeof(buf)) == -1 || read_all(fds[0], buf, sizeof(buf)) == -1)
            die("round trip");
        hist_record(h, now_ns() - t0);
    }
    shutdown(fds[0], SHUT_WR);
    pthread_join(t, NULL);
    close(fds[0]);
    close(fds[1]);
    return n;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: loopback [--duration S] [--block BYTES]\n"
                 "\n"
                 "Measures loopback TCP on this machine: one stream's bandwidth with BYTES-sized writes\n"
                 "(default 1 MiB), then the round trip of a 16-byte ping-pong, each for S seconds (default 2).\n"
                 "MB is 10^6 bytes. The last line is: result workload=loopback mb_per_s=... rtt_p50_us=...\n"
                 "rtt_p99_us=... rtt_p999_us=... round_trips=...\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"duration", required_argument, NULL, 'd'},
        {"block", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double duration_s = 2.0;
    unsigned long block = 1u << 20;
    int c;
    while ((c = getopt_long(argc, argv, "d:b:h", opts, NULL)) != -1) {
        char *end = NULL;
        if (c == 'd')
            duration_s = strtod(optarg, &end);
        else if (c == 'b')
            block = strtoul(optarg, &end, 10);
        else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
        if (!end || *end || duration_s <= 0 || duration_s > 3600 || block == 0 || block > BLOCK_MAX) {
            fprintf(stderr, "loopback: bad value '%s' for --%s\n", optarg, c == 'd' ? "duration" : "block");
            return 2;
        }
    }
    struct hist h;
    if (hist_init(&h, HIST_RANGE, 3) != 0)
        die("hist_init");
    double mbps = measure_bandwidth(block, duration_s);
    printf("bandwidth: %.0f MB/s (one stream, %lu-byte writes)\n", mbps, block);
    uint64_t n = measure_rtt(duration_s, &h);
    printf("round trip: %" PRIu64 " x %d B, p50 %.1f us, p99 %.1f us, max %.1f us\n", n, PING_SIZE,
           (double)hist_percentile(&h, 50) / 1e3, (double)hist_percentile(&h, 99) / 1e3, (double)h.max / 1e3);
    printf("result workload=loopback block=%lu mb_per_s=%.1f rtt_p50_us=%.2f rtt_p99_us=%.2f rtt_p999_us=%.2f round_trips=%" PRIu64
           "\n",
           block, mbps, (double)hist_percentile(&h, 50) / 1e3, (double)hist_percentile(&h, 99) / 1e3,
           (double)hist_percentile(&h, 99.9) / 1e3, n);
    hist_destroy(&h);
    return 0;
}
