/* SPDX-License-Identifier: MIT */
/*
 * capture_pcap.c - the libpcap live source: `--backend pcap`, the fallback
 * when the eBPF program cannot load, and the only live path of a `make BPF=0`
 * build.
 *
 * First stage of the pipeline, beside capture_bpf.c and capture_file.c: it
 * hands out records (wall-clock ns timestamp, link type, bytes, wire length)
 * and decodes nothing. One pcap handle on an interface or on "any" (Linux
 * cooked SLL2 headers, which carry the interface index), TPACKET_V3 ring
 * underneath (libpcap's), read without blocking: dispatch() polls the
 * handle's descriptor, so the caller's loop owns all waiting.
 *
 * What is captured is decided in the kernel by a classic BPF filter compiled
 * from the port list ("tcp port 80 or tcp portrange 8000-8002 or udp port
 * 53"); set_ports() recompiles it on the open handle. Switching capture off
 * installs a one-instruction reject-all program instead of dropping records
 * here: the kernel then copies nothing into the ring (no per-packet cost, no
 * ring filling up and counting drops while off), it is one setsockopt per
 * switch, and libpcap re-filters the blocks already in the ring against the
 * new program, so nothing captured before the switch leaks out after it. A
 * flag checked per record covers a switch made from inside a callback.
 *
 * Loopback: the kernel shows each packet on lo twice, outgoing then
 * incoming. libpcap already drops the outgoing copy in userland; the filter
 * drops it in the kernel as well (on any, with SLL2 headers: not outgoing on
 * lo's ifindex), so the copy never takes ring space and the kernel's
 * counters (packets that passed the filter, drops) count each packet once.
 * Capturing on lo itself is done the same way, on any with the filter
 * keeping lo's ifindex only (records are SLL2): lo has Ethernet framing,
 * where the direction is only reachable through the kernel's ancillary
 * packet-type field, and libpcap re-runs a new filter in userland over the
 * blocks already in the ring, where that field does not exist, so the
 * first block after every filter change would be thrown away whole.
 *
 * Counters: libpcap's pcap_stats() gives 32-bit running totals (packets that
 * passed the filter, ring drops, interface drops in promiscuous mode); they
 * are taken as deltas from the values seen just after the first filter was
 * installed, so 64-bit counts survive a wrap, and filter changes, which do
 * not reset libpcap's totals, need nothing special.
 *
 * Not thread-safe: every call on one handle comes from one thread (the
 * capture loop), or the caller serialises them.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "htracr/capture.h"
#include "htracr/log.h"

#define PCAP_DEFAULT_SNAPLEN 262144                /* libpcap's maximum: no IP packet is cut */
#define PCAP_DEFAULT_BUFFER CAPTURE_DEFAULT_BUFFER /* the kernel ring */
#define PCAP_TIMEOUT_MS 50                         /* a ring block is handed over after this */
#define PCAP_MAX_INSNS 4096                        /* the kernel's limit for a socket filter */
#define PCAP_FILTER_MAX 8192                       /* filter text */

struct pcap_priv {
    pcap_t *pcap;
    int fd;   /* selectable descriptor */
    int nano; /* timestamps come in ns (else us) */
    int enabled;
    int dns;
    int lo_clause; /* 0 none, 1 lo only (on lo), 2 not lo's copies (on any) */
    unsigned lo_ifindex;
    uint16_t *ports; /* sorted, unique */
    int nports;
    char iface[IF_NAMESIZE + 16]; /* as the user named it */
    /* pcap_stats() totals at the baseline, and the last seen (32-bit) */
    unsigned last_recv, last_drop, last_ifdrop;
    uint64_t recv, drop, ifdrop;
    /* the dispatch in progress */
    capture_cb cb;
    void *cb_ctx;
    int delivered;
    struct capture *cap;
};

static void pcap_msg(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pcap_msg(char *dst, const char *fmt, ...)
{
    va_list ap;

    if (!dst)
        return;
    va_start(ap, fmt);
    vsnprintf(dst, CAPTURE_ERRBUF, fmt, ap);
    va_end(ap);
}

/* libpcap reports DLT_* values, records carry LINKTYPE_* (LINK_*): they
 * differ for raw IP only. -1 for a link type decode does not know. */
static int pcap_link_of_dlt(int dlt)
{
    switch (dlt) {
    case DLT_NULL: return LINK_NULL;
    case DLT_EN10MB: return LINK_ETHERNET;
    case DLT_RAW: return LINK_RAW;
#ifdef DLT_LOOP
    case DLT_LOOP: return LINK_LOOP;
#endif
    case DLT_LINUX_SLL: return LINK_LINUX_SLL;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2: return LINK_LINUX_SLL2;
#endif
#ifdef DLT_IPV4
    case DLT_IPV4: return LINK_IPV4;
#endif
#ifdef DLT_IPV6
    case DLT_IPV6: return LINK_IPV6;
#endif
    default: return -1;
    }
}

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* A sorted copy of ports without duplicates or port 0; *out is NULL when
 * there are none. 0 or -ENOMEM. */
static int pcap_copy_ports(const uint16_t *ports, int nports, uint16_t **out, int *nout)
{
    uint16_t *p;
    int n = 0;

    *out = NULL;
    *nout = 0;
    if (nports <= 0)
        return 0;
    p = malloc(sizeof(*p) * (size_t)nports);
    if (!p)
        return -ENOMEM;
    memcpy(p, ports, sizeof(*p) * (size_t)nports);
    qsort(p, (size_t)nports, sizeof(*p), cmp_u16);
    for (int i = 0; i < nports; i++)
        if (p[i] != 0 && (n == 0 || p[n - 1] != p[i]))
            p[n++] = p[i];
    if (n == 0) {
        free(p);
        return 0;
    }
    *out = p;
    *nout = n;
    return 0;
}

/* The filter text for the current ports into buf; runs of consecutive ports
 * become one portrange, so a long list stays a short program. Returns 0, or
 * 1 when nothing is to be captured (no ports, no DNS), or -E2BIG. */
static int pcap_filter_text(const struct pcap_priv *pv, char *buf, size_t size)
{
    size_t off = 0;
    int n;

    buf[0] = '\0';
#define PUT(...)                                                                                   \
    do {                                                                                           \
        n = snprintf(buf + off, size - off, __VA_ARGS__);                                          \
        if (n < 0 || (size_t)n >= size - off)                                                      \
            return -E2BIG;                                                                         \
        off += (size_t)n;                                                                          \
    } while (0)
    if (pv->nports == 0 && !pv->dns)
        return 1;
    PUT("(");
    for (int i = 0; i < pv->nports;) {
        int j = i;
        while (j + 1 < pv->nports && pv->ports[j + 1] == pv->ports[j] + 1)
            j++;
        if (j == i)
            PUT("%stcp port %u", i ? " or " : "", pv->ports[i]);
        else
            PUT("%stcp portrange %u-%u", i ? " or " : "", pv->ports[i], pv->ports[j]);
        i = j + 1;
    }
    if (pv->dns)
        PUT("%sudp port 53", pv->nports ? " or " : "");
    PUT(")");
    /* SLL2: byte 10 is the packet type (4: outgoing), bytes 4..7 the ifindex;
     * libpcap turns both loads into the kernel's ancillary fields, and in
     * userland they are real header bytes. */
    if (pv->lo_clause == 1)
        PUT(" and link[4:4] = %u and link[10] != 4", pv->lo_ifindex);
    if (pv->lo_clause == 2)
        PUT(" and not (link[10] = 4 and link[4:4] = %u)", pv->lo_ifindex);
#undef PUT
    return 0;
}

/* Install what should be captured now: the port filter when enabled, the
 * reject-all program when off or when nothing is asked for. 0 or -errno;
 * on failure the previous program stays. */
static int pcap_install(struct pcap_priv *pv)
{
    static struct bpf_insn reject = BPF_STMT(BPF_RET | BPF_K, 0);
    struct bpf_program none = {1, &reject}, prog;
    char text[PCAP_FILTER_MAX];
    int r;

    r = pv->enabled ? pcap_filter_text(pv, text, sizeof(text)) : 1;
    if (r < 0) {
        log_msg(LOG_ERROR, "capture filter on %s: too many ports", pv->iface);
        return r;
    }
    if (r == 1) {
        if (pcap_setfilter(pv->pcap, &none) < 0) {
            log_msg(LOG_ERROR, "cannot set capture filter on %s: %s", pv->iface,
                    pcap_geterr(pv->pcap));
            return -EIO;
        }
        return 0;
    }
    if (pcap_compile(pv->pcap, &prog, text, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        log_msg(LOG_ERROR, "cannot compile capture filter '%s': %s", text, pcap_geterr(pv->pcap));
        return -EINVAL;
    }
    if (prog.bf_len > PCAP_MAX_INSNS) {
        /* The kernel would refuse it and libpcap would quietly filter every
         * packet in userland instead: say so rather than be slow. */
        log_msg(LOG_ERROR, "capture filter for %d ports is too long for the kernel (%u > %d)",
                pv->nports, prog.bf_len, PCAP_MAX_INSNS);
        pcap_freecode(&prog);
        return -E2BIG;
    }
    r = pcap_setfilter(pv->pcap, &prog);
    pcap_freecode(&prog);
    if (r < 0) {
        log_msg(LOG_ERROR, "cannot set capture filter on %s: %s", pv->iface, pcap_geterr(pv->pcap));
        return -EIO;
    }
    log_msg(LOG_DEBUG, "pcap filter on %s: %s", pv->iface, text);
    return 0;
}

static void pcap_on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct pcap_priv *pv = (struct pcap_priv *)user;
    struct capture_rec rec;
    int64_t sec = (int64_t)h->ts.tv_sec, frac = (int64_t)h->ts.tv_usec;

    if (!pv->enabled)
        return; /* switched off by an earlier callback of this batch */
    if (sec < 0)
        sec = 0, frac = 0;
    rec.ts_ns = sec * 1000000000 + (pv->nano ? frac : frac * 1000);
    rec.linktype = pv->cap->linktype;
    rec.data = bytes;
    rec.caplen = h->caplen;
    rec.wirelen = h->len < h->caplen ? h->caplen : h->len;
    rec.skipped = 0;
    pv->cap->stats.records++;
    pv->cap->stats.bytes += h->caplen;
    pv->delivered++;
    pv->cb(pv->cb_ctx, &rec);
}

/* One pass over what the ring holds. Returns records delivered or -errno. */
static int pcap_read_ready(struct capture *cap, int max, char *errbuf)
{
    struct pcap_priv *pv = cap->priv;
    int r, want = max > 0 ? max - pv->delivered : -1;

    if (max > 0 && want <= 0)
        return 0;
    r = pcap_dispatch(pv->pcap, want, pcap_on_packet, (u_char *)pv);
    if (r == PCAP_ERROR_BREAK || r >= 0)
        return 0;
    if (r == PCAP_ERROR_IFACE_NOT_UP) {
        pcap_msg(errbuf, "capture on %s stopped: the interface went down", pv->iface);
        return -ENETDOWN;
    }
    pcap_msg(errbuf, "capture on %s failed: %s", pv->iface, pcap_geterr(pv->pcap));
    return -EIO;
}

static int pcap_dispatch_op(struct capture *cap, int max, int timeout_ms, capture_cb cb, void *ctx,
                            char *errbuf)
{
    struct pcap_priv *pv = cap->priv;
    struct pollfd pfd = {.fd = pv->fd, .events = POLLIN};
    int r;

    pv->cb = cb;
    pv->cb_ctx = ctx;
    pv->delivered = 0;
    r = pcap_read_ready(cap, max, errbuf);
    if (r < 0 || pv->delivered > 0 || timeout_ms == 0)
        goto out;
    /* Nothing ready: wait once for the kernel to hand over a block, then
     * read again. A wakeup with nothing for us (a block of packets that
     * were all discarded) is a short count, like a timeout; the caller
     * loops anyway. */
    r = poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
    if (r < 0) {
        r = errno == EINTR ? 0 : -errno;
        if (r)
            pcap_msg(errbuf, "capture on %s: poll failed: %s", pv->iface, strerror(-r));
        goto out;
    }
    r = r > 0 ? pcap_read_ready(cap, max, errbuf) : 0;
out:
    pv->cb = NULL;
    pv->cb_ctx = NULL;
    if (r < 0 && pv->delivered == 0)
        return r;
    return pv->delivered;
}

static int pcap_next_op(struct capture *cap, struct capture_rec *rec, char *errbuf)
{
    /* Live records only come through dispatch(); next() would have to
     * block or copy. */
    (void)cap;
    (void)rec;
    pcap_msg(errbuf, "live capture: use capture_dispatch");
    return -EOPNOTSUPP;
}

static int pcap_set_ports_op(struct capture *cap, const uint16_t *ports, int nports)
{
    struct pcap_priv *pv = cap->priv;
    uint16_t *np, *old = pv->ports;
    int nn, oldn = pv->nports, r;

    if (nports < 0 || (nports > 0 && !ports))
        return -EINVAL;
    r = pcap_copy_ports(ports, nports, &np, &nn);
    if (r < 0)
        return r;
    pv->ports = np;
    pv->nports = nn;
    if (!pv->enabled) {
        free(old); /* installed when capture is switched on */
        return 0;
    }
    r = pcap_install(pv);
    if (r < 0) {
        pv->ports = old;
        pv->nports = oldn;
        free(np);
        return r;
    }
    free(old);
    return 0;
}

static int pcap_set_enabled_op(struct capture *cap, int on)
{
    struct pcap_priv *pv = cap->priv;
    int r;

    on = !!on;
    if (on == pv->enabled)
        return 0;
    pv->enabled = on;
    r = pcap_install(pv);
    if (r < 0)
        pv->enabled = !on;
    return r;
}

/* 32-bit running totals from libpcap into 64-bit counts. */
static void pcap_add_delta(uint64_t *total, unsigned *last, unsigned now)
{
    *total += (unsigned)(now - *last);
    *last = now;
}

static void pcap_refresh_stats_op(struct capture *cap)
{
    struct pcap_priv *pv = cap->priv;
    struct pcap_stat ps;

    if (pcap_stats(pv->pcap, &ps) < 0)
        return;
    pcap_add_delta(&pv->recv, &pv->last_recv, ps.ps_recv);
    pcap_add_delta(&pv->drop, &pv->last_drop, ps.ps_drop);
    pcap_add_delta(&pv->ifdrop, &pv->last_ifdrop, ps.ps_ifdrop);
    cap->stats.filtered = pv->recv;
    cap->stats.socket_drops = pv->drop + pv->ifdrop;
    cap->stats.dropped = cap->stats.ring_drops + cap->stats.socket_drops;
}

static void pcap_close_op(struct capture *cap)
{
    struct pcap_priv *pv = cap->priv;

    if (pv) {
        if (pv->pcap)
            pcap_close(pv->pcap);
        free(pv->ports);
        free(pv);
    }
    free(cap);
}

static const struct capture_ops pcap_ops = {
    .name = "pcap",
    .next = pcap_next_op,
    .dispatch = pcap_dispatch_op,
    .set_ports = pcap_set_ports_op,
    .set_enabled = pcap_set_enabled_op,
    .refresh_stats = pcap_refresh_stats_op,
    .close = pcap_close_op,
};

/* The reason pcap_activate() failed, as one line that says what to do. */
static void pcap_activate_msg(char *errbuf, const char *iface, pcap_t *p, int r)
{
    const char *why = pcap_geterr(p);

    switch (r) {
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        pcap_msg(errbuf,
                 "cannot capture on %s: permission denied (run with sudo, or setcap "
                 "cap_net_raw,cap_net_admin+ep on the binary)",
                 iface);
        break;
    case PCAP_ERROR_NO_SUCH_DEVICE:
        pcap_msg(errbuf, "cannot capture on %s: no such interface (`ip link` lists them)", iface);
        break;
    case PCAP_ERROR_IFACE_NOT_UP:
        pcap_msg(errbuf, "cannot capture on %s: the interface is down (ip link set %s up)", iface,
                 iface);
        break;
    default:
        pcap_msg(errbuf, "cannot capture on %s: %s", iface,
                 why && *why ? why : pcap_statustostr(r));
    }
}

struct capture *capture_pcap_open(const struct capture_live_opts *o, char errbuf[CAPTURE_ERRBUF])
{
    struct capture *cap = NULL;
    struct pcap_priv *pv = NULL;
    char pcerr[PCAP_ERRBUF_SIZE];
    const char *iface, *dev;
    size_t bufsz;
    uint32_t snaplen;
    int err = 0, r, dlt;

    if (!o || o->nports < 0 || (o->nports > 0 && !o->ports)) {
        pcap_msg(errbuf, "cannot open live capture: bad options");
        errno = EINVAL;
        return NULL;
    }
    iface = o->iface && *o->iface ? o->iface : "any";
    if (strlen(iface) >= IF_NAMESIZE) {
        pcap_msg(errbuf, "cannot capture on %.40s: no such interface (`ip link` lists them)",
                 iface);
        errno = ENODEV;
        return NULL;
    }
    cap = calloc(1, sizeof(*cap));
    pv = calloc(1, sizeof(*pv));
    if (!cap || !pv) {
        err = ENOMEM;
        pcap_msg(errbuf, "cannot capture on %s: out of memory", iface);
        goto out;
    }
    snprintf(pv->iface, sizeof(pv->iface), "%s", iface);
    pv->cap = cap;
    pv->dns = !!o->dns;
    pv->enabled = !!o->enabled;
    if (pcap_copy_ports(o->ports, o->nports, &pv->ports, &pv->nports) < 0) {
        err = ENOMEM;
        pcap_msg(errbuf, "cannot capture on %s: out of memory", iface);
        goto out;
    }

    pv->lo_ifindex = if_nametoindex("lo");
    dev = iface;
#ifdef DLT_LINUX_SLL2
    /* lo is captured through any (see the top of the file). */
    if (pv->lo_ifindex && strcmp(iface, "any") != 0 && if_nametoindex(iface) == pv->lo_ifindex) {
        dev = "any";
        pv->lo_clause = 1;
    }
#endif

    pcerr[0] = '\0';
    pv->pcap = pcap_create(dev, pcerr);
    if (!pv->pcap) {
        err = ENODEV;
        pcap_msg(errbuf, "cannot capture on %s: %s", iface, pcerr);
        goto out;
    }
    snaplen = o->snaplen ? o->snaplen : PCAP_DEFAULT_SNAPLEN;
    if (snaplen > PCAP_DEFAULT_SNAPLEN)
        snaplen = PCAP_DEFAULT_SNAPLEN;
    bufsz = o->buffer_bytes ? o->buffer_bytes : PCAP_DEFAULT_BUFFER;
    if (bufsz > INT_MAX)
        bufsz = INT_MAX;
    pcap_set_snaplen(pv->pcap, (int)snaplen);
    pcap_set_promisc(pv->pcap, 0); /* this host's traffic is what is shown */
    pcap_set_immediate_mode(pv->pcap, 0);
    pcap_set_timeout(pv->pcap, PCAP_TIMEOUT_MS);
    pcap_set_buffer_size(pv->pcap, (int)bufsz);
    pv->nano = pcap_set_tstamp_precision(pv->pcap, PCAP_TSTAMP_PRECISION_NANO) == 0;

    r = pcap_activate(pv->pcap);
    if (r < 0) {
        err = r == PCAP_ERROR_PERM_DENIED ? EPERM : r == PCAP_ERROR_NO_SUCH_DEVICE ? ENODEV : EIO;
        pcap_activate_msg(errbuf, iface, pv->pcap, r);
        goto out;
    }
    if (r > 0)
        log_msg(LOG_WARN, "capture on %s: %s", iface, pcap_geterr(pv->pcap));
    pv->nano = pcap_get_tstamp_precision(pv->pcap) == PCAP_TSTAMP_PRECISION_NANO;

    /* On "any", ask for SLL2: it has the interface index the loopback rule
     * needs (libpcap starts with SLL). */
#ifdef DLT_LINUX_SLL2
    if (pcap_datalink(pv->pcap) == DLT_LINUX_SLL)
        pcap_set_datalink(pv->pcap, DLT_LINUX_SLL2);
#endif
    dlt = pcap_datalink(pv->pcap);
    cap->linktype = pcap_link_of_dlt(dlt);
    if (cap->linktype < 0) {
        const char *name = pcap_datalink_val_to_name(dlt);
        err = EPROTONOSUPPORT;
        pcap_msg(errbuf, "cannot capture on %s: its link type %s (%d) is not decoded (try any)",
                 iface, name ? name : "?", dlt);
        goto out;
    }
#ifdef DLT_LINUX_SLL2
    if (pv->lo_clause == 1 && dlt != DLT_LINUX_SLL2) {
        err = EPROTONOSUPPORT;
        pcap_msg(errbuf, "cannot capture on %s: libpcap gives no SLL2 headers (capture on any)",
                 iface);
        goto out;
    }
    if (pv->lo_clause == 0 && pv->lo_ifindex && dlt == DLT_LINUX_SLL2)
        pv->lo_clause = 2;
#endif

    if (pcap_setnonblock(pv->pcap, 1, pcerr) < 0) {
        err = EIO;
        pcap_msg(errbuf, "cannot capture on %s: %s", iface, pcerr);
        goto out;
    }
    pv->fd = pcap_get_selectable_fd(pv->pcap);
    if (pv->fd < 0) {
        err = EIO;
        pcap_msg(errbuf, "cannot capture on %s: no descriptor to wait on", iface);
        goto out;
    }
    r = pcap_install(pv);
    if (r < 0) {
        err = -r;
        pcap_msg(errbuf, "cannot capture on %s: cannot install the port filter (%s)", iface,
                 strerror(-r));
        goto out;
    }
    /* The baseline: what passed before the first filter is not ours. */
    {
        struct pcap_stat ps;
        if (pcap_stats(pv->pcap, &ps) == 0) {
            pv->last_recv = ps.ps_recv;
            pv->last_drop = ps.ps_drop;
            pv->last_ifdrop = ps.ps_ifdrop;
        }
    }

    cap->ops = &pcap_ops;
    cap->priv = pv;
    snprintf(cap->desc, sizeof(cap->desc), "pcap:%s", iface);
    log_msg(LOG_DEBUG, "libpcap capture on %s: link type %d, snaplen %u, buffer %zu, %s timestamps",
            iface, cap->linktype, snaplen, bufsz, pv->nano ? "ns" : "us");
out:
    if (err) {
        if (pv) {
            if (pv->pcap)
                pcap_close(pv->pcap);
            free(pv->ports);
            free(pv);
        }
        free(cap);
        errno = err;
        return NULL;
    }
    return cap;
}
