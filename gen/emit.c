/*
 * emit: writes the typed C stubs of a checked unit, X.trpc.h and X.trpc.c, over the protobuf-c
 * code protoc-c writes for X.proto. docs/contracts.md ("Generated C") is the user's description;
 * the golden files tests/gen/good/X.trpc.[ch].golden show the output for each feature.
 *
 * Per service S of package p (prefix p_s) and per method M (prefix p_s_m):
 *
 *   header                                          source
 *   P_S_GROUP, P_S_M_TOPIC, P_S_M_TIMEOUT_MS        the delivery policy headers of each event
 *   rpc:   p_s_m_handler, p_s_m_cb, p_s_m(),        p_s_m_pending, p_s_m_done (async completion)
 *          p_s_m_async()
 *   event: p_s_m_handler, struct p_s_m_sub,         p_s_m_dispatch (decode, handler, ACK/NACK),
 *          p_s_m_publish/subscribe/unsubscribe()    p_s_m_sub_cb
 *   struct p_s_handlers, struct p_s_server,         p_s_m_serve_cb per method
 *   p_s_serve(), p_s_stop()
 *
 * The generic work (packing, decoding a reply, answering, ACK/NACK) lives in <trpc/stub.h>, so
 * what is written here is the typed surface and the casts between it and protobuf-c's base type.
 *
 * The output is written in the project's clang-format style (.clang-format: LLVM, 4 spaces,
 * 132 columns) rather than piped through clang-format: trpc-gen runs where clang-format is not
 * installed, and the bytes must not depend on its version. tests/gen/format.sh checks that
 * clang-format leaves the golden outputs unchanged. Parameter lists longer than a line are
 * packed as clang-format packs them (aligned after the parenthesis).
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"

enum { COLUMNS = 132 };

struct emitter {
    FILE *f;
    const struct gen_unit *u;
    struct gen_arena a;
};

/* The C names of one method. */
struct names {
    const struct gen_method *m;
    const char *fn;      /* shop_billing_charge */
    const char *up;      /* SHOP_BILLING_CHARGE */
    const char *member;  /* charge: on_charge in the handler table */
    const char *req_t;   /* Shop__Order */
    const char *req_lo;  /* shop__order */
    const char *resp_t;  /* Shop__Receipt (rpc) */
    const char *resp_lo; /* shop__receipt (rpc) */
    const char *resp_up; /* SHOP__RECEIPT (rpc) */
    /* Parameter lists, the same in the declaration and the definition. */
    const char *call[5];      /* rpc: p_s_m() */
    const char *async[5];     /* rpc: p_s_m_async() */
    const char *publish[2];   /* event: p_s_m_publish() */
    const char *subscribe[5]; /* event: p_s_m_subscribe() */
    const char *unsub[1];     /* event: p_s_m_unsubscribe() */
};

/* The parameter lists of a service's serve and stop. */
struct serve_params {
    const char *serve[4];
    const char *stop[1];
};

#define NARGS(a) (sizeof(a) / sizeof((a)[0]))

__attribute__((format(printf, 2, 3))) static const char *fmt(struct emitter *e, const char *f, ...)
{
    va_list ap;
    char *buf;
    int n;

    va_start(ap, f);
    n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    assert(n >= 0);
    buf = gen_alloc(&e->a, (size_t)n + 1);
    va_start(ap, f);
    vsnprintf(buf, (size_t)n + 1, f, ap);
    va_end(ap);
    return buf;
}

static void names_of(struct emitter *e, const struct gen_service *s, const struct gen_method *m, struct names *n)
{
    memset(n, 0, sizeof(*n));
    n->m = m;
    n->member = gen_c_word(&e->a, m->name, false);
    n->fn = fmt(e, "%s_%s", gen_c_service(&e->a, e->u, s, false), n->member);
    n->up = fmt(e, "%s_%s", gen_c_service(&e->a, e->u, s, true), gen_c_word(&e->a, m->name, true));
    n->req_t = gen_c_type(&e->a, &m->req);
    n->req_lo = gen_c_type_lower(&e->a, &m->req);
    if (m->kind == GEN_RPC) {
        n->resp_t = gen_c_type(&e->a, &m->resp);
        n->resp_lo = gen_c_type_lower(&e->a, &m->resp);
        n->resp_up = gen_c_type_upper(&e->a, &m->resp);
        n->call[0] = n->async[0] = "trpc_client *c";
        n->call[1] = n->async[1] = fmt(e, "const %s *req", n->req_t);
        n->call[2] = fmt(e, "%s **resp", n->resp_t);
        n->call[3] = "int timeout_ms";
        n->call[4] = "struct trpc_stub_error *err";
        n->async[2] = "int timeout_ms";
        n->async[3] = fmt(e, "%s_cb *cb", n->fn);
        n->async[4] = "void *ud";
        return;
    }
    n->publish[0] = n->subscribe[0] = "trpc_client *c";
    n->publish[1] = fmt(e, "const %s *ev", n->req_t);
    n->subscribe[1] = n->unsub[0] = fmt(e, "struct %s_sub *s", n->fn);
    n->subscribe[2] = "const char *group";
    n->subscribe[3] = fmt(e, "%s_handler *h", n->fn);
    n->subscribe[4] = "void *ud";
}

static void serve_params_of(struct emitter *e, const char *pre, struct serve_params *p)
{
    p->serve[0] = "trpc_client *c";
    p->serve[1] = p->stop[0] = fmt(e, "struct %s_server *s", pre);
    p->serve[2] = fmt(e, "const struct %s_handlers *h", pre);
    p->serve[3] = "void *ud";
}

/* ---- formatting -------------------------------------------------------------------------- */

/* Lines that args take when packed from column `first` on the first line and `cont` on the others
 * (writing them when f is not NULL); SIZE_MAX when one does not fit. */
static size_t pack(FILE *f, size_t first, size_t cont, const char *const *args, size_t n, const char *tail)
{
    size_t i, col = first, lines = 1;

    for (i = 0; i < n; i++) {
        /* what must stay on the line with this argument: its comma, or the closing ")tail" */
        size_t w = strlen(args[i]) + (i + 1 < n ? 1 : 1 + strlen(tail));

        if (i > 0 && col + 1 + w > COLUMNS) {
            if (f != NULL)
                fprintf(f, "\n%*s", (int)cont, "");
            col = cont;
            lines++;
        } else if (i > 0) {
            if (f != NULL)
                fputc(' ', f);
            col++;
        }
        if (col + w > COLUMNS && f == NULL)
            return SIZE_MAX;
        if (f != NULL)
            fprintf(f, "%s%s", args[i], i + 1 < n ? "," : "");
        col += w - (i + 1 < n ? 0 : strlen(tail));
    }
    return lines;
}

/*
 * Writes indent, head, "(", args separated by ", ", ")" and tail, laid out as clang-format lays
 * it out (BinPackParameters, AlignAfterOpenBracket): on one line if it fits; else packed with
 * continuation lines aligned after the parenthesis; or, when an argument does not fit there (a
 * long head) or, for a call, when it saves a line, with a break after the parenthesis and the
 * arguments packed at an indent of 4.
 */
static void put_list(struct emitter *e, int indent, const char *head, const char *const *args, size_t n, const char *tail)
{
    size_t open = (size_t)indent + strlen(head) + 1, cont = (size_t)indent + 4;
    size_t aligned = pack(NULL, open, open, args, n, tail);
    size_t broken = pack(NULL, cont, cont, args, n, tail);

    fprintf(e->f, "%*s%s(", indent, "", head);
    /* clang-format's penalties: a declaration (at indent 0 here) breaks after its parenthesis
     * only when it must, a call (in a body) also when that saves a line */
    if (broken == SIZE_MAX || (aligned != SIZE_MAX && (indent == 0 || aligned <= broken + 1))) {
        pack(e->f, open, open, args, n, tail);
    } else {
        fprintf(e->f, "\n%*s", (int)cont, "");
        pack(e->f, cont, cont, args, n, tail);
    }
    fprintf(e->f, ")%s\n", tail);
}

/* Writes one line of a comment's text, wrapped at blanks to stay within the column limit (as
 * clang-format would reflow it), with comment markers split by a blank so the comment cannot end
 * or nest early, and "??" too (in strict C modes "??/" before a line break is a trigraph that
 * -Wtrigraphs reports). */
static void put_doc_line(struct emitter *e, int indent, const char *p, size_t n)
{
    size_t width = COLUMNS - (size_t)indent - 3, i;

    while (n > width) {
        size_t cut = width;

        while (cut > 0 && p[cut] != ' ')
            cut--;
        if (cut == 0)
            break; /* one word longer than the line: leave it */
        put_doc_line(e, indent, p, cut);
        p += cut + 1;
        n -= cut + 1;
    }
    fprintf(e->f, "%*s *%s", indent, "", n > 0 ? " " : "");
    for (i = 0; i < n; i++) {
        fputc(p[i], e->f);
        if (i + 1 < n && ((p[i] == '*' && p[i + 1] == '/') || (p[i] == '/' && p[i + 1] == '*') || (p[i] == '?' && p[i + 1] == '?')))
            fputc(' ', e->f);
    }
    fputc('\n', e->f);
}

/* Writes doc as a C comment at indent: one line if it fits, else a block. */
static void put_doc(struct emitter *e, int indent, const char *doc)
{
    const char *p;

    if (strchr(doc, '\n') == NULL && strstr(doc, "*/") == NULL && strstr(doc, "/*") == NULL && strstr(doc, "??") == NULL &&
        (size_t)indent + strlen(doc) + 6 <= COLUMNS) {
        fprintf(e->f, "%*s/* %s */\n", indent, "", doc);
        return;
    }
    fprintf(e->f, "%*s/*\n", indent, "");
    for (p = doc; *p != '\0';) {
        size_t n = strcspn(p, "\n");

        put_doc_line(e, indent, p, n);
        p += n;
        if (*p == '\n')
            p++;
    }
    fprintf(e->f, "%*s */\n", indent, "");
}

/* A member or variable declaration "type name;" at indent; clang-format breaks one that is too
 * long before the name and indents it by 4 more. */
static void put_decl(struct emitter *e, int indent, const char *type, const char *name)
{
    if ((size_t)indent + strlen(type) + 1 + strlen(name) + 1 <= COLUMNS)
        fprintf(e->f, "%*s%s %s;\n", indent, "", type, name);
    else
        fprintf(e->f, "%*s%s\n%*s%s;\n", indent, "", type, indent + 4, "", name);
}

/* The contract's doc comment of a declaration, then the generated explanation (may be NULL). */
static void put_docs(struct emitter *e, int indent, const char *doc, const char *what)
{
    if (doc != NULL && what != NULL)
        put_doc(e, indent, fmt(e, "%s\n\n%s", doc, what));
    else if (doc != NULL || what != NULL)
        put_doc(e, indent, doc != NULL ? doc : what);
}

/* #define lines aligned as clang-format's AlignConsecutiveMacros does. */
static void put_defines(struct emitter *e, const char **names, const char **values, size_t n)
{
    size_t i, w = 0;

    for (i = 0; i < n; i++)
        if (strlen(names[i]) > w)
            w = strlen(names[i]);
    for (i = 0; i < n; i++)
        fprintf(e->f, "#define %-*s %s\n", (int)w, names[i], values[i]);
}

/* A C string literal of s. Topics may hold any byte from 0x21 to 0x7e but '.', '*' and '>', so
 * quotes and backslashes are escaped, and '?' too, so that no "??/" or other trigraph forms (C11
 * reads them, gnu11 warns); bytes from 0x80 (UTF-8) pass through as they are. */
static const char *literal(struct emitter *e, const char *s)
{
    size_t n = 0, i;
    char *buf;

    for (i = 0; s[i] != '\0'; i++)
        n += (s[i] == '"' || s[i] == '\\' || s[i] == '?') ? 2 : 1;
    buf = gen_alloc(&e->a, n + 3);
    n = 0;
    buf[n++] = '"';
    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] == '"' || s[i] == '\\' || s[i] == '?')
            buf[n++] = '\\';
        buf[n++] = s[i];
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

/* The service's queue group: package.service in lower case, like its default topics. */
static const char *group_of(struct emitter *e, const struct gen_service *s)
{
    char *g = (char *)fmt(e, "%s.%s", e->u->pkg, s->name), *p;

    for (p = g; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return g;
}

/* ---- header ------------------------------------------------------------------------------ */

static void header_macros(struct emitter *e, const struct gen_service *s)
{
    const struct gen_method *m;
    const char **names, **values;
    size_t n = 1;

    for (m = s->methods; m != NULL; m = m->next)
        n += 2;
    names = gen_alloc(&e->a, n * sizeof(*names));
    values = gen_alloc(&e->a, n * sizeof(*values));
    n = 0;
    names[n] = fmt(e, "%s_GROUP", gen_c_service(&e->a, e->u, s, true));
    values[n++] = literal(e, group_of(e, s));
    for (m = s->methods; m != NULL; m = m->next) {
        struct names nm;

        names_of(e, s, m, &nm);
        names[n] = fmt(e, "%s_TOPIC", nm.up);
        values[n++] = literal(e, m->topic);
        names[n] = fmt(e, "%s_TIMEOUT_MS", nm.up);
        values[n++] = fmt(e, "%u", (unsigned)m->timeout_ms);
    }
    put_defines(e, names, values, n); /* one block: clang-format aligns consecutive macros */
}

static void header_rpc(struct emitter *e, const struct names *n)
{
    const char *handler[] = {"void *ud", "const trpc_msg *msg", fmt(e, "const %s *req", n->req_t), fmt(e, "%s *resp", n->resp_t),
                             "struct trpc_stub_error *err"};
    const char *cb[] = {"trpc_client *c", "int rc", fmt(e, "%s *resp", n->resp_t), "const struct trpc_stub_error *err", "void *ud"};

    fputc('\n', e->f);
    put_docs(e, 0, n->m->doc,
             fmt(e,
                 "rpc %s(%s) returns (%s) on %s_TOPIC.\n"
                 "Handler: fill *resp and return TRPC_STUB_OK, or return trpc_stub_fail(err, code, ...).",
                 n->m->name, n->m->req.name, n->m->resp.name, n->up));
    put_list(e, 0, fmt(e, "typedef enum trpc_stub_verdict %s_handler", n->fn), handler, 5, ";");
    put_doc(e, 0,
            fmt(e,
                "Completion of %s_async(): rc and resp as %s() returns them,\n"
                "err set for -TRPC_E_RESPONDER_ERROR only. The callee owns resp. Runs once, on a libtrpc callback thread.",
                n->fn, n->fn));
    put_list(e, 0, fmt(e, "typedef void %s_cb", n->fn), cb, 5, ";");
    put_doc(e, 0,
            fmt(e,
                "Calls and waits up to timeout_ms (0: %s_TIMEOUT_MS, 0 there: the broker's default).\n"
                "0 with *resp set (free it with %s__free_unpacked(*resp, NULL)); -TRPC_E_RESPONDER_ERROR\n"
                "with the handler's code and text in *err (err may be NULL); or another -TRPC_E_* code.%s",
                n->up, n->resp_lo,
                n->m->durable ? "\nDurable: with no instance serving, the call waits in the stream keeping the topic\n"
                                "(-TRPC_E_NO_STREAM without one) until an instance serves it or timeout_ms passes."
                              : ""));
    put_list(e, 0, fmt(e, "int %s", n->fn), n->call, NARGS(n->call), ";");
    put_doc(e, 0, "The same without waiting: cb runs once with the outcome, unless this returns non-zero.");
    put_list(e, 0, fmt(e, "int %s_async", n->fn), n->async, NARGS(n->async), ";");
}

static void header_event(struct emitter *e, const struct names *n)
{
    const char *handler[] = {"void *ud", "const trpc_msg *msg", fmt(e, "const %s *ev", n->req_t), "uint32_t *nack_delay_ms"};

    fputc('\n', e->f);
    put_docs(e, 0, n->m->doc,
             fmt(e,
                 "event %s(%s) on %s_TOPIC.\n"
                 "Handler: return TRPC_STUB_ACK, TRPC_STUB_NACK to have a durable delivery come again after\n"
                 "*nack_delay_ms (preset to 0: the contract's backoff), or TRPC_STUB_TERM to send it to the\n"
                 "dead-letter topic now.",
                 n->m->name, n->m->req.name, n->up));
    put_list(e, 0, fmt(e, "typedef enum trpc_stub_verdict %s_handler", n->fn), handler, 4, ";");
    put_doc(e, 0, fmt(e, "A typed subscription: the caller's memory, valid until %s_unsubscribe().", n->fn));
    fprintf(e->f, "struct %s_sub {\n", n->fn);
    put_doc(e, 4, fmt(e, "private: set by %s_subscribe()", n->fn));
    put_decl(e, 4, fmt(e, "%s_handler", n->fn), "*_handler");
    fprintf(e->f, "    void *_ud;\n"
                  "    trpc_sub *_sub;\n"
                  "};\n");
    if (n->m->durable)
        put_doc(e, 0,
                fmt(e,
                    "Publishes ev on the event's topic (durable) and waits up to %s_TIMEOUT_MS (the\n"
                    "contract's timeout_ms; 0: 5 s) for the broker's acknowledgement that the stream keeping\n"
                    "the topic has it on disk: -TRPC_E_NO_STREAM when no stream keeps it (nothing stored),\n"
                    "-TRPC_E_TIMEOUT when it may or may not be (publish again: at least once). Not from a\n"
                    "callback on libtrpc's I/O thread.",
                    n->up));
    else
        put_doc(e, 0,
                fmt(e,
                    "Publishes ev on the event's topic, then waits up to\n"
                    "%s_TIMEOUT_MS (the contract's timeout_ms; 0: not at all)\n"
                    "for the broker to have received it (trpc_flush): -TRPC_E_TIMEOUT if it has not, the event\n"
                    "still queued. When it waits, not from a callback on libtrpc's I/O thread.",
                    n->up));
    put_list(e, 0, fmt(e, "int %s_publish", n->fn), n->publish, NARGS(n->publish), ";");
    if (n->m->durable)
        put_doc(e, 0,
                "Subscribes h to the event's topic through consumer group `group` (required; '.' becomes\n"
                "'_') of the stream keeping it: one member gets each event, and what is not settled comes\n"
                "again, after a restart too. Sends the contract's delivery policy with the SUB.");
    else
        put_doc(e, 0,
                "Subscribes h to the event's topic: in group `group` (one member gets each event), or every\n"
                "subscriber gets every event for NULL. Sends the contract's delivery policy with the SUB.");
    put_list(e, 0, fmt(e, "int %s_subscribe", n->fn), n->subscribe, NARGS(n->subscribe), ";");
    put_doc(e, 0,
            "Ends the subscription and releases its libtrpc handle (trpc_sub_destroy): no handler runs\n"
            "once it returned (unless called from one), and s may be subscribed again.");
    put_list(e, 0, fmt(e, "void %s_unsubscribe", n->fn), n->unsub, NARGS(n->unsub), ";");
}

static void header_server(struct emitter *e, const struct gen_service *s, const char *pre)
{
    struct serve_params p;
    const struct gen_method *m;
    size_t count = 0;

    serve_params_of(e, pre, &p);
    fputc('\n', e->f);
    put_doc(e, 0, fmt(e, "The handlers of service %s; NULL for a method this process does not serve.", s->name));
    fprintf(e->f, "struct %s_handlers {\n", pre);
    for (m = s->methods; m != NULL; m = m->next) {
        struct names n;

        names_of(e, s, m, &n);
        put_doc(e, 4, m->doc != NULL ? m->doc : fmt(e, "%s %s", m->kind == GEN_RPC ? "rpc" : "event", m->name));
        put_decl(e, 4, fmt(e, "%s_handler", n.fn), fmt(e, "*on_%s", n.member));
        if (m->kind == GEN_RPC && m->durable)
            count++; /* served through the queue group and the consumer group */
        if (m->kind == GEN_RPC) {
            put_doc(e, 4,
                    fmt(e,
                        "Optional: runs after on_%s's reply was sent, to free what on_%s put into *resp; only after\n"
                        "TRPC_STUB_OK: a handler that fails frees what it put there before it returns.",
                        n.member, n.member));
            put_decl(e, 4, "void", fmt(e, "(*on_%s_cleanup)(void *ud, %s *resp)", n.member, n.resp_t));
        }
        count++;
    }
    fprintf(e->f, "};\n\n");
    put_doc(e, 0, fmt(e, "A running service: the caller's memory, valid until %s_stop().", pre));
    fprintf(e->f, "struct %s_server {\n", pre);
    put_doc(e, 4, fmt(e, "private: set by %s_serve()", pre));
    put_decl(e, 4, fmt(e, "struct %s_handlers", pre), "_handlers");
    fprintf(e->f,
            "    void *_ud;\n"
            "    trpc_sub *_subs[%zu];\n"
            "};\n"
            "\n",
            count);
    put_doc(e, 0,
            fmt(e,
                "Serves: joins group %s_GROUP on the topic of every method with a handler, so\n"
                "instances share the work. Handlers run on libtrpc's callback threads with ud. On failure\n"
                "nothing stays subscribed.",
                gen_c_service(&e->a, e->u, s, true)));
    put_list(e, 0, fmt(e, "int %s_serve", pre), p.serve, NARGS(p.serve), ";");
    put_doc(e, 0,
            "Leaves the group on every topic and releases the subscriptions' libtrpc handles; no handler\n"
            "runs once it returned (unless called from one).");
    put_list(e, 0, fmt(e, "void %s_stop", pre), p.stop, NARGS(p.stop), ";");
}

/* The header guard: TRPC_GEN_ and the stem, escaped one to one so that two stems never share a
 * guard (a-b and a_b, A and a): letters (case kept) and digits as they are, '_' as "__", any other
 * byte as '_' and two hex digits. Then _TRPC_H, which no escaped stem can be mistaken for. */
static const char *guard(struct emitter *e)
{
    const char *stem = e->u->stem;
    char *g = gen_alloc(&e->a, 3 * strlen(stem) + sizeof("TRPC_GEN__TRPC_H")), *p = g;

    p += sprintf(p, "TRPC_GEN_");
    for (; *stem != '\0'; stem++) {
        unsigned char ch = (unsigned char)*stem;

        if (isalnum(ch))
            *p++ = (char)ch;
        else if (ch == '_')
            p += sprintf(p, "__");
        else
            p += sprintf(p, "_%02X", ch);
    }
    sprintf(p, "_TRPC_H");
    return g;
}

int gen_emit_header(FILE *f, const struct gen_unit *u)
{
    struct emitter e = {f, u, {NULL, 0}};
    const struct gen_service *s;
    const struct gen_method *m;
    const char *g = guard(&e);

    assert(u->pkg != NULL);
    fprintf(f, "/* DO NOT EDIT — generated by trpc-gen from %s.trpc */\n", u->stem);
    put_docs(&e, 0, u->pkg_doc,
             fmt(&e,
                 "Typed TRPC stubs of package %s over protobuf-c (%s.pb-c.h). docs/contracts.md, \"Generated C\",\n"
                 "describes them; calls return 0 or a negative -TRPC_E_* code (<trpc/errors.h>).",
                 u->pkg, u->stem));
    fprintf(f,
            "#ifndef %s\n#define %s\n\n#include <stdint.h>\n\n#include <trpc/stub.h>\n#include <trpc/trpc.h>\n\n"
            "#include \"%s.pb-c.h\"\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n",
            g, g, u->stem);
    for (s = u->services; s != NULL; s = s->next) {
        const char *pre = gen_c_service(&e.a, u, s, false);

        fprintf(f, "\n/* ---- service %s (%s_*) ---- */\n\n", s->name, pre);
        if (s->doc != NULL)
            put_doc(&e, 0, s->doc);
        header_macros(&e, s);
        for (m = s->methods; m != NULL; m = m->next) {
            struct names n;

            names_of(&e, s, m, &n);
            if (m->kind == GEN_RPC)
                header_rpc(&e, &n);
            else
                header_event(&e, &n);
        }
        header_server(&e, s, pre);
    }
    fprintf(f, "\n#ifdef __cplusplus\n}\n#endif\n#endif\n");
    gen_arena_free(&e.a);
    return ferror(f) ? -EIO : 0;
}

/* ---- source ------------------------------------------------------------------------------ */

/* The shortest plain decimal (no exponent: the broker reads digits[.digits]) that reads back as d,
 * so the policy text is stable and exact. %g would write 10 as 1e+01. */
static const char *shortest(struct emitter *e, double d)
{
    int prec;

    for (prec = 0; prec < 17; prec++)
        if (strtod(fmt(e, "%.*f", prec, d), NULL) == d)
            break;
    return fmt(e, "%.*f", prec, d);
}

/* The delivery policy headers of an event (docs/contracts.md, "Delivery policy"). */
static size_t policy_of(struct emitter *e, const struct gen_method *m, const char **keys, const char **values)
{
    size_t n = 0;

    if (m->durable) {
        keys[n] = "trpc-durable";
        values[n++] = "true";
    }
    if (m->max_deliveries != 0) {
        keys[n] = "trpc-max-deliveries";
        values[n++] = fmt(e, "%u", (unsigned)m->max_deliveries);
    }
    if (m->has_backoff) {
        keys[n] = "trpc-backoff";
        values[n++] =
            fmt(e, "%u,%s,%u", (unsigned)m->backoff.initial_ms, shortest(e, m->backoff.factor), (unsigned)m->backoff.max_ms);
    }
    if (m->dlq != NULL) {
        keys[n] = "trpc-dlq";
        values[n++] = m->dlq;
    }
    return n;
}

static void source_rpc(struct emitter *e, const struct names *n)
{
    const char *call[] = {"c",  fmt(e, "%s_TOPIC", n->up), "&req->base", fmt(e, "&%s__descriptor", n->resp_lo), "timeout_ms", "&m",
                          "err"};
    const char *async[] = {"c", fmt(e, "%s_TOPIC", n->up), "&req->base", "timeout_ms", fmt(e, "%s_done", n->fn), "p"};
    const char *reply[] = {"rc", "reply", fmt(e, "&%s__descriptor", n->resp_lo), "&m", "&err"};
    const char *done[] = {"trpc_client *c", "int rc", "trpc_msg *reply", "void *ud"};

    fputc('\n', e->f);
    put_list(e, 0, fmt(e, "int %s", n->fn), n->call, NARGS(n->call), "");
    fprintf(e->f,
            "{\n"
            "    ProtobufCMessage *m = NULL;\n"
            "    int rc;\n"
            "\n"
            "    assert(req->base.descriptor == &%s__descriptor);\n"
            "    assert(resp != NULL);\n"
            "    if (timeout_ms <= 0)\n"
            "        timeout_ms = %s_TIMEOUT_MS;\n",
            n->req_lo, n->up);
    put_list(e, 4, n->m->durable ? "rc = trpc_stub__call_durable" : "rc = trpc_stub__call", call, 7, ";");
    fprintf(e->f,
            "    if (rc == 0)\n"
            "        *resp = (%s *)m;\n"
            "    return rc;\n"
            "}\n"
            "\n"
            "struct %s_pending {\n"
            "    %s_cb *cb;\n"
            "    void *ud;\n"
            "};\n"
            "\n",
            n->resp_t, n->fn, n->fn);
    put_list(e, 0, fmt(e, "static void %s_done", n->fn), done, 4, "");
    fprintf(e->f,
            "{\n"
            "    struct %s_pending *p = ud;\n"
            "    %s_cb *cb = p->cb;\n"
            "    void *cb_ud = p->ud;\n"
            "    struct trpc_stub_error err;\n"
            "    ProtobufCMessage *m = NULL;\n"
            "\n"
            "    free(p);\n",
            n->fn, n->fn);
    put_list(e, 4, "rc = trpc_stub__reply", reply, 5, ";");
    fprintf(e->f,
            "    cb(c, rc, (%s *)m, rc == -TRPC_E_RESPONDER_ERROR ? &err : NULL, cb_ud);\n"
            "}\n"
            "\n",
            n->resp_t);
    put_list(e, 0, fmt(e, "int %s_async", n->fn), n->async, NARGS(n->async), "");
    fprintf(e->f,
            "{\n"
            "    struct %s_pending *p;\n"
            "    int rc;\n"
            "\n"
            "    assert(req->base.descriptor == &%s__descriptor);\n"
            "    assert(cb != NULL);\n"
            "    p = malloc(sizeof(*p));\n"
            "    if (p == NULL)\n"
            "        return -TRPC_E_NO_MEMORY;\n"
            "    p->cb = cb;\n"
            "    p->ud = ud;\n"
            "    if (timeout_ms <= 0)\n"
            "        timeout_ms = %s_TIMEOUT_MS;\n",
            n->fn, n->req_lo, n->up);
    put_list(e, 4, n->m->durable ? "rc = trpc_stub__call_durable_async" : "rc = trpc_stub__call_async", async, 6, ";");
    fprintf(e->f, "    if (rc != 0)\n"
                  "        free(p);\n"
                  "    return rc;\n"
                  "}\n");
}

static void source_event(struct emitter *e, const struct names *n)
{
    const char *keys[4], *values[4];
    size_t i, np = policy_of(e, n->m, keys, values);
    const char *sub[] = {"c",
                         fmt(e, "%s_TOPIC", n->up),
                         "group",
                         np > 0 ? fmt(e, "%s_policy", n->fn) : "NULL",
                         fmt(e, "%zu", np),
                         fmt(e, "%s_sub_cb", n->fn),
                         "s",
                         "&s->_sub"};
    const char *pub_args[] = {"c", fmt(e, "%s_TOPIC", n->up), "&ev->base", fmt(e, "%s_TIMEOUT_MS", n->up)};
    const char *dispatch[] = {fmt(e, "%s_handler *h", n->fn), "void *ud", "trpc_msg *msg"};
    const char *cb[] = {"trpc_client *c", "trpc_sub *sub", "trpc_msg *msg", "void *ud"};

    fputc('\n', e->f);
    if (np > 0) {
        fprintf(e->f, "/* The delivery policy of %s, sent with its SUB. */\n", n->m->name);
        fprintf(e->f, "static const trpc_header %s_policy[] = {\n", n->fn);
        for (i = 0; i < np; i++)
            fprintf(e->f, "    {\"%s\", %s, %zu},\n", keys[i], literal(e, values[i]), strlen(values[i]));
        fprintf(e->f, "};\n\n");
    }
    put_list(e, 0, fmt(e, "int %s_publish", n->fn), n->publish, NARGS(n->publish), "");
    fprintf(e->f,
            "{\n"
            "    assert(ev->base.descriptor == &%s__descriptor);\n",
            n->req_lo);
    put_list(e, 4, n->m->durable ? "return trpc_stub__publish_durable" : "return trpc_stub__publish", pub_args, NARGS(pub_args),
             ";");
    fprintf(e->f, "}\n"
                  "\n"
                  "/* Decodes, runs the handler, settles the delivery and frees msg. A durable event that does\n"
                  " * not decode goes to the dead-letter topic at once (TERM), for inspection. */\n");
    put_list(e, 0, fmt(e, "static void %s_dispatch", n->fn), dispatch, 3, "");
    fprintf(e->f,
            "{\n"
            "    %s *ev = %s__unpack(NULL, trpc_msg_len(msg), trpc_msg_data(msg));\n"
            "    enum trpc_stub_verdict v;\n"
            "    uint32_t delay_ms = 0;\n"
            "\n"
            "    if (ev == NULL) {\n"
            "        trpc_stub__settle_undecodable(msg, &%s__descriptor);\n"
            "    } else {\n"
            "        v = h(ud, msg, ev, &delay_ms);\n"
            "        %s__free_unpacked(ev, NULL);\n"
            "        trpc_stub__settle(msg, v, delay_ms);\n"
            "    }\n"
            "    trpc_msg_free(msg);\n"
            "}\n"
            "\n",
            n->req_t, n->req_lo, n->req_lo, n->req_lo);
    put_list(e, 0, fmt(e, "static void %s_sub_cb", n->fn), cb, 4, "");
    fprintf(e->f,
            "{\n"
            "    struct %s_sub *s = ud;\n"
            "\n"
            "    (void)c;\n"
            "    (void)sub;\n"
            "    %s_dispatch(s->_handler, s->_ud, msg);\n"
            "}\n"
            "\n",
            n->fn, n->fn);
    put_list(e, 0, fmt(e, "int %s_subscribe", n->fn), n->subscribe, NARGS(n->subscribe), "");
    fprintf(e->f, "{\n"
                  "    assert(h != NULL);\n"
                  "    s->_handler = h;\n"
                  "    s->_ud = ud;\n"
                  "    s->_sub = NULL;\n");
    put_list(e, 4, n->m->durable ? "return trpc_stub__subscribe_durable" : "return trpc_stub__subscribe", sub, 8, ";");
    fprintf(e->f, "}\n\n");
    put_list(e, 0, fmt(e, "void %s_unsubscribe", n->fn), n->unsub, NARGS(n->unsub), "");
    fprintf(e->f, "{\n"
                  "    trpc_sub_destroy(s->_sub);\n"
                  "    s->_sub = NULL;\n"
                  "}\n");
}

static void source_serve_cb(struct emitter *e, const char *pre, const struct names *n)
{
    const char *cb[] = {"trpc_client *c", "trpc_sub *sub", "trpc_msg *msg", "void *ud"};
    const char *dispatch[] = {fmt(e, "s->_handlers.on_%s", n->member), "s->_ud", "msg"};

    fputc('\n', e->f);
    put_list(e, 0, fmt(e, "static void %s_serve_cb", n->fn), cb, 4, "");
    fprintf(e->f, "{\n    struct %s_server *s = ud;\n", pre);
    if (n->m->kind == GEN_EVENT) {
        fprintf(e->f, "\n"
                      "    (void)c;\n"
                      "    (void)sub;\n");
        put_list(e, 4, fmt(e, "%s_dispatch", n->fn), dispatch, 3, ";");
        fprintf(e->f, "}\n");
        return;
    }
    fprintf(e->f,
            "    %s resp = %s__INIT;\n"
            "    struct trpc_stub_error err;\n"
            "    enum trpc_stub_verdict v;\n"
            "    %s *req;\n"
            "\n"
            "    (void)c;\n"
            "    (void)sub;\n"
            "    req = (%s *)trpc_stub__request(msg, &%s__descriptor);\n"
            "    if (req != NULL) {\n"
            "        err.code = 0;\n"
            "        err.text[0] = '\\0';\n"
            "        v = s->_handlers.on_%s(s->_ud, msg, req, &resp, &err);\n"
            "        trpc_stub__respond(msg, v, &resp.base, &err);\n"
            "        if (v == TRPC_STUB_OK && s->_handlers.on_%s_cleanup != NULL)\n"
            "            s->_handlers.on_%s_cleanup(s->_ud, &resp);\n"
            "        %s__free_unpacked(req, NULL);\n"
            "    }\n"
            "    trpc_msg_free(msg);\n"
            "}\n",
            n->resp_t, n->resp_up, n->req_t, n->req_t, n->req_lo, n->member, n->member, n->member, n->req_lo);
}

static void source_serve(struct emitter *e, const struct gen_service *s, const char *pre)
{
    struct serve_params p;
    const struct gen_method *m;
    size_t i = 0;

    serve_params_of(e, pre, &p);
    fputc('\n', e->f);
    put_list(e, 0, fmt(e, "int %s_serve", pre), p.serve, NARGS(p.serve), "");
    fprintf(e->f, "{\n"
                  "    int rc = 0;\n"
                  "\n"
                  "    memset(s, 0, sizeof(*s));\n"
                  "    s->_handlers = *h;\n"
                  "    s->_ud = ud;\n");
    for (m = s->methods; m != NULL; m = m->next, i++) {
        const char *keys[4], *values[4];
        struct names n;
        size_t np;

        names_of(e, s, m, &n);
        np = m->kind == GEN_EVENT ? policy_of(e, m, keys, values) : 0;
        {
            const char *args[] = {"c",
                                  fmt(e, "%s_TOPIC", n.up),
                                  fmt(e, "%s_GROUP", gen_c_service(&e->a, e->u, s, true)),
                                  np > 0 ? fmt(e, "%s_policy", n.fn) : "NULL",
                                  fmt(e, "%zu", np),
                                  fmt(e, "%s_serve_cb", n.fn),
                                  "s",
                                  fmt(e, "&s->_subs[%zu]", i)};

            fprintf(e->f, "    if (rc == 0 && h->on_%s != NULL)\n", n.member);
            put_list(e, 8, m->durable && m->kind == GEN_EVENT ? "rc = trpc_stub__subscribe_durable" : "rc = trpc_stub__subscribe",
                     args, 8, ";");
            if (m->kind == GEN_RPC && m->durable) {
                /* And the calls that waited in the stream for an instance: its consumer group. */
                args[7] = fmt(e, "&s->_subs[%zu]", ++i);
                fprintf(e->f, "    if (rc == 0 && h->on_%s != NULL)\n", n.member);
                put_list(e, 8, "rc = trpc_stub__subscribe_durable", args, 8, ";");
            }
        }
    }
    fprintf(e->f,
            "    if (rc != 0)\n"
            "        %s_stop(s);\n"
            "    return rc;\n"
            "}\n"
            "\n",
            pre);
    put_list(e, 0, fmt(e, "void %s_stop", pre), p.stop, NARGS(p.stop), "");
    fprintf(e->f, "{\n"
                  "    size_t i;\n"
                  "\n"
                  "    for (i = 0; i < sizeof(s->_subs) / sizeof(s->_subs[0]); i++) {\n"
                  "        trpc_sub_destroy(s->_subs[i]);\n"
                  "        s->_subs[i] = NULL;\n"
                  "    }\n"
                  "}\n");
}

int gen_emit_source(FILE *f, const struct gen_unit *u)
{
    struct emitter e = {f, u, {NULL, 0}};
    const struct gen_service *s;
    const struct gen_method *m;

    fprintf(f, "/* DO NOT EDIT — generated by trpc-gen from %s.trpc */\n", u->stem);
    if (u->services != NULL)
        fputs("#include <assert.h>\n#include <stdlib.h>\n#include <string.h>\n\n", f);
    fprintf(f, "#include \"%s.trpc.h\"\n", u->stem);
    for (s = u->services; s != NULL; s = s->next) {
        const char *pre = gen_c_service(&e.a, u, s, false);

        fprintf(f, "\n/* ---- service %s ---- */\n", s->name);
        for (m = s->methods; m != NULL; m = m->next) {
            struct names n;

            names_of(&e, s, m, &n);
            if (m->kind == GEN_RPC)
                source_rpc(&e, &n);
            else
                source_event(&e, &n);
        }
        for (m = s->methods; m != NULL; m = m->next) {
            struct names n;

            names_of(&e, s, m, &n);
            source_serve_cb(&e, pre, &n);
        }
        source_serve(&e, s, pre);
    }
    gen_arena_free(&e.a);
    return ferror(f) ? -EIO : 0;
}
