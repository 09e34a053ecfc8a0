# SPDX-License-Identifier: GPL-2.0
# A benchmark, not a test (bench/run net-counters): what each megabyte of the network
# benchmark's TCP runs costs in deterministic units, so that driver sets can be compared on a
# loaded machine where throughput is noise. Per MB of frames the guest sent (send) or got
# (recv), from eth0's byte counters: the frames each way (eth0's counts; a large send is one),
# the guest's interrupts (the HYP line of /proc/interrupts), its CPU time (busy ticks of
# /proc/stat: TCG runs the guest's instructions, so this is roughly what the driver and the
# stack spent, time in hypercalls included, but the machine's load leaks in), and from hvsim
# the guest's signals to the host (HvSignalEvent hypercalls, `ctl stats` .platform), the
# host's signals to the guest and the packets each way on the NIC's channels (`ctl channels`).
#
# The guest stops before and after each run ("RHV-STEP: snap N") and sleeps while the host
# part takes its snapshots; nothing is sent meanwhile but the odd ARP.
description="iperf3: hypercalls, interrupts, CPU and packets per MB of the network benchmark's runs"
. "$RHV_TOP/tests/e2e/net-lib.sh"
. "$RHV_TOP/bench/lib.sh"
timeout=500

# The runs, as the network benchmark names them (the guest's loop spells them out again).
net_counter_runs=(tcp-send-1stream tcp-send-2streams tcp-recv-1stream)

guest() {
	. /etc/rhv/net.sh
	net_up || exit 1
	ping_host || exit 1
	n=0
	# snap: one snapshot point: the HYP interrupts summed over the CPUs, the busy and all
	# ticks of /proc/stat, eth0's byte counters.
	snap() {
		hyp=$(awk '$1 == "HYP:" { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }' /proc/interrupts)
		busy=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)
		st=/sys/class/net/eth0/statistics
		echo "RHV-SNAP $n hyp=$hyp busy=$busy tx=$(cat $st/tx_bytes) rx=$(cat $st/rx_bytes) txf=$(cat $st/tx_packets) rxf=$(cat $st/rx_packets)"
		echo "RHV-STEP: snap $n"
		n=$((n + 1))
		sleep 4
	}
	# DIRECTION:STREAMS, in the order of net_counter_runs.
	for run in send:1 send:2 recv:1; do
		flag=
		[ "${run%:*}" = recv ] && flag=-R
		snap
		timeout 90 iperf3 -c 10.231.0.1 -t 6 -P "${run#*:}" $flag >/tmp/iperf.txt 2>&1 ||
			{ sed "s/^/IPERF: /" /tmp/iperf.txt; echo "guest: iperf3 $run failed"; exit 1; }
		snap
	done
	echo "RHV-STEP: counters done"
}

host() {
	local i
	for i in $(seq 0 $((2 * ${#net_counter_runs[@]} - 1))); do
		await_console "^RHV-STEP: snap $i\$" 300
		ctl channels >"$E2E_OUT/channels$i.json"
		ctl stats >"$E2E_OUT/stats$i.json"
	done
}

# per_mb VALUE BYTES: VALUE per megabyte (10^6 bytes) of BYTES.
per_mb() {
	awk -v x="$1" -v b="$2" 'BEGIN { printf "%.3f\n", x * 1000000 / b }'
}

host_after() {
	local i=0 name b a bytes dir f d
	for name in "${net_counter_runs[@]}"; do
		b=$i a=$((i + 1))
		i=$((i + 2))
		dir=tx
		case $name in *-recv-*) dir=rx ;; esac
		bytes=$(($(snap_field $a $dir) - $(snap_field $b $dir)))
		[ "$bytes" -gt 1000000 ] || fail "$name: under 1 MB moved ($bytes bytes)"
		bench_row net-counters "$name" mbytes "$((bytes / 1000000))" MB
		# Frames both ways (a large send counts once, as the driver sees it).
		bench_row net-counters "$name" frames_sent_per_mb \
			"$(per_mb $(($(snap_field $a txf) - $(snap_field $b txf))) "$bytes")" /MB
		bench_row net-counters "$name" frames_received_per_mb \
			"$(per_mb $(($(snap_field $a rxf) - $(snap_field $b rxf))) "$bytes")" /MB
		bench_row net-counters "$name" guest_irqs_per_mb \
			"$(per_mb $(($(snap_field $a hyp) - $(snap_field $b hyp))) "$bytes")" irq/MB
		bench_row net-counters "$name" guest_cpu_ticks_per_mb \
			"$(per_mb $(($(snap_field $a busy) - $(snap_field $b busy))) "$bytes")" ticks/MB
		d=$(jq -n --slurpfile b "$E2E_OUT/stats$b.json" --slurpfile a "$E2E_OUT/stats$a.json" \
			'$a[0].platform.signal_hypercalls - $b[0].platform.signal_hypercalls')
		bench_row net-counters "$name" hypercalls_per_mb "$(per_mb "$d" "$bytes")" /MB
		for f in signals_from_guest signals_to_guest packets_from_guest packets_to_guest; do
			d=$(traffic_delta netvsp "$f" "$E2E_OUT/channels$b.json" "$E2E_OUT/channels$a.json")
			bench_row net-counters "$name" "${f}_per_mb" "$(per_mb "$d" "$bytes")" /MB
		done
		echo "spread $name: $(traffic_spread netvsp "$E2E_OUT/channels$b.json" "$E2E_OUT/channels$a.json")"
	done
}
