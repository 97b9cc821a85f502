/*
 * Crash test of the embedded store: a child writes batches in which every key holds the same
 * generation number and reports each acknowledged generation over a pipe; the parent kill -9s it
 * at a random moment (one kill in four timed from the fork, so it can land in the open; one in
 * eight only after the child acknowledged a batch, so that some are written however slow the
 * machine: a loaded one can take longer than the few random milliseconds per batch), then
 * reopens the store and checks that the state is complete: every key holds one generation, no
 * older than the last acknowledged one, no newer than the one in flight, and never going back.
 * STORE_CRASH_CYCLES cycles (default 200), STORE_CRASH_SEED repeats a random sequence.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "tests/store/storet.h"

#define NKEYS 16

static const char *const keys[NKEYS] = {"k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07",
                                        "k08", "k09", "k10", "k11", "k12", "k13", "k14", "k15"};

/* The generation every key holds, 0 for an empty store, -1 for a mixed or unreadable state. */
static long generation(struct store *s)
{
    long gen = -2;

    for (int i = 0; i < NKEYS; i++) {
        void *val = NULL;
        size_t len;
        long g;
        int ret = store_get(s, "settings", keys[i], &val, &len);

        g = ret == -ENOENT ? 0 : ret == 0 ? strtol(val, NULL, 10) : -1;
        free(val);
        if (gen != -2 && g != gen)
            return -1;
        gen = g;
    }
    return gen;
}

static void child(const char *dir, int fd)
{
    char err[STORE_ERR_MAX], text[NKEYS][24];
    const void *vals[NKEYS];
    size_t lens[NKEYS];
    struct store *s = storet_open_file(dir, err, sizeof(err));
    long gen;

    if (s == NULL) {
        fprintf(stderr, "child: %s\n", err);
        _exit(2);
    }
    gen = generation(s);
    if (gen < 0 || write(fd, &gen, sizeof(gen)) != sizeof(gen)) /* ready: the generation it starts from */
        _exit(3);
    for (;;) {
        gen++;
        for (int i = 0; i < NKEYS; i++) {
            lens[i] = (size_t)snprintf(text[i], sizeof(text[i]), "%ld", gen);
            vals[i] = text[i];
        }
        if (store_put_batch(s, "settings", NKEYS, keys, vals, lens) != 0) {
            fprintf(stderr, "child: %s\n", store_last_error(s));
            _exit(4);
        }
        if (write(fd, &gen, sizeof(gen)) != sizeof(gen))
            _exit(3);
    }
}

/* Reads the generations reported so far; returns the last, or acked when none came. */
static long collect(int fd, long acked, int *ready)
{
    long gen;

    while (read(fd, &gen, sizeof(gen)) == sizeof(gen)) {
        *ready = 1;
        acked = gen;
    }
    return acked;
}

int main(void)
{
    const char *env = getenv("STORE_CRASH_CYCLES"), *senv = getenv("STORE_CRASH_SEED");
    int cycles = env ? atoi(env) : 200;
    unsigned seed = senv ? (unsigned)atoi(senv) : (unsigned)time(NULL);
    int torn = 0, lost = 0, back = 0, failed_open = 0, child_err = 0;
    long acked = 0, seen = 0;
    char dir[256], err[STORE_ERR_MAX];

    diag("seed %u (STORE_CRASH_SEED to repeat)", seed);
    srand(seed);
    storet_tmpdir(dir, sizeof(dir));
    for (int cycle = 0; cycle < cycles; cycle++) {
        uint64_t run_ms = (uint64_t)(rand() % 6), start = storet_now_ms();
        int p[2], status, ready = 0, from_fork = cycle % 4 == 0, after_ack = cycle % 8 == 1;
        struct store *s;
        pid_t pid;
        long gen;

        if (pipe(p))
            BAIL_OUT("pipe");
        pid = fork();
        if (pid == 0) {
            close(p[0]);
            child(dir, p[1]);
        }
        close(p[1]);
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        while (!from_fork && !ready && storet_now_ms() - start < 10000) {
            struct pollfd pfd = {.fd = p[0], .events = POLLIN};

            poll(&pfd, 1, 10);
            acked = collect(p[0], acked, &ready);
        }
        {
            long before = acked;

            start = storet_now_ms();
            while (after_ack && acked == before && storet_now_ms() - start < 10000) {
                struct pollfd pfd = {.fd = p[0], .events = POLLIN};

                poll(&pfd, 1, 10);
                acked = collect(p[0], acked, &ready);
            }
        }
        start = storet_now_ms();
        while (storet_now_ms() - start < run_ms)
            acked = collect(p[0], acked, &ready);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (!WIFSIGNALED(status) && child_err++ < 5)
            diag("cycle %d: child exited with status %d", cycle, WEXITSTATUS(status));
        acked = collect(p[0], acked, &ready);
        close(p[0]);

        s = storet_open_file(dir, err, sizeof(err));
        if (s == NULL) {
            if (failed_open++ < 5)
                diag("cycle %d: %s", cycle, err);
            continue;
        }
        gen = generation(s);
        store_close(s);
        torn += gen < 0;
        lost += gen < acked;     /* an acknowledged batch must survive */
        back += gen < seen;      /* the state never goes back */
        torn += gen > acked + 1; /* at most the one batch in flight */
        if (gen > acked)
            acked = gen;
        if (gen > seen)
            seen = gen;
    }
    diag("%d cycles, generation %ld reached", cycles, seen);
    ok_eq(child_err, 0, "every child ran until killed");
    ok_eq(failed_open, 0, "every reopen succeeded");
    ok_eq(torn, 0, "every reopen found one generation in every key");
    ok_eq(lost, 0, "no acknowledged batch lost");
    ok_eq(back, 0, "the generation never went back");
    ok(seen > 0, "batches were written");
    storet_rmrf(dir);
    return done_testing();
}
