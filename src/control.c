/*
 * The control thread (control.h): a poll(2) loop over its mailbox's eventfd and a stop eventfd,
 * waking at least every CONTROL_TICK_MS to time out questions and retry replies.
 *
 * Why a thread of its own: what it does may block (the store's disk writes and network round
 * trips; password hashing later), and a core must never wait. Why not locks: the cores would take
 * them on their hot paths. So cores hand it requests, and it hands them back replies, settings
 * and questions, each through the receiver's bounded mailbox; a full one refuses, and the sender
 * fails what it was asked (UNAVAILABLE, BUSY) rather than waiting.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "src/admin.h"
#include "src/admin_api.h"
#include "src/control.h"
#include "src/core.h"
#include "src/log.h"

#define CONTROL_TICK_MS  100
#define CONTROL_RETRY_NS (1000 * 1000000ull) /* a reply a core's mailbox refused is tried this long */

/* Whether a message to core waits in the retry list: then later ones wait behind it, so that a
 * core gets the control thread's messages in the order they were sent (a token revoked after a
 * login's answer must not overtake it). */
static bool retries_for(const struct control *ctl, unsigned core)
{
    for (const struct control_retry *t = ctl->retries; t != NULL; t = t->next)
        if (t->core == core)
            return true;
    return false;
}

static void discard(struct control *ctl, struct uring_xmsg *msg)
{
    if (msg->type < BROKER_MBOX_TYPES && ctl->b->mbox_handlers[msg->type].discard != NULL)
        ctl->b->mbox_handlers[msg->type].discard(ctl->b, msg); /* what it holds (permissions) */
    else
        free(msg->ptr);
}

/* Posts msg to core `core`, or keeps it, at the end of the retry list, to try again each round
 * until deadline_ns (then the message is discarded). False: out of memory, msg->ptr still the
 * caller's. */
static bool post_or_retry(struct control *ctl, unsigned core, const struct uring_xmsg *msg, uint64_t deadline_ns)
{
    struct control_retry *t, **pp = &ctl->retries;

    if (!retries_for(ctl, core) && core_post(ctl->b, core, msg) == 0)
        return true;
    t = malloc(sizeof(*t));
    if (t == NULL)
        return false;
    *t = (struct control_retry){.core = core, .deadline_ns = deadline_ns, .msg = *msg};
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = t;
    return true;
}

bool control_post_core(struct control *ctl, unsigned core, const struct uring_xmsg *msg)
{
    return post_or_retry(ctl, core, msg, UINT64_MAX);
}

/* ---- replies ----------------------------------------------------------------------------------- */

void control_reply(struct control *ctl, unsigned core, uint64_t token, char *doc, size_t len)
{
    struct admin_reply *r = malloc(sizeof(*r) + len);
    struct uring_xmsg m = {.type = ADMIN_MB_REPLY};

    if (r == NULL) {
        log_error(LOG_NO_CORE, "admin: out of memory for a reply; the request will time out");
        free(doc);
        return;
    }
    r->token = token;
    r->len = (uint32_t)len;
    memcpy(r->doc, doc, len);
    free(doc);
    m.ptr = r;
    if (!post_or_retry(ctl, core, &m, uring_now_ns() + CONTROL_RETRY_NS))
        free(r);
}

/* In list order; a core whose mailbox refused one gets no later one this round (order kept). */
static void retries_run(struct control *ctl, uint64_t now)
{
    uint64_t blocked[BROKER_CORES_MAX / 64] = {0};
    struct control_retry **pp = &ctl->retries;

    while (*pp != NULL) {
        struct control_retry *t = *pp;
        uint64_t bit = 1ull << (t->core % 64);
        int ret = -EAGAIN;

        if (!(blocked[t->core / 64] & bit))
            ret = core_post(ctl->b, t->core, &t->msg);
        if (ret != 0 && now < t->deadline_ns) {
            blocked[t->core / 64] |= bit;
            pp = &t->next;
            continue;
        }
        if (ret != 0)
            discard(ctl, &t->msg); /* a request's requester gets TIMEOUT from its own deadline */
        *pp = t->next;
        free(t);
    }
}

/* ---- questions to the cores -------------------------------------------------------------------- */

static void query_end(struct control *ctl, struct control_query *q, int err)
{
    struct control_query **pp = &ctl->queries;

    while (*pp != q)
        pp = &(*pp)->next;
    *pp = q->next;
    q->fn(ctl, q->arg, q->parts, q->want, err);
    for (unsigned i = 0; i < q->want; i++)
        admin_part_free(q->parts[i]);
    free(q->parts);
    free(q);
}

static void *make_kick(void *arg, unsigned core, uint64_t query)
{
    struct admin_kick *k = malloc(sizeof(*k));

    (void)core;
    if (k != NULL)
        *k = (struct admin_kick){.query = query, .client = *(const uint64_t *)arg};
    return k;
}

int control_ask(struct control *ctl, uint32_t type, int core, uint64_t client, control_parts_fn *fn, void *arg)
{
    return control_ask_with(ctl, type, core, CONTROL_QUERY_MS, type == ADMIN_MB_KICK ? make_kick : NULL, &client, fn, arg);
}

int control_ask_with(struct control *ctl, uint32_t type, int core, unsigned ms, control_make_fn *make, void *make_arg,
                     control_parts_fn *fn, void *arg)
{
    unsigned ncores = ctl->b->ncores, first = core < 0 ? 0 : (unsigned)core, n = core < 0 ? ncores : 1;
    struct control_query *q = calloc(1, sizeof(*q));
    bool refused = false;

    assert(core < (int)ncores);
    if (q == NULL || (q->parts = calloc(n, sizeof(*q->parts))) == NULL) {
        free(q);
        return -ENOMEM;
    }
    q->id = ++ctl->next_query;
    q->type = type;
    q->want = n;
    q->deadline_ns = uring_now_ns() + (uint64_t)ms * 1000000;
    q->fn = fn;
    q->arg = arg;
    q->next = ctl->queries;
    ctl->queries = q;
    for (unsigned i = 0; i < n; i++) {
        struct uring_xmsg m = {.type = type, .u64 = q->id};

        if (make != NULL && (m.ptr = make(make_arg, first + i, q->id)) == NULL) {
            refused = true;
            break;
        }
        if (core_post(ctl->b, first + i, &m) != 0) {
            if (ctl->b->mbox_handlers[type].discard != NULL && m.ptr != NULL)
                ctl->b->mbox_handlers[type].discard(ctl->b, &m);
            else
                free(m.ptr);
            refused = true;
            break;
        }
    }
    if (refused) {
        /* Answers already on their way find no query and are freed (part_in). */
        query_end(ctl, q, -EAGAIN);
    } else if (n == 0) {
        query_end(ctl, q, 0); /* no cores to ask (the fuzz target's broker) */
    }
    return 0;
}

static void part_in(struct control *ctl, struct admin_part *p)
{
    struct control_query *q;
    unsigned at;

    for (q = ctl->queries; q != NULL && q->id != p->query; q = q->next)
        ;
    if (q == NULL) {
        admin_part_free(p); /* its question timed out, or was refused elsewhere */
        return;
    }
    at = q->want == 1 ? 0 : p->core;
    if (at >= q->want || q->parts[at] != NULL) {
        admin_part_free(p);
        return;
    }
    q->parts[at] = p;
    if (++q->have == q->want)
        query_end(ctl, q, 0);
}

static void queries_expire(struct control *ctl, uint64_t now)
{
    struct control_query *q = ctl->queries, *next;

    for (; q != NULL; q = next) {
        next = q->next;
        if (now >= q->deadline_ns)
            query_end(ctl, q, -ETIMEDOUT);
    }
}

/* ---- settings ---------------------------------------------------------------------------------- */

int control_push_settings(struct control *ctl)
{
    ctl->settings_gen++;
    for (unsigned i = 0; i < ctl->b->ncores; i++) {
        struct admin_settings *n = malloc(sizeof(*n));
        struct uring_xmsg m = {.type = ADMIN_MB_SETTINGS};

        if (n == NULL)
            goto out_nomem;
        n->gen = ctl->settings_gen;
        n->cfg = ctl->cfg;
        m.ptr = n;
        /* Settings must arrive: a full mailbox is tried again until it takes them (the core
         * ignores a copy older than one it has: retries may arrive in any order). */
        if (!post_or_retry(ctl, i, &m, UINT64_MAX)) {
            free(n);
            goto out_nomem;
        }
    }
    return 0;

out_nomem:
    log_error(LOG_NO_CORE, "out of memory sending settings to the cores");
    return -ENOMEM;
}

/* ---- the thread -------------------------------------------------------------------------------- */

static void mbox_cb(struct uring_mbox *mb, const struct uring_xmsg *msg)
{
    struct control *ctl = mb->data;

    switch (msg->type) {
    case CONTROL_REQUEST:
        admin_api_request(ctl, msg->ptr);
        break;
    case CONTROL_PART:
        part_in(ctl, msg->ptr);
        break;
    case CONTROL_DLQ_STREAM:
        admin_dlq_stream_ask(ctl, msg->ptr);
        break;
    case CONTROL_CALL:
        admin_api_call(ctl, msg->ptr);
        break;
    case CONTROL_AUTH:
        control_auth_ask(ctl, msg->ptr);
        break;
    case CONTROL_AUTH_DONE:
        control_auth_done(ctl, msg->ptr);
        break;
    default:
        assert(!"unknown control message");
    }
}

static void mbox_discard(struct uring_mbox *mb, const struct uring_xmsg *msg)
{
    if (msg->type == CONTROL_PART) {
        admin_part_free(msg->ptr);
    } else if (msg->type == CONTROL_CALL) {
        struct admin_call *call = msg->ptr;

        call->done(mb->data, call, NULL, 0); /* the poster frees it */
    } else if (msg->type == CONTROL_AUTH || msg->type == CONTROL_AUTH_DONE) {
        control_auth_discard(msg->type, msg->ptr);
    } else
        free(msg->ptr);
}

static void *control_main(void *arg)
{
    struct control *ctl = arg;
    /* The store's watch fd is -1 for the embedded store: poll(2) skips it. */
    struct pollfd pfd[3] = {{.fd = ctl->stop_fd, .events = POLLIN},
                            {.fd = uring_mbox_fd(&ctl->mbox), .events = POLLIN},
                            {.fd = control_store_fd(ctl), .events = POLLIN}};

    pthread_setname_np(pthread_self(), "trpc-control");
    for (;;) {
        uint64_t now;

        if (poll(pfd, 3, CONTROL_TICK_MS) < 0 && errno != EINTR) {
            log_error(LOG_NO_CORE, "control thread: poll: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents & POLLIN)
            break;
        /* A budget, so that a flood of requests leaves room for timeouts, retries and the stop. */
        uring_mbox_drain_max(&ctl->mbox, CONTROL_MBOX_SLOTS);
        now = uring_now_ns();
        queries_expire(ctl, now);
        retries_run(ctl, now);
        control_store_tick(ctl, now, pfd[2].revents != 0);
        control_auth_tick(ctl, now);
        admin_dlq_tick(ctl);
    }
    return NULL;
}

int control_init(struct broker *b, char *err, size_t errlen)
{
    struct control *ctl = calloc(1, sizeof(*ctl));
    int ret;

    if (ctl == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    ctl->b = b;
    ctl->base = b->cfg;
    ctl->cfg = b->cfg;
    ctl->started_ns = core_realtime_ns();
    ctl->started_mono_ns = uring_now_ns();
    ctl->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (ctl->stop_fd == -1) {
        ret = -errno;
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        free(ctl);
        return ret;
    }
    ret = uring_mbox_init(&ctl->mbox, CONTROL_MBOX_SLOTS, mbox_cb);
    if (ret != 0) {
        snprintf(err, errlen, "control thread's mailbox: %s", strerror(-ret));
        close(ctl->stop_fd);
        free(ctl);
        return ret;
    }
    ctl->mbox.data = ctl;
    b->ctl = ctl;
    ret = control_auth_init(ctl);
    if (ret != 0) {
        snprintf(err, errlen, "out of memory");
        return ret; /* control_free cleans up */
    }
    /* Before the cores start, so that they start with the stored settings. */
    ret = control_store_open(ctl, err, errlen);
    if (ret != 0)
        return ret; /* control_free cleans up */
    b->cfg = ctl->cfg;
    return admin_stream_load(ctl, err, errlen);
}

int control_start(struct broker *b)
{
    struct control *ctl = b->ctl;
    int ret;

    ctl->cfg.listen_port = (uint16_t)b->port; /* the one the kernel picked, for port 0 */
    ctl->base.listen_port = ctl->cfg.listen_port;
    ret = pthread_create(&ctl->thread, NULL, control_main, ctl);
    if (ret != 0)
        return -ret; /* control_free cleans up */
    ctl->started = true;
    return control_auth_start(ctl);
}

int control_post(struct broker *b, const struct uring_xmsg *msg)
{
    if (b->ctl == NULL || atomic_load_explicit(&b->ctl->closed, memory_order_acquire))
        return -ESHUTDOWN;
    return uring_mbox_post(&b->ctl->mbox, msg);
}

void control_stop(struct broker *b)
{
    struct control *ctl = b->ctl;
    uint64_t one = 1;

    if (ctl == NULL || !ctl->started)
        return;
    atomic_store_explicit(&ctl->closed, true, memory_order_release);
    if (write(ctl->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        log_error(LOG_NO_CORE, "cannot stop the control thread: %s", strerror(errno));
    pthread_join(ctl->thread, NULL);
    ctl->started = false;
    control_auth_stop(ctl);
}

void control_free(struct broker *b)
{
    struct control *ctl = b->ctl;

    if (ctl == NULL)
        return;
    control_stop(b);
    uring_mbox_destroy(&ctl->mbox, mbox_discard);
    admin_dlq_free(ctl); /* first: nothing waiting may start once a running one is abandoned */
    while (ctl->queries != NULL) {
        struct control_query *q = ctl->queries;

        /* Nobody to answer: the cores are gone, and their requesters with them. */
        ctl->queries = q->next;
        for (unsigned i = 0; i < q->want; i++)
            admin_part_free(q->parts[i]);
        admin_api_abandon(q->arg);
        free(q->parts);
        free(q);
    }
    while (ctl->retries != NULL) {
        struct control_retry *t = ctl->retries;

        ctl->retries = t->next;
        discard(ctl, &t->msg);
        free(t);
    }
    admin_stream_free(ctl);
    control_auth_free(ctl);
    control_store_close(ctl);
    close(ctl->stop_fd);
    free(ctl);
    b->ctl = NULL;
}
