/*
 * broker_proc: runs a real trpc-broker process for integration tests.
 *
 * The broker is started with `--listen 127.0.0.1:0` so the kernel picks a port no other test
 * holds; the harness reads the real port from the broker's `listening on 127.0.0.1:PORT` log line.
 * stderr goes to a log file, which broker_proc_stop() removes after a clean exit and copies to
 * the test's stderr (as TAP comments) otherwise.
 *
 * Each broker gets a data directory of its own (`--data-dir`), made fresh by broker_proc_start()
 * under $TMPDIR or /tmp (trpc-data-XXXXXX), so brokers never share one and never touch the default
 * /var/lib/trpc. broker_proc_restart() keeps it, so what the broker stored survives a restart;
 * broker_proc_stop() removes it. A test that exits without stopping its broker (a bail-out) has
 * it killed and its directory removed by an atexit handler. When the caller's arguments name
 * --data-dir ("--data-dir DIR" or "--data-dir=DIR"), that directory is used instead and never
 * removed.
 *
 * Each broker also gets `--http 127.0.0.1:0`, so its dashboard and /metrics listen on a port the
 * kernel picks (not the default 8250, which brokers started in parallel would fight over);
 * http_port is read from its `http on http://HOST:PORT/` log line. When the
 * caller's arguments name --http, theirs is used; with `--http off`, `--http=off` or an empty
 * value there is no HTTP server and http_port stays 0. The HTTP line comes before the listening
 * one: a broker that listens without it has failed to start.
 *
 * The binary is $TRPC_BROKER if set, else $top_builddir/src/trpc-broker (make check exports
 * top_builddir), else ./src/trpc-broker.
 */
#ifndef TRPC_TESTS_BROKER_PROC_H
#define TRPC_TESTS_BROKER_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define BROKER_PROC_MAX_ARGS 32

struct broker_proc {
    pid_t pid; /* 0 when not running */
    unsigned port;
    char url[64];       /* trpc://127.0.0.1:PORT */
    unsigned tls_port;  /* its TLS listener's (--tls-listen 127.0.0.1:0), from its `TLS on 127.0.0.1:PORT` line; 0: none */
    char tls_url[64];   /* trpcs://localhost:PORT (the test certificates name localhost) */
    unsigned http_port; /* dashboard and /metrics: http://127.0.0.1:PORT/ (or the caller's host); 0: none */
    char log_path[256]; /* the broker's stderr */
    char data_dir[256]; /* its --data-dir: a fresh temporary directory, or the caller's */
    /* private */
    char *_args[BROKER_PROC_MAX_ARGS];
    int _nargs;
    int _dir_slot; /* 1 + the index of data_dir among the directories the harness made; 0: none to remove */
};

/* Starts the broker with the extra arguments in the NULL-terminated list (may be NULL), e.g.
 * {"--cores", "2", NULL}, a fresh data directory and --http 127.0.0.1:0 (see above), and waits (up
 * to 20 s) until it accepts connections and has logged its HTTP port. Returns 0 or a negative
 * errno; on failure the log is copied to stderr and the data directory made for it is removed. */
int broker_proc_start(struct broker_proc *b, const char *const *extra_args);

/* Starts it again on the same port with the same arguments and the same data directory (after
 * broker_proc_kill or broker_proc_signal_wait; broker_proc_stop frees the arguments and removes
 * the directory). Its HTTP server gets a port the kernel picks again: http_port is read anew. */
int broker_proc_restart(struct broker_proc *b);

/* SIGKILL and reap: a crash, as far as clients can tell. Returns 0 or a negative errno. */
int broker_proc_kill(struct broker_proc *b);

/* Sends `sig` (SIGTERM for a clean stop), waits up to timeout_ms, then SIGKILLs. Returns the
 * wait status (use WIFEXITED/WEXITSTATUS), or -ETIMEDOUT when it had to be killed. */
int broker_proc_signal_wait(struct broker_proc *b, int sig, int timeout_ms);

/* SIGTERM with a 20 s grace; frees the arguments and removes the data directory the harness made
 * (not the caller's). Returns as broker_proc_signal_wait(). */
int broker_proc_stop(struct broker_proc *b);

/* Resident set size of the broker in KiB (VmRSS), or a negative errno. */
long broker_proc_rss_kb(const struct broker_proc *b);

/* Counts lines of the broker's log containing `needle` so far. */
int broker_proc_log_count(const struct broker_proc *b, const char *needle);

/* The broker's binary: $TRPC_BROKER, else $top_builddir/src/trpc-broker (in buf). */
const char *broker_proc_path(char *buf, size_t len);

/* Removes directory dir and everything under it (a test's scratch or data directory). */
void broker_proc_rm_tree(const char *dir);

/* Runs the broker with args (NULL-terminated; nothing added, so give --data-dir and
 * --http 127.0.0.1:0 when it gets that far) to its exit, with stdout and stderr into out and err
 * (NUL-terminated, truncated). Returns its exit status, or -1 when it could not run or was killed
 * by a signal. For tests of how the broker refuses to start: one that starts runs until something
 * stops it. */
int broker_proc_run(const char *const *args, char *out, size_t outlen, char *err, size_t errlen);

/* A TCP connection to the broker (blocking fd, TCP_NODELAY), or a negative errno. */
int broker_proc_connect(const struct broker_proc *b);

/* GET path from the broker's HTTP server (Connection: close, 2 s to answer): the status code, with
 * the body NUL-terminated in body; -1 when nothing answered. body is read into whole first, so len
 * must hold the headers too (a few hundred bytes), or the body comes back empty or cut. */
int broker_proc_http_get(const struct broker_proc *b, const char *path, char *body, size_t len);

/* CLOCK_MONOTONIC in milliseconds, for a test's deadlines. */
long long broker_proc_now_ms(void);

#endif
