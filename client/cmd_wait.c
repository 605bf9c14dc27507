/* cmd_wait.c — `goctl wait ID`: waits until job ID is final, prints its
 * status like `goctl status`, and exits by its final state: 0 succeeded,
 * 1 failed or timed-out, 130 cancelled.  The wait itself has no time limit
 * (--timeout still bounds connecting); interrupt goctl to stop waiting —
 * the job goes on.
 */
#include "config.h"

#include "job.h"

#include <string.h>

static int exit_for_state(const msgpack_object *st)
{
	char state[32];
	gc_map_str(st, "state", state, sizeof state);
	if (strcmp(state, "succeeded") == 0)
		return GC_EXIT_OK;
	if (strcmp(state, "cancelled") == 0)
		return GC_EXIT_CANCELLED;
	if (strcmp(state, "failed") == 0 || strcmp(state, "timed-out") == 0)
		return GC_EXIT_FAILURE;
	gc_errorf("godaemon answered wait with a job that is not final (state '%s')", state);
	return GC_EXIT_FAILURE;
}

static int wait_exec(gc_ctx *ctx, const gc_args *args)
{
	uint64_t id;
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	int r = gc_job_id_call(ctx, &gc_cmd_wait, args, true, &id, &m);
	if (r)
		return r;
	r = gc_print_status(ctx, m.result);
	return r ? r : exit_for_state(m.result);
}

const gc_cmd gc_cmd_wait = {
	.name = "wait",
	.usage = "ID",
	.summary = "wait for a job to end; exit status by its final state",
	.help = "Waits until job ID is final, however long that takes (--timeout only\n"
	        "bounds connecting), then prints its status as 'goctl status' does.\n"
	        "Interrupting goctl stops the waiting, not the job.  The exit status\n"
	        "tells the job's final state: 0 succeeded, 1 failed or timed-out, 130\n"
	        "cancelled (1 also when the daemon answers with an error, e.g. no such\n"
	        "job).  With --json: the final status map as the daemon sent it.",
	.min_args = 1,
	.max_args = 1,
	.exec = wait_exec,
};
