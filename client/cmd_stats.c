/* cmd_stats.c — `goctl stats`: the daemon's stats result (runtime statistics
 * of its goroutine scheduler and the daemon's counters), as an aligned
 * table with a heading per section, or with --json the result as it came.
 * Keys are printed as the daemon names them, so new keys show up without a
 * goctl change (docs/protocol.md, section 8, documents each). */
#include "config.h"

#include "goctl.h"

static int stats_exec(gc_ctx *ctx, const gc_args *args)
{
	_cleanup_(gc_conn_closep) gc_conn *c = NULL;
	int r = gc_connect(ctx, &c);
	if (r)
		return r;
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	r = gc_call0(c, "stats", &m);
	if (r)
		return r;
	if (m.result->type != MSGPACK_OBJECT_MAP) {
		gc_errorf("godaemon's stats result is not a map");
		return GC_EXIT_FAILURE;
	}
	if (ctx->json) {
		gc_json_write(stdout, m.result);
		putchar('\n');
		return 0;
	}
	gc_table t;
	gc_table_init(&t);
	gc_table_object(&t, 0, m.result);
	r = gc_print_table(&t);
	gc_table_destroy(&t);
	return r;
}

const gc_cmd gc_cmd_stats = {
	.name = "stats",
	.usage = "",
	.summary = "show the daemon's runtime statistics and counters",
	.help = "Prints a snapshot of the daemon's goroutine runtime (goroutines live and\n"
	        "created, context switches, steals, parks, stacks, worker threads, run\n"
	        "queue lengths) and its counters (connections open and accepted,\n"
	        "requests, errors).  Values change while they are read: they are\n"
	        "approximate.  With --json: {\"runtime\": {...}, \"daemon\": {...}} as the\n"
	        "daemon sent it; docs/protocol.md lists every key.",
	.min_args = 0,
	.max_args = 0,
	.exec = stats_exec,
};
