/* SPDX-License-Identifier: MIT */
/*
 * capture_dump.c - writing what was captured (-w) as a pcap file.
 *
 * Beside the first stage of the pipeline: every record a source delivers can
 * also go, unchanged, into a classic pcap file through libpcap's dumper, so
 * `htracr -r` (or tcpdump, tshark) reads back the same packets. Timestamps
 * are written in nanoseconds (magic a1b23c4d), which is what every source
 * gives, so nothing is rounded.
 *
 * The file is created by open(2) with mode 0600 and made 0600 again if it
 * already existed (only when it is a regular file: "-w /dev/null" must not
 * change /dev/null), since it holds cookies and credentials from the wire.
 * "-" writes to standard output through a duplicate of the descriptor, so
 * closing the dump does not close stdout.
 *
 * A pcap file has one link type: records of another are counted
 * (capture_dump_skipped) and not written. Records longer than the file's
 * snaplen are cut to it, since readers (libpcap among them) cut them anyway;
 * a warning says so once. libpcap's dumper ignores write errors, so the
 * stdio stream's error flag is checked after each record and on flush and
 * close; the first error is sticky.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "htracr/capture.h"
#include "htracr/log.h"

#define DUMP_DEFAULT_SNAPLEN 262144
#define DUMP_NAME_MAX 160

struct capture_dump {
    pcap_t *dead; /* only describes the file: link type, snaplen, precision */
    pcap_dumper_t *pd;
    FILE *fp;     /* owned by pd */
    int linktype; /* LINK_* */
    uint32_t snaplen;
    uint64_t skipped; /* records of another link type */
    uint64_t clipped; /* records cut to snaplen */
    int err;          /* sticky negative errno */
    char name[DUMP_NAME_MAX];
};

/* LINK_* (the file format's LINKTYPE_* numbers) to the DLT_* libpcap's
 * pcap_open_dead wants; libpcap maps them back when it writes the header.
 * They differ for raw IP only. */
static int dump_dlt_of_link(int link)
{
    if (link == LINK_RAW)
        return DLT_RAW;
#ifdef DLT_LOOP
    if (link == LINK_LOOP)
        return DLT_LOOP;
#endif
    return link;
}

static void dump_free(struct capture_dump *d)
{
    if (d->pd)
        pcap_dump_close(d->pd); /* fclose()s d->fp */
    else if (d->fp)
        fclose(d->fp);
    if (d->dead)
        pcap_close(d->dead);
    free(d);
}

struct capture_dump *capture_dump_open(const char *path, int linktype, uint32_t snaplen,
                                       char errbuf[CAPTURE_ERRBUF])
{
    struct capture_dump *d = NULL;
    struct stat stb;
    int fd = -1, err = 0;
    int to_stdout = path && strcmp(path, "-") == 0;

    if (!path || !*path) {
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write capture file: empty path");
        errno = EINVAL;
        return NULL;
    }
    if (linktype < 0 || linktype > 0xffff) {
        snprintf(errbuf, CAPTURE_ERRBUF,
                 "cannot write %s: the capture has no single link type (%d)", path, linktype);
        errno = EINVAL;
        return NULL;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        err = ENOMEM;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %s: out of memory", path);
        goto out;
    }
    snprintf(d->name, sizeof(d->name), "%s", to_stdout ? "standard output" : path);
    d->linktype = linktype;
    d->snaplen = snaplen ? snaplen : DUMP_DEFAULT_SNAPLEN;
    if (d->snaplen > 0x7fffffff)
        d->snaplen = 0x7fffffff;

    if (to_stdout) {
        fd = dup(STDOUT_FILENO);
    } else {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
        err = errno;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot create %s: %s", d->name, strerror(err));
        goto out;
    }
    /* An existing file keeps its old mode through O_CREAT: tighten it. */
    if (!to_stdout && fstat(fd, &stb) == 0 && S_ISREG(stb.st_mode) &&
        (stb.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) {
        err = errno;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot make %s private (chmod 600): %s", d->name,
                 strerror(err));
        goto out;
    }
    d->fp = fdopen(fd, "wb");
    if (!d->fp) {
        err = errno;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %s: %s", d->name, strerror(err));
        goto out;
    }
    fd = -1; /* owned by fp */
    d->dead = pcap_open_dead_with_tstamp_precision(dump_dlt_of_link(linktype), (int)d->snaplen,
                                                   PCAP_TSTAMP_PRECISION_NANO);
    if (!d->dead) {
        err = ENOMEM;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %s: libpcap could not start", d->name);
        goto out;
    }
    d->pd = pcap_dump_fopen(d->dead, d->fp);
    if (!d->pd) {
        err = EIO;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %s: %s", d->name, pcap_geterr(d->dead));
        goto out;
    }
    /* The header is buffered; a full disk or a closed pipe shows at once. */
    if (fflush(d->fp) != 0) {
        err = errno ? errno : EIO;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %s: %s", d->name, strerror(err));
        goto out;
    }
    log_msg(LOG_DEBUG, "writing %s: link type %d, snaplen %u", d->name, linktype, d->snaplen);
out:
    if (err) {
        if (fd >= 0)
            close(fd);
        if (d)
            dump_free(d);
        errno = err;
        return NULL;
    }
    return d;
}

int capture_dump_write(struct capture_dump *d, const struct capture_rec *rec)
{
    struct pcap_pkthdr h;
    int64_t ts;

    if (!d || !rec || (!rec->data && rec->caplen))
        return -EINVAL;
    if (d->err)
        return d->err;
    if (rec->linktype != d->linktype) {
        d->skipped++;
        return 0;
    }
    ts = rec->ts_ns < 0 ? 0 : rec->ts_ns;
    memset(&h, 0, sizeof(h));
    h.ts.tv_sec = (time_t)(ts / 1000000000);
    h.ts.tv_usec = (suseconds_t)(ts % 1000000000); /* ns: the dumper was opened with NANO */
    h.caplen = rec->caplen;
    h.len = rec->wirelen < rec->caplen ? rec->caplen : rec->wirelen;
    if (h.caplen > d->snaplen) {
        if (d->clipped++ == 0)
            log_msg(LOG_WARN, "%s: records longer than its snaplen %u are cut to it", d->name,
                    d->snaplen);
        h.caplen = d->snaplen;
    }
    errno = 0;
    pcap_dump((u_char *)d->pd, &h, rec->data);
    if (ferror(d->fp)) {
        d->err = errno ? -errno : -EIO;
        log_msg(LOG_ERROR, "writing '%s' failed: %s", d->name, strerror(-d->err));
    }
    return d->err;
}

int capture_dump_flush(struct capture_dump *d)
{
    if (!d)
        return -EINVAL;
    if (d->err)
        return d->err;
    errno = 0;
    if (pcap_dump_flush(d->pd) != 0 || ferror(d->fp)) {
        d->err = errno ? -errno : -EIO;
        log_msg(LOG_ERROR, "writing '%s' failed: %s", d->name, strerror(-d->err));
    }
    return d->err;
}

uint64_t capture_dump_skipped(const struct capture_dump *d)
{
    return d ? d->skipped : 0;
}

int capture_dump_close(struct capture_dump *d)
{
    int err;

    if (!d)
        return 0;
    err = capture_dump_flush(d);
    if (d->clipped)
        log_msg(LOG_WARN, "%s: %llu records cut to the snaplen %u", d->name,
                (unsigned long long)d->clipped, d->snaplen);
    /* pcap_dump_close() returns nothing; after a clean fflush() the only
     * error left would be close(2)'s, which local file systems do not give. */
    dump_free(d);
    return err;
}
