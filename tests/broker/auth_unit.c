/* Users, passwords, tokens and permissions (src/auth.c) without a broker: hashes that verify and
 * refuse, tokens that parse back, user records checked field by field, compiled permissions
 * against the rules of auth.h, and the session cache giving the same verdicts as the scan. */
#include <argon2.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "src/auth.h"
#include "tests/tap.h"

#define MAX_TOPIC 256
#define PW        "correct horse battery staple"

/* Cheap parameters: a test hashes many times, Argon2id's defaults cost ~20 MiB and tens of ms. */
#define T_SMALL 1
#define M_SMALL 64
#define P_SMALL 1

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* xorshift64: the same sequence on every run, so that a failure reproduces. */
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void test_passwords(void)
{
    char h1[AUTH_HASH_MAX], h2[AUTH_HASH_MAX], hd[AUTH_HASH_MAX], tiny[16];
    char long_pw[AUTH_PASSWORD_MAX + 2];

    ok(auth_hash_password_with(PW, strlen(PW), T_SMALL, M_SMALL, P_SMALL, h1, sizeof(h1)) == 0, "hash with small parameters");
    ok(strncmp(h1, "$argon2id$v=19$m=64,t=1,p=1$", 28) == 0, "encoded as Argon2id with its parameters: %s", h1);
    ok(strstr(h1, PW) == NULL, "the hash does not hold the password");
    ok_eq(auth_verify_password(h1, PW, strlen(PW)), 0, "the password verifies");
    ok_eq(auth_verify_password(h1, "correct horse battery stapler", strlen(PW) + 1), -EACCES, "a longer password: -EACCES");
    ok_eq(auth_verify_password(h1, PW, strlen(PW) - 1), -EACCES, "a prefix of it: -EACCES");
    ok_eq(auth_verify_password(h1, "wrong", 5), -EACCES, "a wrong password: -EACCES");
    ok_eq(auth_verify_password(h1, "", 0), -EACCES, "an empty password: -EACCES");
    ok(auth_hash_password_with(PW, strlen(PW), T_SMALL, M_SMALL, P_SMALL, h2, sizeof(h2)) == 0 && strcmp(h1, h2) != 0,
       "the same password hashed twice differs (fresh salt)");
    ok_eq(auth_verify_password(h2, PW, strlen(PW)), 0, "and the second one verifies too");

    ok_eq(auth_verify_password("garbage", PW, strlen(PW)), -EINVAL, "garbage: -EINVAL");
    ok_eq(auth_verify_password(NULL, PW, strlen(PW)), -EINVAL, "no hash: -EINVAL");
    ok_eq(auth_verify_password("$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", PW, strlen(PW)), -EINVAL,
          "an Argon2i (not id) hash: -EINVAL");
    ok_eq(auth_verify_password("$argon2id$v=19$m=64,t=1,p=1$", PW, strlen(PW)), -EINVAL,
          "parameters without salt and digest: -EINVAL");
    memset(long_pw, 'x', sizeof(long_pw));
    ok_eq(auth_verify_password(h1, long_pw, AUTH_PASSWORD_MAX + 1), -EACCES, "a password over AUTH_PASSWORD_MAX: -EACCES");
    {
        /* The verification decodes the hash itself (to run Argon2 on memory it keeps): any hash
         * libargon2 encodes must verify, whatever its salt and digest lengths and lanes. */
        static const uint8_t salt[32] = "a salt of thirty-two bytes long";
        char other[256], bad[256];
        size_t n;

        ok(argon2id_hash_encoded(1, 64, 2, PW, strlen(PW), salt, sizeof(salt), 64, other, sizeof(other)) == ARGON2_OK,
           "libargon2 encodes a hash with a 32-byte salt, a 64-byte digest and 2 lanes");
        ok_eq(auth_verify_password(other, PW, strlen(PW)), 0, "it verifies");
        ok_eq(auth_verify_password(other, "wrong", 5), -EACCES, "and refuses a wrong password");
        auth_hash_keep(true);
        ok(auth_verify_password(other, PW, strlen(PW)) == 0 && auth_verify_password(h1, PW, strlen(PW)) == 0 &&
               auth_verify_password(other, PW, strlen(PW)) == 0 && auth_verify_password(h1, "wrong", 5) == -EACCES,
           "with the memory kept between verifications (two sizes, in turn)");
        auth_hash_keep(false);
        snprintf(bad, sizeof(bad), "%s", h1);
        n = strlen(bad);
        bad[n - 1] = bad[n - 1] == 'A' ? 'Q' : 'A'; /* the digest's last byte changes */
        ok_eq(auth_verify_password(bad, PW, strlen(PW)), -EACCES, "a digest changed: -EACCES");
        bad[n - 1] = 'B'; /* bits beyond the digest's 32 bytes */
        ok_eq(auth_verify_password(bad, PW, strlen(PW)), -EINVAL, "base64 with stray bits: -EINVAL");
        snprintf(bad, sizeof(bad), "%s", h1);
        bad[13] = '6'; /* v=16 */
        ok_eq(auth_verify_password(bad, PW, strlen(PW)), -EINVAL, "another Argon2 version: -EINVAL");
        ok_eq(auth_verify_password("$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNo", PW, strlen(PW)), -EINVAL,
              "a salt below 8 bytes: -EINVAL");
        ok_eq(auth_verify_password("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo!", PW, strlen(PW)), -EINVAL,
              "a character that is not base64: -EINVAL");
    }

    ok_eq(auth_hash_password_with(PW, strlen(PW), 0, M_SMALL, P_SMALL, tiny, sizeof(tiny)), -EINVAL, "t=0 refused");
    ok_eq(auth_hash_password_with(PW, strlen(PW), 1, M_SMALL, 0, h2, sizeof(h2)), -EINVAL, "p=0 refused");
    ok_eq(auth_hash_password_with(PW, strlen(PW), 1, 8, 2, h2, sizeof(h2)), -EINVAL, "m below 8 KiB per lane refused");
    ok_eq(auth_hash_password_with(long_pw, AUTH_PASSWORD_MAX + 1, 1, M_SMALL, 1, h2, sizeof(h2)), -EINVAL,
          "a password over AUTH_PASSWORD_MAX is not hashed");
    ok_eq(auth_hash_password_with(PW, strlen(PW), 1, M_SMALL, 1, tiny, sizeof(tiny)), -EINVAL, "no room for the hash: -EINVAL");

    ok(auth_needs_rehash(h1), "small parameters need a rehash");
    ok(auth_needs_rehash("garbage"), "an unreadable hash needs a rehash");
    ok(auth_needs_rehash("$argon2id$v=19$m=19456,t=1,p=1$x$y"), "t below the default needs a rehash");
    ok(auth_needs_rehash("$argon2id$v=19$m=19455,t=2,p=1$x$y"), "m below the default needs a rehash");
    ok(!auth_needs_rehash("$argon2id$v=19$m=65536,t=3,p=4$x$y"), "more than the defaults needs none");
    ok(auth_hash_password(PW, strlen(PW), hd, sizeof(hd)) == 0, "hash with the default parameters: %s", hd);
    ok(strncmp(hd, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0, "the defaults are m=19456, t=2, p=1");
    ok(!auth_needs_rehash(hd), "the defaults need no rehash");
    ok_eq(auth_verify_password(hd, PW, strlen(PW)), 0, "a default hash verifies");
    ok_eq(auth_verify_password(hd, "wrong", 5), -EACCES, "and refuses a wrong password");
    auth_verify_dummy(PW, strlen(PW));
    auth_verify_dummy(long_pw, sizeof(long_pw));
    ok(1, "the dummy verification runs, even for an overlong password");
}

static void test_tokens(void)
{
    char tok[AUTH_TOKEN_LEN + 1], tok2[AUTH_TOKEN_LEN + 1], bad[AUTH_TOKEN_LEN + 2];
    char id[AUTH_TOKEN_ID_LEN + 1], id2[AUTH_TOKEN_ID_LEN + 1], hash[65], hash2[65], hash3[65];
    const size_t sep = sizeof(AUTH_TOKEN_PREFIX) - 1 + AUTH_TOKEN_ID_LEN;
    static const struct {
        size_t at;
        char ch;
        const char *what;
    } flips[] = {
        {0, 'T', "an upper-case prefix"},
        {4, '-', "a prefix without its underscore"},
        {5, 'A', "an upper-case hex digit in the id"},
        {9, 'g', "a non-hex letter in the id"},
        {sep, '-', "no underscore after the id"},
        {sep + 1, '+', "a '+' in the secret (base64, not base64url)"},
        {AUTH_TOKEN_LEN - 1, '=', "base64 padding"},
        {AUTH_TOKEN_LEN - 2, '.', "a dot in the secret"},
        {30, '\0', "a NUL byte inside"},
    };

    ok(auth_token_new(tok, id, hash) == 0, "a new token: %.12s...", tok);
    ok(strlen(tok) == AUTH_TOKEN_LEN && strncmp(tok, AUTH_TOKEN_PREFIX, 5) == 0, "%d bytes, starting trpc_", AUTH_TOKEN_LEN);
    ok(is_hex(id, AUTH_TOKEN_ID_LEN) && memcmp(tok + 5, id, AUTH_TOKEN_ID_LEN) == 0, "its id: 16 hex digits, in the token");
    ok(is_hex(hash, 64), "the secret's SHA-256 in hex");
    ok(strstr(tok, hash) == NULL, "the token does not hold its hash");
    ok(auth_token_parse(tok, strlen(tok), id2, hash2) == 0, "the token parses");
    ok(strcmp(id, id2) == 0 && auth_digest_equal(hash, hash2), "to the same id and hash");
    ok(auth_token_new(tok2, id2, hash2) == 0 && strcmp(tok, tok2) != 0 && strcmp(id, id2) != 0 && !auth_digest_equal(hash, hash2),
       "two tokens differ in id, secret and hash");

    ok_eq(auth_token_parse(tok, strlen(tok) - 1, id2, hash2), -EINVAL, "one byte short: -EINVAL");
    memcpy(bad, tok, AUTH_TOKEN_LEN);
    bad[AUTH_TOKEN_LEN] = 'A';
    ok_eq(auth_token_parse(bad, AUTH_TOKEN_LEN + 1, id2, hash2), -EINVAL, "one byte long: -EINVAL");
    ok_eq(auth_token_parse("", 0, id2, hash2), -EINVAL, "empty: -EINVAL");
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        memcpy(bad, tok, AUTH_TOKEN_LEN + 1);
        bad[flips[i].at] = flips[i].ch;
        ok_eq(auth_token_parse(bad, AUTH_TOKEN_LEN, id2, hash2), -EINVAL, "%s: -EINVAL", flips[i].what);
    }
    memcpy(bad, "trpd_", 5);
    memcpy(bad + 5, tok + 5, AUTH_TOKEN_LEN - 5 + 1);
    ok_eq(auth_token_parse(bad, AUTH_TOKEN_LEN, id2, hash2), -EINVAL, "another prefix: -EINVAL");
    /* A changed secret is still a token: the store's hash is what refuses it. */
    memcpy(bad, tok, AUTH_TOKEN_LEN + 1);
    bad[sep + 5] = bad[sep + 5] == 'A' ? 'B' : 'A';
    ok(auth_token_parse(bad, AUTH_TOKEN_LEN, id2, hash3) == 0 && strcmp(id, id2) == 0 && !auth_digest_equal(hash, hash3),
       "a changed secret parses, to the same id and another hash");

    ok(auth_digest_equal(hash, hash), "a digest equals itself");
    memcpy(hash3, hash, sizeof(hash3));
    hash3[63] = hash3[63] == '0' ? '1' : '0';
    ok(!auth_digest_equal(hash, hash3), "one hex digit apart: not equal");
    hash3[63] = '\0';
    ok(!auth_digest_equal(hash, hash3) && !auth_digest_equal(hash3, hash), "a prefix: not equal, either way round");
    ok(auth_digest_equal("", ""), "two empty digests are equal");
}

static void test_names(void)
{
    char why[AUTH_ERR_MAX], name[AUTH_NAME_MAX + 2];
    static const char *const bad[] = {"", "al ice", "a/b", "caf\xc3\xa9", "a:b", "a\tb", "a*", "a>"};

    ok(auth_name_check("alice", why, sizeof(why)) == 0, "alice");
    ok(auth_name_check("svc.orders_v2@eu-west", why, sizeof(why)) == 0, "letters, digits and . _ @ -");
    memset(name, 'n', sizeof(name));
    name[AUTH_NAME_MAX] = '\0';
    ok(auth_name_check(name, why, sizeof(why)) == 0, "%d bytes", AUTH_NAME_MAX);
    name[AUTH_NAME_MAX] = 'n';
    name[AUTH_NAME_MAX + 1] = '\0';
    why[0] = '\0';
    ok(auth_name_check(name, why, sizeof(why)) == -EINVAL && why[0] != '\0', "%d bytes refused: %s", AUTH_NAME_MAX + 1, why);
    ok_eq(auth_name_check(NULL, why, sizeof(why)), -EINVAL, "no name refused");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        ok(auth_name_check(bad[i], why, sizeof(why)) == -EINVAL && why[0] != '\0', "\"%s\" refused: %s", bad[i], why);
    }
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);

    if (j == NULL)
        BAIL_OUT("test JSON %s: %s", text, err.text);
    return j;
}

static void test_records(void)
{
    static const struct {
        const char *json;
        const char *field; /* the why names it */
    } bad[] = {
        {"[]", "JSON object"},
        {"{\"hash\": 5}", "hash"},
        {"{\"hash\": \"$argon2i$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA\"}", "hash"},
        {"{\"hash\": \"secret\"}", "hash"},
        {"{\"roles\": \"admin\"}", "roles"},
        {"{\"roles\": [\"root\"]}", "roles"},
        {"{\"roles\": [1]}", "roles"},
        {"{\"enabled\": \"yes\"}", "enabled"},
        {"{\"enabled\": 1}", "enabled"},
        {"{\"publish\": [\"a\"]}", "publish"},
        {"{\"publish\": {\"permit\": [\"a\"]}}", "publish"},
        {"{\"publish\": {\"allow\": \"a\"}}", "publish.allow"},
        {"{\"publish\": {\"allow\": [\"a..b\"]}}", "publish.allow"},
        {"{\"publish\": {\"deny\": [\"\"]}}", "publish.deny"},
        {"{\"subscribe\": {\"allow\": [\"a.>.b\"]}}", "subscribe.allow"},
        {"{\"subscribe\": {\"deny\": [\"a*\"]}}", "subscribe.deny"},
        {"{\"request\": {\"allow\": [5]}}", "request.allow"},
        {"{\"request\": {\"deny\": [\"a\\u0000b\"]}}", "request.deny"},
        {"{\"groups\": \"g\"}", "groups"},
        {"{\"groups\": [\"\"]}", "groups"},
        {"{\"groups\": [\"a\\u0000b\"]}", "groups"},
        {"{\"groups\": [7]}", "groups"},
        {"{\"cert\": \"\"}", "cert"},
        {"{\"cert\": 5}", "cert"},
        {"{\"created\": \"now\"}", "created"},
        {"{\"updated\": 1.5}", "updated"},
        {"{\"colour\": \"blue\"}", "colour"},
    };
    char why[AUTH_ERR_MAX], hash[AUTH_HASH_MAX], full[1024], longp[MAX_TOPIC + 2];
    json_t *rec, *arr;

    if (auth_hash_password_with(PW, strlen(PW), T_SMALL, M_SMALL, P_SMALL, hash, sizeof(hash)) != 0)
        BAIL_OUT("cannot hash");
    snprintf(full, sizeof(full),
             "{\"hash\": \"%s\", \"roles\": [\"admin\"], \"enabled\": true,"
             " \"publish\": {\"allow\": [\"a.>\"], \"deny\": [\"a.x\"]}, \"subscribe\": {\"allow\": [\">\"]},"
             " \"request\": {\"deny\": [\"*\"]}, \"groups\": [\"g1\", \"*\"], \"cert\": \"CN=svc,O=acme\","
             " \"created\": 1700000000, \"updated\": 1700000001}",
             hash);
    rec = parse(full);
    why[0] = '\0';
    ok(auth_user_check(rec, MAX_TOPIC, why, sizeof(why)) == 0, "a full record is accepted%s%s", why[0] ? ": " : "", why);
    ok(auth_user_enabled(rec), "enabled: true is enabled");
    json_object_set_new(rec, "enabled", json_false());
    ok(auth_user_check(rec, MAX_TOPIC, why, sizeof(why)) == 0 && !auth_user_enabled(rec), "enabled: false is disabled");
    json_decref(rec);
    rec = parse("{}");
    ok(auth_user_check(rec, MAX_TOPIC, why, sizeof(why)) == 0 && auth_user_enabled(rec), "an empty record: accepted, enabled");
    json_decref(rec);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rec = parse(bad[i].json);
        why[0] = '\0';
        ok(auth_user_check(rec, MAX_TOPIC, why, sizeof(why)) == -EINVAL && strstr(why, bad[i].field) != NULL, "%s refused: %s",
           bad[i].json, why);
        json_decref(rec);
    }
    ok(auth_user_check(NULL, MAX_TOPIC, why, sizeof(why)) == -EINVAL, "no record refused");

    memset(longp, 'p', sizeof(longp));
    longp[MAX_TOPIC] = '\0';
    rec = json_pack("{s:{s:[s]}}", "subscribe", "allow", longp);
    ok(auth_user_check(rec, MAX_TOPIC, why, sizeof(why)) == 0, "a pattern of max-topic bytes is accepted");
    json_decref(rec);
    longp[MAX_TOPIC] = 'p';
    longp[MAX_TOPIC + 1] = '\0';
    rec = json_pack("{s:{s:[s]}}", "subscribe", "allow", longp);
    ok(auth_user_check(rec, MAX_TOPIC, why, sizeof(why)) == -EINVAL && strstr(why, "subscribe.allow") != NULL,
       "one byte over max-topic refused: %s", why);
    json_decref(rec);

    arr = json_array();
    for (int i = 0; i <= AUTH_PATTERNS_MAX; i++)
        json_array_append_new(arr, json_string("a"));
    rec = json_pack("{s:{s:o}}", "publish", "allow", arr);
    ok(auth_user_check(rec, MAX_TOPIC, why, sizeof(why)) == -EINVAL && strstr(why, "publish.allow") != NULL,
       "%d patterns refused: %s", AUTH_PATTERNS_MAX + 1, why);
    json_array_remove(arr, 0);
    ok(auth_user_check(rec, MAX_TOPIC, why, sizeof(why)) == 0, "%d patterns accepted", AUTH_PATTERNS_MAX);
    json_decref(rec);
}

/* Compiles a record given as JSON text, or stops the test. */
static struct auth_perms *perms(const char *user, const char *json)
{
    char why[AUTH_ERR_MAX] = "";
    struct auth_perms *p = NULL;
    json_t *rec = parse(json);

    if (auth_perms_compile(user, rec, MAX_TOPIC, &p, why, sizeof(why)) != 0)
        BAIL_OUT("compile %s: %s", json, why);
    json_decref(rec);
    return p;
}

static bool allow(const struct auth_perms *p, enum auth_op op, const char *topic)
{
    return auth_perms_allow(p, op, topic, strlen(topic));
}

static bool allow_group(const struct auth_perms *p, const char *group)
{
    return auth_perms_allow_group(p, group, strlen(group));
}

static void test_perms(void)
{
    struct auth_perms *p;
    char why[AUTH_ERR_MAX];
    json_t *rec;

    p = perms("nobody", "{}");
    ok(!allow(p, AUTH_PUBLISH, "a") && !allow(p, AUTH_SUBSCRIBE, "a") && !allow(p, AUTH_REQUEST, "a") &&
           !allow(p, AUTH_SUBSCRIBE, ">"),
       "no lists: nothing is allowed (default deny)");
    ok(!p->admin && strcmp(p->user, "nobody") == 0, "not an admin; the user's name kept");
    ok(allow_group(p, "g") && p->any_group, "no groups key: any group");
    auth_perms_unref(p);

    p = perms("pub", "{\"publish\": {\"allow\": [\"orders.new\", \"metrics.*\", \"logs.>\"]}}");
    ok(allow(p, AUTH_PUBLISH, "orders.new"), "publish: an exact pattern allows its topic");
    ok(!allow(p, AUTH_PUBLISH, "orders.old") && !allow(p, AUTH_PUBLISH, "orders.new.x") && !allow(p, AUTH_PUBLISH, "orders"),
       "and no other");
    ok(allow(p, AUTH_PUBLISH, "metrics.cpu") && !allow(p, AUTH_PUBLISH, "metrics.cpu.0") && !allow(p, AUTH_PUBLISH, "metrics"),
       "publish: * is one token");
    ok(allow(p, AUTH_PUBLISH, "logs.a") && allow(p, AUTH_PUBLISH, "logs.a.b.c") && !allow(p, AUTH_PUBLISH, "logs"),
       "publish: > is one token or more");
    ok(!allow(p, AUTH_REQUEST, "orders.new") && !allow(p, AUTH_SUBSCRIBE, "orders.new"),
       "publish rights give no request nor subscribe rights");
    auth_perms_unref(p);

    p = perms("deny", "{\"publish\": {\"allow\": [\">\"], \"deny\": [\"$trpc.>\", \"secret.*\"]},"
                      " \"request\": {\"allow\": [\"svc.>\"], \"deny\": [\"svc.admin\"]}}");
    ok(allow(p, AUTH_PUBLISH, "anything.at.all"), "publish >: anything");
    ok(!allow(p, AUTH_PUBLISH, "$trpc.admin.x") && !allow(p, AUTH_PUBLISH, "secret.x"), "but deny wins over allow");
    ok(allow(p, AUTH_PUBLISH, "secret.x.y"), "a deny pattern denies only what it matches");
    ok(allow(p, AUTH_REQUEST, "svc.orders") && !allow(p, AUTH_REQUEST, "svc.admin") && !allow(p, AUTH_REQUEST, "other"),
       "request has its own lists, deny winning");
    auth_perms_unref(p);

    p = perms("req", "{\"request\": {\"allow\": [\"svc.>\"]}}");
    ok(allow(p, AUTH_REQUEST, "svc.a") && !allow(p, AUTH_PUBLISH, "svc.a"), "request rights give no publish rights");
    auth_perms_unref(p);

    p = perms("sub", "{\"subscribe\": {\"allow\": [\"a.>\"]}}");
    ok(allow(p, AUTH_SUBSCRIBE, "a.b.*"), "allow a.>: SUB a.b.* (covered)");
    ok(allow(p, AUTH_SUBSCRIBE, "a.b"), "allow a.>: SUB a.b");
    ok(allow(p, AUTH_SUBSCRIBE, "a.>"), "allow a.>: SUB a.> itself");
    ok(!allow(p, AUTH_SUBSCRIBE, "a"), "allow a.>: not SUB a");
    ok(!allow(p, AUTH_SUBSCRIBE, ">"), "allow a.>: not SUB > (wider)");
    ok(!allow(p, AUTH_SUBSCRIBE, "*.b"), "allow a.>: not SUB *.b (matches b.b too)");
    ok(!allow(p, AUTH_PUBLISH, "a.b"), "subscribe rights give no publish rights");
    auth_perms_unref(p);

    p = perms("subdeny", "{\"subscribe\": {\"allow\": [\"a.>\"], \"deny\": [\"a.secret\"]}}");
    ok(!allow(p, AUTH_SUBSCRIBE, "a.*"), "deny a.secret: not SUB a.* (it would deliver a.secret)");
    ok(!allow(p, AUTH_SUBSCRIBE, "a.>"), "deny a.secret: not SUB a.> (overlap)");
    ok(!allow(p, AUTH_SUBSCRIBE, "a.secret"), "deny a.secret: not SUB a.secret");
    ok(allow(p, AUTH_SUBSCRIBE, "a.public"), "deny a.secret: SUB a.public");
    ok(allow(p, AUTH_SUBSCRIBE, "a.secret.x") && allow(p, AUTH_SUBSCRIBE, "a.*.x"), "deny a.secret: SUB a.secret.x, a.*.x");
    auth_perms_unref(p);

    p = perms("g1", "{\"groups\": [\"x\"]}");
    ok(allow_group(p, "x") && !allow_group(p, "y") && !allow_group(p, "xx") && !allow_group(p, "") && !p->any_group,
       "groups [x]: only x");
    auth_perms_unref(p);
    p = perms("g2", "{\"groups\": [\"x\", \"*\"]}");
    ok(allow_group(p, "anything") && allow_group(p, "x"), "groups with *: any");
    auth_perms_unref(p);
    p = perms("g3", "{\"groups\": []}");
    ok(!allow_group(p, "x") && !allow_group(p, "*"), "groups []: none");
    auth_perms_unref(p);

    p = perms("root", "{\"roles\": [\"admin\"]}");
    ok(p->admin, "role admin: admin");
    ok(!allow(p, AUTH_PUBLISH, "a") && !allow(p, AUTH_SUBSCRIBE, "a"), "an admin without lists has no topic rights");
    auth_perms_unref(p);
    p = perms("plain", "{\"roles\": []}");
    ok(!p->admin, "no roles: not an admin");
    auth_perms_unref(p);

    /* refs: what a session and the control thread share. */
    p = perms("refs", "{\"publish\": {\"allow\": [\"a\"]}}");
    ok(atomic_load(&p->refs) == 1, "compiled with one reference");
    ok(auth_perms_ref(p) == p && atomic_load(&p->refs) == 2, "ref: two");
    auth_perms_unref(p);
    ok(atomic_load(&p->refs) == 1 && allow(p, AUTH_PUBLISH, "a"), "unref: one, still usable");
    auth_perms_unref(p); /* freed: ASan reports a leak or a use after this otherwise */
    ok(auth_perms_ref(NULL) == NULL, "ref of NULL is NULL");
    auth_perms_unref(NULL);

    p = (struct auth_perms *)0x1;
    rec = parse("{\"publish\": {\"allow\": [\"a..b\"]}}");
    why[0] = '\0';
    ok(auth_perms_compile("bad", rec, MAX_TOPIC, &p, why, sizeof(why)) == -EINVAL && why[0] != '\0' &&
           p == (struct auth_perms *)0x1,
       "a bad record does not compile, *out untouched: %s", why);
    json_decref(rec);
}

/* ---- the cache --------------------------------------------------------------------------------- */

static const char *const tokens[] = {"a", "b", "c", "d"};

/* A random topic of 1 to 4 tokens of a small alphabet (340 topics over 32 slots: slots collide),
 * or with a wildcard token when pattern. */
static void random_topic(char *out, size_t outlen, bool pattern)
{
    size_t n = 1 + rnd(4), o = 0;

    for (size_t i = 0; i < n && o + 3 < outlen; i++) {
        const char *t = tokens[rnd(4)];

        if (pattern && rnd(3) == 0)
            t = "*";
        if (pattern && i == n - 1 && rnd(3) == 0)
            t = ">";
        o += (size_t)snprintf(out + o, outlen - o, "%s%s", i ? "." : "", t);
    }
}

static json_t *random_list(void)
{
    json_t *arr = json_array();
    char pat[32];

    for (uint32_t i = rnd(4); i > 0; i--) {
        random_topic(pat, sizeof(pat), true);
        json_array_append_new(arr, json_string(pat));
    }
    return arr;
}

/* The cached verdicts for random permissions over random topics and ops equal the scan's. */
static void test_cache_random(void)
{
    static const char *const ops[] = {"publish", "subscribe", "request"};
    unsigned wrong = 0, queries = 0, hits = 0;

    for (int round = 0; round < 200; round++) {
        struct auth_cache c;
        struct auth_perms *p = NULL;
        char why[AUTH_ERR_MAX], topic[32];
        json_t *rec = json_object();

        for (int k = 0; k < 3; k++)
            json_object_set_new(rec, ops[k], json_pack("{s:o, s:o}", "allow", random_list(), "deny", random_list()));
        if (auth_perms_compile("rnd", rec, MAX_TOPIC, &p, why, sizeof(why)) != 0)
            BAIL_OUT("random record: %s", why);
        json_decref(rec);
        memset(&c, 0, sizeof(c)); /* a session's reset when its permissions change */
        for (int q = 0; q < 2000; q++) {
            enum auth_op op = (enum auth_op)rnd(3);
            bool want, got;

            random_topic(topic, sizeof(topic), op == AUTH_SUBSCRIBE);
            want = allow(p, op, topic);
            got = auth_cache_allow(&c, p, op, topic, strlen(topic));
            hits += want;
            queries++;
            if (got != want && wrong++ < 5)
                diag("round %d: %s %s: cache %d, scan %d", round, ops[op], topic, got, want);
        }
        auth_perms_unref(p);
    }
    ok(wrong == 0, "the cache agrees with the scan: %u queries, %u allowed, %u wrong", queries, hits, wrong);
}

/* The slot a topic is cached in, or -1. */
static int slot_of(const struct auth_cache *c, const char *topic)
{
    size_t len = strlen(topic);

    for (int i = 0; i < AUTH_CACHE_SLOTS; i++)
        if (c->e[i].len == len && memcmp(c->e[i].topic, topic, len) == 0)
            return i;
    return -1;
}

static void test_cache_cases(void)
{
    struct auth_perms *p = perms("cache", "{\"publish\": {\"allow\": [\"p.>\", \"x.>\"], \"deny\": [\"x.deny.>\"]},"
                                          " \"request\": {\"allow\": [\"r.>\", \"x.>\"]}}");
    struct auth_cache c;
    char t1[16] = "p.0", t2[16], longt[MAX_TOPIC + 1];
    int s1, found = 0;
    bool same = true;

    memset(&c, 0, sizeof(c));
    ok(auth_cache_allow(&c, p, AUTH_PUBLISH, "p.a", 3) && !auth_cache_allow(&c, p, AUTH_REQUEST, "p.a", 3),
       "one topic, two ops: publish allowed, request refused");
    ok(auth_cache_allow(&c, p, AUTH_PUBLISH, "p.a", 3) && !auth_cache_allow(&c, p, AUTH_REQUEST, "p.a", 3),
       "and again, from the cache");
    ok(slot_of(&c, "p.a") >= 0, "p.a is cached");
    ok(!auth_cache_allow(&c, p, AUTH_REQUEST, "p.b", 3) && auth_cache_allow(&c, p, AUTH_PUBLISH, "p.b", 3) &&
           !auth_cache_allow(&c, p, AUTH_REQUEST, "p.b", 3),
       "request first, then publish: each its own verdict");
    ok(auth_cache_allow(NULL, p, AUTH_PUBLISH, "p.a", 3) && !auth_cache_allow(NULL, p, AUTH_PUBLISH, "q", 1), "no cache: the scan");
    ok(auth_cache_allow(&c, p, AUTH_SUBSCRIBE, "p.a", 3) == allow(p, AUTH_SUBSCRIBE, "p.a"), "subscribe goes to the scan");

    /* Two topics in one slot, one allowed and one refused, taking turns. */
    memset(&c, 0, sizeof(c));
    (void)auth_cache_allow(&c, p, AUTH_PUBLISH, t1, strlen(t1));
    s1 = slot_of(&c, t1);
    for (int i = 0; i < 10000 && !found; i++) {
        snprintf(t2, sizeof(t2), "q.%d", i);
        (void)auth_cache_allow(&c, p, AUTH_PUBLISH, t2, strlen(t2));
        found = slot_of(&c, t1) < 0 && slot_of(&c, t2) == s1;
        if (!found && slot_of(&c, t1) < 0)
            (void)auth_cache_allow(&c, p, AUTH_PUBLISH, t1, strlen(t1)); /* pushed out by another */
    }
    ok(found && s1 >= 0, "%s and %s share slot %d", t1, t2, s1);
    for (int i = 0; i < 20; i++) {
        same = same && auth_cache_allow(&c, p, AUTH_PUBLISH, t1, strlen(t1));
        same = same && !auth_cache_allow(&c, p, AUTH_PUBLISH, t2, strlen(t2));
        same = same && !auth_cache_allow(&c, p, AUTH_REQUEST, t1, strlen(t1));
        same = same && !auth_cache_allow(&c, p, AUTH_REQUEST, t2, strlen(t2));
    }
    ok(same, "taking turns in the slot, each keeps its own verdicts");

    /* AUTH_CACHE_TOPIC bytes are cached; longer topics go to the scan every time. */
    memset(&c, 0, sizeof(c));
    memset(longt, 'a', sizeof(longt));
    memcpy(longt, "x.", 2);
    longt[AUTH_CACHE_TOPIC] = '\0';
    ok(auth_cache_allow(&c, p, AUTH_PUBLISH, longt, AUTH_CACHE_TOPIC) && slot_of(&c, longt) >= 0,
       "a topic of %d bytes is allowed and cached", AUTH_CACHE_TOPIC);
    ok(auth_cache_allow(&c, p, AUTH_PUBLISH, longt, AUTH_CACHE_TOPIC), "and allowed from the cache");
    longt[AUTH_CACHE_TOPIC] = 'a';
    longt[AUTH_CACHE_TOPIC + 1] = '\0';
    memset(&c, 0, sizeof(c));
    ok(auth_cache_allow(&c, p, AUTH_PUBLISH, longt, AUTH_CACHE_TOPIC + 1), "a topic of %d bytes is allowed", AUTH_CACHE_TOPIC + 1);
    found = 0;
    for (int i = 0; i < AUTH_CACHE_SLOTS; i++)
        found += c.e[i].len != 0;
    ok(found == 0, "but not cached");
    memcpy(longt, "x.deny.", 7);
    ok(!auth_cache_allow(&c, p, AUTH_PUBLISH, longt, AUTH_CACHE_TOPIC + 1) &&
           !auth_cache_allow(&c, p, AUTH_PUBLISH, longt, AUTH_CACHE_TOPIC + 1),
       "a long denied topic is refused, twice");
    longt[MAX_TOPIC] = '\0';
    ok(!auth_cache_allow(&c, p, AUTH_PUBLISH, longt, MAX_TOPIC) && auth_cache_allow(&c, p, AUTH_REQUEST, longt, MAX_TOPIC),
       "a topic of %d bytes: its verdicts by op", MAX_TOPIC);
    /* Two topics of one length, one byte apart: a cached verdict is for its topic only. */
    memset(&c, 0, sizeof(c));
    memset(longt, 'a', sizeof(longt));
    memcpy(longt, "x.deny.", 7);
    longt[AUTH_CACHE_TOPIC - 2] = '\0';
    ok(!auth_cache_allow(&c, p, AUTH_PUBLISH, longt, strlen(longt)), "x.deny.aaa... refused and cached");
    memcpy(longt, "x.denz.", 7);
    ok(auth_cache_allow(&c, p, AUTH_PUBLISH, longt, strlen(longt)), "x.denz.aaa... (same length, one byte apart) allowed");
    auth_perms_unref(p);
}

int main(void)
{
    test_passwords();
    test_tokens();
    test_names();
    test_records();
    test_perms();
    test_cache_random();
    test_cache_cases();
    return done_testing();
}
