/*
 * control_dash: the dashboard's login sessions (docs/admin-api.md, "Over HTTP"), on the control
 * thread beside the rest of authentication (control_auth.c).
 *
 * A login is a CONNECT's password check in all but its transport: the same store lookups, the
 * same hashing worker, the same guessing delays keyed by the browser's address, the same answer
 * whatever failed. Its success makes a session: 32 random bytes the browser keeps in an HttpOnly,
 * SameSite=Strict cookie (dashboard/api.c sets it), of which this table keeps only the SHA-256, and
 * a CSRF token of its own that every change must carry.
 *
 * Every call of a session reads its user's record again, so that a user disabled, deleted, no
 * longer an admin, or whose password changed (on this broker or another sharing the store) is
 * logged out at its next call, without a notice having to reach this table. Sessions end after
 * DASH_IDLE_NS without a call (an open page's event stream counts) and DASH_LIFE_NS in all; the
 * table is bounded, the least recently used giving way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "driver/include/trpc/trpc.h"
#include "src/admin_api.h"
#include "src/auth.h"
#include "src/control.h"
#include "src/log.h"
#include "src/store.h"
#include "uring/uring.h"

#define DASH_SESSIONS_MAX 64
#define DASH_IDLE_NS      (30 * 60 * 1000000000ull)
#define DASH_LIFE_NS      (12 * 3600 * 1000000000ull)

struct dash_session {
    char id[65]; /* SHA-256 hex of the cookie; "" when free */
    char user[AUTH_NAME_MAX + 1];
    char csrf[ADMIN_CSRF_HEX + 1];
    char pw[65]; /* SHA-256 hex of the stored password hash at login: a new password ends it */
    uint64_t born_ns, used_ns;
};

struct control_dash {
    struct dash_session s[DASH_SESSIONS_MAX];
};

static void drop(struct dash_session *s)
{
    OPENSSL_cleanse(s, sizeof(*s));
}

/* The session of call's cookie, NULL when none (an expired one is dropped). */
static struct dash_session *find(struct control *ctl, const struct admin_call *call)
{
    uint64_t now = uring_now_ns();
    char id[65];

    if (ctl->dash == NULL || strlen(call->session) != ADMIN_SESSION_HEX ||
        auth_sha256_hex(call->session, ADMIN_SESSION_HEX, id) != 0)
        return NULL;
    for (unsigned i = 0; i < DASH_SESSIONS_MAX; i++) {
        struct dash_session *s = &ctl->dash->s[i];

        if (s->id[0] == '\0' || strcmp(s->id, id) != 0)
            continue;
        if (now > s->used_ns + DASH_IDLE_NS || now > s->born_ns + DASH_LIFE_NS) {
            log_info(LOG_NO_CORE, "dashboard: user %s's session expired", s->user);
            drop(s);
            return NULL;
        }
        return s;
    }
    return NULL;
}

static const char csrf_msg[] = "missing or wrong X-CSRF-Token (GET /api/session gives the session's)";

/* Whether call carries s's CSRF token (compared in constant time). */
static bool csrf_ok(const struct admin_call *call, const struct dash_session *s)
{
    return strlen(call->csrf) == ADMIN_CSRF_HEX && CRYPTO_memcmp(call->csrf, s->csrf, ADMIN_CSRF_HEX) == 0;
}

/* Whether s's user may still use the dashboard: 0, -EACCES (s dropped), or -EAGAIN. */
static int still_valid(struct control *ctl, struct dash_session *s, char *why, size_t whylen)
{
    const char *ended = NULL;
    json_t *rec = NULL;
    char pw[65];
    int ret = control_auth_load(ctl, AUTH_NS_USERS, s->user, &rec);

    if (ret != 0 && ret != -ENOENT && ret != -EBADMSG) {
        snprintf(why, whylen, "the user store cannot be read: %s", store_last_error(ctl->store));
        return -EAGAIN;
    }
    if (ret != 0)
        ended = "the user no longer exists";
    else if (!auth_user_enabled(rec))
        ended = "the user is disabled";
    else if (!auth_user_admin(rec))
        ended = "the user is no longer an admin";
    else {
        auth_hash_print(rec, pw);
        if (!auth_digest_equal(pw, s->pw))
            ended = "the user's password changed";
    }
    json_decref(rec);
    if (ended == NULL)
        return 0;
    log_info(LOG_NO_CORE, "dashboard: user %s's session ended: %s", s->user, ended);
    snprintf(why, whylen, "the session ended: %s; log in again", ended);
    drop(s);
    return -EACCES;
}

/* control_dash_check, with the session in *out when it is valid. */
static int check(struct control *ctl, const struct admin_call *call, bool csrf, char *why, size_t whylen, struct dash_session **out)
{
    struct dash_session *s;
    int ret;

    *out = NULL;
    if (call->session[0] == '\0') {
        snprintf(why, whylen, "authentication is on: log in (POST /api/login) or send Authorization: Bearer <token of an admin>");
        return -EACCES;
    }
    s = find(ctl, call);
    if (s == NULL) {
        snprintf(why, whylen, "not logged in, or the session ended: log in again");
        return -EACCES;
    }
    if (csrf && !csrf_ok(call, s)) {
        snprintf(why, whylen, "%s", csrf_msg);
        return -EPROTO;
    }
    ret = still_valid(ctl, s, why, whylen);
    if (ret == 0) {
        s->used_ns = uring_now_ns();
        *out = s;
    }
    return ret;
}

int control_dash_check(struct control *ctl, const struct admin_call *call, bool csrf, char *why, size_t whylen)
{
    struct dash_session *s = NULL;

    return check(ctl, call, csrf, why, whylen, &s);
}

/* The reply's error for a check's failure. */
static void check_fail(struct control *ctl, struct admin_call *call, int ret, const char *why)
{
    admin_api_fail(ctl, call,
                   ret == -EPROTO   ? "CSRF"
                   : ret == -EPERM  ? "FORBIDDEN"
                   : ret == -EAGAIN ? "STORE_UNAVAILABLE"
                                    : "UNAUTHORIZED",
                   "%s", why);
}

bool control_dash_allowed(struct control *ctl, struct admin_call *call, bool csrf)
{
    char why[AUTH_ERR_MAX];
    int ret = call->bearer[0] != '\0' ? control_auth_bearer(ctl, call->bearer, call->peer, why, sizeof(why))
                                      : control_dash_check(ctl, call, csrf, why, sizeof(why));

    if (ret != 0)
        check_fail(ctl, call, ret, why);
    return ret == 0;
}

/* ---- login ------------------------------------------------------------------------------------- */

static void login(struct control *ctl, struct admin_call *call)
{
    json_t *req = call->len > 0 ? json_loadb((const char *)call->doc, call->len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *user = json_object_get(req, "user"), *pw = json_object_get(req, "password");
    struct auth_ask *a = NULL;
    size_t n = json_string_length(pw);

    if (!json_is_object(req) || !json_is_string(user) || !json_is_string(pw) || json_object_size(req) != 2) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "a login is {\"user\": NAME, \"password\": PASSWORD}");
        goto out;
    }
    if (json_string_length(user) == 0 || json_string_length(user) > AUTH_NAME_MAX || n == 0 || n > AUTH_PASSWORD_MAX) {
        admin_api_fail(ctl, call, "UNAUTHORIZED", "bad credentials"); /* no user or password has such a length */
        goto out;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
        goto out;
    }
    a->kind = AUTH_KIND_PASSWORD;
    snprintf(a->peer, sizeof(a->peer), "%s", call->peer);
    memcpy(a->user, json_string_value(user), json_string_length(user));
    memcpy(a->password, json_string_value(pw), n);
    a->pw_len = (uint16_t)n;
    a->call = call;
    control_auth_ask(ctl, a); /* takes a: the answer comes to control_dash_login_done */
out:
    if (json_is_string(pw))
        OPENSSL_cleanse((char *)json_string_value(pw), n); /* jansson's copy of the password */
    json_decref(req);
}

/* A free slot, or the least recently used session's. */
static struct dash_session *slot(struct control_dash *d)
{
    struct dash_session *lru = &d->s[0];

    for (unsigned i = 0; i < DASH_SESSIONS_MAX; i++) {
        if (d->s[i].id[0] == '\0')
            return &d->s[i];
        if (d->s[i].used_ns < lru->used_ns)
            lru = &d->s[i];
    }
    log_info(LOG_NO_CORE, "dashboard: %d sessions open: user %s's least recently used one ends", DASH_SESSIONS_MAX, lru->user);
    drop(lru);
    return lru;
}

static void login_ok(struct control *ctl, struct admin_call *call, const struct auth_ask *a, const char *user)
{
    char secret[ADMIN_SESSION_HEX + 1];
    struct dash_session *s, fresh = {0};
    json_t *doc;

    if (ctl->dash == NULL && (ctl->dash = calloc(1, sizeof(*ctl->dash))) == NULL) {
        admin_api_fail(ctl, call, "INTERNAL", "out of memory");
        return;
    }
    snprintf(fresh.user, sizeof(fresh.user), "%s", user);
    memcpy(fresh.pw, a->hash_print, sizeof(fresh.pw));
    if (auth_random_hex(secret, ADMIN_SESSION_HEX / 2) != 0 || auth_random_hex(fresh.csrf, ADMIN_CSRF_HEX / 2) != 0 ||
        auth_sha256_hex(secret, ADMIN_SESSION_HEX, fresh.id) != 0) {
        admin_api_fail(ctl, call, "INTERNAL", "no random bytes for a session");
        goto out;
    }
    /* The browser's session before this login, if any, ends: a login never keeps two. */
    s = find(ctl, call);
    if (s != NULL)
        drop(s);
    fresh.born_ns = fresh.used_ns = uring_now_ns();
    s = slot(ctl->dash);
    *s = fresh;
    log_info(LOG_NO_CORE, "dashboard: user %s logged in from %s", user, a->peer);
    /* "session" is the cookie's: dashboard/api.c takes it out of the body. A reference of our own
     * lets jansson's copy of it be wiped once the reply is written. */
    doc = json_pack("{sbssssss}", "ok", 1, "user", user, "csrf", s->csrf, "session", secret);
    admin_api_reply(ctl, call, json_incref(doc));
    if (doc != NULL) {
        const char *copy = json_string_value(json_object_get(doc, "session"));

        if (copy != NULL)
            OPENSSL_cleanse((char *)copy, strlen(copy));
        json_decref(doc);
    }
out:
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(&fresh, sizeof(fresh));
}

void control_dash_login_done(struct control *ctl, struct admin_call *call, const struct auth_ask *a, int code, const char *msg,
                             struct auth_perms *perms)
{
    if (code == TRPC_E_AUTH_FAILED)
        admin_api_fail(ctl, call, "UNAUTHORIZED", "%s", msg);
    else if (code != 0)
        admin_api_fail(ctl, call, a->store_down ? "STORE_UNAVAILABLE" : "BUSY", "%s", msg);
    else if (!perms->admin) {
        log_warn(LOG_NO_CORE, "dashboard: user %s logged in from %s, but is not an admin: refused", perms->user, a->peer);
        admin_api_fail(ctl, call, "FORBIDDEN", "user %s is not an admin: the dashboard needs the admin role", perms->user);
    } else if (a->hash_print[0] == '\0')
        admin_api_fail(ctl, call, "INTERNAL", "the password hash cannot be fingerprinted");
    else
        login_ok(ctl, call, a, perms->user);
    auth_perms_unref(perms);
}

/* ---- the verbs --------------------------------------------------------------------------------- */

void control_dash_call(struct control *ctl, struct admin_call *call)
{
    const char *verb = call->verb + strlen("session.");
    char why[AUTH_ERR_MAX];
    struct dash_session *s = NULL;
    int ret;

    if (!ctl->cfg.auth && strcmp(verb, "get") != 0) {
        admin_api_fail(ctl, call, "BAD_REQUEST", "authentication is off: the dashboard needs no login");
    } else if (strcmp(verb, "login") == 0) {
        login(ctl, call);
    } else if (strcmp(verb, "logout") == 0) {
        /* A session already gone is logged out all the same; a live one needs its CSRF token. */
        s = find(ctl, call);
        if (s != NULL && !csrf_ok(call, s)) {
            check_fail(ctl, call, -EPROTO, csrf_msg);
            return;
        }
        if (s != NULL) {
            log_info(LOG_NO_CORE, "dashboard: user %s logged out", s->user);
            drop(s);
        }
        admin_api_reply(ctl, call, json_pack("{sb}", "ok", 1));
    } else if (strcmp(verb, "get") == 0) {
        /* Who is logged in, for the page: nobody is an answer, not an error. */
        ret = ctl->cfg.auth ? check(ctl, call, false, why, sizeof(why), &s) : -EACCES;
        if (ret == -EAGAIN)
            check_fail(ctl, call, ret, why);
        else if (s != NULL)
            admin_api_reply(ctl, call, json_pack("{sbsbssss}", "ok", 1, "auth", 1, "user", s->user, "csrf", s->csrf));
        else
            admin_api_reply(ctl, call, json_pack("{sbsbsn}", "ok", 1, "auth", ctl->cfg.auth, "user"));
    } else if (strcmp(verb, "check") == 0) {
        /* The event stream's, at its start and every few seconds after: a session or a bearer. */
        if (control_dash_allowed(ctl, call, false))
            admin_api_reply(ctl, call, json_pack("{sb}", "ok", 1));
    } else {
        admin_api_fail(ctl, call, "UNKNOWN_VERB", "no admin verb '%s'", call->verb);
    }
}

void control_dash_free(struct control *ctl)
{
    if (ctl->dash != NULL)
        OPENSSL_cleanse(ctl->dash, sizeof(*ctl->dash));
    free(ctl->dash);
    ctl->dash = NULL;
}
