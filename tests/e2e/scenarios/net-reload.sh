# SPDX-License-Identifier: GPL-2.0
description="the network driver is unloaded and loaded 20 times while pinging: eth0 comes back and answers every time, and the kernel does not complain"
. "$RHV_TOP/tests/e2e/net-lib.sh"
timeout=900

guest() {
	cycles=20
	load_vmbus || exit 1
	settle_vmbus || exit 1
	i=1
	while [ $i -le $cycles ]; do
		load_net || exit 1
		wait_for /sys/class/net/eth0 30 || { echo "guest: cycle $i: no eth0"; exit 1; }
		ip addr add 10.231.0.2/24 dev eth0 && ip link set eth0 up ||
			{ echo "guest: cycle $i: eth0 not configured"; exit 1; }
		ping -c 1 -w 60 10.231.0.1 >/dev/null 2>&1 || { echo "guest: cycle $i: no answer to ping"; exit 1; }
		# Unload while traffic flows: a ping every 50 ms, started a second before.
		ping -i 0.05 10.231.0.1 >/dev/null 2>&1 &
		pinger=$!
		sleep 1
		unload_net || { kill $pinger; exit 1; }
		kill $pinger 2>/dev/null
		wait $pinger 2>/dev/null
		[ -e /sys/class/net/eth0 ] && { echo "guest: cycle $i: eth0 left after unload"; exit 1; }
		[ $((i % 5)) = 0 ] && echo "guest: $i cycles"
		i=$((i + 1))
	done
	if kernel_log | grep -E 'WARNING|BUG|Oops|leak|refcount_t|list_(add|del) corruption|hung task'; then
		echo "guest: the kernel complained"
		exit 1
	fi
	echo "RHV-RELOAD: cycles=$cycles"
}

host_after() {
	console | grep '^RHV-RELOAD: cycles=20' || fail "the guest did not finish its cycles"
}
