/*
 * admin_api: the verbs of the admin API (docs/admin-api.md), independent of the transport that
 * brought the request: a client's REQ on `$trpc.admin.<verb>` (admin.c hands it to the control
 * thread), and next the dashboard's HTTP API. Not a public API.
 *
 * Threads: every function runs on the control thread (control.h).
 */
#ifndef TRPC_SRC_ADMIN_API_H
#define TRPC_SRC_ADMIN_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/admin.h"

#define ADMIN_LIST_DEFAULT 1000
#define ADMIN_LIST_MAX     10000
#define ADMIN_SETTINGS_MAX 32         /* settings changed by one settings.set */
#define ADMIN_REPLY_MAX    (4u << 20) /* a list reply's document at most (admin_api.c, reply_budget) */

struct control;

/* One call: a verb ("<area>.<verb>") and its document in, one reply document out. done gets
 * the reply (malloc'd, the callee's to free) exactly once, possibly after admin_api_call has
 * returned (verbs that ask the cores); the call must stay valid until then. */
struct admin_call {
    char verb[ADMIN_VERB_MAX];
    const uint8_t *doc;
    size_t len;
    bool too_large; /* the transport refused a document above ADMIN_DOC_MAX */
    void (*done)(struct control *ctl, struct admin_call *call, char *reply, size_t len);
};

void admin_api_call(struct control *ctl, struct admin_call *call);
/* A client's request (CONTROL_REQUEST): answered through control_reply; r is taken. */
void admin_api_request(struct control *ctl, struct admin_req *r);
/* A call waiting for the cores will never be answered (shutdown): frees what it holds. */
void admin_api_abandon(void *arg);

#endif
