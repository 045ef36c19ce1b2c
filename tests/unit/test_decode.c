/* SPDX-License-Identifier: MIT */
/*
 * test_decode.c - unit tests for decode.c: hand-built packets for every link
 * type, VLAN stacks, IPv4 options and fragments, IPv6 extension headers, each
 * TCP option, bad lengths, and a truncation sweep that decodes every prefix
 * of full packets from an exactly-sized heap copy (run under
 * -fsanitize=address, any read past caplen is a crash). The last test runs
 * the decoder over the shared capture corpus when it is present.
 */
#include <dirent.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testlib.h"
#include "htracr/capture.h"
#include "htracr/decode.h"

/* ---- packet builder ---- */

struct pb {
    uint8_t b[4096];
    uint32_t n;
};

static void pb_put(struct pb *p, const void *d, size_t n)
{
    if (n == 0) return;
    memcpy(p->b + p->n, d, n);
    p->n += (uint32_t)n;
}

static void pb_u8(struct pb *p, unsigned v)
{
    p->b[p->n++] = (uint8_t)v;
}

static void pb_be16(struct pb *p, unsigned v)
{
    pb_u8(p, v >> 8);
    pb_u8(p, v);
}

static void pb_be32(struct pb *p, uint32_t v)
{
    pb_be16(p, v >> 16);
    pb_be16(p, v & 0xffff);
}

/* Prepend: out = hdr + in. */
static void pb_wrap(struct pb *in, const struct pb *hdr)
{
    memmove(in->b + hdr->n, in->b, in->n);
    memcpy(in->b, hdr->b, hdr->n);
    in->n += hdr->n;
}

static const char http_get[] = "GET / HTTP/1.1\r\n";
#define HTTP_GET_LEN 16u

/* TCP header + payload: sport 40000, dport 80, fixed seq/ack/window. byte12
 * low bits carry AE (bit 0). */
static void build_tcp(struct pb *p, unsigned flags9, const void *opts, unsigned optlen,
                      const void *payload, unsigned plen)
{
    unsigned doff = (20 + optlen) / 4;

    p->n = 0;
    pb_be16(p, 40000);
    pb_be16(p, 80);
    pb_be32(p, 0x11223344);
    pb_be32(p, 0x55667788);
    pb_u8(p, doff << 4 | (flags9 >> 8 & 1));
    pb_u8(p, flags9 & 0xff);
    pb_be16(p, 0xfaf0);
    pb_be16(p, 0); /* checksum: not verified */
    pb_be16(p, 0);
    pb_put(p, opts, optlen);
    pb_put(p, payload, plen);
}

/* IPv4 around in, with optlen bytes of options (NOPs + EOL) and a total
 * length field (0 = compute). */
static void wrap_ipv4(struct pb *in, unsigned proto, unsigned optlen, int total, unsigned frag)
{
    struct pb h = {.n = 0};
    unsigned hl = 20 + optlen;

    pb_u8(&h, 0x40 | hl / 4);
    pb_u8(&h, 0);
    pb_be16(&h, total >= 0 ? (unsigned)total : hl + in->n);
    pb_be16(&h, 0x1234);
    pb_be16(&h, frag);
    pb_u8(&h, 64);
    pb_u8(&h, proto);
    pb_be16(&h, 0);
    pb_be32(&h, 0xc0000201); /* 192.0.2.1 */
    pb_be32(&h, 0xc6336402); /* 198.51.100.2 */
    for (unsigned i = 0; i < optlen; i++)
        pb_u8(&h, i + 1 == optlen ? 0 : 1);
    pb_wrap(in, &h);
}

/* IPv6 around in, with next header nh (the caller has built any extension
 * headers into in) and a payload length (-1 = compute). */
static void wrap_ipv6(struct pb *in, unsigned nh, int plen)
{
    static const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    static const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, [14] = 0xab, [15] = 0xcd};
    struct pb h = {.n = 0};

    pb_be32(&h, 0x60000000);
    pb_be16(&h, plen >= 0 ? (unsigned)plen : in->n);
    pb_u8(&h, nh);
    pb_u8(&h, 64);
    pb_put(&h, src, 16);
    pb_put(&h, dst, 16);
    pb_wrap(in, &h);
}

static void wrap_eth(struct pb *in, const unsigned *types, int ntypes)
{
    struct pb h = {.n = 0};

    for (int i = 0; i < 12; i++)
        pb_u8(&h, 0x02 + i);
    for (int i = 0; i < ntypes; i++) {
        pb_be16(&h, types[i]);
        if (i + 1 < ntypes) pb_be16(&h, 0x0064 + i); /* TCI: VLAN 100+i */
    }
    pb_wrap(in, &h);
}

static enum decode_result run(const struct pb *p, int linktype, uint32_t wirelen, struct decoded *d,
                              struct decode_stats *st)
{
    struct capture_rec rec = {.ts_ns = 1234567890123456789LL,
                              .linktype = linktype,
                              .data = p->b,
                              .caplen = p->n,
                              .wirelen = wirelen ? wirelen : p->n};

    return decode_packet(&rec, d, st);
}

/* The standard IPv4 TCP segment with MSS/SACK-perm/TS/NOP/WS options and a
 * 16-byte payload. */
static const uint8_t syn_opts[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                   0, 7, 0,    0,    0, 9, 1, 3,  3, 7};

static void build_std_v4(struct pb *p, unsigned flags)
{
    build_tcp(p, flags, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    wrap_ipv4(p, 6, 0, -1, 0x4000);
}

static int check_std_tcp(const struct decoded *d)
{
    return d->proto == 6 && d->sport == 40000 && d->dport == 80 && d->seq == 0x11223344 &&
           d->ack == 0x55667788 && d->window == 0xfaf0 && d->seg_len == HTTP_GET_LEN &&
           d->cap_len == HTTP_GET_LEN && memcmp(d->payload, http_get, HTTP_GET_LEN) == 0 &&
           d->opt.has_mss && d->opt.mss == 1460 && d->opt.sack_perm && d->opt.has_ts &&
           d->opt.tsval == 7 && d->opt.tsecr == 9 && d->opt.has_wscale && d->opt.wscale == 7;
}

/* ---- link types ---- */

TEST(decode_ethernet_ipv4_tcp)
{
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};
    unsigned t[] = {0x0800};
    char buf[64];

    build_std_v4(&p, TCPF_SYN | TCPF_ACK);
    wrap_eth(&p, t, 1);
    CHECK_INT(run(&p, LINK_ETHERNET, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(d.flags, TCPF_SYN | TCPF_ACK);
    CHECK_INT(d.ts_ns, 1234567890123456789LL);
    CHECK_INT(d.wirelen, p.n);
    CHECK_INT(d.ip_frag, 0);
    CHECK_STR(decode_addr_str(&d.src, buf, sizeof(buf)), "192.0.2.1");
    CHECK_STR(decode_addr_str(&d.dst, buf, sizeof(buf)), "198.51.100.2");
    CHECK_INT(st.packets, 1);
    CHECK_INT(st.tcp, 1);
    CHECK_INT(st.truncated_payload, 0);
}

TEST(decode_vlan_stacks)
{
    unsigned one[] = {0x8100, 0x0800};
    unsigned qinq[] = {0x88a8, 0x8100, 0x0800};
    unsigned old_qinq[] = {0x9100, 0x8100, 0x8100, 0x0800};
    unsigned deep[11];
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};

    build_std_v4(&p, TCPF_ACK);
    wrap_eth(&p, one, 2);
    CHECK_INT(run(&p, LINK_ETHERNET, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));

    build_std_v4(&p, TCPF_ACK);
    wrap_eth(&p, qinq, 3);
    CHECK_INT(run(&p, LINK_ETHERNET, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));

    build_std_v4(&p, TCPF_ACK);
    wrap_eth(&p, old_qinq, 4);
    CHECK_INT(run(&p, LINK_ETHERNET, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));

    /* 10 tags: past the bound, not decoded, not a crash */
    for (int i = 0; i < 10; i++)
        deep[i] = 0x8100;
    deep[10] = 0x0800;
    build_std_v4(&p, TCPF_ACK);
    wrap_eth(&p, deep, 11);
    CHECK_INT(run(&p, LINK_ETHERNET, 0, &d, &st), DECODE_OTHER);
    CHECK_INT(st.tcp, 3);
    CHECK_INT(st.other, 1);
}

TEST(decode_ethernet_non_ip)
{
    unsigned arp[] = {0x0806};
    unsigned llc[] = {0x0030}; /* 802.3 length field */
    struct pb p = {.n = 0};
    struct decoded d;
    struct decode_stats st = {0};

    for (int i = 0; i < 28; i++)
        pb_u8(&p, i);
    wrap_eth(&p, arp, 1);
    CHECK_INT(run(&p, LINK_ETHERNET, 0, &d, &st), DECODE_OTHER);
    p.n = 28;
    wrap_eth(&p, llc, 1);
    CHECK_INT(run(&p, LINK_ETHERNET, 0, &d, &st), DECODE_OTHER);
    CHECK_INT(st.other, 2);
}

TEST(decode_linux_sll_and_sll2)
{
    struct pb p, h;
    struct decoded d;
    struct decode_stats st = {0};

    build_std_v4(&p, TCPF_PSH | TCPF_ACK);
    h.n = 0;
    pb_be16(&h, 0); /* to us */
    pb_be16(&h, 1); /* ARPHRD_ETHER */
    pb_be16(&h, 6);
    for (int i = 0; i < 8; i++)
        pb_u8(&h, i);
    pb_be16(&h, 0x0800);
    CHECK_INT(h.n, 16);
    pb_wrap(&p, &h);
    CHECK_INT(run(&p, LINK_LINUX_SLL, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(d.flags, TCPF_PSH | TCPF_ACK);

    build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    wrap_ipv6(&p, 6, -1);
    h.n = 0;
    pb_be16(&h, 0x86dd);
    pb_be16(&h, 0);
    pb_be32(&h, 3); /* ifindex */
    pb_be16(&h, 1);
    pb_u8(&h, 4); /* outgoing */
    pb_u8(&h, 6);
    for (int i = 0; i < 8; i++)
        pb_u8(&h, i);
    CHECK_INT(h.n, 20);
    pb_wrap(&p, &h);
    CHECK_INT(run(&p, LINK_LINUX_SLL2, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(d.src.family, 6);
    CHECK_INT(st.tcp, 2);
}

static void wrap_af(struct pb *p, uint32_t af, int big_endian)
{
    struct pb h = {.n = 0};

    if (big_endian) {
        pb_be32(&h, af);
    } else {
        pb_u8(&h, af);
        pb_u8(&h, af >> 8);
        pb_u8(&h, af >> 16);
        pb_u8(&h, af >> 24);
    }
    pb_wrap(p, &h);
}

TEST(decode_bsd_null_and_loop)
{
    static const uint32_t v6_afs[] = {24, 28, 30};
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};
    char buf[64];

    for (int be = 0; be < 2; be++) {
        build_std_v4(&p, TCPF_ACK);
        wrap_af(&p, 2, be);
        CHECK_INT(run(&p, LINK_NULL, 0, &d, &st), DECODE_TCP);
        CHECK(check_std_tcp(&d));
        for (int i = 0; i < 3; i++) {
            build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
            wrap_ipv6(&p, 6, -1);
            wrap_af(&p, v6_afs[i], be);
            CHECK_INT(run(&p, LINK_NULL, 0, &d, &st), DECODE_TCP);
            CHECK(check_std_tcp(&d));
            CHECK_STR(decode_addr_str(&d.dst, buf, sizeof(buf)), "2001:db8::abcd");
        }
        /* an AF we do not decode */
        build_std_v4(&p, TCPF_ACK);
        wrap_af(&p, 7, be);
        CHECK_INT(run(&p, LINK_NULL, 0, &d, &st), DECODE_OTHER);
    }
    build_std_v4(&p, TCPF_ACK);
    wrap_af(&p, 2, 1);
    CHECK_INT(run(&p, LINK_LOOP, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    wrap_ipv6(&p, 6, -1);
    wrap_af(&p, 24, 1);
    CHECK_INT(run(&p, LINK_LOOP, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    /* LOOP is network order only: a little-endian 2 is not IPv4 */
    build_std_v4(&p, TCPF_ACK);
    wrap_af(&p, 2, 0);
    CHECK_INT(run(&p, LINK_LOOP, 0, &d, &st), DECODE_OTHER);
}

TEST(decode_raw_ip_link_types)
{
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};

    build_std_v4(&p, TCPF_ACK);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(run(&p, LINK_IPV4, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(run(&p, LINK_IPV6, 0, &d, &st), DECODE_ERROR); /* version 4 on an IPv6 link */
    CHECK_INT(st.truncated_ip, 1);

    build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    wrap_ipv6(&p, 6, -1);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(run(&p, LINK_IPV6, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));

    p.b[0] = 0x50; /* version 5 */
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_ERROR);
    CHECK_INT(st.truncated_ip, 2);
    CHECK_INT(run(&p, 147, 0, &d, &st), DECODE_ERROR);
    CHECK_INT(st.unknown_linktype, 1);
}

/* ---- IPv4 ---- */

TEST(decode_ipv4_options)
{
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};

    for (unsigned optlen = 4; optlen <= 40; optlen += 4) {
        build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
        wrap_ipv4(&p, 6, optlen, -1, 0);
        CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
        CHECK(check_std_tcp(&d));
    }
    /* IHL 4 (< 20 bytes) */
    build_std_v4(&p, TCPF_ACK);
    p.b[0] = 0x44;
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_ERROR);
    CHECK_INT(st.truncated_ip, 1);
}

TEST(decode_ipv4_lengths)
{
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};
    unsigned t[] = {0x0800};
    unsigned full;

    /* Ethernet padding after a short packet: seg_len from the IP header */
    build_tcp(&p, TCPF_ACK, NULL, 0, NULL, 0);
    wrap_ipv4(&p, 6, 0, -1, 0);
    wrap_eth(&p, t, 1);
    memset(p.b + p.n, 0xee, 6);
    p.n += 6;
    CHECK_INT(run(&p, LINK_ETHERNET, 0, &d, &st), DECODE_TCP);
    CHECK_INT(d.seg_len, 0);
    CHECK_INT(d.cap_len, 0);
    CHECK_INT(st.bad_ip_length, 0);

    /* total length 0 (TSO): use what the wire carried, count it */
    build_std_v4(&p, TCPF_ACK);
    p.b[2] = p.b[3] = 0;
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(st.bad_ip_length, 1);

    /* total length larger than the wire: clamp and count */
    build_std_v4(&p, TCPF_ACK);
    p.b[2] = 0x05;
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(st.bad_ip_length, 2);

    /* total length below the header length */
    build_std_v4(&p, TCPF_ACK);
    p.b[2] = 0;
    p.b[3] = 19;
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_ERROR);
    CHECK_INT(st.bad_ip_length, 3);

    /* total length shorter than the TCP header it claims */
    build_std_v4(&p, TCPF_ACK);
    p.b[3] = 30;
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_ERROR);
    CHECK_INT(st.truncated_tcp, 1);

    /* snaplen cut: wire had the whole packet, capture 10 payload bytes */
    build_std_v4(&p, TCPF_ACK);
    full = p.n;
    p.n -= 6;
    CHECK_INT(run(&p, LINK_RAW, full, &d, &st), DECODE_TCP);
    CHECK_INT(d.seg_len, HTTP_GET_LEN);
    CHECK_INT(d.cap_len, HTTP_GET_LEN - 6);
    CHECK_INT(d.wirelen, full);
    CHECK_INT(st.truncated_payload, 1);
    CHECK_INT(st.bad_ip_length, 3);
}

TEST(decode_ipv4_fragments)
{
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};

    /* first fragment (MF, offset 0): TCP header decoded, flagged */
    build_std_v4(&p, TCPF_ACK);
    p.b[6] = 0x20;
    p.b[7] = 0;
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK_INT(d.ip_frag, 1);
    CHECK_INT(d.sport, 40000);
    /* a later fragment: no TCP header to read */
    build_std_v4(&p, TCPF_ACK);
    p.b[6] = 0x00;
    p.b[7] = 0xb9;
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_OTHER);
    CHECK_INT(d.ip_frag, 1);
    CHECK_INT(d.sport, 0);
    CHECK_INT(st.ip_fragments, 2);
    CHECK_INT(st.tcp, 1);
    CHECK_INT(st.other, 1);
    /* DF alone is not a fragment */
    build_std_v4(&p, TCPF_ACK);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK_INT(d.ip_frag, 0);
    CHECK_INT(st.ip_fragments, 2);
}

/* ---- IPv6 ---- */

/* Prepend a generic extension header (hop-by-hop, routing, dest opts) of
 * 8*(units+1) bytes, or AH (4*(units+2)). */
static void push_ext(struct pb *p, unsigned next, unsigned units, int ah)
{
    struct pb h = {.n = 0};
    unsigned len = ah ? 4 * (units + 2) : 8 * (units + 1);

    pb_u8(&h, next);
    pb_u8(&h, units);
    while (h.n < len)
        pb_u8(&h, ah ? 0xa5 : (h.n == 2 ? 1 : 0)); /* PadN-ish filler */
    pb_wrap(p, &h);
}

static void push_frag(struct pb *p, unsigned next, unsigned offset8, int more)
{
    struct pb h = {.n = 0};

    pb_u8(&h, next);
    pb_u8(&h, 0);
    pb_be16(&h, offset8 << 3 | (more ? 1 : 0));
    pb_be32(&h, 0xdeadbeef);
    pb_wrap(p, &h);
}

TEST(decode_ipv6_extension_headers)
{
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};

    /* hop-by-hop -> routing -> dest opts (16 bytes) -> AH -> TCP */
    build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    push_ext(&p, 6, 4, 1);
    push_ext(&p, 51, 1, 0);
    push_ext(&p, 60, 0, 0);
    push_ext(&p, 43, 0, 0);
    wrap_ipv6(&p, 0, -1);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(d.ip_frag, 0);

    /* UDP behind a destination options header */
    p.n = 0;
    pb_be16(&p, 5353);
    pb_be16(&p, 53);
    pb_be16(&p, 8 + 4);
    pb_be16(&p, 0);
    pb_put(&p, "abcd", 4);
    push_ext(&p, 17, 0, 0);
    wrap_ipv6(&p, 60, -1);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_UDP);
    CHECK_INT(d.sport, 5353);
    CHECK_INT(d.dport, 53);
    CHECK_INT(d.seg_len, 4);
    CHECK(memcmp(d.payload, "abcd", 4) == 0);

    /* no next header */
    p.n = 0;
    push_ext(&p, 59, 0, 0);
    wrap_ipv6(&p, 60, -1);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_OTHER);

    /* an extension header longer than the payload */
    build_tcp(&p, TCPF_ACK, NULL, 0, NULL, 0);
    push_ext(&p, 6, 0, 0);
    p.b[1] = 9; /* claims 80 bytes */
    wrap_ipv6(&p, 0, -1);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_ERROR);
    CHECK_INT(st.ipv6_ext_bad, 1);

    /* a chain longer than the bound */
    build_tcp(&p, TCPF_ACK, NULL, 0, NULL, 0);
    push_ext(&p, 6, 0, 0);
    for (int i = 0; i < 12; i++)
        push_ext(&p, 60, 0, 0);
    wrap_ipv6(&p, 60, -1);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_ERROR);
    CHECK_INT(st.ipv6_ext_bad, 2);
    CHECK_INT(st.ip_fragments, 0);
}

TEST(decode_ipv6_fragments)
{
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};

    /* atomic fragment: offset 0, M = 0 -> an ordinary packet */
    build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    push_frag(&p, 6, 0, 0);
    wrap_ipv6(&p, 44, -1);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(d.ip_frag, 0);
    CHECK_INT(st.ip_fragments, 0);

    /* first fragment of several */
    build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    push_frag(&p, 6, 0, 1);
    wrap_ipv6(&p, 44, -1);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK_INT(d.ip_frag, 1);
    CHECK_INT(st.ip_fragments, 1);

    /* a later fragment */
    build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    push_frag(&p, 6, 185, 0);
    wrap_ipv6(&p, 44, -1);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_OTHER);
    CHECK_INT(d.ip_frag, 1);
    CHECK_INT(st.ip_fragments, 2);
}

TEST(decode_ipv6_lengths)
{
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};
    uint32_t n;

    build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    wrap_ipv6(&p, 6, 0); /* payload length 0 (TSO / jumbo) */
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(st.bad_ip_length, 1);

    build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    n = p.n;
    wrap_ipv6(&p, 6, (int)n + 100); /* longer than the wire */
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(check_std_tcp(&d));
    CHECK_INT(st.bad_ip_length, 2);

    build_tcp(&p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    n = p.n;
    wrap_ipv6(&p, 6, (int)n - 4); /* shorter: the last 4 bytes are trailer */
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK_INT(d.seg_len, HTTP_GET_LEN - 4);
    CHECK_INT(d.cap_len, HTTP_GET_LEN - 4);
    CHECK_INT(st.bad_ip_length, 2);
}

/* ---- TCP ---- */

TEST(decode_tcp_flags_all)
{
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};

    for (unsigned f = 0; f < 0x200; f += 0x11) {
        build_tcp(&p, f, NULL, 0, NULL, 0);
        wrap_ipv4(&p, 6, 0, -1, 0);
        CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
        CHECK_INT(d.flags, f);
    }
    build_tcp(&p, TCPF_AE | TCPF_CWR | TCPF_ECE | TCPF_SYN, NULL, 0, NULL, 0);
    p.b[12] |= 0x0e; /* the other reserved bits are not flags */
    wrap_ipv4(&p, 6, 0, -1, 0);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK_INT(d.flags, TCPF_AE | TCPF_CWR | TCPF_ECE | TCPF_SYN);
}

TEST(decode_tcp_options_each)
{
    static const uint8_t sack1[] = {1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20};
    static const uint8_t sack4[] = {1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0,
                                    0, 4, 0, 0,  0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8};
    /* EOL: what follows is padding, even if it looks like an option */
    static const uint8_t eol[] = {2, 4, 0x02, 0x18, 0, 3, 3, 9};
    /* unknown kind 30 (MPTCP) with a valid length is skipped */
    static const uint8_t unknown[] = {30, 6, 1, 2, 3, 4, 3, 3, 2, 1, 1, 0};
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};

    build_tcp(&p, TCPF_SYN, syn_opts, sizeof(syn_opts), NULL, 0);
    wrap_ipv4(&p, 6, 0, -1, 0);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(d.opt.has_mss && d.opt.mss == 1460 && d.opt.sack_perm && d.opt.has_ts);
    CHECK(d.opt.has_wscale && d.opt.wscale == 7 && d.opt.nsack == 0);

    build_tcp(&p, TCPF_ACK, sack1, sizeof(sack1), NULL, 0);
    wrap_ipv4(&p, 6, 0, -1, 0);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK_INT(d.opt.nsack, 1);
    CHECK_INT(d.opt.sack[0][0], 10);
    CHECK_INT(d.opt.sack[0][1], 20);
    CHECK(!d.opt.has_mss && !d.opt.has_ts && !d.opt.sack_perm);

    build_tcp(&p, TCPF_ACK, sack4, sizeof(sack4), NULL, 0);
    wrap_ipv4(&p, 6, 0, -1, 0);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK_INT(d.opt.nsack, 4);
    for (int k = 0; k < 4; k++) {
        CHECK_INT(d.opt.sack[k][0], 2 * k + 1);
        CHECK_INT(d.opt.sack[k][1], 2 * k + 2);
    }

    build_tcp(&p, TCPF_SYN, eol, sizeof(eol), NULL, 0);
    wrap_ipv4(&p, 6, 0, -1, 0);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(d.opt.has_mss && d.opt.mss == 536);
    CHECK(!d.opt.has_wscale);

    build_tcp(&p, TCPF_SYN, unknown, sizeof(unknown), NULL, 0);
    wrap_ipv4(&p, 6, 0, -1, 0);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(d.opt.has_wscale && d.opt.wscale == 2);
    CHECK_INT(st.bad_tcp_options, 0);
}

TEST(decode_tcp_bad_options)
{
    /* each: an MSS first (must survive), then a bad option, then a window
     * scale that must not be parsed */
    static const uint8_t bad[][12] = {
        {2, 4, 0, 100, 8, 0, 3, 3, 5, 1, 1, 1},  /* length 0 */
        {2, 4, 0, 100, 8, 1, 3, 3, 5, 1, 1, 1},  /* length 1 */
        {2, 4, 0, 100, 8, 20, 3, 3, 5, 1, 1, 1}, /* runs past the header */
        {2, 4, 0, 100, 3, 4, 0, 0, 3, 3, 5, 0},  /* window scale of length 4 */
        {2, 4, 0, 100, 5, 6, 0, 0, 3, 3, 5, 0},  /* SACK of length 6 */
        {2, 4, 0, 100, 4, 3, 0, 0, 3, 3, 5, 0},  /* SACK-permitted of length 3 */
        {2, 4, 0, 100, 8, 8, 0, 0, 3, 3, 5, 0},  /* timestamps of length 8 */
    };
    static const uint8_t bad_mss[] = {2, 5, 0, 100, 0, 3, 3, 5}; /* MSS of length 5 */
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        build_tcp(&p, TCPF_SYN, bad[i], 12, NULL, 0);
        wrap_ipv4(&p, 6, 0, -1, 0);
        CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
        CHECK(d.opt.has_mss && d.opt.mss == 100);
        CHECK(!d.opt.has_wscale);
        CHECK_INT(st.bad_tcp_options, i + 1);
    }
    build_tcp(&p, TCPF_SYN, bad_mss, sizeof(bad_mss), NULL, 0);
    wrap_ipv4(&p, 6, 0, -1, 0);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_TCP);
    CHECK(!d.opt.has_mss && !d.opt.has_wscale);
    CHECK_INT(st.bad_tcp_options, 8);
}

TEST(decode_tcp_data_offset)
{
    struct pb p;
    struct decoded d;
    struct decode_stats st = {0};

    build_std_v4(&p, TCPF_ACK);
    p.b[20 + 12] = 0x40; /* 16 bytes */
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_ERROR);
    CHECK_INT(st.bad_tcp_offset, 1);

    build_tcp(&p, TCPF_ACK, NULL, 0, "abcd", 4);
    p.b[12] = 0xf0; /* 60 bytes, segment has 24 */
    wrap_ipv4(&p, 6, 0, -1, 0);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_ERROR);
    CHECK_INT(st.bad_tcp_offset, 2);
    CHECK_INT(st.tcp, 0);
}

TEST(decode_udp)
{
    struct pb p = {.n = 0};
    struct decoded d;
    struct decode_stats st = {0};

    pb_be16(&p, 33333);
    pb_be16(&p, 53);
    pb_be16(&p, 8 + 5);
    pb_be16(&p, 0);
    pb_put(&p, "hello", 5);
    wrap_ipv4(&p, 17, 0, -1, 0);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_UDP);
    CHECK_INT(d.proto, 17);
    CHECK_INT(d.sport, 33333);
    CHECK_INT(d.dport, 53);
    CHECK_INT(d.seg_len, 5);
    CHECK_INT(d.cap_len, 5);
    CHECK(memcmp(d.payload, "hello", 5) == 0);
    CHECK_INT(st.udp, 1);

    /* ICMP is "other", with addresses */
    p.n = 8;
    memset(p.b, 0, 8);
    wrap_ipv4(&p, 1, 0, -1, 0);
    CHECK_INT(run(&p, LINK_RAW, 0, &d, &st), DECODE_OTHER);
    CHECK_INT(d.proto, 1);
    CHECK_INT(d.src.family, 4);
    CHECK_INT(st.other, 1);
}

TEST(decode_addr_strings)
{
    struct ip_addr a = {.family = 4, .a = {10, 0, 0, 255}};
    struct ip_addr b = {.family = 6, .a = {0xfe, 0x80, [15] = 1}};
    struct ip_addr c = {.family = 0};
    char buf[46], tiny[4];

    CHECK_STR(decode_addr_str(&a, buf, sizeof(buf)), "10.0.0.255");
    CHECK_STR(decode_addr_str(&b, buf, sizeof(buf)), "fe80::1");
    CHECK_STR(decode_addr_str(&c, buf, sizeof(buf)), "?");
    CHECK_STR(decode_addr_str(&a, tiny, sizeof(tiny)), "?");
    /* IPv4 is formatted by hand: every digit count, against inet_ntop */
    for (unsigned v = 0; v < 256; v++) {
        struct ip_addr x = {.family = 4, .a = {(uint8_t)v, (uint8_t)(255 - v), 0, (uint8_t)(v / 3)}};
        char want[16];
        inet_ntop(AF_INET, x.a, want, sizeof(want));
        CHECK_STR(decode_addr_str(&x, buf, sizeof(buf)), want);
    }
    char exact[16];
    struct ip_addr m = {.family = 4, .a = {255, 255, 255, 255}};
    CHECK_STR(decode_addr_str(&m, exact, sizeof(exact)), "255.255.255.255");
}

/* ---- truncation sweep ---- */

struct full_pkt {
    const char *name;
    int linktype;
    struct pb p;
};

static int build_sweep_set(struct full_pkt *f)
{
    unsigned qinq[] = {0x88a8, 0x8100, 0x0800};
    unsigned v6eth[] = {0x86dd};
    int n = 0;

    f[n].name = "eth-qinq-ipv4opts";
    f[n].linktype = LINK_ETHERNET;
    build_tcp(&f[n].p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    wrap_ipv4(&f[n].p, 6, 8, -1, 0);
    wrap_eth(&f[n].p, qinq, 3);
    n++;

    f[n].name = "eth-ipv6-ext";
    f[n].linktype = LINK_ETHERNET;
    build_tcp(&f[n].p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    push_frag(&f[n].p, 6, 0, 0);
    push_ext(&f[n].p, 44, 2, 1);
    push_ext(&f[n].p, 51, 1, 0);
    wrap_ipv6(&f[n].p, 0, -1);
    wrap_eth(&f[n].p, v6eth, 1);
    n++;

    f[n].name = "sll-ipv4";
    f[n].linktype = LINK_LINUX_SLL;
    build_std_v4(&f[n].p, TCPF_ACK);
    {
        struct pb h = {.n = 0};

        for (int i = 0; i < 14; i++)
            pb_u8(&h, 0);
        pb_be16(&h, 0x0800);
        pb_wrap(&f[n].p, &h);
    }
    n++;

    f[n].name = "sll2-ipv4";
    f[n].linktype = LINK_LINUX_SLL2;
    build_std_v4(&f[n].p, TCPF_ACK);
    {
        struct pb h = {.n = 0};

        pb_be16(&h, 0x0800);
        for (int i = 0; i < 18; i++)
            pb_u8(&h, 0);
        pb_wrap(&f[n].p, &h);
    }
    n++;

    f[n].name = "null-ipv6";
    f[n].linktype = LINK_NULL;
    build_tcp(&f[n].p, TCPF_ACK, syn_opts, sizeof(syn_opts), http_get, HTTP_GET_LEN);
    wrap_ipv6(&f[n].p, 6, -1);
    wrap_af(&f[n].p, 30, 0);
    n++;

    f[n].name = "raw-udp";
    f[n].linktype = LINK_RAW;
    f[n].p.n = 0;
    pb_be16(&f[n].p, 1234);
    pb_be16(&f[n].p, 53);
    pb_be16(&f[n].p, 8 + HTTP_GET_LEN);
    pb_be16(&f[n].p, 0);
    pb_put(&f[n].p, http_get, HTTP_GET_LEN);
    wrap_ipv4(&f[n].p, 17, 0, -1, 0);
    n++;
    return n;
}

/* Every prefix of every packet, from an exactly-sized heap copy, with the
 * wire length either the full packet (snaplen cut) or the prefix (a file
 * that lies). Decoding must never read past the copy and the results must
 * stay consistent. */
TEST(decode_truncation_sweep)
{
    struct full_pkt set[8];
    int nset = build_sweep_set(set);

    for (int i = 0; i < nset; i++) {
        const struct pb *p = &set[i].p;
        struct decoded full_d;
        struct decode_stats st = {0};
        enum decode_result full_r;

        full_r = run(p, set[i].linktype, 0, &full_d, &st);
        CHECK(full_r == DECODE_TCP || full_r == DECODE_UDP);
        CHECK_INT(full_d.seg_len, HTTP_GET_LEN);
        for (uint32_t cut = 0; cut <= p->n; cut++) {
            for (int lie = 0; lie < 2; lie++) {
                uint8_t *copy = malloc(cut ? cut : 1);
                struct capture_rec rec = {.linktype = set[i].linktype,
                                          .data = copy,
                                          .caplen = cut,
                                          .wirelen = lie ? cut : p->n};
                struct decoded d;
                enum decode_result r;

                memcpy(copy, p->b, cut);
                r = decode_packet(&rec, &d, &st);
                if (r == DECODE_TCP || r == DECODE_UDP) {
                    CHECK(d.cap_len <= d.seg_len);
                    CHECK(d.payload >= copy && d.payload + d.cap_len <= copy + cut);
                    CHECK_INT(d.sport, full_d.sport);
                    if (!lie) {
                        CHECK_INT(d.seg_len, full_d.seg_len);
                        CHECK_INT(d.cap_len,
                                  cut >= p->n - HTTP_GET_LEN ? cut - (p->n - HTTP_GET_LEN) : 0);
                    }
                } else {
                    CHECK(r == DECODE_ERROR || r == DECODE_OTHER);
                    CHECK(cut < p->n);
                }
                free(copy);
            }
        }
    }
}

/* ---- the fast path against the general decoder ---- */

static int decoded_same(const struct decoded *a, const struct decoded *b)
{
    return a->ts_ns == b->ts_ns && a->proto == b->proto && !memcmp(&a->src, &b->src, sizeof(a->src)) &&
           !memcmp(&a->dst, &b->dst, sizeof(a->dst)) && a->sport == b->sport &&
           a->dport == b->dport && a->ip_frag == b->ip_frag && a->wirelen == b->wirelen &&
           a->seq == b->seq && a->ack == b->ack && a->flags == b->flags &&
           a->window == b->window && a->opt.mss == b->opt.mss && a->opt.has_mss == b->opt.has_mss &&
           a->opt.has_wscale == b->opt.has_wscale && a->opt.wscale == b->opt.wscale &&
           a->opt.sack_perm == b->opt.sack_perm && a->opt.has_ts == b->opt.has_ts &&
           a->opt.nsack == b->opt.nsack && a->opt.tsval == b->opt.tsval &&
           a->opt.tsecr == b->opt.tsecr && !memcmp(a->opt.sack, b->opt.sack, sizeof(a->opt.sack)) &&
           a->payload == b->payload && a->seg_len == b->seg_len && a->cap_len == b->cap_len &&
           a->skipped == b->skipped;
}

/* decode_packet (fast path) and decode_packet_general on one record: the
 * same result, the same fields, the same counters. Returns 1 when they
 * agree; *fast says whether the record was one the fast path could take. */
static int fast_agrees(const struct capture_rec *rec)
{
    struct decoded a, b;
    struct decode_stats sa = {0}, sb = {0};
    enum decode_result ra = decode_packet(rec, &a, &sa);
    enum decode_result rb = decode_packet_general(rec, &b, &sb);
    if (ra != rb || memcmp(&sa, &sb, sizeof(sa)))
        return 0;
    return (ra != DECODE_TCP && ra != DECODE_UDP) || decoded_same(&a, &b);
}

/* Ethernet, IPv4, TCP with the options given and a payload. */
static void build_eth_v4_tcp(struct pb *p, const void *opts, unsigned optlen, unsigned flags)
{
    build_tcp(p, flags, opts, optlen, http_get, HTTP_GET_LEN);
    wrap_ipv4(p, 6, 0, -1, 0x4000);
    wrap_eth(p, (const unsigned[]){0x0800}, 1);
}

static const uint8_t ts_opts[] = {1, 1, 8, 10, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc};

/* Every prefix of the packets the fast path is for, and of some it must
 * leave alone, with the wire length the full packet or the prefix, with and
 * without the body-skip mark. */
TEST(decode_fast_path_matches_general_on_prefixes)
{
    static const uint8_t ts_then_nop[] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 0};
    static const uint8_t nop_ts_nop[] = {1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1};
    static const uint32_t tsval[5] = {0, 0x1234, 7, 1, 1};
    struct pb set[5];
    build_eth_v4_tcp(&set[0], NULL, 0, TCPF_ACK);
    build_eth_v4_tcp(&set[1], ts_opts, sizeof(ts_opts), TCPF_ACK | TCPF_PSH | TCPF_AE);
    build_eth_v4_tcp(&set[2], syn_opts, sizeof(syn_opts), TCPF_SYN);
    build_eth_v4_tcp(&set[3], ts_then_nop, sizeof(ts_then_nop), TCPF_ACK);
    build_eth_v4_tcp(&set[4], nop_ts_nop, sizeof(nop_ts_nop), TCPF_ACK);
    int taken = 0;
    for (int i = 0; i < 5; i++) {
        for (uint32_t cut = 0; cut <= set[i].n; cut++) {
            for (int k = 0; k < 4; k++) {
                uint8_t *copy = malloc(cut ? cut : 1);
                memcpy(copy, set[i].b, cut);
                struct capture_rec rec = {.ts_ns = 42,
                                          .linktype = LINK_ETHERNET,
                                          .data = copy,
                                          .caplen = cut,
                                          .wirelen = k & 1 ? cut : set[i].n,
                                          .skipped = k & 2 ? set[i].n - cut : 0};
                CHECK(fast_agrees(&rec));
                struct decoded d;
                struct decode_stats st = {0};
                if (decode_packet(&rec, &d, &st) == DECODE_TCP && d.opt.has_ts)
                    CHECK_INT(d.opt.tsval, tsval[i]);
                taken += i < 2 && cut >= set[i].n - HTTP_GET_LEN;
                free(copy);
            }
        }
    }
    CHECK_INT(taken, 4 * 2 * (HTTP_GET_LEN + 1));
}

/* Random changes to the headers of packets the fast path takes: a byte or
 * a few set at random, the capture cut, the wire length changed. Whatever
 * the fast path takes, it decodes as the general path does; whatever it
 * must not take (IP options, fragments, lying lengths, odd TCP options,
 * another EtherType) it leaves to it. Deterministic generator. */
TEST(decode_fast_path_matches_general_on_mutations)
{
    struct pb base[2];
    build_eth_v4_tcp(&base[0], NULL, 0, TCPF_ACK);
    build_eth_v4_tcp(&base[1], ts_opts, sizeof(ts_opts), TCPF_ACK);
    uint32_t x = 88172645u;
#define NEXT() (x ^= x << 13, x ^= x >> 17, x ^= x << 5, x)
    int agree = 0, n = 60000;
    for (int iter = 0; iter < n; iter++) {
        const struct pb *t = &base[iter & 1];
        uint8_t buf[sizeof(t->b)];
        memcpy(buf, t->b, t->n);
        int changes = 1 + NEXT() % 3;
        for (int c = 0; c < changes; c++) {
            uint32_t at = NEXT() % 70 % t->n;
            /* often a plausible value for the field's kind, else anything */
            buf[at] = (uint8_t)(NEXT() & 1 ? NEXT() : buf[at] ^ (1u << NEXT() % 8));
        }
        uint32_t cap = t->n, wire = t->n;
        if (NEXT() % 4 == 0)
            cap = NEXT() % (t->n + 1);
        if (NEXT() % 4 == 0)
            wire = cap + NEXT() % 3000;
        uint8_t *copy = malloc(cap ? cap : 1);
        memcpy(copy, buf, cap);
        struct capture_rec rec = {.ts_ns = iter,
                                  .linktype = LINK_ETHERNET,
                                  .data = copy,
                                  .caplen = cap,
                                  .wirelen = wire,
                                  .skipped = NEXT() % 8 == 0 ? wire - cap : 0};
        agree += fast_agrees(&rec);
        free(copy);
    }
#undef NEXT
    CHECK_INT(agree, n);
}

static uint64_t decode_error_sum(const struct decode_stats *st)
{
    return st->unknown_linktype + st->truncated_link + st->truncated_ip + st->bad_ip_length +
           st->ipv6_ext_bad + st->truncated_tcp + st->bad_tcp_offset;
}

/* Random bytes on every link type: nothing to check but survival and the
 * invariants (run under ASan/UBSan). Deterministic generator. */
TEST(decode_random_bytes)
{
    static const int links[] = {LINK_NULL,      LINK_ETHERNET, LINK_RAW,  LINK_LOOP,
                                LINK_LINUX_SLL, LINK_IPV4,     LINK_IPV6, LINK_LINUX_SLL2};
    struct decode_stats st = {0};
    uint32_t x = 2463534242u;

    for (int iter = 0; iter < 20000; iter++) {
        uint32_t len;
        uint8_t *buf;
        struct capture_rec rec;
        struct decoded d;
        enum decode_result r;
        uint64_t errs;

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        len = x % 200;
        buf = malloc(len ? len : 1);
        for (uint32_t k = 0; k < len; k++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[k] = (uint8_t)x;
        }
        /* most of the time, a plausible link header and IP version/protocol
         * so that the deep paths are reached */
        if (len > 60 && (iter & 3)) {
            static const uint32_t ipoff[] = {4, 14, 0, 4, 16, 0, 0, 20};
            int lt = iter % 8, v6 = lt == 6 || (lt != 5 && (iter & 4));
            uint32_t o = ipoff[lt];

            if (lt == 0 || lt == 3) {
                memset(buf, 0, 4);
                buf[lt == 0 ? 0 : 3] = v6 ? 30 : 2;
            } else if (lt == 1 || lt == 4 || lt == 7) {
                uint32_t t = lt == 1 ? 12 : lt == 4 ? 14 : 0;

                buf[t] = v6 ? 0x86 : 0x08;
                buf[t + 1] = v6 ? 0xdd : 0x00;
            }
            buf[o] = (uint8_t)(v6 ? 0x60 : 0x40 | (5 + (x >> 8) % 3));
            buf[o + (v6 ? 6 : 9)] = x & 2 ? 6 : 17;
            if (!v6) buf[o + 6] &= 0x40; /* mostly unfragmented */
        }
        rec = (struct capture_rec){.linktype = links[iter % 8],
                                   .data = buf,
                                   .caplen = len,
                                   .wirelen = len + (x & 1 ? 0 : x % 3000)};
        errs = decode_error_sum(&st);
        r = decode_packet(&rec, &d, &st);
        if (r == DECODE_TCP || r == DECODE_UDP) {
            CHECK(d.cap_len <= d.seg_len);
            CHECK(d.payload >= buf && d.payload + d.cap_len <= buf + len);
        } else if (r == DECODE_ERROR) {
            CHECK(decode_error_sum(&st) > errs); /* every error is counted */
        }
        free(buf);
    }
    CHECK_INT(st.packets, 20000);
    if (getenv("TEST_VERBOSE"))
        printf("  tcp %llu udp %llu other %llu\n", (unsigned long long)st.tcp,
               (unsigned long long)st.udp, (unsigned long long)st.other);
    CHECK(st.tcp > 100 && st.other > 100); /* the generator reached the deep paths */
}

/* ---- the shared corpus ---- */

static int corpus_count_tshark(const char *path, long *n)
{
    char cmd[1200];
    FILE *f;
    int c;

    snprintf(cmd, sizeof(cmd), "tshark -r '%s' -Y tcp 2>/dev/null", path);
    f = popen(cmd, "r");
    if (!f) return -1;
    *n = 0;
    while ((c = fgetc(f)) != EOF)
        if (c == '\n') (*n)++;
    return pclose(f) == 0 ? 0 : -1;
}

static int corpus_walk(const char *dir, int depth, int use_tshark, int *files, int *bad)
{
    DIR *dh = opendir(dir);
    struct dirent *e;

    if (!dh) return -1;
    while ((e = readdir(dh))) {
        char path[1024];
        struct stat sb;
        size_t l = strlen(e->d_name);

        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode) && depth < 4) {
            corpus_walk(path, depth + 1, use_tshark, files, bad);
        } else if (S_ISREG(sb.st_mode) && ((l > 5 && !strcmp(e->d_name + l - 5, ".pcap")) ||
                                           (l > 7 && !strcmp(e->d_name + l - 7, ".pcapng")))) {
            char eb[CAPTURE_ERRBUF];
            struct capture *cap = capture_open_file(path, eb);
            struct decode_stats st = {0};
            struct capture_rec rec;
            struct decoded d;
            long want = -1;
            int r = -1;

            (*files)++;
            if (cap) {
                while ((r = capture_next(cap, &rec, eb)) == 1)
                    decode_packet(&rec, &d, &st);
                capture_close(cap);
            }
            if (use_tshark && corpus_count_tshark(path, &want) < 0) want = -1;
            if (r != 0 || st.tcp + st.udp + st.other != st.packets ||
                (want >= 0 && want != (long)st.tcp)) {
                (*bad)++;
                fprintf(stderr, "  corpus: %s: read %d, %llu packets, %llu tcp, tshark %ld\n", path,
                        r, (unsigned long long)st.packets, (unsigned long long)st.tcp, want);
            }
        }
    }
    closedir(dh);
    return 0;
}

TEST(decode_corpus_matches_tshark)
{
    const char *dirs[] = {"../shared/corpus", "/work/shared/corpus"};
    int files = 0, bad = 0, use_tshark;
    const char *dir = NULL;
    struct stat sb;

    for (int i = 0; i < 2 && !dir; i++)
        if (stat(dirs[i], &sb) == 0 && S_ISDIR(sb.st_mode)) dir = dirs[i];
    if (!dir) {
        printf("  note: no capture corpus (../shared/corpus): corpus test skipped\n");
        return;
    }
    use_tshark = system("tshark -v >/dev/null 2>&1") == 0;
    if (!use_tshark) printf("  note: tshark absent: corpus packets decoded, counts not compared\n");
    corpus_walk(dir, 0, use_tshark, &files, &bad);
    printf("  corpus: %d captures, %d mismatched\n", files, bad);
    CHECK(files > 0);
    CHECK_INT(bad, 0);
}
