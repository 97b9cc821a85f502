# shellcheck shell=bash
# Shared by tests/perf/mem_back*.sh (sourced): a fresh broker takes a load from `trpc-bench idle`,
# the connections close, and its VmRSS must come back under 1.25 x its RSS before the load + 10 MiB
# within 10 s (read every 250 ms: a bound on memory, the wait only bounds the test).
. "${top_srcdir:-.}/tests/perf/smoke.sh"
need_build
BENCH=$BUILD/perf/trpc-bench
TRPC_BROKER=$BUILD/src/trpc-broker
[ -r /proc/self/status ] || skip_all "no /proc/PID/status to read memory from"
sanitized && skip_all "a sanitized build's memory is not the broker's"

# mem_back DESCRIPTION SUBS IDLE_ARGS...: three TAP points; SUBS, when not empty, is the number of
# subscriptions the bench must report.
mem_back() {
    local desc=$1 subs=$2 line before held after bound
    shift 2
    echo "1..3"
    cd "$SMOKE_WORK" || exit 99
    trpc_broker_start broker.log || { echo "Bail out! broker did not start"; exit 99; }
    "$BENCH" idle --url "$TRPC_URL" "$@" --hold 1 --after 10 --server-pid "$TRPC_PID" --quiet >out.txt 2>err.txt
    check $? "$desc established and held"
    line=$(tail -n1 out.txt)
    before=$(field "$line" rss_before_kib)
    held=$(field "$line" rss_held_kib)
    after=$(field "$line" rss_after_min_kib)
    [[ $before =~ ^[0-9]+$ ]] && [[ $held =~ ^[0-9]+$ ]] && [[ $after =~ ^[0-9]+$ ]] &&
        { [ -z "$subs" ] || [ "$(field "$line" subs)" = "$subs" ]; }
    check $? "broker memory read: $before KiB before, $held KiB held, $after KiB at least after closing"
    bound=$((before * 5 / 4 + 10240))
    [[ $after =~ ^[0-9]+$ ]] && [ "$after" -le "$bound" ]
    check $? "memory given back: $after KiB after closing, bound $bound KiB"
    server_stop "$TRPC_PID"
    [ "$fails" -eq 0 ] || { show out.txt err.txt; grep -E 'gave memory|stats:' broker.log | show /dev/stdin; exit 1; }
}
