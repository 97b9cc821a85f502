/*
 * steer: the program each listener group runs to pick a core for a new connection (src/steer.h).
 */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/core.h"
#include "src/log.h"
#include "src/session.h"
#include "src/steer.h"

/* The unrolled program takes 16 instructions a core and 5 more (build_least_conns): far below the
 * verifier's limit even here. */
#define STEER_MAX_CORES 1024
#define NGROUPS         2 /* the plaintext listener and the TLS one */

struct steer {
    enum steer_kind kind;
    unsigned ncores;
    int counts_fd;             /* least-conns: one array element, a u32 per core */
    _Atomic uint32_t *counts;  /* ... mapped here; core i writes counts[i] */
    size_t counts_len;         /* the mapping's length */
    int sockarray_fd[NGROUPS]; /* least-conns: socket i of the group is core i's */
    int prog_fd[NGROUPS];
};

const char *steer_kind_name(enum steer_kind k)
{
    static const char *const names[] = {[STEER_HASH] = "hash", [STEER_CPU] = "cpu", [STEER_LEAST_CONNS] = "least-conns"};

    return names[k];
}

/* ---- eBPF: the core with the fewest connections ------------------------------------------------ */

/* Instructions as linux/filter.h's kernel-internal macros would make them (they are not UAPI). */
static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    return (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

#define ALU64_IMM(op, dst, imm) insn(BPF_ALU64 | (op) | BPF_K, (dst), 0, 0, (imm))
#define ALU64_REG(op, dst, src) insn(BPF_ALU64 | (op) | BPF_X, (dst), (src), 0, 0)
#define MOV64_REG(dst, src)     ALU64_REG(BPF_MOV, (dst), (src))
#define LDX_W(dst, src, off)    insn(BPF_LDX | BPF_MEM | BPF_W, (dst), (src), (off), 0)
#define STX_W(dst, src, off)    insn(BPF_STX | BPF_MEM | BPF_W, (dst), (src), (off), 0)

/* The two halves of a 64-bit immediate load of a map (fd) or of a pointer into its one value. */
static void ld_map(struct bpf_insn *p, uint8_t dst, uint8_t pseudo, int fd)
{
    p[0] = insn(BPF_LD | BPF_DW | BPF_IMM, dst, pseudo, 0, fd);
    p[1] = insn(0, 0, 0, 0, 0);
}

/*
 * Straight-line code, one block per core, with no branch: the verifier walks it once, whatever
 * the number of cores. Each core's score is its count above a tie-breaker (its index XOR the low
 * bits of the connection's hash, so that a burst at equal counts spreads); the lowest wins,
 * kept by masks rather than jumps:
 *
 *     r6 = ctx; r5 = ctx->hash & 0xffff; r7 = &counts[0]; r9 = score(0); r8 = 0
 *     per core i > 0: r4 = score(i); r2 = (r4 - r9) >> 63 (all ones if r4 < r9, arithmetic)
 *                     r9 ^= (r9 ^ r4) & r2; r8 ^= (r8 ^ i) & r2
 *     key = r8; bpf_sk_select_reuseport(ctx, sockarray, &key, 0); return SK_PASS
 *
 * A select that fails (an empty slot) leaves the choice to the kernel's hash. Scores fit in 48
 * bits, so the subtraction cannot overflow.
 */
static size_t build_least_conns(struct bpf_insn *p, unsigned n, int counts_fd, int sockarray_fd)
{
    size_t k = 0;

    p[k++] = MOV64_REG(BPF_REG_6, BPF_REG_1);
    p[k++] = LDX_W(BPF_REG_5, BPF_REG_6, (int16_t)offsetof(struct sk_reuseport_md, hash));
    p[k++] = ALU64_IMM(BPF_AND, BPF_REG_5, 0xffff);
    ld_map(&p[k], BPF_REG_7, BPF_PSEUDO_MAP_VALUE, counts_fd);
    k += 2;
    for (unsigned i = 0; i < n; i++) {
        uint8_t score = i == 0 ? BPF_REG_9 : BPF_REG_4;

        p[k++] = LDX_W(score, BPF_REG_7, (int16_t)(4 * i));
        p[k++] = ALU64_IMM(BPF_LSH, score, 16);
        p[k++] = MOV64_REG(BPF_REG_3, BPF_REG_5);
        p[k++] = ALU64_IMM(BPF_XOR, BPF_REG_3, (int32_t)i);
        p[k++] = ALU64_REG(BPF_OR, score, BPF_REG_3);
        if (i == 0) {
            p[k++] = ALU64_IMM(BPF_MOV, BPF_REG_8, 0);
            continue;
        }
        p[k++] = MOV64_REG(BPF_REG_2, BPF_REG_4);
        p[k++] = ALU64_REG(BPF_SUB, BPF_REG_2, BPF_REG_9);
        p[k++] = ALU64_IMM(BPF_ARSH, BPF_REG_2, 63);
        p[k++] = MOV64_REG(BPF_REG_3, BPF_REG_9);
        p[k++] = ALU64_REG(BPF_XOR, BPF_REG_3, BPF_REG_4);
        p[k++] = ALU64_REG(BPF_AND, BPF_REG_3, BPF_REG_2);
        p[k++] = ALU64_REG(BPF_XOR, BPF_REG_9, BPF_REG_3);
        p[k++] = MOV64_REG(BPF_REG_3, BPF_REG_8);
        p[k++] = ALU64_IMM(BPF_XOR, BPF_REG_3, (int32_t)i);
        p[k++] = ALU64_REG(BPF_AND, BPF_REG_3, BPF_REG_2);
        p[k++] = ALU64_REG(BPF_XOR, BPF_REG_8, BPF_REG_3);
    }
    p[k++] = STX_W(BPF_REG_10, BPF_REG_8, -4);
    p[k++] = MOV64_REG(BPF_REG_1, BPF_REG_6);
    ld_map(&p[k], BPF_REG_2, BPF_PSEUDO_MAP_FD, sockarray_fd);
    k += 2;
    p[k++] = MOV64_REG(BPF_REG_3, BPF_REG_10);
    p[k++] = ALU64_IMM(BPF_ADD, BPF_REG_3, -4);
    p[k++] = ALU64_IMM(BPF_MOV, BPF_REG_4, 0);
    p[k++] = insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_select_reuseport);
    p[k++] = ALU64_IMM(BPF_MOV, BPF_REG_0, SK_PASS);
    p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    return k;
}

/* The verifier's last words, for the error message: its log's last non-empty line. */
static const char *last_line(char *log)
{
    size_t len = strlen(log);
    char *nl;

    while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == ' '))
        log[--len] = '\0';
    nl = strrchr(log, '\n');
    return nl != NULL ? nl + 1 : log;
}

static int load_least_conns(struct steer *st, unsigned group, const int *fds, char *err, size_t errlen)
{
    size_t max = 5 + (size_t)st->ncores * 16, n;
    struct bpf_insn *prog = calloc(max, sizeof(*prog));
    char name[16];
    int ret = 0;

    if (prog == NULL)
        return -ENOMEM;
    snprintf(name, sizeof(name), "trpc_sock%u", group);
    st->sockarray_fd[group] =
        bpf_map_create(BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, name, sizeof(uint32_t), sizeof(uint64_t), st->ncores, NULL);
    if (st->sockarray_fd[group] < 0) {
        ret = -errno;
        snprintf(err, errlen, "no eBPF map for the sockets (%s%s)", strerror(-ret), ret == -EPERM ? ": CAP_BPF is needed" : "");
        goto out;
    }
    for (uint32_t i = 0; i < st->ncores; i++) {
        uint64_t fd = (uint64_t)fds[i];

        if (bpf_map_update_elem(st->sockarray_fd[group], &i, &fd, BPF_ANY) != 0) {
            ret = -errno;
            snprintf(err, errlen, "listener %u not taken into the eBPF socket map (%s)", i, strerror(-ret));
            goto out;
        }
    }
    n = build_least_conns(prog, st->ncores, st->counts_fd, st->sockarray_fd[group]);
    assert(n <= max);
    {
        static char log[65536];
        LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_SK_REUSEPORT_SELECT);

        snprintf(name, sizeof(name), "trpc_steer%u", group);
        log[0] = '\0';
        st->prog_fd[group] = bpf_prog_load(BPF_PROG_TYPE_SK_REUSEPORT, name, "TRPC", prog, n, &opts);
        if (st->prog_fd[group] < 0) {
            ret = -errno;
            if (ret != -EPERM) {
                /* Again with the verifier's log, to say why (its end, should it overflow: the
                 * first attempt's error is the one reported). */
                opts.log_buf = log;
                opts.log_size = sizeof(log);
                opts.log_level = 1;
                st->prog_fd[group] = bpf_prog_load(BPF_PROG_TYPE_SK_REUSEPORT, name, "TRPC", prog, n, &opts);
            }
        }
        if (st->prog_fd[group] < 0) {
            snprintf(err, errlen, "the eBPF program did not load (%s%s%s)", strerror(-ret), log[0] != '\0' ? ": " : "",
                     last_line(log));
            goto out;
        }
        ret = 0; /* loaded the second time: the first failure was transient */
    }
    if (setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &st->prog_fd[group], sizeof(int)) != 0) {
        ret = -errno;
        snprintf(err, errlen, "the eBPF program was not attached (%s)", strerror(-ret));
    }
out:
    free(prog);
    return ret;
}

static int map_counts(struct steer *st, char *err, size_t errlen)
{
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
    long page = sysconf(_SC_PAGESIZE);
    void *p;

    st->counts_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "trpc_conns", sizeof(uint32_t), 4 * st->ncores, 1, &opts);
    if (st->counts_fd < 0) {
        int ret = -errno;

        snprintf(err, errlen, "no eBPF map for the connection counts (%s%s)", strerror(-ret),
                 ret == -EPERM ? ": CAP_BPF is needed" : "");
        return ret;
    }
    st->counts_len = ((size_t)4 * st->ncores + (size_t)page - 1) / (size_t)page * (size_t)page;
    p = mmap(NULL, st->counts_len, PROT_READ | PROT_WRITE, MAP_SHARED, st->counts_fd, 0);
    if (p == MAP_FAILED) {
        int ret = -errno;

        snprintf(err, errlen, "the connection counts' eBPF map not mapped (%s)", strerror(-ret));
        return ret;
    }
    st->counts = p;
    return 0;
}

/* ---- classic BPF: the core of the CPU that received the connection ------------------------------ */

static int load_cpu(struct steer *st, const int *fds, char *err, size_t errlen)
{
    /* The socket at index CPU mod cores: core i is pinned to CPU i (mod the CPUs). An index past
     * the group's sockets leaves the choice to the hash. */
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_CPU)),
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, st->ncores),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    if (ncpu > 0 && st->ncores > (unsigned long)ncpu) {
        /* A CPU number is below the CPU count: the cores past it would never get a connection. */
        snprintf(err, errlen, "more cores (%u) than CPUs (%ld): cores %ld and up would get no connection", st->ncores, ncpu, ncpu);
        return -EINVAL;
    }
    if (setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) != 0) {
        int ret = -errno;

        snprintf(err, errlen, "the classic BPF program was not attached (%s)", strerror(-ret));
        return ret;
    }
    return 0;
}

/* ---- the broker's side -------------------------------------------------------------------------- */

static void release(struct steer *st)
{
    for (unsigned g = 0; g < NGROUPS; g++) {
        if (st->prog_fd[g] >= 0)
            close(st->prog_fd[g]);
        if (st->sockarray_fd[g] >= 0)
            close(st->sockarray_fd[g]);
        st->prog_fd[g] = st->sockarray_fd[g] = -1;
    }
    if (st->counts != NULL)
        munmap((void *)st->counts, st->counts_len);
    st->counts = NULL;
    if (st->counts_fd >= 0)
        close(st->counts_fd);
    st->counts_fd = -1;
}

/* The listener groups' sockets: fds[g][i] is core i's socket of group g; ngroups of them. */
static unsigned groups(struct broker *b, int (*fds)[STEER_MAX_CORES])
{
    unsigned ng = 0;

    for (unsigned i = 0; i < b->ncores; i++)
        fds[0][i] = b->cores[i]->listen_fd;
    ng++;
    if (b->tls_port != 0) {
        for (unsigned i = 0; i < b->ncores; i++)
            fds[1][i] = b->cores[i]->tls_listen_fd;
        ng++;
    }
    return ng;
}

static int try_kind(struct broker *b, struct steer *st, enum steer_kind kind, char *err, size_t errlen)
{
    static int fds[NGROUPS][STEER_MAX_CORES];
    unsigned ng = groups(b, fds);
    int ret = 0;

    st->kind = kind;
    if (kind == STEER_LEAST_CONNS && (ret = map_counts(st, err, errlen)) != 0)
        goto fail;
    for (unsigned g = 0; g < ng; g++) {
        ret = kind == STEER_LEAST_CONNS ? load_least_conns(st, g, fds[g], err, errlen) : load_cpu(st, fds[g], err, errlen);
        if (ret != 0)
            goto fail;
    }
    return 0;
fail:
    /* A group given a program already keeps it until the next one replaces it: detach. */
    for (unsigned g = 0; g < ng; g++)
        setsockopt(fds[g][0], SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, NULL, 0);
    release(st);
    st->kind = STEER_HASH;
    return ret;
}

int steer_init(struct broker *b, char *err, size_t errlen)
{
    struct steer *st = calloc(1, sizeof(*st));
    char why[256] = "";
    int want = b->cfg.steering, ret = 0;

    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    st->ncores = b->ncores;
    st->counts_fd = -1;
    for (unsigned g = 0; g < NGROUPS; g++)
        st->prog_fd[g] = st->sockarray_fd[g] = -1;
    b->steer = st;
    if (b->ncores == 1)
        return 0; /* nothing to choose */
    if (b->ncores > STEER_MAX_CORES && want != CONFIG_STEERING_HASH && want != CONFIG_STEERING_AUTO) {
        snprintf(err, errlen, "steering %s: at most %u cores", want == CONFIG_STEERING_CPU ? "cpu" : "least-conns",
                 STEER_MAX_CORES);
        return -EINVAL;
    }
    if (b->ncores > STEER_MAX_CORES)
        want = CONFIG_STEERING_HASH;
    switch (want) {
    case CONFIG_STEERING_LEAST_CONNS:
    case CONFIG_STEERING_CPU:
        ret = try_kind(b, st, want == CONFIG_STEERING_CPU ? STEER_CPU : STEER_LEAST_CONNS, why, sizeof(why));
        if (ret != 0)
            snprintf(err, errlen, "steering %s: %s", want == CONFIG_STEERING_CPU ? "cpu" : "least-conns", why);
        break;
    case CONFIG_STEERING_AUTO:
        if (try_kind(b, st, STEER_LEAST_CONNS, why, sizeof(why)) == 0)
            break;
        log_info(LOG_NO_CORE, "connection steering: no least-conns: %s", why);
        if (try_kind(b, st, STEER_CPU, why, sizeof(why)) != 0)
            log_info(LOG_NO_CORE, "connection steering: no cpu: %s", why);
        break;
    default:
        break;
    }
    if (ret == 0)
        log_info(LOG_NO_CORE, "connection steering: %s", steer_kind_name(st->kind));
    return ret;
}

void steer_free(struct broker *b)
{
    if (b->steer == NULL)
        return;
    release(b->steer);
    free(b->steer);
    b->steer = NULL;
}

enum steer_kind steer_kind(const struct broker *b)
{
    return b->steer != NULL ? b->steer->kind : STEER_HASH;
}

/* ---- the cores' side: their counts ---------------------------------------------------------------- */

static void publish(struct core *c, unsigned n)
{
    struct steer *st = c->b->steer;

    if (st != NULL && st->counts != NULL)
        atomic_store_explicit(&st->counts[c->id], n, memory_order_relaxed);
}

static void steer_session_new(struct session *s)
{
    publish(s->core, s->core->nsessions);
}

static void steer_session_gone(struct session *s)
{
    assert(s->core->nsessions > 0);
    publish(s->core, s->core->nsessions - 1); /* still counted while the hooks run */
}

const struct core_module steer_module = {
    .name = "steer",
    .session_new = steer_session_new,
    .session_gone = steer_session_gone,
};
