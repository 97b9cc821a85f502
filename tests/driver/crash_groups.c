/*
 * The crash tier of durable delivery (issue 17): a publisher with PUBACK (trpc_publish_async) and
 * a consumer group member (trpc_subscribe_durable) that NACKs some messages once and some always
 * ("poison"), against a broker killed with SIGKILL at random moments and restarted, CRASH_CYCLES
 * times (default 20, 6 under ThreadSanitizer; perf/crash.sh runs 1,000). libtrpc reconnects and
 * resubscribes by itself.
 * At the end, once the group has settled everything:
 *
 *   - every publish the broker acknowledged was delivered to the consumer at least once (the good
 *     ones acknowledged, the poison ones dead-lettered);
 *   - the dead-letter stream holds every acknowledged poison message, and nothing else but poison
 *     messages whose publish was cut by a crash (stored without a PUBACK);
 *   - each dead letter carries its origin (topic, stream, sequence, group) and reason, with at
 *     least max_deliveries attempts.
 *
 * A dead letter may appear twice (a crash between storing it and retiring the original): at least
 * once. Prints the counts as a result line for perf/crash.sh.
 */
#include <signal.h>
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define MAX_IDS        (1u << 20) /* publishes of a run: about 400 per cycle */
#define MAX_DELIVERIES 8
#define POISON(id)     ((id) % 7 == 0)

static struct {
    pthread_mutex_t lock;
    uint32_t next_id;
    unsigned char acked[MAX_IDS];    /* publish acknowledged */
    unsigned char sent[MAX_IDS];     /* publish sent (acknowledged or not) */
    unsigned char consumed[MAX_IDS]; /* a good one acknowledged by the consumer */
    unsigned char nacked[MAX_IDS];   /* a good one refused once already */
    unsigned char dead[MAX_IDS];     /* found on the dead-letter stream */
    unsigned deliveries, redeliveries, dead_letters, dead_twice, dead_bad, dead_not_poison;
    unsigned pub_errors;
} st = {.lock = PTHREAD_MUTEX_INITIALIZER};

static unsigned seed;

static uint32_t id_of(trpc_msg *m)
{
    char buf[32];
    size_t n = trpc_msg_len(m) < sizeof(buf) - 1 ? trpc_msg_len(m) : sizeof(buf) - 1;

    memcpy(buf, trpc_msg_data(m), n);
    buf[n] = '\0';
    return (uint32_t)strtoul(buf, NULL, 10);
}

static void on_puback(trpc_client *c, int err, uint64_t seq, void *ud)
{
    uint32_t id = (uint32_t)(uintptr_t)ud;

    (void)c;
    pthread_mutex_lock(&st.lock);
    if (err == 0 && seq != 0)
        st.acked[id] = 1;
    else
        st.pub_errors++;
    pthread_mutex_unlock(&st.lock);
}

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    uint32_t id = id_of(m);
    bool nack;

    (void)c;
    (void)sub;
    (void)ud;
    pthread_mutex_lock(&st.lock);
    st.deliveries++;
    st.redeliveries += trpc_msg_delivery(m) > 1;
    nack = id < MAX_IDS && (POISON(id) || (!st.nacked[id] && rand_r(&seed) % 5 == 0));
    if (id < MAX_IDS && !POISON(id)) {
        if (nack)
            st.nacked[id] = 1;
        else
            st.consumed[id] = 1;
    }
    pthread_mutex_unlock(&st.lock);
    if (nack)
        trpc_nack(m, 0);
    else
        trpc_ack(m);
    trpc_msg_free(m);
}

static const char *header(trpc_msg *m, const char *key, char *buf, size_t len)
{
    size_t n = 0;
    const char *v = trpc_msg_header(m, key, &n);

    snprintf(buf, len, "%.*s", v != NULL ? (int)n : 0, v != NULL ? v : "");
    return buf;
}

/* The dead letters, read by a consumer group of the dead-letter stream. */
static void on_dead(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    uint32_t id = id_of(m);
    char topic[64], stream[32], group[32], reason[32], count[16], seq[24];
    bool good;

    (void)c;
    (void)sub;
    (void)ud;
    header(m, "trpc-dlq-topic", topic, sizeof(topic));
    header(m, "trpc-dlq-stream", stream, sizeof(stream));
    header(m, "trpc-dlq-group", group, sizeof(group));
    header(m, "trpc-dlq-reason", reason, sizeof(reason));
    header(m, "trpc-dlq-deliveries", count, sizeof(count));
    header(m, "trpc-dlq-seq", seq, sizeof(seq));
    good = strcmp(topic, "orders.crash") == 0 && strcmp(stream, "orders") == 0 && strcmp(group, "billing") == 0 &&
           (strcmp(reason, "nack") == 0 || strcmp(reason, "timeout") == 0 || strcmp(reason, "member left") == 0) &&
           atoi(count) >= MAX_DELIVERIES && strtoull(seq, NULL, 10) >= 1 && strcmp(trpc_msg_topic(m), "dlq.orders") == 0;
    pthread_mutex_lock(&st.lock);
    st.dead_letters++;
    if (!good)
        st.dead_bad++;
    if (id >= MAX_IDS || !POISON(id))
        st.dead_not_poison++;
    else if (st.dead[id]++)
        st.dead_twice++;
    pthread_mutex_unlock(&st.lock);
    trpc_ack(m);
    trpc_msg_free(m);
}

static void publish_for(trpc_client *c, int ms)
{
    struct timespec end, now;

    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_nsec += (long)ms * 1000000;
    end.tv_sec += end.tv_nsec / 1000000000;
    end.tv_nsec %= 1000000000;
    do {
        char payload[16];
        uint32_t id;

        pthread_mutex_lock(&st.lock);
        id = st.next_id < MAX_IDS - 1 ? ++st.next_id : 0;
        pthread_mutex_unlock(&st.lock);
        if (id == 0)
            return;
        snprintf(payload, sizeof(payload), "%u", id);
        if (trpc_publish_async(c, "orders.crash", NULL, 0, payload, strlen(payload), 3000, on_puback, (void *)(uintptr_t)id) == 0) {
            pthread_mutex_lock(&st.lock);
            st.sent[id] = 1;
            pthread_mutex_unlock(&st.lock);
        }
        usleep(200);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec < end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec < end.tv_nsec));
}

/* Whether group `name` of `stream` has read and settled everything. */
static bool settled(trpc_client *c, const char *stream, const char *name)
{
    char doc[128];
    json_t *j, *g;
    size_t i;
    bool done = false;

    snprintf(doc, sizeof(doc), "{\"stream\": \"%s\"}", stream);
    j = adminc_call(c, "group.list", doc);
    json_array_foreach(json_object_get(j, "groups"), i, g)
    {
        if (strcmp(json_string_value(json_object_get(g, "name")), name) == 0)
            done = json_integer_value(json_object_get(g, "pending")) == 0 && json_integer_value(json_object_get(g, "lag")) == 0;
    }
    json_decref(j);
    return done;
}

int main(void)
{
    static const trpc_header policy[] = {{"trpc-max-deliveries", "8", 1},
                                         {"trpc-backoff", "5,2,40", 6},
                                         {"trpc-dlq", "dlq.orders", 10},
                                         {"trpc-ack-wait", "1000", 4}};
    const char *env = getenv("CRASH_CYCLES");
#ifdef __SANITIZE_THREAD__
    int cycles = env != NULL && atoi(env) > 0 ? atoi(env) : 6; /* ThreadSanitizer: 10 times slower */
#else
    int cycles = env != NULL && atoi(env) > 0 ? atoi(env) : 20;
#endif
    unsigned missing = 0, acked_total = 0, poison_acked = 0, dead_missing = 0, extra_dead = 0;
    struct broker_proc b;
    trpc_options *o = NULL;
    trpc_client *pub, *con, *adm;
    trpc_sub *sub, *dsub;
    json_t *j;
    int waited;

    seed = (unsigned)time(NULL);
    diag("seed %u, %d cycles", seed, cycles);
    srand(seed);
    plan(8);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    if (trpc_options_create(&o) != 0 || trpc_options_set_reconnect(o, -1, 20, 200) != 0)
        BAIL_OUT("options");
    adm = connect_or_bail(&b, o);
    pub = connect_or_bail(&b, o);
    con = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    j = adminc_call(adm, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"orders.>\"]}");
    ok(adminc_ok(j), "stream orders");
    json_decref(j);
    j = adminc_call(adm, "stream.add", "{\"name\": \"dead\", \"subjects\": [\"dlq.>\"]}");
    ok(adminc_ok(j), "stream dead");
    json_decref(j);
    if (trpc_subscribe_durable(con, "orders.>", "billing", 64, policy, 4, on_msg, NULL, &sub) != 0 ||
        trpc_subscribe_durable(con, "dlq.>", "checker", 64, NULL, 0, on_dead, NULL, &dsub) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    trpc_flush(con, 5000);
    usleep(100000);

    for (int i = 0; i < cycles; i++) {
        publish_for(pub, 50 + rand() % 250);
        broker_proc_kill(&b);
        if (broker_proc_restart(&b) != 0)
            BAIL_OUT("restart %d", i);
        /* Both clients back (libtrpc reconnects on its own) before the next round. */
        for (int w = 0;
             w < 500 && (trpc_client_state(pub) != TRPC_STATE_CONNECTED || trpc_client_state(con) != TRPC_STATE_CONNECTED); w++)
            usleep(10000);
    }
    publish_for(pub, 200);
    trpc_flush(pub, 10000);
    /* Everything settles: the group has read and retired all it stored, dead letters included. */
    for (waited = 0; waited < 60000; waited += 200) {
        if (settled(adm, "orders", "billing") && settled(adm, "dead", "checker"))
            break;
        usleep(200000);
    }
    ok(waited < 60000, "the groups settled everything within a minute (%d ms)", waited);
    usleep(300000); /* the last publish callbacks */

    pthread_mutex_lock(&st.lock);
    for (uint32_t id = 1; id <= st.next_id; id++) {
        if (st.acked[id]) {
            acked_total++;
            if (POISON(id)) {
                poison_acked++;
                dead_missing += !st.dead[id];
            } else {
                missing += !st.consumed[id];
            }
        }
        if (st.dead[id] && !st.acked[id] && !st.sent[id])
            extra_dead++;
    }
    ok(acked_total > 0 && missing == 0, "every acknowledged good publish was consumed (%u acknowledged, %u missing)", acked_total,
       missing);
    ok(dead_missing == 0, "every acknowledged poison publish is on the dead-letter stream (%u, %u missing)", poison_acked,
       dead_missing);
    ok(st.dead_not_poison == 0 && extra_dead == 0, "nothing else is there (%u not poison, %u never sent)", st.dead_not_poison,
       extra_dead);
    ok(st.dead_bad == 0, "every dead letter says where it came from and why (%u wrong)", st.dead_bad);
    ok(st.redeliveries > 0, "redeliveries happened (%u of %u deliveries)", st.redeliveries, st.deliveries);
    printf("result workload=crash cycles=%d published=%u acknowledged=%u deliveries=%u redeliveries=%u dead_letters=%u "
           "dead_twice=%u publish_errors=%u missing=%u dead_missing=%u\n",
           cycles, st.next_id, acked_total, st.deliveries, st.redeliveries, st.dead_letters, st.dead_twice, st.pub_errors, missing,
           dead_missing);
    pthread_mutex_unlock(&st.lock);
    trpc_close(con);
    trpc_close(pub);
    trpc_close(adm);
    broker_proc_stop(&b);
    return done_testing();
}
