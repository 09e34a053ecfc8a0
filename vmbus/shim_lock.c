// SPDX-License-Identifier: GPL-2.0
/*
 * raw_spinlock_t for rhv_vmbus's Rust code (vmbus/platform/raw_lock.rs): the kernel crate has
 * only spinlock_t and mutex locks, and the raw lock operations are macros.
 */
#include <linux/lockdep.h>
#include <linux/spinlock.h>

#include "shim.h"

void rhv_raw_spin_lock_init(raw_spinlock_t *lock, const char *name, void *key)
{
#ifdef CONFIG_DEBUG_SPINLOCK
	/* The class Rust gives (a static key per lock), with the wait type of a raw lock. */
	__raw_spin_lock_init(lock, name, (struct lock_class_key *)key, LD_WAIT_SPIN);
#else
	raw_spin_lock_init(lock);
#endif
}

unsigned long rhv_raw_spin_lock_irqsave(raw_spinlock_t *lock)
{
	unsigned long flags;

	raw_spin_lock_irqsave(lock, flags);
	return flags;
}

void rhv_raw_spin_unlock_irqrestore(raw_spinlock_t *lock, unsigned long flags)
{
	raw_spin_unlock_irqrestore(lock, flags);
}

bool rhv_raw_spin_trylock_irqsave(raw_spinlock_t *lock, unsigned long *flags)
{
	return raw_spin_trylock_irqsave(lock, *flags);
}

void rhv_raw_spin_assert_held(raw_spinlock_t *lock)
{
	lockdep_assert_held(lock);
}
