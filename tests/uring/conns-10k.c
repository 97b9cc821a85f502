/* 10,000 connections opened (in waves), each sending a byte, then closed by the client: the loop
 * accepts and closes every one, and afterwards no descriptor, buffer or op is left behind. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "tests/uring/helpers.h"

#define TOTAL   10000
#define WAVE    1000
#define POLL_NS (2 * 1000 * 1000)

struct srv {
    struct uring_loop loop;
    struct uring_listener lst;
    struct uring_timer poll;
    atomic_int accepted;
    atomic_int closed;
    atomic_int ready;
    atomic_int quit;
    int start_errors;
    unsigned port;
};

static void c_recv(struct uring_conn *c, void *data, size_t len, unsigned bid)
{
    uring_buf_put(c->loop, bid);
}

static void c_close(struct uring_conn *c, int err)
{
    struct srv *s = c->data;

    /* Free first: glibc may briefly open /proc/sys/vm/overcommit_memory while shrinking this
     * thread's heap, which the main thread must not count as a leak once `closed` is final. */
    free(c);
    atomic_fetch_add(&s->closed, 1);
}

static const struct uring_conn_cbs c_cbs = {.on_recv = c_recv, .on_close = c_close};

static void on_accept(struct uring_listener *l, int fd)
{
    struct srv *s = l->data;
    struct uring_conn *c = calloc(1, sizeof(*c)); /* recv_oneshot false */

    atomic_fetch_add(&s->accepted, 1);
    if (c == NULL || uring_conn_start(c, l->loop, fd, &c_cbs, 4096) != 0) {
        s->start_errors++;
        free(c);
        close(fd);
        return;
    }
    c->data = s;
}

static void on_lst_close(struct uring_listener *l)
{
    struct srv *s = l->data;

    uring_loop_stop(&s->loop);
}

static const struct uring_listener_cbs lst_cbs = {.on_accept = on_accept, .on_close = on_lst_close};

/* The main thread cannot touch the loop: the loop looks at `quit` on a timer. */
static void poll_quit(struct uring_timer *t, int res)
{
    struct srv *s = t->data;

    if (res == 0 && atomic_load(&s->quit))
        uring_listener_close(&s->lst);
    else if (res == 0)
        uring_timer_start(&s->loop, t, POLL_NS, poll_quit);
}

static void *server(void *arg)
{
    struct uring_loop_opts o = {.buf_count = 64, .buf_size = 512};
    struct srv *s = arg;
    int fd;

    if (uring_loop_init(&s->loop, &o) != 0)
        BAIL_OUT("loop init");
    fd = uring_listen_tcp("127.0.0.1", 0, 4096);
    if (fd < 0)
        BAIL_OUT("listen");
    s->port = th_port_of(fd);
    s->lst.data = s;
    s->poll.data = s;
    if (uring_listener_start(&s->lst, &s->loop, fd, &lst_cbs) != 0 ||
        uring_timer_start(&s->loop, &s->poll, POLL_NS, poll_quit) != 0)
        BAIL_OUT("listener or timer start");
    atomic_store(&s->ready, 1);
    if (uring_loop_run(&s->loop) != 0)
        BAIL_OUT("loop run");
    atomic_store(&s->ready, 2);
    return NULL;
}

static void wait_for(atomic_int *v, int want)
{
    while (atomic_load(v) < want)
        usleep(1000);
}

int main(void)
{
    static struct srv s;
    static int fds[WAVE];
    struct rlimit rl = {.rlim_cur = 4 * WAVE + 256, .rlim_max = 4 * WAVE + 256};
    struct rlimit cur;
    int base, running, connect_errors = 0;
    pthread_t th;

    th_require_t0();
    getrlimit(RLIMIT_NOFILE, &cur);
    if (cur.rlim_cur < rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &rl) != 0)
        diag("could not raise RLIMIT_NOFILE; waves of %d fit anyway", WAVE);
    base = th_count_fds();
    pthread_create(&th, NULL, server, &s);
    wait_for(&s.ready, 1);
    running = th_count_fds();
    for (int done = 0; done < TOTAL; done += WAVE) {
        for (int i = 0; i < WAVE; i++) {
            fds[i] = th_connect(s.port);
            if (fds[i] < 0 || write(fds[i], "x", 1) != 1)
                connect_errors++;
        }
        wait_for(&s.accepted, done + WAVE - connect_errors);
        for (int i = 0; i < WAVE; i++)
            if (fds[i] >= 0)
                close(fds[i]);
    }
    ok_eq(connect_errors, 0, "every client connected and wrote");
    wait_for(&s.closed, atomic_load(&s.accepted));
    ok_eq(atomic_load(&s.accepted), TOTAL, "the loop accepted every connection");
    ok_eq(atomic_load(&s.closed), TOTAL, "the loop closed every connection");
    ok_eq(s.start_errors, 0, "every connection started");
    ok_eq(th_count_fds(), running, "no descriptor left while the loop runs");
    if (th_count_fds() != running)
        th_list_fds();
    atomic_store(&s.quit, 1);
    pthread_join(th, NULL);
    ok_eq(uring_loop_bufs_out(&s.loop), 0, "every buffer back");
    ok_eq(uring_loop_inflight(&s.loop), 0, "nothing in flight once stopped");
    uring_loop_destroy(&s.loop);
    ok_eq(th_count_fds(), base, "no descriptor left after destroy");
    return done_testing();
}
