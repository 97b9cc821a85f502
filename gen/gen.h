/*
 * gen: the front end of trpc-gen, the .trpc contract compiler (docs/contracts.md is the language
 * reference). A run loads one or more contracts and everything they import into one context,
 * checks them, and writes a proto3 file per contract that protoc-c turns into protobuf-c code, and
 * the typed C stubs over that code (X.trpc.h / X.trpc.c).
 *
 *   gen_ctx_init()  ->  gen_load() per contract  ->  gen_check()  ->  gen_proto_write() per unit
 *                                                                 ->  gen_emit_header() and
 *                                                                     gen_emit_source() per unit
 *
 * All input is untrusted: files are capped at GEN_MAX_FILE_BYTES, tokens at GEN_MAX_TOKEN bytes,
 * import nesting at GEN_MAX_IMPORT_DEPTH, the number of files at GEN_MAX_UNITS, and diagnostics at
 * GEN_MAX_ERRORS per run. Nothing recurses deeper than the import nesting (the parser is a loop
 * over declarations; option values nest one level). Every structure lives in the context's arena
 * and is freed with it; running out of memory ends the process (gen_alloc).
 *
 * Errors are printed as "file:line:col: error: message", then the source line and a caret line.
 * Columns count bytes from 1; a tab in the source is copied into the caret line so the caret
 * lines up in a terminal.
 */
#ifndef TRPC_GEN_H
#define TRPC_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    GEN_MAX_ERRORS = 20,              /* diagnostics printed per run before giving up */
    GEN_MAX_FILE_BYTES = 1 << 20,     /* largest contract file */
    GEN_MAX_TOKEN = 256,              /* longest token (identifier, number, string) in bytes */
    GEN_MAX_IDENT = 64,               /* longest identifier */
    GEN_MAX_DOC = 4096,               /* a doc comment is cut at this many bytes */
    GEN_MAX_IMPORT_DEPTH = 16,        /* import nesting */
    GEN_MAX_UNITS = 64,               /* contract files per run */
    GEN_MAX_CALL_ARGS = 4,            /* arguments of exponential(...) and friends */
    GEN_MAX_FIELD_NUMBER = 536870911, /* 2^29 - 1, protobuf's limit */
    /* Names derived from a contract must fit the broker's default limits; these mirror the broker's
     * own (src/route.h, src/group.h), which gen does not include: tests/gen/limits, which sees
     * both, holds them equal at compile time. Topics use the wire's
     * WIRE_DEFAULT_MAX_TOPIC (driver/wire.h). */
    GEN_MAX_QUEUE_GROUP = 255, /* a queue group, BROKER_GROUP_MAX */
    GEN_MAX_DURABLE_GROUP = 64 /* a consumer group, GROUP_NAME_MAX and trpc_subscribe_durable() */
};

/* ---- memory ---------------------------------------------------------------------------- */

struct gen_chunk;

/* A bump allocator: everything of one compilation is freed at once. All-zero is an empty arena. */
struct gen_arena {
    struct gen_chunk *_head;
    size_t _total;
};

/* Returns n zeroed bytes; on out-of-memory prints a message and exits with status 2. */
void *gen_alloc(struct gen_arena *a, size_t n);
char *gen_strndup(struct gen_arena *a, const char *s, size_t n);
void gen_arena_free(struct gen_arena *a);

/* ---- diagnostics (diag.c) ---------------------------------------------------------------- */

/* One contract file's text. text[len] is always '\0'; the text may hold other '\0' bytes. */
struct gen_src {
    const char *path;
    const char *text;
    size_t len;
};

struct gen_diag {
    FILE *out;  /* NULL: count errors without printing them */
    int errors; /* errors reported, including any past the cap */
};

void gen_diag_init(struct gen_diag *d, FILE *out);

/* Reports an error at src:line:col with the source line and a caret (line, col from 1). */
__attribute__((format(printf, 5, 6))) void gen_error_at(struct gen_diag *d, const struct gen_src *src, int line, int col,
                                                        const char *fmt, ...);

/* Reports an error that belongs to no source position: "trpc-gen: error: message". */
__attribute__((format(printf, 2, 3))) void gen_error(struct gen_diag *d, const char *fmt, ...);

/* True once GEN_MAX_ERRORS errors were reported: callers stop working then. */
bool gen_diag_full(const struct gen_diag *d);

/* s[0..len) made printable for a message: C-style escapes for quotes, backslashes, control and
 * non-ASCII bytes; cut with "..." after 64 bytes. */
const char *gen_escape(struct gen_arena *a, const char *s, size_t len);

/* ---- lexer (lex.c) ---------------------------------------------------------------------- */

enum gen_tok_kind {
    GEN_TOK_EOF,
    GEN_TOK_ERROR, /* already reported by the lexer */
    GEN_TOK_IDENT,
    GEN_TOK_INT,    /* digits, optionally followed by a unit suffix: 100ms */
    GEN_TOK_FLOAT,  /* digits '.' digits, optionally with a unit suffix */
    GEN_TOK_STRING, /* "..." with \\ \" \n \t \r \xHH escapes, decoded into str */
    GEN_TOK_LBRACE,
    GEN_TOK_RBRACE,
    GEN_TOK_LPAREN,
    GEN_TOK_RPAREN,
    GEN_TOK_SEMI,
    GEN_TOK_EQ,
    GEN_TOK_COMMA,
    GEN_TOK_DOT,
    GEN_TOK_MINUS
};

struct gen_tok {
    enum gen_tok_kind kind;
    int line;
    int col;
    const char *text; /* raw bytes in the source */
    size_t len;
    const char *str; /* IDENT: the name; STRING: decoded bytes (arena, NUL-terminated) */
    size_t str_len;
    uint64_t ival;    /* INT */
    double fval;      /* FLOAT (and INT, converted) */
    const char *unit; /* INT / FLOAT suffix (arena) or NULL */
    const char *doc;  /* comment block right before this token (arena) or NULL */
};

struct gen_lexer {
    const struct gen_src *src;
    struct gen_diag *diag;
    struct gen_arena *arena;
    size_t pos;
    int line;
    int col;
    int last_line; /* line of the previous token: comments on it are not doc comments */
};

void gen_lex_init(struct gen_lexer *lx, const struct gen_src *src, struct gen_diag *diag, struct gen_arena *arena);

/* Scans the next token into *t. Reports lexical errors itself and then yields GEN_TOK_ERROR. */
void gen_lex_next(struct gen_lexer *lx, struct gen_tok *t);

/* ---- syntax tree (parse.c) --------------------------------------------------------------- */

struct gen_loc {
    int line;
    int col;
};

enum gen_scalar {
    GEN_SCALAR_NONE, /* a reference to a message or enum */
    GEN_SCALAR_BOOL,
    GEN_SCALAR_INT32,
    GEN_SCALAR_INT64,
    GEN_SCALAR_UINT32,
    GEN_SCALAR_UINT64,
    GEN_SCALAR_SINT32,
    GEN_SCALAR_SINT64,
    GEN_SCALAR_FLOAT,
    GEN_SCALAR_DOUBLE,
    GEN_SCALAR_STRING,
    GEN_SCALAR_BYTES
};

/* The scalar type named name, or GEN_SCALAR_NONE. */
enum gen_scalar gen_scalar_lookup(const char *name);
const char *gen_scalar_name(enum gen_scalar s);

/* True for the words the language reserves (package, message, rpc, ..., and the scalar names). */
bool gen_is_keyword(const char *name);

struct gen_message;
struct gen_enum;
struct gen_unit;

struct gen_typeref {
    struct gen_loc loc;
    enum gen_scalar scalar;
    const char *name; /* as written ("Order", "common.Money") when scalar is NONE */
    /* set by the checker: exactly one of msg / en for a resolved reference */
    struct gen_message *msg;
    struct gen_enum *en;
    struct gen_unit *unit; /* the unit that defines it */
};

struct gen_field {
    struct gen_field *next;
    struct gen_loc loc;
    struct gen_loc name_loc;
    struct gen_loc num_loc;
    const char *name;
    const char *doc;
    bool repeated;
    struct gen_typeref type;
    uint64_t number;
};

struct gen_message {
    struct gen_message *next;
    struct gen_loc loc; /* of the name */
    const char *name;
    const char *doc;
    struct gen_field *fields;
};

struct gen_enum_value {
    struct gen_enum_value *next;
    struct gen_loc loc;
    struct gen_loc num_loc;
    const char *name;
    const char *doc;
    int64_t number;
};

struct gen_enum {
    struct gen_enum *next;
    struct gen_loc loc;
    const char *name;
    const char *doc;
    struct gen_enum_value *values;
};

enum gen_val_kind {
    GEN_VAL_INT,
    GEN_VAL_FLOAT,
    GEN_VAL_STRING,
    GEN_VAL_IDENT, /* true, false, or any other bare word */
    GEN_VAL_CALL   /* name(arg, ...) */
};

struct gen_value {
    enum gen_val_kind kind;
    struct gen_loc loc;
    bool negative;    /* INT / FLOAT written with a leading '-' */
    uint64_t ival;    /* INT */
    double fval;      /* INT and FLOAT */
    const char *unit; /* INT / FLOAT suffix or NULL */
    const char *text; /* STRING bytes, IDENT or CALL name */
    size_t len;
    struct gen_value *args; /* CALL: nargs values, none of them a CALL */
    size_t nargs;
};

struct gen_option {
    struct gen_option *next;
    struct gen_loc loc;
    const char *name;
    struct gen_value value;
};

enum gen_method_kind { GEN_RPC, GEN_EVENT };

/* Delivery backoff: initial_ms, then multiplied by factor per attempt, capped at max_ms. */
struct gen_backoff {
    uint32_t initial_ms;
    double factor;
    uint32_t max_ms;
};

struct gen_method {
    struct gen_method *next;
    enum gen_method_kind kind;
    struct gen_loc loc; /* of the name */
    const char *name;
    const char *doc;
    struct gen_typeref req;  /* rpc argument or event payload */
    struct gen_typeref resp; /* rpc only */
    struct gen_option *options;
    /* the options as the checker understood them; zero means "not set" */
    const char *topic; /* always set after gen_check: explicit or package.service.method */
    uint32_t timeout_ms;
    bool durable;
    uint32_t max_deliveries;
    bool has_backoff;
    struct gen_backoff backoff;
    const char *dlq;
};

struct gen_service {
    struct gen_service *next;
    struct gen_loc loc;
    const char *name;
    const char *doc;
    struct gen_method *methods;
};

struct gen_import {
    struct gen_import *next;
    struct gen_loc loc; /* of the path string */
    const char *path;   /* as written */
    struct gen_unit *unit;
};

/* One contract file. */
struct gen_unit {
    struct gen_unit *next; /* in load order */
    struct gen_src src;
    const char *key;  /* the reader's id of the file: the identity for de-duplication and cycles */
    const char *stem; /* file name without directory and ".trpc": the outputs are stem.proto, ... */
    const char *pkg;  /* NULL when the file declares none */
    struct gen_loc pkg_loc;
    const char *pkg_doc;
    struct gen_import *imports;
    struct gen_message *messages;
    struct gen_enum *enums;
    struct gen_service *services;
    int _state; /* private to the loader: 0 new, 1 loading (on the import stack), 2 loaded */
};

/* Parses src into a unit; syntax errors go to diag and the parser recovers at the next ';' or
 * declaration. The unit holds what could be parsed. */
struct gen_unit *gen_parse(const struct gen_src *src, struct gen_diag *diag, struct gen_arena *arena);

/* ---- loading and checking (check.c) ----------------------------------------------------- */

/*
 * Reads a whole file. Returns 0 and sets *text / *len (text allocated from arena and
 * NUL-terminated) and *id (the file's identity: two paths to one file give the same id), or
 * -ENOENT when there is no such file, -EFBIG above GEN_MAX_FILE_BYTES, another -errno otherwise.
 */
typedef int gen_read_fn(void *arg, const char *path, struct gen_arena *arena, char **text, size_t *len, const char **id);

/* Reads from the file system: the default reader. The id is the device and inode number. */
int gen_read_file(void *arg, const char *path, struct gen_arena *arena, char **text, size_t *len, const char **id);

struct gen_ctx {
    struct gen_arena arena;
    struct gen_diag diag;
    const char *const *include_dirs; /* searched in order after the importing file's directory */
    size_t n_include_dirs;
    gen_read_fn *read;
    void *read_arg;
    struct gen_unit *units; /* every loaded file, in load order (imports before importers) */
    struct gen_unit **_tail;
    size_t n_units;
};

void gen_ctx_init(struct gen_ctx *c, FILE *diag_out);
void gen_ctx_free(struct gen_ctx *c);

/*
 * Loads the contract at path and, recursively, its imports. Returns the unit, or NULL when the
 * file itself cannot be read (reported as "trpc-gen: error: cannot read ..."). Import problems
 * (missing file, cycle, nesting) are contract errors reported at the import.
 */
struct gen_unit *gen_load(struct gen_ctx *c, const char *path);

/*
 * Resolves every type reference and checks names, field numbers, enums and method options of all
 * loaded units; fills in the checker fields of struct gen_method. Returns 0 or -EINVAL when any
 * error (also an earlier syntax error) was reported.
 */
int gen_check(struct gen_ctx *c);

/*
 * Why t[0..len) is not a valid literal topic ("empty token", ...), or NULL when it is one: tokens
 * separated by '.', each one or more bytes 0x21..0x7e other than '.', '*' and '>'. This is
 * stricter than the broker (driver/topic.h), which also passes bytes from 0x80 up.
 */
const char *gen_topic_problem(const char *t, size_t len);

/* Checks the options of method m of service s in unit u and fills in m->topic, m->timeout_ms and
 * the delivery policy (options.c). Errors go to diag. */
void gen_check_options(struct gen_diag *diag, struct gen_arena *a, const struct gen_unit *u, const struct gen_service *s,
                       struct gen_method *m);

/* ---- output (proto.c) ------------------------------------------------------------------- */

/* Writes the proto3 translation of a checked unit: its package, imports, enums and messages with
 * their doc comments. Deterministic. Returns 0 or -EIO. */
int gen_proto_write(FILE *f, const struct gen_unit *u);

/* ---- C names (cname.c) ------------------------------------------------------------------ */

/* protobuf-c's names of a resolved message reference: Acme__Store__OrderItem, acme__store__order_item,
 * ACME__STORE__ORDER_ITEM. */
const char *gen_c_type(struct gen_arena *a, const struct gen_typeref *t);
const char *gen_c_type_lower(struct gen_arena *a, const struct gen_typeref *t);
const char *gen_c_type_upper(struct gen_arena *a, const struct gen_typeref *t);
/* The stubs' prefix of service s: acme_store_inventory, or ACME_STORE_INVENTORY when upper. */
const char *gen_c_service(struct gen_arena *a, const struct gen_unit *u, const struct gen_service *s, bool upper);
/* One identifier in the stubs' spelling: GetItem -> get_item, or GET_ITEM when upper. */
const char *gen_c_word(struct gen_arena *a, const char *name, bool upper);

/* Reports services without methods and methods whose generated C names collide; part of
 * gen_check(). Returns 0 or -EINVAL. */
int gen_check_c_names(struct gen_ctx *c);

/* ---- C stubs (emit.c) ------------------------------------------------------------------- */

/* Write X.trpc.h and X.trpc.c of a checked unit (docs/contracts.md, "Generated C"). The output is
 * deterministic and already in the project's clang-format style. Return 0 or -EIO. */
int gen_emit_header(FILE *f, const struct gen_unit *u);
int gen_emit_source(FILE *f, const struct gen_unit *u);

#endif
