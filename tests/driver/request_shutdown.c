/* A request pending when the broker shuts down fails with SHUTTING_DOWN (the broker's REP ERROR
 * for it comes before its ERR and the close), not with CONNECTION_LOST: synchronous and
 * asynchronous alike. */
#include <signal.h>
#include <sys/wait.h>

#include "tests/driver/helpers.h"

/* Keeps requests unanswered. */
static void silent_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    __atomic_add_fetch((int *)ud, 1, __ATOMIC_SEQ_CST);
    trpc_msg_free(m);
}

struct sync_req {
    trpc_client *c;
    int err;
};

static void *sync_request(void *arg)
{
    struct sync_req *r = arg;
    trpc_msg *reply = NULL;

    r->err = trpc_request(r->c, "svc.hold", "x", 1, 60000, &reply);
    trpc_msg_free(reply);
    return NULL;
}

int main(void)
{
    struct reply_box r = REPLY_BOX_INIT;
    struct broker_proc b;
    struct sync_req sr;
    trpc_client *svc, *cli;
    trpc_sub *s;
    pthread_t t;
    int seen = 0, st;

    broker_up(&b, NULL);
    svc = connect_or_bail(&b, NULL);
    cli = connect_or_bail(&b, NULL);
    ok_eq(trpc_subscribe_group(svc, "svc.hold", "g", silent_cb, &seen, &s), 0, "silent responder");
    ok_eq(trpc_flush(svc, 5000), 0, "flush");

    sr.c = cli;
    sr.err = 1;
    ok_eq(pthread_create(&t, NULL, sync_request, &sr), 0, "a thread waits in trpc_request");
    ok_eq(trpc_request_async(cli, "svc.hold", "x", 1, 60000, reply_box_cb, &r), 0, "and an asynchronous request");
    for (int i = 0; i < 1000 && __atomic_load_n(&seen, __ATOMIC_SEQ_CST) < 2; i++)
        usleep(10000);
    ok_eq(__atomic_load_n(&seen, __ATOMIC_SEQ_CST), 2, "the responder holds both");

    st = broker_proc_signal_wait(&b, SIGTERM, 20000);
    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "broker exits 0 on SIGTERM (status %d)", st);
    pthread_join(t, NULL);
    ok_eq(sr.err, -TRPC_E_SHUTTING_DOWN, "trpc_request returns SHUTTING_DOWN (%s)", trpc_strerror(sr.err));
    ok_eq(reply_box_wait(&r, 10000), 1, "the callback ran once");
    ok_eq(r.err, -TRPC_E_SHUTTING_DOWN, "with SHUTTING_DOWN (%s)", trpc_strerror(r.err));

    trpc_close(cli);
    trpc_close(svc);
    broker_proc_stop(&b);
    return done_testing();
}
