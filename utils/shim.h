/* SPDX-License-Identifier: GPL-2.0 */
/* Prototypes of utils/shim.c; the Rust declarations are in utils/system.rs. */
#ifndef RHV_UTILS_SHIM_H
#define RHV_UTILS_SHIM_H

#include <linux/types.h>

bool rhv_utils_ratelimit(void);
void rhv_utils_poweroff(void);
void rhv_utils_reboot(void);
u64 rhv_utils_reference_counter(void);
s64 rhv_utils_real_time_ns(void);
int rhv_utils_set_real_time_ns(s64 ns);
void rhv_utils_schedule_clock_work(void);
void rhv_utils_cancel_clock_work(void);
int rhv_utils_ptp_register(void);
void rhv_utils_ptp_unregister(void);
/* Defined in Rust (utils/timesync.rs, utils/system.rs). */
void rhv_utils_clock_work(void);
int rhv_utils_host_time_ns(s64 *ns);

#endif
