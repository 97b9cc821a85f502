/*
 * Crash test: a child appends records and, from each completion callback, reports the acknowledged
 * sequence to the parent over a pipe; the parent kill -9s it at a random moment (during recovery,
 * appends, segment roll-over, anything), reopens the log and checks that every acknowledged record is
 * there, intact, and that the log is gap-free. Batches overlap (two writes in flight) and segments are
 * prepared ahead on the ring, or, in every third cycle, created on the ring at each roll-over while the
 * batch waits (no_prepare); each child first truncates what the parent has checked, asynchronously,
 * beside its appends, so kills also land between unlinks and the directory fsync. Built once per
 * configuration (CRASH_CONF: the real disk, buffered, tmpfs) so each program stays short.
 * WAL_CRASH_CYCLES cycles (default 200 on the disk and on tmpfs, 100 buffered; `make wal-torture`
 * runs 1000 of each), WAL_CRASH_SEED repeats a random sequence.
 */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/wal/walt.h"

static uint32_t len_of(uint64_t seq)
{
    uint64_t x = seq * 0x9e3779b97f4a7c15ull;

    x ^= x >> 29;
    return (uint32_t)(x % 7 == 0 ? x % 20000 : x % 700); /* mostly small, now and then a few blocks */
}

static void report(void *arg, uint64_t seq, int res)
{
    int fd = *(int *)arg;

    if (res == 0 && write(fd, &seq, sizeof(seq)) != sizeof(seq))
        _exit(3);
}

/* The child: reopen (recovering), drop segments the parent has already checked, append forever. */
static void child_log(void *arg, enum wal_log_level level, const char *msg)
{
    (void)arg;
    if (level == WAL_LOG_ERR)
        fprintf(stderr, "child: wal: %s\n", msg);
}

static void child(const struct wal_options *opt, int fd, unsigned seed)
{
    struct wal_options o = *opt;
    struct io_uring ring;
    struct wal *w;
    struct wal_recovery rec;
    uint64_t seq;
    uint8_t *buf = malloc(20000);

    int ret;

    srand(seed);
    if (!buf || io_uring_queue_init(64, &ring, 0))
        _exit(2);
    o.log = child_log;
    ret = wal_open(&o, &ring, &w, &rec);
    if (ret) {
        fprintf(stderr, "child: wal_open: %s\n", strerror(-ret));
        _exit(6);
    }
    wal_truncate_before(w, rec.next_seq, NULL, NULL); /* runs on the ring beside the appends */
    seq = 0; /* ready: the parent times most kills from here, so slow starts (sanitizers) still append */
    if (write(fd, &seq, sizeof(seq)) != sizeof(seq))
        _exit(3);
    for (;;) {
        int n = 1 + rand() % 40;
        for (int i = 0; i < n; i++) {
            walt_fill(buf, len_of(rec.next_seq), rec.next_seq);
            ret = wal_append(w, 1, buf, len_of(rec.next_seq), report, &fd, &seq);
            if (ret == -EAGAIN) {
                wal_poll(w, true);
                i--;
                continue;
            }
            if (ret || seq != rec.next_seq) {
                fprintf(stderr, "child: wal_append: %s\n", strerror(-ret));
                _exit(4);
            }
            rec.next_seq++;
        }
        ret = wal_poll(w, rand() % 2);
        if (ret < 0) {
            fprintf(stderr, "child: wal_poll: %s\n", strerror(-ret));
            _exit(5);
        }
    }
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t collect(int fd, uint64_t max_acked, int *bad, int *ready)
{
    uint64_t seq;
    ssize_t n;

    while ((n = read(fd, &seq, sizeof(seq))) == sizeof(seq)) {
        if (seq == 0) {
            *ready = 1;
            continue;
        }
        if (seq != max_acked + 1)
            (*bad)++;
        max_acked = seq;
    }
    return max_acked;
}

static void run(const struct walt_conf *c, int cycles, unsigned seed)
{
    char dir[256];
    struct io_uring ring;
    struct wal *w;
    struct wal_options o;
    struct wal_recovery rec;
    uint64_t max_acked = 0, recovered = 0;
    int lost = 0, order = 0, failed_open = 0, corrupt = 0, cuts = 0, child_err = 0;

    if (walt_mkdir(dir, sizeof(dir), c->base)) {
        diag("%s: cannot make a directory under %s: skipped", c->name, c->base);
        return;
    }
    walt_ring(&ring);
    o = walt_options(dir, c);
    o.log = walt_silent_log;
    o.segment_bytes = 256 << 10;
    o.buffer_bytes = 64 << 10;
    o.batch_records = 16;
    o.overlap_min_bytes = 8 << 10; /* so that batches of these sizes often overlap */
    srand(seed);
    for (int cycle = 0; cycle < cycles; cycle++) {
        int p[2], status;
        pid_t pid;
        int ready = 0;
        /* One kill in four is timed from the fork, so it can land in recovery; the others from the
         * moment the child has opened the log. */
        int from_fork = cycle % 4 == 0;
        uint64_t run_us = 500 + (uint64_t)(rand() % 8000), start = now_us(), deadline = start + run_us;

        /* Every third child waits at each roll-over for its segment (no_prepare), the others prepare ahead. */
        o.no_prepare = cycle % 3 == 2;
        if (pipe(p))
            BAIL_OUT("pipe");
        pid = fork();
        if (pid == 0) {
            close(p[0]);
            io_uring_queue_exit(&ring);
            child(&o, p[1], seed + (unsigned)cycle);
        }
        close(p[1]);
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        for (;;) {
            struct pollfd pfd = {.fd = p[0], .events = POLLIN};
            int was_ready = ready;
            uint64_t now = now_us();

            if ((from_fork || ready) && now >= deadline)
                break;
            if (now - start > 10000000u) /* the child never got ready: it will be reported */
                break;
            poll(&pfd, 1, 1);
            max_acked = collect(p[0], max_acked, &order, &ready);
            if (ready && !was_ready && !from_fork)
                deadline = now_us() + run_us;
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (!WIFSIGNALED(status) && child_err++ < 5)
            diag("cycle %d: child exited with status %d", cycle, WEXITSTATUS(status));
        max_acked = collect(p[0], max_acked, &order, &ready); /* what it said before it died */
        close(p[0]);

        if (wal_open(&o, &ring, &w, &rec)) {
            failed_open++;
            continue;
        }
        cuts += rec.tail_cut;
        if (rec.next_seq <= max_acked)
            lost++;
        if (walt_verify(w, wal_first_seq(w), rec.next_seq - 1, len_of))
            corrupt++;
        if (wal_first_seq(w) > recovered + 1 && recovered > 0)
            lost++;
        recovered = rec.next_seq - 1;
        /* Unacknowledged records that survived count as acknowledged from now on: the next child
         * continues after them. */
        if (recovered > max_acked)
            max_acked = recovered;
        wal_close(w);
    }
    diag("%s: %d cycles, %llu records acknowledged, %d torn tails cut", c->name, cycles, (unsigned long long)max_acked, cuts);
    ok_eq(child_err, 0, "%s: every child ran until killed", c->name);
    ok_eq(failed_open, 0, "%s: every reopen succeeded", c->name);
    ok_eq(lost, 0, "%s: no acknowledged record lost", c->name);
    ok_eq(corrupt, 0, "%s: every record intact, no gaps", c->name);
    ok_eq(order, 0, "%s: acknowledged in sequence order", c->name);
    ok(max_acked > 0, "%s: records were acknowledged", c->name);
    io_uring_queue_exit(&ring);
    walt_rmrf(dir);
}

int main(void)
{
    const char *env = getenv("WAL_CRASH_CYCLES");
    const char *senv = getenv("WAL_CRASH_SEED");
    /* Buffered mode syncs slowly on this kind of disk: half the cycles keep it as short as the rest. */
    int cycles = env ? atoi(env) : CRASH_CONF == 1 ? 100 : 200;
    unsigned seed = senv ? (unsigned)atoi(senv) : (unsigned)time(NULL);

    struct walt_conf c = walt_conf(CRASH_CONF);

    diag("seed %u (WAL_CRASH_SEED to repeat)", seed);
    run(&c, cycles, seed);
    return done_testing();
}
