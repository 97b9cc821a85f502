/* A push made from on_close rings its doorbell in the same iteration: loop A's connection ends
 * (the peer closes its socketpair end) with nothing in flight, so on_close runs from the flush
 * phase, after the doorbells, and pushes a message to loop B. A has nothing else to wake it; its
 * only timer, 10 s off, is the hang detector (B has one too). B answers QUIT, which stops A: A
 * must stop because of it, not because of the timer. Run on DEFER_TASKRUN rings and on the COOP_TASKRUN fallback. */
#include <pthread.h>

#include "tests/uring/helpers.h"

#define MSG_GONE 1
#define MSG_QUIT 2
#define HANG_NS  10000000000ull
#define ROUNDS   3 /* connections closed one after another, each on_close pushing once */

struct side {
    struct uring_loop loop;
    struct uring_xchan *out;
    unsigned got;
};

static struct side a, b;
static struct uring_xchan ab, ba;
static struct uring_conn conns[ROUNDS];
static int peers[ROUNDS];
static struct uring_timer hang, b_hang;
static bool hung;
static unsigned loop_flags;
static pthread_barrier_t inited, chans_ready, stopped;

static void on_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    (void)data, (void)len;
    uring_buf_put(c->loop, bid);
}

static void on_close(struct uring_conn *c, int err)
{
    struct uring_xmsg m = {.type = MSG_GONE, .u64 = (uint64_t)(c - conns)};

    (void)err;
    if (uring_xchan_push(&ab, &m) != 0)
        BAIL_OUT("push from on_close");
}

static const struct uring_conn_cbs cbs = {.on_recv = on_recv, .on_close = on_close};

static void hang_fired(struct uring_timer *t, int res)
{
    (void)t;
    if (res == -ECANCELED)
        return;
    hung = true;
    uring_loop_stop(&a.loop);
}

static void b_hang_fired(struct uring_timer *t, int res)
{
    (void)t;
    if (res != -ECANCELED)
        uring_loop_stop(&b.loop);
}

/* B: each GONE counted; after the last, QUIT to A, and B stops. */
static void b_msg(struct uring_xchan *ch, const struct uring_xmsg *m)
{
    struct uring_xmsg q = {.type = MSG_QUIT};

    (void)ch;
    if (m->type != MSG_GONE)
        return;
    if (++b.got < ROUNDS) {
        close(peers[b.got]); /* the next connection ends only now: A sleeps meanwhile */
        return;
    }
    if (uring_xchan_push(&ba, &q) != 0)
        BAIL_OUT("push QUIT");
    uring_timer_cancel(&b_hang);
    uring_loop_stop(&b.loop);
}

static void a_msg(struct uring_xchan *ch, const struct uring_xmsg *m)
{
    (void)ch;
    if (m->type == MSG_QUIT) {
        uring_timer_cancel(&hang);
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
    if (s == &a) {
        int sp[2];

        for (unsigned i = 0; i < ROUNDS; i++) {
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
                BAIL_OUT("socketpair: %s", strerror(errno));
            peers[i] = sp[1];
            if (uring_conn_start(&conns[i], &a.loop, sp[0], &cbs, 0) != 0)
                BAIL_OUT("conn start");
        }
        uring_timer_start(&a.loop, &hang, HANG_NS, hang_fired);
        close(peers[0]); /* EOF: the first on_close, from a flush phase */
    } else {
        uring_timer_start(&b.loop, &b_hang, HANG_NS + HANG_NS / 2, b_hang_fired);
    }
    if (uring_loop_run(&s->loop) != 0)
        BAIL_OUT("loop run");
    pthread_barrier_wait(&stopped);
    uring_loop_destroy(&s->loop);
    return NULL;
}

static void run(unsigned flags, const char *mode)
{
    pthread_t ta, tb;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    hung = false;
    loop_flags = flags;
    pthread_barrier_init(&inited, NULL, 3);
    pthread_barrier_init(&chans_ready, NULL, 3);
    pthread_barrier_init(&stopped, NULL, 2);
    pthread_create(&ta, NULL, thread_main, &a);
    pthread_create(&tb, NULL, thread_main, &b);
    pthread_barrier_wait(&inited);
    if (uring_xchan_init(&ab, &a.loop, &b.loop, 16, 1, b_msg) != 0 || uring_xchan_init(&ba, &b.loop, &a.loop, 16, 1, a_msg) != 0)
        BAIL_OUT("xchan init");
    pthread_barrier_wait(&chans_ready);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    ok_eq(b.got, ROUNDS, "%s: B got the message each on_close pushed", mode);
    ok(!hung, "%s: each came while A slept, not at A's next completion (the 10 s hang timer)", mode);
    uring_xchan_destroy(&ab);
    uring_xchan_destroy(&ba);
    pthread_barrier_destroy(&inited);
    pthread_barrier_destroy(&chans_ready);
    pthread_barrier_destroy(&stopped);
}

int main(void)
{
    th_require_t0();
    run(0, "defer");
    run(URING_LOOP_NO_DEFER, "coop");
    return done_testing();
}
