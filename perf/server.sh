# shellcheck shell=sh disable=SC2034  # TRPC_URL and the like are for the calling script
# Start and stop trpc-broker and nats-server on loopback ports the kernel picks (sourced, not run).
# Defines functions only: sourcing it starts nothing and sets no trap, so scripts with their own
# cleanup (tests/driver/*.sh, tests/perf/*.sh) and perf/common.sh share it. POSIX sh; python3
# only for a broker under a wrapper.
#
#   trpc_broker_start LOG [WRAPPER...]
#       Starts $TRPC_BROKER --listen 127.0.0.1:0 $BROKER_ARGS, under WRAPPER when given (e.g.
#       valgrind --tool=callgrind; then on a port free at the moment instead of one the kernel
#       picks, see _server_poke), stderr to LOG, and waits until the broker logs the port it got
#       (60 s at most: valgrind is slow). Sets TRPC_PID, TRPC_PORT and TRPC_URL. Returns 1, with
#       the log on stderr, when it exits or never reports a port (TRPC_PID is then stopped).
#       Each broker gets a data directory of its own, made fresh (mktemp -d, trpc-data-XXXXXX under
#       TMPDIR or /tmp) and passed as --data-dir, so brokers never share one and never touch the
#       default /var/lib/trpc: TRPC_DATA_DIR. server_stop of its PID removes it. When BROKER_ARGS
#       names --data-dir, that one is used and never removed (TRPC_DATA_DIR is then empty).
#       Each broker also gets --http 127.0.0.1:0, so its dashboard and /metrics listen on a port
#       the kernel picks, never the default 8250 that brokers started side by side would fight
#       over: TRPC_HTTP_PORT, read from its "dashboard on http://HOST:PORT/" log line (https://
#       for a broker with a TLS listener).
#       When BROKER_ARGS names --http, that one is used; with --http off or --http= there is no
#       HTTP server and TRPC_HTTP_PORT is empty. For now a broker that logs no HTTP line (one
#       without the HTTP server) counts as started 2 s after its port line, with TRPC_HTTP_PORT
#       empty.
#       A broker whose BROKER_ARGS name --tls-listen 127.0.0.1:0 also gets TRPC_TLS_URL
#       (trpcs://localhost:PORT, the name the test certificates of tests/tls/mkcerts.sh carry).
#   nats_server_start LOG
#       The same for $NATS_SERVER -a 127.0.0.1 -p -1 $NATS_ARGS; sets NATS_PID, NATS_PORT and
#       NATS_URL (tls://localhost:PORT when NATS_ARGS names --tls).
#   redis_server_start LOG
#       $REDIS_SERVER (default redis-server) on a port free at the moment (Redis cannot report one
#       the kernel picked; python3 finds it, and a port taken in between is tried again, three
#       times in all), saving nothing, its log LOG, until it logs that it is ready; sets REDIS_PID,
#       REDIS_PORT and REDIS_URL (redis://127.0.0.1:PORT).
#   server_stop PID [SECONDS]
#       SIGTERM, up to SECONDS (default 10) for it to exit, then SIGKILL; reaps it, and removes the
#       data directory trpc_broker_start made for it.
#   trpc_data_dirs_remove
#       Removes every data directory trpc_broker_start made that server_stop has not: for a cleanup
#       trap that stops brokers by other means. Call it once they have exited (kill -KILL, wait).
#   server_alive PID
#       True while PID runs (a zombie does not count).
#
# Call the start functions directly, not in $(...): they set variables and start a child of the
# calling shell. When PERF_PIDS_LOG names a file, every PID started is appended to it, so a test
# can check afterwards that nothing is left running.

server_alive() {
    [ -r "/proc/$1/stat" ] || return 1
    # The state is the first field after the command name, which may itself hold ") ".
    case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) in
    Z* | X* | "") return 1 ;;
    esac
    return 0
}

server_stop() {
    _pid=$1
    _ticks=$((${2:-10} * 10))
    if kill -TERM "$_pid" 2>/dev/null; then
        while [ "$_ticks" -gt 0 ] && server_alive "$_pid"; do
            sleep 0.1
            _ticks=$((_ticks - 1))
        done
        # Either may fail (already gone, not our child): callers may run under set -e.
        kill -KILL "$_pid" 2>/dev/null || true
    fi
    wait "$_pid" 2>/dev/null || true
    _trpc_data_dir_remove "$_pid"
}

# The data directories trpc_broker_start made that are not removed yet, one "PID DIR" line each.
_TRPC_DATA_DIRS=

# _trpc_data_dir_remove [PID]: removes the data directory made for the broker PID, or every one.
_trpc_data_dir_remove() {
    _keep=
    while IFS= read -r _entry; do
        [ -n "$_entry" ] || continue
        if [ -z "${1:-}" ] || [ "${_entry%% *}" = "$1" ]; then
            rm -rf -- "${_entry#* }"
        else
            _keep="$_keep$_entry
"
        fi
    done <<EOF
$_TRPC_DATA_DIRS
EOF
    _TRPC_DATA_DIRS=$_keep
}

trpc_data_dirs_remove() {
    _trpc_data_dir_remove
}

# _server_port PID LOG SED-EXPRESSION [PORT]: prints the port once LOG names it (60 s at most),
# poking PORT meanwhile when it is known and not 0.
_server_port() {
    _end=$(($(date +%s) + 60))
    while [ "$(date +%s)" -le "$_end" ]; do
        _port=$(sed -n "$3" "$2" | head -n1)
        if [ -n "$_port" ]; then
            echo "$_port"
            return 0
        fi
        server_alive "$1" || break
        if [ "${4:-0}" != 0 ]; then _server_poke "$4"; fi
        sleep 0.1
    done
    return 1
}

# _uptime_cs: the system's uptime in hundredths of a second (/proc/uptime), a clock finer than date's.
_uptime_cs() {
    read -r _up _ </proc/uptime
    echo $((${_up%.*} * 100 + 1${_up#*.} - 100))
}

# _server_http_port PID LOG: prints the HTTP port once LOG names it (2 s at most; 1 when it does
# not, or PID exits first).
_server_http_port() {
    _end=$(($(_uptime_cs) + 200))
    while :; do
        _port=$(sed -n 's|.*dashboard on https\{0,1\}://.*:\([0-9][0-9]*\)/.*|\1|p' "$2" | head -n1)
        if [ -n "$_port" ]; then
            echo "$_port"
            return 0
        fi
        if [ "$(_uptime_cs)" -ge "$_end" ] || ! server_alive "$1"; then return 1; fi
        sleep 0.1
    done
}

_server_failed() {
    server_stop "$1" 2
    echo "server (pid $1) did not report a port, or exited; its log:" >&2
    sed 's/^/  /' "$2" >&2
    return 1
}

# Under valgrind a core thread that blocks in io_uring_enter keeps valgrind's thread lock, so the
# main thread may never get to log its port until a connection wakes the core: a wrapped broker
# gets a port that is free right now, and is poked with connection attempts until it logs.
_server_poke() {
    python3 -c 'import socket, sys
try: socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
except OSError: pass' "$1" 2>/dev/null
}

trpc_broker_start() {
    _log=$1
    _listen=127.0.0.1:0
    shift
    if [ $# -gt 0 ]; then
        _listen=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
            return 1
    fi
    TRPC_DATA_DIR=
    _data_dir_own=1
    # The --http the broker gets: ours, unless BROKER_ARGS names one (then _http_own is empty).
    _http_own=1
    _http=127.0.0.1:0
    _prev=
    # shellcheck disable=SC2086 # BROKER_ARGS is a list of words
    for _arg in ${BROKER_ARGS:-}; do
        if [ "$_prev" = --http ]; then _http=$_arg; fi
        case $_arg in
        --data-dir | --data-dir=*) _data_dir_own= ;;
        --http) _http_own='' _http='' ;;
        --http=*) _http_own='' _http=${_arg#--http=} ;;
        esac
        _prev=$_arg
    done
    if [ -n "$_data_dir_own" ]; then
        TRPC_DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/trpc-data-XXXXXX") || return 1
    fi
    # shellcheck disable=SC2086 # BROKER_ARGS is a list of words
    "$@" "${TRPC_BROKER:?}" --listen "$_listen" ${TRPC_DATA_DIR:+--data-dir "$TRPC_DATA_DIR"} ${_http_own:+--http "$_http"} \
        ${BROKER_ARGS:-} 2>"$_log" &
    TRPC_PID=$!
    if [ -n "$TRPC_DATA_DIR" ]; then
        _TRPC_DATA_DIRS="$_TRPC_DATA_DIRS$TRPC_PID $TRPC_DATA_DIR
"
    fi
    [ -n "${PERF_PIDS_LOG:-}" ] && echo "$TRPC_PID trpc-broker" >>"$PERF_PIDS_LOG"
    TRPC_PORT=$(_server_port "$TRPC_PID" "$_log" 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "${_listen#*:}") ||
        { _server_failed "$TRPC_PID" "$_log"; return 1; }
    TRPC_HTTP_PORT=
    case $_http in
    "" | off) ;;
    *)
        TRPC_HTTP_PORT=$(_server_http_port "$TRPC_PID" "$_log") || TRPC_HTTP_PORT=
        # A broker that cannot bind its HTTP address exits 1.
        server_alive "$TRPC_PID" || { _server_failed "$TRPC_PID" "$_log"; return 1; }
        ;;
    esac
    TRPC_URL=trpc://127.0.0.1:$TRPC_PORT
    # A broker given --tls-listen logs its TLS port first: TRPC_TLS_URL names it, by the name the
    # test certificates carry.
    TRPC_TLS_URL=
    _tls_port=$(sed -n 's/.*TLS on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$_log" | head -n1)
    if [ -n "$_tls_port" ]; then TRPC_TLS_URL=trpcs://localhost:$_tls_port; fi
}

redis_server_start() {
    for _try in 1 2 3; do # the port was free when python looked; another may take it before Redis
        REDIS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
            return 1
        : >"$1" # read before Redis opens it
        "${REDIS_SERVER:-redis-server}" --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
            --dir "$(dirname "$1")" --logfile "$1" &
        REDIS_PID=$!
        [ -n "${PERF_PIDS_LOG:-}" ] && echo "$REDIS_PID redis-server" >>"$PERF_PIDS_LOG"
        if _server_port "$REDIS_PID" "$1" "s/.*Ready to accept connections.*/$REDIS_PORT/p" >/dev/null; then
            REDIS_URL=redis://127.0.0.1:$REDIS_PORT
            return 0
        fi
        [ "$_try" = 3 ] && { _server_failed "$REDIS_PID" "$1"; return 1; }
        server_stop "$REDIS_PID" 2
    done
}

nats_server_start() {
    # shellcheck disable=SC2086 # NATS_ARGS is a list of words
    "${NATS_SERVER:-nats-server}" -a 127.0.0.1 -p -1 ${NATS_ARGS:-} 2>"$1" &
    NATS_PID=$!
    [ -n "${PERF_PIDS_LOG:-}" ] && echo "$NATS_PID nats-server" >>"$PERF_PIDS_LOG"
    NATS_PORT=$(_server_port "$NATS_PID" "$1" 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p') ||
        { _server_failed "$NATS_PID" "$1"; return 1; }
    NATS_URL=nats://127.0.0.1:$NATS_PORT
    case " ${NATS_ARGS:-} " in *" --tls "*) NATS_URL=tls://localhost:$NATS_PORT ;; esac
}
