/*
 * Tokenizer: topic_iter yields every token of a checked topic or pattern in order, as pointers
 * into the string itself, and topic_token_count agrees with it.
 */
#include <string.h>

#include "driver/topic.h"
#include "tests/tap.h"

#define MAX_TOKENS 8

static const struct {
    const char *s;
    size_t count;
    const char *tokens[MAX_TOKENS];
} cases[] = {
    {"a", 1, {"a"}},
    {"shop.billing.charge", 3, {"shop", "billing", "charge"}},
    {"a.*.>", 3, {"a", "*", ">"}},
    {">", 1, {">"}},
    {"x.yy.zzz.yy.x", 5, {"x", "yy", "zzz", "yy", "x"}},
    {"caf\xc3\xa9.\xe2\x82\xac", 2, {"caf\xc3\xa9", "\xe2\x82\xac"}},
    {"1.2.3.4.5.6.7.8", 8, {"1", "2", "3", "4", "5", "6", "7", "8"}},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static void check_case(const char *s, size_t count, const char *const *want)
{
    struct topic_iter it;
    const char *tok, *expect_at = s;
    size_t len = strlen(s), tok_len, n = 0;
    bool same = true, aliased = true;

    topic_iter_init(&it, s, len);
    while (topic_iter_next(&it, &tok, &tok_len)) {
        if (n < count)
            same = same && tok_len == strlen(want[n]) && memcmp(tok, want[n], tok_len) == 0;
        aliased = aliased && tok == expect_at;
        expect_at = tok + tok_len + 1;
        n++;
        if (n > MAX_TOKENS)
            break;
    }
    ok_eq(n, count, "\"%s\" yields %zu tokens", s, count);
    ok(same, "\"%s\" yields the expected tokens", s);
    ok(aliased, "\"%s\" tokens point into the string", s);
    ok(!topic_iter_next(&it, &tok, &tok_len), "\"%s\" iterator stays exhausted", s);
    ok_eq(topic_token_count(s, len), count, "\"%s\" has %zu tokens", s, count);
}

int main(void)
{
    struct topic_iter it;
    const char *tok = NULL;
    size_t tok_len = 12345, i;

    for (i = 0; i < N_CASES; i++) {
        if (topic_check_pattern(cases[i].s, strlen(cases[i].s)) != 0)
            BAIL_OUT("table entry %zu is not a valid pattern", i);
        check_case(cases[i].s, cases[i].count, cases[i].tokens);
    }

    /* Length bounds the iteration: "a.b" inside a longer buffer. */
    topic_iter_init(&it, "a.b.c", 3);
    ok(topic_iter_next(&it, &tok, &tok_len) && tok_len == 1 && tok[0] == 'a', "bounded: first token");
    ok(topic_iter_next(&it, &tok, &tok_len) && tok_len == 1 && tok[0] == 'b', "bounded: second token");
    ok(!topic_iter_next(&it, &tok, &tok_len), "bounded: ends at the length");
    ok_eq(topic_token_count("a.b.c", 3), 2, "bounded: count stops at the length");

    /* Empty input: no tokens, and the out-parameters are left alone. */
    tok = NULL;
    tok_len = 12345;
    topic_iter_init(&it, NULL, 0);
    ok(!topic_iter_next(&it, &tok, &tok_len), "empty string yields no token");
    ok(tok == NULL && tok_len == 12345, "out-parameters untouched at the end");
    ok_eq(topic_token_count(NULL, 0), 0, "empty string has no tokens");

    /* Unchecked input stays memory-safe and counts dots + 1. */
    ok_eq(topic_token_count("..", 2), 3, "\"..\" counts three (empty) tokens");
    topic_iter_init(&it, "a.", 2);
    ok(topic_iter_next(&it, &tok, &tok_len) && tok_len == 1, "\"a.\" first token");
    ok(topic_iter_next(&it, &tok, &tok_len) && tok_len == 0, "\"a.\" trailing empty token");
    ok(!topic_iter_next(&it, &tok, &tok_len), "\"a.\" then ends");
    return done_testing();
}
