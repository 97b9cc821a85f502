/*
 * trpc_stream_declare: a stream declared through the broker's admin API (stream.add, idempotent),
 * for applications that bring their own streams. The request document is written here and the
 * reply read here, without a JSON library: the reply is the broker's, but it is still read as
 * untrusted bytes (bounded depth, every length checked, nothing assumed about its end).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/client.h"

#define DECLARE_DOC_MAX (64u << 10)
#define JSON_DEPTH_MAX  32
#define DECLARE_BUSY_MS 5000 /* taking turns with other declarations, when timeout_ms is 0 */

/* ---- writing ---------------------------------------------------------------------------------- */

struct out {
    char *buf;
    size_t len, cap;
    bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || o->len + n >= o->cap) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void put_str(struct out *o, const char *s)
{
    put(o, "\"", 1);
    for (; *s != '\0'; s++) {
        char esc[8];

        if (*s == '"' || *s == '\\') {
            esc[0] = '\\';
            esc[1] = *s;
            put(o, esc, 2);
        } else if ((unsigned char)*s < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)(unsigned char)*s);
            put(o, esc, 6);
        } else {
            put(o, s, 1);
        }
    }
    put(o, "\"", 1);
}

static void put_num(struct out *o, const char *key, uint64_t v)
{
    char num[64];

    snprintf(num, sizeof(num), ", \"%s\": %" PRIu64, key, v);
    put(o, num, strlen(num));
}

/* ---- reading ---------------------------------------------------------------------------------- */

struct in {
    const char *p, *end;
};

static void blanks(struct in *in)
{
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
        in->p++;
}

/* A string: its bytes (escapes other than \" and \\ kept as written) into out[0, cap), NUL-ended. */
static bool read_str(struct in *in, char *out, size_t cap)
{
    size_t n = 0;

    if (in->p >= in->end || *in->p != '"')
        return false;
    for (in->p++; in->p < in->end && *in->p != '"'; in->p++) {
        char ch = *in->p;

        if (ch == '\\') {
            if (++in->p >= in->end)
                return false;
            ch = *in->p == '"' || *in->p == '\\' || *in->p == '/' ? *in->p : *in->p == 'n' ? ' ' : '?';
        }
        if (n + 1 < cap)
            out[n++] = ch;
    }
    if (cap > 0)
        out[n] = '\0';
    if (in->p >= in->end)
        return false;
    in->p++;
    return true;
}

static bool skip_value(struct in *in, int depth);

/* An object: each member's key and value given to fn (which reads or skips the value). */
static bool read_object(struct in *in, int depth, bool (*fn)(struct in *in, const char *key, void *arg), void *arg)
{
    char key[64];

    if (depth > JSON_DEPTH_MAX || in->p >= in->end || *in->p != '{')
        return false;
    in->p++;
    blanks(in);
    if (in->p < in->end && *in->p == '}') {
        in->p++;
        return true;
    }
    for (;;) {
        blanks(in);
        if (!read_str(in, key, sizeof(key)))
            return false;
        blanks(in);
        if (in->p >= in->end || *in->p != ':')
            return false;
        in->p++;
        blanks(in);
        if (fn != NULL ? !fn(in, key, arg) : !skip_value(in, depth + 1))
            return false;
        blanks(in);
        if (in->p < in->end && *in->p == ',') {
            in->p++;
            continue;
        }
        if (in->p < in->end && *in->p == '}') {
            in->p++;
            return true;
        }
        return false;
    }
}

static bool skip_value(struct in *in, int depth)
{
    char scratch[1];

    if (depth > JSON_DEPTH_MAX || in->p >= in->end)
        return false;
    if (*in->p == '"')
        return read_str(in, scratch, 0);
    if (*in->p == '{')
        return read_object(in, depth, NULL, NULL);
    if (*in->p == '[') {
        in->p++;
        blanks(in);
        if (in->p < in->end && *in->p == ']') {
            in->p++;
            return true;
        }
        for (;;) {
            blanks(in);
            if (!skip_value(in, depth + 1))
                return false;
            blanks(in);
            if (in->p < in->end && *in->p == ',') {
                in->p++;
                continue;
            }
            if (in->p < in->end && *in->p == ']') {
                in->p++;
                return true;
            }
            return false;
        }
    }
    /* true, false, null, a number: up to the next delimiter */
    {
        const char *start = in->p;

        while (in->p < in->end && *in->p != ',' && *in->p != '}' && *in->p != ']' && *in->p != ' ' && *in->p != '\n')
            in->p++;
        return in->p > start;
    }
}

struct reply {
    int ok, created; /* -1: absent */
    char code[48], message[256];
};

static bool read_bool(struct in *in, int *out)
{
    if (in->end - in->p >= 4 && memcmp(in->p, "true", 4) == 0) {
        in->p += 4;
        *out = 1;
        return true;
    }
    if (in->end - in->p >= 5 && memcmp(in->p, "false", 5) == 0) {
        in->p += 5;
        *out = 0;
        return true;
    }
    return false;
}

static bool error_member(struct in *in, const char *key, void *arg)
{
    struct reply *r = arg;

    if (strcmp(key, "code") == 0)
        return read_str(in, r->code, sizeof(r->code));
    if (strcmp(key, "message") == 0)
        return read_str(in, r->message, sizeof(r->message));
    return skip_value(in, 2);
}

static bool reply_member(struct in *in, const char *key, void *arg)
{
    struct reply *r = arg;

    if (strcmp(key, "ok") == 0)
        return read_bool(in, &r->ok);
    if (strcmp(key, "created") == 0)
        return read_bool(in, &r->created);
    if (strcmp(key, "error") == 0)
        return read_object(in, 1, error_member, r);
    return skip_value(in, 1);
}

int trpc__declare_reply(const void *data, size_t len, bool *created, bool *busy)
{
    struct in in = {.p = data, .end = (const char *)data + len};
    struct reply r = {.ok = -1, .created = -1};
    static const struct {
        const char *code;
        int err;
    } map[] = {{"STREAM_EXISTS", TRPC_E_STREAM_EXISTS},         {"BAD_REQUEST", TRPC_E_INVALID_ARGUMENT},
               {"SUBJECTS_OVERLAP", TRPC_E_INVALID_ARGUMENT},   {"STORAGE_FAILED", TRPC_E_STORAGE_FAILED},
               {"PERMISSION_DENIED", TRPC_E_PERMISSION_DENIED}, {"LIMIT", TRPC_E_INVALID_ARGUMENT}};

    *busy = false;
    blanks(&in);
    if (!read_object(&in, 0, reply_member, &r) || r.ok < 0)
        return trpc__fail(-TRPC_E_BAD_PAYLOAD, "trpc_stream_declare: the broker's reply is not an admin API document");
    if (r.ok == 1) {
        if (created != NULL)
            *created = r.created == 1;
        return 0;
    }
    *busy = strcmp(r.code, "BUSY") == 0;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(r.code, map[i].code) == 0)
            return trpc__fail(-map[i].err, "%s", r.message[0] ? r.message : r.code);
    return trpc__fail(-TRPC_E_UNAVAILABLE, "%s: %s", r.code[0] ? r.code : "refused", r.message);
}

/* ---- the call --------------------------------------------------------------------------------- */

int trpc_stream_declare(trpc_client *c, const char *name, const trpc_stream_config *cfg, int timeout_ms, bool *created)
{
    struct out o = {.cap = DECLARE_DOC_MAX};
    trpc_msg *reply = NULL;
    struct timespec start;
    int err;

    if (c == NULL || name == NULL || cfg == NULL || cfg->subjects == NULL || cfg->subject_count == 0)
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_stream_declare: a client, a name and at least one subject");
    o.buf = malloc(o.cap);
    if (o.buf == NULL)
        return trpc__fail(-TRPC_E_NO_MEMORY, "trpc_stream_declare: out of memory");
    put(&o, "{\"name\": ", 9);
    put_str(&o, name);
    put(&o, ", \"subjects\": [", 15);
    for (size_t i = 0; i < cfg->subject_count; i++) {
        if (cfg->subjects[i] == NULL) {
            free(o.buf);
            return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_stream_declare: subject %zu is NULL", i);
        }
        if (i > 0)
            put(&o, ", ", 2);
        put_str(&o, cfg->subjects[i]);
    }
    put(&o, "]", 1);
    if (cfg->max_msg_size != 0)
        put_num(&o, "max_msg_size", cfg->max_msg_size);
    if (cfg->max_msgs != 0)
        put_num(&o, "max_msgs", cfg->max_msgs);
    if (cfg->max_bytes != 0)
        put_num(&o, "max_bytes", cfg->max_bytes);
    if (cfg->max_age_ms != 0)
        put_num(&o, "max_age_ms", cfg->max_age_ms);
    if (cfg->discard_new)
        put(&o, ", \"discard\": \"new\"", 18);
    if (cfg->dedup_window_ms >= 0)
        put_num(&o, "dedup_window_ms", (uint64_t)cfg->dedup_window_ms);
    if (cfg->interest_retention)
        put(&o, ", \"retention\": \"interest\"", 25);
    put(&o, "}", 1);
    if (o.full) {
        free(o.buf);
        return trpc__fail(-TRPC_E_INVALID_ARGUMENT, "trpc_stream_declare: the definition is too large");
    }
    /* The broker makes one stream change at a time and answers BUSY meanwhile: instances of a
     * service that start together and declare together take turns, within the timeout. */
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned attempt = 0, left_ms = (unsigned)(timeout_ms > 0 ? timeout_ms : 0);; attempt++) {
        bool busy = false;
        struct timespec now;
        long waited_ms, budget = timeout_ms > 0 ? timeout_ms : DECLARE_BUSY_MS;

        /* Each attempt has what is left of the caller's timeout (0: the broker's default). */
        err = trpc_request(c, "$trpc.admin.stream.add", o.buf, o.len, (int)left_ms, &reply);
        if (err == -TRPC_E_NO_RESPONDERS)
            err = trpc__fail(err, "trpc_stream_declare: the broker does not answer $trpc.admin.stream.add");
        if (err == 0) {
            err = trpc__declare_reply(trpc_msg_data(reply), trpc_msg_len(reply), created, &busy);
            trpc_msg_free(reply);
            reply = NULL;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        waited_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (!busy || waited_ms >= budget - 1)
            break;
        /* 10 to 40 ms, more with each attempt (at most 320), within what is left: spread, so that
         * they do not meet again. */
        {
            long ms = (10L << (attempt < 5 ? attempt : 5)) + now.tv_nsec % 30;

            ms = ms > 320 ? 320 : ms;
            ms = ms > budget - waited_ms - 1 ? budget - waited_ms - 1 : ms;
            nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = ms * 1000000L}, NULL);
            if (timeout_ms > 0)
                left_ms = (unsigned)(budget - waited_ms - ms);
        }
    }
    free(o.buf);
    return err;
}
