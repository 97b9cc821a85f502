/*
 * Two brokers on one Redis: a record put, batched or deleted by one is reported by the other's
 * store_poll_changes within 1 s of the write, through its watch fd; a store never reports its own
 * writes, nor the writes of a store under another prefix.
 */
#include "tests/store/redis_proc.h"
#include "tests/store/storet.h"

int main(void)
{
    struct storet_changes ca = {0}, cb = {0};
    const char *keys[] = {"k1", "k2", "k3"};
    const void *vals[] = {"1", "2", "3"};
    const size_t lens[] = {1, 1, 1};
    char err[STORE_ERR_MAX];
    struct store *a, *b, *other;
    struct redis_proc rp;
    uint64_t t0;

    redis_proc_require();
    if (redis_proc_start(&rp, NULL) != 0)
        BAIL_OUT("cannot start redis-server");
    a = storet_open_redis(rp.url, NULL, 101, NULL, err, sizeof(err));
    b = storet_open_redis(rp.url, NULL, 102, NULL, err, sizeof(err));
    other = storet_open_redis(rp.url, "elsewhere:", 103, NULL, err, sizeof(err));
    if (a == NULL || b == NULL || other == NULL)
        BAIL_OUT("open: %s", err);

    t0 = storet_now_ms();
    ok_eq(store_put(a, "settings", "log-level", "debug", 5), 0, "broker A puts settings/log-level");
    ok(storet_wait_change(b, &cb, "settings/log-level;", 1000), "broker B is told within 1 s (%llu ms): %s",
       (unsigned long long)(storet_now_ms() - t0), cb.text);
    ok(storet_has(b, "settings", "log-level", "debug"), "and reads the new value");

    ok_eq(store_put(other, "settings", "marker", "x", 1), 0, "a store under another prefix writes");
    ok_eq(store_put_batch(a, "settings", 3, keys, vals, lens), 0, "A writes a batch of three");
    ok(storet_wait_change(b, &cb, "settings/k3;", 1000), "B is told of the batch within 1 s");
    ok(strstr(cb.text, "settings/k1;settings/k2;settings/k3;") != NULL, "of every key, in order: %s", cb.text);
    ok(strstr(cb.text, "marker") == NULL, "and of nothing under the other prefix");

    ok_eq(store_del(a, "settings", "k2"), 0, "A deletes k2");
    cb.text[0] = '\0';
    ok(storet_wait_change(b, &cb, "settings/k2;", 1000), "B is told of the delete within 1 s");

    ok_eq(store_put(b, "users", "bob", "{}", 2), 0, "B writes users/bob");
    ok(storet_wait_change(a, &ca, "users/bob;", 1000), "A is told within 1 s");
    ok(strstr(ca.text, "settings/") == NULL, "A was never told of its own writes: %s", ca.text);
    ok_eq(ca.rereads + cb.rereads, 0, "no reread events while Redis stayed up");

    store_close(a);
    store_close(b);
    store_close(other);
    redis_proc_stop(&rp);
    return done_testing();
}
