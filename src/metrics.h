/*
 * metrics: the broker's figures in Prometheus's text exposition format (version 0.0.4), for the
 * HTTP thread's /metrics. Every counter of stats.h per core (label core), the store's state, the
 * build and the start time. docs/operations.md lists the families.
 */
#ifndef TRPC_SRC_METRICS_H
#define TRPC_SRC_METRICS_H

#include <stdio.h>

struct broker;

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Writes the exposition to out; any thread while the broker runs. 0, or -EIO when out failed. */
int metrics_write(const struct broker *b, FILE *out);

/* Writes a label value as the text format wants it: backslash, double quote and newline escaped. */
void metrics_label_value(FILE *out, const char *s);

#endif
