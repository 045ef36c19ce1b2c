/* SPDX-License-Identifier: MIT */
/*
 * test_capture_file.c - unit tests for the capture-file source (capture.c,
 * capture_file.c). Each test writes the bytes of a small pcap or pcapng file
 * itself (microsecond and nanosecond resolution, both byte orders), reads it
 * back from a file in /tmp, from memory, gzip'd and from standard input, and
 * checks records, timestamps and stats; then truncated and bad inputs, which
 * must give whole records followed by a clear error naming the source.
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
