/* 8 threads publish and request on one client at once (run under --enable-tsan too): every
 * publish is delivered, every request answered with its own payload. */
#include "tests/driver/helpers.h"

#define THREADS    8
#define PER_THREAD 300

static struct inbox got = INBOX_INIT;
static trpc_client *cli;
static atomic_int failures;

static void echo_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    if (trpc_msg_is_request(m))
        trpc_respond(m, trpc_msg_data(m), trpc_msg_len(m));
    trpc_msg_free(m);
}

static void *worker(void *arg)
{
    long id = (long)arg;
    int i;

    for (i = 0; i < PER_THREAD; i++) {
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "%ld-%d", id, i);
        trpc_msg *reply = NULL;

        if (trpc_publish(cli, "mt.pub", buf, (size_t)len) != 0)
            atomic_fetch_add(&failures, 1);
        if (i % 3 == 0) {
            if (trpc_request(cli, "mt.echo", buf, (size_t)len, 5000, &reply) != 0 || trpc_msg_len(reply) != (size_t)len ||
                memcmp(trpc_msg_data(reply), buf, (size_t)len) != 0)
                atomic_fetch_add(&failures, 1);
            trpc_msg_free(reply);
        }
    }
    return NULL;
}

int main(void)
{
    struct broker_proc b;
    trpc_options *o;
    trpc_client *svc;
    trpc_sub *s1, *s2;
    pthread_t th[THREADS];
    long i;

    broker_up(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_dispatch(o, TRPC_DISPATCH_THREAD, 4);
    svc = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    cli = connect_or_bail(&b, NULL);
    ok_eq(trpc_subscribe_group(svc, "mt.echo", "g", echo_cb, NULL, &s1), 0, "responder");
    ok_eq(trpc_subscribe(svc, "mt.pub", inbox_cb, &got, &s2), 0, "subscriber");
    ok_eq(trpc_flush(svc, 5000), 0, "flush");
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    ok_eq(atomic_load(&failures), 0, "no publish or request failed");
    ok_eq(trpc_flush(cli, 5000), 0, "flush");
    ok_eq(inbox_wait(&got, THREADS * PER_THREAD, 15000), THREADS * PER_THREAD, "every publish delivered");
    trpc_close(cli);
    trpc_close(svc);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
