# SPDX-License-Identifier: GPL-2.0
description="with the host capped at VMBus 4.0 the guest falls back and connects at 4.0"
hvsim_args=(--max-vmbus-version 4.0)

guest() {
	load_vmbus || exit 1
	settle_vmbus || exit 1
	vmbus_devices | sort | sed 's/^/DEV /'
}

host_after() {
	expect_eq "negotiated VMBus version" "4.0" "$(final_state '.version')"
	n=$(console | grep -c '^DEV ')
	[ "$n" -gt 0 ] || fail "no device appeared at VMBus 4.0"
	echo "ok: $n devices at 4.0"
}
