/* SPDX-License-Identifier: MIT */
/*
 * pcap_live_drv.c - a small driver for the libpcap live source
 * (capture_pcap.c) and the pcap writer (capture_dump.c), used by
 * tests/integration/pcap_live.py. It links the library objects the way the
 * unit tests do and talks over stdin/stdout, so the test can change ports or
 * switch capture off while it makes traffic, and read exactly what came
 * through.
 *
 *   pcap_live_drv open IFACE [-p PORT]... [--dns] [--disabled]
 *                 [--buffer BYTES] [-w FILE]
 *       prints "ready LINKTYPE DESC" (or "error MESSAGE", exit 2), then
 *       reads commands, one a line:
 *         drain MS       read for MS ms; one "rec" line per record, then "ok drain N"
 *         ports P,P,...  capture_set_ports    -> "ok ports R" (R: its return value)
 *         enable 0|1     capture_set_enabled  -> "ok enable R"
 *         stats          "stats records=N bytes=N dropped=N socket_drops=N filtered=N"
 *         quit           close the dump and the capture -> "ok quit R"
 *   pcap_live_drv read FILE
 *       every record of FILE as "rec" lines, then "count N linktype L"
 *
 * rec line: rec TS_NS LINKTYPE CAPLEN WIRELEN KIND SRC SPORT DST DPORT FLAGS HASH
 * KIND is tcp, udp or other; FLAGS the TCP flags in hex; HASH an FNV-1a
 * hash of the bytes after the link header (the IP packet), which is the same
 * for the two copies the kernel shows of a loopback packet.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "htracr/capture.h"
#include "htracr/decode.h"
#include "htracr/log.h"

#define DRV_MAX_PORTS 64

struct drv {
    struct capture *cap;
    struct capture_dump *dump;
    unsigned long n;
};

static uint32_t drv_link_hdr(int linktype)
{
    switch (linktype) {
    case LINK_ETHERNET:
        return 14;
    case LINK_LINUX_SLL:
        return 16;
    case LINK_LINUX_SLL2:
        return 20;
    case LINK_NULL:
    case LINK_LOOP:
        return 4;
    default:
        return 0;
    }
}

static void drv_print(const struct capture_rec *rec)
{
    struct decode_stats ds = {0};
    struct decoded d;
    char src[64] = "-", dst[64] = "-";
    const char *kind = "other";
    uint64_t h = 1469598103934665603ULL;
    uint32_t off = drv_link_hdr(rec->linktype);
    enum decode_result r = decode_packet(rec, &d, &ds);

    for (uint32_t i = off; i < rec->caplen; i++) {
        h ^= rec->data[i];
        h *= 1099511628211ULL;
    }
    if (r == DECODE_TCP || r == DECODE_UDP) {
        kind = r == DECODE_TCP ? "tcp" : "udp";
        decode_addr_str(&d.src, src, sizeof(src));
        decode_addr_str(&d.dst, dst, sizeof(dst));
    } else {
        memset(&d, 0, sizeof(d));
    }
    printf("rec %lld %d %u %u %s %s %u %s %u %x %016llx\n", (long long)rec->ts_ns, rec->linktype,
           rec->caplen, rec->wirelen, kind, src, d.sport, dst, d.dport,
           r == DECODE_TCP ? d.flags : 0, (unsigned long long)h);
}

static void drv_on_rec(void *ctx, const struct capture_rec *rec)
{
    struct drv *dv = ctx;

    drv_print(rec);
    if (dv->dump) capture_dump_write(dv->dump, rec);
    dv->n++;
}

static int64_t drv_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int drv_parse_ports(const char *s, uint16_t *ports)
{
    int n = 0;

    while (*s && n < DRV_MAX_PORTS) {
        char *end;
        long v = strtol(s, &end, 10);

        if (end == s || v < 0 || v > 65535) break;
        ports[n++] = (uint16_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static int drv_read(const char *path)
{
    char err[CAPTURE_ERRBUF];
    struct capture *cap = capture_open_file(path, err);
    struct capture_rec rec;
    unsigned long n = 0;
    int r;

    if (!cap) {
        printf("error %s\n", err);
        return 2;
    }
    while ((r = capture_next(cap, &rec, err)) == 1) {
        drv_print(&rec);
        n++;
    }
    printf("count %lu linktype %d\n", n, capture_linktype(cap));
    if (r < 0) printf("error %s\n", err);
    capture_close(cap);
    return r < 0 ? 1 : 0;
}

static int drv_live(int argc, char **argv)
{
    struct capture_live_opts o = {0};
    uint16_t ports[DRV_MAX_PORTS];
    const char *wpath = NULL;
    char err[CAPTURE_ERRBUF], line[512];
    struct drv dv = {0};
    int nports = 0, r;

    o.iface = argv[2];
    o.enabled = 1;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "-p") && i + 1 < argc && nports < DRV_MAX_PORTS)
            nports += drv_parse_ports(argv[++i], ports + nports);
        else if (!strcmp(argv[i], "--dns"))
            o.dns = 1;
        else if (!strcmp(argv[i], "--disabled"))
            o.enabled = 0;
        else if (!strcmp(argv[i], "--buffer") && i + 1 < argc)
            o.buffer_bytes = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-w") && i + 1 < argc)
            wpath = argv[++i];
        else {
            fprintf(stderr, "pcap_live_drv: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    o.ports = ports;
    o.nports = nports;
    dv.cap = capture_pcap_open(&o, err);
    if (!dv.cap) {
        printf("error %s\n", err);
        return 2;
    }
    if (wpath) {
        dv.dump = capture_dump_open(wpath, capture_linktype(dv.cap), 0, err);
        if (!dv.dump) {
            printf("error %s\n", err);
            capture_close(dv.cap);
            return 2;
        }
    }
    printf("ready %d %s %s\n", capture_linktype(dv.cap), capture_describe(dv.cap),
           capture_backend_name(dv.cap));
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        int v;

        if (sscanf(line, "drain %d", &v) == 1) {
            int64_t end = drv_now_ms() + v;
            unsigned long before = dv.n;

            for (int64_t left = v; left > 0; left = end - drv_now_ms()) {
                r = capture_dispatch(dv.cap, 0, (int)left, drv_on_rec, &dv, err);
                if (r < 0) {
                    printf("error %s\n", err);
                    break;
                }
            }
            printf("ok drain %lu\n", dv.n - before);
        } else if (!strncmp(line, "ports ", 6)) {
            nports = drv_parse_ports(line + 6, ports);
            printf("ok ports %d\n", capture_set_ports(dv.cap, ports, nports));
        } else if (sscanf(line, "enable %d", &v) == 1) {
            printf("ok enable %d\n", capture_set_enabled(dv.cap, v));
        } else if (!strncmp(line, "stats", 5)) {
            struct capture_stats st;

            capture_get_stats(dv.cap, &st);
            printf("stats records=%llu bytes=%llu dropped=%llu socket_drops=%llu filtered=%llu\n",
                   (unsigned long long)st.records, (unsigned long long)st.bytes,
                   (unsigned long long)st.dropped, (unsigned long long)st.socket_drops,
                   (unsigned long long)st.filtered);
        } else if (!strncmp(line, "quit", 4)) {
            break;
        } else {
            printf("error unknown command\n");
        }
        fflush(stdout);
    }
    r = capture_dump_close(dv.dump);
    capture_close(dv.cap);
    printf("ok quit %d\n", r);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    log_set_level(getenv("DRV_VERBOSE") ? LOG_DEBUG : LOG_WARN);
    if (argc >= 3 && !strcmp(argv[1], "open")) return drv_live(argc, argv);
    if (argc == 3 && !strcmp(argv[1], "read")) return drv_read(argv[2]);
    fprintf(stderr, "usage: pcap_live_drv open IFACE [-p PORT]... [--dns] [--disabled] "
                    "[--buffer BYTES] [-w FILE] | read FILE\n");
    return 2;
}
