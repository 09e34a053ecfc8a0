/* SPDX-License-Identifier: GPL-2.0 */
/* Prototypes of utils/shim.c; the Rust declarations are in utils/system.rs. */
#ifndef RHV_UTILS_SHIM_H
#define RHV_UTILS_SHIM_H

#include <linux/types.h>

bool rhv_utils_ratelimit(void);
bool rhv_utils_notice_ratelimit(void);
void rhv_utils_poweroff(void);
void rhv_utils_reboot(void);
u64 rhv_utils_reference_counter(void);
s64 rhv_utils_real_time_ns(void);
int rhv_utils_set_real_time_ns(s64 ns);
bool rhv_utils_timesync_implicit(void);
void rhv_utils_schedule_clock_work(void);
void rhv_utils_cancel_clock_work(void);
int rhv_utils_ptp_register(void);
void rhv_utils_ptp_unregister(void);
/* utils/kvp_dev.c: the KVP daemon's character device. */
/* sizeof(struct hv_kvp_msg) of include/uapi/linux/hyperv.h. */
#define RHV_KVP_MSG_SIZE 7432
int rhv_utils_kvp_dev_start(void *ctx);
void rhv_utils_kvp_dev_stop(void);
void rhv_utils_kvp_dev_quiesce(void);
int rhv_utils_kvp_dev_send(const u8 *msg, size_t len);
void rhv_utils_kvp_dev_withdraw(void);
void rhv_utils_kvp_arm_timeout(unsigned int ms);
void rhv_utils_kvp_cancel_timeout(void);
/* Defined in Rust (utils/timesync.rs, utils/system.rs, utils/kvp_transport.rs). */
void rhv_utils_clock_work(void);
int rhv_utils_host_time_ns(s64 *ns);
int rhv_utils_kvp_daemon_write(void *ctx, const u8 *msg, size_t len);
void rhv_utils_kvp_daemon_read(void *ctx);
void rhv_utils_kvp_daemon_gone(void *ctx);
void rhv_utils_kvp_timeout(void *ctx);

#endif
