/*
 * The embedded store's file parser on arbitrary bytes: it either refuses them with a non-empty,
 * one-line message, or accepts them, and then the records it hands out, encoded again, make the
 * same file byte for byte (so nothing the encoder could not have written is accepted). It never
 * crashes or reads past the input.
 */
#include <errno.h>
#include <string.h>

#include "src/store_internal.h"
#include "tests/fuzz/fuzz.h"

struct recs {
    struct store_rec r[4096];
    size_t n;
};

static int keep(void *arg, const char *key, const uint8_t *val, uint32_t len)
{
    struct recs *rs = arg;
    size_t klen = strlen(key);

    FUZZ_ASSERT(klen >= 1);
    FUZZ_ASSERT(klen <= STORE_KEY_MAX);
    FUZZ_ASSERT(len <= STORE_VALUE_MAX);
    if (rs->n == sizeof(rs->r) / sizeof(rs->r[0]))
        return -E2BIG;
    rs->r[rs->n].key = strdup(key);
    rs->r[rs->n].val = (uint8_t *)val; /* valid until the parse returns: only compared */
    rs->r[rs->n].len = len;
    rs->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct recs rs;
    char err[STORE_ERR_MAX] = "";
    uint8_t *again = NULL;
    size_t len = 0, i;
    int ret;

    rs.n = 0;
    ret = store__file_parse(data, size, keep, &rs, err, sizeof(err));
    if (ret == -EINVAL) {
        FUZZ_ASSERT(err[0] != '\0');
        FUZZ_ASSERT(strchr(err, '\n') == NULL);
    } else if (ret == 0) {
        FUZZ_ASSERT(store__file_encode(rs.r, rs.n, &again, &len) == 0);
        FUZZ_ASSERT(len == size);
        FUZZ_ASSERT(memcmp(again, data, size) == 0);
        free(again);
    } else {
        FUZZ_ASSERT(ret == -E2BIG);
    }
    for (i = 0; i < rs.n; i++)
        free(rs.r[i].key);
    return 0;
}
