/*
 * A config file sets what it names and leaves the rest at the defaults; units, comments and
 * blank lines are understood; --print-config output parses back to the same settings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/config.h"
#include "tests/tap.h"

static const char text[] = "# a broker\n"
                           "\n"
                           "listen = [::1]:5000   # loopback v6\n"
                           "  cores=2\n"
                           "\tmax-frame = 4m\r\n"
                           "keepalive = 15s\n"
                           "request-timeout = 250ms\n"
                           "max-request-timeout = 7000\n"
                           "max-output-bytes = 4100k\n"
                           "log-level = debug\n"
                           "insecure = yes\n"
                           "data-dir = /tmp/trpc data\n"
                           "max-topic = 1024";

static int same(const struct config *a, const struct config *b)
{
    return strcmp(a->listen_host, b->listen_host) == 0 && a->listen_port == b->listen_port && a->insecure == b->insecure &&
           a->cores == b->cores && strcmp(a->data_dir, b->data_dir) == 0 && a->log_level == b->log_level &&
           a->limits.max_frame == b->limits.max_frame && a->limits.max_topic == b->limits.max_topic &&
           a->limits.max_headers == b->limits.max_headers && a->limits.max_header_bytes == b->limits.max_header_bytes &&
           a->max_connections == b->max_connections && a->max_subscriptions == b->max_subscriptions &&
           a->max_pending_requests == b->max_pending_requests && a->max_output_bytes == b->max_output_bytes &&
           a->keepalive_ms == b->keepalive_ms && a->request_timeout_ms == b->request_timeout_ms &&
           a->max_request_timeout_ms == b->max_request_timeout_ms && a->recv_buffers == b->recv_buffers &&
           a->recv_buffer_size == b->recv_buffer_size && a->send_zc_threshold == b->send_zc_threshold;
}

static int roundtrip(const struct config *c)
{
    char *buf = NULL, err[CONFIG_ERR_MAX];
    size_t len = 0;
    struct config back;
    FILE *f = open_memstream(&buf, &len);
    int r;

    if (f == NULL)
        BAIL_OUT("open_memstream");
    config_print(c, f);
    fclose(f);
    config_defaults(&back);
    back.cores = 77; /* every option is printed, so this must be overwritten */
    r = config_parse(&back, buf, len, "printed", err, sizeof(err)) == 0 && same(c, &back);
    if (!r)
        diag("%s", err);
    free(buf);
    return r;
}

int main(void)
{
    char err[CONFIG_ERR_MAX];
    struct config c, d;

    config_defaults(&d);
    ok(strcmp(d.listen_host, "127.0.0.1") == 0 && d.listen_port == 4250, "default listen 127.0.0.1:4250");
    ok(config_validate(&d, err, sizeof(err)) == 0, "defaults validate");
    ok(roundtrip(&d), "defaults print and parse back");

    config_defaults(&c);
    ok(config_parse(&c, text, strlen(text), "t.conf", err, sizeof(err)) == 0, "file parses");
    ok(strcmp(c.listen_host, "::1") == 0, "IPv6 host");
    ok_eq(c.listen_port, 5000, "port");
    ok_eq(c.cores, 2, "cores");
    ok_eq(c.limits.max_frame, 4u << 20, "4m is 4 MiB");
    ok_eq(c.keepalive_ms, 15000, "15s");
    ok_eq(c.request_timeout_ms, 250, "250ms");
    ok_eq(c.max_request_timeout_ms, 7000, "bare duration is milliseconds");
    ok_eq(c.max_output_bytes, 4100u << 10, "4100k");
    ok_eq(c.log_level, CONFIG_LOG_DEBUG, "log level");
    ok(c.insecure, "yes is true");
    ok(strcmp(c.data_dir, "/tmp/trpc data") == 0, "path with a space");
    ok_eq(c.limits.max_topic, 1024, "last line without a newline");
    ok_eq(c.max_connections, d.max_connections, "unnamed options keep their defaults");
    ok(config_validate(&c, err, sizeof(err)) == 0, "validates");
    ok(roundtrip(&c), "settings print and parse back");

    {
        char path[] = "/tmp/trpc-config-XXXXXX";
        int fd = mkstemp(path);
        if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
            BAIL_OUT("temp file");
        close(fd);
        config_defaults(&d);
        ok(config_load_file(&d, path, err, sizeof(err)) == 0 && same(&c, &d), "config_load_file reads the same");
        unlink(path);
        ok(config_load_file(&d, path, err, sizeof(err)) < 0 && strstr(err, "No such file") != NULL, "a missing file is named");
        ok(config_load_file(&d, "/tmp", err, sizeof(err)) < 0 && strstr(err, "not a regular file") != NULL,
           "a directory is refused");
    }
    return done_testing();
}
