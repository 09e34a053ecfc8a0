# SPDX-License-Identifier: GPL-2.0
description="the guest connects at VMBus 6.0 and every offered device appears in sysfs with its class_id and device_id"

guest() {
	load_vmbus || exit 1
	settle_vmbus || exit 1
	vmbus_devices | sort | sed 's/^/DEV /'
}

host_after() {
	expect_eq "negotiated VMBus version" "6.0" "$(final_state '.version')"
	# Every primary channel hvsim offered, as sysfs shows GUIDs: "{class} {instance}".
	offered=$(final_state '.channels[] | select(.subchannel_index == 0) | "{\(.class_id)} {\(.instance_id)}"' | sort)
	seen=$(console | sed -n 's/^DEV [^ ]* \([^ ]*\) \([^ ]*\)$/\1 \2/p' | sort)
	[ -n "$offered" ] || fail "hvsim offered no device"
	echo "offered:"
	echo "$offered"
	echo "seen by the guest:"
	echo "$seen"
	[ "$offered" = "$seen" ] || fail "the guest's vmbus devices differ from hvsim's offers"
	# The device directory is named by the instance GUID, as the C driver names it.
	console | sed -n 's/^DEV \([^ ]*\) [^ ]* {\([^ ]*\)}$/\1 \2/p' | while read -r dir inst; do
		[ "$dir" = "$inst" ] || fail "device directory $dir is not named by its instance GUID $inst"
	done
}
