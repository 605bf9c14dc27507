/* cmd_ping.c — `goctl ping [-c COUNT]`: checks that godaemon answers, and
 * how fast: connects, says hello, then sends COUNT ping requests one after
 * the other and reports each round trip (connection set-up not included).
 */
#include "config.h"

#include "goctl.h"

#include <stdlib.h>
#include <string.h>

enum { OPT_COUNT };

static const gc_opt ping_opts[] = {
	[OPT_COUNT] = { "count", 'c', "COUNT", "send COUNT pings (1 to 1000000, default 1)" },
	{ 0 },
};

/* Nanoseconds as milliseconds, rounded to the microsecond. */
static double ms(int64_t ns)
{
	return (double)((ns + 500) / 1000) / 1e3;
}

/* One ping: its round-trip time in *rtt_ns, or the exit code. */
static int ping_once(gc_conn *c, int64_t *rtt_ns)
{
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	int64_t t0 = gc_now();
	int r = gc_call0(c, "ping", &m);
	if (r)
		return r;
	*rtt_ns = gc_now() - t0;
	const msgpack_object *o = m.result;
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size != 4 ||
	    memcmp(o->via.str.ptr, "pong", 4) != 0) {
		gc_errorf("godaemon answered ping with something other than \"pong\"");
		return GC_EXIT_FAILURE;
	}
	return 0;
}

static int ping_json(const gc_ctx *ctx, const int64_t *rtt, uint64_t n)
{
	int64_t min = rtt[0], max = rtt[0], sum = 0;
	for (uint64_t i = 0; i < n; i++) {
		min = rtt[i] < min ? rtt[i] : min;
		max = rtt[i] > max ? rtt[i] : max;
		sum += rtt[i];
	}
	gc_doc d;
	gc_doc_init(&d);
	int r = msgpack_pack_map(&d.pk, 6) | gc_pk_kv_str(&d.pk, "socket", ctx->socket) |
	        gc_pk_kv_u64(&d.pk, "count", n) | gc_pk_str(&d.pk, "rtt_ms") |
	        msgpack_pack_array(&d.pk, (size_t)n);
	for (uint64_t i = 0; i < n; i++)
		r |= msgpack_pack_double(&d.pk, ms(rtt[i]));
	r |= gc_pk_kv_double(&d.pk, "min_ms", ms(min)) |
	     gc_pk_kv_double(&d.pk, "avg_ms", ms(sum / (int64_t)n)) |
	     gc_pk_kv_double(&d.pk, "max_ms", ms(max));
	r = r ? (gc_errorf("out of memory"), GC_EXIT_FAILURE) : gc_print_doc(&d);
	gc_doc_destroy(&d);
	return r;
}

static int ping_exec(gc_ctx *ctx, const gc_args *args)
{
	uint64_t count = 1;
	if (args->opt[OPT_COUNT] && gc_parse_uint(args->opt[OPT_COUNT], 1, 1000000, &count) < 0)
		return gc_usage_error(&gc_cmd_ping, "invalid --count '%s' (1 to 1000000)",
		                      args->opt[OPT_COUNT]);
	_cleanup_(gc_conn_closep) gc_conn *c = NULL;
	int r = gc_connect(ctx, &c);
	if (r)
		return r;
	int64_t *rtt = calloc((size_t)count, sizeof *rtt);
	if (!rtt) {
		gc_errorf("out of memory");
		return GC_EXIT_FAILURE;
	}
	const gc_hello *h = gc_conn_hello(c);
	for (uint64_t i = 0; i < count && r == 0; i++) {
		r = ping_once(c, &rtt[i]);
		if (r == 0 && !ctx->json)
			printf("pong from %s %s at %s: time=%.3f ms\n", h->server, h->version,
			       ctx->socket, (double)rtt[i] / 1e6);
	}
	if (r == 0 && ctx->json)
		r = ping_json(ctx, rtt, count);
	free(rtt);
	return r;
}

const gc_cmd gc_cmd_ping = {
	.name = "ping",
	.usage = "[-c COUNT]",
	.summary = "check that godaemon answers, and its round-trip time",
	.help = "Connects to godaemon, completes the handshake and sends COUNT ping\n"
	        "requests one after another, printing the round-trip time of each (the\n"
	        "connection set-up is not counted).  Exit status 0 means the daemon is\n"
	        "up and serving requests.  With --json: one object with socket, count,\n"
	        "rtt_ms (every round trip, in milliseconds), min_ms, avg_ms and max_ms.",
	.opts = ping_opts,
	.min_args = 0,
	.max_args = 0,
	.exec = ping_exec,
};
