/*
 * Delivery policy headers of a SUB (src/policy.h). Values are parsed strictly, with one spelling
 * per meaning: plain decimals, no signs, blanks or exponents, so that what trpc-gen writes and
 * what a hand-written client sends are judged alike, and a refusal names the header, the value
 * (cut and made printable) and the rule it breaks.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/topic.h"
#include "src/err.h"
#include "src/policy.h"

#define PREFIX     "trpc-"
#define PREFIX_LEN 5
#define SHOWN_MAX  40 /* bytes of a refused value quoted in the refusal */
#define FACTOR_MAX 32 /* longest factor text: more digits than a double holds are no use */

enum key { KEY_DURABLE, KEY_MAX_DELIVERIES, KEY_BACKOFF, KEY_DLQ, KEY_ACK_WAIT, KEY_START, KEY_COUNT };

static const char *const key_names[KEY_COUNT] = {"trpc-durable", "trpc-max-deliveries", "trpc-backoff",
                                                 "trpc-dlq",     "trpc-ack-wait",       "trpc-start"};

/* A value being read: the bytes not consumed yet. */
struct val {
    const uint8_t *p, *end;
};

__attribute__((format(printf, 4, 5))) static int refuse(const struct wire_header *h, char *why, size_t cap, const char *fmt, ...)
{
    char shown[SHOWN_MAX + 4];
    size_t n = h->val_len < SHOWN_MAX ? h->val_len : SHOWN_MAX, i, len;
    va_list ap;
    int w;

    assert(cap > 0);
    for (i = 0; i < n; i++)
        shown[i] = h->val[i] >= 0x20 && h->val[i] < 0x7f ? (char)h->val[i] : '?';
    memcpy(shown + n, h->val_len > SHOWN_MAX ? "..." : "", h->val_len > SHOWN_MAX ? 4 : 1);
    w = snprintf(why, cap, "%.*s \"%s\": ", (int)h->key_len, h->key, shown);
    len = w < 0 ? 0 : (size_t)w;
    if (len < cap) {
        va_start(ap, fmt);
        vsnprintf(why + len, cap - len, fmt, ap);
        va_end(ap);
    }
    return BROKER_ETRPC(TRPC_E_BAD_POLICY);
}

/* Reads a decimal integer in lo..hi; false when there is none, or it is out of range. */
static bool read_uint(struct val *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t n = 0;
    const uint8_t *start = v->p;

    while (v->p < v->end && *v->p >= '0' && *v->p <= '9') {
        n = n * 10 + (uint64_t)(*v->p - '0');
        if (n > hi)
            return false;
        v->p++;
    }
    if (v->p == start || n < lo)
        return false;
    *out = (uint32_t)n;
    return true;
}

/* Reads digits[.digits] in lo..hi. */
static bool read_decimal(struct val *v, double lo, double hi, double *out)
{
    char text[FACTOR_MAX + 1];
    const uint8_t *start = v->p;
    size_t n, digits = 0, frac = 0;
    double f;

    while (v->p < v->end && *v->p >= '0' && *v->p <= '9') {
        v->p++;
        digits++;
    }
    if (v->p < v->end && *v->p == '.') {
        v->p++;
        while (v->p < v->end && *v->p >= '0' && *v->p <= '9') {
            v->p++;
            frac++;
        }
        if (frac == 0)
            return false;
    }
    n = (size_t)(v->p - start);
    if (digits == 0 || n > FACTOR_MAX)
        return false;
    memcpy(text, start, n);
    text[n] = '\0';
    f = strtod(text, NULL); /* the broker never calls setlocale: '.' is the decimal point */
    if (!(f >= lo && f <= hi))
        return false;
    *out = f;
    return true;
}

static bool read_char(struct val *v, char c)
{
    if (v->p == v->end || *v->p != (uint8_t)c)
        return false;
    v->p++;
    return true;
}

static int set_backoff(const struct wire_header *h, struct policy *p, char *why, size_t cap)
{
    struct val v = {.p = h->val, .end = h->val + h->val_len};
    uint32_t initial, max;
    double factor, jitter = 0.0;

    if (!read_uint(&v, 1, POLICY_MS_MAX, &initial) || !read_char(&v, ','))
        return refuse(h, why, cap, "initial_ms must be a decimal from 1 to %u, then ','", POLICY_MS_MAX);
    if (!read_decimal(&v, 1.0, POLICY_FACTOR_MAX, &factor) || !read_char(&v, ','))
        return refuse(h, why, cap, "factor must be a plain decimal from 1 to %g, then ','", POLICY_FACTOR_MAX);
    if (!read_uint(&v, 1, POLICY_MS_MAX, &max) || (v.p != v.end && *v.p != ','))
        return refuse(h, why, cap, "max_ms must be a decimal from 1 to %u, then the end or ','", POLICY_MS_MAX);
    if (max < initial)
        return refuse(h, why, cap, "max_ms (%u) is less than initial_ms (%u)", max, initial);
    if (v.p != v.end && (!read_char(&v, ',') || !read_decimal(&v, 0.0, 1.0, &jitter) || v.p != v.end))
        return refuse(h, why, cap, "jitter must be a plain decimal from 0 to 1, and the last field");
    p->has_backoff = true;
    p->backoff_initial_ms = initial;
    p->backoff_factor = factor;
    p->backoff_max_ms = max;
    p->backoff_jitter_pm = (uint16_t)(jitter * 1000.0 + 0.5);
    return 0;
}

static int set_dlq(const char *pattern, size_t plen, uint16_t max_topic, const struct wire_header *h, struct policy *p, char *why,
                   size_t cap)
{
    const char *t = (const char *)h->val;
    int err;

    if (h->val_len > max_topic)
        return refuse(h, why, cap, "longer than the broker's max_topic (%u bytes)", (unsigned)max_topic);
    err = topic_check_literal(t, h->val_len);
    if (err != 0)
        return refuse(h, why, cap, "not a literal topic (%s)", trpc_strerror(err));
    if (topic_match(pattern, plen, t, h->val_len))
        return refuse(h, why, cap, "the subscription's own pattern matches it: dead letters would come back to it");
    p->dlq = t;
    p->dlq_len = h->val_len;
    return 0;
}

static bool two(const char *s, unsigned lo, unsigned hi, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return false;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return (unsigned)*out >= lo && (unsigned)*out <= hi;
}

int policy_time_parse(const char *s, size_t len, uint64_t *ns)
{
    char year[5];
    struct tm tm = {0};
    size_t i = 19;
    uint64_t frac = 0, scale = 1000000000;
    int64_t off = 0, secs;
    int oh, om;

    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return -EINVAL;
    for (int k = 0; k < 4; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -EINVAL;
        year[k] = s[k];
    }
    year[4] = '\0';
    tm.tm_year = atoi(year) - 1900;
    if (tm.tm_year < 70 || !two(s + 5, 1, 12, &tm.tm_mon) || !two(s + 8, 1, 31, &tm.tm_mday) || !two(s + 11, 0, 23, &tm.tm_hour) ||
        !two(s + 14, 0, 59, &tm.tm_min) || !two(s + 17, 0, 60, &tm.tm_sec))
        return -EINVAL;
    tm.tm_mon--;
    {
        static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y = tm.tm_year + 1900;
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

        /* timegm would move 2026-02-31 to March: such a date is refused, not guessed at. */
        if (tm.tm_mday > mdays[tm.tm_mon] || (tm.tm_mon == 1 && tm.tm_mday == 29 && !leap))
            return -EINVAL;
    }
    if (i < len && s[i] == '.') {
        size_t digits = 0;

        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(s[i] - '0') * scale;
            }
        if (digits == 0)
            return -EINVAL;
    }
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' && two(s + i + 1, 0, 23, &oh) &&
               two(s + i + 4, 0, 59, &om)) {
        off = (int64_t)(oh * 60 + om) * 60 * (s[i] == '+' ? 1 : -1);
        i += 6;
    }
    if (i != len)
        return -EINVAL;
    secs = (int64_t)timegm(&tm) - off;
    if (secs < 0 || (uint64_t)secs > (UINT64_MAX - 999999999) / 1000000000) /* nanoseconds in 64 bits: to 2554 */
        return -EINVAL;
    *ns = (uint64_t)secs * 1000000000 + frac;
    return 0;
}

/* all | new | seq:N (N >= 1) | time:RFC3339 */
static int set_start(const struct wire_header *h, struct policy *p, char *why, size_t cap)
{
    struct val v = {.p = h->val + 4, .end = h->val + h->val_len};
    uint64_t n = 0;

    if (h->val_len == 3 && memcmp(h->val, "all", 3) == 0) {
        p->start = POLICY_START_ALL;
        return 0;
    }
    if (h->val_len == 3 && memcmp(h->val, "new", 3) == 0) {
        p->start = POLICY_START_NEW;
        return 0;
    }
    if (h->val_len > 4 && h->val_len <= 4 + 20 && memcmp(h->val, "seq:", 4) == 0) {
        while (v.p < v.end && *v.p >= '0' && *v.p <= '9' && n <= UINT64_MAX / 10 - 9)
            n = n * 10 + (uint64_t)(*v.p++ - '0');
        if (v.p == v.end && n >= 1) {
            p->start = POLICY_START_SEQ;
            p->start_seq = n;
            return 0;
        }
    }
    if (h->val_len > 5 && memcmp(h->val, "time:", 5) == 0 &&
        policy_time_parse((const char *)h->val + 5, h->val_len - 5, &p->start_ns) == 0) {
        p->start = POLICY_START_TIME;
        return 0;
    }
    return refuse(h, why, cap,
                  "must be all, new, seq:N with N a decimal from 1, or time:T with T in RFC 3339 (UTC 'Z' or an offset)");
}

static int set_one(const char *pattern, size_t plen, uint16_t max_topic, enum key k, const struct wire_header *h, struct policy *p,
                   char *why, size_t cap)
{
    struct val v = {.p = h->val, .end = h->val + h->val_len};

    switch (k) {
    case KEY_DURABLE:
        if (h->val_len != 4 || memcmp(h->val, "true", 4) != 0)
            return refuse(h, why, cap, "must be true (a subscription that is not durable leaves the header out)");
        p->durable = true;
        return 0;
    case KEY_MAX_DELIVERIES:
        if (!read_uint(&v, 1, POLICY_COUNT_MAX, &p->max_deliveries) || v.p != v.end)
            return refuse(h, why, cap, "must be a decimal from 1 to %u", POLICY_COUNT_MAX);
        return 0;
    case KEY_BACKOFF:
        return set_backoff(h, p, why, cap);
    case KEY_DLQ:
        return set_dlq(pattern, plen, max_topic, h, p, why, cap);
    case KEY_ACK_WAIT:
        if (!read_uint(&v, 1, POLICY_MS_MAX, &p->ack_wait_ms) || v.p != v.end)
            return refuse(h, why, cap, "must be a decimal number of milliseconds from 1 to %u", POLICY_MS_MAX);
        return 0;
    case KEY_START:
        return set_start(h, p, why, cap);
    case KEY_COUNT:
        break;
    }
    abort(); /* every key returns above */
}

static int key_of(const struct wire_header *h);

int policy_set(struct policy *p, const char *key, const char *val, size_t len, const char *pattern, size_t plen, uint16_t max_topic,
               char *why, size_t why_cap)
{
    struct wire_header h = {.key = key, .key_len = (uint16_t)strlen(key), .val = (const uint8_t *)val, .val_len = (uint16_t)len};
    int k = key_of(&h);

    assert(k >= 0);
    if (len > UINT16_MAX) {
        snprintf(why, why_cap, "%s: longer than a header value may be", key);
        return BROKER_ETRPC(TRPC_E_BAD_POLICY);
    }
    return set_one(pattern, plen, max_topic, (enum key)k, &h, p, why, why_cap);
}

static int key_of(const struct wire_header *h)
{
    for (int k = 0; k < KEY_COUNT; k++)
        if (h->key_len == strlen(key_names[k]) && memcmp(h->key, key_names[k], h->key_len) == 0)
            return k;
    return -1;
}

int policy_parse(const struct wire_frame *f, uint16_t max_topic, struct policy *p, char *why, size_t why_cap)
{
    struct policy out = {0};
    struct wire_header h;
    unsigned seen = 0;
    uint32_t pos = 0;
    int k, err;

    assert(f->type == WIRE_SUB);
    assert(why_cap > 0);
    while (wire_header_next(f, &pos, &h) == 1) {
        if (h.key_len < PREFIX_LEN || memcmp(h.key, PREFIX, PREFIX_LEN) != 0)
            continue;
        k = key_of(&h);
        if (k < 0) {
            snprintf(why, why_cap,
                     "%.*s: unknown delivery policy header (known: trpc-durable, trpc-max-deliveries, "
                     "trpc-backoff, trpc-dlq, trpc-ack-wait, trpc-start)",
                     (int)h.key_len, h.key);
            return BROKER_ETRPC(TRPC_E_BAD_POLICY);
        }
        if (seen & 1u << k) {
            snprintf(why, why_cap, "%s: given more than once", key_names[k]);
            return BROKER_ETRPC(TRPC_E_BAD_POLICY);
        }
        seen |= 1u << k;
        err = set_one(f->topic, f->topic_len, max_topic, (enum key)k, &h, &out, why, why_cap);
        if (err != 0)
            return err;
    }
    *p = out;
    return 0;
}

bool policy_is_set(const struct policy *p)
{
    return p->durable || p->max_deliveries != 0 || p->has_backoff || p->dlq != NULL || p->ack_wait_ms != 0 ||
           p->start != POLICY_START_UNSET;
}

void policy_default(struct policy *p, const struct policy *d)
{
    if (p->max_deliveries == 0)
        p->max_deliveries = d->max_deliveries;
    if (p->ack_wait_ms == 0)
        p->ack_wait_ms = d->ack_wait_ms;
    if (!p->has_backoff && d->has_backoff) {
        p->has_backoff = true;
        p->backoff_initial_ms = d->backoff_initial_ms;
        p->backoff_factor = d->backoff_factor;
        p->backoff_max_ms = d->backoff_max_ms;
        p->backoff_jitter_pm = d->backoff_jitter_pm;
    }
    if (p->dlq == NULL && d->dlq != NULL) {
        p->dlq = d->dlq;
        p->dlq_len = d->dlq_len;
    }
}

void policy_backoff_text(uint32_t initial_ms, double factor, uint32_t max_ms, uint16_t jitter_pm, char *buf, size_t len)
{
    char f[32];

    for (int prec = 1; prec <= 17; prec++) {
        snprintf(f, sizeof(f), "%.*g", prec, factor);
        if (strtod(f, NULL) == factor)
            break;
    }
    snprintf(buf, len, "%" PRIu32 ",%s,%" PRIu32 ",%.3g", initial_ms, f, max_ms, jitter_pm / 1000.0);
}
