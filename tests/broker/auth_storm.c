/*
 * A storm of password CONNECTs (issue 19): the queue of logins waiting for the hashing thread is
 * bounded (--auth-queue 16 here, and one address gets a quarter of it); those beyond it are
 * answered at once with UNAVAILABLE "try again", the others log in (or, on a busy machine, are
 * told to try again once they waited 3 s), none is left without an answer, and a client already
 * connected is served throughout. The refusals are logged, a line a second at most.
 */
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/auth.h"
#include "src/store.h"
#include "tests/broker/itest_auth.h"

#define STORM 40
#define PW    "storm-password-1"

static void seed(const char *dir, char *token)
{
    struct store_opts o = {.data_dir = dir};
    char err[STORE_ERR_MAX], hash[AUTH_HASH_MAX], id[AUTH_TOKEN_ID_LEN + 1], th[65];
    struct store *s;

    if (store_open(&o, &s, err, sizeof(err)) != 0)
        BAIL_OUT("store: %s", err);
    if (auth_hash_password(PW, strlen(PW), hash, sizeof(hash)) != 0 || auth_token_new(token, id, th) != 0)
        BAIL_OUT("hash, token");
    itest_store_put(s, AUTH_NS_USERS, "u", json_pack("{s:s, s:{s:[s]}}", "hash", hash, "publish", "allow", ">"));
    itest_store_put(s, AUTH_NS_TOKENS, id, json_pack("{s:s, s:s, s:s, s:i}", "user", "u", "name", "t", "hash", th, "expires", 0));
    store_close(s);
}

int main(void)
{
    static struct tc storm[STORM];
    char dir[256], token[AUTH_TOKEN_LEN + 1];
    const char *tmp = getenv("TMPDIR");
    struct broker_proc b = {0};
    unsigned acked = 0, busy = 0, other = 0, live = 0;
    int lines;
    struct tc keep;

    plan(6);
    snprintf(dir, sizeof(dir), "%s/trpc-auth-storm-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        BAIL_OUT("mkdtemp");
    seed(dir, token);
    {
        const char *args[] = {"--auth", "--auth-queue", "16", "--data-dir", dir, "--cores", "2", NULL};

        itest_start(&b, args);
    }
    ok(itest_login(&keep, &b, NULL, NULL, token).type == WIRE_CONNACK, "a client logs in with a token");

    /* Every CONNECT goes out before any answer is read. */
    for (int i = 0; i < STORM; i++) {
        struct wire_header h[2] = {{":user", 5, 1, (const uint8_t *)"u"},
                                   {":password", 9, (uint16_t)strlen(PW), (const uint8_t *)PW}};
        struct wire_out o = {.type = WIRE_CONNECT, .aux = wire_versions(1, WIRE_VERSION_MAX), .headers = h, .header_count = 2};

        if (tc_open(&storm[i], &b) != 0 || tc_send(&storm[i], &o) != 0)
            BAIL_OUT("storm connection %d", i);
    }
    /* Meanwhile the connected client is served (a liveness check, not a timing one). */
    for (int i = 0; i < 20; i++)
        live += pub_ok(&keep, "x.y");
    ok(live == 20, "the connected client is served during the storm (%u of 20 round trips)", live);
    for (int i = 0; i < STORM; i++) {
        struct wire_frame f = itest_next(&storm[i], 60000);

        if (f.type == WIRE_CONNACK)
            acked++;
        else if (itest_is_err(&f, TRPC_E_UNAVAILABLE, true) && memmem(f.payload, f.payload_len, "try again", 9) != NULL)
            busy++;
        else
            other++;
        tc_close(&storm[i]);
    }
    ok(other == 0, "every CONNECT of the storm is answered: %u logged in, %u told to try again, %u else", acked, busy, other);
    /* How many of the queued get hashed within their 3 s depends on the machine: on a busy one the
     * worker rests nine times each hash's CPU time (pace_rest). */
    ok(acked >= 1, "the first of the queue logs in (%u did)", acked);
    lines = broker_proc_log_count(&b, "refused, try again");
    ok(busy > 0 && lines >= 1 && lines <= (int)busy && broker_proc_log_count(&b, "more refused since the last line") == lines,
       "those beyond the queue are refused at once, and logged at most once a second (%d lines for %u)", lines, busy);
    tc_close(&keep);
    itest_stop(&b);
    itest_rm_dir(dir);
    return done_testing();
}
