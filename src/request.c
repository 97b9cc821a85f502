/*
 * Request/reply (docs/protocol.md section 7).
 *
 * The pending entry lives on the requester's core, in a table of at most max_pending_requests
 * slots allocated once (untouched pages cost nothing), so pointers into it stay valid. Its reply
 * token is
 *
 *   bits 63..54  requester's core      bits 53..32  slot      bits 31..24  slot generation
 *   bits 23..0   random (getrandom)
 *
 * so the core that receives a REP knows where to send it without a lookup, and a token cannot be
 * derived from another. A REP completes the entry only if the token's slot is in use with the same
 * generation and random bits, and it comes from the connection (core, slot, generation) the
 * request was delivered to; a timed-out or finished entry is gone, so a late or second REP fails.
 *
 * The responder is one group subscription matching the topic, chosen by power of two choices on
 * outstanding requests. The count is a per-core estimate: each core counts the requests it
 * forwarded to each subscription in its own replica (rsub.outstanding), so no counter is shared
 * between threads; with requests spread over cores the estimates add up to the truth.
 *
 * Deadlines: each entry embeds a uring_deadline in the core's timer set (c->req.deadlines, one heap
 * and one timer armed at the earliest, uring/tset.c), sized for the whole table at start-up, so
 * adding and cancelling one allocate nothing and cost O(log n); a later deadline leaves the armed
 * timer alone, and an earlier one re-arms it only when more than 1 ms earlier.
 *
 * Direct sends (docs/architecture.md): a request for a responder on another core is written
 * straight to the responder's connection when it is idle (direct.h), and a reply whose
 * requester sits on another core is written by the responder's core itself. For the latter the
 * entry has a claim word other cores may read: tag, responder core and state, published OPEN once
 * the entry is complete. The responder's core checks the tag, its own core, the responder's
 * connection and the deadline, then swaps OPEN for CLAIMED; from then on the entry is frozen
 * until that core hands it back: with the reply written, it pushes the entry on our reap stack
 * (a lock-free stack of indices; no message, so our thread is not woken for it: the next request,
 * the timer or the sweep takes the whole stack); when it could not write the reply (the
 * requester's connection was busy), an X_REP carries the reply for us to write (XREP_CLAIMED).
 * Every other end of an entry first swaps OPEN for LOCAL here (entry_take); when that fails the
 * entry was claimed, and the timeout, a lost responder or a gone requester only let go of it.
 *
 * Shutdown (core.c, core_begin_stop, through this module's session_stop): each open entry of the
 * core's sessions is taken and answered REP ERROR SHUTTING_DOWN before its requester's ERR. A
 * claimed one cannot be: its reply is the one REP, written by the claimant or handed back, so the
 * requester's ERR is held (stop_wait) until the entry is released (the reap stack, which a timer
 * polls every millisecond meanwhile, or the handback), which is when release() lets it go
 * (core_stop_release), or at the latest after BROKER_CLOSE_GRACE_NS. A responder lost meanwhile
 * (its core stopped first) answers SHUTTING_DOWN too (lost_code).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/topic.h"
#include "src/admin.h"
#include "src/core.h"
#include "src/log.h"
#include "src/session.h"
#include "src/stream.h"

#define TOKEN_CORE_SHIFT 54
#define TOKEN_SLOT_SHIFT 32
#define TOKEN_SLOT_MASK  BROKER_PENDING_CEIL

#define DEADLINE_SLACK_NS 1000000          /* an earlier deadline re-arms the core's timer if earlier by more */
#define STOP_POLL_NS      1000000          /* shutdown: the reap stack is looked at every millisecond */
#define SYSTEM_CORE       0xffffffu        /* claim word's core field of a request the broker answers itself */
#define RESP_SYSTEM       UINT32_MAX       /* resp_core: the broker answers (admin API) */
#define RESP_ANY          (UINT32_MAX - 1) /* resp_core: a stored durable request, answered from anywhere */

static const char xreq_refused[] = "request refused: the responder's core is too far behind, try again later";

static uint32_t pending_cap(const struct core *c)
{
    uint32_t cap = c->cfg.max_pending_requests;

    return cap < BROKER_PENDING_CEIL ? cap : BROKER_PENDING_CEIL;
}

/* One connection's share of the table. Without it a client that never answers requests made to
 * itself (it may be its own responder) fills the table, and every other client of the core is
 * refused until the deadlines pass. */
static uint32_t client_cap(const struct core *c)
{
    uint32_t cap = c->cfg.max_pending_requests_per_client;

    if (cap == 0)
        cap = c->cfg.max_pending_requests / 4;
    return cap > 0 ? cap : 1;
}

/* Upper bounds of the latency buckets, as Prometheus's defaults but from 100 us: a broker on one
 * machine answers in tens of microseconds. */
const uint64_t request_hist_bounds_ns[REQ_HIST_BUCKETS - 1] = {
    100000,   250000,    500000,    1000000,   2500000,    5000000,    10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};

/* request-metrics' patterns, then the rpc topics of request-contracts (main checked their number). */
static int classes_init(struct core *c)
{
    const char *list = c->cfg.request_metrics, *more = c->cfg.contract_topics;
    const char *more_pat[CONFIG_REQUEST_CLASSES_MAX];
    size_t len = strlen(list) + 1;
    int n, m;

    c->req.class_list = malloc(len + strlen(more) + 1);
    if (c->req.class_list == NULL)
        return -ENOMEM;
    n = config_request_classes(list, c->req.class_list, &c->req.class_pat[1], NULL, 0);
    assert(n >= 0 && n < REQ_CLASSES_MAX); /* config_validate checked the list */
    m = config_request_classes(more, c->req.class_list + len, more_pat, NULL, 0);
    if (m < 0)
        m = 0;
    if (m > REQ_CLASSES_MAX - 1 - n) /* main refuses more: never past class_pat */
        m = REQ_CLASSES_MAX - 1 - n;
    memcpy(&c->req.class_pat[1 + n], more_pat, (size_t)m * sizeof(*more_pat));
    c->req.class_pat[0] = "(other)";
    c->req.nclasses = (unsigned)(n + m) + 1;
    c->req.hist = calloc(c->req.nclasses, sizeof(*c->req.hist));
    return c->req.hist != NULL ? 0 : -ENOMEM;
}

/* The class of a request topic: the first pattern it matches, else 0. */
static uint8_t topic_class(const struct core *c, const char *topic, size_t len)
{
    for (unsigned i = 1; i < c->req.nclasses; i++)
        if (topic_match(c->req.class_pat[i], strlen(c->req.class_pat[i]), topic, len))
            return (uint8_t)i;
    return 0;
}

/* Counts the reply to p, written now by core c (its histograms: one writer each). */
static void latency_add(struct core *c, const struct preq *p, uint64_t now)
{
    struct req_hist *h = &c->req.hist[p->klass];
    uint64_t ns = now > p->opened_ns ? now - p->opened_ns : 0;
    unsigned b = 0;

    while (b < REQ_HIST_BUCKETS - 1 && ns > request_hist_bounds_ns[b])
        b++;
    __atomic_store_n(&h->n[b], h->n[b] + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&h->sum_ns, h->sum_ns + ns, __ATOMIC_RELAXED);
}

static int request_init(struct core *c)
{
    uint32_t cap = pending_cap(c) + 1;
    int ret;

    ret = classes_init(c);
    if (ret != 0)
        return ret;
    c->req.preq = calloc(cap, sizeof(*c->req.preq));
    c->req.preq_free = calloc(cap, sizeof(*c->req.preq_free));
    if (c->req.preq == NULL || c->req.preq_free == NULL)
        return -ENOMEM;
    ret = uring_tset_init(&c->req.deadlines, &c->loop, cap, DEADLINE_SLACK_NS);
    if (ret != 0)
        return ret;
    c->req.preq_cap = cap;
    c->req.stop_timer.data = c;
    c->req.npreq = 1; /* slot 0 is never used: a token is never 0, the reap stack ends at 0 */
    blist_init(&c->req.orphans);
    atomic_init(&c->req.reap, 0);
    return 0;
}

/* After the loop's destruction (the set's timer is no longer armed). */
static void request_fini(struct core *c)
{
    uring_tset_destroy(&c->req.deadlines);
    free(c->req.preq);
    free(c->req.preq_free);
    c->req.preq = NULL;
    c->req.preq_free = NULL;
}

void request_free_metrics(struct core *c)
{
    free(c->req.hist);
    free(c->req.class_list);
    c->req.hist = NULL;
    c->req.class_list = NULL;
}

/* ---- deadlines -------------------------------------------------------------------------------- */

static bool entry_take(struct preq *p);
static void request_reap(struct core *c);
static void finish(struct core *c, struct preq *p, uint8_t flags, uint32_t aux, uint32_t hdr_len, const uint8_t *body,
                   uint32_t body_len);

/* Entry p's deadline came (the set runs due deadlines in order, on our thread, never once
 * request_timer_stop ran or the loop is being destroyed). */
static void deadline_due(struct uring_tset *set, struct uring_deadline *d)
{
    struct core *c = (struct core *)(void *)((char *)set - offsetof(struct core, req.deadlines));
    struct preq *p = (struct preq *)(void *)((char *)d - offsetof(struct preq, deadline));

    /* Entries answered by other cores first: p may be one of them, released by this. */
    request_reap(c);
    if (!p->used)
        return;
    if (!entry_take(p))
        return; /* claimed before its deadline: the reply is on its way; its X_REP releases it */
    STAT_ADD(c->st, request_timeouts, 1);
    finish(c, p, WIRE_F_ERROR, TRPC_E_TIMEOUT, 0, NULL, 0);
}

static void request_stop(struct core *c)
{
    assert(c->req.stop_waits == 0);
    if (c->req.stop_timer_armed)
        uring_timer_cancel(&c->req.stop_timer);
    uring_tset_stop(&c->req.deadlines);
}

/* ---- entries ----------------------------------------------------------------------------------- */

static void release(struct core *c, struct preq *p);

static uint64_t token_of(const struct core *c, const struct preq *p)
{
    uint64_t slot = (uint64_t)(p - c->req.preq);

    return ((uint64_t)c->id << TOKEN_CORE_SHIFT) | (slot << TOKEN_SLOT_SHIFT) | p->tag;
}

static struct preq *entry_of(struct core *c, uint64_t token)
{
    uint32_t slot = (uint32_t)(token >> TOKEN_SLOT_SHIFT) & TOKEN_SLOT_MASK;
    struct preq *p;

    if ((token >> TOKEN_CORE_SHIFT) != c->id || slot == 0 || slot >= c->req.npreq)
        return NULL;
    p = &c->req.preq[slot];
    if (!p->used || p->tag != (uint32_t)token)
        return NULL;
    return p;
}

static uint64_t claim_word(const struct preq *p, uint32_t core, unsigned state)
{
    return (uint64_t)p->tag << 32 | (uint64_t)core << 8 | state;
}

/* Our core will finish the entry: false when the responder's core claimed it first. */
static bool entry_take(struct preq *p)
{
    uint64_t w = atomic_load_explicit(&p->claim, memory_order_relaxed);

    if ((w & 0xff) == PREQ_OPEN && atomic_compare_exchange_strong_explicit(&p->claim, &w, (w & ~(uint64_t)0xff) | PREQ_LOCAL,
                                                                           memory_order_relaxed, memory_order_relaxed))
        return true;
    assert((w & 0xff) == PREQ_CLAIMED);
    return false;
}

/* Another core's side: the entry it claimed is answered. */
static void reap_push(struct core *owner, struct preq *p)
{
    uint32_t slot = (uint32_t)(p - owner->req.preq), head = atomic_load_explicit(&owner->req.reap, memory_order_relaxed);

    do
        p->reap_next = head;
    while (!atomic_compare_exchange_weak_explicit(&owner->req.reap, &head, slot, memory_order_release, memory_order_relaxed));
}

static void request_reap(struct core *c)
{
    uint32_t slot;

    if (atomic_load_explicit(&c->req.reap, memory_order_relaxed) == 0)
        return;
    /* Taking the whole stack at once: no pop, no ABA. */
    slot = atomic_exchange_explicit(&c->req.reap, 0, memory_order_acquire);
    while (slot != 0) {
        struct preq *p = &c->req.preq[slot];

        assert(p->used && (atomic_load_explicit(&p->claim, memory_order_relaxed) & 0xff) == PREQ_CLAIMED);
        slot = p->reap_next;
        release(c, p);
    }
}

static void release(struct core *c, struct preq *p)
{
    uint32_t slot = (uint32_t)(p - c->req.preq);
    struct session *s = p->requester;

    assert(p->used);
    uring_tset_cancel(&c->req.deadlines, &p->deadline);
    atomic_store_explicit(&p->claim, PREQ_FREE, memory_order_relaxed);
    blist_del(&p->req_node);
    if (s != NULL) {
        assert(s->nrequests > 0);
        s->nrequests--;
    }
    blist_del(&p->resp_node);
    if (p->resp != NULL)
        p->resp->outstanding--;
    p->used = false;
    p->resp = NULL;
    p->requester = NULL;
    c->req.preq_free[c->req.npreq_free++] = slot;
    c->req.pending--;
    /* A shutting-down requester waited for this claimed entry's reply (written by now, by the
     * responder's core or by finish()) before its ERR. */
    if (s != NULL && s->stop_wait && blist_empty(&s->requests)) {
        s->stop_wait = false;
        c->req.stop_waits--;
        core_stop_release(s);
    }
}

/* The REP a requester gets for entry p; of a responder's flags only the error ones pass. */
static void put_reply(uint8_t *hdr, const struct preq *p, uint8_t flags, uint32_t aux, uint32_t hdr_len, uint32_t body_len)
{
    wire_put_fixed(hdr, WIRE_REP, flags & (WIRE_F_ERROR | WIRE_F_APP_ERROR), WIRE_FIXED_LEN + body_len, 0, hdr_len, aux, p->corr_id,
                   0);
}

/* Sends the requester its one REP and forgets the entry. */
static void finish(struct core *c, struct preq *p, uint8_t flags, uint32_t aux, uint32_t hdr_len, const uint8_t *body,
                   uint32_t body_len)
{
    uint8_t hdr[WIRE_FIXED_LEN];

    put_reply(hdr, p, flags, aux, hdr_len, body_len);
    if (p->requester != NULL)
        session_write2(p->requester, hdr, sizeof(hdr), body, body_len);
    release(c, p);
}

/* A responder lost while the broker shuts down was lost to the shutdown: the requester hears the
 * same code from every core, whichever stops first. */
static int lost_code(const struct core *c)
{
    return atomic_load_explicit(&c->b->stopping, memory_order_acquire) ? TRPC_E_SHUTTING_DOWN : TRPC_E_RESPONDER_LOST;
}

/* why: the broker's reason (payload), or NULL. */
static void rep_error_why(struct session *s, uint64_t id, int code, const char *why)
{
    struct wire_out o = {.type = WIRE_REP, .flags = WIRE_F_ERROR, .aux = (uint32_t)code, .id = id};

    if (why != NULL) {
        o.payload = why;
        o.payload_len = strlen(why);
    }
    session_send(s, &o);
}

static void rep_error(struct session *s, uint64_t id, int code)
{
    rep_error_why(s, id, code, NULL);
}

static struct preq *entry_new(struct core *c)
{
    uint32_t slot;
    struct preq *p;

    if (c->req.npreq_free > 0)
        slot = c->req.preq_free[--c->req.npreq_free];
    else if (c->req.npreq < c->req.preq_cap)
        slot = c->req.npreq++;
    else
        return NULL;
    p = &c->req.preq[slot];
    assert(!p->used);
    /* Next generation in the top byte, fresh random bits below. */
    p->tag = ((((p->tag >> 24) + 1) & 0xff) << 24) | (core_secure_random(c) & 0xffffff);
    p->used = true;
    blist_init(&p->req_node);
    blist_init(&p->resp_node);
    c->req.pending++;
    return p;
}

/* A new entry for request corr_id of s on topic (NULL: the broker's own, no latency class), on the
 * requester's list and with its deadline set; the caller names the responder and publishes the
 * claim word. NULL: s holds its share of the table already, or the table is full, and the
 * requester got REP ERROR TOO_MANY_REQUESTS saying which. */
static struct preq *entry_open(struct session *s, uint64_t corr_id, uint32_t timeout_ms, const char *topic, size_t topic_len)
{
    struct core *c = s->core;
    struct preq *p;
    int ret;

    if (s->nrequests >= client_cap(c)) {
        rep_error_why(s, corr_id, TRPC_E_TOO_MANY_REQUESTS,
                      "this connection's pending requests are at their limit (max-pending-requests-per-client)");
        return NULL;
    }
    p = entry_new(c);
    if (p == NULL) {
        rep_error_why(s, corr_id, TRPC_E_TOO_MANY_REQUESTS,
                      "the broker core's pending requests are at their limit (max-pending-requests)");
        return NULL;
    }
    STAT_ADD(c->st, requests, 1);
    p->corr_id = corr_id;
    p->requester = s;
    p->req_slot = s->slot;
    p->req_gen = s->gen;
    blist_add_tail(&s->requests, &p->req_node);
    s->nrequests++;
    p->opened_ns = uring_now_ns();
    p->klass = topic != NULL && c->req.nclasses > 1 ? topic_class(c, topic, topic_len) : 0;
    ret = uring_tset_add(&c->req.deadlines, &p->deadline, p->opened_ns + (uint64_t)timeout_ms * 1000000, deadline_due);
    assert(ret == 0); /* the set has room for the whole table */
    (void)ret;
    return p;
}

/* Power of two choices among the group subscriptions in c->route.match. */
static struct rsub *pick_responder(struct core *c, size_t n)
{
    struct rsub *a, *b;
    size_t k = 0;

    c->route.ngm = 0;
    for (size_t i = 0; i < n; i++)
        if (c->route.match[i]->group_len > 0)
            c->route.match[k++] = c->route.match[i];
    if (k < n)
        route_match_forget(c); /* the matches are not all there any more */
    if (k == 0)
        return NULL;
    if (k == 1)
        return c->route.match[0];
    size_t i = core_random(c) % k, j = core_random(c) % (k - 1);
    if (j >= i)
        j++;
    a = c->route.match[i];
    b = c->route.match[j];
    return b->outstanding < a->outstanding ? b : a;
}

/* The MSG a responder gets for a request. */
static void put_request(uint8_t *hdr, uint64_t sid, uint64_t token, uint32_t ms_left, uint16_t topic_len, uint32_t hdr_len,
                        uint32_t body_len)
{
    wire_put_fixed(hdr, WIRE_MSG, WIRE_F_REQUEST, WIRE_FIXED_LEN + body_len, topic_len, hdr_len, ms_left ? ms_left : 1, sid, token);
}

int request_deliver(struct session *resp, uint64_t sid, uint64_t token, uint32_t ms_left, uint16_t topic_len, uint32_t hdr_len,
                    const uint8_t *body, uint32_t body_len)
{
    struct core *c = resp->core;
    uint8_t hdr[WIRE_FIXED_LEN];
    int ret;

    if (resp->state != SESS_OPEN)
        return -EPIPE;
    put_request(hdr, sid, token, ms_left, topic_len, hdr_len, body_len);
    ret = session_write2(resp, hdr, sizeof(hdr), body, body_len);
    if (ret == 0) {
        resp->msgs_out++;
        STAT_ADD(c->st, msgs_out, 1);
        STAT_ADD(c->st, bytes_out, WIRE_FIXED_LEN + body_len);
    }
    return ret;
}

/*
 * A durable request with no responder now (docs/protocol.md 7.1): its entry waits as any other,
 * but takes its REP from whichever connection shows the secret, and the request goes to the stream
 * covering its topic with the token and the secret in a header, for a consumer group's member to
 * answer. Nobody else may claim the entry (SYSTEM_CORE): the REP always comes here.
 */
static void store(struct session *s, const struct wire_frame *f, uint32_t timeout_ms)
{
    struct core *c = s->core;
    const char *why = NULL;
    struct preq *p;
    uint64_t deadline_ns;
    int code;

    if (stream_table_match(c->stream.table, f->topic, f->topic_len) == NULL) {
        rep_error(s, f->id, TRPC_E_NO_STREAM);
        return;
    }
    p = entry_open(s, f->id, timeout_ms, f->topic, f->topic_len);
    if (p == NULL)
        return;
    p->resp_core = RESP_ANY;
    p->secret = (uint64_t)core_secure_random(c) << 32 | core_secure_random(c);
    atomic_store_explicit(&p->claim, claim_word(p, SYSTEM_CORE, PREQ_OPEN), memory_order_release);
    /* The stored deadline is the entry's, in wall-clock ms rounded down, so that a request whose
     * requester got TIMEOUT is past it (group.c drops it from that ms on). */
    deadline_ns = core_realtime_ns() - (uring_now_ns() - p->opened_ns) + (uint64_t)timeout_ms * 1000000;
    code = stream_request(s, f, token_of(c, p), p->secret, deadline_ns / 1000000, &why);
    if (code != 0)
        request_store_failed(c, token_of(c, p), code, why);
}

void request_store_failed(struct core *c, uint64_t token, int code, const char *why)
{
    struct preq *p = entry_of(c, token);

    if (p != NULL && p->resp_core == RESP_ANY && entry_take(p))
        finish(c, p, WIRE_F_ERROR, (uint32_t)code, 0, (const uint8_t *)why, why != NULL ? (uint32_t)strlen(why) : 0);
}

void request_req(struct session *s, const struct wire_frame *f)
{
    struct core *c = s->core;
    const struct config *cfg = &c->cfg;
    uint32_t timeout_ms = f->aux ? f->aux : cfg->request_timeout_ms;
    const uint8_t *body = frame_body(f);
    uint32_t body_len = f->length - WIRE_FIXED_LEN;
    struct rsub *r;
    struct preq *p;

    if (timeout_ms > cfg->max_request_timeout_ms)
        timeout_ms = cfg->max_request_timeout_ms;
    if (c->stopping) {
        /* Only a session waiting for claimed replies is still read (core_begin_stop): an entry
         * made now would miss the answers shutdown gives. */
        rep_error(s, f->id, TRPC_E_SHUTTING_DOWN);
        return;
    }
    request_reap(c); /* entries answered by other cores: free their slots, count their responders down */
    if (admin_reserved(f->topic, f->topic_len)) {
        admin_request(s, f, timeout_ms); /* the broker answers these itself */
        return;
    }
    r = pick_responder(c, route_match(c, f->topic, f->topic_len));
    if (r == NULL) {
        if (f->flags & WIRE_F_DURABLE)
            store(s, f, timeout_ms);
        else
            rep_error(s, f->id, TRPC_E_NO_RESPONDERS);
        return;
    }
    p = entry_open(s, f->id, timeout_ms, f->topic, f->topic_len);
    if (p == NULL)
        return;
    p->resp_core = r->owner;
    p->resp_slot = r->slot;
    p->resp_gen = r->gen;
    p->resp = r;
    r->outstanding++;
    blist_add_tail(&r->pending, &p->resp_node);
    atomic_store_explicit(&p->claim_conn, (uint64_t)r->slot << 32 | r->gen, memory_order_relaxed);
    atomic_store_explicit(&p->claim_deadline, p->deadline.at_ns, memory_order_relaxed);
    atomic_store_explicit(&p->claim, claim_word(p, r->owner, PREQ_OPEN), memory_order_release);
    if (r->owner == c->id) {
        /* A failed write cuts the responder; its close fails the request (RESPONDER_LOST). */
        request_deliver(r->sess, r->sid, token_of(c, p), timeout_ms, f->topic_len, f->hdr_len, body, body_len);
        return;
    }
    struct xreq *x = malloc(sizeof(*x) + body_len);
    struct uring_xmsg m = {.type = X_REQ};

    if (x == NULL) {
        finish(c, p, WIRE_F_ERROR, TRPC_E_INTERNAL, 0, NULL, 0);
        return;
    }
    x->target = (struct xtarget){.slot = r->slot, .gen = r->gen, .sid = r->sid};
    x->token = token_of(c, p);
    x->ms_left = timeout_ms;
    x->topic_len = f->topic_len;
    x->hdr_len = f->hdr_len;
    x->body_len = body_len;
    memcpy(x->body, body, body_len);
    m.ptr = x;
    /* Droppable as a reply is: each X_REQ holds a copy of its frame, and the pending table alone
     * would let max-pending-requests of them wait for a busy core. Refused, the requester hears
     * so at once rather than at its deadline. */
    if (direct_stage(c, r->owner, &m, (uint32_t)(sizeof(*x) + body_len)) != 0) {
        free(x);
        finish(c, p, WIRE_F_ERROR, TRPC_E_UNAVAILABLE, 0, (const uint8_t *)xreq_refused, sizeof(xreq_refused) - 1);
    }
}

uint64_t request_open_system(struct session *s, uint64_t corr_id, uint32_t timeout_ms)
{
    struct core *c = s->core;
    struct preq *p = entry_open(s, corr_id, timeout_ms, NULL, 0);

    if (p == NULL)
        return 0;
    p->resp_core = RESP_SYSTEM; /* no responder connection: REPs from clients never match */
    /* OPEN, so that every end of it goes through entry_take as usual, for a core no core has:
     * no other core can claim it. */
    atomic_store_explicit(&p->claim, claim_word(p, SYSTEM_CORE, PREQ_OPEN), memory_order_release);
    return token_of(c, p);
}

bool request_answer_system(struct core *c, uint64_t token, uint8_t flags, uint32_t aux, const uint8_t *body, uint32_t len)
{
    struct preq *p = entry_of(c, token);

    if (p == NULL || p->resp_core != RESP_SYSTEM || !entry_take(p))
        return false; /* timed out, or its requester went */
    finish(c, p, flags, aux, 0, body, len);
    return true;
}

/* The REP for token, with id secret, came from connection (core, slot, gen). False: the token
 * fails a check. A stored durable request takes it from any connection that shows its secret. */
static bool complete(struct core *c, uint64_t token, uint64_t secret, uint32_t core, uint32_t slot, uint32_t gen, uint8_t flags,
                     uint32_t aux, uint32_t hdr_len, const uint8_t *body, uint32_t body_len)
{
    struct preq *p = entry_of(c, token);

    if (p == NULL)
        return false;
    if (p->resp_core == RESP_ANY ? p->secret != secret : p->resp_core != core || p->resp_slot != slot || p->resp_gen != gen)
        return false;
    uint64_t now;

    if (!entry_take(p))
        return false; /* its responder's core claimed it: this is a second REP */
    now = uring_now_ns();
    if (now > p->deadline.at_ns) {
        STAT_ADD(c->st, request_timeouts, 1);
        finish(c, p, WIRE_F_ERROR, TRPC_E_TIMEOUT, 0, NULL, 0);
        return false;
    }
    latency_add(c, p, now);
    finish(c, p, flags, aux, hdr_len, body, body_len);
    return true;
}

void request_rep(struct session *s, const struct wire_frame *f)
{
    struct core *c = s->core;
    uint64_t core = f->seq >> TOKEN_CORE_SHIFT;
    const uint8_t *body = frame_body(f);
    uint32_t body_len = f->length - WIRE_FIXED_LEN;

    if (core >= c->b->ncores) {
        session_send_err(s, 0, TRPC_E_BAD_REPLY_TOKEN, false, NULL);
        return;
    }
    if (core == c->id) {
        if (!complete(c, f->seq, f->id, c->id, s->slot, s->gen, f->flags, f->aux, f->hdr_len, body, body_len))
            session_send_err(s, 0, TRPC_E_BAD_REPLY_TOKEN, false, NULL);
        return;
    }
    struct xrep *x = malloc(sizeof(*x) + body_len);
    struct uring_xmsg m = {.type = X_REP};

    if (x == NULL) {
        session_send_err(s, 0, TRPC_E_INTERNAL, false, NULL);
        return;
    }
    x->token = f->seq;
    x->secret = f->id;
    x->slot = s->slot;
    x->gen = s->gen;
    x->how = XREP_PLAIN;
    x->flags = f->flags;
    x->aux = f->aux;
    x->hdr_len = f->hdr_len;
    x->body_len = body_len;
    if (body_len > 0)
        memcpy(x->body, body, body_len);
    m.ptr = x;
    /* Droppable: a responder cannot make the broker hold unbounded replies; a dropped one
     * leaves its request to time out. */
    if (direct_stage(c, (unsigned)core, &m, (uint32_t)(sizeof(*x) + body_len)) != 0) {
        free(x);
        session_send_err(s, 0, TRPC_E_UNAVAILABLE, false, "reply dropped: cross-core queue full");
    }
}

/* X_REQ */
static void xreq_in(struct core *c, unsigned src, const struct uring_xmsg *msg)
{
    struct xreq *x = msg->ptr;
    struct session *s = core_session(c, x->target.slot, x->target.gen);
    unsigned owner = (unsigned)(x->token >> TOKEN_CORE_SHIFT);
    struct uring_xmsg m = {.type = X_REP_FAIL, .u64 = x->token};

    (void)src;
    if (!c->stopping && s != NULL && s->state == SESS_OPEN && idmap_get(&s->subs, x->target.sid) != NULL) {
        request_deliver(s, x->target.sid, x->token, x->ms_left, x->topic_len, x->hdr_len, x->body, x->body_len);
    } else {
        /* The responder went while the request travelled: its GONE may already have passed the
         * entry's core, so say so explicitly. */
        if (core_push(c, owner, &m, 0) != 0)
            log_error(c->id, "out of memory failing a request");
    }
    free(x);
}

/* X_REP */
static void xrep_in(struct core *c, unsigned src, const struct uring_xmsg *msg)
{
    struct xrep *x = msg->ptr;
    struct xerr *e;
    struct uring_xmsg m = {.type = X_ERR};

    if (x->how == XREP_CLAIMED) {
        /* Claimed by src (rep_direct), which could not write the reply: the entry waited for it. */
        struct preq *p = entry_of(c, x->token);

        assert(p != NULL);
        assert((atomic_load_explicit(&p->claim, memory_order_relaxed) & 0xff) == PREQ_CLAIMED);
        STAT_ADD(c->st, direct_handbacks, 1);
        log_debug(c->id, "reply to request %llu handed back by core %u", (unsigned long long)p->corr_id, src);
        latency_add(c, p, uring_now_ns());
        finish(c, p, x->flags, x->aux, x->hdr_len, x->body, x->body_len);
        goto out;
    }
    if (complete(c, x->token, x->secret, src, x->slot, x->gen, x->flags, x->aux, x->hdr_len, x->body, x->body_len))
        goto out;
    e = malloc(sizeof(*e));
    if (e == NULL)
        goto out;
    *e = (struct xerr){.slot = x->slot, .gen = x->gen, .code = TRPC_E_BAD_REPLY_TOKEN};
    m.ptr = e;
    if (core_push(c, src, &m, (uint32_t)sizeof(*e)) != 0)
        free(e);
out:
    free(x);
}

/* X_REP_FAIL */
static void xrep_fail_in(struct core *c, unsigned src, const struct uring_xmsg *msg)
{
    struct preq *p = entry_of(c, msg->u64);

    (void)src;
    if (p != NULL && entry_take(p))
        finish(c, p, WIRE_F_ERROR, (uint32_t)lost_code(c), 0, NULL, 0);
}

static void request_requester_gone(struct session *s)
{
    struct core *c = s->core;

    if (s->stop_wait) {
        /* Gone before its claimed replies were settled (the peer closed, or the grace ran out). */
        s->stop_wait = false;
        c->req.stop_waits--;
    }
    while (!blist_empty(&s->requests)) {
        struct preq *p = blist_entry(s->requests.next, struct preq, req_node);

        if (entry_take(p)) {
            release(c, p);
        } else {
            /* Claimed: its X_REP releases it; the reply finds the connection gone. */
            blist_del(&p->req_node);
            p->requester = NULL;
            s->nrequests--;
        }
    }
    assert(s->nrequests == 0);
}

/*
 * While sessions wait for claimed replies: a claimant that wrote the reply only pushes the entry
 * on our reap stack, which wakes nobody, so look every millisecond. A reply handed back arrives
 * as X_REP on its own. Past the close grace (a claimant stopped with the handback still in its
 * backlog), the ERR goes without it.
 */
static void stop_timer_done(struct uring_timer *t, int res)
{
    struct core *c = t->data;

    c->req.stop_timer_armed = false;
    if (res == -ECANCELED || c->timers_idle)
        return;
    request_reap(c);
    if (c->req.stop_waits > 0 && uring_now_ns() > c->req.stop_began_ns + BROKER_CLOSE_GRACE_NS) {
        struct blist *n, *next;

        for (n = c->lru.next; n != &c->lru; n = next) {
            struct session *s = blist_entry(n, struct session, node);

            next = n->next;
            if (!s->stop_wait)
                continue;
            log_warn(c->id, "client_id=%llu: claimed replies not settled at shutdown", (unsigned long long)s->client_id);
            s->stop_wait = false;
            c->req.stop_waits--;
            core_stop_release(s);
        }
    }
    if (c->req.stop_waits > 0 && uring_timer_start(&c->loop, &c->req.stop_timer, STOP_POLL_NS, stop_timer_done) == 0)
        c->req.stop_timer_armed = true;
}

/* Shutdown: answers each request s waits for with REP ERROR SHUTTING_DOWN. True when some are
 * left, claimed by a responder's core: their one REP is the reply that core writes or hands back,
 * and s's ERR waits for them. */
static bool request_requester_stop(struct session *s)
{
    struct core *c = s->core;
    struct blist *n, *next;
    unsigned claimed = 0;

    assert(c->stopping);
    assert(!s->stop_wait);
    if (c->req.stop_began_ns == 0)
        c->req.stop_began_ns = uring_now_ns();
    for (n = s->requests.next; n != &s->requests; n = next) {
        struct preq *p = blist_entry(n, struct preq, req_node);

        next = n->next;
        if (entry_take(p))
            finish(c, p, WIRE_F_ERROR, TRPC_E_SHUTTING_DOWN, 0, NULL, 0);
        else
            claimed++; /* its responder's core writes the reply, or hands it back to finish() */
    }
    if (claimed == 0 || s->state != SESS_OPEN)
        return false;
    s->stop_wait = true;
    c->req.stop_waits++;
    if (!c->req.stop_timer_armed && uring_timer_start(&c->loop, &c->req.stop_timer, STOP_POLL_NS, stop_timer_done) == 0)
        c->req.stop_timer_armed = true;
    return true;
}

static void request_responder_gone(struct core *c, struct rsub *r, bool conn_gone)
{
    while (!blist_empty(&r->pending)) {
        struct preq *p = blist_entry(r->pending.next, struct preq, resp_node);

        if (conn_gone && entry_take(p)) {
            finish(c, p, WIRE_F_ERROR, (uint32_t)lost_code(c), 0, NULL, 0);
        } else {
            /* Claimed (its reply is on its way), or unsubscribed and still connected: it may
             * still answer, and if it closes first request_conn_gone finds the entry. */
            blist_del(&p->resp_node);
            if (!conn_gone)
                blist_add_tail(&c->req.orphans, &p->resp_node);
            p->resp = NULL;
        }
    }
}

/* A responder connection closed: the requests it got on a subscription it has since dropped fail
 * as if it had closed with the subscription (docs/protocol.md 7, step 4). The list holds only
 * such entries, so a close costs nothing while there are none. */
static void request_conn_gone(struct core *c, unsigned core, uint32_t slot, uint32_t gen)
{
    struct blist *n, *next;

    for (n = c->req.orphans.next; n != &c->req.orphans; n = next) {
        struct preq *p = blist_entry(n, struct preq, resp_node);

        next = n->next;
        assert(p->used);
        assert(p->resp == NULL);
        if (p->resp_core != core || p->resp_slot != slot || p->resp_gen != gen)
            continue;
        if (entry_take(p)) {
            finish(c, p, WIRE_F_ERROR, (uint32_t)lost_code(c), 0, NULL, 0);
        } else {
            blist_del(&p->resp_node); /* claimed: its reply is on its way, its X_REP releases it */
        }
    }
}

/* ---- direct sends ------------------------------------------------------------------------------ */

/* The request straight to the responder's connection. An unsubscribe on its way to us is not seen
 * here (the responder's core would have answered X_REP_FAIL): the responder gets a request for a
 * subscription it no longer has, which libtrpc answers with NO_RESPONDERS (another client may
 * drop it and leave the request to its deadline). */
static bool xreq_direct(struct core *c, unsigned dst, const struct xreq *x)
{
    uint8_t hdr[WIRE_FIXED_LEN];
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)x->body, x->body_len}};

    if (!direct_ok(c, dst, WIRE_FIXED_LEN + x->body_len))
        return false;
    put_request(hdr, x->target.sid, x->token, x->ms_left, x->topic_len, x->hdr_len, x->body_len);
    if (direct_send(c, dst, x->target.slot, x->target.gen, iov, x->body_len > 0 ? 2 : 1) != 0)
        return false;
    STAT_ADD(c->st, msgs_out, 1);
    STAT_ADD(c->st, bytes_out, WIRE_FIXED_LEN + x->body_len);
    route_direct_owe(c, dst, x->target.slot, x->target.gen, x->target.sid, 1, WIRE_FIXED_LEN + x->body_len);
    return true;
}

/*
 * The reply written by the responder's core (see the top of this file). The checks before the
 * claim read the entry's published words only; its other fields are read once the claim is ours,
 * and stay put until we hand the entry back. True when the reply is taken care of (written, or
 * handed back claimed); false: nothing was claimed, push x as it is.
 */
static bool xrep_direct(struct core *c, unsigned dst, struct xrep *x)
{
    struct core *rc = c->b->cores[dst];
    uint32_t slot = (uint32_t)(x->token >> TOKEN_SLOT_SHIFT) & TOKEN_SLOT_MASK;
    uint64_t want = (uint64_t)(uint32_t)x->token << 32 | (uint64_t)c->id << 8 | PREQ_OPEN;
    uint8_t hdr[WIRE_FIXED_LEN];
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {x->body, x->body_len}};
    struct uring_xmsg m = {.type = X_REP, .ptr = x};
    uint64_t now;
    struct preq *p;

    /* Two backlog entries: a claimed entry must be handed back (and a short send announced). */
    if (slot == 0 || slot >= rc->req.preq_cap || !direct_ok(c, dst, WIRE_FIXED_LEN + x->body_len) || core_reserve(c, 2) != 0)
        return false;
    p = &rc->req.preq[slot];
    now = uring_now_ns();
    if (atomic_load_explicit(&p->claim, memory_order_acquire) != want ||
        atomic_load_explicit(&p->claim_conn, memory_order_relaxed) != ((uint64_t)x->slot << 32 | x->gen) ||
        now > atomic_load_explicit(&p->claim_deadline, memory_order_relaxed) ||
        !atomic_compare_exchange_strong_explicit(&p->claim, &want, (want & ~(uint64_t)0xff) | PREQ_CLAIMED, memory_order_acquire,
                                                 memory_order_relaxed))
        return false;
    put_reply(hdr, p, x->flags, x->aux, x->hdr_len, x->body_len);
    /* A reply is not a MSG: msgs_out does not count it, whichever way it goes. */
    if (direct_send(c, dst, p->req_slot, p->req_gen, iov, x->body_len > 0 ? 2 : 1) == 0) {
        route_direct_owe(c, dst, p->req_slot, p->req_gen, 0, 0, WIRE_FIXED_LEN + x->body_len);
        latency_add(c, p, now); /* in this core's histograms: the entry's core may write its own */
        reap_push(rc, p);       /* the last touch of the entry */
        free(x);
        return true;
    }
    /* Claimed, not written (the requester's connection had output queued): the entry waits for
     * this message, which therefore must arrive (cost 0). */
    x->how = XREP_CLAIMED;
    if (core_push(c, dst, &m, 0) != 0)
        assert(!"cost 0 with a backlog entry reserved");
    return true;
}

/* A staged X_REQ or X_REP leaves (direct.h): written directly if `direct` allows, else pushed. */
static void unstage(struct core *c, unsigned dst, struct uring_xmsg *m, uint32_t cost, bool direct)
{
    if (direct && m->type == X_REQ && xreq_direct(c, dst, m->ptr)) {
        free(m->ptr);
        return;
    }
    if (direct && m->type == X_REP && xrep_direct(c, dst, m->ptr))
        return;
    if (core_push(c, dst, m, cost) == 0)
        return;
    /* What request_req and request_rep do when their push fails, done late. */
    if (m->type == X_REQ) {
        struct preq *p = entry_of(c, ((struct xreq *)m->ptr)->token);

        if (p != NULL && entry_take(p))
            finish(c, p, WIRE_F_ERROR, TRPC_E_UNAVAILABLE, 0, (const uint8_t *)xreq_refused, sizeof(xreq_refused) - 1);
    } else {
        const struct xrep *x = m->ptr;
        struct session *s = core_session(c, x->slot, x->gen);

        if (s != NULL)
            session_send_err(s, 0, TRPC_E_UNAVAILABLE, false, "reply dropped: cross-core queue full");
    }
    free(m->ptr);
}

static const struct core_xtype request_xtypes[] = {
    {.type = X_REQ, .on_msg = xreq_in, .unstage = unstage},
    {.type = X_REP, .on_msg = xrep_in, .unstage = unstage},
    {.type = X_REP_FAIL, .on_msg = xrep_fail_in},
};

const struct core_module request_module = {
    .name = "request",
    .xtypes = request_xtypes,
    .nxtypes = sizeof(request_xtypes) / sizeof(request_xtypes[0]),
    .init = request_init,
    .session_gone = request_requester_gone,
    .session_stop = request_requester_stop,
    .sub_gone = request_responder_gone,
    .conn_gone = request_conn_gone,
    .sweep = request_reap,
    .stop = request_stop,
    .fini = request_fini,
};
