/* SPDX-License-Identifier: MIT */
/*
 * dns.c - the DNS message parser behind dns.h.
 *
 * A side branch of the pipeline: decode hands it the payload of a UDP
 * datagram to or from port 53, and the store keeps what comes out (the
 * first question, the A / AAAA / CNAME answers, the response code) to name
 * servers by the addresses they were answered with. Everything it reads is
 * untrusted: every read is bounds-checked against the datagram, names are
 * bounded on the wire (255 octets, RFC 1035 3.1) and in presentation form
 * (DNS_NAME_MAX), and compression pointers must point strictly before the
 * run of labels they end, which rules out loops, with a hop limit on top.
 *
 * Names come out in presentation form as dig shows them, minus the final
 * dot: case as sent, "." and "\" inside a label escaped with a backslash,
 * bytes outside 0x21..0x7e as \DDD (decimal); the root name is ".".
 *
 * What is malformed and what is merely cut short are kept apart: a
 * datagram that ends inside the answer section (a snap length, a lost
 * fragment) still gives the question and the answers before the cut, the
 * rest counted in nanswers_dropped; a bad label or pointer anywhere, or a
 * message without a complete first question, is -EINVAL. An A or AAAA
 * record whose rdlength is not 4 or 16, or a CNAME whose target does not
 * fill its rdata exactly, is skipped by its rdlength and counted as dropped
 * (the rest of the message is still well delimited); so is an answer of a
 * class other than IN and one whose name does not fit DNS_NAME_MAX once
 * escaped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "htracr/dns.h"

#define DNS_HDR_LEN 12
#define DNS_WIRE_NAME_MAX 255 /* RFC 1035 3.1, length octets included */
#define DNS_PTR_HOPS 128      /* more than a legal name can use */
#define DNS_CLASS_IN 1

/* Name reader results besides 0 and -EINVAL: the datagram ended inside
 * the name, or the name is well formed but too long once escaped. */
#define DNS_ECUT (-ENODATA)
#define DNS_ELONG (-ENAMETOOLONG)

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Append one label byte in presentation form; 0, or -1 when it does not
 * fit (out keeps room for the NUL). */
static int name_put(char *out, size_t *o, uint8_t b)
{
    char tmp[5];
    size_t n;

    if (b == '.' || b == '\\') {
        tmp[0] = '\\';
        tmp[1] = (char)b;
        n = 2;
    } else if (b < 0x21 || b > 0x7e) {
        snprintf(tmp, sizeof(tmp), "\\%03u", b);
        n = 4;
    } else {
        tmp[0] = (char)b;
        n = 1;
    }
    if (*o + n > DNS_NAME_MAX - 1)
        return -1;
    memcpy(out + *o, tmp, n);
    *o += n;
    return 0;
}

/* Read the name at p[off] into out (presentation form, NUL-terminated even
 * on error) and set *end to the offset just past it where it sits (past
 * the first pointer when compressed). 0, DNS_ECUT, DNS_ELONG (*end is
 * valid: the name can be skipped) or -EINVAL. */
static int dns_name(const uint8_t *p, size_t len, size_t off, char *out, size_t *end)
{
    size_t pos = off, run = off, o = 0, wire = 0;
    unsigned hops = 0;
    int jumped = 0, toolong = 0;

    out[0] = '\0';
    for (;;) {
        uint8_t c;

        if (pos >= len)
            return DNS_ECUT;
        c = p[pos];
        if ((c & 0xc0) == 0xc0) {
            size_t target;

            if (pos + 2 > len)
                return DNS_ECUT;
            target = (size_t)(c & 0x3f) << 8 | p[pos + 1];
            /* Strictly before the labels that led here: each hop goes
             * further back, so no loop can form. */
            if (target >= run || ++hops > DNS_PTR_HOPS)
                return -EINVAL;
            if (!jumped)
                *end = pos + 2;
            jumped = 1;
            pos = run = target;
            continue;
        }
        if (c & 0xc0) /* 0x40 extended label types (RFC 6891), 0x80 reserved */
            return -EINVAL;
        wire += 1 + (size_t)c;
        if (wire > DNS_WIRE_NAME_MAX)
            return -EINVAL;
        if (c == 0)
            break;
        if (len - pos - 1 < c)
            return DNS_ECUT;
        if (!toolong && o > 0 && o + 1 > DNS_NAME_MAX - 1)
            toolong = 1;
        if (!toolong && o > 0)
            out[o++] = '.';
        for (size_t i = 0; i < c && !toolong; i++)
            if (name_put(out, &o, p[pos + 1 + i]) < 0)
                toolong = 1;
        out[o] = '\0';
        pos += 1 + (size_t)c;
    }
    if (!jumped)
        *end = pos + 1;
    if (toolong) {
        out[0] = '\0';
        return DNS_ELONG;
    }
    if (o == 0) {
        out[0] = '.';
        out[1] = '\0';
    }
    return 0;
}

/* Parse one answer record at p[*off]. 1 kept into a, 0 skipped (counted
 * as dropped by the caller), DNS_ECUT or -EINVAL. *off moves past it. */
static int dns_rr(const uint8_t *p, size_t len, size_t *off, struct dns_answer *a)
{
    size_t pos, rdata, rdlen, end;
    uint16_t type, class;
    int err, name_err;

    name_err = dns_name(p, len, *off, a->name, &pos);
    if (name_err == DNS_ECUT || name_err == -EINVAL)
        return name_err;
    if (len - pos < 10)
        return DNS_ECUT;
    type = rd16(p + pos);
    class = rd16(p + pos + 2);
    a->ttl = rd32(p + pos + 4);
    rdlen = rd16(p + pos + 8);
    rdata = pos + 10;
    if (len - rdata < rdlen)
        return DNS_ECUT;
    *off = rdata + rdlen;
    a->type = type;
    if (name_err == DNS_ELONG || class != DNS_CLASS_IN)
        return 0;

    switch (type) {
    case DNS_TYPE_A:
    case DNS_TYPE_AAAA:
        if (rdlen != (type == DNS_TYPE_A ? 4u : 16u))
            return 0;
        memcpy(a->addr, p + rdata, rdlen);
        return 1;
    case DNS_TYPE_CNAME:
        /* Bounded by the rdata, so the target cannot borrow bytes of the
         * next record; pointers may still reach back anywhere before. */
        err = dns_name(p, rdata + rdlen, rdata, a->cname, &end);
        if (err == -EINVAL)
            return err;
        if (err < 0 || end != rdata + rdlen)
            return 0;
        return 1;
    default: return 0;
    }
}

int dns_parse(const uint8_t *p, size_t len, struct dns_msg *m)
{
    uint16_t flags, qdcount, ancount;
    size_t off;
    int err;

    memset(m, 0, sizeof(*m));
    if (!p || len < DNS_HDR_LEN)
        return -EINVAL;
    m->id = rd16(p);
    flags = rd16(p + 2);
    m->response = (flags >> 15) & 1;
    m->truncated = (flags >> 9) & 1;
    m->rcode = flags & 0xf;
    qdcount = rd16(p + 4);
    ancount = rd16(p + 6);
    if (qdcount == 0)
        return -EINVAL;

    /* The first question must be whole: without it there is nothing to
     * pair or show. */
    err = dns_name(p, len, DNS_HDR_LEN, m->qname, &off);
    if (err < 0 || len - off < 4) {
        m->qname[0] = '\0';
        return -EINVAL;
    }
    m->qtype = rd16(p + off);
    off += 4;

    /* Further questions (never seen in practice) are only skipped. */
    for (unsigned i = 1; i < qdcount; i++) {
        char skip[DNS_NAME_MAX];

        err = dns_name(p, len, off, skip, &off);
        if (err == -EINVAL)
            return err;
        if (err == DNS_ECUT || len - off < 4) {
            m->nanswers_dropped = ancount;
            return 0;
        }
        off += 4;
    }

    for (unsigned i = 0; i < ancount; i++) {
        struct dns_answer spare;
        /* Past DNS_MAX_ANSWERS a record is still parsed, into a spare:
         * it must be skipped, and a malformed one is still malformed. */
        struct dns_answer *a = m->nanswers < DNS_MAX_ANSWERS ? &m->answers[m->nanswers] : &spare;

        err = dns_rr(p, len, &off, a);
        if (err == -EINVAL)
            return err;
        if (err == 1 && a != &spare) {
            m->nanswers++;
            continue;
        }
        if (a != &spare)
            memset(a, 0, sizeof(*a));
        if (err == DNS_ECUT) {
            m->nanswers_dropped += ancount - i;
            return 0;
        }
        m->nanswers_dropped++;
    }
    return 0;
}

const char *dns_rcode_name(unsigned rcode)
{
    static const char *const names[] = {
        "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",
    };
    static char buf[sizeof("RCODE4294967295")];

    if (rcode < sizeof(names) / sizeof(names[0]))
        return names[rcode];
    snprintf(buf, sizeof(buf), "RCODE%u", rcode);
    return buf;
}
