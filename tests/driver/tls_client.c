/*
 * trpcs:// against `openssl s_server`, no TRPC broker: a TLS peer that is not our own engine.
 * Each certificate tests/tls/mkcerts.sh makes is served in turn, and trpc_connect must fail with
 * -TRPC_E_TLS and words that name the cause (an unknown CA, no CA configured, a name mismatch, an
 * expired certificate, a client certificate the server requires); trpc:// to the TLS server and
 * trpcs:// to a plain listener that answers in plaintext must fail clearly and at once. When the
 * certificate is good the TLS phase passes: s_server prints what it decrypted, which must be the
 * CONNECT with this client's name, and trpc_connect then ends for want of a CONNACK (s_server
 * speaks no TRPC), not for TLS. Every wait is bounded; the servers listen on loopback only and are
 * killed by their pid.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/tap.h"
#include "tests/tls/certs.h"
#include <trpc/trpc.h>

#define NAME "tls-client-test-7f3a" /* the CONNECT's :name, looked for in s_server's output */

struct server {
    pid_t pid;
    int in_fd; /* s_server's stdin, kept open: at its end s_server would drop the connection */
    unsigned port;
    char out[128]; /* its stdout and stderr */
};

/* A port nothing listens on now (the kernel's pick); another process may take it before us, so the
 * caller retries when its server cannot bind. */
static unsigned free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unsigned port = 0;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* The file's contents (NUL-terminated, at most cap - 1 bytes, binary kept): its length. */
static size_t slurp(const char *file, char *buf, size_t cap)
{
    FILE *f = fopen(file, "r");
    size_t n = 0;

    if (f != NULL) {
        n = fread(buf, 1, cap - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return n;
}

static void server_stop(struct server *s)
{
    int st;

    if (s->in_fd >= 0)
        close(s->in_fd);
    s->in_fd = -1;
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 500 && waitpid(s->pid, &st, WNOHANG) == 0; i++) {
        if (i == 250)
            kill(s->pid, SIGKILL);
        usleep(10000);
    }
    s->pid = 0;
}

/* Waits up to 5 s for s_server to exit by itself (it does after its one connection). */
static void server_wait_exit(struct server *s)
{
    int st;

    if (s->in_fd >= 0)
        close(s->in_fd);
    s->in_fd = -1;
    for (int i = 0; i < 500; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        usleep(10000);
    }
    server_stop(s);
}

/* Starts `openssl s_server` for one connection on 127.0.0.1 with cert and key (and args[], NULL
 * terminated), and waits until it accepts: true, or false after a few ports that did not work. */
static bool server_start(struct server *s, const char *cert, const char *key, const char *const *args)
{
    static int runs;

    for (int attempt = 0; attempt < 5; attempt++) {
        char accept_at[32], naccept[] = "1", text[4096];
        const char *argv[24] = {"openssl", "s_server", "-accept", accept_at, "-cert", cert, "-key", key, "-naccept", naccept};
        int argc = 10, pipefd[2], fd;
        bool ready = false;

        for (int i = 0; args != NULL && args[i] != NULL && argc < 23; i++)
            argv[argc++] = args[i];
        argv[argc] = NULL;
        s->port = free_port();
        if (s->port == 0)
            continue;
        snprintf(accept_at, sizeof(accept_at), "127.0.0.1:%u", s->port);
        snprintf(s->out, sizeof(s->out), "%s/s_server.%d.out", certs_dir, runs++);
        if (pipe2(pipefd, O_CLOEXEC) != 0)
            BAIL_OUT("pipe: %s", strerror(errno));
        fd = open(s->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            BAIL_OUT("open %s: %s", s->out, strerror(errno));
        fflush(stdout);
        s->pid = fork();
        if (s->pid < 0)
            BAIL_OUT("fork: %s", strerror(errno));
        if (s->pid == 0) {
            dup2(pipefd[0], 0);
            dup2(fd, 1);
            dup2(fd, 2);
            execvp("openssl", (char *const *)argv);
            _exit(127);
        }
        close(pipefd[0]);
        close(fd);
        s->in_fd = pipefd[1];
        /* "ACCEPT" once it listens; an exit instead (the port was taken): try another. */
        for (int i = 0; i < 1000 && !ready; i++) {
            int st;

            slurp(s->out, text, sizeof(text));
            ready = strstr(text, "ACCEPT") != NULL;
            if (!ready && waitpid(s->pid, &st, WNOHANG) == s->pid) {
                s->pid = 0;
                break;
            }
            if (!ready)
                usleep(10000);
        }
        if (ready)
            return true;
        diag("s_server on port %u did not start: %.300s", s->port, text);
        server_stop(s);
    }
    return false;
}

/* One connect to url with o: its result, and trpc_last_error() in why. */
static int attempt(const char *url, const trpc_options *o, char *why, size_t cap)
{
    trpc_client *c = NULL;
    int err = trpc_connect(&c, url, o);

    snprintf(why, cap, "%s", trpc_last_error());
    if (err == 0)
        trpc_close(c);
    return err;
}

/* A connect to s_server serving cert/key (with args) that must fail the TLS handshake with words
 * containing want. */
static void refused(const char *what, const char *cert, const char *key, const char *const *args, const char *host,
                    const trpc_options *o, const char *want)
{
    struct server s = {.in_fd = -1};
    char url[128], why[512];
    int err;

    if (!server_start(&s, cert_path(cert), cert_path(key), args))
        BAIL_OUT("cannot start openssl s_server");
    snprintf(url, sizeof(url), "trpcs://%s:%u", host, s.port);
    err = attempt(url, o, why, sizeof(why));
    ok_eq(err, -TRPC_E_TLS, "%s: TRPC_E_TLS (%s)", what, trpc_err_name(err));
    ok(strstr(why, want) != NULL && strstr(why, "TLS with") != NULL, "%s: the error says so: %s", what, why);
    server_stop(&s);
}

/* A connect to s_server serving cert/key (with args) whose TLS handshake must pass: then s_server
 * decrypts the CONNECT, and the connect fails only for want of a CONNACK. */
static void passes(const char *what, const char *cert, const char *key, const char *const *args, const char *host,
                   const trpc_options *o)
{
    static char text[1 << 16];
    struct server s = {.in_fd = -1};
    char url[128], why[512];
    size_t n;
    int err;

    if (!server_start(&s, cert_path(cert), cert_path(key), args))
        BAIL_OUT("cannot start openssl s_server");
    snprintf(url, sizeof(url), "trpcs://%s:%u", host, s.port);
    err = attempt(url, o, why, sizeof(why));
    ok(err == -TRPC_E_TIMEOUT && strstr(why, "no CONNACK") != NULL, "%s: TLS passed, no CONNACK came (%s: %s)", what,
       trpc_err_name(err), why);
    server_wait_exit(&s);
    n = slurp(s.out, text, sizeof(text));
    ok(memmem(text, n, NAME, strlen(NAME)) != NULL, "%s: s_server decrypted the CONNECT naming this client", what);
}

struct plain_peer {
    int lfd;
    pthread_t th;
    const void *reply; /* what it answers with */
    size_t reply_len;
    int first_byte; /* of what the client sent; -1: nothing */
};

/* A plain TCP listener that answers its one client with p->reply, then waits for it to go. */
static void *plain_peer_run(void *arg)
{
    struct plain_peer *p = arg;
    struct pollfd pfd = {.fd = p->lfd, .events = POLLIN};
    unsigned char buf[4096];
    int fd;

    if (poll(&pfd, 1, 10000) != 1)
        return NULL;
    fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return NULL;
    pfd.fd = fd;
    if (poll(&pfd, 1, 10000) == 1 && recv(fd, buf, sizeof(buf), 0) > 0)
        p->first_byte = buf[0];
    (void)send(fd, p->reply, p->reply_len, MSG_NOSIGNAL);
    while (poll(&pfd, 1, 10000) == 1 && recv(fd, buf, sizeof(buf), 0) > 0)
        ;
    close(fd);
    return NULL;
}

/* A connect to scheme://localhost:PORT of a plain listener that answers with reply: its result,
 * the detail in why, and the first byte the listener got. */
static int plain_try(const char *scheme, const void *reply, size_t reply_len, const trpc_options *o, char *why, size_t cap,
                     int *first_byte)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct plain_peer p = {.reply = reply, .reply_len = reply_len, .first_byte = -1};
    socklen_t len = sizeof(a);
    char url[64];
    int err;

    p.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p.lfd < 0 || bind(p.lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(p.lfd, 1) != 0 ||
        getsockname(p.lfd, (struct sockaddr *)&a, &len) != 0)
        BAIL_OUT("listen: %s", strerror(errno));
    pthread_create(&p.th, NULL, plain_peer_run, &p);
    snprintf(url, sizeof(url), "%s://localhost:%u", scheme, (unsigned)ntohs(a.sin_port));
    err = attempt(url, o, why, cap);
    pthread_join(p.th, NULL);
    close(p.lfd);
    *first_byte = p.first_byte;
    return err;
}

int main(void)
{
    static const char *const verify[] = {"-Verify", "1", "-CAfile", NULL, NULL};
    static const char hello[] = "HELLO this is not TLS\r\n";
    static const unsigned char alert[] = {21, 3, 3, 0, 2, 2, 70}; /* fatal protocol_version */
    const char *verify_args[5];
    char why[512], url[128];
    struct server s = {.in_fd = -1};
    trpc_options *o, *none;
    struct timespec t0, t1;
    int err, first;

    signal(SIGPIPE, SIG_IGN);
    if (system("openssl version >/dev/null 2>&1") != 0)
        skip_all("no openssl command");
    certs_make();
    memcpy(verify_args, verify, sizeof(verify));
    verify_args[3] = cert_path("ca.pem");

    trpc_options_create(&o);
    trpc_options_set_name(o, NAME);
    trpc_options_set_connect_timeout(o, 1500);
    trpc_options_set_reconnect(o, 0, 10, 100);
    trpc_options_set_tls_ca(o, cert_path("ca.pem"));
    trpc_options_create(&none); /* no CA: the system's store, which never heard of the test CA */
    trpc_options_set_name(none, NAME);
    trpc_options_set_connect_timeout(none, 1500);
    trpc_options_set_reconnect(none, 0, 10, 100);

    /* The server's certificate refused, in words. */
    refused("self-signed", "self.pem", "self.key", NULL, "localhost", o, "self-signed certificate");
    refused("no CA configured", "server.pem", "server.key", NULL, "localhost", none, "unable to get local issuer certificate");
    refused("name mismatch", "wronghost.pem", "wronghost.key", NULL, "localhost", o, "hostname mismatch");
    refused("expired", "expired.pem", "expired.key", NULL, "localhost", o, "certificate has expired");
    trpc_options_set_tls_server_name(o, "elsewhere.example");
    refused("a server name override the certificate lacks", "server.pem", "server.key", NULL, "127.0.0.1", o, "hostname mismatch");
    trpc_options_set_tls_server_name(o, NULL);
    refused("client certificate required, none given", "server.pem", "server.key", verify_args, "localhost", o,
            "certificate required");

    /* Good certificates: the TLS phase passes and CONNECT goes out encrypted. */
    passes("localhost", "server.pem", "server.key", NULL, "localhost", o);
    passes("127.0.0.1 (an IP SAN)", "server.pem", "server.key", NULL, "127.0.0.1", o);
    trpc_options_set_tls_server_name(o, "elsewhere.example");
    passes("a server name override the certificate has", "wronghost.pem", "wronghost.key", NULL, "127.0.0.1", o);
    trpc_options_set_tls_server_name(o, NULL);
    trpc_options_set_tls_cert(o, cert_path("client.pem"), cert_path("client.key"));
    passes("mTLS with the client certificate", "server.pem", "server.key", verify_args, "localhost", o);
    trpc_options_set_tls_cert(o, NULL, NULL);
    trpc_options_set_tls_insecure_skip_verify(none, true);
    passes("self-signed with insecure_skip_verify", "self.pem", "self.key", NULL, "localhost", none);
    trpc_options_set_tls_insecure_skip_verify(none, false);
    trpc_options_set_external_loop(o, true);
    passes("external-loop mode", "server.pem", "server.key", NULL, "localhost", o);
    refused("external-loop mode, expired", "expired.pem", "expired.key", NULL, "localhost", o, "certificate has expired");
    trpc_options_set_external_loop(o, false);

    /* Plaintext on the TLS port: s_server drops it without a word; the client says so at once. */
    if (!server_start(&s, cert_path("server.pem"), cert_path("server.key"), NULL))
        BAIL_OUT("cannot start openssl s_server");
    snprintf(url, sizeof(url), "trpc://127.0.0.1:%u", s.port);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    err = attempt(url, o, why, sizeof(why));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ok(err == -TRPC_E_CONNECTION_LOST && strstr(why, "trpcs://") != NULL, "trpc:// to a TLS server fails with a hint (%s: %s)",
       trpc_err_name(err), why);
    ok((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1000, "and at once, not at the timeout");
    server_stop(&s);

    /* trpcs:// to a plaintext peer, trpc:// to one that answers in TLS (an alert). */
    err = plain_try("trpcs", hello, sizeof(hello) - 1, o, why, sizeof(why), &first);
    ok_eq(first, 22, "trpcs:// to a plain listener: it got a ClientHello");
    ok_eq(err, -TRPC_E_TLS, "and the connect fails with TRPC_E_TLS (%s)", trpc_err_name(err));
    ok(strstr(why, "not TLS") != NULL && strstr(why, "0x48") != NULL, "the error says the server is not TLS: %s", why);
    err = plain_try("trpc", alert, sizeof(alert), o, why, sizeof(why), &first);
    ok(first != 22 && err == -TRPC_E_PROTOCOL && strstr(why, "answered in TLS") != NULL,
       "trpc:// to a peer that answers with a TLS alert: %s: %s", trpc_err_name(err), why);

    /* Files that cannot be read fail before any connection, naming the file. */
    trpc_options_set_tls_ca(none, "/nonexistent/ca.pem");
    err = attempt("trpcs://127.0.0.1:1", none, why, sizeof(why));
    ok(err == -TRPC_E_TLS && strstr(why, "/nonexistent/ca.pem") != NULL, "an unreadable CA file: %s: %s", trpc_err_name(err), why);
    trpc_options_set_tls_ca(none, NULL);
    trpc_options_set_tls_cert(none, cert_path("client.pem"), cert_path("server.key"));
    err = attempt("trpcs://127.0.0.1:1", none, why, sizeof(why));
    ok(err == -TRPC_E_TLS && strstr(why, "does not belong") != NULL, "a key that is not the certificate's: %s: %s",
       trpc_err_name(err), why);

    trpc_options_destroy(o);
    trpc_options_destroy(none);
    certs_remove();
    return done_testing();
}
