/* SPDX-License-Identifier: MIT */
/*
 * http.c - the HTTP stage: llhttp over each direction of a reassembled TCP
 * connection, writing struct store_message entries into the model.
 *
 * TCP (tcp.c) hands us each direction's bytes in stream order, one packet's
 * worth at a time, plus gaps and end of stream. Each direction has its own
 * llhttp parser (requests c2s, responses s2c). The parser is made to pause at
 * the three moments we must place exactly in the byte stream - first byte of a
 * message, end of its header block, end of the message - so that bytes between
 * two pauses belong to one message: that gives the packets a message spans,
 * its times and its header size without guessing, however the callbacks are
 * split across packets. Everything else (start line, headers, body) comes from
 * llhttp's span callbacks, copied into the connection's arena with a bound.
 *
 * Pairing: a FIFO of requests still waiting for their final response. A
 * response answers the oldest one; 1xx (except 101) are interim and leave it
 * waiting. HEAD answers carry no body (we tell llhttp). CONNECT + 2xx and 101
 * Switching Protocols end parsing of both directions: the rest is opaque.
 * llhttp pauses after any request that asks for an Upgrade (or CONNECT); we
 * then hold the client's following bytes (bounded) until the answer shows
 * whether the switch happened, and replay them through the parser if not.
 *
 * Lenient llhttp flags, each because a passive observer must show what was on
 * the wire rather than refuse it (we are not the server and cannot be
 * smuggled into anything):
 *  - headers: header values with bytes llhttp's token check rejects (raw
 *    UTF-8, stray control bytes) are common from real servers.
 *  - chunked length: Transfer-Encoding: chunked together with Content-Length;
 *    framing follows Transfer-Encoding as RFC 9112 says.
 *  - keep-alive: data after a "Connection: close" / HTTP/1.0 message is still
 *    parsed instead of silently discarded; if it is on the wire, show it.
 * Transfer-Encoding with chunked not last stays strict (an error, shown).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>
#include <zlib.h>

#include "htracr/http.h"
#include "htracr/log.h"
#include "htracr/store.h"

/* Client bytes held while an Upgrade/CONNECT request waits for its answer. */
/* HTTP allows any token as a method (RFC 9110 9.1); llhttp knows a fixed
 * list. An unknown token this long or shorter is kept and parsed as GET. */
#define HTTP_EXT_METHOD_MAX 32
#define HTTP_PEND_MAX (64 * 1024)
#define HTTP_PEND_SEGS 64
/* Gaps inside a body are fed to llhttp as zeros, this many at a time. */
#define HTTP_ZERO_CHUNK (16 * 1024)
/* Body scratch buffers larger than this are freed after each message:
 * every direction of every open connection may keep one (5,000 open
 * connections that had 30 KB answers kept 160 MB this way at 64 KiB), and
 * what they keep takes budget from the model (store_conn_side). */
#define HTTP_BODY_KEEP_CAP (4 * 1024)
/* Inflated output is made room for this much at a time. */
#define HTTP_INFLATE_STEP (64 * 1024)

/* DS_RESYNC: a capture gap left the parser out of step; bytes are skipped
 * until a message start (a status line, or a request line after a line
 * end), where parsing picks up again. */
/* DS_RAW09: the answer to an HTTP/0.9 request: no status line, no headers,
 * a body until the connection closes. */
enum dstate { DS_PARSING = 0, DS_WAIT_UPGRADE, DS_STOPPED, DS_RESYNC, DS_RAW09 };
enum pev { EV_NONE = 0, EV_BEGIN, EV_HEADERS, EV_COMPLETE };
enum bmode { BODY_OFF = 0, BODY_IDENTITY, BODY_INFLATE, BODY_DONE };

/* A string llhttp hands over in spans. The first span is only pointed at
 * (ext): it lies in the bytes being parsed, and most start lines, names
 * and values come whole. A second span, or the end of the bytes being
 * parsed (strbuf_own), copies it into p. */
struct strbuf {
    char *p;
    const char *ext; /* the bytes, while not copied; else NULL */
    size_t n, cap;
    uint8_t over; /* more arrived than the bound allows */
};

struct body {
    uint8_t *buf;       /* decoded bytes kept so far (malloc, <= body_limit) */
    const uint8_t *ext; /* or: the first len bytes, still in the data being
                         * parsed (body_own copies them into buf) */
    size_t len, cap;
    size_t limit;
    uint8_t mode; /* enum bmode */
    uint8_t zinit;
    uint8_t ended; /* inflate saw the end of the stream */
    uint8_t nstash;
    uint8_t stash[2]; /* first encoded bytes, to tell zlib from raw deflate */
    z_stream zs;
};

struct hdr_len {
    uint32_t name, value;
};

/* What llhttp's state is made of, less what the start line sets (method,
 * version, status) and what never changes on a direction (type, lenient
 * flags, data): see blk_skip. */
struct ll_mark {
    void *cur;
    uint64_t content_length;
    int32_t index;
    uint16_t flags;
    uint8_t header_state, finish;
};

struct http_dir {
    struct http_conn *h;
    int dir;
    llhttp_t parser;
    uint8_t state;     /* enum dstate */
    uint8_t ev;        /* event the last pause was for */
    uint8_t pausing;   /* callbacks pause at events (off inside llhttp_finish) */
    uint8_t gap;       /* feeding zeros for a gap: no capture, no packets */
    uint8_t gap_known; /* ...for bytes the capture left out on purpose (body
                        * skip): their packet was seen and carries them */
    uint8_t hdr_done;  /* header end placed for the current message */
    uint8_t in_body;   /* inside Content-Length data or a chunk's data */
    uint8_t body_eof;  /* body delimited by close */
    uint8_t midstream; /* picked up mid-stream, no byte fed yet (http_conn_midstream) */
    uint32_t pkt;      /* packet carrying the bytes being fed */
    uint32_t m_index;  /* d->m's index in the connection's messages */
    const char *cenc;  /* d->m's Content-Encoding value (in the arena), or NULL */
    int64_t ts;
    uint64_t off;               /* stream bytes consumed by the parser (gaps included) */
    uint64_t msg_off;           /* stream offset of the current message's first byte */
    struct store_message *m;    /* message being parsed, or NULL */
    struct store_message *last; /* last message created in this direction */
    struct strbuf url, reason, name, value;
    struct store_header *hdrs;
    uint32_t nhdrs, cap_hdrs;
    size_t hdr_kept; /* bytes of names + values kept for this message */
    /* The previous message's kept headers (in the connection's arena): a
     * keep-alive connection repeats most names and values, which are then
     * shared instead of copied again. */
    const struct store_header *prev_hdrs;
    uint32_t prev_nhdrs;
    struct hdr_len *lens;      /* name and value lengths of hdrs */
    struct hdr_len *prev_lens; /* ... and of prev_hdrs */
    uint32_t cap_prev_lens;
    /* Likewise the previous request's URL, the previous response's reason. */
    const char *prev_url, *prev_reason;
    size_t prev_url_len, prev_reason_len;
    /* Likewise the previous message's kept body: a polled resource, a
     * benchmark's page, a health check repeat theirs byte for byte. */
    const uint8_t *prev_body;
    size_t prev_body_len;
    /* The previous message's header block as it was on the wire (from the
     * start line's end to the blank line's), when one packet carried it
     * whole and every header was kept, and what it gave. A message whose
     * block is the same bytes gets the same headers without the work per
     * header: on a keep-alive connection most are (a client's headers
     * rarely change; a server's change with its Date, once a second). */
    uint8_t *blk;
    size_t blk_len, blk_cap;
    uint8_t blk_ok;         /* blk and the fields below are valid */
    uint8_t same_blk;       /* the current message repeats blk */
    uint64_t blk_hdr_bytes; /* its header_bytes when it does */
    const struct store_header *blk_hdrs;
    uint32_t blk_nhdrs;
    uint16_t blk_ctype, blk_cenc; /* its ctype_hdr and cenc_hdr */
    /* Stream mode: the arena goes at every flush, so blk_hdrs points into
     * this copy of the headers instead, blk_copy_len bytes,
     * which each message that repeats the block copies back (blk_own). */
    uint8_t *blk_copy;
    size_t blk_copy_len, blk_copy_cap;
    uint8_t blk_own;
    /* llhttp's state where the current message's start line ended, when it
     * ended in the packet the message began in (line_ok); the kept block's
     * state where it began and where it ended (blk_skip_ok): a block that
     * repeats it from the same state is not parsed again (blk_skip). */
    struct ll_mark line_mark, blk_pre, blk_post;
    uint8_t line_ok, blk_skip_ok;
    /* The previous message's start line as it was on the wire, with the
     * state llhttp began it in and ended it in and what it gave: a message
     * whose start line is the same bytes from the same state is not parsed
     * either (line_skip). Kept from the second message of a direction on:
     * a connection with one exchange never repeats a line. */
    struct ll_mark ln_pre, ln_post;
    uint8_t *ln;
    size_t ln_len, ln_cap;
    uint32_t ln_span_off, ln_span_len; /* its URL (a request) or reason (a response) */
    uint16_t ln_status;
    uint8_t ln_method, ln_major, ln_minor;
    uint8_t ln_ok, ln_url_done;
    uint8_t url_done; /* on_url_complete came for the current message */
    uint8_t ln_want;  /* a message began in this direction before it: its line is kept */
    struct body body;
    size_t zmem;                              /* bytes zlib holds for body (z_alloc) */
    char ext_method[HTTP_EXT_METHOD_MAX + 1]; /* a method llhttp does not know */
    uint8_t ext_len;
};

struct pend_seg {
    uint32_t pkt;
    uint32_t len;
};
_Static_assert(HTTP_PEND_MAX % _Alignof(struct pend_seg) == 0, "segments follow the bytes");

struct fifo_ent {
    struct store_message *req;
    uint32_t idx;   /* req's index in the connection's messages */
    uint8_t method; /* llhttp method, valid once have_method */
    uint8_t have_method;
};

struct http_conn {
    struct store *st;
    struct store_conn *c;
    struct http_dir d[2];
    struct fifo_ent *fifo; /* requests awaiting a final response: [head, n) */
    uint32_t fifo_head, fifo_n, fifo_cap;
    struct store_message *upgrade_req; /* c2s paused after this request */
    uint8_t *pend;
    size_t npend;
    struct pend_seg *segs; /* in pend's allocation, after its bytes */
    uint32_t nsegs;
    uint8_t resume_c2s; /* the upgrade was refused: replay pend into c2s */
    uint8_t named;      /* server name given from a Host header */
};

static const uint8_t http_zeros[HTTP_ZERO_CHUNK];

_Thread_local uint8_t conn_side_changed;

static int64_t pkt_ts(const struct store_conn *c, uint32_t pkt)
{
    const struct store_packet *sp = store_conn_pkt((struct store_conn *)c, pkt);
    if (sp)
        return sp->ts_us;
    if (c->npackets)
        return c->packets[c->npackets - 1].ts_us;
    return c->start_us;
}

/* ---- small helpers ---------------------------------------------------- */

static void strbuf_reset(struct strbuf *b)
{
    b->n = 0;
    b->over = 0;
    b->ext = NULL;
}

/* The bytes so far ("" when none). */
static const char *strbuf_data(const struct strbuf *b)
{
    return b->ext ? b->ext : b->p ? b->p : "";
}

static void strbuf_free(struct strbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* A buffer's next capacity for need bytes: doubled from cap (first, when
 * it has none yet) until it holds them. */
static size_t next_cap(size_t cap, size_t first, size_t need)
{
    cap = cap ? cap : first;
    while (cap < need)
        cap *= 2;
    return cap;
}

/* Room for n bytes in b->p; 0, or -1 (over set) when out of memory. */
static int strbuf_room(struct strbuf *b, size_t n)
{
    if (n <= b->cap)
        return 0;
    size_t cap = next_cap(b->cap, 64, n);
    char *p = realloc(b->p, cap);
    if (!p) {
        b->over = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    conn_side_changed = 1;
    return 0;
}

static void strbuf_copy_ext(struct strbuf *b)
{
    const char *s = b->ext;
    b->ext = NULL;
    if (strbuf_room(b, b->n) < 0) {
        b->n = 0;
        return;
    }
    memcpy(b->p, s, b->n);
}

/* Copy a pointed-at string into b's own buffer: its bytes are about to go. */
static inline void strbuf_own(struct strbuf *b)
{
    if (b->ext)
        strbuf_copy_ext(b);
}

static void strbuf_append(struct strbuf *b, const char *s, size_t n)
{
    strbuf_own(b);
    if (strbuf_room(b, b->n + n) < 0)
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* Append, keeping at most max bytes; the rest only sets over. s must stay
 * valid until strbuf_own or the next append. */
static inline __attribute__((always_inline)) void strbuf_add(struct strbuf *b, const char *s,
                                                             size_t n, size_t max)
{
    if (b->n + n > max) {
        b->over = 1;
        n = max > b->n ? max - b->n : 0;
    }
    if (!n)
        return;
    if (!b->n) {
        b->ext = s;
        b->n = n;
        return;
    }
    strbuf_append(b, s, n);
}

static size_t trim_len(const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n;
}

static void set_error(struct http_dir *d, struct store_message *m, const char *text)
{
    if (m && !m->error)
        m->error = store_strndup(d->h->st, d->h->c, text, strlen(text));
}

/* ---- request FIFO -------------------------------------------------- */

static struct fifo_ent *fifo_front(struct http_conn *h)
{
    return h->fifo_n ? &h->fifo[h->fifo_head] : NULL;
}

static void fifo_push(struct http_conn *h, struct store_message *req, uint32_t idx)
{
    if (h->fifo_head && h->fifo_head + h->fifo_n == h->fifo_cap) {
        memmove(h->fifo, h->fifo + h->fifo_head, h->fifo_n * sizeof(*h->fifo));
        h->fifo_head = 0;
    }
    if (h->fifo_head + h->fifo_n == h->fifo_cap) {
        uint32_t cap = h->fifo_cap ? h->fifo_cap * 2 : 8;
        struct fifo_ent *f = realloc(h->fifo, cap * sizeof(*f));
        if (!f) {
            /* The request stays unpaired; responses pair with what follows. */
            store_stats(h->st)->alloc_failures++;
            return;
        }
        h->fifo = f;
        h->fifo_cap = cap;
        conn_side_changed = 1;
    }
    struct fifo_ent *e = &h->fifo[h->fifo_head + h->fifo_n++];
    e->req = req;
    e->idx = idx;
    e->method = 0;
    e->have_method = 0;
}

/* Tell the connection up to which message nothing will change any more
 * (store_conn's msg_settled, which the web API's tails start from): the
 * messages being parsed, and every one from the oldest request still
 * waiting for its response on, may. Called when one of those ends (a
 * message's parse, a request's wait): a message begun since is at or past
 * the value it had, so a beginning needs no call. */
static void settle(struct http_conn *h)
{
    uint32_t s = h->c->nmessages;
    for (int i = 0; i < 2; i++)
        if (h->d[i].m && h->d[i].m_index < s)
            s = h->d[i].m_index;
    /* the oldest request still waiting: the front */
    if (h->fifo_n && h->fifo[h->fifo_head].idx < s)
        s = h->fifo[h->fifo_head].idx;
    h->c->msg_settled = s;
}

static void fifo_pop(struct http_conn *h)
{
    if (!h->fifo_n)
        return;
    h->fifo_head++;
    if (--h->fifo_n == 0)
        h->fifo_head = 0;
    settle(h);
}

static struct fifo_ent *fifo_find(struct http_conn *h, const struct store_message *req)
{
    for (uint32_t i = h->fifo_n; i > 0; i--)
        if (h->fifo[h->fifo_head + i - 1].req == req)
            return &h->fifo[h->fifo_head + i - 1];
    return NULL;
}

/* ---- bodies --------------------------------------------------------- */

static int body_reserve(struct body *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = next_cap(b->cap, 4096, need);
    if (cap > b->limit)
        cap = b->limit;
    uint8_t *p = realloc(b->buf, cap);
    if (!p)
        return -ENOMEM;
    b->buf = p;
    b->cap = cap;
    conn_side_changed = 1;
    return 0;
}

static void body_end_inflate(struct body *b)
{
    if (b->zinit)
        inflateEnd(&b->zs);
    b->zinit = 0;
}

/* Start keeping the body of d->m (called at the end of its headers). */
static void body_start(struct http_dir *d)
{
    struct body *b = &d->body;
    const char *enc = d->cenc;
    b->len = 0;
    b->ext = NULL;
    b->nstash = 0;
    b->ended = 0;
    b->limit = store_get_opts(d->h->st)->body_limit;
    b->mode = BODY_IDENTITY;
    if (enc) {
        size_t n = trim_len(enc, strlen(enc));
        if ((n == 4 && !strncasecmp(enc, "gzip", 4)) ||
            (n == 6 && !strncasecmp(enc, "x-gzip", 6)) ||
            (n == 7 && !strncasecmp(enc, "deflate", 7)))
            b->mode = BODY_INFLATE;
        /* Other codings (br, compress, ...) are kept as they came. */
    }
}

static void body_stop(struct http_dir *d, int truncated)
{
    if (truncated && d->m)
        d->m->body_truncated = 1;
    body_end_inflate(&d->body);
    d->body.mode = BODY_DONE;
}

static void body_decode_fail(struct http_dir *d)
{
    if (d->m)
        d->m->body_decode_error = 1;
    body_end_inflate(&d->body);
    d->body.mode = BODY_DONE;
}

/* zlib's allocations (its state, then a 32 KiB window), counted in the
 * direction's footprint: a size in front of each block, which zfree is not
 * told. */
#define ZHDR 16 /* keeps malloc's alignment */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    struct http_dir *d = opaque;
    if (size && items > (SIZE_MAX - ZHDR) / size)
        return Z_NULL;
    size_t n = (size_t)items * size;
    uint8_t *p = malloc(ZHDR + n);
    if (!p)
        return Z_NULL;
    memcpy(p, &n, sizeof(n));
    d->zmem += n;
    conn_side_changed = 1;
    return p + ZHDR;
}

static void z_free(voidpf opaque, voidpf addr)
{
    struct http_dir *d = opaque;
    uint8_t *p = (uint8_t *)addr - ZHDR;
    size_t n;
    memcpy(&n, p, sizeof(n));
    d->zmem -= n;
    conn_side_changed = 1;
    free(p);
}

static int inflate_begin(struct http_dir *d)
{
    struct body *b = &d->body;
    const uint8_t *s = b->stash;
    int wbits;
    /* gzip magic or a valid zlib header: let zlib detect which; anything
     * else is taken as raw deflate, which some servers send for "deflate". */
    if ((s[0] == 0x1f && s[1] == 0x8b) || ((s[0] & 0x0f) == 8 && ((s[0] << 8) | s[1]) % 31 == 0))
        wbits = 15 + 32;
    else
        wbits = -15;
    memset(&b->zs, 0, sizeof(b->zs));
    b->zs.zalloc = z_alloc;
    b->zs.zfree = z_free;
    b->zs.opaque = d;
    if (inflateInit2(&b->zs, wbits) != Z_OK)
        return -ENOMEM;
    b->zinit = 1;
    return 0;
}

static void inflate_bytes(struct http_dir *d, const uint8_t *p, size_t n)
{
    struct body *b = &d->body;
    b->zs.next_in = (Bytef *)p;
    while (n > 0 && b->mode == BODY_INFLATE) {
        uInt in = n > (1u << 30) ? 1u << 30 : (uInt)n;
        b->zs.avail_in = in;
        uint8_t sink[64];
        size_t room = b->limit - b->len;
        if (room == 0) {
            /* Output is full: only find out whether more would come. */
            b->zs.next_out = sink;
            b->zs.avail_out = sizeof(sink);
        } else {
            size_t want = room < HTTP_INFLATE_STEP ? room : HTTP_INFLATE_STEP;
            if (body_reserve(b, b->len + want) < 0) {
                store_stats(d->h->st)->alloc_failures++;
                body_stop(d, 1);
                return;
            }
            want = b->cap - b->len;
            b->zs.next_out = b->buf + b->len;
            b->zs.avail_out = want > UINT32_MAX ? UINT32_MAX : (uInt)want;
        }
        uInt out_before = b->zs.avail_out;
        int r = inflate(&b->zs, Z_NO_FLUSH);
        size_t produced = out_before - b->zs.avail_out;
        size_t used = in - b->zs.avail_in;
        n -= used;
        if (room == 0 && produced) {
            body_stop(d, 1);
            return;
        }
        b->len += room ? produced : 0;
        if (r == Z_STREAM_END) {
            const uint8_t *next = b->zs.next_in;
            /* A further gzip member continues the body; other trailing
             * bytes after the end of the stream are ignored. */
            if (n >= 2 && next[0] == 0x1f && next[1] == 0x8b && inflateReset(&b->zs) == Z_OK)
                continue;
            b->ended = 1;
            body_end_inflate(b);
            b->mode = BODY_DONE;
            return;
        }
        if (r != Z_OK && r != Z_BUF_ERROR) {
            body_decode_fail(d);
            return;
        }
        if (!used && !produced)
            return; /* no progress possible; wait for more input */
    }
}

/* The kept bytes of a body pointed at in the data being parsed, copied:
 * that data is gone once the caller returns. */
static void body_own(struct http_dir *d)
{
    struct body *b = &d->body;
    if (!b->ext)
        return;
    const uint8_t *p = b->ext;
    b->ext = NULL;
    if (body_reserve(b, b->len) < 0) {
        store_stats(d->h->st)->alloc_failures++;
        b->len = 0;
        body_stop(d, 1);
        return;
    }
    memcpy(b->buf, p, b->len);
}

/* Body bytes of d->m on the wire (already de-chunked by llhttp): n at p.
 * borrow: p stays valid until dir_feed() returns, so a body that begins and
 * ends within it is copied once, into the store. */
static void body_add(struct http_dir *d, const uint8_t *p, size_t n, int borrow)
{
    struct body *b = &d->body;
    if (b->mode == BODY_IDENTITY) {
        size_t room = b->limit - b->len;
        size_t take = n < room ? n : room;
        if (take && borrow && b->len == 0) {
            b->ext = p;
            b->len = take;
        } else if (take) {
            body_own(d);
            if (b->mode != BODY_IDENTITY)
                return; /* out of memory: body_own stopped it */
            if (body_reserve(b, b->len + take) < 0) {
                store_stats(d->h->st)->alloc_failures++;
                body_stop(d, 1);
                return;
            }
            memcpy(b->buf + b->len, p, take);
            b->len += take;
        }
        if (take < n)
            body_stop(d, 1);
    } else if (b->mode == BODY_INFLATE) {
        if (!b->zinit) {
            while (b->nstash < 2 && n > 0) {
                b->stash[b->nstash++] = *p++;
                n--;
            }
            if (b->nstash < 2)
                return;
            if (inflate_begin(d) < 0) {
                store_stats(d->h->st)->alloc_failures++;
                body_stop(d, 1);
                return;
            }
            inflate_bytes(d, b->stash, 2);
        }
        inflate_bytes(d, p, n);
    }
}

/* Copy the kept body into the arena and reset for the next message.
 * complete: the message ended normally (an unfinished compressed stream
 * is then a decode error). */
static void body_finish(struct http_dir *d, int complete)
{
    struct body *b = &d->body;
    struct store_message *m = d->m;
    /* Every way a message ends comes through here: its round trips, and
     * the lifetime totals count it. */
    if (m) {
        m->round_trips =
            store_conn_round_trips(d->h->c, m->first_packet, m->last_packet, (uint8_t)d->dir);
        store_note_message(d->h->st, m);
    }
    if (m && complete && b->mode == BODY_INFLATE && !b->ended && (b->zinit || b->nstash))
        m->body_decode_error = 1;
    if (m && b->len) {
        const uint8_t *src = b->ext ? b->ext : b->buf;
        if (d->prev_body && d->prev_body_len == b->len && !memcmp(d->prev_body, src, b->len)) {
            m->body = d->prev_body;
        } else {
            m->body = store_body_dup(d->h->st, d->h->c, src, b->len);
            if (m->body) {
                d->prev_body = m->body;
                d->prev_body_len = b->len;
            }
        }
        if (m->body)
            m->body_len = (uint32_t)(b->len > UINT32_MAX ? UINT32_MAX : b->len);
        else
            m->body_truncated = 1;
    }
    body_end_inflate(b);
    b->mode = BODY_OFF;
    b->len = 0;
    b->ext = NULL;
    b->nstash = 0;
    if (b->cap > HTTP_BODY_KEEP_CAP) {
        free(b->buf);
        b->buf = NULL;
        b->cap = 0;
        conn_side_changed = 1;
    }
}

/* ---- messages ---------------------------------------------------------- */

/* n bytes of the current message were carried by packet d->pkt. */
static void account(struct http_dir *d, size_t n)
{
    struct store_message *m = d->m;
    struct store_conn *c = d->h->c;
    /* A lost stretch has no packet of its own; a skipped one does (it came
     * as headers only), so the message spans it: its packets, its end. */
    if (!n || !m || (d->gap && !d->gap_known))
        return;
    if (m->packets == 0 || m->last_packet != d->pkt)
        m->packets++;
    m->last_packet = d->pkt;
    m->end_us = d->ts;
    struct store_packet *sp = store_conn_pkt(c, d->pkt);
    if (sp && sp->msg == 0) {
        sp->msg = d->m_index + 1;
        store_conn_pkt_changed(c, d->pkt); /* an older one, held out of order */
    }
}

static void msg_reset_parse(struct http_dir *d)
{
    strbuf_reset(&d->url);
    strbuf_reset(&d->reason);
    strbuf_reset(&d->name);
    strbuf_reset(&d->value);
    d->nhdrs = 0;
    d->cenc = NULL;
    d->hdr_kept = 0;
    d->hdr_done = 0;
    d->same_blk = 0;
    d->line_ok = 0;
    d->url_done = 0;
    d->in_body = 0;
    d->body_eof = 0;
}

static void stop_dir(struct http_dir *d)
{
    if (d->m) {
        body_finish(d, 0);
        d->m = NULL;
        settle(d->h);
    }
    d->state = DS_STOPPED;
    if (d->dir == DIR_C2S) {
        struct http_conn *h = d->h;
        h->npend = 0;
        h->nsegs = 0;
        h->resume_c2s = 0;
    }
}

static struct store_message *msg_begin(struct http_dir *d)
{
    struct http_conn *h = d->h;
    struct store_message *m =
        store_message_new(h->st, h->c, d->dir == DIR_C2S ? MSG_REQUEST : MSG_RESPONSE);
    if (!m)
        return NULL;
    m->start_us = m->end_us = d->ts;
    m->first_packet = m->last_packet = d->pkt;
    d->ln_want = d->last != NULL;
    d->m = d->last = m;
    d->m_index = h->c->nmessages - 1; /* store_message_new appends */
    d->msg_off = d->off;
    d->ext_len = 0;
    msg_reset_parse(d);
    if (d->dir == DIR_C2S) {
        m->pipelined = h->fifo_n > 0;
        fifo_push(h, m, d->m_index);
    } else {
        struct fifo_ent *e = fifo_front(h);
        if (e) {
            m->request = e->req->id;
            if (e->req->end_us && m->start_us >= e->req->end_us) {
                m->ttfb_us = m->start_us - e->req->end_us;
                /* The network's share of the wait is one round trip; the
                 * rest is the server thinking. */
                int64_t rtt = store_conn_base_rtt(h->c);
                if (rtt >= 0)
                    m->stall_us = m->ttfb_us > rtt ? m->ttfb_us - rtt : 0;
            }
        }
    }
    return m;
}

/* The header block of d->m ended at the current offset. */
static void place_header_end(struct http_dir *d)
{
    struct store_message *m = d->m;
    if (!m || d->hdr_done)
        return;
    d->hdr_done = 1;
    uint64_t n = d->off - d->msg_off;
    m->header_bytes = n < UINT32_MAX ? (uint32_t)n : UINT32_MAX;
    m->headers_split = m->last_packet != m->first_packet;
}

static void msg_complete(struct http_dir *d)
{
    struct http_conn *h = d->h;
    struct store_message *m = d->m;
    if (!m)
        return;
    place_header_end(d);
    m->complete = 1;
    body_finish(d, 1);
    if (m->kind == MSG_RESPONSE && !m->interim) {
        struct fifo_ent *e = fifo_front(h);
        if (e && e->req->id == m->request)
            fifo_pop(h);
    }
    d->m = NULL;
    settle(h);
    d->in_body = 0;
    d->body_eof = 0;
}

static void stop_c2s(struct http_conn *h)
{
    stop_dir(&h->d[DIR_C2S]);
}

/* ---- llhttp callbacks -------------------------------------------------- */

/* After llhttp returns: the spans still pointing into what it parsed are
 * copied (a start line or header cut by a packet boundary). */
static inline void dir_own_spans(struct http_dir *d)
{
    strbuf_own(&d->url);
    strbuf_own(&d->reason);
    strbuf_own(&d->name);
    strbuf_own(&d->value);
}

static struct http_dir *dir_of(llhttp_t *p)
{
    return p->data;
}

static int on_message_begin(llhttp_t *p)
{
    struct http_dir *d = dir_of(p);
    d->ev = EV_BEGIN;
    return d->pausing ? HPE_PAUSED : 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    strbuf_add(&dir_of(p)->url, at, n, HTTP_MAX_HEADER_BYTES);
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
    strbuf_add(&dir_of(p)->reason, at, n, HTTP_MAX_HEADER_BYTES);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    strbuf_add(&dir_of(p)->name, at, n, HTTP_MAX_HEADER_BYTES);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    strbuf_add(&dir_of(p)->value, at, n, HTTP_MAX_HEADER_BYTES);
    return 0;
}

/* The common header names, as clients and servers spell them: kept as
 * these constants rather than copied into the arena for every message. A
 * name in any other case is copied as it came. */
static const char *known_header_name(const char *s, size_t n)
{
#define KNOWN(lit)                                                                                 \
    if (n == sizeof(lit) - 1 && memcmp(s, lit, sizeof(lit) - 1) == 0)                              \
        return lit;
    /* a table, one length a line */
    // clang-format off
    switch (n) {
    case 3: KNOWN("Age") break;
    case 4: KNOWN("Host") KNOWN("Date") KNOWN("ETag") KNOWN("Vary") break;
    case 5: KNOWN("Range") break;
    case 6: KNOWN("Accept") KNOWN("Server") KNOWN("Cookie") KNOWN("Origin") KNOWN("Pragma") break;
    case 7: KNOWN("Referer") KNOWN("Expires") KNOWN("Upgrade") break;
    case 8: KNOWN("Location") break;
    case 10: KNOWN("Connection") KNOWN("User-Agent") KNOWN("Set-Cookie") KNOWN("Keep-Alive") break;
    case 12: KNOWN("Content-Type") break;
    case 13: KNOWN("Accept-Ranges") KNOWN("Cache-Control") KNOWN("Last-Modified")
             KNOWN("If-None-Match") KNOWN("Authorization") KNOWN("Content-Range") break;
    case 14: KNOWN("Content-Length") break;
    case 15: KNOWN("Accept-Encoding") KNOWN("Accept-Language") KNOWN("X-Forwarded-For") break;
    case 16: KNOWN("Content-Encoding") break;
    case 17: KNOWN("Transfer-Encoding") KNOWN("If-Modified-Since") break;
    default: break;
    }
    // clang-format on
#undef KNOWN
    return NULL;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_dir *d = dir_of(p);
    struct http_conn *h = d->h;
    struct store_message *m = d->m;
    size_t vlen = trim_len(strbuf_data(&d->value), d->value.n);
    size_t need = d->name.n + vlen;
    if (!m || d->hdr_done)
        goto out; /* chunked trailers are not kept */
    if (d->nhdrs >= HTTP_MAX_HEADERS || d->name.over || d->value.over ||
        d->hdr_kept + need > HTTP_MAX_HEADER_BYTES) {
        m->headers_dropped++;
        goto out;
    }
    if (d->nhdrs == d->cap_hdrs) {
        uint32_t cap = d->cap_hdrs ? d->cap_hdrs * 2 : 16;
        struct store_header *a = realloc(d->hdrs, cap * sizeof(*a));
        if (a)
            d->hdrs = a;
        struct hdr_len *l = a ? realloc(d->lens, cap * sizeof(*l)) : NULL;
        if (!l) {
            store_stats(h->st)->alloc_failures++;
            m->headers_dropped++;
            goto out;
        }
        d->lens = l;
        d->cap_hdrs = cap;
        conn_side_changed = 1;
    }
    struct store_header *hd = &d->hdrs[d->nhdrs];
    const char *np = strbuf_data(&d->name), *vp = strbuf_data(&d->value);
    size_t nlen = d->name.n;
    /* A common name is a constant; a name or value the same as the
     * previous message's at this place is its string. */
    const struct store_header *ph = NULL;
    const struct hdr_len *pl = NULL;
    if (d->nhdrs < d->prev_nhdrs) {
        ph = &d->prev_hdrs[d->nhdrs];
        pl = &d->prev_lens[d->nhdrs];
    }
    hd->name = known_header_name(np, nlen);
    if (!hd->name && ph && pl->name == nlen && memcmp(ph->name, np, nlen) == 0)
        hd->name = ph->name;
    if (!hd->name)
        hd->name = store_strndup(h->st, h->c, np, nlen);
    hd->value = ph && pl->value == vlen && memcmp(ph->value, vp, vlen) == 0
                    ? ph->value
                    : store_strndup(h->st, h->c, vp, vlen);
    if (!hd->name || !hd->value) {
        m->headers_dropped++;
        goto out;
    }
    d->lens[d->nhdrs].name = (uint32_t)nlen;
    d->lens[d->nhdrs].value = (uint32_t)vlen;
    d->nhdrs++;
    d->hdr_kept += need;
    /* Length first: most header names are none of these. */
    if (nlen == 12 && !m->ctype_hdr && !strcasecmp(hd->name, "content-type")) {
        m->ctype_hdr = (uint16_t)d->nhdrs; /* 1 + its position: counted above */
    } else if (nlen == 16 && !m->cenc_hdr && !strcasecmp(hd->name, "content-encoding")) {
        m->cenc_hdr = (uint16_t)d->nhdrs;
        d->cenc = hd->value;
    } else if (nlen == 4 && m->kind == MSG_REQUEST && !h->named && !strcasecmp(hd->name, "host") &&
               vlen) {
        store_server_name(h->st, h->c, hd->value, vlen);
        h->named = 1;
    }
out:
    strbuf_reset(&d->name);
    strbuf_reset(&d->value);
    return 0;
}

/* The n bytes at s as a kept string: *prev (of length *prev_len) when it
 * has them, else a copy, which becomes *prev. NULL when out of memory. */
static const char *keep_shared(struct http_dir *d, const char **prev, size_t *prev_len,
                               const char *s, size_t n)
{
    if (*prev && *prev_len == n && memcmp(*prev, s, n) == 0)
        return *prev;
    char *k = store_strndup(d->h->st, d->h->c, s, n);
    if (k) {
        *prev = k;
        *prev_len = n;
    }
    return k;
}

/* Method and URL of the request d->m, once. */
static void keep_request_line(struct http_dir *d)
{
    struct http_conn *h = d->h;
    struct store_message *m = d->m;
    if (!m || m->kind != MSG_REQUEST || m->url)
        return;
    /* llhttp's method names are constants: kept as they are. */
    if (d->ext_len)
        m->method = store_strndup(h->st, h->c, d->ext_method, d->ext_len);
    else
        m->method = llhttp_method_name((llhttp_method_t)d->parser.method);
    m->url = keep_shared(d, &d->prev_url, &d->prev_url_len, strbuf_data(&d->url), d->url.n);
    /* Known now even if the headers turn out malformed: a CONNECT answered
     * 2xx must still end parsing of the response side. */
    struct fifo_ent *e = fifo_find(h, m);
    if (e) {
        e->method = d->parser.method;
        e->have_method = 1;
    }
}

/* Kept as soon as the URL ends, so that a request whose headers never come
 * (HTTP/0.9, or cut short) still shows what it asked for. */
static int on_url_complete(llhttp_t *p)
{
    struct http_dir *d = dir_of(p);
    d->url_done = 1;
    keep_request_line(d);
    return 0;
}

/* *buf holding at least n bytes (its contents kept), grown to n in steps
 * of 256 bytes: the kept block and its copy, one per direction of every
 * open connection, charged to it (store_conn_side), are as big as the
 * block. 0, or -1 (unchanged). */
static int blk_grow(uint8_t **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    size_t c = (n + 255) & ~(size_t)255;
    uint8_t *b = realloc(*buf, c);
    if (!b)
        return -1;
    *buf = b;
    *cap = c;
    conn_side_changed = 1;
    return 0;
}

/* A pointer into d->blk_copy, moved to the same place in to (a copy of
 * it); any other pointer (a name llhttp knows, NULL) as it is. */
static const char *blk_rebase(const struct http_dir *d, const uint8_t *to, const char *q)
{
    const uint8_t *u = (const uint8_t *)q;
    if (u >= d->blk_copy && u < d->blk_copy + d->blk_copy_len)
        return (const char *)(to + (u - d->blk_copy));
    return q;
}

/* Stream mode: m's headers copied out of the arena into d->blk_copy (an
 * array, then the strings; names that are known_header_name's constants
 * stay pointers to them), and blk_hdrs pointed at the copy. 0, or -1
 * (nothing kept). */
static int blk_copy_out(struct http_dir *d, const struct store_message *m)
{
    size_t n = (size_t)m->nheaders * sizeof(struct store_header), at = n;
    for (uint32_t i = 0; i < m->nheaders; i++) {
        const char *nm = m->headers[i].name;
        size_t nl = strlen(nm);
        if (known_header_name(nm, nl) != nm)
            n += nl + 1;
        n += strlen(m->headers[i].value) + 1;
    }
    if (blk_grow(&d->blk_copy, &d->blk_copy_cap, n) < 0)
        return -1;
    struct store_header *hs = (struct store_header *)d->blk_copy;
    for (uint32_t i = 0; i < m->nheaders; i++) {
        const struct store_header *src = &m->headers[i];
        size_t nl = strlen(src->name), vl = strlen(src->value) + 1;
        hs[i].name = src->name;
        if (known_header_name(src->name, nl) != src->name) {
            memcpy(d->blk_copy + at, src->name, nl + 1);
            hs[i].name = (const char *)d->blk_copy + at;
            at += nl + 1;
        }
        memcpy(d->blk_copy + at, src->value, vl);
        hs[i].value = (const char *)d->blk_copy + at;
        at += vl;
    }
    d->blk_copy_len = n;
    d->blk_hdrs = hs;
    return 0;
}

/* Start line and headers of d->m into the arena. */
static void keep_head(struct http_dir *d)
{
    struct http_conn *h = d->h;
    struct store_message *m = d->m;
    m->http_major = d->parser.http_major;
    m->http_minor = d->parser.http_minor;
    if (d->same_blk && d->blk_own) {
        /* The same, from the copy: back into the arena, every pointer into
         * the copy moved with it (a block without header lines has none). */
        uint8_t *p = NULL;
        if (d->blk_copy_len && !(p = store_memdup(h->st, h->c, d->blk_copy, d->blk_copy_len)))
            m->headers_dropped += d->blk_nhdrs;
        if (p) {
            struct store_header *hs = (struct store_header *)p;
            for (uint32_t i = 0; i < d->blk_nhdrs; i++) {
                hs[i].name = blk_rebase(d, p, hs[i].name);
                hs[i].value = blk_rebase(d, p, hs[i].value);
            }
            m->headers = hs;
            m->nheaders = d->blk_nhdrs;
            m->ctype_hdr = d->blk_ctype;
            m->cenc_hdr = d->blk_cenc;
            d->cenc = store_message_content_encoding(m);
        }
    } else if (d->same_blk) {
        /* What the callbacks would have made of the same bytes: every
         * name and value the previous message's, so its array. */
        m->headers = (struct store_header *)d->blk_hdrs;
        m->nheaders = d->blk_nhdrs;
        m->ctype_hdr = d->blk_ctype;
        m->cenc_hdr = d->blk_cenc;
        d->cenc = store_message_content_encoding(m);
    } else if (d->nhdrs) {
        /* The same header lines as last time (a client repeating its
         * request): share the array too. */
        if (d->nhdrs == d->prev_nhdrs &&
            !memcmp(d->hdrs, d->prev_hdrs, d->nhdrs * sizeof(*d->hdrs)))
            m->headers = (struct store_header *)d->prev_hdrs;
        else
            m->headers = store_memdup(h->st, h->c, d->hdrs, d->nhdrs * sizeof(*d->hdrs));
        if (m->headers) {
            m->nheaders = d->nhdrs;
            d->prev_hdrs = m->headers;
            d->prev_nhdrs = 0;
            /* The lengths, for the next message to compare with: none
             * comes after one that closes the connection (most of a busy
             * server's), so no copy, and no buffer for one. */
            int next = llhttp_should_keep_alive(&d->parser);
            if (next && d->cap_prev_lens < d->nhdrs) {
                struct hdr_len *l = realloc(d->prev_lens, d->cap_hdrs * sizeof(*l));
                if (l) {
                    d->prev_lens = l;
                    d->cap_prev_lens = d->cap_hdrs;
                    conn_side_changed = 1;
                }
            }
            if (next && d->cap_prev_lens >= d->nhdrs) {
                memcpy(d->prev_lens, d->lens, d->nhdrs * sizeof(*d->lens));
                d->prev_nhdrs = d->nhdrs;
            }
        } else {
            m->headers_dropped += d->nhdrs;
        }
    }
    if (m->kind == MSG_REQUEST) {
        keep_request_line(d);
    } else {
        m->status = d->parser.status_code;
        m->reason = keep_shared(d, &d->prev_reason, &d->prev_reason_len, strbuf_data(&d->reason),
                                d->reason.n);
        if (m->reason)
            strbuf_reset(&d->reason); /* kept: nothing reads it again */
    }
}

/* on_headers_complete's answer ret (HPE_PAUSED when pausing): a repeated
 * header block ends where the kept one did, in the packet the message
 * began in, so its end is placed here and llhttp goes on without the pause
 * that finds it (unless a refused upgrade has requests to replay, which
 * dir_feed does at the pause). */
static int headers_end(struct http_dir *d, int ret)
{
    if (ret != HPE_PAUSED || !d->same_blk || d->h->resume_c2s)
        return ret;
    d->hdr_done = 1;
    d->m->header_bytes = d->blk_hdr_bytes; /* headers_split stays 0 */
    d->ev = EV_NONE;
    return 0;
}

static const llhttp_settings_t http_settings, http_settings_repeat;

static int on_headers_complete(llhttp_t *p)
{
    struct http_dir *d = dir_of(p);
    struct http_conn *h = d->h;
    struct store_message *m = d->m;
    int ret = 0;
    p->settings = (void *)&http_settings; /* the trailers' lines are parsed */
    if (d->pausing) {
        d->ev = EV_HEADERS;
        ret = HPE_PAUSED;
    }
    if (!m)
        return ret;
    keep_head(d);
    if (m->kind == MSG_REQUEST) {
        struct fifo_ent *e = fifo_find(h, m);
        if (e) {
            e->method = p->method;
            e->have_method = 1;
        }
    } else {
        struct fifo_ent *e = fifo_front(h);
        if (e && e->req->id != m->request)
            e = NULL;
        struct store_message *req = e ? e->req : NULL;
        int status = p->status_code;
        int connect = e && e->have_method && e->method == HTTP_CONNECT;
        int head = e && e->have_method && e->method == HTTP_HEAD;
        m->interim = status / 100 == 1 && status != 101;
        if (!m->interim && req)
            req->response = m->id;
        if (status == 101 || (connect && status / 100 == 2)) {
            /* The rest of both directions is another protocol. */
            m->upgrade = 1;
            if (req)
                req->upgrade = 1;
            stop_c2s(h);
            return 2;
        }
        if (!m->interim && h->d[DIR_C2S].state == DS_WAIT_UPGRADE && req && req == h->upgrade_req)
            h->resume_c2s = 1; /* the switch was refused */
        if (head && !m->interim)
            return 1;
        d->body_eof = llhttp_message_needs_eof(p);
    }
    if (m->interim)
        return headers_end(d, ret);
    d->in_body = (p->flags & F_CONTENT_LENGTH) && !(p->flags & F_CHUNKED) && p->content_length;
    body_start(d);
    return headers_end(d, ret);
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct http_dir *d = dir_of(p);
    if (!d->m)
        return 0;
    d->m->body_bytes += n;
    if (!d->gap)
        body_add(d, (const uint8_t *)at, n, 1);
    return 0;
}

static int on_chunk_header(llhttp_t *p)
{
    dir_of(p)->in_body = p->content_length > 0;
    return 0;
}

static int on_chunk_complete(llhttp_t *p)
{
    dir_of(p)->in_body = 0;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct http_dir *d = dir_of(p);
    if (d->pausing) {
        d->ev = EV_COMPLETE;
        return HPE_PAUSED;
    }
    msg_complete(d); /* from llhttp_finish: no bytes left to place */
    return 0;
}

/* The callbacks of both settings below: all but those for header lines. */
#define HTTP_SETTINGS_COMMON                                                                       \
    .on_message_begin = on_message_begin, .on_url = on_url, .on_url_complete = on_url_complete,    \
    .on_status = on_status, .on_headers_complete = on_headers_complete, .on_body = on_body,        \
    .on_message_complete = on_message_complete, .on_chunk_header = on_chunk_header,                \
    .on_chunk_complete = on_chunk_complete

static const llhttp_settings_t http_settings = {
    HTTP_SETTINGS_COMMON,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
};

/* The same without the callbacks for each header line, for a message whose
 * header block repeats the one before (same_blk), from its begin to its
 * headers' end: nothing is called for them at all. llhttp reads the
 * settings through the parser at every callback, so the message's begin
 * swaps them in the parser (every begin sets one or the other, so a reset
 * in between, which keeps them, leaves no stale choice) and
 * on_headers_complete swaps them back. */
static const llhttp_settings_t http_settings_repeat = {HTTP_SETTINGS_COMMON};

/* ---- feeding ----------------------------------------------------------- */

static void parse_error(struct http_dir *d, llhttp_errno_t err)
{
    char text[256];
    const char *name = (unsigned)err <= HPE_CB_CHUNK_EXTENSION_VALUE_COMPLETE
                           ? llhttp_errno_name(err)
                           : "HPE_UNKNOWN";
    const char *reason = llhttp_get_error_reason(&d->parser);
    struct store_message *m = d->m;
    if (!m)
        m = msg_begin(d); /* between messages: the error still gets a place */
    snprintf(text, sizeof(text), "%s: %s", name, reason ? reason : "parse error");
    set_error(d, m, text);
    log_msg(LOG_DEBUG, "http: connection %llu %s: %s", (unsigned long long)d->h->c->id,
            d->dir == DIR_C2S ? "c2s" : "s2c", text);
    stop_dir(d);
}

static void replay_pending(struct http_conn *h);
static size_t find_message_start(int dir, const uint8_t *data, size_t len);

static void handle_upgrade_pause(struct http_dir *d, const uint8_t *rest, size_t n);

static int is_tchar(uint8_t ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* llhttp refused the method of the request that began at data[begin]: if it
 * is a valid token (e.g. CCM_POST, a WebDAV or vendor method), keep it,
 * restart the parser as if it were GET, and go on after the token. */
static int try_ext_method(struct http_dir *d, const uint8_t *data, size_t begin, size_t len,
                          size_t *pos)
{
    size_t i = begin;
    while (i < len && i - begin < HTTP_EXT_METHOD_MAX && is_tchar(data[i]))
        i++;
    if (i == begin || i >= len || data[i] != ' ')
        return 0;
    /* Only on an HTTP/1.x request line: HTTP/0.9 knew GET alone. */
    const uint8_t *eol = memchr(data + i, '\n', len - i);
    if (!memmem(data + i, (size_t)((eol ? eol : data + len) - (data + i)), " HTTP/1.", 8))
        return 0;
    llhttp_reset(&d->parser);
    d->pausing = 0; /* the message has begun already: no second begin */
    llhttp_errno_t err = llhttp_execute(&d->parser, "GET", 3);
    dir_own_spans(d);
    if (err != HPE_OK)
        return 0;
    d->ext_len = (uint8_t)(i - begin);
    memcpy(d->ext_method, data + begin, d->ext_len);
    d->ext_method[d->ext_len] = '\0';
    d->off = d->msg_off;
    account(d, i - begin);
    d->off += i - begin;
    *pos = i;
    return 1;
}

/* Whether the oldest waiting request is an HTTP/0.9 one (llhttp sets
 * version 0.9 on a request line without a version, then waits for headers
 * that never come). */
static int waiting_request_is_09(struct http_conn *h)
{
    struct fifo_ent *e = fifo_front(h);
    const struct http_dir *q = &h->d[DIR_C2S];
    if (!e)
        return 0;
    if (e->req == q->m)
        return q->parser.http_major == 0 && q->parser.http_minor == 9;
    return e->req->http_major == 0 && e->req->http_minor == 9;
}

/* Bytes of an HTTP/0.9 response body. */
static void raw09_feed(struct http_dir *d, const uint8_t *p, size_t n)
{
    account(d, n);
    d->off += n;
    d->m->body_bytes += n;
    body_add(d, p, n, 0);
}

/* The response that began at data[begin] has no status line and answers
 * an HTTP/0.9 request: it is all body, until close. */
static void start_raw09(struct http_dir *d, const uint8_t *data, size_t begin, size_t len)
{
    struct store_message *m = d->m;
    m->http_major = 0;
    m->http_minor = 9;
    d->off = d->msg_off;
    d->hdr_done = 1;
    m->header_bytes = 0;
    d->state = DS_RAW09;
    struct fifo_ent *e = fifo_front(d->h);
    if (e && e->req->id == m->request)
        e->req->response = m->id;
    body_start(d);
    raw09_feed(d, data + begin, len - begin);
}

/* A header block kept for comparison is at most this long: a longer one
 * is parsed header by header every time. */
#define HTTP_BLK_MAX 8192

/* Whether the message that begins at data[begin], its start line ending
 * at data[at], has the same header block as the one before it, in these
 * bytes. */
static int blk_repeats(struct http_dir *d, const uint8_t *data, size_t begin, size_t at, size_t len)
{
    if (!d->blk_ok || d->gap)
        return 0;
    if (len - at < d->blk_len || memcmp(data + at, d->blk, d->blk_len) != 0)
        return 0;
    d->blk_hdr_bytes = at - begin + d->blk_len;
    return 1;
}

static void mark_take(const llhttp_t *p, struct ll_mark *k)
{
    k->cur = p->_current;
    k->content_length = p->content_length;
    k->index = p->_index;
    k->flags = p->flags;
    k->header_state = p->header_state;
    k->finish = p->finish;
}

/* The inverse: llhttp's state set to k. */
static void mark_put(llhttp_t *p, const struct ll_mark *k)
{
    p->_current = k->cur;
    p->content_length = k->content_length;
    p->_index = k->index;
    p->flags = k->flags;
    p->header_state = k->header_state;
    p->finish = k->finish;
}

static int mark_eq(const struct ll_mark *a, const struct ll_mark *b)
{
    return a->cur == b->cur && a->content_length == b->content_length && a->index == b->index &&
           a->flags == b->flags && a->header_state == b->header_state && a->finish == b->finish;
}

/* llhttp's own step before on_headers_complete (its http.c): whether the
 * message upgrades, from the flags, the method and the status. */
int llhttp__before_headers_complete(llhttp_t *parser, const char *p, const char *endp);

int http_test_blk_skip = 1, http_test_blk_verify = 0;
unsigned long http_test_blk_skips, http_test_blk_mismatches;

static int verify_pause(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED;
}

/* Tests only: llhttp's own parse of the block at data, on a copy of the
 * parser in the state the block starts in, paused where on_headers_complete
 * is called; *ok whether it paused at the block's end. */
static void blk_parse_copy(const struct http_dir *d, const uint8_t *at, llhttp_t *q, int *ok)
{
    static const llhttp_settings_t pause_at_head = {.on_headers_complete = verify_pause};
    *q = d->parser;
    q->settings = (void *)&pause_at_head;
    llhttp_errno_t err = llhttp_execute(q, (const char *)at, d->blk_len);
    *ok = err == HPE_PAUSED && llhttp_get_error_pos(q) == (const char *)at + d->blk_len &&
          !q->_span_pos0;
    llhttp_resume(q);
}

/* The message's start line ended at data[*pos] and its header block
 * repeats the kept one (same_blk). llhttp keeps all it knows in llhttp_t,
 * and what it does with a header line depends on that state and the line's
 * bytes alone: llhttp 8 reads the method, version and status in the start
 * line and after the headers, never in between (it reads the type and the
 * lenient flags, which do not change on a direction). So when the block
 * starts in the state the kept one started in, it ends in the state the
 * kept one ended in, and that state is set here instead of parsing the
 * block again; its own step before on_headers_complete, and the answer of
 * that callback, are then taken as llhttp takes them. (Every start line
 * the tests and captures have, HTTP/0.9's included, leaves llhttp in the
 * same state; the check is there for one that would not.) Returns 0 when the
 * block is not skipped (llhttp parses it), else what on_headers_complete
 * answered for llhttp: 0 or HPE_PAUSED. */
static int blk_skip(struct http_dir *d, const uint8_t *data, size_t *pos)
{
#if LLHTTP_VERSION_MAJOR == 8
    llhttp_t *p = &d->parser;
    if (!d->line_ok || !d->same_blk || !d->blk_skip_ok || !http_test_blk_skip || !d->m ||
        !mark_eq(&d->line_mark, &d->blk_pre))
        return 0;
    llhttp_t q;
    int verify = http_test_blk_verify, ok = 0;
    if (verify)
        blk_parse_copy(d, data + *pos, &q, &ok);
    http_test_blk_skips++;
    mark_put(p, &d->blk_post);
    llhttp__before_headers_complete(p, NULL, NULL);
    if (verify) {
        struct ll_mark a, b;
        mark_take(p, &a);
        mark_take(&q, &b);
        if (!ok || !mark_eq(&a, &b) || p->upgrade != q.upgrade)
            http_test_blk_mismatches++;
    }
    int ret = on_headers_complete(p);
    if (ret == 1) {
        p->flags |= F_SKIPBODY; /* no body: a HEAD answer */
    } else if (ret == 2) {
        p->upgrade = 1; /* the rest is another protocol */
        p->flags |= F_SKIPBODY;
    }
    account(d, d->blk_len);
    d->off += d->blk_len;
    *pos += d->blk_len;
    return ret == HPE_PAUSED ? HPE_PAUSED : 0;
#else
    (void)d, (void)data, (void)pos;
    return 0; /* another llhttp: each block is parsed */
#endif
}

/* The headers of d->m ended at data[end]; it began at data[begin] (SIZE_MAX:
 * in an earlier packet). Keep its header block for the next message. */
static void blk_save(struct http_dir *d, const uint8_t *data, size_t begin, size_t end)
{
    struct store_message *m = d->m;
    if (d->same_blk)
        return; /* the kept block is this one */
    d->blk_ok = 0;
    d->blk_skip_ok = 0;
    /* Not for a message that closes the connection: nothing follows it to
     * repeat the block. */
    if (!m || begin == SIZE_MAX || begin >= end || d->gap || m->headers_dropped ||
        !llhttp_should_keep_alive(&d->parser))
        return;
    const uint8_t *e = memchr(data + begin, '\n', end - begin);
    if (!e)
        return;
    size_t at = (size_t)(e + 1 - data), n = end - at;
    /* n is 0 when the headers ended with the start line (a stray byte
     * before its CRLF, which llhttp lets pass): no block to repeat. */
    if (n == 0 || n > HTTP_BLK_MAX)
        return;
    if (blk_grow(&d->blk, &d->blk_cap, n) < 0)
        return;
    memcpy(d->blk, data + at, n);
    d->blk_len = n;
    d->blk_hdrs = m->headers;
    d->blk_nhdrs = m->nheaders;
    d->blk_ctype = m->ctype_hdr;
    d->blk_cenc = m->cenc_hdr;
    d->blk_own = (uint8_t)store_get_opts(d->h->st)->stream;
    if (d->blk_own && blk_copy_out(d, m) < 0)
        return;
    d->blk_ok = 1;
    if (d->line_ok) { /* taken at data[at] */
        d->blk_pre = d->line_mark;
        mark_take(&d->parser, &d->blk_post);
        d->blk_skip_ok = 1;
    }
}

/* Once the request's URL is kept, nothing reads it again: not copied
 * when the bytes it lies in go (dir_own_spans). */
static inline void url_kept(struct http_dir *d)
{
    if (d->m && d->m->url)
        strbuf_reset(&d->url);
}

/* Start lines longer than this are parsed every time. */
#define HTTP_LINE_MAX 2048

/* Where the start line's one string (the URL of a request, the reason of
 * a response) lies in the n bytes at p that llhttp just parsed: *off and
 * *len, both 0 when there is none. 0 when it cannot be said that way (it
 * came in pieces, or past the bound). */
static int line_span(const struct http_dir *d, const uint8_t *p, size_t n, uint32_t *off,
                     uint32_t *len)
{
    const struct strbuf *b = d->dir == DIR_C2S ? &d->url : &d->reason;
    const uint8_t *e = (const uint8_t *)b->ext;
    *off = *len = 0;
    if (b->over)
        return 0;
    if (!b->n)
        return 1;
    if (!e || e < p || b->n > n || e > p + (n - b->n))
        return 0;
    *off = (uint32_t)(e - p);
    *len = (uint32_t)b->n;
    return 1;
}

/* The start line of d->m was the n bytes at p, parsed by llhttp from the
 * state pre to line_mark: kept for the next message (line_skip). */
static void line_save(struct http_dir *d, const struct ll_mark *pre, const uint8_t *p, size_t n,
                      uint32_t off, uint32_t len)
{
    d->ln_ok = 0;
    if (n > HTTP_LINE_MAX || d->ext_len || blk_grow(&d->ln, &d->ln_cap, n) < 0)
        return;
    memcpy(d->ln, p, n);
    d->ln_len = n;
    d->ln_pre = *pre;
    d->ln_post = d->line_mark;
    d->ln_method = d->parser.method;
    d->ln_major = d->parser.http_major;
    d->ln_minor = d->parser.http_minor;
    d->ln_status = d->parser.status_code;
    d->ln_span_off = off;
    d->ln_span_len = len;
    d->ln_url_done = d->url_done;
    d->ln_ok = 1;
}

unsigned long http_test_line_skips;

/* Tests only: what llhttp's own parse of a start line gave. */
struct line_check {
    const char *at;
    size_t n;
    int pieces, url_done;
};

static int line_check_span(llhttp_t *p, const char *at, size_t n)
{
    struct line_check *v = p->data;
    if (v->n)
        v->pieces++;
    else
        v->at = at, v->n = n;
    return 0;
}

static int line_check_url_done(llhttp_t *p)
{
    ((struct line_check *)p->data)->url_done = 1;
    return 0;
}

/* Tests only: the n bytes at p parsed by llhttp on a copy of the parser as
 * it was before line_skip set it (q), compared with what line_skip set. */
static void line_verify(const struct http_dir *d, llhttp_t *q, const uint8_t *p, size_t n)
{
    static const llhttp_settings_t check = {
        .on_url = line_check_span,
        .on_status = line_check_span,
        .on_url_complete = line_check_url_done,
        .on_headers_complete = verify_pause,
        .on_message_complete = verify_pause,
    };
    struct line_check v = {0};
    const llhttp_t *s = &d->parser;
    const struct strbuf *b = d->dir == DIR_C2S ? &d->url : &d->reason;
    q->data = &v;
    q->settings = (void *)&check;
    llhttp_errno_t err = llhttp_execute(q, (const char *)p, n);
    struct ll_mark a, c;
    mark_take(s, &a);
    mark_take(q, &c);
    int ok = err == HPE_OK && !q->_span_pos0 && mark_eq(&a, &c) && q->method == s->method &&
             q->http_major == s->http_major && q->http_minor == s->http_minor &&
             q->status_code == s->status_code && q->upgrade == s->upgrade &&
             q->initial_message_completed == s->initial_message_completed && !v.pieces &&
             v.n == b->n && (!v.n || v.at == b->ext) && v.url_done == d->url_done;
    if (!ok)
        http_test_blk_mismatches++;
}

/* The message that began at p, with its first line the n bytes there, in
 * the state pre (llhttp's now): when these bytes and that state are the kept line's
 * (line_save), llhttp would end the line in the state it ended that one in,
 * having said the same of it (llhttp keeps all it knows in llhttp_t, and a
 * start line sets its method, version and status and calls on_url or
 * on_status with one span), so that is what is set and said here instead.
 * 1 when done, 0 when llhttp is to parse the line. */
static int line_skip(struct http_dir *d, const struct ll_mark *pre, const uint8_t *p, size_t n)
{
#if LLHTTP_VERSION_MAJOR == 8
    if (!d->ln_ok || n != d->ln_len || !http_test_blk_skip || !d->m || d->ext_len ||
        !mark_eq(pre, &d->ln_pre) || memcmp(p, d->ln, n) != 0)
        return 0;
    llhttp_t *s = &d->parser, q;
    int verify = http_test_blk_verify;
    if (verify)
        q = *s;
    mark_put(s, &d->ln_post);
    s->http_major = d->ln_major;
    s->http_minor = d->ln_minor;
    if (d->dir == DIR_C2S)
        s->method = d->ln_method;
    else
        s->status_code = d->ln_status;
    if (d->ln_span_len) {
        /* msg_begin emptied it */
        struct strbuf *b = d->dir == DIR_C2S ? &d->url : &d->reason;
        b->ext = (const char *)p + d->ln_span_off;
        b->n = d->ln_span_len;
    }
    d->url_done = d->ln_url_done;
    if (verify)
        line_verify(d, &q, p, n);
    http_test_line_skips++;
    if (d->url_done) {
        keep_request_line(d); /* as on_url_complete */
        url_kept(d);
    }
    return 1;
#else
    (void)d, (void)pre, (void)p, (void)n;
    return 0; /* another llhttp: each line is parsed */
#endif
}

/* Feed bytes (or zeros, when d->gap) to the parser of d. */
static void dir_feed(struct http_dir *d, const uint8_t *data, size_t len)
{
    struct http_conn *h = d->h;
    size_t pos = 0;
    size_t begin_pos = SIZE_MAX;     /* where a message began in this call */
    size_t line_end = SIZE_MAX;      /* ...and where its start line ends, once */
    struct ll_mark begin_mark = {0}; /* ...and llhttp's state there */
    /* After a pause, llhttp may have work left that consumes no bytes (the
     * end of a message right after its headers), so it runs again even
     * when every byte has been consumed. */
    while (d->state == DS_PARSING) {
        d->ev = EV_NONE;
        d->pausing = 1;
        /* A message begun here is parsed up to its start line's end first,
         * where llhttp's state is taken (blk_skip). */
        size_t end = len;
        int line_run = 0, line_skipped = 0, span_ok = 0;
        uint32_t span_off = 0, span_len = 0;
        if (line_end != SIZE_MAX) {
            end = line_end;
            line_end = SIZE_MAX;
            line_run = 1;
        }
        llhttp_errno_t err = HPE_OK;
        if (line_run && line_skip(d, &begin_mark, data + pos, end - pos)) {
            line_skipped = 1;
        } else {
            err = llhttp_execute(&d->parser, (const char *)data + pos, end - pos);
            if (line_run)
                span_ok = line_span(d, data + pos, end - pos, &span_off, &span_len);
            url_kept(d);
            dir_own_spans(d);
        }
        size_t epos = end, from = pos;
        if (err != HPE_OK) {
            const char *ep = llhttp_get_error_pos(&d->parser);
            if (ep && ep >= (const char *)data + pos && ep <= (const char *)data + end)
                epos = (size_t)(ep - (const char *)data);
        }
        account(d, epos - pos);
        d->off += epos - pos;
        pos = epos;
        if (err == HPE_OK) {
            if (pos == len)
                break;
            /* The start line ended here, nothing pending (no pause), so
             * llhttp waits for the first header line. */
            if (!d->m || d->parser._span_pos0)
                continue;
            mark_take(&d->parser, &d->line_mark);
            d->line_ok = 1;
            if (line_run && !line_skipped && span_ok && d->ln_want)
                line_save(d, &begin_mark, data + from, pos - from, span_off, span_len);
            err = blk_skip(d, data, &pos);
            if (err == HPE_OK)
                continue;
            /* else paused at the headers' end, as llhttp would have */
        }
        if (err == HPE_PAUSED) {
            llhttp_resume(&d->parser);
            if (d->ev == EV_BEGIN) {
                begin_pos = pos;
                if (!msg_begin(d)) {
                    store_stats(h->st)->alloc_failures++;
                    stop_dir(d);
                } else {
                    mark_take(&d->parser, &begin_mark);
                    const uint8_t *e = d->gap ? NULL : memchr(data + pos, '\n', len - pos);
                    if (e)
                        line_end = (size_t)(e + 1 - data);
                    d->same_blk = (uint8_t)(e && blk_repeats(d, data, pos, line_end, len));
                    d->parser.settings =
                        (void *)(d->same_blk ? &http_settings_repeat : &http_settings);
                }
            } else if (d->ev == EV_HEADERS) {
                place_header_end(d);
                blk_save(d, data, begin_pos, pos);
            } else if (d->ev == EV_COMPLETE) {
                msg_complete(d);
                /* The usual end of a packet: a message ends with its last
                 * byte. What llhttp has left (resetting its flags for the
                 * next message) runs at the start of the next call, so no
                 * call is made for it now, with no bytes; the end of the
                 * stream (http_conn_eof) has no message open to finish.
                 * Not after an upgrade: llhttp says so only then. */
                if (pos == len && !d->parser.upgrade && !h->resume_c2s)
                    break;
            }
            if (h->resume_c2s)
                replay_pending(h);
            continue;
        }
        if (err == HPE_PAUSED_UPGRADE || err == HPE_PAUSED_H2_UPGRADE) {
            handle_upgrade_pause(d, data + pos, len - pos);
            break;
        }
        if (err == HPE_INVALID_CONSTANT && d->dir == DIR_S2C && d->m && !d->gap &&
            begin_pos != SIZE_MAX && waiting_request_is_09(h)) {
            start_raw09(d, data, begin_pos, len);
            break;
        }
        if (err == HPE_INVALID_METHOD && d->dir == DIR_C2S && d->m && !d->gap &&
            begin_pos != SIZE_MAX && try_ext_method(d, data, begin_pos, len, &pos))
            continue;
        parse_error(d, err);
    }
    if (h->resume_c2s)
        replay_pending(h);
    /* data is the caller's: a body still pointed at is copied. Not sooner,
     * so that a body whose message completes here is copied only once.
     * Likewise a start line's URL or reason that line_skip pointed at, when
     * the line was the last of these bytes. */
    dir_own_spans(d);
    body_own(d);
}

static int pend_add(struct http_conn *h, const uint8_t *p, size_t n, uint32_t pkt)
{
    if (!n)
        return 0;
    if (h->npend + n > HTTP_PEND_MAX || h->nsegs == HTTP_PEND_SEGS)
        return -ENOSPC;
    if (!h->pend) {
        /* The segments' list too: few connections ever hold bytes, so
         * none carries the list otherwise. */
        h->pend = malloc(HTTP_PEND_MAX + HTTP_PEND_SEGS * sizeof(struct pend_seg));
        if (!h->pend)
            return -ENOMEM;
        conn_side_changed = 1;
        h->segs = (struct pend_seg *)(h->pend + HTTP_PEND_MAX);
    }
    memcpy(h->pend + h->npend, p, n);
    h->npend += n;
    h->segs[h->nsegs].pkt = pkt;
    h->segs[h->nsegs].len = (uint32_t)n;
    h->nsegs++;
    return 0;
}

/* llhttp paused after a CONNECT / Upgrade message (or an HTTP/2 preface). */
static void handle_upgrade_pause(struct http_dir *d, const uint8_t *rest, size_t n)
{
    struct http_conn *h = d->h;
    if (d->dir == DIR_S2C || d->parser.error == HPE_PAUSED_H2_UPGRADE) {
        /* A response that switched protocol (on_headers_complete already
         * stopped the client side), or "PRI * HTTP/2.0": opaque from here. */
        if (d->dir == DIR_C2S && d->last)
            d->last->upgrade = 1;
        stop_dir(d);
        return;
    }
    /* A request asked to switch: wait for the answer, holding what follows. */
    d->state = DS_WAIT_UPGRADE;
    h->upgrade_req = d->last;
    h->npend = 0;
    h->nsegs = 0;
    if (pend_add(h, rest, n, d->pkt) < 0)
        stop_dir(d);
}

/* The answer to the Upgrade/CONNECT request was not a switch: parse on. */
static void replay_pending(struct http_conn *h)
{
    struct http_dir *d = &h->d[DIR_C2S];
    h->resume_c2s = 0;
    if (d->state != DS_WAIT_UPGRADE)
        return;
    d->state = DS_PARSING;
    h->upgrade_req = NULL;
    llhttp_resume_after_upgrade(&d->parser);
    size_t off = 0;
    uint32_t nsegs = h->nsegs;
    h->nsegs = 0;
    /* Parsing may pause again (another Upgrade request) and refill pend,
     * so walk a copy of the held bytes. */
    uint8_t *buf = h->pend;
    size_t npend = h->npend;
    struct pend_seg segs[HTTP_PEND_SEGS];
    if (nsegs)
        memcpy(segs, h->segs, nsegs * sizeof(*segs));
    h->pend = NULL;
    h->segs = NULL;
    h->npend = 0;
    conn_side_changed = 1; /* buf is freed below */
    for (uint32_t i = 0; i < nsegs && off < npend; i++) {
        if (d->state == DS_WAIT_UPGRADE) {
            if (pend_add(h, buf + off, segs[i].len, segs[i].pkt) < 0)
                stop_dir(d);
        } else if (d->state == DS_PARSING) {
            d->pkt = segs[i].pkt;
            d->ts = pkt_ts(h->c, d->pkt);
            dir_feed(d, buf + off, segs[i].len);
        }
        off += segs[i].len;
    }
    free(buf);
}

/* ---- public API ------------------------------------------------------------ */

struct http_conn *http_conn_new(struct store *st, struct store_conn *c)
{
    struct http_conn *h = calloc(1, sizeof(*h));
    if (!h) {
        errno = ENOMEM;
        return NULL;
    }
    h->st = st;
    h->c = c;
    for (int i = 0; i < 2; i++) {
        struct http_dir *d = &h->d[i];
        d->h = h;
        d->dir = i;
        llhttp_init(&d->parser, i == DIR_C2S ? HTTP_REQUEST : HTTP_RESPONSE, &http_settings);
        d->parser.data = d;
        llhttp_set_lenient_headers(&d->parser, 1);
        llhttp_set_lenient_chunked_length(&d->parser, 1);
        llhttp_set_lenient_keep_alive(&d->parser, 1);
    }
    return h;
}

size_t http_conn_footprint(const struct http_conn *h)
{
    if (!h)
        return 0;
    size_t n = sizeof(*h) + (size_t)h->fifo_cap * sizeof(*h->fifo);
    if (h->pend)
        n += HTTP_PEND_MAX + HTTP_PEND_SEGS * sizeof(struct pend_seg);
    for (int i = 0; i < 2; i++) {
        const struct http_dir *d = &h->d[i];
        n += d->url.cap + d->reason.cap + d->name.cap + d->value.cap + d->body.cap + d->zmem;
        n += (size_t)d->cap_hdrs * (sizeof(*d->hdrs) + sizeof(*d->lens));
        n += (size_t)d->cap_prev_lens * sizeof(*d->prev_lens);
        n += d->blk_cap + d->blk_copy_cap + d->ln_cap;
    }
    return n;
}

void http_conn_free(struct http_conn *h)
{
    if (!h)
        return;
    for (int i = 0; i < 2; i++) {
        struct http_dir *d = &h->d[i];
        body_end_inflate(&d->body);
        free(d->body.buf);
        strbuf_free(&d->url);
        strbuf_free(&d->reason);
        strbuf_free(&d->name);
        strbuf_free(&d->value);
        free(d->hdrs);
        free(d->lens);
        free(d->prev_lens);
        free(d->blk);
        free(d->blk_copy);
        free(d->ln);
    }
    free(h->fifo);
    free(h->pend);
    free(h);
}

/* Stream mode: when every request has its final response and no message is
 * open, the connection's messages can be written out and freed, so a
 * keep-alive connection that lasts for days holds only what is in flight. */
static void maybe_flush(struct http_conn *h)
{
    if (!store_get_opts(h->st)->stream || !h->c->nmessages)
        return;
    if (h->fifo_n || h->d[0].m || h->d[1].m || h->upgrade_req || h->npend)
        return;
    store_conn_flush(h->st, h->c);
    /* The arena is gone: nothing in it may be shared any more. */
    for (int i = 0; i < 2; i++) {
        h->d[i].last = NULL;
        h->d[i].prev_hdrs = NULL;
        h->d[i].prev_nhdrs = 0;
        h->d[i].prev_url = h->d[i].prev_reason = NULL;
        h->d[i].prev_body = NULL;
        if (!h->d[i].blk_own)
            h->d[i].blk_ok = 0; /* its headers were in the arena */
    }
}

int http_conn_data(struct http_conn *h, int dir, const uint8_t *data, size_t len, uint32_t pkt)
{
    if (dir != DIR_C2S && dir != DIR_S2C)
        return 1;
    struct http_dir *d = &h->d[dir];
    if (d->state == DS_WAIT_UPGRADE) {
        if (pend_add(h, data, len, pkt) < 0) {
            log_msg(LOG_DEBUG,
                    "http: connection %llu: too much client data after an Upgrade "
                    "request, not parsed",
                    (unsigned long long)h->c->id);
            stop_dir(d);
        }
        return d->state == DS_STOPPED;
    }
    if (d->midstream && len) {
        /* The first bytes of a direction picked up mid-stream: parsed as
         * they come if they may begin a message, else skipped up to one
         * that does (a body's middle must not stop the parser for good). */
        d->midstream = 0;
        int may = dir == DIR_C2S ? http_looks_like_request(data, len) != 0
                                 : memcmp(data, "HTTP/", len < 5 ? len : 5) == 0;
        if (d->state == DS_PARSING && !may)
            d->state = DS_RESYNC;
    }
    if (d->state == DS_RESYNC) {
        size_t k = find_message_start(dir, data, len);
        d->off += k;
        h->c->stats.http_skipped[dir] += k;
        if (k == len)
            return 0;
        llhttp_reset(&d->parser);
        d->state = DS_PARSING;
        h->c->stats.http_resyncs[dir]++;
        data += k;
        len -= k;
    }
    if (d->state == DS_RAW09) {
        d->pkt = pkt;
        d->ts = pkt_ts(h->c, pkt);
        raw09_feed(d, data, len);
        return 0;
    }
    if (d->state != DS_PARSING)
        return 1;
    d->pkt = pkt;
    d->ts = pkt_ts(h->c, pkt);
    d->gap = 0;
    dir_feed(d, data, len);
    maybe_flush(h);
    return d->state == DS_STOPPED;
}

void http_conn_midstream(struct http_conn *h, int dir)
{
    if (dir == DIR_C2S || dir == DIR_S2C)
        h->d[dir].midstream = 1;
}

/* Leave the parser and skip bytes until a message starts. pop: the oldest
 * waiting request lost its response in the gap. */
static void start_resync(struct http_dir *d, int pop, uint64_t gap)
{
    struct http_conn *h = d->h;
    if (pop)
        fifo_pop(h);
    d->state = DS_RESYNC;
    d->off += gap;
    h->c->stats.http_skipped[d->dir] += gap;
    log_msg(LOG_DEBUG, "http: connection %llu %s: capture gap of %llu bytes, resynchronising",
            (unsigned long long)h->c->id, d->dir == DIR_C2S ? "c2s" : "s2c",
            (unsigned long long)gap);
}

/* Offset in data of the first plausible message start, or len. Responses:
 * "HTTP/1.x NNN". Requests: a request line at the start or after a LF. */
static size_t find_message_start(int dir, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (dir == DIR_S2C) {
            if (data[i] != 'H' || len - i < 13)
                continue;
            const uint8_t *p = data + i;
            if (memcmp(p, "HTTP/1.", 7) == 0 && p[7] >= '0' && p[7] <= '9' && p[8] == ' ' &&
                p[9] >= '1' && p[9] <= '5' && p[10] >= '0' && p[10] <= '9' && p[11] >= '0' &&
                p[11] <= '9' && p[12] == ' ')
                return i;
        } else if ((i == 0 || data[i - 1] == '\n') && data[i] >= 'A' && data[i] <= 'Z' &&
                   http_looks_like_request(data + i, len - i) == 1) {
            return i;
        }
    }
    return len;
}

static void conn_gap(struct http_conn *h, int dir, uint64_t len, uint32_t pkt, int known);

void http_conn_gap(struct http_conn *h, int dir, uint64_t len, uint32_t pkt)
{
    conn_gap(h, dir, len, pkt, 0);
}

void http_conn_skipped(struct http_conn *h, int dir, uint64_t len, uint32_t pkt)
{
    conn_gap(h, dir, len, pkt, 1);
}

uint64_t http_conn_skippable(const struct http_conn *h, int dir, uint64_t *keep)
{
    *keep = 0;
    if (dir != DIR_C2S && dir != DIR_S2C)
        return 0;
    const struct http_dir *d = &h->d[dir];
    if (d->state != DS_PARSING || !d->m || !d->hdr_done || !d->in_body || d->body_eof)
        return 0;
    /* Still keeping: the bytes up to the limit matter. For a compressed
     * body this counts wire bytes as if they were decoded ones, which keeps
     * at least enough (compression makes the decoded side the larger). */
    if (d->body.mode == BODY_IDENTITY || d->body.mode == BODY_INFLATE)
        *keep = d->body.limit > d->body.len ? d->body.limit - d->body.len : 0;
    return d->parser.content_length;
}

static void conn_gap(struct http_conn *h, int dir, uint64_t len, uint32_t pkt, int known)
{
    if ((dir != DIR_C2S && dir != DIR_S2C) || !len)
        return;
    struct http_dir *d = &h->d[dir];
    struct store_message *m = d->m;
    char text[96];
    if (d->state == DS_WAIT_UPGRADE) {
        stop_dir(d); /* held bytes now have a hole: cannot be replayed */
        return;
    }
    if (d->state != DS_PARSING)
        return;
    if (d->state == DS_RESYNC) {
        d->h->c->stats.http_skipped[dir] += len;
        return;
    }
    if (d->state == DS_RAW09) {
        m->gap_bytes += len;
        m->body_bytes += len;
        d->off += len;
        if (d->body.mode == BODY_IDENTITY)
            body_stop(d, 1);
        return;
    }
    if (!m) {
        /* Between messages: what the lost bytes held is unknown. A
         * response lost there answered the oldest waiting request. */
        start_resync(d, dir == DIR_S2C && fifo_front(h), len);
        return;
    }
    if (d->hdr_done && d->body_eof) {
        /* Body runs until close: the parser needs no bytes to stay in step. */
        m->gap_bytes += len;
        m->body_bytes += len;
        d->off += len;
        if (d->body.mode == BODY_INFLATE)
            body_decode_fail(d);
        else if (d->body.mode == BODY_IDENTITY)
            body_stop(d, 1);
        return;
    }
    if (d->hdr_done && d->in_body && len <= d->parser.content_length) {
        if (known)
            m->skipped_bytes += len;
        else
            m->gap_bytes += len;
        if (d->body.mode == BODY_INFLATE)
            body_decode_fail(d);
        else if (d->body.mode == BODY_IDENTITY)
            body_stop(d, 1);
        d->gap = 1;
        d->gap_known = (uint8_t)known;
        d->pkt = pkt;
        d->ts = pkt_ts(h->c, pkt);
        while (len && d->state == DS_PARSING) {
            size_t n = len < sizeof(http_zeros) ? (size_t)len : sizeof(http_zeros);
            dir_feed(d, http_zeros, n);
            len -= n;
        }
        d->gap = d->gap_known = 0;
        return;
    }
    if (!d->hdr_done)
        snprintf(text, sizeof(text), "gap in headers (%llu bytes missing)",
                 (unsigned long long)len);
    else if (d->in_body)
        snprintf(text, sizeof(text), "gap past the end of the body (%llu bytes missing)",
                 (unsigned long long)len);
    else
        snprintf(text, sizeof(text), "gap in chunked framing (%llu bytes missing)",
                 (unsigned long long)len);
    set_error(d, m, text);
    /* The cut message is kept as it is; a cut response still answered its
     * request, which waits no more. */
    int answered =
        dir == DIR_S2C && !m->interim && fifo_front(h) && fifo_front(h)->req->id == m->request;
    body_finish(d, 0);
    d->m = NULL;
    settle(h);
    start_resync(d, answered, len);
}

void http_conn_eof(struct http_conn *h, int dir, uint32_t pkt)
{
    if (dir != DIR_C2S && dir != DIR_S2C)
        return;
    struct http_dir *d = &h->d[dir];
    (void)pkt; /* a message ends at its last byte, not at the FIN/RST packet */
    if (d->state == DS_RAW09)
        msg_complete(d);
    if (d->state == DS_PARSING) {
        d->pausing = 0;
        llhttp_errno_t err = llhttp_finish(&d->parser);
        /* HPE_OK with a message open means llhttp called on_message_complete
         * (a body delimited by close); otherwise the message was cut short
         * and stays incomplete, ending at its last byte. */
        struct store_message *m = d->m;
        if (err != HPE_OK && m && m->kind == MSG_REQUEST && d->parser.http_major == 0 &&
            d->parser.http_minor == 9 && !d->hdr_done) {
            /* HTTP/0.9: the request line is the whole request, but llhttp
             * goes on to wait for headers. End of stream settles it. */
            m->http_major = 0;
            m->http_minor = 9;
            place_header_end(d);
            m->complete = 1;
        } else if (err != HPE_OK && m) {
            log_msg(LOG_DEBUG, "http: connection %llu: message %llu cut short",
                    (unsigned long long)h->c->id, (unsigned long long)m->id);
        }
    }
    stop_dir(d);
}

/* ---- request-line sniffing ------------------------------------------------ */

/* llhttp's HTTP methods (not PRI, which opens HTTP/2, nor the RTSP ones). */
static const char *const http_methods[] = {
    "DELETE",     "GET",      "HEAD",       "POST",     "PUT",    "CONNECT",   "OPTIONS",
    "TRACE",      "COPY",     "LOCK",       "MKCOL",    "MOVE",   "PROPFIND",  "PROPPATCH",
    "SEARCH",     "UNLOCK",   "BIND",       "REBIND",   "UNBIND", "ACL",       "REPORT",
    "MKACTIVITY", "CHECKOUT", "MERGE",      "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE",
    "PATCH",      "PURGE",    "MKCALENDAR", "LINK",     "UNLINK", "SOURCE",
};

/* Visible request-line bytes after the method that settle it without the
 * version: callers look at the first few dozen bytes of a connection only. */
#define HTTP_SNIFF_LINE 48

/*
 * A known method, one or more spaces, a request-target of visible bytes,
 * then a space and "HTTP/" with a digit somewhere later on the line (so a
 * malformed line such as "CONNECT host:25 / HTTP/1.0", seen from real
 * proxies clients, still counts: llhttp then records the parse error,
 * which is more useful than hiding the connection). Once 48 visible bytes
 * follow a known method and a space, the answer is yes without waiting for
 * the version: long URLs are common and the caller looks at 64 bytes.
 *
 * HTTP/0.9 is accepted in its only form, "GET /path" ended by CR or LF:
 * such clients still exist (zeek's http-09 trace has one). llhttp takes the
 * request line (we complete it at end of stream, as it then waits for
 * headers that never come); the bare-body HTTP/0.9 answer has no status
 * line and shows as a parse error on the response.
 */
int http_looks_like_request(const uint8_t *data, size_t len)
{
    size_t i = 0;
    while (i < len && data[i] != ' ') {
        if (i >= 11)
            return 0; /* longer than any method */
        i++;
    }
    int prefix = 0, exact = -1;
    for (size_t k = 0; k < sizeof(http_methods) / sizeof(http_methods[0]); k++) {
        size_t ml = strlen(http_methods[k]);
        if (i <= ml && !memcmp(data, http_methods[k], i)) {
            prefix = 1;
            if (i == ml)
                exact = (int)k;
        }
    }
    if (i == len)
        return prefix ? -1 : 0;
    if (exact < 0)
        return 0;
    while (i < len && data[i] == ' ')
        i++;
    size_t t = i; /* request-target */
    int spaced = 0;
    for (; i < len && data[i] != '\r' && data[i] != '\n'; i++) {
        if (i - t >= HTTP_SNIFF_LINE)
            return 1;
        if (data[i] == ' ') {
            static const char ver[] = "HTTP/";
            size_t k = 0;
            spaced = 1;
            while (k < sizeof(ver) - 1 && i + 1 + k < len && data[i + 1 + k] == (uint8_t)ver[k])
                k++;
            if (i + 1 + k == len)
                return -1; /* " HTT" so far */
            if (k == sizeof(ver) - 1)
                return data[i + 1 + k] >= '0' && data[i + 1 + k] <= '9';
            continue;
        }
        if (data[i] < 0x21 || data[i] == 0x7f)
            return 0;
    }
    if (i == len)
        return -1;
    if (i == t || spaced)
        return 0;
    return !strcmp(http_methods[exact], "GET") && data[t] == '/';
}
