/* SPDX-License-Identifier: MIT */
/*
 * jsonw.c - streaming JSON writer used by the exporters. See jsonw.h.
 *
 * Sits at the very end of the pipeline, under export_json.c, export_jsonl.c
 * and export_har.c. It knows nothing about the model; it only guarantees that
 * whatever bytes the exporters hand it (header values, URLs, bodies straight
 * from the wire) come out as well-formed JSON in valid UTF-8.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "htracr/jsonw.h"

void jsonw_init(struct jsonw *w, FILE *f)
{
    w->f = f;
    w->fd = f ? fileno(f) : -1; /* -1 for memory and cookie streams */
    w->nbuf = 0;
    w->err = 0;
    w->depth = 0;
    w->after_key = 0;
}

static void jsonw_fail(struct jsonw *w, int err)
{
    if (!w->err)
        w->err = err;
}

/* n bytes out. A big chunk (a full buffer) to a stream with a file
 * descriptor goes out with write(2) after stdio's own buffer is flushed (so
 * the order stays right): copying every byte once more into stdio's buffer
 * was a measurable share of writing a big JSONL file. Small chunks (the
 * tail of each finished object, once per JSONL line when streaming) and
 * streams without a descriptor go through fwrite, which batches them. */
static void jsonw_out(struct jsonw *w, const void *p, size_t n)
{
    if (w->err || !n)
        return;
    errno = 0;
    if (w->fd < 0 || n < JSONW_BUF / 2) {
        if (fwrite(p, 1, n, w->f) != n)
            jsonw_fail(w, errno ? -errno : -EIO);
        return;
    }
    if (fflush(w->f) != 0) {
        jsonw_fail(w, errno ? -errno : -EIO);
        return;
    }
    const char *c = p;
    while (n) {
        ssize_t r = write(w->fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            jsonw_fail(w, r < 0 ? -errno : -EIO);
            return;
        }
        c += r;
        n -= (size_t)r;
    }
}

/* Hand the buffered bytes on (one call per JSONW_BUF, not per token: that
 * was most of the export time). */
static void jsonw_flush(struct jsonw *w)
{
    jsonw_out(w, w->buf, w->nbuf);
    w->nbuf = 0;
}

/* The rare case: the buffer is full, or n is bigger than all of it. */
static void jsonw_write_slow(struct jsonw *w, const void *p, size_t n)
{
    jsonw_flush(w);
    if (n > JSONW_BUF) {
        jsonw_out(w, p, n);
        return;
    }
    memcpy(w->buf, p, n);
    w->nbuf = n;
}

static inline __attribute__((always_inline)) void jsonw_write(struct jsonw *w, const void *p,
                                                              size_t n)
{
    if (w->err || n == 0)
        return;
    if (n > JSONW_BUF - w->nbuf) {
        jsonw_write_slow(w, p, n);
        return;
    }
    memcpy(w->buf + w->nbuf, p, n);
    w->nbuf += n;
}

static void jsonw_putc(struct jsonw *w, char c)
{
    if (w->err)
        return;
    if (w->nbuf == JSONW_BUF)
        jsonw_flush(w);
    w->buf[w->nbuf++] = c;
}

/* Decimal digits of v, written backwards from end, two at a time; returns
 * the start. */
static const char jsonw_pairs[] = "00010203040506070809101112131415161718192021222324"
                                  "25262728293031323334353637383940414243444546474849"
                                  "50515253545556575859606162636465666768697071727374"
                                  "75767778798081828384858687888990919293949596979899";

/* Decimal digits of v < 10^8 ending at end, two at a time in 32-bit
 * arithmetic; with pad, exactly 8 digits (leading zeros). Returns the start. */
static char *jsonw_u32toa(uint32_t v, char *end, int pad)
{
    char *stop = end - 8;
    while (v >= 100) {
        uint32_t r = v % 100;
        v /= 100;
        end -= 2;
        end[0] = jsonw_pairs[2 * r];
        end[1] = jsonw_pairs[2 * r + 1];
    }
    if (v >= 10 || (pad && end - 2 >= stop)) {
        end -= 2;
        end[0] = jsonw_pairs[2 * v];
        end[1] = jsonw_pairs[2 * v + 1];
    } else {
        *--end = (char)('0' + v);
    }
    while (pad && end > stop)
        *--end = '0';
    return end;
}

/* Decimal digits of v, written backwards ending at end; returns the start.
 * µs timestamps have 16 digits: done as two 8-digit halves. */
static char *jsonw_utoa(uint64_t v, char *end)
{
    if (v < 100000000)
        return jsonw_u32toa((uint32_t)v, end, 0);
    end = jsonw_u32toa((uint32_t)(v % 100000000), end, 1);
    v /= 100000000;
    if (v < 100000000)
        return jsonw_u32toa((uint32_t)v, end, 0);
    end = jsonw_u32toa((uint32_t)(v % 100000000), end, 1);
    return jsonw_u32toa((uint32_t)(v / 100000000), end, 0);
}

/* Separator before a value: a comma when the enclosing array already has a
 * member. Inside an object the key did that already. */
static void jsonw_pre_value(struct jsonw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0) {
        if (w->nonempty[w->depth - 1])
            jsonw_putc(w, ',');
        w->nonempty[w->depth - 1] = 1;
    }
}

static void jsonw_open(struct jsonw *w, char c)
{
    jsonw_pre_value(w);
    if (w->depth >= JSONW_MAX_DEPTH) {
        jsonw_fail(w, -EINVAL);
        return;
    }
    w->nonempty[w->depth++] = 0;
    jsonw_putc(w, c);
}

static void jsonw_close(struct jsonw *w, char c)
{
    if (w->depth == 0 || w->after_key) {
        jsonw_fail(w, -EINVAL);
        return;
    }
    w->depth--;
    jsonw_putc(w, c);
}

void jsonw_obj_open(struct jsonw *w)
{
    jsonw_open(w, '{');
}

void jsonw_obj_close(struct jsonw *w)
{
    jsonw_close(w, '}');
}

void jsonw_arr_open(struct jsonw *w)
{
    jsonw_open(w, '[');
}

void jsonw_arr_close(struct jsonw *w)
{
    jsonw_close(w, ']');
}

int jsonw_end(struct jsonw *w)
{
    if (!w->err && (w->depth != 0 || w->after_key))
        jsonw_fail(w, -EINVAL);
    jsonw_flush(w);
    if (!w->err && ferror(w->f))
        jsonw_fail(w, -EIO);
    return w->err;
}

int jsonw_finish(struct jsonw *w)
{
    if (!w->err && (w->depth != 0 || w->after_key))
        jsonw_fail(w, -EINVAL);
    jsonw_flush(w);
    if (!w->err) {
        errno = 0;
        if (fflush(w->f) != 0 || ferror(w->f))
            jsonw_fail(w, errno ? -errno : -EIO);
    }
    return w->err;
}

size_t jsonw_utf8_len(const uint8_t *s, size_t n)
{
    uint8_t c;

    if (n == 0)
        return 0;
    c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        if (n >= 2 && (s[1] & 0xc0) == 0x80)
            return 2;
        return 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        /* E0 needs A0..BF (no overlongs), ED needs 80..9F (no surrogates) */
        uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        if (n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80)
            return 3;
        return 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        /* F0 needs 90..BF (no overlongs), F4 needs 80..8F (<= U+10FFFF) */
        uint8_t lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        if (n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80)
            return 4;
        return 0;
    }
    return 0; /* 80..C1 (continuation or overlong lead), F5..FF */
}

int jsonw_utf8_valid(const void *p, size_t n)
{
    const uint8_t *s = p;
    size_t i = 0;

    while (i < n) {
        size_t k;
        if (s[i] < 0x80) { /* ASCII runs are the common case */
            i++;
            continue;
        }
        k = jsonw_utf8_len(s + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

static void jsonw_escape_byte(struct jsonw *w, uint8_t c)
{
    static const char hex[] = "0123456789abcdef";
    char buf[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
    const char *short_form = NULL;

    switch (c) {
    case '"': short_form = "\\\""; break;
    case '\\': short_form = "\\\\"; break;
    case '\n': short_form = "\\n"; break;
    case '\r': short_form = "\\r"; break;
    case '\t': short_form = "\\t"; break;
    case '\b': short_form = "\\b"; break;
    case '\f': short_form = "\\f"; break;
    }
    if (short_form)
        jsonw_write(w, short_form, 2);
    else
        jsonw_write(w, buf, sizeof(buf));
}

/* Bytes that go into a JSON string as they are: printable ASCII other than
 * quote and backslash. */
#define P1(c) ((c) >= 0x20 && (c) < 0x7f && (c) != '"' && (c) != '\\')
#define P4(c) P1(c), P1((c) + 1), P1((c) + 2), P1((c) + 3)
#define P16(c) P4(c), P4((c) + 4), P4((c) + 8), P4((c) + 12)
#define P64(c) P16(c), P16((c) + 16), P16((c) + 32), P16((c) + 48)
static const uint8_t jsonw_plain[256] = {P64(0), P64(64), P64(128), P64(192)};

/* The body of a JSON string (no quotes). Runs of bytes that need no escaping
 * are copied in one piece. */
#define JSONW_ONES 0x0101010101010101ULL
#define JSONW_HIGH 0x8080808080808080ULL
/* Non-zero when one of the 8 bytes of x is not plain: below 0x20, '"',
 * '\\', DEL, or 0x80 and above (which the byte loop checks as UTF-8). */
static inline uint64_t jsonw_word_special(uint64_t x)
{
    uint64_t lt20 = (x - JSONW_ONES * 0x20) & ~x;
    uint64_t q = x ^ (JSONW_ONES * '"'), b = x ^ (JSONW_ONES * '\\'), d = x ^ (JSONW_ONES * 0x7f);
    uint64_t zq = (q - JSONW_ONES) & ~q, zb = (b - JSONW_ONES) & ~b, zd = (d - JSONW_ONES) & ~d;
    return ((lt20 | zq | zb | zd) & JSONW_HIGH) | (x & JSONW_HIGH);
}

/* The common case: bytes with nothing to escape, and room for them in the
 * buffer. Checked and copied in one pass, eight at a time (the last eight
 * overlapping the word before them), with no call per string. Returns how
 * many leading bytes it took: all n, or fewer when one needs a closer look
 * (escape, UTF-8) or the buffer is short; the caller does the rest. */
static inline size_t jsonw_plain_copy(struct jsonw *w, const uint8_t *s, size_t n)
{
    uint64_t x;
    size_t i = 0;

    if (w->err || JSONW_BUF - w->nbuf < n)
        return 0;
    char *d = w->buf + w->nbuf;
    for (; n - i >= 8; i += 8) {
        memcpy(&x, s + i, 8);
        if (jsonw_word_special(x))
            break;
        memcpy(d + i, &x, 8);
    }
    if (n - i < 8) {
        if (n >= 8) {
            memcpy(&x, s + n - 8, 8);
            if (!jsonw_word_special(x)) {
                memcpy(d + n - 8, &x, 8);
                i = n;
            }
        } else {
            while (i < n && jsonw_plain[s[i]]) {
                d[i] = (char)s[i];
                i++;
            }
        }
    }
    w->nbuf += i;
    return i;
}

static void jsonw_string_body(struct jsonw *w, const uint8_t *s, size_t n)
{
    size_t i = jsonw_plain_copy(w, s, n), run = 0;

    if (i == n)
        return;
    s += i;
    n -= i;
    i = 0;

    while (i < n) {
        uint8_t c;
        size_t k;

        /* Eight plain bytes at a time: most header text is ASCII. */
        while (n - i >= 8) {
            uint64_t x;
            memcpy(&x, s + i, 8);
            if (jsonw_word_special(x))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        c = s[i];

        if (jsonw_plain[c]) {
            i++;
            continue;
        }
        if (c >= 0x80 && (k = jsonw_utf8_len(s + i, n - i)) > 0) {
            i += k;
            continue;
        }
        /* c needs an escape: a control char, DEL, quote, backslash, or a
         * byte that is not part of valid UTF-8 (written as its Latin-1 code
         * point) */
        jsonw_write(w, s + run, i - run);
        jsonw_escape_byte(w, c);
        run = ++i;
    }
    jsonw_write(w, s + run, i - run);
}

void jsonw_strn(struct jsonw *w, const void *s, size_t n)
{
    jsonw_pre_value(w);
    jsonw_putc(w, '"');
    jsonw_string_body(w, s, n);
    jsonw_putc(w, '"');
}

void jsonw_str_pair(struct jsonw *w, const char *a, const char *b)
{
    jsonw_pre_value(w);
    jsonw_write(w, "[\"", 2);
    jsonw_string_body(w, (const uint8_t *)a, strlen(a));
    jsonw_write(w, "\",\"", 3);
    jsonw_string_body(w, (const uint8_t *)b, strlen(b));
    jsonw_write(w, "\"]", 2);
}

void jsonw_str(struct jsonw *w, const char *s)
{
    if (!s)
        jsonw_null(w);
    else
        jsonw_strn(w, s, strlen(s));
}

void jsonw_keyn(struct jsonw *w, const char *key, size_t n)
{
    if (w->depth == 0 || w->after_key) {
        jsonw_fail(w, -EINVAL);
        return;
    }
    int comma = w->nonempty[w->depth - 1];
    w->nonempty[w->depth - 1] = 1;
    w->after_key = 1;
    /* Keys are the exporters' own names, plain ASCII by contract (see
     * jsonw.h): copied as they are, which is most of the writer's calls. */
    if (JSONW_BUF - w->nbuf >= n + 4 && !w->err) {
        char *p = w->buf + w->nbuf;
        if (comma)
            *p++ = ',';
        *p++ = '"';
        memcpy(p, key, n);
        p += n;
        *p++ = '"';
        *p++ = ':';
        w->nbuf = (size_t)(p - w->buf);
        return;
    }
    if (comma)
        jsonw_putc(w, ',');
    jsonw_putc(w, '"');
    jsonw_string_body(w, (const uint8_t *)key, n);
    jsonw_write(w, "\":", 2);
}

void jsonw_newline(struct jsonw *w)
{
    if (w->depth != 0 || w->after_key) {
        jsonw_fail(w, -EINVAL);
        return;
    }
    jsonw_putc(w, '\n');
}

static void jsonw_raw_value(struct jsonw *w, const char *s, size_t n)
{
    jsonw_pre_value(w);
    jsonw_write(w, s, n);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
    char buf[24];
    char *end = buf + sizeof(buf);
    char *p = jsonw_utoa(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, end);
    if (v < 0)
        *--p = '-';
    jsonw_raw_value(w, p, (size_t)(end - p));
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
    char buf[24];
    char *end = buf + sizeof(buf);
    char *p = jsonw_utoa(v, end);
    jsonw_raw_value(w, p, (size_t)(end - p));
}

char *jsonw_put_u64(char *p, uint64_t v)
{
    char buf[24];
    char *end = buf + sizeof(buf);
    char *q = jsonw_utoa(v, end);
    size_t n = (size_t)(end - q);
    memcpy(p, q, n);
    return p + n;
}

char *jsonw_put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return jsonw_put_u64(p, 0 - (uint64_t)v);
    }
    return jsonw_put_u64(p, (uint64_t)v);
}

char *jsonw_run_begin(struct jsonw *w, size_t max)
{
    /* The run's keys all start with a comma: it must follow a member of an
     * open object. A caller that breaks this gets an error, not bad JSON. */
    if (max > JSONW_RUN_MAX || w->depth == 0 || w->after_key || !w->nonempty[w->depth - 1])
        jsonw_fail(w, -EINVAL);
    if (JSONW_BUF - w->nbuf < JSONW_RUN_MAX)
        jsonw_flush(w);
    return w->buf + w->nbuf;
}

void jsonw_token(struct jsonw *w, const char *s, size_t n)
{
    jsonw_raw_value(w, s, n);
}

void jsonw_milli(struct jsonw *w, int64_t v)
{
    char buf[48];
    /* magnitude as unsigned so INT64_MIN does not overflow */
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%03u", v < 0 ? "-" : "", m / 1000,
                     (unsigned)(m % 1000));
    jsonw_raw_value(w, buf, (size_t)n);
}

void jsonw_base64(struct jsonw *w, const void *data, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *s = data;
    char buf[1024]; /* multiple of 4 */
    size_t o = 0, i = 0;

    jsonw_pre_value(w);
    jsonw_putc(w, '"');
    while (i < n) {
        size_t left = n - i;
        uint32_t v = (uint32_t)s[i] << 16;
        if (left > 1)
            v |= (uint32_t)s[i + 1] << 8;
        if (left > 2)
            v |= s[i + 2];
        buf[o++] = tab[(v >> 18) & 63];
        buf[o++] = tab[(v >> 12) & 63];
        buf[o++] = left > 1 ? tab[(v >> 6) & 63] : '=';
        buf[o++] = left > 2 ? tab[v & 63] : '=';
        i += left > 2 ? 3 : left;
        if (o == sizeof(buf)) {
            jsonw_write(w, buf, o);
            o = 0;
        }
    }
    jsonw_write(w, buf, o);
    jsonw_putc(w, '"');
}
