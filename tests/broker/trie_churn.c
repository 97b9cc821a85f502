/*
 * Insert and remove in any order: counts stay right, removed entries are never visited again,
 * and removing everything prunes the trie back to its root (no node leaks under churn).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/topic.h"
#include "src/trie.h"
#include "tests/tap.h"

#define N 3000

static char pat[N][32];
static int live[N];
static int hits[N];

static void hit(void *entry, void *ctx)
{
    (void)ctx;
    hits[(intptr_t)entry]++;
}

int main(void)
{
    struct trie *t = trie_new(256);
    unsigned seed = 12345;
    int i, round, stale = 0, n_live = 0;

    if (t == NULL)
        BAIL_OUT("trie_new");
    for (i = 0; i < N; i++) {
        /* Many siblings under one parent force the child tables to grow and to shift on delete. */
        snprintf(pat[i], sizeof(pat[i]), "s%d.%s.t%d", i % 7, (i % 5 == 0) ? "*" : "x", i % 211);
        if (i % 13 == 0)
            snprintf(pat[i], sizeof(pat[i]), "s%d.>", i % 7);
    }
    for (round = 0; round < 20000; round++) {
        seed = seed * 1103515245u + 12345u;
        i = (int)((seed >> 8) % N);
        if (live[i]) {
            if (trie_remove(t, pat[i], strlen(pat[i]), (void *)(intptr_t)i) != 0)
                BAIL_OUT("remove %s", pat[i]);
            live[i] = 0;
            n_live--;
        } else {
            if (trie_insert(t, pat[i], strlen(pat[i]), (void *)(intptr_t)i) != 0)
                BAIL_OUT("insert %s", pat[i]);
            live[i] = 1;
            n_live++;
        }
        if (round % 97 == 0) {
            char topic[32];
            snprintf(topic, sizeof(topic), "s%d.x.t%d", round % 7, round % 211);
            memset(hits, 0, sizeof(hits));
            trie_match(t, topic, strlen(topic), hit, NULL);
            for (i = 0; i < N; i++) {
                int want = live[i] && topic_match(pat[i], strlen(pat[i]), topic, strlen(topic));
                stale += hits[i] != want;
            }
        }
    }
    ok_eq(trie_count(t), n_live, "count follows inserts and removes");
    ok_eq(stale, 0, "exactly the live matching entries are visited, removed ones never");
    ok_eq(trie_remove(t, "no.such", 7, (void *)1), -ENOENT, "removing an absent pattern is ENOENT");
    for (i = 0; i < N; i++)
        if (live[i] && trie_remove(t, pat[i], strlen(pat[i]), (void *)(intptr_t)(i + N)) != -ENOENT)
            stale++;
    ok_eq(stale, 0, "removing an absent entry from a present pattern is ENOENT");
    for (i = 0; i < N; i++)
        if (live[i])
            trie_remove(t, pat[i], strlen(pat[i]), (void *)(intptr_t)i);
    ok_eq(trie_count(t), 0, "empty after removing all");
    ok_eq(trie_node_count(t), 1, "pruned back to the root");
    trie_free(t);
    return done_testing();
}
