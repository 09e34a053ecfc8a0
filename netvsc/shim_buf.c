// SPDX-License-Identifier: GPL-2.0
/*
 * Copies between a buffer shared with the host (4 KiB pages named by PFN, directly mapped:
 * they come from get_zeroed_page()) and guest memory. The host may change the pages at any
 * time: the copy is what the caller checks and uses, as the C driver does with its buffers.
 * Declarations for Rust: netvsc/buffer.rs.
 */
#include <linux/errno.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/skbuff.h>
#include <linux/string.h>
#include <asm/io.h>

#include "shim.h"

enum rhv_netvsc_direction { RHV_TO_GUEST, RHV_TO_BUFFER, RHV_SKB_TO_BUFFER };

static void *rhv_netvsc_page_addr(const u64 *pfns, u32 at)
{
	return (u8 *)phys_to_virt((phys_addr_t)pfns[at / PAGE_SIZE] << PAGE_SHIFT) +
	       at % PAGE_SIZE;
}

/*
 * Copies `len` bytes at `offset` of the buffer (`npfns` pages) from or to `mem` (or, for
 * RHV_SKB_TO_BUFFER, from the frame of `skb`), a page of the buffer at a time.
 */
static int rhv_netvsc_buf_copy(const u64 *pfns, u32 npfns, u32 offset, u32 len,
			       enum rhv_netvsc_direction dir, u8 *mem, struct sk_buff *skb)
{
	u32 done = 0;
	int ret;

	if ((u64)offset + len > (u64)npfns * PAGE_SIZE)
		return -EINVAL;
	while (done < len) {
		u32 at = offset + done;
		u32 n = min_t(u32, len - done, PAGE_SIZE - at % PAGE_SIZE);
		void *page = rhv_netvsc_page_addr(pfns, at);

		switch (dir) {
		case RHV_TO_GUEST:
			memcpy(mem + done, page, n);
			break;
		case RHV_TO_BUFFER:
			memcpy(page, mem + done, n);
			break;
		case RHV_SKB_TO_BUFFER:
			ret = skb_copy_bits(skb, done, page, n);
			if (ret)
				return ret;
			break;
		}
		done += n;
	}
	return 0;
}

int rhv_netvsc_buf_read(const u64 *pfns, u32 npfns, u32 offset, u8 *dst, u32 len)
{
	return rhv_netvsc_buf_copy(pfns, npfns, offset, len, RHV_TO_GUEST, dst, NULL);
}

int rhv_netvsc_buf_write(const u64 *pfns, u32 npfns, u32 offset, const u8 *src, u32 len)
{
	/* Only read through `mem` in this direction. */
	return rhv_netvsc_buf_copy(pfns, npfns, offset, len, RHV_TO_BUFFER, (u8 *)src, NULL);
}

/* Copies the first `len` bytes of the skb's frame into the buffer at `offset`. */
int rhv_netvsc_buf_write_skb(const u64 *pfns, u32 npfns, u32 offset, struct sk_buff *skb,
			     u32 len)
{
	if (len > skb->len)
		return -EINVAL;
	return rhv_netvsc_buf_copy(pfns, npfns, offset, len, RHV_SKB_TO_BUFFER, NULL, skb);
}
