# SPDX-License-Identifier: GPL-2.0
# Guest helpers for the integration-component scenarios. Sourced on demand (. /etc/rhv/ic.sh).

# stand_in_for_init: lets the kernel's orderly power-off and reboot work in this initramfs.
# On a host request hv_utils calls orderly_poweroff()/orderly_reboot(), which run
# /sbin/poweroff or /sbin/reboot; busybox's versions only signal PID 1, and our PID 1 is a
# shell script that ignores those signals. The stand-ins say on the console that the kernel
# ran them, then power off or restart the way an init would at its end.
stand_in_for_init() {
	for cmd in poweroff reboot; do
		rm -f "/sbin/$cmd"
		printf '#!/bin/sh\necho "RHV-INIT: %s" >/dev/console\nsync\nexec /bin/busybox %s -f\n' \
			"$cmd" "$cmd" >"/sbin/$cmd" || return 1
		chmod 755 "/sbin/$cmd" || return 1
	done
}

# now_us: the wall clock as SECONDS.MICROSECONDS (busybox date has no sub-second format).
now_us() {
	adjtimex | awk '/tv_sec/ { s = $2 } /tv_usec/ { u = $2 } END { printf "%d.%06d\n", s, u }'
}

# await_power_request OP: the guest side of a host-initiated shutdown or reboot (OP): loads
# the drivers, says so, and waits; the kernel powers off or restarts from under the wait.
# Returns 1 if no request came.
await_power_request() {
	stand_in_for_init || return 1
	load_vmbus || return 1
	load_utils || return 1
	echo "RHV-STEP: utils-loaded"
	sleep 90
	echo "guest: no $1 request came"
	return 1
}
