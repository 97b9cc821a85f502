/*
 * topic: syntax checks and wildcard matching (see topic.h for the grammar).
 *
 * Every check is one left-to-right pass and reports the first fault it meets. A fault is found at
 * the byte that makes it certain:
 *   - a byte 0x00..0x20 or 0x7f: at that byte (BAD_TOPIC);
 *   - a '*' or '>' byte inside a longer token: at the first byte that makes the token longer than
 *     one byte, i.e. at the wildcard byte in "a*", at the 'b' in "*b" (BAD_WILDCARD);
 *   - an empty token: at the '.' or the end of string that closes it (BAD_TOPIC);
 *   - a whole "*" or ">" token in a literal, or a ">" token that is not last in a pattern: at the
 *     '.' or the end of string that closes it (WILDCARD_NOT_ALLOWED, BAD_WILDCARD).
 * So ">.a" and ">." are BAD_WILDCARD, "*\x01" is BAD_TOPIC and "*b.\x01" is BAD_WILDCARD.
 *
 * Matching walks the tokens of pattern and topic side by side. Because ">" can only be last, no
 * token of the pattern ever has to be retried at a later position: the walk is linear.
 */
#include <assert.h>
#include <string.h>

#include "driver/topic.h"

static bool is_wildcard(unsigned char c)
{
    return c == '*' || c == '>';
}

/* The end of the token starting at s[pos]: the index of the next '.', or len. */
static size_t token_end(const char *s, size_t len, size_t pos)
{
    const char *dot;

    assert(pos <= len);
    if (pos == len)
        return len;
    dot = memchr(s + pos, '.', len - pos);
    return dot != NULL ? (size_t)(dot - s) : len;
}

/*
 * Checks the token that ends at s[end] (a '.' or the end of string) and starts at s[start].
 * The byte loop has already rejected forbidden bytes and wildcard bytes in longer tokens, so a
 * token that starts with a wildcard byte here is exactly "*" or ">".
 */
static int check_closed_token(const char *s, size_t len, size_t start, size_t end, bool pattern)
{
    assert(start <= end);
    assert(end <= len);
    if (start == end)
        return -TRPC_E_BAD_TOPIC;
    if (!is_wildcard((unsigned char)s[start]))
        return 0;
    assert(end - start == 1);
    if (!pattern)
        return -TRPC_E_WILDCARD_NOT_ALLOWED;
    if (s[start] == '>' && end != len)
        return -TRPC_E_BAD_WILDCARD;
    return 0;
}

/* Byte classes for check(): one table load per byte where the rules above take four compares.
 * Every topic of every frame passes here (the client's encoder and decoder, the broker's). */
enum { B_PLAIN, B_DOT, B_BAD, B_WILD };
static const unsigned char byte_class[256] = {
    [0 ... 0x20] = B_BAD, ['.'] = B_DOT, ['*'] = B_WILD, ['>'] = B_WILD, [0x7f] = B_BAD,
};

static int check(const char *s, size_t len, bool pattern)
{
    size_t start = 0;      /* first byte of the current token */
    bool wild_tok = false; /* the current token starts with a wildcard byte */
    size_t i;
    int err;

    assert(s != NULL || len == 0);
    if (len == 0)
        return -TRPC_E_BAD_TOPIC;
    for (i = 0;; i++) {
        if (!wild_tok)
            while (i < len && byte_class[(unsigned char)s[i]] == B_PLAIN)
                i++;
        if (i == len)
            break;
        switch (byte_class[(unsigned char)s[i]]) {
        case B_DOT:
            err = check_closed_token(s, len, start, i, pattern);
            if (err != 0)
                return err;
            start = i + 1;
            wild_tok = false;
            break;
        case B_BAD:
            return -TRPC_E_BAD_TOPIC;
        case B_WILD:
            if (i != start)
                return -TRPC_E_BAD_WILDCARD;
            wild_tok = true;
            break;
        default: /* a byte after a wildcard in one token */
            assert(wild_tok && i != start);
            return -TRPC_E_BAD_WILDCARD;
        }
    }
    return check_closed_token(s, len, start, len, pattern);
}

int topic_check_literal(const char *t, size_t len)
{
    return check(t, len, false);
}

int topic_check_pattern(const char *p, size_t len)
{
    return check(p, len, true);
}

bool topic_has_wildcard(const char *p, size_t len)
{
    size_t i;

    assert(p != NULL || len == 0);
    /* In a valid pattern a wildcard byte only ever stands alone as a token. */
    for (i = 0; i < len; i++)
        if (is_wildcard((unsigned char)p[i]))
            return true;
    return false;
}

bool topic_match(const char *p, size_t plen, const char *t, size_t tlen)
{
    size_t pi = 0, ti = 0;

    assert(p != NULL || plen == 0);
    assert(t != NULL || tlen == 0);
    if (plen == 0 || tlen == 0)
        return false;
    for (;;) {
        size_t pe = token_end(p, plen, pi);
        size_t te;

        /* ">" takes the rest, and there is at least the current topic token left. */
        if (pe - pi == 1 && p[pi] == '>')
            return true;
        te = token_end(t, tlen, ti);
        if (!(pe - pi == 1 && p[pi] == '*')) {
            if (pe - pi != te - ti || memcmp(p + pi, t + ti, pe - pi) != 0)
                return false;
        }
        if (pe == plen || te == tlen)
            return pe == plen && te == tlen;
        pi = pe + 1;
        ti = te + 1;
    }
}

void topic_iter_init(struct topic_iter *it, const char *s, size_t len)
{
    assert(it != NULL);
    assert(s != NULL || len == 0);
    it->_s = s;
    it->_len = len;
    /* An empty string has no tokens: start past the end. */
    it->_pos = len == 0 ? 1 : 0;
}

bool topic_iter_next(struct topic_iter *it, const char **tok, size_t *tok_len)
{
    size_t end;

    assert(it != NULL);
    assert(tok != NULL);
    assert(tok_len != NULL);
    if (it->_pos > it->_len)
        return false;
    end = token_end(it->_s, it->_len, it->_pos);
    *tok = it->_s + it->_pos;
    *tok_len = end - it->_pos;
    it->_pos = end + 1;
    return true;
}

size_t topic_token_count(const char *s, size_t len)
{
    size_t n = 1;
    size_t pos = 0;

    assert(s != NULL || len == 0);
    if (len == 0)
        return 0;
    for (;;) {
        pos = token_end(s, len, pos);
        if (pos == len)
            return n;
        n++;
        pos++;
    }
}
