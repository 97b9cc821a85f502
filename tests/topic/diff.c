/*
 * Differential test: topic_match and topic_check_* against simple reference implementations
 * written here from the grammar, over random inputs from a small alphabet (fixed seed, bounded).
 *
 * The reference matcher splits both strings into token arrays and backtracks, letting ">" take
 * any number >= 1 of tokens; it shares no code or strategy with the linear walk in topic.c.
 */
#include <stdint.h>
#include <string.h>

#include "driver/topic.h"
#include "tests/tap.h"

#define PAIRS   200000
#define CHECKS  200000
#define MAX_TOK 16
#define MAX_LEN 64

struct toks {
    size_t n;
    const char *s[MAX_TOK];
    size_t len[MAX_TOK];
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t bound)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % bound);
}

static void split(const char *s, size_t len, struct toks *t)
{
    size_t start = 0, i;

    t->n = 0;
    for (i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        if (t->n == MAX_TOK)
            BAIL_OUT("too many tokens");
        t->s[t->n] = s + start;
        t->len[t->n] = i - start;
        t->n++;
        start = i + 1;
    }
}

static bool tok_is(const struct toks *t, size_t i, const char *w)
{
    return t->len[i] == strlen(w) && memcmp(t->s[i], w, t->len[i]) == 0;
}

static bool ref_match(const struct toks *p, size_t pi, const struct toks *s, size_t si)
{
    size_t k;

    if (pi == p->n)
        return si == s->n;
    if (tok_is(p, pi, ">")) {
        for (k = si + 1; k <= s->n; k++)
            if (ref_match(p, pi + 1, s, k))
                return true;
        return false;
    }
    if (si == s->n)
        return false;
    if (!tok_is(p, pi, "*") && (p->len[pi] != s->len[si] || memcmp(p->s[pi], s->s[si], p->len[pi]) != 0))
        return false;
    return ref_match(p, pi + 1, s, si + 1);
}

static const char *const subject_tokens[] = {"a", "b", "ab", "ba"};

static size_t append(char *buf, size_t len, const char *tok)
{
    size_t n = strlen(tok);

    if (len + n + 1 >= MAX_LEN)
        BAIL_OUT("topic buffer too small");
    if (len > 0)
        buf[len++] = '.';
    memcpy(buf + len, tok, n);
    return len + n;
}

/* A pattern derived from the subject half of the time, so that matches are common. */
static size_t gen_pair(char *pat, char *sub, size_t *sub_len)
{
    size_t ns = 1 + rnd(5), np = 1 + rnd(5), i, plen = 0, slen = 0;
    bool derived = rnd(2) == 0;

    for (i = 0; i < ns; i++)
        slen = append(sub, slen, subject_tokens[rnd(4)]);
    if (derived)
        np = ns - (ns > 1 ? rnd(2) : 0);
    for (i = 0; i < np; i++) {
        uint32_t r = rnd(8);
        const char *tok;

        if (i == np - 1 && r == 0)
            tok = ">";
        else if (r < 3)
            tok = "*";
        else if (derived && i < ns && r < 7)
            tok = NULL; /* copy the subject's token */
        else
            tok = subject_tokens[rnd(4)];
        if (tok == NULL) {
            struct toks st;
            char one[8];

            split(sub, slen, &st);
            memcpy(one, st.s[i], st.len[i]);
            one[st.len[i]] = '\0';
            plen = append(pat, plen, one);
        } else {
            plen = append(pat, plen, tok);
        }
    }
    *sub_len = slen;
    return plen;
}

static int ref_check(const char *s, size_t len, bool pattern)
{
    struct toks t;
    size_t i, j;
    bool wild = false, gt_not_last = false;

    if (len == 0)
        return -TRPC_E_BAD_TOPIC;
    split(s, len, &t);
    for (i = 0; i < t.n; i++) {
        if (t.len[i] == 0)
            return -TRPC_E_BAD_TOPIC;
        for (j = 0; j < t.len[i]; j++)
            if ((unsigned char)t.s[i][j] <= 0x20 || t.s[i][j] == 0x7f)
                return -TRPC_E_BAD_TOPIC;
    }
    for (i = 0; i < t.n; i++) {
        if (tok_is(&t, i, "*") || tok_is(&t, i, ">")) {
            wild = true;
            gt_not_last = gt_not_last || (tok_is(&t, i, ">") && i + 1 < t.n);
            continue;
        }
        if (memchr(t.s[i], '*', t.len[i]) != NULL || memchr(t.s[i], '>', t.len[i]) != NULL)
            return -TRPC_E_BAD_WILDCARD;
    }
    if (wild && !pattern)
        return -TRPC_E_WILDCARD_NOT_ALLOWED;
    return gt_not_last ? -TRPC_E_BAD_WILDCARD : 0;
}

/* The number of distinct fault kinds in s, so that only single-fault strings compare codes. */
static int fault_kinds(const char *s, size_t len, bool pattern)
{
    struct toks t;
    size_t i;
    int empty = 0, bad_byte = 0, in_token = 0, whole = 0, gt = 0;

    split(s, len, &t);
    for (i = 0; i < len; i++)
        bad_byte |= s[i] == ' ';
    for (i = 0; i < t.n; i++) {
        bool w = tok_is(&t, i, "*") || tok_is(&t, i, ">");

        empty |= t.len[i] == 0;
        whole |= w;
        gt |= tok_is(&t, i, ">") && i + 1 < t.n;
        in_token |= !w && (memchr(t.s[i], '*', t.len[i]) != NULL || memchr(t.s[i], '>', t.len[i]) != NULL);
    }
    return empty + bad_byte + in_token + (pattern ? gt : whole);
}

int main(void)
{
    static const char alphabet[] = "ab.*> ";
    char pat[MAX_LEN], sub[MAX_LEN], s[MAX_LEN];
    size_t i, j, plen, slen, len, matches = 0, mismatches = 0, agree = 0, valid = 0, single = 0;
    struct toks pt, st;

    plan(6);
    for (i = 0; i < PAIRS; i++) {
        bool want;

        plen = gen_pair(pat, sub, &slen);
        if (topic_check_pattern(pat, plen) != 0 || topic_check_literal(sub, slen) != 0)
            BAIL_OUT("generated an invalid pair \"%.*s\" / \"%.*s\"", (int)plen, pat, (int)slen, sub);
        split(pat, plen, &pt);
        split(sub, slen, &st);
        want = ref_match(&pt, 0, &st, 0);
        if (topic_match(pat, plen, sub, slen) == want) {
            agree++;
        } else if (mismatches++ < 5) {
            diag("\"%.*s\" vs \"%.*s\": reference says %d", (int)plen, pat, (int)slen, sub, want);
        }
        matches += want;
    }
    ok_eq(agree, PAIRS, "topic_match agrees with the reference on %d random pairs", PAIRS);
    ok(matches > PAIRS / 10, "at least 10%% of the pairs match (%zu)", matches);
    ok(matches < PAIRS - PAIRS / 10, "at least 10%% of the pairs do not match (%zu)", PAIRS - matches);

    /* Random strings over "ab.*> ": validity always agrees, the code when there is one fault. */
    mismatches = 0;
    agree = 0;
    for (i = 0; i < CHECKS; i++) {
        bool pattern = i % 2 == 0;
        int got, want;

        len = 1 + rnd(12);
        for (j = 0; j < len; j++)
            s[j] = alphabet[rnd(sizeof(alphabet) - 1)];
        got = pattern ? topic_check_pattern(s, len) : topic_check_literal(s, len);
        want = ref_check(s, len, pattern);
        if (fault_kinds(s, len, pattern) <= 1) {
            single++;
            if (got != want && mismatches++ < 5)
                diag("%s \"%.*s\": got %d, reference %d", pattern ? "pattern" : "literal", (int)len, s, got, want);
            agree += got == want;
        } else if ((got == 0) != (want == 0) && mismatches++ < 5) {
            diag("%s \"%.*s\": got %d, reference %d", pattern ? "pattern" : "literal", (int)len, s, got, want);
        } else {
            agree++;
        }
        valid += want == 0;
    }
    ok_eq(agree, CHECKS, "checks agree with the reference on %d random strings", CHECKS);
    ok(valid > CHECKS / 100, "some random strings are valid (%zu)", valid);
    ok(single > CHECKS / 4, "many random strings have a single fault kind (%zu)", single);
    return done_testing();
}
