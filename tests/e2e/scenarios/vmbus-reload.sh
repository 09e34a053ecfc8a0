# SPDX-License-Identifier: GPL-2.0
description="the VMBus core survives repeated unload/load: each load reconnects and repopulates /sys/bus/vmbus/devices, no kernel warnings, slab usage back to where it started"

# Cycles: RHV_RELOAD_CYCLES (default 100) rmmod/insmod cycles of the VMBus core, each with the
# integration-component driver loaded on top so every cycle also opens and closes the four
# IC channels (GPADLs, rings). The same count is used for both driver sets: the C hv_vmbus
# handles 100 cycles too, it only takes longer per cycle (it waits for its own offer work).
# Slab: /proc/meminfo "Slab:" (after dropping caches and shrinking every SLUB cache, which
# frees the per-CPU partial slabs that otherwise make the total jump by 100 kB either way) at
# half-time versus after the last cycle must not differ by more than 64 kB, so a
# leak of more than ~1.3 kB per cycle fails. Why not first versus last: on this kernel the
# slab total climbs by ~370 kB over the first ~50 load/unload cycles of *any* of these
# modules and then stays flat (measured: C hv_vmbus 5472 -> 5844 kB, ours 5500 -> 5872 kB
# over 100 cycles, both flat over the second half): that is the module loader and kernfs
# warming up, not the drivers. The start value is printed for the record.
reload_cycles=${RHV_RELOAD_CYCLES:-100}
timeout=$((120 + 6 * reload_cycles))

reload_guest() {
	cycles=@CYCLES@
	# Slab in use, with the allocator's own slack removed first: dropped caches, and every
	# SLUB cache shrunk (per-CPU partial and empty slabs freed), so that what remains is
	# what the kernel really holds.
	slab_kb() {
		echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
		for f in /sys/kernel/slab/*/shrink; do echo 1 >"$f"; done 2>/dev/null
		sed -n 's/^Slab: *\([0-9]*\) kB/\1/p' /proc/meminfo
	}
	# wait_devices N: waits up to 20 s until N devices are on the bus.
	wait_devices() {
		n=0
		while [ "$(vmbus_devices | wc -l)" != "$1" ]; do
			n=$((n + 1))
			[ $n -gt 200 ] && { echo "guest: cycle $i: $(vmbus_devices | wc -l) devices, expected $1"; return 1; }
			sleep 0.1
		done
	}
	cycle() {
		load_vmbus || return 1
		wait_devices "$expected" || return 1
		[ "$(vmbus_devices | sort)" = "$reference" ] || { echo "guest: cycle $i: other devices"; return 1; }
		load_utils || return 1
		unload_utils || return 1
		unload_vmbus || return 1
		[ "$(vmbus_devices | wc -l)" = 0 ] || { echo "guest: cycle $i: devices left after unload"; return 1; }
	}
	load_vmbus || exit 1
	settle_vmbus || exit 1
	reference=$(vmbus_devices | sort)
	expected=$(echo "$reference" | wc -l)
	unload_vmbus || exit 1
	i=0
	cycle || exit 1
	before=$(slab_kb)
	i=1
	half=$((cycles / 2))
	mid=$before
	while [ $i -le "$cycles" ]; do
		cycle || exit 1
		[ $((i % 10)) = 0 ] && echo "guest: $i cycles"
		[ $i = $half ] && mid=$(slab_kb)
		i=$((i + 1))
	done
	after=$(slab_kb)
	echo "RHV-RELOAD: cycles=$cycles devices=$expected slab_start=$before slab_half=$mid slab_end=$after"
	if [ $((after - mid)) -gt 64 ]; then
		echo "guest: slab grew from $mid kB to $after kB over the last $((cycles - half)) cycles"
		# The leak check is for the driver under test. The upstream C driver, our reference,
		# has been seen to grow by 72 kB here, so for it the growth is reported, not judged.
		[ "$DRIVERS" = rust ] && exit 1
	fi
	if dmesg | grep -E 'WARNING|BUG|Oops|leak|refcount_t|list_(add|del) corruption'; then
		echo "guest: the kernel complained"
		exit 1
	fi
}
eval "$(declare -f reload_guest | sed -e '1s/reload_guest/guest/' -e "s/@CYCLES@/$reload_cycles/")"

host_after() {
	console | grep '^RHV-RELOAD:' || fail "the guest did not finish its cycles"
}
