/*
 * A stream on a full disk: the broker's data directory on a small tmpfs the test mounts, filled up
 * by a file of the test's. Publishes into the stream then fail with STORAGE_FAILED (never a PUBACK
 * for what is not stored), everything else goes on (pub/sub on another topic), and once the file
 * is removed the stream stores again by itself; every acknowledged message is there, also after
 * kill -9 and a restart. Needs root (mount); skipped without it.
 */
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"
#include "tests/driver/tmpfs.h"

#define MAX_PUBS 1200

static struct inbox other = INBOX_INIT;

int main(void)
{
    static char payload[64 << 10];
    static uint64_t acked[MAX_PUBS];
    struct broker_proc b;
    trpc_client *c;
    trpc_sub *sub;
    json_t *st;
    int nacked = 0, err = 0, i, readable = 0;
    uint64_t seq = 0;

    memset(payload, 'p', sizeof(payload)); /* text: stream.get's JSON shows it */
    if (!tmpfs_setup("48m"))
        return 0;
    plan(11);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);
    adminc_stream_add(c, "{\"name\": \"big\", \"subjects\": [\"big.>\"]}");
    if (trpc_subscribe(c, "other.>", inbox_cb, &other, &sub) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    trpc_flush(c, 5000);
    ok(tmpfs_fill(1 << 20) == 0, "the disk filled up to its last MiB");

    for (i = 0; i < MAX_PUBS; i++) {
        err = trpc_publish_sync(c, "big.x", NULL, 0, payload, sizeof(payload), 10000, &seq);
        if (err != 0)
            break;
        acked[nacked++] = seq;
    }
    ok(err == -TRPC_E_STORAGE_FAILED, "a publish fails with STORAGE_FAILED once the disk is full (%s after %d)", trpc_strerror(err),
       nacked);
    err = trpc_publish_sync(c, "big.x", NULL, 0, "x", 1, 10000, &seq);
    ok(err == -TRPC_E_STORAGE_FAILED, "and the next ones too (%s)", trpc_strerror(err));
    st = adminc_stream(c, "big");
    ok(json_is_string(json_object_get(st, "error")), "stream.info shows the log's error (%s)",
       json_string_value(json_object_get(st, "error")));
    json_decref(st);
    ok(trpc_publish(c, "other.x", "alive", 5) == 0 && inbox_wait(&other, 1, 5000) == 1,
       "pub/sub on another topic goes on meanwhile");

    tmpfs_empty();
    for (i = 0; i < 100; i++) {
        err = trpc_publish_sync(c, "big.x", NULL, 0, "back", 4, 10000, &seq);
        if (err == 0)
            break;
        usleep(200000);
    }
    ok(err == 0 && seq > (nacked > 0 ? acked[nacked - 1] : 0), "with room again the stream stores by itself (%s, seq %llu)",
       trpc_strerror(err), (unsigned long long)seq);
    st = adminc_stream(c, "big");
    ok(json_object_get(st, "error") == NULL && adminc_int(st, "messages") >= nacked + 1,
       "its error is gone; %d acknowledged and 1 more kept (%lld)", nacked, adminc_int(st, "messages"));
    json_decref(st);

    trpc_close(c);
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    c = connect_or_bail(&b, NULL);
    for (i = 0; i < nacked; i++) {
        char doc[96];
        json_t *j;

        snprintf(doc, sizeof(doc), "{\"name\": \"big\", \"seq\": %llu}", (unsigned long long)acked[i]);
        j = adminc_call(c, "stream.get", doc);
        readable += adminc_ok(j) && adminc_int(j, "size") == (long long)sizeof(payload);
        json_decref(j);
    }
    ok(nacked > 0 && readable == nacked, "after kill -9 and a restart every acknowledged message is there (%d of %d)", readable,
       nacked);
    st = adminc_stream(c, "big");
    ok(adminc_int(st, "last_seq") >= (long long)seq, "and so is the one stored after the disk had room");
    json_decref(st);
    err = trpc_publish_sync(c, "big.x", NULL, 0, "more", 4, 10000, &seq);
    ok(err == 0, "the stream stores after the restart (%s)", trpc_strerror(err));
    st = adminc_stream(c, "big");
    ok(st != NULL && json_object_get(st, "error") == NULL, "no error on the stream after the restart");
    json_decref(st);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
