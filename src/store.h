/*
 * store: where the broker keeps its configuration (settings now; streams, groups, users later).
 * Every call is made from the control thread only; nothing here locks. Calls block, each bounded:
 * by the connect and command timeouts for Redis, by the local disk (write, fsync, rename) for the
 * embedded files. Messages never go through the store.
 *
 * Records: a namespace (ns: 1 to STORE_NS_MAX bytes of [a-z0-9_]) and a key (1 to STORE_KEY_MAX
 * bytes, no NUL) name an opaque value of at most STORE_VALUE_MAX bytes.
 *
 * Backends, chosen by the URL of the options:
 *   NULL, "" or "file:"      embedded files under data_dir/store/, one per namespace, each replaced
 *                            whole and crash safe (the format is at the top of src/store_file.c);
 *                            read into memory at open, reads are served from memory.
 *   redis://HOST:PORT[/DB]   Redis through hiredis: a hash <prefix><ns> per namespace, and a second
 *                            connection subscribed to <prefix>changes, on which every write
 *                            publishes "<origin> <ns> <key>" so that brokers sharing one Redis see
 *                            each other's changes (store_watch_fd, store_poll_changes).
 *
 * Errors: functions return 0 (or a count) or a negative errno; store_last_error() then says why in
 * one line naming the store. -ENOENT: no such record. -EINVAL: a bad namespace, key or argument.
 * -EMSGSIZE: a value above STORE_VALUE_MAX. -ENOTCONN: Redis is down (until store_tick reconnects;
 * every read and write fails fast meanwhile, the caller keeps the state it last read and refuses
 * changes). -ETIMEDOUT: a Redis command outlived its timeout (a write may or may not have happened;
 * the store counts as down). -EIO: Redis answered with an error or the disk failed.
 */
#ifndef TRPC_SRC_STORE_H
#define TRPC_SRC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_NS_MAX     32
#define STORE_KEY_MAX    255
#define STORE_VALUE_MAX  (1u << 20)
#define STORE_BATCH_MAX  1024
#define STORE_ERR_MAX    256
#define STORE_PREFIX_MAX 64

/* The environment variable read for the Redis password when the options carry none. */
#define STORE_PASSWORD_ENV "TRPC_STORE_PASSWORD"

struct store;

struct store_opts {
    const char *url;      /* see above; a URL carrying a password is refused */
    const char *data_dir; /* embedded: the store lives in data_dir/store/ (created) */
    const char *prefix;   /* Redis: every key starts with it; NULL: "trpc:" */
    /* Redis AUTH. NULL: $TRPC_STORE_PASSWORD if set, else none. The config file is the other
     * source (its caller passes it here); a command line alone never carries it. */
    const char *password;
    unsigned connect_timeout_ms; /* 0: 2000 */
    unsigned command_timeout_ms; /* 0: 2000 */
    uint64_t origin_id;          /* this broker in change notices; 0: a random one */
};

/*
 * Opens the store, trying once. On failure *out is untouched and err holds one line naming the store
 * and the error ("store redis://127.0.0.1:6379/0: cannot connect: Connection refused"). Waiting for
 * a store that is not up yet (the broker's store-timeout) is the caller's loop: retry on -ENOTCONN
 * and -ETIMEDOUT; -EINVAL (bad options or a damaged file), -EACCES (refused password), -EBUSY
 * (another process has the embedded store open) and -EIO will not get better by waiting.
 */
int store_open(const struct store_opts *o, struct store **out, char *err, size_t errlen);
void store_close(struct store *s);

/* Copies the value into a malloc'd buffer (*val, freed by the caller; one spare NUL byte after the
 * value, not counted in *len). -ENOENT when absent. */
int store_get(struct store *s, const char *ns, const char *key, void **val, size_t *len);
int store_put(struct store *s, const char *ns, const char *key, const void *val, size_t len);
/* -ENOENT when absent. */
int store_del(struct store *s, const char *ns, const char *key);

/* Writes n (1 to STORE_BATCH_MAX) records at once: all of them or none. A key given twice keeps its
 * last value. */
int store_put_batch(struct store *s, const char *ns, size_t n, const char *const keys[], const void *const vals[],
                    const size_t lens[]);

/* Calls fn for every record of ns (in key order for the embedded store, in Redis's order otherwise).
 * fn must not write to the store. A non-zero return from fn stops the walk and is returned.
 * Returns 0 or a negative errno. */
typedef int (*store_list_fn)(void *arg, const char *key, const void *val, size_t len);
int store_list(struct store *s, const char *ns, store_list_fn fn, void *arg);

/*
 * Changes made by other brokers. store_watch_fd gives a descriptor to poll for reading (-1 for the
 * embedded store, which nobody else writes); it stays the same for the life of the store, across
 * reconnects. When it is readable, store_poll_changes reads what arrived, without blocking, and
 * calls fn once per record changed by another origin; ns NULL (and key NULL) means everything may
 * have changed (the store was down, or the notices overflowed): reread all. Returns how many calls
 * it made, or a negative errno (the store went down; the reread event comes once it is back).
 */
typedef void (*store_change_fn)(void *arg, const char *ns, const char *key);
int store_watch_fd(const struct store *s);
int store_poll_changes(struct store *s, store_change_fn fn, void *arg);

/*
 * The control thread calls this periodically (every 100 ms or so) with a monotonic clock. While
 * Redis is down it reconnects, at most once per call, after a backoff (100 ms doubling to 5 s, each
 * wait drawn from its upper half); once back, the watch fd turns readable with the reread event.
 * While up it checks the connection with a PING every few seconds. Never sleeps. Returns 0, or the
 * error of a failed attempt.
 */
int store_tick(struct store *s, uint64_t now_ms);

const char *store_backend_name(const struct store *s); /* "file" or "redis" */
const char *store_location(const struct store *s);     /* file:DIR or redis://HOST:PORT/DB, no password */
bool store_up(const struct store *s);
const char *store_last_error(const struct store *s); /* "" when none yet */
uint64_t store_outages(const struct store *s);       /* times the store went down while open */

#endif
