# SPDX-License-Identifier: GPL-2.0
# Reads build/setup.mk (written by scripts/setup) into shell variables, and build/setup-debug.mk
# (scripts/setup --debug-kernel: KDIR_DEBUG, KERNEL_IMAGE_DEBUG) if it exists. Sourced after
# lib.sh.
[ -f "$RHV_BUILD/setup.mk" ] || die "build/setup.mk is missing: run 'make setup' (or scripts/setup) first"
for mk in "$RHV_BUILD/setup.mk" "$RHV_BUILD/setup-debug.mk"; do
	[ -f "$mk" ] || continue
	while IFS= read -r line; do
		case $line in
		*' := '*) declare "${line%% := *}=${line#* := }" ;;
		esac
	done <"$mk"
done
RHV_MODULES_OUT=$RHV_BUILD/modules
# Our modules built against the debug kernel (tests/e2e/run --kernel debug builds them).
RHV_MODULES_OUT_DEBUG=$RHV_BUILD/modules-debug
# Our modules, in load order (a module after the ones it uses).
RHV_MODULES="rhv_vmbus rhv_utils rhv_storvsc rhv_netvsc"
