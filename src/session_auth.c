/*
 * session_auth: a session's side of authentication and permissions (auth.h).
 *
 * A CONNECT goes to the control thread (CONTROL_AUTH), which looks the user up in the store and
 * has the password hashed off the cores; the session reads nothing meanwhile (rx paused: what
 * the client pipelined after its CONNECT waits in its buffers) and gets CONNACK or ERR when the
 * verdict comes back (ADMIN_MB_AUTH). From then on its permissions are a compiled, shared,
 * immutable struct auth_perms: every PUB, SUB and REQ is checked against it here, on the core,
 * with no lock, no allocation and no store lookup; a PUB or REQ topic seen before costs one hash
 * and one compare (auth_cache).
 *
 * A user's permissions change while it is connected: the control thread sends every core the new
 * ones (ADMIN_MB_AUTH_USER), and each swaps them in the sessions of that user; a user deleted or
 * disabled, or a token revoked, closes the sessions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/admin.h"
#include "src/auth.h"
#include "src/control.h"
#include "src/core.h"
#include "src/group.h"
#include "src/log.h"
#include "src/policy.h"
#include "src/session.h"
#include "src/stls.h"

#define DENIED_LOG_NS (1000 * 1000000ull) /* a session logs one refusal per second at most */

static void header_copy(const struct wire_frame *f, const char *key, char *out, size_t outlen, bool *too_long)
{
    struct wire_header h;

    out[0] = '\0';
    if (!wire_header_find(f, key, strlen(key), &h))
        return;
    if (h.val_len >= outlen || memchr(h.val, '\0', h.val_len) != NULL) {
        *too_long = true;
        return;
    }
    memcpy(out, h.val, h.val_len);
    out[h.val_len] = '\0';
}

int session_auth_begin(struct session *s, const struct wire_frame *f)
{
    struct uring_xmsg m = {.type = CONTROL_AUTH};
    struct auth_ask *a = calloc(1, sizeof(*a));
    struct wire_header h;
    bool bad = false;

    if (a == NULL)
        return -ENOMEM;
    a->core = s->core->id;
    a->slot = s->slot;
    a->gen = s->gen;
    a->client_id = s->client_id;
    memcpy(a->peer, s->peer, sizeof(a->peer));
    header_copy(f, ":user", a->user, sizeof(a->user), &bad);
    header_copy(f, ":token", a->token, sizeof(a->token), &bad);
    if (wire_header_find(f, ":password", 9, &h)) {
        if (h.val_len > sizeof(a->password))
            bad = true;
        else {
            memcpy(a->password, h.val, h.val_len);
            a->pw_len = h.val_len;
        }
    }
    if (s->tls != NULL) {
        int ret = stls_peer_subject(s, a->subject, sizeof(a->subject));

        if (ret != 0 && ret != -ENOENT)
            bad = true; /* a subject cut short must not match a shorter one */
    }
    /* What cannot be a credential still goes to the control thread: it fails there like any
     * wrong one (same answer, same delay, logged and counted). */
    if (bad)
        a->kind = AUTH_KIND_NONE;
    else if (a->token[0] != '\0')
        a->kind = AUTH_KIND_TOKEN;
    else if (a->user[0] != '\0')
        a->kind = AUTH_KIND_PASSWORD;
    else if (a->subject[0] != '\0')
        a->kind = AUTH_KIND_CERT;
    m.ptr = a;
    if (control_post(s->core->b, &m) != 0) {
        auth_ask_free(a);
        return -EAGAIN;
    }
    s->auth_wait = true;
    session_rx_pause(s);
    return 0;
}

static void answer_in(struct core *c, const struct uring_xmsg *m)
{
    struct auth_answer *a = m->ptr;
    struct session *s = core_session(c, a->slot, a->gen);

    if (s == NULL || !s->auth_wait || s->state != SESS_NEW) {
        auth_perms_unref(a->perms); /* it left meanwhile */
        free(a);
        return;
    }
    s->auth_wait = false;
    if (a->code != 0) {
        session_fail(s, s->connect_id, a->code, a->msg);
        free(a);
        return;
    }
    s->acache = calloc(1, sizeof(*s->acache)); /* NULL: checks go uncached */
    s->perms = a->perms;
    memcpy(s->token_id, a->token_id, sizeof(a->token_id));
    free(a);
    log_info(c->id, "client_id=%llu peer=%s: logged in as %s%s%s", (unsigned long long)s->client_id, s->peer, s->perms->user,
             s->token_id[0] ? " with token " : "", s->token_id);
    session_connack(s);
    session_rx_resume(s);
}

static void answer_discard(struct broker *b, const struct uring_xmsg *m)
{
    struct auth_answer *a = m->ptr;

    (void)b;
    auth_perms_unref(a->perms);
    free(a);
}

struct withdrawn {
    uint64_t sid;
    bool durable;
};

static bool sub_allowed(const struct session *s, const char *pattern, size_t len, const char *group, size_t group_len)
{
    return auth_perms_allow(s->perms, AUTH_SUBSCRIBE, pattern, len) &&
           (group_len == 0 || auth_perms_allow_group(s->perms, group, group_len));
}

/* Subscriptions the new permissions no longer allow are withdrawn, each with a non-fatal ERR on
 * its id: otherwise a revoked SUB would keep delivering. A durable one is withdrawn as its UNSUB
 * would be: what its member had in flight goes back to the group for the others, so a revoke
 * loses no message. */
static void recheck_subs(struct session *s)
{
    uint32_t pos = 0, n = 0, cap = s->subs.count + s->dsubs.count;
    struct group_sub_view v;
    struct withdrawn *w;
    struct rsub *r;

    if (cap == 0)
        return;
    /* One pass to find them (the maps must not change under idmap_next), one to withdraw. */
    w = malloc(cap * sizeof(*w));
    if (w == NULL) {
        log_error(s->core->id, "client_id=%llu: out of memory checking its subscriptions against new permissions",
                  (unsigned long long)s->client_id);
        return;
    }
    while ((r = idmap_next(&s->subs, &pos, NULL)) != NULL && n < cap)
        if (!sub_allowed(s, r->text, r->pattern_len, r->group, r->group_len))
            w[n++] = (struct withdrawn){.sid = r->sid};
    pos = 0;
    while (n < cap && group_sub_next(s, &pos, &v))
        if (!sub_allowed(s, v.pattern, v.pattern_len, v.name, strlen(v.name)) ||
            (v.dlq_len > 0 && !auth_perms_allow(s->perms, AUTH_PUBLISH, v.dlq, v.dlq_len)))
            w[n++] = (struct withdrawn){.sid = v.sid, .durable = true};
    for (uint32_t i = 0; i < n && s->state != SESS_CLOSING; i++) {
        char msg[400];

        if (w[i].durable) {
            if (!group_sub_get(s, w[i].sid, &v))
                continue;
            snprintf(msg, sizeof(msg), "subscription to %.*s (durable consumer %s) withdrawn: permission revoked",
                     (int)v.pattern_len, v.pattern, v.name);
            if (group_unsub(s, w[i].sid) != 0)
                continue;
        } else {
            r = idmap_get(&s->subs, w[i].sid);
            if (r == NULL)
                continue;
            snprintf(msg, sizeof(msg), "subscription to %.*s withdrawn: permission revoked", (int)r->pattern_len, r->text);
            if (route_unsub(s, w[i].sid) != 0)
                continue;
        }
        log_info(s->core->id, "client_id=%llu user %s: %s", (unsigned long long)s->client_id, s->perms->user, msg);
        session_send_err(s, w[i].sid, TRPC_E_PERMISSION_DENIED, false, msg);
    }
    free(w);
}

static void update_in(struct core *c, const struct uring_xmsg *m)
{
    struct auth_update *u = m->ptr;

    for (uint32_t i = 1; i < c->nslots; i++) {
        struct session *s = c->slots[i];

        if (s == NULL || s->perms == NULL || s->state == SESS_CLOSING)
            continue;
        if (u->token_id[0] != '\0') {
            if (strcmp(s->token_id, u->token_id) == 0) {
                log_info(c->id, "client_id=%llu user %s: its token %s was revoked", (unsigned long long)s->client_id,
                         s->perms->user, u->token_id);
                session_fail(s, 0, TRPC_E_AUTH_FAILED, "the token was revoked");
            }
            continue;
        }
        if (strcmp(s->perms->user, u->user) != 0)
            continue;
        if (u->perms == NULL) {
            log_info(c->id, "client_id=%llu: user %s was deleted or disabled", (unsigned long long)s->client_id, u->user);
            session_fail(s, 0, TRPC_E_AUTH_FAILED, "the user was deleted or disabled");
            continue;
        }
        auth_perms_unref(s->perms);
        s->perms = auth_perms_ref(u->perms);
        if (s->acache != NULL)
            memset(s->acache, 0, sizeof(*s->acache));
        recheck_subs(s);
    }
    auth_perms_unref(u->perms);
    free(u);
}

static void update_discard(struct broker *b, const struct uring_xmsg *m)
{
    struct auth_update *u = m->ptr;

    (void)b;
    auth_perms_unref(u->perms);
    free(u);
}

/* One log line per session per second at most: a client looping on a denied topic must not
 * flood the log. */
static void log_denied(struct session *s, const char *what, const char *topic, size_t len)
{
    uint64_t now = uring_now_ns();
    char shown[128];
    size_t n;

    if (now < s->denied_log_ns + DENIED_LOG_NS) {
        s->denied_unlogged++;
        return;
    }
    /* A group name comes unchecked from the client. */
    n = log_printable(shown, sizeof(shown), topic, len);
    log_warn(s->core->id, "client_id=%llu user %s: %s %s%s denied%s", (unsigned long long)s->client_id, s->perms->user, what, shown,
             n < len ? "..." : "", s->denied_unlogged > 0 ? " (and earlier refusals not logged)" : "");
    s->denied_log_ns = now;
    s->denied_unlogged = 0;
}

static void deny(struct session *s, uint64_t id, const char *what, const char *topic, size_t len)
{
    char msg[320];

    snprintf(msg, sizeof(msg), "%s %.*s: permission denied", what, (int)len, topic);
    log_denied(s, what, topic, len);
    session_send_err(s, id, TRPC_E_PERMISSION_DENIED, false, msg);
}

bool session_auth_pub(struct session *s, const struct wire_frame *f)
{
    if (auth_cache_allow(s->acache, s->perms, AUTH_PUBLISH, f->topic, f->topic_len))
        return true;
    deny(s, f->id, "publish to", f->topic, f->topic_len);
    return false;
}

bool session_auth_sub(struct session *s, const struct wire_frame *f, const struct policy *p)
{
    static const char *const keys[] = {":group", ":durable"};
    struct wire_header h;

    if (!auth_perms_allow(s->perms, AUTH_SUBSCRIBE, f->topic, f->topic_len)) {
        deny(s, f->id, "subscribe to", f->topic, f->topic_len);
        return false;
    }
    /* Dead letters are published for it (and a stream made for them when none covers them):
     * only where the user may publish. */
    if (p->dlq != NULL && !auth_cache_allow(s->acache, s->perms, AUTH_PUBLISH, p->dlq, p->dlq_len)) {
        deny(s, f->id, "dead letters to", p->dlq, p->dlq_len);
        return false;
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (wire_header_find(f, keys[i], strlen(keys[i]), &h) &&
            !auth_perms_allow_group(s->perms, (const char *)h.val, h.val_len)) {
            deny(s, f->id, i == 0 ? "join queue group" : "join durable consumer", (const char *)h.val, h.val_len);
            return false;
        }
    return true;
}

static void rep_denied(struct session *s, const struct wire_frame *f, const char *why)
{
    char msg[320];
    int n = snprintf(msg, sizeof(msg), "request to %.*s: %s", (int)f->topic_len, f->topic, why);
    struct wire_out o = {.type = WIRE_REP,
                         .flags = WIRE_F_ERROR,
                         .aux = TRPC_E_PERMISSION_DENIED,
                         .id = f->id,
                         .payload = (const uint8_t *)msg,
                         .payload_len = n > 0 && (size_t)n < sizeof(msg) ? (uint32_t)n : 0};

    log_denied(s, "request to", f->topic, f->topic_len);
    session_send(s, &o);
}

bool session_auth_req(struct session *s, const struct wire_frame *f)
{
    if (admin_reserved(f->topic, f->topic_len)) {
        if (s->perms->admin)
            return true;
        rep_denied(s, f, "the admin API needs the admin role");
        return false;
    }
    if (auth_cache_allow(s->acache, s->perms, AUTH_REQUEST, f->topic, f->topic_len))
        return true;
    rep_denied(s, f, "permission denied");
    return false;
}

static void auth_session_gone(struct session *s)
{
    auth_perms_unref(s->perms);
    s->perms = NULL;
    free(s->acache);
    s->acache = NULL;
}

const struct core_module auth_module = {
    .name = "auth",
    .session_gone = auth_session_gone,
};

int session_auth_register(struct broker *b)
{
    int ret = core_mbox_register(b, ADMIN_MB_AUTH, answer_in, answer_discard);

    return ret == 0 ? core_mbox_register(b, ADMIN_MB_AUTH_USER, update_in, update_discard) : ret;
}
