/* Four plain threads post 100,000 messages each into a loop's 64-slot mailbox, retrying with
 * sched_yield() when it refuses with -EAGAIN: the loop sees every message exactly once, in order
 * per producer, and the doorbell (an eventfd write) rings per wake-up, not per message. */
#include <pthread.h>
#include <sched.h>

#include "tests/uring/helpers.h"

#define PRODUCERS 4
#define COUNT     100000
#define CAPACITY  64

static struct uring_loop loop;
static struct uring_mbox mb;
static pthread_barrier_t ready;
static uint64_t next_expected[PRODUCERS], bad, received;
static _Atomic uint64_t eagain;

static void on_msg(struct uring_mbox *m, const struct uring_xmsg *msg)
{
    (void)m;
    if (msg->type != 7 || msg->u32 >= PRODUCERS || msg->ptr != &mb) {
        bad++;
        return;
    }
    if (msg->u64 != next_expected[msg->u32])
        bad++;
    next_expected[msg->u32] = msg->u64 + 1;
    if (++received == (uint64_t)PRODUCERS * COUNT)
        uring_loop_stop(&loop);
}

static void *producer(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    uint64_t refused = 0;

    pthread_barrier_wait(&ready);
    for (uint64_t i = 0; i < COUNT; i++) {
        struct uring_xmsg m = {.type = 7, .u32 = id, .u64 = i, .ptr = &mb};

        while (uring_mbox_post(&mb, &m) == -EAGAIN) {
            refused++;
            sched_yield();
        }
    }
    atomic_fetch_add(&eagain, refused);
    return NULL;
}

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 256};
    pthread_t t[PRODUCERS];

    th_require_t0();
    if (uring_loop_init(&loop, &o) != 0)
        BAIL_OUT("loop init");
    ok_eq(uring_mbox_init(&mb, CAPACITY, on_msg), 0, "mailbox of %d slots", CAPACITY);
    ok_eq(uring_mbox_attach(&mb, &loop), 0, "attached to the loop");
    pthread_barrier_init(&ready, NULL, PRODUCERS + 1);
    for (uintptr_t i = 0; i < PRODUCERS; i++)
        pthread_create(&t[i], NULL, producer, (void *)i);
    pthread_barrier_wait(&ready);
    ok_eq(uring_loop_run(&loop), 0, "loop ran until every message came");
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    uring_loop_destroy(&loop);

    ok_eq(received, (uint64_t)PRODUCERS * COUNT, "every message received");
    ok_eq(bad, 0, "once each, in order per producer");
    for (int i = 0; i < PRODUCERS; i++)
        ok_eq(next_expected[i], COUNT, "producer %d: all of its messages", i);
    ok(atomic_load(&eagain) > 0, "a full mailbox refused posts (%llu times)", (unsigned long long)atomic_load(&eagain));
    ok(atomic_load(&mb.bells) < (uint64_t)PRODUCERS * COUNT, "doorbells carry batches (%llu for %d messages)",
       (unsigned long long)atomic_load(&mb.bells), PRODUCERS * COUNT);
    ok_eq(mb.arm_errors, 0, "the read op was always re-armed");
    ok_eq(uring_mbox_destroy(&mb, NULL), 0, "nothing left at destroy");
    return done_testing();
}
