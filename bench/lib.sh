# SPDX-License-Identifier: GPL-2.0
# Helpers for the benchmark scenarios (bench/scenarios/*.sh), sourced by them next to
# tests/e2e/host-lib.sh.

# The columns of every results table bench/run prints and writes.
bench_header='bench	test	drivers	metric	value	unit'

# bench_row BENCH TEST METRIC VALUE UNIT: one measurement of this run's driver set, appended to
# $E2E_OUT/results.tsv; a value that is not a number fails the run instead of being recorded.
bench_row() {
	local v
	v=$(awk -v x="$4" 'BEGIN {
		if (x ~ /^-?[0-9]+$/) print x
		else if (x ~ /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/) printf "%.2f\n", x
		else exit 1
	}') ||
		fail "$1 $2: $3 is not a number: '$4'"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$E2E_DRIVERS" "$3" "$v" "$5" >>"$E2E_OUT/results.tsv"
	echo "bench: $2 $3 $v $5"
}

# fio_disk_scenario: what the fio benchmarks share, called from their header: a 2 GiB RAM
# disk on hvsim, fio in the guest, and the System V shared memory fio needs but the guest
# kernel lacks (bench/guest/sysv-shm.c, preloaded as /usr/lib/rhv/libsysvshm.so).
fio_disk_scenario() {
	hvsim_args=(--disk ram:size=2G,sector=512)
	guest_bins=(fio)
	cc -shared -fPIC -O2 -Wall -o "$E2E_OUT/libsysvshm.so" "$RHV_TOP/bench/guest/sysv-shm.c" || return 1
	guest_files=("$E2E_OUT/libsysvshm.so=/usr/lib/rhv/libsysvshm.so")
	timeout=600
}

# The counters benchmarks: the guest prints "RHV-SNAP N key=value ..." lines at each snapshot
# point, the host part saves `hvsim ctl channels` as JSON at the same points.

# snap_field N FIELD: FIELD of the guest's snapshot N.
snap_field() {
	console | sed -n "s/^RHV-SNAP $1 .*\<$2=\([0-9]*\).*/\1/p"
}

# traffic_delta DEVICE FIELD BEFORE AFTER: how much the `traffic.FIELD` counters of DEVICE's
# channels grew, summed, between two saved `hvsim ctl channels` answers.
traffic_delta() {
	jq -n --arg dev "$1" --arg f "$2" --slurpfile b "$3" --slurpfile a "$4" \
		'def total($s): [$s[0][] | select(.device == $dev) | .traffic[$f] // 0] | add;
		 total($a) - total($b)'
}

# traffic_spread DEVICE BEFORE AFTER: the packets each of DEVICE's channels got from the guest
# between two saved `hvsim ctl channels` answers, as "chINDEX=N ..." in sub-channel order.
traffic_spread() {
	jq -rn --arg dev "$1" --slurpfile b "$2" --slurpfile a "$3" \
		'[$a[0][] | select(.device == $dev)] as $A | [$b[0][] | select(.device == $dev)] as $B |
		 [range(0; $A | length) | "ch\($A[.].subchannel_index)=\(($A[.].traffic.packets_from_guest // 0) - ($B[.].traffic.packets_from_guest // 0))"] | join(" ")'
}
