/*
 * A PONG is the promise that the subscriptions sent before its PING are in force on every core,
 * and PONGs come in PING order, whatever the load (issue 14). The load: two other connections on
 * core 0 each send 9,000 SUBs, so core 0's broadcasts to core 1 back up; then client A, on core 0
 * too, sends 12 x (SUB bar.N, PING N) in one write. That holds more PONGs than a connection may
 * (BROKER_PONGS_MAX), so the broker stops reading A until some go, rather than answering early.
 * As each PONG N arrives, a publisher on core 1 publishes once to bar.N: A must get every one of
 * them, and the PONGs in the order 1 .. 12.
 *
 * The broker's stats line counts the connections whose reading stopped (rx_pauses); the test
 * tries the load a few times until one run made the broker pause A, so that the paused path is
 * known to have run (every run must be correct either way).
 *
 * Built with PONG_ORDER_TLS (tests/broker/pong_order_tls), A speaks TLS to the broker's TLS
 * listener: the pause then holds ciphertext, and decrypted frames wait in the session's plaintext
 * buffer and in the engine until the PONGs let it read again (src/stls.c).
 */
#include <signal.h>
#include <stdlib.h>

#include "tests/broker/itest.h"
#ifdef PONG_ORDER_TLS
#include "driver/tls.h"
#include "tests/tls/certs.h"

static struct tls_ctx *tls_client;

/* A TLS connection (CONNECT done) that landed on core. */
static void connect_a(struct tc *c, const struct broker_proc *b, unsigned core)
{
    char why[256];

    for (int i = 0; i < 200; i++) {
        if (tc_open_tls(c, b->tls_port, tls_client, "localhost", why) != 0)
            BAIL_OUT("TLS: %s", why);
        if (tc_hello(c, 0) != 0)
            BAIL_OUT("CONNECT over TLS failed");
        if (c->core == core)
            return;
        tc_close(c);
    }
    BAIL_OUT("no TLS connection landed on core %u in 200 tries", core);
}
#else
#define connect_a itest_connect_on
#endif

#define NSUBS  9000
#define NPINGS 12
#define TRIES  5

/* Appends frame o to buf (cap bytes, *len used). */
static void put(uint8_t *buf, size_t cap, size_t *len, const struct wire_out *o)
{
    ssize_t n = wire_encode(buf + *len, cap - *len, o);

    if (n <= 0)
        BAIL_OUT("cannot encode a frame: %s", trpc_err_name((int)-n));
    *len += (size_t)n;
}

/* NSUBS subscriptions on distinct topics, in one buffer. */
static uint8_t *many_subs(const char *prefix, size_t *len)
{
    size_t cap = (size_t)NSUBS * 96;
    uint8_t *buf = malloc(cap);
    char topic[64];

    if (buf == NULL)
        BAIL_OUT("out of memory");
    *len = 0;
    for (unsigned i = 0; i < NSUBS; i++) {
        struct wire_out o = {.type = WIRE_SUB, .id = i + 1, .topic = topic};

        o.topic_len = (size_t)snprintf(topic, sizeof(topic), "%s.load.%u", prefix, i);
        put(buf, cap, len, &o);
    }
    return buf;
}

/* One run of the load on a fresh set of connections: true when every check held. */
static bool run(const struct broker_proc *b, unsigned run_no)
{
    struct tc x, y, a, p;
    uint8_t *xs, *ys, burst[NPINGS * 128];
    size_t xlen, ylen, blen = 0;
    char topic[32], prefix[16];
    unsigned pongs = 0, msgs = 0, skipped = 0;
    bool in_order = true, got[NPINGS + 1] = {false};

    itest_connect_on(&x, b, 0);
    itest_connect_on(&y, b, 0);
    connect_a(&a, b, 0);
    itest_connect_on(&p, b, 1);
    snprintf(prefix, sizeof(prefix), "x%u", run_no);
    xs = many_subs(prefix, &xlen);
    snprintf(prefix, sizeof(prefix), "y%u", run_no);
    ys = many_subs(prefix, &ylen);
    for (unsigned n = 1; n <= NPINGS; n++) {
        struct wire_out sub = {.type = WIRE_SUB, .id = n, .topic = topic};
        struct wire_out ping = {.type = WIRE_PING, .id = n};

        sub.topic_len = (size_t)snprintf(topic, sizeof(topic), "bar.%u", n);
        put(burst, sizeof(burst), &blen, &sub);
        put(burst, sizeof(burst), &blen, &ping);
    }
    if (tc_send_raw(&x, xs, xlen) != 0 || tc_send_raw(&y, ys, ylen) != 0 || tc_send_raw(&a, burst, blen) != 0)
        BAIL_OUT("cannot send the load");
    while (pongs < NPINGS || msgs < NPINGS) {
        struct wire_frame f = itest_next(&a, TC_TIMEOUT_MS);

        if (f.type == WIRE_PONG) {
            pongs++;
            in_order &= f.id == pongs;
            snprintf(topic, sizeof(topic), "bar.%u", (unsigned)f.id);
            tc_pub(&p, topic, "m", 1);
        } else if (f.type == WIRE_MSG && f.id >= 1 && f.id <= NPINGS && !got[f.id]) {
            got[f.id] = true;
            msgs++;
        } else {
            diag("run %u: unexpected frame type %d id %llu after %u PONGs and %u messages", run_no, f.type,
                 (unsigned long long)f.id, pongs, msgs);
            break;
        }
    }
    if (!in_order || pongs < NPINGS || msgs < NPINGS)
        diag("run %u: %u PONGs (%s), %u of %d messages", run_no, pongs, in_order ? "in order" : "out of order", msgs, NPINGS);
    /* Every SUB of the load was taken. */
    if (tc_sync(&x, &skipped) != 0 || skipped != 0 || tc_sync(&y, &skipped) != 0 || skipped != 0) {
        diag("run %u: the loading connections got %u unexpected frames", run_no, skipped);
        in_order = false;
    }
    tc_close(&x);
    tc_close(&y);
    tc_close(&a);
    tc_close(&p);
    free(xs);
    free(ys);
    return in_order && pongs == NPINGS && msgs == NPINGS;
}

int main(void)
{
    struct broker_proc b;
    unsigned tries = 0, good = 0, clean = 0;
    int paused = 0;
#ifdef PONG_ORDER_TLS
    char err[256];
    const char *args[] = {"--cores", "2", "--tls-listen", "127.0.0.1:0", "--tls-cert", NULL, "--tls-key", NULL, NULL};
    struct tls_config cfg = {.role = TLS_CLIENT};

    certs_make();
    args[5] = cert_path("server.pem");
    args[7] = cert_path("server.key");
    cfg.ca_file = cert_path("ca.pem");
    if (tls_ctx_new(&cfg, &tls_client, err, sizeof(err)) != 0)
        BAIL_OUT("TLS context: %s", err);
#else
    const char *args[] = {"--cores", "2", NULL};
#endif

    plan(3);
    /* The stats line is logged at exit: each try runs its own broker. */
    while (tries < TRIES && paused == 0) {
        int st;

        itest_start(&b, args);
        tries++;
        good += run(&b, tries);
        st = broker_proc_signal_wait(&b, SIGTERM, 20000);
        clean += st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
        paused = broker_proc_log_count(&b, "rx_pauses=") - broker_proc_log_count(&b, "rx_pauses=0 ");
        broker_proc_stop(&b);
    }
    ok(good == tries, "PONGs in PING order, each after its subscription is in force on the other core (%u of %u runs)", good,
       tries);
    ok(paused > 0, "the broker stopped reading a connection holding BROKER_PONGS_MAX PONGs (in %u runs)", tries);
    ok(clean == tries, "the broker exits 0 on SIGTERM (%u of %u runs)", clean, tries);
#ifdef PONG_ORDER_TLS
    tls_ctx_free(tls_client);
    certs_remove();
#endif
    return done_testing();
}
