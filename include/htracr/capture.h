/* SPDX-License-Identifier: MIT */
/*
 * capture.h - one interface for every capture source.
 *
 * First stage of the pipeline. A source delivers records (timestamp, link
 * type, bytes, wire length) and decodes nothing. Sources: a capture file
 * (pcap, pcapng, either gzip'd), and, with live capture, libpcap and the eBPF
 * ring buffer. Each backend fills a private table of operations
 * (capture_ops); callers only see the opaque struct capture.
 */
#ifndef HTRACR_CAPTURE_H
#define HTRACR_CAPTURE_H

#include <stdint.h>
#include <stddef.h>

#define CAPTURE_ERRBUF 256

/* Link types we decode (pcap LINKTYPE_* numbers). */
enum {
    LINK_NULL = 0,       /* BSD loopback: 4-byte AF in host order of the writer */
    LINK_ETHERNET = 1,
    LINK_RAW = 101,      /* raw IPv4 or IPv6 */
    LINK_LOOP = 108,     /* OpenBSD loopback: AF in network order */
    LINK_LINUX_SLL = 113,
    LINK_IPV4 = 228,
    LINK_IPV6 = 229,
    LINK_LINUX_SLL2 = 276,
};

/* One captured packet. data is borrowed: valid until the next capture_next()
 * or capture_close() on the same handle. */
struct capture_rec {
    int64_t ts_ns;      /* wall clock, ns since the Unix epoch */
    int linktype;       /* LINK_* */
    const uint8_t *data;
    uint32_t caplen;    /* bytes in data */
    uint32_t wirelen;   /* length on the wire (>= caplen) */
};

struct capture_stats {
    uint64_t records;   /* records delivered */
    uint64_t bytes;     /* captured bytes delivered */
    uint64_t dropped;   /* lost by the source (kernel, ring), when known */
    uint64_t truncated_records; /* file records cut short by a truncated file */
    uint64_t bad_timestamps;    /* times outside 1970..2255, clamped */
};

struct capture;

/* Open a capture file: pcap or pcapng, optionally gzip-compressed (detected by
 * magic, not by name); "-" reads standard input. Returns NULL with a one-line
 * reason in errbuf (naming the file) on failure. */
struct capture *capture_open_file(const char *path, char errbuf[CAPTURE_ERRBUF]);

/* Open a capture held in memory (pcap or pcapng, optionally gzip'd); the
 * bytes are borrowed until capture_close(). Used by the fuzzer and tests. */
struct capture *capture_open_mem(const void *data, size_t len, char errbuf[CAPTURE_ERRBUF]);

/* Next record. Returns 1 with *rec filled, 0 at the end, or a negative errno
 * with a reason in errbuf (the records read so far remain valid: a truncated
 * file gives every whole record, then an error). */
int capture_next(struct capture *cap, struct capture_rec *rec, char errbuf[CAPTURE_ERRBUF]);

void capture_get_stats(const struct capture *cap, struct capture_stats *st);

/* Human-readable source description, e.g. "file:trace.pcap". */
const char *capture_describe(const struct capture *cap);

/* Close; capture_close(NULL) is a no-op. */
void capture_close(struct capture *cap);

/* ---- backend interface (capture_*.c only) ---- */
struct capture_ops {
    int (*next)(struct capture *cap, struct capture_rec *rec, char *errbuf);
    void (*close)(struct capture *cap);
};

struct capture {
    const struct capture_ops *ops;
    struct capture_stats stats;
    char desc[128];
    void *priv;
};

#endif
