/* SPDX-License-Identifier: MIT */
/*
 * export_metrics.c - the capture's counters in the Prometheus text format
 * (docs/api.md, "Metrics").
 *
 * Every counter is a lifetime one: the store counts requests, responses,
 * waits and retransmissions as they happen and keeps what store_clear()
 * zeroes, so a scraper's rate() sees neither eviction nor a clear as a
 * reset. Labels take only bounded sets of values (nine methods and
 * "other", five status classes and "other", two directions): a busy host
 * cannot grow the series without bound.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "htracr/export_metrics.h"
#include "htracr/server.h"
#include "htracr/store.h"

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
    head(f, name, type, help);
    fprintf(f, "%s %" PRIu64 "\n", name, v);
}

/* A label value: backslash, double quote and newline escaped. */
static void label(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

/* µs as seconds, exactly. */
static void seconds(FILE *f, uint64_t us)
{
    fprintf(f, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

static void hist(FILE *f, const char *name, const char *help, const struct store_hist *h)
{
    uint64_t cum = 0;
    head(f, name, "histogram", help);
    for (int i = 0; i < STORE_HIST_BOUNDS; i++) {
        cum += h->bucket[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
                (double)store_hist_bounds_us[i] / 1e6, cum);
    }
    fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
    fprintf(f, "%s_sum ", name);
    seconds(f, h->sum_us);
    fprintf(f, "\n%s_count %" PRIu64 "\n", name, h->count);
}

int export_metrics(struct store *st, const struct server_status *ss, FILE *f)
{
    const struct store_totals *t = store_totals(st);
    struct store_stats s;
    static const char *const classes[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

    store_stats_lifetime(st, &s);

    head(f, "htracr_info", "gauge", "The build and what it captures from (always 1).");
    fputs("htracr_info{version=", f);
    label(f, HTRACR_VERSION);
    fputs(",backend=", f);
    label(f, ss->backend);
    fputs(",attach=", f);
    label(f, ss->attach);
    fputs(",iface=", f);
    label(f, ss->iface);
    fputs("} 1\n", f);
    one(f, "htracr_capturing", "gauge", "1 while live capture is switched on, else 0.",
        (uint64_t)(ss->live && ss->capturing));

    one(f, "htracr_packets_total", "counter", "Packets the pipeline saw.", s.packets);
    one(f, "htracr_bytes_total", "counter", "Wire bytes of those packets.", s.bytes);
    head(f, "htracr_dropped_packets_total", "counter",
         "Packets lost before htracr read them: where=\"ring\" (eBPF ring buffer full), "
         "\"socket\" (kernel socket or libpcap).");
    fprintf(f, "htracr_dropped_packets_total{where=\"ring\"} %" PRIu64 "\n", ss->ring_drops);
    fprintf(f, "htracr_dropped_packets_total{where=\"socket\"} %" PRIu64 "\n", ss->socket_drops);
    one(f, "htracr_skipped_payload_bytes_total", "counter",
        "Body bytes the kernel filter left out on purpose (body skipping): known, not lost.",
        ss->skipped_bytes);
    if (ss->writing >= 0) {
        one(f, "htracr_pcap_writing", "gauge",
            "-w: 1 while packets are written, 0 once an error stopped it (a full disk...).",
            (uint64_t)ss->writing);
        one(f, "htracr_pcap_files_total", "counter", "-w: files started (-C rotates them).",
            ss->write_files);
    }
    one(f, "htracr_decode_errors_total", "counter", "Packets that could not be decoded.",
        s.decode_errors);
    one(f, "htracr_alloc_failures_total", "counter",
        "Times data was not kept because memory ran out.", s.alloc_failures);

    one(f, "htracr_connections_total", "counter", "HTTP connections modelled.", s.connections);
    one(f, "htracr_evicted_connections_total", "counter",
        "Connections removed from the model to keep within the memory budget.",
        s.evicted_connections);
    one(f, "htracr_memory_bytes", "gauge", "Memory the model uses, counted against the budget.",
        (uint64_t)(ss->memory_used ? ss->memory_used : store_memory(st)));
    one(f, "htracr_memory_budget_bytes", "gauge", "The model's budget (--max-memory; 0: none).",
        (uint64_t)(ss->memory_budget ? ss->memory_budget : store_get_opts(st)->max_memory));

    head(f, "htracr_http_requests_total", "counter",
         "HTTP requests seen to their end (or cut short, or unparsable), by method.");
    for (int i = 0; i < STORE_METHODS; i++)
        fprintf(f, "htracr_http_requests_total{method=\"%s\"} %" PRIu64 "\n", store_method_names[i],
                t->requests[i]);
    head(f, "htracr_http_responses_total", "counter",
         "HTTP responses seen to their end (or cut short, or unparsable), by status class "
         "(1xx: interim ones too; other: no status).");
    for (int i = 1; i <= 6; i++)
        fprintf(f, "htracr_http_responses_total{code=\"%s\"} %" PRIu64 "\n", classes[i % 6],
                t->responses[i % 6]);
    hist(f, "htracr_http_ttfb_seconds",
         "Final responses' time to first byte: first response byte after the request's last, "
         "at the capture point.",
         &t->ttfb);
    hist(f, "htracr_http_server_stall_seconds",
         "Final responses' server stall: time to first byte less one round trip.", &t->stall);

    hist(f, "htracr_tcp_handshake_rtt_seconds",
         "Handshake round trips, SYN to the handshake's ACK, at the capture point.", &t->handshake);
    head(f, "htracr_tcp_retransmits_total", "counter",
         "TCP segments flagged retransmitted, by direction (c2s: client to server).");
    fprintf(f, "htracr_tcp_retransmits_total{direction=\"c2s\"} %" PRIu64 "\n", t->retransmits[0]);
    fprintf(f, "htracr_tcp_retransmits_total{direction=\"s2c\"} %" PRIu64 "\n", t->retransmits[1]);
    one(f, "htracr_tcp_reset_connections_total", "counter", "Connections ended by a reset.",
        t->resets);
    one(f, "htracr_dns_messages_total", "counter", "DNS queries and responses seen.",
        s.dns_messages);
    return ferror(f) ? -EIO : 0;
}
