/* Bad configuration gets one clear line naming the source, the option and what was wrong. */
#include <string.h>

#include "src/config.h"
#include "tests/tap.h"

static const struct {
    const char *text;
    const char *want; /* the exact message */
} cases[] = {
    {"bogus = 1\n", "f.conf:1: unknown option 'bogus' (see --help)"},
    {"\n\ncores = many\n", "f.conf:3: option 'cores': 'many' is not a whole number"},
    {"cores = 2000\n", "f.conf:1: option 'cores': 2000 is outside 0..1024"},
    {"cores = -1\n", "f.conf:1: option 'cores': '-1' is not a whole number"},
    {"cores = 99999999999999999999999\n", "f.conf:1: option 'cores': '99999999999999999999999' is not a whole number"},
    {"cores =\n", "f.conf:1: option 'cores' needs a value"},
    {"cores\n", "f.conf:1: expected 'name = value'"},
    {"= 4\n", "f.conf:1: missing or overlong option name"},
    {"max-frame = 1x\n", "f.conf:1: option 'max-frame': '1x' is not a size (a number with an optional k, m or g suffix)"},
    {"max-frame = 10\n", "f.conf:1: option 'max-frame': 10 is outside 56..67108864"},
    {"max-frame = 128m\n", "f.conf:1: option 'max-frame': 128m is outside 56..67108864"},
    {"max-frame = 17179869184g\n",
     "f.conf:1: option 'max-frame': '17179869184g' is not a size (a number with an optional k, m or g suffix)"},
    {"max-topic = 0\n", "f.conf:1: option 'max-topic': 0 is outside 1..65535"},
    {"keepalive = 5 minutes\n",
     "f.conf:1: option 'keepalive': '5 minutes' is not a duration (a number with an optional ms or s suffix)"},
    {"keepalive = 2h\n", "f.conf:1: option 'keepalive': '2h' is not a duration (a number with an optional ms or s suffix)"},
    {"insecure = maybe\n", "f.conf:1: option 'insecure': 'maybe' is not true or false"},
    {"log-level = loud\n", "f.conf:1: option 'log-level': 'loud' is not error, warn, info or debug"},
    {"listen = localhost:4250\n", "f.conf:1: option 'listen': 'localhost' is not a numeric IPv4 address"},
    {"listen = 127.0.0.1\n", "f.conf:1: option 'listen': '127.0.0.1' is not HOST:PORT"},
    {"listen = 127.0.0.1:65536\n", "f.conf:1: option 'listen': port '65536' is not a number from 0 to 65535"},
    {"listen = [::1:4250\n", "f.conf:1: option 'listen': '[::1:4250' is not [IPV6]:PORT"},
    {"listen = [zz]:4250\n", "f.conf:1: option 'listen': 'zz' is not a numeric IPv6 address"},
    {"listen = :4250\n", "f.conf:1: option 'listen': ':4250' has no usable host"},
    {"recv-buffer-size = 1k\n", "f.conf:1: option 'recv-buffer-size': 1k is outside 4096..1048576"},
    {"tls-client-cert = sometimes\n", "f.conf:1: option 'tls-client-cert': 'sometimes' is not none, optional or required"},
    {"tls-min-version = 1.1\n", "f.conf:1: option 'tls-min-version': '1.1' is not 1.2 or 1.3"},
    {"tls-listen = 127.0.0.1\n", "f.conf:1: option 'tls-listen': '127.0.0.1' is not HOST:PORT"},
    {"tls-handshake-timeout = 10\n", "f.conf:1: option 'tls-handshake-timeout': 10 is outside 100..600000"},
    {"cores = 1\0\n", "f.conf:1: NUL byte in line"},
};

int main(void)
{
    char err[CONFIG_ERR_MAX];
    struct config c;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].text);
        if (strcmp(cases[i].want, "f.conf:1: NUL byte in line") == 0)
            len += 2; /* the NUL and the newline after it */
        config_defaults(&c);
        err[0] = '\0';
        ok(config_parse(&c, cases[i].text, len, "f.conf", err, sizeof(err)) < 0, "refused: %s", cases[i].want);
        if (!ok(strcmp(err, cases[i].want) == 0, "message: %s", cases[i].want))
            diag("got: %s", err);
    }

    /* Relations between options. */
    config_defaults(&c);
    c.limits.max_header_bytes = c.limits.max_frame + 1;
    ok(config_validate(&c, err, sizeof(err)) < 0 && strstr(err, "max-header-bytes") != NULL, "header block above the frame");
    config_defaults(&c);
    c.recv_buffers = 1000;
    ok(config_validate(&c, err, sizeof(err)) < 0 && strstr(err, "power of two") != NULL, "buffer count not a power of two");
    config_defaults(&c);
    c.request_timeout_ms = c.max_request_timeout_ms + 1;
    ok(config_validate(&c, err, sizeof(err)) < 0 && strstr(err, "request-timeout") != NULL, "default timeout above the cap");
    config_defaults(&c);
    c.max_pending_requests_per_client = c.max_pending_requests + 1;
    ok(config_validate(&c, err, sizeof(err)) < 0 && strstr(err, "max-pending-requests-per-client") != NULL,
       "a connection's share of pending requests above the core's table");
    c.max_pending_requests_per_client = c.max_pending_requests;
    ok(config_validate(&c, err, sizeof(err)) == 0, "and equal to it is fine");
    config_defaults(&c);
    c.max_output_bytes = c.limits.max_frame - 1;
    ok(config_validate(&c, err, sizeof(err)) < 0 && strstr(err, "max-output-bytes") != NULL, "output bound below the frame size");
    config_defaults(&c);
    ok(config_parse(&c, "listen = 0.0.0.0:4250\n", 22, "f", err, sizeof(err)) == 0, "a wildcard address parses");
    ok(config_validate(&c, err, sizeof(err)) < 0 && strstr(err, "--insecure") != NULL, "but needs --insecure to validate");
    c.insecure = true;
    ok(config_validate(&c, err, sizeof(err)) == 0, "and validates with it");

    /* TLS. */
    config_defaults(&c);
    ok((config_parse(&c, "tls-listen = 127.0.0.1:4251\n", 28, "f", err, sizeof(err)) < 0 ||
        config_validate(&c, err, sizeof(err)) < 0) &&
           strstr(err, "needs tls-cert") != NULL,
       "a TLS listener needs a certificate");
    config_defaults(&c);
    ok((config_parse(&c, "tls-client-cert = required\n", 27, "f", err, sizeof(err)) < 0 ||
        config_validate(&c, err, sizeof(err)) < 0) &&
           strstr(err, "needs tls-ca") != NULL,
       "client certificates need a CA to check them against");
    config_defaults(&c);
    ok((config_parse(&c, "tls-min-version = 1.3\ntls-max-version = 1.2\n", 44, "f", err, sizeof(err)) < 0 ||
        config_validate(&c, err, sizeof(err)) < 0) &&
           strstr(err, "tls-min-version is above") != NULL,
       "versions in the wrong order");
    config_defaults(&c);
    ok((config_parse(&c, "tls-listen = 0.0.0.0:4251\ntls-cert = s.pem\n", 43, "f", err, sizeof(err)) < 0 ||
        config_validate(&c, err, sizeof(err)) < 0) &&
           strstr(err, "tls-client-cert required") != NULL,
       "a non-loopback TLS listener without client certificates needs auth, or --insecure");
    config_defaults(&c);
    ok(config_parse(&c, "tls-listen = 0.0.0.0:4251\ntls-cert = s.pem\nauth = true\n", 55, "f", err, sizeof(err)) == 0 &&
           config_validate(&c, err, sizeof(err)) == 0,
       "with auth it is accepted");
    config_defaults(&c);
    ok(config_parse(&c, "listen = 0.0.0.0:4250\nauth = true\n", 34, "f", err, sizeof(err)) == 0 &&
           config_validate(&c, err, sizeof(err)) == 0,
       "a non-loopback plaintext listener with auth too");
    config_defaults(&c);
    ok((config_parse(&c, "http = 0.0.0.0:8250\nauth = true\n", 32, "f", err, sizeof(err)) < 0 ||
        config_validate(&c, err, sizeof(err)) < 0) &&
           strstr(err, "needs TLS") != NULL,
       "a non-loopback dashboard with auth but no TLS is refused: %s", err);
    config_defaults(&c);
    ok((config_parse(&c, "http = 0.0.0.0:8250\ntls-listen = 127.0.0.1:4251\ntls-cert = s.pem\n", 65, "f", err, sizeof(err)) < 0 ||
        config_validate(&c, err, sizeof(err)) < 0) &&
           strstr(err, "and auth") != NULL,
       "a non-loopback dashboard over HTTPS without auth is refused: %s", err);
    config_defaults(&c);
    ok(config_parse(&c, "http = 0.0.0.0:8250\ntls-listen = 127.0.0.1:4251\ntls-cert = s.pem\nauth = true\n", 77, "f", err,
                    sizeof(err)) == 0 &&
           config_validate(&c, err, sizeof(err)) == 0,
       "a non-loopback dashboard over HTTPS with auth is accepted");
    config_defaults(&c);
    ok(config_parse(&c, "http = 0.0.0.0:8250\ninsecure = true\n", 36, "f", err, sizeof(err)) == 0 &&
           config_validate(&c, err, sizeof(err)) == 0 && strcmp(c.http_host, "0.0.0.0") == 0,
       "a non-loopback dashboard without TLS or auth is accepted with insecure");
    config_defaults(&c);
    ok(c.http_port == 8250 && config_parse(&c, "http =\n", 7, "f", err, sizeof(err)) == 0 &&
           config_validate(&c, err, sizeof(err)) == 0 && c.http_host[0] == '\0' && c.http_port == 0,
       "http with an empty value turns the dashboard off");
    config_defaults(&c);
    ok(config_parse(&c, "auth-queue = 0\n", 15, "f", err, sizeof(err)) < 0 && strstr(err, "auth-queue") != NULL,
       "auth-queue 0 is refused");
    config_defaults(&c);
    ok(config_parse(&c, "tls-listen = 0.0.0.0:4251\ntls-cert = s.pem\ntls-ca = ca.pem\ntls-client-cert = required\n", 86, "f", err,
                    sizeof(err)) == 0 &&
           config_validate(&c, err, sizeof(err)) == 0,
       "with client certificates required it validates");
    ok(c.tls_listen_port == 4251 && strcmp(c.tls_listen_host, "0.0.0.0") == 0 && c.tls_client_cert == CONFIG_TLS_PEER_REQUIRED,
       "and holds what was set");
    ok(config_parse(&c, "tls-listen = off\n", 17, "f", err, sizeof(err)) == 0 && c.tls_listen_host[0] == '\0', "tls-listen = off");
    config_defaults(&c);
    ok((config_parse(&c, "tls-listen = 0.0.0.0:4250\ntls-cert = s.pem\ninsecure = true\n", 59, "f", err, sizeof(err)) < 0 ||
        config_validate(&c, err, sizeof(err)) < 0) &&
           strstr(err, "share a port") != NULL,
       "TLS on the plaintext listener's port is refused: %s", err);
    {
        /* The list walk behind request-metrics and request-contracts: blanks trimmed, empty items skipped. */
        const char *lists[] = {"", " , ,\t", "a", " a , b\t,, c ,", "one two,x"};
        const char *want[] = {"", "", "a|", "a|b|c|", "one two|x|"};

        for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
            const char *p = lists[i], *s, *e;
            char got[64] = "";

            while (config_list_next(&p, &s, &e))
                snprintf(got + strlen(got), sizeof(got) - strlen(got), "%.*s|", (int)(e - s), s);
            ok(strcmp(got, want[i]) == 0 && *p == '\0', "config_list_next over '%s': %s", lists[i], got);
        }
    }
    return done_testing();
}
