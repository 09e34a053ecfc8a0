# SPDX-License-Identifier: GPL-2.0
# Which driver set this guest runs: "c" (the upstream modules of our kernel build) or "rust"
# (ours). Scenarios call these helpers and never name a module themselves. Sourced.
DRIVERS=$(cat /etc/rhv/drivers 2>/dev/null || echo c)

load_vmbus() {
	case $DRIVERS in
	c) load hv_vmbus ;;
	rust) load rhv_vmbus ;;
	esac
}

# utils_param NAME: the sysfs file of the integration-component module's parameter NAME.
utils_param() {
	case $DRIVERS in
	c) echo "/sys/module/hv_utils/parameters/$1" ;;
	rust) echo "/sys/module/rhv_utils/parameters/$1" ;;
	esac
}

load_utils() {
	case $DRIVERS in
	c) load hv_utils ;;
	rust) load rhv_utils ;;
	esac
}

# load_net: the synthetic network driver (the C one links the ucs2_string helper module).
load_net() {
	case $DRIVERS in
	c) load ucs2_string && load hv_netvsc ;;
	rust) load rhv_netvsc ;;
	esac
}

# unload_net: the network driver (and, for the C one, the helper module load_net loaded).
unload_net() {
	case $DRIVERS in
	c) unload hv_netvsc && unload ucs2_string ;;
	rust) unload rhv_netvsc ;;
	esac
}

# load_storage: the synthetic SCSI driver (the disks then appear as sd devices).
load_storage() {
	case $DRIVERS in
	c) load hv_storvsc ;;
	rust) load rhv_storvsc ;;
	esac
}

unload_vmbus() {
	case $DRIVERS in
	c) unload hv_vmbus ;;
	rust) unload rhv_vmbus ;;
	esac
}

unload_utils() {
	case $DRIVERS in
	c) unload hv_utils ;;
	rust) unload rhv_utils ;;
	esac
}

# vmbus_devices: one line per device on the vmbus bus: "<name> <class_id> <device_id>".
vmbus_devices() {
	for d in /sys/bus/vmbus/devices/*; do
		[ -e "$d/class_id" ] || continue
		echo "$(basename "$d") $(cat "$d/class_id") $(cat "$d/device_id")"
	done
}

# settle_vmbus [SECONDS]: waits until the device list has not changed for a second.
settle_vmbus() {
	local left=${1:-20} last= now
	while [ "$left" -gt 0 ]; do
		now=$(vmbus_devices | sort)
		[ -n "$now" ] && [ "$now" = "$last" ] && return 0
		last=$now
		sleep 1
		left=$((left - 1))
	done
	echo "guest: the vmbus device list did not settle"
	return 1
}
