/* A plain thread (no loop) asks a loop 20,000 questions through the loop's mailbox and gets each
 * answer through its own mailbox, which it watches with poll(2) on uring_mbox_fd() and empties
 * with uring_mbox_drain(): at most REPLY_SLOTS questions are outstanding, so the loop's answers
 * are never refused. */
#include <poll.h>
#include <pthread.h>

#include "tests/uring/helpers.h"

#define COUNT       20000
#define LOOP_SLOTS  16
#define REPLY_SLOTS 8

enum { ASK = 1, ANSWER = 2, BYE = 3 };

static struct uring_loop loop;
static struct uring_mbox loop_mb, reply_mb;
static pthread_barrier_t ready;
static uint64_t answered, refused_answers, answers, bad, next_answer, polls;
static unsigned outstanding;

/* Loop thread: answer u64 with u64 * 3 + 1, to the mailbox the question names. */
static void on_question(struct uring_mbox *mb, const struct uring_xmsg *msg)
{
    (void)mb;
    if (msg->type == BYE) {
        uring_loop_stop(&loop);
        return;
    }
    struct uring_xmsg a = {.type = ANSWER, .u32 = msg->u32, .u64 = msg->u64 * 3 + 1};

    if (msg->type != ASK || uring_mbox_post(msg->ptr, &a) != 0)
        refused_answers++;
    else
        answered++;
}

/* Asking thread. */
static void on_answer(struct uring_mbox *mb, const struct uring_xmsg *msg)
{
    (void)mb;
    if (msg->type != ANSWER || msg->u64 != next_answer * 3 + 1)
        bad++;
    next_answer++;
    answers++;
    outstanding--;
}

static void *asker(void *arg)
{
    struct pollfd p = {.fd = uring_mbox_fd(&reply_mb), .events = POLLIN};
    uint64_t next = 0;

    (void)arg;
    pthread_barrier_wait(&ready);
    while (answers < COUNT) {
        while (next < COUNT && outstanding < REPLY_SLOTS) {
            struct uring_xmsg q = {.type = ASK, .u64 = next, .ptr = &reply_mb};

            if (uring_mbox_post(&loop_mb, &q) == -EAGAIN)
                break; /* the loop's mailbox is full: wait for answers, which free it */
            next++;
            outstanding++;
        }
        if (poll(&p, 1, -1) == 1)
            polls++;
        uring_mbox_drain(&reply_mb);
    }
    struct uring_xmsg bye = {.type = BYE};

    while (uring_mbox_post(&loop_mb, &bye) == -EAGAIN)
        ;
    return NULL;
}

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 256};
    pthread_t t;

    th_require_t0();
    if (uring_loop_init(&loop, &o) != 0)
        BAIL_OUT("loop init");
    if (uring_mbox_init(&loop_mb, LOOP_SLOTS, on_question) != 0 || uring_mbox_init(&reply_mb, REPLY_SLOTS, on_answer) != 0)
        BAIL_OUT("mailbox init");
    ok_eq(uring_mbox_attach(&loop_mb, &loop), 0, "the loop's mailbox is attached");
    pthread_barrier_init(&ready, NULL, 2);
    pthread_create(&t, NULL, asker, NULL);
    pthread_barrier_wait(&ready);
    ok_eq(uring_loop_run(&loop), 0, "loop ran until the asker said bye");
    pthread_join(t, NULL);
    uring_loop_destroy(&loop);

    ok_eq(answered, COUNT, "the loop answered every question");
    ok_eq(refused_answers, 0, "no answer was refused");
    ok_eq(answers, COUNT, "the asker got every answer");
    ok_eq(bad, 0, "each the right one, in order");
    ok(polls > 0, "the asker woke through its mailbox's fd (%llu times)", (unsigned long long)polls);
    ok_eq(uring_mbox_destroy(&reply_mb, NULL), 0, "nothing left in the reply mailbox");
    ok_eq(uring_mbox_destroy(&loop_mb, NULL), 0, "nothing left in the loop's mailbox");
    return done_testing();
}
