/* The admin API's lists end a page early rather than send a reply its requester's connection could
 * not hold (docs/admin-api.md, clients.list): with max-output-bytes at 64 KiB, a list of 600 long
 * subscriptions comes in pages of at most 32 KiB, and paging on by what each page held lists every
 * one exactly once. */
#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define NSUBS  600
#define BUDGET (64 * 1024 / 2)

static void noop_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c, (void)sub, (void)ud;
    trpc_msg_free(m);
}

int main(void)
{
    static bool seen[NSUBS];
    struct broker_proc b;
    trpc_client *c, *admin;
    char pattern[256], doc[64];
    long long total = -1, offset = 0;
    size_t pages = 0, listed = 0, dup = 0, biggest = 0;
    bool ok_all = true;

    plan(5);
    broker_up(&b, (const char *[]){"--cores", "2", "--max-frame", "64k", "--max-output-bytes", "64k", NULL});
    c = connect_or_bail(&b, NULL);
    admin = connect_or_bail(&b, NULL);
    for (int i = 0; i < NSUBS; i++) {
        trpc_sub *s;

        snprintf(pattern, sizeof(pattern), "pages.%04d.%0230d", i, 0);
        if (trpc_subscribe(c, pattern, noop_cb, NULL, &s) != 0)
            BAIL_OUT("subscribe %d: %s", i, trpc_last_error());
    }
    if (trpc_flush(c, 5000) != 0)
        BAIL_OUT("flush: %s", trpc_last_error());

    while (ok_all && (total < 0 || offset < total) && pages < 1000) {
        json_t *j, *list, *it;
        size_t i, len;

        snprintf(doc, sizeof(doc), "{\"offset\": %lld, \"limit\": 10000}", offset);
        j = adminc_call(admin, "subs.list", doc);
        list = json_object_get(j, "subscriptions");
        if (!adminc_ok(j) || !json_is_array(list) || json_array_size(list) == 0) {
            ok_all = false;
            json_decref(j);
            break;
        }
        total = json_integer_value(json_object_get(j, "total"));
        len = json_dumpb(j, NULL, 0, JSON_COMPACT);
        biggest = len > biggest ? len : biggest;
        json_array_foreach(list, i, it)
        {
            const char *p = json_string_value(json_object_get(it, "pattern"));
            int k;

            if (p != NULL && sscanf(p, "pages.%d.", &k) == 1 && k >= 0 && k < NSUBS) {
                dup += seen[k];
                seen[k] = true;
                listed++;
            }
        }
        offset += (long long)json_array_size(list);
        pages++;
        json_decref(j);
    }
    ok(ok_all && total >= NSUBS, "every page answered (%zu pages, total %lld)", pages, total);
    ok(pages > 1, "the list came in more than one page (%zu)", pages);
    ok(biggest <= BUDGET, "no reply above half of max-output-bytes (largest %zu bytes)", biggest);
    ok(listed == NSUBS && dup == 0, "paging on listed each subscription once (%zu listed, %zu twice)", listed, dup);
    ok(trpc_flush(admin, 5000) == 0, "the admin client was never cut off");
    trpc_close(admin);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
