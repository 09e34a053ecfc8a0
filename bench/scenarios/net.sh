# SPDX-License-Identifier: GPL-2.0
# A benchmark, not a test (bench/run): iperf3 TCP between the guest and the iperf3 server on
# the host end of the TAP (net-lib.sh), each direction with one and with two streams. "send" is
# the guest sending to the host, "recv" the host sending to the guest (iperf3 -R). The guest
# prints each iperf3 JSON report on the console; host_after turns them into rows of
# $E2E_OUT/results.tsv (the receiver's rate).
description="iperf3 TCP: guest to host and host to guest, 1 and 2 streams"
. "$RHV_TOP/tests/e2e/net-lib.sh"
. "$RHV_TOP/bench/lib.sh"
timeout=400

guest() {
	. /etc/rhv/net.sh
	net_up || exit 1
	ping_host || exit 1
	for streams in 1 2; do
		for dir in send recv; do
			flag=
			[ $dir = recv ] && flag=-R
			name=tcp-$dir-${streams}stream
			[ "$streams" = 1 ] || name=${name}s
			echo "RHV-STEP: iperf3 $name"
			# 1 s omitted (slow start), then 6 s measured.
			timeout 90 iperf3 -c 10.231.0.1 -O 1 -t 6 -P "$streams" -J $flag >/tmp/iperf.json 2>&1
			rc=$?
			sed "s/^/BENCH-IPERF $name: /" /tmp/iperf.json
			[ $rc = 0 ] || { echo "guest: iperf3 $name failed ($rc)"; exit 1; }
		done
	done
	echo "RHV-STEP: iperf3 done"
}

host_after() {
	local name f r
	for name in tcp-send-1stream tcp-recv-1stream tcp-send-2streams tcp-recv-2streams; do
		f=$E2E_OUT/$name.json
		console | sed -n "s/^BENCH-IPERF $name: //p" >"$f"
		jq -e '.end.sum_received.bits_per_second' "$f" >/dev/null 2>&1 ||
			fail "no iperf3 report for $name on the console"
		bench_row net "$name" throughput "$(jq '.end.sum_received.bits_per_second / 1000000' "$f")" Mbit/s
		# The sender's TCP retransmissions, when iperf3 reports them (the host's side with -R).
		r=$(jq '.end.sum_sent.retransmits // empty' "$f")
		[ -z "$r" ] || bench_row net "$name" retransmits "$r" count
	done
}
