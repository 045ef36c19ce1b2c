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
    FILE *fp; /* owned by pcap once pcap is open */
    int linktype;
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

    if (s->in_len > 0) return 1;
    if (s->eof) return s->read_errno ? -1 : 0;
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

    if (file_src_fill(s) < 0) return -1;
    if (s->fd < 0) return 0;
    while (s->in_len < 2 && !s->eof) {
        n = read(s->fd, s->inbuf + s->in_len, FILE_INBUF - s->in_len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            s->read_errno = errno;
            s->eof = true;
            return -1;
        }
        if (n == 0) s->eof = true;
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
                if (got) break;
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
            if (got) break;
            errno = s->read_errno;
            return -1;
        }
        if (r == 0) break;
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

    if (s->gzip) return file_src_read_gzip(s, buf, size);
    return file_src_read_plain(s, buf, size);
}

static int file_cookie_close(void *cookie)
{
    struct file_src *s = cookie;

    if (s->z_ready) inflateEnd(&s->zs);
    if (s->own_fd && s->fd >= 0) close(s->fd);
    free(s->inbuf);
    free(cookie);
    return 0;
}

static struct file_src *file_src_new(int fd, bool own_fd, const void *mem, size_t len)
{
    struct file_src *s = calloc(1, sizeof(*s));

    if (!s) return NULL;
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
    if (dlt == DLT_RAW) return LINK_RAW;
#ifdef DLT_LOOP
    if (dlt == DLT_LOOP) return LINK_LOOP;
#endif
    return dlt;
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
    if (pv->done) return 0;
    r = pcap_next_ex(pv->pcap, &h, &data);
    if (r == 1) {
        /* A hostile or broken file may carry any 64-bit time: keep it in
         * what ns since 1970 can hold (until the year 2255), counted. */
        int64_t sec = (int64_t)h->ts.tv_sec, frac = (int64_t)h->ts.tv_usec;
        if (sec < 0 || sec > FILE_MAX_SEC || frac < 0 || frac >= 1000000000) {
            cap->stats.bad_timestamps++;
            sec = sec < 0 ? 0 : sec > FILE_MAX_SEC ? FILE_MAX_SEC : sec;
            frac = frac < 0 ? 0 : frac >= 1000000000 ? 999999999 : frac;
        }
        rec->ts_ns = sec * 1000000000 + frac;
        rec->linktype = pv->linktype;
        rec->data = data;
        rec->caplen = h->caplen;
        rec->wirelen = h->len < h->caplen ? h->caplen : h->len;
        rec->skipped = 0;
        cap->stats.records++;
        cap->stats.bytes += h->caplen;
        return 1;
    }
    if (r == -1) {
        const char *why = pcap_geterr(pv->pcap);

        pv->err = -EIO;
        if (strstr(why, "truncated")) {
            cap->stats.truncated_records++;
            file_msg(pv->errmsg,
                     "%s is truncated: last record cut short after %llu whole records (%s%s%s)",
                     pv->name, (unsigned long long)cap->stats.records, why,
                     pv->src->zerr[0] ? "; " : "", pv->src->zerr);
        } else {
            file_msg(pv->errmsg, "error reading %s: %s%s%s", pv->name, why,
                     pv->src->zerr[0] ? "; " : "", pv->src->zerr);
        }
    } else if (pv->src->zerr[0]) {
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
        if (pv->pcap)
            pcap_close(pv->pcap); /* fclose()s pv->fp, which frees the source */
        else if (pv->fp)
            fclose(pv->fp);
        free(pv);
    }
    free(cap);
}

static const struct capture_ops file_ops = {
    .name = "file",
    .next = file_next,
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
    /* Large reads: fewer calls through the cookie for every record. */
    setvbuf(pv->fp, NULL, _IOFBF, 256 * 1024);
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
        if (pv && pv->fp) fclose(pv->fp);
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
    if (fstat(fd, &stb) == 0 && S_ISDIR(stb.st_mode)) {
        file_msg(errbuf, "cannot read %s: is a directory", name);
        if (!is_stdin) close(fd);
        errno = EISDIR;
        return NULL;
    }
    src = file_src_new(fd, !is_stdin, NULL, 0);
    if (!src) {
        file_msg(errbuf, "cannot open %s: out of memory", name);
        if (!is_stdin) close(fd);
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
