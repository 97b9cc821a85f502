/*
 * stub_server: the generated server side of examples/shop (shop_billing_serve) over the real
 * libtrpc and a real broker, called with plain trpc_request from a second client. A request is
 * decoded, handed to the typed handler and its reply encoded; a typed error reaches the caller as
 * -TRPC_E_RESPONDER_ERROR with its code and text; garbage bytes are answered with
 * TRPC_STUB_CODE_BAD_REQUEST, broken handlers with TRPC_STUB_CODE_INTERNAL; a publish on the rpc
 * topic is dropped; a second server shares the work (same group); stop leaves every topic.
 */
#include "shop.trpc.h"
#include "tests/driver/helpers.h"

struct state {
    atomic_int calls, cleanups;
    _Atomic enum trpc_stub_verdict verdict;
    pthread_mutex_t lock; /* seen_* */
    char seen_id[64];
    int64_t seen_amount;
    size_t seen_items;
};

static enum trpc_stub_verdict charge(void *ud, const trpc_msg *msg, const Shop__Order *req, Shop__Receipt *resp,
                                     struct trpc_stub_error *err)
{
    struct state *st = ud;

    pthread_mutex_lock(&st->lock);
    snprintf(st->seen_id, sizeof(st->seen_id), "%s", req->id);
    st->seen_amount = req->amount_cents;
    st->seen_items = req->n_items;
    pthread_mutex_unlock(&st->lock);
    atomic_fetch_add(&st->calls, 1);
    if (!trpc_msg_is_request(msg))
        return trpc_stub_fail(err, 500, "not a request");
    if (req->amount_cents > 10000)
        return trpc_stub_fail(err, 402, "declined: %s over limit", req->id);
    if (atomic_load(&st->verdict) != TRPC_STUB_OK)
        return atomic_load(&st->verdict);
    resp->order_id = strdup(req->id);
    resp->ok = true;
    return TRPC_STUB_OK;
}

static void charge_cleanup(void *ud, Shop__Receipt *resp)
{
    struct state *st = ud;

    atomic_fetch_add(&st->cleanups, 1);
    free(resp->order_id);
}

static enum trpc_stub_verdict placed(void *ud, const trpc_msg *msg, const Shop__Order *ev, uint32_t *nack_delay_ms)
{
    return TRPC_STUB_ACK;
}

/* A plain trpc_request of an order; the reply (or responder error) stays in *reply. */
static int request(trpc_client *c, const char *id, int64_t amount, trpc_msg **reply)
{
    Shop__Order o = SHOP__ORDER__INIT;
    char *items[] = {"tea", "cake"};
    uint8_t buf[256];

    o.id = (char *)id;
    o.amount_cents = amount;
    o.n_items = 2;
    o.items = items;
    *reply = NULL;
    return trpc_request(c, SHOP_BILLING_CHARGE_TOPIC, buf, shop__order__pack(&o, buf), 5000, reply);
}

static bool error_is(int rc, trpc_msg *reply, uint32_t code, const char *text)
{
    bool same = rc == -TRPC_E_RESPONDER_ERROR && reply != NULL && trpc_msg_error_code(reply) == code &&
                (text == NULL || (trpc_msg_len(reply) == strlen(text) && memcmp(trpc_msg_data(reply), text, strlen(text)) == 0));

    if (!same && reply != NULL)
        diag("got rc %d code %#x text '%.*s'", rc, (unsigned)trpc_msg_error_code(reply), (int)trpc_msg_len(reply),
             (const char *)trpc_msg_data(reply));
    trpc_msg_free(reply);
    return same;
}

int main(void)
{
    struct shop_billing_handlers h = {.on_charge = charge, .on_charge_cleanup = charge_cleanup, .on_placed = placed};
    struct shop_billing_server srv, srv2;
    struct state st = {0};
    struct broker_proc b;
    trpc_client *sc, *sc2, *cc;
    trpc_msg *reply;
    Shop__Receipt *r;
    int rc;

    pthread_mutex_init(&st.lock, NULL);
    atomic_store(&st.verdict, TRPC_STUB_OK);
    broker_up(&b, NULL);
    sc = connect_or_bail(&b, NULL);
    cc = connect_or_bail(&b, NULL);

    ok_eq(shop_billing_serve(sc, &srv, &h, &st), 0, "serve succeeds");
    /* [1] and [2]: the durable Refund's queue group and consumer group, not served here. */
    ok(srv._subs[0] != NULL && srv._subs[1] == NULL && srv._subs[2] == NULL && srv._subs[3] != NULL,
       "one subscription per method with a handler");
    ok(strcmp(trpc_sub_pattern(srv._subs[0]), "shop.billing.charge") == 0, "charge on its default topic");
    ok(strcmp(trpc_sub_pattern(srv._subs[3]), "shop.billing.placed") == 0, "placed on its default topic");
    ok_eq(trpc_flush(sc, 5000), 0, "the broker has the SUBs");

    rc = request(cc, "o-1", 1250, &reply);
    ok_eq(rc, 0, "a request is answered (%s)", trpc_last_error());
    ok_eq(atomic_load(&st.calls), 1, "the handler ran once");
    pthread_mutex_lock(&st.lock);
    ok(strcmp(st.seen_id, "o-1") == 0 && st.seen_amount == 1250 && st.seen_items == 2, "it got the decoded order");
    pthread_mutex_unlock(&st.lock);
    r = reply ? shop__receipt__unpack(NULL, trpc_msg_len(reply), trpc_msg_data(reply)) : NULL;
    ok(r != NULL && strcmp(r->order_id, "o-1") == 0 && r->ok, "the reply is the handler's receipt, encoded");
    shop__receipt__free_unpacked(r, NULL);
    trpc_msg_free(reply);
    /* The hook runs on the server's thread after it sent the reply, so it may finish just after
     * the client has the reply in hand: wait for it, bounded. */
    for (int i = 0; i < 500 && atomic_load(&st.cleanups) == 0; i++)
        usleep(10000);
    ok_eq(atomic_load(&st.cleanups), 1, "the cleanup hook ran after the reply was sent");

    rc = request(cc, "o-2", 20000, &reply);
    ok(error_is(rc, reply, 402, "declined: o-2 over limit"), "a typed error reaches the caller with its code and text");
    ok_eq(atomic_load(&st.cleanups), 1, "no cleanup for an error");

    rc = trpc_request(cc, SHOP_BILLING_CHARGE_TOPIC, "\xff\xff\xff", 3, 5000, &reply);
    ok(error_is(rc, reply, TRPC_STUB_CODE_BAD_REQUEST, "request does not decode as shop.Order"),
       "garbage bytes are answered with TRPC_STUB_CODE_BAD_REQUEST, naming the type");
    ok_eq(atomic_load(&st.calls), 2, "they never reach the handler");

    ok_eq(trpc_publish(cc, SHOP_BILLING_CHARGE_TOPIC, "", 0), 0, "a publish on the rpc topic");
    ok_eq(trpc_flush(cc, 5000), 0, "flush");
    rc = request(cc, "o-x", 1, &reply);
    trpc_msg_free(reply);
    ok(rc == 0 && atomic_load(&st.calls) == 3, "is dropped: only the next request reached the handler");

    atomic_store(&st.verdict, TRPC_STUB_ACK);
    rc = request(cc, "o-3", 1, &reply);
    ok(error_is(rc, reply, TRPC_STUB_CODE_INTERNAL, NULL), "an event verdict from an rpc handler is INTERNAL");
    atomic_store(&st.verdict, TRPC_STUB_ERROR); /* without filling err: code 0 is no error code */
    rc = request(cc, "o-4", 1, &reply);
    ok(error_is(rc, reply, TRPC_STUB_CODE_INTERNAL, NULL), "an error with code 0 is sent as INTERNAL");
    atomic_store(&st.verdict, TRPC_STUB_OK);

    h.on_placed = NULL;
    sc2 = connect_or_bail(&b, NULL); /* a connection holds one subscription per topic and group */
    ok_eq(shop_billing_serve(sc2, &srv2, &h, &st), 0, "a second server (another process's) with one handler");
    ok(srv2._subs[0] != NULL && srv2._subs[3] == NULL, "only the handled method is subscribed");
    ok_eq(trpc_flush(sc2, 5000), 0, "flush");
    shop_billing_stop(&srv);
    trpc_flush(sc, 5000); /* the broker has the UNSUBs before the next request */
    ok(srv._subs[0] == NULL && srv._subs[3] == NULL, "stop releases the first server's subscriptions");
    rc = request(cc, "o-5", 1, &reply);
    trpc_msg_free(reply);
    ok_eq(rc, 0, "the second server still answers");
    shop_billing_stop(&srv2);
    trpc_flush(sc2, 5000);
    rc = request(cc, "o-6", 1, &reply);
    trpc_msg_free(reply);
    ok_eq(rc, -TRPC_E_NO_RESPONDERS, "after stop nobody answers");

    trpc_close(sc2);
    trpc_close(sc);
    trpc_close(cc);
    broker_proc_stop(&b);
    return done_testing();
}
