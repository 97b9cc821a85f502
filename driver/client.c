/*
 * client: trpc_connect/trpc_close, flush, state queries, the external-loop entry points and
 * publishing. See client.h for the threads and locks.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/client.h"
#include "driver/topic.h"

/* Absolute CLOCK_MONOTONIC time timeout_ms from now, for pthread_cond_timedwait. */
void trpc__deadline_ts(struct timespec *ts, int64_t timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(timeout_ms / 1000);
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

void trpc__cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

static void client_free(trpc_client *c)
{
    trpc__subs_free(c);
    trpc__msg_cache_close(c);
    trpc__buf_free(&c->fill);
    trpc__options_release(&c->opts);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->pend_lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

static trpc_client *client_new(const char *urls, const trpc_options *opts, int *err)
{
    trpc_client *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        *err = trpc__fail(-TRPC_E_NO_MEMORY, "trpc_connect: out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->pend_lock, NULL);
    trpc__cond_init(&c->cond);
    trpc__options_defaults(&c->opts);
    if (opts != NULL && trpc__options_copy(&c->opts, opts) != 0) {
        *err = trpc__fail(-TRPC_E_NO_MEMORY, "trpc_connect: out of memory");
        goto out_free_client;
    }
    *err = trpc__parse_urls(c, urls);
    if (*err)
        goto out_free_client;
    wire_limits_default(&c->limits);
    c->state = TRPC_STATE_CONNECTING;
    atomic_init(&c->id_next, 1);
    atomic_init(&c->stop, false);
    c->fd = -1;
    c->direct_fd = -1;
    return c;

out_free_client:
    client_free(c);
    return NULL;
}

/* Waits for the first connect to finish; external-loop mode drives the ring meanwhile. */
static int wait_first(trpc_client *c)
{
    int err;

    if (c->opts.external) {
        trpc__io_start_first(c);
        for (;;) {
            pthread_mutex_lock(&c->lock);
            bool done = c->first_done;
            pthread_mutex_unlock(&c->lock);
            if (done)
                break;
            trpc__io_run(c, -1);
        }
    }
    pthread_mutex_lock(&c->lock);
    while (!c->first_done)
        pthread_cond_wait(&c->cond, &c->lock);
    err = c->state == TRPC_STATE_CONNECTED ? 0 : c->first_err;
    pthread_mutex_unlock(&c->lock);
    if (err)
        trpc__fail(err, "%s", c->err_text);
    return err;
}

int trpc_connect(trpc_client **out, const char *urls, const trpc_options *opts)
{
    trpc_client *c;
    int err;

    trpc__clear_error();
    if (out == NULL || urls == NULL)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_connect: NULL argument");
    c = client_new(urls, opts, &err);
    if (c == NULL)
        return err;
    err = trpc__io_init(c);
    if (err)
        goto out_free_client;
    err = trpc__disp_start(c);
    if (err)
        goto out_io_fini;
    if (!c->opts.external) {
        c->has_io_thread = true;
        if (pthread_create(&c->io_tid, NULL, trpc__io_thread, c) != 0) {
            c->has_io_thread = false;
            err = trpc__fail(-TRPC_E_NO_MEMORY, "trpc_connect: cannot start the I/O thread");
            goto out_disp_stop;
        }
        pthread_mutex_lock(&c->lock);
        c->io_go = true;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
    }
    err = wait_first(c);
    if (err)
        goto out_stop_io;
    *out = c;
    return 0;

out_stop_io:
    atomic_store(&c->stop, true);
    if (c->has_io_thread) {
        trpc__wake(c);
        pthread_join(c->io_tid, NULL);
    } else {
        trpc__io_shutdown(c);
    }
out_disp_stop:
    trpc__disp_stop(c);
out_io_fini:
    trpc__io_fini(c);
out_free_client:
    client_free(c);
    return err;
}

void trpc_close(trpc_client *c)
{
    trpc__clear_error();
    if (c == NULL)
        return;
    if (trpc__on_callback_thread(c) || (c->has_io_thread && pthread_equal(pthread_self(), c->io_tid))) {
        trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_close from one of the client's own callbacks: ignored");
        return;
    }
    if (c->opts.external)
        trpc__io_drain(c, c->opts.connect_timeout_ms);
    else if (trpc_client_state(c) == TRPC_STATE_CONNECTED)
        (void)trpc_flush(c, c->opts.connect_timeout_ms);
    atomic_store(&c->stop, true);
    if (c->has_io_thread) {
        trpc__wake(c);
        pthread_join(c->io_tid, NULL);
    } else {
        trpc__io_shutdown(c);
    }
    /* Everything pending failed with CLOSED when the I/O side stopped, and every trpc_flush was
     * woken: the calls still inside are on their way out, but touch c's locks as they go. */
    pthread_mutex_lock(&c->lock);
    while (c->api_sleepers > 0)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    trpc__disp_stop(c);
    trpc__io_fini(c);
    client_free(c);
}

void trpc__api_enter(trpc_client *c)
{
    pthread_mutex_lock(&c->lock);
    c->api_sleepers++;
    pthread_mutex_unlock(&c->lock);
}

void trpc__api_leave(trpc_client *c)
{
    pthread_mutex_lock(&c->lock);
    assert(c->api_sleepers > 0);
    if (--c->api_sleepers == 0)
        pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* Whether the caller is the I/O side: the I/O thread, or a callback it runs inline (TRPC_DISPATCH_IO
 * or the external loop, which has no I/O thread). A call that waits for the I/O side would wait
 * for itself there. */
bool trpc__on_io_side(const trpc_client *c)
{
    return (c->has_io_thread && pthread_equal(pthread_self(), c->io_tid)) ||
           ((c->opts.external || c->opts.dispatch == TRPC_DISPATCH_IO) && trpc__on_callback_thread(c));
}

int trpc_flush(trpc_client *c, int timeout_ms)
{
    struct wire_out o = {.type = WIRE_PING};
    struct trpc__flush_wait w = {0}, **pp;
    struct timespec ts;
    uint64_t gen;
    bool wake = false;
    int err = 0;

    trpc__clear_error();
    if (c == NULL || timeout_ms < 0)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_flush: NULL client or negative timeout");
    if (trpc__on_io_side(c))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT,
                          "trpc_flush on the I/O side (its thread, or an inline callback) would wait for itself");
    trpc__deadline_ts(&ts, timeout_ms);
    pthread_mutex_lock(&c->lock);
    if (c->state != TRPC_STATE_CONNECTED) {
        err = c->state == TRPC_STATE_CLOSED ? -TRPC_E_CLOSED : -TRPC_E_CONNECTION_LOST;
        pthread_mutex_unlock(&c->lock);
        return trpc__fail(err, "trpc_flush: not connected");
    }
    o.id = ++c->ping_next;
    w.id = o.id;
    c->api_sleepers++; /* from here on trpc_close waits for this call to leave */
    gen = c->conn_gen;
    err = trpc__enqueue_locked(c, &o, true, &wake);
    if (err != 0) {
        c->api_sleepers--;
        pthread_mutex_unlock(&c->lock);
        return err;
    }
    w.next = c->flushing;
    c->flushing = &w;
    if (wake) {
        pthread_mutex_unlock(&c->lock);
        trpc__wake(c);
        pthread_mutex_lock(&c->lock);
    }
    while (err == 0 && !w.done) {
        if (c->conn_gen != gen) {
            err = trpc__fail(-TRPC_E_CONNECTION_LOST, "trpc_flush: connection lost");
            break;
        }
        if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT && !w.done)
            err = trpc__fail(-TRPC_E_TIMEOUT, "trpc_flush: no PONG within %d ms", timeout_ms);
    }
    for (pp = &c->flushing; *pp != &w; pp = &(*pp)->next)
        assert(*pp != NULL);
    *pp = w.next;
    if (--c->api_sleepers == 0)
        pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return err;
}

trpc_state trpc_client_state(const trpc_client *cc)
{
    trpc_client *c = (trpc_client *)cc;
    trpc_state st;

    if (c == NULL)
        return TRPC_STATE_CLOSED;
    pthread_mutex_lock(&c->lock);
    st = c->state;
    pthread_mutex_unlock(&c->lock);
    return st;
}

uint64_t trpc_client_id(const trpc_client *cc)
{
    trpc_client *c = (trpc_client *)cc;
    uint64_t id;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    id = c->client_id;
    pthread_mutex_unlock(&c->lock);
    return id;
}

int trpc_client_fd(const trpc_client *c)
{
    trpc__clear_error();
    if (c == NULL || !c->opts.external)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_client_fd: only for a client in external-loop mode");
    return c->ring.ring_fd;
}

int trpc_client_process(trpc_client *c)
{
    trpc__clear_error();
    if (c == NULL || !c->opts.external)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_client_process: only for a client in external-loop mode");
    if (trpc__on_callback_thread(c))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_client_process from one of its own callbacks");
    if (c->phase == TRPC__PH_DEAD) {
        /* Completions still due (reply callbacks of failed requests) run once more. */
        (void)trpc__io_run(c, 0);
        return trpc__fail(-TRPC_E_CLOSED, "client is closed: %s", c->err_text);
    }
    return trpc__io_run(c, 0);
}

/* Keys starting with ':' are the protocol's; callers may not send them. */
int trpc__hdrs_in(struct trpc__hdrs *hs, const char *fn, const trpc_header *in, size_t n)
{
    size_t i;

    hs->h = hs->stack;
    hs->count = 0;
    hs->bytes = 0;
    if (in == NULL && n > 0)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "%s: NULL headers", fn);
    if (n > UINT16_MAX)
        return trpc__fail(-TRPC_E_TOO_MANY_HEADERS, "%s: %zu headers", fn, n);
    if (n > TRPC__STACK_HEADERS) {
        hs->h = malloc(n * sizeof(*hs->h));
        if (hs->h == NULL) {
            hs->h = hs->stack;
            return trpc__fail(-TRPC_E_NO_MEMORY, "%s: out of memory", fn);
        }
    }
    for (i = 0; i < n; i++) {
        size_t kl = in[i].key ? strlen(in[i].key) : 0;

        if (kl == 0 || kl > 255 || in[i].key[0] == ':' || in[i].value_len > WIRE_HEADER_VALUE_MAX ||
            (in[i].value == NULL && in[i].value_len > 0))
            return trpc__fail(-TRPC_E_BAD_HEADER,
                              "%s: header %zu: key must be 1..255 bytes not starting with ':', value at most 65535", fn, i);
        hs->h[i].key = in[i].key;
        hs->h[i].key_len = (uint16_t)kl;
        hs->h[i].val = in[i].value;
        hs->h[i].val_len = (uint16_t)in[i].value_len;
        hs->bytes += 4 + kl + in[i].value_len;
    }
    hs->count = n;
    return 0;
}

void trpc__hdrs_release(struct trpc__hdrs *hs)
{
    if (hs->h != hs->stack)
        free(hs->h);
    hs->h = hs->stack;
}

int trpc__out_prepare(struct wire_out *o, struct trpc__hdrs *hs, const char *fn, const char *topic, const trpc_header *headers,
                      size_t header_count, const void *data, size_t len)
{
    int err;

    hs->h = hs->stack;
    if (topic == NULL || (data == NULL && len > 0))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "%s: NULL topic or data", fn);
    err = trpc__hdrs_in(hs, fn, headers, header_count);
    if (err)
        return err;
    o->topic = topic;
    o->topic_len = strlen(topic);
    o->headers = hs->h;
    o->header_count = hs->count;
    o->payload = data;
    o->payload_len = len;
    return 0;
}

/* What the encoder cannot know: the limits the broker announced (a frame above them is fatal). */
int trpc__check_limits_locked(trpc_client *c, const struct wire_out *o, size_t hdr_bytes)
{
    if (o->topic_len > c->limits.max_topic)
        return trpc__fail(-TRPC_E_TOPIC_TOO_LONG, "topic of %zu bytes above max_topic %u", o->topic_len, c->limits.max_topic);
    if (o->header_count > c->limits.max_headers)
        return trpc__fail(-TRPC_E_TOO_MANY_HEADERS, "%zu headers above max_headers %u", o->header_count, c->limits.max_headers);
    if (hdr_bytes > c->limits.max_header_bytes)
        return trpc__fail(-TRPC_E_HEADERS_TOO_LARGE, "header block of %zu bytes above max_header_bytes %u", hdr_bytes,
                          c->limits.max_header_bytes);
    return 0;
}

/*
 * Queues o with p in the pending table; c->lock is held and the session open. The entry goes in,
 * and out again when the frame cannot be queued, under one hold of pend_lock: no completer (its
 * answer, the session's loss, its deadline) sees it in between, so an asynchronous entry is never
 * touched here once another thread may have completed and freed it. The loss of the session cannot
 * slip in either: it changes the state under c->lock before it fails the table.
 */
static int pend_enqueue_locked(trpc_client *c, const struct wire_out *o, const char *fn, struct trpc__pending *p, bool *wake)
{
    bool direct = trpc__direct_allowed(c, p->cb == NULL && p->pcb == NULL);
    int err;

    pthread_mutex_lock(&c->pend_lock);
    if (c->pend_count >= c->opts.max_pending) {
        pthread_mutex_unlock(&c->pend_lock);
        return trpc__fail(-TRPC_E_TOO_MANY_REQUESTS, "%s: %u requests and publishes pending already (max_pending)", fn,
                          c->opts.max_pending);
    }
    trpc__pend_insert(c, p);
    err = trpc__enqueue_locked(c, o, false, wake);
    if (err != 0) {
        bool removed = trpc__pend_remove(c, p);

        assert(removed); /* pend_lock held since the insert: nobody else took it */
        (void)removed;
    }
    pthread_mutex_unlock(&c->pend_lock);
    /* From here on p may be answered, and an asynchronous p freed, at any time. */
    if (err == 0 && direct)
        trpc__send_direct_locked(c, wake);
    return err;
}

/*
 * Queues a prepared PUB or REQ. A publish may be buffered while reconnecting (it goes out on the
 * next session); a request, or a publish waiting for its PUBACK, needs a session now, since its
 * answer could only come from this one.
 */
int trpc__submit(trpc_client *c, const struct wire_out *o, size_t hdr_bytes, const char *fn, struct trpc__pending *p)
{
    bool wake = false;
    int err;

    pthread_mutex_lock(&c->lock);
    if (c->state == TRPC_STATE_CLOSED)
        err = trpc__fail(-TRPC_E_CLOSED, "%s: client is closed", fn);
    else if (p != NULL && c->state != TRPC_STATE_CONNECTED)
        err = trpc__fail(-TRPC_E_CONNECTION_LOST, "%s: not connected", fn);
    else
        err = trpc__check_limits_locked(c, o, hdr_bytes);
    if (err == 0 && p == NULL)
        err = trpc__enqueue_direct_locked(c, o, false, &wake);
    else if (err == 0)
        err = pend_enqueue_locked(c, o, fn, p, &wake);
    pthread_mutex_unlock(&c->lock);
    if (wake)
        trpc__wake(c);
    return err;
}

int trpc_publish_msg(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                     size_t len)
{
    struct wire_out o = {.type = WIRE_PUB};
    struct trpc__hdrs hs;
    int err;

    trpc__clear_error();
    if (c == NULL)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_publish: NULL client");
    err = trpc__out_prepare(&o, &hs, "trpc_publish", topic, headers, header_count, data, len);
    if (err)
        goto out_release;
    err = trpc__submit(c, &o, hs.bytes, "trpc_publish", NULL);
out_release:
    trpc__hdrs_release(&hs);
    return err;
}

int trpc_publish(trpc_client *c, const char *topic, const void *data, size_t len)
{
    return trpc_publish_msg(c, topic, NULL, 0, data, len);
}
