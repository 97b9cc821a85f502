/*
 * msg: received messages. One allocation holds the struct, the NUL-terminated topic, the header
 * block and the payload (plus a trailing zero byte, so an empty payload has a valid pointer).
 * The header block is kept in wire order but with a NUL after each key, so that keys handed out
 * by trpc_msg_header_at() are C strings that live as long as the message:
 *   u16 key_len, u16 val_len, key, '\0', value
 *
 * Blocks come from a per-client cache by size class: the I/O side allocates every message and
 * the application frees it on another thread, a pattern that costs malloc an arena hop and, for
 * large blocks, heap growth and page faults per message. trpc_msg_free() pushes the block on its
 * class's list of blocks given back (a compare-and-swap, from any thread), as long as the
 * client's cached bytes stay under CACHE_BYTES; beyond that, or for a block above the largest
 * class, it is freed. The I/O side, the only one that allocates, takes the whole list at once
 * (an exchange) onto a list of its own and allocates from there: no lock on either side, and no
 * lock-free pop, whose ABA problem an exchange does not have. Each block out holds a reference on
 * the cache, so a message freed after trpc_close() finds the cache still there (closed: the block
 * is freed), and the last of the client and its messages frees it.
 *
 * The freeing thread updates the shared counters for each message; the I/O side takes its
 * references SETTLE_BLOCKS at a time and subtracts what it takes off its lists in sums, so that
 * the counters' line stays with the freeing thread's CPU instead of moving twice per message.
 */
#include <assert.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/client.h"

/* Four classes per doubling from 256 B to 1 MiB: a block is at most a quarter larger than asked. */
#define CACHE_CLASSES   49u
#define CACHE_MIN_SHIFT 8u
#define CACHE_BYTES     ((size_t)4 << 20)  /* free bytes a client keeps cached */
#define SETTLE_BLOCKS   64u                /* the I/O side's references taken at once, and blocks per subtraction */
#define SETTLE_BYTES    (CACHE_BYTES / 16) /* at most this much counted as cached that is not */

struct cache_block {
    struct cache_block *next;
};

struct trpc__msg_cache {
    /* The I/O side's alone. */
    struct cache_block *mine[CACHE_CLASSES]; /* taken from back */
    uint64_t recycled;                       /* blocks handed out again */
    unsigned ref_credit;                     /* references taken for blocks not out yet */
    unsigned owed_blocks;                    /* blocks taken off mine since the last subtraction */
    size_t owed_bytes;                       /* and their sizes, still counted in bytes */
    /* Every freeing thread's; the I/O side exchanges a list when its own is empty. */
    alignas(64) _Atomic(struct cache_block *) back[CACHE_CLASSES];
    alignas(64) atomic_size_t bytes; /* both lists' blocks' sizes, plus owed_bytes */
    atomic_bool closed;              /* the client is gone */
    atomic_uint refs;                /* the client's, plus one per block out, plus ref_credit */
};

static size_t class_size(unsigned i)
{
    assert(i < CACHE_CLASSES);
    return ((size_t)4 + i % 4) << (CACHE_MIN_SHIFT - 2 + i / 4);
}

/* CACHE_CLASSES when no class holds size. */
static unsigned class_of(size_t size)
{
    unsigned i = 0;

    if (size > class_size(CACHE_CLASSES - 1))
        return CACHE_CLASSES;
    while (class_size(i) < size)
        i++;
    return i;
}

static void free_list(struct cache_block *b)
{
    while (b != NULL) {
        struct cache_block *next = b->next;

        free(b);
        b = next;
    }
}

static void cache_put(struct trpc__msg_cache *mc, unsigned n)
{
    unsigned i;

    if (atomic_fetch_sub_explicit(&mc->refs, n, memory_order_acq_rel) != n)
        return;
    for (i = 0; i < CACHE_CLASSES; i++) {
        free_list(mc->mine[i]);
        free_list(atomic_load_explicit(&mc->back[i], memory_order_acquire));
    }
    free(mc);
}

/* The client's cache, created on first use; only the I/O side calls this. NULL: out of memory. */
static struct trpc__msg_cache *cache_get(trpc_client *c)
{
    struct trpc__msg_cache *mc = c->msg_cache;

    if (mc != NULL)
        return mc;
    mc = aligned_alloc(alignof(struct trpc__msg_cache), sizeof(*mc));
    if (mc == NULL)
        return NULL;
    memset(mc, 0, sizeof(*mc));
    atomic_init(&mc->refs, 1);
    c->msg_cache = mc;
    return mc;
}

void trpc__msg_cache_close(trpc_client *c)
{
    struct trpc__msg_cache *mc = c->msg_cache;
    unsigned i;

    if (mc == NULL)
        return;
    c->msg_cache = NULL; /* the I/O side is gone: mine is ours */
    atomic_store(&mc->closed, true);
    for (i = 0; i < CACHE_CLASSES; i++) {
        free_list(mc->mine[i]);
        mc->mine[i] = NULL;
        /* A block given back from here on is either freed (closed) or, pushed by a free that
         * looked before we closed, freed with the cache by cache_put. */
        free_list(atomic_exchange_explicit(&mc->back[i], NULL, memory_order_acquire));
    }
    cache_put(mc, 1 + mc->ref_credit);
}

/* Subtracts what the I/O side took off its lists from the shared count. */
static void settle_bytes(struct trpc__msg_cache *mc)
{
    atomic_fetch_sub_explicit(&mc->bytes, mc->owed_bytes, memory_order_relaxed);
    mc->owed_bytes = 0;
    mc->owed_blocks = 0;
}

/* A block of at least total bytes; *mc and *cls say where it goes back (*mc NULL: free it). */
static void *msg_alloc(trpc_client *c, size_t total, struct trpc__msg_cache **mcp, unsigned *cls)
{
    struct trpc__msg_cache *mc = cache_get(c);
    unsigned i = class_of(total);
    struct cache_block *b;

    *mcp = NULL;
    *cls = 0;
    if (mc == NULL || i == CACHE_CLASSES)
        return malloc(total);
    b = mc->mine[i];
    if (b == NULL)
        b = atomic_exchange_explicit(&mc->back[i], NULL, memory_order_acquire);
    if (b != NULL) {
        mc->mine[i] = b->next;
        mc->owed_bytes += class_size(i);
        if (++mc->owed_blocks >= SETTLE_BLOCKS || mc->owed_bytes >= SETTLE_BYTES)
            settle_bytes(mc);
        mc->recycled++;
    } else if ((b = malloc(class_size(i))) == NULL)
        return NULL;
    if (mc->ref_credit == 0) {
        atomic_fetch_add_explicit(&mc->refs, SETTLE_BLOCKS, memory_order_relaxed);
        mc->ref_credit = SETTLE_BLOCKS;
    }
    mc->ref_credit--;
    *mcp = mc;
    *cls = i;
    return b;
}

trpc_msg *trpc__msg_from_frame(trpc_client *c, const struct wire_frame *f)
{
    size_t hdr_len = (size_t)f->hdr_len + f->header_count;
    size_t total = sizeof(trpc_msg) + (size_t)f->topic_len + 1 + hdr_len + f->payload_len + 1;
    struct trpc__msg_cache *mc;
    unsigned cls;
    trpc_msg *m = msg_alloc(c, total, &mc, &cls);
    struct wire_header h;
    uint32_t pos = 0;
    uint8_t *p;

    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->cache = mc;
    m->cache_class = (uint8_t)cls;
    m->node.kind = TRPC__NODE_MSG;
    m->c = c;
    m->type = f->type;
    m->flags = f->flags;
    m->aux = f->aux;
    m->seq = f->seq;
    m->len = f->payload_len;
    m->hdr_len = (uint32_t)hdr_len;
    m->header_count = f->header_count;
    atomic_init(&m->answered, false);
    p = (uint8_t *)(m + 1);
    m->topic = (const char *)p;
    if (f->topic_len)
        memcpy(p, f->topic, f->topic_len);
    p[f->topic_len] = '\0';
    p += f->topic_len + 1;
    m->headers = p;
    while (wire_header_next(f, &pos, &h) == 1) {
        p[0] = (uint8_t)h.key_len;
        p[1] = (uint8_t)(h.key_len >> 8);
        p[2] = (uint8_t)h.val_len;
        p[3] = (uint8_t)(h.val_len >> 8);
        memcpy(p + 4, h.key, h.key_len);
        p[4 + h.key_len] = '\0';
        if (h.val_len)
            memcpy(p + 5 + h.key_len, h.val, h.val_len);
        p += 5u + h.key_len + h.val_len;
    }
    assert(p == m->headers + hdr_len);
    m->data = p;
    if (f->payload_len)
        memcpy(p, f->payload, f->payload_len);
    p[f->payload_len] = 0;
    assert((size_t)(p + f->payload_len + 1 - (uint8_t *)m) == total);
    return m;
}

void trpc_msg_free(trpc_msg *m)
{
    struct trpc__msg_cache *mc;
    struct cache_block *b;
    unsigned i;
    size_t size;

    if (m == NULL)
        return;
    mc = m->cache;
    if (mc == NULL) {
        free(m);
        return;
    }
    i = m->cache_class;
    size = class_size(i);
    b = (struct cache_block *)(void *)m;
    if (atomic_load_explicit(&mc->closed, memory_order_relaxed)) {
        free(b);
    } else if (atomic_fetch_add_explicit(&mc->bytes, size, memory_order_relaxed) + size > CACHE_BYTES) {
        atomic_fetch_sub_explicit(&mc->bytes, size, memory_order_relaxed);
        free(b);
    } else {
        b->next = atomic_load_explicit(&mc->back[i], memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&mc->back[i], &b->next, b, memory_order_release, memory_order_relaxed))
            continue;
    }
    cache_put(mc, 1);
}

const char *trpc_msg_topic(const trpc_msg *m)
{
    return m ? m->topic : "";
}

const void *trpc_msg_data(const trpc_msg *m)
{
    static const uint8_t empty;

    return m ? (const void *)m->data : (const void *)&empty;
}

size_t trpc_msg_len(const trpc_msg *m)
{
    return m ? m->len : 0;
}

/* Walks the header block: entries were checked by the decoder when the frame came in. */
static bool header_at(const trpc_msg *m, uint32_t *pos, const char **key, size_t *key_len, const void **val, size_t *val_len)
{
    const uint8_t *e = m->headers + *pos;
    size_t kl, vl;

    if (*pos + 4 > m->hdr_len)
        return false;
    kl = (size_t)e[0] | (size_t)e[1] << 8;
    vl = (size_t)e[2] | (size_t)e[3] << 8;
    assert(*pos + 5 + kl + vl <= m->hdr_len);
    *key = (const char *)e + 4;
    *key_len = kl;
    *val = e + 5 + kl;
    *val_len = vl;
    *pos += (uint32_t)(5 + kl + vl);
    return true;
}

const void *trpc_msg_header(const trpc_msg *m, const char *key, size_t *len)
{
    uint32_t pos = 0;
    const char *k;
    const void *v;
    size_t kl, vl, want;

    if (m == NULL || key == NULL)
        return NULL;
    want = strlen(key);
    while (header_at(m, &pos, &k, &kl, &v, &vl)) {
        if (kl == want && memcmp(k, key, kl) == 0) {
            if (len)
                *len = vl;
            return v;
        }
    }
    return NULL;
}

size_t trpc_msg_header_count(const trpc_msg *m)
{
    return m ? m->header_count : 0;
}

bool trpc_msg_header_at(const trpc_msg *m, size_t i, const char **key, const void **value, size_t *value_len)
{
    uint32_t pos = 0;
    const char *k;
    const void *v;
    size_t kl, vl, n = 0;

    if (m == NULL)
        return false;
    while (header_at(m, &pos, &k, &kl, &v, &vl)) {
        if (n++ != i)
            continue;
        if (key)
            *key = k;
        if (value)
            *value = v;
        if (value_len)
            *value_len = vl;
        return true;
    }
    return false;
}

/* The last value of header key (the broker's own come after the publisher's), or NULL. */
static const void *last_header(const trpc_msg *m, const char *key, size_t *len)
{
    const void *val = NULL, *v;
    const char *k;
    size_t l;

    for (size_t i = 0; trpc_msg_header_at(m, i, &k, &v, &l); i++)
        if (strcmp(k, key) == 0) {
            val = v;
            *len = l;
        }
    return val;
}

bool trpc__msg_reply_token(const trpc_msg *m, uint64_t *token, uint64_t *secret)
{
    const void *val;
    size_t vl = 0;
    char hex[17];

    if (m == NULL || m->type != WIRE_MSG || !(m->flags & WIRE_F_ACK_REQUIRED) || m->hdr_len == 0 ||
        (val = last_header(m, ":trpc-reply", &vl)) == NULL || vl != 32)
        return false;
    memcpy(hex, val, 16);
    hex[16] = '\0';
    *token = strtoull(hex, NULL, 16);
    memcpy(hex, (const char *)val + 16, 16);
    *secret = strtoull(hex, NULL, 16);
    return *token != 0;
}

bool trpc_msg_is_request(const trpc_msg *m)
{
    uint64_t token, secret;

    return m != NULL && m->type == WIRE_MSG && ((m->flags & WIRE_F_REQUEST) || trpc__msg_reply_token(m, &token, &secret));
}

/* A stored durable request's: from its :trpc-deadline (Unix ms, the broker's, the last one) and
 * this machine's clock. */
uint32_t trpc_msg_deadline_ms(const trpc_msg *m)
{
    const void *val;
    size_t vl = 0;
    char num[24];
    uint64_t at, now;
    struct timespec ts;

    if (m != NULL && m->type == WIRE_MSG && (m->flags & WIRE_F_REQUEST))
        return m->aux;
    if (!trpc_msg_is_request(m))
        return 0;
    val = last_header(m, ":trpc-deadline", &vl);
    if (val == NULL || vl == 0 || vl >= sizeof(num))
        return 0;
    memcpy(num, val, vl);
    num[vl] = '\0';
    at = strtoull(num, NULL, 10);
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    return at > now ? (at - now > UINT32_MAX ? UINT32_MAX : (uint32_t)(at - now)) : 0;
}

uint32_t trpc_msg_error_code(const trpc_msg *m)
{
    return m ? m->error_code : 0;
}

uint32_t trpc_msg_delivery(const trpc_msg *m)
{
    return m != NULL && m->type == WIRE_MSG && (m->flags & WIRE_F_ACK_REQUIRED) ? m->aux : 0;
}

uint64_t trpc_msg_seq(const trpc_msg *m)
{
    return m != NULL && m->type == WIRE_MSG && (m->flags & WIRE_F_ACK_REQUIRED) ? m->seq : 0;
}
