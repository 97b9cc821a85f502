/*
 * Runs a fuzz target's LLVMFuzzerTestOneInput over files without libFuzzer, so that every build
 * (plain, ASan+UBSan, coverage) replays the seed corpus in `make check`. Prints TAP, one point per
 * file; an oracle failure aborts, which the TAP driver reports as an error naming the last file.
 *
 *   replay [FILE | DIR]...
 *
 * A directory contributes its regular files in name order. Without arguments the program replays
 * $top_srcdir/REPLAY_CORPUS, the corpus it was built for.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"
#include "tests/tap.h"

/* Inputs above this are refused rather than read: corpus files are small. */
#define REPLAY_MAX_INPUT (16u << 20)

static int replay_file(const char *path)
{
    struct stat st;
    uint8_t *buf;
    size_t len;
    FILE *f;

    f = fopen(path, "rb");
    if (f == NULL)
        return -errno;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > REPLAY_MAX_INPUT) {
        fclose(f);
        return -EFBIG;
    }
    /* One spare byte: a zero-length input still gets a valid pointer. */
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    len = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    if (len != (size_t)st.st_size) {
        free(buf);
        return -EIO;
    }
    printf("# %s\n", path);
    fflush(stdout);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int not_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Replays each file of dir; returns how many, or -errno. */
static int replay_dir(const char *dir)
{
    struct dirent **names;
    char path[PATH_MAX];
    struct stat st;
    int n, i, count = 0;

    n = scandir(dir, &names, not_hidden, alphasort);
    if (n < 0)
        return -errno;
    for (i = 0; i < n; i++) {
        int w = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);

        if (w > 0 && (size_t)w < sizeof(path) && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            int err = replay_file(path);

            ok(err == 0, "%s%s%s", path, err ? ": " : "", err ? strerror(-err) : "");
            count++;
        }
        free(names[i]);
    }
    free(names);
    return count;
}

static void replay_arg(const char *arg)
{
    struct stat st;
    int n;

    if (stat(arg, &st) != 0) {
        ok(0, "%s: %s", arg, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        int err = replay_file(arg);

        ok(err == 0, "%s%s%s", arg, err ? ": " : "", err ? strerror(-err) : "");
        return;
    }
    n = replay_dir(arg);
    ok(n > 0, "%s holds inputs (%d)", arg, n < 0 ? 0 : n);
}

int main(int argc, char **argv)
{
    int i;

    if (argc > 1) {
        for (i = 1; i < argc; i++)
            replay_arg(argv[i]);
    } else {
#ifdef REPLAY_CORPUS
        const char *srcdir = getenv("top_srcdir");
        char dir[PATH_MAX];
        int w = snprintf(dir, sizeof(dir), "%s/%s", srcdir != NULL ? srcdir : ".", REPLAY_CORPUS);

        if (w < 0 || (size_t)w >= sizeof(dir))
            BAIL_OUT("corpus path too long");
        replay_arg(dir);
#else
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
#endif
    }
    return done_testing();
}
