/* Subscription handles are bounded: 100,000 rounds of subscribe + unsubscribe + trpc_sub_destroy
 * against a real broker leave the process's resident set where it was (a handle kept until
 * trpc_close would cost ~40 MB here). Also: the handle outlives trpc_unsubscribe (pattern, second
 * unsubscribe refused), trpc_sub_destroy of an active subscription ends it, and destroying while
 * messages for it are queued or in delivery is safe and silent. */
#include <stdlib.h>

#include "tests/driver/helpers.h"

#define ROUNDS 100000

/* ASan keeps freed memory in a quarantine (256 MB by default), which would hide the difference. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=4";
}

static long rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static int rounds(trpc_client *c, const char *pattern, int n)
{
    int i, err;

    for (i = 0; i < n; i++) {
        trpc_sub *s;

        err = trpc_subscribe(c, pattern, inbox_cb, NULL, &s);
        if (err == 0)
            err = trpc_unsubscribe(s);
        trpc_sub_destroy(s);
        if (err == 0 && i % 1000 == 999)
            err = trpc_flush(c, 10000); /* keeps the SUB/UNSUB frames inside the send buffer */
        if (err)
            return err;
    }
    return 0;
}

static void slow_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    atomic_fetch_add((atomic_int *)ud, 1);
    trpc_msg_free(m);
}

static bool grew(void *arg)
{
    void **a = arg;

    return atomic_load((atomic_int *)a[0]) > *(int *)a[1];
}

/* Destroys subscriptions while their messages are queued or being delivered: the queued ones hold
 * the memory (ASan would see a use after free otherwise) and no callback runs after destroy. Every
 * 50th round waits for a delivery first, so deliveries do happen. */
static int hot_rounds(trpc_client *c, int n, atomic_int *seen)
{
    int i, k, err = 0;

    for (i = 0; i < n && err == 0; i++) {
        int before = atomic_load(seen);
        void *args[2] = {seen, &before};
        trpc_sub *s;

        err = trpc_subscribe(c, "sd.hot", slow_cb, seen, &s);
        if (err == 0)
            err = trpc_flush(c, 5000); /* the broker has the SUB: the publishes come back */
        for (k = 0; k < 3 && err == 0; k++)
            err = trpc_publish(c, "sd.hot", "h", 1);
        if (err == 0 && i % 50 == 0 && !wait_for(grew, args, 5000))
            err = -TRPC_E_TIMEOUT;
        else if (err == 0 && i % 2 == 1)
            err = trpc_flush(c, 5000); /* the MSGs are in (queued or running) when destroy comes */
        trpc_sub_destroy(s);
        before = atomic_load(seen);
        if (err == 0 && i % 50 == 0)
            usleep(2000);
        if (err == 0 && atomic_load(seen) != before)
            err = -TRPC_E_INTERNAL;
    }
    return err;
}

int main(void)
{
    atomic_int seen = 0;
    static struct inbox in = INBOX_INIT;
    char pattern[241];
    struct broker_proc b;
    trpc_client *c;
    trpc_sub *s;
    long before, after;
    int err;

    broker_up(&b, NULL);
    c = connect_or_bail(&b, NULL);

    ok_eq(trpc_subscribe(c, "sd.one", inbox_cb, &in, &s), 0, "subscribe");
    ok_eq(trpc_unsubscribe(s), 0, "unsubscribe");
    ok(strcmp(trpc_sub_pattern(s), "sd.one") == 0, "the handle is valid after unsubscribe");
    ok_eq(trpc_unsubscribe(s), -TRPC_E_INVALID_ARGUMENT, "a second unsubscribe is refused");
    trpc_sub_destroy(s);
    trpc_sub_destroy(NULL);
    ok_eq(trpc_subscribe(c, "sd.two", inbox_cb, &in, &s), 0, "subscribe again");
    ok_eq(trpc_flush(c, 5000), 0, "flush");
    trpc_sub_destroy(s); /* still active: destroy unsubscribes */
    ok_eq(trpc_publish(c, "sd.two", "x", 1), 0, "publish after destroy");
    ok_eq(trpc_flush(c, 5000), 0, "flush");
    usleep(100000);
    ok_eq(inbox_count(&in), 0, "a destroyed active subscription gets nothing");

    ok_eq(hot_rounds(c, 1000, &seen), 0, "destroy with deliveries in flight: no callback after it returned");
    ok(atomic_load(&seen) > 0, "messages were delivered between the rounds (%d)", atomic_load(&seen));

    memset(pattern, 'p', sizeof(pattern) - 1);
    pattern[sizeof(pattern) - 1] = '\0';
    ok_eq(rounds(c, pattern, 5000), 0, "warm-up rounds (%s)", trpc_last_error());
    before = rss_kb();
    err = rounds(c, pattern, ROUNDS);
    after = rss_kb();
    ok_eq(err, 0, "%d rounds of subscribe, unsubscribe, destroy (%s)", ROUNDS, trpc_last_error());
    ok(before > 0 && after > 0, "VmRSS readable");
    diag("VmRSS %ld kB before, %ld kB after", before, after);
    ok(after - before < 12 * 1024, "resident set grew by less than 12 MB (%ld kB)", after - before);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
