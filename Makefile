# SPDX-License-Identifier: GPL-2.0
#
# rhv: Hyper-V guest drivers for Linux in Rust, and hvsim, the host simulator they are tested on.
#
#   make run       set up if needed, boot a guest on the simulator with our modules, show them
#   make check     set up if needed, run every test (what CI runs)
#   make modules   build the kernel modules (KDIR=/path for your own Rust-enabled kernel tree)
#   make kunit     boot a guest that loads each module and runs its KUnit suites
#   make e2e DRIVERS=c|rust [SCENARIO=name] [KERNEL=debug]   end-to-end scenarios on hvsim
#                  (KERNEL=debug: on the debug kernel, lockdep/kmemleak/KFENCE; built once)
#   make distro-boot DRIVERS=c|rust   scenario distro-boot: a Debian 13 system (image built once
#                  by scripts/distro-image) boots on hvsim with the stock C drivers or rhv-dkms
#   make check-distro   distro-boot for both driver sets
#   make bench-boot   benchmark: time from QEMU start to ALLOFFERS_DELIVERED, C vs ours, and
#                  the Debian 13 system's time to multi-user.target (tests/distro/run)
#   make bench [DRIVERS="c rust"]   benchmarks: fio (bench-storage) and iperf3 (bench-net) in
#                  the guest, per driver set, with ours/C ratios (TSV; build/bench/)
#   make bench-storage-counters / bench-net-counters   the same jobs, counted per I/O / per MB:
#                  hypercalls, interrupts, packets (and guest CPU for the network)
#   make fuzz [FUZZ_SECS=N] [FUZZ_TARGET=name]   fuzz every wire-format parser of drivers/proto
#                  for N seconds each (default 60); installs cargo-fuzz if needed (scripts/fuzz)
#   make deb       build/deb/rhv-dkms_<version>_all.deb: the modules as a Debian DKMS package
#                  (built with trixie's debhelper/dh-dkms in a cached mmdebstrap environment)
#   make setup     only the set-up (host packages, kernel, bindgen, patched QEMU)
#   make clean     remove build products (the cache under ~/.cache/rhv stays)
#
# Kbuild (beside this file) lists the modules; this Makefile only drives the builds.

TOP := $(CURDIR)
BUILD := $(TOP)/build

# KDIR from the command line wins over the one set-up found, and set-up is told about it.
ifdef KDIR
SETUP_ENV := KDIR=$(KDIR)
endif
-include $(BUILD)/setup.mk

MODULES := rhv_vmbus rhv_utils

.PHONY: all setup setup-modules modules deb clean check run kunit e2e distro-boot check-distro fuzz bench-boot bench bench-storage bench-net bench-storage-counters bench-net-counters

all: modules

setup:
	$(SETUP_ENV) scripts/setup

# Module builds need only the kernel and toolchain, not the patched QEMU.
setup-modules:
	@if [ ! -f $(BUILD)/setup.mk ] || { [ -n "$(KDIR)" ] && ! grep -qx 'KDIR := $(KDIR)' $(BUILD)/setup.mk; }; then \
		$(SETUP_ENV) scripts/setup --no-qemu; fi

modules: setup-modules
	$(MAKE) -f $(TOP)/Makefile.modules TOP=$(TOP) $(if $(KDIR),KDIR=$(KDIR)) build

deb:
	scripts/deb

clean:
	@if [ -f $(BUILD)/setup.mk ]; then $(MAKE) -f $(TOP)/Makefile.modules TOP=$(TOP) clean; fi
	rm -rf $(BUILD) target fuzz/target

kunit: modules
	scripts/kunit

run: setup
	$(MAKE) -f $(TOP)/Makefile.modules TOP=$(TOP) build
	scripts/demo

e2e:
	$(SETUP_ENV) scripts/setup $(if $(filter debug,$(KERNEL)),--debug-kernel)
	$(MAKE) -f $(TOP)/Makefile.modules TOP=$(TOP) build
	tests/e2e/run --drivers $(or $(DRIVERS),c) $(if $(SCENARIO),--only $(SCENARIO)) $(if $(KERNEL),--kernel $(KERNEL))

distro-boot: setup
	tests/distro/run --drivers $(or $(DRIVERS),c)

# distro-boot for both driver sets (ours is a TAP skip without build/deb/rhv-dkms_*.deb). Not
# part of make check yet: it does not fit CI's time budget (README, "A real system").
check-distro: setup
	tests/distro/run --drivers c && tests/distro/run --drivers rust

bench-boot: setup
	$(MAKE) -f $(TOP)/Makefile.modules TOP=$(TOP) build
	bench/boot

# Storage and network throughput; DRIVERS is any of "c rust" (default both), ROUNDS the runs
# per driver set (default 1; the tables give medians).
BENCH_DRIVERS = $(or $(DRIVERS),c rust)
BENCH_ARGS = --drivers "$(BENCH_DRIVERS)" --rounds $(or $(ROUNDS),1)
bench: setup
	$(MAKE) -f $(TOP)/Makefile.modules TOP=$(TOP) build
	bench/run $(BENCH_ARGS) storage net

bench-storage bench-storage-counters bench-net bench-net-counters: bench-%: setup
	$(MAKE) -f $(TOP)/Makefile.modules TOP=$(TOP) build
	bench/run $(BENCH_ARGS) $*

check:
	$(SETUP_ENV) scripts/check

# Host-only: needs neither the kernel nor QEMU.
fuzz:
	FUZZ_TARGET="$(FUZZ_TARGET)" scripts/fuzz run $(or $(FUZZ_SECS),60)
