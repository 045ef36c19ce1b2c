/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - the model: ids, arrays, servers, budget and eviction,
 * stream mode.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "htracr/dns.h"
#include "htracr/store.h"
#include "testlib.h"

static struct ip_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct ip_addr x = {.family = 4};
    x.a[0] = a, x.a[1] = b, x.a[2] = c, x.a[3] = d;
    return x;
}

TEST(store_ids_and_servers)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2), sv2 = v4(10, 0, 0, 3);
    struct store_conn *a = store_conn_new(st, &cl, 1000, &sv, 80, 5);
    struct store_conn *b = store_conn_new(st, &cl, 1001, &sv, 80, 6);
    struct store_conn *c = store_conn_new(st, &cl, 1002, &sv2, 80, 7);
    CHECK(a && b && c);
    CHECK_INT(a->id, 1);
    CHECK_INT(c->id, 3);
    CHECK_INT(a->server, b->server);
    CHECK(a->server != c->server);
    CHECK_INT(store_nservers(st), 2);
    store_server_name(st, a, "example.com:8080", 16);
    store_server_name(st, b, "other.example", 13); /* first name wins */
    CHECK_STR(store_server_by_id(st, a->server)->name, "example.com");
    store_server_name(st, c, "[::1]", 5);
    CHECK_STR(store_server_by_id(st, c->server)->name, "[::1]");
    struct store_message *m1 = store_message_new(st, a, MSG_REQUEST);
    struct store_message *m2 = store_message_new(st, b, MSG_RESPONSE);
    struct store_message *m3 = store_message_new(st, a, MSG_RESPONSE);
    CHECK(m1 && m2 && m3);
    CHECK_INT(m2->id, m1->id + 1);
    CHECK(store_conn_message(a, m3->id) == m3);
    CHECK(store_conn_message(a, m2->id) == NULL);
    CHECK(m1->method == NULL && m1->url == NULL); /* a request's: not a response's -1 */
    CHECK_INT(m2->ttfb_us, -1);
    CHECK_INT(m2->stall_us, -1);
    CHECK_INT(store_stats(st)->requests, 1);
    CHECK_INT(store_stats(st)->responses, 2);
    CHECK(store_first(st) == a && store_next(a) == b && store_next(b) == c);
    store_conn_discard(st, b);
    CHECK(store_next(a) == c);
    CHECK_INT(store_stats(st)->responses, 1);
    CHECK_INT(store_stats(st)->connections, 2);
    store_free(st);
}

TEST(store_packets_grow_and_states_merge)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    struct store_conn *c = store_conn_new(st, &cl, 1000, &sv, 80, 0);
    for (int i = 0; i < 1000; i++) {
        struct store_packet p = {.ts_us = i, .seq = (uint32_t)i};
        CHECK_INT(store_conn_add_packet(st, c, &p), i);
    }
    CHECK_INT(c->npackets, 1000);
    CHECK_INT(c->packets[999].seq, 999);
    CHECK_INT(c->end_us, 999);
    CHECK_INT(store_conn_state(st, c, STATE_HANDSHAKE, 0), 0);
    CHECK_INT(store_conn_state(st, c, STATE_ACTIVE, 10), 0);
    CHECK_INT(store_conn_state(st, c, STATE_ACTIVE, 20), 0);
    CHECK_INT(store_conn_state(st, c, STATE_CLOSED, 30), 0);
    CHECK_INT(c->nstates, 3);
    CHECK_INT(c->states[1].start_us, 10);
    CHECK_INT(c->states[1].end_us, 30);
    CHECK(store_memory(st) >= 1000 * sizeof(struct store_packet));
    store_free(st);
}

/* A connection's series start in one shared block; one that outgrows its
 * part moves out with its points, and the others keep theirs. (Under ASan
 * the sanitize suite also sees every block freed once.) */
TEST(store_series_share_a_first_block)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    struct store_conn *c = store_conn_new(st, &cl, 1000, &sv, 80, 0);
    size_t before = store_memory(st);
    for (int i = 0; i < SERIES_COUNT; i++)
        CHECK_INT(store_conn_point(st, c, i, i, 100 + i), 0);
    CHECK(c->series_first != NULL);
    CHECK(c->series[3].v == c->series_first + 3 * STORE_SERIES_FIRST);
    CHECK_INT(store_memory(st) - before,
              SERIES_COUNT * STORE_SERIES_FIRST * sizeof(struct store_point));
    for (int k = 1; k < 3 * STORE_SERIES_FIRST; k++)
        CHECK_INT(store_conn_point(st, c, SERIES_FLIGHT_S2C, k, k), 0);
    const struct store_series *f = &c->series[SERIES_FLIGHT_S2C];
    CHECK_INT(f->n, 3 * STORE_SERIES_FIRST);
    CHECK(f->v < c->series_first || f->v >= c->series_first + SERIES_COUNT * STORE_SERIES_FIRST);
    CHECK_INT(f->v[0].value, 100 + SERIES_FLIGHT_S2C);
    for (int k = 1; k < 3 * STORE_SERIES_FIRST; k++)
        CHECK_INT(f->v[k].value, k);
    for (int i = 0; i < SERIES_COUNT; i++) {
        if (i == SERIES_FLIGHT_S2C)
            continue;
        CHECK_INT(c->series[i].n, 1);
        CHECK_INT(c->series[i].v[0].value, 100 + i);
    }
    store_free(st);
}

/* The model's records are as small as the comments say (what a keep-alive
 * exchange costs in fresh memory), and a point's value saturates instead of
 * wrapping: the timestamps keep 64 bits. */
TEST(store_records_compact_point_saturates)
{
    CHECK_INT(sizeof(struct store_packet), 32);
    CHECK_INT(sizeof(struct store_point), 12);
    CHECK_INT(sizeof(struct store_message), 152);
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    struct store_conn *c = store_conn_new(st, &cl, 1000, &sv, 80, 0);
    const int64_t t = INT64_C(1800000000000000);
    CHECK_INT(store_conn_point(st, c, SERIES_RTT_C2S, t, INT64_C(5000000000)), 0);
    CHECK_INT(store_conn_point(st, c, SERIES_RTT_C2S, t + 1, INT32_MAX), 0);
    CHECK_INT(store_conn_point(st, c, SERIES_RTT_C2S, t + 2, -INT64_C(5000000000)), 0);
    const struct store_series *s = &c->series[SERIES_RTT_C2S];
    CHECK_INT(s->n, 3);
    CHECK_INT(s->v[0].value, INT32_MAX);
    CHECK_INT(s->v[1].value, INT32_MAX);
    CHECK_INT(s->v[2].value, INT32_MIN);
    CHECK(s->v[0].ts_us == t && s->v[2].ts_us == t + 2);
    /* every packet flag and analysis bit survives the narrower fields */
    struct store_packet p = {.ts_us = t, .flags = 0x1ff, .dir = DIR_S2C, .analysis = PKT_RESET};
    p.analysis |= PKT_RETRANS;
    CHECK_INT(store_conn_add_packet(st, c, &p), 0);
    CHECK_INT(c->packets[0].flags, 0x1ff);
    CHECK_INT(c->packets[0].dir, DIR_S2C);
    CHECK_INT(c->packets[0].analysis, PKT_RESET | PKT_RETRANS);
    CHECK_INT(store_packet_msg(c, &c->packets[0]), 0);
    store_free(st);
}

/* 200 connections of 100 packets each, each finished before the next
 * begins. 0, or -1 when one could not be made whole. */
static int finished_conns(struct store *st)
{
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    for (int i = 0; i < 200; i++) {
        struct store_conn *c = store_conn_new(st, &cl, (uint16_t)(1000 + i), &sv, 80, i);
        if (!c)
            return -1;
        for (int k = 0; k < 100; k++) {
            struct store_packet p = {.ts_us = i};
            if (store_conn_add_packet(st, c, &p) < 0)
                return -1;
        }
        store_conn_finish(st, c);
    }
    return 0;
}

TEST(store_budget_evicts_finished_oldest_first)
{
    struct store *st = store_new(&(struct store_opts){.max_memory = 256 * 1024});
    uint32_t first_alive = 0;
    CHECK_INT(finished_conns(st), 0);
    CHECK(store_memory(st) <= 256 * 1024);
    CHECK(store_stats(st)->evicted_connections > 0);
    CHECK_INT(store_stats(st)->alloc_failures, 0);
    first_alive = store_first(st)->id;
    CHECK_INT(first_alive, store_stats(st)->evicted_connections + 1);
    store_free(st);
}

/* on_evict sees each connection the budget evicts, whole, just before it
 * goes (the summary prints it then): as many calls as evictions, in the
 * order they finished, each with its 100 packets still there. */
struct evict_seen {
    uint64_t ids[256];
    uint32_t n, whole;
};

static void note_evict(void *ctx, struct store *st, struct store_conn *c)
{
    struct evict_seen *e = ctx;
    (void)st;
    if (e->n < 256)
        e->ids[e->n] = c->id;
    e->n++;
    e->whole += c->npackets == 100 && c->finished;
}

TEST(store_on_evict_sees_each_evicted_connection_whole)
{
    struct evict_seen e = {0};
    struct store *st = store_new(
        &(struct store_opts){.max_memory = 256 * 1024, .on_evict = note_evict, .ctx = &e});
    CHECK_INT(finished_conns(st), 0);
    CHECK(e.n > 0);
    CHECK_INT(e.n, store_stats(st)->evicted_connections);
    CHECK_INT(e.whole, e.n);
    for (uint32_t i = 0; i < e.n && i < 256; i++)
        CHECK_INT(e.ids[i], i + 1);
    store_free(st);
}

/* Finished connections go in the order they finished, not the order they
 * began: one that began first and ended late is among the most recent.
 * (Eviction takes them from a list of their own, in that order; it used to
 * walk the whole store order to find them.) */
TEST(store_budget_evicts_those_finished_longest_ago_first)
{
    struct store *st = store_new(&(struct store_opts){.max_memory = 256 * 1024});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    uint32_t order[201];
    int nf = 0;
    struct store_conn *first = store_conn_new(st, &cl, 999, &sv, 80, 0);
    CHECK(first != NULL);
    uint32_t first_id = first->id;
    for (int k = 0; k < 100; k++) {
        struct store_packet p = {.ts_us = 0};
        CHECK(store_conn_add_packet(st, first, &p) >= 0);
    }
    for (int i = 0; i < 200; i++) {
        struct store_conn *c = store_conn_new(st, &cl, (uint16_t)(1000 + i), &sv, 80, i + 1);
        CHECK(c != NULL);
        for (int k = 0; k < 100; k++) {
            struct store_packet p = {.ts_us = i + 1};
            CHECK(store_conn_add_packet(st, c, &p) >= 0);
        }
        order[nf++] = c->id;
        store_conn_finish(st, c);
        if (i == 180) {
            order[nf++] = first_id;
            store_conn_finish(st, first); /* began first, ends 182nd */
        }
    }
    CHECK_INT(store_stats(st)->alloc_failures, 0);
    uint64_t evicted = store_stats(st)->evicted_connections;
    CHECK(evicted > 100 && evicted < 181); /* the first one's turn has not come */
    /* What is left is exactly the last ones to finish, in store order. */
    int kept = 0, found_first = 0;
    for (struct store_conn *c = store_first(st); c; c = store_next(c)) {
        int pos = -1;
        for (int j = 0; j < nf; j++)
            if (order[j] == c->id)
                pos = j;
        CHECK(pos >= (int)evicted);
        found_first |= c->id == first_id;
        kept++;
    }
    CHECK_INT(kept, nf - (int)evicted);
    CHECK(found_first);
    store_free(st);
}

TEST(store_budget_fails_when_nothing_to_evict)
{
    struct store *st = store_new(&(struct store_opts){.max_memory = 64 * 1024});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    struct store_conn *c = store_conn_new(st, &cl, 1000, &sv, 80, 0);
    int failed = 0;
    for (int k = 0; k < 10000; k++) {
        struct store_packet p = {.ts_us = k};
        if (store_conn_add_packet(st, c, &p) < 0)
            failed = 1;
    }
    CHECK(failed);
    CHECK(store_stats(st)->alloc_failures > 0);
    CHECK(store_memory(st) <= 64 * 1024);
    store_free(st);
}

/* store_set_evict_open: whom the store asks about, and in which order. */
struct evict_log {
    uint32_t asked[8], finished[8];
    int nasked, nfinished;
    uint32_t refuse; /* id the owner keeps */
};

static int log_evict(void *ctx, struct store_conn *c)
{
    struct evict_log *l = ctx;
    if (l->nasked < 8)
        l->asked[l->nasked++] = c->id;
    return c->id == l->refuse ? -1 : 0;
}

static void log_finish(void *ctx, struct store *st, struct store_conn *c)
{
    struct evict_log *l = ctx;
    (void)st;
    if (l->nfinished < 8)
        l->finished[l->nfinished++] = c->id;
}

/* Add packets to c until an allocation fails (at most 2000): 1 if one did. */
static int grows_until_it_fails(struct store *st, struct store_conn *c)
{
    for (int k = 0; k < 2000; k++) {
        struct store_packet p = {.ts_us = k};
        if (store_conn_add_packet(st, c, &p) < 0)
            return 1;
    }
    return 0;
}

/* Append n packets to c. */
static void add_packets(struct store *st, struct store_conn *c, int n)
{
    for (int k = 0; k < n; k++) {
        struct store_packet p = {.ts_us = k};
        store_conn_add_packet(st, c, &p);
    }
}

/* Four open connections of 64 packets each: the budget holds them and half
 * of what one of them growing to 128 packets adds, so that growth needs
 * another gone. */
static struct store *open_conns(struct evict_log *l, int stream, struct store_conn **c)
{
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    /* What the first connection costs besides itself (its server, the
     * server table), and what one costs with 64 packets and with 128. */
    struct store *probe = store_new(&(struct store_opts){0});
    struct store_conn *pc = store_conn_new(probe, &cl, 999, &sv, 80, 0);
    size_t servers = store_memory(probe) - sizeof(struct store_conn);
    add_packets(probe, pc, 64);
    size_t m64 = store_memory(probe) - servers;
    add_packets(probe, pc, 64);
    size_t m128 = store_memory(probe) - servers;
    store_free(probe);
    struct store *st = store_new(&(struct store_opts){
        .max_memory = servers + 4 * m64 + (m128 - m64) / 2,
        .stream = stream, .on_finish = log_finish, .ctx = l});
    store_set_evict_open(st, log_evict, l);
    for (int i = 0; i < 4; i++) {
        c[i] = store_conn_new(st, &cl, (uint16_t)(1000 + i), &sv, 80, i);
        for (int k = 0; k < 64; k++) {
            struct store_packet p = {.ts_us = k};
            store_conn_add_packet(st, c[i], &p);
        }
    }
    return st;
}

TEST(store_budget_evicts_open_oldest_first_when_nothing_finished)
{
    struct evict_log l = {.refuse = 2};
    struct store_conn *c[4];
    struct store *st = open_conns(&l, 0, c);
    CHECK_INT(l.nasked, 0); /* all fit */
    store_pin(st, c[0]);
    /* c[3] grows past the budget: not itself, not the pinned c[0], not c[1]
     * (its owner keeps it)... c[1] is asked first, then c[2]. */
    l.refuse = c[1]->id;
    uint32_t id2 = c[2]->id;
    for (int k = 0; k < 64; k++) {
        struct store_packet p = {.ts_us = k};
        CHECK(store_conn_add_packet(st, c[3], &p) >= 0);
    }
    CHECK(l.nasked >= 2);
    CHECK_INT(l.asked[0], c[1]->id);
    CHECK_INT(l.asked[1], id2);
    /* on_finish saw the evicted one before it went, and only that one */
    CHECK_INT(l.nfinished, 1);
    CHECK_INT(l.finished[0], id2);
    CHECK_INT(store_stats(st)->evicted_open, 1);
    CHECK_INT(store_stats(st)->evicted_connections, 1);
    CHECK(store_first(st) == c[0] && store_next(c[0]) == c[1] && store_next(c[1]) == c[3]);
    /* Nothing left to give: the allocation fails and is counted. */
    CHECK(grows_until_it_fails(st, c[3]));
    CHECK(store_stats(st)->alloc_failures > 0);
    CHECK_INT(store_stats(st)->evicted_open, 1);
    store_free(st);
}

/* Every live connection's server, looked up by address, is the one it
 * names; a server is held by exactly its connections here, or idle with
 * none; no more than STORE_IDLE_SERVERS are idle. 0 when that holds. */
static int servers_consistent(struct store *st)
{
    uint32_t idle = 0;
    for (uint32_t id = 1; id <= store_nservers(st); id++) {
        const struct store_server *s = store_server_by_id(st, id);
        uint32_t n = 0;
        for (struct store_conn *c = store_first(st); c; c = store_next(c))
            n += c->server == id;
        if (s && (s->held != n || s->idle != (n == 0)))
            return -1;
        if (!s && n)
            return -2;
        idle += s && s->idle;
    }
    for (struct store_conn *c = store_first(st); c; c = store_next(c)) {
        struct store_server *s = store_server_get(st, &c->server_addr, c->server_port);
        if (!s || s->id != c->server)
            return -3;
    }
    return idle <= STORE_IDLE_SERVERS ? 0 : -4;
}

/* A server no connection is on any more stays idle, found again with its
 * id, until STORE_IDLE_SERVERS newer ones are; then it is freed, and the
 * server table's probe chains survive the removals: connections on 4,000
 * servers (so the table grows and chains form) come and go in random
 * order. */
TEST(store_server_goes_some_time_after_its_last_connection)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr cl = v4(10, 0, 0, 1), sv0 = v4(10, 2, 0, 1);
    size_t empty = store_memory(st);
    struct store_conn *c0 = store_conn_new(st, &cl, 1000, &sv0, 80, 0);
    uint32_t id0 = c0->server;
    store_conn_discard(st, c0);
    CHECK(store_server_by_id(st, id0) != NULL);
    CHECK_INT(store_server_by_id(st, id0)->idle, 1);
    c0 = store_conn_new(st, &cl, 1001, &sv0, 80, 0);
    CHECK_INT(c0->server, id0); /* met again: the same server */
    CHECK_INT(store_server_by_id(st, id0)->idle, 0);
    store_conn_discard(st, c0);

    static struct store_conn *live[3000];
    int n = 0, fails = 0;
    uint32_t seed = 12345;
    for (int step = 0; step < 20000; step++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t r = seed >> 8;
        if (n < 3000 && (n == 0 || r % 3 != 0)) {
            uint32_t srv = r % 4000;
            struct ip_addr sv = v4(10, 1, (uint8_t)(srv >> 8), (uint8_t)srv);
            live[n] = store_conn_new(st, &cl, (uint16_t)(1024 + step % 60000), &sv,
                                     (uint16_t)(80 + (srv & 1)), step);
            CHECK(live[n] != NULL);
            n++;
        } else {
            int k = (int)(r % (uint32_t)n);
            uint32_t id = live[k]->server;
            uint32_t before = store_server_by_id(st, id)->held;
            store_conn_discard(st, live[k]);
            live[k] = live[--n];
            const struct store_server *s = store_server_by_id(st, id);
            CHECK(s != NULL); /* the newest idle one is never the one freed */
            CHECK_INT(s->held, before - 1);
        }
        if (step % 97 == 0 && servers_consistent(st) != 0)
            fails++;
    }
    CHECK_INT(fails, 0);
    CHECK_INT(servers_consistent(st), 0);
    /* All gone: at most STORE_IDLE_SERVERS are left, idle; the others were
     * freed, and their ids are not handed out again. */
    while (n > 0)
        store_conn_discard(st, live[--n]);
    uint32_t left = 0;
    for (uint32_t id = 1; id <= store_nservers(st); id++)
        if (store_server_by_id(st, id)) {
            CHECK_INT(store_server_by_id(st, id)->idle, 1);
            left++;
        }
    CHECK_INT(left, STORE_IDLE_SERVERS);
    CHECK(store_nservers(st) > 4000);
    /* ... and the server tables: sized by the servers allocated, nothing
     * kept for an id handed out */
    CHECK(store_memory(st) - empty <
          STORE_IDLE_SERVERS * sizeof(struct store_server) + 256 * 1024);
    struct store_server **v = NULL;
    CHECK_INT(store_servers(st, &v), STORE_IDLE_SERVERS);
    for (uint32_t i = 1; i < STORE_IDLE_SERVERS; i++)
        CHECK(v[i - 1]->id < v[i]->id);
    free(v);
    store_free(st);
}

/* A capture that meets new servers for days (a proxy's, a crawler's): the
 * memory the servers take stays the same however many ids were handed
 * out. 200,000 servers, each met by one connection that then goes. */
TEST(store_servers_bounded_by_those_allocated)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr cl = v4(10, 0, 0, 1);
    size_t at[2] = {0, 0};
    for (uint32_t i = 0; i < 200000; i++) {
        struct ip_addr sv = v4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i);
        struct store_conn *c = store_conn_new(st, &cl, 1000, &sv, 80, i);
        CHECK(c != NULL);
        CHECK_INT(c->server, i + 1);
        store_conn_discard(st, c);
        if (i == 9999)
            at[0] = store_memory(st);
    }
    at[1] = store_memory(st);
    CHECK_INT(at[1], at[0]);
    CHECK_INT(store_nservers(st), 200000);
    CHECK(store_server_by_id(st, 1) == NULL);          /* long freed */
    CHECK(store_server_by_id(st, 200000) != NULL);     /* the newest, idle */
    CHECK(store_server_by_id(st, 200001) == NULL);     /* not handed out */
    CHECK_INT(servers_consistent(st), 0);
    store_free(st);
}

/* Under a budget, idle servers are the first thing given back. */
TEST(store_budget_frees_idle_servers_first)
{
    struct store *st = store_new(&(struct store_opts){.max_memory = 1 << 20});
    struct ip_addr cl = v4(10, 0, 0, 1);
    uint32_t idle_max = 0;
    for (int i = 0; i < 200; i++) {
        struct ip_addr sv = v4(10, 1, 0, (uint8_t)i);
        store_conn_discard(st, store_conn_new(st, &cl, 1000, &sv, 80, i));
    }
    for (uint32_t id = 1; id <= store_nservers(st); id++)
        idle_max += store_server_by_id(st, id) != NULL;
    /* a sixteenth of the budget */
    CHECK_INT(idle_max, (1 << 20) / 16 / sizeof(struct store_server));
    struct ip_addr sv = v4(10, 9, 9, 9);
    struct store_conn *c = store_conn_new(st, &cl, 2000, &sv, 80, 0);
    /* more than is left: only room the idle servers give back makes it fit */
    CHECK(store_alloc(st, c, (1 << 20) - store_memory(st) + 20 * sizeof(struct store_server)) !=
          NULL);
    uint32_t still = 0;
    for (uint32_t id = 1; id < c->server; id++)
        still += store_server_by_id(st, id) != NULL;
    CHECK(still < idle_max);
    CHECK(store_memory(st) <= 1 << 20);
    CHECK_INT(store_stats(st)->alloc_failures, 0);
    CHECK_INT(store_stats(st)->evicted_connections, 0);
    store_free(st);
}

/* A flow table replacing another (pipeline_clear) registers before the old
 * one is freed: freeing the old one must leave the new registration. */
TEST(store_unset_evict_open_only_forgets_its_own)
{
    struct evict_log l = {0}, other = {0};
    struct store_conn *c[4];
    struct store *st = open_conns(&l, 0, c);
    store_unset_evict_open(st, &other);
    for (int k = 0; k < 64; k++) {
        struct store_packet p = {.ts_us = k};
        CHECK(store_conn_add_packet(st, c[3], &p) >= 0);
    }
    CHECK_INT(store_stats(st)->evicted_open, 1);
    CHECK_INT(l.nasked, 1);
    store_unset_evict_open(st, &l);
    CHECK(grows_until_it_fails(st, c[3]));
    CHECK_INT(l.nasked, 1);
    store_free(st);
}

/* Stream mode too: what its open connections hold is mostly their parsers'
 * state (counted against the budget), and the oldest are usually idle. The
 * one evicted is written out (on_finish) before it goes. */
TEST(store_stream_mode_evicts_open_too)
{
    struct evict_log l = {0};
    struct store_conn *c[4];
    struct store *st = open_conns(&l, 1, c);
    uint32_t id0 = c[0]->id;
    for (int k = 0; k < 64; k++) {
        struct store_packet p = {.ts_us = k};
        CHECK(store_conn_add_packet(st, c[3], &p) >= 0);
    }
    CHECK_INT(l.nasked, 1);
    CHECK_INT(l.asked[0], id0);
    CHECK_INT(l.nfinished, 1);
    CHECK_INT(l.finished[0], id0);
    CHECK_INT(store_stats(st)->evicted_open, 1);
    CHECK(store_first(st) == c[1]);
    CHECK(store_memory(st) <= store_get_opts(st)->max_memory);
    store_free(st);
}

static int finished_count;
static void count_finish(void *ctx, struct store *st, struct store_conn *c)
{
    (void)st;
    finished_count++;
    *(uint32_t *)ctx = c->id;
}

TEST(store_stream_mode_frees_after_callback)
{
    uint32_t last = 0;
    finished_count = 0;
    struct store *st =
        store_new(&(struct store_opts){.stream = 1, .on_finish = count_finish, .ctx = &last});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    for (int i = 0; i < 10; i++) {
        struct store_conn *c = store_conn_new(st, &cl, (uint16_t)(1000 + i), &sv, 80, i);
        store_strndup(st, c, "hello", 5);
        store_conn_finish(st, c);
    }
    CHECK_INT(finished_count, 10);
    CHECK_INT(last, 10);
    CHECK(store_first(st) == NULL);
    CHECK_INT(store_stats(st)->connections, 10);
    store_free(st);
}

/* Streaming keeps the RTT samples of both directions (JSONL's per-line
 * RTT reads them) and no other series. */
TEST(store_stream_mode_keeps_both_rtt_series)
{
    struct store *st = store_new(&(struct store_opts){.stream = 1});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    struct store_conn *c = store_conn_new(st, &cl, 1000, &sv, 80, 5);
    CHECK(c != NULL);
    CHECK_INT(store_conn_point(st, c, SERIES_RTT_C2S, 10, 5000), 0);
    CHECK_INT(store_conn_point(st, c, SERIES_RTT_S2C, 11, 20), 0);
    CHECK_INT(store_conn_point(st, c, SERIES_FLIGHT_C2S, 12, 1000), 0);
    CHECK_INT(c->series[SERIES_RTT_C2S].n, 1);
    CHECK_INT(c->series[SERIES_RTT_S2C].n, 1);
    CHECK_INT(c->series[SERIES_FLIGHT_C2S].n, 0);
    store_free(st);
}

/* The base RTT: the handshake's, else the smallest sample timed on the
 * client's segments; those timed on the server's (the client's ACK delay,
 * seen near the client) never count. */
TEST(store_base_rtt_ignores_server_timed_samples)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    struct store_conn *c = store_conn_new(st, &cl, 1000, &sv, 80, 5);
    CHECK(c != NULL);
    CHECK_INT(store_conn_base_rtt(c), -1);
    c->stats.rtt_min_us[DIR_S2C] = 20;
    CHECK_INT(store_conn_base_rtt(c), -1);
    c->stats.rtt_min_us[DIR_C2S] = 5000;
    CHECK_INT(store_conn_base_rtt(c), 5000);
    c->handshake_rtt_us = 7000;
    CHECK_INT(store_conn_base_rtt(c), 7000);
    store_free(st);
}

struct raw_walk {
    int n;
    int64_t last;
    int ordered;
};

static int raw_walk_cb(void *ctx, const struct store_raw *x)
{
    struct raw_walk *f = ctx;
    if (x->ts_ns <= f->last)
        f->ordered = 0;
    f->last = x->ts_ns;
    f->n++;
    return 0;
}

TEST(store_raw_links_packets_and_evicts_oldest)
{
    /* 4 MiB budget: raw bytes get 1 MiB, in chunks of 256 KiB. */
    struct store *st = store_new(&(struct store_opts){.max_memory = 4u << 20, .keep_raw = 1});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    struct store_conn *c = store_conn_new(st, &cl, 1000, &sv, 80, 5);
    uint8_t buf[1500];
    struct store_raw r;
    CHECK(c);
    for (uint32_t i = 0; i < 2000; i++) {
        memset(buf, (int)(i & 0xff), sizeof(buf));
        store_raw_add(st, 1000 + i, 1, buf, 1000 + (i % 500), 1500);
        struct store_packet p = {.ts_us = i};
        CHECK_INT(store_conn_add_packet(st, c, &p), i);
    }
    /* The newest record is kept, byte for byte. */
    CHECK_INT(store_packet_raw(st, c, 1999, &r), 0);
    CHECK_INT(r.ts_ns, 1000 + 1999);
    CHECK_INT(r.caplen, 1000 + 1999 % 500);
    CHECK_INT(r.wirelen, 1500);
    CHECK_INT(r.data[0], 1999 & 0xff);
    CHECK_INT(r.data[r.caplen - 1], 1999 & 0xff);
    /* 2000 records of ~1.3 KB do not fit in 1 MiB: the first ones are gone,
     * and counted. */
    CHECK_INT(store_packet_raw(st, c, 0, &r), -ENOENT);
    CHECK(store_stats(st)->raw_evicted > 0);
    CHECK_INT(store_packet_raw(st, c, 2000, &r), -ENOENT);
    struct raw_walk fc = {.last = -1, .ordered = 1};
    CHECK_INT(store_raw_foreach(st, raw_walk_cb, &fc), 0);
    CHECK(fc.ordered);
    CHECK_INT((uint64_t)fc.n + store_stats(st)->raw_evicted, 2000);
    store_clear(st);
    CHECK(store_first(st) == NULL);
    CHECK_INT(store_memory(st), 0);
    store_free(st);
}

TEST(store_seq_and_generation)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    uint64_t g = store_generation(st), s0 = store_seq(st);
    struct store_conn *a = store_conn_new(st, &cl, 1000, &sv, 80, 5);
    struct store_conn *b = store_conn_new(st, &cl, 1001, &sv, 80, 5);
    CHECK(a->mod_seq > s0 && b->mod_seq > a->mod_seq);
    uint64_t s1 = store_seq(st);
    struct store_packet p = {.ts_us = 9};
    store_conn_add_packet(st, a, &p);
    CHECK(a->mod_seq > s1 && b->mod_seq <= s1);
    store_clear(st);
    CHECK(store_generation(st) != g);
    store_free(st);
}

TEST(store_dns_pairs_and_names_servers)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr cl = v4(10, 0, 0, 1), res = v4(10, 0, 0, 53), web = v4(192, 0, 2, 7);
    struct store_server *early = store_server_get(st, &web, 80);
    struct dns_msg q = {.id = 77, .qtype = DNS_TYPE_A};
    snprintf(q.qname, sizeof(q.qname), "www.example.com");
    store_dns_msg(st, &q, &cl, 40000, &res, 53, 1000);
    /* another client's query with the same id: not the one answered */
    struct ip_addr cl2 = v4(10, 0, 0, 2);
    store_dns_msg(st, &q, &cl2, 40000, &res, 53, 1001);
    struct dns_msg a = q;
    a.response = 1;
    a.nanswers = 2;
    a.answers[0].type = DNS_TYPE_CNAME;
    snprintf(a.answers[0].cname, sizeof(a.answers[0].cname), "edge.example.net");
    a.answers[1].type = DNS_TYPE_A;
    memcpy(a.answers[1].addr, web.a, 4);
    store_dns_msg(st, &a, &res, 53, &cl, 40000, 1500);
    uint32_t n = store_dns_count(st);
    CHECK_INT(n, 2);
    CHECK_INT(store_dns_at(st, 0)->query_us, 1000);
    CHECK_INT(store_dns_at(st, 0)->answer_us, 1500);
    CHECK_INT(store_dns_at(st, 0)->naddrs, 1);
    CHECK_STR(store_dns_at(st, 0)->cname, "edge.example.net");
    CHECK_INT(store_dns_at(st, 1)->answered, 0);
    /* a server seen before the answer, and one after, both get the name */
    CHECK_STR(store_server_display_name(early), "www.example.com");
    struct store_server *later = store_server_get(st, &web, 443);
    CHECK_STR(later->dns_name, "www.example.com");
    /* a Host header wins over DNS for display */
    struct store_conn *c = store_conn_new(st, &cl, 40001, &web, 80, 2000);
    store_server_name(st, c, "example.com", 11);
    CHECK_STR(store_server_display_name(early), "example.com");
    /* an answer with no query seen is a lookup of its own */
    a.id = 78;
    store_dns_msg(st, &a, &res, 53, &cl, 40002, 3000);
    n = store_dns_count(st);
    CHECK_INT(n, 3);
    CHECK_INT(store_dns_at(st, 2)->query_us, -1);
    store_free(st);
}

/* A DNS answer of address addr, named name, with no query seen. */
static void dns_answer(struct store *st, uint16_t id, const char *name, struct ip_addr addr)
{
    struct ip_addr cl = v4(10, 0, 0, 1), res = v4(10, 0, 0, 53);
    struct dns_msg a = {.id = id, .qtype = DNS_TYPE_A, .response = 1, .nanswers = 1};
    snprintf(a.qname, sizeof(a.qname), "%s", name);
    a.answers[0].type = DNS_TYPE_A;
    memcpy(a.answers[0].addr, addr.a, 4);
    store_dns_msg(st, &a, &res, 53, &cl, 5000, id);
}

/* A new server is named by the newest lookup, still in the ring, whose
 * answer holds its address (found through the index by address, which the
 * ring's turnover and rebuilds must not break). */
TEST(store_dns_names_new_servers_from_the_newest_lookup_kept)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr rep = v4(10, 4, 0, 1);
    char name[64];
    const uint32_t n = STORE_DNS_MAX + 5000;
    for (uint32_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "h%u.example", i);
        dns_answer(st, (uint16_t)i, name, v4(10, 3, (uint8_t)(i >> 8), (uint8_t)i));
        if (i % 1000 == 0 && i < n - 2000) {
            snprintf(name, sizeof(name), "r%u.example", i);
            dns_answer(st, (uint16_t)i, name, rep);
        }
    }
    /* 5,000 + the repeated address's answers left the ring: the addresses
     * only they named have no name now; the others have theirs. Addresses
     * repeat every 65,536 lookups, so i and i + 65,536 would collide: n is
     * below that. */
    int wrong = 0;
    for (uint32_t i = 0; i < n; i += 7) {
        struct ip_addr a = v4(10, 3, (uint8_t)(i >> 8), (uint8_t)i);
        struct store_server *s = store_server_get(st, &a, 80);
        snprintf(name, sizeof(name), "h%u.example", i);
        const char *want = NULL;
        for (uint32_t k = 0; k < store_dns_count(st); k++) {
            const struct store_dns *e = store_dns_at(st, k);
            if (e->naddrs && !memcmp(e->addrs[0].a, a.a, 4))
                want = e->qname;
        }
        if (strcmp(s->dns_name, want ? want : ""))
            wrong++;
    }
    CHECK_INT(wrong, 0);
    CHECK(store_stats(st)->dns_evicted > 5000);
    /* the oldest address has no lookup left, a recent one has */
    struct ip_addr old = v4(10, 3, 0, 3), recent = v4(10, 3, (uint8_t)((n - 3) >> 8),
                                                      (uint8_t)(n - 3));
    CHECK_STR(store_server_get(st, &old, 443)->dns_name, "");
    snprintf(name, sizeof(name), "h%u.example", n - 3);
    CHECK_STR(store_server_get(st, &recent, 443)->dns_name, name);
    /* the repeated address: its newest answer */
    uint32_t last = 0;
    for (uint32_t i = 0; i < n - 2000; i += 1000)
        last = i;
    snprintf(name, sizeof(name), "r%u.example", last);
    CHECK_STR(store_server_get(st, &rep, 80)->dns_name, name);
    store_free(st);
}

TEST(store_dns_ring_is_bounded)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr cl = v4(10, 0, 0, 1), res = v4(10, 0, 0, 53);
    struct dns_msg q = {.qtype = DNS_TYPE_A};
    for (uint32_t i = 0; i < STORE_DNS_MAX + 10; i++) {
        q.id = (uint16_t)i;
        snprintf(q.qname, sizeof(q.qname), "n%u.example", i);
        store_dns_msg(st, &q, &cl, 40000, &res, 53, i);
    }
    uint32_t n = store_dns_count(st);
    CHECK_INT(n, STORE_DNS_MAX);
    CHECK_INT(store_stats(st)->dns_evicted, 10);
    CHECK_INT(store_dns_at(st, 0)->query_us, 10);
    CHECK_INT(store_dns_at(st, n - 1)->query_us, STORE_DNS_MAX + 9);
    store_free(st);
}

TEST(store_bodies_take_at_most_half_the_budget)
{
    struct store *st = store_new(&(struct store_opts){.max_memory = 4u << 20});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    struct store_conn *c = store_conn_new(st, &cl, 1000, &sv, 80, 5);
    static uint8_t body[700 * 1024];
    CHECK(store_body_dup(st, c, body, sizeof(body)) != NULL);
    CHECK(store_body_dup(st, c, body, sizeof(body)) != NULL);
    /* 2.1 MB of bodies would pass half of 4 MiB */
    CHECK(store_body_dup(st, c, body, sizeof(body)) == NULL);
    CHECK_INT(store_stats(st)->bodies_not_kept, 1);
    CHECK_INT(store_stats(st)->alloc_failures, 0);
    /* other data still fits */
    CHECK(store_alloc(st, c, 1u << 20) != NULL);
    store_free(st);
}

TEST(store_raw_share_holds_at_the_smallest_budget)
{
    /* --max-memory's floor, 1 MiB: raw records get 256 KiB, so chunks are
     * a quarter of that (1 MiB chunks once kept 1.06 MiB here). */
    struct store *st = store_new(&(struct store_opts){.max_memory = 1u << 20, .keep_raw = 1});
    static uint8_t pkt[1500];
    size_t most = 0;
    for (int i = 0; i < 5000; i++) {
        store_raw_add(st, i, 1, pkt, (uint32_t)(60 + i % 1440), 1500);
        if (store_memory(st) > most)
            most = store_memory(st);
    }
    CHECK(store_stats(st)->raw_evicted > 4000);
    CHECK(most <= (1u << 20) / 4);
    CHECK(most > (1u << 20) / 8);
    store_free(st);
}

TEST(store_raw_bytes_do_not_count_against_the_model)
{
    /* 8 MiB: 2 MiB for raw records, 6 MiB for the model. Filling the raw
     * share must not make model allocations fail. */
    struct store *st = store_new(&(struct store_opts){.max_memory = 8u << 20, .keep_raw = 1});
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    struct store_conn *c = store_conn_new(st, &cl, 1000, &sv, 80, 5);
    static uint8_t pkt[1500];
    for (int i = 0; i < 5000; i++)
        store_raw_add(st, i, 1, pkt, sizeof(pkt), sizeof(pkt));
    CHECK(store_stats(st)->raw_evicted > 0);
    for (int i = 0; i < 5; i++)
        CHECK(store_alloc(st, c, 1u << 20) != NULL);
    CHECK_INT(store_stats(st)->alloc_failures, 0);
    store_free(st);
}

/* store_lock_yield: a thread waiting for the lock gets it before the
 * reader takes it back; with nobody waiting, nothing happens. */
struct lock_waiter {
    struct store *st;
    atomic_int done;
};

static void *take_lock(void *arg)
{
    struct lock_waiter *lw = arg;
    store_lock(lw->st);
    atomic_store(&lw->done, 1);
    store_unlock(lw->st);
    return NULL;
}

TEST(store_lock_yield_lets_a_waiter_in)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct lock_waiter lw = {.st = st};
    pthread_t t;
    int yielded = 0;

    CHECK(st);
    store_lock(st);
    CHECK_INT(store_lock_yield(st), 0); /* nobody waits */
    CHECK(pthread_create(&t, NULL, take_lock, &lw) == 0);
    /* Yield until the waiter has been through (5 s at most). One yield
     * waits a bounded time for it, so on a busy machine the waiter may
     * still be asleep in store_lock() when the reader takes the lock back:
     * then it is still counted as waiting, and the next yield lets it in.
     * A yield that never let go of the lock would fail here. */
    for (int i = 0; i < 5000 && !atomic_load(&lw.done); i++) {
        if (store_lock_yield(st))
            yielded++;
        else
            usleep(1000);
    }
    CHECK(yielded >= 1);
    /* back with the lock: the waiter has been through */
    CHECK_INT(atomic_load(&lw.done), 1);
    store_unlock(st);
    pthread_join(t, NULL);
    store_free(st);
}

/* Marks: none for a small connection or one that finished unmarked; a
 * reader holding every change up to `since` is given the newest mark at or
 * before it; a packet changed later lowers the marks that had it; the
 * messages from the first not settled are left out of a mark. */
/* A connection 10.0.0.1:cport -> 10.0.0.2:80 of st, with id. */
static struct store_conn *mark_conn(struct store *st, uint16_t cport, uint64_t id)
{
    struct ip_addr cl = v4(10, 0, 0, 1), sv = v4(10, 0, 0, 2);
    return store_conn_new(st, &cl, cport, &sv, 80, id);
}

TEST(store_marks_give_the_newest_a_reader_holds)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct store_conn *c = mark_conn(st, 1000, 5);
    struct store_packet p = {.ts_us = 1};
    CHECK(c != NULL);
    for (int i = 0; i < STORE_MARK_MIN - 1; i++)
        CHECK(store_conn_add_packet(st, c, &p) >= 0);
    CHECK_INT(store_conn_mark(st, c, 0, 0, 0), 0);
    CHECK(c->marks == NULL); /* too small: sent whole */
    CHECK(store_conn_add_packet(st, c, &p) >= 0);
    for (int i = 0; i < 3; i++)
        CHECK(store_message_new(st, c, i % 2 ? MSG_RESPONSE : MSG_REQUEST) != NULL);
    c->msg_settled = 2;
    size_t mem = store_memory(st);
    CHECK_INT(store_conn_mark(st, c, 0, 0, 0), 0);
    CHECK(c->marks != NULL);
    CHECK(store_memory(st) > mem); /* counted */
    uint64_t m1 = c->mod_seq;
    CHECK(store_conn_mark_find(c, m1 - 1, 0) == NULL);
    const struct store_mark *k = store_conn_mark_find(c, m1, 0);
    CHECK(k != NULL);
    CHECK_INT(k->packets, STORE_MARK_MIN);
    CHECK_INT(k->messages, 2);
    CHECK(store_conn_add_packet(st, c, &p) >= 0);
    CHECK(store_conn_add_packet(st, c, &p) >= 0);
    CHECK_INT(store_conn_mark(st, c, 0, 0, 0), 0);
    CHECK(store_conn_mark_find(c, m1, 0) == k);
    k = store_conn_mark_find(c, c->mod_seq + 5, 0);
    CHECK_INT(k->packets, STORE_MARK_MIN + 2);
    store_conn_pkt_changed(c, 3);
    CHECK_INT(store_conn_mark_find(c, m1, 0)->packets, 3);
    CHECK_INT(store_conn_mark_find(c, c->mod_seq, 0)->packets, 3);
    /* the oldest of more than STORE_MARKS goes */
    for (int i = 0; i < STORE_MARKS; i++) {
        CHECK(store_conn_add_packet(st, c, &p) >= 0);
        CHECK_INT(store_conn_mark(st, c, 0, 0, 0), 0);
    }
    CHECK(store_conn_mark_find(c, m1, 0) == NULL);

    struct store_conn *d = mark_conn(st, 1001, 6);
    for (int i = 0; i < STORE_MARK_MIN; i++)
        CHECK(store_conn_add_packet(st, d, &p) >= 0);
    store_conn_finish(st, d);
    CHECK_INT(store_conn_mark(st, d, 0, 0, 0), 0);
    CHECK(d->marks == NULL); /* finished unmarked: changes no more */
    store_free(st);
}

/* A new store's connection of STORE_MARK_MIN packets, marked as written
 * whole by reply `reply` (a reader's first fetch); NULL when it failed. */
static struct store_conn *first_marked(struct store **st, uint64_t reply)
{
    *st = store_new(&(struct store_opts){0});
    struct store_conn *c = *st ? mark_conn(*st, 1000, 5) : NULL;
    if (!c)
        return NULL;
    add_packets(*st, c, STORE_MARK_MIN);
    if (c->npackets != STORE_MARK_MIN || store_conn_mark(*st, c, 0, 0, reply) != 0)
        return NULL;
    return c;
}

/* A reader whose copy holds the changes up to `since` keeps the mark its
 * next fetch needs however many writes for it are thrown away meanwhile
 * (the server gives up an attempt with -EAGAIN when eviction takes the
 * connection it paused at, and marks were made on the way): each new mark
 * takes the oldest slot but that one. With the slots taken in turn, four
 * given-up attempts left the reader no mark, and a big connection came
 * whole on every update (bench: 26-32 MB updates at a 64M budget). */
TEST(store_marks_keep_the_readers_base)
{
    struct store *st;
    struct store_conn *c = first_marked(&st, 0);
    CHECK(c != NULL);
    if (!c)
        return;
    uint64_t base = c->mod_seq;
    /* attempts for the next fetch (since = base), each given up */
    for (int i = 0; i < 3 * STORE_MARKS; i++) {
        add_packets(st, c, 1);
        CHECK_INT(store_conn_mark(st, c, base, 0, 0), 0);
    }
    const struct store_mark *k = store_conn_mark_find(c, base, 0);
    CHECK(k != NULL);
    CHECK_INT(k->mod, base);
    CHECK_INT(k->packets, STORE_MARK_MIN);
    /* the one that got through: the next fetch (since = its seq) has it */
    add_packets(st, c, 1);
    CHECK_INT(store_conn_mark(st, c, base, 0, 0), 0);
    uint64_t next = c->mod_seq;
    CHECK_INT(store_conn_mark_find(c, next, 0)->packets, STORE_MARK_MIN + 3 * STORE_MARKS + 1);
    /* and now that base is the one kept */
    for (int i = 0; i < 3 * STORE_MARKS; i++) {
        add_packets(st, c, 1);
        CHECK_INT(store_conn_mark(st, c, next, 0, 0), 0);
    }
    CHECK_INT(store_conn_mark_find(c, next, 0)->mod, next);
    CHECK(store_conn_mark_find(c, base, 0) == NULL); /* the older base went */
    store_free(st);
}

/* A reply that lets the capture in writes what came meanwhile: a
 * connection changed after the reply's seq. Its reader's next fetch asks
 * since that seq and names the reply: the mark that reply wrote is found
 * by its number (by seq alone, only an older one is), and it stays
 * through given-up attempts as the base does. */
TEST(store_marks_follow_the_readers_last_reply)
{
    struct store *st;
    struct store_conn *c = first_marked(&st, 1); /* reply 1: the first, whole */
    CHECK(c != NULL);
    if (!c)
        return;
    uint64_t base = c->mod_seq;
    /* reply 2 began at seq `since`, let the capture in, then wrote c */
    uint64_t since = store_seq(st);
    add_packets(st, c, 5);
    CHECK(c->mod_seq > since);
    CHECK_INT(store_conn_mark(st, c, base, 1, 2), 0);
    /* the reader of reply 2 asks since its seq */
    const struct store_mark *k = store_conn_mark_find(c, since, 2);
    CHECK(k != NULL);
    CHECK_INT(k->packets, STORE_MARK_MIN + 5);
    CHECK_INT(store_conn_mark_find(c, since, 0)->packets, STORE_MARK_MIN); /* by seq: older */
    CHECK_INT(store_conn_mark_find(c, since, 9)->packets, STORE_MARK_MIN); /* another reply */
    /* a newer mark at or before since wins over an older reply's */
    uint64_t later = c->mod_seq;
    CHECK_INT(store_conn_mark_find(c, later, 1)->packets, STORE_MARK_MIN + 5);
    /* attempts for the next fetch (since, reply 2), each given up: the
     * reply's mark and the base stay */
    for (int i = 0; i < 3 * STORE_MARKS; i++) {
        add_packets(st, c, 1);
        CHECK_INT(store_conn_mark(st, c, since, 2, 3 + (uint64_t)i), 0);
    }
    CHECK_INT(store_conn_mark_find(c, since, 2)->packets, STORE_MARK_MIN + 5);
    CHECK_INT(store_conn_mark_find(c, since, 0)->packets, STORE_MARK_MIN);
    store_free(st);
}
