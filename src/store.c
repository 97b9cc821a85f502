/*
 * store: the URL, the checks every call makes before its backend sees it, and the dispatch to the
 * embedded (store_file.c) or Redis (store_redis.c) backend.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/store_internal.h"

int store__fail(struct store *s, int err, const char *fmt, ...)
{
    char msg[STORE_ERR_MAX];
    va_list ap;

    assert(err < 0);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A long location may cut the message short: the line stays bounded. */
    if (snprintf(s->last_error, sizeof(s->last_error), "store %s: %s", s->location, msg) < 0)
        s->last_error[0] = '\0';
    return err;
}

/* The URL as it may be printed: whatever stands before an '@' of the authority becomes "***". */
static void redact(const char *url, char *out, size_t outlen)
{
    const char *auth = strstr(url, "://");
    const char *end, *at;

    if (auth == NULL) {
        snprintf(out, outlen, "%s", url);
        return;
    }
    auth += 3;
    end = auth + strcspn(auth, "/");
    at = memrchr(auth, '@', (size_t)(end - auth));
    if (at == NULL)
        snprintf(out, outlen, "%s", url);
    else
        snprintf(out, outlen, "%.*s***%s", (int)(auth - url), url, at);
}

/* Reads decimal digits at *p into *v (at most max); advances *p. */
static int parse_uint(const char **p, unsigned max, unsigned *v)
{
    unsigned long n = 0;
    const char *q = *p;

    if (*q < '0' || *q > '9')
        return -EINVAL;
    while (*q >= '0' && *q <= '9') {
        n = n * 10 + (unsigned long)(*q++ - '0');
        if (n > max)
            return -EINVAL;
    }
    *p = q;
    *v = (unsigned)n;
    return 0;
}

static int parse_redis(const char *url, struct store_url *u, char *err, size_t errlen)
{
    const char *p = url + strlen("redis://"), *host = p;
    size_t hostlen;
    unsigned port = STORE_DEFAULT_PORT, db = 0;
    char shown[STORE_ERR_MAX / 2];

    redact(url, shown, sizeof(shown));
    if (memchr(p, '@', strcspn(p, "/")) != NULL) {
        snprintf(err, errlen,
                 "store URL %s: a password in the URL is refused (it would show in the process list); put it in the config "
                 "file or in %s",
                 shown, STORE_PASSWORD_ENV);
        return -EINVAL;
    }
    if (*p == '[') {
        host = ++p;
        p = strchr(p, ']');
        if (p == NULL)
            goto bad;
        hostlen = (size_t)(p++ - host);
    } else {
        hostlen = strcspn(p, ":/");
        p += hostlen;
    }
    if (hostlen == 0 || hostlen >= sizeof(u->host))
        goto bad;
    if (*p == ':') {
        p++;
        if (parse_uint(&p, 65535, &port) || port == 0)
            goto bad;
    }
    if (*p == '/' && p[1] != '\0') {
        p++;
        if (parse_uint(&p, 65535, &db))
            goto bad;
    } else if (*p == '/') {
        p++;
    }
    if (*p != '\0')
        goto bad;
    u->kind = STORE_REDIS;
    memcpy(u->host, host, hostlen);
    u->host[hostlen] = '\0';
    u->port = (uint16_t)port;
    u->db = db;
    return 0;
bad:
    snprintf(err, errlen, "store URL %s: not of the form redis://HOST:PORT[/DB]", shown);
    return -EINVAL;
}

int store__parse_url(const char *url, struct store_url *u, char *err, size_t errlen)
{
    char shown[STORE_ERR_MAX / 2];

    memset(u, 0, sizeof(*u));
    if (url == NULL || url[0] == '\0' || strcmp(url, "file:") == 0) {
        u->kind = STORE_FILE;
        return 0;
    }
    if (strncmp(url, "redis://", strlen("redis://")) == 0)
        return parse_redis(url, u, err, errlen);
    redact(url, shown, sizeof(shown));
    snprintf(err, errlen, "store URL %s: unknown kind of store (file: or redis://HOST:PORT[/DB])", shown);
    return -EINVAL;
}

int store_open(const struct store_opts *o, struct store **out, char *err, size_t errlen)
{
    struct store_url u;
    struct store *s;
    int ret;

    assert(o != NULL);
    assert(out != NULL);
    ret = store__parse_url(o->url, &u, err, errlen);
    if (ret)
        return ret;
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "store: out of memory");
        return -ENOMEM;
    }
    if (u.kind == STORE_FILE) {
        snprintf(s->location, sizeof(s->location), "file:%s/store", o->data_dir ? o->data_dir : "(no data-dir)");
        ret = o->data_dir ? store__file_open(s, o) : store__fail(s, -EINVAL, "no data directory given");
    } else {
        snprintf(s->location, sizeof(s->location), "redis://%s%s%s:%u/%u", strchr(u.host, ':') ? "[" : "", u.host,
                 strchr(u.host, ':') ? "]" : "", u.port, u.db);
        ret = store__redis_open(s, &u, o);
    }
    if (ret) {
        snprintf(err, errlen, "%s", s->last_error);
        free(s);
        return ret;
    }
    assert(s->ops != NULL);
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    s->ops->close(s);
    free(s);
}

static bool ns_ok(const char *ns)
{
    size_t i;

    if (ns == NULL || ns[0] == '\0')
        return false;
    for (i = 0; ns[i] != '\0'; i++)
        if (i >= STORE_NS_MAX || !((ns[i] >= 'a' && ns[i] <= 'z') || (ns[i] >= '0' && ns[i] <= '9') || ns[i] == '_'))
            return false;
    return true;
}

static bool key_ok(const char *key)
{
    return key != NULL && key[0] != '\0' && strnlen(key, STORE_KEY_MAX + 1) <= STORE_KEY_MAX;
}

/* The checks shared by every call that names a record. */
static int check_rec(struct store *s, const char *ns, const char *key)
{
    if (!ns_ok(ns))
        return store__fail(s, -EINVAL, "bad namespace (1 to %d of a-z, 0-9, _)", STORE_NS_MAX);
    if (!key_ok(key))
        return store__fail(s, -EINVAL, "bad key in %s (1 to %d bytes)", ns, STORE_KEY_MAX);
    return 0;
}

int store_get(struct store *s, const char *ns, const char *key, void **val, size_t *len)
{
    int ret = check_rec(s, ns, key);

    assert(val != NULL);
    assert(len != NULL);
    return ret ? ret : s->ops->get(s, ns, key, val, len);
}

int store_put(struct store *s, const char *ns, const char *key, const void *val, size_t len)
{
    return store_put_batch(s, ns, 1, &key, &val, &len);
}

int store_del(struct store *s, const char *ns, const char *key)
{
    int ret = check_rec(s, ns, key);

    return ret ? ret : s->ops->del(s, ns, key);
}

int store_put_batch(struct store *s, const char *ns, size_t n, const char *const keys[], const void *const vals[],
                    const size_t lens[])
{
    size_t i;
    int ret;

    if (n == 0 || n > STORE_BATCH_MAX)
        return store__fail(s, -EINVAL, "a batch holds 1 to %d records, not %zu", STORE_BATCH_MAX, n);
    for (i = 0; i < n; i++) {
        ret = check_rec(s, ns, keys[i]);
        if (ret)
            return ret;
        if (lens[i] > STORE_VALUE_MAX)
            return store__fail(s, -EMSGSIZE, "value of %s/%s is %zu bytes, above the limit of %u", ns, keys[i], lens[i],
                               STORE_VALUE_MAX);
        if (vals[i] == NULL && lens[i] > 0)
            return store__fail(s, -EINVAL, "no value for %s/%s", ns, keys[i]);
    }
    return s->ops->put_batch(s, ns, n, keys, vals, lens);
}

int store_list(struct store *s, const char *ns, store_list_fn fn, void *arg)
{
    assert(fn != NULL);
    if (!ns_ok(ns))
        return store__fail(s, -EINVAL, "bad namespace (1 to %d of a-z, 0-9, _)", STORE_NS_MAX);
    return s->ops->list(s, ns, fn, arg);
}

int store_watch_fd(const struct store *s)
{
    return s->ops->watch_fd(s);
}

int store_poll_changes(struct store *s, store_change_fn fn, void *arg)
{
    assert(fn != NULL);
    return s->ops->poll_changes(s, fn, arg);
}

int store_tick(struct store *s, uint64_t now_ms)
{
    return s->ops->tick(s, now_ms);
}

const char *store_backend_name(const struct store *s)
{
    return s->ops->name;
}

const char *store_location(const struct store *s)
{
    return s->location;
}

bool store_up(const struct store *s)
{
    return s->ops->up(s);
}

const char *store_last_error(const struct store *s)
{
    return s->last_error;
}

uint64_t store_outages(const struct store *s)
{
    return s->outages;
}
