/* cmd_metrics.c — `goctl metrics [--json|--prometheus]`: one snapshot from
 * the daemon's metrics method (docs/protocol.md, "metrics"): the caller's
 * running jobs with their stages' counters, the daemon's jobs by state and
 * the stats result.
 *
 * Three renderings of the same result: a table per job plus the totals
 * (default); the result as JSON (--json); or the Prometheus text
 * exposition format (--prometheus), one metric family at a time, each with
 * its # HELP and # TYPE lines, for the node exporter's textfile collector.
 * Metric names and their meaning are fixed by the tables below; label
 * values are escaped as the format requires (\\, \" and \n).
 *
 * With --watch the daemon's watch method pushes a snapshot every
 * --interval (watchcall.h): the table is redrawn (the screen cleared first
 * on a terminal; otherwise tables follow one another, a blank line
 * between), or one JSON object per line (JSON Lines) with --json.
 * --prometheus with --watch is a usage error: an exposition is one scrape,
 * and a textfile collector wants one per file.  SIGINT (Ctrl-C) and
 * SIGTERM end a watch normally (exit 0): the handler shuts the socket down
 * and the daemon ends the watch when it sees the client go. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "goctl.h"
#include "job.h"
#include "watchcall.h"

enum { OPT_PROMETHEUS, OPT_WATCH, OPT_INTERVAL, OPT_COUNT };

static const gc_opt metrics_opts[] = {
	[OPT_PROMETHEUS] = {"prometheus", 0, NULL, "Prometheus text exposition format"},
	[OPT_WATCH] = {"watch", 'w', NULL, "print a snapshot every interval until Ctrl-C"},
	[OPT_INTERVAL] = {"interval", 'd', "DURATION",
	                  "watch: time between snapshots (100ms..1h, default 1s)"},
	[OPT_COUNT] = {"count", 'n', "N", "watch: stop after N snapshots (default 0: never)"},
	{NULL, 0, NULL, NULL},
};

/* One metric family: its name, the result key it comes from, its type,
 * help text, and the factor turning the wire value into the metric's unit. */
typedef struct metric_def {
	const char *name, *key, *type, *help;
	double scale;
} metric_def;

static const metric_def stage_defs[] = {
	{"godaemon_job_stage_items_in_total", "items_in", "counter",
	 "Items a stage of a running job received.", 1},
	{"godaemon_job_stage_items_out_total", "items_out", "counter",
	 "Items a stage of a running job emitted.", 1},
	{"godaemon_job_stage_errors_total", "errors", "counter",
	 "Errors a stage of a running job reported.", 1},
	{"godaemon_job_stage_queue_length", "queue_len", "gauge",
	 "Items waiting in the stage's input queue.", 1},
	{"godaemon_job_stage_queue_capacity", "queue_cap", "gauge",
	 "Capacity of the stage's input queue.", 1},
	{"godaemon_job_stage_queue_max", "queue_max", "gauge",
	 "Most items ever seen in the stage's input queue.", 1},
	{"godaemon_job_stage_blocked_send_seconds_total", "blocked_send_ns", "counter",
	 "Time the stage spent blocked sending downstream (backpressure).", 1e-9},
	{"godaemon_job_stage_blocked_receive_seconds_total", "blocked_recv_ns", "counter",
	 "Time the stage spent blocked waiting for input.", 1e-9},
	{"godaemon_job_stage_busy_workers", "busy", "gauge",
	 "Goroutines of the stage holding an item now.", 1},
	{"godaemon_job_stage_workers", "workers", "gauge", "Goroutines of the stage.", 1},
	{"godaemon_job_stage_items_in_per_second", "in_per_sec", "gauge",
	 "Items received per second since the job started.", 1},
	{"godaemon_job_stage_items_out_per_second", "out_per_sec", "gauge",
	 "Items emitted per second since the job started.", 1},
};

static const metric_def daemon_defs[] = {
	{"godaemon_connections", "connections", "gauge", "Client connections open.", 1},
	{"godaemon_connections_accepted_total", "connections_total", "counter",
	 "Client connections accepted since the daemon started.", 1},
	{"godaemon_requests_total", "requests", "counter",
	 "Requests received since the daemon started.", 1},
	{"godaemon_errors_total", "errors", "counter",
	 "Error responses and notifications sent since the daemon started.", 1},
};

static const metric_def runtime_defs[] = {
	{"godaemon_runtime_goroutines", "goroutines_live", "gauge", "Goroutines alive.", 1},
	{"godaemon_runtime_goroutines_created_total", "goroutines_created", "counter",
	 "Goroutines created since the daemon started.", 1},
	{"godaemon_runtime_context_switches_total", "context_switches", "counter",
	 "Goroutine context switches.", 1},
	{"godaemon_runtime_steals_total", "steals", "counter", "Work-stealing successes.", 1},
	{"godaemon_runtime_parks_total", "parks", "counter", "Goroutine parks.", 1},
	{"godaemon_runtime_stacks_cached", "stacks_cached", "gauge",
	 "Goroutine stacks cached for reuse.", 1},
	{"godaemon_runtime_stacks_mapped", "stacks_mapped", "gauge",
	 "Goroutine stacks mapped.", 1},
	{"godaemon_runtime_procs", "procs", "gauge", "Scheduler processors (P).", 1},
	{"godaemon_runtime_threads", "threads", "gauge", "Worker threads (M).", 1},
	{"godaemon_runtime_global_runq_length", "global_runq_len", "gauge",
	 "Goroutines in the global run queue.", 1},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static double num(const msgpack_object *v)
{
	if (!v)
		return 0;
	switch (v->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)v->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double)v->via.i64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return v->via.f64;
	default: return 0;
	}
}

/* A label value (a string, or an unsigned integer) with \\, " and newline
 * escaped; anything else is an empty value. */
static void label_value(FILE *f, const msgpack_object *v)
{
	char buf[24];
	const char *s = "";
	size_t n = 0;
	if (v && v->type == MSGPACK_OBJECT_STR) {
		s = v->via.str.ptr;
		n = v->via.str.size;
	} else if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		n = (size_t)snprintf(buf, sizeof buf, "%" PRIu64, v->via.u64);
		s = buf;
	}
	putc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' || s[i] == '"')
			fprintf(f, "\\%c", s[i]);
		else if (s[i] == '\n')
			fputs("\\n", f);
		else
			putc(s[i], f);
	}
	putc('"', f);
}

static void sample(FILE *f, const metric_def *d, const msgpack_object *from)
{
	const msgpack_object *v = gc_map_get(from, d->key);
	if (d->scale == 1 && v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		fprintf(f, " %" PRIu64 "\n", v->via.u64);
	else
		fprintf(f, " %.17g\n", num(v) * d->scale);
}

static void family(FILE *f, const metric_def *d)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name, d->type);
}

static void prom_stages(FILE *f, const msgpack_object *jobs)
{
	for (size_t k = 0; k < NELEM(stage_defs); k++) {
		family(f, &stage_defs[k]);
		for (uint32_t j = 0; jobs && j < jobs->via.array.size; j++) {
			const msgpack_object *job = &jobs->via.array.ptr[j];
			const msgpack_object *st = gc_map_get(job, "stages");
			for (uint32_t i = 0; st && st->type == MSGPACK_OBJECT_ARRAY &&
			                     i < st->via.array.size; i++) {
				const msgpack_object *s = &st->via.array.ptr[i];
				fprintf(f, "%s{job=", stage_defs[k].name);
				label_value(f, gc_map_get(job, "id"));
				fputs(",stage=", f);
				label_value(f, gc_map_get(s, "path"));
				fputs(",kind=", f);
				label_value(f, gc_map_get(s, "stage"));
				putc('}', f);
				sample(f, &stage_defs[k], s);
			}
		}
	}
}

static void prom_flat(FILE *f, const metric_def *defs, size_t n, const msgpack_object *from)
{
	for (size_t k = 0; k < n; k++) {
		family(f, &defs[k]);
		fputs(defs[k].name, f);
		sample(f, &defs[k], from);
	}
}

static void prom_totals(FILE *f, const msgpack_object *res)
{
	static const char *const states[] = {"queued",    "running",  "succeeded",
	                                     "failed",    "cancelled", "timed-out"};
	const msgpack_object *by = gc_map_get(res, "jobs_by_state");
	fputs("# HELP godaemon_jobs Jobs by state (finished ones: those still retained).\n"
	      "# TYPE godaemon_jobs gauge\n", f);
	for (size_t i = 0; i < NELEM(states); i++)
		fprintf(f, "godaemon_jobs{state=\"%s\"} %" PRIu64 "\n", states[i],
		        by ? gc_map_u64(by, states[i]) : 0);
	fprintf(f, "# HELP godaemon_admission_queue_length Jobs waiting to run.\n"
	        "# TYPE godaemon_admission_queue_length gauge\n"
	        "godaemon_admission_queue_length %" PRIu64 "\n", gc_map_u64(res, "admission_queue"));
}

static void prom_runq(FILE *f, const msgpack_object *rt)
{
	const msgpack_object *q = gc_map_get(rt, "runq_len");
	fputs("# HELP godaemon_runtime_runq_length Goroutines in each processor's run queue.\n"
	      "# TYPE godaemon_runtime_runq_length gauge\n", f);
	for (uint32_t i = 0; q && q->type == MSGPACK_OBJECT_ARRAY && i < q->via.array.size; i++)
		fprintf(f, "godaemon_runtime_runq_length{proc=\"%" PRIu32 "\"} %.17g\n", i,
		        num(&q->via.array.ptr[i]));
}

static int print_prometheus(const msgpack_object *res)
{
	const msgpack_object *jobs = gc_map_get(res, "jobs");
	const msgpack_object *stats = gc_map_get(res, "stats");
	const msgpack_object *rt = stats ? gc_map_get(stats, "runtime") : NULL;
	const msgpack_object *dm = stats ? gc_map_get(stats, "daemon") : NULL;
	if (!jobs || jobs->type != MSGPACK_OBJECT_ARRAY || !rt || !dm) {
		gc_errorf("godaemon's metrics result lacks jobs or stats");
		return GC_EXIT_FAILURE;
	}
	prom_stages(stdout, jobs);
	prom_totals(stdout, res);
	prom_flat(stdout, daemon_defs, NELEM(daemon_defs), dm);
	prom_flat(stdout, runtime_defs, NELEM(runtime_defs), rt);
	prom_runq(stdout, rt);
	return fflush(stdout) == 0 ? 0 : GC_EXIT_FAILURE;
}

/* Nanoseconds as seconds with one decimal ("12.3s"). */
static const char *secs(char *buf, size_t size, uint64_t ns)
{
	snprintf(buf, size, "%.1fs", (double)ns / 1e9);
	return buf;
}

static void human_stage(const msgpack_object *s)
{
	char path[64], kind[32], q[48], bs[32], br[32], busy[24];
	const msgpack_object *rate = gc_map_get(s, "out_per_sec");
	snprintf(q, sizeof q, "%" PRIu64 "/%" PRIu64, gc_map_u64(s, "queue_len"),
	         gc_map_u64(s, "queue_cap"));
	snprintf(busy, sizeof busy, "%" PRIu64 "/%" PRIu64, gc_map_u64(s, "busy"),
	         gc_map_u64(s, "workers"));
	printf("  %-8s %-8s %12" PRIu64 " %12" PRIu64 " %7" PRIu64 " %11s %6" PRIu64
	       " %9s %9s %7s %11.1f\n",
	       gc_map_str(s, "path", path, sizeof path), gc_map_str(s, "stage", kind, sizeof kind),
	       gc_map_u64(s, "items_in"), gc_map_u64(s, "items_out"), gc_map_u64(s, "errors"), q,
	       gc_map_u64(s, "queue_max"), secs(bs, sizeof bs, gc_map_u64(s, "blocked_send_ns")),
	       secs(br, sizeof br, gc_map_u64(s, "blocked_recv_ns")), busy, num(rate));
}

static void human_jobs(const msgpack_object *jobs)
{
	char el[32];
	for (uint32_t j = 0; j < jobs->via.array.size; j++) {
		const msgpack_object *job = &jobs->via.array.ptr[j];
		const msgpack_object *st = gc_map_get(job, "stages");
		printf("job %" PRIu64 "  uid %" PRIu64 "  running for %s\n", gc_map_u64(job, "id"),
		       gc_map_u64(job, "uid"), secs(el, sizeof el, gc_map_u64(job, "elapsed_ns")));
		printf("  %-8s %-8s %12s %12s %7s %11s %6s %9s %9s %7s %11s\n", "STAGE", "KIND", "IN",
		       "OUT", "ERRORS", "QUEUE", "MAX", "BLK-SEND", "BLK-RECV", "BUSY", "OUT/S");
		for (uint32_t i = 0; st && st->type == MSGPACK_OBJECT_ARRAY && i < st->via.array.size;
		     i++)
			human_stage(&st->via.array.ptr[i]);
		putchar('\n');
	}
	if (jobs->via.array.size == 0)
		printf("no running jobs\n\n");
}

static int print_human(const msgpack_object *res)
{
	const msgpack_object *jobs = gc_map_get(res, "jobs");
	const msgpack_object *by = gc_map_get(res, "jobs_by_state");
	const msgpack_object *stats = gc_map_get(res, "stats");
	if (!jobs || jobs->type != MSGPACK_OBJECT_ARRAY || !by || !stats) {
		gc_errorf("godaemon's metrics result lacks jobs, jobs_by_state or stats");
		return GC_EXIT_FAILURE;
	}
	human_jobs(jobs);
	gc_table t;
	gc_table_init(&t);
	gc_table_heading(&t, "jobs_by_state");
	gc_table_object(&t, 2, by);
	gc_table_row(&t, 0, "admission_queue", "%" PRIu64, gc_map_u64(res, "admission_queue"));
	gc_table_object(&t, 0, stats);
	int r = gc_print_table(&t);
	gc_table_destroy(&t);
	return r;
}

/* ---- --watch ------------------------------------------------------------------ */

/* The socket while a watch runs (-1 otherwise), for the signal handler. */
static volatile sig_atomic_t watch_fd = -1;
static volatile sig_atomic_t watch_stopped;

static void on_stop(int sig)
{
	(void)sig;
	watch_stopped = 1;
	if (watch_fd >= 0)
		(void)shutdown(watch_fd, SHUT_RDWR);
}

typedef struct watch_out {
	bool json, tty;
	uint64_t shown;
} watch_out;

static int on_snapshot(void *arg, const msgpack_object *snap, gc_error *err)
{
	watch_out *o = arg;
	if (o->json) {
		gc_json_write(stdout, snap);
		putchar('\n');
	} else {
		if (o->tty)
			fputs("\033[H\033[2J", stdout); /* home, clear the screen */
		else if (o->shown)
			putchar('\n');
		if (print_human(snap) != 0)
			return gc_fail(err, -EPROTO, GC_EXIT_FAILURE, "cannot show the snapshot");
	}
	o->shown++;
	if (fflush(stdout) != 0)
		return gc_fail(err, -EIO, GC_EXIT_FAILURE, "cannot write to stdout: %s",
		               strerror(errno));
	return 0;
}

static int metrics_watch(gc_conn *c, bool json, uint64_t interval_ms, uint64_t count)
{
	watch_out o = {json, !json && isatty(STDOUT_FILENO), 0};
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	watch_fd = gc_conn_fd(c);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	gc_error err;
	int r = gc_watch_call(c, interval_ms, count, on_snapshot, &o, &err);
	watch_fd = -1;
	if (watch_stopped)
		return 0;
	if (r < 0) {
		gc_errorf("%s", err.text);
		return err.exit_code;
	}
	return 0;
}

static int metrics_exec(gc_ctx *ctx, const gc_args *args)
{
	bool prom = args->opt[OPT_PROMETHEUS] != NULL;
	bool watch = args->opt[OPT_WATCH] != NULL;
	uint64_t interval_ms, count;
	if (prom && ctx->json)
		return gc_usage_error(&gc_cmd_metrics, "--json and --prometheus exclude each other");
	if (prom && watch)
		return gc_usage_error(&gc_cmd_metrics, "--prometheus and --watch exclude each other "
		                      "(an exposition is one scrape)");
	if (!watch && (args->opt[OPT_INTERVAL] || args->opt[OPT_COUNT]))
		return gc_usage_error(&gc_cmd_metrics, "--interval and --count need --watch");
	int r = gc_watch_interval_arg(&gc_cmd_metrics, args->opt[OPT_INTERVAL], &interval_ms);
	if (r == 0)
		r = gc_watch_count_arg(&gc_cmd_metrics, args->opt[OPT_COUNT], &count);
	if (r)
		return r;
	_cleanup_(gc_conn_closep) gc_conn *c = NULL;
	r = gc_connect(ctx, &c);
	if (r)
		return r;
	if (watch)
		return metrics_watch(c, ctx->json, interval_ms, count);
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	r = gc_call0(c, "metrics", &m);
	if (r)
		return r;
	if (m.result->type != MSGPACK_OBJECT_MAP) {
		gc_errorf("godaemon's metrics result is not a map");
		return GC_EXIT_FAILURE;
	}
	if (ctx->json) {
		gc_json_write(stdout, m.result);
		putchar('\n');
		return 0;
	}
	return prom ? print_prometheus(m.result) : print_human(m.result);
}

const gc_cmd gc_cmd_metrics = {
	.name = "metrics",
	.usage = "[--json|--prometheus] [--watch [--interval DURATION] [--count N]]",
	.summary = "show a snapshot of the running jobs' stage metrics and the daemon's totals",
	.help = "Prints, for every running job you own (root: every job), each stage's\n"
	        "items in and out, errors, input queue length/capacity and its maximum,\n"
	        "time blocked sending (backpressure) and receiving (starved), busy/total\n"
	        "workers and items out per second since the job started; then the\n"
	        "daemon's jobs by state, the admission queue length and the stats\n"
	        "result.  With --json: the daemon's result as JSON.  With --prometheus:\n"
	        "the Prometheus text exposition format (for the node exporter's textfile\n"
	        "collector); docs/protocol.md and goctl(1) list the metric names.\n"
	        "With --watch: a snapshot every --interval (default 1s), pushed by the\n"
	        "daemon, until --count snapshots were shown or Ctrl-C (exit 0): the\n"
	        "table redrawn on a terminal (else tables one after another, a blank\n"
	        "line between), or one JSON object per line with --json (JSON Lines).\n"
	        "--prometheus cannot be combined with --watch.",
	.opts = metrics_opts,
	.min_args = 0,
	.max_args = 0,
	.exec = metrics_exec,
};
