/*
 * /readyz while the broker stops: 200 "ready" before SIGTERM, 503 "stopping" while its cores still
 * give a subscriber that does not read its 2 s (so that an orchestrator sends no one new), and a
 * clean exit after. The subscriber's receive buffer is fixed small (no autotuning, whatever the
 * sysctls allow), so most of its 40 MiB is still the broker's to send when the signal comes.
 */
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/broker/itest.h"

#define PAYLOAD (64u << 10)
#define COUNT   640 /* 40 MiB: more than both sockets' buffers, less than max-output-bytes */
#define RCVBUF  (64 << 10)

int main(void)
{
    static const char *const args[] = {"--cores", "1", NULL};
    static uint8_t payload[PAYLOAD];
    struct broker_proc b;
    struct tc sub, pub;
    char body[4096] = "";
    int code, st, rcvbuf = RCVBUF;
    long long deadline;

    plan(4);
    itest_start(&b, args);
    if (b.http_port == 0) {
        printf("Bail out! the broker serves no HTTP\n");
        return 1;
    }
    code = broker_proc_http_get(&b, "/readyz", body, sizeof(body));
    ok(code == 200 && strstr(body, "ready\nstore up") != NULL, "/readyz before SIGTERM: %d ready", code);

    itest_connect(&sub, &b, 0);
    setsockopt(sub.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    itest_connect(&pub, &b, 0);
    tc_sub(&sub, 1, "t", NULL);
    tc_sync(&sub, NULL);
    for (unsigned i = 0; i < COUNT; i++)
        tc_pub(&pub, "t", payload, sizeof(payload));
    tc_sync(&pub, NULL); /* one core: every MSG is in the subscriber's output now */
    ok(kill(b.pid, SIGTERM) == 0, "SIGTERM with %u MiB unread by a subscriber", COUNT * PAYLOAD >> 20);
    /* The cores wait up to 2 s for the subscriber once the control thread has stopped, which may
     * take a while under a sanitizer: ask until the answer is no longer 200 (or 15 s pass). */
    deadline = broker_proc_now_ms() + 15000;
    while ((code = broker_proc_http_get(&b, "/readyz", body, sizeof(body))) == 200 && broker_proc_now_ms() < deadline)
        usleep(20000);
    ok(code == 503 && strstr(body, "stopping\nstore up") != NULL, "/readyz while the cores stop: %d stopping", code);
    tc_close(&sub);
    st = broker_proc_signal_wait(&b, SIGTERM, 20000);
    ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker exits 0 (status %d)", st);
    tc_close(&pub);
    broker_proc_stop(&b);
    return done_testing();
}
