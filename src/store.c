/* SPDX-License-Identifier: MIT */
/*
 * store.c - the capture model and its memory budget. See store.h.
 *
 * Connections live in a doubly-linked list in creation order. Growable arrays
 * (packets, messages, events, spans, series) double their capacity; every
 * malloc'd byte is added to the connection's `mem` and to the store total, so
 * the budget check is one comparison. When an append would pass the budget,
 * finished connections are evicted, those finished longest ago first (a
 * second list holds them in that order, so eviction never walks the open
 * ones); when none is left to evict, the append fails with -ENOMEM and the
 * loss is counted in alloc_failures.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "htracr/dlist.h"
#include "htracr/dns.h"
#include "htracr/log.h"
#include "htracr/store.h"

#define SERVER_BUCKETS 1024

struct store {
    struct store_opts opts;
    struct store_stats stats;
    struct store_stats cleared; /* the stats store_clear() zeroed, summed */
    struct store_totals totals;
    struct store_conn *head, *tail;
    size_t mem;
    uint64_t next_conn_id;
    uint64_t next_msg_id;
    uint32_t nservers;      /* ids handed out */
    uint32_t nlive_servers; /* servers allocated (held or idle) */
    /* Servers no connection here is on, oldest first: kept for a while, as
     * the next connection to them is usually near (stream mode frees every
     * connection it writes), then freed (server_release). */
    struct store_server *idle_head, *idle_tail;
    uint32_t nidle, idle_max;
    /* Every allocated server twice, by (address, port) and by id: open
     * addressing, NULL empty, both server_hash_size (a power of 2, over
     * twice nlive_servers) long. Their size follows the servers allocated,
     * not the ids handed out, which grow with every server ever met. */
    struct store_server **server_hash, **server_ids;
    uint32_t server_hash_size;
    int64_t start_us, end_us;
    char source[256];
    int warned_budget;
    uint64_t seq, generation;
    uint64_t replies;                       /* store_reply_next: the last number given */
    size_t body_mem;                        /* decoded bodies, all connections */
    struct store_conn *fin_head, *fin_tail; /* finished connections, in the order they
                                             * finished: what eviction takes first */
    pthread_mutex_t lock;
    atomic_int lock_waiters;         /* threads in store_lock() that do not hold it yet */
    const struct store_conn *pinned; /* a long reader's place: not evicted (store_pin) */
    int (*evict_open)(void *ctx, struct store_conn *c); /* store_set_evict_open */
    void *evict_open_ctx;
    int warned_open;
    /* raw records (keep_raw), oldest chunk first */
    struct raw_chunk *raw_head, *raw_tail;
    uint64_t raw_next; /* number the next record gets */
    uint64_t raw_cur;  /* number of the record being processed + 1; 0 none */
    size_t raw_mem, raw_limit;
    size_t table_mem; /* the flow table's (store_table_mem), part of the budget */
    /* DNS lookups: a ring of up to STORE_DNS_MAX, oldest at dns_head */
    struct store_dns *dns;
    uint32_t dns_head, ndns, dns_cap;
    uint32_t next_dns_id;
    /* The lookups by answered address (dnsx_find): open addressing on the
     * address, slots hold lookup ids, 0 empty. */
    uint32_t *dnsx;
    uint32_t dnsx_size, dnsx_used;
};

/* to += from, every counter but dropped. */
_Static_assert(sizeof(struct store_stats) == 18 * sizeof(uint64_t),
               "a counter added to store_stats is added in stats_add too");
static void stats_add(struct store_stats *to, const struct store_stats *from)
{
    to->packets += from->packets;
    to->bytes += from->bytes;
    to->connections += from->connections;
    to->requests += from->requests;
    to->responses += from->responses;
    to->evicted_connections += from->evicted_connections;
    to->evicted_open += from->evicted_open;
    to->decode_errors += from->decode_errors;
    to->ignored_packets += from->ignored_packets;
    to->late_packets += from->late_packets;
    to->alloc_failures += from->alloc_failures;
    to->raw_evicted += from->raw_evicted;
    to->bodies_not_kept += from->bodies_not_kept;
    to->dns_messages += from->dns_messages;
    to->dns_bad += from->dns_bad;
    to->dns_evicted += from->dns_evicted;
    to->flows_evicted += from->flows_evicted;
}

struct store *store_new(const struct store_opts *opts)
{
    struct store *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    if (opts)
        st->opts = *opts;
    st->next_conn_id = 1;
    st->next_msg_id = 1;
    st->start_us = -1;
    st->end_us = -1;
    st->generation = 1;
    pthread_mutex_init(&st->lock, NULL);
    /* Raw bytes get a quarter of the budget, the model the rest. */
    if (st->opts.keep_raw) {
        st->raw_limit = st->opts.max_memory ? st->opts.max_memory / 4 : (size_t)1 << 30;
        if (st->opts.max_memory)
            st->opts.max_memory -= st->raw_limit;
    }
    /* Up to 1,024 idle servers (600 KiB), fewer when that is more than a
     * sixteenth of the budget. */
    st->idle_max = STORE_IDLE_SERVERS;
    if (st->opts.max_memory &&
        st->opts.max_memory / 16 / sizeof(struct store_server) < st->idle_max)
        st->idle_max = (uint32_t)(st->opts.max_memory / 16 / sizeof(struct store_server));
    return st;
}

/* Whether series s of c still has its points in c's shared first block. */
static int in_series_first(const struct store_conn *c, const struct store_series *s)
{
    return c->series_first && s->v >= c->series_first &&
           s->v < c->series_first + SERIES_COUNT * STORE_SERIES_FIRST;
}

/* store_conn_mark's marks go (their bytes were counted). */
static void marks_free(struct store *st, struct store_conn *c)
{
    if (!c->marks)
        return;
    st->mem -= sizeof(*c->marks);
    c->mem -= sizeof(*c->marks);
    free(c->marks);
    c->marks = NULL;
}

static void conn_free_mem(struct store_conn *c)
{
    free(c->packets);
    free(c->raw);
    free(c->messages);
    free(c->events);
    free(c->states);
    for (int i = 0; i < SERIES_COUNT; i++) {
        if (!in_series_first(c, &c->series[i]))
            free(c->series[i].v);
    }
    free(c->series_first);
    free(c->marks);
    arena_release(&c->arena);
    free(c);
}

/*
 * Raw records: chunks of about RAW_CHUNK bytes, each holding consecutive
 * records (a header, then the bytes, 8-aligned) and their offsets. Records
 * are numbered in arrival order; the oldest chunk is dropped when raw_limit
 * is reached, so a packet's bytes may be gone while its model entry stays.
 */
#define RAW_CHUNK (1u << 20)

struct raw_hdr {
    int64_t ts_ns;
    int32_t linktype;
    uint32_t caplen, wirelen;
    uint32_t _pad;
};

struct raw_chunk {
    struct raw_chunk *next;
    uint64_t first;  /* number of its first record */
    uint32_t n, cap; /* records, offsets capacity */
    uint32_t *offs;
    size_t used, size;
    uint8_t data[];
};

static void raw_free_all(struct store *st)
{
    struct raw_chunk *k = st->raw_head;
    while (k) {
        struct raw_chunk *next = k->next;
        free(k->offs);
        free(k);
        k = next;
    }
    st->raw_head = st->raw_tail = NULL;
    st->mem -= st->raw_mem;
    st->raw_mem = 0;
}

struct store_dns;
static int same_addr(const struct ip_addr *a, const struct ip_addr *b);
static struct store_dns *dns_at(struct store *st, uint32_t i);
static const struct store_dns *dnsx_find(struct store *st, const struct ip_addr *addr);

/* Free every connection and server. */
static void free_model(struct store *st)
{
    struct store_conn *c = st->head;
    while (c) {
        struct store_conn *next = c->next;
        conn_free_mem(c);
        c = next;
    }
    for (uint32_t i = 0; i < st->server_hash_size; i++)
        free(st->server_ids[i]);
    free(st->server_ids);
    free(st->server_hash);
    raw_free_all(st);
    free(st->dns);
    st->dns = NULL;
    st->dns_head = st->ndns = st->dns_cap = 0;
    free(st->dnsx);
    st->dnsx = NULL;
    st->dnsx_size = st->dnsx_used = 0;
}

void store_free(struct store *st)
{
    if (!st)
        return;
    free_model(st);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

void store_clear(struct store *st)
{
    free_model(st);
    st->head = st->tail = NULL;
    st->server_ids = NULL;
    st->server_hash = NULL;
    st->nservers = st->server_hash_size = st->nlive_servers = 0;
    st->idle_head = st->idle_tail = NULL;
    st->nidle = 0;
    stats_add(&st->cleared, &st->stats);
    memset(&st->stats, 0, sizeof(st->stats));
    st->mem = 0;
    st->body_mem = 0;
    st->fin_head = st->fin_tail = NULL;
    st->next_conn_id = 1;
    st->next_msg_id = 1;
    st->start_us = st->end_us = -1;
    st->warned_budget = 0;
    st->raw_cur = 0;
    st->pinned = NULL;
    st->generation++;
    st->seq++;
}

void store_lock(struct store *st)
{
    atomic_fetch_add(&st->lock_waiters, 1);
    pthread_mutex_lock(&st->lock);
    atomic_fetch_sub(&st->lock_waiters, 1);
}

int store_trylock(struct store *st)
{
    return pthread_mutex_trylock(&st->lock) == 0 ? 0 : -EBUSY;
}

void store_want_lock(struct store *st, int on)
{
    atomic_fetch_add(&st->lock_waiters, on ? 1 : -1);
}

/* A waiter must get the lock before the reader takes it back: a mutex lets
 * the thread that just unlocked take it again before the woken waiter runs.
 * The wait for the waiter to come through is bounded (it may have been
 * descheduled) by a number of yields. */
#define LOCK_YIELD_SPINS 1000

int store_lock_yield(struct store *st)
{
    if (!atomic_load(&st->lock_waiters))
        return 0;
    pthread_mutex_unlock(&st->lock);
    for (int i = 0; i < LOCK_YIELD_SPINS && atomic_load(&st->lock_waiters); i++)
        sched_yield();
    pthread_mutex_lock(&st->lock);
    return 1;
}

void store_pin(struct store *st, const struct store_conn *c)
{
    st->pinned = c;
}

const struct store_conn *store_pinned(const struct store *st)
{
    return st->pinned;
}

void store_unlock(struct store *st)
{
    pthread_mutex_unlock(&st->lock);
}

uint64_t store_seq(const struct store *st)
{
    return st->seq;
}

uint64_t store_reply_next(struct store *st)
{
    return ++st->replies;
}

uint64_t store_reply_last(const struct store *st)
{
    return st->replies;
}

uint64_t store_generation(const struct store *st)
{
    return st->generation;
}

void store_touch(struct store *st, struct store_conn *c)
{
    c->mod_seq = ++st->seq;
}

const struct store_opts *store_get_opts(const struct store *st)
{
    return &st->opts;
}

struct store_stats *store_stats(struct store *st)
{
    return &st->stats;
}

/* Prometheus' usual buckets, from 0.5 ms to 10 s. */
const int64_t store_hist_bounds_us[STORE_HIST_BOUNDS] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

const char *const store_method_names[STORE_METHODS] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other",
};

struct store_totals *store_totals(struct store *st)
{
    return &st->totals;
}

void store_stats_lifetime(const struct store *st, struct store_stats *out)
{
    *out = st->stats;
    stats_add(out, &st->cleared);
}

/* The only name each first letter can be (P: by the second), then one
 * comparison: this runs once a message. */
static enum store_method method_of(const char *s)
{
    enum store_method m;
    if (!s)
        return METHOD_OTHER;
    switch (s[0]) {
    case 'G': m = METHOD_GET; break;
    case 'H': m = METHOD_HEAD; break;
    case 'D': m = METHOD_DELETE; break;
    case 'C': m = METHOD_CONNECT; break;
    case 'O': m = METHOD_OPTIONS; break;
    case 'T': m = METHOD_TRACE; break;
    case 'P': m = s[1] == 'O' ? METHOD_POST : s[1] == 'U' ? METHOD_PUT : METHOD_PATCH; break;
    default: return METHOD_OTHER;
    }
    return strcmp(s, store_method_names[m]) == 0 ? m : METHOD_OTHER;
}

void store_note_message(struct store *st, const struct store_message *m)
{
    struct store_totals *t = &st->totals;
    if (m->kind == MSG_REQUEST) {
        t->requests[method_of(m->method)]++;
        return;
    }
    unsigned cls = m->status >= 100 && m->status <= 599 ? m->status / 100u : 0;
    t->responses[cls]++;
    if (cls == 1 && m->status != 101)
        return; /* interim: the final response's wait is the one that counts */
    store_hist_add(&t->ttfb, m->ttfb_us);
    store_hist_add(&t->stall, m->stall_us);
}

void store_set_source(struct store *st, const char *source)
{
    snprintf(st->source, sizeof(st->source), "%s", source ? source : "");
}

const char *store_source(const struct store *st)
{
    return st->source;
}

int64_t store_start_us(const struct store *st)
{
    return st->start_us;
}

int64_t store_end_us(const struct store *st)
{
    return st->end_us;
}

void store_note_packet(struct store *st, int64_t ts_us, uint32_t wirelen)
{
    st->stats.packets++;
    st->stats.bytes += wirelen;
    if (st->start_us < 0 || ts_us < st->start_us)
        st->start_us = ts_us;
    if (ts_us > st->end_us)
        st->end_us = ts_us;
}

size_t store_memory(const struct store *st)
{
    return st->mem + st->table_mem;
}

void store_table_mem(struct store *st, ptrdiff_t delta)
{
    st->table_mem += (size_t)delta;
}

size_t store_table_limit(const struct store *st)
{
    return st->opts.max_memory / 4;
}

static void server_release(struct store *st, uint32_t id);
static void idle_unlink(struct store *st, struct store_server *s);
static void server_free(struct store *st, struct store_server *s);

static void unlink_conn(struct store *st, struct store_conn *c)
{
    if (c->finished)
        DLIST_UNLINK(st->fin_head, st->fin_tail, c, fin_prev, fin_next);
    if (st->pinned == c)
        st->pinned = NULL; /* the reader holding its place finds it gone */
    DLIST_UNLINK(st->head, st->tail, c, prev, next);
    st->mem -= c->mem;
    st->body_mem -= c->body_mem;
    server_release(st, c->server);
}

/* Evict c (not pinned, not the one allocating) for the budget. */
static void evict_conn(struct store *st, struct store_conn *c)
{
    if (st->opts.on_evict)
        st->opts.on_evict(st->opts.ctx, st, c);
    unlink_conn(st, c);
    conn_free_mem(c);
    st->stats.evicted_connections++;
    st->seq++;
}

static int over_budget(const struct store *st, size_t need)
{
    return st->mem - st->raw_mem + st->table_mem + need > st->opts.max_memory;
}

/* Make room for `need` more bytes: evict finished connections, those
 * finished longest ago first, never `keep` (the one asking); when none is
 * left, open ones, oldest first, that their owner lets go
 * (store_set_evict_open). 0 when the budget allows it, else -ENOMEM;
 * reserve() also counts that as an allocation failure. */
static int make_room(struct store *st, struct store_conn *keep, size_t need)
{
    if (!st->opts.max_memory || !over_budget(st, need))
        return 0;
    while (st->idle_head && over_budget(st, need))
        server_free(st, st->idle_head);
    /* The finished ones from their own list: with tens of thousands of open
     * connections ahead of the first finished one in store order, walking
     * that order took 75 % of a file's reading time (bench/offline's
     * one-request connections at the default budget: 2.6 s, now 0.8). */
    for (struct store_conn *c = st->fin_head; c && over_budget(st, need);) {
        struct store_conn *next = c->fin_next;
        if (c != keep && c != st->pinned) {
            if (!st->warned_budget) {
                log_msg(LOG_WARN,
                        "memory budget of %zu bytes reached: evicting the "
                        "connections that finished longest ago (raise --max-memory to keep "
                        "more)",
                        st->opts.max_memory);
                st->warned_budget = 1;
            }
            evict_conn(st, c);
        }
        c = next;
    }
    for (struct store_conn *c = st->evict_open ? st->head : NULL; c && over_budget(st, need);) {
        struct store_conn *next = c->next;
        if (!c->finished && c != keep && c != st->pinned) {
            if (st->evict_open(st->evict_open_ctx, c) == 0) {
                if (st->opts.on_finish)
                    st->opts.on_finish(st->opts.ctx, st, c); /* what it has, to JSONL */
                if (!st->warned_open) {
                    log_msg(LOG_WARN,
                            "memory budget of %zu bytes reached with no finished "
                            "connection left: evicting the oldest open ones (what they "
                            "carry next starts a new connection in the model; raise "
                            "--max-memory to keep more)",
                            st->opts.max_memory);
                    st->warned_open = 1;
                }
                st->stats.evicted_open++;
                evict_conn(st, c);
            }
        }
        c = next;
    }
    return over_budget(st, need) ? -ENOMEM : 0;
}

static int reserve(struct store *st, struct store_conn *keep, size_t need)
{
    if (make_room(st, keep, need) == 0)
        return 0;
    st->stats.alloc_failures++;
    return -ENOMEM;
}

void store_conn_side(struct store *st, struct store_conn *c, size_t bytes)
{
    if (!c || bytes == c->side_mem)
        return;
    if (bytes > c->side_mem)
        (void)make_room(st, c, bytes - c->side_mem);
    st->mem = st->mem - c->side_mem + bytes;
    c->mem = c->mem - c->side_mem + bytes;
    c->side_mem = bytes;
}

void store_set_evict_open(struct store *st, int (*cb)(void *ctx, struct store_conn *c), void *ctx)
{
    st->evict_open = cb;
    st->evict_open_ctx = ctx;
}

void store_unset_evict_open(struct store *st, void *ctx)
{
    if (st->evict_open_ctx == ctx)
        store_set_evict_open(st, NULL, NULL);
}

static void account(struct store *st, struct store_conn *c, size_t n)
{
    st->mem += n;
    if (c)
        c->mem += n;
}

/* What a connection's arrays start with: what one request on a connection
 * of its own uses (12 packets, 2 messages, 5 state spans, no events, at
 * most 4 points a series: bench/live's one-request phase), so that such a
 * connection takes no memory it leaves unused: every byte is fresh memory
 * to fault in. Past that they double. The first points of a series go in
 * the block all its connection's series share (STORE_SERIES_FIRST each);
 * FIRST_POINTS is for a series that starts in a block of its own (stream
 * mode). */
enum {
    FIRST_PACKETS = 16,
    FIRST_MESSAGES = 4,
    FIRST_EVENTS = 4,
    FIRST_STATES = 8,
    FIRST_POINTS = 16
};

/* Grow *arr (element size sz, count n, capacity *cap) to hold one more:
 * the check inline (it passes for all but a few appends), the growing not.
 * shared: *arr is a part of a block it does not own (series_room), so it
 * is copied out into a block of its own, all of it new memory. */
static __attribute__((noinline)) int grow_slow(struct store *st, struct store_conn *c, void **arr,
                                               uint32_t *cap, size_t sz, int shared, uint32_t first)
{
    uint32_t ncap = *cap ? *cap * 2 : first;
    if (ncap <= *cap || (size_t)ncap > SIZE_MAX / sz)
        return -ENOMEM;
    size_t add = (size_t)(shared ? ncap : ncap - *cap) * sz;
    if (reserve(st, c, add) < 0)
        return -ENOMEM;
    void *p = shared ? malloc((size_t)ncap * sz) : realloc(*arr, (size_t)ncap * sz);
    if (p && shared)
        memcpy(p, *arr, (size_t)*cap * sz);
    if (!p) {
        st->stats.alloc_failures++;
        return -ENOMEM;
    }
    *arr = p;
    *cap = ncap;
    account(st, c, add);
    return 0;
}

static inline int grow(struct store *st, struct store_conn *c, void **arr, uint32_t n,
                       uint32_t *cap, size_t sz, uint32_t first)
{
    return n < *cap ? 0 : grow_slow(st, c, arr, cap, sz, 0, first);
}

struct store_conn *store_conn_new(struct store *st, const struct ip_addr *caddr, uint16_t cport,
                                  const struct ip_addr *saddr, uint16_t sport, int64_t ts_us)
{
    if (reserve(st, NULL, sizeof(struct store_conn)) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    struct store_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        st->stats.alloc_failures++;
        return NULL;
    }
    struct store_server *srv = store_server_get(st, saddr, sport);
    if (!srv) {
        free(c);
        return NULL;
    }
    c->id = st->next_conn_id++;
    c->server = srv->id;
    srv->connections++;
    if (srv->idle)
        idle_unlink(st, srv);
    srv->held++;
    c->client_addr = *caddr;
    c->server_addr = *saddr;
    c->client_port = cport;
    c->server_port = sport;
    c->start_us = ts_us;
    c->end_us = ts_us;
    c->handshake_rtt_us = -1;
    c->syn_us = c->synack_us = c->hs_ack_us = c->syn_first_us = -1;
    for (int d = 0; d < 2; d++)
        c->stats.rtt_min_us[d] = c->stats.rtt_max_us[d] = -1;
    arena_init(&c->arena);
    DLIST_APPEND(st->head, st->tail, c, prev, next);
    account(st, c, sizeof(*c));
    st->stats.connections++;
    store_touch(st, c);
    return c;
}

void store_conn_discard(struct store *st, struct store_conn *c)
{
    if (!c)
        return;
    struct store_server *srv = store_server_by_id(st, c->server);
    if (srv && srv->connections)
        srv->connections--;
    unlink_conn(st, c);
    st->stats.connections--;
    /* Its messages (if any were made) no longer count. */
    for (uint32_t i = 0; i < c->nmessages; i++) {
        if (c->messages[i]->kind == MSG_REQUEST)
            st->stats.requests--;
        else
            st->stats.responses--;
    }
    conn_free_mem(c);
    st->seq++;
}

void store_conn_finish(struct store *st, struct store_conn *c)
{
    if (!c || c->finished)
        return;
    c->finished = 1;
    DLIST_APPEND(st->fin_head, st->fin_tail, c, fin_prev, fin_next);
    store_touch(st, c);
    if (st->opts.on_finish)
        st->opts.on_finish(st->opts.ctx, st, c);
    if (st->opts.stream) {
        unlink_conn(st, c);
        conn_free_mem(c);
    }
}

void store_conn_flush(struct store *st, struct store_conn *c)
{
    if (!st->opts.stream || c->finished)
        return;
    if (c->nmessages && st->opts.on_finish)
        st->opts.on_finish(st->opts.ctx, st, c);
    size_t before = c->arena.reserved;
    arena_release(&c->arena);
    st->mem -= before;
    c->mem -= before;
    st->body_mem -= c->body_mem;
    c->body_mem = 0;
    c->nmessages = 0;
    c->msg_settled = 0;
    marks_free(st, c); /* what they counted is gone */
    c->pkt_base += c->npackets;
    c->npackets = 0;
    c->nevents = 0;
    for (int i = 0; i < SERIES_COUNT; i++)
        c->series[i].n = 0;
}

int64_t store_conn_add_packet(struct store *st, struct store_conn *c, const struct store_packet *p)
{
    if (grow(st, c, (void **)&c->packets, c->npackets, &c->cap_packets, sizeof(*p), FIRST_PACKETS) <
        0)
        return -ENOMEM;
    if (st->opts.keep_raw) {
        if (grow(st, c, (void **)&c->raw, c->npackets, &c->cap_raw, sizeof(uint32_t),
                 FIRST_PACKETS) < 0)
            return -ENOMEM;
        c->raw[c->npackets] = (uint32_t)st->raw_cur;
    }
    c->packets[c->npackets] = *p;
    if (p->ts_us > c->end_us)
        c->end_us = p->ts_us;
    c->mod_seq = ++st->seq;
    return (int64_t)c->pkt_base + c->npackets++;
}

struct store_message *store_message_new(struct store *st, struct store_conn *c, enum msg_kind kind)
{
    if (grow(st, c, (void **)&c->messages, c->nmessages, &c->cap_messages, sizeof(void *),
             FIRST_MESSAGES) < 0)
        return NULL;
    struct store_message *m = store_alloc(st, c, sizeof(*m));
    if (!m)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->id = st->next_msg_id++;
    m->kind = (uint8_t)kind;
    m->round_trips = -1;
    if (kind == MSG_RESPONSE) {
        m->ttfb_us = -1; /* the request's method and url share their place */
        m->stall_us = -1;
    }
    c->messages[c->nmessages++] = m;
    store_touch(st, c);
    if (kind == MSG_REQUEST)
        st->stats.requests++;
    else
        st->stats.responses++;
    return m;
}

void store_set_next_ids(struct store *st, uint64_t conn_id, uint64_t msg_id)
{
    st->next_conn_id = conn_id;
    st->next_msg_id = msg_id;
}

struct store_message *store_conn_message(const struct store_conn *c, uint64_t id)
{
    uint32_t lo = 0, hi = c->nmessages;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t mid_id = c->messages[mid]->id;
        if (mid_id == id)
            return c->messages[mid];
        if (mid_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int store_conn_event(struct store *st, struct store_conn *c, uint32_t type, uint8_t dir,
                     uint32_t packet, int64_t ts_us)
{
    if (st->opts.stream)
        return -ENOENT; /* JSONL writes no events: not kept when streaming */
    if (grow(st, c, (void **)&c->events, c->nevents, &c->cap_events, sizeof(struct store_event),
             FIRST_EVENTS) < 0)
        return -ENOMEM;
    struct store_event *e = &c->events[c->nevents++];
    e->ts_us = ts_us;
    e->packet = packet;
    e->type = type;
    e->dir = dir;
    e->count = 0;
    return 0;
}

/* Room for one more point in series `series` of c. A connection's series
 * start together in one block of STORE_SERIES_FIRST points each, taken
 * with the first point of any: one of a single exchange has points in all
 * eight, and a malloc and a free for each (the free on memory long out of
 * cache by the time the connection is evicted) were most of what the
 * allocator cost under one-request connections. A series that fills its
 * part moves to a block of its own, which then doubles (grow_slow). Stream
 * mode keeps two series only: each gets its own block from the start. */
static __attribute__((noinline)) int series_room(struct store *st, struct store_conn *c, int series)
{
    struct store_series *s = &c->series[series];
    const size_t sz = sizeof(struct store_point);
    if (!s->cap && !st->opts.stream) {
        if (!c->series_first) {
            size_t n = (size_t)SERIES_COUNT * STORE_SERIES_FIRST * sz;
            if (reserve(st, c, n) < 0)
                return -ENOMEM;
            c->series_first = malloc(n);
            if (!c->series_first) {
                st->stats.alloc_failures++;
                return -ENOMEM;
            }
            account(st, c, n);
        }
        s->v = c->series_first + (size_t)series * STORE_SERIES_FIRST;
        s->cap = STORE_SERIES_FIRST;
        return 0;
    }
    return grow_slow(st, c, (void **)&s->v, &s->cap, sz, in_series_first(c, s), FIRST_POINTS);
}

int store_conn_point(struct store *st, struct store_conn *c, int series, int64_t ts_us,
                     int64_t value)
{
    if (series < 0 || series >= SERIES_COUNT)
        return -EINVAL;
    if (st->opts.stream && series != SERIES_RTT_C2S && series != SERIES_RTT_S2C)
        return 0; /* JSONL uses only the RTT samples: the rest is not kept */
    struct store_series *s = &c->series[series];
    if (s->n >= s->cap && series_room(st, c, series) < 0)
        return -ENOMEM;
    s->v[s->n].ts_us = ts_us;
    s->v[s->n].value = value > INT32_MAX   ? INT32_MAX
                       : value < INT32_MIN ? INT32_MIN
                                           : (int32_t)value;
    s->n++;
    return 0;
}

/* The marks a reader holding every change up to `since`, and what its last
 * reply (number `have`, 0: none known) wrote, can be given the rest from:
 * the newest at or before `since` (*base) and the one that reply wrote
 * (*mine); -1 for none. */
static void marks_bases(const struct store_marks *ms, uint64_t since, uint64_t have, int *base,
                        int *mine)
{
    *base = *mine = -1;
    for (int i = 0; i < STORE_MARKS; i++) {
        const struct store_mark *k = &ms->m[i];
        if (!k->mod)
            continue;
        if (k->mod <= since && (*base < 0 || k->mod > ms->m[*base].mod))
            *base = i;
        if (have && k->reply == have)
            *mine = i;
    }
}

int store_conn_mark(struct store *st, struct store_conn *c, uint64_t since, uint64_t have,
                    uint64_t reply)
{
    if (c->npackets < STORE_MARK_MIN)
        return 0;
    if (!c->marks) {
        /* A connection that finished unmarked (all of a file's) changes no
         * more: no reader will need a tail of it. */
        if (c->finished)
            return 0;
        /* Counted, without making room: the reader holds the store and is
         * walking its connections; it is a few hundred bytes. */
        c->marks = calloc(1, sizeof(*c->marks));
        if (!c->marks) {
            st->stats.alloc_failures++;
            return -ENOMEM;
        }
        st->mem += sizeof(*c->marks);
        c->mem += sizeof(*c->marks);
    }
    struct store_marks *ms = c->marks;
    /* marked as it is already, nearly always by a write before this one,
     * so at or before the seq this reply gives: the reader finds it by
     * that. (Another reader's write while this one let the lock go can be
     * newer: then this reader gets c from an older mark, or whole.) */
    for (int i = 0; i < STORE_MARKS; i++)
        if (ms->m[i].mod == c->mod_seq)
            return 0;
    int keep, mine, slot = -1;
    marks_bases(ms, since, have, &keep, &mine);
    /* an empty slot, else the oldest; never the reader's base (keep) nor
     * the one its last reply wrote (mine): under eviction the server gives
     * up attempts one after another, and with the slots simply taken in
     * turn their marks pushed out the one the page's next fetch needed,
     * which then got connections whole */
    for (int i = 0; i < STORE_MARKS; i++) {
        if (i == keep || i == mine)
            continue;
        if (!ms->m[i].mod) {
            slot = i;
            break;
        }
        if (slot < 0 || ms->m[i].mod < ms->m[slot].mod)
            slot = i;
    }
    struct store_mark *k = &ms->m[slot];
    k->mod = c->mod_seq;
    k->reply = reply;
    k->packets = c->npackets;
    k->messages = c->msg_settled < c->nmessages ? c->msg_settled : c->nmessages;
    k->events = c->nevents; /* an event is whole once its packet is in */
    k->states = c->nstates ? c->nstates - 1 : 0;
    for (int i = 0; i < SERIES_COUNT; i++)
        k->series[i] = c->series[i].n;
    return 0;
}

const struct store_mark *store_conn_mark_find(const struct store_conn *c, uint64_t since,
                                              uint64_t have)
{
    int base, mine;
    if (!c->marks)
        return NULL;
    /* A reader given every change up to `since` holds at least what a mark
     * taken at mod <= since holds; and what its last reply wrote, which
     * may be newer (written after that reply let the capture in). The
     * newer of the two: a mark's positions only grow with its mod. */
    const struct store_mark *m = c->marks->m;
    marks_bases(c->marks, since, have, &base, &mine);
    if (mine >= 0 && (base < 0 || m[mine].mod > m[base].mod))
        return &m[mine];
    return base >= 0 ? &m[base] : NULL;
}

int store_conn_state(struct store *st, struct store_conn *c, uint8_t state, int64_t ts_us)
{
    if (st->opts.stream)
        return 0; /* JSONL writes no states */
    if (c->nstates) {
        struct store_span *last = &c->states[c->nstates - 1];
        if (last->state == state) {
            if (ts_us > last->end_us)
                last->end_us = ts_us;
            return 0;
        }
        last->end_us = ts_us;
    }
    if (grow(st, c, (void **)&c->states, c->nstates, &c->cap_states, sizeof(struct store_span),
             FIRST_STATES) < 0)
        return -ENOMEM;
    struct store_span *s = &c->states[c->nstates++];
    s->start_us = ts_us;
    s->end_us = ts_us;
    s->state = state;
    return 0;
}

void *store_alloc(struct store *st, struct store_conn *c, size_t n)
{
    size_t before = c->arena.reserved;
    /* Worst case a new chunk: check the budget against that. */
    if (reserve(st, c, n + 64) < 0)
        return NULL;
    void *p = arena_alloc(&c->arena, n);
    if (!p) {
        st->stats.alloc_failures++;
        return NULL;
    }
    account(st, c, c->arena.reserved - before);
    return p;
}

void *store_body_dup(struct store *st, struct store_conn *c, const void *p, size_t n)
{
    if (st->opts.max_memory && st->body_mem + n > st->opts.max_memory / 2) {
        st->stats.bodies_not_kept++;
        return NULL;
    }
    void *q = store_memdup(st, c, p, n);
    if (q) {
        st->body_mem += n;
        c->body_mem += n;
    }
    return q;
}

char *store_strndup(struct store *st, struct store_conn *c, const char *s, size_t n)
{
    char *d = store_alloc(st, c, n + 1);
    if (d) {
        if (n)
            memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void *store_memdup(struct store *st, struct store_conn *c, const void *p, size_t n)
{
    void *d = store_alloc(st, c, n);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

static uint32_t server_hash(const struct ip_addr *a, uint16_t port)
{
    uint32_t h = 2166136261u ^ a->family;
    for (int i = 0; i < 16; i++)
        h = (h ^ a->a[i]) * 16777619u;
    h = (h ^ port) * 16777619u;
    return h ^ (h >> 15);
}

static uint32_t server_addr_home(const struct store_server *s)
{
    return server_hash(&s->addr, s->port);
}

static uint32_t server_id_hash(uint32_t id)
{
    uint32_t h = id * 2654435761u; /* Knuth's multiplicative hash */
    return h ^ (h >> 16);
}

static uint32_t server_id_home(const struct store_server *s)
{
    return server_id_hash(s->id);
}

static void server_tab_put(struct store_server **tab, uint32_t mask, uint32_t h,
                           struct store_server *s)
{
    h &= mask;
    while (tab[h])
        h = (h + 1) & mask;
    tab[h] = s;
}

/* Empty slot i of a linear-probing table whose entries want to be at
 * home(entry): entries after the hole that would not be found past it move
 * back into it, until an empty slot. */
static void server_tab_remove(struct store_server **tab, uint32_t mask, uint32_t i,
                              uint32_t (*home)(const struct store_server *))
{
    for (uint32_t j = i;;) {
        tab[i] = NULL;
        for (;;) {
            j = (j + 1) & mask;
            if (!tab[j])
                return;
            uint32_t k = home(tab[j]) & mask; /* where it wants to be */
            if (i <= j ? (k <= i || k > j) : (k <= i && k > j))
                break;
        }
        tab[i] = tab[j];
        i = j;
    }
}

static int server_rehash(struct store *st)
{
    uint32_t size = st->server_hash_size ? st->server_hash_size * 2 : SERVER_BUCKETS;
    struct store_server **by_addr = calloc(size, sizeof(*by_addr));
    struct store_server **by_id = calloc(size, sizeof(*by_id));
    if (!by_addr || !by_id) {
        free(by_addr);
        free(by_id);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < st->server_hash_size; i++) {
        struct store_server *s = st->server_ids[i];
        if (!s)
            continue;
        server_tab_put(by_addr, size - 1, server_addr_home(s), s);
        server_tab_put(by_id, size - 1, server_id_home(s), s);
    }
    free(st->server_hash);
    free(st->server_ids);
    st->mem += (size_t)(size - st->server_hash_size) * 2 * sizeof(*by_addr);
    st->server_hash = by_addr;
    st->server_ids = by_id;
    st->server_hash_size = size;
    return 0;
}

/* Take s off the idle list (a connection is on it again, or it is freed). */
static void idle_unlink(struct store *st, struct store_server *s)
{
    DLIST_UNLINK(st->idle_head, st->idle_tail, s, idle_prev, idle_next);
    s->idle = 0;
    st->nidle--;
}

/* A connection on server id leaves the store (evicted, discarded, written
 * out). When it was the last one there, the server goes on the idle list,
 * and the oldest idle one past idle_max is freed, so a capture that meets
 * new servers for days (a proxy's, a crawler's) does not fill its budget
 * with servers nothing refers to. A freed server's id is not handed out
 * again, and nothing of it is kept. */
static void server_release(struct store *st, uint32_t id)
{
    struct store_server *s = store_server_by_id(st, id);
    if (!s || --s->held)
        return;
    s->idle = 1;
    DLIST_APPEND(st->idle_head, st->idle_tail, s, idle_prev, idle_next);
    if (++st->nidle > st->idle_max)
        server_free(st, st->idle_head);
}

/* Free idle server s: out of both tables. */
static void server_free(struct store *st, struct store_server *s)
{
    idle_unlink(st, s);
    uint32_t mask = st->server_hash_size - 1;
    uint32_t i = server_addr_home(s) & mask;
    while (st->server_hash[i] != s)
        i = (i + 1) & mask;
    server_tab_remove(st->server_hash, mask, i, server_addr_home);
    for (i = server_id_home(s) & mask; st->server_ids[i] != s;)
        i = (i + 1) & mask;
    server_tab_remove(st->server_ids, mask, i, server_id_home);
    st->nlive_servers--;
    st->mem -= sizeof(*s);
    free(s);
}

struct store_server *store_server_get(struct store *st, const struct ip_addr *addr, uint16_t port)
{
    if ((st->nlive_servers + 1) * 2 > st->server_hash_size && server_rehash(st) < 0)
        return NULL;
    uint32_t mask = st->server_hash_size - 1;
    uint32_t h = server_hash(addr, port) & mask;
    while (st->server_hash[h]) {
        struct store_server *s = st->server_hash[h];
        if (s->port == port && s->addr.family == addr->family &&
            memcmp(s->addr.a, addr->a, 16) == 0)
            return s;
        h = (h + 1) & mask;
    }
    if (st->nservers == UINT32_MAX)
        return NULL; /* ids are 32-bit: 4 billion servers met */
    struct store_server *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->id = ++st->nservers;
    s->addr = *addr;
    s->port = port;
    const struct store_dns *e = dnsx_find(st, addr);
    if (e)
        snprintf(s->dns_name, sizeof(s->dns_name), "%s", e->qname);
    st->server_hash[h] = s;
    server_tab_put(st->server_ids, mask, server_id_home(s), s);
    st->nlive_servers++;
    st->mem += sizeof(*s);
    return s;
}

struct store_server *store_server_by_id(struct store *st, uint32_t id)
{
    if (id == 0 || !st->server_hash_size)
        return NULL;
    uint32_t mask = st->server_hash_size - 1;
    for (uint32_t h = server_id_hash(id) & mask; st->server_ids[h]; h = (h + 1) & mask)
        if (st->server_ids[h]->id == id)
            return st->server_ids[h];
    return NULL;
}

uint32_t store_nservers(const struct store *st)
{
    return st->nservers;
}

static int server_cmp_id(const void *a, const void *b)
{
    uint32_t x = (*(struct store_server *const *)a)->id, y = (*(struct store_server *const *)b)->id;
    return x < y ? -1 : x > y;
}

uint32_t store_servers(struct store *st, struct store_server ***out)
{
    uint32_t n = 0;
    *out = malloc((st->nlive_servers ? st->nlive_servers : 1) * sizeof(**out));
    if (!*out)
        return 0;
    for (uint32_t i = 0; i < st->server_hash_size; i++)
        if (st->server_ids[i])
            (*out)[n++] = st->server_ids[i];
    qsort(*out, n, sizeof(**out), server_cmp_id);
    return n;
}

void store_server_name(struct store *st, struct store_conn *c, const char *host, size_t n)
{
    struct store_server *s = store_server_by_id(st, c->server);
    if (!s || s->name[0] || n == 0)
        return;
    /* Drop a :port suffix (but not inside an IPv6 literal's brackets). */
    size_t len = n;
    for (size_t i = n; i > 0; i--) {
        if (host[i - 1] == ']')
            break;
        if (host[i - 1] == ':') {
            len = i - 1;
            break;
        }
    }
    if (len >= sizeof(s->name))
        len = sizeof(s->name) - 1;
    memcpy(s->name, host, len);
    s->name[len] = '\0';
}

struct store_conn *store_first(struct store *st)
{
    return st->head;
}

int32_t store_conn_round_trips(struct store_conn *c, uint32_t first, uint32_t last, uint8_t dir)
{
    const struct store_packet *p = store_conn_pkt(c, first);
    const struct store_packet *q = store_conn_pkt(c, last);
    if (!p || !q || q < p) /* held, and in order (indices are modulo 2^32) */
        return -1;
    int32_t rounds = 0;
    int acked = 1;          /* the first data packet starts a round */
    uint32_t round_end = 0; /* relative seq after the round's first segment */
    for (; p <= q; p++) {
        if (p->dir != dir) {
            if (rounds && (p->flags & TCPF_ACK) && (int32_t)(p->ack - round_end) >= 0)
                acked = 1;
            continue;
        }
        if (p->len == 0 || !acked)
            continue;
        rounds++;
        acked = 0;
        round_end = p->seq + p->len;
    }
    return rounds ? rounds : 1;
}

int64_t store_conn_base_rtt(const struct store_conn *c)
{
    if (c->handshake_rtt_us >= 0)
        return c->handshake_rtt_us;
    /* Stall is the server's thinking time: TTFB less one round trip as
     * seen from the capture point, usually near the client. There a sample
     * timed on the client's segment (its data to the server's ACK) spans
     * the path and back, while one timed on the server's segment spans
     * only the client's own ACK delay (a few µs): taken as the RTT, that
     * would leave stall ≈ TTFB and the idle threshold at its floor. */
    return c->stats.rtt_min_us[DIR_C2S];
}

void store_raw_add(struct store *st, int64_t ts_ns, int linktype, const uint8_t *data,
                   uint32_t caplen, uint32_t wirelen)
{
    st->raw_cur = 0;
    if (!st->opts.keep_raw)
        return;
    size_t need = (sizeof(struct raw_hdr) + caplen + 7) & ~(size_t)7;
    struct raw_chunk *k = st->raw_tail;
    if (!k || k->used + need > k->size || k->n == k->cap) {
        /* 1 MiB, or a quarter of the raw share when that is smaller (a
         * budget under 16 MiB), so the share holds whole chunks. */
        size_t size = st->raw_limit / 4 < RAW_CHUNK ? st->raw_limit / 4 : RAW_CHUNK;
        if (size < need)
            size = need;
        /* Make room: drop the oldest chunks past the raw budget. */
        while (st->raw_head && st->raw_mem + size > st->raw_limit) {
            struct raw_chunk *old = st->raw_head;
            st->raw_head = old->next;
            if (!st->raw_head)
                st->raw_tail = NULL;
            size_t freed = sizeof(*old) + old->size + (size_t)old->cap * sizeof(uint32_t);
            st->raw_mem -= freed;
            st->mem -= freed;
            st->stats.raw_evicted += old->n;
            free(old->offs);
            free(old);
        }
        uint32_t cap = (uint32_t)(size / 64 + 1);
        k = malloc(sizeof(*k) + size);
        uint32_t *offs = k ? malloc((size_t)cap * sizeof(uint32_t)) : NULL;
        if (!k || !offs) {
            free(k);
            st->stats.alloc_failures++;
            st->raw_next++;
            return;
        }
        k->next = NULL;
        k->first = st->raw_next;
        k->n = 0;
        k->cap = cap;
        k->offs = offs;
        k->used = 0;
        k->size = size;
        if (st->raw_tail)
            st->raw_tail->next = k;
        else
            st->raw_head = k;
        st->raw_tail = k;
        size_t add = sizeof(*k) + size + (size_t)cap * sizeof(uint32_t);
        st->raw_mem += add;
        st->mem += add;
    }
    struct raw_hdr h = {.ts_ns = ts_ns, .linktype = linktype, .caplen = caplen, .wirelen = wirelen};
    memcpy(k->data + k->used, &h, sizeof(h));
    if (caplen)
        memcpy(k->data + k->used + sizeof(h), data, caplen);
    k->offs[k->n++] = (uint32_t)k->used;
    k->used += need;
    st->raw_cur = ++st->raw_next; /* number + 1 of the record just added */
}

static int raw_get(const struct raw_chunk *k, uint32_t i, struct store_raw *out)
{
    struct raw_hdr h;
    memcpy(&h, k->data + k->offs[i], sizeof(h));
    out->ts_ns = h.ts_ns;
    out->linktype = h.linktype;
    out->caplen = h.caplen;
    out->wirelen = h.wirelen;
    out->data = k->data + k->offs[i] + sizeof(h);
    return 0;
}

int store_packet_raw(struct store *st, struct store_conn *c, uint32_t idx, struct store_raw *out)
{
    uint32_t off = idx - (uint32_t)c->pkt_base; /* modulo 2^32, as store_conn_pkt */
    if (!c->raw || off >= c->npackets)
        return -ENOENT;
    uint32_t r32 = c->raw[off];
    if (!r32)
        return -ENOENT;
    /* Widen the low 32 bits of (number + 1) against the newest number. */
    uint64_t num = st->raw_next - (uint32_t)((uint32_t)st->raw_next - r32) - 1;
    for (struct raw_chunk *k = st->raw_head; k; k = k->next)
        if (num >= k->first && num < k->first + k->n)
            return raw_get(k, (uint32_t)(num - k->first), out);
    return -ENOENT;
}

int store_raw_foreach(struct store *st, int (*cb)(void *ctx, const struct store_raw *r), void *ctx)
{
    struct store_raw r;
    for (struct raw_chunk *k = st->raw_head; k; k = k->next)
        for (uint32_t i = 0; i < k->n; i++) {
            raw_get(k, i, &r);
            int ret = cb(ctx, &r);
            if (ret)
                return ret;
        }
    return 0;
}

/* ---- DNS ---- */

static struct store_dns *dns_at(struct store *st, uint32_t i)
{
    return &st->dns[(st->dns_head + i) % st->dns_cap];
}

static struct store_dns *dns_append(struct store *st)
{
    if (st->ndns == st->dns_cap) {
        if (st->dns_cap == STORE_DNS_MAX) {
            /* Full: the oldest goes. */
            st->dns_head = (st->dns_head + 1) % st->dns_cap;
            st->ndns--;
            st->stats.dns_evicted++;
        } else {
            uint32_t ncap = st->dns_cap ? st->dns_cap * 2 : 64;
            if (ncap > STORE_DNS_MAX)
                ncap = STORE_DNS_MAX;
            if (reserve(st, NULL, (size_t)(ncap - st->dns_cap) * sizeof(struct store_dns)) < 0)
                return NULL;
            struct store_dns *nd = malloc((size_t)ncap * sizeof(*nd));
            if (!nd) {
                st->stats.alloc_failures++;
                return NULL;
            }
            /* Unroll the ring into the new array. */
            for (uint32_t i = 0; i < st->ndns; i++)
                nd[i] = *dns_at(st, i);
            free(st->dns);
            st->mem += (size_t)(ncap - st->dns_cap) * sizeof(struct store_dns);
            st->dns = nd;
            st->dns_cap = ncap;
            st->dns_head = 0;
        }
    }
    struct store_dns *e = &st->dns[(st->dns_head + st->ndns++) % st->dns_cap];
    memset(e, 0, sizeof(*e));
    e->id = ++st->next_dns_id;
    e->query_us = e->answer_us = -1;
    return e;
}

static int same_addr(const struct ip_addr *a, const struct ip_addr *b)
{
    return a->family == b->family && memcmp(a->a, b->a, a->family == 6 ? 16 : 4) == 0;
}

/*
 * The lookups by answered address. A new server's DNS name is the newest
 * lookup whose answer holds its address; walking up to STORE_DNS_MAX
 * lookups for it took 250 µs a server with the ring full, 5 s for 20,000
 * new servers. Each address has one slot, holding the newest lookup with
 * it. A lookup that leaves the ring leaves its slots stale (only older
 * ones could hold the address, and they left before it): they are
 * skipped, and dropped when the table is rebuilt from the ring, which
 * happens once used slots pass half of it.
 */
static struct store_dns *dns_by_id(struct store *st, uint32_t id)
{
    if (!st->ndns)
        return NULL;
    uint32_t first = dns_at(st, 0)->id;
    return id - first < st->ndns ? dns_at(st, id - first) : NULL;
}

static int dns_holds(const struct store_dns *e, const struct ip_addr *addr)
{
    for (uint32_t k = 0; k < e->naddrs; k++)
        if (same_addr(&e->addrs[k], addr))
            return 1;
    return 0;
}

static const struct store_dns *dnsx_find(struct store *st, const struct ip_addr *addr)
{
    if (!st->dnsx_size)
        return NULL;
    uint32_t mask = st->dnsx_size - 1;
    for (uint32_t h = server_hash(addr, 0) & mask; st->dnsx[h]; h = (h + 1) & mask) {
        const struct store_dns *e = dns_by_id(st, st->dnsx[h]);
        if (e && dns_holds(e, addr))
            return e;
    }
    return NULL;
}

/* Lookup id answered addr: its slot (new, or the address's, if older). */
static void dnsx_put(struct store *st, const struct ip_addr *addr, uint32_t id)
{
    uint32_t mask = st->dnsx_size - 1, h = server_hash(addr, 0) & mask;
    for (; st->dnsx[h]; h = (h + 1) & mask) {
        const struct store_dns *e = dns_by_id(st, st->dnsx[h]);
        if (e && dns_holds(e, addr)) {
            if (st->dnsx[h] < id)
                st->dnsx[h] = id;
            return;
        }
    }
    st->dnsx[h] = id;
    st->dnsx_used++;
}

/* A table four times the addresses in the ring (at least 1,024 slots),
 * refilled from the ring, oldest lookup first. -ENOMEM leaves the old. */
static int dnsx_rebuild(struct store *st)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->ndns; i++)
        n += dns_at(st, i)->naddrs;
    uint32_t size = 1024;
    while (size < 4 * n + 4)
        size *= 2;
    uint32_t *tab = calloc(size, sizeof(*tab));
    if (!tab) {
        st->stats.alloc_failures++;
        return -ENOMEM;
    }
    st->mem = st->mem - (size_t)st->dnsx_size * sizeof(*tab) + (size_t)size * sizeof(*tab);
    free(st->dnsx);
    st->dnsx = tab;
    st->dnsx_size = size;
    st->dnsx_used = 0;
    for (uint32_t i = 0; i < st->ndns; i++) {
        const struct store_dns *e = dns_at(st, i);
        for (uint32_t k = 0; k < e->naddrs; k++)
            dnsx_put(st, &e->addrs[k], e->id);
    }
    return 0;
}

/* Lookup e was answered with its addresses. */
static void dnsx_add(struct store *st, const struct store_dns *e)
{
    if ((st->dnsx_used + e->naddrs + 1) * 2 > st->dnsx_size) {
        (void)dnsx_rebuild(st); /* e's addresses are in it then */
        return;
    }
    for (uint32_t k = 0; k < e->naddrs; k++)
        dnsx_put(st, &e->addrs[k], e->id);
}

/* Name the servers at the answered addresses that have no DNS name yet.
 * Walks the hash, whose size follows the servers allocated, not the ids,
 * which grow with every server ever met. */
static void dns_name_servers(struct store *st, const struct store_dns *e)
{
    for (uint32_t i = 0; i < st->server_hash_size; i++) {
        struct store_server *s = st->server_hash[i];
        if (!s || s->dns_name[0])
            continue;
        for (uint32_t k = 0; k < e->naddrs; k++)
            if (same_addr(&s->addr, &e->addrs[k])) {
                snprintf(s->dns_name, sizeof(s->dns_name), "%s", e->qname);
                break;
            }
    }
}

void store_dns_msg(struct store *st, const struct dns_msg *m, const struct ip_addr *src,
                   uint16_t sport, const struct ip_addr *dst, uint16_t dport, int64_t ts_us)
{
    struct store_dns *e = NULL;
    st->stats.dns_messages++;
    if (m->response) {
        /* The newest unanswered query it answers (looking back a bounded way). */
        uint32_t look = st->ndns < 1024 ? st->ndns : 1024;
        for (uint32_t i = 0; i < look; i++) {
            struct store_dns *q = dns_at(st, st->ndns - 1 - i);
            if (!q->answered && q->dns_id == m->id && q->client_port == dport &&
                same_addr(&q->client, dst) && strcmp(q->qname, m->qname) == 0) {
                e = q;
                break;
            }
        }
        if (!e) {
            e = dns_append(st);
            if (!e)
                return;
            e->client = *dst;
            e->client_port = dport;
            e->resolver = *src;
            e->dns_id = m->id;
            e->qtype = m->qtype;
            snprintf(e->qname, sizeof(e->qname), "%s", m->qname);
        }
        e->answered = 1;
        e->answer_us = ts_us;
        e->rcode = m->rcode;
        for (uint32_t i = 0; i < m->nanswers; i++) {
            const struct dns_answer *a = &m->answers[i];
            if (a->type == DNS_TYPE_CNAME) {
                snprintf(e->cname, sizeof(e->cname), "%s", a->cname);
            } else if ((a->type == DNS_TYPE_A || a->type == DNS_TYPE_AAAA) &&
                       e->naddrs < STORE_DNS_ADDRS) {
                struct ip_addr *x = &e->addrs[e->naddrs++];
                memset(x, 0, sizeof(*x));
                x->family = a->type == DNS_TYPE_A ? 4 : 6;
                memcpy(x->a, a->addr, a->type == DNS_TYPE_A ? 4 : 16);
            }
        }
        if (e->naddrs) {
            dnsx_add(st, e);
            dns_name_servers(st, e);
        }
        st->seq++;
        return;
    }
    e = dns_append(st);
    if (!e)
        return;
    e->query_us = ts_us;
    e->client = *src;
    e->client_port = sport;
    e->resolver = *dst;
    e->dns_id = m->id;
    e->qtype = m->qtype;
    snprintf(e->qname, sizeof(e->qname), "%s", m->qname);
    st->seq++;
}

uint32_t store_dns_count(const struct store *st)
{
    return st->ndns;
}

const struct store_dns *store_dns_at(const struct store *st, uint32_t i)
{
    return i < st->ndns ? &st->dns[(st->dns_head + i) % st->dns_cap] : NULL;
}

const char *store_server_display_name(const struct store_server *s)
{
    return s->name[0] ? s->name : s->dns_name;
}
