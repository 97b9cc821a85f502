/* Wildcard subscriptions: '*' matches one token, '>' one or more, as docs/protocol.md's table;
 * bad patterns are refused before anything is sent. */
#include "tests/driver/helpers.h"

static struct inbox star = INBOX_INIT, tail = INBOX_INIT, mid = INBOX_INIT, all = INBOX_INIT;

int main(void)
{
    static const char *topics[] = {"a", "a.b", "a.b.c", "x.b.c", "x.b", "b.c"};
    struct broker_proc b;
    trpc_client *c;
    trpc_sub *s[4], *bad = NULL;
    size_t i;

    broker_up(&b, NULL);
    c = connect_or_bail(&b, NULL);
    ok_eq(trpc_subscribe(c, "a.*", inbox_cb, &star, &s[0]), 0, "subscribe a.*");
    ok_eq(trpc_subscribe(c, "a.>", inbox_cb, &tail, &s[1]), 0, "subscribe a.>");
    ok_eq(trpc_subscribe(c, "*.b.>", inbox_cb, &mid, &s[2]), 0, "subscribe *.b.>");
    ok_eq(trpc_subscribe(c, ">", inbox_cb, &all, &s[3]), 0, "subscribe >");
    ok_eq(trpc_subscribe(c, "a*", inbox_cb, &all, &bad), -TRPC_E_BAD_WILDCARD, "a* refused");
    ok_eq(trpc_subscribe(c, ">.a", inbox_cb, &all, &bad), -TRPC_E_BAD_WILDCARD, ">.a refused");
    ok_eq(trpc_subscribe(c, "a..b", inbox_cb, &all, &bad), -TRPC_E_BAD_TOPIC, "a..b refused");
    ok(bad == NULL, "out untouched on failure");
    ok_eq(trpc_publish(c, "a.*", "x", 1), -TRPC_E_WILDCARD_NOT_ALLOWED, "publish on a wildcard refused");
    ok_eq(trpc_flush(c, 5000), 0, "flush");

    for (i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        ok_eq(trpc_publish(c, topics[i], topics[i], strlen(topics[i])), 0, "publish %s", topics[i]);
    /* '>' sees all six; the marker on "z" comes last, so the others are in when it is. */
    ok_eq(trpc_publish(c, "z", "end", 3), 0, "publish the end marker");
    ok_eq(inbox_wait(&all, 7, 10000), 7, "'>' matches every topic");
    ok_eq(inbox_count(&star), 1, "a.* matches a.b only");
    ok_eq(inbox_count(&tail), 2, "a.> matches a.b and a.b.c");
    ok_eq(inbox_count(&mid), 2, "*.b.> matches a.b.c and x.b.c");
    pthread_mutex_lock(&star.lock);
    ok(strcmp(star.topic, "a.b") == 0, "a.* got a.b");
    pthread_mutex_unlock(&star.lock);
    for (i = 0; i < 4; i++)
        trpc_unsubscribe(s[i]);
    trpc_close(c);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
