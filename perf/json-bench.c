/*
 * perf/json-bench: the measurement behind the admin API's JSON library (docs/performance.md, "JSON
 * library for the admin API"). Builds, prints and parses a clients.list reply of 1000 clients and
 * a settings.set round trip with jansson, json-c or cJSON, one per build (jansson and json-c share
 * symbol names), and counts the bytes and allocations a parse and a build hold at their peak.
 * Not built by make: json-c and cJSON are not dependencies. Build it by hand:
 *
 *   for l in jansson:JANSSON json-c:JSONC libcjson:CJSON; do
 *       gcc -O2 -std=gnu11 -DLIB_${l#*:} -o json-bench-${l%:*} perf/json-bench.c $(pkg-config --cflags --libs ${l%:*})
 *   done
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Allocation accounting by interposition: the executable's malloc wins over libc's for the
 * shared JSON library too. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static size_t cur, peak, nallocs;
static void note_add(void *p)
{
    if (p) {
        cur += malloc_usable_size(p);
        if (cur > peak)
            peak = cur;
        nallocs++;
    }
}
void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    note_add(p);
    return p;
}
void *calloc(size_t a, size_t b)
{
    void *p = __libc_calloc(a, b);
    note_add(p);
    return p;
}
void free(void *p)
{
    if (p)
        cur -= malloc_usable_size(p);
    __libc_free(p);
}
void *realloc(void *p, size_t n)
{
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = __libc_realloc(p, n);
    if (q) {
        cur -= old;
        note_add(q);
    }
    return q;
}

#define NCLIENTS 1000
struct client {
    uint64_t id;
    char name[32], peer[32], since[32];
    int core;
    uint64_t subs, msgs_in, msgs_out, bytes_in, bytes_out, pending;
};
static struct client clients[NCLIENTS];

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void fill(void)
{
    for (int i = 0; i < NCLIENTS; i++) {
        struct client *c = &clients[i];
        c->id = 281474976710657ULL + (uint64_t)i;
        snprintf(c->name, sizeof c->name, "billing-%d", i);
        snprintf(c->peer, sizeof c->peer, "127.0.0.1:%d", 40000 + i);
        snprintf(c->since, sizeof c->since, "2026-12-05T05:%02d:%02dZ", i / 60 % 60, i % 60);
        c->core = i % 2;
        c->subs = i % 7;
        c->msgs_in = 1000003ULL * i;
        c->msgs_out = 999983ULL * i;
        c->bytes_in = 1200ULL * c->msgs_in;
        c->bytes_out = 1400ULL * c->msgs_out;
        c->pending = i % 3 ? 0 : 4096;
    }
}

static volatile uint64_t sink;

#if defined(LIB_JANSSON)
#include <jansson.h>
#define LIBNAME "jansson " JANSSON_VERSION
static void parse_only(const char *s)
{
    json_error_t e;
    json_decref(json_loads(s, JSON_REJECT_DUPLICATES, &e));
}
static char *build_list(void)
{
    json_t *arr = json_array();
    for (int i = 0; i < NCLIENTS; i++) {
        struct client *c = &clients[i];
        json_array_append_new(arr,
                              json_pack("{s:I, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "id", (json_int_t)c->id, "name",
                                        c->name, "peer", c->peer, "core", c->core, "subscriptions", (json_int_t)c->subs, "msgs_in",
                                        (json_int_t)c->msgs_in, "msgs_out", (json_int_t)c->msgs_out, "bytes_in",
                                        (json_int_t)c->bytes_in, "bytes_out", (json_int_t)c->bytes_out, "pending_output",
                                        (json_int_t)c->pending, "connected_since", c->since));
    }
    json_t *doc = json_pack("{s:b, s:i, s:i, s:o}", "ok", 1, "total", NCLIENTS, "offset", 0, "clients", arr);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}
static int parse_list(const char *s)
{
    json_error_t e;
    json_t *doc = json_loads(s, JSON_REJECT_DUPLICATES, &e), *arr;
    json_int_t total, offset;
    int ok, rc = -1;
    if (!doc ||
        json_unpack_ex(doc, &e, 0, "{s:b, s:I, s:I, s:o}", "ok", &ok, "total", &total, "offset", &offset, "clients", &arr) ||
        !json_is_array(arr))
        goto out;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        json_int_t id, core, subs, mi, mo, bi, bo, pend;
        const char *name, *peer, *since;
        if (json_unpack_ex(v, &e, 0, "{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "id", &id, "name", &name, "peer",
                           &peer, "core", &core, "subscriptions", &subs, "msgs_in", &mi, "msgs_out", &mo, "bytes_in", &bi,
                           "bytes_out", &bo, "pending_output", &pend, "connected_since", &since))
            goto out;
        sink += id + bi + strlen(name);
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}
static char *settings_set(const char *req)
{
    json_error_t e;
    json_t *doc = json_loads(req, JSON_REJECT_DUPLICATES, &e);
    const char *name, *value;
    char *s = NULL;
    if (doc && json_unpack_ex(doc, &e, JSON_STRICT, "{s:s, s:s}", "name", &name, "value", &value) == 0) {
        json_t *rep = json_pack("{s:b, s:s, s:s, s:s}", "ok", 1, "name", name, "value", "15000ms", "previous", "30000ms");
        s = json_dumps(rep, JSON_COMPACT);
        json_decref(rep);
    }
    json_decref(doc);
    return s;
}
#elif defined(LIB_JSONC)
#include <json-c/json.h>
#define LIBNAME "json-c " JSON_C_VERSION
static void parse_only(const char *s)
{
    json_object_put(json_tokener_parse(s));
}
static char *build_list(void)
{
    json_object *arr = json_object_new_array_ext(NCLIENTS);
    for (int i = 0; i < NCLIENTS; i++) {
        struct client *c = &clients[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_uint64(c->id));
        json_object_object_add(o, "name", json_object_new_string(c->name));
        json_object_object_add(o, "peer", json_object_new_string(c->peer));
        json_object_object_add(o, "core", json_object_new_int(c->core));
        json_object_object_add(o, "subscriptions", json_object_new_uint64(c->subs));
        json_object_object_add(o, "msgs_in", json_object_new_uint64(c->msgs_in));
        json_object_object_add(o, "msgs_out", json_object_new_uint64(c->msgs_out));
        json_object_object_add(o, "bytes_in", json_object_new_uint64(c->bytes_in));
        json_object_object_add(o, "bytes_out", json_object_new_uint64(c->bytes_out));
        json_object_object_add(o, "pending_output", json_object_new_uint64(c->pending));
        json_object_object_add(o, "connected_since", json_object_new_string(c->since));
        json_object_array_add(arr, o);
    }
    json_object *doc = json_object_new_object();
    json_object_object_add(doc, "ok", json_object_new_boolean(1));
    json_object_object_add(doc, "total", json_object_new_int(NCLIENTS));
    json_object_object_add(doc, "offset", json_object_new_int(0));
    json_object_object_add(doc, "clients", arr);
    char *s = strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(doc);
    return s;
}
static int get_int(json_object *o, const char *k, int64_t *out)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
        return -1;
    *out = json_object_get_int64(v);
    return 0;
}
static int get_str(json_object *o, const char *k, const char **out)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return -1;
    *out = json_object_get_string(v);
    return 0;
}
static int parse_list(const char *s)
{
    json_tokener *tok = json_tokener_new_ex(64);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *doc = json_tokener_parse_ex(tok, s, (int)strlen(s)), *arr, *okv;
    int rc = -1;
    int64_t total, offset;
    if (!doc || !json_object_object_get_ex(doc, "ok", &okv) || !json_object_is_type(okv, json_type_boolean) ||
        get_int(doc, "total", &total) || get_int(doc, "offset", &offset) || !json_object_object_get_ex(doc, "clients", &arr) ||
        !json_object_is_type(arr, json_type_array))
        goto out;
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(arr, i);
        int64_t id, core, subs, mi, mo, bi, bo, pend;
        const char *name, *peer, *since;
        if (!json_object_is_type(v, json_type_object) || get_int(v, "id", &id) || get_str(v, "name", &name) ||
            get_str(v, "peer", &peer) || get_int(v, "core", &core) || get_int(v, "subscriptions", &subs) ||
            get_int(v, "msgs_in", &mi) || get_int(v, "msgs_out", &mo) || get_int(v, "bytes_in", &bi) ||
            get_int(v, "bytes_out", &bo) || get_int(v, "pending_output", &pend) || get_str(v, "connected_since", &since))
            goto out;
        sink += id + bi + strlen(name);
    }
    rc = 0;
out:
    json_object_put(doc);
    json_tokener_free(tok);
    return rc;
}
static char *settings_set(const char *req)
{
    json_tokener *tok = json_tokener_new_ex(64);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *doc = json_tokener_parse_ex(tok, req, (int)strlen(req));
    const char *name, *value;
    char *s = NULL;
    /* strictness by hand: exactly these two members */
    if (doc && json_object_is_type(doc, json_type_object) && json_object_object_length(doc) == 2 &&
        get_str(doc, "name", &name) == 0 && get_str(doc, "value", &value) == 0) {
        json_object *rep = json_object_new_object();
        json_object_object_add(rep, "ok", json_object_new_boolean(1));
        json_object_object_add(rep, "name", json_object_new_string(name));
        json_object_object_add(rep, "value", json_object_new_string("15000ms"));
        json_object_object_add(rep, "previous", json_object_new_string("30000ms"));
        s = strdup(json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PLAIN));
        json_object_put(rep);
    }
    json_object_put(doc);
    json_tokener_free(tok);
    return s;
}
#elif defined(LIB_CJSON)
#include <cjson/cJSON.h>
#define STR_(x) #x
#define STR(x)  STR_(x)
#define LIBNAME "cJSON " STR(CJSON_VERSION_MAJOR) "." STR(CJSON_VERSION_MINOR) "." STR(CJSON_VERSION_PATCH)
static void parse_only(const char *s)
{
    cJSON_Delete(cJSON_Parse(s));
}
static char *build_list(void)
{
    cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "clients");
    cJSON_AddBoolToObject(doc, "ok", 1);
    cJSON_AddNumberToObject(doc, "total", NCLIENTS);
    cJSON_AddNumberToObject(doc, "offset", 0);
    for (int i = 0; i < NCLIENTS; i++) {
        struct client *c = &clients[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)c->id); /* doubles only: exact below 2^53 */
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddStringToObject(o, "peer", c->peer);
        cJSON_AddNumberToObject(o, "core", c->core);
        cJSON_AddNumberToObject(o, "subscriptions", (double)c->subs);
        cJSON_AddNumberToObject(o, "msgs_in", (double)c->msgs_in);
        cJSON_AddNumberToObject(o, "msgs_out", (double)c->msgs_out);
        cJSON_AddNumberToObject(o, "bytes_in", (double)c->bytes_in);
        cJSON_AddNumberToObject(o, "bytes_out", (double)c->bytes_out);
        cJSON_AddNumberToObject(o, "pending_output", (double)c->pending);
        cJSON_AddStringToObject(o, "connected_since", c->since);
        cJSON_AddItemToArray(arr, o);
    }
    char *s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return s;
}
static int get_num(const cJSON *o, const char *k, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v))
        return -1;
    *out = v->valuedouble;
    return 0;
}
static int get_str(const cJSON *o, const char *k, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v))
        return -1;
    *out = v->valuestring;
    return 0;
}
static int parse_list(const char *s)
{
    cJSON *doc = cJSON_ParseWithLengthOpts(s, strlen(s) + 1, NULL, 1) /* length counts the NUL it requires */;
    const cJSON *arr, *v;
    double total, offset;
    int rc = -1;
    if (!doc || !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(doc, "ok")) || get_num(doc, "total", &total) ||
        get_num(doc, "offset", &offset))
        goto out;
    arr = cJSON_GetObjectItemCaseSensitive(doc, "clients");
    if (!cJSON_IsArray(arr))
        goto out;
    cJSON_ArrayForEach(v, arr)
    {
        double id, core, subs, mi, mo, bi, bo, pend;
        const char *name, *peer, *since;
        if (get_num(v, "id", &id) || get_str(v, "name", &name) || get_str(v, "peer", &peer) || get_num(v, "core", &core) ||
            get_num(v, "subscriptions", &subs) || get_num(v, "msgs_in", &mi) || get_num(v, "msgs_out", &mo) ||
            get_num(v, "bytes_in", &bi) || get_num(v, "bytes_out", &bo) || get_num(v, "pending_output", &pend) ||
            get_str(v, "connected_since", &since))
            goto out;
        sink += (uint64_t)id + (uint64_t)bi + strlen(name);
    }
    rc = 0;
out:
    cJSON_Delete(doc);
    return rc;
}
static char *settings_set(const char *req)
{
    cJSON *doc = cJSON_ParseWithLengthOpts(req, strlen(req) + 1, NULL, 1);
    const char *name, *value;
    char *s = NULL;
    if (cJSON_IsObject(doc) && cJSON_GetArraySize(doc) == 2 && get_str(doc, "name", &name) == 0 &&
        get_str(doc, "value", &value) == 0) {
        cJSON *rep = cJSON_CreateObject();
        cJSON_AddBoolToObject(rep, "ok", 1);
        cJSON_AddStringToObject(rep, "name", name);
        cJSON_AddStringToObject(rep, "value", "15000ms");
        cJSON_AddStringToObject(rep, "previous", "30000ms");
        s = cJSON_PrintUnformatted(rep);
        cJSON_Delete(rep);
    }
    cJSON_Delete(doc);
    return s;
}
#endif

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define ROUNDS 200
int main(void)
{
    double t[ROUNDS], tp[ROUNDS], ts[ROUNDS], to[ROUNDS];
    fill();
    char *doc = build_list();
    size_t doclen = strlen(doc);
    free(doc);

    for (int r = 0; r < ROUNDS; r++) {
        double a = now_us();
        char *s = build_list();
        double b = now_us();
        if (parse_list(s) != 0) {
            fprintf(stderr, "parse failed\n");
            return 1;
        }
        double c = now_us();
        parse_only(s);
        to[r] = now_us() - c;
        free(s);
        t[r] = b - a;
        tp[r] = c - b;
    }
    /* settings.set: 1000 request parses + reply builds per sample */
    const char *req = "{\"name\": \"keepalive\", \"value\": \"15s\"}";
    for (int r = 0; r < ROUNDS; r++) {
        double a = now_us();
        for (int i = 0; i < 1000; i++) {
            char *s = settings_set(req);
            if (!s)
                return 1;
            sink += strlen(s);
            free(s);
        }
        ts[r] = (now_us() - a) / 1000;
    }
    qsort(t, ROUNDS, sizeof(double), cmp);
    qsort(tp, ROUNDS, sizeof(double), cmp);
    qsort(ts, ROUNDS, sizeof(double), cmp);
    qsort(to, ROUNDS, sizeof(double), cmp);

    /* peak live bytes and allocation count of one parse of the 1000-client document */
    char *s = build_list();
    size_t base = cur;
    peak = cur;
    nallocs = 0;
    parse_list(s);
    size_t parse_peak = peak - base, parse_allocs = nallocs;
    free(s);
    base = cur;
    peak = cur;
    nallocs = 0;
    s = build_list();
    size_t build_peak = peak - base, build_allocs = nallocs;
    free(s);

    printf("%-14s doc %zu B | build+print median %.0f us (min %.0f) | parse+validate median %.0f us (min %.0f) | parse alone %.0f "
           "us | "
           "settings.set median %.2f us | parse peak %zu KiB in %zu allocs | build peak %zu KiB in %zu allocs\n",
           LIBNAME, doclen, t[ROUNDS / 2], t[0], tp[ROUNDS / 2], tp[0], to[ROUNDS / 2], ts[ROUNDS / 2], parse_peak / 1024,
           parse_allocs, build_peak / 1024, build_allocs);
    return 0;
}
