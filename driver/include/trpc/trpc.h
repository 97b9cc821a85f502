/*
 * libtrpc: the TRPC client. Publish, subscribe (fan-out or queue group), request/reply.
 *
 * Conventions, for every function below unless it says otherwise:
 *
 * - Return value: 0 (TRPC_E_OK) on success, or a negative code -TRPC_E_* from <trpc/errors.h>.
 *   trpc_strerror() accepts the negative code. After a failure, trpc_last_error() returns a
 *   one-line detail for the calling thread ("connect 127.0.0.1:4250: Connection refused").
 * - Threads: every function is thread-safe unless noted. Callbacks run on the client's dispatcher
 *   thread by default (see trpc_options_set_dispatch); a callback may call any function of this
 *   library except trpc_close() on its own client.
 * - Ownership: the library copies every buffer and string the caller passes in before the call
 *   returns (topics, payloads, headers, option strings). A trpc_msg handed to a callback or
 *   returned through an out-parameter belongs to the caller, who frees it with trpc_msg_free().
 * - Opaque handles: struct layouts are private, so new options never break the ABI.
 *
 * docs/protocol.md is the wire protocol these calls speak; man 3 trpc_connect, trpc_publish,
 * trpc_subscribe, trpc_request, trpc_msg and trpc_options document each group.
 */
#ifndef TRPC_TRPC_H
#define TRPC_TRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <trpc/errors.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is the library's ABI (the build hides all else). */
#pragma GCC visibility push(default)

#define TRPC_VERSION_STRING "0.1.0"

typedef struct trpc_client trpc_client;
typedef struct trpc_options trpc_options;
typedef struct trpc_sub trpc_sub;
typedef struct trpc_msg trpc_msg;

/* One message header for trpc_publish_msg()/trpc_request_msg(). Keys: 1..255 bytes of 0x21..0x7e,
 * not starting with ':' (those are the protocol's). Values: any bytes. */
typedef struct trpc_header {
    const char *key;
    const void *value;
    size_t value_len;
} trpc_header;

/* Connection states reported to the state callback and by trpc_client_state(). */
typedef enum trpc_state {
    TRPC_STATE_CONNECTING = 1,   /* first connect in progress */
    TRPC_STATE_CONNECTED = 2,    /* session open (CONNACK received) */
    TRPC_STATE_RECONNECTING = 3, /* connection lost; retrying with backoff */
    TRPC_STATE_CLOSED = 4,       /* trpc_close() called, or reconnect attempts exhausted */
} trpc_state;

/* Where callbacks run. */
typedef enum trpc_dispatch {
    TRPC_DISPATCH_THREAD = 0, /* default: on dispatcher threads (1 unless set), in arrival order per subscription */
    TRPC_DISPATCH_IO = 1,     /* on the I/O thread itself: lowest latency; a slow callback stalls the client */
} trpc_dispatch;

/* Who encrypts what a trpcs:// connection sends (receiving is decrypted in the library either way). */
typedef enum trpc_tls_offload {
    TRPC_TLS_OFFLOAD_AUTO = 0,   /* default: the kernel (kernel TLS) where it takes the connection, else the library */
    TRPC_TLS_OFFLOAD_KERNEL = 1, /* the kernel or nothing: a connection it does not take fails with TRPC_E_TLS */
    TRPC_TLS_OFFLOAD_USER = 2,   /* the library (OpenSSL in user space) always */
} trpc_tls_offload;

/* A message for subscription `sub` (NULL for a reply). The callee owns msg: trpc_msg_free() it. */
typedef void trpc_msg_cb(trpc_client *c, trpc_sub *sub, trpc_msg *msg, void *ud);
/* Completion of trpc_request_async(): err 0 with reply set, or a negative code with reply NULL,
 * except -TRPC_E_RESPONDER_ERROR, where reply carries the responder's code and text
 * (trpc_msg_error_code, trpc_msg_data). The callee owns reply. Called exactly once. */
typedef void trpc_reply_cb(trpc_client *c, int err, trpc_msg *reply, void *ud);
/* The outcome of trpc_publish_async: err 0 and the stream sequence (0 for a topic no stream
 * covers), or a negative error code. */
typedef void trpc_puback_cb(trpc_client *c, int err, uint64_t seq, void *ud);
/* Connection state changes. */
typedef void trpc_state_cb(trpc_client *c, trpc_state state, void *ud);
/* Asynchronous errors: an ERR from the broker (sub set when it names a subscription), a slow
 * consumer cut-off, a reconnect failure. err is negative, like every return value here
 * (-TRPC_E_SLOW_CONSUMER, never TRPC_E_SLOW_CONSUMER): compare with -TRPC_E_x, or pass it to
 * trpc_strerror() or trpc_err_name() as it is. text is valid during the call only. */
typedef void trpc_error_cb(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud);

/* ---- options (man 3 trpc_options) ------------------------------------------------------------- */

/* An options object with the defaults. Not thread-safe: build it on one thread, then pass it to
 * trpc_connect(), which copies it; destroy it whenever you like afterwards. */
int trpc_options_create(trpc_options **out);
void trpc_options_destroy(trpc_options *o);

/* Client name shown in broker logs and the dashboard (":name"). Default: none. */
int trpc_options_set_name(trpc_options *o, const char *name);
/* User and password, or a token, for brokers that authenticate. Default: anonymous. */
int trpc_options_set_credentials(trpc_options *o, const char *user, const char *password);
int trpc_options_set_token(trpc_options *o, const char *token);
/* Do not deliver this client's own publishes to its own subscriptions. Default: false. */
int trpc_options_set_no_echo(trpc_options *o, bool no_echo);
/* Time allowed for TCP connect, the TLS handshake (trpcs://) and CONNECT/CONNACK together, per
 * attempt. Default 2000 ms. */
int trpc_options_set_connect_timeout(trpc_options *o, int timeout_ms);
/* Reconnect: max_attempts per outage (-1: forever, 0: never), delay starting at initial_ms and
 * doubling up to max_ms, each with up to 50% random jitter. Default: -1, 50 ms, 2000 ms. */
int trpc_options_set_reconnect(trpc_options *o, int max_attempts, int initial_ms, int max_ms);
/* Bytes of frames buffered for sending (connected or not), not yet taken by the socket. A publish
 * that would pass it fails with -TRPC_E_BUFFER_FULL at once; it never blocks. Default 8 MiB. */
int trpc_options_set_send_buffer(trpc_options *o, size_t bytes);
/* Bytes of received messages each dispatcher thread holds for callbacks that have not taken them
 * yet (as well as at most 65536 messages). A message that would pass either bound is dropped, and
 * the error callback hears -TRPC_E_SLOW_CONSUMER (with the subscription) once per overflow, until
 * the thread has caught up; a message larger than the bound alone still goes to an empty queue.
 * A message counts from its arrival until it is handed to its callback. Not used with
 * TRPC_DISPATCH_IO or an external loop (callbacks run as messages arrive). Default 64 MiB, at
 * least 4096. */
int trpc_options_set_dispatch_bytes(trpc_options *o, size_t bytes);
/* Requests pending at once per client; more fail with -TRPC_E_TOO_MANY_REQUESTS. Default 65536. */
int trpc_options_set_max_pending(trpc_options *o, unsigned max_pending);
/* Callback placement: TRPC_DISPATCH_THREAD with `threads` dispatcher threads (1..64; messages of
 * one subscription always go to the same thread, so per-subscription order holds), or
 * TRPC_DISPATCH_IO (threads ignored). Default: TRPC_DISPATCH_THREAD, 1. */
int trpc_options_set_dispatch(trpc_options *o, trpc_dispatch mode, unsigned threads);
/* No I/O thread: the application polls trpc_client_fd() for readability and calls
 * trpc_client_process(); callbacks then run inside trpc_client_process(). Default: false. */
int trpc_options_set_external_loop(trpc_options *o, bool external);
int trpc_options_set_state_cb(trpc_options *o, trpc_state_cb *cb, void *ud);
int trpc_options_set_error_cb(trpc_options *o, trpc_error_cb *cb, void *ud);

#define TRPC_HAVE_TLS 1
/* TLS settings, for trpcs:// URLs only (TLS 1.2 or 1.3; the files are PEM, read by trpc_connect
 * when it first tries a trpcs:// URL: one it cannot read fails the attempt with -TRPC_E_TLS and
 * the file's name in trpc_last_error()). */
/* The CAs that sign the broker's certificate. NULL (default): the system's store. */
int trpc_options_set_tls_ca(trpc_options *o, const char *ca_file);
/* A client certificate (chain, leaf first) for brokers that ask for one (mTLS), and its private
 * key; key_file NULL: the key is in cert_file. cert_file NULL (default): none, key_file must be
 * NULL too. */
int trpc_options_set_tls_cert(trpc_options *o, const char *cert_file, const char *key_file);
/* Accepts any certificate from the broker, checking neither its signature nor its name: for
 * tests only, never in production (anyone in the path can read and change the traffic). Default:
 * false. */
int trpc_options_set_tls_insecure_skip_verify(trpc_options *o, bool skip);
/* The name checked against the broker's certificate (a DNS name or an IP address) and sent as SNI
 * when it is a name, for every trpcs:// URL. NULL (default): each URL's own host. */
int trpc_options_set_tls_server_name(trpc_options *o, const char *name);
/* Kernel TLS: with TRPC_TLS_OFFLOAD_AUTO (default) a connection whose kernel has TLS (Linux's tls
 * module) hands it the keys once the handshake is done, and from then on the kernel encrypts what
 * the client sends; elsewhere the library does, as with TRPC_TLS_OFFLOAD_USER. With
 * TRPC_TLS_OFFLOAD_KERNEL a connection the kernel does not take fails with -TRPC_E_TLS,
 * trpc_last_error() saying why ("... the kernel has no TLS (module tls not loaded)"). */
int trpc_options_set_tls_offload(trpc_options *o, trpc_tls_offload mode);

/* ---- connection (man 3 trpc_connect) ---------------------------------------------------------- */

/*
 * Connects to the first reachable broker of `urls`, a comma-separated list of trpc://host:port
 * (port 4250 when omitted; the scheme may be omitted too) and trpcs://host:port (TLS, port 4251
 * when omitted; see trpc_options_set_tls_ca), tried in turn; IPv6 hosts in brackets. Returns once
 * the session is open, or with the last attempt's error: -TRPC_E_TLS when a TLS handshake failed,
 * trpc_last_error() saying why ("TLS with HOST:PORT: the server's certificate: certificate has
 * expired"). opts may be NULL. On success *out is a client the caller releases with trpc_close().
 */
int trpc_connect(trpc_client **out, const char *urls, const trpc_options *opts);

/*
 * Flushes what is buffered (for at most the connect timeout; in external-loop mode, until it is
 * handed to the kernel), closes the connection, fails pending requests with -TRPC_E_CLOSED (their
 * callbacks run), waits for running callbacks to return, and frees the client and its
 * subscriptions. Messages not yet dispatched are dropped. NULL is a no-op. Must not be called
 * twice; a call from one of this client's callbacks is ignored (it would wait for itself) and
 * sets trpc_last_error().
 */
void trpc_close(trpc_client *c);

/* Blocks until every frame buffered before the call was sent and the broker answered the PING this
 * call sent after them (its own PONG, not another call's), or timeout_ms passed (-TRPC_E_TIMEOUT).
 * After 0, the subscriptions made before the call are in force on every broker core. */
int trpc_flush(trpc_client *c, int timeout_ms);

trpc_state trpc_client_state(const trpc_client *c);
/* The broker's id for the current session (CONNACK client_id), 0 while not connected. */
uint64_t trpc_client_id(const trpc_client *c);

/* External loop mode only: a descriptor that becomes readable when trpc_client_process() has
 * work. Stable for the client's life (it survives reconnects). */
int trpc_client_fd(const trpc_client *c);
/* Does all the I/O work that is ready and runs due callbacks, without blocking. Call it from one
 * thread at a time, never from a callback, and at least every few tens of milliseconds (timers
 * run from it). trpc_request() and trpc_flush() wait for it, so call those only from another
 * thread (trpc_request() in a callback fails with -TRPC_E_INVALID_ARGUMENT; use
 * trpc_request_async()). Returns 0 or a negative code; -TRPC_E_CLOSED once closed for good. */
int trpc_client_process(trpc_client *c);

/* The calling thread's detail of its last failed call; "" if none. Valid until the thread's next
 * call into the library. */
const char *trpc_last_error(void);

/* ---- publish (man 3 trpc_publish) ------------------------------------------------------------- */

/* Queues a message on literal `topic` and returns; frames go out in batches. Publishes of one
 * thread reach the broker in call order. -TRPC_E_BUFFER_FULL when the send buffer is full (also
 * while reconnecting), -TRPC_E_BAD_TOPIC and friends for a bad topic, -TRPC_E_FRAME_TOO_LARGE above
 * the broker's max_frame. */
int trpc_publish(trpc_client *c, const char *topic, const void *data, size_t len);
int trpc_publish_msg(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                     size_t len);

#define TRPC_HAVE_PUBLISH_ACK 1
/*
 * Publishes and waits until the broker has accepted the message: for a topic that a stream covers,
 * once it is on the broker's disk, *seq (may be NULL) getting its sequence in the stream; for
 * another topic at once, *seq 0. timeout_ms > 0 bounds the wait (0: 5 s): -TRPC_E_TIMEOUT then,
 * and the message may or may not have been stored (publish it again: delivery is at least once).
 * The broker's refusals: -TRPC_E_MESSAGE_TOO_LARGE (the stream's max_msg_size or max_bytes),
 * -TRPC_E_STREAM_FULL (at its max_msgs or max_bytes with discard new: trpc_last_error() names the
 * limit), -TRPC_E_STORAGE_FAILED (its log cannot be written), -TRPC_E_UNAVAILABLE (it is too far
 * behind: try again later); and
 * -TRPC_E_CONNECTION_LOST when the connection drops meanwhile (same caveat as a timeout). Counts
 * against max_pending with requests. Not from the client's own I/O thread or inline callbacks.
 */
int trpc_publish_sync(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                      size_t len, int timeout_ms, uint64_t *seq);
/* The same without waiting: cb runs once with the outcome (on a dispatcher, as a reply callback).
 * Publishes of one thread reach the broker in call order; their acknowledgements may come back in
 * another order when they go to different streams. On a non-zero return cb never runs. */
int trpc_publish_async(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                       size_t len, int timeout_ms, trpc_puback_cb *cb, void *ud);

/* ---- streams (man 3 trpc_stream_declare) ------------------------------------------------------ */

#define TRPC_HAVE_STREAM_DECLARE 1
/* A stream's definition (docs/admin-api.md, stream.add); 0 members are the broker's defaults, but
 * for dedup_window_ms, whose default is -1 (0 turns deduplication off). */
typedef struct trpc_stream_config {
    const char *const *subjects; /* topic patterns whose messages the stream keeps: 1 .. 16 */
    size_t subject_count;
    uint32_t max_msg_size; /* payload bytes at most; 0: the frame limit */
    uint64_t max_msgs;     /* retention; 0: no limit */
    uint64_t max_bytes;
    uint64_t max_age_ms;
    bool discard_new;        /* at max_msgs or max_bytes: refuse new messages rather than drop the oldest */
    int64_t dedup_window_ms; /* trpc-msg-id window; negative: the broker's default (2 min), 0: off */
    bool interest_retention; /* also remove what every consumer group acknowledged ("retention": "interest") */
} trpc_stream_config;

/*
 * Declares stream `name` with cfg through the broker's admin API: made when it does not exist,
 * accepted as it is when it exists with the same definition (*created, may be NULL, says which);
 * -TRPC_E_STREAM_EXISTS when it exists with another, -TRPC_E_INVALID_ARGUMENT for a definition the
 * broker refuses (a bad name or pattern, a subject another stream keeps), -TRPC_E_STORAGE_FAILED
 * when its log cannot be opened, -TRPC_E_UNAVAILABLE (busy, the store down), and the errors of
 * trpc_request; trpc_last_error() has the broker's reason. Blocks up to timeout_ms (0: the
 * broker's default request timeout). Not from the client's own I/O thread or inline callbacks.
 */
int trpc_stream_declare(trpc_client *c, const char *name, const trpc_stream_config *cfg, int timeout_ms, bool *created);

/* ---- subscribe (man 3 trpc_subscribe) --------------------------------------------------------- */

/* Subscribes to `pattern` (wildcards * and >). cb runs for every matching message. *out is the
 * subscription's handle: it stays valid until trpc_sub_destroy() or trpc_close(), whichever comes
 * first. Subscriptions are restored after a reconnect. */
int trpc_subscribe(trpc_client *c, const char *pattern, trpc_msg_cb *cb, void *ud, trpc_sub **out);
/* The same in queue group `group`: each message goes to one member of the group. Requests (see
 * trpc_request) go only to group subscriptions: a service subscribes with a group. */
int trpc_subscribe_group(trpc_client *c, const char *pattern, const char *group, trpc_msg_cb *cb, void *ud, trpc_sub **out);

#define TRPC_HAVE_SUBSCRIBE_MSG 1
/* trpc_subscribe_group() with headers on the SUB (the delivery policy: trpc-durable,
 * trpc-max-deliveries, trpc-backoff, trpc-dlq); group NULL = plain fan-out subscription. Keys
 * follow trpc_header's rules (no leading ':'); the library copies them and sends them again when
 * it restores the subscription after a reconnect. More headers than the broker's max_headers
 * (":group" counts) fail with -TRPC_E_TOO_MANY_HEADERS, a block above its max_header_bytes with
 * -TRPC_E_HEADERS_TOO_LARGE, a bad key with -TRPC_E_BAD_HEADER. */
int trpc_subscribe_msg(trpc_client *c, const char *pattern, const char *group, const trpc_header *headers, size_t header_count,
                       trpc_msg_cb *cb, void *ud, trpc_sub **out);
#define TRPC_HAVE_SUBSCRIBE_DURABLE 1
/* Joins consumer group `name` (1..64 letters, digits, '_', '-') of the stream that covers
 * `pattern` (docs/protocol.md section 6.2): each stored message goes to one member of the group,
 * which answers with trpc_ack() or trpc_nack(); what is not acknowledged is delivered again
 * (trpc_msg_delivery() counts the attempts). window: messages in flight at most (0: the broker's
 * default). headers: the group's delivery policy (trpc-max-deliveries, trpc-backoff, trpc-dlq,
 * trpc-ack-wait, trpc-start), as for trpc_subscribe_msg(). The broker's refusals (no stream,
 * another pattern or policy than the group's) reach the error callback with the subscription. */
int trpc_subscribe_durable(trpc_client *c, const char *pattern, const char *name, uint32_t window, const trpc_header *headers,
                           size_t header_count, trpc_msg_cb *cb, void *ud, trpc_sub **out);
/* Ends the subscription. After it returns, cb is not called again for it (a call already running
 * on another thread finishes first, unless this is called from that callback). The handle stays
 * valid for trpc_sub_pattern() and for a second trpc_unsubscribe(), which fails with
 * -TRPC_E_INVALID_ARGUMENT (so does NULL), until trpc_sub_destroy() releases it. */
int trpc_unsubscribe(trpc_sub *sub);
/* Releases the handle, unsubscribing first if it is still active. Every handle must be destroyed
 * (or left to trpc_close(), which frees the rest): a program that subscribes and unsubscribes
 * forever without destroying grows. NULL is a no-op; sub must not be used afterwards. May be
 * called from sub's own callback (the message being handled stays valid until freed). */
void trpc_sub_destroy(trpc_sub *sub);
/* The pattern it was made with. */
const char *trpc_sub_pattern(const trpc_sub *sub);

/* ---- request/reply (man 3 trpc_request) ------------------------------------------------------- */

/*
 * Sends a request to one responder on `topic` and waits for the reply (timeout_ms > 0, or 0 for
 * the broker's default). On 0, *reply is the reply. Errors: -TRPC_E_NO_RESPONDERS, -TRPC_E_TIMEOUT,
 * -TRPC_E_CONNECTION_LOST (the connection dropped while waiting), -TRPC_E_RESPONDER_LOST, and
 * -TRPC_E_RESPONDER_ERROR with *reply set to the responder's error (trpc_msg_error_code and the
 * payload text). The request goes out at once: there is no flush delay.
 */
int trpc_request(trpc_client *c, const char *topic, const void *data, size_t len, int timeout_ms, trpc_msg **reply);
int trpc_request_msg(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                     size_t len, int timeout_ms, trpc_msg **reply);
#define TRPC_HAVE_REQUEST_DURABLE 1
/*
 * A durable request (protocol version 3; man 3 trpc_request_durable): as trpc_request_msg while a
 * responder subscribes to `topic` with a queue group. With none, rather than failing with
 * NO_RESPONDERS, the request is stored in the stream covering `topic` and waits there until a
 * member of a consumer group of that stream takes it or timeout_ms passes (-TRPC_E_TIMEOUT; the
 * broker then drops it undelivered). -TRPC_E_NO_STREAM when no stream covers the topic,
 * -TRPC_E_STREAM_FULL and the stream's other refusals, -TRPC_E_UNSUPPORTED_VERSION from an older
 * broker. A member gets it as a durable message for which trpc_msg_is_request() is true: its
 * trpc_respond() answers the requester and acknowledges the message.
 */
int trpc_request_durable(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                         size_t len, int timeout_ms, trpc_msg **reply);
/* The same without waiting, as trpc_request_async. */
int trpc_request_durable_async(trpc_client *c, const char *topic, const trpc_header *headers, size_t header_count, const void *data,
                               size_t len, int timeout_ms, trpc_reply_cb *cb, void *ud);
/* The same without waiting: cb runs once with the outcome. On a non-zero return cb never runs. */
int trpc_request_async(trpc_client *c, const char *topic, const void *data, size_t len, int timeout_ms, trpc_reply_cb *cb,
                       void *ud);

/* Answers request `req` (trpc_msg_is_request) received by a subscription. Once per request; a
 * second answer fails with -TRPC_E_INVALID_ARGUMENT. Works from any thread, and after the callback
 * returned as long as req is not freed. A durable request (trpc_request_durable) is acknowledged
 * with its answer; its requester may have gone meanwhile, and then the answer goes nowhere. */
int trpc_respond(trpc_msg *req, const void *data, size_t len);
/* Answers with an application error: the requester gets -TRPC_E_RESPONDER_ERROR and a reply whose
 * trpc_msg_error_code() is `code` and whose payload is `text`. */
int trpc_respond_error(trpc_msg *req, uint32_t code, const char *text);

/* Durable delivery (MSG with ACK required): retire it, or ask for redelivery after delay_ms (0:
 * the topic's backoff). -TRPC_E_INVALID_ARGUMENT for a message that needs no acknowledgement. */
int trpc_ack(trpc_msg *msg);
int trpc_nack(trpc_msg *msg, uint32_t delay_ms);
/* Still working on it: the ack wait starts again (call it more often than the group's ack wait).
 * Or give up on it for good: it goes to the group's dead-letter topic at once, whatever its
 * max_deliveries, with reason (at most 256 bytes kept; may be NULL) in header
 * trpc-dlq-term-reason. Both need a broker of protocol version 2 (-TRPC_E_UNSUPPORTED_VERSION). */
int trpc_in_progress(trpc_msg *msg);
int trpc_term(trpc_msg *msg, const char *reason);

/* ---- messages (man 3 trpc_msg) ---------------------------------------------------------------- */

/* NUL-terminated topic; "" for a reply. */
const char *trpc_msg_topic(const trpc_msg *m);
/* Payload; never NULL (an empty payload gives a pointer to a zero byte). */
const void *trpc_msg_data(const trpc_msg *m);
size_t trpc_msg_len(const trpc_msg *m);
/* The first header named key, or NULL; *len gets its length (len may be NULL). */
const void *trpc_msg_header(const trpc_msg *m, const char *key, size_t *len);
/* Headers by index (0..count-1), in the order sent. Returns false past the end. */
size_t trpc_msg_header_count(const trpc_msg *m);
bool trpc_msg_header_at(const trpc_msg *m, size_t i, const char **key, const void **value, size_t *value_len);
/* True for a request delivered to a subscription: answer it with trpc_respond(). */
bool trpc_msg_is_request(const trpc_msg *m);
/* Milliseconds the requester still waits, as of delivery (0 if not a request); for a durable
 * request, as of now by this machine's clock against the broker's. */
uint32_t trpc_msg_deadline_ms(const trpc_msg *m);
/* The responder's code of a reply that failed with -TRPC_E_RESPONDER_ERROR; 0 otherwise. */
uint32_t trpc_msg_error_code(const trpc_msg *m);
/* Delivery attempt of a durable message (1 on the first), 0 for others. */
uint32_t trpc_msg_delivery(const trpc_msg *m);
/* A durable message's sequence in its stream; 0 for others. */
uint64_t trpc_msg_seq(const trpc_msg *m);
/* NULL is a no-op. A request freed before it was answered is left to time out at the requester. */
void trpc_msg_free(trpc_msg *m);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
