// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of rhv_netvsc's transmit offload: the features the stack is told of, the
 * per-skb check that leaves large sends the host cannot take to the stack, and what an skb
 * asks of the hardware (a checksum to fill in, or a TCP large send), read from the skb's
 * layout, which Rust has no bindings for. Whether the host offers it, and the RNDIS
 * per-packet info that says so, are Rust's (netvsc/session/offload.rs); this file only
 * reports and prepares. Declarations for Rust: netvsc/netdev.rs.
 */
#include <linux/errno.h>
#include <linux/if_ether.h>
#include <linux/if_vlan.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/ip6_checksum.h>
#include <net/tcp.h>

#include "shim.h"

/*
 * Before registration only: the host fills in TCP/UDP checksums over IPv4 and/or IPv6 and
 * takes large sends of up to `tso_max_size` bytes and at least `tso_min_segs` segments.
 */
void rhv_netvsc_set_tx_offload(struct net_device *ndev, u32 what, u32 tso_max_size,
			       u32 tso_min_segs)
{
	netdev_features_t f = 0;

	if (what & RHV_NETVSC_TX_CSUM4)
		f |= NETIF_F_IP_CSUM;
	if (what & RHV_NETVSC_TX_CSUM6)
		f |= NETIF_F_IPV6_CSUM;
	if (what & RHV_NETVSC_TX_TSO4)
		f |= NETIF_F_TSO;
	if (what & RHV_NETVSC_TX_TSO6)
		f |= NETIF_F_TSO6;
	ndev->hw_features |= f;
	ndev->features |= f;
	if (f & (NETIF_F_TSO | NETIF_F_TSO6)) {
		netif_set_tso_max_size(ndev, tso_max_size);
		rhv_netvsc_set_tso_min_segs(ndev, max_t(u32, tso_min_segs, 1));
	}
}

/*
 * A large send the host cannot take (not TCP, or fewer segments than it wants) is segmented
 * by the stack before ndo_start_xmit; the rest as the default check does.
 */
netdev_features_t rhv_netvsc_features_check(struct sk_buff *skb, struct net_device *ndev,
					    netdev_features_t features)
{
	if (skb_is_gso(skb)) {
		const struct skb_shared_info *si = skb_shinfo(skb);

		if (!(si->gso_type & (SKB_GSO_TCPV4 | SKB_GSO_TCPV6)) ||
		    (si->gso_type & ~(SKB_GSO_TCPV4 | SKB_GSO_TCPV6 | SKB_GSO_TCP_ECN |
				      SKB_GSO_DODGY)) ||
		    si->gso_segs < rhv_netvsc_tso_min_segs(ndev))
			features &= ~NETIF_F_GSO_MASK;
	}
	return vlan_features_check(skb, features);
}

/*
 * What the skb asks for: 0 (nothing), or RHV_NETVSC_OFF_* bits; `*transport` is the transport
 * header's offset from the frame start and, for a large send, `*mss` the segment payload.
 * A large send's headers are left as NDIS wants them: no IP length and a TCP pseudo-header
 * sum without the length (the host fills both in per segment). Negative errno: drop it.
 */
int rhv_netvsc_skb_offload(struct sk_buff *skb, u32 *transport, u32 *mss)
{
	int v6 = skb->protocol == htons(ETH_P_IPV6) ? RHV_NETVSC_OFF_IPV6 : 0;
	u8 proto;

	if (skb_is_gso(skb)) {
		if (!(skb_shinfo(skb)->gso_type & (SKB_GSO_TCPV4 | SKB_GSO_TCPV6)))
			return -EPROTONOSUPPORT;
		if (skb_cow_head(skb, 0))
			return -ENOMEM;
		if (skb->protocol == htons(ETH_P_IP)) {
			struct iphdr *iph = ip_hdr(skb);

			iph->tot_len = 0;
			iph->check = 0;
			tcp_hdr(skb)->check =
				~csum_tcpudp_magic(iph->saddr, iph->daddr, 0, IPPROTO_TCP, 0);
		} else if (v6) {
			tcp_v6_gso_csum_prep(skb);
		} else {
			return -EPROTONOSUPPORT;
		}
		*transport = skb_transport_offset(skb);
		*mss = skb_shinfo(skb)->gso_size;
		return RHV_NETVSC_OFF_LSO | RHV_NETVSC_OFF_TCP | v6;
	}
	if (skb->ip_summed != CHECKSUM_PARTIAL)
		return 0;
	*transport = skb_checksum_start_offset(skb);
	*mss = 0;
	if (skb->protocol == htons(ETH_P_IP)) {
		/* The host checksums from where the IPv4 header ends. */
		if (skb_checksum_start_offset(skb) != skb_network_offset(skb) + ip_hdrlen(skb))
			return RHV_NETVSC_OFF_CSUM;
		proto = ip_hdr(skb)->protocol;
	} else if (v6) {
		proto = ipv6_hdr(skb)->nexthdr;
	} else {
		return RHV_NETVSC_OFF_CSUM;
	}
	if (proto == IPPROTO_TCP && skb->csum_offset == offsetof(struct tcphdr, check))
		return RHV_NETVSC_OFF_CSUM | RHV_NETVSC_OFF_TCP | v6;
	if (proto == IPPROTO_UDP && skb->csum_offset == offsetof(struct udphdr, check))
		return RHV_NETVSC_OFF_CSUM | RHV_NETVSC_OFF_UDP | v6;
	return RHV_NETVSC_OFF_CSUM | v6;
}

/* Fills in a checksum the host cannot: 0 or a negative errno. */
int rhv_netvsc_skb_checksum_help(struct sk_buff *skb)
{
	return skb_checksum_help(skb);
}

/* Adds `len` bytes at physical address `pa` as one range; -EMSGSIZE if it does not fit. */
static int rhv_netvsc_add_range(phys_addr_t pa, u32 len, u64 *pfns, u32 max_pfns, u32 *used,
				u32 *ranges, u32 max_ranges, u32 *n)
{
	u32 off = offset_in_page(pa);
	u32 count = DIV_ROUND_UP(off + len, PAGE_SIZE);
	u32 i;

	if (!len)
		return 0;
	if (*n >= max_ranges || *used + count > max_pfns)
		return -EMSGSIZE;
	for (i = 0; i < count; i++)
		pfns[*used + i] = (pa >> PAGE_SHIFT) + i;
	ranges[3 * *n] = off;
	ranges[3 * *n + 1] = len;
	ranges[3 * *n + 2] = count;
	*used += count;
	(*n)++;
	return 0;
}

/*
 * The skb's frame as page ranges, without copying: the linear part, then each fragment (4 KiB
 * PFNs, x86: PAGE_SIZE is the Hyper-V page size). Each range's PFNs go into `pfns` in order;
 * `ranges` gets three words per range (offset into its first page, length, PFN count).
 * Returns the number of ranges, or -EMSGSIZE when they do not fit (or the skb has a frag list
 * or fragments without pages): the caller then linearises. The pages stay valid while the skb
 * lives.
 */
int rhv_netvsc_skb_ranges(struct sk_buff *skb, u64 *pfns, u32 max_pfns, u32 *ranges,
			  u32 max_ranges)
{
	u32 n = 0, used = 0;
	int i, ret;

	if (skb_has_frag_list(skb))
		return -EMSGSIZE;
	ret = rhv_netvsc_add_range(virt_to_phys(skb->data), skb_headlen(skb), pfns, max_pfns,
				   &used, ranges, max_ranges, &n);
	if (ret)
		return ret;
	for (i = 0; i < skb_shinfo(skb)->nr_frags; i++) {
		const skb_frag_t *frag = &skb_shinfo(skb)->frags[i];
		struct page *page = skb_frag_page(frag);

		if (!page)
			return -EMSGSIZE;
		ret = rhv_netvsc_add_range(page_to_phys(page) + skb_frag_off(frag),
					   skb_frag_size(frag), pfns, max_pfns, &used, ranges,
					   max_ranges, &n);
		if (ret)
			return ret;
	}
	return n;
}
