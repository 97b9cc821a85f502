/*
 * options: the options object (copied by trpc_connect) and the URL list.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/client.h"

#define TLS_NAME_MAX 255 /* a server name: a DNS name has at most 253 bytes, an IP address fewer */

void trpc__options_defaults(struct trpc_options *o)
{
    memset(o, 0, sizeof(*o));
    o->connect_timeout_ms = 2000;
    o->reconnect_max = -1;
    o->reconnect_initial_ms = 50;
    o->reconnect_max_ms = 2000;
    o->send_buffer = 8u << 20;
    o->dispatch_bytes = TRPC__DISPATCH_BYTES;
    o->max_pending = 65536;
    o->dispatch = TRPC_DISPATCH_THREAD;
    o->dispatch_threads = 1;
    o->tls_offload = TRPC_TLS_OFFLOAD_AUTO;
}

int trpc_options_create(trpc_options **out)
{
    trpc_options *o;

    trpc__clear_error();
    if (out == NULL)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_options_create: out is NULL");
    o = malloc(sizeof(*o));
    if (o == NULL)
        return trpc__fail(-TRPC_E_NO_MEMORY, "trpc_options_create: out of memory");
    trpc__options_defaults(o);
    *out = o;
    return 0;
}

void trpc__options_release(struct trpc_options *o)
{
    free(o->name);
    o->name = NULL;
    free(o->user);
    o->user = NULL;
    free(o->password);
    o->password = NULL;
    free(o->token);
    o->token = NULL;
    free(o->tls_ca);
    o->tls_ca = NULL;
    free(o->tls_cert);
    o->tls_cert = NULL;
    free(o->tls_key);
    o->tls_key = NULL;
    free(o->tls_server_name);
    o->tls_server_name = NULL;
}

void trpc_options_destroy(trpc_options *o)
{
    if (o == NULL)
        return;
    trpc__options_release(o);
    free(o);
}

/* Replaces *slot with a copy of s (NULL clears it). */
static int set_string(char **slot, const char *s, size_t max)
{
    char *copy = NULL;

    if (s != NULL) {
        if (strlen(s) > max)
            return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "option string longer than %zu bytes", max);
        copy = strdup(s);
        if (copy == NULL)
            return trpc__fail(-TRPC_E_NO_MEMORY, "out of memory");
    }
    free(*slot);
    *slot = copy;
    return 0;
}

#define CHECK_OPTS(o)                                                                                                              \
    do {                                                                                                                           \
        trpc__clear_error();                                                                                                       \
        if ((o) == NULL)                                                                                                           \
            return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "%s: options is NULL", __func__);                                          \
    } while (0)

int trpc_options_set_name(trpc_options *o, const char *name)
{
    CHECK_OPTS(o);
    return set_string(&o->name, name, WIRE_HEADER_VALUE_MAX);
}

int trpc_options_set_credentials(trpc_options *o, const char *user, const char *password)
{
    int err;

    CHECK_OPTS(o);
    err = set_string(&o->user, user, WIRE_HEADER_VALUE_MAX);
    if (err)
        return err;
    return set_string(&o->password, password, WIRE_HEADER_VALUE_MAX);
}

int trpc_options_set_token(trpc_options *o, const char *token)
{
    CHECK_OPTS(o);
    return set_string(&o->token, token, WIRE_HEADER_VALUE_MAX);
}

int trpc_options_set_no_echo(trpc_options *o, bool no_echo)
{
    CHECK_OPTS(o);
    o->no_echo = no_echo;
    return 0;
}

int trpc_options_set_connect_timeout(trpc_options *o, int timeout_ms)
{
    CHECK_OPTS(o);
    if (timeout_ms <= 0)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "connect timeout must be positive, not %d", timeout_ms);
    o->connect_timeout_ms = timeout_ms;
    return 0;
}

int trpc_options_set_reconnect(trpc_options *o, int max_attempts, int initial_ms, int max_ms)
{
    CHECK_OPTS(o);
    if (max_attempts < -1 || initial_ms <= 0 || max_ms < initial_ms)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "reconnect: need max_attempts >= -1 and 0 < initial_ms <= max_ms");
    o->reconnect_max = max_attempts;
    o->reconnect_initial_ms = initial_ms;
    o->reconnect_max_ms = max_ms;
    return 0;
}

int trpc_options_set_send_buffer(trpc_options *o, size_t bytes)
{
    CHECK_OPTS(o);
    if (bytes < 4096)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "send buffer below 4096 bytes");
    o->send_buffer = bytes;
    return 0;
}

int trpc_options_set_dispatch_bytes(trpc_options *o, size_t bytes)
{
    CHECK_OPTS(o);
    if (bytes < 4096)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "dispatch_bytes below 4096 bytes");
    o->dispatch_bytes = bytes;
    return 0;
}

int trpc_options_set_max_pending(trpc_options *o, unsigned max_pending)
{
    CHECK_OPTS(o);
    if (max_pending == 0)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "max_pending must be at least 1");
    o->max_pending = max_pending;
    return 0;
}

int trpc_options_set_dispatch(trpc_options *o, trpc_dispatch mode, unsigned threads)
{
    CHECK_OPTS(o);
    if (mode == TRPC_DISPATCH_IO) {
        o->dispatch = mode;
        o->dispatch_threads = 0;
        return 0;
    }
    if (mode != TRPC_DISPATCH_THREAD || threads < 1 || threads > 64)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "dispatch: TRPC_DISPATCH_THREAD with 1..64 threads, or TRPC_DISPATCH_IO");
    o->dispatch = mode;
    o->dispatch_threads = threads;
    return 0;
}

int trpc_options_set_external_loop(trpc_options *o, bool external)
{
    CHECK_OPTS(o);
    o->external = external;
    return 0;
}

int trpc_options_set_state_cb(trpc_options *o, trpc_state_cb *cb, void *ud)
{
    CHECK_OPTS(o);
    o->state_cb = cb;
    o->state_ud = ud;
    return 0;
}

int trpc_options_set_error_cb(trpc_options *o, trpc_error_cb *cb, void *ud)
{
    CHECK_OPTS(o);
    o->error_cb = cb;
    o->error_ud = ud;
    return 0;
}

int trpc_options_set_tls_ca(trpc_options *o, const char *ca_file)
{
    CHECK_OPTS(o);
    if (ca_file != NULL && ca_file[0] == '\0')
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "tls_ca: an empty file name (NULL means the system's store)");
    return set_string(&o->tls_ca, ca_file, TRPC__PATH_MAX);
}

int trpc_options_set_tls_cert(trpc_options *o, const char *cert_file, const char *key_file)
{
    char *cert = NULL;
    int err;

    CHECK_OPTS(o);
    if (cert_file == NULL && key_file != NULL)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "tls_cert: a key file without a certificate file");
    if ((cert_file != NULL && cert_file[0] == '\0') || (key_file != NULL && key_file[0] == '\0'))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "tls_cert: an empty file name");
    /* Both or neither: a failure leaves the pair the object had. */
    err = set_string(&cert, cert_file, TRPC__PATH_MAX);
    if (err)
        return err;
    err = set_string(&o->tls_key, key_file, TRPC__PATH_MAX);
    if (err) {
        free(cert);
        return err;
    }
    free(o->tls_cert);
    o->tls_cert = cert;
    return 0;
}

int trpc_options_set_tls_insecure_skip_verify(trpc_options *o, bool skip)
{
    CHECK_OPTS(o);
    o->tls_insecure_skip_verify = skip;
    return 0;
}

int trpc_options_set_tls_server_name(trpc_options *o, const char *name)
{
    CHECK_OPTS(o);
    if (name != NULL && name[0] == '\0')
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "tls_server_name: an empty name (NULL means each URL's host)");
    return set_string(&o->tls_server_name, name, TLS_NAME_MAX);
}

int trpc_options_set_tls_offload(trpc_options *o, trpc_tls_offload mode)
{
    CHECK_OPTS(o);
    if (mode != TRPC_TLS_OFFLOAD_AUTO && mode != TRPC_TLS_OFFLOAD_KERNEL && mode != TRPC_TLS_OFFLOAD_USER)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT,
                          "tls_offload: TRPC_TLS_OFFLOAD_AUTO, TRPC_TLS_OFFLOAD_KERNEL or TRPC_TLS_OFFLOAD_USER, not %d",
                          (int)mode);
    o->tls_offload = mode;
    return 0;
}

int trpc__options_copy(struct trpc_options *dst, const struct trpc_options *src)
{
    *dst = *src;
    dst->name = dst->user = dst->password = dst->token = NULL;
    dst->tls_ca = dst->tls_cert = dst->tls_key = dst->tls_server_name = NULL;
    if (set_string(&dst->name, src->name, WIRE_HEADER_VALUE_MAX) || set_string(&dst->user, src->user, WIRE_HEADER_VALUE_MAX) ||
        set_string(&dst->password, src->password, WIRE_HEADER_VALUE_MAX) ||
        set_string(&dst->token, src->token, WIRE_HEADER_VALUE_MAX) || set_string(&dst->tls_ca, src->tls_ca, TRPC__PATH_MAX) ||
        set_string(&dst->tls_cert, src->tls_cert, TRPC__PATH_MAX) || set_string(&dst->tls_key, src->tls_key, TRPC__PATH_MAX) ||
        set_string(&dst->tls_server_name, src->tls_server_name, TLS_NAME_MAX)) {
        trpc__options_release(dst);
        return -TRPC_E_NO_MEMORY;
    }
    return 0;
}

/* One "trpc://host:port", "trpcs://host:port" (TLS), "host:port" or "trpc://[v6]:port" entry of
 * length n. */
static int parse_one(struct trpc__url *u, const char *entry, size_t n)
{
    const char *s = entry, *host, *colon, *end = entry + n;
    size_t hlen, plen;

    u->tls = false;
    if (n >= 8 && strncmp(s, "trpcs://", 8) == 0) {
        s += 8;
        u->tls = true;
    } else if (n >= 7 && strncmp(s, "trpc://", 7) == 0) {
        s += 7;
    } else if (memmem(s, n, "://", 3) != NULL) {
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "%.*s: unknown URL scheme (want trpc:// or trpcs://)", (int)n, entry);
    }
    host = s;
    if (s < end && *s == '[') {
        const char *close = memchr(s, ']', (size_t)(end - s));
        if (close == NULL)
            return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "%.*s: unbalanced '['", (int)n, entry);
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
        if (colon == NULL && close + 1 != end)
            return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "%.*s: junk after ']'", (int)n, entry);
    } else {
        colon = memrchr(s, ':', (size_t)(end - s));
        hlen = (size_t)((colon ? colon : end) - host);
    }
    plen = colon ? (size_t)(end - colon - 1) : 0;
    if (hlen == 0 || hlen >= sizeof(u->host) || (colon && (plen == 0 || plen >= sizeof(u->port))))
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "bad broker address '%.*s'", (int)n, entry);
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    if (colon) {
        memcpy(u->port, colon + 1, plen);
        u->port[plen] = '\0';
        for (size_t i = 0; i < plen; i++)
            if (u->port[i] < '0' || u->port[i] > '9')
                return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "bad port in '%.*s'", (int)n, entry);
    } else if (u->tls) {
        memcpy(u->port, TRPC__DEFAULT_TLS_PORT, sizeof(TRPC__DEFAULT_TLS_PORT));
    } else {
        memcpy(u->port, TRPC__DEFAULT_PORT, sizeof(TRPC__DEFAULT_PORT));
    }
    return 0;
}

int trpc__parse_urls(trpc_client *c, const char *urls)
{
    const char *p = urls;

    c->url_count = 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int err;

        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > 0) {
            if (c->url_count == TRPC__MAX_URLS)
                return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "more than %d broker URLs", TRPC__MAX_URLS);
            err = parse_one(&c->urls[c->url_count], p, n);
            if (err)
                return err;
            c->url_count++;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (c->url_count == 0)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "no broker URL in '%s'", urls);
    return 0;
}
