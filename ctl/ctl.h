/*
 * trpcctl internals. The program is main.c (arguments, the connection, the request); everything
 * declared here works on bytes and FILE streams only, so tests/ctl/ feeds it the admin API's
 * documents (docs/admin-api.md) without a broker.
 *
 * Reply documents come from a broker that may be of another version: members this tool does not
 * know are ignored, a member it needs that is missing or of the wrong type is an error with one
 * line saying which, and no length or count in a document sizes anything here (tables grow with
 * the elements actually present, cells are cut at CTL_CELL_MAX_CHARS).
 */
#ifndef TRPC_CTL_H
#define TRPC_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

enum { CTL_EXIT_OK = 0, CTL_EXIT_FAIL = 1, CTL_EXIT_USAGE = 2 };

/* ---- tables (table.c) -------------------------------------------------------------------------- */

#define CTL_TABLE_MAX_COLS 12
/* Characters shown of one cell; longer ones end in "...". --json shows everything. */
#define CTL_CELL_MAX_CHARS 80

/* Columns separated by two spaces, a header row, numbers right-aligned, the last column not padded.
 * All-zero is an empty table with no columns. */
struct ctl_table {
    size_t ncols;
    const char *head[CTL_TABLE_MAX_COLS];
    bool right[CTL_TABLE_MAX_COLS];
    size_t width[CTL_TABLE_MAX_COLS]; /* in characters, header included */
    char **cells;                     /* nrows * ncols, each malloc'ed and made printable */
    size_t nrows;
    size_t cap_rows;
    bool no_head; /* key-value lists: no header row */
};

/* Columns from "NAME:l" / "COUNT:r" specs (left or right aligned); the strings must outlive t. */
void ctl_table_init(struct ctl_table *t, size_t ncols, const char *const *specs);
/* Appends a row of ncols cells (NULL prints "-"). Copies them, replacing control characters by '?'
 * so a document cannot move the terminal's cursor. Returns 0 or -ENOMEM. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);
void ctl_table_print(const struct ctl_table *t, FILE *out);
void ctl_table_free(struct ctl_table *t);
/* s with control characters replaced as in a cell, cut at max_chars (>= 3); malloc'ed, NULL if out
 * of memory. */
char *ctl_printable(const char *s, size_t max_chars);
/* s made printable as a cell is, for a name in a line of text: kept in *hold (the caller frees it
 * once the line is out); "?" when out of memory. */
const char *ctl_pr(char **hold, const char *s);

/* ---- verbs (verbs.c) --------------------------------------------------------------------------- */

/* Patterns of one kind that user add takes (the broker's limit per list, src/auth.h). */
#define CTL_PERMS_MAX 1024

/* What the command line gave a verb besides its positional arguments. */
struct ctl_args {
    char **pos; /* positional arguments after "AREA VERB" */
    int npos;
    long long limit; /* -1: not given */
    long long offset;
    long long max_msg_size; /* -1: not given; so are the three below */
    long long max_msgs, max_bytes, max_age_ms, dedup_window_ms;
    const char *discard;   /* NULL: not given */
    const char *retention; /* NULL: not given */
    /* group add: NULL or -1 when not given */
    const char *pattern, *start, *backoff, *dlq;
    long long max_deliveries, ack_wait_ms;
    /* dlq ls and redrive: NULL or -1 when not given */
    const char *reason;
    long long from, max;
    /* user add: NULL (or no patterns) when not given */
    const char *role, *cert;
    const char *perms[3][CTL_PERMS_MAX]; /* --publish, --subscribe, --request */
    int nperms[3];
    bool no_password;
    bool deny; /* user grant and revoke: the patterns are deny ones */
    /* token add: NULL or -1 when not given */
    const char *label;
    long long ttl_s;
    /* user add and user passwd: the new password, read by main.c (NULL: none) */
    const char *password;
};

/* Writes the human form of success document doc to out; returns 0, or -EPROTO with a one-line reason
 * in err (a member missing or of the wrong type). */
typedef int ctl_render_fn(json_t *doc, FILE *out, char *err, size_t errlen);
/* The request document for the arguments (validated by main.c's counts); NULL when out of memory. */
typedef json_t *ctl_request_fn(const struct ctl_args *a);

struct ctl_verb {
    const char *area;    /* "clients" */
    const char *verb;    /* "ls" */
    const char *topic;   /* "$trpc.admin.clients.list" */
    const char *args;    /* synopsis after "AREA VERB", "" if none */
    const char *summary; /* one line for trpcctl --help */
    const char *help;    /* the body of trpcctl AREA VERB --help */
    int min_pos, max_pos;
    bool paged;  /* takes --limit and --offset */
    bool id_arg; /* its argument is a client id (a positive decimal integer) */
    ctl_request_fn *request;
    ctl_render_fn *render;
    bool pairs;       /* its arguments come in pairs (NAME VALUE ...) */
    bool stream_opts; /* takes --max-msg-size and the retention options */
    bool group_opts;  /* takes --pattern, --start and the delivery policy options */
    bool dlq_opts;    /* takes --reason, --from and --max */
    bool follow;      /* a reply with "more": true is followed by a call from its "next_seq" */
    bool ago_arg;     /* its third argument may also be a duration back from now (sent as a time) */
    unsigned extra;   /* CTL_X_*: what the user and token commands take */
};

enum {
    CTL_X_USER_OPTS = 1,  /* takes --role, --publish, --subscribe, --request, --cert and --no-password */
    CTL_X_GRANT_ARGS = 2, /* its arguments are NAME WHAT ITEM... (user grant, user revoke); takes --deny */
    CTL_X_TOKEN_OPTS = 4, /* takes --name and --ttl */
    CTL_X_PASSWORD = 8,   /* sends a new password, which main.c asks for (user add unless --no-password) */
};

extern const struct ctl_verb ctl_verbs[];
extern const size_t ctl_verb_count;

/* The verb, NULL if unknown; ctl_area_known says whether a first word names any. */
const struct ctl_verb *ctl_verb_find(const char *area, const char *verb);
bool ctl_area_known(const char *area);

/* ---- replies (reply.c) ------------------------------------------------------------------------- */

/*
 * Shows the broker's reply to verb v: with json, the document as received (the broker's bytes and
 * a newline) on out; else its table. An error reply ({"ok": false, ...}) prints
 * "trpcctl: AREA VERB: MESSAGE" on errout; so does a reply that is not a document of the contract.
 * Returns the exit status (CTL_EXIT_OK or CTL_EXIT_FAIL).
 */
int ctl_reply_show(const struct ctl_verb *v, const void *data, size_t len, bool json, FILE *out, FILE *errout);

/* ---- renderers (render.c): one per verb ------------------------------------------------------- */

ctl_render_fn ctl_render_server_info;
ctl_render_fn ctl_render_settings_get;
ctl_render_fn ctl_render_settings_set;
ctl_render_fn ctl_render_clients_ls;
ctl_render_fn ctl_render_clients_kick;
ctl_render_fn ctl_render_tls_reload;
ctl_render_fn ctl_render_subs_ls;

ctl_render_fn ctl_render_stream_ls;
ctl_render_fn ctl_render_stream_info;
ctl_render_fn ctl_render_stream_rm;
ctl_render_fn ctl_render_stream_purge;
ctl_render_fn ctl_render_stream_get;
ctl_render_fn ctl_render_group_ls;
ctl_render_fn ctl_render_group_info;
ctl_render_fn ctl_render_group_rm;
ctl_render_fn ctl_render_dlq_ls;
ctl_render_fn ctl_render_dlq_redrive;
ctl_render_fn ctl_render_user_add;
ctl_render_fn ctl_render_user_show;
ctl_render_fn ctl_render_user_list;
ctl_render_fn ctl_render_user_del;
ctl_render_fn ctl_render_user_passwd;
ctl_render_fn ctl_render_user_enable;
ctl_render_fn ctl_render_token_add;
ctl_render_fn ctl_render_token_list;
ctl_render_fn ctl_render_token_del;

/* ---- reading documents (render.c) ------------------------------------------------------------- */

enum ctl_kind { K_INT, K_STR, K_STR_OR_NULL, K_BOOL, K_ARRAY, K_OBJECT };

struct ctl_member {
    const char *key;
    enum ctl_kind kind;
    void *out; /* json_int_t *, const char ** (NULL for null), int *, json_t ** */
    bool optional;
};

/* Reads the members of obj (at `where`, "" for the document) into their outs; 0, or -EPROTO with a
 * line naming the member in err. */
int ctl_read_members(json_t *obj, const char *where, const struct ctl_member *m, size_t n, char *err, size_t errlen);
const char *ctl_type_name(const json_t *v);

/* One element of a list as the cells of its row; numbers and times are formatted into scratch. */
typedef int ctl_row_fn(json_t *v, const char *where, const char **cells, char (*scratch)[64], char *err, size_t errlen);

/* A list reply: its array member, the table's columns, and whether it is paged (total and offset). */
struct ctl_list_shape {
    const char *key;
    const char *const *cols;
    size_t ncols;
    bool paged;
    ctl_row_fn *row;
};

/* The table of a list reply: one row per element actually present, whatever total says. */
int ctl_render_list(json_t *doc, const struct ctl_list_shape *shape, FILE *out, char *err, size_t errlen);

#define READ(obj, where, ...)                                                                                                      \
    ctl_read_members(obj, where, (const struct ctl_member[]){__VA_ARGS__},                                                         \
                     sizeof((const struct ctl_member[]){__VA_ARGS__}) / sizeof(struct ctl_member), err, errlen)

/* ---- formatting (render.c) --------------------------------------------------------------------- */

/* An RFC 3339 UTC or offset time ("2026-12-05T05:00:01Z") as local time with its offset
 * ("2026-12-05T06:00:01+01:00"); a string it cannot read is copied as it is. */
void ctl_fmt_time(const char *rfc3339, char *buf, size_t n);
/* Milliseconds as "2d3h4m5s", "4m5s", "5s" or "250ms". */
void ctl_fmt_duration(long long ms, char *buf, size_t n);

#endif
