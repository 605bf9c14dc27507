/* queuing.c — "Concurrency in Go", chapter 4, Queuing: a buffer between two
 * stages lets the upstream one finish its work without waiting for the
 * slower downstream one.  It does not make the pipeline faster — the total
 * time is set by the slowest stage (Little's law: L = lambda * W) — it
 * decouples the stages, so the producer is freed early (to release a
 * connection, a lock, a request slot ...).
 *
 * A producer sends 20 values; a consumer spends 2 ms on each.  Without a
 * queue the producer is held back until the consumer took its last value;
 * through gort_queue_stage(capacity 20) it is done at once, while the
 * consumer still needs the same ~40 ms.
 *
 * Output (times vary):
 *   no queue:       producer done after 38 ms, consumer after 40 ms
 *   queue of 20:    producer done after 0 ms, consumer after 40 ms
 */
#include <gort.h>
#include <gort_patterns.h>

#include <stdio.h>

enum { N = 20 };

typedef struct producer {
	gort_ctx *ctx;
	gort_chan *out;       /* the producer's reference; it closes it */
	int64_t start, done;  /* done: when the last value was taken */
	gort_waitgroup *wg;   /* done when the producer returns */
} producer;

static void produce(void *arg)
{
	producer *p = arg;
	gort_chan *out = p->out;
	for (long i = 0; i < N; i++)
		if (gort_stage_send(p->ctx, out, &i))
			break;
	p->done = gort_now() - p->start;
	gort_chan_close(out);
	gort_chan_unref(out);
	gort_waitgroup_done(p->wg); /* last: p may be gone after it */
}

static int run(size_t queue_cap)
{
	gort_waitgroup stages = GORT_WAITGROUP_INIT; /* joins the pattern goroutines */
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &stages);
	gort_ctx *ctx = gort_ctx_with_cancel(group);
	gort_waitgroup producer_wg = GORT_WAITGROUP_INIT;
	producer p = {ctx, gort_chan_make(sizeof(long), 0), gort_now(), 0, &producer_wg};
	if (!ctx || !p.out)
		return 1;
	gort_chan *in = queue_cap ? gort_queue_stage(ctx, p.out, sizeof(long), queue_cap)
	                          : gort_chan_ref(p.out);
	gort_waitgroup_add(&producer_wg, 1);
	if (!in || gort_go(produce, &p) < 0) /* p.out passes to it */
		return 1;
	long v;
	while (gort_chan_recv(in, &v))
		gort_sleep(2 * GORT_MILLISECOND); /* the slow stage */
	int64_t consumer_done = gort_now() - p.start;
	gort_waitgroup_wait(&producer_wg); /* p.done is set */
	printf("%-15s producer done after %lld ms, consumer after %lld ms\n",
	       queue_cap ? "queue of 20:" : "no queue:", (long long)(p.done / GORT_MILLISECOND),
	       (long long)(consumer_done / GORT_MILLISECOND));
	gort_chan_unref(in);
	gort_ctx_cancel(ctx);
	gort_waitgroup_wait(&stages); /* every pattern goroutine has returned */
	gort_ctx_unref(ctx);
	gort_ctx_unref(group);
	return 0;
}

static int root(void *arg)
{
	(void)arg;
	return run(0) || run(N);
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
