/* SPDX-License-Identifier: MIT */
/*
 * export_json.c - the whole capture model as one JSON document.
 *
 * Last stage of the pipeline: reads the store (servers, connections, their
 * packets, events, state spans, series and HTTP messages) and streams it out
 * through jsonw, never changing it. The document is what the UI and the
 * golden tests read; every field is described in docs/json.md, and the names
 * listed under "Interfaces" in the design are a contract.
 *
 * This file also holds what the JSONL and HAR exporters share: the name
 * tables (analysis flags, connection states, TCP flag letters), address
 * formatting, header look-up and the message object.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "htracr/dns.h"
#include "htracr/export.h"
#include "htracr/jsonw.h"
#include "htracr/store.h"

/* Indexed by bit position of PKT_*. */
static const char *const analysis_names[] = {
    "retransmission",          /* PKT_RETRANS */
    "fast_retransmission",     /* PKT_FAST_RETRANS */
    "spurious_retransmission", /* PKT_SPURIOUS_RETRANS */
    "out_of_order",            /* PKT_OUT_OF_ORDER */
    "lost_segment",            /* PKT_LOST_SEGMENT */
    "ack_lost_segment",        /* PKT_ACKED_UNSEEN */
    "duplicate_ack",           /* PKT_DUP_ACK */
    "zero_window",             /* PKT_ZERO_WINDOW */
    "zero_window_probe",       /* PKT_ZERO_WINDOW_PROBE */
    "window_full",             /* PKT_WINDOW_FULL */
    "window_update",           /* PKT_WINDOW_UPDATE */
    "keep_alive",              /* PKT_KEEP_ALIVE */
    "syn_retry",               /* PKT_SYN_RETRY */
    "overlap_conflict",        /* PKT_OVERLAP_CONFLICT */
    "truncated",               /* PKT_TRUNCATED */
    "reset",                   /* PKT_RESET */
};

static const char *const state_names[STATE_COUNT] = {
    [STATE_HANDSHAKE] = "handshake",
    [STATE_ACTIVE] = "active",
    [STATE_IDLE] = "idle",
    [STATE_HALF_CLOSED] = "half_closed",
    [STATE_CLOSING] = "closing",
    [STATE_CLOSED] = "closed",
    [STATE_RESET] = "reset",
    [STATE_ZERO_WINDOW] = "zero_window",
    [STATE_RWND_LIMITED] = "rwnd_limited",
};

static const char *const series_names[SERIES_COUNT] = {
    [SERIES_RTT_C2S] = "rtt_c2s",       [SERIES_RTT_S2C] = "rtt_s2c",
    [SERIES_FLIGHT_C2S] = "flight_c2s", [SERIES_FLIGHT_S2C] = "flight_s2c",
    [SERIES_RWND_C2S] = "rwnd_c2s",     [SERIES_RWND_S2C] = "rwnd_s2c",
    [SERIES_CWND_C2S] = "cwnd_c2s",     [SERIES_CWND_S2C] = "cwnd_s2c",
};

const char *export_json_version(char buf[16], unsigned major, unsigned minor)
{
    if (!major && !minor)
        return NULL;
    if (major < 10 && minor < 10) {
        buf[0] = (char)('0' + major);
        buf[1] = '.';
        buf[2] = (char)('0' + minor);
        buf[3] = '\0';
    } else {
        snprintf(buf, 16, "%u.%u", major % 1000, minor % 1000);
    }
    return buf;
}

const char *export_json_analysis_name(uint32_t bit)
{
    for (unsigned i = 0; i < sizeof(analysis_names) / sizeof(analysis_names[0]); i++)
        if (bit == 1u << i)
            return analysis_names[i];
    return NULL;
}

const char *export_json_state_name(unsigned state)
{
    if (state < STATE_COUNT && state_names[state])
        return state_names[state];
    return "unknown";
}

const char *export_json_tcp_flags(unsigned flags, char *buf)
{
    /* tcpdump's order: FIN SYN RST PSH ACK URG ECE CWR */
    static const struct {
        unsigned bit;
        char c;
    } letters[] = {
        {TCPF_FIN, 'F'}, {TCPF_SYN, 'S'}, {TCPF_RST, 'R'}, {TCPF_PSH, 'P'},
        {TCPF_ACK, '.'}, {TCPF_URG, 'U'}, {TCPF_ECE, 'E'}, {TCPF_CWR, 'W'},
    };
    size_t n = 0;

    for (size_t i = 0; i < sizeof(letters) / sizeof(letters[0]); i++)
        if (flags & letters[i].bit)
            buf[n++] = letters[i].c;
    buf[n] = '\0';
    return buf;
}

const char *export_json_addr(const struct ip_addr *a, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    if (a->family != 4 && a->family != 6) {
        buf[0] = '\0';
        return buf;
    }
    return decode_addr_str(a, buf, len);
}

const char *export_json_header(const struct store_message *m, const char *name)
{
    int first = name[0] | 0x20;
    for (uint32_t i = 0; i < m->nheaders; i++) {
        const char *hn = m->headers[i].name;
        if (hn && (hn[0] | 0x20) == first && strcasecmp(hn, name) == 0)
            return m->headers[i].value ? m->headers[i].value : "";
    }
    return NULL;
}

static void export_json_dir(struct jsonw *w, const char *key, unsigned dir)
{
    jsonw_kstr(w, key, dir == DIR_C2S ? "c2s" : "s2c");
}

void export_json_message(struct jsonw *w, const struct store_message *m)
{
    int req = m->kind == MSG_REQUEST;
    char vbuf[16];
    char *p;
    const char *ver = export_json_version(vbuf, m->http_major, m->http_minor);
    jsonw_obj_open(w);
    jsonw_kuint(w, "id", m->id);
    /* Fixed members go out in runs straight into the writer's buffer; the
     * bytes are those jsonw_k* calls would write (see jsonw.h). */
    p = jsonw_run_begin(w, 256);
    if (req)
        JW_LIT_(p, ",\"kind\":\"request\"");
    else
        JW_LIT_(p, ",\"kind\":\"response\"");
    JW_INT(p, "start_us", m->start_us);
    JW_INT(p, "end_us", m->end_us);
    jsonw_run_end(w, p);
    jsonw_kstr(w, "method", req ? m->method : NULL);
    jsonw_kstr(w, "url", req ? m->url : NULL);
    /* unknown is null, never a made-up 0: no status line (an HTTP/0.9
     * answer, or one that did not parse) */
    jsonw_kstr(w, "version", ver);
    jsonw_key(w, "status");
    if (req || !m->status)
        jsonw_null(w);
    else
        jsonw_uint(w, m->status);
    jsonw_kstr(w, "reason", req ? NULL : m->reason);
    jsonw_key(w, "headers");
    jsonw_arr_open(w);
    for (uint32_t i = 0; i < m->nheaders; i++)
        jsonw_str_pair(w, m->headers[i].name ? m->headers[i].name : "",
                       m->headers[i].value ? m->headers[i].value : "");
    jsonw_arr_close(w);
    p = jsonw_run_begin(w, 512);
    JW_UINT(p, "headers_dropped", m->headers_dropped);
    JW_UINT(p, "header_bytes", m->header_bytes);
    JW_UINT(p, "body_bytes", m->body_bytes);
    JW_UINT(p, "gap_bytes", m->gap_bytes);
    JW_UINT(p, "skipped_bytes", m->skipped_bytes);
    jsonw_run_end(w, p);
    jsonw_kstr(w, "content_type", store_message_content_type(m));
    jsonw_kstr(w, "content_encoding", store_message_content_encoding(m));
    p = jsonw_run_begin(w, 1024);
    if (req) {
        JW_NULL(p, "request");
        JW_ID(p, "response", m->response);
    } else {
        JW_ID(p, "request", m->request);
        JW_NULL(p, "response");
    }
    JW_BOOL(p, "pipelined", m->pipelined);
    JW_BOOL(p, "headers_split", m->headers_split);
    JW_BOOL(p, "interim", m->interim);
    JW_BOOL(p, "upgrade", m->upgrade);
    JW_BOOL(p, "complete", m->complete);
    JW_UINT(p, "first_packet", m->first_packet);
    JW_UINT(p, "last_packet", m->last_packet);
    JW_UINT(p, "packets", m->packets);
    JW_INT_OPT(p, "round_trips", m->round_trips);
    JW_INT_OPT(p, "ttfb_us", req ? -1 : m->ttfb_us); /* a request's place holds its url */
    JW_INT_OPT(p, "stall_us", req ? -1 : m->stall_us);
    jsonw_run_end(w, p);
    jsonw_kstr(w, "error", m->error);
    p = jsonw_run_begin(w, 256);
    JW_UINT(p, "body_kept", m->body ? m->body_len : 0);
    JW_BOOL(p, "body_truncated", m->body_truncated);
    JW_BOOL(p, "body_decode_error", m->body_decode_error);
    jsonw_run_end(w, p);
    jsonw_obj_close(w);
}

void export_json_stats(struct jsonw *w, const struct store_stats *s)
{
    jsonw_key(w, "stats");
    jsonw_obj_open(w);
    jsonw_kuint(w, "packets", s->packets);
    jsonw_kuint(w, "bytes", s->bytes);
    jsonw_kuint(w, "dropped", s->dropped);
    jsonw_kuint(w, "connections", s->connections);
    jsonw_kuint(w, "requests", s->requests);
    jsonw_kuint(w, "responses", s->responses);
    jsonw_kuint(w, "evicted_connections", s->evicted_connections);
    jsonw_kuint(w, "evicted_open_connections", s->evicted_open);
    jsonw_kuint(w, "flows_evicted", s->flows_evicted);
    jsonw_kuint(w, "decode_errors", s->decode_errors);
    jsonw_kuint(w, "ignored_packets", s->ignored_packets);
    jsonw_kuint(w, "late_packets", s->late_packets);
    jsonw_kuint(w, "alloc_failures", s->alloc_failures);
    jsonw_kuint(w, "raw_evicted", s->raw_evicted);
    jsonw_kuint(w, "bodies_not_kept", s->bodies_not_kept);
    jsonw_kuint(w, "dns_messages", s->dns_messages);
    jsonw_kuint(w, "dns_bad", s->dns_bad);
    jsonw_kuint(w, "dns_evicted", s->dns_evicted);
    jsonw_obj_close(w);
}

/* Where server id is in v (n servers sorted by id), or -1. */
static int64_t server_index(struct store_server **v, uint32_t n, uint32_t id)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v[mid]->id == id)
            return mid;
        if (v[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Servers, each with the ids of its connections still in the store. The
 * connection ids are bucketed per server (counting sort over the servers'
 * places in id order), so the cost is that of sorting the servers allocated
 * plus a binary search a connection, whatever the ids handed out. */
int export_json_servers(struct jsonw *w, struct store *st)
{
    struct store_server **v = NULL;
    uint32_t nsrv = store_servers(st, &v);
    uint32_t *start = NULL;
    uint64_t *ids = NULL;
    size_t nconn = 0;
    int err = 0;

    for (struct store_conn *c = store_first(st); c; c = store_next(c))
        nconn++;
    start = calloc((size_t)nsrv + 2, sizeof(*start));
    ids = malloc((nconn ? nconn : 1) * sizeof(*ids));
    if (!v || !start || !ids) {
        err = -ENOMEM;
        goto out;
    }
    /* Each connection's server by its place in v (sorted by id): start[k + 2]
     * counts the connections of v[k], then the sums make start[k + 1] its
     * bucket's beginning, and filling moves that to its end. */
    for (struct store_conn *c = store_first(st); c; c = store_next(c)) {
        int64_t k = server_index(v, nsrv, c->server);
        if (k >= 0)
            start[k + 2]++;
    }
    for (uint32_t k = 1; k <= nsrv; k++)
        start[k + 1] += start[k];
    for (struct store_conn *c = store_first(st); c; c = store_next(c)) {
        int64_t k = server_index(v, nsrv, c->server);
        if (k >= 0)
            ids[start[k + 1]++] = c->id;
    }
    /* now start[k + 1] is the end of v[k]'s bucket and start[k] its
     * beginning */

    jsonw_key(w, "servers");
    jsonw_arr_open(w);
    for (uint32_t k = 0; k < nsrv; k++) {
        struct store_server *srv = v[k];
        char addr[64];
        size_t namelen;

        if (srv->idle)
            continue; /* no connection here is on it */
        const char *name = store_server_display_name(srv);
        namelen = strnlen(name, sizeof(srv->name));
        jsonw_obj_open(w);
        jsonw_kuint(w, "id", srv->id);
        jsonw_kstr(w, "addr", export_json_addr(&srv->addr, addr, sizeof(addr)));
        jsonw_kuint(w, "port", srv->port);
        jsonw_key(w, "name");
        if (namelen)
            jsonw_strn(w, name, namelen);
        else
            jsonw_null(w);
        jsonw_kstr(w, "dns_name", srv->dns_name[0] ? srv->dns_name : NULL);
        jsonw_key(w, "connections");
        jsonw_arr_open(w);
        for (uint32_t i = start[k]; i < start[k + 1]; i++)
            jsonw_uint(w, ids[i]);
        jsonw_arr_close(w);
        jsonw_obj_close(w);
    }
    jsonw_arr_close(w);
out:
    free(v);
    free(start);
    free(ids);
    return err;
}

void export_json_packet(struct jsonw *w, const struct store_conn *c, const struct store_packet *p)
{
    jsonw_obj_open(w);
    export_json_packet_members(w, c, p);
    jsonw_obj_close(w);
}

void export_json_packet_members(struct jsonw *w, const struct store_conn *c,
                                const struct store_packet *p)
{
    char flags[16];

    jsonw_kint(w, "ts_us", p->ts_us);
    export_json_dir(w, "dir", p->dir);
    jsonw_kstr(w, "flags", export_json_tcp_flags(p->flags, flags));
    jsonw_kuint(w, "seq", p->seq);
    jsonw_key(w, "ack");
    if (p->flags & TCPF_ACK)
        jsonw_uint(w, p->ack);
    else
        jsonw_null(w);
    jsonw_kuint(w, "len", p->len);
    jsonw_kuint(w, "win", p->win);
    jsonw_kid(w, "msg", store_packet_msg(c, p));
    if (p->analysis) {
        jsonw_key(w, "analysis");
        jsonw_arr_open(w);
        for (unsigned i = 0; i < 32; i++) {
            const char *name;
            if (!(p->analysis & (1u << i)))
                continue;
            name = export_json_analysis_name(1u << i);
            /* a bit this version has no name for still shows up */
            if (name)
                jsonw_str(w, name);
            else
                jsonw_uint(w, 1u << i);
        }
        jsonw_arr_close(w);
    }
}

static void series_point(struct jsonw *w, const struct store_point *p)
{
    jsonw_arr_open(w);
    jsonw_int(w, p->ts_us);
    jsonw_int(w, p->value);
    jsonw_arr_close(w);
}

/* "rtt": the samples of both directions in time order, each once. A merge
 * of the two series as they are: should a capture's clock have gone
 * backwards in one, the output is out of order there too, but no point is
 * lost or repeated (each series is walked once, front to back). Ties go
 * to c2s. */
static void rtt_merged(struct jsonw *w, const struct store_series *a, const struct store_series *b)
{
    uint32_t i = 0, j = 0;
    jsonw_key(w, "rtt");
    jsonw_arr_open(w);
    while (i < a->n || j < b->n) {
        if (j >= b->n || (i < a->n && a->v[i].ts_us <= b->v[j].ts_us))
            series_point(w, &a->v[i++]);
        else
            series_point(w, &b->v[j++]);
    }
    jsonw_arr_close(w);
}

void export_json_conn(struct jsonw *w, const struct store_conn *c,
                      void (*packet)(struct jsonw *w, const struct store_conn *c,
                                     const struct store_packet *p),
                      int merged_rtt)
{
    export_json_conn_from(w, c, packet, NULL, merged_rtt, NULL);
}

void export_json_conn_from(struct jsonw *w, const struct store_conn *c,
                           void (*packet)(struct jsonw *w, const struct store_conn *c,
                                          const struct store_packet *p),
                           void (*message)(struct jsonw *w, const struct store_conn *c, uint32_t i),
                           int merged_rtt, const struct store_mark *from)
{
    const struct store_conn_stats *s = &c->stats;
    static const struct store_mark whole;
    const struct store_mark *f = from ? from : &whole;
    char addr[64];

    jsonw_obj_open(w);
    jsonw_kuint(w, "id", c->id);
    jsonw_kuint(w, "server", c->server);
    jsonw_kstr(w, "client_addr", export_json_addr(&c->client_addr, addr, sizeof(addr)));
    jsonw_kuint(w, "client_port", c->client_port);
    jsonw_kstr(w, "server_addr", export_json_addr(&c->server_addr, addr, sizeof(addr)));
    jsonw_kuint(w, "server_port", c->server_port);
    jsonw_kint(w, "start_us", c->start_us);
    jsonw_kint(w, "end_us", c->end_us);
    jsonw_kint_opt(w, "handshake_rtt_us", c->handshake_rtt_us);
    jsonw_kstr(w, "close", c->close == CLOSE_FIN ? "fin" : c->close == CLOSE_RST ? "rst" : "open");
    jsonw_kbool(w, "midstream", c->midstream);
    if (from) {
        /* Only what follows these: the reader has the rest (docs/api.md). */
        jsonw_key(w, "tail");
        jsonw_obj_open(w);
        jsonw_kuint(w, "states", f->states);
        jsonw_kuint(w, "events", f->events);
        jsonw_kuint(w, "packets", f->packets);
        jsonw_kuint(w, "messages", f->messages);
        jsonw_key(w, "series");
        jsonw_obj_open(w);
        for (int k = 0; k < SERIES_COUNT; k++)
            jsonw_kuint(w, series_names[k], f->series[k]);
        jsonw_obj_close(w);
        jsonw_obj_close(w);
    }

    jsonw_key(w, "states");
    jsonw_arr_open(w);
    for (uint32_t i = f->states; i < c->nstates; i++) {
        jsonw_obj_open(w);
        jsonw_kstr(w, "state", export_json_state_name(c->states[i].state));
        jsonw_kint(w, "start_us", c->states[i].start_us);
        jsonw_kint(w, "end_us", c->states[i].end_us);
        jsonw_obj_close(w);
    }
    jsonw_arr_close(w);

    jsonw_key(w, "events");
    jsonw_arr_open(w);
    for (uint32_t i = f->events; i < c->nevents; i++) {
        const struct store_event *e = &c->events[i];
        const char *name = export_json_analysis_name(e->type);
        jsonw_obj_open(w);
        jsonw_key(w, "type");
        if (name)
            jsonw_str(w, name);
        else
            jsonw_uint(w, e->type);
        export_json_dir(w, "dir", e->dir);
        jsonw_kuint(w, "packet", e->packet);
        if (e->type == PKT_DUP_ACK)
            jsonw_kuint(w, "count", e->count);
        jsonw_kint(w, "ts_us", e->ts_us);
        jsonw_obj_close(w);
    }
    jsonw_arr_close(w);

    jsonw_key(w, "stats");
    jsonw_obj_open(w);
    jsonw_kuint(w, "packets_c2s", s->packets[DIR_C2S]);
    jsonw_kuint(w, "packets_s2c", s->packets[DIR_S2C]);
    jsonw_kuint(w, "bytes_c2s", s->bytes[DIR_C2S]);
    jsonw_kuint(w, "bytes_s2c", s->bytes[DIR_S2C]);
    jsonw_kuint(w, "retransmits_c2s", s->retransmits[DIR_C2S]);
    jsonw_kuint(w, "retransmits_s2c", s->retransmits[DIR_S2C]);
    jsonw_kuint(w, "out_of_order", s->out_of_order);
    jsonw_kuint(w, "dup_acks", s->dup_acks);
    jsonw_kuint(w, "zero_windows", s->zero_windows);
    jsonw_kuint(w, "resets", s->resets);
    jsonw_kuint(w, "gap_bytes_c2s", s->gap_bytes[DIR_C2S]);
    jsonw_kuint(w, "gap_bytes_s2c", s->gap_bytes[DIR_S2C]);
    jsonw_kuint(w, "skipped_bytes_c2s", s->skipped_bytes[DIR_C2S]);
    jsonw_kuint(w, "skipped_bytes_s2c", s->skipped_bytes[DIR_S2C]);
    jsonw_kuint(w, "overlap_conflicts", s->overlap_conflicts);
    jsonw_kuint(w, "http_resyncs_c2s", s->http_resyncs[DIR_C2S]);
    jsonw_kuint(w, "http_resyncs_s2c", s->http_resyncs[DIR_S2C]);
    jsonw_kuint(w, "http_skipped_c2s", s->http_skipped[DIR_C2S]);
    jsonw_kuint(w, "http_skipped_s2c", s->http_skipped[DIR_S2C]);
    /* over all samples (-1), then per direction of the timed segment */
    static const char *const rtt_keys[3][3] = {
        {"rtt_min_us", "rtt_avg_us", "rtt_max_us"},
        {"rtt_c2s_min_us", "rtt_c2s_avg_us", "rtt_c2s_max_us"},
        {"rtt_s2c_min_us", "rtt_s2c_avg_us", "rtt_s2c_max_us"},
    };
    for (int d = -1; d < 2; d++) {
        jsonw_kint_opt(w, rtt_keys[d + 1][0], store_rtt_min(s, d));
        jsonw_kint_opt(w, rtt_keys[d + 1][1], store_rtt_avg(s, d));
        jsonw_kint_opt(w, rtt_keys[d + 1][2], store_rtt_max(s, d));
    }
    jsonw_kuint(w, "rtt_ts_samples", s->rtt_ts_samples);
    jsonw_obj_close(w);

    jsonw_key(w, "packets");
    jsonw_arr_open(w);
    for (uint32_t i = f->packets; i < c->npackets; i++)
        packet(w, c, &c->packets[i]);
    jsonw_arr_close(w);

    jsonw_key(w, "series");
    jsonw_obj_open(w);
    /* The merged "rtt" is the --json document's alone: the API's compact
     * model leaves it out, as the UI draws the two directions and it would
     * double the samples sent. */
    if (merged_rtt)
        rtt_merged(w, &c->series[SERIES_RTT_C2S], &c->series[SERIES_RTT_S2C]);
    for (int k = 0; k < SERIES_COUNT; k++) {
        const struct store_series *sr = &c->series[k];
        jsonw_key(w, series_names[k]);
        jsonw_arr_open(w);
        for (uint32_t i = f->series[k]; i < sr->n; i++)
            series_point(w, &sr->v[i]);
        jsonw_arr_close(w);
    }
    jsonw_obj_close(w);

    jsonw_key(w, "messages");
    jsonw_arr_open(w);
    for (uint32_t i = f->messages; i < c->nmessages; i++) {
        if (message)
            message(w, c, i);
        else
            export_json_message(w, c->messages[i]);
    }
    jsonw_arr_close(w);
    jsonw_obj_close(w);
}

static const char *qtype_name(unsigned t, char buf[16])
{
    switch (t) {
    case 1: return "A";
    case 5: return "CNAME";
    case 28: return "AAAA";
    case 65: return "HTTPS";
    default: snprintf(buf, 16, "TYPE%u", t); return buf;
    }
}

void export_json_dns(struct jsonw *w, struct store *st)
{
    uint32_t n = store_dns_count(st);
    char a[64], t[16];
    jsonw_key(w, "dns");
    jsonw_arr_open(w);
    for (uint32_t i = 0; i < n; i++) {
        const struct store_dns *e = store_dns_at(st, i);
        jsonw_obj_open(w);
        jsonw_kuint(w, "id", e->id);
        jsonw_kstr(w, "name", e->qname);
        jsonw_kstr(w, "type", qtype_name(e->qtype, t));
        jsonw_kint_opt(w, "query_us", e->query_us);
        jsonw_kint_opt(w, "answer_us", e->answer_us);
        jsonw_kint_opt(w, "latency_us",
                       e->query_us >= 0 && e->answer_us >= 0 ? e->answer_us - e->query_us : -1);
        jsonw_kstr(w, "client_addr", export_json_addr(&e->client, a, sizeof(a)));
        jsonw_kuint(w, "client_port", e->client_port);
        jsonw_kstr(w, "resolver", export_json_addr(&e->resolver, a, sizeof(a)));
        jsonw_key(w, "rcode");
        if (e->answered)
            jsonw_str(w, dns_rcode_name(e->rcode));
        else
            jsonw_null(w);
        jsonw_kstr(w, "cname", e->cname[0] ? e->cname : NULL);
        jsonw_key(w, "addrs");
        jsonw_arr_open(w);
        for (uint32_t k = 0; k < e->naddrs; k++)
            jsonw_str(w, export_json_addr(&e->addrs[k], a, sizeof(a)));
        jsonw_arr_close(w);
        jsonw_obj_close(w);
    }
    jsonw_arr_close(w);
}

int export_json(struct store *st, FILE *f)
{
    struct jsonw w;
    int err;

    jsonw_init(&w, f);
    jsonw_obj_open(&w);
    jsonw_kint(&w, "version", EXPORT_JSON_VERSION);
    jsonw_kstr(&w, "source", store_source(st));
    jsonw_kint_opt(&w, "start_us", store_start_us(st)); /* -1 before any packet */
    jsonw_kint_opt(&w, "end_us", store_end_us(st));
    export_json_stats(&w, store_stats(st));
    err = export_json_servers(&w, st);
    if (err)
        return err;
    jsonw_key(&w, "connections");
    jsonw_arr_open(&w);
    for (struct store_conn *c = store_first(st); c; c = store_next(c))
        export_json_conn(&w, c, export_json_packet, 1);
    jsonw_arr_close(&w);
    export_json_dns(&w, st);
    jsonw_obj_close(&w);
    jsonw_newline(&w);
    return jsonw_finish(&w);
}
