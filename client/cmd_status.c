/* cmd_status.c — `goctl status ID`: one job's status map (state, stages
 * with their item counts and input queues, kept errors), for people or
 * with --json as the daemon sent it (docs/protocol.md, "The status map").
 */
#include "config.h"

#include "job.h"

static int status_exec(gc_ctx *ctx, const gc_args *args)
{
	uint64_t id;
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	int r = gc_job_id_call(ctx, &gc_cmd_status, args, false, &id, &m);
	return r ? r : gc_print_status(ctx, m.result);
}

const gc_cmd gc_cmd_status = {
	.name = "status",
	.usage = "ID",
	.summary = "show a job's state, stages and queues",
	.help = "Prints job ID's state (queued, running, succeeded, failed, cancelled,\n"
	        "timed-out), its owner, the items counted and collected, and per stage\n"
	        "(path, kind) the items in and out, errors, its input queue (length /\n"
	        "capacity, and the most ever seen) and its workers; then the first\n"
	        "errors kept.  Only your own jobs are visible (root sees all); another\n"
	        "user's job is reported as not found.  With --json: the status map as\n"
	        "the daemon sent it (protocol.md, section \"Jobs\").",
	.min_args = 1,
	.max_args = 1,
	.exec = status_exec,
};
