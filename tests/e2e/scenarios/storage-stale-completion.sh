# SPDX-License-Identifier: GPL-2.0
description="the host sends an old completion again once its tag is reused, and serves the new command later: the command is not completed early, nothing written or read is lost or stale"
hvsim_args=(--disk ram:size=256M)
# Written and checked by the same static tool as storage-verify.
cc -static -O2 -Wall -Wextra -Werror -o "$E2E_OUT/verify-disk" "$RHV_TOP/tests/guest/verify-disk.c" || return 1
guest_files=("$E2E_OUT/verify-disk=/usr/bin/verify-disk")
timeout=300
. "$RHV_TOP/tests/e2e/storage-lib.sh"

# hvsim's storvsp remembers the last completion of each tag slot (the transaction id's low
# 32 bits, where both Linux drivers keep the block-layer tag) of each channel. When the guest
# reuses a tag at least 4 SRBs later, every second time the host sends that old completion
# again (the `stale` misbehaviour: a late duplicate) and serves the new command 20 ms later.
# A driver that takes the old completion for the new command completes it before its data
# moved: a READ returns what its buffer held before, a WRITE's pages may be reused before the
# host reads them. Every sector of the disk is written and read back.
misbehave='{"op":"misbehave","kinds":["stale"],"every":2,"count":400}'

guest() {
	. /etc/rhv/storage.sh
	storage_up || exit 1
	verify_on_go_signal 268435456 || exit 1
	dropped_completions
	sleep 2
}

host() {
	misbehaving_verify "$misbehave"
	echo "misbehaved: $(echo "$stats" | jq -c .misbehaved) held: $(echo "$stats" | jq -c '.counters.srbs_held')"
	n=$(echo "$stats" | jq '.misbehaved.stale')
	[ "$n" -ge 20 ] || fail "only $n stale completions were sent: the scenario did not test much"
	written_at_least $((256 << 20))
}

host_after() {
	console | grep '^RHV-DISK\|^RHV-VERIFY'
	no_io_errors
	# Ours counts the stale completions it dropped; C keeps no count.
	expect_dropped_completions
}
