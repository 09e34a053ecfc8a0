# SPDX-License-Identifier: GPL-2.0
description="a channel moves to another CPU through sysfs channels/<relid>/cpu and off a CPU taken offline; the heartbeat keeps answering"
. "$RHV_TOP/tests/e2e/ic-lib.sh"
cpus=2

# Design: the heartbeat channel (opened by the IC driver on CPU 0) is moved to CPU 1 by
# writing its sysfs cpu attribute (MODIFYCHANNEL, acknowledged at VMBus 6.0), then CPU 1 is
# taken offline, which must move the channel back to CPU 0 rather than lose its interrupts,
# and brought back. The host checks after each step that it interrupts the expected vCPU and
# that heartbeats are still answered. Bad writes must fail.

guest() {
	load_vmbus || exit 1
	load_utils || exit 1
	settle_vmbus || exit 1
	hb=
	for d in /sys/bus/vmbus/devices/*; do
		[ "$(cat "$d/class_id")" = "{57164f39-9115-4e78-ab55-382f3bd5422d}" ] && hb=$d
	done
	[ -n "$hb" ] || { echo "guest: no heartbeat device"; exit 1; }
	relid=$(cat "$hb/id")
	cpu=$hb/channels/$relid/cpu
	left=20
	until [ "$(cat "$hb/state")" = 3 ]; do
		[ $left -le 0 ] && { echo "guest: the heartbeat channel did not open"; exit 1; }
		sleep 1
		left=$((left - 1))
	done
	echo "RHV-CPU: start $(cat "$cpu") subchannel_id=$(cat "$hb/channels/$relid/subchannel_id")"
	[ "$(cat "$cpu")" = 0 ] || { echo "guest: heartbeat channel not on CPU 0"; exit 1; }
	for bad in 2 9999 x; do
		if echo "$bad" >"$cpu" 2>/dev/null; then
			echo "guest: writing '$bad' to $cpu succeeded"
			exit 1
		fi
	done
	# As C's sscanf("%u"): what follows the number is ignored.
	echo 1x >"$cpu" || { echo "guest: moving the channel to CPU 1 ('1x') failed"; exit 1; }
	[ "$(cat "$cpu")" = 1 ] || { echo "guest: cpu reads $(cat "$cpu") after the move"; exit 1; }
	[ "$(cat "$hb/channel_vp_mapping")" = "$relid:1" ] ||
		{ echo "guest: channel_vp_mapping reads '$(cat "$hb/channel_vp_mapping")' after the move"; exit 1; }
	echo "RHV-STEP: moved"
	sleep 10
	echo 0 >/sys/devices/system/cpu/cpu1/online || { echo "guest: CPU 1 did not go offline"; exit 1; }
	[ "$(cat "$cpu")" = 0 ] || { echo "guest: cpu reads $(cat "$cpu") with CPU 1 offline"; exit 1; }
	if echo 1 >"$cpu" 2>/dev/null; then
		echo "guest: moved a channel to an offline CPU"
		exit 1
	fi
	echo "RHV-STEP: offline"
	sleep 10
	echo 1 >/sys/devices/system/cpu/cpu1/online || { echo "guest: CPU 1 did not come back"; exit 1; }
	echo 1 >"$cpu" || { echo "guest: moving the channel back to CPU 1 failed"; exit 1; }
	echo "RHV-STEP: back"
	sleep 10
}

# hb_vp TARGET: the vCPU hvsim interrupts for the heartbeat channel.
hb_vp() {
	ctl channels | jq -r --arg t "$1" '[.[] | select(.instance_id == $t and .subchannel_index == 0)][0].target_vp'
}

# hb_rises TARGET: waits until the host has seen two more heartbeats answered.
hb_rises() {
	local s first= first_answers left=60 seq answers
	while :; do
		s=$(ic_ctl "$1" '{"op":"status"}') || exit 1
		seq=$(echo "$s" | jq -r .last_sequence)
		answers=$(echo "$s" | jq -r .answers)
		if [ "$seq" != null ]; then
			[ -n "$first" ] || { first=$seq first_answers=$answers; }
			[ "$answers" -ge $((first_answers + 2)) ] && { echo "heartbeats answered: $s"; return 0; }
		fi
		[ $left -le 0 ] && fail "heartbeats stopped being answered: $s"
		left=$((left - 1))
		sleep 0.2
	done
}

host() {
	await_console '^RHV-STEP: moved' 120
	hb=$(ic_target heartbeat) || exit 1
	expect_eq "vCPU interrupted after the sysfs move" 1 "$(hb_vp "$hb")"
	hb_rises "$hb"
	await_console '^RHV-STEP: offline' 60
	expect_eq "vCPU interrupted with CPU 1 offline" 0 "$(hb_vp "$hb")"
	hb_rises "$hb"
	await_console '^RHV-STEP: back' 60
	expect_eq "vCPU interrupted after moving back" 1 "$(hb_vp "$hb")"
	hb_rises "$hb"
	s=$(ic_ctl "$hb" '{"op":"status"}') || exit 1
	expect_eq "bad heartbeat answers" 0 "$(echo "$s" | jq -r .bad)"
	expect_eq "missed heartbeats" 0 "$(echo "$s" | jq -r .missed)"
}
