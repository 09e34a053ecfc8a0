# SPDX-License-Identifier: GPL-2.0
description="bad SRB completions from the host (unknown ids, truncated packets, duplicates) among the good ones: nothing written is lost or corrupted, the guest stays up"
hvsim_args=(--disk ram:size=256M)
# Written and checked by the same static tool as storage-verify.
cc -static -O2 -Wall -Wextra -Werror -o "$E2E_OUT/verify-disk" "$RHV_TOP/tests/guest/verify-disk.c" || return 1
guest_files=("$E2E_OUT/verify-disk=/usr/bin/verify-disk")
timeout=300
. "$RHV_TOP/tests/e2e/storage-lib.sh"

# hvsim's storvsp sends a bad packet next to every second SRB completion (misbehave command),
# the kinds taking turns: a completion with an id the guest never used, a truncated
# completion with the request's id before the real one, and the real completion twice (by
# the time the copy arrives the id may name another command). The real completion always
# comes too, so a driver that ignores the bad packet, or fails the command and lets the SCSI
# midlayer retry it, loses nothing. Every sector of the disk is then written and read back.
misbehave='{"op":"misbehave","kinds":["unknown-id","short","duplicate"],"every":2,"count":2000}'

guest() {
	. /etc/rhv/storage.sh
	storage_up || exit 1
	echo "RHV-STEP: ready"
	# The host arms the misbehaviour, then hot-adds LUN 1: its arrival is the go signal.
	wait_scsi_disk 1 90 >/dev/null || exit 1
	[ "$(disk_bytes "$d")" = 268435456 ] || { echo "guest: $d is not 256 MiB"; exit 1; }
	write_and_verify "$d" || exit 1
	echo "RHV-STEP: verified"
	if kernel_log | grep -E 'BUG|Oops|general protection|Kernel panic|WARNING'; then
		echo "guest: the kernel crashed or warned"
		exit 1
	fi
	sleep 2
}

host() {
	await_console '^RHV-STEP: ready' 150
	storvsp_ctl "$misbehave" >/dev/null
	storvsp_ctl '{"op":"add_disk","disk":"ram:size=1M","lun":1}' >/dev/null
	await_console '^RHV-STEP: verified' 280
	s=$(storvsp_ctl '{"op":"stats"}')
	echo "misbehaved: $(echo "$s" | jq -c .misbehaved)"
	for kind in unknown-id short duplicate; do
		n=$(echo "$s" | jq ".misbehaved[\"$kind\"]")
		[ "$n" -ge 20 ] || fail "only $n '$kind' packets were sent: the scenario did not test much"
	done
	w=$(echo "$s" | jq '.disks[0].bytes_written')
	[ "$w" -ge $((256 << 20)) ] || fail "only $w bytes were written to the disk"
}

host_after() {
	console | grep '^RHV-DISK\|^RHV-VERIFY'
	no_io_errors
}
