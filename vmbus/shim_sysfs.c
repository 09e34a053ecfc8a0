// SPDX-License-Identifier: GPL-2.0
/*
 * The sysfs files of rhv_vmbus, laid out as the C driver's (drivers/hv/vmbus_drv.c): the
 * attributes of each device, the files of /sys/bus/vmbus/ and the channels/<relid>/
 * directories. Every value comes from Rust (vmbus/bus.rs, vmbus/channel_sysfs.rs): each
 * attribute carries the number Rust knows it by, and the same Rust function decides which
 * attributes exist. Prototypes: shim.h.
 */
#include <linux/cpu.h>
#include <linux/device.h>
#include <linux/kobject.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <asm/mshyperv.h>

#include "shim.h"

/* ---- device attributes ---- */

/* Numbers shared with vmbus/sysfs.rs (Attribute::ALL), in the C driver's order. */
enum {
	RHV_ATTR_ID,
	RHV_ATTR_STATE,
	RHV_ATTR_MONITOR_ID,
	RHV_ATTR_CLASS_ID,
	RHV_ATTR_DEVICE_ID,
	RHV_ATTR_MODALIAS,
	RHV_ATTR_NUMA_NODE,
	RHV_ATTR_SERVER_MONITOR_PENDING,
	RHV_ATTR_CLIENT_MONITOR_PENDING,
	RHV_ATTR_SERVER_MONITOR_LATENCY,
	RHV_ATTR_CLIENT_MONITOR_LATENCY,
	RHV_ATTR_SERVER_MONITOR_CONN_ID,
	RHV_ATTR_CLIENT_MONITOR_CONN_ID,
	RHV_ATTR_OUT_INTR_MASK,
	RHV_ATTR_OUT_READ_INDEX,
	RHV_ATTR_OUT_WRITE_INDEX,
	RHV_ATTR_OUT_READ_BYTES_AVAIL,
	RHV_ATTR_OUT_WRITE_BYTES_AVAIL,
	RHV_ATTR_IN_INTR_MASK,
	RHV_ATTR_IN_READ_INDEX,
	RHV_ATTR_IN_WRITE_INDEX,
	RHV_ATTR_IN_READ_BYTES_AVAIL,
	RHV_ATTR_IN_WRITE_BYTES_AVAIL,
	RHV_ATTR_CHANNEL_VP_MAPPING,
	RHV_ATTR_VENDOR,
	RHV_ATTR_DEVICE,
};

struct rhv_dev_attribute {
	struct device_attribute attr;
	unsigned int nr;
};

static const void *rhv_dev_ctx(const struct device *dev)
{
	return container_of(dev, struct rhv_vmbus_device, dev)->ctx;
}

static ssize_t rhv_dev_attr_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	const struct rhv_dev_attribute *a = container_of(attr, struct rhv_dev_attribute, attr);

	return rhv_vmbus_dev_show(rhv_dev_ctx(dev), a->nr, buf);
}

#define RHV_DEVICE_ATTR(_name, _nr)                                                        \
	static struct rhv_dev_attribute rhv_dev_attr_##_name = {                           \
		.attr = __ATTR(_name, 0444, rhv_dev_attr_show, NULL),                       \
		.nr = _nr,                                                                 \
	}

RHV_DEVICE_ATTR(id, RHV_ATTR_ID);
RHV_DEVICE_ATTR(state, RHV_ATTR_STATE);
RHV_DEVICE_ATTR(monitor_id, RHV_ATTR_MONITOR_ID);
RHV_DEVICE_ATTR(class_id, RHV_ATTR_CLASS_ID);
RHV_DEVICE_ATTR(device_id, RHV_ATTR_DEVICE_ID);
RHV_DEVICE_ATTR(modalias, RHV_ATTR_MODALIAS);
#ifdef CONFIG_NUMA
RHV_DEVICE_ATTR(numa_node, RHV_ATTR_NUMA_NODE);
#endif
RHV_DEVICE_ATTR(server_monitor_pending, RHV_ATTR_SERVER_MONITOR_PENDING);
RHV_DEVICE_ATTR(client_monitor_pending, RHV_ATTR_CLIENT_MONITOR_PENDING);
RHV_DEVICE_ATTR(server_monitor_latency, RHV_ATTR_SERVER_MONITOR_LATENCY);
RHV_DEVICE_ATTR(client_monitor_latency, RHV_ATTR_CLIENT_MONITOR_LATENCY);
RHV_DEVICE_ATTR(server_monitor_conn_id, RHV_ATTR_SERVER_MONITOR_CONN_ID);
RHV_DEVICE_ATTR(client_monitor_conn_id, RHV_ATTR_CLIENT_MONITOR_CONN_ID);
RHV_DEVICE_ATTR(out_intr_mask, RHV_ATTR_OUT_INTR_MASK);
RHV_DEVICE_ATTR(out_read_index, RHV_ATTR_OUT_READ_INDEX);
RHV_DEVICE_ATTR(out_write_index, RHV_ATTR_OUT_WRITE_INDEX);
RHV_DEVICE_ATTR(out_read_bytes_avail, RHV_ATTR_OUT_READ_BYTES_AVAIL);
RHV_DEVICE_ATTR(out_write_bytes_avail, RHV_ATTR_OUT_WRITE_BYTES_AVAIL);
RHV_DEVICE_ATTR(in_intr_mask, RHV_ATTR_IN_INTR_MASK);
RHV_DEVICE_ATTR(in_read_index, RHV_ATTR_IN_READ_INDEX);
RHV_DEVICE_ATTR(in_write_index, RHV_ATTR_IN_WRITE_INDEX);
RHV_DEVICE_ATTR(in_read_bytes_avail, RHV_ATTR_IN_READ_BYTES_AVAIL);
RHV_DEVICE_ATTR(in_write_bytes_avail, RHV_ATTR_IN_WRITE_BYTES_AVAIL);
RHV_DEVICE_ATTR(channel_vp_mapping, RHV_ATTR_CHANNEL_VP_MAPPING);
RHV_DEVICE_ATTR(vendor, RHV_ATTR_VENDOR);
RHV_DEVICE_ATTR(device, RHV_ATTR_DEVICE);

static struct attribute *rhv_dev_attrs[] = {
	&rhv_dev_attr_id.attr.attr,
	&rhv_dev_attr_state.attr.attr,
	&rhv_dev_attr_monitor_id.attr.attr,
	&rhv_dev_attr_class_id.attr.attr,
	&rhv_dev_attr_device_id.attr.attr,
	&rhv_dev_attr_modalias.attr.attr,
#ifdef CONFIG_NUMA
	&rhv_dev_attr_numa_node.attr.attr,
#endif
	&rhv_dev_attr_server_monitor_pending.attr.attr,
	&rhv_dev_attr_client_monitor_pending.attr.attr,
	&rhv_dev_attr_server_monitor_latency.attr.attr,
	&rhv_dev_attr_client_monitor_latency.attr.attr,
	&rhv_dev_attr_server_monitor_conn_id.attr.attr,
	&rhv_dev_attr_client_monitor_conn_id.attr.attr,
	&rhv_dev_attr_out_intr_mask.attr.attr,
	&rhv_dev_attr_out_read_index.attr.attr,
	&rhv_dev_attr_out_write_index.attr.attr,
	&rhv_dev_attr_out_read_bytes_avail.attr.attr,
	&rhv_dev_attr_out_write_bytes_avail.attr.attr,
	&rhv_dev_attr_in_intr_mask.attr.attr,
	&rhv_dev_attr_in_read_index.attr.attr,
	&rhv_dev_attr_in_write_index.attr.attr,
	&rhv_dev_attr_in_read_bytes_avail.attr.attr,
	&rhv_dev_attr_in_write_bytes_avail.attr.attr,
	&rhv_dev_attr_channel_vp_mapping.attr.attr,
	&rhv_dev_attr_vendor.attr.attr,
	&rhv_dev_attr_device.attr.attr,
	NULL,
};

static umode_t rhv_dev_attr_is_visible(struct kobject *kobj, struct attribute *attr, int idx)
{
	const struct rhv_dev_attribute *a =
		container_of(attr, struct rhv_dev_attribute, attr.attr);

	return rhv_vmbus_dev_visible(rhv_dev_ctx(kobj_to_dev(kobj)), a->nr) ? attr->mode : 0;
}

static const struct attribute_group rhv_dev_group = {
	.attrs = rhv_dev_attrs,
	.is_visible = rhv_dev_attr_is_visible,
};

const struct attribute_group *rhv_dev_groups[] = {
	&rhv_dev_group,
	NULL,
};

/* ---- /sys/bus/vmbus/ ---- */

/* As the C driver: whether the VM can hibernate (ACPI S4 and not the root partition). */
static ssize_t hibernation_show(const struct bus_type *bus, char *buf)
{
	return sysfs_emit(buf, "%d\n", !!hv_is_hibernation_supported());
}
static BUS_ATTR_RO(hibernation);

#define RHV_BUS_COUNTER(_name, _nr)                                                        \
	static ssize_t _name##_show(const struct bus_type *bus, char *buf)                  \
	{                                                                                   \
		return sysfs_emit(buf, "%llu\n", rhv_vmbus_counter(_nr));                    \
	}                                                                                   \
	static BUS_ATTR_RO(_name)

RHV_BUS_COUNTER(leaked_gpadl_pages, RHV_COUNTER_LEAKED_GPADL_PAGES);
RHV_BUS_COUNTER(bad_channel_messages, RHV_COUNTER_BAD_CHANNEL_MESSAGES);
RHV_BUS_COUNTER(dropped_channel_messages, RHV_COUNTER_DROPPED_CHANNEL_MESSAGES);

static struct attribute *rhv_bus_attrs[] = {
	&bus_attr_hibernation.attr,
	&bus_attr_leaked_gpadl_pages.attr,
	&bus_attr_bad_channel_messages.attr,
	&bus_attr_dropped_channel_messages.attr,
	NULL,
};

static const struct attribute_group rhv_bus_group = {
	.attrs = rhv_bus_attrs,
};

const struct attribute_group *rhv_bus_groups[] = {
	&rhv_bus_group,
	NULL,
};

/* ---- channels/<relid>/ of a device, as the C driver has them ---- */

struct rhv_channel_dir {
	struct kobject kobj;
	void *ctx;
};

/* Numbers shared with vmbus/channel_sysfs.rs (ChannelAttribute::ALL), in the C driver's order. */
enum {
	RHV_CHAN_ATTR_OUT_MASK,
	RHV_CHAN_ATTR_IN_MASK,
	RHV_CHAN_ATTR_READ_AVAIL,
	RHV_CHAN_ATTR_WRITE_AVAIL,
	RHV_CHAN_ATTR_CPU,
	RHV_CHAN_ATTR_PENDING,
	RHV_CHAN_ATTR_LATENCY,
	RHV_CHAN_ATTR_INTERRUPTS,
	RHV_CHAN_ATTR_EVENTS,
	RHV_CHAN_ATTR_INTR_IN_FULL,
	RHV_CHAN_ATTR_INTR_OUT_EMPTY,
	RHV_CHAN_ATTR_OUT_FULL_FIRST,
	RHV_CHAN_ATTR_OUT_FULL_TOTAL,
	RHV_CHAN_ATTR_MONITOR_ID,
	RHV_CHAN_ATTR_SUBCHANNEL_ID,
};

struct rhv_chan_attribute {
	struct attribute attr;
	unsigned int nr;
};

#define RHV_CHAN_ATTR(_name, _mode, _nr)                                                   \
	static struct rhv_chan_attribute rhv_chan_attr_##_name = {                         \
		.attr = { .name = __stringify(_name), .mode = _mode },                     \
		.nr = _nr,                                                                 \
	}

RHV_CHAN_ATTR(out_mask, 0444, RHV_CHAN_ATTR_OUT_MASK);
RHV_CHAN_ATTR(in_mask, 0444, RHV_CHAN_ATTR_IN_MASK);
RHV_CHAN_ATTR(read_avail, 0444, RHV_CHAN_ATTR_READ_AVAIL);
RHV_CHAN_ATTR(write_avail, 0444, RHV_CHAN_ATTR_WRITE_AVAIL);
RHV_CHAN_ATTR(cpu, 0644, RHV_CHAN_ATTR_CPU);
RHV_CHAN_ATTR(pending, 0444, RHV_CHAN_ATTR_PENDING);
RHV_CHAN_ATTR(latency, 0444, RHV_CHAN_ATTR_LATENCY);
RHV_CHAN_ATTR(interrupts, 0444, RHV_CHAN_ATTR_INTERRUPTS);
RHV_CHAN_ATTR(events, 0444, RHV_CHAN_ATTR_EVENTS);
RHV_CHAN_ATTR(intr_in_full, 0444, RHV_CHAN_ATTR_INTR_IN_FULL);
RHV_CHAN_ATTR(intr_out_empty, 0444, RHV_CHAN_ATTR_INTR_OUT_EMPTY);
RHV_CHAN_ATTR(out_full_first, 0444, RHV_CHAN_ATTR_OUT_FULL_FIRST);
RHV_CHAN_ATTR(out_full_total, 0444, RHV_CHAN_ATTR_OUT_FULL_TOTAL);
RHV_CHAN_ATTR(monitor_id, 0444, RHV_CHAN_ATTR_MONITOR_ID);
RHV_CHAN_ATTR(subchannel_id, 0444, RHV_CHAN_ATTR_SUBCHANNEL_ID);

static struct attribute *rhv_chan_attrs[] = {
	&rhv_chan_attr_out_mask.attr,
	&rhv_chan_attr_in_mask.attr,
	&rhv_chan_attr_read_avail.attr,
	&rhv_chan_attr_write_avail.attr,
	&rhv_chan_attr_cpu.attr,
	&rhv_chan_attr_pending.attr,
	&rhv_chan_attr_latency.attr,
	&rhv_chan_attr_interrupts.attr,
	&rhv_chan_attr_events.attr,
	&rhv_chan_attr_intr_in_full.attr,
	&rhv_chan_attr_intr_out_empty.attr,
	&rhv_chan_attr_out_full_first.attr,
	&rhv_chan_attr_out_full_total.attr,
	&rhv_chan_attr_monitor_id.attr,
	&rhv_chan_attr_subchannel_id.attr,
	NULL,
};

static umode_t rhv_chan_attr_is_visible(struct kobject *kobj, struct attribute *attr, int idx)
{
	struct rhv_channel_dir *c = container_of(kobj, struct rhv_channel_dir, kobj);
	struct rhv_chan_attribute *a = container_of(attr, struct rhv_chan_attribute, attr);

	return rhv_vmbus_chan_visible(c->ctx, a->nr) ? attr->mode : 0;
}

static const struct attribute_group rhv_chan_group = {
	.attrs = rhv_chan_attrs,
	.is_visible = rhv_chan_attr_is_visible,
};
__ATTRIBUTE_GROUPS(rhv_chan);

static ssize_t rhv_chan_attr_show(struct kobject *kobj, struct attribute *attr, char *buf)
{
	struct rhv_channel_dir *c = container_of(kobj, struct rhv_channel_dir, kobj);
	struct rhv_chan_attribute *a = container_of(attr, struct rhv_chan_attribute, attr);

	return rhv_vmbus_chan_show(c->ctx, a->nr, buf);
}

static ssize_t rhv_chan_attr_store(struct kobject *kobj, struct attribute *attr,
				   const char *buf, size_t count)
{
	struct rhv_channel_dir *c = container_of(kobj, struct rhv_channel_dir, kobj);
	struct rhv_chan_attribute *a = container_of(attr, struct rhv_chan_attribute, attr);
	ssize_t ret;

	/* Moving a channel must not race with a CPU going offline (as the C driver). */
	cpus_read_lock();
	ret = rhv_vmbus_chan_store(c->ctx, a->nr, buf, count);
	cpus_read_unlock();
	return ret;
}

static const struct sysfs_ops rhv_chan_sysfs_ops = {
	.show = rhv_chan_attr_show,
	.store = rhv_chan_attr_store,
};

static void rhv_chan_release(struct kobject *kobj)
{
	struct rhv_channel_dir *c = container_of(kobj, struct rhv_channel_dir, kobj);

	rhv_vmbus_chan_release(c->ctx);
	kfree(c);
}

static const struct kobj_type rhv_chan_ktype = {
	.sysfs_ops = &rhv_chan_sysfs_ops,
	.release = rhv_chan_release,
	.default_groups = rhv_chan_groups,
};

/*
 * Adds channels/<@relid>/ under device @d and stores it in *@out. As for
 * rhv_device_register(), once *@ctx_taken is true the directory owns @ctx and hands it to
 * rhv_vmbus_chan_release() when it goes, also when adding fails.
 */
int rhv_channel_dir_add(struct rhv_vmbus_device *d, void *ctx, u32 relid,
			struct rhv_channel_dir **out, bool *ctx_taken)
{
	struct rhv_channel_dir *c;
	int ret;

	*ctx_taken = false;
	if (!d->channels)
		return -ENODEV;
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	c->ctx = ctx;
	*ctx_taken = true;
	ret = kobject_init_and_add(&c->kobj, &rhv_chan_ktype, d->channels, "%u", relid);
	if (ret) {
		kobject_put(&c->kobj);
		return ret;
	}
	kobject_uevent(&c->kobj, KOBJ_ADD);
	*out = c;
	return 0;
}

void rhv_channel_dir_remove(struct rhv_channel_dir *c)
{
	kobject_del(&c->kobj);
	kobject_put(&c->kobj);
}
