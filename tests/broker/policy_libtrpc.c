/* The broker's policy check as a libtrpc user meets it: trpc_subscribe_msg() with each case of
 * policy_cases.h returns 0 (the SUB is sent), and the broker's refusal of a bad one reaches the
 * error callback with that subscription, -TRPC_E_BAD_POLICY and a text naming the header, while a
 * good one draws no error and delivers. Values that trpc-gen refuses in a contract (tests/gen/bad)
 * are refused by the broker too when a hand-written client sends them. */
#include "tests/broker/policy_cases.h"
#include "tests/driver/helpers.h"

#define MAX_ERRORS 128

static struct {
    pthread_mutex_t lock;
    int n;
    trpc_sub *sub[MAX_ERRORS];
    int err[MAX_ERRORS];
    char text[MAX_ERRORS][200];
} errs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void error_cb(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c;
    (void)ud;
    pthread_mutex_lock(&errs.lock);
    if (errs.n < MAX_ERRORS) {
        errs.sub[errs.n] = sub;
        errs.err[errs.n] = err;
        snprintf(errs.text[errs.n], sizeof(errs.text[0]), "%s", text);
        errs.n++;
    }
    pthread_mutex_unlock(&errs.lock);
}

/* The error reported for sub, waiting up to timeout_ms: its index, or -1. */
static int error_of(trpc_sub *sub, int timeout_ms)
{
    for (int waited = 0;; waited += 10) {
        pthread_mutex_lock(&errs.lock);
        for (int i = 0; i < errs.n; i++) {
            if (errs.sub[i] == sub) {
                pthread_mutex_unlock(&errs.lock);
                return i;
            }
        }
        pthread_mutex_unlock(&errs.lock);
        if (waited >= timeout_ms)
            return -1;
        usleep(10000);
    }
}

static trpc_sub *sub1(trpc_client *c, const char *pattern, const char *key, const char *val, struct inbox *in)
{
    trpc_header h = {key, val, strlen(val)};
    trpc_sub *s = NULL;

    if (trpc_subscribe_msg(c, pattern, NULL, &h, 1, inbox_cb, in, &s) != 0)
        BAIL_OUT("trpc_subscribe_msg(%s, %s): %s", pattern, key, trpc_last_error());
    return s;
}

static void every_case(trpc_client *c, trpc_sub **subs, struct inbox *in)
{
    size_t i;

    for (i = 0; i < POLICY_NCASES; i++)
        subs[i] = sub1(c, policy_cases[i].pattern, policy_cases[i].key, policy_cases[i].val, in);
    ok_eq(trpc_flush(c, 10000), 0, "flush: the broker read every SUB");
    for (i = 0; i < POLICY_NCASES; i++) {
        const struct policy_case *pc = &policy_cases[i];
        int e = error_of(subs[i], pc->good ? 0 : 10000);

        if (pc->good)
            ok(e < 0, "%s: %s \"%.20s\": no error%s%s", pc->pattern, pc->key, pc->val, e < 0 ? "" : ": ",
               e < 0 ? "" : errs.text[e]);
        else
            ok(e >= 0 && errs.err[e] == -TRPC_E_BAD_POLICY && strstr(errs.text[e], pc->key) != NULL, "%s: %s \"%.20s\": %s",
               pc->pattern, pc->key, pc->val, e >= 0 ? errs.text[e] : "no error");
    }
}

/* What trpc-gen refuses (tests/gen/bad: backoff_factor_below_one, backoff_max_below_initial,
 * dlq_own_topic, durable_not_bool), a hand-written client cannot slip past the broker. */
static void compiler_agrees(trpc_client *c, struct inbox *in)
{
    static const struct {
        const char *key, *val;
    } refused[] = {
        {"trpc-backoff", "100,0.5,1000"},
        {"trpc-backoff", "1000,2,100"},
        {"trpc-dlq", "shop.billing.placed"},
        {"trpc-durable", "yes"},
    };

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        trpc_sub *s = sub1(c, "shop.billing.placed", refused[i].key, refused[i].val, in);
        int e = error_of(s, 10000);

        ok(e >= 0 && errs.err[e] == -TRPC_E_BAD_POLICY, "%s: %s: refused like the compiler refuses it (%s)", refused[i].key,
           refused[i].val, e >= 0 ? errs.text[e] : "no error");
        trpc_sub_destroy(s);
    }
}

int main(void)
{
    static trpc_sub *subs[POLICY_NCASES];
    static struct inbox in = INBOX_INIT;
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c;
    int goods = 0;

    broker_up(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_error_cb(o, error_cb, NULL);
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);

    every_case(c, subs, &in);
    for (size_t i = 0; i < POLICY_NCASES; i++)
        goods += policy_cases[i].good;
    ok_eq(trpc_publish(c, "p.t", "m", 1), 0, "publish on p.t");
    ok_eq(inbox_wait(&in, goods, 10000), goods, "each accepted subscription got it");
    ok_eq(trpc_flush(c, 10000), 0, "flush");
    ok_eq(inbox_count(&in), goods, "no refused one did");
    compiler_agrees(c, &in);

    for (size_t i = 0; i < POLICY_NCASES; i++)
        trpc_sub_destroy(subs[i]);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
