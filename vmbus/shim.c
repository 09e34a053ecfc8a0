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

/* Rust turns a struct rhv_vmbus_device pointer into its struct device by a cast. */
static_assert(offsetof(struct rhv_vmbus_device, dev) == 0);

static int rhv_bus_uevent(const struct device *dev, struct kobj_uevent_env *env)
{
	return rhv_vmbus_dev_uevent(container_of(dev, struct rhv_vmbus_device, dev)->ctx, env);
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

/*
 * As the C bus: a device whose driver_override is set binds only to the driver of that name,
 * and then also when the driver's id table does not list the device's class.
 */
static int rhv_bus_match(struct device *dev, const struct device_driver *drv)
{
	const struct rhv_vmbus_driver *d = container_of(drv, struct rhv_vmbus_driver, driver);
	int override = device_match_driver_override(dev, drv);

	if (override == 0)
		return 0;
	if (rhv_match_id(d, &container_of(dev, struct rhv_vmbus_device, dev)->class))
		return 1;
	return override > 0;
}

static int rhv_bus_probe(struct device *dev)
{
	struct rhv_vmbus_device *d = container_of(dev, struct rhv_vmbus_device, dev);
	struct rhv_vmbus_driver *drv = container_of(dev->driver, struct rhv_vmbus_driver, driver);
	const struct hv_vmbus_device_id *id = rhv_match_id(drv, &d->class);
	void *drvdata = NULL;
	int ret;

	if (!id) {
		/* Bound by driver_override alone: our drivers need their id table's entry. */
		dev_warn(dev, "%s has no id for this device class; driver_override cannot bind it\n",
			 drv->driver.name);
		return -ENODEV;
	}
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

static const struct bus_type rhv_vmbus_bus = {
	.name = "vmbus",
	/* The driver core adds driver_override (0644) and keeps it; match honours it. */
	.driver_override = true,
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

unsigned int rhv_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}
