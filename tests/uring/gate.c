/* Foreign sends through a connection's gate. A loop owns a connection on a Unix socketpair with a
 * small send buffer; a second thread (the "foreign core") sends records straight to its socket
 * with uring_gate_send() while the loop writes records of its own. The peer checks that every
 * record arrives whole (no interleaving inside one), that each source's records arrive in order
 * with none missing, that short foreign sends happened and their rests went first, and that the
 * gate refuses a closed connection and an old generation. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "tests/uring/helpers.h"

#define REC_MAX    6000
#define TICK_NS    (100 * 1000)
#define RUN_RECS   4000 /* records per source */
#define SRC_OWNER  1
#define SRC_FOREIN 2

struct gt {
    struct th_pair p;
    struct uring_gate gate;
    atomic_int rest_pending; /* the foreign side left a rest: the owner must poll */
    atomic_int foreign_done;
    atomic_uint owner_sent, foreign_sent;
    unsigned foreign_busy, foreign_full, foreign_rests;
    unsigned owner_seq;
    int owner_err;
    bool closing;
    /* peer */
    unsigned got[3];
    unsigned bad;
    size_t got_bytes;
};

/* Record: u32 length (whole record), u8 source, u32 seq, then bytes th_pattern(seq + i). Sizes
 * vary from 16 bytes to REC_MAX so some foreign sends are short. */
static size_t rec_make(unsigned char *buf, unsigned src, unsigned seq)
{
    size_t len = 16 + (size_t)(seq * 2654435761u % (REC_MAX - 16));

    memcpy(buf, &(uint32_t){(uint32_t)len}, 4);
    buf[4] = (unsigned char)src;
    memcpy(buf + 5, &(uint32_t){seq}, 4);
    for (size_t i = 9; i < len; i++)
        buf[i] = th_pattern(seq + i);
    return len;
}

static void tick(struct uring_timer *t, int res)
{
    struct gt *g = t->data;
    unsigned char buf[REC_MAX];

    (void)res;
    if (atomic_exchange(&g->rest_pending, 0))
        uring_conn_gate_poll(&g->p.conn);
    for (int n = 0; n < 4 && g->owner_seq < RUN_RECS; n++) {
        size_t len = rec_make(buf, SRC_OWNER, g->owner_seq);
        int ret = uring_conn_write(&g->p.conn, buf, len);

        if (ret == -ENOBUFS)
            break; /* the peer is behind: try again next tick */
        if (ret != 0) {
            g->owner_err = ret;
            break;
        }
        g->owner_seq++;
        atomic_fetch_add(&g->owner_sent, 1);
    }
    if (g->owner_seq == RUN_RECS && atomic_load(&g->foreign_done) && !g->closing) {
        if (atomic_exchange(&g->rest_pending, 0))
            uring_conn_gate_poll(&g->p.conn);
        g->closing = true;
        uring_conn_close(&g->p.conn, URING_CLOSE_FLUSH);
        return;
    }
    uring_timer_start(&g->p.loop, t, TICK_NS, tick);
}

static void *foreign(void *arg)
{
    struct gt *g = arg;
    unsigned char buf[REC_MAX];
    unsigned seq = 0;

    while (seq < RUN_RECS) {
        size_t len = rec_make(buf, SRC_FOREIN, seq);
        struct iovec iov[2] = {{buf, 9}, {buf + 9, len - 9}};
        int ret = uring_gate_send(&g->gate, 7, iov, 2);

        if (ret == URING_GATE_SENT || ret == URING_GATE_REST) {
            seq++;
            atomic_fetch_add(&g->foreign_sent, 1);
            if (ret == URING_GATE_REST) {
                g->foreign_rests++;
                atomic_store(&g->rest_pending, 1);
            }
        } else if (ret == -EBUSY) {
            g->foreign_busy++;
            usleep(50);
        } else if (ret == -EAGAIN) {
            g->foreign_full++;
            usleep(50);
        } else {
            diag("foreign send: %s", strerror(-ret));
            break;
        }
    }
    atomic_store(&g->foreign_done, 1);
    return NULL;
}

static void *peer(void *arg)
{
    struct gt *g = arg;
    unsigned char buf[REC_MAX];

    for (;;) {
        uint32_t len, seq;
        unsigned src;

        if (th_read_all(g->p.peer, buf, 9) != 0)
            break;
        memcpy(&len, buf, 4);
        src = buf[4];
        memcpy(&seq, buf + 5, 4);
        if (len < 16 || len > REC_MAX || (src != SRC_OWNER && src != SRC_FOREIN) || th_read_all(g->p.peer, buf + 9, len - 9) != 0) {
            g->bad++;
            break;
        }
        for (size_t i = 9; i < len; i++)
            if (buf[i] != th_pattern(seq + i)) {
                g->bad++;
                break;
            }
        if (seq != g->got[src])
            g->bad++;
        g->got[src] = seq + 1;
        g->got_bytes += len;
    }
    return NULL;
}

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 64, .buf_size = 4096};
    struct gt *g = calloc(1, sizeof(*g));
    struct iovec iov = {"x", 1};
    pthread_t ft, pt;

    plan(13);
    th_pair_start(&g->p, &o, 4608, 256 * 1024, TICK_NS, tick, g);
    ok(uring_gate_send(&g->gate, 7, &iov, 1) == -EBUSY, "a zeroed gate is closed");
    uring_conn_gate_open(&g->p.conn, &g->gate, 7);
    ok(uring_gate_send(&g->gate, 6, &iov, 1) == -EBUSY, "another generation is refused");
    ok(uring_conn_write(&g->p.conn, "", 0) == 0 && (atomic_load(&g->gate._word) & 0xff) == 1,
       "an empty write leaves the gate idle (it would never drain)");
    if (pthread_create(&pt, NULL, peer, g) != 0 || pthread_create(&ft, NULL, foreign, g) != 0)
        BAIL_OUT("pthread_create");
    ok(uring_loop_run(&g->p.loop) == 0, "loop ran until the connection closed");
    pthread_join(ft, NULL);
    pthread_join(pt, NULL);
    diag("foreign: %u sent, %u busy, %u socket full, %u short; owner loop: %llu gate waits, %llu rests",
         atomic_load(&g->foreign_sent), g->foreign_busy, g->foreign_full, g->foreign_rests,
         (unsigned long long)g->p.loop.stats.gate_waits, (unsigned long long)g->p.loop.stats.gate_rests);
    ok(g->owner_err == 0 && g->p.closed_err == 0, "no write or close error (%d, %d)", g->owner_err, g->p.closed_err);
    ok(g->bad == 0, "every record whole and in order per source");
    ok(g->got[SRC_OWNER] == RUN_RECS, "every owner record arrived (%u)", g->got[SRC_OWNER]);
    ok(g->got[SRC_FOREIN] == RUN_RECS, "every foreign record arrived (%u)", g->got[SRC_FOREIN]);
    ok(g->foreign_rests > 0 && g->p.loop.stats.gate_rests == g->foreign_rests,
       "short foreign sends happened and the owner sent each rest (%u)", g->foreign_rests);
    ok(g->foreign_busy > 0, "the owner's output kept foreign senders out while it had any");
    ok(uring_gate_send(&g->gate, 7, &iov, 1) == -EBUSY, "a closed connection's gate is refused");
    ok((atomic_load(&g->gate._word) & 0xff) == 0 && g->gate._rest == NULL, "the gate is closed and holds nothing");
    ok(uring_conn_write(&g->p.conn, "x", 1) == -EPIPE, "a closed connection refuses writes");
    close(g->p.peer);
    uring_loop_destroy(&g->p.loop);
    free(g);
    return done_testing();
}
