/*
 * The human form of each success document of docs/admin-api.md. Each renderer names the members
 * it needs and their types (read_members); members it does not name are ignored, so a newer
 * broker's additions do no harm, and one that is missing or of another type fails with a line
 * naming it: "clients[3].id: expected integer, got string".
 *
 * Points in time are shown as local RFC 3339 times with their offset, durations as "4m5s"; counts
 * and sizes as plain decimal numbers.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"

/* Reads up to `digits` decimal digits at *p (exactly that many), advancing it; -1 if not digits. */
static int take_digits(const char **p, int digits)
{
    int v = 0;

    for (int i = 0; i < digits; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += digits;
    return v;
}

/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" as seconds since the epoch; false if it is not. */
static bool parse_rfc3339(const char *s, time_t *out)
{
    struct tm tm = {0};
    int f[6], off = 0;
    const char seps[] = "--T::";

    for (int i = 0; i < 6; i++) {
        f[i] = take_digits(&s, i == 0 ? 4 : 2);
        if (f[i] < 0 || (i < 5 && *s++ != seps[i] && !(i == 2 && s[-1] == 't')))
            return false;
    }
    if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 60)
        return false;
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++)
            ;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, h = take_digits(&s, 2), m;

        if (h < 0 || h > 23 || *s++ != ':')
            return false;
        m = take_digits(&s, 2);
        if (m < 0 || m > 59)
            return false;
        off = sign * (h * 3600 + m * 60);
    } else {
        return false;
    }
    if (*s != '\0')
        return false;
    tm.tm_year = f[0] - 1900;
    tm.tm_mon = f[1] - 1;
    tm.tm_mday = f[2];
    tm.tm_hour = f[3];
    tm.tm_min = f[4];
    tm.tm_sec = f[5];
    *out = timegm(&tm) - off;
    return true;
}

void ctl_fmt_time(const char *rfc3339, char *buf, size_t n)
{
    struct tm tm;
    time_t t;
    long off;
    size_t len;

    assert(n >= 32);
    if (!parse_rfc3339(rfc3339, &t) || localtime_r(&t, &tm) == NULL) {
        snprintf(buf, n, "%s", rfc3339);
        return;
    }
    len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    off = tm.tm_gmtoff / 60;
    snprintf(buf + len, n - len, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

void ctl_fmt_duration(long long ms, char *buf, size_t n)
{
    long long s = ms / 1000;

    if (ms < 1000)
        snprintf(buf, n, "%lldms", ms);
    else if (s < 60)
        snprintf(buf, n, "%llds", s);
    else if (s < 3600)
        snprintf(buf, n, "%lldm%llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, n, "%lldh%lldm%llds", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, n, "%lldd%lldh%lldm%llds", s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
}

const char *ctl_type_name(const json_t *v)
{
    static const char *const names[] = {"object", "array", "string", "integer", "real", "true", "false", "null"};
    unsigned t = (unsigned)json_typeof(v);

    return t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* Reads the members of obj (at `where`, "" for the document) into their outs; leaves the others. */
int ctl_read_members(json_t *obj, const char *where, const struct ctl_member *m, size_t n, char *err, size_t errlen)
{
    static const char *const wanted[] = {"integer", "string", "string or null", "true or false", "array", "object"};

    if (!json_is_object(obj)) {
        snprintf(err, errlen, "%s: expected object, got %s", where, ctl_type_name(obj));
        return -EPROTO;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(obj, m[i].key);
        bool fits = false;

        if (v == NULL && m[i].optional)
            continue;
        switch (v == NULL ? -1 : (int)m[i].kind) {
        case K_INT:
            fits = json_is_integer(v);
            if (fits)
                *(json_int_t *)m[i].out = json_integer_value(v);
            break;
        case K_STR:
        case K_STR_OR_NULL:
            fits = json_is_string(v) || (m[i].kind == K_STR_OR_NULL && json_is_null(v));
            if (fits)
                *(const char **)m[i].out = json_string_value(v); /* NULL for null */
            break;
        case K_BOOL:
            fits = json_is_boolean(v);
            if (fits)
                *(int *)m[i].out = json_is_true(v);
            break;
        case K_ARRAY:
        case K_OBJECT:
            fits = m[i].kind == K_ARRAY ? json_is_array(v) : json_is_object(v);
            if (fits)
                *(json_t **)m[i].out = v;
            break;
        }
        if (!fits) {
            if (v == NULL)
                snprintf(err, errlen, "%s%s%s: missing", where, *where ? "." : "", m[i].key);
            else
                snprintf(err, errlen, "%s%s%s: expected %s, got %s", where, *where ? "." : "", m[i].key, wanted[m[i].kind],
                         ctl_type_name(v));
            return -EPROTO;
        }
    }
    return 0;
}

int ctl_render_server_info(json_t *doc, FILE *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"KEY:l", "VALUE:l"};
    const char *name, *version, *started, *listen, *tier, *backend, *url, *last_error = NULL;
    json_int_t uptime_ms, cores, conns;
    json_t *store = NULL;
    int up, rc;
    char t_started[64], t_up[64], n_cores[24], n_conns[24];
    struct ctl_table t;

    rc = READ(doc, "", {"name", K_STR, &name, false}, {"version", K_STR, &version, false}, {"started", K_STR, &started, false},
              {"uptime_ms", K_INT, &uptime_ms, false}, {"listen", K_STR, &listen, false}, {"cores", K_INT, &cores, false},
              {"io_uring_tier", K_STR, &tier, false}, {"connections", K_INT, &conns, false}, {"store", K_OBJECT, &store, true});
    /* Brokers from before the store (issue 16's first part) have no "store": no store rows then. */
    if (rc == 0 && store != NULL)
        rc = READ(store, "store", {"backend", K_STR, &backend, false}, {"url", K_STR, &url, false}, {"up", K_BOOL, &up, false},
                  {"last_error", K_STR_OR_NULL, &last_error, false});
    if (rc)
        return rc;
    ctl_fmt_time(started, t_started, sizeof(t_started));
    ctl_fmt_duration(uptime_ms, t_up, sizeof(t_up));
    snprintf(n_cores, sizeof(n_cores), "%lld", (long long)cores);
    snprintf(n_conns, sizeof(n_conns), "%lld", (long long)conns);
    {
        const char *const rows[][2] = {
            {"name", name},
            {"version", version},
            {"started", t_started},
            {"uptime", t_up},
            {"listen", listen},
            {"cores", n_cores},
            {"io_uring tier", tier},
            {"connections", n_conns},
            {"store", backend},
            {"store url", url},
            {"store state", up ? "up" : "down"},
            {"store error", last_error},
        };
        /* The broker's 8 rows; the store's only with a store, its error row only with an error. */
        size_t nrows = store == NULL ? 8 : sizeof(rows) / sizeof(rows[0]) - (last_error == NULL);

        ctl_table_init(&t, 2, cols);
        t.no_head = true;
        for (size_t i = 0; i < nrows; i++) {
            rc = ctl_table_add(&t, rows[i]);
            if (rc)
                goto out_free;
        }
    }
    ctl_table_print(&t, out);
out_free:
    ctl_table_free(&t);
    return rc;
}

/* "NAME = VALUE (was PREVIOUS)" of one change document. */
static int change_line(json_t *doc, const char *where, FILE *out, char *err, size_t errlen)
{
    const char *name, *value, *previous;
    char *n, *v, *p;
    int rc =
        READ(doc, where, {"name", K_STR, &name, false}, {"value", K_STR, &value, false}, {"previous", K_STR, &previous, false});

    if (rc)
        return rc;
    n = ctl_printable(name, CTL_CELL_MAX_CHARS);
    v = ctl_printable(value, CTL_CELL_MAX_CHARS);
    p = ctl_printable(previous, CTL_CELL_MAX_CHARS);
    if (n != NULL && v != NULL && p != NULL)
        fprintf(out, "%s = %s (was %s)\n", n, v, p);
    else
        rc = -ENOMEM;
    free(n);
    free(v);
    free(p);
    return rc;
}

/* One change (name, value, previous), or several under "settings". */
int ctl_render_settings_set(json_t *doc, FILE *out, char *err, size_t errlen)
{
    json_t *list = json_object_get(doc, "settings"), *it;
    char where[32];
    size_t i;
    int rc = 0;

    if (list == NULL)
        return change_line(doc, "", out, err, errlen);
    if (!json_is_array(list)) {
        snprintf(err, errlen, "settings: expected array, got %s", ctl_type_name(list));
        return -EPROTO;
    }
    json_array_foreach(list, i, it)
    {
        snprintf(where, sizeof(where), "settings[%zu]", i);
        rc = change_line(it, where, out, err, errlen);
        if (rc)
            break;
    }
    return rc;
}

int ctl_render_clients_kick(json_t *doc, FILE *out, char *err, size_t errlen)
{
    json_int_t id;
    int rc = READ(doc, "", {"id", K_INT, &id, false});

    if (rc == 0)
        fprintf(out, "kicked client %lld\n", (long long)id);
    return rc;
}

int ctl_render_tls_reload(json_t *doc, FILE *out, char *err, size_t errlen)
{
    (void)doc;
    (void)err;
    (void)errlen;
    fprintf(out, "TLS certificates reloaded: new connections use them\n");
    return 0;
}

/* "(1000 of 2500 clients shown from offset 0; more with --offset 1000)" unless the page is the
 * whole list. total and offset are only printed: nothing is sized by them. */
static void page_note(FILE *out, const char *what, size_t shown, json_int_t offset, json_int_t total)
{
    if (offset == 0 && (json_int_t)shown >= total)
        return;
    fprintf(out, "(%zu of %lld %s shown from offset %lld", shown, (long long)total, what, (long long)offset);
    if (offset >= 0 && shown > 0 && offset < total - (json_int_t)shown)
        fprintf(out, "; more with --offset %lld", (long long)(offset + (json_int_t)shown));
    fputs(")\n", out);
}

/* The table of a list reply: one row per element actually present, whatever total says. */
int ctl_render_list(json_t *doc, const struct ctl_list_shape *shape, FILE *out, char *err, size_t errlen)
{
    json_int_t total = 0, offset = 0;
    struct ctl_table t;
    json_t *arr, *v;
    size_t i;
    int rc = READ(doc, "", {shape->key, K_ARRAY, &arr, false});

    if (rc == 0 && shape->paged)
        rc = READ(doc, "", {"total", K_INT, &total, false}, {"offset", K_INT, &offset, false});
    if (rc)
        return rc;
    assert(shape->ncols <= CTL_TABLE_MAX_COLS);
    ctl_table_init(&t, shape->ncols, shape->cols);
    json_array_foreach(arr, i, v)
    {
        const char *cells[CTL_TABLE_MAX_COLS];
        char scratch[CTL_TABLE_MAX_COLS][64], where[48];

        snprintf(where, sizeof(where), "%s[%zu]", shape->key, i);
        rc = shape->row(v, where, cells, scratch, err, errlen);
        if (rc == 0)
            rc = ctl_table_add(&t, cells);
        if (rc)
            goto out_free;
    }
    ctl_table_print(&t, out);
    if (shape->paged)
        page_note(out, shape->key, json_array_size(arr), offset, total);
out_free:
    ctl_table_free(&t);
    return rc;
}

static void fmt_int(char *buf, json_int_t v)
{
    snprintf(buf, 64, "%lld", (long long)v);
}

static int settings_row(json_t *v, const char *where, const char **cells, char (*scratch)[64], char *err, size_t errlen)
{
    int live;

    cells[3] = NULL; /* help is optional */
    if (READ(v, where, {"name", K_STR, &cells[0], false}, {"value", K_STR, &cells[1], false}, {"live", K_BOOL, &live, false},
             {"help", K_STR_OR_NULL, &cells[3], true}))
        return -EPROTO;
    cells[2] = live ? "yes" : "no";
    return 0;
}

int ctl_render_settings_get(json_t *doc, FILE *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"NAME:l", "VALUE:l", "LIVE:l", "HELP:l"};
    static const struct ctl_list_shape shape = {"settings", cols, 4, false, settings_row};

    return ctl_render_list(doc, &shape, out, err, errlen);
}

static int client_row(json_t *v, const char *where, const char **cells, char (*scratch)[64], char *err, size_t errlen)
{
    static const char *const counters[] = {"core",     "subscriptions", "msgs_in",       "msgs_out",
                                           "bytes_in", "bytes_out",     "pending_output"};
    json_int_t id, n[7];
    const char *since;

    /* READ takes its members in one list: the counters are read in a loop of their own below. */
    cells[11] = NULL; /* tls: null for plaintext; brokers before TLS do not send it */
    if (READ(v, where, {"id", K_INT, &id, false}, {"name", K_STR_OR_NULL, &cells[1], false}, {"peer", K_STR, &cells[2], false},
             {"connected_since", K_STR, &since, false}, {"tls", K_STR_OR_NULL, &cells[11], true}))
        return -EPROTO;
    for (size_t k = 0; k < 7; k++) {
        if (READ(v, where, {counters[k], K_INT, &n[k], false}))
            return -EPROTO;
        fmt_int(scratch[3 + k], n[k]);
        cells[3 + k] = scratch[3 + k];
    }
    if (cells[1] != NULL && cells[1][0] == '\0')
        cells[1] = NULL; /* a client that gave no name: "-", as for null */
    fmt_int(scratch[0], id);
    cells[0] = scratch[0];
    ctl_fmt_time(since, scratch[10], 64);
    cells[10] = scratch[10];
    return 0;
}

int ctl_render_clients_ls(json_t *doc, FILE *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"ID:r",       "NAME:l",     "PEER:l",      "CORE:r",    "SUBS:r",      "MSGS_IN:r",
                                       "MSGS_OUT:r", "BYTES_IN:r", "BYTES_OUT:r", "PENDING:r", "CONNECTED:l", "TLS:l"};
    static const struct ctl_list_shape shape = {"clients", cols, 12, true, client_row};

    return ctl_render_list(doc, &shape, out, err, errlen);
}

static int sub_row(json_t *v, const char *where, const char **cells, char (*scratch)[64], char *err, size_t errlen)
{
    json_int_t client, sid, delivered;

    if (READ(v, where, {"client", K_INT, &client, false}, {"sid", K_INT, &sid, false}, {"pattern", K_STR, &cells[2], false},
             {"group", K_STR_OR_NULL, &cells[3], false}, {"delivered", K_INT, &delivered, false}))
        return -EPROTO;
    fmt_int(scratch[0], client);
    fmt_int(scratch[1], sid);
    fmt_int(scratch[4], delivered);
    cells[0] = scratch[0];
    cells[1] = scratch[1];
    cells[4] = scratch[4];
    return 0;
}

int ctl_render_subs_ls(json_t *doc, FILE *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"CLIENT:r", "SID:r", "PATTERN:l", "GROUP:l", "DELIVERED:r"};
    static const struct ctl_list_shape shape = {"subscriptions", cols, 5, true, sub_row};

    return ctl_render_list(doc, &shape, out, err, errlen);
}
