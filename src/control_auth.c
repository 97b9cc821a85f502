/*
 * control_auth: the control thread's side of authentication (auth.h, session_auth.c).
 *
 * A CONNECT comes as CONTROL_AUTH. The store lookups run here (they may block on Redis, bounded by
 * its timeouts); the password hash, tens of milliseconds of one CPU and 19 MiB by design, runs on
 * a worker thread of its own, so that a storm of logins delays neither the admin API nor, above
 * all, the cores. Its queue is bounded (auth-queue): a CONNECT beyond it is answered at once
 * with UNAVAILABLE "try again", never left waiting. The worker hands each verdict back here
 * (CONTROL_AUTH_DONE), where the permissions are compiled and the answer goes to the session's
 * core.
 *
 * Every failure gets the same answer (AUTH_FAILED "authentication failed") and, for a password,
 * the same work: an unknown user is hashed against a dummy, so that neither the answer nor its
 * time tells which names exist. The log says why, with the peer; the password never appears.
 * Guessing is slowed on two keys: an address and a user name from it (AUTH_FREE_FAILS failures
 * free), and the address alone (AUTH_FREE_FAILS_ADDR: one spraying many names). Past them, its
 * next attempt is answered only after a delay that doubles with each failure, up to
 * AUTH_DELAY_MAX_NS; a key is forgotten after AUTH_FORGET_NS without failures, and a success
 * clears only its own (address, user) key, so that logging in with one's own account does not
 * reset the count of guesses at others. One address has at most a quarter of auth-queue password
 * logins waiting, so that it cannot shut the others out.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "src/admin.h"
#include "src/admin_api.h"
#include "src/auth.h"
#include "src/control.h"
#include "src/core.h"
#include "src/log.h"
#include "src/store.h"

#define AUTH_DELAYED_MAX     1024
#define AUTH_WORKER_NICE     19
#define AUTH_WAIT_MAX_NS     (3000 * 1000000ull) /* a login that waited longer is told to try again */
#define AUTH_BUSY_SPARE_CPUS 1.0                 /* less to spare than this: busy (half on one CPU) */
#define AUTH_BUSY_SHARE_PCT  10                  /* of one CPU, the hashing worker's most when busy */
#define AUTH_REST_MAX_NS     (1000 * 1000000ull)
#define AUTH_PENALTY_SLOTS   4096 /* source addresses remembered */
#define AUTH_FREE_FAILS      3
#define AUTH_FREE_FAILS_ADDR 10
#define PENALTY_KEY_MAX      (48 + 1 + AUTH_NAME_MAX + 1) /* "ADDR USER" */
#define AUTH_DELAY_MIN_NS    (100 * 1000000ull)
#define AUTH_DELAY_MAX_NS    (10 * 1000000000ull)
#define AUTH_FORGET_NS       (600 * 1000000000ull)

/* What every client whose credentials fail is told: the same words whatever failed. */
static const char failed_msg[] = "bad credentials";
/* Credentials missing altogether say nothing of any user. */
static const char missing_msg[] = "this broker needs credentials: a user and password, a token, or a client certificate";

struct auth_job {
    struct auth_ask *ask;
    char *encoded; /* NULL: no such user (or no password): the dummy hash, then failure */
    json_t *rec;
    char user[AUTH_NAME_MAX + 1];
    const char *why; /* when it fails before the hash: for the log */
    int result;      /* the worker's: 0, -EACCES, ..., -ETIMEDOUT: waited too long, not hashed */
    uint64_t queued_ns;
    char rehash[AUTH_HASH_MAX];
};

struct penalty {
    char key[PENALTY_KEY_MAX]; /* "ADDR" or "ADDR USER"; "" free */
    uint32_t fails;
    uint32_t inflight; /* ADDR: password logins with the worker */
    uint64_t last_ns;
};

struct delayed {
    struct delayed *next;
    uint64_t due_ns;
    struct auth_ask *ask;
};

/* A line logged at most once a second, with the count of those held back since the last. */
struct line_limit {
    uint64_t logged_ns;
    uint64_t quiet;
};

/* Whether a line goes now; *held is how many did not since the last that went. */
static bool line_due(struct line_limit *l, uint64_t *held)
{
    uint64_t now = uring_now_ns();

    if (now < l->logged_ns + 1000000000ull) {
        l->quiet++;
        return false;
    }
    *held = l->quiet;
    l->logged_ns = now;
    l->quiet = 0;
    return true;
}

struct control_auth {
    pthread_t worker;
    bool worker_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct auth_job **queue;   /* [cap], a ring */
    unsigned cap, head, count; /* under mu */
    struct penalty pen[AUTH_PENALTY_SLOTS];
    struct delayed *delayed;
    unsigned ndelayed;
    struct line_limit busy_lines;   /* busy's */
    struct line_limit bearer_lines; /* control_auth_bearer's */
    /* The worker's own: /proc/stat's idle and total ticks, the time and its own CPU time at its
     * last look (pace_rest). */
    unsigned long long pace_idle, pace_total;
    uint64_t pace_ns, pace_own_ns;
    unsigned ncpu;
};

void auth_ask_free(struct auth_ask *a)
{
    if (a == NULL)
        return;
    if (a->call != NULL) /* unanswered: the broker stops (admin_api_fail does not need ctl) */
        admin_api_fail(NULL, a->call, "SHUTTING_DOWN", "the broker is stopping");
    OPENSSL_cleanse(a->password, sizeof(a->password));
    OPENSSL_cleanse(a->token, sizeof(a->token));
    free(a);
}

static void job_free(struct auth_job *j)
{
    auth_ask_free(j->ask);
    free(j->encoded);
    json_decref(j->rec);
    free(j);
}

/* ---- answers ----------------------------------------------------------------------------------- */

static void answer(struct control *ctl, struct auth_ask *a, int code, const char *msg, struct auth_perms *perms,
                   const char *token_id)
{
    struct uring_xmsg m = {.type = ADMIN_MB_AUTH};
    struct auth_answer *r;

    if (a->call != NULL) {
        struct admin_call *call = a->call;

        a->call = NULL;
        control_dash_login_done(ctl, call, a, code, msg, perms);
        return;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        auth_perms_unref(perms);
        log_error(LOG_NO_CORE, "auth: out of memory answering client_id=%" PRIu64, a->client_id);
        return; /* the client waits until it gives up: nothing better to do without memory */
    }
    r->slot = a->slot;
    r->gen = a->gen;
    r->code = code;
    snprintf(r->msg, sizeof(r->msg), "%s", msg != NULL ? msg : "");
    r->perms = perms;
    if (token_id != NULL)
        snprintf(r->token_id, sizeof(r->token_id), "%s", token_id);
    m.ptr = r;
    if (!control_post_core(ctl, a->core, &m)) {
        auth_perms_unref(perms);
        free(r);
    }
}

/* The source address of a peer ("1.2.3.4:5678", "[::1]:5678"), without its port. */
static void peer_ip(const char *peer, char *ip, size_t len)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon != NULL ? (size_t)(colon - peer) : strlen(peer);

    if (n >= len)
        n = len - 1;
    memcpy(ip, peer, n);
    ip[n] = '\0';
}

static struct penalty *penalty_find(struct control_auth *st, const char *key, bool create, uint64_t now)
{
    uint32_t h = 2166136261u;
    struct penalty *victim = NULL;

    for (const char *p = key; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    /* A probe window of 8: the entry, else a free one, else the stalest with no login waiting. */
    for (unsigned i = 0; i < 8; i++) {
        struct penalty *e = &st->pen[(h + i) % AUTH_PENALTY_SLOTS];

        if (e->key[0] != '\0' && strcmp(e->key, key) == 0) {
            if (now > e->last_ns + AUTH_FORGET_NS)
                e->fails = 0;
            return e;
        }
        if (e->inflight == 0 && (victim == NULL || e->key[0] == '\0' || (victim->key[0] != '\0' && e->last_ns < victim->last_ns)))
            victim = e;
    }
    if (!create || victim == NULL)
        return NULL;
    snprintf(victim->key, sizeof(victim->key), "%s", key);
    victim->fails = 0;
    victim->last_ns = now;
    return victim;
}

/* The keys of an attempt: its address, and its address with the user it names ("" for none). */
static void penalty_keys(const struct auth_ask *a, char *addr, size_t alen, char *pair, size_t plen)
{
    peer_ip(a->peer, addr, alen);
    snprintf(pair, plen, "%s %s", addr, a->kind == AUTH_KIND_PASSWORD ? a->user : "");
}

static uint64_t due_of(struct control_auth *st, const char *key, uint32_t free_fails, uint64_t now)
{
    struct penalty *e = penalty_find(st, key, false, now);
    uint64_t d;

    if (e == NULL || e->fails < free_fails)
        return 0;
    d = e->fails - free_fails >= 7 ? AUTH_DELAY_MAX_NS : AUTH_DELAY_MIN_NS << (e->fails - free_fails);
    if (d > AUTH_DELAY_MAX_NS)
        d = AUTH_DELAY_MAX_NS;
    return e->last_ns + d > now ? e->last_ns + d : 0;
}

static uint64_t penalty_due(struct control_auth *st, const struct auth_ask *a, uint64_t now)
{
    char addr[48], pair[PENALTY_KEY_MAX];
    uint64_t d1, d2;

    penalty_keys(a, addr, sizeof(addr), pair, sizeof(pair));
    d1 = due_of(st, addr, AUTH_FREE_FAILS_ADDR, now);
    d2 = due_of(st, pair, AUTH_FREE_FAILS, now);
    return d1 > d2 ? d1 : d2;
}

/* A name from a client, fit for a log line: what is not printable ASCII becomes '?'. */
static const char *printable(const char *in, char *out, size_t len)
{
    return in != NULL && log_printable(out, len, in, strlen(in)) > 0 ? out : "-";
}

static void fail(struct control *ctl, struct auth_ask *a, const char *user, const char *why)
{
    uint64_t now = uring_now_ns();
    char addr[48], pair[PENALTY_KEY_MAX], shown[AUTH_NAME_MAX + 1];
    struct penalty *e, *ep;

    penalty_keys(a, addr, sizeof(addr), pair, sizeof(pair));
    e = penalty_find(ctl->auth, addr, true, now);
    ep = penalty_find(ctl->auth, pair, true, now);
    if (e != NULL) {
        e->fails++;
        e->last_ns = now;
    }
    if (ep != NULL) {
        ep->fails++;
        ep->last_ns = now;
    }
    atomic_fetch_add_explicit(&ctl->pub_auth_failures, 1, memory_order_relaxed);
    if (a->call != NULL)
        log_warn(LOG_NO_CORE, "auth: dashboard login peer=%s user=%s: authentication failed: %s (failure %u from %s)", a->peer,
                 printable(user, shown, sizeof(shown)), why, e != NULL ? e->fails : 0, addr);
    else
        log_warn(LOG_NO_CORE, "auth: client_id=%" PRIu64 " peer=%s user=%s: authentication failed: %s (failure %u from %s)",
                 a->client_id, a->peer, printable(user, shown, sizeof(shown)), why, e != NULL ? e->fails : 0, addr);
    answer(ctl, a, TRPC_E_AUTH_FAILED,
           a->kind == AUTH_KIND_NONE && a->user[0] == '\0' && a->token[0] == '\0' ? missing_msg : failed_msg, NULL, NULL);
}

static void succeed(struct control *ctl, struct auth_ask *a, const char *user, const json_t *rec, const char *token_id)
{
    struct auth_perms *perms = NULL;
    char why[AUTH_ERR_MAX], addr[48], pair[PENALTY_KEY_MAX];
    struct penalty *e;
    int ret;

    ret = auth_perms_compile(user, rec, ctl->cfg.limits.max_topic, &perms, why, sizeof(why));
    if (ret != 0) {
        log_error(LOG_NO_CORE, "auth: user %s: its stored record is refused: %s", user, why);
        fail(ctl, a, user, "its stored record is damaged");
        return;
    }
    penalty_keys(a, addr, sizeof(addr), pair, sizeof(pair));
    e = penalty_find(ctl->auth, pair, false, uring_now_ns());
    if (e != NULL)
        e->fails = 0;
    atomic_fetch_add_explicit(&ctl->pub_auth_logins, 1, memory_order_relaxed);
    if (a->call != NULL) /* the dashboard's session is bound to the hash this login was checked against */
        auth_hash_print(rec, a->hash_print);
    answer(ctl, a, 0, NULL, perms, token_id);
}

/* An address's password logins with the worker: +1 when one is queued (false: it has its share
 * already), -1 when it is done. */
static bool inflight_add(struct control *ctl, const struct auth_ask *a, int d)
{
    uint32_t share = ctl->auth->cap / 4 > 0 ? ctl->auth->cap / 4 : 1;
    char addr[48];
    struct penalty *e;

    peer_ip(a->peer, addr, sizeof(addr));
    e = penalty_find(ctl->auth, addr, d > 0, uring_now_ns());
    if (e == NULL)
        return true; /* no room to count it: let it through, the queue bounds it */
    if (d < 0) {
        if (e->inflight > 0)
            e->inflight--;
        return true;
    }
    if (e->inflight >= share)
        return false;
    e->inflight++;
    return true;
}

/* ---- store lookups ----------------------------------------------------------------------------- */

int control_auth_load(struct control *ctl, const char *ns, const char *key, json_t **out)
{
    void *val = NULL;
    size_t len = 0;
    int ret = store_get(ctl->store, ns, key, &val, &len);

    *out = NULL;
    if (ret != 0)
        return ret;
    *out = json_loadb(val, len, 0, NULL);
    free(val);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        log_error(LOG_NO_CORE, "auth: the store's %s record %s is not a JSON object", ns, key);
        return -EBADMSG;
    }
    return 0;
}

static bool store_failed(struct control *ctl, struct auth_ask *a, int ret)
{
    if (ret == 0 || ret == -ENOENT || ret == -EBADMSG || ret == -EINVAL)
        return false;
    log_error(LOG_NO_CORE, "auth: client_id=%" PRIu64 " peer=%s: the user store cannot be read: %s", a->client_id, a->peer,
              store_last_error(ctl->store));
    a->store_down = true;
    answer(ctl, a, TRPC_E_UNAVAILABLE, "the user store is unreachable: try again", NULL, NULL);
    return true;
}

/* The user record behind a token (a client's :token, the dashboard's bearer): 0 with user
 * (AUTH_NAME_MAX + 1 bytes) and *rec; -EACCES with why (user filled once the token names one);
 * or the store's error. */
static int token_user(struct control *ctl, const char *tok, char *id, char *user, json_t **rec, const char **why)
{
    char hash[65];
    json_t *t = NULL;
    const char *u, *h;
    json_int_t expires;
    int ret;

    *rec = NULL;
    user[0] = '\0';
    *why = "not a token";
    if (auth_token_parse(tok, strlen(tok), id, hash) != 0)
        return -EACCES;
    ret = control_auth_load(ctl, AUTH_NS_TOKENS, id, &t);
    *why = "no such token";
    if (ret == -ENOENT || ret == -EBADMSG || ret == -EINVAL)
        return -EACCES;
    if (ret != 0)
        return ret;
    u = json_string_value(json_object_get(t, "user"));
    h = json_string_value(json_object_get(t, "hash"));
    expires = json_integer_value(json_object_get(t, "expires"));
    ret = -EACCES;
    *why = "wrong token secret";
    if (u != NULL && h != NULL && auth_digest_equal(h, hash)) {
        snprintf(user, AUTH_NAME_MAX + 1, "%s", u);
        *why = "the token expired";
        ret = expires > 0 && (int64_t)(core_realtime_ns() / 1000000000) >= expires ? -EACCES : 0;
    }
    json_decref(t);
    if (ret != 0)
        return ret;
    ret = control_auth_load(ctl, AUTH_NS_USERS, user, rec);
    *why = "the token's user no longer exists";
    return ret == -ENOENT || ret == -EBADMSG || ret == -EINVAL ? -EACCES : ret;
}

/* The user record behind a token or a certificate: false with *user and *rec, or the failure was
 * answered (true). */
static bool by_token(struct control *ctl, struct auth_ask *a, char *user, json_t **rec, char *id)
{
    const char *why;
    int ret = token_user(ctl, a->token, id, user, rec, &why);

    if (ret == -EACCES)
        fail(ctl, a, user[0] != '\0' ? user : NULL, why);
    else if (ret != 0 && !store_failed(ctl, a, ret))
        fail(ctl, a, NULL, "the token cannot be read"); /* store_failed takes every error token_user returns */
    return ret != 0;
}

static bool by_cert(struct control *ctl, struct auth_ask *a, char *user, json_t **rec)
{
    json_t *c = NULL;
    const char *u;
    int ret = control_auth_load(ctl, AUTH_NS_CERTS, a->subject, &c);

    if (store_failed(ctl, a, ret))
        return true;
    u = ret == 0 ? json_string_value(json_object_get(c, "user")) : NULL;
    if (u == NULL) {
        json_decref(c);
        fail(ctl, a, NULL, "no user has this client certificate");
        return true;
    }
    snprintf(user, AUTH_NAME_MAX + 1, "%s", u);
    json_decref(c);
    ret = control_auth_load(ctl, AUTH_NS_USERS, user, rec);
    if (store_failed(ctl, a, ret))
        return true;
    /* The mapping is an index; the user's own record says which certificate is it (a mapping
     * left behind by a user deleted and made again must not log in as the new one). */
    u = ret == 0 ? json_string_value(json_object_get(*rec, "cert")) : NULL;
    if (u == NULL || strcmp(u, a->subject) != 0) {
        fail(ctl, a, user, ret != 0 ? "the certificate's user no longer exists" : "the user does not claim this certificate");
        return true;
    }
    return false;
}

/* ---- the password worker ----------------------------------------------------------------------- */

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The CPU the worker could have had without taking it from anyone since the last look: what the
 * machine left idle (/proc/stat's first line: idle and iowait against all ticks) and what the
 * worker itself used, in CPUs; -1 when unknown. The whole machine's: a broker confined to some
 * CPUs (affinity, a cgroup quota) sees the others' idle time as its own. */
static double spare_cpus(struct control_auth *st)
{
    uint64_t now = uring_now_ns(), own = thread_cpu_ns();
    unsigned long long v[8], idle, total = 0;
    double cpus = -1;
    FILE *f = fopen("/proc/stat", "re");

    if (f == NULL)
        return -1;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
        for (int i = 0; i < 8; i++)
            total += v[i];
        idle = v[3] + v[4];
        if (st->pace_total != 0 && total > st->pace_total && idle >= st->pace_idle && now > st->pace_ns)
            cpus = (double)(idle - st->pace_idle) / (double)(total - st->pace_total) * st->ncpu +
                   (double)(own - st->pace_own_ns) / (double)(now - st->pace_ns);
        st->pace_idle = idle;
        st->pace_total = total;
        st->pace_ns = now;
        st->pace_own_ns = own;
    }
    fclose(f);
    return cpus;
}

/* After a hash that took cpu_ns of CPU: where the machine had not a whole CPU to spare, rest so
 * that hashing takes at most AUTH_BUSY_SHARE_PCT of one CPU. Nice 19 alone is not enough: each
 * hash runs ~60 ms through 19 MiB, and what it evicts from the caches the cores pay for; logins
 * wait instead, and past AUTH_WAIT_MAX_NS are told to try again. A stop ends the rest. Busy is
 * less than a whole CPU to spare (half of a machine's only one): a saturated pipeline such as a
 * 16 B publisher and its subscriber leaves a third of a CPU idle while its threads wait on each
 * other, and a hash in that time is paid by the next wake-up (with half a CPU as the mark,
 * hashing ran unpaced beside it, at a fifth of a CPU). */
static void pace_rest(struct control *ctl, uint64_t cpu_ns)
{
    struct control_auth *st = ctl->auth;
    double spare = spare_cpus(st);
    uint64_t rest_ns = cpu_ns * (100 - AUTH_BUSY_SHARE_PCT) / AUTH_BUSY_SHARE_PCT;
    struct timespec until;
    uint64_t t0;

    /* On a machine of one CPU, a whole one spare would mean that nothing but the worker runs. */
    if (spare < 0 || spare >= (st->ncpu > 1 ? AUTH_BUSY_SPARE_CPUS : AUTH_BUSY_SPARE_CPUS / 2) || rest_ns == 0)
        return;
    if (rest_ns > AUTH_REST_MAX_NS)
        rest_ns = AUTH_REST_MAX_NS;
    t0 = uring_now_ns(); /* CLOCK_MONOTONIC, the condition variable's clock */
    until.tv_sec = (time_t)((t0 + rest_ns) / 1000000000ull);
    until.tv_nsec = (long)((t0 + rest_ns) % 1000000000ull);
    pthread_mutex_lock(&st->mu);
    while (!st->stop && pthread_cond_timedwait(&st->cv, &st->mu, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&st->mu);
    atomic_fetch_add_explicit(&ctl->pub_auth_rest_ns, uring_now_ns() - t0, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
    struct control *ctl = arg;
    struct control_auth *st = ctl->auth;

    pthread_setname_np(pthread_self(), "trpc-auth");
    /* Hashing takes the CPU that is left (nice 19, and pace_rest; not SCHED_IDLE, which a busy
     * machine would starve): under load, logins wait, and past AUTH_WAIT_MAX_NS or auth-queue are
     * told to try again, rather than the established clients' cores losing their share. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), AUTH_WORKER_NICE) != 0)
        log_warn(LOG_NO_CORE, "auth: cannot lower the password worker's priority: %s", strerror(errno));
    st->ncpu = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);

    for (;;) {
        struct uring_xmsg m = {.type = CONTROL_AUTH_DONE};
        struct auth_job *j;
        uint64_t cpu0;
        bool woke;
        int ret;

        pthread_mutex_lock(&st->mu);
        if (st->count == 0) {
            /* Idle: Argon2's 19 MiB go back until the next login (a storm keeps them). */
            pthread_mutex_unlock(&st->mu);
            auth_hash_keep(false);
            pthread_mutex_lock(&st->mu);
        }
        woke = false;
        while (st->count == 0 && !st->stop) {
            pthread_cond_wait(&st->cv, &st->mu);
            woke = true;
        }
        if (st->stop) {
            pthread_mutex_unlock(&st->mu);
            auth_hash_keep(false);
            return NULL;
        }
        auth_hash_keep(true);
        j = st->queue[st->head];
        st->head = (st->head + 1) % st->cap;
        st->count--;
        pthread_mutex_unlock(&st->mu);
        if (woke)
            (void)spare_cpus(st); /* what the machine does now, not since the last login */

        /* Its client has likely given up (libtrpc waits 2 s for CONNACK by default): hashing for
         * nobody would only lengthen the wait of those behind it. */
        cpu0 = thread_cpu_ns();
        if (uring_now_ns() > j->queued_ns + AUTH_WAIT_MAX_NS) {
            j->result = -ETIMEDOUT;
        } else if (j->encoded == NULL) {
            auth_verify_dummy(j->ask->password, j->ask->pw_len);
            j->result = -EACCES;
        } else {
            j->result = auth_verify_password(j->encoded, j->ask->password, j->ask->pw_len);
            if (j->result == 0 && auth_needs_rehash(j->encoded) &&
                auth_hash_password(j->ask->password, j->ask->pw_len, j->rehash, sizeof(j->rehash)) != 0)
                j->rehash[0] = '\0';
        }
        OPENSSL_cleanse(j->ask->password, sizeof(j->ask->password));
        m.ptr = j;
        /* The control thread's mailbox is full only under a flood: wait for room, not forever
         * (control_post refuses once the broker stops). */
        while ((ret = control_post(ctl->b, &m)) == -EAGAIN)
            usleep(1000);
        if (ret != 0)
            job_free(j); /* the broker stops: the session goes with its core */
        pace_rest(ctl, thread_cpu_ns() - cpu0);
    }
}

/* Queues j for the worker: false when the queue is full (j stays the caller's). */
static bool worker_push(struct control_auth *st, struct auth_job *j)
{
    bool ok;

    pthread_mutex_lock(&st->mu);
    ok = st->count < st->cap;
    if (ok) {
        j->queued_ns = uring_now_ns();
        st->queue[(st->head + st->count) % st->cap] = j;
        st->count++;
        pthread_cond_signal(&st->cv);
    }
    pthread_mutex_unlock(&st->mu);
    return ok;
}

/* A password login refused for want of room: counted, answered "try again", and logged at most
 * once a second (a storm would otherwise write a line per attempt). */
static void busy(struct control *ctl, struct auth_ask *a, const char *why)
{
    uint64_t held;

    atomic_fetch_add_explicit(&ctl->pub_auth_busy, 1, memory_order_relaxed);
    if (line_due(&ctl->auth->busy_lines, &held))
        log_warn(LOG_NO_CORE,
                 "auth: client_id=%" PRIu64 " peer=%s: %s: refused, try again (%" PRIu64 " more refused since the last line)",
                 a->client_id, a->peer, why, held);
    answer(ctl, a, TRPC_E_UNAVAILABLE, "too many logins at once: try again", NULL, NULL);
}

static bool worker_room(struct control_auth *st)
{
    bool room;

    pthread_mutex_lock(&st->mu);
    room = st->count < st->cap;
    pthread_mutex_unlock(&st->mu);
    return room;
}

static void by_password(struct control *ctl, struct auth_ask *a)
{
    struct auth_job *j;
    char why[AUTH_ERR_MAX];
    const char *hash;
    bool pushed;
    int ret;

    /* Room first, the store after: a storm's excess costs a look at two counters, not a read. The
     * control thread alone adds to the ring, so room seen here is still there at the push. */
    if (!inflight_add(ctl, a, 1)) {
        busy(ctl, a, "this address has its share of password logins waiting");
        auth_ask_free(a);
        return;
    }
    if (!worker_room(ctl->auth)) {
        inflight_add(ctl, a, -1);
        busy(ctl, a, "auth-queue password logins already wait");
        auth_ask_free(a);
        return;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        inflight_add(ctl, a, -1);
        answer(ctl, a, TRPC_E_UNAVAILABLE, "the broker is out of memory: try again", NULL, NULL);
        auth_ask_free(a);
        return;
    }
    j->ask = a;
    snprintf(j->user, sizeof(j->user), "%s", a->user);
    ret = auth_name_check(a->user, why, sizeof(why)) != 0 ? -ENOENT : control_auth_load(ctl, AUTH_NS_USERS, a->user, &j->rec);
    if (store_failed(ctl, a, ret)) {
        inflight_add(ctl, a, -1);
        job_free(j);
        return;
    }
    hash = ret == 0 ? json_string_value(json_object_get(j->rec, "hash")) : NULL;
    if (ret != 0)
        j->why = "no such user";
    else if (hash == NULL)
        j->why = "the user has no password (token or certificate only)";
    else if (!auth_user_enabled(j->rec))
        j->why = "the user is disabled";
    else if ((j->encoded = strdup(hash)) == NULL)
        j->why = "out of memory";
    pushed = worker_push(ctl->auth, j);
    assert(pushed); /* the ring had room a moment ago, and only this thread fills it */
    (void)pushed;
}

/* The worker's verdict, on the record as it is now: one changed while the hash ran (disabled,
 * deleted, a new password, other permissions) decides, not the copy read before. A stored hash
 * with parameters below today's is replaced. */
static void password_done(struct control *ctl, struct auth_job *j)
{
    const char *h;
    json_t *cur = NULL;
    int ret;

    inflight_add(ctl, j->ask, -1);
    if (j->result == -ETIMEDOUT) {
        busy(ctl, j->ask, "waited 3 s (AUTH_WAIT_MAX_NS) for the password worker");
        job_free(j);
        return;
    }
    if (j->why != NULL || j->result != 0) {
        fail(ctl, j->ask, j->user, j->why != NULL ? j->why : j->result == -EACCES ? "wrong password" : "unreadable hash");
        job_free(j);
        return;
    }
    ret = control_auth_load(ctl, AUTH_NS_USERS, j->user, &cur);
    if (store_failed(ctl, j->ask, ret)) {
        job_free(j);
        return;
    }
    h = json_string_value(json_object_get(cur, "hash"));
    if (ret != 0 || h == NULL || strcmp(h, j->encoded) != 0 || !auth_user_enabled(cur)) {
        fail(ctl, j->ask, j->user, "the user changed while its password was checked");
        json_decref(cur);
        job_free(j);
        return;
    }
    if (j->rehash[0] != '\0') {
        json_t *next = json_deep_copy(cur);
        char *doc = NULL;

        if (next != NULL && json_object_set_new(next, "hash", json_string(j->rehash)) == 0)
            doc = json_dumps(next, JSON_COMPACT | JSON_SORT_KEYS);
        if (doc != NULL && store_put(ctl->store, AUTH_NS_USERS, j->user, doc, strlen(doc)) == 0)
            log_info(LOG_NO_CORE, "auth: user %s: password rehashed with today's parameters", j->user);
        free(doc);
        json_decref(next);
        OPENSSL_cleanse(j->rehash, sizeof(j->rehash));
    }
    succeed(ctl, j->ask, j->user, cur, NULL);
    json_decref(cur);
    job_free(j);
}

/* ---- CONNECTs ---------------------------------------------------------------------------------- */

static void authenticate(struct control *ctl, struct auth_ask *a)
{
    char user[AUTH_NAME_MAX + 1] = "", id[AUTH_TOKEN_ID_LEN + 1] = "";
    json_t *rec = NULL;

    switch (a->kind) {
    case AUTH_KIND_PASSWORD:
        by_password(ctl, a); /* takes a */
        return;
    case AUTH_KIND_TOKEN:
        if (by_token(ctl, a, user, &rec, id))
            goto out;
        break;
    case AUTH_KIND_CERT:
        if (by_cert(ctl, a, user, &rec))
            goto out;
        break;
    case AUTH_KIND_NONE:
    default:
        fail(ctl, a, a->user, "no credentials (a user and password, a token, or a client certificate)");
        goto out;
    }
    if (!auth_user_enabled(rec))
        fail(ctl, a, user, "the user is disabled");
    else
        succeed(ctl, a, user, rec, id[0] ? id : NULL);
out:
    json_decref(rec);
    auth_ask_free(a);
}

void control_auth_ask(struct control *ctl, struct auth_ask *a)
{
    struct control_auth *st = ctl->auth;
    uint64_t now = uring_now_ns(), due = penalty_due(st, a, now);
    struct delayed *d;

    if (due == 0) {
        authenticate(ctl, a);
        return;
    }
    if (st->ndelayed >= AUTH_DELAYED_MAX || (d = malloc(sizeof(*d))) == NULL) {
        answer(ctl, a, TRPC_E_UNAVAILABLE, "too many failed logins: try again later", NULL, NULL);
        auth_ask_free(a);
        return;
    }
    d->due_ns = due;
    d->ask = a;
    d->next = st->delayed;
    st->delayed = d;
    st->ndelayed++;
}

void control_auth_done(struct control *ctl, void *job)
{
    password_done(ctl, job);
}

void control_auth_discard(uint32_t type, void *ptr)
{
    if (type == CONTROL_AUTH)
        auth_ask_free(ptr);
    else
        job_free(ptr);
}

void control_auth_tick(struct control *ctl, uint64_t now)
{
    struct control_auth *st = ctl->auth;
    struct delayed **pp = &st->delayed;

    while (*pp != NULL) {
        struct delayed *d = *pp;

        if (d->due_ns > now) {
            pp = &d->next;
            continue;
        }
        *pp = d->next;
        st->ndelayed--;
        authenticate(ctl, d->ask);
        free(d);
    }
}

/* ---- changes ----------------------------------------------------------------------------------- */

static void post_all(struct control *ctl, const char *user, const char *token_id, struct auth_perms *perms)
{
    for (unsigned i = 0; i < ctl->b->ncores; i++) {
        struct auth_update *u = calloc(1, sizeof(*u));
        struct uring_xmsg m = {.type = ADMIN_MB_AUTH_USER};

        if (u == NULL) {
            log_error(LOG_NO_CORE, "auth: out of memory telling core %u of a change to %s", i, user != NULL ? user : token_id);
            continue;
        }
        snprintf(u->user, sizeof(u->user), "%s", user != NULL ? user : "");
        snprintf(u->token_id, sizeof(u->token_id), "%s", token_id != NULL ? token_id : "");
        u->perms = auth_perms_ref(perms);
        m.ptr = u;
        if (!control_post_core(ctl, i, &m)) {
            auth_perms_unref(u->perms);
            free(u);
        }
    }
}

void control_auth_user_changed(struct control *ctl, const char *user)
{
    struct auth_perms *perms = NULL;
    char why[AUTH_ERR_MAX];
    json_t *rec = NULL;
    int ret = control_auth_load(ctl, AUTH_NS_USERS, user, &rec);

    if (ret != 0 && ret != -ENOENT) {
        log_error(LOG_NO_CORE, "auth: user %s changed, but cannot be read: %s", user, store_last_error(ctl->store));
        return;
    }
    if (ret == 0 && auth_user_enabled(rec) &&
        auth_perms_compile(user, rec, ctl->cfg.limits.max_topic, &perms, why, sizeof(why)) != 0)
        log_error(LOG_NO_CORE, "auth: user %s: its record is refused (%s): its sessions close", user, why);
    post_all(ctl, user, NULL, perms);
    auth_perms_unref(perms);
    json_decref(rec);
}

void control_auth_token_revoked(struct control *ctl, const char *id)
{
    post_all(ctl, NULL, id, NULL);
}

int control_auth_bearer(struct control *ctl, const char *bearer, const char *peer, char *why, size_t whylen)
{
    uint64_t held;
    char id[AUTH_TOKEN_ID_LEN + 1], user[AUTH_NAME_MAX + 1];
    const char *reason;
    json_t *u = NULL;
    int ret;

    if (bearer[0] == '\0') {
        snprintf(why, whylen, "authentication is on: send Authorization: Bearer <token of an admin>");
        return -EACCES;
    }
    ret = token_user(ctl, bearer, id, user, &u, &reason);
    if (ret == 0 && !auth_user_enabled(u))
        ret = -EACCES;
    else if (ret == 0 && !auth_user_admin(u))
        ret = -EPERM;
    if (ret == -EACCES)
        snprintf(why, whylen, "the bearer token is not valid");
    else if (ret == -EPERM)
        snprintf(why, whylen, "user %s is not an admin", user);
    else if (ret != 0) {
        snprintf(why, whylen, "the user store cannot be read: %s", store_last_error(ctl->store));
        ret = -EAGAIN;
    }
    if (ret == -EACCES) /* not -EPERM: an admin's token of a user who is not one did authenticate */
        atomic_fetch_add_explicit(&ctl->pub_auth_failures, 1, memory_order_relaxed);
    /* A line per refusal would let anyone with this run's CSRF token (GET /api/session) write the
     * log as fast as it can ask: once a second, with the count of the rest. */
    if (ret != 0 && line_due(&ctl->auth->bearer_lines, &held))
        log_warn(LOG_NO_CORE, "auth: dashboard API call peer=%s refused: %s (%" PRIu64 " more refused since the last line)", peer,
                 why, held);
    json_decref(u);
    return ret;
}

/* ---- life -------------------------------------------------------------------------------------- */

int control_auth_init(struct control *ctl)
{
    struct control_auth *st = calloc(1, sizeof(*st));
    pthread_condattr_t ca;

    if (st == NULL)
        return -ENOMEM;
    st->cap = ctl->cfg.auth_queue > 0 ? ctl->cfg.auth_queue : 1;
    st->queue = calloc(st->cap, sizeof(*st->queue));
    if (st->queue == NULL) {
        free(st);
        return -ENOMEM;
    }
    pthread_mutex_init(&st->mu, NULL);
    /* pace_rest's deadline: a wall clock set back must not stretch a rest. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    ctl->auth = st;
    return 0;
}

int control_auth_start(struct control *ctl)
{
    int ret = pthread_create(&ctl->auth->worker, NULL, worker_main, ctl);

    if (ret != 0)
        return -ret;
    ctl->auth->worker_started = true;
    return 0;
}

void control_auth_stop(struct control *ctl)
{
    struct control_auth *st = ctl->auth;

    if (st == NULL || !st->worker_started)
        return;
    pthread_mutex_lock(&st->mu);
    st->stop = true;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->worker, NULL);
    st->worker_started = false;
}

void control_auth_free(struct control *ctl)
{
    struct control_auth *st = ctl->auth;

    if (st == NULL)
        return;
    control_auth_stop(ctl);
    while (st->count > 0) {
        job_free(st->queue[st->head]);
        st->head = (st->head + 1) % st->cap;
        st->count--;
    }
    while (st->delayed != NULL) {
        struct delayed *d = st->delayed;

        st->delayed = d->next;
        auth_ask_free(d->ask);
        free(d);
    }
    control_dash_free(ctl);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st->queue);
    free(st);
    ctl->auth = NULL;
}
