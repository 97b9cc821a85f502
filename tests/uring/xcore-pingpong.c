/* Two loop threads play ping-pong through a pair of SPSC channels with MSG_RING doorbells: a
 * window of pings in flight, every sequence number arrives once and in order on both sides, the
 * doorbells stay within their credit, and none fails. Run on DEFER_TASKRUN rings and on the
 * COOP_TASKRUN fallback. */
#include <pthread.h>

#include "tests/uring/helpers.h"

#define ROUNDS   20000
#define WINDOW   32
#define CAPACITY 64
#define MSG_PING 1
#define MSG_QUIT 2

struct side {
    struct uring_loop loop;
    struct uring_xchan *out;
    uint64_t next_expected;
    uint64_t next_send;
    uint64_t bad;
    uint64_t push_errors;
    uint32_t max_bells;
};

static struct side a, b;
static struct uring_xchan ab, ba;
static unsigned loop_flags;
static pthread_barrier_t inited, chans_ready, stopped;

static void push(struct side *s, uint32_t type, uint64_t seq)
{
    struct uring_xmsg m = {.type = type, .u64 = seq};

    if (uring_xchan_push(s->out, &m) != 0)
        s->push_errors++;
}

static void note_bells(struct side *s, struct uring_xchan *ch)
{
    uint32_t v = atomic_load(&ch->_bells);

    if (v > s->max_bells)
        s->max_bells = v;
}

/* B: answers each ping with its own sequence number, stops on QUIT. */
static void b_msg(struct uring_xchan *ch, const struct uring_xmsg *m)
{
    note_bells(&b, ch);
    if (m->type == MSG_QUIT) {
        uring_loop_stop(&b.loop);
        return;
    }
    if (m->u64 != b.next_expected)
        b.bad++;
    b.next_expected = m->u64 + 1;
    push(&b, MSG_PING, m->u64);
}

/* A: checks each pong, keeps WINDOW pings in flight, sends QUIT after the last pong. */
static void a_msg(struct uring_xchan *ch, const struct uring_xmsg *m)
{
    note_bells(&a, ch);
    if (m->u64 != a.next_expected)
        a.bad++;
    a.next_expected = m->u64 + 1;
    if (a.next_send < ROUNDS) {
        push(&a, MSG_PING, a.next_send++);
    } else if (a.next_expected == ROUNDS) {
        push(&a, MSG_QUIT, 0);
        uring_loop_stop(&a.loop);
    }
}

static void *thread_main(void *arg)
{
    struct side *s = arg;
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 256, .flags = loop_flags};

    if (uring_loop_init(&s->loop, &o) != 0)
        BAIL_OUT("loop init");
    pthread_barrier_wait(&inited);
    pthread_barrier_wait(&chans_ready);
    if (s == &a)
        for (; a.next_send < WINDOW; a.next_send++)
            push(&a, MSG_PING, a.next_send);
    if (uring_loop_run(&s->loop) != 0)
        BAIL_OUT("loop run");
    /* Neither ring may go away while the other could still ring it. */
    pthread_barrier_wait(&stopped);
    uring_loop_destroy(&s->loop);
    return NULL;
}

static void run(unsigned flags, const char *mode)
{
    pthread_t ta, tb;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    loop_flags = flags;
    pthread_barrier_init(&inited, NULL, 3);
    pthread_barrier_init(&chans_ready, NULL, 3);
    pthread_barrier_init(&stopped, NULL, 2);
    pthread_create(&ta, NULL, thread_main, &a);
    pthread_create(&tb, NULL, thread_main, &b);
    pthread_barrier_wait(&inited);
    if (uring_xchan_init(&ab, &a.loop, &b.loop, CAPACITY, 1, b_msg) != 0 ||
        uring_xchan_init(&ba, &b.loop, &a.loop, CAPACITY, 1, a_msg) != 0)
        BAIL_OUT("xchan init");
    a.out = &ab;
    b.out = &ba;
    pthread_barrier_wait(&chans_ready);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);

    ok_eq(b.next_expected, ROUNDS, "%s: B got every ping", mode);
    ok_eq(a.next_expected, ROUNDS, "%s: A got every pong", mode);
    ok_eq(a.bad + b.bad, 0, "%s: sequence numbers in order on both sides", mode);
    ok_eq(a.push_errors + b.push_errors, 0, "%s: no push found its queue full", mode);
    ok(a.max_bells <= 1 && b.max_bells <= 1, "%s: doorbells within their credit", mode);
    ok_eq(ab.bell_errors + ba.bell_errors, 0, "%s: no doorbell failed", mode);
    ok(b.loop.stats.bells_received > 0, "%s: B was woken by doorbells", mode);
    diag("%s: pings per doorbell: %.1f", mode,
         (double)ROUNDS / (double)(b.loop.stats.bells_received ? b.loop.stats.bells_received : 1));
    uring_xchan_destroy(&ab);
    uring_xchan_destroy(&ba);
    pthread_barrier_destroy(&inited);
    pthread_barrier_destroy(&chans_ready);
    pthread_barrier_destroy(&stopped);
}

int main(void)
{
    struct uring_xchan bad;

    th_require_t0();
    ok_eq(uring_xchan_init(&bad, NULL, NULL, 48, 1, b_msg), -EINVAL, "capacity must be a power of two");
    ok_eq(uring_xchan_init(&bad, NULL, NULL, 64, 0, b_msg), -EINVAL, "at least one credit");
    run(0, "defer");
    run(URING_LOOP_NO_DEFER, "coop");
    return done_testing();
}
