/*
 * tls: OpenSSL over two memory BIOs per connection (driver/tls.h). The read BIO holds ciphertext
 * fed in and not yet decrypted, the write BIO ciphertext made and not yet taken; both are drained
 * by the caller after every call, so neither grows beyond what the caller lets in.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "driver/tls.h"

struct tls_ctx {
    SSL_CTX *ssl;
};

struct tls_conn {
    SSL *ssl;
    BIO *in, *out; /* owned by ssl */
    enum tls_role role;
    bool fed;      /* first_byte is set */
    uint8_t first; /* the first byte the peer sent: a TLS record starts with 22 (or 21, an alert) */
    bool failed;
    char err[TLS_ERR_MAX];
    char subject[TLS_ERR_MAX];
};

/* The first reason in OpenSSL's error queue (which is emptied), or fallback. */
static void openssl_reason(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_get_error(), more;
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    while ((more = ERR_get_error()) != 0)
        (void)more;
    snprintf(buf, len, "%s", r != NULL ? r : fallback);
}

static int load_failed(char *err, size_t errlen, const char *what, const char *file)
{
    char why[128];

    openssl_reason(why, sizeof(why), "failed");
    snprintf(err, errlen, "%s %s: not one OpenSSL can read as PEM (%s)", what, file, why);
    return -EINVAL;
}

/* 0 when file can be opened for reading, else -errno with a line in err (OpenSSL's own words for
 * a missing file are not worth reading). */
static int readable(char *err, size_t errlen, const char *what, const char *file)
{
    FILE *f = fopen(file, "r");
    int ret = f == NULL ? -errno : 0;

    if (f != NULL)
        fclose(f);
    else
        snprintf(err, errlen, "%s %s: %s", what, file, strerror(-ret));
    return ret;
}

static int versions(SSL_CTX *s, const struct tls_config *cfg, char *err, size_t errlen)
{
    int lo = cfg->min_version != 0 ? cfg->min_version : TLS1_2_VERSION;
    int hi = cfg->max_version != 0 ? cfg->max_version : TLS1_3_VERSION;

    if (lo < TLS1_2_VERSION || hi > TLS1_3_VERSION || lo > hi) {
        snprintf(err, errlen, "TLS versions: 1.2 and 1.3 only, the lowest first");
        return -EINVAL;
    }
    if (!SSL_CTX_set_min_proto_version(s, lo) || !SSL_CTX_set_max_proto_version(s, hi)) {
        snprintf(err, errlen, "TLS versions: refused by OpenSSL");
        return -EINVAL;
    }
    if (cfg->ciphers != NULL && !SSL_CTX_set_cipher_list(s, cfg->ciphers)) {
        ERR_clear_error();
        snprintf(err, errlen, "ciphers \"%s\": no cipher OpenSSL knows", cfg->ciphers);
        return -EINVAL;
    }
    if (cfg->ciphersuites != NULL && !SSL_CTX_set_ciphersuites(s, cfg->ciphersuites)) {
        ERR_clear_error();
        snprintf(err, errlen, "ciphersuites \"%s\": no TLS 1.3 suite OpenSSL knows", cfg->ciphersuites);
        return -EINVAL;
    }
    return 0;
}

static int identity(SSL_CTX *s, const struct tls_config *cfg, char *err, size_t errlen)
{
    const char *key = cfg->key_file != NULL ? cfg->key_file : cfg->cert_file;
    int ret;

    if (cfg->cert_file == NULL) {
        if (cfg->role == TLS_SERVER) {
            snprintf(err, errlen, "a TLS server needs a certificate (and its key)");
            return -EINVAL;
        }
        return 0;
    }
    if ((ret = readable(err, errlen, "certificate", cfg->cert_file)) != 0 || (ret = readable(err, errlen, "private key", key)) != 0)
        return ret;
    if (SSL_CTX_use_certificate_chain_file(s, cfg->cert_file) != 1)
        return load_failed(err, errlen, "certificate", cfg->cert_file);
    if (SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_error()) != X509_R_KEY_VALUES_MISMATCH)
            return load_failed(err, errlen, "private key", key);
    } else if (SSL_CTX_check_private_key(s) == 1) {
        return 0;
    }
    ERR_clear_error();
    snprintf(err, errlen, "private key %s does not belong to certificate %s", key, cfg->cert_file);
    return -EINVAL;
}

static int trust(SSL_CTX *s, const struct tls_config *cfg, char *err, size_t errlen)
{
    int mode = SSL_VERIFY_NONE, ret;

    if (cfg->role == TLS_CLIENT) {
        if (cfg->insecure_skip_verify) {
            SSL_CTX_set_verify(s, SSL_VERIFY_NONE, NULL);
            return 0;
        }
        if (cfg->ca_file != NULL && (ret = readable(err, errlen, "CA file", cfg->ca_file)) != 0)
            return ret;
        if (cfg->ca_file != NULL ? SSL_CTX_load_verify_locations(s, cfg->ca_file, NULL) != 1
                                 : SSL_CTX_set_default_verify_paths(s) != 1)
            return load_failed(err, errlen, "CA file", cfg->ca_file != NULL ? cfg->ca_file : "(the system's store)");
        SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
        return 0;
    }
    if (cfg->peer_cert != TLS_PEER_NONE) {
        STACK_OF(X509_NAME) * names;

        if (cfg->ca_file == NULL) {
            snprintf(err, errlen, "client certificates need a client CA file");
            return -EINVAL;
        }
        if ((ret = readable(err, errlen, "client CA file", cfg->ca_file)) != 0)
            return ret;
        if (SSL_CTX_load_verify_locations(s, cfg->ca_file, NULL) != 1)
            return load_failed(err, errlen, "client CA file", cfg->ca_file);
        names = SSL_load_client_CA_file(cfg->ca_file);
        if (names == NULL)
            return load_failed(err, errlen, "client CA file", cfg->ca_file);
        SSL_CTX_set_client_CA_list(s, names);
        mode = SSL_VERIFY_PEER | (cfg->peer_cert == TLS_PEER_REQUIRED ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    }
    SSL_CTX_set_verify(s, mode, NULL);
    return 0;
}

int tls_ctx_new(const struct tls_config *cfg, struct tls_ctx **out, char *err, size_t errlen)
{
    static const unsigned char sid[] = "trpc";
    struct tls_ctx *x = calloc(1, sizeof(*x));
    int ret;

    ERR_clear_error();
    if (x == NULL || (x->ssl = SSL_CTX_new(cfg->role == TLS_SERVER ? TLS_server_method() : TLS_client_method())) == NULL) {
        free(x);
        snprintf(err, errlen, "out of memory for a TLS context");
        return -ENOMEM;
    }
    /* Idle connections give their record buffers back: thousands of them cost little. */
    SSL_CTX_set_mode(x->ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(x->ssl, SSL_OP_NO_RENEGOTIATION | (cfg->ktls ? SSL_OP_ENABLE_KTLS : 0));
    if (cfg->role == TLS_SERVER)
        SSL_CTX_set_session_id_context(x->ssl, sid, sizeof(sid) - 1);
    ret = versions(x->ssl, cfg, err, errlen);
    if (ret == 0)
        ret = identity(x->ssl, cfg, err, errlen);
    if (ret == 0)
        ret = trust(x->ssl, cfg, err, errlen);
    ERR_clear_error();
    if (ret != 0) {
        tls_ctx_free(x);
        return ret;
    }
    *out = x;
    return 0;
}

void tls_ctx_free(struct tls_ctx *x)
{
    if (x == NULL)
        return;
    SSL_CTX_free(x->ssl);
    free(x);
}

int tls_conn_new(struct tls_ctx *x, const char *server_name, struct tls_conn **out)
{
    struct tls_conn *t = calloc(1, sizeof(*t));
    unsigned char ip[16];

    if (t == NULL)
        return -ENOMEM;
    t->ssl = SSL_new(x->ssl);
    if (t->ssl == NULL)
        goto out_nomem;
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (t->in == NULL || t->out == NULL) {
        BIO_free(t->in);
        BIO_free(t->out);
        goto out_nomem;
    }
    /* An empty read BIO means "more to come", not the end. */
    BIO_set_mem_eof_return(t->in, -1);
    BIO_set_mem_eof_return(t->out, -1);
    SSL_set_bio(t->ssl, t->in, t->out); /* the SSL owns them from here */
    t->role = SSL_is_server(t->ssl) ? TLS_SERVER : TLS_CLIENT;
    if (t->role == TLS_CLIENT && server_name != NULL) {
        bool is_ip = inet_pton(AF_INET, server_name, ip) == 1 || inet_pton(AF_INET6, server_name, ip) == 1;

        /* RFC 6066: SNI carries host names only. */
        if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), server_name) != 1
                  : SSL_set_tlsext_host_name(t->ssl, server_name) != 1 || SSL_set1_host(t->ssl, server_name) != 1)
            goto out_nomem;
    }
    if (t->role == TLS_CLIENT)
        SSL_set_connect_state(t->ssl);
    else
        SSL_set_accept_state(t->ssl);
    *out = t;
    return 0;

out_nomem:
    ERR_clear_error();
    SSL_free(t->ssl);
    free(t);
    return -ENOMEM;
}

void tls_conn_free(struct tls_conn *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* and its BIOs */
    free(t);
}

int tls_conn_feed(struct tls_conn *t, const void *data, size_t len)
{
    const char *p = data;

    if (len > 0 && !t->fed) {
        t->fed = true;
        t->first = (uint8_t)p[0];
    }
    while (len > 0) {
        int n = BIO_write(t->in, p, len > INT_MAX ? INT_MAX : (int)len);

        if (n <= 0)
            return -ENOMEM;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Records why ret (an SSL call's result) failed: -EPROTO, or 0 when it only wants more input. */
static int failure(struct tls_conn *t, int ret)
{
    const char *peer = t->role == TLS_CLIENT ? "the server" : "the client";
    int e = SSL_get_error(t->ssl, ret);
    long v;
    char why[160];

    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) /* a memory BIO never blocks a write */
        return 0;
    t->failed = true;
    v = SSL_get_verify_result(t->ssl);
    openssl_reason(why, sizeof(why), e == SSL_ERROR_SYSCALL ? "the connection ended in the middle of a record" : "failed");
    if (t->fed && t->first != 22 && t->first != 21 && !SSL_is_init_finished(t->ssl))
        snprintf(t->err, sizeof(t->err), "not TLS: %s sent byte 0x%02x first (plaintext on a TLS connection?)", peer, t->first);
    else if (v != X509_V_OK && !SSL_is_init_finished(t->ssl))
        snprintf(t->err, sizeof(t->err), "%s's certificate: %s", peer, X509_verify_cert_error_string(v));
    else
        snprintf(t->err, sizeof(t->err), "%s", why);
    return -EPROTO;
}

int tls_conn_handshake(struct tls_conn *t)
{
    int ret;

    if (t->failed)
        return -EPROTO;
    if (SSL_is_init_finished(t->ssl))
        return 1;
    ERR_clear_error();
    ret = SSL_do_handshake(t->ssl);
    return ret == 1 ? 1 : failure(t, ret);
}

ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t cap)
{
    int ret;

    if (t->failed)
        return -EPROTO;
    ERR_clear_error();
    ret = SSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (ret > 0)
        return ret;
    if (SSL_get_error(t->ssl, ret) == SSL_ERROR_ZERO_RETURN)
        return -EPIPE;
    return failure(t, ret);
}

int tls_conn_write(struct tls_conn *t, const void *data, size_t len)
{
    const char *p = data;

    if (t->failed)
        return -EPROTO;
    if (!SSL_is_init_finished(t->ssl))
        return -EAGAIN;
    while (len > 0) {
        int n;

        ERR_clear_error();
        n = SSL_write(t->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
        /* WANT_READ: a post-handshake message is being read; call again, with the same data. */
        if (n <= 0)
            return failure(t, n) == 0 ? -EAGAIN : -EPROTO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t tls_conn_pending(const struct tls_conn *t)
{
    return BIO_ctrl_pending(t->out);
}

size_t tls_conn_take(struct tls_conn *t, void *buf, size_t cap)
{
    int n = cap > 0 ? BIO_read(t->out, buf, cap > INT_MAX ? INT_MAX : (int)cap) : 0;

    return n > 0 ? (size_t)n : 0;
}

void tls_conn_close_notify(struct tls_conn *t)
{
    if (!t->failed && SSL_is_init_finished(t->ssl))
        SSL_shutdown(t->ssl);
    ERR_clear_error();
}

const char *tls_conn_error(const struct tls_conn *t)
{
    return t->err[0] != '\0' ? t->err : "no error";
}

const char *tls_conn_version(const struct tls_conn *t)
{
    return SSL_get_version(t->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *t)
{
    const char *c = SSL_get_cipher_name(t->ssl);

    return c != NULL ? c : "";
}

const char *tls_conn_peer_subject(struct tls_conn *t)
{
    X509 *peer = SSL_get0_peer_certificate(t->ssl);

    t->subject[0] = '\0';
    if (peer != NULL)
        X509_NAME_oneline(X509_get_subject_name(peer), t->subject, sizeof(t->subject));
    return t->subject;
}
