/*
 * The user and token verbs of the admin API (docs/admin-api.md, "Users and tokens") against a real
 * broker: every verb and its refusals (unknown member, bad name, short password, no such user or
 * token, a user or certificate subject that exists), grant and revoke without duplicates, and the
 * secrets: no reply shows a hash, the passwords and the token appear in no file of the broker's
 * store nor in its log (the store holds their hashes), a token is shown by token.add only. The
 * users outlive a restart.
 */
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tests/broker/itest_admin.h"

#define PW1 "correct-horse-1"
#define PW2 "battery-staple-2"

/* The reply's "user", taken from the reply (NULL when the call failed). */
static json_t *user_of(struct tc *c, const char *verb, const char *doc)
{
    json_t *j = NULL, *u = NULL;

    if (itest_admin_ok(c, verb, doc, &j))
        u = json_incref(json_object_get(j, "user"));
    json_decref(j);
    return u;
}

/* Whether the JSON text of v holds s. */
static bool shows(const json_t *v, const char *s)
{
    char *d = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
    bool found = d != NULL && strstr(d, s) != NULL;

    free(d);
    return found;
}

/* Whether user u's list `op`.`kind` is exactly the strings of want (a JSON array text). */
static bool list_is(const json_t *u, const char *op, const char *kind, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    json_t *got = kind != NULL ? json_object_get(json_object_get(u, op), kind) : json_object_get(u, op);
    bool same = w != NULL && json_equal(got, w);

    json_decref(w);
    return same;
}

/* Appends the bytes of file path, or of every file under directory path, to *all. */
static void read_tree(const char *path, char **all, size_t *len)
{
    struct stat st;
    struct dirent *e;
    DIR *d;
    FILE *f;

    if (stat(path, &st) != 0)
        BAIL_OUT("cannot stat %s", path);
    if (!S_ISDIR(st.st_mode)) {
        f = fopen(path, "rb");
        *all = realloc(*all, *len + (size_t)st.st_size + 1);
        if (f == NULL || *all == NULL)
            BAIL_OUT("cannot read %s", path);
        *len += fread(*all + *len, 1, (size_t)st.st_size, f);
        fclose(f);
        return;
    }
    d = opendir(path);
    while (d != NULL && (e = readdir(d)) != NULL) {
        char sub[1024];

        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            read_tree(sub, all, len);
        }
    }
    if (d != NULL)
        closedir(d);
}

static bool holds(const char *all, size_t len, const char *s)
{
    return memmem(all, len, s, strlen(s)) != NULL;
}

int main(void)
{
    struct broker_proc b;
    struct tc a;
    json_t *u, *j = NULL;
    char doc[512], id1[40], id2[40], tok1[128], path[512], *all = NULL;
    size_t len = 0;
    int st;

    plan(77);
    itest_start(&b, NULL);
    itest_connect(&a, &b, 0);

    /* user.add */
    u = user_of(&a, "user.add",
                "{\"name\": \"alice\", \"password\": \"" PW1
                "\", \"roles\": [\"admin\"], \"publish\": {\"allow\": [\"orders.>\"]}, "
                "\"subscribe\": {\"allow\": [\"orders.*\"], \"deny\": [\"orders.x\"]}}");
    ok(u != NULL && strcmp(json_string_value(json_object_get(u, "name")), "alice") == 0, "user.add alice");
    ok(json_is_true(json_object_get(u, "password")) && json_is_true(json_object_get(u, "enabled")) &&
           list_is(u, "roles", NULL, "[\"admin\"]"),
       "with a password, enabled, role admin");
    ok(list_is(u, "publish", "allow", "[\"orders.>\"]") && list_is(u, "publish", "deny", "[]") &&
           list_is(u, "subscribe", "deny", "[\"orders.x\"]") && list_is(u, "request", "allow", "[]"),
       "its lists as given, the missing ones empty");
    ok(json_is_string(json_object_get(u, "created")) && json_is_array(json_object_get(u, "tokens")) &&
           json_array_size(json_object_get(u, "tokens")) == 0,
       "a creation time, no tokens");
    ok(u != NULL && !shows(u, "argon2") && !shows(u, "hash") && !shows(u, PW1), "the reply shows neither hash nor password");
    json_decref(u);
    itest_expect_code(&a, "user.add", "{\"name\": \"alice\", \"password\": \"" PW2 "\"}", "EXISTS", "user.add of alice again");
    itest_expect_code(&a, "user.add", "{\"name\": \"dan\", \"colour\": \"red\"}", "BAD_REQUEST", "user.add with an unknown member");
    itest_expect_code(&a, "user.add", "{\"name\": \"bad name\"}", "BAD_REQUEST", "user.add of a name with a blank");
    itest_expect_code(&a, "user.add", "{\"name\": \"\"}", "BAD_REQUEST", "user.add of an empty name");
    itest_expect_code(&a, "user.add", "{\"name\": \"dan\", \"password\": \"short\"}", "BAD_REQUEST", "a password of 5 bytes");
    itest_expect_code(&a, "user.add", "{\"name\": \"dan\", \"password\": 12345678}", "BAD_REQUEST", "a password that is a number");
    itest_expect_code(&a, "user.add", "{\"name\": \"dan\", \"publish\": {\"allow\": [\"a..b\"]}}", "BAD_REQUEST", "a bad pattern");
    itest_expect_code(&a, "user.add", "{\"name\": \"dan\", \"publish\": {\"permit\": [\"a\"]}}", "BAD_REQUEST",
                      "a list other than allow and deny");
    itest_expect_code(&a, "user.add", "{\"name\": \"dan\", \"roles\": [\"root\"]}", "BAD_REQUEST", "a role that does not exist");
    itest_expect_code(&a, "user.get", "{\"name\": \"dan\"}", "NOT_FOUND", "none of them added dan");

    u = user_of(&a, "user.add", "{\"name\": \"bob\", \"cert\": \"CN=bob,O=acme\"}");
    ok(u != NULL && json_is_false(json_object_get(u, "password")) &&
           strcmp(json_string_value(json_object_get(u, "cert")), "CN=bob,O=acme") == 0 && json_object_get(u, "groups") == NULL,
       "user.add bob: no password, a certificate subject, no list of groups");
    json_decref(u);
    itest_expect_code(&a, "user.add", "{\"name\": \"carl\", \"cert\": \"CN=bob,O=acme\"}", "EXISTS",
                      "user.add of another user with bob's certificate subject");

    /* user.get and user.list */
    u = user_of(&a, "user.get", "{\"name\": \"alice\"}");
    ok(u != NULL && list_is(u, "publish", "allow", "[\"orders.>\"]") && !shows(u, "argon2") && !shows(u, "hash"),
       "user.get alice: her lists, no hash");
    json_decref(u);
    itest_expect_code(&a, "user.get", "{\"name\": \"nobody\"}", "NOT_FOUND", "user.get of no such user");
    itest_expect_code(&a, "user.get", "{\"name\": \"alice\", \"x\": 1}", "BAD_REQUEST", "user.get with an unknown member");
    itest_expect_code(&a, "user.get", "{\"name\": \"a/b\"}", "BAD_REQUEST", "user.get of a bad name");
    ok(itest_admin_ok(&a, "user.list", "{}", &j), "user.list");
    {
        json_t *l = json_object_get(j, "users"), *x = json_array_get(l, 0), *y = json_array_get(l, 1);

        ok(json_array_size(l) == 2 && strcmp(json_string_value(json_object_get(x, "name")), "alice") == 0 &&
               strcmp(json_string_value(json_object_get(y, "name")), "bob") == 0,
           "alice and bob, by name");
        ok(json_is_true(json_object_get(x, "password")) && json_is_false(json_object_get(y, "password")) &&
               json_is_string(json_object_get(y, "cert")) && json_object_get(x, "cert") == NULL,
           "who has a password and who a certificate");
        ok(!shows(j, "argon2") && !shows(j, "hash"), "no hash in the list");
    }
    json_decref(j);
    itest_expect_code(&a, "user.list", "{\"name\": \"alice\"}", "BAD_REQUEST", "user.list takes {}");

    /* user.passwd */
    u = user_of(&a, "user.passwd", "{\"name\": \"alice\", \"password\": \"" PW2 "\"}");
    ok(u != NULL && json_is_true(json_object_get(u, "password")) && !shows(u, PW2), "user.passwd alice");
    json_decref(u);
    itest_expect_code(&a, "user.passwd", "{\"name\": \"alice\", \"password\": \"1234567\"}", "BAD_REQUEST",
                      "a password of 7 bytes");
    itest_expect_code(&a, "user.passwd", "{\"name\": \"nobody\", \"password\": \"" PW2 "\"}", "NOT_FOUND",
                      "user.passwd of no such user");
    itest_expect_code(&a, "user.passwd", "{\"name\": \"alice\"}", "BAD_REQUEST", "user.passwd without a password");

    /* user.grant and user.revoke */
    u = user_of(&a, "user.grant", "{\"name\": \"alice\", \"op\": \"publish\", \"allow\": [\"refunds.>\", \"orders.>\"]}");
    ok(list_is(u, "publish", "allow", "[\"orders.>\", \"refunds.>\"]"), "grant publish: added what was missing, once");
    json_decref(u);
    u = user_of(&a, "user.grant",
                "{\"name\": \"alice\", \"op\": \"request\", \"deny\": [\"billing.x\"], \"allow\": [\"billing.>\"]}");
    ok(list_is(u, "request", "allow", "[\"billing.>\"]") && list_is(u, "request", "deny", "[\"billing.x\"]"),
       "grant request: allow and deny at once");
    json_decref(u);
    u = user_of(&a, "user.revoke", "{\"name\": \"alice\", \"op\": \"publish\", \"allow\": [\"refunds.>\", \"never.had\"]}");
    ok(list_is(u, "publish", "allow", "[\"orders.>\"]"), "revoke publish: removed, and one it never had is no error");
    json_decref(u);
    u = user_of(&a, "user.revoke", "{\"name\": \"alice\", \"op\": \"subscribe\", \"deny\": [\"orders.x\"]}");
    ok(list_is(u, "subscribe", "deny", "[]") && list_is(u, "subscribe", "allow", "[\"orders.*\"]"), "revoke a deny pattern");
    json_decref(u);
    u = user_of(&a, "user.grant", "{\"name\": \"bob\", \"role\": \"admin\"}");
    ok(list_is(u, "roles", NULL, "[\"admin\"]"), "grant role admin");
    json_decref(u);
    u = user_of(&a, "user.revoke", "{\"name\": \"bob\", \"role\": \"admin\"}");
    ok(list_is(u, "roles", NULL, "[]"), "revoke role admin");
    json_decref(u);
    u = user_of(&a, "user.grant", "{\"name\": \"bob\", \"groups\": [\"billing\"]}");
    ok(list_is(u, "groups", NULL, "[\"*\", \"billing\"]"), "grant a group to a user without a list: any, and billing");
    json_decref(u);
    u = user_of(&a, "user.revoke", "{\"name\": \"bob\", \"groups\": [\"*\"]}");
    ok(list_is(u, "groups", NULL, "[\"billing\"]"), "revoke '*': billing only");
    json_decref(u);
    itest_expect_code(&a, "user.grant", "{\"name\": \"bob\", \"role\": \"root\"}", "BAD_REQUEST",
                      "grant a role that does not exist");
    itest_expect_code(&a, "user.grant", "{\"name\": \"bob\", \"op\": \"delete\", \"allow\": [\"a\"]}", "BAD_REQUEST",
                      "grant op delete");
    itest_expect_code(&a, "user.grant", "{\"name\": \"bob\", \"op\": \"publish\"}", "BAD_REQUEST", "grant an op without patterns");
    itest_expect_code(&a, "user.grant", "{\"name\": \"bob\", \"op\": \"publish\", \"allow\": [\"a\"], \"role\": \"admin\"}",
                      "BAD_REQUEST", "grant an op and a role at once");
    itest_expect_code(&a, "user.grant", "{\"name\": \"bob\", \"op\": \"publish\", \"allow\": [\"a.>.b\"]}", "BAD_REQUEST",
                      "grant a bad pattern");
    itest_expect_code(&a, "user.grant", "{\"name\": \"bob\", \"op\": \"publish\", \"allow\": [1]}", "BAD_REQUEST",
                      "grant a pattern that is a number");
    itest_expect_code(&a, "user.revoke", "{\"name\": \"nobody\", \"role\": \"admin\"}", "NOT_FOUND", "revoke from no such user");

    /* user.enable and user.disable */
    u = user_of(&a, "user.disable", "{\"name\": \"alice\"}");
    ok(json_is_false(json_object_get(u, "enabled")), "user.disable alice");
    json_decref(u);
    u = user_of(&a, "user.enable", "{\"name\": \"alice\"}");
    ok(json_is_true(json_object_get(u, "enabled")), "user.enable alice");
    json_decref(u);
    itest_expect_code(&a, "user.disable", "{\"name\": \"nobody\"}", "NOT_FOUND", "user.disable of no such user");

    /* Tokens */
    ok(itest_admin_ok(&a, "token.add", "{\"user\": \"alice\", \"name\": \"ci\", \"ttl_s\": 3600}", &j), "token.add for alice");
    {
        const char *t = json_string_value(json_object_get(j, "token")), *id = json_string_value(json_object_get(j, "id"));

        ok(t != NULL && strlen(t) == 65 && strncmp(t, "trpc_", 5) == 0 && id != NULL && strlen(id) == 16 &&
               strncmp(t + 5, id, 16) == 0,
           "a token trpc_<id>_<secret> and its id");
        ok(json_is_string(json_object_get(j, "expires")) && strcmp(json_string_value(json_object_get(j, "name")), "ci") == 0,
           "its name and expiry");
        snprintf(tok1, sizeof(tok1), "%s", t != NULL ? t : "?");
        snprintf(id1, sizeof(id1), "%s", id != NULL ? id : "?");
    }
    json_decref(j);
    ok(itest_admin_ok(&a, "token.add", "{\"user\": \"alice\"}", &j) && json_is_null(json_object_get(j, "expires")),
       "a token without ttl never expires");
    snprintf(id2, sizeof(id2), "%s",
             json_string_value(json_object_get(j, "id")) ? json_string_value(json_object_get(j, "id")) : "?");
    json_decref(j);
    itest_expect_code(&a, "token.add", "{\"user\": \"nobody\"}", "NOT_FOUND", "token.add for no such user");
    itest_expect_code(&a, "token.add", "{\"user\": \"alice\", \"ttl_s\": 0}", "BAD_REQUEST", "ttl_s 0");
    itest_expect_code(&a, "token.add", "{\"user\": \"alice\", \"secret\": \"x\"}", "BAD_REQUEST",
                      "token.add with an unknown member");
    ok(itest_admin_ok(&a, "token.list", "{}", &j), "token.list");
    ok(json_array_size(json_object_get(j, "tokens")) == 2 && !shows(j, tok1 + 22) && !shows(j, "hash") &&
           strcmp(json_string_value(json_object_get(json_array_get(json_object_get(j, "tokens"), 0), "user")), "alice") == 0,
       "two tokens of alice, without their secrets or hashes");
    json_decref(j);
    ok(itest_admin_ok(&a, "token.list", "{\"user\": \"bob\"}", &j) && json_array_size(json_object_get(j, "tokens")) == 0,
       "token.list of bob: none");
    json_decref(j);
    itest_expect_code(&a, "token.list", "{\"user\": \"nobody\"}", "NOT_FOUND", "token.list of no such user");
    u = user_of(&a, "user.get", "{\"name\": \"alice\"}");
    ok(json_array_size(json_object_get(u, "tokens")) == 2 && !shows(u, tok1 + 22),
       "user.get lists alice's tokens, not their secrets");
    json_decref(u);
    snprintf(doc, sizeof(doc), "{\"id\": \"%s\"}", id1);
    ok(itest_admin_ok(&a, "token.del", doc, &j) && strcmp(json_string_value(json_object_get(j, "user")), "alice") == 0,
       "token.del of the first");
    json_decref(j);
    itest_expect_code(&a, "token.del", doc, "NOT_FOUND", "token.del of it again");
    itest_expect_code(&a, "token.del", "{\"id\": \"nothex\"}", "BAD_REQUEST", "token.del of an id that is not one");

    /* Secrets at rest and in the log. */
    snprintf(path, sizeof(path), "%s/store", b.data_dir);
    read_tree(path, &all, &len);
    ok(len > 0 && holds(all, len, "$argon2id$"), "the store holds an Argon2id hash (%zu bytes read)", len);
    ok(!holds(all, len, PW1) && !holds(all, len, PW2), "neither password is in the store's files");
    ok(holds(all, len, id2) && !holds(all, len, tok1 + 22) && !holds(all, len, id1),
       "nor a token's secret; a deleted token is gone");
    free(all);
    all = NULL;
    len = 0;
    read_tree(b.log_path, &all, &len);
    ok(len > 0 && holds(all, len, "user alice") && !holds(all, len, PW1) && !holds(all, len, PW2) && !holds(all, len, tok1 + 22),
       "the log names the changes, never a password or a token");
    free(all);

    /* user.del */
    ok(itest_admin_ok(&a, "user.del", "{\"name\": \"alice\"}", &j) && json_integer_value(json_object_get(j, "tokens")) == 1,
       "user.del alice, with her token");
    json_decref(j);
    itest_expect_code(&a, "user.get", "{\"name\": \"alice\"}", "NOT_FOUND", "alice is gone");
    ok(itest_admin_ok(&a, "token.list", "{}", &j) && json_array_size(json_object_get(j, "tokens")) == 0, "and so are her tokens");
    json_decref(j);
    itest_expect_code(&a, "user.del", "{\"name\": \"alice\"}", "NOT_FOUND", "user.del of her again");
    ok(itest_admin_ok(&a, "user.del", "{\"name\": \"bob\"}", NULL), "user.del bob");
    ok(itest_admin_ok(&a, "user.add", "{\"name\": \"carl\", \"cert\": \"CN=bob,O=acme\"}", NULL),
       "bob's certificate subject is free for another user");

    /* A restart keeps them. */
    tc_close(&a);
    st = broker_proc_signal_wait(&b, SIGTERM, 20000);
    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && broker_proc_restart(&b) == 0, "the broker stops cleanly and restarts");
    itest_connect(&a, &b, 0);
    u = user_of(&a, "user.get", "{\"name\": \"carl\"}");
    ok(u != NULL && strcmp(json_string_value(json_object_get(u, "cert")), "CN=bob,O=acme") == 0, "carl is still there");
    json_decref(u);
    itest_expect_code(&a, "user.add", "{\"name\": \"bob\", \"cert\": \"CN=bob,O=acme\"}", "EXISTS", "and still has the subject");
    tc_close(&a);
    itest_stop(&b);
    return done_testing();
}
