/*
 * uring: the per-core io_uring event loop. One struct uring_loop per core thread; it knows
 * nothing of topics or frames. docs/uring.md is the full contract (loop phases, buffer rules,
 * ownership and release points); the rules that every caller must know are repeated here.
 *
 * - Every function here runs on the loop's own thread (the thread that called uring_loop_init),
 *   except uring_probe(), uring_tier_name(), uring_now_ns(), uring_xchan_init()/destroy(),
 *   uring_gate_send() (any thread but the connection's owner: it is how other threads write), and
 *   the mailbox calls (uring/mbox.c), which say who may call them: uring_mbox_post() from any
 *   thread, uring_mbox_drain() from the one thread that consumes a mailbox not attached to a loop.
 * - Return values: 0 or a negative errno.
 * - "When a function which takes a callback returns an error, the callback will never be called."
 * - Memory an SQE points to outlives its CQE: an op, timer, connection or listener may be freed
 *   only in (or after) its release callback, never while it is armed.
 * - A received buffer belongs to the callee of on_recv until it calls uring_buf_put(); only the
 *   owning loop's thread may put it back.
 */
#ifndef TRPC_URING_H
#define TRPC_URING_H

#include <assert.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* ---- feature tiers (setup/probe: uring/probe.c) ---------------------------------------------- */

enum uring_tier {
    URING_TIER_NONE = -1, /* below T0: the broker refuses to start */
    URING_TIER_0 = 0,     /* 5.19: provided buffer rings, recv with buffer select, MSG_RING */
    URING_TIER_1 = 1,     /* 6.0/6.1: multishot recv, SEND_ZC, SINGLE_ISSUER|DEFER_TASKRUN */
    URING_TIER_2 = 2,     /* 6.10+: recv/send bundles, incremental buffer consumption */
};

struct uring_features {
    int tier; /* enum uring_tier */
    bool buf_ring;
    bool recv_bufsel;
    bool msg_ring;
    bool multishot_recv;
    bool send_zc;
    bool send_zc_report; /* IORING_SEND_ZC_REPORT_USAGE (6.2) */
    bool defer_taskrun;
    bool coop_taskrun;
    bool cqe_skip;
    bool submit_all;
    bool reg_reg_ring;
    bool recvsend_bundle;
    bool buf_ring_inc;
    /* Below T0: one line naming what is missing. Otherwise: what keeps the next tier away, or "". */
    char missing[192];
};

/* Probes the running kernel (opcode table, trial setups, one multishot recv on a socketpair).
 * Fills *out and returns its tier (>= URING_TIER_0), or -ENOSYS when T0 is not met (out->missing
 * says why). Safe on any thread; costs a few ring setups. */
int uring_probe(struct uring_features *out);
const char *uring_tier_name(int tier);

/* CLOCK_MONOTONIC in nanoseconds: the clock of uring_timer_start_at(). */
uint64_t uring_now_ns(void);

/* ---- the loop (uring/loop.c) ------------------------------------------------------------------ */

struct uring_loop;
struct uring_op;

/* Completion callback: res and cqe_flags are the CQE's. Called once per CQE; for a multishot op,
 * the op stays armed while cqe_flags has IORING_CQE_F_MORE. */
typedef void uring_op_cb(struct uring_loop *loop, struct uring_op *op, int res, unsigned cqe_flags);

/* What an SQE's user_data points at. Embed it; keep it (and what the SQE points to) alive until
 * its last CQE. Aligned so the loop can tag the pointer's low bits. */
struct uring_op {
    _Alignas(8) uring_op_cb *cb;
};

struct uring_list {
    struct uring_list *next, *prev;
};

/*
 * Other owners of CQEs on the loop's ring (the WAL; next a TLS layer, the bridge to non-core threads):
 * a subsystem that places its own SQEs on loop->ring without a struct uring_op per request registers a
 * source and gives each SQE user_data = uring_source_user_data(src, payload): tag URING_TAG_SOURCE in
 * the low three bits, the source's id in bits 3..15, its own payload (up to 48 bits) in bits 16..63
 * (docs/uring.md section 3 has the table). dispatch() hands such a CQE to src->on_cqe and to nobody
 * else. The loop does not count these SQEs in flight: the source says whether it still has requests on
 * the ring through is_busy, which uring_loop_destroy waits on.
 */
struct uring_source;
/* payload: the bits 16..63 the SQE's user_data carried; res and cqe_flags are the CQE's. */
typedef void uring_source_cqe_cb(struct uring_source *src, uint64_t payload, int res, unsigned cqe_flags);

#define URING_TAG_SOURCE           3U  /* user_data's low three bits for a source's SQE */
#define URING_SOURCE_ID_SHIFT      3U  /* the source id: bits 3..15 */
#define URING_SOURCE_PAYLOAD_SHIFT 16U /* the source's payload: bits 16..63 */
#define URING_SOURCE_PAYLOAD_BITS  48U
#define URING_SOURCES_MAX          8U /* sources registered on one loop at a time */

struct uring_source {
    uring_source_cqe_cb *on_cqe; /* required */
    /* Optional: called in each iteration's flush phase, after loop->on_flush, before doorbells and
     * sends go out and before the submit: where a source places what is due (the WAL's wal_flush). */
    void (*on_flush)(struct uring_source *src);
    /* Optional: true while the source has requests on the ring (their CQEs still to come); NULL: never.
     * uring_loop_destroy dispatches until it is false. */
    bool (*is_busy)(const struct uring_source *src);
    void *data; /* the owner's */
    /* private: set by uring_loop_register_source */
    struct uring_loop *_loop;
    unsigned _id; /* 1..URING_SOURCES_MAX while registered, 0 otherwise */
};

#define URING_LOOP_SINGLESHOT_RECV (1U << 0) /* use the T0 recv path even where multishot works */
#define URING_LOOP_NO_DEFER        (1U << 1) /* skip SINGLE_ISSUER|DEFER_TASKRUN (tests the fallback) */
#define URING_LOOP_ZC_LOOPBACK     (1U << 2) /* allow SEND_ZC to loopback peers (tests only: it copies there) */

/* Zero fields take the defaults. */
struct uring_chunk; /* private to send.c */
struct uring_sendv;

struct uring_loop_opts {
    unsigned sq_entries;                   /* 256 */
    unsigned cq_entries;                   /* 16 * sq_entries; must cover multishot bursts + inbound doorbell credits */
    unsigned buf_count;                    /* provided buffers, power of two <= 32768; 1024 */
    unsigned buf_size;                     /* bytes per buffer; 16384 */
    unsigned flags;                        /* URING_LOOP_* */
    size_t zc_threshold;                   /* uring_conn_write_ref() payloads of at least this size use SEND_ZC; 0: never */
    size_t out_cache_bytes;                /* drained output chunks kept for reuse; 16 MiB, 1 MiB once idle (send.c) */
    const struct uring_features *features; /* a uring_probe() result to use; NULL: probe once per process */
};

/* Counters this loop writes (URING_STAT_ADD: relaxed atomic stores) and other threads may read
 * with relaxed atomic loads. */
struct uring_loop_stats {
    _Alignas(64) uint64_t iterations;
    uint64_t cqes;
    uint64_t enobufs;     /* recv stopped because the buffer ring was empty */
    uint64_t recv_bufs;   /* buffers the kernel filled and handed out (CQEs with IORING_CQE_F_BUFFER) */
    uint64_t recv_rearms; /* recv armed again after a CQE without F_MORE */
    uint64_t accepts;
    uint64_t accept_errors; /* EMFILE and the like; accept is armed again after a pause */
    uint64_t sends;
    uint64_t send_bytes;
    uint64_t short_sends; /* sends that took less than was offered; the rest went in the next */
    uint64_t zc_sends;
    uint64_t zc_notifs;
    uint64_t zc_copied; /* notifications saying the kernel copied after all (loopback, no NIC support) */
    uint64_t bells_sent;
    uint64_t bells_received;
    uint64_t out_chunk_allocs; /* output chunks malloc'd because the loop's cache was empty */
    uint64_t gate_waits;       /* writes that found a foreign sender in the connection's gate and waited */
    uint64_t gate_rests;       /* rests of short foreign sends this loop sent on */
    uint64_t gate_defers;      /* writes whose foreign sender outlasted the owner's short wait: queued, sent later */
};

struct uring_loop {
    struct io_uring ring;
    unsigned setup_flags; /* IORING_SETUP_* the ring got after fallbacks */
    bool multishot_recv;  /* recv path in use: multishot (T1) or single-shot (T0) */
    bool cqe_skip;
    bool send_zc;   /* SEND_ZC in use for large referenced payloads (T1, zc_threshold > 0) */
    bool zc_report; /* IORING_SEND_ZC_REPORT_USAGE accepted (6.2+) */
    size_t zc_threshold;
    unsigned flags; /* URING_LOOP_* */
    struct uring_loop_stats stats;
    /* Called at the start of each iteration (and once after the loop stops), before doorbells and
     * sends go out: the last chance to add to them. NULL: none. */
    void (*on_flush)(struct uring_loop *loop);
    /* private */
    bool _stop;
    bool _closing;
    unsigned _inflight;           /* SQEs whose last CQE has not been seen */
    uint64_t _armed;              /* SQEs ever armed; tells uring_loop_destroy that more need cancelling */
    struct uring_list _flush;     /* conns with output to send before the next submit */
    struct uring_list _nobuf;     /* conns whose recv waits for buffers (after ENOBUFS) */
    struct uring_list _bells;     /* xchans with messages pushed since their last doorbell */
    struct uring_list _gate_wait; /* conns whose gate a foreign sender still holds (gate.c) */
    struct io_uring_buf_ring *_br;
    unsigned char *_bufs;
    size_t _bufs_len;
    unsigned _buf_count;
    unsigned _buf_size;
    unsigned _bufs_out;          /* handed to consumers, not yet put back */
    bool _bufs_refill;           /* after a release: the ring does not hold the free buffers yet */
    uint64_t *_bufs_touched;     /* while _bufs_refill: bit per buffer handed out since the release */
    unsigned _cq_dispatched;     /* CQEs of the current walk dispatched so far (loop.c) */
    struct uring_chunk *_chunks; /* drained output chunks kept for reuse (send.c) */
    unsigned _chunks_cached;
    unsigned _chunks_cache_max;
    unsigned _chunks_held;                            /* chunks connections hold (queued output) */
    uint64_t _chunks_trim_ns;                         /* when the cache shrinks if no output appears until then; 0: not due */
    struct uring_source *_sources[URING_SOURCES_MAX]; /* slot id - 1 (loop.c) */
    uint64_t _slept_at;                               /* the last iteration whose wait blocked (uring_loop_slept_within) */
    uint64_t _closes;                                 /* on_close calls so far (loop.c's flush phase) */
    /* Set while the thread waits in io_uring_enter: other threads read it (uring_loop_asleep). */
    _Alignas(64) _Atomic bool _asleep;
};

/* Creates the ring (SINGLE_ISSUER|DEFER_TASKRUN, else COOP_TASKRUN, else plain) and registers the
 * buffer ring, in the calling thread, which becomes the loop's thread. -ENOSYS below T0 (call
 * uring_probe() for the line that says why), -EINVAL for a bad option. */
int uring_loop_init(struct uring_loop *loop, const struct uring_loop_opts *opts);

/* Runs until uring_loop_stop(), then submits what the last callbacks queued (sends, doorbells).
 * Returns 0 or a negative errno from io_uring_enter. */
int uring_loop_run(struct uring_loop *loop);

/* One iteration: start queued sends, ring doorbells, submit, wait for at least one CQE if `wait`,
 * dispatch every CQE ready. Returns the number of CQEs dispatched or a negative errno. */
int uring_loop_run_once(struct uring_loop *loop, bool wait);

/* Any thread: whether the loop's thread is (about to be) blocked waiting for completions, so that
 * handing it work costs a wake-up. A hint, stale by the time it is read. */
bool uring_loop_asleep(const struct uring_loop *loop);

#define URING_SLEEP_NS 5000 /* a wait this long blocked: a wait that finds work returns in about 1 us */

/* The loop's thread: whether one of its last n iterations waited for completions (a wait of
 * URING_SLEEP_NS or more), that is, whether the loop had time to spare lately. */
bool uring_loop_slept_within(const struct uring_loop *loop, uint64_t n);

/* Makes uring_loop_run() return after the current iteration. */
void uring_loop_stop(struct uring_loop *loop);

/* Cancels every op in flight and dispatches their completions (each op's callback runs, with
 * -ECANCELED where the op was cancelled: connections and listeners close and report), and those of
 * registered sources until none says it is busy (the cancel reaches their requests too), then frees
 * the buffer ring and the ring. Buffers still held by consumers become invalid: put them back in
 * on_close. No xchan may still push to this loop. */
void uring_loop_destroy(struct uring_loop *loop);

/* An SQE whose user_data points at `op` (NULL: a CQE nobody waits for), counted in flight.
 * Prepare it with io_uring_prep_*() (which leave user_data alone); never set
 * IOSQE_CQE_SKIP_SUCCESS or IOSQE_IO_DRAIN on it. NULL when the SQ stays full even after a submit. */
struct io_uring_sqe *uring_loop_sqe(struct uring_loop *loop, struct uring_op *op);

/* Registers src (on_cqe set, not registered elsewhere) and gives it its id: from here its CQEs
 * reach src->on_cqe. Returns 0, -EINVAL (no on_cqe, or already registered), -ENOSPC when
 * URING_SOURCES_MAX sources are registered, -ECANCELED while the loop is being destroyed. Loop
 * thread only. */
int uring_loop_register_source(struct uring_loop *loop, struct uring_source *src);
/* Forgets src. Only once it has no request on the ring (is_busy false): a CQE for an id nobody holds
 * is a bug the loop asserts on. Loop thread only; a source that is not registered is left alone. */
void uring_loop_unregister_source(struct uring_loop *loop, struct uring_source *src);

/* Buffers in consumers' hands (uring_buf_put not yet called). */
unsigned uring_loop_bufs_out(const struct uring_loop *loop);
/* Bytes of drained output chunks the loop keeps for reuse (at most out_cache_bytes). */
size_t uring_loop_out_cached(const struct uring_loop *loop);
unsigned uring_loop_inflight(const struct uring_loop *loop);

/* ---- provided buffers (uring/bufring.c) ------------------------------------------------------- */

void *uring_buf_data(const struct uring_loop *loop, unsigned bid);
/* Gives buffer `bid` back to the loop's ring (at once visible to the kernel). Loop thread only. */
void uring_buf_put(struct uring_loop *loop, unsigned bid);
/*
 * Gives the pages of the receive buffers back to the system (a load leaves up to buf_count x
 * buf_size resident): unregisters the buffer ring, madvise(MADV_DONTNEED)s the buffers and
 * registers a fresh ring with all of them. Armed recvs go on: one that runs in the gap completes
 * with ENOBUFS and its connection is re-armed at the next flush, nothing lost. Loop thread only,
 * from a callback or between iterations. Returns 0; -EBUSY, changing nothing, while a buffer is in
 * a consumer's hands or a CQE not yet dispatched names one (or if one came in during the swap:
 * then the new ring is filled after the CQ drained, and nothing was given back); or the negative
 * errno of unregistering (nothing changed) or of registering the new ring: then the loop has no
 * buffers, every recv stops with ENOBUFS and waits, until a later call registers one.
 */
int uring_loop_bufs_release(struct uring_loop *loop);

/* ---- timers (uring/timer.c) ------------------------------------------------------------------- */

struct uring_timer;
/* res: 0 when the time came, -ECANCELED after uring_timer_cancel() or loop destruction. The
 * callback is the timer's release point; it may start the timer again. */
typedef void uring_timer_cb(struct uring_timer *t, int res);

struct uring_timer {
    struct uring_op _op;
    struct __kernel_timespec _ts;
    struct uring_loop *loop;
    uring_timer_cb *cb;
    void *data;
    bool _armed;
    bool _cancelled; /* uring_timer_cancel() took: the callback gets -ECANCELED */
};

/* after_ns counts from the timer's submission (the loop's next submit, normally within the same
 * iteration); use uring_timer_start_at() where the base matters. */
int uring_timer_start(struct uring_loop *loop, struct uring_timer *t, uint64_t after_ns, uring_timer_cb *cb);
/* deadline_ns on uring_now_ns()'s clock. */
int uring_timer_start_at(struct uring_loop *loop, struct uring_timer *t, uint64_t deadline_ns, uring_timer_cb *cb);
/* -ENOENT if not armed, -EBUSY without an SQE (still armed). Otherwise the callback still runs
 * once, with -ECANCELED, even where the time came before the cancel could reach the kernel. */
int uring_timer_cancel(struct uring_timer *t);
bool uring_timer_is_armed(const struct uring_timer *t);

/* ---- deadlines: one timer set per owner (uring/tset.c) --------------------------------------- */

/*
 * Many deadlines behind one uring_timer. A struct uring_deadline is embedded in the owner's object
 * (find the object again with offsetof); the set keeps them in a binary min-heap of at most `cap`
 * entries, an array allocated once by uring_tset_init and never grown, so adding and cancelling
 * allocate nothing and cost O(log n). One IORING_OP_TIMEOUT is armed for the earliest deadline; a
 * later deadline leaves it alone, an earlier one (by more than slack_ns) cancels it so that it is
 * armed again at the new earliest. When it fires, every deadline due by then runs, in deadline
 * order, and the timer is armed for the next. docs/uring.md section 7.
 *
 * Loop thread only, like the rest of this file. A deadline's callback runs on the loop's thread,
 * never early, and never once uring_tset_stop() was called or uring_loop_destroy() began; it may
 * add and cancel deadlines of its set (its own included: it is no longer pending when called).
 */
struct uring_deadline;
struct uring_tset;
/* s: the set d was in (find the owner of both with offsetof). */
typedef void uring_deadline_cb(struct uring_tset *s, struct uring_deadline *d);

struct uring_deadline {
    uint64_t at_ns; /* read-only, on uring_now_ns()'s clock; kept after the deadline ran or was cancelled */
    uring_deadline_cb *cb;
    uint32_t _pos; /* heap index + 1; 0: not pending (all-zero is a valid idle deadline) */
};

struct uring_tset_entry {
    uint64_t at_ns; /* copied from the deadline: comparisons stay in the array */
    struct uring_deadline *d;
};

struct uring_tset {
    struct uring_loop *loop;
    uint64_t slack_ns; /* an earlier deadline re-arms the timer only if earlier by more than this */
    /* private */
    struct uring_tset_entry *_heap;
    uint32_t _n, _cap;
    struct uring_timer _timer;
    uint64_t _armed_at;
    bool _armed;      /* _timer is armed (its callback has not run) */
    bool _cancelling; /* and a cancel is on its way: the callback arms it again */
    bool _running;    /* due deadlines are being run: adds do not arm */
    bool _stopped;
};

/* Allocates room for cap deadlines (-ENOMEM, -EINVAL for cap 0). Needs no ring: may run before
 * uring_loop_init of `loop` (then call nothing else until it did). */
int uring_tset_init(struct uring_tset *s, struct uring_loop *loop, uint32_t cap, uint64_t slack_ns);
/* Frees the array. The timer must not be armed: call after uring_loop_destroy(), or after the
 * callback of the cancel uring_tset_stop() sent has run. Deadlines still pending become idle. An
 * all-zero set (never initialised) is fine. */
void uring_tset_destroy(struct uring_tset *s);
/* Runs cb(s, d) once at at_ns (uring_now_ns()'s clock), never before, and late by at most slack_ns
 * plus the loop's latency (a time already past runs within an iteration or two; from a deadline's
 * callback, a time no later than that deadline's runs in the same pass). d must not be pending.
 * -ENOSPC when cap deadlines are pending. A failure to arm the timer (SQ full even after a submit)
 * is not reported: the deadline stays pending and the timer is armed by the next add. */
int uring_tset_add(struct uring_tset *s, struct uring_deadline *d, uint64_t at_ns, uring_deadline_cb *cb);
/* Removes d if pending: true if it was (its callback will not run), false if it was not. The
 * timer is left armed; if d was the earliest it fires for nothing and is armed for the next. */
bool uring_tset_cancel(struct uring_tset *s, struct uring_deadline *d);
/* No callback runs from now on; cancels the armed timer. Pending deadlines stay pending (cancel
 * them or drop the set); adds still succeed and never arm. For shutdown. */
void uring_tset_stop(struct uring_tset *s);
static inline bool uring_deadline_is_pending(const struct uring_deadline *d)
{
    return d->_pos != 0;
}
static inline uint32_t uring_tset_count(const struct uring_tset *s)
{
    return s->_n;
}
/* The earliest pending deadline's at_ns; UINT64_MAX when none. */
static inline uint64_t uring_tset_first_ns(const struct uring_tset *s)
{
    return s->_n > 0 ? s->_heap[0].at_ns : UINT64_MAX;
}

/* ---- connections and the send path (uring/conn.c) --------------------------------------------- */

struct uring_conn;
struct uring_gate;

struct uring_conn_cbs {
    /* `len` bytes arrived in buffer `bid` at `data`. The callee owns the buffer until it calls
     * uring_buf_put(conn->loop, bid), which may be much later (frames are parsed in place). */
    void (*on_recv)(struct uring_conn *conn, void *data, size_t len, unsigned bid);
    /* Release point: the fd is closed and no op of this connection is in flight. err: 0 for a
     * close by uring_conn_close() or by the peer (EOF), else the negative errno that ended it. */
    void (*on_close)(struct uring_conn *conn, int err);
};

/* Called once the kernel no longer reads a payload given to uring_conn_write_ref(): after the
 * last SEND_ZC notification, or at close for a payload never sent. err: 0, or why it was not
 * (all) sent. This is the payload's release point. */
typedef void uring_release_cb(void *arg, int err);

#define URING_ZC_SLOTS   8 /* referenced payloads queued per connection at a time */
#define URING_WRITE_HELD 1 /* uring_conn_write_ref(): payload referenced, release follows */

/* One payload going out with SEND_ZC. Private. */
struct uring_zc {
    struct uring_op _op;
    struct uring_conn *_conn;
    const unsigned char *_data;
    size_t _len;
    size_t _off;      /* bytes the kernel took so far */
    uint64_t _at;     /* copied bytes before this payload in the stream (see send.c) */
    unsigned _notifs; /* notifications still to come */
    uring_release_cb *_release;
    void *_arg;
};

#define URING_CLOSE_FLUSH 0 /* send what is queued first (as long as the peer reads) */
#define URING_CLOSE_NOW   1 /* drop queued output, cancel what is in flight */

struct uring_conn {
    int fd;
    struct uring_loop *loop;
    void *data; /* the caller's */
    /* One recv at a time, armed again only after on_recv returned, even where multishot recv is
     * there: nothing is read off the socket past what the caller handled. Kernel TLS receive needs
     * that while its keys may go in (the kernel must see the records after them). Set before
     * uring_conn_start() (on a zeroed struct: false by default); a change takes effect when the
     * recv is next armed. */
    bool recv_oneshot;
    /* private */
    const struct uring_conn_cbs *_cbs;
    struct uring_op _recv_op;
    struct uring_op _send_op;
    struct uring_list _flush_node;
    struct uring_list _nobuf_node;
    struct uring_list _gate_node; /* on loop->_gate_wait */
    unsigned _state;
    int _err;
    struct uring_chunk *_head; /* queued copied bytes: a chain of chunks (send.c), NULL when none */
    struct uring_chunk *_tail; /* the chunk writes append to */
    size_t _head_off;          /* bytes of _head already sent */
    size_t _out_len;           /* copied bytes queued, in flight included */
    size_t _out_sending;       /* bytes offered to the send in flight */
    size_t _out_max;
    uint64_t _out_base;         /* copied bytes sent so far: _head[_head_off] is stream byte _out_base */
    struct uring_sendv *_sv;    /* msghdr and iovecs of a vectored send, allocated with the chunks */
    struct uring_op *_send_cur; /* the send in flight: _send_op or a uring_zc's op */
    struct uring_zc *_zc;       /* URING_ZC_SLOTS slots, allocated on first use */
    unsigned _zc_head;          /* oldest payload not yet released */
    unsigned _zc_send;          /* next payload to send (head <= send <= tail, free-running) */
    unsigned _zc_tail;
    size_t _zc_queued;        /* referenced bytes not yet sent */
    int _zc_ok;               /* peer eligible for SEND_ZC: 0 unknown, 1 yes, -1 no */
    struct uring_gate *_gate; /* NULL: no foreign sends (uring_conn_gate_open) */
    uint32_t _gate_gen;
    const struct uring_filter *_filter; /* NULL: writes go on the wire as they are */
    struct uring_chunk *_plain_head;    /* with a filter: written bytes not yet encoded */
    struct uring_chunk *_plain_tail;
    size_t _plain_len;
};

/* Takes ownership of connected socket `fd` and arms receive. out_max bounds the bytes queued for
 * sending (in flight included); 0 means 256 KiB. On error fd stays the caller's. */
int uring_conn_start(struct uring_conn *conn, struct uring_loop *loop, int fd, const struct uring_conn_cbs *cbs, size_t out_max);
/* Owner thread: a new bound for what is queued from now on (0: 256 KiB). Output already queued
 * above it stays; the next write is refused until it drains below. */
void uring_conn_set_out_max(struct uring_conn *conn, size_t out_max);

/* Queues all of data[0, len) for sending (batched with other writes of this iteration into one
 * send), or nothing: -ENOBUFS when it would pass out_max (the caller decides: a slow consumer is
 * cut), -EPIPE once closing, -ENOMEM. */
int uring_conn_write(struct uring_conn *conn, const void *data, size_t len);
/* The same for a[0, alen) then b[0, blen), both or neither: a frame's header and body with one
 * bound check, gate hold and chunk reservation instead of two of each. */
int uring_conn_write2(struct uring_conn *conn, const void *a, size_t alen, const void *b, size_t blen);
/* Sends data[0, len) in order with this connection's other writes. Where SEND_ZC applies (T1,
 * len >= zc_threshold, a peer that is not loopback or a Unix socket, a free slot) the payload is
 * referenced, not copied: returns URING_WRITE_HELD and release(arg, err) follows once the kernel
 * is done with it; keep it unchanged until then. Otherwise it is copied as by uring_conn_write()
 * and returns 0: the payload is the caller's again at once, release is never called. Errors as
 * uring_conn_write() (the bound counts referenced bytes too). */
int uring_conn_write_ref(struct uring_conn *conn, const void *data, size_t len, uring_release_cb *release, void *arg);
/* Stops reading from the socket: the armed recv is cancelled, so the peer meets TCP's flow
 * control once the socket buffer fills. on_recv may still be called for bytes that had already
 * arrived (a few buffers at most): the consumer keeps them until it resumes. No effect on a
 * closing connection or one already paused. */
void uring_conn_recv_pause(struct uring_conn *conn);
/* Reads again: re-arms the recv (or lets the one still armed carry on). 0, or the negative errno
 * of a re-arm that failed, after which the connection is closing. */
int uring_conn_recv_resume(struct uring_conn *conn);
bool uring_conn_recv_paused(const struct uring_conn *conn);
/* Bytes queued and not yet sent, copied and referenced. */
size_t uring_conn_out_queued(const struct uring_conn *conn);
/* how: URING_CLOSE_FLUSH or URING_CLOSE_NOW. on_close follows, never from inside this call. */
void uring_conn_close(struct uring_conn *conn, int how);

/* ---- output filters (uring/send.c) ------------------------------------------------------------- */

/*
 * A filter turns what the owner writes into what goes on the wire: TLS in user space. With one set,
 * uring_conn_write() and uring_conn_write_ref() (which then always copies) queue bytes for the
 * filter, which encodes them when the connection next sends: everything written while a send was
 * in flight, or in one iteration, is encoded in one batch (for TLS: records of up to 16 KiB, not
 * one per write). What the filter makes goes out through uring_conn_write_raw() or
 * uring_conn_raw_reserve()/commit(), as does anything it makes on its own (handshake messages).
 * Setting a filter that encodes closes the connection's gate: a foreign sendmsg would bypass it.
 *
 * A pass-through filter (no encode) leaves writes as they are, except that they never use
 * SEND_ZC: kernel TLS, where the kernel encrypts what the ring sends, and refuses MSG_ZEROCOPY.
 */
struct uring_filter {
    /* Encodes data[0, len) (at most one chunk: 16 KiB) and queues the result raw: 0, or a
     * negative errno, which fails the connection. Owner thread, from the loop's flush phase.
     * NULL: a pass-through filter. */
    int (*encode)(struct uring_conn *conn, const void *data, size_t len);
    /* Optional: the connection closes flushing, everything written was encoded; queue the last
     * bytes raw (a close_notify). Called once. */
    void (*closing)(struct uring_conn *conn);
    /* Optional: a flushing close sent everything and the socket is still open, with nothing in
     * flight on it: last words written synchronously on conn->fd (kernel TLS's close_notify, a
     * record the ring cannot make). Called at most once, never on a close now or a failure. */
    void (*drained)(struct uring_conn *conn);
    /* Optional: the receive failed with err (not ENOBUFS, a cancel or a retry), which fails the
     * connection unless this says otherwise: the error to fail it with, or 0 when the filter took
     * care of it (it may have closed the connection; if not, the receive is armed again). Kernel
     * TLS: a record that is not data fails a plain recv with EIO, and a close_notify is one. */
    int (*recv_failed)(struct uring_conn *conn, int err);
};

/* Owner thread: sets the filter (NULL: none) while nothing written waits for the one before to
 * encode it (before the first write, or from the filter's owner once it drained it). Setting a
 * pass-through filter, or none, after an encoding one lets the gate open again. */
void uring_conn_set_filter(struct uring_conn *conn, const struct uring_filter *f);
/* Owner thread: nothing of the connection's output is queued or in flight, and no foreign sender
 * can be inside its gate (an open gate the owner does not hold counts as busy: one may come in at
 * any moment): a synchronous write on conn->fd now would come in order. */
bool uring_conn_out_idle(const struct uring_conn *conn);
/* Queues data[0, len) for the wire, past the filter, after what is already encoded: 0, -EPIPE
 * once closed or closing now, -ENOMEM. Not bounded by out_max: the filter's output stands for
 * bytes the bound already counted, or for a handshake. */
int uring_conn_write_raw(struct uring_conn *conn, const void *data, size_t len);
/* The room at the end of the raw output (at least 1 byte, *room says how many), to fill and then
 * uring_conn_raw_commit(): saves a copy when the filter's output sits in a buffer of its own.
 * NULL: no memory, or closed. */
void *uring_conn_raw_reserve(struct uring_conn *conn, size_t *room);
void uring_conn_raw_commit(struct uring_conn *conn, size_t n);

/* ---- foreign sends (uring/gate.c) --------------------------------------------------------------- */

/*
 * A gate lets a thread other than a connection's owner (another core's loop) write one frame
 * straight to the connection's socket while the owner has nothing queued or in flight, so the
 * frame skips the hop to the owner's core and the wake-up of its thread (NATS's readers write to
 * their consumers' sockets the same way). The owner's send path holds the gate from its first
 * queued byte until its output has drained; a foreign sender holds it across one non-blocking
 * sendmsg(2) only. A short foreign send leaves the rest in the gate; the owner sends it before
 * anything else, when it next writes or when someone calls uring_conn_gate_poll() on its thread.
 * An owner that wants the gate while a foreign send is under way pauses for a few microseconds
 * (that one syscall); if the sender is still inside (preempted in it), the owner's output is
 * queued, no new foreign send gets in, and the loop takes the gate back on a later iteration
 * (polling with a short wait meanwhile) and sends the rest, if any, then that output, in order
 * (gate_waits, gate_defers). A connection closing in that state finishes only once the gate is
 * back: the fd stays open while a foreign sender may still use it.
 *
 * Gates are opt-in per connection: a connection has none until its owner calls
 * uring_conn_gate_open(). One whose bytes must pass through a user-space layer (TLS without kernel
 * offload: a foreign sendmsg would put plaintext on the wire) must never have one: the layer calls
 * uring_conn_gate_close() when it takes the connection over, which closes a gate already open and
 * makes any later uring_conn_gate_open() on that connection do nothing.
 *
 * Who calls what: the owner's thread (the connection's loop) calls uring_conn_gate_open(),
 * uring_conn_gate_poll() and uring_conn_gate_close(); any other thread calls uring_gate_send() only,
 * and never frees or reuses gate memory.
 *
 * Gates live in memory that outlives connections (a table allocated once, zeroed: a zero gate is
 * closed); gen tells one use of a gate from the next, so a stale sender never reaches a later
 * connection. Ordering between a foreign sender's frames and frames it handed to the owner some
 * other way is the caller's business (the broker sends directly only once the owner has handled
 * everything it pushed before).
 */
struct uring_gate {
    _Atomic uint64_t _word; /* gen << 32 | state (gate.c) */
    int _fd;
    uint32_t _rest_len;
    unsigned char *_rest; /* a short foreign send's unsent bytes; NULL with _rest_len > 0: lost */
};

/* Any thread: whether a foreign send to the connection of generation gen would find the gate
 * idle now: a hint, which the owner may change at any time (uring_gate_send decides). */
bool uring_gate_idle(const struct uring_gate *g, uint32_t gen);

#define URING_GATE_SENT 0 /* uring_gate_send(): all of it went */
#define URING_GATE_REST 1 /* part of it went; have the owner call uring_conn_gate_poll() */

/* Owner thread: opens gate g (closed, or last used with another gen) for this connection; gen != 0.
 * The gate closes with the connection (before its fd does). Does nothing on a closing connection
 * or after uring_conn_gate_close(). */
void uring_conn_gate_open(struct uring_conn *conn, struct uring_gate *g, uint32_t gen);
/* Owner thread: sends on the rest of a short foreign send, if one waits in the gate. */
void uring_conn_gate_poll(struct uring_conn *conn);
/* Owner thread, any time between uring_conn_start() and on_close: switches the connection's gate
 * off for good. From the call on, uring_gate_send() on it returns -EBUSY, the owner's output never
 * waits for a foreign sender again, and uring_conn_gate_open() does nothing; a rest still in the
 * gate is sent before anything queued after. With a foreign sendmsg under way the owner's output
 * waits for that one syscall as for any write, and the gate closes once it is over. Idempotent; no
 * gate opened: nothing to close, but a later open is still refused. */
void uring_conn_gate_close(struct uring_conn *conn);
/* Any thread but the owner's: writes iov[0, n) to the connection using g with generation gen, in one
 * non-blocking sendmsg, if the owner has nothing queued or in flight. Returns URING_GATE_SENT,
 * URING_GATE_REST, or, with nothing sent: -EBUSY (gate held, closed or reused) or the sendmsg error
 * (-EAGAIN: socket buffer full). */
int uring_gate_send(struct uring_gate *g, uint32_t gen, const struct iovec *iov, unsigned n);

/* ---- listeners (uring/accept.c) ---------------------------------------------------------------- */

struct uring_listener;

struct uring_listener_cbs {
    /* A connection came: the callee owns `fd` (start a uring_conn on it, or close it). */
    void (*on_accept)(struct uring_listener *l, int fd);
    /* Release point: accept is no longer armed and the listening fd is closed. */
    void (*on_close)(struct uring_listener *l);
};

struct uring_listener {
    int fd;
    struct uring_loop *loop;
    void *data;
    /* private */
    const struct uring_listener_cbs *_cbs;
    struct uring_op _accept_op;
    struct uring_timer _retry;
    unsigned _state;
};

/* A listening TCP socket with SO_REUSEPORT (one per core on the same port), bound to host:port
 * (numeric IPv4 or IPv6; port 0 picks one), with TCP_NODELAY, which accepted sockets inherit:
 * the loop already batches one iteration's writes into one send, and Nagle would hold a
 * second send back until the peer's delayed ACK. Returns the fd or a negative errno. */
int uring_listen_tcp(const char *host, unsigned port, int backlog);
/* Takes ownership of listening socket `fd` and arms multishot accept. */
int uring_listener_start(struct uring_listener *l, struct uring_loop *loop, int fd, const struct uring_listener_cbs *cbs);
void uring_listener_close(struct uring_listener *l);

/* ---- cross-core messages (uring/xcore.c) -------------------------------------------------------- */

struct uring_xmsg {
    uint32_t type;
    uint32_t u32;
    uint64_t u64;
    void *ptr;
};

struct uring_xchan;
/* Runs on the destination loop's thread, once per message, in push order. */
typedef void uring_xchan_cb(struct uring_xchan *ch, const struct uring_xmsg *msg);

/* A bounded single-producer (src loop) single-consumer (dst loop) queue. After pushes, the src
 * loop sends one IORING_OP_MSG_RING per batch to the dst ring as a doorbell; at most `credits`
 * doorbells are unconsumed at a time, so the dst CQ holds at most that many CQEs per channel. */
struct uring_xchan {
    /* producer's line */
    _Alignas(64) _Atomic uint32_t _tail;
    uint32_t _head_cache;
    struct uring_loop *src;
    struct uring_op _bell_op;
    struct uring_list _bell_node;
    /* consumer's line */
    _Alignas(64) _Atomic uint32_t _head;
    uint32_t _tail_cache;
    struct uring_loop *dst;
    uring_xchan_cb *cb;
    void *data;
    /* shared */
    _Alignas(64) _Atomic uint32_t _bells;
    uint32_t _credits;
    uint32_t _mask;
    struct uring_xmsg *_slots;
    uint64_t bell_errors;
};

/* capacity: a power of two; credits >= 1 (1 suffices: one drain empties the queue). Call before
 * either loop uses the channel (any thread), with both loops initialised. */
int uring_xchan_init(struct uring_xchan *ch, struct uring_loop *src, struct uring_loop *dst, unsigned capacity, unsigned credits,
                     uring_xchan_cb *cb);
/* After both loops have stopped using it. */
void uring_xchan_destroy(struct uring_xchan *ch);
/* After both loops have stopped using it (any thread): calls cb for each message still queued,
 * in push order, so that what they point to can be released. Returns how many there were. */
unsigned uring_xchan_drain(struct uring_xchan *ch);
/* src loop thread only. -EAGAIN when full (nothing queued: retry after the dst drained). */
int uring_xchan_push(struct uring_xchan *ch, const struct uring_xmsg *msg);
/* src loop thread only: true when the dst has handled every message pushed (callbacks returned):
 * whatever they did happened before anything the caller does next. */
bool uring_xchan_quiet(struct uring_xchan *ch);

/* ---- mailboxes: messages from any thread (uring/mbox.c) ----------------------------------------- */

/*
 * A bounded multi-producer single-consumer queue of struct uring_xmsg with an eventfd as its
 * doorbell, for threads that are not loops (a control thread, the dashboard) to reach a loop, and
 * for a loop to answer them. Who calls what:
 *   uring_mbox_init()    any thread, before anyone else uses the mailbox
 *   uring_mbox_post()    any thread, any number of them at once; never blocks
 *   uring_mbox_attach()  the loop's thread: from then on that loop consumes (its cb runs there)
 *   uring_mbox_fd()      any thread: the eventfd a plain consumer polls (POLLIN) or epolls
 *   uring_mbox_drain()   the one plain thread that consumes a mailbox not attached to a loop
 *   uring_mbox_destroy() once nobody posts any more and no loop has it armed (see below)
 * Messages from one producer arrive in the order it posted them; between producers, in the order
 * their posts claimed slots. A producer preempted between claiming a slot and filling it holds up
 * the messages behind it (not the other producers' posts) until it runs again (Vyukov's queue).
 * Size a reply mailbox for the requests its thread has outstanding, so that answers are never
 * refused.
 */
struct uring_mbox;
/* Runs on the consumer's thread (the attached loop's, or the one calling uring_mbox_drain), once
 * per message. It may post, to this mailbox too. */
typedef void uring_mbox_cb(struct uring_mbox *mb, const struct uring_xmsg *msg);

struct uring_mbox_slot { /* private */
    _Atomic uint32_t seq;
    struct uring_xmsg msg;
};

struct uring_mbox {
    /* set at init, read by everyone */
    _Alignas(64) uint32_t _mask;
    int _efd;
    struct uring_mbox_slot *_slots;
    uring_mbox_cb *cb;
    void *data; /* the caller's */
    /* producers' line */
    _Alignas(64) _Atomic uint32_t _tail;
    /* the doorbell's line: true from a ring until the consumer next finds the queue empty */
    _Alignas(64) _Atomic bool _rung;
    _Atomic uint64_t bells; /* eventfd writes (one per wake-up, not per message) */
    /* consumer's line */
    _Alignas(64) uint32_t _head;
    bool _armed;
    struct uring_loop *loop; /* the attached loop, NULL for a plain consumer */
    struct uring_op _op;     /* the eventfd read armed on the loop */
    uint64_t _efd_value;
    uint64_t drained;    /* messages handed to cb (consumer's count) */
    uint64_t arm_errors; /* eventfd reads that failed or re-arms that found no SQE: the loop stops draining */
};

/* capacity: a power of two, at most 2^30 (slots allocated here, nothing per message); cb: non-NULL.
 * Creates the eventfd. 0, -EINVAL, -ENOMEM or the eventfd error. */
int uring_mbox_init(struct uring_mbox *mb, unsigned capacity, uring_mbox_cb *cb);
/* Any thread: queues a copy of *msg and rings the doorbell if the consumer may be waiting.
 * 0, or -EAGAIN when full (nothing queued; the caller decides: retry later, drop, refuse). */
int uring_mbox_post(struct uring_mbox *mb, const struct uring_xmsg *msg);
/* Loop thread: the loop consumes the mailbox from now on, with an eventfd read op on its ring
 * re-armed after each completion; each CQE drains up to one capacity's worth of messages (more
 * left: the loop rings its own doorbell, so other work is not starved). Messages posted before are
 * delivered too. Stays armed until uring_loop_destroy() cancels it. 0, -EBUSY (no SQE), or the
 * fcntl error (the eventfd is made blocking, as a read on the ring needs). */
int uring_mbox_attach(struct uring_mbox *mb, struct uring_loop *loop);
/* For a mailbox not attached to a loop: readable (POLLIN) when messages may wait. */
int uring_mbox_fd(const struct uring_mbox *mb);
/* The plain consumer's thread: resets the eventfd and calls cb for every message queued, in
 * order. Returns how many. A readable fd with nothing to drain (0) is harmless. */
unsigned uring_mbox_drain(struct uring_mbox *mb);
/* The same with a budget: at most max messages, so that a consumer flooded with them still gets
 * round to its other work. When it stops at max the fd is made readable again: more may wait. */
unsigned uring_mbox_drain_max(struct uring_mbox *mb, unsigned max);
/* After every producer has stopped posting and, if attached, after the loop was destroyed (or
 * its read op otherwise completed for good): calls discard (if not NULL) for each message still
 * queued, in order, so that what they point to is released; closes the eventfd, frees the
 * slots. Returns how many were discarded. */
unsigned uring_mbox_destroy(struct uring_mbox *mb, uring_mbox_cb *discard);

/* ---- inline bodies ------------------------------------------------------------------------------ */

/* The user_data of one of src's SQEs (loop thread; src registered). payload < 2^48. */
static inline uint64_t uring_source_user_data(const struct uring_source *src, uint64_t payload)
{
    assert(src->_id != 0);
    assert(payload >> URING_SOURCE_PAYLOAD_BITS == 0);
    return payload << URING_SOURCE_PAYLOAD_SHIFT | (uint64_t)src->_id << URING_SOURCE_ID_SHIFT | URING_TAG_SOURCE;
}

#endif
