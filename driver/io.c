/*
 * io: the I/O side of a client, on its own io_uring.
 *
 * At most these operations are in flight: one recv into c->rbuf (fed to a wire_reader), one send
 * (from c->hs before CONNACK, from c->out after), one read of the wake eventfd, one timeout (the
 * tick: keepalive, request deadlines, reconnect backoff, handshake deadline), one more while
 * publishes are held for a batch (swap_batch) and, while connecting, one connect with a linked
 * timeout. A connection is torn down by shutdown(2), which completes its recv and send; the
 * descriptor is closed only once no operation refers to it, so no completion from an old
 * connection is ever mistaken for one of the new.
 *
 * TLS (trpcs://) sits between the socket and the frames, in memory (driver/tls.h): once TCP is up
 * the TLS handshake runs first (phase TLS, its flights sent from c->tls_out), then CONNECT goes in
 * as it does over TCP. Every batch send_kick picks (c->hs, then c->out) is encrypted into
 * c->tls_out, at most TLS_CHUNK of plaintext at a time so that the ciphertext waiting stays
 * bounded; every recv is fed to the tls_conn and the plaintext read out of it goes to the wire
 * reader. The same completions drive both, so the timeouts, the teardown and the external-loop
 * mode need nothing of their own.
 *
 * Kernel TLS (trpc_options_set_tls_offload): the tls_conn is given the socket before the
 * handshake, and writes its flights there itself while nothing of ours is on the way (ktls_idle).
 * If it then hands the send keys to the kernel (TLS_KTLS_TX), the kernel encrypts every byte
 * written to the socket: from there on the send side is the plaintext one (hs and out sent as they
 * are, direct sends allowed). The close_notify is then a record the engine writes to the socket
 * itself, once our sends are done (close_tls).
 *
 * Over TLS 1.2 the engine hands the kernel the receive keys too (TLS_KTLS_RX), in the middle of
 * the handshake, when it reads the broker's ChangeCipherSpec: every byte after it must reach the
 * kernel, none a buffer of ours. The single recv does that: it is armed again only once the last
 * one was handled (fed), so nothing is read past the handshake's bytes when the keys go in. From
 * then on received bytes are plaintext for the wire reader, and a record that is not data (the
 * broker's Finished if it came after the keys, its close_notify, an alert) fails the recv, to be
 * read by the engine (recv_failed_ktls).
 *
 * Everything here runs on one thread at a time: the client's I/O thread, or the caller of
 * trpc_connect()/trpc_client_process() in external-loop mode. c->lock is never held while a
 * callback runs.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "driver/client.h"

enum {
    UD_RECV = 1,
    UD_SEND,
    UD_WAKE,
    UD_TICK,
    UD_CONNECT,
    UD_LINK_TIMEOUT,
    UD_CANCEL,
    UD_HOLD,
};

#define TLS_CHUNK         (256u << 10) /* plaintext encrypted per send */
#define TLS_CLOSE_WAIT_MS 200          /* a clean close waits this long for sends in flight before close_notify */

/* What a kick does about holding publishes back (swap_batch). */
enum hold {
    HOLD_KEEP,  /* any other kick: a hold in force stays, none starts */
    HOLD_START, /* a batch's send just completed: a stream may be held */
    HOLD_END,   /* the hold's timeout: send what is there */
};

static void conn_down(trpc_client *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void on_connected(trpc_client *c);

static struct io_uring_sqe *get_sqe(trpc_client *c)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

    if (sqe == NULL) {
        io_uring_submit(&c->ring);
        sqe = io_uring_get_sqe(&c->ring);
    }
    assert(sqe != NULL); /* the ring holds many more entries than we ever have in flight */
    return sqe;
}

/* Valgrind loads its preload libraries (vgpreload_*.so) into every program it runs. */
static bool under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");

    return p != NULL && strstr(p, "vgpreload") != NULL;
}

int trpc__io_init(trpc_client *c)
{
    int ret = io_uring_queue_init(32, &c->ring, 0);

    if (ret < 0)
        return trpc__fail(-TRPC_E_IO, "io_uring_queue_init: %s", strerror(-ret));
    /* Blocking on purpose: io_uring reads a non-blocking eventfd once and fails with EAGAIN. */
    c->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (c->wake_fd == -1) {
        ret = errno;
        io_uring_queue_exit(&c->ring);
        return trpc__fail(-TRPC_E_IO, "eventfd: %s", strerror(ret));
    }
    /* Zeroed once: memory checkers cannot see io_uring fill it, and would call it uninitialised. */
    c->rbuf = calloc(1, TRPC__RECV_BYTES);
    if (c->rbuf == NULL) {
        close(c->wake_fd);
        io_uring_queue_exit(&c->ring);
        return trpc__fail(-TRPC_E_NO_MEMORY, "receive buffer: out of memory");
    }
    c->fd = -1;
    c->phase = TRPC__PH_WAIT;
    c->tick_ts.tv_sec = 0;
    c->tick_ts.tv_nsec = TRPC__TICK_MS * 1000000L;
    c->hold_ts.tv_sec = 0;
    c->hold_ts.tv_nsec = TRPC__HOLD_US * 1000L;
    c->rng = (unsigned)trpc__now_ms() ^ (unsigned)(uintptr_t)c;
    c->wait_in_poll = under_valgrind();
    return 0;
}

void trpc__io_fini(trpc_client *c)
{
    assert(c->fd == -1);
    assert(c->tls == NULL); /* freed with the socket */
    io_uring_queue_exit(&c->ring);
    close(c->wake_fd);
    free(c->rbuf);
    c->rbuf = NULL;
    trpc__buf_free(&c->out);
    trpc__buf_free(&c->hs);
    trpc__buf_free(&c->tls_out);
    free(c->tls_plain);
    c->tls_plain = NULL;
    tls_ctx_free(c->tls_ctx);
    c->tls_ctx = NULL;
    if (c->reader_live)
        wire_reader_free(&c->reader);
    c->reader_live = false;
}

static void arm_recv(trpc_client *c)
{
    struct io_uring_sqe *sqe;

    assert(!c->recv_armed);
    assert(!c->recv_paused);
    assert(c->fd >= 0);
    sqe = get_sqe(c);
    io_uring_prep_recv(sqe, c->fd, c->rbuf, TRPC__RECV_BYTES, 0);
    io_uring_sqe_set_data64(sqe, UD_RECV);
    c->recv_armed = true;
    c->ops_inflight++;
}

static void arm_send(trpc_client *c, struct trpc__buf *b)
{
    struct io_uring_sqe *sqe;

    assert(!c->send_armed);
    assert(b->off < b->len);
    sqe = get_sqe(c);
    io_uring_prep_send(sqe, c->fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, UD_SEND);
    c->sending = b;
    c->send_armed = true;
    c->ops_inflight++;
    c->last_send_ms = trpc__now_ms();
}

/*
 * Frames of the library's own making (PONG, NO_RESPONDERS) pass the send_buffer bound, so that
 * publishers cannot keep them out; but a broker that sends PINGs and reads nothing would then grow
 * the buffer without end. So while what is unsent is past the bound (such frames take it there,
 * and over TLS a record's overhead may for a moment) the next recv waits: the broker's frames wait
 * in the socket, and the broker sees its output back up, as it would for a client that reads
 * slowly. Only while a send is in flight, since its on_send is what arms the recv again: over
 * user-space TLS a send may wait for a recv instead (OpenSSL reading a post-handshake message),
 * and pausing then would stop both for good. Only once open: CONNECT is sent from c->hs, and
 * CONNACK must be read.
 */
static bool send_backlogged(trpc_client *c)
{
    size_t unsent;

    pthread_mutex_lock(&c->lock);
    unsent = c->fill.len - c->fill.off + c->out_unsent;
    pthread_mutex_unlock(&c->lock);
    return unsent > c->opts.send_buffer;
}

static void recv_next(trpc_client *c)
{
    assert(!c->recv_paused);
    if (c->phase == TRPC__PH_OPEN && c->send_armed && send_backlogged(c)) {
        c->recv_paused = true;
        return;
    }
    arm_recv(c);
}

/* The hold's end, TRPC__HOLD_US from now; one timeout at a time (a hold that ended early by an
 * append leaves its timeout to expire: its completion only kicks a send). */
static void arm_hold(trpc_client *c)
{
    struct io_uring_sqe *sqe;

    if (c->hold_armed)
        return;
    sqe = get_sqe(c);
    io_uring_prep_timeout(sqe, &c->hold_ts, 0, 0);
    io_uring_sqe_set_data64(sqe, UD_HOLD);
    c->hold_armed = true;
}

/*
 * c->out is all sent: swaps in what the application queued meanwhile. False when nothing was (the
 * I/O side is idle now: the next append wakes it), or when hold says the last batch just went and
 * what came meanwhile is only publishes, less than trpc__hold_bytes(): a publisher is streaming, and
 * sending each send's worth as it comes made a send, a broker receive and a wake-up per few dozen
 * small messages at every hop (docs/performance.md, "Publishes held for a batch"). They wait until
 * that much is there (the append that gets there wakes us) or TRPC__HOLD_US passed.
 * Anything someone waits for (a request, a reply, an ack, a PING of trpc_flush, an acknowledged
 * publish) ends the hold at once; a lone publish after a quiet spell is sent at once. Other kicks
 * leave a hold in force.
 */
static bool swap_batch(trpc_client *c, enum hold hold)
{
    struct trpc__buf tmp;

    c->out.off = c->out.len = 0;
    pthread_mutex_lock(&c->lock);
    if (c->fill.len == 0) {
        c->send_idle = true;
        c->holding = false;
        c->out_unsent = 0;
        pthread_mutex_unlock(&c->lock);
        return false;
    }
    if (hold == HOLD_END)
        c->holding = false;
    if ((hold == HOLD_START || c->holding) && !c->fill_urgent && c->fill.len - c->fill.off < trpc__hold_bytes(c)) {
        c->holding = true;
        c->out_unsent = 0;
        pthread_mutex_unlock(&c->lock);
        arm_hold(c);
        return false;
    }
    c->holding = false;
    c->fill_urgent = false;
    tmp = c->fill;
    c->fill = c->out;
    c->out = tmp;
    c->out_unsent = c->out.len - c->out.off; /* off: what a short direct send took */
    c->send_idle = false;
    pthread_mutex_unlock(&c->lock);
    return true;
}

/* The kernel encrypts what this connection sends: the send side is the plaintext one. */
static bool ktls_tx(const trpc_client *c)
{
    return c->tls != NULL && (tls_conn_ktls(c->tls) & TLS_KTLS_TX) != 0;
}

/*
 * The tls_conn's idle callback under kernel TLS: whether nothing we took from it or wrote is
 * queued or in flight on the socket, so that what it writes there itself (handshake flights, a
 * TLS 1.2 Finished, alerts, close_notify) does not overtake it or land inside a frame: no ring
 * send armed, no ciphertext left in tls_out, no batch sent in part, no frame cut by a short
 * direct send. Called by the I/O side from inside the engine, never under c->lock.
 */
static bool ktls_idle(void *arg)
{
    trpc_client *c = arg;
    bool idle;

    if (c->send_armed || c->tls_out.off < c->tls_out.len || (c->out.off > 0 && c->out.off < c->out.len) ||
        (c->hs.off > 0 && c->hs.off < c->hs.len))
        return false;
    pthread_mutex_lock(&c->lock);
    idle = c->fill.off == 0;
    pthread_mutex_unlock(&c->lock);
    return idle;
}

/* The kernel decrypts what this connection receives: received bytes are plaintext. */
static bool ktls_rx(const trpc_client *c)
{
    return c->tls != NULL && (tls_conn_ktls(c->tls) & TLS_KTLS_RX) != 0;
}

/* The TLS connection failed: a refused certificate, a bad record, an alert from the broker. */
static void send_tls_now(trpc_client *c);

static void fail_tls(trpc_client *c)
{
    send_tls_now(c); /* the alert that tells the broker why, if OpenSSL made one and nothing is in the way */
    conn_down(c, -TRPC_E_TLS, "TLS with %.100s:%s: %s", c->url->host, c->url->port, tls_conn_error(c->tls));
}

/* Appends the ciphertext the TLS connection made to c->tls_out. */
static int take_ciphertext(trpc_client *c)
{
    size_t n = tls_conn_pending(c->tls);

    if (n == 0)
        return 0;
    if (trpc__buf_reserve(&c->tls_out, n) != 0)
        return -TRPC_E_NO_MEMORY;
    c->tls_out.len += tls_conn_take(c->tls, c->tls_out.data + c->tls_out.len, c->tls_out.cap - c->tls_out.len);
    return 0;
}

/* The sink of a batch's records: straight into c->tls_out, which no send is reading then. */
static int sink_tls_out(void *arg, const void *data, size_t len)
{
    trpc_client *c = arg;

    if (trpc__buf_reserve(&c->tls_out, len) != 0)
        return -ENOMEM;
    memcpy(c->tls_out.data + c->tls_out.len, data, len);
    c->tls_out.len += len;
    return 0;
}

/*
 * send_kick over TLS: once c->tls_out is sent, the next piece of plaintext (CONNECT before
 * CONNACK, batches after) is encrypted into it together with whatever TLS has to say itself
 * (handshake flights, post-handshake messages), which goes first. out_unsent counts the batch's
 * plaintext not encrypted yet plus the ciphertext not sent.
 */
static void send_kick_tls(trpc_client *c, enum hold hold)
{
    struct trpc__buf *plain = NULL;
    int err;

    if (c->phase != TRPC__PH_TLS && c->phase != TRPC__PH_HANDSHAKE && c->phase != TRPC__PH_OPEN)
        return;
    assert(!ktls_tx(c)); /* tls_conn_write would refuse: the kernel encrypts */
    if (c->tls_out.off == c->tls_out.len) {
        c->tls_out.off = c->tls_out.len = 0;
        if (c->phase == TRPC__PH_HANDSHAKE && c->hs.off < c->hs.len)
            plain = &c->hs;
        else if (c->phase == TRPC__PH_OPEN && (c->out.off < c->out.len || swap_batch(c, hold)))
            plain = &c->out;
        err = take_ciphertext(c);
        if (err == 0 && plain != NULL) {
            size_t n = plain->len - plain->off < TLS_CHUNK ? plain->len - plain->off : TLS_CHUNK;

            /* Records made here go to tls_out as made; those made while a send reads tls_out
             * (a reply to the broker's key update, an alert) wait in the engine. */
            tls_conn_set_sink(c->tls, sink_tls_out, c);
            err = tls_conn_write(c->tls, plain->data + plain->off, n);
            tls_conn_set_sink(c->tls, NULL, NULL);
            if (err == -EPROTO) {
                fail_tls(c);
                return;
            }
            if (err == -EAGAIN) {
                /* OpenSSL is in the middle of a post-handshake message it is reading: the
                 * plaintext stays, and the recv that completes it kicks again. */
                err = 0;
                plain = NULL;
            } else if (err == 0) {
                plain->off += n;
                err = take_ciphertext(c);
            }
        }
        if (err != 0) {
            conn_down(c, -TRPC_E_NO_MEMORY, "TLS: out of memory");
            return;
        }
        if (plain == &c->out) {
            pthread_mutex_lock(&c->lock);
            c->out_unsent = c->out.len - c->out.off + c->tls_out.len;
            pthread_mutex_unlock(&c->lock);
        }
    }
    if (c->tls_out.off < c->tls_out.len)
        arm_send(c, &c->tls_out);
}

/* Starts the next send if none is in flight: the handshake alone, then swapped-in batches. */
static void kick(trpc_client *c, enum hold hold)
{
    if (c->send_armed || c->fd < 0)
        return;
    if (c->tls != NULL && !ktls_tx(c)) {
        send_kick_tls(c, hold);
        return;
    }
    if (c->phase == TRPC__PH_HANDSHAKE) {
        if (c->hs.off < c->hs.len)
            arm_send(c, &c->hs);
        return;
    }
    if (c->phase != TRPC__PH_OPEN)
        return;
    if (c->out.off < c->out.len) {
        arm_send(c, &c->out);
        return;
    }
    if (swap_batch(c, hold))
        arm_send(c, &c->out);
}

static void send_kick(trpc_client *c)
{
    kick(c, HOLD_KEEP);
}

/* What TLS has for the broker, sent at once if no send is in flight, without waiting and without
 * a word if it fails: an alert before a failed connection goes down (the broker logs why), a
 * close_notify before a clean close. The socket is shut down right after. Under kernel TLS the
 * engine sent those itself: the socket would encrypt ciphertext again. */
static void send_tls_now(trpc_client *c)
{
    uint8_t buf[1024];
    size_t n;

    if (c->send_armed || c->fd < 0 || ktls_tx(c))
        return;
    /* A batch's write that failed left its records in tls_out, with the alert behind them (the
     * sink puts it there): they go first, or nothing does. */
    if (c->tls_out.off < c->tls_out.len) {
        ssize_t r = send(c->fd, c->tls_out.data + c->tls_out.off, c->tls_out.len - c->tls_out.off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (r > 0)
            c->tls_out.off += (size_t)r;
        if (c->tls_out.off < c->tls_out.len)
            return;
    }
    n = tls_conn_take(c->tls, buf, sizeof(buf));
    if (n > 0)
        (void)send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* The name a trpcs:// attempt checks the broker's certificate against. */
static const char *server_name(const trpc_client *c)
{
    return c->opts.tls_server_name != NULL ? c->opts.tls_server_name : c->url->host;
}

/* The client's TLS context, made from the options for its first trpcs:// attempt and kept: 0, or
 * -TRPC_E_TLS (a file that cannot be read or used) or -TRPC_E_NO_MEMORY, with why in err_text. */
static int make_tls_ctx(trpc_client *c)
{
    struct tls_config cfg = {
        .role = TLS_CLIENT,
        .cert_file = c->opts.tls_cert,
        .key_file = c->opts.tls_key,
        .ca_file = c->opts.tls_ca,
        .insecure_skip_verify = c->opts.tls_insecure_skip_verify,
        .ktls = c->opts.tls_offload != TRPC_TLS_OFFLOAD_USER,
    };
    char why[TLS_ERR_MAX];
    int ret = tls_ctx_new(&cfg, &c->tls_ctx, why, sizeof(why));

    if (ret == 0)
        return 0;
    snprintf(c->err_text, sizeof(c->err_text), "TLS settings: %s", why);
    return ret == -ENOMEM ? -TRPC_E_NO_MEMORY : -TRPC_E_TLS;
}

/* Moves the TLS handshake on with what was fed: its flights go out, and once it is done the
 * TRPC handshake starts over it. */
static void shake_tls(trpc_client *c)
{
    int ret = tls_conn_handshake(c->tls);

    if (ret < 0) {
        fail_tls(c);
    } else if (ret == 1 && ktls_rx(c) && !tls_conn_ktls_rx_clean(c->tls)) {
        /* Records the engine read ahead, behind the broker's Finished: the kernel never saw them,
         * and TLS 1.2 has the broker say nothing before our CONNECT. */
        conn_down(c, -TRPC_E_TLS, "TLS with %.100s:%s: the broker sent data before the handshake was over", c->url->host,
                  c->url->port);
    } else if (ret == 1 && !ktls_tx(c) && c->opts.tls_offload == TRPC_TLS_OFFLOAD_KERNEL) {
        /* A session we will not use: ended cleanly (our last flight, then close_notify). */
        tls_conn_close_notify(c->tls);
        send_tls_now(c);
        conn_down(c, -TRPC_E_TLS, "TLS with %.100s:%s: kernel TLS did not take the connection (tls_offload kernel): %s",
                  c->url->host, c->url->port, tls_conn_ktls_why(c->tls));
    } else if (ret == 1) {
        on_connected(c); /* its send_kick sends our last flight (unless the engine did), then CONNECT */
    } else {
        send_kick(c);
    }
}

/* TCP is up on a trpcs:// URL: the TLS handshake, with a recv armed for the broker's flights. */
static void start_tls(trpc_client *c)
{
    assert(c->tls == NULL);
    assert(c->tls_ctx != NULL);
    c->phase = TRPC__PH_TLS;
    if (c->tls_plain == NULL)
        c->tls_plain = malloc(TRPC__RECV_BYTES);
    if (c->tls_plain == NULL || tls_conn_new(c->tls_ctx, server_name(c), &c->tls) != 0) {
        conn_down(c, -TRPC_E_NO_MEMORY, "TLS with %.100s:%s: out of memory", c->url->host, c->url->port);
        return;
    }
    c->tls_out.off = c->tls_out.len = 0;
    c->tls_heard = false;
    /* Before the first flight: the engine sends on the socket itself when it may, and hands the
     * kernel the keys if it has TLS (without, nothing changes and ktls_why says so). */
    if (c->opts.tls_offload != TRPC_TLS_OFFLOAD_USER && tls_conn_set_socket(c->tls, c->fd, ktls_idle, c)) {
        tls_conn_want_ktls_rx(c->tls); /* TLS 1.2 only; the recv below is the only one in flight */
    } else if (c->opts.tls_offload == TRPC_TLS_OFFLOAD_KERNEL) {
        /* A kernel without TLS: no use bothering the broker with a handshake. */
        conn_down(c, -TRPC_E_TLS, "TLS with %.100s:%s: kernel TLS did not take the connection (tls_offload kernel): %s",
                  c->url->host, c->url->port, tls_conn_ktls_why(c->tls));
        return;
    }
    c->last_recv_ms = trpc__now_ms();
    arm_recv(c);
    shake_tls(c);
}

/* A frame of our own making (PONG, keepalive PING): past the bound, sent with the next batch. */
static void send_own(trpc_client *c, const struct wire_out *o)
{
    bool wake = false;

    pthread_mutex_lock(&c->lock);
    (void)trpc__enqueue_locked(c, o, true, &wake);
    c->send_idle = false; /* we are the I/O side: no need to wake ourselves */
    pthread_mutex_unlock(&c->lock);
    send_kick(c);
}

static int backoff_ms(trpc_client *c)
{
    int64_t d = c->opts.reconnect_initial_ms;
    int i;

    for (i = 0; i < c->attempts && d < c->opts.reconnect_max_ms; i++)
        d *= 2;
    if (d > c->opts.reconnect_max_ms)
        d = c->opts.reconnect_max_ms;
    /* Up to 50% jitter, so that clients cut off together do not come back together. */
    return (int)(d - (int64_t)(rand_r(&c->rng) % (unsigned)(d / 2 + 1)));
}

/* Gives up for good: attempts exhausted (or the first connect failed everywhere). */
static void go_dead(trpc_client *c)
{
    c->phase = TRPC__PH_DEAD;
    pthread_mutex_lock(&c->lock);
    c->state = TRPC_STATE_CLOSED;
    c->first_done = true;
    c->fill.len = c->fill.off = 0;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    trpc__pend_fail_all(c, -TRPC_E_CLOSED);
    if (c->ever_connected) {
        trpc__notify_error(c, NULL, c->last_err, c->err_text);
        trpc__notify_state(c, TRPC_STATE_CLOSED);
    }
}

/* The socket is gone: decide on the next attempt. */
static void after_drain(trpc_client *c)
{
    int64_t now = trpc__now_ms();

    c->phase = TRPC__PH_WAIT;
    if (atomic_load(&c->stop))
        return;
    if (!c->ever_connected) {
        /* First connect: each URL once, back to back; trpc_connect reports the last error. */
        if (++c->attempts < (int)c->url_count) {
            c->phase_deadline_ms = now;
            return;
        }
        pthread_mutex_lock(&c->lock);
        c->first_err = c->last_err;
        pthread_mutex_unlock(&c->lock);
        go_dead(c);
        return;
    }
    if (!c->drain_was_open)
        c->attempts++;
    if (c->opts.reconnect_max >= 0 && c->attempts >= c->opts.reconnect_max) {
        go_dead(c);
        return;
    }
    c->phase_deadline_ms = now + backoff_ms(c);
}

static void drain_check(trpc_client *c)
{
    if (c->phase != TRPC__PH_DRAINING || c->ops_inflight > 0)
        return;
    close(c->fd);
    c->fd = -1;
    tls_conn_free(c->tls);
    c->tls = NULL;
    c->tls_out.off = c->tls_out.len = 0;
    if (c->reader_live)
        wire_reader_free(&c->reader);
    c->reader_live = false;
    c->out.off = c->out.len = 0;
    c->hs.off = c->hs.len = 0;
    c->recv_paused = false;
    after_drain(c);
}

/* An open session ended: what belonged to it fails, publishes stay buffered. */
static void session_lost(trpc_client *c)
{
    bool stopping = atomic_load(&c->stop);

    pthread_mutex_lock(&c->lock);
    c->state = stopping ? TRPC_STATE_CLOSED : TRPC_STATE_RECONNECTING;
    c->conn_gen++;
    c->client_id = 0;
    c->send_idle = false;
    c->holding = false;
    c->direct_fd = -1; /* before the socket is closed: drain_check closes it after this */
    c->out_unsent = 0;
    /* A frame cut by a short direct send never reached the broker whole: send it again whole. */
    c->fill.off = 0;
    trpc__keep_only_pubs(&c->fill);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    trpc__pend_fail_all(c, stopping ? -TRPC_E_CLOSED : -TRPC_E_CONNECTION_LOST);
    if (!stopping) {
        /* The broker's code when it said why (a fatal ERR: SLOW_CONSUMER, KICKED, ...), so the
         * application can tell being cut off from a network failure. */
        trpc__notify_error(c, NULL, c->last_err < 0 ? c->last_err : -TRPC_E_CONNECTION_LOST, c->err_text);
        trpc__notify_state(c, TRPC_STATE_RECONNECTING);
    }
}

static void conn_down(trpc_client *c, int err, const char *fmt, ...)
{
    va_list ap;

    if (c->phase != TRPC__PH_CONNECTING && c->phase != TRPC__PH_TLS && c->phase != TRPC__PH_HANDSHAKE && c->phase != TRPC__PH_OPEN)
        return;
    c->last_err = err;
    va_start(ap, fmt);
    vsnprintf(c->err_text, sizeof(c->err_text), fmt, ap);
    va_end(ap);
    c->drain_was_open = c->phase == TRPC__PH_OPEN;
    if (c->phase == TRPC__PH_CONNECTING) {
        struct io_uring_sqe *sqe = get_sqe(c);

        io_uring_prep_cancel64(sqe, UD_CONNECT, 0);
        io_uring_sqe_set_data64(sqe, UD_CANCEL);
    } else {
        shutdown(c->fd, SHUT_RDWR);
    }
    c->phase = TRPC__PH_DRAINING;
    if (c->drain_was_open) {
        c->attempts = 0;
        session_lost(c);
    }
    drain_check(c);
}

static void start_attempt(trpc_client *c)
{
    const struct trpc__url *u = &c->urls[c->url_next++ % c->url_count];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    struct io_uring_sqe *sqe;
    int one = 1, ret;

    assert(c->fd == -1);
    c->phase = TRPC__PH_CONNECTING; /* so that conn_down below records the failure */
    c->drain_was_open = false;
    c->phase_deadline_ms = trpc__now_ms() + c->opts.connect_timeout_ms;
    c->url = u;
    /* Before any connection: settings that cannot work fail the attempt without one. */
    if (u->tls && c->tls_ctx == NULL && (ret = make_tls_ctx(c)) != 0) {
        c->phase = TRPC__PH_DRAINING;
        c->last_err = ret;
        after_drain(c);
        return;
    }
    ret = getaddrinfo(u->host, u->port, &hints, &ai);
    if (ret != 0) {
        c->phase = TRPC__PH_DRAINING;
        c->last_err = -TRPC_E_IO;
        snprintf(c->err_text, sizeof(c->err_text), "resolve %.200s:%s: %s", u->host, u->port, gai_strerror(ret));
        after_drain(c);
        return;
    }
    memcpy(&c->addr, ai->ai_addr, ai->ai_addrlen);
    c->addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    c->fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd == -1) {
        c->phase = TRPC__PH_DRAINING;
        c->last_err = -TRPC_E_IO;
        snprintf(c->err_text, sizeof(c->err_text), "socket: %s", strerror(errno));
        after_drain(c);
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    snprintf(c->err_text, sizeof(c->err_text), "%.200s:%s", u->host, u->port); /* names the attempt */
    sqe = get_sqe(c);
    io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->addr, c->addr_len);
    io_uring_sqe_set_data64(sqe, UD_CONNECT);
    sqe->flags |= IOSQE_IO_LINK;
    c->connect_ts.tv_sec = c->opts.connect_timeout_ms / 1000;
    c->connect_ts.tv_nsec = (long)(c->opts.connect_timeout_ms % 1000) * 1000000L;
    sqe = get_sqe(c);
    io_uring_prep_link_timeout(sqe, &c->connect_ts, 0);
    io_uring_sqe_set_data64(sqe, UD_LINK_TIMEOUT);
    c->ops_inflight++;
}

/* TCP (and TLS) is up: CONNECT goes out alone; the buffered frames wait for CONNACK. */
static void on_connected(trpc_client *c)
{
    struct wire_header h[4];
    struct wire_out o = {.type = WIRE_CONNECT, .aux = wire_versions(WIRE_VERSION_MIN, WIRE_VERSION_MAX), .headers = h};
    struct wire_limits lim = {
        .max_frame = WIRE_FRAME_MAX_CEILING,
        .max_header_bytes = WIRE_FRAME_MAX_CEILING,
        .max_topic = WIRE_TOPIC_MAX_CEILING,
        .max_headers = UINT16_MAX,
    };
    ssize_t n;

#define ADD_HEADER(k, v)                                                                                                           \
    do {                                                                                                                           \
        if ((v) != NULL) {                                                                                                         \
            h[o.header_count].key = (k);                                                                                           \
            h[o.header_count].key_len = (uint16_t)strlen(k);                                                                       \
            h[o.header_count].val = (const uint8_t *)(v);                                                                          \
            h[o.header_count].val_len = (uint16_t)strlen(v);                                                                       \
            o.header_count++;                                                                                                      \
        }                                                                                                                          \
    } while (0)
    ADD_HEADER(":name", c->opts.name);
    ADD_HEADER(":user", c->opts.user);
    ADD_HEADER(":password", c->opts.password);
    ADD_HEADER(":token", c->opts.token);
#undef ADD_HEADER
    if (c->opts.no_echo)
        o.flags = WIRE_F_NO_ECHO;
    n = wire_encoded_len(&o);
    assert(n > 0);
    c->hs.off = c->hs.len = 0;
    if (trpc__buf_reserve(&c->hs, (size_t)n) != 0) {
        c->phase = TRPC__PH_HANDSHAKE;
        conn_down(c, -TRPC_E_NO_MEMORY, "CONNECT: out of memory");
        return;
    }
    n = wire_encode(c->hs.data, c->hs.cap, &o);
    assert(n > 0);
    c->hs.len = (size_t)n;
    wire_reader_init(&c->reader, &lim);
    c->reader_live = true;
    c->phase = TRPC__PH_HANDSHAKE;
    c->last_recv_ms = trpc__now_ms();
    if (c->tls == NULL) /* TLS armed its recv already */
        arm_recv(c);
    send_kick(c);
}

static void on_connack(trpc_client *c, const struct wire_frame *f)
{
    struct wire_connack ca;
    struct wire_limits lim;
    size_t dropped;
    int err = wire_connack_get(f->payload, f->payload_len, &ca);

    if (err) {
        conn_down(c, err, "CONNACK: %s", trpc_strerror(err));
        return;
    }
    if (f->aux < WIRE_VERSION_MIN || f->aux > WIRE_VERSION_MAX) {
        conn_down(c, -TRPC_E_UNSUPPORTED_VERSION, "CONNACK chose protocol version %u", f->aux);
        return;
    }
    /* Limits no broker may announce: under them even the frames the library must send (UNSUB,
     * PING, PONG) would be refused by the encoder, silently. */
    lim = (struct wire_limits){ca.max_frame, ca.max_header_bytes, ca.max_topic, ca.max_headers};
    if (!wire_limits_valid(&lim)) {
        conn_down(c, -TRPC_E_PROTOCOL, "CONNACK announced invalid limits: max_frame %u, max_header_bytes %u, max_topic %u",
                  ca.max_frame, ca.max_header_bytes, (unsigned)ca.max_topic);
        return;
    }
    c->keepalive_ms = ca.keepalive_ms;
    c->phase = TRPC__PH_OPEN;
    c->ever_connected = true;
    c->attempts = 0;
    pthread_mutex_lock(&c->lock);
    c->version = (uint8_t)f->aux;
    c->limits = lim;
    c->client_id = ca.client_id;
    /* Publishes buffered under an earlier broker's limits: one above this broker's would end the
     * session (the broker refuses it as fatal) at every attempt. They go, and the application hears
     * how many. */
    dropped = trpc__drop_over_limits(&c->fill, &lim);
    c->conn_gen++;
    c->state = TRPC_STATE_CONNECTED;
    c->first_done = true;
    trpc__resubscribe_locked(c);
    /* Never on user-space TLS: the caller would send plaintext. Under kernel TLS the kernel
     * encrypts it, and the ring's sends and direct ones take turns as over TCP. */
    c->direct_fd = c->tls == NULL || ktls_tx(c) ? c->fd : -1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (dropped > 0) {
        char text[160];

        snprintf(text, sizeof(text), "%zu buffered publishes dropped: above the broker's limits (max_frame %u, max_topic %u)",
                 dropped, lim.max_frame, (unsigned)lim.max_topic);
        trpc__notify_error(c, NULL, -TRPC_E_FRAME_TOO_LARGE, text);
    }
    trpc__notify_state(c, TRPC_STATE_CONNECTED);
    send_kick(c);
}

/*
 * The error a broker's code stands for (the aux of an ERR, or of a REP with WIRE_F_ERROR). Codes
 * from TRPC_E_INVALID_ARGUMENT (900) up are the library's own and never travel (errors.h), and
 * one above INT_MAX would turn into a positive return: a broker that sends one breaks the
 * protocol, and every caller hears PROTOCOL instead. Codes below 900 that this library does not
 * know pass as they are: a newer broker may have more.
 */
static int broker_err(uint32_t aux)
{
    if (aux == 0 || aux >= TRPC_E_INVALID_ARGUMENT)
        return -TRPC_E_PROTOCOL;
    return -(int)aux;
}

static void on_err(trpc_client *c, const struct wire_frame *f)
{
    char text[200], code[48] = "";
    int err = broker_err(f->aux);
    trpc_sub *sub = NULL;

    if (err == -TRPC_E_PROTOCOL && f->aux != TRPC_E_PROTOCOL)
        snprintf(code, sizeof(code), " (the broker sent error code %u)", f->aux);
    /* The code's text, then the broker's details when it sent any ("broker: " is added for a
     * fatal one), so that each reads once. */
    if (f->payload_len > 0)
        snprintf(text, sizeof(text), "%s%s: %.*s", trpc_strerror(err), code, (int)f->payload_len, (const char *)f->payload);
    else
        snprintf(text, sizeof(text), "%s%s", trpc_strerror(err), code);
    if (f->flags & WIRE_F_FATAL || c->phase == TRPC__PH_HANDSHAKE) {
        conn_down(c, err, "broker: %s", text);
        return;
    }
    if (f->id != 0) {
        sub = trpc__sub_find(c, f->id);
        if (sub == NULL) {
            /* a REQ or an acknowledged PUB the broker refused */
            trpc__pend_refused(c, f->id, TRPC__ANSWER_ANY, err, (const char *)f->payload, f->payload_len);
            return;
        }
    }
    trpc__notify_error(c, sub, err, text);
    if (sub != NULL)
        trpc__sub_put(sub);
}

static void on_rep(trpc_client *c, const struct wire_frame *f)
{
    trpc_msg *m = NULL;
    int err = 0;

    if (f->flags & WIRE_F_ERROR) {
        if (f->payload_len > 0) { /* the broker's reason (a stream refused a durable request) */
            trpc__pend_refused(c, f->id, TRPC__ANSWER_REP, broker_err(f->aux), (const char *)f->payload, f->payload_len);
            return;
        }
        err = broker_err(f->aux);
    } else {
        m = trpc__msg_from_frame(c, f);
        if (m == NULL)
            err = -TRPC_E_NO_MEMORY;
        else if (f->flags & WIRE_F_APP_ERROR) {
            m->error_code = f->aux;
            err = -TRPC_E_RESPONDER_ERROR;
        }
    }
    trpc__pend_complete(c, f->id, err, m);
}

static void on_msg(trpc_client *c, const struct wire_frame *f)
{
    trpc_sub *sub = c->batching ? trpc__sub_find_batched(c, f->id) : trpc__sub_find(c, f->id);
    trpc_msg *m;

    if (sub == NULL) {
        /* Unsubscribed while the broker was sending. A request would wait for its deadline: say
         * no responder took it, so that the requester hears at once. */
        if ((f->flags & WIRE_F_REQUEST) && f->seq != 0) {
            struct wire_out o = {.type = WIRE_REP, .flags = WIRE_F_ERROR, .aux = TRPC_E_NO_RESPONDERS, .seq = f->seq};

            send_own(c, &o);
        }
        return;
    }
    m = trpc__msg_from_frame(c, f);
    if (m == NULL) {
        trpc__notify_error(c, sub, -TRPC_E_NO_MEMORY, "message dropped: out of memory");
        if (c->batching)
            trpc__sub_batch_drop(c, sub);
        else
            trpc__sub_put(sub);
        return;
    }
    m->sub = sub; /* with sub_find's reference, dropped once dispatched */
    m->sub_id = sub->id;
    m->conn_gen = c->conn_gen;
    trpc__deliver(c, m);
}

static void on_frame(trpc_client *c, const struct wire_frame *f)
{
    /* A PONG or a reply takes effect after the MSGs received before it reached their dispatchers
     * (trpc_flush's promise): the batch of this receive goes first. */
    if (c->batching && f->type != WIRE_MSG)
        trpc__deliver_flush(c);
    if (c->phase == TRPC__PH_HANDSHAKE && f->type != WIRE_CONNACK && f->type != WIRE_ERR) {
        conn_down(c, -TRPC_E_PROTOCOL, "broker sent %s before CONNACK", wire_type_name(f->type));
        return;
    }
    switch (f->type) {
    case WIRE_CONNACK:
        if (c->phase != TRPC__PH_HANDSHAKE)
            conn_down(c, -TRPC_E_PROTOCOL, "second CONNACK");
        else
            on_connack(c, f);
        break;
    case WIRE_PING: {
        struct wire_out o = {.type = WIRE_PONG, .id = f->id};
        send_own(c, &o);
        break;
    }
    case WIRE_PONG:
        pthread_mutex_lock(&c->lock);
        for (struct trpc__flush_wait *w = c->flushing; w != NULL; w = w->next) {
            if (w->id == f->id) {
                w->done = true;
                pthread_cond_broadcast(&c->cond);
                break;
            }
        }
        pthread_mutex_unlock(&c->lock);
        break;
    case WIRE_MSG:
        on_msg(c, f);
        break;
    case WIRE_REP:
        on_rep(c, f);
        break;
    case WIRE_ERR:
        on_err(c, f);
        break;
    case WIRE_PUBACK:
        trpc__pend_acked(c, f->id, f->seq); /* none waiting: a publish that gave up (timeout) */
        break;
    default:
        conn_down(c, -TRPC_E_UNEXPECTED_FRAME, "broker sent %s", wire_type_name(f->type));
        break;
    }
}

/* The start of a TLS record (a handshake message or an alert, TLS 1.0 to 1.3) where a CONNACK
 * should be: read as a frame it would be 66 KB or more, which no CONNACK or ERR is. */
static bool looks_like_tls(const uint8_t *b, size_t len)
{
    return len >= 3 && (b[0] == 21 || b[0] == 22) && b[1] == 3 && b[2] >= 1 && b[2] <= 4;
}

/* Frames out of len bytes of the broker's stream: false when the connection went down. */
static bool take_frames(trpc_client *c, const uint8_t *buf, size_t len)
{
    struct wire_frame f;
    int n;

    wire_reader_feed(&c->reader, buf, len);
    while ((n = wire_reader_next(&c->reader, &f)) == 1) {
        on_frame(c, &f);
        if (c->phase != TRPC__PH_OPEN && c->phase != TRPC__PH_HANDSHAKE)
            return false;
    }
    if (n < 0) {
        conn_down(c, n, "bad frame from the broker: %s", trpc_strerror(n));
        return false;
    }
    return true;
}

/* Ciphertext received: the TLS handshake moves on, and what plaintext there is goes to the wire
 * reader, a buffer at a time. False when the connection went down. */
static bool recv_tls(trpc_client *c, size_t len)
{
    struct wire_limits lim;
    struct wire_frame f;
    ssize_t n;

    if (ktls_rx(c)) {
        /* The receive keys went in before the broker's Finished came (a record that fails the
         * recv): these bytes are data the kernel decrypted, sent before the handshake was over. */
        conn_down(c, -TRPC_E_TLS, "TLS with %.100s:%s: the broker sent data before the handshake was over", c->url->host,
                  c->url->port);
        return false;
    }
    wire_limits_default(&lim);
    if (!c->tls_heard && wire_decode(c->rbuf, len, &lim, &f) > 0 && f.type == WIRE_ERR) {
        /* A plaintext broker's refusal of our ClientHello: its words say more than the engine's. */
        conn_down(c, -TRPC_E_TLS, "TLS with %.100s:%s: not TLS: the broker answered in plaintext TRPC: %s: %.*s", c->url->host,
                  c->url->port, trpc_strerror(broker_err(f.aux)), (int)(f.payload_len < 200 ? f.payload_len : 200),
                  f.payload != NULL ? (const char *)f.payload : "");
        return false;
    }
    c->tls_heard = true;
    /* Read where it is: on_recv takes back what was not read before the next recv (unlend). */
    if (tls_conn_lend(c->tls, c->rbuf, len) != 0) {
        conn_down(c, -TRPC_E_NO_MEMORY, "TLS: out of memory");
        return false;
    }
    if (c->phase == TRPC__PH_TLS) {
        shake_tls(c);
        if (c->phase == TRPC__PH_TLS)
            return true;
        if (c->phase != TRPC__PH_HANDSHAKE)
            return false;
        if (ktls_rx(c))
            return true; /* the engine holds nothing more (shake_tls): the kernel has the rest */
        /* Done: what came with the broker's last flight (session tickets) is read below. */
    }
    while ((n = tls_conn_read(c->tls, c->tls_plain, TRPC__RECV_BYTES)) > 0)
        if (!take_frames(c, c->tls_plain, (size_t)n))
            return false;
    if (n == -EPIPE) {
        conn_down(c, -TRPC_E_CONNECTION_LOST, "connection closed by the broker (TLS close_notify)");
        return false;
    }
    if (n < 0) {
        fail_tls(c);
        return false;
    }
    send_kick(c); /* what TLS answered, if anything */
    /* The kick may have failed the connection (and, with nothing in flight, closed it). */
    return c->phase == TRPC__PH_HANDSHAKE || c->phase == TRPC__PH_OPEN;
}

/*
 * A recv that failed under kernel TLS receive: EIO for a record that is not data, which only the
 * engine can read (the broker's Finished when the keys went in before it, its close_notify, an
 * alert), EBADMSG for one that failed its integrity check, EMSGSIZE for one too long.
 */
static void recv_failed_ktls(trpc_client *c, int res)
{
    int ret = tls_conn_ktls_recv_failed(c->tls, res);

    if (ret == -EPIPE) {
        /* As a close_notify read in user space, or the end of the stream. */
        if (c->phase == TRPC__PH_TLS)
            conn_down(c, -TRPC_E_TLS, "TLS with %.100s:%s: the server closed the connection during the handshake", c->url->host,
                      c->url->port);
        else
            conn_down(c, -TRPC_E_CONNECTION_LOST, "connection closed by the broker (TLS close_notify)");
        return;
    }
    if (ret < 0) {
        fail_tls(c);
        return;
    }
    c->last_recv_ms = trpc__now_ms();
    if (c->phase == TRPC__PH_TLS)
        shake_tls(c); /* the record was the broker's Finished, fed to the engine */
    if (c->phase == TRPC__PH_TLS || c->phase == TRPC__PH_HANDSHAKE || c->phase == TRPC__PH_OPEN)
        arm_recv(c);
}

static void on_recv(trpc_client *c, int res)
{
    bool good;

    c->recv_armed = false;
    c->ops_inflight--;
    if (c->phase == TRPC__PH_DRAINING) {
        drain_check(c);
        return;
    }
    if ((res == -EIO || res == -EBADMSG || res == -EMSGSIZE) && ktls_rx(c)) {
        recv_failed_ktls(c, res);
        return;
    }
    if (res <= 0 && c->phase == TRPC__PH_TLS) {
        /* A broker that refuses us without an alert, or a plaintext one that gave up on our
         * ClientHello. */
        conn_down(c, res == 0 ? -TRPC_E_TLS : -TRPC_E_IO, "TLS with %.100s:%s: %s", c->url->host, c->url->port,
                  res == 0 ? "the server closed the connection during the handshake" : strerror(-res));
        return;
    }
    if (res == 0 && c->phase == TRPC__PH_HANDSHAKE && c->tls == NULL) {
        /* What a TLS server does with our CONNECT, as often as not. */
        conn_down(c, -TRPC_E_CONNECTION_LOST,
                  "%.200s:%s: connection closed by the broker before CONNACK (a TLS port? use trpcs://)", c->url->host,
                  c->url->port);
        return;
    }
    if (res <= 0) {
        conn_down(c, res == 0 ? -TRPC_E_CONNECTION_LOST : -TRPC_E_IO, "%s",
                  res == 0 ? "connection closed by the broker" : strerror(-res));
        return;
    }
    if (c->phase == TRPC__PH_HANDSHAKE && c->tls == NULL && wire_reader_pending(&c->reader) == 0 &&
        looks_like_tls(c->rbuf, (size_t)res)) {
        conn_down(c, -TRPC_E_PROTOCOL, "%.200s:%s answered in TLS: use trpcs://", c->url->host, c->url->port);
        return;
    }
    c->last_recv_ms = trpc__now_ms();
    /* The MSGs of this receive go to their dispatchers together, after it (dispatch.c). */
    c->batching = c->disp_count > 0;
    /* Kernel TLS receive once the handshake is done: plaintext, as over TCP. */
    if (c->tls != NULL && !(ktls_rx(c) && c->phase != TRPC__PH_TLS)) {
        good = recv_tls(c, (size_t)res);
        /* (A connection that went down has no tls_conn left, or a new one with nothing lent.) */
        if (c->tls != NULL && tls_conn_unlend(c->tls) != 0 && good) {
            conn_down(c, -TRPC_E_NO_MEMORY, "TLS: out of memory");
            good = false;
        }
    } else {
        good = take_frames(c, c->rbuf, (size_t)res);
    }
    c->batching = false;
    trpc__deliver_flush(c);
    if (good)
        recv_next(c);
}

static void on_send(trpc_client *c, int res)
{
    struct trpc__buf *b = c->sending;

    c->send_armed = false;
    c->sending = NULL;
    c->ops_inflight--;
    if (c->phase == TRPC__PH_DRAINING) {
        drain_check(c);
        return;
    }
    if (res < 0) {
        conn_down(c, -TRPC_E_IO, "send: %s", strerror(-res));
        return;
    }
    assert(b != NULL);
    b->off += (size_t)res;
    assert(b->off <= b->len);
    if (b == &c->out && b->off < b->len) {
        /* The socket took part of the batch: that part is no longer buffered, though the rest
         * still waits for room. Counting the whole batch until it is done refused publishes
         * with most of the bound already sent. */
        pthread_mutex_lock(&c->lock);
        c->out_unsent = b->len - b->off;
        pthread_mutex_unlock(&c->lock);
    } else if (b == &c->tls_out && b->off < b->len && c->phase == TRPC__PH_OPEN) {
        pthread_mutex_lock(&c->lock);
        c->out_unsent = c->out.len - c->out.off + b->len - b->off;
        pthread_mutex_unlock(&c->lock);
    }
    /* Not over user-space TLS: its I/O thread encrypts each batch, and holding the stream only
     * stopped that work from overlapping the publisher's (TLS pub256 0.96 in docs/performance.md). */
    kick(c, b == &c->out ? HOLD_START : HOLD_KEEP);
    if (c->recv_paused && c->phase == TRPC__PH_OPEN && (!c->send_armed || !send_backlogged(c))) {
        c->recv_paused = false;
        arm_recv(c);
    }
}

static void on_connect(trpc_client *c, int res)
{
    c->ops_inflight--;
    if (c->phase == TRPC__PH_DRAINING) {
        drain_check(c);
        return;
    }
    assert(c->phase == TRPC__PH_CONNECTING);
    if (res < 0) {
        char where[sizeof(c->err_text)];

        snprintf(where, sizeof(where), "%s", c->err_text);
        conn_down(c, res == -ECANCELED ? -TRPC_E_TIMEOUT : -TRPC_E_IO, "connect %s: %s", where,
                  res == -ECANCELED ? "timed out" : strerror(-res));
        return;
    }
    if (c->url->tls)
        start_tls(c);
    else
        on_connected(c);
}

static void on_tick(trpc_client *c)
{
    int64_t now = trpc__now_ms();

    switch (c->phase) {
    case TRPC__PH_WAIT:
        if (!atomic_load(&c->stop) && now >= c->phase_deadline_ms)
            start_attempt(c);
        break;
    case TRPC__PH_CONNECTING:
    case TRPC__PH_HANDSHAKE:
        if (now >= c->phase_deadline_ms)
            conn_down(c, -TRPC_E_TIMEOUT, "%.200s:%s: no CONNACK within %d ms", c->url->host, c->url->port,
                      c->opts.connect_timeout_ms);
        break;
    case TRPC__PH_TLS: /* the same deadline: connect, TLS and CONNACK together */
        if (now >= c->phase_deadline_ms)
            conn_down(c, -TRPC_E_TIMEOUT, "TLS with %.100s:%s: handshake not done within %d ms", c->url->host, c->url->port,
                      c->opts.connect_timeout_ms);
        break;
    case TRPC__PH_OPEN:
        if (c->keepalive_ms && now - c->last_recv_ms > 2 * (int64_t)c->keepalive_ms + 1000) {
            if (c->recv_paused) /* not silent: we stopped reading, as it stopped reading us */
                conn_down(c, -TRPC_E_CONNECTION_LOST,
                          "broker read nothing for %lld ms: receiving paused, send buffer past its bound",
                          (long long)(now - c->last_recv_ms));
            else
                conn_down(c, -TRPC_E_CONNECTION_LOST, "broker silent for %lld ms", (long long)(now - c->last_recv_ms));
            break;
        }
        /* PING when we sent nothing (the broker's idle rule), and when we heard nothing, so that a
         * dead broker shows up even while we publish without pause. */
        if (c->keepalive_ms && now - c->last_ping_ms >= c->keepalive_ms &&
            (now - c->last_send_ms >= c->keepalive_ms || now - c->last_recv_ms >= c->keepalive_ms)) {
            struct wire_out o = {.type = WIRE_PING};
            c->last_ping_ms = now;
            send_own(c, &o);
        }
        break;
    default:
        break;
    }
    trpc__pend_expire(c, now);
}

static void handle_cqe(trpc_client *c, uint64_t ud, int res)
{
    switch (ud) {
    case UD_RECV:
        on_recv(c, res);
        break;
    case UD_SEND:
        on_send(c, res);
        break;
    case UD_CONNECT:
        on_connect(c, res);
        break;
    case UD_WAKE:
        c->wake_armed = false;
        send_kick(c);
        break;
    case UD_TICK:
        c->tick_armed = false;
        on_tick(c);
        break;
    case UD_HOLD:
        c->hold_armed = false;
        kick(c, HOLD_END);
        break;
    default: /* link timeouts and cancels: their target reports the outcome */
        break;
    }
}

/*
 * One round: arms the tick and the wake read, submits, waits up to wait_ms for a completion (0:
 * not at all; the tick bounds every wait), and handles every completion there is.
 */
int trpc__io_run(trpc_client *c, int wait_ms)
{
    struct io_uring_cqe *cqe;
    struct io_uring_sqe *sqe;
    unsigned handled = 0;
    int ret, sleep_ms;

    if (!c->tick_armed) {
        sqe = get_sqe(c);
        io_uring_prep_timeout(sqe, &c->tick_ts, 0, 0);
        io_uring_sqe_set_data64(sqe, UD_TICK);
        c->tick_armed = true;
    }
    if (!c->wake_armed) {
        sqe = get_sqe(c);
        io_uring_prep_read(sqe, c->wake_fd, &c->wake_val, sizeof(c->wake_val), 0);
        io_uring_sqe_set_data64(sqe, UD_WAKE);
        c->wake_armed = true;
    }
    /* Submit and sleep in one io_uring_enter: one system call per wake-up instead of two. Under
     * valgrind, which holds its lock across io_uring_enter (every other thread would stop), sleep
     * in poll(2) on the ring instead. The tick bounds either wait. */
    sleep_ms = wait_ms < 0 ? 4 * TRPC__TICK_MS : wait_ms;
    if (io_uring_cq_ready(&c->ring) > 0)
        sleep_ms = 0;
    if (sleep_ms > 0 && !c->wait_in_poll) {
        struct __kernel_timespec ts = {.tv_sec = sleep_ms / 1000, .tv_nsec = (long)(sleep_ms % 1000) * 1000000L};

        ret = io_uring_submit_and_wait_timeout(&c->ring, &cqe, 1, &ts, NULL);
        if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
            return trpc__fail(-TRPC_E_IO, "io_uring_enter: %s", strerror(-ret));
    } else {
        ret = io_uring_submit(&c->ring);
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
            return trpc__fail(-TRPC_E_IO, "io_uring_submit: %s", strerror(-ret));
        if (sleep_ms > 0) {
            struct pollfd pfd = {.fd = c->ring.ring_fd, .events = POLLIN};

            (void)poll(&pfd, 1, sleep_ms);
        }
    }
    /* Handle one at a time: a handler may queue new operations, and callbacks may run. */
    while (io_uring_peek_cqe(&c->ring, &cqe) == 0) {
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&c->ring, cqe);
        handle_cqe(c, ud, res);
        handled++;
    }
    /* What the handlers queued: the I/O thread's next round submits it with its wait, in one
     * io_uring_enter. An external loop polls the ring's descriptor between rounds, and poll(2)
     * submits nothing: submit now. */
    if (handled > 0 && (c->opts.external || c->wait_in_poll))
        io_uring_submit(&c->ring);
    return 0;
}

void *trpc__io_thread(void *arg)
{
    trpc_client *c = arg;

    pthread_setname_np(pthread_self(), "trpc-io"); /* an application's top -H tells ours apart */
    /* Wait until trpc_connect has stored io_tid: callbacks compare against it. */
    pthread_mutex_lock(&c->lock);
    while (!c->io_go)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    start_attempt(c);
    while (!atomic_load(&c->stop))
        trpc__io_run(c, -1);
    trpc__io_shutdown(c);
    return NULL;
}

/*
 * A clean end of a TLS session: close_notify says the end is ours, which a broker can tell from a
 * cut connection. It must come after all that was sent, and under kernel TLS the engine writes it
 * to the socket itself only when ktls_idle says nothing of ours is on its way: direct sends stop,
 * and the sends in flight get a moment to complete first.
 */
static void close_tls(trpc_client *c)
{
    int64_t end = trpc__now_ms() + TLS_CLOSE_WAIT_MS;

    pthread_mutex_lock(&c->lock);
    c->direct_fd = -1;
    pthread_mutex_unlock(&c->lock);
    while (c->phase == TRPC__PH_OPEN && !ktls_idle(c) && trpc__now_ms() < end)
        trpc__io_run(c, 10);
    if (c->phase != TRPC__PH_OPEN)
        return;
    tls_conn_close_notify(c->tls);
    send_tls_now(c); /* user-space TLS: the alert is ciphertext waiting in the engine */
}

/* Closes the connection for good and waits until no operation refers to the socket. */
void trpc__io_shutdown(trpc_client *c)
{
    atomic_store(&c->stop, true);
    if (c->tls != NULL && c->phase == TRPC__PH_OPEN)
        close_tls(c);
    if (c->fd >= 0 && c->phase != TRPC__PH_DRAINING)
        conn_down(c, -TRPC_E_CLOSED, "client closed");
    while (c->fd >= 0)
        trpc__io_run(c, -1);
    if (c->phase != TRPC__PH_DEAD) {
        c->phase = TRPC__PH_DEAD;
        pthread_mutex_lock(&c->lock);
        c->state = TRPC_STATE_CLOSED;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        trpc__pend_fail_all(c, -TRPC_E_CLOSED);
        if (c->ever_connected)
            trpc__notify_state(c, TRPC_STATE_CLOSED);
    }
}

void trpc__io_start_first(trpc_client *c)
{
    start_attempt(c);
}

/* External-loop mode's flush at close: run the ring until the send buffer is handed to the kernel. */
void trpc__io_drain(trpc_client *c, int timeout_ms)
{
    int64_t end = trpc__now_ms() + timeout_ms;

    while (c->phase == TRPC__PH_OPEN && trpc__now_ms() < end) {
        bool busy;

        pthread_mutex_lock(&c->lock);
        busy = c->fill.len > 0 || !c->send_idle;
        pthread_mutex_unlock(&c->lock);
        if (!busy)
            break;
        trpc__io_run(c, 10);
    }
}
