/*
 * Request/reply across two cores with requesters that come and go. Two echo responders, one on
 * each core; four requester threads connect wherever the kernel puts them and send requests one
 * at a time, checking each reply's id and payload; every eighth request is abandoned: the
 * requester closes right after sending it (its pending entry may be claimed by the responder's
 * core at that moment) and connects again. With direct sends on (the default), replies and
 * requests go straight to idle connections of the other core, so this exercises the claim, the
 * reap stack and the handback against requesters that vanish; under ASan and TSan too. Every
 * request that was waited for must get its own reply, the broker must keep serving, and it must
 * exit cleanly.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "tests/broker/itest.h"

#define REQUESTERS 4
#define PER_THREAD 250
#define ABANDON    8 /* one request in this many is abandoned */

struct responder {
    struct tc c;
    atomic_uint served; /* read by the main thread while the responder runs */
    unsigned late;      /* BAD_REPLY_TOKEN: the reply came after its requester left */
    unsigned bad;
};

struct requester {
    const struct broker_proc *b;
    unsigned id;
    unsigned ok, bad, abandoned, lost;
};

static atomic_bool stop;

static void *respond(void *arg)
{
    struct responder *r = arg;

    while (!atomic_load(&stop)) {
        struct wire_frame f;

        if (tc_recv(&r->c, &f, 50) != 0)
            continue;
        if (f.type == WIRE_ERR && f.aux == TRPC_E_BAD_REPLY_TOKEN && !(f.flags & WIRE_F_FATAL)) {
            r->late++;
            continue;
        }
        if (f.type != WIRE_MSG || !(f.flags & WIRE_F_REQUEST)) {
            r->bad++;
            continue;
        }
        if (tc_rep(&r->c, f.seq, 0, 0, f.payload, f.payload_len) == 0)
            atomic_fetch_add(&r->served, 1);
    }
    return NULL;
}

static void *request(void *arg)
{
    struct requester *q = arg;
    struct tc c;
    char payload[64];

    if (tc_connect(&c, q->b, 0) != 0) {
        q->bad++;
        return NULL;
    }
    for (unsigned i = 0; i < PER_THREAD; i++) {
        struct wire_frame f;
        int len = snprintf(payload, sizeof(payload), "requester %u request %u", q->id, i);

        if (tc_req(&c, i + 1, "svc.echo", payload, (size_t)len, 5000) != 0) {
            q->bad++;
            break;
        }
        if (i % ABANDON == ABANDON - 1) {
            tc_close(&c);
            q->abandoned++;
            if (tc_connect(&c, q->b, 0) != 0) {
                q->bad++;
                return NULL;
            }
            continue;
        }
        if (tc_recv(&c, &f, TC_TIMEOUT_MS) != 0) {
            q->lost++;
            continue;
        }
        if (f.type == WIRE_REP && f.id == i + 1 && f.flags == 0 && f.payload_len == (size_t)len &&
            memcmp(f.payload, payload, (size_t)len) == 0)
            q->ok++;
        else
            q->bad++;
    }
    tc_close(&c);
    return NULL;
}

int main(void)
{
    static const char *const args[] = {"--cores", "2", NULL};
    struct broker_proc b;
    struct responder resp[2] = {0};
    struct requester req[REQUESTERS] = {0};
    pthread_t rt[2], qt[REQUESTERS];
    unsigned ok_total = 0, bad = 0, lost = 0, abandoned = 0;
    struct tc probe;
    struct wire_frame f;
    int st;

    plan(7);
    itest_start(&b, args);
    for (unsigned i = 0; i < 2; i++) {
        itest_connect_on(&resp[i].c, &b, i);
        tc_sub(&resp[i].c, 1, "svc.echo", "svc");
        tc_sync(&resp[i].c, NULL);
    }
    for (unsigned i = 0; i < 2; i++)
        if (pthread_create(&rt[i], NULL, respond, &resp[i]) != 0)
            BAIL_OUT("pthread_create");
    for (unsigned i = 0; i < REQUESTERS; i++) {
        req[i] = (struct requester){.b = &b, .id = i};
        if (pthread_create(&qt[i], NULL, request, &req[i]) != 0)
            BAIL_OUT("pthread_create");
    }
    for (unsigned i = 0; i < REQUESTERS; i++) {
        pthread_join(qt[i], NULL);
        ok_total += req[i].ok;
        bad += req[i].bad;
        lost += req[i].lost;
        abandoned += req[i].abandoned;
    }
    diag("%u replies, %u abandoned, %u lost, %u bad; served %u and %u", ok_total, abandoned, lost, bad,
         atomic_load(&resp[0].served), atomic_load(&resp[1].served));
    ok(bad == 0 && lost == 0, "every request waited for got its own reply (%u bad, %u lost)", bad, lost);
    ok(ok_total + abandoned == REQUESTERS * PER_THREAD, "all %u requests sent (%u answered, %u abandoned)", REQUESTERS * PER_THREAD,
       ok_total, abandoned);
    ok(atomic_load(&resp[0].served) > 0 && atomic_load(&resp[1].served) > 0, "both responders served (%u, %u)",
       atomic_load(&resp[0].served), atomic_load(&resp[1].served));

    /* Still serving after the churn: a fresh requester gets a reply. */
    itest_connect(&probe, &b, 0);
    tc_req(&probe, 77, "svc.echo", "after", 5, 5000);
    f = itest_next(&probe, TC_TIMEOUT_MS);
    ok(f.type == WIRE_REP && f.id == 77 && f.payload_len == 5 && memcmp(f.payload, "after", 5) == 0, "the broker still serves");
    tc_close(&probe);

    atomic_store(&stop, true);
    for (unsigned i = 0; i < 2; i++) {
        pthread_join(rt[i], NULL);
        tc_close(&resp[i].c);
    }
    ok(resp[0].bad == 0 && resp[1].bad == 0 && resp[0].late + resp[1].late <= abandoned,
       "responders got requests, and BAD_REPLY_TOKEN only for abandoned ones (%u of %u)", resp[0].late + resp[1].late, abandoned);
    st = broker_proc_signal_wait(&b, SIGTERM, 20000);
    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "broker exits 0 on SIGTERM (status %d)", st);
    diag("broker: %d stats line(s) with direct sends made",
         broker_proc_log_count(&b, "direct_sends=") - broker_proc_log_count(&b, "direct_sends=0 "));
    ok(broker_proc_log_count(&b, "stats:") == 1, "the stats line was logged");
    broker_proc_stop(&b);
    return done_testing();
}
