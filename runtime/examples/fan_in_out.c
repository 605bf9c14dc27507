/* fan_in_out.c — "Concurrency in Go", chapter 4, Fan-Out, Fan-In: a slow
 * stage whose items are independent runs on several goroutines at once
 * (fan-out), and their outputs are merged back into one stream (fan-in).
 *
 * As in the book: random numbers from repeat_fn go through a deliberately
 * slow prime finder (trial division by every smaller number); take keeps
 * the first 10 primes.  Once with one finder, once fanned out to one finder
 * per worker thread and merged with gort_fan_in; prime finders drop the
 * numbers that are not prime (GORT_DROP), so only primes come out.  Then the
 * order-preserving variant, gort_fan_out_ordered, squares 1..8 on 4 workers
 * and still delivers the squares in input order.
 *
 * Output: two lists of 10 primes with their search times, then
 * "ordered: 1 4 9 16 25 36 49 64".
 */
#include <gort.h>
#include <gort_patterns.h>

#include <stdio.h>
#include <stdlib.h>

typedef GORT_RESULT(long) long_result;

static int rand_below_2m(void *out, void *arg)
{
	*(long *)out = rand_r(arg) % 2000000;
	return 0;
}

/* The book's deliberately naive primeFinder, as a map function; yields now
 * and then, as a long computation on a cooperative scheduler should. */
static int prime_finder(const void *in, void *out, void *arg)
{
	(void)arg;
	long n = *(const long *)in;
	if (n < 2)
		return GORT_DROP;
	for (long d = n - 1; d > 1; d--) {
		if (n % d == 0)
			return GORT_DROP;
		if (d % 65536 == 0)
			gort_yield();
	}
	*(long *)out = n;
	return 0;
}

static int find_primes(int finders)
{
	gort_waitgroup stages = GORT_WAITGROUP_INIT; /* joins the pattern goroutines */
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &stages);
	gort_ctx *ctx = gort_ctx_with_cancel(group);
	unsigned seed = 7;
	gort_map_spec spec = {.fn = prime_finder, .in_size = sizeof(long), .out_size = sizeof(long)};
	gort_chan *rnd = gort_gen_repeat_fn(ctx, sizeof(long), rand_below_2m, &seed);
	gort_chan *outs[GORT_MAX_PROCS];
	if (!rnd || gort_fan_out(ctx, rnd, &spec, (size_t)finders, outs))
		return 1;
	gort_chan *merged = gort_fan_in(ctx, outs, (size_t)finders, sizeof(long_result));
	gort_chan *first10 = merged ? gort_take(ctx, merged, sizeof(long_result), 10) : NULL;
	if (!first10)
		return 1;
	int64_t start = gort_now();
	printf("Primes (%d finder%s):\n", finders, finders > 1 ? "s" : "");
	long_result r;
	while (gort_chan_recv(first10, &r))
		printf("\t%ld\n", r.value);
	printf("Search took: %.3f s\n", (double)(gort_now() - start) / GORT_SECOND);
	for (int i = 0; i < finders; i++)
		gort_chan_unref(outs[i]);
	gort_chan_unref(rnd), gort_chan_unref(merged), gort_chan_unref(first10);
	gort_ctx_cancel(ctx); /* stops the generator and every finder */
	gort_waitgroup_wait(&stages); /* every pattern goroutine has returned */
	gort_ctx_unref(ctx);
	gort_ctx_unref(group);
	return 0;
}

static int square(const void *in, void *out, void *arg)
{
	(void)arg;
	long v = *(const long *)in;
	for (long i = rand() % 64; i > 0; i--) /* uneven work per value */
		gort_yield();
	*(long *)out = v * v;
	return 0;
}

static int ordered(void)
{
	gort_waitgroup stages = GORT_WAITGROUP_INIT; /* joins the pattern goroutines */
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &stages);
	gort_ctx *ctx = gort_ctx_with_cancel(group);
	long v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	gort_map_spec spec = {.fn = square, .in_size = sizeof(long), .out_size = sizeof(long)};
	gort_chan *gen = gort_gen_values(ctx, v, 8, sizeof(long));
	gort_chan *sq = gen ? gort_fan_out_ordered(ctx, gen, &spec, 4) : NULL;
	if (!sq)
		return 1;
	long_result r;
	printf("ordered:");
	while (gort_chan_recv(sq, &r))
		printf(" %ld", r.value);
	printf("\n");
	gort_chan_unref(gen), gort_chan_unref(sq);
	gort_ctx_cancel(ctx);
	gort_waitgroup_wait(&stages); /* every pattern goroutine has returned */
	gort_ctx_unref(ctx);
	gort_ctx_unref(group);
	return 0;
}

static int root(void *arg)
{
	(void)arg;
	return find_primes(1) || find_primes(gort_nprocs()) || ordered();
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
