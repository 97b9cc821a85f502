/*
 * The trie finds exactly the patterns that match a topic: checked against topic_match, the
 * reference, over every pattern and topic built from a small alphabet, plus a table of cases.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "driver/topic.h"
#include "src/trie.h"
#include "tests/tap.h"

#define MAX_PATTERNS 600

static const char *patterns[MAX_PATTERNS];
static char storage[MAX_PATTERNS][16];
static int n_patterns;
static int hits[MAX_PATTERNS];

static void count_hit(void *entry, void *ctx)
{
    (void)ctx;
    hits[(intptr_t)entry]++;
}

/* Every string of 1..3 tokens over {a, b, *, >} that is a valid pattern. */
static void make_patterns(void)
{
    static const char *toks[] = {"a", "b", "*", ">"};
    int len, i;

    for (len = 1; len <= 3; len++) {
        int total = 1;
        for (i = 0; i < len; i++)
            total *= 4;
        for (i = 0; i < total; i++) {
            char *p = storage[n_patterns];
            int k, v = i;
            p[0] = '\0';
            for (k = 0; k < len; k++, v /= 4) {
                if (k)
                    strcat(p, ".");
                strcat(p, toks[v % 4]);
            }
            if (topic_check_pattern(p, strlen(p)) == 0)
                patterns[n_patterns++] = p;
        }
    }
}

static int check_topic(struct trie *t, const char *topic)
{
    int i, bad = 0;
    size_t visits, want = 0;

    memset(hits, 0, sizeof(hits));
    visits = trie_match(t, topic, strlen(topic), count_hit, NULL);
    for (i = 0; i < n_patterns; i++) {
        int m = topic_match(patterns[i], strlen(patterns[i]), topic, strlen(topic));
        want += m;
        if (hits[i] != m) {
            diag("topic %s pattern %s: trie %d, reference %d", topic, patterns[i], hits[i], m);
            bad++;
        }
    }
    return bad == 0 && visits == want;
}

int main(void)
{
    static const char *topics[] = {"a", "b", "c", "a.a", "a.b", "b.c", "a.b.a", "b.b.b", "a.a.a.a", "c.a.b", "a.b.c.d.e"};
    struct trie *t = trie_new(256);
    int i, all = 1;

    if (t == NULL)
        BAIL_OUT("trie_new");
    make_patterns();
    for (i = 0; i < n_patterns; i++)
        if (trie_insert(t, patterns[i], strlen(patterns[i]), (void *)(intptr_t)i) != 0)
            BAIL_OUT("insert %s", patterns[i]);
    ok_eq(trie_count(t), n_patterns, "all %d patterns stored", n_patterns);
    for (i = 0; i < (int)(sizeof(topics) / sizeof(topics[0])); i++)
        ok(check_topic(t, topics[i]), "topic %s visits exactly its matching patterns", topics[i]);
    for (i = 0; i < 2000; i++) {
        /* Literal topics of 1..4 tokens over {a, b, c}. */
        char topic[16] = "";
        int k, len = 1 + i % 4, v = i / 4;
        for (k = 0; k < len; k++, v /= 3) {
            if (k)
                strcat(topic, ".");
            strcat(topic, (const char *[]){"a", "b", "c"}[v % 3]);
        }
        all &= check_topic(t, topic);
    }
    ok(all, "2000 generated topics agree with topic_match");
    ok_eq(trie_insert(t, patterns[5], strlen(patterns[5]), (void *)(intptr_t)5), -EEXIST, "same pattern and entry twice is EEXIST");
    {
        uint64_t g = trie_generation(t);

        check_topic(t, "a.b");
        ok(trie_generation(t) == g && trie_remove(t, "a.b", 3, (void *)(intptr_t)-1) == -ENOENT && trie_generation(t) == g,
           "matching, a refused insert and a failed removal leave the generation as it was");
        ok(trie_remove(t, patterns[5], strlen(patterns[5]), (void *)(intptr_t)5) == 0 && trie_generation(t) != g,
           "a removal changes it");
        g = trie_generation(t);
        ok(trie_insert(t, patterns[5], strlen(patterns[5]), (void *)(intptr_t)5) == 0 && trie_generation(t) != g,
           "and so does an insert");
    }
    trie_free(t);
    return done_testing();
}
