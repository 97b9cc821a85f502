/*
 * load: reads a contract and, depth first, everything it imports.
 *
 * An import "x.trpc" is looked for next to the importing file, then in each -I directory in
 * order; the first file that exists wins. A file's identity is the reader's id (device and inode
 * for real files), so one file reached by two paths is loaded once. A file that is still being
 * loaded when it is imported again closes a cycle, which is an error.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen/gen.h"

struct load_stack {
    struct gen_unit *units[GEN_MAX_IMPORT_DEPTH + 1];
    size_t n;
};

void gen_ctx_init(struct gen_ctx *c, FILE *diag_out)
{
    memset(c, 0, sizeof(*c));
    gen_diag_init(&c->diag, diag_out);
    c->read = gen_read_file;
    c->_tail = &c->units;
}

void gen_ctx_free(struct gen_ctx *c)
{
    gen_arena_free(&c->arena);
    c->units = NULL;
    c->_tail = &c->units;
    c->n_units = 0;
}

int gen_read_file(void *arg, const char *path, struct gen_arena *arena, char **text, size_t *len, const char **id)
{
    struct stat st;
    char idbuf[64];
    char *buf;
    size_t got = 0;
    int fd, err = 0;

    (void)arg;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -errno;
    if (fstat(fd, &st) == -1) {
        err = -errno;
        goto out_close;
    }
    if (S_ISDIR(st.st_mode)) {
        err = -EISDIR;
        goto out_close;
    }
    if (!S_ISREG(st.st_mode)) {
        err = -EINVAL;
        goto out_close;
    }
    if (st.st_size > GEN_MAX_FILE_BYTES) {
        err = -EFBIG;
        goto out_close;
    }
    buf = gen_alloc(arena, (size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            err = -errno;
            goto out_close;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    snprintf(idbuf, sizeof(idbuf), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    *id = gen_strndup(arena, idbuf, strlen(idbuf));
    *text = buf;
    *len = got;
out_close:
    close(fd);
    return err;
}

/* The file name must end in ".trpc" and, as it names the outputs, use only [A-Za-z0-9_.-]. */
static bool has_trpc_suffix(const char *path)
{
    size_t len = strlen(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    size_t i, n = strlen(base);

    if (n <= 5 || strcmp(path + len - 5, ".trpc") != 0)
        return false;
    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)base[i]) && base[i] != '_' && base[i] != '-' && base[i] != '.')
            return false;
    return true;
}

static const char *stem_of(struct gen_arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;

    assert(has_trpc_suffix(path));
    return gen_strndup(a, base, strlen(base) - 5);
}

static struct gen_unit *find_unit(struct gen_ctx *c, const struct load_stack *st, const char *key)
{
    struct gen_unit *u;
    size_t i;

    for (u = c->units; u != NULL; u = u->next)
        if (strcmp(u->key, key) == 0)
            return u;
    for (i = 0; i < st->n; i++)
        if (strcmp(st->units[i]->key, key) == 0)
            return st->units[i];
    return NULL;
}

static void load_imports(struct gen_ctx *c, struct gen_unit *u, struct load_stack *st);

static struct gen_unit *load_text(struct gen_ctx *c, struct load_stack *st, const char *path, const char *key, char *text,
                                  size_t len)
{
    struct gen_src src = {gen_strndup(&c->arena, path, strlen(path)), text, len};
    struct gen_unit *u = gen_parse(&src, &c->diag, &c->arena);

    u->key = key;
    u->stem = stem_of(&c->arena, path);
    u->_state = 1;
    c->n_units++;
    assert(st->n <= GEN_MAX_IMPORT_DEPTH);
    st->units[st->n++] = u;
    load_imports(c, u, st);
    st->n--;
    u->_state = 2;
    *c->_tail = u;
    c->_tail = &u->next;
    return u;
}

static void report_cycle(struct gen_ctx *c, struct gen_unit *u, const struct gen_import *im, const struct load_stack *st,
                         const struct gen_unit *target)
{
    char buf[1024];
    size_t i = 0, o = 0;

    while (i < st->n && st->units[i] != target)
        i++;
    for (; i < st->n && o < sizeof(buf); i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s -> ", st->units[i]->src.path);
    if (o < sizeof(buf))
        snprintf(buf + o, sizeof(buf) - o, "%s", target->src.path);
    gen_error_at(&c->diag, &u->src, im->loc.line, im->loc.col, "import cycle: %s", buf);
}

/* Tries one candidate path; returns true when the search is over (found, or a hard error). */
static bool try_import(struct gen_ctx *c, struct gen_unit *u, struct gen_import *im, struct load_stack *st, const char *cand)
{
    const char *key = NULL;
    struct gen_unit *found;
    char *text;
    size_t len;
    int err;

    err = c->read(c->read_arg, cand, &c->arena, &text, &len, &key);
    if (err == -ENOENT || err == -ENOTDIR)
        return false;
    if (err != 0) {
        gen_error_at(&c->diag, &u->src, im->loc.line, im->loc.col, "cannot read import '%s': %s",
                     gen_escape(&c->arena, cand, strlen(cand)), strerror(-err));
        return true;
    }
    found = find_unit(c, st, key);
    if (found != NULL && found->_state == 1) {
        report_cycle(c, u, im, st, found);
        return true;
    }
    if (found != NULL) {
        im->unit = found;
        return true;
    }
    if (st->n > GEN_MAX_IMPORT_DEPTH) {
        gen_error_at(&c->diag, &u->src, im->loc.line, im->loc.col, "imports nested deeper than %d levels", GEN_MAX_IMPORT_DEPTH);
        return true;
    }
    if (c->n_units >= GEN_MAX_UNITS) {
        gen_error_at(&c->diag, &u->src, im->loc.line, im->loc.col, "more than %d contract files", GEN_MAX_UNITS);
        return true;
    }
    im->unit = load_text(c, st, cand, key, text, len);
    return true;
}

static const char *join(struct gen_arena *a, const char *dir, size_t dir_len, const char *name)
{
    size_t n = strlen(name);
    char *out;

    if (dir_len == 0)
        return name;
    out = gen_alloc(a, dir_len + n + 2);
    memcpy(out, dir, dir_len);
    out[dir_len] = '/';
    memcpy(out + dir_len + 1, name, n + 1);
    return out;
}

static void load_import(struct gen_ctx *c, struct gen_unit *u, struct gen_import *im, struct load_stack *st)
{
    const char *slash = strrchr(u->src.path, '/');
    size_t i;

    if (!has_trpc_suffix(im->path)) {
        gen_error_at(&c->diag, &u->src, im->loc.line, im->loc.col,
                     "import path must name a .trpc file (letters, digits, '_', '-', '.')");
        return;
    }
    if (im->path[0] == '/') {
        if (!try_import(c, u, im, st, im->path))
            goto out_not_found;
        return;
    }
    if (try_import(c, u, im, st, join(&c->arena, u->src.path, slash != NULL ? (size_t)(slash - u->src.path) : 0, im->path)))
        return;
    for (i = 0; i < c->n_include_dirs; i++)
        if (try_import(c, u, im, st, join(&c->arena, c->include_dirs[i], strlen(c->include_dirs[i]), im->path)))
            return;
out_not_found:
    gen_error_at(&c->diag, &u->src, im->loc.line, im->loc.col, "cannot find import '%s'",
                 gen_escape(&c->arena, im->path, strlen(im->path)));
}

static void load_imports(struct gen_ctx *c, struct gen_unit *u, struct load_stack *st)
{
    struct gen_import *im, *prev;
    size_t n = 0;

    for (im = u->imports; im != NULL && !gen_diag_full(&c->diag); im = im->next) {
        if (++n > GEN_MAX_UNITS) {
            gen_error_at(&c->diag, &u->src, im->loc.line, im->loc.col, "more than %d imports", GEN_MAX_UNITS);
            return;
        }
        for (prev = u->imports; prev != im; prev = prev->next) {
            if (strcmp(prev->path, im->path) == 0) {
                gen_error_at(&c->diag, &u->src, im->loc.line, im->loc.col, "duplicate import '%s' (line %d)",
                             gen_escape(&c->arena, im->path, strlen(im->path)), prev->loc.line);
                break;
            }
        }
        if (prev == im)
            load_import(c, u, im, st);
    }
}

struct gen_unit *gen_load(struct gen_ctx *c, const char *path)
{
    struct load_stack st = {.n = 0};
    const char *key = NULL;
    struct gen_unit *u;
    char *text;
    size_t len;
    int err;

    if (!has_trpc_suffix(path)) {
        gen_error(&c->diag, "'%s' is not a .trpc file name (letters, digits, '_', '-', '.')",
                  gen_escape(&c->arena, path, strlen(path)));
        return NULL;
    }
    err = c->read(c->read_arg, path, &c->arena, &text, &len, &key);
    if (err != 0) {
        gen_error(&c->diag, "cannot read '%s': %s", gen_escape(&c->arena, path, strlen(path)), strerror(-err));
        return NULL;
    }
    u = find_unit(c, &st, key);
    if (u != NULL)
        return u;
    if (c->n_units >= GEN_MAX_UNITS) {
        gen_error(&c->diag, "more than %d contract files", GEN_MAX_UNITS);
        return NULL;
    }
    return load_text(c, &st, path, key, text, len);
}
