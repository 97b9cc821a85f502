/* A producer loop pushes 100,000 messages into a 16-slot channel as fast as it can: pushes into a
 * full channel are refused with -EAGAIN (and retried), doorbells stay within one credit and carry
 * batches, and the consumer loop sees every message once, in order. */
#include <pthread.h>

#include "tests/uring/helpers.h"

#define COUNT    100000
#define CAPACITY 16
#define RETRY_NS (20 * 1000)

static struct uring_loop prod, cons;
static struct uring_xchan ch;
static struct uring_timer retry;
static pthread_barrier_t inited, ready, stopped;
static uint64_t next_push, next_expected, bad, eagain;
static uint32_t max_bells;

static void on_msg(struct uring_xchan *c, const struct uring_xmsg *m)
{
    uint32_t bells = atomic_load(&c->_bells);

    if (bells > max_bells)
        max_bells = bells;
    if (m->u64 != next_expected)
        bad++;
    next_expected = m->u64 + 1;
    if (next_expected == COUNT)
        uring_loop_stop(&cons);
}

/* Pushes until the channel is full, then tries again shortly. */
static void fill(struct uring_timer *t, int res)
{
    while (next_push < COUNT) {
        struct uring_xmsg m = {.type = 1, .u64 = next_push};

        if (uring_xchan_push(&ch, &m) == -EAGAIN) {
            eagain++;
            uring_timer_start(&prod, &retry, RETRY_NS, fill);
            return;
        }
        next_push++;
    }
    uring_loop_stop(&prod);
}

static void *thread_main(void *arg)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 256};
    struct uring_loop *loop = arg;

    if (uring_loop_init(loop, &o) != 0)
        BAIL_OUT("loop init");
    pthread_barrier_wait(&inited);
    pthread_barrier_wait(&ready);
    if (loop == &prod)
        fill(NULL, 0);
    if (uring_loop_run(loop) != 0)
        BAIL_OUT("loop run");
    pthread_barrier_wait(&stopped);
    uring_loop_destroy(loop);
    return NULL;
}

int main(void)
{
    pthread_t tp, tc;

    th_require_t0();
    pthread_barrier_init(&inited, NULL, 3);
    pthread_barrier_init(&ready, NULL, 3);
    pthread_barrier_init(&stopped, NULL, 2);
    pthread_create(&tp, NULL, thread_main, &prod);
    pthread_create(&tc, NULL, thread_main, &cons);
    pthread_barrier_wait(&inited);
    if (uring_xchan_init(&ch, &prod, &cons, CAPACITY, 1, on_msg) != 0)
        BAIL_OUT("xchan init");
    pthread_barrier_wait(&ready);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);

    ok_eq(next_push, COUNT, "every message pushed");
    ok_eq(next_expected, COUNT, "every message received");
    ok_eq(bad, 0, "once each, in order");
    ok(eagain > 0, "a full channel refused pushes (%llu times)", (unsigned long long)eagain);
    ok(max_bells <= 1, "doorbells within their credit");
    ok_eq(ch.bell_errors, 0, "no doorbell failed");
    ok(prod.stats.bells_sent < COUNT, "doorbells carry batches (%llu for %d messages)", (unsigned long long)prod.stats.bells_sent,
       COUNT);
    uring_xchan_destroy(&ch);
    return done_testing();
}
