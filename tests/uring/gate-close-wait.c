/* Closing a connection whose gate a preempted foreign sender holds (issue 15). A thread takes the
 * gates of connections A and C as uring_gate_send() does and keeps them; the owner writes a record
 * to each and closes A flushing, C at once. Neither finishes while its sender may still use the fd
 * (no end of file at the peers, no on_close), the loop goes on serving connection B, and once the
 * thread lets the gates go with a rest each: A's peer gets the rest, the record, then end of file;
 * C's peer gets end of file alone (what was queued, the rest included, is dropped and freed). */
#include "tests/uring/gate-sim.h"

#define GEN 9

enum { CONN_A, CONN_B, CONN_C, CONNS };

struct gc {
    struct uring_loop loop;
    struct uring_conn conn[CONNS];
    struct uring_gate gate[CONNS];
    int peer[CONNS];
    atomic_int wrote;
    atomic_int closed;
    int close_err[CONNS], close_calls[CONNS];
    /* peer thread */
    bool served, quiet_a, quiet_c, open_a, a_got, c_got;
};

#define RECORD "[the owner's record]"

static int index_of(struct uring_conn *c)
{
    struct gc *g = c->data;

    return (int)(c - g->conn);
}

static void on_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    struct gc *g = c->data;
    int i = index_of(c);

    if (i == CONN_B) {
        uring_conn_write(c, data, len);
    } else {
        uring_conn_write(c, RECORD, strlen(RECORD));
        uring_conn_close(c, i == CONN_A ? URING_CLOSE_FLUSH : URING_CLOSE_NOW);
        atomic_fetch_add(&g->wrote, 1);
    }
    uring_buf_put(c->loop, bid);
}

static void on_close(struct uring_conn *c, int err)
{
    struct gc *g = c->data;
    int i = index_of(c);

    g->close_err[i] = err;
    g->close_calls[i]++;
    if (atomic_fetch_add(&g->closed, 1) + 1 == CONNS)
        uring_loop_stop(c->loop);
}

static void *peer(void *arg)
{
    struct gc *g = arg;
    char got[128];
    ssize_t n;

    th_gate_take(&g->gate[CONN_A], GEN);
    th_gate_take(&g->gate[CONN_C], GEN);
    th_write_all(g->peer[CONN_A], "w", 1);
    th_write_all(g->peer[CONN_C], "w", 1);
    th_wait_for(&g->wrote, 2);
    g->served = th_write_all(g->peer[CONN_B], "ping", 4) == 0 && th_read_all(g->peer[CONN_B], got, 4) == 0;
    g->quiet_a = th_peer_quiet(g->peer[CONN_A]);
    g->quiet_c = th_peer_quiet(g->peer[CONN_C]);
    g->open_a = atomic_load(&g->closed) == 0;
    th_gate_release(&g->gate[CONN_A], GEN, "<rest A>");
    th_gate_release(&g->gate[CONN_C], GEN, "<rest C>");
    n = th_read_to_eof(g->peer[CONN_A], got, sizeof(got));
    g->a_got = n == (ssize_t)strlen("<rest A>" RECORD) && memcmp(got, "<rest A>" RECORD, (size_t)n) == 0;
    g->c_got = th_read_to_eof(g->peer[CONN_C], got, sizeof(got)) == 0;
    for (int i = 0; i < CONNS; i++)
        close(g->peer[i]);
    return NULL;
}

int main(void)
{
    static const struct uring_conn_cbs cbs = {.on_recv = on_recv, .on_close = on_close};
    struct gc *g = calloc(1, sizeof(*g));
    pthread_t pt;

    plan(11);
    if (g == NULL)
        BAIL_OUT("calloc");
    th_gate_loop_init(&g->loop);
    for (int i = 0; i < CONNS; i++)
        g->peer[i] = th_conn_socketpair(&g->loop, &g->conn[i], &cbs, g);
    uring_conn_gate_open(&g->conn[CONN_A], &g->gate[CONN_A], GEN);
    uring_conn_gate_open(&g->conn[CONN_C], &g->gate[CONN_C], GEN);
    if (pthread_create(&pt, NULL, peer, g) != 0)
        BAIL_OUT("pthread_create");
    ok(uring_loop_run(&g->loop) == 0, "the loop ran until every connection closed");
    pthread_join(pt, NULL);
    ok(g->served, "the loop served B while A and C waited for their gates");
    ok(g->quiet_a && g->quiet_c, "neither A nor C sent or closed its fd while a sender held its gate");
    ok(g->open_a, "no on_close while a sender held the gate");
    ok(g->a_got, "A (closed flushing) sent the rest, then its record, then end of file");
    ok(g->c_got, "C (closed at once) sent nothing and ended");
    ok(g->close_calls[CONN_A] == 1 && g->close_calls[CONN_C] == 1, "on_close once each");
    ok(g->close_err[CONN_A] == 0 && g->close_err[CONN_C] == 0, "no error (%d, %d)", g->close_err[CONN_A], g->close_err[CONN_C]);
    ok_eq(g->loop.stats.gate_defers, 2, "both closes deferred to the loop");
    ok(th_gate_state(&g->gate[CONN_A]) == GATE_CLOSED && th_gate_state(&g->gate[CONN_C]) == GATE_CLOSED &&
           g->gate[CONN_A]._rest == NULL && g->gate[CONN_C]._rest == NULL,
       "both gates closed, holding nothing");
    ok(ulist_empty(&g->loop._gate_wait), "no connection left on the loop's wait list");
    uring_loop_destroy(&g->loop);
    free(g);
    return done_testing();
}
