/* SPDX-License-Identifier: MIT */
/*
 * test_export.c - the JSON writer and the three exporters (JSON, JSONL, HAR).
 *
 * A small model is built by hand through the store API (two connections: one
 * with a handshake, a gzip'd response, a pipelined pair with a binary body and
 * an unanswered POST; one midstream IPv6 connection with a 100-continue and an
 * orphan response), exported to memory, and checked with a minimal validating
 * JSON parser written here (so validity is proven in C, not assumed) plus a
 * path look-up for exact values.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "htracr/export.h"
#include "htracr/export_api.h"
#include "htracr/export_metrics.h"
#include "htracr/jsonw.h"
#include "htracr/server.h"
#include "htracr/store.h"

/* ---- a minimal JSON validator and path look-up ---- */

static const char *jv_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int jv_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static const char *jv_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    p++;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL; /* raw control character */
        if (c == '\\') {
            if (p + 1 >= end)
                return NULL;
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                p += 2;
                break;
            case 'u':
                if (p + 6 > end || !jv_hex(p[2]) || !jv_hex(p[3]) || !jv_hex(p[4]) ||
                    !jv_hex(p[5]))
                    return NULL;
                p += 6;
                break;
            default:
                return NULL;
            }
            continue;
        }
        if (c >= 0x80) {
            size_t k = jsonw_utf8_len((const uint8_t *)p, (size_t)(end - p));
            if (k == 0)
                return NULL; /* output must be valid UTF-8 */
            p += k;
            continue;
        }
        p++;
    }
    return NULL;
}

static const char *jv_number(const char *p, const char *end)
{
    const char *s;
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        s = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == s)
            return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        s = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == s)
            return NULL;
    }
    return p;
}

/* Validate one value at p; returns the byte after it or NULL. */
static const char *jv_value(const char *p, const char *end, int depth)
{
    if (depth > 100)
        return NULL;
    p = jv_ws(p, end);
    if (p >= end)
        return NULL;
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = jv_ws(p + 1, end);
        if (p < end && *p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                p = jv_string(jv_ws(p, end), end);
                if (!p)
                    return NULL;
                p = jv_ws(p, end);
                if (p >= end || *p != ':')
                    return NULL;
                p++;
            }
            p = jv_value(p, end, depth + 1);
            if (!p)
                return NULL;
            p = jv_ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == close)
                return p + 1;
            return NULL;
        }
    }
    if (*p == '"')
        return jv_string(p, end);
    if (end - p >= 4 && memcmp(p, "true", 4) == 0)
        return p + 4;
    if (end - p >= 5 && memcmp(p, "false", 5) == 0)
        return p + 5;
    if (end - p >= 4 && memcmp(p, "null", 4) == 0)
        return p + 4;
    return jv_number(p, end);
}

/* The whole of s[0..n) is exactly one JSON value (whitespace around ok). */
static int json_valid(const char *s, size_t n)
{
    const char *end = s + n, *p = jv_value(s, end, 0);
    return p && jv_ws(p, end) == end;
}

/* Value at a dotted path ("log.entries.0.time"): object keys by name, array
 * elements by index. Works on valid, escape-free keys. NULL when absent. */
static const char *jv_get(const char *p, const char *path)
{
    const char *end = p + strlen(p);
    while (*path) {
        const char *dot = strchr(path, '.');
        size_t klen = dot ? (size_t)(dot - path) : strlen(path);
        p = jv_ws(p, end);
        if (*p == '{') {
            int found = 0;
            p = jv_ws(p + 1, end);
            while (*p == '"') {
                const char *k = p + 1, *ke = jv_string(p, end);
                if (!ke)
                    return NULL;
                p = jv_ws(ke, end) + 1; /* past ':' */
                if ((size_t)(ke - 1 - k) == klen && memcmp(k, path, klen) == 0) {
                    found = 1;
                    break;
                }
                p = jv_ws(jv_value(p, end, 0), end);
                if (*p == ',')
                    p = jv_ws(p + 1, end);
            }
            if (!found)
                return NULL;
        } else if (*p == '[') {
            long idx = strtol(path, NULL, 10);
            p = jv_ws(p + 1, end);
            if (*p == ']')
                return NULL;
            for (long i = 0; i < idx; i++) {
                p = jv_ws(jv_value(p, end, 0), end);
                if (*p != ',')
                    return NULL;
                p = jv_ws(p + 1, end);
            }
        } else {
            return NULL;
        }
        path += klen;
        if (*path == '.')
            path++;
    }
    return jv_ws(p, end);
}

/* The value at path is exactly the JSON text want. */
static int jv_is(const char *doc, const char *path, const char *want)
{
    const char *p = jv_get(doc, path), *e;
    if (!p)
        return 0;
    e = jv_value(p, p + strlen(p), 0);
    return e && (size_t)(e - p) == strlen(want) && memcmp(p, want, strlen(want)) == 0;
}

/* Members of the array or object at path; -1 when absent. */
static long jv_count(const char *doc, const char *path)
{
    const char *p = jv_get(doc, path), *end;
    long n = 0;
    if (!p || (*p != '[' && *p != '{'))
        return -1;
    end = p + strlen(p);
    p = jv_ws(p + 1, end);
    if (*p == ']' || *p == '}')
        return 0;
    for (;;) {
        if (*p == '"' && jv_get(doc, path)[0] == '{') {
            p = jv_ws(jv_string(p, end), end) + 1;
        }
        p = jv_ws(jv_value(p, end, 0), end);
        n++;
        if (*p != ',')
            return n;
        p = jv_ws(p + 1, end);
    }
}

#define CHECK_JV(doc, path, want)                                                                  \
    do {                                                                                           \
        if (!jv_is(doc, path, want)) {                                                             \
            const char *_g = jv_get(doc, path);                                                    \
            test_fail(__FILE__, __LINE__, "%s is %.60s, expected %s", path,                        \
                      _g ? _g : "(absent)", want);                                                 \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* ---- the validator itself must reject bad JSON, or the checks below prove nothing ---- */

TEST(export_validator_rejects)
{
    static const char *const good[] = {"{}", "[]", "{\"a\":[1,-2.5e3,true,false,null]}",
                                        "\"\\u00e9\\n\"", " 0 "};
    static const char *const bad[] = {"{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "\"\x01\"",
                                      "\"\\x\"", "01", "\"\xff\"", "[1] [2]", "tru", "{a:1}",
                                      "\"\xed\xa0\x80\""};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(json_valid(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!json_valid(bad[i], strlen(bad[i])));
    CHECK(jv_is("{\"a\":{\"b\":[5,6,{\"c\":\"x\"}]}}", "a.b.2.c", "\"x\""));
    CHECK(jv_is("{\"a\":{\"b\":[5,6,{\"c\":\"x\"}]}}", "a.b.1", "6"));
    CHECK(!jv_get("{\"a\":1}", "b"));
    CHECK_INT(jv_count("{\"a\":[1,[2,3],{\"x\":1,\"y\":2}]}", "a"), 3);
    CHECK_INT(jv_count("{\"a\":[1,[2,3],{\"x\":1,\"y\":2}]}", "a.2"), 2);
}

/* ---- jsonw ---- */

struct membuf {
    char *buf;
    size_t len;
    FILE *f;
};

static int membuf_open(struct membuf *m)
{
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    return m->f ? 0 : -errno;
}

/* Closes the stream; m->buf is then NUL-terminated with m->len bytes. */
static void membuf_close(struct membuf *m)
{
    if (m->f)
        fclose(m->f);
    m->f = NULL;
}

static char *jsonw_one_string(const void *s, size_t n)
{
    struct membuf m;
    struct jsonw w;
    if (membuf_open(&m) < 0)
        return NULL;
    jsonw_init(&w, m.f);
    jsonw_strn(&w, s, n);
    if (jsonw_finish(&w) != 0) {
        membuf_close(&m);
        free(m.buf);
        return NULL;
    }
    membuf_close(&m);
    return m.buf;
}

TEST(export_jsonw_escaping)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"plain", 5, "\"plain\""},
        {"q\"b\\s/", 6, "\"q\\\"b\\\\s/\""},
        {"\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\""},
        {"\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        /* valid multi-byte UTF-8 passes through: é € U+1F600 */
        {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""},
        /* invalid bytes become their Latin-1 code point */
        {"\xff\xe9t\xe9", 4, "\"\\u00ff\\u00e9t\\u00e9\""},
        /* overlong '/', surrogate, past U+10FFFF, truncated sequence */
        {"\xc0\xaf", 2, "\"\\u00c0\\u00af\""},
        {"\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\""},
        {"\xf4\x90\x80\x80", 4, "\"\\u00f4\\u0090\\u0080\\u0080\""},
        {"\xe2\x82", 2, "\"\\u00e2\\u0082\""},
        /* a valid sequence right after an invalid byte is kept */
        {"\x80\xc3\xa9", 3, "\"\\u0080\xc3\xa9\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = jsonw_one_string(cases[i].in, cases[i].n);
        CHECK(got);
        if (strcmp(got, cases[i].out) != 0) {
            test_fail(__FILE__, __LINE__, "case %zu: got %s, expected %s", i, got, cases[i].out);
            free(got);
            return;
        }
        CHECK(json_valid(got, strlen(got)));
        free(got);
    }
}

/* Integers are formatted by hand: every digit count, both signs, limits. */
TEST(export_jsonw_integers)
{
    static const int64_t vals[] = {0, 5, 9, 10, 42, 99, 100, 101, 999, 1000, 65535, 1234567,
                                   1700000000003000, INT64_MAX, -1, -10, -99, -100, INT64_MIN};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        struct membuf m;
        struct jsonw w;
        char want[32];
        CHECK(membuf_open(&m) == 0);
        jsonw_init(&w, m.f);
        jsonw_int(&w, vals[i]);
        CHECK_INT(jsonw_finish(&w), 0);
        membuf_close(&m);
        snprintf(want, sizeof(want), "%lld", (long long)vals[i]);
        int same = strcmp(m.buf, want) == 0;
        if (!same)
            test_fail(__FILE__, __LINE__, "jsonw_int(%lld) wrote %s", (long long)vals[i], m.buf);
        free(m.buf);
        if (!same)
            return;
    }
    struct membuf m;
    struct jsonw w;
    CHECK(membuf_open(&m) == 0);
    jsonw_init(&w, m.f);
    jsonw_uint(&w, UINT64_MAX);
    CHECK_INT(jsonw_finish(&w), 0);
    membuf_close(&m);
    CHECK_STR(m.buf, "18446744073709551615");
    free(m.buf);
    /* every digit count and the 8-digit halves' boundaries, against printf */
    uint64_t x = 1;
    for (int i = 0; i < 2000; i++) {
        uint64_t v = i < 64 ? (1ULL << i) - (i & 1) : x;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        if (i >= 64)
            v = x >> (i % 64);
        if (i % 7 == 0)
            v = v / 100000000 * 100000000; /* zeros in the low half */
        char want[32];
        snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
        CHECK(membuf_open(&m) == 0);
        jsonw_init(&w, m.f);
        jsonw_uint(&w, v);
        CHECK_INT(jsonw_finish(&w), 0);
        membuf_close(&m);
        int same = strcmp(m.buf, want) == 0;
        if (!same)
            test_fail(__FILE__, __LINE__, "jsonw_uint(%s) wrote %s", want, m.buf);
        free(m.buf);
        if (!same)
            return;
    }
}

TEST(export_jsonw_structure)
{
    struct membuf m;
    struct jsonw w;

    CHECK(membuf_open(&m) == 0);
    jsonw_init(&w, m.f);
    jsonw_obj_open(&w);
    jsonw_kint(&w, "a", -5);
    jsonw_kuint(&w, "b", UINT64_MAX);
    jsonw_key(&w, "c");
    jsonw_arr_open(&w);
    jsonw_null(&w);
    jsonw_bool(&w, 1);
    jsonw_bool(&w, 0);
    jsonw_arr_open(&w);
    jsonw_arr_close(&w);
    jsonw_obj_open(&w);
    jsonw_obj_close(&w);
    jsonw_str(&w, NULL);
    jsonw_arr_close(&w);
    jsonw_key(&w, "d");
    jsonw_milli(&w, 1500);
    jsonw_key(&w, "e");
    jsonw_milli(&w, -1);
    jsonw_key(&w, "f");
    jsonw_milli(&w, 7);
    jsonw_kint_opt(&w, "g", -1);
    jsonw_kint_opt(&w, "h", 0);
    jsonw_kid(&w, "i", 0);
    jsonw_kid(&w, "j", 9);
    jsonw_obj_close(&w);
    CHECK_INT(jsonw_finish(&w), 0);
    membuf_close(&m);
    CHECK_STR(m.buf, "{\"a\":-5,\"b\":18446744073709551615,\"c\":[null,true,false,[],{},null],"
                     "\"d\":1.500,\"e\":-0.001,\"f\":0.007,\"g\":null,\"h\":0,\"i\":null,"
                     "\"j\":9}");
    CHECK(json_valid(m.buf, m.len));
    free(m.buf);
}

TEST(export_jsonw_errors)
{
    struct membuf m;
    struct jsonw w;
    FILE *full;

    /* unbalanced: an object left open */
    CHECK(membuf_open(&m) == 0);
    jsonw_init(&w, m.f);
    jsonw_obj_open(&w);
    jsonw_key(&w, "a");
    CHECK_INT(jsonw_finish(&w), -EINVAL);
    membuf_close(&m);
    free(m.buf);

    /* a value key outside an object, a close with nothing open */
    CHECK(membuf_open(&m) == 0);
    jsonw_init(&w, m.f);
    jsonw_key(&w, "a");
    CHECK_INT(jsonw_finish(&w), -EINVAL);
    jsonw_init(&w, m.f);
    jsonw_arr_close(&w);
    CHECK_INT(jsonw_finish(&w), -EINVAL);
    membuf_close(&m);
    free(m.buf);

    /* a device that is always full: the error reaches the caller */
    full = fopen("/dev/full", "w");
    if (full) {
        jsonw_init(&w, full);
        jsonw_arr_open(&w);
        for (int i = 0; i < 10000; i++)
            jsonw_str(&w, "some text to fill the stdio buffer");
        jsonw_arr_close(&w);
        CHECK_INT(jsonw_finish(&w), -ENOSPC);
        fclose(full);
    }
}

TEST(export_jsonw_base64)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"\"\"", "\"Zg==\"", "\"Zm8=\"", "\"Zm9v\"",
                                      "\"Zm9vYg==\"", "\"Zm9vYmE=\"", "\"Zm9vYmFy\""};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        struct membuf m;
        struct jsonw w;
        CHECK(membuf_open(&m) == 0);
        jsonw_init(&w, m.f);
        jsonw_base64(&w, in[i], strlen(in[i]));
        CHECK_INT(jsonw_finish(&w), 0);
        membuf_close(&m);
        CHECK_STR(m.buf, out[i]);
        free(m.buf);
    }
    /* longer than the internal buffer: length and padding still right */
    {
        uint8_t big[3000];
        struct membuf m;
        struct jsonw w;
        for (size_t i = 0; i < sizeof(big); i++)
            big[i] = (uint8_t)i;
        CHECK(membuf_open(&m) == 0);
        jsonw_init(&w, m.f);
        jsonw_base64(&w, big, 1000); /* 1000 % 3 == 1: "==" */
        CHECK_INT(jsonw_finish(&w), 0);
        membuf_close(&m);
        CHECK_INT(m.len, 2 + (1000 + 2) / 3 * 4);
        CHECK(strcmp(m.buf + m.len - 3, "==\"") == 0);
        /* groups end on bytes 996..998 (e4 e5 e6) and 999 (e7) */
        CHECK(strcmp(m.buf + m.len - 9, "5OXm5w==\"") == 0);
        CHECK(strncmp(m.buf, "\"AAECAwQF", 9) == 0);
        free(m.buf);
    }
}

TEST(export_names)
{
    char buf[16];
    CHECK_STR(export_json_tcp_flags(TCPF_SYN, buf), "S");
    CHECK_STR(export_json_tcp_flags(TCPF_SYN | TCPF_ACK, buf), "S.");
    CHECK_STR(export_json_tcp_flags(TCPF_PSH | TCPF_ACK, buf), "P.");
    CHECK_STR(export_json_tcp_flags(TCPF_FIN | TCPF_PSH | TCPF_ACK, buf), "FP.");
    CHECK_STR(export_json_tcp_flags(TCPF_RST, buf), "R");
    CHECK_STR(export_json_tcp_flags(TCPF_SYN | TCPF_ECE | TCPF_CWR, buf), "SEW");
    CHECK_STR(export_json_tcp_flags(0, buf), "");
    CHECK_STR(export_json_analysis_name(PKT_RETRANS), "retransmission");
    CHECK_STR(export_json_analysis_name(PKT_ACKED_UNSEEN), "ack_lost_segment");
    CHECK_STR(export_json_analysis_name(PKT_DUP_ACK), "duplicate_ack");
    CHECK_STR(export_json_analysis_name(PKT_RESET), "reset");
    CHECK(export_json_analysis_name(1u << 20) == NULL);
    CHECK(export_json_analysis_name(PKT_RETRANS | PKT_DUP_ACK) == NULL);
    CHECK_STR(export_json_state_name(STATE_HANDSHAKE), "handshake");
    CHECK_STR(export_json_state_name(STATE_RWND_LIMITED), "rwnd_limited");
    CHECK_STR(export_json_state_name(200), "unknown");
}

/* ---- the model ---- */

#define T0 1700000000000000LL /* 2023-11-14T22:13:20Z */

static const char weird_value[] = "a\"b\\c\x01\xff\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
static const char weird_json[] = "\"a\\\"b\\\\c\\u0001\\u00ff\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"";
static const uint8_t png_body[] = {0x00, 0xff, 0x10, 0x80};

static int add_pkt(struct store *st, struct store_conn *c, int64_t ts, uint8_t dir,
                   uint16_t flags, uint32_t seq, uint32_t ack, uint32_t len, uint32_t msg_index,
                   uint32_t analysis)
{
    struct store_packet p = {.ts_us = ts, .seq = seq, .ack = ack, .len = len, .win = 65535,
                             .msg = msg_index, .flags = flags, .dir = dir, .analysis = analysis};
    int64_t i = store_conn_add_packet(st, c, &p);
    if (i < 0)
        return (int)i;
    c->stats.packets[dir]++;
    c->stats.bytes[dir] += len;
    return 0;
}

/* Headers from a NULL-terminated list of name, value, name, value... */
static int set_headers(struct store *st, struct store_conn *c, struct store_message *m,
                       const char *const *kv)
{
    uint32_t n = 0;
    while (kv[2 * n])
        n++;
    m->headers = store_alloc(st, c, n * sizeof(*m->headers) + 1);
    if (!m->headers)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        m->headers[i].name = store_strndup(st, c, kv[2 * i], strlen(kv[2 * i]));
        m->headers[i].value = store_strndup(st, c, kv[2 * i + 1], strlen(kv[2 * i + 1]));
        if (!m->headers[i].name || !m->headers[i].value)
            return -ENOMEM;
    }
    m->nheaders = n;
    return 0;
}

static struct store_message *new_msg(struct store *st, struct store_conn *c, enum msg_kind kind,
                                     int64_t start, int64_t end, uint32_t first, uint32_t last)
{
    struct store_message *m = store_message_new(st, c, kind);
    if (!m)
        return NULL;
    m->http_major = 1;
    m->http_minor = 1;
    m->complete = 1;
    m->start_us = start;
    m->end_us = end;
    m->first_packet = first;
    m->last_packet = last;
    m->packets = last - first + 1;
    return m;
}

static struct store_message *new_req(struct store *st, struct store_conn *c, const char *method,
                                     const char *url, int64_t start, int64_t end, uint32_t pkt)
{
    struct store_message *m = new_msg(st, c, MSG_REQUEST, start, end, pkt, pkt);
    if (!m)
        return NULL;
    m->method = store_strndup(st, c, method, strlen(method));
    m->url = store_strndup(st, c, url, strlen(url));
    m->header_bytes = 100;
    return m->method && m->url ? m : NULL;
}

static struct store_message *new_resp(struct store *st, struct store_conn *c,
                                      struct store_message *req, uint16_t status,
                                      const char *reason, int64_t start, int64_t end,
                                      uint32_t pkt)
{
    struct store_message *m = new_msg(st, c, MSG_RESPONSE, start, end, pkt, pkt);
    if (!m)
        return NULL;
    m->status = status;
    m->reason = store_strndup(st, c, reason, strlen(reason));
    m->header_bytes = 150;
    if (req) {
        m->request = req->id;
        if (status >= 200)
            req->response = m->id;
        else
            m->interim = 1;
        if (req->end_us > 0)
            m->ttfb_us = start - req->end_us;
    }
    return m->reason ? m : NULL;
}

/* Connection 1 (IPv4, handshake seen): GET + gzip'd 200 (ids 1, 2), a
 * pipelined pair GET /a.css, GET /b.js (3, 4) answered by 5 and 6 (6 has a
 * binary body), and a POST with no response (7).
 * Connection 2 (IPv6, midstream, port 8080, no Host): POST /upload (8), a
 * 100 Continue (9), 201 Created (10), and a response with no request (11). */
static struct store *build_model(void)
{
    struct store_opts o = {0};
    struct store *st = store_new(&o);
    struct store_conn *c;
    struct ip_addr cli = {.family = 4, .a = {192, 0, 2, 10}};
    struct ip_addr srv = {.family = 4, .a = {198, 51, 100, 1}};
    struct ip_addr cli6 = {.family = 6, .a = {0x20, 0x01, 0x0d, 0xb8, [15] = 2}};
    struct ip_addr srv6 = {.family = 6, .a = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}};
    struct store_message *m1, *m2, *m3, *m4, *m5, *m6, *m7, *m8, *m10, *m11;
    static const char gz_body[] = "<html>hello, world</html>";
    static const char *const h1[] = {"Host", "example.com", "Cookie", "sid=abc; theme=dark",
                                     "X-Weird", weird_value, NULL};
    static const char *const h2[] = {"Content-Type", "text/html", "Content-Encoding", "gzip",
                                     "Set-Cookie", "sid=abc; Path=/; HttpOnly", NULL};
    static const char *const hhost[] = {"Host", "example.com", NULL};
    static const char *const h6[] = {"Content-Type", "image/png", "Location", "/next", NULL};
    static const char *const hform[] = {"Host", "example.com", "Content-Type",
                                        "application/x-www-form-urlencoded", NULL};

    if (!st)
        return NULL;
    store_set_source(st, "test.pcap");
    store_note_packet(st, T0, 66);
    store_note_packet(st, T0 + 200000, 66);

    c = store_conn_new(st, &cli, 50000, &srv, 80, T0);
    if (!c)
        goto fail;
    c->syn_us = T0;
    c->synack_us = T0 + 1000;
    c->hs_ack_us = T0 + 2000;
    c->handshake_rtt_us = 2000;
    c->close = CLOSE_FIN;
    /* 9 samples timed on the client's data averaging 1050 µs, 5 on the
     * server's averaging 910: 1000 over all 14 */
    c->stats.rtt_min_us[DIR_C2S] = 950;
    c->stats.rtt_max_us[DIR_C2S] = 1200;
    c->stats.rtt_sum_us[DIR_C2S] = 9 * 1050;
    c->stats.rtt_samples[DIR_C2S] = 9;
    c->stats.rtt_min_us[DIR_S2C] = 900;
    c->stats.rtt_max_us[DIR_S2C] = 920;
    c->stats.rtt_sum_us[DIR_S2C] = 5 * 910;
    c->stats.rtt_samples[DIR_S2C] = 5;
    c->stats.retransmits[DIR_S2C] = 1;
    if (add_pkt(st, c, T0, DIR_C2S, TCPF_SYN, 0, 0, 0, 0, 0) ||
        add_pkt(st, c, T0 + 1000, DIR_S2C, TCPF_SYN | TCPF_ACK, 0, 1, 0, 0, 0) ||
        add_pkt(st, c, T0 + 2000, DIR_C2S, TCPF_ACK, 1, 1, 0, 0, 0) ||
        add_pkt(st, c, T0 + 3000, DIR_C2S, TCPF_PSH | TCPF_ACK, 1, 1, 120, 1, 0) ||
        add_pkt(st, c, T0 + 13000, DIR_S2C, TCPF_ACK, 1, 121, 0, 0, 0) ||
        add_pkt(st, c, T0 + 20000, DIR_S2C, TCPF_PSH | TCPF_ACK, 1, 121, 180, 2,
                PKT_RETRANS | PKT_DUP_ACK) ||
        add_pkt(st, c, T0 + 30000, DIR_C2S, TCPF_PSH | TCPF_ACK, 121, 181, 200, 3, 0) ||
        add_pkt(st, c, T0 + 40000, DIR_S2C, TCPF_PSH | TCPF_ACK, 181, 321, 400, 5, 0) ||
        add_pkt(st, c, T0 + 50000, DIR_C2S, TCPF_PSH | TCPF_ACK, 321, 581, 103, 7, 0) ||
        add_pkt(st, c, T0 + 60000, DIR_C2S, TCPF_FIN | TCPF_ACK, 424, 581, 0, 0, 0))
        goto fail;
    if (store_conn_state(st, c, STATE_HANDSHAKE, T0) ||
        store_conn_state(st, c, STATE_ACTIVE, T0 + 2000) ||
        store_conn_state(st, c, STATE_CLOSED, T0 + 60000) ||
        store_conn_event(st, c, PKT_RETRANS, DIR_S2C, 5, T0 + 20000) ||
        store_conn_point(st, c, SERIES_RTT_C2S, T0 + 13000, 10000) ||
        store_conn_point(st, c, SERIES_FLIGHT_S2C, T0 + 20000, 180))
        goto fail;

    m1 = new_req(st, c, "GET", "/index.html?a=1&b=x%20y&flag", T0 + 3000, T0 + 3500, 3);
    if (!m1 || set_headers(st, c, m1, h1))
        goto fail;
    m2 = new_resp(st, c, m1, 200, "OK", T0 + 20000, T0 + 25000, 5);
    if (!m2 || set_headers(st, c, m2, h2))
        goto fail;
    m2->ctype_hdr = 1; /* positions in h2, from 1 */
    m2->cenc_hdr = 2;
    m2->body_bytes = 10; /* compressed on the wire */
    m2->body = store_memdup(st, c, gz_body, strlen(gz_body));
    m2->body_len = (uint32_t)strlen(gz_body);
    m2->round_trips = 2;
    m2->stall_us = 15500;

    m3 = new_req(st, c, "GET", "/a.css", T0 + 30000, T0 + 30000, 6);
    m4 = new_req(st, c, "GET", "/b.js", T0 + 30000, T0 + 30000, 6);
    if (!m3 || !m4 || set_headers(st, c, m3, hhost) || set_headers(st, c, m4, hhost))
        goto fail;
    m4->pipelined = 1;
    m5 = new_resp(st, c, m3, 200, "OK", T0 + 40000, T0 + 40000, 7);
    m6 = new_resp(st, c, m4, 200, "OK", T0 + 40000, T0 + 41000, 7);
    if (!m5 || !m6 || set_headers(st, c, m6, h6))
        goto fail;
    m6->ctype_hdr = 1;
    m6->body_bytes = sizeof(png_body);
    m6->body = store_memdup(st, c, png_body, sizeof(png_body));
    m6->body_len = sizeof(png_body);

    m7 = new_req(st, c, "POST", "/submit", T0 + 50000, T0 + 50000, 8);
    if (!m7 || set_headers(st, c, m7, hform))
        goto fail;
    m7->complete = 1;
    m7->body_bytes = 3;
    m7->body = store_memdup(st, c, "x=1", 3);
    m7->body_len = 3;
    m7->ctype_hdr = 2;
    store_server_name(st, c, "example.com", 11);
    store_conn_finish(st, c);

    c = store_conn_new(st, &cli6, 40000, &srv6, 8080, T0 + 100000);
    if (!c)
        goto fail;
    c->midstream = 1;
    /* Packets name their message by 1 + its index in the connection: here
     * messages 8, 9 and 10, this connection's first three. */
    if (add_pkt(st, c, T0 + 100000, DIR_C2S, TCPF_PSH | TCPF_ACK, 1000, 2000, 300, 1, 0) ||
        add_pkt(st, c, T0 + 101000, DIR_S2C, TCPF_PSH | TCPF_ACK, 2000, 1300, 25, 2, 0) ||
        add_pkt(st, c, T0 + 110000, DIR_S2C, TCPF_PSH | TCPF_ACK, 2025, 1300, 80, 3, 0) ||
        add_pkt(st, c, T0 + 120000, DIR_S2C, TCPF_RST, 2105, 0, 0, 0, PKT_RESET))
        goto fail;
    c->close = CLOSE_RST;
    m8 = new_req(st, c, "POST", "/upload", T0 + 100000, T0 + 105000, 0);
    if (!m8 || !new_resp(st, c, m8, 100, "Continue", T0 + 101000, T0 + 101000, 1))
        goto fail;
    m10 = new_resp(st, c, m8, 201, "Created", T0 + 110000, T0 + 110000, 2);
    m11 = new_resp(st, c, NULL, 200, "OK", T0 + 115000, T0 + 116000, 2);
    if (!m10 || !m11)
        goto fail;
    m11->error = "response without a request";
    store_conn_finish(st, c);
    return st;
fail:
    store_free(st);
    return NULL;
}

static char *export_to_mem(int (*fn)(struct store *, FILE *), struct store *st, size_t *len,
                           int *rc)
{
    struct membuf m;
    if (membuf_open(&m) < 0)
        return NULL;
    *rc = fn(st, m.f);
    membuf_close(&m);
    *len = m.len;
    return m.buf;
}

TEST(export_json_model)
{
    struct store *st = build_model();
    size_t len = 0;
    int rc = -1;
    char *doc;

    CHECK(st);
    doc = export_to_mem(export_json, st, &len, &rc);
    store_free(st);
    CHECK(doc);
    if (rc != 0 || !json_valid(doc, len)) {
        test_fail(__FILE__, __LINE__, "rc %d, invalid JSON: %.200s", rc, doc);
        free(doc);
        return;
    }
    CHECK(len > 0 && doc[len - 1] == '\n');
    CHECK_JV(doc, "version", "1");
    CHECK_JV(doc, "source", "\"test.pcap\"");
    CHECK_JV(doc, "start_us", "1700000000000000");
    CHECK_JV(doc, "end_us", "1700000000200000");
    CHECK_JV(doc, "stats.packets", "2");
    CHECK_JV(doc, "stats.connections", "2");
    CHECK_JV(doc, "stats.requests", "5");
    CHECK_JV(doc, "stats.responses", "6");
    CHECK_JV(doc, "stats.alloc_failures", "0");

    CHECK_INT(jv_count(doc, "servers"), 2);
    CHECK_JV(doc, "servers.0.addr", "\"198.51.100.1\"");
    CHECK_JV(doc, "servers.0.name", "\"example.com\"");
    CHECK_JV(doc, "servers.0.connections", "[1]");
    CHECK_JV(doc, "servers.1.addr", "\"2001:db8::1\"");
    CHECK_JV(doc, "servers.1.port", "8080");
    CHECK_JV(doc, "servers.1.name", "null");
    CHECK_JV(doc, "servers.1.connections", "[2]");

    CHECK_INT(jv_count(doc, "connections"), 2);
    CHECK_JV(doc, "connections.0.client_addr", "\"192.0.2.10\"");
    CHECK_JV(doc, "connections.0.client_port", "50000");
    CHECK_JV(doc, "connections.0.handshake_rtt_us", "2000");
    CHECK_JV(doc, "connections.0.close", "\"fin\"");
    CHECK_JV(doc, "connections.0.midstream", "false");
    CHECK_JV(doc, "connections.0.states.1.state", "\"active\"");
    CHECK_JV(doc, "connections.0.states.1.start_us", "1700000000002000");
    CHECK_JV(doc, "connections.0.states.1.end_us", "1700000000060000");
    CHECK_JV(doc, "connections.0.events.0",
             "{\"type\":\"retransmission\",\"dir\":\"s2c\",\"packet\":5,"
             "\"ts_us\":1700000000020000}");
    CHECK_JV(doc, "connections.0.stats.packets_c2s", "6");
    CHECK_JV(doc, "connections.0.stats.bytes_s2c", "580");
    CHECK_JV(doc, "connections.0.stats.retransmits_s2c", "1");
    CHECK_JV(doc, "connections.0.stats.rtt_max_us", "1200");
    CHECK_JV(doc, "connections.0.stats.rtt_c2s_min_us", "950");
    CHECK_JV(doc, "connections.0.stats.rtt_c2s_avg_us", "1050");
    CHECK_JV(doc, "connections.0.stats.rtt_c2s_max_us", "1200");
    CHECK_JV(doc, "connections.0.stats.rtt_s2c_min_us", "900");
    CHECK_JV(doc, "connections.0.stats.rtt_s2c_avg_us", "910");
    CHECK_JV(doc, "connections.0.stats.rtt_s2c_max_us", "920");
    CHECK_INT(jv_count(doc, "connections.0.packets"), 10);
    CHECK_JV(doc, "connections.0.packets.0",
             "{\"ts_us\":1700000000000000,\"dir\":\"c2s\",\"flags\":\"S\",\"seq\":0,"
             "\"ack\":null,\"len\":0,\"win\":65535,\"msg\":null}");
    CHECK_JV(doc, "connections.0.packets.1.flags", "\"S.\"");
    CHECK_JV(doc, "connections.0.packets.1.ack", "1");
    CHECK_JV(doc, "connections.0.packets.5.analysis", "[\"retransmission\",\"duplicate_ack\"]");
    CHECK_JV(doc, "connections.0.packets.9.flags", "\"F.\"");
    CHECK(!jv_get(doc, "connections.0.packets.4.analysis"));
    CHECK_JV(doc, "connections.0.series.rtt", "[[1700000000013000,10000]]");
    CHECK_JV(doc, "connections.0.series.rtt_c2s", "[[1700000000013000,10000]]");
    CHECK_JV(doc, "connections.0.series.rtt_s2c", "[]");
    CHECK_JV(doc, "connections.0.series.flight_c2s", "[]");
    CHECK_JV(doc, "connections.0.series.flight_s2c", "[[1700000000020000,180]]");

    CHECK_INT(jv_count(doc, "connections.0.messages"), 7);
    CHECK_JV(doc, "connections.0.messages.0.id", "1");
    CHECK_JV(doc, "connections.0.messages.0.kind", "\"request\"");
    CHECK(strstr(doc, "\"method\":\"GET\""));
    CHECK_JV(doc, "connections.0.messages.0.url", "\"/index.html?a=1&b=x%20y&flag\"");
    CHECK_JV(doc, "connections.0.messages.0.version", "\"1.1\"");
    CHECK_JV(doc, "connections.0.messages.0.status", "null");
    CHECK_JV(doc, "connections.0.messages.0.reason", "null");
    CHECK_JV(doc, "connections.0.messages.0.response", "2");
    CHECK_JV(doc, "connections.0.messages.0.request", "null");
    CHECK_JV(doc, "connections.0.messages.0.headers.0", "[\"Host\",\"example.com\"]");
    CHECK_JV(doc, "connections.0.messages.0.headers.2.1", weird_json);
    CHECK_JV(doc, "connections.0.messages.0.ttfb_us", "null");
    CHECK_JV(doc, "connections.0.messages.1.kind", "\"response\"");
    CHECK_JV(doc, "connections.0.messages.1.method", "null");
    CHECK_JV(doc, "connections.0.messages.1.status", "200");
    CHECK_JV(doc, "connections.0.messages.1.reason", "\"OK\"");
    CHECK_JV(doc, "connections.0.messages.1.request", "1");
    CHECK_JV(doc, "connections.0.messages.1.content_encoding", "\"gzip\"");
    CHECK_JV(doc, "connections.0.messages.1.body_bytes", "10");
    CHECK_JV(doc, "connections.0.messages.1.body_kept", "25");
    CHECK_JV(doc, "connections.0.messages.1.ttfb_us", "16500");
    CHECK_JV(doc, "connections.0.messages.1.stall_us", "15500");
    CHECK_JV(doc, "connections.0.messages.1.round_trips", "2");
    CHECK_JV(doc, "connections.0.messages.1.complete", "true");
    CHECK_JV(doc, "connections.0.messages.3.pipelined", "true");
    CHECK_JV(doc, "connections.0.messages.2.pipelined", "false");
    CHECK_JV(doc, "connections.0.messages.6.response", "null");
    /* no body bytes in the model document */
    CHECK(!strstr(doc, "hello, world"));

    CHECK_JV(doc, "connections.1.server_addr", "\"2001:db8::1\"");
    CHECK_JV(doc, "connections.1.handshake_rtt_us", "null");
    CHECK_JV(doc, "connections.1.close", "\"rst\"");
    CHECK_JV(doc, "connections.1.midstream", "true");
    CHECK_JV(doc, "connections.1.stats.rtt_min_us", "null");
    CHECK_JV(doc, "connections.1.stats.rtt_c2s_min_us", "null");
    CHECK_JV(doc, "connections.1.stats.rtt_c2s_avg_us", "null");
    CHECK_JV(doc, "connections.1.stats.rtt_c2s_max_us", "null");
    CHECK_JV(doc, "connections.1.stats.rtt_s2c_min_us", "null");
    CHECK_JV(doc, "connections.1.stats.rtt_s2c_avg_us", "null");
    CHECK_JV(doc, "connections.1.stats.rtt_s2c_max_us", "null");
    CHECK_JV(doc, "connections.1.series.rtt", "[]");
    CHECK_JV(doc, "connections.1.packets.3.flags", "\"R\"");
    CHECK_JV(doc, "connections.1.packets.3.analysis", "[\"reset\"]");
    CHECK_JV(doc, "connections.1.messages.1.interim", "true");
    CHECK_JV(doc, "connections.1.messages.3.request", "null");
    CHECK_JV(doc, "connections.1.messages.3.error", "\"response without a request\"");
    free(doc);
}

TEST(export_jsonl_lines)
{
    struct store *st = build_model();
    struct membuf m;
    char *lines[8];
    int n = 0;

    CHECK(st);
    CHECK(membuf_open(&m) == 0);
    for (struct store_conn *c = store_first(st); c; c = store_next(c))
        CHECK_INT(export_jsonl_conn(st, c, m.f), 0);
    store_free(st);
    membuf_close(&m);

    /* split into lines; each must be one valid JSON object */
    for (char *p = m.buf, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl || n == 8) {
            test_fail(__FILE__, __LINE__, "unterminated or extra line: %.80s", p);
            free(m.buf);
            return;
        }
        *nl = '\0';
        if (!json_valid(p, strlen(p)) || p[0] != '{') {
            test_fail(__FILE__, __LINE__, "line %d invalid: %.200s", n, p);
            free(m.buf);
            return;
        }
        lines[n++] = p;
    }
    CHECK_INT(n, 6);

    /* GET /index.html with its gzip'd 200 */
    CHECK_JV(lines[0], "connection", "1");
    CHECK_JV(lines[0], "host", "\"example.com\"");
    CHECK_JV(lines[0], "method", "\"GET\"");
    CHECK_JV(lines[0], "status", "200");
    CHECK_JV(lines[0], "reason", "\"OK\"");
    CHECK_JV(lines[0], "version", "\"1.1\"");
    CHECK_JV(lines[0], "start_us", "1700000000003000");
    CHECK_JV(lines[0], "end_us", "1700000000025000");
    CHECK_JV(lines[0], "request.id", "1");
    CHECK_JV(lines[0], "response.id", "2");
    CHECK_JV(lines[0], "interim", "[]");
    CHECK_JV(lines[0], "timings", "{\"send_us\":500,\"wait_us\":16500,\"receive_us\":5000,"
                                  "\"total_us\":22000,\"ttfb_us\":16500}");
    CHECK_JV(lines[0], "tcp.handshake_rtt_us", "2000");
    /* the transaction's own share: packets 3 (request) to 5 (response),
     * the one RTT sample taken in [start, end) */
    CHECK_JV(lines[0], "tcp.rtt_avg_us", "10000");
    CHECK_JV(lines[0], "tcp.rtt_min_us", "10000");
    CHECK_JV(lines[0], "tcp.packets_c2s", "1");
    CHECK_JV(lines[0], "tcp.packets_s2c", "2");
    CHECK_JV(lines[0], "tcp.retransmits_s2c", "1");
    CHECK_JV(lines[0], "tcp.connection_start_us", "1700000000000000");
    CHECK_JV(lines[0], "tcp.reused", "false");
    /* the pipelined pair, in request order */
    CHECK_JV(lines[1], "url", "\"/a.css\"");
    CHECK_JV(lines[1], "response.id", "5");
    CHECK_JV(lines[1], "tcp.reused", "true");
    CHECK_JV(lines[1], "tcp.rtt_avg_us", "null");
    CHECK_JV(lines[1], "tcp.retransmits_s2c", "0");
    CHECK_JV(lines[2], "url", "\"/b.js\"");
    CHECK_JV(lines[2], "request.pipelined", "true");
    CHECK_JV(lines[2], "response.id", "6");
    /* the POST nobody answered */
    CHECK_JV(lines[3], "method", "\"POST\"");
    CHECK_JV(lines[3], "response", "null");
    CHECK_JV(lines[3], "status", "null");
    CHECK_JV(lines[3], "end_us", "1700000000050000");
    CHECK_JV(lines[3], "timings.wait_us", "null");
    CHECK_JV(lines[3], "timings.send_us", "0");
    /* connection 2: the upload with its 100 Continue, then the orphan */
    CHECK_JV(lines[4], "connection", "2");
    CHECK_JV(lines[4], "server_addr", "\"2001:db8::1\"");
    CHECK_JV(lines[4], "host", "null");
    CHECK_JV(lines[4], "status", "201");
    CHECK_JV(lines[4], "interim", "[100]");
    CHECK_JV(lines[4], "tcp.handshake_rtt_us", "null");
    CHECK_JV(lines[4], "tcp.reused", "false");
    CHECK_JV(lines[5], "request", "null");
    CHECK_JV(lines[5], "method", "null");
    CHECK_JV(lines[5], "status", "200");
    CHECK_JV(lines[5], "start_us", "1700000000115000");
    CHECK_JV(lines[5], "timings.send_us", "null");
    CHECK_JV(lines[5], "timings.receive_us", "1000");
    CHECK_JV(lines[5], "tcp.reused", "true");
    free(m.buf);
}

TEST(export_har_log)
{
    struct store *st = build_model();
    size_t len = 0;
    int rc = -1;
    char *doc;

    CHECK(st);
    doc = export_to_mem(export_har, st, &len, &rc);
    store_free(st);
    CHECK(doc);
    if (rc != 0 || !json_valid(doc, len)) {
        test_fail(__FILE__, __LINE__, "rc %d, invalid JSON: %.200s", rc, doc);
        free(doc);
        return;
    }
    CHECK_JV(doc, "log.version", "\"1.2\"");
    CHECK_JV(doc, "log.creator.name", "\"htracr\"");
    CHECK(jv_get(doc, "log.creator.version") && jv_get(doc, "log.creator.version")[0] == '"');
    CHECK_JV(doc, "log.pages", "[]");
    CHECK_INT(jv_count(doc, "log.entries"), 5); /* every request; the orphan response has none */

    /* first request of a connection with a captured handshake */
    CHECK_JV(doc, "log.entries.0.startedDateTime", "\"2023-11-14T22:13:20.000Z\"");
    CHECK_JV(doc, "log.entries.0.timings",
             "{\"blocked\":1.000,\"dns\":-1,\"connect\":2.000,\"ssl\":-1,\"send\":0.500,"
             "\"wait\":16.500,\"receive\":5.000}");
    CHECK_JV(doc, "log.entries.0.time", "25.000");
    CHECK_JV(doc, "log.entries.0.request.method", "\"GET\"");
    CHECK_JV(doc, "log.entries.0.request.url",
             "\"http://example.com/index.html?a=1&b=x%20y&flag\"");
    CHECK_JV(doc, "log.entries.0.request.httpVersion", "\"HTTP/1.1\"");
    CHECK_JV(doc, "log.entries.0.request.queryString",
             "[{\"name\":\"a\",\"value\":\"1\"},{\"name\":\"b\",\"value\":\"x%20y\"},"
             "{\"name\":\"flag\",\"value\":\"\"}]");
    CHECK_JV(doc, "log.entries.0.request.cookies",
             "[{\"name\":\"sid\",\"value\":\"abc\"},{\"name\":\"theme\",\"value\":\"dark\"}]");
    CHECK_JV(doc, "log.entries.0.request.headers.0", "{\"name\":\"Host\",\"value\":\"example.com\"}");
    CHECK_JV(doc, "log.entries.0.request.headers.2.value", weird_json);
    CHECK_JV(doc, "log.entries.0.request.headersSize", "100");
    CHECK(!jv_get(doc, "log.entries.0.request.postData"));
    CHECK_JV(doc, "log.entries.0.response.status", "200");
    CHECK_JV(doc, "log.entries.0.response.statusText", "\"OK\"");
    CHECK_JV(doc, "log.entries.0.response.cookies", "[{\"name\":\"sid\",\"value\":\"abc\"}]");
    CHECK_JV(doc, "log.entries.0.response.content",
             "{\"size\":25,\"compression\":15,\"mimeType\":\"text/html\","
             "\"text\":\"<html>hello, world</html>\"}");
    CHECK_JV(doc, "log.entries.0.response.redirectURL", "\"\"");
    CHECK_JV(doc, "log.entries.0.response.bodySize", "10");
    CHECK_JV(doc, "log.entries.0.response.headersSize", "150");
    CHECK_JV(doc, "log.entries.0.cache", "{}");
    CHECK_JV(doc, "log.entries.0.serverIPAddress", "\"198.51.100.1\"");
    CHECK_JV(doc, "log.entries.0.connection", "\"1\"");
    CHECK_JV(doc, "log.entries.0._tcp",
             "{\"handshake_rtt_ms\":2.000,\"rtt_min_ms\":0.900,\"rtt_avg_ms\":1.000,"
             "\"retransmits_c2s\":0,\"retransmits_s2c\":1,\"packets_c2s\":6,\"packets_s2c\":4}");

    /* reused connection: no connect, starts at the request */
    CHECK_JV(doc, "log.entries.1.request.url", "\"http://example.com/a.css\"");
    CHECK_JV(doc, "log.entries.1.startedDateTime", "\"2023-11-14T22:13:20.030Z\"");
    CHECK_JV(doc, "log.entries.1.timings.connect", "-1");
    CHECK_JV(doc, "log.entries.1.timings.blocked", "-1");
    CHECK_JV(doc, "log.entries.1.timings.wait", "10.000");
    CHECK_JV(doc, "log.entries.1.time", "10.000");
    CHECK_JV(doc, "log.entries.1.request.queryString", "[]");
    /* binary body: base64 */
    CHECK_JV(doc, "log.entries.2.request.url", "\"http://example.com/b.js\"");
    CHECK_JV(doc, "log.entries.2.response.content",
             "{\"size\":4,\"mimeType\":\"image/png\",\"text\":\"AP8QgA==\","
             "\"encoding\":\"base64\"}");
    CHECK_JV(doc, "log.entries.2.response.redirectURL", "\"/next\"");
    /* unanswered POST: a request body, a placeholder response */
    CHECK_JV(doc, "log.entries.3.request.postData",
             "{\"mimeType\":\"application/x-www-form-urlencoded\",\"text\":\"x=1\"}");
    CHECK_JV(doc, "log.entries.3.response.status", "0");
    CHECK_JV(doc, "log.entries.3.response.bodySize", "-1");
    CHECK_JV(doc, "log.entries.3.comment", "\"no response captured\"");
    /* IPv6 midstream connection without Host: the address makes the URL */
    CHECK_JV(doc, "log.entries.4.request.url", "\"http://[2001:db8::1]:8080/upload\"");
    CHECK_JV(doc, "log.entries.4.serverIPAddress", "\"2001:db8::1\"");
    CHECK_JV(doc, "log.entries.4.connection", "\"2\"");
    CHECK_JV(doc, "log.entries.4.response.status", "201");
    CHECK_JV(doc, "log.entries.4.timings.connect", "-1");
    CHECK_JV(doc, "log.entries.4.timings.send", "5.000");
    CHECK_JV(doc, "log.entries.4.timings.wait", "5.000");
    CHECK_JV(doc, "log.entries.4.timings.receive", "0.000");
    CHECK_JV(doc, "log.entries.4._tcp.handshake_rtt_ms", "null");
    free(doc);
}

/* A new store with one IPv4 connection to port 80 begun at T0, in *st;
 * NULL (the store freed) when either could not be made. */
static struct store_conn *one_conn(struct store **st)
{
    struct ip_addr cli = {.family = 4, .a = {192, 0, 2, 10}};
    struct ip_addr srv = {.family = 4, .a = {198, 51, 100, 1}};
    struct store_conn *c;
    *st = store_new(&(struct store_opts){0});
    c = *st ? store_conn_new(*st, &cli, 50000, &srv, 80, T0) : NULL;
    if (!c) {
        store_free(*st);
        *st = NULL;
    }
    return c;
}

/* The whole /api/model of st written with opts: a valid JSON document (to
 * free), or NULL. */
static char *api_model_doc(struct store *st, unsigned opts)
{
    struct membuf m;
    if (membuf_open(&m) < 0)
        return NULL;
    int r = export_api_model(st, 0, 0, 0, opts, m.f, NULL, NULL);
    membuf_close(&m);
    if (r < 0 || !m.buf || !json_valid(m.buf, m.len)) {
        free(m.buf);
        return NULL;
    }
    return m.buf;
}

/* Both directions' RTT samples: --json merges them into "rtt" in time
 * order, each point once, even where a series went backwards (s2c here);
 * the API's model leaves the merge out; a JSONL line takes min and mean
 * over both, the sorted series by binary search, the other by a scan. */
TEST(export_rtt_directions)
{
    struct store *st;
    struct store_conn *c = one_conn(&st);
    CHECK(c != NULL);
    if (!c)
        return;
    static const int64_t pts[][3] = {
        {SERIES_RTT_C2S, 5000, 8000},  {SERIES_RTT_C2S, 12000, 9000},
        {SERIES_RTT_C2S, 30000, 7000}, {SERIES_RTT_S2C, 12000, 3},
        {SERIES_RTT_S2C, 15000, 5},    {SERIES_RTT_S2C, 25000, 6},
        {SERIES_RTT_S2C, 11000, 4},
    };
    for (size_t i = 0; i < sizeof(pts) / sizeof(pts[0]); i++)
        CHECK_INT(store_conn_point(st, c, (int)pts[i][0], T0 + pts[i][1], pts[i][2]), 0);
    CHECK_INT(add_pkt(st, c, T0 + 1000, DIR_C2S, TCPF_PSH | TCPF_ACK, 1, 1, 100, 1, 0), 0);
    CHECK_INT(add_pkt(st, c, T0 + 10000, DIR_S2C, TCPF_PSH | TCPF_ACK, 1, 101, 100, 2, 0), 0);
    struct store_message *q = new_req(st, c, "GET", "/", T0 + 1000, T0 + 2000, 0);
    CHECK(q && new_resp(st, c, q, 200, "OK", T0 + 10000, T0 + 20000, 1));
    store_conn_finish(st, c);

    size_t len = 0;
    int rc = -1;
    char *doc = export_to_mem(export_json, st, &len, &rc);
    CHECK(doc && rc == 0 && json_valid(doc, len));
    CHECK_JV(doc, "connections.0.series.rtt",
             "[[1700000000005000,8000],[1700000000012000,9000],[1700000000012000,3],"
             "[1700000000015000,5],[1700000000025000,6],[1700000000011000,4],"
             "[1700000000030000,7000]]");
    CHECK_JV(doc, "connections.0.series.rtt_c2s",
             "[[1700000000005000,8000],[1700000000012000,9000],[1700000000030000,7000]]");
    CHECK_JV(doc, "connections.0.series.rtt_s2c",
             "[[1700000000012000,3],[1700000000015000,5],[1700000000025000,6],"
             "[1700000000011000,4]]");
    free(doc);

    struct membuf m;
    m.buf = api_model_doc(st, 0u);
    CHECK(m.buf != NULL);
    CHECK(jv_get(m.buf, "connections.0.series.rtt") == NULL);
    CHECK_JV(m.buf, "connections.0.series.rtt_s2c",
             "[[1700000000012000,3],[1700000000015000,5],[1700000000025000,6],"
             "[1700000000011000,4]]");
    CHECK_JV(m.buf, "connections.0.series.flight_c2s", "[]");
    free(m.buf);

    CHECK(membuf_open(&m) == 0);
    CHECK_INT(export_jsonl_conn(st, c, m.f), 0);
    membuf_close(&m);
    store_free(st);
    CHECK(m.buf && json_valid(m.buf, m.len));
    /* [1000, 20000): 8000 and 9000 timed on the client's data, 3, 5, 4 on
     * the server's; 6 and 7000 are past the line's end (the 4 after the 6
     * is found only by a scan: that series is not in time order) */
    CHECK_JV(m.buf, "tcp.rtt_min_us", "3");
    CHECK_JV(m.buf, "tcp.rtt_avg_us", "3402");
    free(m.buf);
}

/* The API's message rows (rows=1): the members of message_fields in
 * order, and headers 1 exactly when a message has the header lines of the
 * message of its kind before it, whether it shares their array (a block
 * repeated, http.c) or has its own copy of the same lines. */
TEST(export_api_message_rows)
{
    struct store *st;
    struct store_conn *c = one_conn(&st);
    CHECK(c != NULL);
    if (!c)
        return;
    static const char *const hq[] = {"Host", "a.test", "Accept", "*/*", NULL};
    static const char *const hq2[] = {"Host", "a.test", "Accept", "text/html", NULL};
    static const char *const hs[] = {"Server", "n", "Content-Type", "text/html", NULL};
    static const char *const hs2[] = {"Server", "n", NULL};
    struct store_message *q[4], *r[4];
    for (int i = 0; i < 4; i++) {
        int64_t t = T0 + 1000 * i;
        q[i] = new_req(st, c, "GET", "/x", t, t + 100, 0);
        r[i] = q[i] ? new_resp(st, c, q[i], 200, "OK", t + 500, t + 600, 0) : NULL;
        CHECK(q[i] && r[i]);
        if (!q[i] || !r[i]) {
            store_free(st);
            return;
        }
    }
    CHECK_INT(set_headers(st, c, q[0], hq), 0);
    CHECK_INT(set_headers(st, c, r[0], hs), 0);
    q[1]->headers = q[0]->headers; /* the array shared */
    q[1]->nheaders = q[0]->nheaders;
    CHECK_INT(set_headers(st, c, r[1], hs), 0); /* a copy of the same lines */
    r[1]->ctype_hdr = 2;
    CHECK_INT(set_headers(st, c, q[2], hq2), 0); /* one value differs */
    CHECK_INT(set_headers(st, c, r[2], hs2), 0); /* fewer lines */
    /* q[3] and r[3]: none, as the ones before them have none or differ */
    r[3]->pipelined = 1;
    r[3]->ttfb_us = -1;
    store_conn_finish(st, c);

    char *doc = api_model_doc(st, EXPORT_API_ROWS);
    CHECK(doc != NULL);
    CHECK_JV(doc, "message_fields.0", "\"id\"");
    CHECK_JV(doc, "message_fields.9", "\"headers\"");
    CHECK_JV(doc, "message_fields.33", "\"body_decode_error\"");
    CHECK(jv_get(doc, "message_fields.34") == NULL);
    /* the first request and response: whole */
    CHECK_JV(doc, "connections.0.messages.0",
             "[1,0,1700000000000000,1700000000000100,\"GET\",\"/x\",\"1.1\",null,null,"
             "[[\"Host\",\"a.test\"],[\"Accept\",\"*/*\"]],0,100,0,0,0,null,null,null,2,"
             "0,0,0,0,1,0,0,1,null,null,null,null,0,0,0]");
    CHECK_JV(doc, "connections.0.messages.1.9",
             "[[\"Server\",\"n\"],[\"Content-Type\",\"text/html\"]]");
    CHECK_JV(doc, "connections.0.messages.1.1", "1");
    CHECK_JV(doc, "connections.0.messages.1.17", "1");
    CHECK_JV(doc, "connections.0.messages.1.28", "400");
    /* shared array, then a copy of the same lines: 1 */
    CHECK_JV(doc, "connections.0.messages.2.9", "1");
    CHECK_JV(doc, "connections.0.messages.3.9", "1");
    CHECK_JV(doc, "connections.0.messages.3.15", "\"text/html\"");
    /* a value differs, a line fewer: whole */
    CHECK_JV(doc, "connections.0.messages.4.9",
             "[[\"Host\",\"a.test\"],[\"Accept\",\"text/html\"]]");
    CHECK_JV(doc, "connections.0.messages.5.9", "[[\"Server\",\"n\"]]");
    /* no lines: an empty list, never 1 */
    CHECK_JV(doc, "connections.0.messages.6.9", "[]");
    CHECK_JV(doc, "connections.0.messages.7.9", "[]");
    CHECK_JV(doc, "connections.0.messages.7.19", "1");
    CHECK_JV(doc, "connections.0.messages.7.28", "null");
    free(doc);

    /* without rows: objects, and no message_fields */
    doc = api_model_doc(st, 0u);
    CHECK(doc != NULL);
    CHECK(jv_get(doc, "message_fields") == NULL);
    CHECK_JV(doc, "connections.0.messages.2.kind", "\"request\"");
    CHECK_JV(doc, "connections.0.messages.2.headers",
             "[[\"Host\",\"a.test\"],[\"Accept\",\"*/*\"]]");
    free(doc);
    store_free(st);
}

TEST(export_empty_store)
{
    struct store_opts o = {0};
    struct store *st = store_new(&o);
    size_t len = 0;
    int rc = -1;
    char *doc;

    CHECK(st);
    doc = export_to_mem(export_json, st, &len, &rc);
    CHECK(doc && rc == 0 && json_valid(doc, len));
    CHECK_JV(doc, "start_us", "null");
    CHECK_JV(doc, "end_us", "null");
    CHECK_JV(doc, "stats.packets", "0");
    CHECK_JV(doc, "servers", "[]");
    CHECK_JV(doc, "connections", "[]");
    free(doc);
    doc = export_to_mem(export_har, st, &len, &rc);
    store_free(st);
    CHECK(doc && rc == 0 && json_valid(doc, len));
    CHECK_JV(doc, "log.entries", "[]");
    free(doc);
}

TEST(export_write_error)
{
    struct store *st = build_model();
    FILE *full = fopen("/dev/full", "w");

    CHECK(st);
    if (full) {
        CHECK(export_json(st, full) < 0);
        CHECK(export_har(st, full) < 0);
        /* JSONL leaves the flush to its caller: the error shows by then */
        CHECK(export_jsonl_conn(st, store_first(st), full) < 0 || fflush(full) != 0);
        fclose(full);
    }
    store_free(st);
}

TEST(export_incomplete_response_is_not_passed_off_as_whole)
{
    /* A response the capture ended inside of: the summary says so, and the
     * HAR's content is partial (comment, no plain text of the part). */
    struct store *st = build_model();
    size_t len = 0;
    int rc = -1;
    CHECK(st);
    struct store_conn *c = store_first(st);
    struct store_message *resp = NULL;
    for (uint32_t i = 0; i < c->nmessages && !resp; i++)
        if (c->messages[i]->kind == MSG_RESPONSE && c->messages[i]->body_bytes > 0)
            resp = c->messages[i];
    CHECK(resp);
    resp->complete = 0;
    char *sum = export_to_mem(export_summary, st, &len, &rc);
    CHECK(sum && rc == 0);
    CHECK(strstr(sum, " B (incomplete)") != NULL);
    free(sum);
    char *har = export_to_mem(export_har, st, &len, &rc);
    CHECK(har && rc == 0);
    CHECK(strstr(har, "\"comment\":\"incomplete: not all of the body had come when this was "
                      "written") != NULL);
    free(har);
    store_free(st);
}

TEST(export_summary_text)
{
    struct store *st = build_model();
    size_t len = 0;
    int rc = -1;
    char *doc;
    static const char want[] =
        "connection 1  192.0.2.10:50000 -> 198.51.100.1:80  10 packets  closed  handshake 2.00 "
        "ms  1 retransmit  1500 B not captured\n"
        "  GET /index.html?a=1&b=x%20y&flag  -> 200 OK  10 B  ttfb 16.5 ms\n"
        "  GET /a.css  -> 200 OK  0 B  ttfb 10.0 ms\n"
        "  GET /b.js  -> 200 OK  4 B  ttfb 10.0 ms\n"
        "  POST /submit  -> no response\n"
        "connection 2  [2001:db8::2]:40000 -> [2001:db8::1]:8080  4 packets  reset  mid-stream  "
        "3 retransmits\n"
        "  POST /upload  -> 100 Continue  -> 201 Created  0 B  ttfb 5.00 ms\n"
        "  (no request) -> 200 OK  [response without a request]\n";

    CHECK(st);
    /* the summary's own facts, which the JSON tests do not need */
    store_first(st)->stats.gap_bytes[DIR_C2S] = 1000;
    store_first(st)->stats.gap_bytes[DIR_S2C] = 500;
    store_next(store_first(st))->stats.retransmits[DIR_C2S] = 3;
    doc = export_to_mem(export_summary, st, &len, &rc);
    CHECK(doc && rc == 0);
    CHECK_INT(len, sizeof(want) - 1);
    CHECK_STR(doc, want);
    free(doc);
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        CHECK(export_summary(st, full) < 0);
        fclose(full);
    }
    store_free(st);
}

/* A pipeline deeper than any look-ahead: 40 requests sent before any
 * answer, the 30th answered by a 103 first. Each request's 1xx answers
 * show before its final response, wherever they are on the connection. */
TEST(export_summary_1xx_deep_in_a_pipeline)
{
    struct store *st = store_new(&(struct store_opts){0});
    struct ip_addr cli = {.family = 4, .a = {10, 0, 0, 1}};
    struct ip_addr srv = {.family = 4, .a = {10, 0, 0, 2}};
    struct store_conn *c = st ? store_conn_new(st, &cli, 1000, &srv, 80, T0) : NULL;
    struct store_message *q[40];
    CHECK(c != NULL);
    if (!c) {
        store_free(st);
        return;
    }
    for (int i = 0; i < 40; i++) {
        char url[16];
        snprintf(url, sizeof(url), "/%d", i);
        q[i] = new_req(st, c, "GET", url, T0 + i, T0 + i, 0);
        CHECK(q[i] != NULL);
    }
    for (int i = 0; i < 40; i++) {
        if (i == 29)
            CHECK(new_resp(st, c, q[i], 103, "Early Hints", T0 + 1000 + 2 * i, T0 + 1000 + 2 * i,
                           0) != NULL);
        CHECK(new_resp(st, c, q[i], 200, "OK", T0 + 1001 + 2 * i, T0 + 1001 + 2 * i, 0) != NULL);
    }
    size_t len = 0;
    int rc = -1;
    char *doc = export_to_mem(export_summary, st, &len, &rc);
    CHECK(doc && rc == 0);
    CHECK(doc && strstr(doc, "  GET /29  -> 103 Early Hints  -> 200 OK  0 B") != NULL);
    CHECK(doc && strstr(doc, "  GET /28  -> 200 OK") != NULL);
    CHECK(doc && strstr(doc, "  GET /30  -> 200 OK") != NULL);
    free(doc);
    store_free(st);
}

/* The summary goes to a terminal: wire bytes that are not printable ASCII
 * come out as \xHH, a backslash doubled. Times are ms as ping gives them,
 * rounded half up. */
TEST(export_summary_escapes_wire_bytes)
{
    struct store_opts o = {0};
    struct store *st = store_new(&o);
    struct ip_addr cli = {.family = 4, .a = {192, 0, 2, 10}};
    struct ip_addr srv = {.family = 4, .a = {198, 51, 100, 1}};
    static const int64_t ttfb[] = {38, 1244, 1245, 9996, 99950, 250400};
    size_t len = 0;
    int rc = -1;
    char *doc;

    CHECK(st);
    struct store_conn *c = store_conn_new(st, &cli, 50000, &srv, 80, T0);
    CHECK(c);
    for (int i = 0; i < 6; i++) {
        struct store_message *q = new_req(st, c, i ? "GET" : "G\x1bT",
                                          "/a\x1b]0;title\x07\\b\xc3\xa9\x7f", T0, T0, 0);
        CHECK(q);
        struct store_message *r =
            new_resp(st, c, q, 200, i ? "OK" : "O\x1b[2JK\r", T0 + ttfb[i], T0 + ttfb[i], 0);
        CHECK(r);
    }
    doc = export_to_mem(export_summary, st, &len, &rc);
    CHECK(doc && rc == 0);
#define URL_ESC "/a\\x1b]0;title\\x07\\\\b\\xc3\\xa9\\x7f"
    CHECK_STR(doc, "connection 1  192.0.2.10:50000 -> 198.51.100.1:80  0 packets  open\n"
                   "  G\\x1bT " URL_ESC "  -> 200 O\\x1b[2JK\\x0d  0 B  ttfb 0.038 ms\n"
                   "  GET " URL_ESC "  -> 200 OK  0 B  ttfb 1.24 ms\n"
                   "  GET " URL_ESC "  -> 200 OK  0 B  ttfb 1.25 ms\n"
                   "  GET " URL_ESC "  -> 200 OK  0 B  ttfb 10.0 ms\n"
                   "  GET " URL_ESC "  -> 200 OK  0 B  ttfb 100 ms\n"
                   "  GET " URL_ESC "  -> 200 OK  0 B  ttfb 250 ms\n");
#undef URL_ESC
    for (size_t i = 0; doc && i < len; i++)
        CHECK(doc[i] == '\n' || (doc[i] >= 0x20 && doc[i] < 0x7f));
    free(doc);
    /* one packet is a packet */
    CHECK_INT(add_pkt(st, c, T0, DIR_C2S, TCPF_SYN, 1, 0, 0, 0, 0), 0);
    doc = export_to_mem(export_summary, st, &len, &rc);
    static const char one[] = "connection 1  192.0.2.10:50000 -> 198.51.100.1:80  1 packet  open\n";
    CHECK(doc && rc == 0 && !strncmp(doc, one, sizeof(one) - 1));
    free(doc);
    store_free(st);
}

/* Bodies and targets the main model does not cover; and a discarded
 * connection, which must not be listed under its server. */
static struct store *build_edge_model(void)
{
    struct store_opts o = {0};
    struct store *st = store_new(&o);
    struct ip_addr cli = {.family = 4, .a = {10, 0, 0, 1}};
    struct ip_addr srv = {.family = 4, .a = {10, 0, 0, 2}};
    static const char *const hbr[] = {"Content-Encoding", "br", NULL};
    static const char *const hlatin[] = {"Content-Type", "text/plain; charset=iso-8859-1", NULL};
    static const char *const hgzip[] = {"Content-Encoding", "gzip", NULL};
    static const char *const hhost[] = {"Host", "example.com", NULL};
    static const uint8_t br[] = {0x8b, 0x01, 0x80};
    struct store_conn *c;
    struct store_message *q, *r;

    if (!st)
        return NULL;
    c = store_conn_new(st, &cli, 1111, &srv, 80, T0);
    if (!c)
        goto fail;
    store_conn_discard(st, c);
    c = store_conn_new(st, &cli, 1112, &srv, 80, T0);
    if (!c)
        goto fail;
    c->syn_us = T0; /* handshake start seen, but not its end: no connect time */

    /* absolute-form target; a br body (kept as it came) */
    q = new_req(st, c, "GET", "http://proxy.example/x?q=1", T0 + 10, T0 + 20, 0);
    r = new_resp(st, c, q, 200, "OK", T0 + 30, T0 + 40, 0);
    if (!q || !r)
        goto fail;
    if (set_headers(st, c, r, hbr))
        goto fail;
    r->cenc_hdr = 1;
    r->body_bytes = sizeof(br);
    r->body = store_memdup(st, c, br, sizeof(br));
    r->body_len = sizeof(br);
    /* a Latin-1 page: not UTF-8, so base64 */
    q = new_req(st, c, "GET", "/latin", T0 + 50, T0 + 60, 0);
    r = new_resp(st, c, q, 200, "OK", T0 + 70, T0 + 80, 0);
    if (!q || !r || set_headers(st, c, q, hhost))
        goto fail;
    if (set_headers(st, c, r, hlatin))
        goto fail;
    r->ctype_hdr = 1;
    r->body_bytes = 4;
    r->body = store_memdup(st, c, "caf\xe9", 4);
    r->body_len = 4;
    /* past the body limit: what was kept, as base64, with a comment */
    q = new_req(st, c, "GET", "/big", T0 + 90, T0 + 100, 0);
    r = new_resp(st, c, q, 200, "OK", T0 + 110, T0 + 5000, 0);
    if (!q || !r || set_headers(st, c, q, hhost))
        goto fail;
    r->body_bytes = 100000;
    r->body = store_memdup(st, c, "hello", 5);
    r->body_len = 5;
    r->body_truncated = 1;
    /* gzip that failed to decode: no decoded size claimed */
    q = new_req(st, c, "GET", "/bad.gz", T0 + 5100, T0 + 5100, 0);
    r = new_resp(st, c, q, 200, "OK", T0 + 5200, T0 + 5300, 0);
    if (!q || !r || set_headers(st, c, q, hhost))
        goto fail;
    if (set_headers(st, c, r, hgzip))
        goto fail;
    r->cenc_hdr = 1;
    r->body_bytes = 50;
    r->body_decode_error = 1;
    /* asterisk-form and authority-form targets */
    q = new_req(st, c, "OPTIONS", "*", T0 + 6000, T0 + 6000, 0);
    if (!q || set_headers(st, c, q, hhost))
        goto fail;
    q = new_req(st, c, "CONNECT", "example.com:443", T0 + 7000, T0 + 7000, 0);
    if (!q || set_headers(st, c, q, hhost))
        goto fail;
    /* two final responses naming one request: the second is not its answer */
    q = new_req(st, c, "GET", "/dup", T0 + 8000, T0 + 8000, 0);
    if (!q || !new_resp(st, c, q, 200, "OK", T0 + 8100, T0 + 8100, 0))
        goto fail;
    r = new_resp(st, c, NULL, 500, "Oops", T0 + 8200, T0 + 8200, 0);
    if (!r)
        goto fail;
    r->request = q->id;
    /* raw bytes in a target (UTF-8, DEL, a control byte) */
    q = new_req(st, c, "GET", "/caf\xc3\xa9/x\x7f?q=\xe2\x82\xac&k\x01=v", T0 + 9000, T0 + 9000, 0);
    if (!q || set_headers(st, c, q, hhost))
        goto fail;
    return st;
fail:
    store_free(st);
    return NULL;
}

TEST(export_har_edge_cases)
{
    struct store *st = build_edge_model();
    size_t len = 0;
    int rc = -1;
    char *doc, *model;

    CHECK(st);
    model = export_to_mem(export_json, st, &len, &rc);
    CHECK(model && rc == 0 && json_valid(model, len));
    CHECK_JV(model, "stats.connections", "1");
    CHECK_JV(model, "servers.0.connections", "[2]");
    CHECK_INT(jv_count(model, "connections"), 1);
    free(model);

    doc = export_to_mem(export_har, st, &len, &rc);
    store_free(st);
    CHECK(doc);
    if (rc != 0 || !json_valid(doc, len)) {
        test_fail(__FILE__, __LINE__, "rc %d, invalid JSON: %.200s", rc, doc);
        free(doc);
        return;
    }
    CHECK_INT(jv_count(doc, "log.entries"), 8);
    /* a URL holds printable ASCII: the target's other bytes percent-encoded */
    CHECK_JV(doc, "log.entries.7.request.url", "\"http://example.com/caf%C3%A9/x%7F?q=%E2%82%AC&k%01=v\"");
    CHECK_JV(doc, "log.entries.7.request.queryString",
             "[{\"name\":\"q\",\"value\":\"%E2%82%AC\"},{\"name\":\"k%01\",\"value\":\"v\"}]");
    CHECK_JV(doc, "log.entries.0.request.url", "\"http://proxy.example/x?q=1\"");
    CHECK_JV(doc, "log.entries.0.request.queryString", "[{\"name\":\"q\",\"value\":\"1\"}]");
    CHECK_JV(doc, "log.entries.0.timings.connect", "-1");
    CHECK_JV(doc, "log.entries.0.startedDateTime", "\"2023-11-14T22:13:20.000Z\"");
    CHECK_JV(doc, "log.entries.0.response.content",
             "{\"size\":3,\"mimeType\":\"\",\"text\":\"iwGA\",\"encoding\":\"base64\"}");
    CHECK_JV(doc, "log.entries.1.response.content.text", "\"Y2Fm6Q==\"");
    CHECK_JV(doc, "log.entries.1.response.content.encoding", "\"base64\"");
    CHECK_JV(doc, "log.entries.2.response.content.size", "100000");
    CHECK_JV(doc, "log.entries.2.response.content.text", "\"aGVsbG8=\"");
    CHECK(jv_get(doc, "log.entries.2.response.content.comment"));
    CHECK_JV(doc, "log.entries.2.timings.receive", "4.890");
    CHECK_JV(doc, "log.entries.3.response.content.size", "50");
    CHECK(!jv_get(doc, "log.entries.3.response.content.compression"));
    CHECK(!jv_get(doc, "log.entries.3.response.content.text"));
    CHECK_JV(doc, "log.entries.4.request.url", "\"http://example.com/*\"");
    CHECK_JV(doc, "log.entries.5.request.url", "\"http://example.com:443\"");
    CHECK_JV(doc, "log.entries.6.response.status", "200");
    free(doc);
}

TEST(export_jsonl_unmatched_response)
{
    struct store *st = build_edge_model();
    struct membuf m;
    char *last;
    int n = 0;

    CHECK(st);
    CHECK(membuf_open(&m) == 0);
    CHECK_INT(export_jsonl_conn(st, store_first(st), m.f), 0);
    store_free(st);
    membuf_close(&m);
    for (char *p = m.buf; *p; p++)
        n += *p == '\n';
    CHECK_INT(n, 9); /* 8 requests + the 500 that answered none of them */
    CHECK(m.len > 1 && m.buf[m.len - 1] == '\n');
    /* the 500's line: the one before the last request's */
    m.buf[m.len - 1] = '\0';
    *strrchr(m.buf, '\n') = '\0';
    last = strrchr(m.buf, '\n') + 1;
    CHECK(json_valid(last, strlen(last)));
    CHECK_JV(last, "status", "500");
    CHECK_JV(last, "request", "null");
    CHECK_JV(last, "response.request", "11");
    free(m.buf);
}

/* jsonw_strn of n bytes into a malloc'd string (without the quotes). */
static char *json_string_of(const uint8_t *s, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct jsonw w;
    jsonw_init(&w, f);
    jsonw_arr_open(&w);
    jsonw_strn(&w, s, n);
    jsonw_arr_close(&w);
    jsonw_finish(&w);
    fclose(f);
    /* ["..."] -> ... */
    memmove(buf, buf + 2, len - 4);
    buf[len - 4] = '\0';
    return buf;
}

TEST(jsonw_word_scan_escapes_like_byte_scan)
{
    /* Every byte value at every position of a 40-byte run (five words of
     * the 8-byte scan, or a word scan that stops and the byte loop): the
     * writer must escape exactly what a byte-at-a-time writer escapes,
     * i.e. the concatenation of each byte written alone (a byte of 0x80
     * and above alone among ASCII is not UTF-8: escaped either way). */
    static const char as[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    int bad = 0;
    for (int c = 0; c < 0x100 && !bad; c++)
        for (size_t pos = 0; pos < 40 && !bad; pos++) {
            uint8_t s[40];
            memset(s, 'a', sizeof(s));
            s[pos] = (uint8_t)c;
            char *whole = json_string_of(s, sizeof(s));
            char *one = json_string_of(&s[pos], 1);
            char want[256];
            snprintf(want, sizeof(want), "%.*s%s%.*s", (int)pos, as, one, (int)(39 - pos), as);
            if (strcmp(whole, want) != 0)
                bad = 1;
            CHECK_STR(whole, want);
            free(whole);
            free(one);
        }
    /* The same for every length up to 23: the copy that checks as it goes
     * ends a string with a byte loop (under 8 bytes) or with its last 8
     * bytes overlapping the word before them. */
    for (size_t len = 1; len < 24 && !bad; len++)
        for (int c = 0; c < 0x100 && !bad; c++)
            for (size_t pos = 0; pos < len && !bad; pos++) {
                uint8_t s[24];
                memset(s, 'a', sizeof(s));
                s[pos] = (uint8_t)c;
                char *whole = json_string_of(s, len);
                char *one = json_string_of(&s[pos], 1);
                char want[256];
                snprintf(want, sizeof(want), "%.*s%s%.*s", (int)pos, as, one,
                         (int)(len - 1 - pos), as);
                if (strcmp(whole, want) != 0)
                    bad = 1;
                CHECK_STR(whole, want);
                free(whole);
                free(one);
            }
    /* UTF-8 inside a long ASCII run passes through; a stray byte does not. */
    const char *utf = "header value with caf\xc3\xa9 in it, long enough";
    char *out = json_string_of((const uint8_t *)utf, strlen(utf));
    CHECK_STR(out, utf);
    free(out);
    const char *stray = "0123456789\xff" "0123456789";
    out = json_string_of((const uint8_t *)stray, strlen(stray));
    CHECK(strstr(out, "\\u00ff") != NULL);
    free(out);
}

/* One object written with the jsonw_k* calls and once with a JW_* run. */
static char *obj_with(int runs, int64_t i, uint64_t u, int b, uint32_t id)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct jsonw w;
    jsonw_init(&w, f);
    jsonw_obj_open(&w);
    jsonw_kuint(&w, "first", 1);
    if (runs) {
        char *p = jsonw_run_begin(&w, 512);
        JW_INT(p, "i", i);
        JW_UINT(p, "u", u);
        JW_BOOL(p, "b", b);
        JW_NULL(p, "n");
        JW_INT_OPT(p, "opt", i);
        JW_ID(p, "id", id);
        jsonw_run_end(&w, p);
    } else {
        jsonw_kint(&w, "i", i);
        jsonw_kuint(&w, "u", u);
        jsonw_kbool(&w, "b", b);
        jsonw_knull(&w, "n");
        jsonw_kint_opt(&w, "opt", i);
        jsonw_kid(&w, "id", id);
    }
    jsonw_kstr(&w, "last", "x");
    jsonw_obj_close(&w);
    int r = jsonw_finish(&w);
    fclose(f);
    if (r < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

TEST(jsonw_runs_write_what_the_calls_write)
{
    const int64_t is[] = {0, -1, 1, -2, 42, INT64_MIN, INT64_MAX, 1795697588957131LL};
    const uint64_t us[] = {0, 1, 99, 100, UINT64_MAX, 100000000ULL, 9999999999999999ULL};
    for (size_t a = 0; a < sizeof(is) / sizeof(is[0]); a++)
        for (size_t b = 0; b < sizeof(us) / sizeof(us[0]); b++) {
            char *x = obj_with(0, is[a], us[b], (int)(a & 1), (uint32_t)b);
            char *y = obj_with(1, is[a], us[b], (int)(a & 1), (uint32_t)b);
            CHECK(x && y);
            if (x && y)
                CHECK_STR(y, x);
            free(x);
            free(y);
        }
    /* A run must follow a member of an open object: otherwise an error. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct jsonw w;
    jsonw_init(&w, f);
    jsonw_obj_open(&w);
    char *p = jsonw_run_begin(&w, 64);
    JW_UINT(p, "a", 1);
    jsonw_run_end(&w, p);
    jsonw_obj_close(&w);
    CHECK(jsonw_finish(&w) < 0);
    fclose(f);
    free(buf);
}

/*
 * The web page's model written with the lock let go between connections:
 * a fake yield stands in for the capture thread and changes the store the
 * way it can meanwhile.
 */
struct yield_rig {
    struct store *st;
    int calls;
    int action; /* 0 add a connection, 1 evict (tight budget), 2 clear, 3 discard the pinned */
};

static struct store_conn *api_conn(struct store *st, uint16_t port, int packets)
{
    struct ip_addr cli = {.family = 4, .a = {192, 0, 2, 10}};
    struct ip_addr srv = {.family = 4, .a = {198, 51, 100, 1}};
    struct store_conn *c = store_conn_new(st, &cli, port, &srv, 80, T0 + port);
    for (int i = 0; c && i < packets; i++)
        if (add_pkt(st, c, T0 + port + i, DIR_C2S, TCPF_ACK, 1, 1, 0, 0, 0) < 0)
            return NULL;
    return c;
}

static int fake_yield(void *ctx)
{
    struct yield_rig *y = ctx;
    y->calls++;
    if (y->calls > 1)
        return 1;
    switch (y->action) {
    case 0:
        api_conn(y->st, 60000, 3);
        break;
    case 1: /* every finished connection but the pinned one can go */
        for (struct store_conn *c = store_first(y->st); c; c = store_next(c))
            store_conn_finish(y->st, c);
        api_conn(y->st, 60001, EXPORT_API_YIELD_WORK / 2);
        break;
    case 2:
        store_clear(y->st);
        break;
    case 3:
        store_conn_discard(y->st, (struct store_conn *)store_pinned(y->st));
        break;
    }
    return 1;
}

static int api_model_with(struct yield_rig *y, size_t max_memory, char **doc)
{
    struct store_opts o = {.max_memory = max_memory};
    struct membuf m;
    int rc;

    y->st = store_new(&o);
    y->calls = 0;
    *doc = NULL;
    /* four connections, the first two big enough to yield after each */
    if (!y->st || !api_conn(y->st, 50001, EXPORT_API_YIELD_WORK) ||
        !api_conn(y->st, 50002, EXPORT_API_YIELD_WORK) || !api_conn(y->st, 50003, 2) ||
        !api_conn(y->st, 50004, 2) || membuf_open(&m) != 0)
        return -100;
    rc = export_api_model(y->st, 0, 0, 0, 0u, m.f, fake_yield, y);
    membuf_close(&m);
    *doc = m.buf;
    return rc;
}

TEST(export_api_model_lets_the_lock_go)
{
    struct yield_rig y = {.action = 0};
    char *doc = NULL;

    /* a connection made meanwhile is in the document, its id listed */
    CHECK_INT(api_model_with(&y, 0, &doc), 0);
    CHECK_INT(y.calls, 2);
    CHECK(doc && json_valid(doc, strlen(doc)));
    CHECK_INT(jv_count(doc, "connections"), 5);
    CHECK_JV(doc, "connection_ids", "[1,2,3,4,5]");
    CHECK_JV(doc, "stats.connections", "5");
    CHECK_JV(doc, "seq", "40008"); /* when writing began: 4 connections + 40004 packets made */
    free(doc);
    store_free(y.st);

    /* eviction meanwhile: the four take 2.1 MB of a 2.5 MiB budget, the new
     * one needs 0.52 MB more; the oldest finished connection goes, but for
     * the pinned one (1): the second. The ids and stats say what is left at
     * the end, which the page keeps. */
    y.action = 1;
    CHECK_INT(api_model_with(&y, 5u << 19, &doc), 0);
    CHECK(doc && json_valid(doc, strlen(doc)));
    CHECK_JV(doc, "connections.0.id", "1");
    CHECK_JV(doc, "connection_ids", "[1,3,4,5]");
    CHECK_JV(doc, "stats.evicted_connections", "1");
    free(doc);
    store_free(y.st);

    /* cleared, or the pinned connection discarded: start again */
    y.action = 2;
    CHECK_INT(api_model_with(&y, 0, &doc), -EAGAIN);
    free(doc);
    store_free(y.st);
    y.action = 3;
    CHECK_INT(api_model_with(&y, 0, &doc), -EAGAIN);
    free(doc);
    store_free(y.st);
}

static int grow_second(void *ctx)
{
    struct yield_rig *y = ctx;
    struct store_conn *c = store_next(store_first(y->st));
    y->calls++;
    for (int i = 0; i < 5; i++)
        if (add_pkt(y->st, c, T0 + 50000 + i, DIR_C2S, TCPF_ACK, 1, 1, 0, 0, 0) < 0)
            return 0;
    return 1;
}

/* The page's fetches with tails, where the write lets the capture in after
 * a big connection and the next one grows meanwhile: it is written with
 * what came, so its change is after the reply's seq. The next fetch (since
 * that seq) is given a tail of it when it names the reply; without the
 * reply's number only the whole connection is right (it had no older
 * mark). bench/live's uifeed: about a fifth of an update's bytes at 48,000
 * requests/s were such connections sent whole. */
TEST(export_api_tails_after_the_yield)
{
    struct yield_rig y = {0};
    struct membuf m;
    unsigned opts = EXPORT_API_TAILS | EXPORT_API_ROWS | EXPORT_API_REL;

    y.st = store_new(&(struct store_opts){0});
    CHECK(y.st != NULL);
    if (!y.st)
        return;
    CHECK(api_conn(y.st, 50001, EXPORT_API_YIELD_WORK) != NULL);
    struct store_conn *c = api_conn(y.st, 50002, 2 * STORE_MARK_MIN);
    CHECK(c != NULL);
    CHECK(membuf_open(&m) == 0);
    CHECK_INT(export_api_model(y.st, 0, 0, 0, opts, m.f, grow_second, &y), 0);
    membuf_close(&m);
    CHECK_INT(y.calls, 1);
    uint64_t gen = store_generation(y.st), reply = store_reply_last(y.st);
    CHECK(m.buf && json_valid(m.buf, strlen(m.buf)));
    char want[64];
    snprintf(want, sizeof(want), "%llu", (unsigned long long)reply);
    CHECK_JV(m.buf, "reply", want);
    CHECK_JV(m.buf, "connections.1.id", "2");
    CHECK_INT(jv_count(m.buf, "connections.1.packets"), 2 * STORE_MARK_MIN + 5);
    const char *seq = jv_get(m.buf, "seq");
    CHECK(seq != NULL);
    uint64_t since = seq ? strtoull(seq, NULL, 10) : 0;
    CHECK(since > 0 && c->mod_seq > since);
    free(m.buf);

    /* two more packets: the next fetch, as the page makes it */
    for (int i = 0; i < 2; i++)
        CHECK(add_pkt(y.st, c, T0 + 60000 + i, DIR_C2S, TCPF_ACK, 1, 1, 0, 0, 0) >= 0);
    CHECK(membuf_open(&m) == 0);
    CHECK_INT(export_api_model(y.st, gen, since, reply, opts, m.f, NULL, NULL), 0);
    membuf_close(&m);
    CHECK_INT(jv_count(m.buf, "connections"), 1);
    snprintf(want, sizeof(want), "%d", 2 * STORE_MARK_MIN + 5);
    CHECK_JV(m.buf, "connections.0.tail.packets", want);
    CHECK_INT(jv_count(m.buf, "connections.0.packets"), 2);
    free(m.buf);

    /* the same fetch without the reply's number: whole */
    CHECK(membuf_open(&m) == 0);
    CHECK_INT(export_api_model(y.st, gen, since, 0, opts, m.f, NULL, NULL), 0);
    membuf_close(&m);
    CHECK_INT(jv_count(m.buf, "connections"), 1);
    CHECK(jv_get(m.buf, "connections.0.tail") == NULL);
    CHECK_INT(jv_count(m.buf, "connections.0.packets"), 2 * STORE_MARK_MIN + 7);
    free(m.buf);
    store_free(y.st);
}

/* /metrics: histograms cumulative with le bounds inclusive, +Inf the count
 * and the sum in exact seconds; label values escaped; counters over the
 * store's life (what a clear zeroed still in them); every method and
 * class always present. */
TEST(export_metrics_text)
{
    struct store *st;
    struct store_conn *c = one_conn(&st);
    CHECK(c != NULL);
    if (!c)
        return;
    struct store_totals *t = store_totals(st);
    store_hist_add(&t->ttfb, 500);      /* on the first bound: in it */
    store_hist_add(&t->ttfb, 501);      /* just past it */
    store_hist_add(&t->ttfb, 20000000); /* past the last bound */
    store_hist_add(&t->ttfb, -1);       /* unknown: not counted */
    t->requests[METHOD_GET] = 7;
    t->responses[0] = 2;
    t->retransmits[DIR_S2C] = 3;
    store_note_packet(st, T0, 100);
    store_clear(st);
    store_note_packet(st, T0, 60);
    struct server_status ss = {.live = 1, .capturing = 1, .ring_drops = 4, .memory_used = 10,
                               .writing = 0, .write_files = 3};
    snprintf(ss.backend, sizeof(ss.backend), "bpf");
    snprintf(ss.iface, sizeof(ss.iface), "a\"b\\c");

    struct membuf m;
    CHECK(membuf_open(&m) == 0);
    CHECK_INT(export_metrics(st, &ss, m.f), 0);
    membuf_close(&m);
    CHECK(m.buf != NULL);
    static const char *const want[] = {
        "htracr_info{version=\"" HTRACR_VERSION "\",backend=\"bpf\",attach=\"\","
        "iface=\"a\\\"b\\\\c\"} 1\n",
        "\nhtracr_capturing 1\n",
        "\nhtracr_packets_total 2\n",
        "\nhtracr_bytes_total 160\n",
        "\nhtracr_dropped_packets_total{where=\"ring\"} 4\n",
        "\nhtracr_memory_bytes 10\n",
        "\n# TYPE htracr_http_ttfb_seconds histogram\n"
        "htracr_http_ttfb_seconds_bucket{le=\"0.0005\"} 1\n"
        "htracr_http_ttfb_seconds_bucket{le=\"0.001\"} 2\n",
        "\nhtracr_http_ttfb_seconds_bucket{le=\"10\"} 2\n"
        "htracr_http_ttfb_seconds_bucket{le=\"+Inf\"} 3\n"
        "htracr_http_ttfb_seconds_sum 20.001001\n"
        "htracr_http_ttfb_seconds_count 3\n",
        "\nhtracr_http_requests_total{method=\"GET\"} 7\n",
        "\nhtracr_http_requests_total{method=\"other\"} 0\n",
        "\nhtracr_http_responses_total{code=\"5xx\"} 0\n"
        "htracr_http_responses_total{code=\"other\"} 2\n",
        "\nhtracr_tcp_retransmits_total{direction=\"s2c\"} 3\n",
        "\nhtracr_http_server_stall_seconds_count 0\n",
        "\nhtracr_pcap_writing 0\n",
        "\nhtracr_pcap_files_total 3\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!strstr(m.buf, want[i]))
            test_fail(__FILE__, __LINE__, "metrics lack %s", want[i]);
    }
    free(m.buf);
    /* without -w, no -w metrics */
    ss.writing = -1;
    CHECK(membuf_open(&m) == 0);
    CHECK_INT(export_metrics(st, &ss, m.f), 0);
    membuf_close(&m);
    CHECK(m.buf && !strstr(m.buf, "htracr_pcap_"));
    free(m.buf);
    store_free(st);
}

/* rel=1 (EXPORT_API_REL): a packet's time and a row's start_us from the
 * connection's start_us, a row's end_us from its own start (a packet
 * stamped before the connection's start gives a negative one); message
 * objects keep theirs; the document says "relative". */
TEST(export_api_relative_times)
{
    struct store *st;
    struct store_conn *c = one_conn(&st);
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_INT(add_pkt(st, c, T0 + 250, 0, TCPF_ACK, 1, 1, 10, 0, 0), 0);
    CHECK_INT(add_pkt(st, c, T0 - 3, 1, TCPF_ACK, 1, 11, 0, 0, 0), 0);
    struct store_message *q = new_req(st, c, "GET", "/r", T0 + 250, T0 + 260, 0);
    CHECK(q != NULL);
    store_conn_finish(st, c);

    char *doc = api_model_doc(st, EXPORT_API_ROWS | EXPORT_API_REL);
    CHECK(doc != NULL);
    CHECK_JV(doc, "relative", "true");
    CHECK_JV(doc, "connections.0.start_us", "1700000000000000");
    CHECK_JV(doc, "connections.0.packets.0.0", "250");
    CHECK_JV(doc, "connections.0.packets.1.0", "-3");
    CHECK_JV(doc, "connections.0.messages.0.2", "250");
    CHECK_JV(doc, "connections.0.messages.0.3", "10");
    free(doc);

    doc = api_model_doc(st, EXPORT_API_REL);
    CHECK(doc != NULL);
    CHECK_JV(doc, "connections.0.messages.0.start_us", "1700000000000250");
    CHECK_JV(doc, "connections.0.packets.0.0", "250");
    free(doc);

    doc = api_model_doc(st, EXPORT_API_ROWS);
    CHECK(doc != NULL);
    CHECK(jv_get(doc, "relative") == NULL);
    CHECK_JV(doc, "connections.0.packets.0.0", "1700000000000250");
    CHECK_JV(doc, "connections.0.messages.0.3", "1700000000000260");
    free(doc);
    store_free(st);
}
