/* SPDX-License-Identifier: MIT */
/*
 * http.h - HTTP/1.x messages from a connection's reassembled byte streams.
 *
 * Fifth stage. TCP hands each direction's bytes over in stream order, one
 * packet's worth at a time (with the index of the packet that carried them),
 * plus gaps (bytes never captured) and end of stream. One llhttp parser per
 * direction turns them into struct store_message entries on the connection:
 * start line, headers, sizes, decoded body (bounded), first/last packet and
 * time, request <-> response pairing (pipelining, 1xx interim responses, HEAD
 * and 304, CONNECT and Upgrade, after which the rest is opaque bytes).
 *
 * Only http.c includes llhttp.
 */
#ifndef HTRACR_HTTP_H
#define HTRACR_HTTP_H

#include <stdint.h>
#include <stddef.h>

struct store;
struct store_conn;
struct http_conn;

/* Bounds on what one message may keep; past them data is counted, not kept. */
#define HTTP_MAX_HEADERS 256
#define HTTP_MAX_HEADER_BYTES (64 * 1024)

/* Per-connection HTTP state, or NULL (errno). The connection must outlive it. */
struct http_conn *http_conn_new(struct store *st, struct store_conn *c);
/* Free; http_conn_free(NULL) is a no-op. Does not finish open messages: call
 * http_conn_eof() for both directions first to keep them. */
void http_conn_free(struct http_conn *h);

/* Bytes h holds (its state, buffers, a decoder's memory), for the store's
 * budget (store_conn_side); 0 for NULL. */
size_t http_conn_footprint(const struct http_conn *h);
/* Set, in the thread that does it, whenever TCP or HTTP state of a
 * connection allocates or frees: after a packet, tcp.c then counts that
 * connection's footprint again (one check a packet, not one a change). */
extern _Thread_local uint8_t conn_side_changed;

/* In-order stream bytes of direction dir (DIR_C2S / DIR_S2C) carried by packet
 * index pkt of the connection. Returns 0 while parsing goes on, 1 when this
 * direction is no longer parsed (upgrade, CONNECT tunnel, parse error, or a
 * gap outside a body): the caller may stop feeding that direction. */
int http_conn_data(struct http_conn *h, int dir, const uint8_t *data, size_t len, uint32_t pkt);

/* len stream bytes of direction dir are missing (never captured). Inside a
 * Content-Length or chunk body the parser skips them and the message notes
 * gap_bytes; anywhere else parsing of that direction ends, with the reason
 * on the message (or connection). pkt: the packet after the gap. */
void http_conn_gap(struct http_conn *h, int dir, uint64_t len, uint32_t pkt);

/* The same for bytes the capture left out on purpose (body skip): inside a
 * Content-Length body they count as the message's skipped_bytes, not as a
 * gap; anywhere else they are a gap like any other. */
void http_conn_skipped(struct http_conn *h, int dir, uint64_t len, uint32_t pkt);

/* What is left of the Content-Length body direction dir is in, counted
 * from the end of what it was given so far, or 0 when it is not in one
 * (headers, chunked framing, a body ended by close). *keep: how many of
 * those bytes HTTP still wants to see (to fill --body-limit); the rest it
 * only counts. The body-skip hint is built from the two. */
uint64_t http_conn_skippable(const struct http_conn *h, int dir, uint64_t *keep);

/* End of stream in direction dir (FIN, RST or end of capture); pkt is the
 * last packet index of the connection. A body delimited by close ends here;
 * a message cut short is kept, marked incomplete. */
void http_conn_eof(struct http_conn *h, int dir, uint32_t pkt);

/* Direction dir's stream was picked up after its start (no SYN): if its
 * first bytes cannot begin a message, they are skipped up to one that does
 * (counted as a resync), instead of stopping the parser at the error. */
void http_conn_midstream(struct http_conn *h, int dir);

/* Whether the first bytes a client sent look like an HTTP/1.x request line:
 * 1 yes, 0 no, -1 not enough bytes yet to tell. Cheap; used once per
 * connection to find HTTP on ports outside the sniff set in files. */
int http_looks_like_request(const uint8_t *data, size_t len);

/* For tests. A header block that repeats the previous one in its direction
 * is not parsed again (http.c blk_skip), nor is a start line that repeats
 * the one before it (http.c line_skip), unless http_test_blk_skip is 0;
 * http_test_blk_skips and http_test_line_skips count the blocks and lines
 * skipped. With http_test_blk_verify set, each is parsed by llhttp all the
 * same, on a copy of the parser, and http_test_blk_mismatches counts those
 * that ended in another state, or said another thing, than the one set. */
extern int http_test_blk_skip, http_test_blk_verify;
extern unsigned long http_test_blk_skips, http_test_line_skips, http_test_blk_mismatches;

#endif
