/* SPDX-License-Identifier: MIT */
/*
 * server.c - the web UI's server on civetweb: static assets, the REST API
 * under /api/ and the websocket feed (docs/api.md is the contract).
 *
 * Last stage of the pipeline, beside export: it reads the store under
 * store_lock(), writes what it needs into a memory buffer or a temporary
 * file (export_api.c, export_json.c, ...), releases the lock, and only then
 * writes to the socket, so a slow browser never holds up the capture loop;
 * the whole model, which can be hundreds of MB, is written in steps that
 * let a waiting capture thread in (export_api_model's yield).
 * What changes the capture goes through the controller's callbacks (struct
 * server_ctl), never into the store directly. The only file that includes
 * civetweb.
 *
 * Every request passes one gate (on_request, civetweb's begin_request):
 * the Host header must name the listen address (DNS rebinding), OPTIONS is
 * refused (no CORS, ever), paths with ".." are refused, and POSTs need the
 * per-run token the page gets inside index.html. The websocket's handshake
 * passes the same gate with the token in its query string, then civetweb's
 * websocket handler takes the connection; a feed thread sends each client
 * {"generation","seq"} when server_notify() was called (at most every
 * 100 ms), and the capture counters every second while capture is live.
 */
#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "htracr/export.h"
#include "htracr/export_api.h"
#include "htracr/export_metrics.h"
#include "htracr/jsonw.h"
#include "htracr/log.h"
#include "htracr/server.h"
#include "htracr/store.h"
#include "htracr/web_assets.h"

#define TOKEN_PLACEHOLDER "__HTRACR_TOKEN__"
#define DEFAULT_UPLOAD_LIMIT ((size_t)256 << 20)
#define SETTINGS_BODY_LIMIT 4096
#define WEB_FILE_LIMIT ((off_t)64 << 20)
#define FEED_TICK_MS 100    /* at most 10 frames a second */
#define FEED_STATS_TICKS 10 /* stats every second */
#define SEND_CHUNK (64 * 1024)

struct feed_client {
    struct mg_connection *conn;
    struct feed_client *next;
};

struct server {
    struct mg_context *mg;
    struct store *st;
    struct server_ctl ctl; /* zeroed when the caller gave none */
    char addr[INET_ADDRSTRLEN];
    int port;
    int loopback; /* 127.0.0.0/8 */
    int any_addr; /* 0.0.0.0 */
    char url[64];
    char token[33];
    char *web_root; /* realpath of --web-root, or NULL */
    size_t upload_limit;
    int reset_nice; /* server_opts.reset_nice */
    int lib_init;

    /* the websocket feed */
    pthread_mutex_t feed_lock; /* clients, stopping */
    pthread_cond_t feed_cond;
    pthread_t feed_thread;
    int feed_running;
    int stopping;
    struct feed_client *clients;
    atomic_uint notified;
    uint64_t sent_gen, sent_seq;
};

/* One request as the handlers see it. */
struct req {
    struct server *srv;
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    const char *path;
    int head; /* HEAD: headers only */
};

/* ---- responses ---- */

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* Status line and headers; extra is "" or whole "Name: value\r\n" lines.
 * Every response closes its connection (civetweb's keep-alive is off). */
static void send_head(struct req *rq, int status, const char *type, long long len,
                      const char *extra)
{
    mg_printf(rq->conn,
              "HTTP/1.1 %d %s\r\n"
              "Content-Type: %s\r\n"
              "Content-Length: %lld\r\n"
              "Cache-Control: no-store\r\n"
              "X-Content-Type-Options: nosniff\r\n"
              "X-Frame-Options: DENY\r\n"
              "Referrer-Policy: no-referrer\r\n"
              "Connection: close\r\n"
              "%s\r\n",
              status, status_text(status), type, len, extra ? extra : "");
}

#define JSON_TYPE "application/json; charset=utf-8"

/* A whole response from memory. Returns status (begin_request's value). */
static int send_bytes(struct req *rq, int status, const char *type, const char *extra,
                      const void *data, size_t len)
{
    send_head(rq, status, type, (long long)len, extra);
    if (!rq->head && len)
        mg_write(rq->conn, data, len);
    return status;
}

static int send_json(struct req *rq, int status, const char *json, size_t len)
{
    return send_bytes(rq, status, JSON_TYPE, NULL, json, len);
}

/* {"error": "..."} with status. */
static int send_error(struct req *rq, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int send_error(struct req *rq, int status, const char *fmt, ...)
{
    char msg[SERVER_ERRBUF + 256];
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    f = open_memstream(&buf, &len);
    if (f) {
        struct jsonw *w = malloc(sizeof(*w));
        if (w) {
            jsonw_init(w, f);
            jsonw_obj_open(w);
            jsonw_kstr(w, "error", msg);
            jsonw_obj_close(w);
            jsonw_newline(w);
            jsonw_finish(w);
            free(w);
        }
        fclose(f);
    }
    if (buf && len)
        send_json(rq, status, buf, len);
    else
        send_json(rq, status, "{\"error\":\"out of memory\"}\n", 26);
    free(buf);
    return status;
}

/* HTTP status for a controller's negative errno. */
static int errno_status(int err)
{
    switch (-err) {
    case EINVAL:
    case EBADMSG:
    case EPROTO:
    case ERANGE: return 400;
    case EPERM:
    case EACCES: return 403;
    case ENOENT: return 404;
    case EOPNOTSUPP:
    case EBUSY:
    case EALREADY:
    case EEXIST: return 409;
    case EFBIG:
    case E2BIG: return 413;
    case ENOSYS: return 501;
    case EAGAIN:
    case ESHUTDOWN: return 503;
    default: return 500;
    }
}

/* A controller call failed: its reason, or a generic one. */
static int send_ctl_error(struct req *rq, int err, const char *what, const char *errbuf)
{
    if (errbuf[0])
        return send_error(rq, errno_status(err), "%s", errbuf);
    return send_error(rq, errno_status(err), "%s failed: %s", what, strerror(-err));
}

/* A memory buffer for JSON written under the store lock. */
struct membuf {
    char *buf;
    size_t len;
    FILE *f;
};

static int membuf_open(struct membuf *mb)
{
    mb->buf = NULL;
    mb->len = 0;
    mb->f = open_memstream(&mb->buf, &mb->len);
    return mb->f ? 0 : -ENOMEM;
}

/* Close the stream (buf and len are final then); 0 or -EIO. */
static int membuf_close(struct membuf *mb)
{
    int r = fclose(mb->f) == 0 ? 0 : -EIO;
    mb->f = NULL;
    return r;
}

static void membuf_free(struct membuf *mb)
{
    if (mb->f)
        fclose(mb->f);
    free(mb->buf);
    mb->buf = NULL;
}

/* Send the spooled file f (rewound here) as a download. */
static int send_spool(struct req *rq, FILE *f, const char *type, const char *filename)
{
    char extra[160];
    char *chunk = NULL;
    long size;

    if (fflush(f) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        return send_error(rq, 500, "writing the download to a temporary file failed: %s",
                          strerror(errno));
    chunk = malloc(SEND_CHUNK);
    if (!chunk)
        return send_error(rq, 500, "out of memory");
    snprintf(extra, sizeof(extra), "Content-Disposition: attachment; filename=\"%s\"\r\n",
             filename);
    send_head(rq, 200, type, size, extra);
    if (!rq->head) {
        size_t n;
        while ((n = fread(chunk, 1, SEND_CHUNK, f)) > 0)
            if (mg_write(rq->conn, chunk, n) <= 0)
                break;
    }
    free(chunk);
    return 200;
}

/* ---- request checks ---- */

static int parse_port_str(const char *s, size_t n, int *out)
{
    int v = 0;
    if (n == 0 || n > 5)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -EINVAL;
    *out = v;
    return 0;
}

/* The Host header names this server: the listen address (or, on loopback,
 * localhost / 127.0.0.1 / [::1]; listening on 0.0.0.0, any IP address)
 * with the listen port. A DNS name an attacker controls never passes. */
static int host_ok(const struct server *srv, const char *host)
{
    char name[128];
    const char *port_s = NULL;
    size_t n, hl;
    int v6 = 0, port;

    if (!host)
        return 0;
    hl = strlen(host);
    if (hl == 0 || hl >= sizeof(name))
        return 0;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (!end)
            return 0;
        n = (size_t)(end - host - 1);
        memcpy(name, host + 1, n);
        name[n] = '\0';
        v6 = 1;
        if (end[1] == ':')
            port_s = end + 2;
        else if (end[1])
            return 0;
    } else {
        const char *colon = strchr(host, ':');
        if (colon && strchr(colon + 1, ':'))
            return 0;
        n = colon ? (size_t)(colon - host) : hl;
        memcpy(name, host, n);
        name[n] = '\0';
        if (colon)
            port_s = colon + 1;
    }
    if (port_s) {
        if (parse_port_str(port_s, strlen(port_s), &port) < 0 || port != srv->port)
            return 0;
    } else if (srv->port != 80) {
        return 0;
    }
    if (v6) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, name, &a6) != 1)
            return 0;
        return srv->any_addr || (srv->loopback && IN6_IS_ADDR_LOOPBACK(&a6));
    }
    if (strcasecmp(name, srv->addr) == 0)
        return 1;
    if ((srv->loopback || srv->any_addr) &&
        (strcasecmp(name, "localhost") == 0 || strcmp(name, "127.0.0.1") == 0))
        return 1;
    if (srv->any_addr) {
        struct in_addr a4;
        return inet_pton(AF_INET, name, &a4) == 1;
    }
    return 0;
}

/* Constant-time compare of a token candidate. */
static int token_equal(const struct server *srv, const char *cand)
{
    size_t n = strlen(srv->token);
    unsigned char diff = 0;

    if (!cand || strlen(cand) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(cand[i] ^ srv->token[i]);
    return diff == 0;
}

/* Query parameter name as a decimal number: 1 found, 0 absent, -EINVAL bad. */
static int query_u64(const struct mg_request_info *ri, const char *name, uint64_t *out)
{
    char buf[32], *end;
    int n;

    if (!ri->query_string)
        return 0;
    n = mg_get_var(ri->query_string, strlen(ri->query_string), name, buf, sizeof(buf));
    if (n == -1)
        return 0;
    if (n <= 0 || buf[0] < '0' || buf[0] > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *out = v;
    return 1;
}

static int query_token_ok(const struct server *srv, const struct mg_request_info *ri)
{
    char buf[64];
    if (!ri->query_string)
        return 0;
    if (mg_get_var(ri->query_string, strlen(ri->query_string), "token", buf, sizeof(buf)) <= 0)
        return 0;
    return token_equal(srv, buf);
}

/* A ".." path segment, in the decoded path. */
static int has_dotdot(const char *p)
{
    for (const char *s = strstr(p, ".."); s; s = strstr(s + 1, ".."))
        if ((s == p || s[-1] == '/' || s[-1] == '\\') &&
            (s[2] == '\0' || s[2] == '/' || s[2] == '\\'))
            return 1;
    return 0;
}

/* ---- status ---- */

static void get_status(struct server *srv, struct server_status *ss)
{
    memset(ss, 0, sizeof(*ss));
    ss->writing = -1; /* no -w, unless the controller says otherwise */
    if (srv->ctl.status)
        srv->ctl.status(srv->ctl.ctx, ss);
    ss->source[sizeof(ss->source) - 1] = '\0';
    ss->backend[sizeof(ss->backend) - 1] = '\0';
    ss->iface[sizeof(ss->iface) - 1] = '\0';
    if (ss->nports < 0 || ss->nports > SERVER_MAX_PORTS)
        ss->nports = 0;
}

/* A document written from the status (the controller's, taken first) and
 * the store (under its lock), sent as type; what names it in an error. */
static int reply_with_status(struct req *rq,
                             int (*write)(struct store *, const struct server_status *, FILE *),
                             const char *type, const char *what)
{
    struct server *srv = rq->srv;
    struct server_status ss;
    struct membuf mb;
    int r;

    get_status(srv, &ss);
    if (membuf_open(&mb) < 0)
        return send_error(rq, 500, "out of memory");
    store_lock(srv->st);
    r = write(srv->st, &ss, mb.f);
    store_unlock(srv->st);
    if (membuf_close(&mb) < 0 || r < 0) {
        membuf_free(&mb);
        return send_error(rq, 500, "writing the %s failed: %s", what, strerror(r < 0 ? -r : EIO));
    }
    r = send_bytes(rq, 200, type, NULL, mb.buf, mb.len);
    membuf_free(&mb);
    return r;
}

static int reply_status(struct req *rq)
{
    return reply_with_status(rq, export_api_status, JSON_TYPE, "status");
}

static int api_status(struct req *rq)
{
    return reply_status(rq);
}

/* /metrics: the counters in the Prometheus text format (docs/api.md). */
static int serve_metrics(struct req *rq)
{
    return reply_with_status(rq, export_metrics, EXPORT_METRICS_TYPE, "metrics");
}

/* ---- model, packet, body ---- */

/* Between connections of a long model write: let the capture thread in. */
static int model_yield(void *ctx)
{
    return store_lock_yield(ctx);
}

/* Tries with the lock let go between connections before one write with the
 * lock held throughout (the model kept changing under the first ones). */
#define MODEL_TRIES 3

/* /api/model's switches: each 1 or 0 (absent: 0). */
static const struct {
    const char *name;
    unsigned opt;
    const char *what;
} model_flags[] = {
    {"tails", EXPORT_API_TAILS, "the reader merges tails"},
    {"rows", EXPORT_API_ROWS, "messages as rows"},
    {"rel", EXPORT_API_REL, "times from each connection's start"},
};

static int api_model(struct req *rq)
{
    struct server *srv = rq->srv;
    uint64_t gen = 0, since = 0, reply = 0;
    unsigned opts = 0;
    int hg, hs, r;
    struct membuf mb;

    hg = query_u64(rq->ri, "gen", &gen);
    hs = query_u64(rq->ri, "since", &since);
    if (hg < 0 || hs < 0 || query_u64(rq->ri, "reply", &reply) < 0)
        return send_error(rq, 400,
                          "gen, since and reply must be decimal numbers "
                          "(the last /api/model reply's generation, seq and reply)");
    for (size_t i = 0; i < sizeof(model_flags) / sizeof(model_flags[0]); i++) {
        uint64_t v = 0;
        if (query_u64(rq->ri, model_flags[i].name, &v) < 0 || v > 1)
            return send_error(rq, 400, "%s is 1 (%s, docs/api.md) or 0", model_flags[i].name,
                              model_flags[i].what);
        if (v)
            opts |= model_flags[i].opt;
    }
    if (!hg || !hs)
        gen = 0; /* no generation is 0: the whole model */
    for (int i = 0;; i++) {
        if (membuf_open(&mb) < 0)
            return send_error(rq, 500, "out of memory");
        store_lock(srv->st);
        r = export_api_model(srv->st, gen, since, reply, opts, mb.f,
                             i < MODEL_TRIES ? model_yield : NULL, srv->st);
        store_unlock(srv->st);
        if (r != -EAGAIN)
            break;
        membuf_free(&mb);
    }
    if (membuf_close(&mb) < 0 || r < 0) {
        membuf_free(&mb);
        return send_error(rq, 500, "writing the model failed: %s", strerror(r < 0 ? -r : EIO));
    }
    r = send_json(rq, 200, mb.buf, mb.len);
    membuf_free(&mb);
    return r;
}

static int api_packet(struct req *rq)
{
    struct server *srv = rq->srv;
    uint64_t conn_id = 0, idx = 0;
    char why[SERVER_ERRBUF] = "";
    struct membuf mb;
    int r;

    if (query_u64(rq->ri, "conn", &conn_id) != 1 || query_u64(rq->ri, "idx", &idx) != 1 ||
        idx > UINT32_MAX)
        return send_error(rq, 400,
                          "give conn (a connection id) and idx (a packet index), "
                          "e.g. /api/packet?conn=1&idx=0");
    if (membuf_open(&mb) < 0)
        return send_error(rq, 500, "out of memory");
    store_lock(srv->st);
    r = export_api_packet(srv->st, conn_id, (uint32_t)idx, mb.f, why, sizeof(why));
    store_unlock(srv->st);
    if (membuf_close(&mb) < 0 && r == 0)
        r = -EIO;
    if (r == -ENOENT) {
        membuf_free(&mb);
        return send_error(rq, 404, "%s", why);
    }
    if (r < 0) {
        membuf_free(&mb);
        return send_error(rq, 500, "writing the packet failed: %s", strerror(-r));
    }
    r = send_json(rq, 200, mb.buf, mb.len);
    membuf_free(&mb);
    return r;
}

/* A header value from the wire made safe for our own header line. */
static void header_safe(char *dst, size_t dstlen, const char *src, const char *dflt)
{
    size_t n = 0;
    if (!src || !*src)
        src = dflt;
    for (; *src && n + 1 < dstlen; src++)
        dst[n++] = (unsigned char)*src < 0x20 || *src == 0x7f ? ' ' : *src;
    dst[n] = '\0';
}

static int api_body(struct req *rq)
{
    struct server *srv = rq->srv;
    struct store_message *m;
    uint64_t id = 0;
    char type[200], extra[400];
    uint8_t *copy = NULL;
    size_t len = 0;
    int truncated = 0, r;

    if (query_u64(rq->ri, "msg", &id) != 1 || id == 0)
        return send_error(rq, 400, "give msg (a message id), e.g. /api/body?msg=2");
    store_lock(srv->st);
    if (!export_api_find_message(srv->st, id, &m)) {
        store_unlock(srv->st);
        return send_error(rq, 404, "no message %llu in the model", (unsigned long long)id);
    }
    if (!m->body || !m->body_len) {
        int empty = m->body_bytes == 0;
        store_unlock(srv->st);
        if (empty)
            return send_error(rq, 404, "message %llu has no body", (unsigned long long)id);
        return send_error(rq, 404, "the body of message %llu was not kept (--body-limit)",
                          (unsigned long long)id);
    }
    len = m->body_len;
    truncated = m->body_truncated;
    header_safe(type, sizeof(type), store_message_content_type(m), "application/octet-stream");
    copy = malloc(len);
    if (copy)
        memcpy(copy, m->body, len);
    store_unlock(srv->st);
    if (!copy)
        return send_error(rq, 500, "out of memory");
    /* The body is the captured site's, not ours: a sandbox keeps its
     * scripts from running with this origin (and reading the token). */
    snprintf(extra, sizeof(extra),
             "Content-Security-Policy: sandbox; default-src 'none'; img-src data:; "
             "style-src 'unsafe-inline'\r\n"
             "Content-Disposition: inline; filename=\"body-%llu\"\r\n%s",
             (unsigned long long)id, truncated ? "X-Htracr-Body-Truncated: 1\r\n" : "");
    r = send_bytes(rq, 200, type, extra, copy, len);
    free(copy);
    return r;
}

/* ---- downloads ---- */

enum dl_kind { DL_JSON, DL_HAR, DL_JSONL };

static int api_download(struct req *rq, enum dl_kind kind)
{
    struct server *srv = rq->srv;
    FILE *f = tmpfile();
    int r = 0;

    if (!f)
        return send_error(rq, 500, "cannot make a temporary file for the download: %s",
                          strerror(errno));
    store_lock(srv->st);
    /* Test hook (tests/e2e/live.test.mjs): hold the model this much longer,
     * as writing a big one does, to show that capture goes on meanwhile. */
    const char *hold = getenv("HTRACR_TEST_SLOW_DOWNLOAD_MS");
    if (hold)
        usleep((useconds_t)strtoul(hold, NULL, 10) * 1000);
    switch (kind) {
    case DL_JSON: r = export_json(srv->st, f); break;
    case DL_HAR: r = export_har(srv->st, f); break;
    case DL_JSONL:
        for (struct store_conn *c = store_first(srv->st); c && r == 0; c = store_next(c)) {
            /* export_jsonl_conn counts lines in c->emitted ("reused"):
             * write each connection whole, and leave the count as it was */
            uint64_t emitted = c->emitted;
            c->emitted = 0;
            r = export_jsonl_conn(srv->st, c, f);
            c->emitted = emitted;
        }
        break;
    }
    store_unlock(srv->st);
    if (r < 0) {
        fclose(f);
        return send_error(rq, 500, "writing the download failed: %s", strerror(-r));
    }
    switch (kind) {
    case DL_JSON: r = send_spool(rq, f, JSON_TYPE, "htracr.json"); break;
    case DL_HAR: r = send_spool(rq, f, JSON_TYPE, "htracr.har"); break;
    case DL_JSONL:
        r = send_spool(rq, f, "application/x-ndjson; charset=utf-8", "htracr.jsonl");
        break;
    }
    fclose(f);
    return r;
}

static int api_model_json(struct req *rq)
{
    return api_download(rq, DL_JSON);
}

static int api_export_har(struct req *rq)
{
    return api_download(rq, DL_HAR);
}

static int api_export_jsonl(struct req *rq)
{
    return api_download(rq, DL_JSONL);
}

static int api_capture_pcap(struct req *rq)
{
    struct server *srv = rq->srv;
    char errbuf[SERVER_ERRBUF] = "";
    FILE *f;
    int r;

    if (!srv->ctl.write_pcap)
        return send_error(rq, 501, "this run cannot write the capture as pcap");
    f = tmpfile();
    if (!f)
        return send_error(rq, 500, "cannot make a temporary file for the download: %s",
                          strerror(errno));
    r = srv->ctl.write_pcap(srv->ctl.ctx, f, errbuf);
    if (r < 0) {
        fclose(f);
        return send_ctl_error(rq, r, "writing the pcap", errbuf);
    }
    r = send_spool(rq, f, "application/vnd.tcpdump.pcap", "htracr.pcap");
    fclose(f);
    return r;
}

/* ---- state-changing calls (POST, token checked by the caller) ---- */

/* Read the request body into a new buffer of at most limit bytes. 0, or
 * -EFBIG past the limit, -EIO when the client went away, -ENOMEM. */
static int read_body(struct req *rq, size_t limit, uint8_t **out, size_t *outlen)
{
    long long cl = rq->ri->content_length;
    size_t cap, len = 0;
    uint8_t *buf;

    *out = NULL;
    *outlen = 0;
    if (cl > 0 && (unsigned long long)cl > limit)
        return -EFBIG;
    cap = cl >= 0 ? (size_t)cl + 1 : 64 * 1024;
    buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
            uint8_t *nb;
            if (ncap <= cap) {
                free(buf);
                return -EFBIG;
            }
            nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap = ncap;
        }
        int n = mg_read(rq->conn, buf + len, cap - len);
        if (n < 0) {
            free(buf);
            return -EIO;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > limit) {
            free(buf);
            return -EFBIG;
        }
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static int api_upload(struct req *rq)
{
    struct server *srv = rq->srv;
    char errbuf[SERVER_ERRBUF] = "";
    uint8_t *data;
    size_t len;
    int r;

    if (!srv->ctl.load_pcap)
        return send_error(rq, 501, "this run cannot load capture files");
    r = read_body(rq, srv->upload_limit, &data, &len);
    if (r == -EFBIG)
        return send_error(rq, 413,
                          "the file is larger than the upload limit of %zu bytes "
                          "(start htracr with a larger --upload-limit)",
                          srv->upload_limit);
    if (r < 0)
        return send_error(rq, r == -EIO ? 400 : 500, "reading the upload failed: %s", strerror(-r));
    if (len == 0) {
        free(data);
        return send_error(rq, 400, "empty upload: send a pcap or pcapng file as the body");
    }
    /* ?name=: the file's name, for the source line and download names;
     * kept to printable ASCII without '/', or dropped */
    char name[128];
    const char *q = rq->ri->query_string;
    int nn = q ? mg_get_var(q, strlen(q), "name", name, sizeof(name)) : -1;
    for (int i = 0; i < nn; i++)
        if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e || name[i] == '/')
            nn = 0;
    r = srv->ctl.load_pcap(srv->ctl.ctx, data, len, nn > 0 ? name : NULL, errbuf);
    free(data);
    if (r < 0)
        return send_ctl_error(rq, r, "loading the file", errbuf);
    server_notify(srv);
    return reply_status(rq);
}

typedef int (*ctl_fn)(void *ctx, char *errbuf);

static int api_ctl_call(struct req *rq, ctl_fn fn, const char *what)
{
    struct server *srv = rq->srv;
    char errbuf[SERVER_ERRBUF] = "";
    int r;

    if (!fn)
        return send_error(rq, 501, "%s is not available in this run", what);
    r = fn(srv->ctl.ctx, errbuf);
    if (r < 0)
        return send_ctl_error(rq, r, what, errbuf);
    server_notify(srv);
    return reply_status(rq);
}

static int api_start(struct req *rq)
{
    return api_ctl_call(rq, rq->srv->ctl.start, "start");
}

static int api_stop(struct req *rq)
{
    return api_ctl_call(rq, rq->srv->ctl.stop, "stop");
}

static int api_clear(struct req *rq)
{
    return api_ctl_call(rq, rq->srv->ctl.clear, "clear");
}

static int reply_settings(struct req *rq)
{
    struct server_status ss;
    char buf[SERVER_MAX_PORTS * 7 + 32];
    size_t n = 0;

    get_status(rq->srv, &ss);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"ports\":[");
    for (int i = 0; i < ss.nports; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u", i ? "," : "", ss.ports[i]);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "]}\n");
    return send_json(rq, 200, buf, n);
}

static int api_settings_get(struct req *rq)
{
    return reply_settings(rq);
}

/* {"ports": [80, 8080]} -> ports. 0, or -EINVAL with the reason in why. */
static int parse_ports(const char *s, uint16_t *ports, int *nports, char *why, size_t whylen)
{
    const char *p = strstr(s, "\"ports\"");
    int n = 0;

    if (!p) {
        snprintf(why, whylen, "give the ports as {\"ports\": [80, 8080]}");
        return -EINVAL;
    }
    p += 7;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (*p++ != ':')
        goto syntax;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (*p++ != '[')
        goto syntax;
    for (;;) {
        const char *start;
        int port;

        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p == ']' && n == 0)
            break;
        start = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (parse_port_str(start, (size_t)(p - start), &port) < 0) {
            snprintf(why, whylen, "bad port near '%.10s': give numbers 1-65535", start);
            return -EINVAL;
        }
        if (n >= SERVER_MAX_PORTS) {
            snprintf(why, whylen, "too many ports: at most %d", SERVER_MAX_PORTS);
            return -EINVAL;
        }
        ports[n++] = (uint16_t)port;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']')
            break;
        goto syntax;
    }
    if (n == 0) {
        snprintf(why, whylen, "give at least one port");
        return -EINVAL;
    }
    *nports = n;
    return 0;
syntax:
    snprintf(why, whylen, "give the ports as {\"ports\": [80, 8080]}");
    return -EINVAL;
}

static int api_settings_post(struct req *rq)
{
    struct server *srv = rq->srv;
    char errbuf[SERVER_ERRBUF] = "";
    uint16_t ports[SERVER_MAX_PORTS];
    int nports = 0, r;
    uint8_t *body;
    size_t len;

    if (!srv->ctl.set_ports)
        return send_error(rq, 501, "the ports cannot be changed in this run");
    r = read_body(rq, SETTINGS_BODY_LIMIT, &body, &len);
    if (r == -EFBIG)
        return send_error(rq, 413, "settings are at most %d bytes", SETTINGS_BODY_LIMIT);
    if (r < 0)
        return send_error(rq, 400, "reading the settings failed: %s", strerror(-r));
    body[len] = '\0'; /* read_body leaves room for one more byte */
    r = parse_ports((const char *)body, ports, &nports, errbuf, sizeof(errbuf));
    free(body);
    if (r < 0)
        return send_error(rq, 400, "%s", errbuf);
    r = srv->ctl.set_ports(srv->ctl.ctx, ports, nports, errbuf);
    if (r < 0)
        return send_ctl_error(rq, r, "changing the ports", errbuf);
    server_notify(srv);
    return reply_settings(rq);
}

static int api_replay(struct req *rq)
{
    struct server *srv = rq->srv;
    char errbuf[SERVER_ERRBUF] = "";
    struct store_message *m;
    uint64_t id = 0;
    int r, kind = -1, has_body = 0;

    if (query_u64(rq->ri, "msg", &id) != 1 || id == 0)
        return send_error(rq, 400, "give msg (a request's message id), e.g. /api/replay?msg=1");
    if (!srv->ctl.replay)
        return send_error(rq, 501, "requests cannot be made again in this run");
    store_lock(srv->st);
    if (export_api_find_message(srv->st, id, &m)) {
        kind = m->kind;
        has_body = m->body_bytes > 0 || m->gap_bytes > 0;
    }
    store_unlock(srv->st);
    if (kind < 0)
        return send_error(rq, 404, "no message %llu in the model", (unsigned long long)id);
    if (kind != MSG_REQUEST)
        return send_error(rq, 400, "message %llu is a response: only requests can be made again",
                          (unsigned long long)id);
    if (has_body)
        return send_error(rq, 400,
                          "request %llu has a body: only requests without one can be "
                          "made again",
                          (unsigned long long)id);
    r = srv->ctl.replay(srv->ctl.ctx, id, errbuf);
    if (r < 0)
        return send_ctl_error(rq, r, "making the request again", errbuf);
    server_notify(srv);
    return send_json(rq, 200, "{\"ok\":true}\n", 12);
}

/* ---- routing ---- */

struct route {
    const char *path;
    int (*get)(struct req *);  /* GET and HEAD */
    int (*post)(struct req *); /* with the token */
};

static const struct route routes[] = {
    {"/api/status", api_status, NULL},
    {"/api/model", api_model, NULL},
    {"/api/packet", api_packet, NULL},
    {"/api/body", api_body, NULL},
    {"/api/model.json", api_model_json, NULL},
    {"/api/export.har", api_export_har, NULL},
    {"/api/export.jsonl", api_export_jsonl, NULL},
    {"/api/capture.pcap", api_capture_pcap, NULL},
    {"/api/settings", api_settings_get, api_settings_post},
    {"/api/upload", NULL, api_upload},
    {"/api/start", NULL, api_start},
    {"/api/stop", NULL, api_stop},
    {"/api/clear", NULL, api_clear},
    {"/api/replay", NULL, api_replay},
    {"/metrics", serve_metrics, NULL}, /* where Prometheus looks */
};

static int api_dispatch(struct req *rq)
{
    const char *method = rq->ri->request_method;
    int get = strcmp(method, "GET") == 0 || rq->head;
    int post = strcmp(method, "POST") == 0;

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        if (strcmp(rq->path, r->path) != 0)
            continue;
        if (get && r->get)
            return r->get(rq);
        if (post && r->post) {
            if (!token_equal(rq->srv, mg_get_header(rq->conn, "X-Htracr-Token")))
                return send_error(rq, 403,
                                  "missing or wrong X-Htracr-Token header: reload "
                                  "the page to get this run's token");
            return r->post(rq);
        }
        return send_error(rq, 405, "%s does not take %s (use %s)", r->path, method,
                          r->get && r->post ? "GET or POST"
                          : r->get          ? "GET"
                                            : "POST");
    }
    return send_error(rq, 404, "no such API call: %s (see docs/api.md)", rq->path);
}

/* ---- static files ---- */

static const char *web_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", JSON_TYPE},
        {".map", JSON_TYPE},
        {".txt", "text/plain; charset=utf-8"},
        {".md", "text/plain; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".webp", "image/webp"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".woff", "font/woff"},
        {".wasm", "application/wasm"},
    };
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static int asset_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct web_asset *)elem)->path);
}

static const struct web_asset *asset_find(const char *path)
{
    return bsearch(path, web_assets, web_assets_count, sizeof(web_assets[0]), asset_cmp);
}

/* index.html with every TOKEN_PLACEHOLDER replaced by the token. */
static int send_index(struct req *rq, const char *type, const uint8_t *data, size_t len)
{
    const size_t pl = sizeof(TOKEN_PLACEHOLDER) - 1, tl = strlen(rq->srv->token);
    size_t count = 0, n = 0;
    char *out;
    int r;

    for (size_t i = 0; i + pl <= len; i++)
        if (memcmp(data + i, TOKEN_PLACEHOLDER, pl) == 0) {
            count++;
            i += pl - 1;
        }
    out = malloc(len + count * tl + 1);
    if (!out)
        return send_error(rq, 500, "out of memory");
    for (size_t i = 0; i < len;) {
        if (i + pl <= len && memcmp(data + i, TOKEN_PLACEHOLDER, pl) == 0) {
            memcpy(out + n, rq->srv->token, tl);
            n += tl;
            i += pl;
        } else {
            out[n++] = (char)data[i++];
        }
    }
    r = send_bytes(rq, 200, type, NULL, out, n);
    free(out);
    return r;
}

static int serve_disk(struct req *rq, const char *path)
{
    struct server *srv = rq->srv;
    size_t rootlen = strlen(srv->web_root);
    char *full = NULL, *real = NULL;
    uint8_t *data = NULL;
    struct stat sb;
    FILE *f = NULL;
    int r;

    if (asprintf(&full, "%s%s", srv->web_root, path) < 0) {
        full = NULL;
        r = send_error(rq, 500, "out of memory");
        goto out;
    }
    real = realpath(full, NULL);
    /* inside the root (symbolic links may not lead out), a regular file */
    if (!real || strncmp(real, srv->web_root, rootlen) != 0 || real[rootlen] != '/' ||
        stat(real, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        r = send_error(rq, 404, "not found: %s", path);
        goto out;
    }
    if (sb.st_size > WEB_FILE_LIMIT) {
        r = send_error(rq, 500, "%s is too large to serve", path);
        goto out;
    }
    f = fopen(real, "rb");
    data = malloc((size_t)sb.st_size + 1);
    if (!f || !data || fread(data, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        r = send_error(rq, 500, "reading %s failed", path);
        goto out;
    }
    if (strcmp(path, "/index.html") == 0)
        r = send_index(rq, web_type(path), data, (size_t)sb.st_size);
    else
        r = send_bytes(rq, 200, web_type(path), NULL, data, (size_t)sb.st_size);
out:
    if (f)
        fclose(f);
    free(data);
    free(real);
    free(full);
    return r;
}

static int serve_static(struct req *rq)
{
    const char *path = rq->path;
    const struct web_asset *a;

    if (strcmp(rq->ri->request_method, "GET") != 0 && !rq->head)
        return send_error(rq, 405, "only GET here");
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    if (rq->srv->web_root)
        return serve_disk(rq, path);
    a = asset_find(path);
    if (!a) {
        if (strcmp(path, "/index.html") == 0)
            return send_error(rq, 404,
                              "this htracr was built without the web UI "
                              "(web/index.html): serve it with --web-root DIR");
        return send_error(rq, 404, "not found: %s", path);
    }
    if (strcmp(path, "/index.html") == 0)
        return send_index(rq, a->type, a->data, a->len);
    return send_bytes(rq, 200, a->type, NULL, a->data, a->len);
}

/* ---- the gate ---- */

static int on_request(struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    struct req rq = {
        .srv = ri ? ri->user_data : NULL,
        .conn = conn,
        .ri = ri,
    };
    const char *raw;

    if (!rq.srv)
        return 0;
    rq.head = strcmp(ri->request_method, "HEAD") == 0;
    if (!host_ok(rq.srv, mg_get_header(conn, "Host")))
        return send_error(&rq, 403, "the Host header does not name this server (open %s)",
                          rq.srv->url);
    if (strcmp(ri->request_method, "OPTIONS") == 0)
        return send_error(&rq, 403, "cross-origin requests are not allowed");
    raw = ri->local_uri_raw ? ri->local_uri_raw : ri->request_uri;
    if (!raw || raw[0] != '/')
        return send_error(&rq, 400, "bad request path");
    if (has_dotdot(raw) || strchr(raw, '\\'))
        return send_error(&rq, 403, "paths with .. are refused");
    rq.path = ri->local_uri ? ri->local_uri : raw;
    if (strcmp(rq.path, "/api/feed") == 0) {
        const char *up = mg_get_header(conn, "Upgrade");
        if (!up || strcasecmp(up, "websocket") != 0)
            return send_error(&rq, 400, "/api/feed is a websocket");
        if (!query_token_ok(rq.srv, ri))
            return send_error(&rq, 403,
                              "missing or wrong token in /api/feed?token=: reload "
                              "the page to get this run's token");
        return 0; /* civetweb's websocket handler takes it from here */
    }
    if (strncmp(rq.path, "/api/", 5) == 0 || strcmp(rq.path, "/api") == 0 ||
        strcmp(rq.path, "/metrics") == 0)
        return api_dispatch(&rq);
    return serve_static(&rq);
}

static int on_log(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    log_msg(LOG_DEBUG, "civetweb: %s", message);
    return 1;
}

/* ---- the websocket feed ---- */

/* A feed frame ({"generation","seq"} and, with ss, stats) into mb. */
static int feed_frame(struct server *srv, const struct server_status *ss, struct membuf *mb,
                      uint64_t *gen, uint64_t *seq)
{
    int r;

    if (membuf_open(mb) < 0)
        return -ENOMEM;
    store_lock(srv->st);
    *gen = store_generation(srv->st);
    *seq = store_seq(srv->st);
    r = export_api_feed(srv->st, ss, mb->f);
    store_unlock(srv->st);
    if (membuf_close(mb) < 0 && r == 0)
        r = -EIO;
    if (r < 0)
        membuf_free(mb);
    return r;
}

static int ws_connect(const struct mg_connection *conn, void *cbdata)
{
    struct server *srv = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    /* the gate checked it; once more, as refusing here is cheap */
    return ri && query_token_ok(srv, ri) ? 0 : 1;
}

static void ws_ready(struct mg_connection *conn, void *cbdata)
{
    struct server *srv = cbdata;
    struct feed_client *fc = calloc(1, sizeof(*fc));
    struct membuf mb;
    uint64_t gen, seq;

    if (!fc)
        return;
    fc->conn = conn;
    /* where the model is now, so the page knows what to fetch */
    if (feed_frame(srv, NULL, &mb, &gen, &seq) == 0) {
        mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, mb.buf, mb.len);
        membuf_free(&mb);
    }
    pthread_mutex_lock(&srv->feed_lock);
    fc->next = srv->clients;
    srv->clients = fc;
    pthread_mutex_unlock(&srv->feed_lock);
}

static int ws_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
    (void)conn;
    (void)data;
    (void)len;
    (void)cbdata;
    /* the page sends nothing we need; keep the connection until it closes */
    return (bits & 0x0f) != MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE;
}

static void ws_close(const struct mg_connection *conn, void *cbdata)
{
    struct server *srv = cbdata;

    pthread_mutex_lock(&srv->feed_lock);
    for (struct feed_client **pp = &srv->clients; *pp; pp = &(*pp)->next)
        if ((*pp)->conn == conn) {
            struct feed_client *dead = *pp;
            *pp = dead->next;
            free(dead);
            break;
        }
    pthread_mutex_unlock(&srv->feed_lock);
}

/* A thread of the server's, as it starts: not at the capture thread's
 * priority (main.c), which it was made with. On Linux the nice value is
 * each thread's own (POSIX has it per process), set by its tid, 0 for the
 * calling thread. Nice 0 is allowed to an unprivileged thread: it is a
 * lower priority. */
static void thread_priority(const struct server *srv)
{
    if (srv->reset_nice && setpriority(PRIO_PROCESS, 0, 0) < 0)
        log_msg(LOG_DEBUG, "server thread: setpriority: %s", strerror(errno));
}

static void *on_thread_start(const struct mg_context *ctx, int thread_type)
{
    (void)thread_type;
    thread_priority(mg_get_user_data(ctx));
    return NULL;
}

static void *feed_main(void *arg)
{
    struct server *srv = arg;
    unsigned tick = 0;

    thread_priority(srv);

    pthread_mutex_lock(&srv->feed_lock);
    while (!srv->stopping) {
        struct timespec ts;
        struct server_status ss;
        struct membuf mb;
        uint64_t gen, seq;
        int stats_due, live = 0, notified;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += FEED_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->feed_cond, &srv->feed_lock, &ts);
        if (srv->stopping)
            break;
        tick++;
        notified = (int)atomic_exchange(&srv->notified, 0);
        stats_due = tick % FEED_STATS_TICKS == 0;
        if (!srv->clients || (!notified && !stats_due))
            continue;
        pthread_mutex_unlock(&srv->feed_lock);
        if (stats_due) {
            get_status(srv, &ss);
            live = ss.live;
        }
        /* a missed server_notify() still shows within a second */
        if (feed_frame(srv, live ? &ss : NULL, &mb, &gen, &seq) < 0) {
            pthread_mutex_lock(&srv->feed_lock);
            continue;
        }
        pthread_mutex_lock(&srv->feed_lock);
        if (live || gen != srv->sent_gen || seq != srv->sent_seq) {
            for (struct feed_client *fc = srv->clients; fc; fc = fc->next)
                mg_websocket_write(fc->conn, MG_WEBSOCKET_OPCODE_TEXT, mb.buf, mb.len);
            srv->sent_gen = gen;
            srv->sent_seq = seq;
        }
        membuf_free(&mb);
    }
    pthread_mutex_unlock(&srv->feed_lock);
    return NULL;
}

void server_notify(struct server *srv)
{
    if (srv)
        atomic_store(&srv->notified, 1);
}

/* ---- life cycle ---- */

const char *server_url(const struct server *srv)
{
    return srv->url;
}

static int make_token(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[16];
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

/* Why the listening socket cannot be had: civetweb says only "Failed to
 * setup server ports". Bind a socket of our own the way it does (with
 * SO_REUSEADDR) and give its errno, 0 if that one works. */
static int bind_probe(struct in_addr a4, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, err = 0;
    if (fd < 0)
        return errno;
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = a4};
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
        err = errno;
    close(fd);
    return err;
}

struct server *server_new(const struct server_opts *o, struct store *st,
                          const struct server_ctl *ctl, char errbuf[SERVER_ERRBUF])
{
    struct server *srv = calloc(1, sizeof(*srv));
    const char *addr = o->listen_addr && *o->listen_addr ? o->listen_addr : "127.0.0.1";
    struct mg_callbacks cb;
    struct mg_init_data init;
    struct mg_error_data mgerr;
    unsigned mgcode = 0;
    char mgtext[256] = "";
    char ports[64];
    struct in_addr a4;
    pthread_condattr_t ca;
    int err;

    errbuf[0] = '\0';
    if (!srv) {
        snprintf(errbuf, SERVER_ERRBUF, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&srv->feed_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->feed_cond, &ca);
    pthread_condattr_destroy(&ca);
    srv->st = st;
    if (ctl)
        srv->ctl = *ctl;
    srv->upload_limit = o->upload_limit ? o->upload_limit : DEFAULT_UPLOAD_LIMIT;
    srv->reset_nice = o->reset_nice;

    if (strcasecmp(addr, "localhost") == 0)
        addr = "127.0.0.1";
    if (inet_pton(AF_INET, addr, &a4) != 1) {
        if (strchr(addr, ':'))
            snprintf(errbuf, SERVER_ERRBUF,
                     "cannot listen on '%s': this build serves IPv4 "
                     "only; give an IPv4 address such as 127.0.0.1",
                     addr);
        else
            snprintf(errbuf, SERVER_ERRBUF,
                     "bad listen address '%s': give an IPv4 address "
                     "such as 127.0.0.1",
                     addr);
        err = EINVAL;
        goto fail;
    }
    inet_ntop(AF_INET, &a4, srv->addr, sizeof(srv->addr));
    srv->loopback = (ntohl(a4.s_addr) >> 24) == 127;
    srv->any_addr = a4.s_addr == htonl(INADDR_ANY);
    if (o->port < 0 || o->port > 65535) {
        snprintf(errbuf, SERVER_ERRBUF, "bad listen port %d: give 1-65535", o->port);
        err = EINVAL;
        goto fail;
    }
    err = make_token(srv->token);
    if (err < 0) {
        snprintf(errbuf, SERVER_ERRBUF, "cannot make the page token: getrandom: %s",
                 strerror(-err));
        err = -err;
        goto fail;
    }
    if (o->web_root) {
        struct stat sb;
        srv->web_root = realpath(o->web_root, NULL);
        if (!srv->web_root || stat(srv->web_root, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            snprintf(errbuf, SERVER_ERRBUF, "--web-root '%s' is not a directory", o->web_root);
            err = ENOTDIR;
            goto fail;
        }
    }

    mg_init_library(0);
    srv->lib_init = 1;
    snprintf(ports, sizeof(ports), "%s:%d", srv->addr, o->port);
    const char *options[] = {
        "listening_ports",
        ports,
        "num_threads",
        "24",
        "request_timeout_ms",
        "30000",
        "enable_keep_alive",
        "no",
        "enable_directory_listing",
        "no",
        "access_control_allow_origin",
        "",
        "access_control_allow_methods",
        "",
        "access_control_allow_headers",
        "",
        "enable_websocket_ping_pong",
        "yes",
        "websocket_timeout_ms",
        "30000",
        NULL,
    };
    memset(&cb, 0, sizeof(cb));
    cb.begin_request = on_request;
    cb.log_message = on_log;
    cb.init_thread = on_thread_start;
    init.callbacks = &cb;
    init.user_data = srv;
    init.configuration_options = options;
    mgerr.code = &mgcode;
    mgerr.text = mgtext;
    mgerr.text_buffer_size = sizeof(mgtext);
    /* what the gate reads, set before the first request can come */
    srv->port = o->port;
    snprintf(srv->url, sizeof(srv->url), "http://%s:%d/", srv->addr, srv->port);
    srv->mg = mg_start2(&init, &mgerr);
    if (!srv->mg) {
        err = bind_probe(a4, o->port);
        if (err == EACCES)
            snprintf(errbuf, SERVER_ERRBUF,
                     "cannot serve on %s: ports below 1024 need root, and htracr gives "
                     "root up before it serves anything: choose a port from 1024 up "
                     "(the default is 8000)",
                     ports);
        else if (err == EADDRNOTAVAIL)
            snprintf(errbuf, SERVER_ERRBUF,
                     "cannot serve on %s: %s is not an address of this host (`ip addr` "
                     "lists them; the default is 127.0.0.1)",
                     ports, srv->addr);
        else if (err == EADDRINUSE)
            snprintf(errbuf, SERVER_ERRBUF,
                     "cannot serve on %s: another program listens there (`ss -ltnp` "
                     "says which): choose another port",
                     ports);
        else
            snprintf(errbuf, SERVER_ERRBUF, "cannot serve on %s: %s", ports,
                     err         ? strerror(err)
                     : mgtext[0] ? mgtext
                                 : "civetweb failed");
        if (!err)
            err = EIO;
        goto fail;
    }
    if (srv->port == 0) {
        struct mg_server_port sp;
        if (mg_get_server_ports(srv->mg, 1, &sp) != 1) {
            snprintf(errbuf, SERVER_ERRBUF, "cannot tell which port civetweb listens on");
            err = EIO;
            goto fail;
        }
        srv->port = sp.port;
        snprintf(srv->url, sizeof(srv->url), "http://%s:%d/", srv->addr, srv->port);
    }
    mg_set_websocket_handler(srv->mg, "/api/feed", ws_connect, ws_ready, ws_data, ws_close, srv);
    err = pthread_create(&srv->feed_thread, NULL, feed_main, srv);
    if (err) {
        snprintf(errbuf, SERVER_ERRBUF, "cannot start the feed thread: %s", strerror(err));
        goto fail;
    }
    srv->feed_running = 1;
    if (!srv->loopback)
        log_msg(LOG_WARN,
                "serving on %s, which is not a loopback address: anyone who can "
                "reach it sees the captured traffic (cookies, credentials); the default is "
                "127.0.0.1",
                ports);
    return srv;
fail:
    server_free(srv);
    errno = err;
    return NULL;
}

void server_free(struct server *srv)
{
    if (!srv)
        return;
    if (srv->feed_running) {
        pthread_mutex_lock(&srv->feed_lock);
        srv->stopping = 1;
        pthread_cond_signal(&srv->feed_cond);
        pthread_mutex_unlock(&srv->feed_lock);
        pthread_join(srv->feed_thread, NULL);
    }
    if (srv->mg)
        mg_stop(srv->mg); /* the websocket close handlers run in here */
    while (srv->clients) {
        struct feed_client *next = srv->clients->next;
        free(srv->clients);
        srv->clients = next;
    }
    if (srv->lib_init)
        mg_exit_library();
    pthread_cond_destroy(&srv->feed_cond);
    pthread_mutex_destroy(&srv->feed_lock);
    free(srv->web_root);
    free(srv);
}
