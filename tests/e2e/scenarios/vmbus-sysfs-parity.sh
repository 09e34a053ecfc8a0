# SPDX-License-Identifier: GPL-2.0
description="every vmbus device's sysfs attributes match the C driver's, apart from documented exceptions"

# Design: with the integration-component driver bound (so channels are open), the guest prints
# every regular file at the top of each /sys/bus/vmbus/devices/<dev>/ as "SYSFS <dev> <attr>
# <value>" (multi-line values joined with '|'). The host writes them, sorted, to
# build/e2e/<drivers>/vmbus-sysfs-parity/sysfs.txt, drops the exceptions below, and compares
# with the reference: the C run's file from the same build directory when it exists (the
# differential test: run --drivers c first), otherwise the checked-in
# tests/e2e/scenarios/vmbus-sysfs-parity.expected (the filtered C dump, refreshed with
# build/e2e/c/vmbus-sysfs-parity/sysfs.filtered copied below its two comment lines whenever
# hvsim's offers change). The C run checks itself against the checked-in file too,
# so a stale reference is caught on both sides.
#
# Exceptions (attributes the Rust core does not have yet; all C-only):
#   channel_vp_mapping, {client,server}_monitor_{pending,latency,conn_id}: the monitor page
#     and per-channel CPU statistics of vmbus_drv.c;
#   {in,out}_{intr_mask,read_index,write_index,read_bytes_avail,write_bytes_avail}: ring
#     debugging attributes;
#   driver_override: not supported by the Rust bus;
# and one normalisation: the bound driver's name (hv_utils / rhv_utils) in 'uevent' becomes
# "DRIVER=<utils>". Sub-directories (channels/, power/, driver/) are not compared.
sysfs_parity_exceptions='^[^ ]+ (channel_vp_mapping|(client|server)_monitor_(pending|latency|conn_id)|(in|out)_(intr_mask|read_index|write_index|read_bytes_avail|write_bytes_avail)|driver_override) '

guest() {
	load_vmbus || exit 1
	settle_vmbus || exit 1
	load_utils || exit 1
	sleep 2
	for d in /sys/bus/vmbus/devices/*; do
		dev=$(basename "$d")
		for f in "$d"/*; do
			[ -f "$f" ] && [ -r "$f" ] || continue
			v=$(cat "$f" 2>/dev/null | tr '\n' '|')
			echo "SYSFS $dev $(basename "$f") ${v%|}"
		done
	done
	echo "RHV-STEP: dumped"
}

host_after() {
	dump=$E2E_OUT/sysfs.txt
	console | sed -n 's/^SYSFS //p' | sed -E 's/DRIVER=r?hv_utils/DRIVER=<utils>/' | sort >"$dump"
	[ -s "$dump" ] || fail "the guest dumped no sysfs attributes"
	grep -vE "$sysfs_parity_exceptions" "$dump" >"$E2E_OUT/sysfs.filtered"
	echo "$(wc -l <"$dump") attributes, $(wc -l <"$E2E_OUT/sysfs.filtered") compared"
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
