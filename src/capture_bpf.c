/* SPDX-License-Identifier: MIT */
/*
 * capture_bpf.c - live capture through the eBPF socket filter and its ring
 * buffer (the user half of bpf/htracr.bpf.c).
 *
 * First stage of the pipeline, one of the capture sources behind
 * include/htracr/capture.h. Opening does everything that needs privileges
 * at once, so the caller can drop them afterwards: load the BPF object
 * (embedded by `bpftool gen skeleton`, never read from disk), fill the port
 * map, open an AF_PACKET socket, attach the program with SO_ATTACH_BPF and
 * only then bind it to ETH_P_ALL on the chosen interface, so no packet is
 * ever queued unfiltered. The program returns 0 for every packet; the
 * socket stays empty and all data arrives through the BPF ring buffer.
 *
 * Reading: the filter submits records without waking us (BPF_RB_NO_WAKEUP)
 * until the ring is an eighth full (at most WAKE_MAX, 256 KiB), so dispatch()
 * polls the ring with a short tick (POLL_TICK_MS) and hands every ready record to the caller in
 * place, borrowed from the ring's memory, no copy. The ring is read here,
 * not through libbpf's ring_buffer, which hands each record back to the
 * kernel as soon as its callback returns: one write of the consumer
 * position per record, which the filter reads on every reservation from
 * another CPU, so its cache line went back and forth once a packet. Here
 * the position is written every RING_PUBLISH bytes read (64 KiB, less in a
 * small ring) and at the end of each batch. After a second with
 * nothing, the tick grows to IDLE_TICK_MS, so an idle capture left running
 * for days wakes ten times a second, not a hundred (a response's first
 * segment and a filling ring still wake it at once: the filter forces
 * those wakeups, a response's at most once per CPU every 10 ms). Timestamps come from
 * CLOCK_TAI (or CLOCK_BOOTTIME on kernels without the TAI helper) and are
 * turned into wall-clock time with an offset measured at each dispatch,
 * which matches the CLOCK_REALTIME stamps libpcap gives for the same
 * packets.
 *
 * Runtime changes without touching the socket: the port set (an array map
 * indexed by port), on/off (the ctl array map, which also says once a
 * body-skip hint exists), body-skip hints (an LRU hash map keyed by flow
 * direction). Counters live in a per-CPU map and are summed on demand.
 */
#include <errno.h>
#include <net/if.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "htracr/capture.h"
#include "htracr/log.h"
#include "../bpf/htracr.h"
#include "htracr.skel.h"

#define POLL_TICK_MS 10  /* longest a record waits without a wakeup... */
#define IDLE_TICK_MS 100 /* ...unless nothing came for IDLE_AFTER_TICKS ticks */
#define IDLE_AFTER_TICKS 100
/* As libpcap's buffer: 8 MiB (the first default) held about 180 ms of
 * wrk's traffic, which a server thread writing the whole model outlasted
 * now and then (bench/live --parts uifetch, docs/performance.md). */
#define RING_DEFAULT CAPTURE_DEFAULT_BUFFER
#define RING_MIN (256u << 10) /* must hold a 64 KiB record several times */
#define RING_MAX (1u << 30)
/* A wakeup once the ring is an eighth full, and no later than this: a
 * bigger ring must not delay what a filling ring hurries along (a body-skip
 * hint set before the response's headers arrive, tests/bpf). And a busy
 * capture is read in small batches: under bench/live's wrk (about 80 MB of
 * records a second) 256 KiB wakes us every 3 ms, and the traffic kept 0.938
 * of its rate against 0.862 with 1 MiB (every 10 ms, the poll tick), for
 * 2 % more CPU a packet (10 alternated rounds, docs/performance.md).
 * Records read sooner after the filter wrote them are likelier still in a
 * cache, and a shorter batch holds a CPU that wrk or nginx wants for less
 * long; the rounds cannot tell which of the two it is. On a host that ran
 * everything about twice as slowly the ratio was the same either way, and
 * 256 KiB cost 9-14 % more CPU a packet (two sets of 10 rounds). */
#define WAKE_MAX (256u << 10)
#define MAX_PORTS 1024 /* ports userspace remembers, to unselect them on a change */
/* Bytes read before the consumer position is written back mid-batch: at
 * most a 32nd of the ring, so the filter's view of the free space (and of
 * the fill level that decides its wakeups) is never far behind. */
#define RING_PUBLISH (64u << 10)

/* The BPF ring buffer as the kernel maps it: a page with the consumer
 * position (ours to write), a page with the producer position, then the
 * data, mapped twice in a row so a record that wraps is contiguous. */
struct ring {
    int epfd;
    unsigned long *cons_pos;
    const unsigned long *prod_pos;
    const uint8_t *data;
    unsigned long mask;
    unsigned long publish; /* see RING_PUBLISH */
    void *cons_map, *prod_map;
    size_t prod_map_len;
};

static const char privilege_hint[] =
    "operation not permitted (run with sudo, or setcap "
    "cap_bpf,cap_perfmon,cap_net_raw,cap_net_admin+ep on the binary)";

struct bpf_cap {
    struct capture cap; /* first: close() frees the whole struct */
    /* -i: the interface, checked about once a second while reading: once
     * deleted (or moved to another namespace) the filter sees nothing more,
     * which must be said rather than read as quiet (libpcap says it too) */
    char iface[IF_NAMESIZE];
    unsigned int ifindex;
    int64_t iface_checked_ns;
    struct htracr_bpf *skel;
    struct ring ring;
    int sock;     /* the packet socket, or -1 when the filter runs at tc */
    int links[2]; /* TCX links, ingress and egress (-1: none) */
    int ncpu;
    uint16_t ports[MAX_PORTS];
    int nports;
    int64_t clock_off; /* record clock minus CLOCK_REALTIME, ns */
    int tai;
    uint32_t enabled; /* the ctl map's value, as last written */
    uint32_t skip_active;
    /* the dispatch() in progress */
    capture_cb cb;
    void *cb_ctx;
    int max, n, full, intr;
    uint32_t empty_ticks; /* polls in a row that brought nothing */
    uint64_t bad_records;
    struct htracr_counters *sum_buf; /* ncpu slots for the per-CPU counters */
    struct capture_rec one;          /* next()'s record, in one_buf */
    uint8_t one_buf[HTRACR_MAX_CAP];
};

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char line[512];
    size_t n;

    /* all of libbpf's messages are debug output for us, and so many
     * (529 lines loading the filter) that they need -vv */
    if (level == LIBBPF_DEBUG && log_verbosity() < 2)
        return 0;
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    log_msg(LOG_DEBUG, "%s", line); /* libbpf prefixes "libbpf: " */
    return 0;
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Offset of the filter's clock from CLOCK_REALTIME. TAI differs from UTC by a
 * whole number of seconds, so that offset is rounded; boot time is measured
 * between two reads of the real-time clock. */
static void clock_sync(struct bpf_cap *b)
{
    int64_t r1, x, r2, d;

    r1 = clock_ns(CLOCK_REALTIME);
    x = clock_ns(b->tai ? CLOCK_TAI : CLOCK_BOOTTIME);
    r2 = clock_ns(CLOCK_REALTIME);
    d = x - (r1 + (r2 - r1) / 2);
    if (b->tai)
        d = (d >= 0 ? d + 500000000 : d - 500000000) / 1000000000 * 1000000000;
    b->clock_off = d;
}

static int on_record(struct bpf_cap *b, const void *data, size_t size)
{
    const struct htracr_rec *h = data;
    struct capture_rec rec;

    if (size < sizeof(*h) || h->cap_len > size - sizeof(*h)) {
        b->bad_records++; /* cannot happen with our own filter; counted anyway */
        return 0;
    }
    rec.ts_ns = (int64_t)h->ts_ns - b->clock_off;
    rec.linktype = h->link == HTRACR_LINK_RAW ? LINK_RAW : LINK_ETHERNET;
    rec.data = (const uint8_t *)(h + 1);
    rec.caplen = h->cap_len;
    rec.wirelen = h->wire_len > h->cap_len ? h->wire_len : h->cap_len;
    rec.skipped = h->skipped <= rec.wirelen - rec.caplen ? h->skipped : rec.wirelen - rec.caplen;
    b->cap.stats.records++;
    b->cap.stats.bytes += rec.caplen;
    b->cb(b->cb_ctx, &rec);
    b->n++;
    if (b->max > 0 && b->n >= b->max) {
        b->full = 1;
        return -1; /* the rest stays in the ring */
    }
    return 0;
}

static int ring_open(struct ring *r, int map_fd, uint32_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct epoll_event ev = {.events = EPOLLIN};

    r->mask = size - 1;
    r->publish = size / 32 < RING_PUBLISH ? size / 32 : RING_PUBLISH;
    r->cons_map = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
    if (r->cons_map == MAP_FAILED) {
        r->cons_map = NULL;
        return -errno;
    }
    r->prod_map_len = page + 2 * (size_t)size;
    r->prod_map = mmap(NULL, r->prod_map_len, PROT_READ, MAP_SHARED, map_fd, (off_t)page);
    if (r->prod_map == MAP_FAILED) {
        r->prod_map = NULL;
        return -errno;
    }
    r->cons_pos = r->cons_map;
    r->prod_pos = r->prod_map;
    r->data = (const uint8_t *)r->prod_map + page;
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r->epfd < 0)
        return -errno;
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, map_fd, &ev) < 0)
        return -errno;
    return 0;
}

static void ring_close(struct ring *r)
{
    if (r->epfd >= 0)
        close(r->epfd);
    if (r->prod_map)
        munmap(r->prod_map, r->prod_map_len);
    if (r->cons_map)
        munmap(r->cons_map, (size_t)sysconf(_SC_PAGESIZE));
}

/* Hand every committed record to on_record, in order, until the ring is
 * empty, a record is still being written, or the caller's count is
 * reached. Discarded records are stepped over. The kernel gets the space
 * back every RING_PUBLISH bytes and at the end. */
static void ring_consume(struct bpf_cap *b)
{
    struct ring *r = &b->ring;
    unsigned long cons = __atomic_load_n(r->cons_pos, __ATOMIC_ACQUIRE);
    unsigned long published = cons;
    int more = 1;

    while (more) {
        unsigned long prod = __atomic_load_n(r->prod_pos, __ATOMIC_ACQUIRE);
        if (cons >= prod)
            break;
        while (cons < prod) {
            const uint32_t *hdr = (const uint32_t *)(r->data + (cons & r->mask));
            uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
            if (len & BPF_RINGBUF_BUSY_BIT) {
                more = 0; /* being written: the next batch takes it */
                break;
            }
            uint32_t sz = len & ~(uint32_t)(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
            cons += ((unsigned long)sz + BPF_RINGBUF_HDR_SZ + 7) & ~7ul;
            if (!(len & BPF_RINGBUF_DISCARD_BIT) &&
                on_record(b, (const uint8_t *)hdr + BPF_RINGBUF_HDR_SZ, sz) < 0) {
                more = 0;
                break;
            }
            if (cons - published >= r->publish) {
                __atomic_store_n(r->cons_pos, cons, __ATOMIC_RELEASE);
                published = cons;
            }
        }
    }
    if (cons != published)
        __atomic_store_n(r->cons_pos, cons, __ATOMIC_RELEASE);
}

/* Wait up to wait_ms for the filter's wakeup. 0, or a negative errno. */
static int ring_wait(struct ring *r, int wait_ms)
{
    struct epoll_event ev;
    return epoll_wait(r->epfd, &ev, 1, wait_ms) < 0 ? -errno : 0;
}

static int bpf_dispatch(struct capture *cap, int max, int timeout_ms, capture_cb cb, void *ctx,
                        char *errbuf)
{
    struct bpf_cap *b = cap->priv;
    int64_t deadline = 0;
    int r, wait;

    b->cb = cb;
    b->cb_ctx = ctx;
    b->max = max;
    b->n = 0;
    b->full = 0;
    b->intr = 0;
    clock_sync(b);
    int64_t now = clock_ns(CLOCK_MONOTONIC);
    if (b->ifindex && now - b->iface_checked_ns >= 1000000000) {
        b->iface_checked_ns = now;
        if (if_nametoindex(b->iface) != b->ifindex) {
            snprintf(errbuf, CAPTURE_ERRBUF,
                     "the interface %s disappeared (deleted, or moved to another network "
                     "namespace): nothing more can be captured on it",
                     b->iface);
            return -ENODEV;
        }
    }
    if (timeout_ms > 0)
        deadline = now + (int64_t)timeout_ms * 1000000;
    for (;;) {
        ring_consume(b);
        if (b->n)
            b->empty_ticks = 0;
        if (b->n || timeout_ms == 0)
            return b->n;
        wait = b->empty_ticks >= IDLE_AFTER_TICKS ? IDLE_TICK_MS : POLL_TICK_MS;
        if (timeout_ms > 0) {
            int64_t left = deadline - clock_ns(CLOCK_MONOTONIC);

            if (left <= 0)
                return 0;
            if (left < (int64_t)wait * 1000000)
                wait = (int)((left + 999999) / 1000000);
        }
        /* Woken early only when the filter forces it (a filling ring, a
         * response's first segment). */
        r = ring_wait(&b->ring, wait);
        if (r == -EINTR) {
            b->intr = 1;
            return b->n; /* let the caller look at its signals */
        }
        if (r < 0) {
            snprintf(errbuf, CAPTURE_ERRBUF, "cannot wait for the eBPF ring buffer: %s",
                     strerror(-r));
            return b->n ? b->n : r;
        }
        ring_consume(b);
        if (b->n) {
            b->empty_ticks = 0;
            return b->n;
        }
        if (b->empty_ticks < IDLE_AFTER_TICKS)
            b->empty_ticks++;
    }
}

/* next(): one record, copied, because the ring's memory is handed back to
 * the kernel as soon as the callback returns. Waits as long as it takes;
 * dispatch() is the way to read a live capture, this is for callers that
 * only know next(). */
static void copy_one(void *ctx, const struct capture_rec *rec)
{
    struct bpf_cap *b = ctx;

    b->one = *rec;
    memcpy(b->one_buf, rec->data, rec->caplen);
    b->one.data = b->one_buf;
}

static int bpf_next(struct capture *cap, struct capture_rec *rec, char *errbuf)
{
    struct bpf_cap *b = cap->priv;
    int r;

    do {
        r = bpf_dispatch(cap, 1, -1, copy_one, b, errbuf);
    } while (r == 0 && !b->intr);
    if (r == 0) {
        snprintf(errbuf, CAPTURE_ERRBUF, "interrupted while waiting for a packet");
        return -EINTR;
    }
    if (r < 0)
        return r;
    *rec = b->one;
    return 1;
}

static int bpf_set_ports(struct capture *cap, const uint16_t *ports, int nports)
{
    struct bpf_cap *b = cap->priv;
    int fd = bpf_map__fd(b->skel->maps.ports);
    __u8 one = 1;
    int i, j, err;

    if (nports < 0 || (nports && !ports))
        return -EINVAL;
    if (nports > MAX_PORTS)
        return -E2BIG;
    /* Select the new ports first, so a port in both sets is never missing. */
    for (i = 0; i < nports; i++) {
        __u32 p = ports[i];

        if (bpf_map_update_elem(fd, &p, &one, BPF_ANY) < 0)
            return -errno;
    }
    for (i = 0; i < b->nports; i++) {
        __u32 p = b->ports[i];
        __u8 none = 0;

        for (j = 0; j < nports && ports[j] != p; j++) {
        }
        if (j < nports)
            continue;
        if (bpf_map_update_elem(fd, &p, &none, BPF_ANY) < 0) {
            err = -errno;
            return err;
        }
    }
    if (nports)
        memcpy(b->ports, ports, (size_t)nports * sizeof(*ports));
    b->nports = nports;
    return 0;
}

static int bpf_set_enabled(struct capture *cap, int on)
{
    struct bpf_cap *b = cap->priv;
    struct htracr_ctl c = {.enabled = on ? 1 : 0, .skip_active = b->skip_active};
    __u32 zero = 0;

    if (bpf_map_update_elem(bpf_map__fd(b->skel->maps.ctl), &zero, &c, BPF_ANY) < 0)
        return -errno;
    b->enabled = c.enabled;
    return 0;
}

static int bpf_skip(struct capture *cap, const struct capture_skip *sk)
{
    struct bpf_cap *b = cap->priv;
    struct htracr_flow key;
    struct htracr_skip val = {.from_seq = sk->from_seq, .until_seq = sk->until_seq};
    size_t alen;

    if (sk->family == AF_INET)
        alen = 4;
    else if (sk->family == AF_INET6)
        alen = 16;
    else
        return -EAFNOSUPPORT;
    memset(&key, 0, sizeof(key));
    memcpy(key.saddr, sk->saddr, alen);
    memcpy(key.daddr, sk->daddr, alen);
    key.sport = sk->sport;
    key.dport = sk->dport;
    key.family = sk->family;
    if (bpf_map_update_elem(bpf_map__fd(b->skel->maps.skip), &key, &val, BPF_ANY) < 0)
        return -errno;
    if (!b->skip_active) {
        /* From now on the filter looks the skip map up for TCP packets;
         * until the first hint it saves that lookup on every packet. */
        struct htracr_ctl c = {.enabled = b->enabled, .skip_active = 1};
        __u32 zero = 0;

        if (bpf_map_update_elem(bpf_map__fd(b->skel->maps.ctl), &zero, &c, BPF_ANY) < 0)
            return -errno;
        b->skip_active = 1;
    }
    return 0;
}

static void bpf_refresh_stats(struct capture *cap)
{
    struct bpf_cap *b = cap->priv;
    struct htracr_counters t = {0};
    struct tpacket_stats ps;
    socklen_t len = sizeof(ps);
    __u32 zero = 0;
    int i;

    if (bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.counters), &zero, b->sum_buf) == 0) {
        for (i = 0; i < b->ncpu; i++) {
            t.matched += b->sum_buf[i].matched;
            t.ring_fail += b->sum_buf[i].ring_fail;
            t.skipped_bytes += b->sum_buf[i].skipped_bytes;
            t.load_fail += b->sum_buf[i].load_fail;
            t.resp_wakes += b->sum_buf[i].resp_wakes;
        }
        cap->stats.ring_drops = t.ring_fail;
        cap->stats.skipped_bytes = t.skipped_bytes;
        cap->stats.filtered = t.matched;
        cap->stats.resp_wakes = t.resp_wakes;
    }
    /* The filter queues nothing, so the socket should never drop; the
     * kernel's counter is read (and reset by the read) anyway. */
    if (b->sock >= 0 && getsockopt(b->sock, SOL_PACKET, PACKET_STATISTICS, &ps, &len) == 0)
        cap->stats.socket_drops += ps.tp_drops;
    /* Selected packets whose bytes the filter could not read are lost too. */
    cap->stats.dropped = cap->stats.ring_drops + cap->stats.socket_drops + t.load_fail;
}

static void bpf_close(struct capture *cap)
{
    struct bpf_cap *b = cap->priv;

    ring_close(&b->ring);
    for (int i = 0; i < 2; i++)
        if (b->links[i] >= 0)
            close(b->links[i]); /* detaches it */
    if (b->sock >= 0)
        close(b->sock);
    htracr_bpf__destroy(b->skel);
    free(b->sum_buf);
    free(b);
}

static const struct capture_ops bpf_ops = {
    .name = "bpf",
    .next = bpf_next,
    .dispatch = bpf_dispatch,
    .set_ports = bpf_set_ports,
    .set_enabled = bpf_set_enabled,
    .skip = bpf_skip,
    .refresh_stats = bpf_refresh_stats,
    .close = bpf_close,
};

/* The ARPHRD_* type of an interface, -1 when it cannot be read. */
static int if_arptype(int fd, const char *name)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
        return -1;
    return ifr.ifr_hwaddr.sa_family;
}

static int arptype_link(int t)
{
    if (t == ARPHRD_ETHER || t == ARPHRD_LOOPBACK)
        return LINK_ETHERNET;
    return -1;
}

/* The link type every record will have: the device's, or, on all
 * interfaces, Ethernet unless some device has no Ethernet header. */
static int capture_linktype_of(int fd, const char *iface)
{
    struct if_nameindex *ifs, *i;
    int lt = LINK_ETHERNET;

    if (iface)
        return arptype_link(if_arptype(fd, iface));
    ifs = if_nameindex();
    if (!ifs)
        return -1;
    for (i = ifs; i->if_index; i++)
        if (arptype_link(if_arptype(fd, i->if_name)) != LINK_ETHERNET)
            lt = -1;
    if_freenameindex(ifs);
    return lt;
}

/* ---- where the filter runs ---------------------------------------------
 *
 * A packet socket sees a packet through the kernel's taps: on the way in
 * before tc, on the way out after the qdisc, as the driver gets it; every
 * outgoing packet is cloned for it, and every packet is delivered to it,
 * though the filter keeps none. The tc hooks see the same packets without
 * either cost (bench/live: docs/performance.md), at the same moments on the
 * way in, and on the way out before the legacy tc filters and the qdisc.
 * So on one named interface the filter goes on its TCX hooks when nothing
 * can stand between them and the tap: the interface has no queue (noqueue:
 * veth, lo, bridges, tunnels; a packet goes from the hook to the driver at
 * once) and no clsact qdisc (whose egress filters, run after TCX, could
 * drop or change a packet). Otherwise, on all interfaces, and on kernels
 * without TCX (before 6.6), the packet socket. One difference stays: on a
 * device that cannot take a GSO super-segment (software segmentation, rare
 * on noqueue devices: veth and lo take them), the egress hook sees it whole
 * where the tap sees its segments; the model takes either. */

#ifndef BPF_F_BEFORE
#define BPF_F_BEFORE (1U << 3)
#endif
/* Linux 6.6's uapi values; libbpf 1.1 passes them through to LINK_CREATE. */
#define HTRACR_TCX_INGRESS 46
#define HTRACR_TCX_EGRESS 47

/* Whether the tc hooks of interface ifindex see what a packet socket would:
 * 1 yes, 0 no (why says what is in the way), -errno when the qdiscs cannot
 * be read (rtnetlink). */
static int tc_sees_as_tap(unsigned int ifindex, char *why, size_t whylen)
{
    struct {
        struct nlmsghdr nh;
        struct tcmsg tc;
    } req;
    char root[32] = "", buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
    int fd, done = 0, clsact = 0, err = 0;

    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_len = sizeof(req);
    req.nh.nlmsg_type = RTM_GETQDISC;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = 1;
    req.tc.tcm_family = AF_UNSPEC;
    req.tc.tcm_ifindex = (int)ifindex;
    if (send(fd, &req, sizeof(req), 0) < 0)
        err = -errno;
    while (!err && !done) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        struct nlmsghdr *nh;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = -errno;
            break;
        }
        if (n == 0)
            break;
        int left = (int)n; /* signed: NLMSG_OK is then false once it is used up */
        for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
            if (nh->nlmsg_type == NLMSG_DONE) {
                done = 1;
                break;
            }
            if (nh->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(nh);
                err = e->error ? e->error : -EPROTO;
                break;
            }
            if (nh->nlmsg_type != RTM_NEWQDISC || nh->nlmsg_len < NLMSG_LENGTH(sizeof(req.tc)))
                continue;
            const struct tcmsg *t = NLMSG_DATA(nh);
            if (t->tcm_ifindex != (int)ifindex)
                continue;
            int alen = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*t));
            const struct rtattr *a =
                (const struct rtattr *)((const char *)t + NLMSG_ALIGN(sizeof(*t)));
            for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
                if (a->rta_type != TCA_KIND)
                    continue;
                const char *kind = RTA_DATA(a);
                size_t klen = strnlen(kind, RTA_PAYLOAD(a));
                if (klen == 6 && memcmp(kind, "clsact", 6) == 0)
                    clsact = 1;
                else if (t->tcm_parent == TC_H_ROOT)
                    snprintf(root, sizeof(root), "%.*s", (int)klen, kind);
            }
        }
    }
    close(fd);
    if (err)
        return err;
    if (clsact) {
        snprintf(why, whylen, "it has a clsact qdisc, whose egress filters run after the hook");
        return 0;
    }
    if (strcmp(root, "noqueue") != 0) {
        snprintf(why, whylen, "%s%s%s", root[0] ? "its qdisc is " : "it has no qdisc",
                 root[0] ? root : "",
                 root[0] ? ", which outgoing packets pass after the hook" : "");
        return 0;
    }
    return 1;
}

/* Attach the tc programs to ifindex as TCX links: ingress first in its
 * chain (nothing before it has changed the packet, as for the tap), egress
 * last (after whatever the other TCX programs do). lo: ingress only. */
static int tc_attach(struct bpf_cap *b, unsigned int ifindex, int is_lo)
{
    LIBBPF_OPTS(bpf_link_create_opts, first, .flags = BPF_F_BEFORE);
    int fd;

    fd = bpf_link_create(bpf_program__fd(b->skel->progs.htracr_tc_in), (int)ifindex,
                         (enum bpf_attach_type)HTRACR_TCX_INGRESS, &first);
    if (fd < 0)
        return fd;
    b->links[0] = fd;
    if (is_lo)
        return 0;
    fd = bpf_link_create(bpf_program__fd(b->skel->progs.htracr_tc_out), (int)ifindex,
                         (enum bpf_attach_type)HTRACR_TCX_EGRESS, NULL);
    if (fd < 0) {
        close(b->links[0]);
        b->links[0] = -1;
        return fd;
    }
    b->links[1] = fd;
    return 0;
}

static uint32_t ring_size(size_t want)
{
    uint32_t sz = RING_MIN;

    if (!want)
        return RING_DEFAULT;
    while (sz < want && sz < RING_MAX)
        sz <<= 1;
    return sz;
}

struct capture *capture_bpf_open(const struct capture_live_opts *o, char errbuf[CAPTURE_ERRBUF])
{
    struct bpf_cap *b = NULL;
    struct sockaddr_ll sll;
    const char *iface = NULL;
    unsigned int ifindex = 0, lo;
    uint32_t rsz;
    int prog_fd, err = 0, r, want_tc, ioctl_fd;
    char why[160] = "";

    if (!o || o->nports < 0 || o->nports > MAX_PORTS || (o->nports && !o->ports)) {
        snprintf(errbuf, CAPTURE_ERRBUF, "eBPF capture: bad options (at most %d ports)", MAX_PORTS);
        err = EINVAL;
        goto out;
    }
    if (o->iface && *o->iface && strcmp(o->iface, "any") != 0) {
        iface = o->iface;
        ifindex = if_nametoindex(iface);
        if (!ifindex) {
            snprintf(errbuf, CAPTURE_ERRBUF, "no such interface: %.64s (see `ip link`)", iface);
            err = ENODEV;
            goto out;
        }
    }
    libbpf_set_print(libbpf_log);

    b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(errbuf, CAPTURE_ERRBUF, "eBPF capture: out of memory");
        err = ENOMEM;
        goto out;
    }
    b->sock = -1;
    b->links[0] = b->links[1] = -1;
    b->ring.epfd = -1;
    b->cap.ops = &bpf_ops;
    b->cap.priv = b;
    b->ncpu = libbpf_num_possible_cpus();
    if (b->ncpu <= 0) {
        snprintf(errbuf, CAPTURE_ERRBUF, "eBPF capture: cannot count the CPUs");
        err = b->ncpu < 0 ? -b->ncpu : EINVAL;
        goto out;
    }
    b->sum_buf = calloc((size_t)b->ncpu, sizeof(*b->sum_buf));
    if (!b->sum_buf) {
        snprintf(errbuf, CAPTURE_ERRBUF, "eBPF capture: out of memory");
        err = ENOMEM;
        goto out;
    }

    b->skel = htracr_bpf__open();
    if (!b->skel) {
        err = errno;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot open the eBPF filter: %s", strerror(err));
        goto out;
    }
    rsz = ring_size(o->buffer_bytes);
    bpf_map__set_max_entries(b->skel->maps.rb, rsz);
    lo = if_nametoindex("lo");
    b->skel->rodata->lo_ifindex = lo ? lo : 1;
    b->skel->rodata->dns = o->dns ? 1 : 0;
    b->skel->rodata->snaplen =
        o->snaplen && o->snaplen < HTRACR_MAX_CAP ? o->snaplen : HTRACR_MAX_CAP;
    b->skel->rodata->wake_bytes = rsz / 8 < WAKE_MAX ? rsz / 8 : WAKE_MAX;
    b->tai =
        libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCKET_FILTER, BPF_FUNC_ktime_get_tai_ns, NULL) == 1;
    b->skel->rodata->tai_clock = b->tai;

    /* tc on one interface when asked, or when nothing stands between its
     * hooks and the tap (above); the socket filter is loaded too unless tc
     * was asked for, to fall back on. */
    if (!iface && o->attach == CAPTURE_ATTACH_TC) {
        snprintf(errbuf, CAPTURE_ERRBUF,
                 "the eBPF filter can go on the tc hooks of one interface only (give -i IFACE)");
        err = EINVAL;
        goto out;
    }
    want_tc = iface && o->attach != CAPTURE_ATTACH_SOCKET;
    if (iface && o->attach == CAPTURE_ATTACH_SOCKET)
        snprintf(why, sizeof(why), "as --attach socket asks");
    if (want_tc) {
        r = tc_sees_as_tap(ifindex, why, sizeof(why));
        if (r < 0)
            snprintf(why, sizeof(why), "its qdiscs cannot be read (%s)", strerror(-r));
        if (r <= 0 && o->attach == CAPTURE_ATTACH_AUTO)
            want_tc = 0;
        else if (r <= 0)
            log_msg(LOG_WARN,
                    "%s: the filter's egress hook is not where a packet socket would see "
                    "packets: %s (--attach socket sees them as tcpdump does)",
                    iface, why);
    }
    bpf_program__set_autoload(b->skel->progs.htracr_tc_in, want_tc);
    bpf_program__set_autoload(b->skel->progs.htracr_tc_out, want_tc);
    bpf_program__set_autoload(b->skel->progs.htracr_filter, o->attach != CAPTURE_ATTACH_TC);
    r = htracr_bpf__load(b->skel);
    if (r < 0) {
        err = -r;
        if (err == EPERM || err == EACCES)
            snprintf(errbuf, CAPTURE_ERRBUF, "cannot load the eBPF filter: %s", privilege_hint);
        else
            snprintf(errbuf, CAPTURE_ERRBUF,
                     "cannot load the eBPF filter: %s (run with -v for libbpf's log)",
                     strerror(err));
        goto out;
    }
    r = bpf_set_ports(&b->cap, o->ports, o->nports);
    if (r == 0)
        r = bpf_set_enabled(&b->cap, o->enabled);
    if (r < 0) {
        err = -r;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot set up the eBPF filter's maps: %s", strerror(err));
        goto out;
    }

    if (want_tc) {
        r = tc_attach(b, ifindex, ifindex == lo);
        if (r < 0 && o->attach == CAPTURE_ATTACH_TC) {
            err = -r;
            if (err == EINVAL)
                snprintf(errbuf, CAPTURE_ERRBUF,
                         "cannot attach the eBPF filter to %.32s's tc hooks: TCX needs Linux 6.6 "
                         "or later (--attach socket works on any)",
                         iface);
            else
                snprintf(errbuf, CAPTURE_ERRBUF,
                         "cannot attach the eBPF filter to %.32s's tc hooks: %.160s", iface,
                         err == EPERM || err == EACCES ? privilege_hint : strerror(err));
            goto out;
        }
        if (r < 0) {
            snprintf(why, sizeof(why), "its tc hooks refused the filter (%s)", strerror(-r));
            want_tc = 0;
        }
    }
    if (want_tc)
        goto attached;

    /* Protocol 0: the socket receives nothing until bind(), by which time
     * the filter is attached. */
    b->sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (b->sock < 0) {
        err = errno;
        if (err == EPERM || err == EACCES)
            snprintf(errbuf, CAPTURE_ERRBUF, "cannot open the packet socket: %s", privilege_hint);
        else
            snprintf(errbuf, CAPTURE_ERRBUF, "cannot open the packet socket: %s", strerror(err));
        goto out;
    }
    prog_fd = bpf_program__fd(b->skel->progs.htracr_filter);
    if (setsockopt(b->sock, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof(prog_fd)) < 0) {
        err = errno;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot attach the eBPF filter to the socket: %s",
                 err == EPERM ? privilege_hint : strerror(err));
        goto out;
    }
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)ifindex;
    if (bind(b->sock, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        err = errno;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot capture on %.64s: %s", iface ? iface : "any",
                 strerror(err));
        goto out;
    }

attached:
    r = ring_open(&b->ring, bpf_map__fd(b->skel->maps.rb), rsz);
    if (r < 0) {
        err = -r;
        snprintf(errbuf, CAPTURE_ERRBUF, "cannot map the eBPF ring buffer: %s", strerror(err));
        goto out;
    }
    ioctl_fd = b->sock >= 0 ? b->sock : socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    b->cap.linktype = capture_linktype_of(ioctl_fd, iface);
    if (iface && ioctl_fd >= 0) {
        /* down, it passes no packet: say so, or the quiet reads as no traffic
         * (libpcap refuses a down interface; here it may come up later) */
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
        if (ioctl(ioctl_fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP))
            log_msg(LOG_WARN, "%s is down: nothing is captured until it is up (ip link set %s up)",
                    iface, iface);
    }
    if (ioctl_fd >= 0 && ioctl_fd != b->sock)
        close(ioctl_fd);
    snprintf(b->cap.desc, sizeof(b->cap.desc), "bpf:%.64s", iface ? iface : "any");
    if (iface) {
        snprintf(b->iface, sizeof(b->iface), "%s", iface);
        b->ifindex = ifindex;
        b->iface_checked_ns = clock_ns(CLOCK_MONOTONIC);
    }
    b->cap.attach = want_tc ? "tc" : "socket";
    clock_sync(b);
    if (want_tc)
        log_msg(LOG_INFO, "eBPF filter on %s's tc hooks (TCX %s)", iface,
                ifindex == lo ? "ingress" : "ingress and egress");
    else if (why[0])
        log_msg(LOG_INFO, "eBPF filter on a packet socket, not on %s's tc hooks: %s", iface, why);
    else
        log_msg(LOG_INFO, "eBPF filter on a packet socket (every interface)");
    log_msg(LOG_DEBUG, "eBPF capture on %s: ring %u KiB, %s clock, %d ports%s",
            iface ? iface : "all interfaces", rsz >> 10, b->tai ? "TAI" : "boot", o->nports,
            o->dns ? ", DNS" : "");
out:
    if (err) {
        if (b)
            bpf_close(&b->cap);
        errno = err;
        return NULL;
    }
    return &b->cap;
}
