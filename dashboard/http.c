/*
 * The HTTP thread (http.h): h2o's evloop on a socket of its own, woken at least every
 * HTTP_TICK_MS to see whether it must stop.
 *
 * Why a thread, and a lowered priority: h2o's loop is not the cores' io_uring loop, and a scrape
 * or a dashboard must never delay a message. The thread's nice value is raised (Linux applies it
 * per thread), so under load the scheduler gives the cores the CPU first.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/http1.h>
#include <jansson.h>

#include "dashboard/http.h"
#include "dashboard/internal.h"
#include "src/admin.h"
#include "src/auth.h"
#include "src/control.h"
#include "src/core.h"
#include "src/log.h"
#include "src/metrics.h"

#define HTTP_TICK_MS  100
#define HTTP_NICE     10
#define HTTP_BODY_MAX ADMIN_DOC_MAX /* request bodies: the admin verbs' documents */
#define HTTP_IDLE_MS  10000         /* a keep-alive connection with no request is closed */
#define HTTP_DRAIN_MS 2000          /* at stop, how long open connections get to go */

void http_respond(h2o_req_t *req, int status, const char *reason, const char *type, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL, H2O_STRLIT("nosniff"));
    h2o_send_inline(req, body, len);
}

static void respond_text(h2o_req_t *req, int status, const char *reason, const char *text)
{
    http_respond(req, status, reason, "text/plain; charset=utf-8", text, strlen(text));
}

/* An error in the admin API's shape: {"ok": false, "error": {"code", "message"}}. */
void http_respond_json(h2o_req_t *req, int status, const char *reason, const char *code, const char *message)
{
    json_t *doc = json_pack("{sbs{ssss}}", "ok", 0, "error", "code", code, "message", message);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;

    json_decref(doc);
    if (text == NULL) {
        respond_text(req, 500, "Internal Server Error", "out of memory\n");
        return;
    }
    http_respond(req, status, reason, "application/json", text, strlen(text));
    free(text);
}

static void serve_metrics(struct http *h, h2o_req_t *req)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int ret = f != NULL ? metrics_write(h->b, f) : -ENOMEM;

    if (ret == 0)
        http_collect_metrics(h, f);
    if (f != NULL && fclose(f) != 0 && ret == 0)
        ret = -EIO;
    if (ret != 0)
        respond_text(req, 500, "Internal Server Error", "cannot write the metrics: out of memory\n");
    else
        http_respond(req, 200, "OK", METRICS_CONTENT_TYPE, text, len); /* h2o copies the body */
    free(text);
}

/* Ready: the cores run and no shutdown began. The store's state is said, not required: a broker
 * whose store is down still routes. */
static void serve_ready(struct http *h, h2o_req_t *req)
{
    const struct control *ctl = h->b->ctl;
    bool stopping = atomic_load_explicit(&h->b->stopping, memory_order_relaxed);
    bool store_up = ctl != NULL && atomic_load_explicit(&ctl->pub_store_up, memory_order_relaxed);
    char text[128];

    snprintf(text, sizeof(text), "%s\nstore %s\n", stopping ? "stopping" : "ready", store_up ? "up" : "down");
    respond_text(req, stopping ? 503 : 200, stopping ? "Service Unavailable" : "OK", text);
}

/* Whether the Host header names this server in a way no other site's page can: an address, or
 * localhost. A name that some DNS resolves to the broker's address (DNS rebinding) would otherwise
 * let a web page read the API as if it were ours; that holds for a non-loopback bind too. */
static bool host_ok(const struct http *h, const h2o_req_t *req)
{
    h2o_iovec_t a = req->authority;
    char host[64];
    size_t n = a.len;
    struct in6_addr v6;
    struct in_addr v4;

    if (n > 0 && a.base[0] == '[') {
        const char *close = memchr(a.base, ']', a.len);

        if (close == NULL || (size_t)(close - a.base - 1) >= sizeof(host))
            return false;
        n = (size_t)(close - a.base - 1);
        memcpy(host, a.base + 1, n);
        host[n] = '\0';
        return inet_pton(AF_INET6, host, &v6) == 1;
    }
    for (size_t i = 0; i < a.len; i++)
        if (a.base[i] == ':')
            n = i;
    if (n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, a.base, n);
    host[n] = '\0';
    return strcasecmp(host, "localhost") == 0 || inet_pton(AF_INET, host, &v4) == 1;
}

/* A request that comes from a page says from where (Origin): it must be this server's, scheme
 * included. */
static bool origin_ok(const h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    h2o_iovec_t o, scheme = req->scheme->name;

    if (i < 0)
        return true; /* not a browser's cross-origin request: curl, trpcctl-like tools */
    o = req->headers.entries[i].value;
    return o.len == scheme.len + 3 + req->authority.len && memcmp(o.base, scheme.base, scheme.len) == 0 &&
           memcmp(o.base + scheme.len, "://", 3) == 0 &&
           h2o_lcstris(o.base + scheme.len + 3, req->authority.len, req->authority.base, req->authority.len);
}

static bool is_method(const h2o_req_t *req, const char *m, size_t len)
{
    return h2o_memis(req->method.base, req->method.len, m, len);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct http *h = *(struct http **)(self + 1);
    h2o_iovec_t path = req->path_normalized;
    bool get = is_method(req, H2O_STRLIT("GET")) || is_method(req, H2O_STRLIT("HEAD"));

    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics")) || h2o_memis(path.base, path.len, H2O_STRLIT("/healthz")) ||
        h2o_memis(path.base, path.len, H2O_STRLIT("/readyz"))) {
        if (!get) {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET, HEAD"));
            respond_text(req, 405, "Method Not Allowed", "only GET and HEAD here\n");
        } else if (path.base[1] == 'm') {
            serve_metrics(h, req);
        } else if (path.base[1] == 'h') {
            respond_text(req, 200, "OK", "ok\n");
        } else {
            serve_ready(h, req);
        }
        return 0;
    }
    /* Scrapers and probes may use any name; the dashboard and its API only names no other site can hold. */
    if (!host_ok(h, req)) {
        http_respond_json(req, 421, "Misdirected Request", "BAD_HOST",
                          "the dashboard answers only to an address or localhost in the Host header");
        return 0;
    }
    if (!origin_ok(req)) {
        http_respond_json(req, 403, "Forbidden", "CSRF", "cross-origin request refused");
        return 0;
    }
    if (path.len > 5 && memcmp(path.base, "/api/", 5) == 0) {
        h2o_iovec_t verb = h2o_iovec_init(path.base + 5, path.len - 5);

        if (h2o_memis(verb.base, verb.len, H2O_STRLIT("session"))) {
            if (get)
                http_api_session(h, req);
            else {
                h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET, HEAD"));
                http_respond_json(req, 405, "Method Not Allowed", "BAD_REQUEST", "the session takes GET");
            }
        } else if (h2o_memis(verb.base, verb.len, H2O_STRLIT("events"))) {
            if (h->b->cfg.auth)
                http_api_events(h, req); /* after the control thread's word on its session */
            else
                http_events_serve(h, req, NULL);
        } else {
            http_api_call(h, req, verb);
        }
        return 0;
    }
    if (!get) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET, HEAD"));
        respond_text(req, 405, "Method Not Allowed", "only GET and HEAD here\n");
        return 0;
    }
    if (!http_static_serve(h, req, path))
        respond_text(req, 404, "Not Found",
                     "not found: this broker serves its dashboard at /, /api/, /metrics, /healthz and /readyz\n");
    return 0;
}

static void conn_closed(void *data)
{
    struct http_conn *c = data;

    assert(c->h->conns > 0 && c->sock != NULL);
    c->sock = NULL;
    c->h->conns--;
}

void http_host_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    const void *addr = ss->ss_family == AF_INET    ? (const void *)&((const struct sockaddr_in *)(const void *)ss)->sin_addr
                       : ss->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr
                                                   : NULL;

    if (addr == NULL || inet_ntop(ss->ss_family, addr, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "?");
}

bool http_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return true;
}

/* Whether the peer of a new connection holds HTTP_CONNS_PEER already: a client that opens and
 * holds connections (each may idle for HTTP_IDLE_MS) must not shut out /healthz and the rest. */
static bool peer_full(const struct http *h, const struct sockaddr_storage *peer)
{
    unsigned n = 0;

    for (unsigned i = 0; i < HTTP_CONNS_MAX; i++)
        if (h->slots[i].sock != NULL && http_same_host(&h->slots[i].peer, peer))
            n++;
    return n >= HTTP_CONNS_PEER;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct http *h = listener->data;
    struct sockaddr_storage peer = {0};
    h2o_socket_t *sock;

    if (err != NULL)
        return;
    sock = h2o_evloop_socket_accept(listener);
    if (sock == NULL)
        return;
    if (h->draining) {
        h2o_socket_close(sock);
        return;
    }
    if (h->conns >= HTTP_CONNS_MAX) {
        if (h->refused++ == 0)
            log_warn(LOG_NO_CORE, "http: %d connections open: more are closed at once (logged once)", HTTP_CONNS_MAX);
        h2o_socket_close(sock);
        return;
    }
    if (h2o_socket_getpeername(sock, (struct sockaddr *)&peer) == 0)
        peer.ss_family = AF_UNSPEC;
    if (peer_full(h, &peer)) {
        char name[INET6_ADDRSTRLEN];

        if (h->refused_peer++ == 0) {
            http_host_text(&peer, name, sizeof(name));
            log_warn(LOG_NO_CORE, "http: %s holds %d connections: more from one address are closed at once (logged once)", name,
                     HTTP_CONNS_PEER);
        }
        h2o_socket_close(sock);
        return;
    }
    for (unsigned i = 0; i < HTTP_CONNS_MAX; i++) {
        if (h->slots[i].sock == NULL) {
            h->slots[i] = (struct http_conn){.h = h, .sock = sock, .peer = peer};
            h->conns++;
            sock->on_close.cb = conn_closed;
            sock->on_close.data = &h->slots[i];
            break;
        }
    }
    h2o_accept(&h->accept_ctx, sock);
}

static void *http_main(void *arg)
{
    struct http *h = arg;

    pthread_setname_np(pthread_self(), "trpc-http"); /* for top -H and the tests' look at its nice value */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), HTTP_NICE) != 0)
        log_warn(LOG_NO_CORE, "http: cannot lower the thread's priority: %s", strerror(errno));
    while (!atomic_load_explicit(&h->stop, memory_order_relaxed)) {
        h2o_evloop_run(h->ctx.loop, HTTP_TICK_MS);
        http_events_tick(h);
        http_collect_tick(h, uring_now_ns());
        http_tls_tick(h);
    }
    /* Ends every open connection the way a peer's close would (h2o reads the end and frees the
     * connection itself), then lets the loop run until they are gone. */
    h->draining = true;
    http_api_stop(h);
    http_events_stop(h);
    for (unsigned i = 0; i < HTTP_CONNS_MAX; i++)
        if (h->slots[i].sock != NULL)
            shutdown(h2o_socket_get_fd(h->slots[i].sock), SHUT_RDWR);
    for (uint64_t end = uring_now_ns() + (uint64_t)HTTP_DRAIN_MS * 1000000; h->conns > 0 && uring_now_ns() < end;)
        h2o_evloop_run(h->ctx.loop, 10);
    if (h->conns > 0)
        log_warn(LOG_NO_CORE, "http: %u connections still open at stop", h->conns);
    /* h2o 2.2 keeps freed chunks in thread-local recyclers it offers no way to empty (its memory
     * pool's is static to it): were this thread to exit, they would be lost at every stop, and
     * LeakSanitizer would say so. It parks instead, touching nothing of h2o's any more, until the
     * process exits; http_stop frees the rest. */
    atomic_store_explicit(&h->parked, true, memory_order_release);
    for (;;)
        pause();
    return NULL;
}

/* A listening socket on cfg.http: the fd, or -errno with err filled. */
static int listen_on(const struct config *c, unsigned *port, char *err, size_t errlen)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    int fd, one = 1, ret;

    if (inet_pton(AF_INET, c->http_host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(c->http_port);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, c->http_host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(c->http_port);
        len = sizeof(*v6);
    } else {
        snprintf(err, errlen, "http: '%s' is not a numeric address", c->http_host);
        return -EINVAL;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        ret = -errno;
        snprintf(err, errlen, "http: socket: %s", strerror(errno));
        return ret;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 ||
        listen(fd, SOMAXCONN) != 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        ret = -errno;
        snprintf(err, errlen, "cannot serve http on %s%s%s:%u: %s", ss.ss_family == AF_INET6 ? "[" : "", c->http_host,
                 ss.ss_family == AF_INET6 ? "]" : "", c->http_port, strerror(errno));
        close(fd);
        return ret;
    }
    *port = ntohs(ss.ss_family == AF_INET6 ? v6->sin6_port : v4->sin_port);
    return fd;
}

/* The token the login, and without authentication every change, must carry (X-CSRF-Token): one
 * per run of the broker, readable only by pages of this origin (GET /api/session). */
static int csrf_make(struct http *h)
{
    return auth_random_hex(h->csrf, HTTP_CSRF_HEX / 2);
}

static void http_free(struct http *h)
{
    if (h->ctx.loop != NULL)
        http_api_free(h);
    if (h->listener != NULL)
        h2o_socket_close(h->listener);
    if (h->ctx.loop != NULL)
        h2o_evloop_run(h->ctx.loop, 0); /* runs the closes */
    http_events_free(h);
    http_collect_free(h);
    http_tls_free(h);
    free(h->chartjs);
    if (h->ctx.loop != NULL) {
        h2o_evloop_t *loop = h->ctx.loop;
        h2o_multithread_queue_t *queue = h->ctx.queue;

        h2o_context_dispose(&h->ctx); /* destroys the queue's socket and mutex, not the queue */
        h2o_evloop_destroy(loop);
        /* h2o 2.2's evloop build never frees the queue h2o_context_init allocated (its libuv build
         * frees it in a close callback): LeakSanitizer reports it at every exit. */
        free(queue);
    }
    h2o_config_dispose(&h->config);
    free(h);
}

int http_start(struct broker *b, char *err, size_t errlen)
{
    const struct config *c = &b->cfg;
    struct http *h;
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    h2o_handler_t *handler;
    unsigned port = 0;
    char tls_err[512];
    int fd, ret;

    if (c->http_host[0] == '\0')
        return 0;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(err, errlen, "http: out of memory");
        return -ENOMEM;
    }
    h->b = b;
    h2o_config_init(&h->config);
    h->config.server_name = h2o_iovec_init(H2O_STRLIT("trpc-broker"));
    h->config.max_request_entity_size = HTTP_BODY_MAX;
    h->config.http1.req_timeout = HTTP_IDLE_MS;
    /* HTTP/1.1 only: h2o's cleartext HTTP/2 (h2c) would let one connection hold a hundred
     * responses unread, beyond what HTTP_CONNS_MAX bounds. */
    h->config.http1.upgrade_to_http2 = 0;
    host = h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    /* The handler's extra room holds the server it serves. */
    handler = h2o_create_handler(path, sizeof(*handler) + sizeof(h));
    handler->on_req = on_req;
    memcpy(handler + 1, &h, sizeof(h));
    fd = listen_on(c, &port, err, errlen);
    if (fd < 0) {
        h2o_config_dispose(&h->config);
        free(h);
        return fd;
    }
    h->port = port;
    h2o_context_init(&h->ctx, h2o_evloop_create(), &h->config);
    h->accept_ctx.ctx = &h->ctx;
    h->accept_ctx.hosts = h->config.hosts;
    h->listener = h2o_evloop_socket_create(h->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h->listener->data = h;
    h2o_socket_read_start(h->listener, on_accept);
    if ((ret = csrf_make(h)) != 0 || (ret = http_api_init(h)) != 0 || (ret = http_events_init(h)) != 0) {
        snprintf(err, errlen, "http: cannot start: %s", strerror(-ret));
        http_free(h);
        return ret;
    }
    if ((ret = http_tls_init(h, tls_err, sizeof(tls_err))) != 0) {
        snprintf(err, errlen, "http: cannot serve HTTPS: %s", tls_err);
        http_free(h);
        return ret;
    }
    snprintf(h->cookie, sizeof(h->cookie), "%strpc_session_%u", h->accept_ctx.ssl_ctx != NULL ? "__Host-" : "", port);
    ret = pthread_create(&h->thread, NULL, http_main, h);
    if (ret != 0) {
        snprintf(err, errlen, "http: cannot start its thread: %s", strerror(ret));
        http_free(h);
        return -ret;
    }
    h->started = true;
    pthread_detach(h->thread);
    b->http = h;
    log_always(LOG_NO_CORE,
               strchr(c->http_host, ':') ? "dashboard on %s://[%s]:%u/ (and /metrics, /healthz, /readyz)"
                                         : "dashboard on %s://%s:%u/ (and /metrics, /healthz, /readyz)",
               h->accept_ctx.ssl_ctx != NULL ? "https" : "http", c->http_host, port);
    return 0;
}

void http_stop(struct broker *b)
{
    struct http *h = b->http;

    if (h == NULL)
        return;
    atomic_store_explicit(&h->stop, true, memory_order_relaxed);
    /* The drain takes at most HTTP_DRAIN_MS (http_main); the thread then parks for good. */
    while (h->started && !atomic_load_explicit(&h->parked, memory_order_acquire))
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    http_free(h);
    b->http = NULL;
}
