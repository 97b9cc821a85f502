/*
 * Redis killed under a running store: the store notices (its watch fd turns readable), goes down,
 * counts one outage, and refuses reads and writes at once with -ENOTCONN and a clear error, however
 * often it is asked and ticked. Redis restarted on the same port: store_tick reconnects after its
 * backoff, the watch fd reports "reread everything", and what another broker wrote meanwhile is
 * read back.
 */
#include <signal.h>

#include "tests/store/redis_proc.h"
#include "tests/store/storet.h"

/* Ticks s every 20 ms for up to ms or until it is up. */
static int tick_until_up(struct store *s, int ms, int *attempts)
{
    uint64_t end = storet_now_ms() + (uint64_t)ms;

    while (!store_up(s) && storet_now_ms() < end) {
        if (store_tick(s, storet_now_ms()) != 0)
            ++*attempts;
        usleep(20000);
    }
    return store_up(s);
}

int main(void)
{
    struct storet_changes ca = {0};
    char err[STORE_ERR_MAX];
    struct redis_proc rp;
    struct store *a, *b;
    void *val = NULL;
    size_t len;
    int ret, failed = 0, attempts = 0;

    redis_proc_require();
    if (redis_proc_start(&rp, NULL) != 0)
        BAIL_OUT("cannot start redis-server");
    a = storet_open_redis(rp.url, NULL, 1, NULL, err, sizeof(err));
    if (a == NULL)
        BAIL_OUT("open: %s", err);
    ok_eq(store_put(a, "settings", "keepalive", "30s", 3), 0, "a write while Redis is up");
    ok_eq(store_outages(a), 0, "no outage yet");

    redis_proc_kill(&rp);
    ok(!storet_wait_change(a, &ca, "never", 1000) && !store_up(a), "the watch fd reports the lost connection: down");
    ret = store_put(a, "settings", "keepalive", "10s", 3);
    ok_eq(ret, -ENOTCONN, "a write fails with -ENOTCONN");
    ok(strstr(store_last_error(a), "down") != NULL && strstr(store_last_error(a), "refused") != NULL, "with a clear error: %s",
       store_last_error(a));
    ok_eq(store_get(a, "settings", "keepalive", &val, &len), -ENOTCONN, "a read fails likewise");
    ok_eq(store_list(a, "settings", storet_collect, &(struct storet_seen){0}), -ENOTCONN, "and a list");
    for (int i = 0; i < 10; i++) {
        attempts += store_tick(a, storet_now_ms()) == -ENOTCONN;
        failed += store_put(a, "settings", "keepalive", "10s", 3) == -ENOTCONN;
        usleep(30000);
    }
    ok_eq(failed, 10, "every write fails while Redis stays away, ticks or not");
    ok(attempts >= 1 && attempts < 10, "store_tick tried to reconnect, not at every tick but after a backoff (%d of 10)", attempts);
    ok_eq(store_outages(a), 1, "one outage counted");

    if (redis_proc_restart(&rp) != 0)
        BAIL_OUT("cannot restart redis-server on port %u", rp.port);
    b = storet_open_redis(rp.url, NULL, 2, NULL, err, sizeof(err));
    if (b == NULL)
        BAIL_OUT("open: %s", err);
    ok_eq(store_put(b, "settings", "keepalive", "5s", 2), 0, "another broker writes while the first is still down");
    ret = 0;
    ok(tick_until_up(a, 10000, &ret), "store_tick reconnects (%d failed attempts on the way)", ret);
    ok(storet_wait_change(a, &ca, NULL, 1000), "the watch fd reports a reread event");
    ok_eq(ca.rereads, 1, "one");
    ok(storet_has(a, "settings", "keepalive", "5s"), "the reread finds the other broker's value");
    ok_eq(store_put(a, "settings", "log-level", "info", 4), 0, "writes succeed again");
    ok_eq(store_outages(a), 1, "still one outage");

    store_close(a);
    store_close(b);
    redis_proc_stop(&rp);
    return done_testing();
}
