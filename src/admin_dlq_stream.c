/*
 * A dead-letter topic's stream, made with its consumer group (docs/admin-api.md, "Consumer
 * groups"): a group whose dead-letter topic no stream covers would have nowhere to put what fails,
 * so the control thread adds one through stream.add itself, named after the topic
 * (stream_dlq_name) with the default limits, before the group is made. An operator who wants other
 * limits declares the stream first, or edits the one made.
 *
 * Stream changes go one at a time (ctl->streams_changing), and two members of a new group often
 * subscribe together: the jobs wait in a short queue and start one by one, each round of the
 * control thread, so that the second finds the stream the first made.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/admin.h"
#include "src/admin_api.h"
#include "src/control.h"
#include "src/log.h"
#include "src/stream.h"

#define DLQ_JOBS_MAX 256 /* waiting at once; beyond, BUSY */

struct admin_dlq_job {
    struct admin_call call; /* first: its done gets the job back */
    struct admin_dlq_job *next;
    admin_dlq_stream_fn *fn;
    void *arg;
    char *doc;
    char name[STREAM_NAME_MAX + 1];
    size_t topic_len;
    char topic[];
};

static void job_free(struct admin_dlq_job *j)
{
    free(j->doc);
    free(j);
}

static void job_done(struct control *ctl, struct admin_call *call, char *reply, size_t len)
{
    struct admin_dlq_job *j = (struct admin_dlq_job *)(void *)call;
    json_t *doc = reply != NULL ? json_loadb(reply, len, 0, NULL) : NULL;
    const char *code = "INTERNAL", *text = "the reply of stream.add was not read";

    ctl->dlq_running = false;
    if (reply == NULL) { /* abandoned: the broker is stopping, the cores may be gone; start nothing */
        j->fn(ctl, j->arg, NULL, NULL);
        job_free(j);
        return;
    }
    if (json_is_true(json_object_get(doc, "ok"))) {
        if (json_is_true(json_object_get(doc, "created")))
            log_info(LOG_NO_CORE, "stream %s: made for dead-letter topic %.*s", j->name, (int)j->topic_len, j->topic);
        j->fn(ctl, j->arg, NULL, j->name);
    } else {
        json_unpack(doc, "{s:{s:s, s:s}}", "error", "code", &code, "message", &text);
        j->fn(ctl, j->arg, code, text);
    }
    json_decref(doc);
    free(reply);
    job_free(j);
    admin_dlq_tick(ctl);
}

static const char *covering(const struct control *ctl, const char *topic, size_t len)
{
    for (unsigned i = 0; i < ctl->nstreams; i++)
        for (unsigned k = 0; k < ctl->streams[i]->nsubjects; k++)
            if (stream_pattern_covers(ctl->streams[i]->subjects[k], strlen(ctl->streams[i]->subjects[k]), topic, len))
                return ctl->streams[i]->name;
    return NULL;
}

static void job_start(struct control *ctl, struct admin_dlq_job *j)
{
    const char *have = covering(ctl, j->topic, j->topic_len);
    json_t *doc;

    if (have != NULL) { /* made, or declared, since the job was queued */
        j->fn(ctl, j->arg, NULL, have);
        job_free(j);
        return;
    }
    doc = json_pack("{s:s, s:[s#]}", "name", j->name, "subjects", j->topic, j->topic_len);
    j->doc = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (j->doc == NULL) {
        j->fn(ctl, j->arg, "INTERNAL", "out of memory");
        job_free(j);
        return;
    }
    snprintf(j->call.verb, sizeof(j->call.verb), "stream.add");
    j->call.doc = (const uint8_t *)j->doc;
    j->call.len = strlen(j->doc);
    j->call.done = job_done;
    ctl->dlq_running = true;
    admin_api_call(ctl, &j->call);
}

void admin_dlq_stream(struct control *ctl, const char *topic, size_t len, admin_dlq_stream_fn *fn, void *arg)
{
    const char *have = covering(ctl, topic, len);
    struct admin_dlq_job *j, **pp = &ctl->dlq_jobs;
    unsigned n = 0;

    if (have != NULL) {
        fn(ctl, arg, NULL, have);
        return;
    }
    /* A stream's subjects are JSON text in its definition: bytes that are not UTF-8 cannot be one
     * (a pattern may still cover them, as covering() just looked for). */
    if (!admin_api_utf8(topic, len)) {
        fn(ctl, arg, "BAD_REQUEST", "not UTF-8, so no stream can be made for it: declare one whose pattern covers it");
        return;
    }
    for (; *pp != NULL; pp = &(*pp)->next)
        n++;
    j = n < DLQ_JOBS_MAX ? calloc(1, sizeof(*j) + len) : NULL;
    if (j == NULL) {
        fn(ctl, arg, "BUSY", n < DLQ_JOBS_MAX ? "out of memory" : "too many streams being made at once; try again");
        return;
    }
    j->fn = fn;
    j->arg = arg;
    j->topic_len = len;
    memcpy(j->topic, topic, len);
    stream_dlq_name(topic, len, j->name);
    *pp = j;
    admin_dlq_tick(ctl);
}

void admin_dlq_tick(struct control *ctl)
{
    /* One that finds its topic covered now (the stream made for the one before) answers at once:
     * the next goes on in the same round. */
    while (ctl->dlq_jobs != NULL && !ctl->dlq_running && !ctl->streams_changing) {
        struct admin_dlq_job *j = ctl->dlq_jobs;

        ctl->dlq_jobs = j->next;
        job_start(ctl, j);
    }
}

void admin_dlq_free(struct control *ctl)
{
    while (ctl->dlq_jobs != NULL) {
        struct admin_dlq_job *j = ctl->dlq_jobs;

        ctl->dlq_jobs = j->next;
        j->fn(ctl, j->arg, NULL, NULL);
        job_free(j);
    }
}

/* ---- a member's SUB (CONTROL_DLQ_STREAM) ----------------------------------------------------------- */

static void ask_done(struct control *ctl, void *arg, const char *code, const char *text)
{
    struct admin_dlq_ask *a = arg;
    struct uring_xmsg m = {.type = ADMIN_MB_DLQ_STREAM, .ptr = a};

    if (code == NULL && text == NULL) {
        free(a);
        return;
    }
    a->ok = code == NULL;
    if (code != NULL)
        snprintf(a->why, sizeof(a->why), "trpc-dlq \"%.*s\": no stream covers it, and making one failed (%s): %s",
                 (int)(a->topic_len > 60 ? 60 : a->topic_len), a->topic, code, text);
    /* The member waits for this answer: it must arrive (a full mailbox is tried again). */
    if (!control_post_core(ctl, a->core, &m))
        free(a);
}

void admin_dlq_stream_ask(struct control *ctl, struct admin_dlq_ask *a)
{
    admin_dlq_stream(ctl, a->topic, a->topic_len, ask_done, a);
}
