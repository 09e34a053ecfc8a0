// SPDX-License-Identifier: GPL-2.0
/*
 * Writes and checks a whole block device with a pattern that names the run and each sector's
 * own place, for the storage-verify scenario (built statically on the host, run in the guest).
 *
 *   verify-disk write DEVICE SEED    fills DEVICE, then fsyncs it
 *   verify-disk verify DEVICE SEED   reads DEVICE back and counts the sectors that differ
 *
 * Every 512-byte sector holds a magic, SEED, its own LBA and 488 bytes of a pseudo-random
 * stream seeded by (SEED, LBA); so data that lands in or comes back from the wrong place, is
 * stale (another run's seed) or is damaged anywhere in the sector shows as a mismatch. All I/O
 * uses O_DIRECT, so "verify" reads the device and not the page cache. Requests are CHUNK bytes,
 * which the block layer splits into several requests in flight at once.
 *
 * "verify" prints "RHV-VERIFY: sectors=N mismatched=M" (and the first few bad sectors, with
 * the header found in them) and exits 0 only when M is 0 and every byte was read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define SECTOR 512
#define CHUNK (4u << 20)
#define MAGIC 0x5946495245564852ull /* "RHVERIFY" in little-endian bytes */
#define SHOWN 8

/* One of splitmix64's steps: a well-mixed 64-bit value from a counter. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The expected contents of sector LBA in this run. */
static void fill_sector(uint64_t *s, uint64_t seed, uint64_t lba)
{
	uint64_t x = mix(seed ^ mix(lba)) | 1;
	size_t i;

	s[0] = MAGIC;
	s[1] = seed;
	s[2] = lba;
	s[3] = ~lba;
	for (i = 4; i < SECTOR / 8; i++) {
		/* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		s[i] = x;
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: verify-disk write|verify DEVICE SEED\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t size, seed, lba, sectors, bad = 0, done = 0;
	uint64_t *buf, expected[SECTOR / 8];
	int writing, fd;
	char *end;

	if (argc != 4)
		return usage();
	if (!strcmp(argv[1], "write"))
		writing = 1;
	else if (!strcmp(argv[1], "verify"))
		writing = 0;
	else
		return usage();
	errno = 0;
	seed = strtoull(argv[3], &end, 10);
	if (errno || !*argv[3] || *end)
		return usage();

	fd = open(argv[2], (writing ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "verify-disk: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (ioctl(fd, BLKGETSIZE64, &size)) {
		fprintf(stderr, "verify-disk: %s: no size: %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (size == 0 || size % CHUNK) {
		fprintf(stderr, "verify-disk: %s: %" PRIu64 " bytes is not a multiple of %u\n",
			argv[2], size, CHUNK);
		return 1;
	}
	if (posix_memalign((void **)&buf, 4096, CHUNK)) {
		fprintf(stderr, "verify-disk: out of memory\n");
		return 1;
	}
	sectors = size / SECTOR;

	for (lba = 0; lba < sectors; lba += CHUNK / SECTOR) {
		off_t off = (off_t)(lba * SECTOR);
		ssize_t n;
		uint64_t i;

		if (writing) {
			for (i = 0; i < CHUNK / SECTOR; i++)
				fill_sector(buf + i * (SECTOR / 8), seed, lba + i);
			n = pwrite(fd, buf, CHUNK, off);
		} else {
			n = pread(fd, buf, CHUNK, off);
		}
		if (n != (ssize_t)CHUNK) {
			fprintf(stderr, "verify-disk: %s at byte %" PRIu64 ": %zd of %u bytes: %s\n",
				writing ? "write" : "read", (uint64_t)off, n, CHUNK,
				n < 0 ? strerror(errno) : "short transfer");
			return 1;
		}
		done += (uint64_t)n;
		if (writing)
			continue;
		for (i = 0; i < CHUNK / SECTOR; i++) {
			const uint64_t *got = buf + i * (SECTOR / 8);

			fill_sector(expected, seed, lba + i);
			if (!memcmp(got, expected, SECTOR))
				continue;
			if (bad++ < SHOWN)
				printf("RHV-VERIFY: lba %" PRIu64 " differs; it holds magic=%016" PRIx64
				       " seed=%" PRIu64 " lba=%" PRIu64 "\n",
				       lba + i, got[0], got[1], got[2]);
		}
	}
	if (writing) {
		if (fsync(fd)) {
			fprintf(stderr, "verify-disk: fsync %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		printf("RHV-VERIFY: wrote sectors=%" PRIu64 " bytes=%" PRIu64 " seed=%" PRIu64 "\n",
		       sectors, done, seed);
		return 0;
	}
	printf("RHV-VERIFY: sectors=%" PRIu64 " bytes=%" PRIu64 " mismatched=%" PRIu64 "\n",
	       sectors, done, bad);
	return bad ? 1 : 0;
}
