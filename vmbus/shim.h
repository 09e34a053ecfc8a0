/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The interface between rhv_vmbus's C shim (shim.c) and its Rust code: functions the shim
 * provides to Rust (declared for Rust in platform/bindings.rs) and the Rust callbacks it calls.
 */
#ifndef RHV_VMBUS_SHIM_H
#define RHV_VMBUS_SHIM_H

#include <linux/device.h>
#include <linux/spinlock_types.h>
#include <linux/types.h>
#include <linux/uuid.h>

/* Provided by shim.c (and, where marked, shim_sysfs.c). */
u16 rhv_hv_post_message(u32 connection_id, u32 message_type, const void *payload, u32 size);
u16 rhv_hv_signal_event(u32 connection_id);
bool rhv_hv_input_pages_ready(void);
u32 rhv_hv_vp_index(unsigned int cpu);
u8 rhv_hv_vtl(void);
bool rhv_hv_use_auto_eoi(void);
u8 rhv_hv_callback_vector(void);
int rhv_cpu_to_node(unsigned int cpu);
bool rhv_cpu_is_online(unsigned int cpu);
void *rhv_page_alloc(void);
void rhv_page_free(void *page);
u64 rhv_virt_to_phys(const void *addr);
void rhv_isr_install(void *ctx);
void rhv_isr_remove(void);
int rhv_cpuhp_setup(void *ctx);
void rhv_cpuhp_remove(int state);
int rhv_reboot_notifier_register(void *ctx);
void rhv_reboot_notifier_unregister(void);
bool rhv_ratelimit(void);
bool rhv_bh_usable(void);
void rhv_bh_disable(void);
void rhv_bh_enable(void);

struct hv_vmbus_device_id;

/* A device on the vmbus bus (opaque to Rust, which only passes pointers to it). */
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


/* The attribute groups of shim_sysfs.c, used by the bus of shim.c. */
extern const struct attribute_group *rhv_dev_groups[];
extern const struct attribute_group *rhv_bus_groups[];

/*
 * A driver on the vmbus bus; laid out identically in Rust (vmbus/driver.rs, RawDriver).
 * @probe gets the matching entry of @id_table and stores its driver data in *drvdata; @remove
 * gets that pointer back.
 */
struct rhv_vmbus_driver {
	struct device_driver driver;
	const struct hv_vmbus_device_id *id_table;
	int (*probe)(struct rhv_vmbus_device *dev, const void *ctx,
		     const struct hv_vmbus_device_id *id, void **drvdata);
	void (*remove)(struct rhv_vmbus_device *dev, const void *ctx, void *drvdata);
};

int rhv_bus_register(void);
void rhv_bus_unregister(void);
int rhv_driver_register(struct rhv_vmbus_driver *drv, const char *name, struct module *owner);
void rhv_driver_unregister(struct rhv_vmbus_driver *drv);
int rhv_device_register(void *ctx, const char *name, const u8 *class,
			struct rhv_vmbus_device **out, bool *ctx_taken);
void rhv_device_unregister(struct rhv_vmbus_device *d);
/* shim_sysfs.c */
struct rhv_channel_dir;
int rhv_channel_dir_add(struct rhv_vmbus_device *d, void *ctx, u32 relid,
			struct rhv_channel_dir **out, bool *ctx_taken);
void rhv_channel_dir_remove(struct rhv_channel_dir *c);
unsigned int rhv_nr_cpu_ids(void);

/* Provided by shim_lock.c. */
void rhv_raw_spin_lock_init(raw_spinlock_t *lock, const char *name, void *key);
unsigned long rhv_raw_spin_lock_irqsave(raw_spinlock_t *lock);
void rhv_raw_spin_unlock_irqrestore(raw_spinlock_t *lock, unsigned long flags);
bool rhv_raw_spin_trylock_irqsave(raw_spinlock_t *lock, unsigned long *flags);
void rhv_raw_spin_assert_held(raw_spinlock_t *lock);

/* Implemented in Rust (platform/hooks.rs, bus.rs, channel_sysfs.rs, counters.rs). */
int rhv_vmbus_cpu_online(void *ctx, unsigned int cpu);
int rhv_vmbus_cpu_offline(void *ctx, unsigned int cpu);
void rhv_vmbus_isr(void *ctx);
void rhv_vmbus_reboot(void *ctx, bool restart);
ssize_t rhv_vmbus_dev_show(const void *ctx, unsigned int attr, char *buf);
bool rhv_vmbus_dev_visible(const void *ctx, unsigned int attr);
int rhv_vmbus_dev_uevent(const void *ctx, struct kobj_uevent_env *env);
void rhv_vmbus_dev_release(void *ctx);
ssize_t rhv_vmbus_chan_show(const void *ctx, unsigned int attr, char *buf);
bool rhv_vmbus_chan_visible(const void *ctx, unsigned int attr);
ssize_t rhv_vmbus_chan_store(const void *ctx, unsigned int attr, const char *buf, size_t count);
void rhv_vmbus_chan_release(void *ctx);

/* The counters of counters.rs, shown in /sys/bus/vmbus/. */
enum rhv_counter {
	RHV_COUNTER_LEAKED_GPADL_PAGES = 0,
	RHV_COUNTER_BAD_CHANNEL_MESSAGES = 1,
	RHV_COUNTER_DROPPED_CHANNEL_MESSAGES = 2,
};
u64 rhv_vmbus_counter(u32 which);

#endif
