/* tee.c — "Concurrency in Go", chapter 4, The tee-channel: split one
 * stream into two that both carry every value, like the tee command, e.g.
 * to log a stream while processing it.
 *
 * As in the book: out1, out2 := tee(done, take(done, repeat(done, 1, 2), 4));
 * reading out1 and out2 in lockstep.  gort_tee hands each value to both
 * outputs (whichever is ready first) before it reads the next, so the two
 * readers stay within one value of each other.
 *
 * Output:
 *   out1: 1, out2: 1
 *   out1: 2, out2: 2
 *   out1: 1, out2: 1
 *   out1: 2, out2: 2
 */
#include <gort.h>
#include <gort_patterns.h>

#include <stdio.h>

static int root(void *arg)
{
	(void)arg;
	gort_waitgroup stages = GORT_WAITGROUP_INIT; /* joins the pattern goroutines */
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &stages);
	gort_ctx *ctx = gort_ctx_with_cancel(group);
	long vals[2] = {1, 2};
	gort_chan *rep = gort_gen_repeat(ctx, vals, 2, sizeof(long));
	gort_chan *four = rep ? gort_take(ctx, rep, sizeof(long), 4) : NULL;
	gort_chan *out1, *out2;
	if (!four || gort_tee(ctx, four, sizeof(long), &out1, &out2))
		return 1;
	long v1, v2;
	while (gort_chan_recv(out1, &v1)) {
		gort_chan_recv(out2, &v2);
		printf("out1: %ld, out2: %ld\n", v1, v2);
	}
	gort_chan_unref(rep), gort_chan_unref(four), gort_chan_unref(out1), gort_chan_unref(out2);
	gort_ctx_cancel(ctx); /* the repeat generator runs until this */
	gort_waitgroup_wait(&stages); /* every pattern goroutine has returned */
	gort_ctx_unref(ctx);
	gort_ctx_unref(group);
	return 0;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
