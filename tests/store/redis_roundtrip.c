/*
 * The Redis store against a real redis-server: records round trip (binary values included),
 * batches, deletes and lists; two prefixes on one server never see each other's records, another
 * database neither; and every key the store made in Redis starts with its prefix.
 */
#include <hiredis.h>

#include "tests/store/redis_proc.h"
#include "tests/store/storet.h"

static void records(struct store *s)
{
    const uint8_t bin[] = {0, 1, 2, 0xff, 0, 'x'};
    const char *keys[] = {"max-connections", "keepalive", "log level"};
    const void *vals[] = {"100", "30s", "debug"};
    const size_t lens[] = {3, 3, 5};
    struct storet_seen seen = {0};
    void *val = NULL;
    size_t len = 0;

    ok_eq(store_get(s, "settings", "nothing", &val, &len), -ENOENT, "an absent record is -ENOENT");
    ok_eq(store_put(s, "settings", "bin", bin, sizeof(bin)), 0, "put a binary value");
    ok(store_get(s, "settings", "bin", &val, &len) == 0 && len == sizeof(bin) && memcmp(val, bin, len) == 0,
       "it comes back byte for byte");
    free(val);
    ok_eq(store_put_batch(s, "settings", 3, keys, vals, lens), 0, "a batch of three, a key with a space");
    ok(storet_has(s, "settings", "log level", "debug") && storet_has(s, "settings", "keepalive", "30s"), "all there");
    ok_eq(store_put(s, "settings", "empty", "", 0), 0, "an empty value");
    ok(storet_has(s, "settings", "empty", ""), "comes back empty");
    ok_eq(store_del(s, "settings", "bin"), 0, "del");
    ok_eq(store_del(s, "settings", "bin"), -ENOENT, "del again is -ENOENT");
    ok_eq(store_list(s, "settings", storet_collect, &seen), 0, "list");
    ok_eq(seen.n, 4, "four records listed: %s", seen.text);
    ok_eq(store_put(s, "settings", "big", "", STORE_VALUE_MAX + 1), -EMSGSIZE, "a value above the limit is -EMSGSIZE");
}

/* Every key of the server's database db starts with one of the prefixes. */
static int keys_outside(redisContext *c, unsigned db, const char *p1, const char *p2)
{
    redisReply *sel = redisCommand(c, "SELECT %u", db), *rep;
    int outside = 0;

    freeReplyObject(sel);
    rep = redisCommand(c, "KEYS *");
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i < rep->elements; i++)
        if (strncmp(rep->element[i]->str, p1, strlen(p1)) != 0 && strncmp(rep->element[i]->str, p2, strlen(p2)) != 0)
            outside++;
    freeReplyObject(rep);
    return outside;
}

int main(void)
{
    struct redis_proc rp;
    char err[STORE_ERR_MAX], url[80];
    struct storet_seen seen = {0};
    struct store *a, *b, *d1;
    redisContext *c;
    redisReply *rep;

    redis_proc_require();
    if (redis_proc_start(&rp, NULL) != 0)
        BAIL_OUT("cannot start redis-server");
    a = storet_open_redis(rp.url, "t1:", 1, NULL, err, sizeof(err));
    b = storet_open_redis(rp.url, "t2:", 2, NULL, err, sizeof(err));
    snprintf(url, sizeof(url), "%s/1", rp.url);
    d1 = storet_open_redis(url, "t1:", 3, NULL, err, sizeof(err));
    if (a == NULL || b == NULL || d1 == NULL)
        BAIL_OUT("open: %s", err);
    ok(strcmp(store_backend_name(a), "redis") == 0 && store_up(a), "the backend is redis, and up");
    ok(strstr(store_location(d1), "/1") != NULL && strstr(store_location(a), rp.url + 8) != NULL,
       "the location names host, port and database: %s", store_location(d1));
    ok(store_watch_fd(a) >= 0, "it has a watch fd");
    records(a);
    ok_eq(store_list(b, "settings", storet_collect, &seen), 0, "list under another prefix");
    ok_eq(seen.n, 0, "sees none of the first prefix's records");
    ok_eq(store_list(d1, "settings", storet_collect, &seen), 0, "list in database 1, same prefix");
    ok_eq(seen.n, 0, "sees none of database 0's records");
    ok_eq(store_put(b, "settings", "keepalive", "5s", 2), 0, "the other prefix writes the same key");
    ok(storet_has(a, "settings", "keepalive", "30s") && storet_has(b, "settings", "keepalive", "5s"), "each keeps its own");

    c = redisConnect("127.0.0.1", rp.port);
    if (c == NULL || c->err)
        BAIL_OUT("redisConnect");
    rep = redisCommand(c, "HGET t1:settings keepalive");
    ok(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "30s") == 0, "a namespace is the hash <prefix><ns>");
    freeReplyObject(rep);
    ok_eq(keys_outside(c, 0, "t1:", "t2:"), 0, "no key of database 0 outside the prefixes");
    ok_eq(keys_outside(c, 1, "t1:", "t1:"), 0, "nor of database 1");
    redisFree(c);

    store_close(a);
    store_close(b);
    store_close(d1);
    redis_proc_stop(&rp);
    return done_testing();
}
