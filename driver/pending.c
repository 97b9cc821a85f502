/*
 * pending: requests waiting for their REP, and publishes for their PUBACK, by id (c->pend_lock).
 *
 * Bounded by max_pending. Every entry is also on one list so the I/O side can expire them: the
 * broker times requests out itself (REP ERROR TIMEOUT), the local deadline only backs it up when
 * the broker is gone. A synchronous entry is completed under the lock and its waiter signalled;
 * an asynchronous one is handed to a dispatcher after the lock is dropped.
 */
#include <assert.h>
#include <stdlib.h>
#include <stdio.h>

#include "driver/client.h"

static unsigned bucket(uint64_t id)
{
    return (unsigned)(id % TRPC__PEND_BUCKETS);
}

void trpc__pend_insert(trpc_client *c, struct trpc__pending *p)
{
    unsigned b = bucket(p->id);

    assert(p->id != 0);
    p->bnext = c->pend_buckets[b];
    c->pend_buckets[b] = p;
    p->aprev = NULL;
    p->anext = c->pend_all;
    if (c->pend_all)
        c->pend_all->aprev = p;
    c->pend_all = p;
    c->pend_count++;
}

/* Unlinks p if it is in the table; false if someone completed it already. */
static bool pend_unlink(trpc_client *c, struct trpc__pending *p)
{
    struct trpc__pending **pp = &c->pend_buckets[bucket(p->id)];

    while (*pp != NULL && *pp != p)
        pp = &(*pp)->bnext;
    if (*pp == NULL)
        return false;
    *pp = p->bnext;
    if (p->aprev)
        p->aprev->anext = p->anext;
    else
        c->pend_all = p->anext;
    if (p->anext)
        p->anext->aprev = p->aprev;
    assert(c->pend_count > 0);
    c->pend_count--;
    return true;
}

bool trpc__pend_remove(trpc_client *c, struct trpc__pending *p)
{
    return pend_unlink(c, p);
}

/* Unlinks and returns the entry id names, if as answers it; *wrong: one is there, of the other kind. */
static struct trpc__pending *pend_take(trpc_client *c, uint64_t id, enum trpc__answer as, bool *wrong)
{
    struct trpc__pending *p;

    *wrong = false;
    for (p = c->pend_buckets[bucket(id)]; p != NULL; p = p->bnext)
        if (p->id == id)
            break;
    if (p == NULL)
        return NULL;
    if ((as == TRPC__ANSWER_REP && p->publish) || (as == TRPC__ANSWER_PUBACK && !p->publish)) {
        *wrong = true;
        return NULL;
    }
    pend_unlink(c, p);
    return p;
}

static void wrong_kind(trpc_client *c, uint64_t id, enum trpc__answer as)
{
    char text[128];

    snprintf(text, sizeof(text), "the broker answered %s %llu with a %s: ignored", as == TRPC__ANSWER_REP ? "publish" : "request",
             (unsigned long long)id, as == TRPC__ANSWER_REP ? "REP" : "PUBACK");
    trpc__notify_error(c, NULL, -TRPC_E_PROTOCOL, text);
}

/*
 * Records the outcome of p, already unlinked, with c->pend_lock held. Returns true when p is
 * asynchronous: the caller hands it to trpc__deliver_reply() once the lock is dropped.
 */
static bool finish_locked(struct trpc__pending *p, int err, trpc_msg *reply)
{
    p->err = err;
    p->reply = reply;
    p->done = true;
    if (p->cb == NULL && p->pcb == NULL) {
        pthread_cond_signal(&p->cond);
        return false;
    }
    return true;
}

void trpc__pend_complete(trpc_client *c, uint64_t id, int err, trpc_msg *reply)
{
    struct trpc__pending *p;
    bool async = false, wrong;

    pthread_mutex_lock(&c->pend_lock);
    p = pend_take(c, id, TRPC__ANSWER_REP, &wrong);
    if (p != NULL)
        async = finish_locked(p, err, reply);
    pthread_mutex_unlock(&c->pend_lock);
    if (p == NULL)
        trpc_msg_free(reply); /* a late reply to a request we gave up on, or not a request's */
    else if (async)
        trpc__deliver_reply(c, p);
    if (wrong)
        wrong_kind(c, id, TRPC__ANSWER_REP);
}

void trpc__pend_refused(trpc_client *c, uint64_t id, enum trpc__answer as, int err, const char *why, size_t len)
{
    struct trpc__pending *p;
    bool async = false, wrong;

    assert(as != TRPC__ANSWER_PUBACK);
    pthread_mutex_lock(&c->pend_lock);
    p = pend_take(c, id, as, &wrong);
    if (p != NULL) {
        snprintf(p->why, sizeof(p->why), "%.*s", (int)(len < sizeof(p->why) ? len : sizeof(p->why) - 1), why);
        async = finish_locked(p, err, NULL);
    }
    pthread_mutex_unlock(&c->pend_lock);
    if (async)
        trpc__deliver_reply(c, p);
    if (wrong)
        wrong_kind(c, id, as);
}

void trpc__pend_acked(trpc_client *c, uint64_t id, uint64_t seq)
{
    struct trpc__pending *p;
    bool async = false, wrong;

    pthread_mutex_lock(&c->pend_lock);
    p = pend_take(c, id, TRPC__ANSWER_PUBACK, &wrong);
    if (p != NULL) {
        p->seq = seq;
        async = finish_locked(p, 0, NULL);
    }
    pthread_mutex_unlock(&c->pend_lock);
    if (async)
        trpc__deliver_reply(c, p);
    if (wrong)
        wrong_kind(c, id, TRPC__ANSWER_PUBACK);
}

/* Completes every entry (expired ones only when now_ms >= 0) with err. */
static void fail_where(trpc_client *c, int err, int64_t now_ms)
{
    struct trpc__pending *p, *next, *async = NULL;

    pthread_mutex_lock(&c->pend_lock);
    for (p = c->pend_all; p != NULL; p = next) {
        next = p->anext;
        if (now_ms >= 0 && p->deadline_ms > now_ms)
            continue;
        pend_unlink(c, p);
        if (finish_locked(p, err, NULL)) {
            p->anext = async;
            async = p;
        }
    }
    pthread_mutex_unlock(&c->pend_lock);
    for (p = async; p != NULL; p = next) {
        next = p->anext;
        trpc__deliver_reply(c, p);
    }
}

void trpc__pend_fail_all(trpc_client *c, int err)
{
    fail_where(c, err, -1);
}

void trpc__pend_expire(trpc_client *c, int64_t now_ms)
{
    assert(now_ms >= 0);
    fail_where(c, -TRPC_E_TIMEOUT, now_ms);
}
