/* SPDX-License-Identifier: MIT */
/*
 * decode.h - link, IP and TCP/UDP headers of one captured record.
 *
 * Second stage. Input: a capture_rec's bytes and link type. Output: a
 * struct decoded with addresses, ports, TCP fields and options, and a pointer
 * to the captured payload (borrowed from the record). Every length from the
 * wire is checked against what was captured; every malformed case is a named
 * counter in struct decode_stats, never a crash. Checksums are not verified
 * (offloaded or bad checksums are common in captures and must not lose data).
 */
#ifndef HTRACR_DECODE_H
#define HTRACR_DECODE_H

#include <stdint.h>
#include <stddef.h>

struct capture_rec;

enum {
    TCPF_FIN = 0x01,
    TCPF_SYN = 0x02,
    TCPF_RST = 0x04,
    TCPF_PSH = 0x08,
    TCPF_ACK = 0x10,
    TCPF_URG = 0x20,
    TCPF_ECE = 0x40,
    TCPF_CWR = 0x80,
    TCPF_AE = 0x100
};

/* An address: family 4 or 6; IPv4 in the first 4 bytes, rest zero. */
struct ip_addr {
    uint8_t family;
    uint8_t a[16];
};

#define DECODE_MAX_SACK 4

struct tcp_opts {
    uint16_t mss; /* 0 = absent */
    uint8_t has_mss, has_wscale, wscale, sack_perm, has_ts;
    uint8_t nsack; /* SACK blocks present (<= DECODE_MAX_SACK) */
    uint32_t tsval, tsecr;
    uint32_t sack[DECODE_MAX_SACK][2]; /* [left, right) absolute seq */
};

struct decoded {
    int64_t ts_ns;
    uint8_t proto; /* 6 TCP, 17 UDP */
    struct ip_addr src, dst;
    uint16_t sport, dport;
    uint8_t ip_frag; /* 1 when this is a non-first fragment or MF set */
    uint32_t wirelen;
    /* TCP */
    uint32_t seq, ack;
    uint16_t flags;  /* TCPF_* */
    uint16_t window; /* raw field, unscaled */
    struct tcp_opts opt;
    /* payload: seg_len is the TCP payload length from the IP header (what the
     * sender sent); cap_len <= seg_len of it was captured at payload. */
    const uint8_t *payload;
    uint32_t seg_len;
    uint32_t cap_len;
    uint8_t skipped; /* the payload was left out on purpose (body skip):
                      * known to the sender's HTTP, not lost */
};

/* Result of decode_packet(). */
enum decode_result {
    DECODE_TCP = 0,
    DECODE_UDP = 1,
    DECODE_OTHER = 2, /* well-formed but not TCP/UDP over IP (ARP, ICMP...) */
    DECODE_ERROR = 3, /* malformed: a counter in decode_stats says which */
};

/* Named counters for everything decode drops or notes. */
struct decode_stats {
    uint64_t packets;
    uint64_t tcp, udp, other;
    uint64_t unknown_linktype;
    uint64_t truncated_link;    /* link header cut short */
    uint64_t truncated_ip;      /* IP header cut short, or bad IHL / version */
    uint64_t bad_ip_length;     /* IP total/payload length absurd */
    uint64_t ipv6_ext_bad;      /* extension header chain malformed or too long */
    uint64_t ip_fragments;      /* fragments: counted, not reassembled */
    uint64_t truncated_tcp;     /* TCP header cut short */
    uint64_t bad_tcp_offset;    /* data offset < 5 or past the segment */
    uint64_t bad_tcp_options;   /* option with a bad length (parsing stops) */
    uint64_t truncated_payload; /* captured less than the segment length */
};

/* Decode one record. On DECODE_TCP/DECODE_UDP *out is filled; payload points
 * into rec->data. Counters in *st are updated (st may not be NULL). */
enum decode_result decode_packet(const struct capture_rec *rec, struct decoded *out,
                                 struct decode_stats *st);

/* The same without the fast path for the common Ethernet/IPv4/TCP packet:
 * every packet goes through the decoder of each layer. Same results and
 * counters as decode_packet(); there for tests that compare the two. */
enum decode_result decode_packet_general(const struct capture_rec *rec, struct decoded *out,
                                         struct decode_stats *st);

/* Format an address ("192.0.2.1" or "2001:db8::1") into buf (>= 46 bytes). */
const char *decode_addr_str(const struct ip_addr *a, char *buf, size_t len);

#endif
