/* The command line: bad values give one line on stderr and exit status 2; --help, --version and
 * --print-config print to stdout and exit 0 without starting. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/broker/itest.h"

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
    int st = broker_proc_run(args, out, sizeof(out), err, sizeof(err));

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
    /* This one gets as far as starting: a data directory of its own, never /var/lib/trpc, and an
     * HTTP port the kernel picks, never the default 8250 another test's broker may hold. */
    snprintf(data_dir, sizeof(data_dir), "%s/trpc-data-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(data_dir) == NULL)
        BAIL_OUT("mkdtemp %s: %s", data_dir, strerror(errno));
    err[0] = '\0';
    st = broker_proc_run(
        (const char *[]){"--listen", listen_arg, "--cores", "1", "--data-dir", data_dir, "--http", "127.0.0.1:0", NULL}, out,
        sizeof(out), err, sizeof(err));
    if (!ok(st == 1 && strstr(err, "cannot listen on 127.0.0.1:") != NULL && strstr(err, "ERROR") != NULL,
            "a port in use: an ERROR line naming the address, exit 1"))
        diag("status %d, stderr: %s", st, err);
    broker_proc_rm_tree(data_dir);
    close(fd);

    ok(broker_proc_run((const char *[]){"--version", NULL}, out, sizeof(out), err, sizeof(err)) == 0 &&
           strncmp(out, "trpc-broker " PACKAGE_VERSION "\n", strlen("trpc-broker " PACKAGE_VERSION "\n")) == 0,
       "--version prints the version");
    ok(broker_proc_run((const char *[]){"--help", NULL}, out, sizeof(out), err, sizeof(err)) == 0 &&
           strstr(out, "usage: trpc-broker") != NULL && strstr(out, "trpc-broker user add|passwd|del|list") != NULL &&
           strstr(out, "trpc-broker user --help") != NULL,
       "--help prints usage, the user subcommand included");
    ok(broker_proc_run((const char *[]){"--print-config", "--cores", "3", NULL}, out, sizeof(out), err, sizeof(err)) == 0 &&
           strstr(out, "cores = 3\n") != NULL,
       "--print-config prints the settings with the flags applied");
    return done_testing();
}
