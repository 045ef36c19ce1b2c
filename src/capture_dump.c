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
 * Rotation (-C and -W, as tcpdump has them): once a file is past the size
 * limit, the next record starts a new one. With a count of files, all of
 * them are opened here, before htracr gives root up, and each is emptied
 * when its turn comes round again: so a tracer left running for days keeps
 * its last COUNT x SIZE of traffic and no more, and never needs to create
 * a file as the user it became. Without a count, each file is created when
 * it starts, by that user.
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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "htracr/capture.h"
#include "htracr/log.h"

#define DUMP_DEFAULT_SNAPLEN 262144
#define DUMP_NAME_MAX (PATH_MAX + 32) /* a path: rotation makes its files by it */

struct capture_dump {
    pcap_t *dead; /* only describes the file: link type, snaplen, precision */
    pcap_dumper_t *pd;
    FILE *fp;     /* owned by pd */
    int linktype; /* LINK_* */
    uint32_t snaplen;
    uint64_t skipped;         /* records of another link type */
    uint64_t clipped;         /* records cut to snaplen */
    int err;                  /* sticky negative errno */
    int to_stdout;            /* "-" */
    char name[DUMP_NAME_MAX]; /* the path of the file being written */
    /* rotation */
    char *base;      /* -w's path */
    uint64_t limit;  /* bytes a file may pass before the next starts; 0 never */
    uint32_t nfiles; /* files in the ring; 0 no bound */
    int *fds;        /* the ring's files, opened at the start */
    uint64_t index;  /* number of the file being written, from 0 */
    uint64_t bytes;  /* written to it */
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

/* The file being written, closed (the ring's descriptors stay). */
static void dump_end_file(struct capture_dump *d)
{
    if (d->pd)
        pcap_dump_close(d->pd); /* fclose()s d->fp */
    else if (d->fp)
        fclose(d->fp);
    d->pd = NULL;
    d->fp = NULL;
}

static void dump_free(struct capture_dump *d)
{
    dump_end_file(d);
    if (d->dead)
        pcap_close(d->dead);
    for (uint32_t i = 0; d->fds && i < d->nfiles; i++)
        if (d->fds[i] >= 0)
            close(d->fds[i]);
    free(d->fds);
    free(d->base);
    free(d);
}

/* File number idx's name: -w's path, and with rotation a number after it
 * (tcpdump's names): PATH, PATH1, PATH2, ...; in a ring of N, PATH0 to
 * PATH<N-1>, padded with zeros to the width of N-1. */
static void dump_file_name(const struct capture_dump *d, uint64_t idx, char *out, size_t n)
{
    if (d->nfiles) {
        int width = 1;
        for (uint32_t v = d->nfiles - 1; v >= 10; v /= 10)
            width++;
        snprintf(out, n, "%s%0*llu", d->base, width, (unsigned long long)(idx % d->nfiles));
    } else if (idx == 0) {
        snprintf(out, n, "%s", d->base);
    } else {
        snprintf(out, n, "%s%llu", d->base, (unsigned long long)idx);
    }
}

/* Create (or empty) path with mode 0600: a descriptor, or -errno with the
 * reason in errbuf. rotating: it must be a regular file (the ring empties
 * its files with ftruncate). */
static int dump_create(const char *path, int rotating, char errbuf[CAPTURE_ERRBUF])
{
    struct stat stb;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), err;

    if (fd < 0) {
        err = errno;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot create %s: %s", path, strerror(err));
        return -err;
    }
    if (fstat(fd, &stb) < 0) {
        err = errno;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %s: %s", path, strerror(err));
        close(fd);
        return -err;
    }
    if (rotating && !S_ISREG(stb.st_mode)) {
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot rotate %s (-C): it is not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    /* An existing file keeps its old mode through O_CREAT: tighten it. */
    if (S_ISREG(stb.st_mode) && (stb.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) {
        err = errno;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot make %s private (chmod 600): %s", path,
                 strerror(err));
        close(fd);
        return -err;
    }
    return fd;
}

/* Start writing the pcap header into fd (taken over, closed on failure).
 * 0 or -errno with the reason in errbuf. */
static int dump_start(struct capture_dump *d, int fd, char errbuf[CAPTURE_ERRBUF])
{
    int err;

    d->fp = fdopen(fd, "wb");
    if (!d->fp) {
        err = errno;
        close(fd);
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %.200s: %s", d->name, strerror(err));
        return -err;
    }
    d->pd = pcap_dump_fopen(d->dead, d->fp);
    if (!d->pd) {
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %.200s: %s", d->name, pcap_geterr(d->dead));
        return -EIO;
    }
    /* The header is buffered; a full disk or a closed pipe shows at once. */
    if (fflush(d->fp) != 0) {
        err = errno ? errno : EIO;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %.200s: %s", d->name, strerror(err));
        return -err;
    }
    d->bytes = 24; /* the file header */
    return 0;
}

/* Start writing file number idx (a file of -w's path, not "-"): the
 * ring's, emptied, or one made now. 0 or -errno with the reason in
 * errbuf. */
static int dump_start_file(struct capture_dump *d, uint64_t idx, char errbuf[CAPTURE_ERRBUF])
{
    int fd, err;

    dump_file_name(d, idx, d->name, sizeof(d->name));
    if (!d->nfiles) {
        fd = dump_create(d->name, d->limit != 0, errbuf);
        return fd < 0 ? fd : dump_start(d, fd, errbuf);
    }
    fd = dup(d->fds[idx % d->nfiles]);
    if (fd < 0 || ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        err = errno;
        if (fd >= 0)
            close(fd);
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot empty %.200s: %s", d->name, strerror(err));
        return -err;
    }
    return dump_start(d, fd, errbuf);
}

/* The next file of the rotation, in place of the current one. 0, or the
 * sticky -errno (said once). */
static int dump_rotate(struct capture_dump *d)
{
    char errbuf[CAPTURE_ERRBUF];
    int r;

    errno = 0;
    if (pcap_dump_flush(d->pd) != 0 || ferror(d->fp)) {
        d->err = errno ? -errno : -EIO;
        log_msg(LOG_ERROR, "writing '%s' failed: %s", d->name, strerror(-d->err));
        return d->err;
    }
    dump_end_file(d);
    r = dump_start_file(d, ++d->index, errbuf);
    if (r < 0) {
        d->err = r;
        log_msg(LOG_ERROR, "%s; -w writes nothing more", errbuf);
        return r;
    }
    log_msg(LOG_DEBUG, "writing %s", d->name);
    return 0;
}

struct capture_dump *capture_dump_open(const char *path, int linktype, uint32_t snaplen,
                                       char errbuf[CAPTURE_ERRBUF])
{
    return capture_dump_open_rotating(path, linktype, snaplen, 0, 0, errbuf);
}

struct capture_dump *capture_dump_open_rotating(const char *path, int linktype, uint32_t snaplen,
                                                uint64_t size_limit, uint32_t max_files,
                                                char errbuf[CAPTURE_ERRBUF])
{
    struct capture_dump *d = NULL;
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
    if ((size_limit && to_stdout) || (max_files && !size_limit) ||
        max_files > CAPTURE_DUMP_MAX_FILES) {
        snprintf(errbuf, CAPTURE_ERRBUF,
                 "cannot write %s: -C rotates files (not standard output), -W counts them "
                 "(with -C, at most %d)",
                 path, CAPTURE_DUMP_MAX_FILES);
        errno = EINVAL;
        return NULL;
    }
    d = calloc(1, sizeof(*d));
    if (!d || !(d->base = strdup(path))) {
        err = ENOMEM;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %s: out of memory", path);
        goto out;
    }
    d->limit = size_limit;
    d->nfiles = max_files;
    d->to_stdout = to_stdout;
    d->linktype = linktype;
    d->snaplen = snaplen ? snaplen : DUMP_DEFAULT_SNAPLEN;
    if (d->snaplen > 0x7fffffff)
        d->snaplen = 0x7fffffff;
    d->dead = pcap_open_dead_with_tstamp_precision(dump_dlt_of_link(linktype), (int)d->snaplen,
                                                   PCAP_TSTAMP_PRECISION_NANO);
    if (!d->dead) {
        err = ENOMEM;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %s: libpcap could not start", path);
        goto out;
    }
    if (d->nfiles) {
        /* The whole ring now, while htracr may still create files anywhere:
         * a descriptor each, so the limit on them may have to rise. */
        struct rlimit rl;
        rlim_t want = (rlim_t)d->nfiles + 64;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            rl.rlim_cur < want) {
            rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want) {
                err = EMFILE;
                snprintf(errbuf, CAPTURE_ERRBUF,
                         "cannot write %s: -W %u keeps %u files open, past the limit of "
                         "%llu open files (ulimit -n)",
                         path, d->nfiles, d->nfiles, (unsigned long long)rl.rlim_cur);
                goto out;
            }
        }
        d->fds = malloc(sizeof(int) * d->nfiles);
        if (!d->fds) {
            err = ENOMEM;
            snprintf(errbuf, CAPTURE_ERRBUF, "cannot write %s: out of memory", path);
            goto out;
        }
        for (uint32_t i = 0; i < d->nfiles; i++)
            d->fds[i] = -1;
        for (uint32_t i = 0; i < d->nfiles; i++) {
            dump_file_name(d, i, d->name, sizeof(d->name));
            d->fds[i] = dump_create(d->name, 1, errbuf);
            if (d->fds[i] < 0) {
                err = -d->fds[i];
                goto out;
            }
        }
        /* Each a pcap file of no packets until its turn (its header
         * written out): whatever reads the ring's files meanwhile reads
         * them all. */
        for (uint32_t i = d->nfiles - 1; i > 0; i--) {
            err = -dump_start_file(d, i, errbuf);
            dump_end_file(d);
            if (err)
                goto out;
        }
    }
    if (to_stdout) {
        snprintf(d->name, sizeof(d->name), "standard output");
        fd = dup(STDOUT_FILENO);
        if (fd < 0) {
            err = errno;
            snprintf(errbuf, CAPTURE_ERRBUF, "cannot write standard output: %s", strerror(err));
            goto out;
        }
        err = -dump_start(d, fd, errbuf); /* takes fd */
    } else {
        err = -dump_start_file(d, 0, errbuf);
    }
    if (err)
        goto out;
    log_msg(LOG_DEBUG, "writing %s: link type %d, snaplen %u", d->name, linktype, d->snaplen);
out:
    if (err) {
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
    /* As tcpdump: a file past the limit ends before the next record. */
    if (d->limit && d->bytes > d->limit && dump_rotate(d) < 0)
        return d->err;
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
    d->bytes += 16 + h.caplen;
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

uint64_t capture_dump_files(const struct capture_dump *d)
{
    return d ? d->index + 1 : 0;
}

void capture_dump_chown(struct capture_dump *d, uid_t uid, gid_t gid)
{
    if (!d)
        return;
    if (d->nfiles) {
        for (uint32_t i = 0; i < d->nfiles; i++)
            if (fchown(d->fds[i], uid, gid) < 0)
                log_msg(LOG_DEBUG, "chown file %u of -w's ring: %s", i, strerror(errno));
    } else if (d->fp && !d->to_stdout && fchown(fileno(d->fp), uid, gid) < 0) {
        log_msg(LOG_DEBUG, "chown %s: %s", d->name, strerror(errno));
    }
}

int capture_dump_error(const struct capture_dump *d)
{
    return d ? d->err : 0;
}
