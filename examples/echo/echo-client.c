/*
 * echo-client: calls the echo service.
 *
 *   echo-client [trpc://host:port] [count]
 *
 * Sends `count` requests to "echo" one after the other, checks that each reply carries the
 * request's payload, and prints "ok N". Exit status 0 when every request was answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trpc/trpc.h>

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "trpc://127.0.0.1:4250";
    int count = argc > 2 ? atoi(argv[2]) : 10;
    trpc_client *c;
    int err, i, good = 0;

    err = trpc_connect(&c, url, NULL);
    if (err) {
        fprintf(stderr, "echo-client: %s (%s)\n", trpc_strerror(err), trpc_last_error());
        return 1;
    }
    for (i = 0; i < count; i++) {
        char text[64];
        int len = snprintf(text, sizeof(text), "ping %d", i);
        trpc_msg *reply = NULL;

        err = trpc_request(c, "echo", text, (size_t)len, 2000, &reply);
        if (err) {
            fprintf(stderr, "echo-client: request %d: %s (%s)\n", i, trpc_strerror(err), trpc_last_error());
            trpc_msg_free(reply);
            continue;
        }
        if (trpc_msg_len(reply) == (size_t)len && memcmp(trpc_msg_data(reply), text, (size_t)len) == 0)
            good++;
        else
            fprintf(stderr, "echo-client: request %d: wrong reply\n", i);
        trpc_msg_free(reply);
    }
    trpc_close(c);
    printf("ok %d of %d\n", good, count);
    return good == count ? 0 : 1;
}
