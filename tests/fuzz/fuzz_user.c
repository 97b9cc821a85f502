/*
 * Fuzz target for a user record as the store holds it (src/auth.c), which a damaged store, another
 * broker or a hand edit may have written, and for the tokens and hashes clients and records present.
 * The input is a JSON document, then lines "OP TOPIC" (OP p, s or r: publish, subscribe, request)
 * that the compiled permissions are asked about; the whole input is also tried as a token and as
 * an encoded hash. The oracles: a refusal has a reason; a record compiles exactly when it checks;
 * the cache agrees with the scan; a literal topic gets the same SUB verdict from the pattern
 * relations (covers, overlap) as from topic_match; a token parses only at its one length, into a
 * hex id and digest.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "driver/topic.h"
#include "src/auth.h"
#include "tests/fuzz/fuzz.h"

#define MAX_TOPIC 64
#define MAX_ASKS  16

static bool hex_only(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* SUB of a literal topic by topic_match alone: what auth_perms_allow's pattern relations must give. */
static bool sub_literal(const struct auth_perms *p, const char *t, size_t len)
{
    const struct auth_list *l = &p->lists[AUTH_SUBSCRIBE];
    bool allowed = false;

    for (uint32_t i = 0; i < l->nallow && !allowed; i++)
        allowed = topic_match(l->allow[i].p, l->allow[i].len, t, len);
    for (uint32_t i = 0; i < l->ndeny && allowed; i++)
        allowed = !topic_match(l->deny[i].p, l->deny[i].len, t, len);
    return allowed;
}

static void ask(const struct auth_perms *p, struct auth_cache *c, const char *line, size_t len)
{
    enum auth_op op;
    const char *t;
    size_t tlen;
    bool allowed;

    if (len < 3 || line[1] != ' ')
        return;
    t = line + 2;
    tlen = len - 2;
    if (line[0] == 'p')
        op = AUTH_PUBLISH;
    else if (line[0] == 's')
        op = AUTH_SUBSCRIBE;
    else if (line[0] == 'r')
        op = AUTH_REQUEST;
    else
        return;
    /* The broker asks only about what passed the syntax check, within max-topic. */
    if (tlen > MAX_TOPIC || (op == AUTH_SUBSCRIBE ? topic_check_pattern(t, tlen) : topic_check_literal(t, tlen)) != 0) {
        (void)auth_perms_allow_group(p, t, tlen);
        return;
    }
    allowed = auth_perms_allow(p, op, t, tlen);
    FUZZ_ASSERT(auth_cache_allow(c, p, op, t, tlen) == allowed);
    FUZZ_ASSERT(auth_cache_allow(c, p, op, t, tlen) == allowed);
    if (op == AUTH_SUBSCRIBE && !topic_has_wildcard(t, tlen))
        FUZZ_ASSERT(allowed == sub_literal(p, t, tlen));
    (void)auth_perms_allow_group(p, t, tlen);
}

static void record(const uint8_t *data, size_t size)
{
    char why[AUTH_ERR_MAX] = "", why2[AUTH_ERR_MAX] = "";
    struct auth_perms *p = NULL;
    struct auth_cache cache;
    json_error_t jerr;
    size_t used, pos;
    json_t *rec;
    int check, ret, asks = 0;

    /* The record, then the questions after it. */
    rec = json_loadb((const char *)data, size, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (rec == NULL)
        return;
    used = (size_t)jerr.position;
    check = auth_user_check(rec, MAX_TOPIC, why, sizeof(why));
    FUZZ_ASSERT(check == 0 || check == -EINVAL);
    FUZZ_ASSERT(check == 0 || (why[0] != '\0' && strlen(why) < sizeof(why)));
    (void)auth_user_enabled(rec);
    ret = auth_perms_compile("fuzz", rec, MAX_TOPIC, &p, why2, sizeof(why2));
    FUZZ_ASSERT(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
    FUZZ_ASSERT((ret == -EINVAL) == (check != 0));
    if (ret != 0) {
        FUZZ_ASSERT(why2[0] != '\0');
        goto out;
    }
    FUZZ_ASSERT(atomic_load(&p->refs) == 1 && strcmp(p->user, "fuzz") == 0);
    FUZZ_ASSERT(p->admin == (json_array_size(json_object_get(rec, "roles")) > 0));
    memset(&cache, 0, sizeof(cache));
    for (pos = used; pos < size && asks < MAX_ASKS; asks++) {
        const char *line = (const char *)data + pos;
        const char *nl = memchr(line, '\n', size - pos);
        size_t len = nl != NULL ? (size_t)(nl - line) : size - pos;

        ask(p, &cache, line, len);
        pos += len + 1;
    }
    FUZZ_ASSERT(auth_perms_ref(p) == p && atomic_load(&p->refs) == 2);
    auth_perms_unref(p);
    auth_perms_unref(p);
out:
    json_decref(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[AUTH_TOKEN_ID_LEN + 1], hash[65], why[AUTH_ERR_MAX];
    char *text;
    int ret;

    record(data, size);

    ret = auth_token_parse((const char *)data, size, id, hash);
    FUZZ_ASSERT(ret == 0 || ret == -EINVAL);
    if (ret == 0) {
        FUZZ_ASSERT(size == AUTH_TOKEN_LEN && memcmp(data, AUTH_TOKEN_PREFIX, sizeof(AUTH_TOKEN_PREFIX) - 1) == 0);
        FUZZ_ASSERT(hex_only(id, AUTH_TOKEN_ID_LEN) && hex_only(hash, 64) && auth_digest_equal(hash, hash));
    }

    /* NUL-terminated copies: a hash and a name as the record and the command line hold them. */
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (!auth_needs_rehash(text))
        FUZZ_ASSERT(strncmp(text, "$argon2id$", 10) == 0);
    ret = auth_name_check(text, why, sizeof(why));
    FUZZ_ASSERT(ret == 0 || (ret == -EINVAL && why[0] != '\0'));
    FUZZ_ASSERT(ret != 0 || (strlen(text) >= 1 && strlen(text) <= AUTH_NAME_MAX));
    free(text);
    return 0;
}
