/*
 * The subject trie (see trie.h).
 *
 * Literal children live in an open-addressing table with linear probing, deleted by backward
 * shift so that no tombstones accumulate under subscription churn. A node's entries are a plain
 * array: the common case is a handful of subscribers per pattern, and the order of the array is
 * the order of delivery.
 *
 * Matching is a depth-first walk with an explicit stack, not recursion, because a topic may have
 * thousands of tokens (a 64 KiB topic of one-byte tokens) and a core thread's stack is not the
 * place to find that out. The stack is allocated with the trie, sized for the longest topic the
 * broker accepts, so matching never allocates.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver/topic.h"
#include "src/trie.h"

#define KIDS_MIN 4

struct node {
    struct node *parent;
    struct node **kids; /* literal children, open addressing; NULL when none */
    uint32_t kid_cap;   /* 0 or a power of two */
    uint32_t kid_count;
    struct node *star; /* child for "*" */
    struct node *gt;   /* child for ">" */
    void **entries;
    uint32_t n_entries;
    uint32_t entry_cap;
    uint32_t hash;
    uint32_t token_len;
    char token[]; /* this node's token; empty for the root and the wildcard children */
};

struct pending {
    const struct node *n;
    size_t pos; /* offset in the topic of the token n is to be matched against */
};

struct trie {
    struct node *root;
    size_t count;
    size_t nodes;
    uint64_t gen; /* inserts and removals: what trie_match finds changes only with it */
    size_t max_topic;
    struct pending *stack; /* trie_match's work stack, sized once for the longest topic */
    size_t stack_cap;
};

static uint32_t token_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a: tokens are short, and this is cheap and spreads well */
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static struct node *node_new(struct trie *t, struct node *parent, const char *tok, size_t len, uint32_t hash)
{
    struct node *n = calloc(1, sizeof(*n) + len);

    if (n == NULL)
        return NULL;
    n->parent = parent;
    n->hash = hash;
    n->token_len = (uint32_t)len;
    memcpy(n->token, tok, len);
    t->nodes++;
    return n;
}

static bool node_is_empty(const struct node *n)
{
    return n->n_entries == 0 && n->kid_count == 0 && n->star == NULL && n->gt == NULL;
}

static struct node *kid_find(const struct node *n, const char *tok, size_t len, uint32_t hash)
{
    uint32_t mask, i;

    if (n->kid_cap == 0)
        return NULL;
    mask = n->kid_cap - 1;
    for (i = hash & mask;; i = (i + 1) & mask) {
        struct node *k = n->kids[i];
        if (k == NULL)
            return NULL;
        if (k->hash == hash && k->token_len == len && memcmp(k->token, tok, len) == 0)
            return k;
    }
}

static void kid_place(struct node **kids, uint32_t cap, struct node *k)
{
    uint32_t mask = cap - 1, i;

    for (i = k->hash & mask; kids[i] != NULL; i = (i + 1) & mask)
        ;
    kids[i] = k;
}

/* Rehashes n's children into a table of cap slots: 0, or -ENOMEM with the old table kept. */
static int kids_resize(struct node *n, uint32_t cap)
{
    struct node **kids = calloc(cap, sizeof(*kids));
    uint32_t i;

    if (kids == NULL)
        return -ENOMEM;
    for (i = 0; i < n->kid_cap; i++)
        if (n->kids[i] != NULL)
            kid_place(kids, cap, n->kids[i]);
    free(n->kids);
    n->kids = kids;
    n->kid_cap = cap;
    return 0;
}

/* Makes room for one more child, keeping the load at most one half. */
static int kids_reserve(struct node *n)
{
    if ((n->kid_count + 1) * 2 <= n->kid_cap)
        return 0;
    return kids_resize(n, n->kid_cap ? n->kid_cap * 2 : KIDS_MIN);
}

/* Removes k from its parent's table, shifting back the entries of its probe run. */
static void kid_unlink(struct node *n, const struct node *k)
{
    uint32_t mask = n->kid_cap - 1, i, j;

    for (i = k->hash & mask; n->kids[i] != k; i = (i + 1) & mask)
        assert(n->kids[i] != NULL);
    n->kids[i] = NULL;
    for (j = (i + 1) & mask; n->kids[j] != NULL; j = (j + 1) & mask) {
        uint32_t home = n->kids[j]->hash & mask;
        /* Move kids[j] into the hole when its home does not lie cyclically in (i, j]. */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            n->kids[i] = n->kids[j];
            n->kids[j] = NULL;
            i = j;
        }
    }
    n->kid_count--;
    if (n->kid_count == 0) {
        free(n->kids);
        n->kids = NULL;
        n->kid_cap = 0;
    } else if (n->kid_count * 8 < n->kid_cap && n->kid_cap > KIDS_MIN) {
        /* A table keeps the size of its peak: 200,000 children of one node took 4 MiB, kept for
         * the one that stayed. Down to a quarter full (growth is at one half), so that churn
         * around the boundary rehashes once per many removals, not on each. A shrink that cannot
         * allocate keeps the larger table. */
        (void)kids_resize(n, n->kid_cap / 4 > KIDS_MIN ? n->kid_cap / 4 : KIDS_MIN);
    }
}

static void node_free_one(struct trie *t, struct node *n)
{
    assert(t->nodes > 0);
    t->nodes--;
    free(n->kids);
    free(n->entries);
    free(n);
}

/* Frees empty nodes from n up toward the root (the root itself stays). */
static void prune(struct trie *t, struct node *n)
{
    while (n != t->root && node_is_empty(n)) {
        struct node *p = n->parent;
        if (p->star == n)
            p->star = NULL;
        else if (p->gt == n)
            p->gt = NULL;
        else
            kid_unlink(p, n);
        node_free_one(t, n);
        n = p;
    }
}

/* The child of n for token tok, created when absent. */
static struct node *child_get(struct trie *t, struct node *n, const char *tok, size_t len)
{
    struct node **slot = NULL, *k;
    uint32_t hash;

    if (len == 1 && tok[0] == '*')
        slot = &n->star;
    else if (len == 1 && tok[0] == '>')
        slot = &n->gt;
    if (slot != NULL) {
        if (*slot == NULL)
            *slot = node_new(t, n, "", 0, 0);
        return *slot;
    }
    hash = token_hash(tok, len);
    k = kid_find(n, tok, len, hash);
    if (k != NULL)
        return k;
    if (kids_reserve(n) != 0)
        return NULL;
    k = node_new(t, n, tok, len, hash);
    if (k != NULL) {
        kid_place(n->kids, n->kid_cap, k);
        n->kid_count++;
    }
    return k;
}

static struct node *path_find(const struct trie *t, const char *pattern, size_t len)
{
    struct topic_iter it;
    struct node *n = t->root;
    const char *tok;
    size_t tlen;

    topic_iter_init(&it, pattern, len);
    while (n != NULL && topic_iter_next(&it, &tok, &tlen)) {
        if (tlen == 1 && tok[0] == '*')
            n = n->star;
        else if (tlen == 1 && tok[0] == '>')
            n = n->gt;
        else
            n = kid_find(n, tok, tlen, token_hash(tok, tlen));
    }
    return n;
}

struct trie *trie_new(size_t max_topic)
{
    struct trie *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    assert(max_topic > 0);
    t->max_topic = max_topic;
    /* A topic of max_topic bytes has at most (max_topic + 1) / 2 tokens. */
    t->stack_cap = (max_topic + 1) / 2;
    t->stack = calloc(t->stack_cap, sizeof(*t->stack));
    t->root = node_new(t, NULL, "", 0, 0);
    if (t->root == NULL || t->stack == NULL)
        goto out_free;
    return t;

out_free:
    free(t->root);
    free(t->stack);
    free(t);
    return NULL;
}

static void subtree_free(struct trie *t, struct node *n)
{
    uint32_t i;

    for (i = 0; i < n->kid_cap; i++)
        if (n->kids[i] != NULL)
            subtree_free(t, n->kids[i]);
    if (n->star != NULL)
        subtree_free(t, n->star);
    if (n->gt != NULL)
        subtree_free(t, n->gt);
    node_free_one(t, n);
}

void trie_free(struct trie *t)
{
    if (t == NULL)
        return;
    /* Recursion is bounded by the deepest pattern, which the broker's topic limit bounds. */
    subtree_free(t, t->root);
    assert(t->nodes == 0);
    free(t->stack);
    free(t);
}

static int entry_add(struct node *n, void *entry)
{
    uint32_t i;

    for (i = 0; i < n->n_entries; i++)
        if (n->entries[i] == entry)
            return -EEXIST;
    if (n->n_entries == n->entry_cap) {
        uint32_t cap = n->entry_cap ? n->entry_cap * 2 : 2;
        void **e = realloc(n->entries, cap * sizeof(*e));
        if (e == NULL)
            return -ENOMEM;
        n->entries = e;
        n->entry_cap = cap;
    }
    n->entries[n->n_entries++] = entry;
    return 0;
}

int trie_insert(struct trie *t, const char *pattern, size_t len, void *entry)
{
    struct topic_iter it;
    struct node *n = t->root;
    const char *tok;
    size_t tlen;
    int err;

    assert(topic_check_pattern(pattern, len) == 0);
    topic_iter_init(&it, pattern, len);
    while (topic_iter_next(&it, &tok, &tlen)) {
        struct node *k = child_get(t, n, tok, tlen);
        if (k == NULL) {
            prune(t, n);
            return -ENOMEM;
        }
        n = k;
    }
    err = entry_add(n, entry);
    if (err) {
        prune(t, n);
        return err;
    }
    t->count++;
    t->gen++;
    return 0;
}

int trie_remove(struct trie *t, const char *pattern, size_t len, void *entry)
{
    struct node *n = path_find(t, pattern, len);
    uint32_t i;

    if (n == NULL)
        return -ENOENT;
    for (i = 0; i < n->n_entries && n->entries[i] != entry; i++)
        ;
    if (i == n->n_entries)
        return -ENOENT;
    /* Keep delivery order: shift rather than swap with the last. */
    memmove(&n->entries[i], &n->entries[i + 1], (n->n_entries - i - 1) * sizeof(*n->entries));
    n->n_entries--;
    if (n->n_entries * 8 < n->entry_cap && n->entry_cap > 16) {
        /* Likewise for the subscribers of one pattern (growth doubles when full). */
        void **e = realloc(n->entries, (n->entry_cap / 4) * sizeof(*e));

        if (e != NULL) {
            n->entries = e;
            n->entry_cap /= 4;
        }
    }
    assert(t->count > 0);
    t->count--;
    t->gen++;
    prune(t, n);
    return 0;
}

struct walk {
    const char *topic;
    size_t len;
    trie_visit_fn visit;
    void *ctx;
    struct pending *stack;
    size_t sp;
    size_t cap;
    size_t visits;
};

static void visit_all(struct walk *w, const struct node *n)
{
    uint32_t i;

    for (i = 0; i < n->n_entries; i++)
        w->visit(n->entries[i], w->ctx);
    w->visits += n->n_entries;
}

/*
 * Walks from (n, pos): follows literal children, pushing the "*" branch of each level. Pushed
 * positions rise along a walk, and a popped branch only pushes positions above its own, so the
 * stack holds at most one entry per token after the first.
 */
static void walk(struct walk *w, const struct node *n, size_t pos)
{
    for (;;) {
        const char *dot = memchr(w->topic + pos, '.', w->len - pos);
        size_t end = dot != NULL ? (size_t)(dot - w->topic) : w->len;
        const struct node *lit;

        /* ">" takes this token and all that follow. */
        if (n->gt != NULL)
            visit_all(w, n->gt);
        lit = kid_find(n, w->topic + pos, end - pos, token_hash(w->topic + pos, end - pos));
        if (end == w->len) {
            if (lit != NULL)
                visit_all(w, lit);
            if (n->star != NULL)
                visit_all(w, n->star);
            return;
        }
        if (n->star != NULL) {
            assert(w->sp < w->cap);
            w->stack[w->sp++] = (struct pending){n->star, end + 1};
        }
        if (lit == NULL)
            return;
        n = lit;
        pos = end + 1;
    }
}

size_t trie_match(struct trie *t, const char *topic, size_t len, trie_visit_fn visit, void *ctx)
{
    struct walk w = {topic, len, visit, ctx, t->stack, 0, t->stack_cap, 0};

    assert(len <= t->max_topic);
#ifdef TRPC_EXPENSIVE_CHECKS
    /* BUG_ON_HOT (style.md): every caller passes a topic the codec validated (wire_decode), or one
     * that came from such a frame through a cross-core copy, so re-checking each byte of it on
     * every message (~40% of the broker's instructions per PUB, docs/performance.md) buys nothing
     * in production. --enable-sanitizers builds, which run the tests, define
     * TRPC_EXPENSIVE_CHECKS and keep it. */
    assert(topic_check_literal(topic, len) == 0);
#endif
    walk(&w, t->root, 0);
    while (w.sp > 0) {
        struct pending p = w.stack[--w.sp];
        walk(&w, p.n, p.pos);
    }
    return w.visits;
}

uint64_t trie_generation(const struct trie *t)
{
    return t->gen;
}

size_t trie_count(const struct trie *t)
{
    return t->count;
}

size_t trie_node_count(const struct trie *t)
{
    return t->nodes;
}
