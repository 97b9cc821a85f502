/*
 * sub: subscriptions. The table of active ones (by id, under c->lock) is what the I/O side looks
 * MSG frames up in and what it replays as SUB frames after a reconnect. A subscription's memory
 * is reference counted (client.h): a MSG already queued for it, or a second trpc_unsubscribe()
 * before trpc_sub_destroy(), finds valid memory and a "removed" mark instead of freed memory, and
 * a program that subscribes and destroys forever holds only its live subscriptions.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "driver/client.h"
#include "driver/topic.h"

static unsigned sub_bucket(uint64_t id)
{
    return (unsigned)(id % TRPC__SUB_BUCKETS);
}

trpc_sub *trpc__sub_find(trpc_client *c, uint64_t id)
{
    trpc_sub *s;

    pthread_mutex_lock(&c->lock);
    for (s = c->sub_buckets[sub_bucket(id)]; s != NULL; s = s->next_active)
        if (s->id == id)
            break;
    if (s != NULL)
        trpc__sub_ref(s);
    pthread_mutex_unlock(&c->lock);
    return s;
}

/*
 * trpc__sub_find for a MSG while c->batching. Consecutive MSGs of one subscription in a receive
 * take their references as one add when the batch goes to its dispatcher (trpc__sub_batch_end),
 * not one each: the count shares a line with what the dispatcher reads, and every add and drop
 * moved it between the I/O thread's CPU and the dispatcher's. The first MSG's own reference keeps
 * the subscription alive until then. A subscription being retired is looked up again, so that a
 * request to it still hears NO_RESPONDERS at once.
 */
trpc_sub *trpc__sub_find_batched(trpc_client *c, uint64_t id)
{
    trpc_sub *s = c->batch_sub;

    assert(c->batching);
    if (s != NULL && s->id == id && atomic_load_explicit(&s->alive, memory_order_relaxed)) {
        c->batch_owed++;
        return s;
    }
    trpc__sub_batch_end(c);
    s = trpc__sub_find(c, id);
    c->batch_sub = s;
    return s;
}

/* Before a batch is queued: its MSGs' references are added, and the next lookup is a real one
 * (once queued, the first MSG may run and drop the reference that kept the subscription). */
void trpc__sub_batch_end(trpc_client *c)
{
    if (c->batch_owed != 0)
        atomic_fetch_add(&c->batch_sub->refs, c->batch_owed);
    c->batch_sub = NULL;
    c->batch_owed = 0;
}

/* Gives back the reference trpc__sub_find_batched gave for a MSG that will not be queued. */
void trpc__sub_batch_drop(trpc_client *c, trpc_sub *sub)
{
    if (sub == c->batch_sub && c->batch_owed != 0) {
        c->batch_owed--;
        return;
    }
    if (sub == c->batch_sub)
        c->batch_sub = NULL; /* its only reference goes now */
    trpc__sub_put(sub);
}

void trpc__sub_ref(trpc_sub *sub)
{
    unsigned old = atomic_fetch_add(&sub->refs, 1);

    assert(old > 0);
    (void)old;
}

static void sub_free(trpc_sub *sub)
{
    free(sub->pattern);
    free(sub->hdrs);
    free(sub);
}

void trpc__sub_put(trpc_sub *sub)
{
    trpc__sub_put_n(sub, 1);
}

void trpc__sub_put_n(trpc_sub *sub, unsigned n)
{
    trpc_client *c = sub->c;
    unsigned old = atomic_fetch_sub(&sub->refs, n);

    assert(old >= n);
    if (old != n)
        return;
    pthread_mutex_lock(&c->lock);
    if (sub->prev_all != NULL)
        sub->prev_all->next_all = sub->next_all;
    else
        c->all_subs = sub->next_all;
    if (sub->next_all != NULL)
        sub->next_all->prev_all = sub->prev_all;
    pthread_mutex_unlock(&c->lock);
    sub_free(sub);
}

static void sub_unlink_locked(trpc_client *c, trpc_sub *sub)
{
    trpc_sub **pp = &c->sub_buckets[sub_bucket(sub->id)];

    while (*pp != sub) {
        assert(*pp != NULL);
        pp = &(*pp)->next_active;
    }
    *pp = sub->next_active;
    sub->next_active = NULL;
    sub->removed = true;
}

static void sub_frame(const trpc_sub *sub, struct wire_out *o)
{
    memset(o, 0, sizeof(*o));
    o->type = WIRE_SUB;
    o->id = sub->id;
    o->topic = sub->pattern;
    o->topic_len = strlen(sub->pattern);
    o->headers = sub->hdrs;
    o->header_count = sub->hdr_count;
    o->aux = sub->window;
}

/*
 * Copies ":group" or ":durable" (key, if any, with value group) and the caller's headers into one
 * allocation the SUB frame points at, so a reconnect replays them without the caller's memory.
 * *hdr_bytes gets the block's size.
 */
static uint8_t *header_copy(struct wire_header *dst, const struct wire_header *src, uint8_t *p)
{
    memcpy(p, src->key, src->key_len);
    dst->key = (const char *)p;
    dst->key_len = src->key_len;
    p += src->key_len;
    if (src->val_len > 0)
        memcpy(p, src->val, src->val_len);
    dst->val = p;
    dst->val_len = src->val_len;
    return p + src->val_len;
}

static int sub_copy_headers(trpc_sub *sub, const char *key, const char *group, const trpc_header *in, size_t n, size_t *hdr_bytes)
{
    struct trpc__hdrs hs;
    size_t count = n + (group != NULL), bytes = 0, i;
    uint8_t *p;
    int err;

    *hdr_bytes = 0;
    if (count == 0)
        return 0;
    err = trpc__hdrs_in(&hs, "trpc_subscribe", in, n);
    if (err)
        goto out_release;
    *hdr_bytes = hs.bytes;
    for (i = 0; i < n; i++)
        bytes += hs.h[i].key_len + hs.h[i].val_len;
    if (group != NULL) {
        *hdr_bytes += 4 + strlen(key) + strlen(group);
        bytes += strlen(key) + strlen(group);
    }
    sub->hdrs = malloc(count * sizeof(*sub->hdrs) + bytes + 1);
    if (sub->hdrs == NULL) {
        err = trpc__fail(-TRPC_E_NO_MEMORY, "trpc_subscribe: out of memory");
        goto out_release;
    }
    p = (uint8_t *)(sub->hdrs + count);
    if (group != NULL) {
        struct wire_header g = {
            .key = key, .key_len = (uint16_t)strlen(key), .val = (const uint8_t *)group, .val_len = (uint16_t)strlen(group)};

        p = header_copy(&sub->hdrs[0], &g, p);
    }
    for (i = 0; i < n; i++)
        p = header_copy(&sub->hdrs[count - n + i], &hs.h[i], p);
    sub->hdr_count = count;
out_release:
    trpc__hdrs_release(&hs);
    return err;
}

/*
 * A new session: SUB frames for every active subscription go in front of whatever publishes
 * were buffered while disconnected, so a client sees its own publishes again. c->lock is held.
 */
void trpc__resubscribe_locked(trpc_client *c)
{
    struct trpc__buf tmp = {0};
    unsigned b;

    for (b = 0; b < TRPC__SUB_BUCKETS; b++) {
        for (trpc_sub *s = c->sub_buckets[b]; s != NULL; s = s->next_active) {
            struct wire_out o;
            ssize_t n;

            sub_frame(s, &o);
            n = wire_encoded_len(&o);
            assert(n > 0);
            if (trpc__buf_reserve(&tmp, (size_t)n) != 0)
                goto out_free_tmp; /* out of memory: the subscriptions stay silent; nothing to corrupt */
            n = wire_encode(tmp.data + tmp.len, tmp.cap - tmp.len, &o);
            assert(n > 0);
            tmp.len += (size_t)n;
        }
    }
    if (tmp.len == 0 || trpc__buf_reserve(&c->fill, tmp.len) != 0)
        goto out_free_tmp;
    memmove(c->fill.data + tmp.len, c->fill.data, c->fill.len);
    memcpy(c->fill.data, tmp.data, tmp.len);
    c->fill.len += tmp.len;
    c->fill_urgent = true;
out_free_tmp:
    trpc__buf_free(&tmp);
}

static int subscribe(trpc_client *c, const char *pattern, const char *key, const char *group, uint32_t window,
                     const trpc_header *headers, size_t header_count, trpc_msg_cb *cb, void *ud, trpc_sub **out)
{
    struct wire_out o;
    size_t plen, hdr_bytes;
    trpc_sub *sub;
    bool wake = false;
    int err;

    trpc__clear_error();
    if (c == NULL || pattern == NULL || cb == NULL || out == NULL || (headers == NULL && header_count > 0))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_subscribe: NULL argument");
    plen = strlen(pattern);
    err = topic_check_pattern(pattern, plen);
    if (err)
        return trpc__fail(err, "pattern '%s': %s", pattern, trpc_strerror(err));
    if (group != NULL && (group[0] == '\0' || strlen(group) > WIRE_HEADER_VALUE_MAX))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "group must be 1..65535 bytes");
    if (header_count >= UINT16_MAX)
        return trpc__fail(-TRPC_E_TOO_MANY_HEADERS, "trpc_subscribe: %zu headers", header_count);
    sub = calloc(1, sizeof(*sub));
    if (sub == NULL)
        return trpc__fail(-TRPC_E_NO_MEMORY, "trpc_subscribe: out of memory");
    sub->pattern = strdup(pattern);
    if (sub->pattern == NULL) {
        err = trpc__fail(-TRPC_E_NO_MEMORY, "trpc_subscribe: out of memory");
        goto out_free_sub;
    }
    err = sub_copy_headers(sub, key, group, headers, header_count, &hdr_bytes);
    if (err)
        goto out_free_sub;
    sub->c = c;
    sub->window = window;
    sub->cb = cb;
    sub->ud = ud;
    atomic_init(&sub->alive, true);
    atomic_init(&sub->refs, 1); /* the owner's */
    sub->id = atomic_fetch_add(&c->id_next, 1);
    sub->disp = (unsigned)sub->id;
    sub_frame(sub, &o);

    pthread_mutex_lock(&c->lock);
    if (c->state == TRPC_STATE_CLOSED) {
        pthread_mutex_unlock(&c->lock);
        err = trpc__fail(-TRPC_E_CLOSED, "trpc_subscribe: client is closed");
        goto out_free_sub;
    }
    /* The limits of the broker we last talked to; a SUB above them would be a fatal error. */
    err = trpc__check_limits_locked(c, &o, hdr_bytes);
    if (err == 0 && c->state == TRPC_STATE_CONNECTED)
        err = trpc__enqueue_locked(c, &o, false, &wake);
    if (err) {
        pthread_mutex_unlock(&c->lock);
        goto out_free_sub;
    }
    sub->next_active = c->sub_buckets[sub_bucket(sub->id)];
    c->sub_buckets[sub_bucket(sub->id)] = sub;
    sub->next_all = c->all_subs;
    if (c->all_subs != NULL)
        c->all_subs->prev_all = sub;
    c->all_subs = sub;
    pthread_mutex_unlock(&c->lock);
    if (wake)
        trpc__wake(c);
    *out = sub;
    return 0;

out_free_sub:
    sub_free(sub);
    return err;
}

int trpc_subscribe(trpc_client *c, const char *pattern, trpc_msg_cb *cb, void *ud, trpc_sub **out)
{
    return subscribe(c, pattern, NULL, NULL, 0, NULL, 0, cb, ud, out);
}

int trpc_subscribe_group(trpc_client *c, const char *pattern, const char *group, trpc_msg_cb *cb, void *ud, trpc_sub **out)
{
    if (group == NULL) {
        trpc__clear_error();
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_subscribe_group: group is NULL");
    }
    return subscribe(c, pattern, ":group", group, 0, NULL, 0, cb, ud, out);
}

int trpc_subscribe_msg(trpc_client *c, const char *pattern, const char *group, const trpc_header *headers, size_t header_count,
                       trpc_msg_cb *cb, void *ud, trpc_sub **out)
{
    return subscribe(c, pattern, ":group", group, 0, headers, header_count, cb, ud, out);
}

int trpc_subscribe_durable(trpc_client *c, const char *pattern, const char *name, uint32_t window, const trpc_header *headers,
                           size_t header_count, trpc_msg_cb *cb, void *ud, trpc_sub **out)
{
    size_t n = name != NULL ? strlen(name) : 0;

    for (size_t i = 0; i < n; i++) {
        char ch = name[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            n = 0;
    }
    if (n == 0 || n > 64) {
        trpc__clear_error();
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_subscribe_durable: a name of 1 to 64 letters, digits, '_' and '-'");
    }
    return subscribe(c, pattern, ":durable", name, window, headers, header_count, cb, ud, out);
}

/* Takes sub out of the table and tells the broker; false if that was done already. */
static bool sub_end(trpc_sub *sub)
{
    trpc_client *c = sub->c;
    bool wake = false;

    pthread_mutex_lock(&c->lock);
    if (sub->removed) {
        pthread_mutex_unlock(&c->lock);
        return false;
    }
    /* Before the unlink: trpc__sub_find_batched, which skips the table for the MSGs after the
     * first of a receive, must stop where trpc__sub_find does (trpc__disp_retire_sub clears it
     * again for its own ordering). */
    atomic_store(&sub->alive, false);
    sub_unlink_locked(c, sub);
    if (c->state == TRPC_STATE_CONNECTED) {
        struct wire_out o = {.type = WIRE_UNSUB, .id = sub->id};

        /* Forced past the bound: a failure here would leave the broker sending to a dead id. */
        (void)trpc__enqueue_locked(c, &o, true, &wake);
    }
    pthread_mutex_unlock(&c->lock);
    if (wake)
        trpc__wake(c);
    trpc__disp_retire_sub(c, sub);
    return true;
}

int trpc_unsubscribe(trpc_sub *sub)
{
    trpc__clear_error();
    if (sub == NULL)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_unsubscribe: sub is NULL");
    if (!sub_end(sub))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_unsubscribe: '%s' was already unsubscribed", sub->pattern);
    return 0;
}

void trpc_sub_destroy(trpc_sub *sub)
{
    trpc__clear_error();
    if (sub == NULL)
        return;
    (void)sub_end(sub);
    trpc__sub_put(sub); /* the owner's reference; a message still queued or running holds its own */
}

const char *trpc_sub_pattern(const trpc_sub *sub)
{
    return sub ? sub->pattern : NULL;
}

/* trpc_close: the I/O side and the dispatchers are gone, so only handles hold references. */
void trpc__subs_free(trpc_client *c)
{
    trpc_sub *s, *next;

    for (s = c->all_subs; s != NULL; s = next) {
        next = s->next_all;
        sub_free(s);
    }
    c->all_subs = NULL;
    memset(c->sub_buckets, 0, sizeof(c->sub_buckets));
}
