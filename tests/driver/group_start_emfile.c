/*
 * A durable SUB with trpc-start time:T whose group cannot read its stream at once: the broker has
 * no descriptor left (its RLIMIT_NOFILE lowered with prlimit to the descriptors it holds), so the
 * time seek's first read fails opening the segment, before anything was asked of the ring. The
 * SUB is refused (UNAVAILABLE) and the group is not made, instead of the member joining a group
 * the failed lookup had already freed; with descriptors again, the same SUB makes its group and
 * gets the message.
 */
#include <dirent.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int msgs, errs, last_err;
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    trpc_ack(m);
    trpc_msg_free(m);
    pthread_mutex_lock(&seen.lock);
    seen.msgs++;
    pthread_cond_broadcast(&seen.cond);
    pthread_mutex_unlock(&seen.lock);
}

static void on_error(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    diag("error callback: %d %s", err, text != NULL ? text : "");
    pthread_mutex_lock(&seen.lock);
    seen.errs++;
    seen.last_err = err;
    pthread_cond_broadcast(&seen.cond);
    pthread_mutex_unlock(&seen.lock);
}

/* Waits until *counter reaches n; false after ms. */
static bool wait_count(int *counter, int n, int ms)
{
    struct timespec ts;
    bool done;

    deadline_in(&ts, ms);
    pthread_mutex_lock(&seen.lock);
    while (*counter < n && pthread_cond_timedwait(&seen.cond, &seen.lock, &ts) != ETIMEDOUT)
        ;
    done = *counter >= n;
    pthread_mutex_unlock(&seen.lock);
    return done;
}

/* The lowest descriptor number pid does not use: the next one it would open. */
static int lowest_free_fd(pid_t pid)
{
    static bool used[4096];
    char path[64];
    struct dirent *e;
    DIR *d;
    int n = 0;

    memset(used, 0, sizeof(used));
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        long fd = strtol(e->d_name, NULL, 10);

        if (e->d_name[0] != '.' && fd >= 0 && fd < 4096)
            used[fd] = true;
    }
    closedir(d);
    while (n < 4096 && used[n])
        n++;
    return n;
}

int main(void)
{
    static const trpc_header start[] = {{"trpc-start", "time:2000-01-01T00:00:00Z", 25}};
    struct broker_proc b;
    struct rlimit saved, low;
    trpc_options *o = NULL;
    trpc_client *c, *m;
    trpc_sub *sub;
    json_t *j;
    uint64_t seq = 0;
    int lowest;

    plan(6);
    broker_up(&b, (const char *[]){"--cores", "1", NULL});
    c = connect_or_bail(&b, NULL);
    j = adminc_call(c, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"orders.>\"]}");
    ok(adminc_ok(j), "stream orders");
    json_decref(j);
    ok(trpc_publish_sync(c, "orders.new", NULL, 0, "m", 1, 5000, &seq) == 0 && seq == 1, "one message stored");
    if (trpc_options_create(&o) != 0)
        BAIL_OUT("options");
    trpc_options_set_error_cb(o, on_error, NULL);
    m = connect_or_bail(&b, o);
    trpc_options_destroy(o);

    /* The broker is idle: every descriptor it needs is open, the next one it opens fails. */
    lowest = lowest_free_fd(b.pid);
    if (lowest < 0 || prlimit(b.pid, RLIMIT_NOFILE, NULL, &saved) != 0)
        BAIL_OUT("reading the broker's descriptors: %s", strerror(errno));
    low = saved;
    low.rlim_cur = (rlim_t)lowest;
    if (prlimit(b.pid, RLIMIT_NOFILE, &low, NULL) != 0)
        BAIL_OUT("prlimit: %s", strerror(errno));
    if (trpc_subscribe_durable(m, "orders.>", "late", 8, start, 1, on_msg, NULL, &sub) != 0 || trpc_flush(m, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    ok(wait_count(&seen.errs, 1, 10000) && seen.last_err == -TRPC_E_UNAVAILABLE,
       "without a descriptor for the seek's read: the SUB is refused UNAVAILABLE");
    j = adminc_group(c, "orders", "late");
    ok(j == NULL, "and its group was not made");
    json_decref(j);

    if (prlimit(b.pid, RLIMIT_NOFILE, &saved, NULL) != 0)
        BAIL_OUT("prlimit: %s", strerror(errno));
    if (trpc_subscribe_durable(m, "orders.>", "late", 8, start, 1, on_msg, NULL, &sub) != 0 || trpc_flush(m, 5000) != 0)
        BAIL_OUT("subscribe: %s", trpc_last_error());
    ok(wait_count(&seen.msgs, 1, 10000), "with descriptors again: the same SUB gets the message");
    ok(seen.errs == 1, "and no other error");
    trpc_close(m);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
