/* Queue groups: each message goes to exactly one member of a group and to every plain
 * subscription; members on two clients share the load. */
#include "tests/driver/helpers.h"

static struct inbox g1 = INBOX_INIT, g2 = INBOX_INIT, plain = INBOX_INIT;

int main(void)
{
    struct broker_proc b;
    trpc_client *c1, *c2, *pub;
    trpc_sub *s1, *s2, *s3;
    int i, n1, n2;

    broker_up(&b, NULL);
    c1 = connect_or_bail(&b, NULL);
    c2 = connect_or_bail(&b, NULL);
    pub = connect_or_bail(&b, NULL);
    ok_eq(trpc_subscribe_group(c1, "work.*", "workers", inbox_cb, &g1, &s1), 0, "member 1 joins");
    ok_eq(trpc_subscribe_group(c2, "work.*", "workers", inbox_cb, &g2, &s2), 0, "member 2 joins");
    ok_eq(trpc_subscribe(c2, "work.*", inbox_cb, &plain, &s3), 0, "a plain subscription");
    ok_eq(trpc_subscribe_group(c1, "work.*", "", inbox_cb, &g1, &s3), -TRPC_E_INVALID_ARGUMENT, "empty group refused");
    ok_eq(trpc_subscribe_group(c1, "work.*", NULL, inbox_cb, &g1, &s3), -TRPC_E_INVALID_ARGUMENT, "NULL group refused");
    ok_eq(trpc_flush(c1, 5000), 0, "flush member 1");
    ok_eq(trpc_flush(c2, 5000), 0, "flush member 2");
    for (i = 0; i < 200; i++)
        if (trpc_publish(pub, "work.item", "job", 3) != 0)
            break;
    ok_eq(i, 200, "200 jobs published");
    ok_eq(inbox_wait(&plain, 200, 10000), 200, "the plain subscription sees all 200");
    n1 = inbox_count(&g1);
    n2 = inbox_count(&g2);
    for (i = 0; i < 100 && n1 + n2 < 200; i++) {
        usleep(20000);
        n1 = inbox_count(&g1);
        n2 = inbox_count(&g2);
    }
    ok_eq(n1 + n2, 200, "the group got each job exactly once (%d + %d)", n1, n2);
    ok(n1 > 0 && n2 > 0, "both members got work");
    ok_eq(trpc_unsubscribe(s1), 0, "member 1 leaves");
    ok_eq(trpc_flush(c1, 5000), 0, "flush");
    for (i = 0; i < 20; i++)
        trpc_publish(pub, "work.item", "job", 3);
    ok_eq(inbox_wait(&g2, n2 + 20, 10000), n2 + 20, "the remaining member gets everything");
    ok_eq(inbox_count(&g1), n1, "the member that left gets nothing");
    trpc_close(pub);
    trpc_close(c2);
    trpc_close(c1);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
