/* policy_parse (src/policy.c) alone: every case of policy_cases.h is accepted or refused with a
 * text that names its header; accepted values land in the struct; each key counts once; keys
 * outside trpc-* are ignored; a refusal leaves the struct untouched; a long value is cut. */
#include <string.h>

#include "src/policy.h"
#include "tests/broker/policy_cases.h"
#include "tests/tap.h"

#define MAX_TOPIC 256

/* Encodes a SUB of pattern with n headers and decodes it into *f (buf holds the bytes). */
static void sub_frame(uint8_t *buf, size_t cap, const char *pattern, const struct wire_header *h, size_t n, struct wire_frame *f)
{
    struct wire_out o = {
        .type = WIRE_SUB, .id = 1, .topic = pattern, .topic_len = strlen(pattern), .headers = h, .header_count = n};
    struct wire_limits lim;
    ssize_t len;

    wire_limits_default(&lim);
    len = wire_encode(buf, cap, &o);
    if (len <= 0 || wire_decode(buf, (size_t)len, &lim, f) != len)
        BAIL_OUT("cannot encode a SUB of %s", pattern);
}

static struct wire_header hdr(const char *key, const char *val)
{
    return (struct wire_header){
        .key = key, .key_len = (uint16_t)strlen(key), .val = (const uint8_t *)val, .val_len = (uint16_t)strlen(val)};
}

static int parse1(const char *pattern, const char *key, const char *val, struct policy *p, char *why, size_t cap)
{
    static uint8_t buf[4096];
    struct wire_header h = hdr(key, val);
    struct wire_frame f;

    sub_frame(buf, sizeof(buf), pattern, &h, 1, &f);
    return policy_parse(&f, MAX_TOPIC, p, why, cap);
}

static void every_case(void)
{
    for (size_t i = 0; i < POLICY_NCASES; i++) {
        const struct policy_case *c = &policy_cases[i];
        struct policy p = {.max_deliveries = 77};
        char why[POLICY_WHY_MAX] = "";
        int rc = parse1(c->pattern, c->key, c->val, &p, why, sizeof(why));
        char shown[48];

        snprintf(shown, sizeof(shown), "%.40s", c->val);
        if (c->good) {
            ok(rc == 0, "%s: %s \"%s\" accepted%s%s", c->pattern, c->key, shown, rc ? ": " : "", rc ? why : "");
        } else {
            ok(rc == BROKER_ETRPC(TRPC_E_BAD_POLICY) && strncmp(why, c->key, strlen(c->key)) == 0 && p.max_deliveries == 77,
               "%s: %s \"%s\" refused, struct untouched: %s", c->pattern, c->key, shown, why);
        }
    }
}

static void values_land(void)
{
    static uint8_t buf[4096];
    struct wire_header h[5] = {hdr("trpc-durable", "true"), hdr("trpc-max-deliveries", "5"), hdr("x-other", "1"),
                               hdr("trpc-backoff", "100,1.5,30000"), hdr("trpc-dlq", "shop.dead")};
    struct policy p, none = {.durable = true};
    struct wire_frame f;
    char why[POLICY_WHY_MAX];

    sub_frame(buf, sizeof(buf), "shop.placed", h, 5, &f);
    ok_eq(policy_parse(&f, MAX_TOPIC, &p, why, sizeof(why)), 0, "a full policy parses");
    ok(p.durable, "durable");
    ok_eq(p.max_deliveries, 5, "max_deliveries");
    ok(p.has_backoff && p.backoff_initial_ms == 100 && p.backoff_factor == 1.5 && p.backoff_max_ms == 30000, "backoff");
    ok(p.dlq_len == 9 && memcmp(p.dlq, "shop.dead", 9) == 0, "dlq aliases the frame");
    ok(policy_is_set(&p), "the policy is set");

    sub_frame(buf, sizeof(buf), "shop.placed", h + 2, 1, &f);
    ok_eq(policy_parse(&f, MAX_TOPIC, &none, why, sizeof(why)), 0, "no trpc-* header parses");
    ok(!policy_is_set(&none) && none.dlq == NULL, "to the all-zero policy");
}

static void once_each(void)
{
    static uint8_t buf[4096];
    struct wire_header h[2] = {hdr("trpc-max-deliveries", "5"), hdr("trpc-max-deliveries", "5")};
    struct policy p;
    struct wire_frame f;
    char why[POLICY_WHY_MAX];

    sub_frame(buf, sizeof(buf), "a.b", h, 2, &f);
    ok_eq(policy_parse(&f, MAX_TOPIC, &p, why, sizeof(why)), BROKER_ETRPC(TRPC_E_BAD_POLICY), "a key given twice is refused");
    ok(strcmp(why, "trpc-max-deliveries: given more than once") == 0, "saying so: %s", why);
}

static void texts(void)
{
    struct policy p;
    char why[POLICY_WHY_MAX], small[12];
    char val[200];

    parse1("a.b", "trpc-backoff", "100,2,50", &p, why, sizeof(why));
    ok(strcmp(why, "trpc-backoff \"100,2,50\": max_ms (50) is less than initial_ms (100)") == 0, "the text quotes the value: %s",
       why);
    memset(val, 'x', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    val[3] = '\t';
    parse1("a.b", "trpc-durable", val, &p, why, sizeof(why));
    ok(strncmp(why, "trpc-durable \"xxx?xxx", 21) == 0 && strstr(why, "x...\": must be true") != NULL && strlen(why) < sizeof(why),
       "a long value is cut and made printable: %s", why);
    parse1("a.b", "trpc-durable", "no", &p, small, sizeof(small));
    ok(strlen(small) == sizeof(small) - 1, "a small buffer gets a cut text: %s", small);
    ok(strlen(POLICY_LONG_TOPIC) > MAX_TOPIC, "the long topic is %zu bytes", strlen(POLICY_LONG_TOPIC));
}

int main(void)
{
    every_case();
    values_land();
    once_each();
    texts();
    return done_testing();
}
