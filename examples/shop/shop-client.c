/*
 * shop-client: calls the Billing service of shop.trpc through the generated stubs.
 *
 *   shop-client [trpc://host:port] [count]
 *   shop-client [trpc://host:port] [count] refund
 *
 * Charges `count` orders with the blocking call and `count` more with the asynchronous one (all
 * in flight at once), checks every receipt names its order, charges one order above the limit and
 * expects the service's typed error, then publishes a Placed event per order (durable: each
 * acknowledged once a stream has it on disk) while watching the event through a consumer group of
 * its own, shop_observer (every group gets every event). Prints "charged N of M", "declined CODE:
 * TEXT", "published N" and "observed N"; exit status 0 when all went as expected.
 *
 * With "refund", sends `count` Refund calls at once and waits for their receipts. Refund is a
 * durable rpc: started while no Billing instance runs, the calls wait in stream shop-refunds (up
 * to their 30 s) and the first instance that starts serves them. Prints "refunds sent N" and
 * "refunded N of M".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shop-streams.h"
#include "shop.trpc.h"

enum { MAX_COUNT = 1000, DECLINED = 402, WAIT_MS = 5000 };

/* Completions of the asynchronous calls; they run on the client's dispatcher thread. */
struct pending {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int outstanding, good;
};

static void make_order(Shop__Order *o, char *id, size_t id_size, int i, int64_t amount_cents)
{
    static char *items[] = {"tea", "cake"};

    shop__order__init(o);
    snprintf(id, id_size, "o-%d", i);
    o->id = id;
    o->amount_cents = amount_cents;
    o->n_items = 2;
    o->items = items;
}

static void charged(trpc_client *c, int rc, Shop__Receipt *resp, const struct trpc_stub_error *err, void *ud)
{
    struct pending *p = ud;

    (void)c;
    if (rc != 0)
        fprintf(stderr, "shop-client: async call: %s%s%s\n", trpc_strerror(rc), err != NULL ? ": " : "",
                err != NULL ? err->text : "");
    pthread_mutex_lock(&p->lock);
    if (rc == 0 && resp->ok && strncmp(resp->order_id, "o-", 2) == 0)
        p->good++;
    p->outstanding--;
    pthread_cond_signal(&p->done);
    pthread_mutex_unlock(&p->lock);
    shop__receipt__free_unpacked(resp, NULL);
}

/* The client's own view of Placed: every event, whichever instance of the service handles it. */
struct watch {
    pthread_mutex_t lock;
    pthread_cond_t more;
    int seen;
};

static enum trpc_stub_verdict observed(void *ud, const trpc_msg *msg, const Shop__Order *ev, uint32_t *nack_delay_ms)
{
    struct watch *w = ud;

    (void)msg;
    (void)ev;
    (void)nack_delay_ms;
    pthread_mutex_lock(&w->lock);
    w->seen++;
    pthread_cond_signal(&w->more);
    pthread_mutex_unlock(&w->lock);
    return TRPC_STUB_ACK;
}

/* Waits up to WAIT_MS for `count` events; returns how many were seen. */
static int wait_seen(struct watch *w, int count)
{
    struct timespec until;
    int seen;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&w->lock);
    while (w->seen < count && pthread_cond_timedwait(&w->more, &w->lock, &until) == 0)
        ;
    seen = w->seen;
    pthread_mutex_unlock(&w->lock);
    return seen;
}

/* Blocking calls, then asynchronous ones; returns the receipts that named their order. */
static int charge_all(trpc_client *c, int count)
{
    struct pending p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    int i, good = 0;

    for (i = 0; i < count; i++) {
        Shop__Order o;
        Shop__Receipt *r = NULL;
        struct trpc_stub_error err;
        char id[32];
        int rc;

        make_order(&o, id, sizeof(id), i, 1250 + i);
        rc = shop_billing_charge(c, &o, &r, 0, &err);
        if (rc != 0) {
            fprintf(stderr, "shop-client: charge %s: %s\n", id, trpc_strerror(rc));
            continue;
        }
        good += r->ok && strcmp(r->order_id, id) == 0;
        shop__receipt__free_unpacked(r, NULL);
    }
    for (i = count; i < 2 * count; i++) {
        Shop__Order o;
        char id[32];

        make_order(&o, id, sizeof(id), i, 990);
        pthread_mutex_lock(&p.lock);
        p.outstanding++;
        pthread_mutex_unlock(&p.lock);
        if (shop_billing_charge_async(c, &o, 0, charged, &p) != 0) {
            pthread_mutex_lock(&p.lock);
            p.outstanding--; /* the callback will not run */
            pthread_mutex_unlock(&p.lock);
        }
    }
    pthread_mutex_lock(&p.lock);
    while (p.outstanding > 0)
        pthread_cond_wait(&p.done, &p.lock);
    good += p.good;
    pthread_mutex_unlock(&p.lock);
    return good;
}

/* Durable calls, all in flight at once; returns the receipts that named their order. */
static int refund_all(trpc_client *c, int count)
{
    struct pending p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    Shop__Order o;
    char id[32];
    int sent = 0, good;

    for (int i = 0; i < count; i++) {
        make_order(&o, id, sizeof(id), i, 990 + i);
        pthread_mutex_lock(&p.lock);
        p.outstanding++;
        pthread_mutex_unlock(&p.lock);
        if (shop_billing_refund_async(c, &o, 0, charged, &p) != 0) {
            fprintf(stderr, "shop-client: refund %s: %s\n", id, trpc_last_error());
            pthread_mutex_lock(&p.lock);
            p.outstanding--;
            pthread_mutex_unlock(&p.lock);
            continue;
        }
        sent++;
    }
    printf("refunds sent %d\n", sent);
    fflush(stdout);
    pthread_mutex_lock(&p.lock);
    while (p.outstanding > 0) /* each completes by its deadline at the latest */
        pthread_cond_wait(&p.done, &p.lock);
    good = p.good;
    pthread_mutex_unlock(&p.lock);
    return good;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "trpc://127.0.0.1:4250";
    int count = argc > 2 ? atoi(argv[2]) : 10, good, published = 0, seen, i, rc;
    struct watch w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct shop_billing_placed_sub sub;
    struct trpc_stub_error err;
    Shop__Receipt *r = NULL;
    trpc_client *c;
    Shop__Order o;
    char id[32];
    bool declined;

    if (count < 1 || count > MAX_COUNT) {
        fprintf(stderr, "shop-client: count must be 1..%d\n", MAX_COUNT);
        return 2;
    }
    rc = trpc_connect(&c, url, NULL);
    if (rc) {
        fprintf(stderr, "shop-client: %s (%s)\n", trpc_strerror(rc), trpc_last_error());
        return 1;
    }
    if (argc > 3 && strcmp(argv[3], "refund") == 0) {
        good = shop_declare_streams(c, "shop-client") == 0 ? refund_all(c, count) : 0;
        printf("refunded %d of %d\n", good, count);
        trpc_close(c);
        return good == count ? 0 : 1;
    }
    good = charge_all(c, count);
    printf("charged %d of %d\n", good, 2 * count);

    make_order(&o, id, sizeof(id), 2 * count, 250000);
    rc = shop_billing_charge(c, &o, &r, 0, &err);
    declined = rc == -TRPC_E_RESPONDER_ERROR && err.code == DECLINED;
    if (rc == -TRPC_E_RESPONDER_ERROR)
        printf("declined %u: %s\n", (unsigned)err.code, err.text);
    else
        printf("not declined: %s\n", trpc_strerror(rc));
    if (rc == 0)
        shop__receipt__free_unpacked(r, NULL);

    rc = shop_declare_streams(c, "shop-client");
    if (rc == 0)
        rc = shop_billing_placed_subscribe(c, &sub, "shop.observer", observed, &w);
    if (rc == 0)
        rc = trpc_flush(c, 2000); /* subscribed before the first publish */
    for (i = 0; i < count && rc == 0; i++) {
        make_order(&o, id, sizeof(id), i, 1250 + i);
        published += shop_billing_placed_publish(c, &o) == 0;
    }
    if (rc == 0)
        rc = trpc_flush(c, 2000);
    printf("published %d%s\n", published, rc == 0 ? "" : " (subscribe or flush failed)");
    seen = wait_seen(&w, count);
    printf("observed %d\n", seen);
    shop_billing_placed_unsubscribe(&sub);
    trpc_close(c);
    return good == 2 * count && declined && published == count && seen == count && rc == 0 ? 0 : 1;
}
