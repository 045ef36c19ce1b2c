/* SPDX-License-Identifier: MIT */
/*
 * jsonw.h - a small streaming JSON writer for the export stage.
 *
 * Writes compact JSON (no spaces, no newlines) straight to a FILE as the
 * exporters walk the model, so nothing the size of the output is ever held in
 * memory. The writer places commas itself: callers only say "open an object",
 * "key", "value", "close". Strings come from the wire and may hold any bytes:
 * valid UTF-8 passes through, each byte of an invalid sequence becomes
 * \u00XX (read as Latin-1), and control characters are escaped, so the output
 * is always valid JSON in valid UTF-8.
 *
 * Errors are sticky: the first failed write (or a nesting mistake) is kept in
 * w->err and every later call is a no-op; jsonw_finish() reports it.
 */
#ifndef HTRACR_JSONW_H
#define HTRACR_JSONW_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define JSONW_MAX_DEPTH 64

#define JSONW_BUF (64 * 1024)

struct jsonw {
    FILE *f;
    int fd;      /* f's descriptor, or -1: then bytes go through fwrite */
    size_t nbuf; /* bytes waiting in buf: stdio sees whole chunks */
    char buf[JSONW_BUF];
    int err;                           /* 0, or the first negative errno */
    unsigned depth;                    /* open containers */
    uint8_t after_key;                 /* a key was written; its value comes next */
    uint8_t nonempty[JSONW_MAX_DEPTH]; /* container at this depth has a member */
};

/* Start writing to f (borrowed). */
void jsonw_init(struct jsonw *w, FILE *f);
/* Flush f. 0 when everything was written and every container closed, else -errno
 * (-EIO for a stream error, -EINVAL for unbalanced nesting). */
int jsonw_finish(struct jsonw *w);
/* As jsonw_finish(), but hands the bytes to f without flushing it: for a
 * writer called once per transaction, whose caller flushes f at the end (a
 * write error shows there, or here once stdio has hit it). */
int jsonw_end(struct jsonw *w);

/* A newline between top-level values (JSON Lines); -EINVAL inside one. */
void jsonw_newline(struct jsonw *w);

void jsonw_obj_open(struct jsonw *w);
void jsonw_obj_close(struct jsonw *w);
void jsonw_arr_open(struct jsonw *w);
void jsonw_arr_close(struct jsonw *w);
/* Key of the next member of the current object. Keys are the program's
 * own names: printable ASCII with no quote or backslash, written as they
 * are (never pass bytes from the wire as a key). */
void jsonw_keyn(struct jsonw *w, const char *key, size_t n);
/* Inline, so a literal key's length is known at compile time and the
 * common case (room in the buffer, inside an object) is a few stores. */
static inline void jsonw_key(struct jsonw *w, const char *key)
{
    size_t n = strlen(key);
    if (w->depth && !w->after_key && !w->err && JSONW_BUF - w->nbuf >= n + 4) {
        char *p = w->buf + w->nbuf;
        if (w->nonempty[w->depth - 1])
            *p++ = ',';
        w->nonempty[w->depth - 1] = 1;
        w->after_key = 1;
        *p++ = '"';
        memcpy(p, key, n);
        p += n;
        *p++ = '"';
        *p++ = ':';
        w->nbuf = (size_t)(p - w->buf);
        return;
    }
    jsonw_keyn(w, key, n);
}

/* Values. jsonw_str(NULL) writes null. */
void jsonw_str(struct jsonw *w, const char *s);
/* ["a","b"] as one value (a header line); a and b not NULL. */
void jsonw_str_pair(struct jsonw *w, const char *a, const char *b);
/* n bytes of s, which may hold NULs or any other byte. */
void jsonw_strn(struct jsonw *w, const void *s, size_t n);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
/* A literal token (null, true, false) as the next value. */
void jsonw_token(struct jsonw *w, const char *s, size_t n);
/* Inline: right after a key with room in the buffer, a token is one copy. */
static inline void jsonw_token_fast(struct jsonw *w, const char *s, size_t n)
{
    if (w->after_key && JSONW_BUF - w->nbuf >= n) {
        w->after_key = 0;
        memcpy(w->buf + w->nbuf, s, n);
        w->nbuf += n;
        return;
    }
    jsonw_token(w, s, n);
}
static inline void jsonw_null(struct jsonw *w)
{
    jsonw_token_fast(w, "null", 4);
}
static inline void jsonw_bool(struct jsonw *w, int v)
{
    if (v)
        jsonw_token_fast(w, "true", 4);
    else
        jsonw_token_fast(w, "false", 5);
}
/* v / 10^3 as a decimal with exactly three fraction digits (µs -> "ms.uuu"),
 * written without floating point so output never depends on the locale. */
void jsonw_milli(struct jsonw *w, int64_t v);
/* n bytes as one base64 (RFC 4648, padded) string. */
void jsonw_base64(struct jsonw *w, const void *data, size_t n);

/* key + value shorthands. */
static inline void jsonw_kstr(struct jsonw *w, const char *key, const char *s)
{
    jsonw_key(w, key);
    jsonw_str(w, s);
}
static inline void jsonw_kint(struct jsonw *w, const char *key, int64_t v)
{
    jsonw_key(w, key);
    jsonw_int(w, v);
}
static inline void jsonw_kuint(struct jsonw *w, const char *key, uint64_t v)
{
    jsonw_key(w, key);
    jsonw_uint(w, v);
}
static inline void jsonw_kbool(struct jsonw *w, const char *key, int v)
{
    jsonw_key(w, key);
    jsonw_bool(w, v);
}
static inline void jsonw_knull(struct jsonw *w, const char *key)
{
    jsonw_key(w, key);
    jsonw_null(w);
}
/* v, or null when v == -1 (the model's "unknown"). */
static inline void jsonw_kint_opt(struct jsonw *w, const char *key, int64_t v)
{
    jsonw_key(w, key);
    if (v == -1)
        jsonw_null(w);
    else
        jsonw_int(w, v);
}
/* v, or null when v == 0 (the model's "id 0 = none"). */
static inline void jsonw_kid(struct jsonw *w, const char *key, uint64_t id)
{
    jsonw_key(w, key);
    if (id == 0)
        jsonw_null(w);
    else
        jsonw_uint(w, id);
}

/*
 * Runs of members with fixed keys and number, bool or null values, written
 * straight into the buffer: the exporters' hot path (a message object has
 * two dozen of them, a JSONL line a hundred). Inside an object that already
 * has a member:
 *     char *p = jsonw_run_begin(w, 1024);
 *     JW_UINT(p, "body_bytes", m->body_bytes);
 *     JW_BOOL(p, "complete", m->complete);
 *     jsonw_run_end(w, p);
 * The bytes written are exactly those of the jsonw_k* calls they stand
 * for. max bounds what the run writes (at most JSONW_RUN_MAX); names are
 * string literals, plain ASCII.
 */
#define JSONW_RUN_MAX 4096
char *jsonw_run_begin(struct jsonw *w, size_t max);
static inline void jsonw_run_end(struct jsonw *w, char *p)
{
    w->nbuf = (size_t)(p - w->buf);
}
/* Decimal v at p; returns the end. */
char *jsonw_put_u64(char *p, uint64_t v);
char *jsonw_put_i64(char *p, int64_t v);
#define JW_LIT_(p, s) (memcpy((p), s, sizeof(s) - 1), (p) += sizeof(s) - 1)
#define JW_KEY_(p, name) JW_LIT_(p, ",\"" name "\":")
#define JW_UINT(p, name, v)                                                                        \
    do {                                                                                           \
        JW_KEY_(p, name);                                                                          \
        (p) = jsonw_put_u64((p), (v));                                                             \
    } while (0)
#define JW_INT(p, name, v)                                                                         \
    do {                                                                                           \
        JW_KEY_(p, name);                                                                          \
        (p) = jsonw_put_i64((p), (v));                                                             \
    } while (0)
#define JW_NULL(p, name)                                                                           \
    do {                                                                                           \
        JW_KEY_(p, name);                                                                          \
        JW_LIT_(p, "null");                                                                        \
    } while (0)
#define JW_BOOL(p, name, v)                                                                        \
    do {                                                                                           \
        JW_KEY_(p, name);                                                                          \
        if (v)                                                                                     \
            JW_LIT_(p, "true");                                                                    \
        else                                                                                       \
            JW_LIT_(p, "false");                                                                   \
    } while (0)
/* as jsonw_kint_opt: null for -1 */
#define JW_INT_OPT(p, name, v)                                                                     \
    do {                                                                                           \
        int64_t v_ = (v);                                                                          \
        JW_KEY_(p, name);                                                                          \
        if (v_ == -1)                                                                              \
            JW_LIT_(p, "null");                                                                    \
        else                                                                                       \
            (p) = jsonw_put_i64((p), v_);                                                          \
    } while (0)
/* as jsonw_kid: null for 0 */
#define JW_ID(p, name, v)                                                                          \
    do {                                                                                           \
        uint64_t v_ = (v);                                                                         \
        JW_KEY_(p, name);                                                                          \
        if (!v_)                                                                                   \
            JW_LIT_(p, "null");                                                                    \
        else                                                                                       \
            (p) = jsonw_put_u64((p), v_);                                                          \
    } while (0)

/* Length of the longest valid UTF-8 sequence at s[0..n): 1-4, or 0 when the
 * byte at s does not start a valid sequence (overlong forms, surrogates and
 * code points past U+10FFFF are invalid). */
size_t jsonw_utf8_len(const uint8_t *s, size_t n);
/* 1 when all n bytes are valid UTF-8. */
int jsonw_utf8_valid(const void *s, size_t n);

#endif
