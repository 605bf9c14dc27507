/* cmd_list.c — `goctl list`: the caller's jobs (every job for root) as a
 * table of id, state and owner uid, in the daemon's order: finished ones
 * in the order they finished, then running, then queued in queue order.
 * The protocol's list result carries no pipeline text, so none is shown.
 */
#include "config.h"

#include "job.h"

#include <inttypes.h>

static int list_exec(gc_ctx *ctx, const gc_args *args)
{
	(void)args;
	_cleanup_(gc_conn_closep) gc_conn *c = NULL;
	int r = gc_connect(ctx, &c);
	if (r)
		return r;
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	r = gc_call0(c, "list", &m);
	if (r)
		return r;
	const msgpack_object *a = m.result;
	if (a->type != MSGPACK_OBJECT_ARRAY) {
		gc_errorf("godaemon's list result is not an array");
		return GC_EXIT_FAILURE;
	}
	if (ctx->json) {
		gc_json_write(stdout, a);
		putchar('\n');
		return 0;
	}
	printf("%-10s %-10s %s\n", "ID", "STATE", "UID");
	for (uint32_t i = 0; i < a->via.array.size; i++) {
		const msgpack_object *j = &a->via.array.ptr[i];
		char state[32];
		printf("%-10" PRIu64 " %-10s %" PRIu64 "\n", gc_map_u64(j, "id"),
		       gc_map_str(j, "state", state, sizeof state), gc_map_u64(j, "uid"));
	}
	return 0;
}

const gc_cmd gc_cmd_list = {
	.name = "list",
	.usage = "",
	.summary = "list your jobs and their states",
	.help = "Prints one line per job — id, state, owner uid — for your own jobs\n"
	        "(root: every job): finished jobs first in the order they finished\n"
	        "(kept for the daemon's retention), then running ones, then queued ones\n"
	        "in queue order.  With --json: an array of {\"id\", \"uid\", \"state\"}.",
	.min_args = 0,
	.max_args = 0,
	.exec = list_exec,
};
