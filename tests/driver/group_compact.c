/*
 * The group log is compacted: a consumer group that settles tens of thousands of messages leaves
 * a log of a few segments (a snapshot of the group, then the segments before it removed), and a
 * restart from that log (kill -9) knows the group exactly: the messages held without an ACK come
 * again with their delivery count carried over, nothing acknowledged comes again, and a new
 * message follows from the right sequence.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define N    40000
#define HELD 8 /* sequences 1, 1 + N / HELD, ...: held without an ACK */

static struct {
    pthread_mutex_t lock;
    int msgs, acked, held, redelivered, bad;
    uint64_t last_seq;
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool held_seq(uint64_t seq)
{
    return seq <= N && (seq - 1) % (N / HELD) == 0;
}

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    uint64_t seq = trpc_msg_seq(m);
    bool hold = held_seq(seq) && trpc_msg_delivery(m) == 1;
    bool ackd = !hold && trpc_ack(m) == 0;

    (void)c;
    (void)sub;
    (void)ud;
    pthread_mutex_lock(&seen.lock);
    seen.msgs++;
    seen.acked += ackd;
    seen.held += hold;
    if (trpc_msg_delivery(m) > 1) {
        seen.redelivered++;
        if (!held_seq(seq) || trpc_msg_delivery(m) != 2)
            seen.bad++;
    }
    seen.last_seq = seq;
    pthread_mutex_unlock(&seen.lock);
    trpc_msg_free(m);
}

static bool settled(void *arg)
{
    int want = *(int *)arg;
    bool done;

    pthread_mutex_lock(&seen.lock);
    done = seen.acked + seen.held >= want;
    pthread_mutex_unlock(&seen.lock);
    return done;
}

/* Segment files of the group log, and their bytes. */
static int glog_files(const struct broker_proc *b, long long *bytes)
{
    char dir[512], path[1024];
    struct dirent *e;
    struct stat sb;
    int n = 0;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/streams/orders/groups", b->data_dir);
    *bytes = 0;
    d = opendir(dir);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            n++;
            *bytes += sb.st_size;
        }
    }
    closedir(d);
    return n;
}

/* The cores' log lines reach the file a little after the broker listens. */
static bool logged(void *arg)
{
    return broker_proc_log_count(arg, "consumer group billing, next sequence 40001, 8 delivered and not acknowledged") == 1;
}

static void publish_all(trpc_client *c, int from, int to)
{
    for (int i = from; i <= to; i++)
        if (trpc_publish(c, "orders.x", "m", 1) != 0)
            BAIL_OUT("publish %d: %s", i, trpc_last_error());
    if (trpc_flush(c, 10000) != 0)
        BAIL_OUT("flush: %s", trpc_last_error());
}

int main(void)
{
    static const trpc_header policy[] = {{"trpc-ack-wait", "600000", 6}};
    struct broker_proc b;
    trpc_client *c;
    trpc_sub *sub;
    json_t *j;
    long long bytes;
    int files, want;

    plan(9);
    broker_up(&b, (const char *[]){"--cores", "2", NULL});
    c = connect_or_bail(&b, NULL);
    j = adminc_call(c, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"orders.>\"]}");
    ok(adminc_ok(j), "stream orders");
    json_decref(j);
    if (trpc_subscribe_durable(c, "orders.>", "billing", 512, policy, 1, on_msg, NULL, &sub) != 0 || trpc_flush(c, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    usleep(100000); /* the join reaches the stream's core */
    publish_all(c, 1, N);
    want = N;
    ok(wait_for(settled, &want, 120000), "%d messages delivered and settled (%d held)", N, HELD);
    usleep(500000); /* the last settlements reach the group log's disk */
    files = glog_files(&b, &bytes);
    /* Without compaction: a record per delivery and one per ACK, over 2 MiB of log in 1 MiB segments. */
    ok(files >= 1 && files <= 3, "the group log is compacted: %d segment files, %lld bytes", files, bytes);
    ok(broker_proc_log_count(&b, "group log") == 0, "no group log trouble in the broker's log");

    trpc_close(c);
    if (broker_proc_kill(&b) != 0 || broker_proc_restart(&b) != 0)
        BAIL_OUT("restart");
    ok(wait_for(logged, &b, 5000), "the restart knows the group from its snapshot: next sequence %d, %d held", N + 1, HELD);
    pthread_mutex_lock(&seen.lock);
    seen.msgs = seen.acked = seen.held = 0;
    pthread_mutex_unlock(&seen.lock);
    c = connect_or_bail(&b, NULL);
    if (trpc_subscribe_durable(c, "orders.>", "billing", 512, policy, 1, on_msg, NULL, &sub) != 0 || trpc_flush(c, 5000) != 0)
        BAIL_OUT("subscribe again: %s", trpc_last_error());
    want = HELD;
    ok(wait_for(settled, &want, 20000), "the %d held messages come again", HELD);
    publish_all(c, N + 1, N + 1);
    want = HELD + 1;
    ok(wait_for(settled, &want, 20000), "a new message follows");
    usleep(300000);
    pthread_mutex_lock(&seen.lock);
    ok(seen.msgs == HELD + 1 && seen.redelivered == HELD && seen.bad == 0,
       "nothing acknowledged came again; the held ones with delivery 2 (%d messages, %d redelivered, %d wrong)", seen.msgs,
       seen.redelivered, seen.bad);
    ok(seen.last_seq == N + 1, "the new one has sequence %d (%llu)", N + 1, (unsigned long long)seen.last_seq);
    pthread_mutex_unlock(&seen.lock);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
