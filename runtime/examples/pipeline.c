/* pipeline.c — "Concurrency in Go", chapter 4, Pipelines and Generators.
 *
 * Part 1, the book's hand-written pipeline: generator(1, 2, 3, 4) ->
 * multiply(2) -> add(1) -> multiply(2).  Each stage is a goroutine that
 * owns (creates, writes, closes) its output channel and waits on the
 * context in every send and receive (gort_stage_send/recv), so the whole
 * pipeline can be stopped at any point.
 * Part 2, the library's generators: take(10, repeat(1)), and take(10,
 * repeat_fn(rand)), as in the book.
 *
 * Output: "6 10 14 18", then ten 1s, then ten random numbers.
 */
#include <gort.h>
#include <gort_patterns.h>

#include <stdio.h>
#include <stdlib.h>

/* A stage: reads in, applies op, writes out (which it owns). */
typedef struct stage {
	gort_ctx *ctx;
	gort_chan *in, *out;
	long (*op)(long v, long k);
	long k;
	gort_waitgroup *wg; /* done when the stage returns */
} stage;

static long multiply(long v, long k) { return v * k; }
static long add(long v, long k) { return v + k; }

static void stage_run(void *arg)
{
	stage *s = arg;
	long v;
	while (gort_stage_recv(s->ctx, s->in, &v) == 0) {
		v = s->op(v, s->k);
		if (gort_stage_send(s->ctx, s->out, &v))
			break;
	}
	gort_chan *out = s->out; /* s is not ours once out is closed */
	gort_waitgroup *wg = s->wg;
	gort_chan_close(out);
	gort_chan_unref(out); /* the stage's own reference */
	gort_waitgroup_done(wg);
}

/* Starts s reading from in; returns its output (owned by s). */
static gort_chan *stage_start(stage *s, gort_ctx *ctx, gort_chan *in, long (*op)(long, long),
                              long k, gort_waitgroup *wg)
{
	*s = (stage){ctx, in, gort_chan_make(sizeof(long), 0), op, k, wg};
	gort_waitgroup_add(wg, 1);
	if (!s->out || gort_go(stage_run, s) < 0)
		return NULL;
	gort_chan_ref(s->out); /* one for the stage, one for the caller */
	return s->out;
}

static int handwritten(void)
{
	gort_waitgroup stages = GORT_WAITGROUP_INIT; /* joins the pattern goroutines */
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &stages);
	gort_ctx *ctx = gort_ctx_with_cancel(group);
	long ints[4] = {1, 2, 3, 4};
	gort_chan *gen = gort_gen_values(ctx, ints, 4, sizeof(long));
	stage st[3];
	gort_chan *c = gen ? stage_start(&st[0], ctx, gen, multiply, 2, &stages) : NULL;
	c = c ? stage_start(&st[1], ctx, c, add, 1, &stages) : NULL;
	c = c ? stage_start(&st[2], ctx, c, multiply, 2, &stages) : NULL;
	if (!c)
		return 1;
	long v;
	while (gort_chan_recv(c, &v)) /* until the last stage closes */
		printf("%ld ", v);
	printf("\n");
	gort_chan_unref(gen);
	for (int i = 0; i < 3; i++)
		gort_chan_unref(st[i].out);
	gort_ctx_cancel(ctx);
	gort_waitgroup_wait(&stages); /* every pattern goroutine has returned */
	gort_ctx_unref(ctx);
	gort_ctx_unref(group);
	return 0;
}

static int rand_long(void *out, void *arg)
{
	*(long *)out = rand_r(arg);
	return 0; /* never ends by itself */
}

static int generators(void)
{
	gort_waitgroup stages = GORT_WAITGROUP_INIT; /* joins the pattern goroutines */
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &stages);
	gort_ctx *ctx = gort_ctx_with_cancel(group);
	long one = 1;
	unsigned seed = 42;
	gort_chan *rep = gort_gen_repeat(ctx, &one, 1, sizeof(long));
	gort_chan *rnd = gort_gen_repeat_fn(ctx, sizeof(long), rand_long, &seed);
	gort_chan *t1 = rep ? gort_take(ctx, rep, sizeof(long), 10) : NULL;
	gort_chan *t2 = rnd ? gort_take(ctx, rnd, sizeof(long), 10) : NULL;
	if (!t1 || !t2)
		return 1;
	long v;
	while (gort_chan_recv(t1, &v))
		printf("%ld ", v);
	printf("\n");
	while (gort_chan_recv(t2, &v))
		printf("%ld\n", v);
	gort_chan_unref(rep), gort_chan_unref(rnd), gort_chan_unref(t1), gort_chan_unref(t2);
	gort_ctx_cancel(ctx); /* the repeat generators run until this */
	gort_waitgroup_wait(&stages); /* every pattern goroutine has returned */
	gort_ctx_unref(ctx);
	gort_ctx_unref(group);
	return 0;
}

static int root(void *arg)
{
	(void)arg;
	return handwritten() || generators();
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
