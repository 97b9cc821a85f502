/*
 * What store.c shares with its backends (store_file.c, store_redis.c) and the tests: the handle, the
 * backend operations, the parsed URL and the embedded file codec. store.c checks every argument
 * before it reaches a backend, so the backends assert instead.
 */
#ifndef TRPC_SRC_STORE_INTERNAL_H
#define TRPC_SRC_STORE_INTERNAL_H

#include <stdarg.h>

#include "src/store.h"

#define STORE_HOST_MAX     256
#define STORE_LOCATION_MAX 320
#define STORE_DEFAULT_PORT 6379

struct store;

struct store_ops {
    const char *name;
    int (*get)(struct store *s, const char *ns, const char *key, void **val, size_t *len);
    int (*put_batch)(struct store *s, const char *ns, size_t n, const char *const keys[], const void *const vals[],
                     const size_t lens[]);
    int (*del)(struct store *s, const char *ns, const char *key);
    int (*list)(struct store *s, const char *ns, store_list_fn fn, void *arg);
    int (*watch_fd)(const struct store *s);
    int (*poll_changes)(struct store *s, store_change_fn fn, void *arg);
    int (*tick)(struct store *s, uint64_t now_ms);
    bool (*up)(const struct store *s);
    void (*close)(struct store *s);
};

struct store {
    const struct store_ops *ops;
    void *be; /* the backend's state */
    char location[STORE_LOCATION_MAX];
    char last_error[STORE_ERR_MAX];
    uint64_t outages;
};

enum store_kind { STORE_FILE, STORE_REDIS };

struct store_url {
    enum store_kind kind;
    char host[STORE_HOST_MAX];
    uint16_t port;
    unsigned db;
};

/* Parses o->url; on error err names the URL (without a password it may carry). */
int store__parse_url(const char *url, struct store_url *u, char *err, size_t errlen);

/* Sets s->last_error to "store LOCATION: message" and returns err (a negative errno). */
__attribute__((format(printf, 3, 4))) int store__fail(struct store *s, int err, const char *fmt, ...);

int store__file_open(struct store *s, const struct store_opts *o);
int store__redis_open(struct store *s, const struct store_url *u, const struct store_opts *o);

/*
 * The embedded file codec. store__file_parse checks a whole file image and calls fn per record in
 * file order (strictly increasing keys); it returns 0, a non-zero return of fn, or -EINVAL (err
 * says what is wrong, and where) for anything but a file store__file_encode could have written.
 * Keys handed to fn are NUL-terminated copies valid during the call.
 */
#define STORE_FILE_HDR_BYTES 32
#define STORE_FILE_VERSION   1
#define STORE_FILE_MAX       (64u << 20)

struct store_rec {
    char *key;
    uint8_t *val; /* in the same allocation as key */
    uint32_t len;
};

typedef int (*store_rec_fn)(void *arg, const char *key, const uint8_t *val, uint32_t len);
int store__file_parse(const uint8_t *buf, size_t len, store_rec_fn fn, void *arg, char *err, size_t errlen);

/* The image of n records sorted by key (malloc'd into *out), or -EFBIG past STORE_FILE_MAX. */
int store__file_encode(const struct store_rec *recs, size_t n, uint8_t **out, size_t *outlen);

#endif
