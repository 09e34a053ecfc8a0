# SPDX-License-Identifier: GPL-2.0
# Host helpers for the integration-component scenarios (heartbeat, shutdown, reboot,
# timesync, kvp). Sourced by those scenario files, after tests/e2e/host-lib.sh.
#
# The helpers print their result on stdout and complain on stderr, so that a caller can
# write x=$(helper ...) || exit 1.

# ic_fail MESSAGE: like fail, on stderr (stdout is what a caller captures).
ic_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# ic_target NAME: the instance GUID of the integration component NAME (heartbeat, shutdown,
# timesync, kvp), for 'hvsim ctl device'.
ic_target() {
	local t
	t=$("$E2E_HVSIM" ctl --socket "$E2E_CTL" channels |
		jq -r --arg n "$1" '[.[] | select(.device == $n and .subchannel_index == 0)][0].instance_id')
	[ -n "$t" ] && [ "$t" != null ] || ic_fail "hvsim has no $1 device"
	echo "$t"
}

# ic_ctl TARGET JSON: a device command; prints its JSON answer on one line.
ic_ctl() {
	local out
	out=$("$E2E_HVSIM" ctl --socket "$E2E_CTL" device "$1" "$2") ||
		ic_fail "hvsim ctl device $1 $2 failed"
	echo "$out" | jq -c .
}

# ic_wait_ready TARGET [SECONDS]: waits until the IC has negotiated with the guest.
ic_wait_ready() {
	local left=$((${2:-30} * 5)) s
	while :; do
		s=$(ic_ctl "$1" '{"op":"status"}') || exit 1
		[ "$(echo "$s" | jq -r .state)" = ready ] && { echo "negotiated: $s"; return 0; }
		[ $left -le 0 ] && ic_fail "the IC $1 did not negotiate: $s"
		left=$((left - 1))
		sleep 0.2
	done
}

# ic_request TARGET JSON [SECONDS]: issues an asynchronous request (KVP) and waits for its
# outcome; prints the result object on one line.
ic_request() {
	local id r left=$((${3:-40} * 5))
	r=$(ic_ctl "$1" "$2") || exit 1
	id=$(echo "$r" | jq -r .id)
	[ -n "$id" ] && [ "$id" != null ] || ic_fail "request $2 was not accepted: $r"
	while :; do
		r=$(ic_ctl "$1" "{\"op\":\"result\",\"id\":$id}") || exit 1
		[ "$(echo "$r" | jq -r .state)" != pending ] && { echo "$r"; return 0; }
		[ $left -le 0 ] && ic_fail "no outcome for request $2"
		left=$((left - 1))
		sleep 0.2
	done
}

# hvsim_log: hvsim's log without terminal colours.
hvsim_log() {
	# Always succeeds, like console(): a reader that stops early must not fail the pipeline.
	sed 's/\x1b\[[0-9;]*m//g' "$E2E_OUT/hvsim.log" || true
}

# ic_power_host OP: the host side of a host-initiated shutdown or reboot (OP): once the guest
# has loaded the drivers and the shutdown IC has negotiated, asks for OP.
ic_power_host() {
	local sd r
	await_console '^RHV-STEP: utils-loaded' 90
	sd=$(ic_target shutdown) || exit 1
	ic_wait_ready "$sd" || exit 1
	r=$(ic_ctl "$sd" "{\"op\":\"$1\"}") || exit 1
	echo "requested: $r"
}

# ic_power_host_after OP: checks, once the guest is gone, that it agreed to OP (shutdown or
# reboot), that the kernel ran the matching /sbin program and powered off or restarted, and
# that hvsim exited 0.
ic_power_host_after() {
	local op=$1 init done what
	case $op in
	shutdown) init=poweroff done='Power down' what='power off' ;;
	reboot) init=reboot done='Restarting system' what='restart' ;;
	*) fail "ic_power_host_after: unknown request $op" ;;
	esac
	hvsim_log | grep 'shutdown request' || true
	hvsim_log | grep -qE "op=\"?$op\"? status=\"?ok\"? the guest answered the shutdown request|the guest answered the shutdown request.*op=\"?$op\"?.*status=\"?ok" ||
		fail "hvsim did not log the guest's OK to the $op request"
	console | grep -q "^RHV-INIT: $init" || fail "the kernel did not run /sbin/$init"
	console | grep -qE "reboot: $done" || fail "the kernel did not $what"
	! console | grep -q '^RHV-EXIT:' || fail "the guest script ended instead of the $op"
	expect_eq "hvsim exit code" 0 "$(final_state .exit_code)"
}
