/* cmd_cancel.c — `goctl cancel ID`: asks the daemon to cancel job ID and
 * prints the state it answers: "cancelled" for a job that was queued,
 * "running" for one told to stop (its goroutines end and its children are
 * killed; `goctl wait ID` tells when it is final), the final state of a
 * job already finished.
 */
#include "config.h"

#include "job.h"

#include <inttypes.h>
#include <string.h>

static int cancel_exec(gc_ctx *ctx, const gc_args *args)
{
	uint64_t id;
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	int r = gc_job_id_call(ctx, &gc_cmd_cancel, args, false, &id, &m);
	if (r)
		return r;
	if (m.result->type != MSGPACK_OBJECT_MAP) {
		gc_errorf("godaemon's cancel result is not a map");
		return GC_EXIT_FAILURE;
	}
	if (ctx->json) {
		gc_json_write(stdout, m.result);
		putchar('\n');
		return 0;
	}
	char state[32];
	gc_map_str(m.result, "state", state, sizeof state);
	printf("job %" PRIu64 ": %s%s\n", id, state,
	       strcmp(state, "running") == 0 ? " (stopping)" : "");
	return 0;
}

const gc_cmd gc_cmd_cancel = {
	.name = "cancel",
	.usage = "ID",
	.summary = "cancel a job",
	.help = "Cancels job ID and prints the state the daemon answers: a queued job\n"
	        "is cancelled at once; a running one is told to stop and still shows\n"
	        "'running (stopping)' — its goroutines end and its child processes get\n"
	        "SIGTERM, then SIGKILL after the daemon's kill grace; 'goctl wait ID'\n"
	        "returns once it is final.  A finished job is left as it is and its\n"
	        "state printed.  With --json: {\"id\": ID, \"state\": STATE}.",
	.min_args = 1,
	.max_args = 1,
	.exec = cancel_exec,
};
