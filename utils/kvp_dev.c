// SPDX-License-Identifier: GPL-2.0
/*
 * The character device /dev/vmbus/hv_kvp through which the guest's KVP daemon (tools/hv's
 * hv_kvp_daemon) talks to rhv_utils: the daemon writes and reads whole `struct hv_kvp_msg`
 * (include/uapi/linux/hyperv.h) records, one message in each direction at a time, as with the
 * character-device mode of the C driver's hv_utils_transport. This file only moves bytes and
 * runs the callbacks; what the messages mean is Rust (utils/kvp.rs). Declarations for Rust:
 * utils/kvp_transport.rs.
 *
 * Lifetimes: the transport state is static (one KVP device per guest, like the C driver). An
 * open file pins the module through fops.owner, so rmmod refuses while the daemon runs; a
 * device that goes away (unbind, rescind) with the daemon attached does not wait for it:
 * the file goes stale (read/write fail with EBADF, poll reports an error) and the daemon
 * reopens, as it does after any failed read.
 */
#include <linux/errno.h>
#include <linux/fs.h>
#include <linux/hyperv.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "shim.h"

static_assert(sizeof(struct hv_kvp_msg) == RHV_KVP_MSG_SIZE);

/* Serialises the Rust callbacks and guards `ctx`: cleared under it when the device stops. */
static DEFINE_MUTEX(kvp_entry_lock);
static void *kvp_ctx;

/* Guards the outbox and the session state; taken from softirq context too. */
static DEFINE_SPINLOCK(kvp_lock);
static u8 kvp_outbox[RHV_KVP_MSG_SIZE];
static size_t kvp_outbox_len;
/* The device is registered and not stopping. */
static bool kvp_alive;
/* A file is open on the current session (`kvp_session`). */
static bool kvp_open;
/* Bumped by each start: a file of an older session is stale. */
static unsigned long kvp_session;

static DECLARE_WAIT_QUEUE_HEAD(kvp_readers);

static void kvp_timeout_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(kvp_timeout, kvp_timeout_fn);

static bool kvp_stale_locked(struct file *file)
{
	return !kvp_alive || (unsigned long)file->private_data != kvp_session;
}

static bool kvp_stale(struct file *file)
{
	unsigned long flags;
	bool ret;

	spin_lock_irqsave(&kvp_lock, flags);
	ret = kvp_stale_locked(file);
	spin_unlock_irqrestore(&kvp_lock, flags);
	return ret;
}

static void kvp_timeout_fn(struct work_struct *work)
{
	mutex_lock(&kvp_entry_lock);
	if (kvp_ctx)
		rhv_utils_kvp_timeout(kvp_ctx);
	mutex_unlock(&kvp_entry_lock);
}

static int kvp_op_open(struct inode *inode, struct file *file)
{
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&kvp_lock, flags);
	if (!kvp_alive) {
		ret = -ENODEV;
	} else if (kvp_open) {
		/* One daemon at a time, like the C driver. */
		ret = -EBUSY;
	} else {
		kvp_open = true;
		kvp_outbox_len = 0;
		file->private_data = (void *)kvp_session;
	}
	spin_unlock_irqrestore(&kvp_lock, flags);
	return ret ? ret : nonseekable_open(inode, file);
}

static int kvp_op_release(struct inode *inode, struct file *file)
{
	unsigned long flags;

	/*
	 * The daemon is reported gone before the device can be opened again, so that a new
	 * daemon's registration never meets the old daemon's state.
	 */
	mutex_lock(&kvp_entry_lock);
	if (kvp_ctx && !kvp_stale(file))
		rhv_utils_kvp_daemon_gone(kvp_ctx);
	spin_lock_irqsave(&kvp_lock, flags);
	if ((unsigned long)file->private_data == kvp_session) {
		kvp_open = false;
		kvp_outbox_len = 0;
	}
	spin_unlock_irqrestore(&kvp_lock, flags);
	mutex_unlock(&kvp_entry_lock);
	return 0;
}

static bool kvp_readable(struct file *file)
{
	unsigned long flags;
	bool ret;

	spin_lock_irqsave(&kvp_lock, flags);
	ret = kvp_stale_locked(file) || kvp_outbox_len > 0;
	spin_unlock_irqrestore(&kvp_lock, flags);
	return ret;
}

static ssize_t kvp_op_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	unsigned long flags;
	size_t len;
	u8 *msg;
	int ret;

	if (count < RHV_KVP_MSG_SIZE)
		return -EINVAL;
	ret = wait_event_interruptible(kvp_readers, kvp_readable(file));
	if (ret)
		return -EINTR;
	msg = kmalloc(RHV_KVP_MSG_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	spin_lock_irqsave(&kvp_lock, flags);
	if (kvp_stale_locked(file)) {
		len = 0;
		ret = -EBADF;
	} else {
		len = kvp_outbox_len;
		memcpy(msg, kvp_outbox, len);
		kvp_outbox_len = 0;
	}
	spin_unlock_irqrestore(&kvp_lock, flags);

	if (!ret && !len)
		ret = -EAGAIN;
	if (!ret && copy_to_user(buf, msg, len))
		ret = -EFAULT;
	kfree(msg);
	if (ret)
		return ret;

	mutex_lock(&kvp_entry_lock);
	if (kvp_ctx)
		rhv_utils_kvp_daemon_read(kvp_ctx);
	mutex_unlock(&kvp_entry_lock);
	return len;
}

static ssize_t kvp_op_write(struct file *file, const char __user *buf, size_t count,
			    loff_t *ppos)
{
	u8 *msg;
	int ret;

	/* Shorter than a message: refused, as the C driver does. Extra bytes are ignored. */
	if (count < RHV_KVP_MSG_SIZE)
		return -EINVAL;
	msg = memdup_user(buf, RHV_KVP_MSG_SIZE);
	if (IS_ERR(msg))
		return PTR_ERR(msg);

	mutex_lock(&kvp_entry_lock);
	if (!kvp_ctx || kvp_stale(file))
		ret = -EBADF;
	else
		ret = rhv_utils_kvp_daemon_write(kvp_ctx, msg, RHV_KVP_MSG_SIZE);
	mutex_unlock(&kvp_entry_lock);
	kfree(msg);
	return ret ? ret : count;
}

static __poll_t kvp_op_poll(struct file *file, poll_table *wait)
{
	unsigned long flags;
	__poll_t mask = 0;

	poll_wait(file, &kvp_readers, wait);
	spin_lock_irqsave(&kvp_lock, flags);
	if (kvp_stale_locked(file))
		mask = EPOLLERR | EPOLLHUP;
	else if (kvp_outbox_len > 0)
		mask = EPOLLIN | EPOLLRDNORM;
	spin_unlock_irqrestore(&kvp_lock, flags);
	return mask;
}

static const struct file_operations kvp_fops = {
	.owner = THIS_MODULE,
	.open = kvp_op_open,
	.release = kvp_op_release,
	.read = kvp_op_read,
	.write = kvp_op_write,
	.poll = kvp_op_poll,
	.llseek = noop_llseek,
};

static struct miscdevice kvp_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "vmbus/hv_kvp",
	.fops = &kvp_fops,
};

int rhv_utils_kvp_dev_start(void *ctx)
{
	unsigned long flags;
	int ret;

	mutex_lock(&kvp_entry_lock);
	if (kvp_ctx) {
		/* A second KVP device: the node and the daemon serve one. */
		mutex_unlock(&kvp_entry_lock);
		return -EBUSY;
	}
	spin_lock_irqsave(&kvp_lock, flags);
	kvp_session++;
	kvp_alive = true;
	kvp_open = false;
	kvp_outbox_len = 0;
	spin_unlock_irqrestore(&kvp_lock, flags);
	ret = misc_register(&kvp_misc);
	if (ret) {
		spin_lock_irqsave(&kvp_lock, flags);
		kvp_alive = false;
		spin_unlock_irqrestore(&kvp_lock, flags);
	} else {
		kvp_ctx = ctx;
	}
	mutex_unlock(&kvp_entry_lock);
	return ret;
}

/* After this no callback runs, except a timeout queued later: see rhv_utils_kvp_dev_quiesce(). */
void rhv_utils_kvp_dev_stop(void)
{
	unsigned long flags;

	mutex_lock(&kvp_entry_lock);
	kvp_ctx = NULL;
	mutex_unlock(&kvp_entry_lock);

	spin_lock_irqsave(&kvp_lock, flags);
	kvp_alive = false;
	kvp_open = false;
	kvp_outbox_len = 0;
	spin_unlock_irqrestore(&kvp_lock, flags);
	wake_up_interruptible(&kvp_readers);
	misc_deregister(&kvp_misc);
}

/* Once nothing can arm the timeout any more (the channel is closed). */
void rhv_utils_kvp_dev_quiesce(void)
{
	cancel_delayed_work_sync(&kvp_timeout);
}

/* Queues a message for the daemon; any context. */
int rhv_utils_kvp_dev_send(const u8 *msg, size_t len)
{
	unsigned long flags;
	int ret = 0;

	if (len > RHV_KVP_MSG_SIZE)
		return -EINVAL;
	spin_lock_irqsave(&kvp_lock, flags);
	if (!kvp_alive || !kvp_open)
		ret = -ENODEV;
	else if (kvp_outbox_len)
		ret = -EBUSY;
	else {
		memcpy(kvp_outbox, msg, len);
		kvp_outbox_len = len;
	}
	spin_unlock_irqrestore(&kvp_lock, flags);
	if (!ret)
		wake_up_interruptible(&kvp_readers);
	return ret;
}

/* Drops a message the daemon has not read (its request timed out); any context. */
void rhv_utils_kvp_dev_withdraw(void)
{
	unsigned long flags;

	spin_lock_irqsave(&kvp_lock, flags);
	kvp_outbox_len = 0;
	spin_unlock_irqrestore(&kvp_lock, flags);
}

/* (Re)arms the daemon timeout; any context. */
void rhv_utils_kvp_arm_timeout(unsigned int ms)
{
	mod_delayed_work(system_percpu_wq, &kvp_timeout, msecs_to_jiffies(ms));
}

void rhv_utils_kvp_cancel_timeout(void)
{
	cancel_delayed_work(&kvp_timeout);
}
