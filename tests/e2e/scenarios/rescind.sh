# SPDX-License-Identifier: GPL-2.0
description="a device the host rescinds disappears from the guest's sysfs; the others stay"


guest() {
	load_vmbus || exit 1
	settle_vmbus || exit 1
	before=$(vmbus_devices | wc -l)
	echo "RHV-STEP: rescind-me $before"
	# Wait for one device to go away.
	left=30
	while [ "$(vmbus_devices | wc -l)" -ge "$before" ]; do
		[ $left -le 0 ] && { echo "guest: no device disappeared"; exit 1; }
		sleep 1
		left=$((left - 1))
	done
	settle_vmbus || exit 1
	vmbus_devices | sort | sed 's/^/DEV /'
}

host() {
	await_console '^RHV-STEP: rescind-me' 90
	target=$(ctl channels | jq -r '[.[] | select(.device == "heartbeat" and .subchannel_index == 0)][0].instance_id')
	[ -n "$target" ] && [ "$target" != null ] || fail "hvsim has no heartbeat device to rescind"
	echo "$target" >"$E2E_OUT/rescinded"
	ctl rescind "$target"
	echo "rescinded $target"
}

host_after() {
	target=$(cat "$E2E_OUT/rescinded")
	console | grep '^DEV ' || true
	if console | grep -q "^DEV $target "; then
		fail "the rescinded device $target is still in the guest's sysfs"
	fi
	left=$(console | grep -c '^DEV ')
	[ "$left" -gt 0 ] || fail "the other devices disappeared too"
	# The guest answers a rescind with RELID_RELEASED, after which hvsim forgets the channel.
	expect_eq "channels of the rescinded device at exit" "0" \
		"$(final_state "[.channels[] | select(.instance_id == \"$target\")] | length")"
}
