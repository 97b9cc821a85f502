/* A dispatcher thread holds at most dispatch_bytes of messages its callbacks have not taken
 * (trpc_options_set_dispatch_bytes), whatever their number: with the subscription's callback
 * blocked, a burst of 256 KiB messages three times the bound is queued only up to the bound; the
 * rest is dropped, and the error callback hears SLOW_CONSUMER once, naming the subscription and
 * the bound. Once the callback returns, the queued messages are delivered, and so are the next
 * ones, with no second error. Counting the 65536-message bound alone, the client held every
 * message of the burst. */
#include "tests/driver/helpers.h"

#define BOUND   (4u << 20)
#define PAYLOAD (256u << 10)
#define BURST   48 /* 12 MiB */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool entered, released;
static int delivered, errors, first_err;
static trpc_sub *err_sub;
static char first_text[256];

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    trpc_msg_free(m);
    pthread_mutex_lock(&lock);
    delivered++;
    entered = true;
    pthread_cond_broadcast(&cond);
    while (!released)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

static void on_error(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c;
    (void)ud;
    pthread_mutex_lock(&lock);
    if (errors++ == 0) {
        first_err = err;
        err_sub = sub;
        snprintf(first_text, sizeof(first_text), "%s", text);
    }
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

/* Waits (at most 10 s) until *v reaches n; returns *v. */
static int wait_count(const int *v, int n)
{
    struct timespec ts;
    int got;

    deadline_in(&ts, 10000);
    pthread_mutex_lock(&lock);
    while (*v < n && pthread_cond_timedwait(&cond, &lock, &ts) == 0)
        ;
    got = *v;
    pthread_mutex_unlock(&lock);
    return got;
}

static bool is_entered(void *arg)
{
    bool e;

    (void)arg;
    pthread_mutex_lock(&lock);
    e = entered;
    pthread_mutex_unlock(&lock);
    return e;
}

int main(void)
{
    static const char *const args[] = {"--cores", "1", NULL};
    static char payload[PAYLOAD];
    struct broker_proc b;
    trpc_options *o;
    trpc_client *sub, *pub;
    trpc_sub *s;
    char bound_text[32];
    int i, queued, total;

    broker_up(&b, args);
    trpc_options_create(&o);
    ok_eq(trpc_options_set_dispatch_bytes(o, 4095), -TRPC_E_INVALID_ARGUMENT, "a bound below 4096 bytes is refused");
    ok_eq(trpc_options_set_dispatch_bytes(o, BOUND), 0, "dispatch_bytes %u MiB", BOUND >> 20);
    trpc_options_set_error_cb(o, on_error, NULL);
    sub = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    trpc_options_create(&o);
    trpc_options_set_send_buffer(o, 2 * (BURST + 8) * PAYLOAD); /* the whole burst fits */
    pub = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    ok_eq(trpc_subscribe(sub, "big", on_msg, NULL, &s), 0, "subscribe");
    ok_eq(trpc_flush(sub, 10000), 0, "the subscription is in force");

    ok_eq(trpc_publish(pub, "big", payload, sizeof(payload)), 0, "a first message");
    ok(wait_for(is_entered, NULL, 10000), "its callback runs, and blocks");
    for (i = 0; i < BURST; i++)
        if (trpc_publish(pub, "big", payload, sizeof(payload)) != 0)
            break;
    ok_eq(i, BURST, "a burst of %d MiB published behind it", BURST * PAYLOAD >> 20);
    ok_eq(trpc_flush(pub, 10000), 0, "and handled by the broker");
    /* Its PONG takes effect once the MSGs before it reached their dispatcher, queued or dropped. */
    ok_eq(trpc_flush(sub, 10000), 0, "and received by the subscriber, its callback still blocked");

    pthread_mutex_lock(&lock);
    released = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    /* The error was queued behind the messages that fit: once it ran, they all did. */
    ok_eq(wait_count(&errors, 1), 1, "the error callback ran once the callback returned");
    ok_eq(first_err, -TRPC_E_SLOW_CONSUMER, "with SLOW_CONSUMER (%s)", trpc_err_name(first_err));
    ok(err_sub == s, "naming the subscription");
    diag("text: %s", first_text);
    snprintf(bound_text, sizeof(bound_text), "%u)", BOUND);
    ok(strstr(first_text, "dispatch queue full") != NULL && strstr(first_text, bound_text) != NULL,
       "the text names the dispatch queue and its byte bound");
    pthread_mutex_lock(&lock);
    queued = delivered - 1;
    pthread_mutex_unlock(&lock);
    ok(queued >= 1, "messages were queued while the callback was blocked (%d)", queued);
    ok((size_t)queued * PAYLOAD <= BOUND, "no more than the bound: %d x %u KiB <= %u MiB", queued, PAYLOAD >> 10, BOUND >> 20);
    ok(queued < BURST, "the rest of the burst was dropped (%d of %d)", BURST - queued, BURST);

    total = 1 + queued;
    for (i = 0; i < 3; i++)
        trpc_publish(pub, "big", payload, sizeof(payload));
    ok_eq(trpc_flush(pub, 10000), 0, "three more published");
    ok_eq(wait_count(&delivered, total + 3), total + 3, "all three delivered: the queue has room again");
    ok_eq(trpc_flush(sub, 10000), 0, "flush");
    pthread_mutex_lock(&lock);
    ok_eq(errors, 1, "without another error");
    pthread_mutex_unlock(&lock);

    trpc_close(sub);
    trpc_close(pub);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
