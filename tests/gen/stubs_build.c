/*
 * stubs_build: the C stubs trpc-gen writes compile cleanly, and their types catch wrong calls.
 * For the shop example and the store and features contracts (imports, several services, events
 * with and without policies, long names): every X.trpc.c compiles as C11 with -Wall -Wextra
 * -Werror and the project's extra warnings, with the configured compiler and with clang; all
 * headers together compile as C++ with g++ -Wall -Wextra -Werror; a program using every kind of
 * stub correctly compiles; and programs that pass a wrong message type or put a handler of the
 * wrong kind in the handler table do not. Contracts at the edges of the language (edges[]) compile
 * too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tap.h"

#define WARN "-std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla"

static const char use_c[] =
    "#include \"shop.trpc.h\"\n"
    "static enum trpc_stub_verdict charge(void *ud, const trpc_msg *msg, const Shop__Order *req, Shop__Receipt *resp,\n"
    "                                     struct trpc_stub_error *err)\n"
    "{\n"
    "    (void)ud; (void)msg;\n"
    "    if (req->amount_cents < 0)\n"
    "        return trpc_stub_fail(err, 400, \"negative amount %lld\", (long long)req->amount_cents);\n"
    "    resp->order_id = req->id;\n"
    "    return TRPC_STUB_OK;\n"
    "}\n"
    "static enum trpc_stub_verdict placed(void *ud, const trpc_msg *msg, const Shop__Order *ev, uint32_t *delay)\n"
    "{\n"
    "    (void)ud; (void)msg; (void)ev; *delay = 100;\n"
    "    return TRPC_STUB_NACK;\n"
    "}\n"
    "static void done(trpc_client *c, int rc, Shop__Receipt *resp, const struct trpc_stub_error *err, void *ud)\n"
    "{\n"
    "    (void)c; (void)rc; (void)err; (void)ud;\n"
    "    shop__receipt__free_unpacked(resp, NULL);\n"
    "}\n"
    "int use(trpc_client *c);\n"
    "int use(trpc_client *c)\n"
    "{\n"
    "    struct shop_billing_handlers h = {.on_charge = charge, .on_refund = charge, .on_placed = placed};\n"
    "    struct shop_billing_server srv;\n"
    "    struct shop_billing_placed_sub sub;\n"
    "    struct trpc_stub_error err;\n"
    "    Shop__Order o = SHOP__ORDER__INIT;\n"
    "    Shop__Receipt *r = NULL;\n"
    "    int rc = shop_billing_serve(c, &srv, &h, NULL);\n"
    "    rc = rc ? rc : shop_billing_charge(c, &o, &r, 0, &err);\n"
    "    rc = rc ? rc : shop_billing_charge_async(c, &o, 100, done, NULL);\n"
    "    rc = rc ? rc : shop_billing_refund(c, &o, &r, 0, &err);\n"
    "    rc = rc ? rc : shop_billing_refund_async(c, &o, 100, done, NULL);\n"
    "    rc = rc ? rc : shop_billing_placed_publish(c, &o);\n"
    "    rc = rc ? rc : shop_billing_placed_subscribe(c, &sub, \"audit\", placed, NULL);\n"
    "    shop_billing_placed_unsubscribe(&sub);\n"
    "    shop_billing_stop(&srv);\n"
    "    return rc;\n"
    "}\n";

/* Each must fail to compile, for the reason that it passes a wrong type where the stubs expect
 * another (so a typo in the snippet cannot pass the test). */
static const struct {
    const char *what, *body;
} wrong[] = {
    {"a Receipt passed as the request of Charge",
     "int f(trpc_client *c);\nint f(trpc_client *c)\n{\n    Shop__Receipt r = SHOP__RECEIPT__INIT, *out;\n"
     "    return shop_billing_charge(c, &r, &out, 0, NULL);\n}\n"},
    {"an Order pointer where the reply goes",
     "int f(trpc_client *c);\nint f(trpc_client *c)\n{\n    Shop__Order o = SHOP__ORDER__INIT, *out;\n"
     "    return shop_billing_charge(c, &o, &out, 0, NULL);\n}\n"},
    {"an event handler in the rpc's slot of the handler table",
     "static enum trpc_stub_verdict placed(void *ud, const trpc_msg *m, const Shop__Order *ev, uint32_t *d)\n"
     "{ (void)ud; (void)m; (void)ev; (void)d; return TRPC_STUB_ACK; }\n"
     "struct shop_billing_handlers h = {.on_charge = placed, .on_placed = placed};\n"},
    {"a Receipt published as the Placed event",
     "int f(trpc_client *c);\nint f(trpc_client *c)\n{\n    Shop__Receipt r = SHOP__RECEIPT__INIT;\n"
     "    return shop_billing_placed_publish(c, &r);\n}\n"},
};

/*
 * Contracts at the edges of the language, each with the defect it once had: trpc-gen must compile
 * them into C that compiles as the project builds (-std=gnu11 -Wall -Wextra -Werror). The first
 * file is the one named on the command line; the others are what it imports, or C files compiled
 * with the generated ones.
 */
static const struct {
    const char *what;
    const char *files[4][2]; /* file name, contents */
} edges[] = {
    {"an imported type used only in an rpc gets its import",
     {{"shop.trpc", "package shop; import \"common.trpc\"; message Receipt { bool ok = 1; }\n"
                    "service Billing { rpc Charge(common.Order) returns (Receipt); }\n"},
      {"common.trpc", "package common; message Order { string id = 1; }\n"}}},
    {"a same-package split file whose types only methods use",
     {{"a.trpc", "package p; import \"b.trpc\"; service S { rpc Get(Req) returns (Rep); event Seen(Req); }\n"},
      {"b.trpc", "package p; message Req { string id = 1; } message Rep { bool ok = 1; }\n"}}},
    {"types named like words of the proto grammar",
     {{"k.trpc", "package k; message optional { int32 a = 1; } message required { int32 a = 1; }\n"
                 "message oneof { int32 a = 1; } message reserved { int32 a = 1; } message option { int32 a = 1; }\n"
                 "message extend { int32 a = 1; } message group { int32 a = 1; } message extensions { int32 a = 1; }\n"
                 "message map { int32 a = 1; } enum stream { S0 = 0; }\n"
                 "message W { optional a = 1; required b = 2; oneof c = 3; reserved d = 4; option e = 5; extend f = 6;\n"
                 "  group g = 7; extensions h = 8; map i = 9; repeated optional j = 10; stream k = 11; }\n"
                 "service S { rpc Get(optional) returns (W); }\n"}}},
    {"'?\?' in topics and doc comments forms no trigraph",
     {{"tri.trpc", "package tri;\n"
                   "// A doc ending in a trigraph?\?/\n"
                   "message M {\n"
                   "  // the id?\?/\n"
                   "  string id = 1;\n"
                   "  // a mode?\?/\n"
                   "  Mode mode = 2;\n"
                   "}\n"
                   "// modes?\?/\n"
                   "enum Mode {\n"
                   "  // none?\?/\n"
                   "  MODE_NONE = 0;\n"
                   "}\n"
                   "// a service?\?/\n"
                   "service S {\n"
                   "  // a call?\?/\n"
                   "  rpc Get(M) returns (M) { topic = \"t.a?\?/\"; }\n"
                   "  event Seen(M) { topic = \"t.b?\?=\"; max_deliveries = 2; dlq = \"t.c?\?/\"; }\n"
                   "}\n"}}},
    {"a-b.trpc and a_b.trpc have headers with their own guards",
     {{"x.trpc", "package x; import \"a-b.trpc\"; import \"a_b.trpc\"; message X { p1.M m = 1; p2.M n = 2; }\n"},
      {"a-b.trpc", "package p1; message M { int32 a = 1; } service S { rpc Get(M) returns (M); }\n"},
      {"a_b.trpc", "package p2; message M { int32 a = 1; } service S { rpc Get(M) returns (M); }\n"},
      {"both.c", "#include \"a-b.trpc.h\"\n#include \"a_b.trpc.h\"\n"
                 "const char *groups[] = {P1_S_GROUP, P2_S_GROUP};\n"}}},
};

__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    diag("$ %s", cmd);
    fflush(stdout);
    return system(cmd);
}

static void write_file(const char *dir, const char *name, const char *head, const char *body)
{
    char path[4200];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL)
        BAIL_OUT("cannot write %s", path);
    fputs(head, f);
    fputs(body, f);
    fclose(f);
}

/* Writes edges[i]'s contracts into their own directory under tmp, runs trpc-gen on the first and
 * compiles every .c it wrote. */
static int build_edge(const char *tmp, const char *abs_build, const char *inc, size_t i)
{
    char dir[4200];
    size_t j;

    snprintf(dir, sizeof(dir), "%s/edge%zu", tmp, i);
    if (run("mkdir -p %s", dir) != 0)
        return -1;
    for (j = 0; j < 4 && edges[i].files[j][0] != NULL; j++)
        write_file(dir, edges[i].files[j][0], "", edges[i].files[j][1]);
    return run("cd %s && %s/gen/trpc-gen -o . %s >&2 && for f in *.c; do %s -std=gnu11 -Wall -Wextra -Werror -I. %s -c $f -o "
               "$f.o >&2 || exit 1; done",
               dir, abs_build, edges[i].files[0][0], GEN_TEST_CC, inc);
}

int main(void)
{
    const char *src = getenv("top_srcdir"), *build = getenv("top_builddir");
    const char *units[] = {"shop", "store", "features", "common"};
    char tmp[] = "/tmp/trpc-gen-stubs.XXXXXX";
    char abs_build[4096], abs_src[4096], inc[9000];
    size_t i;
    int have_cxx = system("command -v g++ >/dev/null 2>&1") == 0;

    if (src == NULL || build == NULL)
        BAIL_OUT("top_srcdir and top_builddir must be set (make check sets them)");
    if (realpath(build, abs_build) == NULL || realpath(src, abs_src) == NULL || mkdtemp(tmp) == NULL)
        BAIL_OUT("cannot set up a scratch directory");
    snprintf(inc, sizeof(inc), "-I%s/gen/include -I%s/driver/include -I%s %s", abs_src, abs_src, tmp, GEN_TEST_PROTOBUF_CFLAGS);
    plan(15 + (int)(sizeof(edges) / sizeof(edges[0])));
    ok(run("%s/gen/trpc-gen -o %s %s/examples/shop/shop.trpc %s/tests/gen/good/store.trpc %s/tests/gen/good/features.trpc >&2",
           abs_build, tmp, abs_src, abs_src, abs_src) == 0,
       "trpc-gen writes the stubs of shop, store and features");
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        ok(run("cd %s && %s %s %s -c %s.trpc.c -o %s.trpc.o >&2", tmp, GEN_TEST_CC, WARN, inc, units[i], units[i]) == 0,
           "%s.trpc.c compiles as C with -Wall -Wextra -Werror", units[i]);
    write_file(tmp, "all.cc",
               "#include \"shop.trpc.h\"\n#include \"store.trpc.h\"\n#include \"features.trpc.h\"\n"
               "#include \"common.trpc.h\"\n#include \"shop.trpc.h\"\n",
               "int main() { acme_features_catalogue_server s; (void)s; return 0; }\n");
    if (have_cxx)
        ok(run("cd %s && g++ -std=c++11 -Wall -Wextra -Werror %s -c all.cc -o all.o >&2", tmp, inc) == 0,
           "all headers compile together as C++ with g++ -Wall -Wextra -Werror");
    else
        printf("ok %d # SKIP g++ is not installed\n", ++tap_run_);
    if (system("command -v clang >/dev/null 2>&1") == 0)
        ok(run("cd %s && for u in shop store features common; do clang %s %s -c $u.trpc.c -o $u.clang.o || exit 1; done >&2", tmp,
               WARN, inc) == 0,
           "every X.trpc.c also compiles with clang -Wall -Wextra -Werror");
    else
        printf("ok %d # SKIP clang is not installed\n", ++tap_run_);
    write_file(tmp, "use.c", "", use_c);
    ok(run("cd %s && %s %s %s -c use.c -o use.o >&2", tmp, GEN_TEST_CC, WARN, inc) == 0,
       "a program using calls, async calls, publish, subscribe and the handler table compiles");
    for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        write_file(tmp, "wrong.c", "#include \"shop.trpc.h\"\n", wrong[i].body);
        ok(run("cd %s && %s %s %s -c wrong.c -o wrong.o 2>&1 | grep 'incompatible pointer type' >&2", tmp, GEN_TEST_CC, WARN,
               inc) == 0,
           "does not compile: %s", wrong[i].what);
    }
    ok(run("head -n 1 %s/shop.trpc.h %s/shop.trpc.c | grep -c '^/\\* DO NOT EDIT — generated by trpc-gen from shop.trpc \\*/$' | "
           "grep -qx 2",
           tmp, tmp) == 0,
       "both files start with the DO NOT EDIT line");
    ok(run("grep -q 'Charges the order.s amount; the caller waits up to two seconds.' %s/shop.trpc.h", tmp) == 0,
       "the contract's doc comments are in the header");
    for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
        ok(build_edge(tmp, abs_build, inc, i) == 0, "compiles: %s", edges[i].what);
    ok(run("rm -rf %s", tmp) == 0, "scratch directory removed");
    return done_testing();
}
