/*
 * The user and token verbs of the admin API (docs/admin-api.md, "Users and tokens"), on the
 * control thread. The records are the store's (namespaces "users", "tokens" and "certs", their
 * shapes at the top of auth.h); each verb reads what it needs, writes, and tells the sessions
 * (control_auth_user_changed, control_auth_token_revoked).
 *
 * Secrets: a password is hashed here and only its hash is stored; the request's copy is wiped once
 * hashed. A token is made here and shown once, in the reply; only its SHA-256 is stored. Neither
 * is ever logged, nor shown by user.get.
 *
 * The store has no transactions across namespaces: a change that writes several records writes
 * them in the order that leaves, if it stops half way, nothing a login could use that the operator
 * did not mean (a deleted user's tokens go before the user; a certificate's mapping comes before
 * the user that names it, and a mapping whose user does not name it counts for nobody).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "src/admin_api.h"
#include "src/auth.h"
#include "src/control.h"
#include "src/log.h"
#include "src/store.h"

#define LABEL_MAX   64                        /* a token's name */
#define TTL_MAX_S   (100ll * 365 * 24 * 3600) /* a token's lifetime at most: a century */
#define TOKEN_TRIES 3                         /* ids drawn before giving up on a free one */
#define STORE_CODE  "STORE_UNAVAILABLE"

static const char *const op_keys[3] = {"publish", "subscribe", "request"};

/* ---- the store ----------------------------------------------------------------------------------- */

/* Answers a failed store call. */
static void fail_store(struct control *ctl, struct admin_call *call, int err)
{
    if (err == -ENOMEM)
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
    else if (err == -EMSGSIZE)
        admin_api_fail(ctl, call, "BAD_REQUEST", "the record would pass the store's limit of %u bytes", STORE_VALUE_MAX);
    else
        admin_api_fail(ctl, call, STORE_CODE, "%s", store_last_error(ctl->store));
}

static int save(struct control *ctl, const char *ns, const char *key, const json_t *rec)
{
    char *s = json_dumps(rec, JSON_COMPACT);
    int ret = s != NULL ? store_put(ctl->store, ns, key, s, strlen(s)) : -ENOMEM;

    free(s);
    return ret;
}

/* Every record of a namespace, sorted by cmp (records that are not JSON objects left out). */
struct rec {
    char *key;
    json_t *val;
};

struct recs {
    struct rec *v;
    size_t n, cap;
};

static int collect(void *arg, const char *key, const void *val, size_t len)
{
    struct recs *r = arg;
    json_t *j = json_loadb(val, len, 0, NULL);

    if (!json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct rec *v = realloc(r->v, cap * sizeof(*v));

        if (v == NULL)
            goto nomem;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n].key = strdup(key);
    if (r->v[r->n].key == NULL)
        goto nomem;
    r->v[r->n++].val = j;
    return 0;
nomem:
    json_decref(j);
    return -ENOMEM;
}

static void recs_free(struct recs *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].key);
        json_decref(r->v[i].val);
    }
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static int recs_load(struct control *ctl, const char *ns, struct recs *r, int (*cmp)(const void *, const void *))
{
    int ret;

    memset(r, 0, sizeof(*r));
    ret = store_list(ctl->store, ns, collect, r);
    if (ret != 0) {
        recs_free(r);
        return ret;
    }
    if (r->n > 1)
        qsort(r->v, r->n, sizeof(*r->v), cmp);
    return 0;
}

static const char *str_of(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s != NULL ? s : "";
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const struct rec *)a)->key, ((const struct rec *)b)->key);
}

/* Tokens by user, then age, then id. */
static int cmp_token(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    json_int_t cx = json_integer_value(json_object_get(x->val, "created"));
    json_int_t cy = json_integer_value(json_object_get(y->val, "created"));
    int c = strcmp(str_of(x->val, "user"), str_of(y->val, "user"));

    if (c != 0)
        return c;
    if (cx != cy)
        return cx < cy ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* ---- documents ----------------------------------------------------------------------------------- */

/* RFC 3339 of a record's unix seconds; null when absent or 0 (a token that never expires). */
static json_t *time_doc(const json_t *rec, const char *key)
{
    json_int_t s = json_integer_value(json_object_get(rec, key));
    char buf[40];

    if (s <= 0)
        return json_null();
    admin_api_rfc3339((uint64_t)s * 1000000000u, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *token_doc(const char *id, const json_t *t, bool with_user)
{
    json_t *doc = json_pack("{s:s, s:o, s:o, s:o}", "id", id, "name", admin_api_text(str_of(t, "name")), "created",
                            time_doc(t, "created"), "expires", time_doc(t, "expires"));

    if (doc != NULL && with_user && json_object_set_new(doc, "user", json_string(str_of(t, "user"))) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* An operation's lists as stored and shown: {"allow": [...], "deny": [...]}, both there. Anything
 * but an object is kept as it is, for auth_user_check to refuse with its reason. */
static json_t *op_lists(json_t *given)
{
    json_t *o = given == NULL ? json_object() : json_is_object(given) ? json_deep_copy(given) : json_incref(given);

    if (json_is_object(o) && ((json_object_get(o, "allow") == NULL && json_object_set_new(o, "allow", json_array()) != 0) ||
                              (json_object_get(o, "deny") == NULL && json_object_set_new(o, "deny", json_array()) != 0))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A copy of rec's roles, [] when it has none. */
static json_t *roles_of(const json_t *rec)
{
    json_t *roles = json_object_get(rec, "roles");

    return json_is_array(roles) ? json_deep_copy(roles) : json_array();
}

/* A user as user.get shows it (never the hash), with its tokens. */
static json_t *user_doc(const char *name, const json_t *rec, json_t *tokens)
{
    json_t *v, *doc = json_pack("{s:s, s:o, s:b, s:b, s:o, s:o, s:O}", "name", name, "roles", roles_of(rec), "enabled",
                                auth_user_enabled(rec), "password", json_object_get(rec, "hash") != NULL, "created",
                                time_doc(rec, "created"), "updated", time_doc(rec, "updated"), "tokens", tokens);

    for (int k = 0; doc != NULL && k < 3; k++)
        if (json_object_set_new(doc, op_keys[k], op_lists(json_object_get(rec, op_keys[k]))) != 0) {
            json_decref(doc);
            doc = NULL;
        }
    if (doc != NULL && (v = json_object_get(rec, "groups")) != NULL && json_object_set(doc, "groups", v) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    if (doc != NULL && (v = json_object_get(rec, "cert")) != NULL && json_object_set(doc, "cert", v) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* The tokens of user (NULL: everyone's), each with its user when with_user: 0 or the store's
 * error. */
static int tokens_list(struct control *ctl, const char *user, bool with_user, json_t **out)
{
    struct recs r;
    int ret = recs_load(ctl, AUTH_NS_TOKENS, &r, cmp_token);

    *out = ret == 0 ? json_array() : NULL;
    for (size_t i = 0; *out != NULL && i < r.n; i++) {
        if (user != NULL && strcmp(str_of(r.v[i].val, "user"), user) != 0)
            continue;
        if (json_array_append_new(*out, token_doc(r.v[i].key, r.v[i].val, with_user)) != 0) {
            json_decref(*out);
            *out = NULL;
        }
    }
    if (ret == 0 && *out == NULL)
        ret = -ENOMEM;
    recs_free(&r);
    return ret;
}

/* Answers the call with {"ok": true, "user": (user.get's document)}. */
static void reply_user(struct control *ctl, struct admin_call *call, const char *name, const json_t *rec)
{
    json_t *tokens;
    int ret = tokens_list(ctl, name, false, &tokens);

    if (ret != 0) {
        fail_store(ctl, call, ret);
        return;
    }
    admin_api_reply(ctl, call, json_pack("{s:b, s:o}", "ok", 1, "user", user_doc(name, rec, tokens)));
    json_decref(tokens);
}

/* ---- requests ------------------------------------------------------------------------------------ */

/* Whether name is a user's name; answered BAD_REQUEST when not. */
static bool name_ok(struct control *ctl, struct admin_call *call, const char *name)
{
    char why[AUTH_ERR_MAX];

    if (auth_name_check(name, why, sizeof(why)) == 0)
        return true;
    admin_api_fail(ctl, call, "BAD_REQUEST", "name: %s", why);
    return false;
}

/* User name's record, or NULL when the call was answered (no such user, a store error). */
static json_t *user_load(struct control *ctl, struct admin_call *call, const char *name)
{
    json_t *rec;
    int ret;

    if (!name_ok(ctl, call, name))
        return NULL;
    ret = control_auth_load(ctl, AUTH_NS_USERS, name, &rec);
    if (ret == -ENOENT)
        admin_api_fail(ctl, call, "NOT_FOUND", "no user %s", name);
    else if (ret == -EBADMSG)
        admin_api_fail(ctl, call, "INTERNAL", "user %s: the stored record is not a JSON object", name);
    else if (ret != 0)
        fail_store(ctl, call, ret);
    return ret == 0 ? rec : NULL;
}

/* The request's {"name": N} alone: its user's record, or NULL when answered. */
static json_t *named_user(struct control *ctl, struct admin_call *call, json_t *req, const char **name)
{
    json_error_t err;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s}", "name", name) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return NULL;
    }
    return user_load(ctl, call, *name);
}

/* The request's copy of a password, wiped once it is hashed (or refused). jansson keeps the
 * string's bytes in the member's own buffer, which nothing else shares. */
static void forget(json_t *pw)
{
    if (json_is_string(pw))
        OPENSSL_cleanse((char *)json_string_value(pw), json_string_length(pw));
}

/* Puts the hash of password pw into rec; false when answered (refused, or the hashing failed). */
static bool hash_into(struct control *ctl, struct admin_call *call, json_t *rec, json_t *pw)
{
    char hash[AUTH_HASH_MAX];
    size_t len = json_string_length(pw);
    int ret;

    if (!json_is_string(pw) || len < AUTH_PASSWORD_MIN || len > AUTH_PASSWORD_MAX || strlen(json_string_value(pw)) != len) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "password: a string of %d to %d bytes, without NUL", AUTH_PASSWORD_MIN,
                       AUTH_PASSWORD_MAX);
        return false;
    }
    ret = auth_hash_password(json_string_value(pw), len, hash, sizeof(hash));
    if (ret == 0 && json_object_set_new(rec, "hash", json_string(hash)) != 0)
        ret = -ENOMEM;
    if (ret != 0)
        admin_api_fail(ctl, call, "INTERNAL", "cannot hash the password: %s", ret == -EIO ? "no randomness" : strerror(-ret));
    return ret == 0;
}

/* Whether rec is a user record the broker takes; answered BAD_REQUEST when not. */
static bool record_ok(struct control *ctl, struct admin_call *call, const json_t *rec)
{
    const char *cert = json_string_value(json_object_get(rec, "cert"));
    char why[AUTH_ERR_MAX];

    if (auth_user_check(rec, ctl->cfg.limits.max_topic, why, sizeof(why)) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", why);
        return false;
    }
    /* The subject is the key of its mapping. */
    if (cert != NULL && strlen(cert) > STORE_KEY_MAX) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "cert: a certificate subject of at most %d bytes", STORE_KEY_MAX);
        return false;
    }
    return true;
}

static json_int_t now_s(void)
{
    return (json_int_t)time(NULL);
}

/* Who has certificate subject cert: 0 with owner "" for nobody or the user's name, or the store's
 * error. A mapping whose user is gone, or names another subject now, is nobody's: what a change
 * that stopped half way left. */
static int cert_owner(struct control *ctl, const char *cert, char *owner, size_t len)
{
    json_t *map, *rec = NULL;
    const char *user;
    int ret = control_auth_load(ctl, AUTH_NS_CERTS, cert, &map);

    owner[0] = '\0';
    if (ret == -ENOENT || ret == -EBADMSG)
        return 0;
    if (ret != 0)
        return ret;
    user = str_of(map, "user");
    ret = auth_name_check(user, owner, len) == 0 ? control_auth_load(ctl, AUTH_NS_USERS, user, &rec) : -ENOENT;
    owner[0] = '\0';
    if (ret == 0 && strcmp(str_of(rec, "cert"), cert) == 0)
        snprintf(owner, len, "%s", user);
    json_decref(rec);
    json_decref(map);
    return ret == -ENOENT || ret == -EBADMSG ? 0 : ret;
}

/* Maps certificate subject cert to user name; false when answered (another user has it, or the
 * store failed). */
static bool cert_take(struct control *ctl, struct admin_call *call, const char *cert, const char *name)
{
    char owner[AUTH_NAME_MAX + 1];
    json_t *map;
    int ret = cert_owner(ctl, cert, owner, sizeof(owner));

    if (ret == 0 && owner[0] != '\0' && strcmp(owner, name) != 0) {
        admin_api_fail(ctl, call, "EXISTS", "certificate subject %s is user %s's", cert, owner);
        return false;
    }
    map = ret == 0 ? json_pack("{s:s}", "user", name) : NULL;
    if (ret == 0)
        ret = map != NULL ? save(ctl, AUTH_NS_CERTS, cert, map) : -ENOMEM;
    json_decref(map);
    if (ret != 0)
        fail_store(ctl, call, ret);
    return ret == 0;
}

/* Removes the mapping of rec's certificate when it is still the user's (a failure leaves one that
 * counts for nobody: cert_owner). */
static void cert_drop(struct control *ctl, const char *name, const json_t *rec)
{
    const char *cert = json_string_value(json_object_get(rec, "cert"));
    char owner[AUTH_NAME_MAX + 1];

    if (cert != NULL && cert_owner(ctl, cert, owner, sizeof(owner)) == 0 && strcmp(owner, name) == 0)
        (void)store_del(ctl->store, AUTH_NS_CERTS, cert);
}

/* Stores rec as user name's, tells the sessions and answers with the user. */
static void commit(struct control *ctl, struct admin_call *call, const char *name, json_t *rec, const char *what)
{
    int ret;

    if (json_object_set_new(rec, "updated", json_integer(now_s())) != 0) {
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
        return;
    }
    ret = save(ctl, AUTH_NS_USERS, name, rec);
    if (ret != 0) {
        fail_store(ctl, call, ret);
        return;
    }
    log_info(LOG_NO_CORE, "user %s: %s", name, what);
    control_auth_user_changed(ctl, name);
    reply_user(ctl, call, name, rec);
}

/* ---- user.add, user.get, user.list, user.del ------------------------------------------------------ */

void admin_user_add(struct control *ctl, struct admin_call *call, json_t *req)
{
    json_t *pw = NULL, *roles = NULL, *lists[3] = {NULL}, *groups = NULL, *certv = NULL, *rec = NULL;
    const char *name, *cert;
    int enabled = 1, ret;
    json_error_t err;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s, s?o, s?o, s?o, s?o, s?o, s?o, s?o, s?b}", "name", &name, "password", &pw,
                       "roles", &roles, "publish", &lists[0], "subscribe", &lists[1], "request", &lists[2], "groups", &groups,
                       "cert", &certv, "enabled", &enabled) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        goto out;
    }
    if (!name_ok(ctl, call, name))
        goto out;
    ret = control_auth_load(ctl, AUTH_NS_USERS, name, &rec);
    if (ret != -ENOENT) {
        if (ret == 0 || ret == -EBADMSG)
            admin_api_fail(ctl, call, "EXISTS", "user %s exists", name);
        else
            fail_store(ctl, call, ret);
        goto out;
    }
    /* The request's values as they are (a bad one is record_ok's to refuse), the lists filled in. */
    rec = json_pack("{s:o, s:b, s:I, s:I}", "roles", roles != NULL ? json_deep_copy(roles) : json_array(), "enabled", enabled,
                    "created", now_s(), "updated", now_s());
    for (int k = 0; rec != NULL && k < 3; k++)
        if (json_object_set_new(rec, op_keys[k], op_lists(lists[k])) != 0) {
            json_decref(rec);
            rec = NULL;
        }
    if (rec != NULL && ((groups != NULL && json_object_set_new(rec, "groups", json_deep_copy(groups)) != 0) ||
                        (certv != NULL && json_object_set_new(rec, "cert", json_deep_copy(certv)) != 0))) {
        json_decref(rec);
        rec = NULL;
    }
    if (rec == NULL) {
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
        goto out;
    }
    /* Checked before the hash (which takes tens of milliseconds) and before the certificate's
     * mapping is written. */
    if (!record_ok(ctl, call, rec) || (pw != NULL && !hash_into(ctl, call, rec, pw)))
        goto out;
    cert = json_string_value(certv);
    if (cert != NULL && !cert_take(ctl, call, cert, name))
        goto out;
    ret = save(ctl, AUTH_NS_USERS, name, rec);
    if (ret != 0) {
        if (cert != NULL)
            (void)store_del(ctl->store, AUTH_NS_CERTS, cert);
        fail_store(ctl, call, ret);
        goto out;
    }
    log_info(LOG_NO_CORE, "user %s: added%s%s", name, pw != NULL ? ", with a password" : "",
             cert != NULL ? ", with a certificate" : "");
    control_auth_user_changed(ctl, name);
    reply_user(ctl, call, name, rec);
out:
    forget(pw);
    json_decref(rec);
}

void admin_user_get(struct control *ctl, struct admin_call *call, json_t *req)
{
    const char *name;
    json_t *rec = named_user(ctl, call, req, &name);

    if (rec != NULL)
        reply_user(ctl, call, name, rec);
    json_decref(rec);
}

void admin_user_list(struct control *ctl, struct admin_call *call, json_t *req)
{
    json_t *list, *doc;
    struct recs r;
    int ret;

    if (json_object_size(req) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "user.list takes {}");
        return;
    }
    ret = recs_load(ctl, AUTH_NS_USERS, &r, cmp_key);
    if (ret != 0) {
        fail_store(ctl, call, ret);
        return;
    }
    list = json_array();
    for (size_t i = 0; list != NULL && i < r.n; i++) {
        const json_t *rec = r.v[i].val;
        json_t *roles = json_object_get(rec, "roles"), *cert = json_object_get(rec, "cert");
        json_t *u = json_pack("{s:s, s:o, s:b, s:b}", "name", r.v[i].key, "roles",
                              json_is_array(roles) ? json_deep_copy(roles) : json_array(), "enabled", auth_user_enabled(rec),
                              "password", json_object_get(rec, "hash") != NULL);

        if (u != NULL && cert != NULL && json_object_set(u, "cert", cert) != 0) {
            json_decref(u);
            u = NULL;
        }
        if (json_array_append_new(list, u) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    recs_free(&r);
    doc = list != NULL ? json_pack("{s:b, s:o}", "ok", 1, "users", list) : NULL;
    admin_api_reply(ctl, call, doc);
}

/* Its tokens first, then its certificate's mapping, then the user: a deletion that stops half way
 * leaves a user the operator can see and delete again, never tokens that a new user of the same
 * name would inherit. */
void admin_user_del(struct control *ctl, struct admin_call *call, json_t *req)
{
    const char *name;
    json_t *rec = named_user(ctl, call, req, &name);
    struct recs r = {0};
    size_t gone = 0;
    int ret;

    if (rec == NULL)
        return;
    ret = recs_load(ctl, AUTH_NS_TOKENS, &r, cmp_key);
    for (size_t i = 0; ret == 0 && i < r.n; i++) {
        if (strcmp(str_of(r.v[i].val, "user"), name) != 0)
            continue;
        ret = store_del(ctl->store, AUTH_NS_TOKENS, r.v[i].key);
        if (ret == -ENOENT)
            ret = 0;
        if (ret == 0) {
            control_auth_token_revoked(ctl, r.v[i].key);
            gone++;
        }
    }
    if (ret == 0) {
        cert_drop(ctl, name, rec);
        ret = store_del(ctl->store, AUTH_NS_USERS, name);
    }
    if (ret != 0 && ret != -ENOENT) {
        fail_store(ctl, call, ret);
        goto out;
    }
    log_info(LOG_NO_CORE, "user %s: deleted, with %zu tokens", name, gone);
    control_auth_user_changed(ctl, name);
    admin_api_reply(ctl, call, json_pack("{s:b, s:s, s:I}", "ok", 1, "name", name, "tokens", (json_int_t)gone));
out:
    recs_free(&r);
    json_decref(rec);
}

/* ---- changes ---------------------------------------------------------------------------------------- */

void admin_user_passwd(struct control *ctl, struct admin_call *call, json_t *req)
{
    const char *name;
    json_t *pw = NULL, *rec = NULL;
    json_error_t err;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s, s:o}", "name", &name, "password", &pw) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        goto out;
    }
    rec = user_load(ctl, call, name);
    if (rec != NULL && hash_into(ctl, call, rec, pw))
        commit(ctl, call, name, rec, "password changed");
out:
    forget(pw);
    json_decref(rec);
}

static void set_enabled(struct control *ctl, struct admin_call *call, json_t *req, bool on)
{
    const char *name;
    json_t *rec = named_user(ctl, call, req, &name);

    if (rec == NULL)
        return;
    if (json_object_set_new(rec, "enabled", json_boolean(on)) != 0)
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
    else
        commit(ctl, call, name, rec, on ? "enabled" : "disabled");
    json_decref(rec);
}

void admin_user_enable(struct control *ctl, struct admin_call *call, json_t *req)
{
    set_enabled(ctl, call, req, true);
}

void admin_user_disable(struct control *ctl, struct admin_call *call, json_t *req)
{
    set_enabled(ctl, call, req, false);
}

/* Whether v is an array of strings. */
static bool strings(const json_t *v)
{
    size_t i;
    json_t *s;

    if (!json_is_array(v))
        return false;
    json_array_foreach(v, i, s) if (!json_is_string(s)) return false;
    return true;
}

/* Adds the strings of items to obj's array key that it lacks (grant), or removes those it has
 * (revoke); the array is made when missing, from init (NULL: empty). 0 or -ENOMEM. */
static int edit(json_t *obj, const char *key, const json_t *items, bool grant, const char *init)
{
    json_t *list = json_object_get(obj, key), *it;
    size_t i;

    if (!json_is_array(list)) {
        list = init != NULL ? json_pack("[s]", init) : json_array();
        if (list == NULL || json_object_set_new(obj, key, list) != 0)
            return -ENOMEM;
    }
    json_array_foreach(items, i, it)
    {
        size_t at = json_array_size(list);

        for (size_t j = 0; j < json_array_size(list); j++)
            if (json_equal(json_array_get(list, j), it))
                at = j;
        if (grant && at == json_array_size(list) && json_array_append(list, it) != 0)
            return -ENOMEM;
        if (!grant && at < json_array_size(list))
            json_array_remove(list, at);
    }
    return 0;
}

/*
 * user.grant and user.revoke: one of
 *   {"name", "op": "publish"|"subscribe"|"request", "allow": [patterns], "deny": [patterns]}
 *   {"name", "role": "admin"}
 *   {"name", "groups": [names]}  (a user without a list may use any group: its list counts as ["*"])
 */
static void grant(struct control *ctl, struct admin_call *call, json_t *req, bool add)
{
    const char *name, *op = NULL, *role = NULL;
    json_t *allow = NULL, *deny = NULL, *groups = NULL, *rec = NULL, *lists, *one = NULL;
    json_error_t err;
    char what[96];
    int k = -1, ret = 0;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s, s?s, s?o, s?o, s?s, s?o}", "name", &name, "op", &op, "allow", &allow, "deny",
                       &deny, "role", &role, "groups", &groups) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    for (int i = 0; op != NULL && i < 3; i++)
        if (strcmp(op, op_keys[i]) == 0)
            k = i;
    if ((op != NULL) + (role != NULL) + (groups != NULL) != 1 || (op == NULL) != (allow == NULL && deny == NULL)) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "give one of: op with allow and/or deny, role, groups");
        return;
    }
    if ((op != NULL && k < 0) || (allow != NULL && !strings(allow)) || (deny != NULL && !strings(deny)) ||
        (groups != NULL && !strings(groups))) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s",
                       op != NULL && k < 0 ? "op: publish, subscribe or request" : "allow, deny, groups: arrays of strings");
        return;
    }
    rec = user_load(ctl, call, name);
    if (rec == NULL)
        return;
    if (op != NULL) {
        lists = json_object_get(rec, op);
        if (lists == NULL) {
            lists = json_object();
            if (json_object_set_new(rec, op, lists) != 0)
                ret = -ENOMEM;
        }
        /* Anything but an object is left for record_ok to refuse. */
        if (ret == 0 && json_is_object(lists) && allow != NULL)
            ret = edit(lists, "allow", allow, add, NULL);
        if (ret == 0 && json_is_object(lists) && deny != NULL)
            ret = edit(lists, "deny", deny, add, NULL);
        snprintf(what, sizeof(what), "%s %s%s%s", add ? "granted" : "revoked", op, allow != NULL ? " allow" : "",
                 deny != NULL ? " deny" : "");
    } else if (role != NULL) {
        one = json_pack("[s]", role);
        ret = one != NULL ? edit(rec, "roles", one, add, NULL) : -ENOMEM;
        snprintf(what, sizeof(what), "%s role %.32s", add ? "granted" : "revoked", role);
    } else {
        ret = edit(rec, "groups", groups, add, "*");
        snprintf(what, sizeof(what), "%s groups", add ? "granted" : "revoked");
    }
    if (ret != 0)
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
    else if (record_ok(ctl, call, rec))
        commit(ctl, call, name, rec, what);
    json_decref(one);
    json_decref(rec);
}

void admin_user_grant(struct control *ctl, struct admin_call *call, json_t *req)
{
    grant(ctl, call, req, true);
}

void admin_user_revoke(struct control *ctl, struct admin_call *call, json_t *req)
{
    grant(ctl, call, req, false);
}

/* ---- tokens --------------------------------------------------------------------------------------- */

/* Whether label is a token's name: up to LABEL_MAX bytes, no control characters. */
static bool label_ok(const char *label)
{
    size_t n = strlen(label);

    if (n > LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
            return false;
    return true;
}

void admin_token_add(struct control *ctl, struct admin_call *call, json_t *req)
{
    char tok[AUTH_TOKEN_LEN + 1], id[AUTH_TOKEN_ID_LEN + 1], hash[65];
    const char *user, *label = "";
    json_int_t ttl = 0, created = now_s(), expires = 0;
    json_t *rec, *t = NULL, *prev = NULL;
    json_error_t err;
    int ret = -EEXIST;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s, s?s, s?I}", "user", &user, "name", &label, "ttl_s", &ttl) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    if (!label_ok(label) || (json_object_get(req, "ttl_s") != NULL && (ttl < 1 || ttl > TTL_MAX_S))) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s",
                       label_ok(label) ? "ttl_s: from 1 to a century of seconds" : "name: up to 64 bytes, no control characters");
        return;
    }
    rec = user_load(ctl, call, user);
    if (rec == NULL)
        return;
    json_decref(rec);
    if (ttl > 0)
        expires = created + ttl;
    /* 64 random bits of id: a clash is for the paranoid, and costs one read. */
    for (int i = 0; ret == -EEXIST && i < TOKEN_TRIES; i++) {
        ret = auth_token_new(tok, id, hash);
        if (ret == 0) {
            ret = control_auth_load(ctl, AUTH_NS_TOKENS, id, &prev);
            json_decref(prev);
            ret = ret == -ENOENT ? 0 : ret == 0 || ret == -EBADMSG ? -EEXIST : ret;
        }
    }
    if (ret == -EIO || ret == -EEXIST) {
        admin_api_fail(ctl, call, "INTERNAL", "%s", ret == -EIO ? "no randomness for a token" : "no free token id");
        goto out;
    }
    t = ret == 0 ? json_pack("{s:s, s:s, s:s, s:I, s:I}", "user", user, "name", label, "hash", hash, "created", created, "expires",
                             expires)
                 : NULL;
    if (ret == 0)
        ret = t != NULL ? save(ctl, AUTH_NS_TOKENS, id, t) : -ENOMEM;
    if (ret != 0) {
        fail_store(ctl, call, ret);
        goto out;
    }
    log_info(LOG_NO_CORE, "user %s: token %s added", user, id);
    control_auth_user_changed(ctl, user);
    admin_api_reply(ctl, call,
                    json_pack("{s:b, s:s, s:s, s:s, s:s, s:o, s:o}", "ok", 1, "token", tok, "id", id, "user", user, "name", label,
                              "created", time_doc(t, "created"), "expires", time_doc(t, "expires")));
out:
    OPENSSL_cleanse(tok, sizeof(tok));
    json_decref(t);
}

void admin_token_list(struct control *ctl, struct admin_call *call, json_t *req)
{
    const char *user = NULL;
    json_t *rec, *list;
    json_error_t err;
    int ret;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s?s}", "user", &user) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    if (user != NULL) {
        rec = user_load(ctl, call, user);
        if (rec == NULL)
            return;
        json_decref(rec);
    }
    ret = tokens_list(ctl, user, true, &list);
    if (ret != 0)
        fail_store(ctl, call, ret);
    else
        admin_api_reply(ctl, call, json_pack("{s:b, s:o}", "ok", 1, "tokens", list));
}

void admin_token_del(struct control *ctl, struct admin_call *call, json_t *req)
{
    const char *id;
    char user[AUTH_NAME_MAX + 1];
    json_error_t err;
    json_t *t;
    int ret;

    if (json_unpack_ex(req, &err, JSON_STRICT, "{s:s}", "id", &id) != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "%s", err.text);
        return;
    }
    if (strlen(id) != AUTH_TOKEN_ID_LEN || id[strspn(id, "0123456789abcdef")] != '\0') {
        admin_api_fail(ctl, call, "BAD_REQUEST", "id: %d hexadecimal digits, as token.list shows", AUTH_TOKEN_ID_LEN);
        return;
    }
    ret = control_auth_load(ctl, AUTH_NS_TOKENS, id, &t);
    if (ret == 0 || ret == -EBADMSG) {
        snprintf(user, sizeof(user), "%s", str_of(t, "user"));
        ret = store_del(ctl->store, AUTH_NS_TOKENS, id);
    }
    json_decref(t);
    if (ret == -ENOENT) {
        admin_api_fail(ctl, call, "NOT_FOUND", "no token %s", id);
        return;
    }
    if (ret != 0) {
        fail_store(ctl, call, ret);
        return;
    }
    log_info(LOG_NO_CORE, "user %s: token %s deleted", user, id);
    control_auth_token_revoked(ctl, id);
    if (user[0] != '\0')
        control_auth_user_changed(ctl, user);
    admin_api_reply(ctl, call, json_pack("{s:b, s:s, s:s}", "ok", 1, "id", id, "user", user));
}
