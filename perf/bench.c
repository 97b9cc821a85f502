/*
 * bench: workloads shared by trpc-bench and nats-bench (see bench.h and perf/trpc-bench.1).
 *
 * Payload layout: bytes 0..7 carry the sender's CLOCK_MONOTONIC time in nanoseconds (when the
 * payload has 8 bytes or more); the rest is zero. Publishers, subscribers and requesters share one
 * process and one clock, so send-to-receive latency is the difference of two readings.
 *
 * Flow control: pubsub publishers together stay at most `window` messages ahead of the slowest
 * subscriber (of the group as a whole with --group). Without it a publisher outruns the broker's
 * delivery and the run measures the broker's slow-consumer cut-off instead of its throughput.
 */
#include "perf/bench.h"
#include "perf/hist.h"
#include "perf/idle.h"
#include "perf/storm.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HIST_RANGE_NS   (UINT64_C(60) * 1000000000)
#define HIST_DIGITS     3
#define MAX_CLIENTS     64
#define MAX_CONNECTORS  1024 /* connect: threads, for a storm of logins */
#define MAX_SIZE        (16u << 20)
#define MAX_INFLIGHT    65536
#define WINDOW_BYTES    (4u << 20) /* auto window: this many payload bytes ahead ... */
#define WINDOW_MSGS_MAX 10000u     /* ... and at most this many messages */
#define REPLY_TIMEOUT   5000       /* default --reply-timeout */
#define DRAIN_IDLE_MS   1000       /* default --drain-timeout; the drain ends after 10 of them in all */
#define GROUP_DEFAULT   "bench"

enum workload { W_PUBSUB, W_REQUEST, W_DURABLE, W_CONNECT };

const char *bench_tls_ca;
enum bench_tls_offload bench_tls_offload;
unsigned bench_connect_timeout_ms;

struct args {
    enum workload workload;
    const char *url;
    unsigned pubs, subs, responders, inflight;
    const char *group;
    size_t size;
    double duration_s;
    unsigned long window; /* 0: automatic */
    bool quiet;
    bool inline_cb;    /* --inline */
    bool keep;         /* --keep: the durable workload leaves its stream */
    unsigned pause_ms; /* --pause: connect, each thread waits this long between attempts */
    unsigned reply_ms; /* --reply-timeout: a reply, a flush's PONG, a PUBACK */
    unsigned drain_ms; /* --drain-timeout: after the load, the longest wait for the next delivery */
};

/* One receiving side: a subscriber (pubsub) or a responder (request). */
struct peer {
    void *conn;
    _Atomic uint64_t count;
    pthread_mutex_t lock; /* guards h: the callback thread records, main reads at the end */
    struct hist h;
    _Atomic uint64_t last_ns;
};

struct run {
    const struct bench_backend *be;
    const struct args *a;
    char topic[64];
    unsigned long window;
    struct peer peers[MAX_CLIENTS];
    unsigned npeers;
    _Atomic bool stop;
    _Atomic uint64_t sent;
    _Atomic uint64_t retries; /* publishes refused with a full buffer */
    _Atomic int error;        /* first hard error */
    /* request workload: the requester's latencies, and a payload for the callback thread */
    struct peer req;
    _Atomic uint64_t inflight, errors;
    _Atomic int reply_err; /* the first failed reply's code */
    char *cb_payload;
    char cores[4 * MAX_CONNECTORS]; /* the result line's " cores=...", or "" (cores_note) */
};

struct publisher {
    struct run *r;
    void *conn;
    pthread_t thread;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void stamp(char *payload, size_t len)
{
    uint64_t t = now_ns();
    if (len >= sizeof(t))
        memcpy(payload, &t, sizeof(t));
}

/* Records the latency of a stamped payload on the receiving peer. */
static void peer_receive(struct peer *p, const void *data, size_t len)
{
    uint64_t t = now_ns();
    if (len >= sizeof(uint64_t)) {
        uint64_t sent;
        memcpy(&sent, data, sizeof(sent));
        pthread_mutex_lock(&p->lock);
        hist_record(&p->h, t >= sent ? t - sent : 0);
        pthread_mutex_unlock(&p->lock);
    }
    atomic_store_explicit(&p->last_ns, t, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->count, 1, memory_order_relaxed);
}

static void set_error(struct run *r, int err)
{
    int none = 0;
    atomic_compare_exchange_strong(&r->error, &none, err);
}

/* Deliveries the publishers wait for: the slowest subscriber's, or the whole group's. */
static uint64_t delivered_floor(struct run *r)
{
    uint64_t floor = UINT64_MAX, sum = 0;
    for (unsigned i = 0; i < r->npeers; i++) {
        uint64_t c = atomic_load_explicit(&r->peers[i].count, memory_order_relaxed);
        sum += c;
        floor = c < floor ? c : floor;
    }
    return r->a->group ? sum : floor;
}

static uint64_t delivered_total(struct run *r)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < r->npeers; i++)
        sum += atomic_load_explicit(&r->peers[i].count, memory_order_relaxed);
    return sum;
}

static void *publisher_main(void *arg)
{
    struct publisher *p = arg;
    struct run *r = p->r;
    char *payload = calloc(1, r->a->size ? r->a->size : 1);

    pthread_setname_np(pthread_self(), "bench-pub");
    if (!payload) {
        set_error(r, -ENOMEM);
        return NULL;
    }
    uint64_t budget = 0;
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        if (budget == 0) {
            uint64_t ahead = atomic_load(&r->sent) - delivered_floor(r);
            budget = ahead < r->window ? r->window - ahead : 0;
            if (budget == 0) {
                /* Sleep rather than spin: on a small machine a spinning publisher takes the CPU
                 * the server and the subscribers need to catch up. */
                sleep_us(20);
                continue;
            }
        }
        stamp(payload, r->a->size);
        int rc = r->be->publish(p->conn, r->topic, payload, r->a->size);
        if (rc == BENCH_AGAIN) {
            atomic_fetch_add_explicit(&r->retries, 1, memory_order_relaxed);
            sleep_us(20);
            continue;
        }
        if (rc != 0) {
            set_error(r, rc);
            break;
        }
        atomic_fetch_add_explicit(&r->sent, 1, memory_order_relaxed);
        budget--;
    }
    free(payload);
    return NULL;
}

static void on_msg(void *ud, const void *data, size_t len)
{
    peer_receive(ud, data, len);
}

static void on_served(void *ud)
{
    struct peer *p = ud;
    atomic_fetch_add_explicit(&p->count, 1, memory_order_relaxed);
}

/* The live line, on a terminal only, once a second while the run lasts. */
static void live_wait(struct run *r, const char *what, uint64_t start)
{
    bool live = !r->a->quiet && isatty(STDERR_FILENO);
    uint64_t end = start + (uint64_t)(r->a->duration_s * 1e9);
    uint64_t last_sent = 0, last_got = 0, last_t = start;
    while (!atomic_load(&r->stop)) {
        uint64_t t = now_ns();
        if (t >= end)
            break;
        uint64_t left = end - t;
        sleep_us((unsigned)((left < 1000000000u ? left : 1000000000u) / 1000));
        /* A hard error, or (request) every slot given up after failed replies: nothing left to run. */
        if (atomic_load(&r->error) || (r->a->workload == W_REQUEST && atomic_load(&r->inflight) == 0))
            break;
        t = now_ns();
        uint64_t sent = atomic_load(&r->sent), got = delivered_total(r);
        if (live) {
            double dt = (double)(t - last_t) / 1e9;
            fprintf(stderr, "\r\033[K%s %s %4.1f s  sent %10.0f/s  %s %10.0f/s", r->be->system, what, (double)(t - start) / 1e9,
                    (double)(sent - last_sent) / dt, r->a->workload == W_PUBSUB ? "delivered" : "served",
                    (double)(got - last_got) / dt);
            fflush(stderr);
        }
        last_sent = sent;
        last_got = got;
        last_t = t;
    }
    if (live)
        fprintf(stderr, "\r\033[K");
}

/* Waits until `done` says everything expected arrived, or nothing arrived for a while. */
static void drain(struct run *r, bool (*done)(struct run *))
{
    uint64_t start = now_ns(), last = delivered_total(r), last_change = start, idle = (uint64_t)r->a->drain_ms * 1000000;
    while (!done(r)) {
        sleep_us(1000);
        uint64_t t = now_ns(), got = delivered_total(r);
        if (got != last) {
            last = got;
            last_change = t;
        }
        if (t - last_change > idle || t - start > 10 * idle)
            break;
    }
}

static bool pubsub_done(struct run *r)
{
    uint64_t want = atomic_load(&r->sent) * (r->a->group ? 1 : r->npeers);
    return delivered_total(r) >= want;
}

static bool request_done(struct run *r)
{
    return atomic_load(&r->inflight) == 0;
}

static int peers_open(struct run *r, unsigned n, const char *role)
{
    for (unsigned i = 0; i < n; i++) {
        struct peer *p = &r->peers[i];
        char name[48];
        snprintf(name, sizeof(name), "bench-%s-%u", role, i);
        int rc = r->be->connect(&p->conn, r->a->url, name, r->a->inline_cb);
        if (rc != 0) {
            fprintf(stderr, "%s: connect %s: %s\n", r->be->prog, r->a->url, r->be->strerror(rc));
            return rc;
        }
        r->npeers++;
        if (r->a->workload == W_PUBSUB)
            rc = r->be->subscribe(p->conn, r->topic, r->a->group, on_msg, p);
        else
            rc = r->be->serve(p->conn, r->topic, r->a->group ? r->a->group : GROUP_DEFAULT, on_served, p);
        if (rc == 0)
            rc = r->be->flush(p->conn, r->a->reply_ms);
        if (rc != 0) {
            fprintf(stderr, "%s: %s on %s: %s\n", r->be->prog, role, r->topic, r->be->strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* Closes every peer connection (callbacks have returned afterwards), then merges their histograms. */
static void peers_close(struct run *r, struct hist *all)
{
    for (unsigned i = 0; i < r->npeers; i++) {
        r->be->close(r->peers[i].conn);
        r->peers[i].conn = NULL;
    }
    for (unsigned i = 0; i < r->npeers; i++) {
        pthread_mutex_lock(&r->peers[i].lock);
        hist_merge(all, &r->peers[i].h);
        pthread_mutex_unlock(&r->peers[i].lock);
    }
}

static int run_init(struct run *r, const struct bench_backend *be, const struct args *a)
{
    memset(r, 0, sizeof(*r));
    r->be = be;
    r->a = a;
    snprintf(r->topic, sizeof(r->topic), "bench.%d.%s", (int)getpid(),
             a->workload == W_PUBSUB    ? "pubsub"
             : a->workload == W_REQUEST ? "request"
                                        : "durable");
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        pthread_mutex_init(&r->peers[i].lock, NULL);
        int rc = hist_init(&r->peers[i].h, HIST_RANGE_NS, HIST_DIGITS);
        if (rc != 0)
            return rc;
    }
    pthread_mutex_init(&r->req.lock, NULL);
    return hist_init(&r->req.h, HIST_RANGE_NS, HIST_DIGITS);
}

static void run_free(struct run *r)
{
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        if (r->peers[i].conn)
            r->be->close(r->peers[i].conn);
        hist_destroy(&r->peers[i].h);
        pthread_mutex_destroy(&r->peers[i].lock);
    }
    if (r->req.conn)
        r->be->close(r->req.conn);
    hist_destroy(&r->req.h);
    pthread_mutex_destroy(&r->req.lock);
    free(r->cb_payload);
}

static uint64_t last_delivery(struct run *r)
{
    uint64_t last = 0;
    for (unsigned i = 0; i < r->npeers; i++) {
        uint64_t t = atomic_load(&r->peers[i].last_ns);
        last = t > last ? t : last;
    }
    return last;
}

/* Latency fields of the result line; "-" when no payload carried a timestamp (size below 8). */
static void print_latency(const struct hist *h)
{
    static const double pcts[] = {50, 90, 99, 99.9};
    static const char *const names[] = {"p50_us", "p90_us", "p99_us", "p999_us"};
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        if (h->total)
            printf(" %s=%.1f", names[i], (double)hist_percentile(h, pcts[i]) / 1e3);
        else
            printf(" %s=-", names[i]);
    }
    if (h->total)
        printf(" max_us=%.1f", (double)h->max / 1e3);
    else
        printf(" max_us=-");
}

/* One core list: each connection's server core, comma-separated ("?" where it cannot be told). */
static void cores_list(struct run *r, size_t *off, void *const *conns, size_t stride, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        void *conn = *(void *const *)(const void *)((const char *)conns + i * stride);
        int core = r->be->core(conn);
        int w = core >= 0 ? snprintf(r->cores + *off, sizeof(r->cores) - *off, "%s%d", i ? "," : "", core)
                          : snprintf(r->cores + *off, sizeof(r->cores) - *off, "%s?", i ? "," : "");
        if (w > 0 && (size_t)w < sizeof(r->cores) - *off)
            *off += (size_t)w;
    }
}

/* " cores=A/B" for the result line, where the backend can tell which server core took each
 * connection: A the publishers' (the requester's), B the subscribers' (responders'). The placement
 * decides much of a small-message run on a machine with few CPUs (docs/performance.md). */
static void cores_note(struct run *r, void *const *a, size_t a_stride, unsigned na)
{
    size_t off;

    r->cores[0] = '\0';
    if (r->be->core == NULL)
        return;
    off = (size_t)snprintf(r->cores, sizeof(r->cores), " cores=");
    cores_list(r, &off, a, a_stride, na);
    if (off < sizeof(r->cores) - 1)
        r->cores[off++] = '/';
    r->cores[off] = '\0';
    cores_list(r, &off, &r->peers[0].conn, sizeof(r->peers[0]), r->npeers);
}

static int pubs_open(struct run *r, struct publisher *pubs)
{
    for (unsigned i = 0; i < r->a->pubs; i++) {
        char name[48];
        snprintf(name, sizeof(name), "bench-pub-%u", i);
        pubs[i].r = r;
        int rc = r->be->connect(&pubs[i].conn, r->a->url, name, r->a->inline_cb);
        if (rc != 0) {
            fprintf(stderr, "%s: connect %s: %s\n", r->be->prog, r->a->url, r->be->strerror(rc));
            return rc;
        }
    }
    return 0;
}

static void pubs_close(struct run *r, struct publisher *pubs)
{
    for (unsigned i = 0; i < r->a->pubs; i++)
        if (pubs[i].conn)
            r->be->close(pubs[i].conn);
}

static void pubsub_report(struct run *r, uint64_t start, uint64_t pub_end, const struct hist *all)
{
    const struct args *a = r->a;
    uint64_t sent = atomic_load(&r->sent), got = delivered_total(r);
    uint64_t want = sent * (a->group ? 1 : a->subs), loss = want > got ? want - got : 0;
    uint64_t end = last_delivery(r);
    double secs = (double)((end > start ? end : pub_end) - start) / 1e9, pub_secs = (double)(pub_end - start) / 1e9;
    double rate = (double)got / secs, mbps = (double)got * (double)a->size / 1e6 / secs;

    printf("%s pubsub: %u publisher(s) -> %u subscriber(s)%s%s, %zu B, window %lu msgs, %.1f s\n", r->be->system, a->pubs, a->subs,
           a->group ? " in group " : "", a->group ? a->group : "", a->size, r->window, pub_secs);
    printf("  published %" PRIu64 " (%.0f msgs/s, %" PRIu64 " full-buffer retries); delivered %" PRIu64 " of %" PRIu64
           " (%.0f msgs/s, %.2f MB/s); lost %" PRIu64 "\n",
           sent, (double)sent / pub_secs, atomic_load(&r->retries), got, want, rate, mbps, loss);
    printf("  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", (double)hist_percentile(all, 50) / 1e3,
           (double)hist_percentile(all, 90) / 1e3, (double)hist_percentile(all, 99) / 1e3, (double)hist_percentile(all, 99.9) / 1e3,
           (double)all->max / 1e3);
    printf("result workload=pubsub size=%zu msgs_per_s=%.0f mb_per_s=%.2f sent=%" PRIu64 " delivered=%" PRIu64 " loss=%" PRIu64,
           a->size, rate, mbps, sent, got, loss);
    print_latency(all);
    printf(" pub_per_s=%.0f pubs=%u subs=%u group=%s window=%lu%s callbacks=%s system=%s\n", (double)sent / pub_secs, a->pubs,
           a->subs, a->group ? a->group : "-", r->window, r->cores, a->inline_cb ? "inline" : "thread", r->be->system);
}

static int run_pubsub(struct run *r)
{
    struct publisher pubs[MAX_CLIENTS];
    struct hist all;
    unsigned started = 0;
    memset(pubs, 0, sizeof(pubs));
    int rc = hist_init(&all, HIST_RANGE_NS, HIST_DIGITS);
    if (rc != 0)
        return rc;
    rc = peers_open(r, r->a->subs, "sub");
    if (rc == 0)
        rc = pubs_open(r, pubs);
    if (rc != 0)
        goto out_close;
    cores_note(r, &pubs[0].conn, sizeof(pubs[0]), r->a->pubs);
    uint64_t start = now_ns();
    for (; started < r->a->pubs; started++)
        if (pthread_create(&pubs[started].thread, NULL, publisher_main, &pubs[started]) != 0)
            break;
    if (started == r->a->pubs)
        live_wait(r, "pubsub", start);
    atomic_store(&r->stop, true);
    for (unsigned i = 0; i < started; i++)
        pthread_join(pubs[i].thread, NULL);
    uint64_t pub_end = now_ns();
    if (started < r->a->pubs)
        set_error(r, -EAGAIN);
    for (unsigned i = 0; i < r->a->pubs; i++)
        r->be->flush(pubs[i].conn, r->a->reply_ms);
    drain(r, pubsub_done);
    peers_close(r, &all);
    rc = atomic_load(&r->error);
    if (rc != 0)
        fprintf(stderr, "%s: pubsub: %s\n", r->be->prog, rc == -EAGAIN ? "cannot start threads" : r->be->strerror(rc));
    else
        pubsub_report(r, start, pub_end, &all);
out_close:
    pubs_close(r, pubs);
    hist_destroy(&all);
    return rc;
}

static bench_reply_fn on_reply;

/* Sends one request from buf; on failure the slot it held is given up. */
static void request_issue(struct run *r, char *buf)
{
    stamp(buf, r->a->size);
    atomic_fetch_add(&r->sent, 1);
    int rc = r->be->request(r->req.conn, r->topic, buf, r->a->size, r->a->reply_ms, on_reply, r);
    if (rc != 0) {
        atomic_fetch_sub(&r->sent, 1);
        atomic_fetch_sub(&r->inflight, 1);
        set_error(r, rc);
    }
}

static void on_reply(void *ud, int err, const void *data, size_t len)
{
    struct run *r = ud;
    if (err == 0) {
        peer_receive(&r->req, data, len);
    } else {
        int none = 0;
        atomic_fetch_add(&r->errors, 1);
        atomic_compare_exchange_strong(&r->reply_err, &none, err);
    }
    if (err == 0 && !atomic_load(&r->stop) && !atomic_load(&r->error))
        request_issue(r, r->cb_payload);
    else
        atomic_fetch_sub(&r->inflight, 1);
}

static void request_report(struct run *r, uint64_t start, const struct hist *lat)
{
    const struct args *a = r->a;
    uint64_t sent = atomic_load(&r->sent), got = atomic_load(&r->req.count), served = delivered_total(r);
    uint64_t end = atomic_load(&r->req.last_ns);
    double secs = (double)((end > start ? end : now_ns()) - start) / 1e9;
    double rate = (double)got / secs, mbps = (double)got * (double)a->size / 1e6 / secs;
    char share[MAX_CLIENTS * 8] = "";
    size_t off = 0;

    printf("%s request: %u in flight over %u responder(s), %zu B, %.1f s\n", r->be->system, a->inflight, a->responders, a->size,
           secs);
    printf("  requests %" PRIu64 ", replies %" PRIu64 " (%.0f/s, %.2f MB/s), errors %" PRIu64 ", unanswered %" PRIu64 "\n", sent,
           got, rate, mbps, atomic_load(&r->errors), sent - got - atomic_load(&r->errors));
    for (unsigned i = 0; i < r->npeers; i++) {
        uint64_t n = atomic_load(&r->peers[i].count);
        double pct = served ? 100.0 * (double)n / (double)served : 0.0;
        printf("  responder %u served %" PRIu64 " (%.1f%%)\n", i, n, pct);
        int w = snprintf(share + off, sizeof(share) - off, "%s%.1f", i ? "/" : "", pct);
        if (w > 0 && (size_t)w < sizeof(share) - off)
            off += (size_t)w;
    }
    printf("  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", (double)hist_percentile(lat, 50) / 1e3,
           (double)hist_percentile(lat, 90) / 1e3, (double)hist_percentile(lat, 99) / 1e3, (double)hist_percentile(lat, 99.9) / 1e3,
           (double)lat->max / 1e3);
    printf("result workload=request size=%zu msgs_per_s=%.0f mb_per_s=%.2f sent=%" PRIu64 " delivered=%" PRIu64 " loss=%" PRIu64,
           a->size, rate, mbps, sent, got, sent - got);
    print_latency(lat);
    printf(" responders=%u inflight=%u share=%s%s callbacks=%s system=%s\n", a->responders, a->inflight, share, r->cores,
           a->inline_cb ? "inline" : "thread", r->be->system);
}

static int run_request(struct run *r)
{
    const struct args *a = r->a;
    char *buf = calloc(1, a->size ? a->size : 1);
    r->cb_payload = calloc(1, a->size ? a->size : 1);
    int rc = !buf || !r->cb_payload ? -ENOMEM : 0;
    if (rc == 0)
        rc = peers_open(r, a->responders, "responder");
    if (rc == 0) {
        rc = r->be->connect(&r->req.conn, a->url, "bench-requester", a->inline_cb);
        if (rc != 0)
            fprintf(stderr, "%s: connect %s: %s\n", r->be->prog, a->url, r->be->strerror(rc));
        else
            cores_note(r, &r->req.conn, sizeof(r->req), 1);
    }
    if (rc != 0)
        goto out_free;
    uint64_t start = now_ns();
    atomic_store(&r->inflight, a->inflight);
    for (unsigned i = 0; i < a->inflight && !atomic_load(&r->error); i++)
        request_issue(r, buf);
    live_wait(r, "request", start);
    atomic_store(&r->stop, true);
    drain(r, request_done);
    /* Replies still pending after the drain must not run into freed state: close first. */
    r->be->close(r->req.conn);
    r->req.conn = NULL;
    rc = atomic_load(&r->error);
    if (rc != 0) {
        fprintf(stderr, "%s: request: %s\n", r->be->prog, r->be->strerror(rc));
    } else {
        pthread_mutex_lock(&r->req.lock);
        request_report(r, start, &r->req.h);
        pthread_mutex_unlock(&r->req.lock);
        /* The result line stands, but a run where no request got a reply did not work. */
        if (atomic_load(&r->req.count) == 0 && atomic_load(&r->reply_err) != 0) {
            rc = atomic_load(&r->reply_err);
            fprintf(stderr, "%s: request: no replies: %s\n", r->be->prog, r->be->strerror(rc));
        }
    }
out_free:
    free(buf);
    return rc;
}

/* ---- durable: acknowledged publishes to a stream, consumed by a consumer group ------------------ */

#define DURABLE_STREAM "bench"
#define DURABLE_GROUP  "bench"

/* One in-flight acknowledged publish: when it went, for the PUBACK latency. */
struct dslot {
    struct run *r;
    uint64_t t0;
    char *buf;
};

static bench_reply_fn on_stored;

static void durable_issue(struct dslot *s)
{
    struct run *r = s->r;

    stamp(s->buf, r->a->size);
    s->t0 = now_ns();
    atomic_fetch_add(&r->sent, 1);
    int rc = r->be->publish_acked(r->req.conn, r->topic, s->buf, r->a->size, r->a->reply_ms, on_stored, s);
    if (rc != 0) {
        atomic_fetch_sub(&r->sent, 1);
        atomic_fetch_sub(&r->inflight, 1);
        set_error(r, rc);
    }
}

static void on_stored(void *ud, int err, const void *data, size_t len)
{
    struct dslot *s = ud;
    struct run *r = s->r;
    uint64_t t = now_ns();

    (void)data;
    (void)len;
    if (err == 0) {
        pthread_mutex_lock(&r->req.lock);
        hist_record(&r->req.h, t - s->t0);
        pthread_mutex_unlock(&r->req.lock);
        atomic_store_explicit(&r->req.last_ns, t, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->req.count, 1, memory_order_relaxed);
    } else {
        int none = 0;
        atomic_fetch_add(&r->errors, 1);
        atomic_compare_exchange_strong(&r->reply_err, &none, err);
    }
    if (err == 0 && !atomic_load(&r->stop) && !atomic_load(&r->error))
        durable_issue(s);
    else
        atomic_fetch_sub(&r->inflight, 1);
}

/* With no consumer (--subs 0) only the publishes in flight are waited for. */
static bool durable_done(struct run *r)
{
    return atomic_load(&r->inflight) == 0 && (r->npeers == 0 || delivered_total(r) >= atomic_load(&r->req.count));
}

static void durable_report(struct run *r, uint64_t start, const struct hist *ack, const struct hist *e2e)
{
    const struct args *a = r->a;
    uint64_t sent = atomic_load(&r->sent), stored = atomic_load(&r->req.count), got = delivered_total(r);
    uint64_t end = atomic_load(&r->req.last_ns), last = last_delivery(r);
    double secs = (double)((end > start ? end : now_ns()) - start) / 1e9;
    double dsecs = (double)((last > start ? last : now_ns()) - start) / 1e9;
    double rate = (double)stored / secs, mbps = (double)stored * (double)a->size / 1e6 / secs;

    printf("%s durable: %u in flight, %u consumer(s) in one group, %zu B, %.1f s\n", r->be->system, a->inflight, r->npeers, a->size,
           secs);
    printf("  publishes %" PRIu64 ", stored %" PRIu64 " (%.0f/s, %.2f MB/s), errors %" PRIu64 "; consumed %" PRIu64 " (%.0f/s)\n",
           sent, stored, rate, mbps, atomic_load(&r->errors), got, (double)got / dsecs);
    printf("  PUBACK latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", (double)hist_percentile(ack, 50) / 1e3,
           (double)hist_percentile(ack, 90) / 1e3, (double)hist_percentile(ack, 99) / 1e3, (double)hist_percentile(ack, 99.9) / 1e3,
           (double)ack->max / 1e3);
    if (e2e->total > 0)
        printf("  publish to consumer us: p50 %.1f  p99 %.1f\n", (double)hist_percentile(e2e, 50) / 1e3,
               (double)hist_percentile(e2e, 99) / 1e3);
    printf("result workload=durable size=%zu msgs_per_s=%.0f mb_per_s=%.2f sent=%" PRIu64 " delivered=%" PRIu64 " loss=%" PRIu64,
           a->size, rate, mbps, sent, got, stored > got && r->npeers > 0 ? stored - got : 0);
    print_latency(ack);
    printf(" consumers=%u inflight=%u consumed_per_s=%.0f system=%s\n", r->npeers, a->inflight, (double)got / dsecs, r->be->system);
}

static int run_durable(struct run *r)
{
    const struct args *a = r->a;
    struct dslot *slots = calloc(a->inflight, sizeof(*slots));
    char subject[80];
    int rc = slots == NULL ? -ENOMEM : 0;

    snprintf(subject, sizeof(subject), "%s", r->topic);
    for (unsigned i = 0; rc == 0 && i < a->inflight; i++) {
        slots[i].r = r;
        slots[i].buf = calloc(1, a->size ? a->size : 1);
        if (slots[i].buf == NULL)
            rc = -ENOMEM;
    }
    if (rc == 0) {
        rc = r->be->connect(&r->req.conn, a->url, "bench-publisher", a->inline_cb);
        if (rc != 0)
            fprintf(stderr, "%s: connect %s: %s\n", r->be->prog, a->url, r->be->strerror(rc));
    }
    if (rc == 0 && !a->keep)
        rc = r->be->stream_delete(r->req.conn, DURABLE_STREAM); /* it starts empty */
    if (rc == 0 && (rc = r->be->stream_create(r->req.conn, DURABLE_STREAM, subject)) != 0)
        fprintf(stderr, "%s: durable: cannot declare stream %s: %s\n", r->be->prog, DURABLE_STREAM, r->be->strerror(rc));
    for (unsigned i = 0; rc == 0 && i < a->subs; i++) {
        struct peer *p = &r->peers[i];
        char name[48];

        snprintf(name, sizeof(name), "bench-consumer-%u", i);
        rc = r->be->connect(&p->conn, a->url, name, a->inline_cb);
        if (rc == 0) {
            r->npeers++;
            rc = r->be->subscribe_durable(p->conn, r->topic, DURABLE_GROUP, on_msg, p);
        }
        if (rc == 0)
            rc = r->be->flush(p->conn, r->a->reply_ms);
        if (rc != 0)
            fprintf(stderr, "%s: consumer on %s: %s\n", r->be->prog, r->topic, r->be->strerror(rc));
    }
    if (rc != 0)
        goto out_free;
    uint64_t start = now_ns();
    atomic_store(&r->inflight, a->inflight);
    for (unsigned i = 0; i < a->inflight && !atomic_load(&r->error); i++)
        durable_issue(&slots[i]);
    live_wait(r, "durable", start);
    atomic_store(&r->stop, true);
    drain(r, durable_done);
    rc = atomic_load(&r->error);
    if (rc != 0) {
        fprintf(stderr, "%s: durable: %s\n", r->be->prog, r->be->strerror(rc));
    } else {
        struct hist e2e;
        if (hist_init(&e2e, HIST_RANGE_NS, HIST_DIGITS) == 0) {
            peers_close(r, &e2e);
            pthread_mutex_lock(&r->req.lock);
            durable_report(r, start, &r->req.h, &e2e);
            pthread_mutex_unlock(&r->req.lock);
            hist_destroy(&e2e);
        }
        if (atomic_load(&r->req.count) == 0 && atomic_load(&r->reply_err) != 0) {
            rc = atomic_load(&r->reply_err);
            fprintf(stderr, "%s: durable: nothing stored: %s\n", r->be->prog, r->be->strerror(rc));
        }
    }
    if (!a->keep)
        r->be->stream_delete(r->req.conn, DURABLE_STREAM);
    /* Callbacks still pending must not run into freed slots: close first. */
    r->be->close(r->req.conn);
    r->req.conn = NULL;
out_free:
    for (unsigned i = 0; slots != NULL && i < a->inflight; i++)
        free(slots[i].buf);
    free(slots);
    return rc;
}

static void help(const struct bench_backend *be, FILE *out)
{
    fprintf(out,
            "NAME\n"
            "    %1$s - load generator for %2$s with fixed, comparable workloads\n"
            "\n"
            "SYNOPSIS\n"
            "    %1$s pubsub  [--url URL] [--pubs N] [--subs M] [--group G] [--size B] [--duration S] [--window W]\n"
            "    %1$s request [--url URL] [--responders R] [--inflight K] [--size B] [--duration S]\n"
            "    %1$s durable [--url URL] [--subs M] [--size B] [--inflight K] [--duration S]\n"
            "    %1$s connect [--url URL] [--pubs N] [--pause MS] [--duration S]\n"
            "    %1$s idle    [--url URL] [--conns N] [--hold S] [--subscribe] [--server-pid PID] ...\n"
            "    %1$s storm   [--url URL] [--conns N] [--pause MS] [--duration S]   (trpc-bench only)\n"
            "\n"
            "DESCRIPTION\n"
            "    pubsub: N publisher connections publish B-byte messages on one topic as fast as the window\n"
            "    allows; M subscriber connections receive them (each gets every message, or, with --group,\n"
            "    each message goes to one member of group G). Delivered rates are counted at the subscribers.\n"
            "\n"
            "    request: R responders in one queue group echo each request; one requester keeps K requests\n"
            "    in flight (K=1: sequential request/reply) and reports the share each responder served. A\n"
            "    request that fails (timeout, no responders) is counted and its slot is not reused.\n"
            "\n"
            "    durable: one publisher keeps K acknowledged publishes in flight to a stream the bench declares\n"
            "    (and deletes at the end); M connections (--subs) consume it as one consumer group, each\n"
            "    message acknowledged (--subs 0: nobody consumes, the publish rate alone). Rates are stored\n"
            "    (acknowledged) publishes and consumed messages;\n"
            "    latency is publish to PUBACK. Exit status 3 where the system has no durable workload here.\n"
            "\n"
            "    connect: N threads (--pubs, at most 1024) each connect and close again in a loop; the rate is connections\n"
            "    set up (CONNECT answered) per second. trpc-bench logs in with $TRPC_TOKEN, or $TRPC_USER and\n"
            "    $TRPC_PASSWORD, when set (every workload; never on the command line). --pause MS: each\n"
            "    thread waits MS after each attempt (a storm of clients that reconnect, not a flood).\n"
            "\n"
            "    idle: N connections held open without traffic, and the server's memory meanwhile; it\n"
            "    speaks the wire protocol itself and has its own options (%1$s idle --help).\n"
            "\n"
            "    storm: a login storm from one thread (raw sockets, as idle): N slots each connect, log in,\n"
            "    close and wait MS, counting how each CONNECT was answered (%1$s storm --help).\n"
            "\n"
            "    Every payload of 8 bytes or more carries its send time; latency is send to receive (reply\n"
            "    for requests), recorded in a log-linear histogram with 3 significant digits.\n"
            "\n"
            "OPTIONS\n"
            "    --url URL          server to use (default %3$s); a TLS one (trpcs://, tls://) with --tls-ca\n"
            "    --tls-ca FILE      the CA certificates (PEM) that sign the server's certificate\n"
            "    --tls-offload auto|kernel|user\n"
            "                       who encrypts what a TLS connection sends: the kernel where it has TLS\n"
            "                       (kernel TLS), else the library (auto, the default); the kernel or the\n"
            "                       connection fails (kernel); the library always (user). TRPC only\n"
            "    --connect-timeout MS\n"
            "                       how long a connection's set-up (TCP, TLS, CONNECT) may take (default:\n"
            "                       the client library's, 2000 for TRPC and NATS, 5000 for Redis)\n"
            "    --reply-timeout MS how long a request waits for its reply, a flush for the server's answer and\n"
            "                       a durable publish for its PUBACK (default %8$u); one that does not come in\n"
            "                       time fails the run or, for requests, is counted\n"
            "    --drain-timeout MS after the load, how long the bench waits for the next of the messages still\n"
            "                       on their way before it counts the rest as lost (default %9$u; the drain\n"
            "                       ends after 10 times that in all). Raise both on a slow or starved machine\n"
            "                       (an emulated one, say), where a stall is not a loss\n"
            "    --pubs N           publisher connections, one thread each (default 1, at most %4$d)\n"
            "    --subs M           subscriber connections (default 1, at most %4$d)\n"
            "    --group G          subscribers join queue group G (default: none, every one gets all);\n"
            "                       responders use G instead of \"bench\"\n"
            "    --responders R     responder connections (default 1, at most %4$d)\n"
            "    --inflight K       requests in flight (default 1, at most %5$d)\n"
            "    --size B           payload bytes; suffix k or m for KiB or MiB (default 256)\n"
            "    --duration S       seconds of load, fractions allowed (default 5)\n"
            "    --window W         publishers together stay at most W messages ahead of the slowest\n"
            "                       subscriber (of the whole group with --group). This keeps the run below\n"
            "                       the server's slow-consumer limit, which would otherwise cut a subscriber\n"
            "                       off and turn the run into a measure of that limit. Default: %6$u KiB of\n"
            "                       payload, at most %7$u messages. Queueing inside the window adds to\n"
            "                       pubsub latency: use a small window to measure latency under load.\n"
            "    --inline           callbacks run on each client's I/O thread instead of a dispatcher thread\n"
            "                       (TRPC_DISPATCH_IO: one thread hand-off less per message; TRPC only)\n"
            "    --keep             durable: leave the stream and what it stored (for a restart test)\n"
            "    --quiet            no live rate line\n"
            "    --help             this text\n"
            "\n"
            "OUTPUT\n"
            "    On a terminal, a live rate line on stderr once a second. On stdout a summary, then as the\n"
            "    last line: result workload=W size=B msgs_per_s= mb_per_s= sent= delivered= loss= p50_us=\n"
            "    p90_us= p99_us= p999_us= max_us= followed by the workload's parameters (pubsub: pub_per_s,\n"
            "    pubs, subs, group, window; request: responders, inflight, share as percentages joined by /),\n"
            "    where the server tells (TRPC) cores=A/B: the server core of each publisher (the requester)\n"
            "    and of each subscriber (responder) connection, comma-separated; then callbacks and system.\n"
            "    MB is 10^6 bytes; msgs_per_s counts deliveries (replies for request).\n"
            "\n"
            "EXIT STATUS\n"
            "    0 done, 1 the run failed (connect, subscribe, publish error), 2 bad usage, 3 unsupported.\n",
            be->prog, be->system, be->url_default, MAX_CLIENTS, MAX_INFLIGHT, WINDOW_BYTES >> 10, WINDOW_MSGS_MAX, REPLY_TIMEOUT,
            DRAIN_IDLE_MS);
}

static bool parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *s == '-')
        return false;
    if (*end == 'k' || *end == 'K')
        v = v > max >> 10 ? max + 1 : v << 10, end++;
    else if (*end == 'm' || *end == 'M')
        v = v > max >> 20 ? max + 1 : v << 20, end++;
    if (*end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_args(const struct bench_backend *be, int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"pubs", required_argument, NULL, 'p'},
        {"subs", required_argument, NULL, 's'},
        {"group", required_argument, NULL, 'g'},
        {"size", required_argument, NULL, 'b'},
        {"duration", required_argument, NULL, 'd'},
        {"responders", required_argument, NULL, 'r'},
        {"inflight", required_argument, NULL, 'k'},
        {"window", required_argument, NULL, 'w'},
        {"quiet", no_argument, NULL, 'q'},
        {"inline", no_argument, NULL, 'i'},
        {"keep", no_argument, NULL, 'K'},
        {"pause", required_argument, NULL, 'P'},
        {"tls-ca", required_argument, NULL, 'T'},
        {"tls-offload", required_argument, NULL, 'O'},
        {"connect-timeout", required_argument, NULL, 'C'},
        {"reply-timeout", required_argument, NULL, 'R'},
        {"drain-timeout", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned long v = 0;
    int c, idx = 0;
    *a = (struct args){.url = be->url_default,
                       .pubs = 1,
                       .subs = 1,
                       .responders = 1,
                       .inflight = 1,
                       .size = 256,
                       .duration_s = 5,
                       .reply_ms = REPLY_TIMEOUT,
                       .drain_ms = DRAIN_IDLE_MS};
    while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        bool good = true;
        char *end = NULL;
        switch (c) {
        case 'u':
            a->url = optarg;
            break;
        case 'g':
            a->group = optarg;
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'i':
            a->inline_cb = true;
            break;
        case 'K':
            a->keep = true;
            break;
        case 'P':
            good = parse_ulong(optarg, 0, 3600000, &v), a->pause_ms = (unsigned)v;
            break;
        case 'T':
            bench_tls_ca = optarg;
            break;
        case 'C':
            good = parse_ulong(optarg, 1, 3600000, &v), bench_connect_timeout_ms = (unsigned)v;
            break;
        case 'R':
            good = parse_ulong(optarg, 1, 3600000, &v), a->reply_ms = (unsigned)v;
            break;
        case 'D':
            good = parse_ulong(optarg, 1, 360000, &v), a->drain_ms = (unsigned)v;
            break;
        case 'O':
            if (!strcmp(optarg, "auto"))
                bench_tls_offload = BENCH_TLS_OFFLOAD_AUTO;
            else if (!strcmp(optarg, "kernel"))
                bench_tls_offload = BENCH_TLS_OFFLOAD_KERNEL;
            else if (!strcmp(optarg, "user"))
                bench_tls_offload = BENCH_TLS_OFFLOAD_USER;
            else
                good = false;
            break;
        case 'h':
            help(be, stdout);
            exit(0);
        case 'p':
            good = parse_ulong(optarg, 1, MAX_CONNECTORS, &v), a->pubs = (unsigned)v; /* MAX_CLIENTS: below */
            break;
        case 's':
            good = parse_ulong(optarg, 0, MAX_CLIENTS, &v), a->subs = (unsigned)v; /* 0: durable only */
            break;
        case 'r':
            good = parse_ulong(optarg, 1, MAX_CLIENTS, &v), a->responders = (unsigned)v;
            break;
        case 'k':
            good = parse_ulong(optarg, 1, MAX_INFLIGHT, &v), a->inflight = (unsigned)v;
            break;
        case 'b':
            good = parse_ulong(optarg, 0, MAX_SIZE, &v), a->size = v;
            break;
        case 'w':
            good = parse_ulong(optarg, 1, 100000000, &a->window);
            break;
        case 'd':
            a->duration_s = strtod(optarg, &end);
            good = end != optarg && !*end && a->duration_s > 0 && a->duration_s <= 86400;
            break;
        default:
            return 2;
        }
        if (!good) {
            fprintf(stderr, "%s: bad value '%s' for --%s\n", be->prog, optarg, opts[idx].name);
            return 2;
        }
    }
    const char *w = optind < argc ? argv[optind] : NULL;
    if (w && !strcmp(w, "pubsub"))
        a->workload = W_PUBSUB;
    else if (w && !strcmp(w, "request"))
        a->workload = W_REQUEST;
    else if (w && !strcmp(w, "durable"))
        a->workload = W_DURABLE;
    else if (w && !strcmp(w, "connect"))
        a->workload = W_CONNECT;
    else {
        fprintf(stderr,
                "%s: name a workload: pubsub, request, durable, connect, idle, or storm as the first argument (see --help)\n",
                be->prog);
        return 2;
    }
    if (a->pubs > MAX_CLIENTS && a->workload != W_CONNECT) {
        fprintf(stderr, "%s: --pubs: at most %d (%d for connect)\n", be->prog, MAX_CLIENTS, MAX_CONNECTORS);
        return 2;
    }
    if (a->subs == 0 && a->workload != W_DURABLE) {
        fprintf(stderr, "%s: --subs 0 is for the durable workload only (publishes, nobody consuming)\n", be->prog);
        return 2;
    }
    if (a->inline_cb && !be->has_inline) {
        fprintf(stderr, "%s: --inline: %s clients have no inline callback mode\n", be->prog, be->system);
        return 2;
    }
    if (bench_tls_offload != BENCH_TLS_OFFLOAD_DEFAULT && !be->has_tls_offload) {
        fprintf(stderr, "%s: --tls-offload: %s clients have no such setting\n", be->prog, be->system);
        return 2;
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", be->prog, argv[optind + 1]);
        return 2;
    }
    return 0;
}

/* connect: --pubs threads each connect and close in a loop, for the CONNECT set-up rate
 * (authentication included when the backend logs in: TRPC_TOKEN for trpc-bench). */
static void *connector_main(void *arg)
{
    struct publisher *p = arg;
    struct run *r = p->r;

    while (!atomic_load(&r->stop)) {
        void *conn;
        int rc = r->be->connect(&conn, r->a->url, "bench-connect", false);

        /* Refusals (a broker telling a login storm to try again) are counted, not fatal. */
        if (rc != 0) {
            atomic_fetch_add(&r->errors, 1);
            atomic_store(&r->reply_err, rc);
            usleep(r->a->pause_ms ? r->a->pause_ms * 1000u : 1000u);
            continue;
        }
        r->be->close(conn);
        atomic_fetch_add(&r->sent, 1);
        if (r->a->pause_ms)
            usleep(r->a->pause_ms * 1000u);
    }
    return NULL;
}

static int run_connect(struct run *r)
{
    struct publisher *th = calloc(r->a->pubs, sizeof(*th));
    unsigned started = 0;
    uint64_t start = now_ns(), end;
    double s;
    int rc;

    if (th == NULL)
        return -ENOMEM;
    for (; started < r->a->pubs; started++) {
        th[started].r = r;
        if (pthread_create(&th[started].thread, NULL, connector_main, &th[started]) != 0)
            break;
    }
    while (!atomic_load(&r->error) && now_ns() - start < (uint64_t)(r->a->duration_s * 1e9))
        usleep(10000);
    atomic_store(&r->stop, true);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i].thread, NULL);
    free(th);
    end = now_ns();
    s = (double)(end - start) / 1e9;
    rc = atomic_load(&r->reply_err);
    if (rc != 0)
        fprintf(stderr, "%s: connect %s: last refusal: %s\n", r->be->prog, r->a->url, r->be->strerror(rc));
    printf("result workload=connect connects_per_s=%.0f connects=%" PRIu64 " refused=%" PRIu64 " threads=%u system=%s\n",
           (double)atomic_load(&r->sent) / s, atomic_load(&r->sent), atomic_load(&r->errors), started, r->be->system);
    return atomic_load(&r->sent) > 0 ? 0 : -EIO;
}

static unsigned long auto_window(size_t size)
{
    unsigned long w = WINDOW_BYTES / (size ? size : 1);
    w = w < WINDOW_MSGS_MAX ? w : WINDOW_MSGS_MAX;
    return w ? w : 1;
}

int bench_main(const struct bench_backend *be, int argc, char **argv)
{
    struct args a;
    /* idle speaks the wire protocol itself (perf/idle.h) and has its own options. */
    if (argc > 1 && strcmp(argv[1], "idle") == 0)
        return idle_main(be->prog, be->url_default, argc, argv);
    /* storm too, with one thread for a login storm (perf/storm.h). */
    if (argc > 1 && strcmp(argv[1], "storm") == 0 && strcmp(be->system, "TRPC") == 0)
        return storm_main(be->prog, be->url_default, argc, argv);
    int rc = parse_args(be, argc, argv, &a);
    if (rc != 0)
        return rc;
    if (a.workload == W_DURABLE && be->publish_acked == NULL) {
        fprintf(stderr, "%s: durable: unsupported (this bench has no durable workload for %s yet)\n", be->prog, be->system);
        printf("result workload=durable size=%zu status=unsupported system=%s\n", a.size, be->system);
        return 3;
    }
    struct run *r = malloc(sizeof(*r));
    if (!r)
        return 1;
    if (a.workload == W_CONNECT) {
        *r = (struct run){.be = be, .a = &a};
        rc = run_connect(r);
        free(r);
        return rc == 0 ? 0 : 1;
    }
    rc = run_init(r, be, &a);
    if (rc == 0) {
        r->window = a.window ? a.window : auto_window(a.size);
        rc = a.workload == W_PUBSUB ? run_pubsub(r) : a.workload == W_REQUEST ? run_request(r) : run_durable(r);
    }
    run_free(r);
    free(r);
    return rc == 0 ? 0 : 1;
}
