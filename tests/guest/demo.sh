#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of `make run`: load our four modules, show the devices they drive (the VMBus
# devices and their drivers, the SCSI disk, eth0), their KUnit results, unload them.
# /etc/rhv/demo-net says whether the host gave us a NIC ("on MAC") or why not ("skip REASON").
. /etc/rhv/common.sh
. /etc/rhv/drivers.sh
. /etc/rhv/storage.sh

fail() {
	echo "guest: FAILED: $*"
	exit 1
}
klog() {
	dmesg | sed -E 's/^\[ *[0-9.]+\] //'
}

echo "=== guest: $(uname -sr), $(nproc) vCPUs"
klog | grep -E '^Hypervisor detected|^Hyper-V: (privilege|Host)' || true

echo "=== loading rhv_vmbus, rhv_utils, rhv_storvsc, rhv_netvsc (their KUnit suites run on load)"
for m in rhv_vmbus rhv_utils rhv_storvsc rhv_netvsc; do
	load $m || fail "loading $m"
done
lsmod

echo "=== devices on the vmbus bus and the driver bound to each"
settle_vmbus 20 || true
for d in /sys/bus/vmbus/devices/*; do
	[ -e "$d/class_id" ] || continue
	class=$(tr -d '{}' <"$d/class_id")
	case $class in
	57164f39-9115-4e78-ab55-382f3bd5422d) what=heartbeat ;;
	0e0b6031-5213-4934-818b-38d90ced39db) what=shutdown ;;
	9527e630-d0ae-497b-adce-e80ab0175caf) what=timesync ;;
	a9a0f4e7-5a45-4d96-b827-8a841e8c03e6) what=kvp ;;
	ba6163d9-04a1-4d29-b605-72e2ffb1dc7f) what=scsi ;;
	f8615163-df3e-46c5-913f-f2d2f965ed0e) what=network ;;
	*) what=$class ;;
	esac
	drv=-
	[ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
	printf '  %-38s %-10s driver %s\n' "$(basename "$d")" "$what" "$drv"
done

echo "=== the SCSI disk (rhv_storvsc)"
disk=$(wait_scsi_disk 0 60) || fail "no SCSI disk appeared"
path=$(readlink -f "/sys/class/block/$disk/device")
model=$(cat "/sys/block/$disk/device/vendor" "/sys/block/$disk/device/model" | tr -s ' \n' '  ' | sed 's/ *$//')
echo "  /dev/$disk: $(($(disk_bytes "$disk") >> 20)) MiB, $(cat "/sys/block/$disk/queue/logical_block_size")-byte sectors," \
	"\"$model\", SCSI $(basename "$path") under vmbus device $(basename "$(dirname "$(dirname "$(dirname "$path")")")")"
dd if=/dev/urandom of=/tmp/pattern bs=64k count=64 2>/dev/null || fail "making a pattern"
dd if=/tmp/pattern of="/dev/$disk" bs=64k seek=16 oflag=direct 2>/dev/null || fail "O_DIRECT write to /dev/$disk"
dd if="/dev/$disk" of=/tmp/back bs=64k skip=16 count=64 iflag=direct 2>/dev/null || fail "O_DIRECT read from /dev/$disk"
written=$(sha256sum </tmp/pattern | cut -c1-16)
read_back=$(sha256sum </tmp/back | cut -c1-16)
echo "  4 MiB written and read back with O_DIRECT at 1 MiB: sha256 $written... written, $read_back... read"
[ "$written" = "$read_back" ] || fail "the disk returned other data than was written"

echo "=== the NIC (rhv_netvsc)"
net=$(cat /etc/rhv/demo-net 2>/dev/null) || net="skip the host left no word (/etc/rhv/demo-net is missing)"
case $net in
on\ *)
	wait_for /sys/class/net/eth0 30 || fail "no eth0"
	mac=$(cat /sys/class/net/eth0/address)
	[ "$mac" = "${net#on }" ] || fail "eth0 has MAC $mac, the host gave it ${net#on }"
	{ ip addr add 10.231.0.2/24 dev eth0 && ip link set eth0 up; } || fail "configuring eth0"
	# The carrier comes up once the host has answered the RNDIS set-up.
	left=10
	while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $left -gt 0 ]; do
		sleep 1
		left=$((left - 1))
	done
	echo "  eth0: MAC $mac, carrier $(cat /sys/class/net/eth0/carrier 2>/dev/null), operstate $(cat /sys/class/net/eth0/operstate)," \
		"MTU $(cat /sys/class/net/eth0/mtu), $(ip -o -4 addr show dev eth0 | awk '{print $4}')"
	ethtool -i eth0 | grep -E '^(driver|version|bus-info):' | sed 's/^/  ethtool -i: /'
	echo "  ethtool: link detected: $(ethtool eth0 | sed -n 's/^[[:space:]]*Link detected: //p')"
	ping -c 3 -w 60 10.231.0.1 >/tmp/ping.txt 2>&1
	rc=$?
	grep -E 'bytes from|packets transmitted' /tmp/ping.txt | sed 's/^/  ping: /'
	[ $rc = 0 ] || fail "no answer to ping from 10.231.0.1"
	;;
*)
	echo "  network part SKIPPED on the host: ${net#skip }"
	echo "  (rhv_netvsc is loaded but has no NIC to drive)"
	;;
esac

echo "=== KUnit suites (run when each module loaded)"
klog | awk '
	/^    # Subtest: rhv_/ { cases = 0; bad_cases = 0; skipped = 0 }
	/^    (not )?ok [0-9]+ / { cases++; if ($1 == "not") bad_cases++; else if (/# SKIP/) skipped++ }
	/^(not )?ok [0-9]+ rhv_/ {
		st = ($1 == "not") ? "NOT OK" : "ok"
		printf "  %-6s %-26s %d/%d cases passed%s\n", st, $NF, cases - bad_cases - skipped, cases, skipped ? ", " skipped " skipped" : ""
		runs++; if (st != "ok") bad++
	}
	END { printf "  %d suites, %d failed\n", runs, bad; exit (runs == 0 || bad > 0) }
' || fail "a KUnit suite failed or none ran"

echo "=== unloading"
for m in rhv_netvsc rhv_storvsc rhv_utils rhv_vmbus; do
	unload $m || fail "unloading $m"
done
left=$(lsmod | grep -c '^rhv_') || true
[ "$left" = 0 ] || fail "modules left loaded: $(lsmod | grep '^rhv_')"
echo "  all four unloaded; nothing of ours left in lsmod"
if klog | grep -qE 'BUG:|WARNING:|Oops|Call Trace'; then
	klog | grep -E 'BUG:|WARNING:|Oops' | head -n 3
	fail "the kernel log holds a splat"
fi
echo "=== done; powering off"
