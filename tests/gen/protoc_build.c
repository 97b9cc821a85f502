/*
 * protoc_build: what trpc-gen writes is real protobuf-c code. The shop example and the store
 * contracts (with an import and enums) go through trpc-gen and protoc-c; every .pb-c.c compiles
 * with the configured C compiler and -Wall -Wextra -Werror, and a program linked with them packs
 * an Order and a store Item and unpacks them again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tap.h"

static const char roundtrip_c[] =
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "#include \"shop.pb-c.h\"\n"
    "#include \"store.pb-c.h\"\n"
    "int main(void)\n"
    "{\n"
    "    Shop__Order o = SHOP__ORDER__INIT, *back;\n"
    "    Acme__Store__Item item = ACME__STORE__ITEM__INIT, *item_back;\n"
    "    Common__Money price = COMMON__MONEY__INIT;\n"
    "    char *items[] = {\"tea\", \"cake\"};\n"
    "    uint8_t buf[256];\n"
    "    size_t n;\n"
    "    int ok;\n"
    "    o.id = \"o-1\";\n"
    "    o.amount_cents = 1250;\n"
    "    o.n_items = 2;\n"
    "    o.items = items;\n"
    "    n = shop__order__pack(&o, buf);\n"
    "    back = shop__order__unpack(NULL, n, buf);\n"
    "    ok = back != NULL && strcmp(back->id, \"o-1\") == 0 && back->amount_cents == 1250 && back->n_items == 2 &&\n"
    "         strcmp(back->items[1], \"cake\") == 0;\n"
    "    shop__order__free_unpacked(back, NULL);\n"
    "    price.minor_units = -5;\n"
    "    price.currency = COMMON__CURRENCY__JPY;\n"
    "    item.sku = \"s\";\n"
    "    item.price = &price;\n"
    "    item.shipping = ACME__STORE__SHIPPING__EXPRESS;\n"
    "    item.fallback = ACME__STORE__SHIPPING__EXPRESS;\n"
    "    n = acme__store__item__pack(&item, buf);\n"
    "    item_back = acme__store__item__unpack(NULL, n, buf);\n"
    "    ok = ok && item_back != NULL && item_back->price->minor_units == -5 &&\n"
    "         item_back->price->currency == COMMON__CURRENCY__JPY && item_back->fallback == ACME__STORE__SHIPPING__EXPRESS;\n"
    "    acme__store__item__free_unpacked(item_back, NULL);\n"
    "    return ok ? 0 : 1;\n"
    "}\n";

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    diag("$ %s", cmd);
    fflush(stdout);
    rc = system(cmd);
    return rc;
}

int main(void)
{
    const char *src = getenv("top_srcdir"), *build = getenv("top_builddir");
    char tmp[] = "/tmp/trpc-gen-build.XXXXXX";
    const char *units[] = {"shop", "store", "common"};
    char abs_build[4096], path[4200];
    FILE *f;
    size_t i;

    if (src == NULL || build == NULL)
        BAIL_OUT("top_srcdir and top_builddir must be set (make check sets them)");
    if (realpath(build, abs_build) == NULL || mkdtemp(tmp) == NULL)
        BAIL_OUT("cannot set up a scratch directory");
    plan(7);
    ok(run("%s/gen/trpc-gen -o %s %s/examples/shop/shop.trpc %s/tests/gen/good/store.trpc >&2", abs_build, tmp, src, src) == 0,
       "trpc-gen and protoc-c compile shop.trpc and store.trpc");
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        ok(run("cd %s && %s %s -std=c11 -Wall -Wextra -Werror -c %s.pb-c.c -o %s.o >&2", tmp, GEN_TEST_CC, GEN_TEST_PROTOBUF_CFLAGS,
               units[i], units[i]) == 0,
           "%s.pb-c.c compiles with -Wall -Wextra -Werror", units[i]);
    snprintf(path, sizeof(path), "%s/roundtrip.c", tmp);
    f = fopen(path, "w");
    if (f == NULL)
        BAIL_OUT("cannot write %s", path);
    fputs(roundtrip_c, f);
    fclose(f);
    ok(run("cd %s && %s %s -std=c11 -Wall -Wextra -Werror roundtrip.c shop.o store.o common.o %s -o roundtrip >&2", tmp,
           GEN_TEST_CC, GEN_TEST_PROTOBUF_CFLAGS, GEN_TEST_PROTOBUF_LIBS) == 0,
       "a program using the generated types links");
    ok(run("%s/roundtrip", tmp) == 0, "messages pack and unpack through the generated code");
    ok(run("rm -rf %s", tmp) == 0, "scratch directory removed");
    return done_testing();
}
