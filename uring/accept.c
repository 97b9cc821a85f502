/*
 * Listeners: one SO_REUSEPORT socket per core with a multishot accept armed on it. Accepted
 * sockets are plain descriptors, not direct (fixed) ones: TLS needs real fds (OpenSSL's socket
 * BIO and the kTLS setsockopt calls), and so do getsockopt/SO_INCOMING_CPU and closing from any
 * path; a fixed-file table would also have to be sized for max connections per core up front.
 *
 * A multishot accept ends (CQE without F_MORE) on errors such as EMFILE; it is armed again at
 * once after a success, or after URING_ACCEPT_RETRY_NS after an error so a persistent error does
 * not spin the loop.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uring/internal.h"

#define URING_ACCEPT_RETRY_NS (10 * 1000 * 1000ULL)

#define LST_ARMED   (1U << 0)
#define LST_CLOSING (1U << 1)
#define LST_CLOSED  (1U << 2)

int uring_listen_tcp(const char *host, unsigned port, int backlog)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char service[16];
    int fd, one = 1, ret;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    snprintf(service, sizeof(service), "%u", port);
    ret = getaddrinfo(host, service, &hints, &ai);
    if (ret != 0)
        return -EINVAL;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        ret = -errno;
        goto out_free_ai;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 || bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
        listen(fd, backlog) == -1) {
        ret = -errno;
        goto out_close;
    }
    freeaddrinfo(ai);
    return fd;

out_close:
    close(fd);
out_free_ai:
    freeaddrinfo(ai);
    return ret;
}

static void accept_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags);
static void retry_done(struct uring_timer *t, int res);

static int arm_accept(struct uring_listener *l)
{
    struct io_uring_sqe *sqe;

    URING_ASSERT(!(l->_state & LST_ARMED));
    if (l->loop->_closing)
        return -ECANCELED;
    sqe = uring_loop_sqe(l->loop, &l->_accept_op);
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
    l->_state |= LST_ARMED;
    return 0;
}

static void finish(struct uring_listener *l)
{
    if (l->_state & LST_ARMED || uring_timer_is_armed(&l->_retry))
        return;
    close(l->fd);
    l->fd = -1;
    l->_state = LST_CLOSED;
    if (l->_cbs->on_close != NULL)
        l->_cbs->on_close(l);
}

/* Something went wrong arming: try again later, or close if the loop is going away. */
static void retry_later(struct uring_listener *l, uint64_t ns)
{
    if (uring_timer_start(l->loop, &l->_retry, ns, retry_done) != 0) {
        l->_state |= LST_CLOSING;
        finish(l);
    }
}

static void retry_done(struct uring_timer *t, int res)
{
    struct uring_listener *l = t->data;

    if (l->_state & LST_CLOSING) {
        finish(l);
        return;
    }
    if (res == 0 && arm_accept(l) == 0)
        return;
    retry_later(l, URING_ACCEPT_RETRY_NS);
}

static void accept_done(struct uring_loop *loop, struct uring_op *op, int res, unsigned flags)
{
    struct uring_listener *l = (struct uring_listener *)(void *)((char *)op - offsetof(struct uring_listener, _accept_op));

    URING_ASSERT(l->_state & LST_ARMED);
    if (!(flags & IORING_CQE_F_MORE))
        l->_state &= ~LST_ARMED;
    if (res < 0 && res != -ECANCELED)
        URING_STAT_ADD(loop, accept_errors, 1);
    if (res >= 0) {
        URING_STAT_ADD(loop, accepts, 1);
        if (l->_state & LST_CLOSING || loop->_closing)
            close(res);
        else
            l->_cbs->on_accept(l, res);
    }
    if (l->_state & LST_ARMED)
        return;
    if (l->_state & LST_CLOSING || loop->_closing) {
        l->_state |= LST_CLOSING;
        finish(l);
    } else if (res < 0 || arm_accept(l) != 0) {
        retry_later(l, URING_ACCEPT_RETRY_NS);
    }
}

int uring_listener_start(struct uring_listener *l, struct uring_loop *loop, int fd, const struct uring_listener_cbs *cbs)
{
    int ret;

    URING_ASSERT(cbs->on_accept != NULL);
    if (fd < 0)
        return -EBADF; /* lets a caller pass uring_listen_tcp()'s result straight in */
    l->fd = fd;
    l->loop = loop;
    l->_cbs = cbs;
    l->_state = 0;
    l->_accept_op.cb = accept_done;
    memset(&l->_retry, 0, sizeof(l->_retry));
    l->_retry.data = l;
    ret = arm_accept(l);
    if (ret != 0)
        l->fd = -1;
    return ret;
}

void uring_listener_close(struct uring_listener *l)
{
    struct io_uring_sqe *sqe;

    URING_ASSERT(!(l->_state & LST_CLOSED));
    if (l->_state & LST_CLOSING)
        return;
    l->_state |= LST_CLOSING;
    if (l->_state & LST_ARMED) {
        sqe = uring_loop_sqe(l->loop, NULL);
        if (sqe != NULL)
            io_uring_prep_cancel(sqe, &l->_accept_op, 0);
        else
            shutdown(l->fd, SHUT_RDWR);
    }
    if (uring_timer_is_armed(&l->_retry))
        uring_timer_cancel(&l->_retry);
    else if (!(l->_state & LST_ARMED))
        retry_later(l, 0); /* on_close comes from the loop, never from inside this call */
}
