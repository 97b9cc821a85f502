/*
 * auth: password hashes, tokens, user records and compiled permissions (auth.h).
 */
#include <argon2.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "driver/topic.h"
#include "src/auth.h"
#include "src/stream.h"

#define SALT_LEN   16
#define DIGEST_LEN 32

static const char *const op_keys[3] = {"publish", "subscribe", "request"};

int auth_name_check(const char *name, char *why, size_t whylen)
{
    size_t n = name != NULL ? strlen(name) : 0;

    if (n == 0 || n > AUTH_NAME_MAX) {
        snprintf(why, whylen, "a user name is 1 to %d bytes", AUTH_NAME_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == '@' || ch == '-')) {
            snprintf(why, whylen, "a user name is made of letters, digits and . _ @ -");
            return -EINVAL;
        }
    }
    return 0;
}

/* ---- passwords --------------------------------------------------------------------------------- */

int auth_hash_password_with(const char *pw, size_t len, uint32_t t, uint32_t m_kib, uint32_t p, char *out, size_t outlen)
{
    uint8_t salt[SALT_LEN];
    int ret;

    if (len > AUTH_PASSWORD_MAX || t < 1 || m_kib < 8 * p || p < 1 || p > 16)
        return -EINVAL;
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return -EIO;
    ret = argon2id_hash_encoded(t, m_kib, p, pw, len, salt, sizeof(salt), DIGEST_LEN, out, outlen);
    OPENSSL_cleanse(salt, sizeof(salt));
    if (ret == ARGON2_MEMORY_ALLOCATION_ERROR)
        return -ENOMEM;
    return ret == ARGON2_OK ? 0 : -EINVAL;
}

int auth_hash_password(const char *pw, size_t len, char *out, size_t outlen)
{
    return auth_hash_password_with(pw, len, AUTH_ARGON2_T, AUTH_ARGON2_M_KIB, AUTH_ARGON2_P, out, outlen);
}

/* "KEY<digits>" at *s, the digits into *out (no sign, no overflow): *s moves past them. */
static bool take_num(const char **s, const char *key, uint32_t *out)
{
    size_t kl = strlen(key);
    const char *p = *s;
    uint64_t v = 0;

    if (strncmp(p, key, kl) != 0 || p[kl] < '0' || p[kl] > '9')
        return false;
    for (p += kl; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX)
            return false;
    }
    *out = (uint32_t)v;
    *s = p;
    return true;
}

/* The parameters of an encoded Argon2id hash ("$argon2id$v=19$m=19456,t=2,p=1$..."): 0 or -EINVAL. */
static int parse_params(const char *enc, uint32_t *t, uint32_t *m, uint32_t *p)
{
    const char *s = enc + 10;
    uint32_t v;

    if (strncmp(enc, "$argon2id$", 10) != 0)
        return -EINVAL;
    if (!take_num(&s, "v=", &v) || *s++ != '$' || !take_num(&s, "m=", m) || *s++ != ',' || !take_num(&s, "t=", t) || *s++ != ',' ||
        !take_num(&s, "p=", p) || *s != '$')
        return -EINVAL;
    return 0;
}

/* ---- Argon2's memory, kept by the thread that hashes ------------------------------------------ */

/* The broker's malloc serves anything above a few MiB from a fresh mmap (main.c's fixed
 * thresholds): 19 MiB per hash is then ~4,900 page faults and as many zeroed pages, more work
 * than the hash and all of it in the kernel. A thread that hashes one login after another (the
 * password worker, auth_hash_keep) reuses one block instead, and gives it back when it goes idle.
 * Argon2 wipes the block after each hash (its clear_internal_memory). */
static __thread uint8_t *kept;
static __thread size_t kept_len;
static __thread bool keeping;

static int mem_get(uint8_t **memory, size_t bytes)
{
    if (!keeping) {
        *memory = malloc(bytes);
        return *memory != NULL ? ARGON2_OK : ARGON2_MEMORY_ALLOCATION_ERROR;
    }
    if (kept_len < bytes) {
        free(kept);
        kept = malloc(bytes);
        kept_len = kept != NULL ? bytes : 0;
    }
    *memory = kept;
    return kept != NULL ? ARGON2_OK : ARGON2_MEMORY_ALLOCATION_ERROR;
}

static void mem_put(uint8_t *memory, size_t bytes)
{
    (void)bytes;
    if (memory != kept)
        free(memory);
}

void auth_hash_keep(bool on)
{
    keeping = on;
    if (!on) {
        free(kept);
        kept = NULL;
        kept_len = 0;
    }
}

/* Standard base64 without padding, as Argon2's encoding has it: the length, or -1. */
static ssize_t b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    size_t o = 0;
    int bits = 0;

    for (size_t i = 0; i < len; i++) {
        const char ch = in[i];
        int v = ch >= 'A' && ch <= 'Z'   ? ch - 'A'
                : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
                : ch >= '0' && ch <= '9' ? ch - '0' + 52
                : ch == '+'              ? 62
                : ch == '/'              ? 63
                                         : -1;

        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return bits < 6 && (acc & ((1u << bits) - 1)) == 0 ? (ssize_t)o : -1; /* no stray bits */
}

/* "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH" into its parts: 0 or -EINVAL. */
static int decode_hash(const char *enc, argon2_context *ctx, uint8_t *salt, uint8_t *hash, size_t *hash_len)
{
    uint32_t t, m, p;
    const char *s, *dollar;
    ssize_t n;

    if (parse_params(enc, &t, &m, &p) != 0 || strncmp(enc, "$argon2id$v=19$", 15) != 0)
        return -EINVAL;
    s = strchr(enc + 15, '$') + 1; /* parse_params saw it */
    dollar = strchr(s, '$');
    if (dollar == NULL || (n = b64_decode(s, (size_t)(dollar - s), salt, 64)) < ARGON2_MIN_SALT_LENGTH)
        return -EINVAL;
    ctx->salt = salt;
    ctx->saltlen = (uint32_t)n;
    n = b64_decode(dollar + 1, strlen(dollar + 1), hash, 64);
    if (n < ARGON2_MIN_OUTLEN)
        return -EINVAL;
    *hash_len = (size_t)n;
    ctx->t_cost = t;
    ctx->m_cost = m;
    ctx->lanes = ctx->threads = p;
    ctx->version = ARGON2_VERSION_13;
    return 0;
}

/* Argon2id of pw with ctx's parameters and salt into out[0, outlen), on mem_get's memory. */
static int argon_run(argon2_context *ctx, const char *pw, size_t len, uint8_t *out, size_t outlen)
{
    ctx->out = out;
    ctx->outlen = (uint32_t)outlen;
    ctx->pwd = (uint8_t *)(uintptr_t)pw; /* not written: ARGON2_FLAG_CLEAR_PASSWORD is off */
    ctx->pwdlen = (uint32_t)len;
    ctx->allocate_cbk = mem_get;
    ctx->free_cbk = mem_put;
    ctx->flags = ARGON2_DEFAULT_FLAGS;
    return argon2_ctx(ctx, Argon2_id);
}

int auth_verify_password(const char *encoded, const char *pw, size_t len)
{
    argon2_context ctx = {0};
    uint8_t salt[64], want[64], got[64];
    size_t want_len;
    int ret;

    if (encoded == NULL || decode_hash(encoded, &ctx, salt, want, &want_len) != 0)
        return -EINVAL;
    if (len > AUTH_PASSWORD_MAX) {
        auth_verify_dummy(pw, 0); /* as long as a wrong one */
        return -EACCES;
    }
    ret = argon_run(&ctx, pw, len, got, want_len);
    if (ret == ARGON2_OK)
        ret = CRYPTO_memcmp(got, want, want_len) == 0 ? 0 : -EACCES;
    else
        ret = ret == ARGON2_MEMORY_ALLOCATION_ERROR ? -ENOMEM : -EINVAL;
    OPENSSL_cleanse(got, sizeof(got));
    OPENSSL_cleanse(want, sizeof(want));
    return ret;
}

bool auth_needs_rehash(const char *encoded)
{
    uint32_t t, m, p;

    if (parse_params(encoded, &t, &m, &p) != 0)
        return true;
    return t < AUTH_ARGON2_T || m < AUTH_ARGON2_M_KIB || p < AUTH_ARGON2_P;
}

void auth_verify_dummy(const char *pw, size_t len)
{
    static const uint8_t salt[SALT_LEN] = "trpc-no-such-u";
    argon2_context ctx = {.salt = (uint8_t *)(uintptr_t)salt,
                          .saltlen = sizeof(salt),
                          .t_cost = AUTH_ARGON2_T,
                          .m_cost = AUTH_ARGON2_M_KIB,
                          .lanes = AUTH_ARGON2_P,
                          .threads = AUTH_ARGON2_P,
                          .version = ARGON2_VERSION_13};
    uint8_t digest[DIGEST_LEN];

    (void)argon_run(&ctx, pw, len > AUTH_PASSWORD_MAX ? 0 : len, digest, sizeof(digest));
    OPENSSL_cleanse(digest, sizeof(digest));
}

/* ---- tokens ------------------------------------------------------------------------------------ */

static void hex(const uint8_t *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int auth_sha256_hex(const char *s, size_t len, char *out)
{
    uint8_t md[32];
    unsigned mdlen = 0;

    if (EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != sizeof(md))
        return -EIO;
    hex(md, sizeof(md), out);
    return 0;
}

int auth_random_hex(char *out, size_t nbytes)
{
    uint8_t raw[64];

    if (nbytes > sizeof(raw) || RAND_bytes(raw, (int)nbytes) != 1)
        return -EIO;
    hex(raw, nbytes, out);
    OPENSSL_cleanse(raw, nbytes);
    return 0;
}

static void b64url(const uint8_t *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = a[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = a[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

int auth_token_new(char *out, char *id, char *hash_hex)
{
    uint8_t rid[AUTH_TOKEN_ID_LEN / 2], secret[32];
    char s64[44];
    int ret = -EIO;

    if (RAND_bytes(rid, sizeof(rid)) != 1 || RAND_bytes(secret, sizeof(secret)) != 1)
        goto out;
    hex(rid, sizeof(rid), id);
    b64url(secret, sizeof(secret), s64);
    snprintf(out, AUTH_TOKEN_LEN + 1, AUTH_TOKEN_PREFIX "%s_%s", id, s64);
    ret = auth_sha256_hex(s64, strlen(s64), hash_hex);
out:
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(s64, sizeof(s64));
    return ret;
}

int auth_token_parse(const char *tok, size_t len, char *id, char *hash_hex)
{
    const size_t pre = sizeof(AUTH_TOKEN_PREFIX) - 1;

    if (len != AUTH_TOKEN_LEN || memcmp(tok, AUTH_TOKEN_PREFIX, pre) != 0 || tok[pre + AUTH_TOKEN_ID_LEN] != '_')
        return -EINVAL;
    for (size_t i = 0; i < AUTH_TOKEN_ID_LEN; i++) {
        char ch = tok[pre + i];

        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return -EINVAL;
        id[i] = ch;
    }
    id[AUTH_TOKEN_ID_LEN] = '\0';
    for (size_t i = pre + AUTH_TOKEN_ID_LEN + 1; i < len; i++) {
        char ch = tok[i];

        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return -EINVAL;
    }
    return auth_sha256_hex(tok + pre + AUTH_TOKEN_ID_LEN + 1, len - pre - AUTH_TOKEN_ID_LEN - 1, hash_hex);
}

bool auth_digest_equal(const char *a, const char *b)
{
    size_t n = strlen(a);

    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

/* ---- records ----------------------------------------------------------------------------------- */

static int check_patterns(const json_t *arr, const char *what, size_t max_topic, char *why, size_t whylen)
{
    size_t i;
    json_t *v;

    if (!json_is_array(arr)) {
        snprintf(why, whylen, "%s: an array of topic patterns", what);
        return -EINVAL;
    }
    if (json_array_size(arr) > AUTH_PATTERNS_MAX) {
        snprintf(why, whylen, "%s: at most %d patterns", what, AUTH_PATTERNS_MAX);
        return -EINVAL;
    }
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        size_t n = s != NULL ? json_string_length(v) : 0;

        if (s == NULL || n == 0 || n > max_topic || memchr(s, '\0', n) != NULL || topic_check_pattern(s, n) != 0) {
            snprintf(why, whylen, "%s: \"%.64s\" is not a topic pattern", what, s != NULL ? s : "");
            return -EINVAL;
        }
    }
    return 0;
}

int auth_user_check(const json_t *user, size_t max_topic, char *why, size_t whylen)
{
    const char *key;
    json_t *v;
    char what[64];
    size_t i;

    if (!json_is_object(user)) {
        snprintf(why, whylen, "a user record is a JSON object");
        return -EINVAL;
    }
    json_object_foreach((json_t *)user, key, v)
    {
        int op = -1;

        for (int k = 0; k < 3; k++)
            if (strcmp(key, op_keys[k]) == 0)
                op = k;
        if (op >= 0) {
            const char *lk;
            json_t *lv;

            if (!json_is_object(v)) {
                snprintf(why, whylen, "%s: an object with \"allow\" and \"deny\"", key);
                return -EINVAL;
            }
            json_object_foreach(v, lk, lv)
            {
                if (strcmp(lk, "allow") != 0 && strcmp(lk, "deny") != 0) {
                    snprintf(why, whylen, "%s: unknown key \"%.32s\" (allow, deny)", key, lk);
                    return -EINVAL;
                }
                snprintf(what, sizeof(what), "%s.%s", key, lk);
                if (check_patterns(lv, what, max_topic, why, whylen) != 0)
                    return -EINVAL;
            }
        } else if (strcmp(key, "hash") == 0) {
            uint32_t t, m, p;

            if (!json_is_string(v) || json_string_length(v) >= AUTH_HASH_MAX ||
                parse_params(json_string_value(v), &t, &m, &p) != 0) {
                snprintf(why, whylen, "hash: not an Argon2id hash");
                return -EINVAL;
            }
        } else if (strcmp(key, "roles") == 0) {
            json_t *r;

            if (!json_is_array(v)) {
                snprintf(why, whylen, "roles: an array");
                return -EINVAL;
            }
            json_array_foreach(v, i, r) if (!json_is_string(r) || strcmp(json_string_value(r), "admin") != 0)
            {
                snprintf(why, whylen, "roles: the one role is \"admin\"");
                return -EINVAL;
            }
        } else if (strcmp(key, "enabled") == 0) {
            if (!json_is_boolean(v)) {
                snprintf(why, whylen, "enabled: true or false");
                return -EINVAL;
            }
        } else if (strcmp(key, "groups") == 0) {
            json_t *g;

            if (!json_is_array(v) || json_array_size(v) > AUTH_PATTERNS_MAX) {
                snprintf(why, whylen, "groups: an array of at most %d names", AUTH_PATTERNS_MAX);
                return -EINVAL;
            }
            json_array_foreach(v, i, g) if (!json_is_string(g) || json_string_length(g) == 0 || json_string_length(g) > 255 ||
                                            strlen(json_string_value(g)) != json_string_length(g))
            {
                snprintf(why, whylen, "groups: names of 1 to 255 bytes, or \"*\"");
                return -EINVAL;
            }
        } else if (strcmp(key, "cert") == 0) {
            if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1024 ||
                strlen(json_string_value(v)) != json_string_length(v)) {
                snprintf(why, whylen, "cert: a certificate subject of 1 to 1024 bytes");
                return -EINVAL;
            }
        } else if (strcmp(key, "created") == 0 || strcmp(key, "updated") == 0) {
            if (!json_is_integer(v)) {
                snprintf(why, whylen, "%s: a time in seconds", key);
                return -EINVAL;
            }
        } else {
            snprintf(why, whylen, "unknown key \"%.32s\"", key);
            return -EINVAL;
        }
    }
    return 0;
}

bool auth_user_enabled(const json_t *user)
{
    return !json_is_false(json_object_get(user, "enabled"));
}

void auth_hash_print(const json_t *user, char *out)
{
    const char *hash = json_string_value(json_object_get(user, "hash"));

    if (hash == NULL || auth_sha256_hex(hash, strlen(hash), out) != 0)
        out[0] = '\0';
}

bool auth_user_admin(const json_t *user)
{
    json_t *role;
    size_t i;

    json_array_foreach(json_object_get(user, "roles"), i, role)
    {
        if (json_is_string(role) && strcmp(json_string_value(role), "admin") == 0)
            return true;
    }
    return false;
}

/* ---- permissions ------------------------------------------------------------------------------- */

static void list_free(struct auth_pattern *a, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(a[i].p);
    free(a);
}

static void perms_free(struct auth_perms *p)
{
    for (int k = 0; k < 3; k++) {
        list_free(p->lists[k].allow, p->lists[k].nallow);
        list_free(p->lists[k].deny, p->lists[k].ndeny);
    }
    for (uint32_t i = 0; i < p->ngroups; i++)
        free(p->groups[i]);
    free(p->groups);
    free(p);
}

static int compile_list(const json_t *arr, struct auth_pattern **out, uint32_t *n)
{
    size_t i, cnt = json_array_size(arr);
    json_t *v;

    *n = 0;
    if (cnt == 0)
        return 0;
    *out = calloc(cnt, sizeof(**out));
    if (*out == NULL)
        return -ENOMEM;
    json_array_foreach(arr, i, v)
    {
        (*out)[i].p = strndup(json_string_value(v), json_string_length(v));
        if ((*out)[i].p == NULL)
            return -ENOMEM;
        (*out)[i].len = (uint16_t)json_string_length(v);
        (*n)++;
    }
    return 0;
}

int auth_perms_compile(const char *user, const json_t *rec, size_t max_topic, struct auth_perms **out, char *why, size_t whylen)
{
    struct auth_perms *p;
    const json_t *groups;
    size_t i;
    json_t *v;
    int ret;

    ret = auth_user_check(rec, max_topic, why, whylen);
    if (ret != 0)
        return ret;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    atomic_init(&p->refs, 1);
    snprintf(p->user, sizeof(p->user), "%s", user);
    json_array_foreach(json_object_get(rec, "roles"), i, v) p->admin = true;
    for (int k = 0; k < 3; k++) {
        const json_t *o = json_object_get(rec, op_keys[k]);

        if (compile_list(json_object_get(o, "allow"), &p->lists[k].allow, &p->lists[k].nallow) != 0 ||
            compile_list(json_object_get(o, "deny"), &p->lists[k].deny, &p->lists[k].ndeny) != 0)
            goto nomem;
    }
    groups = json_object_get(rec, "groups");
    p->any_group = groups == NULL;
    if (groups != NULL && json_array_size(groups) > 0) {
        p->groups = calloc(json_array_size(groups), sizeof(*p->groups));
        if (p->groups == NULL)
            goto nomem;
        json_array_foreach(groups, i, v)
        {
            if (strcmp(json_string_value(v), "*") == 0)
                p->any_group = true;
            p->groups[p->ngroups] = strdup(json_string_value(v));
            if (p->groups[p->ngroups] == NULL)
                goto nomem;
            p->ngroups++;
        }
    }
    *out = p;
    return 0;
nomem:
    perms_free(p);
    snprintf(why, whylen, "out of memory");
    return -ENOMEM;
}

struct auth_perms *auth_perms_ref(struct auth_perms *p)
{
    if (p != NULL)
        atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void auth_perms_unref(struct auth_perms *p)
{
    if (p != NULL && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        perms_free(p);
}

bool auth_perms_allow(const struct auth_perms *p, enum auth_op op, const char *topic, size_t len)
{
    const struct auth_list *l = &p->lists[op];
    bool allowed = false;

    if (op == AUTH_SUBSCRIBE) {
        for (uint32_t i = 0; i < l->nallow && !allowed; i++)
            allowed = stream_pattern_covers(l->allow[i].p, l->allow[i].len, topic, len);
        for (uint32_t i = 0; i < l->ndeny && allowed; i++)
            allowed = !stream_patterns_overlap(l->deny[i].p, l->deny[i].len, topic, len);
        return allowed;
    }
    for (uint32_t i = 0; i < l->nallow && !allowed; i++)
        allowed = topic_match(l->allow[i].p, l->allow[i].len, topic, len);
    for (uint32_t i = 0; i < l->ndeny && allowed; i++)
        allowed = !topic_match(l->deny[i].p, l->deny[i].len, topic, len);
    return allowed;
}

bool auth_perms_allow_group(const struct auth_perms *p, const char *group, size_t len)
{
    if (p->any_group)
        return true;
    for (uint32_t i = 0; i < p->ngroups; i++)
        if (strlen(p->groups[i]) == len && memcmp(p->groups[i], group, len) == 0)
            return true;
    return false;
}

bool auth_cache_allow(struct auth_cache *c, const struct auth_perms *p, enum auth_op op, const char *topic, size_t len)
{
    struct auth_cache_entry *e;
    uint32_t h = 2166136261u;
    bool allowed;

    if (c == NULL || len > AUTH_CACHE_TOPIC || op == AUTH_SUBSCRIBE)
        return auth_perms_allow(p, op, topic, len);
    /* The last slot first: the same topic again costs a compare, not the hash's byte loop. */
    e = &c->e[c->last];
    if (e->len == len && (e->bits & 1u << (2 * op)) && memcmp(e->topic, topic, len) == 0)
        return (e->bits & 2u << (2 * op)) != 0;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)topic[i]) * 16777619u;
    c->last = (uint8_t)((h ^ h >> 16) % AUTH_CACHE_SLOTS);
    e = &c->e[c->last];
    if (e->len == len && memcmp(e->topic, topic, len) == 0) {
        if (e->bits & 1u << (2 * op))
            return (e->bits & 2u << (2 * op)) != 0;
    } else {
        e->len = (uint8_t)len;
        e->bits = 0;
        memcpy(e->topic, topic, len);
    }
    allowed = auth_perms_allow(p, op, topic, len);
    e->bits |= (uint8_t)(1u << (2 * op) | (allowed ? 2u << (2 * op) : 0));
    return allowed;
}
