/*
 * session: one client connection of a core, its frames and its output (not a public API).
 *
 * Every function runs on the thread of the core that owns the session (s->core). core.c accepts
 * and frees sessions; session.c parses their frames and hands them to the modules (route.h,
 * request.h). The struct's fields are grouped by the module that owns them.
 */
#ifndef TRPC_SRC_SESSION_H
#define TRPC_SRC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/wire.h"
#include "src/blist.h"
#include "src/idmap.h"
#include "uring/uring.h"

struct auth_cache;
struct auth_perms;
struct core;
struct tls_conn;

/* rx_bid of plaintext a TLS session decrypted into its own buffer: no ring buffer to put back. */
#define SESSION_BID_NONE UINT32_MAX

enum session_state { SESS_NEW, SESS_OPEN, SESS_CLOSING };

struct rx_held {
    const uint8_t *data;
    uint32_t len;
    unsigned bid;
};

struct session {
    /* core.c */
    struct uring_conn conn;
    struct core *core;
    uint32_t slot, gen;
    uint64_t client_id;
    enum session_state state;
    bool counted;        /* holds one of max_connections */
    unsigned stop_holds; /* shutting down: modules holding its ERR (core_stop_release) */
    uint64_t last_rx_ns;
    unsigned keepalive_ms; /* what it was told (CONNACK); 0: never idle */
    uint64_t closing_ns;
    struct blist node; /* core->lru (open, new) or core->closing */
    char peer[64];
    char name[64];
    uint64_t connected_at; /* CLOCK_REALTIME, ns */
    /* Traffic, for the admin API: frames and bytes received, MSGs delivered and bytes queued.
     * Frames other cores write straight to the connection (direct.h) are not counted. */
    uint64_t msgs_in, bytes_in, msgs_out, bytes_out;
    /* session.c */
    bool no_echo;
    uint8_t version; /* the protocol version CONNACK chose */
    struct wire_reader rd;
    /* Reading stopped ("Backpressure"): the buffer whose frames were being parsed when it stopped
     * (rx_bid; the reader still points into it) and those that arrived after. */
    bool rx_paused;
    bool rx_parsing; /* rx_bid/rx_data/rx_len hold the buffer the reader is in */
    unsigned rx_bid;
    const uint8_t *rx_data;
    size_t rx_len;
    size_t rx_off;           /* where in it the next frame begins, when known (refused_id) */
    struct rx_held *rx_held; /* FIFO ring of later buffers, allocated on first use */
    uint32_t rx_head, rx_count, rx_cap;
    struct blist rx_node; /* route: core->route.rx_resume while waiting to read again */
    /* route.c */
    struct idmap subs; /* sid -> struct rsub (this core's copy) */
    bool responder;    /* has had a queue-group subscription: requests may wait for its replies */
    /* group.c */
    struct idmap dsubs; /* sid -> its durable subscription (consumer group membership) */
    unsigned pongs_held;
    /* stls.c: NULL tls for a plaintext connection */
    struct tls_conn *tls;
    bool tls_done;        /* handshake finished */
    bool tls_rx_kernel;   /* kernel TLS receive: what the socket brings is plaintext */
    bool tls_fed;         /* tls_first holds the first byte received */
    uint8_t tls_first;    /* a client that sent something else than a TLS record first speaks plaintext */
    uint8_t *tls_plain;   /* decrypted bytes being parsed (STLS_PLAIN_BYTES), from the handshake on */
    struct blist hs_node; /* core->stls.handshakes while the handshake runs */
    uint64_t hs_deadline_ns;
    /* session_auth.c */
    struct auth_perms *perms;  /* NULL: authentication is off, everything is allowed */
    struct auth_cache *acache; /* with perms */
    bool auth_wait;            /* its CONNECT is with the control thread: nothing else is parsed */
    uint64_t connect_id;
    char token_id[20]; /* the token it logged in with, "" when none */
    uint64_t denied_log_ns;
    uint32_t denied_unlogged;
    /* request.c */
    struct blist requests; /* pending requests it made (struct preq.req_node) */
    unsigned nrequests;    /* on that list: max_pending_requests_per_client at most */
    bool stop_wait;        /* shutting down: its ERR waits for the replies other cores claimed */
};

void session_on_recv(struct uring_conn *conn, void *data, size_t len, unsigned bid);
/* Parses plaintext a TLS session decrypted into data (its own buffer, which stays untouched while
 * s->rx_parsing says the reader is in it). */
void session_rx_plain(struct session *s, const uint8_t *data, size_t len);
/* Closes without a frame (what the peer needs to know went already, or cannot go): the session
 * moves to the closing list and its output is flushed, within BROKER_CLOSE_GRACE_NS. */
void session_close(struct session *s);
/* Queues a frame made of a fixed header and a body; cuts the session as a slow consumer when it
 * would pass max_output_bytes. Returns 0, -ENOBUFS (cut), -EPIPE (closing) or another -errno of
 * uring_conn_write (the session is closed then). */
int session_write2(struct session *s, const void *a, size_t alen, const void *b, size_t blen);
/* Encodes o and queues it as session_write2 does. Returns as session_write2, -ENOMEM, or
 * BROKER_ETRPC(TRPC_E_x) when the codec refuses o. */
int session_send(struct session *s, const struct wire_out *o);
/* ERR frames: code is a wire code (TRPC_E_x > 0); a broker error goes through broker_err_wire()
 * first (src/err.h). fatal (and session_fail): the session closes after the frame. */
void session_send_err(struct session *s, uint64_t id, int code, bool fatal, const char *msg);
void session_fail(struct session *s, uint64_t id, int code, const char *msg);
void session_send_pong(struct session *s, uint64_t id);
/* Stops parsing the session's frames after the current one, and reading its socket. */
void session_rx_pause(struct session *s);
/* Parses what was held back, then reads again, unless something paused it once more. */
void session_rx_resume(struct session *s);
/* A closing session gives back the receive buffers it held. */
void session_rx_release(struct session *s);
/* Accepts the session: CONNACK with the version it chose (s->version). */
void session_connack(struct session *s);

/* session_auth.c. do_connect hands a CONNECT to the control thread when authentication is on:
 * 0 (the session waits, reading nothing more, for ADMIN_MB_AUTH), or -EAGAIN (its mailbox is
 * full: the caller refuses the client). */
int session_auth_begin(struct session *s, const struct wire_frame *f);
/* With permissions (s->perms): whether the session may do f (a PUB, a SUB with its group or
 * durable name and its dead-letter topic (p, its policy), a REQ); when not, it has been told (ERR
 * or REP ERROR PERMISSION_DENIED). */
struct policy;
bool session_auth_pub(struct session *s, const struct wire_frame *f);
bool session_auth_sub(struct session *s, const struct wire_frame *f, const struct policy *p);
bool session_auth_req(struct session *s, const struct wire_frame *f);
/* Main thread, before core_start_all: the mailbox handlers. 0 or -errno. */
struct broker;
int session_auth_register(struct broker *b);
extern const struct core_module auth_module;
/* Byte offset 32 of a decoded frame (topic, headers, payload in a row), or NULL when empty. */
const uint8_t *frame_body(const struct wire_frame *f);

#endif
