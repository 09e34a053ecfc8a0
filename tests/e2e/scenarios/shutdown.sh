# SPDX-License-Identifier: GPL-2.0
description="a host-initiated shutdown: the guest agrees, powers off cleanly by itself and hvsim exits 0"
expect_poweroff=1
. "$RHV_TOP/tests/e2e/ic-lib.sh"

guest() {
	. /etc/rhv/ic.sh
	await_power_request shutdown || exit 1
}

host() {
	ic_power_host shutdown
}

host_after() {
	ic_power_host_after shutdown
}
