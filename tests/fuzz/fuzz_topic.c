/*
 * Fuzz target for driver/topic.c. The input is split into a pattern and a subject at the first
 * 0x00 byte (or in half when there is none). Both are checked as literal and as pattern, the
 * results must be consistent with each other and with the tokenizer, and when the pair is valid
 * topic_match must agree with the reference matcher below, which indexes token arrays instead of
 * walking both strings.
 */
#include <string.h>

#include "driver/topic.h"
#include "tests/fuzz/fuzz.h"

/* Inputs with more tokens are still checked; only the reference comparison is skipped. */
#define REF_MAX_TOKENS 4096

struct tokens {
    size_t n;
    size_t off[REF_MAX_TOKENS];
    size_t len[REF_MAX_TOKENS];
};

static bool split(const char *s, size_t len, struct tokens *t)
{
    size_t start = 0, i;

    t->n = 0;
    for (i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        if (t->n == REF_MAX_TOKENS)
            return false;
        t->off[t->n] = start;
        t->len[t->n] = i - start;
        t->n++;
        start = i + 1;
    }
    return true;
}

static bool is_tok(const char *s, const struct tokens *t, size_t i, char c)
{
    return t->len[i] == 1 && s[t->off[i]] == c;
}

/* Token i of the pattern against token i of the subject; ">" only ever last. */
static bool ref_match(const char *p, const struct tokens *pt, const char *s, const struct tokens *st)
{
    bool tail = is_tok(p, pt, pt->n - 1, '>');
    size_t fixed = tail ? pt->n - 1 : pt->n, i;

    if (tail ? st->n < pt->n : st->n != pt->n)
        return false;
    for (i = 0; i < fixed; i++) {
        if (is_tok(p, pt, i, '*'))
            continue;
        if (pt->len[i] != st->len[i] || memcmp(p + pt->off[i], s + st->off[i], pt->len[i]) != 0)
            return false;
    }
    return true;
}

static bool is_code(int rc)
{
    return rc == 0 || rc == -TRPC_E_BAD_TOPIC || rc == -TRPC_E_BAD_WILDCARD || rc == -TRPC_E_WILDCARD_NOT_ALLOWED;
}

/* The tokenizer must give back the string: tokens in order, separated by single dots. */
static void check_tokens(const char *s, size_t len, const struct tokens *t, bool have_ref)
{
    struct topic_iter it;
    const char *tok;
    size_t tok_len, n = 0, pos = 0;

    topic_iter_init(&it, s, len);
    while (topic_iter_next(&it, &tok, &tok_len)) {
        FUZZ_ASSERT(tok == s + pos);
        FUZZ_ASSERT(pos + tok_len <= len);
        FUZZ_ASSERT(memchr(tok, '.', tok_len) == NULL);
        FUZZ_ASSERT(pos + tok_len == len || s[pos + tok_len] == '.');
        if (have_ref) {
            FUZZ_ASSERT(n < t->n);
            FUZZ_ASSERT(t->off[n] == pos);
            FUZZ_ASSERT(t->len[n] == tok_len);
        }
        pos += tok_len + 1;
        n++;
    }
    FUZZ_ASSERT(pos == len + 1 || len == 0);
    FUZZ_ASSERT(n == topic_token_count(s, len));
    if (have_ref && len > 0)
        FUZZ_ASSERT(n == t->n);
}

/* Checks s both ways; returns the pattern check's result, the literal one in *literal. */
static int check_both(const char *s, size_t len, struct tokens *t, bool *have_ref, int *literal)
{
    int lit = topic_check_literal(s, len);
    int pat = topic_check_pattern(s, len);

    FUZZ_ASSERT(is_code(lit));
    FUZZ_ASSERT(is_code(pat));
    FUZZ_ASSERT(pat != -TRPC_E_WILDCARD_NOT_ALLOWED);
    if (lit == 0) {
        FUZZ_ASSERT(pat == 0);
        FUZZ_ASSERT(!topic_has_wildcard(s, len));
    }
    if (pat == 0)
        FUZZ_ASSERT(lit == (topic_has_wildcard(s, len) ? -TRPC_E_WILDCARD_NOT_ALLOWED : 0));
    /*
     * Up to a literal's first fault there is no wildcard token, so the pattern check sees the
     * same prefix and stops at the same fault.
     */
    if (lit == -TRPC_E_BAD_TOPIC || lit == -TRPC_E_BAD_WILDCARD)
        FUZZ_ASSERT(pat == lit);
    *have_ref = split(s, len, t);
    check_tokens(s, len, t, *have_ref);
    *literal = lit;
    return pat;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tokens pt, st;
    const char *in = (const char *)data;
    const uint8_t *nul = size > 0 ? memchr(data, 0, size) : NULL;
    size_t plen = nul != NULL ? (size_t)(nul - data) : size / 2;
    size_t soff = nul != NULL ? plen + 1 : plen;
    const char *p = in, *s = in + soff;
    size_t slen = size - soff;
    bool p_ref, s_ref;
    int p_lit, s_lit, p_pat;

    p_pat = check_both(p, plen, &pt, &p_ref, &p_lit);
    check_both(s, slen, &st, &s_ref, &s_lit);
    if (s_lit == 0)
        FUZZ_ASSERT(topic_match(s, slen, s, slen));
    if (p_pat == 0 && s_lit == 0) {
        bool got = topic_match(p, plen, s, slen);

        if (p_ref && s_ref)
            FUZZ_ASSERT(got == ref_match(p, &pt, s, &st));
        /* A pattern without wildcards matches exactly itself. */
        if (p_lit == 0)
            FUZZ_ASSERT(got == (plen == slen && memcmp(p, s, plen) == 0));
    } else {
        /* Unchecked input: the result is unspecified, but memory must stay in bounds. */
        (void)topic_match(p, plen, s, slen);
    }
    return 0;
}
