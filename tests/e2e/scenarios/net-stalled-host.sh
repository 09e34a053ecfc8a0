# SPDX-License-Identifier: GPL-2.0
description="the host stops reading the guest → host ring for 8 s under a flood of small frames each in a packet of its own: the guest's receive completions fill its ring; every one still reaches the host (no receive-buffer section is lost), TCP flows afterwards, the guest stays up"
. "$RHV_TOP/tests/e2e/net-lib.sh"
guest_bins+=(ethtool)
timeout=300

# hvsim's netvsp stops draining the channels' guest → host rings for 8 s with the 3000th
# transfer-page packet after arming (misbehave kind stop-reading); from arming to the end of
# the pause it sends a frame per packet: one receive completion each, some 8000 of which fill
# a 512 KiB ring (the 16 MiB receive buffer has some 9700 sections). A driver
# that waits for room (or gives up on a completion) in its receive path stalls the CPU or
# loses the host's receive-buffer sections for good; one that holds completions back and
# sends them once the host reads again loses nothing.
misbehave='{"op":"misbehave","kinds":["stop-reading"],"every":3000,"count":1}'

guest() {
	. /etc/rhv/net.sh
	net_up || exit 1
	ping_host || exit 1
	echo "RHV-STEP: ready"
	# The host arms the misbehaviour, then connects: the go signal.
	timeout 120 nc -l -p 7000 >/dev/null || { echo "guest: the host never connected"; exit 1; }
	# Small UDP datagrams from the host, as fast as it sends them, over the pause.
	timeout 120 iperf3 -c 10.231.0.1 -u -R -b 100M -l 64 -t 14 -f m >/tmp/udp.txt 2>&1
	sed 's/^/IPERF-UDP: /' /tmp/udp.txt
	iperf_host DOWN 3 || exit 1
	ping -c 3 -w 30 10.231.0.1 >/dev/null 2>&1 || { echo "guest: no answer to ping afterwards"; exit 1; }
	# Let every completion go out before the host counts what is still lent.
	sleep 2
	ethtool -S eth0 | grep -v " 0$" | sed "s/^/ETHTOOL-STAT: /"
	echo "RHV-STEP: traffic done"
	if dmesg | grep -E 'BUG|Oops|general protection|Kernel panic|WARNING|stall'; then
		echo "guest: the kernel crashed, warned or stalled"
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
	echo "misbehaved: $(jq -c .misbehaved "$s"), queues: $(jq -c .queues "$s")"
	n=$(jq '.misbehaved["stop-reading"]' "$s")
	[ "$n" -ge 1 ] || fail "the host never stopped reading: the scenario did not test much"
	rate=$(iperf_rate DOWN)
	[ -n "$rate" ] || fail "no iperf3 DOWN result on the console"
	awk "BEGIN { exit !($rate > 0) }" || fail "iperf3 DOWN moved nothing after the pauses"
	echo "ok: iperf3 DOWN $rate Mbit/s after the pauses"
	# Every transfer-page packet was completed: no section of the receive buffer is lost.
	expect_eq "receive packets the guest never completed" 0 "$(jq -r .receives_in_flight "$s")"
	if [ "$E2E_DRIVERS" = rust ]; then
		# The ring really filled: completions were held back (ethtool -S rx_completions_held).
		held=$(console | sed -n 's/^ETHTOOL-STAT: *rx_completions_held: //p')
		[ "${held:-0}" -gt 0 ] || fail "no receive completion was held back: the ring never filled"
		echo "ok: rx_completions_held $held"
	fi
}
