/*
 * A topic of the longest allowed length made of one-byte tokens, against patterns with "*" at
 * every level: matching stays within its preallocated stack and finds every match.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/trie.h"
#include "tests/tap.h"

#define MAX_TOPIC 65535

static size_t count;

static void hit(void *entry, void *ctx)
{
    (void)entry;
    (void)ctx;
    count++;
}

int main(void)
{
    struct trie *t = trie_new(MAX_TOPIC);
    char *topic = malloc(MAX_TOPIC), *pattern = malloc(MAX_TOPIC);
    size_t i, tokens = (MAX_TOPIC + 1) / 2, n;

    if (t == NULL || topic == NULL || pattern == NULL)
        BAIL_OUT("alloc");
    for (i = 0; i < MAX_TOPIC; i++)
        topic[i] = (i % 2) ? '.' : 'a';
    /* "*.*.*...": the same length as the topic, so it matches it. */
    for (i = 0; i < MAX_TOPIC; i++)
        pattern[i] = (i % 2) ? '.' : '*';
    ok(trie_insert(t, pattern, MAX_TOPIC, (void *)1) == 0, "insert a %zu-token pattern", tokens);
    /* A literal path along the same topic: every level has both a literal and a "*" child. */
    ok(trie_insert(t, topic, MAX_TOPIC, (void *)2) == 0, "insert the literal topic");
    ok(trie_insert(t, "a.>", 3, (void *)3) == 0, "insert a.>");
    n = trie_match(t, topic, MAX_TOPIC, hit, NULL);
    ok_eq(n, 3, "all three patterns match");
    ok_eq(count, 3, "visit called three times");
    count = 0;
    n = trie_match(t, "a.a", 3, hit, NULL);
    ok_eq(n, 1, "a short topic matches only a.>");
    trie_free(t);
    free(topic);
    free(pattern);
    return done_testing();
}
