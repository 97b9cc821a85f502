/*
 * options: the per-method options of a service (docs/contracts.md, "Options").
 *
 *   topic          = "a.b.c"                       rpc, event  literal topic
 *   timeout_ms     = 2000                          rpc, event  1 .. 2^31-1
 *   durable        = true | false                  rpc, event  rpc: a durable request (waits in a
 *                                                              stream while no instance serves)
 *   max_deliveries = 5                             event       1 .. 2^31-1
 *   backoff        = exponential(100ms, 2.0, 30s)  event       durations in ms, s, m or h;
 *                                                              factor 1.0 .. 100.0; max >= initial
 *   dlq            = "a.b.dead"                    event       literal topic, not the event's own
 *
 * A method without a topic option gets package.service.method in lower case, which must fit the
 * broker's default max_topic.
 */
#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "driver/topic.h"
#include "driver/wire.h"
#include "gen/gen.h"

enum opt_id { OPT_TOPIC, OPT_TIMEOUT, OPT_DURABLE, OPT_MAX_DELIVERIES, OPT_BACKOFF, OPT_DLQ, OPT_COUNT };

static const struct {
    const char *name;
    bool rpc; /* also valid for an rpc (every option is valid for events) */
} opts[OPT_COUNT] = {
    [OPT_TOPIC] = {"topic", true},      [OPT_TIMEOUT] = {"timeout_ms", true},
    [OPT_DURABLE] = {"durable", true},  [OPT_MAX_DELIVERIES] = {"max_deliveries", false},
    [OPT_BACKOFF] = {"backoff", false}, [OPT_DLQ] = {"dlq", false},
};

#define INT31_MAX 2147483647u

struct opt_ctx {
    struct gen_diag *d;
    struct gen_arena *a;
    const struct gen_unit *u;
    struct gen_method *m;
};

__attribute__((format(printf, 3, 4))) static void err_at(struct opt_ctx *o, struct gen_loc loc, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    gen_error_at(o->d, &o->u->src, loc.line, loc.col, "%s", buf);
}

const char *gen_topic_problem(const char *t, size_t len)
{
    size_t i, token = 0;

    if (len == 0)
        return "empty topic";
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];

        if (c == '.') {
            if (token == 0)
                return "empty token";
            token = 0;
            continue;
        }
        if (c == '*' || c == '>')
            return "wildcards are not allowed";
        if (c < 0x21 || c > 0x7e)
            return "bytes outside 0x21..0x7e are not allowed";
        token++;
    }
    if (token == 0)
        return "empty token";
    assert(topic_check_literal(t, len) == 0); /* the broker must accept what the contract accepts */
    return NULL;
}

static bool check_topic_value(struct opt_ctx *o, const struct gen_option *opt)
{
    const char *why;

    if (opt->value.kind != GEN_VAL_STRING) {
        err_at(o, opt->value.loc, "option '%s' expects a topic string", opt->name);
        return false;
    }
    why = gen_topic_problem(opt->value.text, opt->value.len);
    if (why != NULL) {
        err_at(o, opt->value.loc, "invalid topic \"%s\": %s", gen_escape(o->a, opt->value.text, opt->value.len), why);
        return false;
    }
    return true;
}

/* A whole number 1 .. 2^31-1 without a unit. */
static bool check_count(struct opt_ctx *o, const struct gen_option *opt, uint32_t *out)
{
    const struct gen_value *v = &opt->value;

    if (v->kind != GEN_VAL_INT || v->unit != NULL) {
        err_at(o, v->loc, "option '%s' expects a whole number", opt->name);
        return false;
    }
    if (v->negative || v->ival == 0) {
        err_at(o, v->loc, "option '%s' must be at least 1", opt->name);
        return false;
    }
    if (v->ival > INT31_MAX) {
        err_at(o, v->loc, "option '%s' must be at most %u", opt->name, INT31_MAX);
        return false;
    }
    *out = (uint32_t)v->ival;
    return true;
}

/* A duration argument such as 100ms or 30s, converted to milliseconds. */
static bool check_duration(struct opt_ctx *o, const struct gen_value *v, const char *what, uint32_t *ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    size_t i;

    if (v->kind != GEN_VAL_INT || v->unit == NULL) {
        err_at(o, v->loc, "backoff %s must be a whole number with a unit (ms, s, m or h), like 100ms", what);
        return false;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(v->unit, units[i].unit) == 0)
            break;
    if (i == sizeof(units) / sizeof(units[0])) {
        err_at(o, v->loc, "unknown duration unit '%s' (use ms, s, m or h)", v->unit);
        return false;
    }
    if (v->negative || v->ival == 0) {
        err_at(o, v->loc, "backoff %s must be greater than 0", what);
        return false;
    }
    if (v->ival > INT31_MAX / units[i].ms) {
        err_at(o, v->loc, "backoff %s must be at most %ums", what, INT31_MAX);
        return false;
    }
    *ms = (uint32_t)(v->ival * units[i].ms);
    return true;
}

static bool check_factor(struct opt_ctx *o, const struct gen_value *v, double *factor)
{
    if ((v->kind != GEN_VAL_INT && v->kind != GEN_VAL_FLOAT) || v->unit != NULL) {
        err_at(o, v->loc, "backoff factor must be a number, like 2.0");
        return false;
    }
    if (v->negative || v->fval < 1.0) {
        err_at(o, v->loc, "backoff factor must be at least 1.0");
        return false;
    }
    if (v->fval > 100.0) {
        err_at(o, v->loc, "backoff factor must be at most 100.0");
        return false;
    }
    *factor = v->fval;
    return true;
}

static bool check_backoff(struct opt_ctx *o, const struct gen_option *opt)
{
    const struct gen_value *v = &opt->value;
    struct gen_backoff b;

    if (v->kind != GEN_VAL_CALL) {
        err_at(o, v->loc, "option 'backoff' expects exponential(initial, factor, max)");
        return false;
    }
    if (strcmp(v->text, "exponential") != 0) {
        err_at(o, v->loc, "unknown backoff '%s' (only exponential(initial, factor, max) is supported)", v->text);
        return false;
    }
    if (v->nargs != 3) {
        err_at(o, v->loc, "exponential() takes 3 arguments (initial, factor, max), found %zu", v->nargs);
        return false;
    }
    if (!check_duration(o, &v->args[0], "initial", &b.initial_ms) || !check_factor(o, &v->args[1], &b.factor) ||
        !check_duration(o, &v->args[2], "max", &b.max_ms))
        return false;
    if (b.max_ms < b.initial_ms) {
        err_at(o, v->args[2].loc, "backoff max (%ums) is less than initial (%ums)", b.max_ms, b.initial_ms);
        return false;
    }
    o->m->has_backoff = true;
    o->m->backoff = b;
    return true;
}

static void check_one(struct opt_ctx *o, const struct gen_option *opt, enum opt_id id)
{
    struct gen_method *m = o->m;
    const struct gen_value *v = &opt->value;

    switch (id) {
    case OPT_TOPIC:
        if (check_topic_value(o, opt))
            m->topic = v->text;
        break;
    case OPT_TIMEOUT:
        check_count(o, opt, &m->timeout_ms);
        break;
    case OPT_DURABLE:
        if (v->kind == GEN_VAL_IDENT && (strcmp(v->text, "true") == 0 || strcmp(v->text, "false") == 0))
            m->durable = strcmp(v->text, "true") == 0;
        else
            err_at(o, v->loc, "option 'durable' expects true or false");
        break;
    case OPT_MAX_DELIVERIES:
        check_count(o, opt, &m->max_deliveries);
        break;
    case OPT_BACKOFF:
        check_backoff(o, opt);
        break;
    case OPT_DLQ:
        if (check_topic_value(o, opt))
            m->dlq = v->text;
        break;
    default:
        assert(!"unknown option id");
    }
}

/* An explicit topic or dlq is a string, which the lexer keeps within GEN_MAX_TOKEN bytes: only
 * default topics can be too long for the broker. */
_Static_assert(GEN_MAX_TOKEN <= WIRE_DEFAULT_MAX_TOPIC, "a topic string always fits the broker's max_topic");

static const char *default_topic(struct gen_arena *a, const struct gen_unit *u, const struct gen_service *s,
                                 const struct gen_method *m)
{
    size_t n = strlen(u->pkg) + strlen(s->name) + strlen(m->name) + 3;
    char *t = gen_alloc(a, n);
    size_t i;

    snprintf(t, n, "%s.%s.%s", u->pkg, s->name, m->name);
    for (i = 0; t[i] != '\0'; i++)
        t[i] = (char)tolower((unsigned char)t[i]);
    return t;
}

void gen_check_options(struct gen_diag *diag, struct gen_arena *a, const struct gen_unit *u, const struct gen_service *s,
                       struct gen_method *m)
{
    struct opt_ctx o = {diag, a, u, m};
    const struct gen_option *opt, *dlq = NULL;
    const struct gen_option *seen[OPT_COUNT] = {NULL};
    size_t id;

    for (opt = m->options; opt != NULL; opt = opt->next) {
        for (id = 0; id < OPT_COUNT; id++)
            if (strcmp(opts[id].name, opt->name) == 0)
                break;
        if (id == OPT_COUNT) {
            err_at(&o, opt->loc, "unknown option '%s'", opt->name);
            continue;
        }
        if (m->kind == GEN_RPC && !opts[id].rpc) {
            err_at(&o, opt->loc, "option '%s' is only valid for events", opt->name);
            continue;
        }
        if (seen[id] != NULL) {
            err_at(&o, opt->loc, "option '%s' is already set at line %d", opt->name, seen[id]->loc.line);
            continue;
        }
        seen[id] = opt;
        if (id == OPT_DLQ)
            dlq = opt;
        check_one(&o, opt, (enum opt_id)id);
    }
    if (m->topic == NULL && u->pkg != NULL) {
        m->topic = default_topic(a, u, s, m);
        if (strlen(m->topic) > WIRE_DEFAULT_MAX_TOPIC)
            err_at(&o, m->loc,
                   "the default topic '%s' of %s %s.%s is %zu bytes, over the broker's limit of %u (max_topic): set a shorter "
                   "one with the option topic = \"...\"",
                   gen_escape(a, m->topic, strlen(m->topic)), m->kind == GEN_RPC ? "rpc" : "event", s->name, m->name,
                   strlen(m->topic), WIRE_DEFAULT_MAX_TOPIC);
    }
    if (dlq != NULL && m->dlq != NULL && m->topic != NULL && strcmp(m->dlq, m->topic) == 0)
        err_at(&o, dlq->value.loc, "dlq topic must differ from the event's topic");
}
