/*
 * A subscriber that stops reading is cut off with ERR FATAL SLOW_CONSUMER once its queued output
 * would pass max-output-bytes, while a subscriber on the same topic that reads keeps receiving
 * every message, and the broker's memory stays bounded.
 */
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/broker/itest.h"

#define N       8000
#define PAYLOAD 1024

/* What the broker may grow by while 8 MiB go through it. ThreadSanitizer's shadow memory
 * multiplies every allocation's footprint, so its builds get a looser bound. */
#if defined(__SANITIZE_THREAD__)
#define RSS_GROWTH_KB (160 * 1024)
#else
#define RSS_GROWTH_KB (32 * 1024)
#endif

struct reader {
    struct tc *c;
    unsigned got, in_order;
};

static void *read_all(void *arg)
{
    struct reader *r = arg;
    struct wire_frame f;

    while (r->got < N && tc_recv(r->c, &f, TC_TIMEOUT_MS) == 0) {
        uint32_t v;

        if (f.type != WIRE_MSG || f.payload_len != PAYLOAD)
            break;
        memcpy(&v, f.payload, sizeof(v));
        r->in_order += v == r->got;
        r->got++;
    }
    return NULL;
}

int main(void)
{
    static const char *const args[] = {"--cores", "1", "--max-output-bytes", "128k", "--max-frame", "64k", NULL};
    struct broker_proc b;
    struct tc slow, fast, pub;
    struct reader r = {.c = &fast};
    struct wire_frame f;
    pthread_t th;
    uint8_t payload[PAYLOAD] = {0};
    long rss0, rss1;
    unsigned before_err = 0;
    char why[256] = "";
    bool cut = false;

    plan(8);
    itest_start(&b, args);
    if (tc_connect_rcvbuf(&slow, &b, 4096) != 0)
        BAIL_OUT("connect with a small receive buffer");
    itest_connect(&fast, &b, 0);
    itest_connect(&pub, &b, 0);
    tc_sub(&slow, 1, "feed", NULL);
    tc_sync(&slow, NULL);
    tc_sub(&fast, 1, "feed", NULL);
    tc_sync(&fast, NULL);
    rss0 = broker_proc_rss_kb(&b);
    pthread_create(&th, NULL, read_all, &r);
    for (uint32_t i = 0; i < N; i++) {
        memcpy(payload, &i, sizeof(i));
        if (tc_pub(&pub, "feed", payload, sizeof(payload)) != 0)
            BAIL_OUT("publish");
        if (i % 32 == 31)
            tc_sync(&pub, NULL); /* keep the fast reader within its bound */
    }
    tc_sync(&pub, NULL);
    pthread_join(th, NULL);
    rss1 = broker_proc_rss_kb(&b);
    ok_eq(r.got, N, "the reading subscriber got every message");
    ok_eq(r.in_order, N, "in order");

    while (tc_recv(&slow, &f, TC_TIMEOUT_MS) == 0) {
        if (f.type == WIRE_MSG) {
            before_err++;
            continue;
        }
        cut = itest_is_err(&f, TRPC_E_SLOW_CONSUMER, true);
        /* The numbers, not the code's own text again (clients print that first). */
        snprintf(why, sizeof(why), "%.*s", (int)f.payload_len, f.payload != NULL ? (const char *)f.payload : "");
        break;
    }
    ok(cut, "the stalled subscriber got ERR FATAL SLOW_CONSUMER (after %u messages)", before_err);
    ok(strstr(why, " bytes queued, ") != NULL && strstr(why, "would pass max-output-bytes 131072") != NULL &&
           strstr(why, "output queue full") == NULL,
       "saying how much was queued against the bound: %s", why);
    ok(before_err < N, "it was cut before the end of the stream");
    ok(tc_wait_eof(&slow, TC_TIMEOUT_MS), "and was disconnected");
    diag("broker RSS %ld KiB before, %ld KiB after", rss0, rss1);
    ok(rss0 > 0 && rss1 > 0 && rss1 - rss0 < RSS_GROWTH_KB, "broker RSS grew by %ld KiB (bound %d KiB) for 8 MiB published",
       rss1 - rss0, RSS_GROWTH_KB);
    tc_close(&slow);
    tc_close(&fast);
    tc_close(&pub);
    itest_stop(&b);
    return done_testing();
}
