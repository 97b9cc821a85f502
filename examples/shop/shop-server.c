/*
 * shop-server: one instance of the Billing service of shop.trpc, written against the stubs
 * trpc-gen generates (shop.trpc.h). Run several: they join one group, so each call and each
 * Placed event is handled by one of them. Placed is durable: it is kept in a stream (declared here
 * when missing), and its consumer group, shop_billing, delivers each event until one instance
 * acknowledges it, across restarts of either side.
 *
 *   shop-server [trpc://host:port] [name]
 *
 * Charge answers with a receipt, or with error 402 for orders above 1000.00; Refund (durable: calls
 * made while no instance ran wait in a stream, and the first instance to start serves them)
 * answers with a receipt; Placed counts the order and acknowledges it. Prints "ready NAME" once
 * serving, "placed NAME ID" per event, "refunded NAME ID" per refund, and on SIGINT or SIGTERM
 * stops, closes and prints "stopped NAME charged N declined N placed N refunded N".
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "shop-streams.h"
#include "shop.trpc.h"

enum { LIMIT_CENTS = 100000, DECLINED = 402 };

/* Handlers run on the client's one dispatcher thread: the counters need no lock until
 * trpc_close() has joined it. */
struct billing {
    const char *name;
    unsigned long charged, declined, placed, refunded;
};

static enum trpc_stub_verdict charge(void *ud, const trpc_msg *msg, const Shop__Order *req, Shop__Receipt *resp,
                                     struct trpc_stub_error *err)
{
    struct billing *b = ud;

    (void)msg;
    if (req->amount_cents > LIMIT_CENTS) {
        b->declined++;
        return trpc_stub_fail(err, DECLINED, "order %s: %lld.%02lld is over the limit", req->id,
                              (long long)(req->amount_cents / 100), (long long)(req->amount_cents % 100));
    }
    /* The reply is packed after we return, while req is still alive: it may point into req. */
    resp->order_id = req->id;
    resp->ok = true;
    b->charged++;
    return TRPC_STUB_OK;
}

static enum trpc_stub_verdict refund(void *ud, const trpc_msg *msg, const Shop__Order *req, Shop__Receipt *resp,
                                     struct trpc_stub_error *err)
{
    struct billing *b = ud;

    (void)msg;
    (void)err;
    resp->order_id = req->id;
    resp->ok = true;
    b->refunded++;
    printf("refunded %s %s\n", b->name, req->id);
    fflush(stdout);
    return TRPC_STUB_OK;
}

static enum trpc_stub_verdict placed(void *ud, const trpc_msg *msg, const Shop__Order *ev, uint32_t *nack_delay_ms)
{
    struct billing *b = ud;

    (void)msg;
    (void)nack_delay_ms;
    b->placed++;
    printf("placed %s %s\n", b->name, ev->id);
    fflush(stdout);
    return TRPC_STUB_ACK;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "trpc://127.0.0.1:4250";
    struct billing b = {argc > 2 ? argv[2] : "billing", 0, 0, 0, 0};
    struct shop_billing_handlers handlers = {.on_charge = charge, .on_refund = refund, .on_placed = placed};
    struct shop_billing_server server;
    trpc_options *opts;
    trpc_client *c;
    sigset_t stop;
    int err, sig;

    /* Block the signals before the library starts its threads, so that they inherit the mask. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    err = trpc_options_create(&opts);
    if (err == 0)
        err = trpc_options_set_name(opts, b.name);
    if (err == 0)
        err = trpc_connect(&c, url, opts);
    trpc_options_destroy(opts);
    if (err) {
        fprintf(stderr, "shop-server: %s (%s)\n", trpc_strerror(err), trpc_last_error());
        return 1;
    }
    err = shop_declare_streams(c, "shop-server");
    if (err) {
        trpc_close(c);
        return 1;
    }
    err = shop_billing_serve(c, &server, &handlers, &b);
    if (err == 0)
        err = trpc_flush(c, 2000); /* the broker has our subscriptions once it answered the PING */
    if (err) {
        fprintf(stderr, "shop-server: serve: %s (%s)\n", trpc_strerror(err), trpc_last_error());
        trpc_close(c);
        return 1;
    }
    printf("ready %s\n", b.name);
    fflush(stdout);
    sigwait(&stop, &sig);
    shop_billing_stop(&server);
    trpc_close(c);
    printf("stopped %s charged %lu declined %lu placed %lu refunded %lu\n", b.name, b.charged, b.declined, b.placed, b.refunded);
    return 0;
}
