/* SPDX-License-Identifier: MIT */
/*
 * export_summary.c - the text `htracr -r FILE` prints when no other output
 * is asked for: a line per connection, then a line per request with its
 * response.
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
 * 3,500 instructions a line, more than the HTTP parse of the request and
 * its response together.
 */
#include <errno.h>
#include <string.h>

#include "htracr/decode.h"
#include "htracr/export.h"
#include "htracr/store.h"

struct sum_out {
    FILE *f;
    size_t n;
    int err;
    char b[16384];
};

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
    char t[20];
    size_t i = sizeof(t);

    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sum_mem(o, t + i, sizeof(t) - i);
}

/* µs as milliseconds with one decimal, rounded half up: 1250 -> "1.3". */
static void sum_ms(struct sum_out *o, int64_t us)
{
    uint64_t tenths = ((uint64_t)us + 50) / 100;

    sum_u64(o, tenths / 10);
    char *d = sum_room(o, 2);
    d[0] = '.';
    d[1] = (char)('0' + tenths % 10);
    o->n += 2;
}

static void sum_conn(struct sum_out *o, const struct store_conn *c)
{
    char a[64];

    SUM_LIT(o, "connection ");
    sum_u64(o, c->id);
    SUM_LIT(o, "  ");
    decode_addr_str(&c->client_addr, a, sizeof(a));
    sum_str(o, a);
    SUM_LIT(o, ":");
    sum_u64(o, c->client_port);
    SUM_LIT(o, " -> ");
    decode_addr_str(&c->server_addr, a, sizeof(a));
    sum_str(o, a);
    SUM_LIT(o, ":");
    sum_u64(o, c->server_port);
    SUM_LIT(o, "  ");
    sum_u64(o, c->npackets);
    sum_str(o, c->close == CLOSE_FIN   ? " packets  closed\n"
               : c->close == CLOSE_RST ? " packets  reset\n"
                                       : " packets  open\n");

    for (uint32_t i = 0; i < c->nmessages; i++) {
        const struct store_message *m = c->messages[i];
        if (m->kind == MSG_REQUEST) {
            const struct store_message *r = m->response ? store_conn_message(c, m->response) : NULL;
            SUM_LIT(o, "  ");
            sum_esc(o, m->method ? m->method : "?");
            SUM_LIT(o, " ");
            sum_esc(o, m->url ? m->url : "?");
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
            }
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
            sum_u64(o, m->status);
            SUM_LIT(o, " ");
            sum_esc(o, m->reason ? m->reason : "");
            if (m->error) {
                SUM_LIT(o, "  ");
                sum_esc(o, m->error);
            }
            SUM_LIT(o, "\n");
        }
    }
}

int export_summary(struct store *st, FILE *f)
{
    struct sum_out o;

    o.f = f;
    o.n = 0;
    o.err = 0;
    for (struct store_conn *c = store_first(st); c; c = store_next(c))
        sum_conn(&o, c);
    sum_flush(&o);
    if (fflush(f) != 0)
        o.err = 1;
    return o.err ? -EIO : 0;
}
