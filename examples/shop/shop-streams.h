/*
 * The streams the shop's durable Placed event needs (shop.trpc: durable = true, its dead letters on
 * shop.billing.placed.dlq), and the one its durable Refund calls wait in while no Billing instance
 * runs: declared by whichever program starts first, accepted as they are by
 * the others (trpc_stream_declare is idempotent). An operator may declare them instead, with
 * retention of their choosing (trpcctl stream add).
 */
#ifndef SHOP_STREAMS_H
#define SHOP_STREAMS_H

#include <stdio.h>

#include <trpc/trpc.h>

static inline int shop_declare_streams(trpc_client *c, const char *who)
{
    static const char *const placed[] = {"shop.billing.placed"};
    static const char *const dead[] = {"shop.billing.placed.dlq"};
    static const char *const refund[] = {"shop.billing.refund"};
    /* A week of orders; dead letters until someone deals with them. */
    trpc_stream_config events = {.subjects = placed, .subject_count = 1, .max_age_ms = 7 * 86400000ull, .dedup_window_ms = -1};
    trpc_stream_config letters = {.subjects = dead, .subject_count = 1, .dedup_window_ms = -1};
    /* A call waits 30 s at most (its contract timeout): a day is plenty. */
    trpc_stream_config refunds = {.subjects = refund, .subject_count = 1, .max_age_ms = 86400000ull, .dedup_window_ms = -1};
    int err = trpc_stream_declare(c, "shop-placed", &events, 5000, NULL);

    /* Declared by an operator with other limits: theirs stand. */
    if (err == -TRPC_E_STREAM_EXISTS)
        err = 0;
    if (err == 0)
        err = trpc_stream_declare(c, "shop-placed-dead", &letters, 5000, NULL);
    if (err == -TRPC_E_STREAM_EXISTS)
        err = 0;
    if (err == 0)
        err = trpc_stream_declare(c, "shop-refunds", &refunds, 5000, NULL);
    if (err == -TRPC_E_STREAM_EXISTS)
        err = 0;
    if (err != 0)
        fprintf(stderr, "%s: declaring the shop's streams: %s (%s)\n", who, trpc_strerror(err), trpc_last_error());
    return err;
}

#endif
