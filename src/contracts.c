/*
 * contracts: see contracts.h. Runs once, at start, before the cores exist: the contracts are read
 * with trpc-gen's own loader and checker, so a topic here is the topic the generated stubs use.
 */
#include "src/contracts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"
#include "src/config.h"

/* Whether name is one of the comma-separated entries of list (spaces around entries ignored). */
static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *s, *e;

    while (config_list_next(&list, &s, &e))
        if ((size_t)(e - s) == n && memcmp(s, name, n) == 0)
            return true;
    return false;
}

/* The first error line trpc-gen wrote (its "file:line:col: error: ..." line), for err. */
static void first_error(const char *diag, char *err, size_t errlen)
{
    const char *nl;

    if (strncmp(diag, "trpc-gen: ", 10) == 0) /* we are not trpc-gen */
        diag += 10;
    nl = strchr(diag, '\n');
    int len = nl != NULL ? (int)(nl - diag) : (int)strlen(diag);

    snprintf(err, errlen, "request-contracts: %.*s", len, diag);
}

/* Appends the rpc topics of every loaded unit to out; -ENOSPC when they do not fit, -EDOM for a
 * topic with a comma (trpc-gen allows one; the list could not say where it ends). */
static int collect(const struct gen_ctx *g, const char *skip, char *out, size_t outlen, int *count)
{
    size_t at = strlen(out);

    for (const struct gen_unit *u = g->units; u != NULL; u = u->next)
        for (const struct gen_service *s = u->services; s != NULL; s = s->next)
            for (const struct gen_method *m = s->methods; m != NULL; m = m->next) {
                size_t n;

                if (m->kind != GEN_RPC || listed(out, m->topic) || listed(skip, m->topic))
                    continue;
                if (strchr(m->topic, ',') != NULL) /* a contract may have one; a list of them may not */
                    return -EDOM;
                n = strlen(m->topic);
                if (at + (at > 0) + n + 1 > outlen)
                    return -ENOSPC;
                if (at > 0)
                    out[at++] = ',';
                memcpy(out + at, m->topic, n + 1);
                at += n;
                (*count)++;
            }
    return 0;
}

int contracts_rpc_topics(const char *files, const char *skip, char *out, size_t outlen, char *err, size_t errlen)
{
    char *copy = strdup(files), *path;
    const char *p = files, *s, *e;
    int count = 0, ret = 0;

    if (copy == NULL || outlen == 0) {
        free(copy);
        snprintf(err, errlen, "request-contracts: out of memory");
        return -EINVAL;
    }
    out[0] = '\0';
    while (ret == 0 && config_list_next(&p, &s, &e)) {
        char *diag = NULL;
        size_t diag_len = 0;
        FILE *f;
        struct gen_ctx g;

        path = copy + (s - files); /* the same item in the copy, ended there */
        copy[e - files] = '\0';
        f = open_memstream(&diag, &diag_len);
        if (f == NULL) {
            snprintf(err, errlen, "request-contracts: out of memory");
            ret = -EINVAL;
            break;
        }
        gen_ctx_init(&g, f);
        if (gen_load(&g, path) == NULL || gen_check(&g) != 0) {
            fclose(f);
            first_error(diag != NULL ? diag : "", err, errlen);
            ret = -EINVAL;
        } else {
            fclose(f);
            int c = collect(&g, skip, out, outlen, &count);

            if (c == -EDOM)
                snprintf(err, errlen, "request-contracts: %s has an rpc topic with a ',', which cannot be a request class", path);
            else if (c != 0)
                snprintf(err, errlen, "request-contracts: the rpc topics of %s make a list longer than %zu bytes", path,
                         outlen - 1);
            if (c != 0)
                ret = -EINVAL;
        }
        gen_ctx_free(&g);
        free(diag);
    }
    free(copy);
    return ret != 0 ? ret : count;
}
