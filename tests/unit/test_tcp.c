/* SPDX-License-Identifier: MIT */
/*
 * test_tcp.c - the flow table and TCP reassembly, driven with hand-made
 * decoded packets: roles, relative sequence numbers, window scaling,
 * handshake RTT, out-of-order delivery, retransmissions, gaps declared by
 * ACKs, truncated payloads, port reuse, HTTP found on other ports, and
 * sequence wrap-around.
 */
#include <stdlib.h>
#include <string.h>

#include "htracr/decode.h"
#include "htracr/flow.h"
#include "htracr/store.h"
#include "testlib.h"

struct rig {
    struct store *st;
    struct flow_table *ft;
    uint32_t cseq, sseq; /* next absolute seq of client / server */
    uint16_t cport, sport;
    int64_t t;           /* µs */
};

static void rig_init(struct rig *r, uint16_t sport, uint32_t cisn, uint32_t sisn, int sniff_http)
{
    memset(r, 0, sizeof(*r));
    r->st = store_new(&(struct store_opts){.body_limit = 1 << 20});
    struct flow_opts fo = {.nports = 1, .sniff_http = sniff_http};
    fo.ports[0] = 80;
    r->ft = flow_table_new(r->st, &fo);
    r->cseq = cisn;
    r->sseq = sisn;
    r->cport = 40000;
    r->sport = sport;
    r->t = 1000000;
}

static void rig_free(struct rig *r)
{
    flow_table_free(r->ft);
    store_free(r->st);
}

/* rig_init's rig (server port 80), with a store of max_memory bytes. */
static void rig_budget(struct rig *r, size_t max_memory, int sniff_http)
{
    rig_init(r, 80, 1000, 5000, sniff_http);
    flow_table_free(r->ft);
    store_free(r->st);
    r->st = store_new(&(struct store_opts){.max_memory = max_memory, .body_limit = 1 << 20});
    struct flow_opts fo = {.nports = 1, .sniff_http = sniff_http};
    fo.ports[0] = 80;
    r->ft = flow_table_new(r->st, &fo);
}

/* A segment from the client (c2s = 1) or the server, at seq, with ack;
 * window 1000 and no options unless the caller changes them. */
static struct decoded mkseg(struct rig *r, int c2s, uint32_t seq, uint32_t ack, uint16_t flags,
                            const char *data, uint32_t len, uint32_t caplen)
{
    struct decoded d = {0};
    d.proto = 6;
    d.src.family = d.dst.family = 4;
    d.src.a[0] = d.dst.a[0] = 10;
    d.src.a[3] = c2s ? 1 : 2;
    d.dst.a[3] = c2s ? 2 : 1;
    d.sport = c2s ? r->cport : r->sport;
    d.dport = c2s ? r->sport : r->cport;
    d.seq = seq;
    d.ack = ack;
    d.flags = flags;
    d.window = 1000;
    d.payload = (const uint8_t *)data;
    d.seg_len = len;
    d.cap_len = caplen;
    d.ts_ns = r->t * 1000;
    return d;
}

/* Send d; the rig's clock moves 1 ms. */
static void send_seg(struct rig *r, const struct decoded *d)
{
    flow_table_packet(r->ft, d);
    r->t += 1000;
}

static void seg(struct rig *r, int c2s, uint32_t seq, uint32_t ack, uint16_t flags,
                const char *data, uint32_t len, uint32_t caplen)
{
    struct decoded d = mkseg(r, c2s, seq, ack, flags, data, len, caplen);
    send_seg(r, &d);
}

static void handshake(struct rig *r)
{
    seg(r, 1, r->cseq, 0, TCPF_SYN, NULL, 0, 0);
    seg(r, 0, r->sseq, r->cseq + 1, TCPF_SYN | TCPF_ACK, NULL, 0, 0);
    r->cseq++;
    r->sseq++;
    seg(r, 1, r->cseq, r->sseq, TCPF_ACK, NULL, 0, 0);
}

static const char REQ[] = "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n";
static const char RSP[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";

static struct store_conn *only_conn(struct rig *r)
{
    flow_table_finish(r->ft);
    return store_first(r->st);
}

TEST(tcp_basic_exchange)
{
    struct rig r;
    rig_init(&r, 80, 1000, 5000, 1);
    handshake(&r);
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
    seg(&r, 1, r.cseq + ql, r.sseq + sl, TCPF_ACK | TCPF_FIN, NULL, 0, 0);
    seg(&r, 0, r.sseq + sl, r.cseq + ql + 1, TCPF_ACK | TCPF_FIN, NULL, 0, 0);
    seg(&r, 1, r.cseq + ql + 1, r.sseq + sl + 1, TCPF_ACK, NULL, 0, 0);
    struct store_conn *c = only_conn(&r);
    CHECK(c != NULL);
    CHECK(store_next(c) == NULL);
    CHECK_INT(c->client_port, 40000);
    CHECK_INT(c->server_port, 80);
    CHECK_INT(c->npackets, 8);
    CHECK_INT(c->handshake_rtt_us, 2000);
    CHECK_INT(c->close, CLOSE_FIN);
    CHECK_INT(c->packets[0].seq, 0);
    CHECK_INT(c->packets[1].ack, 1);
    CHECK_INT(c->packets[3].seq, 1);
    CHECK_INT(c->packets[4].ack, 1 + ql);
    CHECK_INT(c->stats.bytes[DIR_C2S], ql);
    CHECK_INT(c->stats.bytes[DIR_S2C], sl);
    CHECK_INT(c->stats.packets[DIR_C2S], 5);
    CHECK_INT(c->nmessages, 2);
    CHECK_STR(c->messages[0]->url, "/a");
    CHECK_INT(c->messages[1]->status, 200);
    CHECK_INT(c->messages[1]->body_bytes, 10);
    CHECK_INT(store_packet_msg(c, &c->packets[3]), c->messages[0]->id);
    CHECK_INT(store_packet_msg(c, &c->packets[4]), c->messages[1]->id);
    CHECK_INT(c->stats.retransmits[0] + c->stats.retransmits[1], 0);
    /* A clean exchange has no analysis flags (the ACKs of the FINs are not
     * "ACKed unseen") and no events. */
    for (uint32_t i = 0; i < c->npackets; i++)
        CHECK_INT(c->packets[i].analysis, 0);
    CHECK_INT(c->nevents, 0);
    rig_free(&r);
}

/* Response in three segments delivered 1, 3, 2: reassembled in order. */
/* REQ, then RSP in three segments: [0, OOO_A), then [OOO_B, end) past a
 * hole (its payload captured, or none of it), then the hole [OOO_A, OOO_B).
 * The connection, finished. */
#define OOO_A 20u
#define OOO_B 40u
static struct store_conn *ooo_response(struct rig *r, int tail_captured)
{
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1;
    handshake(r);
    seg(r, 1, r->cseq, r->sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    seg(r, 0, r->sseq, r->cseq + ql, TCPF_ACK, RSP, OOO_A, OOO_A);
    seg(r, 0, r->sseq + OOO_B, r->cseq + ql, TCPF_ACK, tail_captured ? RSP + OOO_B : NULL,
        sl - OOO_B, tail_captured ? sl - OOO_B : 0);
    seg(r, 0, r->sseq + OOO_A, r->cseq + ql, TCPF_ACK, RSP + OOO_A, OOO_B - OOO_A, OOO_B - OOO_A);
    return only_conn(r);
}

TEST(tcp_out_of_order_reassembly)
{
    struct rig r;
    rig_init(&r, 80, 0xfffffff0u, 7, 1); /* client ISN near the wrap */
    uint32_t ql = sizeof(REQ) - 1;
    struct store_conn *c = ooo_response(&r, 1);
    CHECK(c != NULL);
    CHECK_INT(c->nmessages, 2);
    CHECK_INT(c->messages[1]->complete, 1);
    CHECK_INT(c->messages[1]->body_bytes, 10);
    CHECK_INT(c->messages[1]->gap_bytes, 0);
    CHECK_INT(c->stats.gap_bytes[DIR_S2C], 0);
    CHECK(c->packets[5].analysis & PKT_LOST_SEGMENT);
    CHECK(c->packets[6].analysis & PKT_OUT_OF_ORDER);
    CHECK_INT(c->stats.out_of_order, 1);
    /* relative seq across the client's wrap */
    CHECK_INT(c->packets[3].seq, 1);
    CHECK_INT(c->packets[4].ack, 1 + ql);
    rig_free(&r);
}

/* A segment past a hole whose payload was not captured at all (a snaplen
 * cut at the TCP header: no bytes, a NULL payload) waits in the buffer
 * like any other, and becomes a gap of its length when the hole fills.
 * (Found by the fuzzer: the buffer copied zero bytes from NULL, undefined
 * behaviour the sanitizer build stops at.) */
TEST(tcp_out_of_order_uncaptured)
{
    struct rig r;
    rig_init(&r, 80, 1000, 7, 1);
    uint32_t sl = sizeof(RSP) - 1;
    struct store_conn *c = ooo_response(&r, 0); /* past the hole: none captured */
    CHECK(c != NULL);
    CHECK_INT(c->nmessages, 2);
    CHECK(c->packets[6].analysis & PKT_OUT_OF_ORDER);
    CHECK_INT(c->stats.gap_bytes[DIR_S2C], sl - OOO_B);
    CHECK_INT(c->messages[1]->gap_bytes, sl - OOO_B);
    rig_free(&r);
}

/* The segment that fills a hole, stamped 10 µs after the one ahead of it:
 * out of order; stamped 10 µs before it (the two CPUs' clocks of a capture
 * cross by that much): a retransmission, as Wireshark says, whose time
 * differences are unsigned. Either way its bytes complete the response. */
TEST(tcp_filling_segment_stamped_before_the_one_ahead)
{
    for (int before = 0; before < 2; before++) {
        struct rig r;
        rig_init(&r, 80, 1000, 5000, 1);
        handshake(&r);
        uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1, a = 20, b = 40;
        seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
        seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK, RSP, a, a);
        seg(&r, 0, r.sseq + b, r.cseq + ql, TCPF_ACK, RSP + b, sl - b, sl - b);
        r.t -= 1000; /* back to the time of the segment ahead */
        r.t += before ? -10 : 10;
        seg(&r, 0, r.sseq + a, r.cseq + ql, TCPF_ACK, RSP + a, b - a, b - a);
        struct store_conn *c = only_conn(&r);
        CHECK(c != NULL);
        CHECK(c->packets[6].analysis & (before ? PKT_RETRANS : PKT_OUT_OF_ORDER));
        CHECK(!(c->packets[6].analysis & (before ? PKT_OUT_OF_ORDER : PKT_RETRANS)));
        CHECK_INT(c->stats.out_of_order, before ? 0 : 1);
        CHECK_INT(c->stats.retransmits[DIR_S2C], before ? 1 : 0);
        CHECK_INT(c->nmessages, 2);
        CHECK_INT(c->messages[1]->complete, 1);
        CHECK_INT(c->messages[1]->body_bytes, 10);
        rig_free(&r);
    }
}

TEST(tcp_retransmission_counted_once_delivered)
{
    struct rig r;
    rig_init(&r, 80, 1, 1, 1);
    handshake(&r);
    uint32_t ql = sizeof(REQ) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    struct store_conn *c = only_conn(&r);
    CHECK_INT(c->stats.retransmits[DIR_C2S], 1);
    CHECK(c->packets[4].analysis & PKT_RETRANS);
    CHECK_INT(c->nmessages, 1);
    rig_free(&r);
}

/* A capture merged from two points may file the SYN/ACK before the SYN it
 * answers (its time is earlier): the handshake RTT is still ACK - SYN, as
 * tshark's initial RTT; a SYN sent after the SYN/ACK is not that SYN. */
TEST(tcp_handshake_syn_filed_after_its_synack)
{
    struct rig r;
    rig_init(&r, 80, 1000, 5000, 1);
    struct decoded sa = mkseg(&r, 0, r.sseq, r.cseq + 1, TCPF_SYN | TCPF_ACK, NULL, 0, 0);
    sa.ts_ns = 1030000000LL;
    struct decoded sy = mkseg(&r, 1, r.cseq, 0, TCPF_SYN, NULL, 0, 0);
    sy.ts_ns = 1000000000LL;
    struct decoded ak = mkseg(&r, 1, r.cseq + 1, r.sseq + 1, TCPF_ACK, NULL, 0, 0);
    ak.ts_ns = 1045000000LL;
    flow_table_packet(r.ft, &sa);
    flow_table_packet(r.ft, &sy);
    flow_table_packet(r.ft, &ak);
    struct store_conn *c = only_conn(&r);
    CHECK_INT(c->handshake_rtt_us, 45000);
    rig_free(&r);

    /* the ACK filed before the SYN too */
    rig_init(&r, 80, 1000, 5000, 1);
    flow_table_packet(r.ft, &sa);
    flow_table_packet(r.ft, &ak);
    flow_table_packet(r.ft, &sy);
    c = only_conn(&r);
    CHECK_INT(c->handshake_rtt_us, 45000);
    rig_free(&r);

    /* a SYN sent again: the RTT is the last one's, the wait began at the first */
    rig_init(&r, 80, 1000, 5000, 1);
    struct decoded s1 = sy;
    s1.ts_ns = 10000000LL;
    flow_table_packet(r.ft, &s1);
    flow_table_packet(r.ft, &sy);
    flow_table_packet(r.ft, &sa);
    flow_table_packet(r.ft, &ak);
    c = only_conn(&r);
    CHECK_INT(c->handshake_rtt_us, 45000);
    CHECK_INT(c->syn_first_us, 10000);
    CHECK_INT(c->syn_us, 1000000);
    rig_free(&r);

    /* a SYN after the SYN/ACK (a new attempt) is not the one it answered */
    rig_init(&r, 80, 1000, 5000, 1);
    sy.ts_ns = 1040000000LL;
    flow_table_packet(r.ft, &sa);
    flow_table_packet(r.ft, &sy);
    flow_table_packet(r.ft, &ak);
    c = only_conn(&r);
    CHECK_INT(c->handshake_rtt_us, -1);
    rig_free(&r);
}

/* A segment sent again carries its message's bytes again: it belongs to
 * that message, which counts the first copies only (its packets, its
 * end). Two requests begun in one packet: its
 * copy belongs to the first, as the packet does. */
TEST(tcp_retransmission_belongs_to_its_message)
{
    struct rig r;
    rig_init(&r, 80, 1, 1, 1);
    handshake(&r);
    uint32_t ql = sizeof(REQ) - 1, h = 38, sl = sizeof(RSP) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);           /* 3 */
    seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK, RSP, h, h);                   /* 4 */
    seg(&r, 0, r.sseq + h, r.cseq + ql, TCPF_ACK, RSP + h, sl - h, sl - h); /* 5 */
    seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK, RSP, h, h);                   /* 6: again */
    seg(&r, 1, r.cseq, r.sseq + sl, TCPF_ACK | TCPF_PSH, REQ, ql, ql);      /* 7: again */
    seg(&r, 1, r.cseq + ql, r.sseq + sl, TCPF_ACK | TCPF_PSH, REQ, ql, ql); /* 8 */
    seg(&r, 1, r.cseq + ql, r.sseq + sl, TCPF_ACK | TCPF_PSH, REQ, ql, ql); /* 9: again */
    struct store_conn *c = only_conn(&r);
    CHECK_INT(c->nmessages, 3);
    CHECK_INT(store_packet_msg(c, &c->packets[6]), c->messages[1]->id);
    CHECK_INT(store_packet_msg(c, &c->packets[7]), c->messages[0]->id);
    CHECK_INT(store_packet_msg(c, &c->packets[9]), c->messages[2]->id);
    CHECK_INT(c->messages[0]->packets, 1);
    CHECK_INT(c->messages[1]->packets, 2);
    CHECK_INT(c->messages[2]->packets, 1);
    CHECK_INT(c->messages[1]->last_packet, 5);
    CHECK_INT(c->messages[1]->end_us, c->packets[5].ts_us);
    rig_free(&r);

    rig_init(&r, 80, 1, 1, 1);
    handshake(&r);
    char both[2 * sizeof(REQ)];
    memcpy(both, REQ, ql);
    memcpy(both + ql, REQ, ql);
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, both, 2 * ql, 2 * ql);
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, both, 2 * ql, 2 * ql);
    c = only_conn(&r);
    CHECK_INT(c->nmessages, 2);
    CHECK_INT(store_packet_msg(c, &c->packets[4]), c->messages[0]->id);
    CHECK_INT(c->messages[0]->packets, 1);
    rig_free(&r);
}

/* A body segment never captured, ACKed by the client: a gap of exactly its
 * length, the message still completes, the next one still parses. */
TEST(tcp_gap_declared_by_ack)
{
    struct rig r;
    rig_init(&r, 80, 100, 200, 1);
    handshake(&r);
    static const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"
                              "HTTP/1.1 204 No Content\r\n\r\n";
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(two) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    seg(&r, 1, r.cseq + ql, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    uint32_t hdr = 39; /* through the blank line of the first response */
    CHECK(memcmp(two + hdr, "0123", 4) == 0);
    seg(&r, 0, r.sseq, r.cseq + 2 * ql, TCPF_ACK, two, hdr + 2, hdr + 2);
    /* bytes hdr+2 .. hdr+6 lost; the client ACKs past them */
    seg(&r, 0, r.sseq + hdr + 6, r.cseq + 2 * ql, TCPF_ACK, two + hdr + 6, sl - hdr - 6,
        sl - hdr - 6);
    seg(&r, 1, r.cseq + 2 * ql, r.sseq + sl, TCPF_ACK, NULL, 0, 0);
    struct store_conn *c = only_conn(&r);
    CHECK_INT(c->stats.gap_bytes[DIR_S2C], 4);
    CHECK(c->packets[6].analysis & PKT_LOST_SEGMENT);
    /* it ACKs past bytes that were never captured (Wireshark's
     * ack_lost_segment), once */
    CHECK(c->packets[7].analysis & PKT_ACKED_UNSEEN);
    CHECK_INT(c->nmessages, 4);
    struct store_message *m = c->messages[2];
    CHECK_INT(m->status, 200);
    CHECK_INT(m->gap_bytes, 4);
    CHECK_INT(m->body_bytes, 10);
    struct store_message *m2 = c->messages[3];
    CHECK_INT(m2->status, 204);
    CHECK_INT(m2->request, c->messages[1]->id);
    rig_free(&r);
}

/* Snaplen cut the payload: the uncaptured tail is a gap, not a hang. */
TEST(tcp_truncated_payload_is_gap)
{
    struct rig r;
    rig_init(&r, 80, 1, 1, 1);
    handshake(&r);
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK, RSP, sl, sl - 5);
    struct store_conn *c = only_conn(&r);
    CHECK(c->packets[4].analysis & PKT_TRUNCATED);
    CHECK_INT(c->stats.gap_bytes[DIR_S2C], 5);
    CHECK_INT(c->messages[1]->gap_bytes, 5);
    CHECK_INT(c->messages[1]->body_bytes, 10);
    rig_free(&r);
}

TEST(tcp_port_reuse_makes_new_connection)
{
    struct rig r;
    rig_init(&r, 80, 1000, 5000, 1);
    handshake(&r);
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_RST, NULL, 0, 0);
    r.cseq = 90000;
    r.sseq = 70000;
    handshake(&r);
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, sizeof(REQ) - 1, sizeof(REQ) - 1);
    flow_table_finish(r.ft);
    struct store_conn *a = store_first(r.st);
    CHECK(a != NULL);
    struct store_conn *b = store_next(a);
    CHECK(b != NULL);
    CHECK_INT(a->close, CLOSE_RST);
    CHECK_INT(a->npackets, 4);
    CHECK_INT(b->npackets, 4);
    CHECK_INT(b->nmessages, 1);
    CHECK_INT(b->packets[0].seq, 0);
    rig_free(&r);
}

TEST(tcp_syn_retry_same_connection)
{
    struct rig r;
    rig_init(&r, 80, 1000, 5000, 1);
    seg(&r, 1, r.cseq, 0, TCPF_SYN, NULL, 0, 0);
    seg(&r, 1, r.cseq, 0, TCPF_SYN, NULL, 0, 0);
    seg(&r, 0, r.sseq, r.cseq + 1, TCPF_SYN | TCPF_ACK, NULL, 0, 0);
    seg(&r, 1, r.cseq + 1, r.sseq + 1, TCPF_ACK, NULL, 0, 0);
    struct store_conn *c = only_conn(&r);
    CHECK(store_next(c) == NULL);
    CHECK_INT(c->npackets, 4);
    CHECK(c->packets[1].analysis & PKT_SYN_RETRY);
    CHECK(c->packets[1].analysis & PKT_RETRANS);
    /* from the SYN the SYN/ACK answered (the retry), as Wireshark's
     * initial_rtt; the time lost to the retry is the SYN retry event */
    CHECK_INT(c->handshake_rtt_us, 2000);
    rig_free(&r);
}

TEST(flow_http_on_other_port_found_and_non_http_ignored)
{
    struct rig r;
    rig_init(&r, 8080, 1, 1, 1);
    handshake(&r);
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, sizeof(REQ) - 1, sizeof(REQ) - 1);
    /* a second flow on port 25 where the server speaks first */
    r.sport = 25;
    r.cport = 40001;
    r.cseq = 1;
    r.sseq = 1;
    handshake(&r);
    seg(&r, 0, r.sseq, r.cseq, TCPF_ACK | TCPF_PSH, "220 smtp\r\n", 10, 10);
    flow_table_finish(r.ft);
    struct store_conn *c = store_first(r.st);
    CHECK(c != NULL);
    CHECK(store_next(c) == NULL);
    CHECK_INT(c->server_port, 8080);
    CHECK_INT(c->npackets, 4); /* the handshake was queued and replayed */
    CHECK_INT(c->handshake_rtt_us, 2000);
    CHECK_INT(c->nmessages, 1);
    CHECK_INT(flow_table_stats(r.ft)->ignored_flows, 1);
    CHECK_INT(store_stats(r.st)->ignored_packets, 4);
    rig_free(&r);
}

TEST(flow_explicit_ports_do_not_sniff)
{
    struct rig r;
    rig_init(&r, 8080, 1, 1, 0);
    handshake(&r);
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, sizeof(REQ) - 1, sizeof(REQ) - 1);
    flow_table_finish(r.ft);
    CHECK(store_first(r.st) == NULL);
    CHECK_INT(store_stats(r.st)->ignored_packets, 4);
    rig_free(&r);
}

/* Midstream: no SYN; the server's port decides roles, seq 1 is the first
 * byte seen. */
TEST(tcp_midstream_pickup)
{
    struct rig r;
    rig_init(&r, 80, 5555, 7777, 1);
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1;
    seg(&r, 0, r.sseq, r.cseq, TCPF_ACK, NULL, 0, 0);
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
    struct store_conn *c = only_conn(&r);
    CHECK(c != NULL);
    CHECK_INT(c->midstream, 1);
    CHECK_INT(c->handshake_rtt_us, -1);
    CHECK_INT(c->packets[1].seq, 1);
    CHECK_INT(c->packets[2].seq, 1);
    CHECK_INT(c->packets[2].ack, 1 + ql);
    CHECK_INT(c->nmessages, 2);
    rig_free(&r);
}

static uint32_t flushed_msgs, flush_calls, flushed_right;
static void count_msgs(void *ctx, struct store *st, struct store_conn *c)
{
    (void)ctx;
    (void)st;
    flushed_msgs += c->nmessages;
    flush_calls++;
    /* What is handed out is read (under ASan, anything left pointing into
     * memory an earlier flush freed is caught here): the header each
     * message of REQ and RSP has, and the response's body. */
    for (uint32_t i = 0; i < c->nmessages; i++) {
        const struct store_message *m = c->messages[i];
        int req = m->kind == MSG_REQUEST;
        flushed_right += m->nheaders == 1 &&
                         !strcmp(m->headers[0].name, req ? "Host" : "Content-Length") &&
                         !strcmp(m->headers[0].value, req ? "example.com" : "10") &&
                         (req || (m->body_len == 10 && !memcmp(m->body, "0123456789", 10)));
    }
}

/* Streaming: each keep-alive transaction is handed out and freed as soon as
 * it is complete; packet indices keep counting across flushes; the close
 * finishes (and frees) the connection at once. */
TEST(tcp_stream_mode_flushes_keepalive_transactions)
{
    struct rig r;
    rig_init(&r, 80, 1000, 5000, 1);
    flow_table_free(r.ft);
    store_free(r.st);
    flushed_msgs = flush_calls = flushed_right = 0;
    r.st = store_new(&(struct store_opts){.stream = 1, .on_finish = count_msgs, .body_limit = 64});
    struct flow_opts fo = {.nports = 1, .sniff_http = 1};
    fo.ports[0] = 80;
    r.ft = flow_table_new(r.st, &fo);
    handshake(&r);
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1;
    for (int i = 0; i < 3; i++) {
        seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
        r.cseq += ql;
        seg(&r, 0, r.sseq, r.cseq, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
        r.sseq += sl;
        CHECK_INT(flushed_msgs, 2 * (i + 1));
        struct store_conn *c = store_first(r.st);
        CHECK(c != NULL);
        CHECK_INT(c->nmessages, 0);
        CHECK_INT(store_conn_total_packets(c), 3 + 2 * (i + 1));
        CHECK(store_conn_pkt(c, 3) == NULL); /* flushed */
    }
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_FIN, NULL, 0, 0);
    seg(&r, 0, r.sseq, r.cseq + 1, TCPF_ACK | TCPF_FIN, NULL, 0, 0);
    CHECK(store_first(r.st) != NULL); /* the server's FIN is not ACKed yet */
    seg(&r, 1, r.cseq + 1, r.sseq + 1, TCPF_ACK, NULL, 0, 0);
    CHECK(store_first(r.st) == NULL); /* finished and freed at once */
    CHECK_INT(flushed_msgs, 6);
    CHECK_INT(flushed_right, 6);
    CHECK_INT(flush_calls, 4);
    seg(&r, 1, r.cseq + 1, r.sseq + 1, TCPF_ACK, NULL, 0, 0);
    CHECK_INT(store_stats(r.st)->late_packets, 1);
    flow_table_finish(r.ft);
    CHECK_INT(flush_calls, 4);
    rig_free(&r);
}

/* After a hole that never fills, the segments that follow in order are not
 * out of order: only the first one after the hole is flagged. */
TEST(tcp_in_order_after_hole_not_flagged)
{
    struct rig r;
    rig_init(&r, 80, 1, 1, 1);
    handshake(&r);
    uint32_t ql = sizeof(REQ) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n";
    uint32_t hl = sizeof(hdr) - 1;
    seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK, hdr, hl, hl);
    static char body[1000];
    memset(body, 'x', sizeof(body));
    /* body bytes 0..999 lost; 1000..3999 arrive in order */
    for (int i = 1; i < 4; i++)
        seg(&r, 0, r.sseq + hl + 1000 * i, r.cseq + ql, TCPF_ACK, body, 1000, 1000);
    struct store_conn *c = only_conn(&r);
    CHECK(c->packets[5].analysis & PKT_LOST_SEGMENT);
    CHECK(!(c->packets[6].analysis & (PKT_OUT_OF_ORDER | PKT_LOST_SEGMENT)));
    CHECK(!(c->packets[7].analysis & (PKT_OUT_OF_ORDER | PKT_LOST_SEGMENT)));
    CHECK_INT(c->stats.out_of_order, 0);
    CHECK_INT(c->stats.gap_bytes[DIR_S2C], 1000);
    CHECK_INT(c->messages[1]->gap_bytes, 1000);
    CHECK_INT(c->messages[1]->body_bytes, 4000);
    CHECK_INT(c->messages[1]->complete, 1);
    rig_free(&r);
}

/* A response sent in two ACK-clocked flights takes two round trips; the
 * stall is the time to first byte less one handshake RTT; the series hold
 * the windows advertised and the bytes in flight. */
TEST(tcp_round_trips_stall_and_series)
{
    struct rig r;
    rig_init(&r, 80, 1, 1, 1);
    handshake(&r); /* SYN t0, SYN/ACK t0+1ms, ACK t0+2ms: RTT 2 ms */
    uint32_t ql = sizeof(REQ) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    r.t += 10000; /* the server thinks for 10 ms */
    static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n";
    uint32_t hl = sizeof(hdr) - 1;
    static char body[3000];
    memset(body, 'y', sizeof(body));
    uint32_t s0 = r.sseq, a = r.cseq + ql;
    seg(&r, 0, s0, a, TCPF_ACK, hdr, hl, hl);                /* flight 1 */
    seg(&r, 0, s0 + hl, a, TCPF_ACK, body, 1000, 1000);      /* flight 1 */
    seg(&r, 1, a, s0 + hl, TCPF_ACK, NULL, 0, 0);            /* ACKs the first segment */
    seg(&r, 0, s0 + hl + 1000, a, TCPF_ACK, body, 1000, 1000); /* flight 2 */
    seg(&r, 0, s0 + hl + 2000, a, TCPF_ACK, body, 1000, 1000); /* flight 2 */
    struct store_conn *c = only_conn(&r);
    struct store_message *rsp = c->messages[1];
    CHECK_INT(rsp->complete, 1);
    CHECK_INT(rsp->round_trips, 2);
    CHECK_INT(c->messages[0]->round_trips, 1);
    CHECK_INT(c->handshake_rtt_us, 2000);
    CHECK_INT(rsp->ttfb_us, 11000);
    CHECK_INT(rsp->stall_us, 9000);
    /* the client advertised 1000 once (unchanged later); so did the server */
    CHECK_INT(c->series[SERIES_RWND_C2S].n, 1);
    CHECK_INT(c->series[SERIES_RWND_S2C].n, 1);
    CHECK_INT(c->series[SERIES_RWND_C2S].v[0].value, 1000);
    /* in flight after each server data segment: hl, hl+1000, then after the
     * ACK of hl: 2000, 3000 */
    const struct store_series *fs = &c->series[SERIES_FLIGHT_S2C];
    CHECK_INT(fs->n, 4);
    CHECK_INT(fs->v[0].value, hl);
    CHECK_INT(fs->v[1].value, hl + 1000);
    CHECK_INT(fs->v[2].value, 2000);
    CHECK_INT(fs->v[3].value, 3000);
    rig_free(&r);
}

/* seg() with a chosen window. */
static void segw(struct rig *r, int c2s, uint32_t seq, uint32_t ack, uint16_t flags,
                 const char *data, uint32_t len, uint16_t window)
{
    struct decoded d = mkseg(r, c2s, seq, ack, flags, data, len, len);
    d.window = window;
    send_seg(r, &d);
}

/* Idle when nothing is outstanding and nothing moves for > 200 ms; a zero
 * window holds the connection until the receiver opens it again. */
TEST(tcp_states_idle_and_zero_window)
{
    struct rig r;
    rig_init(&r, 80, 1, 1, 1);
    handshake(&r);
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    r.cseq += ql;
    seg(&r, 0, r.sseq, r.cseq, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
    r.sseq += sl;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK, NULL, 0, 0); /* all ACKed */
    int64_t quiet_from = r.t - 1000;
    r.t += 500000; /* half a second of nothing */
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    r.cseq += ql;
    seg(&r, 0, r.sseq, r.cseq, TCPF_ACK | TCPF_PSH, RSP, 20, 20);
    segw(&r, 1, r.cseq, r.sseq + 20, TCPF_ACK, NULL, 0, 0); /* client: window 0 */
    int64_t zw_from = r.t - 1000;
    segw(&r, 0, r.sseq + 20, r.cseq, TCPF_ACK, NULL, 0, 1000); /* server waits */
    segw(&r, 1, r.cseq, r.sseq + 20, TCPF_ACK, NULL, 0, 1000); /* window update */
    int64_t zw_to = r.t - 1000;
    struct store_conn *c = only_conn(&r);
    /* handshake, active, idle, active, zero window, active */
    CHECK(c->nstates >= 6);
    CHECK_INT(c->states[0].state, STATE_HANDSHAKE);
    CHECK_INT(c->states[1].state, STATE_ACTIVE);
    CHECK_INT(c->states[2].state, STATE_IDLE);
    CHECK_INT(c->states[2].start_us, quiet_from);
    CHECK_INT(c->states[2].end_us, quiet_from + 501000);
    CHECK_INT(c->states[3].state, STATE_ACTIVE);
    CHECK_INT(c->states[4].state, STATE_ZERO_WINDOW);
    CHECK_INT(c->states[4].start_us, zw_from);
    CHECK_INT(c->states[4].end_us, zw_to);
    CHECK_INT(c->states[5].state, STATE_ACTIVE);
    CHECK_INT(c->stats.zero_windows, 1);
    rig_free(&r);
}

/* Bytes in flight leave out what the receiver SACKed; the cwnd estimate is
 * the most in flight in a round (until the first segment of the round is
 * ACKed). */
TEST(tcp_flight_sack_and_cwnd)
{
    struct rig r;
    rig_init(&r, 80, 1, 1, 1);
    handshake(&r);
    uint32_t ql = sizeof(REQ) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    r.cseq += ql;
    static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n";
    uint32_t hl = sizeof(hdr) - 1, s0 = r.sseq;
    static char body[1000];
    memset(body, 'z', sizeof(body));
    seg(&r, 0, s0, r.cseq, TCPF_ACK, hdr, hl, hl);                  /* round 1 */
    for (int i = 0; i < 3; i++)
        seg(&r, 0, s0 + hl + 1000 * i, r.cseq, TCPF_ACK, body, 1000, 1000);
    /* the client ACKs the headers and SACKs the third body segment */
    struct decoded d = mkseg(&r, 1, r.cseq, s0 + hl, TCPF_ACK, NULL, 0, 0);
    d.opt.nsack = 1;
    d.opt.sack[0][0] = s0 + hl + 2000;
    d.opt.sack[0][1] = s0 + hl + 3000;
    send_seg(&r, &d);
    seg(&r, 0, s0 + hl + 3000, r.cseq, TCPF_ACK, body, 1000, 1000); /* round 2 */
    struct store_conn *c = only_conn(&r);
    const struct store_series *fs = &c->series[SERIES_FLIGHT_S2C];
    CHECK_INT(fs->n, 5);
    CHECK_INT(fs->v[3].value, hl + 3000);
    /* sent up to hl+4000, ACKed hl, SACKed 1000 of the rest: 3000 */
    CHECK_INT(fs->v[4].value, 3000);
    const struct store_series *cw = &c->series[SERIES_CWND_S2C];
    CHECK_INT(cw->n, 2); /* round 1 ended by the ACK, round 2 at the end */
    CHECK_INT(cw->v[0].value, hl + 3000);
    CHECK_INT(cw->v[1].value, 3000);
    rig_free(&r);
}

static void segts(struct rig *r, int c2s, uint32_t seq, uint32_t ack, uint16_t flags,
                  const char *data, uint32_t len, uint32_t tsval, uint32_t tsecr)
{
    struct decoded d = mkseg(r, c2s, seq, ack, flags, data, len, len);
    d.opt.has_ts = 1;
    d.opt.tsval = tsval;
    d.opt.tsecr = tsecr;
    send_seg(r, &d);
}

/* Segments in flight are timed in a ring that starts small and doubles
 * (4, 8, ... 64), wrapped or not: every ACK that ends at a segment's end
 * gives that segment's RTT. Past 64 the oldest are forgotten, and an ACK
 * of one of them gives no sample. */
TEST(tcp_rtt_ring_grows_in_order)
{
    struct rig r;
    rig_init(&r, 80, 1, 1, 0);
    handshake(&r);
    static const char ten[] = "0123456789";
    uint32_t s0 = r.sseq;
    int64_t sent[120];
    uint32_t nsent = 0, nack = 0;
    int64_t want[120];
    uint32_t nwant = 0;
    /* server segment i covers [s0 + 10 i, s0 + 10 (i + 1)) */
#define SEND_ONE()                                                                                 \
    do {                                                                                           \
        sent[nsent] = r.t;                                                                         \
        seg(&r, 0, s0 + 10 * nsent, r.cseq, TCPF_ACK, ten, 10, 10);                                \
        nsent++;                                                                                   \
    } while (0)
#define ACK_TO(i, sample)                                                                          \
    do {                                                                                           \
        if (sample)                                                                                \
            want[nwant++] = r.t - sent[(i)];                                                       \
        seg(&r, 1, r.cseq, s0 + 10 * ((i) + 1), TCPF_ACK, NULL, 0, 0);                             \
        nack = (i) + 1;                                                                            \
    } while (0)
    for (int i = 0; i < 3; i++)
        SEND_ONE();
    ACK_TO(1, 1); /* the ring's head moves: what follows wraps it */
    for (int i = 0; i < 30; i++)
        SEND_ONE(); /* 31 in flight: the ring grows 4 -> 8 -> 16 -> 32 */
    while (nack < nsent)
        ACK_TO(nack, 1); /* each, in order */
    /* 70 more without an ACK: the first 6 are forgotten */
    uint32_t first = nsent;
    for (int i = 0; i < 70; i++)
        SEND_ONE();
    ACK_TO(first + 2, 0);  /* forgotten: no sample */
    ACK_TO(first + 9, 1);  /* the newest of those it covers */
    ACK_TO(first + 69, 1);
    CHECK_INT(nsent, 103);
    struct store_conn *c = only_conn(&r);
    CHECK(c != NULL);
    /* the first sample times the SYN/ACK */
    const struct store_series *rs = &c->series[SERIES_RTT_S2C];
    CHECK_INT(rs->n, nwant + 1);
    for (uint32_t i = 0; i < nwant && i + 1 < rs->n; i++)
        CHECK_INT(rs->v[i + 1].value, want[i]);
    CHECK_INT(store_stats(r.st)->alloc_failures, 0);
    rig_free(&r);
#undef SEND_ONE
#undef ACK_TO
}

/* Karn's rule leaves a segment sent twice without a sample, unless the
 * ACK's timestamp echo names the copy it answers. */
TEST(tcp_rtt_timestamp_echo_after_retransmission)
{
    struct rig r;
    rig_init(&r, 80, 1, 1, 1);
    handshake(&r);
    uint32_t ql = sizeof(REQ) - 1;
    segts(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, 100, 0);
    r.t += 200000;
    int64_t resent = r.t;
    segts(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, 300, 0); /* again */
    r.t += 4000;
    int64_t acked = r.t;
    segts(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK, NULL, 0, 9, 300); /* echoes the copy */
    struct store_conn *c = only_conn(&r);
    CHECK(c->packets[4].analysis & PKT_RETRANS);
    CHECK_INT(c->stats.rtt_ts_samples, 1);
    const struct store_series *rs = &c->series[SERIES_RTT_C2S];
    CHECK(rs->n >= 1);
    CHECK_INT(rs->v[rs->n - 1].value, acked - resent);
    rig_free(&r);
}

/* A sample belongs to the direction of the segment it times, not of the
 * ACK. Near the client the server's segments are ACKed within µs (the
 * client's ACK delay): the overall minimum shows that, but the base RTT,
 * and so the stall, takes only samples timed on the client's segments. */
TEST(tcp_rtt_samples_per_direction)
{
    struct rig r;
    rig_init(&r, 80, 5555, 7777, 1);
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1;
    int64_t t0 = r.t;
    seg(&r, 0, r.sseq, r.cseq, TCPF_ACK, NULL, 0, 0); /* midstream: no handshake RTT */
    r.t = t0 + 1000;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    r.cseq += ql;
    r.t = t0 + 6000;
    seg(&r, 0, r.sseq, r.cseq, TCPF_ACK, NULL, 0, 0); /* c2s sample 5000 */
    r.t = t0 + 31000;
    seg(&r, 0, r.sseq, r.cseq, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
    r.sseq += sl;
    r.t = t0 + 31020;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK, NULL, 0, 0); /* s2c sample 20 */
    r.t = t0 + 40000;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    r.cseq += ql;
    r.t = t0 + 52000;
    seg(&r, 0, r.sseq, r.cseq, TCPF_ACK | TCPF_PSH, RSP, sl, sl); /* c2s sample 12000 */
    r.sseq += sl;
    r.t = t0 + 52030;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK, NULL, 0, 0); /* s2c sample 30 */
    struct store_conn *c = only_conn(&r);
    CHECK(c != NULL);
    CHECK_INT(c->handshake_rtt_us, -1);
    const struct store_series *a = &c->series[SERIES_RTT_C2S], *b = &c->series[SERIES_RTT_S2C];
    CHECK_INT(a->n, 2);
    CHECK_INT(b->n, 2);
    if (a->n == 2 && b->n == 2) {
        CHECK_INT(a->v[0].value, 5000);
        CHECK_INT(a->v[0].ts_us, t0 + 6000);
        CHECK_INT(a->v[1].value, 12000);
        CHECK_INT(b->v[0].value, 20);
        CHECK_INT(b->v[0].ts_us, t0 + 31020);
        CHECK_INT(b->v[1].value, 30);
    }
    const struct store_conn_stats *s = &c->stats;
    CHECK_INT(store_rtt_min(s, DIR_C2S), 5000);
    CHECK_INT(store_rtt_avg(s, DIR_C2S), 8500);
    CHECK_INT(store_rtt_max(s, DIR_C2S), 12000);
    CHECK_INT(store_rtt_min(s, DIR_S2C), 20);
    CHECK_INT(store_rtt_avg(s, DIR_S2C), 25);
    CHECK_INT(store_rtt_max(s, DIR_S2C), 30);
    CHECK_INT(store_rtt_min(s, -1), 20); /* all samples, as before */
    CHECK_INT(store_rtt_avg(s, -1), (5000 + 12000 + 20 + 30) / 4);
    CHECK_INT(store_rtt_max(s, -1), 12000);
    CHECK_INT(store_conn_base_rtt(c), 5000);
    CHECK_INT(c->nmessages, 4);
    if (c->nmessages == 4) {
        CHECK_INT(c->messages[1]->ttfb_us, 30000);
        CHECK_INT(c->messages[1]->stall_us, 25000); /* less the 5 ms, not the 20 µs */
        CHECK_INT(c->messages[3]->ttfb_us, 12000);
        CHECK_INT(c->messages[3]->stall_us, 7000);
    }
    rig_free(&r);
}

/* On a port outside the sniff set, a request line split before it can be
 * recognised waits with its bytes, and HTTP gets all of them. */
TEST(flow_split_request_line_on_other_port)
{
    struct rig r;
    rig_init(&r, 8080, 1, 1, 1);
    handshake(&r);
    static const char a[] = "GE", b[] = "T /split HTTP/1.1\r\nHost: x\r\n\r\n";
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, a, 2, 2);
    seg(&r, 1, r.cseq + 2, r.sseq, TCPF_ACK | TCPF_PSH, b, sizeof(b) - 1, sizeof(b) - 1);
    struct store_conn *c = only_conn(&r);
    CHECK(c != NULL);
    CHECK_INT(c->npackets, 5);
    CHECK_INT(c->nmessages, 1);
    CHECK_STR(c->messages[0]->method, "GET");
    CHECK_STR(c->messages[0]->url, "/split");
    CHECK_INT(c->messages[0]->complete, 1);
    CHECK_INT(c->messages[0]->first_packet, 3);
    CHECK_INT(c->messages[0]->headers_split, 1);
    rig_free(&r);
}

/* Two keep-alive connections that never close, and a budget they fill
 * many times over: the oldest open connection is evicted each time, and
 * what its client sends next starts a new connection, picked up
 * mid-stream, whose exchanges are parsed as before. */
struct side {
    uint16_t cport;
    uint32_t cseq, sseq;
};

static void use_side(struct rig *r, struct side *s, const struct side *next)
{
    s->cport = r->cport;
    s->cseq = r->cseq;
    s->sseq = r->sseq;
    r->cport = next->cport;
    r->cseq = next->cseq;
    r->sseq = next->sseq;
}

TEST(flow_budget_evicts_open_connections_and_picks_them_up_again)
{
    struct rig r;
    /* A budget a few dozen exchanges fill. */
    rig_budget(&r, 64 * 1024, 0);
    struct side other = {.cport = 40001, .cseq = 7000, .sseq = 9000}, cur;
    handshake(&r);
    use_side(&r, &cur, &other);
    handshake(&r);
    char req[64];
    const int rounds = 400;
    for (int i = 0; i < rounds * 2; i++) {
        use_side(&r, &other, &cur);
        cur = other;
        snprintf(req, sizeof(req), "GET /%d/%u HTTP/1.1\r\nHost: example.com\r\n\r\n", i,
                 r.cport);
        uint32_t ql = (uint32_t)strlen(req), sl = sizeof(RSP) - 1;
        seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, req, ql, ql);
        seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
        seg(&r, 1, r.cseq + ql, r.sseq + sl, TCPF_ACK, NULL, 0, 0);
        r.cseq += ql;
        r.sseq += sl;
    }
    const struct store_stats *ss = store_stats(r.st);
    CHECK(ss->evicted_open >= 4);
    CHECK_INT(ss->evicted_connections, ss->evicted_open);
    CHECK_INT(ss->alloc_failures, 0);
    CHECK_INT(ss->requests, ss->responses);
    /* The model holds the newest exchanges of both clients, each on a
     * connection that began mid-stream (its SYN belongs to an evicted one),
     * and every request there is answered. */
    int found[2] = {0, 0};
    for (struct store_conn *c = store_first(r.st); c; c = store_next(c)) {
        CHECK_INT(c->midstream, 1);
        CHECK(c->nmessages >= 2);
        CHECK_INT(c->nmessages % 2, 0);
        struct store_message *q = c->messages[c->nmessages - 2];
        struct store_message *p = c->messages[c->nmessages - 1];
        CHECK_INT(q->kind, MSG_REQUEST);
        CHECK_INT(p->request, q->id);
        CHECK_INT(p->status, 200);
        snprintf(req, sizeof(req), "/%d/%u", rounds * 2 - (c->client_port == 40000 ? 2 : 1),
                 c->client_port);
        if (!strcmp(q->url, req))
            found[c->client_port - 40000]++;
    }
    CHECK_INT(found[0], 1);
    CHECK_INT(found[1], 1);
    rig_free(&r);
}

/* A flood of connection attempts on a port that is not sniffed (a scan, in
 * a capture read with HTTP sniffing on): each is a PENDING flow holding its
 * SYN back. The table stays within its quarter of the budget by finishing
 * the flows idle longest, each counted, while a keep-alive connection on
 * the sniffed port that speaks now and then is never among them. */
TEST(flow_table_held_to_its_share_of_the_budget)
{
    struct rig r;
    const size_t budget = 1 << 20;
    rig_budget(&r, budget, 1);
    const size_t limit = store_table_limit(r.st);
    CHECK_INT(limit, budget / 4);
    CHECK(flow_table_memory(r.ft) <= limit / 8);
    handshake(&r);
    const int scans = 30000, every = 300;
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1;
    size_t most = 0, store_most = 0;
    int exchanges = 0;
    for (int i = 0; i < scans; i++) {
        struct decoded d = mkseg(&r, 1, 77u * (uint32_t)i, 0, TCPF_SYN, NULL, 0, 0);
        d.sport = (uint16_t)(1024 + i % 60000);
        d.src.a[2] = (uint8_t)(1 + i / 60000);
        d.dport = 443;
        send_seg(&r, &d);
        if (flow_table_memory(r.ft) > most)
            most = flow_table_memory(r.ft);
        if (store_memory(r.st) > store_most)
            store_most = store_memory(r.st);
        if (i % every == every - 1) {
            seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
            seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
            r.cseq += ql;
            r.sseq += sl;
            exchanges++;
        }
    }
    const struct store_stats *ss = store_stats(r.st);
    /* Within the share after every packet (a flow is well under 1 KiB), and
     * the whole store within the budget. */
    CHECK(most <= limit + 1024);
    CHECK(most > limit / 2);
    CHECK(store_most <= budget);
    CHECK(ss->flows_evicted > (uint64_t)scans / 2);
    CHECK(ss->flows_evicted < (uint64_t)scans);
    CHECK_INT(ss->alloc_failures, 0);
    /* The keep-alive connection kept its flow throughout: one connection,
     * from its handshake, every request answered on it. */
    struct store_conn *c = store_first(r.st);
    CHECK(c != NULL);
    CHECK(store_next(c) == NULL);
    CHECK_INT(c->midstream, 0);
    CHECK_INT(c->finished, 0);
    CHECK_INT(c->nmessages, 2 * exchanges);
    CHECK_INT(ss->responses, exchanges);
    /* Every SYN held back is accounted for: the flows finished early and
     * those left at the end were never shown to be HTTP. */
    flow_table_finish(r.ft);
    CHECK_INT(c->finished, 1);
    CHECK_INT(ss->ignored_packets, scans);
    CHECK_INT(flow_table_stats(r.ft)->ignored_flows, scans);
    CHECK_INT(flow_table_stats(r.ft)->active, 0);
    CHECK(flow_table_memory(r.ft) <= limit / 8);
    size_t before = store_memory(r.st), table = flow_table_memory(r.ft);
    flow_table_free(r.ft);
    CHECK_INT(store_memory(r.st), before - table);
    store_free(r.st);
}

/* A connection whose close was complete, evicted for the budget while it
 * lingers (retain mode finishes it only when the linger ends): a FIN sent
 * again after that is a late packet, not a new connection picked up
 * mid-stream. */
TEST(flow_budget_eviction_of_a_closed_connection_keeps_it_closed)
{
    struct rig r;
    rig_budget(&r, 64 * 1024, 0);
    handshake(&r);
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
    r.cseq += ql;
    r.sseq += sl;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_FIN, NULL, 0, 0);
    seg(&r, 0, r.sseq, r.cseq + 1, TCPF_ACK | TCPF_FIN, NULL, 0, 0);
    seg(&r, 1, r.cseq + 1, r.sseq + 1, TCPF_ACK, NULL, 0, 0);
    struct side closed, other = {.cport = 40001, .cseq = 7000, .sseq = 9000};
    use_side(&r, &closed, &other);
    handshake(&r);
    const struct store_stats *ss = store_stats(r.st);
    for (int i = 0; i < 2000 && !ss->evicted_open; i++) {
        seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
        seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
        r.cseq += ql;
        r.sseq += sl;
    }
    CHECK_INT(ss->evicted_open, 1);
    uint64_t conns = ss->connections, late = ss->late_packets;
    /* the client's FIN again, on the evicted connection's tuple */
    struct side cur;
    use_side(&r, &cur, &closed);
    seg(&r, 1, r.cseq, r.sseq + 1, TCPF_ACK | TCPF_FIN, NULL, 0, 0);
    CHECK_INT(ss->connections, conns);
    CHECK_INT(ss->late_packets, late + 1);
    rig_free(&r);
}

/* The HTTP state is made at the first byte: a connection that carries none
 * (a SYN flood's) holds only its TCP state; one picked up mid-stream by a
 * bare ACK still resynchronises when its first bytes are a body's tail. */
TEST(tcp_http_state_made_at_the_first_byte)
{
    struct rig r;
    rig_init(&r, 80, 1000, 5000, 0);
    seg(&r, 1, r.cseq, 0, TCPF_SYN, NULL, 0, 0);
    struct store_conn *c = store_first(r.st);
    CHECK(c != NULL);
    size_t bare = c->side_mem;
    CHECK(bare > 0 && bare < 1024);
    handshake(&r); /* the SYN again, then the rest (an RTT ring comes) */
    size_t hs = c->side_mem;
    CHECK(hs < 1024);
    uint32_t ql = sizeof(REQ) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    CHECK(c->side_mem > hs + 1024);
    /* ... and goes when both directions have ended (their EOFs given to
     * HTTP): after the server's FIN the client's is still to come, then it
     * is gone, while the connection lingers for late packets. */
    uint32_t sl = sizeof(RSP) - 1;
    seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
    seg(&r, 0, r.sseq + sl, r.cseq + ql, TCPF_ACK | TCPF_FIN, NULL, 0, 0);
    CHECK(c->side_mem > hs + 1024);
    seg(&r, 1, r.cseq + ql, r.sseq + sl + 1, TCPF_ACK | TCPF_FIN, NULL, 0, 0);
    CHECK(c->side_mem < 1024);
    /* a late copy of the request: recorded and flagged, no new message */
    seg(&r, 1, r.cseq, r.sseq + sl + 1, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    CHECK_INT(c->npackets, 9); /* two SYNs, SYN/ACK, ACK, 2 data, 2 FINs, the copy */
    CHECK(c->packets[8].analysis & PKT_RETRANS);
    CHECK_INT(c->nmessages, 2);
    CHECK(c->messages[0]->complete && c->messages[1]->complete);
    CHECK_INT(c->messages[1]->status, 200);
    rig_free(&r);

    /* mid-stream: a bare ACK from the server first, then the tail of a body */
    rig_init(&r, 80, 1000, 5000, 0);
    seg(&r, 0, r.sseq, r.cseq, TCPF_ACK, NULL, 0, 0);
    static const char tail[] = "89";
    seg(&r, 0, r.sseq, r.cseq, TCPF_ACK | TCPF_PSH, tail, 2, 2);
    r.sseq += 2;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
    c = only_conn(&r);
    CHECK(c != NULL);
    CHECK_INT(c->midstream, 1);
    CHECK_INT(c->nmessages, 2);
    CHECK_INT(c->messages[1]->status, 200);
    CHECK_INT(c->stats.http_resyncs[DIR_S2C], 1);
    CHECK_INT(c->stats.http_skipped[DIR_S2C], 2);
    rig_free(&r);
}

/* A capture that begins in the middle of a response body (a live capture
 * started beside busy keep-alive connections, or a connection the budget
 * evicted): the body's tail is skipped up to the next status line, and
 * the exchanges after it are parsed and paired. */
TEST(tcp_midstream_start_inside_a_body_resyncs)
{
    struct rig r;
    rig_init(&r, 80, 1000, 5000, 0);
    static const char tail[] = "89";
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1;
    seg(&r, 0, r.sseq, r.cseq, TCPF_ACK | TCPF_PSH, tail, 2, 2);
    r.sseq += 2;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
    struct store_conn *c = only_conn(&r);
    CHECK(c != NULL);
    CHECK_INT(c->midstream, 1);
    CHECK_INT(c->nmessages, 2);
    CHECK_INT(c->messages[0]->kind, MSG_REQUEST);
    CHECK_STR(c->messages[0]->url, "/a");
    CHECK_INT(c->messages[1]->status, 200);
    CHECK_INT(c->messages[1]->request, c->messages[0]->id);
    CHECK_INT(c->messages[1]->error == NULL, 1);
    CHECK_INT(c->stats.http_skipped[DIR_S2C], 2);
    CHECK_INT(c->stats.http_resyncs[DIR_S2C], 1);
    CHECK_INT(c->stats.http_skipped[DIR_C2S], 0);
    rig_free(&r);
}

/* ---- the state outside the model, charged to it --------------------------- */

static size_t side_most; /* the largest charge side_mismatch() saw */

/* The first connection whose charge differs from what its TCP and HTTP
 * state holds, or NULL. */
static struct store_conn *side_mismatch(struct rig *r)
{
    for (struct store_conn *c = store_first(r->st); c; c = store_next(c)) {
        if (c->side_mem > side_most)
            side_most = c->side_mem;
        if (c->side_mem != flow_table_side(r->ft, c))
            return c;
    }
    return NULL;
}

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Send n bytes from the server as MSS segments, adjacent pairs swapped at
 * random (out of order: the later one waits in the buffer), checking the
 * charge after each; returns the number of mismatches seen. */
static int send_body(struct rig *r, uint32_t *rs, const uint8_t *p, uint32_t n, int *bad)
{
    const uint32_t mss = 1400;
    uint32_t off = 0;
    while (off < n) {
        uint32_t a = n - off < mss ? n - off : mss;
        uint32_t b = n - off - a < mss ? n - off - a : mss;
        struct decoded s1 = mkseg(r, 0, r->sseq + off, r->cseq, TCPF_ACK, (const char *)p + off,
                                  a, a);
        if (b && rnd(rs) % 3 == 0) {
            struct decoded s2 = mkseg(r, 0, r->sseq + off + a, r->cseq, TCPF_ACK,
                                      (const char *)p + off + a, b, b);
            send_seg(r, &s2);
            *bad += side_mismatch(r) != NULL;
            send_seg(r, &s1);
            off += a + b;
        } else {
            send_seg(r, &s1);
            off += a;
        }
        *bad += side_mismatch(r) != NULL;
    }
    r->sseq += n;
    return *bad;
}

/* Everything the TCP and HTTP state of a connection holds outside the model
 * (its structs, the RTT ring, out-of-order segments, start line, header and
 * body buffers, zlib's state and window, the queue of pipelined requests)
 * is charged to its model connection, so --max-memory bounds it: after
 * every packet the charge is what the state holds (a change not noticed
 * fails here), and it goes back to 0 when the flow lets the connection go. */
TEST(tcp_side_state_charged_to_its_connection)
{
    static uint8_t body[120000], gz[140000];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)("abcdefgh"[i % 8] + (i / 4096) % 7);
    uint32_t gzlen = (uint32_t)test_zip(body, sizeof(body), gz, sizeof(gz), 15 + 16);
    CHECK(gzlen > 0);

    int bad = 0, checked = 0;
    side_most = 0;
    for (uint32_t seed = 1; seed <= 12; seed++) {
        struct rig r;
        rig_init(&r, 80, 1000 * seed, 900000 * seed, 0);
        uint32_t rs = seed * 2654435761u;
        for (int conn = 0; conn < 3; conn++) {
            r.cport = (uint16_t)(40000 + conn);
            handshake(&r);
            bad += side_mismatch(&r) != NULL;
            int nreq = 1 + (int)(rnd(&rs) % 10); /* pipelined: the queue grows past 8 */
            char req[8192];
            for (int q = 0; q < nreq; q++) {
                int len = snprintf(req, sizeof(req), "GET /%d/%d HTTP/1.1\r\nHost: h\r\n", q,
                                   (int)(rnd(&rs) % 100000));
                int nh = (int)(rnd(&rs) % 40);
                for (int h = 0; h < nh && len < 7000; h++) {
                    int vl = (int)(rnd(&rs) % 150);
                    len += snprintf(req + len, sizeof(req) - (size_t)len, "X-H%d: %.*s\r\n", h,
                                    vl, (const char *)body);
                }
                len += snprintf(req + len, sizeof(req) - (size_t)len, "\r\n");
                seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, req, (uint32_t)len,
                    (uint32_t)len);
                r.cseq += (uint32_t)len;
                bad += side_mismatch(&r) != NULL;
            }
            for (int q = 0; q < nreq; q++) {
                uint32_t kind = rnd(&rs) % 3;
                const uint8_t *b = kind == 2 ? gz : body;
                uint32_t n = kind == 0 ? 10 : kind == 1 ? 20000 + rnd(&rs) % 90000 : gzlen;
                char hdr[200];
                int hl = snprintf(hdr, sizeof(hdr),
                                  "HTTP/1.1 200 OK\r\n%sContent-Length: %u\r\n\r\n",
                                  kind == 2 ? "Content-Encoding: gzip\r\n" : "", n);
                seg(&r, 0, r.sseq, r.cseq, TCPF_ACK, hdr, (uint32_t)hl, (uint32_t)hl);
                r.sseq += (uint32_t)hl;
                send_body(&r, &rs, b, n, &bad);
                seg(&r, 1, r.cseq, r.sseq, TCPF_ACK, NULL, 0, 0);
                bad += side_mismatch(&r) != NULL;
                checked++;
            }
            if (rnd(&rs) % 2) {
                seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_FIN, NULL, 0, 0);
                seg(&r, 0, r.sseq, r.cseq + 1, TCPF_ACK | TCPF_FIN, NULL, 0, 0);
                seg(&r, 1, r.cseq + 1, r.sseq + 1, TCPF_ACK, NULL, 0, 0);
                bad += side_mismatch(&r) != NULL;
            }
        }
        size_t before = store_memory(r.st), side = 0;
        for (struct store_conn *c = store_first(r.st); c; c = store_next(c))
            side += c->side_mem;
        flow_table_finish(r.ft);
        for (struct store_conn *c = store_first(r.st); c; c = store_next(c))
            CHECK_INT(c->side_mem, 0);
        /* Finishing may add to the model, never more than the state was. */
        CHECK(store_memory(r.st) <= before);
        CHECK(side > 0);
        CHECK_INT(store_stats(r.st)->alloc_failures, 0);
        rig_free(&r);
    }
    CHECK_INT(bad, 0);
    CHECK(checked > 50);
    /* A body of up to 110 KB in the buffer, with zlib's window or out-of-
     * order segments beside it, was charged at some point. */
    CHECK(side_most > 100000);
}

/* Out-of-order segments held by many open connections count against the
 * budget: the store evicts open connections to stay within it, instead of
 * the held bytes piling up beside it. */
TEST(tcp_held_segments_count_against_the_budget)
{
    struct rig r;
    rig_init(&r, 80, 1000, 5000, 0);
    flow_table_free(r.ft);
    store_free(r.st);
    const size_t budget = 512 * 1024;
    r.st = store_new(&(struct store_opts){.max_memory = budget, .body_limit = 1 << 20});
    struct flow_opts fo = {.nports = 1};
    fo.ports[0] = 80;
    r.ft = flow_table_new(r.st, &fo);
    static char data[1400];
    memset(data, 'x', sizeof(data));
    size_t top = 0;
    for (int conn = 0; conn < 16; conn++) {
        r.cport = (uint16_t)(40000 + conn);
        r.cseq = 1000;
        r.sseq = 5000;
        handshake(&r);
        uint32_t ql = sizeof(REQ) - 1;
        seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
        r.cseq += ql;
        /* The response's first segment never comes: 70 more wait behind
         * the hole, about 100 KB. */
        for (int i = 1; i <= 70; i++) {
            seg(&r, 0, r.sseq + (uint32_t)i * 1400, r.cseq, TCPF_ACK, data, 1400, 1400);
            if (store_memory(r.st) > top)
                top = store_memory(r.st);
        }
    }
    const struct store_stats *ss = store_stats(r.st);
    CHECK(ss->evicted_open >= 8);
    /* Within the budget, but for the one connection being fed, which
     * cannot be evicted while it asks: at most its held bytes over. */
    CHECK(top <= budget + 110 * 1024);
    CHECK(side_mismatch(&r) == NULL);
    rig_free(&r);
}

/* Send n bytes of s in one packet from the client (c2s) or the server; 1
 * when a connection's charge then differs from what its state holds. */
static int side_step(struct rig *r, int c2s, const void *s, size_t n)
{
    uint32_t len = (uint32_t)n;
    if (c2s) {
        seg(r, 1, r->cseq, r->sseq, TCPF_ACK | TCPF_PSH, s, len, len);
        r->cseq += len;
    } else {
        seg(r, 0, r->sseq, r->cseq, TCPF_ACK | TCPF_PSH, s, len, len);
        r->sseq += len;
    }
    return side_mismatch(r) != NULL;
}

#define SIDE_STR(r, c2s, s) side_step(r, c2s, s, strlen(s))

/* Each kind of change alone in a packet, so that one not noticed fails here
 * (the test above mixes them): a header split across packets (the copies
 * of the URL, name and value), a ninth pipelined request (the queue), a
 * 17th header (the header arrays), the headers' end in a later packet (the
 * previous message's lengths), a gzip body the kept buffer holds (zlib's
 * state and window, then their release), client bytes held behind an
 * Upgrade request, and their release when the upgrade is refused. Bodies
 * are kept up to 4 KiB, so the body buffer, grown once at the start, does
 * not change along with zlib. */
TEST(tcp_side_state_each_change_noticed)
{
    static const char ok0[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    struct rig r;
    rig_init(&r, 80, 1000, 5000, 0);
    flow_table_free(r.ft);
    store_free(r.st);
    r.st = store_new(&(struct store_opts){.body_limit = 4096});
    struct flow_opts fo = {.nports = 1};
    fo.ports[0] = 80;
    r.ft = flow_table_new(r.st, &fo);
    handshake(&r);
    /* A first exchange, its answer in two packets: the status line's copy
     * and the body buffer grow here. */
    static char big[4100];
    int n = snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n");
    memset(big + n, 'b', 4000);
    CHECK(!SIDE_STR(&r, 1, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"));
    CHECK(!side_step(&r, 0, big, (size_t)n + 2000));
    CHECK(!side_step(&r, 0, big + n + 2000, 2000));
    /* A header value in two packets. */
    char req[1024];
    n = snprintf(req, sizeof(req), "GET /s HTTP/1.1\r\nX-Long: ");
    memset(req + n, 'a', 100);
    req[n + 100] = 0;
    CHECK(!SIDE_STR(&r, 1, req));
    CHECK(!SIDE_STR(&r, 1, "aaaa\r\n\r\n"));
    CHECK(!SIDE_STR(&r, 0, ok0));
    /* Nine requests before any answer (each ACKed, so that the RTT ring
     * does not grow along with the queue). */
    for (int i = 0; i < 9; i++) {
        CHECK(!SIDE_STR(&r, 1, "GET /p HTTP/1.1\r\nHost: h\r\n\r\n"));
        seg(&r, 0, r.sseq, r.cseq, TCPF_ACK, NULL, 0, 0);
    }
    for (int i = 0; i < 9; i++) {
        CHECK(!SIDE_STR(&r, 0, ok0));
        seg(&r, 1, r.cseq, r.sseq, TCPF_ACK, NULL, 0, 0);
    }
    /* 18 headers, then the 19th and the blank line. */
    n = snprintf(req, sizeof(req), "GET /h HTTP/1.1\r\n");
    for (int i = 0; i < 18; i++)
        n += snprintf(req + n, sizeof(req) - (size_t)n, "X-%d: %d\r\n", i, i);
    CHECK(!SIDE_STR(&r, 1, req));
    CHECK(!SIDE_STR(&r, 1, "X-Z: z\r\n\r\n"));
    CHECK(!SIDE_STR(&r, 0, ok0));
    /* A gzip body of 3000 bytes, in two packets. */
    static uint8_t plain[3000], gz[4000];
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i * 7 + i / 13);
    uint32_t gzlen = (uint32_t)test_zip(plain, sizeof(plain), gz, sizeof(gz), 15 + 16);
    CHECK(gzlen > 0);
    CHECK(!SIDE_STR(&r, 1, "GET /z HTTP/1.1\r\nHost: h\r\n\r\n"));
    static uint8_t rsp[5000];
    n = snprintf((char *)rsp, sizeof(rsp),
                 "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %u\r\n\r\n", gzlen);
    memcpy(rsp + n, gz, gzlen);
    size_t half = (size_t)n + gzlen / 2;
    size_t zbefore = store_first(r.st)->side_mem;
    CHECK(!side_step(&r, 0, rsp, half));
    CHECK(store_first(r.st)->side_mem > zbefore + 32768); /* the window, at least */
    CHECK(!side_step(&r, 0, rsp + half, (size_t)n + gzlen - half));
    CHECK_INT(store_first(r.st)->side_mem, zbefore);
    /* Bytes held behind an Upgrade request, replayed when it is refused. */
    CHECK(!SIDE_STR(&r, 1, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                           "Upgrade: websocket\r\n\r\n"));
    CHECK(!SIDE_STR(&r, 1, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n"));
    CHECK(!SIDE_STR(&r, 0, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
    CHECK(!SIDE_STR(&r, 0, ok0));
    struct store_conn *c = only_conn(&r);
    CHECK_INT(c->side_mem, 0);
    CHECK_INT(c->nmessages, 30);
    CHECK_INT(c->messages[1]->body_len, 4000);
    CHECK_INT(c->messages[25]->body_len, 3000);
    CHECK_STR(c->messages[c->nmessages - 2]->url, "/after");
    CHECK_INT(c->messages[c->nmessages - 1]->status, 200);
    rig_free(&r);
}

/* The lifetime counters behind /metrics, counted as they happen: requests
 * by method and responses by class once each (a retransmitted request is
 * not a second one), a final response's TTFB in its bucket but not an
 * interim one's, the handshake RTT, retransmissions
 * by direction, connections reset; store_clear() takes nothing back, and
 * the model's stats over the store's life add what it zeroed. */
TEST(tcp_lifetime_totals)
{
    struct rig r;
    rig_init(&r, 80, 1000, 5000, 1);
    handshake(&r); /* the ACK 2 ms after the SYN */
    uint32_t ql = sizeof(REQ) - 1, sl = sizeof(RSP) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql);
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, REQ, ql, ql); /* its retransmission */
    seg(&r, 0, r.sseq, r.cseq + ql, TCPF_ACK | TCPF_PSH, RSP, sl, sl);
    seg(&r, 0, r.sseq + sl, r.cseq + ql, TCPF_RST, NULL, 0, 0);
    seg(&r, 0, r.sseq + sl, r.cseq + ql, TCPF_RST, NULL, 0, 0); /* one connection reset */
    flow_table_finish(r.ft);
    struct store_totals *t = store_totals(r.st);
    CHECK_INT(t->requests[METHOD_GET], 1);
    CHECK_INT(t->responses[2], 1);
    CHECK_INT(t->ttfb.count, 1);
    CHECK_INT(t->ttfb.sum_us, 2000); /* from the request's first copy */
    CHECK_INT(t->ttfb.bucket[2], 1); /* le=0.0025 */
    CHECK_INT(t->stall.count, 1);
    CHECK_INT(t->handshake.count, 1);
    CHECK_INT(t->handshake.sum_us, 2000);
    CHECK_INT(t->handshake.bucket[2], 1); /* le=0.0025 */
    CHECK_INT(t->retransmits[DIR_C2S], 1);
    CHECK_INT(t->retransmits[DIR_S2C], 0);
    CHECK_INT(t->resets, 1);

    struct store_stats before;
    store_stats_lifetime(r.st, &before);
    CHECK_INT(before.connections, 1);
    CHECK_INT(before.requests, 1);
    flow_table_free(r.ft);
    store_clear(r.st);
    struct flow_opts fo = {.nports = 1, .sniff_http = 1};
    fo.ports[0] = 80;
    r.ft = flow_table_new(r.st, &fo);
    CHECK_INT(t->requests[METHOD_GET], 1);
    CHECK_INT(t->ttfb.count, 1);
    CHECK_INT(t->resets, 1);
    CHECK_INT(store_stats(r.st)->connections, 0);

    /* A second connection: a PROPFIND (another method: "other"), a POST
     * answered 100 then 404. */
    static const char q1[] = "PROPFIND /d HTTP/1.1\r\nHost: h\r\n\r\n";
    static const char s1[] = "HTTP/1.1 207 Multi-Status\r\nContent-Length: 0\r\n\r\n";
    static const char q2[] = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab";
    static const char s2[] = "HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    r.cport = 40001;
    r.cseq = 7000;
    r.sseq = 9000;
    handshake(&r);
    uint32_t a = sizeof(q1) - 1, b = sizeof(s1) - 1, c = sizeof(q2) - 1, d = sizeof(s2) - 1;
    seg(&r, 1, r.cseq, r.sseq, TCPF_ACK | TCPF_PSH, q1, a, a);
    r.t += 30000; /* answered 31 ms later */
    seg(&r, 0, r.sseq, r.cseq + a, TCPF_ACK | TCPF_PSH, s1, b, b);
    seg(&r, 1, r.cseq + a, r.sseq + b, TCPF_ACK | TCPF_PSH, q2, c, c);
    seg(&r, 0, r.sseq + b, r.cseq + a + c, TCPF_ACK | TCPF_PSH, s2, d, d);
    flow_table_finish(r.ft);
    CHECK_INT(t->requests[METHOD_OTHER], 1);
    CHECK_INT(t->requests[METHOD_POST], 1);
    CHECK_INT(t->requests[METHOD_GET], 1);
    CHECK_INT(t->responses[1], 1);
    CHECK_INT(t->responses[2], 2);
    CHECK_INT(t->responses[4], 1);
    CHECK_INT(t->ttfb.count, 3); /* the 207 and the 404; not the 100 */
    CHECK_INT(t->ttfb.bucket[6], 1); /* 31 ms: le=0.05 */
    CHECK_INT(t->handshake.count, 2);
    struct store_stats after;
    store_stats_lifetime(r.st, &after);
    CHECK_INT(after.connections, 2);
    CHECK_INT(after.requests, 3);
    CHECK_INT(after.responses, 4);
    CHECK_INT(after.packets, 0); /* the pipeline counts packets; the rig has none */
    rig_free(&r);
}
