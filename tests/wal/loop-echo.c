/*
 * A WAL driven by a core's loop while that loop serves sockets (issue 15): one uring_loop with an
 * echo connection and a WAL on the same ring, plugged in as a CQE source (src/wal_source.c). Each
 * received chunk is appended to the log and echoed only once durable (the PUBACK rule), so the two
 * make progress together by construction. Every echoed byte comes back intact, every record reads
 * back as the byte stream (with preads, and with an asynchronous iterator whose reads go through the
 * loop's ring), and no CQE is misrouted (dispatch and the adapter assert on that).
 */
#include <pthread.h>

#include "src/wal_source.h"
#include "tests/uring/helpers.h"
#include "tests/wal/walt.h"

#define CHUNK  4096
#define CHUNKS 64
#define PEND   64 /* more than buf_count: every held buffer fits */

struct pending {
    void *data;
    size_t len;
    unsigned bid;
    uint64_t seq;
    bool appended;
};

struct echo {
    struct uring_loop loop;
    struct uring_listener lst;
    struct uring_conn conn;
    struct wal_source ws;
    struct pending q[PEND]; /* received chunks in order: appended or waiting for a WAL buffer */
    unsigned head, n;
    bool open;
    int closed_err;
    int conns;
    unsigned port;
    int client_ok;
    uint64_t records, acked, ack_errors, eagain, out_of_order, overflow;
    uint64_t acks_while_open; /* WAL completions that arrived while the connection was served */
};

static void on_ack(void *arg, uint64_t seq, int res);

/* Appends the queued chunks not yet in the log, in order, until the WAL's buffers are all busy. */
static void append_queued(struct echo *e)
{
    for (unsigned i = 0; i < e->n; i++) {
        struct pending *p = &e->q[(e->head + i) % PEND];
        int ret;

        if (p->appended)
            continue;
        ret = wal_append(e->ws.w, 1, p->data, (uint32_t)p->len, on_ack, e, &p->seq);
        if (ret == -EAGAIN) {
            e->eagain++;
            return;
        }
        if (ret != 0)
            BAIL_OUT("wal_append: %d", ret);
        p->appended = true;
        e->records++;
    }
}

/* Durable: echo the chunk, give its buffer back. Completions come in sequence order. */
static void on_ack(void *arg, uint64_t seq, int res)
{
    struct echo *e = arg;
    struct pending *p = &e->q[e->head];

    if (res < 0) {
        e->ack_errors++;
        return;
    }
    if (e->n == 0 || !p->appended || p->seq != seq) {
        e->out_of_order++;
        return;
    }
    e->acked++;
    if (e->open) {
        e->acks_while_open++;
        if (uring_conn_write(&e->conn, p->data, p->len) != 0)
            uring_conn_close(&e->conn, URING_CLOSE_NOW);
    }
    uring_buf_put(&e->loop, p->bid);
    e->head = (e->head + 1) % PEND;
    e->n--;
}

static void echo_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    struct echo *e = c->data;

    if (e->n == PEND) {
        e->overflow++;
        uring_buf_put(c->loop, bid);
        uring_conn_close(c, URING_CLOSE_NOW);
        return;
    }
    e->q[(e->head + e->n) % PEND] = (struct pending){.data = data, .len = len, .bid = bid};
    e->n++;
    append_queued(e);
}

/* Loop flush phase, before the WAL source's: retry appends refused while every buffer was busy. */
static void on_flush(struct uring_loop *loop)
{
    struct echo *e = (struct echo *)(void *)loop; /* loop is the first member */

    if (e->ws.w != NULL)
        append_queued(e);
}

static void echo_close(struct uring_conn *c, int err)
{
    struct echo *e = c->data;

    e->open = false;
    e->closed_err = err;
    uring_listener_close(&e->lst);
}

static const struct uring_conn_cbs echo_cbs = {.on_recv = echo_recv, .on_close = echo_close};

static void on_accept(struct uring_listener *l, int fd)
{
    struct echo *e = l->data;

    if (e->conns++ > 0) {
        close(fd);
        return;
    }
    e->conn.data = e;
    e->open = true;
    if (uring_conn_start(&e->conn, l->loop, fd, &echo_cbs, 64 * 1024) != 0)
        BAIL_OUT("uring_conn_start");
}

static void on_lst_close(struct uring_listener *l)
{
    struct echo *e = l->data;

    uring_loop_stop(&e->loop);
}

static const struct uring_listener_cbs lst_cbs = {.on_accept = on_accept, .on_close = on_lst_close};

static void *client(void *arg)
{
    struct echo *e = arg;
    static unsigned char out[CHUNK], in[CHUNK];
    int fd = th_connect(e->port), good = 1;
    size_t off = 0;

    if (fd < 0)
        return NULL;
    for (int i = 0; i < CHUNKS && good; i++) {
        for (size_t j = 0; j < CHUNK; j++)
            out[j] = th_pattern(off + j);
        if (th_write_all(fd, out, CHUNK) != 0 || th_read_all(fd, in, CHUNK) != 0 || memcmp(in, out, CHUNK) != 0)
            good = 0;
        off += CHUNK;
    }
    shutdown(fd, SHUT_WR);
    if (good && read(fd, in, 1) != 0) /* the server closes after our EOF */
        good = 0;
    close(fd);
    e->client_ok = good;
    return NULL;
}

/* Every record, in order, is the next part of the byte stream the client sent: read with preads, or
 * (async) through the loop's ring, the loop running while a read is in flight. */
static void verify_log(struct echo *e, const char *c_name, bool async)
{
    const char *name;
    struct wal_iter *it;
    struct wal_record r;
    size_t off = 0, bad = 0;
    uint64_t n = 0, eagain = 0;
    int ret;

    if ((async ? wal_iter_open_async(e->ws.w, 0, NULL, NULL, &it) : wal_iter_open(e->ws.w, 0, &it)) != 0)
        BAIL_OUT("wal_iter_open");
    while ((ret = wal_iter_next(it, &r)) == 1 || ret == -EAGAIN) {
        const unsigned char *p = r.data;

        if (ret == -EAGAIN) {
            eagain++;
            if (uring_loop_run_once(&e->loop, true) < 0)
                BAIL_OUT("run_once");
            continue;
        }

        for (uint32_t i = 0; i < r.len; i++)
            bad += p[i] != th_pattern(off + i);
        off += r.len;
        n++;
    }
    wal_iter_close(it);
    name = async ? "async" : "pread";
    ok_eq(ret, 0, "%s, %s: the log reads to its durable end", c_name, name);
    ok_eq(n, e->records, "%s, %s: every record read back", c_name, name);
    ok_eq(off, (size_t)CHUNK * CHUNKS, "%s, %s: the records hold the whole stream", c_name, name);
    ok_eq(bad, 0, "%s, %s: every logged byte intact", c_name, name);
    if (async)
        ok(eagain > 0, "%s, async: the reads went through the loop's ring (%llu)", c_name, (unsigned long long)eagain);
}

static void run(const struct walt_conf *c)
{
    struct uring_loop_opts lo = {.buf_count = 16, .buf_size = 2048};
    static struct echo e;
    struct wal_options o;
    struct wal_recovery rec;
    struct wal_stats st;
    char dir[256];
    pthread_t th;
    int fd;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    memset(&e, 0, sizeof(e));
    if (uring_loop_init(&e.loop, &lo) != 0)
        BAIL_OUT("loop init");
    e.loop.on_flush = on_flush;
    o = walt_options(dir, c);
    o.buffer_bytes = 64 << 10;
    o.segment_bytes = 256 << 10; /* a few roll-overs on the way */
    ok_eq(wal_source_open(&e.ws, &e.loop, &o, &rec), 0, "%s: WAL opened on the loop's ring", c->name);
    fd = uring_listen_tcp("127.0.0.1", 0, 16);
    if (fd < 0)
        BAIL_OUT("listen");
    e.port = th_port_of(fd);
    e.lst.data = &e;
    if (uring_listener_start(&e.lst, &e.loop, fd, &lst_cbs) != 0)
        BAIL_OUT("listener start");
    pthread_create(&th, NULL, client, &e);
    ok_eq(uring_loop_run(&e.loop), 0, "%s: loop ran until stopped", c->name);
    pthread_join(th, NULL);
    while (wal_is_busy(e.ws.w)) /* a segment prepared ahead may still be on the ring */
        if (uring_loop_run_once(&e.loop, true) < 0)
            BAIL_OUT("run_once");

    ok(e.client_ok, "%s: every byte echoed in order after it was durable, then EOF", c->name);
    ok_eq(e.closed_err, 0, "%s: orderly close", c->name);
    ok_eq(e.ack_errors, 0, "%s: no append failed", c->name);
    ok_eq(e.out_of_order, 0, "%s: completions in sequence order", c->name);
    ok_eq(e.overflow, 0, "%s: the queue never overflowed", c->name);
    ok_eq(e.acked, e.records, "%s: every record acknowledged", c->name);
    ok_eq(e.acks_while_open, e.records, "%s: all of them while the connection was served", c->name);
    ok_eq(wal_durable_seq(e.ws.w), rec.next_seq + e.records - 1, "%s: durable sequence follows", c->name);
    wal_get_stats(e.ws.w, &st);
    ok(st.batches >= 2, "%s: several batches synced on the shared ring (%llu)", c->name, (unsigned long long)st.batches);
    ok(st.segments_prepared + st.segments_sync >= 1, "%s: rolled over onto a new segment on the way", c->name);
    ok(e.ws.set.cqes >= st.batches, "%s: the WAL's CQEs came through its source (%llu)", c->name,
       (unsigned long long)e.ws.set.cqes);
    verify_log(&e, c->name, false);
    verify_log(&e, c->name, true);
    ok_eq(wal_source_close(&e.ws), 0, "%s: WAL closed", c->name);
    ok_eq(uring_loop_bufs_out(&e.loop), 0, "%s: every buffer back", c->name);
    ok_eq(uring_loop_inflight(&e.loop), 0, "%s: nothing in flight", c->name);
    uring_loop_destroy(&e.loop);
    walt_rmrf(dir);
}

int main(void)
{
    th_require_t0();
    return walt_for_all_configs(run);
}
