/*
 * What the store tests share: a temporary data directory, opening a store with a few options, a
 * monotonic clock, and records collected through store_list.
 */
#ifndef TRPC_TESTS_STORE_STORET_H
#define TRPC_TESTS_STORE_STORET_H

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/store.h"
#include "tests/tap.h"

static inline uint64_t storet_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A fresh directory under $TMPDIR (or /tmp) into out. */
static inline void storet_tmpdir(char *out, size_t n)
{
    const char *base = getenv("TMPDIR");

    snprintf(out, n, "%s/trpc-store-XXXXXX", base && base[0] ? base : "/tmp");
    if (mkdtemp(out) == NULL)
        BAIL_OUT("mkdtemp %s: %s", out, strerror(errno));
}

static inline int storet_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static inline void storet_rmrf(const char *dir)
{
    nftw(dir, storet_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The embedded store in dir; NULL with err printed as a diagnostic on failure. */
static inline struct store *storet_open_file(const char *dir, char *err, size_t errlen)
{
    struct store_opts o = {.data_dir = dir};
    struct store *s = NULL;

    if (store_open(&o, &s, err, errlen) != 0)
        return NULL;
    return s;
}

/* A Redis store at url with the key prefix, origin and password given; NULL on failure (err). */
static inline struct store *storet_open_redis(const char *url, const char *prefix, uint64_t origin, const char *password, char *err,
                                              size_t errlen)
{
    struct store_opts o = {.url = url,
                           .prefix = prefix,
                           .origin_id = origin,
                           .password = password,
                           .connect_timeout_ms = 1000,
                           .command_timeout_ms = 1000};
    struct store *s = NULL;

    if (store_open(&o, &s, err, errlen) != 0)
        return NULL;
    return s;
}

/* Records seen by store_list, as "key=value" lines joined by ';' (values are text in the tests). */
struct storet_seen {
    char text[8192];
    int n;
};

static inline int storet_collect(void *arg, const char *key, const void *val, size_t len)
{
    struct storet_seen *seen = arg;
    size_t used = strlen(seen->text);

    snprintf(seen->text + used, sizeof(seen->text) - used, "%s%s=%.*s", seen->n ? ";" : "", key, (int)len, (const char *)val);
    seen->n++;
    return 0;
}

/* Whether the store holds ns/key with exactly the text value. */
static inline int storet_has(struct store *s, const char *ns, const char *key, const char *want)
{
    void *val = NULL;
    size_t len = 0;
    int match;

    if (store_get(s, ns, key, &val, &len) != 0)
        return 0;
    match = len == strlen(want) && memcmp(val, want, len) == 0;
    free(val);
    return match;
}

/* Changes reported by store_poll_changes: "ns/key;" each, and the reread events counted apart. */
struct storet_changes {
    char text[4096];
    int n, rereads;
};

static inline void storet_change(void *arg, const char *ns, const char *key)
{
    struct storet_changes *c = arg;
    size_t used = strlen(c->text);

    if (ns == NULL) {
        c->rereads++;
        return;
    }
    snprintf(c->text + used, sizeof(c->text) - used, "%s/%s;", ns, key);
    c->n++;
}

/* Polls the watch fd of s for up to ms and collects what it reports, until "ns/key;" `until` has
 * been seen (or, until NULL, a reread event). Returns whether it was. */
static inline int storet_wait_change(struct store *s, struct storet_changes *c, const char *until, int ms)
{
    uint64_t end = storet_now_ms() + (uint64_t)ms;

    for (;;) {
        struct pollfd pfd = {.fd = store_watch_fd(s), .events = POLLIN};
        uint64_t now = storet_now_ms();

        if (until ? strstr(c->text, until) != NULL : c->rereads > 0)
            return 1;
        if (now >= end)
            return 0;
        if (poll(&pfd, 1, (int)(end - now)) == 1 && store_poll_changes(s, storet_change, c) < 0)
            return 0;
    }
}

#endif
