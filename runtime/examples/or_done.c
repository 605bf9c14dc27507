/* or_done.c — "Concurrency in Go", chapter 4, The or-done-channel: reading
 * a channel you do not own, you cannot know whether its producer will stop
 * when your done channel closes; wrap it so that a plain range loop ends on
 * either event:  for val := range orDone(done, myChan) { ... }
 *
 * A producer we do not control sends forever and never watches our
 * context.  We range over gort_or_done(ctx, its channel); a watchdog
 * cancels the context after 5 values have been consumed, and the loop ends
 * cleanly even though the producer's channel never closes.
 *
 * Output: "value 0" ... "value 4" (and perhaps one more already in flight),
 * then "loop ended: the context was cancelled".
 */
#include <gort.h>
#include <gort_patterns.h>

#include <stdio.h>

typedef struct foreign {
	gort_chan *out;
	gort_chan *stop;     /* closed by the root at the very end */
	gort_waitgroup *wg;  /* done when the producer returns */
} foreign;

/* Someone else's producer: knows nothing of our context. */
static void foreign_producer(void *arg)
{
	foreign *f = arg;
	gort_chan *out = f->out, *stop = f->stop; /* f may be gone once stop is closed */
	gort_waitgroup *wg = f->wg;
	for (long i = 0;; i++) {
		gort_select_case cs[2] = {
			{out, GORT_SELECT_SEND, &i, false},
			{stop, GORT_SELECT_RECV, NULL, false},
		};
		if (gort_select(cs, 2, true) == 1)
			break;
	}
	gort_chan_unref(out);
	gort_chan_unref(stop);
	gort_waitgroup_done(wg);
}

static int root(void *arg)
{
	(void)arg;
	gort_waitgroup stages = GORT_WAITGROUP_INIT; /* joins the pattern goroutines */
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &stages);
	gort_ctx *ctx = gort_ctx_with_cancel(group);
	gort_waitgroup producer_wg = GORT_WAITGROUP_INIT;
	foreign f = {gort_chan_make(sizeof(long), 0), gort_chan_make(0, 0), &producer_wg};
	if (!ctx || !f.out || !f.stop)
		return 1;
	gort_chan_ref(f.out), gort_chan_ref(f.stop); /* the producer's */
	gort_waitgroup_add(&producer_wg, 1);
	if (gort_go(foreign_producer, &f) < 0)
		return 1;
	gort_chan *vals = gort_or_done(ctx, f.out, sizeof(long));
	if (!vals)
		return 1;
	long v, n = 0;
	while (gort_chan_recv(vals, &v)) { /* range over or_done */
		printf("value %ld\n", v);
		if (++n == 5)
			gort_ctx_cancel(ctx); /* e.g. a watchdog elsewhere */
	}
	printf("loop ended: the context was cancelled\n");
	gort_chan_close(f.stop); /* let the foreign producer go, too */
	gort_waitgroup_wait(&producer_wg);
	gort_chan_unref(vals), gort_chan_unref(f.out), gort_chan_unref(f.stop);
	gort_ctx_cancel(ctx);
	gort_waitgroup_wait(&stages); /* every pattern goroutine has returned */
	gort_ctx_unref(ctx);
	gort_ctx_unref(group);
	return n >= 5 && n <= 6 ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
