// SPDX-License-Identifier: GPL-2.0
/*
 * Exports the Rust symbols of the `vmbus` crate that other modules of this tree reference.
 * The list is generated at build time from what the consumers actually use (see Kbuild),
 * because Kbuild cannot yet express Rust dependencies between modules by itself.
 */
#include <linux/export.h>

#define EXPORT_SYMBOL_RUST_GPL(sym) extern int sym; EXPORT_SYMBOL_GPL(sym)

#include "exports_vmbus_generated.h"
