/* jobs.h — godaemon's job table and the protocol's job methods (submit,
 * run, feed, feed_end, status, list, cancel, wait, output; docs/protocol.md
 * section 8).
 *
 * The table owns every job record: an id, the submitter's identity, the
 * validated spec and, once started, the engine's gd_job (engine.h).  Jobs
 * wait in a bounded FIFO admission queue (max_queued, max_queued_per_uid)
 * and at most max_running run at once; a finished job is kept for the
 * configured retention and then freed.  Every job's context descends from
 * the daemon's root context (through the table's own, which gd_jobs_stop
 * cancels), so cancelling the root cancels every job.
 *
 * Identity: a caller sees only the jobs of its own uid, root sees all; a
 * job another user owns is reported NOT_FOUND (its existence is not
 * revealed).  When the daemon runs as root, exec children run as the
 * submitter (uid, gid, supplementary groups) with a clean environment.
 *
 * Threading: every call runs on a goroutine; the table is guarded by one
 * gort_mutex.  gd_jobs_stop after the root context has been cancelled and
 * no method call is in progress any more; then gd_jobs_free.
 */
#ifndef GD_JOBS_H
#define GD_JOBS_H

#include <sys/types.h>

#include "conf.h"
#include "gort.h"
#include "proto.h"

typedef struct gd_jobs gd_jobs;

/* Who calls a method: SO_PEERCRED's uid and gid, the context of the
 * request (wait gives up when it is cancelled) and the connection's number
 * (from 1; 0: none): only the connection that ran a job may feed it. */
typedef struct gd_caller {
	uid_t uid;
	gid_t gid;
	gort_ctx *ctx;
	uint64_t conn;
} gd_caller;

/* 0 and *ret, or -ENOMEM / gort_go's error. */
int gd_jobs_new(const gd_config *cfg, gort_ctx *root, gd_jobs **ret);
/* New limits (max running/queued, capacity, retention, kill grace). */
void gd_jobs_set_config(gd_jobs *t, const gd_config *cfg);
/* Refuses new jobs, cancels the queued ones and waits for the running ones
 * (already cancelled through the root context) and the table's goroutine. */
void gd_jobs_stop(gd_jobs *t);
/* Only after gd_jobs_stop; NULL is a no-op. */
void gd_jobs_free(gd_jobs *t);

/* The method handlers: params as checked by gd_proto_check_request; each
 * packs exactly one result object, or returns a negative errno with *err. */
int gd_jobs_submit(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                   msgpack_packer *pk, gd_proto_error *err);
int gd_jobs_status(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                   msgpack_packer *pk, gd_proto_error *err);
int gd_jobs_list(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                 msgpack_packer *pk, gd_proto_error *err);
int gd_jobs_cancel(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                   msgpack_packer *pk, gd_proto_error *err);
int gd_jobs_wait(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                 msgpack_packer *pk, gd_proto_error *err);
int gd_jobs_output(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                   msgpack_packer *pk, gd_proto_error *err);

/* ---- for the metrics method (metrics.h) ----
 * Jobs by state over the whole daemon: queued and running now, and the
 * finished ones still retained, by final state. */
typedef struct gd_jobs_totals {
	uint64_t queued, running, succeeded, failed, cancelled, timed_out;
} gd_jobs_totals;
void gd_jobs_totals_get(gd_jobs *t, gd_jobs_totals *ret);
/* Calls fn for each running job visible to who (its own; root: all), in
 * start order, outside the table's lock with a reference held on the job;
 * started_at is gort_now() when it started.  Stops at fn's first non-zero
 * return and returns it; 0, or -ENOMEM. */
struct gd_job;
typedef int (*gd_jobs_each_fn)(void *arg, uint64_t id, uid_t uid, int64_t started_at,
                               struct gd_job *job);
/* A stage entry of the status map (docs/protocol.md, "Jobs"): a map of its
 * 12 keys and `more` entries the caller packs right after. */
struct gd_stage_metrics;
int gd_jobs_pack_stage(msgpack_packer *pk, const struct gd_stage_metrics *m, uint32_t more);

int gd_jobs_each_running(gd_jobs *t, const gd_caller *who, gd_jobs_each_fn fn, void *arg);

/* What run needs from its connection (valid until gd_jobs_run returns). */
typedef struct gd_run_io {
	/* The `client` sink: one "items" notification per item (it may park
	 * for backpressure; a negative return fails the job). */
	int (*client)(void *arg, const char *data, size_t len);
	/* Writes one whole message (the "job" notification, feed answers):
	 * 0 or a negative errno (the connection is then dead or closing). */
	int (*write)(void *arg, const msgpack_sbuffer *sb);
	void *arg;
	uint32_t msgid; /* run's, echoed in the "job" notification */
} gd_run_io;

/* run: submit with the job's `client` sink bound to io->client; once
 * admitted, the "job" notification {msgid, id} is written before any item.
 * A job whose source is `stdin` takes its input from feed and feed_end
 * requests of who->conn (gd_jobs_feed), applied in arrival order by a
 * feeder goroutine of the run.  Waits for the end and packs the final
 * status.  Cancelling who->ctx (the client disconnected) cancels the job.
 * Returns only once the job is final and every feed request handed over
 * is answered, so io->arg may die right after. */
int gd_jobs_run(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                const gd_run_io *io, msgpack_packer *pk, gd_proto_error *err);

/* A feed or feed_end request (checked by gd_proto_check_request), owned by
 * the server until handed to gd_jobs_feed, which answers it exactly once,
 * at once or later from the job's feeder goroutine, through answer: with
 * r == 0, sb holds the whole response to write; else the error response
 * for *e is due.  answer then releases q (the server's). */
typedef struct gd_feed_req gd_feed_req;
struct gd_feed_req {
	gd_message msg;
	void (*answer)(gd_feed_req *q, int r, const msgpack_sbuffer *sb, const gd_proto_error *e);
	void *arg;          /* the server's */
	gd_feed_req *next;  /* jobs.c's queue of pending requests */
};

/* Takes q; never blocks (call it on the connection's reader, so that the
 * requests of a connection keep their order).  The job's feeder applies
 * the requests of one job in the order they were handed over. */
void gd_jobs_feed(gd_jobs *t, const gd_caller *who, gd_feed_req *q);

#endif
