/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pcap.c - libFuzzer harness over the whole pipeline, from file bytes to
 * every export.
 *
 * It stands where the CLI stands with `htracr -r FILE --json/--har/--jsonl`:
 * the fuzzer's bytes are a capture file held in memory (pcap, pcapng, either
 * gzip'd), opened with capture_open_mem() and driven through decode, the flow
 * table, TCP and HTTP into a store, and the store is then written out as the
 * JSON model, JSONL and HAR to /dev/null so the export code sees whatever the
 * earlier stages let through. Each input runs twice: once in retain mode with
 * the 8 MiB budget the brief asks for, and once in stream mode with a budget
 * small enough that eviction and allocation-failure paths are reached, with
 * JSONL written from the on_finish callback as `--jsonl` does. Everything is
 * freed before returning: LeakSanitizer treats a leak as a finding.
 *
 * Build and run: `make fuzz` (see tests/fuzz/README.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htracr/capture.h"
#include "htracr/export.h"
#include "htracr/export_api.h"
#include "htracr/export_metrics.h"
#include "htracr/flow.h"
#include "htracr/log.h"
#include "htracr/pipeline.h"
#include "htracr/server.h"
#include "htracr/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RETAIN_MEMORY (8u << 20)
#define FUZZ_STREAM_MEMORY (96u << 10)
#define FUZZ_BODY_LIMIT (64u << 10)

/* The export sink: writes are real stdio writes, thrown away by the kernel. */
static FILE *fuzz_null;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Warnings for malformed input are expected on every run; printing them
     * would only slow the fuzzer down. */
    log_set_level(LOG_SILENT);
    fuzz_null = fopen("/dev/null", "w");
    if (!fuzz_null) {
        perror("fuzz_pcap: cannot open /dev/null");
        abort();
    }
    return 0;
}

static void fuzz_flow_opts(struct flow_opts *fo)
{
    memset(fo, 0, sizeof(*fo));
    fo->ports[0] = 80;
    fo->nports = 1;
    fo->sniff_http = 1;
    fo->idle_timeout_us = 60LL * 1000 * 1000;
    fo->close_linger_us = 10LL * 1000 * 1000;
}

/* Stream mode's on_finish: one JSONL block per connection, as --jsonl does. */
static void fuzz_on_finish(void *ctx, struct store *st, struct store_conn *c)
{
    FILE *f = ctx;

    export_jsonl_conn(st, c, f);
}

/* A pass's capture, store and pipeline. */
struct fuzz_run {
    struct capture *cap;
    struct store *st;
    struct pipeline *p;
};

/* Open the fuzzer's bytes as a capture and make the store and pipeline for
 * it. 0, or -1 when any of them could not be made (the rest is closed). */
static int fuzz_open(struct fuzz_run *r, const uint8_t *data, size_t size,
                     const struct store_opts *so, const struct flow_opts *fo)
{
    char errbuf[CAPTURE_ERRBUF];

    memset(r, 0, sizeof(*r));
    errbuf[0] = '\0';
    r->cap = capture_open_mem(data, size, errbuf);
    if (r->cap)
        r->st = store_new(so);
    if (r->st) {
        store_set_source(r->st, capture_describe(r->cap));
        r->p = pipeline_new(r->st, fo);
    }
    return r->p ? 0 : -1;
}

static void fuzz_close(struct fuzz_run *r)
{
    pipeline_free(r->p);
    store_free(r->st);
    capture_close(r->cap);
}

/* One pass: capture -> pipeline -> store; exports in retain mode. */
static void fuzz_one(const uint8_t *data, size_t size, int stream)
{
    char errbuf[CAPTURE_ERRBUF];
    struct store_opts so;
    struct flow_opts fo;
    struct fuzz_run r;
    struct store *st;
    struct pipeline *p;
    struct store_conn *c;

    memset(&so, 0, sizeof(so));
    so.max_memory = stream ? FUZZ_STREAM_MEMORY : FUZZ_RETAIN_MEMORY;
    so.body_limit = FUZZ_BODY_LIMIT;
    so.stream = stream;
    if (stream) {
        so.on_finish = fuzz_on_finish;
        so.ctx = fuzz_null;
    }
    fuzz_flow_opts(&fo);
    if (fuzz_open(&r, data, size, &so, &fo) < 0)
        goto out;
    st = r.st;
    p = r.p;

    /* A failure part-way (truncated file) still leaves a model to export. */
    errbuf[0] = '\0';
    pipeline_run(p, r.cap, errbuf);
    pipeline_finish(p);
    /* The stats accessors are part of what the CLI prints; touch them. */
    (void)pipeline_decode_stats(p);
    (void)pipeline_flow_stats(p);

    if (!stream) {
        export_json(st, fuzz_null);
        for (c = store_first(st); c; c = store_next(c))
            export_jsonl_conn(st, c, fuzz_null);
        export_har(st, fuzz_null);
        export_summary(st, fuzz_null);
    }
    fflush(fuzz_null);
    clearerr(fuzz_null);

out:
    fuzz_close(&r);
}

/* The web UI's view: what the page's fetches write. */
static void fuzz_api(struct store *st, uint64_t gen, uint64_t since, uint64_t reply)
{
    static const unsigned opts[] = {0, EXPORT_API_ROWS, EXPORT_API_ROWS | EXPORT_API_REL,
                                    EXPORT_API_TAILS | EXPORT_API_ROWS | EXPORT_API_REL};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        export_api_model(st, 0, 0, 0, opts[i], fuzz_null, NULL, NULL);
        export_api_model(st, gen, since, reply, opts[i], fuzz_null, NULL, NULL);
    }
}

/* Body-skip hints (live eBPF): nothing to tell here, but TCP makes them. */
static void fuzz_on_skip(void *ctx, struct store_conn *c, int dir, uint32_t from_seq,
                         uint32_t until_seq)
{
    (void)ctx;
    (void)c;
    (void)dir;
    (void)from_seq;
    (void)until_seq;
}

/* The UI's pass: raw packets kept, HTTP only on port 80 as live capture
 * has it, the API's model fetched incrementally as the page does while
 * packets come (after 4, 16, 64, ... records), then every packet in full,
 * the pcap download, /metrics, the status and feed objects, and a clear. */
static void fuzz_ui(const uint8_t *data, size_t size)
{
    char errbuf[CAPTURE_ERRBUF], why[256];
    struct store_opts so;
    struct flow_opts fo;
    struct server_status ss;
    struct capture_rec rec = {0};
    struct fuzz_run r;
    struct store *st;
    struct pipeline *p;
    struct store_conn *c;
    uint64_t n = 0, next = 4, since = 0, reply = 0, skipped = 0;

    memset(&so, 0, sizeof(so));
    so.max_memory = FUZZ_RETAIN_MEMORY;
    so.body_limit = FUZZ_BODY_LIMIT;
    so.keep_raw = 1;
    so.on_skip = fuzz_on_skip;
    fuzz_flow_opts(&fo);
    fo.sniff_http = 0;
    memset(&ss, 0, sizeof(ss));
    ss.writing = -1;

    if (fuzz_open(&r, data, size, &so, &fo) < 0)
        goto out;
    st = r.st;
    p = r.p;

    errbuf[0] = '\0';
    while (capture_next(r.cap, &rec, errbuf) == 1) {
        pipeline_record(p, &rec);
        if (++n == next) {
            pipeline_tick(p, rec.ts_ns / 1000);
            /* as the page: the whole model first (no generation), then
             * what changed since the last reply's seq, naming the reply */
            export_api_model(st, since ? store_generation(st) : 0, since, reply,
                             EXPORT_API_TAILS | EXPORT_API_ROWS | EXPORT_API_REL, fuzz_null, NULL,
                             NULL);
            since = store_seq(st);
            reply = store_reply_last(st);
            next *= 4;
        }
    }
    pipeline_finish(p);
    fuzz_api(st, store_generation(st), since, reply);
    for (c = store_first(st); c; c = store_next(c)) {
        uint64_t total = store_conn_total_packets(c);
        for (uint64_t i = 0; i < total && i < 256; i++)
            export_api_packet(st, c->id, (uint32_t)i, fuzz_null, why, sizeof(why));
    }
    export_pcap(st, fuzz_null, &skipped);
    export_metrics(st, &ss, fuzz_null);
    export_api_status(st, &ss, fuzz_null);
    export_api_feed(st, &ss, fuzz_null);
    pipeline_clear(p);
    fuzz_api(st, store_generation(st), 0, 0);
    export_metrics(st, &ss, fuzz_null);
    fflush(fuzz_null);
    clearerr(fuzz_null);

out:
    fuzz_close(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_one(data, size, 0);
    fuzz_one(data, size, 1);
    fuzz_ui(data, size);
    return 0;
}
