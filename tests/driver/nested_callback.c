/* A callback of one client that runs another client's callbacks (trpc_client_process of an
 * external-loop client) stays a callback of the first: inside the inner one, trpc_close of the
 * outer client is refused, and trpc_unsubscribe of the outer subscription, whose callback is
 * running further up this very thread, returns at once instead of waiting for itself. */
#include <poll.h>

#include "tests/driver/helpers.h"

static trpc_client *outer_c, *inner_c;
static trpc_sub *outer_s;
static atomic_int inner_ran, outer_done, close_refused, unsub_rc = 1;

static void inner_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    (void)c;
    (void)sub;
    (void)ud;
    trpc_close(outer_c); /* from inside its callback: ignored, with INVALID_ARGUMENT */
    atomic_store(&close_refused, strstr(trpc_last_error(), "own callbacks") != NULL);
    atomic_store(&unsub_rc, trpc_unsubscribe(outer_s));
    atomic_store(&inner_ran, 1);
    trpc_msg_free(m);
}

static void outer_cb(trpc_client *c, trpc_sub *sub, trpc_msg *m, void *ud)
{
    struct pollfd pfd = {.fd = trpc_client_fd(inner_c), .events = POLLIN};
    int waited = 0;

    (void)c;
    (void)sub;
    (void)ud;
    trpc_publish(inner_c, "nest.inner", "i", 1);
    while (!atomic_load(&inner_ran) && waited < 10000) {
        if (poll(&pfd, 1, 10) == 0)
            waited += 10;
        if (trpc_client_process(inner_c) != 0)
            break;
    }
    atomic_store(&outer_done, 1);
    trpc_msg_free(m);
}

static bool is_set(void *flag)
{
    return atomic_load((atomic_int *)flag) != 0;
}

int main(void)
{
    struct broker_proc b;
    trpc_options *o;
    trpc_sub *inner_s;

    alarm(60); /* a thread that waits for itself would hang the run: SIGALRM ends it, failed */
    broker_up(&b, NULL);
    outer_c = connect_or_bail(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_external_loop(o, true);
    inner_c = connect_or_bail(&b, o);
    trpc_options_destroy(o);
    /* Its SUB goes out with the first trpc_client_process, before the PUB outer_cb makes. */
    ok_eq(trpc_subscribe(inner_c, "nest.inner", inner_cb, NULL, &inner_s), 0, "the external-loop client subscribes");
    ok_eq(trpc_subscribe(outer_c, "nest.outer", outer_cb, NULL, &outer_s), 0, "the threaded client subscribes");
    ok_eq(trpc_flush(outer_c, 5000), 0, "its SUB is in");
    trpc_publish(outer_c, "nest.outer", "o", 1);
    ok(wait_for(is_set, &outer_done, 15000), "the outer callback returned");
    ok(atomic_load(&inner_ran), "the inner callback ran inside it");
    ok(atomic_load(&close_refused), "trpc_close of the outer client from the inner callback is refused");
    ok_eq(atomic_load(&unsub_rc), 0, "trpc_unsubscribe of the running outer subscription returns at once");
    if (!atomic_load(&outer_done)) { /* a thread waits for itself: closing would hang too */
        diag("the outer callback never returned");
        _exit(1);
    }
    trpc_sub_destroy(outer_s);
    trpc_sub_destroy(inner_s);
    trpc_close(inner_c);
    trpc_close(outer_c);
    broker_proc_stop(&b);
    return done_testing();
}
