/*
 * config: the broker's settings, from defaults, then the config file, then command-line flags.
 *
 * One table of options (config.c) drives all of it: the command-line flags are the option names
 * with "--", the config file holds `name = value` lines with the same names, --print-config writes
 * that file format back, and the help text lists the table. docs/operations.md documents the
 * options.
 *
 * Values: integers in decimal; sizes with an optional suffix k, m, g (powers of 1024); durations
 * with a suffix ms or s (a bare number is milliseconds); booleans true/false/yes/no/on/off/1/0.
 *
 * Functions return 0 or a negative errno (-EINVAL for bad input) and, on error, leave a one-line
 * message in err (for a file: "path:line: message").
 */
#ifndef TRPC_SRC_CONFIG_H
#define TRPC_SRC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "driver/wire.h"

#define CONFIG_HOST_MAX          256
#define CONFIG_PATH_MAX          1024
#define CONFIG_ERR_MAX           512
#define CONFIG_DEFAULT_PORT      4250
#define CONFIG_DEFAULT_HTTP_PORT 8250
#define CONFIG_SECRET_MAX        256
#define CONFIG_PREFIX_MAX        64

enum config_log_level { CONFIG_LOG_ERROR, CONFIG_LOG_WARN, CONFIG_LOG_INFO, CONFIG_LOG_DEBUG };
enum config_tls_peer { CONFIG_TLS_PEER_NONE, CONFIG_TLS_PEER_OPTIONAL, CONFIG_TLS_PEER_REQUIRED };
enum config_tls_version { CONFIG_TLS_1_2, CONFIG_TLS_1_3 };
enum config_tls_offload { CONFIG_TLS_OFFLOAD_AUTO, CONFIG_TLS_OFFLOAD_KERNEL, CONFIG_TLS_OFFLOAD_USER };
enum config_steering { CONFIG_STEERING_AUTO, CONFIG_STEERING_LEAST_CONNS, CONFIG_STEERING_CPU, CONFIG_STEERING_HASH };

struct config {
    char listen_host[CONFIG_HOST_MAX]; /* numeric IPv4 or IPv6 address */
    uint16_t listen_port;
    char http_host[CONFIG_HOST_MAX]; /* "": no HTTP server (option http = off) */
    uint16_t http_port;
    char tls_listen_host[CONFIG_HOST_MAX]; /* "": no TLS listener (option tls-listen = off) */
    uint16_t tls_listen_port;
    char tls_cert[CONFIG_PATH_MAX];         /* PEM chain, leaf first */
    char tls_key[CONFIG_PATH_MAX];          /* "": in tls_cert */
    char tls_ca[CONFIG_PATH_MAX];           /* PEM: who signs client certificates */
    int tls_client_cert;                    /* enum config_tls_peer */
    char tls_ciphers[CONFIG_PATH_MAX];      /* TLS 1.2 cipher list; "": OpenSSL's default */
    char tls_ciphersuites[CONFIG_PATH_MAX]; /* TLS 1.3 suites; "": OpenSSL's default */
    int tls_min_version, tls_max_version;   /* enum config_tls_version */
    int tls_offload;                        /* enum config_tls_offload */
    unsigned tls_handshake_timeout_ms;
    bool auth;           /* clients authenticate (src/auth.h) */
    unsigned auth_queue; /* password logins waiting for the hashing thread at most */
    bool insecure;       /* allow a non-loopback listener without TLS and authentication */
    unsigned cores;      /* 0: one per online CPU */
    int steering;        /* enum config_steering: src/steer.h */
    char data_dir[CONFIG_PATH_MAX];
    int log_level; /* enum config_log_level */
    struct wire_limits limits;
    unsigned max_connections;
    unsigned max_subscriptions;               /* per connection */
    unsigned max_pending_requests;            /* per core */
    unsigned max_pending_requests_per_client; /* per connection; 0: a quarter of max_pending_requests */
    uint64_t max_output_bytes;                /* per connection: a slow consumer past this is cut off */
    unsigned keepalive_ms;
    unsigned request_timeout_ms; /* for a REQ whose timeout is 0 */
    unsigned max_request_timeout_ms;
    unsigned recv_buffers; /* per core, power of two */
    uint64_t recv_buffer_size;
    uint64_t send_zc_threshold; /* 0: never use SEND_ZC */
    bool direct_sends;          /* a core may write a request or reply to another core's idle connection */
    /* Comma-separated topic patterns, each its own label of the request latency histogram. */
    char request_metrics[CONFIG_PATH_MAX];
    char request_contracts[CONFIG_PATH_MAX]; /* .trpc files whose rpc topics are request classes too */
    /* Not an option: the rpc topics of request_contracts, comma-separated, read once at start
     * (trpc-broker's main, src/contracts.c); the cores' request classes follow request_metrics'. */
    char contract_topics[CONFIG_PATH_MAX];
    char store[CONFIG_PATH_MAX];       /* "": the embedded store in data_dir; redis://HOST:PORT[/DB] */
    char config_file[CONFIG_PATH_MAX]; /* the --config file read last ("": none), for its stream lines */
    char store_prefix[CONFIG_PREFIX_MAX];
    unsigned store_timeout_ms; /* how long a start waits for the store */
    /* From the config file only: a command line shows in ps(1). Never printed nor reported. */
    char store_password[CONFIG_SECRET_MAX];
};

/* Fills c with the defaults. */
void config_defaults(struct config *c);

/* Reads `name = value` lines from text[0..len) (comments start with '#'). origin names the source in errors. */
int config_parse(struct config *c, const char *text, size_t len, const char *origin, char *err, size_t errlen);

/* Reads and parses a config file of at most 1 MiB. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* The `stream = {...}` lines of config file path ("": none), each given to fn with its
 * "path:line": 0, fn's first non-zero return, or -errno with err set. */
int config_each_stream(const char *path, int (*fn)(void *arg, const char *where, const char *json), void *arg, char *err,
                       size_t errlen);

/* The patterns of request-metrics (list): their number (at most CONFIG_REQUEST_CLASSES_MAX), or
 * -EINVAL with err filled. With buf (at least strlen(list) + 1 bytes) and pats, copies each,
 * trimmed and NUL-terminated, into buf and points pats[i] at it. */
#define CONFIG_REQUEST_CLASSES_MAX 16
int config_request_classes(const char *list, char *buf, const char **pats, char *err, size_t errlen);

/* The next item of a comma-separated list at *p: true with [*s, *e) its text, blanks trimmed, and
 * *p moved past it; false at the end. Empty items are skipped. */
bool config_list_next(const char **p, const char **s, const char **e);

/* Whether host (an address or localhost) is in the loopback range. */
bool config_host_is_loopback(const char *host);
/* Checks relations between options (limits consistent, non-loopback listener needs --insecure). */
int config_validate(const struct config *c, char *err, size_t errlen);

/*
 * Applies the command line: --config FILE first (wherever it stands), then every other flag in
 * order, then validation. Flags are `--name value` or `--name=value`; boolean flags may stand
 * alone; a secret (store-password) is refused there. --help, --version and --print-config are not options and are reported through
 * *action.
 */
enum config_action { CONFIG_RUN, CONFIG_HELP, CONFIG_VERSION, CONFIG_PRINT };
int config_from_args(struct config *c, int argc, char **argv, enum config_action *action, char *err, size_t errlen);

/* Writes c in the config file format; config_parse of the output gives c back, but for a secret,
 * which is left out (a comment says whether it is set). */
void config_print(const struct config *c, FILE *out);

/* Writes the option list for --help. */
void config_print_help(FILE *out);

/* The options, for the admin API: 0 with *out filled for i < the number of options, else -ENOENT.
 * live: it may change while the broker runs. */
struct config_option_info {
    const char *name;
    const char *help;
    bool live;
};
int config_option_info(size_t i, struct config_option_info *out);
/* The value of option `name` in the config file's syntax (what config_set_live takes back; a
 * secret reads "(set)" or ""): 0, or -ENOENT. */
int config_get(const struct config *c, const char *name, char *buf, size_t len);
/* Changes n live options at once, then validates the whole (so that two which must agree can
 * change together): 0, or with c untouched and a one-line message in err: -ENOENT (no such
 * option), -EPERM (not live) or -EINVAL (a bad value, or a whole that does not validate). */
int config_set_live(struct config *c, size_t n, const char *const names[], const char *const values[], char *err, size_t errlen);
/* True when the live options of a and b have the same values. */
bool config_live_equal(const struct config *a, const struct config *b);

#endif
