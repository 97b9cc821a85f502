/*
 * The cores' side of the admin API (admin.h). Everything here is cold: it runs per admin request
 * or per question of the control thread, never per message.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/admin.h"
#include "src/control.h"
#include "src/core.h"
#include "src/log.h"
#include "src/session.h"

bool admin_reserved(const char *topic, size_t len)
{
    return len >= sizeof(ADMIN_RESERVED) - 1 && memcmp(topic, ADMIN_RESERVED, sizeof(ADMIN_RESERVED) - 1) == 0;
}

void admin_request(struct session *s, const struct wire_frame *f, uint32_t timeout_ms)
{
    struct core *c = s->core;
    size_t plen = sizeof(ADMIN_PREFIX) - 1, vlen;
    uint32_t len = f->payload_len;
    uint64_t token = request_open_system(s, f->id, timeout_ms);
    struct uring_xmsg m = {.type = CONTROL_REQUEST};
    struct admin_req *r;

    if (token == 0)
        return; /* answered TOO_MANY_REQUESTS */
    if (f->topic_len < plen || memcmp(f->topic, ADMIN_PREFIX, plen) != 0) {
        request_answer_system(c, token, WIRE_F_ERROR, TRPC_E_PERMISSION_DENIED, NULL, 0);
        return;
    }
    vlen = f->topic_len - plen;
    if (len > ADMIN_DOC_MAX)
        len = 0; /* the control thread says it is too large (r->too_large) */
    r = malloc(sizeof(*r) + len);
    if (r == NULL) {
        request_answer_system(c, token, WIRE_F_ERROR, TRPC_E_INTERNAL, NULL, 0);
        return;
    }
    r->core = c->id;
    r->token = token;
    r->too_large = f->payload_len > ADMIN_DOC_MAX;
    /* A verb too long for any real one is passed on empty: "no such verb" is the control
     * thread's to say. */
    if (vlen >= sizeof(r->verb))
        vlen = 0;
    memcpy(r->verb, f->topic + plen, vlen);
    r->verb[vlen] = '\0';
    r->len = len;
    if (len > 0) /* an empty payload has no pointer */
        memcpy(r->doc, f->payload, len);
    m.ptr = r;
    if (control_post(c->b, &m) != 0) {
        free(r);
        request_answer_system(c, token, WIRE_F_ERROR, TRPC_E_UNAVAILABLE, NULL, 0);
    }
}

/* ---- the control thread's messages ------------------------------------------------------------- */

static void reply_in(struct core *c, const struct uring_xmsg *m)
{
    struct admin_reply *r = m->ptr;

    /* Gone meanwhile (deadline, requester left, shutdown): that end had its REP already. */
    request_answer_system(c, r->token, 0, 0, r->doc, r->len);
    free(r);
}

static void part_send(struct core *c, struct admin_part *p)
{
    struct uring_xmsg m = {.type = CONTROL_PART, .ptr = p};

    if (control_post(c->b, &m) != 0) {
        /* The control thread times the question out and answers BUSY. */
        log_debug(c->id, "admin: control thread busy, answer to query %llu dropped", (unsigned long long)p->query);
        admin_part_free(p);
    }
}

static struct admin_part *part_new(struct core *c, uint64_t query)
{
    struct admin_part *p = calloc(1, sizeof(*p));

    if (p != NULL) {
        p->query = query;
        p->core = c->id;
    }
    return p;
}

void admin_part_post(struct core *c, uint64_t query, int err, void *items, size_t n)
{
    struct admin_part *p = part_new(c, query);

    if (p == NULL) {
        free(items);
        return;
    }
    p->err = err;
    p->items = items;
    p->n = n;
    part_send(c, p);
}

static void clients_in(struct core *c, const struct uring_xmsg *m)
{
    struct admin_part *p = part_new(c, m->u64);
    struct admin_client *v;
    size_t n = 0;

    if (p == NULL)
        return;
    v = calloc(c->nsessions > 0 ? c->nsessions : 1, sizeof(*v));
    if (v == NULL) {
        p->err = -ENOMEM;
        part_send(c, p);
        return;
    }
    for (uint32_t i = 1; i < c->nslots; i++) {
        struct session *s = c->slots[i];

        if (s == NULL || s->state != SESS_OPEN)
            continue;
        assert(n < c->nsessions);
        v[n] = (struct admin_client){
            .id = s->client_id,
            .core = c->id,
            .subscriptions = s->subs.count,
            .msgs_in = s->msgs_in,
            .msgs_out = s->msgs_out,
            .bytes_in = s->bytes_in,
            .bytes_out = s->bytes_out,
            .pending_output = uring_conn_out_queued(&s->conn),
            .keepalive_ms = s->keepalive_ms,
            .connected_at = s->connected_at,
        };
        memcpy(v[n].name, s->name, sizeof(v[n].name));
        memcpy(v[n].peer, s->peer, sizeof(v[n].peer));
        stls_describe(s, v[n].tls, sizeof(v[n].tls));
        n++;
    }
    p->items = v;
    p->n = n;
    part_send(c, p);
}

static void subs_in(struct core *c, const struct uring_xmsg *m)
{
    struct admin_part *p = part_new(c, m->u64);
    struct admin_sub *v = NULL;
    size_t n = 0, cap = 0;

    if (p == NULL)
        return;
    p->subs = true;
    for (uint32_t i = 1; i < c->nslots; i++) {
        struct session *s = c->slots[i];
        uint32_t pos = 0;
        struct rsub *r;

        if (s == NULL || s->state != SESS_OPEN)
            continue;
        while ((r = idmap_next(&s->subs, &pos, NULL)) != NULL) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct admin_sub *nv = realloc(v, ncap * sizeof(*nv));

                if (nv == NULL)
                    goto out_nomem;
                v = nv;
                cap = ncap;
            }
            v[n] = (struct admin_sub){.client = s->client_id, .sid = r->sid, .delivered = r->delivered};
            v[n].pattern = strndup(r->text, r->pattern_len);
            v[n].group = r->group_len > 0 ? strndup(r->group, r->group_len) : NULL;
            n++;
            if (v[n - 1].pattern == NULL || (r->group_len > 0 && v[n - 1].group == NULL))
                goto out_nomem;
        }
    }
    p->items = v;
    p->n = n;
    part_send(c, p);
    return;

out_nomem:
    p->items = v;
    p->n = n;
    admin_part_free(p);
    p = part_new(c, m->u64);
    if (p == NULL)
        return;
    p->err = -ENOMEM;
    part_send(c, p);
}

static void kick_in(struct core *c, const struct uring_xmsg *m)
{
    struct admin_kick *k = m->ptr;
    struct admin_part *p = part_new(c, k->query);

    for (uint32_t i = 1; i < c->nslots; i++) {
        struct session *s = c->slots[i];

        if (s == NULL || s->client_id != k->client || s->state == SESS_CLOSING)
            continue;
        log_info(c->id, "client_id=%llu peer=%s: kicked by an administrator", (unsigned long long)s->client_id, s->peer);
        session_fail(s, 0, TRPC_E_KICKED, NULL);
        if (p != NULL)
            p->n = 1;
        break;
    }
    free(k);
    if (p != NULL)
        part_send(c, p);
}

/* New settings: only live ones differ from ours (the control thread changes nothing else). */
static void settings_in(struct core *c, const struct uring_xmsg *m)
{
    struct admin_settings *n = m->ptr;
    bool out_changed = n->cfg.max_output_bytes != c->cfg.max_output_bytes;

    if (n->gen <= c->cfg_gen) {
        free(n); /* a retried copy older than what we have */
        return;
    }
    c->cfg_gen = n->gen;
    c->cfg = n->cfg;
    free(n);
    if (c->cfg.keepalive_ms != 0 && (c->ka_floor_ms == 0 || c->cfg.keepalive_ms < c->ka_floor_ms))
        c->ka_floor_ms = c->cfg.keepalive_ms;
    if (!out_changed)
        return;
    /* A bound lowered below what a connection has queued cuts it at its next write. */
    for (uint32_t i = 1; i < c->nslots; i++)
        if (c->slots[i] != NULL)
            uring_conn_set_out_max(&c->slots[i]->conn,
                                   c->cfg.max_output_bytes + BROKER_OUT_RESERVE +
                                       (c->slots[i]->tls != NULL ? stls_out_slack(c->cfg.max_output_bytes) : 0));
}

static void free_ptr(struct broker *b, const struct uring_xmsg *m)
{
    (void)b;
    free(m->ptr);
}

void admin_part_free(struct admin_part *p)
{
    if (p == NULL)
        return;
    if (p->subs) {
        struct admin_sub *v = p->items;

        for (size_t i = 0; i < p->n; i++) {
            free(v[i].pattern);
            free(v[i].group);
        }
    }
    free(p->items);
    free(p);
}

int admin_register(struct broker *b)
{
    int ret = core_mbox_register(b, ADMIN_MB_REPLY, reply_in, free_ptr);

    if (ret == 0)
        ret = core_mbox_register(b, ADMIN_MB_CLIENTS, clients_in, NULL);
    if (ret == 0)
        ret = core_mbox_register(b, ADMIN_MB_SUBS, subs_in, NULL);
    if (ret == 0)
        ret = core_mbox_register(b, ADMIN_MB_KICK, kick_in, free_ptr);
    if (ret == 0)
        ret = core_mbox_register(b, ADMIN_MB_SETTINGS, settings_in, free_ptr);
    return ret;
}
