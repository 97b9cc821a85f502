/*
 * policy: the delivery policy a SUB carries in its trpc-* headers (docs/protocol.md, "Delivery
 * policy"), parsed and checked before the subscription is made, into the struct the durable
 * delivery work keeps with the subscription.
 *
 *   trpc-durable          true
 *   trpc-max-deliveries   decimal 1..POLICY_COUNT_MAX
 *   trpc-backoff          initial_ms,factor,max_ms[,jitter]: initial 1..POLICY_MS_MAX, factor a plain
 *                         decimal 1..POLICY_FACTOR_MAX (no sign, no exponent), max initial..POLICY_MS_MAX,
 *                         jitter a plain decimal 0..1 (each delay is spread by up to that fraction)
 *   trpc-dlq              a literal topic of at most max_topic bytes that the SUB's own pattern
 *                         does not match (dead letters must not come back to the subscription)
 *   trpc-ack-wait         decimal milliseconds 1..POLICY_MS_MAX: a delivery not settled by then is
 *                         redelivered
 *   trpc-start            all | new | seq:N | time:RFC3339: where a new consumer group starts in its
 *                         stream
 *
 * Each key at most once; any other key starting with "trpc-" is refused, so that a policy the
 * broker does not know is never silently ignored. Other keys are not the policy's business. The
 * ranges are trpc-gen's (gen/options.c): whatever a contract may say, the broker accepts.
 *
 * Nothing allocates; the result aliases the frame (dlq), so it is valid while the frame is.
 */
#ifndef TRPC_SRC_POLICY_H
#define TRPC_SRC_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/wire.h"
#include "src/err.h"

#define POLICY_COUNT_MAX  2147483647u /* trpc-max-deliveries */
#define POLICY_MS_MAX     2147483647u /* backoff initial and max */
#define POLICY_FACTOR_MAX 100.0
#define POLICY_WHY_MAX    160 /* a refusal's text, NUL included: what the ERR payload carries */

struct policy {
    bool durable;
    uint32_t max_deliveries; /* 0: not set (the topic's own) */
    bool has_backoff;
    uint32_t backoff_initial_ms;
    double backoff_factor;
    uint32_t backoff_max_ms;
    uint16_t backoff_jitter_pm; /* per mille: 0..1000 */
    const char *dlq;            /* NULL: not set; else dlq_len bytes inside the frame, not NUL-terminated */
    uint16_t dlq_len;
    uint32_t ack_wait_ms; /* 0: not set */
    enum { POLICY_START_UNSET, POLICY_START_ALL, POLICY_START_NEW, POLICY_START_SEQ, POLICY_START_TIME } start;
    uint64_t start_seq; /* POLICY_START_SEQ */
    uint64_t start_ns;  /* POLICY_START_TIME: CLOCK_REALTIME */
};

/*
 * Reads the policy headers of SUB frame f (a frame wire_decode accepted, so its topic is a valid
 * pattern) into *p. Returns 0, or BROKER_ETRPC(TRPC_E_BAD_POLICY) (src/err.h) with why[0..why_cap) set to a NUL-terminated
 * text naming the header and the problem; *p is untouched then.
 */
int policy_parse(const struct wire_frame *f, uint16_t max_topic, struct policy *p, char *why, size_t why_cap);

/* One policy value, as header key (trpc-max-deliveries, ...) would carry it, for a group made
 * elsewhere than by a SUB (the admin API's group.add): pattern is the group's. Errors as
 * policy_parse; key must be one of the header names above. */
int policy_set(struct policy *p, const char *key, const char *val, size_t len, const char *pattern, size_t plen, uint16_t max_topic,
               char *why, size_t why_cap);

/* RFC 3339 time (2026-12-05T10:00:00Z, fractions of a second and +hh:mm offsets allowed) into
 * CLOCK_REALTIME nanoseconds: 0, or -EINVAL. */
int policy_time_parse(const char *s, size_t len, uint64_t *ns);

/* True when p asks for anything at all (a SUB without trpc-* headers has the all-zero policy). */
bool policy_is_set(const struct policy *p);
/* Fills what p does not set of max_deliveries, ack_wait_ms, backoff and dlq from d (a stream's
 * defaults for its groups): p->dlq may then point at d's. */
void policy_default(struct policy *p, const struct policy *d);
/* A backoff as trpc-backoff spells it ("100,2,60000,0.2"), its factor the shortest decimal that
 * reads back the same, so that the text can be given again and be the same policy. */
void policy_backoff_text(uint32_t initial_ms, double factor, uint32_t max_ms, uint16_t jitter_pm, char *buf, size_t len);

#endif
