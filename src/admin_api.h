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

#include <jansson.h>

#include "src/admin.h"

#define ADMIN_LIST_DEFAULT 1000
#define ADMIN_LIST_MAX     10000
#define ADMIN_SETTINGS_MAX 32 /* settings changed by one settings.set */
#define ADMIN_SESSION_HEX  64 /* the dashboard's session cookie: 32 random bytes */
#define ADMIN_CSRF_HEX     32
#define ADMIN_REPLY_MAX    (4u << 20) /* a reply's document at most (admin_api_reply_budget) */

struct control;
struct stream_msg;

/* Every error code a reply may carry (docs/admin-api.md lists them all), with its HTTP status on
 * the dashboard's API (dashboard/api.c). admin_api_fail asserts that its code is one of these, so
 * a new code cannot reach a client undocumented or unmapped. CSRF is the HTTP layer's own. */
#define ADMIN_API_ERRORS(XX)                                                                                                       \
    XX(BAD_REQUEST, 400, "Bad Request")                                                                                            \
    XX(UNKNOWN_VERB, 404, "Not Found")                                                                                             \
    XX(NOT_FOUND, 404, "Not Found")                                                                                                \
    XX(EXISTS, 409, "Conflict")                                                                                                    \
    XX(STREAM_EXISTS, 409, "Conflict")                                                                                             \
    XX(GROUP_EXISTS, 409, "Conflict")                                                                                              \
    XX(SUBJECTS_OVERLAP, 409, "Conflict")                                                                                          \
    XX(LIMIT, 409, "Conflict")                                                                                                     \
    XX(NOT_LIVE, 409, "Conflict")                                                                                                  \
    XX(INVALID_VALUE, 422, "Unprocessable Entity")                                                                                 \
    XX(UNAUTHORIZED, 401, "Unauthorized")                                                                                          \
    XX(FORBIDDEN, 403, "Forbidden")                                                                                                \
    XX(CSRF, 403, "Forbidden")                                                                                                     \
    XX(BUSY, 503, "Service Unavailable")                                                                                           \
    XX(STORE_UNAVAILABLE, 503, "Service Unavailable")                                                                              \
    XX(SHUTTING_DOWN, 503, "Service Unavailable")                                                                                  \
    XX(STORAGE_FAILED, 500, "Internal Server Error")                                                                               \
    XX(INTERNAL, 500, "Internal Server Error")

/* Whether code is one of ADMIN_API_ERRORS; its HTTP status and reason when it is (else 500). */
bool admin_api_error_known(const char *code);
int admin_api_error_status(const char *code, const char **reason);

/* One call: a verb ("<area>.<verb>") and its document in, one reply document out. done gets
 * the reply (malloc'd, the callee's to free) exactly once, possibly after admin_api_call has
 * returned (verbs that ask the cores); the call must stay valid until then. */
struct admin_call {
    char verb[ADMIN_VERB_MAX];
    const uint8_t *doc;
    size_t len;
    bool too_large; /* the transport refused a document above ADMIN_DOC_MAX */
    /* The dashboard's HTTP API: with authentication on, the call needs the bearer token of an
     * admin (a client's REQ was checked on its core; the broker's own calls need nothing). */
    bool http;
    char bearer[96];
    /* Or the dashboard's login session (control_dash.c): its cookie, the X-CSRF-Token the request
     * carried (checked there: the session's own), and the peer, for the login's guessing delays. */
    char session[ADMIN_SESSION_HEX + 1];
    char csrf[ADMIN_CSRF_HEX + 1];
    char peer[64];
    void (*done)(struct control *ctl, struct admin_call *call, char *reply, size_t len);
};

/* The head of every call waiting for the cores (the arg of its question, control_ask), so that a
 * shutdown can let it go (admin_api_abandon): cleanup frees what the rest holds (NULL: nothing). */
struct admin_wait {
    struct control *ctl;
    struct admin_call *call;
    void (*cleanup)(struct admin_wait *w);
};

void admin_api_call(struct control *ctl, struct admin_call *call);
/* For the verbs' files: the reply (doc taken; NULL: out of memory), a failure with an error code
 * and message, a JSON string of text that need not be UTF-8, RFC 3339 time of CLOCK_REALTIME ns. */
void admin_api_reply(struct control *ctl, struct admin_call *call, json_t *doc);
__attribute__((format(printf, 4, 5))) void admin_api_fail(struct control *ctl, struct admin_call *call, const char *code,
                                                          const char *fmt, ...);
/* The answer to the error of an operation a stream's owner core ran (or did not answer in time):
 * NOT_FOUND for -ESRCH (no such stream), BUSY for -ETIMEDOUT, -EAGAIN and -EBUSY (busy_hint, when
 * not NULL, added), INTERNAL for -ENOMEM, else STORAGE_FAILED with the log's error. */
void admin_api_fail_stream(struct control *ctl, struct admin_call *call, const char *stream, int err, const char *busy_hint);
json_t *admin_api_text(const char *s);
/* admin_api_text of the n bytes at s (a topic, which has no NUL to end it). */
json_t *admin_api_textn(const char *s, size_t n);
/* Whether s[0, n) is UTF-8 that JSON can carry as it is. */
bool admin_api_utf8(const char *s, size_t n);
void admin_api_rfc3339(uint64_t ns, char *buf, size_t len);
/* The bytes a reply's document may take: half the max-output-bytes in force (more and the requester
 * would be cut off as a slow consumer by its own answer), at most ADMIN_REPLY_MAX. The lists page
 * by it; stream.get and dlq.list leave a message's body out rather than pass it. */
size_t admin_api_reply_budget(const struct control *ctl);
/* The bytes doc takes in a reply (compact, and a separator); 0 for NULL. */
size_t admin_api_doc_len(const json_t *doc);

/* admin_stream.c: the stream verbs, and the streams of the store at start-up (control_init). */
void admin_stream_add(struct control *ctl, struct admin_call *call, json_t *req);
void admin_stream_delete(struct control *ctl, struct admin_call *call, json_t *req);
void admin_stream_edit(struct control *ctl, struct admin_call *call, json_t *req);
void admin_stream_info(struct control *ctl, struct admin_call *call, json_t *req);
void admin_stream_list(struct control *ctl, struct admin_call *call, json_t *req);
void admin_stream_get(struct control *ctl, struct admin_call *call, json_t *req);
void admin_stream_purge(struct control *ctl, struct admin_call *call, json_t *req);
/* A stored message's header block as [{"key", "value"}] (null for a value that is not UTF-8),
 * and bytes as base64 (malloc'd). */
json_t *admin_stream_headers(const uint8_t *h, uint32_t len);
char *admin_stream_base64(const uint8_t *in, size_t len);
/* A stored message as stream.get and dlq.list show it (seq, time, topic, headers, size, payload,
 * payload_base64, payload_omitted, headers_omitted), or NULL (out of memory). */
json_t *admin_stream_msg_doc(const struct stream_msg *m);
/* Makes a document holding such a message fit in room bytes: the payload is left out (payload and
 * payload_base64 null, payload_omitted true), then, if that is not enough, the headers too (an empty
 * list, headers_omitted true). Returns the document's length after (admin_api_doc_len), which is
 * above room only when topic and metadata alone are. */
size_t admin_stream_fit(json_t *doc, size_t room);
/* admin_dlq.c: the dead-letter verbs. */
void admin_dlq_list(struct control *ctl, struct admin_call *call, json_t *req);
void admin_dlq_redrive(struct control *ctl, struct admin_call *call, json_t *req);
void admin_dlq_purge(struct control *ctl, struct admin_call *call, json_t *req);
/* admin_dlq_stream.c: makes sure a stream covers dead-letter topic[0, len) (a literal), adding
 * one named by stream_dlq_name when none does, once no other stream change is under way. fn gets,
 * once (perhaps before this returns), NULL and the stream's name, or an error code and message, or
 * NULL and NULL when the broker stops first (free what arg holds, answer nobody). */
typedef void admin_dlq_stream_fn(struct control *ctl, void *arg, const char *code, const char *text);
void admin_dlq_stream(struct control *ctl, const char *topic, size_t len, admin_dlq_stream_fn *fn, void *arg);
void admin_dlq_stream_ask(struct control *ctl, struct admin_dlq_ask *a); /* CONTROL_DLQ_STREAM; a taken */
void admin_dlq_tick(struct control *ctl);                                /* each round: starts one waiting */
void admin_dlq_free(struct control *ctl);                                /* shutdown: lets the waiting go */
/* admin_group.c: the consumer group verbs. */
void admin_group_add(struct control *ctl, struct admin_call *call, json_t *req);
void admin_group_delete(struct control *ctl, struct admin_call *call, json_t *req);
void admin_group_reset(struct control *ctl, struct admin_call *call, json_t *req);
void admin_group_info(struct control *ctl, struct admin_call *call, json_t *req);
void admin_group_list(struct control *ctl, struct admin_call *call, json_t *req);
/* admin_user.c: the user and token verbs (the records: auth.h). */
void admin_user_add(struct control *ctl, struct admin_call *call, json_t *req);
void admin_user_get(struct control *ctl, struct admin_call *call, json_t *req);
void admin_user_list(struct control *ctl, struct admin_call *call, json_t *req);
void admin_user_del(struct control *ctl, struct admin_call *call, json_t *req);
void admin_user_passwd(struct control *ctl, struct admin_call *call, json_t *req);
void admin_user_grant(struct control *ctl, struct admin_call *call, json_t *req);
void admin_user_revoke(struct control *ctl, struct admin_call *call, json_t *req);
void admin_user_enable(struct control *ctl, struct admin_call *call, json_t *req);
void admin_user_disable(struct control *ctl, struct admin_call *call, json_t *req);
void admin_token_add(struct control *ctl, struct admin_call *call, json_t *req);
void admin_token_list(struct control *ctl, struct admin_call *call, json_t *req);
void admin_token_del(struct control *ctl, struct admin_call *call, json_t *req);
int admin_stream_load(struct control *ctl, char *err, size_t errlen);
void admin_stream_free(struct control *ctl);
/* A client's request (CONTROL_REQUEST): answered through control_reply; r is taken. */
void admin_api_request(struct control *ctl, struct admin_req *r);
/* A call waiting for the cores will never be answered (shutdown): frees what it holds. */
void admin_api_abandon(void *arg);

#endif
