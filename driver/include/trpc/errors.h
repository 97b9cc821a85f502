/*
 * TRPC error codes: one list, the enum, the names and the messages all come from it.
 *
 * Codes are stable forever: a code is never renumbered or reused, an obsolete one keeps its
 * number and is marked so. Codes below 900 may travel on the wire (the `aux` field of ERR and of
 * an error REP, see docs/protocol.md); codes from 900 up are reported by the client library only
 * and never appear in a frame.
 *
 * Ranges: 1xx malformed frames, 2xx session and security, 3xx routing and request/reply,
 * 4xx limits and flow control, 5xx broker state, 9xx client library.
 */
#ifndef TRPC_ERRORS_H
#define TRPC_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

#define TRPC_ERR_MAP(XX)                                                                                                           \
    XX(OK, 0, "success")                                                                                                           \
    XX(PROTOCOL, 100, "protocol violation")                                                                                        \
    XX(BAD_LENGTH, 101, "frame length shorter than the fixed header")                                                              \
    XX(FRAME_TOO_LARGE, 102, "frame length above the negotiated maximum")                                                          \
    XX(UNKNOWN_TYPE, 103, "unknown frame type")                                                                                    \
    XX(BAD_FLAGS, 104, "flag not allowed for this frame type")                                                                     \
    XX(SECTION_OVERRUN, 105, "topic and header block overrun the frame")                                                           \
    XX(TOPIC_TOO_LONG, 106, "topic longer than the negotiated maximum")                                                            \
    XX(TOPIC_REQUIRED, 107, "frame type requires a topic")                                                                         \
    XX(TOPIC_NOT_ALLOWED, 108, "frame type carries no topic")                                                                      \
    XX(BAD_TOPIC, 109, "malformed topic: empty token or forbidden byte")                                                           \
    XX(WILDCARD_NOT_ALLOWED, 110, "wildcard in a topic that must be literal")                                                      \
    XX(BAD_WILDCARD, 111, "wildcard must be a whole token and '>' must be last")                                                   \
    XX(HEADERS_TOO_LARGE, 112, "header block larger than the negotiated maximum")                                                  \
    XX(TOO_MANY_HEADERS, 113, "more headers than the negotiated maximum")                                                          \
    XX(BAD_HEADER, 114, "malformed header entry")                                                                                  \
    XX(HEADERS_NOT_ALLOWED, 115, "frame type carries no header block")                                                             \
    XX(PAYLOAD_NOT_ALLOWED, 116, "frame type carries no payload")                                                                  \
    XX(BAD_PAYLOAD, 117, "payload does not have the layout the frame type requires")                                               \
    XX(BAD_ID, 118, "identifier must be non-zero for this frame type")                                                             \
    XX(RESERVED_NOT_ZERO, 119, "field reserved for this frame type is not zero")                                                   \
    XX(BAD_CODE, 120, "error frame without an error code")                                                                         \
    XX(BAD_SEQ, 121, "sequence must be non-zero for this frame type")                                                              \
    XX(UNSUPPORTED_VERSION, 200, "no protocol version in common")                                                                  \
    XX(NOT_CONNECTED, 201, "first frame must be CONNECT")                                                                          \
    XX(ALREADY_CONNECTED, 202, "CONNECT sent twice")                                                                               \
    XX(AUTH_FAILED, 203, "authentication failed")                                                                                  \
    XX(PERMISSION_DENIED, 204, "permission denied for this topic")                                                                 \
    XX(IDLE_TIMEOUT, 205, "no traffic within the keepalive interval")                                                              \
    XX(UNEXPECTED_FRAME, 206, "frame type not valid in this direction")                                                            \
    XX(KICKED, 207, "disconnected by an administrator")                                                                            \
    XX(NO_RESPONDERS, 300, "no responders for this topic")                                                                         \
    XX(TIMEOUT, 301, "request deadline expired")                                                                                   \
    XX(RESPONDER_LOST, 302, "responder disconnected before replying")                                                              \
    XX(BAD_REPLY_TOKEN, 303, "unknown, expired or foreign reply token")                                                            \
    XX(UNKNOWN_SUBSCRIPTION, 304, "no subscription with this id")                                                                  \
    XX(DUPLICATE_SUBSCRIPTION, 305, "subscription id already in use")                                                              \
    XX(UNKNOWN_SEQUENCE, 306, "no delivery in flight with this sequence")                                                          \
    XX(BAD_POLICY, 307, "delivery policy header refused")                                                                          \
    XX(MESSAGE_TOO_LARGE, 308, "message larger than the stream allows")                                                            \
    XX(NO_STREAM, 309, "no stream covers the topic or the pattern")                                                                \
    XX(STREAM_FULL, 310, "the stream is at its limit and refuses new messages")                                                    \
    XX(STREAM_EXISTS, 311, "a stream of this name exists with another definition")                                                 \
    XX(SLOW_CONSUMER, 400, "output queue full: slow consumer cut off")                                                             \
    XX(TOO_MANY_CONNECTIONS, 401, "connection limit reached")                                                                      \
    XX(TOO_MANY_SUBSCRIPTIONS, 402, "subscription limit per connection reached")                                                   \
    XX(TOO_MANY_REQUESTS, 403, "pending request limit reached")                                                                    \
    XX(SHUTTING_DOWN, 500, "broker is shutting down")                                                                              \
    XX(INTERNAL, 501, "internal broker error")                                                                                     \
    XX(UNAVAILABLE, 502, "service temporarily unavailable")                                                                        \
    XX(STORAGE_FAILED, 503, "message not stored: the stream's log failed")                                                         \
    XX(INVALID_ARGUMENT, 900, "invalid argument")                                                                                  \
    XX(NO_MEMORY, 901, "out of memory")                                                                                            \
    XX(CLOSED, 902, "client is closed")                                                                                            \
    XX(CONNECTION_LOST, 903, "connection to the broker lost")                                                                      \
    XX(IO, 904, "input/output error")                                                                                              \
    XX(BUFFER_FULL, 905, "buffer full")                                                                                            \
    XX(RESPONDER_ERROR, 906, "responder returned an error")                                                                        \
    XX(NO_SPACE, 907, "output buffer too small")                                                                                   \
    XX(TLS, 908, "TLS handshake failed or TLS error")

/* TRPC_E_OK == 0; every other code is a positive number from the list above. */
enum trpc_err {
#define TRPC_ERR_ENUM_(name, code, msg) TRPC_E_##name = code,
    TRPC_ERR_MAP(TRPC_ERR_ENUM_)
#undef TRPC_ERR_ENUM_
};

#ifndef TRPC_API
#define TRPC_API __attribute__((visibility("default")))
#endif

/*
 * The message for an error code. Accepts the code or its negation (internal functions return
 * -TRPC_E_x); an unknown code yields "unknown error". Never returns NULL; the string is static.
 */
TRPC_API const char *trpc_strerror(int err);

/* The symbolic name of a code without its prefix ("NO_RESPONDERS"), "UNKNOWN" if not in the list.
 * Accepts the code or its negation, like trpc_strerror(). */
TRPC_API const char *trpc_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
