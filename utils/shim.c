// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of rhv_utils: the kernel services the integration components act through that
 * Rust cannot reach directly (a function pointer variable, a rate limit state defined by a
 * macro) or that the `kernel` crate has no bindings for. Each function does one thing.
 * Declarations for Rust: utils/system.rs.
 */
#include <linux/err.h>
#include <linux/errno.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/ptp_clock_kernel.h>
#include <linux/ratelimit.h>
#include <linux/reboot.h>
#include <linux/time64.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>
#include <asm/mshyperv.h>

#include "shim.h"

static DEFINE_RATELIMIT_STATE(rhv_utils_complaints, 5 * HZ, 10);
/* Notices the host causes (negotiations, clock steps, requests): a limit of their own, so that
 * a flood of complaints does not hide them, nor a flood of them the complaints. */
static DEFINE_RATELIMIT_STATE(rhv_utils_notices, 5 * HZ, 10);

bool rhv_utils_ratelimit(void)
{
	return __ratelimit(&rhv_utils_complaints);
}

bool rhv_utils_notice_ratelimit(void)
{
	return __ratelimit(&rhv_utils_notices);
}

/* Both only queue the kernel's own work item: callable from softirq context. */
void rhv_utils_poweroff(void)
{
	orderly_poweroff(true);
}

void rhv_utils_reboot(void)
{
	orderly_reboot();
}

/* The partition reference counter: 100 ns units since the partition started. */
u64 rhv_utils_reference_counter(void)
{
	return hv_read_reference_counter();
}

s64 rhv_utils_real_time_ns(void)
{
	return ktime_get_real_ns();
}

/* Process context only (clock_was_set() may IPI the other CPUs). */
int rhv_utils_set_real_time_ns(s64 ns)
{
	struct timespec64 ts = ns_to_timespec64(ns);

	return do_settimeofday64(&ts);
}

/*
 * timesync_implicit, as hv_utils has it: a module parameter writable at run time
 * (/sys/module/rhv_utils/parameters/timesync_implicit), which Rust module parameters of this
 * kernel cannot be (they never appear in sysfs).
 */
static bool timesync_implicit;
module_param(timesync_implicit, bool, 0644);
MODULE_PARM_DESC(timesync_implicit, "If set treat SAMPLE as SYNC when clock is behind");

bool rhv_utils_timesync_implicit(void)
{
	return READ_ONCE(timesync_implicit);
}

/* The timesync clock work: do_settimeofday64() needs process context. */

static void rhv_utils_clock_fn(struct work_struct *work)
{
	rhv_utils_clock_work();
}

static DECLARE_WORK(rhv_utils_clock, rhv_utils_clock_fn);

void rhv_utils_schedule_clock_work(void)
{
	schedule_work(&rhv_utils_clock);
}

void rhv_utils_cancel_clock_work(void)
{
	cancel_work_sync(&rhv_utils_clock);
}

/*
 * The "hyperv" PTP clock: the host's time as of the latest timesync sample, advanced by the
 * reference counter (rhv_utils_host_time_ns() in Rust). Read-only, like Linux's.
 */
static int rhv_utils_ptp_gettime(struct ptp_clock_info *info, struct timespec64 *ts)
{
	s64 ns;
	int err = rhv_utils_host_time_ns(&ns);

	if (!err)
		*ts = ns_to_timespec64(ns);
	return err;
}

static int rhv_utils_ptp_settime(struct ptp_clock_info *info, const struct timespec64 *ts)
{
	return -EOPNOTSUPP;
}

static int rhv_utils_ptp_adjfine(struct ptp_clock_info *info, long scaled_ppm)
{
	return -EOPNOTSUPP;
}

static int rhv_utils_ptp_adjtime(struct ptp_clock_info *info, s64 delta)
{
	return -EOPNOTSUPP;
}

static int rhv_utils_ptp_enable(struct ptp_clock_info *info, struct ptp_clock_request *rq, int on)
{
	return -EOPNOTSUPP;
}

static struct ptp_clock_info rhv_utils_ptp_info = {
	.owner = THIS_MODULE,
	.name = "hyperv",
	.gettime64 = rhv_utils_ptp_gettime,
	.settime64 = rhv_utils_ptp_settime,
	.adjfine = rhv_utils_ptp_adjfine,
	.adjtime = rhv_utils_ptp_adjtime,
	.enable = rhv_utils_ptp_enable,
};

static struct ptp_clock *rhv_utils_ptp;

static DEFINE_MUTEX(rhv_utils_ptp_lock);

/*
 * Returns the clock's index (ptpN), or a negative errno. One clock at most: a second
 * timesync device (a host may offer one) gets -EBUSY.
 */
int rhv_utils_ptp_register(void)
{
	struct ptp_clock *clock;
	int ret;

	mutex_lock(&rhv_utils_ptp_lock);
	if (rhv_utils_ptp) {
		ret = -EBUSY;
		goto out;
	}
	clock = ptp_clock_register(&rhv_utils_ptp_info, NULL);
	if (IS_ERR_OR_NULL(clock)) {
		ret = clock ? PTR_ERR(clock) : -ENODEV;
		goto out;
	}
	rhv_utils_ptp = clock;
	ret = ptp_clock_index(clock);
out:
	mutex_unlock(&rhv_utils_ptp_lock);
	return ret;
}

void rhv_utils_ptp_unregister(void)
{
	mutex_lock(&rhv_utils_ptp_lock);
	if (rhv_utils_ptp)
		ptp_clock_unregister(rhv_utils_ptp);
	rhv_utils_ptp = NULL;
	mutex_unlock(&rhv_utils_ptp_lock);
}
