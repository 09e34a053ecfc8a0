/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Prototypes of storvsc/shim.c, the SCSI midlayer side of rhv_storvsc; the Rust declarations
 * are in storvsc/scsi.rs, which mirrors the two plain structures below.
 */
#ifndef RHV_STORVSC_SHIM_H
#define RHV_STORVSC_SHIM_H

#include <linux/types.h>

struct Scsi_Host;
struct scsi_cmnd;
struct device;

/* Most 4 KiB pages one command's data may touch: 512 KiB plus a partial first page. */
#define RHV_STORVSC_MAX_PFNS 129

/* The device does tagged queueing. */
#define RHV_STORVSC_CMD_TAGGED 0x01
/* The last command of the block layer's batch: the host must be told now (SCMD_LAST). */
#define RHV_STORVSC_CMD_LAST 0x02

/* What the driver needs to know of a command to build its SRB (scsi.rs: CommandInfo). */
struct rhv_storvsc_cmd_info {
	u8 cdb[16];
	u8 cdb_len;
	u8 channel;
	u8 target;
	u8 lun;
	u8 direction;		/* 0 to the device, 1 from the device, 2 none, 3 other */
	u8 flags;		/* RHV_STORVSC_CMD_* */
	u16 hwq;
	u32 unique_tag;
	u32 length;
};

/* The limits of a host, from the VSTOR properties (scsi.rs: HostLimits). */
struct rhv_storvsc_limits {
	u32 nr_hw_queues;
	u32 can_queue;
	u32 max_sectors;
	u32 sg_tablesize;
	u32 protocol_version;
};

struct Scsi_Host *rhv_storvsc_host_alloc(void);
int rhv_storvsc_host_add(struct Scsi_Host *host, struct device *parent, const void *ctx,
			 const struct rhv_storvsc_limits *limits);
void rhv_storvsc_host_remove(struct Scsi_Host *host);
void rhv_storvsc_host_put(struct Scsi_Host *host);
u32 rhv_storvsc_host_no(struct Scsi_Host *host);
void rhv_storvsc_schedule_scan(struct Scsi_Host *host);
void rhv_storvsc_schedule_lun_work(struct Scsi_Host *host, u8 target, u8 lun, bool remove);
struct scsi_cmnd *rhv_storvsc_find_cmd(struct Scsi_Host *host, u32 unique_tag);
void rhv_storvsc_wait_host_commands(struct Scsi_Host *host);
void rhv_storvsc_count_dropped(struct Scsi_Host *host);

void rhv_storvsc_cmd_info(struct scsi_cmnd *cmd, struct rhv_storvsc_cmd_info *info);
int rhv_storvsc_cmd_map(struct scsi_cmnd *cmd, u32 *offset, u32 *len, const u64 **pfns);
u32 rhv_storvsc_cmd_arm(struct scsi_cmnd *cmd);
bool rhv_storvsc_cmd_disarm(struct scsi_cmnd *cmd, u32 generation);
void rhv_storvsc_cmd_complete(struct scsi_cmnd *cmd, u8 host_byte, u8 status, const u8 *sense,
			      u32 sense_len, u32 resid);

u32 rhv_storvsc_online_cpus(void);
int rhv_storvsc_nth_online_cpu(u32 n);
bool rhv_storvsc_ratelimit(void);

/* Defined in Rust (storvsc/scsi.rs). */
int rhv_storvsc_rust_queuecommand(const void *ctx, struct scsi_cmnd *cmd);
int rhv_storvsc_rust_host_reset(const void *ctx);
void rhv_storvsc_rust_commit(const void *ctx, u16 hwq);

#endif
