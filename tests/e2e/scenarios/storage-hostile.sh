# SPDX-License-Identifier: GPL-2.0
description="bad SRB completions from the host (unknown ids, truncated packets, duplicates; lengths past the request, sense past its buffer, contradictory statuses) among the good ones: nothing written is lost or corrupted, the guest stays up"
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
# midlayer retry it, loses nothing. Four more kinds turn the real completion itself, after
# the data moved, into a bad one: a transferred length 4 KiB past the request (`overlong`), a
# unit attention whose sense length (255) is past the SRB's sense area (`sense-overflow`), an
# SRB error with no sense and SCSI status GOOD (`error-no-sense`), and SRB success with SCSI
# status BUSY (`success-busy`). A driver must trim or fail such a command (the midlayer
# retries it), never copy past its sense buffer or report a negative residual.
# Every sector of the disk is then written and read back.
kinds='"unknown-id","short","duplicate","overlong","sense-overflow","error-no-sense","success-busy"'
misbehave='{"op":"misbehave","kinds":['$kinds'],"every":2,"count":2800}'

guest() {
	. /etc/rhv/storage.sh
	storage_up || exit 1
	verify_on_go_signal 268435456 || exit 1
	dropped_completions
	sleep 2
}

host() {
	misbehaving_verify "$misbehave"
	echo "misbehaved: $(echo "$stats" | jq -c .misbehaved)"
	for kind in unknown-id short duplicate overlong sense-overflow error-no-sense success-busy; do
		n=$(echo "$stats" | jq ".misbehaved[\"$kind\"]")
		[ "$n" -ge 20 ] || fail "only $n '$kind' packets were sent: the scenario did not test much"
	done
	written_at_least $((256 << 20))
}

host_after() {
	console | grep '^RHV-DISK\|^RHV-VERIFY'
	no_io_errors
	# Ours counts the completions it dropped (unknown ids, duplicates); C keeps no count.
	expect_dropped_completions
}
