/*
 * The dashboard's files: its own, embedded in the broker at build time (embed.sh), and Chart.js
 * from where Debian's libjs-chart.js installs it (TRPC_CHARTJS, configure's --with-chartjs),
 * never a copy of ours. Without that package the UI still works, without its charts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dashboard/internal.h"

#define CHARTJS_MAX (4u << 20) /* a file bigger than this is not the one we want */

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
    };
    const char *dot = strrchr(path, '.');

    for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static void add_headers(h2o_req_t *req, const char *type, const char *cache)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, cache, strlen(cache));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL, H2O_STRLIT("nosniff"));
    /* Nothing but the broker's own files and connections, no inline script, never in a frame. */
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0, NULL,
                          H2O_STRLIT("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                     "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL, H2O_STRLIT("no-referrer"));
}

/* Reads Chart.js once (it changes only with its package): 0, or -errno. */
static int chartjs_load(struct http *h)
{
    int fd = open(TRPC_CHARTJS, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t got = 0;
    char *buf;
    int ret = 0;

    if (fd == -1)
        return -errno;
    if (fstat(fd, &st) != 0 || st.st_size <= 0 || (size_t)st.st_size > CHARTJS_MAX) {
        close(fd);
        return -EINVAL;
    }
    buf = malloc((size_t)st.st_size);
    while (buf != NULL && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

        if (n <= 0) {
            ret = n == 0 ? -EIO : -errno;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (buf == NULL || ret != 0) {
        free(buf);
        return buf == NULL ? -ENOMEM : ret;
    }
    h->chartjs = buf;
    h->chartjs_len = got;
    return 0;
}

static void serve_chartjs(struct http *h, h2o_req_t *req)
{
    if (h->chartjs == NULL && chartjs_load(h) != 0) {
        http_respond(req, 404, "Not Found", "text/plain; charset=utf-8",
                     H2O_STRLIT("Chart.js is not installed (" TRPC_CHARTJS ", Debian's libjs-chart.js): no charts\n"));
        return;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    add_headers(req, "text/javascript; charset=utf-8", "max-age=3600");
    h2o_send_inline(req, h->chartjs, h->chartjs_len); /* copies */
}

/* An entity tag of a file's bytes (FNV-1a), so that a browser revalidates without a download. */
static void etag_of(const struct http_file *f, char *buf, size_t len)
{
    uint64_t x = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < f->len; i++)
        x = (x ^ f->data[i]) * 0x100000001b3ull;
    snprintf(buf, len, "\"%016llx\"", (unsigned long long)x);
}

bool http_static_serve(struct http *h, h2o_req_t *req, h2o_iovec_t path)
{
    char etag[24];
    ssize_t inm;

    if (h2o_memis(path.base, path.len, H2O_STRLIT("/vendor/chart.min.js"))) {
        serve_chartjs(h, req);
        return true;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/")))
        path = h2o_iovec_init(H2O_STRLIT("/index.html"));
    for (size_t i = 0; i < http_nfiles; i++) {
        const struct http_file *f = &http_files[i];

        if (!h2o_memis(path.base, path.len, f->path, strlen(f->path)))
            continue;
        /* Revalidated each time (a new broker may serve new files under the same names), which
         * costs a 304 when the browser has them. */
        etag_of(f, etag, sizeof(etag));
        add_headers(req, content_type(f->path), "no-cache");
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, h2o_strdup(&req->pool, etag, SIZE_MAX).base,
                       strlen(etag));
        inm = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
        if (inm != -1 && h2o_memis(req->headers.entries[inm].value.base, req->headers.entries[inm].value.len, etag, strlen(etag))) {
            req->res.status = 304;
            req->res.reason = "Not Modified";
            h2o_send_inline(req, "", 0);
            return true;
        }
        req->res.status = 200;
        req->res.reason = "OK";
        h2o_send_inline(req, (const char *)f->data, f->len);
        return true;
    }
    return false;
}
