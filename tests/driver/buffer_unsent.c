/* The send_buffer bound counts only bytes not sent yet (issue 14): once a send has returned the
 * part of a batch the socket took, that part no longer counts as buffered, although the rest of
 * the batch is still waiting. The broker is stopped (SIGSTOP), so the socket takes only what the
 * kernel buffers hold and the batch stays half sent; the client runs an external loop, so the
 * test decides when its I/O happens. */
#include <poll.h>
#include <signal.h>

#include "tests/driver/helpers.h"

#define BOUND   (64u << 20)
#define PAYLOAD 4000
#define FRAME   (32 + 1 + PAYLOAD) /* fixed header, topic "t", payload */
#define BATCH   12000              /* frames in the first batch, 48 MB: more than loopback buffers hold */

int main(void)
{
    static char payload[PAYLOAD];
    struct pollfd pfd;
    struct broker_proc b;
    trpc_options *o;
    trpc_client *c;
    int i, err = 0, more = 0;

    broker_up(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_external_loop(o, true);
    trpc_options_set_send_buffer(o, BOUND);
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    pfd = (struct pollfd){.fd = trpc_client_fd(c), .events = POLLIN};

    ok_eq(kill(b.pid, SIGSTOP), 0, "broker stopped: it reads nothing more");
    for (i = 0; i < BATCH; i++)
        if (trpc_publish(c, "t", payload, sizeof(payload)) != 0)
            break;
    ok_eq(i, BATCH, "%d frames (%d bytes) buffered", BATCH, BATCH * FRAME);
    /* The batch goes out: the send returns what the socket took, the rest waits for room. */
    for (i = 0; i < 20; i++) {
        poll(&pfd, 1, 10);
        if (trpc_client_process(c) != 0)
            break;
    }
    ok_eq(i, 20, "the loop ran");
    for (;;) {
        err = trpc_publish(c, "t", payload, sizeof(payload));
        if (err)
            break;
        more++;
    }
    ok_eq(err, -TRPC_E_BUFFER_FULL, "then publishes fill the bound: %s", trpc_last_error());
    /* Counting the whole batch as buffered would leave room for this many frames exactly. */
    ok(more > (int)((BOUND - BATCH * FRAME) / FRAME),
       "what the socket took is room again: %d frames accepted, %u with the batch counted whole", more,
       (BOUND - BATCH * FRAME) / FRAME);

    ok_eq(kill(b.pid, SIGCONT), 0, "broker continued");
    trpc_close(c);
    broker_proc_stop(&b); /* the broker's own exit status is its tests' business */
    return done_testing();
}
