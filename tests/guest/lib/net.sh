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

# ping_host: waits up to 60 s for one answer from the host; says so when none comes.
ping_host() {
	ping -c 1 -w 60 10.231.0.1 >/dev/null 2>&1 || { echo "guest: no answer to ping"; return 1; }
}
