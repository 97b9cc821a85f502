/* A consumer that pauses receiving after every chunk of the stream and resumes from a timer:
 * every byte arrives intact and in order, what arrives while paused (bytes already received
 * when the pause came) stays within the buffer ring, and a resume that comes before the pause's
 * cancel has completed (a timer of 0 ns) loses nothing either. Runs with multishot and
 * single-shot recv, and without DEFER_TASKRUN. */
#include <pthread.h>
#include <stdlib.h>

#include "tests/uring/helpers.h"

#define NBUFS     16
#define BUF_SIZE  4096
#define TOTAL     (4 * 1024 * 1024)
#define CHUNK     (256 * 1024) /* bytes between pauses */
#define RESUME_NS (200 * 1000)

struct ex {
    struct uring_loop loop;
    struct uring_listener lst;
    struct uring_conn conn;
    struct uring_timer resume;
    unsigned held[NBUFS];
    unsigned nheld;
    size_t got, bad, since_pause;
    unsigned pauses, quick_resumes, during_pause, most_during_pause;
    int closed_err;
};

/* Buffers that came while paused are kept until the resume, as a paused consumer would. */
static void do_resume(struct uring_timer *t, int res)
{
    struct ex *e = t->data;

    if (res != 0)
        return;
    for (unsigned i = 0; i < e->nheld; i++)
        uring_buf_put(&e->loop, e->held[i]);
    e->nheld = 0;
    if (e->during_pause > e->most_during_pause)
        e->most_during_pause = e->during_pause;
    e->during_pause = 0;
    if (uring_conn_recv_resume(&e->conn) != 0)
        BAIL_OUT("resume");
}

static void ex_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    struct ex *e = c->data;
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++)
        if (p[i] != th_pattern(e->got + i))
            e->bad++;
    e->got += len;
    if (uring_conn_recv_paused(c)) {
        if (e->nheld >= NBUFS)
            BAIL_OUT("more buffers held than the ring has");
        e->held[e->nheld++] = bid;
        e->during_pause++;
        return;
    }
    uring_buf_put(&e->loop, bid);
    e->since_pause += len;
    if (e->since_pause < CHUNK)
        return;
    e->since_pause = 0;
    e->pauses++;
    uring_conn_recv_pause(c);
    if (!uring_conn_recv_paused(c))
        BAIL_OUT("not paused");
    /* Every other pause is lifted at once: the cancel is still on its way. */
    if (e->pauses % 2 == 0)
        e->quick_resumes++;
    if (uring_timer_start(&e->loop, &e->resume, e->pauses % 2 == 0 ? 0 : RESUME_NS, do_resume) != 0)
        BAIL_OUT("timer start");
}

static void ex_close(struct uring_conn *c, int err)
{
    struct ex *e = c->data;

    e->closed_err = err;
    if (uring_timer_is_armed(&e->resume))
        uring_timer_cancel(&e->resume);
    for (unsigned i = 0; i < e->nheld; i++)
        uring_buf_put(&e->loop, e->held[i]);
    e->nheld = 0;
    uring_listener_close(&e->lst);
}

static const struct uring_conn_cbs ex_cbs = {.on_recv = ex_recv, .on_close = ex_close};

static void on_accept(struct uring_listener *l, int fd)
{
    struct ex *e = l->data;

    e->conn.data = e;
    if (uring_conn_start(&e->conn, l->loop, fd, &ex_cbs, 0) != 0)
        BAIL_OUT("uring_conn_start");
}

static void on_lst_close(struct uring_listener *l)
{
    struct ex *e = l->data;

    uring_loop_stop(&e->loop);
}

static const struct uring_listener_cbs lst_cbs = {.on_accept = on_accept, .on_close = on_lst_close};

static void run(unsigned flags, const char *mode)
{
    struct uring_loop_opts o = {.buf_count = NBUFS, .buf_size = BUF_SIZE, .flags = flags};
    static struct ex e;
    struct th_pattern_stream ps = {.total = TOTAL};
    pthread_t th;

    memset(&e, 0, sizeof(e));
    if (uring_loop_init(&e.loop, &o) != 0)
        BAIL_OUT("loop init");
    e.resume.data = &e;
    e.lst.data = &e;
    if (uring_listener_start(&e.lst, &e.loop, uring_listen_tcp("127.0.0.1", 0, 4), &lst_cbs) != 0)
        BAIL_OUT("listener");
    ps.port = th_port_of(e.lst.fd);
    pthread_create(&th, NULL, th_pattern_sender, &ps);
    ok_eq(uring_loop_run(&e.loop), 0, "%s: loop ran until stopped", mode);
    pthread_join(th, NULL);
    ok_eq(e.got, TOTAL, "%s: every byte arrived", mode);
    ok_eq(e.bad, 0, "%s: every byte intact and in order", mode);
    /* What arrives while paused does not count towards the next pause. */
    ok(e.pauses >= TOTAL / (CHUNK + NBUFS * BUF_SIZE) - 1, "%s: paused %u times, %u of them lifted at once", mode, e.pauses,
       e.quick_resumes);
    ok(e.most_during_pause <= NBUFS, "%s: at most %u buffers arrived during one pause (ring: %d)", mode, e.most_during_pause,
       NBUFS);
    ok_eq(e.closed_err, 0, "%s: orderly close at EOF", mode);
    ok_eq(uring_loop_bufs_out(&e.loop), 0, "%s: every buffer back", mode);
    uring_loop_destroy(&e.loop);
}

int main(void)
{
    struct uring_features f = th_require_t0();

    if (f.multishot_recv)
        run(0, "multishot");
    run(URING_LOOP_SINGLESHOT_RECV, "single-shot");
    run(URING_LOOP_NO_DEFER, "no DEFER_TASKRUN");
    return done_testing();
}
