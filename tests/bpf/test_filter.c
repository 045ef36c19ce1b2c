/* SPDX-License-Identifier: MIT */
/*
 * test_filter.c - tests for the eBPF capture path (bpf/htracr.bpf.c and
 * src/capture_bpf.c), the first stage of the live pipeline.
 *
 * Without arguments: loads the filter through the skeleton and runs canned
 * packets through it with bpf_prog_test_run_opts (no network), the socket
 * filter and then the tc programs (which test_run gives the whole frame, as
 * their hooks do, and which must let every packet go on), then reads
 * back what it wrote into the ring buffer with ring_buffer__consume and
 * checks it byte for byte. Note what test_run does to a socket filter's
 * packet: it runs eth_type_trans() and does not push the Ethernet header
 * back, so the program sees the packet from the network header (or from a
 * VLAN tag) on, like on a device without a link header: the expected
 * record is the packet minus its 14-byte Ethernet header, with link kind
 * HTRACR_LINK_RAW. On a real AF_PACKET socket the Ethernet header is there
 * (the live test checks that). test_run cannot make PACKET_OUTGOING
 * packets nor packets over about a page, so loopback duplicates and GSO
 * super-segments are checked by the live test too.
 *
 * With --live IFACE FILE CMD [SKIP]: opens the backend with
 * capture_bpf_open() on IFACE for port 80, runs CMD (a shell command that
 * downloads FILE over HTTP on port 80), and checks that every packet of the
 * connection arrived once, whole, and that the server's payload reassembled
 * from the records is the HTTP response carrying FILE. With SKIP, a
 * body-skip hint for the server's direction (up to SKIP bytes into the
 * stream) is set as soon as the SYN/ACK is seen; then the bytes before it
 * must come as headers only, with the skipped counts covering exactly the
 * missing payload, and the rest still whole. tests/bpf/run.sh sets up the
 * namespaces and servers.
 *
 * Prints "ok   ..." / "FAIL ..." per check and "N passed, N failed" last.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "htracr/capture.h"
#include "htracr/log.h"
#include "htracr.h"
#include "htracr.skel.h"

static int passed, failed;

static int check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int check(int cond, const char *fmt, ...)
{
    va_list ap;

    fputs(cond ? "ok   " : "FAIL ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    if (cond)
        passed++;
    else
        failed++;
    return cond;
}

/* ---- canned packets ---- */

#define PKT_MAX 3800 /* test_run takes at most about a page of packet */

struct spec {
    int v6;
    int vlans; /* 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q) */
    int udp;
    int v6_ext;  /* hop-by-hop and destination options headers */
    int v6_frag; /* a fragment header with this offset (in 8-byte units) + 1; 0: none */
    uint16_t sport, dport;
    uint32_t seq;
    uint16_t paylen;
    uint8_t dst_mac0; /* first byte of the destination MAC (0: lo's address) */
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

static uint8_t pattern(uint32_t seq, uint32_t i)
{
    return (uint8_t)((seq + i) * 31u + 7u);
}

/* Build the packet in buf; returns its length. */
static size_t build(uint8_t *buf, const struct spec *s)
{
    size_t off = 0, l4, l4len, iph;
    int i;

    memset(buf, 0, PKT_MAX);
    buf[0] = s->dst_mac0;          /* destination */
    buf[6] = 0x02, buf[11] = 0x01; /* source */
    off = 12;
    if (s->vlans == 2) {
        put16(buf + off, ETH_P_8021AD);
        put16(buf + off + 2, 100);
        off += 4;
    }
    if (s->vlans >= 1) {
        put16(buf + off, ETH_P_8021Q);
        put16(buf + off + 2, 200);
        off += 4;
    }
    put16(buf + off, s->v6 ? ETH_P_IPV6 : ETH_P_IP);
    off += 2;
    iph = off;
    l4len = (s->udp ? 8 : 20) + s->paylen;
    if (!s->v6) {
        buf[off] = 0x45;
        put16(buf + off + 2, (uint16_t)(20 + l4len));
        buf[off + 8] = 64;
        buf[off + 9] = s->udp ? IPPROTO_UDP : IPPROTO_TCP;
        put32(buf + off + 12, 0x0a000001); /* 10.0.0.1 */
        put32(buf + off + 16, 0x0a000002); /* 10.0.0.2 */
        off += 20;
    } else {
        size_t ext = (s->v6_ext ? 16 : 0) + (s->v6_frag ? 8 : 0);
        uint8_t *nh = buf + off + 6;

        buf[off] = 0x60;
        put16(buf + off + 4, (uint16_t)(ext + l4len));
        buf[off + 7] = 64;
        buf[off + 8] = 0xfd, buf[off + 23] = 1;  /* fd00::1 */
        buf[off + 24] = 0xfd, buf[off + 39] = 2; /* fd00::2 */
        off += 40;
        if (s->v6_ext) {
            *nh = IPPROTO_HOPOPTS;
            nh = buf + off;
            buf[off + 1] = 0;                   /* 8 bytes */
            buf[off + 2] = 1, buf[off + 3] = 4; /* PadN */
            off += 8;
            *nh = IPPROTO_DSTOPTS;
            nh = buf + off;
            buf[off + 2] = 1, buf[off + 3] = 4;
            off += 8;
        }
        if (s->v6_frag) {
            *nh = IPPROTO_FRAGMENT;
            nh = buf + off;
            put16(buf + off + 2, (uint16_t)((s->v6_frag - 1) << 3));
            put32(buf + off + 4, 0x1234);
            off += 8;
        }
        *nh = s->udp ? IPPROTO_UDP : IPPROTO_TCP;
    }
    (void)iph;
    l4 = off;
    put16(buf + l4, s->sport);
    put16(buf + l4 + 2, s->dport);
    if (s->udp) {
        put16(buf + l4 + 4, (uint16_t)l4len);
        off += 8;
    } else {
        put32(buf + l4 + 4, s->seq);
        put32(buf + l4 + 8, 1);
        buf[l4 + 12] = 5 << 4;
        buf[l4 + 13] = 0x18; /* PSH ACK */
        put16(buf + l4 + 14, 65535);
        off += 20;
    }
    for (i = 0; i < s->paylen; i++)
        buf[off + i] = pattern(s->seq, i);
    return off + s->paylen;
}

/* ---- the filter under test_run ---- */

struct got {
    struct htracr_rec h;
    size_t size;
    uint8_t data[PKT_MAX];
};

#define MAXGOT 512
static struct got got[MAXGOT];
static int ngot, got_bad;

static int on_ring(void *ctx, void *data, size_t size)
{
    struct got *g;
    const struct htracr_rec *h = data;

    (void)ctx;
    if (ngot >= MAXGOT || size < sizeof(*h) || h->cap_len > size - sizeof(*h) ||
        h->cap_len > PKT_MAX) {
        got_bad++;
        return 0;
    }
    g = &got[ngot++];
    g->h = *h;
    g->size = size;
    memcpy(g->data, h + 1, h->cap_len);
    return 0;
}

struct env {
    struct htracr_bpf *skel;
    struct ring_buffer *rb;
    int prog;
    __u32 want_ret; /* what the program must answer: 0, or TCX_NEXT at tc */
};

static void env_close(struct env *e)
{
    ring_buffer__free(e->rb);
    htracr_bpf__destroy(e->skel);
    memset(e, 0, sizeof(*e));
}

/* Non-zero: the wake_gap_ns env_open() loads the filter with. */
static uint64_t wake_gap_override;

static int env_open(struct env *e, int dns, uint32_t ring, uint64_t wake)
{
    __u32 zero = 0;
    struct htracr_ctl on = {.enabled = 1, .skip_active = 1};
    __u32 port = 80;
    __u8 one = 1;
    int err;

    memset(e, 0, sizeof(*e));
    e->skel = htracr_bpf__open();
    if (!e->skel) return -errno;
    bpf_map__set_max_entries(e->skel->maps.rb, ring);
    e->skel->rodata->dns = dns;
    e->skel->rodata->wake_bytes = wake;
    if (wake_gap_override)
        e->skel->rodata->wake_gap_ns = wake_gap_override;
    e->skel->rodata->tai_clock =
        libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCKET_FILTER, BPF_FUNC_ktime_get_tai_ns, NULL) == 1;
    err = htracr_bpf__load(e->skel);
    if (err) goto fail;
    e->prog = bpf_program__fd(e->skel->progs.htracr_filter);
    if (bpf_map_update_elem(bpf_map__fd(e->skel->maps.ports), &port, &one, BPF_ANY) ||
        bpf_map_update_elem(bpf_map__fd(e->skel->maps.ctl), &zero, &on, BPF_ANY)) {
        err = -errno;
        goto fail;
    }
    e->rb = ring_buffer__new(bpf_map__fd(e->skel->maps.rb), on_ring, NULL, NULL);
    if (!e->rb) {
        err = -errno;
        goto fail;
    }
    return 0;
fail:
    env_close(e);
    return err;
}

/* Run one packet; returns the number of records it produced, or -errno. */
static int run_ctx(struct env *e, const uint8_t *pkt, size_t len, struct __sk_buff *ctx)
{
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (__u32)len, .repeat = 1);
    int err;

    if (ctx) {
        o.ctx_in = ctx;
        o.ctx_size_in = sizeof(*ctx);
    }
    ngot = 0;
    got_bad = 0;
    err = bpf_prog_test_run_opts(e->prog, &o);
    if (err) return err;
    /* the socket filter must never queue on the socket; the tc programs
     * must always let the packet go on (TCX_NEXT) */
    if (o.retval != e->want_ret) return -EBADMSG;
    ring_buffer__consume(e->rb);
    return got_bad ? -EPROTO : ngot;
}

static int run(struct env *e, const uint8_t *pkt, size_t len)
{
    return run_ctx(e, pkt, len, NULL);
}

/* Expect one record holding the whole packet past its Ethernet header. */
static void expect_whole(struct env *e, const char *what, const struct spec *s)
{
    uint8_t pkt[PKT_MAX];
    size_t len = build(pkt, s);
    int n = run(e, pkt, len);
    struct got *g = &got[0];

    if (!check(n == 1, "%s: one record (got %d)", what, n)) return;
    check(g->h.cap_len == len - 14 && g->h.wire_len == len - 14 && g->h.skipped == 0 &&
              !(g->h.flags & (HTRACR_F_SKIP | HTRACR_F_TRUNC)) &&
              memcmp(g->data, pkt + 14, len - 14) == 0 && g->h.link == HTRACR_LINK_RAW,
          "%s: record holds the packet byte for byte (cap %u wire %u of %zu, skipped %u, "
          "link %u)",
          what, g->h.cap_len, g->h.wire_len, len - 14, g->h.skipped, g->h.link);
}

static void expect_none(struct env *e, const char *what, const struct spec *s)
{
    uint8_t pkt[PKT_MAX];
    size_t len = build(pkt, s);
    int n = run(e, pkt, len);

    check(n == 0, "%s: no record (got %d)", what, n);
}

static int read_counters(struct env *e, struct htracr_counters *t)
{
    int ncpu = libbpf_num_possible_cpus(), i;
    struct htracr_counters *v;
    __u32 zero = 0;

    memset(t, 0, sizeof(*t));
    if (ncpu <= 0) return -EINVAL;
    v = calloc((size_t)ncpu, sizeof(*v));
    if (!v) return -ENOMEM;
    if (bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.counters), &zero, v)) {
        free(v);
        return -errno;
    }
    for (i = 0; i < ncpu; i++) {
        t->seen += v[i].seen;
        t->matched += v[i].matched;
        t->ring_fail += v[i].ring_fail;
        t->skipped_bytes += v[i].skipped_bytes;
        t->records += v[i].records;
        t->load_fail += v[i].load_fail;
        t->truncated += v[i].truncated;
        t->lo_dups += v[i].lo_dups;
        t->resp_wakes += v[i].resp_wakes;
        t->fill_wakes += v[i].fill_wakes;
    }
    free(v);
    return 0;
}

static int set_skip_from(struct env *e, int v6, uint16_t sport, uint16_t dport, uint32_t from,
                         uint32_t until)
{
    struct htracr_flow k;
    struct htracr_skip v = {.from_seq = from, .until_seq = until};

    memset(&k, 0, sizeof(k));
    if (v6) {
        k.saddr[0] = 0xfd, k.saddr[15] = 1;
        k.daddr[0] = 0xfd, k.daddr[15] = 2;
        k.family = AF_INET6;
    } else {
        put32(k.saddr, 0x0a000001);
        put32(k.daddr, 0x0a000002);
        k.family = AF_INET;
    }
    k.sport = sport;
    k.dport = dport;
    return bpf_map_update_elem(bpf_map__fd(e->skel->maps.skip), &k, &v, BPF_ANY);
}

/* A range reaching back a quarter of the sequence space before until. */
static int set_skip(struct env *e, int v6, uint16_t sport, uint16_t dport, uint32_t until)
{
    return set_skip_from(e, v6, sport, dport, until - 0x40000000u, until);
}

static int skip_present(struct env *e, uint16_t sport, uint16_t dport)
{
    struct htracr_flow k;
    struct htracr_skip v;

    memset(&k, 0, sizeof(k));
    put32(k.saddr, 0x0a000001);
    put32(k.daddr, 0x0a000002);
    k.family = AF_INET;
    k.sport = sport;
    k.dport = dport;
    return bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.skip), &k, &v) == 0;
}

/* A packet whose payload lies inside the skip range: headers only. */
static void expect_skipped(struct env *e, const char *what, const struct spec *s)
{
    uint8_t pkt[PKT_MAX];
    size_t len = build(pkt, s);
    size_t hdr = len - 14 - s->paylen;
    int n = run(e, pkt, len);
    struct got *g = &got[0];

    if (!check(n == 1, "%s: one record (got %d)", what, n)) return;
    check(g->h.cap_len == hdr && g->h.wire_len == len - 14 && g->h.skipped == s->paylen &&
              (g->h.flags & HTRACR_F_SKIP) && memcmp(g->data, pkt + 14, hdr) == 0 &&
              g->size <= sizeof(struct htracr_rec) + 128,
          "%s: headers only (cap %u of %zu, skipped %u of %u, record %zu bytes)", what,
          g->h.cap_len, hdr, g->h.skipped, s->paylen, g->size);
}

/* Run a packet `repeat` times without reading the ring. */
static int send_unread(struct env *e, const uint8_t *pkt, size_t len, int repeat)
{
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (__u32)len,
                .repeat = repeat);

    return bpf_prog_test_run_opts(e->prog, &o);
}

/* Wakeups: a consumer asleep in ring_buffer__poll() is woken by a record
 * only when the ring holds more than wake_bytes; otherwise it sleeps on to
 * its timeout. The packet is sent from another thread 50 ms into the wait. */
struct waker {
    struct env *e;
    uint8_t pkt[PKT_MAX];
    size_t len;
};

static void *wake_thread(void *arg)
{
    struct waker *w = arg;
    struct timespec d = {0, 50000000};

    nanosleep(&d, NULL);
    send_unread(w->e, w->pkt, w->len, 1);
    return NULL;
}

static double poll_while_sent(struct env *e, int timeout_ms, int *n)
{
    struct spec s = {.sport = 40000, .dport = 80, .paylen = 10};
    struct waker w;
    struct timespec t0, t1;
    pthread_t th;

    w.e = e;
    w.len = build(w.pkt, &s);
    ngot = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (pthread_create(&th, NULL, wake_thread, &w)) return -1;
    ring_buffer__poll(e->rb, timeout_ms);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(th, NULL);
    ring_buffer__consume(e->rb);
    *n = ngot;
    return (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
}

/* Per-packet cost of the filter in the kernel (test_run's own average), for
 * the record; not a pass/fail check. */
static void timing(void)
{
    struct env e;
    struct spec s[3] = {{.sport = 40000, .dport = 8080, .paylen = 1400},
                        {.sport = 40000, .dport = 80, .paylen = 0},
                        {.sport = 80, .dport = 40000, .paylen = 1400}};
    const char *what[3] = {"unselected 1454-byte packet", "selected ACK",
                           "selected 1454-byte packet"};
    uint8_t pkt[PKT_MAX];
    int i;

    for (i = 0; i < 3; i++) {
        LIBBPF_OPTS(bpf_test_run_opts, o, .repeat = 5000);
        size_t len = build(pkt, &s[i]);

        if (env_open(&e, 0, 64 << 20, 1 << 30)) return;
        o.data_in = pkt;
        o.data_size_in = (__u32)len;
        if (bpf_prog_test_run_opts(e.prog, &o) == 0)
            printf("info filter: %s: %u ns per run\n", what[i], o.duration);
        env_close(&e);
    }
}

/* With the threshold at 1 byte, every record leaves the ring past it: only
 * the one that takes it there forces a wakeup, and then one every
 * wake_gap_ns (10 ms; 200 ms here, so a test runner paused for a moment
 * between two records cannot pass for a second wakeup) while nobody reads.
 * A late consumer used to get a forced wakeup, an irq_work self-IPI, for
 * every record. */
#define FILL_TEST_GAP_NS 200000000ull
static void fill_wakes(struct env *e)
{
    struct spec s = {.sport = 40000, .dport = 80, .paylen = 10};
    struct timespec d = {0, 300000000};
    struct htracr_counters c0, c1, c2, c3;
    uint8_t pkt[PKT_MAX];
    size_t len = build(pkt, &s);

    read_counters(e, &c0);
    send_unread(e, pkt, len, 5);
    read_counters(e, &c1);
    check(c1.records - c0.records == 5 && c1.fill_wakes - c0.fill_wakes == 1,
          "of 5 records past the fill threshold, only the first forces a wakeup (%llu of %llu)",
          (unsigned long long)(c1.fill_wakes - c0.fill_wakes),
          (unsigned long long)(c1.records - c0.records));
    ngot = 0;
    ring_buffer__consume(e->rb);
    send_unread(e, pkt, len, 2);
    read_counters(e, &c2);
    check(ngot == 5 && c2.fill_wakes - c1.fill_wakes == 1,
          "once the ring is read, the next record past the threshold forces one again (%llu, "
          "%d read)",
          (unsigned long long)(c2.fill_wakes - c1.fill_wakes), ngot);
    nanosleep(&d, NULL);
    send_unread(e, pkt, len, 1);
    read_counters(e, &c3);
    check(c3.fill_wakes - c2.fill_wakes == 1,
          "unread past the threshold for longer than the gap, a record forces one more (%llu)",
          (unsigned long long)(c3.fill_wakes - c2.fill_wakes));
    ring_buffer__consume(e->rb);
}

static void wakeups(void)
{
    struct env e;
    double ms;
    int n;

    if (env_open(&e, 0, 1 << 20, 1 << 17) == 0) {
        ms = poll_while_sent(&e, 400, &n);
        check(n == 1 && ms >= 350,
              "below the fill threshold a record does not wake the reader (slept %.0f ms of "
              "400, %d record)",
              ms, n);
        env_close(&e);
    }
    if (env_open(&e, 0, 1 << 20, 1) == 0) {
        ms = poll_while_sent(&e, 400, &n);
        check(n == 1 && ms < 300,
              "past the fill threshold a record wakes the reader (woke after %.0f ms, %d record)",
              ms, n);
        env_close(&e);
    }
    wake_gap_override = FILL_TEST_GAP_NS;
    if (env_open(&e, 0, 1 << 20, 1) == 0) {
        fill_wakes(&e);
        env_close(&e);
    }
    wake_gap_override = 0;
}

/* ---- the tc programs ---- */

/* The same filter at the TCX hooks (attach: tc): test_run gives a tc
 * program the whole frame, Ethernet header included, as the hook does. */
static void expect_frame(struct env *e, const char *what, const struct spec *s, __u8 pkt_type)
{
    uint8_t pkt[PKT_MAX];
    size_t len = build(pkt, s);
    int n = run(e, pkt, len);
    struct got *g = &got[0];

    if (!check(n == 1, "%s: one record, and the packet goes on (got %d)", what, n)) return;
    check(g->h.cap_len == len && g->h.wire_len == len && g->h.skipped == 0 &&
              memcmp(g->data, pkt, len) == 0 && g->h.link == HTRACR_LINK_ETH &&
              g->h.pkt_type == pkt_type,
          "%s: record holds the frame byte for byte (cap %u wire %u of %zu, link %u, pkt_type "
          "%u)",
          what, g->h.cap_len, g->h.wire_len, len, g->h.link, g->h.pkt_type);
}

static void tc_hooks(void)
{
    static const char *const name[2] = {"tc ingress", "tc egress"};
    /* packets the filter takes whole at either hook */
    static const struct {
        const char *label;
        struct spec s;
    } frames[] = {
        {"client -> port 80", {.sport = 40000, .dport = 80, .seq = 1000, .paylen = 100}},
        {"port 80 -> client", {.sport = 80, .dport = 40000, .seq = 1000, .paylen = 600}},
        {"ipv6", {.v6 = 1, .sport = 40000, .dport = 80, .paylen = 50}},
        {"802.1Q tagged", {.vlans = 1, .sport = 40000, .dport = 80, .paylen = 50}},
    };
    struct spec s;
    struct htracr_counters c0, c1;
    char what[96];
    struct env e;

    for (int out = 0; out < 2; out++) {
        __u8 pt = out ? PACKET_OUTGOING : PACKET_HOST;
        int err = env_open(&e, 0, 1 << 20, 1 << 17);

        if (!check(err == 0, "%s: the filter loads (%s)", name[out], strerror(-err))) return;
        e.prog = bpf_program__fd(out ? e.skel->progs.htracr_tc_out : e.skel->progs.htracr_tc_in);
        e.want_ret = (__u32)-1; /* TCX_NEXT */
        read_counters(&e, &c0);

        for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
            snprintf(what, sizeof(what), "%s: %s", name[out], frames[i].label);
            expect_frame(&e, what, &frames[i].s, pt);
        }
        s = (struct spec){.sport = 40000, .dport = 8080, .paylen = 100};
        snprintf(what, sizeof(what), "%s: other port", name[out]);
        expect_none(&e, what, &s);

        /* a body-skip range: headers only, and the frame's own header kept */
        s = (struct spec){.sport = 80, .dport = 40000, .seq = 1000, .paylen = 1000};
        if (check(set_skip(&e, 0, 80, 40000, 4000) == 0, "%s: skip hint written", name[out])) {
            uint8_t pkt[PKT_MAX];
            size_t len = build(pkt, &s), hdr = len - s.paylen;
            int n = run(&e, pkt, len);

            check(n == 1 && got[0].h.cap_len == hdr && got[0].h.skipped == s.paylen &&
                      (got[0].h.flags & HTRACR_F_SKIP) && memcmp(got[0].data, pkt, hdr) == 0,
                  "%s: segment inside the skip range: headers only (records %d, cap %u of "
                  "%zu, skipped %u)",
                  name[out], n, n ? got[0].h.cap_len : 0, hdr, n ? got[0].h.skipped : 0);
        }
        read_counters(&e, &c1);
        check(c1.seen - c0.seen == 6 && c1.matched - c0.matched == 5 &&
                  c1.lo_dups == c0.lo_dups && c1.records - c0.records == 5,
              "%s: counters: %llu seen, %llu selected, %llu records, %llu loopback copies", name[out],
              (unsigned long long)(c1.seen - c0.seen), (unsigned long long)(c1.matched - c0.matched),
              (unsigned long long)(c1.records - c0.records),
              (unsigned long long)(c1.lo_dups - c0.lo_dups));
        env_close(&e);
    }
}

static void canned(void)
{
    struct env e, d;
    struct spec s;
    struct htracr_counters c0, c1;
    uint8_t pkt[PKT_MAX];
    size_t len;
    __u32 port;
    __u8 one = 1, none = 0;
    __u32 zero = 0;
    struct htracr_ctl ctl = {.enabled = 1, .skip_active = 1};
    int err, n, i;
    uint64_t want_skipped = 0;

    err = env_open(&e, 0, 1 << 20, 1 << 17);
    if (!check(err == 0, "the filter loads (%s)", strerror(-err))) return;

    /* ports */
    s = (struct spec){.sport = 40000, .dport = 80, .seq = 1000, .paylen = 100};
    expect_whole(&e, "ipv4 tcp to port 80", &s);
    s = (struct spec){.sport = 80, .dport = 40000, .seq = 5000, .paylen = 300};
    expect_whole(&e, "ipv4 tcp from port 80", &s);
    s = (struct spec){.sport = 40000, .dport = 8080, .paylen = 10};
    expect_none(&e, "ipv4 tcp 40000 -> 8080", &s);
    s = (struct spec){.sport = 8080, .dport = 40000, .paylen = 10};
    expect_none(&e, "ipv4 tcp 8080 -> 40000", &s);
    s = (struct spec){.sport = 40000, .dport = 80};
    expect_whole(&e, "ipv4 tcp without payload (an ACK)", &s);
    if (got[0].size != sizeof(struct htracr_rec) + 128)
        check(0, "an ACK takes the smallest size class (record %zu bytes)", got[0].size);
    else
        check(1, "an ACK takes the smallest size class (record %zu bytes)", got[0].size);

    /* a response's first segment ("HTTP/...") asks for a wakeup; others not */
    s = (struct spec){.sport = 80, .dport = 40000, .seq = 9000, .paylen = 64};
    len = build(pkt, &s);
    memcpy(pkt + len - s.paylen, "HTTP/1.1 200 OK\r\n", 17);
    {
        struct htracr_counters w0, w1, w2;

        read_counters(&e, &w0);
        n = run(&e, pkt, len);
        read_counters(&e, &w1);
        check(n == 1 && (got[0].h.flags & HTRACR_F_WAKE) && w1.resp_wakes == w0.resp_wakes + 1,
              "a segment starting HTTP/ is flagged for a forced wakeup, and counted (flags %#x, "
              "counted %llu)", n == 1 ? got[0].h.flags : 0,
              (unsigned long long)(w1.resp_wakes - w0.resp_wakes));
        memcpy(pkt + len - s.paylen, "HTTX/", 5);
        n = run(&e, pkt, len);
        read_counters(&e, &w2);
        check(n == 1 && !(got[0].h.flags & HTRACR_F_WAKE) && w2.resp_wakes == w1.resp_wakes,
              "other payload is not (flags %#x)", n == 1 ? got[0].h.flags : 0);
    }

    /* the port map changed while loaded */
    port = 8080;
    bpf_map_update_elem(bpf_map__fd(e.skel->maps.ports), &port, &one, BPF_ANY);
    port = 80;
    bpf_map_update_elem(bpf_map__fd(e.skel->maps.ports), &port, &none, BPF_ANY);
    s = (struct spec){.sport = 40000, .dport = 8080, .paylen = 10};
    expect_whole(&e, "after a port change: 8080 selected", &s);
    s = (struct spec){.sport = 40000, .dport = 80, .paylen = 10};
    expect_none(&e, "after a port change: 80 no longer", &s);
    bpf_map_update_elem(bpf_map__fd(e.skel->maps.ports), &port, &one, BPF_ANY);

    /* IPv6, VLAN */
    s = (struct spec){.v6 = 1, .sport = 40000, .dport = 80, .seq = 7, .paylen = 200};
    expect_whole(&e, "ipv6 tcp to port 80", &s);
    s = (struct spec){.v6 = 1, .sport = 80, .dport = 40000, .paylen = 20};
    expect_whole(&e, "ipv6 tcp from port 80", &s);
    s = (struct spec){.v6 = 1, .sport = 40000, .dport = 81, .paylen = 20};
    expect_none(&e, "ipv6 tcp to port 81", &s);
    s = (struct spec){.v6 = 1, .v6_ext = 1, .sport = 40000, .dport = 80, .paylen = 50};
    expect_whole(&e, "ipv6 with hop-by-hop and destination options", &s);
    s = (struct spec){
        .v6 = 1, .v6_ext = 1, .v6_frag = 1, .sport = 40000, .dport = 80, .paylen = 50};
    expect_whole(&e, "ipv6 first fragment", &s);
    s = (struct spec){.v6 = 1, .v6_frag = 3, .sport = 40000, .dport = 80, .paylen = 50};
    expect_none(&e, "ipv6 later fragment (no TCP header in it)", &s);
    s = (struct spec){.vlans = 1, .sport = 40000, .dport = 80, .paylen = 64};
    expect_whole(&e, "802.1Q ipv4", &s);
    s = (struct spec){.vlans = 2, .sport = 80, .dport = 40000, .paylen = 64};
    expect_whole(&e, "QinQ ipv4", &s);
    s = (struct spec){.vlans = 2, .v6 = 1, .sport = 40000, .dport = 80, .paylen = 64};
    expect_whole(&e, "QinQ ipv6", &s);
    s = (struct spec){.vlans = 1, .sport = 40000, .dport = 443, .paylen = 64};
    expect_none(&e, "802.1Q ipv4 to port 443", &s);

    /* DNS off in this build */
    s = (struct spec){.udp = 1, .sport = 33333, .dport = 53, .paylen = 30};
    expect_none(&e, "udp/53 with dns off", &s);

    /* malformed: cut short at every length; never a record for a broken
     * header, never anything but 0 returned */
    s = (struct spec){.sport = 40000, .dport = 80, .paylen = 0};
    len = build(pkt, &s);
    {
        int refused = 0, r;

        for (n = 0, i = 15; i < (int)len; i++) {
            r = run(&e, pkt, (size_t)i);
            if (r == -EINVAL)
                refused++; /* test_run itself takes no packet shorter than 34 bytes */
            else if (r != 0)
                n++;
        }
        check(n == 0,
              "ipv4 tcp cut short at each of %zu lengths: no record (%d had one or failed, "
              "%d refused by test_run)",
              len - 15, n, refused);
    }
    pkt[14] = 0x43; /* IHL 3 */
    check(run(&e, pkt, len) == 0, "ipv4 header length 12: no record");

    /* loopback: test_run puts packets on lo; one with lo's (zero) MAC is
     * PACKET_HOST, the incoming copy, and is kept */
    {
        struct __sk_buff ctx = {.ifindex = 1};

        s = (struct spec){.sport = 40000, .dport = 80, .paylen = 10};
        len = build(pkt, &s);
        n = run_ctx(&e, pkt, len, &ctx);
        check(n == 1 && got[0].h.pkt_type == PACKET_HOST && got[0].h.ifindex == 1,
              "loopback incoming copy kept (records %d, pkt_type %u, ifindex %u)", n,
              n > 0 ? got[0].h.pkt_type : 99, n > 0 ? got[0].h.ifindex : 0);
        s.dst_mac0 = 0x02;
        len = build(pkt, &s);
        n = run_ctx(&e, pkt, len, &ctx);
        check(n == 1 && got[0].h.pkt_type == PACKET_OTHERHOST,
              "another host's packet seen on lo kept (records %d, pkt_type %u)", n,
              n > 0 ? got[0].h.pkt_type : 99);
    }

    /* a large packet: the biggest test_run takes, whole, in the 4096 class */
    s = (struct spec){.sport = 80, .dport = 40000, .seq = 0xfffff000, .paylen = 3600};
    expect_whole(&e, "3654-byte packet", &s);
    check(got[0].size == sizeof(struct htracr_rec) + 4096,
          "3654-byte packet in the 4096 class (record %zu bytes)", got[0].size);

    /* timestamps: the filter's clock read now, close to ours */
    {
        struct timespec ts;
        int64_t now;

        clock_gettime(read_counters(&e, &c0) == 0 && e.skel->rodata->tai_clock ? CLOCK_TAI
                                                                               : CLOCK_BOOTTIME,
                      &ts);
        now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        s = (struct spec){.sport = 40000, .dport = 80, .paylen = 10};
        len = build(pkt, &s);
        n = run(&e, pkt, len);
        check(n == 1 && (int64_t)got[0].h.ts_ns - now >= 0 &&
                  (int64_t)got[0].h.ts_ns - now < 1000000000,
              "record timestamp is the %s clock (%.3f ms after our read)",
              e.skel->rodata->tai_clock ? "TAI" : "boot",
              n == 1 ? ((int64_t)got[0].h.ts_ns - now) / 1e6 : -1.0);
    }

    read_counters(&e, &c0);
    /* body skip: a range that starts later: what comes before it is whole */
    check(set_skip_from(&e, 0, 80, 40003, 2000, 4000) == 0, "skip hint [2000, 4000) written");
    s = (struct spec){.sport = 80, .dport = 40003, .seq = 1000, .paylen = 1000};
    expect_whole(&e, "segment 1000..2000 before from_seq", &s);
    s = (struct spec){.sport = 80, .dport = 40003, .seq = 1500, .paylen = 1000};
    expect_whole(&e, "segment 1500..2500 straddling from_seq", &s);
    s = (struct spec){.sport = 80, .dport = 40003, .seq = 2000, .paylen = 1000};
    expect_skipped(&e, "segment 2000..3000 from from_seq on", &s);
    want_skipped += 1000;
    /* body skip: server 10.0.0.1:80 -> client 10.0.0.2:40000 up to 4000 */
    check(set_skip(&e, 0, 80, 40000, 4000) == 0, "skip hint written");
    s = (struct spec){.sport = 80, .dport = 40000, .seq = 1000, .paylen = 1000};
    expect_skipped(&e, "segment 1000..2000 inside the skip range", &s);
    want_skipped += 1000;
    s = (struct spec){.sport = 80, .dport = 40000, .seq = 2000, .paylen = 2000};
    expect_skipped(&e, "segment 2000..4000 ending at until_seq", &s);
    want_skipped += 2000;
    s = (struct spec){.sport = 40000, .dport = 80, .seq = 1000, .paylen = 1000};
    expect_whole(&e, "other direction of the flow not skipped", &s);
    s = (struct spec){.sport = 80, .dport = 40000, .seq = 3500, .paylen = 1000};
    expect_whole(&e, "segment 3500..4500 straddling until_seq", &s);
    check(skip_present(&e, 80, 40000), "skip entry kept while segments start before it");
    s = (struct spec){.sport = 80, .dport = 40000, .seq = 4000, .paylen = 500};
    expect_whole(&e, "segment 4000..4500 past until_seq", &s);
    check(!skip_present(&e, 80, 40000), "skip entry removed once past until_seq");
    /* across the 2^32 wrap */
    set_skip(&e, 0, 80, 40001, 0x100);
    s = (struct spec){.sport = 80, .dport = 40001, .seq = 0xffffff00, .paylen = 0x200};
    expect_skipped(&e, "segment ffffff00..00000100 across the wrap", &s);
    want_skipped += 0x200;
    s = (struct spec){.sport = 80, .dport = 40001, .seq = 0xfffffff0, .paylen = 0x200};
    expect_whole(&e, "segment fffffff0..000001f0 straddling across the wrap", &s);
    /* IPv6 */
    set_skip(&e, 1, 80, 40002, 100000);
    s = (struct spec){
        .v6 = 1, .v6_ext = 1, .sport = 80, .dport = 40002, .seq = 50000, .paylen = 1400};
    expect_skipped(&e, "ipv6 segment with extension headers inside the skip range", &s);
    want_skipped += 1400;
    s = (struct spec){.sport = 80, .dport = 40002, .seq = 50000, .paylen = 1400};
    expect_whole(&e, "same ports over ipv4: another flow, not skipped", &s);
    read_counters(&e, &c1);
    check(c1.skipped_bytes - c0.skipped_bytes == want_skipped,
          "skipped-bytes counter %llu, sent %llu",
          (unsigned long long)(c1.skipped_bytes - c0.skipped_bytes),
          (unsigned long long)want_skipped);

    /* Until userspace says a hint exists, the filter does not look the
     * skip map up: an entry there changes nothing. */
    set_skip(&e, 0, 80, 40009, 100000);
    ctl.enabled = 1;
    ctl.skip_active = 0;
    bpf_map_update_elem(bpf_map__fd(e.skel->maps.ctl), &zero, &ctl, BPF_ANY);
    s = (struct spec){.sport = 80, .dport = 40009, .seq = 50000, .paylen = 1000};
    expect_whole(&e, "skip map not consulted while skip_active is 0", &s);
    ctl.skip_active = 1;
    bpf_map_update_elem(bpf_map__fd(e.skel->maps.ctl), &zero, &ctl, BPF_ANY);
    expect_skipped(&e, "and consulted once it is 1", &s);

    /* on/off */
    read_counters(&e, &c0);
    ctl.enabled = 0;
    bpf_map_update_elem(bpf_map__fd(e.skel->maps.ctl), &zero, &ctl, BPF_ANY);
    s = (struct spec){.sport = 40000, .dport = 80, .paylen = 10};
    expect_none(&e, "capture off: port 80 not recorded", &s);
    ctl.enabled = 1;
    bpf_map_update_elem(bpf_map__fd(e.skel->maps.ctl), &zero, &ctl, BPF_ANY);
    expect_whole(&e, "capture on again: port 80 recorded", &s);
    read_counters(&e, &c1);
    check(c1.seen - c0.seen == 2 && c1.matched - c0.matched == 1 && c1.records - c0.records == 1,
          "counters: 2 seen, 1 matched, 1 record (got %llu, %llu, %llu)",
          (unsigned long long)(c1.seen - c0.seen), (unsigned long long)(c1.matched - c0.matched),
          (unsigned long long)(c1.records - c0.records));
    check(c1.ring_fail == 0 && c1.load_fail == 0, "no failures counted (ring %llu, load %llu)",
          (unsigned long long)c1.ring_fail, (unsigned long long)c1.load_fail);
    env_close(&e);

    /* DNS on */
    err = env_open(&d, 1, 1 << 20, 1 << 17);
    if (check(err == 0, "the filter loads with dns on")) {
        s = (struct spec){.udp = 1, .sport = 33333, .dport = 53, .paylen = 30};
        expect_whole(&d, "udp/53 query with dns on", &s);
        s = (struct spec){.udp = 1, .v6 = 1, .sport = 53, .dport = 33333, .paylen = 90};
        expect_whole(&d, "udp/53 ipv6 answer with dns on", &s);
        s = (struct spec){.udp = 1, .sport = 33333, .dport = 5353, .paylen = 30};
        expect_none(&d, "udp/5353 with dns on", &s);
        s = (struct spec){.sport = 33333, .dport = 53, .paylen = 30};
        expect_none(&d, "tcp/53 (not a selected port)", &s);
        env_close(&d);
    }

    /* a full ring: every packet is either a record or a counted failure */
    err = env_open(&e, 0, 16384, 1 << 30);
    if (check(err == 0, "the filter loads with a 16 KiB ring")) {
        int sent = 200, recs = 0;

        s = (struct spec){.sport = 40000, .dport = 80, .paylen = 10};
        len = build(pkt, &s);
        for (i = 0; i < sent; i++) {
            LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (__u32)len,
                        .repeat = 1);
            bpf_prog_test_run_opts(e.prog, &o);
        }
        ngot = 0;
        ring_buffer__consume(e.rb);
        recs = ngot;
        read_counters(&e, &c1);
        check(recs > 0 && c1.ring_fail > 0 && recs + (int)c1.ring_fail == sent &&
                  c1.records == (uint64_t)recs,
              "ring full: %d records + %llu counted failures = %d packets", recs,
              (unsigned long long)c1.ring_fail, sent);
        env_close(&e);
    }
}

/* ---- live: the backend on a real interface ---- */

struct live {
    uint8_t *file;
    size_t file_len;
    uint8_t *s2c;      /* server payload by offset from its ISN + 1 */
    uint8_t *s2c_have; /* 1: captured, 2: skipped */
    size_t s2c_cap;
    uint32_t isn_s;
    int have_isn;
    int syn, synack, bad_link, short_rec, ext_bytes;
    uint64_t recs, skipped_recs, skipped_sum, max_caplen, payload_captured;
    int64_t first_ts, syn_ts;
    int64_t min_lag, max_lag; /* delivery time minus record time */
    struct capture *cap;
    uint32_t skip_at;
    int skip_set;
    size_t first_skip; /* stream offset + 1 of the first skipped segment */
};

#define LIVE_HEADER_ROOM 4096 /* stream bytes before the skip range */

static void live_cb(void *ctx, const struct capture_rec *r)
{
    struct live *l = ctx;
    const uint8_t *p = r->data;
    size_t off = 14, ihl, thl, plen, iplen, i;
    uint16_t sport, dport;
    uint32_t seq;
    uint8_t flags;

    l->recs++;
    if (!l->first_ts) l->first_ts = r->ts_ns;
    {
        struct timespec now;
        int64_t lag;

        clock_gettime(CLOCK_REALTIME, &now);
        lag = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - r->ts_ns;
        if (lag < l->min_lag || l->recs == 1) l->min_lag = lag;
        if (lag > l->max_lag || l->recs == 1) l->max_lag = lag;
    }
    if (r->caplen > l->max_caplen) l->max_caplen = r->caplen;
    if (r->linktype != LINK_ETHERNET || r->caplen < 14 || ((p[12] << 8) | p[13]) != ETH_P_IP) {
        l->bad_link++;
        return;
    }
    if (r->caplen < off + 20) {
        l->short_rec++;
        return;
    }
    ihl = (p[off] & 0xf) * 4u;
    iplen = (size_t)(p[off + 2] << 8 | p[off + 3]);
    if (p[off + 9] != IPPROTO_TCP || r->caplen < off + ihl + 20) {
        l->short_rec++;
        return;
    }
    off += ihl;
    sport = (uint16_t)(p[off] << 8 | p[off + 1]);
    dport = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
    seq = (uint32_t)p[off + 4] << 24 | (uint32_t)p[off + 5] << 16 | (uint32_t)p[off + 6] << 8 |
          p[off + 7];
    thl = (p[off + 12] >> 4) * 4u;
    flags = p[off + 13];
    (void)dport;
    if ((flags & 0x12) == 0x02 && !l->syn++) l->syn_ts = r->ts_ns;
    if ((flags & 0x12) == 0x12) {
        l->synack++;
        l->isn_s = seq;
        l->have_isn = 1;
        if (l->skip_at && !l->skip_set) {
            struct capture_skip sk;

            memset(&sk, 0, sizeof(sk));
            sk.family = AF_INET;
            memcpy(sk.saddr, p + 14 + 12, 4);
            memcpy(sk.daddr, p + 14 + 16, 4);
            sk.sport = sport;
            sk.dport = dport;
            /* The hint is set at the SYN/ACK, before the response exists:
             * it starts past room for its headers (as htracr's own starts
             * after the parsed headers), or a client slow to send its
             * request would see them skipped too. */
            sk.from_seq = seq + 1 + LIVE_HEADER_ROOM;
            sk.until_seq = seq + 1 + l->skip_at;
            l->skip_set = capture_skip(l->cap, &sk) == 0 ? 1 : -1;
        }
    }
    if (sport != 80 || !l->have_isn) return;
    plen = iplen - ihl - thl;
    if (14 + iplen > r->wirelen) {
        l->short_rec++;
        return;
    }
    {
        size_t rel = (uint32_t)(seq - l->isn_s - 1);
        size_t have = r->caplen > 14 + ihl + thl ? r->caplen - 14 - ihl - thl : 0;
        int skipped = r->skipped > 0;

        if (have > plen) have = plen;
        if (skipped) {
            l->skipped_recs++;
            l->skipped_sum += r->skipped;
            if (r->skipped != plen || have != 0) l->short_rec++;
        } else if (have != plen) {
            l->short_rec++;
        }
        l->payload_captured += have;
        if (plen == 0) return; /* SYN/ACK, FIN, ACK: take no stream bytes */
        if (skipped && !l->first_skip) l->first_skip = rel + 1;
        if (rel + plen > l->s2c_cap) {
            l->ext_bytes++;
            return;
        }
        for (i = 0; i < plen; i++) {
            if (skipped) {
                if (!l->s2c_have[rel + i]) l->s2c_have[rel + i] = 2;
            } else {
                l->s2c[rel + i] = p[14 + ihl + thl + i];
                l->s2c_have[rel + i] = 1;
            }
        }
    }
}

static void count_cb(void *ctx, const struct capture_rec *r)
{
    (void)r;
    (*(int *)ctx)++;
}

/* Run cmd to its end and return how many records arrived meanwhile and
 * within 200 ms after. */
static int records_during(struct capture *cap, const char *cmd)
{
    char errbuf[CAPTURE_ERRBUF];
    int n = 0, quiet = 0, r;

    r = system(cmd);
    (void)r;
    while (quiet < 20) {
        r = capture_dispatch(cap, 0, 10, count_cb, &n, errbuf);
        if (r < 0) return -1;
        quiet = r > 0 ? 0 : quiet + 1;
    }
    return n;
}

/* The run-time controls through the backend: on/off, the port set, and
 * next() for callers that read one record at a time. */
static void controls(struct live *l, const char *iface, const char *cmd)
{
    char errbuf[CAPTURE_ERRBUF];
    struct capture_rec rec;
    uint16_t p8080 = 8080, p80 = 80;
    int n;

    check(capture_set_enabled(l->cap, 0) == 0, "live %s: capture switched off", iface);
    n = records_during(l->cap, cmd);
    check(n == 0, "live %s: off: no records (%d)", iface, n);
    capture_set_enabled(l->cap, 1);
    check(capture_set_ports(l->cap, &p8080, 1) == 0, "live %s: ports set to 8080", iface);
    n = records_during(l->cap, cmd);
    check(n == 0, "live %s: port 80 no longer selected: no records (%d)", iface, n);
    capture_set_ports(l->cap, &p80, 1);
    if (system(cmd) != 0) check(0, "live %s: download again", iface);
    n = capture_next(l->cap, &rec, errbuf);
    check(n == 1 && rec.caplen >= 54 && rec.caplen == rec.wirelen && rec.data[12] == 0x08 &&
              rec.data[14 + 33] == 0x02,
          "live %s: on, port 80 again; capture_next gives the SYN (%d, %u bytes)", iface, n,
          n == 1 ? rec.caplen : 0);
}

static int live(const char *iface, const char *path, const char *cmd, uint32_t skip_at,
                size_t ring)
{
    struct capture_live_opts o;
    struct capture_stats st;
    struct live l;
    char errbuf[CAPTURE_ERRBUF];
    uint16_t port = 80;
    struct stat sb;
    FILE *f;
    pid_t pid;
    int status = -1, done = 0, r, drain = 0;
    const char *attach;
    size_t i, body = 0, hole = 0, wrong = 0, nskip = 0, ncap = 0;
    const uint8_t *h;

    memset(&l, 0, sizeof(l));
    l.skip_at = skip_at;
    f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &sb) < 0) {
        check(0, "live %s: read %s", iface, path);
        return 1;
    }
    l.file_len = (size_t)sb.st_size;
    l.file = malloc(l.file_len + 1);
    if (!l.file || fread(l.file, 1, l.file_len, f) != l.file_len) return 1;
    fclose(f);
    l.s2c_cap = l.file_len + 65536;
    l.s2c = calloc(1, l.s2c_cap);
    l.s2c_have = calloc(1, l.s2c_cap);

    memset(&o, 0, sizeof(o));
    o.iface = iface;
    o.ports = &port;
    o.nports = 1;
    o.enabled = 1;
    o.buffer_bytes = ring;
    /* ATTACH=tc|socket|auto (tests/bpf/run.sh): where the filter runs */
    attach = getenv("ATTACH");
    o.attach = !attach                        ? CAPTURE_ATTACH_AUTO
               : strcmp(attach, "tc") == 0     ? CAPTURE_ATTACH_TC
               : strcmp(attach, "socket") == 0 ? CAPTURE_ATTACH_SOCKET
                                               : CAPTURE_ATTACH_AUTO;
    l.cap = capture_bpf_open(&o, errbuf);
    if (!check(l.cap != NULL, "live %s: capture_bpf_open (%s)", iface, l.cap ? "" : errbuf))
        return 1;
    {
        /* auto: tc on one interface without a queue (veth, lo); WANT_ATTACH
         * where the test set up something else (a qdisc) */
        const char *want = getenv("WANT_ATTACH");
        if (!want || !*want)
            want = (attach && strcmp(attach, "socket") == 0) || strcmp(iface, "any") == 0
                       ? "socket"
                       : "tc";
        check(strcmp(capture_attach_name(l.cap), want) == 0, "live %s: the filter runs at %s (%s)",
              iface, want, capture_attach_name(l.cap));
    }
    check(strcmp(capture_backend_name(l.cap), "bpf") == 0 &&
              capture_linktype(l.cap) == LINK_ETHERNET,
          "live %s: backend %s, link type %d", iface, capture_backend_name(l.cap),
          capture_linktype(l.cap));

    pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* read while the download runs, then until 300 ms of quiet */
    while (drain < 30) {
        r = capture_dispatch(l.cap, 0, 10, live_cb, &l, errbuf);
        if (r < 0) {
            check(0, "live %s: dispatch: %s", iface, errbuf);
            break;
        }
        if (!done && waitpid(pid, &status, WNOHANG) == pid) done = 1;
        if (done) drain = r > 0 ? 0 : drain + 1;
    }
    if (!done) waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "live %s: download command ran", iface);
    capture_get_stats(l.cap, &st);

    check(l.syn == 1 && l.synack == 1, "live %s: the SYN and the SYN/ACK arrive once each (%d, %d)",
          iface, l.syn, l.synack);
    check(l.bad_link == 0 && l.short_rec == 0 && l.ext_bytes == 0,
          "live %s: %llu records, all Ethernet + IPv4 + TCP, payload whole or skipped as "
          "declared (bad link %d, short %d, out of range %d)",
          iface, (unsigned long long)l.recs, l.bad_link, l.short_rec, l.ext_bytes);
    /* the response: headers, then the file */
    for (i = 0; i + 4 <= l.s2c_cap && l.s2c_have[i] == 1; i++)
        if (i >= 3 && memcmp(l.s2c + i - 3, "\r\n\r\n", 4) == 0) {
            body = i + 1;
            break;
        }
    check(body > 0, "live %s: response headers reassembled (%zu bytes)", iface, body);
    if (body) {
        for (i = 0; i < l.file_len; i++) {
            h = &l.s2c_have[body + i];
            if (*h == 0)
                hole++;
            else if (*h == 2)
                nskip++;
            else {
                ncap++;
                if (l.s2c[body + i] != l.file[i]) wrong++;
            }
        }
        if (!ring)
            check(hole + wrong == 0,
                  "live %s: body of %zu bytes: %zu captured, %zu skipped, %zu missing or wrong",
                  iface, l.file_len, ncap, nskip, hole + wrong);
    }
    if (skip_at) {
        check(l.skip_set == 1, "live %s: skip hint set at the SYN/ACK", iface);
        check(l.first_skip > LIVE_HEADER_ROOM,
              "live %s: nothing skipped before the range starts (first at stream offset %zu)",
              iface, l.first_skip ? l.first_skip - 1 : 0);
        check(nskip > l.file_len / 2 && ncap > 0,
              "live %s: most of the body skipped in the kernel (%zu of %zu bytes)", iface, nskip,
              l.file_len);
        check(st.skipped_bytes == l.skipped_sum && l.skipped_sum > 0,
              "live %s: skipped-bytes stat %llu = sum of records' skipped %llu (%llu records)",
              iface, (unsigned long long)st.skipped_bytes, (unsigned long long)l.skipped_sum,
              (unsigned long long)l.skipped_recs);
    }
    /* A ring much smaller than what went through it: records were read
     * across its end many times (the reader sees the data mapped twice in
     * a row), and the checks above found every byte in place. */
    if (ring) {
        /* A burst can outrun a small ring (GSO/GRO records of tens of KiB
         * each): then packets are lost, counted, and their bytes missing.
         * What was read is right either way. */
        check(st.bytes > 2 * (uint64_t)ring,
              "live %s: %llu record bytes went through a %zu KiB ring (it wrapped %llu times)",
              iface, (unsigned long long)st.bytes, ring >> 10,
              (unsigned long long)(st.bytes / ring));
        check(body && wrong == 0 && ncap > l.file_len / 2,
              "live %s: body of %zu bytes: %zu captured, every byte read right (%zu wrong)", iface,
              l.file_len, ncap, wrong);
        check(st.records == l.recs && st.filtered == l.recs + st.dropped &&
                  st.dropped == st.ring_drops && (hole == 0 || st.ring_drops > 0),
              "live %s: %llu records read + %llu dropped for want of room = %llu selected; "
              "%zu body bytes missing",
              iface, (unsigned long long)l.recs, (unsigned long long)st.ring_drops,
              (unsigned long long)st.filtered, hole);
    }
    /* Live, TCP's payload sits in page fragments, not in the skb's linear
     * part: the filter must still see the response begin. */
    check(st.resp_wakes >= 1, "live %s: the response's first segment woke the reader (%llu)",
          iface, (unsigned long long)st.resp_wakes);
    if (!ring)
        check(st.records == l.recs && st.dropped == 0 && st.ring_drops == 0 &&
                  st.filtered == l.recs,
              "live %s: stats: %llu records, %llu passed the filter, %llu dropped (%llu for want "
              "of room in the ring)",
              iface, (unsigned long long)st.records, (unsigned long long)st.filtered,
              (unsigned long long)st.dropped, (unsigned long long)st.ring_drops);
    /* Records are stamped when the filter runs and handed over at most a
     * poll tick or two later: wall-clock time, not TAI or boot time. */
    check(l.min_lag >= 0 && l.max_lag < 200000000,
          "live %s: timestamps are wall-clock (delivered %.3f to %.3f ms after the stamp)", iface,
          l.min_lag / 1e6, l.max_lag / 1e6);
    printf("info live %s: syn_ts %lld.%09lld\n", iface, (long long)(l.syn_ts / 1000000000),
           (long long)(l.syn_ts % 1000000000));
    printf("info live %s: largest record %llu bytes, %llu payload bytes copied\n", iface,
           (unsigned long long)l.max_caplen, (unsigned long long)l.payload_captured);
    if (skip_at)
        printf("info live %s: first skipped segment at stream offset %zu\n", iface,
               l.first_skip ? l.first_skip - 1 : 0);
    if (!skip_at && !ring) controls(&l, iface, cmd);
    capture_close(l.cap);
    free(l.file);
    free(l.s2c);
    free(l.s2c_have);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        log_set_level(LOG_DEBUG);
        argc--, argv++;
    }
    if (argc >= 5 && strcmp(argv[1], "--live") == 0)
        live(argv[2], argv[3], argv[4], argc >= 6 ? (uint32_t)strtoul(argv[5], NULL, 0) : 0,
             argc >= 7 ? (size_t)strtoull(argv[6], NULL, 0) : 0);
    else {
        canned();
        tc_hooks();
        wakeups();
        timing();
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
