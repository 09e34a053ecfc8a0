# SPDX-License-Identifier: GPL-2.0
description="a guest whose clock is an hour behind is within 1 s of the host once hv_utils has the host's time"
. "$RHV_TOP/tests/e2e/ic-lib.sh"

guest() {
	. /etc/rhv/ic.sh
	load_vmbus || exit 1
	date -s "@$(($(date +%s) - 3600))" >/dev/null || exit 1
	echo "RHV-TIME-BEFORE: $(now_us)"
	load_utils || exit 1
	i=0
	while [ $i -lt 10 ]; do
		sleep 1
		echo "RHV-TIME: $(now_us)"
		i=$((i + 1))
	done
}

# abs_diff A B: |A - B| with millisecond precision.
abs_diff() {
	awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; printf "%.3f\n", d }'
}

host() {
	await_console '^RHV-TIME-BEFORE: ' 90
	host_now=$(date +%s.%N)
	before=$(console | sed -n 's/^RHV-TIME-BEFORE: //p' | head -n1)
	behind=$(abs_diff "$host_now" "$before")
	echo "before hv_utils the guest is $behind s behind"
	awk -v d="$behind" 'BEGIN { exit !(d > 3590 && d < 3610) }' || fail "the guest clock was not an hour off ($behind s)"
	ts=$(ic_target timesync) || exit 1
	ic_wait_ready "$ts" || exit 1
	# Compare each RHV-TIME line with the host clock as it arrives.
	seen=0 left=400
	while [ "$seen" -lt 10 ]; do
		n=$(console | grep -c '^RHV-TIME: ')
		if [ "$n" -gt "$seen" ]; then
			host_now=$(date +%s.%N)
			guest_t=$(console | sed -n 's/^RHV-TIME: //p' | tail -n1)
			seen=$n
			d=$(abs_diff "$host_now" "$guest_t")
			echo "line $seen: guest $guest_t host $host_now |diff| $d"
			echo "$d" >>"$E2E_OUT/diffs"
			# While the guest still runs: what hvsim sent.
			if [ "$seen" = 3 ]; then
				s=$(ic_ctl "$ts" '{"op":"status"}') || exit 1
				echo "timesync: $s"
			fi
		fi
		[ $left -le 0 ] && fail "the guest printed only $seen of 10 times"
		left=$((left - 1))
		sleep 0.05
	done
	# Every line after the first two (hv_utils needs a moment to probe) is within 1 s.
	tail -n +3 "$E2E_OUT/diffs" | awk '$1 >= 1.0 { bad = 1 } END { exit bad }' ||
		fail "the guest clock is not within 1 s of the host: $(tr '\n' ' ' <"$E2E_OUT/diffs")"
	echo "ok: every time after the second is within 1 s of the host"
	[ "$(echo "$s" | jq -r .syncs)" -ge 1 ] || fail "hvsim sent no SYNC"
	expect_eq "bad timesync answers" 0 "$(echo "$s" | jq -r .bad)"
}
