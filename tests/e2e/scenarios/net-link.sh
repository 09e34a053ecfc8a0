# SPDX-License-Identifier: GPL-2.0
description="the host unplugs and replugs the NIC's cable: the guest's carrier follows, and traffic stops and resumes"
. "$RHV_TOP/tests/e2e/net-lib.sh"
timeout=240

guest() {
	. /etc/rhv/net.sh
	net_up || exit 1
	ping_host || exit 1
	echo "RHV-NET: carrier $(cat /sys/class/net/eth0/carrier)"
	echo "RHV-STEP: unplug"
	left=30
	while [ "$(cat /sys/class/net/eth0/carrier)" != 0 ]; do
		[ $left -le 0 ] && { echo "guest: the carrier stayed up"; exit 1; }
		sleep 1
		left=$((left - 1))
	done
	echo "RHV-NET: carrier 0 seen"
	if ping -c 2 -w 4 10.231.0.1 >/dev/null 2>&1; then
		echo "guest: ping answered while unplugged"
		exit 1
	fi
	echo "RHV-STEP: replug"
	left=30
	while [ "$(cat /sys/class/net/eth0/carrier)" != 1 ]; do
		[ $left -le 0 ] && { echo "guest: the carrier stayed down"; exit 1; }
		sleep 1
		left=$((left - 1))
	done
	echo "RHV-NET: carrier 1 seen"
	ping -c 3 -w 60 10.231.0.1 >/dev/null 2>&1 || { echo "guest: no ping after the replug"; exit 1; }
	echo "RHV-NET: ping after replug ok"
}

host() {
	await_console '^RHV-STEP: unplug' 200
	netvsp '{"op":"link","up":false}'
	await_console '^RHV-STEP: replug' 60
	netvsp '{"op":"stats"}' >"$E2E_OUT/netvsp-stats-down.json"
	netvsp '{"op":"link","up":true}'
}

host_after() {
	expect_eq "carrier before the unplug" 1 "$(console | sed -n 's/^RHV-NET: carrier \([01]\)$/\1/p')"
	console | grep '^RHV-NET: carrier 0 seen' >/dev/null || fail "the guest never saw the carrier go"
	console | grep '^RHV-NET: ping after replug ok' >/dev/null || fail "no traffic after the replug"
	expect_eq "link while unplugged" false "$(jq -r .link_up "$E2E_OUT/netvsp-stats-down.json")"
}
