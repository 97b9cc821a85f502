/*
 * Topic matching semantics: "*" matches exactly one non-empty token, ">" one or more trailing
 * tokens, anything else the identical token. Every pattern and subject in the table is checked
 * first, so the table cannot drift into invalid input that topic_match does not define.
 */
#include <string.h>

#include "driver/topic.h"
#include "tests/tap.h"

static const struct {
    const char *pattern;
    const char *subject;
    bool match;
} cases[] = {
    /* exact */
    {"a", "a", true},
    {"a", "b", false},
    {"a", "aa", false},
    {"aa", "a", false},
    {"a.b.c", "a.b.c", true},
    {"a.b.c", "a.b.d", false},
    {"a.b.c", "a.b", false},
    {"a.b", "a.b.c", false},
    {"a.bc", "a.b", false},
    {"ab.c", "a.bc", false},
    {"shop.billing.charge", "shop.billing.charge", true},
    /* "*": exactly one token */
    {"*", "a", true},
    {"*", "abc", true},
    {"*", "a.b", false},
    {"a.*", "a.b", true},
    {"a.*", "a", false},
    {"a.*", "a.b.c", false},
    {"*.b", "a.b", true},
    {"*.b", "a.c", false},
    {"*.b", "b", false},
    {"a.*.c", "a.b.c", true},
    {"a.*.c", "a.c", false},
    {"a.*.c", "a.b.b.c", false},
    {"*.*", "a.b", true},
    {"*.*", "a", false},
    {"*.*", "a.b.c", false},
    /* ">": one or more trailing tokens */
    {">", "a", true},
    {">", "a.b.c", true},
    {"a.>", "a", false},
    {"a.>", "a.b", true},
    {"a.>", "a.b.c.d", true},
    {"a.>", "b.c", false},
    {"a.>", "ab.c", false},
    {"a.b.>", "a.b", false},
    {"a.b.>", "a.b.c", true},
    {"*.>", "a", false},
    {"*.>", "a.b", true},
    {"*.b.>", "x.b.y.z", true},
    {"*.b.>", "x.c.y.z", false},
    /* wildcard characters never appear in subjects, but literal tokens still need equality */
    {"a.*.c.>", "a.x.c.d", true},
    {"a.*.c.>", "a.x.d.d", false},
    /* UTF-8 bytes are ordinary token bytes */
    {"caf\xc3\xa9.*", "caf\xc3\xa9.men\xc3\xbc", true},
    {"caf\xc3\xa9.*", "cafe.x", false},
    {"*.\xe2\x82\xac", "x.\xe2\x82\xac", true},
    {"*.\xe2\x82\xac", "x.\xe2\x82\xad", false},
    {">", "\xff", true},
    /* long topics */
    {"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z", true},
    {"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.Z", false},
    {"*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t", true},
    {"*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s", false},
    {"a.>", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z", true},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* A subject of n tokens "t0.t1...", or a pattern of that shape with "*" for every odd token. */
static size_t build_long(char *buf, size_t cap, unsigned n, bool pattern)
{
    size_t len = 0;
    unsigned i;

    for (i = 0; i < n; i++) {
        int w;

        if (pattern && i % 2 == 1)
            w = snprintf(buf + len, cap - len, "%s*", i ? "." : "");
        else
            w = snprintf(buf + len, cap - len, "%st%u", i ? "." : "", i);
        if (w < 0 || (size_t)w >= cap - len)
            BAIL_OUT("long topic buffer too small");
        len += (size_t)w;
    }
    return len;
}

int main(void)
{
    static char pat[65536], sub[65536];
    size_t i, plen, slen;

    for (i = 0; i < N_CASES; i++) {
        const char *p = cases[i].pattern, *s = cases[i].subject;

        if (topic_check_pattern(p, strlen(p)) != 0 || topic_check_literal(s, strlen(s)) != 0)
            BAIL_OUT("table entry %zu is not a valid pattern/subject pair", i);
        ok(topic_match(p, strlen(p), s, strlen(s)) == cases[i].match, "\"%s\" %s \"%s\"", p,
           cases[i].match ? "matches" : "does not match", s);
    }

    /* Thousands of tokens, near the 64 KiB topic ceiling: exact, "*" and a one-token difference. */
    slen = build_long(sub, sizeof(sub), 8001, false);
    plen = build_long(pat, sizeof(pat), 8001, true);
    ok_eq(topic_check_literal(sub, slen), 0, "a %zu-byte subject is valid", slen);
    ok_eq(topic_check_pattern(pat, plen), 0, "a %zu-byte pattern is valid", plen);
    ok(topic_match(sub, slen, sub, slen), "a long subject matches itself as a pattern");
    ok(topic_match(pat, plen, sub, slen), "a long pattern with a '*' every other token matches");
    ok(!topic_match(pat, plen, sub, slen - 1), "a long subject with its last byte cut does not match");
    sub[slen - 2] = 'X';
    ok(!topic_match(pat, plen, sub, slen), "a long subject differing in its last token does not match");
    return done_testing();
}
