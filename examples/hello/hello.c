/*
 * hello: publish/subscribe with libtrpc.
 *
 *   hello [trpc://host:port] [count]
 *
 * Subscribes to "hello.>", publishes `count` greetings on "hello.world", waits until they all came
 * back through the subscription, and prints how many arrived. Exit status 0 when all did.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <trpc/trpc.h>

struct counter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int received;
};

/* Runs on the client's dispatcher thread; the message is ours to free. */
static void on_hello(trpc_client *c, trpc_sub *sub, trpc_msg *msg, void *ud)
{
    struct counter *n = ud;

    printf("%s: %.*s\n", trpc_msg_topic(msg), (int)trpc_msg_len(msg), (const char *)trpc_msg_data(msg));
    trpc_msg_free(msg);
    pthread_mutex_lock(&n->lock);
    n->received++;
    pthread_cond_signal(&n->cond);
    pthread_mutex_unlock(&n->lock);
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "trpc://127.0.0.1:4250";
    int count = argc > 2 ? atoi(argv[2]) : 3;
    struct counter n = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct timespec deadline;
    trpc_client *c;
    trpc_sub *sub;
    int err, i;

    err = trpc_connect(&c, url, NULL);
    if (err) {
        fprintf(stderr, "hello: %s (%s)\n", trpc_strerror(err), trpc_last_error());
        return 1;
    }
    err = trpc_subscribe(c, "hello.>", on_hello, &n, &sub);
    if (err == 0)
        err = trpc_flush(c, 2000); /* the broker has the subscription before we publish */
    for (i = 0; err == 0 && i < count; i++) {
        char text[64];
        int len = snprintf(text, sizeof(text), "hello, world #%d", i + 1);

        err = trpc_publish(c, "hello.world", text, (size_t)len);
    }
    if (err) {
        fprintf(stderr, "hello: %s (%s)\n", trpc_strerror(err), trpc_last_error());
        trpc_close(c);
        return 1;
    }
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&n.lock);
    while (n.received < count && pthread_cond_timedwait(&n.cond, &n.lock, &deadline) == 0)
        ;
    i = n.received;
    pthread_mutex_unlock(&n.lock);
    trpc_sub_destroy(sub);
    trpc_close(c);
    printf("received %d of %d\n", i, count);
    return i == count ? 0 : 1;
}
