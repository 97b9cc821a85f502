/*
 * trpcctl's table renderer: columns as wide as their widest cell (characters, not bytes), numbers
 * right-aligned, no trailing blanks, control characters (C0 and C1) replaced so a document cannot
 * drive the terminal, cells cut at CTL_CELL_MAX_CHARS, and as many rows as are added.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "tests/ctl/show.h"
#include "tests/tap.h"

static char *print(const struct ctl_table *t)
{
    char *text = NULL;
    size_t n;
    FILE *f = open_memstream(&text, &n);

    if (f == NULL)
        exit(99);
    ctl_table_print(t, f);
    fclose(f);
    return text;
}

int main(void)
{
    static const char *const cols[] = {"ID:r", "NAME:l", "NOTE:l"};
    struct ctl_table t;
    char *text, *p;
    char long_cell[300];
    bool all = true;

    ctl_table_init(&t, 3, cols);
    ok(ctl_table_add(&t, (const char *const[]){"7", "a", "x"}) == 0, "a row is added");
    ok(ctl_table_add(&t, (const char *const[]){"12345", "Zoë-Ωμέγα", NULL}) == 0, "a row with UTF-8 and a NULL cell");
    text = print(&t);
    ok(same_text(text, "   ID  NAME       NOTE\n"
                       "    7  a          x\n"
                       "12345  Zoë-Ωμέγα  -\n"),
       "aligned by characters, numbers to the right, NULL as '-', no trailing blanks");
    free(text);
    ctl_table_free(&t);

    ctl_table_init(&t, 3, cols);
    ok(ctl_table_add(&t, (const char *const[]){"1", "evil\x1b[2J\r\x7f",
                                               "c1 \xc2\x9b"
                                               "31m \xc2\xa0ok"}) == 0,
       "a row with control characters");
    text = print(&t);
    ok(same_text(text, "ID  NAME        NOTE\n"
                       " 1  evil?[2J??  c1 ?31m \xc2\xa0ok\n"),
       "C0 controls, DEL and the C1 CSI become '?', a no-break space stays");
    free(text);
    ctl_table_free(&t);

    memset(long_cell, 'x', sizeof(long_cell) - 1);
    long_cell[sizeof(long_cell) - 1] = '\0';
    ctl_table_init(&t, 3, cols);
    ok(ctl_table_add(&t, (const char *const[]){"1", long_cell, "é"}) == 0, "a row with a 299-character cell");
    text = print(&t);
    p = strchr(text, '\n') + 1;
    ok(strncmp(p + 4, long_cell, CTL_CELL_MAX_CHARS - 3) == 0 && strcmp(p + 4 + CTL_CELL_MAX_CHARS - 3, "...  é\n") == 0,
       "cut at %d characters, ending in '...'", CTL_CELL_MAX_CHARS);
    free(text);
    ctl_table_free(&t);

    /* The cut counts characters: a run of two-byte characters is not split inside one. */
    for (size_t i = 0; i + 2 < sizeof(long_cell); i += 2)
        memcpy(long_cell + i, "é", 2);
    long_cell[sizeof(long_cell) - 1 - (sizeof(long_cell) - 1) % 2] = '\0';
    p = ctl_printable(long_cell, CTL_CELL_MAX_CHARS);
    ok(p != NULL && strlen(p) == 2 * (CTL_CELL_MAX_CHARS - 3) + 3 && strcmp(p + strlen(p) - 3, "...") == 0,
       "a cell of two-byte characters is cut between characters");
    free(p);
    p = ctl_printable("a\x9b[31m\xff", 10);
    ok(p != NULL && same_text(p, "a?[31m\xff"), "a raw C1 byte (invalid UTF-8) becomes '?' too");
    free(p);

    ctl_table_init(&t, 3, cols);
    for (int i = 0; i < 10000 && all; i++) {
        char id[16];

        snprintf(id, sizeof(id), "%d", i);
        all = ctl_table_add(&t, (const char *const[]){id, "n", "x"}) == 0;
    }
    ok(all && t.nrows == 10000, "10000 rows (the broker's largest page)");
    text = print(&t);
    ok(strstr(text, "\n9999  n     x\n") != NULL, "the last one aligned with the rest");
    free(text);
    ctl_table_free(&t);
    ctl_table_free(&t);
    ok(t.nrows == 0 && t.cells == NULL, "free twice is harmless");
    return done_testing();
}
