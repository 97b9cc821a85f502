/*
 * stls: TLS on the broker's connections (not a public API). Connections accepted on the TLS
 * listener (option tls-listen) run OpenSSL in user space over memory (driver/tls.h): received
 * ciphertext is fed in and the receive buffer goes straight back to the ring; plaintext is parsed
 * from the session's own buffer; what the session writes is encrypted by an output filter on its
 * connection (uring_conn_set_filter), one batch per send, so a burst of small frames becomes a few
 * records. Such connections never get a gate: other cores hand them their frames.
 *
 * The handshake runs on the core that accepted the connection, as bytes come; one that is not done
 * within tls-handshake-timeout is dropped by the core's sweep. A failed handshake is logged with
 * the peer and OpenSSL's reason and counted; nothing else notices.
 *
 * The context (certificate, key, client CA, versions, ciphers) is built from the configuration at
 * start and again by stls_reload(): new connections take the new one, established ones keep
 * theirs.
 */
#ifndef TRPC_SRC_STLS_H
#define TRPC_SRC_STLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/blist.h"

struct broker;
struct config;
struct core;
struct session;
struct tls_config;

#define STLS_PLAIN_BYTES 16384 /* a TLS record's plaintext at most */

/* A core's part: handshakes under way, oldest (so earliest deadline) first. */
struct stls_core {
    struct blist handshakes;
};

/* Main thread, before the cores start: the context of the TLS listener, when there is one. 0, or
 * -errno with a line in err naming the setting and the reason. */
int stls_init(struct broker *b, char *err, size_t errlen);
void stls_free(struct broker *b);
/* Any thread: builds a context from the certificate files as they are now and puts it in place of
 * the old one. 0, or with err set and the old context kept: -ESRCH (no TLS listener), or
 * tls_ctx_new's -EINVAL, -ENOENT, -ENOMEM. */
int stls_reload(struct broker *b, char *err, size_t errlen);
/* The TLS listener's settings in cfg, as driver/tls.h takes them (their strings are cfg's). */
void stls_tls_config(const struct config *cfg, struct tls_config *tc);
/* Any thread: whether the broker has a TLS listener; how many reloads took since the start. */
bool stls_enabled(const struct broker *b);
uint64_t stls_generation(const struct broker *b);

/* Core thread, at accept on the TLS listener, before anything is written: 0, or -errno (the
 * caller closes the connection). */
int stls_session_start(struct session *s);
/* Ciphertext arrived in ring buffer bid: fed to the engine, the buffer put back. */
void stls_on_recv(struct session *s, const void *data, size_t len, unsigned bid);
/* Parses decrypted plaintext until none is left, the session pauses or closes. */
void stls_drain(struct session *s);
/* Kernel TLS receive after a handshake whose last records OpenSSL read ahead: before a ring
 * buffer (plaintext now) is taken, what OpenSSL still holds is parsed first; once none is left
 * the session reads plaintext (session->tls_rx_kernel). Nothing otherwise. */
void stls_rx_catch_up(struct session *s);
/* Output a TLS session may hold past max-output-bytes and its reserve: the records' overhead. */
size_t stls_out_slack(uint64_t max_output_bytes);
/* What the admin API says of a session's TLS: "" when plaintext, else its version and path
 * ("TLSv1.3 user"). */
void stls_describe(struct session *s, char *buf, size_t len);
/* The subject of the client certificate the handshake verified, RFC 2253 ("CN=svc,O=acme"): as
 * tls_conn_peer_name (0, -ENOENT when none, -ENAMETOOLONG, ...). */
int stls_peer_subject(struct session *s, char *buf, size_t len);

extern const struct core_module stls_module;

#endif
