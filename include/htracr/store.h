/* SPDX-License-Identifier: MIT */
/*
 * store.h - the capture model: servers, connections, packets, messages.
 *
 * The sink of the pipeline and the thing every output reads. TCP fills
 * connections and packets, HTTP fills messages; exports and (later) the server
 * only read. Memory: each connection owns an arena for its strings and bodies
 * plus growable arrays for packets, events and series; the store counts every
 * byte against --max-memory and evicts finished connections whole, those
 * finished longest ago first, when the budget is reached (counted in
 * stats.evicted_connections). When no finished connection is left
 * (long-lived keep-alive connections only), the oldest open ones go, if
 * their owner lets go of them (store_set_evict_open), so that a capture
 * left running keeps showing what is happening now.
 *
 * Two modes: "retain" keeps every finished connection for the model outputs
 * (JSON, HAR, UI); "stream" (JSONL only) hands each finished connection to a
 * callback and frees it at once, so memory stays flat on any file size, and
 * keeps only what JSONL writes (no events, states, or series but the RTT
 * samples of both directions).
 *
 * Every stage may include this header: the model is the shared vocabulary.
 */
#ifndef HTRACR_STORE_H
#define HTRACR_STORE_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#include "htracr/arena.h"
#include "htracr/decode.h"

enum { DIR_C2S = 0, DIR_S2C = 1 };

/* Per-packet analysis flags (TCP analysis fills most; decode/TCP a few now). */
enum {
    PKT_RETRANS = 1u << 0,
    PKT_FAST_RETRANS = 1u << 1,
    PKT_SPURIOUS_RETRANS = 1u << 2,
    PKT_OUT_OF_ORDER = 1u << 3,
    PKT_LOST_SEGMENT = 1u << 4, /* a gap precedes this segment */
    PKT_ACKED_UNSEEN = 1u << 5,
    PKT_DUP_ACK = 1u << 6,
    PKT_ZERO_WINDOW = 1u << 7,
    PKT_ZERO_WINDOW_PROBE = 1u << 8,
    PKT_WINDOW_FULL = 1u << 9,
    PKT_WINDOW_UPDATE = 1u << 10,
    PKT_KEEP_ALIVE = 1u << 11,
    PKT_SYN_RETRY = 1u << 12,
    PKT_OVERLAP_CONFLICT = 1u << 13, /* retransmitted bytes differ from the first copy */
    PKT_TRUNCATED = 1u << 14,        /* payload not wholly captured (snaplen) */
    PKT_RESET = 1u << 15,            /* the last: store_packet keeps 16 bits */
};

/* One TCP segment as the model keeps it: 32 bytes, none of them padding.
 * A keep-alive exchange adds about four, and every byte the model keeps is
 * a byte of fresh memory to fault in. */
struct store_packet {
    int64_t ts_us; /* µs since the Unix epoch */
    uint32_t seq;  /* relative to this direction's ISN (0 = the SYN) */
    uint32_t ack;  /* relative to the other direction's ISN; valid with ACK */
    uint32_t len;  /* TCP payload length on the wire */
    uint32_t win;  /* receive window in bytes (scaled when scaling is on) */
    /* the first HTTP message its bytes belong to: 1 + its index in the
     * connection's messages, 0 none (store_packet_msg gives its id) */
    uint32_t msg;
    uint16_t flags : 15; /* TCPF_* (9 bits) */
    uint16_t dir : 1;    /* DIR_C2S / DIR_S2C */
    uint16_t analysis;   /* PKT_* (16 bits) */
};

enum msg_kind { MSG_REQUEST = 0, MSG_RESPONSE = 1 };

struct store_header {
    const char *name; /* as on the wire (case kept), NUL-terminated */
    const char *value;
};

/* One HTTP message. Strings live in the connection's arena. Times are µs.
 * 152 bytes, none of them padding: the model keeps two for every
 * transaction, and every byte it keeps is a byte of fresh memory to fault
 * in. So the fields only one kind has share their place (the union: read
 * the request's with kind MSG_REQUEST only, the response's with
 * MSG_RESPONSE only), the flags are bits, and Content-Type and
 * Content-Encoding are positions in the headers. Ids are 64-bit: a capture
 * left running for days makes more than 2^32 messages. */
struct store_message {
    uint64_t id;       /* unique in the capture, from 1 */
    uint64_t request;  /* responses: id of the request answered; 0 unknown */
    uint64_t response; /* requests: id of the final response; 0 none */
    int64_t start_us, end_us;
    uint64_t body_bytes;    /* body on the wire after de-chunking */
    uint64_t gap_bytes;     /* body bytes missing from the capture */
    uint64_t skipped_bytes; /* body bytes the capture left out on purpose (body skip) */
    union {
        struct {                /* kind MSG_REQUEST */
            const char *method; /* NULL until the request line is kept */
            const char *url;
        };
        struct { /* kind MSG_RESPONSE */
            const char *reason;
            int64_t ttfb_us;  /* first response byte - last request byte; -1 */
            int64_t stall_us; /* ttfb minus one RTT; -1 unknown */
        };
    };
    struct store_header *headers;
    const uint8_t *body;   /* decoded body (gzip/deflate undone) up to the body limit */
    const char *error;     /* parse error text, or NULL */
    uint32_t first_packet; /* index into the connection's packets */
    uint32_t last_packet;
    uint32_t packets; /* number of packets carrying its bytes */
    uint32_t nheaders;
    uint32_t headers_dropped; /* past the header bound: counted, not kept */
    uint32_t body_len;
    int32_t round_trips;   /* -1 until TCP analysis fills it */
    uint32_t header_bytes; /* start line + headers + blank line; saturates at UINT32_MAX */
    uint16_t status;       /* responses */
    /* 1 + the position in headers of the first Content-Type and
     * Content-Encoding, 0 none: store_message_content_type() and
     * store_message_content_encoding() give their values */
    uint16_t ctype_hdr, cenc_hdr;
    uint8_t http_major : 4, http_minor : 4;
    uint8_t kind : 1;           /* MSG_REQUEST / MSG_RESPONSE */
    uint8_t complete : 1;       /* the parser saw its end */
    uint8_t pipelined : 1;      /* request sent before the previous response ended */
    uint8_t headers_split : 1;  /* header block spread over more than one packet */
    uint8_t interim : 1;        /* 1xx response */
    uint8_t upgrade : 1;        /* 101 / CONNECT 2xx / Upgrade request: parsing stopped after it */
    uint8_t body_truncated : 1; /* more body existed than was kept */
    uint8_t body_decode_error : 1;
};

/* Value of m's header at position pos (from 1; 0 none), or NULL: also when
 * the header array could not be kept. */
static inline const char *store_message_header_at(const struct store_message *m, uint16_t pos)
{
    return pos && m->headers && pos <= m->nheaders ? m->headers[pos - 1].value : NULL;
}

/* Value of m's (first) Content-Type header, or NULL. */
static inline const char *store_message_content_type(const struct store_message *m)
{
    return store_message_header_at(m, m->ctype_hdr);
}

/* Value of m's (first) Content-Encoding header, or NULL. */
static inline const char *store_message_content_encoding(const struct store_message *m)
{
    return store_message_header_at(m, m->cenc_hdr);
}

enum close_kind { CLOSE_OPEN = 0, CLOSE_FIN = 1, CLOSE_RST = 2 };

struct store_conn_stats {
    uint64_t packets[2];
    uint64_t bytes[2]; /* TCP payload bytes on the wire */
    uint64_t retransmits[2];
    uint64_t out_of_order;
    uint64_t dup_acks;
    uint64_t zero_windows;
    uint64_t resets;
    uint64_t gap_bytes[2];     /* stream bytes never captured */
    uint64_t skipped_bytes[2]; /* stream bytes left out on purpose (body skip): known */
    uint64_t overlap_conflicts;
    uint64_t http_resyncs[2]; /* HTTP parsing found its feet again after a gap */
    uint64_t http_skipped[2]; /* stream bytes skipped while looking for a message start */
    /* RTT samples per direction of the timed segment: [DIR_C2S] from the
     * client's segments ACKed by the server, [DIR_S2C] the other way (near
     * the client, only its ACK delay). min and max -1 when none; averages,
     * and the figures over both directions, come from store_rtt_*(). */
    int64_t rtt_min_us[2], rtt_max_us[2], rtt_sum_us[2];
    uint64_t rtt_samples[2];
    uint64_t rtt_ts_samples; /* of the samples, those a timestamp echo allowed */
};

/* 12 bytes, not 16: a keep-alive exchange adds about seven points, and
 * every byte the model keeps is a byte of fresh memory to fault in. Values
 * (µs, bytes) saturate at INT32_MAX: an RTT sample of over 35 minutes, or
 * more than 2 GiB in flight (no window allows that), is kept as that. */
struct __attribute__((packed, aligned(4))) store_point {
    int64_t ts_us;
    int32_t value;
};

struct store_series {
    struct store_point *v;
    uint32_t n, cap;
};

enum {
    SERIES_RTT_C2S = 0, /* RTT samples (µs) timed on the client's segments */
    SERIES_RTT_S2C,     /* ... on the server's segments (ACKed by the client) */
    SERIES_FLIGHT_C2S,  /* bytes */
    SERIES_FLIGHT_S2C,
    SERIES_RWND_C2S, /* receive window advertised by the client (bytes) */
    SERIES_RWND_S2C,
    SERIES_CWND_C2S, /* congestion-window estimate: most in flight per round, bytes */
    SERIES_CWND_S2C,
    SERIES_COUNT
};

struct store_event {
    int64_t ts_us;
    uint32_t packet; /* index into packets */
    uint32_t type;   /* one PKT_* bit */
    uint8_t dir;
    uint32_t count; /* duplicate ACKs: which one in the row (1, 2, ...); else 0 */
};

enum conn_state {
    STATE_HANDSHAKE = 0,
    STATE_ACTIVE,
    STATE_IDLE,
    STATE_HALF_CLOSED,
    STATE_CLOSING,
    STATE_CLOSED,
    STATE_RESET,
    STATE_ZERO_WINDOW,
    STATE_RWND_LIMITED,
    STATE_COUNT
};

struct store_span {
    int64_t start_us, end_us;
    uint8_t state; /* enum conn_state */
};

/* Points of each series in the block all of a connection's series start
 * in (what one request on a connection of its own makes: at most 4); a
 * series that grows past it moves to a block of its own. */
#define STORE_SERIES_FIRST 4

struct store_conn {
    uint64_t id;     /* from 1, in order of first packet */
    uint32_t server; /* id of its store_server */
    struct ip_addr client_addr, server_addr;
    uint16_t client_port, server_port;
    int64_t start_us, end_us;
    int64_t handshake_rtt_us;             /* SYN -> ACK of SYN/ACK; -1 unknown */
    int64_t syn_us, synack_us, hs_ack_us; /* -1 when not seen */
    int64_t syn_first_us;                 /* the first SYN sent for the handshake (before any
                                           * retry: syn_us is the one the SYN/ACK answers); -1 */
    uint8_t close;                        /* enum close_kind */
    uint8_t finished;                     /* no more packets will be added */
    uint8_t midstream;                    /* the SYN was not captured */
    struct store_conn_stats stats;

    /* packets[0] has index pkt_base: in stream mode, store_conn_flush()
     * drops what has been written out, and indices keep counting. A
     * packet's index is the low 32 bits of its number on the connection
     * (they wrap on one that streams past 2^32 packets, hours at a high
     * rate); what the store holds of a connection is far less than 2^31
     * packets, so store_conn_pkt() looks an index up modulo 2^32. */
    struct store_packet *packets;
    uint32_t npackets, cap_packets;
    uint32_t *raw; /* keep_raw: raw record number + 1 per packet (low 32 bits) */
    uint32_t cap_raw;
    uint64_t pkt_base;
    uint64_t emitted;                /* JSONL lines written for it so far */
    struct store_message **messages; /* in order of first byte */
    uint32_t nmessages, cap_messages;
    struct store_event *events;
    uint32_t nevents, cap_events;
    struct store_span *states;
    uint32_t nstates, cap_states;
    struct store_series series[SERIES_COUNT];
    struct store_point *series_first; /* the first STORE_SERIES_FIRST points of each
                                       * series, one block (store_conn_point) */

    struct arena arena; /* strings, headers, bodies */
    size_t mem;         /* bytes counted against the budget */
    size_t body_mem;    /* of which decoded bodies */
    size_t side_mem;    /* of which the connection's own parsing state
                         * (TCP, HTTP, their buffers): store_conn_side */
    uint64_t mod_seq;   /* store_seq() when it last changed */
    /* Messages before this index are final: nothing changes them any more
     * (HTTP keeps it: those it is still parsing, or whose request still
     * waits for its response, are not). */
    uint32_t msg_settled;
    struct store_marks *marks;              /* store_conn_mark, or NULL */
    struct store_conn *prev, *next;         /* store order */
    struct store_conn *fin_prev, *fin_next; /* finished ones, in the order they finished */
};

struct store_server {
    uint32_t id; /* from 1 */
    struct ip_addr addr;
    uint16_t port;
    char name[256];       /* first Host header seen (without port), or "" */
    char dns_name[256];   /* the name a DNS answer gave its address, or "" */
    uint32_t connections; /* connections ever seen */
    uint32_t held;        /* connections in the store now; at 0 it is idle */
    uint8_t idle;         /* on the store's idle list, freed in time */
    struct store_server *idle_prev, *idle_next;
};

struct store_stats {
    uint64_t packets;     /* packets seen by the pipeline */
    uint64_t bytes;       /* wire bytes seen */
    uint64_t dropped;     /* lost before us (kernel, ring) */
    uint64_t connections; /* connections in the model, ever */
    uint64_t requests, responses;
    uint64_t evicted_connections; /* finished or open, removed for the budget */
    uint64_t evicted_open;        /* ... of which still open (store_set_evict_open) */
    uint64_t decode_errors;
    uint64_t ignored_packets; /* TCP not on a sniffed port and not HTTP */
    uint64_t late_packets;    /* for a connection already finished and streamed */
    uint64_t alloc_failures;  /* data not kept because memory ran out */
    uint64_t raw_evicted;     /* raw packet records dropped for the raw budget */
    uint64_t bodies_not_kept; /* decoded bodies not kept: bodies had half the budget */
    uint64_t dns_messages;    /* DNS queries and responses seen */
    uint64_t dns_bad;         /* UDP/53 payloads that were not DNS */
    uint64_t dns_evicted;     /* lookups dropped past STORE_DNS_MAX */
    uint64_t flows_evicted;   /* flows finished before their timeout: the flow table was full */
};

/*
 * Lifetime counters (the /metrics endpoint, docs/api.md): what the store
 * modelled since it was made, counted as it happens, so that neither
 * eviction nor store_clear() takes anything back from them.
 */
#define STORE_HIST_BOUNDS 14
/* The histograms' upper bounds in µs, rising; a last bucket holds the rest. */
extern const int64_t store_hist_bounds_us[STORE_HIST_BOUNDS];
struct store_hist {
    uint64_t bucket[STORE_HIST_BOUNDS + 1]; /* not cumulative */
    uint64_t count;
    uint64_t sum_us;
};
enum store_method {
    METHOD_GET,
    METHOD_HEAD,
    METHOD_POST,
    METHOD_PUT,
    METHOD_DELETE,
    METHOD_CONNECT,
    METHOD_OPTIONS,
    METHOD_TRACE,
    METHOD_PATCH,
    METHOD_OTHER, /* any other, named "other": the label's values stay bounded */
    STORE_METHODS
};
extern const char *const store_method_names[STORE_METHODS];
struct store_totals {
    uint64_t requests[STORE_METHODS]; /* requests ended, by method */
    uint64_t responses[6];            /* responses ended, by status / 100; [0]: none or not 1-5 */
    struct store_hist ttfb;           /* final responses' time to first byte */
    struct store_hist stall;          /* ... their server stall */
    struct store_hist handshake;      /* handshake RTT, at the handshake's ACK */
    uint64_t retransmits[2];          /* segments flagged retransmitted, by direction */
    uint64_t resets;                  /* connections ended by a reset */
};
static inline void store_hist_add(struct store_hist *h, int64_t us)
{
    int i = 0;
    if (us < 0)
        return;
    while (i < STORE_HIST_BOUNDS && us > store_hist_bounds_us[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum_us += (uint64_t)us;
}

struct store;
typedef void (*store_conn_cb)(void *ctx, struct store *st, struct store_conn *c);

struct store_opts {
    size_t max_memory; /* budget in bytes (0 = unlimited) */
    size_t body_limit; /* decoded body bytes kept per message */
    int stream;        /* write out and free as soon as possible */
    int keep_raw;      /* keep raw packet bytes (UI: payloads, pcap download) */
    /* Called with the messages c holds now: once when it is finished, and
     * in stream mode also at each store_conn_flush(). */
    store_conn_cb on_finish;
    /* Called with c just before the budget evicts it (finished or open),
     * while it still holds everything: the summary prints it then, so that
     * it is not missing from the end's. */
    store_conn_cb on_evict;
    void *ctx;
    /* Body skip (live eBPF): payload of c's direction dir from absolute TCP
     * sequence number from_seq up to until_seq is not needed. Called from
     * TCP. */
    void (*on_skip)(void *ctx, struct store_conn *c, int dir, uint32_t from_seq,
                    uint32_t until_seq);
};

/* New empty store, or NULL (errno). */
struct store *store_new(const struct store_opts *opts);
/* Free everything; store_free(NULL) is a no-op. */
void store_free(struct store *st);

const struct store_opts *store_get_opts(const struct store *st);
struct store_stats *store_stats(struct store *st);
/* The lifetime counters (written by the capture thread, the lock held). */
struct store_totals *store_totals(struct store *st);
/* store_stats() plus what store_clear() took from them: the model's
 * counters over the store's life. dropped is left as it is now: the
 * current model's (the whole run's drops are the capture source's
 * counters, server_status ring_drops and socket_drops). */
void store_stats_lifetime(const struct store *st, struct store_stats *out);
/* Message m ended (complete, cut short, or where parsing failed): count it
 * in the totals, by its method or status class ("other" when it has none),
 * and a final response's TTFB and stall. */
void store_note_message(struct store *st, const struct store_message *m);

/* Source facts for the model's header. */
void store_set_source(struct store *st, const char *source);
const char *store_source(const struct store *st);
int64_t store_start_us(const struct store *st);
int64_t store_end_us(const struct store *st);
/* Note one packet seen by the pipeline (stats, start/end times). */
void store_note_packet(struct store *st, int64_t ts_us, uint32_t wirelen);

/* New connection, appended to the store order. NULL on ENOMEM. */
struct store_conn *store_conn_new(struct store *st, const struct ip_addr *caddr, uint16_t cport,
                                  const struct ip_addr *saddr, uint16_t sport, int64_t ts_us);
/* Remove a connection that turned out not to belong in the model (not HTTP).
 * Does not count as eviction; its id is not reused. */
void store_conn_discard(struct store *st, struct store_conn *c);
/* No more packets will come: runs on_finish, then frees it in stream mode.
 * The caller must drop its pointer afterwards. */
void store_conn_finish(struct store *st, struct store_conn *c);

/* Stream mode: every message of c is complete and paired, so hand them to
 * on_finish, then free them and the packets, events and series points so
 * far (stats stay). Packet indices go on counting from where they were. A
 * no-op in retain mode. The caller drops every message pointer of c. */
void store_conn_flush(struct store *st, struct store_conn *c);

/* The packet with index idx, or NULL when it is not (or no longer) held.
 * Modulo 2^32: an index before pkt_base comes out as a huge offset. */
static inline struct store_packet *store_conn_pkt(struct store_conn *c, uint32_t idx)
{
    uint32_t off = idx - (uint32_t)c->pkt_base;
    return off < c->npackets ? &c->packets[off] : NULL;
}

/*
 * Marks: what of a connection a reader was given, so that the next time it
 * need be given only what followed (the web API's tails, docs/api.md). A
 * mark is the connection as it was written out: its mod_seq then, and from
 * where on each list may differ since: new packets, events and points, and
 * before them an older packet whose message was found later
 * (store_conn_pkt_changed lowers the mark), the messages from the first
 * not settled, the last state (its end still grows). A few are kept, the
 * newest; a reader whose copy is older than all of them gets the
 * connection whole.
 */
#define STORE_MARKS 4
struct store_mark {
    uint64_t mod;   /* the connection's mod_seq when written out; 0 unused */
    uint64_t reply; /* the reply that wrote it out so (store_reply_next) */
    uint32_t packets, messages, events, states;
    uint32_t series[SERIES_COUNT];
};
struct store_marks {
    struct store_mark m[STORE_MARKS];
};

/* Remember c as it is now, written out in reply number `reply` for a
 * reader whose copy holds every change up to seq `since` (0: none, it is
 * given everything) and what its last reply, number `have` (0: none
 * known), wrote. The new mark takes the oldest slot but those two: the
 * newest mark at or before `since` and the one reply `have` wrote stay,
 * what that reader's next fetch needs should this write be thrown away (an
 * attempt given up for -EAGAIN marks too). Only for connections of at
 * least STORE_MARK_MIN packets: a smaller one is cheap to send whole.
 * -ENOMEM when the marks could not be allocated (then none). */
#define STORE_MARK_MIN 32
int store_conn_mark(struct store *st, struct store_conn *c, uint64_t since, uint64_t have,
                    uint64_t reply);

/* The newest mark a reader holding every change of c up to seq `since`
 * (and perhaps more), and what its last reply, number `have` (0: none
 * known), wrote, can be given the rest from, or NULL. The reply's own
 * mark is newer than `since` when that reply wrote c after letting the
 * capture in: c's change is then after the reply's seq. */
const struct store_mark *store_conn_mark_find(const struct store_conn *c, uint64_t since,
                                              uint64_t have);

/* Packet idx of c changed after it was added (an older packet's message
 * found later): marks that had it no longer cover it. */
static inline void store_conn_pkt_changed(struct store_conn *c, uint32_t idx)
{
    if (!c->marks)
        return;
    uint32_t off = idx - (uint32_t)c->pkt_base;
    for (int i = 0; i < STORE_MARKS; i++)
        if (off < c->marks->m[i].packets)
            c->marks->m[i].packets = off;
}

/* Id of the first HTTP message p's bytes belong to, 0 none. The index p
 * keeps is into c's messages now: store_conn_flush frees a connection's
 * messages and packets together, so it stays valid while p is held. */
static inline uint64_t store_packet_msg(const struct store_conn *c, const struct store_packet *p)
{
    return p->msg && p->msg <= c->nmessages ? c->messages[p->msg - 1]->id : 0;
}

/* Packets seen on c so far, flushed ones included. */
static inline uint64_t store_conn_total_packets(const struct store_conn *c)
{
    return c->pkt_base + c->npackets;
}

/* Append a packet; returns its index, or -ENOMEM (then counted). */
int64_t store_conn_add_packet(struct store *st, struct store_conn *c, const struct store_packet *p);
/* New zeroed message appended to c (id assigned, round_trips/ttfb/stall -1). */
struct store_message *store_message_new(struct store *st, struct store_conn *c, enum msg_kind kind);
/* Find a message of c by id (binary search), or NULL. */
struct store_message *store_conn_message(const struct store_conn *c, uint64_t id);
/* For tests: the ids the next connection and the next message get. */
void store_set_next_ids(struct store *st, uint64_t conn_id, uint64_t msg_id);
/* Add an analysis event; counted against the budget. 0 or -ENOMEM. */
int store_conn_event(struct store *st, struct store_conn *c, uint32_t type, uint8_t dir,
                     uint32_t packet, int64_t ts_us);
/* Append a point to one of c's series (value saturated to the int32 range,
 * see store_point). 0 or -ENOMEM. */
int store_conn_point(struct store *st, struct store_conn *c, int series, int64_t ts_us,
                     int64_t value);
/* Set the state from ts_us on (closing the previous span). 0 or -ENOMEM. */
int store_conn_state(struct store *st, struct store_conn *c, uint8_t state, int64_t ts_us);
/* Arena copies, counted against the budget; NULL on ENOMEM. */
char *store_strndup(struct store *st, struct store_conn *c, const char *s, size_t n);
void *store_memdup(struct store *st, struct store_conn *c, const void *p, size_t n);
void *store_alloc(struct store *st, struct store_conn *c, size_t n);
/* A decoded body's copy. Bodies may take at most half of the model's budget,
 * so they never push connections out: past that, NULL (counted in
 * stats.bodies_not_kept) and the message keeps no body. */
void *store_body_dup(struct store *st, struct store_conn *c, const void *p, size_t n);

/* The bytes the code analysing c holds for it outside the store (TCP and
 * HTTP state, out-of-order segments, a body being decoded): counted in c's
 * and the store's memory like the model, so --max-memory bounds them too.
 * Sets the total (not a change); a rise makes room as an allocation would,
 * evicting other connections, but the bytes are counted even when that
 * does not bring the store under its budget (they exist already), and the
 * next allocation fails instead. Called with 0 before that state is freed. */
void store_conn_side(struct store *st, struct store_conn *c, size_t bytes);

/* Servers: the one for (addr, port), created on first use. One that no
 * connection in the store is on any more stays idle (found again by
 * address, same id) until STORE_IDLE_SERVERS newer ones are idle or the
 * budget needs its memory; then it is freed, store_server_by_id() gives
 * NULL for its id, and the id is not handed out again. */
#define STORE_IDLE_SERVERS 1024
struct store_server *store_server_get(struct store *st, const struct ip_addr *addr, uint16_t port);
struct store_server *store_server_by_id(struct store *st, uint32_t id);
/* Ids handed out so far (the newest server's id). */
uint32_t store_nservers(const struct store *st);
/* The servers allocated (held or idle), in order of id, into *out (malloc'd:
 * the caller frees it); their count, 0 when none or out of memory. */
uint32_t store_servers(struct store *st, struct store_server ***out);
/* Give the server of c a name (the first Host header wins). */
void store_server_name(struct store *st, struct store_conn *c, const char *host, size_t n);

/* Iteration in store order (first packet time). */
struct store_conn *store_first(struct store *st);
static inline struct store_conn *store_next(struct store_conn *c)
{
    return c->next;
}

/* Round trips a message took: the flights of its direction's data from
 * packet index first to last, a new flight starting with the first data
 * packet sent after the peer ACKed the first segment of the current one
 * (ACK-clocked rounds). 1 for a message in one flight; -1 when its packets
 * are no longer held. */
int32_t store_conn_round_trips(struct store_conn *c, uint32_t first, uint32_t last, uint8_t dir);

/* A connection's RTT samples summed up: those timed on dir's segments, or
 * all of them for dir < 0; -1 when there is none. */
static inline int64_t store_rtt_min(const struct store_conn_stats *s, int dir)
{
    if (dir >= 0)
        return s->rtt_min_us[dir];
    int64_t a = s->rtt_min_us[0], b = s->rtt_min_us[1];
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static inline int64_t store_rtt_max(const struct store_conn_stats *s, int dir)
{
    if (dir >= 0)
        return s->rtt_max_us[dir];
    return s->rtt_max_us[0] > s->rtt_max_us[1] ? s->rtt_max_us[0] : s->rtt_max_us[1];
}

static inline int64_t store_rtt_avg(const struct store_conn_stats *s, int dir)
{
    uint64_t n = dir >= 0 ? s->rtt_samples[dir] : s->rtt_samples[0] + s->rtt_samples[1];
    int64_t sum = dir >= 0 ? s->rtt_sum_us[dir] : s->rtt_sum_us[0] + s->rtt_sum_us[1];
    return n ? sum / (int64_t)n : -1;
}

/* The connection's RTT for stall estimates and the idle threshold: the
 * handshake RTT, else the smallest sample timed on the client's segments;
 * -1 when neither is known. Samples timed on the server's segments are left
 * out: seen near the client they are the client's ACK delay, not a path. */
int64_t store_conn_base_rtt(const struct store_conn *c);

/*
 * DNS: each lookup (a query and its response, paired by id, client address
 * and port and name) with its answers. At most STORE_DNS_MAX are kept, the
 * oldest dropped first (counted). A server whose address an answer gave is
 * named by that answer when no Host header names it.
 */
#define STORE_DNS_MAX 20000
#define STORE_DNS_ADDRS 8

struct store_dns {
    uint32_t id;                 /* from 1 */
    int64_t query_us, answer_us; /* -1 when not seen */
    struct ip_addr client, resolver;
    uint16_t client_port;
    uint16_t dns_id, qtype;
    uint8_t rcode, answered;
    char qname[256];
    char cname[256]; /* the last CNAME target in the answer, or "" */
    struct ip_addr addrs[STORE_DNS_ADDRS];
    uint32_t naddrs;
};

struct dns_msg;
/* One DNS message seen from src:sport to dst:dport at ts_us. */
void store_dns_msg(struct store *st, const struct dns_msg *m, const struct ip_addr *src,
                   uint16_t sport, const struct ip_addr *dst, uint16_t dport, int64_t ts_us);
/* The lookups held, and the i-th of them, oldest first (NULL past the end). */
uint32_t store_dns_count(const struct store *st);
const struct store_dns *store_dns_at(const struct store *st, uint32_t i);
/* Display name of a server: its Host name, else its DNS name, else "". */
const char *store_server_display_name(const struct store_server *s);

/* Bytes currently counted against the budget (the flow table's included). */
size_t store_memory(const struct store *st);
/* The flow table's own memory (its flows, their queues, its buckets) grew
 * or shrank by delta bytes: it counts against the budget like the model's,
 * but is kept apart from it, so store_clear() leaves it. Nothing is evicted
 * here: the table holds itself to store_table_limit(). */
void store_table_mem(struct store *st, ptrdiff_t delta);
/* What the flow table may hold: a quarter of the model's budget (0: no
 * limit, as the budget). */
size_t store_table_limit(const struct store *st);

/*
 * Sharing with readers on other threads (the web server). The capture loop
 * holds the lock while it feeds a batch of records; a reader holds it while
 * it copies out what it needs. Neither holds it for long: a reader with a
 * lot to copy (the whole model for the web page) lets waiting threads in
 * between connections with store_lock_yield(), after store_pin() has marked
 * its place so that eviction cannot free it meanwhile.
 *
 * Change tracking: every change to a connection (a packet, a message, its
 * end, a state) sets c->mod_seq to a new value of a store-wide counter, so a
 * reader that saw everything up to seq S only needs the connections with
 * mod_seq > S. store_generation() changes when the model is replaced
 * (cleared, another file loaded): then a reader starts again from nothing.
 */
void store_lock(struct store *st);
void store_unlock(struct store *st);
/* The lock if it is free (0), else -EBUSY at once. */
int store_trylock(struct store *st);
/* A thread that did not get the lock (store_trylock) but will take it
 * soon says so (on 1, off 0), so that readers yield to it as they yield to
 * one blocked in store_lock(). */
void store_want_lock(struct store *st, int on);
/* With the lock held: if another thread is waiting for it, let that thread
 * have it, then take it back (1); else nothing happens (0). Anything read
 * before may have changed: a connection is still there only if pinned. */
int store_lock_yield(struct store *st);
/* Mark c (NULL: none) as a reader's place, with the lock held: eviction
 * passes over it. Discarding, freeing (JSONL streaming) or clearing the
 * model unpins it, which store_pinned() then shows as NULL. */
void store_pin(struct store *st, const struct store_conn *c);
/* Who may give up an open connection for the budget: cb(ctx, c) drops every
 * pointer its owner holds to c and returns 0 (or non-zero to keep it), then
 * the store evicts c whole, after on_finish has seen it. Called from inside
 * an allocation for another connection (never the one allocating, nor the
 * pinned one), so cb must not allocate from the store. In stream mode too:
 * what an open connection holds there is mostly its parsers' state (its
 * answered exchanges are written out as they go), and the oldest are
 * usually idle. cb NULL: open connections are never evicted. */
void store_set_evict_open(struct store *st, int (*cb)(void *ctx, struct store_conn *c), void *ctx);
/* Forget the owner set with this ctx (a newer owner set since is kept). */
void store_unset_evict_open(struct store *st, void *ctx);
const struct store_conn *store_pinned(const struct store *st);
uint64_t store_seq(const struct store *st);
/* A new reply number (from 1; it never goes back, clears included) for a
 * writer of marks (store_conn_mark), and the last one given. */
uint64_t store_reply_next(struct store *st);
uint64_t store_reply_last(const struct store *st);
uint64_t store_generation(const struct store *st);
/* Mark c changed now. */
void store_touch(struct store *st, struct store_conn *c);
/* Remove every connection and server and zero the stats (the options and
 * memory budget stay); a new generation. Callers that hold connection
 * pointers (the flow table) must drop them first: use pipeline_clear(). */
void store_clear(struct store *st);

/*
 * Raw packets: when opts.keep_raw is set, the pipeline hands every record to
 * store_raw_add() before decoding it, and each packet the model keeps can
 * give its bytes back (the packet detail's payload, pcap download). Raw
 * records live in chunks counted against the budget; the oldest chunks go
 * first when it is reached. Bytes returned are valid until the store lock
 * is released.
 */
struct store_raw {
    int64_t ts_ns;
    int linktype;
    const uint8_t *data;
    uint32_t caplen, wirelen;
};
/* Keep a copy of one record; later store_conn_add_packet() calls link their
 * packet to it until the next store_raw_add(). */
void store_raw_add(struct store *st, int64_t ts_ns, int linktype, const uint8_t *data,
                   uint32_t caplen, uint32_t wirelen);
/* The raw record of packet idx of c: 0, or -ENOENT when not kept. */
int store_packet_raw(struct store *st, struct store_conn *c, uint32_t idx, struct store_raw *out);
/* Every kept raw record in capture order; stops when cb returns non-zero
 * and returns that value, else 0. */
int store_raw_foreach(struct store *st, int (*cb)(void *ctx, const struct store_raw *r), void *ctx);

#endif
