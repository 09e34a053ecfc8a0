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

# write_and_verify DEV: stamps every 512-byte sector of /dev/DEV with a fresh seed and its LBA
# (verify-disk, O_DIRECT), drops the caches and reads it all back; prints the checker's
# RHV-VERIFY lines and fails unless the whole disk came back with no mismatch.
write_and_verify() {
	local seed bytes status
	bytes=$(disk_bytes "$1")
	seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')
	case $seed in '' | *[!0-9]*) echo "guest: no seed from /dev/urandom: '$seed'"; return 1 ;; esac
	echo "RHV-STEP: writing (seed $seed)"
	verify-disk write "/dev/$1" "$seed" || { echo "guest: writing the pattern failed"; return 1; }
	sync
	echo 3 >/proc/sys/vm/drop_caches
	echo "RHV-STEP: reading"
	verify-disk verify "/dev/$1" "$seed" >/tmp/verify.out 2>&1
	status=$?
	cat /tmp/verify.out
	grep -q "^RHV-VERIFY: sectors=$((bytes / 512)) bytes=$bytes mismatched=0\$" /tmp/verify.out &&
		[ $status = 0 ] || { echo "guest: the disk did not read back what was written"; return 1; }
}

# verify_on_go_signal BYTES [EXTRA-DMESG-REGEX]: for the scenarios whose host misbehaves
# while the disk at LUN 0 ($d, from storage_up) is written and read back. Prints
# "RHV-STEP: ready", waits for the host's go signal (a hot-added LUN 1: the host arms its
# misbehaviour first), checks the disk is BYTES long, writes and verifies it, and fails if
# the kernel crashed, warned or logged a line matching EXTRA-DMESG-REGEX.
verify_on_go_signal() {
	local state
	echo "RHV-STEP: ready"
	wait_scsi_disk 1 90 >/dev/null || return 1
	[ "$(disk_bytes "$d")" = "$1" ] || { echo "guest: $d is not $1 bytes"; return 1; }
	write_and_verify "$d" || return 1
	state=$(cat "/sys/block/$d/device/state")
	echo "RHV-STATE: $state"
	[ "$state" = running ] || { echo "guest: the disk is $state"; return 1; }
	echo "RHV-STEP: verified"
	if kernel_log | grep -E "BUG|Oops|general protection|Kernel panic|WARNING${2:+|$2}"; then
		echo "guest: the kernel crashed, warned or gave up on a command"
		return 1
	fi
}

# dropped_completions: prints each SCSI host's count of completions the driver dropped (ours
# has /sys/class/scsi_host/hostN/dropped_completions; the C driver keeps no such count).
dropped_completions() {
	local f
	for f in /sys/class/scsi_host/host*/dropped_completions; do
		[ -r "$f" ] && echo "RHV-DROPPED-COMPLETIONS: $(cat "$f")"
	done
	return 0
}
