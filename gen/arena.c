/*
 * arena: the bump allocator behind every syntax tree. A compilation allocates many small objects
 * and frees them all together, so chunks are only ever appended and released at the end.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"

enum { CHUNK_BYTES = 64 * 1024 };

struct gen_chunk {
    struct gen_chunk *next;
    size_t used;
    size_t size;
    max_align_t data[];
};

static _Noreturn void out_of_memory(void)
{
    fputs("trpc-gen: out of memory\n", stderr);
    exit(2);
}

void *gen_alloc(struct gen_arena *a, size_t n)
{
    struct gen_chunk *c = a->_head;
    size_t need = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    void *p;

    assert(n > 0);
    if (need < n)
        out_of_memory();
    if (c == NULL || c->size - c->used < need) {
        size_t size = need > CHUNK_BYTES ? need : CHUNK_BYTES;

        c = malloc(sizeof(*c) + size);
        if (c == NULL)
            out_of_memory();
        c->next = a->_head;
        c->used = 0;
        c->size = size;
        a->_head = c;
        a->_total += size;
    }
    p = (char *)c->data + c->used;
    c->used += need;
    assert(c->used <= c->size);
    memset(p, 0, n);
    return p;
}

char *gen_strndup(struct gen_arena *a, const char *s, size_t n)
{
    char *p = gen_alloc(a, n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void gen_arena_free(struct gen_arena *a)
{
    struct gen_chunk *c = a->_head;

    while (c != NULL) {
        struct gen_chunk *next = c->next;

        free(c);
        c = next;
    }
    a->_head = NULL;
    a->_total = 0;
}
