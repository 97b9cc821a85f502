/*
 * trpcctl's renderers of the user and token verbs (docs/admin-api.md, "Users and tokens"). Nothing
 * here shows a password or a hash: the broker sends neither; a token only in token add's reply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

static const char *const kv_cols[] = {"KEY:l", "VALUE:l"};

/* A time, or `none` for null. */
static const char *when(const char *rfc3339, char *buf, const char *none)
{
    if (rfc3339 == NULL)
        return none;
    ctl_fmt_time(rfc3339, buf, 64);
    return buf;
}

/* The strings of arr joined by ", " into buf (cut short, ending in "...", when they do not fit);
 * none when it is empty. -EPROTO when an element is not a string. */
static int join(json_t *arr, const char *where, char *buf, size_t n, const char **out, const char *none, char *err, size_t errlen)
{
    size_t at = 0, i;
    json_t *v;

    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        int w;

        if (s == NULL) {
            snprintf(err, errlen, "%s[%zu]: expected string, got %s", where, i, ctl_type_name(v));
            return -EPROTO;
        }
        if (at >= n - 1)
            continue;
        w = snprintf(buf + at, n - at, "%s%s", i > 0 ? ", " : "", s);
        at = w < 0 || (size_t)w >= n - at ? n - 1 : at + (size_t)w;
    }
    if (at == n - 1 && n > 4)
        memcpy(buf + n - 4, "...", 4);
    *out = json_array_size(arr) > 0 ? buf : none;
    return 0;
}

/* The rows "OP allow" and "OP deny" of a user's lists for op: one per pattern, "-" for none. */
static int op_rows(struct ctl_table *t, json_t *user, const char *op, char *err, size_t errlen)
{
    static const char *const kinds[] = {"allow", "deny"};
    json_t *lists, *arr, *v;
    char where[48], key[32];
    size_t i;
    int rc = READ(user, "user", {op, K_OBJECT, &lists, false});

    for (int k = 0; rc == 0 && k < 2; k++) {
        arr = NULL;
        snprintf(where, sizeof(where), "user.%s", op);
        rc = READ(lists, where, {kinds[k], K_ARRAY, &arr, true});
        snprintf(key, sizeof(key), "%s %s", op, kinds[k]);
        if (rc == 0 && json_array_size(arr) == 0)
            rc = ctl_table_add(t, (const char *const[]){key, NULL});
        json_array_foreach(arr, i, v)
        {
            if (rc != 0)
                break;
            if (!json_is_string(v)) {
                snprintf(err, errlen, "user.%s.%s[%zu]: expected string, got %s", op, kinds[k], i, ctl_type_name(v));
                rc = -EPROTO;
                break;
            }
            rc = ctl_table_add(t, (const char *const[]){key, json_string_value(v)});
        }
    }
    return rc;
}

static int token_row(json_t *v, const char *where, const char **cells, char (*scratch)[64], char *err, size_t errlen)
{
    const char *created = NULL, *expires = NULL;

    if (READ(v, where, {"id", K_STR, &cells[0], false}, {"name", K_STR, &cells[1], false},
             {"created", K_STR_OR_NULL, &created, false}, {"expires", K_STR_OR_NULL, &expires, false}))
        return -EPROTO;
    if (cells[1][0] == '\0')
        cells[1] = NULL;
    cells[2] = when(created, scratch[2], NULL);
    cells[3] = when(expires, scratch[3], "never");
    return 0;
}

/* user show (and user add, grant, revoke): the user as key-value rows, then its tokens. */
int ctl_render_user_show(json_t *doc, FILE *out, char *err, size_t errlen)
{
    static const char *const tcols[] = {"TOKEN ID:l", "NAME:l", "CREATED:l", "EXPIRES:l"};
    static const struct ctl_list_shape tshape = {"tokens", tcols, 4, false, token_row};
    const char *name, *cert = NULL, *created = NULL, *updated = NULL, *roles_s, *groups_s = "any";
    char roles_b[CTL_CELL_MAX_CHARS + 4], groups_b[CTL_CELL_MAX_CHARS + 4], t_created[64], t_updated[64];
    json_t *user, *roles, *groups = NULL, *tokens = NULL;
    int enabled, password, rc;
    struct ctl_table t;

    rc = READ(doc, "", {"user", K_OBJECT, &user, false});
    if (rc == 0)
        rc = READ(user, "user", {"name", K_STR, &name, false}, {"roles", K_ARRAY, &roles, false},
                  {"enabled", K_BOOL, &enabled, false}, {"password", K_BOOL, &password, false}, {"groups", K_ARRAY, &groups, true},
                  {"cert", K_STR, &cert, true}, {"created", K_STR_OR_NULL, &created, false},
                  {"updated", K_STR_OR_NULL, &updated, false}, {"tokens", K_ARRAY, &tokens, true});
    if (rc == 0)
        rc = join(roles, "user.roles", roles_b, sizeof(roles_b), &roles_s, NULL, err, errlen);
    if (rc == 0 && groups != NULL)
        rc = join(groups, "user.groups", groups_b, sizeof(groups_b), &groups_s, "none", err, errlen);
    if (rc)
        return rc;
    ctl_table_init(&t, 2, kv_cols);
    t.no_head = true;
    {
        const char *const rows[][2] = {
            {"user", name},
            {"roles", roles_s},
            {"enabled", enabled ? "yes" : "no"},
            {"password", password ? "yes" : "no"},
            {"certificate", cert},
            {"groups", groups_s},
            {"created", when(created, t_created, NULL)},
            {"updated", when(updated, t_updated, NULL)},
        };

        for (size_t i = 0; rc == 0 && i < sizeof(rows) / sizeof(rows[0]); i++)
            rc = ctl_table_add(&t, rows[i]);
    }
    if (rc == 0)
        rc = op_rows(&t, user, "publish", err, errlen);
    if (rc == 0)
        rc = op_rows(&t, user, "subscribe", err, errlen);
    if (rc == 0)
        rc = op_rows(&t, user, "request", err, errlen);
    if (rc == 0)
        ctl_table_print(&t, out);
    ctl_table_free(&t);
    if (rc == 0 && json_array_size(tokens) > 0) {
        fputc('\n', out);
        rc = ctl_render_list(user, &tshape, out, err, errlen);
    } else if (rc == 0 && tokens != NULL) {
        fputs("no tokens\n", out);
    }
    return rc;
}

/* The line of a change: before, the user's name made printable, after. */
static void said(FILE *out, const char *before, const char *name, const char *after)
{
    char *p = ctl_printable(name, CTL_CELL_MAX_CHARS);

    fprintf(out, "%s%s%s\n", before, p != NULL ? p : "?", after);
    free(p);
}

int ctl_render_user_add(json_t *doc, FILE *out, char *err, size_t errlen)
{
    const char *name;
    json_t *user;
    int rc = READ(doc, "", {"user", K_OBJECT, &user, false});

    if (rc == 0)
        rc = READ(user, "user", {"name", K_STR, &name, false});
    if (rc == 0) {
        said(out, "added user ", name, "");
        rc = ctl_render_user_show(doc, out, err, errlen);
    }
    return rc;
}

static int user_row(json_t *v, const char *where, const char **cells, char (*scratch)[64], char *err, size_t errlen)
{
    json_t *roles;
    int enabled, password;
    char w[64];

    cells[4] = NULL;
    if (READ(v, where, {"name", K_STR, &cells[0], false}, {"roles", K_ARRAY, &roles, false}, {"enabled", K_BOOL, &enabled, false},
             {"password", K_BOOL, &password, false}, {"cert", K_STR, &cells[4], true}))
        return -EPROTO;
    snprintf(w, sizeof(w), "%s.roles", where);
    if (join(roles, w, scratch[1], 64, &cells[1], NULL, err, errlen) != 0)
        return -EPROTO;
    cells[2] = enabled ? "yes" : "no";
    cells[3] = password ? "yes" : "no";
    return 0;
}

int ctl_render_user_list(json_t *doc, FILE *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"NAME:l", "ROLES:l", "ENABLED:l", "PASSWORD:l", "CERTIFICATE:l"};
    static const struct ctl_list_shape shape = {"users", cols, 5, false, user_row};

    return ctl_render_list(doc, &shape, out, err, errlen);
}

int ctl_render_user_del(json_t *doc, FILE *out, char *err, size_t errlen)
{
    const char *name;
    json_int_t tokens;
    int rc = READ(doc, "", {"name", K_STR, &name, false}, {"tokens", K_INT, &tokens, false});

    if (rc == 0) {
        char n[48];

        snprintf(n, sizeof(n), " and its %lld tokens", (long long)tokens);
        said(out, "deleted user ", name, n);
    }
    return rc;
}

int ctl_render_user_passwd(json_t *doc, FILE *out, char *err, size_t errlen)
{
    const char *name;
    json_t *user;
    int rc = READ(doc, "", {"user", K_OBJECT, &user, false});

    if (rc == 0)
        rc = READ(user, "user", {"name", K_STR, &name, false});
    if (rc == 0)
        said(out, "changed the password of user ", name, "");
    return rc;
}

/* user enable and user disable: the state the user is in now. */
int ctl_render_user_enable(json_t *doc, FILE *out, char *err, size_t errlen)
{
    const char *name;
    json_t *user;
    int enabled, rc = READ(doc, "", {"user", K_OBJECT, &user, false});

    if (rc == 0)
        rc = READ(user, "user", {"name", K_STR, &name, false}, {"enabled", K_BOOL, &enabled, false});
    if (rc == 0)
        said(out, "user ", name, enabled ? " is enabled" : " is disabled: its logins are refused");
    return rc;
}

int ctl_render_token_add(json_t *doc, FILE *out, char *err, size_t errlen)
{
    const char *token, *id, *user, *name, *expires = NULL;
    char t_expires[64];
    struct ctl_table t;
    int rc = READ(doc, "", {"token", K_STR, &token, false}, {"id", K_STR, &id, false}, {"user", K_STR, &user, false},
                  {"name", K_STR, &name, false}, {"expires", K_STR_OR_NULL, &expires, false});

    if (rc)
        return rc;
    ctl_table_init(&t, 2, kv_cols);
    t.no_head = true;
    {
        const char *const rows[][2] = {
            {"token", token},
            {"id", id},
            {"user", user},
            {"name", name[0] != '\0' ? name : NULL},
            {"expires", when(expires, t_expires, "never")},
        };

        for (size_t i = 0; rc == 0 && i < sizeof(rows) / sizeof(rows[0]); i++)
            rc = ctl_table_add(&t, rows[i]);
    }
    if (rc == 0) {
        ctl_table_print(&t, out);
        fputs("(shown this once: the broker keeps only a hash of the token)\n", out);
    }
    ctl_table_free(&t);
    return rc;
}

static int token_list_row(json_t *v, const char *where, const char **cells, char (*scratch)[64], char *err, size_t errlen)
{
    const char *c[4];
    int rc = token_row(v, where, c, scratch, err, errlen);

    if (rc == 0)
        rc = READ(v, where, {"user", K_STR, &cells[1], false});
    if (rc == 0) {
        cells[0] = c[0];
        cells[2] = c[1];
        cells[3] = c[2];
        cells[4] = c[3];
    }
    return rc;
}

int ctl_render_token_list(json_t *doc, FILE *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"ID:l", "USER:l", "NAME:l", "CREATED:l", "EXPIRES:l"};
    static const struct ctl_list_shape shape = {"tokens", cols, 5, false, token_list_row};

    return ctl_render_list(doc, &shape, out, err, errlen);
}

int ctl_render_token_del(json_t *doc, FILE *out, char *err, size_t errlen)
{
    const char *id, *user;
    int rc = READ(doc, "", {"id", K_STR, &id, false}, {"user", K_STR, &user, false});

    if (rc == 0) {
        char *i = ctl_printable(id, CTL_CELL_MAX_CHARS), *u = ctl_printable(user, CTL_CELL_MAX_CHARS);

        if (i != NULL && u != NULL)
            fprintf(out, "deleted token %s of user %s\n", i, u);
        else
            rc = -ENOMEM;
        free(i);
        free(u);
    }
    return rc;
}
