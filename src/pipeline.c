/* SPDX-License-Identifier: MIT */
/*
 * pipeline.c - one loop from a capture source to the store. See pipeline.h.
 *
 * Records are decoded into a struct on the stack (no allocation per packet);
 * TCP goes to the flow table, everything else is counted. UDP (DNS) is
 * decoded but not modelled yet.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "htracr/dns.h"
#include "htracr/pipeline.h"
#include "htracr/store.h"

struct pipeline {
    struct store *st;
    struct flow_table *ft;
    struct decode_stats ds;
    int keep_raw;
    int stream;         /* JSONL only: no DNS (it writes none) */
    struct dns_msg dns; /* scratch: too big for the stack of every packet */
};

struct pipeline *pipeline_new(struct store *st, const struct flow_opts *fo)
{
    struct pipeline *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->st = st;
    p->keep_raw = store_get_opts(st)->keep_raw;
    p->stream = store_get_opts(st)->stream;
    p->ft = flow_table_new(st, fo);
    if (!p->ft) {
        free(p);
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

/* A UDP/53 payload: a DNS message for the store, or counted as not one. */
static void pipeline_dns(struct pipeline *p, const struct decoded *d)
{
    struct dns_msg *m = &p->dns;
    if (dns_parse(d->payload, d->cap_len, m) < 0) {
        store_stats(p->st)->dns_bad++;
        return;
    }
    store_dns_msg(p->st, m, &d->src, d->sport, &d->dst, d->dport, d->ts_ns / 1000);
}

void pipeline_record(struct pipeline *p, const struct capture_rec *rec)
{
    struct decoded d;
    store_note_packet(p->st, rec->ts_ns / 1000, rec->wirelen);
    if (p->keep_raw)
        store_raw_add(p->st, rec->ts_ns, rec->linktype, rec->data, rec->caplen, rec->wirelen);
    switch (decode_packet(rec, &d, &p->ds)) {
    case DECODE_TCP: flow_table_packet(p->ft, &d); break;
    case DECODE_UDP:
        if ((d.sport == 53 || d.dport == 53) && !p->stream)
            pipeline_dns(p, &d);
        break;
    case DECODE_ERROR: store_stats(p->st)->decode_errors++; break;
    default: break;
    }
}

int pipeline_run(struct pipeline *p, struct capture *cap, char errbuf[CAPTURE_ERRBUF])
{
    struct capture_rec rec = {0};
    int r;
    while ((r = capture_next(cap, &rec, errbuf)) == 1)
        pipeline_record(p, &rec);
    struct capture_stats cs;
    capture_get_stats(cap, &cs);
    store_stats(p->st)->dropped = cs.dropped;
    return r < 0 ? r : 0;
}

void pipeline_finish(struct pipeline *p)
{
    flow_table_finish(p->ft);
}

void pipeline_clear(struct pipeline *p)
{
    struct flow_table *ft = flow_table_new(p->st, flow_table_opts(p->ft));
    if (!ft)
        return; /* keep the old table; the caller sees nothing cleared */
    flow_table_free(p->ft);
    p->ft = ft;
    memset(&p->ds, 0, sizeof(p->ds));
    store_clear(p->st);
}

void pipeline_tick(struct pipeline *p, int64_t now_us)
{
    flow_table_tick(p->ft, now_us);
}

void pipeline_set_ports(struct pipeline *p, const uint16_t *ports, int nports)
{
    flow_table_set_ports(p->ft, ports, nports);
}

const struct decode_stats *pipeline_decode_stats(const struct pipeline *p)
{
    return &p->ds;
}

const struct flow_stats *pipeline_flow_stats(const struct pipeline *p)
{
    return flow_table_stats(p->ft);
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    flow_table_free(p->ft);
    free(p);
}
