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

#include "conf.h"
#include "pipespec.h"

enum { OPT_TIMEOUT, OPT_FAIL_FAST, OPT_QUEUE_CAPACITY };

static const gc_opt submit_opts[] = {
	[OPT_TIMEOUT] = { "timeout", 0, "DURATION",
		          "cancel the job DURATION after it starts (10s, 5m...)" },
	[OPT_FAIL_FAST] = { "fail-fast", 0, NULL, "the first error item fails the job" },
	[OPT_QUEUE_CAPACITY] = { "queue-capacity", 0, "N",
		                 "items per edge between stages (1 to 1048576)" },
	{ 0 },
};

/* What submit sends. */
typedef struct submit_req {
	const gd_pipe_spec *spec;
	int64_t timeout_ms;      /* -1: not given */
	bool fail_fast;
	uint64_t queue_capacity; /* 0: not given */
} submit_req;

static int pack_submit(msgpack_packer *pk, void *userdata)
{
	const submit_req *q = userdata;
	size_t n = (q->timeout_ms >= 0) + q->fail_fast + (q->queue_capacity > 0);
	int r = gd_pipe_pack(pk, q->spec) | msgpack_pack_map(pk, n);
	if (q->timeout_ms >= 0)
		r |= gc_pk_kv_u64(pk, "timeout", (uint64_t)q->timeout_ms);
	if (q->fail_fast)
		r |= gc_pk_str(pk, "fail_fast") | msgpack_pack_true(pk);
	if (q->queue_capacity)
		r |= gc_pk_kv_u64(pk, "queue_capacity", q->queue_capacity);
	return r ? -ENOMEM : 0;
}

static int parse_options(const gc_args *args, submit_req *q)
{
	const char *t = args->opt[OPT_TIMEOUT], *qc = args->opt[OPT_QUEUE_CAPACITY];
	int64_t ns;
	q->timeout_ms = -1;
	if (t) {
		if (gd_conf_parse_duration(t, &ns) < 0 || ns < 0)
			return gc_usage_error(&gc_cmd_submit,
			                      "invalid --timeout '%s' (e.g. 500ms, 10s, 2m; 0: none)", t);
		/* Round up: a positive timeout never becomes 0 (none). */
		q->timeout_ms = ns / 1000000 + (ns % 1000000 != 0);
	}
	q->fail_fast = args->opt[OPT_FAIL_FAST] != NULL;
	q->queue_capacity = 0;
	if (qc && gc_parse_uint(qc, 1, 1048576, &q->queue_capacity) < 0)
		return gc_usage_error(&gc_cmd_submit, "invalid --queue-capacity '%s' (1 to 1048576)",
		                      qc);
	return 0;
}

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

static int submit_send(gc_ctx *ctx, submit_req *q)
{
	_cleanup_(gc_conn_closep) gc_conn *c = NULL;
	int r = gc_connect(ctx, &c);
	if (r)
		return r;
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	gc_error err;
	if (gc_conn_call(c, "submit", 2, pack_submit, q, &m, &err) < 0) {
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
	submit_req q;
	int r = parse_options(args, &q);
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
	.opts = submit_opts,
	.min_args = 1,
	.max_args = 1,
	.exec = submit_exec,
};
