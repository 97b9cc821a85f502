/*
 * client.h: libtrpc internals shared by the driver's files (never installed).
 *
 * Threads and locks. Application threads append frames to the send buffer (c->lock) and touch
 * the pending table (c->pend_lock); everything that touches the ring, and the socket's life, is
 * the I/O thread's (or, in external-loop mode, trpc_client_process()'s). The one exception is a
 * direct send (sendbuf.c): under c->lock, while the I/O side has nothing queued or in flight, a
 * caller may send(2) its frame on c->direct_fd itself. Lock order: c->lock, then c->pend_lock,
 * then a dispatcher's lock. No lock is held while a callback runs.
 *
 * Connection phases (the I/O side's own view; the public trpc_state is coarser):
 *   WAIT -> CONNECTING (connect op) [-> TLS (trpcs://: the TLS handshake)] -> HANDSHAKE (CONNECT
 *   sent, waiting for CONNACK) -> OPEN
 *   any -> DRAINING (socket shut down, waiting for its ops to complete) -> WAIT or DEAD
 *
 * TLS (trpcs://): the plaintext buffers (hs, out) are encrypted into tls_out, a piece at a time,
 * and tls_out is what the ring sends; what is received goes through the tls_conn into tls_plain
 * before the wire reader. A TLS connection never has a direct_fd: a caller's send(2) would put
 * plaintext on it. Except under kernel TLS (the tls_conn has TLS_KTLS_TX): the kernel encrypts
 * whatever is written to the socket, so hs and out are sent as they are, direct sends included,
 * as over TCP; receiving still goes through the tls_conn.
 */
#ifndef TRPC_DRIVER_CLIENT_H
#define TRPC_DRIVER_CLIENT_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "driver/tls.h"
#include "driver/wire.h"
#include <trpc/trpc.h>

#define TRPC__MAX_URLS          16
#define TRPC__RECV_BYTES        (64u << 10)
#define TRPC__TICK_MS           50
#define TRPC__DISPATCH_QUEUE    65536u             /* messages waiting per dispatcher thread; their bytes: opts.dispatch_bytes */
#define TRPC__DISPATCH_BYTES    ((size_t)64 << 20) /* the default of opts.dispatch_bytes */
#define TRPC__ERROR_EVENTS      1024u              /* error events waiting for the error callback */
#define TRPC__PEND_BUCKETS      4096u
#define TRPC__SUB_BUCKETS       256u
#define TRPC__LOCAL_GRACE_MS    500     /* the broker times requests out; we only back it up */
#define TRPC__DEFAULT_REQ_MS    3600000 /* timeout 0: the longest request-timeout a broker accepts (request.c) */
#define TRPC__DEFAULT_PUBACK_MS 5000    /* a publish waits this long for its PUBACK unless told */
#define TRPC__DEFAULT_PORT      "4250"
#define TRPC__DEFAULT_TLS_PORT  "4251" /* trpcs:// */
#define TRPC__PATH_MAX          4096   /* a TLS file name, in bytes */
#define TRPC__SENDBUF_MIN       (64u << 10)
#define TRPC__HOLD_BYTES        (32u << 10) /* a stream of publishes goes out in batches of this much... */
#define TRPC__HOLD_US           100         /* ...or after this long (io.c, swap_batch) */

struct trpc_options {
    char *name;
    char *user;
    char *password;
    char *token;
    bool no_echo;
    bool external;
    int connect_timeout_ms;
    int reconnect_max;
    int reconnect_initial_ms;
    int reconnect_max_ms;
    size_t send_buffer;
    size_t dispatch_bytes; /* bytes of messages waiting per dispatcher thread (dispatch.c) */
    unsigned max_pending;
    trpc_dispatch dispatch;
    unsigned dispatch_threads;
    trpc_state_cb *state_cb;
    void *state_ud;
    trpc_error_cb *error_cb;
    void *error_ud;
    /* trpcs:// only; NULL: the system's CAs, no client certificate, the URL's host */
    char *tls_ca;
    char *tls_cert;
    char *tls_key;
    char *tls_server_name;
    bool tls_insecure_skip_verify;
    trpc_tls_offload tls_offload;
};

struct trpc__url {
    char host[256];
    char port[8];
    bool tls; /* trpcs:// */
};

/* A growable byte buffer of whole frames; capacity grows by doubling, never per message. */
struct trpc__buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t off; /* bytes already sent: c->fill's only after a short direct send */
};

/* What a dispatcher queue carries; embedded in trpc_msg, in async pending entries and events. */
enum trpc__node_kind {
    TRPC__NODE_MSG = 1,   /* a trpc_msg for a subscription */
    TRPC__NODE_REPLY = 2, /* a completed async request (struct trpc__pending) */
    TRPC__NODE_STATE = 3, /* struct trpc__event */
    TRPC__NODE_ERROR = 4, /* struct trpc__event */
};

struct trpc__node {
    struct trpc__node *next;
    int kind;
};

struct trpc__event {
    struct trpc__node node;
    trpc_state state;
    trpc_sub *sub;
    int err;
    char text[200];
};

/*
 * A subscription. Its memory is reference counted: the owner's handle (until trpc_sub_destroy),
 * every message or error event that names it (until its callback returned or it was dropped), and
 * the I/O side while it looks one up. The last reference frees it; trpc_close frees what is left.
 */
struct trpc_sub {
    struct trpc_sub *next_active;         /* c->sub_buckets chain while subscribed */
    struct trpc_sub *next_all, *prev_all; /* c->all_subs: not freed yet (under c->lock) */
    trpc_client *c;
    uint64_t id;
    char *pattern;
    struct wire_header *hdrs; /* the SUB's headers (":group" or ":durable" first), one allocation with their bytes */
    size_t hdr_count;
    uint32_t window; /* SUB aux: a durable subscription's in-flight window (0: the broker's) */
    trpc_msg_cb *cb;
    void *ud;
    atomic_uint refs;
    atomic_bool alive; /* cleared by trpc__disp_retire_sub (dispatch.c) */
    bool removed;      /* under c->lock: trpc_unsubscribe() ran */
    unsigned disp;
};

struct trpc_msg {
    struct trpc__node node;
    trpc_client *c;
    trpc_sub *sub;     /* referenced until the callback returns; NULL afterwards is not promised */
    uint64_t sub_id;   /* for ACK/NACK, which may come after the subscription is gone */
    uint64_t conn_gen; /* connection the request came on: replies go only there */
    uint64_t seq;
    uint32_t aux;
    uint8_t flags;
    uint8_t type;
    atomic_bool answered;
    uint32_t error_code;
    uint32_t len;
    uint32_t hdr_len;
    uint16_t header_count;
    uint8_t cache_class;           /* size class of the block, when cache is set */
    struct trpc__msg_cache *cache; /* NULL: a plain allocation; else referenced until freed */
    const char *topic;
    const uint8_t *headers;
    const uint8_t *data;
};

/* A request waiting for its REP. Sync requests live on the requester's stack, async ones on the
 * heap (freed after their callback). */
struct trpc__pending {
    struct trpc__node node;
    struct trpc__pending *bnext;         /* hash bucket chain */
    struct trpc__pending *aprev, *anext; /* every pending entry, for deadline scans */
    uint64_t id;
    int64_t deadline_ms;
    trpc_reply_cb *cb;   /* a request's; NULL with pcb NULL: synchronous, the waiter sleeps on cond */
    trpc_puback_cb *pcb; /* an acknowledged publish's */
    bool publish;        /* an acknowledged publish, answered by PUBACK; else a request, answered by REP */
    void *ud;
    uint64_t seq; /* PUBACK: the stream sequence */
    pthread_cond_t cond;
    bool done;
    int err;
    char why[128]; /* the broker's text with a refusal (ERR), "" without */
    trpc_msg *reply;
};

/* A dispatcher: a thread (or the I/O side itself, for inline dispatch) and its queue. */
struct trpc__disp {
    trpc_client *c;
    pthread_t tid;
    bool has_thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* work queued, or stop */
    pthread_cond_t idle_cond; /* a MSG callback returned while a retire waited (waiters) */
    struct trpc__node *head, *tail;
    atomic_uint msg_count;   /* MSGs queued or taken and not yet handed to their callback */
    atomic_size_t msg_bytes; /* and their sizes (trpc__msg_bytes), for the dispatch_bytes bound */
    atomic_bool stop;        /* set under lock */
    bool overflowing;
    _Atomic(trpc_sub *) running; /* sub whose callback runs now, if any */
    atomic_uint waiters;         /* trpc__disp_retire_sub calls waiting for running to change */
    struct trpc__node *rest;     /* the dispatcher thread's: what it took and has not run yet */
    /* The I/O side's batch for this thread (c->batching): MSGs of one receive, queued together
     * under one lock and one wake-up. Touched by the I/O side only, without the lock. */
    struct trpc__node *bhead, *btail;
    unsigned bcount;
    size_t bbytes;
};

enum trpc__phase {
    TRPC__PH_WAIT = 0,
    TRPC__PH_CONNECTING,
    TRPC__PH_TLS,
    TRPC__PH_HANDSHAKE,
    TRPC__PH_OPEN,
    TRPC__PH_DRAINING,
    TRPC__PH_DEAD,
};

/* A trpc_flush waiting for the PONG of its own PING, on its stack: PONGs from an older broker, or
 * one that answers out of order, must not end a flush whose PING is still unanswered. */
struct trpc__flush_wait {
    struct trpc__flush_wait *next;
    uint64_t id;
    bool done;
};

struct trpc_client {
    struct trpc_options opts; /* copied, strings owned */
    struct trpc__url urls[TRPC__MAX_URLS];
    unsigned url_count;
    unsigned url_next;

    /* c->lock: state, the application-side send buffer, flush bookkeeping, the subs list. */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* state changes and PONGs */
    trpc_state state;
    struct trpc__buf fill;             /* frames queued by application threads */
    size_t out_unsent;                 /* bytes of c->out not sent yet (updated as each send returns), for the send_buffer bound */
    bool send_idle;                    /* the I/O side has nothing to send: an append must wake it */
    struct wire_topic_memo out_memo;   /* the last topic an append found valid */
    bool fill_urgent;                  /* fill holds a frame someone waits for: no hold */
    bool holding;                      /* the I/O side holds fill back: an append that ends the hold wakes it */
    int direct_fd;                     /* the open session's socket for direct sends, -1 when there is none */
    uint64_t ping_next;                /* flush PING ids */
    struct trpc__flush_wait *flushing; /* trpc_flush calls waiting for their PONG */
    unsigned api_sleepers;             /* calls that may sleep in the client (trpc__api_enter): trpc_close waits for them */
    uint64_t conn_gen;                 /* bumps on every session open and loss */
    uint64_t client_id;
    struct wire_limits limits;
    int first_err;                                   /* why the first connect failed */
    bool first_done;                                 /* the first connect finished (either way) */
    struct trpc_sub *sub_buckets[TRPC__SUB_BUCKETS]; /* active subscriptions by id */
    struct trpc_sub *all_subs;                       /* subscriptions not freed yet; close frees them */
    struct trpc__msg_cache *msg_cache;               /* created by the I/O side on the first message (msg.c) */

    /* c->pend_lock: pending requests. */
    pthread_mutex_t pend_lock;
    struct trpc__pending *pend_buckets[TRPC__PEND_BUCKETS];
    struct trpc__pending *pend_all;
    unsigned pend_count;
    atomic_uint_fast64_t id_next; /* subscription and correlation ids share it: ERR names either */

    /* Dispatch. */
    struct trpc__disp *disp;
    unsigned disp_count;
    struct trpc__disp inline_disp; /* TRPC_DISPATCH_IO and external loop: runs on the I/O side */
    atomic_uint error_events;      /* error events waiting for the error callback (dispatch.c) */
    atomic_uint errors_dropped;    /* and those dropped past TRPC__ERROR_EVENTS, told with the next */

    /* I/O side only (the I/O thread, or the caller of trpc_client_process). */
    struct io_uring ring;
    int wake_fd;
    uint64_t wake_val;
    pthread_t io_tid;
    bool has_io_thread;
    bool io_go; /* under c->lock: the I/O thread may start (io_tid is written) */
    atomic_bool stop;
    enum trpc__phase phase;
    int fd;
    unsigned ops_inflight; /* ops on fd: connect, recv, send */
    bool recv_armed;
    bool recv_paused; /* OPEN, no recv armed: the library's own frames hold the send buffer past its bound (io.c) */
    bool send_armed;
    bool tick_armed;
    bool wake_armed;
    bool hold_armed;   /* the hold's timeout is in flight */
    bool wait_in_poll; /* sleep in poll(2), not io_uring_enter (valgrind: io.c) */
    struct __kernel_timespec tick_ts;
    struct __kernel_timespec hold_ts;
    struct __kernel_timespec connect_ts;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct trpc__buf out; /* frames being sent: swapped with c->fill */
    struct trpc__buf hs;  /* the CONNECT frame, alone before CONNACK */
    uint8_t *rbuf;
    struct wire_reader reader;
    bool reader_live;
    bool batching;             /* the I/O side is handling one receive's frames: MSGs wait in each dispatcher's batch */
    trpc_sub *batch_sub;       /* I/O side: the subscription of the batch's last MSG (sub.c) */
    unsigned batch_owed;       /* references its MSGs after the first took without adding them yet */
    int64_t phase_deadline_ms; /* WAIT: next attempt; CONNECTING/HANDSHAKE: give up */
    int64_t last_send_ms;
    int64_t last_recv_ms;
    int64_t last_ping_ms;
    uint32_t keepalive_ms;
    uint8_t version; /* the protocol version of the connection: CONNACK's (under lock) */
    int attempts;    /* failed attempts in this outage */
    int backoff_ms;
    int last_err;
    char err_text[512]; /* detail of last_err, copied to the caller of trpc_connect (TLS reasons are long) */
    bool drain_was_open;
    struct trpc__buf *sending; /* &hs, &out or &tls_out while a send is in flight */
    bool ever_connected;
    unsigned rng;
    const struct trpc__url *url; /* the attempt's */
    /* TLS, I/O side only. The context is made for the first trpcs:// attempt and kept. */
    struct tls_ctx *tls_ctx;
    struct tls_conn *tls;     /* the connection's, while it is a trpcs:// one */
    bool tls_heard;           /* the broker sent something on it */
    struct trpc__buf tls_out; /* ciphertext being sent */
    uint8_t *tls_plain;       /* TRPC__RECV_BYTES of plaintext read, for the wire reader */
};

/* lasterr.c */
int trpc__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* declare.c: reads an admin API reply to stream.add: 0 (*created set), or -TRPC_E_* (last error
 * set; *busy when the broker was busy with another stream change). */
int trpc__declare_reply(const void *data, size_t len, bool *created, bool *busy);
void trpc__clear_error(void);
int64_t trpc__now_ms(void);

/* options.c */
int trpc__options_copy(struct trpc_options *dst, const struct trpc_options *src);
void trpc__options_release(struct trpc_options *o);
void trpc__options_defaults(struct trpc_options *o);
int trpc__parse_urls(trpc_client *c, const char *urls);

/* sendbuf.c */
int trpc__buf_reserve(struct trpc__buf *b, size_t more);
void trpc__buf_free(struct trpc__buf *b);
int trpc__enqueue_locked(trpc_client *c, const struct wire_out *o, bool force, bool *wake);
/* trpc__enqueue_locked, then a direct send where it applies; waiter: the caller sleeps until a
 * reply (a synchronous request). */
int trpc__enqueue_direct_locked(trpc_client *c, const struct wire_out *o, bool waiter, bool *wake);
/* Its two halves, for a caller with more to do between them: whether the frame about to be
 * appended may go directly (asked before trpc__enqueue_locked), and the send of c->fill after it. */
bool trpc__direct_allowed(const trpc_client *c, bool waiter);
void trpc__send_direct_locked(trpc_client *c, bool *wake);
void trpc__wake(trpc_client *c);
void trpc__keep_only_pubs(struct trpc__buf *b);
/* After CONNACK: drops the buffered frames lim refuses; returns how many. */
size_t trpc__drop_over_limits(struct trpc__buf *b, const struct wire_limits *lim);

/* Where a held stream goes out (io.c, swap_batch): TRPC__HOLD_BYTES, or half the send_buffer bound
 * where that is less, so that a publisher never meets BUFFER_FULL while the I/O side waits for more. */
static inline size_t trpc__hold_bytes(const trpc_client *c)
{
    return c->opts.send_buffer / 2 < TRPC__HOLD_BYTES ? c->opts.send_buffer / 2 : TRPC__HOLD_BYTES;
}

/* pending.c. Requests and acknowledged publishes share one id space: an answer of the wrong kind
 * (a PUBACK naming a request, a REP naming a publish) leaves the entry pending, is freed, and the
 * error callback hears PROTOCOL. */
enum trpc__answer {
    TRPC__ANSWER_ANY,    /* an ERR: refuses either kind */
    TRPC__ANSWER_REP,    /* answers a request */
    TRPC__ANSWER_PUBACK, /* answers an acknowledged publish */
};
/* A PUBACK for id: completes its publish with the sequence. */
void trpc__pend_acked(trpc_client *c, uint64_t id, uint64_t seq);
void trpc__pend_insert(trpc_client *c, struct trpc__pending *p);
bool trpc__pend_remove(trpc_client *c, struct trpc__pending *p);
/* A REP for id: completes its request with err and reply (freed when nothing takes it). */
void trpc__pend_complete(trpc_client *c, uint64_t id, int err, trpc_msg *reply);
/* A refusal (an ERR, or a REP with WIRE_F_ERROR and a text: as) for a pending entry: err with the
 * broker's text why[0, len). */
void trpc__pend_refused(trpc_client *c, uint64_t id, enum trpc__answer as, int err, const char *why, size_t len);
void trpc__pend_fail_all(trpc_client *c, int err);
void trpc__pend_expire(trpc_client *c, int64_t now_ms);

/* dispatch.c */
int trpc__disp_start(trpc_client *c);
void trpc__disp_stop(trpc_client *c);
void trpc__deliver(trpc_client *c, trpc_msg *m);
/* I/O side, after one receive's frames: hands every dispatcher its batch (trpc__deliver while
 * c->batching), under one lock and with one wake-up each. */
void trpc__deliver_flush(trpc_client *c);
void trpc__deliver_reply(trpc_client *c, struct trpc__pending *p);
void trpc__notify_state(trpc_client *c, trpc_state st);
void trpc__notify_error(trpc_client *c, trpc_sub *sub, int err, const char *text);
bool trpc__on_callback_thread(const trpc_client *c);
/* The calling thread is one of c's dispatcher threads and nothing waits in its queue. */
bool trpc__disp_caller_idle(const trpc_client *c);
void trpc__disp_retire_sub(trpc_client *c, trpc_sub *sub);

/* sub.c */
trpc_sub *trpc__sub_find(trpc_client *c, uint64_t id); /* takes a reference */
trpc_sub *trpc__sub_find_batched(trpc_client *c, uint64_t id);
void trpc__sub_batch_end(trpc_client *c);
void trpc__sub_batch_drop(trpc_client *c, trpc_sub *sub);
void trpc__sub_ref(trpc_sub *sub);
void trpc__sub_put(trpc_sub *sub);
void trpc__sub_put_n(trpc_sub *sub, unsigned n);
void trpc__resubscribe_locked(trpc_client *c);
void trpc__subs_free(trpc_client *c);

/* msg.c */
/* What a received message holds, counted against the dispatch_bytes bound: its one block as
 * trpc__msg_from_frame sized it (struct, topic, header block, payload and their terminators). */
static inline size_t trpc__msg_bytes(const trpc_msg *m)
{
    return (size_t)(m->data - (const uint8_t *)m) + m->len + 1;
}
trpc_msg *trpc__msg_from_frame(trpc_client *c, const struct wire_frame *f);
/* A durable request stored by the broker (a consumer group's MSG with :trpc-reply): true, with its
 * reply token and secret. */
bool trpc__msg_reply_token(const trpc_msg *m, uint64_t *token, uint64_t *secret);
/* Drops the client's hold on its message cache (trpc_close); messages still out keep it alive. */
void trpc__msg_cache_close(trpc_client *c);

/* client.c */
bool trpc__on_io_side(const trpc_client *c);
/* Around a call that may sleep inside the client (a synchronous request or publish): trpc_close,
 * once it failed everything, waits for such calls to leave before it frees c. Nothing may touch c
 * after trpc__api_leave. */
void trpc__api_enter(trpc_client *c);
void trpc__api_leave(trpc_client *c);
void trpc__deadline_ts(struct timespec *ts, int64_t timeout_ms);
void trpc__cond_init(pthread_cond_t *cond);
/*
 * The caller's headers converted for the encoder. Up to TRPC__STACK_HEADERS need no allocation;
 * more (the caller's choice, bounded by the broker's max_headers) take one, freed by release.
 */
#define TRPC__STACK_HEADERS 16
struct trpc__hdrs {
    struct wire_header stack[TRPC__STACK_HEADERS];
    struct wire_header *h;
    size_t count;
    size_t bytes; /* the header block's size on the wire */
};
int trpc__hdrs_in(struct trpc__hdrs *hs, const char *fn, const trpc_header *in, size_t n);
void trpc__hdrs_release(struct trpc__hdrs *hs);
/* The checks and the wire_out shared by PUB and REQ; release hs when done. */
int trpc__out_prepare(struct wire_out *o, struct trpc__hdrs *hs, const char *fn, const char *topic, const trpc_header *headers,
                      size_t header_count, const void *data, size_t len);
int trpc__check_limits_locked(trpc_client *c, const struct wire_out *o, size_t hdr_bytes);
/* Queues a prepared PUB (p NULL), or a REQ or acknowledged PUB with p, its pending entry (id and
 * deadline set); on an error p is not in the table and was never seen by another thread. */
int trpc__submit(trpc_client *c, const struct wire_out *o, size_t hdr_bytes, const char *fn, struct trpc__pending *p);

/* io.c */
int trpc__io_init(trpc_client *c);
void trpc__io_fini(trpc_client *c);
int trpc__io_run(trpc_client *c, int wait_ms);
void *trpc__io_thread(void *arg);
void trpc__io_shutdown(trpc_client *c);
void trpc__io_start_first(trpc_client *c);
void trpc__io_drain(trpc_client *c, int timeout_ms);

#endif
