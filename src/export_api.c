/* SPDX-License-Identifier: MIT */
/*
 * export_api.c - the web API's JSON documents (docs/api.md).
 *
 * Last stage of the pipeline, beside export_json.c, and read-only on the
 * store like it: the server calls these under the store lock, into a memory
 * buffer it sends once the lock is released. The timeline's model differs
 * from --json in these ways only: it can hold just the connections changed
 * since a sequence number the page already has (store_touch() stamps each
 * change with c->mod_seq), or only what a connection gained (tails);
 * packets are arrays with the analysis flags as a bit mask, which makes a
 * 200k-packet model a fraction of the size and quick for the page to
 * parse, and messages can be arrays too (rows), whose headers may name
 * those of the message before; the series leave out "rtt" (the two
 * directions' samples merged: the page has them as rtt_c2s and rtt_s2c).
 * Everything else (connection fields, states, events, stats, the other
 * series, message objects, servers) is spelled exactly as export_json.c
 * spells it, through the helpers export.h shares.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "htracr/capture.h"
#include "htracr/decode.h"
#include "htracr/export.h"
#include "htracr/export_api.h"
#include "htracr/jsonw.h"
#include "htracr/server.h"
#include "htracr/store.h"

/* Version of the /api/model document. */
#define EXPORT_API_VERSION 1

/* The writer is 64 KiB: keep it off civetweb's worker thread stacks. */
static struct jsonw *api_writer(FILE *f)
{
    struct jsonw *w = malloc(sizeof(*w));
    if (w)
        jsonw_init(w, f);
    return w;
}

static int api_finish(struct jsonw *w)
{
    int err = jsonw_finish(w);
    free(w);
    return err;
}

/* [ts_us, dir, flags, seq, ack, len, win, msg, analysis]; ts_us from the
 * connection's start_us when base is it (EXPORT_API_REL), else 0. */
static void api_packet_array(struct jsonw *w, const struct store_conn *c,
                             const struct store_packet *p, int64_t base)
{
    char flags[16];

    jsonw_arr_open(w);
    jsonw_int(w, p->ts_us - base);
    jsonw_uint(w, p->dir);
    jsonw_str(w, export_json_tcp_flags(p->flags, flags));
    jsonw_uint(w, p->seq);
    if (p->flags & TCPF_ACK)
        jsonw_uint(w, p->ack);
    else
        jsonw_token(w, "null", 4);
    jsonw_uint(w, p->len);
    jsonw_uint(w, p->win);
    uint64_t msg = store_packet_msg(c, p);
    if (msg)
        jsonw_uint(w, msg);
    else
        jsonw_token(w, "null", 4);
    jsonw_uint(w, p->analysis);
    jsonw_arr_close(w);
}

static void api_packet_compact(struct jsonw *w, const struct store_conn *c,
                               const struct store_packet *p)
{
    api_packet_array(w, c, p, 0);
}

static void api_packet_rel(struct jsonw *w, const struct store_conn *c,
                           const struct store_packet *p)
{
    api_packet_array(w, c, p, c->start_us);
}

/* The members of a message row, in order (docs/api.md): json.md's message
 * object's, with kind 0 (request) or 1 (response), booleans 0 or 1, and
 * headers 1 when they are those of the message of its kind before it. */
static const char *const row_fields[] = {
    "id",
    "kind",
    "start_us",
    "end_us",
    "method",
    "url",
    "version",
    "status",
    "reason",
    "headers",
    "headers_dropped",
    "header_bytes",
    "body_bytes",
    "gap_bytes",
    "skipped_bytes",
    "content_type",
    "content_encoding",
    "request",
    "response",
    "pipelined",
    "headers_split",
    "interim",
    "upgrade",
    "complete",
    "first_packet",
    "last_packet",
    "packets",
    "round_trips",
    "ttfb_us",
    "stall_us",
    "error",
    "body_kept",
    "body_truncated",
    "body_decode_error",
};

/* How far back a message's headers are compared with those of the one of
 * its kind before it: requests and responses alternate, so 2 unless a
 * pipeline or 1xx answers stand between them. */
#define ROW_SAME_BACK 8

/* 1 when message i of c has the same header lines, in the same order, as
 * the message of its kind before it in c (a repeated header block shares
 * the array: http.c), so its row says 1 for them. */
static int row_headers_repeat(const struct store_conn *c, uint32_t i)
{
    const struct store_message *m = c->messages[i];
    if (!m->nheaders || !m->headers)
        return 0;
    for (uint32_t k = i, n = 0; k-- > 0 && n < ROW_SAME_BACK; n++) {
        const struct store_message *q = c->messages[k];
        if (q->kind != m->kind)
            continue;
        if (q->nheaders != m->nheaders || !q->headers)
            return 0;
        if (q->headers == m->headers)
            return 1;
        for (uint32_t j = 0; j < m->nheaders; j++) {
            const struct store_header *a = &m->headers[j], *b = &q->headers[j];
            if (strcmp(a->name ? a->name : "", b->name ? b->name : "") ||
                strcmp(a->value ? a->value : "", b->value ? b->value : ""))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* Values of a row after its first, straight into the writer's buffer. */
#define ROW_U(p, v) (*(p)++ = ',', (p) = jsonw_put_u64((p), (v)))
#define ROW_I(p, v) (*(p)++ = ',', (p) = jsonw_put_i64((p), (v)))
#define ROW_NULL(p) JW_LIT_(p, ",null")
#define ROW_ID(p, v)                                                                               \
    do {                                                                                           \
        uint64_t v_ = (v);                                                                         \
        if (v_)                                                                                    \
            ROW_U(p, v_);                                                                          \
        else                                                                                       \
            ROW_NULL(p);                                                                           \
    } while (0)
#define ROW_OPT(p, v)                                                                              \
    do {                                                                                           \
        int64_t v_ = (v);                                                                          \
        if (v_ == -1)                                                                              \
            ROW_NULL(p);                                                                           \
        else                                                                                       \
            ROW_I(p, v_);                                                                          \
    } while (0)

/* Message i of c as a row of row_fields; rel (EXPORT_API_REL): its
 * start_us from the connection's start_us, its end_us from its own start. */
static void api_message_array(struct jsonw *w, const struct store_conn *c, uint32_t i, int rel)
{
    const struct store_message *m = c->messages[i];
    int req = m->kind == MSG_REQUEST;
    char vbuf[16];
    char *p;

    jsonw_arr_open(w);
    jsonw_uint(w, m->id);
    p = jsonw_run_begin(w, 128);
    ROW_U(p, req ? 0 : 1);
    ROW_I(p, rel ? m->start_us - c->start_us : m->start_us);
    ROW_I(p, rel ? m->end_us - m->start_us : m->end_us);
    jsonw_run_end(w, p);
    jsonw_str(w, req ? m->method : NULL);
    jsonw_str(w, req ? m->url : NULL);
    jsonw_str(w, export_json_version(vbuf, m->http_major, m->http_minor));
    if (req || !m->status)
        jsonw_null(w);
    else
        jsonw_uint(w, m->status);
    jsonw_str(w, req ? NULL : m->reason);
    if (row_headers_repeat(c, i)) {
        jsonw_uint(w, 1);
    } else {
        jsonw_arr_open(w);
        for (uint32_t j = 0; j < m->nheaders; j++)
            jsonw_str_pair(w, m->headers[j].name ? m->headers[j].name : "",
                           m->headers[j].value ? m->headers[j].value : "");
        jsonw_arr_close(w);
    }
    p = jsonw_run_begin(w, 128);
    ROW_U(p, m->headers_dropped);
    ROW_U(p, m->header_bytes);
    ROW_U(p, m->body_bytes);
    ROW_U(p, m->gap_bytes);
    ROW_U(p, m->skipped_bytes);
    jsonw_run_end(w, p);
    jsonw_str(w, store_message_content_type(m));
    jsonw_str(w, store_message_content_encoding(m));
    p = jsonw_run_begin(w, 512);
    if (req) {
        ROW_NULL(p);
        ROW_ID(p, m->response);
    } else {
        ROW_ID(p, m->request);
        ROW_NULL(p);
    }
    ROW_U(p, m->pipelined);
    ROW_U(p, m->headers_split);
    ROW_U(p, m->interim);
    ROW_U(p, m->upgrade);
    ROW_U(p, m->complete);
    ROW_U(p, m->first_packet);
    ROW_U(p, m->last_packet);
    ROW_U(p, m->packets);
    ROW_OPT(p, m->round_trips);
    ROW_OPT(p, req ? -1 : m->ttfb_us);
    ROW_OPT(p, req ? -1 : m->stall_us);
    jsonw_run_end(w, p);
    jsonw_str(w, m->error);
    p = jsonw_run_begin(w, 64);
    ROW_U(p, m->body ? m->body_len : 0);
    ROW_U(p, m->body_truncated);
    ROW_U(p, m->body_decode_error);
    jsonw_run_end(w, p);
    jsonw_arr_close(w);
}

static void api_message_row(struct jsonw *w, const struct store_conn *c, uint32_t i)
{
    api_message_array(w, c, i, 0);
}

static void api_message_row_rel(struct jsonw *w, const struct store_conn *c, uint32_t i)
{
    api_message_array(w, c, i, 1);
}

int export_api_model(struct store *st, uint64_t have_gen, uint64_t since, uint64_t have_reply,
                     unsigned opts, FILE *f, int (*yield)(void *ctx), void *ctx)
{
    int tails = !!(opts & EXPORT_API_TAILS), rel = !!(opts & EXPORT_API_REL);
    void (*row)(struct jsonw *, const struct store_conn *, uint32_t) = NULL;
    if (opts & EXPORT_API_ROWS)
        row = rel ? api_message_row_rel : api_message_row;
    uint64_t gen = store_generation(st);
    int full = have_gen != gen;
    struct jsonw *w = api_writer(f);
    size_t work = 0;
    int err;

    if (!w)
        return -ENOMEM;
    jsonw_obj_open(w);
    jsonw_kint(w, "version", EXPORT_API_VERSION);
    jsonw_kuint(w, "generation", gen);
    jsonw_kuint(w, "seq", store_seq(st));
    uint64_t reply = store_reply_next(st);
    jsonw_kuint(w, "reply", reply);
    if (full)
        have_reply = 0;
    jsonw_kbool(w, "full", full);
    if (rel)
        jsonw_kbool(w, "relative", 1);
    if (opts & EXPORT_API_ROWS) {
        jsonw_key(w, "message_fields");
        jsonw_arr_open(w);
        for (size_t i = 0; i < sizeof(row_fields) / sizeof(row_fields[0]); i++)
            jsonw_str(w, row_fields[i]);
        jsonw_arr_close(w);
    }
    /* The connections first: the lock may be let go between them. What
     * sums them up (servers, ids, stats) comes after, from the store as it
     * is at the end. */
    jsonw_key(w, "connections");
    jsonw_arr_open(w);
    for (struct store_conn *c = store_first(st); c; c = store_next(c)) {
        if (full || c->mod_seq > since) {
            const struct store_mark *from =
                tails && !full ? store_conn_mark_find(c, since, have_reply) : NULL;
            export_json_conn_from(w, c, rel ? api_packet_rel : api_packet_compact, row, 0, from);
            work += (size_t)c->npackets + c->nmessages + 1;
            if (from)
                work -= (size_t)from->packets + from->messages; /* each <= its count */
            if (tails)
                (void)store_conn_mark(st, c, full ? 0 : since, have_reply,
                                      reply); /* failed: counted, whole */
        }
        if (yield && work >= EXPORT_API_YIELD_WORK) {
            work = 0;
            store_pin(st, c);
            yield(ctx);
            const struct store_conn *still = store_pinned(st);
            store_pin(st, NULL);
            if (still != c || store_generation(st) != gen) {
                free(w);
                return -EAGAIN;
            }
        }
    }
    jsonw_arr_close(w);
    jsonw_kstr(w, "source", store_source(st));
    jsonw_kint_opt(w, "start_us", store_start_us(st));
    jsonw_kint_opt(w, "end_us", store_end_us(st));
    export_json_stats(w, store_stats(st));
    jsonw_key(w, "analysis_names");
    jsonw_arr_open(w);
    for (unsigned i = 0; i < 32; i++) {
        const char *name = export_json_analysis_name(1u << i);
        if (!name)
            break;
        jsonw_str(w, name);
    }
    jsonw_arr_close(w);
    err = export_json_servers(w, st);
    if (err) {
        free(w);
        return err;
    }
    jsonw_key(w, "connection_ids");
    jsonw_arr_open(w);
    for (struct store_conn *c = store_first(st); c; c = store_next(c))
        jsonw_uint(w, c->id);
    jsonw_arr_close(w);
    export_json_dns(w, st);
    jsonw_obj_close(w);
    jsonw_newline(w);
    return api_finish(w);
}

struct store_conn *export_api_find_conn(struct store *st, uint64_t conn_id)
{
    /* store order is creation order, so ids ascend along the list */
    for (struct store_conn *c = store_first(st); c && c->id <= conn_id; c = store_next(c))
        if (c->id == conn_id)
            return c;
    return NULL;
}

struct store_conn *export_api_find_message(struct store *st, uint64_t msg_id,
                                           struct store_message **m)
{
    *m = NULL;
    if (msg_id == 0)
        return NULL;
    for (struct store_conn *c = store_first(st); c; c = store_next(c)) {
        if (!c->nmessages || c->messages[0]->id > msg_id ||
            c->messages[c->nmessages - 1]->id < msg_id)
            continue;
        *m = store_conn_message(c, msg_id);
        if (*m)
            return c;
    }
    return NULL;
}

int export_api_packet(struct store *st, uint64_t conn_id, uint32_t idx, FILE *f, char *errbuf,
                      size_t errlen)
{
    static const char hex[] = "0123456789abcdef";
    struct store_conn *c = export_api_find_conn(st, conn_id);
    struct store_packet *p;
    struct store_raw raw;
    struct capture_rec rec;
    struct decoded d;
    struct decode_stats ds;
    const uint8_t *payload = NULL;
    uint32_t plen = 0;
    char *text = NULL;
    struct jsonw *w = NULL;
    int err;

    if (!c) {
        snprintf(errbuf, errlen,
                 "no connection %llu in the model (evicted, cleared, or never seen)",
                 (unsigned long long)conn_id);
        return -ENOENT;
    }
    p = store_conn_pkt(c, idx);
    if (!p) {
        snprintf(errbuf, errlen, "connection %llu has no packet %u", (unsigned long long)conn_id,
                 idx);
        return -ENOENT;
    }
    if (store_packet_raw(st, c, idx, &raw) < 0) {
        snprintf(errbuf, errlen,
                 "the bytes of packet %u of connection %llu were not kept (raw packets are "
                 "not kept by this run, or were dropped to stay within the memory budget)",
                 idx, (unsigned long long)conn_id);
        return -ENOENT;
    }
    memset(&rec, 0, sizeof(rec));
    memset(&ds, 0, sizeof(ds));
    rec.ts_ns = raw.ts_ns;
    rec.linktype = raw.linktype;
    rec.data = raw.data;
    rec.caplen = raw.caplen;
    rec.wirelen = raw.wirelen;
    if (decode_packet(&rec, &d, &ds) == DECODE_TCP && d.payload) {
        payload = d.payload;
        plen = d.cap_len;
    }
    /* hex first, then text, each built in one buffer of 2 * plen + 1 */
    text = malloc((size_t)plen * 2 + 1);
    w = api_writer(f);
    if (!text || !w) {
        err = -ENOMEM;
        goto out;
    }
    jsonw_obj_open(w);
    jsonw_kuint(w, "conn", conn_id);
    jsonw_kuint(w, "idx", idx);
    export_json_packet_members(w, c, p);
    jsonw_kuint(w, "caplen", raw.caplen);
    jsonw_kuint(w, "wirelen", raw.wirelen);
    jsonw_kuint(w, "payload_len", plen);
    for (uint32_t i = 0; i < plen; i++) {
        text[2 * i] = hex[payload[i] >> 4];
        text[2 * i + 1] = hex[payload[i] & 15];
    }
    jsonw_key(w, "payload_hex");
    jsonw_strn(w, text, (size_t)plen * 2);
    for (uint32_t i = 0; i < plen; i++)
        text[i] = payload[i] >= 0x20 && payload[i] < 0x7f ? (char)payload[i] : '.';
    jsonw_key(w, "payload_text");
    jsonw_strn(w, text, plen);
    jsonw_obj_close(w);
    jsonw_newline(w);
    err = api_finish(w);
    w = NULL;
out:
    free(w);
    free(text);
    return err;
}

static void api_status_stats(struct jsonw *w, struct store *st, const struct server_status *ss)
{
    const struct store_stats *s = store_stats(st);

    jsonw_key(w, "stats");
    jsonw_obj_open(w);
    jsonw_kuint(w, "packets", s->packets);
    jsonw_kuint(w, "bytes", s->bytes);
    jsonw_kuint(w, "dropped", s->dropped); /* the model's: since it began */
    jsonw_kuint(w, "ring_drops", ss->ring_drops);
    jsonw_kuint(w, "socket_drops", ss->socket_drops);
    jsonw_kuint(w, "skipped_bytes", ss->skipped_bytes);
    jsonw_kuint(w, "held", ss->held);
    jsonw_kuint(w, "left_out", ss->left_out);
    jsonw_kuint(w, "decode_errors", s->decode_errors);
    jsonw_kuint(w, "connections", s->connections);
    jsonw_kuint(w, "requests", s->requests);
    jsonw_kuint(w, "responses", s->responses);
    jsonw_kuint(w, "evicted_connections", s->evicted_connections);
    jsonw_kuint(w, "evicted_open_connections", s->evicted_open);
    jsonw_kuint(w, "flows_evicted", s->flows_evicted);
    jsonw_kuint(w, "alloc_failures", s->alloc_failures);
    jsonw_obj_close(w);
}

static void api_memory(struct jsonw *w, struct store *st, const struct server_status *ss)
{
    jsonw_key(w, "memory");
    jsonw_obj_open(w);
    jsonw_kuint(w, "used", ss->memory_used ? ss->memory_used : store_memory(st));
    jsonw_kuint(w, "budget",
                ss->memory_budget ? ss->memory_budget : store_get_opts(st)->max_memory);
    jsonw_obj_close(w);
}

int export_api_status(struct store *st, const struct server_status *ss, FILE *f)
{
    struct jsonw *w = api_writer(f);
    const char *source = ss->source[0] ? ss->source : store_source(st);

    if (!w)
        return -ENOMEM;
    jsonw_obj_open(w);
    jsonw_kstr(w, "version", HTRACR_VERSION);
    jsonw_kbool(w, "live", ss->live);
    jsonw_kbool(w, "capturing", ss->capturing);
    jsonw_kstr(w, "source", source);
    jsonw_kstr(w, "backend", ss->backend);
    jsonw_kstr(w, "attach", ss->attach);
    jsonw_kstr(w, "iface", ss->iface);
    jsonw_key(w, "ports");
    jsonw_arr_open(w);
    for (int i = 0; i < ss->nports && i < SERVER_MAX_PORTS; i++)
        jsonw_uint(w, ss->ports[i]);
    jsonw_arr_close(w);
    jsonw_kuint(w, "generation", store_generation(st));
    jsonw_kuint(w, "seq", store_seq(st));
    api_status_stats(w, st, ss);
    api_memory(w, st, ss);
    jsonw_obj_close(w);
    jsonw_newline(w);
    return api_finish(w);
}

int export_api_feed(struct store *st, const struct server_status *ss, FILE *f)
{
    struct jsonw *w = api_writer(f);

    if (!w)
        return -ENOMEM;
    jsonw_obj_open(w);
    jsonw_kuint(w, "generation", store_generation(st));
    jsonw_kuint(w, "seq", store_seq(st));
    if (ss) {
        jsonw_kbool(w, "live", ss->live);
        jsonw_kbool(w, "capturing", ss->capturing);
        api_status_stats(w, st, ss);
        api_memory(w, st, ss);
    }
    jsonw_obj_close(w);
    return api_finish(w);
}
