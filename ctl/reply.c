/*
 * A reply of the admin API (docs/admin-api.md, "Replies"): a JSON object whose "ok" says which of
 * the two shapes it has. Parsed with JSON_REJECT_DUPLICATES (a document with a member twice is
 * ambiguous, so it is not shown as either reading) and with the length received: the payload is
 * not trusted to end in a NUL or to hold none.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

/* Characters of a broker's error message shown: one line, however long the broker makes it. */
#define ERROR_MAX_CHARS 1000

/* "trpcctl: AREA VERB: " then the text, made printable: it comes from the broker. */
static void say(const struct ctl_verb *v, FILE *errout, const char *prefix, const char *text)
{
    char *clean = ctl_printable(text, ERROR_MAX_CHARS);

    fprintf(errout, "trpcctl: %s %s: %s%s\n", v->area, v->verb, prefix, clean != NULL ? clean : "(out of memory)");
    free(clean);
}

/* The failure document's message ("code" if it has none, which a broker should not send). */
static int show_error(const struct ctl_verb *v, json_t *doc, FILE *errout)
{
    const char *code = NULL, *message = NULL;
    json_error_t e;

    if (json_unpack_ex(doc, &e, 0, "{s:{s?s, s?s}}", "error", "code", &code, "message", &message) == -1 ||
        (code == NULL && message == NULL)) {
        say(v, errout, "invalid reply from the broker: an error without error.code or error.message", "");
        return CTL_EXIT_FAIL;
    }
    say(v, errout, "", message != NULL ? message : code);
    return CTL_EXIT_FAIL;
}

int ctl_reply_show(const struct ctl_verb *v, const void *data, size_t len, bool json, FILE *out, FILE *errout)
{
    json_error_t e;
    json_t *doc, *okv;
    char err[256];
    int status;

    doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &e);
    if (doc == NULL) {
        snprintf(err, sizeof(err), "line %d, column %d: %s", e.line, e.column, e.text);
        say(v, errout, "invalid reply from the broker: not JSON: ", err);
        return CTL_EXIT_FAIL;
    }
    okv = json_object_get(doc, "ok");
    if (!json_is_object(doc) || !json_is_boolean(okv)) {
        say(v, errout, "invalid reply from the broker: ", json_is_object(doc) ? "no boolean member \"ok\"" : "not a JSON object");
        status = CTL_EXIT_FAIL;
        goto out_free;
    }
    if (json) {
        fwrite(data, 1, len, out);
        fputc('\n', out);
    }
    if (!json_is_true(okv)) {
        status = show_error(v, doc, errout);
        goto out_free;
    }
    status = CTL_EXIT_OK;
    if (!json) {
        int rc = v->render(doc, out, err, sizeof(err));

        if (rc == -ENOMEM) {
            fprintf(errout, "trpcctl: out of memory\n");
            status = CTL_EXIT_FAIL;
        } else if (rc) {
            say(v, errout, "invalid reply from the broker: ", err);
            status = CTL_EXIT_FAIL;
        }
    }
out_free:
    json_decref(doc);
    return status;
}
