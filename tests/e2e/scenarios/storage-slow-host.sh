# SPDX-License-Identifier: GPL-2.0
description="the host holds SRBs for longer than the disk's SCSI timeout while the verify pattern runs: no command is given up, no disk goes offline, no I/O error, nothing lost"
hvsim_args=(--disk ram:size=32M)
# Written and checked by the same static tool as storage-verify.
cc -static -O2 -Wall -Wextra -Werror -o "$E2E_OUT/verify-disk" "$RHV_TOP/tests/guest/verify-disk.c" || return 1
guest_files=("$E2E_OUT/verify-disk=/usr/bin/verify-disk")
timeout=300
. "$RHV_TOP/tests/e2e/storage-lib.sh"

# Hyper-V's I/O latency is unbounded (on Azure a disk can stall for minutes), so the C driver
# never lets a command time out: its timed-out handler rearms the timer. The guest shortens
# the disk's SCSI timeout to 1 s (the sysfs timeout file, which both drivers honour); the host
# then holds every SRB for 3 s while the whole disk is written and read back (each 4 MiB
# request of verify-disk waits 3 s). Any command given up (abort, reset, offline device) or
# retried with an error shows as an I/O error or a mismatch.
hold_ms=3000

guest() {
	. /etc/rhv/storage.sh
	storage_up || exit 1
	echo 1 >"/sys/block/$d/device/timeout" || { echo "guest: cannot set the SCSI timeout"; exit 1; }
	echo "RHV-STEP: ready (timeout $(cat "/sys/block/$d/device/timeout") s)"
	# The host starts holding every SRB, then hot-adds LUN 1: its arrival is the go signal.
	wait_scsi_disk 1 90 >/dev/null || exit 1
	write_and_verify "$d" || exit 1
	state=$(cat "/sys/block/$d/device/state")
	echo "RHV-STATE: $state"
	[ "$state" = running ] || { echo "guest: the disk is $state"; exit 1; }
	echo "RHV-STEP: verified"
	if dmesg | grep -E 'BUG|Oops|general protection|Kernel panic|WARNING|timing out command|offline device|host reset|resetting the bus|[Aa]bort'; then
		echo "guest: the kernel gave up on a command, crashed or warned"
		exit 1
	fi
	sleep 2
}

host() {
	await_console '^RHV-STEP: ready' 150
	storvsp_ctl "{\"op\":\"delay\",\"ms\":$hold_ms}" >/dev/null
	storvsp_ctl '{"op":"add_disk","disk":"ram:size=1M","lun":1}' >/dev/null
	await_console '^RHV-STEP: verified' 250
	s=$(storvsp_ctl '{"op":"stats"}')
	held=$(echo "$s" | jq '.counters.srbs_held')
	echo "SRBs held for $hold_ms ms: $held"
	[ "$held" -ge 32 ] || fail "only $held SRBs were held: the scenario did not test much"
	w=$(echo "$s" | jq '.disks[0].bytes_written')
	[ "$w" -ge $((32 << 20)) ] || fail "only $w bytes were written to the disk"
}

host_after() {
	console | grep '^RHV-DISK\|^RHV-VERIFY\|^RHV-STATE'
	no_io_errors
}
