/*
 * stub_events: the generated event side of examples/shop (a durable event) over the real libtrpc.
 * Against a real broker: publish waits for the stream's acknowledgement (NO_STREAM without one),
 * the typed subscription joins a consumer group with the contract's policy, and the handler's
 * verdicts settle each delivery: ACK, NACK with its delay (delivered again), TERM (a dead letter at
 * once, with its reason), an event that does not decode TERMed without reaching the handler; the
 * group keeps what came while no one was subscribed. Against tests/gen/wire_peer.h, a TCP peer of
 * protocol version 1 that speaks the codec as the broker would: the exact SUB (:durable and the
 * policy headers, sent again on reconnect), ACK and NACK frames, and NACK where TERM is unknown.
 */
#include <stdatomic.h>

#include "shop.trpc.h"
#include "tests/driver/helpers.h"
#include "tests/gen/wire_peer.h"

struct state {
    pthread_mutex_t lock;
    int calls;
    char seen_id[64];
    enum trpc_stub_verdict verdict;
    uint32_t delay_ms;
};

static atomic_int sub_errors;

static enum trpc_stub_verdict placed(void *ud, const trpc_msg *msg, const Shop__Order *ev, uint32_t *nack_delay_ms)
{
    struct state *st = ud;
    enum trpc_stub_verdict v;

    pthread_mutex_lock(&st->lock);
    st->calls++;
    snprintf(st->seen_id, sizeof(st->seen_id), "%s (delivery %u)", ev->id, (unsigned)trpc_msg_delivery(msg));
    v = *nack_delay_ms != 0 ? TRPC_STUB_OK : st->verdict; /* the preset must be 0: else a wrong verdict */
    *nack_delay_ms = st->delay_ms;
    pthread_mutex_unlock(&st->lock);
    return v;
}

static int calls(struct state *st)
{
    int n;

    pthread_mutex_lock(&st->lock);
    n = st->calls;
    pthread_mutex_unlock(&st->lock);
    return n;
}

static bool calls_reach(struct state *st, int n)
{
    int i;

    for (i = 0; i < 500 && calls(st) < n; i++)
        usleep(10000);
    return calls(st) >= n;
}

static void error_cb(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    diag("error callback: %s: %s", trpc_strerror(err), text);
    if (sub != NULL)
        atomic_fetch_add(&sub_errors, 1);
}

static void set_verdict(struct state *st, enum trpc_stub_verdict v, uint32_t delay_ms)
{
    pthread_mutex_lock(&st->lock);
    st->verdict = v;
    st->delay_ms = delay_ms;
    pthread_mutex_unlock(&st->lock);
}

static bool seen_is(struct state *st, const char *what)
{
    bool same;

    pthread_mutex_lock(&st->lock);
    same = strcmp(st->seen_id, what) == 0;
    if (!same)
        diag("handler saw %s", st->seen_id);
    pthread_mutex_unlock(&st->lock);
    return same;
}

static size_t order_bytes(const char *id, uint8_t *buf)
{
    Shop__Order o = SHOP__ORDER__INIT;

    o.id = (char *)id;
    return shop__order__pack(&o, buf);
}

/* Dead letters seen on the dead-letter topic: how many, and the last one's reasons. */
static struct {
    pthread_mutex_t lock;
    int n;
    char reason[32], term[128];
} dead = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void dead_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    size_t len;
    const void *v;

    (void)c;
    (void)sub;
    (void)ud;
    pthread_mutex_lock(&dead.lock);
    dead.n++;
    v = trpc_msg_header(m, "trpc-dlq-reason", &len);
    snprintf(dead.reason, sizeof(dead.reason), "%.*s", v != NULL ? (int)len : 0, v != NULL ? (const char *)v : "");
    v = trpc_msg_header(m, "trpc-dlq-term-reason", &len);
    snprintf(dead.term, sizeof(dead.term), "%.*s", v != NULL ? (int)len : 0, v != NULL ? (const char *)v : "");
    pthread_mutex_unlock(&dead.lock);
    trpc_ack(m);
    trpc_msg_free(m);
}

static bool dead_reach(int n, const char *reason, const char *term)
{
    bool got = false;

    for (int i = 0; i < 500 && !got; i++) {
        pthread_mutex_lock(&dead.lock);
        got = dead.n >= n;
        if (got && (strcmp(dead.reason, reason) != 0 || strcmp(dead.term, term) != 0)) {
            diag("dead letter %d: reason '%s', term reason '%s'", dead.n, dead.reason, dead.term);
            got = false;
            i = 500;
        }
        pthread_mutex_unlock(&dead.lock);
        if (!got)
            usleep(10000);
    }
    return got;
}

static void broker_part(struct state *st)
{
    static struct inbox raw = INBOX_INIT;
    static const char *const placed_subj[] = {SHOP_BILLING_PLACED_TOPIC}, *const dead_subj[] = {"shop.billing.placed.dlq"};
    trpc_stream_config events = {.subjects = placed_subj, .subject_count = 1, .dedup_window_ms = -1};
    trpc_stream_config letters = {.subjects = dead_subj, .subject_count = 1, .dedup_window_ms = -1};
    Shop__Order order = SHOP__ORDER__INIT, *sent;
    struct shop_billing_placed_sub sub;
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c;
    trpc_sub *rs, *ds;
    uint8_t buf[128];
    int before;

    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    trpc_options_create(&o);
    trpc_options_set_error_cb(o, error_cb, NULL);
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);

    order.id = "o-8";
    ok_eq(shop_billing_placed_publish(c, &order), -TRPC_E_NO_STREAM,
          "a durable event with no stream keeping its topic: NO_STREAM (nothing stored)");
    ok(trpc_stream_declare(c, "placed", &events, 5000, NULL) == 0 &&
           trpc_stream_declare(c, "placed-dead", &letters, 5000, NULL) == 0,
       "the streams of the event and of its dead letters declared");
    ok_eq(trpc_subscribe(c, SHOP_BILLING_PLACED_TOPIC, inbox_cb, &raw, &rs), 0, "a raw subscriber on the event's topic");
    ok_eq(trpc_subscribe_durable(c, "shop.billing.placed.dlq", "inspect", 0, NULL, 0, dead_cb, NULL, &ds), 0,
          "and a consumer group of its dead letters");
    ok_eq(trpc_flush(c, 5000), 0, "flush");
    order.id = "o-9";
    order.amount_cents = 5;
    ok_eq(shop_billing_placed_publish(c, &order), 0, "publish returns once the stream has it on disk");
    ok(inbox_wait(&raw, 1, 5000) == 1 && strcmp(raw.topic, "shop.billing.placed") == 0, "on the event's topic");
    sent = shop__order__unpack(NULL, raw.len, (const uint8_t *)raw.data);
    ok(sent != NULL && strcmp(sent->id, "o-9") == 0 && sent->amount_cents == 5, "the payload is the encoded event");
    shop__order__free_unpacked(sent, NULL);
    trpc_sub_destroy(rs);

    ok_eq(shop_billing_placed_subscribe(c, &sub, NULL, placed, st), -TRPC_E_INVALID_ARGUMENT,
          "a durable event is consumed through a group: none given, refused");
    set_verdict(st, TRPC_STUB_ACK, 0);
    ok_eq(shop_billing_placed_subscribe(c, &sub, "shop.audit", placed, st), 0, "a consumer group subscription with the policy");
    ok(calls_reach(st, 1) && seen_is(st, "o-9 (delivery 1)"),
       "the group starts with what the stream kept: the handler gets o-9, a durable delivery (1)");

    set_verdict(st, TRPC_STUB_NACK, 20);
    before = calls(st);
    order.id = "o-10";
    ok_eq(shop_billing_placed_publish(c, &order), 0, "o-10 published");
    ok(calls_reach(st, before + 1), "the handler refuses it once (NACK, 20 ms)");
    set_verdict(st, TRPC_STUB_ACK, 0);
    ok(calls_reach(st, before + 2) && seen_is(st, "o-10 (delivery 2)"), "it comes again, delivery 2, and is acknowledged");

    set_verdict(st, TRPC_STUB_TERM, 0);
    order.id = "o-11";
    ok_eq(shop_billing_placed_publish(c, &order), 0, "o-11 published");
    ok(dead_reach(1, "term", "the handler returned TRPC_STUB_TERM"), "TRPC_STUB_TERM: o-11 is a dead letter at once, saying why");
    set_verdict(st, TRPC_STUB_ACK, 0);
    before = calls(st);
    ok_eq(trpc_publish(c, SHOP_BILLING_PLACED_TOPIC, "\xff\xff", 2), 0, "garbage on the event's topic");
    ok(dead_reach(2, "term", "does not decode as shop.Order"), "an event that does not decode is a dead letter at once");
    ok_eq(trpc_publish(c, SHOP_BILLING_PLACED_TOPIC, buf, order_bytes("o-12", buf)), 0, "then a good event, published raw");
    ok(calls_reach(st, before + 1) && seen_is(st, "o-12 (delivery 1)"), "the garbage never reached the handler");
    shop_billing_placed_unsubscribe(&sub);
    ok(sub._sub == NULL, "unsubscribe releases the handle");
    before = calls(st);
    ok_eq(trpc_publish(c, SHOP_BILLING_PLACED_TOPIC, buf, order_bytes("o-13", buf)), 0, "publish after unsubscribe");
    ok_eq(trpc_flush(c, 5000), 0, "flush");
    usleep(100000);
    ok_eq(calls(st), before, "no handler runs after unsubscribe");
    ok_eq(shop_billing_placed_subscribe(c, &sub, "shop.audit", placed, st), 0, "subscribed again to the same group");
    ok(calls_reach(st, before + 1) && seen_is(st, "o-13 (delivery 1)"), "the group kept o-13 for it");
    shop_billing_placed_unsubscribe(&sub);
    trpc_sub_destroy(ds);
    ok_eq(atomic_load(&sub_errors), 0, "the broker accepted every SUB with the policy headers");
    trpc_close(c);
    broker_proc_stop(&b);
}

static void check_policy(const struct wire_frame *f, const char *group, const char *what)
{
    char v[64];
    bool all;

    all = wire_peer_header(f, "trpc-durable", v, sizeof(v)) && strcmp(v, "true") == 0;
    all = all && wire_peer_header(f, "trpc-max-deliveries", v, sizeof(v)) && strcmp(v, "5") == 0;
    all = all && wire_peer_header(f, "trpc-backoff", v, sizeof(v)) && strcmp(v, "100,2,30000") == 0;
    all = all && wire_peer_header(f, "trpc-dlq", v, sizeof(v)) && strcmp(v, "shop.billing.placed.dlq") == 0;
    ok(all, "%s: the four policy headers are on the wire", what);
    wire_peer_header(f, ":durable", v, sizeof(v));
    ok(strcmp(v, group) == 0 && f->header_count == 5, "%s: consumer group '%s' (%s)", what, group, v);
}

/* A durable delivery (ACK_REQUIRED, seq, attempt) of payload to subscription id. */
static int deliver(struct wire_peer *p, uint64_t id, uint64_t seq, uint32_t attempt, const void *payload, size_t len)
{
    struct wire_out o = {.type = WIRE_MSG,
                         .flags = attempt ? WIRE_F_ACK_REQUIRED : 0,
                         .id = id,
                         .seq = seq,
                         .aux = attempt,
                         .topic = SHOP_BILLING_PLACED_TOPIC,
                         .topic_len = strlen(SHOP_BILLING_PLACED_TOPIC),
                         .payload = payload,
                         .payload_len = len};

    return wire_peer_send(p, &o);
}

static void peer_part(struct state *st)
{
    struct shop_billing_placed_sub sub;
    struct wire_peer_accept_arg a;
    struct wire_peer p;
    struct wire_frame f;
    trpc_options *o;
    trpc_client *c = NULL;
    pthread_t th;
    uint8_t buf[128];
    uint64_t id;
    int base = calls(st);

    if (wire_peer_listen(&p) != 0)
        BAIL_OUT("wire_peer_listen failed");
    a.p = &p;
    pthread_create(&th, NULL, wire_peer_accept_thread, &a);
    trpc_options_create(&o);
    trpc_options_set_reconnect(o, -1, 20, 100);
    ok_eq(trpc_connect(&c, p.url, o), 0, "connected to the wire peer");
    pthread_join(th, NULL);
    ok_eq(a.rc, 0, "handshake done");

    set_verdict(st, TRPC_STUB_ACK, 0);
    ok_eq(shop_billing_placed_subscribe(c, &sub, "shop.audit", placed, st), 0, "durable subscription");
    ok_eq(wire_peer_next(&p, WIRE_SUB, 5000, &f), 1, "the peer reads its SUB");
    ok(f.topic_len == strlen(SHOP_BILLING_PLACED_TOPIC) && memcmp(f.topic, SHOP_BILLING_PLACED_TOPIC, f.topic_len) == 0,
       "on the event's topic");
    check_policy(&f, "shop_audit", "durable SUB");
    id = f.id;

    deliver(&p, id, 7, 1, buf, order_bytes("o-20", buf));
    ok(wire_peer_next(&p, WIRE_ACK, 5000, &f) == 1 && f.id == id && f.seq == 7, "ACK retires the delivery (seq 7)");
    ok(calls(st) == base + 1 && seen_is(st, "o-20 (delivery 1)"), "the handler got it");

    set_verdict(st, TRPC_STUB_NACK, 250);
    deliver(&p, id, 8, 2, buf, order_bytes("o-21", buf));
    ok(wire_peer_next(&p, WIRE_NACK, 5000, &f) == 1 && f.seq == 8 && f.aux == 250, "NACK after the handler's delay (%u ms)",
       (unsigned)f.aux);

    set_verdict(st, TRPC_STUB_ACK, 0);
    deliver(&p, id, 0, 0, buf, order_bytes("o-22", buf));  /* plain: nothing to settle */
    deliver(&p, id, 9, 1, "\xff\xff", 2);                  /* durable garbage */
    deliver(&p, id, 10, 1, buf, order_bytes("o-23", buf)); /* a later good one */
    ok(wire_peer_next(&p, WIRE_NACK, 5000, &f) == 1 && f.seq == 9 && f.aux == 0,
       "an event that does not decode is NACKed by a broker of protocol version 1 (no TERM)");
    ok(wire_peer_next(&p, WIRE_ACK, 5000, &f) == 1 && f.seq == 10,
       "the next settle is the later event's: a plain one is left alone");
    ok(calls(st) == base + 4 && seen_is(st, "o-23 (delivery 1)"), "the garbage never reached the handler");

    wire_peer_drop(&p);
    ok_eq(wire_peer_accept(&p, 10000), 0, "the client reconnects to the peer");
    ok_eq(wire_peer_next(&p, WIRE_SUB, 5000, &f), 1, "it restores the subscription");
    check_policy(&f, "shop_audit", "restored SUB");

    shop_billing_placed_unsubscribe(&sub);
    ok(wire_peer_next(&p, WIRE_UNSUB, 5000, &f) == 1 && f.id != 0, "unsubscribe sends UNSUB");
    trpc_options_destroy(o);
    trpc_close(c);
    wire_peer_close(&p);
}

int main(void)
{
    struct state st = {PTHREAD_MUTEX_INITIALIZER, 0, "", TRPC_STUB_ACK, 0};

    broker_part(&st);
    peer_part(&st);
    return done_testing();
}
