/*
 * cname: the C names of a contract. protobuf-c's are reproduced exactly as protoc-c 1.4 spells
 * them (its ToCamel, CamelToLower and CamelToUpper), since the stubs call the code it writes:
 *
 *   package acme.store; message OrderItem  ->  Acme__Store__OrderItem, acme__store__order_item__unpack,
 *                                              ACME__STORE__ORDER_ITEM__INIT
 *
 * trpc-gen's own names join the same lower-case words with single underscores, so they never
 * meet protobuf-c's: service Inventory, method GetItem  ->  acme_store_inventory_get_item.
 *
 * gen_check_c_names() rejects contracts whose methods would generate one C name twice (method
 * ChargeAsync beside Charge, whose async call is charge_async; or ChargeCleanup beside rpc Charge,
 * whose handler table member on_charge_cleanup would be the one's handler and the other's
 * cleanup), and services without methods, whose handler table would be an empty struct (not C,
 * and of different sizes in C and C++).
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"

enum spelling { CAMEL, LOWER, UPPER };

/* Appends name spelled as protoc-c does to out (which has room for 2 * strlen(name) bytes). */
static char *spell(char *out, const char *name, enum spelling how)
{
    bool cap_next = true, was_upper = true;

    for (; *name != '\0'; name++) {
        unsigned char ch = (unsigned char)*name;

        if (how == CAMEL) {
            if (ch == '_') {
                cap_next = true;
                continue;
            }
            *out++ = cap_next ? (char)toupper(ch) : (char)ch;
            cap_next = false;
        } else if (isupper(ch)) {
            if (!was_upper)
                *out++ = '_';
            *out++ = how == LOWER ? (char)tolower(ch) : (char)ch;
            was_upper = true;
        } else {
            *out++ = how == LOWER ? (char)ch : (char)toupper(ch);
            was_upper = false;
        }
    }
    return out;
}

/* The dot-separated words of qname spelled `how`, joined by sep, then sep and name if not NULL. */
static const char *join(struct gen_arena *a, const char *qname, const char *name, const char *sep, enum spelling how)
{
    size_t cap = 2 * (strlen(qname) + (name != NULL ? strlen(name) : 0)) + 8 * strlen(sep) + 1;
    char *buf = gen_alloc(a, cap), *p = buf;
    char word[GEN_MAX_TOKEN + 1];
    const char *s = qname;

    for (;;) {
        size_t n = strcspn(s, ".");

        assert(n <= GEN_MAX_TOKEN);
        memcpy(word, s, n);
        word[n] = '\0';
        p = spell(p, word, how);
        if (s[n] == '\0')
            break;
        memcpy(p, sep, strlen(sep));
        p += strlen(sep);
        s += n + 1;
    }
    if (name != NULL) {
        memcpy(p, sep, strlen(sep));
        p = spell(p + strlen(sep), name, how);
    }
    assert((size_t)(p - buf) < cap);
    *p = '\0';
    return buf;
}

const char *gen_c_type(struct gen_arena *a, const struct gen_typeref *t)
{
    assert(t->msg != NULL);
    assert(t->unit != NULL);
    return join(a, t->unit->pkg, t->msg->name, "__", CAMEL);
}

const char *gen_c_type_lower(struct gen_arena *a, const struct gen_typeref *t)
{
    assert(t->msg != NULL);
    assert(t->unit != NULL);
    return join(a, t->unit->pkg, t->msg->name, "__", LOWER);
}

const char *gen_c_type_upper(struct gen_arena *a, const struct gen_typeref *t)
{
    assert(t->msg != NULL);
    assert(t->unit != NULL);
    return join(a, t->unit->pkg, t->msg->name, "__", UPPER);
}

const char *gen_c_service(struct gen_arena *a, const struct gen_unit *u, const struct gen_service *s, bool upper)
{
    return join(a, u->pkg, s->name, "_", upper ? UPPER : LOWER);
}

const char *gen_c_word(struct gen_arena *a, const char *name, bool upper)
{
    char *buf = gen_alloc(a, 2 * strlen(name) + 1);

    *spell(buf, name, upper ? UPPER : LOWER) = '\0';
    return buf;
}

/* ---- collisions -------------------------------------------------------------------------- */

/* The C names a method adds to the global namespace (the header's and the .c file's statics). */
static const char *const rpc_suffixes[] = {"",      "_async",    "_cb",    "_handler",   "_pending",
                                           "_done", "_serve_cb", "_TOPIC", "_TIMEOUT_MS"};
static const char *const event_suffixes[] = {"_publish", "_subscribe", "_unsubscribe", "_sub",    "_sub_cb",
                                             "_handler", "_dispatch",  "_serve_cb",    "_policy", "_TOPIC"};
/* ... and a service. */
static const char *const service_suffixes[] = {"_handlers", "_server", "_serve", "_stop", "_GROUP"};

struct cname {
    const char *name;
    const struct gen_unit *u;
    const struct gen_service *s;
    const struct gen_method *m; /* NULL: the service's own name */
    size_t seq;                 /* declaration order, for a stable sort */
};

struct cnames {
    struct cname *v;
    size_t n, cap;
};

static void add_name(struct gen_arena *a, struct cnames *t, const char *base, const char *suffix, const struct cname *who)
{
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *name = gen_alloc(a, n);

    snprintf(name, n, "%s%s", base, suffix);
    if (t->n == t->cap) {
        size_t cap = t->cap != 0 ? 2 * t->cap : 64;
        struct cname *v = gen_alloc(a, cap * sizeof(*v));

        if (t->n > 0)
            memcpy(v, t->v, t->n * sizeof(*v));
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n] = *who;
    t->v[t->n].name = name;
    t->v[t->n].seq = t->n;
    t->n++;
}

static int cmp_cname(const void *x, const void *y)
{
    const struct cname *a = x, *b = y;
    int d = strcmp(a->name, b->name);

    return d != 0 ? d : (a->seq < b->seq ? -1 : a->seq > b->seq);
}

static const char *describe(struct gen_arena *a, const struct cname *c)
{
    size_t n = strlen(c->s->name) + (c->m != NULL ? strlen(c->m->name) : 0) + 32;
    char *buf = gen_alloc(a, n);

    if (c->m != NULL)
        snprintf(buf, n, "method %s.%s", c->s->name, c->m->name);
    else
        snprintf(buf, n, "service %s", c->s->name);
    return buf;
}

static void collect_service(struct gen_ctx *c, struct cnames *t, const struct gen_unit *u, const struct gen_service *s)
{
    const char *sl = gen_c_service(&c->arena, u, s, false), *su = gen_c_service(&c->arena, u, s, true);
    struct cname who = {NULL, u, s, NULL, 0};
    const struct gen_method *m;
    size_t i;

    for (i = 0; i < sizeof(service_suffixes) / sizeof(service_suffixes[0]); i++)
        add_name(&c->arena, t, islower((unsigned char)service_suffixes[i][1]) ? sl : su, service_suffixes[i], &who);
    for (m = s->methods; m != NULL; m = m->next) {
        const char *const *sfx = m->kind == GEN_RPC ? rpc_suffixes : event_suffixes;
        size_t n = m->kind == GEN_RPC ? sizeof(rpc_suffixes) / sizeof(rpc_suffixes[0])
                                      : sizeof(event_suffixes) / sizeof(event_suffixes[0]);
        size_t lb = strlen(sl) + 2 * strlen(m->name) + 2, ub = lb;
        size_t mb = strlen(sl) + 2 * strlen(m->name) + sizeof("_handlers.on_");
        char *lower = gen_alloc(&c->arena, lb), *upper = gen_alloc(&c->arena, ub), *member = gen_alloc(&c->arena, mb);

        snprintf(lower, lb, "%s_%s", sl, gen_c_word(&c->arena, m->name, false));
        snprintf(upper, ub, "%s_%s", su, gen_c_word(&c->arena, m->name, true));
        who.m = m;
        for (i = 0; i < n; i++)
            add_name(&c->arena, t, sfx[i][0] == '\0' || islower((unsigned char)sfx[i][1]) ? lower : upper, sfx[i], &who);
        /* Members of the handler table, where rpc Charge's optional on_charge_cleanup is also rpc
         * or event ChargeCleanup's handler. The '.' keeps them apart from global names. */
        snprintf(member, mb, "%s_handlers.on_%s", sl, gen_c_word(&c->arena, m->name, false));
        add_name(&c->arena, t, member, "", &who);
        if (m->kind == GEN_RPC)
            add_name(&c->arena, t, member, "_cleanup", &who);
    }
}

static int cmp_seq(const void *x, const void *y)
{
    const struct cname *const *a = x, *const *b = y;

    return (*a)->seq < (*b)->seq ? -1 : (*a)->seq > (*b)->seq;
}

/* Whether an earlier collision (in dups[0..i)) was between the same two declarations. */
static bool reported(struct cname *const *dups, struct cname *const *firsts, size_t i)
{
    size_t j;

    for (j = 0; j < i; j++)
        if (dups[j]->m == dups[i]->m && dups[j]->s == dups[i]->s && firsts[j]->m == firsts[i]->m && firsts[j]->s == firsts[i]->s)
            return true;
    return false;
}

int gen_check_c_names(struct gen_ctx *c)
{
    struct cnames t = {NULL, 0, 0};
    struct cname **dups, **firsts;
    const struct gen_unit *u;
    const struct gen_service *s;
    size_t i, n = 0;

    for (u = c->units; u != NULL; u = u->next)
        for (s = u->services; s != NULL; s = s->next) {
            if (s->methods == NULL)
                gen_error_at(&c->diag, &u->src, s->loc.line, s->loc.col, "service '%s' has no methods", s->name);
            collect_service(c, &t, u, s);
        }
    if (t.n == 0)
        return c->diag.errors > 0 ? -EINVAL : 0;
    qsort(t.v, t.n, sizeof(*t.v), cmp_cname);
    /* each name that a later declaration generates again, against its first generator */
    dups = gen_alloc(&c->arena, t.n * sizeof(*dups));
    for (i = 1; i < t.n; i++)
        if (strcmp(t.v[i - 1].name, t.v[i].name) == 0)
            dups[n++] = &t.v[i];
    qsort(dups, n, sizeof(*dups), cmp_seq);
    firsts = gen_alloc(&c->arena, (n > 0 ? n : 1) * sizeof(*firsts));
    for (i = 0; i < n; i++) {
        struct cname *f = dups[i];

        while (f > t.v && strcmp(f[-1].name, f->name) == 0)
            f--;
        firsts[i] = f;
    }
    /* one error per pair of clashing declarations, in declaration order, naming the first clash */
    for (i = 0; i < n && !gen_diag_full(&c->diag); i++) {
        const struct cname *dup = dups[i], *first = firsts[i];
        const struct gen_loc *loc = dup->m != NULL ? &dup->m->loc : &dup->s->loc;

        if (reported(dups, firsts, i))
            continue;
        if (strchr(dup->name, '.') != NULL) {
            gen_error_at(&c->diag, &dup->u->src, loc->line, loc->col,
                         "%s would generate the member '%s' of struct %.*s, as %s (%s:%d) does", describe(&c->arena, dup),
                         strchr(dup->name, '.') + 1, (int)(strchr(dup->name, '.') - dup->name), dup->name,
                         describe(&c->arena, first), first->u->src.path, (first->m != NULL ? first->m->loc : first->s->loc).line);
            continue;
        }
        gen_error_at(&c->diag, &dup->u->src, loc->line, loc->col, "%s would generate the C name '%s', as %s (%s:%d) does",
                     describe(&c->arena, dup), dup->name, describe(&c->arena, first), first->u->src.path,
                     (first->m != NULL ? first->m->loc : first->s->loc).line);
    }
    return c->diag.errors > 0 ? -EINVAL : 0;
}
