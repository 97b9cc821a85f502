/*
 * Durable subscriptions and a live change of permissions (issue 19): alice and carol are members
 * of consumer group billing; alice holds messages unacknowledged when her subscribe permission on
 * its pattern is revoked. Her subscription is withdrawn (ERR PERMISSION_DENIED "withdrawn" on its
 * id, not fatal), what she held goes to carol, redelivered, and carol gets everything after:
 * nothing is lost. Her durable subscriptions the new permissions still allow keep delivering; one
 * whose group is then revoked from her list is withdrawn the same way, and so is one whose
 * dead-letter topic she may no longer publish to.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/auth.h"
#include "src/store.h"
#include "tests/broker/itest_admin.h"
#include "tests/broker/itest_auth.h"
#include "tests/broker/itest_group.h"

#define PW    "durable-password-9"
#define FIRST 8 /* published before the revoke */
#define PRE   3 /* of them, while alice is billing's only member */
#define LATER 4 /* after */

static void seed(const char *dir)
{
    struct store_opts o = {.data_dir = dir};
    char err[STORE_ERR_MAX], hash[AUTH_HASH_MAX];
    struct store *s;

    if (store_open(&o, &s, err, sizeof(err)) != 0)
        BAIL_OUT("store: %s", err);
    if (auth_hash_password(PW, strlen(PW), hash, sizeof(hash)) != 0)
        BAIL_OUT("hash");
    itest_store_put(s, AUTH_NS_USERS, "root",
                    json_pack("{s:s, s:[s], s:{s:[s]}, s:{s:[s]}, s:{s:[s]}}", "hash", hash, "roles", "admin", "publish", "allow",
                              ">", "subscribe", "allow", ">", "request", "allow", ">"));
    itest_store_put(s, AUTH_NS_USERS, "alice",
                    json_pack("{s:s, s:{s:[s,s]}, s:{s:[s]}, s:[s,s,s,s]}", "hash", hash, "subscribe", "allow", "orders.>",
                              "refunds.>", "publish", "allow", "dlq.refunds", "groups", "billing", "ledger", "audit", "claims"));
    itest_store_put(s, AUTH_NS_USERS, "carol",
                    json_pack("{s:s, s:{s:[s]}, s:[s]}", "hash", hash, "subscribe", "allow", "orders.>", "groups", "billing"));
    store_close(s);
}

/* A member of c's user, logged in, or the test bails out. */
static void login(struct tc *c, const struct broker_proc *b, const char *user)
{
    if (itest_login(c, b, user, PW, NULL).type != WIRE_CONNACK)
        BAIL_OUT("%s cannot log in", user);
}

/* A number of group.list's entry for the group, or -1. */
static long long group_num(struct tc *adm, const char *stream, const char *group, const char *key)
{
    char doc[128];
    json_t *j, *g;
    long long v = -1;
    size_t i;

    snprintf(doc, sizeof(doc), "{\"stream\": \"%s\"}", stream);
    if (!itest_admin_ok(adm, "group.list", doc, &j))
        return -1;
    json_array_foreach(json_object_get(j, "groups"), i, g)
    {
        if (strcmp(json_string_value(json_object_get(g, "name")), group) == 0)
            v = json_integer_value(json_object_get(g, key));
    }
    json_decref(j);
    return v;
}

/* Whether group.list comes to say want for the group's key within 5 s. */
static bool group_comes_to(struct tc *adm, const char *stream, const char *group, const char *key, long long want)
{
    for (int i = 0; i < 250; i++) {
        if (group_num(adm, stream, group, key) == want)
            return true;
        usleep(20000);
    }
    diag("%s/%s %s is %lld, not %lld", stream, group, key, group_num(adm, stream, group, key), want);
    return false;
}

static bool withdrawn(struct tc *c, uint64_t sid, const char *group)
{
    struct wire_frame f = next_msg(c, 5000);

    return itest_is_err(&f, TRPC_E_PERMISSION_DENIED, false) && f.id == sid &&
           memmem(f.payload, f.payload_len, "withdrawn", 9) != NULL &&
           memmem(f.payload, f.payload_len, group, strlen(group)) != NULL;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256];
    struct broker_proc b = {0};
    struct tc adm, alice, carol;
    struct wire_frame f;
    uint32_t held[FIRST], nheld = 0, carol_got = 0, again = 0, twice = 0, stray = 0;
    unsigned seen[FIRST + LATER + 1] = {0};
    bool all = true;

    plan(17);
    snprintf(dir, sizeof(dir), "%s/trpc-auth-durable-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        BAIL_OUT("mkdtemp");
    seed(dir);
    {
        const char *args[] = {"--auth", "--data-dir", dir, "--cores", "2", NULL};

        itest_start(&b, args);
    }
    login(&adm, &b, "root");
    ok(itest_admin_ok(&adm, "stream.add", "{\"name\": \"orders\", \"subjects\": [\"orders.>\"]}", NULL) &&
           itest_admin_ok(&adm, "stream.add", "{\"name\": \"refunds\", \"subjects\": [\"refunds.>\"]}", NULL),
       "root declares streams orders and refunds");

    login(&alice, &b, "alice");
    login(&carol, &b, "carol");
    sub_durable(&alice, 1, "orders.>", "billing", 4, NULL);
    sub_durable(&alice, 2, "refunds.>", "ledger", 0, NULL);
    sub_durable(&alice, 3, "refunds.>", "audit", 0, NULL);
    ok(group_comes_to(&adm, "orders", "billing", "members", 1) && group_comes_to(&adm, "refunds", "ledger", "members", 1) &&
           group_comes_to(&adm, "refunds", "audit", "members", 1),
       "alice is a member of billing, ledger and audit");

    /* Alice, alone in billing, gets the first PRE and acknowledges none; then carol joins and
     * acknowledges each she gets. */
    for (int i = 1; i <= FIRST; i++) {
        char topic[32];

        if (i == PRE + 1) {
            for (int k = 0; k < PRE; k++) {
                f = next_msg(&alice, 5000);
                if (f.type == WIRE_MSG && f.id == 1 && f.seq >= 1 && f.seq <= FIRST)
                    held[nheld++] = (uint32_t)f.seq;
            }
            sub_durable(&carol, 1, "orders.>", "billing", 64, NULL);
            if (!group_comes_to(&adm, "orders", "billing", "members", 2))
                BAIL_OUT("carol did not join billing");
        }
        snprintf(topic, sizeof(topic), "orders.%d", i);
        pub_ack(&adm, (uint64_t)i, topic, topic);
    }
    for (int spin = 0; spin < 100 && nheld + carol_got < FIRST; spin++) {
        f = itest_next(&alice, 50);
        if (f.type == WIRE_MSG && f.id == 1 && f.seq >= 1 && f.seq <= FIRST && nheld < FIRST)
            held[nheld++] = (uint32_t)f.seq;
        else if (f.type != 0)
            stray++;
        f = itest_next(&carol, 50);
        if (f.type == WIRE_MSG && f.id == 1 && f.seq >= 1 && f.seq <= FIRST) {
            seen[f.seq]++;
            carol_got++;
            settle(&carol, WIRE_ACK, 1, f.seq, 0);
        } else if (f.type != 0) {
            stray++;
        }
    }
    ok(nheld >= PRE && nheld <= 4 && nheld + carol_got == FIRST && stray == 0,
       "the group shares the %d messages: alice holds %u unacknowledged, carol acknowledged %u", FIRST, nheld, carol_got);

    ok(itest_admin_ok(&adm, "user.revoke", "{\"name\": \"alice\", \"op\": \"subscribe\", \"allow\": [\"orders.>\"]}", NULL),
       "root revokes alice's subscribe orders.>");
    ok(withdrawn(&alice, 1, "billing"), "her durable SUB orders.> in billing is withdrawn: ERR PERMISSION_DENIED on its id");
    ok(group_comes_to(&adm, "orders", "billing", "members", 1), "billing has carol alone");

    /* What alice held goes to carol, redelivered. */
    for (uint32_t k = 0; k < nheld; k++) {
        f = next_msg(&carol, 5000);
        if (f.type == WIRE_MSG && f.id == 1 && f.seq >= 1 && f.seq <= FIRST) {
            seen[f.seq]++;
            again += (f.flags & WIRE_F_REDELIVERED) != 0 && f.aux == 2;
            settle(&carol, WIRE_ACK, 1, f.seq, 0);
        }
    }
    ok(again == nheld, "the %u alice held reach carol, REDELIVERED, count 2 (%u did)", nheld, again);
    for (int i = FIRST + 1; i <= FIRST + LATER; i++) {
        char topic[32];

        snprintf(topic, sizeof(topic), "orders.%d", i);
        pub_ack(&adm, (uint64_t)i, topic, topic);
    }
    for (int k = 0; k < LATER; k++) {
        f = next_msg(&carol, 5000);
        if (f.type == WIRE_MSG && f.id == 1 && f.seq > FIRST && f.seq <= FIRST + LATER) {
            seen[f.seq]++;
            settle(&carol, WIRE_ACK, 1, f.seq, 0);
        }
    }
    for (int i = 1; i <= FIRST + LATER; i++) {
        all &= seen[i] >= 1;
        twice += seen[i] > 1;
    }
    ok(all && twice == 0, "carol gets the later %d too: every message acknowledged once, none lost", LATER);
    ok(group_comes_to(&adm, "orders", "billing", "pending", 0), "billing has nothing left unsettled");
    ok(quiet(&alice), "alice gets none of them");
    settle(&alice, WIRE_ACK, 1, held[0], 0);
    f = next_msg(&alice, 5000);
    ok(itest_is_err(&f, TRPC_E_UNKNOWN_SUBSCRIPTION, false) && f.id == 1,
       "her late ACK of one she held: UNKNOWN_SUBSCRIPTION, not fatal");

    /* Her refunds subscriptions were still allowed: untouched. */
    {
        unsigned on2 = 0, on3 = 0;

        pub_ack(&adm, 100, "refunds.1", "r1");
        for (int k = 0; k < 2; k++) {
            f = next_msg(&alice, 5000);
            on2 += f.type == WIRE_MSG && f.id == 2;
            on3 += f.type == WIRE_MSG && f.id == 3;
        }
        ok(on2 == 1 && on3 == 1, "her durable SUBs in ledger and audit, still allowed, deliver as before");
        settle(&alice, WIRE_ACK, 2, 1, 0);
        settle(&alice, WIRE_ACK, 3, 1, 0);
    }
    ok(itest_admin_ok(&adm, "user.revoke", "{\"name\": \"alice\", \"groups\": [\"audit\"]}", NULL) && withdrawn(&alice, 3, "audit"),
       "root takes group audit from her list: that durable SUB is withdrawn, naming it");
    pub_ack(&adm, 101, "refunds.2", "r2");
    f = next_msg(&alice, 5000);
    ok(f.type == WIRE_MSG && f.id == 2 && f.seq == 2 && quiet(&alice), "ledger's goes on: refunds.2 on it alone");
    settle(&alice, WIRE_ACK, 2, 2, 0);

    /* A durable SUB whose dead letters go to dlq.refunds (a stream made for them): withdrawn once
     * she may no longer publish there. */
    {
        const char *const kv[] = {"trpc-dlq=dlq.refunds", NULL};
        unsigned on2 = 0, on4 = 0;

        /* claims starts at the stream's first message: refunds.1 to .3 on it, .3 on ledger. */
        sub_durable(&alice, 4, "refunds.>", "claims", 0, kv);
        pub_ack(&adm, 102, "refunds.3", "r3");
        for (int k = 0; k < 4; k++) {
            f = next_msg(&alice, 5000);
            if (f.type != WIRE_MSG)
                break;
            on2 += f.id == 2;
            on4 += f.id == 4;
            settle(&alice, WIRE_ACK, f.id, f.seq, 0);
        }
        ok(on2 == 1 && on4 == 3, "her durable SUB in claims, dead letters to dlq.refunds, delivers (%u and %u)", on4, on2);
        ok(itest_admin_ok(&adm, "user.revoke", "{\"name\": \"alice\", \"op\": \"publish\", \"allow\": [\"dlq.refunds\"]}", NULL) &&
               withdrawn(&alice, 4, "claims") && quiet(&alice),
           "root revokes her publish dlq.refunds: that durable SUB is withdrawn, the others stay");
    }

    tc_close(&alice);
    tc_close(&carol);
    tc_close(&adm);
    itest_stop(&b);
    itest_rm_dir(dir);
    return done_testing();
}
