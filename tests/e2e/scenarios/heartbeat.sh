# SPDX-License-Identifier: GPL-2.0
description="hv_utils answers the host's heartbeats: the sequence the host sees rises and no answer is bad"
. "$RHV_TOP/tests/e2e/ic-lib.sh"

guest() {
	load_vmbus || exit 1
	load_utils || exit 1
	echo "RHV-STEP: utils-loaded"
	# Stay up while the host watches a few heartbeats (one a second).
	sleep 12
}

host() {
	await_console '^RHV-STEP: utils-loaded' 90
	hb=$(ic_target heartbeat) || exit 1
	ic_wait_ready "$hb" || exit 1
	first= left=50
	while :; do
		s=$(ic_ctl "$hb" '{"op":"status"}') || exit 1
		seq=$(echo "$s" | jq -r .last_sequence)
		answers=$(echo "$s" | jq -r .answers)
		if [ "$seq" != null ]; then
			[ -n "$first" ] || { first=$seq first_answers=$answers; echo "first: $s"; }
			[ "$seq" -gt "$first" ] && [ "$answers" -gt "$first_answers" ] && break
		fi
		[ $left -le 0 ] && fail "the heartbeat sequence did not rise: $s"
		left=$((left - 1))
		sleep 0.2
	done
	echo "later: $s"
	expect_eq "bad heartbeat answers" 0 "$(echo "$s" | jq -r .bad)"
	expect_eq "missed heartbeats" 0 "$(echo "$s" | jq -r .missed)"
	expect_eq "heartbeat service version" 3.0 "$(echo "$s" | jq -r .version)"
}
