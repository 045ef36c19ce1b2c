/* SPDX-License-Identifier: MIT */
/*
 * test_capture_file.c - unit tests for the capture-file source (capture.c,
 * capture_file.c). Each test writes the bytes of a small pcap or pcapng file
 * itself (microsecond and nanosecond resolution, both byte orders), reads it
 * back from a file in /tmp, from memory, gzip'd and from standard input, and
 * checks records, timestamps and stats; then truncated and bad inputs, which
 * must give whole records followed by a clear error naming the source.
 * Last, the fast path for plain pcap files against libpcap: every corpus
 * pcap and many crafted hostile files (cut at every byte, lying lengths,
 * odd snaplens, absurd times, random damage) read both ways must agree
 * record for record, error for error and in the stats.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "testlib.h"
#include "htracr/capture.h"
#include "htracr/log.h"

#define NREC 3
#define SEC0 1700000000LL

/* ---- writers ---- */

struct buf {
    uint8_t *b;
    size_t n, cap;
};

static void buf_put(struct buf *w, const void *d, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 256;
        w->b = realloc(w->b, w->cap);
    }
    if (n) memcpy(w->b + w->n, d, n);
    w->n += n;
}

static void buf_u16(struct buf *w, unsigned v, int be)
{
    uint8_t b[2] = {(uint8_t)(be ? v >> 8 : v), (uint8_t)(be ? v : v >> 8)};

    buf_put(w, b, 2);
}

static void buf_u32(struct buf *w, uint32_t v, int be)
{
    if (be) {
        buf_u16(w, v >> 16, 1);
        buf_u16(w, v & 0xffff, 1);
    } else {
        buf_u16(w, v & 0xffff, 0);
        buf_u16(w, v >> 16, 0);
    }
}

/* Record i: length 40 + 13*i captured, 100 + i on the wire; bytes i*7 + k;
 * timestamp SEC0 + i seconds plus a fraction that needs full precision. */
static uint32_t rec_caplen(int i)
{
    return 40 + 13 * (uint32_t)i;
}

static int64_t rec_ts_ns(int i, int nano)
{
    int64_t frac = nano ? 123456789 + i : (123456 + i) * 1000LL;

    return (SEC0 + i) * 1000000000LL + frac;
}

static void rec_bytes(int i, uint8_t *out)
{
    for (uint32_t k = 0; k < rec_caplen(i); k++)
        out[k] = (uint8_t)(i * 7 + k);
}

static struct buf make_pcap(int nano, int be, uint32_t linktype)
{
    struct buf w = {0};
    uint8_t data[256];

    buf_u32(&w, nano ? 0xa1b23c4d : 0xa1b2c3d4, be);
    buf_u16(&w, 2, be);
    buf_u16(&w, 4, be);
    buf_u32(&w, 0, be);
    buf_u32(&w, 0, be);
    buf_u32(&w, 65535, be);
    buf_u32(&w, linktype, be);
    for (int i = 0; i < NREC; i++) {
        int64_t ts = rec_ts_ns(i, nano);

        buf_u32(&w, (uint32_t)(ts / 1000000000), be);
        buf_u32(&w, (uint32_t)(ts % 1000000000 / (nano ? 1 : 1000)), be);
        buf_u32(&w, rec_caplen(i), be);
        buf_u32(&w, 100 + (uint32_t)i, be);
        rec_bytes(i, data);
        buf_put(&w, data, rec_caplen(i));
    }
    return w;
}

/* pcapng: SHB, IDB (if_tsresol 9 when nano), one EPB per record. */
static struct buf make_pcapng(int nano, int be, uint32_t linktype)
{
    struct buf w = {0};
    uint8_t data[256], zero[4] = {0};

    buf_u32(&w, 0x0a0d0d0a, be);
    buf_u32(&w, 28, be);
    buf_u32(&w, 0x1a2b3c4d, be);
    buf_u16(&w, 1, be);
    buf_u16(&w, 0, be);
    buf_u32(&w, 0xffffffff, be);
    buf_u32(&w, 0xffffffff, be);
    buf_u32(&w, 28, be);

    buf_u32(&w, 1, be);
    buf_u32(&w, nano ? 32 : 20, be);
    buf_u16(&w, linktype, be);
    buf_u16(&w, 0, be);
    buf_u32(&w, 65535, be);
    if (nano) {
        uint8_t res = 9;

        buf_u16(&w, 9, be); /* if_tsresol */
        buf_u16(&w, 1, be);
        buf_put(&w, &res, 1);
        buf_put(&w, zero, 3);
        buf_u16(&w, 0, be); /* opt_endofopt */
        buf_u16(&w, 0, be);
    }
    buf_u32(&w, nano ? 32 : 20, be);

    for (int i = 0; i < NREC; i++) {
        uint32_t cl = rec_caplen(i), pad = (4 - cl % 4) % 4;
        uint64_t ts = (uint64_t)rec_ts_ns(i, nano) / (nano ? 1 : 1000);

        buf_u32(&w, 6, be);
        buf_u32(&w, 32 + cl + pad, be);
        buf_u32(&w, 0, be);
        buf_u32(&w, (uint32_t)(ts >> 32), be);
        buf_u32(&w, (uint32_t)ts, be);
        buf_u32(&w, cl, be);
        buf_u32(&w, 100 + (uint32_t)i, be);
        rec_bytes(i, data);
        buf_put(&w, data, cl);
        buf_put(&w, zero, pad);
        buf_u32(&w, 32 + cl + pad, be);
    }
    return w;
}

/* gzip bytes of d (one member), via deflate with the gzip wrapper. */
static struct buf gzip_bytes(const uint8_t *d, size_t n)
{
    struct buf w = {0};
    z_stream zs = {0};

    w.cap = n + 1024;
    w.b = malloc(w.cap);
    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (Bytef *)d;
    zs.avail_in = (uInt)n;
    zs.next_out = w.b;
    zs.avail_out = (uInt)w.cap;
    deflate(&zs, Z_FINISH);
    w.n = w.cap - zs.avail_out;
    deflateEnd(&zs);
    return w;
}

static const char *tmp_path(const char *name)
{
    static char path[8][256];
    static int slot;
    char *p = path[slot++ % 8];

    snprintf(p, 256, "/tmp/htracr-tcf-%d-%s", (int)getpid(), name);
    return p;
}

static int write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (!f) return -1;
    ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Write d through zlib's gzwrite, as gzip(1) would. */
static int write_gz_file(const char *path, const void *d, size_t n)
{
    gzFile g = gzopen(path, "wb");
    int ok;

    if (!g) return -1;
    ok = gzwrite(g, d, (unsigned)n) == (int)n;
    return gzclose(g) == Z_OK && ok ? 0 : -1;
}

/* ---- readers ---- */

/* Read every record of cap and check it against the records the writers
 * produce. Returns the number of whole records read, or -1 on a mismatch;
 * *last is capture_next()'s final return. */
static int read_all(struct capture *cap, int nano, int linktype, int *last, char *eb)
{
    struct capture_rec rec;
    uint8_t want[256];
    int i = 0, r;

    while ((r = capture_next(cap, &rec, eb)) == 1) {
        if (i >= NREC) return -1;
        rec_bytes(i, want);
        if (rec.ts_ns != rec_ts_ns(i, nano) || rec.linktype != linktype ||
            rec.caplen != rec_caplen(i) || rec.wirelen != 100 + (uint32_t)i ||
            memcmp(rec.data, want, rec.caplen) != 0) {
            fprintf(stderr, "  record %d: ts %lld caplen %u wirelen %u link %d\n", i,
                    (long long)rec.ts_ns, rec.caplen, rec.wirelen, rec.linktype);
            return -1;
        }
        i++;
    }
    *last = r;
    return i;
}

static uint64_t total_bytes(int n)
{
    uint64_t t = 0;

    for (int i = 0; i < n; i++)
        t += rec_caplen(i);
    return t;
}

static int check_file(const char *path, int nano, int linktype)
{
    char eb[CAPTURE_ERRBUF], desc[300];
    struct capture *cap = capture_open_file(path, eb);
    struct capture_stats st;
    int last = 99, n;

    if (!cap) {
        fprintf(stderr, "  open %s: %s\n", path, eb);
        return -1;
    }
    n = read_all(cap, nano, linktype, &last, eb);
    capture_get_stats(cap, &st);
    snprintf(desc, sizeof(desc), "file:%s", path);
    if (n != NREC || last != 0 || st.records != NREC || st.bytes != total_bytes(NREC) ||
        st.truncated_records != 0 || strcmp(capture_describe(cap), desc) != 0) {
        fprintf(stderr, "  %s: %d records, last %d (%s), desc %s\n", path, n, last,
                last < 0 ? eb : "", capture_describe(cap));
        n = -1;
    }
    /* the end is sticky */
    if (n == NREC && capture_next(cap, &(struct capture_rec){0}, eb) != 0) n = -1;
    capture_close(cap);
    return n == NREC ? 0 : -1;
}

static int check_mem(const struct buf *w, int nano, int linktype)
{
    char eb[CAPTURE_ERRBUF];
    struct capture *cap = capture_open_mem(w->b, w->n, eb);
    int last = 99, n;

    if (!cap) {
        fprintf(stderr, "  open mem: %s\n", eb);
        return -1;
    }
    n = read_all(cap, nano, linktype, &last, eb);
    capture_close(cap);
    return n == NREC && last == 0 ? 0 : -1;
}

/* ---- tests ---- */

TEST(capture_file_pcap_us_and_ns)
{
    for (int nano = 0; nano < 2; nano++) {
        for (int be = 0; be < 2; be++) {
            struct buf w = make_pcap(nano, be, LINK_ETHERNET);
            const char *path = tmp_path("a.pcap");
            int r;

            CHECK_INT(write_file(path, w.b, w.n), 0);
            r = check_file(path, nano, LINK_ETHERNET);
            unlink(path);
            CHECK_INT(r, 0);
            CHECK_INT(check_mem(&w, nano, LINK_ETHERNET), 0);
            free(w.b);
        }
    }
}

TEST(capture_file_pcapng_us_and_ns)
{
    for (int nano = 0; nano < 2; nano++) {
        for (int be = 0; be < 2; be++) {
            struct buf w = make_pcapng(nano, be, LINK_LINUX_SLL);
            const char *path = tmp_path("a.pcapng");
            int r;

            CHECK_INT(write_file(path, w.b, w.n), 0);
            r = check_file(path, nano, LINK_LINUX_SLL);
            unlink(path);
            CHECK_INT(r, 0);
            CHECK_INT(check_mem(&w, nano, LINK_LINUX_SLL), 0);
            free(w.b);
        }
    }
}

TEST(capture_file_linktypes)
{
    static const uint32_t links[] = {LINK_NULL, LINK_RAW,  LINK_LOOP,
                                     LINK_IPV4, LINK_IPV6, LINK_LINUX_SLL2};

    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        struct buf w = make_pcap(1, 0, links[i]);

        CHECK_INT(check_mem(&w, 1, (int)links[i]), 0);
        free(w.b);
    }
}

TEST(capture_file_gzip)
{
    struct buf p = make_pcap(0, 0, LINK_ETHERNET), ng = make_pcapng(1, 0, LINK_ETHERNET);
    struct buf gz = gzip_bytes(p.b, p.n), gz2;
    const char *path = tmp_path("a.pcap.gz"), *odd = tmp_path("noext");
    int r1, r2;

    /* a .gz written by gzwrite, and a gzip'd pcapng with no telling name */
    CHECK_INT(write_gz_file(path, p.b, p.n), 0);
    CHECK_INT(write_gz_file(odd, ng.b, ng.n), 0);
    r1 = check_file(path, 0, LINK_ETHERNET);
    r2 = check_file(odd, 1, LINK_ETHERNET);
    unlink(path);
    unlink(odd);
    CHECK_INT(r1, 0);
    CHECK_INT(r2, 0);

    /* gzip in memory, and two concatenated members (gzip a >> f.gz) */
    CHECK_INT(check_mem(&gz, 0, LINK_ETHERNET), 0);
    gz2 = gzip_bytes(p.b, 50);
    {
        struct buf tail = gzip_bytes(p.b + 50, p.n - 50);

        buf_put(&gz2, tail.b, tail.n);
        free(tail.b);
    }
    CHECK_INT(check_mem(&gz2, 0, LINK_ETHERNET), 0);
    free(p.b);
    free(ng.b);
    free(gz.b);
    free(gz2.b);
}

TEST(capture_file_stdin)
{
    struct buf w = make_pcapng(0, 0, LINK_ETHERNET);
    struct buf gz = gzip_bytes(w.b, w.n);
    const char *path = tmp_path("stdin.gz");
    char eb[CAPTURE_ERRBUF];
    struct capture *cap;
    int saved, fd, last = 99, n;

    CHECK_INT(write_file(path, gz.b, gz.n), 0);
    saved = dup(STDIN_FILENO);
    fd = open(path, O_RDONLY);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, STDIN_FILENO);
    close(fd);
    cap = capture_open_file("-", eb);
    n = cap ? read_all(cap, 0, LINK_ETHERNET, &last, eb) : -1;
    if (cap) CHECK_STR(capture_describe(cap), "file:-");
    capture_close(cap);
    dup2(saved, STDIN_FILENO);
    close(saved);
    unlink(path);
    free(w.b);
    free(gz.b);
    CHECK_INT(n, NREC);
    CHECK_INT(last, 0);
}

/* Cut the file at every byte of the last record: the first NREC-1 records
 * come out whole, then an error naming the file and saying it is truncated.
 * A cut exactly between records is a clean end. */
TEST(capture_file_truncated)
{
    for (int ng = 0; ng < 2; ng++) {
        struct buf w = ng ? make_pcapng(0, 0, LINK_ETHERNET) : make_pcap(0, 0, LINK_ETHERNET);
        size_t last_len = ng ? 32 + 68 : 16 + rec_caplen(NREC - 1);
        size_t start = w.n - last_len;
        const char *path = tmp_path("trunc.pcap");

        for (size_t cut = start; cut < w.n; cut++) {
            char eb[CAPTURE_ERRBUF];
            struct capture *cap;
            struct capture_stats st;
            int last = 99, n;

            CHECK_INT(write_file(path, w.b, cut), 0);
            cap = capture_open_file(path, eb);
            CHECK(cap != NULL);
            n = read_all(cap, 0, LINK_ETHERNET, &last, eb);
            capture_get_stats(cap, &st);
            CHECK_INT(n, NREC - 1);
            CHECK_INT(st.records, NREC - 1);
            if (cut == start) {
                CHECK_INT(last, 0);
                CHECK_INT(st.truncated_records, 0);
            } else {
                CHECK(last < 0);
                CHECK(strstr(eb, path) != NULL);
                CHECK(strstr(eb, "truncated") != NULL);
                CHECK_INT(st.truncated_records, 1);
                /* the error is sticky */
                CHECK_INT(capture_next(cap, &(struct capture_rec){0}, eb), last);
                CHECK(strstr(eb, "truncated") != NULL);
            }
            capture_close(cap);
        }
        unlink(path);
        free(w.b);
    }
}

/* A gzip'd file cut anywhere gives whole records, then an error. */
TEST(capture_file_truncated_gzip)
{
    struct buf w = make_pcap(1, 0, LINK_ETHERNET);
    struct buf gz = gzip_bytes(w.b, w.n);
    const char *path = tmp_path("trunc.gz");

    for (size_t cut = 30; cut < gz.n; cut += 7) {
        char eb[CAPTURE_ERRBUF];
        struct capture *cap;
        int last = 99, n;

        CHECK_INT(write_file(path, gz.b, cut), 0);
        cap = capture_open_file(path, eb);
        if (!cap) { /* not even the file header survived */
            CHECK(strstr(eb, path) != NULL);
            continue;
        }
        n = read_all(cap, 1, LINK_ETHERNET, &last, eb);
        capture_close(cap);
        CHECK(n >= 0 && n <= NREC);
        CHECK(last < 0);
        CHECK(strstr(eb, path) != NULL);
        CHECK(strstr(eb, "truncated") != NULL);
    }
    unlink(path);
    free(w.b);
    free(gz.b);
}

TEST(capture_file_bad_inputs)
{
    const char *empty = tmp_path("empty.pcap"), *rnd = tmp_path("random.pcap");
    const char *missing = tmp_path("missing.pcap"), *badgz = tmp_path("bad.gz");
    char eb[CAPTURE_ERRBUF];
    uint8_t junk[512];
    uint32_t x = 12345;
    struct capture *cap;

    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1103515245 + 12345;
        junk[i] = (uint8_t)(x >> 16);
    }
    junk[0] = 0x42; /* not a gzip or pcap magic by chance */
    CHECK_INT(write_file(empty, "", 0), 0);
    CHECK_INT(write_file(rnd, junk, sizeof(junk)), 0);
    junk[0] = 0x1f;
    junk[1] = 0x8b;
    CHECK_INT(write_file(badgz, junk, sizeof(junk)), 0);

    cap = capture_open_file(empty, eb);
    CHECK(cap == NULL);
    CHECK(strstr(eb, empty) && strstr(eb, "empty"));
    cap = capture_open_file(rnd, eb);
    CHECK(cap == NULL);
    CHECK(strstr(eb, rnd) != NULL);
    cap = capture_open_file(missing, eb);
    CHECK(cap == NULL);
    CHECK_INT(errno, ENOENT);
    CHECK(strstr(eb, missing) && strstr(eb, "No such file"));
    cap = capture_open_file("/tmp", eb);
    CHECK(cap == NULL);
    CHECK(strstr(eb, "/tmp") && strstr(eb, "directory"));
    cap = capture_open_file(badgz, eb);
    CHECK(cap == NULL);
    CHECK(strstr(eb, badgz) && strstr(eb, "compressed"));
    cap = capture_open_mem(junk, 0, eb);
    CHECK(cap == NULL);
    CHECK(strstr(eb, "empty") != NULL);
    cap = capture_open_mem(junk + 2, sizeof(junk) - 2, eb);
    CHECK(cap == NULL);
    CHECK(strstr(eb, "memory") != NULL);
    for (const char *e = eb; *e; e++)
        CHECK(*e != '\n'); /* one line */
    unlink(empty);
    unlink(rnd);
    unlink(badgz);
    capture_close(NULL);
}

/* Records whose lengths lie: caplen > wirelen gets the wire length raised;
 * caplen beyond libpcap's limit is an error, not a crash. */
TEST(capture_file_bad_record_lengths)
{
    struct buf w = {0};
    uint8_t data[64] = {0};
    char eb[CAPTURE_ERRBUF];
    struct capture_rec rec;
    struct capture *cap;
    int r;

    buf_u32(&w, 0xa1b2c3d4, 0);
    buf_u16(&w, 2, 0);
    buf_u16(&w, 4, 0);
    buf_u32(&w, 0, 0);
    buf_u32(&w, 0, 0);
    buf_u32(&w, 65535, 0);
    buf_u32(&w, LINK_RAW, 0);
    buf_u32(&w, 1, 0); /* caplen 64 > wirelen 20 */
    buf_u32(&w, 0, 0);
    buf_u32(&w, 64, 0);
    buf_u32(&w, 20, 0);
    buf_put(&w, data, 64);
    buf_u32(&w, 2, 0); /* caplen 1 GB */
    buf_u32(&w, 0, 0);
    buf_u32(&w, 1u << 30, 0);
    buf_u32(&w, 1u << 30, 0);
    buf_put(&w, data, 64);

    cap = capture_open_mem(w.b, w.n, eb);
    CHECK(cap != NULL);
    r = capture_next(cap, &rec, eb);
    CHECK_INT(r, 1);
    CHECK_INT(rec.caplen, 64);
    CHECK_INT(rec.wirelen, 64);
    CHECK_INT(rec.ts_ns, 1000000000LL);
    r = capture_next(cap, &rec, eb);
    CHECK(r < 0);
    CHECK(strstr(eb, "capture in memory") != NULL);
    capture_close(cap);
    free(w.b);
}

/* ---- the fast path against libpcap ----
 *
 * A classic pcap file opened by path is read by capture_file.c itself; the
 * same bytes from memory always go through libpcap. Every case below is
 * read both ways and every record, the last return, the error text (with the
 * source's name swapped) and the stats must agree. */

/* Did capture_open_file() take the fast path for path? Its debug log line
 * says so; stderr is caught in a file for the call. 1, 0, or -1 when the
 * line could not be caught. */
static int took_fast_path(const char *path)
{
    const char *logp = tmp_path("log.txt");
    char eb[CAPTURE_ERRBUF], line[512];
    int saved, fd, found = 0;
    struct capture *cap;
    FILE *f;

    fflush(stderr);
    saved = dup(STDERR_FILENO);
    fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0) return -1;
    dup2(fd, STDERR_FILENO);
    close(fd);
    log_set_level(LOG_DEBUG);
    cap = capture_open_file(path, eb);
    capture_close(cap);
    log_set_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_SILENT);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    f = fopen(logp, "r");
    if (!f) return -1;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, "read directly")) found = 1;
    fclose(f);
    unlink(logp);
    return found;
}

/* msg with every "from" replaced by "to", into out (CAPTURE_ERRBUF * 2). */
static void swap_name(const char *msg, const char *from, const char *to, char *out)
{
    size_t fl = strlen(from), o = 0;

    while (*msg && o + strlen(to) + 2 < CAPTURE_ERRBUF * 2) {
        if (fl && strncmp(msg, from, fl) == 0) {
            o += (size_t)sprintf(out + o, "%s", to);
            msg += fl;
        } else {
            out[o++] = *msg++;
        }
    }
    out[o] = '\0';
}

/* Read bytes b[0..n) as a file (path) and from memory; 0 when they agree.
 * want_fast: 1 or 0 to check which way the file went, -1 not to check;
 * *fast (if not NULL) says which way it went. */
static int diff_paths(const uint8_t *b, size_t n, const char *what, int want_fast, int *fast)
{
    const char *path = tmp_path("diff.pcap");
    char ea[CAPTURE_ERRBUF], eb[CAPTURE_ERRBUF], ma[CAPTURE_ERRBUF * 2];
    struct capture *ca = NULL, *cb = NULL;
    struct capture_stats sa, sb;
    int ra, rb, k = 0, ret = -1, f;

    if (write_file(path, b, n) != 0) {
        fprintf(stderr, "  %s: cannot write %s\n", what, path);
        return -1;
    }
    f = took_fast_path(path);
    if (fast) *fast = f;
    if (f < 0 || (want_fast >= 0 && f != want_fast)) {
        fprintf(stderr, "  %s: fast path %d, expected %d\n", what, f, want_fast);
        goto out;
    }
    ea[0] = eb[0] = '\0';
    ca = capture_open_file(path, ea);
    cb = capture_open_mem(b, n, eb);
    swap_name(ea, path, "capture in memory", ma);
    if (!ca || !cb) {
        if (ca || cb || strcmp(ma, eb) != 0) {
            fprintf(stderr, "  %s: open: file %s (%s), memory %s (%s)\n", what,
                    ca ? "ok" : "failed", ea, cb ? "ok" : "failed", eb);
            goto out;
        }
        ret = 0;
        goto out;
    }
    if (capture_linktype(ca) != capture_linktype(cb)) {
        fprintf(stderr, "  %s: link type %d vs %d\n", what, capture_linktype(ca),
                capture_linktype(cb));
        goto out;
    }
    for (;;) {
        struct capture_rec a = {0}, c = {0};

        ra = capture_next(ca, &a, ea);
        rb = capture_next(cb, &c, eb);
        if (ra != rb) break;
        if (ra != 1) break;
        if (a.ts_ns != c.ts_ns || a.linktype != c.linktype || a.caplen != c.caplen ||
            a.wirelen != c.wirelen || a.skipped != c.skipped ||
            (a.caplen && memcmp(a.data, c.data, a.caplen) != 0)) {
            fprintf(stderr,
                    "  %s: record %d: file ts %lld caplen %u wirelen %u link %d; memory ts %lld "
                    "caplen %u wirelen %u link %d\n",
                    what, k, (long long)a.ts_ns, a.caplen, a.wirelen, a.linktype,
                    (long long)c.ts_ns, c.caplen, c.wirelen, c.linktype);
            goto out;
        }
        if (++k > 10000000) break;
    }
    swap_name(ea, path, "capture in memory", ma);
    if (ra != rb || (ra < 0 && strcmp(ma, eb) != 0)) {
        fprintf(stderr, "  %s: after %d records: file %d (%s), memory %d (%s)\n", what, k, ra,
                ra < 0 ? ma : "", rb, rb < 0 ? eb : "");
        goto out;
    }
    /* the end, or the error, is sticky both ways */
    ra = capture_next(ca, &(struct capture_rec){0}, ea);
    rb = capture_next(cb, &(struct capture_rec){0}, eb);
    swap_name(ea, path, "capture in memory", ma);
    if (ra != rb || (ra < 0 && strcmp(ma, eb) != 0)) {
        fprintf(stderr, "  %s: again: file %d (%s), memory %d (%s)\n", what, ra, ma, rb, eb);
        goto out;
    }
    capture_get_stats(ca, &sa);
    capture_get_stats(cb, &sb);
    if (memcmp(&sa, &sb, sizeof(sa)) != 0) {
        fprintf(stderr,
                "  %s: stats: file %llu records %llu bytes %llu truncated %llu bad times; "
                "memory %llu %llu %llu %llu\n",
                what, (unsigned long long)sa.records, (unsigned long long)sa.bytes,
                (unsigned long long)sa.truncated_records, (unsigned long long)sa.bad_timestamps,
                (unsigned long long)sb.records, (unsigned long long)sb.bytes,
                (unsigned long long)sb.truncated_records, (unsigned long long)sb.bad_timestamps);
        goto out;
    }
    ret = 0;
out:
    capture_close(ca);
    capture_close(cb);
    unlink(path);
    return ret;
}

/* A classic pcap file header. */
static void put_pcap_header(struct buf *w, uint32_t magic, int be, unsigned major, unsigned minor,
                            uint32_t snaplen, uint32_t linktype)
{
    buf_u32(w, magic, be);
    buf_u16(w, major, be);
    buf_u16(w, minor, be);
    buf_u32(w, 0, be);
    buf_u32(w, 0, be);
    buf_u32(w, snaplen, be);
    buf_u32(w, linktype, be);
}

/* A record header and present bytes of data (pattern from seed). */
static void put_record(struct buf *w, int be, uint32_t sec, uint32_t frac, uint32_t caplen,
                       uint32_t wirelen, size_t present, unsigned seed)
{
    uint8_t chunk[512];

    buf_u32(w, sec, be);
    buf_u32(w, frac, be);
    buf_u32(w, caplen, be);
    buf_u32(w, wirelen, be);
    while (present) {
        size_t m = present < sizeof(chunk) ? present : sizeof(chunk);

        for (size_t i = 0; i < m; i++)
            chunk[i] = (uint8_t)(seed++ * 31 + 7);
        buf_put(w, chunk, m);
        present -= m;
    }
}

/* Ordinary files of every kind the fast path takes, and some it must not. */
TEST(capture_file_fast_matches_libpcap)
{
    static const uint32_t links[] = {LINK_NULL,        LINK_ETHERNET, LINK_RAW,  LINK_LOOP,
                                     LINK_LINUX_SLL,   LINK_IPV4,     LINK_IPV6, LINK_LINUX_SLL2,
                                     147 /* user 0 */, 0x10000001 /* FCS bits */};

    for (int nano = 0; nano < 2; nano++) {
        for (int be = 0; be < 2; be++) {
            for (size_t l = 0; l < sizeof(links) / sizeof(links[0]); l++) {
                struct buf w = {0};
                char what[96];
                int want = links[l] != 147 && links[l] != 0x10000001 &&
                           !(be && (links[l] == LINK_LINUX_SLL || links[l] == LINK_LINUX_SLL2));

                put_pcap_header(&w, nano ? 0xa1b23c4d : 0xa1b2c3d4, be, 2, 4, 65535, links[l]);
                for (int i = 0; i < 5; i++)
                    put_record(&w, be, (uint32_t)(SEC0 + i), nano ? 999999999u - i : 999999u - i,
                               60 + 100 * (uint32_t)i, 1500, 60 + 100 * (size_t)i, (unsigned)i);
                snprintf(what, sizeof(what), "nano %d be %d link %u", nano, be, links[l]);
                CHECK_INT(diff_paths(w.b, w.n, what, want, NULL), 0);
                free(w.b);
            }
        }
    }
    /* other versions and magics go through libpcap, and still agree */
    {
        static const unsigned vers[][2] = {{2, 3}, {2, 2}, {2, 0},  {1, 0},
                                           {3, 0}, {2, 5}, {543, 0}};

        for (size_t v = 0; v < sizeof(vers) / sizeof(vers[0]); v++) {
            struct buf w = {0};

            put_pcap_header(&w, 0xa1b2c3d4, 0, vers[v][0], vers[v][1], 65535, LINK_ETHERNET);
            put_record(&w, 0, 1, 2, 80, 40, 80, 1); /* caplen > len: 2.3 swaps them */
            put_record(&w, 0, 1, 2, 40, 80, 40, 2);
            CHECK_INT(diff_paths(w.b, w.n, "version", 0, NULL), 0);
            free(w.b);
        }
    }
    {
        struct buf w = {0};

        put_pcap_header(&w, 0xa1b2cd34, 0, 2, 4, 65535, LINK_ETHERNET); /* Kuznetzov */
        put_record(&w, 0, 1, 2, 40, 80, 48, 3);
        CHECK_INT(diff_paths(w.b, w.n, "kuznetzov", 0, NULL), 0);
        free(w.b);
    }
}

/* Cut a file at every byte of its header and first records, in both byte
 * orders and resolutions, with and without a snaplen that cuts records. */
TEST(capture_file_fast_cut_everywhere)
{
    for (int nano = 0; nano < 2; nano++) {
        for (int be = 0; be < 2; be++) {
            for (int small_snap = 0; small_snap < 2; small_snap++) {
                struct buf w = {0};

                put_pcap_header(&w, nano ? 0xa1b23c4d : 0xa1b2c3d4, be, 2, 4,
                                small_snap ? 50 : 65535, LINK_ETHERNET);
                put_record(&w, be, 100, 5, 0, 0, 0, 0); /* zero-length */
                put_record(&w, be, 101, 6, 70, 70, 70, 1);
                put_record(&w, be, 102, 7, 120, 60, 120, 2); /* caplen > wirelen */
                put_record(&w, be, 103, 8, 30, 1514, 30, 3);
                for (size_t cut = 0; cut <= w.n; cut++) {
                    char what[96];

                    snprintf(what, sizeof(what), "nano %d be %d snap %d cut at %zu", nano, be,
                             small_snap, cut);
                    CHECK_INT(diff_paths(w.b, cut, what, cut >= 24 ? 1 : 0, NULL), 0);
                }
                free(w.b);
            }
        }
    }
}

/* Lengths and times that lie, and snaplens libpcap replaces. */
TEST(capture_file_fast_hostile_fields)
{
    static const uint32_t snaps[] = {0,      1,          50,         65535,     262144,
                                     262145, 0x7fffffff, 0x80000000, 0xffffffff};
    static const uint32_t caplens[] = {0, 49, 50, 51, 262143, 262144, 262145, 1u << 30, 0xffffffff};
    static const uint32_t secs[] = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff};
    static const uint32_t fracs[] = {0,          999999,     1000000,    999999999,
                                     1000000000, 0x7fffffff, 0x80000000, 0xffffffff};

    for (size_t s = 0; s < sizeof(snaps) / sizeof(snaps[0]); s++) {
        for (size_t c = 0; c < sizeof(caplens) / sizeof(caplens[0]); c++) {
            for (int full = 0; full < 3; full++) {
                struct buf w = {0};
                char what[96];
                /* the record's bytes: all there, one short, or a few */
                size_t present = caplens[c] > (1u << 19) ? 100
                                 : full == 0             ? caplens[c]
                                 : full == 1             ? (caplens[c] ? caplens[c] - 1 : 0)
                                                         : (caplens[c] < 10 ? caplens[c] : 10);

                put_pcap_header(&w, 0xa1b2c3d4, (int)(c & 1), 2, 4, snaps[s], LINK_RAW);
                put_record(&w, (int)(c & 1), 1, 2, 20, 20, 20, 9);
                put_record(&w, (int)(c & 1), 3, 4, caplens[c], 1500, present, 5);
                if (full == 0) put_record(&w, (int)(c & 1), 5, 6, 20, 20, 20, 7);
                snprintf(what, sizeof(what), "snaplen %u caplen %u present %zu", snaps[s],
                         caplens[c], present);
                CHECK_INT(diff_paths(w.b, w.n, what, 1, NULL), 0);
                free(w.b);
            }
        }
    }
    for (int nano = 0; nano < 2; nano++) {
        struct buf w = {0};

        put_pcap_header(&w, nano ? 0xa1b23c4d : 0xa1b2c3d4, nano, 2, 4, 65535, LINK_IPV4);
        for (size_t s = 0; s < sizeof(secs) / sizeof(secs[0]); s++)
            for (size_t f = 0; f < sizeof(fracs) / sizeof(fracs[0]); f++)
                put_record(&w, nano, secs[s], fracs[f], 20, 20, 20, (unsigned)(s + f));
        CHECK_INT(diff_paths(w.b, w.n, nano ? "ns times" : "us times", 1, NULL), 0);
        free(w.b);
    }
}

/* Random damage to the record headers of a valid file (fixed seed). */
TEST(capture_file_fast_random_damage)
{
    struct buf w = {0};
    uint32_t x = 2463534242u;
    size_t hdr_at[12];

    put_pcap_header(&w, 0xa1b2c3d4, 0, 2, 4, 1000, LINK_ETHERNET);
    for (int i = 0; i < 12; i++) {
        hdr_at[i] = w.n;
        put_record(&w, 0, (uint32_t)(SEC0 + i), 1000 * (uint32_t)i, 100 + 37 * (uint32_t)i, 1000,
                   100 + 37 * (size_t)i, (unsigned)i);
    }
    for (int it = 0; it < 400; it++) {
        uint8_t *m = malloc(w.n);
        char what[64];

        memcpy(m, w.b, w.n);
        for (int k = 0; k < 1 + it % 3; k++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            m[hdr_at[x % 12] + (x >> 8) % 16] = (uint8_t)(x >> 24);
        }
        snprintf(what, sizeof(what), "damage %d", it);
        CHECK_INT(diff_paths(m, w.n - (it % 5 == 0 ? (x >> 4) % 200 : 0), what, 1, NULL), 0);
        free(m);
    }
    free(w.b);
}

/* Every pcap of the shared corpus, whole and cut inside its first records. */
static int corpus_files(const char *dir, char paths[][512], int max)
{
    char cmd[700];
    FILE *p;
    int n = 0;

    snprintf(cmd, sizeof(cmd), "find '%s' -name '*.pcap' -type f 2>/dev/null | sort", dir);
    p = popen(cmd, "r");
    if (!p) return 0;
    while (n < max && fgets(paths[n], 512, p)) {
        paths[n][strcspn(paths[n], "\n")] = '\0';
        n++;
    }
    pclose(p);
    return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    long n;

    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        b = malloc((size_t)n + 1);
        if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
            free(b);
            b = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return b;
}

TEST(capture_file_fast_corpus)
{
    static char paths[256][512];
    const char *env = getenv("HTRACR_CORPUS");
    const char *dirs[] = {env ? env : "../shared/corpus", "/work/shared/corpus"};
    int n = 0, fast = 0;

    for (size_t d = 0; d < 2 && n == 0; d++) {
        struct stat stb;

        if (stat(dirs[d], &stb) == 0 && S_ISDIR(stb.st_mode)) n = corpus_files(dirs[d], paths, 256);
    }
    if (n == 0) {
        printf("     (capture_file_fast_corpus: no shared corpus found, skipped)\n");
        return;
    }
    for (int i = 0; i < n; i++) {
        size_t len = 0, first_recs;
        uint8_t *b = slurp(paths[i], &len);
        int f = 0;

        CHECK(b != NULL);
        if (diff_paths(b, len, paths[i], -1, &f) != 0) {
            free(b);
            CHECK(!"corpus file reads differently");
        }
        fast += f;
        /* cut at every byte of the header and (about) the first 3 records */
        first_recs = len < 24 + 3 * 1600 ? len : 24 + 3 * 1600;
        for (size_t cut = 0; cut < first_recs; cut += i < 3 ? 1 : 7) {
            char what[600];

            snprintf(what, sizeof(what), "%.500s cut at %zu", paths[i], cut);
            if (diff_paths(b, cut, what, -1, NULL) != 0) {
                free(b);
                CHECK(!"cut corpus file reads differently");
            }
        }
        free(b);
    }
    printf("     (capture_file_fast_corpus: %d files, %d through the fast path)\n", n, fast);
    CHECK(fast > 0);
}
