#!/bin/bash
# tests/perf/mem_back.sh: an idle broker gives back the memory of a load that ended (issue 14). A
# broker takes 50,000 subscriptions on 50 connections (`trpc-bench idle --subs`), the connections
# close, and its VmRSS must come back under 1.25 x its RSS before the load + 10 MiB within 10 s
# (read every 250 ms; a bound on memory, the wait only bounds the test). Without the sweep's
# malloc_trim and the fixed heap thresholds the broker kept about 20 MiB of the load for good.
. "${top_srcdir:-.}/tests/perf/mem_back_lib.sh"
mem_back "50 connections with 1,000 subscriptions each" 50000 --conns 50 --subs 1000
