/*
 * trpcctl: the operator's command line over the broker's admin API (docs/admin-api.md). Each
 * command is one request on a reserved topic ($trpc.admin.AREA.VERB) through libtrpc; the reply is
 * shown as a table, or as received with --json.
 *
 * Exit status: 0 success, 1 an error reply, an invalid reply or no broker, 2 usage.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <trpc/trpc.h>

#include "ctl/ctl.h"
#include "src/prompt.h"

#define DEFAULT_URL        "trpc://127.0.0.1:4250"
#define DEFAULT_TIMEOUT_MS 5000
#define PASSWORD_MAX       1024 /* the broker's limit (src/auth.h) */

struct opts {
    const char *url;
    int timeout_ms;
    bool json;
    const char *user;  /* log in as this user (NULL: anonymous, or the token) */
    const char *token; /* log in with this token */
    const char *password;
};

static const char usage_line[] =
    "usage: trpcctl [--url URL] [--timeout MS] [--json] [--user NAME | --token TOKEN] COMMAND [ARGS...]\n";

static void print_help(FILE *f)
{
    fputs("NAME\n"
          "    trpcctl - control a running TRPC broker\n"
          "\n"
          "SYNOPSIS\n"
          "    trpcctl [--url URL] [--timeout MS] [--json] [--user NAME | --token TOKEN] COMMAND [ARGS...]\n"
          "    trpcctl COMMAND --help\n"
          "    trpcctl --help | --version\n"
          "\n"
          "DESCRIPTION\n"
          "    Sends one request to the broker's admin API (reserved topics $trpc.admin.AREA.VERB, JSON\n"
          "    documents; docs/admin-api.md) and shows the reply as a table: a header row, counts and\n"
          "    sizes as plain numbers, times as local RFC 3339 times, durations as 4m5s.\n"
          "\n"
          "COMMANDS\n",
          f);
    for (size_t i = 0; i < ctl_verb_count; i++) {
        const struct ctl_verb *v = &ctl_verbs[i];
        char cmd[256];

        /* A synopsis too long for its column names its options in one word (COMMAND --help lists
         * them), and if still too long gets a line of its own, the summary under it. */
        snprintf(cmd, sizeof(cmd), "%s %s %s", v->area, v->verb, v->args);
        if (strlen(cmd) > 40 && strstr(cmd, " [--") != NULL)
            snprintf(strstr(cmd, " [--"), sizeof(cmd) - (size_t)(strstr(cmd, " [--") - cmd), " [OPTIONS]");
        if (strlen(cmd) > 40)
            fprintf(f, "    %s\n    %-40s %s\n", cmd, "", v->summary);
        else
            fprintf(f, "    %-40s %s\n", cmd, v->summary);
    }
    fputs("\n"
          "OPTIONS\n"
          "    --url URL       the broker, trpc://HOST:PORT (a comma-separated list is tried in turn;\n"
          "                    default: $TRPC_URL, else " DEFAULT_URL ")\n"
          "    --timeout MS    connect and reply timeout in milliseconds (default 5000)\n"
          "    --json          print the reply document as received, byte for byte, and a newline\n"
          "    --user NAME     log in as user NAME (a broker with auth on), with the password in\n"
          "                    $TRPC_PASSWORD, else asked for (on the terminal, else the first line of\n"
          "                    standard input)\n"
          "    --token TOKEN   log in with a token (token add); default: $TRPC_TOKEN\n"
          "    -h, --help      print this help, or a command's with COMMAND --help, and exit\n"
          "    -V, --version   print the version and exit\n"
          "    Options may also follow the command.\n"
          "\n"
          "ENVIRONMENT\n"
          "    TRPC_URL        the broker when --url is not given\n"
          "    TRPC_PASSWORD   the password of --user\n"
          "    TRPC_TOKEN      the token to log in with when neither --user nor --token is given\n"
          "\n"
          "EXIT STATUS\n"
          "    0  success\n"
          "    1  the broker answered with an error, its reply was invalid, or it could not be reached\n"
          "    2  usage error\n"
          "\n"
          "EXAMPLES\n"
          "    trpcctl server info\n"
          "    trpcctl --url trpc://10.0.0.5:4250 clients ls --limit 20\n"
          "    trpcctl settings set log-level debug\n"
          "    trpcctl subs ls --json\n"
          "    trpcctl --user admin user add alice --publish 'orders.>' --subscribe 'orders.>'\n"
          "    trpcctl token add alice --name ci --ttl 30d\n",
          f);
}

static void print_verb_help(const struct ctl_verb *v)
{
    printf("usage: trpcctl [--url URL] [--timeout MS] [--json] %s %s%s%s\n\n%s", v->area, v->verb, *v->args ? " " : "", v->args,
           v->help);
    printf("\nThe request goes to %s; see trpcctl --help for the global options.\n", v->topic);
}

/* The verbs of an area, for "trpcctl clients --help". */
static void print_area_help(const char *area)
{
    printf("trpcctl %s commands:\n", area);
    for (size_t i = 0; i < ctl_verb_count; i++) {
        const struct ctl_verb *v = &ctl_verbs[i];

        if (strcmp(v->area, area) == 0)
            printf("    trpcctl %s %s%s%s\n", v->area, v->verb, *v->args ? " " : "", v->args);
    }
    printf("Try 'trpcctl %s COMMAND --help' for more information.\n", area);
}

/* "trpcctl: MESSAGE", then the usage of v (of the whole tool when NULL) and where help is. */
__attribute__((format(printf, 2, 3))) static int usage_error(const struct ctl_verb *v, const char *fmt, ...)
{
    va_list ap;

    fputs("trpcctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (v == NULL)
        fprintf(stderr, "\n%sTry 'trpcctl --help' for more information.\n", usage_line);
    else
        fprintf(stderr, "\nusage: trpcctl [OPTIONS] %s %s%s%s\nTry 'trpcctl %s %s --help' for more information.\n", v->area,
                v->verb, *v->args ? " " : "", v->args, v->area, v->verb);
    return CTL_EXIT_USAGE;
}

/* Digits then one of units[] (each with its multiplier; "" for none), without overflow. */
struct unit {
    const char *suffix;
    long long mult;
};

static bool parse_units(const char *s, const struct unit *units, size_t n, long long *out)
{
    char *end;
    long long v;

    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > LLONG_MAX / units[i].mult)
                return false;
            *out = v * units[i].mult;
            return true;
        }
    }
    return false;
}

/* A decimal integer in [min, max], nothing else; false if s is not one. */
static bool parse_num(const char *s, long long min, long long max, long long *out)
{
    static const struct unit none[] = {{"", 1}};
    long long v;

    if (!parse_units(s, none, 1, &v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool ctl_parse_size(const char *s, long long *out)
{
    static const struct unit u[] = {{"", 1}, {"K", 1ll << 10}, {"M", 1ll << 20}, {"G", 1ll << 30}, {"T", 1ll << 40}};

    return parse_units(s, u, sizeof(u) / sizeof(u[0]), out);
}

static bool ctl_parse_duration_ms(const char *s, long long *out)
{
    static const struct unit u[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};

    if (strcmp(s, "0") == 0) {
        *out = 0;
        return true;
    }
    return parse_units(s, u, sizeof(u) / sizeof(u[0]), out);
}

static const char *opt_name(int ch);

enum {
    OPT_URL = 256,
    OPT_TIMEOUT,
    OPT_JSON,
    OPT_LIMIT,
    OPT_OFFSET,
    OPT_MAX_MSG_SIZE,
    OPT_MAX_MSGS,
    OPT_MAX_BYTES,
    OPT_MAX_AGE,
    OPT_DISCARD,
    OPT_DEDUP_WINDOW,
    OPT_RETENTION,
    OPT_PATTERN,
    OPT_START,
    OPT_MAX_DELIVERIES,
    OPT_ACK_WAIT,
    OPT_BACKOFF,
    OPT_DLQ,
    OPT_REASON,
    OPT_FROM,
    OPT_MAX,
    OPT_USER,
    OPT_TOKEN,
    OPT_ROLE,
    OPT_PUBLISH,
    OPT_SUBSCRIBE,
    OPT_REQUEST,
    OPT_CERT,
    OPT_NO_PASSWORD,
    OPT_DENY,
    OPT_NAME,
    OPT_TTL
};

static const struct option long_opts[] = {
    {"url", required_argument, NULL, OPT_URL},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"max-msg-size", required_argument, NULL, OPT_MAX_MSG_SIZE},
    {"max-msgs", required_argument, NULL, OPT_MAX_MSGS},
    {"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
    {"max-age", required_argument, NULL, OPT_MAX_AGE},
    {"discard", required_argument, NULL, OPT_DISCARD},
    {"dedup-window", required_argument, NULL, OPT_DEDUP_WINDOW},
    {"retention", required_argument, NULL, OPT_RETENTION},
    {"pattern", required_argument, NULL, OPT_PATTERN},
    {"start", required_argument, NULL, OPT_START},
    {"max-deliveries", required_argument, NULL, OPT_MAX_DELIVERIES},
    {"ack-wait", required_argument, NULL, OPT_ACK_WAIT},
    {"backoff", required_argument, NULL, OPT_BACKOFF},
    {"dlq", required_argument, NULL, OPT_DLQ},
    {"reason", required_argument, NULL, OPT_REASON},
    {"from", required_argument, NULL, OPT_FROM},
    {"max", required_argument, NULL, OPT_MAX},
    {"user", required_argument, NULL, OPT_USER},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"role", required_argument, NULL, OPT_ROLE},
    {"publish", required_argument, NULL, OPT_PUBLISH},
    {"subscribe", required_argument, NULL, OPT_SUBSCRIBE},
    {"request", required_argument, NULL, OPT_REQUEST},
    {"cert", required_argument, NULL, OPT_CERT},
    {"no-password", no_argument, NULL, OPT_NO_PASSWORD},
    {"deny", no_argument, NULL, OPT_DENY},
    {"name", required_argument, NULL, OPT_NAME},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static const char *opt_name(int ch)
{
    for (const struct option *o = long_opts; o->name != NULL; o++)
        if (o->val == ch)
            return o->name;
    return "?";
}

/*
 * One getopt pass over argv from optind: global options, and --limit/--offset when v takes them
 * (v NULL: before the command, where "+" stops at the first word). Returns -1 to go on, or the
 * exit status when done (help printed, or a usage error).
 */
static int parse_opts(int argc, char **argv, const struct ctl_verb *v, struct opts *o, struct ctl_args *a)
{
    long long n;
    int ch;

    opterr = 0;
    while ((ch = getopt_long(argc, argv, v == NULL ? "+:hV" : ":hV", long_opts, NULL)) != -1) {
        switch (ch) {
        case OPT_URL:
            o->url = optarg;
            break;
        case OPT_TIMEOUT:
            if (!parse_num(optarg, 1, 3600000, &n))
                return usage_error(v, "--timeout: '%s' is not a number of milliseconds from 1 to 3600000", optarg);
            o->timeout_ms = (int)n;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_USER:
            o->user = optarg;
            break;
        case OPT_TOKEN:
            o->token = optarg;
            break;
        case OPT_ROLE:
        case OPT_PUBLISH:
        case OPT_SUBSCRIBE:
        case OPT_REQUEST:
        case OPT_CERT:
        case OPT_NO_PASSWORD:
            if (v == NULL || !(v->extra & CTL_X_USER_OPTS))
                return usage_error(v, "--%s is an option of user add", opt_name(ch));
            if (ch == OPT_ROLE)
                a->role = optarg;
            if (ch == OPT_CERT)
                a->cert = optarg;
            if (ch == OPT_NO_PASSWORD)
                a->no_password = true;
            if (ch == OPT_PUBLISH || ch == OPT_SUBSCRIBE || ch == OPT_REQUEST) {
                int k = ch - OPT_PUBLISH;

                if (a->nperms[k] == CTL_PERMS_MAX)
                    return usage_error(v, "--%s: at most %d patterns", opt_name(ch), CTL_PERMS_MAX);
                a->perms[k][a->nperms[k]++] = optarg;
            }
            break;
        case OPT_DENY:
            if (v == NULL || !(v->extra & CTL_X_GRANT_ARGS))
                return usage_error(v, "--deny is an option of user grant and user revoke");
            a->deny = true;
            break;
        case OPT_NAME:
        case OPT_TTL:
            if (v == NULL || !(v->extra & CTL_X_TOKEN_OPTS))
                return usage_error(v, "--%s is an option of token add", opt_name(ch));
            if (ch == OPT_NAME)
                a->label = optarg;
            if (ch == OPT_TTL && (!ctl_parse_duration_ms(optarg, &n) || n < 1000))
                return usage_error(v, "--ttl: '%s' is not a duration of a second or more (30s, 12h, 30d)", optarg);
            if (ch == OPT_TTL)
                a->ttl_s = n / 1000;
            break;
        case OPT_LIMIT:
        case OPT_OFFSET:
            if (v == NULL || !v->paged)
                return usage_error(v, "%s is an option of clients ls and subs ls", ch == OPT_LIMIT ? "--limit" : "--offset");
            if (!parse_num(optarg, 0, LLONG_MAX, &n))
                return usage_error(v, "%s: '%s' is not a number", ch == OPT_LIMIT ? "--limit" : "--offset", optarg);
            *(ch == OPT_LIMIT ? &a->limit : &a->offset) = n;
            break;
        case OPT_MAX_MSG_SIZE:
        case OPT_MAX_MSGS:
        case OPT_MAX_BYTES:
        case OPT_MAX_AGE:
        case OPT_DISCARD:
        case OPT_DEDUP_WINDOW:
        case OPT_RETENTION:
            if (v == NULL || !v->stream_opts)
                return usage_error(v, "--%s is an option of stream add", opt_name(ch));
            if (ch == OPT_MAX_MSG_SIZE && !parse_num(optarg, 0, UINT32_MAX, &a->max_msg_size))
                return usage_error(v, "--max-msg-size: '%s' is not a number of bytes", optarg);
            if (ch == OPT_MAX_MSGS && !parse_num(optarg, 0, LLONG_MAX, &a->max_msgs))
                return usage_error(v, "--max-msgs: '%s' is not a number of messages", optarg);
            if (ch == OPT_MAX_BYTES && !ctl_parse_size(optarg, &a->max_bytes))
                return usage_error(v, "--max-bytes: '%s' is not a size (bytes, or with K, M, G or T: 512M)", optarg);
            if (ch == OPT_MAX_AGE && !ctl_parse_duration_ms(optarg, &a->max_age_ms))
                return usage_error(v, "--max-age: '%s' is not a duration (500ms, 30s, 15m, 2h, 7d)", optarg);
            if (ch == OPT_DEDUP_WINDOW && !ctl_parse_duration_ms(optarg, &a->dedup_window_ms))
                return usage_error(v, "--dedup-window: '%s' is not a duration (0 for none, 500ms, 30s, 2m)", optarg);
            if (ch == OPT_DISCARD && strcmp(optarg, "old") != 0 && strcmp(optarg, "new") != 0)
                return usage_error(v, "--discard: '%s' is neither old nor new", optarg);
            if (ch == OPT_DISCARD)
                a->discard = optarg;
            if (ch == OPT_RETENTION && strcmp(optarg, "limits") != 0 && strcmp(optarg, "interest") != 0)
                return usage_error(v, "--retention: '%s' is neither limits nor interest", optarg);
            if (ch == OPT_RETENTION)
                a->retention = optarg;
            break;
        case OPT_PATTERN:
        case OPT_START:
        case OPT_MAX_DELIVERIES:
        case OPT_ACK_WAIT:
        case OPT_BACKOFF:
        case OPT_DLQ:
            /* The values are the broker's to judge (it says why it refuses one), but for the units.
             * A stream takes the delivery policy too, as its groups' defaults. */
            if (v == NULL || !(v->group_opts || (v->stream_opts && ch != OPT_PATTERN && ch != OPT_START)))
                return usage_error(v, "--%s is an option of group add%s", opt_name(ch),
                                   ch == OPT_PATTERN || ch == OPT_START ? "" : ", stream add and stream edit");
            if (ch == OPT_MAX_DELIVERIES && !parse_num(optarg, 1, INT32_MAX, &a->max_deliveries))
                return usage_error(v, "--max-deliveries: '%s' is not a number from 1 (without it: no limit)", optarg);
            if (ch == OPT_ACK_WAIT && (!ctl_parse_duration_ms(optarg, &a->ack_wait_ms) || a->ack_wait_ms == 0))
                return usage_error(v, "--ack-wait: '%s' is not a duration (500ms, 30s, 2m)", optarg);
            if (ch == OPT_PATTERN)
                a->pattern = optarg;
            if (ch == OPT_START)
                a->start = optarg;
            if (ch == OPT_BACKOFF)
                a->backoff = optarg;
            if (ch == OPT_DLQ)
                a->dlq = optarg;
            break;
        case OPT_REASON:
        case OPT_FROM:
        case OPT_MAX:
            if (v == NULL || !v->dlq_opts || (ch == OPT_FROM && v->follow))
                return usage_error(v, "--%s is an option of dlq ls%s", opt_name(ch),
                                   ch == OPT_FROM ? "" : ", dlq redrive and dlq purge");
            if (ch == OPT_FROM && !parse_num(optarg, 1, LLONG_MAX, &a->from))
                return usage_error(v, "--from: '%s' is not a sequence", optarg);
            if (ch == OPT_MAX && !parse_num(optarg, 1, 10000, &a->max))
                return usage_error(v, "--max: '%s' is not a number from 1 to 10000", optarg);
            if (ch == OPT_REASON)
                a->reason = optarg;
            break;
        case 'h':
            if (v != NULL)
                print_verb_help(v);
            else
                print_help(stdout);
            return CTL_EXIT_OK;
        case 'V':
            printf("trpcctl (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
            return CTL_EXIT_OK;
        case ':':
            return usage_error(v, "option '%s' needs an argument", argv[optind - 1]);
        default:
            return usage_error(v, "unknown option '%s'", argv[optind - 1]);
        }
    }
    return -1;
}

/* "connect 127.0.0.1:4250: Connection refused" -> "connection refused": the URL is said already. */
static void connect_reason(int err, char *buf, size_t n)
{
    const char *detail = trpc_last_error(), *colon = strrchr(detail, ':');

    if (strncmp(detail, "connect ", 8) == 0 && colon != NULL && colon[1] == ' ')
        snprintf(buf, n, "%s", colon + 2);
    else
        snprintf(buf, n, "%s", *detail ? detail : trpc_strerror(err));
    buf[0] = (char)tolower((unsigned char)buf[0]);
}

/* A reply that says more is left: req goes on from its next_seq (true); false when done. */
static bool follow(json_t *req, const trpc_msg *reply)
{
    json_t *doc = json_loadb(trpc_msg_data(reply), trpc_msg_len(reply), 0, NULL);
    json_t *next = json_object_get(doc, "next_seq");
    bool more = json_is_true(json_object_get(doc, "more")) && json_is_integer(next);

    /* A broker that cannot go on says the same place again: stop rather than loop. */
    if (more && json_is_integer(json_object_get(req, "from")) &&
        json_integer_value(next) <= json_integer_value(json_object_get(req, "from")))
        more = false;
    if (more) {
        json_object_del(req, "all");
        json_object_set_new(req, "from", json_integer(json_integer_value(next)));
    }
    json_decref(doc);
    return more;
}

/* Sends the request and shows the reply (each, while a verb that follows says there is more);
 * returns the exit status. */
static int run(const struct ctl_verb *v, const struct opts *o, const struct ctl_args *a)
{
    trpc_options *topts = NULL;
    trpc_client *c = NULL;
    trpc_msg *reply = NULL;
    json_t *req = v->request(a), *pw;
    char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    char reason[256];
    int err, status = CTL_EXIT_FAIL;

    if (body == NULL) {
        fputs("trpcctl: out of memory\n", stderr);
        return CTL_EXIT_FAIL;
    }
    err = trpc_options_create(&topts);
    if (err == 0)
        err = trpc_options_set_name(topts, "trpcctl");
    if (err == 0)
        err = trpc_options_set_connect_timeout(topts, o->timeout_ms);
    if (err == 0)
        err = trpc_options_set_reconnect(topts, 0, 50, 50); /* one command, one connection */
    if (err == 0 && o->user != NULL)
        err = trpc_options_set_credentials(topts, o->user, o->password);
    if (err == 0 && o->token != NULL)
        err = trpc_options_set_token(topts, o->token);
    if (err == 0)
        err = trpc_connect(&c, o->url, topts);
    if (err) {
        connect_reason(err, reason, sizeof(reason));
        fprintf(stderr, "trpcctl: cannot connect to %s: %s\n", o->url, reason);
        goto out_free;
    }
    for (;;) {
        err = trpc_request(c, v->topic, body, strlen(body), o->timeout_ms, &reply);
        if (err != 0)
            break;
        status = ctl_reply_show(v, trpc_msg_data(reply), trpc_msg_len(reply), o->json, stdout, stderr);
        if (status != CTL_EXIT_OK || !v->follow || !follow(req, reply))
            break;
        trpc_msg_free(reply);
        reply = NULL;
        OPENSSL_cleanse(body, strlen(body));
        free(body);
        body = json_dumps(req, JSON_COMPACT);
        if (body == NULL) {
            fputs("trpcctl: out of memory\n", stderr);
            status = CTL_EXIT_FAIL;
            break;
        }
    }
    if (err == 0) {
        /* shown above */
    } else if (err == -TRPC_E_NO_RESPONDERS) {
        fprintf(stderr, "trpcctl: %s %s: the broker does not answer %s (a broker without the admin API?)\n", v->area, v->verb,
                v->topic);
    } else if (err == -TRPC_E_TIMEOUT) {
        fprintf(stderr, "trpcctl: %s %s: no reply within %d ms\n", v->area, v->verb, o->timeout_ms);
    } else {
        fprintf(stderr, "trpcctl: %s %s: %s\n", v->area, v->verb, *trpc_last_error() ? trpc_last_error() : trpc_strerror(err));
    }
out_free:
    trpc_msg_free(reply);
    trpc_close(c);
    trpc_options_destroy(topts);
    /* The request may hold a new password (user add, user passwd): its copies go. */
    pw = json_object_get(req, "password");
    if (json_is_string(pw))
        OPENSSL_cleanse((char *)json_string_value(pw), json_string_length(pw));
    json_decref(req);
    if (body != NULL)
        OPENSSL_cleanse(body, strlen(body));
    free(body);
    return status;
}

/* dlq redrive's target: all, SEQ or FROM-TO (sequences from 1, FROM at most TO). */
static bool redrive_target(const char *t)
{
    long long from, to;
    const char *dash = strchr(t, '-');
    char head[24];

    if (strcmp(t, "all") == 0)
        return true;
    if (dash == NULL)
        return parse_num(t, 1, LLONG_MAX, &from);
    if ((size_t)(dash - t) >= sizeof(head))
        return false;
    memcpy(head, t, (size_t)(dash - t));
    head[dash - t] = '\0';
    return parse_num(head, 1, LLONG_MAX, &from) && parse_num(dash + 1, 1, LLONG_MAX, &to) && from <= to;
}

/* group reset's target: a sequence or a time stay as they are (buf ""); a duration becomes the
 * RFC 3339 time that long ago, in buf. False when it is none of them. */
static bool ago_time(const char *s, char *buf, size_t n)
{
    long long ms;
    struct timespec now;
    struct tm tm;
    time_t t;
    long long at;

    buf[0] = '\0';
    if (s[0] != '\0' && s[strspn(s, "0123456789")] == '\0')
        return true;
    if (strlen(s) >= 20 && s[4] == '-' && s[10] == 'T')
        return true; /* the broker checks it */
    if (!ctl_parse_duration_ms(s, &ms))
        return false;
    clock_gettime(CLOCK_REALTIME, &now);
    at = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - ms;
    if (at < 0)
        at = 0;
    t = (time_t)(at / 1000);
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + strlen(buf), n - strlen(buf), ".%03lldZ", at % 1000);
    return true;
}

/* user grant and revoke: WHAT is publish, subscribe, request, role (with one ITEM) or groups, and
 * --deny goes with the first three. -1 to go on, or the exit status. */
static int grant_check(const struct ctl_verb *v, const struct ctl_args *a)
{
    static const char *const whats[] = {"publish", "subscribe", "request", "role", "groups"};
    const char *what = a->pos[1];
    size_t k = 0;

    while (k < 5 && strcmp(what, whats[k]) != 0)
        k++;
    if (k == 5)
        return usage_error(v, "%s %s: '%s' is none of publish, subscribe, request, role and groups", v->area, v->verb, what);
    if (k == 3 && a->npos != 3)
        return usage_error(v, "%s %s: role takes one role (admin)", v->area, v->verb);
    if (k >= 3 && a->deny)
        return usage_error(v, "%s %s: --deny goes with publish, subscribe and request", v->area, v->verb);
    return -1;
}

/* Whether s is UTF-8 as jansson takes it (the JSON of a request carries nothing else): its rule,
 * not one of ours that might let through what it refuses (surrogates, overlong forms). */
static bool utf8(const char *s)
{
    json_t *j = json_string(s);

    json_decref(j);
    return j != NULL;
}

/* Who trpcctl logs in as: --user with $TRPC_PASSWORD or one asked for (into pw), --token, or
 * $TRPC_TOKEN. -1 to go on, or the exit status. */
static int login(struct opts *o, const struct ctl_verb *v, char *pw, size_t pwlen)
{
    const char *env;
    char label[128];

    if (o->user != NULL && o->token != NULL)
        return usage_error(v, "give --user or --token, not both");
    env = getenv("TRPC_TOKEN");
    if (o->user == NULL && o->token == NULL && env != NULL && env[0] != '\0')
        o->token = env;
    if (o->user == NULL)
        return -1;
    env = getenv("TRPC_PASSWORD");
    if (env != NULL && env[0] != '\0') {
        o->password = env;
        return -1;
    }
    snprintf(label, sizeof(label), "password of %s", o->user);
    if (prompt_password(label, false, pw, pwlen) < 0) {
        fprintf(stderr, "trpcctl: --user %s: no password ($TRPC_PASSWORD, the terminal or standard input)\n", o->user);
        return CTL_EXIT_FAIL;
    }
    o->password = pw;
    return -1;
}

/* user add and user passwd: the new password, asked for (twice on a terminal) into pw. -1 to go
 * on, or the exit status. */
static int new_password(const struct ctl_verb *v, struct ctl_args *a, char *pw, size_t pwlen)
{
    char label[128];

    if (!(v->extra & CTL_X_PASSWORD) || a->no_password)
        return -1;
    snprintf(label, sizeof(label), "new password of %s", a->pos[0]);
    if (prompt_password(label, true, pw, pwlen) < 0) {
        fprintf(stderr, "trpcctl: %s %s: no password read (--no-password for a user without one)\n", v->area, v->verb);
        return CTL_EXIT_FAIL;
    }
    if (!utf8(pw)) {
        fprintf(stderr, "trpcctl: %s %s: the password is not UTF-8 text\n", v->area, v->verb);
        return CTL_EXIT_FAIL;
    }
    a->password = pw;
    return -1;
}

int main(int argc, char **argv)
{
    struct opts o = {getenv("TRPC_URL"), DEFAULT_TIMEOUT_MS, false, NULL, NULL, NULL};
    struct ctl_args a = {.limit = -1,
                         .offset = -1,
                         .max_msg_size = -1,
                         .max_msgs = -1,
                         .max_bytes = -1,
                         .max_age_ms = -1,
                         .dedup_window_ms = -1,
                         .max_deliveries = -1,
                         .ack_wait_ms = -1,
                         .from = -1,
                         .max = -1,
                         .ttl_s = -1};
    char ago[40], pw_login[PASSWORD_MAX + 1], pw_new[PASSWORD_MAX + 1];
    const struct ctl_verb *v;
    int status;

    if (o.url == NULL || o.url[0] == '\0')
        o.url = DEFAULT_URL;
    status = parse_opts(argc, argv, NULL, &o, &a);
    if (status >= 0)
        return status;
    if (optind == argc)
        return usage_error(NULL, "no command given");
    if (!ctl_area_known(argv[optind]))
        return usage_error(NULL, "unknown command '%s'", argv[optind]);
    if (optind + 1 == argc || argv[optind + 1][0] == '-') {
        bool help = optind + 1 < argc && (strcmp(argv[optind + 1], "--help") == 0 || strcmp(argv[optind + 1], "-h") == 0);

        if (help) {
            print_area_help(argv[optind]);
            return CTL_EXIT_OK;
        }
        return usage_error(NULL, "'%s' needs a command: see trpcctl %s --help", argv[optind], argv[optind]);
    }
    v = ctl_verb_find(argv[optind], argv[optind + 1]);
    if (v == NULL)
        return usage_error(NULL, "unknown command '%s %s'", argv[optind], argv[optind + 1]);

    /* The verb's own options and arguments: getopt starts again after "AREA VERB". */
    argc -= optind + 1;
    argv += optind + 1;
    optind = 0;
    /* Every argument of the verb goes into the request's JSON: one that is not UTF-8 is named
     * here, rather than failing the document later for a reason it would not tell. */
    for (int i = 1; i < argc; i++) {
        if (!utf8(argv[i])) {
            char *shown = ctl_printable(argv[i], CTL_CELL_MAX_CHARS);

            status =
                usage_error(v, "%s %s: argument %d ('%s') is not UTF-8 text", v->area, v->verb, i, shown != NULL ? shown : "?");
            free(shown);
            return status;
        }
    }
    status = parse_opts(argc, argv, v, &o, &a);
    if (status >= 0)
        return status;
    a.pos = argv + optind;
    a.npos = argc - optind;
    if (a.npos < v->min_pos || a.npos > v->max_pos)
        return usage_error(v, "%s %s: %s", v->area, v->verb, a.npos < v->min_pos ? "missing arguments" : "too many arguments");
    if (v->pairs && a.npos % 2 != 0)
        return usage_error(v, "%s %s: '%s' has no value", v->area, v->verb, a.pos[a.npos - 1]);
    if (v->id_arg) {
        long long id;

        if (!parse_num(a.pos[0], 1, LLONG_MAX, &id))
            return usage_error(v, "%s %s: '%s' is not a client id", v->area, v->verb, a.pos[0]);
    }
    if (v->follow && !redrive_target(a.pos[1]))
        return usage_error(v, "%s %s: '%s' is not a sequence, FROM-TO or all", v->area, v->verb, a.pos[1]);
    if (v->ago_arg && !ago_time(a.pos[2], ago, sizeof(ago)))
        return usage_error(v, "%s %s: '%s' is not a sequence, an RFC 3339 time or a duration", v->area, v->verb, a.pos[2]);
    if (v->ago_arg && ago[0] != '\0')
        a.pos[2] = ago;
    if ((v->extra & CTL_X_GRANT_ARGS) && (status = grant_check(v, &a)) >= 0)
        return status;
    /* The login's password first: both may come from standard input, one line each. */
    status = login(&o, v, pw_login, sizeof(pw_login));
    if (status < 0)
        status = new_password(v, &a, pw_new, sizeof(pw_new));
    if (status < 0)
        status = run(v, &o, &a);
    OPENSSL_cleanse(pw_login, sizeof(pw_login));
    OPENSSL_cleanse(pw_new, sizeof(pw_new));
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "trpcctl: cannot write the output: %s\n", strerror(errno));
        status = CTL_EXIT_FAIL;
    }
    return status;
}
