/*
 * lex: the tokens of the contract language.
 *
 * Comments are `//` to the end of the line and `/ * ... * /` (no nesting). A run of comments is
 * the doc comment of the token after it when nothing but one line break separates the last
 * comment from that token and the run does not start on the line of the previous token (so a
 * trailing `int32 a = 1; // note` documents nothing). A blank line ends a run. Doc text loses
 * the comment markers, leading `*`s of block comment lines and one space; it is cut at GEN_MAX_DOC
 * bytes, control bytes become spaces and bytes that are not UTF-8 become '?', so the writers can
 * copy it into generated files as it is.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"

struct doc_buf {
    char text[GEN_MAX_DOC + 1];
    size_t len;
};

void gen_lex_init(struct gen_lexer *lx, const struct gen_src *src, struct gen_diag *diag, struct gen_arena *arena)
{
    memset(lx, 0, sizeof(*lx));
    lx->src = src;
    lx->diag = diag;
    lx->arena = arena;
    lx->line = 1;
    lx->col = 1;
}

static int peek(const struct gen_lexer *lx, size_t ahead)
{
    size_t p = lx->pos + ahead;

    return p < lx->src->len ? (unsigned char)lx->src->text[p] : -1;
}

static void advance(struct gen_lexer *lx)
{
    assert(lx->pos < lx->src->len);
    if (lx->src->text[lx->pos] == '\n') {
        lx->line++;
        lx->col = 1;
    } else {
        lx->col++;
    }
    lx->pos++;
}

/* Length of the valid UTF-8 sequence at p[0..n) (1..4), or 0 when it is not valid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        unsigned char lim_lo = i == 1 ? lo : 0x80, lim_hi = i == 1 ? hi : 0xbf;

        if (p[i] < lim_lo || p[i] > lim_hi)
            return 0;
    }
    return len;
}

/* Appends one comment line, cleaned as the file comment describes. */
static void doc_add_line(struct doc_buf *d, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
        n--;
    if (d->len == 0 && n == 0)
        return; /* leading empty lines */
    if (d->len > 0 && d->len < GEN_MAX_DOC)
        d->text[d->len++] = '\n';
    while (i < n) {
        size_t k = utf8_len(p + i, n - i);

        if (k == 0) {
            k = 1;
            if (d->len + 1 > GEN_MAX_DOC)
                break;
            d->text[d->len++] = '?';
        } else if (k == 1) {
            if (d->len + 1 > GEN_MAX_DOC)
                break;
            d->text[d->len++] = p[i] < 0x20 || p[i] == 0x7f ? ' ' : (char)p[i];
        } else {
            if (d->len + k > GEN_MAX_DOC)
                break;
            memcpy(d->text + d->len, p + i, k);
            d->len += k;
        }
        i += k;
    }
    assert(d->len <= GEN_MAX_DOC);
}

static void doc_reset(struct doc_buf *d)
{
    d->len = 0;
}

/* Strips what decorates a comment line: one blank after "//"; in a block comment the indentation,
 * the '*'s that start the line and one blank after them. */
static void doc_add_decorated(struct doc_buf *d, const char *s, size_t n, bool block)
{
    while (block && n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (block && n > 0 && *s == '*') {
        s++;
        n--;
    }
    if (n > 0 && *s == ' ') {
        s++;
        n--;
    }
    doc_add_line(d, s, n);
}

static void line_comment(struct gen_lexer *lx, struct doc_buf *d, bool trailing)
{
    size_t start;

    advance(lx);
    advance(lx);
    start = lx->pos;
    while (peek(lx, 0) != -1 && peek(lx, 0) != '\n')
        advance(lx);
    if (!trailing)
        doc_add_decorated(d, lx->src->text + start, lx->pos - start, false);
}

static void block_comment(struct gen_lexer *lx, struct doc_buf *d, bool trailing)
{
    int line = lx->line, col = lx->col;
    size_t seg;

    advance(lx);
    advance(lx);
    seg = lx->pos;
    for (;;) {
        int c = peek(lx, 0);

        if (c == -1) {
            gen_error_at(lx->diag, lx->src, line, col, "unterminated comment");
            return;
        }
        if (c == '*' && peek(lx, 1) == '/')
            break;
        if (c == '\n' && !trailing) {
            doc_add_decorated(d, lx->src->text + seg, lx->pos - seg, true);
            seg = lx->pos + 1;
        }
        advance(lx);
    }
    if (!trailing)
        doc_add_decorated(d, lx->src->text + seg, lx->pos - seg, true);
    advance(lx);
    advance(lx);
}

/* Skips blanks and comments, collecting the doc comment of the next token into d. */
static void skip_space(struct gen_lexer *lx, struct doc_buf *d)
{
    int breaks = 0; /* line breaks since the last comment or token */

    for (;;) {
        int c = peek(lx, 0);
        bool trailing = lx->line == lx->last_line;

        if (c == '\n') {
            if (++breaks >= 2)
                doc_reset(d);
            advance(lx);
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            advance(lx);
            continue;
        }
        if (c != '/' || (peek(lx, 1) != '/' && peek(lx, 1) != '*'))
            return;
        if (trailing)
            doc_reset(d);
        if (peek(lx, 1) == '/')
            line_comment(lx, d, trailing);
        else
            block_comment(lx, d, trailing);
        breaks = 0;
    }
}

static bool is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_char(int c)
{
    return is_ident_start(c) || is_digit(c);
}

static void lex_ident(struct gen_lexer *lx, struct gen_tok *t)
{
    while (is_ident_char(peek(lx, 0)))
        advance(lx);
    t->len = lx->pos - (size_t)(t->text - lx->src->text);
    if (t->len > GEN_MAX_IDENT) {
        gen_error_at(lx->diag, lx->src, t->line, t->col, "identifier longer than %d bytes", GEN_MAX_IDENT);
        t->kind = GEN_TOK_ERROR;
        return;
    }
    t->kind = GEN_TOK_IDENT;
    t->str = gen_strndup(lx->arena, t->text, t->len);
    t->str_len = t->len;
}

static void lex_number(struct gen_lexer *lx, struct gen_tok *t)
{
    char buf[GEN_MAX_TOKEN + 1];
    size_t unit = 0, i;
    bool overflow = false;

    t->kind = GEN_TOK_INT;
    while (is_digit(peek(lx, 0)))
        advance(lx);
    if (peek(lx, 0) == '.' && is_digit(peek(lx, 1))) {
        t->kind = GEN_TOK_FLOAT;
        advance(lx);
        while (is_digit(peek(lx, 0)))
            advance(lx);
    }
    if (is_ident_start(peek(lx, 0))) {
        unit = lx->pos;
        while (is_ident_char(peek(lx, 0)))
            advance(lx);
    }
    t->len = lx->pos - (size_t)(t->text - lx->src->text);
    if (t->len > GEN_MAX_TOKEN) {
        gen_error_at(lx->diag, lx->src, t->line, t->col, "number longer than %d bytes", GEN_MAX_TOKEN);
        t->kind = GEN_TOK_ERROR;
        return;
    }
    if (unit != 0)
        t->unit = gen_strndup(lx->arena, lx->src->text + unit, lx->pos - unit);
    memcpy(buf, t->text, t->len);
    buf[unit != 0 ? unit - (size_t)(t->text - lx->src->text) : t->len] = '\0';
    if (t->kind == GEN_TOK_FLOAT) {
        t->fval = strtod(buf, NULL);
        return;
    }
    for (i = 0; buf[i] != '\0'; i++) {
        uint64_t d = (uint64_t)(buf[i] - '0');

        if (t->ival > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            t->ival = t->ival * 10 + d;
    }
    if (overflow) {
        gen_error_at(lx->diag, lx->src, t->line, t->col, "number too large");
        t->kind = GEN_TOK_ERROR;
        return;
    }
    t->fval = (double)t->ival;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one escape after the backslash into *out; returns false when it is not valid. */
static bool lex_escape(struct gen_lexer *lx, char *out)
{
    int c = peek(lx, 0);

    switch (c) {
    case '\\':
    case '"':
        *out = (char)c;
        break;
    case 'n':
        *out = '\n';
        break;
    case 't':
        *out = '\t';
        break;
    case 'r':
        *out = '\r';
        break;
    case 'x': {
        int hi = hex_value(peek(lx, 1)), lo = hex_value(peek(lx, 2));

        if (hi < 0 || lo < 0)
            return false;
        advance(lx);
        advance(lx);
        *out = (char)(hi * 16 + lo);
        break;
    }
    default:
        return false;
    }
    advance(lx);
    return true;
}

static void lex_string(struct gen_lexer *lx, struct gen_tok *t)
{
    char buf[GEN_MAX_TOKEN];
    size_t n = 0;
    bool bad = false;

    advance(lx);
    for (;;) {
        int c = peek(lx, 0);
        char ch;

        if (c == -1 || c == '\n') {
            gen_error_at(lx->diag, lx->src, t->line, t->col, "unterminated string");
            t->kind = GEN_TOK_ERROR;
            return;
        }
        if (c == '"')
            break;
        if (c == '\\') {
            int line = lx->line, col = lx->col;

            advance(lx);
            if (!lex_escape(lx, &ch)) {
                if (!bad)
                    gen_error_at(lx->diag, lx->src, line, col, "invalid escape sequence in string");
                bad = true;
                continue;
            }
        } else {
            ch = (char)c;
            advance(lx);
        }
        if (n == sizeof(buf)) {
            if (!bad)
                gen_error_at(lx->diag, lx->src, t->line, t->col, "string longer than %d bytes", GEN_MAX_TOKEN);
            bad = true;
            continue;
        }
        buf[n++] = ch;
    }
    advance(lx);
    t->len = lx->pos - (size_t)(t->text - lx->src->text);
    if (bad) {
        t->kind = GEN_TOK_ERROR;
        return;
    }
    t->kind = GEN_TOK_STRING;
    t->str = gen_strndup(lx->arena, buf, n);
    t->str_len = n;
}

static enum gen_tok_kind punct(int c)
{
    switch (c) {
    case '{':
        return GEN_TOK_LBRACE;
    case '}':
        return GEN_TOK_RBRACE;
    case '(':
        return GEN_TOK_LPAREN;
    case ')':
        return GEN_TOK_RPAREN;
    case ';':
        return GEN_TOK_SEMI;
    case '=':
        return GEN_TOK_EQ;
    case ',':
        return GEN_TOK_COMMA;
    case '.':
        return GEN_TOK_DOT;
    case '-':
        return GEN_TOK_MINUS;
    default:
        return GEN_TOK_ERROR;
    }
}

static void lex_other(struct gen_lexer *lx, struct gen_tok *t, int c)
{
    size_t k;

    t->kind = punct(c);
    if (t->kind != GEN_TOK_ERROR) {
        advance(lx);
        t->len = 1;
        return;
    }
    k = utf8_len((const unsigned char *)t->text, lx->src->len - lx->pos);
    if (k == 0)
        k = 1;
    gen_error_at(lx->diag, lx->src, t->line, t->col, "unexpected character '%s'", gen_escape(lx->arena, t->text, k));
    while (k-- > 0)
        advance(lx);
    t->len = lx->pos - (size_t)(t->text - lx->src->text);
}

void gen_lex_next(struct gen_lexer *lx, struct gen_tok *t)
{
    struct doc_buf doc;
    struct doc_buf *d = &doc;
    int c;

    doc_reset(d);
    skip_space(lx, d);
    memset(t, 0, sizeof(*t));
    t->line = lx->line;
    t->col = lx->col;
    t->text = lx->src->text + lx->pos;
    while (d->len > 0 && d->text[d->len - 1] == '\n')
        d->len--;
    if (d->len > 0)
        t->doc = gen_strndup(lx->arena, d->text, d->len);
    c = peek(lx, 0);
    if (c == -1)
        t->kind = GEN_TOK_EOF;
    else if (is_ident_start(c))
        lex_ident(lx, t);
    else if (is_digit(c))
        lex_number(lx, t);
    else if (c == '"')
        lex_string(lx, t);
    else
        lex_other(lx, t, c);
    lx->last_line = lx->line;
}
