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

# kvp_daemon_env: what hv_kvp_daemon reads and needs: NAME from os-release, the canonical name
# of the host name (rhv-guest.e2e.test), and file locks (it locks its pool files with fcntl()
# and exits if it cannot).
kvp_daemon_env() {
	printf 'NAME="RHV e2e guest"\nVERSION_ID=7.3\n' >/etc/os-release
	echo "127.0.0.1 rhv-guest.e2e.test rhv-guest localhost" >/etc/hosts
	echo "hosts: files" >/etc/nsswitch.conf
	[ -e /proc/locks ] || { echo "guest: the kernel lacks CONFIG_FILE_LOCKING, which hv_kvp_daemon needs"; return 1; }
}

# start_kvp_daemon: starts hv_kvp_daemon on a fresh /dev/vmbus/hv_kvp; its PID is left in
# $daemon.
start_kvp_daemon() {
	wait_for /dev/vmbus/hv_kvp 20 || return 1
	hv_kvp_daemon --no-daemon &
	daemon=$!
	sleep 1
	kill -0 $daemon 2>/dev/null || { echo "guest: hv_kvp_daemon exited"; return 1; }
}
