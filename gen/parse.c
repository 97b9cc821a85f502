/*
 * parse: recursive descent over the contract grammar (docs/contracts.md has it in full):
 *
 *   file    = { "package" qname ";" | "import" string ";" | message | enum | service | ";" }
 *   message = "message" ident "{" { [ "repeated" ] qname ident "=" int ";" } "}"
 *   enum    = "enum" ident "{" { ident "=" [ "-" ] int ";" } "}"
 *   service = "service" ident "{" { method } "}"
 *   method  = "rpc" ident "(" qname ")" "returns" "(" qname ")" options
 *           | "event" ident "(" qname ")" options
 *   options = ";" | "{" { ident "=" value ";" } "}"
 *   value   = [ "-" ] int | [ "-" ] float | string | ident | ident "(" value { "," value } ")"
 *
 * Only values nest, and only one level, so the parser needs no depth limit. After an error it
 * skips to the end of the member (the next ';', or past a balanced "{...}") or, at the top level,
 * to the next declaration keyword, so one mistake yields one message and parsing goes on.
 */
#include <assert.h>
#include <string.h>

#include "gen/gen.h"

struct parser {
    struct gen_lexer lx;
    struct gen_tok cur;
    int prev_line; /* where the previous token ended, for "expected ';'" */
    int prev_col;
    struct gen_diag *diag;
    struct gen_arena *arena;
    struct gen_unit *unit;
    struct gen_import **import_tail;
    struct gen_message **message_tail;
    struct gen_enum **enum_tail;
    struct gen_service **service_tail;
};

static const char *const scalar_names[] = {
    [GEN_SCALAR_NONE] = NULL,       [GEN_SCALAR_BOOL] = "bool",     [GEN_SCALAR_INT32] = "int32",   [GEN_SCALAR_INT64] = "int64",
    [GEN_SCALAR_UINT32] = "uint32", [GEN_SCALAR_UINT64] = "uint64", [GEN_SCALAR_SINT32] = "sint32", [GEN_SCALAR_SINT64] = "sint64",
    [GEN_SCALAR_FLOAT] = "float",   [GEN_SCALAR_DOUBLE] = "double", [GEN_SCALAR_STRING] = "string", [GEN_SCALAR_BYTES] = "bytes",
};

static const char *const keywords[] = {"enum", "event", "import", "message", "package", "repeated", "returns", "rpc", "service"};

enum gen_scalar gen_scalar_lookup(const char *name)
{
    size_t i;

    for (i = 1; i < sizeof(scalar_names) / sizeof(scalar_names[0]); i++)
        if (strcmp(scalar_names[i], name) == 0)
            return (enum gen_scalar)i;
    return GEN_SCALAR_NONE;
}

const char *gen_scalar_name(enum gen_scalar s)
{
    assert((size_t)s < sizeof(scalar_names) / sizeof(scalar_names[0]));
    return scalar_names[s];
}

bool gen_is_keyword(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (strcmp(keywords[i], name) == 0)
            return true;
    return gen_scalar_lookup(name) != GEN_SCALAR_NONE;
}

static void next(struct parser *p)
{
    p->prev_line = p->cur.line;
    p->prev_col = p->cur.col + (int)p->cur.len;
    gen_lex_next(&p->lx, &p->cur);
}

static bool at(const struct parser *p, enum gen_tok_kind k)
{
    return p->cur.kind == k;
}

static bool at_word(const struct parser *p, const char *w)
{
    return p->cur.kind == GEN_TOK_IDENT && strcmp(p->cur.str, w) == 0;
}

static const char *describe(struct parser *p)
{
    const struct gen_tok *t = &p->cur;
    static const char *const punct[] = {
        [GEN_TOK_LBRACE] = "'{'", [GEN_TOK_RBRACE] = "'}'", [GEN_TOK_LPAREN] = "'('",
        [GEN_TOK_RPAREN] = "')'", [GEN_TOK_SEMI] = "';'",   [GEN_TOK_EQ] = "'='",
        [GEN_TOK_COMMA] = "','",  [GEN_TOK_DOT] = "'.'",    [GEN_TOK_MINUS] = "'-'",
    };
    char buf[GEN_MAX_TOKEN + 32];

    switch (t->kind) {
    case GEN_TOK_EOF:
        return "end of file";
    case GEN_TOK_ERROR:
        return "an invalid token";
    case GEN_TOK_IDENT:
        snprintf(buf, sizeof(buf), "%s'%s'", gen_is_keyword(t->str) ? "keyword " : "", t->str);
        return gen_strndup(p->arena, buf, strlen(buf));
    case GEN_TOK_INT:
    case GEN_TOK_FLOAT:
        snprintf(buf, sizeof(buf), "number '%s'", gen_escape(p->arena, t->text, t->len));
        return gen_strndup(p->arena, buf, strlen(buf));
    case GEN_TOK_STRING:
        return "a string";
    default:
        assert((size_t)t->kind < sizeof(punct) / sizeof(punct[0]));
        return punct[t->kind];
    }
}

/* Reports "expected <what>" at the current token, unless the lexer already reported it. */
static void expected(struct parser *p, const char *what)
{
    if (at(p, GEN_TOK_ERROR))
        return;
    gen_error_at(p->diag, &p->unit->src, p->cur.line, p->cur.col, "expected %s, found %s", what, describe(p));
}

static bool expect(struct parser *p, enum gen_tok_kind k, const char *what)
{
    if (!at(p, k)) {
        expected(p, what);
        return false;
    }
    next(p);
    return true;
}

/* A missing ';' is reported right after the token it should follow. */
static bool expect_semi(struct parser *p, const char *after)
{
    if (at(p, GEN_TOK_SEMI)) {
        next(p);
        return true;
    }
    if (!at(p, GEN_TOK_ERROR))
        gen_error_at(p->diag, &p->unit->src, p->prev_line, p->prev_col, "expected ';' after %s", after);
    return false;
}

/* Skips a balanced "{...}" starting at the current '{'. */
static void skip_block(struct parser *p)
{
    size_t depth = 0;

    assert(at(p, GEN_TOK_LBRACE));
    do {
        if (at(p, GEN_TOK_LBRACE))
            depth++;
        else if (at(p, GEN_TOK_RBRACE))
            depth--;
        next(p);
    } while (depth > 0 && !at(p, GEN_TOK_EOF));
}

static bool at_top_keyword(const struct parser *p);

/* Recovery inside a body: to just after the member's ';' or block, or to the body's '}', or to
 * a declaration keyword when the '}' is missing. */
static void sync_member(struct parser *p)
{
    while (!at(p, GEN_TOK_EOF) && !at(p, GEN_TOK_RBRACE) && !at_top_keyword(p)) {
        if (at(p, GEN_TOK_LBRACE)) {
            skip_block(p);
            return;
        }
        if (at(p, GEN_TOK_SEMI)) {
            next(p);
            return;
        }
        next(p);
    }
}

static bool at_top_keyword(const struct parser *p)
{
    return at_word(p, "package") || at_word(p, "import") || at_word(p, "message") || at_word(p, "enum") || at_word(p, "service");
}

/* Recovery at the top level: to the next declaration keyword. */
static void sync_top(struct parser *p)
{
    while (!at(p, GEN_TOK_EOF) && !at_top_keyword(p)) {
        if (at(p, GEN_TOK_LBRACE))
            skip_block(p);
        else
            next(p);
    }
}

static struct gen_loc loc_here(const struct parser *p)
{
    return (struct gen_loc){p->cur.line, p->cur.col};
}

/* A declared name: an identifier that is not a keyword. */
static const char *parse_name(struct parser *p, const char *what, struct gen_loc *loc)
{
    const char *name;

    if (!at(p, GEN_TOK_IDENT) || gen_is_keyword(p->cur.str)) {
        expected(p, what);
        return NULL;
    }
    *loc = loc_here(p);
    name = p->cur.str;
    next(p);
    return name;
}

/* ident { "." ident }, at most GEN_MAX_TOKEN bytes in all. */
static const char *parse_qname(struct parser *p, const char *what)
{
    char buf[GEN_MAX_TOKEN + 1];
    struct gen_loc loc = loc_here(p);
    size_t n = 0;

    for (;;) {
        size_t len;

        if (!at(p, GEN_TOK_IDENT)) {
            expected(p, what);
            return NULL;
        }
        len = p->cur.str_len;
        if (n + len + 1 > sizeof(buf)) {
            gen_error_at(p->diag, &p->unit->src, loc.line, loc.col, "name longer than %d bytes", GEN_MAX_TOKEN);
            return NULL;
        }
        memcpy(buf + n, p->cur.str, len);
        n += len;
        next(p);
        if (!at(p, GEN_TOK_DOT))
            break;
        buf[n++] = '.';
        next(p);
    }
    return gen_strndup(p->arena, buf, n);
}

static bool parse_type(struct parser *p, struct gen_typeref *t, const char *what)
{
    t->loc = loc_here(p);
    t->name = parse_qname(p, what);
    if (t->name == NULL)
        return false;
    t->scalar = gen_scalar_lookup(t->name);
    return true;
}

/* A number with no unit suffix (field and enum value numbers). */
static bool parse_plain_int(struct parser *p, const char *what, uint64_t *v)
{
    if (!at(p, GEN_TOK_INT) || p->cur.unit != NULL) {
        expected(p, what);
        return false;
    }
    *v = p->cur.ival;
    next(p);
    return true;
}

static bool parse_field(struct parser *p, struct gen_field ***tail)
{
    struct gen_field *f = gen_alloc(p->arena, sizeof(*f));

    f->loc = loc_here(p);
    f->doc = p->cur.doc;
    if (at_word(p, "repeated")) {
        f->repeated = true;
        next(p);
    }
    if (!parse_type(p, &f->type, "field type"))
        return false;
    if (!at(p, GEN_TOK_IDENT)) {
        expected(p, "field name");
        return false;
    }
    f->name_loc = loc_here(p);
    f->name = p->cur.str;
    next(p);
    if (!expect(p, GEN_TOK_EQ, "'='"))
        return false;
    f->num_loc = loc_here(p);
    if (at(p, GEN_TOK_MINUS)) {
        gen_error_at(p->diag, &p->unit->src, f->num_loc.line, f->num_loc.col, "field number must be positive");
        return false;
    }
    if (!parse_plain_int(p, "field number", &f->number) || !expect_semi(p, "field"))
        return false;
    **tail = f;
    *tail = &f->next;
    return true;
}

static bool parse_enum_value(struct parser *p, struct gen_enum_value ***tail)
{
    struct gen_enum_value *v = gen_alloc(p->arena, sizeof(*v));
    bool negative = false;
    uint64_t n;

    v->doc = p->cur.doc;
    v->name = parse_name(p, "enum value name", &v->loc);
    if (v->name == NULL || !expect(p, GEN_TOK_EQ, "'='"))
        return false;
    v->num_loc = loc_here(p);
    if (at(p, GEN_TOK_MINUS)) {
        negative = true;
        next(p);
    }
    if (!parse_plain_int(p, "enum value number", &n) || !expect_semi(p, "enum value"))
        return false;
    if (n > 0x80000001u)
        n = 0x80000001u; /* out of range either way; the checker says so */
    v->number = negative ? -(int64_t)n : (int64_t)n;
    **tail = v;
    *tail = &v->next;
    return true;
}

static bool parse_value(struct parser *p, struct gen_value *v, bool allow_call);

static bool parse_call_args(struct parser *p, struct gen_value *v)
{
    struct gen_value args[GEN_MAX_CALL_ARGS];

    next(p); /* '(' */
    for (;;) {
        if (v->nargs == GEN_MAX_CALL_ARGS) {
            gen_error_at(p->diag, &p->unit->src, p->cur.line, p->cur.col, "more than %d arguments", GEN_MAX_CALL_ARGS);
            return false;
        }
        if (!parse_value(p, &args[v->nargs], false))
            return false;
        v->nargs++;
        if (at(p, GEN_TOK_RPAREN))
            break;
        if (!expect(p, GEN_TOK_COMMA, "',' or ')'"))
            return false;
    }
    next(p); /* ')' */
    v->args = gen_alloc(p->arena, v->nargs * sizeof(*v->args));
    memcpy(v->args, args, v->nargs * sizeof(*v->args));
    return true;
}

static bool parse_value(struct parser *p, struct gen_value *v, bool allow_call)
{
    memset(v, 0, sizeof(*v));
    v->loc = loc_here(p);
    if (at(p, GEN_TOK_MINUS)) {
        v->negative = true;
        next(p);
        if (!at(p, GEN_TOK_INT) && !at(p, GEN_TOK_FLOAT)) {
            expected(p, "number after '-'");
            return false;
        }
    }
    switch (p->cur.kind) {
    case GEN_TOK_INT:
    case GEN_TOK_FLOAT:
        v->kind = at(p, GEN_TOK_INT) ? GEN_VAL_INT : GEN_VAL_FLOAT;
        v->ival = p->cur.ival;
        v->fval = p->cur.fval;
        v->unit = p->cur.unit;
        v->text = p->cur.text;
        v->len = p->cur.len;
        next(p);
        return true;
    case GEN_TOK_STRING:
        v->kind = GEN_VAL_STRING;
        v->text = p->cur.str;
        v->len = p->cur.str_len;
        next(p);
        return true;
    case GEN_TOK_IDENT:
        v->kind = GEN_VAL_IDENT;
        v->text = p->cur.str;
        v->len = p->cur.str_len;
        next(p);
        if (!allow_call || !at(p, GEN_TOK_LPAREN))
            return true;
        v->kind = GEN_VAL_CALL;
        return parse_call_args(p, v);
    default:
        expected(p, "option value");
        return false;
    }
}

static bool parse_option(struct parser *p, struct gen_option ***tail)
{
    struct gen_option *o = gen_alloc(p->arena, sizeof(*o));

    o->loc = loc_here(p);
    if (!at(p, GEN_TOK_IDENT)) {
        expected(p, "option name");
        return false;
    }
    o->name = p->cur.str;
    next(p);
    if (!expect(p, GEN_TOK_EQ, "'='") || !parse_value(p, &o->value, true) || !expect_semi(p, "option"))
        return false;
    **tail = o;
    *tail = &o->next;
    return true;
}

/* Parses "{ ... }" around members; member() returns false after an error it reported. */
static void parse_body(struct parser *p, void *owner, bool (*member)(struct parser *, void *))
{
    bool failed = false; /* the last member had an error: a missing '}' is then no news */

    if (!expect(p, GEN_TOK_LBRACE, "'{'")) {
        sync_top(p);
        return;
    }
    while (!at(p, GEN_TOK_RBRACE) && !gen_diag_full(p->diag)) {
        if (at(p, GEN_TOK_EOF) || at_top_keyword(p)) {
            if (!failed)
                expected(p, "'}'");
            return;
        }
        if (at(p, GEN_TOK_SEMI)) {
            next(p);
            continue;
        }
        failed = !member(p, owner);
        if (failed)
            sync_member(p);
    }
    if (at(p, GEN_TOK_RBRACE))
        next(p);
}

static bool message_member(struct parser *p, void *owner)
{
    return parse_field(p, owner);
}

static bool enum_member(struct parser *p, void *owner)
{
    return parse_enum_value(p, owner);
}

static bool option_member(struct parser *p, void *owner)
{
    return parse_option(p, owner);
}

static bool parse_method(struct parser *p, void *owner)
{
    struct gen_method ***tail = owner;
    struct gen_method *m = gen_alloc(p->arena, sizeof(*m));
    struct gen_option **otail = &m->options;

    m->doc = p->cur.doc;
    if (at_word(p, "rpc")) {
        m->kind = GEN_RPC;
    } else if (at_word(p, "event")) {
        m->kind = GEN_EVENT;
    } else {
        expected(p, "'rpc' or 'event'");
        return false;
    }
    next(p);
    m->name = parse_name(p, "method name", &m->loc);
    if (m->name == NULL || !expect(p, GEN_TOK_LPAREN, "'('") ||
        !parse_type(p, &m->req, m->kind == GEN_RPC ? "request type" : "event type") || !expect(p, GEN_TOK_RPAREN, "')'"))
        return false;
    if (m->kind == GEN_RPC) {
        if (!at_word(p, "returns")) {
            expected(p, "'returns'");
            return false;
        }
        next(p);
        if (!expect(p, GEN_TOK_LPAREN, "'('") || !parse_type(p, &m->resp, "response type") || !expect(p, GEN_TOK_RPAREN, "')'"))
            return false;
    }
    **tail = m;
    *tail = &m->next;
    if (at(p, GEN_TOK_SEMI)) {
        next(p);
        return true;
    }
    if (!at(p, GEN_TOK_LBRACE)) {
        expected(p, "'{' or ';'");
        return false;
    }
    parse_body(p, &otail, option_member);
    return true;
}

static void parse_message(struct parser *p, const char *doc)
{
    struct gen_message *m = gen_alloc(p->arena, sizeof(*m));
    struct gen_field **tail = &m->fields;

    m->doc = doc;
    m->name = parse_name(p, "message name", &m->loc);
    if (m->name == NULL) {
        sync_top(p);
        return;
    }
    *p->message_tail = m;
    p->message_tail = &m->next;
    parse_body(p, &tail, message_member);
}

static void parse_enum(struct parser *p, const char *doc)
{
    struct gen_enum *e = gen_alloc(p->arena, sizeof(*e));
    struct gen_enum_value **tail = &e->values;

    e->doc = doc;
    e->name = parse_name(p, "enum name", &e->loc);
    if (e->name == NULL) {
        sync_top(p);
        return;
    }
    *p->enum_tail = e;
    p->enum_tail = &e->next;
    parse_body(p, &tail, enum_member);
}

static void parse_service(struct parser *p, const char *doc)
{
    struct gen_service *s = gen_alloc(p->arena, sizeof(*s));
    struct gen_method **tail = &s->methods;

    s->doc = doc;
    s->name = parse_name(p, "service name", &s->loc);
    if (s->name == NULL) {
        sync_top(p);
        return;
    }
    *p->service_tail = s;
    p->service_tail = &s->next;
    parse_body(p, &tail, parse_method);
}

static void parse_package(struct parser *p, const char *doc)
{
    struct gen_unit *u = p->unit;
    struct gen_loc loc = loc_here(p);
    const char *name = parse_qname(p, "package name");

    if (name == NULL || !expect_semi(p, "package name")) {
        sync_top(p);
        return;
    }
    if (u->pkg != NULL) {
        gen_error_at(p->diag, &u->src, loc.line, loc.col, "package already declared at line %d", u->pkg_loc.line);
        return;
    }
    u->pkg = name;
    u->pkg_loc = loc;
    u->pkg_doc = doc;
}

static bool is_printable(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

static void parse_import(struct parser *p)
{
    struct gen_import *im = gen_alloc(p->arena, sizeof(*im));

    im->loc = loc_here(p);
    if (!at(p, GEN_TOK_STRING)) {
        expected(p, "import path string");
        sync_top(p);
        return;
    }
    im->path = p->cur.str;
    if (!is_printable(im->path, p->cur.str_len)) {
        /* paths end up in messages and generated files */
        gen_error_at(p->diag, &p->unit->src, im->loc.line, im->loc.col, "import path must be printable ASCII");
        sync_top(p);
        return;
    }
    next(p);
    if (!expect_semi(p, "import")) {
        sync_top(p);
        return;
    }
    *p->import_tail = im;
    p->import_tail = &im->next;
}

static void parse_top(struct parser *p)
{
    const char *doc = p->cur.doc;

    if (at(p, GEN_TOK_SEMI)) {
        next(p);
        return;
    }
    if (!at_top_keyword(p)) {
        expected(p, "'package', 'import', 'message', 'enum' or 'service'");
        next(p);
        sync_top(p);
        return;
    }
    if (at_word(p, "package")) {
        next(p);
        parse_package(p, doc);
    } else if (at_word(p, "import")) {
        next(p);
        parse_import(p);
    } else if (at_word(p, "message")) {
        next(p);
        parse_message(p, doc);
    } else if (at_word(p, "enum")) {
        next(p);
        parse_enum(p, doc);
    } else {
        next(p);
        parse_service(p, doc);
    }
}

struct gen_unit *gen_parse(const struct gen_src *src, struct gen_diag *diag, struct gen_arena *arena)
{
    struct parser p;
    struct gen_unit *u = gen_alloc(arena, sizeof(*u));

    assert(src->text[src->len] == '\0');
    u->src = *src;
    memset(&p, 0, sizeof(p));
    p.diag = diag;
    p.arena = arena;
    p.unit = u;
    p.import_tail = &u->imports;
    p.message_tail = &u->messages;
    p.enum_tail = &u->enums;
    p.service_tail = &u->services;
    gen_lex_init(&p.lx, &u->src, diag, arena);
    next(&p);
    while (!at(&p, GEN_TOK_EOF) && !gen_diag_full(diag))
        parse_top(&p);
    return u;
}
