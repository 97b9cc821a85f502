/*
 * admin: the cores' side of the admin API (docs/admin-api.md). Not a public API.
 *
 * A REQ on `$trpc.admin.<area>.<verb>` is answered by the broker itself: the requester's core
 * opens a pending entry with no responder (request_open_system, so the request's deadline,
 * shutdown and a requester that leaves work as for any request) and hands the verb and document
 * to the control thread (control.h). The control thread answers through the core's mailbox, and
 * asks the cores what only they know (their clients and subscriptions) or tells them what to do
 * (kick a client, apply new settings) the same way. Nothing here blocks a core: a full mailbox
 * makes the request fail with BUSY, and a core that cannot answer a question leaves the control
 * thread to time it out.
 *
 * Threads: admin_register on the main thread before core_start_all; admin_reserved and
 * admin_request on the core that has the session; the ADMIN_MB_* handlers run on the core the
 * message was posted to. The structs below travel between a core and the control thread: who
 * mallocs them hands them over with the message.
 */
#ifndef TRPC_SRC_ADMIN_H
#define TRPC_SRC_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/wire.h"
#include "src/config.h"

#define ADMIN_RESERVED "$trpc." /* no client may publish or subscribe under it */
#define ADMIN_PREFIX   "$trpc.admin."
#define ADMIN_DOC_MAX  (64u << 10) /* a request document */
#define ADMIN_VERB_MAX 64          /* "<area>.<verb>" */
#define ADMIN_NAME_MAX 64

struct broker;
struct core;
struct session;

/* Mailbox message types of the cores (core_post), from the control thread. */
enum admin_mb {
    ADMIN_MB_REPLY = 1, /* ptr: struct admin_reply */
    ADMIN_MB_CLIENTS,   /* u64: query id; the core answers CONTROL_PART with struct admin_client[] */
    ADMIN_MB_SUBS,      /* u64: query id; the core answers CONTROL_PART with struct admin_sub[] */
    ADMIN_MB_KICK,      /* ptr: struct admin_kick; the core answers CONTROL_PART, n = 1 if found */
    ADMIN_MB_SETTINGS,  /* ptr: struct admin_settings, the settings to apply */
    /* stream.c; ptr: struct stream_req, answered CONTROL_PART */
    ADMIN_MB_STREAM_OPEN,   /* the owner opens the stream's log: items one struct stream_info */
    ADMIN_MB_STREAM_CLOSE,  /* the owner closes it once what it holds is settled: n = 1 if it was open */
    ADMIN_MB_STREAM_INFO,   /* id 0: every stream the core owns; items struct stream_info[] */
    ADMIN_MB_STREAM_GET,    /* items one struct stream_msg, n = 0 when there is no such message */
    ADMIN_MB_STREAM_TABLE,  /* the core takes its new table of streams */
    ADMIN_MB_STREAM_GROUPS, /* the owner's consumer groups of the stream: items struct group_info[] */
    ADMIN_MB_STREAM_PURGE,  /* the owner removes every message stored: items one struct stream_info */
    ADMIN_MB_GROUP,         /* ptr: struct group_admin_req (group.h); items one struct group_info */
    ADMIN_MB_DLQ,           /* ptr: struct stream_dlq_req (stream.h); items one struct stream_dlq_result */
    ADMIN_MB_DLQ_STREAM,    /* ptr: struct admin_dlq_ask, answered; group.c */
    ADMIN_MB_AUTH,          /* ptr: struct auth_answer (auth.h), a CONNECT's verdict; session_auth.c */
    ADMIN_MB_AUTH_USER,     /* ptr: struct auth_update: new permissions, a user or token gone */
};

/* A durable SUB whose dead-letter topic no stream covers (CONTROL_DLQ_STREAM, from the member's
 * core): the control thread makes one, and posts the struct back (ADMIN_MB_DLQ_STREAM) with ok,
 * or why not. */
struct admin_dlq_ask {
    unsigned core;
    uint32_t slot, gen;
    uint64_t sid, token;
    bool ok;
    char why[256];
    uint16_t topic_len;
    char topic[];
};

/* A request from a client, for the control thread (CONTROL_REQUEST). */
struct admin_req {
    unsigned core;
    uint64_t token;            /* request_answer_system on that core */
    bool too_large;            /* the document was longer than ADMIN_DOC_MAX (and is not here) */
    char verb[ADMIN_VERB_MAX]; /* after the prefix, NUL-terminated */
    uint32_t len;
    uint8_t doc[];
};

/* The reply document for it. */
struct admin_reply {
    uint64_t token;
    uint32_t len;
    uint8_t doc[];
};

/* Settings for a core. gen orders them: a retried older copy that arrives after a newer one is
 * ignored. */
struct admin_settings {
    uint64_t gen;
    struct config cfg;
};

struct admin_kick {
    uint64_t query;
    uint64_t client;
};

struct admin_client {
    uint64_t id;
    char name[ADMIN_NAME_MAX];
    char peer[64];
    unsigned core;
    uint32_t subscriptions;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t pending_output;
    uint32_t keepalive_ms; /* what its CONNACK announced (a change of the setting reaches new sessions) */
    uint64_t connected_at; /* CLOCK_REALTIME, ns */
    char tls[48];          /* "": plaintext; else "TLSv1.3 user" (version and where the records are made) */
};

struct admin_sub {
    uint64_t client, sid, delivered;
    char *pattern; /* malloc'd with the array's owner */
    char *group;   /* NULL: a plain subscription */
};

/* A core's answer to a question of the control thread (CONTROL_PART). */
struct admin_part {
    uint64_t query;
    unsigned core;
    int err;     /* 0, or -ENOMEM: the core could not answer */
    bool subs;   /* items are struct admin_sub (with strings to free) */
    size_t n;    /* items */
    void *items; /* struct admin_client[] or struct admin_sub[] (strings included), or NULL */
};

/* Main thread, before core_start_all: the cores' mailbox handlers. 0 or -errno. */
int admin_register(struct broker *b);
/* Whether topic is under the reserved prefix. */
bool admin_reserved(const char *topic, size_t len);
/* A REQ on a reserved topic: answered by the broker (or refused). */
void admin_request(struct session *s, const struct wire_frame *f, uint32_t timeout_ms);
/* A core answers the control thread's question `query`: items (malloc'd, n of them, or NULL) are
 * taken; err 0 or -errno. A full mailbox drops it: the question times out. */
void admin_part_post(struct core *c, uint64_t query, int err, void *items, size_t n);
/* Frees a CONTROL_PART and its items. */
void admin_part_free(struct admin_part *p);

#endif
