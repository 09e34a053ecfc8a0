#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of `make run`: load our modules, show what they did, unload them.
. /etc/rhv/common.sh
. /etc/rhv/drivers.sh
set -e
echo "=== guest: $(uname -sr), $(nproc) vCPUs"
dmesg | sed -E 's/^\[ *[0-9.]+\] //' | grep -E '^Hypervisor detected|^Hyper-V: (privilege|Host)' || true
echo "=== loading rhv_vmbus and rhv_utils (their KUnit suites run on load)"
load rhv_vmbus
load rhv_utils
echo "=== lsmod"
lsmod
echo "=== what the modules logged (rhv_utils calls rhv_vmbus's Rust API across the module boundary)"
dmesg | sed -E 's/^\[ *[0-9.]+\] //' | grep -E '^rhv_(vmbus|utils): ' || true
if [ -d /sys/bus/vmbus/devices ]; then
	echo "=== devices on the vmbus bus"
	settle_vmbus 10 || true
	vmbus_devices
fi
echo "=== their KUnit suites"
dmesg | sed -E 's/^\[ *[0-9.]+\] //' | grep -E '^(ok|not ok) [0-9]+ rhv_' || true
echo "=== unloading"
unload rhv_utils
unload rhv_vmbus
lsmod
echo "=== done; powering off"
