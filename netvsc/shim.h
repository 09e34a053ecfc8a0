/* SPDX-License-Identifier: GPL-2.0 */
/* Prototypes of netvsc/shim.c; the Rust declarations are in netvsc/netdev.rs. */
#ifndef RHV_NETVSC_SHIM_H
#define RHV_NETVSC_SHIM_H

#include <linux/netdev_features.h>
#include <linux/types.h>

struct device;
struct net_device;
struct sk_buff;

/* Most queues (channels) a device gets. */
#define RHV_NETVSC_MAX_QUEUES 8

/* rhv_netvsc_set_tx_offload(): what the host offers. */
#define RHV_NETVSC_TX_CSUM4 0x1
#define RHV_NETVSC_TX_CSUM6 0x2
#define RHV_NETVSC_TX_TSO4 0x4
#define RHV_NETVSC_TX_TSO6 0x8

/* rhv_netvsc_skb_offload(): what a frame asks for. */
#define RHV_NETVSC_OFF_CSUM 0x1
#define RHV_NETVSC_OFF_LSO 0x2
#define RHV_NETVSC_OFF_IPV6 0x4
#define RHV_NETVSC_OFF_TCP 0x8
#define RHV_NETVSC_OFF_UDP 0x10

bool rhv_netvsc_ratelimit(void);
struct net_device *rhv_netvsc_alloc(struct device *parent, const void *ctx);
void rhv_netvsc_set_rxcsum(struct net_device *ndev);
bool rhv_netvsc_rxcsum_enabled(struct net_device *ndev);
void rhv_netvsc_set_tx_offload(struct net_device *ndev, u32 what, u32 tso_max_size,
			       u32 tso_min_segs);
u32 rhv_netvsc_tso_min_segs(struct net_device *ndev);
void rhv_netvsc_set_tso_min_segs(struct net_device *ndev, u32 segs);
netdev_features_t rhv_netvsc_features_check(struct sk_buff *skb, struct net_device *ndev,
					    netdev_features_t features);
int rhv_netvsc_skb_offload(struct sk_buff *skb, u32 *transport, u32 *mss);
int rhv_netvsc_skb_checksum_help(struct sk_buff *skb);
int rhv_netvsc_skb_ranges(struct sk_buff *skb, u64 *pfns, u32 max_pfns, u32 *ranges,
			  u32 max_ranges);
void rhv_netvsc_set_ctx(struct net_device *ndev, const void *ctx);
int rhv_netvsc_register(struct net_device *ndev, const u8 *mac, u32 max_mtu);
void rhv_netvsc_unregister(struct net_device *ndev);
void rhv_netvsc_free(struct net_device *ndev);
int rhv_netvsc_set_queues(struct net_device *ndev, u32 n);
void rhv_netvsc_carrier(struct net_device *ndev, bool on);
int rhv_netvsc_rx(struct net_device *ndev, u16 q, const u8 *data, u32 len, u32 hash, bool csum_ok);
int rhv_netvsc_rx_buf(struct net_device *ndev, u16 q, const u64 *pfns, u32 npfns, u32 offset,
		      u32 len, u32 hash, bool csum_ok);
void rhv_netvsc_rx_dropped(struct net_device *ndev);
void rhv_netvsc_poll_schedule(struct net_device *ndev, u16 q);
void rhv_netvsc_poll_kick(struct net_device *ndev, u16 q);
void rhv_netvsc_poll_claim(struct net_device *ndev, u16 q);
void rhv_netvsc_poll_sync(struct net_device *ndev, u16 q);
void rhv_netvsc_set_rx_ctx(struct net_device *ndev, const void *rx_ctx);
void rhv_netvsc_tx_stop(struct net_device *ndev, u16 q);
void rhv_netvsc_tx_wake(struct net_device *ndev, u16 q);
void rhv_netvsc_detach(struct net_device *ndev);
void rhv_netvsc_attach(struct net_device *ndev);
bool rhv_netvsc_running(struct net_device *ndev);
u32 rhv_netvsc_online_cpus(void);
u32 rhv_netvsc_mtu(struct net_device *ndev);
bool rhv_netvsc_xmit_more(void);
u32 rhv_netvsc_skb_len(struct sk_buff *skb);
int rhv_netvsc_skb_pages(struct sk_buff *skb, u64 *pfns, u32 max, u32 *offset);
int rhv_netvsc_buf_read(const u64 *pfns, u32 npfns, u32 offset, u8 *dst, u32 len);
int rhv_netvsc_buf_write(const u64 *pfns, u32 npfns, u32 offset, const u8 *src, u32 len);
int rhv_netvsc_buf_write_skb(const u64 *pfns, u32 npfns, u32 offset, struct sk_buff *skb,
			     u32 len);
void rhv_netvsc_skb_free(struct sk_buff *skb);
void rhv_netvsc_skb_consume_napi(struct sk_buff *skb);

/* Defined in Rust (netvsc/netdev.rs). */
int rhv_netvsc_rs_open(const void *ctx);
int rhv_netvsc_rs_stop(const void *ctx);
int rhv_netvsc_rs_xmit(const void *ctx, struct sk_buff *skb, u16 q);
int rhv_netvsc_rs_change_mtu(const void *ctx, u32 mtu);
void rhv_netvsc_rs_channels(const void *ctx, u32 *max, u32 *cur);
void rhv_netvsc_rs_counters(const void *ctx, u64 *out, u32 n);
int rhv_netvsc_rs_poll(const void *rx_ctx, u16 q, int budget);
bool rhv_netvsc_rs_poll_done(const void *rx_ctx, u16 q);

#endif
