/* Open-addressing map of non-zero u64 keys (see idmap.h). Kept at most 3/4 full. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "src/idmap.h"

#define IDMAP_MIN 8

static uint32_t home(uint64_t key, uint32_t cap)
{
    key ^= key >> 33;
    key *= UINT64_C(0xff51afd7ed558ccd);
    key ^= key >> 33;
    return (uint32_t)key & (cap - 1);
}

void *idmap_get(const struct idmap *m, uint64_t key)
{
    assert(key != 0);
    if (m->cap == 0)
        return NULL;
    for (uint32_t i = home(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (m->keys[i] == 0)
            return NULL;
    }
}

static void insert_fresh(struct idmap *m, uint64_t key, void *val)
{
    uint32_t i = home(key, m->cap);

    while (m->keys[i] != 0)
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = val;
    m->count++;
}

static int resize(struct idmap *m, uint32_t cap)
{
    struct idmap n = {0};

    n.keys = calloc(cap, sizeof(*n.keys));
    n.vals = calloc(cap, sizeof(*n.vals));
    if (n.keys == NULL || n.vals == NULL) {
        free(n.keys);
        free(n.vals);
        return -ENOMEM;
    }
    n.cap = cap;
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->keys[i] != 0)
            insert_fresh(&n, m->keys[i], m->vals[i]);
    idmap_free(m);
    *m = n;
    return 0;
}

static int grow(struct idmap *m)
{
    uint32_t cap = m->cap ? m->cap * 2 : IDMAP_MIN;

    if (cap < m->cap)
        return -ENOMEM;
    return resize(m, cap);
}

int idmap_put(struct idmap *m, uint64_t key, void *val)
{
    assert(key != 0);
    assert(val != NULL);
    if (idmap_get(m, key) != NULL)
        return -EEXIST;
    if ((uint64_t)(m->count + 1) * 4 > (uint64_t)m->cap * 3) {
        int ret = grow(m);
        if (ret != 0)
            return ret;
    }
    insert_fresh(m, key, val);
    return 0;
}

void *idmap_del(struct idmap *m, uint64_t key)
{
    uint32_t i, j, mask = m->cap - 1;
    void *val;

    assert(key != 0);
    if (m->cap == 0)
        return NULL;
    for (i = home(key, m->cap); m->keys[i] != key; i = (i + 1) & mask)
        if (m->keys[i] == 0)
            return NULL;
    val = m->vals[i];
    /* Backward shift: pull later members of the run into the hole when their home allows. */
    for (j = (i + 1) & mask; m->keys[j] != 0; j = (j + 1) & mask) {
        uint32_t h = home(m->keys[j], m->cap);

        if (((j - h) & mask) >= ((j - i) & mask)) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->count--;
    /* A map keeps the size of its peak otherwise (a connection that had 200,000 subscriptions,
     * a core that saw 10,000 remote connections). Down to a quarter full, growth being at three
     * quarters, so churn around the boundary does not rehash on every call; on failure the
     * larger table stays. */
    if (m->count * 8 < m->cap && m->cap > IDMAP_MIN)
        (void)resize(m, m->cap / 4 > IDMAP_MIN ? m->cap / 4 : IDMAP_MIN);
    return val;
}

void *idmap_next(const struct idmap *m, uint32_t *pos, uint64_t *key)
{
    while (*pos < m->cap) {
        uint32_t i = (*pos)++;

        if (m->keys[i] != 0) {
            if (key != NULL)
                *key = m->keys[i];
            return m->vals[i];
        }
    }
    return NULL;
}

void idmap_free(struct idmap *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = 0;
    m->count = 0;
}
