/* SPDX-License-Identifier: MIT */
/*
 * capture.c - the generic half of the capture interface.
 *
 * First stage of the pipeline. Every source (capture file, libpcap live, eBPF
 * ring buffer) lives in its own capture_<name>.c, allocates a struct capture,
 * fills in cap->ops, cap->desc and cap->priv, and keeps cap->stats current.
 * This file only dispatches through cap->ops and checks the one promise every
 * record must keep whatever its source: caplen <= wirelen. Ownership: a
 * backend's close() releases everything it allocated, the struct capture
 * itself included, so capture_close() never frees anything on its own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "htracr/capture.h"
#include "htracr/log.h"

int capture_next(struct capture *cap, struct capture_rec *rec, char errbuf[CAPTURE_ERRBUF])
{
    char scratch[CAPTURE_ERRBUF];
    int ret;

    if (!errbuf)
        errbuf = scratch;
    errbuf[0] = '\0';
    if (!cap || !cap->ops || !cap->ops->next || !rec) {
        snprintf(errbuf, CAPTURE_ERRBUF, "capture_next: no capture handle");
        return -EINVAL;
    }
    ret = cap->ops->next(cap, rec, errbuf);
    /* A record can never carry more bytes than the wire did; a source that
     * says otherwise (a crafted file) gets the wire length raised. */
    if (ret > 0 && rec->wirelen < rec->caplen)
        rec->wirelen = rec->caplen;
    return ret;
}

int capture_dispatch(struct capture *cap, int max, int timeout_ms, capture_cb cb, void *ctx,
                     char errbuf[CAPTURE_ERRBUF])
{
    char scratch[CAPTURE_ERRBUF];
    struct capture_rec rec = {0};
    int n = 0, r;

    if (!errbuf)
        errbuf = scratch;
    errbuf[0] = '\0';
    if (!cap || !cap->ops || !cb) {
        snprintf(errbuf, CAPTURE_ERRBUF, "capture_dispatch: no capture handle");
        return -EINVAL;
    }
    if (cap->ops->dispatch)
        return cap->ops->dispatch(cap, max, timeout_ms, cb, ctx, errbuf);
    /* A file never waits: a record is there or the file has ended. */
    while (max <= 0 || n < max) {
        r = capture_next(cap, &rec, errbuf);
        if (r == 0)
            return n ? n : -ENODATA;
        if (r < 0)
            return n ? n : r;
        cb(ctx, &rec);
        n++;
    }
    return n;
}

int capture_set_ports(struct capture *cap, const uint16_t *ports, int nports)
{
    if (!cap || !cap->ops || !cap->ops->set_ports)
        return -EOPNOTSUPP;
    return cap->ops->set_ports(cap, ports, nports);
}

int capture_set_enabled(struct capture *cap, int on)
{
    if (!cap || !cap->ops || !cap->ops->set_enabled)
        return -EOPNOTSUPP;
    return cap->ops->set_enabled(cap, on);
}

int capture_skip(struct capture *cap, const struct capture_skip *sk)
{
    if (!cap || !cap->ops || !cap->ops->skip)
        return -EOPNOTSUPP;
    return cap->ops->skip(cap, sk);
}

int capture_linktype(const struct capture *cap)
{
    return cap ? cap->linktype : -1;
}

const char *capture_backend_name(const struct capture *cap)
{
    return cap && cap->ops && cap->ops->name ? cap->ops->name : "none";
}

struct capture *capture_open_live(enum capture_backend b, const struct capture_live_opts *o,
                                  char errbuf[CAPTURE_ERRBUF])
{
    struct capture *cap;

    if (b == CAPTURE_PCAP)
        return capture_pcap_open(o, errbuf);
    cap = capture_bpf_open(o, errbuf);
    /* a missing interface is missing for libpcap too: no fallback, whose
     * warning would blame eBPF before libpcap's own error */
    if (cap || b == CAPTURE_BPF || errno == ENODEV)
        return cap;
    log_msg(LOG_WARN, "eBPF capture unavailable (%s): using libpcap", errbuf);
    errbuf[0] = '\0';
    return capture_pcap_open(o, errbuf);
}

void capture_get_stats(const struct capture *cap, struct capture_stats *st)
{
    if (!st)
        return;
    if (!cap) {
        memset(st, 0, sizeof(*st));
        return;
    }
    if (cap->ops && cap->ops->refresh_stats)
        cap->ops->refresh_stats((struct capture *)cap);
    *st = cap->stats;
}

const char *capture_describe(const struct capture *cap)
{
    if (!cap)
        return "(none)";
    return cap->desc;
}

const char *capture_attach_name(const struct capture *cap)
{
    return cap && cap->attach ? cap->attach : "";
}

void capture_close(struct capture *cap)
{
    if (!cap)
        return;
    if (cap->ops && cap->ops->close)
        cap->ops->close(cap);
}

#if !HTRACR_BPF
/* Built without libbpf (make BPF=0): live capture is libpcap only. */
struct capture *capture_bpf_open(const struct capture_live_opts *o, char errbuf[CAPTURE_ERRBUF])
{
    (void)o;
    snprintf(errbuf, CAPTURE_ERRBUF, "this htracr was built without eBPF support (make BPF=0)");
    errno = ENOTSUP;
    return NULL;
}
#endif
