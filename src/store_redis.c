/*
 * The Redis store, through hiredis (0.14 on Debian 12: no TLS, no cluster).
 *
 * Layout: namespace NS is the hash <prefix>NS, a record one field of it. Every write is one
 * MULTI/EXEC holding the HSET (or HDEL) and a PUBLISH on <prefix>changes of "<origin> <ns> <key>"
 * per record, so a notice never goes out for a write that did not happen, and the records of a
 * batch change together.
 *
 * Two blocking connections, both with the command timeout as their socket timeout: one for
 * commands, one SUBSCRIBEd to the change channel, which is only read when poll says it is readable
 * (so it never blocks). The watch fd is an epoll set holding the subscriber socket and an eventfd;
 * the eventfd carries the "reread everything" event after a reconnect, so the caller's fd stays the
 * same while the sockets come and go.
 *
 * Down: any connection-level failure of either connection (I/O error, EOF, timeout) drops both,
 * counts an outage, and from then on every call fails at once with -ENOTCONN until store_tick has
 * reconnected both (AUTH, SELECT, SUBSCRIBE again).
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include <hiredis.h>

#include "src/store_internal.h"

#define CONNECT_TIMEOUT_MS 2000
#define COMMAND_TIMEOUT_MS 2000
#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     5000
#define PING_INTERVAL_MS   3000
#define POLL_READS_MAX     64 /* socket reads per store_poll_changes, so that one call stays short */

struct redis_be {
    char host[STORE_HOST_MAX];
    int port;
    unsigned db;
    char prefix[STORE_PREFIX_MAX + 1];
    char chan[STORE_PREFIX_MAX + 16];
    char *password; /* NULL: none */
    struct timeval connect_tv, command_tv;
    uint64_t origin;
    redisContext *cmd, *sub;
    int epfd, evfd;
    bool up;
    uint64_t backoff_ms, retry_at_ms, ping_at_ms; /* retry_at_ms 0: not scheduled yet */
    uint64_t rng;
    char cause[STORE_ERR_MAX]; /* why it went down */
};

static struct timeval tv_of(unsigned ms, unsigned dflt)
{
    ms = ms ? ms : dflt;
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static void drop(struct redis_be *r)
{
    if (r->sub != NULL) {
        epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->sub->fd, NULL);
        redisFree(r->sub);
    }
    if (r->cmd != NULL)
        redisFree(r->cmd);
    r->sub = NULL;
    r->cmd = NULL;
}

/* A connection failed: the store is down until store_tick reconnects. Returns err. */
static int go_down(struct store *s, int err)
{
    struct redis_be *r = s->be;
    size_t skip = strlen("store : ") + strlen(s->location);

    /* The message without its "store LOCATION: ", which check_up's message repeats. */
    if (strlen(s->last_error) < skip)
        skip = 0;
    memcpy(r->cause, s->last_error + skip, strlen(s->last_error + skip) + 1);
    drop(r);
    if (r->up)
        s->outages++;
    r->up = false;
    r->backoff_ms = BACKOFF_MIN_MS;
    r->retry_at_ms = 0;
    return err;
}

/* A failure of context c (the reply was NULL): a timeout or a lost connection. */
static int ctx_fail(struct store *s, redisContext *c, const char *what)
{
    bool timeout =
        c->err == REDIS_ERR_IO && (strcmp(c->errstr, strerror(EAGAIN)) == 0 || strcmp(c->errstr, strerror(ETIMEDOUT)) == 0);

    if (timeout)
        return store__fail(s, -ETIMEDOUT, "%s: timed out", what);
    return store__fail(s, -ENOTCONN, "%s: %s", what, c->err ? c->errstr : "connection lost");
}

/* Runs one command; *reply is NULL on failure (last_error set, the context unusable when the
 * failure was the connection's). A Redis error reply is returned as -EIO, or -EACCES for
 * authentication. */
static int run(struct store *s, redisContext *c, redisReply **reply, int argc, const char **argv, const size_t *lens)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, lens);

    *reply = NULL;
    if (rep == NULL)
        return ctx_fail(s, c, argv[0]);
    if (rep->type == REDIS_REPLY_ERROR) {
        bool auth = strncmp(rep->str, "NOAUTH", 6) == 0 || strncmp(rep->str, "WRONGPASS", 9) == 0 || strcmp(argv[0], "AUTH") == 0;
        int ret = store__fail(s, auth ? -EACCES : -EIO, "%s: %s%s", argv[0], rep->str,
                              auth ? " (the password comes from the config file or " STORE_PASSWORD_ENV ")" : "");

        freeReplyObject(rep);
        return ret;
    }
    *reply = rep;
    return 0;
}

/* Runs a command whose reply only matters for being no error. */
static int run_ok(struct store *s, redisContext *c, int argc, const char **argv)
{
    redisReply *rep;
    int ret = run(s, c, &rep, argc, argv, NULL);

    if (ret == 0)
        freeReplyObject(rep);
    return ret;
}

/* Connects one context: AUTH, then SELECT and PING for commands, or SUBSCRIBE for the notices. */
static int connect_one(struct store *s, redisContext **out, bool subscriber)
{
    struct redis_be *r = s->be;
    char db[16];
    redisContext *c = redisConnectWithTimeout(r->host, r->port, r->connect_tv);
    int ret = 0;

    if (c == NULL)
        return store__fail(s, -ENOMEM, "out of memory");
    if (c->err)
        ret = ctx_fail(s, c, "cannot connect");
    else if (redisSetTimeout(c, r->command_tv) != REDIS_OK)
        ret = ctx_fail(s, c, "cannot set the command timeout");
    if (ret == 0 && r->password != NULL)
        ret = run_ok(s, c, 2, (const char *[]){"AUTH", r->password});
    snprintf(db, sizeof(db), "%u", r->db);
    if (ret == 0 && subscriber)
        ret = run_ok(s, c, 2, (const char *[]){"SUBSCRIBE", r->chan});
    if (ret == 0 && !subscriber && r->db != 0)
        ret = run_ok(s, c, 2, (const char *[]){"SELECT", db});
    /* Without AUTH, this is where a server with a password says NOAUTH. */
    if (ret == 0 && !subscriber)
        ret = run_ok(s, c, 1, (const char *[]){"PING"});
    if (ret) {
        redisFree(c);
        return ret;
    }
    *out = c;
    return 0;
}

static int connect_all(struct store *s)
{
    struct redis_be *r = s->be;
    struct epoll_event ev = {.events = EPOLLIN};
    int ret;

    assert(r->cmd == NULL);
    assert(r->sub == NULL);
    ret = connect_one(s, &r->cmd, false);
    if (ret == 0)
        ret = connect_one(s, &r->sub, true);
    if (ret == 0 && epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->sub->fd, &ev) == -1)
        ret = store__fail(s, -errno, "epoll_ctl: %s", strerror(errno));
    if (ret)
        drop(r);
    return ret;
}

/* Fails fast while down. */
static int check_up(struct store *s)
{
    struct redis_be *r = s->be;

    if (r->up)
        return 0;
    return store__fail(s, -ENOTCONN, "down (%s); changes are refused until it is back", r->cause);
}

/* Runs a command on the command connection; a connection failure takes the store down. */
static int command(struct store *s, redisReply **reply, int argc, const char **argv, const size_t *lens)
{
    struct redis_be *r = s->be;
    int ret = check_up(s);

    if (ret)
        return ret;
    ret = run(s, r->cmd, reply, argc, argv, lens);
    if (ret && r->cmd->err)
        go_down(s, ret);
    return ret;
}

static int redis_get(struct store *s, const char *ns, const char *key, void **val, size_t *len)
{
    struct redis_be *r = s->be;
    char hash[STORE_PREFIX_MAX + STORE_NS_MAX + 1];
    redisReply *rep;
    uint8_t *copy;
    int ret;

    snprintf(hash, sizeof(hash), "%s%s", r->prefix, ns);
    ret = command(s, &rep, 3, (const char *[]){"HGET", hash, key}, NULL);
    if (ret)
        return ret;
    if (rep->type != REDIS_REPLY_STRING) {
        ret = rep->type == REDIS_REPLY_NIL ? store__fail(s, -ENOENT, "no record %s/%s", ns, key)
                                           : store__fail(s, -EIO, "HGET: unexpected reply type %d", rep->type);
        freeReplyObject(rep);
        return ret;
    }
    copy = malloc(rep->len + 1);
    if (copy == NULL) {
        freeReplyObject(rep);
        return store__fail(s, -ENOMEM, "out of memory");
    }
    memcpy(copy, rep->str, rep->len);
    copy[rep->len] = '\0';
    *val = copy;
    *len = rep->len;
    freeReplyObject(rep);
    return 0;
}

/*
 * One MULTI/EXEC: the write command (argv), then a notice per key. Pipelined: every command is
 * appended, then every reply read. Returns 0 with EXEC's first result in *result (HSET/HDEL's count).
 */
static int transact(struct store *s, const char *ns, int argc, const char **argv, const size_t *lens, size_t nkeys,
                    const char *const keys[], long long *result)
{
    struct redis_be *r = s->be;
    char note[32 + STORE_NS_MAX + STORE_KEY_MAX];
    redisReply *rep = NULL;
    size_t i, nreplies = nkeys + 3;
    int ret = check_up(s);

    if (ret)
        return ret;
    ret = redisAppendCommand(r->cmd, "MULTI") != REDIS_OK || redisAppendCommandArgv(r->cmd, argc, argv, lens) != REDIS_OK;
    for (i = 0; ret == 0 && i < nkeys; i++) {
        snprintf(note, sizeof(note), "%llu %s %s", (unsigned long long)r->origin, ns, keys[i]);
        ret = redisAppendCommand(r->cmd, "PUBLISH %s %s", r->chan, note) != REDIS_OK;
    }
    if (ret == 0)
        ret = redisAppendCommand(r->cmd, "EXEC") != REDIS_OK;
    if (ret)
        return go_down(s, store__fail(s, -ENOMEM, "out of memory"));
    /* Every reply is read, even after an error one, so the connection stays in step. */
    for (i = 0; i < nreplies; i++) {
        if (redisGetReply(r->cmd, (void **)&rep) != REDIS_OK)
            return go_down(s, ctx_fail(s, r->cmd, argv[0]));
        if (rep->type == REDIS_REPLY_ERROR && ret == 0)
            ret = store__fail(s, -EIO, "%s: %s", i == nreplies - 1 ? "EXEC" : argv[0], rep->str);
        if (i == nreplies - 1 && ret == 0) {
            if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 && rep->element[0]->type == REDIS_REPLY_ERROR)
                ret = store__fail(s, -EIO, "%s: %s", argv[0], rep->element[0]->str);
            else if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 || rep->element[0]->type != REDIS_REPLY_INTEGER)
                ret = store__fail(s, -EIO, "EXEC: unexpected reply");
            else
                *result = rep->element[0]->integer;
        }
        freeReplyObject(rep);
    }
    return ret;
}

static int redis_put_batch(struct store *s, const char *ns, size_t n, const char *const keys[], const void *const vals[],
                           const size_t lens[])
{
    struct redis_be *r = s->be;
    char hash[STORE_PREFIX_MAX + STORE_NS_MAX + 1];
    const char **argv = malloc((2 + 2 * n) * sizeof(*argv));
    size_t *argl = malloc((2 + 2 * n) * sizeof(*argl));
    long long added;
    size_t i;
    int ret;

    if (argv == NULL || argl == NULL) {
        ret = store__fail(s, -ENOMEM, "out of memory");
        goto out;
    }
    snprintf(hash, sizeof(hash), "%s%s", r->prefix, ns);
    argv[0] = "HSET";
    argl[0] = 4;
    argv[1] = hash;
    argl[1] = strlen(hash);
    for (i = 0; i < n; i++) {
        argv[2 + 2 * i] = keys[i];
        argl[2 + 2 * i] = strlen(keys[i]);
        argv[3 + 2 * i] = lens[i] ? vals[i] : "";
        argl[3 + 2 * i] = lens[i];
    }
    ret = transact(s, ns, (int)(2 + 2 * n), argv, argl, n, keys, &added);
out:
    free(argv);
    free(argl);
    return ret;
}

static int redis_del(struct store *s, const char *ns, const char *key)
{
    struct redis_be *r = s->be;
    char hash[STORE_PREFIX_MAX + STORE_NS_MAX + 1];
    long long removed = 0;
    int ret;

    snprintf(hash, sizeof(hash), "%s%s", r->prefix, ns);
    ret = transact(s, ns, 3, (const char *[]){"HDEL", hash, key}, NULL, 1, &key, &removed);
    if (ret == 0 && removed == 0)
        ret = store__fail(s, -ENOENT, "no record %s/%s", ns, key);
    return ret;
}

/* Fields that could not have come from this store (a NUL, too long) are skipped. */
static int redis_list(struct store *s, const char *ns, store_list_fn fn, void *arg)
{
    struct redis_be *r = s->be;
    char hash[STORE_PREFIX_MAX + STORE_NS_MAX + 1], key[STORE_KEY_MAX + 1];
    redisReply *rep;
    size_t i;
    int ret;

    snprintf(hash, sizeof(hash), "%s%s", r->prefix, ns);
    ret = command(s, &rep, 2, (const char *[]){"HGETALL", hash}, NULL);
    if (ret)
        return ret;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0) {
        freeReplyObject(rep);
        return store__fail(s, -EIO, "HGETALL: unexpected reply");
    }
    for (i = 0; ret == 0 && i < rep->elements; i += 2) {
        redisReply *k = rep->element[i], *v = rep->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len == 0 || k->len > STORE_KEY_MAX ||
            memchr(k->str, '\0', k->len) != NULL || v->len > STORE_VALUE_MAX)
            continue;
        memcpy(key, k->str, k->len);
        key[k->len] = '\0';
        ret = fn(arg, key, v->str, v->len);
    }
    freeReplyObject(rep);
    return ret;
}

static int redis_watch_fd(const struct store *s)
{
    const struct redis_be *r = s->be;

    return r->epfd;
}

/* Reports a published "<origin> <ns> <key>" unless it is ours or malformed. */
static int notice(struct redis_be *r, const redisReply *m, store_change_fn fn, void *arg)
{
    char text[32 + STORE_NS_MAX + STORE_KEY_MAX], *ns, *key, *end;
    const redisReply *p;
    unsigned long long origin;

    if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 || m->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(m->element[0]->str, "message") != 0)
        return 0;
    p = m->element[2];
    if (p->type != REDIS_REPLY_STRING || p->len >= sizeof(text) || memchr(p->str, '\0', p->len) != NULL)
        return 0;
    memcpy(text, p->str, p->len);
    text[p->len] = '\0';
    errno = 0;
    origin = strtoull(text, &end, 10);
    if (errno || *end != ' ' || origin == r->origin)
        return 0;
    ns = end + 1;
    key = strchr(ns, ' ');
    if (key == NULL || key == ns || key[1] == '\0')
        return 0;
    *key++ = '\0';
    fn(arg, ns, key);
    return 1;
}

static int redis_poll_changes(struct store *s, store_change_fn fn, void *arg)
{
    struct redis_be *r = s->be;
    uint64_t v;
    int n = 0, reads;

    if (read(r->evfd, &v, sizeof(v)) == sizeof(v)) {
        fn(arg, NULL, NULL);
        n++;
    }
    for (reads = 0; r->up && reads < POLL_READS_MAX; reads++) {
        struct pollfd pfd = {.fd = r->sub->fd, .events = POLLIN};
        void *rep;

        if (poll(&pfd, 1, 0) != 1)
            break;
        if (redisBufferRead(r->sub) != REDIS_OK)
            return go_down(s, ctx_fail(s, r->sub, "change channel"));
        while (redisGetReplyFromReader(r->sub, &rep) == REDIS_OK && rep != NULL) {
            n += notice(r, rep, fn, arg);
            freeReplyObject(rep);
        }
        if (r->sub->err)
            return go_down(s, ctx_fail(s, r->sub, "change channel"));
    }
    return n;
}

/* The next wait: from the upper half of the backoff, so that brokers that lost the same Redis at
 * the same moment do not all come back at once. */
static uint64_t jittered(struct redis_be *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->backoff_ms / 2 + r->rng % (r->backoff_ms / 2 + 1);
}

static int redis_tick(struct store *s, uint64_t now_ms)
{
    struct redis_be *r = s->be;
    uint64_t one = 1;
    redisReply *rep;
    int ret;

    if (r->up) {
        if (now_ms < r->ping_at_ms)
            return 0;
        r->ping_at_ms = now_ms + PING_INTERVAL_MS;
        ret = command(s, &rep, 1, (const char *[]){"PING"}, NULL);
        if (ret == 0)
            freeReplyObject(rep);
        return ret;
    }
    if (r->retry_at_ms == 0)
        r->retry_at_ms = now_ms + jittered(r);
    if (now_ms < r->retry_at_ms)
        return 0;
    ret = connect_all(s);
    if (ret) {
        r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
        r->retry_at_ms = now_ms + jittered(r);
        return ret;
    }
    r->up = true;
    r->ping_at_ms = now_ms + PING_INTERVAL_MS;
    if (write(r->evfd, &one, sizeof(one)) != sizeof(one))
        return store__fail(s, -errno, "eventfd: %s", strerror(errno));
    return 0;
}

static bool redis_up(const struct store *s)
{
    const struct redis_be *r = s->be;

    return r->up;
}

static void redis_close(struct store *s)
{
    struct redis_be *r = s->be;

    drop(r);
    if (r->epfd != -1)
        close(r->epfd);
    if (r->evfd != -1)
        close(r->evfd);
    if (r->password != NULL) {
        explicit_bzero(r->password, strlen(r->password));
        free(r->password);
    }
    free(r);
    s->be = NULL;
}

static const struct store_ops redis_ops = {
    .name = "redis",
    .get = redis_get,
    .put_batch = redis_put_batch,
    .del = redis_del,
    .list = redis_list,
    .watch_fd = redis_watch_fd,
    .poll_changes = redis_poll_changes,
    .tick = redis_tick,
    .up = redis_up,
    .close = redis_close,
};

static int setup(struct store *s, const struct store_url *u, const struct store_opts *o)
{
    struct redis_be *r = s->be;
    struct epoll_event ev = {.events = EPOLLIN};
    const char *pw = o->password ? o->password : getenv(STORE_PASSWORD_ENV);
    const char *prefix = o->prefix ? o->prefix : "trpc:";

    if (strlen(prefix) > STORE_PREFIX_MAX || strchr(prefix, ' ') != NULL)
        return store__fail(s, -EINVAL, "key prefix longer than %d bytes or with a space", STORE_PREFIX_MAX);
    snprintf(r->host, sizeof(r->host), "%s", u->host);
    r->port = u->port;
    r->db = u->db;
    snprintf(r->prefix, sizeof(r->prefix), "%s", prefix);
    snprintf(r->chan, sizeof(r->chan), "%schanges", prefix);
    r->connect_tv = tv_of(o->connect_timeout_ms, CONNECT_TIMEOUT_MS);
    r->command_tv = tv_of(o->command_timeout_ms, COMMAND_TIMEOUT_MS);
    r->origin = o->origin_id;
    while (r->origin == 0)
        if (getrandom(&r->origin, sizeof(r->origin), 0) != sizeof(r->origin))
            return store__fail(s, -errno, "getrandom: %s", strerror(errno));
    r->rng = r->origin | 1;
    r->backoff_ms = BACKOFF_MIN_MS;
    if (pw != NULL && pw[0] != '\0') {
        r->password = strdup(pw);
        if (r->password == NULL)
            return store__fail(s, -ENOMEM, "out of memory");
    }
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->epfd == -1 || r->evfd == -1)
        return store__fail(s, -errno, "epoll or eventfd: %s", strerror(errno));
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) == -1)
        return store__fail(s, -errno, "epoll_ctl: %s", strerror(errno));
    return 0;
}

int store__redis_open(struct store *s, const struct store_url *u, const struct store_opts *o)
{
    struct redis_be *r = calloc(1, sizeof(*r));
    int ret;

    if (r == NULL)
        return store__fail(s, -ENOMEM, "out of memory");
    r->epfd = -1;
    r->evfd = -1;
    s->be = r;
    s->ops = &redis_ops;
    ret = setup(s, u, o);
    if (ret == 0)
        ret = connect_all(s);
    if (ret) {
        redis_close(s);
        s->ops = NULL;
        return ret;
    }
    r->up = true;
    return 0;
}
