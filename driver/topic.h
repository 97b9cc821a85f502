/*
 * topic: syntax and wildcard matching of topics (docs/protocol.md, "Topics").
 *
 * A topic is one or more tokens separated by '.'. A token is one or more bytes from 0x21..0x7e
 * other than '.', '*' and '>', or any byte 0x80..0xff (UTF-8 passes through unvalidated). In a
 * subscription pattern a token may instead be exactly "*" (matches one token) or, as the last
 * token only, exactly ">" (matches one or more tokens). Publish topics are literal.
 *
 * Functions return 0 or -TRPC_E_* from <trpc/errors.h>. Nothing allocates.
 */
#ifndef TRPC_TOPIC_H
#define TRPC_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#include <trpc/errors.h>

/*
 * Checks t[0..len) as a literal topic (PUB, REQ, MSG). Returns 0, -TRPC_E_BAD_TOPIC (empty,
 * empty token, forbidden byte), -TRPC_E_WILDCARD_NOT_ALLOWED (a "*" or ">" token) or
 * -TRPC_E_BAD_WILDCARD (a wildcard byte inside a longer token).
 */
int topic_check_literal(const char *t, size_t len);

/*
 * Checks p[0..len) as a subscription pattern. Returns 0, -TRPC_E_BAD_TOPIC or
 * -TRPC_E_BAD_WILDCARD ("a*", ">" not last).
 */
int topic_check_pattern(const char *p, size_t len);

/* True when p contains a wildcard token. p must be a valid pattern. */
bool topic_has_wildcard(const char *p, size_t len);

/*
 * True when the literal topic t matches the pattern p. Both must have passed their checks;
 * the result is unspecified (but memory-safe) otherwise. Linear in len(p) + len(t).
 */
bool topic_match(const char *p, size_t plen, const char *t, size_t tlen);

/* Tokenizer for tries: yields each token of a checked topic or pattern in order. */
struct topic_iter {
    const char *_s;
    size_t _len;
    size_t _pos;
};

void topic_iter_init(struct topic_iter *it, const char *s, size_t len);

/* Returns true and sets *tok / *tok_len to the next token, false after the last. */
bool topic_iter_next(struct topic_iter *it, const char **tok, size_t *tok_len);

/* Number of tokens in a checked topic or pattern (dots + 1). */
size_t topic_token_count(const char *s, size_t len);

#endif
