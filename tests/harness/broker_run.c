/* broker_proc_run (broker_proc.h): the broker run to its exit, for tests of how it refuses to
 * start. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/broker_proc.h"

/* Reads fd to its end into buf (NUL-terminated, truncated to len - 1). */
static void slurp(int fd, char *buf, size_t len)
{
    size_t got = 0;
    char sink[4096];
    ssize_t n;

    buf[0] = '\0';
    while ((n = read(fd, got + 1 < len ? buf + got : sink, got + 1 < len ? len - 1 - got : sizeof(sink))) > 0) {
        if (got + 1 < len) {
            got += (size_t)n;
            buf[got] = '\0';
        }
    }
}

int broker_proc_run(const char *const *args, char *out, size_t outlen, char *err, size_t errlen)
{
    char path[1024];
    const char *argv[BROKER_PROC_MAX_ARGS + 2] = {broker_proc_path(path, sizeof(path))};
    int po[2], pe[2], st;
    size_t i;
    pid_t pid;

    for (i = 0; args[i] != NULL && i < BROKER_PROC_MAX_ARGS; i++)
        argv[i + 1] = args[i];
    argv[i + 1] = NULL;
    if (pipe(po) != 0)
        return -1;
    if (pipe(pe) != 0) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        /* A broker that starts when it should not is killed (the alarm outlives execv) rather than
         * hanging its test, which then sees a signal and returns -1. */
        alarm(60);
        dup2(po[1], STDOUT_FILENO);
        dup2(pe[1], STDERR_FILENO);
        close(po[0]);
        close(pe[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    if (pid == -1) {
        close(po[0]);
        close(pe[0]);
        return -1;
    }
    /* Output first, then errors: enough for a broker that writes little and exits. */
    slurp(po[0], out, outlen);
    slurp(pe[0], err, errlen);
    close(po[0]);
    close(pe[0]);
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}
