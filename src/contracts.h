/*
 * contracts: the rpc topics of .trpc contract files (request-contracts), so that /metrics times
 * the requests a contract declares apart, as it does those request-metrics names.
 */
#ifndef TRPC_CONTRACTS_H
#define TRPC_CONTRACTS_H

#include <stddef.h>

/*
 * Loads and checks each contract of files (comma-separated paths) with trpc-gen's front end, and
 * writes the topics of their rpcs (imports included, each once, none of those skip names) to out
 * as a comma-separated list. Returns how many, or -EINVAL with why in err: the contract's first
 * error as trpc-gen reports it, or a list longer than outlen.
 */
int contracts_rpc_topics(const char *files, const char *skip, char *out, size_t outlen, char *err, size_t errlen);

#endif
