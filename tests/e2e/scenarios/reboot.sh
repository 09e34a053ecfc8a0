# SPDX-License-Identifier: GPL-2.0
description="a host-initiated reboot: the guest agrees and restarts cleanly by itself (QEMU runs with -no-reboot, so hvsim then exits 0)"
expect_poweroff=1
. "$RHV_TOP/tests/e2e/ic-lib.sh"

guest() {
	. /etc/rhv/ic.sh
	await_power_request reboot || exit 1
}

host() {
	ic_power_host reboot
}

host_after() {
	ic_power_host_after reboot
}
