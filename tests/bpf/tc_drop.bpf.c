/* SPDX-License-Identifier: MIT */
/*
 * Fault injector for the TCP fault tests (tests/integration/faults.py) and
 * the browser tests' lossy download (tests/e2e/netlab.py), both through
 * tests/lib/tcdrop.py.
 *
 * This program is not part of htracr: it sits on the egress of the server's
 * veth end, as a tc clsact direct-action filter, and throws away chosen
 * packets the server sends, so that the client-side capture holds real
 * retransmissions, duplicate ACKs and SYN retries made by the kernel's own
 * TCP. The kernel has no netem, hence this.
 *
 * What it drops is fixed at compile time; the test compiles one object per
 * fault with one of:
 *   -DDROP_NTH_DATA=N   the Nth data-carrying TCP segment from port 80 (once)
 *   -DDROP_PERCENT=P    about P % of the data-carrying segments from port 80
 *                       (at most DROP_MAX of them, so a run stays bounded)
 *   -DDROP_SYNACK_ONCE  the first SYN/ACK from port 80
 * Without any, it only counts.
 *
 * A drop returns TC_ACT_STOLEN, not TC_ACT_SHOT: for SHOT the egress hook
 * reports NET_XMIT_DROP to the sender's TCP, which then knows the segment
 * never left and sends it again at once, so the wire (and the capture) never
 * shows a loss. STOLEN frees the packet but reports success, like a loss on
 * the path.
 *
 * The array map `counters` tells the test what happened, so it knows exactly
 * how many packets it removed: [0] packets dropped, [1] data segments from
 * port 80 seen, [2] SYN/ACKs from port 80 seen, [3] packets too short to
 * parse, [4] the raw TCP sequence number of the last packet dropped. Every
 * header is read only after a bounds check against data_end.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef SERVER_PORT
#define SERVER_PORT 80
#endif
#ifndef DROP_MAX
#define DROP_MAX 200
#endif

enum { C_DROPPED, C_DATA_SEEN, C_SYNACK_SEEN, C_SHORT, C_LAST_SEQ, C_NR };

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, C_NR);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

/* Adds 1 to counter i and returns its value before the add (0 when the map
 * lookup fails, which it cannot for an in-range array index). */
/* Records that this packet is being dropped. */
static __always_inline __attribute__((unused)) void drop_note(const struct tcphdr *tcp)
{
    __u32 i = C_LAST_SEQ;
    __u64 *v = bpf_map_lookup_elem(&counters, &i);

    if (v)
        *v = bpf_ntohl(tcp->seq);
    i = C_DROPPED;
    v = bpf_map_lookup_elem(&counters, &i);
    if (v)
        __sync_fetch_and_add(v, 1);
}

static __always_inline __u64 counter_inc(__u32 i)
{
    __u64 *v = bpf_map_lookup_elem(&counters, &i);

    if (!v)
        return 0;
    return __sync_fetch_and_add(v, 1);
}

/* unused in the counting-only variant */
static __always_inline __attribute__((unused)) __u64 counter_get(__u32 i)
{
    __u64 *v = bpf_map_lookup_elem(&counters, &i);

    return v ? *v : 0;
}

SEC("tc")
int tc_drop(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip;
    struct tcphdr *tcp;
    __u32 ihl, doff, tot, payload;

    if ((void *)(eth + 1) > data_end)
        goto short_pkt;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return TC_ACT_OK;
    ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end)
        goto short_pkt;
    if (ip->protocol != IPPROTO_TCP)
        return TC_ACT_OK;
    ihl = ip->ihl * 4;
    if (ihl < sizeof(*ip))
        goto short_pkt;
    tcp = (void *)ip + ihl;
    if ((void *)(tcp + 1) > data_end)
        goto short_pkt;
    if (tcp->source != bpf_htons(SERVER_PORT))
        return TC_ACT_OK;
    doff = tcp->doff * 4;
    tot = bpf_ntohs(ip->tot_len);
    /* the payload length comes from the IP header, not from data_end: a GSO
     * packet's linear part can be shorter than the whole packet */
    if (doff < sizeof(*tcp) || tot < ihl + doff)
        goto short_pkt;
    payload = tot - ihl - doff;

    if (tcp->syn && tcp->ack) {
        __u64 n = counter_inc(C_SYNACK_SEEN);

#ifdef DROP_SYNACK_ONCE
        if (n == 0) {
            drop_note(tcp);
            return TC_ACT_STOLEN;
        }
#endif
        (void)n;
        return TC_ACT_OK;
    }
    if (payload == 0)
        return TC_ACT_OK;
    {
        __u64 n = counter_inc(C_DATA_SEEN) + 1;

        (void)n;
#ifdef DROP_NTH_DATA
        if (n == DROP_NTH_DATA && counter_get(C_DROPPED) == 0) {
            drop_note(tcp);
            return TC_ACT_STOLEN;
        }
#endif
#ifdef DROP_PERCENT
        if (bpf_get_prandom_u32() % 100 < DROP_PERCENT && counter_get(C_DROPPED) < DROP_MAX) {
            drop_note(tcp);
            return TC_ACT_STOLEN;
        }
#endif
    }
    return TC_ACT_OK;

short_pkt:
    counter_inc(C_SHORT);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
