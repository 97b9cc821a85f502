/*
 * stub_client: the generated client calls of examples/shop over the real libtrpc and a real
 * broker, answered by a plain libtrpc responder in the test. The sync and async calls encode the
 * request on the contract's topic with its timeout, decode the reply, and turn a responder's error
 * into a typed error (code and text) beside -TRPC_E_RESPONDER_ERROR; other failures pass through;
 * a reply that does not decode and a request protobuf-c would not encode are reported.
 */
#include "shop.trpc.h"
#include "tests/driver/helpers.h"

/* What the responder answers next, and what it saw. */
static struct {
    pthread_mutex_t lock;
    enum { R_RECEIPT, R_ERROR, R_GARBAGE } mode;
    uint32_t code;
    char text[64];
    int requests;
    uint32_t deadline_ms;
    char seen_id[64];
    int64_t seen_amount;
} rsp = {PTHREAD_MUTEX_INITIALIZER, R_RECEIPT, 0, "", 0, 0, "", 0};

static void responder(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    Shop__Order *o = shop__order__unpack(NULL, trpc_msg_len(m), trpc_msg_data(m));
    Shop__Receipt r = SHOP__RECEIPT__INIT;
    uint8_t buf[128];

    pthread_mutex_lock(&rsp.lock);
    rsp.requests++;
    rsp.deadline_ms = trpc_msg_deadline_ms(m);
    snprintf(rsp.seen_id, sizeof(rsp.seen_id), "%s", o ? o->id : "(undecodable)");
    rsp.seen_amount = o ? o->amount_cents : -1;
    if (rsp.mode == R_ERROR) {
        trpc_respond_error(m, rsp.code, rsp.text);
    } else if (rsp.mode == R_GARBAGE) {
        trpc_respond(m, "\xff\xff", 2);
    } else {
        r.order_id = o ? o->id : "";
        r.ok = true;
        trpc_respond(m, buf, shop__receipt__pack(&r, buf));
    }
    pthread_mutex_unlock(&rsp.lock);
    shop__order__free_unpacked(o, NULL);
    trpc_msg_free(m);
}

static void answer(int mode, uint32_t code, const char *text)
{
    pthread_mutex_lock(&rsp.lock);
    rsp.mode = mode;
    rsp.code = code;
    snprintf(rsp.text, sizeof(rsp.text), "%s", text ? text : "");
    pthread_mutex_unlock(&rsp.lock);
}

struct outcome {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls, rc;
    char order_id[64];
    uint32_t code;
    char text[TRPC_STUB_ERROR_TEXT_MAX];
    bool err_set;
};

static void done(trpc_client *c, int rc, Shop__Receipt *resp, const struct trpc_stub_error *err, void *ud)
{
    struct outcome *o = ud;

    pthread_mutex_lock(&o->lock);
    o->calls++;
    o->rc = rc;
    o->err_set = err != NULL;
    if (resp != NULL)
        snprintf(o->order_id, sizeof(o->order_id), "%s", resp->order_id);
    if (err != NULL) {
        o->code = err->code;
        snprintf(o->text, sizeof(o->text), "%s", err->text);
    }
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->lock);
    shop__receipt__free_unpacked(resp, NULL);
}

static void outcome_wait(struct outcome *o)
{
    struct timespec ts;

    deadline_in(&ts, 5000);
    pthread_mutex_lock(&o->lock);
    while (o->calls == 0 && pthread_cond_timedwait(&o->cond, &o->lock, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&o->lock);
}

static uint32_t deadline(void)
{
    uint32_t ms;

    pthread_mutex_lock(&rsp.lock);
    ms = rsp.deadline_ms;
    pthread_mutex_unlock(&rsp.lock);
    return ms;
}

static int requests(void)
{
    int n;

    pthread_mutex_lock(&rsp.lock);
    n = rsp.requests;
    pthread_mutex_unlock(&rsp.lock);
    return n;
}

static bool seen_is(const char *id, int64_t amount)
{
    bool same;

    pthread_mutex_lock(&rsp.lock);
    same = strcmp(rsp.seen_id, id) == 0 && rsp.seen_amount == amount;
    pthread_mutex_unlock(&rsp.lock);
    return same;
}

int main(void)
{
    Shop__Order order = SHOP__ORDER__INIT;
    Shop__Receipt *resp = NULL, *untouched = (Shop__Receipt *)&order;
    struct trpc_stub_error err = {0, "untouched"};
    struct outcome out = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, "", 0, "", false};
    struct broker_proc b;
    trpc_client *c, *rc_client;
    trpc_sub *rs;
    int requests_before;

    broker_up(&b, NULL);
    c = connect_or_bail(&b, NULL);
    rc_client = connect_or_bail(&b, NULL);

    order.id = "o-7";
    order.amount_cents = 990;
    ok_eq(shop_billing_charge(c, &order, &resp, 0, &err), -TRPC_E_NO_RESPONDERS,
          "without a responder: NO_RESPONDERS passes through");
    ok_eq(trpc_subscribe_group(rc_client, SHOP_BILLING_CHARGE_TOPIC, "test", responder, NULL, &rs), 0, "a plain responder");
    ok_eq(trpc_flush(rc_client, 5000), 0, "flush");

    ok_eq(shop_billing_charge(c, &order, &resp, 0, &err), 0, "a call succeeds (%s)", trpc_last_error());
    ok(seen_is("o-7", 990), "the request is the encoded order, on the method's topic");
    ok(deadline() > 1000 && deadline() <= 2000, "timeout 0 means the contract's 2000 ms (%u left)", (unsigned)deadline());
    ok(resp != NULL && strcmp(resp->order_id, "o-7") == 0 && resp->ok, "the reply is decoded into *resp");
    shop__receipt__free_unpacked(resp, NULL);
    ok(strcmp(err.text, "untouched") == 0, "err is left alone on success");

    ok_eq(shop_billing_charge(c, &order, &resp, 500, NULL), 0, "a call with its own timeout and no err succeeds");
    ok(deadline() > 0 && deadline() <= 500, "an explicit timeout is passed on (%u left)", (unsigned)deadline());
    shop__receipt__free_unpacked(resp, NULL);

    answer(R_ERROR, 402, "declined: o-7 over limit");
    resp = untouched;
    ok_eq(shop_billing_charge(c, &order, &resp, 0, &err), -TRPC_E_RESPONDER_ERROR, "a handler's error is -TRPC_E_RESPONDER_ERROR");
    ok_eq(err.code, 402, "with the handler's code in err");
    ok(strcmp(err.text, "declined: o-7 over limit") == 0, "and its text (%s)", err.text);
    ok(resp == untouched, "*resp is left alone on failure");
    ok_eq(shop_billing_charge(c, &order, &resp, 0, NULL), -TRPC_E_RESPONDER_ERROR, "err may be NULL");

    answer(R_GARBAGE, 0, NULL);
    ok_eq(shop_billing_charge(c, &order, &resp, 0, &err), -TRPC_E_BAD_PAYLOAD, "a reply that does not decode is BAD_PAYLOAD");
    ok(resp == untouched, "and leaves *resp alone");

    answer(R_RECEIPT, 0, NULL);
    requests_before = requests();
    order.n_items = 2; /* a count without its array: protobuf_c_message_check() refuses it */
    ok_eq(shop_billing_charge(c, &order, &resp, 0, &err), -TRPC_E_INVALID_ARGUMENT, "an invalid request is INVALID_ARGUMENT");
    ok_eq(requests(), requests_before, "and is not sent");
    order.n_items = 0;
    order.id = "o-8";

    ok_eq(shop_billing_charge_async(c, &order, 0, done, &out), 0, "an async call is accepted");
    outcome_wait(&out);
    ok(out.calls == 1 && out.rc == 0 && strcmp(out.order_id, "o-8") == 0 && !out.err_set, "its callback gets the decoded reply");
    ok(deadline() > 1000 && deadline() <= 2000, "with the contract's timeout");

    pthread_mutex_lock(&out.lock);
    out.calls = 0;
    pthread_mutex_unlock(&out.lock);
    answer(R_ERROR, 409, "duplicate order");
    ok_eq(shop_billing_charge_async(c, &order, 100, done, &out), 0, "a failing async call is accepted");
    outcome_wait(&out);
    ok(out.calls == 1 && out.rc == -TRPC_E_RESPONDER_ERROR && out.err_set && out.code == 409 &&
           strcmp(out.text, "duplicate order") == 0,
       "its callback gets the typed error");
    trpc_sub_destroy(rs);
    trpc_close(rc_client);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
