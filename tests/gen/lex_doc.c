/*
 * lex_doc: which comments become doc comments and how their text is cleaned (gen/lex.c): the
 * comment block right before a declaration is kept, a blank line detaches it, a trailing comment
 * documents nothing, block comment decoration is stripped, control bytes become spaces, bytes
 * that are not UTF-8 become '?', and a huge comment is cut at GEN_MAX_DOC bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"
#include "tests/tap.h"

static struct gen_unit *parse(struct gen_arena *a, struct gen_diag *d, const char *text)
{
    static struct gen_src src;

    src.path = "t.trpc";
    src.text = text;
    src.len = strlen(text);
    gen_diag_init(d, NULL);
    return gen_parse(&src, d, a);
}

static int str_eq(const char *got, const char *want)
{
    if (got == NULL || want == NULL)
        return got == want;
    return strcmp(got, want) == 0;
}

int main(void)
{
    struct gen_arena a = {0};
    struct gen_diag d;
    struct gen_unit *u;
    struct gen_field *f;
    char *big;
    size_t i, n;

    plan(13);
    u = parse(&a, &d,
              "// file\npackage p;\n\n// detached\n\n// one\n//  two\nmessage M {\n"
              "  /**\n   * block\n   *\n   * para\n   */\n  int32 a = 1; // trailing\n  int32 b = 2;\n"
              "  /* x\x01y\xffz caf\xc3\xa9 */\n  int32 c = 3;\n}\n");
    ok_eq(d.errors, 0, "parses without errors");
    ok(str_eq(u->pkg_doc, "file"), "the first comment documents the package");
    ok(str_eq(u->messages->doc, "one\n two"), "the block right before the message is its doc, the blank line cut 'detached'");
    f = u->messages->fields;
    ok(str_eq(f->doc, "block\n\npara"), "block comment stars and indentation are stripped (got '%s')", f->doc);
    f = f->next;
    ok(str_eq(f->doc, NULL), "a trailing comment does not document the next field");
    f = f->next;
    ok(str_eq(f->doc, "x y?z caf\xc3\xa9"), "control bytes become spaces, invalid UTF-8 '?', valid UTF-8 stays");

    big = malloc(2 * GEN_MAX_DOC + 64);
    if (big == NULL)
        BAIL_OUT("out of memory");
    memcpy(big, "package p;\n// ", 14);
    n = 14;
    for (i = 0; i < GEN_MAX_DOC; i++, n += 2)
        memcpy(big + n, "\xc3\xa9", 2);      /* twice as many bytes as a doc may hold, all two-byte characters */
    memcpy(big + n, "\nmessage M {}\n", 15); /* with its NUL */
    u = parse(&a, &d, big);
    ok_eq(d.errors, 0, "a long comment parses");
    ok(u->messages->doc != NULL && strlen(u->messages->doc) <= GEN_MAX_DOC, "its doc is cut at GEN_MAX_DOC bytes");
    ok(u->messages->doc != NULL && strlen(u->messages->doc) % 2 == 0, "the cut does not split a UTF-8 sequence");
    free(big);

    u = parse(&a, &d, "package p; message M { string s = 1; }");
    ok(u->messages != NULL && str_eq(u->messages->doc, NULL) && str_eq(u->pkg_doc, NULL), "no comment, no doc");
    u = parse(&a, &d, "package p; /* a */\nmessage M {}\n");
    ok(str_eq(u->messages->doc, NULL), "a comment on the line of the previous token documents nothing");
    u = parse(&a, &d, "package p;\n// a\n/* b */\nmessage M {}\n");
    ok(str_eq(u->messages->doc, "a\nb"), "line and block comments join into one doc");
    u = parse(&a, &d, "package p;\n/* open");
    ok_eq(d.errors, 1, "an unterminated comment is one error");
    gen_arena_free(&a);
    return done_testing();
}
