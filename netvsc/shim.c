// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of rhv_netvsc: the net_device, its operations, NAPI and ethtool, which the
 * `kernel` crate has no bindings for and which live in inline functions, macros and structure
 * layouts. The protocol (NVSP, RNDIS, the VMBus channels) is all in Rust: each operation here
 * calls the Rust driver through a `rhv_netvsc_rs_*` callback with the context pointer it was
 * given at allocation. Declarations for Rust: netvsc/netdev.rs.
 *
 * Receive: each queue's NAPI instance (enabled from allocation to free, since the channels
 * carry the control traffic too, whether the interface is up or not) is scheduled by its
 * channel's interrupt; its poll calls Rust (rhv_netvsc_rs_poll), which reads the channel's
 * ring and copies each frame once into an skb handed to GRO here (rhv_netvsc_rx*), then
 * unmasks the ring (rhv_netvsc_rs_poll_done). Transmit: ndo_start_xmit hands the skb to Rust,
 * which copies it into a send-buffer section (or sends its pages) and frees it.
 */
#include <linux/errno.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/ratelimit.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/u64_stats_sync.h>
#include <net/sock.h>

#include "shim.h"

/* Number of counters rhv_netvsc_rs_counters() fills (the order of the names below). */
#define RHV_NETVSC_RS_COUNTERS 7

static const char rhv_netvsc_rs_counter_names[RHV_NETVSC_RS_COUNTERS][ETH_GSTRING_LEN] = {
	"host_bad_packets", "host_unknown_completions", "tx_busy", "tx_ring_full",
	"tx_dropped_host", "rx_bad_frames", "rx_completions_held",
};

static const char rhv_netvsc_queue_stat_names[4][ETH_GSTRING_LEN] = {
	"rx_packets", "rx_bytes", "tx_packets", "tx_bytes",
};

struct rhv_netvsc_queue {
	struct napi_struct napi;
	/* Frames and bytes of the running poll (only its NAPI instance touches them). */
	u64 poll_packets;
	u64 poll_bytes;
	struct u64_stats_sync rx_sync;
	u64_stats_t rx_packets;
	u64_stats_t rx_bytes;
	struct u64_stats_sync tx_sync;
	u64_stats_t tx_packets;
	u64_stats_t tx_bytes;
};

struct rhv_netvsc_priv {
	const void *ctx;
	/* Fewest segments the host takes in a large send (0: no large send). */
	u32 tso_min_segs;
	/* The Rust receive context (the NetDevice), set once after allocation. */
	const void *rx_ctx;
	atomic_long_t rx_dropped;
	atomic_long_t tx_dropped;
	struct rhv_netvsc_queue q[RHV_NETVSC_MAX_QUEUES];
};

static DEFINE_RATELIMIT_STATE(rhv_netvsc_complaints, 5 * HZ, 10);

bool rhv_netvsc_ratelimit(void)
{
	return __ratelimit(&rhv_netvsc_complaints);
}

static struct rhv_netvsc_priv *priv_of(struct net_device *ndev)
{
	return netdev_priv(ndev);
}

/*
 * Up to `budget` frames of the queue's channel (Rust counts them, and other packets, and
 * leaves a VMBus packet half-read when its frames outlast the budget); when fewer came, the
 * instance goes idle and the channel's interrupt is unmasked, unless packets arrived
 * meanwhile (or Rust waits for the host to make room for the completions it holds back).
 */
static int rhv_netvsc_poll(struct napi_struct *napi, int budget)
{
	struct rhv_netvsc_queue *rq = container_of(napi, struct rhv_netvsc_queue, napi);
	struct rhv_netvsc_priv *p = netdev_priv(napi->dev);
	const void *rx = READ_ONCE(p->rx_ctx);
	u16 q = rq - p->q;
	int done = 0;

	rq->poll_packets = 0;
	rq->poll_bytes = 0;
	if (rx)
		done = min(rhv_netvsc_rs_poll(rx, q, budget), budget);
	if (rq->poll_packets) {
		u64_stats_update_begin(&rq->rx_sync);
		u64_stats_add(&rq->rx_packets, rq->poll_packets);
		u64_stats_add(&rq->rx_bytes, rq->poll_bytes);
		u64_stats_update_end(&rq->rx_sync);
	}
	if (done < budget && napi_complete_done(napi, done) && rx && rhv_netvsc_rs_poll_done(rx, q))
		napi_schedule(napi);
	return done;
}

/* The channel of queue `q` was signalled (interrupt context): poll it. */
void rhv_netvsc_poll_schedule(struct net_device *ndev, u16 q)
{
	if (q < RHV_NETVSC_MAX_QUEUES)
		napi_schedule(&priv_of(ndev)->q[q].napi);
}

/*
 * Transmit (softirqs off): the host is about to be signalled on queue `q`'s channel, whose
 * ring the caller masked; its completions are read by the queue's poll, scheduled here unless
 * it is already (a scheduled poll unmasks the ring when it ends).
 */
void rhv_netvsc_poll_claim(struct net_device *ndev, u16 q)
{
	struct napi_struct *napi;

	if (q >= RHV_NETVSC_MAX_QUEUES)
		return;
	napi = &priv_of(ndev)->q[q].napi;
	if (!napi_is_scheduled(napi))
		napi_schedule(napi);
}

/* Process context: poll queue `q` now, for packets that arrived before it could be polled. */
void rhv_netvsc_poll_kick(struct net_device *ndev, u16 q)
{
	if (q >= RHV_NETVSC_MAX_QUEUES)
		return;
	local_bh_disable();
	napi_schedule(&priv_of(ndev)->q[q].napi);
	local_bh_enable();
}

/* Process context: waits until no poll of queue `q` runs (its instance is enabled). */
void rhv_netvsc_poll_sync(struct net_device *ndev, u16 q)
{
	if (q < RHV_NETVSC_MAX_QUEUES)
		napi_synchronize(&priv_of(ndev)->q[q].napi);
}

/* Once, after allocation: where rhv_netvsc_rs_poll() finds the queues' channels. */
void rhv_netvsc_set_rx_ctx(struct net_device *ndev, const void *rx_ctx)
{
	WRITE_ONCE(priv_of(ndev)->rx_ctx, rx_ctx);
}

static int rhv_netvsc_open(struct net_device *ndev)
{
	struct rhv_netvsc_priv *p = priv_of(ndev);
	int ret;

	ret = rhv_netvsc_rs_open(p->ctx);
	if (ret)
		return ret;
	netif_tx_start_all_queues(ndev);
	return 0;
}

static int rhv_netvsc_stop(struct net_device *ndev)
{
	struct rhv_netvsc_priv *p = priv_of(ndev);

	rhv_netvsc_rs_stop(p->ctx);
	netif_tx_disable(ndev);
	return 0;
}

static netdev_tx_t rhv_netvsc_xmit(struct sk_buff *skb, struct net_device *ndev)
{
	struct rhv_netvsc_priv *p = priv_of(ndev);
	u16 q = skb_get_queue_mapping(skb);
	unsigned int len = skb->len;
	int ret;

	if (q >= RHV_NETVSC_MAX_QUEUES) {
		dev_kfree_skb_any(skb);
		atomic_long_inc(&p->tx_dropped);
		return NETDEV_TX_OK;
	}
	/* 0: sent; 1: busy, the skb is untouched and the queue stopped; 2: dropped and freed. */
	ret = rhv_netvsc_rs_xmit(p->ctx, skb, q);
	if (ret == 1)
		return NETDEV_TX_BUSY;
	if (ret == 0) {
		struct rhv_netvsc_queue *tq = &p->q[q];

		u64_stats_update_begin(&tq->tx_sync);
		u64_stats_inc(&tq->tx_packets);
		u64_stats_add(&tq->tx_bytes, len);
		u64_stats_update_end(&tq->tx_sync);
	} else {
		atomic_long_inc(&p->tx_dropped);
	}
	return NETDEV_TX_OK;
}

/*
 * A connection sends on the queue its frames arrive on (the host's receive-side scaling put
 * them there), once the stack may move it (no frame of it in flight, or none sent yet): the
 * answers to what the queue's poll reads then go out from within that poll, whose ring is
 * masked already, and the send's completions come back to it. Before the connection has
 * received anything, the stack's own choice.
 */
static u16 rhv_netvsc_select_queue(struct net_device *ndev, struct sk_buff *skb,
				   struct net_device *sb_dev)
{
	struct sock *sk = skb->sk;
	int q = sk_tx_queue_get(sk);

	if (q < 0 || skb->ooo_okay || q >= ndev->real_num_tx_queues) {
		q = sk_rx_queue_get(sk);
		if (q < 0 || q >= ndev->real_num_tx_queues)
			return netdev_pick_tx(ndev, skb, sb_dev);
		if (sk_fullsock(sk) && rcu_access_pointer(sk->sk_dst_cache))
			sk_tx_queue_set(sk, q);
	}
	return q;
}

static int rhv_netvsc_change_mtu(struct net_device *ndev, int mtu)
{
	struct rhv_netvsc_priv *p = priv_of(ndev);
	int ret;

	if (mtu < 0)
		return -EINVAL;
	ret = rhv_netvsc_rs_change_mtu(p->ctx, mtu);
	if (!ret)
		WRITE_ONCE(ndev->mtu, mtu);
	return ret;
}

static void rhv_netvsc_get_stats64(struct net_device *ndev, struct rtnl_link_stats64 *s)
{
	struct rhv_netvsc_priv *p = priv_of(ndev);
	int i;

	for (i = 0; i < RHV_NETVSC_MAX_QUEUES; i++) {
		struct rhv_netvsc_queue *q = &p->q[i];
		unsigned int start;
		u64 a, b;

		do {
			start = u64_stats_fetch_begin(&q->rx_sync);
			a = u64_stats_read(&q->rx_packets);
			b = u64_stats_read(&q->rx_bytes);
		} while (u64_stats_fetch_retry(&q->rx_sync, start));
		s->rx_packets += a;
		s->rx_bytes += b;
		do {
			start = u64_stats_fetch_begin(&q->tx_sync);
			a = u64_stats_read(&q->tx_packets);
			b = u64_stats_read(&q->tx_bytes);
		} while (u64_stats_fetch_retry(&q->tx_sync, start));
		s->tx_packets += a;
		s->tx_bytes += b;
	}
	s->rx_dropped = atomic_long_read(&p->rx_dropped);
	s->tx_dropped = atomic_long_read(&p->tx_dropped);
}

static const struct net_device_ops rhv_netvsc_ops = {
	.ndo_features_check = rhv_netvsc_features_check,
	.ndo_open = rhv_netvsc_open,
	.ndo_stop = rhv_netvsc_stop,
	.ndo_start_xmit = rhv_netvsc_xmit,
	.ndo_select_queue = rhv_netvsc_select_queue,
	.ndo_change_mtu = rhv_netvsc_change_mtu,
	.ndo_get_stats64 = rhv_netvsc_get_stats64,
	.ndo_validate_addr = eth_validate_addr,
};

static void rhv_netvsc_get_drvinfo(struct net_device *ndev, struct ethtool_drvinfo *info)
{
	strscpy(info->driver, KBUILD_MODNAME, sizeof(info->driver));
	strscpy(info->version, "1.0", sizeof(info->version));
	if (ndev->dev.parent)
		strscpy(info->bus_info, dev_name(ndev->dev.parent), sizeof(info->bus_info));
	info->n_stats = RHV_NETVSC_RS_COUNTERS + 4 * RHV_NETVSC_MAX_QUEUES;
}

static void rhv_netvsc_get_channels(struct net_device *ndev, struct ethtool_channels *ch)
{
	u32 max = 1, cur = 1;

	rhv_netvsc_rs_channels(priv_of(ndev)->ctx, &max, &cur);
	ch->max_combined = max;
	ch->combined_count = cur;
}

static int rhv_netvsc_get_link_ksettings(struct net_device *ndev,
					 struct ethtool_link_ksettings *cmd)
{
	ethtool_link_ksettings_zero_link_mode(cmd, supported);
	ethtool_link_ksettings_zero_link_mode(cmd, advertising);
	cmd->base.speed = netif_carrier_ok(ndev) ? SPEED_10000 : SPEED_UNKNOWN;
	cmd->base.duplex = netif_carrier_ok(ndev) ? DUPLEX_FULL : DUPLEX_UNKNOWN;
	cmd->base.port = PORT_OTHER;
	return 0;
}

static int rhv_netvsc_get_sset_count(struct net_device *ndev, int sset)
{
	if (sset != ETH_SS_STATS)
		return -EOPNOTSUPP;
	return RHV_NETVSC_RS_COUNTERS + 4 * RHV_NETVSC_MAX_QUEUES;
}

static void rhv_netvsc_get_strings(struct net_device *ndev, u32 sset, u8 *data)
{
	int i, j;

	if (sset != ETH_SS_STATS)
		return;
	for (i = 0; i < RHV_NETVSC_RS_COUNTERS; i++)
		ethtool_puts(&data, rhv_netvsc_rs_counter_names[i]);
	for (i = 0; i < RHV_NETVSC_MAX_QUEUES; i++)
		for (j = 0; j < 4; j++)
			ethtool_sprintf(&data, "queue_%d_%s", i, rhv_netvsc_queue_stat_names[j]);
}

static void rhv_netvsc_get_ethtool_stats(struct net_device *ndev, struct ethtool_stats *st,
					 u64 *data)
{
	struct rhv_netvsc_priv *p = priv_of(ndev);
	int i;

	rhv_netvsc_rs_counters(p->ctx, data, RHV_NETVSC_RS_COUNTERS);
	data += RHV_NETVSC_RS_COUNTERS;
	for (i = 0; i < RHV_NETVSC_MAX_QUEUES; i++) {
		struct rhv_netvsc_queue *q = &p->q[i];
		unsigned int start;

		do {
			start = u64_stats_fetch_begin(&q->rx_sync);
			data[0] = u64_stats_read(&q->rx_packets);
			data[1] = u64_stats_read(&q->rx_bytes);
		} while (u64_stats_fetch_retry(&q->rx_sync, start));
		do {
			start = u64_stats_fetch_begin(&q->tx_sync);
			data[2] = u64_stats_read(&q->tx_packets);
			data[3] = u64_stats_read(&q->tx_bytes);
		} while (u64_stats_fetch_retry(&q->tx_sync, start));
		data += 4;
	}
}

static const struct ethtool_ops rhv_netvsc_ethtool_ops = {
	.get_drvinfo = rhv_netvsc_get_drvinfo,
	.get_link = ethtool_op_get_link,
	.get_channels = rhv_netvsc_get_channels,
	.get_link_ksettings = rhv_netvsc_get_link_ksettings,
	.get_sset_count = rhv_netvsc_get_sset_count,
	.get_strings = rhv_netvsc_get_strings,
	.get_ethtool_stats = rhv_netvsc_get_ethtool_stats,
};

/* A net_device with RHV_NETVSC_MAX_QUEUES queues (one in use), carrier off, not registered. */
struct net_device *rhv_netvsc_alloc(struct device *parent, const void *ctx)
{
	struct net_device *ndev;
	struct rhv_netvsc_priv *p;
	int i;

	ndev = alloc_etherdev_mq(sizeof(*p), RHV_NETVSC_MAX_QUEUES);
	if (!ndev)
		return NULL;
	p = netdev_priv(ndev);
	p->ctx = ctx;
	p->tso_min_segs = 0;
	atomic_long_set(&p->rx_dropped, 0);
	atomic_long_set(&p->tx_dropped, 0);
	for (i = 0; i < RHV_NETVSC_MAX_QUEUES; i++) {
		u64_stats_init(&p->q[i].rx_sync);
		u64_stats_init(&p->q[i].tx_sync);
		netif_napi_add(ndev, &p->q[i].napi, rhv_netvsc_poll);
		napi_enable(&p->q[i].napi);
	}
	SET_NETDEV_DEV(ndev, parent);
	ndev->netdev_ops = &rhv_netvsc_ops;
	ndev->ethtool_ops = &rhv_netvsc_ethtool_ops;
	ndev->hw_features = NETIF_F_SG;
	ndev->features = NETIF_F_SG;
	ndev->min_mtu = ETH_MIN_MTU;
	netif_set_real_num_tx_queues(ndev, 1);
	netif_set_real_num_rx_queues(ndev, 1);
	netif_carrier_off(ndev);
	return ndev;
}

/* Before registration only: the host checks receive checksums. */
void rhv_netvsc_set_rxcsum(struct net_device *ndev)
{
	ndev->hw_features |= NETIF_F_RXCSUM;
	ndev->features |= NETIF_F_RXCSUM;
}

/* Receive checksum offload is enabled now (ethtool -K rx on|off toggles it). Any context. */
bool rhv_netvsc_rxcsum_enabled(struct net_device *ndev)
{
	return READ_ONCE(ndev->features) & NETIF_F_RXCSUM;
}

/* Fewest segments the host takes in a large send (0 until rhv_netvsc_set_tx_offload()). */
u32 rhv_netvsc_tso_min_segs(struct net_device *ndev)
{
	return READ_ONCE(priv_of(ndev)->tso_min_segs);
}

void rhv_netvsc_set_tso_min_segs(struct net_device *ndev, u32 segs)
{
	WRITE_ONCE(priv_of(ndev)->tso_min_segs, segs);
}

/* Before registration only. */
void rhv_netvsc_set_ctx(struct net_device *ndev, const void *ctx)
{
	priv_of(ndev)->ctx = ctx;
}

int rhv_netvsc_register(struct net_device *ndev, const u8 *mac, u32 max_mtu)
{
	bool link_up = netif_carrier_ok(ndev);
	int err;

	eth_hw_addr_set(ndev, mac);
	ndev->max_mtu = max_mtu;
	/*
	 * A carrier change before registration reaches no link watcher, so the operational
	 * state would stay "unknown": register with the carrier off, then raise it.
	 */
	netif_carrier_off(ndev);
	err = register_netdev(ndev);
	if (!err && link_up)
		netif_carrier_on(ndev);
	return err;
}

void rhv_netvsc_unregister(struct net_device *ndev)
{
	unregister_netdev(ndev);
}

/*
 * Never registered, or unregistered: frees it and its NAPI instances, after any poll running
 * has returned.
 */
void rhv_netvsc_free(struct net_device *ndev)
{
	struct rhv_netvsc_priv *p = priv_of(ndev);
	int i;

	for (i = 0; i < RHV_NETVSC_MAX_QUEUES; i++)
		napi_disable(&p->q[i].napi);
	free_netdev(ndev);
}

/* Before registration, or with the RTNL held. */
int rhv_netvsc_set_queues(struct net_device *ndev, u32 n)
{
	int ret;

	if (n == 0 || n > RHV_NETVSC_MAX_QUEUES)
		return -EINVAL;
	ret = netif_set_real_num_tx_queues(ndev, n);
	if (ret)
		return ret;
	return netif_set_real_num_rx_queues(ndev, n);
}

void rhv_netvsc_carrier(struct net_device *ndev, bool on)
{
	if (on)
		netif_carrier_on(ndev);
	else
		netif_carrier_off(ndev);
}

/*
 * One received frame of `len` >= ETH_HLEN bytes, to GRO: copied from `data`, or when `data` is
 * NULL straight out of the receive buffer's pages `pfns` at `offset` (one copy). Only from
 * the poll of queue `q`'s NAPI instance.
 */
static int rhv_netvsc_rx_copy(struct net_device *ndev, u16 q, const u8 *data, const u64 *pfns,
			      u32 npfns, u32 offset, u32 len, u32 hash, bool csum_ok)
{
	struct rhv_netvsc_priv *p = priv_of(ndev);
	struct rhv_netvsc_queue *rq;
	struct sk_buff *skb;

	if (q >= RHV_NETVSC_MAX_QUEUES || len < ETH_HLEN)
		return -EINVAL;
	rq = &p->q[q];
	if (!netif_running(ndev)) {
		atomic_long_inc(&p->rx_dropped);
		return -ENETDOWN;
	}
	skb = napi_alloc_skb(&rq->napi, len);
	if (!skb) {
		atomic_long_inc(&p->rx_dropped);
		return -ENOMEM;
	}
	if (data) {
		skb_put_data(skb, data, len);
	} else if (rhv_netvsc_buf_read(pfns, npfns, offset, skb_put(skb, len), len)) {
		kfree_skb(skb);
		atomic_long_inc(&p->rx_dropped);
		return -EINVAL;
	}
	skb->protocol = eth_type_trans(skb, ndev);
	if (csum_ok)
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	if (hash)
		skb_set_hash(skb, hash, PKT_HASH_TYPE_L4);
	skb_record_rx_queue(skb, q);
	rq->poll_packets++;
	rq->poll_bytes += len;
	napi_gro_receive(&rq->napi, skb);
	return 0;
}

int rhv_netvsc_rx(struct net_device *ndev, u16 q, const u8 *data, u32 len, u32 hash,
		  bool csum_ok)
{
	return rhv_netvsc_rx_copy(ndev, q, data, NULL, 0, 0, len, hash, csum_ok);
}

int rhv_netvsc_rx_buf(struct net_device *ndev, u16 q, const u64 *pfns, u32 npfns, u32 offset,
		      u32 len, u32 hash, bool csum_ok)
{
	return rhv_netvsc_rx_copy(ndev, q, NULL, pfns, npfns, offset, len, hash, csum_ok);
}

void rhv_netvsc_rx_dropped(struct net_device *ndev)
{
	atomic_long_inc(&priv_of(ndev)->rx_dropped);
}

void rhv_netvsc_tx_stop(struct net_device *ndev, u16 q)
{
	if (q < ndev->num_tx_queues)
		netif_tx_stop_queue(netdev_get_tx_queue(ndev, q));
}

void rhv_netvsc_tx_wake(struct net_device *ndev, u16 q)
{
	if (q < ndev->real_num_tx_queues && netif_running(ndev))
		netif_tx_wake_queue(netdev_get_tx_queue(ndev, q));
}

/* Stops transmission and waits for running ndo_start_xmit calls (RTNL held). */
void rhv_netvsc_detach(struct net_device *ndev)
{
	netif_device_detach(ndev);
	netif_tx_disable(ndev);
}

void rhv_netvsc_attach(struct net_device *ndev)
{
	netif_device_attach(ndev);
}

bool rhv_netvsc_running(struct net_device *ndev)
{
	return netif_running(ndev);
}

u32 rhv_netvsc_online_cpus(void)
{
	return num_online_cpus();
}

u32 rhv_netvsc_mtu(struct net_device *ndev)
{
	return READ_ONCE(ndev->mtu);
}

/* Inside ndo_start_xmit: whether the stack is about to hand over more frames. */
bool rhv_netvsc_xmit_more(void)
{
	return netdev_xmit_more();
}

u32 rhv_netvsc_skb_len(struct sk_buff *skb)
{
	return skb->len;
}

/*
 * The pages of the skb's data, linearised first, as 4 KiB PFNs (x86: PAGE_SIZE is the
 * Hyper-V page size): the count, or a negative errno; `*offset` is the offset into the first.
 */
int rhv_netvsc_skb_pages(struct sk_buff *skb, u64 *pfns, u32 max, u32 *offset)
{
	unsigned long start;
	u32 n, i;

	if (skb_linearize(skb))
		return -ENOMEM;
	start = (unsigned long)skb->data;
	*offset = offset_in_page(start);
	n = DIV_ROUND_UP(*offset + skb->len, PAGE_SIZE);
	if (n > max)
		return -EMSGSIZE;
	for (i = 0; i < n; i++)
		pfns[i] = (virt_to_phys(skb->data) >> PAGE_SHIFT) + i;
	return n;
}

void rhv_netvsc_skb_free(struct sk_buff *skb)
{
	dev_kfree_skb_any(skb);
}

/* A sent skb the host completed, freed from a NAPI poll (its head cached for reuse). */
void rhv_netvsc_skb_consume_napi(struct sk_buff *skb)
{
	napi_consume_skb(skb, 1);
}
