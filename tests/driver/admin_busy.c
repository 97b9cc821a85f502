/* The admin API while clients run traffic on both cores: four publishers and four subscribers
 * (the broker places connections on its two cores) publish without pause while an admin client
 * lists clients and subscriptions and kicks the publishers one by one. Every list answers, lists
 * every client still there, and each kick removes exactly its client, whose traffic stops; the
 * others keep flowing, and the broker exits cleanly. */
#include <jansson.h>
#include <pthread.h>

#include "tests/driver/helpers.h"

#define PAIRS  4
#define ROUNDS 20

struct pub {
    trpc_client *c;
    pthread_t thread;
    int stop;
};

/* Every publisher's messages, and what the subscribers got of them (each gets every one). */
static long published, got;

/* Deliveries the subscribers may lag behind by: far below what would get them cut as slow
 * consumers, whatever the machine's speed (a sanitizer build on a loaded machine is slow). */
#define LAG_MAX 20000

static void *pub_main(void *arg)
{
    struct pub *p = arg;

    while (!__atomic_load_n(&p->stop, __ATOMIC_SEQ_CST)) {
        /* After its kick the client is gone for good (no reconnect): publishes fail, fine. Paced
         * by the subscribers' progress, so that they are never cut as slow consumers: this test
         * is about the admin API. What a kick loses (at most a batch) never catches up, hence the
         * bounded wait. */
        for (int i = 0; i < 100; i++)
            if (trpc_publish(p->c, "busy.x", "0123456789abcdef", 16) == 0)
                __atomic_add_fetch(&published, 1, __ATOMIC_SEQ_CST);
        trpc_flush(p->c, 1000);
        usleep(1000);
        for (int w = 0; w < 1000 && !__atomic_load_n(&p->stop, __ATOMIC_SEQ_CST) &&
                        __atomic_load_n(&published, __ATOMIC_SEQ_CST) * PAIRS - __atomic_load_n(&got, __ATOMIC_SEQ_CST) > LAG_MAX;
             w++)
            usleep(1000);
    }
    return NULL;
}

static void count_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    __atomic_add_fetch((long *)ud, 1, __ATOMIC_SEQ_CST);
    trpc_msg_free(m);
}

/* BUSY says a core took longer than the broker's 2 s to answer, "try again": a slow core under
 * this load (a sanitizer build on a shared machine spends seconds on one loop turn) is that, not a
 * wrong answer, so the call is made again, a bounded number of times. */
#define BUSY_TRIES 5

static json_t *call(trpc_client *admin, const char *verb, const char *doc)
{
    char topic[64];
    json_t *j = NULL;

    snprintf(topic, sizeof(topic), "$trpc.admin.%s", verb);
    for (int t = 0; t < BUSY_TRIES; t++) {
        trpc_msg *reply = NULL;
        int rc = trpc_request(admin, topic, doc, strlen(doc), 10000, &reply);
        bool busy;

        json_decref(j);
        if (rc != 0) {
            diag("%s: %s", verb, trpc_strerror(rc));
            return NULL;
        }
        j = json_loadb(trpc_msg_data(reply), trpc_msg_len(reply), 0, NULL);
        busy = j != NULL && json_is_string(json_object_get(json_object_get(j, "error"), "code")) &&
               strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "BUSY") == 0;
        if (j == NULL || !json_is_true(json_object_get(j, "ok")))
            diag("%s: %.*s", verb, (int)trpc_msg_len(reply), (const char *)trpc_msg_data(reply));
        trpc_msg_free(reply);
        if (!busy)
            break;
    }
    return j;
}

static bool listed(json_t *j, uint64_t id)
{
    json_t *it;
    size_t i;

    json_array_foreach(json_object_get(j, "clients"), i, it)
    {
        if ((uint64_t)json_integer_value(json_object_get(it, "id")) == id)
            return true;
    }
    return false;
}

int main(void)
{
    const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    struct pub pubs[PAIRS];
    trpc_client *subs[PAIRS], *admin;
    long before;
    int lists_ok = 0, all_listed = 0, cores = 0;

    broker_up(&b, args);
    admin = connect_or_bail(&b, NULL);
    for (int i = 0; i < PAIRS; i++) {
        trpc_options *o;
        trpc_sub *s;

        trpc_options_create(&o);
        trpc_options_set_reconnect(o, 0, 50, 50);
        pubs[i] = (struct pub){.c = connect_or_bail(&b, o)};
        trpc_options_destroy(o);
        subs[i] = connect_or_bail(&b, NULL);
        ok_eq(trpc_subscribe(subs[i], "busy.>", count_cb, &got, &s), 0, "subscriber %d", i);
        ok_eq(trpc_flush(subs[i], 5000), 0, "flush");
    }
    for (int i = 0; i < PAIRS; i++)
        pthread_create(&pubs[i].thread, NULL, pub_main, &pubs[i]);

    for (int r = 0; r < ROUNDS; r++) {
        json_t *cl = call(admin, "clients.list", "{}"), *sl = call(admin, "subs.list", "{}");
        bool every = true;

        if (cl != NULL && json_is_true(json_object_get(cl, "ok")) && sl != NULL && json_is_true(json_object_get(sl, "ok")))
            lists_ok++;
        for (int i = 0; i < PAIRS; i++) {
            every = every && listed(cl, trpc_client_id(subs[i]));
            if (r < ROUNDS / 2 || i >= (r - ROUNDS / 2 + 1) / 2) /* publisher i goes in round ROUNDS / 2 + 2i */
                every = every && listed(cl, trpc_client_id(pubs[i].c));
        }
        if (!every)
            diag("round %d: %lld clients listed", r, (long long)json_integer_value(json_object_get(cl, "total")));
        all_listed += every;
        if (r == 0) {
            json_t *it;
            size_t k;

            json_array_foreach(json_object_get(cl, "clients"), k, it) cores |= 1 << json_integer_value(json_object_get(it, "core"));
        }
        json_decref(cl);
        json_decref(sl);
        /* The second half kicks a publisher every other round, and checks it is gone. */
        if (r >= ROUNDS / 2 && (r - ROUNDS / 2) % 2 == 0 && (r - ROUNDS / 2) / 2 < PAIRS) {
            int i = (r - ROUNDS / 2) / 2;
            char doc[64];
            json_t *k, *after;

            snprintf(doc, sizeof(doc), "{\"id\": %llu}", (unsigned long long)trpc_client_id(pubs[i].c));
            k = call(admin, "clients.kick", doc);
            ok(k != NULL && json_is_true(json_object_get(k, "ok")), "publisher %d kicked mid-traffic", i);
            json_decref(k);
            after = call(admin, "clients.list", "{}");
            ok(after != NULL && !listed(after, trpc_client_id(pubs[i].c)), "  and no longer listed");
            json_decref(after);
        }
    }
    ok_eq(lists_ok, ROUNDS, "every list answered (%d of %d)", lists_ok, ROUNDS);
    ok_eq(all_listed, ROUNDS, "every round listed every client still connected");
    diag("clients on cores mask %d", cores);
    for (int i = 0; i < PAIRS; i++) {
        __atomic_store_n(&pubs[i].stop, 1, __ATOMIC_SEQ_CST);
        pthread_join(pubs[i].thread, NULL);
    }
    before = __atomic_load_n(&got, __ATOMIC_SEQ_CST);
    ok(before > 0, "traffic flowed while the admin API worked (%ld deliveries)", before);
    for (int i = 0; i < PAIRS; i++) {
        trpc_close(pubs[i].c);
        trpc_close(subs[i]);
    }
    trpc_close(admin);
    ok_eq(broker_proc_stop(&b), 0, "broker exits cleanly");
    return done_testing();
}
