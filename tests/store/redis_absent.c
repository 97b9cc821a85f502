/*
 * Redis absent at open: nothing on the port (refused at once), a server that never answers (the
 * command timeout), a port that never completes the TCP handshake (the connect timeout). Each open
 * fails within its timeout with -ENOTCONN or -ETIMEDOUT and one line naming redis://HOST:PORT.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tests/store/redis_proc.h"
#include "tests/store/storet.h"

/* A listening loopback socket with a backlog of backlog; its port in *port. */
static int listener(int backlog, uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd == -1 || bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1 || listen(fd, backlog) == -1 ||
        getsockname(fd, (struct sockaddr *)&a, &len) == -1)
        BAIL_OUT("listener: %s", strerror(errno));
    *port = ntohs(a.sin_port);
    return fd;
}

static void refused(uint16_t port, int want, const char *why, const char *what)
{
    struct store_opts o = {.connect_timeout_ms = 300, .command_timeout_ms = 300};
    char url[64], err[STORE_ERR_MAX] = "";
    struct store *s = NULL;
    uint64_t t0 = storet_now_ms();
    int ret;

    snprintf(url, sizeof(url), "redis://127.0.0.1:%u", port);
    o.url = url;
    ret = store_open(&o, &s, err, sizeof(err));
    ok_eq(ret, want, "%s: the open fails after %llu ms", what, (unsigned long long)(storet_now_ms() - t0));
    ok(s == NULL && strstr(err, url) != NULL && strstr(err, why) != NULL && strchr(err, '\n') == NULL, "%s: one line naming %s: %s",
       what, url, err);
}

int main(void)
{
    uint16_t port;
    int silent, full, filler;

    redis_proc_require();
    refused(redis_proc_free_port(), -ENOTCONN, "cannot connect", "nothing listens");

    silent = listener(16, &port);
    refused(port, -ETIMEDOUT, "timed out", "a server that never answers");
    close(silent);

    /* A backlog of 0 holds one connection; once it is taken, further SYNs are dropped. */
    full = listener(0, &port);
    filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

        if (connect(filler, (struct sockaddr *)&a, sizeof(a)) != 0)
            BAIL_OUT("filler connect: %s", strerror(errno));
    }
    refused(port, -ETIMEDOUT, "cannot connect: timed out", "a handshake that never completes");
    close(filler);
    close(full);
    return done_testing();
}
