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
	echo "RHV-TIMEOUT: $(cat "/sys/block/$d/device/timeout") s"
	verify_on_go_signal 33554432 'timing out command|offline device|host reset|resetting the bus|[Aa]bort' || exit 1
	sleep 2
}

host() {
	misbehaving_verify "{\"op\":\"delay\",\"ms\":$hold_ms}"
	held=$(echo "$stats" | jq '.counters.srbs_held')
	echo "SRBs held for $hold_ms ms: $held"
	[ "$held" -ge 32 ] || fail "only $held SRBs were held: the scenario did not test much"
	written_at_least $((32 << 20))
}

host_after() {
	console | grep '^RHV-DISK\|^RHV-VERIFY\|^RHV-STATE\|^RHV-TIMEOUT'
	no_io_errors
}
