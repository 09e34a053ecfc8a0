# SPDX-License-Identifier: GPL-2.0
description="bad packets from the host (receive ranges outside the buffer, RNDIS lengths past their range, overlapping receive ranges, unknown and duplicate send completions) among the good ones: TCP still flows both ways, the guest stays up"
. "$RHV_TOP/tests/e2e/net-lib.sh"
guest_bins+=(ethtool)
timeout=300

# hvsim's netvsp sends a bad packet with every fifth eligible one (misbehave command), the
# kinds taking turns: a transfer-page packet naming one more range past the end of the
# receive buffer, one carrying one more RNDIS message whose length field claims 256 MiB, one
# naming its first range 32 more times (overlapping), a send completion with an id the guest
# never used, and a send completion twice. The good packets still come, so a driver that drops
# the bad ones (and counts them) loses at most a few frames TCP retransmits.
misbehave='{"op":"misbehave","kinds":["bad-range","bad-rndis","overlap-ranges","unknown-completion","duplicate-completion"],"every":5,"count":500}'

guest() {
	. /etc/rhv/net.sh
	net_up || exit 1
	ping_host || exit 1
	echo "RHV-STEP: ready"
	# The host arms the misbehaviour, then connects: the go signal.
	timeout 120 nc -l -p 7000 >/dev/null || { echo "guest: the host never connected"; exit 1; }
	iperf_host UP 4 && iperf_host DOWN 4 || exit 1
	ping -c 3 -w 30 10.231.0.1 >/dev/null 2>&1 || { echo "guest: no answer to ping afterwards"; exit 1; }
	ethtool -S eth0 | grep -v " 0$" | sed "s/^/ETHTOOL-STAT: /"
	echo "RX-PACKETS: $(cat /sys/class/net/eth0/statistics/rx_packets)"
	echo "RHV-STEP: traffic done"
	if kernel_log | grep -E 'BUG|Oops|general protection|Kernel panic|WARNING'; then
		echo "guest: the kernel crashed or warned"
		exit 1
	fi
	timeout 60 nc -l -p 7000 >/dev/null || { echo "guest: the host never connected"; exit 1; }
}

host() {
	await_console '^RHV-STEP: ready' 150
	netvsp "$misbehave" >/dev/null
	release_guest
	await_console '^RHV-STEP: traffic done' 250
	netvsp '{"op":"stats"}' >"$E2E_OUT/netvsp-stats.json"
	release_guest
}

host_after() {
	s=$E2E_OUT/netvsp-stats.json
	echo "misbehaved: $(jq -c .misbehaved "$s")"
	for kind in bad-range bad-rndis overlap-ranges unknown-completion duplicate-completion; do
		n=$(jq ".misbehaved[\"$kind\"]" "$s")
		[ "$n" -ge 10 ] || fail "only $n '$kind' packets were sent: the scenario did not test much"
	done
	for dir in UP DOWN; do
		rate=$(iperf_rate $dir)
		[ -n "$rate" ] || fail "no iperf3 $dir result on the console"
		awk "BEGIN { exit !($rate > 0) }" || fail "iperf3 $dir moved nothing"
		echo "ok: iperf3 $dir $rate Mbit/s with a misbehaving host"
	done
	# A driver that takes every range of an overlap-ranges packet receives its first frame 33
	# times: more frames than the host sent. Ours refuses such packets (issue 16, F4).
	sent=$(jq '.to_guest.frames' "$s")
	got=$(console | sed -n 's/^RX-PACKETS: //p')
	[ -n "$got" ] || fail "no RX-PACKETS line on the console"
	if [ "$got" -le "$sent" ]; then
		echo "ok: the guest received $got frames of the $sent the host sent"
	elif [ "$E2E_DRIVERS" = rust ]; then
		fail "the guest received $got frames, the host sent $sent: overlapping ranges were taken"
	else
		echo "note: the guest received $got frames, the host sent $sent (overlapping ranges taken)"
	fi
	# Our driver counts what it dropped (ethtool -S host_bad_packets / host_unknown_completions);
	# the C driver only logs.
	if [ "$E2E_DRIVERS" = rust ]; then
		for c in host_bad_packets host_unknown_completions; do
			n=$(console | sed -n "s/^ETHTOOL-STAT: *$c: //p")
			[ "${n:-0}" -gt 0 ] || fail "ethtool -S $c is ${n:-0}: the bad packets were not noticed"
			echo "ok: $c $n"
		done
	fi
}
