/* SPDX-License-Identifier: MIT */
/*
 * export_pcap.c - the raw packets the store kept, as a pcap file.
 *
 * Last stage, beside the JSON exporters: it reads the store's raw records
 * (store_raw_foreach, only when the store keeps them) and writes the classic
 * pcap format with nanosecond timestamps (magic a1b23c4d), which libpcap,
 * tcpdump, tshark and htracr -r all read. The file has one link type: the
 * first record's; records of another link type are counted, not written.
 * Written by hand rather than through libpcap's dumper because the server
 * streams it into a memory buffer, not a named file.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "htracr/export.h"
#include "htracr/store.h"

struct pcap_out {
    FILE *f;
    int linktype; /* -1 until the first record */
    uint64_t skipped;
    int err;
};

static int put32(FILE *f, uint32_t v)
{
    return fwrite(&v, 4, 1, f) == 1 ? 0 : -EIO;
}

static int write_header(FILE *f, int linktype)
{
    uint16_t ver[2] = {2, 4};
    if (put32(f, 0xa1b23c4d) < 0 || fwrite(ver, sizeof(ver), 1, f) != 1 || put32(f, 0) < 0 ||
        put32(f, 0) < 0 || put32(f, 262144) < 0 || put32(f, (uint32_t)linktype) < 0)
        return -EIO;
    return 0;
}

static int write_rec(void *ctx, const struct store_raw *r)
{
    struct pcap_out *o = ctx;
    if (o->linktype < 0) {
        o->linktype = r->linktype;
        if (write_header(o->f, o->linktype) < 0)
            return o->err = -EIO;
    }
    if (r->linktype != o->linktype) {
        o->skipped++;
        return 0;
    }
    int64_t ts = r->ts_ns < 0 ? 0 : r->ts_ns;
    if (put32(o->f, (uint32_t)(ts / 1000000000)) < 0 ||
        put32(o->f, (uint32_t)(ts % 1000000000)) < 0 || put32(o->f, r->caplen) < 0 ||
        put32(o->f, r->wirelen) < 0 || (r->caplen && fwrite(r->data, r->caplen, 1, o->f) != 1))
        return o->err = -EIO;
    return 0;
}

int export_pcap(struct store *st, FILE *f, uint64_t *skipped)
{
    struct pcap_out o = {.f = f, .linktype = -1};
    store_raw_foreach(st, write_rec, &o);
    if (skipped)
        *skipped = o.skipped;
    if (o.err)
        return o.err;
    if (o.linktype < 0)
        return -ENOENT; /* nothing kept */
    return ferror(f) ? -EIO : 0;
}
