# SPDX-License-Identifier: GPL-2.0
# The host end of the network scenarios, sourced by them: a network namespace of the
# scenario's own holding the TAP interface that is the NIC's switch port, with the host's
# address 10.231.0.1/24 on it (MTU 9000, so a guest may use jumbo frames). Its transmit queue
# (frames waiting for hvsim to read them) is 10000 frames long: with the default 1000 a loaded
# host dropped frames there, and the TCP retransmissions made the benchmarks noisy for both
# driver sets. hvsim runs inside that namespace (hvsim_wrapper) and plugs the
# guest's NIC (MAC 00:15:5d:00:00:01, guest address 10.231.0.2) into the TAP. Nothing touches
# the machine's own namespace; host_cleanup deletes the namespace with everything in it.

net_ns=rhv-e2e-net-$BASHPID
net_tap=rhvtap0
net_host_ip=10.231.0.1
net_guest_ip=10.231.0.2
net_mac=00:15:5d:00:00:01
hvsim_wrapper=(ip netns exec "$net_ns")
hvsim_args+=(--nic "tap=$net_tap,mac=$net_mac")
guest_bins+=(iperf3)

host_before() {
	ip netns add "$net_ns" &&
		ip -n "$net_ns" link set lo up &&
		ip -n "$net_ns" tuntap add dev "$net_tap" mode tap &&
		ip -n "$net_ns" addr add "$net_host_ip/24" dev "$net_tap" &&
		ip -n "$net_ns" link set "$net_tap" mtu 9000 txqueuelen 10000 up &&
		in_ns iperf3 -s -D -B "$net_host_ip" --pidfile "$E2E_OUT/iperf3.pid" \
			--logfile "$E2E_OUT/iperf3-server.log"
}

host_cleanup() {
	if [ -s "$E2E_OUT/iperf3.pid" ]; then
		kill "$(cat "$E2E_OUT/iperf3.pid")" 2>/dev/null
	fi
	ip netns del "$net_ns" 2>/dev/null
	return 0
}

# in_ns COMMAND...: runs a command in the scenario's network namespace.
in_ns() {
	ip netns exec "$net_ns" "$@"
}

# netvsp JSON: sends a control command to the NIC; prints the answer.
netvsp() {
	local target
	target=$(ctl channels | jq -r '[.[] | select(.device == "netvsp" and .subchannel_index == 0)][0].instance_id')
	[ -n "$target" ] && [ "$target" != null ] || fail "hvsim has no netvsp device"
	ctl device "$target" "$1"
}

# release_guest: the guest waits in 'nc -l -p 7000' at the end; connecting lets it finish (and
# proves the host can open a TCP connection to it). The guest may print the line the host
# waits for a moment before nc listens, so a refused connection is retried for 30 s.
release_guest() {
	local i
	for i in $(seq 30); do
		in_ns bash -c "exec 3<>/dev/tcp/$net_guest_ip/7000 && echo go >&3" 2>/dev/null && return 0
		sleep 1
	done
	fail "cannot reach the guest on TCP port 7000"
}

# iperf_rate DIRECTION: the receiver's Mbit/s of the guest's iperf3 run (UP or DOWN).
iperf_rate() {
	console | sed -n "s/^IPERF-$1: .* \([0-9.][0-9.]*\) Mbits\/sec.*receiver.*/\1/p" | tail -n1
}
