/* A subscriber the broker cuts off as a slow consumer hears why once, with the numbers (issue 14):
 * the error callback gets a negative code and "broker: output queue full: slow consumer cut off:
 * N bytes queued, M more would pass max-output-bytes B", the code's text not repeated by the
 * broker's. The subscriber runs an external loop and does not run it while the burst goes by,
 * so it reads nothing and the broker's output for it grows. */
#include <poll.h>

#include "tests/driver/helpers.h"

#define PAYLOAD 1024
#define BURST   16384 /* 16 MiB: more than the kernel's socket buffers absorb */

static int errors, first_err;
static char first_text[512];
static atomic_int seen;

static void on_error(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    if (errors++ == 0) {
        first_err = err;
        snprintf(first_text, sizeof(first_text), "%s", text);
    }
}

static void on_msg(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    atomic_fetch_add(&seen, 1);
    trpc_msg_free(m);
}

/* Runs the subscriber's loop until cond holds or 10 s without a completion passed. */
static bool spin(trpc_client *c, bool (*cond)(void))
{
    struct pollfd pfd = {.fd = trpc_client_fd(c), .events = POLLIN};
    int idle = 0;

    while (!cond() && idle < 1000) {
        if (poll(&pfd, 1, 10) == 0)
            idle++;
        trpc_client_process(c);
    }
    return cond();
}

static bool got_one(void)
{
    return atomic_load(&seen) > 0;
}

static bool got_error(void)
{
    return errors > 0;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

int main(void)
{
    static const char *const args[] = {"--cores", "1", "--max-output-bytes", "128k", "--max-frame", "64k", NULL};
    static const char want[] = "broker: output queue full: slow consumer cut off: ";
    static char payload[PAYLOAD];
    struct broker_proc b;
    trpc_options *o;
    trpc_client *sub, *pub;
    trpc_sub *s;
    int i;

    broker_up(&b, args);
    trpc_options_create(&o);
    trpc_options_set_external_loop(o, true);
    trpc_options_set_error_cb(o, on_error, NULL);
    sub = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    trpc_options_create(&o);
    trpc_options_set_send_buffer(o, 2 * BURST * PAYLOAD); /* the whole burst fits */
    pub = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    ok_eq(trpc_subscribe(sub, "t", on_msg, NULL, &s), 0, "subscribe");
    for (i = 0; i < 100 && !got_one(); i++) {
        trpc_publish(pub, "t", "x", 1);
        spin(sub, got_one);
    }
    ok(got_one(), "the subscription is in force");
    for (i = 0; i < BURST; i++)
        if (trpc_publish(pub, "t", payload, sizeof(payload)) != 0)
            break;
    ok_eq(i, BURST, "a %d MiB burst published", BURST * PAYLOAD >> 20);
    ok_eq(trpc_flush(pub, 10000), 0, "and handled by the broker, while the subscriber read nothing");
    ok(spin(sub, got_error), "the subscriber's error callback ran");
    diag("text: %s", first_text);
    ok(first_err < 0, "with a negative code (%d: %s)", first_err, trpc_err_name(first_err));
    ok(strncmp(first_text, want, strlen(want)) == 0, "the text starts with the code's text");
    ok_eq(count(first_text, "output queue full"), 1, "which it does not repeat");
    ok(strstr(first_text, "bytes queued, ") != NULL && strstr(first_text, "would pass max-output-bytes 131072") != NULL,
       "then the broker's numbers");
    trpc_close(sub);
    trpc_close(pub);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
