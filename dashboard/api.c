/*
 * The dashboard's JSON API (docs/admin-api.md, "Over HTTP"): POST /api/<area>.<verb> runs the
 * same handlers as a client's REQ on $trpc.admin.<area>.<verb> (admin_api.c), on the control
 * thread.
 *
 * A call goes to the control thread's mailbox and comes back through a box of answers (struct
 * http_rbox) whose eventfd wakes h2o's loop. The request may be gone by then (its client closed):
 * a pointer in the request's pool, cleared when h2o disposes of the request, says so, and the
 * answer is dropped. At most HTTP_CALLS_MAX calls are out at once, so what the box can hold is
 * bounded by the HTTP thread and not by its peers.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "dashboard/internal.h"
#include "src/admin_api.h"
#include "src/control.h"
#include "src/core.h"
#include "src/log.h"

struct http_call {
    struct admin_call call; /* first: done gets &call */
    struct http *h;
    struct http_rbox *box;
    struct http_call *next;     /* on box's list */
    struct http_call *out_next; /* on h->out while a request waits for it (HTTP thread) */
    struct http_call **owner;   /* in the request's pool (NULL once it went), pointing back here */
    h2o_req_t *req;             /* NULL once h2o disposed of it */
    char *reply;                /* from the control thread; NULL: the broker stopped first */
    size_t reply_len;
    struct sockaddr_storage from; /* the request's peer (HTTP_LOGINS_PEER) */
    http_api_fn *fn;              /* the HTTP thread's own call (no request): gets the reply */
    uint64_t arg;                 /* fn's */
    /* A request's own handling of a reply (login's cookie, the event stream's start); NULL: the
     * reply is the response. */
    void (*req_fn)(struct http_call *c, h2o_req_t *req);
    uint8_t doc[]; /* the body, copied: h2o's buffer may move */
};

static void rbox_put(struct http_rbox *box)
{
    bool last;

    pthread_mutex_lock(&box->mu);
    last = --box->refs == 0;
    pthread_mutex_unlock(&box->mu);
    if (!last)
        return;
    assert(box->head == NULL);
    close(box->efd);
    pthread_mutex_destroy(&box->mu);
    free(box);
}

static void login_in(struct http_call *c, h2o_req_t *req);

static void call_free(struct http_call *c)
{
    struct http_rbox *box = c->box;

    if (c->reply != NULL && c->req_fn == login_in)
        OPENSSL_cleanse(c->reply, c->reply_len); /* the session's secret */
    free(c->reply);
    OPENSSL_cleanse(c->doc, c->call.len); /* a password, for user.add */
    OPENSSL_cleanse(c->call.bearer, sizeof(c->call.bearer));
    OPENSSL_cleanse(c->call.session, sizeof(c->call.session));
    OPENSSL_cleanse(c->call.csrf, sizeof(c->call.csrf));
    free(c);
    rbox_put(box);
}

/* Control thread, or the password worker's or control_free's thread while the broker stops: the
 * answer, or NULL. The box's mutex is what they share with the HTTP thread. */
static void call_done(struct control *ctl, struct admin_call *call, char *reply, size_t len)
{
    struct http_call *c = (struct http_call *)call;
    struct http_rbox *box = c->box;
    uint64_t one = 1;
    bool open;

    (void)ctl;
    c->reply = reply;
    c->reply_len = len;
    pthread_mutex_lock(&box->mu);
    open = box->open;
    if (open) {
        c->next = NULL;
        if (box->tail != NULL)
            box->tail->next = c;
        else
            box->head = c;
        box->tail = c;
        /* Cannot fail but for an eventfd at its maximum, which one write per answer never reaches. */
        (void)!write(box->efd, &one, sizeof(one));
    }
    pthread_mutex_unlock(&box->mu);
    if (!open)
        call_free(c);
}

/* h2o disposes of the request (answered, or its connection closed). */
static void req_gone(void *p)
{
    struct http_call *c = *(struct http_call **)p;

    if (c != NULL) {
        c->req = NULL;
        c->owner = NULL; /* p goes with the pool */
    }
}

/* The HTTP status of an admin reply: 200 for ok, else by its error code. */
static int reply_status(const char *doc, size_t len, const char **reason)
{
    json_t *root = json_loadb(doc, len, 0, NULL);
    const char *code = json_string_value(json_object_get(json_object_get(root, "error"), "code"));
    int status = 500;

    *reason = "Internal Server Error";
    if (json_is_true(json_object_get(root, "ok"))) {
        status = 200;
        *reason = "OK";
    } else if (code != NULL) {
        status = admin_api_error_status(code, reason);
    }
    json_decref(root);
    return status;
}

static void out_remove(struct http *h, struct http_call *c)
{
    for (struct http_call **pp = &h->out; *pp != NULL; pp = &(*pp)->out_next) {
        if (*pp == c) {
            *pp = c->out_next;
            return;
        }
    }
}

/* Lets c's request go: the request's disposal must no longer reach c. */
static void detach(struct http_call *c)
{
    if (c->owner != NULL)
        *c->owner = NULL;
    c->owner = NULL;
    c->req = NULL;
}

/* 503 BUSY, whoever said it (the HTTP thread's bounds, the control thread's, a login that waited
 * 3 s for the password worker): one answer a client can retry on, after a second. */
static void respond_busy(h2o_req_t *req, const char *text)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    http_respond_json(req, 503, "Service Unavailable", "BUSY", text);
}

/* An admin reply as the response: its status by its error code. */
static void respond_reply(h2o_req_t *req, const char *reply, size_t len)
{
    const char *reason = NULL;
    int status = reply_status(reply, len, &reason);

    if (status == 401)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer realm=\"trpc\""));
    if (status == 503)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    http_respond(req, status, reason, "application/json", reply, len);
}

static void answer(struct http_call *c)
{
    h2o_req_t *req;

    assert(c->h->calls > 0);
    c->h->calls--;
    if (c->req_fn == login_in) {
        assert(c->h->logins > 0);
        c->h->logins--;
    }
    out_remove(c->h, c);
    if (c->fn != NULL) {
        c->fn(c->h, c->arg, c->reply, c->reply_len);
        return;
    }
    req = c->req;
    detach(c); /* c is freed next */
    if (req == NULL)
        return; /* the client left, or the stop answered it */
    if (c->reply == NULL && atomic_load_explicit(&c->h->b->stopping, memory_order_relaxed))
        http_respond_json(req, 503, "Service Unavailable", "SHUTTING_DOWN", "the broker is stopping");
    else if (c->reply == NULL)
        http_respond_json(req, 500, "Internal Server Error", "INTERNAL", "the broker could not answer (out of memory)");
    else if (c->req_fn != NULL)
        c->req_fn(c, req);
    else
        respond_reply(req, c->reply, c->reply_len);
}

static void rbox_readable(h2o_socket_t *sock, const char *err)
{
    struct http *h = sock->data;
    struct http_call *list;
    uint64_t n;

    (void)err;
    (void)!read(h->rbox->efd, &n, sizeof(n)); /* nonblocking: EAGAIN when another read took it */
    pthread_mutex_lock(&h->rbox->mu);
    list = h->rbox->head;
    h->rbox->head = h->rbox->tail = NULL;
    pthread_mutex_unlock(&h->rbox->mu);
    while (list != NULL) {
        struct http_call *c = list;

        list = c->next;
        answer(c);
        call_free(c);
    }
}

int http_api_init(struct http *h)
{
    struct http_rbox *box = calloc(1, sizeof(*box));
    int fd;

    if (box == NULL)
        return -ENOMEM;
    box->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (box->efd == -1) {
        free(box);
        return -errno;
    }
    /* h2o closes the fd it was given: the box keeps its own for the control thread's writes. */
    fd = fcntl(box->efd, F_DUPFD_CLOEXEC, 0);
    if (fd == -1) {
        int ret = -errno;

        close(box->efd);
        free(box);
        return ret;
    }
    pthread_mutex_init(&box->mu, NULL);
    box->open = true;
    box->refs = 1;
    h->rbox = box;
    h->rbox_sock = h2o_evloop_socket_create(h->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h->rbox_sock->data = h;
    h2o_socket_read_start(h->rbox_sock, rbox_readable);
    return 0;
}

void http_api_free(struct http *h)
{
    struct http_rbox *box = h->rbox;
    struct http_call *list;

    if (box == NULL)
        return;
    if (h->rbox_sock != NULL) {
        h2o_socket_close(h->rbox_sock);
        h->rbox_sock = NULL;
    }
    pthread_mutex_lock(&box->mu);
    box->open = false;
    list = box->head;
    box->head = box->tail = NULL;
    pthread_mutex_unlock(&box->mu);
    while (list != NULL) {
        struct http_call *c = list;

        list = c->next;
        detach(c);
        call_free(c);
    }
    /* Calls still out are freed by the control thread's answer, through the closed box. */
    for (struct http_call *c = h->out; c != NULL; c = c->out_next)
        detach(c);
    h->out = NULL;
    h->rbox = NULL;
    rbox_put(box);
}

static bool header_is(h2o_req_t *req, const h2o_token_t *token, const char *want, size_t wantlen, bool prefix)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    h2o_iovec_t v;

    if (i < 0)
        return false;
    v = req->headers.entries[i].value;
    if (prefix)
        return v.len >= wantlen && h2o_lcstris(v.base, wantlen, want, wantlen);
    return v.len == wantlen && h2o_lcstris(v.base, wantlen, want, wantlen);
}

/* This run's CSRF token (the login's, and every change's without authentication or with a
 * bearer), compared in constant time. */
static bool csrf_ok(struct http *h, h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-csrf-token"), -1);
    h2o_iovec_t v;

    if (i < 0)
        return false;
    v = req->headers.entries[i].value;
    return v.len == HTTP_CSRF_HEX && CRYPTO_memcmp(v.base, h->csrf, HTTP_CSRF_HEX) == 0;
}

static void csrf_copy(h2o_req_t *req, char *out, size_t len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-csrf-token"), -1);

    out[0] = '\0';
    if (i >= 0 && req->headers.entries[i].value.len < len) {
        memcpy(out, req->headers.entries[i].value.base, req->headers.entries[i].value.len);
        out[req->headers.entries[i].value.len] = '\0';
    }
}

static bool is_hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    return true;
}

/* The value of this server's session cookie (h->cookie) among the request's Cookie headers (""
 * when none is well formed). */
static void session_copy(const struct http *h, h2o_req_t *req, char *out)
{
    const size_t nlen = strlen(h->cookie);

    out[0] = '\0';
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) >= 0;) {
        h2o_iovec_t v = req->headers.entries[i].value;

        for (size_t k = 0; k + nlen + 1 + ADMIN_SESSION_HEX <= v.len; k++) {
            const char *p = v.base + k, *end;

            if ((k > 0 && p[-1] != ' ' && p[-1] != ';') || memcmp(p, h->cookie, nlen) != 0 || p[nlen] != '=')
                continue;
            p += nlen + 1;
            end = p + ADMIN_SESSION_HEX;
            if (is_hex(p, ADMIN_SESSION_HEX) && (end == v.base + v.len || *end == ';')) {
                memcpy(out, p, ADMIN_SESSION_HEX);
                out[ADMIN_SESSION_HEX] = '\0';
                return;
            }
        }
    }
}

void http_cred_get(const struct http *h, h2o_req_t *req, struct http_cred *cred)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    h2o_iovec_t v;

    session_copy(h, req, cred->session);
    cred->bearer[0] = '\0';
    if (i < 0)
        return;
    v = req->headers.entries[i].value;
    if (v.len <= 7 || !h2o_lcstris(v.base, 7, H2O_STRLIT("bearer ")) || v.len - 7 >= sizeof(cred->bearer))
        return;
    memcpy(cred->bearer, v.base + 7, v.len - 7);
    cred->bearer[v.len - 7] = '\0';
}

static void peer_copy(h2o_req_t *req, char *out, size_t len)
{
    struct sockaddr_storage ss = {0};
    char ip[INET6_ADDRSTRLEN];
    unsigned port = 0;

    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0)
        ss.ss_family = AF_UNSPEC;
    http_host_text(&ss, ip, sizeof(ip));
    if (ss.ss_family == AF_INET)
        port = ntohs(((const struct sockaddr_in *)(const void *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        port = ntohs(((const struct sockaddr_in6 *)(const void *)&ss)->sin6_port);
    snprintf(out, len, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
}

static bool verb_ok(h2o_iovec_t verb)
{
    if (verb.len == 0 || verb.len >= ADMIN_VERB_MAX || (verb.len >= 8 && memcmp(verb.base, "session.", 8) == 0))
        return false;
    for (size_t i = 0; i < verb.len; i++) {
        char ch = verb.base[i];

        if (!((ch >= 'a' && ch <= 'z') || ch == '.' || ch == '_'))
            return false;
    }
    return true;
}

/* A call for verb with document doc[0, len), holding a reference to the box; NULL: no memory. */
static struct http_call *call_new(struct http *h, h2o_iovec_t verb, const uint8_t *doc, size_t len)
{
    struct http_call *c = calloc(1, sizeof(*c) + len);

    if (c == NULL)
        return NULL;
    c->h = h;
    c->box = h->rbox;
    memcpy(c->call.verb, verb.base, verb.len);
    if (len > 0)
        memcpy(c->doc, doc, len);
    c->call.doc = c->doc;
    c->call.len = len;
    c->call.too_large = len > ADMIN_DOC_MAX;
    c->call.done = call_done;
    pthread_mutex_lock(&h->rbox->mu);
    h->rbox->refs++;
    pthread_mutex_unlock(&h->rbox->mu);
    return c;
}

static void call_cred(struct http_call *c, const struct http_cred *cred)
{
    c->call.http = true;
    memcpy(c->call.session, cred->session, sizeof(c->call.session));
    memcpy(c->call.bearer, cred->bearer, sizeof(c->call.bearer));
}

/* Hands c to the control thread: 0, or -ESHUTDOWN or -EAGAIN (c is freed). */
static int call_post(struct http *h, struct http_call *c)
{
    struct uring_xmsg msg = {.type = CONTROL_CALL, .ptr = c};
    int ret = control_post(h->b, &msg);

    if (ret != 0) {
        detach(c);
        call_free(c);
        return ret;
    }
    h->calls++;
    if (c->req != NULL) {
        c->out_next = h->out;
        h->out = c;
    }
    return 0;
}

/* Sends req's call of verb (the body, or doc when not NULL) to the control thread, as an HTTP API
 * call with req's credentials; the reply answers req (through req_fn when not NULL). False: req
 * was answered with the error at once. */
static bool forward(struct http *h, h2o_req_t *req, const char *verb, const char *doc,
                    void (*req_fn)(struct http_call *, h2o_req_t *))
{
    h2o_iovec_t body = doc != NULL ? h2o_iovec_init(doc, strlen(doc)) : req->entity;
    struct http_cred cred;
    struct http_call *c;
    int ret;

    if (h->draining || h->rbox == NULL) {
        http_respond_json(req, 503, "Service Unavailable", "SHUTTING_DOWN", "the broker is stopping");
        return false;
    }
    if (h->calls >= HTTP_CALLS_MAX) {
        respond_busy(req, "too many admin calls at once: try again");
        return false;
    }
    c = call_new(h, h2o_iovec_init(verb, strlen(verb)), (const uint8_t *)body.base, body.len);
    if (c == NULL) {
        http_respond_json(req, 500, "Internal Server Error", "INTERNAL", "out of memory");
        return false;
    }
    http_cred_get(h, req, &cred);
    call_cred(c, &cred);
    OPENSSL_cleanse(&cred, sizeof(cred));
    csrf_copy(req, c->call.csrf, sizeof(c->call.csrf));
    peer_copy(req, c->call.peer, sizeof(c->call.peer));
    req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&c->from);
    c->req_fn = req_fn;
    c->owner = h2o_mem_alloc_shared(&req->pool, sizeof(*c->owner), req_gone);
    *c->owner = c;
    c->req = req;
    ret = call_post(h, c);
    if (ret == -ESHUTDOWN)
        http_respond_json(req, 503, "Service Unavailable", "SHUTTING_DOWN", "the broker is stopping");
    else if (ret != 0)
        respond_busy(req, "the control thread's queue is full: try again");
    return ret == 0;
}

/* ---- the session ------------------------------------------------------------------------------- */

static void cookie_set(const struct http *h, h2o_req_t *req, const char *value, bool clear)
{
    bool https = req->scheme == &H2O_URL_SCHEME_HTTPS;
    h2o_iovec_t v = h2o_concat(&req->pool, h2o_iovec_init(h->cookie, strlen(h->cookie)), h2o_iovec_init(H2O_STRLIT("=")),
                               h2o_iovec_init(value, strlen(value)),
                               clear ? h2o_iovec_init(H2O_STRLIT("; Max-Age=0")) : h2o_iovec_init(H2O_STRLIT("")),
                               h2o_iovec_init(H2O_STRLIT("; Path=/; HttpOnly; SameSite=Strict")),
                               https ? h2o_iovec_init(H2O_STRLIT("; Secure")) : h2o_iovec_init(H2O_STRLIT("")));

    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, v.base, v.len);
}

/* A reply document rewritten (f edits it) into the response; the reply as it is when it is not
 * a success. */
static void respond_edited(struct http_call *c, h2o_req_t *req, void (*f)(struct http_call *, h2o_req_t *, json_t *))
{
    json_t *doc = json_loadb(c->reply, c->reply_len, 0, NULL);
    char *text;

    if (!json_is_true(json_object_get(doc, "ok"))) {
        json_decref(doc);
        respond_reply(req, c->reply, c->reply_len);
        return;
    }
    f(c, req, doc);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL) {
        http_respond_json(req, 500, "Internal Server Error", "INTERNAL", "out of memory");
        return;
    }
    http_respond(req, 200, "OK", "application/json", text, strlen(text));
    OPENSSL_cleanse(text, strlen(text));
    free(text);
}

/* The session's secret goes into the cookie, and only there. */
static void login_edit(struct http_call *c, h2o_req_t *req, json_t *doc)
{
    const char *secret = json_string_value(json_object_get(doc, "session"));

    (void)c;
    if (secret != NULL) {
        cookie_set(c->h, req, secret, false);
        OPENSSL_cleanse((char *)secret, strlen(secret));
    }
    json_object_del(doc, "session");
}

static void login_in(struct http_call *c, h2o_req_t *req)
{
    respond_edited(c, req, login_edit);
}

static void logout_edit(struct http_call *c, h2o_req_t *req, json_t *doc)
{
    (void)doc;
    cookie_set(c->h, req, "", true);
    if (c->call.session[0] != '\0')
        http_events_end_session(c->h, c->call.session);
}

static void logout_in(struct http_call *c, h2o_req_t *req)
{
    respond_edited(c, req, logout_edit);
}

/* Nobody logged in: the page gets this run's token, for its login. */
static void session_edit(struct http_call *c, h2o_req_t *req, json_t *doc)
{
    (void)req;
    if (!json_is_string(json_object_get(doc, "csrf")))
        json_object_set_new(doc, "csrf", json_string(c->h->csrf));
}

static void session_in(struct http_call *c, h2o_req_t *req)
{
    respond_edited(c, req, session_edit);
}

void http_api_session(struct http *h, h2o_req_t *req)
{
    char body[128];
    int n;

    if (h->b->cfg.auth) {
        forward(h, req, "session.get", "{}", session_in);
        return;
    }
    n = snprintf(body, sizeof(body), "{\"ok\": true, \"csrf\": \"%s\", \"auth\": false, \"user\": null}", h->csrf);
    http_respond(req, 200, "OK", "application/json", body, (size_t)n);
}

static void events_in(struct http_call *c, h2o_req_t *req)
{
    const char *reason;
    struct http_cred cred;

    if (reply_status(c->reply, c->reply_len, &reason) != 200) {
        respond_reply(req, c->reply, c->reply_len);
        return;
    }
    memcpy(cred.session, c->call.session, sizeof(cred.session));
    memcpy(cred.bearer, c->call.bearer, sizeof(cred.bearer));
    http_events_serve(c->h, req, &cred);
    OPENSSL_cleanse(&cred, sizeof(cred));
}

void http_api_events(struct http *h, h2o_req_t *req)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET"));
        http_respond_json(req, 405, "Method Not Allowed", "BAD_REQUEST", "the event stream takes GET");
        return;
    }
    forward(h, req, "session.check", "{}", events_in);
}

/* ---- calls ------------------------------------------------------------------------------------- */

/* Logins from req's peer waiting for the control thread. */
static unsigned logins_from(const struct http *h, h2o_req_t *req)
{
    struct sockaddr_storage ss = {0};
    unsigned n = 0;

    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0)
        return 0;
    for (const struct http_call *c = h->out; c != NULL; c = c->out_next)
        if (c->req_fn == login_in && http_same_host(&c->from, &ss))
            n++;
    return n;
}

void http_api_call(struct http *h, h2o_req_t *req, h2o_iovec_t verb)
{
    void (*req_fn)(struct http_call *, h2o_req_t *) = NULL;
    char name[ADMIN_VERB_MAX];
    bool bearer;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
        http_respond_json(req, 405, "Method Not Allowed", "BAD_REQUEST", "admin verbs take POST with a JSON document");
        return;
    }
    if (!header_is(req, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"), true)) {
        http_respond_json(req, 415, "Unsupported Media Type", "BAD_REQUEST", "the body must be application/json");
        return;
    }
    if (h2o_memis(verb.base, verb.len, H2O_STRLIT("login"))) {
        /* A login may wait seconds (the guessing delays, the hashing worker's queue): a few at
         * most hold the calls' slots, so that a guesser cannot take them all from the API, and
         * fewer from one address, so that one guesser cannot keep everyone else from logging in. */
        if (h->logins >= HTTP_LOGINS_MAX) {
            respond_busy(req, "too many logins at once: try again");
            return;
        }
        if (logins_from(h, req) >= HTTP_LOGINS_PEER) {
            respond_busy(req, "too many logins at once from this address: try again");
            return;
        }
        snprintf(name, sizeof(name), "session.login");
        req_fn = login_in;
    } else if (h2o_memis(verb.base, verb.len, H2O_STRLIT("logout"))) {
        snprintf(name, sizeof(name), "session.logout");
        req_fn = logout_in;
    } else if (verb_ok(verb)) {
        memcpy(name, verb.base, verb.len);
        name[verb.len] = '\0';
    } else {
        http_respond_json(req, 404, "Not Found", "UNKNOWN_VERB", "no such admin verb");
        return;
    }
    /* A logged-in page's calls carry its session's own token, checked with the session on the
     * control thread; the rest (no authentication, a bearer, the login) carry this run's. */
    bearer = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1) >= 0;
    if ((!h->b->cfg.auth || bearer || req_fn == login_in) && !csrf_ok(h, req)) {
        http_respond_json(req, 403, "Forbidden", "CSRF", "missing or wrong X-CSRF-Token (GET /api/session gives it)");
        return;
    }
    if (forward(h, req, name, NULL, req_fn) && req_fn == login_in)
        h->logins++;
}

void http_api_stop(struct http *h)
{
    for (struct http_call *c = h->out; c != NULL; c = c->out_next) {
        h2o_req_t *req = c->req;

        detach(c);
        if (req != NULL)
            http_respond_json(req, 503, "Service Unavailable", "SHUTTING_DOWN", "the broker is stopping");
    }
    h->out = NULL;
}

int http_api_internal(struct http *h, const char *verb, const char *doc, const struct http_cred *cred, http_api_fn *fn,
                      uint64_t arg)
{
    struct http_call *c;

    if (h->draining || h->rbox == NULL)
        return -ESHUTDOWN;
    if (h->calls >= HTTP_CALLS_MAX)
        return -EBUSY;
    c = call_new(h, h2o_iovec_init(verb, strlen(verb)), (const uint8_t *)doc, strlen(doc));
    if (c == NULL)
        return -ENOMEM;
    if (cred != NULL)
        call_cred(c, cred);
    c->fn = fn;
    c->arg = arg;
    return call_post(h, c);
}
