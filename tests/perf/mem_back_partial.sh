#!/bin/bash
# tests/perf/mem_back_partial.sh: an idle broker gives back the receive buffer pages of a load that
# ended (issue 14). 500 connections each send half of a 128 KiB publish and hold it
# (`trpc-bench idle --partial`): 32 MiB received in large reads, which touches every buffer of every
# core's ring. The connections close, and its VmRSS must come back under 1.25 x its RSS before the
# load + 10 MiB within 10 s (read every 250 ms). Before uring_loop_bufs_release the touched
# buffers (16 MiB per core) stayed: 36 MiB against a bound of 13.
. "${top_srcdir:-.}/tests/perf/mem_back_lib.sh"
mem_back "500 connections each holding half of a 128 KiB publish" "" --conns 500 --partial 131072
