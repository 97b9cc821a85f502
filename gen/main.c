/*
 * trpc-gen: compiles .trpc contracts. Loads and checks every FILE with its imports, writes one
 * proto3 file per contract into the output directory, runs protoc-c on them, and writes the typed
 * C stubs (X.trpc.h / X.trpc.c) over protoc-c's code.
 *
 * Exit status: 0 success, 1 errors in a contract, 2 usage, I/O or protoc-c failure.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gen/gen.h"

#ifndef GEN_PROTOC_C
#define GEN_PROTOC_C "protoc-c"
#endif

enum { EXIT_CONTRACT = 1, EXIT_USAGE = 2 };

extern char **environ;

struct opts {
    const char *out_dir; /* NULL: the current directory */
    const char **include_dirs;
    size_t n_include_dirs;
    const char *deps;
    bool check_only;
};

static const char help_text[] = "NAME\n"
                                "    trpc-gen - compile TRPC .trpc contracts\n"
                                "\n"
                                "SYNOPSIS\n"
                                "    trpc-gen [-o DIR] [-I PATH]... [--deps FILE] [--check] FILE.trpc...\n"
                                "    trpc-gen --help | --version\n"
                                "\n"
                                "DESCRIPTION\n"
                                "    Reads each contract FILE.trpc and every contract it imports, checks them, and writes for\n"
                                "    each one FILE.proto (proto3: its package, enums and messages with their doc comments),\n"
                                "    then runs protoc-c on them, which writes FILE.pb-c.c and FILE.pb-c.h, and writes the\n"
                                "    typed C stubs FILE.trpc.h and FILE.trpc.c: client calls, typed publish and subscribe,\n"
                                "    and a server handler table per service. They include <trpc/stub.h> and <trpc/trpc.h>\n"
                                "    and link with libtrpc and libprotobuf-c. Output is deterministic and clang-formatted.\n"
                                "    Errors are reported as FILE:LINE:COLUMN: error: MESSAGE with the source line and a\n"
                                "    caret; up to 20 are reported per run. The language and the stubs are described in\n"
                                "    docs/contracts.md.\n"
                                "\n"
                                "    An import \"x.trpc\" is searched next to the importing file, then in each -I directory.\n"
                                "\n"
                                "OPTIONS\n"
                                "    -o, --output DIR   write outputs into DIR (created if missing; default: .)\n"
                                "    -I, --include PATH search PATH for imports; may be given several times\n"
                                "    --deps FILE        write make dependencies to FILE: the outputs of each contract\n"
                                "                       depend on the contract and everything it imports\n"
                                "    --check            check the contracts only; write nothing (except --deps)\n"
                                "    -h, --help         print this help and exit\n"
                                "    -V, --version      print the version and exit\n"
                                "\n"
                                "ENVIRONMENT\n"
                                "    TRPC_GEN_PROTOC_C  the protoc-c program to run (default: the one found by configure,\n"
                                "                       else protoc-c on PATH)\n"
                                "\n"
                                "EXIT STATUS\n"
                                "    0  success\n"
                                "    1  a contract has errors\n"
                                "    2  usage error, unreadable input, unwritable output or protoc-c failure\n"
                                "\n"
                                "EXAMPLES\n"
                                "    trpc-gen --check shop.trpc\n"
                                "    trpc-gen -o gen -I contracts --deps gen/shop.d contracts/shop.trpc\n";

static void usage_error(const char *msg)
{
    fprintf(stderr,
            "trpc-gen: %s\nusage: trpc-gen [-o DIR] [-I PATH]... [--deps FILE] [--check] FILE.trpc...\n"
            "Try 'trpc-gen --help' for more information.\n",
            msg);
}

/* Returns -1 to go on, or the exit status when the program is done. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"include", required_argument, NULL, 'I'},
        {"deps", required_argument, NULL, 'd'},
        {"check", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    o->include_dirs = calloc((size_t)argc, sizeof(*o->include_dirs));
    if (o->include_dirs == NULL) {
        fputs("trpc-gen: out of memory\n", stderr);
        return EXIT_USAGE;
    }
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":o:I:hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            o->out_dir = optarg;
            break;
        case 'I':
            o->include_dirs[o->n_include_dirs++] = optarg;
            break;
        case 'd':
            o->deps = optarg;
            break;
        case 'c':
            o->check_only = true;
            break;
        case 'h':
            fputs(help_text, stdout);
            return EXIT_SUCCESS;
        case 'V':
            printf("trpc-gen (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
            return EXIT_SUCCESS;
        case ':':
            usage_error("option needs an argument");
            return EXIT_USAGE;
        default:
            usage_error("unknown option");
            return EXIT_USAGE;
        }
    }
    if (optind == argc) {
        usage_error("no contract file given");
        return EXIT_USAGE;
    }
    return -1;
}

/* a followed by b, malloc'ed; NULL when out of memory. */
static char *concat(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s%s", a, b);
    return p;
}

/* out_dir/stem.ext, or stem.ext without -o. */
static char *out_path(const struct opts *o, const char *stem, const char *ext)
{
    size_t n = (o->out_dir != NULL ? strlen(o->out_dir) + 1 : 0) + strlen(stem) + strlen(ext) + 1;
    char *p = malloc(n);

    if (p == NULL)
        return NULL;
    if (o->out_dir != NULL)
        snprintf(p, n, "%s/%s%s", o->out_dir, stem, ext);
    else
        snprintf(p, n, "%s%s", stem, ext);
    return p;
}

typedef int writer_fn(FILE *f, const struct gen_unit *u);

/* Writes one output of the unit through a temporary file, so a reader never sees half of it. */
static int write_output(const struct opts *o, const struct gen_unit *u, const char *ext, writer_fn *write)
{
    char tmp_ext[32];
    char *path, *tmp;
    FILE *f;
    int err = -ENOMEM;

    snprintf(tmp_ext, sizeof(tmp_ext), "%s.tmp", ext);
    path = out_path(o, u->stem, ext);
    tmp = out_path(o, u->stem, tmp_ext);
    if (path == NULL || tmp == NULL)
        goto out_free;
    f = fopen(tmp, "w");
    if (f == NULL) {
        err = -errno;
        fprintf(stderr, "trpc-gen: error: cannot write '%s': %s\n", tmp, strerror(errno));
        goto out_free;
    }
    err = write(f, u);
    if (fclose(f) != 0 && err == 0)
        err = -errno;
    if (err == 0 && rename(tmp, path) == -1)
        err = -errno;
    if (err != 0) {
        fprintf(stderr, "trpc-gen: error: cannot write '%s': %s\n", path, strerror(-err));
        unlink(tmp);
    }
out_free:
    free(path);
    free(tmp);
    return err;
}

static const char *protoc_program(void)
{
    const char *env = getenv("TRPC_GEN_PROTOC_C");

    if (env != NULL && env[0] != '\0')
        return env;
    if (access(GEN_PROTOC_C, X_OK) == 0)
        return GEN_PROTOC_C;
    return "protoc-c";
}

/* Runs protoc-c once over every unit's .proto. Returns 0 or an exit status. */
static int run_protoc(const struct opts *o, const struct gen_ctx *c)
{
    const char *prog = protoc_program();
    const char *dir = o->out_dir != NULL ? o->out_dir : ".";
    char **argv = calloc(c->n_units + 4, sizeof(*argv));
    size_t n = 0, i;
    int status = 0, rc = EXIT_USAGE;
    const struct gen_unit *u;
    pid_t pid;

    if (argv == NULL)
        goto out_free;
    argv[n++] = (char *)prog;
    argv[n++] = concat("--proto_path=", dir);
    argv[n++] = concat("--c_out=", dir);
    for (u = c->units; u != NULL; u = u->next)
        argv[n++] = out_path(o, u->stem, ".proto");
    for (i = 1; i < n; i++)
        if (argv[i] == NULL)
            goto out_free;
    assert(n == c->n_units + 3);
    errno = posix_spawnp(&pid, prog, NULL, NULL, argv, environ);
    if (errno != 0) {
        fprintf(stderr, "trpc-gen: error: cannot run %s: %s\n", prog, strerror(errno));
        goto out_free;
    }
    while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        rc = 0;
    else if (WIFEXITED(status))
        fprintf(stderr, "trpc-gen: error: %s failed (exit status %d) on %s%s\n", prog, WEXITSTATUS(status), argv[3],
                n > 4 ? " and the other contracts" : "");
    else
        fprintf(stderr, "trpc-gen: error: %s was killed by signal %d\n", prog, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
out_free:
    if (argv != NULL)
        for (i = 1; i < n; i++)
            free(argv[i]);
    free(argv);
    return rc;
}

/* Writes path for make: blanks, '#' and '$' escaped. Returns false for bytes make cannot take. */
static bool put_make_path(FILE *f, const char *p)
{
    for (; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t')
            return false;
        if (*p == ' ' || *p == '#')
            fputc('\\', f);
        if (*p == '$')
            fputc('$', f);
        fputc(*p, f);
    }
    return true;
}

/* Appends u and everything it imports, depth first, each once. */
static void collect(const struct gen_unit *u, const struct gen_unit **seen, size_t *n)
{
    const struct gen_import *im;
    size_t i;

    for (i = 0; i < *n; i++)
        if (seen[i] == u)
            return;
    assert(*n < GEN_MAX_UNITS);
    seen[(*n)++] = u;
    for (im = u->imports; im != NULL; im = im->next)
        if (im->unit != NULL)
            collect(im->unit, seen, n);
}

/*
 * One rule per contract named on the command line:
 *   out/shop.proto out/shop.pb-c.c out/shop.pb-c.h out/shop.trpc.h out/shop.trpc.c: shop.trpc common.trpc
 * and an empty rule per import, so make carries on when an import is deleted (like gcc -MP).
 */
static int write_deps(const struct opts *o, struct gen_unit **roots, size_t n_roots)
{
    static const char *const exts[] = {".proto", ".pb-c.c", ".pb-c.h", ".trpc.h", ".trpc.c"};
    const struct gen_unit *all[GEN_MAX_UNITS], *deps[GEN_MAX_UNITS];
    size_t n_all = 0, i, j, e;
    bool ok = true;
    FILE *f = fopen(o->deps, "w");

    if (f == NULL) {
        fprintf(stderr, "trpc-gen: error: cannot write '%s': %s\n", o->deps, strerror(errno));
        return EXIT_USAGE;
    }
    for (i = 0; i < n_roots; i++) {
        size_t n = 0;

        collect(roots[i], deps, &n);
        collect(roots[i], all, &n_all);
        for (e = 0; e < sizeof(exts) / sizeof(exts[0]); e++) {
            char *p = out_path(o, roots[i]->stem, exts[e]);

            ok = ok && p != NULL && put_make_path(f, p);
            fputs(e + 1 < sizeof(exts) / sizeof(exts[0]) ? " " : ":", f);
            free(p);
        }
        for (j = 0; j < n; j++) {
            fputc(' ', f);
            ok = ok && put_make_path(f, deps[j]->src.path);
        }
        fputc('\n', f);
    }
    for (i = 0; i < n_all; i++) {
        for (j = 0; j < n_roots && roots[j] != all[i]; j++)
            ;
        if (j < n_roots)
            continue;
        fputc('\n', f);
        ok = ok && put_make_path(f, all[i]->src.path);
        fputs(":\n", f);
    }
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "trpc-gen: error: cannot write '%s'%s\n", o->deps, ok ? "" : ": a path has a tab or line break");
        return EXIT_USAGE;
    }
    return 0;
}

static int make_out_dir(const char *dir)
{
    if (dir == NULL || mkdir(dir, 0777) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "trpc-gen: error: cannot create '%s': %s\n", dir, strerror(errno));
    return EXIT_USAGE;
}

static int compile(const struct opts *o, struct gen_ctx *c, char **files, size_t n_files)
{
    struct gen_unit **roots = calloc(n_files, sizeof(*roots));
    const struct gen_unit *u;
    int rc = EXIT_USAGE;
    size_t i;

    if (roots == NULL)
        return EXIT_USAGE;
    for (i = 0; i < n_files; i++) {
        roots[i] = gen_load(c, files[i]);
        if (roots[i] == NULL)
            goto out_free;
    }
    rc = EXIT_CONTRACT;
    if (gen_check(c) != 0)
        goto out_free;
    rc = EXIT_USAGE;
    if (!o->check_only) {
        if (make_out_dir(o->out_dir) != 0)
            goto out_free;
        for (u = c->units; u != NULL; u = u->next)
            if (write_output(o, u, ".proto", gen_proto_write) != 0)
                goto out_free;
        if (run_protoc(o, c) != 0)
            goto out_free;
        for (u = c->units; u != NULL; u = u->next)
            if (write_output(o, u, ".trpc.h", gen_emit_header) != 0 || write_output(o, u, ".trpc.c", gen_emit_source) != 0)
                goto out_free;
    }
    if (o->deps != NULL && write_deps(o, roots, n_files) != 0)
        goto out_free;
    rc = EXIT_SUCCESS;
out_free:
    free(roots);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    struct gen_ctx c;
    int rc;

    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        goto out_free;
    gen_ctx_init(&c, stderr);
    c.include_dirs = o.include_dirs;
    c.n_include_dirs = o.n_include_dirs;
    rc = compile(&o, &c, argv + optind, (size_t)(argc - optind));
    gen_ctx_free(&c);
out_free:
    free(o.include_dirs);
    return rc;
}
