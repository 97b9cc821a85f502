/*
 * Stream definitions (stream.h): checking, comparing and the stored form. Cold code: it runs per
 * admin request or at start-up, on the control thread.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/topic.h"
#include "src/admin.h"
#include "src/stream.h"

static bool name_byte(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

bool stream_name_ok(const char *name, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_byte(name[i]))
            return false;
    return true;
}

int stream_name_check(const char *name, char *why, size_t whylen)
{
    size_t n = strlen(name);

    if (n == 0 || n > STREAM_NAME_MAX) {
        snprintf(why, whylen, "a stream name has 1 to %d bytes", STREAM_NAME_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!name_byte(name[i])) {
            snprintf(why, whylen, "a stream name is made of letters, digits, '_' and '-' (byte %zu is not)", i + 1);
            return -EINVAL;
        }
    }
    return 0;
}

/* Whether some topic matches both patterns, token by token: `>` takes one or more tokens of the
 * other, `*` any one token, literals must be equal. */
bool stream_patterns_overlap(const char *a, size_t alen, const char *b, size_t blen)
{
    struct topic_iter ia, ib;
    const char *ta, *tb;
    size_t la, lb;
    bool ha, hb;

    topic_iter_init(&ia, a, alen);
    topic_iter_init(&ib, b, blen);
    for (;;) {
        ha = topic_iter_next(&ia, &ta, &la);
        hb = topic_iter_next(&ib, &tb, &lb);
        if (!ha || !hb)
            return ha == hb;
        if ((la == 1 && ta[0] == '>') || (lb == 1 && tb[0] == '>'))
            return true; /* each still has this token at least */
        if ((la == 1 && ta[0] == '*') || (lb == 1 && tb[0] == '*'))
            continue;
        if (la != lb || memcmp(ta, tb, la) != 0)
            return false;
    }
}

int stream_def_add_subject(struct stream_def *d, const char *pattern, size_t max_topic, char *why, size_t whylen)
{
    size_t len = strlen(pattern);
    int ret;

    if (d->nsubjects >= STREAM_SUBJECTS_MAX) {
        snprintf(why, whylen, "a stream has at most %d subjects", STREAM_SUBJECTS_MAX);
        return -EINVAL;
    }
    if (len > max_topic) {
        snprintf(why, whylen, "subject '%.40s...' is longer than max-topic (%zu)", pattern, max_topic);
        return -EINVAL;
    }
    ret = topic_check_pattern(pattern, len);
    if (ret != 0) {
        snprintf(why, whylen, "subject '%.64s' is not a valid pattern: %s", pattern, trpc_strerror(ret));
        return -EINVAL;
    }
    /* A pattern that merely overlaps them (`>`, `*.x`) is fine: nobody may publish there. */
    if (admin_reserved(pattern, len)) {
        snprintf(why, whylen, "subject '%.64s' is under %s, which is the broker's", pattern, ADMIN_RESERVED);
        return -EINVAL;
    }
    for (unsigned i = 0; i < d->nsubjects; i++) {
        if (stream_patterns_overlap(d->subjects[i], strlen(d->subjects[i]), pattern, len)) {
            snprintf(why, whylen, "subjects '%.64s' and '%.64s' overlap", d->subjects[i], pattern);
            return -EINVAL;
        }
    }
    d->subjects[d->nsubjects] = strdup(pattern);
    if (d->subjects[d->nsubjects] == NULL) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    d->nsubjects++;
    return 0;
}

static bool has_subject(const struct stream_def *d, const char *s)
{
    for (unsigned i = 0; i < d->nsubjects; i++)
        if (strcmp(d->subjects[i], s) == 0)
            return true;
    return false;
}

static bool same_defaults(const struct policy *a, const struct policy *b)
{
    return a->max_deliveries == b->max_deliveries && a->ack_wait_ms == b->ack_wait_ms && a->has_backoff == b->has_backoff &&
           (!a->has_backoff || (a->backoff_initial_ms == b->backoff_initial_ms && a->backoff_factor == b->backoff_factor &&
                                a->backoff_max_ms == b->backoff_max_ms && a->backoff_jitter_pm == b->backoff_jitter_pm)) &&
           (a->dlq == NULL) == (b->dlq == NULL) && (a->dlq == NULL || strcmp(a->dlq, b->dlq) == 0);
}

bool stream_def_equal(const struct stream_def *a, const struct stream_def *b)
{
    if (strcmp(a->name, b->name) != 0 || a->nsubjects != b->nsubjects || a->max_msg_size != b->max_msg_size ||
        a->lim.max_msgs != b->lim.max_msgs || a->lim.max_bytes != b->lim.max_bytes || a->lim.max_age_ms != b->lim.max_age_ms ||
        a->lim.discard != b->lim.discard || a->lim.dedup_window_ms != b->lim.dedup_window_ms ||
        a->lim.retention != b->lim.retention || !same_defaults(&a->defaults, &b->defaults))
        return false;
    for (unsigned i = 0; i < a->nsubjects; i++) /* subjects never overlap, so never repeat */
        if (!has_subject(b, a->subjects[i]))
            return false;
    return true;
}

void stream_def_free(struct stream_def *d)
{
    for (unsigned i = 0; i < d->nsubjects; i++)
        free(d->subjects[i]);
    d->nsubjects = 0;
    free((char *)d->defaults.dlq);
    d->defaults.dlq = NULL;
    d->defaults.dlq_len = 0;
}

int stream_policy_field(const json_t *doc, const char *field, const char *key, const char *pattern, uint16_t max_topic,
                        struct policy *pol, char *why, size_t whylen)
{
    json_t *v = json_object_get(doc, field);
    char num[24];
    const char *text;
    size_t len;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        text = num;
        len = strlen(num);
    } else if (json_is_string(v)) {
        text = json_string_value(v);
        len = json_string_length(v);
    } else {
        snprintf(why, whylen, "%s: a %s", field,
                 strcmp(field, "max_deliveries") == 0 || strcmp(field, "ack_wait_ms") == 0 ? "number" : "string");
        return -EINVAL;
    }
    if (policy_set(pol, key, text, len, pattern, strlen(pattern), max_topic, why, whylen) != 0) {
        size_t kl = strlen(key), fl = strlen(field);

        /* policy.c names the header; the caller wrote the field. */
        if (strncmp(why, key, kl) == 0 && strlen(why) - kl + fl < whylen) {
            memmove(why + fl, why + kl, strlen(why + kl) + 1);
            memcpy(why, field, fl);
        }
        return -EINVAL;
    }
    return 0;
}

int stream_defaults_parse(const json_t *doc, struct stream_def *d, uint16_t max_topic, char *why, size_t whylen)
{
    static const char *const fields[][2] = {{"max_deliveries", "trpc-max-deliveries"},
                                            {"ack_wait_ms", "trpc-ack-wait"},
                                            {"backoff", "trpc-backoff"},
                                            {"dlq", "trpc-dlq"}};
    struct policy p = {0};

    free((char *)d->defaults.dlq);
    memset(&d->defaults, 0, sizeof(d->defaults));
    if (d->nsubjects == 0)
        return 0;
    /* No pattern for policy.c to check the dlq against: every subject is checked below, in words
     * about the stream. */
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
        if (stream_policy_field(doc, fields[f][0], fields[f][1], "", max_topic, &p, why, whylen) != 0)
            return -EINVAL;
    for (unsigned i = 0; p.dlq != NULL && i < d->nsubjects; i++) {
        if (topic_match(d->subjects[i], strlen(d->subjects[i]), p.dlq, p.dlq_len)) {
            snprintf(why, whylen, "dlq: subject %s matches it: dead letters would come back into the stream", d->subjects[i]);
            return -EINVAL;
        }
    }
    if (p.dlq != NULL && (p.dlq = strndup(p.dlq, p.dlq_len)) == NULL) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    d->defaults = p;
    return 0;
}

int stream_defaults_put(json_t *doc, const struct policy *p)
{
    char text[96];
    int ret;

    if (p->has_backoff)
        policy_backoff_text(p->backoff_initial_ms, p->backoff_factor, p->backoff_max_ms, p->backoff_jitter_pm, text, sizeof(text));
    ret = json_object_set_new(doc, "max_deliveries", p->max_deliveries != 0 ? json_integer(p->max_deliveries) : json_null());
    ret |= json_object_set_new(doc, "ack_wait_ms", p->ack_wait_ms != 0 ? json_integer(p->ack_wait_ms) : json_null());
    ret |= json_object_set_new(doc, "backoff", p->has_backoff ? json_string(text) : json_null());
    ret |= json_object_set_new(doc, "dlq", p->dlq != NULL ? json_stringn(p->dlq, p->dlq_len) : json_null());
    return ret != 0 ? -ENOMEM : 0;
}

int stream_limits_parse(const json_t *doc, struct stream_limits *l, char *why, size_t whylen)
{
    static const char *const keys[] = {"max_msgs", "max_bytes", "max_age_ms", "dedup_window_ms"};
    static const uint64_t max[] = {INT64_MAX, INT64_MAX, STREAM_MAX_AGE_MS_MAX, STREAM_DEDUP_WINDOW_MAX};
    static const char *const upto[] = {"", "", " to a century", " (off) to a week"};
    uint64_t *vals[] = {&l->max_msgs, &l->max_bytes, &l->max_age_ms, &l->dedup_window_ms};
    const json_t *x;

    memset(l, 0, sizeof(*l));
    l->dedup_window_ms = STREAM_DEDUP_WINDOW_MS;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        x = json_object_get(doc, keys[i]);
        if (x == NULL)
            continue;
        if (!json_is_integer(x) || json_integer_value(x) < 0 || (uint64_t)json_integer_value(x) > max[i]) {
            snprintf(why, whylen, "%s must be a whole number from 0%s%s", keys[i], i < 3 ? " (no limit)" : "", upto[i]);
            return -EINVAL;
        }
        *vals[i] = (uint64_t)json_integer_value(x);
    }
    x = json_object_get(doc, "discard");
    if (x != NULL) {
        const char *v = json_string_value(x);

        if (v == NULL || (strcmp(v, "old") != 0 && strcmp(v, "new") != 0)) {
            snprintf(why, whylen, "discard must be \"old\" (drop the oldest at a limit) or \"new\" (refuse new messages)");
            return -EINVAL;
        }
        l->discard = strcmp(v, "new") == 0 ? STREAM_DISCARD_NEW : STREAM_DISCARD_OLD;
    }
    x = json_object_get(doc, "retention");
    if (x != NULL) {
        const char *v = json_string_value(x);

        if (v == NULL || (strcmp(v, "limits") != 0 && strcmp(v, "interest") != 0)) {
            snprintf(why, whylen,
                     "retention must be \"limits\" (messages stay until a limit removes them) or \"interest\" (also until "
                     "every consumer group acknowledged them)");
            return -EINVAL;
        }
        l->retention = strcmp(v, "interest") == 0 ? STREAM_RETENTION_INTEREST : STREAM_RETENTION_LIMITS;
    }
    return 0;
}

int stream_limits_put(json_t *doc, const struct stream_limits *l)
{
    int ret = json_object_set_new(doc, "max_msgs", json_integer((json_int_t)l->max_msgs));

    ret |= json_object_set_new(doc, "max_bytes", json_integer((json_int_t)l->max_bytes));
    ret |= json_object_set_new(doc, "max_age_ms", json_integer((json_int_t)l->max_age_ms));
    ret |= json_object_set_new(doc, "discard", json_string(l->discard == STREAM_DISCARD_NEW ? "new" : "old"));
    ret |= json_object_set_new(doc, "dedup_window_ms", json_integer((json_int_t)l->dedup_window_ms));
    ret |= json_object_set_new(doc, "retention", json_string(l->retention == STREAM_RETENTION_INTEREST ? "interest" : "limits"));
    return ret != 0 ? -ENOMEM : 0;
}

/* {"v": 1, "subjects": [...], "max_msg_size": N, "created_ns": N, and the limits}; the name is the
 * store's key. */
char *stream_def_encode(const struct stream_def *d, size_t *len)
{
    json_t *subj = json_array(), *doc;
    char *out = NULL;

    for (unsigned i = 0; subj != NULL && i < d->nsubjects; i++)
        if (json_array_append_new(subj, json_string(d->subjects[i])) != 0)
            break;
    doc = json_pack("{s:i, s:o, s:I, s:I}", "v", 1, "subjects", subj, "max_msg_size", (json_int_t)d->max_msg_size, "created_ns",
                    (json_int_t)d->created_ns);
    if (doc != NULL && stream_limits_put(doc, &d->lim) == 0 && stream_defaults_put(doc, &d->defaults) == 0)
        out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (out != NULL)
        *len = strlen(out);
    return out;
}

int stream_def_decode(const char *name, const void *val, size_t len, size_t max_topic, struct stream_def *out, char *why,
                      size_t whylen)
{
    json_int_t v = 0, max = 0, created = 0;
    json_error_t err;
    json_t *doc, *subj = NULL, *item;
    size_t i;
    int ret = -EINVAL;

    memset(out, 0, sizeof(*out));
    if (stream_name_check(name, why, whylen) != 0)
        return -EINVAL;
    snprintf(out->name, sizeof(out->name), "%s", name);
    doc = json_loadb(val, len, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL) {
        snprintf(why, whylen, "not JSON: %s", err.text);
        return -EINVAL;
    }
    if (json_unpack_ex(doc, &err, 0, "{s:I, s:o, s?I, s?I}", "v", &v, "subjects", &subj, "max_msg_size", &max, "created_ns",
                       &created) != 0) {
        snprintf(why, whylen, "%s", err.text);
        goto out;
    }
    if (v != 1 || !json_is_array(subj) || json_array_size(subj) == 0 || max < 0 || max > UINT32_MAX || created < 0) {
        snprintf(why, whylen, "version %lld, or a field out of range", (long long)v);
        goto out;
    }
    out->max_msg_size = (uint32_t)max;
    out->created_ns = (uint64_t)created;
    if (stream_limits_parse(doc, &out->lim, why, whylen) != 0)
        goto out;
    json_array_foreach(subj, i, item)
    {
        if (!json_is_string(item)) {
            snprintf(why, whylen, "subject %zu is not a string", i + 1);
            goto out;
        }
        if (stream_def_add_subject(out, json_string_value(item), max_topic, why, whylen) != 0)
            goto out;
    }
    if (stream_defaults_parse(doc, out, (uint16_t)max_topic, why, whylen) != 0)
        goto out;
    ret = 0;
out:
    json_decref(doc);
    if (ret != 0)
        stream_def_free(out);
    return ret;
}

/* FNV-1a: stable across runs and builds (owners and made-up names must not move). */
static uint32_t fnv1a(const char *s, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

unsigned stream_owner(const char *name, unsigned ncores)
{
    return ncores > 0 ? fnv1a(name, strlen(name)) % ncores : 0;
}

void stream_dlq_name(const char *topic, size_t len, char out[STREAM_NAME_MAX + 1])
{
    static const char prefix[] = "dlq-";
    /* Room for the topic when a hash must tell long ones apart: "-" and 8 hex digits. */
    size_t room = STREAM_NAME_MAX - (sizeof(prefix) - 1), keep = len <= room ? len : room - 9, n = sizeof(prefix) - 1;

    memcpy(out, prefix, n);
    for (size_t i = 0; i < keep; i++)
        out[n++] = name_byte(topic[i]) ? topic[i] : '_';
    if (keep < len)
        n += (size_t)snprintf(out + n, STREAM_NAME_MAX + 1 - n, "-%08x", fnv1a(topic, len));
    out[n] = '\0';
}

struct stream_table *stream_table_make(const struct stream_def *const *defs, const uint32_t *ids, unsigned n, unsigned ncores,
                                       uint64_t gen)
{
    size_t strings = 0;
    struct stream_table *t;
    char *p;

    for (unsigned i = 0; i < n; i++) {
        strings += strlen(defs[i]->name) + 1 + defs[i]->defaults.dlq_len + 1;
        for (unsigned j = 0; j < defs[i]->nsubjects; j++)
            strings += strlen(defs[i]->subjects[j]) + 1;
    }
    t = malloc(sizeof(*t) + n * sizeof(t->e[0]) + strings);
    if (t == NULL)
        return NULL;
    t->gen = gen;
    t->n = n;
    p = (char *)&t->e[n];
    for (unsigned i = 0; i < n; i++) {
        struct stream_entry *e = &t->e[i];
        size_t len = strlen(defs[i]->name) + 1;

        memset(e, 0, sizeof(*e));
        e->id = ids[i];
        e->owner = stream_owner(defs[i]->name, ncores);
        e->max_msg_size = defs[i]->max_msg_size;
        e->lim = defs[i]->lim;
        e->nsubjects = defs[i]->nsubjects;
        memcpy(p, defs[i]->name, len);
        e->name = p;
        p += len;
        e->defaults = defs[i]->defaults;
        if (e->defaults.dlq != NULL) {
            memcpy(p, e->defaults.dlq, e->defaults.dlq_len + 1u);
            e->defaults.dlq = p;
            p += e->defaults.dlq_len + 1u;
        }
        for (unsigned j = 0; j < e->nsubjects; j++) {
            len = strlen(defs[i]->subjects[j]);
            memcpy(p, defs[i]->subjects[j], len + 1);
            e->subj[j] = p;
            e->subj_len[j] = (uint16_t)len;
            p += len + 1;
        }
    }
    return t;
}

bool stream_pattern_covers(const char *s, size_t slen, const char *p, size_t plen)
{
    struct topic_iter is, ip;
    const char *ts, *tp;
    size_t ls, lp;
    bool hs, hp;

    topic_iter_init(&is, s, slen);
    topic_iter_init(&ip, p, plen);
    for (;;) {
        hs = topic_iter_next(&is, &ts, &ls);
        hp = topic_iter_next(&ip, &tp, &lp);
        if (!hs)
            return !hp;
        if (ls == 1 && ts[0] == '>')
            return hp;
        if (!hp || (lp == 1 && tp[0] == '>'))
            return false;
        if (ls == 1 && ts[0] == '*')
            continue;
        if ((lp == 1 && tp[0] == '*') || ls != lp || memcmp(ts, tp, ls) != 0)
            return false;
    }
}
