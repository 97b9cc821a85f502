/* Sums the per-core counter blocks (see stats.h). */
#include <string.h>

#include "src/broker.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void broker_stats_sum(const struct broker *b, struct broker_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < b->ncores; i++) {
        const struct broker_core_stats *s = &b->stats[i];
        const struct uring_loop_stats *l = &b->cores[i]->loop.stats;

        out->core.connections += LOAD(s->connections);
        out->core.accepted += LOAD(s->accepted);
        out->core.closed += LOAD(s->closed);
        out->core.refused += LOAD(s->refused);
        out->core.msgs_in += LOAD(s->msgs_in);
        out->core.bytes_in += LOAD(s->bytes_in);
        out->core.msgs_out += LOAD(s->msgs_out);
        out->core.bytes_out += LOAD(s->bytes_out);
        out->core.drops += LOAD(s->drops);
        out->core.slow_consumers += LOAD(s->slow_consumers);
        out->core.protocol_errors += LOAD(s->protocol_errors);
        out->core.idle_timeouts += LOAD(s->idle_timeouts);
        out->core.subscriptions += LOAD(s->subscriptions);
        out->core.requests += LOAD(s->requests);
        out->core.request_timeouts += LOAD(s->request_timeouts);
        out->core.xmsgs_out += LOAD(s->xmsgs_out);
        out->core.xbacklog += LOAD(s->xbacklog);
        out->core.xblk_reused += LOAD(s->xblk_reused);
        out->core.xblk_alloc += LOAD(s->xblk_alloc);
        out->core.xblk_oversize += LOAD(s->xblk_oversize);
        out->core.xblk_trimmed += LOAD(s->xblk_trimmed);
        out->core.direct_sends += LOAD(s->direct_sends);
        out->core.direct_rests += LOAD(s->direct_rests);
        out->core.direct_handbacks += LOAD(s->direct_handbacks);
        out->core.rx_pauses += LOAD(s->rx_pauses);
        out->core.heap_trims += LOAD(s->heap_trims);
        out->core.buf_releases += LOAD(s->buf_releases);
        out->core.buf_release_errors += LOAD(s->buf_release_errors);
        if (LOAD(s->xblk_large_peak) > out->core.xblk_large_peak) /* a peak: the largest core's */
            out->core.xblk_large_peak = LOAD(s->xblk_large_peak);
        /* Written by the loop without atomics; a torn read of one counter is harmless on the
         * 64-bit targets we build for (docs/uring.md section 9). */
        out->enobufs += LOAD(l->enobufs);
        out->iterations += LOAD(l->iterations);
        out->cqes += LOAD(l->cqes);
        out->sends += LOAD(l->sends);
        out->short_sends += LOAD(l->short_sends);
        out->gate_waits += LOAD(l->gate_waits);
    }
}
