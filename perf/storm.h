/*
 * storm: the login-storm workload of trpc-bench (perf/trpc-bench.1, "storm"): one thread, raw
 * sockets, N slots that log in, close and start over. See perf/storm.c.
 */
#ifndef TRPC_PERF_STORM_H
#define TRPC_PERF_STORM_H

/* Parses argv (argv[1] is "storm"), runs the workload and prints the result line. Returns the
 * exit status: 0 when every attempt got an answer, 1 when not, 2 for bad usage. */
int storm_main(const char *prog, const char *url_default, int argc, char **argv);

#endif
