/*
 * A consumer-group log on a full disk: the broker's data directory on a small tmpfs the test
 * mounts, filled up by a file of the test's, and a member acknowledging until the group log needs
 * a segment it cannot have and fails. That is said once in the broker's log, not once per record
 * dropped; once the file is removed the group log is opened again by itself and every group's state
 * written at once, so that what was acknowledged meanwhile and after stays acknowledged across
 * kill -9. Needs root (mount); skipped without it.
 */
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"
#include "tests/driver/tmpfs.h"

#define MAX_PUBS 200000 /* the group log (1 MiB segments) needs another long before */
#define FAILED   "group log write failed"
#define REOPENED "its group log is open again"

static atomic_int acks;

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    trpc_ack(m);
    trpc_msg_free(m);
    atomic_fetch_add(&acks, 1);
}

struct seen {
    struct broker_proc *b;
    const char *needle;
    int n;
};

static bool logged(void *arg)
{
    struct seen *s = arg;

    return broker_proc_log_count(s->b, s->needle) >= s->n;
}

static bool all_acked(void *arg)
{
    return atomic_load(&acks) >= *(int *)arg;
}

/* Publishes one message, waiting while the send buffer is full: 0 or -TRPC_E_*. */
static int publish(trpc_client *c)
{
    int err;

    while ((err = trpc_publish(c, "jobs.x", "j", 1)) == -TRPC_E_BUFFER_FULL)
        trpc_flush(c, 5000);
    return err;
}

int main(void)
{
    struct broker_proc b;
    struct seen failed, reopened;
    trpc_client *c, *m;
    trpc_sub *sub;
    json_t *j;
    int i, npub = 0, err = 0;
    uint64_t seq = 0;

    if (!tmpfs_setup("64m"))
        return 0;
    plan(8);
    broker_up(&b, (const char *[]){"--cores", "1", NULL});
    c = connect_or_bail(&b, NULL);
    adminc_stream_add(c, "{\"name\": \"jobs\", \"subjects\": [\"jobs.>\"]}");
    m = connect_or_bail(&b, NULL);
    if (trpc_subscribe_durable(m, "jobs.>", "work", 256, NULL, 0, on_msg, NULL, &sub) != 0 || trpc_flush(m, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    ok(tmpfs_fill(0) == 0, "the disk filled up");

    failed = (struct seen){&b, FAILED, 1};
    while (npub < MAX_PUBS && err == 0 && !logged(&failed)) {
        for (i = 0; i < 1000 && err == 0; i++, npub++)
            err = publish(c);
        if (err == 0)
            err = trpc_flush(c, 10000);
        if (err == 0 && !wait_for(all_acked, &npub, 20000))
            BAIL_OUT("the member acknowledged %d of %d", atomic_load(&acks), npub);
    }
    ok(err == 0 && logged(&failed), "the group log failed after %d messages acknowledged (%s)", npub, trpc_strerror(err));
    /* Every one of these is a record the failed log drops: none says so again. */
    for (i = 0; i < 2000 && err == 0; i++, npub++)
        err = publish(c);
    ok(err == 0 && trpc_flush(c, 10000) == 0 && wait_for(all_acked, &npub, 20000), "2000 more acknowledged meanwhile");
    ok(broker_proc_log_count(&b, FAILED) == 1, "the failure is logged once (%d)", broker_proc_log_count(&b, FAILED));

    tmpfs_empty();
    reopened = (struct seen){&b, REOPENED, 1};
    ok(wait_for(logged, &reopened, 60000), "with room again the group log is opened again by itself");
    for (i = 0; i < 100 && err == 0; i++, npub++)
        err = publish(c);
    ok(err == 0 && trpc_flush(c, 10000) == 0 && wait_for(all_acked, &npub, 20000), "100 more acknowledged after that");
    /* Its answer waits for its record to be durable, and the records before it are then too. */
    j = adminc_call(c, "group.add", "{\"stream\": \"jobs\", \"name\": \"marker\"}");
    if (!adminc_ok(j))
        BAIL_OUT("group.add marker");
    json_decref(j);
    j = adminc_stream(c, "jobs");
    seq = (uint64_t)adminc_int(j, "last_seq");
    json_decref(j);

    trpc_close(m);
    trpc_close(c);
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    c = connect_or_bail(&b, NULL);
    j = adminc_group(c, "jobs", "work");
    ok(j != NULL && adminc_int(j, "next_seq") == (long long)seq + 1 && adminc_int(j, "pending") == 0,
       "after kill -9 the group has every one of the %d acknowledged (next_seq %lld of %llu, pending %lld)", npub,
       adminc_int(j, "next_seq"), (unsigned long long)seq + 1, adminc_int(j, "pending"));
    json_decref(j);
    ok(broker_proc_log_count(&b, FAILED) == 0, "and no group log trouble after the restart");
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
