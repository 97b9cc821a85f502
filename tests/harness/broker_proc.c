/* broker_proc: a real trpc-broker child process for integration tests (see broker_proc.h). */
#include "tests/harness/broker_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS  20000
#define POLL_MS          5
#define MAX_DATA_DIRS    32

/* The data directories of the brokers this process started and has not stopped yet, each with the
 * pid of the broker using it while one runs: at exit (a test that bails out midway) that broker is
 * killed, so that it cannot hold the test's output open, and a directory the harness made is
 * removed. Copies, not pointers to struct broker_proc, which may live on main's stack. */
struct made_dir {
    pid_t owner; /* 0: a free slot; a forked child leaves its parent's alone */
    pid_t broker;
    bool keep; /* the caller's directory: never removed */
    char dir[sizeof(((struct broker_proc *)0)->data_dir)];
};
static struct made_dir made_dirs[MAX_DATA_DIRS];

long long broker_proc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

const char *broker_proc_path(char *buf, size_t len)
{
    const char *env = getenv("TRPC_BROKER");
    if (env && *env)
        return env;
    const char *top = getenv("top_builddir");
    snprintf(buf, len, "%s/src/trpc-broker", top && *top ? top : ".");
    return buf;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void broker_proc_rm_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void made_dirs_cleanup(void)
{
    for (int i = 0; i < MAX_DATA_DIRS; i++) {
        if (made_dirs[i].owner != getpid())
            continue;
        if (made_dirs[i].broker) {
            kill(made_dirs[i].broker, SIGKILL);
            while (waitpid(made_dirs[i].broker, NULL, 0) == -1 && errno == EINTR)
                ;
        }
        if (!made_dirs[i].keep)
            broker_proc_rm_tree(made_dirs[i].dir);
        made_dirs[i].owner = 0;
    }
}

/* The value of the option flag (e.g. "--data-dir") among the caller's arguments ("--data-dir DIR"
 * or "--data-dir=DIR"), or NULL when they name none. */
static const char *args_value(const struct broker_proc *b, const char *flag)
{
    size_t n = strlen(flag);

    for (int i = 0; i < b->_nargs; i++) {
        if (strncmp(b->_args[i], flag, n) == 0 && b->_args[i][n] == '=')
            return b->_args[i] + n + 1;
        if (strcmp(b->_args[i], flag) == 0)
            return i + 1 < b->_nargs ? b->_args[i + 1] : "";
    }
    return NULL;
}

static const char *args_data_dir(const struct broker_proc *b)
{
    return args_value(b, "--data-dir");
}

/* False when the caller's arguments turn the HTTP server off (--http off, --http=off, or an empty
 * value); true when they name no --http (the harness passes its own) or an address. */
static bool args_http_on(const struct broker_proc *b)
{
    const char *v = args_value(b, "--http");

    return v == NULL || (v[0] != '\0' && strcmp(v, "off") != 0);
}

/* Fills b->data_dir: the caller's --data-dir, else a fresh directory; recorded in made_dirs. */
static int data_dir_init(struct broker_proc *b)
{
    static bool registered;
    const char *theirs = args_data_dir(b), *tmp = getenv("TMPDIR");
    int slot = 0;

    while (slot < MAX_DATA_DIRS && made_dirs[slot].owner)
        slot++;
    if (slot == MAX_DATA_DIRS)
        return -EMFILE;
    if (theirs)
        snprintf(b->data_dir, sizeof(b->data_dir), "%s", theirs);
    else if (snprintf(b->data_dir, sizeof(b->data_dir), "%s/trpc-data-XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
             (int)sizeof(b->data_dir))
        return -ENAMETOOLONG;
    if (!theirs && !mkdtemp(b->data_dir)) {
        int err = -errno;
        fprintf(stderr, "# broker_proc: mkdtemp %s: %s\n", b->data_dir, strerror(errno));
        return err;
    }
    if (!registered) {
        atexit(made_dirs_cleanup);
        registered = true;
    }
    made_dirs[slot].owner = getpid();
    made_dirs[slot].broker = 0;
    made_dirs[slot].keep = theirs != NULL;
    memcpy(made_dirs[slot].dir, b->data_dir, sizeof(b->data_dir));
    b->_dir_slot = slot + 1;
    return 0;
}

/* b's entry in made_dirs, or NULL once stopped. */
static struct made_dir *made_dir_of(const struct broker_proc *b)
{
    if (!b->_dir_slot || made_dirs[b->_dir_slot - 1].owner != getpid() || strcmp(made_dirs[b->_dir_slot - 1].dir, b->data_dir) != 0)
        return NULL;
    return &made_dirs[b->_dir_slot - 1];
}

/* Removes the data directory the harness made for b (never the caller's) and frees its entry;
 * once. */
static void data_dir_remove(struct broker_proc *b)
{
    struct made_dir *m = made_dir_of(b);

    if (m) {
        if (!m->keep)
            broker_proc_rm_tree(m->dir);
        m->owner = 0;
    }
    b->_dir_slot = 0;
}

/* The broker's pid, 0 once it is reaped; kept in made_dirs too, for the cleanup at exit. */
static void set_pid(struct broker_proc *b, pid_t pid)
{
    struct made_dir *m = made_dir_of(b);

    b->pid = pid;
    if (m)
        m->broker = pid;
}

/* Copies the broker's log to our stderr as TAP comments, so a failing run shows why. */
static void dump_log(const struct broker_proc *b)
{
    FILE *f = fopen(b->log_path, "r");
    if (!f)
        return;
    char line[1024];
    int n = 0;
    fprintf(stderr, "# --- broker log %s ---\n", b->log_path);
    while (fgets(line, sizeof(line), f) && n++ < 400)
        fprintf(stderr, "# %s%s", line, strchr(line, '\n') ? "" : "\n");
    fclose(f);
}

/* The port from the first line with key ("listening on 127.0.0.1:" PORT), or 0 while there is
 * none. */
static unsigned log_port(const struct broker_proc *b, const char *key)
{
    FILE *f = fopen(b->log_path, "r");
    if (!f)
        return 0;
    char line[1024];
    unsigned port = 0;
    while (!port && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, key);
        if (p) {
            long v = strtol(p + strlen(key), NULL, 10);
            if (v > 0 && v < 65536)
                port = (unsigned)v;
        }
    }
    fclose(f);
    return port;
}

/* The port from the first "dashboard on http://HOST:PORT/" line (https:// where the broker has
 * TLS; HOST an IPv4 address or [IPv6]), or 0 while there is none. */
static unsigned log_http_port(const struct broker_proc *b)
{
    static const char key[] = "dashboard on http";
    FILE *f = fopen(b->log_path, "r");
    if (!f)
        return 0;
    char line[1024];
    unsigned port = 0;
    while (!port && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, key);
        if (!p)
            continue;
        p += sizeof(key) - 1;
        if (*p == 's')
            p++;
        if (strncmp(p, "://", 3) != 0)
            continue;
        p += 3;
        p = *p == '[' ? strchr(p, ']') : strchr(p, ':');
        if (p && *p == ']')
            p++;
        if (!p || *p != ':')
            continue;
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (*end == '/' && v > 0 && v < 65536)
            port = (unsigned)v;
    }
    fclose(f);
    return port;
}

int broker_proc_connect(const struct broker_proc *b)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        int err = -errno;
        close(fd);
        return err;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int broker_proc_http_get(const struct broker_proc *b, const char *path, char *body, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->http_port)};
    struct timeval tv = {.tv_sec = 2};
    char req[512], head[64];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), code = -1, reqlen;
    size_t got = 0;
    ssize_t r;
    char *at;

    body[0] = '\0';
    if (fd == -1)
        return -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && write(fd, req, (size_t)reqlen) == reqlen) {
        /* The whole answer goes into body, then the body is moved to its start. */
        while (got < len - 1 && (r = read(fd, body + got, len - 1 - got)) > 0)
            got += (size_t)r;
        body[got] = '\0';
        snprintf(head, sizeof(head), "%s", body);
        if (sscanf(head, "HTTP/1.1 %d", &code) != 1)
            code = -1;
        at = strstr(body, "\r\n\r\n");
        if (at != NULL)
            memmove(body, at + 4, strlen(at + 4) + 1);
        else
            body[0] = '\0';
    }
    close(fd);
    return code;
}

static int spawn(struct broker_proc *b, const char *listen)
{
    char path[1024];
    const char *bin = broker_proc_path(path, sizeof(path));
    if (access(bin, X_OK) == -1) {
        int err = -errno;
        fprintf(stderr, "# broker_proc: %s: %s\n", bin, strerror(errno));
        return err;
    }
    char *argv[BROKER_PROC_MAX_ARGS + 8];
    int n = 0;
    argv[n++] = (char *)bin;
    argv[n++] = "--listen";
    argv[n++] = (char *)listen;
    if (!args_data_dir(b)) {
        argv[n++] = "--data-dir";
        argv[n++] = b->data_dir;
    }
    if (!args_value(b, "--http")) {
        argv[n++] = "--http";
        argv[n++] = "127.0.0.1:0";
    }
    for (int i = 0; i < b->_nargs; i++)
        argv[n++] = b->_args[i];
    argv[n] = NULL;

    int logfd = open(b->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd == -1)
        return -errno;
    pid_t pid = fork();
    if (pid == -1) {
        int err = -errno;
        close(logfd);
        return err;
    }
    if (pid == 0) {
        dup2(logfd, STDERR_FILENO);
        execv(bin, argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(logfd);
    set_pid(b, pid);
    return 0;
}

/* Waits for the listening line (unless the port is known), for a connection to succeed and for the
 * HTTP line, which sets http_port (unless the arguments turn the HTTP server off). A connection
 * alone does not tell: on a restart the port is known and the cores' listeners accept before the
 * HTTP server starts (or a killed broker's ring still holds its listener a moment). */
static int wait_ready(struct broker_proc *b)
{
    long long deadline = broker_proc_now_ms() + START_TIMEOUT_MS;
    bool http = args_http_on(b);

    b->http_port = 0;
    for (;;) {
        int st;
        if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
            set_pid(b, 0);
            fprintf(stderr, "# broker_proc: broker exited during start (status 0x%x)\n", st);
            return -ECHILD;
        }
        if (!b->port)
            b->port = log_port(b, "listening on 127.0.0.1:");
        if (http && !b->http_port)
            b->http_port = log_http_port(b);
        if (b->port) {
            int fd = broker_proc_connect(b);
            if (fd >= 0) {
                close(fd);
                snprintf(b->url, sizeof(b->url), "trpc://127.0.0.1:%u", b->port);
                /* The TLS line comes before the listening one. */
                b->tls_port = log_port(b, "TLS on 127.0.0.1:");
                if (b->tls_port != 0)
                    snprintf(b->tls_url, sizeof(b->tls_url), "trpcs://localhost:%u", b->tls_port);
                if (!http || b->http_port)
                    return 0;
            }
        }
        if (broker_proc_now_ms() >= deadline)
            break;
        sleep_ms(POLL_MS);
    }
    fprintf(stderr, "# broker_proc: broker not ready after %d ms\n", START_TIMEOUT_MS);
    return -ETIMEDOUT;
}

int broker_proc_start(struct broker_proc *b, const char *const *extra_args)
{
    memset(b, 0, sizeof(*b));
    for (int i = 0; extra_args && extra_args[i]; i++) {
        if (b->_nargs == BROKER_PROC_MAX_ARGS)
            return -E2BIG;
        b->_args[b->_nargs] = strdup(extra_args[i]);
        if (!b->_args[b->_nargs])
            return -ENOMEM;
        b->_nargs++;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(b->log_path, sizeof(b->log_path), "%s/trpc-broker-%d-%p.log", tmp && *tmp ? tmp : "/tmp", (int)getpid(), (void *)b);
    int rc = data_dir_init(b);
    if (rc < 0)
        return rc;
    rc = spawn(b, "127.0.0.1:0");
    if (rc == 0)
        rc = wait_ready(b);
    if (rc < 0) {
        dump_log(b);
        if (b->pid)
            broker_proc_kill(b);
        data_dir_remove(b);
    }
    return rc;
}

int broker_proc_restart(struct broker_proc *b)
{
    if (b->pid)
        return -EBUSY;
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", b->port);
    /* The port was ours until the broker died; a retry covers the moment the kernel still holds it. */
    int rc = -EADDRINUSE;
    for (int attempt = 0; attempt < 20 && rc < 0; attempt++) {
        if (attempt)
            sleep_ms(100);
        rc = spawn(b, listen);
        if (rc == 0)
            rc = wait_ready(b);
    }
    if (rc < 0)
        dump_log(b);
    return rc;
}

int broker_proc_kill(struct broker_proc *b)
{
    if (!b->pid)
        return -ESRCH;
    kill(b->pid, SIGKILL);
    int st;
    while (waitpid(b->pid, &st, 0) == -1 && errno == EINTR)
        ;
    set_pid(b, 0);
    return 0;
}

int broker_proc_signal_wait(struct broker_proc *b, int sig, int timeout_ms)
{
    if (!b->pid)
        return -ESRCH;
    kill(b->pid, sig);
    long long deadline = broker_proc_now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(b->pid, &st, WNOHANG);
        if (r == b->pid)
            break;
        if (r == -1 && errno != EINTR)
            return -errno;
        if (broker_proc_now_ms() >= deadline) {
            fprintf(stderr, "# broker_proc: no exit %d ms after signal %d; killing\n", timeout_ms, sig);
            broker_proc_kill(b);
            dump_log(b);
            return -ETIMEDOUT;
        }
        sleep_ms(POLL_MS);
    }
    set_pid(b, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        dump_log(b);
    return st;
}

int broker_proc_stop(struct broker_proc *b)
{
    int rc = b->pid ? broker_proc_signal_wait(b, SIGTERM, STOP_TIMEOUT_MS) : 0;
    if (rc >= 0 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0)
        unlink(b->log_path);
    data_dir_remove(b);
    for (int i = 0; i < b->_nargs; i++)
        free(b->_args[i]);
    b->_nargs = 0;
    return rc;
}

long broker_proc_rss_kb(const struct broker_proc *b)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)b->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    long kb = -ENOENT;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

int broker_proc_log_count(const struct broker_proc *b, const char *needle)
{
    FILE *f = fopen(b->log_path, "r");
    if (!f)
        return -errno;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}
