/*
 * Users in a Redis store shared by two brokers (issue 19), against a real redis-server on a free
 * loopback port: a user logs in on either broker; a change to its permissions made elsewhere (here
 * the test itself, writing through the store as a third broker would) reaches its sessions on both
 * within a second; a user deleted, or a token revoked, closes them; the password and the token's
 * secret appear in no Redis key or value; Redis down during a CONNECT gets a clear UNAVAILABLE,
 * and the brokers go on serving the sessions they have.
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/auth.h"
#include "src/store.h"
#include "tests/broker/itest_auth.h"
#include "tests/store/redis_proc.h"

#define ALICE_PW "shared-password-77"

static struct store *st;

static void put_alice(const char *hash, const char *extra)
{
    itest_store_put(st, AUTH_NS_USERS, "alice",
                    json_pack("{s:s, s:{s:[s,s*]}, s:{s:[s,s*]}}", "hash", hash, "publish", "allow", "a.>", extra, "subscribe",
                              "allow", "a.>", extra));
}

/* Milliseconds until pub_ok (want) or pub_denied (!want) holds on c, polled; -1 after 3 s. */
static long until_pub(struct tc *c, const char *topic, bool want)
{
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        bool got = pub_verdict(c, topic) == (want ? 1 : 0);
        long ms;

        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (got)
            return ms;
        if (ms > 3000)
            return -1;
        usleep(20000);
    }
}

/* Whether the session is closed with ERR code (fatal) within 3 s. */
static bool closed_with(struct tc *c, int code)
{
    for (int i = 0; i < 100; i++) {
        struct wire_frame f = itest_next(c, 3000);

        if (f.type == 0)
            return false;
        if (f.type == WIRE_ERR)
            return itest_is_err(&f, code, true) && tc_wait_eof(c, 3000);
    }
    return false;
}

/* Whether any key, hash field or value of Redis holds needle. */
static bool in_redis(const struct redis_proc *r, const char *needle)
{
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, (struct timeval){.tv_sec = 5});
    redisReply *keys;
    bool found = false;

    if (c == NULL || c->err)
        BAIL_OUT("redis connect");
    keys = redisCommand(c, "KEYS *");
    for (size_t i = 0; keys != NULL && i < keys->elements && !found; i++) {
        redisReply *h = redisCommand(c, "HGETALL %s", keys->element[i]->str);

        found = strstr(keys->element[i]->str, needle) != NULL;
        for (size_t k = 0; h != NULL && h->type == REDIS_REPLY_ARRAY && k < h->elements && !found; k++)
            found = memmem(h->element[k]->str, h->element[k]->len, needle, strlen(needle)) != NULL;
        freeReplyObject(h);
    }
    freeReplyObject(keys);
    redisFree(c);
    return found;
}

int main(void)
{
    char hash[AUTH_HASH_MAX], token[AUTH_TOKEN_LEN + 1], id[AUTH_TOKEN_ID_LEN + 1], th[65], err[STORE_ERR_MAX];
    struct broker_proc b1 = {0}, b2 = {0};
    struct redis_proc r = {0};
    struct tc a1, a2, t2, k1;
    struct wire_frame f;
    long ms;

    redis_proc_require();
    plan(19);
    if (redis_proc_start(&r, NULL) != 0)
        BAIL_OUT("cannot start redis-server");
    {
        struct store_opts o = {.url = r.url};

        if (store_open(&o, &st, err, sizeof(err)) != 0)
            BAIL_OUT("store: %s", err);
    }
    if (auth_hash_password(ALICE_PW, strlen(ALICE_PW), hash, sizeof(hash)) != 0 || auth_token_new(token, id, th) != 0)
        BAIL_OUT("hash, token");
    put_alice(hash, NULL);
    itest_store_put(st, AUTH_NS_USERS, "keeper", json_pack("{s:s, s:{s:[s]}}", "hash", hash, "publish", "allow", "k.>"));
    itest_store_put(st, AUTH_NS_TOKENS, id,
                    json_pack("{s:s, s:s, s:s, s:i}", "user", "alice", "name", "t", "hash", th, "expires", 0));
    {
        const char *args[] = {"--auth", "--store", r.url, "--cores", "2", NULL};

        itest_start(&b1, args);
        itest_start(&b2, args);
    }

    ok(itest_login(&a1, &b1, "alice", ALICE_PW, NULL).type == WIRE_CONNACK, "alice logs in on broker 1");
    ok(itest_login(&a2, &b2, "alice", ALICE_PW, NULL).type == WIRE_CONNACK, "and on broker 2: one user store");
    ok(itest_login(&t2, &b2, NULL, NULL, token).type == WIRE_CONNACK, "her token works on broker 2");
    ok(itest_login(&k1, &b1, "keeper", ALICE_PW, NULL).type == WIRE_CONNACK, "keeper logs in on broker 1");
    ok(pub_denied(&a1, "b.x") && pub_denied(&a2, "b.x"), "b.x is not hers on either");

    put_alice(hash, "b.>");
    ms = until_pub(&a2, "b.x", true);
    ok(ms >= 0 && ms <= 1000, "a grant made elsewhere reaches her session on broker 2 within a second (%ld ms)", ms);
    ms = until_pub(&a1, "b.x", true);
    ok(ms >= 0 && ms <= 1000, "and on broker 1 (%ld ms)", ms);
    ok(until_pub(&t2, "b.x", true) >= 0, "and her token's session");
    ok(sub_ok(&a1, 5, "b.>", NULL), "she subscribes to b.>");
    put_alice(hash, NULL);
    f = itest_next(&a1, 3000);
    ok(itest_is_err(&f, TRPC_E_PERMISSION_DENIED, false) && f.id == 5 && memmem(f.payload, f.payload_len, "withdrawn", 9) != NULL,
       "revoked elsewhere: her SUB b.> is withdrawn, ERR on its id");
    ms = until_pub(&a1, "b.x", false);
    ok(ms >= 0 && ms <= 1000, "revoked elsewhere: denied again within a second (%ld ms)", ms);

    if (store_del(st, AUTH_NS_TOKENS, id) != 0)
        BAIL_OUT("token del");
    ok(closed_with(&t2, TRPC_E_AUTH_FAILED), "her token deleted elsewhere: its session is closed");
    ok(pub_ok(&a2, "a.x"), "her password sessions stay");
    if (store_del(st, AUTH_NS_USERS, "alice") != 0)
        BAIL_OUT("user del");
    ok(closed_with(&a1, TRPC_E_AUTH_FAILED) && closed_with(&a2, TRPC_E_AUTH_FAILED), "alice deleted: her sessions close on both");
    ok(!in_redis(&r, ALICE_PW) && !in_redis(&r, token + AUTH_TOKEN_LEN - 43), "no password or token secret in Redis");

    redis_proc_kill(&r);
    tc_close(&a1); /* closed by the broker already: a new connection in its place */
    f = itest_login(&a1, &b1, "keeper", ALICE_PW, NULL);
    ok(itest_is_err(&f, TRPC_E_UNAVAILABLE, true) && memmem(f.payload, f.payload_len, "user store is unreachable", 25) != NULL,
       "Redis down: a CONNECT gets UNAVAILABLE, the user store is unreachable");
    ok(pub_ok(&k1, "k.x"), "and the sessions the broker has go on");
    tc_close(&a1);
    tc_close(&a2);
    tc_close(&t2);
    tc_close(&k1);
    store_close(st);
    itest_stop(&b1);
    itest_stop(&b2);
    redis_proc_stop(&r);
    return done_testing();
}
