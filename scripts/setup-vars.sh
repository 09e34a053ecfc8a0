# SPDX-License-Identifier: GPL-2.0
# Reads build/setup.mk (written by scripts/setup) into shell variables. Sourced after lib.sh.
[ -f "$RHV_BUILD/setup.mk" ] || die "build/setup.mk is missing: run 'make setup' (or scripts/setup) first"
while IFS= read -r line; do
	case $line in
	*' := '*) declare "${line%% := *}=${line#* := }" ;;
	esac
done <"$RHV_BUILD/setup.mk"
RHV_MODULES_OUT=$RHV_BUILD/modules
# Our modules, in load order (a module after the ones it uses).
RHV_MODULES="rhv_vmbus rhv_utils rhv_storvsc rhv_netvsc"
