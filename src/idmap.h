/*
 * idmap: a map from non-zero 64-bit keys to pointers, open addressing with linear probing and
 * deletion by backward shift (no tombstones). Used for a connection's subscriptions (key: the
 * subscription id) and a core's view of remote connections. Single-threaded. All-zero is an
 * empty map.
 */
#ifndef TRPC_SRC_IDMAP_H
#define TRPC_SRC_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap {
    uint64_t *keys; /* 0: empty slot */
    void **vals;
    uint32_t cap; /* 0 or a power of two */
    uint32_t count;
};

/* The value under key (non-zero), or NULL. */
void *idmap_get(const struct idmap *m, uint64_t key);
/* Adds key -> val (val non-NULL). -EEXIST when present, -ENOMEM (map unchanged). */
int idmap_put(struct idmap *m, uint64_t key, void *val);
/* Removes key and returns its value, or NULL when absent. */
void *idmap_del(struct idmap *m, uint64_t key);
/* Iteration: *pos starts at 0; returns the next value or NULL at the end. Do not modify the map
 * while iterating. */
void *idmap_next(const struct idmap *m, uint32_t *pos, uint64_t *key);
void idmap_free(struct idmap *m);

#endif
