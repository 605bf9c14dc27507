/* cmd_run.c — `goctl run [--timeout D] [--fail-fast] [--queue-capacity N]
 * PIPELINE`: parses the pipeline like submit (a pipeline that does not end
 * in a sink gets `| client`), calls `run` and writes every item of the
 * "items" notifications to stdout, one per line (bytes as they are), until
 * the final status arrives.  SIGINT and SIGTERM shut the socket down from
 * the handler: the daemon sees the client go and cancels the job; goctl
 * exits 130.  Exit: 0 succeeded, 1 failed or timed out, 130 cancelled.
 * Not done: feeding goctl's stdin to a `stdin` source (it gets no items)
 * and the progress line on a terminal.
 */
#include "config.h"

#include "job.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pipespec.h"

/* The socket while a run is in progress (-1 otherwise), for the handler. */
static volatile sig_atomic_t run_fd = -1;
static volatile sig_atomic_t run_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	run_interrupted = 1;
	if (run_fd >= 0)
		(void)shutdown(run_fd, SHUT_RDWR);
}

/* Parses text, or text + " | client" when text lacks a sink: 0 and *ret,
 * or prints the error of text itself and returns the exit code. */
static int parse_pipeline(const char *text, gd_pipe_spec **ret)
{
	gd_pipe_error perr, perr2;
	size_t len = strlen(text);
	int r = gd_pipe_parse(text, len, ret, &perr);
	if (r == -EINVAL) {
		char *with = malloc(len + sizeof " | client");
		if (!with)
			r = -ENOMEM;
		else {
			memcpy(with, text, len);
			memcpy(with + len, " | client", sizeof " | client");
			if (gd_pipe_parse(with, strlen(with), ret, &perr2) == 0)
				r = 0;
			free(with);
		}
	}
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

/* "items": [[bin...]] to stdout, one item per line. */
static int on_items(void *arg, const gd_message *m, gc_error *err)
{
	(void)arg;
	if (m->method != GD_METHOD_ITEMS)
		return 0;
	const msgpack_object *p = m->params;
	if (p->via.array.size < 1 || p->via.array.ptr[0].type != MSGPACK_OBJECT_ARRAY)
		return gc_fail(err, -EPROTO, GC_EXIT_FAILURE, "godaemon sent malformed items");
	const msgpack_object *a = &p->via.array.ptr[0];
	for (uint32_t i = 0; i < a->via.array.size; i++) {
		const msgpack_object *o = &a->via.array.ptr[i];
		if (o->type != MSGPACK_OBJECT_BIN)
			return gc_fail(err, -EPROTO, GC_EXIT_FAILURE, "godaemon sent a non-bin item");
		if (fwrite(o->via.bin.ptr, 1, o->via.bin.size, stdout) != o->via.bin.size ||
		    putchar('\n') == EOF)
			return gc_fail(err, -EIO, GC_EXIT_FAILURE, "cannot write to stdout: %s",
			               strerror(errno));
	}
	return 0;
}

static int exit_for(const msgpack_object *st)
{
	char state[32];
	gc_map_str(st, "state", state, sizeof state);
	if (strcmp(state, "succeeded") == 0)
		return 0;
	if (strcmp(state, "cancelled") == 0)
		return GC_EXIT_CANCELLED;
	gc_errorf("the job %s", state);
	return GC_EXIT_FAILURE;
}

static int run_send(gc_ctx *ctx, gc_job_req *q)
{
	_cleanup_(gc_conn_closep) gc_conn *c = NULL;
	int r = gc_connect(ctx, &c);
	if (r)
		return r;
	gc_conn_set_timeout(c, 0);
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	run_fd = gc_conn_fd(c);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	gc_error err;
	r = gc_conn_call_notify(c, "run", 2, gc_job_req_pack, q, on_items, NULL, &m, &err);
	run_fd = -1;
	if (fflush(stdout) != 0 && r == 0) {
		gc_errorf("cannot write to stdout: %s", strerror(errno));
		return GC_EXIT_FAILURE;
	}
	if (run_interrupted)
		return GC_EXIT_CANCELLED;
	if (r < 0) {
		gc_errorf("%s", err.text);
		return err.exit_code;
	}
	return exit_for(m.result);
}

static int run_exec(gc_ctx *ctx, const gc_args *args)
{
	gc_job_req q;
	int r = gc_job_req_parse(&gc_cmd_run, args, &q);
	if (r)
		return r;
	r = parse_pipeline(args->argv[0], &q.spec);
	if (r)
		return r;
	r = run_send(ctx, &q);
	gd_pipe_free(q.spec);
	return r;
}

const gc_cmd gc_cmd_run = {
	.name = "run",
	.usage = "[--timeout DURATION] [--fail-fast] [--queue-capacity N] PIPELINE",
	.summary = "run a job pipeline and stream its client sink's items to stdout",
	.help = "Parses PIPELINE like submit; when it does not end in a sink, '| client'\n"
	        "is added.  The daemon runs it as a job owned by your uid and streams\n"
	        "every item reaching a client sink back: goctl writes each to stdout\n"
	        "followed by a newline, bytes as they are.  A slow reader slows the\n"
	        "pipeline down (backpressure).  Ctrl-C (SIGINT) or SIGTERM, or goctl\n"
	        "going away, cancels the job.  Exit status: 0 succeeded, 1 failed or\n"
	        "timed out, 2 usage, 3 daemon unreachable, 130 cancelled.\n"
	        "Not done yet: goctl's stdin is not fed to a 'stdin' source (it ends\n"
	        "at once), and there is no progress line.",
	.opts = gc_job_opts,
	.min_args = 1,
	.max_args = 1,
	.exec = run_exec,
};
