/*
 * The client answers every PING with a PONG, past its send_buffer bound (publishers must not keep
 * them out); against a peer that sends PINGs and reads nothing, it stops reading once its unsent
 * PONGs pass the bound, instead of buffering PONGs without end: the peer's sends then back up. Once
 * the peer reads, the client reads again and answers the PINGs that waited. The peer is
 * tests/gen/wire_peer.h (its CONNACK turns keepalive off, so no timer ends the stall); without
 * the stall, the client took every PING the peer could write (LIMIT bytes of them here).
 */
#include <poll.h>

#include "tests/gen/wire_peer.h"
#include "tests/tap.h"
#include <trpc/trpc.h>

#define BATCH 2048                /* PINGs per send */
#define LIMIT ((size_t)256 << 20) /* bytes of PINGs: far past what socket buffers hold */
#define LAST  0xfeedu             /* the id of the PING sent once the peer reads again */

/* The PONGs among the frames the peer has received by now, without waiting. */
static size_t read_pongs(struct wire_peer *p)
{
    struct wire_frame f;
    size_t n = 0;
    ssize_t got;

    while (wire_reader_next(&p->r, &f) == 1)
        n += f.type == WIRE_PONG;
    got = recv(p->fd, p->buf, sizeof(p->buf), MSG_DONTWAIT);
    if (got > 0)
        wire_reader_feed(&p->r, p->buf, (size_t)got);
    return n;
}

int main(void)
{
    static uint8_t frames[BATCH * WIRE_FIXED_LEN];
    uint8_t tail[2 * WIRE_FIXED_LEN];
    size_t tail_len = 0;
    struct wire_peer p;
    struct wire_peer_accept_arg a = {.p = &p};
    struct wire_out ping = {.type = WIRE_PING, .id = 1};
    struct wire_frame f;
    trpc_options *o;
    trpc_client *c;
    pthread_t th;
    size_t sent = 0, pongs = 0, off = 0;
    int small = 64 << 10;
    bool stalled = false, last = false;

    plan(5);
    if (wire_peer_listen(&p) != 0)
        BAIL_OUT("listen");
    for (int i = 0; i < BATCH; i++)
        if (wire_encode(frames + i * WIRE_FIXED_LEN, WIRE_FIXED_LEN, &ping) != WIRE_FIXED_LEN)
            BAIL_OUT("encode");
    trpc_options_create(&o);
    trpc_options_set_send_buffer(o, 4096);
    trpc_options_set_dispatch(o, TRPC_DISPATCH_THREAD, 1);
    pthread_create(&th, NULL, wire_peer_accept_thread, &a);
    if (trpc_connect(&c, p.url, o) != 0)
        BAIL_OUT("connect: %s", trpc_last_error());
    trpc_options_destroy(o);
    pthread_join(th, NULL);
    if (a.rc != 0)
        BAIL_OUT("handshake");
    /* Small buffers on the peer's side, so that a stall shows soon. */
    setsockopt(p.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    setsockopt(p.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));

    /* PINGs until the client stops taking them: the peer's socket stays full for 2 s. */
    while (sent < LIMIT) {
        struct pollfd pfd = {.fd = p.fd, .events = POLLOUT};
        ssize_t n;

        if (poll(&pfd, 1, 2000) == 0) {
            stalled = true;
            break;
        }
        n = send(p.fd, frames + off, sizeof(frames) - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN)
            BAIL_OUT("send: %s", strerror(errno));
        if (n > 0) {
            off = (off + (size_t)n) % sizeof(frames);
            sent += (size_t)n;
        }
    }
    ok(stalled, "the client stopped reading PINGs it could not answer (after %zu KiB of them)", sent >> 10);
    ok(sent < LIMIT, "before %zu MiB of them", LIMIT >> 20);
    ok_eq(trpc_client_state(c), TRPC_STATE_CONNECTED, "and is still connected");

    /* The rest of a PING the stall cut, then one the peer waits for the PONG of. The peer's socket
     * is full until the client reads, which it does once the peer reads: both at once. */
    if (off % WIRE_FIXED_LEN != 0) {
        tail_len = WIRE_FIXED_LEN - off % WIRE_FIXED_LEN;
        memcpy(tail, frames + off, tail_len);
    }
    ping.id = LAST;
    if (wire_encode(tail + tail_len, WIRE_FIXED_LEN, &ping) != WIRE_FIXED_LEN)
        BAIL_OUT("encode");
    tail_len += WIRE_FIXED_LEN;
    for (size_t done = 0; done < tail_len;) {
        struct pollfd pfd = {.fd = p.fd, .events = POLLOUT};
        ssize_t n;

        pongs += read_pongs(&p);
        (void)poll(&pfd, 1, 10);
        n = send(p.fd, tail + done, tail_len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            done += (size_t)n;
    }
    while (wire_peer_read(&p, 10000, &f) == 1) {
        if (f.type != WIRE_PONG)
            continue;
        pongs++;
        if (f.id == LAST) {
            last = true;
            break;
        }
    }
    ok(last, "once the peer reads, the client reads again and answers the PING sent last");
    ok_eq(pongs, (sent + WIRE_FIXED_LEN - 1) / WIRE_FIXED_LEN + 1, "every PING was answered");

    wire_peer_drop(&p);
    trpc_close(c);
    wire_peer_close(&p);
    return done_testing();
}
