/*
 * HTTPS for the dashboard, /metrics and health: where the broker has a TLS listener, its HTTP
 * server speaks TLS too, with the same certificate and key (tls-cert, tls-key), so that the
 * dashboard's pages and its API never cross a network in clear where the broker's own traffic
 * does not. h2o runs the handshake (h2o_accept with an SSL_CTX). Client certificates are not asked
 * for: whoever uses the dashboard logs in (with auth on), whatever tls-client-cert
 * says for the broker's clients. TLS 1.2 and 1.3, OpenSSL's default ciphers.
 *
 * A reload of the broker's certificates (SIGHUP, tls.reload) reaches this context too: the HTTP
 * thread sees stls's generation move and builds a new one; a connection keeps the context it began
 * with (OpenSSL counts the references).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "dashboard/internal.h"
#include "driver/tls.h"
#include "src/core.h"
#include "src/log.h"
#include "src/stls.h"

/* OpenSSL's reason for the last failure, or what. */
static void ssl_reason(const char *what, const char *path, char *err, size_t errlen)
{
    unsigned long e = ERR_peek_last_error();
    char buf[256];

    ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, errlen, "%s %s: %s", what, path, e != 0 ? buf : "failed");
    ERR_clear_error();
}

static SSL_CTX *ctx_new(const struct config *cfg, char *err, size_t errlen)
{
    const char *key = cfg->tls_key[0] != '\0' ? cfg->tls_key : cfg->tls_cert;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    struct tls_config tc;

    if (ctx == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* The TLS listener's versions and ciphers: an operator who hardens them means this port too,
     * which carries passwords and tokens. */
    stls_tls_config(cfg, &tc);
    if (tls_ctx_versions(ctx, &tc, err, errlen) != 0)
        goto fail;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        ssl_reason("tls-cert", cfg->tls_cert, err, errlen);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ssl_reason("tls-key", key, err, errlen);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int http_tls_init(struct http *h, char *err, size_t errlen)
{
    if (!stls_enabled(h->b))
        return 0;
    h->tls_gen = stls_generation(h->b);
    h->accept_ctx.ssl_ctx = ctx_new(&h->b->cfg, err, errlen);
    return h->accept_ctx.ssl_ctx != NULL ? 0 : -EINVAL;
}

void http_tls_tick(struct http *h)
{
    uint64_t gen;
    SSL_CTX *fresh;
    char err[512];

    if (h->accept_ctx.ssl_ctx == NULL || (gen = stls_generation(h->b)) == h->tls_gen)
        return;
    h->tls_gen = gen;
    fresh = ctx_new(&h->b->cfg, err, sizeof(err));
    if (fresh == NULL) {
        log_error(LOG_NO_CORE, "http: TLS certificates not reloaded, the old ones stay: %s", err);
        return;
    }
    SSL_CTX_free(h->accept_ctx.ssl_ctx); /* connections made from it keep their reference */
    h->accept_ctx.ssl_ctx = fresh;
    log_info(LOG_NO_CORE, "http: TLS certificates reloaded");
}

void http_tls_free(struct http *h)
{
    SSL_CTX_free(h->accept_ctx.ssl_ctx);
    h->accept_ctx.ssl_ctx = NULL;
}
