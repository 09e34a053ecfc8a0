# SPDX-License-Identifier: GPL-2.0
# Host helpers for the storage scenarios (hvsim's synthetic SCSI controller, storvsp0).
# Sourced by the scenario files; uses host-lib.sh's ctl and fail.

# storvsp_target: the controller's instance GUID, as the control interface names devices.
storvsp_target() {
	ctl channels | jq -r '[.[] | select(.device == "storvsp0" and .subchannel_index == 0)][0].instance_id'
}

# storvsp_ctl JSON: a control command for the controller; prints the JSON result.
storvsp_ctl() {
	local t
	t=$(storvsp_target)
	[ -n "$t" ] && [ "$t" != null ] || fail "hvsim has no storvsp0 device"
	ctl device "$t" "$1"
}

# storvsp_stat JQ-FILTER: one value of the controller's statistics.
storvsp_stat() {
	storvsp_ctl '{"op":"stats"}' | jq -r "$1"
}

# allocated_bytes FILE: the bytes the file system has allocated for FILE.
allocated_bytes() {
	echo $(($(stat -c %b "$1") * $(stat -c %B "$1")))
}

# no_io_errors: fails if the guest console shows block-layer or SCSI errors.
no_io_errors() {
	if console | grep -E 'I/O error|critical (medium|target) error|Medium Error|EXT4-fs error|Buffer I/O'; then
		fail "the guest logged I/O errors"
	fi
	echo "ok: no I/O errors on the guest console"
}

# misbehaving_verify COMMAND: the host side of verify_on_go_signal: once the guest is ready,
# sends the controller COMMAND (a misbehave or delay), hot-adds LUN 1 as the go signal and
# waits for the verified disk. Leaves the controller's statistics in $stats.
misbehaving_verify() {
	await_console '^RHV-STEP: ready' 150
	storvsp_ctl "$1" >/dev/null
	storvsp_ctl '{"op":"add_disk","disk":"ram:size=1M","lun":1}' >/dev/null
	await_console '^RHV-STEP: verified' 280
	stats=$(storvsp_ctl '{"op":"stats"}')
}

# written_at_least BYTES: fails unless the host got at least BYTES written to LUN 0 ($stats).
written_at_least() {
	local w
	w=$(echo "$stats" | jq '.disks[0].bytes_written')
	[ "$w" -ge "$1" ] || fail "only $w bytes were written to the disk"
}

# expect_dropped_completions: for our drivers, fails unless the guest printed (with
# dropped_completions) a count of dropped completions above 0; prints the C driver's lack of one.
expect_dropped_completions() {
	local n
	n=$(console | sed -n 's/^RHV-DROPPED-COMPLETIONS: //p' | awk '{ s += $1 } END { print s + 0 }')
	if [ "$E2E_DRIVERS" = rust ]; then
		[ "$n" -gt 0 ] || fail "dropped_completions is $n: the dropped completions were not counted"
		echo "ok: $n completions dropped and counted (dropped_completions)"
	else
		echo "note: the C driver keeps no count of dropped completions"
	fi
}
