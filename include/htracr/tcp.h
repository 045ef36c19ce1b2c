/* SPDX-License-Identifier: MIT */
/*
 * tcp.h - one TCP connection: sequence tracking, reassembly, analysis.
 *
 * Fourth stage. The flow table hands each packet of a connection, with its
 * direction, to tcp_conn_packet(). It appends the packet to the model with
 * relative seq/ack and the scaled window, tracks each direction's sequence
 * space (wrap-safe), buffers out-of-order segments under a byte bound,
 * declares gaps (ACK passed missing data, buffer bound, end of capture) and
 * feeds in-order bytes to HTTP. Retransmitted bytes that differ from the
 * buffered first copy are counted; the first copy wins. It also flags each
 * packet as Wireshark's tcp.analysis does, takes RTT samples (Karn's rule),
 * keeps the window and bytes-in-flight series and the state spans
 * (docs/tcp-analysis.md).
 */
#ifndef HTRACR_TCP_H
#define HTRACR_TCP_H

#include <stdint.h>
#include <stddef.h>

struct store;
struct store_conn;
struct decoded;
struct tcp_conn;

/* Out-of-order bytes buffered per direction before a gap is declared. */
#define TCP_OOO_LIMIT (1u << 20)

/* New connection state for model connection c; HTTP parsing on when http is
 * set. NULL on ENOMEM. */
struct tcp_conn *tcp_conn_new(struct store *st, struct store_conn *c, int http);

/* One packet of the connection, dir DIR_C2S or DIR_S2C. d (and its payload)
 * is borrowed for the call. */
void tcp_conn_packet(struct tcp_conn *t, const struct decoded *d, int dir);

/* Whether both FINs (or a RST) have been seen. */
int tcp_conn_closed(const struct tcp_conn *t);
/* Whether the close is complete: a RST, or both FINs seen and ACKed. */
int tcp_conn_done(const struct tcp_conn *t);

/* Whether SYN d (no ACK, sent in direction dir) starts a new connection on
 * the same 5-tuple (port reuse) rather than retrying this one's SYN: this one
 * is closed, or its SYN had another ISN, or it has already carried data. */
int tcp_conn_new_syn(const struct tcp_conn *t, const struct decoded *d, int dir);

/* No more packets: flush buffered segments (declaring gaps), end both HTTP
 * directions, close the last state span. The model connection stays. */
void tcp_conn_finish(struct tcp_conn *t);

/* Bytes t holds (with its HTTP state), as charged to its model connection
 * with store_conn_side(): at creation, after each packet that changed them,
 * and 0 when it is freed. */
size_t tcp_conn_footprint(const struct tcp_conn *t);

/* Free (its bytes no longer charged to the model connection, which must
 * still exist); tcp_conn_free(NULL) is a no-op. */
void tcp_conn_free(struct tcp_conn *t);

#endif
