/*
 * control: the broker's control thread (docs/architecture.md, "Control plane"). Not a public API.
 *
 * One thread that owns everything slow or blocking: the admin API's handlers (admin_api.c), the
 * settings master copy, and (next) the store. It talks to cores only through their mailboxes
 * (core_post) and they to it only through its own (control_post); no core ever waits for it.
 *
 * Threads: control_init, control_start, control_stop and control_free on the main thread (init
 * before core_start_all, start after it; stop before core_wake_all, so that it posts nothing to a stopping core; free
 * after core_join_all, when no core posts any more). control_post from any core thread and the
 * HTTP thread.
 */
#ifndef TRPC_SRC_CONTROL_H
#define TRPC_SRC_CONTROL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "src/config.h"
#include "src/stream.h"
#include "uring/uring.h"

#define CONTROL_MBOX_SLOTS 4096
#define CONTROL_QUERY_MS   2000 /* a core that has not answered a question by then: BUSY */

struct broker;
struct control;
struct store;

/* Message types of the control thread's mailbox. */
enum control_msg {
    CONTROL_REQUEST = 1, /* ptr: struct admin_req (admin.h), from the requester's core */
    CONTROL_PART,        /* ptr: struct admin_part, a core's answer to a question */
    CONTROL_DLQ_STREAM,  /* ptr: struct admin_dlq_ask (admin.h), from the member's core */
    CONTROL_CALL,        /* ptr: struct admin_call (admin_api.h), from the HTTP thread; its done is
                          * called once, with NULL if the broker stops first */
    CONTROL_AUTH,        /* ptr: struct auth_ask (auth.h), a CONNECT from a session's core */
    CONTROL_AUTH_DONE,   /* ptr: struct auth_job (control_auth.c), from the password worker */
};

/* A question to cores in flight (control_ask). */
struct admin_part;
struct admin_dlq_job;
typedef void control_parts_fn(struct control *ctl, void *arg, struct admin_part **parts, unsigned n, int err);

struct control_query {
    struct control_query *next;
    uint64_t id;
    uint32_t type;       /* ADMIN_MB_* */
    unsigned want, have; /* answers expected and arrived */
    uint64_t deadline_ns;
    struct admin_part **parts; /* [want] */
    control_parts_fn *fn;
    void *arg;
};

/* A reply a full core mailbox refused, tried again each round until its deadline. */
struct control_retry {
    struct control_retry *next;
    unsigned core;
    uint64_t deadline_ns;
    struct uring_xmsg msg;
};

/* Read and written by the control thread only, but for what control_post touches (mbox). */
struct control {
    struct broker *b;
    pthread_t thread;
    bool started;
    atomic_bool closed; /* control_stop began: control_post refuses (nobody would read it) */
    int stop_fd;
    struct uring_mbox mbox;
    struct config base; /* the settings of the config file and the command line */
    struct config cfg;  /* in force: base with the stored ones over it; the cores get copies */
    struct store *store;
    bool store_was_up;
    /* The store's state for other threads (the HTTP thread's /metrics), written each round. */
    atomic_bool pub_store_up;
    _Atomic uint64_t pub_store_outages;
    uint64_t started_ns; /* CLOCK_REALTIME */
    uint64_t started_mono_ns;
    uint64_t next_query;
    uint64_t settings_gen;
    struct control_query *queries;
    struct control_retry *retries;
    /* Streams (admin_stream.c): the definitions in force and their ids for this run. One change
     * (add, delete) at a time: it takes several rounds with the cores. */
    struct stream_def *streams[STREAMS_MAX];
    uint32_t stream_ids[STREAMS_MAX];
    unsigned nstreams;
    uint32_t next_stream_id;
    uint64_t streams_gen;
    bool streams_changing;
    /* Authentication (control_auth.c), and its counters for /metrics. */
    struct control_auth *auth;
    struct control_dash *dash; /* the dashboard's login sessions (control_dash.c); NULL: none yet */
    _Atomic uint64_t pub_auth_logins, pub_auth_failures, pub_auth_busy;
    _Atomic uint64_t pub_auth_rest_ns; /* the password worker's rests on a busy machine (pace_rest) */
    /* Dead-letter streams to make (admin_dlq_stream.c): waiting, and one under way. */
    struct admin_dlq_job *dlq_jobs;
    bool dlq_running;
};

/* Control thread: asks core `core` (or every core: -1) a question of type ADMIN_MB_CLIENTS,
 * ADMIN_MB_SUBS or ADMIN_MB_KICK (client: which one); fn gets every answer, in core order, once
 * all have come, or with err -ETIMEDOUT or -EAGAIN (a mailbox was full) and what came. 0 or
 * -ENOMEM (fn is not called). */
int control_ask(struct control *ctl, uint32_t type, int core, uint64_t client, control_parts_fn *fn, void *arg);
/* The same with any message: make (may be NULL: no ptr) builds core `core`'s message body for
 * question `query` (NULL: out of memory), and the answers are awaited for ms. */
typedef void *control_make_fn(void *arg, unsigned core, uint64_t query);
int control_ask_with(struct control *ctl, uint32_t type, int core, unsigned ms, control_make_fn *make, void *make_arg,
                     control_parts_fn *fn, void *arg);
/* Control thread: sends document doc[0, len) (malloc'd, taken) as the reply to request token
 * of core `core`. */
void control_reply(struct control *ctl, unsigned core, uint64_t token, char *doc, size_t len);
/* Control thread: posts msg to core `core`, trying again each round while its mailbox is full
 * (until shutdown): false (out of memory) leaves msg->ptr to the caller. */
bool control_post_core(struct control *ctl, unsigned core, const struct uring_xmsg *msg);
/* Control thread: sends ctl->cfg to every core (-ENOMEM: some cores may not get it). */
int control_push_settings(struct control *ctl);

/* control_store.c. Control thread (control_store_open: control_init's thread). */
/* Opens the store, waiting up to store-timeout for one that does not answer yet, and reads the
 * stored settings into ctl->cfg: 0, or a negative errno with one line naming the store in err. */
int control_store_open(struct control *ctl, char *err, size_t errlen);
void control_store_close(struct control *ctl);
int control_store_fd(const struct control *ctl); /* to poll for changes by others; -1: none */
/* Each round of the loop: reconnects, notices outages, applies changes made elsewhere. */
void control_store_tick(struct control *ctl, uint64_t now_ns, bool readable);
/* Changes n live settings at once: validated together, written to the store, then sent to every
 * core. 0, or with a one-line message in err: -ENOENT, -EPERM, -EINVAL (config_set_live), -EAGAIN
 * (the store is down or did not take it: nothing changed), -ENOMEM (stored, but some cores may
 * not have it). */
int control_settings_set(struct control *ctl, size_t n, const char *const names[], const char *const values[], char *err,
                         size_t errlen);
/* Gives setting `name` back its configured value and removes it from the store; errors as
 * control_settings_set. */
int control_settings_reset(struct control *ctl, const char *name, char *err, size_t errlen);

/* control_auth.c. Control thread. A user's record changed in (or left) the store: its connected
 * sessions get its new permissions within a second, and are closed when it was deleted or
 * disabled. A token was deleted: the sessions that logged in with it are closed. */
void control_auth_user_changed(struct control *ctl, const char *user);
void control_auth_token_revoked(struct control *ctl, const char *id);
/* Whether bearer is the token of an enabled admin (the dashboard's API): 0, -EACCES (no such
 * token, expired, its user gone or disabled), -EPERM (not an admin), -EAGAIN (the store cannot
 * be read); why says which. An unknown token from peer counts as an authentication failure;
 * refusals are logged at most once a second. */
int control_auth_bearer(struct control *ctl, const char *bearer, const char *peer, char *why, size_t whylen);
/* A record of the store as a JSON object (*out, NULL on failure): 0, -ENOENT, -EBADMSG (not a
 * JSON object: damaged, logged), or the store's error. */
struct json_t;
int control_auth_load(struct control *ctl, const char *ns, const char *key, struct json_t **out);
struct auth_ask;
struct admin_call;
struct auth_perms;
/* control_dash.c: the dashboard's logins. The session.* verbs of the HTTP API (login, logout,
 * get, check); whether a call's session is an admin's and its X-CSRF-Token the session's (csrf):
 * 0, -EACCES (none, expired, ended), -EPROTO (CSRF), -EAGAIN (the store cannot be read), why says
 * which; the verdict of a login's password (auth_ask.call), perms taken. */
void control_dash_call(struct control *ctl, struct admin_call *call);
int control_dash_check(struct control *ctl, const struct admin_call *call, bool csrf, char *why, size_t whylen);
/* An HTTP API call with authentication on: whether its bearer token, or else its session (and
 * then its CSRF token, when csrf), is an admin's; false: call was answered with the error. */
bool control_dash_allowed(struct control *ctl, struct admin_call *call, bool csrf);
void control_dash_login_done(struct control *ctl, struct admin_call *call, const struct auth_ask *a, int code, const char *msg,
                             struct auth_perms *perms);
void control_dash_free(struct control *ctl);

/* The control thread's plumbing: CONTROL_AUTH (a taken), CONTROL_AUTH_DONE, a message nobody will
 * handle, each round of the loop; init before control_start's thread, start with it, stop
 * after it (the password worker posts to its mailbox), free in control_free. */
void control_auth_ask(struct control *ctl, struct auth_ask *a);
void control_auth_done(struct control *ctl, void *job);
void control_auth_discard(uint32_t type, void *ptr);
void control_auth_tick(struct control *ctl, uint64_t now_ns);
int control_auth_init(struct control *ctl);
int control_auth_start(struct control *ctl);
void control_auth_stop(struct control *ctl);
void control_auth_free(struct control *ctl);

/* Before core_start_all (so that the cores see b->ctl from their first instruction): the state,
 * the mailbox and the store, whose settings it puts in b->cfg. 0, or -errno with one line in err
 * (control_free cleans up). */
int control_init(struct broker *b, char *err, size_t errlen);
/* After core_start_all: starts the thread. 0 or -errno. */
int control_start(struct broker *b);
/* Ends the thread; what is still in its mailbox waits for control_free. Idempotent. */
void control_stop(struct broker *b);
/* Frees what is left (every core has been joined). */
void control_free(struct broker *b);
/* Any core thread: 0, or -EAGAIN (full: the caller fails what it asked with UNAVAILABLE) or
 * -ESHUTDOWN (no control thread). msg->ptr is the control thread's on success. */
int control_post(struct broker *b, const struct uring_xmsg *msg);

#endif
