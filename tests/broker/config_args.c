/* The command line: --config is read first wherever it stands, flags override the file in order. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "src/config.h"
#include "tests/tap.h"

#define ARGS(...)                ((char *[]){"trpc-broker", __VA_ARGS__, NULL})
#define ARGC(...)                ((int)(sizeof((char *[]){"trpc-broker", __VA_ARGS__}) / sizeof(char *)))
#define RUN(c, action, err, ...) config_from_args(c, ARGC(__VA_ARGS__), ARGS(__VA_ARGS__), action, err, sizeof(err))

int main(void)
{
    char path[] = "/tmp/trpc-args-XXXXXX", err[CONFIG_ERR_MAX];
    static const char file[] = "cores = 3\nkeepalive = 9s\n";
    enum config_action a;
    struct config c;
    int fd = mkstemp(path);

    if (fd == -1 || write(fd, file, strlen(file)) != (ssize_t)strlen(file))
        BAIL_OUT("temp file");
    close(fd);

    config_defaults(&c);
    ok(RUN(&c, &a, err, "--cores", "5", "--config", path) == 0, "flags and a file");
    ok_eq(c.cores, 5, "a flag before --config still overrides the file");
    ok_eq(c.keepalive_ms, 9000, "the file sets what no flag names");
    ok_eq(a, CONFIG_RUN, "action run");

    config_defaults(&c);
    ok(RUN(&c, &a, err, "--config=", "x") < 0, "an empty --config= is refused");
    config_defaults(&c);
    ok(RUN(&c, &a, err, "--listen=127.0.0.2:7000", "--cores=1", "--cores=2") == 0, "--name=value form");
    ok(strcmp(c.listen_host, "127.0.0.2") == 0 && c.listen_port == 7000, "listen set");
    ok_eq(c.cores, 2, "the last of repeated flags wins");

    config_defaults(&c);
    ok(RUN(&c, &a, err, "--listen", "0.0.0.0:4250") < 0 && strstr(err, "--insecure") != NULL, "non-loopback needs --insecure");
    config_defaults(&c);
    ok(RUN(&c, &a, err, "--listen", "0.0.0.0:4250", "--insecure") == 0 && c.insecure, "a lone boolean flag is true");
    config_defaults(&c);
    ok(RUN(&c, &a, err, "--insecure=false") == 0 && !c.insecure, "a boolean flag takes a value");

    config_defaults(&c);
    ok(RUN(&c, &a, err, "--cores") < 0 && strcmp(err, "option '--cores' needs a value") == 0, "missing value");
    ok(RUN(&c, &a, err, "--frobnicate", "1") < 0 && strcmp(err, "unknown option '--frobnicate' (see --help)") == 0, "unknown flag");
    ok(RUN(&c, &a, err, "cores") < 0 && strcmp(err, "unexpected argument 'cores' (see --help)") == 0, "positional argument");
    ok(RUN(&c, &a, err, "--cores", "x") < 0 && strcmp(err, "option 'cores': 'x' is not a whole number") == 0, "bad value");
    ok(RUN(&c, &a, err, "--config", "/nonexistent/trpc.conf") < 0 && strstr(err, "/nonexistent/trpc.conf") != NULL,
       "missing config file named");

    ok(RUN(&c, &a, err, "--cores", "x", "--help") == 0 && a == CONFIG_HELP, "--help wins over bad flags");
    ok(RUN(&c, &a, err, "-V") == 0 && a == CONFIG_VERSION, "-V is --version");
    config_defaults(&c);
    ok(RUN(&c, &a, err, "--print-config", "--cores", "4") == 0 && a == CONFIG_PRINT && c.cores == 4,
       "--print-config applies the other flags");

    /* The store's options; its password from the file, never from a flag nor in --print-config. */
    ok(RUN(&c, &a, err, "--store", "redis://127.0.0.1:6390/2", "--store-prefix", "blue:", "--store-timeout", "2s") == 0 &&
           strcmp(c.store, "redis://127.0.0.1:6390/2") == 0 && strcmp(c.store_prefix, "blue:") == 0 && c.store_timeout_ms == 2000,
       "store, store-prefix and store-timeout");
    ok(RUN(&c, &a, err, "--request-metrics", " shop.>, bench.*.request ") == 0 &&
           config_request_classes(c.request_metrics, NULL, NULL, err, sizeof(err)) == 2,
       "request-metrics: two patterns, spaces around them ignored");
    ok(RUN(&c, &a, err, "--request-metrics", "shop..x") < 0 && strstr(err, "'shop..x' is not a topic pattern") != NULL,
       "request-metrics: a bad pattern is named: %s", err);
    ok(RUN(&c, &a, err, "--request-metrics", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q") < 0 && strstr(err, "more than 16") != NULL,
       "request-metrics: at most 16 patterns");
    ok(RUN(&c, &a, err, "--request-metrics", "") == 0 && c.request_metrics[0] == '\0', "request-metrics may be empty");
    ok(RUN(&c, &a, err, "--store", "mysql://x") < 0 && strstr(err, "mysql://x") != NULL, "a store URL of no known kind");
    config_defaults(&c);
    ok(strcmp(c.store, "file:") == 0 && strcmp(c.store_prefix, "trpc:") == 0 && c.store_password[0] == '\0',
       "the embedded store by default, prefix trpc:, no password");
    ok(RUN(&c, &a, err, "--store-password", "hunter2") < 0 && strstr(err, "command line") != NULL && strstr(err, "hunter2") == NULL,
       "--store-password is refused, without echoing it: %s", err);
    ok(RUN(&c, &a, err, "--store-password=hunter2") < 0, "--store-password=... too");
    config_defaults(&c);
    ok(config_parse(&c, "store-password = hunter2\n", 24, "test", err, sizeof(err)) == 0 &&
           strcmp(c.store_password, "hunter2") == 0,
       "the config file gives it");
    {
        char out[16384] = "", value[64];
        FILE *f = fmemopen(out, sizeof(out) - 1, "w");

        config_print(&c, f);
        fclose(f);
        ok(strstr(out, "hunter2") == NULL && strstr(out, "# store-password is set, not printed") != NULL,
           "--print-config says it is set, not what it is");
        ok(config_get(&c, "store-password", value, sizeof(value)) == 0 && strcmp(value, "(set)") == 0,
           "settings.get's value for it: (set)");
    }
    unlink(path);
    return done_testing();
}
