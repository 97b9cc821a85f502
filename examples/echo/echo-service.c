/*
 * echo-service: a request/reply responder. Run several: requests are spread over them.
 *
 *   echo-service [trpc://host:port] [name]
 *
 * Answers every request on "echo" with its own payload. Prints "ready NAME" once the broker knows
 * the subscription, serves until SIGINT or SIGTERM, closes cleanly and prints how many requests
 * it answered ("stopped NAME served N").
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <trpc/trpc.h>

/* Runs on the client's one dispatcher thread: `served` needs no lock until trpc_close joined it. */
static void on_request(trpc_client *c, trpc_sub *sub, trpc_msg *req, void *ud)
{
    unsigned long *served = ud;
    int err;

    if (trpc_msg_is_request(req)) {
        err = trpc_respond(req, trpc_msg_data(req), trpc_msg_len(req));
        if (err)
            fprintf(stderr, "echo-service: respond: %s\n", trpc_strerror(err));
        else
            (*served)++;
    }
    trpc_msg_free(req);
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "trpc://127.0.0.1:4250";
    const char *name = argc > 2 ? argv[2] : "echo";
    trpc_options *opts;
    trpc_client *c;
    trpc_sub *sub;
    unsigned long served = 0;
    sigset_t stop;
    int err, sig;

    /* Block the signals before the library starts its threads, so that they inherit the mask. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    err = trpc_options_create(&opts);
    if (err == 0)
        err = trpc_options_set_name(opts, name);
    if (err == 0)
        err = trpc_connect(&c, url, opts);
    trpc_options_destroy(opts);
    if (err) {
        fprintf(stderr, "echo-service: %s (%s)\n", trpc_strerror(err), trpc_last_error());
        return 1;
    }
    err = trpc_subscribe_group(c, "echo", "echo", on_request, &served, &sub);
    if (err == 0)
        err = trpc_flush(c, 2000);
    if (err) {
        fprintf(stderr, "echo-service: %s (%s)\n", trpc_strerror(err), trpc_last_error());
        trpc_close(c);
        return 1;
    }
    printf("ready %s\n", name);
    fflush(stdout);
    sigwait(&stop, &sig);
    trpc_sub_destroy(sub);
    trpc_close(c);
    printf("stopped %s served %lu\n", name, served);
    return 0;
}
