# SPDX-License-Identifier: GPL-2.0
description="with Debian's hv_kvp_daemon the host reads the guest's OSName and FQDN, and a key it sets in the external pool reaches the guest's pool file (and leaves it on DELETE)"
guest_bins=(hv_kvp_daemon)
. "$RHV_TOP/tests/e2e/ic-lib.sh"

guest() {
	. /etc/rhv/ic.sh
	kvp_daemon_env || exit 1
	load_vmbus || exit 1
	load_utils || exit 1
	start_kvp_daemon || exit 1
	echo "RHV-STEP: kvp-daemon-started"
	left=90
	while ! grep -q rhv-e2e-key /var/lib/hyperv/.kvp_pool_0 2>/dev/null; do
		[ $left -le 0 ] && { echo "guest: the host's key never reached pool 0"; exit 1; }
		sleep 1
		left=$((left - 1))
	done
	echo "RHV-STEP: key-arrived"
	strings /var/lib/hyperv/.kvp_pool_0 | sed 's/^/POOL0 /'
	left=60
	while grep -q rhv-e2e-key /var/lib/hyperv/.kvp_pool_0; do
		[ $left -le 0 ] && { echo "guest: the host never deleted its key"; exit 1; }
		sleep 1
		left=$((left - 1))
	done
	echo "RHV-STEP: key-deleted"
	# Stay up until the host has read its counters: it says so with one more key.
	left=60
	while ! grep -q rhv-e2e-done /var/lib/hyperv/.kvp_pool_0; do
		[ $left -le 0 ] && { echo "guest: the host never said it was done"; exit 1; }
		sleep 1
		left=$((left - 1))
	done
	kill $daemon
}

host() {
	await_console '^RHV-STEP: kvp-daemon-started' 90
	kvp=$(ic_target kvp) || exit 1
	ic_wait_ready "$kvp" 60 || exit 1
	r=$(ic_request "$kvp" '{"op":"enumerate","pool":"auto","index":5}') || exit 1
	echo "index 5: $r"
	expect_eq "auto pool index 5" OSName "$(echo "$r" | jq -r .key)"
	expect_eq "OSName" "RHV e2e guest" "$(echo "$r" | jq -r .value)"
	r=$(ic_request "$kvp" '{"op":"enumerate","pool":"auto","index":0}') || exit 1
	echo "index 0: $r"
	expect_eq "auto pool index 0" FullyQualifiedDomainName "$(echo "$r" | jq -r .key)"
	expect_eq "FullyQualifiedDomainName" rhv-guest.e2e.test "$(echo "$r" | jq -r .value)"
	r=$(ic_request "$kvp" '{"op":"scan","pool":"auto"}') || exit 1
	echo "scan: $r"
	[ "$(echo "$r" | jq -r .entries)" -ge 10 ] || fail "the auto pool scan found too few entries: $r"
	pools=$(ic_ctl "$kvp" '{"op":"pools"}') || exit 1
	echo "pools: $pools"
	expect_eq "OSName in the host's view" "RHV e2e guest" "$(echo "$pools" | jq -r .auto.OSName)"
	r=$(ic_request "$kvp" '{"op":"set","pool":"external","key":"rhv-e2e-key","value":"hello from hvsim"}') || exit 1
	echo "set: $r"
	expect_eq "SET status" ok "$(echo "$r" | jq -r .status_text)"
	r=$(ic_request "$kvp" '{"op":"enumerate","pool":"external","index":0}') || exit 1
	echo "external index 0: $r"
	expect_eq "external pool key" rhv-e2e-key "$(echo "$r" | jq -r .key)"
	expect_eq "external pool value" "hello from hvsim" "$(echo "$r" | jq -r .value)"
	await_console '^RHV-STEP: key-arrived' 60
	# GET finds the key (Linux's stock daemon returns no value with it: see hvsim/src/ic/mod.rs).
	r=$(ic_request "$kvp" '{"op":"get","pool":"external","key":"rhv-e2e-key"}') || exit 1
	echo "get: $r"
	expect_eq "GET status" ok "$(echo "$r" | jq -r .status_text)"
	r=$(ic_request "$kvp" '{"op":"get","pool":"external","key":"no-such-key"}') || exit 1
	expect_eq "GET status of a missing key" no_such_item "$(echo "$r" | jq -r .status_text)"
	r=$(ic_request "$kvp" '{"op":"delete","pool":"external","key":"rhv-e2e-key"}') || exit 1
	echo "delete: $r"
	expect_eq "DELETE status" ok "$(echo "$r" | jq -r .status_text)"
	s=$(ic_ctl "$kvp" '{"op":"status"}') || exit 1
	echo "status: $s"
	expect_eq "bad KVP answers" 0 "$(echo "$s" | jq -r .bad)"
	# Let the guest go; it powers off once the key arrives, so nothing is asked after this.
	ic_ctl "$kvp" '{"op":"set","pool":"external","key":"rhv-e2e-done","value":"1"}' || exit 1
}

host_after() {
	console | grep -q '^RHV-STEP: key-arrived' || fail "the key did not reach the guest"
	console | grep -qx 'POOL0 rhv-e2e-key' || fail "pool 0 lacks the key"
	console | grep -qx 'POOL0 hello from hvsim' || fail "pool 0 lacks the value"
	echo "ok: the guest's pool 0 held rhv-e2e-key = hello from hvsim"
	console | grep -q '^RHV-STEP: key-deleted' || fail "the host's DELETE did not reach the guest"
	echo "ok: the host's DELETE removed it"
}
