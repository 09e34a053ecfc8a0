# SPDX-License-Identifier: GPL-2.0
# Helpers for the scripts that run inside the test guest. Sourced.

# load MODULE [PARAMS...]: insmod from /lib/modules, failing loudly.
load() {
	local m=$1
	shift
	insmod "/lib/modules/$m.ko" "$@" || { echo "guest: insmod $m failed"; return 1; }
}

# unload MODULE
unload() {
	rmmod "$1" || { echo "guest: rmmod $1 failed"; return 1; }
}

# How much slower than usual this kernel is (tests/e2e/run writes 3 for the debug kernel):
# a factor for the timeouts of these helpers.
RHV_SLOW=$(cat /etc/rhv/slow 2>/dev/null || echo 1)

# wait_for PATH [SECONDS]: waits until PATH exists (SECONDS times RHV_SLOW).
wait_for() {
	local path=$1 left=$((${2:-10} * RHV_SLOW))
	while [ ! -e "$path" ]; do
		[ "$left" -le 0 ] && { echo "guest: timed out waiting for $path"; return 1; }
		sleep 1
		left=$((left - 1))
	done
}

# kernel_log: the kernel log (dmesg) for a scenario to grep for complaints, without the debug
# kernel's bug-detector reports (lockdep, atomic sleep, KFENCE; each from its title to the end
# of its stack dump or closing rule) and kmemleak's own lines: tests/e2e/run collects those
# itself and judges them by the code they name, so that a report about the core kernel or the
# C drivers does not fail a scenario. On the normal kernel this is dmesg.
kernel_log() {
	dmesg | awk '
		/BUG: (Invalid wait context|sleeping function called from invalid context|KFENCE)|WARNING: (possible |inconsistent lock state|bad unlock balance|suspicious RCU usage|held lock freed)/ { skip = 1 }
		!skip && !/kmemleak: / { print }
		skip && (/<\/TASK>/ || /\] =+$/) { skip = 0 }'
}
