/* test_patterns.c — the concurrency patterns of gort_patterns.h: values and
 * order, early stop by the consumer, cancellation while a stage is blocked
 * sending or receiving, tee and bridge semantics, the or-channel, error
 * results, ordered fan-out under random delays, and a stress loop building
 * and cancelling whole pipelines.
 *
 * Every body runs under gt_run with 1 and 2 workers (loop index + 1), so the
 * goroutine count must come back to its baseline after each: a pattern
 * goroutine that outlives its cancelled context fails the test.  After a
 * cancellation the bodies also drain each output until it is closed: every
 * stage closes its output on the way out.
 */
#include "harness.h"
#include "gort_patterns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------- */

/* An element bigger than a word, to exercise elem_size copies. */
typedef struct big {
	long seq;
	char tag[16];
	long check; /* -seq */
} big;

typedef GORT_RESULT(long) lres;

_Static_assert(GORT_RESULT_SIZE(sizeof(char)) == sizeof(GORT_RESULT(char)), "char");
_Static_assert(GORT_RESULT_SIZE(sizeof(long)) == sizeof(lres), "long");
_Static_assert(GORT_RESULT_SIZE(sizeof(big)) == sizeof(GORT_RESULT(big)), "big");
_Static_assert(GORT_RESULT_SIZE(sizeof(long double)) == sizeof(GORT_RESULT(long double)), "ld");
_Static_assert(offsetof(lres, value) == offsetof(gort_result, value), "value offset");

static gort_ctx *cancel_ctx(void)
{
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	ck_assert_ptr_nonnull(ctx);
	return ctx;
}

static long *iota_longs(size_t n)
{
	long *v = malloc(n * sizeof *v);
	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++)
		v[i] = (long)i;
	return v;
}

static long recv_long(gort_chan *c)
{
	long v = -1;
	ck_assert(gort_chan_recv(c, &v));
	return v;
}

/* Receives until c is closed; at most `limit` values may still arrive. */
static void drain_closed(gort_chan *c, size_t elem_size, size_t limit)
{
	unsigned char buf[256];
	size_t n = 0;
	ck_assert_uint_le(elem_size, sizeof buf);
	while (gort_chan_recv(c, buf))
		ck_assert_uint_le(++n, limit);
}

/* A per-goroutine-safe pseudo random number (xorshift on a shared seed). */
static uint32_t rnd(void)
{
	static uint32_t seed = 2463534242u;
	uint32_t x = __atomic_load_n(&seed, __ATOMIC_RELAXED), y;
	do {
		y = x ^ (x << 13);
		y ^= y >> 17;
		y ^= y << 5;
	} while (!__atomic_compare_exchange_n(&seed, &x, y, true, __ATOMIC_RELAXED,
	                                      __ATOMIC_RELAXED));
	return y;
}

static int square(const void *in, void *out, void *arg)
{
	(void)arg;
	long v = *(const long *)in;
	*(long *)out = v * v;
	return 0;
}

/* Squares, after a random number of yields (0..15): workers finish out of
 * order. */
static int square_slowly(const void *in, void *out, void *arg)
{
	for (uint32_t n = rnd() % 16; n; n--)
		gort_yield();
	return square(in, out, arg);
}

/* Odd values are errors (-EDOM, value left as v), multiples of 10 are
 * dropped, the rest squared. */
static int square_even(const void *in, void *out, void *arg)
{
	long v = *(const long *)in;
	if (v % 10 == 0)
		return GORT_DROP;
	if (v % 2) {
		*(long *)out = v;
		return -EDOM;
	}
	return square(in, out, arg);
}

static const gort_map_spec square_spec = {square, NULL, sizeof(long), sizeof(long), 0};

/* Spawns fn(arg) as a goroutine, failing the test if it cannot. */
static void go(void (*fn)(void *), void *arg)
{
	ck_assert_int_gt(gort_go(fn, arg), 0);
}

/* ---- generators and take ---------------------------------------------- */

static void body_gen_values_in_order(void *arg)
{
	(void)arg;
	gort_ctx *ctx = cancel_ctx();
	enum { N = 300 };
	big *v = calloc(N, sizeof *v);
	for (long i = 0; i < N; i++)
		v[i] = (big){.seq = i, .tag = "value", .check = -i};
	gort_chan *c = gort_gen_values(ctx, v, N, sizeof(big));
	free(v); /* copied by the call */
	ck_assert_ptr_nonnull(c);
	big b;
	for (long i = 0; i < N; i++) {
		ck_assert(gort_chan_recv(c, &b));
		ck_assert_int_eq(b.seq, i);
		ck_assert_int_eq(b.check, -i);
		ck_assert_str_eq(b.tag, "value");
	}
	ck_assert(!gort_chan_recv(c, &b));
	gort_chan_unref(c);
	gort_ctx_unref(ctx);
}

static void body_gen_values_empty_closes(void *arg)
{
	(void)arg;
	gort_chan *c = gort_gen_values(gort_ctx_background(), NULL, 0, sizeof(long));
	ck_assert_ptr_nonnull(c);
	ck_assert(!gort_chan_recv(c, NULL));
	gort_chan_unref(c);
}

static void body_repeat_take_cycles(void *arg)
{
	(void)arg;
	gort_ctx *ctx = cancel_ctx();
	long vals[3] = {7, 8, 9};
	gort_chan *rep = gort_gen_repeat(ctx, vals, 3, sizeof(long));
	gort_chan *c = gort_take(ctx, rep, sizeof(long), 10);
	gort_chan_unref(rep); /* take holds its own reference */
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(recv_long(c), vals[i % 3]);
	ck_assert(!gort_chan_recv(c, NULL)); /* take closes after n */
	gort_chan_unref(c);
	gort_ctx_cancel(ctx); /* the repeat generator ends only now */
	gort_ctx_unref(ctx);
}

static int count_to_5(void *out, void *arg)
{
	long *n = arg;
	if (*n == 5)
		return 1;
	*(long *)out = ++*n;
	return 0;
}

static int forever_ones(void *out, void *arg)
{
	(void)arg;
	*(long *)out = 1;
	return 0;
}

static void body_repeat_fn(void *arg)
{
	(void)arg;
	long n = 0;
	gort_ctx *ctx = cancel_ctx();
	gort_chan *c = gort_gen_repeat_fn(ctx, sizeof(long), count_to_5, &n);
	for (long i = 1; i <= 5; i++)
		ck_assert_int_eq(recv_long(c), i);
	ck_assert(!gort_chan_recv(c, NULL)); /* fn returned non-zero */
	gort_chan_unref(c);

	c = gort_gen_repeat_fn(ctx, sizeof(long), forever_ones, NULL);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(recv_long(c), 1);
	gort_ctx_cancel(ctx);
	drain_closed(c, sizeof(long), 1);
	gort_chan_unref(c);
	gort_ctx_unref(ctx);
}

static void body_take_zero_and_short_input(void *arg)
{
	(void)arg;
	gort_ctx *ctx = cancel_ctx();
	long vals[2] = {1, 2};
	gort_chan *g = gort_gen_values(ctx, vals, 2, sizeof(long));
	gort_chan *t0 = gort_take(ctx, g, sizeof(long), 0);
	ck_assert(!gort_chan_recv(t0, NULL));
	gort_chan *t = gort_take(ctx, g, sizeof(long), 5); /* input closes first */
	ck_assert_int_eq(recv_long(t), 1);
	ck_assert_int_eq(recv_long(t), 2);
	ck_assert(!gort_chan_recv(t, NULL));
	gort_chan_unref(t0);
	gort_chan_unref(t);
	gort_chan_unref(g);
	gort_ctx_unref(ctx);
}

/* ---- or-channel ------------------------------------------------------- */

enum { OR_N = 8 };

static void body_or_fires_on_any_one(void *arg)
{
	(void)arg;
	for (int k = 0; k < OR_N; k++) {
		gort_chan *d[OR_N];
		for (int i = 0; i < OR_N; i++)
			d[i] = gort_chan_make(0, 1);
		gort_chan *o = gort_or(gort_ctx_background(), d, OR_N);
		ck_assert_ptr_nonnull(o);
		ck_assert_int_eq(gort_chan_try_recv(o, NULL), -EAGAIN);
		if (k % 2)
			gort_chan_close(d[k]); /* closed ... */
		else
			gort_chan_send(d[k], NULL); /* ... or a value */
		ck_assert(!gort_chan_recv(o, NULL));
		gort_chan_unref(o);
		for (int i = 0; i < OR_N; i++)
			gort_chan_unref(d[i]);
	}
}

static void body_or_ends_on_cancel(void *arg)
{
	(void)arg;
	gort_ctx *ctx = cancel_ctx();
	gort_chan *d[2] = {gort_chan_make(0, 0), NULL};
	gort_chan *o = gort_or(ctx, d, 2);
	gort_chan_unref(d[0]); /* or keeps its reference */
	gort_yield();
	gort_ctx_cancel(ctx);
	ck_assert(!gort_chan_recv(o, NULL));
	gort_chan_unref(o);
	gort_ctx_unref(ctx);
}

/* ---- or-done, queue --------------------------------------------------- */

static void body_or_done_forwards_and_cancels(void *arg)
{
	(void)arg;
	gort_ctx *ctx = cancel_ctx();
	long *v = iota_longs(50);
	gort_chan *g = gort_gen_values(ctx, v, 50, sizeof(long));
	gort_chan *c = gort_or_done(ctx, g, sizeof(long));
	for (long i = 0; i < 50; i++)
		ck_assert_int_eq(recv_long(c), i);
	ck_assert(!gort_chan_recv(c, NULL));
	gort_chan_unref(c);
	gort_chan_unref(g);

	/* blocked receiving from an input that never sends */
	gort_chan *silent = gort_chan_make(sizeof(long), 0);
	c = gort_or_done(ctx, silent, sizeof(long));
	gort_yield();
	gort_ctx_cancel(ctx);
	ck_assert(!gort_chan_recv(c, NULL));
	gort_chan_unref(c);
	gort_chan_unref(silent);
	gort_ctx_unref(ctx);
	free(v);
}

static void body_queue_runs_ahead(void *arg)
{
	(void)arg;
	enum { CAP = 8, N = 40 };
	gort_ctx *ctx = cancel_ctx();
	long *v = iota_longs(N);
	gort_chan *g = gort_gen_values(ctx, v, N, sizeof(long));
	gort_chan *q = gort_queue_stage(ctx, g, sizeof(long), CAP);
	ck_assert_uint_eq(gort_chan_cap(q), CAP);
	/* without a reader the stage fills the buffer, then blocks */
	for (long spins = 0; gort_chan_len(q) < CAP; spins++) {
		ck_assert_int_lt(spins, 1000000);
		gort_yield();
	}
	for (long i = 0; i < N; i++)
		ck_assert_int_eq(recv_long(q), i);
	ck_assert(!gort_chan_recv(q, NULL));
	gort_chan_unref(q);
	gort_chan_unref(g);
	gort_ctx_unref(ctx);
	free(v);
}

/* ---- tee -------------------------------------------------------------- */

typedef struct collector {
	gort_chan *in;
	gort_chan *done;
	long *got;
	size_t n;
	int yields; /* per value, to make one reader slower */
} collector;

static void collect_all(void *p)
{
	collector *c = p;
	long v;
	while (gort_chan_recv(c->in, &v)) {
		c->got[c->n++] = v;
		for (int i = 0; i < c->yields; i++)
			gort_yield();
	}
	gort_chan_send(c->done, NULL);
}

static void body_tee_both_see_every_value(void *arg)
{
	(void)arg;
	enum { N = 500 };
	gort_ctx *ctx = cancel_ctx();
	long *v = iota_longs(N);
	gort_chan *g = gort_gen_values(ctx, v, N, sizeof(long)), *a, *b;
	ck_assert_int_eq(gort_tee(ctx, g, sizeof(long), &a, &b), 0);
	gort_chan *done = gort_chan_make(0, 0);
	collector ca = {a, done, calloc(N, sizeof(long)), 0, 0};
	collector cb = {b, done, calloc(N, sizeof(long)), 0, 3};
	go(collect_all, &ca);
	go(collect_all, &cb);
	gort_chan_recv(done, NULL);
	gort_chan_recv(done, NULL);
	ck_assert_uint_eq(ca.n, N);
	ck_assert_uint_eq(cb.n, N);
	for (long i = 0; i < N; i++) {
		ck_assert_int_eq(ca.got[i], i);
		ck_assert_int_eq(cb.got[i], i);
	}
	free(ca.got), free(cb.got), free(v);
	gort_chan_unref(done), gort_chan_unref(a), gort_chan_unref(b), gort_chan_unref(g);
	gort_ctx_unref(ctx);
}

/* One branch read, the other not: the tee blocks sending to it until the
 * context is cancelled; then both branches close. */
static void body_tee_cancel_while_blocked(void *arg)
{
	(void)arg;
	gort_ctx *ctx = cancel_ctx();
	long vals[1] = {42};
	gort_chan *rep = gort_gen_repeat(ctx, vals, 1, sizeof(long)), *a, *b;
	ck_assert_int_eq(gort_tee(ctx, rep, sizeof(long), &a, &b), 0);
	ck_assert_int_eq(recv_long(a), 42);
	gort_yield();
	gort_ctx_cancel(ctx);
	drain_closed(a, sizeof(long), 1);
	drain_closed(b, sizeof(long), 1);
	gort_chan_unref(a), gort_chan_unref(b), gort_chan_unref(rep);
	gort_ctx_unref(ctx);
}

/* ---- bridge ----------------------------------------------------------- */

enum { BR_SUBS = 20, BR_EACH = 15 };

typedef struct bridge_src {
	gort_ctx *ctx;
	gort_chan *streams;
} bridge_src;

/* Sends BR_SUBS sub-channels of BR_EACH consecutive values, then closes
 * the stream (holding its own reference to it). */
static void bridge_producer(void *p)
{
	bridge_src *s = p;
	gort_chan *streams = s->streams;
	long *v = iota_longs(BR_SUBS * BR_EACH);
	for (int i = 0; i < BR_SUBS; i++) {
		gort_chan *sub = gort_gen_values(s->ctx, v + i * BR_EACH, BR_EACH, sizeof(long));
		if (gort_stage_send(s->ctx, s->streams, &sub)) {
			gort_chan_unref(sub); /* not handed over */
			break;
		}
	}
	gort_chan_close(streams);
	gort_chan_unref(streams);
	free(v);
}

static void body_bridge_keeps_order(void *arg)
{
	(void)arg;
	gort_ctx *ctx = cancel_ctx();
	bridge_src src = {ctx, gort_chan_make(sizeof(gort_chan *), (size_t)rnd() % 3)};
	gort_chan *out = gort_bridge(ctx, src.streams, sizeof(long));
	gort_chan_ref(src.streams); /* the producer's */
	go(bridge_producer, &src);
	for (long i = 0; i < BR_SUBS * BR_EACH; i++)
		ck_assert_int_eq(recv_long(out), i);
	ck_assert(!gort_chan_recv(out, NULL));
	gort_chan_unref(out);
	gort_chan_unref(src.streams);
	gort_ctx_unref(ctx);
}

/* Cancelled mid-stream: the bridge drops the sub-channel it was reading
 * and the ones still buffered in the stream (ASan's leak check sees it). */
static void body_bridge_cancel_drops_refs(void *arg)
{
	(void)arg;
	gort_ctx *ctx = cancel_ctx();
	gort_chan *streams = gort_chan_make(sizeof(gort_chan *), 4);
	long vals[3] = {1, 2, 3};
	for (int i = 0; i < 4; i++) {
		gort_chan *sub = gort_gen_values(ctx, vals, 3, sizeof(long));
		gort_chan_send(streams, &sub);
	}
	gort_chan *out = gort_bridge(ctx, streams, sizeof(long));
	ck_assert_int_eq(recv_long(out), 1);
	gort_ctx_cancel(ctx);
	drain_closed(out, sizeof(long), 1);
	gort_chan_unref(out);
	gort_chan_unref(streams);
	gort_ctx_unref(ctx);
}

/* ---- map, fan-out, fan-in --------------------------------------------- */

static void body_map_squares_in_order(void *arg)
{
	(void)arg;
	gort_ctx *ctx = cancel_ctx();
	long *v = iota_longs(100);
	gort_chan *g = gort_gen_values(ctx, v, 100, sizeof(long));
	gort_chan *m = gort_map(ctx, g, &square_spec);
	lres r;
	for (long i = 0; i < 100; i++) {
		ck_assert(gort_chan_recv(m, &r));
		ck_assert_int_eq(r.err, 0);
		ck_assert_int_eq(r.value, i * i);
	}
	ck_assert(!gort_chan_recv(m, &r));
	gort_chan_unref(m), gort_chan_unref(g);
	gort_ctx_unref(ctx);
	free(v);
}

static long isqrt(long x)
{
	long lo = 0, hi = 3037000499; /* sqrt(LONG_MAX) */
	while (lo < hi) {
		long mid = lo + (hi - lo + 1) / 2;
		if (mid * mid <= x)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* gen -> fan_out(workers) -> fan_in: every square exactly once. */
static void fan_sum_check(size_t workers, long n)
{
	gort_ctx *ctx = cancel_ctx();
	long *v = iota_longs((size_t)n);
	gort_chan *g = gort_gen_values(ctx, v, (size_t)n, sizeof(long));
	gort_chan **outs = calloc(workers, sizeof *outs);
	ck_assert_int_eq(gort_fan_out(ctx, g, &square_spec, workers, outs), 0);
	gort_chan *m = gort_fan_in(ctx, outs, workers, sizeof(lres));
	for (size_t i = 0; i < workers; i++)
		gort_chan_unref(outs[i]);
	char *seen = calloc((size_t)n, 1);
	lres r;
	long count = 0, sum = 0;
	while (gort_chan_recv(m, &r)) {
		ck_assert_int_eq(r.err, 0);
		long root = isqrt(r.value);
		ck_assert_int_eq(root * root, r.value);
		ck_assert(!seen[root]);
		seen[root] = 1;
		count++, sum += r.value;
	}
	ck_assert_int_eq(count, n);
	ck_assert_int_eq(sum, (n - 1) * n * (2 * n - 1) / 6);
	gort_chan_unref(m), gort_chan_unref(g);
	gort_ctx_unref(ctx);
	free(seen), free(outs), free(v);
}

static void body_fan_out_in_every_value_once(void *arg)
{
	(void)arg;
	fan_sum_check(1, 200);
	fan_sum_check(4, 1000);
	fan_sum_check(16, 500);
}

/* Error results travel with the values; dropped values are gone. */
static void body_error_results_propagate(void *arg)
{
	(void)arg;
	gort_map_spec spec = {square_even, NULL, sizeof(long), sizeof(long), 0};
	gort_ctx *ctx = cancel_ctx();
	long *v = iota_longs(100);
	gort_chan *g = gort_gen_values(ctx, v, 100, sizeof(long)), *outs[3];
	ck_assert_int_eq(gort_fan_out(ctx, g, &spec, 3, outs), 0);
	gort_chan *m = gort_fan_in(ctx, outs, 3, sizeof(lres));
	int errors = 0, values = 0;
	lres r;
	while (gort_chan_recv(m, &r)) {
		if (r.err) {
			ck_assert_int_eq(r.err, -EDOM);
			ck_assert_int_eq(r.value % 2, 1); /* what fn left in out */
			errors++;
		} else {
			ck_assert_int_ne(r.value % 100, 0);
			values++;
		}
	}
	ck_assert_int_eq(errors, 50);
	ck_assert_int_eq(values, 40); /* 50 even, 10 of them dropped */
	for (int i = 0; i < 3; i++)
		gort_chan_unref(outs[i]);
	gort_chan_unref(m), gort_chan_unref(g);
	gort_ctx_unref(ctx);
	free(v);
}

static int add_one(const void *in, void *out, void *arg)
{
	(void)arg;
	*(long *)out = *(const long *)in + 1;
	return 0;
}

/* map -> map (GORT_MAP_RESULTS_IN): values go through both functions,
 * errors of the first stage reach the consumer untouched, in order. */
static void body_maps_chain_results(void *arg)
{
	(void)arg;
	gort_map_spec first = {square_even, NULL, sizeof(long), sizeof(long), 0};
	gort_map_spec second = {add_one, NULL, sizeof(long), sizeof(long), GORT_MAP_RESULTS_IN};
	gort_ctx *ctx = cancel_ctx();
	long *v = iota_longs(100);
	gort_chan *g = gort_gen_values(ctx, v, 100, sizeof(long));
	gort_chan *m1 = gort_map(ctx, g, &first);
	gort_chan *m2 = gort_fan_out_ordered(ctx, m1, &second, 3);
	ck_assert_ptr_nonnull(m2);
	lres r;
	for (long i = 0; i < 100; i++) {
		if (i % 10 == 0)
			continue; /* dropped by the first stage */
		ck_assert(gort_chan_recv(m2, &r));
		if (i % 2) {
			ck_assert_int_eq(r.err, -EDOM);
			ck_assert_int_eq(r.value, 0); /* add_one was not called */
		} else {
			ck_assert_int_eq(r.err, 0);
			ck_assert_int_eq(r.value, i * i + 1);
		}
	}
	ck_assert(!gort_chan_recv(m2, &r));
	gort_chan_unref(m2), gort_chan_unref(m1), gort_chan_unref(g);
	gort_ctx_unref(ctx);
	free(v);
}

static void body_fan_in_merges_unordered(void *arg)
{
	(void)arg;
	enum { K = 5, EACH = 60 };
	gort_ctx *ctx = cancel_ctx();
	long *v = iota_longs(K * EACH);
	gort_chan *ins[K + 1];
	for (int i = 0; i < K; i++)
		ins[i] = gort_gen_values(ctx, v + i * EACH, EACH, sizeof(long));
	ins[K] = NULL; /* ignored */
	gort_chan *m = gort_fan_in(ctx, ins, K + 1, sizeof(long));
	long last[K];
	for (int i = 0; i < K; i++)
		last[i] = -1;
	long x;
	int n = 0;
	while (gort_chan_recv(m, &x)) {
		int src = (int)(x / EACH);
		ck_assert_int_gt(x, last[src]); /* each input's own order is kept */
		last[src] = x;
		n++;
	}
	ck_assert_int_eq(n, K * EACH);
	for (int i = 0; i < K; i++)
		gort_chan_unref(ins[i]);
	gort_chan_unref(m);
	gort_ctx_unref(ctx);
	free(v);
}

static void ordered_check(const gort_map_spec *spec, size_t workers, long n, bool drops)
{
	gort_ctx *ctx = cancel_ctx();
	long *v = iota_longs((size_t)n);
	gort_chan *g = gort_gen_values(ctx, v, (size_t)n, sizeof(long));
	gort_chan *o = gort_fan_out_ordered(ctx, g, spec, workers);
	ck_assert_ptr_nonnull(o);
	lres r;
	long expect = 0;
	while (gort_chan_recv(o, &r)) {
		if (drops && expect % 10 == 0)
			expect++;
		if (drops && expect % 2) {
			ck_assert_int_eq(r.err, -EDOM);
			ck_assert_int_eq(r.value, expect);
		} else {
			ck_assert_int_eq(r.err, 0);
			ck_assert_int_eq(r.value, expect * expect);
		}
		expect++;
	}
	if (drops && expect % 10 == 0) /* the last value was dropped */
		expect++;
	ck_assert_int_eq(expect, n);
	gort_chan_unref(o), gort_chan_unref(g);
	gort_ctx_unref(ctx);
	free(v);
}

static void body_ordered_keeps_input_order(void *arg)
{
	(void)arg;
	gort_map_spec slow = {square_slowly, NULL, sizeof(long), sizeof(long), 0};
	ordered_check(&slow, 8, gt_scaled(2000), false);
	ordered_check(&slow, 1, 100, false);
	ordered_check(&slow, 3, 7, false); /* fewer values than rounds */
}

static void body_ordered_drops_leave_no_gap(void *arg)
{
	(void)arg;
	gort_map_spec spec = {square_even, NULL, sizeof(long), sizeof(long), 0};
	ordered_check(&spec, 8, 501, true);
}

/* ---- early stop and cancellation over whole pipelines ----------------- */

/* Builds a pipeline on an endless source and returns its last channel;
 * *ret_elem is its element size. */
typedef gort_chan *(*pipeline_fn)(gort_ctx *ctx, size_t *ret_elem);

static gort_chan *endless(gort_ctx *ctx)
{
	long vals[4] = {1, 2, 3, 4};
	return gort_gen_repeat(ctx, vals, 4, sizeof(long));
}

static gort_chan *pl_or_done(gort_ctx *ctx, size_t *ret_elem)
{
	gort_chan *g = endless(ctx), *c = gort_or_done(ctx, g, sizeof(long));
	gort_chan_unref(g);
	*ret_elem = sizeof(long);
	return c;
}

static gort_chan *pl_queue_map(gort_ctx *ctx, size_t *ret_elem)
{
	gort_chan *g = endless(ctx), *q = gort_queue_stage(ctx, g, sizeof(long), 16);
	gort_chan *m = gort_map(ctx, q, &square_spec);
	gort_chan_unref(g), gort_chan_unref(q);
	*ret_elem = sizeof(lres);
	return m;
}

static gort_chan *pl_fan(gort_ctx *ctx, size_t *ret_elem)
{
	gort_chan *g = endless(ctx), *outs[4];
	ck_assert_int_eq(gort_fan_out(ctx, g, &square_spec, 4, outs), 0);
	gort_chan *m = gort_fan_in(ctx, outs, 4, sizeof(lres));
	for (int i = 0; i < 4; i++)
		gort_chan_unref(outs[i]);
	gort_chan_unref(g);
	*ret_elem = sizeof(lres);
	return m;
}

static gort_chan *pl_ordered(gort_ctx *ctx, size_t *ret_elem)
{
	gort_map_spec slow = {square_slowly, NULL, sizeof(long), sizeof(long), 0};
	gort_chan *g = endless(ctx), *o = gort_fan_out_ordered(ctx, g, &slow, 8);
	gort_chan_unref(g);
	*ret_elem = sizeof(lres);
	return o;
}

static gort_chan *pl_tee(gort_ctx *ctx, size_t *ret_elem)
{
	gort_chan *g = endless(ctx), *a, *b;
	ck_assert_int_eq(gort_tee(ctx, g, sizeof(long), &a, &b), 0);
	gort_chan *m = gort_fan_in(ctx, (gort_chan *[]){a, b}, 2, sizeof(long));
	gort_chan_unref(g), gort_chan_unref(a), gort_chan_unref(b);
	*ret_elem = sizeof(long);
	return m;
}

/* Feeds the bridge sub-channels of 3 values forever; the references it
 * could not hand over it drops itself. */
static void subs_producer(void *p)
{
	bridge_src *s = p;
	long vals[3] = {5, 6, 7};
	for (;;) {
		gort_chan *sub = gort_gen_values(s->ctx, vals, 3, sizeof(long));
		if (gort_stage_send(s->ctx, s->streams, &sub)) {
			gort_chan_unref(sub);
			break;
		}
	}
	gort_chan_close(s->streams);
	gort_chan_unref(s->streams);
	gort_ctx_unref(s->ctx);
	free(s);
}

static gort_chan *pl_bridge(gort_ctx *ctx, size_t *ret_elem)
{
	bridge_src *src = malloc(sizeof *src);
	src->ctx = gort_ctx_ref(ctx);
	src->streams = gort_chan_make(sizeof(gort_chan *), 1);
	gort_chan *b = gort_bridge(ctx, src->streams, sizeof(long));
	go(subs_producer, src);
	*ret_elem = sizeof(long);
	return b;
}

static gort_chan *pl_heartbeat(gort_ctx *ctx, size_t *ret_elem)
{
	gort_chan *g = endless(ctx), *out, *beats;
	ck_assert_int_eq(gort_heartbeat_stage(ctx, g, sizeof(long), GORT_MILLISECOND, &out, &beats),
	                 0);
	gort_chan_unref(g), gort_chan_unref(beats);
	*ret_elem = sizeof(long);
	return out;
}

static const pipeline_fn pipelines[] = {pl_or_done, pl_queue_map, pl_fan, pl_ordered,
                                        pl_tee, pl_bridge, pl_heartbeat};
enum { NPIPELINES = sizeof pipelines / sizeof pipelines[0] };

/* The consumer takes a few values and cancels: every stage returns and
 * closes its output (at most the buffered values still arrive). */
static void body_early_stop_every_pipeline(void *arg)
{
	(void)arg;
	for (size_t p = 0; p < NPIPELINES; p++) {
		gort_ctx *ctx = cancel_ctx();
		size_t es;
		gort_chan *c = pipelines[p](ctx, &es);
		ck_assert_ptr_nonnull(c);
		unsigned char buf[64];
		for (uint32_t i = rnd() % 20 + 1; i; i--)
			ck_assert(gort_chan_recv(c, buf));
		gort_ctx_cancel(ctx);
		drain_closed(c, es, 16);
		gort_chan_unref(c);
		gort_ctx_unref(ctx);
	}
}

/* Nobody reads: every stage ends blocked sending; cancellation frees them
 * (and timeouts work as cancellations). */
static void body_cancel_while_blocked_sending(void *arg)
{
	(void)arg;
	for (size_t p = 0; p < NPIPELINES; p++) {
		gort_ctx *ctx = p % 2 ? cancel_ctx()
		                      : gort_ctx_with_timeout(gort_ctx_background(), GORT_MILLISECOND);
		size_t es;
		gort_chan *c = pipelines[p](ctx, &es);
		for (int i = 0; i < 50; i++)
			gort_yield();
		if (p % 2)
			gort_ctx_cancel(ctx);
		else
			gort_chan_recv(gort_ctx_done(ctx), NULL); /* the timeout */
		drain_closed(c, es, 16);
		ck_assert_int_ne(gort_ctx_err(ctx), 0);
		gort_chan_unref(c);
		gort_ctx_unref(ctx);
	}
}

/* Every stage waiting to receive from an input that never sends. */
static void body_cancel_while_blocked_receiving(void *arg)
{
	(void)arg;
	enum { NS = 10 };
	gort_ctx *ctx = cancel_ctx();
	gort_chan *in = gort_chan_make(sizeof(long), 0), *beats, *outs[3], *s[NS];
	gort_chan *streams = gort_chan_make(sizeof(gort_chan *), 0);
	s[0] = gort_take(ctx, in, sizeof(long), 3);
	s[1] = gort_or_done(ctx, in, sizeof(long));
	s[2] = gort_queue_stage(ctx, in, sizeof(long), 2);
	s[3] = gort_map(ctx, in, &square_spec);
	s[4] = gort_fan_out_ordered(ctx, in, &square_spec, 4);
	s[5] = gort_bridge(ctx, streams, sizeof(long));
	s[6] = gort_fan_in(ctx, &in, 1, sizeof(long));
	ck_assert_int_eq(gort_tee(ctx, in, sizeof(long), &s[7], &s[8]), 0);
	ck_assert_int_eq(gort_fan_out(ctx, in, &square_spec, 3, outs), 0);
	ck_assert_int_eq(gort_heartbeat_stage(ctx, in, sizeof(long), GORT_SECOND, &s[9], &beats), 0);
	for (int i = 0; i < 20; i++)
		gort_yield();
	gort_ctx_cancel(ctx);
	for (int i = 0; i < NS; i++) {
		ck_assert_ptr_nonnull(s[i]);
		ck_assert(!gort_chan_recv(s[i], NULL));
		gort_chan_unref(s[i]);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert(!gort_chan_recv(outs[i], NULL));
		gort_chan_unref(outs[i]);
	}
	drain_closed(beats, 0, 1);
	gort_chan_unref(beats);
	gort_chan_unref(streams);
	gort_chan_unref(in);
	gort_ctx_unref(ctx);
}

/* ---- stage groups ----------------------------------------------------- */

static int counting_ones(void *out, void *arg)
{
	__atomic_add_fetch((long *)arg, 1, __ATOMIC_RELAXED);
	*(long *)out = 1;
	return 0;
}

/* Every pipeline under one stage group: after cancel + wait, every output
 * is closed without anyone draining it, and no fn is called any more. */
static void body_stage_group_joins_every_stage(void *arg)
{
	(void)arg;
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &wg);
	ck_assert_ptr_nonnull(group);
	gort_ctx *ctx = gort_ctx_with_cancel(group);
	gort_chan *outs[NPIPELINES + 1];
	size_t es;
	long calls = 0;
	for (size_t p = 0; p < NPIPELINES; p++) {
		outs[p] = pipelines[p](ctx, &es);
		ck_assert(gort_chan_recv(outs[p], NULL));
	}
	outs[NPIPELINES] = gort_gen_repeat_fn(ctx, sizeof(long), counting_ones, &calls);
	ck_assert(gort_chan_recv(outs[NPIPELINES], NULL));
	gort_ctx_cancel(ctx);
	gort_waitgroup_wait(&wg);
	long seen = __atomic_load_n(&calls, __ATOMIC_RELAXED);
	for (size_t p = 0; p <= NPIPELINES; p++) {
		int n = 0, r;
		while ((r = gort_chan_try_recv(outs[p], NULL)) == 0)
			ck_assert_int_le(++n, 16); /* buffered values */
		ck_assert_int_eq(r, -EPIPE);
		gort_chan_unref(outs[p]);
	}
	for (int i = 0; i < 50; i++)
		gort_yield();
	ck_assert_int_eq(__atomic_load_n(&calls, __ATOMIC_RELAXED), seen);
	gort_ctx_unref(ctx);
	gort_ctx_unref(group);
	errno = 0;
	ck_assert_ptr_null(gort_ctx_with_stage_group(gort_ctx_background(), NULL));
	ck_assert_int_eq(errno, EINVAL);
}

/* ---- heartbeats, stage helpers, argument checks ----------------------- */

static void body_heartbeat_pulses(void *arg)
{
	(void)arg;
	gort_ctx *ctx = cancel_ctx();
	gort_chan *in = gort_chan_make(sizeof(long), 0), *out, *beats;
	ck_assert_int_eq(gort_heartbeat_stage(ctx, in, sizeof(long), GORT_MILLISECOND, &out, &beats),
	                 0);
	ck_assert_uint_eq(gort_chan_cap(beats), 1);
	for (int i = 0; i < 3; i++) /* pulses while idle */
		ck_assert(gort_chan_recv(beats, NULL));
	gort_chan_send(in, &(long){5});
	ck_assert_int_eq(recv_long(out), 5);
	ck_assert(gort_chan_recv(beats, NULL)); /* after the value, or a tick */
	gort_chan_close(in);
	ck_assert(!gort_chan_recv(out, NULL));
	drain_closed(beats, 0, 1);
	gort_chan_unref(out), gort_chan_unref(beats), gort_chan_unref(in);
	gort_ctx_unref(ctx);
}

static void body_stage_send_recv(void *arg)
{
	(void)arg;
	gort_ctx *ctx = cancel_ctx();
	gort_chan *c = gort_chan_make(sizeof(long), 1);
	long x = 0;
	ck_assert_int_eq(gort_stage_send(ctx, c, &(long){3}), 0);
	ck_assert_int_eq(gort_stage_recv(ctx, c, &x), 0);
	ck_assert_int_eq(x, 3);
	gort_chan_close(c);
	ck_assert_int_eq(gort_stage_recv(ctx, c, &x), -EPIPE);
	gort_chan_unref(c);
	c = gort_chan_make(sizeof(long), 0);
	gort_ctx_cancel(ctx);
	ck_assert_int_eq(gort_stage_send(ctx, c, &x), -ECANCELED);
	ck_assert_int_eq(gort_stage_recv(ctx, c, &x), -ECANCELED);
	gort_chan_unref(c);
	gort_ctx_unref(ctx);
	ctx = gort_ctx_with_timeout(gort_ctx_background(), GORT_MILLISECOND);
	c = gort_chan_make(sizeof(long), 0);
	ck_assert_int_eq(gort_stage_recv(ctx, c, &x), -ETIMEDOUT); /* blocks, then times out */
	gort_chan_unref(c);
	gort_ctx_unref(ctx);
}

static void body_bad_arguments_einval(void *arg)
{
	(void)arg;
	gort_ctx *bg = gort_ctx_background();
	gort_chan *c = gort_chan_make(sizeof(long), 0), *o1, *o2;
	gort_map_spec nofn = {NULL, NULL, sizeof(long), sizeof(long), 0};
	gort_map_spec badflags = {square, NULL, sizeof(long), sizeof(long), 0x80};
	long v = 1;
	errno = 0;
	ck_assert_ptr_null(gort_gen_values(NULL, &v, 1, sizeof v));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(gort_gen_repeat(bg, &v, 0, sizeof v));
	ck_assert_ptr_null(gort_gen_repeat_fn(bg, sizeof v, NULL, NULL));
	ck_assert_ptr_null(gort_take(bg, NULL, sizeof v, 1));
	ck_assert_ptr_null(gort_or(bg, &c, 0));
	ck_assert_ptr_null(gort_or_done(NULL, c, sizeof v));
	ck_assert_ptr_null(gort_queue_stage(bg, c, sizeof v, 0));
	ck_assert_ptr_null(gort_bridge(bg, NULL, sizeof v));
	ck_assert_ptr_null(gort_map(bg, c, &nofn));
	ck_assert_ptr_null(gort_map(bg, c, &badflags));
	ck_assert_ptr_null(gort_fan_in(bg, &c, 0, sizeof v));
	ck_assert_ptr_null(gort_fan_out_ordered(bg, c, &square_spec, 0));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(gort_tee(bg, c, sizeof v, &o1, NULL), -EINVAL);
	ck_assert_int_eq(gort_fan_out(bg, c, &square_spec, 70000, &o1), -EINVAL);
	ck_assert_int_eq(gort_heartbeat_stage(bg, c, sizeof v, 0, &o1, &o2), -EINVAL);
	ck_assert_int_eq(gort_stage_send(NULL, c, &v), -EINVAL);
	ck_assert_int_eq(gort_stage_recv(NULL, c, &v), -EINVAL);
	gort_chan_unref(c);
}

/* ---- fault injection: the Nth allocation of a constructor fails -------- */

/* The test binary links with -Wl,--wrap=malloc,--wrap=calloc: every
 * allocation of libgort and of this file comes through here.  While armed,
 * the allocation number fail_at made by goroutine fail_g fails. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);

static long fail_at = -1; /* allocations to let through before one fails; -1: off */
static int64_t fail_g;

static bool inject_failure(void)
{
	if (__atomic_load_n(&fail_at, __ATOMIC_ACQUIRE) < 0 ||
	    gort_self_id() != __atomic_load_n(&fail_g, __ATOMIC_RELAXED))
		return false;
	return __atomic_fetch_sub(&fail_at, 1, __ATOMIC_RELAXED) == 0;
}

void *__wrap_malloc(size_t size)
{
	if (inject_failure()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (inject_failure()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_calloc(n, size);
}

/* Builds one pattern reading `in` (or nothing); returns its output or NULL
 * with errno set.  No allocation of its own besides the pattern call. */
typedef gort_chan *(*builder_fn)(gort_ctx *ctx, gort_chan *in);

static gort_chan *b_values(gort_ctx *ctx, gort_chan *in)
{
	(void)in;
	long v[3] = {1, 2, 3};
	return gort_gen_values(ctx, v, 3, sizeof(long));
}

static gort_chan *b_repeat_fn(gort_ctx *ctx, gort_chan *in)
{
	(void)in;
	return gort_gen_repeat_fn(ctx, sizeof(long), forever_ones, NULL);
}

static gort_chan *b_take(gort_ctx *ctx, gort_chan *in)
{
	return gort_take(ctx, in, sizeof(long), 2);
}

static gort_chan *b_or(gort_ctx *ctx, gort_chan *in)
{
	return gort_or(ctx, (gort_chan *[]){in, in, NULL}, 3);
}

static gort_chan *b_queue(gort_ctx *ctx, gort_chan *in)
{
	return gort_queue_stage(ctx, in, sizeof(long), 4);
}

static gort_chan *b_tee(gort_ctx *ctx, gort_chan *in)
{
	gort_chan *a, *b;
	int err = gort_tee(ctx, in, sizeof(long), &a, &b);
	if (err) {
		errno = -err;
		return NULL;
	}
	gort_chan_unref(b);
	return a;
}

static gort_chan *b_fan_out(gort_ctx *ctx, gort_chan *in)
{
	gort_chan *outs[3];
	int err = gort_fan_out(ctx, in, &square_spec, 3, outs);
	if (err) {
		errno = -err;
		return NULL;
	}
	gort_chan_unref(outs[1]), gort_chan_unref(outs[2]);
	return outs[0];
}

static gort_chan *b_fan_in(gort_ctx *ctx, gort_chan *in)
{
	return gort_fan_in(ctx, (gort_chan *[]){in, in}, 2, sizeof(long));
}

static gort_chan *b_ordered(gort_ctx *ctx, gort_chan *in)
{
	return gort_fan_out_ordered(ctx, in, &square_spec, 4);
}

static gort_chan *b_heartbeat(gort_ctx *ctx, gort_chan *in)
{
	gort_chan *out, *beats;
	int err = gort_heartbeat_stage(ctx, in, sizeof(long), GORT_SECOND, &out, &beats);
	if (err) {
		errno = -err;
		return NULL;
	}
	gort_chan_unref(beats);
	return out;
}

static const builder_fn builders[] = {b_values, b_repeat_fn, b_take, b_or, b_queue, b_tee,
                                      b_fan_out, b_fan_in, b_ordered, b_heartbeat};

/* Builds with allocation n failing, for n = 0, 1, ... until a build
 * succeeds: every failed build returns ENOMEM and leaves nothing behind
 * (gt_run checks the goroutines, ASan's leak check the memory). */
static void fault_inject(builder_fn build)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &wg);
	for (long n = 0;; n++) {
		gort_ctx *ctx = gort_ctx_with_cancel(group);
		gort_chan *in = gort_chan_make(sizeof(long), 0);
		__atomic_store_n(&fail_g, gort_self_id(), __ATOMIC_RELAXED);
		__atomic_store_n(&fail_at, n, __ATOMIC_RELEASE);
		gort_chan *out = build(ctx, in);
		bool failed = __atomic_exchange_n(&fail_at, -1, __ATOMIC_RELAXED) < 0;
		if (out) {
			gort_ctx_cancel(ctx);
			drain_closed(out, sizeof(lres), 16);
		} else {
			ck_assert(failed);
			ck_assert_int_eq(errno, ENOMEM);
		}
		gort_ctx_cancel(ctx);
		gort_waitgroup_wait(&wg);
		gort_chan_unref(out), gort_chan_unref(in);
		gort_ctx_unref(ctx);
		if (out) {
			ck_assert_int_ge(n, 1); /* at least the output channel is allocated */
			break;
		}
		ck_assert_int_lt(n, 200);
	}
	gort_ctx_unref(group);
}

static void body_allocation_failures_leave_nothing(void *arg)
{
	(void)arg;
	for (size_t b = 0; b < sizeof builders / sizeof builders[0]; b++)
		fault_inject(builders[b]);
}

/* ---- stress: build, use and cancel pipelines over and over ------------ */

static void body_stress_pipelines(void *arg)
{
	(void)arg;
	long rounds = gt_scaled(gt_sanitized() ? 60 : 300);
	for (long r = 0; r < rounds; r++) {
		gort_ctx *ctx = cancel_ctx();
		size_t es;
		gort_chan *c = pipelines[rnd() % NPIPELINES](ctx, &es);
		unsigned char buf[64];
		for (uint32_t i = rnd() % 200; i; i--)
			ck_assert(gort_chan_recv(c, buf));
		gort_ctx_cancel(ctx);
		drain_closed(c, es, 16);
		gort_chan_unref(c);
		gort_ctx_unref(ctx);
	}
	fan_sum_check(4, gt_scaled(20000));
}

/* ---- the table -------------------------------------------------------- */

static const struct body {
	const char *name;
	void (*fn)(void *);
} bodies[] = {
	{"gen_values_in_order", body_gen_values_in_order},
	{"gen_values_empty_closes", body_gen_values_empty_closes},
	{"repeat_take_cycles", body_repeat_take_cycles},
	{"repeat_fn", body_repeat_fn},
	{"take_zero_and_short_input", body_take_zero_and_short_input},
	{"or_fires_on_any_one", body_or_fires_on_any_one},
	{"or_ends_on_cancel", body_or_ends_on_cancel},
	{"or_done_forwards_and_cancels", body_or_done_forwards_and_cancels},
	{"queue_runs_ahead", body_queue_runs_ahead},
	{"tee_both_see_every_value", body_tee_both_see_every_value},
	{"tee_cancel_while_blocked", body_tee_cancel_while_blocked},
	{"bridge_keeps_order", body_bridge_keeps_order},
	{"bridge_cancel_drops_refs", body_bridge_cancel_drops_refs},
	{"map_squares_in_order", body_map_squares_in_order},
	{"fan_out_in_every_value_once", body_fan_out_in_every_value_once},
	{"error_results_propagate", body_error_results_propagate},
	{"maps_chain_results", body_maps_chain_results},
	{"fan_in_merges_unordered", body_fan_in_merges_unordered},
	{"ordered_keeps_input_order", body_ordered_keeps_input_order},
	{"ordered_drops_leave_no_gap", body_ordered_drops_leave_no_gap},
	{"early_stop_every_pipeline", body_early_stop_every_pipeline},
	{"cancel_while_blocked_sending", body_cancel_while_blocked_sending},
	{"cancel_while_blocked_receiving", body_cancel_while_blocked_receiving},
	{"stage_group_joins_every_stage", body_stage_group_joins_every_stage},
	{"heartbeat_pulses", body_heartbeat_pulses},
	{"stage_send_recv", body_stage_send_recv},
	{"bad_arguments_einval", body_bad_arguments_einval},
	{"allocation_failures_leave_nothing", body_allocation_failures_leave_nothing},
	{"stress_pipelines", body_stress_pipelines},
};
enum { NBODIES = sizeof bodies / sizeof bodies[0] };

/* Loop index i: body i / 2 with i % 2 + 1 workers. */
START_TEST(pattern_body_with_1_and_2_workers)
{
	const struct body *b = &bodies[_i / 2];
	fprintf(stderr, "%s, %d worker(s)\n", b->name, _i % 2 + 1);
	gt_run(_i % 2 + 1, b->fn, NULL);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("patterns");
	TCase *tc = gt_tcase("patterns", 60);
	tcase_add_loop_test(tc, pattern_body_with_1_and_2_workers, 0, 2 * NBODIES);
	suite_add_tcase(s, tc);
	return s;
}
