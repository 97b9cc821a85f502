/* uring_conn_gate_close() switches a connection's gate off for good (issue 15: a connection whose
 * bytes pass through a user-space layer must never be written by another thread). Driven from
 * one thread, iteration by iteration: after the close, foreign sends are refused and the owner's
 * writes still go; a second close changes nothing; a later open does nothing; a connection that
 * never had a gate takes the call harmlessly; a close while the owner holds the gate closes it at
 * once; a close while a (simulated) foreign sender is inside waits for it, then sends its rest
 * before the owner's output and closes the gate. */
#include "tests/uring/gate-sim.h"

enum { CONN_A, CONN_B, CONN_D, CONN_E, CONNS };

struct go {
    struct uring_loop loop;
    struct uring_conn conn[CONNS];
    struct uring_gate gate[CONNS];
    int peer[CONNS];
    int closed;
};

static void on_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    (void)data;
    (void)len;
    uring_buf_put(c->loop, bid);
}

static void on_close(struct uring_conn *c, int err)
{
    struct go *g = c->data;

    (void)err;
    g->closed++;
}

/* Two iterations without waiting: sends go out (a Unix socket takes them at submit) and complete. */
static void pump(struct go *g)
{
    uring_loop_run_once(&g->loop, false);
    uring_loop_run_once(&g->loop, false);
}

static int foreign(struct go *g, int i, uint32_t gen, const char *s)
{
    struct iovec iov = {(void *)s, strlen(s)};

    return uring_gate_send(&g->gate[i], gen, &iov, 1);
}

/* Whether the peer of connection i has exactly s waiting (a Unix socket holds what a send took at
 * submit, so nothing is still on its way), and reads it. */
static bool peer_got(struct go *g, int i, const char *s)
{
    char buf[64];
    ssize_t n = recv(g->peer[i], buf, sizeof(buf), MSG_DONTWAIT);

    return n == (ssize_t)strlen(s) && memcmp(buf, s, (size_t)n) == 0;
}

int main(void)
{
    static const struct uring_conn_cbs cbs = {.on_recv = on_recv, .on_close = on_close};
    struct go *g = calloc(1, sizeof(*g));

    plan(17);
    if (g == NULL)
        BAIL_OUT("calloc");
    th_gate_loop_init(&g->loop);
    for (int i = 0; i < CONNS; i++)
        g->peer[i] = th_conn_socketpair(&g->loop, &g->conn[i], &cbs, g);

    /* A: open, used, closed, closed again, opened again. */
    uring_conn_gate_open(&g->conn[CONN_A], &g->gate[CONN_A], 7);
    ok(foreign(g, CONN_A, 7, "f1") == URING_GATE_SENT && peer_got(g, CONN_A, "f1"), "an open gate takes a foreign send");
    uring_conn_gate_close(&g->conn[CONN_A]);
    ok(th_gate_state(&g->gate[CONN_A]) == GATE_CLOSED, "uring_conn_gate_close closes the gate");
    ok(foreign(g, CONN_A, 7, "f2") == -EBUSY, "a foreign send is refused after it");
    ok(uring_conn_write(&g->conn[CONN_A], "o1", 2) == 0, "the owner still writes");
    pump(g);
    ok(peer_got(g, CONN_A, "o1"), "and its bytes go out");
    ok(th_gate_state(&g->gate[CONN_A]) == GATE_CLOSED, "without the owner taking the gate again");
    uring_conn_gate_close(&g->conn[CONN_A]);
    ok(th_gate_state(&g->gate[CONN_A]) == GATE_CLOSED && foreign(g, CONN_A, 7, "f3") == -EBUSY, "a second close changes nothing");
    uring_conn_gate_open(&g->conn[CONN_A], &g->gate[CONN_A], 8);
    ok(th_gate_state(&g->gate[CONN_A]) == GATE_CLOSED && foreign(g, CONN_A, 8, "f4") == -EBUSY, "a later open does nothing");

    /* B: never had a gate. */
    uring_conn_gate_close(&g->conn[CONN_B]);
    ok(uring_conn_write(&g->conn[CONN_B], "b1", 2) == 0, "a connection without a gate takes the close harmlessly");
    pump(g);
    ok(peer_got(g, CONN_B, "b1"), "and sends as before");

    /* E: the owner holds the gate (output queued, not yet sent) when the close comes. */
    uring_conn_gate_open(&g->conn[CONN_E], &g->gate[CONN_E], 5);
    uring_conn_write(&g->conn[CONN_E], "e1", 2);
    uring_conn_gate_close(&g->conn[CONN_E]);
    ok(th_gate_state(&g->gate[CONN_E]) == GATE_CLOSED, "a gate the owner holds closes at once");
    pump(g);
    ok(peer_got(g, CONN_E, "e1"), "the owner's queued output still goes");

    /* D: a foreign sender is inside when the close comes; it leaves a rest. */
    uring_conn_gate_open(&g->conn[CONN_D], &g->gate[CONN_D], 9);
    th_gate_take(&g->gate[CONN_D], 9);
    uring_conn_write(&g->conn[CONN_D], "d1", 2);
    uring_conn_gate_close(&g->conn[CONN_D]);
    pump(g);
    ok(th_peer_quiet(g->peer[CONN_D]) && g->loop.stats.gate_defers == 1, "with a sender inside, the owner's output waits");
    ok(foreign(g, CONN_D, 9, "f5") == -EBUSY, "and no other foreign send gets in");
    th_gate_release(&g->gate[CONN_D], 9, "<rest>");
    pump(g);
    ok(th_gate_state(&g->gate[CONN_D]) == GATE_CLOSED && g->gate[CONN_D]._rest == NULL,
       "once the sender left, the loop closed the gate and took the rest");
    ok(peer_got(g, CONN_D, "<rest>d1"), "the rest went first, then the owner's output");
    uring_conn_write(&g->conn[CONN_D], "d2", 2);
    pump(g);
    ok(peer_got(g, CONN_D, "d2") && foreign(g, CONN_D, 9, "f6") == -EBUSY,
       "later writes go straight out; foreign sends stay refused");

    for (int i = 0; i < CONNS; i++) {
        uring_conn_close(&g->conn[i], URING_CLOSE_FLUSH);
        close(g->peer[i]);
    }
    while (g->closed < CONNS)
        uring_loop_run_once(&g->loop, true);
    uring_loop_destroy(&g->loop);
    free(g);
    return done_testing();
}
