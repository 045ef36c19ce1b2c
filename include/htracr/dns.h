/* SPDX-License-Identifier: MIT */
/*
 * dns.h - DNS messages seen on UDP port 53: which names the servers have.
 *
 * A side branch of the pipeline: decode hands UDP/53 payloads here; the
 * parsed message (bounded: names, answers) goes to the store, which pairs
 * queries with answers and names servers by the addresses answered. Only
 * what explains a timeline is kept: the question, A / AAAA / CNAME answers,
 * the response code and the times. Untrusted bytes are read through bounds
 * checks only; compression pointers are followed a bounded number of times.
 */
#ifndef HTRACR_DNS_H
#define HTRACR_DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX 256   /* presentation form, NUL included */
#define DNS_MAX_ANSWERS 16 /* kept; more are counted in nanswers_dropped */

enum { DNS_TYPE_A = 1, DNS_TYPE_CNAME = 5, DNS_TYPE_AAAA = 28 };

struct dns_answer {
    uint16_t type; /* DNS_TYPE_A / AAAA / CNAME */
    uint32_t ttl;
    char name[DNS_NAME_MAX];  /* owner name */
    uint8_t addr[16];         /* A: 4 bytes, AAAA: 16 */
    char cname[DNS_NAME_MAX]; /* CNAME target */
};

struct dns_msg {
    uint16_t id;
    uint8_t response; /* QR bit */
    uint8_t rcode;
    uint8_t truncated; /* TC bit */
    uint16_t qtype;
    char qname[DNS_NAME_MAX]; /* first question, "example.com" (no trailing dot) */
    struct dns_answer answers[DNS_MAX_ANSWERS];
    uint32_t nanswers;         /* kept (A, AAAA, CNAME only) */
    uint32_t nanswers_dropped; /* other types, or past DNS_MAX_ANSWERS */
};

/* Parse one DNS message (UDP payload). 0 with *m filled, or -EINVAL when
 * it is not a well-formed DNS message with at least one question (a
 * response whose answer section is cut short still gives the question
 * and the answers before the cut: 0, with the rest counted as dropped). */
int dns_parse(const uint8_t *p, size_t len, struct dns_msg *m);

/* "NOERROR", "NXDOMAIN", ... for a response code; "RCODE<n>" otherwise
 * (into a static buffer for unknown codes: not thread-safe). */
const char *dns_rcode_name(unsigned rcode);

#endif
