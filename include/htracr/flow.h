/* SPDX-License-Identifier: MIT */
/*
 * flow.h - the flow table: 5-tuple -> connection.
 *
 * Third stage. Finds or creates the connection a decoded TCP packet belongs
 * to, decides client and server roles (the sniffed port, else the receiver of
 * the first SYN, else the sender of an HTTP request line), starts a new
 * connection when a SYN reuses the 5-tuple of a closed one, expires idle
 * flows, and decides which connections count: the sniffed ports, plus (in
 * files, unless the ports were given explicitly) any connection whose first
 * client bytes look like an HTTP request.
 */
#ifndef HTRACR_FLOW_H
#define HTRACR_FLOW_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_conn;
struct decoded;
struct flow_table;

#define FLOW_MAX_PORTS 64

struct flow_opts {
    uint16_t ports[FLOW_MAX_PORTS]; /* the sniff set */
    int nports;
    int sniff_http;          /* also take HTTP found on other ports */
    int64_t idle_timeout_us; /* open flow without packets: finished after this */
    int64_t close_linger_us; /* closed flow kept for late packets this long */
};

struct flow_stats {
    uint64_t flows;         /* 5-tuples seen */
    uint64_t ignored_flows; /* not on a sniffed port and not HTTP */
    uint64_t port_reuse;    /* new connection on a closed connection's tuple */
    uint64_t expired;       /* finished by idle timeout */
    uint64_t active;        /* flows in the table now */
};

/* New table feeding st, or NULL (errno). */
struct flow_table *flow_table_new(struct store *st, const struct flow_opts *opts);
/* One decoded TCP packet (borrowed for the call). */
void flow_table_packet(struct flow_table *ft, const struct decoded *d);
/* End of input: finish every flow, least recently active first (their
 * connections go to the store's on_finish). */
void flow_table_finish(struct flow_table *ft);
const struct flow_stats *flow_table_stats(const struct flow_table *ft);
/* Bytes the table holds (its flows, the packets PENDING flows hold back,
 * its buckets), charged to the store with store_table_mem(). Past
 * store_table_limit() after a packet, the flows idle longest are finished
 * early (stats.flows_evicted). */
size_t flow_table_memory(const struct flow_table *ft);
/* The options in force (the ports as last set). */
const struct flow_opts *flow_table_opts(const struct flow_table *ft);
/* Time passes without packets (live capture): finish the flows idle past
 * their timeout at now_us. */
void flow_table_tick(struct flow_table *ft, int64_t now_us);
/* Change the sniff set (live capture, from the UI). Flows already in the
 * table keep their role; new ones use the new ports. */
void flow_table_set_ports(struct flow_table *ft, const uint16_t *ports, int nports);
/* The bytes of TCP and HTTP state the flow of model connection c holds (its
 * tcp_conn_footprint(), as charged with store_conn_side()); 0 when c has no
 * flow or the flow is done with it. */
size_t flow_table_side(const struct flow_table *ft, const struct store_conn *c);
/* Free; flow_table_free(NULL) is a no-op. Call flow_table_finish() first to
 * keep what is in flight. The table is registered with its store
 * (store_set_evict_open): free it before the store. */
void flow_table_free(struct flow_table *ft);

#endif
