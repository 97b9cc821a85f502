/*
 * redis_proc: see redis_proc.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/store/redis_proc.h"
#include "tests/store/storet.h"

#define MAX_PROCS 4

static struct redis_proc *running[MAX_PROCS];

static const char *binary(void)
{
    const char *env = getenv("REDIS_SERVER");

    return env && env[0] ? env : "redis-server";
}

void redis_proc_require(void)
{
    const char *bin = binary(), *path = getenv("PATH");
    char full[1024];

    if (strchr(bin, '/') != NULL) {
        if (access(bin, X_OK) == 0)
            return;
    } else {
        for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
            size_t n = strcspn(p, ":");

            snprintf(full, sizeof(full), "%.*s/%s", (int)n, p, bin);
            if (access(full, X_OK) == 0)
                return;
            p += n + (p[n] == ':');
        }
    }
    skip_all("redis-server not found (packaging/install-deps installs it, or set REDIS_SERVER)");
}

static void stop_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (running[i] != NULL)
            redis_proc_stop(running[i]);
}

static void track(struct redis_proc *r, bool on)
{
    static bool registered;

    if (!registered) {
        atexit(stop_all);
        registered = true;
    }
    for (int i = 0; i < MAX_PROCS; i++) {
        if (on && running[i] == NULL) {
            running[i] = r;
            return;
        }
        if (!on && running[i] == r)
            running[i] = NULL;
    }
}

uint16_t redis_proc_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd == -1 || bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1 || getsockname(fd, (struct sockaddr *)&a, &len) == -1)
        BAIL_OUT("free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

/* Whether something on the port answers a PING (+PONG, or -NOAUTH when a password is set). */
static bool answers(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct pollfd pfd = {.events = POLLIN};
    char c = 0;
    bool ok = false;

    pfd.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (pfd.fd != -1 && connect(pfd.fd, (struct sockaddr *)&a, sizeof(a)) == 0 && write(pfd.fd, "PING\r\n", 6) == 6 &&
        poll(&pfd, 1, 1000) == 1 && read(pfd.fd, &c, 1) == 1)
        ok = c == '+' || c == '-';
    if (pfd.fd != -1)
        close(pfd.fd);
    return ok;
}

static int spawn(struct redis_proc *r)
{
    char port[8], log[300];
    const char *argv[20];
    int n = 0, status;
    uint64_t start;

    snprintf(port, sizeof(port), "%u", r->port);
    snprintf(log, sizeof(log), "%s/redis.log", r->dir);
    argv[n++] = binary();
    argv[n++] = "--port", argv[n++] = port;
    argv[n++] = "--bind", argv[n++] = "127.0.0.1";
    argv[n++] = "--dir", argv[n++] = r->dir;
    argv[n++] = "--save", argv[n++] = "";
    argv[n++] = "--appendonly", argv[n++] = "no";
    argv[n++] = "--daemonize", argv[n++] = "no";
    argv[n++] = "--logfile", argv[n++] = log;
    if (r->password[0])
        argv[n++] = "--requirepass", argv[n++] = r->password;
    argv[n] = NULL;
    r->pid = fork();
    if (r->pid == -1)
        return -errno;
    if (r->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    track(r, true);
    for (start = storet_now_ms(); storet_now_ms() - start < 10000;) {
        if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
            track(r, false);
            r->pid = 0;
            return -EADDRINUSE; /* most likely someone took the port meanwhile */
        }
        if (answers(r->port))
            return 0;
        usleep(10000);
    }
    redis_proc_kill(r);
    return -ETIMEDOUT;
}

int redis_proc_start(struct redis_proc *r, const char *password)
{
    int ret = -EADDRINUSE;

    memset(r, 0, sizeof(*r));
    snprintf(r->password, sizeof(r->password), "%s", password ? password : "");
    storet_tmpdir(r->dir, sizeof(r->dir));
    for (int attempt = 0; attempt < 5 && ret == -EADDRINUSE; attempt++) {
        r->port = redis_proc_free_port();
        snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%u", r->port);
        ret = spawn(r);
    }
    return ret;
}

int redis_proc_restart(struct redis_proc *r)
{
    redis_proc_kill(r);
    return spawn(r);
}

void redis_proc_kill(struct redis_proc *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    track(r, false);
    r->pid = 0;
}

void redis_proc_stop(struct redis_proc *r)
{
    redis_proc_kill(r);
    if (r->dir[0])
        storet_rmrf(r->dir);
    r->dir[0] = '\0';
}
