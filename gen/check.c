/*
 * check: the semantic rules of a set of loaded contracts (docs/contracts.md, "Rules").
 *
 * Pass 1 declares every message, enum, enum value and service of every unit under its full name
 * "package.Name" (enum values are siblings of their enum, as in protobuf). Pass 2 walks each
 * unit: field and method types resolve against that table, but only to the unit itself or a
 * file it imports directly; field numbers, enum values and method options are checked.
 *
 * Besides protobuf's own rules, names that generated C code could not tell apart are rejected:
 * types, services and fields whose names differ only in case or underscores (protobuf-c lower-
 * cases names into function names), fields named after C or C++ keywords or predefined macros, a
 * field named "base" (every protobuf-c struct has one) and a field n_X beside a repeated field X
 * (protobuf-c's count); field names are compared as protobuf-c spells them, in lower case.
 * All tables are hashed, so checking is linear in the size of the input.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"

enum sym_kind { SYM_MESSAGE, SYM_ENUM, SYM_ENUM_VALUE, SYM_SERVICE, SYM_OTHER };

struct sym {
    const char *key;
    const char *name; /* as declared */
    enum sym_kind kind;
    void *ptr;
    struct gen_loc loc;
    const struct gen_unit *unit;
};

struct symtab {
    struct sym *slots;
    size_t cap; /* a power of two */
    size_t n;
};

struct checker {
    struct gen_ctx *c;
    struct gen_arena *a;
    struct gen_unit *u;   /* the unit being checked */
    struct symtab names;  /* "pkg.Name": messages, enums, enum values, services */
    struct symtab folded; /* folded "pkg.name" of messages, enums and services */
    struct symtab topics; /* method topics */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 14695981039346656037u;

    while (*s != '\0')
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return h;
}

static struct sym *slot_for(struct symtab *t, const char *key)
{
    size_t i = (size_t)hash(key) & (t->cap - 1);

    while (t->slots[i].key != NULL && strcmp(t->slots[i].key, key) != 0)
        i = (i + 1) & (t->cap - 1);
    return &t->slots[i];
}

static const struct sym *sym_find(struct symtab *t, const char *key)
{
    struct sym *s;

    if (t->cap == 0)
        return NULL;
    s = slot_for(t, key);
    return s->key != NULL ? s : NULL;
}

/* Adds s unless its key is taken; returns the entry that holds the key already, or NULL. */
static const struct sym *sym_add(struct gen_arena *a, struct symtab *t, const struct sym *s)
{
    struct sym *slot;

    if (t->n * 2 >= t->cap) {
        struct symtab bigger = {NULL, t->cap == 0 ? 16 : t->cap * 2, t->n};
        size_t i;

        bigger.slots = gen_alloc(a, bigger.cap * sizeof(*bigger.slots));
        for (i = 0; i < t->cap; i++)
            if (t->slots[i].key != NULL)
                *slot_for(&bigger, t->slots[i].key) = t->slots[i];
        *t = bigger;
    }
    slot = slot_for(t, s->key);
    if (slot->key != NULL)
        return slot;
    *slot = *s;
    t->n++;
    assert(t->n < t->cap);
    return NULL;
}

__attribute__((format(printf, 2, 3))) static const char *fmt(struct checker *k, const char *f, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, f);
    vsnprintf(buf, sizeof(buf), f, ap);
    va_end(ap);
    return gen_strndup(k->a, buf, strlen(buf));
}

#define ERR(k, loc, ...) gen_error_at(&(k)->c->diag, &(k)->u->src, (loc).line, (loc).col, __VA_ARGS__)

/* Where an earlier declaration is, as seen from the unit being checked: "line 3" or "a.trpc:3". */
static const char *where(struct checker *k, const struct sym *s)
{
    if (s->unit == k->u)
        return fmt(k, "line %d", s->loc.line);
    return fmt(k, "%s:%d", s->unit->src.path, s->loc.line);
}

static const char *full_name(struct checker *k, const struct gen_unit *u, const char *name)
{
    return fmt(k, "%s.%s", u->pkg != NULL ? u->pkg : "", name);
}

/* Lower case without underscores: names that differ only in these collide in generated C. */
static const char *fold(struct checker *k, const char *name)
{
    size_t n = strlen(name), o = 0, i;
    char *out = gen_alloc(k->a, n + 1);

    for (i = 0; i < n; i++)
        if (name[i] != '_')
            out[o++] = (char)tolower((unsigned char)name[i]);
    out[o] = '\0';
    return out;
}

static void declare(struct checker *k, enum sym_kind kind, void *ptr, const char *name, struct gen_loc loc, bool folded)
{
    struct sym s = {full_name(k, k->u, name), name, kind, ptr, loc, k->u};
    const struct sym *old = sym_add(k->a, &k->names, &s);

    if (old != NULL) {
        ERR(k, loc, "duplicate name '%s' (first declared at %s)", name, where(k, old));
        return;
    }
    if (!folded)
        return;
    s.key = fold(k, s.key);
    old = sym_add(k->a, &k->folded, &s);
    if (old != NULL)
        ERR(k, loc, "name '%s' differs from '%s' (%s) only in case or underscores", name, old->name, where(k, old));
}

/* protoc-c drops the underscores of a package component when it camel-cases it (ToCamel), so a
 * component of underscores only vanishes from protobuf-c's names (_ gives Doneget, not _Doneget)
 * while the stubs' own spelling keeps it: refused. */
static void check_package(struct checker *k)
{
    const char *p = k->u->pkg;

    while (*p != '\0') {
        size_t n = strcspn(p, "."), i;

        for (i = 0; i < n && p[i] == '_'; i++)
            ;
        if (i == n) {
            ERR(k, k->u->pkg_loc, "package component '%.*s' is made of underscores only, which protobuf-c drops from its names",
                (int)n, p);
            return;
        }
        p += n + (p[n] == '.');
    }
}

static void declare_unit(struct checker *k)
{
    struct gen_unit *u = k->u;
    struct gen_message *m;
    struct gen_enum *e;
    struct gen_enum_value *v;
    struct gen_service *s;

    if (u->pkg == NULL)
        gen_error_at(&k->c->diag, &u->src, 1, 1, "missing package declaration");
    else
        check_package(k);
    for (m = u->messages; m != NULL; m = m->next)
        declare(k, SYM_MESSAGE, m, m->name, m->loc, true);
    for (e = u->enums; e != NULL; e = e->next) {
        declare(k, SYM_ENUM, e, e->name, e->loc, true);
        for (v = e->values; v != NULL; v = v->next)
            declare(k, SYM_ENUM_VALUE, v, v->name, v->loc, false);
    }
    for (s = u->services; s != NULL; s = s->next)
        declare(k, SYM_SERVICE, s, s->name, s->loc, true);
}

static bool imports_directly(const struct gen_unit *u, const struct gen_unit *other)
{
    const struct gen_import *im;

    if (u == other)
        return true;
    for (im = u->imports; im != NULL; im = im->next)
        if (im->unit == other)
            return true;
    return false;
}

static const char *kind_name(enum sym_kind kind)
{
    switch (kind) {
    case SYM_MESSAGE:
        return "a message";
    case SYM_ENUM:
        return "an enum";
    case SYM_ENUM_VALUE:
        return "an enum value";
    case SYM_SERVICE:
        return "a service";
    default:
        return "something else";
    }
}

/* A name a direct import of the unit declares under its own package, for "did you mean". */
static const char *suggest(struct checker *k, const char *name)
{
    const struct gen_import *im;

    for (im = k->u->imports; im != NULL; im = im->next) {
        const struct sym *s;

        if (im->unit == NULL || im->unit->pkg == NULL)
            continue;
        s = sym_find(&k->names, full_name(k, im->unit, name));
        if (s != NULL && s->unit == im->unit)
            return s->key;
    }
    return NULL;
}

/* Resolves t; returns its entry, or NULL after reporting why it cannot be used. */
static const struct sym *resolve(struct checker *k, struct gen_typeref *t)
{
    const char *key = strchr(t->name, '.') != NULL ? t->name : full_name(k, k->u, t->name);
    const struct sym *s = sym_find(&k->names, key);
    const char *hint;

    assert(t->scalar == GEN_SCALAR_NONE);
    if (s == NULL) {
        hint = strchr(t->name, '.') == NULL ? suggest(k, t->name) : NULL;
        if (hint != NULL)
            ERR(k, t->loc, "undefined type '%s' (did you mean '%s'?)", t->name, hint);
        else
            ERR(k, t->loc, "undefined type '%s'", t->name);
        return NULL;
    }
    if (!imports_directly(k->u, s->unit)) {
        ERR(k, t->loc, "type '%s' is declared in '%s', which this file does not import", t->name, s->unit->src.path);
        return NULL;
    }
    t->unit = (struct gen_unit *)s->unit;
    if (s->kind == SYM_MESSAGE)
        t->msg = s->ptr;
    else if (s->kind == SYM_ENUM)
        t->en = s->ptr;
    return s;
}

static void check_field_type(struct checker *k, struct gen_field *f)
{
    const struct sym *s;

    if (f->type.scalar != GEN_SCALAR_NONE)
        return;
    s = resolve(k, &f->type);
    if (s != NULL && s->kind != SYM_MESSAGE && s->kind != SYM_ENUM)
        ERR(k, f->type.loc, "'%s' is %s, not a message or enum type", f->type.name, kind_name(s->kind));
}

/* An rpc argument or result, or an event payload: must be a message. */
static void check_method_type(struct checker *k, struct gen_typeref *t, const char *role)
{
    const struct sym *s;

    if (t->scalar != GEN_SCALAR_NONE) {
        ERR(k, t->loc, "%s must be a message; '%s' is a scalar type", role, t->name);
        return;
    }
    s = resolve(k, t);
    if (s != NULL && s->kind != SYM_MESSAGE)
        ERR(k, t->loc, "%s must be a message; '%s' is %s", role, t->name, kind_name(s->kind));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted for bsearch: names a generated C struct member cannot have. */
/* clang-format off */
static const char *const c_keywords[] = {
    "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn", "_Static_assert",
    "_Thread_local", "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case",
    "catch", "char", "char16_t", "char32_t", "char8_t", "class", "co_await", "co_return", "co_yield", "compl",
    "concept", "const", "const_cast", "consteval", "constexpr", "constinit", "continue", "decltype", "default",
    "delete", "do", "double", "dynamic_cast", "else", "enum", "explicit", "export", "extern", "false", "float", "for",
    "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
    "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast", "requires",
    "restrict", "return", "short", "signed", "sizeof", "static", "static_assert", "static_cast", "struct", "switch",
    "template", "this", "thread_local", "throw", "true", "try", "typedef", "typeid", "typename", "typeof", "typeof_unqual",
    "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
};
/* clang-format on */

/* Sorted for bsearch: lower-case object-like macros that gcc -std=gnu11 predefines (linux, unix;
 * i386 on 32-bit x86) or that headers a program includes beside the stubs define (<errno.h>,
 * <stdnoreturn.h>, <complex.h>, <signal.h>, <sys/stat.h>). A member of that name is replaced by
 * the macro's expansion. */
static const char *const c_macros[] = {
    "complex",    "errno",        "i386",     "imaginary", "linux",    "noreturn",
    "sa_handler", "sa_sigaction", "st_atime", "st_ctime",  "st_mtime", "unix",
};

static bool in_list(const char *const *list, size_t n, const char *name)
{
    return bsearch(&name, list, n, sizeof(list[0]), cmp_str) != NULL;
}

static bool is_c_keyword(const char *name)
{
    return in_list(c_keywords, sizeof(c_keywords) / sizeof(c_keywords[0]), name);
}

static bool is_c_macro(const char *name)
{
    return in_list(c_macros, sizeof(c_macros) / sizeof(c_macros[0]), name);
}

/* A field's member name as protoc-c writes it: lower case (its FieldName); it then appends '_' to
 * the C++ keywords of its own list, which the checker refuses anyway. */
static const char *c_member(struct checker *k, const char *name)
{
    char *out = gen_strndup(k->a, name, strlen(name)), *p;

    for (p = out; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

static void check_field_number(struct checker *k, struct symtab *numbers, struct gen_field *f)
{
    struct sym s = {NULL, f->name, SYM_OTHER, f, f->name_loc, k->u};
    const struct sym *old;

    if (f->number == 0 || f->number > GEN_MAX_FIELD_NUMBER) {
        ERR(k, f->num_loc, "field number must be between 1 and %d", GEN_MAX_FIELD_NUMBER);
        return;
    }
    if (f->number >= 19000 && f->number <= 19999) {
        ERR(k, f->num_loc, "field numbers 19000 to 19999 are reserved by protobuf");
        return;
    }
    s.key = fmt(k, "%llu", (unsigned long long)f->number);
    old = sym_add(k->a, numbers, &s);
    if (old != NULL)
        ERR(k, f->num_loc, "field number %llu is already used by '%s' (%s)", (unsigned long long)f->number, old->name,
            where(k, old));
}

static void check_field_name(struct checker *k, struct symtab *names, struct gen_field *f)
{
    struct sym s = {fold(k, f->name), f->name, SYM_OTHER, f, f->name_loc, k->u};
    const char *member = c_member(k, f->name);
    /* the lower-casing, when that is what makes the name a problem */
    const char *as = strcmp(member, f->name) != 0 ? fmt(k, " once protobuf-c lower-cases it to '%s'", member) : "";
    const struct sym *old;

    if (is_c_keyword(member)) {
        ERR(k, f->name_loc, "field name '%s' is a C or C++ keyword%s", f->name, as);
        return;
    }
    if (strcmp(member, "base") == 0) {
        ERR(k, f->name_loc, "field name '%s' is reserved%s (protobuf-c structs use %s)", f->name, as,
            *as != '\0' ? "'base'" : "it");
        return;
    }
    if (is_c_macro(member)) {
        ERR(k, f->name_loc, "field name '%s' is a macro the C compiler or a standard header defines%s", f->name, as);
        return;
    }
    if (strncmp(member, "__", 2) == 0) {
        ERR(k, f->name_loc, "field name '%s' starts with '__', which C reserves for the compiler", f->name);
        return;
    }
    old = sym_add(k->a, names, &s);
    if (old != NULL && strcmp(old->name, f->name) == 0)
        ERR(k, f->name_loc, "duplicate field name '%s' (first declared at %s)", f->name, where(k, old));
    else if (old != NULL)
        ERR(k, f->name_loc, "field name '%s' differs from '%s' (%s) only in case or underscores", f->name, old->name,
            where(k, old));
}

static void check_message(struct checker *k, struct gen_message *m)
{
    struct symtab numbers = {NULL, 0, 0}, names = {NULL, 0, 0};
    struct gen_field *f;

    for (f = m->fields; f != NULL && !gen_diag_full(&k->c->diag); f = f->next) {
        check_field_name(k, &names, f);
        check_field_number(k, &numbers, f);
        check_field_type(k, f);
    }
    /* protobuf-c adds a count member n_X for each repeated field X */
    for (f = m->fields; f != NULL && !gen_diag_full(&k->c->diag); f = f->next) {
        const struct sym *clash;

        if (!f->repeated)
            continue;
        clash = sym_find(&names, fold(k, fmt(k, "n_%s", f->name)));
        if (clash != NULL)
            ERR(k, ((const struct gen_field *)clash->ptr)->name_loc,
                "field name '%s' clashes with the count protobuf-c generates for repeated field '%s'", clash->name, f->name);
    }
}

/*
 * protoc's proto3 rule for enum value names: with the enum's name as a prefix removed (ignoring
 * case and underscores) and the rest in PascalCase, no two values may be equal, so COLOR_RED and
 * RED cannot both be in enum Color. This mirrors PrefixRemover and EnumValueToPascalCase in
 * protobuf's descriptor.cc.
 */
static const char *enum_value_stem(struct checker *k, const char *enum_name, const char *value)
{
    char prefix[GEN_MAX_IDENT + 1];
    size_t n = strlen(value), plen = 0, i, j, o = 0;
    char *out = gen_alloc(k->a, n + 1);
    bool strip = true, upper = true;

    for (i = 0; enum_name[i] != '\0' && plen < GEN_MAX_IDENT; i++)
        if (enum_name[i] != '_')
            prefix[plen++] = (char)tolower((unsigned char)enum_name[i]);
    for (i = 0, j = 0; i < n && j < plen; i++) {
        if (value[i] == '_')
            continue;
        if (tolower((unsigned char)value[i]) != prefix[j++]) {
            strip = false;
            break;
        }
    }
    if (strip && j < plen)
        strip = false;
    while (strip && i < n && value[i] == '_')
        i++;
    if (!strip || i == n)
        i = 0; /* no prefix, or nothing would be left: the whole name counts */
    for (; i < n; i++) {
        if (value[i] == '_') {
            upper = true;
            continue;
        }
        out[o++] = (char)(upper ? toupper((unsigned char)value[i]) : tolower((unsigned char)value[i]));
        upper = false;
    }
    out[o] = '\0';
    return out;
}

static void check_enum(struct checker *k, struct gen_enum *e)
{
    struct symtab numbers = {NULL, 0, 0}, stems = {NULL, 0, 0};
    struct gen_enum_value *v;

    if (e->values == NULL) {
        ERR(k, e->loc, "enum '%s' has no values", e->name);
        return;
    }
    if (e->values->number != 0)
        ERR(k, e->values->num_loc, "the first value of enum '%s' must be 0", e->name);
    for (v = e->values; v != NULL && !gen_diag_full(&k->c->diag); v = v->next) {
        struct sym s = {NULL, v->name, SYM_OTHER, v, v->loc, k->u};
        const struct sym *old;

        /* protoc reads these words at the start of an enum's statement as an option or a
         * reserved range, whatever follows */
        if (strcmp(v->name, "option") == 0 || strcmp(v->name, "reserved") == 0) {
            ERR(k, v->loc, "enum value name '%s' is a word protobuf's grammar reserves inside an enum", v->name);
            continue;
        }
        if (v->number < INT32_MIN || v->number > INT32_MAX) {
            ERR(k, v->num_loc, "enum value must be between %d and %d", INT32_MIN, INT32_MAX);
            continue;
        }
        s.key = enum_value_stem(k, e->name, v->name);
        old = sym_add(k->a, &stems, &s);
        if (old != NULL) {
            ERR(k, v->loc,
                "enum value name '%s' is too close to '%s' (%s): protobuf compares them without the prefix '%s' and case", v->name,
                old->name, where(k, old), e->name);
            continue;
        }
        s.key = fmt(k, "%lld", (long long)v->number);
        old = sym_add(k->a, &numbers, &s);
        if (old != NULL)
            ERR(k, v->num_loc, "enum value %lld is already used by '%s' (%s)", (long long)v->number, old->name, where(k, old));
    }
}

static void check_method(struct checker *k, struct symtab *names, struct gen_service *s, struct gen_method *m)
{
    struct sym sm = {fold(k, m->name), m->name, SYM_OTHER, m, m->loc, k->u};
    const struct sym *old = sym_add(k->a, names, &sm);

    if (old != NULL && strcmp(old->name, m->name) == 0)
        ERR(k, m->loc, "duplicate method name '%s' (first declared at %s)", m->name, where(k, old));
    else if (old != NULL)
        ERR(k, m->loc, "method name '%s' differs from '%s' (%s) only in case or underscores", m->name, old->name, where(k, old));
    check_method_type(k, &m->req, m->kind == GEN_RPC ? "rpc argument" : "event payload");
    if (m->kind == GEN_RPC)
        check_method_type(k, &m->resp, "rpc result");
    gen_check_options(&k->c->diag, k->a, k->u, s, m);
    if (m->topic != NULL) {
        struct sym st = {m->topic, fmt(k, "%s.%s", s->name, m->name), SYM_OTHER, m, m->loc, k->u};

        old = sym_add(k->a, &k->topics, &st);
        if (old != NULL)
            ERR(k, m->loc, "topic '%s' is already used by %s (%s)", m->topic, old->name, where(k, old));
    }
}

/* The service's group names (gen/emit.c writes them) must fit the broker: the queue group
 * package.service in lower case, and for durable methods the consumer group, the same with '_'
 * for '.'. Both have one length. */
static void check_groups(struct checker *k, const struct gen_service *s)
{
    size_t n = strlen(k->u->pkg) + 1 + strlen(s->name);
    const struct gen_method *m;
    char *g = (char *)fmt(k, "%s.%s", k->u->pkg, s->name), *p;

    for (p = g; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    if (n > GEN_MAX_QUEUE_GROUP) {
        ERR(k, s->loc,
            "the queue group '%s' of service %s is %zu bytes, over the broker's limit of %d: shorten the package or service name",
            gen_escape(k->a, g, n), s->name, n, GEN_MAX_QUEUE_GROUP);
        return;
    }
    for (m = s->methods; m != NULL && !m->durable; m = m->next)
        ;
    if (m == NULL || n <= GEN_MAX_DURABLE_GROUP)
        return;
    for (p = g; *p != '\0'; p++)
        *p = *p == '.' ? '_' : *p;
    ERR(k, s->loc,
        "the consumer group '%s' of service %s (for durable %s %s) is %zu bytes, over the broker's limit of %d: shorten the "
        "package or service name",
        gen_escape(k->a, g, n), s->name, m->kind == GEN_RPC ? "rpc" : "event", m->name, n, GEN_MAX_DURABLE_GROUP);
}

static void check_unit(struct checker *k)
{
    struct gen_message *m;
    struct gen_enum *e;
    struct gen_service *s;
    struct gen_method *mt;

    for (m = k->u->messages; m != NULL && !gen_diag_full(&k->c->diag); m = m->next)
        check_message(k, m);
    for (e = k->u->enums; e != NULL && !gen_diag_full(&k->c->diag); e = e->next)
        check_enum(k, e);
    for (s = k->u->services; s != NULL && !gen_diag_full(&k->c->diag); s = s->next) {
        struct symtab names = {NULL, 0, 0};

        for (mt = s->methods; mt != NULL && !gen_diag_full(&k->c->diag); mt = mt->next)
            check_method(k, &names, s, mt);
        if (k->u->pkg != NULL && !gen_diag_full(&k->c->diag))
            check_groups(k, s);
    }
}

/* Each unit writes stem.proto, stem.pb-c.c and stem.pb-c.h into one directory. */
static void check_stems(struct gen_ctx *c)
{
    struct gen_unit *u, *v;

    for (u = c->units; u != NULL; u = u->next)
        for (v = c->units; v != u; v = v->next)
            if (strcmp(u->stem, v->stem) == 0)
                gen_error(&c->diag, "'%s' and '%s' would both write %s.proto", v->src.path, u->src.path, u->stem);
}

int gen_check(struct gen_ctx *c)
{
    struct checker k;

    if (c->diag.errors > 0)
        return -EINVAL; /* syntax errors: the tree is partial and would only cause follow-on errors */
    memset(&k, 0, sizeof(k));
    k.c = c;
    k.a = &c->arena;
    check_stems(c);
    for (k.u = c->units; k.u != NULL && !gen_diag_full(&c->diag); k.u = k.u->next)
        declare_unit(&k);
    for (k.u = c->units; k.u != NULL && !gen_diag_full(&c->diag); k.u = k.u->next)
        check_unit(&k);
    if (c->diag.errors == 0)
        gen_check_c_names(c); /* names of resolved types only: after everything else passed */
    return c->diag.errors > 0 ? -EINVAL : 0;
}
