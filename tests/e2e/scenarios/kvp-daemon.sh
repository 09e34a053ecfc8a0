# SPDX-License-Identifier: GPL-2.0
description="KVP with a misbehaving daemon and reloads: a stopped daemon makes a request fail after the driver's 30 s timeout, a killed one fails its pending request at once; the device survives an unbind/bind and a module reload with hv_kvp_daemon attached (rmmod refuses while it holds the device), and requests work again each time"
guest_bins=(hv_kvp_daemon)
# The host waits longer than the driver's 30 s, so that a slow guest still answers first.
hvsim_args=(--kvp-answer-timeout-secs 90)
timeout=300
. "$RHV_TOP/tests/e2e/ic-lib.sh"

guest() {
	. /etc/rhv/ic.sh
	kvp_daemon_env || exit 1
	# await_key KEY: waits until the host has set KEY in the external pool.
	await_key() {
		left=120
		while ! grep -q "$1" /var/lib/hyperv/.kvp_pool_0 2>/dev/null; do
			[ $left -le 0 ] && { echo "guest: the host never set $1"; exit 1; }
			sleep 1
			left=$((left - 1))
		done
	}
	# gone PID SECONDS: waits until PID has exited.
	gone() {
		left=$2
		while kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; do
			[ $left -le 0 ] && return 1
			sleep 1
			left=$((left - 1))
		done
	}
	load_vmbus || exit 1
	load_utils || exit 1
	start_kvp_daemon || exit 1
	echo "RHV-STEP: daemon-started"
	await_key rhv-step-1
	kill -STOP $daemon
	kvp_dev=/sys/bus/vmbus/devices/242ff919-07db-4180-9c2e-b86cb68c8c55
	written=$(cat $kvp_dev/in_write_index) || exit 1
	echo "RHV-STEP: daemon-stopped"
	# The host's first request times out in the driver (30 s); its second is still pending
	# when the daemon dies. The host sends the second once the first has failed, so the guest
	# kills the daemon once the host has written twice into the channel's ring (sysfs
	# in_write_index, which both driver sets have), however slow the machine is.
	arrived=0 left=600
	while [ $arrived -lt 2 ]; do
		w=$(cat $kvp_dev/in_write_index) || exit 1
		[ "$w" != "$written" ] && { arrived=$((arrived + 1)); written=$w; }
		[ $left -le 0 ] && { echo "guest: $arrived of the host's 2 requests arrived"; exit 1; }
		left=$((left - 1))
		sleep 0.2
	done
	sleep 1
	kill -KILL $daemon
	wait $daemon 2>/dev/null
	echo "RHV-STEP: daemon-killed"
	start_kvp_daemon || exit 1
	echo "RHV-STEP: daemon-restarted"
	await_key rhv-step-2
	dev=/sys/bus/vmbus/devices/242ff919-07db-4180-9c2e-b86cb68c8c55
	drv=$(readlink -f $dev/driver)
	echo 242ff919-07db-4180-9c2e-b86cb68c8c55 >"$drv/unbind" || { echo "guest: unbind failed"; exit 1; }
	echo "RHV-STEP: unbound"
	# The daemon's device went away: it fails to reopen it and exits.
	gone $daemon 20 || { echo "guest: hv_kvp_daemon kept running without its device"; exit 1; }
	wait $daemon 2>/dev/null
	echo 242ff919-07db-4180-9c2e-b86cb68c8c55 >"$drv/bind" || { echo "guest: bind failed"; exit 1; }
	start_kvp_daemon || exit 1
	echo "RHV-STEP: rebound"
	await_key rhv-step-3
	if rmmod "$(basename "$drv")" 2>/dev/null; then
		echo "guest: the utils module unloaded while the daemon held its device"
		exit 1
	fi
	echo "RHV-STEP: rmmod-refused"
	kill $daemon
	wait $daemon 2>/dev/null
	unload_utils || exit 1
	load_utils || exit 1
	start_kvp_daemon || exit 1
	echo "RHV-STEP: reloaded"
	await_key rhv-step-4
	kill $daemon
	wait $daemon 2>/dev/null
	unload_utils || exit 1
	if kernel_log | grep -E 'WARNING|BUG|Oops|refcount_t|list_(add|del) corruption|hung_task'; then
		echo "guest: the kernel complained"
		exit 1
	fi
}

# kvp_works TARGET: the guest answers an ENUMERATE of the auto pool with its OS name.
kvp_works() {
	local r
	ic_wait_ready "$1" 60 || exit 1
	r=$(ic_request "$1" '{"op":"enumerate","pool":"auto","index":5}') || exit 1
	echo "index 5: $r"
	expect_eq "OSName" "RHV e2e guest" "$(echo "$r" | jq -r .value)"
}

# step TARGET N: lets the guest go on to its next step.
step() {
	local r
	r=$(ic_request "$1" "{\"op\":\"set\",\"pool\":\"external\",\"key\":\"rhv-step-$2\",\"value\":\"1\"}") || exit 1
	expect_eq "SET rhv-step-$2" ok "$(echo "$r" | jq -r .status_text)"
}

host() {
	local kvp r id t0 left
	await_console '^RHV-STEP: daemon-started' 90
	kvp=$(ic_target kvp) || exit 1
	kvp_works "$kvp"
	step "$kvp" 1
	await_console '^RHV-STEP: daemon-stopped' 60
	t0=$(date +%s)
	r=$(ic_request "$kvp" '{"op":"enumerate","pool":"auto","index":0}' 95) || exit 1
	echo "with the daemon stopped: $r (after $(($(date +%s) - t0)) s)"
	expect_eq "state of a request the daemon never answers" done "$(echo "$r" | jq -r .state)"
	expect_eq "its status" fail "$(echo "$r" | jq -r .status_text)"
	[ $(($(date +%s) - t0)) -ge 25 ] || fail "the request failed before the driver's 30 s timeout"
	# A second one, pending when the daemon is killed.
	r=$(ic_ctl "$kvp" '{"op":"enumerate","pool":"auto","index":0}') || exit 1
	id=$(echo "$r" | jq -r .id)
	await_console '^RHV-STEP: daemon-killed' 60
	left=50
	while :; do
		r=$(ic_ctl "$kvp" "{\"op\":\"result\",\"id\":$id}") || exit 1
		[ "$(echo "$r" | jq -r .state)" != pending ] && break
		[ $left -le 0 ] && fail "the pending request was not failed when the daemon died"
		left=$((left - 1))
		sleep 0.2
	done
	echo "pending when the daemon died: $r"
	expect_eq "its status" fail "$(echo "$r" | jq -r .status_text)"
	await_console '^RHV-STEP: daemon-restarted' 60
	kvp_works "$kvp"
	step "$kvp" 2
	await_console '^RHV-STEP: rebound' 90
	kvp_works "$kvp"
	step "$kvp" 3
	await_console '^RHV-STEP: reloaded' 90
	kvp_works "$kvp"
	r=$(ic_ctl "$kvp" '{"op":"status"}') || exit 1
	echo "status: $r"
	# The guest powers off once this key arrives: nothing is asked after it.
	ic_ctl "$kvp" '{"op":"set","pool":"external","key":"rhv-step-4","value":"1"}' || exit 1
}
