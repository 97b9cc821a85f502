/* Subscription references taken and dropped per run of MSGs (trpc__sub_find_batched, run_taken):
 * runs of one subscription's messages alternate with others' across two dispatcher threads, one
 * subscription is removed in the middle of a burst, and at the end every subscription holds only
 * its owner's reference (a count left high would leak it, one dropped too early frees it under a
 * callback: ASan and TSan run this too). */
#include "driver/client.h"
#include "tests/driver/helpers.h"

#define ROUNDS 40
#define RUN    50 /* messages of one topic in a row */

struct counter {
    atomic_int n;
    atomic_int out_of_order;
};

static struct counter got[3];

static void count_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    struct counter *k = ud;
    int seq = atoi(trpc_msg_data(m)); /* payloads are NUL-terminated by the library */

    (void)c;
    (void)sub;
    if (seq != atomic_load(&k->n))
        atomic_fetch_add(&k->out_of_order, 1);
    atomic_fetch_add(&k->n, 1);
    trpc_msg_free(m);
}

static bool half_of_c(void *arg)
{
    (void)arg;
    return atomic_load(&got[2].n) >= ROUNDS * RUN / 2;
}

static bool a_and_b_done(void *arg)
{
    (void)arg;
    return atomic_load(&got[0].n) == ROUNDS * RUN && atomic_load(&got[1].n) == ROUNDS * RUN;
}

static bool only_owner_refs(void *arg)
{
    trpc_sub **s = arg;

    return atomic_load(&s[0]->refs) == 1 && atomic_load(&s[1]->refs) == 1;
}

int main(void)
{
    static const char *const topics[3] = {"sb.a", "sb.b", "sb.c"};
    struct broker_proc b;
    trpc_options *o;
    trpc_client *pub, *sub_c;
    trpc_sub *s[3];
    int r, k, i, bad = 0, c_at_unsub = -1, c_after;

    alarm(120);
    broker_up(&b, NULL);
    trpc_options_create(&o);
    ok_eq(trpc_options_set_dispatch(o, TRPC_DISPATCH_THREAD, 2), 0, "2 dispatcher threads");
    sub_c = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    pub = connect_or_bail(&b, NULL);
    for (k = 0; k < 3; k++)
        ok_eq(trpc_subscribe(sub_c, topics[k], count_cb, &got[k], &s[k]), 0, "subscribe %s", topics[k]);
    ok_eq(trpc_flush(sub_c, 5000), 0, "the SUBs are in");
    for (r = 0; r < ROUNDS; r++) {
        for (k = 0; k < 3; k++) {
            for (i = 0; i < RUN; i++) {
                char num[16];
                int len = snprintf(num, sizeof(num), "%d", r * RUN + i);

                while (trpc_publish(pub, topics[k], num, (size_t)len) == -TRPC_E_BUFFER_FULL)
                    trpc_flush(pub, 5000);
            }
        }
        if (r == ROUNDS / 2) {
            ok_eq(trpc_flush(pub, 5000), 0, "half the rounds are out");
            ok(wait_for(half_of_c, NULL, 30000), "half of sb.c's messages arrived");
            ok_eq(trpc_unsubscribe(s[2]), 0, "sb.c unsubscribed in the middle of the burst");
            c_at_unsub = atomic_load(&got[2].n);
        }
    }
    ok_eq(trpc_flush(pub, 5000), 0, "every round is out");
    ok(wait_for(a_and_b_done, NULL, 30000), "sb.a and sb.b got all %d messages (%d, %d)", ROUNDS * RUN, atomic_load(&got[0].n),
       atomic_load(&got[1].n));
    for (k = 0; k < 2; k++)
        bad += atomic_load(&got[k].out_of_order);
    ok_eq(bad, 0, "each in publish order");
    c_after = atomic_load(&got[2].n);
    ok_eq(c_after, c_at_unsub, "no sb.c callback after trpc_unsubscribe returned");
    ok(wait_for(only_owner_refs, s, 10000), "sb.a and sb.b hold only their owner's reference (%u, %u)", atomic_load(&s[0]->refs),
       atomic_load(&s[1]->refs));
    for (k = 0; k < 3; k++)
        trpc_sub_destroy(s[k]);
    trpc_close(pub);
    trpc_close(sub_c);
    broker_proc_stop(&b);
    return done_testing();
}
