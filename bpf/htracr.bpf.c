/* SPDX-License-Identifier: MIT */
/*
 * htracr.bpf.c - the kernel half of live capture: one filter, two ways in.
 *
 * Either a socket filter, attached with SO_ATTACH_BPF to one AF_PACKET
 * socket (all interfaces or one), or, on one named interface, two tc
 * programs attached as TCX links to its ingress and egress hooks (Linux 6.6
 * and later; capture_bpf.c says when it takes which). Either is the very
 * first stage of the pipeline. For every packet it sees it decides whether
 * htracr wants it: TCP with either port in
 * the `ports` map (userspace may change it while running), or UDP port 53
 * when built for DNS, and only while `ctl[0].enabled` is set. A selected
 * packet is copied, header (struct htracr_rec, bpf/htracr.h) and bytes, into
 * the one BPF ring buffer `rb`. The socket filter always returns 0, so
 * nothing is ever queued on the socket itself and userspace reads only the
 * ring; the tc programs always return TCX_NEXT, so the packet goes on as if
 * they were not there.
 *
 * Design points:
 * - Size classes. A reservation must have a constant size, and reserving
 *   64 KiB for every ACK would fill the ring with air. So the record is
 *   reserved in the smallest of 14 classes (128 B .. 64 KiB) that holds
 *   the bytes to copy, and bpf_skb_load_bytes copies a length bounded by the
 *   class. bpf_skb_load_bytes also reads paged data, so GSO/GRO
 *   super-segments (normal on loopback and veth) arrive whole.
 * - Headers are parsed relative to the network header (skb->protocol gives
 *   the type), which works whether or not the device has a link header and
 *   whether or not the kernel already took a VLAN tag off. Where the copied
 *   bytes start is found once per selected packet by comparing the network
 *   header with the bytes at the usual link header lengths.
 * - Loopback: every packet shows up twice on lo (PACKET_OUTGOING, then the
 *   incoming copy). The outgoing copy is dropped here, as libpcap does, so
 *   the timestamps match what tcpdump shows.
 * - Body skip: for a flow direction in the `skip` map, a TCP segment whose
 *   whole payload lies before until_seq gets its headers copied and its
 *   payload only counted (htracr_rec.skipped). The entry is removed once a
 *   segment starts at or past until_seq.
 * - Wakeups: records are submitted with BPF_RB_NO_WAKEUP (userspace polls
 *   with a short timeout) unless the record takes the ring past wake_bytes
 *   full, or the record is a response's first segment and this CPU forced
 *   no wakeup in the last wake_gap_ns (the body-skip hint is made from it).
 * - Every packet lost on the way is counted in the per-CPU `counters` map.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "htracr.h"

#define AF_INET 2
#define AF_INET6 10
#define IP_OFFSET_MASK 0x1fff
#define IP6_MAX_EXT 6

/* Set by userspace before load. */
const volatile __u32 lo_ifindex = 1; /* loopback device of the socket's netns */
const volatile __u32 dns = 0;        /* also select UDP port 53 */
const volatile __u32 snaplen = HTRACR_MAX_CAP;
const volatile __u64 wake_bytes = 256 << 10; /* force a wakeup past this fill */
/* A response's first segment forces a wakeup only this long after this
 * CPU's last forced one: under a stream of small responses a wakeup for
 * each would cost more than all the rest (measured: 11k a second and five
 * times the CPU at 7k requests/s; with 2 ms, 500 a second and about
 * 0.1-0.2 us more a packet under bench/live's wrk). With the consumer's
 * 10 ms poll, a busy capture wakes about as often as before, and a quiet
 * one (polling every 100 ms) still wakes at once for a response. */
const volatile __u64 wake_gap_ns = 10000000;
const volatile __u32 tai_clock = 1; /* bpf_ktime_get_tai_ns exists (5.19+) */

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 8 << 20); /* resized by userspace */
} rb SEC(".maps");

/* An array indexed by port rather than a hash: a direct load, no hashing,
 * on the path of every TCP packet (two lookups each). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 65536);
    __type(key, __u32);  /* TCP port, host order */
    __type(value, __u8); /* non-zero: selected */
} ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct htracr_ctl);
} ctl SEC(".maps");

/* LRU rather than a plain hash: a flow that ends before its until_seq (a
 * reset, an aborted download) would otherwise keep its entry for ever. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct htracr_flow);
    __type(value, struct htracr_skip);
} skip SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct htracr_counters);
} counters SEC(".maps");

/* What the parser found, offsets relative to the network header. */
struct pkt {
    struct htracr_flow flow;
    __u32 l4off;  /* TCP / UDP header */
    __u32 ip_end; /* end of the IP packet by its length field; 0: unknown */
    __u32 paylen; /* TCP payload offset, relative to the network header */
    __u32 seq;    /* TCP sequence number, host order */
    __u8 l4proto;
    __u8 have_net; /* net[] holds the first 16 bytes at the network header */
    __u8 have_th;  /* th holds the TCP header (loaded with the IPv4 header) */
    __u64 net[2];
    struct tcphdr th;
};

static __always_inline int parse_l3(struct __sk_buff *skb, struct pkt *p)
{
    __u16 proto = bpf_ntohs((__u16)skb->protocol);
    __u32 off = 0;
    __u8 nexthdr;

#pragma unroll
    for (int i = 0; i < 2; i++) {
        __u16 tag[2];

        if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
            break;
        if (bpf_skb_load_bytes_relative(skb, off, tag, sizeof(tag), BPF_HDR_START_NET) < 0)
            return -1;
        proto = bpf_ntohs(tag[1]);
        off += 4;
    }

    if (proto == ETH_P_IP) {
        /* The IPv4 header and, when it has no options (nearly always), the
         * TCP header after it in one load: each helper call is a good part
         * of what the filter costs the packet's path. */
        struct {
            struct iphdr ip;
            struct tcphdr th;
        } h;
        struct iphdr ip;
        __u32 hl;

        if (bpf_skb_load_bytes_relative(skb, off, &h, sizeof(h), BPF_HDR_START_NET) == 0) {
            ip = h.ip;
            if (ip.ihl == 5 && ip.protocol == IPPROTO_TCP) {
                p->th = h.th;
                p->have_th = 1;
            }
        } else if (bpf_skb_load_bytes_relative(skb, off, &ip, sizeof(ip), BPF_HDR_START_NET) < 0) {
            return -1;
        }
        if (off == 0) {
            __builtin_memcpy(p->net, &ip, sizeof(p->net));
            p->have_net = 1;
        }
        hl = ip.ihl * 4;
        if (ip.version != 4 || hl < sizeof(ip))
            return -1;
        if (bpf_ntohs(ip.frag_off) & IP_OFFSET_MASK)
            return -1; /* no L4 header here */
        p->flow.family = AF_INET;
        __builtin_memcpy(p->flow.saddr, &ip.saddr, 4);
        __builtin_memcpy(p->flow.daddr, &ip.daddr, 4);
        p->l4proto = ip.protocol;
        p->l4off = off + hl;
        p->ip_end = bpf_ntohs(ip.tot_len) ? off + bpf_ntohs(ip.tot_len) : 0;
        return 0;
    }
    if (proto != ETH_P_IPV6)
        return -1;

    struct ipv6hdr ip6;
    __u16 plen;

    if (bpf_skb_load_bytes_relative(skb, off, &ip6, sizeof(ip6), BPF_HDR_START_NET) < 0)
        return -1;
    if (ip6.version != 6)
        return -1;
    if (off == 0) {
        __builtin_memcpy(p->net, &ip6, sizeof(p->net));
        p->have_net = 1;
    }
    p->flow.family = AF_INET6;
    __builtin_memcpy(p->flow.saddr, &ip6.saddr, 16);
    __builtin_memcpy(p->flow.daddr, &ip6.daddr, 16);
    plen = bpf_ntohs(ip6.payload_len);
    p->ip_end = plen ? off + sizeof(ip6) + plen : 0;
    off += sizeof(ip6);
    nexthdr = ip6.nexthdr;

#pragma unroll
    for (int i = 0; i < IP6_MAX_EXT; i++) {
        __u8 ext[4];

        if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING &&
            nexthdr != IPPROTO_DSTOPTS && nexthdr != IPPROTO_FRAGMENT && nexthdr != IPPROTO_AH)
            break;
        if (bpf_skb_load_bytes_relative(skb, off, ext, sizeof(ext), BPF_HDR_START_NET) < 0)
            return -1;
        if (nexthdr == IPPROTO_FRAGMENT) {
            /* a fragment other than the first carries no L4 header */
            if ((((__u16)ext[2] << 8) | ext[3]) & 0xfff8)
                return -1;
            off += 8;
        } else if (nexthdr == IPPROTO_AH) {
            off += ((__u32)ext[1] + 2) * 4;
        } else {
            off += ((__u32)ext[1] + 1) * 8;
        }
        nexthdr = ext[0];
    }
    p->l4proto = nexthdr;
    p->l4off = off;
    return 0;
}

/* Where the network header starts in the bytes the socket sees: 14 on
 * Ethernet-like devices (more when VLAN tags stayed in the frame), 0 on
 * devices without a link header. -1: not found. The first bytes at the
 * network header come from the parse when it read them already. */
static __always_inline int net_offset(struct __sk_buff *skb, const struct pkt *p)
{
    static const __u32 cand[] = {14, 0, 18, 22};
    __u64 net[2], at[2];

    if (p->have_net) {
        net[0] = p->net[0];
        net[1] = p->net[1];
    } else if (bpf_skb_load_bytes_relative(skb, 0, net, sizeof(net), BPF_HDR_START_NET) < 0) {
        return -1;
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        if (bpf_skb_load_bytes(skb, cand[i], at, sizeof(at)) < 0)
            continue;
        if (at[0] == net[0] && at[1] == net[1])
            return cand[i];
    }
    return -1;
}

/* Reserve a record of class size cls, copy len bytes into it, submit.
 * woff: where a TCP payload starts in the copied bytes (0: none); a payload
 * starting "HTTP/" is a response's first segment (HTRACR_F_WAKE), read from
 * the copy rather than with one more helper call. */
static __always_inline void emit(struct __sk_buff *skb, struct htracr_counters *c,
                                 const struct htracr_rec *h, __u32 len, __u32 woff, const __u32 cls)
{
    struct htracr_rec *r;
    __u64 flags, avail;
    int wake = 0;

    r = bpf_ringbuf_reserve(&rb, sizeof(*r) + cls, 0);
    if (!r) {
        c->ring_fail++;
        return;
    }
    /* The verifier must see the bound on the very register passed on: keep
     * the compiler from reusing a copy checked only in the caller. */
    asm volatile("" : "+r"(len));
    if (len > cls)
        len = cls;
    if (len < 1)
        len = 1;
    if (bpf_skb_load_bytes(skb, 0, r + 1, len) < 0) {
        c->load_fail++;
        bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
        return;
    }
    *r = *h;
    r->cap_len = len;
    asm volatile("" : "+r"(woff));
    if (woff && woff <= cls - 5 && woff + 5 <= len) {
        const __u8 *b = (const __u8 *)(r + 1) + woff;

        if (b[0] == 'H' && b[1] == 'T' && b[2] == 'T' && b[3] == 'P' && b[4] == '/') {
            r->flags |= HTRACR_F_WAKE;
            wake = 1;
        }
    }
    /* Past the fill threshold, the record that crosses it forces the
     * wakeup; the ones after it do not, or a consumer that is late (busy,
     * or not given a CPU) had an irq_work self-IPI a packet on every CPU
     * until it caught up: 7,000-17,000 a second under bench/live's wrk
     * with htracr at SCHED_IDLE, 300-1,300 at the default. epoll keeps a
     * wakeup that comes while the consumer is busy, so one is enough. Two
     * CPUs reserving at once can both see the fill past their own record
     * and miss the crossing: then a forced wakeup at most every
     * wake_gap_ns on this CPU while the ring stays past the threshold. */
    flags = BPF_RB_NO_WAKEUP;
    avail = bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);
    if (avail >= wake_bytes && (avail - (sizeof(*r) + cls + BPF_RINGBUF_HDR_SZ) < wake_bytes ||
                                h->ts_ns - c->last_wake_ns >= wake_gap_ns)) {
        flags = BPF_RB_FORCE_WAKEUP;
        c->fill_wakes++;
    } else if (wake && h->ts_ns - c->last_wake_ns >= wake_gap_ns) {
        flags = BPF_RB_FORCE_WAKEUP;
        c->resp_wakes++;
    }
    if (flags == BPF_RB_FORCE_WAKEUP)
        c->last_wake_ns = h->ts_ns;
    bpf_ringbuf_submit(r, flags);
    c->records++;
    c->skipped_bytes += h->skipped;
}

static __always_inline int port_selected(__u16 port)
{
    __u32 k = port;
    __u8 *v = bpf_map_lookup_elem(&ports, &k);

    return v && *v;
}

/* The filter proper, the same at every attach point: select the packet,
 * copy it into the ring, count. pkt_type goes into the record: the
 * packet's own, or PACKET_OUTGOING at the tc egress hook, where the skb
 * has not been given one. */
static __always_inline void capture(struct __sk_buff *skb, struct htracr_counters *c, __u8 pkt_type)
{
    struct htracr_ctl *on;
    struct htracr_rec h = {};
    struct pkt p = {};
    __u32 zero = 0, len, poff, end, woff = 0;
    int noff;

    c->seen++;
    on = bpf_map_lookup_elem(&ctl, &zero);
    if (!on || !on->enabled)
        return;

    if (parse_l3(skb, &p) < 0)
        return;
    if (p.l4proto == IPPROTO_TCP) {
        struct tcphdr th;
        __u32 thl;

        if (p.have_th)
            th = p.th;
        else if (bpf_skb_load_bytes_relative(skb, p.l4off, &th, sizeof(th), BPF_HDR_START_NET) < 0)
            return;
        p.flow.sport = bpf_ntohs(th.source);
        p.flow.dport = bpf_ntohs(th.dest);
        if (!port_selected(p.flow.dport) && !port_selected(p.flow.sport))
            return;
        thl = th.doff * 4;
        if (thl < sizeof(th))
            return;
        p.paylen = p.l4off + thl; /* payload offset for now */
        p.seq = bpf_ntohl(th.seq);
    } else if (p.l4proto == IPPROTO_UDP && dns) {
        struct udphdr uh;

        if (bpf_skb_load_bytes_relative(skb, p.l4off, &uh, sizeof(uh), BPF_HDR_START_NET) < 0)
            return;
        if (uh.source != bpf_htons(53) && uh.dest != bpf_htons(53))
            return;
    } else {
        return;
    }
    c->matched++;

    noff = net_offset(skb, &p);
    if (noff < 0) {
        c->load_fail++;
        return;
    }
    /* A response's headers wake userspace at once rather than waiting for
     * the batch: the body-skip hint is made from them, and every packet of a
     * fast download queued before it is copied whole. emit() looks for
     * "HTTP/" at woff, the payload's start, in the bytes it copied (TCP's
     * payload is in page fragments, which only bpf_skb_load_bytes reads;
     * the _relative helper never saw "HTTP/" live). Not for a bare ACK. */
    if (p.l4proto == IPPROTO_TCP && (!p.ip_end || p.ip_end > p.paylen))
        woff = noff + p.paylen;
    h.ts_ns = tai_clock ? bpf_ktime_get_tai_ns() : bpf_ktime_get_boot_ns();
    h.ifindex = skb->ifindex;
    h.wire_len = skb->len;
    h.pkt_type = pkt_type;
    h.link = noff ? HTRACR_LINK_ETH : HTRACR_LINK_RAW;
    len = skb->len;

    if (p.l4proto == IPPROTO_TCP && on->skip_active) {
        struct htracr_skip *sk = bpf_map_lookup_elem(&skip, &p.flow);

        if (sk) {
            /* payload: from the TCP payload to the end of the IP packet
             * (its length field, so Ethernet padding is not counted; the
             * skb length when the field is 0, as with BIG TCP) */
            poff = noff + p.paylen;
            end = p.ip_end ? noff + p.ip_end : skb->len;
            if (end > skb->len)
                end = skb->len;
            if (end > poff) {
                __u32 pl = end - poff;

                if ((__s32)(p.seq - sk->from_seq) >= 0 &&
                    (__s32)(sk->until_seq - (p.seq + pl)) >= 0) {
                    len = poff;
                    h.skipped = pl;
                    h.flags |= HTRACR_F_SKIP;
                } else if ((__s32)(p.seq - sk->until_seq) >= 0) {
                    bpf_map_delete_elem(&skip, &p.flow);
                }
            }
        }
    }
    if (len > snaplen) {
        len = snaplen;
        h.flags |= HTRACR_F_TRUNC;
        c->truncated++;
    }
    if (len > HTRACR_MAX_CAP) {
        len = HTRACR_MAX_CAP;
        if (!(h.flags & HTRACR_F_TRUNC)) {
            h.flags |= HTRACR_F_TRUNC;
            c->truncated++;
        }
    }

    if (len <= 128)
        emit(skb, c, &h, len, woff, 128);
    else if (len <= 256)
        emit(skb, c, &h, len, woff, 256);
    else if (len <= 512)
        emit(skb, c, &h, len, woff, 512);
    else if (len <= 1536)
        emit(skb, c, &h, len, woff, 1536);
    else if (len <= 4096)
        emit(skb, c, &h, len, woff, 4096);
    /* GSO/GRO super-segments: any number of segments up to 64 KiB. In
     * steps of 4 KiB, then 8 KiB, a record wastes at most a third of its
     * slot (with 16 KiB and 64 KiB alone, a 17 KiB one took 64 KiB, and a
     * burst of them overflowed a small ring that had the room). */
    else if (len <= 8192)
        emit(skb, c, &h, len, woff, 8192);
    else if (len <= 12288)
        emit(skb, c, &h, len, woff, 12288);
    else if (len <= 16384)
        emit(skb, c, &h, len, woff, 16384);
    else if (len <= 24576)
        emit(skb, c, &h, len, woff, 24576);
    else if (len <= 32768)
        emit(skb, c, &h, len, woff, 32768);
    else if (len <= 40960)
        emit(skb, c, &h, len, woff, 40960);
    else if (len <= 49152)
        emit(skb, c, &h, len, woff, 49152);
    else if (len <= 57344)
        emit(skb, c, &h, len, woff, 57344);
    else
        emit(skb, c, &h, len, woff, HTRACR_MAX_CAP);
}

/* Attached with SO_ATTACH_BPF to an AF_PACKET socket: on all interfaces,
 * or on one whose hooks cannot be used (capture_bpf.c). It returns 0, the
 * socket's "take nothing". */
SEC("socket")
int htracr_filter(struct __sk_buff *skb)
{
    struct htracr_counters *c;
    __u32 zero = 0;

    c = bpf_map_lookup_elem(&counters, &zero);
    if (!c)
        return 0;
    if (skb->pkt_type == PACKET_OUTGOING && skb->ifindex == lo_ifindex) {
        c->lo_dups++;
        return 0;
    }
    capture(skb, c, skb->pkt_type);
    return 0;
}

/* Attached as TCX links to one interface's ingress and egress hooks. The
 * packet reaches them without the packet socket's costs: no clone of every
 * outgoing skb for the socket (dev_queue_xmit_nit), no delivery to it.
 * TCX_NEXT (-1): the packet goes on to the next program and the legacy tc
 * filters, untouched, whatever this program did. On lo only ingress is
 * attached: every packet on it goes out and comes back in. */
#define TCX_NEXT (-1)

/* capture() with this CPU's counters; TCX_NEXT whatever it did. */
static __always_inline int capture_at_tc(struct __sk_buff *skb, __u8 pkt_type)
{
    __u32 zero = 0;
    struct htracr_counters *c = bpf_map_lookup_elem(&counters, &zero);

    if (c)
        capture(skb, c, pkt_type);
    return TCX_NEXT;
}

SEC("tc")
int htracr_tc_in(struct __sk_buff *skb)
{
    return capture_at_tc(skb, skb->pkt_type);
}

SEC("tc")
int htracr_tc_out(struct __sk_buff *skb)
{
    return capture_at_tc(skb, PACKET_OUTGOING);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
