/*
 * The HTTP thread's own state, shared by the files of dashboard/ (http.h is the module's public
 * header). Everything here is touched by the HTTP thread only, but for struct http_rbox, which
 * the control thread writes answers into.
 */
#ifndef TRPC_DASHBOARD_INTERNAL_H
#define TRPC_DASHBOARD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include <h2o.h>
#include <jansson.h>

#include "src/admin_api.h"
#include "src/stats.h"

#define HTTP_CONNS_MAX   64  /* connections at once (each may buffer a request of ~420 KiB) */
#define HTTP_CONNS_PEER  32  /* of them, from one address: one client cannot take every slot */
#define HTTP_CALLS_MAX   32  /* admin calls waiting for the control thread at once: more get BUSY */
#define HTTP_SSE_MAX     16  /* event streams at once: more get 503 */
#define HTTP_HISTORY     300 /* one-second points kept for a new event stream's chart */
#define HTTP_CORES_MAX   256 /* cores the sampler follows */
#define HTTP_CSRF_HEX    ADMIN_CSRF_HEX
#define HTTP_LOGINS_MAX  4    /* logins waiting for the control thread at once, of HTTP_CALLS_MAX */
#define HTTP_LOGINS_PEER 2    /* of them, from one address */
#define HTTP_RECHECK_MS  5000 /* an event stream's session is checked again this often */
#define HTTP_SAMPLE_MS   1000
#define HTTP_COLLECT_MS  5000 /* streams and groups for /metrics (collect.c) */

struct broker;
struct http;
struct http_call;

/* Who a request says it is, with authentication on: the dashboard's session cookie, or a bearer
 * token (tools). Empty strings when absent. */
struct http_cred {
    char session[ADMIN_SESSION_HEX + 1];
    char bearer[96];
};

/* Answers of the control thread, handed back to the HTTP thread. Shared by both and by every call
 * in flight (refs), so that whichever of the HTTP thread and the last answer goes last frees it:
 * the control thread may answer (admin_api_abandon at its free) after the HTTP thread is gone. */
struct http_rbox {
    pthread_mutex_t mu;
    int efd;   /* written once per answer; the HTTP thread polls a dup of it */
    bool open; /* false: the HTTP thread is gone, answers are dropped */
    unsigned refs;
    struct http_call *head, *tail;
};

/* One second's point of the overview chart. */
struct http_point {
    uint64_t t_ms; /* CLOCK_REALTIME */
    double msgs_in, msgs_out, requests, bytes_in, bytes_out, auth_failures;
    uint64_t connections;
};

struct http_sse;

/* collect.c: the streams and their groups, as stream.list and group.list gave them. */
struct http_collect {
    bool running;     /* a round's calls are out */
    uint64_t next_ns; /* monotonic: the next round */
    json_t *done;     /* the last complete round: stream.list's array, each with "group_list" */
    uint64_t done_ns;
    json_t *pending; /* the round under way */
    size_t next;     /* the stream whose groups are asked next */
};

struct http_conn {
    struct http *h;
    h2o_socket_t *sock;           /* NULL: a free slot */
    struct sockaddr_storage peer; /* its port aside, what HTTP_CONNS_PEER counts by */
};

struct http {
    struct broker *b;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    unsigned conns;        /* open now, counted by on_accept and conn_closed */
    uint64_t refused;      /* closed at accept for HTTP_CONNS_MAX */
    uint64_t refused_peer; /* closed at accept for HTTP_CONNS_PEER */
    bool draining;         /* stopping: new connections are closed at once */
    atomic_bool parked;    /* the thread is done with h2o for good (http_main) */
    unsigned port;
    struct http_conn slots[HTTP_CONNS_MAX];
    char csrf[HTTP_CSRF_HEX + 1];

    /* api.c */
    struct http_rbox *rbox;
    h2o_socket_t *rbox_sock;
    unsigned calls;  /* in flight */
    unsigned logins; /* of them, logins */
    /* The session cookie's name: the port in it, since browsers share a host's cookies across its
     * ports (two brokers, or any other service there); __Host- over HTTPS. */
    char cookie[40];
    struct http_call *out; /* those a request waits for */

    uint64_t tls_gen; /* https.c: stls's generation of accept_ctx.ssl_ctx */

    /* static.c: Debian's Chart.js, read once */
    char *chartjs;
    size_t chartjs_len;

    /* events.c */
    unsigned ncores;
    clockid_t core_clocks[HTTP_CORES_MAX]; /* each core thread's CPU clock; -1: unknown */
    uint64_t next_sample_ns;
    uint64_t last_ns;                      /* monotonic time of the last sample; 0: none yet */
    uint64_t last_rows[BROKER_STATS_ROWS]; /* BROKER_STATS_MAP's rows at the last sample */
    uint64_t last_auth_failures;           /* the control thread's count at the last sample */
    struct broker_stats *last_core;        /* [ncores] */
    uint64_t *last_cpu_ns;                 /* [ncores] */
    struct http_point history[HTTP_HISTORY];
    unsigned hist_head, hist_len;
    char *snapshot; /* the last sample as JSON (malloc'd), NULL before the first */
    size_t snapshot_len;
    struct http_sse *sse; /* open event streams */
    unsigned nsse;
    uint64_t sse_ids; /* the last stream's id (a recheck's answer finds its stream by it) */

    struct http_collect collect;
};

/* http.c */
void http_respond(h2o_req_t *req, int status, const char *reason, const char *type, const char *body, size_t len);
void http_respond_json(h2o_req_t *req, int status, const char *reason, const char *code, const char *message);
/* Whether a and b are the same host (the port aside). */
bool http_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* ss's address as text ("?" for a family other than IPv4 and IPv6). */
void http_host_text(const struct sockaddr_storage *ss, char *buf, size_t len);

/* api.c: /api/session, /api/login, /api/logout and POST /api/<verb>. */
typedef void http_api_fn(struct http *h, uint64_t arg, const char *reply, size_t len); /* reply NULL: the broker stops */
int http_api_init(struct http *h);
void http_api_free(struct http *h);
void http_api_session(struct http *h, h2o_req_t *req);
void http_api_call(struct http *h, h2o_req_t *req, h2o_iovec_t verb);
/* GET /api/events with authentication on: the stream starts once the control thread says the
 * request's session (or bearer) is an admin's. */
void http_api_events(struct http *h, h2o_req_t *req);
/* The request's session cookie and bearer token. */
void http_cred_get(const struct http *h, h2o_req_t *req, struct http_cred *cred);
/* Stopping: every request still waiting for the control thread is answered SHUTTING_DOWN now,
 * since the control thread has stopped reading its mailbox. */
void http_api_stop(struct http *h);
/* The HTTP thread's own admin call (verb and its document; cred, when not NULL, makes it a call
 * of the HTTP API, checked as such): fn gets arg and the reply on this thread. 0, or -EBUSY
 * (HTTP_CALLS_MAX out), -ENOMEM, -EAGAIN (the control thread's queue is full), -ESHUTDOWN; fn is
 * not called then. */
int http_api_internal(struct http *h, const char *verb, const char *doc, const struct http_cred *cred, http_api_fn *fn,
                      uint64_t arg);

/* events.c: the one-second sampler and GET /api/events. */
int http_events_init(struct http *h);
void http_events_tick(struct http *h); /* after each round of the loop: samples when due */
/* cred: who opened it (authentication on), checked again every HTTP_RECHECK_MS; NULL: no check. */
void http_events_serve(struct http *h, h2o_req_t *req, const struct http_cred *cred);
void http_events_stop(struct http *h);                             /* ends every stream (draining) */
void http_events_end_session(struct http *h, const char *session); /* its streams (logout) */
void http_events_free(struct http *h);

/* collect.c */
void http_collect_tick(struct http *h, uint64_t now_ns); /* starts a round when one is due */
void http_collect_metrics(const struct http *h, FILE *f);
void http_collect_free(struct http *h);

/* https.c: TLS on the HTTP listener where the broker has a TLS listener. */
int http_tls_init(struct http *h, char *err, size_t errlen); /* 0, or -EINVAL with err */
void http_tls_tick(struct http *h);                          /* follows certificate reloads */
void http_tls_free(struct http *h);

/* static.c: the UI's files, embedded at build time (www.c), and Debian's Chart.js. */
bool http_static_serve(struct http *h, h2o_req_t *req, h2o_iovec_t path);

/* www.c, generated by dashboard/embed.sh from dashboard/www/. */
struct http_file {
    const char *path; /* "/index.html" */
    const unsigned char *data;
    size_t len;
};
extern const struct http_file http_files[];
extern const size_t http_nfiles;

#endif
