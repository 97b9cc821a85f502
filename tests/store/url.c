/*
 * Store URLs: the embedded store by default, redis://HOST:PORT[/DB] with its defaults, and every
 * other form refused with one line that never shows a password the URL carried.
 */
#include "src/store_internal.h"
#include "tests/tap.h"

#include <errno.h>
#include <string.h>

static void good(const char *url, enum store_kind kind, const char *host, unsigned port, unsigned db)
{
    char err[STORE_ERR_MAX] = "";
    struct store_url u;
    int ret = store__parse_url(url, &u, err, sizeof(err));

    ok(ret == 0 && u.kind == kind && (kind == STORE_FILE || (strcmp(u.host, host) == 0 && u.port == port && u.db == db)),
       "%s is taken (%s)", url ? url : "NULL", err);
}

static void bad(const char *url, const char *want)
{
    char err[STORE_ERR_MAX] = "";
    struct store_url u;
    int ret = store__parse_url(url, &u, err, sizeof(err));

    ok(ret == -EINVAL && strstr(err, want) != NULL && strchr(err, '\n') == NULL && strstr(err, "s3cret") == NULL,
       "%s is refused: %s", url, err);
}

int main(void)
{
    struct store_opts o = {.url = "redis://:s3cret@127.0.0.1:6379"};
    char err[STORE_ERR_MAX] = "";
    struct store *s = NULL;

    good(NULL, STORE_FILE, NULL, 0, 0);
    good("", STORE_FILE, NULL, 0, 0);
    good("file:", STORE_FILE, NULL, 0, 0);
    good("redis://127.0.0.1:6380/2", STORE_REDIS, "127.0.0.1", 6380, 2);
    good("redis://localhost", STORE_REDIS, "localhost", 6379, 0);
    good("redis://localhost/", STORE_REDIS, "localhost", 6379, 0);
    good("redis://[::1]:7000/15", STORE_REDIS, "::1", 7000, 15);
    bad("redis://:s3cret@127.0.0.1:6379", STORE_PASSWORD_ENV);
    bad("redis://user:s3cret@127.0.0.1", "config file");
    bad("redis://", "redis://HOST:PORT[/DB]");
    bad("redis://h:0", "redis://HOST:PORT[/DB]");
    bad("redis://h:65536", "redis://HOST:PORT[/DB]");
    bad("redis://h:12x", "redis://HOST:PORT[/DB]");
    bad("redis://h/1/2", "redis://HOST:PORT[/DB]");
    bad("redis://h/x", "redis://HOST:PORT[/DB]");
    bad("redis://[::1", "redis://HOST:PORT[/DB]");
    bad("rediss://:s3cret@h", "unknown kind of store");
    bad("file:/var/lib", "unknown kind of store");

    ok_eq(store_open(&o, &s, err, sizeof(err)), -EINVAL, "store_open refuses a URL with a password");
    ok(s == NULL && strstr(err, "s3cret") == NULL && strstr(err, STORE_PASSWORD_ENV) != NULL, "with one line: %s", err);
    o.url = "file:";
    ok_eq(store_open(&o, &s, err, sizeof(err)), -EINVAL, "the embedded store needs a data directory");
    ok(s == NULL && strstr(err, "store file:") != NULL, "and says so: %s", err);
    return done_testing();
}
