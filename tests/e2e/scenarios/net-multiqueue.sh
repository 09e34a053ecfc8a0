# SPDX-License-Identifier: GPL-2.0
description="with 2 vCPUs the NIC gets a sub-channel (ethtool -l: 2 combined channels) and keeps it across an MTU change; traffic flows"
. "$RHV_TOP/tests/e2e/net-lib.sh"
guest_bins+=(ethtool)
cpus=2
timeout=300

guest() {
	. /etc/rhv/net.sh
	net_up || exit 1
	# The sub-channels open from a work item after the probe.
	left=30
	while [ "$(ethtool -l eth0 2>/dev/null | sed -n 's/^Combined:[[:space:]]*//p' | tail -n1)" != 2 ]; do
		[ $left -le 0 ] && break
		sleep 1
		left=$((left - 1))
	done
	ethtool -l eth0 | sed 's/^/ETHTOOL: /'
	ls /sys/class/net/eth0/queues | sed 's/^/QUEUE: /'
	ping -c 3 -w 60 10.231.0.1 >/dev/null 2>&1 || { echo "guest: no answer to ping"; exit 1; }
	# Several flows, so RSS spreads them over both channels.
	timeout 90 iperf3 -c 10.231.0.1 -t 3 -P 4 -R -f m >/tmp/iperf.txt 2>&1
	rc=$?
	sed 's/^/IPERF-DOWN: /' /tmp/iperf.txt
	[ $rc = 0 ] || { echo "guest: iperf3 failed ($rc)"; exit 1; }
	for q in /sys/class/net/eth0/queues/rx-*; do
		echo "RXQ: ${q##*/}"
	done
	# An MTU change makes netvsc close and reopen the device: the host withdraws the
	# sub-channel with the primary and offers a new one when the guest asks again.
	ip link set eth0 mtu 9000 || { echo "guest: the MTU change failed"; exit 1; }
	left=30
	while [ "$(ethtool -l eth0 2>/dev/null | sed -n 's/^Combined:[[:space:]]*//p' | tail -n1)" != 2 ]; do
		[ $left -le 0 ] && break
		sleep 1
		left=$((left - 1))
	done
	echo "RHV-NET: mtu $(cat /sys/class/net/eth0/mtu) combined $(ethtool -l eth0 | sed -n 's/^Combined:[[:space:]]*//p' | tail -n1)"
	ping -c 3 -w 60 -s 8000 10.231.0.1 >/dev/null 2>&1 || { echo "guest: no answer to a jumbo ping"; exit 1; }
	echo "RHV-NET: jumbo ping ok"
	echo "RHV-STEP: net-stats"
	timeout 60 nc -l -p 7000 >/dev/null || { echo "guest: the host never connected"; exit 1; }
}

host() {
	await_console '^RHV-STEP: net-stats' 280
	netvsp '{"op":"stats"}' >"$E2E_OUT/netvsp-stats.json"
	ctl channels >"$E2E_OUT/channels.json"
	release_guest
}

host_after() {
	console | grep '^ETHTOOL: ' || fail "no ethtool output"
	max=$(console | sed -n 's/^ETHTOOL: Combined:[[:space:]]*//p' | head -n1)
	cur=$(console | sed -n 's/^ETHTOOL: Combined:[[:space:]]*//p' | tail -n1)
	echo "combined channels: maximum $max, current $cur"
	[ "$cur" -gt 1 ] 2>/dev/null || fail "ethtool -l shows $cur combined channel(s), want more than 1"
	expect_eq "receive queues in sysfs" 2 "$(console | grep -c '^RXQ: ')"
	expect_eq "after the MTU change" "mtu 9000 combined 2" "$(console | sed -n 's/^RHV-NET: \(mtu .*\)$/\1/p')"
	console | grep '^RHV-NET: jumbo ping ok' >/dev/null || fail "no jumbo ping after the MTU change"
	opened=$(jq '[.[] | select(.device == "netvsp" and .state == "opened")] | length' "$E2E_OUT/channels.json")
	expect_eq "open netvsp channels" 2 "$opened"
	s=$E2E_OUT/netvsp-stats.json
	expect_eq "malformed packets from the guest" 0 "$(jq -r .bad_packets "$s")"
	expect_eq "RSS indirection table entries" 128 "$(jq -r .rss_table_entries "$s")"
	rate=$(iperf_rate DOWN)
	[ -n "$rate" ] || fail "no iperf3 result"
	echo "ok: iperf3 -P 4 to the guest: $rate Mbit/s"
}
