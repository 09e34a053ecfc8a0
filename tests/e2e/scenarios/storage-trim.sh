# SPDX-License-Identifier: GPL-2.0
description="fstrim on ext4 punches holes in the disk's sparse image file: its allocation shrinks"
hvsim_args=(--disk "file:path=$E2E_OUT/disk.img,size=512M")
guest_bins=(mkfs.ext4)
timeout=300
. "$RHV_TOP/tests/e2e/storage-lib.sh"

guest() {
	. /etc/rhv/storage.sh
	storage_up || exit 1
	echo "RHV-DISCARD: granularity=$(cat /sys/block/$d/queue/discard_granularity) max=$(cat /sys/block/$d/queue/discard_max_bytes)"
	[ "$(cat /sys/block/$d/queue/discard_max_bytes)" -gt 0 ] || { echo "guest: $d does not discard"; exit 1; }
	# No discard at mkfs time, so that only fstrim frees space.
	mkfs.ext4 -q -F -E nodiscard "/dev/$d" || { echo "guest: mkfs.ext4 failed"; exit 1; }
	mkdir -p /mnt/disk
	mount -t ext4 "/dev/$d" /mnt/disk || exit 1
	dd if=/dev/urandom of=/mnt/disk/filler bs=1M count=192 2>/dev/null || exit 1
	sync
	echo "RHV-STEP: written"
	# The host measures the image now.
	sleep 4
	rm /mnt/disk/filler
	sync
	fstrim -v /mnt/disk || { echo "guest: fstrim failed"; exit 1; }
	umount /mnt/disk || exit 1
	echo "RHV-STEP: trimmed"
}

host() {
	await_console '^RHV-STEP: written' 250
	full=$(allocated_bytes "$E2E_OUT/disk.img")
	echo "$full" >"$E2E_OUT/allocated-written"
	echo "allocated after writing: $full"
	[ "$full" -ge $((192 << 20)) ] || fail "the image holds only $full bytes after 192 MiB were written"
}

host_after() {
	full=$(cat "$E2E_OUT/allocated-written")
	trimmed=$(allocated_bytes "$E2E_OUT/disk.img")
	echo "allocated after fstrim: $trimmed (was $full)"
	[ "$trimmed" -le $((full - (160 << 20))) ] ||
		fail "fstrim freed too little: $full -> $trimmed bytes allocated"
	console | grep '^RHV-DISK\|^RHV-DISCARD\|bytes trimmed'
	no_io_errors
	rm -f "$E2E_OUT/disk.img"
}
