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
#include <sys/types.h>
#include <stddef.h>

#define CAPTURE_ERRBUF 256

/* Link types we decode (pcap LINKTYPE_* numbers). */
enum {
    LINK_NULL = 0, /* BSD loopback: 4-byte AF in host order of the writer */
    LINK_ETHERNET = 1,
    LINK_RAW = 101,  /* raw IPv4 or IPv6 */
    LINK_LOOP = 108, /* OpenBSD loopback: AF in network order */
    LINK_LINUX_SLL = 113,
    LINK_IPV4 = 228,
    LINK_IPV6 = 229,
    LINK_LINUX_SLL2 = 276,
};

/* One captured packet. data is borrowed: valid until the next capture_next()
 * or capture_close() on the same handle. */
struct capture_rec {
    int64_t ts_ns; /* wall clock, ns since the Unix epoch */
    int linktype;  /* LINK_* */
    const uint8_t *data;
    uint32_t caplen;  /* bytes in data */
    uint32_t wirelen; /* length on the wire (>= caplen) */
    uint32_t skipped; /* of the missing bytes (wirelen - caplen), TCP payload
                       * the filter left out on purpose (body skip): known,
                       * not lost. 0 from files and libpcap. */
};

struct capture_stats {
    uint64_t records;           /* records delivered */
    uint64_t bytes;             /* captured bytes delivered */
    uint64_t dropped;           /* lost by the source (kernel, ring), when known */
    uint64_t truncated_records; /* file records cut short by a truncated file */
    uint64_t bad_timestamps;    /* times outside 1970..2255, clamped */
    /* live sources; dropped = ring_drops + socket_drops */
    uint64_t ring_drops;    /* eBPF: ring buffer reservations that failed */
    uint64_t socket_drops;  /* kernel socket / libpcap drops */
    uint64_t skipped_bytes; /* payload bytes left out by body skipping */
    uint64_t filtered;      /* packets the kernel filter passed to us, when known */
    uint64_t resp_wakes;    /* eBPF: records of a response's first segment that woke
                             * the reader at once (at most one per CPU per 10 ms) */
};

/* Live capture. */
enum capture_backend { CAPTURE_AUTO = 0, CAPTURE_BPF, CAPTURE_PCAP };

/* --buffer's default, either backend: the eBPF ring or libpcap's kernel ring. */
#define CAPTURE_DEFAULT_BUFFER (32u << 20)

/* Where the bpf backend attaches its filter (the pcap backend ignores it). */
enum capture_attach {
    CAPTURE_ATTACH_AUTO,   /* tc where it sees what a packet socket would, else socket */
    CAPTURE_ATTACH_SOCKET, /* an AF_PACKET socket's filter */
    CAPTURE_ATTACH_TC,     /* TCX links on the interface's ingress and egress (Linux 6.6+) */
};

struct capture_live_opts {
    const char *iface;     /* NULL or "any": every interface */
    const uint16_t *ports; /* TCP ports to capture (either end) */
    int nports;
    int dns;                    /* also UDP port 53 */
    uint32_t snaplen;           /* 0: whole packets (262144) */
    size_t buffer_bytes;        /* ring / kernel buffer; 0: CAPTURE_DEFAULT_BUFFER */
    int enabled;                /* capture from the start (else after set_enabled) */
    enum capture_attach attach; /* bpf backend: where its filter runs */
};

/* A hint from HTTP: payload of the flow direction (saddr:sport -> daddr:dport,
 * addresses in network order, 4 or 16 bytes) from absolute TCP sequence
 * number from_seq up to until_seq (exclusive) will not be kept, so the
 * kernel filter may send headers only for segments wholly inside it. */
struct capture_skip {
    uint8_t family; /* AF_INET / AF_INET6 */
    uint8_t saddr[16], daddr[16];
    uint16_t sport, dport; /* host order */
    uint32_t from_seq;
    uint32_t until_seq;
};

struct capture;

/* Open a capture file: pcap or pcapng, optionally gzip-compressed (detected by
 * magic, not by name); "-" reads standard input. Returns NULL with a one-line
 * reason in errbuf (naming the file) on failure. */
struct capture *capture_open_file(const char *path, char errbuf[CAPTURE_ERRBUF]);

/* Open a capture held in memory (pcap or pcapng, optionally gzip'd); the
 * bytes are borrowed until capture_close(). Used by the fuzzer and tests. */
struct capture *capture_open_mem(const void *data, size_t len, char errbuf[CAPTURE_ERRBUF]);

/* Open a live source. CAPTURE_AUTO tries the eBPF backend and, when it
 * cannot load, falls back to libpcap with a log line saying why. NULL with a
 * one-line reason in errbuf (naming what to do when it is privileges). */
struct capture *capture_open_live(enum capture_backend b, const struct capture_live_opts *o,
                                  char errbuf[CAPTURE_ERRBUF]);
/* The backends (capture_bpf.c is only built with BPF=1; without it
 * capture_bpf_open fails with -ENOTSUP). Live sources deliver records only
 * through capture_dispatch(); their next() may return -EOPNOTSUPP. On "lo"
 * the libpcap backend captures through "any" and its records are Linux
 * SLL2, not Ethernet. */
struct capture *capture_bpf_open(const struct capture_live_opts *o, char errbuf[CAPTURE_ERRBUF]);
struct capture *capture_pcap_open(const struct capture_live_opts *o, char errbuf[CAPTURE_ERRBUF]);

typedef void (*capture_cb)(void *ctx, const struct capture_rec *rec);

/* Deliver up to max records (max <= 0: all that are ready) to cb, waiting up
 * to timeout_ms (0: do not wait; < 0: forever) for the first. The record's
 * bytes are borrowed for the call only. Returns the number delivered (0 on
 * a timeout), -ENODATA at the end of a file, or another negative errno with
 * a reason in errbuf. Works for every source (files through next()). */
int capture_dispatch(struct capture *cap, int max, int timeout_ms, capture_cb cb, void *ctx,
                     char errbuf[CAPTURE_ERRBUF]);

/* Live sources only (others return -EOPNOTSUPP): */
/* Change the captured ports while running. */
int capture_set_ports(struct capture *cap, const uint16_t *ports, int nports);
/* Switch capturing on or off (no syscall per packet, no socket reopen). */
int capture_set_enabled(struct capture *cap, int on);
/* Body-skip hint (eBPF only; others ignore it and return -EOPNOTSUPP). */
int capture_skip(struct capture *cap, const struct capture_skip *sk);
/* The link type every record of this source has (for -w), or -1 when it
 * varies per record. */
int capture_linktype(const struct capture *cap);
/* Name of the backend: "file", "bpf", "pcap". */
const char *capture_backend_name(const struct capture *cap);

/* Next record. Returns 1 with *rec filled, 0 at the end, or a negative errno
 * with a reason in errbuf (the records read so far remain valid: a truncated
 * file gives every whole record, then an error). */
int capture_next(struct capture *cap, struct capture_rec *rec, char errbuf[CAPTURE_ERRBUF]);

/* Counters; live sources refresh their kernel-side drop counts first. */
void capture_get_stats(const struct capture *cap, struct capture_stats *st);

/* Human-readable source description, e.g. "file:trace.pcap". */
const char *capture_describe(const struct capture *cap);
/* The bpf backend's attach point: "tc" or "socket"; "" for other sources. */
const char *capture_attach_name(const struct capture *cap);

/* Close; capture_close(NULL) is a no-op. */
void capture_close(struct capture *cap);

/*
 * Writing what was captured (-w): a pcap file through libpcap's dumper,
 * created with mode 0600. capture_dump_open() fails (NULL, reason in errbuf)
 * when the file cannot be made. Records of another link type than the
 * file's are counted and not written.
 */
struct capture_dump;
struct capture_dump *capture_dump_open(const char *path, int linktype, uint32_t snaplen,
                                       char errbuf[CAPTURE_ERRBUF]);
/* The same, rotating (-C, -W): once a file has passed size_limit bytes the
 * next record starts the next file: PATH, PATH1, PATH2, ... or, with
 * max_files N, PATH0 to PATH<N-1> (zero-padded to the width of N-1) over
 * and over, each emptied as its turn comes round; all N are made here,
 * each a pcap file of no packets until its turn.
 * size_limit 0: one file (max_files must be 0 too). Not for "-". */
#define CAPTURE_DUMP_MAX_FILES 10000
struct capture_dump *capture_dump_open_rotating(const char *path, int linktype, uint32_t snaplen,
                                                uint64_t size_limit, uint32_t max_files,
                                                char errbuf[CAPTURE_ERRBUF]);
/* Give the files opened so far (all of a ring) to uid:gid, as root before
 * privileges are dropped; standard output is left alone. */
void capture_dump_chown(struct capture_dump *d, uid_t uid, gid_t gid);
/* Files started so far (1 without rotation). */
uint64_t capture_dump_files(const struct capture_dump *d);
/* The error that stopped the writing (-errno), or 0 while it goes on. */
int capture_dump_error(const struct capture_dump *d);
int capture_dump_write(struct capture_dump *d, const struct capture_rec *rec);
/* Flush to disk; 0 or -errno. */
int capture_dump_flush(struct capture_dump *d);
uint64_t capture_dump_skipped(const struct capture_dump *d); /* other link types */
/* Flush and close; 0 or -errno (a write error). NULL is a no-op. */
int capture_dump_close(struct capture_dump *d);

/* ---- backend interface (capture_*.c only) ---- */
struct capture_ops {
    const char *name; /* "file", "bpf", "pcap" */
    int (*next)(struct capture *cap, struct capture_rec *rec, char *errbuf);
    /* optional; capture_dispatch loops next() without it */
    int (*dispatch)(struct capture *cap, int max, int timeout_ms, capture_cb cb, void *ctx,
                    char *errbuf);
    int (*set_ports)(struct capture *cap, const uint16_t *ports, int nports); /* optional */
    int (*set_enabled)(struct capture *cap, int on);                          /* optional */
    int (*skip)(struct capture *cap, const struct capture_skip *sk);          /* optional */
    void (*refresh_stats)(struct capture *cap); /* optional: pull kernel counters into stats */
    void (*close)(struct capture *cap);
};

struct capture {
    const struct capture_ops *ops;
    int linktype; /* LINK_* of every record, or -1 when it varies */
    struct capture_stats stats;
    char desc[128];
    const char *attach; /* bpf: where the filter runs, "tc" or "socket"; else NULL */
    void *priv;
};

#endif
