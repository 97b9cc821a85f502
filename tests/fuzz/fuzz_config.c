/*
 * The broker's config parser on arbitrary bytes: it either accepts them, and then what it prints
 * parses back to the same settings, or refuses them with a non-empty message; it never crashes,
 * hangs or leaves a half-set string unterminated.
 */
#include <string.h>

#include "src/config.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CONFIG_ERR_MAX], *printed = NULL;
    struct config c, back;
    size_t len = 0;
    FILE *f;

    config_defaults(&c);
    err[0] = '\0';
    if (config_parse(&c, (const char *)data, size, "fuzz", err, sizeof(err)) != 0) {
        FUZZ_ASSERT(err[0] != '\0');
        FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
        return 0;
    }
    FUZZ_ASSERT(memchr(c.listen_host, '\0', sizeof(c.listen_host)) != NULL);
    FUZZ_ASSERT(memchr(c.data_dir, '\0', sizeof(c.data_dir)) != NULL);
    (void)config_validate(&c, err, sizeof(err));

    f = open_memstream(&printed, &len);
    FUZZ_ASSERT(f != NULL);
    config_print(&c, f);
    fclose(f);
    config_defaults(&back);
    FUZZ_ASSERT(config_parse(&back, printed, len, "printed", err, sizeof(err)) == 0);
    FUZZ_ASSERT(strcmp(back.listen_host, c.listen_host) == 0);
    FUZZ_ASSERT(back.listen_port == c.listen_port);
    FUZZ_ASSERT(strcmp(back.data_dir, c.data_dir) == 0);
    FUZZ_ASSERT(back.limits.max_frame == c.limits.max_frame);
    FUZZ_ASSERT(back.keepalive_ms == c.keepalive_ms);
    FUZZ_ASSERT(back.max_output_bytes == c.max_output_bytes);
    FUZZ_ASSERT(back.insecure == c.insecure);
    free(printed);
    return 0;
}
