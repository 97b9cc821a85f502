/*
 * Replies that are not documents of the contract: each gives exit status 1 and one line on stderr
 * saying what is wrong, prints nothing on stdout, and never crashes (run under ASan in CI). Then
 * every member of every contract example in turn removed and given each wrong type, and random
 * byte mutations of the examples: status 0 or 1, never anything else.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/ctl/show.h"
#include "tests/tap.h"

/* One failing reply: status 1, nothing on stdout, one stderr line starting "trpcctl: AREA VERB: "
 * and containing `want`. */
static void refused(const char *area, const char *verb, const char *doc, size_t len, const char *want, const char *what)
{
    struct shown s = show_len(area, verb, doc, len, false);
    char prefix[64];
    const char *nl = strchr(s.err, '\n');

    snprintf(prefix, sizeof(prefix), "trpcctl: %s %s: ", area, verb);
    ok(s.status == CTL_EXIT_FAIL && s.out[0] == '\0' && strncmp(s.err, prefix, strlen(prefix)) == 0 &&
           strstr(s.err, want) != NULL && nl != NULL && nl[1] == '\0',
       "%s", what);
    diag("stderr: %s", s.err);
    shown_free(&s);
}

#define REFUSED(area, verb, doc, want, what) refused(area, verb, doc, sizeof(doc) - 1, want, what)

static const struct example {
    const char *area, *verb, *doc;
} examples[] = {
    {"server", "info",
     "{\"ok\": true, \"name\": \"trpc-broker\", \"version\": \"0.1.0\", \"started\": \"2026-12-05T05:00:00Z\", \"uptime_ms\": "
     "12345, \"listen\": \"127.0.0.1:4250\", \"cores\": 2, \"io_uring_tier\": \"T1\", \"connections\": 3, \"store\": "
     "{\"backend\": \"file\", \"url\": \"file:/var/lib/trpc\", \"up\": true, \"last_error\": null}}"},
    {"settings", "get",
     "{\"ok\": true, \"settings\": [{\"name\": \"keepalive\", \"value\": \"30000ms\", \"live\": true, \"help\": \"h\"}]}"},
    {"settings", "set", "{\"ok\": true, \"name\": \"keepalive\", \"value\": \"15000ms\", \"previous\": \"30000ms\"}"},
    {"clients", "ls",
     "{\"ok\": true, \"total\": 1, \"offset\": 0, \"clients\": [{\"id\": 281474976710657, \"name\": \"billing-1\", \"peer\": "
     "\"127.0.0.1:53120\", \"core\": 0, \"subscriptions\": 3, \"msgs_in\": 10, \"msgs_out\": 12, \"bytes_in\": 1200, "
     "\"bytes_out\": 1400, \"pending_output\": 0, \"connected_since\": \"2026-12-05T05:00:01Z\"}]}"},
    {"clients", "kick", "{\"ok\": true, \"id\": 281474976710657}"},
    {"subs", "ls",
     "{\"ok\": true, \"total\": 1, \"offset\": 0, \"subscriptions\": [{\"client\": 281474976710657, \"sid\": 1, \"pattern\": "
     "\"orders.>\", \"group\": \"billing\", \"delivered\": 42}]}"},
    {"stream", "info",
     "{\"ok\": true, \"stream\": {\"name\": \"orders\", \"subjects\": [\"orders.>\"], \"max_msg_size\": 0, \"created\": "
     "\"2026-12-05T05:00:00Z\", \"core\": 1, \"messages\": 2, \"bytes\": 10, \"first_seq\": 1, \"last_seq\": 2, \"stored\": 2, "
     "\"refused\": 0, \"pending\": 0}}"},
    {"stream", "ls",
     "{\"ok\": true, \"streams\": [{\"name\": \"orders\", \"subjects\": [\"orders.>\"], \"core\": 1, \"messages\": 2, "
     "\"bytes\": 10, \"first_seq\": 1, \"last_seq\": 2}]}"},
    {"stream", "get",
     "{\"ok\": true, \"stream\": \"s\", \"seq\": 1, \"time\": \"2026-12-05T05:00:01Z\", \"topic\": \"t\", \"headers\": "
     "[{\"key\": \"k\", \"value\": \"v\"}], \"size\": 2, \"payload_base64\": \"aGk=\", \"payload\": \"hi\"}"},
    {"stream", "rm", "{\"ok\": true, \"name\": \"orders\"}"},
    {"group", "ls",
     "{\"ok\": true, \"stream\": \"orders\", \"groups\": [{\"name\": \"billing\", \"pattern\": \"orders.>\", \"members\": 2, "
     "\"next_seq\": 30, \"lag\": 4, \"pending\": 3, \"inflight\": 2, \"redelivered\": 5, \"acked\": 35, \"dead\": 1, \"dlq\": "
     "\"dlq.orders\"}]}"},
};

static void known_bad(void)
{
    static char deep[200001];

    REFUSED("server", "info", "", "not JSON", "an empty payload");
    REFUSED("server", "info", "{\"ok\": true", "not JSON: line 1", "a cut document, with the position");
    REFUSED("server", "info", "[1, 2]", "not a JSON object", "an array");
    REFUSED("server", "info", "\"ok\"", "not JSON", "a bare string (jansson wants an array or object)");
    REFUSED("server", "info", "{\"name\": \"x\"}", "no boolean member \"ok\"", "no ok member");
    REFUSED("server", "info", "{\"ok\": 1}", "no boolean member \"ok\"", "ok is a number");
    REFUSED("server", "info", "{\"ok\": true, \"ok\": false}", "duplicate object key", "ok twice");
    REFUSED("server", "info", "{\"ok\": true} trailing", "end of file expected", "trailing bytes");
    REFUSED("server", "info", "{\"ok\": true, \"s\": \"a\\u0000b\"}", "not JSON", "an escaped NUL");
    REFUSED("server", "info", "{\"ok\": true, \"s\": \"\xff\"}", "not JSON", "invalid UTF-8");
    REFUSED("server", "info", "{\"ok\": true, \"n\": 18446744073709551616}", "too big integer", "an integer above 64 bits");
    REFUSED("server", "info", "{\"ok\": true}", "name: missing", "a success without its members");
    refused("server", "info", "{\"ok\": true}\0{\"ok\": false}", 27, "not JSON", "a NUL byte inside the payload");
    memset(deep, '[', sizeof(deep) - 1);
    refused("server", "info", deep, sizeof(deep) - 1, "maximum parsing depth", "200000 nested arrays");
    for (size_t i = 0; i + 5 < sizeof(deep); i += 5)
        memcpy(deep + i, "{\"a\":", 5);
    refused("server", "info", deep, sizeof(deep) - 1, "maximum parsing depth", "40000 nested objects");

    REFUSED("settings", "set", "{\"ok\": false}", "an error without error.code or error.message", "an error without error");
    REFUSED("settings", "set", "{\"ok\": false, \"error\": \"boom\"}", "an error without", "error is a string");
    REFUSED("settings", "set", "{\"ok\": false, \"error\": {\"code\": 7}}", "an error without", "error.code is a number");
    REFUSED("settings", "set", "{\"ok\": false, \"error\": {\"code\": \"BUSY\"}}", "set: BUSY", "an error with a code only");
    REFUSED("settings", "set",
            "{\"ok\": false, \"error\": {\"code\": \"NOT_LIVE\", \"message\": \"listen cannot change while the broker "
            "runs: change it in the config file and restart\"}}",
            "trpcctl: settings set: listen cannot change while the broker runs: change it in the config file and restart\n",
            "the broker's error message, word for word");
    REFUSED("settings", "set", "{\"ok\": false, \"error\": {\"message\": \"\\u001b[2Jgone\"}}", "set: ?[2Jgone",
            "an escape sequence in an error message is defused");

    REFUSED("settings", "get", "{\"ok\": true, \"settings\": {}}", "settings: expected array, got object", "settings is an object");
    REFUSED("settings", "get", "{\"ok\": true, \"settings\": [1]}", "settings[0]: expected object, got integer",
            "a setting is a number");
    REFUSED("settings", "get", "{\"ok\": true, \"settings\": [{\"name\": \"a\", \"value\": \"1\", \"live\": \"yes\"}]}",
            "settings[0].live: expected true or false, got string", "live is a string");
    REFUSED("clients", "ls",
            "{\"ok\": true, \"total\": 1, \"offset\": 0, \"clients\": [{\"id\": \"1\", \"name\": \"a\", \"peer\": \"p\", "
            "\"core\": 0, \"subscriptions\": 0, \"msgs_in\": 0, \"msgs_out\": 0, \"bytes_in\": 0, \"bytes_out\": 0, "
            "\"pending_output\": 0, \"connected_since\": \"x\"}]}",
            "clients[0].id: expected integer, got string", "an id as a string");
    REFUSED("clients", "ls",
            "{\"ok\": true, \"total\": 1, \"offset\": 0, \"clients\": [{\"id\": 1, \"name\": 5, \"peer\": \"p\", "
            "\"core\": 0, \"subscriptions\": 0, \"msgs_in\": 0, \"msgs_out\": 0, \"bytes_in\": 0, \"bytes_out\": 0, "
            "\"pending_output\": 0, \"connected_since\": \"x\"}]}",
            "clients[0].name: expected string or null, got integer", "a name that is a number");
    REFUSED("clients", "ls", "{\"ok\": true, \"total\": 1, \"offset\": 0, \"clients\": [{\"id\": 1.5}]}",
            "clients[0].id: expected integer, got real", "a fractional id");
    REFUSED("clients", "ls", "{\"ok\": true, \"total\": \"1\", \"offset\": 0, \"clients\": []}",
            "invalid reply from the broker: total: expected integer, got string", "total is a string");
    REFUSED("subs", "ls",
            "{\"ok\": true, \"total\": 1, \"offset\": 0, \"subscriptions\": [{\"client\": 1, \"sid\": 1, \"pattern\": \"a\", "
            "\"group\": [], \"delivered\": 0}]}",
            "subscriptions[0].group: expected string or null, got array", "a group that is an array");
    REFUSED("clients", "kick", "{\"ok\": true}", "invalid reply from the broker: id: missing", "a kick reply without the id");
}

/* A wrong-typed value for each JSON type, and removal. */
static const char *const replacements[] = {NULL, "null", "true", "-1", "1.5", "\"s\"", "[]", "{}", "9223372036854775807"};

/* Each member of the example (found by its quoted name followed by ':') replaced by each value,
 * or removed: the status is 0 or 1, and 1 comes with an error line. */
static bool mutate_members(const struct example *ex)
{
    const char *p = ex->doc;
    bool good = true;

    while ((p = strstr(p, "\": ")) != NULL) {
        const char *value = p + 3, *key = p;
        size_t vlen = strcspn(value, ",}");

        while (key > ex->doc && key[-1] != '"')
            key--;
        key--;
        if (*value == '{' || *value == '[')
            vlen = 0; /* objects and arrays are covered through their members */
        for (size_t r = 0; r < sizeof(replacements) / sizeof(*replacements) && vlen > 0; r++) {
            char doc[1024];
            int n;
            struct shown s;

            if (replacements[r] == NULL) /* drop "key": value, and the comma before it if any */
                n = snprintf(doc, sizeof(doc), "%.*s%s", (int)(key - ex->doc - (key[-1] == ' ' ? 2 : 0)), ex->doc, value + vlen);
            else
                n = snprintf(doc, sizeof(doc), "%.*s%s%s", (int)(value - ex->doc), ex->doc, replacements[r], value + vlen);
            if (n < 0 || (size_t)n >= sizeof(doc))
                exit(99);
            s = show(ex->area, ex->verb, doc);
            if (!(s.status == CTL_EXIT_OK || (s.status == CTL_EXIT_FAIL && strchr(s.err, '\n') != NULL))) {
                diag("%s %s: status %d for %s", ex->area, ex->verb, s.status, doc);
                good = false;
            }
            shown_free(&s);
        }
        p = value;
    }
    return good;
}

/* xorshift: the same sequence every run, so a failure is reproducible. */
static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static bool mutate_bytes(const struct example *ex, uint32_t *seed)
{
    static const char alphabet[] = "{}[]\":,0123456789-.eEtrufalsn \\u\x01\x80\xff";
    bool good = true;

    for (int round = 0; round < 2000; round++) {
        char doc[1024];
        size_t len = strlen(ex->doc);
        struct shown s;

        memcpy(doc, ex->doc, len);
        for (int k = 1 + (int)(next_rand(seed) % 4); k > 0; k--) {
            size_t at = next_rand(seed) % len;

            switch (next_rand(seed) % 3) {
            case 0: /* change a byte */
                doc[at] = alphabet[next_rand(seed) % (sizeof(alphabet) - 1)];
                break;
            case 1: /* cut */
                len = at + 1;
                break;
            default: /* delete a byte */
                memmove(doc + at, doc + at + 1, len - at - 1);
                len -= len > 1;
                break;
            }
        }
        s = show_len(ex->area, ex->verb, doc, len, round % 2 == 1);
        if (!(s.status == CTL_EXIT_OK || (s.status == CTL_EXIT_FAIL && strchr(s.err, '\n') != NULL))) {
            diag("%s %s: status %d for %.*s", ex->area, ex->verb, s.status, (int)len, doc);
            good = false;
        }
        shown_free(&s);
    }
    return good;
}

int main(void)
{
    uint32_t seed = 2463534242u;

    setenv("TZ", "UTC", 1);
    known_bad();
    for (size_t i = 0; i < sizeof(examples) / sizeof(*examples); i++) {
        const struct example *ex = &examples[i];
        struct shown s = show(ex->area, ex->verb, ex->doc);

        ok(s.status == CTL_EXIT_OK, "%s %s: the unmutated example is shown", ex->area, ex->verb);
        shown_free(&s);
        ok(mutate_members(ex), "%s %s: every member removed or of each wrong type: status 0 or 1 with a line", ex->area, ex->verb);
        ok(mutate_bytes(ex, &seed), "%s %s: 2000 byte mutations, with and without --json: status 0 or 1", ex->area, ex->verb);
    }
    return done_testing();
}
