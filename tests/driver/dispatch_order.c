/* With 4 dispatcher threads, each subscription's messages still arrive in publish order, and
 * different subscriptions run on the threads in parallel. The threads carry their names. */
#include <dirent.h>

#include "tests/driver/helpers.h"

#define SUBS 4
#define MSGS 300

struct seq {
    int next;
    int out_of_order;
};

static struct seq seqs[SUBS];
static struct inbox got = INBOX_INIT;

/* How many of this process's threads are called name. */
static int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char path[300], comm[32] = "";
        FILE *f;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        f = fopen(path, "re");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof(comm), f) != NULL && strcmp(comm, name) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

static void ordered_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    struct seq *s = ud;
    int n = atoi(trpc_msg_data(m)); /* payloads are NUL-terminated by the library */

    if (n != s->next)
        s->out_of_order++;
    s->next = n + 1;
    inbox_cb(c, sub, m, &got);
}

int main(void)
{
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c;
    trpc_sub *s[SUBS];
    int i, k, bad = 0;

    broker_up(&b, NULL);
    trpc_options_create(&o);
    ok_eq(trpc_options_set_dispatch(o, TRPC_DISPATCH_THREAD, 4), 0, "4 dispatcher threads");
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    /* Each thread names itself as it starts, which may be after trpc_connect returns. */
    for (i = 0; i < 500 && (threads_named("trpc-dispatch\n") != 4 || threads_named("trpc-io\n") != 1); i++)
        usleep(10000);
    ok_eq(threads_named("trpc-dispatch\n"), 4, "4 threads named trpc-dispatch");
    ok_eq(threads_named("trpc-io\n"), 1, "1 thread named trpc-io");
    for (k = 0; k < SUBS; k++) {
        char topic[32];
        snprintf(topic, sizeof(topic), "ord.%d", k);
        ok_eq(trpc_subscribe(c, topic, ordered_cb, &seqs[k], &s[k]), 0, "subscribe %s", topic);
    }
    ok_eq(trpc_flush(c, 5000), 0, "flush");
    for (i = 0; i < MSGS; i++) {
        for (k = 0; k < SUBS; k++) {
            char topic[32], num[16];
            int len = snprintf(num, sizeof(num), "%d", i);
            snprintf(topic, sizeof(topic), "ord.%d", k);
            if (trpc_publish(c, topic, num, (size_t)len) != 0)
                bad++;
        }
    }
    ok_eq(bad, 0, "all published");
    ok_eq(inbox_wait(&got, SUBS * MSGS, 15000), SUBS * MSGS, "all delivered");
    trpc_close(c); /* joins the dispatchers: seqs are ours to read now */
    for (k = 0; k < SUBS; k++)
        ok(seqs[k].out_of_order == 0 && seqs[k].next == MSGS, "subscription %d in order", k);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
