# SPDX-License-Identifier: GPL-2.0
description="a host-initiated shutdown: the guest agrees, powers off cleanly by itself and hvsim exits 0"
expect_poweroff=1
. "$RHV_TOP/tests/e2e/ic-lib.sh"

guest() {
	. /etc/rhv/ic.sh
	stand_in_for_init || exit 1
	load_vmbus || exit 1
	load_utils || exit 1
	echo "RHV-STEP: utils-loaded"
	# Wait for the host; the kernel powers the guest off from under this loop.
	sleep 90
	echo "guest: no shutdown request came"
	exit 1
}

host() {
	await_console '^RHV-STEP: utils-loaded' 90
	sd=$(ic_target shutdown) || exit 1
	ic_wait_ready "$sd" || exit 1
	r=$(ic_ctl "$sd" '{"op":"shutdown"}') || exit 1
	echo "requested: $r"
}

host_after() {
	hvsim_log | grep 'shutdown request' || true
	hvsim_log | grep -qE 'op="?shutdown"? status="?ok"? the guest answered the shutdown request|the guest answered the shutdown request.*op="?shutdown"?.*status="?ok' ||
		fail "hvsim did not log the guest's OK to the shutdown request"
	console | grep -q '^RHV-INIT: poweroff' || fail "the kernel did not run /sbin/poweroff"
	console | grep -qE 'reboot: Power down' || fail "the kernel did not power off"
	! console | grep -q '^RHV-EXIT:' || fail "the guest script ended instead of being shut down"
	expect_eq "hvsim exit code" 0 "$(final_state .exit_code)"
}
