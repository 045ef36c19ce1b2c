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

int capture_next(struct capture *cap, struct capture_rec *rec, char errbuf[CAPTURE_ERRBUF])
{
    char scratch[CAPTURE_ERRBUF];
    int ret;

    if (!errbuf) errbuf = scratch;
    errbuf[0] = '\0';
    if (!cap || !cap->ops || !cap->ops->next || !rec) {
        snprintf(errbuf, CAPTURE_ERRBUF, "capture_next: no capture handle");
        return -EINVAL;
    }
    ret = cap->ops->next(cap, rec, errbuf);
    /* A record can never carry more bytes than the wire did; a source that
     * says otherwise (a crafted file) gets the wire length raised. */
    if (ret > 0 && rec->wirelen < rec->caplen) rec->wirelen = rec->caplen;
    return ret;
}

void capture_get_stats(const struct capture *cap, struct capture_stats *st)
{
    if (!st) return;
    if (!cap) {
        memset(st, 0, sizeof(*st));
        return;
    }
    *st = cap->stats;
}

const char *capture_describe(const struct capture *cap)
{
    if (!cap) return "(none)";
    return cap->desc;
}

void capture_close(struct capture *cap)
{
    if (!cap) return;
    if (cap->ops && cap->ops->close) cap->ops->close(cap);
}
