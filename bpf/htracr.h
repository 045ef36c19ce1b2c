/* SPDX-License-Identifier: MIT */
/*
 * htracr.h - what the kernel-side socket filter (bpf/htracr.bpf.c) and its
 * user side (src/capture_bpf.c) share: the ring buffer record, the map
 * keys and values, the counters.
 *
 * The filter is the first thing a live packet meets. For every packet it
 * selects, it writes one record into the BPF ring buffer: struct
 * htracr_rec, then cap_len bytes of the packet as the AF_PACKET socket sees
 * it (from the link header on Ethernet-like devices, from the IP header on
 * devices without one). Reservations come in a few fixed size classes, so a
 * record's length in the ring may exceed sizeof(struct htracr_rec) +
 * cap_len; the bytes past cap_len are undefined.
 *
 * Only fixed-width types here: the same layout is compiled by clang for the
 * BPF target and by the host compiler.
 */
#ifndef HTRACR_BPF_H
#define HTRACR_BPF_H

#include <linux/types.h>

/* Largest packet copied whole: a 64 KiB IP packet (GSO / GRO super-segments
 * on loopback and veth) plus its link header and two VLAN tags, rounded up. */
#define HTRACR_MAX_CAP (65536 + 64)

/* htracr_rec.link: where the copied bytes start. */
enum htracr_link {
    HTRACR_LINK_ETH = 1, /* 14-byte Ethernet header (loopback's is all zeros) */
    HTRACR_LINK_RAW = 2, /* the IPv4 / IPv6 header, no link header */
};

/* htracr_rec.flags */
#define HTRACR_F_TRUNC 0x1 /* cap_len < wire_len for another reason than skipping */
#define HTRACR_F_SKIP 0x2  /* payload left out on purpose (skipped > 0) */
#define HTRACR_F_WAKE                                                                              \
    0x4 /* TCP payload starting "HTTP/": a response's headers,                                     \
         * submitted with a forced wakeup (see the filter) */

struct htracr_rec {
    __u64 ts_ns;    /* CLOCK_TAI ns (or CLOCK_BOOTTIME ns when tai_clock is 0) */
    __u32 ifindex;  /* device the packet was seen on */
    __u32 wire_len; /* length of the packet as the socket sees it */
    __u32 cap_len;  /* bytes that follow this header */
    __u32 skipped;  /* TCP payload bytes left out on purpose (body skip) */
    __u16 pkt_type; /* PACKET_HOST, PACKET_OUTGOING, ... (linux/if_packet.h) */
    __u16 link;     /* enum htracr_link */
    __u32 flags;    /* HTRACR_F_* */
};

/* Key of the `skip` map: one direction of one TCP flow. Addresses in network
 * order (IPv4 in the first 4 bytes, the rest zero), ports in host order.
 * Zero the whole key before filling it: the padding is part of the hash. */
struct htracr_flow {
    __u8 saddr[16];
    __u8 daddr[16];
    __u16 sport;
    __u16 dport;
    __u8 family; /* AF_INET (2) or AF_INET6 (10) */
    __u8 pad[3];
};

/* Value of the `skip` map: a TCP segment whose payload lies wholly in
 * [from_seq, until_seq) (absolute sequence numbers, compared modulo 2^32) has
 * its payload left out. from_seq lets userspace set the hint as soon as a
 * body's headers are parsed, keeping the part of the body it still wants. */
struct htracr_skip {
    __u32 from_seq;
    __u32 until_seq;
};

/* One slot of the per-CPU `counters` map; userspace sums the CPUs. */
struct htracr_counters {
    __u64 seen;          /* packets the filter ran on (loopback duplicates excluded) */
    __u64 matched;       /* packets selected (port or DNS match, capture on) */
    __u64 ring_fail;     /* matched packets lost: no room in the ring buffer */
    __u64 skipped_bytes; /* TCP payload bytes left out by body skipping */
    __u64 records;       /* records submitted */
    __u64 load_fail;     /* packets whose bytes could not be read (not expected) */
    __u64 truncated;     /* records cut at the snap length */
    __u64 lo_dups;       /* loopback outgoing copies dropped */
    __u64 resp_wakes;    /* records of a response's first segment that forced a wakeup */
    __u64 fill_wakes;    /* records that forced a wakeup as the ring passed wake_bytes */
    __u64 last_wake_ns;  /* not a counter: when this CPU last forced a wakeup */
};

/* Index 0 of the `ctl` array map. */
struct htracr_ctl {
    __u32 enabled;     /* 0: count packets, select none */
    __u32 skip_active; /* userspace has written a skip entry: look the map up */
};

#endif
