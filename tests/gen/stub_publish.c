/*
 * stub_publish: an event's timeout_ms in the typed publish (tests/gen/good/notify.trpc). Rung has
 * timeout_ms = 1000: its publish returns once the broker has received the event (a real broker),
 * and -TRPC_E_TIMEOUT when the broker does not answer (tests/gen/wire_peer.h, a peer that reads
 * nothing while the publish waits), the event still written before the PING that waited for it.
 * Tapped has none: its publish returns 0 at once, with no PING, even from a silent peer. Rung's
 * policy (backoff factor 10, written "10" rather than "1e+01") is accepted by the real broker.
 */
#include <stdatomic.h>

#include "notify.trpc.h"
#include "tests/driver/helpers.h"
#include "tests/gen/wire_peer.h"

static atomic_int sub_errors;

static void error_cb(trpc_client *c, trpc_sub *sub, int err, const char *text, void *ud)
{
    (void)c;
    (void)ud;
    diag("error callback: %s: %s", trpc_strerror(err), text);
    if (sub != NULL)
        atomic_fetch_add(&sub_errors, 1);
}

static enum trpc_stub_verdict rung(void *ud, const trpc_msg *msg, const Notify__Note *ev, uint32_t *nack_delay_ms)
{
    (void)msg;
    (void)nack_delay_ms;
    atomic_fetch_add((atomic_int *)ud, ev->text != NULL && strcmp(ev->text, "ding") == 0);
    return TRPC_STUB_ACK;
}

static void broker_part(void)
{
    static struct inbox raw = INBOX_INIT;
    Notify__Note note = NOTIFY__NOTE__INIT;
    struct notify_bell_rung_sub sub;
    struct broker_proc b;
    atomic_int handled = 0;
    trpc_options *o;
    trpc_client *c;
    trpc_sub *rs;
    int i;

    broker_up(&b, NULL);
    trpc_options_create(&o);
    trpc_options_set_error_cb(o, error_cb, NULL);
    c = connect_or_bail(&b, o);
    trpc_options_destroy(o);

    ok_eq(trpc_subscribe(c, NOTIFY_BELL_RUNG_TOPIC, inbox_cb, &raw, &rs), 0, "a raw subscriber on Rung's topic");
    ok_eq(notify_bell_rung_subscribe(c, &sub, NULL, rung, &handled), 0, "a typed subscriber with Rung's policy");
    ok_eq(trpc_flush(c, 5000), 0, "flush");
    note.text = "ding";
    ok_eq(notify_bell_rung_publish(c, &note), 0, "publish with timeout_ms returns 0: the broker has it");
    ok_eq(inbox_wait(&raw, 1, 5000), 1, "the raw subscriber gets it");
    for (i = 0; i < 500 && atomic_load(&handled) == 0; i++)
        usleep(10000);
    ok_eq(atomic_load(&handled), 1, "the typed subscriber's handler gets it");
    ok_eq(atomic_load(&sub_errors), 0, "the broker accepted Rung's policy (backoff 50,10,5000)");
    notify_bell_rung_unsubscribe(&sub);
    trpc_sub_destroy(rs);
    trpc_close(c);
    broker_proc_stop(&b);
}

/* The next frame of any type, PINGs not answered: 1, or 0 on timeout or EOF. */
static int next_any(struct wire_peer *p, int timeout_ms, struct wire_frame *f)
{
    for (;;) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        int rc = wire_reader_next(&p->r, f);
        ssize_t n;

        if (rc != 0)
            return rc;
        if (poll(&pfd, 1, timeout_ms) <= 0)
            return 0;
        n = recv(p->fd, p->buf, sizeof(p->buf), 0);
        if (n <= 0)
            return 0;
        wire_reader_feed(&p->r, p->buf, (size_t)n);
    }
}

static bool is_pub(const struct wire_frame *f, const char *topic)
{
    return f->type == WIRE_PUB && f->topic_len == strlen(topic) && memcmp(f->topic, topic, f->topic_len) == 0;
}

static void peer_part(void)
{
    Notify__Note note = NOTIFY__NOTE__INIT;
    struct wire_peer_accept_arg a;
    struct wire_peer p;
    struct wire_frame f;
    trpc_options *o;
    trpc_client *c = NULL;
    pthread_t th;

    if (wire_peer_listen(&p) != 0)
        BAIL_OUT("wire_peer_listen failed");
    a.p = &p;
    pthread_create(&th, NULL, wire_peer_accept_thread, &a);
    trpc_options_create(&o);
    trpc_options_set_reconnect(o, 0, 20, 100);
    ok_eq(trpc_connect(&c, p.url, o), 0, "connected to the wire peer");
    trpc_options_destroy(o);
    pthread_join(th, NULL);
    ok_eq(a.rc, 0, "handshake done");

    note.text = "tap";
    ok_eq(notify_bell_tapped_publish(c, &note), 0, "without timeout_ms, publish returns 0 though the peer answers nothing");
    note.text = "ding";
    ok_eq(notify_bell_rung_publish(c, &note), -TRPC_E_TIMEOUT, "with timeout_ms, -TRPC_E_TIMEOUT when the broker does not answer");
    ok(next_any(&p, 5000, &f) == 1 && is_pub(&f, NOTIFY_BELL_TAPPED_TOPIC), "the peer reads Tapped's PUB first");
    ok(next_any(&p, 5000, &f) == 1 && is_pub(&f, NOTIFY_BELL_RUNG_TOPIC), "then Rung's: no PING between, Tapped did not wait");
    ok(next_any(&p, 5000, &f) == 1 && f.type == WIRE_PING, "then the PING that Rung's publish waited for");
    trpc_close(c);
    wire_peer_close(&p);
}

int main(void)
{
    broker_part();
    peer_part();
    return done_testing();
}
