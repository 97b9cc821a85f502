/*
 * A Redis with a password (--requirepass): the password from the options works, so does the one from
 * TRPC_STORE_PASSWORD; a wrong one and none at all are refused with -EACCES and one line that says
 * where the password comes from and never shows it.
 */
#include "tests/store/redis_proc.h"
#include "tests/store/storet.h"

static void refused(const char *url, const char *password, const char *why, const char *what)
{
    struct store_opts o = {.url = url, .password = password};
    char err[STORE_ERR_MAX] = "";
    struct store *s = NULL;
    int ret = store_open(&o, &s, err, sizeof(err));
    bool clear = strstr(err, why) != NULL && strstr(err, url) != NULL && strstr(err, STORE_PASSWORD_ENV) != NULL &&
                 strchr(err, '\n') == NULL && strstr(err, "n0t-it") == NULL;

    ok(ret == -EACCES && s == NULL, "%s: the open fails with -EACCES", what);
    ok(clear, "%s: with one clear line: %s", what, err);
    store_close(s);
}

int main(void)
{
    char err[STORE_ERR_MAX] = "";
    struct redis_proc rp;
    struct store *s;

    redis_proc_require();
    unsetenv(STORE_PASSWORD_ENV);
    if (redis_proc_start(&rp, "s3cret pass") != 0)
        BAIL_OUT("cannot start redis-server");
    s = storet_open_redis(rp.url, NULL, 0, "s3cret pass", err, sizeof(err));
    ok(s != NULL, "the right password from the options opens: %s", err);
    ok(s && store_put(s, "settings", "a", "1", 1) == 0 && storet_has(s, "settings", "a", "1"), "and writes and reads");
    store_close(s);

    refused(rp.url, "n0t-it", "WRONGPASS", "a wrong password");
    refused(rp.url, NULL, "NOAUTH", "no password");

    setenv(STORE_PASSWORD_ENV, "s3cret pass", 1);
    s = storet_open_redis(rp.url, NULL, 0, NULL, err, sizeof(err));
    ok(s != NULL && storet_has(s, "settings", "a", "1"), "the password from %s opens: %s", STORE_PASSWORD_ENV, err);
    store_close(s);
    s = storet_open_redis(rp.url, NULL, 0, "n0t-it", err, sizeof(err));
    ok(s == NULL, "the options' password wins over the environment's");
    unsetenv(STORE_PASSWORD_ENV);
    redis_proc_stop(&rp);
    return done_testing();
}
