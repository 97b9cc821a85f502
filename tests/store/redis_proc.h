/*
 * redis_proc: a real redis-server for the store tests, on a free loopback port, in a temporary
 * directory, with nothing saved (--save '' --appendonly no).
 *
 * Every server started is stopped by its PID when the test exits (atexit), and dies with the test
 * should the test be killed (PR_SET_PDEATHSIG), so a failing test leaves no process behind. The
 * binary is $REDIS_SERVER, else redis-server from PATH; without one the test is skipped.
 */
#ifndef TRPC_TESTS_STORE_REDIS_PROC_H
#define TRPC_TESTS_STORE_REDIS_PROC_H

#include <stdint.h>
#include <sys/types.h>

struct redis_proc {
    pid_t pid; /* 0 when not running */
    uint16_t port;
    char url[64]; /* redis://127.0.0.1:PORT */
    char dir[256];
    char password[64]; /* --requirepass, "" for none */
};

/* Skips the whole test (TAP SKIP) unless a redis-server can be found. */
void redis_proc_require(void);

/* Starts a server (with --requirepass when password is not NULL) and waits, up to 10 s, until it
 * answers. Returns 0 or a negative errno. */
int redis_proc_start(struct redis_proc *r, const char *password);

/* Starts it again on the same port, empty. */
int redis_proc_restart(struct redis_proc *r);

/* SIGKILL and reap. */
void redis_proc_kill(struct redis_proc *r);

/* Kills it and removes its directory. */
void redis_proc_stop(struct redis_proc *r);

/* A loopback port nothing listens on at the moment of the call. */
uint16_t redis_proc_free_port(void);

#endif
