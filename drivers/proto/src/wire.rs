// SPDX-License-Identifier: GPL-2.0
//! [`wire_struct!`](crate::wire_struct), the one macro that declares the fixed-size message
//! structs of `vmbus_msg`, `nvsp` and `rndis`.
//!
//! This file is also compiled into the kernel modules that include any of those files: it
//! holds nothing but the macro.

/// Declares a `#[repr(C, packed)]` wire struct deriving `Clone`, `Copy`, `Debug`, `PartialEq`,
/// `Eq` and the zerocopy traits, with a compile-time check that it is `size` bytes long.
///
/// `Name: Trait = Type, at most MAX, size N { .. }` also checks that it fits in `MAX` bytes and
/// implements `Trait` (a message trait such as `ChannelMessage` or `nvsp::Body`) with
/// `const TYPE: MessageType = MessageType::Type`. More derives (`Default`) go with the
/// struct's own attributes. The derives, `MessageType` and `Trait` are the ones in scope
/// where the macro is used.
#[macro_export]
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        $name:ident $(: $trait:ident = $ty:ident, at most $max:ident)?, size $size:literal {
            $($(#[$fmeta:meta])* pub $field:ident : $fty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[repr(C, packed)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $fty,)*
        }
        const _: () = assert!(core::mem::size_of::<$name>() == $size);
        $(
            const _: () = assert!(core::mem::size_of::<$name>() <= $max);

            impl $trait for $name {
                const TYPE: MessageType = MessageType::$ty;
            }
        )?
    };
}
