/*
 * Requests that cross cores count against the bytes bound between two cores (BROKER_XBYTES_MAX,
 * 64 MiB), as replies do: while the responder's core reads nothing, a requester on the other core
 * gets REP ERROR UNAVAILABLE at once for the requests past the bound, instead of the broker
 * queueing copies of them until the pending table is full. Once the core runs again, the requests
 * taken reach the responder and the bound is given back.
 *
 * The responder's core is held still by stopping its thread alone with ptrace (PTRACE_INTERRUPT;
 * the broker is our child), so nothing here depends on timing. Cross-core channels only
 * (--direct-sends=false): a direct send would write the request to the connection itself.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "tests/broker/itest.h"

#define BOUND   (64u << 20)   /* BROKER_XBYTES_MAX */
#define PAYLOAD (1000 * 1000) /* under the default max-frame, 1 MiB */
#define NREQ    (BOUND / PAYLOAD + 16)

/* The thread of the broker's core `core` (named trpc-coreN), or -1. */
static pid_t core_thread(pid_t pid, unsigned core)
{
    char path[320], want[32], comm[32];
    struct dirent *e;
    pid_t tid = -1;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    snprintf(want, sizeof(want), "trpc-core%u\n", core);
    d = opendir(path);
    if (d == NULL)
        return -1;
    while (tid < 0 && (e = readdir(d)) != NULL) {
        FILE *f;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, e->d_name);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof(comm), f) != NULL && strcmp(comm, want) == 0)
            tid = (pid_t)atoi(e->d_name);
        fclose(f);
    }
    closedir(d);
    return tid;
}

/* Stops thread tid alone; 0 or -errno. */
static int freeze(pid_t tid)
{
    int st;

    if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
        return -errno;
    if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0 || waitpid(tid, &st, __WALL) != tid) {
        int err = -errno;

        ptrace(PTRACE_DETACH, tid, NULL, NULL);
        return err;
    }
    return 0;
}

int main(void)
{
    /* The requests taken (under 64 MiB) all fit in the responder's output, whatever it reads. */
    static const char *const args[] = {"--cores", "2", "--direct-sends=false", "--max-output-bytes", "128m", NULL};
    static char payload[PAYLOAD];
    struct broker_proc b;
    struct tc req, resp;
    struct wire_frame f;
    unsigned refused = 0, other = 0, got = 0;
    pid_t tid;
    int ret;

    itest_start(&b, args);
    itest_connect_on(&req, &b, 0);
    itest_connect_on(&resp, &b, 1);
    tc_sub(&resp, 1, "svc", "svc");
    tc_sync(&resp, NULL);
    tid = core_thread(b.pid, 1);
    ret = tid > 0 ? freeze(tid) : -ESRCH;
    if (ret != 0) {
        printf("1..0 # SKIP cannot stop the broker's core 1 with ptrace: %s\n", strerror(-ret));
        broker_proc_stop(&b);
        return 0;
    }
    plan(5);

    for (unsigned i = 0; i < NREQ; i++)
        tc_req(&req, 1 + i, "svc", payload, sizeof(payload), 60000);
    /* At least NREQ - BOUND / PAYLOAD refusals come while core 1 stands still: wait for those. */
    while (refused + other < NREQ - BOUND / PAYLOAD) {
        f = itest_next(&req, TC_TIMEOUT_MS);
        if (f.type == 0)
            break;
        if (f.type == WIRE_REP && f.flags == WIRE_F_ERROR && f.aux == TRPC_E_UNAVAILABLE && f.payload_len > 0)
            refused++;
        else
            other++;
    }
    ok(refused >= NREQ - BOUND / PAYLOAD && other == 0,
       "past 64 MiB of requests waiting for core 1: REP ERROR UNAVAILABLE at once (%u of %u, %u other frames)", refused, NREQ,
       other);
    ok(ptrace(PTRACE_DETACH, tid, NULL, NULL) == 0, "core 1 runs again");

    /* The requests taken reach the responder; the requester has nothing else to hear meanwhile. */
    while (got < NREQ - refused) {
        f = itest_next(&resp, TC_TIMEOUT_MS);
        if (f.type != WIRE_MSG || !(f.flags & WIRE_F_REQUEST) || f.payload_len != PAYLOAD)
            break;
        got++;
    }
    ok(got == NREQ - refused, "the %u requests taken reach the responder (%u)", NREQ - refused, got);

    /* The bound was given back: a request crosses again. */
    tc_sync(&req, NULL);
    tc_req(&req, 1000, "svc", payload, sizeof(payload), 60000);
    f = itest_next(&resp, TC_TIMEOUT_MS);
    ok(f.type == WIRE_MSG && (f.flags & WIRE_F_REQUEST) && f.payload_len == PAYLOAD, "then a request crosses again");
    tc_close(&resp);
    tc_close(&req);
    itest_stop(&b);
    return done_testing();
}
