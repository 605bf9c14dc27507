/* bridge.c — "Concurrency in Go", chapter 4, The bridge-channel: a stage
 * may produce a sequence of channels (a channel of channels); the consumer
 * just wants the values, in order.  bridge flattens it.
 *
 * As in the book, gen_vals sends 10 channels, each carrying one value
 * (0..9) and closed; bridge(done, gen_vals()) yields 0 1 2 ... 9.  Each
 * channel sent is a reference that passes to the bridge.
 *
 * Output: "0 1 2 3 4 5 6 7 8 9".
 */
#include <gort.h>
#include <gort_patterns.h>

#include <stdio.h>

typedef struct gen_vals {
	gort_ctx *ctx;
	gort_chan *streams; /* reference of the producer, which closes it */
	gort_waitgroup wg;  /* done when the producer returns */
} gen_vals;

static void gen_vals_run(void *arg)
{
	gen_vals *g = arg;
	gort_chan *streams = g->streams;
	for (long i = 0; i < 10; i++) {
		gort_chan *stream = gort_chan_make(sizeof(long), 1);
		if (!stream)
			break;
		gort_chan_send(stream, &i);
		gort_chan_close(stream);
		/* the reference travels with the value: the bridge drops it */
		if (gort_stage_send(g->ctx, streams, &stream)) {
			gort_chan_unref(stream);
			break;
		}
	}
	gort_chan_close(streams);
	gort_chan_unref(streams);
	gort_waitgroup_done(&g->wg); /* last: g may be gone after it */
}

static int root(void *arg)
{
	(void)arg;
	gort_waitgroup stages = GORT_WAITGROUP_INIT; /* joins the pattern goroutines */
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &stages);
	gort_ctx *ctx = gort_ctx_with_cancel(group);
	gen_vals g = {ctx, gort_chan_make(sizeof(gort_chan *), 0), GORT_WAITGROUP_INIT};
	if (!ctx || !g.streams)
		return 1;
	gort_chan *vals = gort_bridge(ctx, g.streams, sizeof(long));
	gort_waitgroup_add(&g.wg, 1);
	if (!vals || gort_go(gen_vals_run, &g) < 0) /* g.streams passes to it */
		return 1;
	long v, expect = 0;
	while (gort_chan_recv(vals, &v)) {
		printf("%ld%c", v, v == 9 ? '\n' : ' ');
		if (v == expect) /* in order across the sub-channels */
			expect++;
	}
	gort_chan_unref(vals);
	gort_waitgroup_wait(&g.wg);
	gort_ctx_cancel(ctx);
	gort_waitgroup_wait(&stages); /* every pattern goroutine has returned */
	gort_ctx_unref(ctx);
	gort_ctx_unref(group);
	return expect == 10 ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
