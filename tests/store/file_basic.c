/*
 * The embedded store: records put, read, listed, replaced, deleted and written in batches are all
 * there after a reopen; bad arguments, oversized values and a second process are refused.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "tests/store/storet.h"

static void records(struct store *s)
{
    const char *keys[] = {"c", "a", "c"};
    const void *vals[] = {"3", "1", "33"};
    const size_t lens[] = {1, 1, 2};
    struct storet_seen seen = {0};
    void *val = NULL;
    size_t len = 99;

    ok_eq(store_get(s, "settings", "a", &val, &len), -ENOENT, "an absent record is -ENOENT");
    ok(strstr(store_last_error(s), "settings/a") != NULL, "and the error names it: %s", store_last_error(s));
    ok(val == NULL && len == 99, "and leaves the out-parameters alone");
    ok_eq(store_put(s, "settings", "b", "two", 3), 0, "put b");
    ok_eq(store_put(s, "settings", "b", "2", 1), 0, "put b again");
    ok(storet_has(s, "settings", "b", "2"), "get b gives its last value");
    ok_eq(store_put_batch(s, "settings", 3, keys, vals, lens), 0, "a batch of three with a key given twice");
    ok_eq(store_put(s, "settings", "empty", NULL, 0), 0, "an empty value");
    ok_eq(store_put(s, "users", "a", "other", 5), 0, "a second namespace");
    ok_eq(store_list(s, "settings", storet_collect, &seen), 0, "list settings");
    ok(strcmp(seen.text, "a=1;b=2;c=33;empty=") == 0, "in key order, the last value of a repeated key: %s", seen.text);
    ok_eq(store_del(s, "settings", "b"), 0, "del b");
    ok_eq(store_del(s, "settings", "b"), -ENOENT, "del b again is -ENOENT");
    ok_eq(store_del(s, "nothing", "b"), -ENOENT, "del in an unknown namespace is -ENOENT");
    ok_eq(store_get(s, "settings", "b", &val, &len), -ENOENT, "b is gone");
}

static int stop_at_two(void *arg, const char *key, const void *val, size_t len)
{
    int *n = arg;

    return ++*n == 2 ? 42 : 0;
}

static void refusals(struct store *s)
{
    char key[STORE_KEY_MAX + 2];
    char *big = calloc(1, STORE_VALUE_MAX + 1);
    const char *keys[2] = {"x", ""};
    const void *vals[2] = {"1", "2"};
    const size_t lens[2] = {1, 1};
    int n = 0;

    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    ok_eq(store_put(s, "Settings", "a", "1", 1), -EINVAL, "a namespace with a capital is refused");
    ok_eq(store_put(s, "", "a", "1", 1), -EINVAL, "an empty namespace is refused");
    ok_eq(store_put(s, "settings", "", "1", 1), -EINVAL, "an empty key is refused");
    ok_eq(store_put(s, "settings", key, "1", 1), -EINVAL, "a key of %d bytes is refused", STORE_KEY_MAX + 1);
    key[STORE_KEY_MAX] = '\0';
    ok_eq(store_put(s, "settings", key, "1", 1), 0, "a key of %d bytes is taken", STORE_KEY_MAX);
    ok_eq(store_put(s, "settings", "big", big, STORE_VALUE_MAX + 1), -EMSGSIZE, "a value above the limit is -EMSGSIZE");
    ok(strstr(store_last_error(s), "above the limit") != NULL, "with a clear error: %s", store_last_error(s));
    ok_eq(store_put(s, "settings", "big", big, STORE_VALUE_MAX), 0, "a value at the limit is taken");
    ok_eq(store_put_batch(s, "settings", 2, keys, vals, lens), -EINVAL, "a batch with one bad key is refused");
    ok(!storet_has(s, "settings", "x", "1"), "as a whole");
    ok_eq(store_put_batch(s, "settings", 0, keys, vals, lens), -EINVAL, "an empty batch is refused");
    ok_eq(store_list(s, "settings", stop_at_two, &n), 42, "list stops at the callback's non-zero return");
    free(big);
}

int main(void)
{
    char dir[256], err[STORE_ERR_MAX], path[512];
    struct store *s, *again = NULL;
    struct storet_seen seen = {0};
    int fd;

    storet_tmpdir(dir, sizeof(dir));
    s = storet_open_file(dir, err, sizeof(err));
    if (s == NULL)
        BAIL_OUT("open: %s", err);
    ok(strcmp(store_backend_name(s), "file") == 0, "the backend is file");
    ok(strstr(store_location(s), dir) != NULL, "the location names the directory: %s", store_location(s));
    ok(store_up(s), "the embedded store is up");
    ok_eq(store_watch_fd(s), -1, "and has no watch fd");
    records(s);
    refusals(s);
    again = storet_open_file(dir, err, sizeof(err));
    ok(again == NULL && strstr(err, "in use by another process") != NULL, "a second open of the directory is refused: %s", err);
    store_close(s);

    snprintf(path, sizeof(path), "%s/store/settings.db.tmp", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    ok(fd != -1 && write(fd, "torn", 4) == 4, "a leftover temporary file");
    close(fd);
    s = storet_open_file(dir, err, sizeof(err));
    if (s == NULL)
        BAIL_OUT("reopen: %s", err);
    ok(access(path, F_OK) != 0, "is removed at open");
    ok(storet_has(s, "settings", "a", "1") && storet_has(s, "settings", "c", "33") && storet_has(s, "users", "a", "other"),
       "every record is back after a reopen");
    ok_eq(store_get(s, "settings", "b", &(void *){NULL}, &(size_t){0}), -ENOENT, "and the deleted one stays deleted");
    ok_eq(store_list(s, "users", storet_collect, &seen), 0, "list users");
    ok(strcmp(seen.text, "a=other") == 0, "holds its one record: %s", seen.text);
    store_close(s);
    storet_rmrf(dir);
    return done_testing();
}
