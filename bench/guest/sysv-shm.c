// SPDX-License-Identifier: GPL-2.0
/*
 * Process-private System V shared memory for the benchmark guest, preloaded into fio
 * (LD_PRELOAD). The guest kernel is built without CONFIG_SYSVIPC, and Debian's fio allocates
 * its job table with shmget(IPC_PRIVATE) even in --thread mode, where every user of the
 * segment is a thread of the one process. This library serves exactly that case from
 * anonymous mappings: IPC_PRIVATE segments, attached in the process that created them. Any
 * other use fails with ENOSYS, as it does without the library.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/shm.h>

#define MAX_SEGMENTS 64

struct segment {
	void *addr;     /* the mapping; NULL for a free slot */
	size_t size;
	int attached;   /* shmat count */
	int removed;    /* IPC_RMID seen: unmapped at the last detach */
};

static struct segment segments[MAX_SEGMENTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void release_if_unused(struct segment *s)
{
	if (s->removed && s->attached == 0) {
		munmap(s->addr, s->size);
		s->addr = NULL;
	}
}

int shmget(key_t key, size_t size, int flags)
{
	int id;
	void *p;

	(void)flags;
	if (key != IPC_PRIVATE) {
		errno = ENOSYS;
		return -1;
	}
	if (size == 0) {
		errno = EINVAL;
		return -1;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_lock(&lock);
	for (id = 0; id < MAX_SEGMENTS; id++) {
		if (!segments[id].addr) {
			segments[id] = (struct segment){ .addr = p, .size = size };
			pthread_mutex_unlock(&lock);
			return id;
		}
	}
	pthread_mutex_unlock(&lock);
	munmap(p, size);
	errno = ENOSPC;
	return -1;
}

void *shmat(int id, const void *addr, int flags)
{
	void *p = (void *)-1;

	(void)flags;
	pthread_mutex_lock(&lock);
	if (id < 0 || id >= MAX_SEGMENTS || !segments[id].addr || addr) {
		errno = EINVAL;
	} else {
		segments[id].attached++;
		p = segments[id].addr;
	}
	pthread_mutex_unlock(&lock);
	return p;
}

int shmdt(const void *addr)
{
	int id;

	pthread_mutex_lock(&lock);
	for (id = 0; id < MAX_SEGMENTS; id++) {
		struct segment *s = &segments[id];

		if (s->addr == addr && s->attached > 0) {
			s->attached--;
			release_if_unused(s);
			pthread_mutex_unlock(&lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&lock);
	errno = EINVAL;
	return -1;
}

int shmctl(int id, int cmd, struct shmid_ds *buf)
{
	int ret = 0;

	pthread_mutex_lock(&lock);
	if (id < 0 || id >= MAX_SEGMENTS || !segments[id].addr) {
		errno = EINVAL;
		ret = -1;
	} else if (cmd == IPC_RMID) {
		segments[id].removed = 1;
		release_if_unused(&segments[id]);
	} else if (cmd == IPC_STAT && buf) {
		*buf = (struct shmid_ds){ .shm_segsz = segments[id].size,
					  .shm_nattch = segments[id].attached };
	} else {
		errno = ENOSYS;
		ret = -1;
	}
	pthread_mutex_unlock(&lock);
	return ret;
}
