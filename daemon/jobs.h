/* jobs.h — godaemon's job table and the protocol's job methods (submit,
 * status, list, cancel, wait, output; docs/protocol.md section 8).
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

/* Who calls a method: SO_PEERCRED's uid and gid, and the context of the
 * request (wait gives up when it is cancelled). */
typedef struct gd_caller {
	uid_t uid;
	gid_t gid;
	gort_ctx *ctx;
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

#endif
