# SPDX-License-Identifier: GPL-2.0
description="eth0 comes up with the configured MAC, pings the host end of its TAP, iperf3 runs 5 s each way, and ethtool reports the driver, link and statistics"
. "$RHV_TOP/tests/e2e/net-lib.sh"
guest_bins+=(ethtool)
timeout=300

guest() {
	. /etc/rhv/net.sh
	net_up || exit 1
	echo "RHV-NET: mac $(cat /sys/class/net/eth0/address)"
	ping -c 3 -w 60 10.231.0.1 >/tmp/ping.txt 2>&1
	rc=$?
	sed 's/^/PING: /' /tmp/ping.txt
	[ $rc = 0 ] || { echo "guest: no answer to ping"; exit 1; }
	echo "RHV-NET: ping ok"
	iperf_host UP 5 && iperf_host DOWN 5 || exit 1
	ethtool -i eth0 | sed 's/^/ETHTOOL-I: /'
	ethtool eth0 | sed -n 's/^[[:space:]]*Link detected: /ETHTOOL-LINK: /p'
	echo "RHV-NET: operstate $(cat /sys/class/net/eth0/operstate)"
	echo "ETHTOOL-S: $(ethtool -S eth0 | grep -c ':')"
	ethtool -S eth0 | grep -v " 0$" | sed "s/^/ETHTOOL-STAT: /"
	echo "RHV-STEP: net-stats"
	timeout 60 nc -l -p 7000 >/dev/null || { echo "guest: the host never connected"; exit 1; }
}

host() {
	await_console '^RHV-STEP: net-stats' 280
	netvsp '{"op":"stats"}' >"$E2E_OUT/netvsp-stats.json"
	cat "$E2E_OUT/netvsp-stats.json"
	release_guest
}

host_after() {
	expect_eq "eth0 MAC address" "$net_mac" "$(console | sed -n 's/^RHV-NET: mac //p')"
	console | grep '^RHV-NET: ping ok' >/dev/null || fail "the guest could not ping $net_host_ip"
	for dir in UP DOWN; do
		rate=$(iperf_rate $dir)
		[ -n "$rate" ] || fail "no iperf3 $dir result on the console"
		awk "BEGIN { exit !($rate > 0) }" || fail "iperf3 $dir moved nothing"
		echo "ok: iperf3 $dir $rate Mbit/s"
	done
	driver=$(console | sed -n 's/^ETHTOOL-I: driver: //p')
	[ -n "$driver" ] || fail "ethtool -i names no driver"
	expect_eq "ethtool link" yes "$(console | sed -n 's/^ETHTOOL-LINK: //p')"
	expect_eq "eth0 operstate" up "$(console | sed -n 's/^RHV-NET: operstate //p')"
	[ "$(console | sed -n 's/^ETHTOOL-S: //p')" -gt 0 ] 2>/dev/null || fail "ethtool -S shows no statistics"
	echo "ok: ethtool: driver $driver, $(console | sed -n 's/^ETHTOOL-S: //p') statistics"
	s=$E2E_OUT/netvsp-stats.json
	expect_eq "malformed packets from the guest" 0 "$(jq -r .bad_packets "$s")"
	expect_eq "link" true "$(jq -r .link_up "$s")"
	[ "$(jq -r .to_guest.frames "$s")" -gt 1000 ] || fail "few frames reached the guest"
	[ "$(jq -r .from_guest.frames "$s")" -gt 1000 ] || fail "few frames left the guest"
	echo "ok: frames to/from the guest: $(jq -r .to_guest.frames "$s")/$(jq -r .from_guest.frames "$s")"
}
