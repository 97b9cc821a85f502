/*
 * The send path of a connection. Two kinds of output share one byte stream:
 *
 * - copied bytes (uring_conn_write): appended to a chain of fixed-size chunks (_head .. _tail).
 *   Chunks come from the loop's cache of drained chunks (malloc only when it is empty) and go
 *   back to it as soon as a send has taken their last byte; the cache keeps at most
 *   out_cache_bytes, the rest is freed. So a connection with nothing queued holds no memory, a
 *   burst writes into pages already faulted in, and nothing is ever moved: growing is linking a
 *   chunk, sending is advancing _head_off. _head[_head_off] is stream byte _out_base of the
 *   copied bytes. Everything queued in one iteration leaves in one send: IORING_OP_SEND for one
 *   chunk, IORING_OP_SENDMSG with up to URING_SEND_IOV iovecs (_sv, allocated while chunks are
 *   queued) for more;
 * - referenced payloads (uring_conn_write_ref, large, non-loopback peer): a slot in _zc, sent
 *   with IORING_OP_SEND_ZC straight from the caller's memory. The payload records in _at how
 *   many copied bytes precede it, so copied bytes queued before it go first and those queued
 *   after it wait until it has gone.
 *
 * At most one send (of either kind) is in flight per connection: _send_cur names it. Its CQE
 * says how many bytes the kernel took; the rest goes in the next send (short sends). A SEND_ZC
 * CQE with IORING_CQE_F_MORE announces a notification (IORING_CQE_F_NOTIF) for when the kernel
 * no longer reads the memory; a payload is released, in order, once every byte was sent and
 * every notification came. The byte bound (_out_max) counts copied and referenced bytes alike.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "uring/compat.h"
#include "uring/internal.h"

#define URING_CHUNK_BYTES 16384 /* one allocation: link, length, data */
#define URING_SEND_IOV    64    /* chunks per send: 1 MiB */
#define URING_CACHE_IDLE  64    /* chunks (1 MiB) a loop keeps after a second without output */
#define URING_TRIM_NS     1000000000ull

struct uring_chunk {
    struct uring_chunk *next;
    size_t len; /* bytes written into data */
    unsigned char data[];
};

#define CHUNK_CAP (URING_CHUNK_BYTES - sizeof(struct uring_chunk))

struct uring_sendv {
    struct msghdr msg;
    struct iovec iov[URING_SEND_IOV];
};

static void send_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags);
static void zc_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags);

static struct uring_zc *slot(const struct uring_conn *c, unsigned i)
{
    return &c->_zc[i % URING_ZC_SLOTS];
}

void uring__send_init(struct uring_conn *c)
{
    c->_send_op.cb = send_done;
    c->_head = NULL;
    c->_tail = NULL;
    c->_head_off = 0;
    c->_sv = NULL;
    c->_out_len = 0;
    c->_out_sending = 0;
    c->_out_base = 0;
    c->_send_cur = NULL;
    c->_zc = NULL;
    c->_zc_head = 0;
    c->_zc_send = 0;
    c->_zc_tail = 0;
    c->_zc_queued = 0;
    c->_zc_ok = 0;
    c->_filter = NULL;
    c->_plain_head = NULL;
    c->_plain_tail = NULL;
    c->_plain_len = 0;
}

/* A filter that encodes what is written (not a pass-through one: uring_filter.encode). */
static bool encodes(const struct uring_conn *c)
{
    return c->_filter != NULL && c->_filter->encode != NULL;
}

/* A flushing close owes the filter its closing() call, which runs from the next send_next. */
static bool filter_owes_close(const struct uring_conn *c)
{
    return c->_filter != NULL && c->_filter->closing != NULL &&
           (c->_state & (CONN_CLOSING | CONN_CLOSE_NOW | CONN_FILTER_CLOSED)) == CONN_CLOSING;
}

bool uring__send_pending(const struct uring_conn *c)
{
    return c->_out_len > 0 || c->_plain_len > 0 || c->_zc_send != c->_zc_tail || filter_owes_close(c);
}

size_t uring_conn_out_queued(const struct uring_conn *c)
{
    return c->_out_len + c->_plain_len + c->_zc_queued;
}

void uring__send_pool_init(struct uring_loop *loop, size_t cache_bytes)
{
    loop->_chunks = NULL;
    loop->_chunks_cached = 0;
    loop->_chunks_cache_max = (unsigned)(cache_bytes / URING_CHUNK_BYTES);
    loop->_chunks_held = 0;
    loop->_chunks_trim_ns = 0;
}

void uring__send_pool_free(struct uring_loop *loop)
{
    while (loop->_chunks != NULL) {
        struct uring_chunk *ch = loop->_chunks;

        loop->_chunks = ch->next;
        free(ch);
    }
    loop->_chunks_cached = 0;
}

/*
 * The cache is sized for bursts (a fan-out of large messages queues megabytes: chunks freed past
 * the cap and malloc'd again fault their pages in anew each time), but an idle broker should not
 * keep that much: once no connection has held output for URING_TRIM_NS, the cache goes down to
 * URING_CACHE_IDLE chunks. Reads the clock only while nothing is held and the cache is large.
 */
void uring__send_pool_trim(struct uring_loop *loop)
{
    uint64_t now;

    if (loop->_chunks_held > 0 || loop->_chunks_cached <= URING_CACHE_IDLE) {
        loop->_chunks_trim_ns = 0;
        return;
    }
    now = uring_now_ns();
    if (loop->_chunks_trim_ns == 0) {
        loop->_chunks_trim_ns = now + URING_TRIM_NS;
        return;
    }
    if (now < loop->_chunks_trim_ns)
        return;
    while (loop->_chunks_cached > URING_CACHE_IDLE) {
        struct uring_chunk *ch = loop->_chunks;

        loop->_chunks = ch->next;
        loop->_chunks_cached--;
        free(ch);
    }
    loop->_chunks_trim_ns = 0;
}

size_t uring_loop_out_cached(const struct uring_loop *loop)
{
    return (size_t)loop->_chunks_cached * URING_CHUNK_BYTES;
}

static struct uring_chunk *chunk_get(struct uring_loop *loop)
{
    struct uring_chunk *ch = loop->_chunks;

    if (ch != NULL) {
        loop->_chunks = ch->next;
        loop->_chunks_cached--;
    } else {
        ch = malloc(URING_CHUNK_BYTES);
        if (ch == NULL)
            return NULL;
        URING_STAT_ADD(loop, out_chunk_allocs, 1);
    }
    loop->_chunks_held++;
    ch->next = NULL;
    ch->len = 0;
    return ch;
}

static void chunk_put(struct uring_loop *loop, struct uring_chunk *ch)
{
    URING_ASSERT(loop->_chunks_held > 0);
    loop->_chunks_held--;
    if (loop->_chunks_cached >= loop->_chunks_cache_max) {
        free(ch);
        return;
    }
    ch->next = loop->_chunks;
    loop->_chunks = ch;
    loop->_chunks_cached++;
}

/* Cuts n sent bytes from the front of the chain; chunks sent whole go back to the loop. */
static void out_consume(struct uring_conn *c, size_t n)
{
    URING_ASSERT(n <= c->_out_len);
    c->_out_len -= n;
    c->_out_base += n;
    while (n > 0) {
        struct uring_chunk *ch = c->_head;
        size_t left = ch->len - c->_head_off;

        if (left > n) {
            c->_head_off += n;
            return;
        }
        n -= left;
        c->_head = ch->next;
        if (c->_head == NULL)
            c->_tail = NULL;
        c->_head_off = 0;
        chunk_put(c->loop, ch);
    }
}

/* Returns every queued chunk to the loop (nothing in flight reads them). */
static void out_drop(struct uring_conn *c)
{
    while (c->_head != NULL) {
        struct uring_chunk *ch = c->_head;

        c->_head = ch->next;
        chunk_put(c->loop, ch);
    }
    c->_tail = NULL;
    c->_head_off = 0;
    c->_out_len = 0;
    free(c->_sv);
    c->_sv = NULL;
    while (c->_plain_head != NULL) {
        struct uring_chunk *ch = c->_plain_head;

        c->_plain_head = ch->next;
        chunk_put(c->loop, ch);
    }
    c->_plain_tail = NULL;
    c->_plain_len = 0;
}

/* Fills iov with the first n queued copied bytes, at most URING_SEND_IOV entries. */
static unsigned out_iov(const struct uring_conn *c, size_t n, struct iovec *iov, size_t *total)
{
    const struct uring_chunk *ch = c->_head;
    size_t off = c->_head_off;
    unsigned k = 0;

    *total = 0;
    while (ch != NULL && n > 0 && k < URING_SEND_IOV) {
        size_t take = ch->len - off < n ? ch->len - off : n;

        iov[k].iov_base = (void *)(ch->data + off);
        iov[k].iov_len = take;
        k++;
        *total += take;
        n -= take;
        off = 0;
        ch = ch->next;
    }
    return k;
}

static void start_copy(struct uring_conn *c, size_t n)
{
    struct iovec iov[URING_SEND_IOV];
    struct io_uring_sqe *sqe;
    size_t total;
    unsigned k;

    URING_ASSERT(n > 0);
    URING_ASSERT(n <= c->_out_len);
    k = out_iov(c, n, iov, &total);
    URING_ASSERT(k > 0);
    if (k > 1 && c->_sv == NULL)
        c->_sv = calloc(1, sizeof(*c->_sv));
    if (k > 1 && c->_sv == NULL) {
        k = 1; /* no memory for the vector: send the first chunk alone */
        total = iov[0].iov_len;
    }
    sqe = uring_loop_sqe(c->loop, &c->_send_op);
    if (sqe == NULL) {
        uring__conn_fail(c, -EBUSY);
        return;
    }
    if (k == 1) {
        io_uring_prep_send(sqe, c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    } else {
        /* The kernel may read the msghdr and the iovecs until the CQE: they live in _sv. */
        memcpy(c->_sv->iov, iov, k * sizeof(iov[0]));
        memset(&c->_sv->msg, 0, sizeof(c->_sv->msg));
        c->_sv->msg.msg_iov = c->_sv->iov;
        c->_sv->msg.msg_iovlen = k;
        io_uring_prep_sendmsg(sqe, c->fd, &c->_sv->msg, MSG_NOSIGNAL);
    }
    c->_out_sending = total;
    c->_send_cur = &c->_send_op;
    c->_state |= CONN_SEND_INFLIGHT;
    URING_STAT_ADD(c->loop, sends, 1);
}

static void start_zc(struct uring_conn *c, struct uring_zc *z)
{
    struct io_uring_sqe *sqe;

    URING_ASSERT(z->_off < z->_len);
    sqe = uring_loop_sqe(c->loop, &z->_op);
    if (sqe == NULL) {
        uring__conn_fail(c, -EBUSY);
        return;
    }
    io_uring_prep_send_zc(sqe, c->fd, z->_data + z->_off, z->_len - z->_off, MSG_NOSIGNAL,
                          c->loop->zc_report ? IORING_SEND_ZC_REPORT_USAGE : 0);
    c->_out_sending = z->_len - z->_off;
    c->_send_cur = &z->_op;
    c->_state |= CONN_SEND_INFLIGHT;
    URING_STAT_ADD(c->loop, zc_sends, 1);
}

/* Encodes everything written since the last send, a chunk at a time; then, closing with nothing
 * left to encode, lets the filter add its last bytes. false: the filter failed the connection. */
static bool filter_run(struct uring_conn *c)
{
    while (c->_plain_head != NULL) {
        struct uring_chunk *ch = c->_plain_head;
        int ret = c->_filter->encode(c, ch->data, ch->len);

        if (ret != 0) {
            uring__conn_fail(c, ret);
            return false;
        }
        c->_plain_head = ch->next;
        if (c->_plain_head == NULL)
            c->_plain_tail = NULL;
        c->_plain_len -= ch->len;
        chunk_put(c->loop, ch);
    }
    if ((c->_state & CONN_CLOSING) && !(c->_state & CONN_FILTER_CLOSED)) {
        c->_state |= CONN_FILTER_CLOSED;
        if (c->_filter->closing != NULL)
            c->_filter->closing(c);
    }
    return true;
}

void uring__send_next(struct uring_conn *c)
{
    if (c->_state & (CONN_SEND_INFLIGHT | CONN_CLOSE_NOW | CONN_GATE_WAIT) || c->loop->_closing)
        return;
    if (c->_filter != NULL && !filter_run(c))
        return;
    if (!uring__send_pending(c))
        return;
    URING_ASSERT(c->_gate == NULL || (c->_state & CONN_GATE_HELD)); /* no foreign sender inside */
    if (c->_zc_send != c->_zc_tail) {
        struct uring_zc *z = slot(c, c->_zc_send);

        URING_ASSERT(z->_at >= c->_out_base);
        if (z->_at == c->_out_base)
            start_zc(c, z);
        else
            start_copy(c, (size_t)(z->_at - c->_out_base));
        return;
    }
    start_copy(c, c->_out_len);
}

/* Common end of a send CQE: bookkeeping done by the caller; errors close the connection. */
static void sent(struct uring_conn *c, int res, size_t offered)
{
    c->_state &= ~CONN_SEND_INFLIGHT;
    c->_send_cur = NULL;
    c->_out_sending = 0;
    if (res > 0) {
        if ((size_t)res < offered)
            URING_STAT_ADD(c->loop, short_sends, 1);
        URING_STAT_ADD(c->loop, send_bytes, (uint64_t)res);
        if (uring__send_pending(c))
            uring__conn_queue_flush(c);
    } else if (!(c->_state & CONN_CLOSING) || res != -ECANCELED) {
        uring__conn_fail(c, res < 0 ? res : -EPIPE);
    }
}

static void send_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags)
{
    struct uring_conn *c = (struct uring_conn *)(void *)((char *)op - offsetof(struct uring_conn, _send_op));
    size_t offered = c->_out_sending;

    URING_ASSERT(c->_state & CONN_SEND_INFLIGHT);
    URING_ASSERT(res <= (int)offered);
    if (res > 0)
        out_consume(c, (size_t)res);
    if (c->_out_len == 0) {
        free(c->_sv); /* drained: the connection keeps nothing of its output path */
        c->_sv = NULL;
    }
    sent(c, res, offered);
    uring__gate_release(c);
    uring__conn_maybe_finish(c);
}

/* Releases, in order, the payloads fully sent whose notifications all came. */
static void release_sent(struct uring_conn *c)
{
    while (c->_zc_head != c->_zc_send && slot(c, c->_zc_head)->_notifs == 0) {
        struct uring_zc *z = slot(c, c->_zc_head);

        c->_zc_head++;
        z->_release(z->_arg, 0);
    }
}

static void zc_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags)
{
    struct uring_zc *z = (struct uring_zc *)(void *)op;
    struct uring_conn *c = z->_conn;
    size_t offered = c->_out_sending;

    if (flags & IORING_CQE_F_NOTIF) {
        URING_ASSERT(z->_notifs > 0);
        z->_notifs--;
        URING_STAT_ADD(loop, zc_notifs, 1);
        if (loop->zc_report && ((unsigned)res & IORING_NOTIF_USAGE_ZC_COPIED))
            URING_STAT_ADD(loop, zc_copied, 1);
    } else {
        URING_ASSERT(c->_state & CONN_SEND_INFLIGHT);
        URING_ASSERT(c->_send_cur == op);
        if (flags & IORING_CQE_F_MORE)
            z->_notifs++;
        if (res > 0) {
            z->_off += (size_t)res;
            c->_zc_queued -= (size_t)res;
            if (z->_off == z->_len)
                c->_zc_send++;
        }
        sent(c, res, offered);
        uring__gate_release(c);
    }
    release_sent(c);
    uring__conn_maybe_finish(c);
}

bool uring__send_release_all(struct uring_conn *c)
{
    int err = c->_err != 0 ? c->_err : -ECANCELED;

    release_sent(c);
    for (unsigned i = c->_zc_head; i != c->_zc_tail; i++)
        if (slot(c, i)->_notifs > 0)
            return false;
    while (c->_zc_head != c->_zc_tail) {
        struct uring_zc *z = slot(c, c->_zc_head);

        c->_zc_head++;
        z->_release(z->_arg, err);
    }
    c->_zc_send = c->_zc_tail;
    c->_zc_queued = 0;
    free(c->_zc);
    c->_zc = NULL;
    out_drop(c);
    return true;
}

/* Links chunks for need more bytes after *tail of the chain (head, tail): all of them, or none
 * (-ENOMEM). */
static int chain_reserve(struct uring_loop *loop, struct uring_chunk **head, struct uring_chunk **tail, size_t need)
{
    size_t room = *tail != NULL ? CHUNK_CAP - (*tail)->len : 0;
    struct uring_chunk *first = NULL, *last = NULL;

    while (room < need) {
        struct uring_chunk *ch = chunk_get(loop);

        if (ch == NULL) {
            while (first != NULL) {
                ch = first;
                first = ch->next;
                chunk_put(loop, ch);
            }
            return -ENOMEM;
        }
        if (last != NULL)
            last->next = ch;
        else
            first = ch;
        last = ch;
        room += CHUNK_CAP;
    }
    if (first == NULL)
        return 0;
    if (*tail != NULL)
        (*tail)->next = first;
    else
        *head = first;
    if (*tail == NULL || (*tail)->len == CHUNK_CAP)
        *tail = first; /* a full tail takes no more bytes: start in the new chunk */
    return 0;
}

/* Copies into room chain_reserve made: the tail moves on as chunks fill. */
static void chain_copy(struct uring_chunk **tail, const unsigned char *p, size_t len)
{
    while (len > 0) {
        size_t take = CHUNK_CAP - (*tail)->len < len ? CHUNK_CAP - (*tail)->len : len;

        memcpy((*tail)->data + (*tail)->len, p, take);
        (*tail)->len += take;
        p += take;
        len -= take;
        if (len > 0)
            *tail = (*tail)->next;
    }
}

static int chain_append(struct uring_loop *loop, struct uring_chunk **head, struct uring_chunk **tail, const unsigned char *p,
                        size_t len)
{
    if (chain_reserve(loop, head, tail, len) != 0)
        return -ENOMEM;
    chain_copy(tail, p, len);
    return 0;
}

/* Appends a then b to the copied bytes (the wire's, or the filter's), unbounded (the caller
 * checked); all or nothing. */
static int out_append(struct uring_conn *c, const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    struct uring_chunk **head = encodes(c) ? &c->_plain_head : &c->_head;
    struct uring_chunk **tail = encodes(c) ? &c->_plain_tail : &c->_tail;

    if (chain_reserve(c->loop, head, tail, alen + blen) != 0)
        return -ENOMEM;
    /* A chain that was empty starts at the chunk chain_reserve linked. */
    chain_copy(tail, a, alen);
    if (blen > 0)
        chain_copy(tail, b, blen);
    if (encodes(c))
        c->_plain_len += alen + blen;
    else
        c->_out_len += alen + blen;
    if (!(c->_state & CONN_SEND_INFLIGHT))
        uring__conn_queue_flush(c);
    return 0;
}

/*
 * Puts len bytes in front of everything queued: the rest of a short foreign send, which the peer's
 * stream needs before any of the owner's output. Nothing is in flight (the gate was not held), so
 * the chain starts at a chunk boundary; referenced payloads queued meanwhile move back by len.
 * -ENOMEM queues nothing.
 */
int uring__send_prepend(struct uring_conn *c, const void *data, size_t len)
{
    struct uring_chunk *head = c->_head, *tail = c->_tail;
    size_t queued = c->_out_len;

    URING_ASSERT(!(c->_state & CONN_SEND_INFLIGHT));
    URING_ASSERT(c->_head_off == 0);
    URING_ASSERT(!encodes(c)); /* an encoding filter's connection has no gate */
    c->_head = NULL;
    c->_tail = NULL;
    c->_out_len = 0;
    if (out_append(c, data, len, NULL, 0) != 0) {
        c->_head = head;
        c->_tail = tail;
        c->_out_len = queued;
        return -ENOMEM;
    }
    if (head != NULL) {
        c->_tail->next = head;
        c->_tail = tail;
    }
    c->_out_len += queued;
    for (unsigned i = c->_zc_send; i != c->_zc_tail; i++)
        slot(c, i)->_at += len;
    return 0;
}

int uring_conn_write2(struct uring_conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
    size_t len = alen + blen, queued;
    int ret;

    if (c->_state & (CONN_CLOSING | CONN_CLOSED))
        return -EPIPE;
    if (len == 0)
        return 0; /* nothing to send: the gate stays as it is */
    queued = uring_conn_out_queued(c);
    if (queued > c->_out_max || len > c->_out_max - queued)
        return -ENOBUFS;
    uring__gate_hold(c);
    ret = out_append(c, a, alen, b, blen);
    if (ret != 0)
        uring__gate_release(c);
    return ret;
}

int uring_conn_write(struct uring_conn *c, const void *data, size_t len)
{
    return uring_conn_write2(c, data, len, NULL, 0);
}

/* SEND_ZC costs more than a copy where nothing is offloaded: loopback, and Unix sockets (which
 * do not support it at all). Decided once per connection from its peer address. */
static bool peer_wants_zc(struct uring_conn *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    bool loopback;

    if (c->_zc_ok != 0)
        return c->_zc_ok > 0;
    c->_zc_ok = -1;
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == -1)
        return false;
    if (ss.ss_family == AF_INET) {
        loopback = (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

        loopback = IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    } else {
        return false;
    }
    if (!loopback || (c->loop->flags & URING_LOOP_ZC_LOOPBACK))
        c->_zc_ok = 1;
    return c->_zc_ok > 0;
}

int uring_conn_write_ref(struct uring_conn *c, const void *data, size_t len, uring_release_cb *release, void *arg)
{
    struct uring_zc *z;

    URING_ASSERT(release != NULL);
    if (c->_state & (CONN_CLOSING | CONN_CLOSED))
        return -EPIPE;
    if (!c->loop->send_zc || c->_filter != NULL || len == 0 || len < c->loop->zc_threshold || !peer_wants_zc(c) ||
        c->_zc_tail - c->_zc_head == URING_ZC_SLOTS)
        return uring_conn_write(c, data, len);
    if (uring_conn_out_queued(c) > c->_out_max || len > c->_out_max - uring_conn_out_queued(c))
        return -ENOBUFS;
    if (c->_zc == NULL) {
        c->_zc = calloc(URING_ZC_SLOTS, sizeof(*c->_zc));
        if (c->_zc == NULL)
            return uring_conn_write(c, data, len);
    }
    uring__gate_hold(c); /* before _at is taken: a rest it picks up goes first */
    z = slot(c, c->_zc_tail);
    z->_op.cb = zc_done;
    z->_conn = c;
    z->_data = data;
    z->_len = len;
    z->_off = 0;
    z->_at = c->_out_base + c->_out_len;
    z->_notifs = 0;
    z->_release = release;
    z->_arg = arg;
    c->_zc_tail++;
    c->_zc_queued += len;
    if (!(c->_state & CONN_SEND_INFLIGHT))
        uring__conn_queue_flush(c);
    return URING_WRITE_HELD;
}

void uring_conn_set_filter(struct uring_conn *c, const struct uring_filter *f)
{
    URING_ASSERT(c->_plain_len == 0);
    URING_ASSERT(!(c->_state & (CONN_CLOSING | CONN_CLOSED)));
    if (f != NULL && f->encode != NULL) {
        uring_conn_gate_close(c);
    } else if (c->_gate == NULL) {
        c->_state &= ~CONN_GATE_OFF; /* plaintext on the socket again: a foreign sendmsg may write it */
    }
    c->_filter = f;
}

bool uring_conn_out_idle(const struct uring_conn *c)
{
    return !(c->_state & (CONN_SEND_INFLIGHT | CONN_GATE_WAIT)) && uring_conn_out_queued(c) == 0 &&
           (c->_gate == NULL || (c->_state & CONN_GATE_HELD));
}

int uring_conn_write_raw(struct uring_conn *c, const void *data, size_t len)
{
    if (c->_state & (CONN_CLOSE_NOW | CONN_CLOSED))
        return -EPIPE;
    if (len == 0)
        return 0;
    if (chain_append(c->loop, &c->_head, &c->_tail, data, len) != 0)
        return -ENOMEM;
    c->_out_len += len;
    if (!(c->_state & CONN_SEND_INFLIGHT))
        uring__conn_queue_flush(c);
    return 0;
}

void *uring_conn_raw_reserve(struct uring_conn *c, size_t *room)
{
    if (c->_state & (CONN_CLOSE_NOW | CONN_CLOSED))
        return NULL;
    if (chain_reserve(c->loop, &c->_head, &c->_tail, 1) != 0)
        return NULL;
    *room = CHUNK_CAP - c->_tail->len;
    return c->_tail->data + c->_tail->len;
}

void uring_conn_raw_commit(struct uring_conn *c, size_t n)
{
    URING_ASSERT(c->_tail != NULL && n <= CHUNK_CAP - c->_tail->len);
    if (n == 0 && c->_tail->len == 0) {
        /* The chunk raw_reserve linked for nothing goes back: an empty chunk held to the end
         * would keep the loop's cache from ever trimming. */
        struct uring_chunk *ch = c->_head, *prev = NULL;

        while (ch != c->_tail) {
            prev = ch;
            ch = ch->next;
        }
        if (prev != NULL)
            prev->next = NULL;
        else
            c->_head = NULL;
        c->_tail = prev;
        if (prev == NULL)
            c->_head_off = 0;
        chunk_put(c->loop, ch);
        return;
    }
    c->_tail->len += n;
    c->_out_len += n;
    if (n > 0 && !(c->_state & CONN_SEND_INFLIGHT))
        uring__conn_queue_flush(c);
}
