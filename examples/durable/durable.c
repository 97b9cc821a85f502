/*
 * durable: streams and consumer groups with libtrpc.
 *
 *   durable [trpc://host:port] [count]
 *
 * Declares stream "orders" over orders.> and stream "orders-dead" over dead.orders (the admin API's
 * stream.add: declaring again is harmless), joins consumer group "billing" with a delivery policy
 * (3 attempts at most, then the dead-letter topic dead.orders), and publishes `count` orders, each
 * acknowledged once on the broker's disk and carrying a trpc-msg-id, so that publishing one again
 * (as after a lost acknowledgement) stores nothing new. The handler acknowledges most orders,
 * refuses every third once (NACK: it comes back), and terminates every fifth (TERM: straight to
 * the dead-letter topic with a reason). Prints what happened; exit status 0 when every order was
 * settled as planned.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <trpc/trpc.h>

struct tally {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int acked, refused, terminated;
};

static int order_of(trpc_msg *m)
{
    char buf[32];
    size_t n = trpc_msg_len(m) < sizeof(buf) - 1 ? trpc_msg_len(m) : sizeof(buf) - 1;

    memcpy(buf, trpc_msg_data(m), n);
    buf[n] = '\0';
    return atoi(buf);
}

/* Runs on the client's dispatcher thread; each message is answered, then freed. */
static void on_order(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    struct tally *t = ud;
    int order = order_of(m);
    char why[64];

    (void)c;
    (void)sub;
    pthread_mutex_lock(&t->lock);
    if (order % 5 == 0) {
        snprintf(why, sizeof(why), "order %d: no such product", order);
        trpc_term(m, why);
        t->terminated++;
    } else if (order % 3 == 0 && trpc_msg_delivery(m) == 1) {
        trpc_nack(m, 100); /* again in 100 ms, delivery 2 */
        t->refused++;
    } else {
        trpc_ack(m);
        t->acked++;
    }
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    trpc_msg_free(m);
}

/* stream.add through the admin API: 0, or -1 with the reply printed. */
static int declare(trpc_client *c, const char *doc)
{
    trpc_msg *reply = NULL;
    int err = trpc_request(c, "$trpc.admin.stream.add", doc, strlen(doc), 5000, &reply);

    if (err == 0 && strstr((const char *)trpc_msg_data(reply), "\"ok\":true") == NULL &&
        strstr((const char *)trpc_msg_data(reply), "\"ok\": true") == NULL)
        err = -1;
    if (err != 0)
        fprintf(stderr, "durable: stream.add %s: %s %.*s\n", doc, err < 0 && err != -1 ? trpc_strerror(err) : "refused",
                reply ? (int)trpc_msg_len(reply) : 0, reply ? (const char *)trpc_msg_data(reply) : "");
    trpc_msg_free(reply);
    return err;
}

int main(int argc, char **argv)
{
    static const trpc_header policy[] = {
        {"trpc-max-deliveries", "3", 1}, {"trpc-dlq", "dead.orders", 11}, {"trpc-ack-wait", "5000", 4}, {"trpc-start", "new", 3}};
    const char *url = argc > 1 ? argv[1] : "trpc://127.0.0.1:4250";
    int count = argc > 2 ? atoi(argv[2]) : 10, want_acked = 0, want_terminated = 0, done;
    struct tally t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    uint64_t first_seq = 0, again_seq = 0;
    struct timespec deadline;
    trpc_client *c;
    trpc_sub *sub;
    int err;

    err = trpc_connect(&c, url, NULL);
    if (err) {
        fprintf(stderr, "durable: %s (%s)\n", trpc_strerror(err), trpc_last_error());
        return 1;
    }
    if (declare(c, "{\"name\": \"orders\", \"subjects\": [\"orders.>\"]}") != 0 ||
        declare(c, "{\"name\": \"orders-dead\", \"subjects\": [\"dead.orders\"]}") != 0) {
        trpc_close(c);
        return 1;
    }
    /* Created by its first member, the group reads what is published from then on (trpc-start:
     * new); later runs join it where it stands. */
    err = trpc_subscribe_durable(c, "orders.>", "billing", 16, policy, 4, on_order, &t, &sub);
    if (err == 0)
        err = trpc_flush(c, 2000);
    usleep(100000); /* the join reaches the stream's core */
    for (int i = 1; err == 0 && i <= count; i++) {
        char text[16], id[48];
        int len = snprintf(text, sizeof(text), "%d", i);
        trpc_header h = {"trpc-msg-id", id, 0};
        uint64_t seq = 0;

        h.value_len = (size_t)snprintf(id, sizeof(id), "order-%ld-%d", (long)getpid(), i);
        err = trpc_publish_sync(c, "orders.placed", &h, 1, text, (size_t)len, 5000, &seq);
        if (i == 1 && err == 0) {
            first_seq = seq;
            /* The same order again, as after a lost acknowledgement: stored once. */
            err = trpc_publish_sync(c, "orders.placed", &h, 1, text, (size_t)len, 5000, &again_seq);
        }
        if (i % 5 == 0)
            want_terminated++;
        else
            want_acked++;
    }
    if (err) {
        fprintf(stderr, "durable: %s (%s)\n", trpc_strerror(err), trpc_last_error());
        trpc_close(c);
        return 1;
    }
    printf("published %d orders; order 1 published twice: sequence %llu both times%s\n", count, (unsigned long long)first_seq,
           again_seq == first_seq ? "" : " (NOT: a duplicate was stored)");
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&t.lock);
    while ((t.acked < want_acked || t.terminated < want_terminated) && pthread_cond_timedwait(&t.cond, &t.lock, &deadline) == 0)
        ;
    done = t.acked == want_acked && t.terminated == want_terminated && again_seq == first_seq;
    printf("acknowledged %d, refused once %d, terminated %d (to dead.orders)\n", t.acked, t.refused, t.terminated);
    pthread_mutex_unlock(&t.lock);
    trpc_sub_destroy(sub);
    trpc_close(c);
    printf("%s\n", done ? "settled as planned" : "NOT settled as planned");
    return done ? 0 : 1;
}
