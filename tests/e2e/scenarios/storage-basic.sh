# SPDX-License-Identifier: GPL-2.0
description="disks with 512- and 4096-byte sectors appear with their sizes; ext4 keeps 256 MiB of random data across a cache drop"
hvsim_args=(--disk ram:size=1G,sector=512 --disk ram:size=64M,sector=4096)
guest_bins=(mkfs.ext4)
timeout=400
. "$RHV_TOP/tests/e2e/storage-lib.sh"

guest() {
	. /etc/rhv/storage.sh
	load_vmbus || exit 1
	load_storage || exit 1
	d=$(wait_scsi_disk 0 60) || exit 1
	small=$(wait_scsi_disk 1 30) || exit 1
	disk_line 0 "$d"
	disk_line 1 "$small"
	[ "$(disk_bytes "$d")" = 1073741824 ] || { echo "guest: $d is not 1 GiB"; exit 1; }
	[ "$(cat /sys/block/$d/queue/logical_block_size)" = 512 ] || exit 1
	[ "$(disk_bytes "$small")" = 67108864 ] || { echo "guest: $small is not 64 MiB"; exit 1; }
	[ "$(cat /sys/block/$small/queue/logical_block_size)" = 4096 ] || exit 1

	mkfs.ext4 -q -F "/dev/$d" || { echo "guest: mkfs.ext4 failed"; exit 1; }
	mkdir -p /mnt/disk
	mount -t ext4 "/dev/$d" /mnt/disk || exit 1
	dd if=/dev/urandom of=/mnt/disk/random bs=1M count=256 2>/dev/null || exit 1
	written=$(sha256sum /mnt/disk/random | cut -d ' ' -f 1)
	umount /mnt/disk || exit 1
	sync
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 "/dev/$d" /mnt/disk || exit 1
	read_back=$(sha256sum /mnt/disk/random | cut -d ' ' -f 1)
	umount /mnt/disk || exit 1
	echo "RHV-SUM: written=$written read=$read_back"
	[ "$written" = "$read_back" ] || { echo "guest: the data read back differs"; exit 1; }

	# The 4096-byte-sector disk, raw: 4 MiB out, caches dropped, 4 MiB back.
	dd if=/dev/urandom of=/tmp/pattern bs=4096 count=1024 2>/dev/null || exit 1
	dd if=/tmp/pattern of="/dev/$small" bs=4096 seek=100 conv=fsync 2>/dev/null || exit 1
	echo 3 >/proc/sys/vm/drop_caches
	dd if="/dev/$small" of=/tmp/back bs=4096 skip=100 count=1024 2>/dev/null || exit 1
	cmp /tmp/pattern /tmp/back || { echo "guest: the 4096-byte-sector disk returned other data"; exit 1; }
	echo "RHV-STEP: verified"
	# Stay up while the host reads the counters.
	sleep 5
}

host() {
	await_console '^RHV-STEP: verified' 380
	s=$(storvsp_ctl '{"op":"stats"}')
	echo "$s"
	w=$(echo "$s" | jq '.disks[0].bytes_written')
	r=$(echo "$s" | jq '.disks[0].bytes_read')
	[ "$w" -ge $((256 << 20)) ] || fail "only $w bytes were written to LUN 0"
	[ "$r" -ge $((256 << 20)) ] || fail "only $r bytes were read from LUN 0"
	echo "ok: LUN 0 wrote $w and read $r bytes"
	expect_eq "malformed packets" 0 "$(echo "$s" | jq .counters.bad_packets)"
	expect_eq "invalid SRBs" 0 "$(echo "$s" | jq .counters.bad_srbs)"
	expect_eq "LUN 1 bytes written" $((4 << 20)) "$(echo "$s" | jq '.disks[1].bytes_written')"
}

host_after() {
	console | grep '^RHV-DISK\|^RHV-SUM'
	no_io_errors
}
