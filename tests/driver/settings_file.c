/* Live settings in the embedded store (issue 16): kept across a restart, given back their
 * configured value by settings.reset, changed several at once or not at all, and a kill -9 in the
 * middle of a stream of changes, many times over: every restart reads a complete state (the two
 * settings each change sets together agree) that holds every change the broker acknowledged. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define ROUNDS 12
#define BURST  40

static char dir[256];

struct burst {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int replies;
    unsigned acked_max; /* the largest value a reply said was applied */
};

struct slot {
    struct burst *b;
    unsigned v;
};

static void burst_cb(trpc_client *c, int err, trpc_msg *reply, void *ud)
{
    struct slot *s = ud;
    json_t *j = NULL;

    (void)c;
    if (err == 0)
        j = json_loadb(trpc_msg_data(reply), trpc_msg_len(reply), 0, NULL);
    pthread_mutex_lock(&s->b->lock);
    s->b->replies++;
    if (adminc_ok(j) && s->v > s->b->acked_max)
        s->b->acked_max = s->v;
    pthread_cond_broadcast(&s->b->cond);
    pthread_mutex_unlock(&s->b->lock);
    json_decref(j);
    trpc_msg_free(reply);
}

static bool expect_ok(trpc_client *c, const char *verb, const char *doc, const char *what)
{
    json_t *j = adminc_call(c, verb, doc);
    bool good = adminc_ok(j);

    ok(good, "%s", what);
    if (!good && j != NULL) {
        char *s = json_dumps(j, JSON_COMPACT);

        diag("reply: %s", s);
        free(s);
    }
    json_decref(j);
    return good;
}

static void expect_code(trpc_client *c, const char *verb, const char *doc, const char *code, const char *what)
{
    json_t *j = adminc_call(c, verb, doc);

    ok(strcmp(adminc_err_code(j), code) == 0, "%s: %s (got '%s')", what, code, adminc_err_code(j));
    json_decref(j);
}

static void expect_value(trpc_client *c, const char *name, const char *want, const char *what)
{
    char got[128];

    adminc_get(c, name, got, sizeof(got));
    ok(strcmp(got, want) == 0, "%s: %s = %s (got '%s')", what, name, want, got);
}

/* A duration as settings.get prints it ("1040ms", "2s") in ms; 0 for anything else. */
static unsigned ms_of(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (end == s)
        return 0;
    return strcmp(end, "ms") == 0 ? (unsigned)v : strcmp(end, "s") == 0 ? (unsigned)v * 1000 : 0;
}

static void restart_clean(struct broker_proc *b)
{
    int st = broker_proc_signal_wait(b, SIGTERM, 20000);

    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
        BAIL_OUT("the broker did not stop cleanly (status %d)", st);
    if (broker_proc_restart(b) != 0)
        BAIL_OUT("cannot restart the broker");
}

/* After a kill -9, the dead broker's io_uring may hold its listening socket a moment longer (the
 * kernel tears rings down asynchronously), and with SO_REUSEPORT a connection can land there and
 * be reset: a client reconnects, and so does this one. */
static trpc_client *connect_again(const struct broker_proc *b)
{
    trpc_client *c = NULL;
    int err = 0;

    for (int i = 0; i < 50; i++) {
        err = trpc_connect(&c, b->url, NULL);
        if (err == 0)
            return c;
        usleep(100000);
    }
    BAIL_OUT("trpc_connect %s: %s (%s)", b->url, trpc_strerror(err), trpc_last_error());
}

/* Fires BURST changes without waiting, kills the broker once `after` replies came, and returns
 * the largest value acknowledged. */
static unsigned burst_and_kill(struct broker_proc *bp, trpc_client *c, unsigned first, int after)
{
    struct burst b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    struct slot slots[BURST];
    struct timespec ts;
    char doc[160];

    for (int i = 0; i < BURST; i++) {
        slots[i] = (struct slot){&b, first + (unsigned)i};
        snprintf(doc, sizeof(doc), "{\"settings\": {\"keepalive\": \"%ums\", \"request-timeout\": \"%ums\"}}", slots[i].v,
                 slots[i].v);
        if (trpc_request_async(c, "$trpc.admin.settings.set", doc, strlen(doc), 5000, burst_cb, &slots[i]) != 0)
            BAIL_OUT("trpc_request_async: %s", trpc_last_error());
    }
    trpc_flush(c, 5000);
    deadline_in(&ts, 10000);
    pthread_mutex_lock(&b.lock);
    while (b.replies < after && pthread_cond_timedwait(&b.cond, &b.lock, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&b.lock);
    broker_proc_kill(bp);
    trpc_close(c); /* what was in flight ends with an error */
    pthread_mutex_lock(&b.lock);
    unsigned acked = b.acked_max;
    pthread_mutex_unlock(&b.lock);
    return acked;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    struct broker_proc b;
    trpc_client *c;
    unsigned seed = (unsigned)time(NULL), acked = 0, sent_max = 0;

    snprintf(dir, sizeof(dir), "%s/trpc-settings-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        BAIL_OUT("mkdtemp: %s", strerror(errno));
    plan(14 + 3 * ROUNDS);
    broker_up(&b, (const char *[]){"--cores", "2", "--data-dir", dir, "--keepalive", "20s", NULL});
    c = connect_or_bail(&b, NULL);

    expect_ok(c, "settings.set", "{\"name\": \"keepalive\", \"value\": \"7s\"}", "keepalive set to 7s");
    expect_ok(c, "settings.set", "{\"name\": \"log-level\", \"value\": \"debug\"}", "log-level set to debug");
    expect_code(c, "settings.set", "{\"name\": \"log-level\", \"value\": \"loud\"}", "INVALID_VALUE", "log-level loud refused");
    trpc_close(c);
    restart_clean(&b);
    c = connect_or_bail(&b, NULL);
    expect_value(c, "keepalive", "7s", "after a restart");
    expect_value(c, "log-level", "debug", "after a restart");
    expect_value(c, "log-level", "debug", "a refused change is not stored");

    expect_ok(c, "settings.reset", "{\"name\": \"keepalive\"}", "keepalive reset");
    expect_value(c, "keepalive", "20s", "reset gives the command line's value");
    trpc_close(c);
    restart_clean(&b);
    c = connect_or_bail(&b, NULL);
    expect_value(c, "keepalive", "20s", "the store forgot the reset setting");

    /* Above the max-request-timeout in force, request-timeout can only rise with it. */
    expect_code(c, "settings.set", "{\"name\": \"request-timeout\", \"value\": \"90s\"}", "INVALID_VALUE",
                "request-timeout above max-request-timeout alone");
    expect_code(c, "settings.set", "{\"settings\": {\"max-request-timeout\": \"120s\", \"keepalive\": \"soon\"}}", "INVALID_VALUE",
                "a change with one bad value");
    expect_value(c, "max-request-timeout", "60s", "the bad change applied nothing");
    expect_ok(c, "settings.set", "{\"settings\": {\"max-request-timeout\": \"120s\", \"request-timeout\": \"90s\"}}",
              "both together");
    expect_value(c, "request-timeout", "90s", "the change of two applied");

    diag("seed %u", seed);
    srand(seed);
    for (int r = 0; r < ROUNDS; r++) {
        unsigned first = 1000 + (unsigned)r * BURST, a;
        char ka[64], rt[64];
        unsigned v = 0;

        a = burst_and_kill(&b, c, first, 1 + rand() % (BURST / 2));
        sent_max = first + BURST - 1;
        if (a > acked)
            acked = a;
        if (broker_proc_restart(&b) != 0)
            BAIL_OUT("cannot restart the broker after kill -9");
        c = connect_again(&b);
        adminc_get(c, "keepalive", ka, sizeof(ka));
        adminc_get(c, "request-timeout", rt, sizeof(rt));
        ok(strcmp(ka, rt) == 0, "round %d: a complete state (keepalive %s, request-timeout %s)", r, ka, rt);
        v = ms_of(ka);
        ok(v >= acked, "round %d: every acknowledged change survived (%u >= %u)", r, v, acked);
        ok(v <= sent_max, "round %d: and nothing that was never sent (%u <= %u)", r, v, sent_max);
        acked = v; /* the next round's changes all come after this one */
    }
    trpc_close(c);
    broker_proc_stop(&b);
    broker_proc_rm_tree(dir);
    return done_testing();
}
