# SPDX-License-Identifier: GPL-2.0
# Helpers for the host part of end-to-end scenarios (host() and host_after()). Sourced by
# tests/e2e/run; each helper reads the E2E_* variables it exports.

# fail MESSAGE: ends the host part with a failure.
fail() {
	echo "FAIL: $*"
	exit 1
}

# console: the guest console so far, without carriage returns. Always succeeds: under
# pipefail, `console | grep -q X` would otherwise fail whenever grep stops reading early and
# tr dies of SIGPIPE.
console() {
	tr -d '\r' <"$E2E_CONSOLE" || true
}

# await_console REGEX [SECONDS]: waits for a console line matching REGEX (grep -E); SECONDS
# is multiplied by E2E_SLOW (3 on the debug kernel).
await_console() {
	local regex=$1 left=$((${2:-60} * 5 * ${E2E_SLOW:-1}))
	while ! console | grep -qE "$regex"; do
		if [ -n "${guest_pid:-}" ] && ! kill -0 "$guest_pid" 2>/dev/null; then
			console | grep -qE "$regex" && return 0
			fail "the guest ended before printing /$regex/"
		fi
		[ $left -le 0 ] && fail "timed out waiting for /$regex/ on the guest console"
		left=$((left - 1))
		sleep 0.2
	done
}

# ctl COMMAND [ARGS...]: runs 'hvsim ctl' against this scenario's simulator; prints the result.
ctl() {
	"$E2E_HVSIM" ctl --socket "$E2E_CTL" "$@" || fail "hvsim ctl $* failed"
}

# final_state JQ-FILTER: queries the state hvsim wrote when it exited.
final_state() {
	[ -s "$E2E_STATE" ] || fail "hvsim wrote no final state ($E2E_STATE)"
	jq -r "$1" "$E2E_STATE" || fail "jq '$1' failed on the final state"
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
	echo "ok: $1 = '$3'"
}
