# SPDX-License-Identifier: GPL-2.0
# Guest helpers for the storage scenarios. Sourced on demand (. /etc/rhv/storage.sh).
# The disks of a synthetic SCSI controller sit at channel 0, target 0, one LUN each, under
# the controller's VMBus device: /sys/bus/vmbus/devices/GUID/hostH/targetH:0:0/H:0:0:LUN.

# scsi_disk LUN: the block device (sda, ...) of the disk at LUN, if there is one.
scsi_disk() {
	for b in /sys/bus/vmbus/devices/*/host*/target*:0:0/*:0:0:"$1"/block/*; do
		[ -e "$b" ] && { basename "$b"; return 0; }
	done
	return 1
}

# wait_scsi_disk LUN [SECONDS]: waits for the disk at LUN and its /dev node; prints its name.
wait_scsi_disk() {
	local lun=$1 left=${2:-30} d
	while ! d=$(scsi_disk "$lun"); do
		[ "$left" -le 0 ] && { echo "guest: no disk at LUN $lun" >&2; return 1; }
		sleep 1
		left=$((left - 1))
	done
	wait_for "/dev/$d" 10 >&2 || return 1
	echo "$d"
}

# wait_scsi_gone LUN [SECONDS]: waits until there is no disk at LUN.
wait_scsi_gone() {
	local lun=$1 left=${2:-30}
	while scsi_disk "$lun" >/dev/null; do
		[ "$left" -le 0 ] && { echo "guest: the disk at LUN $lun did not go away" >&2; return 1; }
		sleep 1
		left=$((left - 1))
	done
}

# disk_bytes NAME: the capacity of block device NAME in bytes.
disk_bytes() {
	echo $(($(cat "/sys/class/block/$1/size") * 512))
}

# disk_line LUN NAME: a "RHV-DISK:" console line with what the guest sees of the disk.
disk_line() {
	echo "RHV-DISK: lun=$1 dev=$2 bytes=$(disk_bytes "$2") sector=$(cat "/sys/block/$2/queue/logical_block_size")"
}

# storage_up: loads the VMBus core and the storage driver, waits for the disk at LUN 0 and
# prints its RHV-DISK line; the disk's name is left in $d.
storage_up() {
	load_vmbus || return 1
	load_storage || return 1
	d=$(wait_scsi_disk 0 60) || return 1
	disk_line 0 "$d"
}
