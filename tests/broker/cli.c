/* The command line: bad values give one line on stderr and exit status 2; --help, --version and
 * --print-config print to stdout and exit 0 without starting. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/broker/itest.h"

static const char *broker(void)
{
    static char path[1024];
    const char *env = getenv("TRPC_BROKER"), *top = getenv("top_builddir");

    if (env != NULL && *env)
        return env;
    snprintf(path, sizeof(path), "%s/src/trpc-broker", top != NULL && *top ? top : ".");
    return path;
}

/* Runs the broker with args; fills out/err (NUL-terminated, truncated) and returns the exit status
 * or -1. */
static int run(const char *const *args, char *out, size_t outlen, char *err, size_t errlen)
{
    int po[2], pe[2], st;
    pid_t pid;
    const char *argv[16] = {broker()};
    ssize_t n;
    size_t i;

    for (i = 0; args[i] != NULL && i < 14; i++)
        argv[i + 1] = args[i];
    argv[i + 1] = NULL;
    if (pipe(po) != 0 || pipe(pe) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    n = read(po[0], out, outlen - 1); /* enough for these tests: one read of a short pipe */
    out[n > 0 ? n : 0] = '\0';
    for (size_t got = 0; (n = read(pe[0], err + got, errlen - 1 - got)) > 0;)
        got += (size_t)n, err[got] = '\0';
    close(po[0]);
    close(pe[0]);
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static unsigned lines(const char *s)
{
    unsigned n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void bad(const char *const *args, const char *want, const char *what)
{
    char out[4096], err[4096] = "";
    int st = run(args, out, sizeof(out), err, sizeof(err));

    if (!ok(st == 2 && lines(err) == 1 && strncmp(err, "trpc-broker: ", 13) == 0 && strstr(err, want) != NULL && out[0] == '\0',
            "%s: one line, exit 2", what))
        diag("status %d, stderr: %s", st, err);
}

int main(void)
{
    char out[65536], err[4096];

    plan(10);
    bad((const char *[]){"--cores", "many", NULL}, "'many' is not a whole number", "--cores many");
    bad((const char *[]){"--listen", "localhost:1", NULL}, "is not a numeric IPv4 address", "--listen localhost:1");
    bad((const char *[]){"--frobnicate", NULL}, "unknown option '--frobnicate'", "unknown flag");
    bad((const char *[]){"--max-frame", "10", NULL}, "max-frame", "--max-frame below 56");
    bad((const char *[]){"--listen", "0.0.0.0:4250", NULL}, "--insecure", "non-loopback listener without --insecure");
    bad((const char *[]){"--config", "/nonexistent/trpc.conf", NULL}, "/nonexistent/trpc.conf", "missing config file");

    /* A port held by a socket without SO_REUSEPORT: the broker cannot bind it and exits 1. */
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    char listen_arg[64], data_dir[256];
    const char *tmp = getenv("TMPDIR");
    int fd = socket(AF_INET, SOCK_STREAM, 0), st;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        BAIL_OUT("cannot hold a port");
    snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%u", ntohs(sa.sin_port));
    /* This one gets as far as starting: a data directory of its own, never /var/lib/trpc. */
    snprintf(data_dir, sizeof(data_dir), "%s/trpc-data-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(data_dir) == NULL)
        BAIL_OUT("mkdtemp %s: %s", data_dir, strerror(errno));
    err[0] = '\0';
    st = run((const char *[]){"--listen", listen_arg, "--cores", "1", "--data-dir", data_dir, NULL}, out, sizeof(out), err,
             sizeof(err));
    if (!ok(st == 1 && strstr(err, "cannot listen on 127.0.0.1:") != NULL && strstr(err, "ERROR") != NULL,
            "a port in use: an ERROR line naming the address, exit 1"))
        diag("status %d, stderr: %s", st, err);
    nftw(data_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    close(fd);

    ok(run((const char *[]){"--version", NULL}, out, sizeof(out), err, sizeof(err)) == 0 &&
           strncmp(out, "trpc-broker " PACKAGE_VERSION "\n", strlen("trpc-broker " PACKAGE_VERSION "\n")) == 0,
       "--version prints the version");
    ok(run((const char *[]){"--help", NULL}, out, sizeof(out), err, sizeof(err)) == 0 && strstr(out, "usage: trpc-broker") != NULL,
       "--help prints usage");
    ok(run((const char *[]){"--print-config", "--cores", "3", NULL}, out, sizeof(out), err, sizeof(err)) == 0 &&
           strstr(out, "cores = 3\n") != NULL,
       "--print-config prints the settings with the flags applied");
    return done_testing();
}
