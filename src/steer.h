/*
 * steer: which core a new connection lands on (not a public API). Each listener (plaintext, TLS)
 * is a SO_REUSEPORT group of one socket per core, socket i being core i's; without a program the
 * kernel picks a socket by the connection's hash. Option steering:
 *
 *   least-conns  an eBPF SK_REUSEPORT program (loaded through libbpf: CAP_BPF, or CAP_SYS_ADMIN)
 *                picks the core with the fewest connections, from a map each core writes its count
 *                into (mapped into the broker's memory: no system call per connection); ties are
 *                broken by the connection's hash. The broker does not start where it cannot load.
 *   cpu          a classic BPF program (no privilege) picks the core pinned to the CPU that
 *                received the connection.
 *   hash         the kernel's hash.
 *   auto         least-conns where the program loads, else cpu, else hash; the log says which,
 *                and why not the better one.
 */
#ifndef TRPC_SRC_STEER_H
#define TRPC_SRC_STEER_H

#include <stddef.h>

struct broker;
struct core_module;

enum steer_kind { STEER_HASH, STEER_CPU, STEER_LEAST_CONNS };

/* After the listeners are open, before the cores start: attaches the configured program to each
 * listener group. 0, or -errno with why in err (steering least-conns or cpu that cannot be had;
 * auto never fails). */
int steer_init(struct broker *b, char *err, size_t errlen);
void steer_free(struct broker *b);
/* What steers new connections now. */
enum steer_kind steer_kind(const struct broker *b);
const char *steer_kind_name(enum steer_kind k);

/* Keeps the map's count of a core's connections (least-conns). */
extern const struct core_module steer_module;

#endif
