/* cmd_submit.c — `goctl submit [--timeout D] [--fail-fast] [--queue-capacity N]
 * PIPELINE`: parses the pipeline's human form here (docs/pipelines.md),
 * so a bad spec is reported with its stage and byte position before
 * anything is sent (exit 2), then sends its wire form to `submit` and
 * prints the job id.  The daemon validates the spec again.
 */
#include "config.h"

#include "job.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "pipespec.h"

/* Parses the human form: 0 and *ret, or prints why and returns the exit code. */
static int parse_pipeline(const char *text, gd_pipe_spec **ret)
{
	size_t len = strlen(text);
	gd_pipe_error perr;
	int r = gd_pipe_parse(text, len, ret, &perr);
	if (r == -ENOMEM) {
		gc_errorf("out of memory");
		return GC_EXIT_FAILURE;
	}
	if (r < 0) {
		gc_errorf("%s (at byte %" PRIu32 ")", perr.message, perr.pos);
		return GC_EXIT_USAGE;
	}
	return 0;
}

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
	int r = gc_job_req_parse(&gc_cmd_submit, args, &q);
	if (r)
		return r;
	gd_pipe_spec *spec = NULL;
	r = parse_pipeline(args->argv[0], &spec);
	if (r)
		return r;
	q.spec = spec;
	r = submit_send(ctx, &q);
	gd_pipe_free(spec);
	return r;
}

const gc_cmd gc_cmd_submit = {
	.name = "submit",
	.usage = "[--timeout DURATION] [--fail-fast] [--queue-capacity N] PIPELINE",
	.summary = "submit a job pipeline and print its id",
	.help = "Parses PIPELINE (one argument, e.g. 'seq 1 100 | map upper | count';\n"
	        "the grammar is in pipelines.md) and submits it as a job owned by your\n"
	        "uid; prints the job's id.  A bad pipeline is reported with the stage and\n"
	        "byte position at fault and exit status 2, and nothing is submitted.  The\n"
	        "job streams nothing back: end it in collect and read the items with\n"
	        "'goctl output ID', or in count, file or discard.  When the daemon's\n"
	        "admission queue is full the submission is refused at once (exit 1).\n"
	        "With --json: {\"id\": ID}.",
	.opts = gc_job_opts,
	.min_args = 1,
	.max_args = 1,
	.exec = submit_exec,
};
