/*
 * Fuzz target for the admin API's request handler (src/admin_api.c), as the control thread runs
 * it. The input is text: the first line is the verb ("settings.set"), the rest the request
 * document. The broker behind it has no cores (questions to them are answered at once, empty),
 * so every verb runs to its reply; its store is a real embedded one, in a directory of /dev/shm
 * (or $TMPDIR) removed at exit, so that settings.set and settings.reset write for real. The oracles: exactly one reply,
 * synchronously; it is a JSON object with a boolean "ok"; a failure carries a known code and a non-empty message; a setting changed
 * is one of the live ones, and the settings stay valid (config_validate).
 */
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/admin_api.h"
#include "src/control.h"
#include "src/core.h"
#include "tests/fuzz/fuzz.h"

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

        e = json_object_get(j, "error");
        FUZZ_ASSERT(json_unpack(e, "{s:s, s:s}", "code", &code, "message", &msg) == 0);
        FUZZ_ASSERT(admin_api_error_known(code) && msg[0] != '\0');
    }
    json_decref(j);
    free(doc);
}

static char dir[256];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_dir(void)
{
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void store_setup(struct broker *b, struct control *ctl)
{
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    char err[CONFIG_ERR_MAX];

    snprintf(dir, sizeof(dir), "%s/fuzz-admin-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    FUZZ_ASSERT(mkdtemp(dir) != NULL);
    atexit(rm_dir);
    snprintf(b->cfg.data_dir, sizeof(b->cfg.data_dir), "%s", dir);
    ctl->base = b->cfg;
    if (control_store_open(ctl, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_admin: %s\n", err);
        abort();
    }
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
        store_setup(&b, &ctl);
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
