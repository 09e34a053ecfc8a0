# SPDX-License-Identifier: GPL-2.0
# Shared settings for the set-up and runner scripts. Sourced, never executed.

RHV_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RHV_CACHE=${RHV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rhv}
# Everything the repository generates lands here (gitignored).
RHV_BUILD=${RHV_BUILD:-$RHV_TOP/build}

# The Debian packages the project is built from. The kernel and QEMU come from trixie
# (-backports) through a private apt root; the system's own apt sources are never touched.
RHV_KERNEL_PKG=linux-source-7.3
# trixie proper (10.0.x), not -backports: the QEMU patch is written against 10.0.
RHV_QEMU_SRC=qemu/trixie
RHV_BINDGEN_VERSION=0.73.2
# cargo-fuzz, for `make fuzz` and the corpus replay of `make check` (scripts/fuzz).
RHV_CARGO_FUZZ_VERSION=0.13.2
RHV_LIBCLANG_PATH=/usr/lib/llvm-19/lib

RHV_HOST_PACKAGES=(
	# kernel build
	flex bison bc libelf-dev libssl-dev cpio xz-utils libclang-19-dev
	# guest initramfs and the stock QEMU's firmware (SeaBIOS)
	busybox-static qemu-system-x86
	# end-to-end scenarios read hvsim's JSON; the KVP scenario runs Debian's hv_kvp_daemon in
	# the guest
	jq hyperv-daemons
	# the network scenarios: iperf3 on both ends, ethtool in the guest
	iperf3 ethtool
	# the storage scenarios: mkfs.ext4 in the guest (busybox has none); the storage benchmark
	# (bench/run): fio in the guest, and a C compiler for its SysV shm shim; storage-verify's
	# pattern checker is a static C program (libc.a)
	e2fsprogs fio gcc libc6-dev
	# the Debian 13 system of the distro-boot scenario (scripts/distro-image): mmdebstrap builds
	# it, sfdisk (fdisk) partitions its disk; dnsmasq is the DHCP server on the TAP's host end
	mmdebstrap fdisk dnsmasq-base
	# building the patched QEMU
	libglib2.0-dev libpixman-1-dev ninja-build libfdt-dev zlib1g-dev python3-venv dpkg-dev pkg-config patch
)

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# The rustc version as "1.95.0".
rustc_version() {
	rustc --version | awk '{print $2}'
}
