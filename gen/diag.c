/*
 * diag: error reports in the form compilers use, so editors can jump to them:
 *
 *   shop.trpc:4:21: error: undefined type 'Ordr'
 *     rpc Charge(Ordr) returns (Receipt);
 *                ^
 *
 * The source line is copied with control bytes shown as '?' (the input is untrusted and goes to a
 * terminal) and cut at LINE_MAX_SHOWN bytes. The GEN_MAX_ERRORS-th report is followed by a line
 * saying the run stops there; callers check gen_diag_full() and stop, and any later report is
 * counted but not printed.
 */
#include <assert.h>
#include <stdarg.h>
#include <string.h>

#include "gen/gen.h"

enum { LINE_MAX_SHOWN = 200 };

void gen_diag_init(struct gen_diag *d, FILE *out)
{
    memset(d, 0, sizeof(*d));
    d->out = out;
}

bool gen_diag_full(const struct gen_diag *d)
{
    return d->errors >= GEN_MAX_ERRORS;
}

/* Counts one error; returns true when it should be printed. */
static bool count(struct gen_diag *d)
{
    d->errors++;
    return d->out != NULL && d->errors <= GEN_MAX_ERRORS;
}

/* After the error that reached the cap. */
static void note_cap(struct gen_diag *d)
{
    if (d->errors == GEN_MAX_ERRORS)
        fprintf(d->out, "trpc-gen: too many errors, stopping after %d\n", GEN_MAX_ERRORS);
}

/* The start of line number `line` (from 1) in src, or NULL when the text has fewer lines. */
static const char *line_start(const struct gen_src *src, int line)
{
    const char *p = src->text;
    const char *end = src->text + src->len;
    int n = 1;

    while (n < line) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));

        if (nl == NULL)
            return NULL;
        p = nl + 1;
        n++;
    }
    return p;
}

static void show_line(FILE *out, const struct gen_src *src, int line, int col)
{
    const char *p = line_start(src, line);
    const char *end = src->text + src->len;
    size_t n = 0;
    int i;

    if (p == NULL)
        return;
    fputs("  ", out);
    for (n = 0; p + n < end && p[n] != '\n' && n < LINE_MAX_SHOWN; n++) {
        unsigned char c = (unsigned char)p[n];

        fputc(c == '\t' || (c >= 0x20 && c != 0x7f) ? c : '?', out);
    }
    fputs("\n  ", out);
    for (i = 1; i < col && (size_t)(i - 1) < n; i++)
        fputc(p[i - 1] == '\t' ? '\t' : ' ', out);
    fputs("^\n", out);
}

void gen_error_at(struct gen_diag *d, const struct gen_src *src, int line, int col, const char *fmt, ...)
{
    va_list ap;

    assert(src != NULL);
    assert(line >= 1);
    assert(col >= 1);
    if (!count(d))
        return;
    fprintf(d->out, "%s:%d:%d: error: ", src->path, line, col);
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
    show_line(d->out, src, line, col);
    note_cap(d);
}

void gen_error(struct gen_diag *d, const char *fmt, ...)
{
    va_list ap;

    if (!count(d))
        return;
    fputs("trpc-gen: error: ", d->out);
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
    note_cap(d);
}

const char *gen_escape(struct gen_arena *a, const char *s, size_t len)
{
    enum { SHOWN = 64 };
    char *out = gen_alloc(a, SHOWN * 4 + 4);
    size_t o = 0;
    size_t i;

    for (i = 0; i < len && i < SHOWN; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, 5, "\\x%02x", c);
            o += 4;
        }
    }
    if (i < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    assert(o < SHOWN * 4 + 4);
    out[o] = '\0';
    return out;
}
