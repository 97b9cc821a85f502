/*
 * fuzz_gen: the trpc-gen front end (lexer, parser, loader, checker, .proto writer) on arbitrary
 * bytes. The input is up to three contract files separated by a line "====": the first is
 * compiled as f0.trpc and may import "f1.trpc" and "f2.trpc" (and itself), so import cycles and
 * cross-file references are reached too. Diagnostics are formatted into /dev/null.
 *
 * Oracles: the loader always finds f0.trpc, a failed check has reported an error, a passed one
 * yields a .proto for every unit that starts with the DO NOT EDIT line.
 *
 * Built with -fsanitize=fuzzer under --enable-fuzzing; tests/fuzz/replay.c replays the corpus in
 * tests/fuzz/corpus/gen/ through it in every `make check`.
 */
#include <errno.h>
#include <string.h>

#include "gen/gen.h"
#include "tests/fuzz/fuzz.h"

enum { MAX_FILES = 3 };

struct files {
    const char *text[MAX_FILES];
    size_t len[MAX_FILES];
    size_t n;
};

static int read_mem(void *arg, const char *path, struct gen_arena *a, char **text, size_t *len, const char **id)
{
    const struct files *fs = arg;
    size_t i;

    if (strlen(path) != 7 || path[0] != 'f' || strcmp(path + 2, ".trpc") != 0)
        return -ENOENT;
    i = (size_t)(path[1] - '0');
    if (i >= fs->n)
        return -ENOENT;
    *text = gen_strndup(a, fs->text[i], fs->len[i]);
    *len = fs->len[i];
    *id = path; /* lives as long as the unit: it points into the arena or to a literal */
    return 0;
}

static void split(const char *p, size_t size, struct files *fs)
{
    static const char sep[] = "\n====\n";
    const char *end = p + size;

    fs->n = 0;
    while (fs->n < MAX_FILES - 1) {
        const char *s = memmem(p, (size_t)(end - p), sep, sizeof(sep) - 1);

        if (s == NULL)
            break;
        fs->text[fs->n] = p;
        fs->len[fs->n++] = (size_t)(s - p);
        p = s + sizeof(sep) - 1;
    }
    fs->text[fs->n] = p;
    fs->len[fs->n++] = (size_t)(end - p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    struct files fs;
    struct gen_ctx c;
    struct gen_unit *u;

    if (size > GEN_MAX_FILE_BYTES)
        return 0;
    if (sink == NULL)
        sink = fopen("/dev/null", "w");
    FUZZ_ASSERT(sink != NULL);
    split((const char *)data, size, &fs);
    gen_ctx_init(&c, sink);
    c.read = read_mem;
    c.read_arg = &fs;
    u = gen_load(&c, "f0.trpc");
    FUZZ_ASSERT(u != NULL);
    if (gen_check(&c) == 0) {
        for (u = c.units; u != NULL; u = u->next) {
            char *buf = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&buf, &len);
            int err;

            FUZZ_ASSERT(f != NULL);
            err = gen_proto_write(f, u);
            fclose(f);
            FUZZ_ASSERT(err == 0);
            FUZZ_ASSERT(strncmp(buf, "// DO NOT EDIT!", 15) == 0);
            free(buf);
        }
    } else {
        FUZZ_ASSERT(c.diag.errors > 0);
    }
    gen_ctx_free(&c);
    return 0;
}
