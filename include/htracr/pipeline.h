/* SPDX-License-Identifier: MIT */
/*
 * pipeline.h - drives records from a capture source through decode, the flow
 * table, TCP and HTTP into the store. The CLI, the fuzzer and (later) the
 * server all run captures through this one loop.
 */
#ifndef HTRACR_PIPELINE_H
#define HTRACR_PIPELINE_H

#include "htracr/capture.h"
#include "htracr/decode.h"
#include "htracr/flow.h"

struct store;
struct pipeline;

/* New pipeline feeding st, or NULL (errno). */
struct pipeline *pipeline_new(struct store *st, const struct flow_opts *fo);

/* One record through the whole pipeline. */
void pipeline_record(struct pipeline *p, const struct capture_rec *rec);

/* Every record of cap until its end. Returns 0, or a negative errno when the
 * source failed part-way (reason in errbuf; everything read before the
 * failure is in the store). Does not finish the flows. */
int pipeline_run(struct pipeline *p, struct capture *cap, char errbuf[CAPTURE_ERRBUF]);

/* End of input: finish every connection. */
void pipeline_finish(struct pipeline *p);

/* Forget everything: every flow and the whole model (store_clear()); the
 * flow options stay. Call with the store locked when others read it. */
void pipeline_clear(struct pipeline *p);

/* Live capture: the wall clock is now_us; flows idle past their timeout
 * are finished even when no packet comes to say so. */
void pipeline_tick(struct pipeline *p, int64_t now_us);

/* Change the sniffed ports for new flows. */
void pipeline_set_ports(struct pipeline *p, const uint16_t *ports, int nports);

const struct decode_stats *pipeline_decode_stats(const struct pipeline *p);
const struct flow_stats *pipeline_flow_stats(const struct pipeline *p);

/* Free; pipeline_free(NULL) is a no-op. */
void pipeline_free(struct pipeline *p);

#endif
