/*
 * CRC32C: the table implementation and the SSE4.2 one (when the CPU has it) give the RFC 3720
 * check values, agree with each other on every length and alignment, and chain.
 */
#include <string.h>

#include "tests/tap.h"
#include "wal/internal.h"

struct vec {
    uint8_t data[32];
    size_t len;
    uint32_t crc;
};

static void check(const char *name, uint32_t (*fn)(uint32_t, const void *, size_t))
{
    static struct vec v[5];
    uint8_t big[1000];
    int agree = 1;

    memcpy(v[0].data, "123456789", 9);
    v[0].len = 9;
    v[0].crc = 0xe3069283;
    memset(v[1].data, 0, 32);
    v[1].len = 32;
    v[1].crc = 0x8a9136aa;
    memset(v[2].data, 0xff, 32);
    v[2].len = 32;
    v[2].crc = 0x62a8ab43;
    for (int i = 0; i < 32; i++) {
        v[3].data[i] = (uint8_t)i;
        v[4].data[i] = (uint8_t)(31 - i);
    }
    v[3].len = v[4].len = 32;
    v[3].crc = 0x46dd794e;
    v[4].crc = 0x113fdb5c;
    for (int i = 0; i < 5; i++)
        ok_eq(fn(0, v[i].data, v[i].len), v[i].crc, "%s: RFC 3720 vector %d", name, i);
    ok_eq(fn(0, "", 0), 0, "%s: empty input", name);
    ok_eq(fn(fn(0, "1234", 4), "56789", 5), 0xe3069283, "%s: chained computation", name);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof(big); len += 13)
            if (fn(0, big + off, len) != wal__crc32c_sw(0, big + off, len))
                agree = 0;
    ok(agree, "%s: agrees with the table version at every alignment", name);
}

int main(void)
{
    check("table", wal__crc32c_sw);
    if (wal__crc32c_hw_ok())
        check("sse4.2", wal__crc32c_hw);
    else
        diag("no SSE4.2 here: hardware CRC not tested");
    check("dispatch", wal_crc32c);
    return done_testing();
}
