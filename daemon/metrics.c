/* metrics.c — the `metrics` method (see metrics.h).
 *
 * The number of the caller's running jobs is not known before iterating
 * over them, so the jobs are packed into a scratch buffer first and copied
 * into the result after the array header (one pass, one copy).
 * No lock is held while packing; each job is held by a reference
 * (gd_jobs_each_running) and its counters are engine atomics.
 */
#include "config.h"
#include "metrics.h"

#include <errno.h>
#include <string.h>

#include "engine.h"

typedef struct scratch {
	msgpack_packer pk;
	uint32_t njobs;
	int64_t now;
} scratch;

static int pk_rate(msgpack_packer *pk, const char *k, uint64_t n, int64_t elapsed)
{
	double r = elapsed > 0 ? (double)n * 1e9 / (double)elapsed : 0.0;
	return gd_pk_str(pk, k) | msgpack_pack_double(pk, r);
}

/* The status map's stage entry (jobs.c) plus the two rates. */
static int pack_stage(msgpack_packer *pk, const gd_stage_metrics *m, int64_t elapsed)
{
	int e = gd_jobs_pack_stage(pk, m, 2);
	e |= pk_rate(pk, "in_per_sec", m->items_in, elapsed);
	e |= pk_rate(pk, "out_per_sec", m->items_out, elapsed);
	return e;
}

static int pack_job(void *arg, uint64_t id, uid_t uid, int64_t started_at, gd_job *job)
{
	scratch *s = arg;
	msgpack_packer *pk = &s->pk;
	int64_t elapsed = s->now - started_at;
	size_t n = gd_job_nstages(job);
	int e = msgpack_pack_map(pk, 4) | gd_pk_kv_u64(pk, "id", id) | gd_pk_kv_u64(pk, "uid", uid);
	e |= gd_pk_kv_u64(pk, "elapsed_ns", elapsed > 0 ? (uint64_t)elapsed : 0);
	e |= gd_pk_str(pk, "stages") | msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n && !e; i++) {
		gd_stage_metrics m;
		if (gd_job_stage_metrics(job, i, &m) < 0)
			return -EIO; /* the index is below gd_job_nstages: cannot happen */
		e = pack_stage(pk, &m, elapsed);
	}
	s->njobs++;
	return e ? -ENOMEM : 0;
}

static int pack_totals(msgpack_packer *pk, const gd_jobs_totals *j)
{
	int e = gd_pk_str(pk, "jobs_by_state") | msgpack_pack_map(pk, 6);
	e |= gd_pk_kv_u64(pk, "queued", j->queued) | gd_pk_kv_u64(pk, "running", j->running);
	e |= gd_pk_kv_u64(pk, "succeeded", j->succeeded) | gd_pk_kv_u64(pk, "failed", j->failed);
	e |= gd_pk_kv_u64(pk, "cancelled", j->cancelled) | gd_pk_kv_u64(pk, "timed-out", j->timed_out);
	e |= gd_pk_kv_u64(pk, "admission_queue", j->queued);
	return e;
}

int gd_metrics_pack(gd_jobs *t, const gd_caller *who, const gort_stats *rt,
                    const gd_counters *k, msgpack_packer *pk, gd_proto_error *err)
{
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	scratch s = {.njobs = 0, .now = gort_now()};
	msgpack_packer_init(&s.pk, &sb, msgpack_sbuffer_write);
	int r = gd_jobs_each_running(t, who, pack_job, &s);
	if (r < 0) {
		msgpack_sbuffer_destroy(&sb);
		return gd_proto_fail(err, gd_proto_code_from_errno(r), "metrics: %s", strerror(-r));
	}
	gd_jobs_totals tot;
	gd_jobs_totals_get(t, &tot);
	int e = msgpack_pack_map(pk, 5) | gd_pk_kv_u64(pk, "time_ns", (uint64_t)s.now);
	e |= gd_pk_str(pk, "jobs") | msgpack_pack_array(pk, s.njobs);
	if (!e && sb.size)
		e = pk->callback(pk->data, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	e |= pack_totals(pk, &tot);
	e |= gd_pk_str(pk, "stats");
	if (e || gd_proto_pack_stats_result(pk, rt, k) < 0)
		return gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the metrics");
	return 0;
}
