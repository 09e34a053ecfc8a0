#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of scripts/kunit: loading a module runs its KUnit suites; then unload in reverse.
. /etc/rhv/common.sh
set -e
load rhv_vmbus
load rhv_utils
load rhv_storvsc
load rhv_netvsc
for user in rhv_utils rhv_storvsc rhv_netvsc; do
	grep -qE "^rhv_vmbus .*[ ,]$user," /proc/modules ||
		{ echo "guest: rhv_vmbus is not used by $user"; cat /proc/modules; exit 1; }
done
unload rhv_netvsc
unload rhv_storvsc
unload rhv_utils
unload rhv_vmbus
echo "guest: modules loaded and unloaded"
