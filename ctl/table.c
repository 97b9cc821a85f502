/*
 * Aligned text tables for trpcctl. Widths count characters (UTF-8 lead bytes), not bytes, so a
 * client named in another script still lines up; cells are cut at CTL_CELL_MAX_CHARS.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

void ctl_table_init(struct ctl_table *t, size_t ncols, const char *const *specs)
{
    assert(ncols > 0);
    assert(ncols <= CTL_TABLE_MAX_COLS);
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        const char *colon = strchr(specs[i], ':');

        assert(colon != NULL);
        t->head[i] = specs[i];
        t->right[i] = colon[1] == 'r';
        t->width[i] = (size_t)(colon - specs[i]);
        assert(t->width[i] < 64);
    }
}

static bool is_continuation(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

/* Characters as cell_dup counts them: lead bytes, and stray continuation bytes (shown as '?'). */
static size_t chars_of(const char *s)
{
    unsigned char prev = 0;
    size_t w = 0;

    for (; *s != '\0'; s++) {
        w += !is_continuation((unsigned char)*s) || prev < 0x80;
        prev = (unsigned char)*s;
    }
    return w;
}

/* A printable copy of s, at most max characters (>= 3); *chars gets its width. Control
 * characters, C0 and C1 (U+0080..U+009F, which some terminals obey too), become '?', and so does a
 * stray continuation byte after an ASCII one (documents are valid UTF-8, a parser's error excerpt
 * of bad input may not be). */
static char *cell_dup(const char *s, size_t max, size_t *chars)
{
    size_t len = strlen(s), total = chars_of(s), n = 0, w = 0;
    size_t keep = total > max ? max - 3 : total;
    char *out = malloc(len + 4); /* at worst every byte is kept and "..." added */

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!is_continuation(c) && w == keep)
            break;
        if (c < 0x20 || c == 0x7f) {
            c = '?';
        } else if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] < 0xa0 && is_continuation((unsigned char)s[i + 1])) {
            c = '?';
            i++;
        } else if (is_continuation(c) && (n == 0 || (unsigned char)out[n - 1] < 0x80)) {
            c = '?';
        }
        if (!is_continuation(c))
            w++;
        out[n++] = (char)c;
    }
    if (keep < total) {
        memcpy(out + n, "...", 3);
        n += 3;
        w += 3;
    }
    out[n] = '\0';
    *chars = w;
    return out;
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
    char **row;

    assert(t->ncols > 0);
    if (t->nrows == t->cap_rows) {
        size_t cap = t->cap_rows ? 2 * t->cap_rows : 16;
        char **p;

        if (cap > SIZE_MAX / sizeof(*p) / t->ncols)
            return -ENOMEM;
        p = realloc(t->cells, cap * t->ncols * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        t->cells = p;
        t->cap_rows = cap;
    }
    row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        size_t w;

        row[i] = cell_dup(cells[i] != NULL ? cells[i] : "-", CTL_CELL_MAX_CHARS, &w);
        if (row[i] == NULL) {
            while (i-- > 0)
                free(row[i]);
            return -ENOMEM;
        }
        if (w > t->width[i])
            t->width[i] = w;
    }
    t->nrows++;
    return 0;
}

/* One cell: padded to its column's width, except the last column (no trailing blanks). */
static void put_cell(const struct ctl_table *t, size_t col, const char *s, size_t len, FILE *out)
{
    size_t pad = t->width[col] - chars_of(s);

    if (col > 0)
        fputs("  ", out);
    if (t->right[col])
        fprintf(out, "%*s", (int)pad, "");
    fwrite(s, 1, len, out);
    if (!t->right[col] && col + 1 < t->ncols)
        fprintf(out, "%*s", (int)pad, "");
}

char *ctl_printable(const char *s, size_t max_chars)
{
    size_t w;

    assert(max_chars >= 3);
    return cell_dup(s, max_chars, &w);
}

const char *ctl_pr(char **hold, const char *s)
{
    *hold = ctl_printable(s, CTL_CELL_MAX_CHARS);
    return *hold != NULL ? *hold : "?";
}

void ctl_table_print(const struct ctl_table *t, FILE *out)
{
    for (size_t c = 0; c < t->ncols && !t->no_head; c++) {
        size_t len = (size_t)(strchr(t->head[c], ':') - t->head[c]);
        char name[64];

        snprintf(name, sizeof(name), "%.*s", (int)len, t->head[c]);
        put_cell(t, c, name, strlen(name), out);
        if (c + 1 == t->ncols)
            fputc('\n', out);
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];

            put_cell(t, c, s, strlen(s), out);
        }
        fputc('\n', out);
    }
}

void ctl_table_free(struct ctl_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
    t->cap_rows = 0;
}
