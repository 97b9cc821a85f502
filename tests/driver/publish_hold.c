/*
 * Publishes held for a batch (driver/io.c, swap_batch): a stream that stops without a flush still
 * arrives whole and in order (the hold's timeout sends its tail), a request made right behind a
 * stream is answered, and a publish after a quiet spell arrives on its own. Every wait is a bound
 * on liveness, not a timing: a tail stuck in a hold fails it. The broker runs without keepalive,
 * whose PING would end a stuck hold too (after 30 s, within a generous bound).
 */
#include "tests/driver/helpers.h"

#define STREAM 20000
#define BURST  1000

static atomic_int got, out_of_order;

static void count_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    int seq = atoi(trpc_msg_data(m)); /* payloads are NUL-terminated by the library */

    (void)c;
    (void)sub;
    (void)ud;
    if (seq != atomic_load(&got))
        atomic_fetch_add(&out_of_order, 1);
    atomic_fetch_add(&got, 1);
    trpc_msg_free(m);
}

static bool got_n(void *arg)
{
    return atomic_load(&got) >= *(int *)arg;
}

/* Publishes first..first+n-1 as fast as the send buffer takes them, never flushing (a flush's PING
 * would end a hold). */
static void stream(trpc_client *pub, int first, int n)
{
    for (int i = first; i < first + n; i++) {
        char num[16];
        int len = snprintf(num, sizeof(num), "%d", i), err;

        while ((err = trpc_publish(pub, "hold.t", num, (size_t)len)) == -TRPC_E_BUFFER_FULL)
            usleep(100);
        if (err != 0)
            BAIL_OUT("trpc_publish: %s", trpc_strerror(err));
    }
}

int main(void)
{
    static const char *const args[] = {"--keepalive", "0", NULL};
    struct broker_proc b;
    trpc_client *pub, *sub_c;
    trpc_sub *s, *echo;
    trpc_msg *reply = NULL;
    int want;
    bool all;

    alarm(120);
    broker_up(&b, args);
    sub_c = connect_or_bail(&b, NULL);
    pub = connect_or_bail(&b, NULL);
    ok_eq(trpc_subscribe(sub_c, "hold.t", count_cb, NULL, &s), 0, "subscribe hold.t");
    ok_eq(trpc_subscribe_group(sub_c, "hold.echo", "echo", echo_respond_cb, NULL, &echo), 0, "a responder on hold.echo");
    ok_eq(trpc_flush(sub_c, 5000), 0, "the SUBs are in");

    stream(pub, 0, STREAM);
    want = STREAM;
    all = wait_for(got_n, &want, 10000);
    ok(all, "a stream of %d publishes that stops without a flush arrives whole (%d)", STREAM, atomic_load(&got));

    stream(pub, STREAM, BURST);
    ok(trpc_request(pub, "hold.echo", "now", 3, 5000, &reply) == 0 && reply != NULL && trpc_msg_len(reply) == 3,
       "a request right behind a stream is answered");
    trpc_msg_free(reply);
    want = STREAM + BURST;
    all = wait_for(got_n, &want, 10000);
    ok(all, "and the stream before it arrives whole (%d of %d)", atomic_load(&got), want);

    usleep(50 * 1000);
    stream(pub, STREAM + BURST, 1);
    want = STREAM + BURST + 1;
    ok(wait_for(got_n, &want, 10000), "a publish after a quiet spell arrives on its own");
    ok_eq(atomic_load(&out_of_order), 0, "every message in publish order");
    ok_eq(atomic_load(&got), want, "none twice");

    trpc_sub_destroy(echo);
    trpc_sub_destroy(s);
    trpc_close(pub);
    trpc_close(sub_c);
    broker_proc_stop(&b);
    return done_testing();
}
