/*
 * Fuzz target for the admin API's request handler (src/admin_api.c), as the control thread runs
 * it. The input is text: the first line is the verb ("settings.set"), the rest the request
 * document. The broker behind it has no cores (questions to them are answered at once, empty),
 * so every verb runs to its reply. The oracles: exactly one reply, synchronously; it is a JSON
 * object with a boolean "ok"; a failure carries a known code and a non-empty message; a setting
 * changed is one of the live ones, and the settings stay valid (config_validate).
 */
#include <jansson.h>
#include <string.h>

#include "src/admin_api.h"
#include "src/control.h"
#include "src/core.h"
#include "tests/fuzz/fuzz.h"

static const char *const codes[] = {"BAD_REQUEST", "UNKNOWN_VERB", "NOT_FOUND", "NOT_LIVE", "INVALID_VALUE", "BUSY", "INTERNAL"};

static int replies;

static void done(struct control *ctl, struct admin_call *call, char *doc, size_t len)
{
    json_error_t err;
    json_t *j, *ok, *e;

    (void)ctl;
    (void)call;
    replies++;
    FUZZ_ASSERT(doc != NULL);
    j = json_loadb(doc, len, 0, &err);
    FUZZ_ASSERT(j != NULL && json_is_object(j));
    ok = json_object_get(j, "ok");
    FUZZ_ASSERT(json_is_boolean(ok));
    if (json_is_false(ok)) {
        const char *code = NULL, *msg = NULL;
        bool known = false;

        e = json_object_get(j, "error");
        FUZZ_ASSERT(json_unpack(e, "{s:s, s:s}", "code", &code, "message", &msg) == 0);
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
            known = known || strcmp(code, codes[i]) == 0;
        FUZZ_ASSERT(known && msg[0] != '\0');
    }
    json_decref(j);
    free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct broker b;
    static struct control ctl;
    struct admin_call call = {.done = done};
    char msg[CONFIG_ERR_MAX];
    const uint8_t *nl = memchr(data, '\n', size);
    size_t vlen = nl != NULL ? (size_t)(nl - data) : size;

    if (ctl.b == NULL) {
        config_defaults(&b.cfg);
        b.ncores = 0;
        ctl.b = &b;
    }
    ctl.cfg = b.cfg; /* every input starts from the defaults */
    if (vlen >= sizeof(call.verb))
        return 0;
    memcpy(call.verb, data, vlen);
    call.verb[vlen] = '\0';
    call.doc = nl != NULL ? nl + 1 : data + size;
    call.len = nl != NULL ? size - vlen - 1 : 0;
    call.too_large = call.len > ADMIN_DOC_MAX;
    replies = 0;
    admin_api_call(&ctl, &call);
    FUZZ_ASSERT(replies == 1);
    FUZZ_ASSERT(config_validate(&ctl.cfg, msg, sizeof(msg)) == 0);
    for (size_t i = 0;; i++) {
        struct config_option_info o;
        char before[CONFIG_PATH_MAX + 16], after[CONFIG_PATH_MAX + 16];

        if (config_option_info(i, &o) != 0)
            break;
        config_get(&b.cfg, o.name, before, sizeof(before));
        config_get(&ctl.cfg, o.name, after, sizeof(after));
        FUZZ_ASSERT(o.live || strcmp(before, after) == 0);
    }
    return 0;
}
