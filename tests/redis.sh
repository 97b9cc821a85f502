# shellcheck shell=sh
# Sourced by shell tests that need Redis (tests/ctl/lib.sh's broker_test_setup sources it).
# redis_start DIR: a redis-server of our own on a free loopback port (RPORT), its files in DIR,
# answering PING within 10 s; REDIS_PID, to stop it by (server_stop, or broker_test_stop at exit).
# Callers check first that redis-server, redis-cli and python3 are installed.
redis_start() {
    RPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$1"
    redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$1" --save '' --appendonly no --daemonize no \
        --logfile "$1/redis.log" &
    REDIS_PID=$!
    _i=0
    while [ $_i -lt 100 ] && [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" != PONG ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
}
