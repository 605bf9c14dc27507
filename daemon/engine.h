/* engine.h — the job pipeline engine: runs a validated gd_pipe_spec
 * (pipespec.h) on libgort goroutines.  docs/engine.md is the long form.
 *
 * A job is a graph of stages joined by bounded gort channels (one per edge,
 * capacity gd_job_opts.queue_capacity) carrying items (byte strings).  The
 * job's context is a child of the parent the caller gives; each stage's
 * goroutines run under a child context of the job's; every goroutine of the
 * job counts itself in one stage group, so the engine knows when the last
 * has returned, and only then is the job's final state set and its done
 * channel closed.
 *
 * Threading: gd_job_start, gd_job_feed, gd_job_feed_end, gd_job_wait and
 * the getters of kept errors and collected items (they take a gort_mutex)
 * run on goroutines; gd_job_cancel, gd_job_done, gd_job_get_state,
 * gd_job_stage_metrics, gd_job_nerrors and gd_job_count may be called from
 * any goroutine or thread at any time while the job exists (atomics).
 * gd_job_feed and gd_job_feed_end from one goroutine at a time.
 * gd_job_free only once the job is done and no other call on it is in
 * progress.  The spec is borrowed: it must outlive the job.
 * Errors are negative errno values.
 */
#ifndef GD_ENGINE_H
#define GD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gort.h"
#include "pipespec.h"

typedef enum gd_job_state {
	GD_JOB_RUNNING,   /* goroutines of the job may still run */
	GD_JOB_SUCCEEDED, /* every stage ran dry (errors under the continue policy allowed) */
	GD_JOB_FAILED,    /* fail-fast saw an error, a sink could not write, or start failed */
	GD_JOB_CANCELLED, /* gd_job_cancel or the parent context */
	GD_JOB_TIMED_OUT, /* the job's timeout (its deadline context) */
} gd_job_state;

/* "running", "succeeded", "failed", "cancelled", "timed-out". */
const char *gd_job_state_name(gd_job_state s);

/* The `client` sink: called on a stage goroutine, in order, once per item
 * (data[len] is a NUL not counted in len).  It may block (park) for
 * backpressure; a negative errno return fails the job. */
typedef int (*gd_client_fn)(void *arg, const char *data, size_t len);

typedef struct gd_job gd_job;

typedef struct gd_job_opts {
	uint32_t queue_capacity; /* items per edge; 0: 64 */
	int64_t timeout;         /* whole job, ns; 0: none */
	bool fail_fast;          /* first error cancels the job; else continue */
	uint32_t errors_keep;    /* continue policy: first N errors kept; 0: 16 */
	int64_t kill_grace;      /* exec: SIGTERM -> SIGKILL; 0: runtime default, < 0: SIGKILL at once */
	bool set_ids;            /* exec children run as uid/gid/groups */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;     /* borrowed; must outlive the job */
	size_t ngroups;
	char *const *envp;       /* exec environment; NULL: the daemon's */
	const char *cwd;         /* absolute; borrowed, must outlive the job: relative paths
	                          * of lines, glob, bridge and file resolve against it, and
	                          * exec children start in it.  NULL: the daemon's cwd */
	gd_client_fn client;     /* the `client` sink; NULL: its items are dropped */
	void *client_arg;
	void (*on_done)(gd_job *job, void *arg); /* NULL, or called once the state is final */
	void *on_done_arg;
} gd_job_opts;

/* One kept error: the stage path ("3", "2.1.3": stage 3 of branch 1 of the
 * tee at stage 2), the item that caused it (truncated) and a message. */
#define GD_JOB_ERR_ITEM_MAX 256
typedef struct gd_job_error {
	char stage[64];
	char item[GD_JOB_ERR_ITEM_MAX];
	char message[160];
} gd_job_error;

/* A snapshot of one stage's counters (atomics read one by one). */
typedef struct gd_stage_metrics {
	char path[64];          /* as in gd_job_error.stage */
	gd_pipe_kind kind;
	uint64_t items_in, items_out, errors;
	uint64_t queue_len, queue_cap; /* the input edge (0/0 for a source) */
	uint64_t queue_max;     /* the most items ever seen in the input edge */
	int64_t blocked_send_ns;  /* parked sending downstream (backpressure) */
	int64_t blocked_recv_ns;  /* parked waiting for input (starved) */
	uint32_t busy;          /* goroutines holding an item right now */
	uint32_t workers;       /* goroutines of the stage (exec -j N: N) */
} gd_stage_metrics;

/* Builds the stage graph and starts it.  0 and *ret, or -ENOMEM / -EINVAL
 * (a regex the validator should have refused) / gort_go's error, with
 * nothing left running. */
int gd_job_start(const gd_pipe_spec *spec, const gd_job_opts *opts, gort_ctx *parent,
                 gd_job **ret);

/* Pushes one item into the `stdin` source (copied).  Blocks while its queue
 * is full.  0, -EPIPE once the stdin stage is gone (job over, cut short by
 * take, or feed ended), -ENOTSUP if the job has no stdin stage, -ENOMEM. */
int gd_job_feed(gd_job *job, const void *data, size_t len);
/* No more items: the stdin source ends once its queue drains.  Idempotent. */
void gd_job_feed_end(gd_job *job);

/* Cancels the job (state cancelled unless already final or failing). */
void gd_job_cancel(gd_job *job);
/* Closed once the state is final; borrowed, valid until gd_job_free. */
gort_chan *gd_job_done(gd_job *job);
/* Waits for gd_job_done and returns the final state. */
gd_job_state gd_job_wait(gd_job *job);
gd_job_state gd_job_get_state(gd_job *job);

/* Stages in depth-first order (top-level stage, then a tee's branches). */
size_t gd_job_nstages(gd_job *job);
/* 0, or -ERANGE for a bad index. */
int gd_job_stage_metrics(gd_job *job, size_t i, gd_stage_metrics *ret);

/* Errors seen (all of them), and the kept ones: 0 with *ret, or -ERANGE. */
uint64_t gd_job_nerrors(gd_job *job);
int gd_job_error_get(gd_job *job, size_t i, gd_job_error *ret);
size_t gd_job_nerrors_kept(gd_job *job);

/* Items kept by `collect` sinks, in arrival order: 0 with a copy of the
 * i-th item's address and length (valid until gd_job_free), or -ERANGE. */
size_t gd_job_ncollected(gd_job *job);
int gd_job_collected(gd_job *job, size_t i, const char **ret_data, size_t *ret_len);

/* Items that reached `count` sinks (sum over them). */
uint64_t gd_job_count(gd_job *job);

/* Frees a job whose done channel is closed; NULL is a no-op. */
void gd_job_free(gd_job *job);

/* SHA-256 of data[0..len) (FIPS 180-4), as 32 bytes. */
void gd_sha256(const void *data, size_t len, uint8_t out[32]);

#endif
