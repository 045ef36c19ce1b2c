/* SPDX-License-Identifier: MIT */
/*
 * test_http.c - the HTTP stage through its public API with a real store:
 * packets are appended to a connection with store_conn_add_packet and their
 * bytes fed to http_conn_data with the packet's index, as TCP does.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "htracr/export.h"
#include "htracr/export_api.h"
#include "htracr/http.h"
#include "htracr/store.h"
#include "testlib.h"

struct fx {
    struct store *st;
    struct store_conn *c;
    struct http_conn *h;
    int64_t now;
};

static int fx_init_opts(struct fx *f, const struct store_opts *o)
{
    struct ip_addr ca = {.family = AF_INET, .a = {10, 0, 0, 1}};
    struct ip_addr sa = {.family = AF_INET, .a = {10, 0, 0, 2}};
    memset(f, 0, sizeof(*f));
    f->now = 1700000000000000LL;
    f->st = store_new(o);
    if (!f->st)
        return -1;
    f->c = store_conn_new(f->st, &ca, 40000, &sa, 80, f->now);
    if (!f->c)
        return -1;
    f->h = http_conn_new(f->st, f->c);
    return f->h ? 0 : -1;
}

static int fx_init(struct fx *f, size_t body_limit)
{
    struct store_opts o = {.body_limit = body_limit};
    return fx_init_opts(f, &o);
}

static void fx_free(struct fx *f)
{
    http_conn_free(f->h);
    store_free(f->st);
}

/* Append a packet of direction dir carrying n bytes, 1 ms after the last. */
static uint32_t fx_pkt(struct fx *f, int dir, size_t n)
{
    struct store_packet p = {0};
    f->now += 1000;
    p.ts_us = f->now;
    p.len = (uint32_t)n;
    p.dir = (uint8_t)dir;
    int64_t i = store_conn_add_packet(f->st, f->c, &p);
    return i < 0 ? UINT32_MAX : (uint32_t)i;
}

/* One packet with these bytes; returns http_conn_data's answer. The bytes
 * are handed over in a buffer of their own that is overwritten and freed
 * afterwards, as a capture reuses its buffers: nothing the parser keeps
 * may point into them. */
static int fx_send_n(struct fx *f, int dir, const void *s, size_t n)
{
    uint32_t pkt = fx_pkt(f, dir, n);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return -1;
    memcpy(buf, s, n);
    int r = http_conn_data(f->h, dir, buf, n, pkt);
    memset(buf, 0xa5, n);
    free(buf);
    return r;
}

static int fx_send(struct fx *f, int dir, const char *s)
{
    return fx_send_n(f, dir, s, strlen(s));
}

/* Every byte in a packet of its own. */
static int fx_trickle(struct fx *f, int dir, const char *s)
{
    int r = 0;
    for (size_t i = 0; s[i]; i++)
        r = fx_send_n(f, dir, s + i, 1);
    return r;
}

static struct store_message *msg(struct fx *f, uint32_t i)
{
    return i < f->c->nmessages ? f->c->messages[i] : NULL;
}

static const char *hdr(const struct store_message *m, const char *name)
{
    for (uint32_t i = 0; i < m->nheaders; i++)
        if (!strcmp(m->headers[i].name, name))
            return m->headers[i].value;
    return NULL;
}

static int body_is(const struct store_message *m, const void *p, size_t n)
{
    return m->body_len == n && (n == 0 || (m->body && !memcmp(m->body, p, n)));
}

static const char req1[] = "GET /index.html HTTP/1.1\r\n"
                           "Host: example.org:8080\r\n"
                           "User-Agent: test\r\n"
                           "\r\n";
static const char rsp1[] = "HTTP/1.1 200 OK\r\n"
                           "Content-Type: text/html\r\n"
                           "Content-Length: 5\r\n"
                           "\r\n"
                           "hello";

TEST(http_get_200_content_length)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    CHECK_INT(fx_send(&f, DIR_C2S, req1), 0);
    CHECK_INT(fx_send(&f, DIR_S2C, rsp1), 0);
    CHECK_INT(f.c->nmessages, 2);
    struct store_message *q = msg(&f, 0), *r = msg(&f, 1);
    CHECK_INT(q->kind, MSG_REQUEST);
    CHECK_STR(q->method, "GET");
    CHECK_STR(q->url, "/index.html");
    CHECK_INT(q->http_major, 1);
    CHECK_INT(q->http_minor, 1);
    CHECK_INT(q->complete, 1);
    CHECK_INT(q->nheaders, 2);
    CHECK_STR(q->headers[0].name, "Host");
    CHECK_STR(q->headers[0].value, "example.org:8080");
    CHECK_STR(q->headers[1].name, "User-Agent");
    CHECK_INT(q->header_bytes, strlen(req1));
    CHECK_INT(q->body_bytes, 0);
    CHECK_INT(q->first_packet, 0);
    CHECK_INT(q->last_packet, 0);
    CHECK_INT(q->packets, 1);
    CHECK_INT(q->start_us, f.c->packets[0].ts_us);
    CHECK_INT(q->end_us, f.c->packets[0].ts_us);
    CHECK_INT(q->pipelined, 0);
    CHECK_INT(q->headers_split, 0);
    CHECK_INT(q->response, r->id);
    CHECK(q->error == NULL);

    CHECK_INT(r->kind, MSG_RESPONSE);
    CHECK_INT(r->status, 200);
    CHECK_STR(r->reason, "OK");
    CHECK_INT(r->request, q->id);
    CHECK_INT(r->complete, 1);
    CHECK_INT(r->interim, 0);
    CHECK_INT(r->header_bytes, strlen(rsp1) - 5);
    CHECK_INT(r->body_bytes, 5);
    CHECK(body_is(r, "hello", 5));
    CHECK_INT(r->body_truncated, 0);
    CHECK_STR(store_message_content_type(r), "text/html");
    CHECK(store_message_content_encoding(r) == NULL);
    CHECK_INT(r->first_packet, 1);
    CHECK_INT(r->packets, 1);
    CHECK_INT(r->ttfb_us, 1000);
    CHECK_INT(r->stall_us, -1);    /* no RTT known in this fixture */
    CHECK_INT(r->round_trips, 1);  /* one packet, one flight */
    CHECK_INT(q->round_trips, 1);
    CHECK_INT(store_packet_msg(f.c, &f.c->packets[0]), q->id);
    CHECK_INT(store_packet_msg(f.c, &f.c->packets[1]), r->id);
    CHECK_INT(store_stats(f.st)->requests, 1);
    CHECK_INT(store_stats(f.st)->responses, 1);
    CHECK_STR(store_server_by_id(f.st, f.c->server)->name, "example.org");
    fx_free(&f);
}

/* A message that closes the connection keeps no copy of its header block
 * or of its header lengths for a next message to compare with (none
 * follows it): the connection's parsing state is smaller by both, and the
 * exchange the same. */
TEST(http_closing_exchange_keeps_nothing_for_a_next)
{
    static const char req_close[] = "GET /index.html HTTP/1.1\r\n"
                                    "Host: example.org:8080\r\n"
                                    "Connection: close\r\n"
                                    "\r\n";
    static const char rsp_close[] = "HTTP/1.1 200 OK\r\n"
                                    "Content-Type: text/html\r\n"
                                    "Content-Length: 5\r\n"
                                    "Connection: close\r\n"
                                    "\r\n"
                                    "hello";
    static const char req_keep[] = "GET /index.html HTTP/1.1\r\n"
                                   "Host: example.org:8080\r\n"
                                   "Connection: keep-alive\r\n"
                                   "\r\n";
    static const char rsp_keep[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: text/html\r\n"
                                   "Content-Length: 5\r\n"
                                   "Connection: keep-alive\r\n"
                                   "\r\n"
                                   "hello";
    struct fx a, b;
    CHECK_INT(fx_init(&a, 1 << 20), 0);
    CHECK_INT(fx_init(&b, 1 << 20), 0);
    CHECK_INT(fx_send(&a, DIR_C2S, req_close), 0);
    CHECK_INT(fx_send(&a, DIR_S2C, rsp_close), 0);
    CHECK_INT(fx_send(&b, DIR_C2S, req_keep), 0);
    CHECK_INT(fx_send(&b, DIR_S2C, rsp_keep), 0);
    CHECK_INT(a.c->nmessages, 2);
    CHECK_INT(msg(&a, 1)->status, 200);
    CHECK(body_is(msg(&a, 1), "hello", 5));
    CHECK_STR(hdr(msg(&a, 0), "Connection"), "close");
    size_t fa = http_conn_footprint(a.h), fb = http_conn_footprint(b.h);
    /* b keeps, each way, its header block (over 40 bytes) and 16 lengths */
    CHECK(fa + 2 * (40 + 16 * 8) <= fb);
    fx_free(&a);
    fx_free(&b);
}

TEST(http_keep_alive_three_transactions)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(fx_send(&f, DIR_C2S, req1), 0);
        CHECK_INT(fx_send(&f, DIR_S2C, rsp1), 0);
    }
    CHECK_INT(f.c->nmessages, 6);
    for (uint32_t i = 0; i < 6; i += 2) {
        struct store_message *q = msg(&f, i), *r = msg(&f, i + 1);
        CHECK_INT(q->kind, MSG_REQUEST);
        CHECK_INT(r->kind, MSG_RESPONSE);
        CHECK_INT(r->request, q->id);
        CHECK_INT(q->response, r->id);
        CHECK_INT(q->pipelined, 0);
        CHECK_INT(q->first_packet, i);
        CHECK_INT(r->first_packet, i + 1);
        CHECK_INT(r->complete, 1);
        CHECK(body_is(r, "hello", 5));
    }
    fx_free(&f);
}

/* Repeated header lines on a keep-alive connection are shared with the
 * previous message rather than copied; anything that differs is its own. */
TEST(http_repeated_headers_shared_not_confused)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /a HTTP/1.1\r\nHost: h\r\nx-trace: 1\r\n\r\n"), 0);
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /b HTTP/1.1\r\nHost: h\r\nx-trace: 1\r\n\r\n"), 0);
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /c HTTP/1.1\r\nHost: h\r\nx-trace: 12\r\n\r\n"), 0);
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /d HTTP/1.1\r\nHOST: h\r\nx-trace: 1\r\n\r\n"), 0);
    CHECK_INT(f.c->nmessages, 4);
    struct store_message *a = msg(&f, 0), *b = msg(&f, 1), *c = msg(&f, 2), *d = msg(&f, 3);
    CHECK(a && b && c && d);
    /* the same lines: the array itself is shared */
    CHECK(b->headers == a->headers);
    CHECK_INT(b->nheaders, 2);
    /* one value differs: its own array and value, the rest shared */
    CHECK(c->headers != b->headers);
    CHECK(c->headers[0].value == b->headers[0].value);
    CHECK(!strcmp(c->headers[1].value, "12"));
    CHECK(!strcmp(b->headers[1].value, "1"));
    /* names keep their case: "HOST" is not the previous "Host" */
    CHECK(!strcmp(d->headers[0].name, "HOST"));
    CHECK(!strcmp(c->headers[0].name, "Host"));
    CHECK(!strcmp(d->headers[1].value, "1"));
    CHECK(!strcmp(d->url, "/d") && !strcmp(a->url, "/a"));
    /* a value that is a prefix of the previous one is not taken for it */
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /e HTTP/1.1\r\nHOST: h\r\nx-trace: \r\n\r\n"), 0);
    CHECK(!strcmp(msg(&f, 4)->headers[1].value, ""));
    fx_free(&f);
}

/* A body the same as the previous message's in that direction (a polled
 * resource, a benchmark's page) is shared, not copied again; a body that
 * differs, even only in its last byte or its length, is its own. */
TEST(http_repeated_body_shared_not_confused)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    static const char *const bodies[] = {"hello", "hello", "hellp", "hell", "hell", "hello"};
    char rsp[128];
    for (int i = 0; i < 6; i++) {
        CHECK_INT(fx_send(&f, DIR_C2S, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
        snprintf(rsp, sizeof(rsp), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                 strlen(bodies[i]), bodies[i]);
        CHECK_INT(fx_send(&f, DIR_S2C, rsp), 0);
    }
    CHECK_INT(f.c->nmessages, 12);
    const struct store_message *r[6];
    for (int i = 0; i < 6; i++) {
        r[i] = msg(&f, 2 * i + 1);
        CHECK(r[i] && r[i]->kind == MSG_RESPONSE);
        CHECK(body_is(r[i], bodies[i], strlen(bodies[i])));
    }
    CHECK(r[1]->body == r[0]->body);
    CHECK(r[2]->body != r[1]->body);
    CHECK(r[3]->body != r[2]->body);
    CHECK(r[4]->body == r[3]->body);
    CHECK(r[5]->body != r[4]->body); /* only the previous body is compared */
    /* the store counts each kept copy once: 5 + 5 + 4 + 5 bytes */
    CHECK_INT(f.c->body_mem, 19);
    fx_free(&f);
}

/* A header block that repeats the previous message's byte for byte gets
 * its headers without the work per header; the result must be what that
 * work would give: names, values, Content-Type and Content-Encoding right,
 * and a block that differs anywhere (even in one byte of the same length,
 * or only after the bytes compared) parsed as usual. */
TEST(http_repeated_header_block)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    static const char *const rsp[] = {
        "HTTP/1.1 200 OK\r\nDate: Mon\r\nContent-Type: text/a\r\nContent-Length: 1\r\n\r\nA",
        "HTTP/1.1 200 OK\r\nDate: Mon\r\nContent-Type: text/a\r\nContent-Length: 1\r\n\r\nB",
        "HTTP/1.1 404 Gone\r\nDate: Mon\r\nContent-Type: text/a\r\nContent-Length: 1\r\n\r\nC",
        "HTTP/1.1 200 OK\r\nDate: Tue\r\nContent-Type: text/a\r\nContent-Length: 1\r\n\r\nD",
        "HTTP/1.1 200 OK\r\nDate: Tue\r\nContent-Type: text/b\r\nContent-Length: 1\r\n\r\nE",
        "HTTP/1.1 200 OK\r\nDate: Tue\r\nContent-Type: text/b\r\nContent-Length: 1\r\n"
        "Content-Encoding: x\r\n\r\nF",
        "HTTP/1.1 200 OK\r\nDate: Tue\r\nContent-Type: text/b\r\nContent-Length: 1\r\n"
        "Content-Encoding: x\r\n\r\nG",
    };
    const char *urls[] = {"/a", "/b", "/c", "/d", "/e", "/f", "/g"};
    char req[128];
    for (int i = 0; i < 7; i++) {
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n", urls[i]);
        CHECK_INT(fx_send(&f, DIR_C2S, req), 0);
        CHECK_INT(fx_send(&f, DIR_S2C, rsp[i]), 0);
    }
    CHECK_INT(f.c->nmessages, 14);
    static const char *const date[] = {"Mon", "Mon", "Mon", "Tue", "Tue", "Tue", "Tue"};
    static const char *const ctype[] = {"text/a", "text/a", "text/a", "text/a",
                                        "text/b", "text/b", "text/b"};
    for (int i = 0; i < 7; i++) {
        const struct store_message *q = msg(&f, 2 * i), *r = msg(&f, 2 * i + 1);
        CHECK_STR(q->url, urls[i]);
        CHECK_INT(q->nheaders, 2);
        CHECK_STR(q->headers[0].name, "Host");
        CHECK_STR(q->headers[1].value, "*/*");
        CHECK_INT(r->status, i == 2 ? 404 : 200);
        CHECK_STR(r->reason, i == 2 ? "Gone" : "OK");
        CHECK_INT(r->nheaders, i >= 5 ? 4 : 3);
        CHECK_STR(r->headers[0].value, date[i]);
        CHECK_STR(r->headers[1].value, ctype[i]);
        const char *type = store_message_content_type(r);
        const char *enc = store_message_content_encoding(r);
        CHECK(type && !strcmp(type, ctype[i]));
        CHECK(i >= 5 ? enc && !strcmp(enc, "x") : enc == NULL);
        CHECK_INT(r->headers_dropped, 0);
        CHECK_INT(r->body_len, 1);
        CHECK_INT(r->body[0], 'A' + i);
        /* where the head ends, found without a pause when it repeats */
        CHECK_INT(r->header_bytes, strstr(rsp[i], "\r\n\r\n") - rsp[i] + 4);
        CHECK_INT(q->header_bytes, strlen(urls[i]) + 39);
        CHECK_INT(r->headers_split, 0);
        CHECK_INT(r->complete, 1);
        CHECK_INT(r->packets, 1);
        if (i > 0)
            CHECK(q->headers == msg(&f, 0)->headers);
    }
    CHECK(msg(&f, 3)->headers == msg(&f, 1)->headers);
    CHECK(msg(&f, 5)->headers == msg(&f, 3)->headers); /* another start line */
    CHECK(msg(&f, 7)->headers != msg(&f, 5)->headers);
    CHECK(msg(&f, 13)->headers == msg(&f, 11)->headers);
    /* The same block again, its header lines split over two packets, then
     * whole: each gives the same headers. */
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /h HTTP/1.1\r\nHost: h\r\nAcc"), 0);
    CHECK_INT(fx_send(&f, DIR_C2S, "ept: */*\r\n\r\n"), 0);
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /i HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"), 0);
    for (int i = 14; i < 16; i++) {
        CHECK_INT(msg(&f, i)->nheaders, 2);
        CHECK_STR(msg(&f, i)->headers[1].value, "*/*");
        CHECK_INT(msg(&f, i)->complete, 1);
        CHECK_INT(msg(&f, i)->header_bytes, 41);
        CHECK_INT(msg(&f, i)->headers_split, i == 14);
    }
    /* A block that only starts like the kept one. */
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /j HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX: 1\r\n\r\n"), 0);
    CHECK_INT(msg(&f, 16)->nheaders, 3);
    CHECK_STR(msg(&f, 16)->headers[2].name, "X");
    /* A block longer than the one kept before (its buffer grows), twice. */
    char longreq[600], longval[301];
    memset(longval, 'v', 300);
    longval[300] = '\0';
    snprintf(longreq, sizeof(longreq), "GET /k HTTP/1.1\r\nHost: h\r\nX-Long: %s\r\n\r\n", longval);
    CHECK_INT(fx_send(&f, DIR_C2S, longreq), 0);
    CHECK_INT(fx_send(&f, DIR_C2S, longreq), 0);
    CHECK_INT(f.c->nmessages, 19);
    for (int i = 17; i < 19; i++) {
        CHECK_INT(msg(&f, i)->nheaders, 2);
        CHECK_STR(msg(&f, i)->headers[1].value, longval);
        CHECK_INT(msg(&f, i)->header_bytes, strlen(longreq));
    }
    CHECK(msg(&f, 18)->headers == msg(&f, 17)->headers);
    fx_free(&f);
}

TEST(http_pipelined_one_segment_each_way)
{
    struct fx f;
    char reqs[512], rsps[512];
    CHECK(fx_init(&f, 1 << 20) == 0);
    snprintf(reqs, sizeof(reqs), "%s%s%s", "GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
             "GET /b HTTP/1.1\r\nHost: h\r\n\r\n", "GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
    snprintf(rsps, sizeof(rsps), "%s%s%s", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA",
             "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nBB",
             "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nCCC");
    CHECK_INT(fx_send(&f, DIR_C2S, reqs), 0);
    CHECK_INT(fx_send(&f, DIR_S2C, rsps), 0);
    CHECK_INT(f.c->nmessages, 6);
    const char *urls[] = {"/a", "/b", "/c"};
    const char *bodies[] = {"A", "BB", "CCC"};
    for (uint32_t i = 0; i < 3; i++) {
        struct store_message *q = msg(&f, i), *r = msg(&f, 3 + i);
        CHECK_STR(q->url, urls[i]);
        CHECK_INT(q->pipelined, i > 0);
        CHECK_INT(q->first_packet, 0);
        CHECK_INT(q->header_bytes, 28);
        CHECK_INT(r->request, q->id);
        CHECK_INT(q->response, r->id);
        CHECK_INT(r->first_packet, 1);
        CHECK(body_is(r, bodies[i], strlen(bodies[i])));
        CHECK_INT(r->complete, 1);
    }
    CHECK_INT(msg(&f, 4)->status, 404);
    CHECK_STR(msg(&f, 4)->reason, "Not Found");
    /* A packet points at the first message its bytes belong to. */
    CHECK_INT(store_packet_msg(f.c, &f.c->packets[0]), msg(&f, 0)->id);
    CHECK_INT(store_packet_msg(f.c, &f.c->packets[1]), msg(&f, 3)->id);
    fx_free(&f);
}

static const char chunked_rsp[] = "HTTP/1.1 200 OK\r\n"
                                  "Transfer-Encoding: chunked\r\n"
                                  "Content-Type: text/plain\r\n"
                                  "\r\n"
                                  "5\r\nhello\r\n"
                                  "7;ext=1\r\n, world\r\n"
                                  "0\r\n"
                                  "X-Trailer: t\r\n"
                                  "\r\n";

/* Fields that must not depend on how the bytes were cut into packets. */
static int same_message(const struct store_message *a, const struct store_message *b)
{
    if (a->kind != b->kind || a->complete != b->complete || a->status != b->status ||
        a->header_bytes != b->header_bytes || a->body_bytes != b->body_bytes ||
        a->nheaders != b->nheaders || a->http_major != b->http_major ||
        a->http_minor != b->http_minor || a->pipelined != b->pipelined ||
        a->interim != b->interim || !!a->error != !!b->error || a->body_len != b->body_len ||
        a->body_truncated != b->body_truncated || a->body_decode_error != b->body_decode_error)
        return 0;
    /* a request's method and url, a response's reason: the same place */
    if (a->kind == MSG_REQUEST &&
        (a->method || b->method) && (!a->method || !b->method || strcmp(a->method, b->method)))
        return 0;
    if (a->kind == MSG_REQUEST &&
        (a->url || b->url) && (!a->url || !b->url || strcmp(a->url, b->url)))
        return 0;
    if (a->kind == MSG_RESPONSE &&
        (a->reason || b->reason) && (!a->reason || !b->reason || strcmp(a->reason, b->reason)))
        return 0;
    for (uint32_t i = 0; i < a->nheaders; i++)
        if (strcmp(a->headers[i].name, b->headers[i].name) ||
            strcmp(a->headers[i].value, b->headers[i].value))
            return 0;
    return a->body_len == 0 || !memcmp(a->body, b->body, a->body_len);
}

TEST(http_byte_by_byte_equals_one_shot)
{
    static const char post[] = "POST /form?x=1 HTTP/1.1\r\n"
                               "Host: example.org\r\n"
                               "Content-Length: 11\r\n"
                               "X-Empty:\r\n"
                               "\r\n"
                               "a=1&b=2&c=3";
    struct fx one, many;
    CHECK(fx_init(&one, 1 << 20) == 0);
    CHECK(fx_init(&many, 1 << 20) == 0);
    fx_send(&one, DIR_C2S, req1);
    fx_send(&one, DIR_S2C, rsp1);
    fx_send(&one, DIR_C2S, post);
    fx_send(&one, DIR_S2C, chunked_rsp);
    fx_trickle(&many, DIR_C2S, req1);
    fx_trickle(&many, DIR_S2C, rsp1);
    fx_trickle(&many, DIR_C2S, post);
    fx_trickle(&many, DIR_S2C, chunked_rsp);
    CHECK_INT(one.c->nmessages, 4);
    CHECK_INT(many.c->nmessages, 4);
    for (uint32_t i = 0; i < 4; i++) {
        struct store_message *a = msg(&one, i), *b = msg(&many, i);
        CHECK(same_message(a, b));
        CHECK_INT(a->headers_split, 0);
        CHECK_INT(b->headers_split, 1);
        CHECK_INT(a->packets, 1);
    }
    struct store_message *p = msg(&many, 2);
    CHECK_STR(p->method, "POST");
    CHECK_STR(p->url, "/form?x=1");
    CHECK_STR(hdr(p, "X-Empty"), "");
    CHECK(body_is(p, "a=1&b=2&c=3", 11));
    CHECK_INT(p->packets, strlen(post));
    CHECK_INT(p->header_bytes, strlen(post) - 11);
    CHECK_INT(p->end_us - p->start_us, (int64_t)(strlen(post) - 1) * 1000);
    /* Each of the response's one-byte packets points at it. */
    struct store_message *r = msg(&many, 3);
    CHECK_INT(r->last_packet - r->first_packet + 1, strlen(chunked_rsp));
    for (uint32_t k = r->first_packet; k <= r->last_packet; k++)
        CHECK_INT(store_packet_msg(many.c, &many.c->packets[k]), r->id);
    fx_free(&one);
    fx_free(&many);
}

TEST(http_chunked_response)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_S2C, chunked_rsp);
    struct store_message *r = msg(&f, 1);
    CHECK(r != NULL);
    CHECK_INT(r->complete, 1);
    CHECK_INT(r->body_bytes, 12);
    CHECK(body_is(r, "hello, world", 12));
    CHECK_INT(r->header_bytes, strstr(chunked_rsp, "\r\n\r\n") + 4 - chunked_rsp);
    CHECK_STR(hdr(r, "Transfer-Encoding"), "chunked");
    fx_free(&f);
}

static uint8_t plain[20000];

static void make_plain(void)
{
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)("the quick brown fox jumps over the lazy dog\n"[i % 44] ^ (i / 4000));
}

/* A response whose body is plain[] compressed with wbits under encoding enc,
 * sent in pieces of step bytes. Returns the response message. */
static struct store_message *send_zipped(struct fx *f, int wbits, const char *enc, size_t step)
{
    static uint8_t z[sizeof(plain) + 1024], wire[sizeof(z) + 256];
    make_plain();
    size_t zn = test_zip(plain, sizeof(plain), z, sizeof(z), wbits);
    if (!zn)
        return NULL;
    int hn = snprintf((char *)wire, sizeof(wire),
                      "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %zu\r\n\r\n",
                      enc, zn);
    memcpy(wire + hn, z, zn);
    size_t total = (size_t)hn + zn;
    fx_send(f, DIR_C2S, req1);
    for (size_t off = 0; off < total; off += step)
        fx_send_n(f, DIR_S2C, wire + off, total - off < step ? total - off : step);
    return msg(f, f->c->nmessages - 1);
}

TEST(http_gzip_body_decoded)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    struct store_message *r = send_zipped(&f, 15 + 16, "gzip", 1400);
    CHECK(r != NULL);
    CHECK_INT(r->complete, 1);
    CHECK_STR(store_message_content_encoding(r), "gzip");
    CHECK(r->body_bytes < sizeof(plain));
    CHECK_INT(r->body_decode_error, 0);
    CHECK_INT(r->body_truncated, 0);
    CHECK(body_is(r, plain, sizeof(plain)));
    fx_free(&f);
}

TEST(http_deflate_zlib_and_raw_decoded)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    struct store_message *r = send_zipped(&f, 15, "deflate", 1);
    CHECK(r != NULL);
    CHECK_INT(r->body_decode_error, 0);
    CHECK(body_is(r, plain, sizeof(plain)));
    r = send_zipped(&f, -15, "deflate", 700);
    CHECK(r != NULL);
    CHECK_INT(r->body_decode_error, 0);
    CHECK(body_is(r, plain, sizeof(plain)));
    fx_free(&f);
}

TEST(http_gzip_corrupt_is_decode_error)
{
    struct fx f;
    static const char bad[] = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                              "Content-Length: 12\r\n\r\n\x1f\x8b\x08\x00garbage!!";
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, req1);
    fx_send_n(&f, DIR_S2C, bad, sizeof(bad) - 1);
    struct store_message *r = msg(&f, 1);
    CHECK_INT(r->complete, 1);
    CHECK_INT(r->body_bytes, 12);
    CHECK_INT(r->body_decode_error, 1);
    fx_free(&f);
}

TEST(http_body_over_limit)
{
    struct fx f;
    char wire[400];
    CHECK(fx_init(&f, 16) == 0);
    int n = snprintf(wire, sizeof(wire), "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    memset(wire + n, 'x', 100);
    memcpy(wire + n, "0123456789abcdefXYZ", 19);
    fx_send(&f, DIR_C2S, req1);
    fx_send_n(&f, DIR_S2C, wire, (size_t)n + 100);
    struct store_message *r = msg(&f, 1);
    CHECK_INT(r->complete, 1);
    CHECK_INT(r->body_bytes, 100);
    CHECK_INT(r->body_truncated, 1);
    CHECK(body_is(r, "0123456789abcdef", 16));
    /* Compressed: the decoded output stops at the limit too. */
    r = send_zipped(&f, 15 + 16, "gzip", 500);
    CHECK(r != NULL);
    CHECK_INT(r->complete, 1);
    CHECK_INT(r->body_truncated, 1);
    CHECK_INT(r->body_decode_error, 0);
    CHECK(body_is(r, plain, 16));
    /* Exactly at the limit is not truncated. */
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_S2C, "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n0123456789abcdef");
    r = msg(&f, f.c->nmessages - 1);
    CHECK_INT(r->body_truncated, 0);
    CHECK(body_is(r, "0123456789abcdef", 16));
    fx_free(&f);
}

TEST(http_head_then_next_request)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, "HEAD /big HTTP/1.1\r\nHost: h\r\n\r\n");
    /* Content-Length of the GET it stands for, and no body. */
    fx_send(&f, DIR_S2C, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_S2C, rsp1);
    CHECK_INT(f.c->nmessages, 4);
    struct store_message *r = msg(&f, 1);
    CHECK_STR(msg(&f, 0)->method, "HEAD");
    CHECK_INT(r->complete, 1);
    CHECK_INT(r->body_bytes, 0);
    CHECK_STR(hdr(r, "Content-Length"), "1000");
    CHECK_INT(msg(&f, 3)->status, 200);
    CHECK_INT(msg(&f, 3)->request, msg(&f, 2)->id);
    CHECK(body_is(msg(&f, 3), "hello", 5));
    fx_free(&f);
}

TEST(http_304_then_another_response)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    fx_send(&f, DIR_S2C, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
                         "HTTP/1.1 204 No Content\r\n\r\n");
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_S2C, rsp1);
    CHECK_INT(f.c->nmessages, 6);
    CHECK_INT(msg(&f, 2)->status, 304);
    CHECK_INT(msg(&f, 2)->complete, 1);
    CHECK_INT(msg(&f, 2)->request, msg(&f, 0)->id);
    CHECK_INT(msg(&f, 3)->status, 204);
    CHECK_INT(msg(&f, 3)->request, msg(&f, 1)->id);
    CHECK_INT(msg(&f, 5)->request, msg(&f, 4)->id);
    CHECK(body_is(msg(&f, 5), "hello", 5));
    fx_free(&f);
}

static const char post_continue[] = "POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                                    "Content-Length: 4\r\n\r\n";

TEST(http_100_continue_then_200)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, post_continue);
    fx_send(&f, DIR_S2C, "HTTP/1.1 100 Continue\r\n\r\n");
    fx_send(&f, DIR_C2S, "data");
    fx_send(&f, DIR_S2C, rsp1);
    CHECK_INT(f.c->nmessages, 3);
    struct store_message *q = msg(&f, 0), *c100 = msg(&f, 1), *ok = msg(&f, 2);
    CHECK_INT(q->complete, 1);
    CHECK_INT(q->packets, 2);
    CHECK(body_is(q, "data", 4));
    CHECK_INT(c100->status, 100);
    CHECK_INT(c100->interim, 1);
    CHECK_INT(c100->complete, 1);
    CHECK_INT(c100->request, q->id);
    CHECK_INT(ok->status, 200);
    CHECK_INT(ok->interim, 0);
    CHECK_INT(ok->request, q->id);
    CHECK_INT(q->response, ok->id);
    CHECK_INT(ok->ttfb_us, 1000);
    fx_free(&f);
}

/* Found by the fuzzer: a 100 Continue whose status line ends in a stray
 * byte before CRLF, with no header block after it. The block to keep for
 * the next response is empty, and nothing is copied (a null copy was
 * undefined behaviour); the 200 after it is parsed as usual. */
TEST(http_interim_without_header_block)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    CHECK(fx_send(&f, DIR_C2S, post_continue) == 0);
    fx_send(&f, DIR_S2C, "HTTP/1.1 100 Continue\r\x8a\r\n");
    CHECK(fx_send(&f, DIR_C2S, "data") == 0);
    fx_send(&f, DIR_S2C, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    CHECK_INT(f.c->nmessages, 3);
    CHECK_INT(msg(&f, 1)->kind, MSG_RESPONSE);
    CHECK_INT(msg(&f, 1)->status, 100);
    CHECK(msg(&f, 1)->interim);
    CHECK_INT(msg(&f, 2)->status, 200);
    CHECK(msg(&f, 2)->complete && body_is(msg(&f, 2), "ok", 2));
    CHECK_INT(msg(&f, 0)->response, msg(&f, 2)->id);
    fx_free(&f);
}

TEST(http_two_100_then_200)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, post_continue);
    fx_send(&f, DIR_S2C, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n");
    fx_send(&f, DIR_C2S, "data");
    fx_send(&f, DIR_S2C, rsp1);
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_S2C, rsp1);
    CHECK_INT(f.c->nmessages, 6);
    struct store_message *q = msg(&f, 0);
    for (uint32_t i = 1; i <= 3; i++)
        CHECK_INT(msg(&f, i)->request, q->id);
    CHECK_INT(msg(&f, 1)->interim, 1);
    CHECK_INT(msg(&f, 2)->interim, 1);
    CHECK_INT(msg(&f, 3)->interim, 0);
    CHECK_INT(q->response, msg(&f, 3)->id);
    /* The next transaction pairs normally: the interim ones consumed nothing. */
    CHECK_INT(msg(&f, 5)->request, msg(&f, 4)->id);
    CHECK_INT(msg(&f, 4)->pipelined, 0);
    fx_free(&f);
}

TEST(http_101_upgrade_then_opaque)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                                   "Upgrade: websocket\r\n\r\n"),
              0);
    CHECK_INT(fx_send(&f, DIR_S2C, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                   "Upgrade: websocket\r\n\r\n\x81\x05hello"),
              1);
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /not-http-anymore HTTP/1.1\r\n\r\n"), 1);
    CHECK_INT(fx_send(&f, DIR_S2C, "HTTP/1.1 200 OK\r\n\r\n"), 1);
    CHECK_INT(f.c->nmessages, 2);
    CHECK_INT(msg(&f, 0)->upgrade, 1);
    CHECK_INT(msg(&f, 1)->upgrade, 1);
    CHECK_INT(msg(&f, 1)->status, 101);
    CHECK_INT(msg(&f, 1)->interim, 0);
    CHECK_INT(msg(&f, 1)->complete, 1);
    CHECK_INT(msg(&f, 0)->response, msg(&f, 1)->id);
    CHECK(msg(&f, 1)->error == NULL);
    http_conn_eof(f.h, DIR_C2S, f.c->npackets - 1);
    http_conn_eof(f.h, DIR_S2C, f.c->npackets - 1);
    CHECK_INT(f.c->nmessages, 2);
    fx_free(&f);
}

/* The same when the refusal's header block repeats the response before
 * it (and so is not parsed header by header): the held request is still
 * parsed at the refusal's header end, while the refused request waits for
 * its answer to end. */
TEST(http_upgrade_refused_after_a_repeated_block)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    CHECK_INT(fx_send(&f, DIR_S2C, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"), 0);
    fx_send(&f, DIR_C2S, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                         "Upgrade: websocket\r\n\r\n");
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    CHECK_INT(fx_send(&f, DIR_S2C, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n"
                                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
              0);
    CHECK_INT(f.c->nmessages, 6);
    struct store_message *ws = msg(&f, 2), *r426 = msg(&f, 3), *next = msg(&f, 4);
    CHECK_STR(next->url, "/next");
    CHECK_INT(next->pipelined, 1);
    CHECK_INT(r426->status, 426);
    CHECK_INT(r426->request, ws->id);
    CHECK(r426->headers == msg(&f, 1)->headers);
    CHECK_INT(msg(&f, 5)->request, next->id);
    CHECK(body_is(msg(&f, 5), "ok", 2));
    fx_free(&f);
}

/* Random conversations whose header blocks repeat often (the same block
 * after another start line, a HEAD's answer repeating a GET's, a CONNECT's
 * a GET's, 1xx, chunked, refused upgrades, a 101 repeating a 200's),
 * cut into packets at random: the model is the same whether a repeated
 * block is skipped (http.c blk_skip) or parsed, and each skip ends in the
 * state llhttp's own parse of the block ends in. */
static const char *const skip_req[] = {
    "GET /a%u HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
    "HEAD /a%u HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
    "GET /b%u HTTP/1.0\r\nHost: h\r\nAccept: */*\r\n\r\n",
    "POST /p%u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    "POST /c%u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "GET /ws%u HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "CONNECT h:%u HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
    /* HTTP/0.9: no version, no headers; what follows is the next request */
    "GET /n%u\r\nHost: h\r\nAccept: */*\r\n\r\n",
};
enum { SKIP_HEAD = 1, SKIP_WS = 5, SKIP_CONNECT = 6, SKIP_09 = 7, SKIP_NREQ = 8 };
static const char *const skip_rsp[] = {
    "HTTP/1.1 200 OK\r\nContent-Type: text/a\r\nContent-Length: 5\r\n\r\nhello",
    "HTTP/1.1 404 Nope\r\nContent-Type: text/a\r\nContent-Length: 5\r\n\r\nnope!",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nContent-Type: text/a\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/a\r\nContent-Length: 5\r\n\r\n"
    "hello",
    "HTTP/1.1 200 OK\r\nContent-Type: text/a\r\nContent-Length: 0\r\n\r\n",
    /* announces an upgrade it does not make */
    "HTTP/1.1 200 OK\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n",
};
enum { SKIP_NRSP = 7 };
static const char skip_head_rsp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/a\r\nContent-Length: 5\r\n\r\n";
static const char skip_refused[] =
    "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/a\r\nContent-Length: 0\r\n\r\n";
static const char skip_tunnel[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/a\r\nContent-Length: 0\r\n\r\n\x16\x03\x01tls";
static const char skip_switch[] =
    "HTTP/1.1 101 Switching\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n";

static unsigned skip_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

/* bytes in 1 to 3 packets */
static void skip_send(struct fx *f, int dir, const char *b, size_t n, unsigned *s)
{
    size_t cut1 = skip_rand(s) % 3 == 0 ? skip_rand(s) % (n + 1) : n;
    size_t cut2 = skip_rand(s) % 4 == 0 ? cut1 + skip_rand(s) % (n - cut1 + 1) : n;
    if (cut1 > 0)
        fx_send_n(f, dir, b, cut1);
    if (cut2 > cut1)
        fx_send_n(f, dir, b + cut1, cut2 - cut1);
    if (n > cut2)
        fx_send_n(f, dir, b + cut2, n - cut2);
}

static void skip_append(char *buf, size_t *n, size_t cap, const char *fmt, unsigned k)
{
    int w = snprintf(buf + *n, cap - *n, fmt, k);
    if (w > 0 && (size_t)w < cap - *n)
        *n += (size_t)w;
}

static void skip_jsonl(void *ctx, struct store *st, struct store_conn *c)
{
    export_jsonl_conn(st, c, ctx);
}

/* One conversation from seed, exported into *out: as JSON, or in stream
 * mode (each exchange written as JSONL and freed as soon as it is
 * answered, as with --jsonl alone) as JSONL. */
static int skip_run(unsigned seed, int stream, char **out, size_t *outn)
{
    struct fx f;
    char c2s[2048], s2c[2048];
    unsigned s = seed;
    FILE *m = open_memstream(out, outn);
    struct store_opts o = {.body_limit = 1 << 20, .stream = stream,
                           .on_finish = stream ? skip_jsonl : NULL, .ctx = m};
    if (!m || fx_init_opts(&f, &o) != 0)
        return -1;
    for (int t = 0; t < 40; t++) {
        /* one to three requests in a row (pipelined when more), then their
         * answers, each side in one run of bytes cut into packets */
        size_t nq = 0, nr = 0;
        int k = 1 + (skip_rand(&s) % 5 == 0 ? (int)(skip_rand(&s) % 3) : 0);
        for (int i = 0; i < k; i++) {
            unsigned r = skip_rand(&s) % SKIP_NREQ, a = skip_rand(&s) % SKIP_NRSP;
            int last = i == k - 1;
            if ((r == SKIP_WS || r == SKIP_CONNECT || r == SKIP_09) && !last)
                r = 0; /* they hold what follows until answered */
            if (r == SKIP_09 && t < 39)
                r = 0; /* its answer lasts until the connection closes */
            /* two in three ask for what was asked before: the same line */
            unsigned u = skip_rand(&s) % 3 ? 0 : (unsigned)t;
            skip_append(c2s, &nq, sizeof(c2s), skip_req[r], u);
            const char *rsp = skip_rsp[a];
            if (r == SKIP_HEAD)
                rsp = skip_head_rsp;
            else if ((r == SKIP_CONNECT || r == SKIP_WS) && t < 39)
                rsp = skip_refused;
            else if (r == SKIP_WS) /* the end: the rest is another protocol */
                rsp = skip_switch;
            else if (r == SKIP_CONNECT)
                rsp = skip_tunnel;
            else if (r == SKIP_09)
                rsp = "raw bytes";
            size_t l = strlen(rsp);
            if (nr + l <= sizeof(s2c)) {
                memcpy(s2c + nr, rsp, l);
                nr += l;
            }
        }
        skip_send(&f, DIR_C2S, c2s, nq, &s);
        skip_send(&f, DIR_S2C, s2c, nr, &s);
    }
    http_conn_eof(f.h, DIR_C2S, store_conn_total_packets(f.c) - 1);
    http_conn_eof(f.h, DIR_S2C, store_conn_total_packets(f.c) - 1);
    int r = 0;
    if (stream)
        store_conn_finish(f.st, f.c); /* the rest, then the connection goes */
    else
        r = export_json(f.st, m);
    fclose(m);
    fx_free(&f);
    return r;
}

/* Stream mode frees the arena after each exchange, so the kept block's
 * headers live in a copy of their own, and a message that repeats the
 * block gets them copied back into the arena: a block kept after it (a
 * pipelined request) must not change what it has. */
static char stream_seen[8][64];
static uint32_t stream_nseen;
static void stream_keep(void *ctx, struct store *st, struct store_conn *c)
{
    (void)ctx;
    (void)st;
    for (uint32_t i = 0; i < c->nmessages && stream_nseen < 8; i++) {
        const struct store_message *m = c->messages[i];
        if (m->kind != MSG_REQUEST)
            continue;
        snprintf(stream_seen[stream_nseen++], sizeof(stream_seen[0]), "%s %s=%s %s=%s",
                 m->url, m->nheaders > 0 ? m->headers[0].name : "-",
                 m->nheaders > 0 ? m->headers[0].value : "-",
                 m->nheaders > 1 ? m->headers[1].name : "-",
                 m->nheaders > 1 ? m->headers[1].value : "-");
    }
}

TEST(http_stream_repeated_block_keeps_its_headers)
{
    struct fx f;
    struct store_opts o = {.body_limit = 1 << 20, .stream = 1, .on_finish = stream_keep};
    stream_nseen = 0;
    CHECK(fx_init_opts(&f, &o) == 0);
    unsigned long skips = http_test_blk_skips;
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /a HTTP/1.1\r\nHost: h\r\nX-Tag: one\r\n\r\n"), 0);
    CHECK_INT(fx_send(&f, DIR_S2C, "HTTP/1.1 204 No Content\r\n\r\n"), 0);
    CHECK_INT(stream_nseen, 1); /* flushed */
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /b HTTP/1.1\r\nHost: h\r\nX-Tag: one\r\n\r\n"
                                   "POST /p HTTP/1.1\r\nHost: k\r\nX-Tag: two\r\n"
                                   "Content-Length: 3\r\n\r\nabc"),
              0);
    CHECK_INT(http_test_blk_skips - skips, 1); /* /b */
    CHECK_INT(fx_send(&f, DIR_S2C, "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
              0);
    CHECK_INT(stream_nseen, 3);
    CHECK_STR(stream_seen[0], "/a Host=h X-Tag=one");
    CHECK_STR(stream_seen[1], "/b Host=h X-Tag=one");
    CHECK_STR(stream_seen[2], "/p Host=k X-Tag=two");
    fx_free(&f);
}

TEST(http_repeated_block_skip_same_as_parsing)
{
    unsigned long skips0 = http_test_blk_skips, bad0 = http_test_blk_mismatches;
    unsigned long lines0 = http_test_line_skips;
    unsigned long skipped = 0;
    for (unsigned seed = 1; seed <= 400; seed++) {
        char *a = NULL, *b = NULL;
        size_t an = 0, bn = 0;
        int stream = seed % 2; /* every other one flushed after each exchange */
        http_test_blk_verify = 1;
        CHECK_INT(skip_run(seed, stream, &a, &an), 0);
        unsigned long after = http_test_blk_skips, lines = http_test_line_skips;
        http_test_blk_skip = 0;
        CHECK_INT(skip_run(seed, stream, &b, &bn), 0);
        http_test_blk_skip = 1;
        http_test_blk_verify = 0;
        CHECK_INT(http_test_blk_skips, after); /* none while off */
        CHECK_INT(http_test_line_skips, lines);
        CHECK(an > 0 && an == bn && !memcmp(a, b, an));
        free(a);
        free(b);
    }
    skipped = http_test_blk_skips - skips0;
    CHECK_INT(http_test_blk_mismatches - bad0, 0);
    /* most answers and requests repeat a block: the path is taken */
    CHECK(skipped > 2000);
    /* and many a start line */
    CHECK(http_test_line_skips - lines0 > 1000);
}

TEST(http_upgrade_refused_parsing_goes_on)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                         "Upgrade: websocket\r\n\r\n");
    /* The client pipelines another request before the answer arrives. */
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    CHECK_INT(f.c->nmessages, 1);
    CHECK_INT(fx_send(&f, DIR_S2C, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n"
                                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
              0);
    CHECK_INT(fx_send(&f, DIR_C2S, req1), 0);
    CHECK_INT(fx_send(&f, DIR_S2C, rsp1), 0);
    CHECK_INT(f.c->nmessages, 6);
    /* The held request is parsed once the refusal is seen, so it is created
     * after the response that refused. */
    struct store_message *ws = msg(&f, 0), *r426 = msg(&f, 1), *next = msg(&f, 2);
    CHECK_INT(ws->upgrade, 0);
    CHECK_STR(next->url, "/next");
    CHECK_INT(next->pipelined, 1);
    CHECK_INT(next->first_packet, 1);
    CHECK_INT(r426->status, 426);
    CHECK_INT(r426->request, ws->id);
    CHECK_INT(msg(&f, 3)->request, next->id);
    CHECK(body_is(msg(&f, 3), "ok", 2));
    CHECK_INT(msg(&f, 5)->request, msg(&f, 4)->id);
    fx_free(&f);
}

TEST(http_connect_tunnel)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    CHECK_INT(fx_send(&f, DIR_C2S, "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443"
                                   "\r\n\r\n"),
              0);
    CHECK_INT(fx_send(&f, DIR_S2C, "HTTP/1.1 200 Connection established\r\n\r\n"), 1);
    CHECK_INT(fx_send_n(&f, DIR_C2S, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 1);
    CHECK_INT(fx_send_n(&f, DIR_S2C, "\x16\x03\x03\x00\x5a\x02", 6), 1);
    CHECK_INT(f.c->nmessages, 2);
    CHECK_STR(msg(&f, 0)->method, "CONNECT");
    CHECK_STR(msg(&f, 0)->url, "example.org:443");
    CHECK_INT(msg(&f, 0)->upgrade, 1);
    CHECK_INT(msg(&f, 1)->upgrade, 1);
    CHECK_INT(msg(&f, 1)->complete, 1);
    CHECK_INT(msg(&f, 1)->request, msg(&f, 0)->id);
    fx_free(&f);
}

TEST(http_connect_refused_parsing_goes_on)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n");
    fx_send(&f, DIR_S2C, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
    CHECK_INT(fx_send(&f, DIR_C2S, req1), 0);
    CHECK_INT(fx_send(&f, DIR_S2C, rsp1), 0);
    CHECK_INT(f.c->nmessages, 4);
    CHECK_INT(msg(&f, 0)->upgrade, 0);
    CHECK_INT(msg(&f, 3)->request, msg(&f, 2)->id);
    fx_free(&f);
}

TEST(http_gap_inside_content_length_body)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_S2C, "HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\nabc");
    /* 40000 body bytes never captured, then the rest of the body and the
     * next response in the packet after the gap. */
    uint32_t pkt = fx_pkt(&f, DIR_S2C, 9997 + 38);
    http_conn_gap(f.h, DIR_S2C, 40000, pkt);
    char tail[10100];
    memset(tail, 'z', 9997);
    memcpy(tail + 9997, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!", 39);
    CHECK_INT(http_conn_data(f.h, DIR_S2C, (const uint8_t *)tail, 9997 + 39, pkt), 0);
    CHECK_INT(f.c->nmessages, 4);
    struct store_message *r = msg(&f, 2);
    CHECK_INT(r->complete, 1);
    CHECK_INT(r->gap_bytes, 40000);
    CHECK_INT(r->body_bytes, 50000);
    CHECK_INT(r->body_truncated, 1);
    CHECK(body_is(r, "abc", 3));
    CHECK(r->error == NULL);
    CHECK_INT(r->last_packet, pkt);
    CHECK_INT(r->packets, 2);
    struct store_message *r2 = msg(&f, 3);
    CHECK_INT(r2->complete, 1);
    CHECK_INT(r2->request, msg(&f, 1)->id);
    CHECK(body_is(r2, "!", 1));
    fx_free(&f);
}

TEST(http_gap_inside_chunk)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_S2C, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123");
    http_conn_gap(f.h, DIR_S2C, 8, fx_pkt(&f, DIR_S2C, 4));
    fx_send(&f, DIR_S2C, "cdef\r\n0\r\n\r\n");
    struct store_message *r = msg(&f, 1);
    CHECK_INT(r->complete, 1);
    CHECK_INT(r->body_bytes, 16);
    CHECK_INT(r->gap_bytes, 8);
    CHECK(r->error == NULL);
    /* A gap reaching past the chunk's data cuts that message (marked); the
     * parser skips to the next status line and goes on from there. */
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_S2C, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab");
    http_conn_gap(f.h, DIR_S2C, 10, fx_pkt(&f, DIR_S2C, 4));
    r = msg(&f, 4);
    CHECK_INT(r->complete, 0);
    CHECK(r->error != NULL);
    CHECK_INT(fx_send(&f, DIR_S2C, "xx\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"), 0);
    CHECK_INT(f.c->nmessages, 6);
    CHECK_INT(msg(&f, 5)->status, 204);
    CHECK_INT(msg(&f, 5)->complete, 1);
    CHECK_INT(msg(&f, 5)->request, msg(&f, 3)->id); /* the cut one answered request 2 */
    CHECK_INT(f.c->stats.http_resyncs[DIR_S2C], 1);
    CHECK_INT(f.c->stats.http_skipped[DIR_S2C], 10 + 9);
    fx_free(&f);
}

TEST(http_gap_in_headers_cuts_message_then_resyncs)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, "GET /x HTTP/1.1\r\nHo");
    http_conn_gap(f.h, DIR_C2S, 100, fx_pkt(&f, DIR_C2S, 10));
    CHECK_INT(f.c->nmessages, 1);
    struct store_message *q = msg(&f, 0);
    CHECK_INT(q->complete, 0);
    CHECK(q->error != NULL);
    CHECK(strstr(q->error, "gap in headers") != NULL);
    /* Bytes that do not start a request line are skipped... */
    CHECK_INT(fx_send(&f, DIR_C2S, "st: a\r\n\r\n"), 0);
    CHECK_INT(f.c->nmessages, 1);
    /* ...until one does. */
    CHECK_INT(fx_send(&f, DIR_C2S, req1), 0);
    CHECK_INT(f.c->nmessages, 2);
    CHECK_INT(msg(&f, 1)->complete, 1);
    CHECK_STR(msg(&f, 1)->method, "GET");
    CHECK_INT(f.c->stats.http_resyncs[DIR_C2S], 1);
    /* The other direction is untouched. */
    CHECK_INT(fx_send(&f, DIR_S2C, rsp1), 0);
    CHECK_INT(msg(&f, 2)->kind, MSG_RESPONSE);
    CHECK_INT(msg(&f, 2)->complete, 1);
    fx_free(&f);
}

TEST(http_gap_between_messages)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_C2S, req1);
    /* The first response is lost whole: the next status line answers the
     * second request, and the first is left without a response. */
    http_conn_gap(f.h, DIR_S2C, strlen(rsp1), fx_pkt(&f, DIR_S2C, 0));
    CHECK_INT(fx_send(&f, DIR_S2C, rsp1), 0);
    CHECK_INT(f.c->nmessages, 3);
    CHECK(msg(&f, 0)->error == NULL);
    CHECK_INT(msg(&f, 0)->response, 0);
    CHECK_INT(msg(&f, 2)->request, msg(&f, 1)->id);
    CHECK_INT(msg(&f, 1)->response, msg(&f, 2)->id);
    CHECK_INT(f.c->stats.http_resyncs[DIR_S2C], 1);
    CHECK_INT(f.c->stats.http_skipped[DIR_S2C], strlen(rsp1));
    /* Requests go on being parsed. */
    CHECK_INT(fx_send(&f, DIR_C2S, req1), 0);
    CHECK_INT(f.c->nmessages, 4);
    fx_free(&f);
}

TEST(http_gap_in_close_delimited_body)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, "GET / HTTP/1.0\r\n\r\n");
    fx_send(&f, DIR_S2C, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst");
    http_conn_gap(f.h, DIR_S2C, 1000, fx_pkt(&f, DIR_S2C, 4));
    CHECK_INT(fx_send(&f, DIR_S2C, "last"), 0);
    http_conn_eof(f.h, DIR_S2C, f.c->npackets - 1);
    struct store_message *r = msg(&f, 1);
    CHECK_INT(r->complete, 1);
    CHECK_INT(r->gap_bytes, 1000);
    CHECK_INT(r->body_bytes, 1009);
    CHECK_INT(r->body_truncated, 1);
    CHECK(body_is(r, "first", 5));
    fx_free(&f);
}

TEST(http_malformed_request)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    CHECK_INT(fx_send(&f, DIR_C2S, req1), 0);
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /x HTTP/1.1\r\nBad Header\r\n\r\n"), 1);
    CHECK_INT(f.c->nmessages, 2);
    struct store_message *q = msg(&f, 1);
    CHECK(q->error != NULL);
    CHECK(strncmp(q->error, "HPE_", 4) == 0);
    CHECK_INT(q->complete, 0);
    CHECK_INT(fx_send(&f, DIR_C2S, req1), 1);
    CHECK_INT(f.c->nmessages, 2);
    /* Garbage from the first byte. */
    struct fx g;
    CHECK(fx_init(&g, 1 << 20) == 0);
    CHECK_INT(fx_send_n(&g, DIR_C2S, "\x16\x03\x01\x00\xa5", 5), 1);
    CHECK_INT(g.c->nmessages, 1);
    CHECK(strstr(msg(&g, 0)->error, "HPE_INVALID_METHOD") != NULL);
    fx_free(&g);
    fx_free(&f);
}

TEST(http_response_delimited_by_close)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, "GET / HTTP/1.0\r\nHost: h\r\n\r\n");
    fx_send(&f, DIR_S2C, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ");
    fx_send(&f, DIR_S2C, "part two");
    struct store_message *r = msg(&f, 1);
    CHECK_INT(r->complete, 0);
    http_conn_eof(f.h, DIR_C2S, f.c->npackets - 1);
    http_conn_eof(f.h, DIR_S2C, f.c->npackets - 1);
    CHECK_INT(r->complete, 1);
    CHECK_INT(r->body_bytes, 18);
    CHECK(body_is(r, "part one, part two", 18));
    CHECK_INT(r->end_us, f.c->packets[2].ts_us);
    CHECK_INT(r->packets, 2);
    fx_free(&f);
}

TEST(http_cut_short_stays_incomplete)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    fx_send(&f, DIR_C2S, req1);
    fx_send(&f, DIR_S2C, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n1234");
    http_conn_eof(f.h, DIR_S2C, f.c->npackets - 1);
    struct store_message *r = msg(&f, 1);
    CHECK_INT(r->complete, 0);
    CHECK(r->error == NULL);
    CHECK_INT(r->body_bytes, 4);
    CHECK(body_is(r, "1234", 4));
    CHECK_INT(r->end_us, f.c->packets[1].ts_us);
    fx_free(&f);
}

TEST(http_chunk_size_overflow)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    /* As in zeek's chunk-2pow64-overflow trace: a chunk of 2^64 bytes would
     * wrap to 0 and let the smuggled request through. */
    CHECK_INT(fx_send(&f, DIR_C2S, "POST / HTTP/1.1\r\nHost: target\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n"
                                   "10000000000000000\r\n\r\n"
                                   "GET /smuggled-chunk-2pow64 HTTP/1.1\r\nHost: target\r\n\r\n"),
              1);
    CHECK_INT(f.c->nmessages, 1);
    CHECK(msg(&f, 0)->error != NULL);
    CHECK(strstr(msg(&f, 0)->error, "HPE_INVALID_CHUNK_SIZE") != NULL);
    fx_free(&f);
}

TEST(http_header_bounds)
{
    struct fx f;
    static char big[HTTP_MAX_HEADERS * 16 + 256];
    CHECK(fx_init(&f, 1 << 20) == 0);
    size_t n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS + 10; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "X-H%d: %d\r\n", i, i);
    n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n");
    CHECK(n < sizeof(big) - 1);
    fx_send(&f, DIR_C2S, big);
    struct store_message *q = msg(&f, 0);
    CHECK_INT(q->complete, 1);
    CHECK_INT(q->nheaders, HTTP_MAX_HEADERS);
    CHECK_INT(q->headers_dropped, 10);
    CHECK_INT(q->header_bytes, n);
    /* The same request again: a block past the bounds is not one to repeat
     * without looking, and the count is the same. */
    fx_send(&f, DIR_C2S, big);
    q = msg(&f, 1);
    CHECK(q != NULL);
    CHECK_INT(q->nheaders, HTTP_MAX_HEADERS);
    CHECK_INT(q->headers_dropped, 10);
    fx_free(&f);
}

TEST(http_09_request)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    /* zeek's http-09 trace: llhttp takes the request; the answer, a bare
     * body with no status line, is an HTTP/0.9 response: all body, until
     * the server closes. */
    CHECK_INT(fx_send(&f, DIR_C2S, "GET /zeek.html\r\n"), 0);
    CHECK_INT(fx_send(&f, DIR_S2C, "<html>\n</html>\n"), 0);
    CHECK_INT(fx_send(&f, DIR_S2C, "more"), 0);
    CHECK_INT(f.c->nmessages, 2);
    CHECK_STR(msg(&f, 0)->method, "GET");
    CHECK_STR(msg(&f, 0)->url, "/zeek.html");
    CHECK(msg(&f, 1)->error == NULL);
    CHECK_INT(msg(&f, 1)->request, msg(&f, 0)->id);
    CHECK_INT(msg(&f, 0)->response, msg(&f, 1)->id);
    http_conn_eof(f.h, DIR_S2C, f.c->npackets - 1);
    CHECK_INT(msg(&f, 1)->complete, 1);
    CHECK_INT(msg(&f, 1)->http_minor, 9);
    CHECK_INT(msg(&f, 1)->header_bytes, 0);
    CHECK_INT(msg(&f, 1)->body_bytes, 19);
    CHECK_INT(msg(&f, 1)->packets, 2);
    CHECK(body_is(msg(&f, 1), "<html>\n</html>\nmore", 19));
    http_conn_eof(f.h, DIR_C2S, f.c->npackets - 1);
    CHECK_INT(msg(&f, 0)->http_major, 0);
    CHECK_INT(msg(&f, 0)->http_minor, 9);
    CHECK_INT(msg(&f, 0)->complete, 1);
    CHECK_INT(msg(&f, 0)->header_bytes, 16);
    /* Both counted in the lifetime totals, once: the response, with no
     * status, as "other". */
    const struct store_totals *t = store_totals(f.st);
    CHECK_INT(t->requests[METHOD_GET], 1);
    CHECK_INT(t->responses[0], 1);
    CHECK_INT(t->responses[2], 0);
    fx_free(&f);
}

TEST(http_looks_like_request_cases)
{
#define LL(s) http_looks_like_request((const uint8_t *)(s), sizeof(s) - 1)
    CHECK_INT(LL("GET / HTTP/1.1\r\n"), 1);
    CHECK_INT(LL("POST /x?y=1 HTTP/1.0\r\nHost: a\r\n"), 1);
    CHECK_INT(LL("M-SEARCH * HTTP/1.1\r\n"), 1);
    CHECK_INT(LL("CONNECT example.org:443 HTTP/1.1\r\n"), 1);
    CHECK_INT(LL("PROPFIND /dav/ HTTP/1.1\r\n"), 1);
    CHECK_INT(LL("GET /zeek.html\r\n"), 1);
    CHECK_INT(LL(""), -1);
    CHECK_INT(LL("GE"), -1);
    CHECK_INT(LL("GET"), -1);
    CHECK_INT(LL("GET "), -1);
    CHECK_INT(LL("GET /index"), -1);
    CHECK_INT(LL("GET / HTT"), -1);
    CHECK_INT(LL("GET / HTTP/"), -1);
    CHECK_INT(LL("get / HTTP/1.1\r\n"), 0);
    CHECK_INT(LL("GETX / HTTP/1.1\r\n"), 0);
    CHECK_INT(LL("HTTP/1.1 200 OK\r\n"), 0);
    CHECK_INT(LL("\x16\x03\x01\x00\xa5\x01"), 0);
    CHECK_INT(LL("SSH-2.0-OpenSSH_9.2\r\n"), 0);
    CHECK_INT(LL("PRI * HTTP/2.0\r\n"), 0);
    CHECK_INT(LL("GET  / HTTP/1.1\r\n"), 1);
    CHECK_INT(LL("CONNECT  mail.example:25 / HTTP/1.0\r\n"), 1);
    CHECK_INT(LL("GET /x HTTP/"), -1);
    CHECK_INT(LL("GET /x HT"), -1);
    /* A long target decides before its end (callers look at 64 bytes). */
    CHECK_INT(LL("GET /v1.41/containers/cc4fc8e49cadbb8bc41437dc2f9979a72293eabc3f0e/attach?s"), 1);
    CHECK_INT(LL("GET /a\tb HTTP/1.1\r\n"), 0);
    CHECK_INT(LL("GET / FTP/1.1\r\n"), 0);
    CHECK_INT(LL("GET /a\x01 HTTP/1.1\r\n"), 0);
    CHECK_INT(LL("POST /x\r\n"), 0);
    CHECK_INT(LL("DESCRIBE rtsp://h/ RTSP/1.0\r\n"), 0);
#undef LL
}

/* xorshift: the same "random" cases on every run. */
static uint32_t rnd_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

TEST(http_mutated_streams_keep_bounds)
{
    static const char *const seeds[] = {req1, rsp1, chunked_rsp, post_continue,
                                        "HTTP/1.1 100 Continue\r\n\r\n",
                                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
                                        "Connection: upgrade\r\n\r\n",
                                        "HTTP/1.0 200 OK\r\nContent-Encoding: gzip\r\n\r\n"
                                        "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"};
    const size_t nseeds = sizeof(seeds) / sizeof(seeds[0]);
    uint32_t s = 0x9e3779b9u;
    uint64_t total = 0, complete = 0, errors = 0;
    for (int round = 0; round < 300; round++) {
        struct fx f;
        uint8_t buf[2048];
        CHECK(fx_init(&f, 64) == 0);
        for (int step = 0; step < 12; step++) {
            int dir = rnd_next(&s) & 1;
            size_t n = 0;
            /* A few whole messages glued together, then a few bytes flipped. */
            for (int k = 0; k < 3; k++) {
                const char *m = seeds[rnd_next(&s) % nseeds];
                size_t ml = strlen(m);
                if (n + ml > sizeof(buf))
                    break;
                memcpy(buf + n, m, ml);
                n += ml;
            }
            for (uint32_t k = rnd_next(&s) % 4; k > 0 && n; k--)
                buf[rnd_next(&s) % n] = (uint8_t)rnd_next(&s);
            size_t off = 0;
            while (off < n) {
                size_t piece = 1 + rnd_next(&s) % 64;
                if (piece > n - off)
                    piece = n - off;
                fx_send_n(&f, dir, buf + off, piece);
                off += piece;
                if (rnd_next(&s) % 16 == 0)
                    http_conn_gap(f.h, dir, 1 + rnd_next(&s) % 5000, fx_pkt(&f, dir, 0));
            }
        }
        http_conn_eof(f.h, DIR_C2S, f.c->npackets - 1);
        http_conn_eof(f.h, DIR_S2C, f.c->npackets - 1);
        for (uint32_t i = 0; i < f.c->nmessages; i++) {
            struct store_message *m = msg(&f, i);
            CHECK(m->body_len <= 64);
            CHECK(m->last_packet < f.c->npackets);
            CHECK(m->first_packet <= m->last_packet);
            CHECK(m->packets <= m->last_packet - m->first_packet + 1);
            CHECK(m->nheaders <= HTTP_MAX_HEADERS);
            CHECK(m->end_us >= m->start_us);
            complete += m->complete;
            errors += m->error != NULL;
        }
        total += f.c->nmessages;
        fx_free(&f);
    }
    /* The cases did reach the parser both ways. */
    CHECK(complete > 100);
    CHECK(errors > 30);
    CHECK(total > complete);
}

/* The connection's JSONL lines, in a string to free; NULL on failure. */
static char *jsonl_of(struct fx *f)
{
    char *out = NULL;
    size_t n = 0;
    FILE *mf = open_memstream(&out, &n);
    if (!mf)
        return NULL;
    int r = export_jsonl_conn(f->st, f->c, mf);
    fclose(mf);
    if (r != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Ids go past 32 bits and stay in order, never 0: a capture left running
 * for days makes more than 2^32 messages (110,000 a second, bench/live's
 * rate, in under 11 hours), and pairing, lookups by id and the outputs
 * depend on them. */
TEST(http_ids_past_32_bits)
{
    struct fx f;
    struct ip_addr ca = {.family = AF_INET, .a = {10, 0, 0, 1}};
    struct ip_addr sa = {.family = AF_INET, .a = {10, 0, 0, 2}};
    const uint64_t big = (uint64_t)UINT32_MAX;
    CHECK(fx_init(&f, 1 << 20) == 0);
    http_conn_free(f.h);
    store_set_next_ids(f.st, big + 1, big - 2);
    f.c = store_conn_new(f.st, &ca, 40001, &sa, 80, f.now);
    CHECK(f.c);
    f.h = http_conn_new(f.st, f.c);
    CHECK(f.h);
    CHECK(f.c->id == big + 1);
    CHECK(export_api_find_conn(f.st, f.c->id) == f.c);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(fx_send(&f, DIR_C2S, req1), 0);
        CHECK_INT(fx_send(&f, DIR_S2C, rsp1), 0);
    }
    CHECK_INT(f.c->nmessages, 6);
    for (uint32_t i = 0; i < 6; i++) {
        struct store_message *m = msg(&f, i), *found = NULL;
        CHECK(m->id == big - 2 + i);
        CHECK(store_conn_message(f.c, m->id) == m);
        CHECK(export_api_find_message(f.st, m->id, &found) == f.c && found == m);
        CHECK(store_packet_msg(f.c, store_conn_pkt(f.c, m->first_packet)) == m->id);
        if (i % 2) {
            CHECK(m->request == msg(&f, i - 1)->id);
            CHECK(msg(&f, i - 1)->response == m->id);
        }
    }
    /* JSONL: the connection's id and the last pair's, whole. */
    char *out = jsonl_of(&f);
    CHECK(out && strstr(out, "\"connection\":4294967296,"));
    CHECK(strstr(out, "\"id\":4294967297,") && strstr(out, "\"response\":4294967298,"));
    free(out);
    fx_free(&f);
}

/* Packet indices are the low 32 bits of a packet's number on its
 * connection: one that streams past 2^32 packets (JSONL, hours at a high
 * rate) wraps them, and lookups, round trips and the JSONL's packet counts
 * go on working across the wrap. */
TEST(http_packet_indices_wrap)
{
    struct fx f;
    CHECK(fx_init(&f, 1 << 20) == 0);
    f.c->pkt_base = (uint64_t)UINT32_MAX - 2; /* as if that many were flushed */
    for (int i = 0; i < 3; i++) {
        CHECK_INT(fx_send(&f, DIR_C2S, req1), 0);
        CHECK_INT(fx_send(&f, DIR_S2C, rsp1), 0);
    }
    CHECK(store_conn_total_packets(f.c) == (uint64_t)UINT32_MAX + 4);
    CHECK_INT(f.c->nmessages, 6);
    for (uint32_t i = 0; i < 6; i++) {
        struct store_message *m = msg(&f, i);
        CHECK_INT(m->first_packet, (uint32_t)(UINT32_MAX - 2 + i));
        CHECK(store_conn_pkt(f.c, m->first_packet) == &f.c->packets[i]);
        CHECK(store_packet_msg(f.c, store_conn_pkt(f.c, m->first_packet)) == m->id);
        CHECK_INT(m->round_trips, 1);
    }
    CHECK(store_conn_pkt(f.c, UINT32_MAX - 3) == NULL); /* before the first held */
    CHECK(store_conn_pkt(f.c, 3) == NULL);              /* after the last */
    char *out = jsonl_of(&f);
    int lines = 0;
    for (const char *p = out; p && (p = strstr(p, "\"packets_c2s\":1,\"packets_s2c\":1,")); p++)
        lines++;
    CHECK_INT(lines, 3);
    free(out);
    fx_free(&f);
}
