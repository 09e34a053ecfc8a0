// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of rhv_vmbus's platform layer: what Rust cannot reach directly because the kernel
 * provides it as an inline function, a macro, a static call or a structure with function
 * pointers. Each function here does one such thing and calls back into Rust (the rhv_vmbus_*
 * functions defined in vmbus/platform/ and vmbus/bus.rs) with the opaque context it was given.
 * Prototypes: shim.h; declarations for Rust: vmbus/platform/bindings.rs.
 */
#include <linux/cpuhotplug.h>
#include <linux/device.h>
#include <linux/bottom_half.h>
#include <linux/gfp.h>
#include <linux/hardirq.h>
#include <linux/irqflags.h>
#include <linux/io.h>
#include <linux/mod_devicetable.h>
#include <linux/ratelimit.h>
#include <linux/rcupdate.h>
#include <linux/reboot.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/topology.h>
#include <asm/irq_vectors.h>
#include <asm/mshyperv.h>
#include <hyperv/hvgdk_mini.h>

#include "shim.h"

/* Rust drifts from the kernel's numbers only with a build failure. */
static_assert(HV_MSR_SCONTROL == 0x40000080);
static_assert(HV_MSR_SIEFP == 0x40000082);
static_assert(HV_MSR_SIMP == 0x40000083);
static_assert(HV_MSR_EOM == 0x40000084);
static_assert(HV_MSR_SINT0 == 0x40000090);
static_assert(HV_MESSAGE_PAYLOAD_BYTE_COUNT == 240);

/* ---- Hyper-V platform ---- */

/* HvPostMessage input (TLFS "HvPostMessage"); the kernel keeps its copy private. */
struct rhv_post_message_input {
	u32 connection_id;
	u32 reserved;
	u32 message_type;
	u32 payload_size;
	u8 payload[HV_MESSAGE_PAYLOAD_BYTE_COUNT];
} __packed;

/* Posts one message through this CPU's hypercall input page; returns the HV status. */
u16 rhv_hv_post_message(u32 connection_id, u32 message_type, const void *payload, u32 size)
{
	struct rhv_post_message_input *input;
	unsigned long flags;
	u64 status;

	if (size > HV_MESSAGE_PAYLOAD_BYTE_COUNT)
		return HV_STATUS_INVALID_PARAMETER;

	local_irq_save(flags);
	input = *this_cpu_ptr(hyperv_pcpu_input_arg);
	if (!input) {
		local_irq_restore(flags);
		return HV_STATUS_INVALID_PARAMETER;
	}
	input->connection_id = connection_id;
	input->reserved = 0;
	input->message_type = message_type;
	input->payload_size = size;
	memcpy(input->payload, payload, size);
	status = hv_do_hypercall(HVCALL_POST_MESSAGE | (hv_nested ? HV_HYPERCALL_NESTED : 0),
				 input, NULL);
	local_irq_restore(flags);
	return hv_result(status);
}

/* HvSignalEvent, a fast hypercall: the connection id is the only input. */
u16 rhv_hv_signal_event(u32 connection_id)
{
	return hv_result(hv_do_fast_hypercall8(HVCALL_SIGNAL_EVENT, connection_id));
}

bool rhv_hv_input_pages_ready(void)
{
	return hyperv_pcpu_input_arg != NULL;
}

u32 rhv_hv_vp_index(unsigned int cpu)
{
	return hv_cpu_number_to_vp_number(cpu);
}

u8 rhv_hv_vtl(void)
{
	return ms_hyperv.vtl;
}

bool rhv_hv_use_auto_eoi(void)
{
	return hv_recommend_using_aeoi();
}

u8 rhv_hv_callback_vector(void)
{
	return HYPERVISOR_CALLBACK_VECTOR;
}

int rhv_cpu_to_node(unsigned int cpu)
{
	return cpu_to_node(cpu);
}

bool rhv_cpu_is_online(unsigned int cpu)
{
	return cpu_online(cpu);
}

/* ---- pages shared with the host ---- */

void *rhv_page_alloc(void)
{
	return (void *)get_zeroed_page(GFP_KERNEL);
}

void rhv_page_free(void *page)
{
	free_page((unsigned long)page);
}

u64 rhv_virt_to_phys(const void *addr)
{
	return virt_to_phys((void *)addr);
}

/* ---- interrupt, CPU hotplug and reboot hooks: one context each ---- */

static void *rhv_isr_ctx;

static void rhv_isr_trampoline(void)
{
	rhv_vmbus_isr(READ_ONCE(rhv_isr_ctx));
}

void rhv_isr_install(void *ctx)
{
	WRITE_ONCE(rhv_isr_ctx, ctx);
	hv_setup_vmbus_handler(rhv_isr_trampoline);
}

/* After this returns no CPU runs the handler any more. */
void rhv_isr_remove(void)
{
	hv_remove_vmbus_handler();
	/* The handler runs with interrupts off: an RCU grace period waits for it. */
	synchronize_rcu();
	WRITE_ONCE(rhv_isr_ctx, NULL);
}

static void *rhv_cpuhp_ctx;

static int rhv_cpu_online(unsigned int cpu)
{
	return rhv_vmbus_cpu_online(rhv_cpuhp_ctx, cpu);
}

static int rhv_cpu_offline(unsigned int cpu)
{
	return rhv_vmbus_cpu_offline(rhv_cpuhp_ctx, cpu);
}

/* Runs the online callback on every online CPU; returns the dynamic state or an error. */
int rhv_cpuhp_setup(void *ctx)
{
	rhv_cpuhp_ctx = ctx;
	return cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "rhv_vmbus:online", rhv_cpu_online,
				 rhv_cpu_offline);
}

/* Runs the offline callback on every online CPU. */
void rhv_cpuhp_remove(int state)
{
	cpuhp_remove_state(state);
	rhv_cpuhp_ctx = NULL;
}

static void *rhv_reboot_ctx;

static int rhv_reboot_trampoline(struct notifier_block *nb, unsigned long code, void *unused)
{
	rhv_vmbus_reboot(rhv_reboot_ctx, code == SYS_RESTART);
	return NOTIFY_DONE;
}

static struct notifier_block rhv_reboot_nb = {
	.notifier_call = rhv_reboot_trampoline,
};

int rhv_reboot_notifier_register(void *ctx)
{
	rhv_reboot_ctx = ctx;
	return register_reboot_notifier(&rhv_reboot_nb);
}

void rhv_reboot_notifier_unregister(void)
{
	unregister_reboot_notifier(&rhv_reboot_nb);
	rhv_reboot_ctx = NULL;
}

/* One limit for all complaints about what the host sends. */
static DEFINE_RATELIMIT_STATE(rhv_host_complaints, 5 * HZ, 10);

bool rhv_ratelimit(void)
{
	return __ratelimit(&rhv_host_complaints);
}

/* ---- running a channel's bottom half from the sender's context ---- */

/* Whether local_bh_disable()/local_bh_enable() may be used here. */
bool rhv_bh_usable(void)
{
	return !in_hardirq() && !in_nmi() && !irqs_disabled();
}

void rhv_bh_disable(void)
{
	local_bh_disable();
}

/* Runs the softirqs raised meanwhile, here, unless called inside one. */
void rhv_bh_enable(void)
{
	local_bh_enable();
}

/* ---- the vmbus bus ---- */

/* struct rhv_vmbus_driver (shim.h) matches on this layout from Rust's vmbus::DeviceId. */
static_assert(sizeof(struct hv_vmbus_device_id) == 24);
static_assert(offsetof(struct hv_vmbus_device_id, driver_data) == 16);

struct rhv_vmbus_device {
	struct device dev;
	void *ctx;
	/* The device class, for matching. */
	guid_t class;
	/* What the bound driver's probe returned; handed back to its remove. */
	void *drvdata;
	/* The "channels" directory, parent of one directory per channel of the device. */
	struct kobject *channels;
};

/* Rust turns a struct rhv_vmbus_device pointer into its struct device by a cast. */
static_assert(offsetof(struct rhv_vmbus_device, dev) == 0);

static const void *rhv_dev_ctx(const struct device *dev)
{
	return container_of(dev, struct rhv_vmbus_device, dev)->ctx;
}

/* Attribute numbers shared with vmbus/bus.rs (enum Attribute). */
enum {
	RHV_ATTR_ID,
	RHV_ATTR_STATE,
	RHV_ATTR_MONITOR_ID,
	RHV_ATTR_CLASS_ID,
	RHV_ATTR_DEVICE_ID,
	RHV_ATTR_MODALIAS,
	RHV_ATTR_NUMA_NODE,
	RHV_ATTR_VENDOR,
	RHV_ATTR_DEVICE,
};

#define RHV_DEVICE_ATTR(_name, _nr)                                                        \
	static ssize_t _name##_show(struct device *dev, struct device_attribute *attr,      \
				    char *buf)                                             \
	{                                                                                  \
		return rhv_vmbus_dev_show(rhv_dev_ctx(dev), _nr, buf);                     \
	}                                                                                  \
	static DEVICE_ATTR_RO(_name)

RHV_DEVICE_ATTR(id, RHV_ATTR_ID);
RHV_DEVICE_ATTR(state, RHV_ATTR_STATE);
RHV_DEVICE_ATTR(monitor_id, RHV_ATTR_MONITOR_ID);
RHV_DEVICE_ATTR(class_id, RHV_ATTR_CLASS_ID);
RHV_DEVICE_ATTR(device_id, RHV_ATTR_DEVICE_ID);
RHV_DEVICE_ATTR(modalias, RHV_ATTR_MODALIAS);
#ifdef CONFIG_NUMA
RHV_DEVICE_ATTR(numa_node, RHV_ATTR_NUMA_NODE);
#endif
RHV_DEVICE_ATTR(vendor, RHV_ATTR_VENDOR);
RHV_DEVICE_ATTR(device, RHV_ATTR_DEVICE);

static struct attribute *rhv_dev_attrs[] = {
	&dev_attr_id.attr,
	&dev_attr_state.attr,
	&dev_attr_monitor_id.attr,
	&dev_attr_class_id.attr,
	&dev_attr_device_id.attr,
	&dev_attr_modalias.attr,
#ifdef CONFIG_NUMA
	&dev_attr_numa_node.attr,
#endif
	&dev_attr_vendor.attr,
	&dev_attr_device.attr,
	NULL,
};

static umode_t rhv_dev_attr_is_visible(struct kobject *kobj, struct attribute *attr, int idx)
{
	const void *ctx = rhv_dev_ctx(kobj_to_dev(kobj));

	if (attr == &dev_attr_monitor_id.attr &&
	    !rhv_vmbus_dev_visible(ctx, RHV_ATTR_MONITOR_ID))
		return 0;
	return attr->mode;
}

static const struct attribute_group rhv_dev_group = {
	.attrs = rhv_dev_attrs,
	.is_visible = rhv_dev_attr_is_visible,
};
__ATTRIBUTE_GROUPS(rhv_dev);

static int rhv_bus_uevent(const struct device *dev, struct kobj_uevent_env *env)
{
	return rhv_vmbus_dev_uevent(rhv_dev_ctx(dev), env);
}

static const struct hv_vmbus_device_id *rhv_match_id(const struct rhv_vmbus_driver *drv,
						     const guid_t *class)
{
	const struct hv_vmbus_device_id *id;

	/* The table ends with an all-zero entry, like the C drivers' tables. */
	for (id = drv->id_table; id && !guid_is_null(&id->guid); id++) {
		if (guid_equal(&id->guid, class))
			return id;
	}
	return NULL;
}

static int rhv_bus_match(struct device *dev, const struct device_driver *drv)
{
	const struct rhv_vmbus_driver *d = container_of(drv, struct rhv_vmbus_driver, driver);

	return rhv_match_id(d, &container_of(dev, struct rhv_vmbus_device, dev)->class) != NULL;
}

static int rhv_bus_probe(struct device *dev)
{
	struct rhv_vmbus_device *d = container_of(dev, struct rhv_vmbus_device, dev);
	struct rhv_vmbus_driver *drv = container_of(dev->driver, struct rhv_vmbus_driver, driver);
	const struct hv_vmbus_device_id *id = rhv_match_id(drv, &d->class);
	void *drvdata = NULL;
	int ret;

	if (!id)
		return -ENODEV;
	ret = drv->probe(d, d->ctx, id, &drvdata);
	if (!ret)
		d->drvdata = drvdata;
	return ret;
}

static void rhv_bus_remove(struct device *dev)
{
	struct rhv_vmbus_device *d = container_of(dev, struct rhv_vmbus_device, dev);
	struct rhv_vmbus_driver *drv = container_of(dev->driver, struct rhv_vmbus_driver, driver);

	drv->remove(d, d->ctx, d->drvdata);
	d->drvdata = NULL;
}

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
	&bus_attr_leaked_gpadl_pages.attr,
	&bus_attr_bad_channel_messages.attr,
	&bus_attr_dropped_channel_messages.attr,
	NULL,
};
ATTRIBUTE_GROUPS(rhv_bus);

static const struct bus_type rhv_vmbus_bus = {
	.name = "vmbus",
	.match = rhv_bus_match,
	.probe = rhv_bus_probe,
	.remove = rhv_bus_remove,
	.uevent = rhv_bus_uevent,
	.dev_groups = rhv_dev_groups,
	.bus_groups = rhv_bus_groups,
};

int rhv_driver_register(struct rhv_vmbus_driver *drv, const char *name, struct module *owner)
{
	drv->driver.name = name;
	drv->driver.owner = owner;
	drv->driver.mod_name = name;
	drv->driver.bus = &rhv_vmbus_bus;
	return driver_register(&drv->driver);
}

void rhv_driver_unregister(struct rhv_vmbus_driver *drv)
{
	driver_unregister(&drv->driver);
}

int rhv_bus_register(void)
{
	return bus_register(&rhv_vmbus_bus);
}

void rhv_bus_unregister(void)
{
	bus_unregister(&rhv_vmbus_bus);
}

static void rhv_device_release(struct device *dev)
{
	struct rhv_vmbus_device *d = container_of(dev, struct rhv_vmbus_device, dev);

	rhv_vmbus_dev_release(d->ctx);
	kfree(d);
}

/*
 * Registers a device named @name on the bus and stores it in *@out. From the moment
 * *@ctx_taken is true the device owns @ctx and hands it to rhv_vmbus_dev_release() when its
 * last reference goes, also when registration fails; if the allocation fails, @ctx stays
 * the caller's.
 */
int rhv_device_register(void *ctx, const char *name, const u8 *class,
			struct rhv_vmbus_device **out, bool *ctx_taken)
{
	struct rhv_vmbus_device *d;
	int ret;

	*ctx_taken = false;
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->ctx = ctx;
	memcpy(&d->class, class, sizeof(d->class));
	d->dev.bus = &rhv_vmbus_bus;
	d->dev.release = rhv_device_release;
	device_initialize(&d->dev);
	*ctx_taken = true;
	ret = dev_set_name(&d->dev, "%s", name);
	if (!ret)
		ret = device_add(&d->dev);
	if (!ret) {
		d->channels = kobject_create_and_add("channels", &d->dev.kobj);
		if (!d->channels) {
			device_del(&d->dev);
			ret = -ENOMEM;
		}
	}
	if (ret) {
		put_device(&d->dev);
		return ret;
	}
	*out = d;
	return 0;
}

void rhv_device_unregister(struct rhv_vmbus_device *d)
{
	kobject_put(d->channels);
	d->channels = NULL;
	device_unregister(&d->dev);
}

/* ---- channels/<relid>/ of a device, as the C driver has them ---- */

struct rhv_channel_dir {
	struct kobject kobj;
	void *ctx;
};

/* Channel attribute numbers shared with vmbus/channel_sysfs.rs (enum ChannelAttribute). */
enum {
	RHV_CHAN_ATTR_CPU,
	RHV_CHAN_ATTR_SUBCHANNEL_ID,
	RHV_CHAN_ATTR_MONITOR_ID,
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

RHV_CHAN_ATTR(cpu, 0644, RHV_CHAN_ATTR_CPU);
RHV_CHAN_ATTR(subchannel_id, 0444, RHV_CHAN_ATTR_SUBCHANNEL_ID);
RHV_CHAN_ATTR(monitor_id, 0444, RHV_CHAN_ATTR_MONITOR_ID);

static struct attribute *rhv_chan_attrs[] = {
	&rhv_chan_attr_cpu.attr,
	&rhv_chan_attr_subchannel_id.attr,
	&rhv_chan_attr_monitor_id.attr,
	NULL,
};
ATTRIBUTE_GROUPS(rhv_chan);

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

unsigned int rhv_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}
