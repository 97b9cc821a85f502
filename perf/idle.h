/*
 * idle: the idle-connection workload of trpc-bench and nats-bench (perf/trpc-bench.1, "idle").
 *
 * N connections that do nothing but keep their session alive cost a broker memory, not CPU, so
 * this workload measures the server's resident memory while they are held. libtrpc and libnats
 * start threads per client, far too heavy for 10,000 of them in one process, so the workload
 * speaks the wire protocols itself over non-blocking sockets and one epoll loop: the TRPC frame
 * codec (driver/wire.h) for trpc:// URLs, the NATS text protocol for nats:// URLs.
 *
 * idle.c runs the loop and reads the server's memory; idle_proto.c holds the two protocols behind
 * struct idle_proto. A protocol writes the bytes a connection sends and parses, incrementally,
 * the bytes it receives; it keeps at most IDLE_RX_KEEP bytes per connection.
 */
#ifndef TRPC_PERF_IDLE_H
#define TRPC_PERF_IDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Received bytes a connection keeps between reads: a whole small frame, or the start of a line. */
#define IDLE_RX_KEEP 256

/* A connection's receive state, owned by the protocol's parser. All-zero is the initial state. */
struct idle_rx {
    uint8_t buf[IDLE_RX_KEEP];
    uint16_t len;   /* bytes in buf */
    uint32_t skip;  /* bytes still to be discarded (the rest of a frame or message we do not keep) */
    bool skip_line; /* NATS: discarding up to the end of an over-long line */
    bool greeted;   /* TRPC: CONNACK seen */
};

/* What a parse call saw; the caller zeroes it before each call. */
struct idle_events {
    unsigned pongs;        /* PONGs received: the first one ends the handshake */
    unsigned pings;        /* PINGs from the server, each to be answered with a PONG */
    unsigned others;       /* messages the workload does not expect (MSG on an idle connection) */
    uint32_t keepalive_ms; /* TRPC: the CONNACK's keepalive, when one arrived */
    int err;               /* non-zero: the server refused or the stream is malformed; close */
    char why[96];          /* with err: what happened, for the report */
};

struct idle_proto {
    const char *system;    /* "TRPC", "NATS" */
    const char *scheme;    /* URL scheme: "trpc", "nats" */
    uint16_t port_default; /* when the URL names none */
    /* Writes the handshake: open a session, subscribe to topic when not NULL, then a PING whose
     * PONG tells that everything before it was processed. Returns bytes written or -1 when cap is
     * too small. */
    ssize_t (*hello)(uint8_t *buf, size_t cap, const char *topic);
    /* One more subscription, to topic under id sid (> 1: the hello's is 1). */
    ssize_t (*sub)(uint8_t *buf, size_t cap, const char *topic, uint32_t sid);
    /* A whole publish of exactly size bytes on the wire (topic, then a payload of zeros), or -1
     * when size is too small for its framing or cap too small for size. */
    ssize_t (*pub)(uint8_t *buf, size_t cap, const char *topic, size_t size);
    ssize_t (*ping)(uint8_t *buf, size_t cap);
    ssize_t (*pong)(uint8_t *buf, size_t cap);
    /* Consumes all of in[0..len), updating rx and adding to ev. */
    void (*parse)(struct idle_rx *rx, const uint8_t *in, size_t len, struct idle_events *ev);
};

extern const struct idle_proto idle_trpc;
extern const struct idle_proto idle_nats;

/* The protocol for url's scheme, or NULL. */
const struct idle_proto *idle_proto_for(const char *url);
/* scheme://HOST[:PORT] or scheme://[V6]:PORT (a scheme idle_proto_for knows), resolved once into
 * addr: 0, or getaddrinfo's error (gai_strerror). */
int idle_resolve(const char *url, uint16_t port_default, struct sockaddr_storage *addr, socklen_t *addrlen);

/* Parses argv (argv[1] is "idle"), runs the workload and prints the result line. Returns the exit
 * status: 0 when every connection was established and held, 1 when not, 2 for bad usage. */
int idle_main(const char *prog, const char *url_default, int argc, char **argv);

#endif
