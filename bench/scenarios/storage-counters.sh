# SPDX-License-Identifier: GPL-2.0
# A benchmark, not a test (bench/run storage-counters): what each I/O of the storage benchmark's
# fio jobs costs in deterministic units, so that driver sets can be compared on a loaded
# machine where throughput is noise. Per job and per I/O (block-layer requests completed):
# guest interrupts (the HYP line of /proc/interrupts), and from hvsim's per-channel traffic
# counters the guest's signals to the host (each one a hypercall), the host's signals to the
# guest, packets both ways, and how the requests spread over the channels.
#
# The guest stops before and after each job ("RHV-STEP: snap N") and sleeps while the host
# part takes a snapshot of `hvsim ctl channels`; nothing moves on the disk meanwhile.
description="fio: hypercalls, interrupts and packets per I/O of the storage benchmark's jobs"
. "$RHV_TOP/bench/lib.sh"
fio_disk_scenario || return 1
. "$RHV_TOP/tests/e2e/storage-lib.sh"

guest() {
	. /etc/rhv/storage.sh
	storage_up || exit 1
	n=0
	# snap: one snapshot point; the HYP interrupts summed over the CPUs, the disk's
	# completed reads and writes.
	snap() {
		hyp=$(awk '$1 == "HYP:" { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }' /proc/interrupts)
		set -- $(cat "/sys/block/$d/stat")
		echo "RHV-SNAP $n hyp=$hyp ios=$(($1 + $5))"
		echo "RHV-STEP: snap $n"
		n=$((n + 1))
		sleep 4
	}
	# name:rw:bs:batch, the storage benchmark's jobs (host_after lists the names again), and
	# one that submits 16 I/Os per io_submit, so that the block layer hands the driver
	# batches (one signal per batch is the aim).
	for job in seqwrite-1m-qd32:write:1M:1 seqread-1m-qd32:read:1M:1 randread-4k-qd32:randread:4k:1 \
		randwrite-4k-qd32:randwrite:4k:1 randread-4k-qd32-batch16:randread:4k:16; do
		name=${job%%:*} rest=${job#*:}
		rw=${rest%%:*} rest=${rest#*:}
		bs=${rest%%:*} batch=${rest#*:}
		snap
		LD_PRELOAD=/usr/lib/rhv/libsysvshm.so fio --name="$name" --filename="/dev/$d" --rw="$rw" --bs="$bs" --iodepth=32 \
			--iodepth_batch_submit="$batch" --iodepth_batch_complete_min="$batch" \
			--ioengine=libaio --direct=1 --thread --size=1G --time_based --runtime=6 \
			--eta=never --output-format=terse --output=/tmp/fio.out || exit 1
		snap
	done
	echo "RHV-STEP: counters done"
}

host() {
	local i
	for i in $(seq 0 9); do
		await_console "^RHV-STEP: snap $i\$" 300
		ctl channels >"$E2E_OUT/snap$i.json"
	done
}

host_after() {
	no_io_errors
	local i=0 name b a ios hyp
	for name in seqwrite-1m-qd32 seqread-1m-qd32 randread-4k-qd32 randwrite-4k-qd32 randread-4k-qd32-batch16; do
		b=$i a=$((i + 1))
		i=$((i + 2))
		ios=$(($(snap_field $a ios) - $(snap_field $b ios)))
		hyp=$(($(snap_field $a hyp) - $(snap_field $b hyp)))
		[ "$ios" -gt 0 ] || fail "$name: no I/O counted"
		bench_row storage-counters "$name" ios "$ios" IO
		bench_row storage-counters "$name" guest_irqs_per_io "$(awk -v h="$hyp" -v n="$ios" 'BEGIN { print h / n }')" irq/IO
		local f d
		for f in signals_from_guest signals_to_guest packets_from_guest packets_to_guest; do
			d=$(traffic_delta storvsp0 "$f" "$E2E_OUT/snap$b.json" "$E2E_OUT/snap$a.json")
			bench_row storage-counters "$name" "${f}_per_io" "$(awk -v x="$d" -v n="$ios" 'BEGIN { print x / n }')" "/IO"
		done
		# How the requests spread: the packets each channel got, in sub-channel order.
		echo "spread $name: $(traffic_spread storvsp0 "$E2E_OUT/snap$b.json" "$E2E_OUT/snap$a.json")"
	done
}
