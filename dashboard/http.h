/*
 * http: the broker's HTTP server (docs/operations.md, "HTTP: /metrics and health"). Not a public API.
 *
 * One thread of its own runs h2o's evloop at a lowered priority, so that serving a scrape never
 * takes time from the cores; it reads the cores' counter blocks directly (stats.h) and the control
 * thread's published store state, and posts nothing to anyone. Endpoints: /metrics (Prometheus's
 * text format), /healthz and /readyz. The dashboard joins it.
 *
 * Threads: http_start and http_stop on the main thread: start after core_start_all (it reads the
 * cores' blocks), stop before control_free and before the cores are freed.
 */
#ifndef TRPC_DASHBOARD_HTTP_H
#define TRPC_DASHBOARD_HTTP_H

#include <stddef.h>

struct broker;

/* Binds cfg.http and starts the thread; nothing when http is off (b->http stays NULL). 0, or a
 * negative errno with one line in err (a port in use fails the start, as the broker's own does). */
int http_start(struct broker *b, char *err, size_t errlen);
/* Ends the thread and frees everything; idempotent. */
void http_stop(struct broker *b);

#endif
