/*
 * trpcctl's tables for the documents of docs/admin-api.md, each verb's example as the contract
 * gives it, plus the members the contract allows to be null and a newer broker's extra members:
 * the exact text printed, with TZ=UTC and TZ=CET-1 for the times. --json prints the bytes
 * received and a newline.
 */
#include <stdlib.h>
#include <time.h>

#include "tests/ctl/show.h"
#include "tests/tap.h"

static const char server_info[] =
    "{\"ok\": true,\n"
    " \"name\": \"trpc-broker\", \"version\": \"0.1.0\",\n"
    " \"started\": \"2026-12-05T05:00:00Z\", \"uptime_ms\": 12345,\n"
    " \"listen\": \"127.0.0.1:4250\", \"cores\": 2, \"io_uring_tier\": \"T1\",\n"
    " \"connections\": 3,\n"
    " \"store\": {\"backend\": \"file\", \"url\": \"file:/var/lib/trpc\", \"up\": true, \"last_error\": null}}";

static const char settings_get[] =
    "{\"ok\": true, \"settings\": [\n"
    "   {\"name\": \"keepalive\", \"value\": \"30000ms\", \"live\": true,  \"help\": \"clients ping after ...\"},\n"
    "   {\"name\": \"listen\",    \"value\": \"127.0.0.1:4250\", \"live\": false, \"help\": \"...\"}]}";

static const char settings_set[] = "{\"ok\": true, \"name\": \"keepalive\", \"value\": \"15000ms\", \"previous\": \"30000ms\"}";

static const char clients_list[] =
    "{\"ok\": true, \"total\": 2, \"offset\": 0, \"clients\": [\n"
    "   {\"id\": 281474976710657, \"name\": \"billing-1\", \"peer\": \"127.0.0.1:53120\", \"core\": 0,\n"
    "    \"subscriptions\": 3, \"msgs_in\": 10, \"msgs_out\": 12, \"bytes_in\": 1200, \"bytes_out\": 1400,\n"
    "    \"pending_output\": 0, \"connected_since\": \"2026-12-05T05:00:01Z\"},\n"
    "   {\"id\": 281474976710658, \"name\": \"\", \"peer\": \"[::1]:40000\", \"core\": 1,\n"
    "    \"subscriptions\": 0, \"msgs_in\": 1234567890123, \"msgs_out\": 0, \"bytes_in\": 0, \"bytes_out\": 0,\n"
    "    \"pending_output\": 65536, \"connected_since\": \"2026-12-05T06:30:00.250+01:00\", \"tls\": \"TLSv1.3 user\"}]}";

static const char clients_kick[] = "{\"ok\": true, \"id\": 281474976710657}";

static const char subs_list[] = "{\"ok\": true, \"total\": 1, \"offset\": 0, \"subscriptions\": [\n"
                                "   {\"client\": 281474976710657, \"sid\": 1, \"pattern\": \"orders.>\", \"group\": \"billing\",\n"
                                "    \"delivered\": 42}]}";

static const char stream_info[] =
    "{\"ok\": true, \"created\": true, \"stream\": {\"name\": \"orders\", \"subjects\": [\"orders.>\", \"refunds.*\"],\n"
    "   \"max_msg_size\": 65536, \"max_msgs\": 1000000, \"max_bytes\": 0, \"max_age_ms\": 86400000,\n"
    "   \"discard\": \"old\", \"dedup_window_ms\": 120000, \"duplicates\": 2, \"created\": \"2026-12-05T05:00:00Z\", \"core\": 1, "
    "\"messages\": 0,\n"
    "   \"bytes\": 0, \"first_seq\": 1, \"last_seq\": 0, \"stored\": 0, \"refused\": 0, \"expired\": 0,\n"
    "   \"pending\": 0, \"direct_io\": true}}";

static const char stream_list[] =
    "{\"ok\": true, \"streams\": [{\"name\": \"orders\", \"subjects\": [\"orders.>\", \"refunds.*\"], \"max_msg_size\": 0,\n"
    "   \"created\": \"2026-12-05T05:00:00Z\", \"core\": 1, \"messages\": 202, \"bytes\": 1400, \"first_seq\": 1,\n"
    "   \"last_seq\": 202},\n"
    "  {\"name\": \"bad\", \"subjects\": [\"x\"], \"max_msg_size\": 0, \"created\": \"2026-12-05T05:00:00Z\", \"core\": 0,\n"
    "   \"error\": \"No space left on device\"}]}";

static const char stream_get[] = "{\"ok\": true, \"stream\": \"orders\", \"seq\": 201, \"time\": \"2026-12-05T05:00:01.250Z\",\n"
                                 " \"topic\": \"refunds.x\", \"headers\": [{\"key\": \"k\", \"value\": \"v1\"}], \"size\": 5,\n"
                                 " \"payload_base64\": \"aGVsbG8=\", \"payload\": \"hello\"}";

static void check(const char *area, const char *verb, const char *doc, const char *want, const char *what)
{
    struct shown s = show(area, verb, doc);

    ok(s.status == CTL_EXIT_OK && same_text(s.out, want) && s.err[0] == '\0', "%s %s: %s", area, verb, what);
    if (s.err[0] != '\0')
        diag("stderr: %s", s.err);
    shown_free(&s);
}

int main(void)
{
    struct shown s;
    char buf[64];

    setenv("TZ", "UTC", 1);
    tzset();
    check("server", "info", server_info,
          "name           trpc-broker\n"
          "version        0.1.0\n"
          "started        2026-12-05T05:00:00+00:00\n"
          "uptime         12s\n"
          "listen         127.0.0.1:4250\n"
          "cores          2\n"
          "io_uring tier  T1\n"
          "connections    3\n"
          "store          file\n"
          "store url      file:/var/lib/trpc\n"
          "store state    up\n",
          "the contract's example, no store error row while last_error is null");
    check("settings", "get", settings_get,
          "NAME       VALUE           LIVE  HELP\n"
          "keepalive  30000ms         yes   clients ping after ...\n"
          "listen     127.0.0.1:4250  no    ...\n",
          "the contract's example");
    check("settings", "set", settings_set, "keepalive = 15000ms (was 30000ms)\n", "the contract's example");
    check("clients", "ls", clients_list,
          "             ID  NAME       PEER             CORE  SUBS        MSGS_IN  MSGS_OUT  BYTES_IN  BYTES_OUT  PENDING  "
          "CONNECTED                  TLS\n"
          "281474976710657  billing-1  127.0.0.1:53120     0     3             10        12      1200       1400        0  "
          "2026-12-05T05:00:01+00:00  -\n"
          "281474976710658  -          [::1]:40000         1     0  1234567890123         0         0          0    65536  "
          "2026-12-05T05:30:00+00:00  TLSv1.3 user\n",
          "the contract's example, an empty name, an offset time with a fraction, TLS or not");
    check("clients", "kick", clients_kick, "kicked client 281474976710657\n", "the contract's example");
    check("subs", "ls", subs_list,
          "         CLIENT  SID  PATTERN   GROUP    DELIVERED\n"
          "281474976710657    1  orders.>  billing         42\n",
          "the contract's example");
    check("subs", "ls",
          "{\"ok\": true, \"total\": 3, \"offset\": 1, \"subscriptions\": [{\"client\": 5, \"sid\": 2, \"pattern\": \"a.*\", "
          "\"group\": null, \"delivered\": 0}]}",
          "CLIENT  SID  PATTERN  GROUP  DELIVERED\n"
          "     5    2  a.*      -              0\n"
          "(1 of 3 subscriptions shown from offset 1; more with --offset 2)\n",
          "a plain subscription (group null) on a middle page");
    check("clients", "ls",
          "{\"ok\": true, \"total\": 1, \"offset\": 0, \"clients\": [{\"id\": 9, \"name\": null, \"peer\": \"p\", \"core\": 0, "
          "\"subscriptions\": 0, \"msgs_in\": 0, \"msgs_out\": 0, \"bytes_in\": 0, \"bytes_out\": 0, \"pending_output\": 0, "
          "\"connected_since\": \"2026-12-05T05:00:01Z\"}]}",
          "ID  NAME  PEER  CORE  SUBS  MSGS_IN  MSGS_OUT  BYTES_IN  BYTES_OUT  PENDING  CONNECTED                  TLS\n"
          " 9  -     p        0     0        0         0         0          0        0  2026-12-05T05:00:01+00:00  -\n",
          "a null name");
    check("clients", "ls", "{\"ok\": true, \"total\": 0, \"offset\": 0, \"clients\": []}",
          "ID  NAME  PEER  CORE  SUBS  MSGS_IN  MSGS_OUT  BYTES_IN  BYTES_OUT  PENDING  CONNECTED  TLS\n",
          "no clients: the header only");
    check("server", "info",
          "{\"ok\": true, \"name\": \"trpc-broker\", \"version\": \"0.2.0\", \"started\": \"yesterday\", \"uptime_ms\": "
          "93784005, \"listen\": \"0.0.0.0:4250\", \"cores\": 8, \"io_uring_tier\": \"T2\", \"connections\": 0, \"store\": "
          "{\"backend\": \"redis\", \"url\": \"redis://10.0.0.1:6379/0\", \"up\": false, \"last_error\": \"connection "
          "refused\", \"since\": 5}, \"threads\": [1, 2]}",
          "name           trpc-broker\n"
          "version        0.2.0\n"
          "started        yesterday\n"
          "uptime         1d2h3m4s\n"
          "listen         0.0.0.0:4250\n"
          "cores          8\n"
          "io_uring tier  T2\n"
          "connections    0\n"
          "store          redis\n"
          "store url      redis://10.0.0.1:6379/0\n"
          "store state    down\n"
          "store error    connection refused\n",
          "a store that is down, a time it cannot read shown as sent, members it does not know ignored");

    check("server", "info",
          "{\"ok\": true, \"name\": \"trpc-broker\", \"version\": \"0.1.0\", \"started\": \"2026-12-05T05:00:00Z\", "
          "\"uptime_ms\": 59999, \"listen\": \"127.0.0.1:4250\", \"cores\": 2, \"io_uring_tier\": \"T1\", \"connections\": 3}",
          "name           trpc-broker\n"
          "version        0.1.0\n"
          "started        2026-12-05T05:00:00+00:00\n"
          "uptime         59s\n"
          "listen         127.0.0.1:4250\n"
          "cores          2\n"
          "io_uring tier  T1\n"
          "connections    3\n",
          "a broker without a store: no store rows");

    check("stream", "add", stream_info,
          "created stream orders\n"
          "name                orders\n"
          "subjects            orders.>, refunds.*\n"
          "core                1\n"
          "max msg size        65536\n"
          "max msgs            1000000\n"
          "max bytes           none\n"
          "max age (ms)        86400000\n"
          "discard             old\n"
          "retention           limits\n"
          "dedup window (ms)   120000\n"
          "created             2026-12-05T05:00:00+00:00\n"
          "messages            0\n"
          "bytes               0\n"
          "first seq           1\n"
          "last seq            0\n"
          "stored (this run)   0\n"
          "refused (this run)  0\n"
          "expired (this run)  0\n"
          "duplicates          2\n"
          "pending             0\n"
          "groups              -\n",
          "the contract's example (a broker without groups: -)");
    check("stream", "info",
          "{\"ok\": true, \"stream\": {\"name\": \"jobs\", \"subjects\": [\"jobs.>\"], \"created\": \"2026-12-05T05:00:00Z\", "
          "\"core\": 0, \"max_msg_size\": 0, \"groups\": 2, \"max_deliveries\": 4, \"ack_wait_ms\": null, \"backoff\": "
          "\"10,2,100,0\", \"dlq\": \"jobs.dead\"}}",
          "name                       jobs\n"
          "subjects                   jobs.>\n"
          "core                       0\n"
          "max msg size               0\n"
          "max msgs                   -\n"
          "max bytes                  -\n"
          "max age (ms)               -\n"
          "discard                    -\n"
          "retention                  limits\n"
          "dedup window (ms)          -\n"
          "created                    2026-12-05T05:00:00+00:00\n"
          "messages                   -\n"
          "bytes                      -\n"
          "first seq                  -\n"
          "last seq                   -\n"
          "stored (this run)          -\n"
          "refused (this run)         -\n"
          "expired (this run)         -\n"
          "duplicates                 -\n"
          "pending                    -\n"
          "groups                     2\n"
          "groups' max deliveries     4\n"
          "groups' backoff            10,2,100,0\n"
          "groups' dead-letter topic  jobs.dead\n",
          "a stream with defaults for its groups: the ones set");
    check("stream", "ls", stream_list,
          "NAME    SUBJECTS             CORE  MESSAGES  BYTES  FIRST  LAST  ERROR\n"
          "orders  orders.>, refunds.*     1       202   1400      1   202  -\n"
          "bad     x                       0         -      -      -     -  No space left on device\n",
          "a stream whose log failed: its error, no figures");
    check("stream", "get", stream_get,
          "stream orders seq 201 at 2026-12-05T05:00:01+00:00 on refunds.x\n"
          "k: v1\n"
          "\n"
          "hello\n",
          "the contract's example");
    check("stream", "get",
          "{\"ok\": true, \"stream\": \"s\", \"seq\": 1, \"time\": \"2026-12-05T05:00:01Z\", \"topic\": \"t\", \"headers\": [], "
          "\"size\": 2, \"payload_base64\": \"//8=\", \"payload\": null}",
          "stream s seq 1 at 2026-12-05T05:00:01+00:00 on t\n"
          "\n"
          "(2 bytes, not UTF-8; base64:)\n"
          "//8=\n",
          "a payload that is not UTF-8: base64");
    check("stream", "get",
          "{\"ok\": true, \"stream\": \"s\", \"seq\": 1, \"time\": \"2026-12-05T05:00:01Z\", \"topic\": \"t\", \"headers\": [], "
          "\"size\": 900000, \"payload_base64\": null, \"payload\": null, \"payload_omitted\": true, \"headers_omitted\": false}",
          "stream s seq 1 at 2026-12-05T05:00:01+00:00 on t\n"
          "\n"
          "(900000 bytes left out: the reply may hold half of max-output-bytes at most)\n",
          "a payload too large for the reply: its size");
    check(
        "group", "ls",
        "{\"ok\": true, \"stream\": \"orders\", \"groups\": [{\"name\": \"billing\", \"pattern\": \"orders.>\", \"members\": 2, "
        "\"next_seq\": 30, \"lag\": 4, \"pending\": 3, \"inflight\": 2, \"waiting\": 1, \"lost\": 0, \"delivered\": 40, "
        "\"redelivered\": 5, \"acked\": 35, \"dead\": 1, \"max_deliveries\": 3, \"ack_wait_ms\": 30000, \"dlq\": \"dlq.orders\"}, "
        "{\"name\": \"audit\", \"pattern\": \"orders.*\", \"members\": 0, \"next_seq\": 1, \"lag\": 33, \"pending\": 0, "
        "\"inflight\": 0, \"waiting\": 0, \"lost\": 0, \"delivered\": 0, \"redelivered\": 0, \"acked\": 0, \"dead\": 0, "
        "\"max_deliveries\": 0, \"ack_wait_ms\": 30000, \"dlq\": null}]}",
        "GROUP    PATTERN   MEMBERS  NEXT  LAG  PENDING  INFLIGHT  REDELIVERED  ACKED  DEAD  DLQ\n"
        "billing  orders.>        2    30    4        3         2            5     35     1  dlq.orders\n"
        "audit    orders.*        0     1   33        0         0            0      0     0  -\n",
        "two groups, one without a dead-letter topic");
    check("stream", "rm", "{\"ok\": true, \"name\": \"orders\"}", "deleted stream orders\n", "the contract's example");
    check("dlq", "redrive",
          "{\"ok\": true, \"stream\": \"dead\", \"redriven\": 12, \"failed\": 0, \"skipped\": 1, \"why\": \"message 52: not a "
          "dead letter (no trpc-dlq-topic)\", \"next_seq\": 53, \"more\": false}",
          "stream dead: 12 redriven, 0 failed, 1 skipped\nfirst problem: message 52: not a dead letter (no trpc-dlq-topic)\n",
          "the contract's example");
    check("dlq", "purge",
          "{\"ok\": true, \"stream\": \"dead\", \"purged\": 3, \"failed\": 0, \"skipped\": 0, \"why\": null, \"next_seq\": 9, "
          "\"more\": false}",
          "stream dead: 3 purged, 0 failed, 0 skipped\n", "the contract's example");
    s = show("dlq", "purge", "{\"ok\": true, \"stream\": \"dead\", \"failed\": 0, \"skipped\": 0, \"why\": null}");
    ok(s.status == CTL_EXIT_FAIL && strstr(s.err, "purged") != NULL, "dlq purge: a reply without its count is an error (%s)",
       s.err);
    shown_free(&s);

    /* --json: the reply as received, even with its line breaks and spacing, and a newline. */
    s = show_len("settings", "get", settings_get, sizeof(settings_get) - 1, true);
    ok(s.status == CTL_EXIT_OK && strncmp(s.out, settings_get, sizeof(settings_get) - 1) == 0 &&
           strcmp(s.out + sizeof(settings_get) - 1, "\n") == 0 && s.err[0] == '\0',
       "--json prints the document as received and a newline");
    shown_free(&s);

    setenv("TZ", "CET-1", 1);
    tzset();
    ctl_fmt_time("2026-12-05T05:00:01Z", buf, sizeof(buf));
    ok(same_text(buf, "2026-12-05T06:00:01+01:00"), "a UTC time shown in the local zone with its offset");
    ctl_fmt_time("2026-12-05T05:00:01-02:30", buf, sizeof(buf));
    ok(same_text(buf, "2026-12-05T08:30:01+01:00"), "a time with a negative offset");
    for (const char *const *bad = (const char *const[]){"2026-13-05T05:00:01Z", "2026-12-05 05:00:01Z", "2026-12-05T05:00:01",
                                                        "2026-12-05T05:00:01Zjunk", "", NULL};
         *bad != NULL; bad++) {
        ctl_fmt_time(*bad, buf, sizeof(buf));
        ok(same_text(buf, *bad), "'%s' is not RFC 3339: shown as sent", *bad);
    }
    /* Names in the lines around the tables are made printable as cells are: a broker's reply
     * cannot move the cursor or set the terminal's title. */
    check("stream", "rm", "{\"ok\": true, \"name\": \"or\\u001b[2J\\u001b]0;pwned\\u0007ders\"}",
          "deleted stream or?[2J?]0;pwned?ders\n", "control characters in a stream's name become '?'");
    check("stream", "purge", "{\"ok\": true, \"purged\": 2, \"stream\": {\"name\": \"a\\u001bb\"}}",
          "purged stream a?b: 2 messages removed\n", "and in purge's line");
    check("group", "rm",
          "{\"ok\": true, \"stream\": \"s\\u0007\", \"group\": {\"name\": \"g\\u001b\", \"pending\": 0, \"members\": 0}}",
          "deleted consumer group g? of stream s? (0 members, 0 messages not settled)\n", "and in group rm's");
    ctl_fmt_duration(250, buf, sizeof(buf));
    ok(same_text(buf, "250ms"), "durations below a second in ms");
    ctl_fmt_duration(245000, buf, sizeof(buf));
    ok(same_text(buf, "4m5s"), "minutes and seconds");
    ctl_fmt_duration(3 * 3600000LL, buf, sizeof(buf));
    ok(same_text(buf, "3h0m0s"), "hours");
    return done_testing();
}
