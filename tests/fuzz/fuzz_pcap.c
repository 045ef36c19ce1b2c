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
#include "htracr/flow.h"
#include "htracr/log.h"
#include "htracr/pipeline.h"
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

/* One pass: capture -> pipeline -> store; exports in retain mode. */
static void fuzz_one(const uint8_t *data, size_t size, int stream)
{
    char errbuf[CAPTURE_ERRBUF];
    struct store_opts so;
    struct flow_opts fo;
    struct capture *cap = NULL;
    struct store *st = NULL;
    struct pipeline *p = NULL;
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

    errbuf[0] = '\0';
    cap = capture_open_mem(data, size, errbuf);
    if (!cap) goto out;
    st = store_new(&so);
    if (!st) goto out;
    store_set_source(st, capture_describe(cap));
    p = pipeline_new(st, &fo);
    if (!p) goto out;

    /* A failure part-way (truncated file) still leaves a model to export. */
    pipeline_run(p, cap, errbuf);
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
    pipeline_free(p);
    store_free(st);
    capture_close(cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_one(data, size, 0);
    fuzz_one(data, size, 1);
    return 0;
}
