/*
 * driver/tls.c, the TLS engine over memory, with real certificates made by tests/tls/mkcerts.sh:
 * a client and a server engine in one process, their bytes carried between them in pieces of
 * every size. TLS 1.2 and 1.3, with and without client certificates; every failure with its
 * words (unknown CA, expired, wrong host, no client certificate, plaintext); 1 MiB each way in
 * records that straddle the pieces; a clean close; bad settings. Records handed to a sink as made,
 * and ciphertext lent (read in place), fed and lent again in between, with plaintext left unread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "driver/tls.h"
#include "tests/tap.h"
#include "tests/tls/certs.h"

/* Moves what one side has to send into the other, in pieces of at most piece bytes. */
static void carry(struct tls_conn *from, struct tls_conn *to, size_t piece)
{
    char buf[4096];
    size_t n;

    while ((n = tls_conn_take(from, buf, piece < sizeof(buf) ? piece : sizeof(buf))) > 0)
        if (tls_conn_feed(to, buf, n) != 0)
            BAIL_OUT("feed");
}

struct pair {
    struct tls_conn *c, *s;
    int cr, sr; /* the last tls_conn_handshake results */
};

/* Runs the handshake to its end either way: true when both are done. */
static bool shake(struct pair *p, size_t piece)
{
    p->cr = p->sr = 0;
    for (int round = 0; round < 50 && (p->cr == 0 || p->sr == 0); round++) {
        if (p->cr == 0)
            p->cr = tls_conn_handshake(p->c);
        carry(p->c, p->s, piece);
        if (p->sr == 0)
            p->sr = tls_conn_handshake(p->s);
        carry(p->s, p->c, piece);
        if (p->cr < 0 || p->sr < 0) { /* the other side reads the alert */
            if (p->cr == 0)
                p->cr = tls_conn_handshake(p->c);
            if (p->sr == 0)
                p->sr = tls_conn_handshake(p->s);
            break;
        }
    }
    return p->cr == 1 && p->sr == 1;
}

static struct tls_ctx *ctx(const struct tls_config *cfg)
{
    struct tls_ctx *x;
    char err[256];

    if (tls_ctx_new(cfg, &x, err, sizeof(err)) != 0)
        BAIL_OUT("context: %s", err);
    return x;
}

/* A pair over a server of scfg and a client of ccfg checking name. */
static struct pair pair_of(const struct tls_config *scfg, const struct tls_config *ccfg, const char *name)
{
    struct tls_ctx *sx = ctx(scfg), *cx = ctx(ccfg);
    struct pair p = {0};

    if (tls_conn_new(sx, NULL, &p.s) != 0 || tls_conn_new(cx, name, &p.c) != 0)
        BAIL_OUT("connection");
    tls_ctx_free(sx); /* the connections keep theirs */
    tls_ctx_free(cx);
    return p;
}

static void pair_free(struct pair *p)
{
    tls_conn_free(p->c);
    tls_conn_free(p->s);
}

/* Sends len bytes from a to b, carried in pieces, and reads them back: true when all came intact. */
static bool through(struct tls_conn *a, struct tls_conn *b, size_t len, size_t piece)
{
    unsigned char *out = malloc(len), *in = malloc(len);
    size_t got = 0;
    bool good;

    if (out == NULL || in == NULL)
        BAIL_OUT("memory");
    for (size_t i = 0; i < len; i++)
        out[i] = (unsigned char)(i * 131 + 7);
    if (tls_conn_write(a, out, len) != 0) {
        free(out);
        free(in);
        return false;
    }
    while (got < len) {
        char buf[4096];
        size_t n = tls_conn_take(a, buf, piece < sizeof(buf) ? piece : sizeof(buf));
        ssize_t r;

        if (n == 0)
            break;
        if (tls_conn_feed(b, buf, n) != 0)
            break;
        while ((r = tls_conn_read(b, in + got, len - got)) > 0)
            got += (size_t)r;
        if (r < 0)
            break;
    }
    good = got == len && memcmp(in, out, len) == 0;
    free(out);
    free(in);
    return good;
}

/* A sink that keeps what it is given, or fails with fail. */
struct sunk {
    unsigned char *data;
    size_t len, cap;
    int fail, calls;
};

static int sink_keep(void *arg, const void *data, size_t len)
{
    struct sunk *k = arg;

    k->calls++;
    if (k->fail != 0)
        return k->fail;
    if (k->len + len > k->cap) {
        k->cap = (k->len + len) * 2;
        k->data = realloc(k->data, k->cap);
        if (k->data == NULL)
            BAIL_OUT("memory");
    }
    memcpy(k->data + k->len, data, len);
    k->len += len;
    return 0;
}

/*
 * len bytes from a, whose records go to a sink, to b in pieces of piece bytes: lent and taken back
 * with part of them unread, lent while the last lend is still out, or fed in between; plaintext is
 * read a little after each piece and the rest at the end. True when all came intact, in order.
 */
static bool lent_through(struct tls_conn *a, struct tls_conn *b, size_t len, size_t piece)
{
    unsigned char *out = malloc(len), *in = malloc(len);
    struct sunk k = {0};
    size_t got = 0, i = 0;
    ssize_t r = 0;
    bool good = true;

    if (out == NULL || in == NULL)
        BAIL_OUT("memory");
    for (size_t j = 0; j < len; j++)
        out[j] = (unsigned char)(j * 31 + 3);
    tls_conn_set_sink(a, sink_keep, &k);
    if (tls_conn_write(a, out, len) != 0 || tls_conn_pending(a) != 0)
        good = false;
    for (size_t off = 0; good && off < k.len; off += piece, i++) {
        size_t n = k.len - off < piece ? k.len - off : piece;

        if (i % 3 == 2)
            good = tls_conn_feed(b, k.data + off, n) == 0;
        else
            good = tls_conn_lend(b, k.data + off, n) == 0;
        for (int reads = 0; good && reads < 2 && (r = tls_conn_read(b, in + got, len - got < 700 ? len - got : 700)) > 0; reads++)
            got += (size_t)r;
        if (r < 0 || (i % 3 == 0 && tls_conn_unlend(b) != 0))
            good = false;
    }
    if (good && tls_conn_unlend(b) != 0)
        good = false;
    while (good && got < len && (r = tls_conn_read(b, in + got, len - got)) > 0)
        got += (size_t)r;
    good = good && got == len && memcmp(in, out, len) == 0;
    free(k.data);
    free(out);
    free(in);
    return good;
}

int main(void)
{
    char cmd[256], err[256];
    struct tls_config server = {.role = TLS_SERVER}, client = {.role = TLS_CLIENT};
    struct tls_ctx *x;
    struct pair p;
    bool shook, told;
    static const char connect_frame[] = "\x01\x00\x00\x00\x30\x00\x00\x00 a TRPC CONNECT frame, say";
    static const char err_frame[] = "\x0b\x00\x00\x00 an ERR frame";

    struct sunk failing = {.fail = -ENOMEM};

    plan(36);
    certs_make();
    server.cert_file = cert_path("server.pem");
    server.key_file = cert_path("server.key");
    client.ca_file = cert_path("ca.pem");

    /* TLS 1.3 and 1.2, the server's certificate checked for localhost and for 127.0.0.1. */
    p = pair_of(&server, &client, "localhost");
    ok(shake(&p, 4096), "TLS 1.3 handshake, the server's certificate checked for localhost");
    ok(strcmp(tls_conn_version(p.c), "TLSv1.3") == 0 && strcmp(tls_conn_version(p.s), "TLSv1.3") == 0, "both say TLSv1.3");
    ok(through(p.c, p.s, 100, 4096) && through(p.s, p.c, 100, 4096), "data both ways");
    ok(through(p.c, p.s, 1 << 20, 1000) && through(p.s, p.c, 1 << 20, 7), "1 MiB each way, in pieces of 1000 and of 7 bytes");
    ok(strstr(tls_conn_peer_subject(p.c), "CN=localhost") != NULL && tls_conn_peer_subject(p.s)[0] == '\0',
       "the client sees the server's subject (%s), the server no client certificate", tls_conn_peer_subject(p.c));
    tls_conn_close_notify(p.c);
    carry(p.c, p.s, 4096);
    ok(tls_conn_read(p.s, cmd, sizeof(cmd)) == -EPIPE, "a close_notify reads as -EPIPE");
    pair_free(&p);
    p = pair_of(&server, &client, "localhost");
    ok(shake(&p, 4096) && lent_through(p.c, p.s, 1 << 20, 5000) && lent_through(p.s, p.c, 300000, 7),
       "records to a sink, lent back in pieces of 5000 and 7 bytes, fed between lends, plaintext left unread: intact");
    tls_conn_set_sink(p.c, sink_keep, &failing);
    ok(tls_conn_write(p.c, "x", 1) == -ENOMEM && failing.calls == 1, "a sink that fails: the write returns its error");
    ok(tls_conn_write(p.c, "x", 1) == -EPROTO && strstr(tls_conn_error(p.c), "Cannot allocate memory") != NULL,
       "and the connection is done: %s", tls_conn_error(p.c));
    pair_free(&p);
    p = pair_of(&server, &client, "127.0.0.1");
    ok(shake(&p, 1), "checked for 127.0.0.1 (an IP SAN), the handshake carried one byte at a time");
    pair_free(&p);
    client.max_version = TLS1_2_VERSION;
    p = pair_of(&server, &client, "localhost");
    shook = shake(&p, 4096);
    ok(shook && strcmp(tls_conn_version(p.s), "TLSv1.2") == 0, "TLS 1.2 when the client goes no higher (%s, %s)",
       tls_conn_version(p.s), tls_conn_cipher(p.s));
    ok(through(p.c, p.s, 1 << 20, 3000) && through(p.s, p.c, 300000, 5), "TLS 1.2 data both ways");
    pair_free(&p);
    client.max_version = 0;
    p = pair_of(&server, &client, "localhost");
    ok(tls_conn_write(p.c, "x", 1) == -EAGAIN, "writing before the handshake is done: -EAGAIN");
    pair_free(&p);

    /* The server's certificate refused, with the reason. */
    p = pair_of(&server, &client, "elsewhere.example");
    shook = shake(&p, 4096);
    ok(!shook && p.cr < 0 && strstr(tls_conn_error(p.c), "hostname mismatch") != NULL, "a name the certificate does not carry: %s",
       tls_conn_error(p.c));
    ok(p.sr < 0 && tls_conn_error(p.s)[0] != '\0', "and the server learns of it: %s", tls_conn_error(p.s));
    pair_free(&p);
    server.cert_file = cert_path("self.pem");
    server.key_file = cert_path("self.key");
    p = pair_of(&server, &client, "localhost");
    shook = shake(&p, 4096);
    ok(!shook && strstr(tls_conn_error(p.c), "self-signed") != NULL, "a self-signed certificate: %s", tls_conn_error(p.c));
    pair_free(&p);
    client.insecure_skip_verify = true;
    p = pair_of(&server, &client, "localhost");
    ok(shake(&p, 4096), "accepted with insecure_skip_verify");
    pair_free(&p);
    client.insecure_skip_verify = false;
    server.cert_file = cert_path("expired.pem");
    server.key_file = cert_path("expired.key");
    p = pair_of(&server, &client, "localhost");
    shook = shake(&p, 4096);
    ok(!shook && strstr(tls_conn_error(p.c), "expired") != NULL, "an expired certificate: %s", tls_conn_error(p.c));
    pair_free(&p);
    server.cert_file = cert_path("server.pem");
    server.key_file = cert_path("server.key");
    client.ca_file = cert_path("other-ca.pem");
    p = pair_of(&server, &client, "localhost");
    shook = shake(&p, 4096);
    ok(!shook && strstr(tls_conn_error(p.c), "unable to get local issuer certificate") != NULL,
       "a CA the client does not trust: %s", tls_conn_error(p.c));
    pair_free(&p);
    client.ca_file = cert_path("ca.pem");

    /* Client certificates. */
    server.peer_cert = TLS_PEER_REQUIRED;
    server.ca_file = cert_path("ca.pem");
    p = pair_of(&server, &client, "localhost");
    shake(&p, 4096);
    /* TLS 1.3: the client finishes first, and learns of the refusal when it reads. */
    ok(p.sr < 0 && strstr(tls_conn_error(p.s), "certificate") != NULL, "required and not given: the server refuses (%s)",
       tls_conn_error(p.s));
    told = p.cr < 0 || tls_conn_read(p.c, cmd, sizeof(cmd)) == -EPROTO;
    ok(told && strstr(tls_conn_error(p.c), "certificate required") != NULL, "and the client is told: %s", tls_conn_error(p.c));
    pair_free(&p);
    client.cert_file = cert_path("client.pem");
    client.key_file = cert_path("client.key");
    p = pair_of(&server, &client, "localhost");
    shook = shake(&p, 4096);
    ok(shook && strstr(tls_conn_peer_subject(p.s), "CN=trpc-test-client") != NULL,
       "given: accepted, the server sees the client's subject (%s)", tls_conn_peer_subject(p.s));
    ok(through(p.c, p.s, 65536, 4096) && through(p.s, p.c, 65536, 4096), "mTLS data both ways");
    pair_free(&p);
    client.max_version = TLS1_2_VERSION;
    p = pair_of(&server, &client, "localhost");
    ok(shake(&p, 333) && strcmp(tls_conn_version(p.s), "TLSv1.2") == 0 && tls_conn_peer_subject(p.s)[0] != '\0',
       "mTLS over TLS 1.2");
    pair_free(&p);
    client.max_version = 0;
    server.ca_file = cert_path("other-ca.pem");
    p = pair_of(&server, &client, "localhost");
    shake(&p, 4096);
    ok(p.sr < 0 && strstr(tls_conn_error(p.s), "the client's certificate") != NULL, "a client certificate no trusted CA signed: %s",
       tls_conn_error(p.s));
    pair_free(&p);
    server.peer_cert = TLS_PEER_OPTIONAL;
    server.ca_file = cert_path("ca.pem");
    client.cert_file = client.key_file = NULL;
    p = pair_of(&server, &client, "localhost");
    ok(shake(&p, 4096) && tls_conn_peer_subject(p.s)[0] == '\0', "optional and not given: accepted without one");
    pair_free(&p);
    server.peer_cert = TLS_PEER_NONE;
    server.ca_file = NULL;

    /* Plaintext where TLS was expected, both ways. */
    p = pair_of(&server, &client, "localhost");
    tls_conn_feed(p.s, connect_frame, sizeof(connect_frame) - 1);
    told = tls_conn_handshake(p.s) == -EPROTO;
    ok(told && strstr(tls_conn_error(p.s), "not TLS: the client sent byte 0x01") != NULL, "the server: %s", tls_conn_error(p.s));
    tls_conn_handshake(p.c);
    tls_conn_feed(p.c, err_frame, sizeof(err_frame) - 1);
    told = tls_conn_handshake(p.c) == -EPROTO;
    ok(told && strstr(tls_conn_error(p.c), "not TLS: the server sent byte 0x0b") != NULL, "the client: %s", tls_conn_error(p.c));
    ok(tls_conn_read(p.c, cmd, sizeof(cmd)) == -EPROTO && tls_conn_write(p.c, "x", 1) == -EPROTO,
       "after a failure, reads and writes fail too");
    pair_free(&p);

    /* Bad settings, each with its words. */
    server.cert_file = cert_path("nope.pem");
    ok(tls_ctx_new(&server, &x, err, sizeof(err)) == -ENOENT && strstr(err, "nope.pem: No such file") != NULL,
       "a missing certificate: %s", err);
    server.cert_file = cert_path("server.pem");
    server.key_file = cert_path("client.key");
    ok(tls_ctx_new(&server, &x, err, sizeof(err)) == -EINVAL && strstr(err, "does not belong") != NULL,
       "a key of another certificate: %s", err);
    server.key_file = cert_path("ca.pem");
    ok(tls_ctx_new(&server, &x, err, sizeof(err)) != 0 && strstr(err, "private key") != NULL, "a key file without a key: %s", err);
    server.cert_file = NULL;
    ok(tls_ctx_new(&server, &x, err, sizeof(err)) == -EINVAL, "a server without a certificate: %s", err);
    server.cert_file = cert_path("server.pem");
    server.key_file = cert_path("server.key");
    server.min_version = TLS1_VERSION;
    ok(tls_ctx_new(&server, &x, err, sizeof(err)) == -EINVAL, "TLS 1.0: %s", err);
    server.min_version = 0;
    server.ciphers = "NOT-A-CIPHER";
    ok(tls_ctx_new(&server, &x, err, sizeof(err)) == -EINVAL && strstr(err, "NOT-A-CIPHER") != NULL, "an unknown cipher: %s", err);
    server.ciphers = NULL;
    server.peer_cert = TLS_PEER_REQUIRED;
    ok(tls_ctx_new(&server, &x, err, sizeof(err)) == -EINVAL && strstr(err, "client CA") != NULL,
       "client certificates without a CA file: %s", err);

    certs_remove();
    return done_testing();
}
