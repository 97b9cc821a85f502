/*
 * The embedded store: one file per namespace in data_dir/store/, read whole into memory at open and
 * replaced whole at every write.
 *
 * FILE FORMAT (NS.db; every integer little-endian)
 *
 *   offset size
 *        0    8  magic "TRPCSTOR"
 *        8    4  format version (1); another is refused, by name, before anything else is read
 *       12    4  number of records
 *       16    8  length of the body (the bytes after this 32-byte header)
 *       24    4  CRC32C of the body
 *       28    4  CRC32C of bytes 0..27
 *       32       the body: per record, key length (2 bytes, 1 to STORE_KEY_MAX), value length (4
 *                bytes, at most STORE_VALUE_MAX), the key (no NUL), the value
 *
 * A file is valid when both checksums match, the body holds exactly the records counted, and the
 * keys strictly increase (byte order, a prefix first), which also rules out duplicates. Nothing
 * else is accepted, and nothing is repaired: a damaged file stops the open with a line saying which
 * file and what is wrong.
 *
 * Crash safety: a write encodes the namespace as it will be into NS.db.tmp, fsyncs it, renames it
 * over NS.db and fsyncs the directory; a kill -9 at any moment leaves the old file or the new one,
 * and a leftover .tmp is removed at the next open. The rename is the commit point: memory takes the
 * new state from there, even if the directory fsync then fails (the write is reported failed, as it
 * may not survive a power cut). An exclusive flock on the directory keeps a second process out.
 */
#include <assert.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/store_internal.h"
#include "wal/wal.h"

static const char file_magic[8] = {'T', 'R', 'P', 'C', 'S', 'T', 'O', 'R'};

#define REC_HDR_BYTES 6

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return le32toh(v);
}

static void wr32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, sizeof(v));
}

/* Whether key b follows key a in the file's order (byte order, a prefix first). */
static bool key_after(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    return c < 0 || (c == 0 && alen < blen);
}

/* Checks the records of a body (fn NULL), or hands them to fn once checked. */
static int walk_body(const uint8_t *body, size_t len, uint32_t count, store_rec_fn fn, void *arg, char *err, size_t errlen)
{
    char key[STORE_KEY_MAX + 1];
    const uint8_t *prev = NULL;
    size_t off = 0, prevlen = 0;
    uint32_t i;

    for (i = 0; i < count; i++) {
        size_t klen, vlen;

        if (len - off < REC_HDR_BYTES)
            goto short_body;
        klen = (size_t)body[off] | (size_t)body[off + 1] << 8;
        vlen = rd32(body + off + 2);
        if (klen == 0 || klen > STORE_KEY_MAX || vlen > STORE_VALUE_MAX) {
            snprintf(err, errlen, "record %u at body byte %zu: key of %zu bytes or value of %zu bytes out of bounds", i, off, klen,
                     vlen);
            return -EINVAL;
        }
        off += REC_HDR_BYTES;
        if (len - off < klen + vlen)
            goto short_body;
        if (memchr(body + off, '\0', klen) != NULL || (prev != NULL && !key_after(prev, prevlen, body + off, klen))) {
            snprintf(err, errlen, "record %u at body byte %zu: key holds a NUL or is out of order", i, off);
            return -EINVAL;
        }
        prev = body + off;
        prevlen = klen;
        if (fn != NULL) {
            int ret;

            memcpy(key, body + off, klen);
            key[klen] = '\0';
            ret = fn(arg, key, body + off + klen, (uint32_t)vlen);
            if (ret)
                return ret;
        }
        off += klen + vlen;
    }
    if (off != len) {
        snprintf(err, errlen, "%zu bytes after the last of %u records", len - off, count);
        return -EINVAL;
    }
    return 0;
short_body:
    snprintf(err, errlen, "record %u of %u runs past the end of the body", i, count);
    return -EINVAL;
}

int store__file_parse(const uint8_t *buf, size_t len, store_rec_fn fn, void *arg, char *err, size_t errlen)
{
    uint64_t body_len;
    uint32_t version, count;
    int ret;

    assert(fn != NULL);
    if (len < STORE_FILE_HDR_BYTES) {
        snprintf(err, errlen, "truncated: %zu bytes, less than the %d of the header", len, STORE_FILE_HDR_BYTES);
        return -EINVAL;
    }
    if (memcmp(buf, file_magic, sizeof(file_magic)) != 0) {
        snprintf(err, errlen, "not a store file (bad magic)");
        return -EINVAL;
    }
    version = rd32(buf + 8);
    if (version != STORE_FILE_VERSION) {
        snprintf(err, errlen, "format version %u is unknown (this broker reads version %d)", version, STORE_FILE_VERSION);
        return -EINVAL;
    }
    if (rd32(buf + 28) != wal_crc32c(0, buf, 28)) {
        snprintf(err, errlen, "header checksum mismatch: the file is corrupt");
        return -EINVAL;
    }
    count = rd32(buf + 12);
    body_len = (uint64_t)rd32(buf + 16) | (uint64_t)rd32(buf + 20) << 32;
    if (body_len != len - STORE_FILE_HDR_BYTES) {
        snprintf(err, errlen, "%s: %zu bytes, the header says %llu",
                 body_len > len - STORE_FILE_HDR_BYTES ? "truncated" : "too long", len,
                 (unsigned long long)body_len + STORE_FILE_HDR_BYTES);
        return -EINVAL;
    }
    if (rd32(buf + 24) != wal_crc32c(0, buf + STORE_FILE_HDR_BYTES, (size_t)body_len)) {
        snprintf(err, errlen, "checksum mismatch: the file is corrupt");
        return -EINVAL;
    }
    ret = walk_body(buf + STORE_FILE_HDR_BYTES, (size_t)body_len, count, NULL, NULL, err, errlen);
    if (ret)
        return ret;
    return walk_body(buf + STORE_FILE_HDR_BYTES, (size_t)body_len, count, fn, arg, err, errlen);
}

int store__file_encode(const struct store_rec *recs, size_t n, uint8_t **out, size_t *outlen)
{
    size_t i, size = STORE_FILE_HDR_BYTES, off;
    uint8_t *buf;

    for (i = 0; i < n; i++) {
        assert(i == 0 || strcmp(recs[i - 1].key, recs[i].key) < 0);
        assert(recs[i].len <= STORE_VALUE_MAX);
        size += REC_HDR_BYTES + strlen(recs[i].key) + recs[i].len;
        if (size > STORE_FILE_MAX)
            return -EFBIG;
    }
    buf = malloc(size);
    if (buf == NULL)
        return -ENOMEM;
    off = STORE_FILE_HDR_BYTES;
    for (i = 0; i < n; i++) {
        size_t klen = strlen(recs[i].key);

        assert(klen >= 1);
        assert(klen <= STORE_KEY_MAX);
        buf[off] = (uint8_t)klen;
        buf[off + 1] = (uint8_t)(klen >> 8);
        wr32(buf + off + 2, recs[i].len);
        memcpy(buf + off + REC_HDR_BYTES, recs[i].key, klen);
        if (recs[i].len > 0)
            memcpy(buf + off + REC_HDR_BYTES + klen, recs[i].val, recs[i].len);
        off += REC_HDR_BYTES + klen + recs[i].len;
    }
    assert(off == size);
    memcpy(buf, file_magic, sizeof(file_magic));
    wr32(buf + 8, STORE_FILE_VERSION);
    wr32(buf + 12, (uint32_t)n);
    wr32(buf + 16, (uint32_t)(size - STORE_FILE_HDR_BYTES));
    wr32(buf + 20, 0);
    wr32(buf + 24, wal_crc32c(0, buf + STORE_FILE_HDR_BYTES, size - STORE_FILE_HDR_BYTES));
    wr32(buf + 28, wal_crc32c(0, buf, 28));
    *out = buf;
    *outlen = size;
    return 0;
}

/* The backend. */

struct file_ns {
    char name[STORE_NS_MAX + 1];
    struct store_rec *recs; /* sorted by key */
    size_t n;
};

struct file_be {
    int dirfd; /* holds the flock */
    struct file_ns *ns;
    size_t nns;
};

static struct store_rec rec_new(const char *key, const void *val, size_t len)
{
    size_t klen = strlen(key);
    struct store_rec r = {.key = malloc(klen + 1 + len + 1), .len = (uint32_t)len};

    if (r.key == NULL)
        return r;
    memcpy(r.key, key, klen + 1);
    r.val = (uint8_t *)r.key + klen + 1;
    if (len > 0)
        memcpy(r.val, val, len);
    r.val[len] = '\0';
    return r;
}

/* The index of key in recs, or where it would go (*found false). */
static size_t rec_find(const struct store_rec *recs, size_t n, const char *key, bool *found)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(recs[mid].key, key);

        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Frees every record of recs[0..n) that `keep` does not hold (the same allocation under its key). */
static void free_missing(const struct store_rec *recs, size_t n, const struct store_rec *keep, size_t nkeep)
{
    size_t i, j;
    bool found;

    for (i = 0; i < n; i++) {
        j = rec_find(keep, nkeep, recs[i].key, &found);
        if (!found || keep[j].key != recs[i].key)
            free(recs[i].key);
    }
}

static struct file_ns *ns_find(struct file_be *f, const char *name)
{
    size_t i;

    for (i = 0; i < f->nns; i++)
        if (strcmp(f->ns[i].name, name) == 0)
            return &f->ns[i];
    return NULL;
}

/* The namespace, added empty if new (-ENOMEM). */
static struct file_ns *ns_get(struct file_be *f, const char *name)
{
    struct file_ns *ns = ns_find(f, name), *grown;

    if (ns != NULL)
        return ns;
    grown = realloc(f->ns, (f->nns + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    f->ns = grown;
    ns = &f->ns[f->nns++];
    memset(ns, 0, sizeof(*ns));
    snprintf(ns->name, sizeof(ns->name), "%s", name);
    return ns;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);

        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            return -errno;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Replaces NS.db with recs; returns 0, or a negative errno with last_error set. committed says
 * whether the rename happened (see the top of the file). */
static int ns_write(struct store *s, const char *ns, const struct store_rec *recs, size_t n, bool *committed)
{
    struct file_be *f = s->be;
    char tmp[STORE_NS_MAX + 16], dst[STORE_NS_MAX + 16];
    const char *step = "encode";
    uint8_t *buf = NULL;
    size_t len = 0;
    int fd = -1, ret;

    *committed = false;
    snprintf(tmp, sizeof(tmp), "%s.db.tmp", ns);
    snprintf(dst, sizeof(dst), "%s.db", ns);
    ret = store__file_encode(recs, n, &buf, &len);
    if (ret)
        goto out;
    step = "create";
    fd = openat(f->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1) {
        ret = -errno;
        goto out;
    }
    step = "write";
    ret = write_all(fd, buf, len);
    if (ret)
        goto out_unlink;
    step = "fsync";
    if (fsync(fd) == -1) {
        ret = -errno;
        goto out_unlink;
    }
    step = "rename";
    if (renameat(f->dirfd, tmp, f->dirfd, dst) == -1) {
        ret = -errno;
        goto out_unlink;
    }
    *committed = true;
    step = "fsync the directory after writing";
    if (fsync(f->dirfd) == -1)
        ret = -errno;
    goto out;
out_unlink:
    unlinkat(f->dirfd, tmp, 0);
out:
    if (fd != -1)
        close(fd);
    free(buf);
    if (ret)
        return store__fail(s, ret, "%s %s: %s", step, *committed ? dst : tmp,
                           ret == -EFBIG ? "namespace above 64 MiB" : strerror(-ret));
    return 0;
}

/* Swaps `next` in as ns's records once written, and frees whatever of the losing side nobody holds. */
static int ns_commit(struct store *s, struct file_ns *ns, struct store_rec *next, size_t nn, const struct store_rec *fresh,
                     size_t nfresh)
{
    bool committed;
    int ret = ns_write(s, ns->name, next, nn, &committed);

    if (!committed) {
        free_missing(fresh, nfresh, NULL, 0);
        free(next);
        return ret;
    }
    free_missing(ns->recs, ns->n, next, nn);
    free_missing(fresh, nfresh, next, nn);
    free(ns->recs);
    ns->recs = next;
    ns->n = nn;
    return ret;
}

static int file_put_batch(struct store *s, const char *name, size_t n, const char *const keys[], const void *const vals[],
                          const size_t lens[])
{
    struct file_ns *ns = ns_get(s->be, name);
    struct store_rec *next, *fresh;
    size_t i, nn;
    int ret;

    if (ns == NULL)
        return store__fail(s, -ENOMEM, "out of memory");
    next = malloc((ns->n + n) * sizeof(*next));
    fresh = malloc(n * sizeof(*fresh));
    if (next == NULL || fresh == NULL) {
        free(next);
        free(fresh);
        return store__fail(s, -ENOMEM, "out of memory");
    }
    if (ns->n > 0)
        memcpy(next, ns->recs, ns->n * sizeof(*next));
    nn = ns->n;
    for (i = 0; i < n; i++) {
        bool found;
        size_t at = rec_find(next, nn, keys[i], &found);

        fresh[i] = rec_new(keys[i], vals[i], lens[i]);
        if (fresh[i].key == NULL) {
            free_missing(fresh, i, NULL, 0);
            ret = store__fail(s, -ENOMEM, "out of memory");
            goto out_free;
        }
        if (!found) {
            memmove(next + at + 1, next + at, (nn - at) * sizeof(*next));
            nn++;
        }
        next[at] = fresh[i];
    }
    ret = ns_commit(s, ns, next, nn, fresh, n);
    free(fresh);
    return ret;
out_free:
    free(next);
    free(fresh);
    return ret;
}

static int file_del(struct store *s, const char *name, const char *key)
{
    struct file_ns *ns = ns_find(s->be, name);
    struct store_rec *next;
    bool found = false;
    size_t at = 0;

    if (ns != NULL)
        at = rec_find(ns->recs, ns->n, key, &found);
    if (!found)
        return store__fail(s, -ENOENT, "no record %s/%s", name, key);
    next = malloc(ns->n * sizeof(*next));
    if (next == NULL)
        return store__fail(s, -ENOMEM, "out of memory");
    memcpy(next, ns->recs, at * sizeof(*next));
    memcpy(next + at, ns->recs + at + 1, (ns->n - at - 1) * sizeof(*next));
    return ns_commit(s, ns, next, ns->n - 1, NULL, 0);
}

static int file_get(struct store *s, const char *name, const char *key, void **val, size_t *len)
{
    struct file_ns *ns = ns_find(s->be, name);
    bool found = false;
    size_t at = 0;
    uint8_t *copy;

    if (ns != NULL)
        at = rec_find(ns->recs, ns->n, key, &found);
    if (!found)
        return store__fail(s, -ENOENT, "no record %s/%s", name, key);
    copy = malloc(ns->recs[at].len + 1u);
    if (copy == NULL)
        return store__fail(s, -ENOMEM, "out of memory");
    memcpy(copy, ns->recs[at].val, ns->recs[at].len + 1u);
    *val = copy;
    *len = ns->recs[at].len;
    return 0;
}

static int file_list(struct store *s, const char *name, store_list_fn fn, void *arg)
{
    struct file_ns *ns = ns_find(s->be, name);
    size_t i;

    for (i = 0; ns != NULL && i < ns->n; i++) {
        int ret = fn(arg, ns->recs[i].key, ns->recs[i].val, ns->recs[i].len);

        if (ret)
            return ret;
    }
    return 0;
}

static int file_watch_fd(const struct store *s)
{
    return -1;
}

static int file_poll_changes(struct store *s, store_change_fn fn, void *arg)
{
    return 0;
}

static int file_tick(struct store *s, uint64_t now_ms)
{
    return 0;
}

static bool file_up(const struct store *s)
{
    return true;
}

static void file_close(struct store *s)
{
    struct file_be *f = s->be;
    size_t i;

    for (i = 0; i < f->nns; i++) {
        free_missing(f->ns[i].recs, f->ns[i].n, NULL, 0);
        free(f->ns[i].recs);
    }
    free(f->ns);
    if (f->dirfd != -1)
        close(f->dirfd);
    free(f);
    s->be = NULL;
}

static const struct store_ops file_ops = {
    .name = "file",
    .get = file_get,
    .put_batch = file_put_batch,
    .del = file_del,
    .list = file_list,
    .watch_fd = file_watch_fd,
    .poll_changes = file_poll_changes,
    .tick = file_tick,
    .up = file_up,
    .close = file_close,
};

/* Loading at open. */

struct loader {
    struct file_ns *ns;
    size_t cap;
};

static int load_rec(void *arg, const char *key, const uint8_t *val, uint32_t len)
{
    struct loader *l = arg;
    struct file_ns *ns = l->ns;
    struct store_rec r;

    if (ns->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct store_rec *grown = realloc(ns->recs, cap * sizeof(*grown));

        if (grown == NULL)
            return -ENOMEM;
        ns->recs = grown;
        l->cap = cap;
    }
    r = rec_new(key, val, len);
    if (r.key == NULL)
        return -ENOMEM;
    ns->recs[ns->n++] = r;
    return 0;
}

static int read_file(int fd, uint8_t **out, size_t *outlen)
{
    struct stat st;
    uint8_t *buf;
    size_t off = 0;

    if (fstat(fd, &st) == -1)
        return -errno;
    if (st.st_size > (off_t)STORE_FILE_MAX + STORE_FILE_HDR_BYTES)
        return -EFBIG;
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL)
        return -ENOMEM;
    while (off < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);

        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return r == 0 ? -EIO : -errno;
        }
        off += (size_t)r;
    }
    *out = buf;
    *outlen = off;
    return 0;
}

static int load_ns(struct store *s, const char *file, const char *name)
{
    struct file_be *f = s->be;
    char why[STORE_ERR_MAX / 2];
    struct loader ld = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    int fd, ret;

    fd = openat(f->dirfd, file, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return store__fail(s, -errno, "%s: %s", file, strerror(errno));
    ret = read_file(fd, &buf, &len);
    close(fd);
    if (ret)
        return store__fail(s, ret, "%s: %s", file, ret == -EFBIG ? "larger than 64 MiB" : strerror(-ret));
    ld.ns = ns_get(f, name);
    if (ld.ns == NULL) {
        free(buf);
        return store__fail(s, -ENOMEM, "out of memory");
    }
    ret = store__file_parse(buf, len, load_rec, &ld, why, sizeof(why));
    free(buf);
    if (ret == -ENOMEM)
        return store__fail(s, ret, "out of memory");
    if (ret)
        return store__fail(s, -EINVAL, "%s: %s", file, why);
    return 0;
}

/* Loads every NS.db of the directory and removes the .tmp files a crash left. */
static int load_dir(struct store *s)
{
    struct file_be *f = s->be;
    struct dirent *d;
    int fd, ret = 0;
    DIR *dir;

    fd = openat(f->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dir = fd == -1 ? NULL : fdopendir(fd);
    if (dir == NULL) {
        ret = store__fail(s, -errno, "read the directory: %s", strerror(errno));
        if (fd != -1)
            close(fd);
        return ret;
    }
    while (ret == 0 && (d = readdir(dir)) != NULL) {
        size_t l = strlen(d->d_name);
        char name[STORE_NS_MAX + 1];

        if (l > 7 && strcmp(d->d_name + l - 7, ".db.tmp") == 0) {
            unlinkat(f->dirfd, d->d_name, 0);
        } else if (l > 3 && l - 3 <= STORE_NS_MAX && strcmp(d->d_name + l - 3, ".db") == 0) {
            memcpy(name, d->d_name, l - 3);
            name[l - 3] = '\0';
            if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == l - 3)
                ret = load_ns(s, d->d_name, name);
        }
    }
    closedir(dir);
    return ret;
}

/* mkdir that accepts an existing directory. */
static int make_dir(const char *path)
{
    return mkdir(path, 0750) == -1 && errno != EEXIST ? -errno : 0;
}

int store__file_open(struct store *s, const struct store_opts *o)
{
    char path[PATH_MAX];
    struct file_be *f;
    int ret;

    if ((size_t)snprintf(path, sizeof(path), "%s/store", o->data_dir) >= sizeof(path))
        return store__fail(s, -ENAMETOOLONG, "path too long");
    ret = make_dir(o->data_dir);
    if (ret == 0)
        ret = make_dir(path);
    if (ret)
        return store__fail(s, ret, "cannot create the directory: %s", strerror(-ret));
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return store__fail(s, -ENOMEM, "out of memory");
    s->be = f;
    s->ops = &file_ops;
    f->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->dirfd == -1) {
        ret = store__fail(s, -errno, "cannot open the directory: %s", strerror(errno));
        goto out_close;
    }
    if (flock(f->dirfd, LOCK_EX | LOCK_NB) == -1) {
        ret = errno == EWOULDBLOCK ? store__fail(s, -EBUSY, "in use by another process")
                                   : store__fail(s, -errno, "flock: %s", strerror(errno));
        goto out_close;
    }
    ret = load_dir(s);
    if (ret)
        goto out_close;
    return 0;
out_close:
    file_close(s);
    s->ops = NULL;
    return ret;
}
