# SPDX-License-Identifier: GPL-2.0
# A benchmark, not a test (bench/run net-counters): what each MiB of the network benchmark's
# iperf3 runs costs in units that do not depend on how loaded the machine is, so driver sets
# can be compared where throughput is noise. Per MiB the receiver counted: guest CPU time
# (busy jiffies of /proc/stat, in ms), guest interrupts (the HYP line of /proc/interrupts),
# and from hvsim's per-channel traffic counters the guest's signals to the host (each one a
# hypercall), the host's signals to the guest and the packets both ways.
#
# The guest stops before and after each run ("RHV-STEP: snap N") and sleeps while the host
# part takes a snapshot of `hvsim ctl channels`; no iperf3 traffic flows meanwhile.
description="iperf3: guest CPU, hypercalls, interrupts and packets per MiB of the network benchmark's runs"
. "$RHV_TOP/tests/e2e/net-lib.sh"
. "$RHV_TOP/bench/lib.sh"
timeout=400

guest() {
	. /etc/rhv/net.sh
	net_up || exit 1
	ping_host || exit 1
	n=0
	# snap: one snapshot point; the HYP interrupts summed over the CPUs and the busy jiffies
	# (everything but idle and iowait) of all CPUs.
	snap() {
		hyp=$(awk '$1 == "HYP:" { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }' /proc/interrupts)
		busy=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat)
		echo "RHV-SNAP $n hyp=$hyp busy=$busy"
		echo "RHV-STEP: snap $n"
		n=$((n + 1))
		sleep 4
	}
	# name:streams:direction, the network benchmark's runs (host_after lists the names again).
	for run in tcp-send-1stream:1:send tcp-recv-1stream:1:recv tcp-send-2streams:2:send \
		tcp-recv-2streams:2:recv; do
		name=${run%%:*} rest=${run#*:}
		streams=${rest%%:*} dir=${rest#*:}
		flag=
		[ "$dir" = recv ] && flag=-R
		snap
		timeout 90 iperf3 -c 10.231.0.1 -t 6 -P "$streams" -J $flag >/tmp/iperf.json 2>&1
		rc=$?
		snap
		sed "s/^/BENCH-IPERF $name: /" /tmp/iperf.json
		[ $rc = 0 ] || { echo "guest: iperf3 $name failed ($rc)"; exit 1; }
	done
	echo "RHV-STEP: counters done"
}

host() {
	local i
	for i in $(seq 0 7); do
		await_console "^RHV-STEP: snap $i\$" 300
		ctl channels >"$E2E_OUT/snap$i.json"
	done
}

# snap_value N KEY: a guest counter of snapshot N.
snap_value() {
	console | sed -n "s/^RHV-SNAP $1 .*$2=\([0-9]*\).*/\1/p"
}

host_after() {
	# /proc/stat counts in USER_HZ, 100 on x86.
	local i=0 name b a f mib hz=100 busy hyp
	for name in tcp-send-1stream tcp-recv-1stream tcp-send-2streams tcp-recv-2streams; do
		b=$i a=$((i + 1))
		i=$((i + 2))
		f=$E2E_OUT/$name.json
		console | sed -n "s/^BENCH-IPERF $name: //p" >"$f"
		mib=$(jq -e '.end.sum_received.bytes / 1048576' "$f" 2>/dev/null) ||
			fail "no iperf3 report for $name on the console"
		awk -v m="$mib" 'BEGIN { exit !(m > 0) }' || fail "$name: no bytes received"
		bench_row net-counters "$name" mib "$mib" MiB
		busy=$(($(snap_value "$a" busy) - $(snap_value "$b" busy)))
		hyp=$(($(snap_value "$a" hyp) - $(snap_value "$b" hyp)))
		bench_row net-counters "$name" guest_cpu_ms_per_mib \
			"$(awk -v j="$busy" -v hz="$hz" -v m="$mib" 'BEGIN { print j * 1000 / hz / m }')" ms/MiB
		bench_row net-counters "$name" guest_irqs_per_mib "$(awk -v h="$hyp" -v m="$mib" 'BEGIN { print h / m }')" irq/MiB
		local c d
		for c in signals_from_guest signals_to_guest packets_from_guest packets_to_guest; do
			d=$(jq -n --slurpfile b "$E2E_OUT/snap$b.json" --slurpfile a "$E2E_OUT/snap$a.json" \
				"[\$a[0][] | select(.device == \"netvsp\") | .traffic.$c // 0] | add - ([\$b[0][] | select(.device == \"netvsp\") | .traffic.$c // 0] | add)")
			bench_row net-counters "$name" "${c}_per_mib" "$(awk -v x="$d" -v m="$mib" 'BEGIN { print x / m }')" /MiB
		done
	done
}
