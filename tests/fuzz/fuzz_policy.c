/*
 * Fuzz target for src/policy.c, the delivery policy headers of a SUB. The input is text: the first
 * line is the SUB's pattern, every further line a header `key=value` (a line without '=' is a key
 * with an empty value). Inputs that do not encode as a valid SUB are skipped: the codec's own
 * targets cover those. The oracles: the result is 0 or BAD_POLICY; a refusal is a non-empty text
 * that names a trpc-* header and fits its buffer; an accepted policy keeps every documented range
 * (src/policy.h), its dead-letter topic is literal, short enough and not matched by the pattern;
 * and written back in its canonical form it parses to the same policy.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "driver/topic.h"
#include "src/policy.h"
#include "tests/fuzz/fuzz.h"

#define MAX_HEADERS 16
#define MAX_TOPIC   64
#define BUF_MAX     (8u << 10)

/* The shortest plain decimal that reads back as d (what trpc-gen writes for a factor). */
static void decimal(char *out, size_t cap, double d)
{
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(out, cap, "%.*f", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

static bool same(const struct policy *a, const struct policy *b)
{
    return a->durable == b->durable && a->max_deliveries == b->max_deliveries && a->has_backoff == b->has_backoff &&
           a->backoff_initial_ms == b->backoff_initial_ms && a->backoff_factor == b->backoff_factor &&
           a->backoff_max_ms == b->backoff_max_ms && a->dlq_len == b->dlq_len &&
           (a->dlq_len == 0 || memcmp(a->dlq, b->dlq, a->dlq_len) == 0) && a->ack_wait_ms == b->ack_wait_ms &&
           a->start == b->start && a->start_seq == b->start_seq && a->start_ns == b->start_ns &&
           a->backoff_jitter_pm == b->backoff_jitter_pm;
}

static bool sub_frame(uint8_t *buf, const char *pattern, size_t plen, const struct wire_header *h, size_t n, struct wire_frame *f)
{
    struct wire_out o = {.type = WIRE_SUB, .id = 1, .topic = pattern, .topic_len = plen, .headers = h, .header_count = n};
    struct wire_limits lim;
    ssize_t len;

    wire_limits_default(&lim);
    len = wire_encode(buf, BUF_MAX, &o);
    return len > 0 && wire_decode(buf, (size_t)len, &lim, f) == len;
}

static void check_accepted(const struct wire_frame *f, const struct policy *p)
{
    static uint8_t buf[BUF_MAX];
    char count[16], backoff[80], factor[32], wait[16], start[64];
    struct wire_header h[6];
    struct wire_frame g;
    struct policy q;
    char why[POLICY_WHY_MAX];
    size_t n = 0;

    FUZZ_ASSERT(p->max_deliveries <= POLICY_COUNT_MAX);
    if (p->has_backoff) {
        FUZZ_ASSERT(p->backoff_initial_ms >= 1);
        FUZZ_ASSERT(p->backoff_max_ms >= p->backoff_initial_ms);
        FUZZ_ASSERT(p->backoff_max_ms <= POLICY_MS_MAX);
        FUZZ_ASSERT(isfinite(p->backoff_factor));
        FUZZ_ASSERT(p->backoff_factor >= 1.0);
        FUZZ_ASSERT(p->backoff_factor <= POLICY_FACTOR_MAX);
        FUZZ_ASSERT(p->backoff_jitter_pm <= 1000);
    }
    if (p->dlq != NULL) {
        FUZZ_ASSERT(p->dlq_len <= MAX_TOPIC);
        FUZZ_ASSERT(topic_check_literal(p->dlq, p->dlq_len) == 0);
        FUZZ_ASSERT(!topic_match(f->topic, f->topic_len, p->dlq, p->dlq_len));
    }
    if (p->durable)
        h[n++] = (struct wire_header){.key = "trpc-durable", .key_len = 12, .val = (const uint8_t *)"true", .val_len = 4};
    if (p->max_deliveries != 0) {
        snprintf(count, sizeof(count), "%u", (unsigned)p->max_deliveries);
        h[n++] = (struct wire_header){
            .key = "trpc-max-deliveries", .key_len = 19, .val = (const uint8_t *)count, .val_len = (uint16_t)strlen(count)};
    }
    if (p->has_backoff) {
        decimal(factor, sizeof(factor), p->backoff_factor);
        snprintf(backoff, sizeof(backoff), "%u,%s,%u,%u.%03u", (unsigned)p->backoff_initial_ms, factor, (unsigned)p->backoff_max_ms,
                 p->backoff_jitter_pm / 1000u, p->backoff_jitter_pm % 1000u);
        h[n++] = (struct wire_header){
            .key = "trpc-backoff", .key_len = 12, .val = (const uint8_t *)backoff, .val_len = (uint16_t)strlen(backoff)};
    }
    if (p->dlq != NULL)
        h[n++] = (struct wire_header){.key = "trpc-dlq", .key_len = 8, .val = (const uint8_t *)p->dlq, .val_len = p->dlq_len};
    if (p->ack_wait_ms != 0) {
        FUZZ_ASSERT(p->ack_wait_ms <= POLICY_MS_MAX);
        snprintf(wait, sizeof(wait), "%u", (unsigned)p->ack_wait_ms);
        h[n++] = (struct wire_header){
            .key = "trpc-ack-wait", .key_len = 13, .val = (const uint8_t *)wait, .val_len = (uint16_t)strlen(wait)};
    }
    if (p->start != POLICY_START_UNSET) {
        FUZZ_ASSERT(p->start != POLICY_START_SEQ || p->start_seq >= 1);
        snprintf(start, sizeof(start), "%s%.0llu",
                 p->start == POLICY_START_ALL   ? "all"
                 : p->start == POLICY_START_NEW ? "new"
                                                : "seq:",
                 p->start == POLICY_START_SEQ ? (unsigned long long)p->start_seq : 0ull);
        if (p->start == POLICY_START_TIME) {
            time_t t = (time_t)(p->start_ns / 1000000000);
            struct tm tm;

            FUZZ_ASSERT(gmtime_r(&t, &tm) != NULL);
            strftime(start, sizeof(start), "time:%Y-%m-%dT%H:%M:%S", &tm);
            snprintf(start + strlen(start), sizeof(start) - strlen(start), ".%09lluZ",
                     (unsigned long long)(p->start_ns % 1000000000));
        }
        h[n++] = (struct wire_header){
            .key = "trpc-start", .key_len = 10, .val = (const uint8_t *)start, .val_len = (uint16_t)strlen(start)};
    }
    FUZZ_ASSERT(sub_frame(buf, f->topic, f->topic_len, h, n, &g));
    FUZZ_ASSERT(policy_parse(&g, MAX_TOPIC, &q, why, sizeof(why)) == 0);
    FUZZ_ASSERT(same(p, &q));
    FUZZ_ASSERT(policy_is_set(&q) == (n > 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[BUF_MAX];
    const char *s = (const char *)data, *end = s + size, *nl, *eq;
    struct wire_header h[MAX_HEADERS];
    struct policy p = {0};
    struct wire_frame f;
    char why[POLICY_WHY_MAX];
    size_t n = 0, plen;
    int rc;

    nl = memchr(s, '\n', size);
    plen = nl != NULL ? (size_t)(nl - s) : size;
    if (plen == 0 || plen > MAX_TOPIC)
        return 0;
    /* One header per line after the topic; the pointer past a newline is only formed when there
     * is one (NULL + 1 is undefined). */
    for (const char *line = nl != NULL ? nl + 1 : NULL; line != NULL && n < MAX_HEADERS; line = nl != NULL ? nl + 1 : NULL) {
        const char *stop;

        nl = memchr(line, '\n', (size_t)(end - line));
        stop = nl != NULL ? nl : end;
        eq = memchr(line, '=', (size_t)(stop - line));
        if (eq == NULL)
            eq = stop;
        if (eq == line || eq - line > 255)
            return 0;
        h[n++] = (struct wire_header){.key = line,
                                      .key_len = (uint16_t)(eq - line),
                                      .val = (const uint8_t *)(eq < stop ? eq + 1 : stop),
                                      .val_len = (uint16_t)(eq < stop ? stop - eq - 1 : 0)};
    }
    if (!sub_frame(buf, s, plen, h, n, &f))
        return 0;
    memset(why, 0x5a, sizeof(why));
    rc = policy_parse(&f, MAX_TOPIC, &p, why, sizeof(why));
    if (rc == 0) {
        check_accepted(&f, &p);
        return 0;
    }
    FUZZ_ASSERT(rc == BROKER_ETRPC(TRPC_E_BAD_POLICY));
    FUZZ_ASSERT(memchr(why, '\0', sizeof(why)) != NULL);
    FUZZ_ASSERT(strncmp(why, "trpc-", 5) == 0);
    FUZZ_ASSERT(!policy_is_set(&p));
    return 0;
}
