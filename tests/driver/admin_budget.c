/* stream.get and dlq.list keep their replies within the admin API's reply budget, half of
 * max-output-bytes (docs/admin-api.md, stream.get and dlq.list), as the lists do: with
 * max-output-bytes at 64 KiB, a message of 60000 bytes (80000 in base64) is shown without its body
 * rather than get the admin client cut off as a slow consumer by its own answer, one whose headers
 * alone pass the budget without them too, and dlq.list over messages of some KiB each pages early,
 * every one listed exactly once by paging on from next_seq. */
#include <stdlib.h>

#include "tests/driver/adminc.h"
#include "tests/driver/helpers.h"

#define BUDGET    (64 * 1024 / 2)
#define NSMALL    9 /* of SMALL_LEN bytes: about 10 KiB of JSON each */
#define SMALL_LEN 4000
#define BIG_LEN   60000 /* not UTF-8: base64 alone is 80000 bytes */
#define HDR_LEN   12000 /* control bytes: six of JSON each */
#define NMSGS     (NSMALL + 2)

static json_t *get(trpc_client *c, uint64_t seq)
{
    char doc[96];

    snprintf(doc, sizeof(doc), "{\"name\": \"big\", \"seq\": %llu}", (unsigned long long)seq);
    return adminc_call(c, "stream.get", doc);
}

static size_t doc_len(json_t *j)
{
    return j != NULL ? json_dumpb(j, NULL, 0, JSON_COMPACT) : 0;
}

int main(void)
{
    static bool seen[NMSGS + 1];
    struct broker_proc b;
    trpc_client *c, *admin;
    uint64_t seqs[NMSGS], next = 1;
    char *small, *big, *hval;
    trpc_header h = {"x-blob", NULL, HDR_LEN};
    size_t pages = 0, listed = 0, dup = 0, biggest = 0, most = 0;
    bool ok_all = true, big_omitted = false, small_whole = true, more = true;
    uint64_t admin_id;
    json_t *j;

    plan(12);
    broker_up(&b, (const char *[]){"--cores", "1", "--max-frame", "64k", "--max-output-bytes", "64k", NULL});
    c = connect_or_bail(&b, NULL);
    admin = connect_or_bail(&b, NULL);
    admin_id = trpc_client_id(admin);
    adminc_stream_add(c, "{\"name\": \"big\", \"subjects\": [\"big.>\"]}");

    small = malloc(SMALL_LEN);
    big = malloc(BIG_LEN);
    hval = malloc(HDR_LEN);
    if (small == NULL || big == NULL || hval == NULL)
        BAIL_OUT("out of memory");
    memset(small, 's', SMALL_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        big[i] = (char)(0x80 | (i & 0x3f)); /* continuation bytes only: never UTF-8 */
    memset(hval, 0x01, HDR_LEN);
    h.value = hval;
    /* The big one in the middle, the header-heavy one last, the small ones around them. */
    for (int i = 0; i < NMSGS; i++) {
        bool is_big = i == NSMALL / 2, is_hdr = i == NMSGS - 1;

        if (trpc_publish_sync(c, "big.x", is_hdr ? &h : NULL, is_hdr, is_big ? big : small, is_big ? BIG_LEN : SMALL_LEN, 5000,
                              &seqs[i]) != 0)
            BAIL_OUT("publish %d: %s", i, trpc_last_error());
    }

    j = get(admin, seqs[0]);
    ok(adminc_ok(j) && json_string_length(json_object_get(j, "payload")) == SMALL_LEN &&
           json_is_false(json_object_get(j, "payload_omitted")) && json_is_false(json_object_get(j, "headers_omitted")),
       "stream.get of a small message: its payload whole, payload_omitted false");
    json_decref(j);

    j = get(admin, seqs[NSMALL / 2]);
    ok(adminc_ok(j) && json_is_true(json_object_get(j, "payload_omitted")) && json_is_null(json_object_get(j, "payload_base64")) &&
           json_is_null(json_object_get(j, "payload")),
       "stream.get of a message whose reply would pass the budget: payload_omitted, no payload");
    ok(adminc_int(j, "size") == BIG_LEN && adminc_int(j, "seq") == (long long)seqs[NSMALL / 2] &&
           json_is_string(json_object_get(j, "topic")) && json_is_array(json_object_get(j, "headers")),
       "its metadata is there: seq, topic, headers, size %lld", adminc_int(j, "size"));
    ok(doc_len(j) <= BUDGET, "the reply is within half of max-output-bytes (%zu bytes)", doc_len(j));
    json_decref(j);

    j = get(admin, seqs[NMSGS - 1]);
    ok(adminc_ok(j) && json_is_true(json_object_get(j, "headers_omitted")) && json_array_size(json_object_get(j, "headers")) == 0 &&
           adminc_int(j, "size") == SMALL_LEN && doc_len(j) <= BUDGET,
       "headers that alone pass the budget are left out too (%zu bytes)", doc_len(j));
    json_decref(j);

    while (ok_all && more && pages < 100) {
        char doc[128];
        json_t *list, *it;
        size_t i;

        snprintf(doc, sizeof(doc), "{\"stream\": \"big\", \"from\": %llu, \"limit\": 1000}", (unsigned long long)next);
        j = adminc_call(admin, "dlq.list", doc);
        list = json_object_get(j, "messages");
        if (!adminc_ok(j) || !json_is_array(list) || json_array_size(list) == 0) {
            ok_all = false;
            json_decref(j);
            break;
        }
        biggest = doc_len(j) > biggest ? doc_len(j) : biggest;
        most = json_array_size(list) > most ? json_array_size(list) : most;
        json_array_foreach(list, i, it)
        {
            long long seq = adminc_int(it, "seq");
            int k = -1;

            for (int m = 0; m < NMSGS; m++)
                k = (long long)seqs[m] == seq ? m : k;
            if (k < 0)
                continue;
            dup += seen[k];
            seen[k] = true;
            listed++;
            if (k == NSMALL / 2)
                big_omitted = json_is_true(json_object_get(it, "payload_omitted")) && adminc_int(it, "size") == BIG_LEN;
            else if (k != NMSGS - 1)
                small_whole &= json_string_length(json_object_get(it, "payload")) == SMALL_LEN;
        }
        next = (uint64_t)adminc_int(j, "next_seq");
        more = json_is_true(json_object_get(j, "more"));
        pages++;
        json_decref(j);
    }
    ok(ok_all && !more, "every page of dlq.list answered, the last with more false (%zu pages)", pages);
    ok(pages > 3, "it came in more pages than the big messages alone make (%zu)", pages);
    ok(most > 1, "a page holds several small messages (at most %zu)", most);
    ok(biggest <= BUDGET, "no dlq.list reply above half of max-output-bytes (largest %zu bytes)", biggest);
    ok(listed == NMSGS && dup == 0, "paging on from next_seq listed each message once (%zu listed, %zu twice)", listed, dup);
    ok(big_omitted && small_whole, "the big one without its body, the small ones whole");
    /* The same id: a cut client would have come back under a new one. */
    ok(trpc_flush(admin, 5000) == 0 && trpc_client_id(admin) == admin_id, "the admin client was never cut off");

    free(small);
    free(big);
    free(hval);
    trpc_close(admin);
    trpc_close(c);
    broker_proc_stop(&b);
    return done_testing();
}
