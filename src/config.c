/*
 * The broker's options: one table, read by the command-line parser, the config file parser, the
 * printer and the help text, so that the four can never disagree about a name, a range or a unit.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/topic.h"
#include "src/config.h"

#define CONFIG_FILE_MAX (1u << 20)
#define LINE_MAX_LEN    4096

/* K_STR: text kept in a char array field (width: its size). K_SECRET: the same, from the config
 * file only, never printed. */
/* K_HTTP: an address like K_LISTEN's, or "off" (also ""); its port field is at port_off. K_LIST: a
 * K_STR that may be empty. K_ENUM: one of names, kept as its index in an int field. */
enum kind { K_LISTEN, K_HTTP, K_BOOL, K_UINT, K_SIZE, K_MS, K_STR, K_LIST, K_SECRET, K_LOG, K_ENUM };

struct option {
    const char *name;
    enum kind kind;
    size_t off;   /* of the field in struct config */
    size_t width; /* of an integer field: 1, 2, 4 or 8; of a text field: its size */
    uint64_t min, max;
    const char *help;
    bool live; /* may change while the broker runs (config_set_live) */
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)

static const char *const peer_names[] = {"none", "optional", "required", NULL};
static const char *const version_names[] = {"1.2", "1.3", NULL};
static const char *const offload_names[] = {"auto", "kernel", "user", NULL};
static const char *const steering_names[] = {"auto", "least-conns", "cpu", "hash", NULL};

/* K_ENUM: each field's values, NULL-terminated. */
static const struct {
    size_t off;
    const char *const *names;
} enums[] = {
    {offsetof(struct config, tls_client_cert), peer_names},    {offsetof(struct config, tls_min_version), version_names},
    {offsetof(struct config, tls_max_version), version_names}, {offsetof(struct config, tls_offload), offload_names},
    {offsetof(struct config, steering), steering_names},
};

static const char *const *enum_names(size_t off)
{
    for (size_t i = 0; i < sizeof(enums) / sizeof(enums[0]); i++)
        if (enums[i].off == off)
            return enums[i].names;
    assert(!"a K_ENUM option without names");
    return NULL;
}

/* K_HTTP: the port that goes with the host field at off. */
static size_t port_off(size_t off)
{
    return off == offsetof(struct config, http_host) ? offsetof(struct config, http_port)
                                                     : offsetof(struct config, tls_listen_port);
}

static const struct option options[] = {
    {"listen", K_LISTEN, FIELD(listen_host), 0, 0, "address and port to listen on (IPv6 as [addr]:port)", false},
    {"http", K_HTTP, FIELD(http_host), 0, 0, "address and port of the dashboard and /metrics (IPv6 as [addr]:port); off: none",
     false},
    {"tls-listen", K_HTTP, FIELD(tls_listen_host), 0, 0, "address and port of the TLS listener (IPv6 as [addr]:port); off: none",
     false},
    {"tls-cert", K_LIST, FIELD(tls_cert), 0, 0, "the TLS listener's certificate chain (PEM, leaf first)", false},
    {"tls-key", K_LIST, FIELD(tls_key), 0, 0, "its private key (PEM); empty: in tls-cert", false},
    {"tls-ca", K_LIST, FIELD(tls_ca), 0, 0, "CA certificates (PEM) that sign client certificates", false},
    {"tls-client-cert", K_ENUM, FIELD(tls_client_cert), 0, 0, "client certificates: none, optional or required (mTLS)", false},
    {"tls-ciphers", K_LIST, FIELD(tls_ciphers), 0, 0, "TLS 1.2 cipher list (OpenSSL syntax); empty: OpenSSL's default", false},
    {"tls-ciphersuites", K_LIST, FIELD(tls_ciphersuites), 0, 0, "TLS 1.3 cipher suites; empty: OpenSSL's default", false},
    {"tls-min-version", K_ENUM, FIELD(tls_min_version), 0, 0, "lowest TLS version: 1.2 or 1.3", false},
    {"tls-max-version", K_ENUM, FIELD(tls_max_version), 0, 0, "highest TLS version: 1.2 or 1.3", false},
    {"tls-offload", K_ENUM, FIELD(tls_offload), 0, 0,
     "TLS records: auto (kernel TLS where the kernel has it), kernel (refuse to start without), user (OpenSSL)", false},
    {"tls-handshake-timeout", K_MS, FIELD(tls_handshake_timeout_ms), 100, 600000, "a TLS handshake not done by then is dropped",
     false},
    {"auth", K_BOOL, FIELD(auth), 0, 1, "clients log in as users of the store (trpc-broker user add) and get their permissions",
     false},
    {"auth-queue", K_UINT, FIELD(auth_queue), 1, 65536,
     "password logins waiting to be hashed at most; more are refused with UNAVAILABLE (try again)", false},
    {"insecure", K_BOOL, FIELD(insecure), 0, 1, "allow a non-loopback address without TLS and authentication", false},
    {"cores", K_UINT, FIELD(cores), 0, 1024, "core threads, one io_uring each; 0: one per online CPU", false},
    {"steering", K_ENUM, FIELD(steering), 0, 0,
     "which core a new connection goes to: hash (the kernel's), least-conns (eBPF: the core with the fewest; needs CAP_BPF), "
     "cpu (the core of the CPU that received it), or auto (least-conns, else cpu)",
     false},
    {"data-dir", K_STR, FIELD(data_dir), 0, 0, "directory of the write-ahead log and the embedded store", false},
    {"log-level", K_LOG, FIELD(log_level), 0, 0, "error, warn, info or debug", true},
    {"max-frame", K_SIZE, FIELD(limits.max_frame), 56, WIRE_FRAME_MAX_CEILING, "largest frame a client may send", false},
    {"max-topic", K_UINT, FIELD(limits.max_topic), 1, WIRE_TOPIC_MAX_CEILING, "longest topic, in bytes", false},
    {"max-headers", K_UINT, FIELD(limits.max_headers), 0, 65535, "most header entries in a frame", false},
    {"max-header-bytes", K_SIZE, FIELD(limits.max_header_bytes), 0, WIRE_FRAME_MAX_CEILING, "largest header block", false},
    {"max-connections", K_UINT, FIELD(max_connections), 1, 1000000, "connections at most, over all cores", true},
    {"max-subscriptions", K_UINT, FIELD(max_subscriptions), 1, 1000000, "subscriptions per connection at most", true},
    {"max-pending-requests", K_UINT, FIELD(max_pending_requests), 1, 10000000, "requests in flight per core at most", false},
    {"max-pending-requests-per-client", K_UINT, FIELD(max_pending_requests_per_client), 0, 10000000,
     "requests in flight per connection at most (at most max-pending-requests); 0: a quarter of max-pending-requests", true},
    {"max-output-bytes", K_SIZE, FIELD(max_output_bytes), 65536, UINT64_C(1) << 32,
     "output queued per connection before it is cut off as a slow consumer", true},
    {"keepalive", K_MS, FIELD(keepalive_ms), 0, 3600000, "clients ping after this much silence; 0: no keepalive", true},
    {"request-timeout", K_MS, FIELD(request_timeout_ms), 1, 3600000, "deadline of a request that names none", true},
    {"max-request-timeout", K_MS, FIELD(max_request_timeout_ms), 1, 86400000, "longest deadline a request may ask", true},
    {"recv-buffers", K_UINT, FIELD(recv_buffers), 16, 32768, "provided receive buffers per core (a power of two)", false},
    {"recv-buffer-size", K_SIZE, FIELD(recv_buffer_size), 4096, 1u << 20, "bytes per receive buffer", false},
    {"send-zc-threshold", K_SIZE, FIELD(send_zc_threshold), 0, WIRE_FRAME_MAX_CEILING,
     "payloads from this size go out with zero-copy send to non-loopback peers; 0: never", false},
    {"direct-sends", K_BOOL, FIELD(direct_sends), 0, 1,
     "a core writes requests, replies and published messages straight to another core's connection that has nothing queued", false},
    {"request-metrics", K_LIST, FIELD(request_metrics), 0, 0,
     "topic patterns (comma-separated, at most 16) whose requests /metrics times apart; the rest are timed together", false},
    {"request-contracts", K_LIST, FIELD(request_contracts), 0, 0,
     ".trpc contract files (comma-separated) whose rpc topics /metrics times apart too (with request-metrics, at most 16)", false},
    {"store", K_STR, FIELD(store), 0, 0, "where settings are kept: file: (files in data-dir) or redis://HOST:PORT[/DB]", false},
    {"store-prefix", K_STR, FIELD(store_prefix), 0, 0, "Redis store: the start of every key", false},
    {"store-timeout", K_MS, FIELD(store_timeout_ms), 0, 600000, "how long a start waits for the store to answer", false},
    {"store-password", K_SECRET, FIELD(store_password), 0, 0,
     "Redis store: the password (config file or $TRPC_STORE_PASSWORD only, never the command line)", false},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static const char *const log_names[] = {"error", "warn", "info", "debug"};

static const struct option *option_find(const char *name, size_t len);

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
    c->listen_port = CONFIG_DEFAULT_PORT;
    snprintf(c->http_host, sizeof(c->http_host), "127.0.0.1");
    c->http_port = CONFIG_DEFAULT_HTTP_PORT;
    c->tls_max_version = CONFIG_TLS_1_3;
    c->tls_handshake_timeout_ms = 10000;
    c->steering = CONFIG_STEERING_HASH; /* least-conns measured no better on 2 CPUs: docs/performance.md */
    snprintf(c->data_dir, sizeof(c->data_dir), "/var/lib/trpc");
    c->log_level = CONFIG_LOG_INFO;
    wire_limits_default(&c->limits);
    c->max_connections = 100000;
    c->max_subscriptions = 10000;
    c->max_pending_requests = 65536;
    c->auth_queue = 256;
    c->max_output_bytes = 64u << 20; /* as nats-server's per-connection pending bound: a burst may run far ahead */
    c->keepalive_ms = 30000;
    c->request_timeout_ms = 5000;
    c->max_request_timeout_ms = 60000;
    c->recv_buffers = 1024;
    c->recv_buffer_size = 16384;
    c->send_zc_threshold = 65536;
    c->direct_sends = true;
    snprintf(c->store, sizeof(c->store), "file:");
    snprintf(c->store_prefix, sizeof(c->store_prefix), "trpc:");
    c->store_timeout_ms = 10000;
}

static const struct option *option_find(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

/* Parses digits with an optional unit suffix; mult_of maps a suffix to its multiplier (0: not a unit). */
static int parse_number(const char *s, uint64_t (*mult_of)(const char *), uint64_t bare, uint64_t *out)
{
    uint64_t v = 0, mult;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    mult = *p ? mult_of(p) : bare;
    if (mult == 0)
        return -EINVAL;
    if (v > UINT64_MAX / mult)
        return -ERANGE;
    *out = v * mult;
    return 0;
}

static uint64_t size_unit(const char *s)
{
    if (strcmp(s, "k") == 0 || strcmp(s, "K") == 0)
        return 1u << 10;
    if (strcmp(s, "m") == 0 || strcmp(s, "M") == 0)
        return 1u << 20;
    if (strcmp(s, "g") == 0 || strcmp(s, "G") == 0)
        return 1u << 30;
    return 0;
}

static uint64_t ms_unit(const char *s)
{
    if (strcmp(s, "ms") == 0)
        return 1;
    if (strcmp(s, "s") == 0)
        return 1000;
    return 0;
}

static uint64_t no_unit(const char *s)
{
    (void)s;
    return 0;
}

static int parse_bool(const char *s, uint64_t *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    size_t i;

    for (i = 0; i < 4; i++) {
        if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
            *out = strcmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return -EINVAL;
}

bool config_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* "HOST:PORT" or "[V6]:PORT"; HOST numeric, so that no name lookup ever runs at start-up. */
static int parse_addr(const char *name, const char *v, char *out_host, uint16_t *out_port, char *err, size_t errlen)
{
    char host[CONFIG_HOST_MAX];
    const char *colon, *hs = v, *he;
    struct in6_addr a6;
    uint64_t port;

    if (v[0] == '[') {
        hs = v + 1;
        he = strchr(hs, ']');
        if (he == NULL || he[1] != ':')
            return fail(err, errlen, "option '%s': '%s' is not [IPV6]:PORT", name, v);
        colon = he + 1;
    } else {
        colon = strrchr(v, ':');
        if (colon == NULL)
            return fail(err, errlen, "option '%s': '%s' is not HOST:PORT", name, v);
        he = colon;
    }
    if ((size_t)(he - hs) >= sizeof(host) || he == hs)
        return fail(err, errlen, "option '%s': '%s' has no usable host", name, v);
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    /* Port 0: the kernel picks a free one, shared by every core's listener and logged. */
    if (parse_number(colon + 1, no_unit, 1, &port) != 0 || port > 65535)
        return fail(err, errlen, "option '%s': port '%s' is not a number from 0 to 65535", name, colon + 1);
    if (v[0] == '[' ? inet_pton(AF_INET6, host, &a6) != 1 : inet_pton(AF_INET, host, &a6) != 1)
        return fail(err, errlen, "option '%s': '%s' is not a numeric IP%s address", name, host, v[0] == '[' ? "v6" : "v4");
    snprintf(out_host, CONFIG_HOST_MAX, "%s", host);
    *out_port = (uint16_t)port;
    return 0;
}

static void store_uint(struct config *c, const struct option *o, uint64_t v)
{
    char *field = (char *)c + o->off;

    assert(o->width == 1 || o->width == 2 || o->width == 4 || o->width == 8);
    if (o->width == 1) {
        bool b = v != 0;
        memcpy(field, &b, 1);
    } else if (o->width == 2) {
        uint16_t x = (uint16_t)v;
        memcpy(field, &x, 2);
    } else if (o->width == 4) {
        uint32_t x = (uint32_t)v;
        memcpy(field, &x, 4);
    } else {
        memcpy(field, &v, 8);
    }
}

static uint64_t load_uint(const struct config *c, const struct option *o)
{
    const char *field = (const char *)c + o->off;
    uint16_t x16;
    uint32_t x32;
    uint64_t x64;
    bool b;

    switch (o->width) {
    case 1:
        memcpy(&b, field, 1);
        return b;
    case 2:
        memcpy(&x16, field, 2);
        return x16;
    case 4:
        memcpy(&x32, field, 4);
        return x32;
    default:
        memcpy(&x64, field, 8);
        return x64;
    }
}

static int set_number(struct config *c, const struct option *o, const char *value, char *err, size_t errlen)
{
    static const char *const what[] = {[K_UINT] = "a whole number",
                                       [K_SIZE] = "a size (a number with an optional k, m or g suffix)",
                                       [K_MS] = "a duration (a number with an optional ms or s suffix)",
                                       [K_BOOL] = "true or false"};
    uint64_t v;
    int e;

    if (o->kind == K_BOOL)
        e = parse_bool(value, &v);
    else
        e = parse_number(value, o->kind == K_SIZE ? size_unit : o->kind == K_MS ? ms_unit : no_unit, 1, &v);
    if (e != 0)
        return fail(err, errlen, "option '%s': '%s' is not %s", o->name, value, what[o->kind]);
    if (v < o->min || v > o->max)
        return fail(err, errlen, "option '%s': %s is outside %" PRIu64 "..%" PRIu64, o->name, value, o->min, o->max);
    store_uint(c, o, v);
    return 0;
}

/* Sets one option by name (without "--") from its text value. */
static int set_option(struct config *c, const char *name, const char *value, char *err, size_t errlen)
{
    const struct option *o = option_find(name, strlen(name));
    size_t i;

    if (o == NULL)
        return fail(err, errlen, "unknown option '%s' (see --help)", name);
    if (value[0] == '\0' && o->kind != K_HTTP && o->kind != K_LIST)
        return fail(err, errlen, "option '%s' needs a value", name);
    switch (o->kind) {
    case K_LISTEN:
        return parse_addr(name, value, c->listen_host, &c->listen_port, err, errlen);
    case K_HTTP:
        if (value[0] == '\0' || strcmp(value, "off") == 0) {
            *((char *)c + o->off) = '\0';
            *(uint16_t *)(void *)((char *)c + port_off(o->off)) = 0;
            return 0;
        }
        return parse_addr(name, value, (char *)c + o->off, (uint16_t *)(void *)((char *)c + port_off(o->off)), err, errlen);
    case K_ENUM: {
        size_t n = 0, at = 0;
        char list[128] = "";

        while (enum_names(o->off)[n] != NULL)
            n++;
        for (i = 0; i < n; i++) {
            if (strcmp(value, enum_names(o->off)[i]) == 0) {
                *(int *)(void *)((char *)c + o->off) = (int)i;
                return 0;
            }
            at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s",
                                   i == 0       ? ""
                                   : i + 1 == n ? " or "
                                                : ", ",
                                   enum_names(o->off)[i]);
        }
        return fail(err, errlen, "option '%s': '%s' is not %s", name, value, list);
    }
    case K_STR:
    case K_LIST:
    case K_SECRET:
        if (strlen(value) >= o->width)
            return fail(err, errlen, "option '%s': longer than %zu bytes", name, o->width - 1);
        snprintf((char *)c + o->off, o->width, "%s", value);
        return 0;
    case K_LOG:
        for (i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
            if (strcmp(value, log_names[i]) == 0) {
                c->log_level = (int)i;
                return 0;
            }
        }
        return fail(err, errlen, "option 'log-level': '%s' is not error, warn, info or debug", value);
    default:
        return set_number(c, o, value, err, errlen);
    }
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t' || **s == '\r'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

/* One line without its newline into name and value: 1, 0 for a blank line or a comment, or
 * -EINVAL (err set). A '#' starts a comment, but in a stream line, whose JSON may hold one. */
static int split_line(const char *s, const char *e, const char *where, char *name, size_t name_cap, char *value, char *err,
                      size_t errlen)
{
    const char *hash, *eq, *ns, *ne, *vs, *ve;

    if (memchr(s, '\0', (size_t)(e - s)) != NULL)
        return fail(err, errlen, "%s: NUL byte in line", where);
    trim(&s, &e);
    if (e - s > 6 && memcmp(s, "stream", 6) == 0 && (s[6] == ' ' || s[6] == '\t' || s[6] == '=')) {
        /* A stream's JSON may hold a '#' in a string: a comment starts at one outside them. */
        bool in_str = false;

        for (hash = s; hash < e && (in_str || *hash != '#'); hash++) {
            if (*hash == '"')
                in_str = !in_str;
            else if (*hash == '\\' && in_str && hash + 1 < e)
                hash++;
        }
        hash = hash < e ? hash : NULL;
    } else {
        hash = memchr(s, '#', (size_t)(e - s));
    }
    if (hash != NULL)
        e = hash;
    trim(&s, &e);
    if (s == e)
        return 0;
    eq = memchr(s, '=', (size_t)(e - s));
    if (eq == NULL)
        return fail(err, errlen, "%s: expected 'name = value'", where);
    ns = s, ne = eq, vs = eq + 1, ve = e;
    trim(&ns, &ne);
    trim(&vs, &ve);
    if (ns == ne || (size_t)(ne - ns) >= name_cap)
        return fail(err, errlen, "%s: missing or overlong option name", where);
    memcpy(name, ns, (size_t)(ne - ns));
    name[ne - ns] = '\0';
    memcpy(value, vs, (size_t)(ve - vs));
    value[ve - vs] = '\0';
    return 1;
}

static int parse_line(struct config *c, const char *s, const char *e, const char *where, char *err, size_t errlen)
{
    char name[64], value[LINE_MAX_LEN], msg[CONFIG_ERR_MAX];
    int ret = split_line(s, e, where, name, sizeof(name), value, err, errlen);

    if (ret <= 0)
        return ret;
    if (strcmp(name, "stream") == 0) {
        /* A stream definition: the control plane reads it (config_each_stream) where streams
         * are, and says what is wrong with it, with this file and line. */
        if (value[0] == '\0')
            return fail(err, errlen, "%s: option 'stream' needs a value: a JSON object as the admin API's stream.add takes", where);
        return 0;
    }
    if (set_option(c, name, value, msg, sizeof(msg)) != 0)
        return fail(err, errlen, "%s: %s", where, msg);
    return 0;
}

typedef int line_fn(void *arg, const char *s, const char *e, const char *where, char *err, size_t errlen);

/* Runs fn on each line of text, with "origin:N" for its messages; stops at the first non-zero. */
static int each_line(const char *text, size_t len, const char *origin, line_fn *fn, void *arg, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    char where[CONFIG_PATH_MAX + 32];
    unsigned line = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl != NULL ? nl : end;
        int e;

        line++;
        snprintf(where, sizeof(where), "%s:%u", origin, line);
        if (le - p >= LINE_MAX_LEN)
            return fail(err, errlen, "%s: line longer than %d bytes", where, LINE_MAX_LEN - 1);
        e = fn(arg, p, le, where, err, errlen);
        if (e != 0)
            return e;
        p = le + (nl != NULL);
    }
    return 0;
}

static int option_line(void *arg, const char *s, const char *e, const char *where, char *err, size_t errlen)
{
    return parse_line(arg, s, e, where, err, errlen);
}

int config_parse(struct config *c, const char *text, size_t len, const char *origin, char *err, size_t errlen)
{
    return each_line(text, len, origin, option_line, c, err, errlen);
}

/* The whole of config file path, malloc'd, in *text (*len bytes). */
static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    ssize_t n;
    int fd, ret = 0;

    *text = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
        ret = fail(err, errlen, "%s: not a regular file of at most %u bytes", path, CONFIG_FILE_MAX);
        goto out_close;
    }
    *text = malloc((size_t)st.st_size + 1);
    if (*text == NULL) {
        ret = fail(err, errlen, "%s: out of memory", path);
        goto out_close;
    }
    n = read(fd, *text, (size_t)st.st_size);
    if (n != st.st_size) {
        free(*text);
        *text = NULL;
        ret = fail(err, errlen, "%s: short read", path);
        goto out_close;
    }
    *len = (size_t)n;
out_close:
    close(fd);
    return ret;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t n = 0;
    int ret = read_file(path, &text, &n, err, errlen);

    if (ret != 0)
        return ret;
    ret = config_parse(c, text, n, path, err, errlen);
    if (ret == 0)
        snprintf(c->config_file, sizeof(c->config_file), "%s", path);
    free(text);
    return ret;
}

/* The wildcard address of either family: it overlaps every address of the port. */
static bool host_is_any(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

int config_validate(const struct config *c, char *err, size_t errlen)
{
    if (c->limits.max_header_bytes > c->limits.max_frame)
        return fail(err, errlen, "max-header-bytes (%u) exceeds max-frame (%u)", c->limits.max_header_bytes, c->limits.max_frame);
    if (c->recv_buffers & (c->recv_buffers - 1))
        return fail(err, errlen, "recv-buffers (%u) must be a power of two", c->recv_buffers);
    if (c->request_timeout_ms > c->max_request_timeout_ms)
        return fail(err, errlen, "request-timeout exceeds max-request-timeout");
    if (c->max_pending_requests_per_client > c->max_pending_requests)
        return fail(err, errlen, "max-pending-requests-per-client (%u) exceeds max-pending-requests (%u)",
                    c->max_pending_requests_per_client, c->max_pending_requests);
    /* Below it, a subscriber could never be sent the largest message a publisher may send. */
    if (c->max_output_bytes < c->limits.max_frame)
        return fail(err, errlen, "max-output-bytes (%" PRIu64 ") is below max-frame (%u)", c->max_output_bytes,
                    c->limits.max_frame);
    if (config_request_classes(c->request_metrics, NULL, NULL, err, errlen) < 0)
        return -EINVAL;
    /* The store parses the rest of its URL when it opens; a plain mistake is a configuration one. */
    if (strcmp(c->store, "file:") != 0 && strncmp(c->store, "redis://", 8) != 0)
        return fail(err, errlen, "store '%s' is neither file: nor redis://HOST:PORT[/DB]", c->store);
    if (c->tls_listen_host[0] != '\0' && c->tls_cert[0] == '\0')
        return fail(err, errlen, "tls-listen needs tls-cert (and tls-key, unless the key is in the same file)");
    if (c->tls_client_cert != CONFIG_TLS_PEER_NONE && c->tls_ca[0] == '\0')
        return fail(err, errlen, "tls-client-cert %s needs tls-ca, the CA certificates that sign client certificates",
                    c->tls_client_cert == CONFIG_TLS_PEER_OPTIONAL ? "optional" : "required");
    /* SO_REUSEPORT would let both bind, and the kernel would share connections between them. */
    if (c->tls_listen_host[0] != '\0' && c->tls_listen_port != 0 && c->tls_listen_port == c->listen_port &&
        (strcmp(c->tls_listen_host, c->listen_host) == 0 || host_is_any(c->tls_listen_host) || host_is_any(c->listen_host)))
        return fail(err, errlen, "tls-listen %s:%u and listen %s:%u share a port: give TLS a port of its own", c->tls_listen_host,
                    c->tls_listen_port, c->listen_host, c->listen_port);
    if (c->tls_min_version > c->tls_max_version)
        return fail(err, errlen, "tls-min-version is above tls-max-version");
    /* Whoever can reach a non-loopback listener must say who they are: by a password or token
     * (auth) or a client certificate (TLS only). Plaintext with auth is allowed, as other
     * brokers allow it, but main.c warns that passwords then cross the network in clear. */
    if (c->tls_listen_host[0] != '\0' && !config_host_is_loopback(c->tls_listen_host) &&
        c->tls_client_cert != CONFIG_TLS_PEER_REQUIRED && !c->auth && !c->insecure)
        return fail(err, errlen,
                    "tls-listen %s is not a loopback address: it needs auth or tls-client-cert required, or --insecure",
                    c->tls_listen_host);
    if (!config_host_is_loopback(c->listen_host) && !c->auth && !c->insecure)
        return fail(err, errlen, "listen %s is not a loopback address: it needs auth (and TLS), or --insecure", c->listen_host);
    /* The dashboard's login sends a password: beyond loopback, only over HTTPS (the broker's TLS
     * listener's certificate) and only with authentication on. */
    if (c->http_host[0] != '\0' && !config_host_is_loopback(c->http_host) && !c->insecure &&
        (c->tls_listen_host[0] == '\0' || !c->auth))
        return fail(err, errlen, "http %s is not a loopback address: it needs TLS (tls-listen) and auth, or --insecure",
                    c->http_host);
    assert(wire_limits_valid(&c->limits));
    return 0;
}

static bool is_config_flag(const char *a)
{
    return strcmp(a, "--config") == 0 || strncmp(a, "--config=", 9) == 0;
}

/* Splits argv[*i] into name and value ("--name=value", "--name value", or a lone boolean). */
static int next_flag(int argc, char **argv, int *i, char *name, size_t name_len, const char **value, char *err, size_t errlen)
{
    const char *a = argv[*i], *eq;
    const struct option *o;
    size_t n;

    if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
        return fail(err, errlen, "unexpected argument '%s' (see --help)", a);
    a += 2;
    eq = strchr(a, '=');
    n = eq != NULL ? (size_t)(eq - a) : strlen(a);
    if (n >= name_len)
        return fail(err, errlen, "unknown option '--%s' (see --help)", a);
    memcpy(name, a, n);
    name[n] = '\0';
    if (eq != NULL) {
        *value = eq + 1;
        return 0;
    }
    o = option_find(name, n);
    if (o != NULL && o->kind == K_BOOL) {
        *value = "true";
        return 0;
    }
    if (o == NULL && strcmp(name, "config") != 0)
        return fail(err, errlen, "unknown option '--%s' (see --help)", name);
    if (*i + 1 >= argc)
        return fail(err, errlen, "option '--%s' needs a value", name);
    *value = argv[++*i];
    return 0;
}

int config_from_args(struct config *c, int argc, char **argv, enum config_action *action, char *err, size_t errlen)
{
    char name[64];
    const char *value;
    int i, e;

    *action = CONFIG_RUN;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *action = CONFIG_HELP;
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            *action = CONFIG_VERSION;
            return 0;
        }
    }
    /* The file first, wherever --config stands, so that every flag overrides it. */
    for (i = 1; i < argc; i++) {
        if (!is_config_flag(argv[i]))
            continue;
        e = next_flag(argc, argv, &i, name, sizeof(name), &value, err, errlen);
        if (e == 0)
            e = config_load_file(c, value, err, errlen);
        if (e != 0)
            return e;
    }
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--print-config") == 0) {
            *action = CONFIG_PRINT;
            continue;
        }
        e = next_flag(argc, argv, &i, name, sizeof(name), &value, err, errlen);
        if (e == 0 && strcmp(name, "config") != 0) {
            const struct option *o = option_find(name, strlen(name));
            char msg[CONFIG_ERR_MAX];

            if (o != NULL && o->kind == K_SECRET)
                return fail(
                    err, errlen,
                    "--%s is not taken on the command line, where ps(1) shows it: put it in the config file or the environment",
                    name);
            e = set_option(c, name, value, msg, sizeof(msg));
            if (e != 0)
                fail(err, errlen, "%s", msg);
        }
        if (e != 0)
            return e;
    }
    return config_validate(c, err, errlen);
}

static void format_value(const struct config *c, const struct option *o, char *buf, size_t len)
{
    uint64_t v;

    switch (o->kind) {
    case K_LISTEN:
        snprintf(buf, len, strchr(c->listen_host, ':') ? "[%s]:%u" : "%s:%u", c->listen_host, c->listen_port);
        return;
    case K_HTTP: {
        const char *host = (const char *)c + o->off;
        unsigned port = *(const uint16_t *)(const void *)((const char *)c + port_off(o->off));

        if (host[0] == '\0')
            snprintf(buf, len, "off");
        else
            snprintf(buf, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
        return;
    }
    case K_ENUM:
        snprintf(buf, len, "%s", enum_names(o->off)[*(const int *)(const void *)((const char *)c + o->off)]);
        return;
    case K_STR:
    case K_LIST:
        snprintf(buf, len, "%s", (const char *)c + o->off);
        return;
    case K_SECRET:
        snprintf(buf, len, "%s", *((const char *)c + o->off) ? "(set)" : "");
        return;
    case K_LOG:
        snprintf(buf, len, "%s", log_names[c->log_level]);
        return;
    default:
        break;
    }
    v = load_uint(c, o);
    if (o->kind == K_BOOL)
        snprintf(buf, len, "%s", v ? "true" : "false");
    else if (o->kind == K_SIZE && v != 0 && v % (1u << 20) == 0)
        snprintf(buf, len, "%" PRIu64 "m", v >> 20);
    else if (o->kind == K_SIZE && v != 0 && v % (1u << 10) == 0)
        snprintf(buf, len, "%" PRIu64 "k", v >> 10);
    else if (o->kind == K_MS && v != 0 && v % 1000 == 0)
        snprintf(buf, len, "%" PRIu64 "s", v / 1000);
    else if (o->kind == K_MS)
        snprintf(buf, len, "%" PRIu64 "ms", v);
    else
        snprintf(buf, len, "%" PRIu64, v);
}

void config_print(const struct config *c, FILE *out)
{
    char value[CONFIG_PATH_MAX + 16];
    size_t i;

    fprintf(out, "# trpc-broker configuration\n");
    for (i = 0; i < N_OPTIONS; i++) {
        format_value(c, &options[i], value, sizeof(value));
        if (options[i].kind == K_SECRET)
            fprintf(out, "\n# %s\n# %s is %s\n", options[i].help, options[i].name, value[0] ? "set, not printed" : "not set");
        else
            fprintf(out, "\n# %s\n%s = %s\n", options[i].help, options[i].name, value);
    }
}

void config_print_help(FILE *out)
{
    struct config d;
    char value[CONFIG_PATH_MAX + 16];
    size_t i;

    config_defaults(&d);
    for (i = 0; i < N_OPTIONS; i++) {
        format_value(&d, &options[i], value, sizeof(value));
        fprintf(out, "  --%s %s\n      %s (default %s)\n", options[i].name,
                options[i].kind == K_BOOL   ? "[BOOL]"
                : options[i].kind == K_SIZE ? "SIZE"
                : options[i].kind == K_MS   ? "DURATION"
                                            : "VALUE",
                options[i].help, value[0] ? value : "none");
    }
}

bool config_list_next(const char **p, const char **s, const char **e)
{
    while (**p != '\0') {
        const char *a = *p, *b = strchr(a, ',');

        if (b == NULL)
            b = a + strlen(a);
        *p = *b == ',' ? b + 1 : b;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a < b) {
            *s = a;
            *e = b;
            return true;
        }
    }
    return false;
}

int config_request_classes(const char *list, char *buf, const char **pats, char *err, size_t errlen)
{
    size_t n = 0, at = 0;
    const char *p = list, *s, *e;

    while (config_list_next(&p, &s, &e)) {
        if (n == CONFIG_REQUEST_CLASSES_MAX)
            return fail(err, errlen, "request-metrics: more than %d patterns", CONFIG_REQUEST_CLASSES_MAX);
        if (topic_check_pattern(s, (size_t)(e - s)) != 0)
            return fail(err, errlen, "request-metrics: '%.*s' is not a topic pattern", (int)(e - s), s);
        if (buf != NULL) {
            memcpy(buf + at, s, (size_t)(e - s));
            buf[at + (size_t)(e - s)] = '\0';
            pats[n] = buf + at;
        }
        at += (size_t)(e - s) + 1;
        n++;
    }
    return (int)n;
}

int config_option_info(size_t i, struct config_option_info *out)
{
    if (i >= N_OPTIONS)
        return -ENOENT;
    out->name = options[i].name;
    out->help = options[i].help;
    out->live = options[i].live;
    return 0;
}

int config_get(const struct config *c, const char *name, char *buf, size_t len)
{
    const struct option *o = option_find(name, strlen(name));

    if (o == NULL)
        return -ENOENT;
    format_value(c, o, buf, len);
    return 0;
}

int config_set_live(struct config *c, size_t n, const char *const names[], const char *const values[], char *err, size_t errlen)
{
    struct config next = *c;

    for (size_t i = 0; i < n; i++) {
        const struct option *o = option_find(names[i], strlen(names[i]));

        if (o == NULL) {
            fail(err, errlen, "no setting '%s'", names[i]);
            return -ENOENT;
        }
        if (!o->live) {
            fail(err, errlen,
                 "%s cannot change while the broker runs: change it in the config file or on the command line and restart",
                 names[i]);
            return -EPERM;
        }
        if (set_option(&next, names[i], values[i], err, errlen) != 0)
            return -EINVAL;
    }
    if (config_validate(&next, err, errlen) != 0)
        return -EINVAL;
    *c = next;
    return 0;
}

bool config_live_equal(const struct config *a, const struct config *b)
{
    char x[CONFIG_PATH_MAX + 16], y[CONFIG_PATH_MAX + 16];

    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (!options[i].live)
            continue;
        format_value(a, &options[i], x, sizeof(x));
        format_value(b, &options[i], y, sizeof(y));
        if (strcmp(x, y) != 0)
            return false;
    }
    return true;
}

struct stream_lines {
    int (*fn)(void *arg, const char *where, const char *json);
    void *arg;
    char value[LINE_MAX_LEN];
};

static int stream_line(void *arg, const char *s, const char *e, const char *where, char *err, size_t errlen)
{
    struct stream_lines *sl = arg;
    char name[64];
    int ret = split_line(s, e, where, name, sizeof(name), sl->value, err, errlen);

    return ret > 0 && strcmp(name, "stream") == 0 ? sl->fn(sl->arg, where, sl->value) : ret < 0 ? ret : 0;
}

int config_each_stream(const char *path, int (*fn)(void *arg, const char *where, const char *json), void *arg, char *err,
                       size_t errlen)
{
    struct stream_lines *sl;
    char *text;
    size_t n = 0;
    int ret;

    if (path[0] == '\0')
        return 0;
    ret = read_file(path, &text, &n, err, errlen);
    if (ret != 0)
        return ret;
    sl = malloc(sizeof(*sl));
    if (sl == NULL) {
        free(text);
        return fail(err, errlen, "%s: out of memory", path);
    }
    sl->fn = fn;
    sl->arg = arg;
    ret = each_line(text, n, path, stream_line, sl, err, errlen);
    free(sl);
    free(text);
    return ret;
}
