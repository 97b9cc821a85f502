/*
 * Direct sends (driver/sendbuf.c, included): a frame leaves from the caller's thread only when
 * the I/O side has nothing queued or in flight and the caller has nothing more to add (a waiter,
 * or a dispatcher thread with an empty queue); otherwise it is queued and the I/O thread woken,
 * as before. A send the kernel takes only in part leaves the rest in fill from fill.off on, for
 * the I/O thread, with not a byte lost or doubled. The socket is one end of a socketpair whose
 * other end the test reads. It also checks which appends wake an I/O side that holds a stream of
 * publishes back.
 */
#include "driver/lasterr.c"
#include "driver/sendbuf.c"

#include <errno.h>
#include <fcntl.h>

#include "tests/tap.h"

/* The one collaborator from dispatch.c: whether this thread is a dispatcher with nothing queued. */
static bool disp_idle;

bool trpc__disp_caller_idle(const trpc_client *c)
{
    (void)c;
    return disp_idle;
}

static trpc_client cl;
static int peer = -1;
static pthread_t other_thread;

static void *nothing(void *arg)
{
    return arg;
}

/* An open session with nothing queued: what the I/O side leaves behind once its send is done. */
static void reset(int fd)
{
    cl.fill.len = cl.fill.off = 0;
    cl.send_idle = true;
    cl.direct_fd = fd;
    cl.out_unsent = 0;
    cl.has_io_thread = true;
    cl.io_tid = other_thread;
    disp_idle = false;
}

/* A PUB on "t" with len payload bytes of fill. */
static struct wire_out pub(const uint8_t *payload, size_t len)
{
    struct wire_out o = {.type = WIRE_PUB, .topic = "t", .topic_len = 1, .payload = payload, .payload_len = len};

    return o;
}

/* Reads whatever the peer end holds now. */
static size_t drain_peer(uint8_t *buf, size_t cap)
{
    size_t got = 0;
    ssize_t n;

    while (got < cap && (n = recv(peer, buf + got, cap - got, MSG_DONTWAIT)) > 0)
        got += (size_t)n;
    return got;
}

/* Enqueues o with the given waiter flag; returns the wake flag. */
static bool submit(const struct wire_out *o, bool waiter, int *err)
{
    bool wake = false;

    *err = trpc__enqueue_direct_locked(&cl, o, waiter, &wake);
    return wake;
}

/* The I/O side holds a stream of publishes back (io.c, swap_batch), with no session to send on
 * directly: fill is empty and nothing is urgent yet. */
static void hold(void)
{
    reset(-1);
    cl.send_idle = false;
    cl.holding = true;
    cl.fill_urgent = false;
}

/*
 * While the I/O side holds a stream back, publishes below TRPC__HOLD_BYTES join it without a
 * wake-up; the append that reaches TRPC__HOLD_BYTES, or any frame someone waits for, wakes the
 * I/O thread, once.
 */
static void held_stream(void)
{
    static const uint8_t payload[100];
    const struct {
        const char *what;
        struct wire_out o;
    } urgent[] = {
        {"a PING (trpc_flush)", {.type = WIRE_PING}},
        {"a REQ", {.type = WIRE_REQ, .id = 1, .topic = "t", .topic_len = 1}},
        {"an acknowledged PUB", {.type = WIRE_PUB, .flags = WIRE_F_ACK_REQ, .id = 1, .topic = "t", .topic_len = 1}},
        {"an ACK", {.type = WIRE_ACK, .id = 1, .seq = 1}},
    };
    struct wire_out o = pub(payload, sizeof(payload));
    size_t flen = (size_t)wire_encoded_len(&o), n = 0;
    bool wake = false;
    int err = 0;

    hold();
    while (!wake && err == 0 && cl.fill.len < 2 * TRPC__HOLD_BYTES) {
        wake = submit(&o, false, &err);
        n++;
    }
    ok(wake && cl.fill.len >= TRPC__HOLD_BYTES && cl.fill.len - flen < TRPC__HOLD_BYTES,
       "held stream: the publish that reaches HOLD_BYTES wakes the I/O thread, none before (%zu publishes)", n);
    ok(!cl.holding && !cl.fill_urgent, "held stream: that ends the hold");
    ok(!submit(&o, false, &err), "held stream: the next publish does not wake it again");
    cl.opts.send_buffer = 8192;
    hold();
    for (wake = false, n = 0; !wake && err == 0 && cl.fill.len < cl.opts.send_buffer; n++)
        wake = submit(&o, false, &err);
    ok(err == 0 && wake && cl.fill.len >= 4096 && cl.fill.len - flen < 4096,
       "held stream under an 8 KiB send_buffer: woken at half the bound, before BUFFER_FULL (%zu publishes)", n);
    cl.opts.send_buffer = 8u << 20;
    for (size_t i = 0; i < sizeof(urgent) / sizeof(urgent[0]); i++) {
        hold();
        wake = submit(&o, false, &err);
        ok(!wake && cl.fill.len == flen, "held stream: a publish waits in fill, without a wake-up");
        wake = submit(&urgent[i].o, false, &err);
        ok(err == 0 && wake && !cl.holding && cl.fill_urgent, "held stream: %s ends the hold at once", urgent[i].what);
    }
}

int main(void)
{
    static uint8_t big[1 << 20], rx[(1 << 20) + 4096], frame[(1 << 20) + 64];
    struct wire_out o;
    int sv[2], err, sndbuf = 4096;
    ssize_t flen;
    size_t got;
    bool wake;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || pthread_create(&other_thread, NULL, nothing, NULL) != 0)
        return 99;
    pthread_join(other_thread, NULL);
    peer = sv[1];
    wire_limits_default(&cl.limits);
    cl.opts.send_buffer = 8u << 20;
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);

    /* A waiter with everything idle: the frame is on the socket, nothing queued, no wake-up. */
    reset(sv[0]);
    o = pub(big, 100);
    flen = wire_encode(frame, sizeof(frame), &o);
    wake = submit(&o, true, &err);
    ok_eq(err, 0, "waiter: enqueued");
    ok(!wake, "waiter: the I/O thread is not woken");
    ok_eq(cl.fill.len, 0, "waiter: nothing left queued");
    ok(cl.send_idle, "waiter: the I/O side stays idle");
    got = drain_peer(rx, sizeof(rx));
    ok(got == (size_t)flen && memcmp(rx, frame, got) == 0, "waiter: the peer has exactly the frame (%zu of %zd)", got, flen);

    /* A dispatcher thread with an empty queue: the same. */
    reset(sv[0]);
    disp_idle = true;
    wake = submit(&o, false, &err);
    ok(!wake && cl.fill.len == 0 && drain_peer(rx, sizeof(rx)) == (size_t)flen, "idle dispatcher: sent directly");

    /* Callers that keep batching through the I/O thread. */
    reset(sv[0]);
    wake = submit(&o, false, &err);
    ok(wake && cl.fill.len == (size_t)flen && !cl.send_idle, "application thread: queued, I/O thread woken");
    ok_eq(drain_peer(rx, sizeof(rx)), 0, "application thread: nothing on the socket");
    reset(sv[0]);
    cl.send_idle = false;
    wake = submit(&o, true, &err);
    ok(!wake && cl.fill.len == (size_t)flen, "I/O side busy: queued behind it, no wake-up needed");
    reset(sv[0]);
    cl.io_tid = pthread_self();
    wake = submit(&o, true, &err);
    ok(wake && cl.fill.len == (size_t)flen, "on the I/O thread itself: queued");
    reset(-1);
    wake = submit(&o, true, &err);
    ok(wake && cl.fill.len == (size_t)flen, "no open session: queued for the next one");
    reset(sv[0]);
    cl.has_io_thread = false;
    wake = submit(&o, true, &err);
    ok(wake && cl.fill.len == (size_t)flen, "external loop: queued for trpc_client_process");
    ok_eq(drain_peer(rx, sizeof(rx)), 0, "none of these touched the socket");

    /* A second frame while the first waits: order holds, so it queues behind it. */
    reset(sv[0]);
    wake = submit(&o, false, &err);
    wake = submit(&o, true, &err);
    ok(!wake && cl.fill.len == 2 * (size_t)flen, "a waiter behind queued frames queues too");
    ok_eq(drain_peer(rx, sizeof(rx)), 0, "and sends nothing");

    /* A frame larger than the socket takes at once: the rest stays for the I/O thread. */
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    reset(sv[0]);
    o = pub(big, sizeof(big) - 64);
    flen = wire_encode(frame, sizeof(frame), &o);
    wake = submit(&o, true, &err);
    ok_eq(err, 0, "large frame: enqueued");
    ok(wake && !cl.send_idle, "large frame: the I/O thread is woken for the rest");
    ok(cl.fill.off > 0 && cl.fill.off < cl.fill.len, "large frame: fill.off marks what the kernel took (%zu of %zu)", cl.fill.off,
       cl.fill.len);
    got = drain_peer(rx, sizeof(rx));
    ok_eq(got, cl.fill.off, "the peer has exactly the bytes taken");
    ok(memcmp(rx, frame, got) == 0 && memcmp(cl.fill.data + cl.fill.off, frame + got, (size_t)flen - got) == 0 &&
           cl.fill.len == (size_t)flen,
       "taken and queued bytes are the frame, each byte once");

    /* A socket that takes nothing (the peer's buffer full): all of it stays queued. */
    reset(sv[0]);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    while (send(sv[0], big, sizeof(big), MSG_DONTWAIT) > 0)
        ;
    o = pub(big, 100);
    flen = wire_encode(frame, sizeof(frame), &o);
    wake = submit(&o, true, &err);
    ok(err == 0 && wake && cl.fill.off == 0 && cl.fill.len == (size_t)flen, "EAGAIN: the frame stays queued whole");

    /* A dead socket: the I/O thread meets the error and drops the session; nothing is lost here. */
    drain_peer(rx, sizeof(rx));
    close(sv[1]);
    reset(sv[0]);
    wake = submit(&o, true, &err);
    ok(err == 0 && wake && cl.fill.len == (size_t)flen && cl.fill.off == 0, "EPIPE: the frame stays queued for the I/O thread");

    held_stream();
    close(sv[0]);
    trpc__buf_free(&cl.fill);
    return done_testing();
}
