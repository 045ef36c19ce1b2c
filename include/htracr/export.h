/* SPDX-License-Identifier: MIT */
/*
 * export.h - the model as JSON, JSONL, HAR 1.2 and a text summary.
 *
 * Last stage; reads the store, never changes it. Field names and meanings are
 * the contract in docs/json.md. Times are integer µs since the Unix epoch.
 * Strings from the wire are written as valid JSON: valid UTF-8 passes through,
 * other bytes become \u00XX (Latin-1), control characters are escaped.
 */
#ifndef HTRACR_EXPORT_H
#define HTRACR_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct store;
struct store_conn;
struct store_mark;
struct store_stats;
struct store_packet;
struct store_message;
struct ip_addr;
struct jsonw;

#define EXPORT_JSON_VERSION 1

/* The whole model as one JSON document. 0 or -errno (write error). */
int export_json(struct store *st, FILE *f);

/* One line per HTTP transaction of c (request + its response; a request with
 * no response, or a response with no request, is a line too). Called per
 * connection as it finishes. 0 or -errno. f is not flushed: the caller
 * flushes it at the end, where a write error may show first. */
int export_jsonl_conn(struct store *st, struct store_conn *c, FILE *f);

/* HAR 1.2 of every transaction in the store. 0 or -errno. */
int export_har(struct store *st, FILE *f);

/* The text summary (`htracr -r FILE` alone): a line per connection, a line
 * per request with its response. Strings from the wire have their control
 * and non-ASCII bytes written as \xHH, so the text is safe for a terminal.
 * f is flushed. 0 or -EIO. */
int export_summary(struct store *st, FILE *f);

/* The summary's lines for c alone. f is not flushed: the caller flushes it
 * at the end, where a write error may show first. 0 or -EIO. */
int export_summary_conn(const struct store_conn *c, FILE *f);

/* The raw packets the store kept (store_opts.keep_raw) as a pcap file with
 * nanosecond timestamps, in capture order. 0, -ENOENT when none were kept,
 * or -EIO. *skipped (may be NULL): records left out for having another link
 * type than the first. */
int export_pcap(struct store *st, FILE *f, uint64_t *skipped);

/*
 * Pieces the three exporters share (defined in export_json.c), so every
 * format spells names and message objects the same way.
 */

/* Name of one PKT_* bit ("retransmission", "duplicate_ack", ...; Wireshark's
 * tcp.analysis.* names where it has one), or NULL for an unknown bit. */
const char *export_json_analysis_name(uint32_t bit);
/* Name of an enum conn_state ("handshake", "active", ...), or "unknown". */
const char *export_json_state_name(unsigned state);
/* TCPF_* flags as tcpdump prints them ("S.", "P.", "FP."), into buf (>= 10
 * bytes); returns buf. No flag at all gives "". */
const char *export_json_tcp_flags(unsigned flags, char *buf);
/* "192.0.2.1" / "2001:db8::1" into buf (>= 46 bytes); "" for an unknown
 * family. Returns buf. */
const char *export_json_addr(const struct ip_addr *a, char *buf, size_t len);
/* Value of the first header called name (case-insensitive), or NULL. */
const char *export_json_header(const struct store_message *m, const char *name);
/* One message object (fields in docs/json.md), as the next value of w. */
void export_json_message(struct jsonw *w, const struct store_message *m);

/* Members of the model, shared by export_json and export_api (the UI's
 * compact model) so both spell every field the same way: */
/* the "stats" member */
void export_json_stats(struct jsonw *w, const struct store_stats *s);
/* the "servers" member; 0 or -ENOMEM */
int export_json_servers(struct jsonw *w, struct store *st);
/* one packet object (docs/json.md) */
void export_json_packet(struct jsonw *w, const struct store_conn *c, const struct store_packet *p);
/* its members only, for an object that adds more (the API's packet detail) */
void export_json_packet_members(struct jsonw *w, const struct store_conn *c,
                                const struct store_packet *p);
/* one connection object, its packets written by packet(); merged_rtt: the
 * series include "rtt", both directions' samples merged (--json has it, the
 * API's compact model leaves it out: the page draws the two directions) */
void export_json_conn(struct jsonw *w, const struct store_conn *c,
                      void (*packet)(struct jsonw *w, const struct store_conn *c,
                                     const struct store_packet *p),
                      int merged_rtt);

/* The same, but with from (not NULL) only what follows its counts, and a
 * "tail" member giving them (docs/api.md: the model's tails); and with
 * message (not NULL) each message i of c written by it (the API's rows)
 * instead of as an object. */
void export_json_conn_from(struct jsonw *w, const struct store_conn *c,
                           void (*packet)(struct jsonw *w, const struct store_conn *c,
                                          const struct store_packet *p),
                           void (*message)(struct jsonw *w, const struct store_conn *c, uint32_t i),
                           int merged_rtt, const struct store_mark *from);

/* The DNS lookups as the "dns" member (docs/json.md). */
void export_json_dns(struct jsonw *w, struct store *st);

/* "1.1" from an HTTP version, into buf; NULL for 0.0 (no start line was
 * parsed: unknown is null, never a made-up version). */
const char *export_json_version(char buf[16], unsigned major, unsigned minor);

#endif
