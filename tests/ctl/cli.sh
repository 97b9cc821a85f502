#!/bin/sh
# trpcctl's command line without a broker: --help for the tool, each area and each command; usage
# errors exit 2 with a one-line reason and a hint; a broker that is not there exits 1 with
# "cannot connect to URL: connection refused", the URL coming from --url, else TRPC_URL, else the
# default.
. "$top_srcdir/tests/ctl/lib.sh"

"$CTL" --help >"$TMP/help" 2>&1
ok $? "--help exits 0"
for section in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS ENVIRONMENT "EXIT STATUS" EXAMPLES; do
    grep -q "^$section\$" "$TMP/help"
    ok $? "--help has a $section section"
done
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$BUILD/config.h")
[ "$("$CTL" --version)" = "trpcctl (trpc) $version" ]
ok $? "--version prints trpcctl (trpc) $version"

# Each command: in the tool's help, with a help of its own naming its usage and its topic.
for cmd in "server info server.info" "settings get settings.get" "settings set settings.set" \
    "clients ls clients.list" "clients kick clients.kick" "subs ls subs.list" "stream ls stream.list" \
    "stream info stream.info" "stream add stream.add" "stream rm stream.delete" "stream get stream.get" \
    "stream purge stream.purge" \
    "group ls group.list"; do
    set -- $cmd
    grep -q "^    $1 $2" "$TMP/help"
    ok $? "trpcctl --help lists $1 $2"
    "$CTL" "$1" "$2" --help >"$TMP/out" 2>"$TMP/err" &&
        grep -q "^usage: trpcctl \[--url URL\] \[--timeout MS\] \[--json\] $1 $2" "$TMP/out" &&
        grep -q "\$trpc\.admin\.$3;" "$TMP/out" && [ ! -s "$TMP/err" ]
    ok $? "trpcctl $1 $2 --help: its usage and its topic \$trpc.admin.$3"
    "$CTL" --url trpc://127.0.0.1:1 "$1" "$2" -h >"$TMP/out2" 2>&1 && cmp -s "$TMP/out" "$TMP/out2"
    ok $? "trpcctl $1 $2 -h after global options: the same, no connection tried"
done
"$CTL" clients --help >"$TMP/out" 2>&1 && grep -q "trpcctl clients ls \[--limit N\] \[--offset N\]" "$TMP/out" &&
    grep -q "trpcctl clients kick ID" "$TMP/out"
ok $? "trpcctl clients --help lists its commands"

expect 2 "^trpcctl: stream add: missing arguments$" "stream add without a subject" -- "$CTL" stream add orders
expect 2 "^trpcctl: --max-msg-size: 'big' is not a number of bytes$" "stream add --max-msg-size big" -- \
    "$CTL" stream add orders 'orders.>' --max-msg-size big
expect 2 "^trpcctl: --max-age: '5x' is not a duration (500ms, 30s, 15m, 2h, 7d)$" "stream add --max-age 5x" -- \
    "$CTL" stream add orders 'orders.>' --max-age 5x
expect 2 "^trpcctl: --max-bytes: '12Q' is not a size" "stream add --max-bytes 12Q" -- \
    "$CTL" stream add orders 'orders.>' --max-bytes 12Q
expect 2 "^trpcctl: --max-bytes: '99999999999T' is not a size" "stream add --max-bytes past 2^63" -- \
    "$CTL" stream add orders 'orders.>' --max-bytes 99999999999T
expect 2 "^trpcctl: --dedup-window: '2q' is not a duration" "stream add --dedup-window 2q" -- \
    "$CTL" stream add orders 'orders.>' --dedup-window 2q
expect 2 "^trpcctl: --discard: 'maybe' is neither old nor new$" "stream add --discard maybe" -- \
    "$CTL" stream add orders 'orders.>' --discard maybe
expect 2 "^trpcctl: --max-msgs is an option of stream add$" "--max-msgs on stream ls" -- "$CTL" stream ls --max-msgs 5
expect 2 "^trpcctl: stream get: missing arguments$" "stream get without a sequence" -- "$CTL" stream get orders
expect 2 ") is not UTF-8 text$" "a name that is not UTF-8" -- \
    "$CTL" stream info "$(printf 'or\377ders')"
expect 2 ") is not UTF-8 text$" "an option's value that is not UTF-8 (a surrogate)" -- \
    "$CTL" group add orders billing --dlq "$(printf 'dead.\355\240\200')"

expect 2 "^trpcctl: no command given$" "no command" -- "$CTL"
expect 2 "^Try 'trpcctl --help' for more information.$" "a usage error says where help is" -- "$CTL"
expect 2 "^trpcctl: unknown command 'frob'$" "unknown command" -- "$CTL" frob
expect 2 "^trpcctl: unknown command 'clients frob'$" "unknown verb" -- "$CTL" clients frob
expect 2 "^trpcctl: 'subs' needs a command: see trpcctl subs --help$" "an area without a verb" -- "$CTL" subs
expect 2 "^trpcctl: unknown option '--frob'$" "unknown global option" -- "$CTL" --frob server info
expect 2 "^trpcctl: unknown option '--frob'$" "unknown command option" -- "$CTL" server info --frob
expect 2 "^trpcctl: option '--url' needs an argument$" "--url without a value" -- "$CTL" server info --url
expect 2 "^trpcctl: --timeout: 'soon' is not a number of milliseconds from 1 to 3600000$" "--timeout soon" -- \
    "$CTL" --timeout soon server info
expect 2 "^trpcctl: --timeout: '0' is not" "--timeout 0" -- "$CTL" --timeout 0 server info
expect 2 "^trpcctl: --limit is an option of clients ls and subs ls$" "--limit on server info" -- "$CTL" server info --limit 3
expect 2 "^trpcctl: --offset: '-1' is not a number$" "a negative --offset" -- "$CTL" clients ls --offset -1
expect 2 "^trpcctl: --limit: '99999999999999999999' is not a number$" "--limit out of range" -- \
    "$CTL" subs ls --limit 99999999999999999999
expect 2 "^trpcctl: settings set: missing arguments$" "settings set without a value" -- "$CTL" settings set keepalive
expect 2 "^usage: trpcctl \[OPTIONS\] settings set NAME VALUE \[NAME VALUE\]\.\.\.$" "a command's usage error shows its usage" -- \
    "$CTL" settings set keepalive
expect 2 "^trpcctl: settings get: too many arguments$" "settings get with two names" -- "$CTL" settings get a b
expect 2 "^trpcctl: server info: too many arguments$" "server info with an argument" -- "$CTL" server info now
expect 2 "^trpcctl: clients kick: missing arguments$" "clients kick without an id" -- "$CTL" clients kick
for id in 0 -5 12x 0x10 9223372036854775808 ""; do
    expect 2 "^trpcctl: clients kick: '$id' is not a client id$" "clients kick '$id'" -- "$CTL" clients kick -- "$id"
done

# No broker: a port nothing listens on (port 1 of loopback, which needs root to bind).
expect 1 "^trpcctl: cannot connect to trpc://127.0.0.1:1: connection refused$" "--url to a closed port" -- \
    "$CTL" --url trpc://127.0.0.1:1 server info
[ ! -s "$TMP/out" ]
ok $? "nothing on stdout when the broker is not there"
expect 1 "^trpcctl: cannot connect to trpc://127.0.0.1:1: connection refused$" "TRPC_URL is used without --url" -- \
    env TRPC_URL=trpc://127.0.0.1:1 "$CTL" clients ls
expect 1 "^trpcctl: cannot connect to trpc://127.0.0.1:1: connection refused$" "--url wins over TRPC_URL" -- \
    env TRPC_URL=trpc://127.0.0.1:2 "$CTL" subs ls --url trpc://127.0.0.1:1
expect 1 "^trpcctl: cannot connect to nope://x: " "a URL that is not trpc://" -- "$CTL" --url nope://x server info

# The password prompt on a terminal (a pseudo-terminal here): echo off while it asks; Ctrl-C ends
# trpcctl with the echo back on; a password too long is refused, saying so.
# SIGINT as a user's shell leaves it (default), whatever this script inherited (a job started
# with & by a non-interactive shell has it ignored); IGNORE_INT=1 ignores it.
pty_prompt() { # KEYS (a Python bytes literal): prints the echo while asking, the echo after, how it ended, its output
    python3 - "$CTL" "$1" "${IGNORE_INT:-0}" <<'PY'
import os, pty, select, signal, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    signal.signal(signal.SIGINT, signal.SIG_IGN if sys.argv[3] == "1" else signal.SIG_DFL)
    os.execvp(sys.argv[1], [sys.argv[1], "--url", "trpc://127.0.0.1:1", "user", "passwd", "alice"])


def read_some(wait):  # what the terminal has within wait seconds: b"" if nothing, None once it closed
    if not select.select([fd], [], [], wait)[0]:
        return b""
    try:
        return os.read(fd, 4096) or None
    except OSError:
        return None


def echo():
    return "on" if termios.tcgetattr(fd)[3] & termios.ECHO else "off"


out, during, after, end = b"", "?", "?", time.time() + 20
while time.time() < end and b"new password of alice: " not in out:
    data = read_some(0.2)
    if data is None:
        break
    out += data
if b"new password of alice: " in out:
    time.sleep(0.2)
    during = echo()
    os.write(fd, eval(sys.argv[2]))
    for _ in range(50):
        time.sleep(0.1)
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            after, pid = echo(), 0
            break
    else:
        after = echo()
    while data := read_some(0.5):  # what it said before it ended
        out += data
status = "running" if pid else "ended"
print(during, after, status, out.decode(errors="replace").replace("\r\n", "|"))
if pid:
    os.kill(pid, 9)
PY
}
r=$(pty_prompt 'b"secret\x03"')
case $r in "off on ended"*) true ;; *) false ;; esac
ok $? "the prompt on a terminal: echo off while asking, Ctrl-C ends trpcctl with the echo on again ($r)"
r=$(IGNORE_INT=1 pty_prompt 'b"secret\x03"')
case $r in "off off running"*) true ;; *) false ;; esac
ok $? "a trpcctl that ignores SIGINT (started so) keeps asking after Ctrl-C, the echo still off ($r)"
r=$(pty_prompt 'b"x" * 1100 + b"\n"')
case $r in "off on ended"*"password longer than 1024 bytes"*) true ;; *) false ;; esac
ok $? "a password too long typed on a terminal is refused, saying so ($r)"
done_testing
