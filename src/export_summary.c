/* SPDX-License-Identifier: MIT */
/*
 * export_summary.c - the text `htracr -r FILE` prints when no other output
 * is asked for: a line per connection (addresses, packets, how it ended, its
 * handshake RTT, retransmissions and bytes the capture lacks), then a line
 * per request with its response.
 *
 * Last stage; reads the store. This is the one output that goes to a
 * terminal, so every string from the wire (method, URL, reason, error) is
 * written with its control and non-ASCII bytes as \xHH and the backslash as
 * \\: a reason phrase holding ESC sequences could otherwise retitle the
 * window, rewrite the screen or worse in whatever terminal reads the
 * summary, as with any sniffer that prints wire bytes raw. Printable ASCII
 * passes unchanged, so an ordinary summary reads as before.
 *
 * The lines are formatted here, not with printf: a keep-alive capture has a
 * line per request, and printf's parsing and float formatting cost about
 * 3,500 instructions a line, as much as the whole HTTP stage spends on the
 * request and its response (callgrind over bench/live's replay capture).
 */
#include <errno.h>
#include <string.h>

#include "htracr/decode.h"
#include "htracr/export.h"
#include "htracr/jsonw.h"
#include "htracr/store.h"

struct sum_out {
    FILE *f;
    size_t n;
    int err;
    char b[16384];
};

static void sum_init(struct sum_out *o, FILE *f)
{
    o->f = f;
    o->n = 0;
    o->err = 0;
}

static void sum_flush(struct sum_out *o)
{
    if (o->n && fwrite(o->b, 1, o->n, o->f) != o->n)
        o->err = 1;
    o->n = 0;
}

/* Room for want more bytes (want <= sizeof(o->b)). */
static inline char *sum_room(struct sum_out *o, size_t want)
{
    if (sizeof(o->b) - o->n < want)
        sum_flush(o);
    return o->b + o->n;
}

static void sum_mem_slow(struct sum_out *o, const char *s, size_t len)
{
    while (len) {
        size_t k = sizeof(o->b) - o->n;
        if (!k) {
            sum_flush(o);
            k = sizeof(o->b);
        }
        if (k > len)
            k = len;
        memcpy(o->b + o->n, s, k);
        o->n += k;
        s += k;
        len -= k;
    }
}

static inline void sum_mem(struct sum_out *o, const char *s, size_t len)
{
    if (sizeof(o->b) - o->n >= len) {
        memcpy(o->b + o->n, s, len);
        o->n += len;
    } else {
        sum_mem_slow(o, s, len);
    }
}

static void sum_str(struct sum_out *o, const char *s)
{
    sum_mem(o, s, strlen(s));
}

/* A string literal: its length known when compiled. */
#define SUM_LIT(o, lit) sum_mem((o), "" lit, sizeof(lit) - 1)

/* s with every byte outside printable ASCII as \xHH and '\' as \\. */
static void sum_esc(struct sum_out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;

    for (;;) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x7f && *p != '\\')
            p++;
        sum_mem(o, (const char *)run, (size_t)(p - run));
        if (!*p)
            return;
        char *d = sum_room(o, 4);
        if (*p == '\\') {
            d[0] = d[1] = '\\';
            o->n += 2;
        } else {
            d[0] = '\\';
            d[1] = 'x';
            d[2] = hex[*p >> 4];
            d[3] = hex[*p & 15];
            o->n += 4;
        }
        p++;
    }
}

static void sum_u64(struct sum_out *o, uint64_t v)
{
    char *d = sum_room(o, 20); /* UINT64_MAX has 20 digits */
    o->n = (size_t)(jsonw_put_u64(d, v) - o->b);
}

/* digits of v, exactly w of them (leading zeros) */
static void sum_digits(struct sum_out *o, uint64_t v, int w)
{
    char *d = sum_room(o, (size_t)w);
    for (int i = w - 1; i >= 0; i--, v /= 10)
        d[i] = (char)('0' + v % 10);
    o->n += (size_t)w;
}

/* µs as milliseconds the way ping gives them: three decimals below 1 ms
 * (a LAN's round trip), two below 10, one below 100, none above, each
 * rounded half up: 38 -> "0.038", 1249 -> "1.25", 16500 -> "16.5",
 * 250400 -> "250". */
static void sum_ms(struct sum_out *o, int64_t us)
{
    uint64_t u = (uint64_t)us, v;

    if (u < 1000) {
        SUM_LIT(o, "0.");
        sum_digits(o, u, 3);
    } else if ((v = (u + 5) / 10) < 1000) {
        sum_u64(o, v / 100);
        SUM_LIT(o, ".");
        sum_digits(o, v % 100, 2);
    } else if ((v = (u + 50) / 100) < 1000) {
        sum_u64(o, v / 10);
        SUM_LIT(o, ".");
        sum_digits(o, v % 10, 1);
    } else {
        sum_u64(o, (u + 500) / 1000);
    }
}

/* 192.0.2.1:80, [2001:db8::1]:80 */
static void sum_endpoint(struct sum_out *o, const struct ip_addr *addr, uint16_t port)
{
    char a[64];

    decode_addr_str(addr, a, sizeof(a));
    if (addr->family == 6) {
        SUM_LIT(o, "[");
        sum_str(o, a);
        SUM_LIT(o, "]");
    } else {
        sum_str(o, a);
    }
    SUM_LIT(o, ":");
    sum_u64(o, port);
}

/* Index of the first 1xx response of c at or after k, or c->nmessages. */
static uint32_t next_interim(const struct store_conn *c, uint32_t k)
{
    while (k < c->nmessages && (c->messages[k]->kind != MSG_RESPONSE || !c->messages[k]->interim))
        k++;
    return k;
}

static void sum_conn(struct sum_out *o, const struct store_conn *c)
{
    SUM_LIT(o, "connection ");
    sum_u64(o, c->id);
    SUM_LIT(o, "  ");
    sum_endpoint(o, &c->client_addr, c->client_port);
    SUM_LIT(o, " -> ");
    sum_endpoint(o, &c->server_addr, c->server_port);
    SUM_LIT(o, "  ");
    sum_u64(o, c->npackets);
    sum_str(o, c->npackets == 1 ? " packet" : " packets");
    sum_str(o, c->close == CLOSE_FIN ? "  closed" : c->close == CLOSE_RST ? "  reset" : "  open");
    /* The TCP facts that explain a slow or broken connection, when there
     * are any: its handshake, what was sent again, what the capture lacks. */
    if (c->midstream) {
        SUM_LIT(o, "  mid-stream");
    } else if (c->handshake_rtt_us >= 0) {
        SUM_LIT(o, "  handshake ");
        sum_ms(o, c->handshake_rtt_us);
        SUM_LIT(o, " ms");
    }
    uint64_t rexmit = c->stats.retransmits[DIR_C2S] + c->stats.retransmits[DIR_S2C];
    if (rexmit) {
        SUM_LIT(o, "  ");
        sum_u64(o, rexmit);
        sum_str(o, rexmit == 1 ? " retransmit" : " retransmits");
    }
    uint64_t gap = c->stats.gap_bytes[DIR_C2S] + c->stats.gap_bytes[DIR_S2C];
    if (gap) {
        SUM_LIT(o, "  ");
        sum_u64(o, gap);
        SUM_LIT(o, " B not captured");
    }
    SUM_LIT(o, "\n");

    uint32_t k = 0; /* the next 1xx response (next_interim) */
    for (uint32_t i = 0; i < c->nmessages; i++) {
        const struct store_message *m = c->messages[i];
        if (m->kind == MSG_REQUEST) {
            const struct store_message *r = m->response ? store_conn_message(c, m->response) : NULL;
            SUM_LIT(o, "  ");
            sum_esc(o, m->method ? m->method : "?");
            SUM_LIT(o, " ");
            sum_esc(o, m->url ? m->url : "?");
            /* its 1xx answers first (100 Continue, 103 Early Hints), as they
             * came. The 1xx responses answer the requests in their order,
             * so one cursor walks them for all the requests: the whole
             * connection is looked at once, however deep its pipeline. */
            while ((k = next_interim(c, k)) < c->nmessages && c->messages[k]->request < m->id)
                k++;
            for (; k < c->nmessages && c->messages[k]->request == m->id;
                 k = next_interim(c, k + 1)) {
                const struct store_message *x = c->messages[k];
                SUM_LIT(o, "  -> ");
                sum_u64(o, x->status);
                SUM_LIT(o, " ");
                sum_esc(o, x->reason ? x->reason : "");
            }
            if (r && r->http_major == 0) {
                SUM_LIT(o, "  -> (HTTP/0.9 response)  ");
                sum_u64(o, r->body_bytes);
                SUM_LIT(o, " B");
            } else if (r) {
                SUM_LIT(o, "  -> ");
                sum_u64(o, r->status);
                SUM_LIT(o, " ");
                sum_esc(o, r->reason ? r->reason : "");
                SUM_LIT(o, "  ");
                sum_u64(o, r->body_bytes);
                SUM_LIT(o, " B");
            } else {
                SUM_LIT(o, "  -> no response");
            }
            if (r && !r->complete && !r->error)
                SUM_LIT(o, " (incomplete)");
            if (r && r->ttfb_us >= 0) {
                SUM_LIT(o, "  ttfb ");
                sum_ms(o, r->ttfb_us);
                SUM_LIT(o, " ms");
            }
            if (m->error) {
                SUM_LIT(o, "  [");
                sum_esc(o, m->error);
                SUM_LIT(o, "]");
            }
            if (r && r->error) {
                SUM_LIT(o, "  [");
                sum_esc(o, r->error);
                SUM_LIT(o, "]");
            }
            SUM_LIT(o, "\n");
        } else if (!m->request) {
            SUM_LIT(o, "  (no request) -> ");
            if (m->status) /* 0: no status line was parsed */
                sum_u64(o, m->status);
            else
                SUM_LIT(o, "?");
            SUM_LIT(o, " ");
            sum_esc(o, m->reason ? m->reason : "");
            if (m->error) {
                SUM_LIT(o, "  [");
                sum_esc(o, m->error);
                SUM_LIT(o, "]");
            }
            SUM_LIT(o, "\n");
        }
    }
}

int export_summary_conn(const struct store_conn *c, FILE *f)
{
    struct sum_out o;

    sum_init(&o, f);
    sum_conn(&o, c);
    sum_flush(&o);
    return o.err ? -EIO : 0;
}

int export_summary(struct store *st, FILE *f)
{
    struct sum_out o;

    sum_init(&o, f);
    for (struct store_conn *c = store_first(st); c; c = store_next(c))
        sum_conn(&o, c);
    sum_flush(&o);
    if (fflush(f) != 0 || ferror(f))
        o.err = 1;
    return o.err ? -EIO : 0;
}
