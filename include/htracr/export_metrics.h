/* SPDX-License-Identifier: MIT */
/*
 * export_metrics.h - the /metrics endpoint: the capture's counters in the
 * Prometheus text format (version 0.0.4), for a scraper watching an htracr
 * left running on a busy host (docs/api.md lists every metric).
 *
 * Last stage beside export_api.h, read-only on the store like it: the
 * server calls it with the store lock held, into a memory buffer.
 */
#ifndef HTRACR_EXPORT_METRICS_H
#define HTRACR_EXPORT_METRICS_H

#include <stdio.h>

struct store;
struct server_status;

/* The exposition's media type, for the reply's Content-Type. */
#define EXPORT_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Every metric, from the store's lifetime counters (store_totals(),
 * store_stats_lifetime()) and ss as the controller filled it. Caller holds
 * the store lock. 0 or -errno (-EIO when f failed). */
int export_metrics(struct store *st, const struct server_status *ss, FILE *f);

#endif
