/*
 * auth: users, their credentials and their permissions (docs/security.md). Not a public API.
 *
 * Records live in the store (store.h), as JSON objects:
 *   namespace "users", key the user's name:
 *     {"hash": "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<digest>",  (absent: no password login)
 *      "roles": ["admin"], "enabled": true,
 *      "publish": {"allow": [patterns], "deny": [patterns]}, "subscribe": {...}, "request": {...},
 *      "groups": [names or "*"],        (absent: any queue group or durable consumer)
 *      "cert": "CN=svc,O=acme"}         (optional: the client certificate subject, RFC 2253, that is this user)
 *   namespace "tokens", key the token's id:
 *     {"user": NAME, "name": LABEL, "hash": "<SHA-256 of the secret, hex>", "expires": UNIX_S (0: never),
 *      "created": UNIX_S}
 *   namespace "certs", key a certificate subject: {"user": NAME} (kept by the user verbs, so that
 *     an mTLS login is one lookup).
 * A password is never stored, only its Argon2id hash with its parameters; a token's secret only as
 * its SHA-256 (it is 256 random bits: no dictionary to slow down).
 *
 * Permissions (default deny): a literal topic may be published (requested) when a "publish"
 * ("request") allow pattern matches it and no deny pattern does. A SUB pattern P is allowed when
 * an allow pattern covers P (matches every topic P matches) and no deny pattern overlaps P (a
 * denied topic would be delivered otherwise). Role "admin": the admin API ($trpc.admin.>).
 *
 * Threads: everything but the struct auth_perms checks runs on the control thread (or a
 * command-line tool). A struct auth_perms is immutable once compiled and reference-counted:
 * sessions on any core read it without locks.
 */
#ifndef TRPC_SRC_AUTH_H
#define TRPC_SRC_AUTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define AUTH_NS_USERS  "users"
#define AUTH_NS_TOKENS "tokens"
#define AUTH_NS_CERTS  "certs"

#define AUTH_NAME_MAX     64 /* a user name: 1 to 64 bytes of [A-Za-z0-9._@-] */
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 1024
#define AUTH_HASH_MAX     160  /* an encoded Argon2id hash */
#define AUTH_PATTERNS_MAX 1024 /* per list */
#define AUTH_ERR_MAX      256

/* Argon2id parameters for new hashes: OWASP's (2023) first choice, m=19 MiB, t=2, p=1. A stored
 * hash with less of any is rehashed at its next successful login. */
#define AUTH_ARGON2_T     2
#define AUTH_ARGON2_M_KIB 19456
#define AUTH_ARGON2_P     1

/* Tokens as clients present them: "trpc_" + 16 hex digits of id + "_" + 43 base64url characters
 * (32 random bytes). */
#define AUTH_TOKEN_PREFIX "trpc_"
#define AUTH_TOKEN_ID_LEN 16
#define AUTH_TOKEN_LEN    (5 + AUTH_TOKEN_ID_LEN + 1 + 43)

enum auth_op { AUTH_PUBLISH, AUTH_SUBSCRIBE, AUTH_REQUEST };

/* ---- names, passwords, tokens ---------------------------------------------------------------- */

/* 0, or -EINVAL with why. */
int auth_name_check(const char *name, char *why, size_t whylen);

/* Hashes pw[0, len) with fresh salt and the given parameters (auth_hash_password: the defaults)
 * into out (NUL-terminated). 0, -EINVAL (parameters refused), -ENOMEM, -EIO (no randomness). */
int auth_hash_password(const char *pw, size_t len, char *out, size_t outlen);
int auth_hash_password_with(const char *pw, size_t len, uint32_t t, uint32_t m_kib, uint32_t p, char *out, size_t outlen);
/* 0 when pw matches the encoded hash, -EACCES when it does not, -EINVAL when encoded is not an
 * Argon2id hash. Constant time in the password's bytes. */
int auth_verify_password(const char *encoded, const char *pw, size_t len);
/* Whether encoded's parameters are below the defaults (or it cannot be read). */
bool auth_needs_rehash(const char *encoded);
/* The same work as a verification that fails, for a user that does not exist: an unknown name
 * and a wrong password take the same time. */
void auth_verify_dummy(const char *pw, size_t len);
/* Whether the calling thread keeps Argon2's memory (19 MiB) between verifications, rather than
 * allocating it for each: on for a thread that verifies one login after another, off (which
 * frees it) when it goes idle. */
void auth_hash_keep(bool on);

/* A new token: out gets the token as the client presents it (AUTH_TOKEN_LEN + 1 bytes), id its id
 * (AUTH_TOKEN_ID_LEN + 1), hash the SHA-256 hex of its secret (65). 0 or -EIO. */
int auth_token_new(char *out, char *id, char *hash_hex);
/* Splits a presented token: 0 with id (AUTH_TOKEN_ID_LEN + 1) and the secret's SHA-256 hex (65),
 * or -EINVAL when it is not one. */
int auth_token_parse(const char *tok, size_t len, char *id, char *hash_hex);
/* The SHA-256 of s[0, len) in hex (65 bytes): 0 or -EIO. */
int auth_sha256_hex(const char *s, size_t len, char *out);
/* nbytes (at most 64) random bytes in hex (2 * nbytes + 1 bytes), from OpenSSL's CSPRNG: 0 or -EIO. */
int auth_random_hex(char *out, size_t nbytes);
/* Constant-time comparison of two hex digests of the same length. */
bool auth_digest_equal(const char *a, const char *b);

/* ---- records ----------------------------------------------------------------------------------- */

/* Checks a user record (the JSON object above) for the broker: the shapes, the patterns (topic
 * syntax, max_topic), the roles it knows. 0, or -EINVAL with why naming the field. */
int auth_user_check(const json_t *user, size_t max_topic, char *why, size_t whylen);
/* Whether the record's "enabled" is not false. */
bool auth_user_enabled(const json_t *user);
/* The SHA-256 hex (65 bytes) of the record's password hash, "" when it has none: what a session
 * remembers to notice a new password without keeping the hash. */
void auth_hash_print(const json_t *user, char *out);
/* Whether the record's roles hold "admin". */
bool auth_user_admin(const json_t *user);

/* ---- permissions ------------------------------------------------------------------------------- */

struct auth_pattern {
    char *p;
    uint16_t len;
};

struct auth_list {
    struct auth_pattern *allow, *deny;
    uint32_t nallow, ndeny;
};

struct auth_perms {
    atomic_uint refs;
    bool admin;
    bool any_group;
    struct auth_list lists[3]; /* by enum auth_op */
    char **groups;
    uint32_t ngroups;
    char user[AUTH_NAME_MAX + 1];
};

/* Compiles a checked user record (one reference, freed by auth_perms_unref): 0, -ENOMEM, or
 * -EINVAL with why. */
int auth_perms_compile(const char *user, const json_t *rec, size_t max_topic, struct auth_perms **out, char *why, size_t whylen);
struct auth_perms *auth_perms_ref(struct auth_perms *p);
void auth_perms_unref(struct auth_perms *p);

/* Literal topic (PUBLISH, REQUEST) or pattern (SUBSCRIBE), already syntax-checked. */
bool auth_perms_allow(const struct auth_perms *p, enum auth_op op, const char *topic, size_t len);
/* A queue group or durable consumer name. */
bool auth_perms_allow_group(const struct auth_perms *p, const char *group, size_t len);

/*
 * A session's verdicts for the literal topics it used last, so that a publisher pays the pattern
 * scan once per topic, not once per message. Direct-mapped by a hash of the topic, which each
 * entry keeps whole (topics longer than AUTH_CACHE_TOPIC are not cached). Reset when the
 * session's permissions change.
 */
#define AUTH_CACHE_SLOTS 32
#define AUTH_CACHE_TOPIC 54
struct auth_cache_entry {
    uint8_t len;  /* 0: empty */
    uint8_t bits; /* per enum auth_op: 1 << (2 * op) known, 2 << (2 * op) allowed */
    char topic[AUTH_CACHE_TOPIC];
};
struct auth_cache {
    struct auth_cache_entry e[AUTH_CACHE_SLOTS];
    uint8_t last; /* the slot of the last lookup: a publisher mostly repeats one topic */
};
/* auth_perms_allow through the cache (c NULL: no cache). Literal topics only (PUBLISH, REQUEST). */
bool auth_cache_allow(struct auth_cache *c, const struct auth_perms *p, enum auth_op op, const char *topic, size_t len);

/* ---- between a core and the control thread (session_auth.c, control_auth.c) --------------------- */

enum auth_kind { AUTH_KIND_NONE, AUTH_KIND_PASSWORD, AUTH_KIND_TOKEN, AUTH_KIND_CERT };

/* A CONNECT to authenticate (CONTROL_AUTH, malloc'd by the session's core). */
struct admin_call;

struct auth_ask {
    unsigned core;
    uint32_t slot, gen;
    uint64_t client_id;
    enum auth_kind kind;
    char peer[64];
    char user[AUTH_NAME_MAX + 1];
    char token[AUTH_TOKEN_LEN + 1];
    char subject[256]; /* the verified client certificate's, "" when none */
    uint16_t pw_len;
    char password[AUTH_PASSWORD_MAX];
    /* The dashboard's login (control_dash.c) instead of a session's CONNECT: answered there, and
     * by auth_ask_free with SHUTTING_DOWN when the ask goes unanswered (the broker stops). With the
     * answer: the SHA-256 hex of the password hash it was checked against, and whether a failure
     * was the store's. */
    struct admin_call *call;
    char hash_print[65];
    bool store_down;
};
/* Wipes the secrets it holds and frees it. */
void auth_ask_free(struct auth_ask *a);

/* The verdict, for the session's core (ADMIN_MB_AUTH). */
struct auth_answer {
    uint32_t slot, gen;
    int code;                 /* 0, or the TRPC_E_x the client gets */
    char msg[160];            /* for the client's ERR */
    struct auth_perms *perms; /* code 0: one reference, the session's */
    char token_id[AUTH_TOKEN_ID_LEN + 1];
};

/* A user's permissions changed (perms: one reference for the core) or the user is gone (perms
 * NULL: its sessions close), or a token was revoked (token_id; user ""): ADMIN_MB_AUTH_USER. */
struct auth_update {
    char user[AUTH_NAME_MAX + 1];
    char token_id[AUTH_TOKEN_ID_LEN + 1];
    struct auth_perms *perms;
};

#endif
