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

# wait_for PATH [SECONDS]: waits until PATH exists.
wait_for() {
	local path=$1 left=${2:-10}
	while [ ! -e "$path" ]; do
		[ "$left" -le 0 ] && { echo "guest: timed out waiting for $path"; return 1; }
		sleep 1
		left=$((left - 1))
	done
}
