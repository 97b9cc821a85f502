/* A foreign sender preempted inside its sendmsg never blocks the owner's loop (issue 15). A thread
 * takes connection A's gate as uring_gate_send() does and keeps it; then A's peer asks the owner to
 * write three records. The owner queues them (gate_defers), the loop goes on serving connection B
 * (an echo), and nothing of A's reaches its socket while the gate is taken. When the thread lets
 * the gate go, nothing else wakes the loop: it must take the gate back by itself, and A's peer gets
 * the rest of the foreign send first, then the owner's records in order. Round 1 leaves a rest,
 * round 2 none. */
#include "tests/uring/gate-sim.h"

#define GEN    7
#define ROUNDS 2
#define REST   "<rest of a foreign frame>"

struct gd {
    struct uring_loop loop;
    struct uring_conn a, b;
    struct uring_gate gate;
    int a_peer, b_peer;
    atomic_int wrote; /* rounds the owner has written (loop thread) */
    int closed;
    /* loop thread, per round */
    int write_err[ROUNDS + 1];
    uint64_t defers[ROUNDS + 1];
    size_t queued[ROUNDS + 1];
    bool wanted[ROUNDS + 1];
    /* peer thread, per round */
    bool served[ROUNDS + 1], quiet[ROUNDS + 1], in_order[ROUNDS + 1];
};

static size_t record(char *buf, int round, int i)
{
    return (size_t)snprintf(buf, 32, "[round %d record %d]", round, i);
}

/* Round r's bytes as A's peer must see them: the rest (round 1), then the owner's records. */
static size_t expected(char *buf, int round)
{
    size_t n = 0;

    if (round == 1)
        n += (size_t)snprintf(buf, 64, "%s", REST);
    for (int i = 1; i <= 3; i++)
        n += record(buf + n, round, i);
    return n;
}

static void a_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    struct gd *g = c->data;
    int round = atomic_load(&g->wrote) + 1;
    char buf[32];

    (void)data;
    (void)len;
    uring_buf_put(c->loop, bid);
    for (int i = 1; i <= 3; i++) {
        int ret = uring_conn_write(c, buf, record(buf, round, i));

        if (ret != 0)
            g->write_err[round] = ret;
    }
    g->defers[round] = c->loop->stats.gate_defers;
    g->queued[round] = uring_conn_out_queued(c);
    g->wanted[round] = th_gate_wanted(&g->gate);
    atomic_store(&g->wrote, round);
}

static void b_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    uring_conn_write(c, data, len);
    uring_buf_put(c->loop, bid);
}

static void on_close(struct uring_conn *c, int err)
{
    struct gd *g = c->data;

    (void)err;
    if (++g->closed == 2)
        uring_loop_stop(c->loop);
}

static void *peer(void *arg)
{
    struct gd *g = arg;
    char want[128], got[128];

    for (int r = 1; r <= ROUNDS; r++) {
        size_t n = expected(want, r);

        th_gate_take(&g->gate, GEN);
        th_write_all(g->a_peer, "w", 1);
        th_wait_for(&g->wrote, r);
        /* B's echo is sent in a later iteration than A's records would have been. */
        g->served[r] =
            th_write_all(g->b_peer, "ping", 4) == 0 && th_read_all(g->b_peer, got, 4) == 0 && memcmp(got, "ping", 4) == 0;
        g->quiet[r] = th_peer_quiet(g->a_peer);
        th_gate_release(&g->gate, GEN, r == 1 ? REST : NULL);
        if (!g->quiet[r])
            break; /* how much to read is unknown: the checks fail, the test ends */
        g->in_order[r] = th_read_all(g->a_peer, got, n) == 0 && memcmp(got, want, n) == 0;
    }
    close(g->a_peer);
    close(g->b_peer);
    return NULL;
}

int main(void)
{
    static const struct uring_conn_cbs a_cbs = {.on_recv = a_recv, .on_close = on_close};
    static const struct uring_conn_cbs b_cbs = {.on_recv = b_recv, .on_close = on_close};
    struct gd *g = calloc(1, sizeof(*g));
    pthread_t pt;

    plan(4 + 6 * ROUNDS);
    if (g == NULL)
        BAIL_OUT("calloc");
    th_gate_loop_init(&g->loop);
    g->a_peer = th_conn_socketpair(&g->loop, &g->a, &a_cbs, g);
    g->b_peer = th_conn_socketpair(&g->loop, &g->b, &b_cbs, g);
    uring_conn_gate_open(&g->a, &g->gate, GEN);
    if (pthread_create(&pt, NULL, peer, g) != 0)
        BAIL_OUT("pthread_create");
    ok(uring_loop_run(&g->loop) == 0, "the loop ran until both connections closed");
    pthread_join(pt, NULL);
    for (int r = 1; r <= ROUNDS; r++) {
        ok_eq(g->write_err[r], 0, "round %d: the owner's writes were accepted", r);
        ok_eq(g->defers[r], r, "round %d: the owner deferred to the loop once, not per write", r);
        ok(g->queued[r] > 0 && g->wanted[r], "round %d: its output queued (%zu bytes), the gate marked wanted", r, g->queued[r]);
        ok(g->served[r], "round %d: the loop served B meanwhile", r);
        ok(g->quiet[r], "round %d: nothing of A's went out while the sender held the gate", r);
        ok(g->in_order[r], "round %d: once released, A's peer got %s", r,
           r == 1 ? "the rest, then the records, in order" : "the records in order");
    }
    ok_eq(g->loop.stats.gate_rests, 1, "the rest was taken once");
    ok(th_gate_state(&g->gate) == GATE_CLOSED && g->gate._rest == NULL, "the closed connection's gate is closed and holds nothing");
    ok(ulist_empty(&g->loop._gate_wait), "no connection waits for its gate");
    uring_loop_destroy(&g->loop);
    free(g);
    return done_testing();
}
