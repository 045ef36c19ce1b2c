/* SPDX-License-Identifier: MIT */
/*
 * export_jsonl.c - one JSON line per HTTP transaction, for jq and log shippers.
 *
 * Last stage of the pipeline, and the one that works in the store's stream
 * mode: the CLI calls export_jsonl_conn() from the store's on_finish callback,
 * so each connection is written and freed as soon as it ends and memory stays
 * flat on any capture size. A transaction is a request and its final response
 * (paired by the HTTP stage through the messages' request/response ids), with
 * the 1xx interim responses it got, timings taken from message times, and the
 * connection's TCP facts. A request nobody answered, and a response whose
 * request was not captured, are lines too. Fields: docs/json.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "htracr/export.h"
#include "htracr/jsonw.h"
#include "htracr/store.h"

/* b - a, or null when either end is unset. Message times are never 0 in a
 * real capture (µs since 1970), so 0 or -1 mean unknown. */
static void export_jsonl_kspan(struct jsonw *w, const char *key, int64_t a, int64_t b)
{
    jsonw_key(w, key);
    if (a <= 0 || b <= 0)
        jsonw_null(w);
    else
        jsonw_int(w, b - a);
}

/* Does resp (a response) belong to some request's line of c? A final
 * response does when its request names it as the final response; an interim
 * one when its request exists. Otherwise it gets a line of its own. */
static int export_jsonl_covered(const struct store_conn *c, const struct store_message *resp)
{
    const struct store_message *req;

    if (!resp->request)
        return 0;
    req = store_conn_message(c, resp->request);
    if (!req || req->kind != MSG_REQUEST)
        return 0;
    if (resp->interim)
        return 1;
    return req->response == resp->id;
}

/* Per connection, for its lines: the 1xx responses sorted by the request
 * they answer, so each line finds its own with a binary search (a
 * connection may carry 100 000 pipelined requests: no scan per line). */
struct line_index {
    const struct store_message **v;
    uint32_t n;
    int rtt_sorted[2]; /* that direction's RTT samples are in time order: binary search */
};

static int interim_cmp(const void *a, const void *b)
{
    const struct store_message *x = *(const struct store_message *const *)a;
    const struct store_message *y = *(const struct store_message *const *)b;
    if (x->request != y->request)
        return x->request < y->request ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int line_index_build(struct line_index *ix, const struct store_conn *c)
{
    ix->v = NULL;
    ix->n = 0;
    /* A long kept connection has many lines and many samples: find each
     * line's samples by binary search, unless the capture's clock went
     * backwards somewhere (then every line scans them all). */
    for (int d = 0; d < 2; d++) {
        const struct store_series *rs = &c->series[d == DIR_C2S ? SERIES_RTT_C2S : SERIES_RTT_S2C];
        ix->rtt_sorted[d] = 1;
        for (uint32_t i = 1; i < rs->n && ix->rtt_sorted[d]; i++)
            ix->rtt_sorted[d] = rs->v[i].ts_us >= rs->v[i - 1].ts_us;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->nmessages; i++)
        n += c->messages[i]->kind == MSG_RESPONSE && c->messages[i]->interim;
    if (!n)
        return 0;
    ix->v = malloc(n * sizeof(*ix->v));
    if (!ix->v)
        return -ENOMEM;
    for (uint32_t i = 0; i < c->nmessages; i++) {
        const struct store_message *m = c->messages[i];
        if (m->kind == MSG_RESPONSE && m->interim)
            ix->v[ix->n++] = m;
    }
    qsort(ix->v, ix->n, sizeof(*ix->v), interim_cmp);
    return 0;
}

static void export_jsonl_line(struct jsonw *w, const struct store_conn *c, const char *caddr,
                              const char *saddr, const struct line_index *ix,
                              const struct store_message *req, const struct store_message *resp,
                              int reused)
{
    const struct store_message *first = req ? req : resp;
    const char *host = req ? export_json_header(req, "Host") : NULL;
    char vbuf[16];
    int64_t start = req ? req->start_us : resp->start_us;
    int64_t end = resp ? resp->end_us : req->end_us;

    const char *ver = export_json_version(vbuf, first->http_major, first->http_minor);
    jsonw_obj_open(w);
    jsonw_kuint(w, "connection", c->id);
    jsonw_kstr(w, "client_addr", caddr);
    char *p = jsonw_run_begin(w, 64);
    JW_UINT(p, "client_port", c->client_port);
    jsonw_run_end(w, p);
    jsonw_kstr(w, "server_addr", saddr);
    p = jsonw_run_begin(w, 64);
    JW_UINT(p, "server_port", c->server_port);
    jsonw_run_end(w, p);
    jsonw_kstr(w, "host", host);
    jsonw_kstr(w, "method", req ? req->method : NULL);
    jsonw_kstr(w, "url", req ? req->url : NULL);
    jsonw_key(w, "status");
    if (resp && resp->status) /* 0: no status line (HTTP/0.9, or unparsed) */
        jsonw_uint(w, resp->status);
    else
        jsonw_null(w);
    jsonw_kstr(w, "reason", resp ? resp->reason : NULL);
    jsonw_kstr(w, "version", ver);
    p = jsonw_run_begin(w, 128);
    JW_INT(p, "start_us", start);
    JW_INT(p, "end_us", end);
    jsonw_run_end(w, p);

    jsonw_key(w, "request");
    if (req)
        export_json_message(w, req);
    else
        jsonw_null(w);
    jsonw_key(w, "response");
    if (resp)
        export_json_message(w, resp);
    else
        jsonw_null(w);

    jsonw_key(w, "interim");
    jsonw_arr_open(w);
    if (req && ix->n) {
        uint32_t lo = 0, hi = ix->n;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (ix->v[mid]->request < req->id)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < ix->n && ix->v[lo]->request == req->id; lo++)
            jsonw_uint(w, ix->v[lo]->status);
    }
    jsonw_arr_close(w);

    jsonw_key(w, "timings");
    jsonw_obj_open(w);
    if (req)
        export_jsonl_kspan(w, "send_us", req->start_us, req->end_us);
    else
        jsonw_knull(w, "send_us");
    p = jsonw_run_begin(w, 512);
    if (req && resp && req->end_us > 0 && resp->start_us > 0)
        JW_INT(p, "wait_us", resp->start_us - req->end_us);
    else
        JW_NULL(p, "wait_us");
    if (resp && resp->start_us > 0 && resp->end_us > 0)
        JW_INT(p, "receive_us", resp->end_us - resp->start_us);
    else
        JW_NULL(p, "receive_us");
    if (start > 0 && end > 0)
        JW_INT(p, "total_us", end - start);
    else
        JW_NULL(p, "total_us");
    JW_INT_OPT(p, "ttfb_us", resp ? resp->ttfb_us : -1);
    jsonw_run_end(w, p);
    jsonw_obj_close(w);

    jsonw_key(w, "tcp");
    jsonw_obj_open(w);
    jsonw_kint_opt(w, "handshake_rtt_us", c->handshake_rtt_us);
    /* This transaction's share: the packets from its first to its last
     * (ACKs in between included) and the RTT samples taken meanwhile. The
     * same whether the connection is streamed or kept whole. */
    uint64_t pk[2] = {0, 0}, rx[2] = {0, 0};
    uint32_t from = req ? req->first_packet : resp->first_packet;
    uint32_t to = resp ? resp->last_packet : req->last_packet;
    /* The held ones among them. Indices are modulo 2^32 (store_conn_pkt):
     * offsets from the first held packet, signed. */
    int64_t i0 = (int32_t)(from - (uint32_t)c->pkt_base);
    int64_t i1 = (int32_t)(to - (uint32_t)c->pkt_base);
    if (i0 < 0)
        i0 = 0;
    if (i1 >= (int64_t)c->npackets)
        i1 = (int64_t)c->npackets - 1;
    for (int64_t i = i0; i <= i1; i++) {
        const struct store_packet *sp = &c->packets[i];
        pk[sp->dir]++;
        rx[sp->dir] += (sp->analysis & PKT_RETRANS) != 0;
    }
    /* Over the samples of both directions, as before they were kept apart:
     * min, sum and count do not care in which order they are seen. */
    int64_t rmin = -1, rsum = 0, rn = 0;
    for (int d = 0; d < 2; d++) {
        const struct store_series *rs = &c->series[d == DIR_C2S ? SERIES_RTT_C2S : SERIES_RTT_S2C];
        int sorted = ix->rtt_sorted[d];
        uint32_t lo = 0;
        if (sorted) {
            uint32_t hi = rs->n;
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (rs->v[mid].ts_us < start)
                    lo = mid + 1;
                else
                    hi = mid;
            }
        }
        for (uint32_t i = lo; i < rs->n; i++) {
            if (sorted && rs->v[i].ts_us >= end)
                break;
            if (rs->v[i].ts_us < start || rs->v[i].ts_us >= end)
                continue;
            if (rmin < 0 || rs->v[i].value < rmin)
                rmin = rs->v[i].value;
            rsum += rs->v[i].value;
            rn++;
        }
    }
    p = jsonw_run_begin(w, 512);
    JW_INT_OPT(p, "rtt_min_us", rmin);
    JW_INT_OPT(p, "rtt_avg_us", rn ? rsum / rn : -1);
    JW_UINT(p, "retransmits_c2s", rx[DIR_C2S]);
    JW_UINT(p, "retransmits_s2c", rx[DIR_S2C]);
    JW_UINT(p, "packets_c2s", pk[DIR_C2S]);
    JW_UINT(p, "packets_s2c", pk[DIR_S2C]);
    JW_INT(p, "connection_start_us", c->start_us);
    JW_BOOL(p, "reused", reused);
    jsonw_run_end(w, p);
    jsonw_obj_close(w);
    jsonw_obj_close(w);
    jsonw_newline(w);
}

int export_jsonl_conn(struct store *st, struct store_conn *c, FILE *f)
{
    struct jsonw w;
    struct line_index ix;
    char caddr[64], saddr[64];

    if (line_index_build(&ix, c) < 0)
        return -ENOMEM;
    export_json_addr(&c->client_addr, caddr, sizeof(caddr));
    export_json_addr(&c->server_addr, saddr, sizeof(saddr));
    jsonw_init(&w, f);
    for (uint32_t i = 0; i < c->nmessages; i++) {
        const struct store_message *m = c->messages[i];

        if (m->kind == MSG_REQUEST) {
            const struct store_message *resp = NULL;
            if (m->response) {
                resp = store_conn_message(c, m->response);
                if (resp && resp->kind != MSG_RESPONSE)
                    resp = NULL;
            }
            export_jsonl_line(&w, c, caddr, saddr, &ix, m, resp, c->emitted++ > 0);
        } else if (!export_jsonl_covered(c, m)) {
            export_jsonl_line(&w, c, caddr, saddr, &ix, NULL, m, c->emitted++ > 0);
        }
    }
    free(ix.v);
    return jsonw_end(&w); /* no fflush per connection: the CLI flushes at the end */
}
