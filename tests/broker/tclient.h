/*
 * tclient: a small blocking client for the broker's integration tests, written over the wire
 * codec so that tests can send any bytes at all (malformed frames included) and see every frame
 * the broker answers with. Not the driver: no reconnects, no threads, no hidden state.
 *
 * Frames returned by tc_recv() alias the client's buffer and stay valid until the next call.
 * Functions return 0 (or a length) or a negative errno; -ETIMEDOUT when nothing came in time,
 * -ECONNRESET on EOF.
 */
#ifndef TRPC_TESTS_BROKER_TCLIENT_H
#define TRPC_TESTS_BROKER_TCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/wire.h"
#include "tests/harness/broker_proc.h"

#define TC_TIMEOUT_MS 10000

struct tls_ctx;
struct tls_conn;

struct tc {
    int fd;
    struct tls_conn *tls; /* NULL: plaintext */
    size_t tls_piece;     /* > 0: plaintext goes out in records of at most this, ciphertext in sends of 7 bytes */
    uint64_t client_id;
    unsigned core; /* the broker core it landed on, from client_id (core + 1 in bits 63..48) */
    uint64_t next_ping;
    uint8_t *buf;
    size_t len, off, cap;
};

/* A TCP connection without CONNECT. */
int tc_open(struct tc *c, const struct broker_proc *b);
/* A TCP connection to port and a TLS handshake with context x (a client's: driver/tls.h),
 * checking the server's certificate for server_name; no CONNECT. 0, or -EPROTO with the reason in
 * why (at least 256 bytes; may be NULL), or another -errno. */
int tc_open_tls(struct tc *c, unsigned port, struct tls_ctx *x, const char *server_name, char *why);
/* Takes a connected socket instead (for tests that set socket options before connecting). */
int tc_adopt(struct tc *c, int fd);
/* CONNECT (flags: WIRE_F_NO_ECHO or 0) and wait for CONNACK. */
int tc_hello(struct tc *c, uint8_t flags);
/* The same, offering protocol versions 1..max_version (tc_hello: 1). */
int tc_hello_v(struct tc *c, uint8_t flags, uint16_t max_version);
/* tc_open + tc_hello. */
int tc_connect(struct tc *c, const struct broker_proc *b, uint8_t flags);
/* tc_connect (flags 0) with a receive buffer of rcvbuf bytes, set before connecting so that the
 * window is scaled for it: the kernel absorbs little of what the broker sends. */
int tc_connect_rcvbuf(struct tc *c, const struct broker_proc *b, int rcvbuf);
void tc_close(struct tc *c);

int tc_send(struct tc *c, const struct wire_out *o);
int tc_send_raw(struct tc *c, const void *buf, size_t len);
int tc_pub(struct tc *c, const char *topic, const void *payload, size_t len);
/* group may be NULL. */
int tc_sub(struct tc *c, uint64_t sid, const char *pattern, const char *group);
int tc_unsub(struct tc *c, uint64_t sid);
int tc_req(struct tc *c, uint64_t id, const char *topic, const void *payload, size_t len, uint32_t timeout_ms);
int tc_rep(struct tc *c, uint64_t token, uint8_t flags, uint32_t aux, const void *payload, size_t len);

/* Next frame within timeout_ms. */
int tc_recv(struct tc *c, struct wire_frame *f, int timeout_ms);
/* PING and wait for its PONG; frames before it are counted in *skipped (may be NULL) and dropped.
 * After it, the broker has handled everything sent before, on every core. */
int tc_sync(struct tc *c, unsigned *skipped);
/* Reads until EOF; true when it came within timeout_ms. */
bool tc_wait_eof(struct tc *c, int timeout_ms);

/* Raises RLIMIT_NOFILE to at least n (tests with many connections). */
int tc_raise_nofile(unsigned n);

#endif
