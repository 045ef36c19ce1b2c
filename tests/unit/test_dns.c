/* SPDX-License-Identifier: MIT */
/*
 * test_dns.c - unit tests for dns.c: hand-built messages for queries, A,
 * AAAA and CNAME answers (compressed), NXDOMAIN, every kind of bad name
 * (pointer loops, pointers past the end, reserved label types, names past
 * 255 octets), truncation at every byte, more answers than are kept, escaped
 * bytes and a wrong rdlength; then four real messages taken from a capture
 * of the shared corpus, checked against tshark's reading of them. Every
 * message is parsed from an exactly-sized heap copy, so under
 * -fsanitize=address any read past the end is a crash.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "htracr/dns.h"

/* ---- message builder ---- */

struct mb {
    uint8_t b[4096];
    size_t n;
};

static void mb_u8(struct mb *m, unsigned v)
{
    m->b[m->n++] = (uint8_t)v;
}

static void mb_be16(struct mb *m, unsigned v)
{
    mb_u8(m, (v >> 8) & 0xff);
    mb_u8(m, v & 0xff);
}

static void mb_be32(struct mb *m, uint32_t v)
{
    mb_be16(m, v >> 16);
    mb_be16(m, v & 0xffff);
}

static void mb_put(struct mb *m, const void *d, size_t n)
{
    memcpy(m->b + m->n, d, n);
    m->n += n;
}

/* Labels of a dotted name ("www.example.com"), no terminator: follow with
 * mb_u8(m, 0) or a pointer. */
static void mb_labels(struct mb *m, const char *dotted)
{
    while (*dotted) {
        size_t l = strcspn(dotted, ".");

        mb_u8(m, (unsigned)l);
        mb_put(m, dotted, l);
        dotted += l;
        if (*dotted == '.')
            dotted++;
    }
}

static void mb_name(struct mb *m, const char *dotted)
{
    mb_labels(m, dotted);
    mb_u8(m, 0);
}

static void mb_ptr(struct mb *m, unsigned off)
{
    mb_be16(m, 0xc000 | off);
}

static void mb_header(struct mb *m, unsigned id, unsigned flags, unsigned qd, unsigned an,
                      unsigned ns, unsigned ar)
{
    m->n = 0;
    mb_be16(m, id);
    mb_be16(m, flags);
    mb_be16(m, qd);
    mb_be16(m, an);
    mb_be16(m, ns);
    mb_be16(m, ar);
}

static void mb_question(struct mb *m, const char *dotted, unsigned qtype)
{
    mb_name(m, dotted);
    mb_be16(m, qtype);
    mb_be16(m, 1);
}

/* Type, class IN, ttl and rdlength of a record whose owner name was just
 * written. */
static void mb_rr(struct mb *m, unsigned type, uint32_t ttl, unsigned rdlen)
{
    mb_be16(m, type);
    mb_be16(m, 1);
    mb_be32(m, ttl);
    mb_be16(m, rdlen);
}

#define RESP 0x8180 /* QR, RD, RA, NOERROR */
#define QNAME_OFF 12

/* Parse from an exactly-sized heap copy, so ASan sees any overread. */
static int parse(const uint8_t *b, size_t n, struct dns_msg *m)
{
    uint8_t *copy = malloc(n ? n : 1);
    int r;

    if (!copy)
        abort();
    if (n)
        memcpy(copy, b, n);
    r = dns_parse(copy, n, m);
    free(copy);
    return r;
}

static struct dns_msg msg; /* 8 KiB: keep it off the stack */

/* ---- well-formed messages ---- */

TEST(dns_query)
{
    struct mb m;

    mb_header(&m, 0xbeef, 0x0100, 1, 0, 0, 0);
    mb_question(&m, "www.Example.com", DNS_TYPE_AAAA);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(msg.id, 0xbeef);
    CHECK_INT(msg.response, 0);
    CHECK_INT(msg.truncated, 0);
    CHECK_INT(msg.rcode, 0);
    CHECK_INT(msg.qtype, DNS_TYPE_AAAA);
    CHECK_STR(msg.qname, "www.Example.com"); /* case kept as sent */
    CHECK_INT(msg.nanswers, 0);
    CHECK_INT(msg.nanswers_dropped, 0);
}

TEST(dns_root_query)
{
    struct mb m;

    mb_header(&m, 1, 0, 1, 0, 0, 0);
    mb_u8(&m, 0);
    mb_be16(&m, 2); /* NS */
    mb_be16(&m, 1);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_STR(msg.qname, ".");
    CHECK_INT(msg.qtype, 2);
}

TEST(dns_a_answer)
{
    static const uint8_t addr[4] = {192, 0, 2, 7};
    struct mb m;

    mb_header(&m, 0x1234, RESP | 0x0200, 1, 1, 0, 0); /* TC set too */
    mb_question(&m, "example.org", DNS_TYPE_A);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_A, 300, 4);
    mb_put(&m, addr, 4);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(msg.id, 0x1234);
    CHECK_INT(msg.response, 1);
    CHECK_INT(msg.truncated, 1);
    CHECK_INT(msg.qtype, DNS_TYPE_A);
    CHECK_STR(msg.qname, "example.org");
    CHECK_INT(msg.nanswers, 1);
    CHECK_INT(msg.nanswers_dropped, 0);
    CHECK_INT(msg.answers[0].type, DNS_TYPE_A);
    CHECK_INT(msg.answers[0].ttl, 300);
    CHECK_STR(msg.answers[0].name, "example.org");
    CHECK(memcmp(msg.answers[0].addr, addr, 4) == 0);
    CHECK_STR(msg.answers[0].cname, "");
}

TEST(dns_aaaa_answer)
{
    static const uint8_t addr[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                     0,    0,    0,    0,    0, 0, 0xab, 0xcd};
    struct mb m;

    mb_header(&m, 7, RESP, 1, 1, 0, 0);
    mb_question(&m, "v6.example.org", DNS_TYPE_AAAA);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_AAAA, 0xfffffffful, 16);
    mb_put(&m, addr, 16);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(msg.nanswers, 1);
    CHECK_INT(msg.answers[0].type, DNS_TYPE_AAAA);
    CHECK_INT(msg.answers[0].ttl, 0xfffffffful);
    CHECK_STR(msg.answers[0].name, "v6.example.org");
    CHECK(memcmp(msg.answers[0].addr, addr, 16) == 0);
}

/* www.example.com CNAME cdn.example.com (label + pointer to "example.com"),
 * cdn.example.com CNAME edge.cdn.example.com (pointer into the previous
 * rdata), edge.cdn.example.com A. */
TEST(dns_cname_chain)
{
    struct mb m;
    size_t cdn, edge;

    mb_header(&m, 9, RESP, 1, 3, 0, 0);
    mb_question(&m, "www.example.com", DNS_TYPE_A);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_CNAME, 60, 6);
    cdn = m.n;
    mb_labels(&m, "cdn");
    mb_ptr(&m, QNAME_OFF + 4); /* "example.com" inside the question */
    mb_ptr(&m, (unsigned)cdn);
    mb_rr(&m, DNS_TYPE_CNAME, 61, 7);
    edge = m.n;
    mb_labels(&m, "edge");
    mb_ptr(&m, (unsigned)cdn);
    mb_ptr(&m, (unsigned)edge);
    mb_rr(&m, DNS_TYPE_A, 62, 4);
    mb_be32(&m, 0xc0000201);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(msg.nanswers, 3);
    CHECK_INT(msg.nanswers_dropped, 0);
    CHECK_INT(msg.answers[0].type, DNS_TYPE_CNAME);
    CHECK_STR(msg.answers[0].name, "www.example.com");
    CHECK_STR(msg.answers[0].cname, "cdn.example.com");
    CHECK_INT(msg.answers[0].ttl, 60);
    CHECK_INT(msg.answers[1].type, DNS_TYPE_CNAME);
    CHECK_STR(msg.answers[1].name, "cdn.example.com");
    CHECK_STR(msg.answers[1].cname, "edge.cdn.example.com");
    CHECK_INT(msg.answers[2].type, DNS_TYPE_A);
    CHECK_STR(msg.answers[2].name, "edge.cdn.example.com");
    CHECK_INT(msg.answers[2].ttl, 62);
    CHECK_INT(msg.answers[2].addr[0], 192);
    CHECK_INT(msg.answers[2].addr[3], 1);
}

TEST(dns_nxdomain)
{
    struct mb m;

    mb_header(&m, 3, 0x8183, 1, 0, 1, 0);
    mb_question(&m, "nope.invalid", DNS_TYPE_A);
    /* An SOA in the authority section: ignored, not counted. */
    mb_ptr(&m, QNAME_OFF + 5);
    mb_rr(&m, 6, 900, 3);
    mb_put(&m, "\0\0\0", 3);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(msg.rcode, 3);
    CHECK_STR(dns_rcode_name(msg.rcode), "NXDOMAIN");
    CHECK_STR(msg.qname, "nope.invalid");
    CHECK_INT(msg.nanswers, 0);
    CHECK_INT(msg.nanswers_dropped, 0);
}

TEST(dns_second_question_skipped)
{
    struct mb m;

    mb_header(&m, 4, RESP, 2, 1, 0, 0);
    mb_question(&m, "one.example", DNS_TYPE_A);
    mb_labels(&m, "two");
    mb_ptr(&m, QNAME_OFF + 4);
    mb_be16(&m, DNS_TYPE_AAAA);
    mb_be16(&m, 1);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_A, 1, 4);
    mb_be32(&m, 0x0a000001);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_STR(msg.qname, "one.example");
    CHECK_INT(msg.qtype, DNS_TYPE_A);
    CHECK_INT(msg.nanswers, 1);
    CHECK_STR(msg.answers[0].name, "one.example");
    CHECK_INT(msg.answers[0].addr[0], 10);
}

TEST(dns_other_types_dropped)
{
    struct mb m;

    mb_header(&m, 5, RESP, 1, 4, 0, 0);
    mb_question(&m, "example.net", 255);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, 15, 10, 4); /* MX 10 . */
    mb_be16(&m, 10);
    mb_put(&m, "\0", 1);
    mb_u8(&m, 0); /* padding byte inside rdata: still skipped by rdlength */
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_A, 10, 4);
    mb_be32(&m, 0x01020304);
    mb_ptr(&m, QNAME_OFF); /* class CH: not IN, dropped */
    mb_be16(&m, DNS_TYPE_A);
    mb_be16(&m, 3);
    mb_be32(&m, 10);
    mb_be16(&m, 4);
    mb_be32(&m, 0x05060708);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, 16, 10, 3); /* TXT "hi" */
    mb_put(&m, "\2hi", 3);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(msg.nanswers, 1);
    CHECK_INT(msg.nanswers_dropped, 3);
    CHECK_INT(msg.answers[0].type, DNS_TYPE_A);
    CHECK_INT(msg.answers[0].addr[3], 4);
    CHECK_INT(msg.answers[1].type, 0); /* nothing left behind by dropped ones */
}

/* Chosen behaviour: an A with rdlength != 4 (or AAAA != 16) is skipped by
 * its rdlength and counted as dropped; the records after it still count. */
TEST(dns_a_rdlength_mismatch_dropped)
{
    struct mb m;

    mb_header(&m, 6, RESP, 1, 4, 0, 0);
    mb_question(&m, "example.com", DNS_TYPE_A);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_A, 1, 5);
    mb_put(&m, "\1\2\3\4\5", 5);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_A, 1, 0);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_AAAA, 1, 4);
    mb_be32(&m, 0x01020304);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_A, 2, 4);
    mb_be32(&m, 0x0a0b0c0d);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(msg.nanswers, 1);
    CHECK_INT(msg.nanswers_dropped, 3);
    CHECK_INT(msg.answers[0].ttl, 2);
    CHECK_INT(msg.answers[0].addr[0], 0x0a);
    CHECK_INT(msg.answers[0].addr[3], 0x0d);
}

/* A CNAME whose target does not fill its rdata exactly, or runs past it,
 * is dropped; the next record is still read at rdata + rdlength. */
TEST(dns_cname_rdata_mismatch_dropped)
{
    struct mb m;

    mb_header(&m, 6, RESP, 1, 3, 0, 0);
    mb_question(&m, "example.com", DNS_TYPE_A);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_CNAME, 1, 3); /* rdata: a pointer + 1 spare byte */
    mb_ptr(&m, QNAME_OFF);
    mb_u8(&m, 0);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_CNAME, 1, 3); /* rdata: "\3abc" cut by rdlength */
    mb_put(&m, "\3ab", 3);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_A, 2, 4);
    mb_be32(&m, 0x0a0b0c0d);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(msg.nanswers, 1);
    CHECK_INT(msg.nanswers_dropped, 2);
    CHECK_INT(msg.answers[0].type, DNS_TYPE_A);
    CHECK_INT(msg.answers[0].ttl, 2);
}

TEST(dns_more_answers_than_kept)
{
    struct mb m;
    const unsigned n = DNS_MAX_ANSWERS + 4;

    mb_header(&m, 8, RESP, 1, n, 0, 0);
    mb_question(&m, "many.example", DNS_TYPE_A);
    for (unsigned i = 0; i < n; i++) {
        mb_ptr(&m, QNAME_OFF);
        mb_rr(&m, DNS_TYPE_A, i, 4);
        mb_be32(&m, 0x0a000000u | i);
    }
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(msg.nanswers, DNS_MAX_ANSWERS);
    CHECK_INT(msg.nanswers_dropped, 4);
    for (unsigned i = 0; i < DNS_MAX_ANSWERS; i++) {
        CHECK_INT(msg.answers[i].ttl, i);
        CHECK_INT(msg.answers[i].addr[3], i);
        CHECK_STR(msg.answers[i].name, "many.example");
    }

    /* A malformed record past the kept ones still makes it malformed. */
    m.b[m.n - 16] = 0xff; /* the last owner name: a pointer to 0x3fff */
    m.b[m.n - 15] = 0xff;
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);
}

TEST(dns_escapes)
{
    static const uint8_t label[] = {'A', 0x00, ' ', '.', '\\', 0x7f, 0xff, 'z', '"'};
    struct mb m;

    mb_header(&m, 1, 0, 1, 0, 0, 0);
    mb_u8(&m, sizeof(label));
    mb_put(&m, label, sizeof(label));
    mb_name(&m, "Com");
    mb_be16(&m, 1);
    mb_be16(&m, 1);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_STR(msg.qname, "A\\000\\032\\.\\\\\\127\\255z\".Com");
}

/* ---- malformed messages ---- */

TEST(dns_no_question)
{
    struct mb m;

    mb_header(&m, 1, RESP, 0, 1, 0, 0);
    mb_name(&m, "example.com");
    mb_rr(&m, DNS_TYPE_A, 1, 4);
    mb_be32(&m, 0x01020304);
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);
}

TEST(dns_truncated_header)
{
    struct mb m;

    mb_header(&m, 1, 0, 1, 0, 0, 0);
    mb_question(&m, "a.b", 1);
    for (size_t n = 0; n < 12; n++)
        CHECK_INT(parse(m.b, n, &msg), -EINVAL);
    CHECK_INT(dns_parse(NULL, 0, &msg), -EINVAL);
}

TEST(dns_truncated_question)
{
    struct mb m;

    mb_header(&m, 1, RESP, 1, 1, 0, 0);
    mb_question(&m, "www.example.com", DNS_TYPE_A);
    size_t qend = m.n;
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_A, 1, 4);
    mb_be32(&m, 0x01020304);
    for (size_t n = 12; n < qend; n++) {
        int r = parse(m.b, n, &msg);

        if (r != -EINVAL) {
            test_fail(__FILE__, __LINE__, "cut at %zu of %zu: %d, expected -EINVAL", n, qend, r);
            return;
        }
    }
    /* The question alone is fine: the answer is counted as cut. */
    CHECK_INT(parse(m.b, qend, &msg), 0);
    CHECK_STR(msg.qname, "www.example.com");
    CHECK_INT(msg.nanswers, 0);
    CHECK_INT(msg.nanswers_dropped, 1);
}

/* Every cut inside the answer section keeps the records before it. */
TEST(dns_answer_cut_mid_record)
{
    struct mb m;
    size_t rec_end[3];

    mb_header(&m, 2, RESP, 1, 3, 0, 0);
    mb_question(&m, "www.example.com", DNS_TYPE_A);
    size_t qend = m.n;
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_CNAME, 5, 6);
    size_t cdn = m.n;
    mb_labels(&m, "cdn");
    mb_ptr(&m, QNAME_OFF + 4);
    rec_end[0] = m.n;
    mb_name(&m, "cdn.example.com"); /* uncompressed owner */
    mb_rr(&m, DNS_TYPE_A, 6, 4);
    mb_be32(&m, 0xc0000202);
    rec_end[1] = m.n;
    mb_ptr(&m, (unsigned)cdn);
    mb_rr(&m, DNS_TYPE_AAAA, 7, 16);
    for (int i = 0; i < 16; i++)
        mb_u8(&m, i);
    rec_end[2] = m.n;

    for (size_t n = qend; n <= m.n; n++) {
        unsigned whole = 0;
        int r = parse(m.b, n, &msg);

        while (whole < 3 && rec_end[whole] <= n)
            whole++;
        if (r != 0 || msg.nanswers != whole || msg.nanswers_dropped != 3 - whole) {
            test_fail(__FILE__, __LINE__, "cut at %zu: r %d, kept %u dropped %u, expected %u/%u",
                      n, r, msg.nanswers, msg.nanswers_dropped, whole, 3 - whole);
            return;
        }
        CHECK_STR(msg.qname, "www.example.com");
        if (whole >= 1)
            CHECK_STR(msg.answers[0].cname, "cdn.example.com");
        if (whole >= 2)
            CHECK_STR(msg.answers[1].name, "cdn.example.com");
        if (whole < 3)
            CHECK_INT(msg.answers[whole].type, 0); /* no half record */
    }
    CHECK_INT(msg.answers[2].addr[15], 15);
}

TEST(dns_pointer_loops)
{
    struct mb m;

    /* The question's name points at itself. */
    mb_header(&m, 1, 0, 1, 0, 0, 0);
    mb_ptr(&m, QNAME_OFF);
    mb_be16(&m, 1);
    mb_be16(&m, 1);
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);

    /* A label, then a pointer back to that label. */
    mb_header(&m, 1, 0, 1, 0, 0, 0);
    mb_labels(&m, "abc");
    mb_ptr(&m, QNAME_OFF);
    mb_be16(&m, 1);
    mb_be16(&m, 1);
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);

    /* Two pointers pointing at each other, in an answer: the forward one
     * is refused before any loop can start. */
    mb_header(&m, 1, RESP, 1, 1, 0, 0);
    mb_question(&m, "x.example", 1);
    size_t a = m.n;
    mb_ptr(&m, (unsigned)a + 2);
    mb_ptr(&m, (unsigned)a);
    mb_rr(&m, DNS_TYPE_A, 1, 4);
    mb_be32(&m, 0);
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);

    /* A loop reached through a good pointer: a TXT record (dropped, its
     * rdata never read as a name) holds 'y' + a pointer back to the 'y';
     * the next owner name points (backwards, legally) at that 'y'. */
    mb_header(&m, 1, RESP, 1, 2, 0, 0);
    mb_question(&m, "x.example", 1);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, 16, 1, 4);
    size_t y = m.n;
    mb_labels(&m, "y");
    mb_ptr(&m, (unsigned)y);
    mb_ptr(&m, (unsigned)y);
    mb_rr(&m, DNS_TYPE_A, 1, 4);
    mb_be32(&m, 0);
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);
    m.b[y + 2] = 0; /* the same with the loop replaced by a root label: fine */
    m.b[y + 3] = 0;
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(msg.nanswers, 1);
    CHECK_STR(msg.answers[0].name, "y");

    /* A CNAME target pointing at itself. */
    mb_header(&m, 1, RESP, 1, 1, 0, 0);
    mb_question(&m, "x.example", 1);
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_CNAME, 1, 2);
    mb_ptr(&m, (unsigned)m.n);
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);
}

TEST(dns_pointer_past_end)
{
    struct mb m;

    mb_header(&m, 1, 0, 1, 0, 0, 0);
    mb_ptr(&m, 0x3fff);
    mb_be16(&m, 1);
    mb_be16(&m, 1);
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);

    /* In an answer it is malformed too, not a cut: pointers only go back. */
    mb_header(&m, 1, RESP, 1, 1, 0, 0);
    mb_question(&m, "x.example", 1);
    mb_ptr(&m, (unsigned)m.n + 100);
    mb_rr(&m, DNS_TYPE_A, 1, 4);
    mb_be32(&m, 0);
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);
}

TEST(dns_bad_label_types)
{
    struct mb m;

    /* 64 and up: the top bits 01 / 10 are extended and reserved label
     * types, never a length; 63 is the longest label. */
    for (unsigned l = 63; l <= 0xbf; l++) {
        mb_header(&m, 1, 0, 1, 0, 0, 0);
        mb_u8(&m, l);
        for (unsigned i = 0; i < l; i++)
            mb_u8(&m, 'a');
        mb_u8(&m, 0);
        mb_be16(&m, 1);
        mb_be16(&m, 1);
        int r = parse(m.b, m.n, &msg);

        if (r != (l == 63 ? 0 : -EINVAL)) {
            test_fail(__FILE__, __LINE__, "label length %u: %d", l, r);
            return;
        }
    }
    mb_header(&m, 1, 0, 1, 0, 0, 0);
    mb_u8(&m, 63);
    for (unsigned i = 0; i < 63; i++)
        mb_u8(&m, 'a');
    mb_u8(&m, 0);
    mb_be16(&m, 1);
    mb_be16(&m, 1);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(strlen(msg.qname), 63);
}

/* Build a name of `labels` labels of `each` bytes of `c`, then a final
 * label of `last` bytes (none if 0): wire length labels*(each+1) +
 * (last ? last+1 : 0) + 1. */
static void mb_long_name(struct mb *m, unsigned labels, unsigned each, unsigned last, uint8_t c)
{
    for (unsigned k = 0; k < labels; k++) {
        mb_u8(m, each);
        for (unsigned i = 0; i < each; i++)
            mb_u8(m, c);
    }
    if (last) {
        mb_u8(m, last);
        for (unsigned i = 0; i < last; i++)
            mb_u8(m, c);
    }
    mb_u8(m, 0);
}

TEST(dns_name_length_limits)
{
    struct mb m;

    /* 255 octets on the wire: the longest legal name, 253 characters. */
    mb_header(&m, 1, 0, 1, 0, 0, 0);
    mb_long_name(&m, 3, 63, 61, 'x');
    mb_be16(&m, 1);
    mb_be16(&m, 1);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(strlen(msg.qname), 253);

    /* 256 octets: too long. */
    mb_header(&m, 1, 0, 1, 0, 0, 0);
    mb_long_name(&m, 3, 63, 62, 'x');
    mb_be16(&m, 1);
    mb_be16(&m, 1);
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);

    /* Too long only through compression: 200 octets of labels in the
     * question, then an answer adding 63 + 1 octets before pointing to it. */
    mb_header(&m, 1, RESP, 1, 1, 0, 0);
    mb_long_name(&m, 3, 63, 6, 'q');
    mb_be16(&m, 1);
    mb_be16(&m, 1);
    mb_long_name(&m, 1, 63, 0, 'r');
    m.n--; /* the root byte: a pointer ends this name instead */
    mb_ptr(&m, QNAME_OFF);
    mb_rr(&m, DNS_TYPE_A, 1, 4);
    mb_be32(&m, 0);
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);

    /* Legal on the wire but over DNS_NAME_MAX once escaped: as the
     * question it cannot be shown (-EINVAL); as an answer's name the
     * record is dropped and the next one kept. */
    mb_header(&m, 1, 0, 1, 0, 0, 0);
    mb_long_name(&m, 3, 63, 61, 0x01);
    mb_be16(&m, 1);
    mb_be16(&m, 1);
    CHECK_INT(parse(m.b, m.n, &msg), -EINVAL);

    mb_header(&m, 1, RESP, 1, 2, 0, 0);
    mb_question(&m, "ok.example", 1);
    mb_long_name(&m, 1, 63, 0, 0x01); /* 63 * 4 = 252 characters: fits */
    mb_rr(&m, DNS_TYPE_A, 1, 4);
    mb_be32(&m, 0x01010101);
    mb_long_name(&m, 1, 64 - 1, 1, 0x01); /* 252 + 1 + 4: does not */
    mb_rr(&m, DNS_TYPE_A, 2, 4);
    mb_be32(&m, 0x02020202);
    CHECK_INT(parse(m.b, m.n, &msg), 0);
    CHECK_INT(msg.nanswers, 1);
    CHECK_INT(msg.nanswers_dropped, 1);
    CHECK_INT(strlen(msg.answers[0].name), 252);
    CHECK_INT(msg.answers[0].addr[0], 1);
}

TEST(dns_rcode_names)
{
    static const char *const want[] = {"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN",
                                       "NOTIMP",   "REFUSED", "YXDOMAIN", "YXRRSET",
                                       "NXRRSET",  "NOTAUTH", "NOTZONE"};

    for (unsigned i = 0; i < 11; i++)
        CHECK_STR(dns_rcode_name(i), want[i]);
    CHECK_STR(dns_rcode_name(11), "RCODE11");
    CHECK_STR(dns_rcode_name(15), "RCODE15");
    CHECK_STR(dns_rcode_name(4000000000u), "RCODE4000000000");
}

/* ---- real messages ----
 *
 * UDP payloads of frames 19, 20, 21 and 49 of zeek/wikipedia/wikipedia.pcap
 * in the shared corpus (../shared/corpus, from zeek's test traces), taken
 * with `tshark -r wikipedia.pcap -T fields -e udp.payload`. The expected
 * values are what `tshark -T fields -e dns.*` reads from the same frames. */

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;

    while (hex[0] && hex[1] && n < cap) {
        unsigned v;

        if (sscanf(hex, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

static const char real_query_a[] = /* frame 20: A upload.wikimedia.org */
    "65f0010000010000000000000675706c6f61640977696b696d65646961036f72670000010001";

static const char real_answer_a[] = /* frame 21 */
    "65f0818000010002000300030675706c6f61640977696b696d65646961036f72670000010001c00c"
    "000500010000007c000f0675706c6f616405706d747061c013c032000100010000086c0004d05098"
    "03c013000200010000c0480006036e7331c013c013000200010000c0480006036e7332c013c01300"
    "0200010000c0480006036e7330c013c081000100010000085d0004d0509882c05d00010001000008"
    "5d0004d050988ec06f000100010000085d00045bc6ae04";

static const char real_answer_cnames[] = /* frame 49: A meta.wikimedia.org */
    "423a81800001000300030003046d6574610977696b696d65646961036f72670000010001c00c0005"
    "0001000002d300070474657874c011c0300005000100000251000d047465787405706d747061c011"
    "c043000100010000085d0004d0509802c011000200010000c0480006036e7331c011c01100020001"
    "0000c0480006036e7330c011c011000200010000c0480006036e7332c011c07e000100010000085d"
    "0004d0509882c06c000100010000085d0004d050988ec090000100010000085d00045bc6ae04";

static const char real_nxdomain[] = /* frame 19: AAAA upload.wikimedia.org.ncsa.uiuc.edu */
    "673c858300010000000100000675706c6f61640977696b696d65646961036f7267046e6373610475"
    "6975630365647500001c0001c02100060001000003840023036e7330c021066e6574646576c02100"
    "0063e300000e100000038400093a8000000384";

TEST(dns_real_query)
{
    uint8_t b[512];
    size_t n = unhex(real_query_a, b, sizeof(b));

    CHECK_INT(n, 38);
    CHECK_INT(parse(b, n, &msg), 0);
    CHECK_INT(msg.id, 0x65f0);
    CHECK_INT(msg.response, 0);
    CHECK_INT(msg.qtype, DNS_TYPE_A);
    CHECK_STR(msg.qname, "upload.wikimedia.org");
    CHECK_INT(msg.nanswers + msg.nanswers_dropped, 0);
}

TEST(dns_real_answer_cname_a)
{
    uint8_t b[512];
    size_t n = unhex(real_answer_a, b, sizeof(b));

    CHECK_INT(n, 183);
    CHECK_INT(parse(b, n, &msg), 0);
    CHECK_INT(msg.id, 0x65f0);
    CHECK_INT(msg.response, 1);
    CHECK_INT(msg.rcode, 0);
    CHECK_STR(msg.qname, "upload.wikimedia.org");
    CHECK_INT(msg.nanswers, 2); /* the NS and glue A records are not answers */
    CHECK_INT(msg.nanswers_dropped, 0);
    CHECK_INT(msg.answers[0].type, DNS_TYPE_CNAME);
    CHECK_STR(msg.answers[0].name, "upload.wikimedia.org");
    CHECK_STR(msg.answers[0].cname, "upload.pmtpa.wikimedia.org");
    CHECK_INT(msg.answers[0].ttl, 124);
    CHECK_INT(msg.answers[1].type, DNS_TYPE_A);
    CHECK_STR(msg.answers[1].name, "upload.pmtpa.wikimedia.org");
    CHECK_INT(msg.answers[1].ttl, 2156);
    static const uint8_t a[4] = {208, 80, 152, 3};
    CHECK(memcmp(msg.answers[1].addr, a, 4) == 0);
}

TEST(dns_real_answer_two_cnames)
{
    uint8_t b[512];
    size_t n = unhex(real_answer_cnames, b, sizeof(b));

    CHECK_INT(n, 198);
    CHECK_INT(parse(b, n, &msg), 0);
    CHECK_INT(msg.id, 0x423a);
    CHECK_STR(msg.qname, "meta.wikimedia.org");
    CHECK_INT(msg.nanswers, 3);
    CHECK_STR(msg.answers[0].name, "meta.wikimedia.org");
    CHECK_STR(msg.answers[0].cname, "text.wikimedia.org");
    CHECK_INT(msg.answers[0].ttl, 723);
    CHECK_STR(msg.answers[1].name, "text.wikimedia.org");
    CHECK_STR(msg.answers[1].cname, "text.pmtpa.wikimedia.org");
    CHECK_INT(msg.answers[1].ttl, 593);
    CHECK_STR(msg.answers[2].name, "text.pmtpa.wikimedia.org");
    CHECK_INT(msg.answers[2].ttl, 2141);
    static const uint8_t a[4] = {208, 80, 152, 2};
    CHECK(memcmp(msg.answers[2].addr, a, 4) == 0);
}

TEST(dns_real_nxdomain)
{
    uint8_t b[512];
    size_t n = unhex(real_nxdomain, b, sizeof(b));

    CHECK_INT(n, 99);
    CHECK_INT(parse(b, n, &msg), 0);
    CHECK_INT(msg.id, 0x673c);
    CHECK_INT(msg.rcode, 3);
    CHECK_STR(dns_rcode_name(msg.rcode), "NXDOMAIN");
    CHECK_INT(msg.qtype, DNS_TYPE_AAAA);
    CHECK_STR(msg.qname, "upload.wikimedia.org.ncsa.uiuc.edu");
    CHECK_INT(msg.nanswers + msg.nanswers_dropped, 0);
}

/* Every prefix and every single-byte change of the real messages: 0 or
 * -EINVAL, names always terminated, counts within bounds (and under ASan,
 * no read outside the copy). */
TEST(dns_real_mutations)
{
    const char *const all[] = {real_query_a, real_answer_a, real_answer_cnames, real_nxdomain};
    static const uint8_t vals[] = {0x00, 0x01, 0x3f, 0x40, 0x80, 0xc0, 0xc1, 0xff};
    uint8_t b[512];

    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
        size_t n = unhex(all[k], b, sizeof(b));

        for (size_t cut = 0; cut <= n; cut++) {
            int r = parse(b, cut, &msg);

            CHECK(r == 0 || r == -EINVAL);
            CHECK(r == -EINVAL || cut >= 12);
        }
        for (size_t i = 0; i < n; i++) {
            uint8_t keep = b[i];

            for (size_t v = 0; v < sizeof(vals); v++) {
                b[i] = vals[v];
                int r = parse(b, n, &msg);

                CHECK(r == 0 || r == -EINVAL);
                CHECK(msg.nanswers <= DNS_MAX_ANSWERS);
                CHECK(memchr(msg.qname, 0, DNS_NAME_MAX) != NULL);
                for (uint32_t j = 0; j < msg.nanswers; j++) {
                    CHECK(memchr(msg.answers[j].name, 0, DNS_NAME_MAX) != NULL);
                    CHECK(memchr(msg.answers[j].cname, 0, DNS_NAME_MAX) != NULL);
                }
            }
            b[i] = keep;
        }
    }
}
