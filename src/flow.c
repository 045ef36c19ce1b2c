/* SPDX-License-Identifier: MIT */
/*
 * flow.c - the flow table: 5-tuple -> connection. See flow.h.
 *
 * A chained hash table keyed by the canonical (sorted) endpoint pair, plus a
 * list in order of last activity so expiry pops from the head. A flow is in
 * one of three states:
 *   PENDING  a TCP flow on ports outside the sniff set, not yet known to be
 *            HTTP: its header-only packets wait in a small queue until the
 *            client's first bytes decide (then they are replayed), or until
 *            the queue bound or the server speaking first says "not HTTP";
 *   ACTIVE   feeding a tcp_conn and a model connection;
 *   DONE     finished (closed and lingered, or ignored): later packets are
 *            counted, not modelled, until the flow expires.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "htracr/decode.h"
#include "htracr/dlist.h"
#include "htracr/flow.h"
#include "htracr/http.h"
#include "htracr/log.h"
#include "htracr/store.h"
#include "htracr/tcp.h"

#define FLOW_PENDING_MAX 32  /* header-only packets queued before giving up */
#define FLOW_SNIFF_BYTES 512 /* client bytes kept when a request line is split */
#define FLOW_EXPIRE_EVERY 4096

enum { FLOW_PENDING = 0, FLOW_ACTIVE, FLOW_DONE };

struct pending_pkt {
    struct decoded d;
};

struct flow {
    struct flow *hnext;         /* hash chain */
    struct flow *lprev, *lnext; /* activity list */
    struct ip_addr a, b;        /* canonical order: a <= b */
    uint16_t pa, pb;
    uint8_t state;
    uint8_t ignored;     /* DONE because it is not HTTP */
    uint8_t client_is_a; /* roles, once known */
    uint8_t roles_known;
    uint8_t evicted; /* DONE because the store evicted its open connection */
    uint32_t mem;    /* bytes charged for it (flow_settle) */
    int64_t last_us;
    int64_t closed_us; /* when both FINs / a RST were seen; -1 */
    struct tcp_conn *tcp;
    struct store_conn *conn;
    /* PENDING only */
    struct pending_pkt *q;
    uint32_t nq;
    uint8_t *sniff; /* FLOW_SNIFF_BYTES, only when a request line is split */
    uint32_t nsniff;
};

struct flow_table {
    struct store *st;
    struct flow_opts opts;
    struct flow_stats stats;
    struct flow **buckets;
    uint32_t nbuckets;
    struct flow *lru_head, *lru_tail;
    uint64_t since_expire;
    int64_t now_us;
    int stream;   /* the store streams: finish early */
    size_t mem;   /* flows, their queues, the buckets: charged to the store */
    size_t limit; /* store_table_limit(); 0 = none */
    int warned_full;
};

static int flow_evict_open(void *ctx, struct store_conn *c);

/* The table's memory changed by delta bytes: it counts against the store's
 * budget (store_table_mem), within a share of its own (table_trim). */
static void table_charge(struct flow_table *ft, ptrdiff_t delta)
{
    ft->mem += (size_t)delta;
    store_table_mem(ft->st, delta);
}

struct flow_table *flow_table_new(struct store *st, const struct flow_opts *opts)
{
    struct flow_table *ft = calloc(1, sizeof(*ft));
    if (!ft)
        return NULL;
    ft->st = st;
    ft->opts = *opts;
    ft->stream = store_get_opts(st)->stream;
    if (ft->opts.idle_timeout_us <= 0)
        ft->opts.idle_timeout_us = 300LL * 1000000;
    if (ft->opts.close_linger_us <= 0)
        ft->opts.close_linger_us = 10LL * 1000000;
    ft->limit = store_table_limit(st);
    /* 65,536 buckets (512 KiB), fewer when they would take more than an
     * eighth of what the table may hold; more as flows come (grow_table). */
    ft->nbuckets = 1 << 16;
    while (ft->limit && ft->nbuckets > 1024 && ft->nbuckets * sizeof(*ft->buckets) > ft->limit / 8)
        ft->nbuckets /= 2;
    ft->buckets = calloc(ft->nbuckets, sizeof(*ft->buckets));
    if (!ft->buckets) {
        free(ft);
        errno = ENOMEM;
        return NULL;
    }
    table_charge(ft, (ptrdiff_t)(ft->nbuckets * sizeof(*ft->buckets)));
    /* The store asks only outside stream mode. */
    store_set_evict_open(st, flow_evict_open, ft);
    return ft;
}

static void expire(struct flow_table *ft);

void flow_table_tick(struct flow_table *ft, int64_t now_us)
{
    if (now_us > ft->now_us) {
        ft->now_us = now_us;
        expire(ft);
    }
}

void flow_table_set_ports(struct flow_table *ft, const uint16_t *ports, int nports)
{
    if (nports > FLOW_MAX_PORTS)
        nports = FLOW_MAX_PORTS;
    for (int i = 0; i < nports; i++)
        ft->opts.ports[i] = ports[i];
    ft->opts.nports = nports;
}

const struct flow_opts *flow_table_opts(const struct flow_table *ft)
{
    return &ft->opts;
}

const struct flow_stats *flow_table_stats(const struct flow_table *ft)
{
    return &ft->stats;
}

size_t flow_table_memory(const struct flow_table *ft)
{
    return ft->mem;
}

/* The address bytes as two big-endian words: compared as numbers, they
 * order as memcmp would, without a call per comparison (a few per packet). */
static inline void addr_words(const struct ip_addr *x, uint64_t w[2])
{
    memcpy(w, x->a, 16);
    w[0] = __builtin_bswap64(w[0]);
    w[1] = __builtin_bswap64(w[1]);
}

/* Order of (address, port) pairs: family, then address bytes, then port. */
static int addr_cmp(const struct ip_addr *x, uint16_t px, const struct ip_addr *y, uint16_t py)
{
    if (x->family != y->family)
        return x->family < y->family ? -1 : 1;
    uint64_t wx[2], wy[2];
    addr_words(x, wx);
    addr_words(y, wy);
    if (wx[0] != wy[0])
        return wx[0] < wy[0] ? -1 : 1;
    if (wx[1] != wy[1])
        return wx[1] < wy[1] ? -1 : 1;
    return px < py ? -1 : px > py;
}

static inline int addr_eq(const struct ip_addr *x, uint16_t px, const struct ip_addr *y,
                          uint16_t py)
{
    uint64_t wx[2], wy[2];
    memcpy(wx, x->a, 16);
    memcpy(wy, y->a, 16);
    return px == py && x->family == y->family && wx[0] == wy[0] && wx[1] == wy[1];
}

static uint32_t flow_hash(const struct ip_addr *a, uint16_t pa, const struct ip_addr *b,
                          uint16_t pb)
{
    /* Per packet: whole words and two multiplies, not a loop per byte. */
    uint64_t w[4];
    memcpy(&w[0], a->a, 8);
    memcpy(&w[1], a->a + 8, 8);
    memcpy(&w[2], b->a, 8);
    memcpy(&w[3], b->a + 8, 8);
    uint64_t h = (w[0] ^ (w[1] * 0x9e3779b97f4a7c15ULL)) + (w[2] ^ (w[3] * 0xc2b2ae3d27d4eb4fULL));
    h ^= ((uint64_t)pa << 16 | pb) * 0x165667b19e3779f9ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (uint32_t)h;
}

static int port_sniffed(const struct flow_table *ft, uint16_t port)
{
    for (int i = 0; i < ft->opts.nports; i++)
        if (ft->opts.ports[i] == port)
            return 1;
    return 0;
}

static void grow_table(struct flow_table *ft)
{
    uint32_t n = ft->nbuckets * 2;
    struct flow **b = calloc(n, sizeof(*b));
    if (!b)
        return; /* keep the longer chains */
    for (uint32_t i = 0; i < ft->nbuckets; i++) {
        struct flow *f = ft->buckets[i];
        while (f) {
            struct flow *next = f->hnext;
            uint32_t h = flow_hash(&f->a, f->pa, &f->b, f->pb) & (n - 1);
            f->hnext = b[h];
            b[h] = f;
            f = next;
        }
    }
    free(ft->buckets);
    table_charge(ft, (ptrdiff_t)((n - ft->nbuckets) * sizeof(*b)));
    ft->buckets = b;
    ft->nbuckets = n;
}

static void lru_unlink(struct flow_table *ft, struct flow *f)
{
    DLIST_UNLINK(ft->lru_head, ft->lru_tail, f, lprev, lnext);
}

static void lru_append(struct flow_table *ft, struct flow *f)
{
    DLIST_APPEND(ft->lru_head, ft->lru_tail, f, lprev, lnext);
}

/* Forget what a PENDING flow was holding back. */
static void pending_drop(struct flow *f)
{
    free(f->q);
    f->q = NULL;
    f->nq = 0;
    free(f->sniff);
    f->sniff = NULL;
}

/* Finish the model connection of f (if any): it goes to the store's
 * on_finish and, in stream mode, is freed. */
static void flow_finish_conn(struct flow_table *ft, struct flow *f)
{
    if (f->tcp) {
        tcp_conn_finish(f->tcp);
        tcp_conn_free(f->tcp);
        f->tcp = NULL;
    }
    if (f->conn) {
        store_conn_finish(ft->st, f->conn);
        f->conn = NULL;
    }
    pending_drop(f);
    f->state = FLOW_DONE;
}

static void flow_remove(struct flow_table *ft, struct flow *f)
{
    uint32_t h = flow_hash(&f->a, f->pa, &f->b, f->pb) & (ft->nbuckets - 1);
    struct flow **pp = &ft->buckets[h];
    while (*pp && *pp != f)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = f->hnext;
    lru_unlink(ft, f);
    if (f->state == FLOW_PENDING) {
        /* Never shown to be HTTP. */
        ft->stats.ignored_flows++;
        store_stats(ft->st)->ignored_packets += f->nq;
    }
    flow_finish_conn(ft, f);
    ft->stats.active--;
    table_charge(ft, -(ptrdiff_t)f->mem);
    free(f);
}

/* What f holds: itself, the packets it holds back while PENDING, the start
 * of a request line split across them. */
static inline uint32_t flow_footprint(const struct flow *f)
{
    return (uint32_t)(sizeof(*f) + f->nq * sizeof(struct pending_pkt) +
                      (f->sniff ? FLOW_SNIFF_BYTES : 0));
}

/* Charge f for what it holds now (flow_grew, flow_evict_open). */
static inline void flow_settle(struct flow_table *ft, struct flow *f)
{
    uint32_t m = flow_footprint(f);
    if (m != f->mem) {
        table_charge(ft, (ptrdiff_t)m - (ptrdiff_t)f->mem);
        f->mem = m;
    }
}

/* The table holds more than its share of the budget (a flood of new
 * connections, most of them never answered, say): finish the flows idle
 * longest, whatever their state, as their timeout would have later. Never
 * `keep`, the flow of the packet at hand. Their connections stay in the
 * model, finished; a flow that speaks again starts a new one. */
static __attribute__((noinline)) void table_trim(struct flow_table *ft, const struct flow *keep)
{
    while (ft->mem > ft->limit && ft->lru_head && ft->lru_head != keep) {
        if (!ft->warned_full) {
            log_msg(LOG_WARN,
                    "the flow table reached its share of the memory budget (%zu "
                    "bytes, a quarter of it, about %llu flows): finishing the flows idle "
                    "longest early (stats.flows_evicted; raise --max-memory to follow more "
                    "at once)",
                    ft->limit, (unsigned long long)ft->stats.active);
            ft->warned_full = 1;
        }
        store_stats(ft->st)->flows_evicted++;
        flow_remove(ft, ft->lru_head);
    }
}

/* After a packet that may have changed what f holds: a new flow, or one
 * still PENDING (its queue, its sniff buffer). An ACTIVE flow's own
 * footprint does not change; its connection's state is the store's. */
static __attribute__((noinline)) void flow_grew(struct flow_table *ft, struct flow *f)
{
    flow_settle(ft, f);
    if (ft->limit && ft->mem > ft->limit)
        table_trim(ft, f);
}

static void expire(struct flow_table *ft)
{
    while (ft->lru_head) {
        struct flow *f = ft->lru_head;
        int64_t limit = (f->closed_us >= 0 || f->state == FLOW_DONE) ? ft->opts.close_linger_us
                                                                     : ft->opts.idle_timeout_us;
        if (ft->now_us - f->last_us <= limit)
            break;
        if (f->state != FLOW_DONE && f->closed_us < 0)
            ft->stats.expired++;
        flow_remove(ft, f);
    }
}

/* The flow of a canonical tuple (a <= b) in bucket h, or NULL. */
static struct flow *flow_lookup(const struct flow_table *ft, const struct ip_addr *a, uint16_t pa,
                                const struct ip_addr *b, uint16_t pb, uint32_t h)
{
    struct flow *f = ft->buckets[h];
    while (f && !(addr_eq(&f->a, f->pa, a, pa) && addr_eq(&f->b, f->pb, b, pb)))
        f = f->hnext;
    return f;
}

static struct flow *flow_find(const struct flow_table *ft, const struct ip_addr *a, uint16_t pa,
                              const struct ip_addr *b, uint16_t pb)
{
    if (addr_cmp(a, pa, b, pb) > 0)
        return flow_find(ft, b, pb, a, pa);
    return flow_lookup(ft, a, pa, b, pb, flow_hash(a, pa, b, pb) & (ft->nbuckets - 1));
}

/* The store evicts open connection c for its budget: forget it without
 * finishing it (finishing may allocate, and this runs inside an allocation
 * for another connection). The flow's next packet starts a new connection,
 * picked up mid-stream. */
static int flow_evict_open(void *ctx, struct store_conn *c)
{
    struct flow_table *ft = ctx;
    struct flow *f =
        flow_find(ft, &c->client_addr, c->client_port, &c->server_addr, c->server_port);
    if (!f || f->conn != c)
        return -1;
    tcp_conn_free(f->tcp);
    f->tcp = NULL;
    f->conn = NULL;
    pending_drop(f);
    flow_settle(ft, f);
    f->state = FLOW_DONE;
    /* A connection whose close was complete has nothing more to say: what
     * still comes (the last ACK, a retransmitted FIN) is late, as it would
     * have been while it lingered, not a new connection. */
    f->evicted = f->closed_us < 0;
    return 0;
}

size_t flow_table_side(const struct flow_table *ft, const struct store_conn *c)
{
    const struct flow *f =
        flow_find(ft, &c->client_addr, c->client_port, &c->server_addr, c->server_port);
    return f && f->conn == c && f->tcp ? tcp_conn_footprint(f->tcp) : 0;
}

/* Start modelling f with the given client side. */
static int flow_activate(struct flow_table *ft, struct flow *f, int client_is_a, int64_t ts_us)
{
    f->client_is_a = (uint8_t)client_is_a;
    f->roles_known = 1;
    const struct ip_addr *ca = client_is_a ? &f->a : &f->b;
    const struct ip_addr *sa = client_is_a ? &f->b : &f->a;
    uint16_t cp = client_is_a ? f->pa : f->pb, sp = client_is_a ? f->pb : f->pa;
    f->conn = store_conn_new(ft->st, ca, cp, sa, sp, ts_us);
    if (!f->conn)
        return -ENOMEM;
    f->tcp = tcp_conn_new(ft->st, f->conn, 1);
    if (!f->tcp) {
        store_conn_discard(ft->st, f->conn);
        f->conn = NULL;
        return -ENOMEM;
    }
    f->state = FLOW_ACTIVE;
    f->closed_us = -1;
    return 0;
}

static int dir_of(const struct flow *f, const struct decoded *d)
{
    int from_a = addr_eq(&d->src, d->sport, &f->a, f->pa);
    return from_a == f->client_is_a ? DIR_C2S : DIR_S2C;
}

static void feed(struct flow_table *ft, struct flow *f, const struct decoded *d)
{
    tcp_conn_packet(f->tcp, d, dir_of(f, d));
    if (f->closed_us < 0 && tcp_conn_closed(f->tcp))
        f->closed_us = d->ts_ns / 1000;
    /* Streaming: write out and free a connection as soon as its close is
     * complete (RST, or both FINs ACKed); what comes later is counted as
     * late. Retaining: it lingers, so stray late packets stay on it. */
    if (ft->stream && tcp_conn_done(f->tcp))
        flow_finish_conn(ft, f);
}

/* Decide roles from ports and SYN flags: 1 when decided. */
static int roles_from_packet(const struct flow_table *ft, struct flow *f, const struct decoded *d,
                             int *client_is_a)
{
    int src_is_a = addr_eq(&d->src, d->sport, &f->a, f->pa);
    int s_sniff = port_sniffed(ft, d->sport), d_sniff = port_sniffed(ft, d->dport);
    int syn = d->flags & TCPF_SYN, ack = d->flags & TCPF_ACK;

    if (d_sniff && !s_sniff) {
        *client_is_a = src_is_a;
        return 1;
    }
    if (s_sniff && !d_sniff) {
        *client_is_a = !src_is_a;
        return 1;
    }
    if (syn && !ack) {
        *client_is_a = src_is_a;
        return 1;
    }
    if (syn && ack) {
        *client_is_a = !src_is_a;
        return 1;
    }
    if (s_sniff && d_sniff) {
        /* Both ends on sniffed ports: the lower port serves. */
        *client_is_a = src_is_a ? d->sport > d->dport : d->dport > d->sport;
        return 1;
    }
    return 0;
}

/* A packet for a PENDING flow. */
static void pending_packet(struct flow_table *ft, struct flow *f, const struct decoded *d)
{
    int src_is_a = addr_eq(&d->src, d->sport, &f->a, f->pa);
    int client_is_a;

    if (!f->roles_known && roles_from_packet(ft, f, d, &client_is_a)) {
        f->roles_known = 1;
        f->client_is_a = (uint8_t)client_is_a;
    }
    const uint8_t *qpayload = NULL; /* a queued packet's bytes, kept in sniff */
    uint32_t qcap = 0;
    if (d->seg_len > 0 && d->cap_len > 0) {
        /* First payload: a request line from this side makes it HTTP with
         * this side as the client (unless roles say it is the server). */
        if (f->roles_known && src_is_a != f->client_is_a)
            goto ignore; /* the server spoke first: not HTTP */
        int r;
        if (f->nsniff == 0) {
            /* Usually the whole request line is in the first segment:
             * look at it in place. */
            r = http_looks_like_request(d->payload, d->cap_len);
        } else {
            r = -1;
        }
        if (r < 0) {
            if (!f->sniff && !(f->sniff = malloc(FLOW_SNIFF_BYTES)))
                goto ignore;
            uint32_t n = d->cap_len;
            if (n > FLOW_SNIFF_BYTES - f->nsniff)
                n = FLOW_SNIFF_BYTES - f->nsniff;
            memcpy(f->sniff + f->nsniff, d->payload, n);
            qpayload = f->sniff + f->nsniff;
            qcap = n;
            f->nsniff += n;
            r = http_looks_like_request(f->sniff, f->nsniff);
        }
        if (r == 0 || (r < 0 && f->nsniff >= FLOW_SNIFF_BYTES))
            goto ignore;
        if (r < 0) {
            /* Too short to tell: queue the packet with its bytes (kept in
             * the sniff buffer) until the next one decides. */
            if (f->nq >= FLOW_PENDING_MAX)
                goto ignore;
            goto queue;
        }
        int64_t start = f->nq ? f->q[0].d.ts_ns / 1000 : d->ts_ns / 1000;
        if (flow_activate(ft, f, src_is_a, start) < 0)
            goto ignore;
        /* Replay the queued handshake; the queue is detached first, as a
         * connection that completes its close here is finished at once. */
        struct pending_pkt *q = f->q;
        uint32_t nq = f->nq;
        f->q = NULL;
        f->nq = 0;
        for (uint32_t i = 0; i < nq; i++) {
            if (f->state == FLOW_ACTIVE)
                feed(ft, f, &q[i].d);
            else
                store_stats(ft->st)->late_packets++;
        }
        free(q);
        free(f->sniff); /* the replayed bytes are in the model now */
        f->sniff = NULL;
        if (f->state != FLOW_ACTIVE) {
            store_stats(ft->st)->late_packets++;
            return;
        }
        feed(ft, f, d);
        return;
    }
    if (f->nq >= FLOW_PENDING_MAX)
        goto ignore;
queue:;
    struct pending_pkt *q = realloc(f->q, (f->nq + 1) * sizeof(*q));
    if (!q)
        goto ignore;
    f->q = q;
    f->q[f->nq].d = *d;
    f->q[f->nq].d.payload = qpayload;
    f->q[f->nq].d.cap_len = qcap;
    f->nq++;
    return;
ignore:
    ft->stats.ignored_flows++;
    store_stats(ft->st)->ignored_packets += f->nq + 1;
    pending_drop(f);
    f->state = FLOW_DONE;
    f->ignored = 1;
}

/* The first packet of a new connection on f: a sniffed port is modelled at
 * once; otherwise it waits to be recognised as HTTP (files) or is ignored
 * (explicit ports). */
static void flow_start(struct flow_table *ft, struct flow *f, const struct decoded *d, int64_t ts)
{
    if (port_sniffed(ft, d->sport) || port_sniffed(ft, d->dport)) {
        int client_is_a = 1;
        roles_from_packet(ft, f, d, &client_is_a);
        if (flow_activate(ft, f, client_is_a, ts) < 0) {
            f->state = FLOW_DONE;
            f->ignored = 1;
        }
    } else if (!ft->opts.sniff_http) {
        f->state = FLOW_DONE;
        f->ignored = 1;
        ft->stats.ignored_flows++;
    } else {
        f->state = FLOW_PENDING;
    }
}

void flow_table_packet(struct flow_table *ft, const struct decoded *d)
{
    const struct ip_addr *a = &d->src, *b = &d->dst;
    uint16_t pa = d->sport, pb = d->dport;
    if (addr_cmp(a, pa, b, pb) > 0) {
        a = &d->dst;
        b = &d->src;
        pa = d->dport;
        pb = d->sport;
    }
    int64_t ts = d->ts_ns / 1000;
    if (ts > ft->now_us)
        ft->now_us = ts;
    if (++ft->since_expire >= FLOW_EXPIRE_EVERY) {
        ft->since_expire = 0;
        expire(ft);
    }

    uint32_t h = flow_hash(a, pa, b, pb) & (ft->nbuckets - 1);
    struct flow *f = flow_lookup(ft, a, pa, b, pb, h);

    int syn_only = (d->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN;
    if (f && syn_only && f->state != FLOW_PENDING) {
        /* A fresh SYN on a tuple whose connection closed (or was dropped):
         * port reuse, a new connection. A SYN retry keeps the old one. */
        int reuse = f->state == FLOW_DONE || (f->tcp && tcp_conn_new_syn(f->tcp, d, dir_of(f, d)));
        if (reuse) {
            if (f->state == FLOW_ACTIVE)
                ft->stats.port_reuse++;
            flow_finish_conn(ft, f);
            f->ignored = 0;
            f->evicted = 0;
            f->roles_known = 0;
            f->nsniff = 0;
            f->closed_us = -1;
            flow_start(ft, f, d, ts);
        }
    }
    if (!f) {
        f = calloc(1, sizeof(*f));
        if (!f) {
            store_stats(ft->st)->alloc_failures++;
            return;
        }
        f->a = *a;
        f->b = *b;
        f->pa = pa;
        f->pb = pb;
        f->closed_us = -1;
        f->hnext = ft->buckets[h];
        ft->buckets[h] = f;
        lru_append(ft, f);
        ft->stats.flows++;
        ft->stats.active++;
        if (ft->stats.active > ft->nbuckets)
            grow_table(ft);
        flow_start(ft, f, d, ts);
        flow_grew(ft, f);
    } else {
        lru_unlink(ft, f);
        lru_append(ft, f);
    }
    f->last_us = ts;

    switch (f->state) {
    case FLOW_PENDING:
        pending_packet(ft, f, d);
        flow_grew(ft, f);
        break;
    case FLOW_ACTIVE: feed(ft, f, d); break;
    default:
        if (f->evicted) {
            /* Its connection went for the budget: what comes now is a new
             * one, with the roles it had. */
            f->evicted = 0;
            if (flow_activate(ft, f, f->client_is_a, ts) == 0) {
                feed(ft, f, d);
                break;
            }
            f->state = FLOW_DONE;
        }
        if (f->ignored)
            store_stats(ft->st)->ignored_packets++;
        else
            store_stats(ft->st)->late_packets++;
        break;
    }
}

void flow_table_finish(struct flow_table *ft)
{
    /* Oldest activity first, the order expiry would have used. */
    while (ft->lru_head)
        flow_remove(ft, ft->lru_head);
}

void flow_table_free(struct flow_table *ft)
{
    if (!ft)
        return;
    /* A table replacing this one (pipeline_clear) has registered itself
     * already: only this one's registration goes. */
    store_unset_evict_open(ft->st, ft);
    for (uint32_t i = 0; i < ft->nbuckets; i++) {
        struct flow *f = ft->buckets[i];
        while (f) {
            struct flow *next = f->hnext;
            if (f->tcp)
                tcp_conn_free(f->tcp);
            free(f->q);
            free(f->sniff);
            free(f);
            f = next;
        }
    }
    free(ft->buckets);
    store_table_mem(ft->st, -(ptrdiff_t)ft->mem);
    free(ft);
}
