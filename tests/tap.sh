# TAP for the shell tests (sourced): one ok line per check, the plan at the end. The caller sets
# TMP, a scratch directory, before calling expect.

tap_n=0
tap_failed=0

# ok STATUS DESCRIPTION: one TAP point, passing when STATUS is 0.
ok() {
    tap_n=$((tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $tap_n - $2"
    else
        echo "not ok $tap_n - $2"
        tap_failed=$((tap_failed + 1))
    fi
}

# diag_file FILE: shows a file as TAP comments.
diag_file() {
    sed 's/^/# /' "$1"
}

# expect STATUS PATTERN DESCRIPTION -- COMMAND...: the exit status, and a line of stderr matching
# the grep PATTERN (stdout in $TMP/out, stderr in $TMP/err).
expect() {
    want=$1 pattern=$2 what=$3
    shift 4
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ "$rc" -eq "$want" ] && grep -q -- "$pattern" "$TMP/err"
    ok $? "$what (exit status $rc)"
    diag_file "$TMP/err"
}

done_testing() {
    echo "1..$tap_n"
    [ "$tap_failed" -eq 0 ]
    exit $?
}
