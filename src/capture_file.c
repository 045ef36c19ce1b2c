/* SPDX-License-Identifier: MIT */
/*
 * capture_file.c - the capture-file source: pcap and pcapng, plain or gzip'd,
 * from a path, standard input or memory.
 *
 * First stage of the pipeline, like the live sources: it hands out records
 * (timestamp, link type, bytes, wire length) and decodes nothing. libpcap
 * parses both file formats; it is given a stdio stream made with fopencookie()
 * whose reads come from a small byte source (a file descriptor or a memory
 * block), inflated through zlib when the first two bytes are the gzip magic.
 * Detecting by content rather than name means "-" (a pipe) and in-memory
 * captures get the same treatment as files. Timestamps are asked for in
 * nanoseconds, so microsecond and nanosecond files both give exact ts_ns.
 *
 * One exception to "files go through libpcap": a regular, uncompressed file
 * in the classic pcap format (magic a1b2c3d4 or a1b23c4d in either byte
 * order, version 2.4, a link type htracr decodes) is read with read() into
 * one 320 KiB buffer of ours, and its 16-byte record headers are parsed
 * here; each record points into that buffer (borrowed until the next call).
 * Why: through stdio every byte is copied twice in user space, by the cookie
 * into stdio's buffer and by libpcap's fread into its own, with a call chain
 * per record (memmove, __fread_chk, _IO_fread: about 12% of a run on
 * bench/out/keepalive.pcap, 527 MB, 550,000 records). On that file a run
 * takes 338 ms of CPU with the fast path against 374 ms through libpcap
 * (perf stat task-clock, medians of 20 interleaved runs on a shared 2-core
 * VM; tcptrace -n -r: 338 ms). mmap was measured too and lost: 357 ms with
 * MADV_SEQUENTIAL and a prefetch of the next record, 368 ms with
 * MAP_POPULATE, more without the prefetch. Mapping 128,000 page-cache pages
 * (the faults, then the unmapping) costs as much as the kernel's copy, and
 * the parser then reads cold memory, where read() leaves the bytes in cache.
 * read() also cannot SIGBUS when someone truncates the file under us.
 *
 * What the fast path guarantees: the same records, ts_ns, caplen, wirelen,
 * link type, stats and errors (libpcap 1.10's message, at the same record) as
 * libpcap gives for the same bytes; tests/unit/test_capture_file.c reads
 * every corpus pcap and crafted hostile files both ways and compares. The
 * libpcap rules it keeps (sf-pcap.c, checked against Debian 12's 1.10.3):
 * record times are 32-bit seconds and fractions, signed in a file of our byte
 * order and unsigned in the other (microseconds times 1000); a snaplen of 0
 * or above INT_MAX means 262144; a caplen above 262144 is an error ("bigger
 * than snaplen of N" when it is above the snaplen too, else "bigger than
 * maximum of 262144"); a caplen above the snaplen alone is cut to the snaplen
 * and the rest skipped; a record header or data cut short is an error naming
 * the read that came up short. Anything else (pcapng, gzip, other magics,
 * versions or link types, Linux SLL in the other byte order, whose CAN
 * headers libpcap rewrites), standard input and memory go through libpcap as
 * before.
 *
 * Errors are one line naming the source. A file cut short gives every whole
 * record, then an error that says so; errors are sticky.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZLIB_CONST
#include <pcap/pcap.h>
#include <zlib.h>

#include "htracr/capture.h"
#include "htracr/log.h"

#define FILE_INBUF (64 * 1024)
#define FILE_MAX_SEC 9000000000LL /* ns since 1970 fit in int64 up to here */
#define FILE_NAME_MAX 160
#define FILE_MAX_SNAP 262144 /* libpcap's largest caplen for the fast path's link types */
/* The fast path's read buffer: a whole record (16 + FILE_MAX_SNAP) always
 * fits; 320 KiB and 1 MiB measured the same on keepalive.pcap. */
#define FILE_RBUF (320 * 1024)

/* Where the (possibly compressed) bytes come from, and the inflate state. */
struct file_src {
    int fd; /* -1 when reading memory */
    bool own_fd;
    const uint8_t *mem; /* memory source, borrowed */
    size_t mem_len;
    size_t mem_off;
    uint8_t *inbuf;    /* fd reads land here */
    const uint8_t *in; /* unconsumed input */
    size_t in_len;
    bool eof; /* nothing more to read from the source */
    int read_errno;
    bool gzip;
    bool z_ready;  /* inflateInit2 done */
    bool z_done;   /* compressed input ended (cleanly or not) */
    int z_errno;   /* a hard failure (bad data, read error): reads fail */
    char zerr[80]; /* why the compressed stream ended badly, or "" */
    z_stream zs;
};

struct file_priv {
    struct file_src *src; /* owned by the stdio cookie, valid until pcap_close */
    pcap_t *pcap;
    FILE *fp;    /* owned by pcap once pcap is open */
    char *iobuf; /* fp's stdio buffer; freed after fp is closed */
    int linktype;
    /* the fast path (pcap == NULL, rbuf != NULL): a classic pcap file read
     * into rbuf and parsed here */
    int rfd;
    uint8_t *rbuf;
    size_t rpos, rlen; /* unread bytes are rbuf[rpos, rlen) */
    bool reof;         /* read() said end of file, or failed */
    int rerr;          /* its errno when it failed */
    bool swapped;      /* the file's byte order is not ours */
    bool usec;         /* microsecond timestamps */
    uint32_t snap;     /* libpcap's snapshot length for this file */
    bool done;
    int err; /* sticky negative errno */
    char errmsg[CAPTURE_ERRBUF];
    char name[FILE_NAME_MAX];
};

/* One-line message into a CAPTURE_ERRBUF-sized buffer, truncated to fit. */
static void file_msg(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void file_msg(char *dst, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, CAPTURE_ERRBUF, fmt, ap);
    va_end(ap);
}

/* ---- byte source ---- */

/* Make input available. Returns 1 when in_len > 0, 0 at the end, -1 on a
 * read error (read_errno set). */
static int file_src_fill(struct file_src *s)
{
    ssize_t n;

    if (s->in_len > 0)
        return 1;
    if (s->eof)
        return s->read_errno ? -1 : 0;
    if (s->fd < 0) {
        s->in = s->mem + s->mem_off;
        s->in_len = s->mem_len - s->mem_off;
        s->mem_off = s->mem_len;
        s->eof = true;
        return s->in_len > 0;
    }
    do {
        n = read(s->fd, s->inbuf, FILE_INBUF);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        s->read_errno = errno;
        s->eof = true;
        return -1;
    }
    if (n == 0) {
        s->eof = true;
        return 0;
    }
    s->in = s->inbuf;
    s->in_len = (size_t)n;
    return 1;
}

/* Read until the first two bytes are buffered (a pipe may deliver one byte
 * at a time), without consuming them. Returns 0 or -1 (read_errno set). */
static int file_src_peek2(struct file_src *s)
{
    ssize_t n;

    if (file_src_fill(s) < 0)
        return -1;
    if (s->fd < 0)
        return 0;
    while (s->in_len < 2 && !s->eof) {
        n = read(s->fd, s->inbuf + s->in_len, FILE_INBUF - s->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s->read_errno = errno;
            s->eof = true;
            return -1;
        }
        if (n == 0)
            s->eof = true;
        s->in_len += (size_t)n;
    }
    return 0;
}

static ssize_t file_src_read_plain(struct file_src *s, char *buf, size_t size)
{
    size_t got = 0;

    while (got < size) {
        /* A big request with nothing buffered: read straight into the
         * caller's buffer (stdio's), saving a copy of every byte. */
        if (s->in_len == 0 && s->fd >= 0 && !s->eof && size - got >= 16384) {
            ssize_t n;
            do {
                n = read(s->fd, buf + got, size - got);
            } while (n < 0 && errno == EINTR);
            if (n < 0) {
                s->read_errno = errno;
                s->eof = true;
                if (got)
                    break;
                errno = s->read_errno;
                return -1;
            }
            if (n == 0) {
                s->eof = true;
                break;
            }
            got += (size_t)n;
            continue;
        }
        int r = file_src_fill(s);
        size_t n;

        if (r < 0) {
            if (got)
                break;
            errno = s->read_errno;
            return -1;
        }
        if (r == 0)
            break;
        n = size - got < s->in_len ? size - got : s->in_len;
        memcpy(buf + got, s->in, n);
        s->in += n;
        s->in_len -= n;
        got += n;
    }
    return (ssize_t)got;
}

static ssize_t file_src_read_gzip(struct file_src *s, char *buf, size_t size)
{
    z_stream *zs = &s->zs;
    uInt want = size > (1u << 30) ? (1u << 30) : (uInt)size;

    zs->next_out = (Bytef *)buf;
    zs->avail_out = want;
    while (zs->avail_out > 0 && !s->z_done) {
        int r = file_src_fill(s), zr;
        size_t offered;

        if (r < 0) {
            snprintf(s->zerr, sizeof(s->zerr), "%s", strerror(s->read_errno));
            s->z_errno = s->read_errno;
            s->z_done = true;
            break;
        }
        if (r == 0) {
            /* The source ended inside a gzip member. */
            snprintf(s->zerr, sizeof(s->zerr), "compressed stream ends early");
            s->z_done = true;
            break;
        }
        offered = s->in_len > (1u << 30) ? (1u << 30) : s->in_len;
        zs->next_in = s->in;
        zs->avail_in = (uInt)offered;
        zr = inflate(zs, Z_NO_FLUSH);
        s->in += offered - zs->avail_in;
        s->in_len -= offered - zs->avail_in;
        if (zr == Z_STREAM_END) {
            /* Concatenated members (gzip a >> f.gz) carry on; anything
             * else after a member is ignored, as gzip(1) does. */
            if (file_src_fill(s) > 0 && s->in[0] == 0x1f) {
                inflateReset(zs);
                continue;
            }
            s->z_done = true;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            snprintf(s->zerr, sizeof(s->zerr), "bad compressed data (%s)",
                     zs->msg ? zs->msg : "inflate failed");
            s->z_errno = EIO;
            s->z_done = true;
        }
    }
    if (zs->avail_out == want && s->z_errno) {
        errno = s->z_errno;
        return -1;
    }
    return (ssize_t)(want - zs->avail_out);
}

static ssize_t file_cookie_read(void *cookie, char *buf, size_t size)
{
    struct file_src *s = cookie;

    if (s->gzip)
        return file_src_read_gzip(s, buf, size);
    return file_src_read_plain(s, buf, size);
}

static int file_cookie_close(void *cookie)
{
    struct file_src *s = cookie;

    if (s->z_ready)
        inflateEnd(&s->zs);
    if (s->own_fd && s->fd >= 0)
        close(s->fd);
    free(s->inbuf);
    free(cookie);
    return 0;
}

static struct file_src *file_src_new(int fd, bool own_fd, const void *mem, size_t len)
{
    struct file_src *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->fd = fd;
    s->own_fd = own_fd;
    s->mem = mem;
    s->mem_len = len;
    if (fd >= 0) {
        s->inbuf = malloc(FILE_INBUF);
        if (!s->inbuf) {
            free(s);
            return NULL;
        }
    }
    return s;
}

/* ---- the capture backend ---- */

/* libpcap reports DLT_* values; records carry LINKTYPE_* (the file format's
 * numbers). They agree for every type we decode except raw IP, whose DLT is
 * 12 (14 on OpenBSD). */
static int file_linktype(int dlt)
{
    if (dlt == DLT_RAW)
        return LINK_RAW;
#ifdef DLT_LOOP
    if (dlt == DLT_LOOP)
        return LINK_LOOP;
#endif
    return dlt;
}

/* A record's time as libpcap gives it (seconds and the fraction already in
 * ns), into ts_ns: a hostile or broken file may carry any 64-bit time, so
 * keep it in what ns since 1970 can hold (until the year 2255), counted. */
static inline int64_t file_ts(struct capture *cap, int64_t sec, int64_t frac)
{
    if (sec < 0 || sec > FILE_MAX_SEC || frac < 0 || frac >= 1000000000) {
        cap->stats.bad_timestamps++;
        sec = sec < 0 ? 0 : sec > FILE_MAX_SEC ? FILE_MAX_SEC : sec;
        frac = frac < 0 ? 0 : frac >= 1000000000 ? 999999999 : frac;
    }
    return sec * 1000000000 + frac;
}

/* Make the reader's error sticky: why is libpcap's reason (or the fast
 * path's copy of it), zerr the gzip stream's or "". Returns pv->err. */
static int file_fail(struct capture *cap, const char *why, const char *zerr, char *errbuf)
{
    struct file_priv *pv = cap->priv;

    pv->err = -EIO;
    if (strstr(why, "truncated")) {
        cap->stats.truncated_records++;
        file_msg(pv->errmsg,
                 "%s is truncated: last record cut short after %llu whole records (%s%s%s)",
                 pv->name, (unsigned long long)cap->stats.records, why, zerr[0] ? "; " : "", zerr);
    } else {
        file_msg(pv->errmsg, "error reading %s: %s%s%s", pv->name, why, zerr[0] ? "; " : "", zerr);
    }
    file_msg(errbuf, "%s", pv->errmsg);
    return pv->err;
}

static inline uint16_t file_u16(const uint8_t *p, bool swapped)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return swapped ? __builtin_bswap16(v) : v;
}

static inline uint32_t file_u32(const uint8_t *p, bool swapped)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return swapped ? __builtin_bswap32(v) : v;
}

/* At least want unread bytes in rbuf unless the file ends first; returns how
 * many there are. Moves the unread tail to the front before reading. */
static size_t file_fast_fill(struct file_priv *pv, size_t want)
{
    ssize_t n;

    if (pv->rlen - pv->rpos >= want || pv->reof)
        return pv->rlen - pv->rpos;
    if (pv->rpos) {
        memmove(pv->rbuf, pv->rbuf + pv->rpos, pv->rlen - pv->rpos);
        pv->rlen -= pv->rpos;
        pv->rpos = 0;
    }
    while (pv->rlen < want && !pv->reof) {
        n = read(pv->rfd, pv->rbuf + pv->rlen, FILE_RBUF - pv->rlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            pv->rerr = n < 0 ? errno : 0;
            pv->reof = true;
            break;
        }
        pv->rlen += (size_t)n;
    }
    return pv->rlen - pv->rpos;
}

/* The next record of a fast-path file, with libpcap 1.10's checks, in its
 * order, and its messages (sf-pcap.c, pcap_next_packet). */
static int file_fast_next(struct capture *cap, struct capture_rec *rec, char *errbuf)
{
    struct file_priv *pv = cap->priv;
    const uint8_t *h;
    size_t left, avail;
    uint32_t caplen, len, snap = pv->snap;
    int64_t sec, frac;
    char why[PCAP_ERRBUF_SIZE];

    if (pv->err) {
        file_msg(errbuf, "%s", pv->errmsg);
        return pv->err;
    }
    if (pv->done)
        return 0;
    left = file_fast_fill(pv, 16);
    if (left < 16) {
        if (pv->rerr) {
            snprintf(why, sizeof(why), "error reading dump file: %s", strerror(pv->rerr));
            return file_fail(cap, why, "", errbuf);
        }
        if (left == 0) {
            pv->done = true;
            return 0;
        }
        snprintf(why, sizeof(why),
                 "truncated dump file; tried to read 16 header bytes, only got %zu", left);
        return file_fail(cap, why, "", errbuf);
    }
    h = pv->rbuf + pv->rpos;
    caplen = file_u32(h + 8, pv->swapped);
    len = file_u32(h + 12, pv->swapped);
    if (caplen > FILE_MAX_SNAP) {
        if (caplen > snap)
            snprintf(why, sizeof(why),
                     "invalid packet capture length %u, bigger than snaplen of %d", caplen,
                     (int)snap);
        else
            snprintf(why, sizeof(why),
                     "invalid packet capture length %u, bigger than maximum of %u", caplen,
                     FILE_MAX_SNAP);
        return file_fail(cap, why, "", errbuf);
    }
    left = file_fast_fill(pv, 16 + (size_t)caplen);
    h = pv->rbuf + pv->rpos;
    avail = left - 16;
    if (caplen > avail) {
        /* libpcap reads the first snaplen bytes before the rest, and names
         * whichever read came up short. */
        uint32_t want = caplen > snap && avail < snap ? snap : caplen;

        if (pv->rerr)
            snprintf(why, sizeof(why), "error reading dump file: %s", strerror(pv->rerr));
        else
            snprintf(why, sizeof(why),
                     "truncated dump file; tried to read %u captured bytes, only got %zu", want,
                     avail);
        return file_fail(cap, why, "", errbuf);
    }
    pv->rpos += 16 + (size_t)caplen;
    if (caplen > snap)
        caplen = snap; /* libpcap skips the rest */
    /* libpcap reads record times as signed 32-bit in the file's own byte
     * order, unsigned when it swaps them (its SWAPLONG yields u_int). */
    if (pv->swapped) {
        sec = file_u32(h, true);
        frac = file_u32(h + 4, true);
    } else {
        sec = (int32_t)file_u32(h, false);
        frac = (int32_t)file_u32(h + 4, false);
    }
    if (pv->usec)
        frac *= 1000;
    rec->ts_ns = file_ts(cap, sec, frac);
    rec->linktype = pv->linktype;
    rec->data = h + 16;
    rec->caplen = caplen;
    rec->wirelen = len < caplen ? caplen : len;
    rec->skipped = 0;
    cap->stats.records++;
    cap->stats.bytes += caplen;
    return 1;
}

static int file_next(struct capture *cap, struct capture_rec *rec, char *errbuf)
{
    struct file_priv *pv = cap->priv;
    struct pcap_pkthdr *h;
    const u_char *data;
    int r;

    if (pv->err) {
        file_msg(errbuf, "%s", pv->errmsg);
        return pv->err;
    }
    if (pv->done)
        return 0;
    r = pcap_next_ex(pv->pcap, &h, &data);
    if (r == 1) {
        rec->ts_ns = file_ts(cap, (int64_t)h->ts.tv_sec, (int64_t)h->ts.tv_usec);
        rec->linktype = pv->linktype;
        rec->data = data;
        rec->caplen = h->caplen;
        rec->wirelen = h->len < h->caplen ? h->caplen : h->len;
        rec->skipped = 0;
        cap->stats.records++;
        cap->stats.bytes += h->caplen;
        return 1;
    }
    if (r == -1)
        return file_fail(cap, pcap_geterr(pv->pcap), pv->src->zerr, errbuf);
    if (pv->src->zerr[0]) {
        /* libpcap saw a clean end, but the gzip stream did not end cleanly:
         * the records are whole, the file is still damaged. */
        pv->err = -EIO;
        file_msg(pv->errmsg, "%s is truncated or damaged: %s", pv->name, pv->src->zerr);
    } else {
        pv->done = true;
        return 0;
    }
    file_msg(errbuf, "%s", pv->errmsg);
    return pv->err;
}

static void file_close(struct capture *cap)
{
    struct file_priv *pv = cap->priv;

    if (pv) {
        if (pv->rbuf) {
            free(pv->rbuf);
            close(pv->rfd);
        } else if (pv->pcap)
            pcap_close(pv->pcap); /* fclose()s pv->fp, which frees the source */
        else if (pv->fp)
            fclose(pv->fp);
        free(pv->iobuf);
        free(pv);
    }
    free(cap);
}

static const struct capture_ops file_ops = {
    .name = "file",
    .next = file_next,
    .close = file_close,
};

static const struct capture_ops file_fast_ops = {
    .name = "file",
    .next = file_fast_next,
    .close = file_close,
};

/* Wrap src (owned from here on) into a capture; name is used in messages,
 * desc is the capture_describe() string. */
static struct capture *file_open_src(struct file_src *src, const char *name, const char *desc,
                                     char *errbuf)
{
    static const cookie_io_functions_t io = {
        .read = file_cookie_read,
        .close = file_cookie_close,
    };
    struct capture *cap = NULL;
    struct file_priv *pv = NULL;
    char pcerr[PCAP_ERRBUF_SIZE];
    int err = 0;

    cap = calloc(1, sizeof(*cap));
    pv = calloc(1, sizeof(*pv));
    if (!cap || !pv) {
        err = ENOMEM;
        file_msg(errbuf, "cannot open %s: out of memory", name);
        file_cookie_close(src);
        goto out;
    }
    snprintf(pv->name, sizeof(pv->name), "%s", name);
    if (file_src_peek2(src) < 0) {
        err = src->read_errno;
        file_msg(errbuf, "cannot read %s: %s", name, strerror(err));
        file_cookie_close(src);
        goto out;
    }
    if (src->in_len == 0) {
        err = EINVAL;
        file_msg(errbuf, "cannot read %s: file is empty", name);
        file_cookie_close(src);
        goto out;
    }
    if (src->in_len >= 2 && src->in[0] == 0x1f && src->in[1] == 0x8b) {
        /* 15 window bits + 16: gzip wrapper only. */
        if (inflateInit2(&src->zs, 15 + 16) != Z_OK) {
            err = ENOMEM;
            file_msg(errbuf, "cannot open %s: zlib init failed", name);
            file_cookie_close(src);
            goto out;
        }
        src->gzip = true;
        src->z_ready = true;
    }
    pv->fp = fopencookie(src, "r", io);
    if (!pv->fp) {
        err = errno ? errno : ENOMEM;
        file_msg(errbuf, "cannot open %s: %s", name, strerror(err));
        file_cookie_close(src);
        goto out;
    }
    /* Large reads: fewer calls through the cookie for every record. glibc
     * ignores the size unless it is given the buffer (it would take 8 KiB). */
    pv->iobuf = malloc(256 * 1024);
    if (pv->iobuf)
        setvbuf(pv->fp, pv->iobuf, _IOFBF, 256 * 1024);
    pcerr[0] = '\0';
    pv->pcap = pcap_fopen_offline_with_tstamp_precision(pv->fp, PCAP_TSTAMP_PRECISION_NANO, pcerr);
    if (!pv->pcap) {
        err = EINVAL;
        file_msg(errbuf, "cannot read %s: %s%s%s%s", name,
                 pcerr[0] ? pcerr : "not a pcap or pcapng file", src->gzip ? " (after gunzip)" : "",
                 src->zerr[0] ? "; " : "", src->zerr);
        goto out;
    }
    pv->src = src;
    pv->linktype = file_linktype(pcap_datalink(pv->pcap));
    cap->ops = &file_ops;
    cap->linktype = pv->linktype;
    cap->priv = pv;
    snprintf(cap->desc, sizeof(cap->desc), "%s", desc);
    log_msg(LOG_DEBUG, "opened %s: %s, link type %d, snaplen %d", name,
            src->gzip ? "gzip'd" : "plain", pv->linktype, pcap_snapshot(pv->pcap));
out:
    if (err) {
        if (pv && pv->fp)
            fclose(pv->fp);
        if (pv)
            free(pv->iobuf);
        free(pv);
        free(cap);
        errno = err;
        return NULL;
    }
    return cap;
}

/* Can the fast path read this file exactly as libpcap would? Only a classic
 * pcap header it fully understands: magic, version 2.4, a link type htracr
 * decodes whose number libpcap keeps (LINKTYPE_RAW and _LOOP come back through
 * file_linktype() unchanged) and whose bytes libpcap leaves alone. */
static bool file_fast_eligible(const uint8_t hdr[24], bool *swapped, bool *usec, uint32_t *snap,
                               int *linktype)
{
    uint32_t magic, lt, sn;

    memcpy(&magic, hdr, 4);
    *swapped = false;
    if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
        magic = __builtin_bswap32(magic);
        if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d)
            return false;
        *swapped = true;
    }
    *usec = magic == 0xa1b2c3d4;
    if (file_u16(hdr + 4, *swapped) != 2 || file_u16(hdr + 6, *swapped) != 4)
        return false;
    sn = file_u32(hdr + 16, *swapped);
    lt = file_u32(hdr + 20, *swapped);
    switch (lt) {
    case LINK_LINUX_SLL:
    case LINK_LINUX_SLL2:
        if (*swapped)
            return false; /* libpcap byte-swaps CAN headers in these */
        break;
    case LINK_NULL:
    case LINK_ETHERNET:
    case LINK_RAW:
    case LINK_LOOP:
    case LINK_IPV4:
    case LINK_IPV6: break;
    default: return false; /* also any FCS / extension bits in the top six */
    }
    *snap = sn == 0 || sn > 0x7fffffff ? FILE_MAX_SNAP : sn;
    *linktype = (int)lt;
    return true;
}

/* The fast path for a regular file: a capture that owns fd from here on,
 * NULL with errno 0 when the file is not for it (the caller goes on through
 * libpcap, fd and its offset untouched), or NULL with errno set and errbuf
 * filled when it failed (the caller closes fd). */
static struct capture *file_fast_open(int fd, const struct stat *stb, const char *path,
                                      char *errbuf)
{
    struct capture *cap = NULL;
    struct file_priv *pv = NULL;
    uint8_t hdr[24];
    bool swapped, usec;
    uint32_t snap;
    int linktype, err = 0;
    ssize_t n;

    errno = 0;
    if (!S_ISREG(stb->st_mode) || stb->st_size < (off_t)sizeof(hdr))
        return NULL;
    do {
        n = pread(fd, hdr, sizeof(hdr), 0); /* leaves the offset for libpcap */
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(hdr) || !file_fast_eligible(hdr, &swapped, &usec, &snap, &linktype)) {
        errno = 0;
        return NULL;
    }
    cap = calloc(1, sizeof(*cap));
    pv = calloc(1, sizeof(*pv));
    if (!cap || !pv) {
        err = ENOMEM;
        file_msg(errbuf, "cannot open %s: out of memory", path);
        goto out;
    }
    pv->rbuf = malloc(FILE_RBUF);
    if (!pv->rbuf) {
        err = ENOMEM;
        file_msg(errbuf, "cannot open %s: out of memory", path);
        goto out;
    }
    pv->rfd = fd;
    if (lseek(fd, sizeof(hdr), SEEK_SET) != (off_t)sizeof(hdr)) {
        err = errno ? errno : EIO;
        file_msg(errbuf, "cannot read %s: %s", path, strerror(err));
        goto out;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    pv->swapped = swapped;
    pv->usec = usec;
    pv->snap = snap;
    pv->linktype = linktype;
    snprintf(pv->name, sizeof(pv->name), "%s", path);
    cap->ops = &file_fast_ops;
    cap->linktype = linktype;
    cap->priv = pv;
    snprintf(cap->desc, sizeof(cap->desc), "file:%s", path);
    log_msg(LOG_DEBUG,
            "opened %s: plain pcap, read directly (%lld bytes), link type %d, snaplen %u", path,
            (long long)stb->st_size, linktype, snap);
out:
    if (err) {
        if (pv)
            free(pv->rbuf);
        free(pv);
        free(cap);
        errno = err;
        return NULL;
    }
    return cap;
}

struct capture *capture_open_file(const char *path, char errbuf[CAPTURE_ERRBUF])
{
    struct file_src *src;
    struct stat stb;
    bool is_stdin = path && strcmp(path, "-") == 0;
    const char *name = is_stdin ? "standard input" : path;
    char desc[sizeof(((struct capture *)0)->desc)];
    int fd, err;
    bool st_ok;

    if (!path || !*path) {
        file_msg(errbuf, "cannot open capture file: empty path");
        errno = EINVAL;
        return NULL;
    }
    if (is_stdin) {
        fd = STDIN_FILENO;
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            err = errno;
            file_msg(errbuf, "cannot open %s: %s", path, strerror(err));
            errno = err;
            return NULL;
        }
    }
    st_ok = fstat(fd, &stb) == 0;
    if (st_ok && S_ISDIR(stb.st_mode)) {
        file_msg(errbuf, "cannot read %s: is a directory", name);
        if (!is_stdin)
            close(fd);
        errno = EISDIR;
        return NULL;
    }
    if (!is_stdin && st_ok) {
        struct capture *cap = file_fast_open(fd, &stb, path, errbuf);

        if (cap)
            return cap;
        if (errno) {
            err = errno;
            close(fd);
            errno = err;
            return NULL;
        }
    }
    src = file_src_new(fd, !is_stdin, NULL, 0);
    if (!src) {
        file_msg(errbuf, "cannot open %s: out of memory", name);
        if (!is_stdin)
            close(fd);
        errno = ENOMEM;
        return NULL;
    }
    snprintf(desc, sizeof(desc), "file:%s", is_stdin ? "-" : path);
    return file_open_src(src, name, desc, errbuf);
}

struct capture *capture_open_mem(const void *data, size_t len, char errbuf[CAPTURE_ERRBUF])
{
    struct file_src *src;
    char desc[64];

    if (!data && len) {
        file_msg(errbuf, "cannot read capture in memory: no data");
        errno = EINVAL;
        return NULL;
    }
    src = file_src_new(-1, false, data, len);
    if (!src) {
        file_msg(errbuf, "cannot read capture in memory: out of memory");
        errno = ENOMEM;
        return NULL;
    }
    snprintf(desc, sizeof(desc), "mem:%zu bytes", len);
    return file_open_src(src, "capture in memory", desc, errbuf);
}
