# SPDX-License-Identifier: GPL-2.0
description="the NIC offers checksum and segmentation offload: eth0 turns on tx-checksumming and TSO, 8 MiB of random bytes cross each way intact (and up once more over IPv6) with the host filling in checksums and cutting large sends, and again intact after 'ethtool -K eth0 tx off tso off rx off' with no offloaded frame, although the host then changes a byte of some frames it says it verified (the guest must check them itself)"
. "$RHV_TOP/tests/e2e/net-lib.sh"
guest_bins+=(ethtool)
timeout=600
# 8 MiB each way, twice.
net_bytes=$((8 << 20))

guest() {
	load_vmbus || exit 1
	load_net || exit 1
	wait_for /sys/class/net/eth0 30 || exit 1
	ip addr add 10.231.0.2/24 dev eth0 && ip link set eth0 up || exit 1
	ping -c 1 -w 60 10.231.0.1 >/dev/null 2>&1 || { echo "guest: no answer to ping"; exit 1; }
	ip -6 addr add fd00:231::2/64 dev eth0 || exit 1
	# Duplicate address detection holds the address back for a second or two.
	tries=0
	until ping6 -c 1 -w 2 fd00:231::1 >/tmp/ping6.txt 2>&1; do
		tries=$((tries + 1))
		[ $tries -lt 30 ] || { sed 's/^/PING6: /' /tmp/ping6.txt; echo "guest: no answer to ping6"; exit 1; }
		sleep 1
	done
	ethtool -k eth0 | sed 's/^/ETHTOOL-K-ON: /'
	dd if=/dev/urandom of=/tmp/up bs=65536 count=128 2>/dev/null || exit 1
	echo "RHV-NET: up-sha $(sha256sum </tmp/up | cut -d' ' -f1)"
	for phase in on off; do
		if [ $phase = off ]; then
			ethtool -K eth0 tx off tso off rx off || { echo "guest: ethtool -K failed"; exit 1; }
			ethtool -k eth0 | sed 's/^/ETHTOOL-K-OFF: /'
		fi
		# The host connects to each port once the step is announced (retrying until nc
		# listens): it reads the upload, writes the download, then takes the statistics.
		echo "RHV-STEP: up-$phase"
		timeout 180 nc -l -p 7001 </tmp/up >/dev/null || { echo "guest: upload ($phase) failed"; exit 1; }
		echo "RHV-STEP: down-$phase"
		timeout 180 nc -l -p 7002 >/tmp/down || { echo "guest: download ($phase) failed"; exit 1; }
		echo "RHV-NET: down-$phase-sha $(sha256sum </tmp/down | cut -d' ' -f1) $(wc -c </tmp/down)"
		# TCP segments the stack found with a wrong checksum (InCsumErrors).
		echo "RHV-NET: tcp-csum-errors-$phase $(awk '/^Tcp:/ { if (!c) { for (i = 1; i <= NF; i++) if ($i == "InCsumErrors") c = i } else print $c }' /proc/net/snmp)"
		if [ $phase = on ]; then
			echo "RHV-STEP: up6-$phase"
			timeout 180 nc -l -p 7005 </tmp/up >/dev/null || { echo "guest: IPv6 upload failed"; exit 1; }
		fi
		echo "RHV-STEP: stats-$phase"
		timeout 120 nc -l -p 7000 >/dev/null || { echo "guest: the host never connected"; exit 1; }
	done
}

# to_guest_port PORT FILE / from_guest_port PORT FILE [ADDRESS]: one TCP transfer with the
# guest's 'nc -l' on PORT, retried while it does not listen yet.
to_guest_port() {
	in_ns bash -c 'for _ in $(seq 60); do cat "$2" 2>/dev/null >"/dev/tcp/$0/$1" && exit 0; sleep 1; done; exit 1' \
		"$net_guest_ip" "$1" "$2" || fail "cannot send to the guest's port $1"
}
from_guest_port() {
	in_ns bash -c 'for _ in $(seq 60); do head -c "$3" 2>/dev/null <"/dev/tcp/$0/$1" >"$2" && exit 0; sleep 1; done; exit 1' \
		"${3:-$net_guest_ip}" "$1" "$2" "$net_bytes" || fail "cannot receive from the guest's port $1"
}

host() {
	head -c "$net_bytes" /dev/urandom >"$E2E_OUT/down.bin" || fail "no download file"
	in_ns ip addr add fd00:231::1/64 dev "$net_tap" nodad || fail "no IPv6 address on the TAP"
	for phase in on off; do
		await_console "^RHV-STEP: up-$phase" 400
		# Offload is in its state for the phase (the release of the last phase is over).
		netvsp '{"op":"stats"}' >"$E2E_OUT/netvsp-$phase-start.json"
		from_guest_port 7001 "$E2E_OUT/up-$phase.bin"
		await_console "^RHV-STEP: down-$phase" 200
		# With receive checksum offload off, the host's word on a checksum must not count:
		# every 16th frame it says it verified comes with its last byte changed (misbehave
		# bad-csum); a guest that believed it would write corrupt bytes to the file.
		if [ $phase = off ]; then
			netvsp '{"op":"misbehave","kinds":["bad-csum"],"every":16}' >/dev/null
		fi
		to_guest_port 7002 "$E2E_OUT/down.bin"
		if [ $phase = off ]; then
			netvsp '{"op":"misbehave","kinds":[]}' >/dev/null
		fi
		if [ $phase = on ]; then
			await_console "^RHV-STEP: up6-$phase" 200
			from_guest_port 7005 "$E2E_OUT/up6-$phase.bin" fd00:231::2
		fi
		await_console "^RHV-STEP: stats-$phase" 200
		netvsp '{"op":"stats"}' >"$E2E_OUT/netvsp-$phase.json"
		cat "$E2E_OUT/netvsp-$phase.json"
		release_guest
	done
}

host_after() {
	k() { console | sed -n "s/^ETHTOOL-K-$1: $2: \([a-z]*\).*/\1/p"; }
	expect_eq "tx-checksumming" on "$(k ON tx-checksumming)"
	expect_eq "tcp-segmentation-offload" on "$(k ON tcp-segmentation-offload)"
	expect_eq "tx-checksumming after ethtool -K" off "$(k OFF tx-checksumming)"
	expect_eq "tcp-segmentation-offload after ethtool -K" off "$(k OFF tcp-segmentation-offload)"
	expect_eq "rx-checksumming after ethtool -K" off "$(k OFF rx-checksumming)"
	up=$(console | sed -n 's/^RHV-NET: up-sha //p')
	down=$(sha256sum <"$E2E_OUT/down.bin" | cut -d' ' -f1)
	for phase in on off; do
		expect_eq "upload ($phase) intact" "$up" "$(sha256sum <"$E2E_OUT/up-$phase.bin" | cut -d' ' -f1)"
		expect_eq "download ($phase) intact" "$down $net_bytes" \
			"$(console | sed -n "s/^RHV-NET: down-$phase-sha //p")"
	done
	expect_eq "IPv6 upload intact" "$up" "$(sha256sum <"$E2E_OUT/up6-on.bin" | cut -d' ' -f1)"
	on=$E2E_OUT/netvsp-on.json off=$E2E_OUT/netvsp-off.json
	for s in "$on" "$off"; do
		expect_eq "malformed packets from the guest" 0 "$(jq -r .bad_packets "$s")"
	done
	expect_eq "offload offered" true "$(jq -r .offload_offered "$on")"
	[ "$(jq -r .lso_frames "$on")" -gt 0 ] || fail "no large send reached the host"
	[ "$(jq -r .lso_ipv6_frames "$on")" -gt 0 ] || fail "no IPv6 large send reached the host"
	[ "$(jq -r .csum_offloaded "$on")" -gt 0 ] || fail "no frame left with its checksum to fill in"
	[ "$(jq -r .rx_csum_verified "$on")" -gt 0 ] || fail "no frame reached the guest as verified"
	echo "ok: offloaded: $(jq -r .lso_frames "$on") large sends ($(jq -r .lso_ipv6_frames "$on") IPv6, $(jq -r .lso_bytes "$on") bytes), $(jq -r .csum_offloaded "$on") checksums, $(jq -r .rx_csum_verified "$on") verified receives"
	# The spoilt frames were caught by the guest's own check, not handed up as verified: the
	# download is intact (above) and the stack counted checksum errors.
	spoilt=$(jq -r '.misbehaved["bad-csum"]' "$off")
	[ "$spoilt" -gt 0 ] || fail "the host spoilt no checksum: the scenario did not test much"
	errors=$(console | sed -n 's/^RHV-NET: tcp-csum-errors-off //p')
	[ "${errors:-0}" -gt 0 ] || fail "the host spoilt $spoilt checksums and the guest's TCP counted no checksum error"
	echo "ok: with rx off, $spoilt spoilt checksums, $errors TCP checksum errors counted"
	start=$E2E_OUT/netvsp-off-start.json
	for c in lso_frames csum_offloaded; do
		expect_eq "$c with offload off" "$(jq -r .$c "$start")" "$(jq -r .$c "$off")"
	done
	[ "$(jq -r .from_guest.bytes "$off")" -gt "$(($(jq -r .from_guest.bytes "$start") + net_bytes))" ] ||
		fail "the upload with offload off did not go through the NIC"
}
