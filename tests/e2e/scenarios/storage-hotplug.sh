# SPDX-License-Identifier: GPL-2.0
description="a hot-added disk appears and, hot-removed, disappears, while I/O on the other disk runs on without an error"
hvsim_args=(--disk ram:size=128M)
timeout=300
. "$RHV_TOP/tests/e2e/storage-lib.sh"

guest() {
	. /etc/rhv/storage.sh
	storage_up || exit 1
	# I/O on LUN 0 for the whole hot-plug: write a pattern, read it back, compare, repeat.
	dd if=/dev/urandom of=/tmp/pattern bs=64k count=16 2>/dev/null || exit 1
	(
		i=0
		while [ ! -e /tmp/stop ]; do
			at=$(((i % 64) * 16))
			dd if=/tmp/pattern of="/dev/$d" bs=64k seek=$at oflag=direct 2>/dev/null ||
				{ echo "guest: writing $d failed"; exit 1; }
			dd if="/dev/$d" of=/tmp/check bs=64k skip=$at count=16 iflag=direct 2>/dev/null ||
				{ echo "guest: reading $d failed"; exit 1; }
			cmp -s /tmp/pattern /tmp/check || { echo "guest: $d returned other data"; exit 1; }
			i=$((i + 1))
		done
		echo "RHV-IO: $i rounds on $d"
	) &
	io=$!
	echo "RHV-STEP: ready"
	new=$(wait_scsi_disk 1 90) || exit 1
	disk_line 1 "$new"
	[ "$(disk_bytes "$new")" = 67108864 ] || { echo "guest: the new disk is not 64 MiB"; exit 1; }
	dd if="/dev/$new" of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null ||
		{ echo "guest: reading the new disk failed"; exit 1; }
	echo "RHV-STEP: added"
	wait_scsi_gone 1 90 || exit 1
	echo "RHV-STEP: removed"
	# Keep LUN 0 busy a little longer after the rescan.
	sleep 2
	touch /tmp/stop
	wait "$io" || { echo "guest: I/O on $d failed"; exit 1; }
	[ "$(scsi_disk 0)" = "$d" ] || { echo "guest: LUN 0 is no longer $d"; exit 1; }
}

host() {
	await_console '^RHV-STEP: ready' 150
	storvsp_ctl '{"op":"add_disk","disk":"ram:size=64M","lun":1}'
	await_console '^RHV-STEP: added' 120
	storvsp_ctl '{"op":"remove_disk","lun":1}'
	await_console '^RHV-STEP: removed' 120
}

host_after() {
	console | grep '^RHV-DISK\|^RHV-IO'
	d=$(console | sed -n 's/^RHV-DISK: lun=0 dev=\([a-z]*\) .*/\1/p')
	[ -n "$d" ] || fail "the guest did not report LUN 0"
	# The removed disk may log its failing cache flush; the other one must log nothing.
	if console | grep -E "(\[$d\]|0:0:0:0|$d[0-9]*[,: ]).*(error|fail|Fail)"; then
		fail "the guest logged errors for $d"
	fi
	console | grep -q '^RHV-IO: [1-9]' || fail "no I/O round finished on $d"
	echo "ok: no errors logged for $d"
}
