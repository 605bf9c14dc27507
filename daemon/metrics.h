/* metrics.h — the protocol's `metrics` method (docs/protocol.md, "metrics"):
 * one snapshot of every running job visible to the caller (its own; root:
 * all) with each stage's counters and rates, the daemon's jobs by state,
 * and the `stats` result (runtime statistics and connection counters).
 *
 * Rates are computed since the job started running (items / elapsed); the
 * daemon keeps no per-client or per-snapshot state.
 *
 * Threading: called on a request goroutine; takes the job table's lock only
 * through its accessors (jobs.h) and reads engine counters (atomics).
 */
#ifndef GD_METRICS_H
#define GD_METRICS_H

#include "gort.h"
#include "jobs.h"
#include "proto.h"

/* Packs exactly one result object; 0, or a negative errno with *err. */
int gd_metrics_pack(gd_jobs *t, const gd_caller *who, const gort_stats *rt,
                    const gd_counters *k, msgpack_packer *pk, gd_proto_error *err);

#endif
