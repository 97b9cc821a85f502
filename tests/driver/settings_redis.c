/* Live settings in a Redis store shared by two brokers (issue 16), against a real redis-server on a
 * free loopback port: every live setting makes the round trip and reaches the other broker within
 * a second; Redis killed mid-run (the brokers keep routing, a change is refused with a clear
 * error), restarted empty and changed meanwhile (the brokers reread it and apply it); Redis absent
 * at start (exit 1, one line); the password from the config file or the environment, never the
 * command line. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <hiredis/hiredis.h>

#include "src/store.h"
#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"
#include "tests/store/redis_proc.h"

#define SEEN_MS 1000 /* issue 16: a second broker applies a change within one second */

static const struct {
    const char *name, *value;
} changes[] = {
    {"log-level", "warn"}, {"max-connections", "5000"}, {"max-subscriptions", "500"},   {"max-output-bytes", "32m"},
    {"keepalive", "12s"},  {"request-timeout", "3s"},   {"max-request-timeout", "90s"}, {"max-pending-requests-per-client", "100"},
};
#define NCHANGES (sizeof(changes) / sizeof(changes[0]))

static char tmp_root[256];

static void rm_root(void)
{
    broker_proc_rm_tree(tmp_root);
}

/* A fresh directory under the test's own. */
static const char *subdir(const char *name)
{
    static char paths[8][512];
    static int n;
    char *p = paths[n++ % 8];

    snprintf(p, sizeof(paths[0]), "%s/%s", tmp_root, name);
    return p;
}

/* Milliseconds until c has setting name = want (polled every 10 ms), or -1 after limit_ms. */
static long seen_within(trpc_client *c, const char *name, const char *want, long limit_ms)
{
    struct timespec t0, t1;
    char got[128];

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long ms;

        adminc_get(c, name, got, sizeof(got));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (strcmp(got, want) == 0)
            return ms;
        if (ms > limit_ms)
            return -1;
        usleep(10000);
    }
}

static bool set_one(trpc_client *c, const char *name, const char *value, const char **code)
{
    char doc[256];
    json_t *j;
    bool good;

    snprintf(doc, sizeof(doc), "{\"name\": \"%s\", \"value\": \"%s\"}", name, value);
    j = adminc_call(c, "settings.set", doc);
    good = adminc_ok(j);
    if (code != NULL) {
        static char last[64];
        const char *msg = NULL;

        snprintf(last, sizeof(last), "%s", adminc_err_code(j));
        json_unpack(json_object_get(j, "error"), "{s:s}", "message", &msg);
        if (msg != NULL)
            diag("%s: %s", last, msg);
        *code = last;
    }
    json_decref(j);
    return good;
}

/* server.info's store member: whether it is up, and its outages. */
static bool store_state(trpc_client *c, int *up, long long *outages)
{
    json_t *j = adminc_call(c, "server.info", "{}");
    int u = 0;
    json_int_t o = 0;
    bool good = json_unpack(j, "{s:{s:b, s:I}}", "store", "up", &u, "outages", &o) == 0;

    *up = u;
    *outages = (long long)o;
    json_decref(j);
    return good;
}

static bool store_down(void *arg)
{
    int up;
    long long outages;

    return store_state(arg, &up, &outages) && !up;
}

static bool store_back(void *arg)
{
    int up;
    long long outages;

    return store_state(arg, &up, &outages) && up;
}

static void every_live_setting_listed(trpc_client *c)
{
    json_t *j = adminc_call(c, "settings.get", "{}"), *it;
    size_t i, live = 0, covered = 0;

    json_array_foreach(json_object_get(j, "settings"), i, it)
    {
        if (!json_is_true(json_object_get(it, "live")))
            continue;
        live++;
        for (size_t k = 0; k < NCHANGES; k++)
            covered += strcmp(changes[k].name, json_string_value(json_object_get(it, "name"))) == 0;
    }
    ok(live > 0 && covered == live, "the test changes every live setting (%zu of %zu)", covered, live);
    json_decref(j);
}

/* A message published on broker b's client reaches its subscriber: routing goes on. */
static bool routes(trpc_client *c)
{
    struct inbox in = INBOX_INIT;
    trpc_sub *s = NULL;
    bool good;

    if (trpc_subscribe(c, "still.routing", inbox_cb, &in, &s) != 0 || trpc_flush(c, 5000) != 0)
        return false;
    good = trpc_publish(c, "still.routing", "x", 1) == 0 && inbox_wait(&in, 1, 5000) >= 1;
    trpc_unsubscribe(s);
    return good;
}

/* Writes a setting straight into Redis as another broker (origin 1) would, with its change notice.
 * A broker still away finds it in the reread of its return, one already back by the notice (the
 * two cannot be told apart from here: a broker may reconnect while redis_proc_restart waits for
 * the server to answer); the reread itself shows in what the restarted Redis lost. */
static int put_direct(const struct redis_proc *r, const char *name, const char *value)
{
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, (struct timeval){.tv_sec = 5});
    redisReply *rep;
    char note[128];
    int ret = -EIO;

    if (c == NULL || c->err) {
        diag("redis: %s", c != NULL ? c->errstr : "out of memory");
        redisFree(c);
        return -ENOTCONN;
    }
    rep = redisCommand(c, "HSET trpc:settings %s %s", name, value);
    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
        ret = 0;
    freeReplyObject(rep);
    snprintf(note, sizeof(note), "1 settings %s", name);
    rep = redisCommand(c, "PUBLISH trpc:changes %s", note);
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER)
        ret = -EIO;
    freeReplyObject(rep);
    redisFree(c);
    return ret;
}

static void absent_at_start(void)
{
    char url[64], out[4096], err[8192];
    struct timespec t0, t1;
    unsigned errors = 0;
    long ms;
    int st;

    snprintf(url, sizeof(url), "redis://127.0.0.1:%u", redis_proc_free_port());
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Brokers run here without broker_proc_start get as far as starting: each has a data directory
     * of its own and an HTTP port the kernel picks, never the default 8250. */
    st = broker_proc_run(
        (const char *[]){"--data-dir", subdir("absent"), "--http", "127.0.0.1:0", "--store", url, "--store-timeout", "600ms", NULL},
        out, sizeof(out), err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    for (const char *p = err; (p = strstr(p, " ERROR ")) != NULL; p++)
        errors++;
    ok(st == 1, "Redis absent at start: exit 1 (got %d)", st);
    ok(errors == 1 && strstr(err, url) != NULL && strstr(err, "Connection refused") != NULL,
       "one error line naming the store and the error");
    ok(ms >= 600, "after waiting store-timeout (%ld ms)", ms);
    if (errors != 1)
        diag("stderr: %s", err);
}

/* A broker waiting for its store still stops on SIGTERM, long before store-timeout. */
static void stop_while_waiting(void)
{
    char bin[1024], url[64];
    struct timespec t0, t1;
    int st = -1, fd;
    long ms = -1;
    pid_t pid;

    broker_proc_path(bin, sizeof(bin));
    snprintf(url, sizeof(url), "redis://127.0.0.1:%u", redis_proc_free_port());
    pid = fork();
    if (pid == 0) {
        fd = open("/dev/null", O_WRONLY);
        dup2(fd, STDERR_FILENO);
        alarm(60);
        execl(broker_proc_path(bin, sizeof(bin)), "trpc-broker", "--data-dir", subdir("waiting"), "--http", "127.0.0.1:0",
              "--store", url, "--store-timeout", "60s", (char *)NULL);
        _exit(127);
    }
    usleep(500000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(pid, SIGTERM);
    if (waitpid(pid, &st, 0) == pid) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    }
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 1 && ms >= 0 && ms < 30000,
       "SIGTERM while waiting for the store: exit 1 at once, not after store-timeout (%ld ms)", ms);
}

static void passwords(void)
{
    struct redis_proc r;
    struct broker_proc b;
    char conf[512], out[4096], err[8192];
    const char *code = NULL;
    trpc_client *c;
    FILE *f;
    int st;

    if (redis_proc_start(&r, "s3cret pass") != 0)
        BAIL_OUT("cannot start a redis-server with a password");
    snprintf(conf, sizeof(conf), "%s/trpc.conf", tmp_root);
    f = fopen(conf, "w");
    if (f == NULL)
        BAIL_OUT("%s: %s", conf, strerror(errno));
    fprintf(f, "store = %s\nstore-password = s3cret pass\n", r.url);
    fclose(f);
    broker_up(&b, (const char *[]){"--config", conf, "--data-dir", subdir("pw1"), NULL});
    c = connect_or_bail(&b, NULL);
    ok(set_one(c, "keepalive", "11s", &code), "the password from the config file opens the store");
    {
        char v[64];

        ok(strcmp(adminc_get(c, "store-password", v, sizeof(v)), "(set)") == 0, "settings.get says it is set (%s), not what", v);
    }
    ok(broker_proc_log_count(&b, "s3cret") == 0, "the broker's log never shows it");
    trpc_close(c);
    broker_proc_stop(&b);

    setenv(STORE_PASSWORD_ENV, "s3cret pass", 1);
    broker_up(&b, (const char *[]){"--store", r.url, "--data-dir", subdir("pw2"), NULL});
    c = connect_or_bail(&b, NULL);
    ok(seen_within(c, "keepalive", "11s", 0) >= 0, "the password from $" STORE_PASSWORD_ENV " opens it too");
    trpc_close(c);
    broker_proc_stop(&b);

    setenv(STORE_PASSWORD_ENV, "wrong", 1);
    st = broker_proc_run((const char *[]){"--store", r.url, "--data-dir", subdir("pw3"), "--http", "127.0.0.1:0", NULL}, out,
                         sizeof(out), err, sizeof(err));
    ok(st == 1 && strstr(err, r.url) != NULL, "a wrong password: exit 1 naming the store (got %d)", st);
    unsetenv(STORE_PASSWORD_ENV);
    st = broker_proc_run((const char *[]){"--store", r.url, "--store-password", "s3cret pass", NULL}, out, sizeof(out), err,
                         sizeof(err));
    ok(st == 2 && strstr(err, "command line") != NULL, "--store-password on the command line is refused (got %d)", st);
    redis_proc_stop(&r);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    struct redis_proc r;
    struct broker_proc a, b;
    trpc_client *ca, *cb;
    const char *code = NULL;
    long ms;
    int up;
    long long outages;

    redis_proc_require();
    snprintf(tmp_root, sizeof(tmp_root), "%s/trpc-sredis-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(tmp_root) == NULL)
        BAIL_OUT("mkdtemp: %s", strerror(errno));
    atexit(rm_root);
    plan(3 * (int)NCHANGES + 23);
    if (redis_proc_start(&r, NULL) != 0)
        BAIL_OUT("cannot start redis-server");
    broker_up(&a, (const char *[]){"--cores", "2", "--data-dir", subdir("a"), "--store", r.url, NULL});
    broker_up(&b, (const char *[]){"--cores", "2", "--data-dir", subdir("b"), "--store", r.url, NULL});
    ca = connect_or_bail(&a, NULL);
    cb = connect_or_bail(&b, NULL);

    every_live_setting_listed(ca);
    for (size_t i = 0; i < NCHANGES; i++) {
        char got[128];

        ok(set_one(ca, changes[i].name, changes[i].value, &code), "A: %s set to %s", changes[i].name, changes[i].value);
        ok(strcmp(adminc_get(ca, changes[i].name, got, sizeof(got)), changes[i].value) == 0, "A: reads %s back", changes[i].name);
        ms = seen_within(cb, changes[i].name, changes[i].value, SEEN_MS);
        ok(ms >= 0, "B: applies it within %d ms (%ld ms)", SEEN_MS, ms);
    }
    ms = set_one(cb, "keepalive", "13s", &code) ? seen_within(ca, "keepalive", "13s", SEEN_MS) : -1;
    ok(ms >= 0, "and A sees B's change within %d ms (%ld ms)", SEEN_MS, ms);

    /* Redis killed: routing goes on, changes are refused. */
    redis_proc_kill(&r);
    ok(routes(ca), "Redis down: A still routes");
    ok(!set_one(ca, "keepalive", "14s", &code) && strcmp(code, "STORE_UNAVAILABLE") == 0,
       "A refuses a change: STORE_UNAVAILABLE (got '%s')", code);
    outages = 0;
    if (wait_for(store_down, ca, 10000))
        store_state(ca, &up, &outages);
    ok(outages >= 1, "server.info: store down, outages %lld", outages);
    ok(seen_within(ca, "keepalive", "13s", 0) >= 0, "A keeps the settings last read");
    ok(wait_for(store_down, cb, 10000), "B sees the outage too");

    /* Back empty; another broker writes a change before these two reconnect. */
    if (redis_proc_restart(&r) != 0)
        BAIL_OUT("cannot restart redis-server");
    ok(put_direct(&r, "keepalive", "9s") == 0, "a change made while they were away");
    ok(wait_for(store_back, ca, 15000) && wait_for(store_back, cb, 15000), "both reconnect");
    ok(seen_within(ca, "keepalive", "9s", 5000) >= 0 && seen_within(cb, "keepalive", "9s", 5000) >= 0, "both apply it");
    ok(seen_within(ca, "log-level", "info", 5000) >= 0 && seen_within(cb, "max-connections", "100000", 5000) >= 0,
       "settings the restarted Redis lost are back to their configured values");
    ok(set_one(ca, "max-subscriptions", "700", &code) && seen_within(cb, "max-subscriptions", "700", SEEN_MS) >= 0,
       "changes go through again");
    /* Down for a few failed reconnects (backoff from 100 ms), logged once, and once back. */
    ok(broker_proc_log_count(&a, "the store is down") == 1 && broker_proc_log_count(&a, "is back: rereading the settings") == 1,
       "A logged the outage once, and its end once");

    trpc_close(ca);
    trpc_close(cb);
    broker_proc_stop(&a);
    broker_proc_stop(&b);
    redis_proc_stop(&r);

    absent_at_start();
    stop_while_waiting();
    passwords();
    return done_testing();
}
