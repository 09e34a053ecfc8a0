# SPDX-License-Identifier: GPL-2.0
# Guest helpers for the network scenarios. Sourced on demand (. /etc/rhv/net.sh).
# The NIC's other end is the host's TAP at 10.231.0.1/24 (tests/e2e/net-lib.sh); the guest is
# 10.231.0.2.

# net_up: loads the VMBus core and the network driver, waits for eth0, gives it the guest's
# address and brings it up.
net_up() {
	load_vmbus || return 1
	load_net || return 1
	wait_for /sys/class/net/eth0 30 || return 1
	ip addr add 10.231.0.2/24 dev eth0 && ip link set eth0 up
}

# iperf_host DIR SECONDS: one iperf3 TCP run against the host's server, guest to host (UP) or
# host to guest (DOWN), its report on the console as IPERF-DIR lines; fails when it does.
# iperf3's server turns a new test away while it is still closing the previous one (the client
# sees "busy" or, racing the close, "reset by peer"): such a run is tried again, twice at most.
iperf_host() {
	local flag= attempt rc
	[ "$1" = DOWN ] && flag=-R
	for attempt in 1 2 3; do
		timeout 90 iperf3 -c 10.231.0.1 -t "$2" -f m $flag >/tmp/iperf.txt 2>&1
		rc=$?
		[ $rc != 0 ] && grep -qE 'server is busy|reset by peer' /tmp/iperf.txt || break
		sed "s/^/IPERF-$1-RETRY$attempt: /" /tmp/iperf.txt
		sleep 1
	done
	sed "s/^/IPERF-$1: /" /tmp/iperf.txt
	[ $rc = 0 ] || { echo "guest: iperf3 $1 failed ($rc)"; return 1; }
}

# ping_host: waits up to 60 s for one answer from the host; says so when none comes.
ping_host() {
	ping -c 1 -w 60 10.231.0.1 >/dev/null 2>&1 || { echo "guest: no answer to ping"; return 1; }
}
