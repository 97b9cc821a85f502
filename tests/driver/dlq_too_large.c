/*
 * A dead letter that cannot be stored however often it is tried: a message near max-frame whose
 * trpc-dlq-* headers (and a long dead-letter topic) take it past the largest record the
 * dead-letter stream's log holds (MESSAGE_TOO_LARGE). It is dropped at once, counted as dead,
 * with one warning, rather than retried every second for ever; a small one beside it is
 * dead-lettered as usual.
 */
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define MAX_FRAME (3u * 1024 * 1024 - 16) /* max_frame + 16 a whole number of 4 KiB blocks: no slack */
#define DLQ_LEN   5000                    /* a dead-letter topic this long outgrows any block's slack */

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    trpc_term(m, "poison");
    trpc_msg_free(m);
}

struct settled {
    trpc_client *c;
    json_t *g;
};

static bool both_settled(void *arg)
{
    struct settled *s = arg;

    json_decref(s->g);
    s->g = adminc_group(s->c, "orders", "g");
    return s->g != NULL && adminc_int(s->g, "dead") == 2 && adminc_int(s->g, "pending") == 0;
}

int main(void)
{
    struct broker_proc b;
    struct settled s = {0};
    trpc_header h[1];
    trpc_client *c, *m;
    trpc_sub *sub;
    char *dlq, *big;
    size_t big_len = MAX_FRAME - 512;
    uint64_t seq = 0;
    json_t *j;
    bool done;

    plan(7);
    broker_up(&b, (const char *[]){"--cores", "1", "--max-frame", "3145712", "--max-topic", "8192", NULL});
    c = connect_or_bail(&b, NULL);
    j = adminc_call(c, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"orders.>\"]}");
    ok(adminc_ok(j), "stream orders");
    json_decref(j);
    j = adminc_call(c, "stream.add", "{\"name\": \"dead\", \"subjects\": [\"dead.>\"]}");
    ok(adminc_ok(j), "stream dead");
    json_decref(j);

    dlq = malloc(DLQ_LEN + 1);
    big = calloc(1, big_len);
    if (dlq == NULL || big == NULL)
        BAIL_OUT("out of memory");
    memcpy(dlq, "dead.", 5);
    memset(dlq + 5, 'x', DLQ_LEN - 5);
    dlq[DLQ_LEN] = '\0';
    h[0] = (trpc_header){"trpc-dlq", dlq, DLQ_LEN};
    m = connect_or_bail(&b, NULL);
    if (trpc_subscribe_durable(m, "orders.>", "g", 4, h, 1, on_msg, NULL, &sub) != 0 || trpc_flush(m, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());

    ok(trpc_publish_sync(c, "orders.small", NULL, 0, "s", 1, 5000, &seq) == 0, "a small message stored");
    ok(trpc_publish_sync(c, "orders.big", NULL, 0, big, big_len, 10000, &seq) == 0, "one of max-frame - 512 bytes stored");

    s.c = c;
    done = wait_for(both_settled, &s, 20000);
    ok(done, "both terminated: dead 2, pending 0 (dead %lld, pending %lld)", adminc_int(s.g, "dead"), adminc_int(s.g, "pending"));
    json_decref(s.g);
    j = adminc_stream(c, "dead");
    ok(adminc_int(j, "messages") == 1, "the dead-letter stream holds the small one only (%lld)", adminc_int(j, "messages"));
    json_decref(j);
    ok(broker_proc_log_count(&b, "is too large for the dead-letter stream: dropped") == 1, "one warning names the dropped one");

    trpc_close(m);
    trpc_close(c);
    free(dlq);
    free(big);
    broker_proc_stop(&b);
    return done_testing();
}
