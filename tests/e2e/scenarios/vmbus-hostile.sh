# SPDX-License-Identifier: GPL-2.0
description="a hostile host (malformed offers, out-of-range ring indices, malformed or misaddressed answers, a rescind instead of a GPADL teardown answer, a flood of timesync SYNCs) does not bring the guest down; the guest logs the bad fields, rate-limited"
. "$RHV_TOP/tests/e2e/ic-lib.sh"

# hvsim sends three malformed offers before the real ones (relid 0, relid 2053, a truncated
# message) and, when the first channel is opened, puts an out-of-range write index into its
# host → guest ring and an unaligned read index into its guest → host ring. The guest must
# keep running, keep the four good devices, unload cleanly, and (for our drivers) name the
# bad field in its log without a kernel WARNING. The C driver is held to the same survival
# checks; it WARNs on the malformed offers, which is allowed for it.
#
# Exception: the C driver set gets the malformed offers only. With the out-of-range write
# index the upstream ring code (hv_pkt_iter_avail() does not check the host's write_index)
# hands hv_utils' heartbeat callback garbage forever ("Heartbeat request received. Invalid
# msg type"), the guest livelocks and never finishes: a known weakness of the C driver that
# this scenario was written to show, not something to hide by weakening the Rust checks.
# ($drivers is the runner's variable, set before a scenario is sourced.)
#
# Once utils is loaded, the heartbeat and timesync ICs each send 8 malformed messages
# (IC `misbehave`: a packet too short for an IC header, pipe and IC sizes past the packet, an
# unknown message type, a NEGOTIATE whose version counts run past the message; KVP negotiates
# only with its daemon, which this scenario does not run), and the flood
# below then shows the timesync channel still works.
#
# Then the host floods the timesync IC with SYNC messages (as fast as hvsim queues them, up to
# FLOOD_REQUESTS or FLOOD_SECS) and says it is done with a last SYNC that puts the guest's
# clock ten years ahead. Every SYNC steps the guest's clock and ours logs the step, so it must
# rate-limit those lines: at most RATE_BURST per RATE_INTERVAL seconds of flood (the kernel's
# default limit; one more window for where the flood starts). The C driver logs nothing per
# SYNC; its count is reported, not checked. (The shutdown IC, whose requests are logged too,
# is the channel `ring-index` breaks for ours.)
#
# Both driver sets also get `bad-answer` (before each VERSION_RESPONSE, OPENCHANNEL_RESULT and
# GPADL_CREATED, one the guest must not take: cut short to its header, or naming another open
# id or another channel, with a failure status) and `rescind-teardown` (the first
# GPADL_TEARDOWN, sent while utils unloads, is answered with the channel's rescind and the host
# keeps the GPADL: its pages must be leaked, not freed; ours counts them in
# /sys/bus/vmbus/leaked_gpadl_pages).
if [ "${drivers:-rust}" = c ]; then
	hvsim_args=(--hostile bad-offer,bad-answer,rescind-teardown)
else
	hvsim_args=(--hostile bad-offer,ring-index,bad-answer,rescind-teardown)
fi

guest() {
	load_vmbus || exit 1
	settle_vmbus || exit 1
	vmbus_devices | sort | sed 's/^/DEV /'
	load_utils || exit 1
	echo "RHV-STEP: utils-loaded"
	# Wait for the host's signal (the clock ten years ahead) that its flood is over.
	year=$(date +%Y) i=0
	while [ "$(date +%Y)" -lt $((year + 5)) ] && [ $i -lt 60 ]; do
		sleep 1
		i=$((i + 1))
	done
	echo "RHV-FLOOD-LINES: $(dmesg | grep -c 'clock stepped')"
	# Ours counts what it refused (and pages it had to leak) in /sys/bus/vmbus/.
	for c in bad_channel_messages dropped_channel_messages leaked_gpadl_pages; do
		if [ -r /sys/bus/vmbus/$c ]; then
			echo "RHV-COUNTER: $c $(cat /sys/bus/vmbus/$c)"
		fi
	done
	sleep 1
	unload_utils || exit 1
	if [ -r /sys/bus/vmbus/leaked_gpadl_pages ]; then
		echo "RHV-COUNTER: leaked-after-unload $(cat /sys/bus/vmbus/leaked_gpadl_pages)"
	fi
	unload_vmbus || exit 1
	echo "RHV-STEP: survived"
	if kernel_log | grep -E 'BUG|Oops|general protection|Kernel panic'; then
		echo "guest: the kernel crashed"
		exit 1
	fi
	# Ours must log a line and go on; the C driver answers malformed offers with WARN_ON
	# splats (vmbus_drv.c's message size check, channel_mgmt.c's relid check), which is
	# survivable but noisy, so WARNING is only a failure for our driver set.
	if [ "$DRIVERS" = rust ] && kernel_log | grep -E 'WARNING'; then
		echo "guest: the kernel warned"
		exit 1
	fi
}

IC_MISBEHAVE='{"op":"misbehave","kinds":["short","oversize","unknown-type","bad-negotiate"],"count":8}'
FLOOD_REQUESTS=200
FLOOD_SECS=30
RATE_BURST=10
RATE_INTERVAL=5

host() {
	local ts start now sent=0 busy=0 r
	await_console '^RHV-STEP: utils-loaded' 120
	ts=$(ic_target timesync) || exit 1
	ic_wait_ready "$ts" || exit 1
	for ic in heartbeat timesync; do
		t=$(ic_target $ic) || exit 1
		ic_ctl "$t" "$IC_MISBEHAVE" >/dev/null || exit 1
	done
	sleep 1
	start=$(date +%s.%N)
	while [ $sent -lt $FLOOD_REQUESTS ]; do
		now=$(date +%s.%N)
		awk -v a="$start" -v b="$now" -v l=$FLOOD_SECS 'BEGIN { exit !(b - a < l) }' || break
		# Refused while hvsim has 8 queued ("busy").
		if "$E2E_HVSIM" ctl --socket "$E2E_CTL" device "$ts" '{"op":"sync"}' >/dev/null 2>&1; then
			sent=$((sent + 1))
		else
			busy=$((busy + 1))
		fi
	done
	now=$(date +%s.%N)
	echo "$sent $(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.1f", b - a }')" >"$E2E_OUT/flood"
	r=$(ic_ctl "$ts" '{"op":"status"}') || exit 1
	echo "flood: $sent SYNCs in $(cut -d' ' -f2 "$E2E_OUT/flood") s ($busy busy answers); $r"
	# Until the queue has room for the last one.
	for _ in $(seq 100); do
		r=$("$E2E_HVSIM" ctl --socket "$E2E_CTL" device "$ts" '{"op":"sync","offset_secs":315360000}' 2>&1) && break
		sleep 0.1
	done
	echo "last SYNC: $r"
	for ic in heartbeat timesync; do
		t=$(ic_target $ic) || exit 1
		echo "$ic misbehaved: $(ic_ctl "$t" '{"op":"status"}' | jq -c .misbehaved)" | tee -a "$E2E_OUT/ic-misbehaved"
	done
}

host_after() {
	console | grep -q '^RHV-STEP: survived' || fail "the guest did not get through"
	local sent secs lines allowed
	read -r sent secs <"$E2E_OUT/flood" || fail "the host's flood did not run"
	lines=$(console | sed -n 's/^RHV-FLOOD-LINES: //p' | head -n1)
	[ -n "$lines" ] || fail "the guest did not count its log lines"
	# Windows of RATE_INTERVAL s the flood touched, plus the one the unload falls in.
	allowed=$(awk -v s="$secs" -v i=$RATE_INTERVAL -v b=$RATE_BURST 'BEGIN { printf "%d", (int(s / i) + 2) * b }')
	echo "flood: $sent SYNCs in $secs s, $lines 'clock stepped' log lines (a rate limit allows $allowed)"
	[ "$sent" -ge 20 ] || fail "the flood reached only $sent SYNCs"
	if [ "$E2E_DRIVERS" = rust ]; then
		[ "$sent" -gt "$allowed" ] ||
			fail "the flood was too slow to tell a rate limit ($sent SYNCs, $allowed allowed)"
		[ "$lines" -le "$allowed" ] ||
			fail "$lines log lines for $sent SYNCs: not rate-limited"
	fi
	# Every IC sent its 8 bad messages (2 of each kind).
	[ "$(grep -c '"short":2,' "$E2E_OUT/ic-misbehaved" 2>/dev/null)" = 2 ] ||
		fail "the ICs did not send their malformed messages: $(cat "$E2E_OUT/ic-misbehaved" 2>/dev/null)"
	devices=$(console | grep -c '^DEV ')
	expect_eq "good devices despite the bad offers" "4" "$devices"
	if [ "$E2E_DRIVERS" = rust ]; then
		console | grep -q 'ignoring an offer with bad child_relid 0' ||
			fail "no log line for the offer with relid 0"
		console | grep -q 'ignoring an offer with bad child_relid 2053' ||
			fail "no log line for the offer with relid 2053"
		console | grep -q 'ignoring a malformed offer' ||
			fail "no log line for the truncated offer"
		console | grep -qE 'channel [0-9]+ .*BadIndex.*channel failed' ||
			fail "no log line for the bad ring index"
		expect_eq "offers counted as bad" "3" \
			"$(console | sed -n 's/^RHV-COUNTER: bad_channel_messages //p' | head -n1)"
		expect_eq "channel messages dropped" "0" \
			"$(console | sed -n 's/^RHV-COUNTER: dropped_channel_messages //p' | head -n1)"
		console | grep -q 'ignoring unsolicited' ||
			fail "no log line for the misaddressed answers"
		leaked=$(console | sed -n 's/^RHV-COUNTER: leaked-after-unload //p' | head -n1)
		[ "${leaked:-0}" -gt 0 ] ||
			fail "leaked_gpadl_pages is ${leaked:-0} after a teardown cut short by a rescind"
		echo "ok: $leaked GPADL pages leaked, not freed, after the rescind"
	fi
	grep -c 'hostile: ' "$E2E_OUT/hvsim.log" 2>/dev/null | sed 's/^/hostile host lines: /'
	echo "ok: the guest survived and logged the bad fields"
}
