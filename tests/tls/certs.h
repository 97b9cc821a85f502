/*
 * The certificates of tests/tls/mkcerts.sh for one test program: made once in a fresh directory
 * (certs_make), named by cert_path("server.pem"), removed at the end (certs_remove). The same name
 * always gives the same pointer, valid to the end, so paths may sit in argument arrays.
 */
#ifndef TRPC_TESTS_TLS_CERTS_H
#define TRPC_TESTS_TLS_CERTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"

#define CERTS_NAMES_MAX 32

static char certs_dir[64];
static char certs_paths[CERTS_NAMES_MAX][128];
static unsigned certs_npaths;

/* mkdtemp under /tmp, then mkcerts.sh ($top_srcdir, or the current directory) into it. */
static inline void certs_make(void)
{
    const char *top = getenv("top_srcdir");
    char cmd[256];

    snprintf(certs_dir, sizeof(certs_dir), "/tmp/trpc-certs-XXXXXX");
    if (mkdtemp(certs_dir) == NULL)
        BAIL_OUT("mkdtemp");
    snprintf(cmd, sizeof(cmd), "sh %s/tests/tls/mkcerts.sh %s", top != NULL ? top : ".", certs_dir);
    if (system(cmd) != 0)
        BAIL_OUT("mkcerts.sh failed");
}

static inline const char *cert_path(const char *name)
{
    char want[128];

    snprintf(want, sizeof(want), "%s/%s", certs_dir, name);
    for (unsigned i = 0; i < certs_npaths; i++)
        if (strcmp(certs_paths[i], want) == 0)
            return certs_paths[i];
    if (certs_npaths == CERTS_NAMES_MAX)
        BAIL_OUT("more than %d certificate file names", CERTS_NAMES_MAX);
    memcpy(certs_paths[certs_npaths], want, sizeof(want));
    return certs_paths[certs_npaths++];
}

static inline void certs_remove(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", certs_dir);
    if (system(cmd) != 0)
        diag("could not remove %s", certs_dir);
}

#endif
