/*
 * tls: TLS over memory, for connections whose bytes move through io_uring (the broker's cores,
 * libtrpc's I/O side), with OpenSSL 3 in user space. Not a public API.
 *
 * Ciphertext received is fed in (tls_conn_feed) and plaintext read out (tls_conn_read); plaintext
 * to send is written in (tls_conn_write) and ciphertext taken out to be sent (tls_conn_take). The
 * handshake runs inside those calls: feed what came, call tls_conn_handshake until it says done,
 * and after every call send what tls_conn_pending says is waiting. Nothing here does I/O, blocks,
 * or keeps a thread: one tls_conn belongs to one thread at a time; a tls_ctx may be shared by
 * threads (OpenSSL's SSL_CTX is, once configured), and a connection keeps its context alive, so a
 * reload can put a new one in place while old connections finish on the old.
 *
 * Versions: TLS 1.2 and 1.3 only; OpenSSL 3's default ciphers unless named. Renegotiation is off.
 */
#ifndef TRPC_DRIVER_TLS_H
#define TRPC_DRIVER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TLS_ERR_MAX 256 /* a failure's text, NUL included */

enum tls_role { TLS_CLIENT, TLS_SERVER };
/* The peer's certificate: the server asks a client for one per this setting; a client always
 * checks the server's unless insecure_skip_verify. */
enum tls_peer_cert { TLS_PEER_NONE, TLS_PEER_OPTIONAL, TLS_PEER_REQUIRED };

struct tls_config {
    enum tls_role role;
    const char *cert_file;        /* PEM chain, leaf first: the server's (required), a client's (mTLS) */
    const char *key_file;         /* its private key (PEM); NULL: in cert_file */
    const char *ca_file;          /* PEM: who signs servers (client; NULL: the system's store) or clients (server) */
    enum tls_peer_cert peer_cert; /* server only */
    bool insecure_skip_verify;    /* client only, for tests: accept any server certificate */
    const char *ciphers;          /* TLS 1.2 cipher list; NULL: OpenSSL's default */
    const char *ciphersuites;     /* TLS 1.3 suites; NULL: OpenSSL's default */
    int min_version, max_version; /* TLS1_2_VERSION or TLS1_3_VERSION; 0: 1.2 and 1.3 */
    bool ktls;                    /* ask OpenSSL for kernel TLS (SSL_OP_ENABLE_KTLS) */
};

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */
struct tls_ctx;
struct tls_conn;

/* A context: 0, or -EINVAL (bad settings), -ENOENT (a file that cannot be read), -ENOMEM, with one
 * line naming the setting and OpenSSL's reason in err. */
int tls_ctx_new(const struct tls_config *cfg, struct tls_ctx **out, char *err, size_t errlen);
/* Drops the caller's reference; connections made from it keep theirs. NULL: nothing. */
void tls_ctx_free(struct tls_ctx *x);
/* Applies cfg's versions, ciphers and TLS 1.3 suites to s (the rules of tls_ctx_new, for a
 * context made elsewhere: the dashboard's HTTPS): 0, or -EINVAL with the setting in err. */
int tls_ctx_versions(struct ssl_ctx_st *s, const struct tls_config *cfg, char *err, size_t errlen);

/* A connection of context x. A client's server_name (a host name or an IP address, may be NULL
 * only with insecure_skip_verify) is checked against the server's certificate and sent as SNI
 * when it is a name. 0 or -ENOMEM. */
int tls_conn_new(struct tls_ctx *x, const char *server_name, struct tls_conn **out);
void tls_conn_free(struct tls_conn *t);

/* Ciphertext received: copied in. 0 or -ENOMEM. */
int tls_conn_feed(struct tls_conn *t, const void *data, size_t len);
/* Ciphertext received, lent: OpenSSL reads it where it is, saving the copy, until
 * tls_conn_unlend(), which copies in what it did not read; call it before the bytes' buffer is
 * used again (a later feed or lend does it first, too). 0, or -EINVAL and -ENOMEM as
 * tls_conn_feed. Unlend: 0 or -ENOMEM. */
int tls_conn_lend(struct tls_conn *t, const void *data, size_t len);
int tls_conn_unlend(struct tls_conn *t);
/* Moves the handshake on with what was fed: 1 done (now and ever after), 0 not yet (send what is
 * pending, feed what comes), -EPROTO failed (tls_conn_error says why; send what is pending: it
 * may hold an alert for the peer, then close). */
int tls_conn_handshake(struct tls_conn *t);
/* Plaintext into buf[0, cap): bytes (> 0), 0 when none can be read until more is fed, -EPIPE when
 * the peer closed TLS cleanly (close_notify), -EPROTO on a bad record or a failed handshake. */
ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t cap);
/* Plaintext to send, all of it, once the handshake is done: 0, -EAGAIN (the handshake, or a
 * post-handshake message being read, is not done yet: call again later with the same data),
 * -EPROTO, -ENOMEM. The ciphertext waits for tls_conn_take. */
int tls_conn_write(struct tls_conn *t, const void *data, size_t len);
/* (-EINVAL under kernel TLS: see tls_conn_set_socket.) */
/* Ciphertext waiting to be sent. */
size_t tls_conn_pending(const struct tls_conn *t);
/* Moves up to cap bytes of it into buf: how many. */
size_t tls_conn_take(struct tls_conn *t, void *buf, size_t cap);
/* From now on the ciphertext goes to sink as OpenSSL makes it (tls_conn_pending stays 0), saving
 * the copy through memory: set it once nothing is pending, never under kernel TLS sending; NULL
 * sends it to tls_conn_take again. A sink returns 0, or a negative errno that fails the
 * connection (the write or read that made the bytes returns it, or -EPROTO). */
void tls_conn_set_sink(struct tls_conn *t, int (*sink)(void *arg, const void *data, size_t len), void *arg);
/* Queues a close_notify (take it and send it before closing). Under kernel TLS it goes out at
 * once, if idle says nothing of the caller's is on its way. */
void tls_conn_close_notify(struct tls_conn *t);

/*
 * Kernel TLS (a context made with ktls): before the first tls_conn_handshake, the connected
 * socket the connection's bytes go over, and idle, which says whether nothing the caller took
 * (tls_conn_take) or wrote is still queued or in flight on it (NULL: never anything). When the
 * handshake gets its keys, the ciphertext made so far is sent on fd at once, non-blocking, and if
 * all of it went the kernel takes over sending: tls_conn_ktls() then has TLS_KTLS_TX, and from there
 * on the caller writes plaintext to the socket itself (tls_conn_write refuses) and the kernel
 * encrypts it. Otherwise, or without the kernel's tls module, nothing changes: tls_conn_ktls_why()
 * says why. Returns whether the kernel took the socket for TLS at all (false: it never will take
 * this connection's keys; the kernel has no TLS, or the context has no ktls).
 */
#define TLS_KTLS_TX 1U
#define TLS_KTLS_RX 2U
bool tls_conn_set_socket(struct tls_conn *t, int fd, bool (*idle)(void *arg), void *arg);
/*
 * Kernel TLS receive too (after tls_conn_set_socket; TLS 1.2 only: OpenSSL 3.0 offers no more).
 * If the handshake ends with TLS_KTLS_RX, what the socket receives from then on is plaintext the
 * kernel decrypted: the caller reads it as such (tls_conn_feed refuses it), once
 * tls_conn_ktls_rx_clean() says OpenSSL holds no records of its own that came before (a resumed
 * TLS 1.2 session's client sends data right behind its Finished: read those with tls_conn_read
 * until it returns 0 first). A receive that fails (a record that
 * is not data makes a plain recv fail with EIO) goes to tls_conn_ktls_recv_failed(): 0 when that
 * was the rest of the handshake (the peer's Finished, after the keys went in; the record was
 * fed: call tls_conn_handshake) or a warning alert to ignore (receive on), -EPIPE for the peer's
 * close_notify, else -EPROTO with tls_conn_error saying what came.
 */
void tls_conn_want_ktls_rx(struct tls_conn *t);
bool tls_conn_ktls_rx_clean(const struct tls_conn *t);
int tls_conn_ktls_recv_failed(struct tls_conn *t, int err);
unsigned tls_conn_ktls(const struct tls_conn *t);
const char *tls_conn_ktls_why(const struct tls_conn *t);

/* After a -EPROTO: what failed, in words ("the server's certificate: certificate has expired"). */
const char *tls_conn_error(const struct tls_conn *t);
/* Once done: "TLSv1.3", the cipher's name, and the peer certificate's subject, RFC 2253 ("" when
 * none; cut short when longer than its buffer). */
const char *tls_conn_version(const struct tls_conn *t);
const char *tls_conn_cipher(const struct tls_conn *t);
const char *tls_conn_peer_subject(struct tls_conn *t);
/* The peer certificate's subject in RFC 2253 form ("CN=svc,O=acme"), the one authentication
 * matches: 0, -ENOENT (no certificate), -ENAMETOOLONG (not whole in len bytes), -EINVAL (a NUL
 * in it), -ENOMEM; buf holds "" on failure. */
int tls_conn_peer_name(struct tls_conn *t, char *buf, size_t len);

#endif
