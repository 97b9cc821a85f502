/*
 * jobs: durable requests with libtrpc.
 *
 *   jobs [trpc://host:port] [count]
 *
 * Declares stream "jobs" over jobs.> (interest retention: a request goes once every consumer group
 * of the stream has settled it, and an hour at most), then sends `count` durable requests
 * ("resize image N") while no worker runs: an ordinary request would fail at once with
 * NO_RESPONDERS, these wait in the stream. A second later a worker starts: another connection
 * that joins consumer group "resizers" of the stream, takes the waiting requests and answers each
 * ("resized image N"), which also acknowledges it. Prints each reply as it arrives; exit status 0
 * when all `count` were answered.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trpc/trpc.h>

struct tally {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int answered, failed;
};

/* The requester's side: one call per request, on the client's dispatcher thread. */
static void on_reply(trpc_client *c, int err, trpc_msg *reply, void *ud)
{
    struct tally *t = ud;

    (void)c;
    if (err == 0)
        printf("reply: %.*s\n", (int)trpc_msg_len(reply), (const char *)trpc_msg_data(reply));
    else
        printf("request failed: %s\n", trpc_strerror(err));
    pthread_mutex_lock(&t->lock);
    if (err == 0)
        t->answered++;
    else
        t->failed++;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    trpc_msg_free(reply);
}

/* The worker: a member of group "resizers"; its answer acknowledges the stored request. */
static void on_job(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    const char *body = trpc_msg_data(m);
    size_t len = trpc_msg_len(m);
    char out[128];
    int n;

    (void)c;
    (void)sub;
    (void)ud;
    if (!trpc_msg_is_request(m)) { /* a plain message published on jobs.>: nothing to answer */
        trpc_ack(m);
        trpc_msg_free(m);
        return;
    }
    if (len > 7 && memcmp(body, "resize ", 7) == 0) {
        n = snprintf(out, sizeof(out), "resized %.*s (%u ms to spare)", (int)(len - 7 < 64 ? len - 7 : 64), body + 7,
                     trpc_msg_deadline_ms(m));
        trpc_respond(m, out, (size_t)n);
    } else {
        trpc_respond_error(m, 400, "unknown job");
    }
    trpc_msg_free(m);
}

int main(int argc, char **argv)
{
    static const char *const subjects[] = {"jobs.>"};
    const char *url = argc > 1 ? argv[1] : "trpc://127.0.0.1:4250";
    int count = argc > 2 ? atoi(argv[2]) : 5, ret = 1, err;
    trpc_stream_config cfg = {
        .subjects = subjects, .subject_count = 1, .max_age_ms = 3600000, .dedup_window_ms = -1, .interest_retention = true};
    struct tally t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    trpc_client *client = NULL, *worker = NULL;
    trpc_sub *sub;
    char job[64];

    if (count < 1 || count > 10000) {
        fprintf(stderr, "usage: jobs [trpc://host:port] [count 1..10000]\n");
        return 2;
    }
    err = trpc_connect(&client, url, NULL);
    if (err == 0)
        err = trpc_stream_declare(client, "jobs", &cfg, 5000, NULL);
    if (err != 0) {
        fprintf(stderr, "jobs: %s\n", trpc_last_error());
        goto out;
    }
    for (int i = 1; i <= count; i++) {
        snprintf(job, sizeof(job), "resize image %d", i);
        err = trpc_request_durable_async(client, "jobs.resize", NULL, 0, job, strlen(job), 30000, on_reply, &t);
        if (err != 0) {
            fprintf(stderr, "jobs: request %d: %s\n", i, trpc_last_error());
            goto out;
        }
    }
    printf("%d requests waiting for a worker\n", count);
    sleep(1);

    err = trpc_connect(&worker, url, NULL);
    if (err == 0)
        err = trpc_subscribe_durable(worker, "jobs.>", "resizers", 16, NULL, 0, on_job, NULL, &sub);
    if (err != 0) {
        fprintf(stderr, "jobs: worker: %s\n", trpc_last_error());
        goto out;
    }
    printf("worker started\n");
    pthread_mutex_lock(&t.lock);
    while (t.answered + t.failed < count)
        pthread_cond_wait(&t.cond, &t.lock);
    pthread_mutex_unlock(&t.lock);
    printf("answered %d of %d\n", t.answered, count);
    ret = t.answered == count ? 0 : 1;
out:
    trpc_close(worker);
    trpc_close(client);
    return ret;
}
