/* SPDX-License-Identifier: MIT */
/*
 * tcp.c - one TCP connection: sequence tracking, reassembly, analysis.
 *
 * Fourth stage (see tcp.h). For reassembly each direction keeps its ISN, the
 * next in-order byte and a sorted list of out-of-order segments (copied;
 * bounded by TCP_OOO_LIMIT bytes). In-order bytes go to HTTP with the index
 * of the packet that carried them; bytes that will never arrive (the other
 * side ACKed past them, the buffer bound was hit, the capture ended, or the
 * snaplen cut the payload) go to HTTP as gaps, so a missing segment inside a
 * body costs only that body's bytes.
 *
 * For analysis each direction also keeps what Wireshark's TCP analysis keeps
 * (struct ws_dir: highest seq sent, last ACK and window, duplicate ACKs), so
 * the flags follow its definitions; a ring of unacknowledged segments for
 * RTT samples (Karn's rule, timestamp echoes); and the current round for
 * the congestion-window estimate. docs/tcp-analysis.md has the definitions.
 *
 * All sequence arithmetic is modulo 2^32: compare with seq_lt() and friends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "htracr/decode.h"
#include "htracr/http.h"
#include "htracr/store.h"
#include "htracr/tcp.h"

static inline int32_t seq_diff(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b);
}
static inline int seq_lt(uint32_t a, uint32_t b)
{
    return seq_diff(a, b) < 0;
}
static inline int seq_le(uint32_t a, uint32_t b)
{
    return seq_diff(a, b) <= 0;
}
static inline int seq_gt(uint32_t a, uint32_t b)
{
    return seq_diff(a, b) > 0;
}
static inline int seq_ge(uint32_t a, uint32_t b)
{
    return seq_diff(a, b) >= 0;
}

struct ooo_seg {
    struct ooo_seg *next;
    uint32_t seq;
    uint32_t seg_len; /* bytes in sequence space (payload) */
    uint32_t cap_len; /* of which captured, in data */
    uint32_t pkt;
    uint8_t skipped; /* the uncaptured part was skipped on purpose */
    uint8_t data[];
};

/* A segment waiting for its ACK, for RTT samples (Karn: none from a
 * segment that was sent more than once). */
struct rtt_seg {
    uint32_t start;           /* its first seq */
    uint32_t end;             /* seq after its last byte (SYN/FIN count one) */
    int64_t ts_ns;            /* ns: sub-µs RTTs on fast links are real samples */
    int64_t re_ts_ns;         /* the latest copy's time, once sent again */
    uint32_t tsval, re_tsval; /* TSval of the first and latest copy */
    uint8_t has_ts, retrans;
};

/* Segments a direction times at once, at most: past that the oldest is
 * forgotten. The ring starts at RTT_RING_FIRST and doubles as needed, so a
 * connection that never has more than a few in flight (most) carries a
 * few hundred bytes for it, not 5 KiB. */
#define RTT_RING 64
#define RTT_RING_FIRST 4
_Static_assert((RTT_RING & (RTT_RING - 1)) == 0 && (RTT_RING_FIRST & (RTT_RING_FIRST - 1)) == 0 &&
                   RTT_RING_FIRST <= RTT_RING,
               "the ring is indexed with a mask");

/* What Wireshark's TCP analysis remembers per direction (its "fwd"/"rev"),
 * kept apart from reassembly so the flags follow its definitions. */
struct ws_dir {
    uint32_t nextseq;         /* highest seq + len (+1 for SYN/FIN) sent */
    uint32_t maxseqtobeacked; /* end of the contiguous data from the start */
    uint32_t lastack;
    uint32_t win;     /* last window advertised (scaled) */
    uint32_t dupacks; /* duplicate ACKs in a row */
    int64_t nextseq_ts, lastack_ts;
    uint8_t nextseq_set, lastack_set, win_set, maxack_set;
    uint32_t last_flags; /* PKT_* of this direction's last segment */
    /* SACK blocks of this direction's latest ACK (what it has above lastack) */
    uint32_t sack[DECODE_MAX_SACK][2];
    uint8_t nsack;
    /* congestion-window estimate: the current round of this direction's data */
    uint8_t in_round;
    uint32_t round_end; /* the round ends when the peer ACKs this */
    int64_t round_ts;
    int64_t round_max;
};

struct tcp_dir {
    uint8_t isn_set, syn_seen, fin_seen, wscale_ok, stopped, eof_sent, fin_acked;
    uint8_t wscale;
    uint32_t isn;      /* relative seq 0 */
    uint32_t next_seq; /* next in-order byte */
    uint32_t fin_seq;  /* seq of the FIN */
    uint32_t syn_seq;
    uint32_t acked; /* highest ACK from the peer past next_seq */
    uint8_t acked_set;
    struct ooo_seg *ooo;
    size_t ooo_bytes;    /* captured bytes buffered (TCP_OOO_LIMIT) */
    uint32_t skip_until; /* the body-skip hint last given (absolute seq) */
    uint8_t skip_set;
    struct rtt_seg *rtt;               /* ring of rtt_cap entries (a power of two), or NULL */
    uint32_t rtt_cap, rtt_head, rtt_n; /* size, oldest entry, count */
    struct ws_dir ws;
};

struct tcp_conn {
    struct store *st;
    struct store_conn *c;
    struct http_conn *http; /* made at the first byte for it (http_get) */
    uint8_t http_want;      /* parse HTTP: make http when bytes come */
    uint8_t http_mid;       /* directions picked up mid-stream before http existed */
    struct tcp_dir d[2];
    uint8_t rst_seen;
    uint8_t syn_wscale[2]; /* SYN of that direction carried window scale */
    uint32_t rwnd_last[2];
    uint8_t rwnd_set[2];
    int64_t last_ts; /* the previous packet's time, µs */
    uint8_t zw_dir;  /* the side whose zero window holds the state */
    uint8_t wf_dir;  /* the side that filled the peer's window */
    /* Segments buffered by each direction. Not in tcp_dir: 8 more bytes
     * there cost 40 instructions a packet (callgrind, bench/live's wrk
     * capture), for no reason found. */
    uint32_t ooo_n[2];
};

struct tcp_conn *tcp_conn_new(struct store *st, struct store_conn *c, int http)
{
    struct tcp_conn *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->st = st;
    t->c = c;
    t->http_want = (uint8_t) !!http;
    store_conn_side(st, c, tcp_conn_footprint(t));
    return t;
}

/* The HTTP state, made when the first stream byte (or hole) comes for it:
 * a connection that never carries one (a SYN flood, a scan, a refused
 * connect) does without its 1.7 KiB. NULL when HTTP is not wanted or
 * memory ran out (counted; the connection is then followed as TCP only). */
static __attribute__((noinline)) struct http_conn *http_make(struct tcp_conn *t)
{
    t->http_want = 0;
    t->http = http_conn_new(t->st, t->c);
    if (!t->http) {
        store_stats(t->st)->alloc_failures++;
        return NULL;
    }
    for (int dir = 0; dir < 2; dir++)
        if (t->http_mid & (1u << dir))
            http_conn_midstream(t->http, dir);
    conn_side_changed = 1;
    return t->http;
}

static inline struct http_conn *http_get(struct tcp_conn *t)
{
    return t->http ? t->http : t->http_want ? http_make(t) : NULL;
}

/* Direction dir was picked up mid-stream. */
static void http_midstream(struct tcp_conn *t, int dir)
{
    if (t->http)
        http_conn_midstream(t->http, dir);
    else
        t->http_mid |= (uint8_t)(1u << dir);
}

static void ooo_free(struct tcp_dir *d)
{
    struct ooo_seg *s = d->ooo;
    while (s) {
        struct ooo_seg *n = s->next;
        free(s);
        s = n;
    }
    d->ooo = NULL;
    d->ooo_bytes = 0;
}

size_t tcp_conn_footprint(const struct tcp_conn *t)
{
    size_t n = sizeof(*t) + http_conn_footprint(t->http);
    for (int i = 0; i < 2; i++) {
        const struct tcp_dir *d = &t->d[i];
        n += (size_t)d->rtt_cap * sizeof(*d->rtt) + d->ooo_bytes +
             t->ooo_n[i] * sizeof(struct ooo_seg);
    }
    return n;
}

/* Some state of t changed size during a packet: charge what it holds now. */
static __attribute__((noinline, cold)) void side_settle(struct tcp_conn *t)
{
    conn_side_changed = 0;
    store_conn_side(t->st, t->c, tcp_conn_footprint(t));
}

/* Both directions have ended for HTTP (their EOFs delivered, nothing held
 * out of order): no byte can reach the parser again, so its state goes now,
 * while it is in cache. In retain mode a closed connection lingers (late
 * packets stay on it) until the flow table lets it go, and freeing the
 * parser then, cold, was about half of the allocator's time under
 * one-request connections (the allocator: a quarter of htracr's CPU). */
static __attribute__((noinline)) void http_release(struct tcp_conn *t)
{
    t->c->msg_settled = t->c->nmessages; /* none can change any more */
    http_conn_free(t->http);
    t->http = NULL;
    t->http_want = 0; /* http_get() makes no new one */
    conn_side_changed = 1;
}

void tcp_conn_free(struct tcp_conn *t)
{
    if (!t)
        return;
    store_conn_side(t->st, t->c, 0);
    ooo_free(&t->d[0]);
    ooo_free(&t->d[1]);
    free(t->d[0].rtt);
    free(t->d[1].rtt);
    http_conn_free(t->http);
    free(t);
}

int tcp_conn_closed(const struct tcp_conn *t)
{
    return t->rst_seen || (t->d[0].fin_seen && t->d[1].fin_seen);
}

int tcp_conn_done(const struct tcp_conn *t)
{
    return t->rst_seen || (t->d[0].fin_acked && t->d[1].fin_acked);
}

int tcp_conn_new_syn(const struct tcp_conn *t, const struct decoded *dp, int dir)
{
    const struct tcp_dir *d = &t->d[dir];
    if (tcp_conn_closed(t))
        return 1;
    if (d->syn_seen)
        return dp->seq != d->syn_seq;
    return t->c->stats.bytes[0] + t->c->stats.bytes[1] > 0;
}

static void http_data(struct tcp_conn *t, int dir, const uint8_t *p, size_t n, uint32_t pkt)
{
    struct tcp_dir *d = &t->d[dir];
    if (d->stopped || n == 0)
        return;
    struct http_conn *h = http_get(t);
    if (h && http_conn_data(h, dir, p, n, pkt))
        d->stopped = 1;
}

/* n stream bytes HTTP will not see: lost (a gap), or left out on purpose
 * by the capture (skipped: known, not lost). */
static void http_hole(struct tcp_conn *t, int dir, uint64_t n, uint32_t pkt, int skipped)
{
    struct tcp_dir *d = &t->d[dir];
    if (skipped)
        t->c->stats.skipped_bytes[dir] += n;
    else
        t->c->stats.gap_bytes[dir] += n;
    if (d->stopped || n == 0)
        return;
    struct http_conn *h = http_get(t);
    if (!h)
        return;
    if (skipped)
        http_conn_skipped(h, dir, n, pkt);
    else
        http_conn_gap(h, dir, n, pkt);
}

/* Body skip: when what follows in this direction is a body HTTP only counts,
 * tell the capture (through the store's on_skip) up to where it may leave
 * payload out. Only worth a map update for a long stretch. */
#define SKIP_MIN (64u * 1024)
static void skip_hint(struct tcp_conn *t, int dir)
{
    struct tcp_dir *d = &t->d[dir];
    const struct store_opts *so = store_get_opts(t->st);
    if (!so->on_skip || !t->http || d->stopped)
        return;
    uint64_t keep, n = http_conn_skippable(t->http, dir, &keep);
    if (n > 0x7fffffffu)
        n = 0x7fffffffu; /* stay within half the sequence space */
    if (keep >= n || n - keep < SKIP_MIN)
        return;
    uint32_t from = d->next_seq + (uint32_t)keep, until = d->next_seq + (uint32_t)n;
    if (d->skip_set && until == d->skip_until)
        return;
    d->skip_set = 1;
    d->skip_until = until;
    so->on_skip(so->ctx, t->c, dir, from, until);
}

/* Deliver a segment that starts at or before next_seq: the part not yet
 * delivered goes to HTTP, an uncaptured tail as a gap (or as skipped bytes,
 * when the capture left it out on purpose). */
static void deliver(struct tcp_conn *t, int dir, uint32_t seq, const uint8_t *data,
                    uint32_t cap_len, uint32_t seg_len, uint32_t pkt, int skipped)
{
    struct tcp_dir *d = &t->d[dir];
    uint32_t skip = (uint32_t)seq_diff(d->next_seq, seq);
    if (skip >= seg_len)
        return;
    if (skip < cap_len)
        http_data(t, dir, data + skip, cap_len - skip, pkt);
    uint32_t have = cap_len > skip ? cap_len : skip;
    if (seg_len > have)
        http_hole(t, dir, seg_len - have, pkt, skipped);
    d->next_seq = seq + seg_len;
}

/* A segment all of whose bytes were delivered before (a retransmission,
 * a second copy) carries a message's bytes again: it belongs to that
 * message, as the first copy does. The message is the latest of this
 * direction whose first packet began at or before the segment (the first
 * copy's own, when the segment starts where that packet did); only the last
 * few messages are looked at. The message itself is left as the first
 * copies made it (its packets, its end): a streamed one may be written out
 * already, and both outputs say the same. */
#define OLD_SCAN 64
static void attribute_old(struct tcp_conn *t, int dir, uint32_t seq, uint32_t pkt)
{
    struct store_conn *c = t->c;
    struct store_packet *sp = store_conn_pkt(c, pkt);
    if (!sp || sp->msg || t->d[dir].stopped)
        return;
    uint32_t rel = seq - t->d[dir].isn; /* the packets' seq is relative */
    uint32_t lo = c->nmessages > OLD_SCAN ? c->nmessages - OLD_SCAN : 0;
    for (uint32_t i = c->nmessages; i > lo; i--) {
        const struct store_message *m = c->messages[i - 1];
        const struct store_packet *fp = store_conn_pkt(c, m->first_packet);
        if (!fp)
            return; /* written out (streaming): older ones are too */
        if (fp->dir != dir || !seq_le(fp->seq, rel))
            continue;
        sp->msg = fp->seq == rel && fp->msg ? fp->msg : i;
        return;
    }
}

/* Deliver buffered segments that have become in-order. */
static void flush_ooo(struct tcp_conn *t, int dir)
{
    struct tcp_dir *d = &t->d[dir];
    while (d->ooo && seq_le(d->ooo->seq, d->next_seq)) {
        struct ooo_seg *s = d->ooo;
        d->ooo = s->next;
        d->ooo_bytes -= s->cap_len;
        t->ooo_n[dir]--;
        conn_side_changed = 1;
        deliver(t, dir, s->seq, s->data, s->cap_len, s->seg_len, s->pkt, s->skipped);
        free(s);
    }
}

/* Bytes up to `upto` will never arrive: declare the hole a gap, then deliver
 * what was buffered behind it. */
static void skip_to(struct tcp_conn *t, int dir, uint32_t upto, uint32_t pkt)
{
    struct tcp_dir *d = &t->d[dir];
    while (seq_lt(d->next_seq, upto)) {
        uint32_t hole_end = upto;
        if (d->ooo && seq_lt(d->ooo->seq, hole_end))
            hole_end = d->ooo->seq;
        if (seq_gt(hole_end, d->next_seq)) {
            uint32_t gap = (uint32_t)seq_diff(hole_end, d->next_seq);
            http_hole(t, dir, gap, d->ooo ? d->ooo->pkt : pkt, 0);
            d->next_seq = hole_end;
        }
        flush_ooo(t, dir);
    }
}

/* Keep a copy of a segment that arrived ahead of next_seq. Overlaps with
 * buffered data: the first copy wins; differing bytes are counted. */
static void buffer_segment(struct tcp_conn *t, int dir, const struct decoded *dp, uint32_t pkt)
{
    struct tcp_dir *d = &t->d[dir];
    struct ooo_seg **pp = &d->ooo;
    uint32_t seq = dp->seq, end = dp->seq + dp->seg_len;

    while (*pp && seq_lt((*pp)->seq, seq))
        pp = &(*pp)->next;
    /* Exact or contained duplicate of one buffered segment: compare, drop. */
    for (struct ooo_seg *s = d->ooo; s; s = s->next) {
        uint32_t s_end = s->seq + s->seg_len;
        if (seq_le(s->seq, seq) && seq_le(end, s_end)) {
            uint32_t off = (uint32_t)seq_diff(seq, s->seq);
            uint32_t n = dp->cap_len;
            if (off < s->cap_len) {
                if (n > s->cap_len - off)
                    n = s->cap_len - off;
                if (memcmp(s->data + off, dp->payload, n) != 0) {
                    t->c->stats.overlap_conflicts++;
                    struct store_packet *sp = store_conn_pkt(t->c, pkt);
                    if (sp)
                        sp->analysis |= PKT_OVERLAP_CONFLICT;
                }
            }
            return;
        }
    }
    if (d->ooo_bytes + dp->cap_len > TCP_OOO_LIMIT) {
        /* Bound reached: what is missing before the first buffered segment
         * is not coming in time; declare it lost and move on. */
        if (d->ooo)
            skip_to(t, dir, d->ooo->seq, pkt);
        if (seq_le(seq, d->next_seq)) {
            deliver(t, dir, seq, dp->payload, dp->cap_len, dp->seg_len, pkt, dp->skipped);
            flush_ooo(t, dir);
            return;
        }
        if (d->ooo_bytes + dp->cap_len > TCP_OOO_LIMIT) {
            skip_to(t, dir, seq, pkt);
            deliver(t, dir, seq, dp->payload, dp->cap_len, dp->seg_len, pkt, dp->skipped);
            flush_ooo(t, dir);
            return;
        }
        pp = &d->ooo;
        while (*pp && seq_lt((*pp)->seq, seq))
            pp = &(*pp)->next;
    }
    struct ooo_seg *s = malloc(sizeof(*s) + dp->cap_len);
    if (!s) {
        store_stats(t->st)->alloc_failures++;
        return; /* becomes a gap when it is skipped */
    }
    s->seq = seq;
    s->seg_len = dp->seg_len;
    s->cap_len = dp->cap_len;
    s->pkt = pkt;
    s->skipped = dp->skipped;
    if (dp->cap_len) /* none captured (a snaplen at the header): no payload */
        memcpy(s->data, dp->payload, dp->cap_len);
    s->next = *pp;
    *pp = s;
    d->ooo_bytes += dp->cap_len;
    t->ooo_n[dir]++;
    conn_side_changed = 1;
}

/* Declare what the peer ACKed past next_seq lost (a FIN's sequence slot is
 * not data). */
static void settle_acked(struct tcp_conn *t, int dir, uint32_t pkt)
{
    struct tcp_dir *d = &t->d[dir];
    if (!d->acked_set)
        return;
    uint32_t upto = d->acked;
    if (d->fin_seen && seq_gt(upto, d->fin_seq))
        upto = d->fin_seq;
    if (seq_gt(upto, d->next_seq))
        skip_to(t, dir, upto, pkt);
    d->acked_set = 0;
}

/* Room for one more timed segment in d's ring: it doubles (up to
 * RTT_RING), or when it cannot the oldest entry goes. 0, or -1 when there
 * is no ring at all. */
static int rtt_room(struct tcp_conn *t, struct tcp_dir *d)
{
    if (d->rtt_n < d->rtt_cap)
        return 0;
    if (d->rtt_cap < RTT_RING) {
        uint32_t cap = d->rtt_cap ? 2 * d->rtt_cap : RTT_RING_FIRST;
        struct rtt_seg *r = malloc(cap * sizeof(*r));
        if (r) {
            /* oldest first, from 0 */
            for (uint32_t i = 0; i < d->rtt_n; i++)
                r[i] = d->rtt[(d->rtt_head + i) & (d->rtt_cap - 1)];
            free(d->rtt);
            d->rtt = r;
            d->rtt_cap = cap;
            d->rtt_head = 0;
            conn_side_changed = 1;
            return 0;
        }
        store_stats(t->st)->alloc_failures++;
        if (!d->rtt_cap)
            return -1; /* no sample from this segment */
    }
    d->rtt_head = (d->rtt_head + 1) & (d->rtt_cap - 1);
    d->rtt_n--;
    return 0;
}

/* A segment of d occupying [seq, end) was sent at ts. */
static void rtt_sent(struct tcp_conn *t, struct tcp_dir *d, const struct decoded *dp, uint32_t seq,
                     uint32_t end, int64_t ts, int is_new)
{
    uint32_t mask = d->rtt_cap - 1;
    if (is_new) {
        if (d->rtt_n && !seq_gt(end, d->rtt[(d->rtt_head + d->rtt_n - 1) & mask].end))
            is_new = 0;
    }
    if (!is_new) {
        /* Karn: the segments this one sends again give no sample. */
        for (uint32_t i = 0; i < d->rtt_n; i++) {
            struct rtt_seg *r = &d->rtt[(d->rtt_head + i) & mask];
            if (seq_gt(r->end, seq) && seq_lt(r->start, end)) {
                r->retrans = 1;
                r->re_ts_ns = ts;
                r->re_tsval = dp->opt.tsval;
                r->has_ts &= dp->opt.has_ts;
            }
        }
        return;
    }
    if (rtt_room(t, d) < 0)
        return;
    struct rtt_seg *r = &d->rtt[(d->rtt_head + d->rtt_n) & (d->rtt_cap - 1)];
    r->start = seq;
    r->end = end;
    r->ts_ns = ts;
    r->retrans = 0;
    r->has_ts = dp->opt.has_ts;
    r->tsval = dp->opt.tsval;
    d->rtt_n++;
}

/* The peer ACKed d up to ack at ts: one RTT sample from the newest segment
 * it covers, unless that one was retransmitted. The sample belongs to d's
 * direction (the timed segment's), not the ACK's. */
static void rtt_acked(struct tcp_conn *t, struct tcp_dir *d, const struct decoded *dp, int64_t ts)
{
    int dir = (int)(d - t->d);
    uint32_t ack = dp->ack;
    struct rtt_seg *hit = NULL;
    while (d->rtt_n && seq_le(d->rtt[d->rtt_head].end, ack)) {
        hit = &d->rtt[d->rtt_head];
        d->rtt_head = (d->rtt_head + 1) & (d->rtt_cap - 1);
        d->rtt_n--;
    }
    /* Only an ACK that ends exactly at a segment's end is a sample (as in
     * Wireshark's ack_rtt): a partial or stretched ACK says less. */
    if (!hit || hit->end != ack)
        return;
    int64_t sent = hit->ts_ns;
    if (hit->retrans) {
        /* Karn's rule, unless the timestamp echo says which copy this
         * ACK answers (RFC 7323): TSecr is that copy's TSval. */
        if (!hit->has_ts || !dp->opt.has_ts || hit->tsval == hit->re_tsval)
            return;
        if (dp->opt.tsecr == hit->re_tsval)
            sent = hit->re_ts_ns;
        else if (dp->opt.tsecr != hit->tsval)
            return;
    }
    if (ts <= sent)
        return; /* a zero time says nothing but the clock's resolution */
    if (hit->retrans)
        t->c->stats.rtt_ts_samples++;
    int64_t rtt = (ts - sent + 500) / 1000; /* µs, rounded */
    ts /= 1000;
    struct store_conn_stats *cs = &t->c->stats;
    store_conn_point(t->st, t->c, dir == DIR_C2S ? SERIES_RTT_C2S : SERIES_RTT_S2C, ts, rtt);
    if (cs->rtt_min_us[dir] < 0 || rtt < cs->rtt_min_us[dir])
        cs->rtt_min_us[dir] = rtt;
    if (rtt > cs->rtt_max_us[dir])
        cs->rtt_max_us[dir] = rtt;
    cs->rtt_sum_us[dir] += rtt;
    cs->rtt_samples[dir]++;
}

static void maybe_eof(struct tcp_conn *t, int dir, uint32_t pkt)
{
    struct tcp_dir *d = &t->d[dir];
    if (d->fin_seen && !d->eof_sent && seq_le(d->fin_seq, d->next_seq) && !d->ooo) {
        d->eof_sent = 1;
        if (t->http && !d->stopped)
            http_conn_eof(t->http, dir, pkt);
    }
}

static void note_event(struct tcp_conn *t, uint32_t pkt, uint32_t type, int dir, int64_t ts)
{
    if (store_conn_event(t->st, t->c, type, (uint8_t)dir, pkt, ts) == 0 && type == PKT_DUP_ACK)
        t->c->events[t->c->nevents - 1].count = t->d[dir].ws.dupacks;
}

#define WS_FAST_RETRANS_US 20000 /* a retransmission this soon after 2+ dup ACKs is fast */
#define WS_OOO_DEFAULT_US 3000   /* out-of-order threshold without a handshake RTT */

/* Wireshark's tcp.analysis.* flags for one segment (absolute seq/ack, window
 * scaled), from the state before it; then that state is updated. Same
 * order and definitions as its tcp_analyze_sequence_number(), so tshark can
 * be the oracle in the tests; docs/tcp-analysis.md lists them. */
static uint32_t ws_analyse(struct tcp_conn *t, const struct decoded *dp, int dir, uint32_t win,
                           int64_t ts)
{
    struct ws_dir *f = &t->d[dir].ws, *r = &t->d[!dir].ws;
    uint32_t seq = dp->seq, ack = dp->ack, len = dp->seg_len, fl = 0;
    int syn = dp->flags & TCPF_SYN, fin = dp->flags & TCPF_FIN, rst = dp->flags & TCPF_RST;
    int has_ack = dp->flags & TCPF_ACK;
    int ctl = syn || fin || rst;

    if (len == 1 && f->nextseq_set && seq == f->nextseq && r->win_set && r->win == 0) {
        fl |= PKT_ZERO_WINDOW_PROBE;
        goto finished_fwd;
    }
    if (win == 0 && !ctl)
        fl |= PKT_ZERO_WINDOW;
    if (f->nextseq_set && seq_gt(seq, f->nextseq) && !rst)
        fl |= PKT_LOST_SEGMENT;
    if (len <= 1 && !ctl && f->nextseq_set && f->nextseq - 1 == seq) {
        fl |= PKT_KEEP_ALIVE;
        goto finished_fwd;
    }
    if (len == 0 && win && f->win_set && win != f->win && f->nextseq_set && seq == f->nextseq &&
        f->lastack_set && ack == f->lastack && !ctl) {
        fl |= PKT_WINDOW_UPDATE;
        goto finished_fwd;
    }
    if (len > 0 && r->win_set && r->lastack_set && seq + len == r->lastack + r->win)
        fl |= PKT_WINDOW_FULL;
    if (len == 0 && f->win_set && win == f->win && f->nextseq_set && seq == f->nextseq &&
        f->lastack_set && ack == f->lastack && !ctl &&
        (r->last_flags & (PKT_KEEP_ALIVE | PKT_ZERO_WINDOW_PROBE)))
        goto finished_fwd; /* the ACK of a keep-alive or a probe */
    if (len == 0 && win && f->win_set && win == f->win && f->nextseq_set && seq == f->nextseq &&
        f->lastack_set && ack == f->lastack && !ctl) {
        f->dupacks++;
        fl |= PKT_DUP_ACK;
    }
finished_fwd:
    if (!(fl & PKT_DUP_ACK) && !(fl & PKT_KEEP_ALIVE) && f->lastack_set && ack != f->lastack)
        f->dupacks = 0;
    if (has_ack && r->maxack_set && seq_gt(ack, r->maxseqtobeacked)) {
        fl |= PKT_ACKED_UNSEEN;
        r->maxseqtobeacked = r->nextseq; /* said once per hole */
    }
    if ((len > 0 || syn || fin) && f->nextseq_set && seq_lt(seq, f->nextseq) &&
        !(fl & PKT_KEEP_ALIVE)) {
        int64_t rtt = t->c->handshake_rtt_us > 0 ? t->c->handshake_rtt_us : WS_OOO_DEFAULT_US;
        /* Both windows are measured forward only: a segment stamped before
         * the ACK or the segment it is measured from (timestamps taken on
         * two CPUs cross by a few µs) is outside them, as in Wireshark,
         * whose time differences are unsigned. */
        if (r->dupacks >= 2 && r->lastack == seq && ts >= r->lastack_ts &&
            ts - r->lastack_ts < WS_FAST_RETRANS_US)
            fl |= PKT_FAST_RETRANS | PKT_RETRANS;
        else if (len > 0 && r->lastack_set && seq_le(seq + len, r->lastack))
            fl |= PKT_SPURIOUS_RETRANS | PKT_RETRANS; /* already ACKed: before out-of-order */
        else if (ts >= f->nextseq_ts && ts - f->nextseq_ts < rtt &&
                 f->nextseq != seq + len + (syn || fin))
            fl |= PKT_OUT_OF_ORDER;
        else
            fl |= PKT_RETRANS;
    }

    /* Remember for the next segments. */
    uint32_t next = seq + len + (syn ? 1 : 0) + (fin ? 1 : 0);
    if ((!f->nextseq_set || seq_gt(next, f->nextseq)) && !(fl & PKT_KEEP_ALIVE)) {
        f->nextseq = next;
        f->nextseq_set = 1;
        f->nextseq_ts = ts;
    }
    if ((!f->maxack_set || seq == f->maxseqtobeacked) && !(fl & PKT_ZERO_WINDOW_PROBE)) {
        f->maxseqtobeacked = f->nextseq;
        f->maxack_set = 1;
    }
    if (has_ack) {
        f->nsack = dp->opt.nsack;
        memcpy(f->sack, dp->opt.sack, sizeof(f->sack));
        f->lastack = ack;
        f->lastack_set = 1;
        f->lastack_ts = ts;
    }
    f->win = win;
    f->win_set = 1;
    f->last_flags = fl;
    return fl;
}

/* Bytes of f's data in flight: sent, not ACKed by r, and not covered by
 * r's latest SACK blocks. */
static int64_t in_flight(const struct ws_dir *f, const struct ws_dir *r)
{
    int32_t out = (int32_t)(f->nextseq - r->lastack);
    if (out <= 0)
        return 0;
    int64_t sacked = 0;
    for (uint8_t i = 0; i < r->nsack && i < DECODE_MAX_SACK; i++) {
        uint32_t left = r->sack[i][0], right = r->sack[i][1];
        if (seq_lt(left, r->lastack))
            left = r->lastack;
        if (seq_gt(right, f->nextseq))
            right = f->nextseq;
        if (seq_gt(right, left))
            sacked += (uint32_t)(right - left);
    }
    return sacked < out ? out - sacked : 0;
}

/* A round of dir's data ends: its largest flight is the cwnd estimate. */
static void end_round(struct tcp_conn *t, int dir)
{
    struct ws_dir *f = &t->d[dir].ws;
    if (!f->in_round)
        return;
    store_conn_point(t->st, t->c, dir == DIR_C2S ? SERIES_CWND_C2S : SERIES_CWND_S2C, f->round_ts,
                     f->round_max);
    f->in_round = 0;
}

#define IDLE_MIN_US 200000 /* idle: silent this long (or 2 RTT, if longer)... */

static uint8_t cur_state(const struct store_conn *c)
{
    return c->nstates ? c->states[c->nstates - 1].state : STATE_HANDSHAKE;
}

/* The states an open connection moves between once established. */
static int flowing(uint8_t st)
{
    return st == STATE_ACTIVE || st == STATE_IDLE || st == STATE_ZERO_WINDOW ||
           st == STATE_RWND_LIMITED;
}

/* ...with nothing outstanding in either direction. */
static int all_acked(const struct tcp_conn *t)
{
    for (int i = 0; i < 2; i++) {
        const struct ws_dir *f = &t->d[i].ws, *r = &t->d[!i].ws;
        if (f->nextseq_set && (!r->lastack_set || seq_gt(f->nextseq, r->lastack)))
            return 0;
    }
    return 1;
}

/* State spans after packet pkt at ts with flags fl, sent in dir: idle
 * (found when the silence ends), zero window (until that side opens it),
 * receive-window limited (from a segment that fills the window to the
 * peer's next ACK), active otherwise. Handshake and closing states are
 * set where they happen and not touched here. */
static void track_state(struct tcp_conn *t, int dir, uint32_t fl, uint32_t win, int64_t ts,
                        int was_idle_candidate)
{
    struct store_conn *c = t->c;
    uint8_t st = cur_state(c);
    if (!flowing(st))
        return;
    if (was_idle_candidate && st == STATE_ACTIVE) {
        int64_t limit = IDLE_MIN_US;
        int64_t rtt = store_conn_base_rtt(c);
        if (rtt > 0 && 2 * rtt > limit)
            limit = 2 * rtt;
        if (ts - t->last_ts > limit) {
            store_conn_state(t->st, c, STATE_IDLE, t->last_ts);
            st = STATE_IDLE;
        }
    }
    uint8_t next = STATE_ACTIVE;
    if (fl & PKT_ZERO_WINDOW)
        next = STATE_ZERO_WINDOW;
    else if (st == STATE_ZERO_WINDOW && (win == 0 || t->zw_dir != dir))
        next = STATE_ZERO_WINDOW; /* still closed: only its side reopens it */
    else if (fl & PKT_WINDOW_FULL)
        next = STATE_RWND_LIMITED;
    else if (st == STATE_RWND_LIMITED && dir == t->wf_dir)
        next = STATE_RWND_LIMITED; /* until the receiver answers */
    if (fl & PKT_ZERO_WINDOW)
        t->zw_dir = (uint8_t)dir;
    if (fl & PKT_WINDOW_FULL)
        t->wf_dir = (uint8_t)dir;
    if (next != st)
        store_conn_state(t->st, c, next, ts);
}

void tcp_conn_packet(struct tcp_conn *t, const struct decoded *dp, int dir)
{
    struct store_conn *c = t->c;
    struct tcp_dir *d = &t->d[dir], *o = &t->d[!dir];
    int64_t ts = dp->ts_ns / 1000;
    int syn = dp->flags & TCPF_SYN, ack = dp->flags & TCPF_ACK;
    struct store_packet p = {0};
    uint32_t analysis = 0;

    /* Sequence bases. A SYN fixes the ISN; without one the first byte seen
     * is relative seq 1, as if a SYN had come before it. */
    if (syn) {
        if (d->syn_seen && dp->seq == d->syn_seq)
            analysis |= PKT_SYN_RETRY; /* also a retransmission, below */
        if (!d->syn_seen || !d->isn_set) {
            d->syn_seen = 1;
            d->syn_seq = dp->seq;
            d->isn = dp->seq;
            d->isn_set = 1;
            d->next_seq = dp->seq + 1;
            t->syn_wscale[dir] = dp->opt.has_wscale;
            d->wscale = dp->opt.wscale > 14 ? 14 : dp->opt.wscale;
            if (t->syn_wscale[0] && t->syn_wscale[1]) {
                t->d[0].wscale_ok = t->d[1].wscale_ok = 1;
            }
        }
    } else if (!d->isn_set) {
        d->isn = dp->seq - 1;
        d->isn_set = 1;
        d->next_seq = dp->seq;
        c->midstream = 1;
        http_midstream(t, dir);
    }
    if (ack && !o->isn_set) {
        o->isn = dp->ack - 1;
        o->isn_set = 1;
        o->next_seq = dp->ack;
        http_midstream(t, !dir);
    }

    p.ts_us = ts;
    p.dir = (uint8_t)dir;
    p.flags = dp->flags;
    p.seq = dp->seq - d->isn;
    p.ack = ack ? dp->ack - o->isn : 0;
    p.len = dp->seg_len;
    p.win = (!syn && d->wscale_ok) ? (uint32_t)dp->window << d->wscale : dp->window;
    if (dp->cap_len < dp->seg_len && !dp->skipped)
        analysis |= PKT_TRUNCATED;
    int64_t pi = store_conn_add_packet(t->st, c, &p);
    if (pi < 0)
        return; /* out of memory: counted by the store */
    uint32_t pkt = (uint32_t)pi;

    c->stats.packets[dir]++;
    c->stats.bytes[dir] += dp->seg_len;

    /* Handshake times as seen at the capture point (none to take once the
     * handshake's ACK is seen, but from a SYN). */
    if (syn || c->hs_ack_us < 0) {
        if (syn && !ack && dir == DIR_C2S && (c->synack_us < 0 || ts <= c->synack_us)) {
            /* A SYN sent before the SYN/ACK (also one the capture files
             * after it: merged from two points). The first began the
             * client's wait; the latest is the one the SYN/ACK answers. */
            if (c->syn_first_us < 0 || ts < c->syn_first_us)
                c->syn_first_us = ts;
            if (c->synack_us < 0 || ts > c->syn_us) {
                c->syn_us = ts;
                if (c->hs_ack_us >= 0)
                    c->handshake_rtt_us = c->hs_ack_us - ts;
            }
        } else if (syn && ack && dir == DIR_S2C && c->synack_us < 0)
            c->synack_us = ts;
        else if (!syn && ack && dir == DIR_C2S && c->synack_us >= 0 && c->hs_ack_us < 0 &&
                 o->syn_seen && dp->ack == o->syn_seq + 1) {
            c->hs_ack_us = ts;
            if (c->syn_us >= 0) {
                c->handshake_rtt_us = ts - c->syn_us;
                store_hist_add(&store_totals(t->st)->handshake, c->handshake_rtt_us);
            }
        }
    }
    if (store_conn_total_packets(c) == 1)
        store_conn_state(t->st, c, syn ? STATE_HANDSHAKE : STATE_ACTIVE, ts);
    else if (c->hs_ack_us == ts && dir == DIR_C2S)
        store_conn_state(t->st, c, STATE_ACTIVE, ts);

    /* The ACK's RTT sample first: a response that completes with this
     * packet may be written out (streaming) during the payload below. */
    if (ack && o->isn_set)
        rtt_acked(t, o, dp, dp->ts_ns);

    /* Wireshark's analysis flags, before reassembly changes any state. */
    /* Nothing outstanding since the last packet, which was long enough ago
     * to have been idle (track_state's limit is never less). */
    int quiet = ts - t->last_ts > IDLE_MIN_US && all_acked(t);
    analysis |= ws_analyse(t, dp, dir, p.win, ts);
    if (store_conn_total_packets(c) > 1)
        track_state(t, dir, analysis, p.win, ts, quiet);
    t->last_ts = ts;
    /* On the packet now: delivering the payload below may complete a
     * message and write the packet out (streaming) before this returns. */
    c->packets[c->npackets - 1].analysis |= analysis;

    /* Series: the window this side advertises (when it changes), and the
     * bytes in flight after each data segment (sent, not yet ACKed). */
    if (!syn && (!t->rwnd_set[dir] || p.win != t->rwnd_last[dir])) {
        store_conn_point(t->st, c, dir == DIR_C2S ? SERIES_RWND_C2S : SERIES_RWND_S2C, ts, p.win);
        t->rwnd_last[dir] = p.win;
        t->rwnd_set[dir] = 1;
    }
    /* The peer's ACK may end the round of this direction's data it covers. */
    if (ack && o->ws.in_round && seq_ge(dp->ack, o->ws.round_end))
        end_round(t, !dir);
    if (dp->seg_len > 0 && o->ws.lastack_set) {
        int64_t flight = in_flight(&d->ws, &o->ws);
        store_conn_point(t->st, c, dir == DIR_C2S ? SERIES_FLIGHT_C2S : SERIES_FLIGHT_S2C, ts,
                         flight);
        if (!d->ws.in_round) {
            d->ws.in_round = 1;
            d->ws.round_end = dp->seq + dp->seg_len;
            d->ws.round_ts = ts;
            d->ws.round_max = 0;
        }
        if (flight > d->ws.round_max)
            d->ws.round_max = flight;
    }
    if (analysis) {
        if (analysis & PKT_RETRANS) {
            c->stats.retransmits[dir]++;
            store_totals(t->st)->retransmits[dir]++;
        }
        if (analysis & PKT_OUT_OF_ORDER)
            c->stats.out_of_order++;
        if (analysis & PKT_DUP_ACK)
            c->stats.dup_acks++;
        if (analysis & PKT_ZERO_WINDOW)
            c->stats.zero_windows++;
    }

    /* Payload: in order, it goes to HTTP now (with what it lets through
     * from the buffer); ahead of a hole, it waits in the buffer; all old,
     * it is dropped (the first copy wins). */
    uint32_t seq = syn ? dp->seq + 1 : dp->seq;
    if (dp->seg_len > 0) {
        uint32_t end = seq + dp->seg_len;
        if (seq_gt(seq, d->next_seq)) {
            struct decoded shifted = *dp;
            shifted.seq = seq;
            buffer_segment(t, dir, &shifted, pkt);
        } else if (seq_gt(end, d->next_seq)) {
            deliver(t, dir, seq, dp->payload, dp->cap_len, dp->seg_len, pkt, dp->skipped);
            flush_ooo(t, dir);
            skip_hint(t, dir);
        } else {
            attribute_old(t, dir, seq, pkt);
        }
    }
    if (dp->flags & TCPF_FIN) {
        uint32_t fin = seq + dp->seg_len;
        if (!d->fin_seen) {
            d->fin_seen = 1;
            d->fin_seq = fin;
            if (c->close == CLOSE_OPEN)
                store_conn_state(t->st, c, STATE_HALF_CLOSED, ts);
        }
        if (o->fin_seen && c->close == CLOSE_OPEN) {
            c->close = CLOSE_FIN;
            store_conn_state(t->st, c, STATE_CLOSING, ts);
        }
    }
    if (dp->flags & TCPF_RST) {
        analysis |= PKT_RESET;
        c->stats.resets++;
        if (!t->rst_seen) {
            t->rst_seen = 1;
            store_totals(t->st)->resets++;
            c->close = CLOSE_RST;
            store_conn_state(t->st, c, STATE_RESET, ts);
        }
    }

    /* RTT bookkeeping: what this packet occupies in sequence space, and
     * what its ACK covers in the other direction. */
    uint32_t occupy = dp->seg_len + (syn ? 1 : 0) + ((dp->flags & TCPF_FIN) ? 1 : 0);
    if (occupy)
        rtt_sent(t, d, dp, dp->seq, dp->seq + occupy, dp->ts_ns,
                 !(analysis & PKT_RETRANS) && !(analysis & PKT_SYN_RETRY));

    /* Bytes of this direction that the peer ACKed but we never saw are
     * lost from the capture. Declared now, not at the ACK: a capture point
     * may file a segment just after the ACK that covers it. */
    settle_acked(t, dir, pkt);

    if (ack && o->fin_seen && seq_gt(dp->ack, o->fin_seq))
        o->fin_acked = 1;

    /* An ACK that passes data the peer never showed us (yet). */
    if (ack && o->isn_set && seq_gt(dp->ack, o->next_seq)) {
        uint32_t upto = dp->ack;
        if (!o->acked_set || seq_gt(upto, o->acked)) {
            o->acked = upto;
            o->acked_set = 1;
        }
    }
    if (d->fin_seen | o->fin_seen) { /* maybe_eof has nothing to do before */
        maybe_eof(t, dir, pkt);
        maybe_eof(t, !dir, pkt);
    }
    if (t->http && t->d[0].eof_sent && t->d[1].eof_sent && !t->d[0].ooo && !t->d[1].ooo)
        http_release(t);

    if (analysis) {
        struct store_packet *sp = store_conn_pkt(c, pkt); /* NULL once flushed */
        if (sp)
            sp->analysis |= analysis;
        for (uint32_t bit = 1; bit; bit <<= 1) {
            if ((analysis & bit) && bit != PKT_TRUNCATED)
                note_event(t, pkt, bit, dir, ts);
        }
    }
    if (__builtin_expect(conn_side_changed, 0))
        side_settle(t);
}

void tcp_conn_finish(struct tcp_conn *t)
{
    struct store_conn *c = t->c;
    end_round(t, DIR_C2S);
    end_round(t, DIR_S2C);
    uint64_t total = store_conn_total_packets(c);
    uint32_t last = total ? (uint32_t)(total - 1) : 0;
    for (int dir = 0; dir < 2; dir++) {
        struct tcp_dir *d = &t->d[dir];
        /* Deliver what was buffered, declaring the holes before it lost. */
        settle_acked(t, dir, last);
        while (d->ooo) {
            skip_to(t, dir, d->ooo->seq, last);
            flush_ooo(t, dir);
        }
        if (!d->eof_sent) {
            d->eof_sent = 1;
            if (t->http && !d->stopped)
                http_conn_eof(t->http, dir, last);
        }
    }
    if (c->nstates)
        store_conn_state(t->st, c,
                         c->close == CLOSE_RST   ? STATE_RESET
                         : c->close == CLOSE_FIN ? STATE_CLOSED
                                                 : c->states[c->nstates - 1].state,
                         c->end_us);
}
