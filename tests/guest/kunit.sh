#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of scripts/kunit: loading a module runs its KUnit suites; then unload in reverse.
. /etc/rhv/common.sh
set -e
load rhv_vmbus
load rhv_utils
grep -q '^rhv_vmbus .* rhv_utils,' /proc/modules || { echo "guest: rhv_vmbus is not used by rhv_utils"; cat /proc/modules; exit 1; }
load rhv_netvsc
grep -q '^rhv_vmbus .*rhv_netvsc' /proc/modules || { echo "guest: rhv_vmbus is not used by rhv_netvsc"; cat /proc/modules; exit 1; }
unload rhv_netvsc
unload rhv_utils
unload rhv_vmbus
echo "guest: modules loaded and unloaded"
