# SPDX-License-Identifier: GPL-2.0
description="with 2 vCPUs the SCSI host opens a sub-channel, and I/O from each vCPU flows on its own channel"
cpus=2
hvsim_args=(--disk ram:size=256M)
timeout=200
. "$RHV_TOP/tests/e2e/storage-lib.sh"

guest() {
	. /etc/rhv/storage.sh
	storage_up || exit 1
	echo "RHV-QUEUES: cpus=$(nproc) hw_queues=$(ls /sys/block/$d/mq | wc -l)"
	echo "RHV-STEP: before-io"
	sleep 3
	# Direct reads pinned to each vCPU: storvsc sends a request on the channel of the vCPU
	# that issues it.
	for cpu in 0 1; do
		taskset -c "$cpu" dd if="/dev/$d" of=/dev/null bs=64k count=256 \
			skip=$((cpu * 256)) iflag=direct 2>/dev/null || { echo "guest: reading on vCPU $cpu failed"; exit 1; }
	done
	echo "RHV-STEP: after-io"
	sleep 4
}

host() {
	await_console '^RHV-STEP: before-io' 150
	before=$(storvsp_stat .channel_srbs)
	await_console '^RHV-STEP: after-io' 100
	after=$(storvsp_stat .channel_srbs)
	echo "SRBs per channel before: $before"
	echo "SRBs per channel after:  $after"
	channels=$(ctl channels | jq -c '[.[] | select(.device == "storvsp0") | {subchannel_index, state, target_vp}]')
	echo "channels: $channels"
	opened=$(echo "$channels" | jq '[.[] | select(.state == "opened")] | length')
	[ "$opened" -ge 2 ] || fail "only $opened storvsp0 channels are open"
	for ch in 0 1; do
		n=$(jq -n --argjson a "$after" --argjson b "$before" "(\$a[\"$ch\"] // 0) - (\$b[\"$ch\"] // 0)")
		echo "channel $ch: $n SRBs during the pinned reads"
		[ "$n" -ge 128 ] || fail "channel $ch carried only $n of the 256 requests of its vCPU"
	done
}

host_after() {
	console | grep '^RHV-QUEUES'
	no_io_errors
}
