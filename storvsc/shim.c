// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of rhv_storvsc: the SCSI midlayer's host template and the inline functions,
 * macros and structure fields of the <scsi/...> headers that Rust cannot reach. Each function
 * does one thing; the decisions (SRBs, statuses, channels) are made in Rust. Declarations for
 * Rust: storvsc/scsi.rs.
 *
 * Data pages are named to the host by guest-physical address: rhv_vmbus does not support
 * isolated (confidential) partitions, so there is no bounce buffer between a page and the
 * host, and no DMA mapping is needed to share it.
 */
#include <linux/atomic.h>
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/ratelimit.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/workqueue.h>
#include <scsi/scsi.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_device.h>
#include <scsi/scsi_eh.h>
#include <scsi/scsi_host.h>
#include <scsi/scsi_tcq.h>

#include "shim.h"

#define RHV_HV_PAGE_SIZE 4096u
#define RHV_HV_PAGE_SHIFT 12
/*
 * Seconds between two looks at a slow disk command (the C driver's storvsc_timeout). A
 * command is never given up for being slow: see rhv_storvsc_eh_timed_out.
 */
#define RHV_STORVSC_CMD_TIMEOUT 180
/* Seconds between two warnings while a host reset waits for the host's commands. */
#define RHV_STORVSC_DRAIN_WARN 60
/* Seconds the TEST UNIT READY of a rescan may take. */
#define RHV_STORVSC_TUR_TIMEOUT 10
/* VSTOR protocol versions that change how disks are configured. */
#define RHV_VSTOR_WIN8_1 0x0600
#define RHV_VSTOR_WIN10 0x0602

static DEFINE_RATELIMIT_STATE(rhv_storvsc_complaints, 5 * HZ, 10);

/* The private data of each Scsi_Host. */
struct rhv_storvsc_hostdata {
	const void *ctx;
	u32 protocol_version;
	struct Scsi_Host *host;
	struct workqueue_struct *lun_wq;
	struct work_struct scan_work;
	spinlock_t lock;	/* guards removing against the queueing of work */
	bool removing;
};

/* A LUN to rescan or remove (the host said it changed or is gone). */
struct rhv_storvsc_lun_work {
	struct work_struct work;
	struct Scsi_Host *host;
	u8 target;
	u8 lun;
	bool remove;
};

/*
 * The per-command private data (cmd_size). The template's init_cmd_priv sets it up once,
 * when the midlayer allocates the command; without that hook the midlayer zeroes the area
 * on every dispatch, and the generation would restart at 1 each time: a late completion of
 * the tag's previous command would then be taken for the new one.
 */
struct rhv_storvsc_cmd_priv {
	/* The generation the command is with the host under, or 0. */
	atomic_t armed;
	/* The last generation used for this tag: kept across dispatches. */
	u32 generation;
	u64 pfns[RHV_STORVSC_MAX_PFNS];
};

/* Rust mirrors these (scsi.rs). */
static_assert(sizeof(struct rhv_storvsc_cmd_info) == 32);
static_assert(offsetof(struct rhv_storvsc_cmd_info, hwq) == 22);
static_assert(offsetof(struct rhv_storvsc_cmd_info, unique_tag) == 24);
static_assert(sizeof(struct rhv_storvsc_limits) == 20);

bool rhv_storvsc_ratelimit(void)
{
	return __ratelimit(&rhv_storvsc_complaints);
}

static struct rhv_storvsc_hostdata *hostdata(struct Scsi_Host *host)
{
	return shost_priv(host);
}

static enum scsi_qc_status rhv_storvsc_queuecommand(struct Scsi_Host *host,
						    struct scsi_cmnd *cmd)
{
	int rc = rhv_storvsc_rust_queuecommand(hostdata(host)->ctx, cmd);

	if (rc == SCSI_MLQUEUE_HOST_BUSY || rc == SCSI_MLQUEUE_DEVICE_BUSY)
		return rc;
	return 0;
}

/* The block layer's batch ended before a command with SCMD_LAST: tell the host now. */
static void rhv_storvsc_commit_rqs(struct Scsi_Host *host, u16 hwq)
{
	rhv_storvsc_rust_commit(hostdata(host)->ctx, hwq);
}

/*
 * Hyper-V answers every command, but its latency is unbounded (on Azure a disk may stall for
 * minutes while the platform services it), so a slow command is waited for, never aborted:
 * aborting would escalate to resets that can offline the disk and make a root file system
 * read-only. The C driver does the same. It also means the midlayer never takes back a
 * command that the host holds.
 */
static enum scsi_timeout_action rhv_storvsc_eh_timed_out(struct scsi_cmnd *cmd)
{
	return SCSI_EH_RESET_TIMER;
}

static int rhv_storvsc_eh_host_reset(struct scsi_cmnd *cmd)
{
	return rhv_storvsc_rust_host_reset(hostdata(cmd->device->host)->ctx) ? FAILED : SUCCESS;
}

static int rhv_storvsc_init_cmd_priv(struct Scsi_Host *host, struct scsi_cmnd *cmd)
{
	struct rhv_storvsc_cmd_priv *priv = scsi_cmd_priv(cmd);

	atomic_set(&priv->armed, 0);
	priv->generation = 0;
	return 0;
}

static int rhv_storvsc_sdev_configure(struct scsi_device *sdev, struct queue_limits *lim)
{
	u32 version = hostdata(sdev->host)->protocol_version;

	blk_queue_rq_timeout(sdev->request_queue, RHV_STORVSC_CMD_TIMEOUT * HZ);
	/* The host answers neither REPORT SUPPORTED OPERATION CODES nor, before Windows 10,
	 * WRITE SAME; its virtual disks claim SPC-3 only from Windows 8.1 on. */
	sdev->no_report_opcodes = 1;
	sdev->no_write_same = 1;
	if (!strncmp(sdev->vendor, "Msft", 4)) {
		if (version == RHV_VSTOR_WIN8_1)
			sdev->scsi_level = SCSI_SPC_3;
		if (version >= RHV_VSTOR_WIN10)
			sdev->no_write_same = 0;
	}
	return 0;
}

/* CPU n submits on hardware queue n (modulo), whose channel interrupts CPU n. */
static void rhv_storvsc_map_queues(struct Scsi_Host *host)
{
	struct blk_mq_queue_map *map = &host->tag_set.map[HCTX_TYPE_DEFAULT];
	unsigned int cpu;

	for_each_possible_cpu(cpu)
		map->mq_map[cpu] = map->queue_offset + cpu % map->nr_queues;
}

static const struct scsi_host_template rhv_storvsc_template = {
	.module = THIS_MODULE,
	.name = "rhv_storvsc_host",
	.proc_name = "rhv_storvsc",
	.cmd_size = sizeof(struct rhv_storvsc_cmd_priv),
	.init_cmd_priv = rhv_storvsc_init_cmd_priv,
	.queuecommand = rhv_storvsc_queuecommand,
	.commit_rqs = rhv_storvsc_commit_rqs,
	.eh_timed_out = rhv_storvsc_eh_timed_out,
	.eh_host_reset_handler = rhv_storvsc_eh_host_reset,
	.sdev_configure = rhv_storvsc_sdev_configure,
	.map_queues = rhv_storvsc_map_queues,
	.change_queue_depth = scsi_change_queue_depth,
	.can_queue = 64,
	.cmd_per_lun = 2048,
	.this_id = -1,
	.sg_tablesize = RHV_STORVSC_MAX_PFNS,
	/* Every segment but the first starts, and every one but the last ends, on a page
	 * boundary: one page range describes the whole buffer. */
	.virt_boundary_mask = RHV_HV_PAGE_SIZE - 1,
	.no_write_same = 1,
	.track_queue_depth = 1,
};

/* ---- hot-plug ---- */

static void rhv_storvsc_scan_work(struct work_struct *work)
{
	struct rhv_storvsc_hostdata *hd = container_of(work, struct rhv_storvsc_hostdata,
						       scan_work);
	struct Scsi_Host *host = hd->host;
	struct scsi_device *sdev;

	/* A removed LUN fails its TEST UNIT READY with "invalid LUN", which removes it. */
	mutex_lock(&host->scan_mutex);
	shost_for_each_device(sdev, host)
		scsi_test_unit_ready(sdev, RHV_STORVSC_TUR_TIMEOUT * HZ, 1, NULL);
	mutex_unlock(&host->scan_mutex);
	scsi_scan_host(host);
}

static void rhv_storvsc_lun_work_fn(struct work_struct *work)
{
	struct rhv_storvsc_lun_work *w = container_of(work, struct rhv_storvsc_lun_work, work);
	struct scsi_device *sdev;

	if (!scsi_host_get(w->host))
		goto out;
	sdev = scsi_device_lookup(w->host, 0, w->target, w->lun);
	if (sdev) {
		if (w->remove)
			scsi_remove_device(sdev);
		else
			scsi_rescan_device(sdev);
		scsi_device_put(sdev);
	}
	scsi_host_put(w->host);
out:
	kfree(w);
}

void rhv_storvsc_schedule_scan(struct Scsi_Host *host)
{
	struct rhv_storvsc_hostdata *hd = hostdata(host);
	unsigned long flags;

	spin_lock_irqsave(&hd->lock, flags);
	if (!hd->removing)
		queue_work(system_percpu_wq, &hd->scan_work);
	spin_unlock_irqrestore(&hd->lock, flags);
}

void rhv_storvsc_schedule_lun_work(struct Scsi_Host *host, u8 target, u8 lun, bool remove)
{
	struct rhv_storvsc_hostdata *hd = hostdata(host);
	struct rhv_storvsc_lun_work *w;
	unsigned long flags;

	w = kzalloc(sizeof(*w), GFP_ATOMIC);
	if (!w)
		return;
	INIT_WORK(&w->work, rhv_storvsc_lun_work_fn);
	w->host = host;
	w->target = target;
	w->lun = lun;
	w->remove = remove;
	spin_lock_irqsave(&hd->lock, flags);
	if (hd->removing) {
		spin_unlock_irqrestore(&hd->lock, flags);
		kfree(w);
		return;
	}
	queue_work(hd->lun_wq, &w->work);
	spin_unlock_irqrestore(&hd->lock, flags);
}

/* ---- the host ---- */

struct Scsi_Host *rhv_storvsc_host_alloc(void)
{
	struct Scsi_Host *host = scsi_host_alloc(&rhv_storvsc_template,
						 sizeof(struct rhv_storvsc_hostdata));
	struct rhv_storvsc_hostdata *hd;

	if (!host)
		return NULL;
	hd = hostdata(host);
	memset(hd, 0, sizeof(*hd));
	hd->host = host;
	spin_lock_init(&hd->lock);
	INIT_WORK(&hd->scan_work, rhv_storvsc_scan_work);
	hd->lun_wq = alloc_ordered_workqueue("rhv_storvsc_%u", 0, host->host_no);
	if (!hd->lun_wq) {
		scsi_host_put(host);
		return NULL;
	}
	return host;
}

int rhv_storvsc_host_add(struct Scsi_Host *host, struct device *parent, const void *ctx,
			 const struct rhv_storvsc_limits *limits)
{
	struct rhv_storvsc_hostdata *hd = hostdata(host);
	int ret;

	hd->ctx = ctx;
	hd->protocol_version = limits->protocol_version;
	/* One target, up to 255 LUNs, on path 0 (Hyper-V's SCSI controller). */
	host->max_lun = 255;
	host->max_id = 2;
	host->max_channel = 0;
	host->max_cmd_len = 16;
	host->nr_hw_queues = limits->nr_hw_queues;
	host->can_queue = limits->can_queue;
	host->cmd_per_lun = min_t(int, host->cmd_per_lun, limits->can_queue);
	host->max_sectors = limits->max_sectors;
	host->sg_tablesize = limits->sg_tablesize;
	ret = scsi_add_host(host, parent);
	if (ret)
		return ret;
	scsi_scan_host(host);
	return 0;
}

/* Stops the hot-plug work and removes the host's devices; no command is queued after. */
void rhv_storvsc_host_remove(struct Scsi_Host *host)
{
	struct rhv_storvsc_hostdata *hd = hostdata(host);
	unsigned long flags;

	spin_lock_irqsave(&hd->lock, flags);
	hd->removing = true;
	spin_unlock_irqrestore(&hd->lock, flags);
	cancel_work_sync(&hd->scan_work);
	flush_workqueue(hd->lun_wq);
	scsi_remove_host(host);
}

void rhv_storvsc_host_put(struct Scsi_Host *host)
{
	destroy_workqueue(hostdata(host)->lun_wq);
	scsi_host_put(host);
}

u32 rhv_storvsc_host_no(struct Scsi_Host *host)
{
	return host->host_no;
}

struct scsi_cmnd *rhv_storvsc_find_cmd(struct Scsi_Host *host, u32 unique_tag)
{
	/* Bounds-checked: NULL for a queue or tag that does not exist or is not started. */
	return scsi_host_find_tag(host, (int)unique_tag);
}

/* ---- commands ---- */

void rhv_storvsc_cmd_info(struct scsi_cmnd *cmd, struct rhv_storvsc_cmd_info *info)
{
	u32 tag = blk_mq_unique_tag(scsi_cmd_to_rq(cmd));

	memset(info, 0, sizeof(*info));
	info->cdb_len = min_t(u32, cmd->cmd_len, sizeof(info->cdb));
	memcpy(info->cdb, cmd->cmnd, info->cdb_len);
	info->channel = cmd->device->channel;
	info->target = cmd->device->id;
	info->lun = cmd->device->lun;
	switch (cmd->sc_data_direction) {
	case DMA_TO_DEVICE:
		info->direction = 0;
		break;
	case DMA_FROM_DEVICE:
		info->direction = 1;
		break;
	case DMA_NONE:
		info->direction = 2;
		break;
	default:
		info->direction = 3;
		break;
	}
	info->flags = 0;
	if (cmd->device->tagged_supported)
		info->flags |= RHV_STORVSC_CMD_TAGGED;
	if (cmd->flags & SCMD_LAST)
		info->flags |= RHV_STORVSC_CMD_LAST;
	info->hwq = blk_mq_unique_tag_to_hwq(tag);
	info->unique_tag = tag;
	info->length = scsi_bufflen(cmd);
}

/*
 * Describes the command's data as one page range in its private data: returns the number of
 * pages and sets *offset (into the first page), *len and *pfns, or a negative errno if the
 * buffer is not one range of at most RHV_STORVSC_MAX_PFNS pages.
 */
int rhv_storvsc_cmd_map(struct scsi_cmnd *cmd, u32 *offset, u32 *len, const u64 **pfns)
{
	struct rhv_storvsc_cmd_priv *priv = scsi_cmd_priv(cmd);
	struct scatterlist *sg;
	u64 total = 0;
	int n = 0, i;

	*offset = 0;
	*len = 0;
	*pfns = priv->pfns;
	scsi_for_each_sg(cmd, sg, scsi_sg_count(cmd), i) {
		phys_addr_t start = sg_phys(sg);
		phys_addr_t end = start + sg->length;
		u64 pfn;

		if (!sg->length)
			continue;
		if (n == 0)
			*offset = start & (RHV_HV_PAGE_SIZE - 1);
		else if ((start & (RHV_HV_PAGE_SIZE - 1)) ||
			 ((*offset + total) & (RHV_HV_PAGE_SIZE - 1)))
			return -EINVAL;
		for (pfn = start >> RHV_HV_PAGE_SHIFT;
		     pfn < DIV_ROUND_UP_ULL(end, RHV_HV_PAGE_SIZE); pfn++) {
			if (n >= RHV_STORVSC_MAX_PFNS)
				return -E2BIG;
			priv->pfns[n++] = pfn;
		}
		total += sg->length;
	}
	if (total != scsi_bufflen(cmd) || total > U32_MAX)
		return -EINVAL;
	*len = total;
	return n;
}

/* Marks the command as with the host under a new generation (never 0), which it returns. */
u32 rhv_storvsc_cmd_arm(struct scsi_cmnd *cmd)
{
	struct rhv_storvsc_cmd_priv *priv = scsi_cmd_priv(cmd);
	u32 gen = (priv->generation + 1) & 0x7fffffff;

	if (!gen)
		gen = 1;
	priv->generation = gen;
	atomic_set_release(&priv->armed, gen);
	return gen;
}

/* Takes the command back from the host if it is with it under generation; once only. */
bool rhv_storvsc_cmd_disarm(struct scsi_cmnd *cmd, u32 generation)
{
	struct rhv_storvsc_cmd_priv *priv = scsi_cmd_priv(cmd);

	return generation && atomic_cmpxchg(&priv->armed, generation, 0) == generation;
}

static bool rhv_storvsc_count_with_host(struct scsi_cmnd *cmd, void *data)
{
	struct rhv_storvsc_cmd_priv *priv = scsi_cmd_priv(cmd);
	unsigned int *with_host = data;

	if (atomic_read_acquire(&priv->armed))
		(*with_host)++;
	return true;
}

/*
 * Waits until the host has given back every command it was sent (each is completed, or its
 * completion was refused and the command failed), so that no command goes back to the
 * midlayer, and no page of one is reused, while the host may still write into it. Unbounded,
 * as the host's latency is; a warning names the wait every RHV_STORVSC_DRAIN_WARN seconds.
 */
void rhv_storvsc_wait_host_commands(struct Scsi_Host *host)
{
	unsigned long warn_at = jiffies + RHV_STORVSC_DRAIN_WARN * HZ;

	for (;;) {
		unsigned int with_host = 0;

		scsi_host_busy_iter(host, rhv_storvsc_count_with_host, &with_host);
		if (!with_host)
			return;
		if (time_after(jiffies, warn_at)) {
			shost_printk(KERN_WARNING, host,
				     "reset: waiting for %u commands the host has not answered\n",
				     with_host);
			warn_at = jiffies + RHV_STORVSC_DRAIN_WARN * HZ;
		}
		msleep(10);
	}
}

void rhv_storvsc_cmd_complete(struct scsi_cmnd *cmd, u8 host_byte, u8 status, const u8 *sense,
			      u32 sense_len, u32 resid)
{
	cmd->result = 0;
	set_host_byte(cmd, host_byte);
	set_status_byte(cmd, status);
	if (sense && sense_len)
		memcpy(cmd->sense_buffer, sense, min_t(u32, sense_len, SCSI_SENSE_BUFFERSIZE));
	scsi_set_resid(cmd, min_t(u32, resid, scsi_bufflen(cmd)));
	scsi_done(cmd);
}

/* ---- CPUs ---- */

u32 rhv_storvsc_online_cpus(void)
{
	return num_online_cpus();
}

int rhv_storvsc_nth_online_cpu(u32 n)
{
	unsigned int cpu = cpumask_nth(n, cpu_online_mask);

	return cpu < nr_cpu_ids ? cpu : -1;
}
