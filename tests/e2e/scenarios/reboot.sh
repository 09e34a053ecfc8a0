# SPDX-License-Identifier: GPL-2.0
description="a host-initiated reboot: the guest agrees and restarts cleanly by itself (QEMU runs with -no-reboot, so hvsim then exits 0)"
expect_poweroff=1
. "$RHV_TOP/tests/e2e/ic-lib.sh"

guest() {
	. /etc/rhv/ic.sh
	stand_in_for_init || exit 1
	load_vmbus || exit 1
	load_utils || exit 1
	echo "RHV-STEP: utils-loaded"
	sleep 90
	echo "guest: no reboot request came"
	exit 1
}

host() {
	await_console '^RHV-STEP: utils-loaded' 90
	sd=$(ic_target shutdown) || exit 1
	ic_wait_ready "$sd" || exit 1
	r=$(ic_ctl "$sd" '{"op":"reboot"}') || exit 1
	echo "requested: $r"
}

host_after() {
	hvsim_log | grep 'shutdown request' || true
	hvsim_log | grep -qE 'op="?reboot"? status="?ok"? the guest answered the shutdown request|the guest answered the shutdown request.*op="?reboot"?.*status="?ok' ||
		fail "hvsim did not log the guest's OK to the reboot request"
	console | grep -q '^RHV-INIT: reboot' || fail "the kernel did not run /sbin/reboot"
	console | grep -qE 'reboot: Restarting system' || fail "the kernel did not restart"
	! console | grep -q '^RHV-EXIT:' || fail "the guest script ended instead of being rebooted"
	expect_eq "hvsim exit code" 0 "$(final_state .exit_code)"
}
