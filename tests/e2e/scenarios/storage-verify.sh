# SPDX-License-Identifier: GPL-2.0
description="1 GiB of sectors stamped with this run's seed and their LBA written with O_DIRECT, read back with O_DIRECT: not one sector differs"
hvsim_args=(--disk ram:size=1G,sector=512)
# The pattern is written and checked by tests/guest/verify-disk.c (busybox tools took minutes
# of TCG time to generate it); static, as the guest has no C library of its own.
cc -static -O2 -Wall -Wextra -Werror -o "$E2E_OUT/verify-disk" "$RHV_TOP/tests/guest/verify-disk.c" || return 1
guest_files=("$E2E_OUT/verify-disk=/usr/bin/verify-disk")
# The guest runs for about 20 s on an idle machine under TCG; room for a loaded one.
timeout=300
. "$RHV_TOP/tests/e2e/storage-lib.sh"

guest() {
	. /etc/rhv/storage.sh
	storage_up || exit 1
	[ "$(disk_bytes "$d")" = 1073741824 ] || { echo "guest: $d is not 1 GiB"; exit 1; }
	# Every 512-byte sector names this run's seed and its own LBA (verify-disk.c), so data
	# that lands in the wrong place, comes back from the wrong place, or is stale shows as a
	# mismatch. verify-disk reads with O_DIRECT; the cache drop makes sure nothing else could
	# answer.
	write_and_verify "$d" || exit 1
	echo "RHV-STEP: verified"
	sleep 5
}

host() {
	await_console '^RHV-STEP: verified' 280
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
