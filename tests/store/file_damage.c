/*
 * The embedded store refuses a damaged file at open with one line naming the file and what is
 * wrong, and never crashes: an unknown format version, a bad magic, a flipped bit, a truncated or
 * empty file, bytes appended. Put the good file back and it opens again.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "tests/store/storet.h"

static uint8_t good[4096];
static size_t good_len;

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd == -1 || write(fd, buf, len) != (ssize_t)len)
        BAIL_OUT("write %s: %s", path, strerror(errno));
    close(fd);
}

/* Opens dir with the image buf in settings.db and checks the refusal names the file and `want`. */
static void refused(const char *dir, const char *path, const uint8_t *buf, size_t len, const char *want, const char *what)
{
    char err[STORE_ERR_MAX] = "";
    struct store *s;

    write_file(path, buf, len);
    s = storet_open_file(dir, err, sizeof(err));
    ok(s == NULL, "%s: the open fails", what);
    ok(strstr(err, "settings.db") != NULL && strstr(err, want) != NULL && strchr(err, '\n') == NULL,
       "%s: one line naming the file and '%s': %s", what, want, err);
    store_close(s);
}

int main(void)
{
    char dir[256], path[512], err[STORE_ERR_MAX];
    uint8_t bad[sizeof(good) + 8];
    struct store *s;
    int fd;

    storet_tmpdir(dir, sizeof(dir));
    s = storet_open_file(dir, err, sizeof(err));
    if (s == NULL)
        BAIL_OUT("open: %s", err);
    if (store_put(s, "settings", "log-level", "debug", 5) || store_put(s, "settings", "keepalive", "30s", 3))
        BAIL_OUT("put: %s", store_last_error(s));
    store_close(s);
    snprintf(path, sizeof(path), "%s/store/settings.db", dir);
    fd = open(path, O_RDONLY);
    good_len = fd == -1 ? 0 : (size_t)read(fd, good, sizeof(good));
    close(fd);
    if (good_len < 40)
        BAIL_OUT("read %s", path);

    memcpy(bad, good, good_len);
    bad[8] = 7; /* the version, little-endian */
    refused(dir, path, bad, good_len, "format version 7 is unknown", "an unknown version");
    memcpy(bad, good, good_len);
    bad[0] = 'X';
    refused(dir, path, bad, good_len, "not a store file", "a bad magic");
    memcpy(bad, good, good_len);
    bad[good_len - 2] ^= 0x10;
    refused(dir, path, bad, good_len, "corrupt", "a bit flipped in a value");
    memcpy(bad, good, good_len);
    bad[13] ^= 0x01;
    refused(dir, path, bad, good_len, "corrupt", "a bit flipped in the header");
    refused(dir, path, good, good_len - 3, "truncated", "the last bytes cut");
    refused(dir, path, good, 20, "truncated", "cut inside the header");
    refused(dir, path, good, 0, "truncated", "an empty file");
    memcpy(bad, good, good_len);
    memcpy(bad + good_len, "trailing", 8);
    refused(dir, path, bad, good_len + 8, "too long", "bytes appended");

    write_file(path, good, good_len);
    s = storet_open_file(dir, err, sizeof(err));
    ok(s != NULL, "the good file opens again");
    ok(s && storet_has(s, "settings", "log-level", "debug") && storet_has(s, "settings", "keepalive", "30s"), "with its records");
    store_close(s);
    storet_rmrf(dir);
    return done_testing();
}
