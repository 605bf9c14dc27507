/* leak_prevention.c — "Concurrency in Go", chapter 4, Preventing Goroutine
 * Leaks: the goroutine that starts another is responsible for stopping it,
 * and gives it a done channel (here a context) to watch in every blocking
 * operation.
 *
 * Part 1, a goroutine blocked receiving: do_work ranges over a channel that
 * never delivers (the book passes nil).  Without a done channel it would
 * wait forever; with one, cancelling releases it.
 * Part 2, a goroutine blocked sending: new_rand_stream produces random
 * numbers forever; the consumer reads three, then cancels, and the
 * producer returns and closes its channel.
 * The live-goroutine count is printed to show nothing was left behind.
 *
 * Output:
 *   do_work exited.
 *   Done.
 *   3 random ints: ...
 *   new_rand_stream closure exited.
 *   goroutines live: 1 (the root)
 */
#include <gort.h>
#include <gort_patterns.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct work {
	gort_ctx *ctx;
	gort_chan *strings;    /* never written: a nil channel would do too */
	gort_chan *terminated; /* closed by do_work on return */
} work;

static void do_work(void *arg)
{
	work *w = arg;
	const char *s;
	/* a for-select: every receive also waits on the done channel */
	while (gort_stage_recv(w->ctx, w->strings, &s) == 0)
		printf("%s\n", s);
	printf("do_work exited.\n");
	gort_chan *t = w->terminated; /* w is not ours once t is closed */
	gort_chan_close(t);
	gort_chan_unref(t); /* its own reference */
}

typedef struct rand_stream {
	gort_ctx *ctx;
	gort_chan *out;
	unsigned int seed;
} rand_stream;

static void rand_producer(void *arg)
{
	rand_stream *r = arg;
	for (;;) {
		int v = rand_r(&r->seed);
		if (gort_stage_send(r->ctx, r->out, &v) != 0)
			break; /* cancelled while blocked sending */
	}
	printf("new_rand_stream closure exited.\n");
	gort_chan *out = r->out; /* r is not ours once out is closed */
	gort_chan_close(out);
	gort_chan_unref(out); /* its own reference */
}

static uint64_t live(void)
{
	gort_stats st;
	gort_stats_get(&st);
	return st.goroutines_live;
}

static int blocked_receiver(void)
{
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	work w = {ctx, gort_chan_make(sizeof(char *), 0), gort_chan_make(0, 0)};
	if (!ctx || !w.strings || !w.terminated)
		return 1;
	gort_chan_ref(w.terminated); /* for do_work, which closes it */
	if (gort_go(do_work, &w) < 0)
		return 1;
	gort_sleep(GORT_MILLISECOND); /* do_work is blocked by now: cancel it */
	gort_ctx_cancel(ctx);
	gort_chan_recv(w.terminated, NULL); /* join */
	printf("Done.\n");
	gort_chan_unref(w.strings);
	gort_chan_unref(w.terminated);
	gort_ctx_unref(ctx);
	return 0;
}

static int blocked_sender(void)
{
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	rand_stream r = {ctx, gort_chan_make(sizeof(int), 0), 1};
	if (!ctx || !r.out)
		return 1;
	gort_chan_ref(r.out); /* for the producer, which closes it */
	if (gort_go(rand_producer, &r) < 0)
		return 1;
	printf("3 random ints:\n");
	for (int i = 1; i <= 3; i++) {
		int v;
		gort_chan_recv(r.out, &v);
		printf("%d: %d\n", i, v);
	}
	gort_ctx_cancel(ctx);
	while (gort_chan_recv(r.out, NULL)) /* until the producer closed it */
		continue;
	gort_chan_unref(r.out);
	gort_ctx_unref(ctx);
	return 0;
}

static int root(void *arg)
{
	(void)arg;
	uint64_t base = live();
	if (blocked_receiver() || blocked_sender())
		return 1;
	/* the stopped goroutines signalled just before returning: let them */
	for (int i = 0; i < 100000 && live() > base; i++)
		gort_yield();
	printf("goroutines live: %llu (the root)\n", (unsigned long long)live());
	return live() == base ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
