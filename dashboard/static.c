/*
 * The dashboard's files: its own, embedded in the broker at build time (embed.sh), and Chart.js
 * from where Debian's libjs-chart.js installs it (TRPC_CHARTJS, configure's --with-chartjs),
 * never a copy of ours. Without that package the UI still works, without its charts.
 */
#include <errno.h>
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

static void serve_chartjs(h2o_req_t *req)
{
    int fd = open(TRPC_CHARTJS, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    size_t got = 0;

    if (fd == -1 || fstat(fd, &st) != 0 || st.st_size <= 0 || (size_t)st.st_size > CHARTJS_MAX ||
        (buf = malloc((size_t)st.st_size)) == NULL)
        goto missing;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

        if (n <= 0)
            goto missing;
        got += (size_t)n;
    }
    close(fd);
    req->res.status = 200;
    req->res.reason = "OK";
    add_headers(req, "text/javascript; charset=utf-8", "max-age=3600");
    h2o_send_inline(req, buf, got); /* copies */
    free(buf);
    return;
missing:
    if (fd != -1)
        close(fd);
    free(buf);
    http_respond(req, 404, "Not Found", "text/plain; charset=utf-8",
                 H2O_STRLIT("Chart.js is not installed (" TRPC_CHARTJS ", Debian's libjs-chart.js): no charts\n"));
}

bool http_static_serve(struct http *h, h2o_req_t *req, h2o_iovec_t path)
{
    (void)h;
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/vendor/chart.min.js"))) {
        serve_chartjs(req);
        return true;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/")))
        path = h2o_iovec_init(H2O_STRLIT("/index.html"));
    for (size_t i = 0; i < http_nfiles; i++) {
        const struct http_file *f = &http_files[i];

        if (!h2o_memis(path.base, path.len, f->path, strlen(f->path)))
            continue;
        req->res.status = 200;
        req->res.reason = "OK";
        /* Revalidated each time: a new broker may serve new files under the same names. */
        add_headers(req, content_type(f->path), "no-cache");
        h2o_send_inline(req, (const char *)f->data, f->len);
        return true;
    }
    return false;
}
