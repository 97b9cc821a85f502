/*
 * Topic syntax: every string is checked both as a literal topic and as a subscription pattern,
 * and each check must return exactly the code the grammar in topic.h names, the first fault
 * from the left winning.
 */
#include <string.h>

#include "driver/topic.h"
#include "tests/tap.h"

#define OK 0
#define BT (-TRPC_E_BAD_TOPIC)
#define BW (-TRPC_E_BAD_WILDCARD)
#define WN (-TRPC_E_WILDCARD_NOT_ALLOWED)

/* S() keeps embedded NUL bytes: the length is the array's, not strlen's. */
#define S(lit) lit, sizeof(lit) - 1

static const struct {
    const char *s;
    size_t len;
    int literal; /* expected topic_check_literal */
    int pattern; /* expected topic_check_pattern */
} cases[] = {
    /* valid in both */
    {S("a"), OK, OK},
    {S("shop.billing.charge"), OK, OK},
    {S("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p"), OK, OK},
    {S("A-Z_09~!\"#$%&'()+,/:;<=?@[\\]^`{|}"), OK, OK},
    {S("x.\x80"), OK, OK},
    {S("caf\xc3\xa9.men\xc3\xbc"), OK, OK},
    {S("\xff\xfe.\x80"), OK, OK},
    {S("1.2.3"), OK, OK},
    {S("a=b.c"), OK, OK},
    /* wildcard tokens: patterns only */
    {S("*"), WN, OK},
    {S(">"), WN, OK},
    {S("a.*"), WN, OK},
    {S("*.a"), WN, OK},
    {S("a.>"), WN, OK},
    {S("*.*.>"), WN, OK},
    {S("a.*.b.>"), WN, OK},
    /* empty topic and empty tokens */
    {S(""), BT, BT},
    {S("."), BT, BT},
    {S(".a"), BT, BT},
    {S("a."), BT, BT},
    {S("a..b"), BT, BT},
    {S("a.b..."), BT, BT},
    /* forbidden bytes */
    {S(" "), BT, BT},
    {S("a b"), BT, BT},
    {S("a\tb"), BT, BT},
    {S("a\nb"), BT, BT},
    {S("a\x7f"), BT, BT},
    {S("a\0b"), BT, BT},
    {S("\x01"), BT, BT},
    {S("a.b\x20"), BT, BT},
    /* wildcard bytes inside longer tokens */
    {S("a*"), BW, BW},
    {S("*a"), BW, BW},
    {S(">a"), BW, BW},
    {S("a>"), BW, BW},
    {S("**"), BW, BW},
    {S(">>"), BW, BW},
    {S("*>"), BW, BW},
    {S("a.b*c.d"), BW, BW},
    {S("\xc3*"), BW, BW},
    /* '>' not last */
    {S(">.a"), WN, BW},
    {S("a.>.b"), WN, BW},
    {S(">.>"), WN, BW},
    {S(">.*"), WN, BW},
    /* first fault from the left wins */
    {S("a*.b..c"), BW, BW}, /* wildcard byte before the empty token */
    {S("a..b*"), BT, BT},   /* empty token before the wildcard byte */
    {S("*.a b"), WN, BT},   /* literal: "*" closes at the dot, before the space */
    {S("a b.*"), BT, BT},   /* the space comes first in both */
    {S(">."), WN, BW},      /* '>' closed by a dot: not last, before the empty token */
    {S(">.."), WN, BW},
    {S("*\x01"), BT, BT}, /* the forbidden byte comes before the token is known long */
    {S("*b.\x01"), BW, BW},
    {S("a.*.>.b c"), WN, BW}, /* literal stops at "*", pattern at ">." */
    {S("a.>.b*"), WN, BW},
    {S(">\x7f"), BT, BT},
    {S("*."), WN, BT}, /* pattern: "*" is fine, then the trailing empty token */
    {S("..*"), BT, BT},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static const char *show(const char *s, size_t len, char *buf, size_t cap)
{
    size_t i, o = 0;

    for (i = 0; i < len && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c > 0x20 && c < 0x7f && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    buf[o] = '\0';
    return buf;
}

int main(void)
{
    char buf[256];
    size_t i;

    for (i = 0; i < N_CASES; i++) {
        const char *name = show(cases[i].s, cases[i].len, buf, sizeof(buf));

        ok_eq(topic_check_literal(cases[i].s, cases[i].len), cases[i].literal, "literal \"%s\"", name);
        ok_eq(topic_check_pattern(cases[i].s, cases[i].len), cases[i].pattern, "pattern \"%s\"", name);
        if (cases[i].pattern == OK)
            ok(topic_has_wildcard(cases[i].s, cases[i].len) == (cases[i].literal != OK), "has_wildcard \"%s\"", name);
    }
    /* The length bounds the check: bytes past it are never looked at. */
    ok_eq(topic_check_literal("a.b c", 3), OK, "length bounds the literal check");
    ok_eq(topic_check_pattern("a.>.b", 3), OK, "length bounds the pattern check");
    ok_eq(topic_check_literal(NULL, 0), BT, "NULL with length 0 is an empty topic");
    ok_eq(topic_check_pattern(NULL, 0), BT, "NULL with length 0 is an empty pattern");
    ok(!topic_has_wildcard(NULL, 0), "an empty pattern has no wildcard");
    return done_testing();
}
