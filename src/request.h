/*
 * request: request/reply (docs/protocol.md section 7; request.c has the design). Not a public API.
 *
 * Every function runs on the thread of the core it is given (or the session's core). A pending
 * entry lives on the requester's core; other cores read its claim words and push on its core's
 * reap stack (the two atomics below), nothing else.
 */
#ifndef TRPC_SRC_REQUEST_H
#define TRPC_SRC_REQUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver/wire.h"
#include "src/blist.h"
#include "src/route.h"
#include "uring/uring.h"

#define BROKER_PENDING_CEIL ((1u << 22) - 1) /* slot field of a reply token */

struct core;
struct core_module;
struct session;

/* Claim states of a pending request (preq.claim). */
#define PREQ_FREE    0U
#define PREQ_OPEN    1U /* waiting for its reply; the responder's core may claim it */
#define PREQ_CLAIMED 2U /* the responder's core writes the reply; ours only forgets the entry */
#define PREQ_LOCAL   3U /* our own core finishes it */

/* Request latency: a histogram per class of request topic (option request-metrics: class 0 for
 * topics no pattern matches, then one per pattern), per core, for /metrics. */
#define REQ_HIST_BUCKETS 17 /* request_hist_bounds_ns, then +Inf */
#define REQ_CLASSES_MAX  17 /* the "other" class and up to 16 patterns */

struct req_hist {
    uint64_t n[REQ_HIST_BUCKETS]; /* not cumulative; relaxed stores by the owning core only */
    uint64_t sum_ns;
};

extern const uint64_t request_hist_bounds_ns[REQ_HIST_BUCKETS - 1];

/* A pending request, on the requester's core. */
struct preq {
    /* Read by other cores ("direct replies"): tag << 32 | responder core << 8 | state, then the
     * responder's connection and the deadline. Written before claim goes OPEN. */
    _Atomic uint64_t claim;
    _Atomic uint64_t claim_conn; /* responder slot << 32 | gen */
    _Atomic uint64_t claim_deadline;
    uint32_t req_slot, req_gen;     /* the requester's connection: read by a claimant */
    uint32_t reap_next;             /* next entry on the core's reap stack (written by the claimant) */
    uint32_t tag;                   /* generation (8 bits) and random bits (24): the unforgeable part of the token */
    struct uring_deadline deadline; /* in the core's set while the entry waits; at_ns: when it times out */
    uint64_t corr_id;
    uint64_t secret; /* RESP_ANY: what a REP must carry in its id (a durable request, stored) */
    struct session *requester;
    uint32_t resp_core, resp_slot, resp_gen;
    bool used;     /* after resp_gen: fills what was padding */
    uint8_t klass; /* of its topic, for the latency histogram */
    uint64_t opened_ns;
    struct rsub *resp; /* this core's replica of the responder subscription; NULL once removed */
    struct blist req_node;
    struct blist resp_node;
};

/* One core's request/reply state (struct core.req). */
struct request_core {
    struct preq *preq; /* [1, npreq) */
    uint32_t npreq, preq_cap;
    uint32_t *preq_free;
    uint32_t npreq_free;
    _Alignas(64) _Atomic uint32_t reap; /* claimed entries whose reply went: a stack of preq indices, 0 ends */
    struct uring_tset deadlines;        /* the entries' deadlines */
    unsigned pending;
    /* Entries whose responder unsubscribed but may still answer (on resp_node): its close fails
     * them (conn_gone), although no replica of its subscriptions is left to say so. */
    struct blist orphans;
    /* Shutdown: sessions whose ERR waits for claimed replies, and the timer that polls for them. */
    unsigned stop_waits;
    uint64_t stop_began_ns;
    struct uring_timer stop_timer;
    bool stop_timer_armed;
    /* Latency classes (read-only after request_init) and this core's histograms, which the HTTP
     * thread reads with relaxed loads. A reply is counted by the core that writes it. */
    unsigned nclasses;
    char *class_list;                       /* the patterns, NUL-separated */
    const char *class_pat[REQ_CLASSES_MAX]; /* [0] "other" */
    struct req_hist *hist;                  /* [nclasses] */
};

struct xreq {
    struct xtarget target; /* the responder */
    uint64_t token;
    uint32_t ms_left;
    uint16_t topic_len;
    uint32_t hdr_len;
    uint32_t body_len;
    uint8_t body[];
};

#define XREP_PLAIN   0 /* check the token, finish the entry */
#define XREP_CLAIMED 1 /* the sender claimed the entry and could not send: we write the reply */

struct xrep {
    uint64_t token;
    uint64_t secret;    /* the REP's id: a stored durable request's secret */
    uint32_t slot, gen; /* the responder's connection */
    uint8_t how;        /* XREP_* */
    uint8_t flags;
    uint32_t aux;
    uint32_t hdr_len;
    uint32_t body_len;
    uint8_t body[];
};

extern const struct core_module request_module;
/* Main thread, once the HTTP thread has stopped: the latency histograms /metrics reads (kept past
 * the core's end, which a scrape during shutdown may outlive). */
void request_free_metrics(struct core *c);

void request_req(struct session *s, const struct wire_frame *f);
void request_rep(struct session *s, const struct wire_frame *f);
/* The stream refused durable request `token` of this core (stream_request): its requester gets
 * REP ERROR code, why as payload. */
void request_store_failed(struct core *c, uint64_t token, int code, const char *why);
/* A request the broker answers itself (the admin API): an entry with the usual deadline and no
 * responder. Returns its token, or 0 when the table is full (the requester got its REP ERROR). */
uint64_t request_open_system(struct session *s, uint64_t corr_id, uint32_t timeout_ms);
/* The one REP for it. False when the entry is gone (timed out, the requester left, shutdown). */
bool request_answer_system(struct core *c, uint64_t token, uint8_t flags, uint32_t aux, const uint8_t *body, uint32_t len);
/* Delivers a request to a local responder subscription. */
int request_deliver(struct session *resp, uint64_t sid, uint64_t token, uint32_t ms_left, uint16_t topic_len, uint32_t hdr_len,
                    const uint8_t *body, uint32_t body_len);

#endif
