/*
 * Two small containers every module of the broker uses: an intrusive doubly linked list and the
 * growth of a FIFO ring. Header-only; no thread rules of their own (a list or ring belongs to
 * whoever owns the struct it is in).
 */
#ifndef TRPC_SRC_BLIST_H
#define TRPC_SRC_BLIST_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A small intrusive list. A node not on a list points at itself. */
struct blist {
    struct blist *next, *prev;
};

static inline void blist_init(struct blist *l)
{
    l->next = l;
    l->prev = l;
}

static inline bool blist_empty(const struct blist *l)
{
    return l->next == l;
}

static inline void blist_del(struct blist *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n;
    n->prev = n;
}

static inline void blist_add_tail(struct blist *head, struct blist *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

#define blist_entry(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/*
 * Doubles a FIFO ring of elements of `size` bytes (*ring, *head, count used of *cap; *cap 0: none
 * yet, then `first` slots), unrolled so that it starts at 0. 0, or -ENOMEM with the ring as it was.
 */
static inline int fifo_grow(void **ring, size_t size, uint32_t *head, uint32_t count, uint32_t *cap, uint32_t first)
{
    uint32_t ncap = *cap ? *cap * 2 : first;
    char *n = malloc((size_t)ncap * size);

    if (n == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < count; i++)
        memcpy(n + (size_t)i * size, (char *)*ring + (size_t)((*head + i) % *cap) * size, size);
    free(*ring);
    *ring = n;
    *cap = ncap;
    *head = 0;
    return 0;
}

#endif
