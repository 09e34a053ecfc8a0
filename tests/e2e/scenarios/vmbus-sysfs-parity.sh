# SPDX-License-Identifier: GPL-2.0
description="the whole vmbus sysfs tree (every device, every channels/<relid>/, /sys/bus/vmbus/) matches the C driver's: names, modes and contents"

# Design: with the integration-component driver bound (so channels are open), the guest lists
# each directory (stat, then grep -H of every file) and the host turns that into lines
#   <dev> <path> <mode> <value>         for every regular file at the top of each
#                                       /sys/bus/vmbus/devices/<dev>/ and in each of its
#                                       channels/<relid>/ directories (<path> is relative to the
#                                       device; <mode> is stat -c %a; a multi-line value is
#                                       joined with '|'; a read that fails shows as
#                                       "<error: strerror>", so the C driver's EINVAL for the
#                                       ring files of a closed channel is compared too);
#   <dev> <name>/ <dir|link>             for every other entry at the top of a device and every
#                                       channels/<relid> directory;
#   bus <file> <mode> <value>            for every regular file of /sys/bus/vmbus/.
# The host writes them, normalised and sorted, to build/e2e/<drivers>/vmbus-sysfs-parity/
# sysfs.filtered and compares with the reference: the C run's file from the same build
# directory when it exists (the differential test: run --drivers c first), otherwise the
# checked-in tests/e2e/scenarios/vmbus-sysfs-parity.expected (the C run's sysfs.filtered,
# copied below its two comment lines whenever hvsim's offers change). The C run checks itself
# against the checked-in file too, so a stale reference is caught on both sides.
#
# There is no exception list: every name, mode and value is compared. Values that depend on
# timing rather than on the driver are compared by type and format instead of by value: the
# per-channel counters (interrupts, events, intr_in_full, intr_out_empty, out_full_first,
# out_full_total) must be decimal u64 and become <u64>; the ring indices and byte counts
# ({in,out}_{read,write}_index, {in,out}_{read,write}_bytes_avail, channels/*/read_avail,
# write_avail) must be decimal 32-bit numbers and become <u32>; the interrupt masks
# ({in,out}_intr_mask, channels/*/{in,out}_mask) must be 0 or 1 and become <mask>. A value
# of another shape (an error, a word) stays as it is and fails the comparison. The bound
# driver's name (hv_utils / rhv_utils) in 'uevent' becomes "DRIVER=<utils>".
#
# Then the guest sets driver_override of the first device to a name no driver has, unbinds it
# and asks the bus to probe it again: it must stay unbound (the bus's match honours the
# override, as C's); cleared, the device binds again.
#
# One deliberate difference (README, "sysfs"): rhv_vmbus adds three counters to
# /sys/bus/vmbus/ (leaked_gpadl_pages, bad_channel_messages, dropped_channel_messages). The
# Rust run must have exactly these three extra bus files and the C run none of them; they are
# checked for that and then left out of the comparison.
timeout=300
sysfs_rust_bus_extras='^bus (leaked_gpadl_pages|bad_channel_messages|dropped_channel_messages) 444 [0-9]+$'

guest() {
	load_vmbus || exit 1
	settle_vmbus || exit 1
	load_utils || exit 1
	sleep 2
	# Two processes per directory (a TCG guest forks slowly): the modes and types of its
	# entries, then every line of every file (a failing read shows as grep's error line).
	# The host puts the lines together (sysfs_assemble).
	walk() {
		stat -c 'SYSSTAT %a|%F|%n' "$1"/* 2>/dev/null
		grep -H '' "$1"/* 2>&1 | sed 's/^/SYSLINE /'
	}
	for d in /sys/bus/vmbus/devices/*; do
		walk "$d"
		for c in "$d"/channels/*; do
			[ -d "$c" ] && walk "$c"
		done
	done
	walk /sys/bus/vmbus
	echo "RHV-STEP: dumped"
	# driver_override: a name that is no driver keeps the device unbound; cleared, it binds.
	d=$(ls -d /sys/bus/vmbus/devices/* | head -n 1)
	dev=$(basename "$d")
	echo nosuchdriver >"$d/driver_override"
	echo "$dev" >"$d/driver/unbind"
	echo "$dev" >/sys/bus/vmbus/drivers_probe 2>/dev/null
	if [ -e "$d/driver" ]; then echo "OVERRIDE bound"; else echo "OVERRIDE unbound"; fi
	echo >"$d/driver_override"
	echo "OVERRIDE now $(cat "$d/driver_override")"
	echo "$dev" >/sys/bus/vmbus/drivers_probe
	if [ -e "$d/driver" ]; then echo "OVERRIDE rebound"; else echo "OVERRIDE not rebound"; fi
}

# Reads the guest's SYSSTAT/SYSLINE lines on stdin and writes the raw dump (see the header).
sysfs_assemble() {
	awk '
	function key(path,    rel) {
		if (path ~ "^/sys/bus/vmbus/devices/") {
			rel = substr(path, length("/sys/bus/vmbus/devices/") + 1)
			return substr(rel, 1, index(rel, "/") - 1) " " substr(rel, index(rel, "/") + 1)
		}
		return "bus " substr(path, length("/sys/bus/vmbus/") + 1)
	}
	/^SYSSTAT / {
		sub(/^SYSSTAT /, "")
		split($0, f, "|")
		if (f[2] == "regular file" || f[2] == "regular empty file") {
			order[++n] = f[3]; mode[f[3]] = f[1]; value[f[3]] = ""; seen[f[3]] = 0
		} else if (f[3] !~ "^/sys/bus/vmbus/[^/]+$") {
			print key(f[3]) "/ " (f[2] == "symbolic link" ? "link" : "dir")
		}
		next
	}
	/^SYSLINE grep: / {
		line = substr($0, length("SYSLINE grep: ") + 1)
		p = line; sub(/: [^:]*$/, "", p)
		err = line; sub(/^.*: /, "", err)
		if (p in mode) { value[p] = "<error: " err ">"; seen[p] = 1 }
		next
	}
	/^SYSLINE / {
		line = substr($0, length("SYSLINE ") + 1)
		i = index(line, ":"); p = substr(line, 1, i - 1); v = substr(line, i + 1)
		if (!(p in mode)) next
		value[p] = seen[p] ? value[p] "|" v : v; seen[p] = 1
		next
	}
	END {
		for (i = 1; i <= n; i++) {
			p = order[i]
			print key(p) " " mode[p] " " value[p]
		}
	}'
}

# Reads the raw dump on stdin and writes the normalised one (see the header).
sysfs_normalise() {
	sed -E \
		-e 's/DRIVER=r?hv_utils/DRIVER=<utils>/' \
		-e 's#^([^ ]+ channels/[0-9]+/(interrupts|events|intr_in_full|intr_out_empty|out_full_first|out_full_total) [0-7]+) [0-9]+$#\1 <u64>#' \
		-e 's#^([^ ]+ (in|out)_(read_index|write_index|read_bytes_avail|write_bytes_avail) [0-7]+) -?[0-9]+$#\1 <u32>#' \
		-e 's#^([^ ]+ channels/[0-9]+/(read_avail|write_avail) [0-7]+) [0-9]+$#\1 <u32>#' \
		-e 's#^([^ ]+ ((in|out)_intr_mask|channels/[0-9]+/(in|out)_mask) [0-7]+) [01]$#\1 <mask>#'
}

host_after() {
	overrides=$(console | tr -d '\r' | sed -n 's/^OVERRIDE //p' | tr '\n' ' ')
	[ "$overrides" = "unbound now (null) rebound " ] ||
		fail "driver_override not honoured: '$overrides' (want: unbound, cleared, rebound)"
	echo "ok: driver_override keeps the device unbound, cleared it binds again"
	dump=$E2E_OUT/sysfs.txt
	console | tr -d '\r' | grep -E '^SYS(STAT|LINE) ' | sysfs_assemble | sort >"$dump"
	[ -s "$dump" ] || fail "the guest dumped no sysfs attributes"
	extras=$(grep -cE "$sysfs_rust_bus_extras" "$dump")
	if [ "$E2E_DRIVERS" = rust ]; then
		[ "$extras" = 3 ] || fail "expected rhv_vmbus's 3 extra counters in /sys/bus/vmbus/, found $extras"
	else
		[ "$extras" = 0 ] || fail "the C driver has $extras of rhv_vmbus's extra bus counters?"
	fi
	grep -vE "$sysfs_rust_bus_extras" "$dump" | sysfs_normalise >"$E2E_OUT/sysfs.filtered"
	echo "$(wc -l <"$dump") entries, $(wc -l <"$E2E_OUT/sysfs.filtered") compared"
	c_run=$E2E_OUT/../../c/vmbus-sysfs-parity/sysfs.filtered
	expected=$RHV_TOP/tests/e2e/scenarios/vmbus-sysfs-parity.expected
	refs=("$expected")
	if [ "$E2E_DRIVERS" = rust ] && [ -s "$c_run" ]; then
		refs+=("$c_run")
	fi
	for ref in "${refs[@]}"; do
		[ -s "$ref" ] || fail "no reference dump $ref"
		if ! diff -u <(grep -v '^#' "$ref") "$E2E_OUT/sysfs.filtered"; then
			fail "sysfs differs from $ref"
		fi
		echo "ok: identical to $ref"
	done
}
