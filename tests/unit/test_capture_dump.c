/* SPDX-License-Identifier: MIT */
/*
 * test_capture_dump.c - unit tests for the pcap writer behind -w
 * (capture_dump.c). Records are written with capture_dump_* and read back
 * with capture_open_file (capture_file.c), which must give the same bytes,
 * wire lengths, nanosecond timestamps and link type; records of another
 * link type are counted and left out; the file is mode 0600, also when it
 * existed with a wider mode; "-" writes to standard output; a path that
 * cannot be created gives an error naming it; a write error (/dev/full) is
 * reported by flush and close. Rotation (-C, -W): the files' names and
 * sizes, every record once and in order across them, a ring that keeps
 * the last files only, padded numbers, a next file that cannot be made.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "htracr/capture.h"

#define NREC 4
#define SEC0 1700000000LL

static const char *dump_tmp(const char *name)
{
    static char path[4][256];
    static int slot;
    char *p = path[slot++ % 4];

    snprintf(p, 256, "/tmp/htracr-tcd-%d-%s", (int)getpid(), name);
    return p;
}

/* Record i: 30 + 17*i bytes (i*5 + k), 200 + i on the wire, a timestamp
 * that needs all nine digits of the fraction. */
static uint32_t dump_caplen(int i)
{
    return 30 + 17 * (uint32_t)i;
}

static int64_t dump_ts(int i)
{
    return (SEC0 + 3 * i) * 1000000000LL + 987654321 - i;
}

static void dump_bytes(int i, uint8_t *out)
{
    for (uint32_t k = 0; k < dump_caplen(i); k++)
        out[k] = (uint8_t)(i * 5 + k);
}

static struct capture_rec dump_rec(int i, int linktype, uint8_t *buf)
{
    struct capture_rec r = {0};

    dump_bytes(i, buf);
    r.ts_ns = dump_ts(i);
    r.linktype = linktype;
    r.data = buf;
    r.caplen = dump_caplen(i);
    r.wirelen = 200 + (uint32_t)i;
    return r;
}

/* Read path back and compare with records 0..NREC-1 of linktype. Returns 0,
 * or the line of the first difference (reported by the caller). */
static int dump_read_back(const char *path, int linktype)
{
    char err[CAPTURE_ERRBUF];
    struct capture *cap = capture_open_file(path, err);
    struct capture_rec r;
    uint8_t want[256];
    int i = 0, bad = 0;

    if (!cap) return __LINE__;
    if (capture_linktype(cap) != linktype) bad = __LINE__;
    while (!bad && capture_next(cap, &r, err) == 1) {
        if (i >= NREC) {
            bad = __LINE__;
            break;
        }
        dump_bytes(i, want);
        if (r.linktype != linktype || r.ts_ns != dump_ts(i) || r.caplen != dump_caplen(i) ||
            r.wirelen != 200 + (uint32_t)i || memcmp(r.data, want, r.caplen) != 0)
            bad = __LINE__;
        i++;
    }
    if (!bad && i != NREC) bad = __LINE__;
    capture_close(cap);
    return bad;
}

static int dump_write_all(struct capture_dump *d, int linktype)
{
    uint8_t buf[256];

    for (int i = 0; i < NREC; i++) {
        struct capture_rec r = dump_rec(i, linktype, buf);
        int e = capture_dump_write(d, &r);

        if (e < 0) return e;
    }
    return 0;
}

TEST(capture_dump_round_trip)
{
    static const int types[] = {LINK_ETHERNET, LINK_RAW, LINK_LINUX_SLL, LINK_LINUX_SLL2,
                                LINK_NULL};
    const char *path = dump_tmp("rt.pcap");
    char err[CAPTURE_ERRBUF];

    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        struct capture_dump *d = capture_dump_open(path, types[t], 0, err);

        CHECK(d != NULL);
        CHECK_INT(dump_write_all(d, types[t]), 0);
        CHECK_INT(capture_dump_skipped(d), 0);
        CHECK_INT(capture_dump_close(d), 0);
        CHECK_INT(dump_read_back(path, types[t]), 0);
    }
    unlink(path);
}

TEST(capture_dump_other_linktype_skipped)
{
    const char *path = dump_tmp("skip.pcap");
    char err[CAPTURE_ERRBUF];
    struct capture_dump *d = capture_dump_open(path, LINK_ETHERNET, 65535, err);
    uint8_t buf[256];
    struct capture_rec r;

    CHECK(d != NULL);
    for (int i = 0; i < NREC; i++) {
        /* a foreign record before each of ours */
        r = dump_rec(i, LINK_LINUX_SLL2, buf);
        CHECK_INT(capture_dump_write(d, &r), 0);
        r = dump_rec(i, LINK_ETHERNET, buf);
        CHECK_INT(capture_dump_write(d, &r), 0);
    }
    CHECK_INT(capture_dump_skipped(d), NREC);
    CHECK_INT(capture_dump_flush(d), 0);
    CHECK_INT(capture_dump_close(d), 0);
    CHECK_INT(dump_read_back(path, LINK_ETHERNET), 0);
    unlink(path);
}

TEST(capture_dump_mode_0600)
{
    const char *path = dump_tmp("mode.pcap");
    char err[CAPTURE_ERRBUF];
    struct capture_dump *d;
    struct stat st;
    mode_t old = umask(0);
    int fd;

    /* new file */
    unlink(path);
    d = capture_dump_open(path, LINK_ETHERNET, 0, err);
    umask(old);
    CHECK(d != NULL);
    CHECK_INT(capture_dump_close(d), 0);
    CHECK(stat(path, &st) == 0);
    CHECK_INT(st.st_mode & 07777, 0600);

    /* an existing file, world-readable, with old contents */
    CHECK(chmod(path, 0644) == 0);
    fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(write(fd, "old bytes, longer than what comes next", 38) == 38);
    close(fd);
    d = capture_dump_open(path, LINK_ETHERNET, 0, err);
    CHECK(d != NULL);
    CHECK_INT(dump_write_all(d, LINK_ETHERNET), 0);
    CHECK_INT(capture_dump_close(d), 0);
    CHECK(stat(path, &st) == 0);
    CHECK_INT(st.st_mode & 07777, 0600);
    CHECK_INT(dump_read_back(path, LINK_ETHERNET), 0); /* truncated, not appended */
    unlink(path);
}

TEST(capture_dump_bad_path)
{
    char err[CAPTURE_ERRBUF] = "";
    const char *path = "/nonexistent-htracr-dir/x.pcap";
    struct capture_dump *d;

    errno = 0;
    d = capture_dump_open(path, LINK_ETHERNET, 0, err);
    CHECK(d == NULL);
    CHECK_INT(errno, ENOENT);
    CHECK(strstr(err, path) != NULL);
    CHECK(strstr(err, "No such file") != NULL);

    d = capture_dump_open("/tmp", LINK_ETHERNET, 0, err);
    CHECK(d == NULL);
    CHECK(strstr(err, "/tmp") != NULL);

    d = capture_dump_open("", LINK_ETHERNET, 0, err);
    CHECK(d == NULL);

    /* a capture whose link type varies per record cannot be one pcap file */
    d = capture_dump_open(dump_tmp("varies.pcap"), -1, 0, err);
    CHECK(d == NULL);
    CHECK(strstr(err, "link type") != NULL);
}

TEST(capture_dump_write_error)
{
    char err[CAPTURE_ERRBUF];
    struct capture_dump *d;
    uint8_t buf[256];
    int e = 0;

    if (access("/dev/full", W_OK) != 0) return; /* nothing to test against */
    /* The 24-byte header is flushed at open: /dev/full fails there... */
    d = capture_dump_open("/dev/full", LINK_ETHERNET, 0, err);
    CHECK(d == NULL);
    CHECK(strstr(err, "/dev/full") != NULL);
    CHECK(strstr(err, "No space") != NULL);

    /* ...and a stream that fails later fails on write/flush/close: stdout
     * pointed at /dev/full. */
    int saved = dup(STDOUT_FILENO), full = open("/dev/full", O_WRONLY);
    CHECK(saved >= 0 && full >= 0);
    fflush(stdout);
    dup2(full, STDOUT_FILENO);
    d = capture_dump_open("-", LINK_ETHERNET, 0, err);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(full);
    CHECK(d == NULL); /* the header could not be written either */

    /* A file that runs out of room after the header: RLIMIT_FSIZE would
     * raise SIGXFSZ, so simulate with a pipe whose reader is gone. */
    int p[2];
    CHECK(pipe(p) == 0);
    saved = dup(STDOUT_FILENO);
    fflush(stdout);
    dup2(p[1], STDOUT_FILENO);
    d = capture_dump_open("-", LINK_ETHERNET, 0, err);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(p[1]);
    CHECK(d != NULL);
    close(p[0]); /* the reader goes away */
    {
        struct sigaction sa = {0}, old;

        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, &old);
        for (int k = 0; k < 2000 && e == 0; k++) {
            struct capture_rec r = dump_rec(k % NREC, LINK_ETHERNET, buf);

            e = capture_dump_write(d, &r);
            if (e == 0 && k % 100 == 99) e = capture_dump_flush(d);
        }
        CHECK(e < 0);
        CHECK(capture_dump_flush(d) < 0);
        CHECK(capture_dump_close(d) < 0);
        sigaction(SIGPIPE, &old, NULL);
    }
}

TEST(capture_dump_stdout)
{
    const char *path = dump_tmp("stdout.pcap");
    char err[CAPTURE_ERRBUF];
    struct capture_dump *d;
    int saved, fd;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    d = capture_dump_open("-", LINK_LINUX_SLL2, 0, err);
    if (d) {
        dump_write_all(d, LINK_LINUX_SLL2);
        capture_dump_close(d);
    }
    /* stdout itself must still be open after the dump closed */
    int still_open = fcntl(STDOUT_FILENO, F_GETFD) >= 0;
    dup2(saved, STDOUT_FILENO);
    close(saved);
    CHECK(d != NULL);
    CHECK(still_open);
    CHECK_INT(dump_read_back(path, LINK_LINUX_SLL2), 0);
    unlink(path);
}

TEST(capture_dump_snaplen_cut)
{
    const char *path = dump_tmp("snap.pcap");
    char err[CAPTURE_ERRBUF];
    struct capture_dump *d = capture_dump_open(path, LINK_ETHERNET, 40, err);
    struct capture *cap;
    struct capture_rec r;
    uint8_t buf[256], want[256];
    int i = 0;

    CHECK(d != NULL);
    CHECK_INT(dump_write_all(d, LINK_ETHERNET), 0);
    CHECK_INT(capture_dump_close(d), 0);
    cap = capture_open_file(path, err);
    CHECK(cap != NULL);
    while (capture_next(cap, &r, err) == 1) {
        uint32_t want_len = dump_caplen(i) < 40 ? dump_caplen(i) : 40;

        dump_bytes(i, want);
        if (r.caplen != want_len || r.wirelen != 200 + (uint32_t)i ||
            memcmp(r.data, want, want_len) != 0 || r.ts_ns != dump_ts(i)) {
            capture_close(cap);
            CHECK(!"record differs");
        }
        i++;
    }
    capture_close(cap);
    CHECK_INT(i, NREC);
    /* libpcap cuts long records to the snaplen on reading anyway: check
     * the file itself holds no more than that */
    struct stat st;
    off_t want_size = 24;
    for (i = 0; i < NREC; i++)
        want_size += 16 + (dump_caplen(i) < 40 ? dump_caplen(i) : 40);
    CHECK(stat(path, &st) == 0);
    CHECK_INT(st.st_size, want_size);
    (void)buf;
    unlink(path);
}

/* Rotation: record i of 100 bytes, its first byte i. */
#define ROT_LEN 100
#define ROT_LIMIT 1000 /* bytes a file may pass: 9 records (24 + 9 x 116 > 1000) */
#define ROT_PER_FILE 9

static int rot_write(struct capture_dump *d, int from, int to)
{
    uint8_t buf[ROT_LEN];
    for (int i = from; i < to; i++) {
        struct capture_rec r = {0};
        memset(buf, 0, sizeof(buf));
        buf[0] = (uint8_t)i;
        r.ts_ns = (SEC0 + i) * 1000000000LL;
        r.linktype = LINK_ETHERNET;
        r.data = buf;
        r.caplen = r.wirelen = ROT_LEN;
        int e = capture_dump_write(d, &r);
        if (e < 0)
            return e;
    }
    return 0;
}

/* The records of file path appended to seen[*n] (their first bytes); -1
 * when it cannot be read. */
static int rot_read(const char *path, int *seen, int *n, int max)
{
    char err[CAPTURE_ERRBUF];
    struct capture *cap = capture_open_file(path, err);
    struct capture_rec r;
    if (!cap)
        return -1;
    while (capture_next(cap, &r, err) == 1 && *n < max)
        seen[(*n)++] = r.caplen == ROT_LEN ? r.data[0] : -1;
    capture_close(cap);
    return 0;
}

/* -C alone: PATH, PATH1, PATH2, ... each past the limit by less than a
 * record but the last; read in order, every record once, in order. */
TEST(capture_dump_rotation_files)
{
    const char *path = dump_tmp("rot.pcap");
    char err[CAPTURE_ERRBUF], name[300];
    struct capture_dump *d = capture_dump_open_rotating(path, LINK_ETHERNET, 0, ROT_LIMIT, 0, err);
    CHECK(d != NULL);
    CHECK_INT(rot_write(d, 0, 40), 0);
    CHECK_INT(capture_dump_files(d), 5); /* 40 = 4 x 9 + 4 */
    CHECK_INT(capture_dump_close(d), 0);
    int seen[64], n = 0;
    for (int f = 0; f < 5; f++) {
        struct stat sb;
        if (f == 0)
            snprintf(name, sizeof(name), "%s", path);
        else
            snprintf(name, sizeof(name), "%s%d", path, f);
        CHECK(stat(name, &sb) == 0);
        CHECK_INT(sb.st_mode & 07777, 0600);
        CHECK_INT(sb.st_size, 24 + (f < 4 ? ROT_PER_FILE : 4) * (16 + ROT_LEN));
        CHECK_INT(rot_read(name, seen, &n, 64), 0);
        unlink(name);
    }
    CHECK_INT(n, 40);
    for (int i = 0; i < 40; i++)
        CHECK_INT(seen[i], i);
    snprintf(name, sizeof(name), "%s5", path);
    CHECK(access(name, F_OK) != 0);
}

/* -C with -W 3: PATH0..PATH2 only, made at the start (each a pcap file of
 * no packets); written round and round, they hold the last files'
 * records, each file emptied when its turn came again. */
TEST(capture_dump_rotation_ring)
{
    const char *path = dump_tmp("ring.pcap");
    char err[CAPTURE_ERRBUF], name[300];
    struct capture_dump *d = capture_dump_open_rotating(path, LINK_ETHERNET, 0, ROT_LIMIT, 3, err);
    CHECK(d != NULL);
    for (int f = 0; f < 3; f++) { /* all three, pcap files of no packets till their turn */
        struct stat sb;
        int none[1], n0 = 0;
        snprintf(name, sizeof(name), "%s%d", path, f);
        CHECK(stat(name, &sb) == 0);
        CHECK_INT(sb.st_size, 24);
        CHECK_INT(rot_read(name, none, &n0, 1), 0);
        CHECK_INT(n0, 0);
    }
    CHECK_INT(rot_write(d, 0, 50), 0); /* files 0..5: 5 x 9 + 5 */
    CHECK_INT(capture_dump_files(d), 6);
    CHECK_INT(capture_dump_close(d), 0);
    int seen[64], n = 0;
    for (int f = 0; f < 3; f++) { /* files 3, 4, 5 are PATH0, PATH1, PATH2 */
        snprintf(name, sizeof(name), "%s%d", path, f);
        CHECK_INT(rot_read(name, seen, &n, 64), 0);
        unlink(name);
    }
    CHECK_INT(n, 50 - 3 * ROT_PER_FILE);
    for (int i = 0; i < n; i++)
        CHECK_INT(seen[i], 3 * ROT_PER_FILE + i);
    snprintf(name, sizeof(name), "%s3", path);
    CHECK(access(name, F_OK) != 0);
    CHECK(access(path, F_OK) != 0);
}

/* Ten or more files pad their numbers; a next file that cannot be made
 * stops the writing with an error that close reports; a long name's next
 * files are named by all of it; bad combinations are refused. */
TEST(capture_dump_rotation_edges)
{
    const char *path = dump_tmp("edge.pcap");
    char err[CAPTURE_ERRBUF], name[300];
    struct capture_dump *d = capture_dump_open_rotating(path, LINK_ETHERNET, 0, ROT_LIMIT, 11, err);
    CHECK(d != NULL);
    CHECK_INT(capture_dump_close(d), 0);
    for (int f = 0; f < 11; f++) {
        snprintf(name, sizeof(name), "%s%02d", path, f);
        CHECK(access(name, F_OK) == 0);
        unlink(name);
    }

    snprintf(name, sizeof(name), "%s1", path);
    CHECK(mkdir(name, 0700) == 0); /* where the second file would go */
    d = capture_dump_open_rotating(path, LINK_ETHERNET, 0, ROT_LIMIT, 0, err);
    CHECK(d != NULL);
    CHECK_INT(rot_write(d, 0, ROT_PER_FILE), 0);
    CHECK_INT(capture_dump_error(d), 0);
    CHECK(rot_write(d, ROT_PER_FILE, ROT_PER_FILE + 1) < 0);
    CHECK(rot_write(d, 0, 1) < 0); /* sticky */
    CHECK(capture_dump_error(d) < 0);
    CHECK(capture_dump_close(d) < 0);
    rmdir(name);
    int seen[16], n = 0;
    CHECK_INT(rot_read(path, seen, &n, 16), 0);
    CHECK_INT(n, ROT_PER_FILE); /* the first file is whole */
    unlink(path);

    /* a long name (200 characters) makes its next files by its whole name */
    char longp[280], longn[300];
    snprintf(longp, sizeof(longp), "%s-%0190d", path, 0);
    d = capture_dump_open_rotating(longp, LINK_ETHERNET, 0, ROT_LIMIT, 0, err);
    CHECK(d != NULL);
    CHECK_INT(rot_write(d, 0, ROT_PER_FILE + 1), 0);
    CHECK_INT(capture_dump_close(d), 0);
    snprintf(longn, sizeof(longn), "%s1", longp);
    CHECK(access(longn, F_OK) == 0);
    unlink(longn);
    unlink(longp);

    CHECK(capture_dump_open_rotating("-", LINK_ETHERNET, 0, ROT_LIMIT, 0, err) == NULL);
    CHECK(capture_dump_open_rotating(path, LINK_ETHERNET, 0, 0, 3, err) == NULL);
    CHECK(capture_dump_open_rotating(path, LINK_ETHERNET, 0, ROT_LIMIT,
                                     CAPTURE_DUMP_MAX_FILES + 1, err) == NULL);
    CHECK(access(path, F_OK) != 0);
}
