# SPDX-License-Identifier: GPL-2.0
description="1 GiB of LBA-stamped sectors written with O_DIRECT, read back after a cache drop: not one sector differs"
hvsim_args=(--disk ram:size=1G,sector=512)
timeout=1500
. "$RHV_TOP/tests/e2e/storage-lib.sh"

guest() {
	. /etc/rhv/storage.sh
	load_vmbus || exit 1
	load_storage || exit 1
	d=$(wait_scsi_disk 0 60) || exit 1
	disk_line 0 "$d"
	[ "$(disk_bytes "$d")" = 1073741824 ] || { echo "guest: $d is not 1 GiB"; exit 1; }
	# Every 512-byte sector names this run's seed and its own LBA, so data that lands in
	# the wrong place, comes back from the wrong place, or is stale shows as a mismatch.
	seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' \n')
	case $seed in '' | *[!0-9]*) echo "guest: no seed from /dev/urandom: '$seed'"; exit 1 ;; esac
	pattern() {
		awk -v seed="$seed" 'BEGIN {
			filler = sprintf("%467s", "")
			gsub(/ /, ".", filler)
			for (lba = 0; lba < 2097152; lba++)
				printf "RHV-VERIFY seed=%010d lba=%012d %s\n", seed, lba, filler
		}'
	}
	first=$(pattern | head -n 1)
	[ "${#first}" = 511 ] || { echo "guest: the pattern's sectors are not 512 bytes: $first"; exit 1; }
	echo "RHV-STEP: writing (seed $seed)"
	pattern | dd of="/dev/$d" bs=1M iflag=fullblock oflag=direct conv=fsync 2>/tmp/dd-write || exit 1
	grep -q '^1024+0 records out' /tmp/dd-write || { cat /tmp/dd-write; echo "guest: not 1 GiB written"; exit 1; }
	sync
	echo 3 >/proc/sys/vm/drop_caches
	echo "RHV-STEP: reading"
	mkfifo /tmp/expected
	pattern >/tmp/expected &
	# cmp -l prints one line per differing byte; count the distinct sectors they are in.
	bad=$(dd if="/dev/$d" bs=1M iflag=direct 2>/tmp/dd-read | cmp -l /tmp/expected - 2>/tmp/cmp-err |
		awk 'BEGIN { last = -1 } { s = int(($1 - 1) / 512); if (s != last) { n++; last = s } } END { print n + 0 }')
	wait
	grep -q '^1024+0 records in' /tmp/dd-read || { cat /tmp/dd-read; echo "guest: not 1 GiB read"; exit 1; }
	[ -s /tmp/cmp-err ] && { cat /tmp/cmp-err; echo "guest: the data read back has another length"; exit 1; }
	echo "RHV-VERIFY: sectors=2097152 mismatched=$bad"
	[ "$bad" = 0 ] || { echo "guest: $bad sectors differ"; exit 1; }
	echo "RHV-STEP: verified"
	sleep 5
}

host() {
	await_console '^RHV-STEP: verified' 1450
	s=$(storvsp_ctl '{"op":"stats"}')
	w=$(echo "$s" | jq '.disks[0].bytes_written')
	r=$(echo "$s" | jq '.disks[0].bytes_read')
	[ "$w" -ge $((1 << 30)) ] || fail "only $w bytes were written to the disk"
	[ "$r" -ge $((1 << 30)) ] || fail "only $r bytes were read from the disk"
	echo "ok: the disk wrote $w and read $r bytes"
	expect_eq "malformed packets" 0 "$(echo "$s" | jq .counters.bad_packets)"
	expect_eq "invalid SRBs" 0 "$(echo "$s" | jq .counters.bad_srbs)"
}

host_after() {
	console | grep '^RHV-DISK\|^RHV-VERIFY'
	no_io_errors
}
