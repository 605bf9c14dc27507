/* cmd_submit.c — `goctl submit [-f FILE] [--timeout D] [--fail-fast]
 * [--queue-capacity N] [PIPELINE]`: takes the job from PIPELINE, parsed
 * here in its human form (docs/pipelines.md) so that a bad spec is reported
 * with its stage and byte position before anything is sent (exit 2), or
 * from a JSON job file (job.c, jobfile.c); sends its wire form to `submit`
 * and prints the job id.  The daemon validates the spec again.
 */
#include "config.h"

#include "job.h"

#include <inttypes.h>

static int submit_send(gc_ctx *ctx, gc_job_req *q)
{
	_cleanup_(gc_conn_closep) gc_conn *c = NULL;
	int r = gc_connect(ctx, &c);
	if (r)
		return r;
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	gc_error err;
	if (gc_conn_call(c, "submit", 2, gc_job_req_pack, q, &m, &err) < 0) {
		gc_errorf("%s", err.text);
		return err.exit_code;
	}
	const msgpack_object *id = gc_map_get(m.result, "id");
	if (!id || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		gc_errorf("godaemon's submit result has no job id");
		return GC_EXIT_FAILURE;
	}
	if (ctx->json)
		printf("{\"id\":%" PRIu64 "}\n", id->via.u64);
	else
		printf("%" PRIu64 "\n", id->via.u64);
	return 0;
}

static int submit_exec(gc_ctx *ctx, const gc_args *args)
{
	gc_job_req q;
	int r = gc_job_req_init(&gc_cmd_submit, args, &q);
	if (r)
		return r;
	r = submit_send(ctx, &q);
	gc_job_req_free(&q);
	return r;
}

const gc_cmd gc_cmd_submit = {
	.name = "submit",
	.usage = "[-f FILE] [--timeout DURATION] [--fail-fast] [--queue-capacity N] [PIPELINE]",
	.summary = "submit a job pipeline and print its id",
	.help = "Parses PIPELINE (one argument, e.g. 'seq 1 100 | map upper | count';\n"
	        "the grammar is in pipelines.md) and submits it as a job owned by your\n"
	        "uid; prints the job's id.  A bad pipeline is reported with the stage and\n"
	        "byte position at fault and exit status 2, and nothing is submitted.  The\n"
	        "job streams nothing back: end it in collect and read the items with\n"
	        "'goctl output ID', or in count, file or discard.  When the daemon's\n"
	        "admission queue is full the submission is refused at once (exit 1).\n"
	        "With -f FILE the job comes from a JSON job file instead ('-': standard\n"
	        "input): {\"pipeline\": \"...\"} or {\"spec\": [...]} (the wire form, sent\n"
	        "unchecked: the daemon validates it), with optional \"timeout\",\n"
	        "\"fail_fast\" and \"queue_capacity\", which options given here override\n"
	        "(pipelines.md, \"Job files\").  A bad job file: exit status 2.\n"
	        "With --json: {\"id\": ID}.",
	.opts = gc_job_opts,
	.min_args = 0,
	.max_args = 1,
	.exec = submit_exec,
};
