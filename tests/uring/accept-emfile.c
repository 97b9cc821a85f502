/* Out of descriptors: the multishot accept ends with EMFILE (no F_MORE), the listener re-arms it
 * after a pause (again and again while the error lasts) and accepts the waiting connection once
 * descriptors are available again. */
#include <sys/resource.h>

#include "tests/uring/helpers.h"

static int accepted = -1;

static void on_accept(struct uring_listener *l, int fd)
{
    accepted = fd;
}

static const struct uring_listener_cbs lst_cbs = {.on_accept = on_accept};

int main(void)
{
    struct uring_loop_opts o = {.buf_count = 8, .buf_size = 256};
    struct sockaddr_in sa = {0};
    struct uring_listener lst = {0};
    struct uring_loop loop;
    struct rlimit saved, low;
    int cfd;

    th_require_t0();
    if (uring_loop_init(&loop, &o) != 0)
        BAIL_OUT("loop init");
    ok_eq(uring_listener_start(&lst, &loop, uring_listen_tcp("127.0.0.1", 0, 4), &lst_cbs), 0, "listener start");
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)th_port_of(lst.fd));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cfd == -1 || getrlimit(RLIMIT_NOFILE, &saved) != 0)
        BAIL_OUT("setup");
    /* No descriptor above the highest one open: the accept cannot install the new socket. */
    low = saved;
    low.rlim_cur = (rlim_t)cfd + 1;
    if (setrlimit(RLIMIT_NOFILE, &low) != 0)
        BAIL_OUT("setrlimit");
    if (connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        BAIL_OUT("connect");
    while (loop.stats.accept_errors < 3 && accepted < 0)
        if (uring_loop_run_once(&loop, true) < 0)
            BAIL_OUT("run_once");
    ok(loop.stats.accept_errors >= 3, "accept failed and was re-armed while out of descriptors");
    ok_eq(accepted, -1, "nothing accepted meanwhile");
    setrlimit(RLIMIT_NOFILE, &saved);
    while (accepted < 0)
        if (uring_loop_run_once(&loop, true) < 0)
            BAIL_OUT("run_once");
    ok(accepted >= 0, "the waiting connection was accepted once descriptors were back");
    ok_eq(write(cfd, "x", 1), 1, "and it works");
    close(accepted);
    close(cfd);
    uring_listener_close(&lst);
    uring_loop_destroy(&loop);
    ok_eq(uring_loop_inflight(&loop), 0, "nothing in flight after destroy");
    return done_testing();
}
