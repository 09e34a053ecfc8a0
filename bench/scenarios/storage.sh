# SPDX-License-Identifier: GPL-2.0
# A benchmark, not a test (bench/run): fio on the raw disk of a RAM-backed hvsim disk, direct
# I/O through libaio at queue depth 32 — 4 KiB random reads and writes, 1 MiB sequential reads
# and writes, each for a fixed time after a short ramp. The guest prints each fio JSON report on
# the console; host_after turns them into rows of $E2E_OUT/results.tsv.
description="fio: 4K randread/randwrite and 1M sequential read/write at QD32 on a 2 GiB RAM disk"
. "$RHV_TOP/bench/lib.sh"
fio_disk_scenario || return 1
. "$RHV_TOP/tests/e2e/storage-lib.sh"

guest() {
	. /etc/rhv/storage.sh
	storage_up || exit 1
	# name rw bs; the RAM disk is sparse on the host, so it is written once before it is read
	# (reads then hit allocated memory, as they would on a real disk).
	for job in seqwrite-1m-qd32:write:1M seqread-1m-qd32:read:1M \
		randread-4k-qd32:randread:4k randwrite-4k-qd32:randwrite:4k; do
		name=${job%%:*} rest=${job#*:}
		rw=${rest%%:*} bs=${rest#*:}
		echo "RHV-STEP: fio $name"
		# --thread: one process, so the preloaded private SysV segments serve fio's job table.
		LD_PRELOAD=/usr/lib/rhv/libsysvshm.so fio --name="$name" --filename="/dev/$d" --rw="$rw" --bs="$bs" --iodepth=32 \
			--ioengine=libaio --direct=1 --thread --size=1G --time_based --ramp_time=2 \
			--runtime=12 --eta=never --output-format=json --output=/tmp/fio.json || {
			echo "guest: fio $name failed"
			cat /tmp/fio.json 2>/dev/null
			exit 1
		}
		sed "s/^/BENCH-FIO $name: /" /tmp/fio.json
	done
	echo "RHV-STEP: fio done"
}

host_after() {
	no_io_errors
	local name dir
	for name in randread-4k-qd32 randwrite-4k-qd32 seqread-1m-qd32 seqwrite-1m-qd32; do
		case $name in
		*read*) dir=read ;;
		*) dir=write ;;
		esac
		console | sed -n "s/^BENCH-FIO $name: //p" >"$E2E_OUT/$name.json"
		jq -e ".jobs[0].$dir" "$E2E_OUT/$name.json" >/dev/null 2>&1 ||
			fail "no fio report for $name on the console"
		[ "$(jq ".jobs[0].error" "$E2E_OUT/$name.json")" = 0 ] || fail "fio reported an error for $name"
		bench_row storage "$name" iops "$(jq ".jobs[0].$dir.iops" "$E2E_OUT/$name.json")" IO/s
		bench_row storage "$name" bw "$(jq ".jobs[0].$dir.bw_bytes / 1048576" "$E2E_OUT/$name.json")" MiB/s
		bench_row storage "$name" clat_mean "$(jq ".jobs[0].$dir.clat_ns.mean / 1000" "$E2E_OUT/$name.json")" us
	done
}
