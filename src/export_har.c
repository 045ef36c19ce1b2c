/* SPDX-License-Identifier: MIT */
/*
 * export_har.c - every HTTP transaction of the store as HAR 1.2.
 *
 * Last stage of the pipeline, for browser devtools and HAR viewers. One entry
 * per captured request, sorted by start time across connections, with the
 * final response (if any), timings measured on the wire (connect from the TCP
 * handshake, send/wait/receive from message times) and the connection's TCP
 * facts as the custom `_tcp` object. Responses whose request was not captured
 * have no HAR entry (HAR needs a request); they are in the JSON and JSONL
 * outputs. `pages` is empty: a capture is not a page load, and devtools
 * accept entries without a pageref. Fields and choices: docs/json.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "htracr/export.h"
#include "htracr/jsonw.h"
#include "htracr/store.h"

#ifndef HTRACR_VERSION
#define HTRACR_VERSION "0"
#endif

struct har_entry {
    const struct store_conn *conn;
    const struct store_message *req;
    int64_t started; /* its startedDateTime (µs): the SYN's when connect counts */
};

/* By startedDateTime, as the HAR says its entries are: the request's start
 * alone put an entry whose time starts at its SYN after later ones. */
static int export_har_cmp(const void *pa, const void *pb)
{
    const struct har_entry *a = pa, *b = pb;

    if (a->started != b->started)
        return a->started < b->started ? -1 : 1;
    if (a->conn->id != b->conn->id)
        return a->conn->id < b->conn->id ? -1 : 1;
    return a->req->id < b->req->id ? -1 : a->req->id > b->req->id;
}

/* ISO 8601 in UTC with milliseconds: 2024-05-01T12:00:00.123Z */
static void export_har_date(struct jsonw *w, const char *key, int64_t us)
{
    char buf[64];
    int64_t secs = us / 1000000, frac = us % 1000000;
    time_t t;
    struct tm tm;

    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    t = (time_t)secs;
    if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf) - 8, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(buf, sizeof(buf), "1970-01-01T00:00:00");
    snprintf(buf + strlen(buf), 8, ".%03dZ", (int)(frac / 1000));
    jsonw_kstr(w, key, buf);
}

static int export_har_is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* s (n bytes) as a URL may hold it: bytes outside printable ASCII (raw
 * UTF-8 or Latin-1 in a target, a space, a control byte) percent-encoded,
 * so the bytes the wire had are all there and the URL is one. Everything
 * else as on the wire (nothing decoded, nothing re-encoded). */
static void export_har_url_str(struct jsonw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t odd = 0;
    for (size_t i = 0; i < n; i++)
        odd += (unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f;
    if (!odd) {
        jsonw_strn(w, s, n);
        return;
    }
    char *e = malloc(n + 2 * odd);
    if (!e) {
        jsonw_strn(w, s, n); /* as on the wire: better than nothing */
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b <= 0x20 || b >= 0x7f) {
            e[k++] = '%';
            e[k++] = hex[b >> 4];
            e[k++] = hex[b & 15];
        } else {
            e[k++] = (char)b;
        }
    }
    jsonw_strn(w, e, k);
    free(e);
}

/* One "name=value" piece of s[0..n) as a HAR pair object; a piece without
 * '=' is a name with an empty value. trim: a cookie's (spaces trimmed);
 * else a query's, written as its URL is (export_har_url_str). */
static void export_har_pair(struct jsonw *w, const char *s, size_t n, int trim)
{
    const char *eq;
    size_t nl, vo;

    while (trim && n > 0 && export_har_is_space(*s)) {
        s++;
        n--;
    }
    while (trim && n > 0 && export_har_is_space(s[n - 1]))
        n--;
    if (n == 0)
        return;
    eq = memchr(s, '=', n);
    nl = eq ? (size_t)(eq - s) : n;
    vo = eq ? nl + 1 : n;
    while (trim && nl > 0 && export_har_is_space(s[nl - 1]))
        nl--;
    while (trim && vo < n && export_har_is_space(s[vo]))
        vo++;
    jsonw_obj_open(w);
    jsonw_key(w, "name");
    if (trim) /* a cookie's */
        jsonw_strn(w, s, nl);
    else /* a query's: as its URL has it */
        export_har_url_str(w, s, nl);
    jsonw_key(w, "value");
    if (trim)
        jsonw_strn(w, s + vo, n - vo);
    else
        export_har_url_str(w, s + vo, n - vo);
    jsonw_obj_close(w);
}

/* Pairs of s separated by sep. */
static void export_har_pairs(struct jsonw *w, const char *s, char sep, int trim)
{
    while (*s) {
        const char *e = strchr(s, sep);
        size_t n = e ? (size_t)(e - s) : strlen(s);
        export_har_pair(w, s, n, trim);
        if (!e)
            break;
        s = e + 1;
    }
}

static void export_har_headers(struct jsonw *w, const struct store_message *m)
{
    jsonw_key(w, "headers");
    jsonw_arr_open(w);
    for (uint32_t i = 0; m && i < m->nheaders; i++) {
        jsonw_obj_open(w);
        jsonw_kstr(w, "name", m->headers[i].name ? m->headers[i].name : "");
        jsonw_kstr(w, "value", m->headers[i].value ? m->headers[i].value : "");
        jsonw_obj_close(w);
    }
    jsonw_arr_close(w);
}

/* Request cookies: every Cookie header, "a=1; b=2". */
static void export_har_req_cookies(struct jsonw *w, const struct store_message *m)
{
    jsonw_key(w, "cookies");
    jsonw_arr_open(w);
    for (uint32_t i = 0; i < m->nheaders; i++)
        if (m->headers[i].name && m->headers[i].value &&
            strcasecmp(m->headers[i].name, "Cookie") == 0)
            export_har_pairs(w, m->headers[i].value, ';', 1);
    jsonw_arr_close(w);
}

/* Response cookies: the name=value before the first ';' of each Set-Cookie
 * (attributes are not exported). */
static void export_har_resp_cookies(struct jsonw *w, const struct store_message *m)
{
    jsonw_key(w, "cookies");
    jsonw_arr_open(w);
    for (uint32_t i = 0; m && i < m->nheaders; i++) {
        const char *v = m->headers[i].value, *semi;
        if (!m->headers[i].name || !v || strcasecmp(m->headers[i].name, "Set-Cookie") != 0)
            continue;
        semi = strchr(v, ';');
        export_har_pair(w, v, semi ? (size_t)(semi - v) : strlen(v), 1);
    }
    jsonw_arr_close(w);
}

/* Query string of url: after the first '?', up to a '#'; pairs split on '&',
 * kept as on the wire (not percent-decoded; bytes a URL cannot hold
 * percent-encoded, as in the URL). */
static void export_har_query(struct jsonw *w, const char *url)
{
    const char *q = url ? strchr(url, '?') : NULL;

    jsonw_key(w, "queryString");
    jsonw_arr_open(w);
    if (q) {
        const char *s = q + 1, *end = strchr(s, '#');
        if (!end)
            end = s + strlen(s);
        while (s < end) {
            const char *amp = memchr(s, '&', (size_t)(end - s));
            const char *e = amp ? amp : end;
            export_har_pair(w, s, (size_t)(e - s), 0);
            s = e + 1;
        }
    }
    jsonw_arr_close(w);
}

/* The absolute URL: absolute-form targets as they are; otherwise
 * "http://" + Host (or the server's address and port) + target. Bytes a
 * URL cannot hold as they are are percent-encoded (export_har_url_str). */
static int export_har_url(struct jsonw *w, const struct store_conn *c,
                          const struct store_message *req)
{
    const char *url = req->url ? req->url : "";
    const char *host = export_json_header(req, "Host");
    char hostbuf[80], addr[64];
    char *abs;
    size_t n;
    int is_connect = req->method && strcmp(req->method, "CONNECT") == 0;

    if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) {
        jsonw_key(w, "url");
        export_har_url_str(w, url, strlen(url));
        return 0;
    }
    if (is_connect && *url && *url != '/') { /* authority-form: the target is the host */
        host = url;
        url = "";
    } else if (!host || !*host) {
        export_json_addr(&c->server_addr, addr, sizeof(addr));
        if (c->server_addr.family == 6)
            snprintf(hostbuf, sizeof(hostbuf), "[%s]", addr);
        else
            snprintf(hostbuf, sizeof(hostbuf), "%s", addr);
        if (c->server_port != 80)
            snprintf(hostbuf + strlen(hostbuf), sizeof(hostbuf) - strlen(hostbuf), ":%u",
                     c->server_port);
        host = hostbuf;
    }
    n = 7 + strlen(host) + 1 + strlen(url) + 1;
    abs = malloc(n);
    if (!abs)
        return -ENOMEM;
    /* "*" (OPTIONS *) and other non-path targets get a '/' before them */
    snprintf(abs, n, "http://%s%s%s", host, (*url && *url != '/') ? "/" : "", url);
    jsonw_key(w, "url");
    export_har_url_str(w, abs, strlen(abs));
    free(abs);
    return 0;
}

static void export_har_version(struct jsonw *w, const struct store_message *m)
{
    char vbuf[16], ver[32] = "";
    const char *v = m ? export_json_version(vbuf, m->http_major, m->http_minor) : NULL;

    if (v) /* else unknown: "" as browsers write it */
        snprintf(ver, sizeof(ver), "HTTP/%s", v);
    jsonw_kstr(w, "httpVersion", ver);
}

/* gzip, x-gzip and deflate (alone, as the whole header value) are what the
 * HTTP stage undoes; any other coding leaves the kept body as it came. */
static int export_har_decoded(const struct store_message *m)
{
    const char *ce = store_message_content_encoding(m);
    size_t n;

    if (!ce || m->body_decode_error)
        return 0;
    while (export_har_is_space(*ce))
        ce++;
    n = strlen(ce);
    while (n > 0 && export_har_is_space(ce[n - 1]))
        n--;
    return (n == 4 && strncasecmp(ce, "gzip", 4) == 0) ||
           (n == 6 && strncasecmp(ce, "x-gzip", 6) == 0) ||
           (n == 7 && strncasecmp(ce, "deflate", 7) == 0);
}

static void export_har_content(struct jsonw *w, const struct store_message *m)
{
    /* an incomplete message (the capture, or the connection, ended inside
     * its body) is partial too: its text must not pass for the resource */
    int whole =
        m->body && !m->body_truncated && m->gap_bytes == 0 && !m->body_decode_error && m->complete;
    int decoded = export_har_decoded(m);
    uint64_t size = m->body_bytes;

    if (decoded && whole)
        size = m->body_len;
    jsonw_key(w, "content");
    jsonw_obj_open(w);
    jsonw_kuint(w, "size", size);
    /* bytes saved by the content coding: decoded size minus wire size */
    if (decoded && whole && size >= m->body_bytes)
        jsonw_kuint(w, "compression", size - m->body_bytes);
    const char *type = store_message_content_type(m);
    jsonw_kstr(w, "mimeType", type ? type : "");
    if (m->body && m->body_len > 0) {
        if (whole && jsonw_utf8_valid(m->body, m->body_len)) {
            jsonw_key(w, "text");
            jsonw_strn(w, m->body, m->body_len);
        } else {
            jsonw_key(w, "text");
            jsonw_base64(w, m->body, m->body_len);
            jsonw_kstr(w, "encoding", "base64");
        }
    } else if (m->body_bytes == 0) {
        jsonw_kstr(w, "text", "");
    }
    if (m->body_decode_error)
        jsonw_kstr(w, "comment", "the body could not be decoded; text is as kept");
    else if (!m->complete)
        /* written while the exchange goes on (a live download, say) as well
         * as after the capture or the connection ended inside the body */
        jsonw_kstr(w, "comment",
                   "incomplete: not all of the body had come when this was written (still "
                   "coming, or the capture or the connection ended); text, if any, holds what "
                   "came");
    else if (m->body_truncated || m->gap_bytes)
        jsonw_kstr(w, "comment", "text holds only part of the body (body limit or capture gap)");
    jsonw_obj_close(w);
}

static void export_har_response(struct jsonw *w, const struct store_message *resp)
{
    const char *loc = resp ? export_json_header(resp, "Location") : NULL;

    jsonw_key(w, "response");
    jsonw_obj_open(w);
    jsonw_kuint(w, "status", resp ? resp->status : 0);
    jsonw_kstr(w, "statusText", resp && resp->reason ? resp->reason : "");
    export_har_version(w, resp);
    export_har_resp_cookies(w, resp);
    export_har_headers(w, resp);
    if (resp) {
        export_har_content(w, resp);
    } else {
        jsonw_key(w, "content");
        jsonw_obj_open(w);
        jsonw_kint(w, "size", 0);
        jsonw_kstr(w, "mimeType", "");
        jsonw_obj_close(w);
    }
    jsonw_kstr(w, "redirectURL", loc ? loc : "");
    jsonw_kint(w, "headersSize", resp ? (int64_t)resp->header_bytes : -1);
    jsonw_kint(w, "bodySize", resp ? (int64_t)resp->body_bytes : -1);
    jsonw_obj_close(w);
}

/* b - a in µs, or 0 when a time is unset or the span is negative (HAR's
 * send/wait/receive may not be negative). */
static int64_t export_har_span(int64_t a, int64_t b)
{
    if (a <= 0 || b <= 0 || b < a)
        return 0;
    return b - a;
}

static int export_har_first_request(const struct store_conn *c, const struct store_message *req)
{
    for (uint32_t i = 0; i < c->nmessages; i++)
        if (c->messages[i]->kind == MSG_REQUEST)
            return c->messages[i] == req;
    return 0;
}

static void export_har_kms_opt(struct jsonw *w, const char *key, int64_t us)
{
    jsonw_key(w, key);
    if (us == -1)
        jsonw_null(w);
    else
        jsonw_milli(w, us);
}

/* A HAR timing: -1 (not applicable) stays the integer -1. */
static void export_har_ktiming(struct jsonw *w, const char *key, int64_t us)
{
    jsonw_key(w, key);
    if (us < 0)
        jsonw_int(w, -1);
    else
        jsonw_milli(w, us);
}

/* The handshake counts as this request's connect time when it opened the
 * connection. The entry then starts at the first SYN (a SYN sent again
 * after a loss is part of the client's wait for the connection, as a
 * browser's connect time has it), and any pause between the handshake
 * and the request is "blocked", so startedDateTime + time is the end of
 * the response. Returns startedDateTime (µs); connect and blocked (either
 * may be NULL) are -1 when they do not apply. */
static int64_t export_har_started(const struct store_conn *c, const struct store_message *req,
                                  int64_t *connect, int64_t *blocked)
{
    int64_t syn = c->syn_first_us >= 0 ? c->syn_first_us : c->syn_us;
    int hs = export_har_first_request(c, req) && !c->midstream && syn > 0 && c->hs_ack_us >= syn &&
             req->start_us >= c->hs_ack_us;
    if (connect)
        *connect = hs ? c->hs_ack_us - syn : -1;
    if (blocked)
        *blocked = hs ? req->start_us - c->hs_ack_us : -1;
    return hs ? syn : req->start_us;
}

static int export_har_entry(struct jsonw *w, const struct har_entry *e)
{
    const struct store_conn *c = e->conn;
    const struct store_message *req = e->req, *resp = NULL;
    int64_t connect, blocked, send, wait = 0, receive = 0, started, total;
    char addr[64], id[24];
    int err;

    if (req->response) {
        resp = store_conn_message(c, req->response);
        if (resp && resp->kind != MSG_RESPONSE)
            resp = NULL;
    }
    started = export_har_started(c, req, &connect, &blocked);
    send = export_har_span(req->start_us, req->end_us);
    if (resp) {
        wait = export_har_span(req->end_us, resp->start_us);
        receive = export_har_span(resp->start_us, resp->end_us);
    }
    total = send + wait + receive + (connect > 0 ? connect : 0) + (blocked > 0 ? blocked : 0);

    jsonw_obj_open(w);
    export_har_date(w, "startedDateTime", started);
    jsonw_key(w, "time");
    jsonw_milli(w, total);

    jsonw_key(w, "request");
    jsonw_obj_open(w);
    jsonw_kstr(w, "method", req->method ? req->method : "");
    err = export_har_url(w, c, req);
    if (err)
        return err;
    export_har_version(w, req);
    export_har_req_cookies(w, req);
    export_har_headers(w, req);
    export_har_query(w, req->url);
    if (req->body && req->body_len > 0) {
        jsonw_key(w, "postData");
        jsonw_obj_open(w);
        const char *type = store_message_content_type(req);
        jsonw_kstr(w, "mimeType", type ? type : "");
        jsonw_key(w, "text");
        jsonw_strn(w, req->body, req->body_len);
        jsonw_obj_close(w);
    }
    jsonw_kuint(w, "headersSize", req->header_bytes);
    jsonw_kuint(w, "bodySize", req->body_bytes);
    jsonw_obj_close(w);

    export_har_response(w, resp);
    jsonw_key(w, "cache");
    jsonw_obj_open(w);
    jsonw_obj_close(w);

    jsonw_key(w, "timings");
    jsonw_obj_open(w);
    export_har_ktiming(w, "blocked", blocked);
    jsonw_kint(w, "dns", -1);
    export_har_ktiming(w, "connect", connect);
    jsonw_kint(w, "ssl", -1);
    jsonw_key(w, "send");
    jsonw_milli(w, send);
    jsonw_key(w, "wait");
    jsonw_milli(w, wait);
    jsonw_key(w, "receive");
    jsonw_milli(w, receive);
    jsonw_obj_close(w);

    jsonw_kstr(w, "serverIPAddress", export_json_addr(&c->server_addr, addr, sizeof(addr)));
    snprintf(id, sizeof(id), "%llu", (unsigned long long)c->id);
    jsonw_kstr(w, "connection", id);
    if (!resp)
        jsonw_kstr(w, "comment", "no response captured");

    jsonw_key(w, "_tcp");
    jsonw_obj_open(w);
    export_har_kms_opt(w, "handshake_rtt_ms", c->handshake_rtt_us);
    export_har_kms_opt(w, "rtt_min_ms", store_rtt_min(&c->stats, -1));
    export_har_kms_opt(w, "rtt_avg_ms", store_rtt_avg(&c->stats, -1));
    jsonw_kuint(w, "retransmits_c2s", c->stats.retransmits[DIR_C2S]);
    jsonw_kuint(w, "retransmits_s2c", c->stats.retransmits[DIR_S2C]);
    jsonw_kuint(w, "packets_c2s", c->stats.packets[DIR_C2S]);
    jsonw_kuint(w, "packets_s2c", c->stats.packets[DIR_S2C]);
    jsonw_obj_close(w);
    jsonw_obj_close(w);
    return 0;
}

int export_har(struct store *st, FILE *f)
{
    struct har_entry *ents = NULL;
    size_t n = 0, cap = 0;
    struct jsonw w;
    int err = 0;

    for (struct store_conn *c = store_first(st); c; c = store_next(c)) {
        for (uint32_t i = 0; i < c->nmessages; i++) {
            if (c->messages[i]->kind != MSG_REQUEST)
                continue;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct har_entry *p = realloc(ents, ncap * sizeof(*p));
                if (!p) {
                    err = -ENOMEM;
                    goto out;
                }
                ents = p;
                cap = ncap;
            }
            ents[n].conn = c;
            ents[n].req = c->messages[i];
            ents[n].started = export_har_started(c, c->messages[i], NULL, NULL);
            n++;
        }
    }
    if (n > 1)
        qsort(ents, n, sizeof(*ents), export_har_cmp);

    jsonw_init(&w, f);
    jsonw_obj_open(&w);
    jsonw_key(&w, "log");
    jsonw_obj_open(&w);
    jsonw_kstr(&w, "version", "1.2");
    jsonw_key(&w, "creator");
    jsonw_obj_open(&w);
    jsonw_kstr(&w, "name", "htracr");
    jsonw_kstr(&w, "version", HTRACR_VERSION);
    jsonw_obj_close(&w);
    jsonw_key(&w, "pages");
    jsonw_arr_open(&w);
    jsonw_arr_close(&w);
    jsonw_key(&w, "entries");
    jsonw_arr_open(&w);
    for (size_t i = 0; i < n && !err; i++)
        err = export_har_entry(&w, &ents[i]);
    if (err)
        goto out;
    jsonw_arr_close(&w);
    jsonw_obj_close(&w);
    jsonw_obj_close(&w);
    jsonw_newline(&w);
    err = jsonw_finish(&w);
out:
    free(ents);
    return err;
}
