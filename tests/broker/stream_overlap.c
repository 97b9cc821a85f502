/* Which subject patterns share a topic (src/stream_def.c): a table of pairs, each tried both ways
 * round, checked against topic_match on the topics that witness an overlap. Also stream names. */
#include <errno.h>
#include <string.h>

#include "driver/topic.h"
#include "src/stream.h"
#include "tests/tap.h"

static const struct {
    const char *a, *b;
    bool overlap;
    const char *witness; /* a topic both match, when they overlap */
} cases[] = {
    {"a.b", "a.b", true, "a.b"},
    {"a.b", "a.c", false, NULL},
    {"a.b", "a.b.c", false, NULL},
    {"a.*", "a.b", true, "a.b"},
    {"a.*", "a.b.c", false, NULL},
    {"a.>", "a", false, NULL},
    {"a.>", "a.b.c", true, "a.b.c"},
    {">", "x", true, "x"},
    {">", "a.>", true, "a.b"},
    {"*.new", "orders.>", true, "orders.new"},
    {"*.*", "a.>", true, "a.b"},
    {"*.*", "*", false, NULL},
    {"*.b.>", "a.*.c", true, "a.b.c"},
    {"*.b.>", "a.c.>", false, NULL},
    {"a.*.c", "a.b.*", true, "a.b.c"},
    {"a.*.c", "a.b.d", false, NULL},
    {"orders.eu", "orders.eu.x", false, NULL},
};

int main(void)
{
    char why[256];

    plan((int)(sizeof(cases) / sizeof(cases[0])) * 2 + 6);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *a = cases[i].a, *b = cases[i].b, *w = cases[i].witness;
        bool ab = stream_patterns_overlap(a, strlen(a), b, strlen(b));
        bool ba = stream_patterns_overlap(b, strlen(b), a, strlen(a));

        ok(ab == cases[i].overlap && ba == ab, "%s and %s: %s", a, b, cases[i].overlap ? "overlap" : "apart");
        ok(w == NULL || (topic_match(a, strlen(a), w, strlen(w)) && topic_match(b, strlen(b), w, strlen(w))),
           "%s and %s: witness %s matches both", a, b, w != NULL ? w : "-");
    }
    ok(stream_name_check("orders_v2-eu", why, sizeof(why)) == 0, "a name of letters, digits, _ and -");
    ok(stream_name_check("", why, sizeof(why)) == -EINVAL, "an empty name: %s", why);
    ok(stream_name_check("a.b", why, sizeof(why)) == -EINVAL, "a dot: %s", why);
    ok(stream_name_check("../x", why, sizeof(why)) == -EINVAL, "a path: %s", why);
    memset(why, 'x', 65);
    why[65] = '\0';
    ok(stream_name_check(why, why, sizeof(why)) == -EINVAL, "65 bytes is too long");
    ok(stream_owner("orders", 4) == stream_owner("orders", 4) && stream_owner("orders", 1) == 0, "owners are stable");
    return done_testing();
}
