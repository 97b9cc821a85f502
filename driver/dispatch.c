/*
 * dispatch: where callbacks run.
 *
 * TRPC_DISPATCH_THREAD: N dispatcher threads, each with one queue. A subscription always maps to
 * the same thread (per-subscription order holds). Message queues are bounded in messages
 * (TRPC__DISPATCH_QUEUE) and in bytes (opts.dispatch_bytes: a message's one block, counted from
 * its queueing until it is handed to its callback), since the broker decides both how many
 * messages come and how large each is: when a message would pass either bound it is dropped and
 * the error callback hears SLOW_CONSUMER once per overflow. Reply
 * completions are never dropped ("called exactly once"); they need no bound of their own since
 * each is a pending request, and those are bounded by max_pending.
 *
 * TRPC_DISPATCH_IO and external-loop mode run callbacks inline on the I/O side through
 * c->inline_disp, which keeps the same "which callback runs now" bookkeeping so that
 * trpc_unsubscribe() can wait for a running callback in every mode.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "driver/client.h"

static void disp_init(struct trpc__disp *d, trpc_client *c)
{
    d->c = c;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    pthread_cond_init(&d->idle_cond, NULL);
}

static void disp_destroy(struct trpc__disp *d)
{
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
    pthread_cond_destroy(&d->idle_cond);
}

/* The callbacks running on this thread, innermost first: a callback may run another client's
 * (trpc_client_process of an external-loop client), and trpc__on_callback_thread and
 * trpc__disp_retire_sub must see the outer ones too. Read without a lock: only this thread
 * touches its list. */
struct cb_frame {
    const struct trpc__disp *d;
    const trpc_sub *sub; /* a MSG's subscription, else NULL */
    struct cb_frame *outer;
};
static __thread struct cb_frame *cb_top;

static void cb_enter(struct cb_frame *f, const struct trpc__disp *d, const trpc_sub *sub)
{
    f->d = d;
    f->sub = sub;
    f->outer = cb_top;
    cb_top = f;
}

static void cb_leave(struct cb_frame *f)
{
    assert(cb_top == f);
    cb_top = f->outer;
}

/* After a MSG node: a trpc__disp_retire_sub that saw its sub running waits for this. */
static void msg_done(struct trpc__disp *d)
{
    atomic_store(&d->running, NULL); /* this store, then the load of waiters: see retire_sub */
    if (atomic_load(&d->waiters) != 0) {
        pthread_mutex_lock(&d->lock);
        pthread_cond_broadcast(&d->idle_cond);
        pthread_mutex_unlock(&d->lock);
    }
}

/* A request whose subscription ended while it waited in the queue: its requester hears
 * NO_RESPONDERS now, as when the I/O side finds no subscription (io.c, on_msg), instead of at its
 * deadline. Only on the connection it came on: the broker forgot it with that one. */
static void decline_request(trpc_client *c, const trpc_msg *m)
{
    struct wire_out o = {.type = WIRE_REP, .flags = WIRE_F_ERROR, .aux = TRPC_E_NO_RESPONDERS, .seq = m->seq};
    bool wake = false;

    if (!(m->flags & WIRE_F_REQUEST) || m->seq == 0)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->state == TRPC_STATE_CONNECTED && c->conn_gen == m->conn_gen)
        (void)trpc__enqueue_locked(c, &o, true, &wake); /* the library's own frame: past the bound */
    pthread_mutex_unlock(&c->lock);
    if (wake)
        trpc__wake(c);
}

/*
 * Runs one node's callback, without d->lock. A MSG's subscription is published in d->running
 * before its alive flag is read, and trpc__disp_retire_sub clears alive before it reads running:
 * either the callback is skipped or the retire sees it running and waits, so no lock is taken per
 * message. Every one of these accesses (and those of waiters) must stay sequentially consistent.
 * A MSG's reference to its subscription is the caller's to drop.
 */
static void run_node_keep(struct trpc__disp *d, struct trpc__node *n)
{
    trpc_client *c = d->c;
    struct cb_frame f;

    switch (n->kind) {
    case TRPC__NODE_MSG: {
        trpc_msg *m = (trpc_msg *)n;
        trpc_sub *sub = m->sub;

        atomic_store(&d->running, sub);
        if (atomic_load(&sub->alive)) {
            cb_enter(&f, d, sub);
            sub->cb(c, sub, m, sub->ud); /* m is the callee's now: sub is our local's */
            cb_leave(&f);
        } else {
            decline_request(c, m);
            trpc_msg_free(m);
        }
        msg_done(d); /* the sub's reference may go after this: running no longer names it */
        return;
    }
    case TRPC__NODE_REPLY: {
        struct trpc__pending *p = (struct trpc__pending *)n;

        cb_enter(&f, d, NULL);
        if (p->pcb != NULL)
            p->pcb(c, p->err, p->seq, p->ud);
        else
            p->cb(c, p->err, p->reply, p->ud);
        cb_leave(&f);
        free(p);
        return;
    }
    case TRPC__NODE_STATE:
    case TRPC__NODE_ERROR: {
        struct trpc__event *e = (struct trpc__event *)n;

        cb_enter(&f, d, NULL);
        if (n->kind == TRPC__NODE_STATE) {
            c->opts.state_cb(c, e->state, c->opts.state_ud);
        } else {
            unsigned dropped = atomic_exchange(&c->errors_dropped, 0);
            char text[sizeof(e->text) + 96];

            atomic_fetch_sub(&c->error_events, 1);
            if (dropped > 0) /* dropped since the last to run: this one waited before them */
                snprintf(text, sizeof(text), "%s (and %u more dropped: the error callback was %u behind)", e->text, dropped,
                         TRPC__ERROR_EVENTS);
            c->opts.error_cb(c, e->sub, e->err, dropped > 0 ? text : e->text, c->opts.error_ud);
        }
        cb_leave(&f);
        if (e->sub != NULL)
            trpc__sub_put(e->sub);
        free(e);
        return;
    }
    default:
        assert(!"unknown dispatch node");
    }
}

static void run_node(struct trpc__disp *d, struct trpc__node *n)
{
    trpc_sub *sub = n->kind == TRPC__NODE_MSG ? ((trpc_msg *)n)->sub : NULL;

    run_node_keep(d, n);
    if (sub != NULL)
        trpc__sub_put(sub);
}

/* The dispatcher this thread runs, for trpc__disp_caller_idle(). */
static __thread struct trpc__disp *this_disp;

bool trpc__disp_caller_idle(const trpc_client *c)
{
    struct trpc__disp *d = this_disp;
    bool idle;

    if (d == NULL || d->c != c)
        return false;
    if (d->rest != NULL)
        return false;
    pthread_mutex_lock(&d->lock);
    idle = d->head == NULL;
    pthread_mutex_unlock(&d->lock);
    return idle;
}

/* Runs what the thread took from its queue. Each MSG leaves msg_count as it is handed to its
 * callback, as it did when taken one at a time, so that a long batch does not hold the queue's
 * room. Once the client closes, messages not run yet are dropped (reply and state callbacks still
 * run). Consecutive MSGs of one subscription drop their references as one subtraction: see
 * trpc__sub_find_batched for why. */
static void run_taken(struct trpc__disp *d, struct trpc__node *n)
{
    trpc_sub *held = NULL; /* the references of the last MSGs run, not dropped yet */
    unsigned held_n = 0;

    for (; n != NULL; n = d->rest) {
        trpc_sub *sub;

        d->rest = n->next;
        if (n->kind != TRPC__NODE_MSG) {
            run_node(d, n);
            continue;
        }
        sub = ((trpc_msg *)n)->sub;
        if (sub != held) {
            if (held_n != 0)
                trpc__sub_put_n(held, held_n);
            held = sub;
            held_n = 0;
        }
        held_n++;
        /* The same line as msg_count, which this thread owns already: the byte bound costs no
         * lock and no cache miss of its own. */
        atomic_fetch_sub_explicit(&d->msg_bytes, trpc__msg_bytes((trpc_msg *)n), memory_order_relaxed);
        atomic_fetch_sub_explicit(&d->msg_count, 1, memory_order_relaxed);
        if (atomic_load_explicit(&d->stop, memory_order_relaxed)) {
            trpc_msg_free((trpc_msg *)n);
            continue;
        }
        run_node_keep(d, n);
    }
    if (held_n != 0)
        trpc__sub_put_n(held, held_n);
}

/* Takes the whole queue under one lock and runs it without: one lock round per batch, not two per
 * message. */
static void *disp_main(void *arg)
{
    struct trpc__disp *d = arg;

    pthread_setname_np(pthread_self(), "trpc-dispatch");
    this_disp = d;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        struct trpc__node *n;

        while (d->head == NULL && !atomic_load_explicit(&d->stop, memory_order_relaxed))
            pthread_cond_wait(&d->cond, &d->lock);
        n = d->head;
        if (n == NULL)
            break;
        d->head = d->tail = NULL;
        pthread_mutex_unlock(&d->lock);
        run_taken(d, n);
        pthread_mutex_lock(&d->lock);
        if (atomic_load_explicit(&d->msg_count, memory_order_relaxed) == 0) {
            /* Both leave on this thread, and both grow under the lock we hold. */
            assert(atomic_load_explicit(&d->msg_bytes, memory_order_relaxed) == 0);
            d->overflowing = false;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

int trpc__disp_start(trpc_client *c)
{
    unsigned i;

    disp_init(&c->inline_disp, c);
    if (c->opts.external || c->opts.dispatch == TRPC_DISPATCH_IO)
        return 0;
    assert(c->opts.dispatch_threads >= 1);
    c->disp = calloc(c->opts.dispatch_threads, sizeof(*c->disp));
    if (c->disp == NULL)
        return trpc__fail(-TRPC_E_NO_MEMORY, "dispatcher: out of memory");
    for (i = 0; i < c->opts.dispatch_threads; i++) {
        disp_init(&c->disp[i], c);
        if (pthread_create(&c->disp[i].tid, NULL, disp_main, &c->disp[i]) != 0) {
            disp_destroy(&c->disp[i]);
            c->disp_count = i;
            trpc__disp_stop(c);
            return trpc__fail(-TRPC_E_NO_MEMORY, "dispatcher: cannot start a thread");
        }
        c->disp[i].has_thread = true;
        c->disp_count = i + 1;
    }
    return 0;
}

/* Lets each thread finish its queue (reply and state callbacks run, messages are dropped). */
void trpc__disp_stop(trpc_client *c)
{
    unsigned i;

    for (i = 0; i < c->disp_count; i++) {
        pthread_mutex_lock(&c->disp[i].lock);
        atomic_store(&c->disp[i].stop, true);
        pthread_cond_signal(&c->disp[i].cond);
        pthread_mutex_unlock(&c->disp[i].lock);
    }
    for (i = 0; i < c->disp_count; i++) {
        pthread_join(c->disp[i].tid, NULL);
        disp_destroy(&c->disp[i]);
    }
    free(c->disp);
    c->disp = NULL;
    c->disp_count = 0;
    disp_destroy(&c->inline_disp);
}

static struct trpc__disp *disp_of(trpc_client *c, unsigned idx)
{
    if (c->disp_count == 0)
        return &c->inline_disp;
    return &c->disp[idx % c->disp_count];
}

/*
 * Queues n; d->lock is held. Returns true when the queue was empty: the thread may be asleep, and
 * the caller signals d->cond after unlocking (signalled under the lock, the woken thread would at
 * once block again on the lock we still hold: two more futex calls per message). A thread not
 * asleep finds n when it next looks at the queue, under the lock.
 */
static bool push(struct trpc__disp *d, struct trpc__node *n)
{
    bool was_empty = d->head == NULL;

    n->next = NULL;
    if (d->tail)
        d->tail->next = n;
    else
        d->head = n;
    d->tail = n;
    return was_empty;
}

/*
 * Whether one more message of size fits a queue holding count messages of bytes. A message larger
 * than the byte bound alone still goes to an empty queue: refused there, it could never be
 * delivered, and the queue then holds that one message only.
 */
static bool fits(const trpc_client *c, unsigned count, size_t bytes, size_t size)
{
    size_t bound = c->opts.dispatch_bytes;

    if (count >= TRPC__DISPATCH_QUEUE)
        return false;
    return bytes == 0 || (bytes <= bound && size <= bound - bytes);
}

/* Drops msgs that found their dispatcher's queue full; overflow: the first of an overflow, which
 * the error callback hears about with what the queue held then (count messages of bytes). */
static void drop_msgs(trpc_client *c, struct trpc__node *n, bool overflow, unsigned count, size_t bytes)
{
    char text[200];

    if (overflow)
        snprintf(text, sizeof(text), "dispatch queue full: messages dropped (%u messages and %zu bytes waiting, bounds %u and %zu)",
                 count, bytes, TRPC__DISPATCH_QUEUE, c->opts.dispatch_bytes);
    while (n != NULL) {
        trpc_msg *m = (trpc_msg *)n;
        trpc_sub *sub = m->sub;

        n = n->next;
        trpc_msg_free(m);
        if (overflow)
            trpc__notify_error(c, sub, -TRPC_E_SLOW_CONSUMER, text);
        overflow = false;
        trpc__sub_put(sub);
    }
}

/*
 * Queues the batch of d (bcount MSGs of bbytes, from bhead to btail) as far as the bounds let it:
 * one lock and at most one wake-up for all of them, where one each cost a lock, a futex wake and
 * the dispatcher's own lock round per message. What does not fit is dropped, as it would have been
 * one at a time: the earliest fit, the rest do not. A batch that fits whole is not walked.
 */
static void batch_splice(trpc_client *c, struct trpc__disp *d)
{
    struct trpc__node *first = d->bhead, *last = d->btail, *cut = NULL;
    unsigned n = d->bcount, count;
    size_t nbytes = d->bbytes, bytes;
    bool overflow = false, wake = false;

    trpc__sub_batch_end(c);
    d->bhead = d->btail = NULL;
    d->bcount = 0;
    d->bbytes = 0;
    if (n == 0)
        return;
    pthread_mutex_lock(&d->lock);
    count = atomic_load_explicit(&d->msg_count, memory_order_relaxed);
    bytes = atomic_load_explicit(&d->msg_bytes, memory_order_relaxed);
    if (count + n > TRPC__DISPATCH_QUEUE || (bytes + nbytes > c->opts.dispatch_bytes && !(bytes == 0 && n == 1))) {
        /* Not all of it: up to the first message that does not fit. */
        unsigned took = 0;
        size_t took_bytes = 0;

        last = NULL;
        for (struct trpc__node *p = first; p != NULL; p = p->next) {
            size_t size = trpc__msg_bytes((trpc_msg *)p);

            if (!fits(c, count + took, bytes + took_bytes, size))
                break;
            took++;
            took_bytes += size;
            last = p;
        }
        overflow = !d->overflowing;
        d->overflowing = true;
        n = took;
        nbytes = took_bytes;
        cut = last != NULL ? last->next : first;
    }
    if (n > 0) {
        last->next = NULL;
        wake = d->head == NULL;
        if (d->tail)
            d->tail->next = first;
        else
            d->head = first;
        d->tail = last;
        atomic_fetch_add_explicit(&d->msg_count, n, memory_order_relaxed);
        atomic_fetch_add_explicit(&d->msg_bytes, nbytes, memory_order_relaxed);
    }
    pthread_mutex_unlock(&d->lock);
    if (wake)
        pthread_cond_signal(&d->cond);
    drop_msgs(c, cut, overflow, count + n, bytes + nbytes);
}

void trpc__deliver_flush(trpc_client *c)
{
    for (unsigned i = 0; i < c->disp_count; i++)
        batch_splice(c, &c->disp[i]);
}

/* Runs n now (inline dispatch) or queues it, behind the MSGs batched before it. */
static void hand_over(trpc_client *c, unsigned idx, struct trpc__node *n)
{
    struct trpc__disp *d = disp_of(c, idx);
    bool wake = false;

    if (c->batching)
        trpc__deliver_flush(c);
    if (c->disp_count == 0) {
        run_node(d, n);
        return;
    }
    pthread_mutex_lock(&d->lock);
    wake = push(d, n);
    pthread_mutex_unlock(&d->lock);
    if (wake)
        pthread_cond_signal(&d->cond);
}

void trpc__deliver(trpc_client *c, trpc_msg *m)
{
    struct trpc__disp *d = disp_of(c, m->sub->disp);
    size_t size = trpc__msg_bytes(m), bytes;
    bool overflow = false, wake = false;
    unsigned count;

    if (c->disp_count == 0) {
        hand_over(c, 0, &m->node);
        return;
    }
    if (c->batching) {
        m->node.next = NULL;
        if (d->btail != NULL)
            d->btail->next = &m->node;
        else
            d->bhead = &m->node;
        d->btail = &m->node;
        d->bbytes += size;
        /* A receive holds at most TRPC__RECV_BYTES of frames, so a batch stays far below the
         * queue's bound; past it, this one goes now. */
        if (++d->bcount >= TRPC__DISPATCH_QUEUE / 4)
            batch_splice(c, d);
        return;
    }
    pthread_mutex_lock(&d->lock);
    count = atomic_load_explicit(&d->msg_count, memory_order_relaxed);
    bytes = atomic_load_explicit(&d->msg_bytes, memory_order_relaxed);
    if (!fits(c, count, bytes, size)) {
        overflow = !d->overflowing;
        d->overflowing = true;
    } else {
        atomic_fetch_add_explicit(&d->msg_count, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&d->msg_bytes, size, memory_order_relaxed);
        wake = push(d, &m->node);
        m = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    if (wake)
        pthread_cond_signal(&d->cond);
    if (m != NULL) {
        m->node.next = NULL;
        drop_msgs(c, &m->node, overflow, count, bytes);
    }
}

void trpc__deliver_reply(trpc_client *c, struct trpc__pending *p)
{
    assert(p->cb != NULL || p->pcb != NULL);
    p->node.kind = TRPC__NODE_REPLY;
    hand_over(c, (unsigned)p->id, &p->node);
}

/* Error events are bounded, since the broker decides how many come (an ERR frame each): past
 * TRPC__ERROR_EVENTS waiting, one is dropped and counted, and the next to run says how many. State
 * events need no bound: one per connection change, which reconnect backoff paces. */
static void notify(trpc_client *c, int kind, trpc_state st, trpc_sub *sub, int err, const char *text)
{
    struct trpc__event *e;

    if (kind == TRPC__NODE_ERROR && atomic_fetch_add(&c->error_events, 1) >= TRPC__ERROR_EVENTS) {
        atomic_fetch_sub(&c->error_events, 1);
        atomic_fetch_add(&c->errors_dropped, 1);
        return;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        if (kind == TRPC__NODE_ERROR)
            atomic_fetch_sub(&c->error_events, 1);
        return; /* a notification is best effort; nothing waits for it */
    }
    if (sub != NULL)
        trpc__sub_ref(sub); /* the caller holds one, so it is alive */
    e->node.kind = kind;
    e->state = st;
    e->sub = sub;
    e->err = err;
    snprintf(e->text, sizeof(e->text), "%s", text ? text : "");
    hand_over(c, 0, &e->node);
}

void trpc__notify_state(trpc_client *c, trpc_state st)
{
    if (c->opts.state_cb)
        notify(c, TRPC__NODE_STATE, st, NULL, 0, NULL);
}

void trpc__notify_error(trpc_client *c, trpc_sub *sub, int err, const char *text)
{
    /* The public contract (trpc.h, trpc_options(3)): a negative code, as every call returns. */
    assert(err < 0);
    if (c->opts.error_cb)
        notify(c, TRPC__NODE_ERROR, 0, sub, err, text);
}

bool trpc__on_callback_thread(const trpc_client *c)
{
    for (const struct cb_frame *f = cb_top; f != NULL; f = f->outer)
        if (f->d->c == c)
            return true;
    return false;
}

/* Whether this thread is inside a callback of sub run by d. */
static bool running_here(const struct trpc__disp *d, const trpc_sub *sub)
{
    for (const struct cb_frame *f = cb_top; f != NULL; f = f->outer)
        if (f->d == d && f->sub == sub)
            return true;
    return false;
}

/* After this returns no callback of sub starts, and none runs except on the calling thread. */
void trpc__disp_retire_sub(trpc_client *c, trpc_sub *sub)
{
    struct trpc__disp *d = disp_of(c, sub->disp);

    pthread_mutex_lock(&d->lock);
    atomic_fetch_add(&d->waiters, 1);
    atomic_store(&sub->alive, false);
    while (atomic_load(&d->running) == sub && !running_here(d, sub))
        pthread_cond_wait(&d->idle_cond, &d->lock);
    atomic_fetch_sub(&d->waiters, 1);
    pthread_mutex_unlock(&d->lock);
}
