/*
 * tests/ctl: runs trpcctl's reply handling (ctl_reply_show) on a document and captures what it
 * writes to stdout and stderr, as the program would print them after a request.
 */
#ifndef TRPC_TESTS_CTL_SHOW_H
#define TRPC_TESTS_CTL_SHOW_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

struct shown {
    int status;
    char *out; /* malloc'ed, NUL-terminated */
    char *err;
};

static inline struct shown show_len(const char *area, const char *verb, const char *doc, size_t len, bool json)
{
    const struct ctl_verb *v = ctl_verb_find(area, verb);
    struct shown s = {-1, NULL, NULL};
    size_t n_out, n_err;
    FILE *out = open_memstream(&s.out, &n_out), *err = open_memstream(&s.err, &n_err);

    if (v == NULL || out == NULL || err == NULL) {
        printf("Bail out! no verb %s %s or no memstream\n", area, verb);
        exit(99);
    }
    s.status = ctl_reply_show(v, doc, len, json, out, err);
    fclose(out);
    fclose(err);
    return s;
}

static inline struct shown show(const char *area, const char *verb, const char *doc)
{
    return show_len(area, verb, doc, strlen(doc), false);
}

static inline void shown_free(struct shown *s)
{
    free(s->out);
    free(s->err);
    s->out = NULL;
    s->err = NULL;
}

/* Prints got and want as TAP comments when they differ. */
static inline bool same_text(const char *got, const char *want)
{
    if (strcmp(got, want) == 0)
        return true;
    printf("# got:\n%s# want:\n%s", got, want);
    return false;
}

#endif
