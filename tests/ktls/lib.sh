# shellcheck shell=bash
# tests/ktls/lib.sh: what the kernel TLS tests that run a QEMU guest (tests/ktls/vm.sh) share,
# sourced by them: when to skip, the certificates, and the guest's checks as TAP.
#
# A guest script prints "CHECK: ok - TEXT" or "CHECK: not ok - TEXT" per check and exits non-zero
# if any failed; ktls_vm turns those lines into TAP, adds one for the guest's verdict, and prints
# the whole guest log as TAP comments. These tests run once per CI, in the plain build: a sanitizer
# build and distcheck's build skip them; they skip where QEMU is missing unless TRPC_REQUIRE_QEMU=1.
top_srcdir=${top_srcdir:-${srcdir:-$(dirname "$0")/../..}}
top_builddir=${top_builddir:-.}

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

# ktls_prepare: skips where the test does not run; makes $work (removed at exit) with the test
# certificates of tests/tls/mkcerts.sh in $work/certs.
ktls_prepare() {
    if [ -f "$top_builddir/Makefile" ] && [ -n "$(sed -n 's/^TRPC_SAN = *//p' "$top_builddir/Makefile")" ]; then
        skip_all "sanitizer build: the plain build runs the kTLS VM tests"
    fi
    case "$(cd "$top_builddir" && pwd)" in
    */_build/sub) skip_all "make distcheck's build: the plain build runs the kTLS VM tests" ;;
    esac
    if ! command -v openssl >/dev/null; then
        [ "${TRPC_REQUIRE_QEMU:-0}" = 1 ] && { echo "1..1"; echo "not ok 1 - openssl not installed"; exit 1; }
        skip_all "openssl not installed"
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/ktls.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    if ! sh "$top_srcdir/tests/tls/mkcerts.sh" "$work/certs" >"$work/mkcerts.log" 2>&1; then
        echo "1..1"
        sed 's/^/# /' "$work/mkcerts.log"
        echo "not ok 1 - tests/tls/mkcerts.sh made the certificates"
        exit 1
    fi
}

# ktls_vm VM.SH-ARGS...: runs the guest, prints TAP, exits with the verdict.
ktls_vm() {
    local rc n=0 fails=0 line
    bash "$top_srcdir/tests/ktls/vm.sh" "$@" >"$work/vm.log" 2>&1
    rc=$?
    sed 's/^/# /' "$work/vm.log"
    if [ $rc = 77 ]; then
        skip_all "$(sed -n 's/^vm\.sh: cannot run: //p' "$work/vm.log" | head -n1)"
    fi
    while IFS= read -r line; do
        n=$((n + 1))
        case "$line" in
        "CHECK: ok - "*) echo "ok $n - ${line#CHECK: ok - }" ;;
        *) echo "not ok $n - ${line#CHECK: not ok - }"; fails=$((fails + 1)) ;;
        esac
    done < <(grep -E '^CHECK: (not )?ok - ' "$work/vm.log")
    n=$((n + 1))
    if [ $rc = 0 ]; then
        echo "ok $n - the guest ran and said KTLS-RESULT: PASS"
    else
        echo "not ok $n - the guest ran and said KTLS-RESULT: PASS (tests/ktls/vm.sh exit status $rc)"
        fails=$((fails + 1))
    fi
    echo "1..$n"
    exit $((fails > 0))
}
