/*
 * bench: the workloads of trpc-bench, written once over a small client interface so that
 * trpc-bench (libtrpc) and nats-bench (the NATS C client) run exactly the same load and print the
 * same result line. perf/trpc-bench.1 documents the command line.
 *
 * Each backend supplies the calls below. Callbacks of one subscription (and the replies of one
 * connection) must run on one thread at a time; the core keeps one histogram per subscription.
 */
#ifndef TRPC_PERF_BENCH_H
#define TRPC_PERF_BENCH_H

#include <stdbool.h>
#include <stddef.h>

/* publish() result: the client's send buffer is full, try again shortly. */
#define BENCH_AGAIN 1

typedef void bench_msg_fn(void *ud, const void *data, size_t len);
typedef void bench_reply_fn(void *ud, int err, const void *data, size_t len);
typedef void bench_served_fn(void *ud);

/* --tls-ca FILE: the CAs that sign the server's certificate, for TLS URLs (trpcs://, tls://); NULL:
 * none given. Set before any connect, read by the backends' connect. */
extern const char *bench_tls_ca;
/* --tls-offload auto|kernel|user: who encrypts what a TLS connection sends (the kernel, kernel TLS,
 * or the library), for backends with has_tls_offload; BENCH_TLS_OFFLOAD_DEFAULT: not given, the
 * library's default. Set before any connect, read by the backend's connect. */
enum bench_tls_offload { BENCH_TLS_OFFLOAD_DEFAULT, BENCH_TLS_OFFLOAD_AUTO, BENCH_TLS_OFFLOAD_KERNEL, BENCH_TLS_OFFLOAD_USER };
extern enum bench_tls_offload bench_tls_offload;
/* --connect-timeout MS: how long a connect (with its TLS handshake and CONNECT) may take; 0: not
 * given, the client library's default. Set before any connect, read by the backends' connect. */
extern unsigned bench_connect_timeout_ms;

struct bench_backend {
    const char *prog;        /* "trpc-bench" */
    const char *system;      /* "TRPC", "NATS": named in help and output */
    const char *url_default; /* used without --url */
    bool has_inline;         /* callbacks can run on the client's own I/O thread (--inline) */
    bool has_tls_offload;    /* its TLS can be told to leave sending to kernel TLS or not (--tls-offload) */
    /* Each returns 0 or a negative backend code that strerror() turns into text. inline_cb: run
     * this connection's callbacks on its I/O thread (only where has_inline). */
    int (*connect)(void **conn, const char *url, const char *name, bool inline_cb);
    void (*close)(void *conn);
    /* A subscription on topic, in queue group `group` when not NULL. */
    int (*subscribe)(void *conn, const char *topic, const char *group, bench_msg_fn *fn, void *ud);
    /* A responder in queue group `group` that answers every request with its own payload, then
     * calls fn(ud). */
    int (*serve)(void *conn, const char *topic, const char *group, bench_served_fn *fn, void *ud);
    /* 0, BENCH_AGAIN, or a negative code. Never blocks for long. */
    int (*publish)(void *conn, const char *topic, const void *data, size_t len);
    /* Sends a request; fn(ud, err, reply, len) runs once when the reply or an error arrives (and
     * never when this returns non-zero). One requester (fn, ud) per connection. */
    int (*request)(void *conn, const char *topic, const void *data, size_t len, int timeout_ms, bench_reply_fn *fn, void *ud);
    /* Returns once what was sent so far reached the server and it answered, or after timeout_ms. */
    int (*flush)(void *conn, int timeout_ms);
    const char *(*strerror)(int err);
    /* The durable workload; NULL where this backend has none (the workload is then unsupported).
     * stream_create declares stream `name` keeping `subject` (one that exists is taken as it is: the
     * bench deletes it first unless --keep); stream_delete removes it. publish_acked publishes and calls
     * fn(ud, err, NULL, 0) once the server stored it (never when it returns non-zero).
     * subscribe_durable joins consumer group `group` of the stream covering topic, acknowledges
     * each message and calls fn. */
    int (*stream_create)(void *conn, const char *name, const char *subject);
    int (*stream_delete)(void *conn, const char *name);
    int (*publish_acked)(void *conn, const char *topic, const void *data, size_t len, int timeout_ms, bench_reply_fn *fn, void *ud);
    int (*subscribe_durable)(void *conn, const char *topic, const char *group, bench_msg_fn *fn, void *ud);
    /* The server core that took the connection, or -1; NULL where the server does not tell. */
    int (*core)(void *conn);
};

/* Parses argv (workload first), runs it and prints the result line. Returns the exit status. */
int bench_main(const struct bench_backend *be, int argc, char **argv);

#endif
