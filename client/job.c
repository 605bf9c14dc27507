/* job.c — helpers of goctl's job commands (job.h): the id argument, one-id
 * calls, map lookups, the status map for people, and the job request of
 * submit and run (options, the PIPELINE argument or a job file, packing).
 * Result maps are read defensively: a missing key or one of another type
 * reads as 0 or "", so a daemon adding keys, or dropping optional ones,
 * never crashes goctl.  A job file's spec is sent without a local check:
 * validating specs is the daemon's job (jobfile.h).
 */
#include "config.h"

#include "job.h"

#include "jobfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int gc_job_id_arg(const gc_cmd *cmd, const char *s, uint64_t *id)
{
	if (gc_parse_uint(s, 1, UINT64_MAX, id) < 0)
		return gc_usage_error(cmd, "invalid job id '%s' (a positive integer)", s);
	return 0;
}

static int pack_id(msgpack_packer *pk, void *userdata)
{
	return msgpack_pack_uint64(pk, *(const uint64_t *)userdata) ? -ENOMEM : 0;
}

int gc_call_id(gc_conn *c, const char *method, uint64_t id, gd_message *ret)
{
	gc_error err;
	if (gc_conn_call(c, method, 1, pack_id, &id, ret, &err) < 0) {
		gc_errorf("%s", err.text);
		return err.exit_code;
	}
	return 0;
}

int gc_job_id_call(const gc_ctx *ctx, const gc_cmd *cmd, const gc_args *args, bool patient,
                   uint64_t *id, gd_message *ret)
{
	int r = gc_job_id_arg(cmd, args->argv[0], id);
	if (r)
		return r;
	_cleanup_(gc_conn_closep) gc_conn *c = NULL;
	r = gc_connect(ctx, &c);
	if (r)
		return r;
	if (patient)
		gc_conn_set_timeout(c, 0);
	return gc_call_id(c, cmd->name, *id, ret);
}

const msgpack_object *gc_map_get(const msgpack_object *o, const char *key)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return NULL;
	size_t len = strlen(key);
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
		    memcmp(k->via.str.ptr, key, len) == 0)
			return &o->via.map.ptr[i].val;
	}
	return NULL;
}

uint64_t gc_map_u64(const msgpack_object *o, const char *key)
{
	const msgpack_object *v = gc_map_get(o, key);
	return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
}

const char *gc_map_str(const msgpack_object *o, const char *key, char *buf, size_t size)
{
	const msgpack_object *v = gc_map_get(o, key);
	size_t n = 0;
	if (v && v->type == MSGPACK_OBJECT_STR) {
		n = v->via.str.size < size - 1 ? v->via.str.size : size - 1;
		memcpy(buf, v->via.str.ptr, n);
	}
	buf[n] = '\0';
	return buf;
}

/* One row per stage: path, kind, items in/out, errors, input queue. */
static void print_stages(const msgpack_object *stages)
{
	if (!stages || stages->type != MSGPACK_OBJECT_ARRAY || stages->via.array.size == 0)
		return;
	printf("\n%-8s %-8s %12s %12s %8s %10s %9s %8s\n", "STAGE", "KIND", "IN", "OUT", "ERRORS",
	       "QUEUE", "QUEUE-MAX", "WORKERS");
	for (uint32_t i = 0; i < stages->via.array.size; i++) {
		const msgpack_object *s = &stages->via.array.ptr[i];
		char path[32], kind[32], queue[48];
		snprintf(queue, sizeof queue, "%" PRIu64 "/%" PRIu64, gc_map_u64(s, "queue_len"),
		         gc_map_u64(s, "queue_cap"));
		printf("%-8s %-8s %12" PRIu64 " %12" PRIu64 " %8" PRIu64 " %10s %9" PRIu64
		       " %8" PRIu64 "\n",
		       gc_map_str(s, "path", path, sizeof path), gc_map_str(s, "stage", kind, sizeof kind),
		       gc_map_u64(s, "items_in"), gc_map_u64(s, "items_out"), gc_map_u64(s, "errors"),
		       queue, gc_map_u64(s, "queue_max"), gc_map_u64(s, "workers"));
	}
}

/* An item (any bytes) quoted for a terminal: printable ASCII as it is,
 * quotes and backslashes escaped, every other byte as \xNN. */
static void print_quoted(FILE *f, const msgpack_object *o)
{
	const char *p = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.ptr : o->via.str.ptr;
	uint32_t n = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.size : o->via.str.size;
	fputc('"', f);
	for (uint32_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch >= 0x20 && ch < 0x7f)
			fputc(ch, f);
		else
			fprintf(f, "\\x%02x", ch);
	}
	fputc('"', f);
}

void gc_print_errors(FILE *f, const msgpack_object *errors, const char *indent)
{
	if (!errors || errors->type != MSGPACK_OBJECT_ARRAY)
		return;
	for (uint32_t i = 0; i < errors->via.array.size; i++) {
		const msgpack_object *e = &errors->via.array.ptr[i];
		const msgpack_object *item = gc_map_get(e, "item");
		char stage[32], msg[512];
		fprintf(f, "%sstage %s: %s", indent, gc_map_str(e, "stage", stage, sizeof stage),
		        gc_map_str(e, "message", msg, sizeof msg));
		if (item && (item->type == MSGPACK_OBJECT_BIN || item->type == MSGPACK_OBJECT_STR)) {
			fputs(" (item ", f);
			print_quoted(f, item);
			fputc(')', f);
		}
		fputc('\n', f);
	}
}

/* The kept errors: stage, message, and the item that caused each. */
static void print_errors(const msgpack_object *errors)
{
	if (!errors || errors->type != MSGPACK_OBJECT_ARRAY || errors->via.array.size == 0)
		return;
	printf("\nfirst errors:\n");
	gc_print_errors(stdout, errors, "  ");
}

int gc_print_status(const gc_ctx *ctx, const msgpack_object *st)
{
	if (st->type != MSGPACK_OBJECT_MAP) {
		gc_errorf("godaemon's job status is not a map");
		return GC_EXIT_FAILURE;
	}
	if (ctx->json) {
		gc_json_write(stdout, st);
		putchar('\n');
		return 0;
	}
	char state[32], why[512];
	printf("job %" PRIu64 ": %s (uid %" PRIu64 ")\n", gc_map_u64(st, "id"),
	       gc_map_str(st, "state", state, sizeof state), gc_map_u64(st, "uid"));
	if (gc_map_str(st, "start_error", why, sizeof why)[0])
		printf("start error: %s\n", why);
	printf("counted %" PRIu64 ", collected %" PRIu64 ", errors %" PRIu64 "\n",
	       gc_map_u64(st, "count"), gc_map_u64(st, "collected"), gc_map_u64(st, "errors_total"));
	print_stages(gc_map_get(st, "stages"));
	print_errors(gc_map_get(st, "errors"));
	return 0;
}

const gc_opt gc_job_opts[] = {
	[GC_JOB_OPT_TIMEOUT] = { "timeout", 0, "DURATION",
		                 "cancel the job DURATION after it starts (10s, 5m...)" },
	[GC_JOB_OPT_FAIL_FAST] = { "fail-fast", 0, NULL, "the first error item fails the job" },
	[GC_JOB_OPT_QUEUE_CAPACITY] = { "queue-capacity", 0, "N",
		                        "items per edge between stages (1 to 1048576)" },
	[GC_JOB_OPT_FILE] = { "file", 'f', "FILE", "read the job from a JSON job file (-: stdin)" },
	{ 0 },
};

/* The options given on the command line, into *q (left as they are when
 * absent): 0, or prints cmd's usage error and returns its exit code. */
static int parse_options(const gc_cmd *cmd, const gc_args *args, gc_job_req *q)
{
	const char *t = args->opt[GC_JOB_OPT_TIMEOUT], *qc = args->opt[GC_JOB_OPT_QUEUE_CAPACITY];
	if (t && gc_duration_ms(t, &q->timeout_ms) < 0)
		return gc_usage_error(cmd, "invalid --timeout '%s' (e.g. 500ms, 10s, 2m; 0: none)", t);
	if (args->opt[GC_JOB_OPT_FAIL_FAST])
		q->fail_fast = true;
	if (qc && gc_parse_uint(qc, 1, 1048576, &q->queue_capacity) < 0)
		return gc_usage_error(cmd, "invalid --queue-capacity '%s' (1 to 1048576)", qc);
	return 0;
}

/* Parses the human form: 0 and *ret, or prints why (after "FILE:
 * \"pipeline\": " for a job file's) and returns the exit code. */
static int parse_pipeline(const char *file, const char *text, gd_pipe_spec **ret)
{
	gd_pipe_error perr;
	int r = gd_pipe_parse(text, strlen(text), ret, &perr);
	if (r == -ENOMEM) {
		gc_errorf("out of memory");
		return GC_EXIT_FAILURE;
	}
	if (r < 0 && file)
		gc_errorf("%s: \"pipeline\": %s (at byte %" PRIu32 ")", file, perr.message, perr.pos);
	else if (r < 0)
		gc_errorf("%s (at byte %" PRIu32 ")", perr.message, perr.pos);
	return r < 0 ? GC_EXIT_USAGE : 0;
}

/* The job file at path into *q: its options, and its pipeline parsed or
 * its spec's wire form.  0, or prints why and returns the exit code. */
static int load_job_file(const char *path, gc_job_req *q)
{
	gc_jobfile jf;
	char msg[1024];
	int r = gc_jobfile_load(path, &jf, msg, sizeof msg);
	if (r < 0) {
		gc_errorf("%s", msg);
		return r == -ENOMEM ? GC_EXIT_FAILURE : GC_EXIT_USAGE;
	}
	q->timeout_ms = jf.timeout_ms;
	q->fail_fast = jf.fail_fast == 1;
	q->queue_capacity = jf.queue_capacity;
	q->wire = jf.wire, q->wire_len = jf.wire_len;
	jf.wire = NULL; /* handed to q */
	if (jf.pipeline)
		r = parse_pipeline(gc_jobfile_name(path), jf.pipeline, &q->spec);
	gc_jobfile_free(&jf);
	return r;
}

/* The options and, with -f, the job file; without -f, spec and wire stay
 * NULL.  Returns as gc_job_req_init. */
static int job_req_parse(const gc_cmd *cmd, const gc_args *args, gc_job_req *q)
{
	const char *file = args->opt[GC_JOB_OPT_FILE];
	gc_job_req cli = { .timeout_ms = -1 };
	*q = (gc_job_req){ .timeout_ms = -1 };
	int r = parse_options(cmd, args, &cli);
	if (r)
		return r;
	if (file && args->argc > 0)
		return gc_usage_error(cmd, "the pipeline is given both as an argument and in a job "
		                      "file (-f %s): give one", file);
	if (file && (r = load_job_file(file, q)) != 0) {
		gc_job_req_free(q);
		return r;
	}
	/* The command line overrides the job file. */
	if (cli.timeout_ms >= 0)
		q->timeout_ms = cli.timeout_ms;
	q->fail_fast = q->fail_fast || cli.fail_fast;
	if (cli.queue_capacity)
		q->queue_capacity = cli.queue_capacity;
	return 0;
}

/* The job runs in goctl's directory: without it relative paths would
 * resolve against the daemon's (/ under systemd). */
static void job_req_cwd(gc_job_req *q)
{
	q->cwd = getcwd(NULL, 0);
	if (!q->cwd)
		gc_errorf("warning: cannot read the current directory (%s): relative paths in "
		          "the pipeline will resolve against godaemon's", strerror(errno));
}

int gc_job_req_init(const gc_cmd *cmd, const gc_args *args, gc_job_req *q)
{
	int r = job_req_parse(cmd, args, q);
	if (r == 0 && !args->opt[GC_JOB_OPT_FILE]) {
		if (args->argc < 1)
			return gc_usage_error(cmd, "%s: missing argument: the pipeline (or -f FILE)",
			                      cmd->name);
		r = parse_pipeline(NULL, args->argv[0], &q->spec);
	}
	if (r == 0)
		job_req_cwd(q);
	return r;
}

void gc_job_req_free(gc_job_req *q)
{
	gd_pipe_free(q->spec);
	free(q->wire);
	free(q->cwd);
	q->spec = NULL;
	q->wire = NULL;
	q->cwd = NULL;
	q->wire_len = 0;
}

int gc_job_req_pack(msgpack_packer *pk, void *userdata)
{
	const gc_job_req *q = userdata;
	size_t n = (q->timeout_ms >= 0) + q->fail_fast + (q->queue_capacity > 0) + !!q->cwd;
	/* A job file's spec goes out byte for byte as its file said. */
	int r = q->wire ? pk->callback(pk->data, q->wire, q->wire_len) : gd_pipe_pack(pk, q->spec);
	r |= msgpack_pack_map(pk, n);
	if (q->timeout_ms >= 0)
		r |= gc_pk_kv_u64(pk, "timeout", (uint64_t)q->timeout_ms);
	if (q->fail_fast)
		r |= gc_pk_str(pk, "fail_fast") | msgpack_pack_true(pk);
	if (q->queue_capacity)
		r |= gc_pk_kv_u64(pk, "queue_capacity", q->queue_capacity);
	if (q->cwd)
		r |= gc_pk_str(pk, "cwd") | gc_pk_str(pk, q->cwd);
	return r ? -ENOMEM : 0;
}
