/* w_patterns.c — workloads built from the patterns of "Concurrency in Go":
 * W8 pipeline (generator -> fan-out -> fan-in -> sum with a done channel)
 * and W9 cancel (a tree of contexts cancelled from its root).
 *
 * The pipeline is written with plain channels and select, as the book
 * writes it in Go: each stage owns its output channel and closes it when it
 * returns, and every send selects on done so that closing done stops it.
 * Every goroutine is joined before the channels and contexts are dropped.
 */
#include "config.h"
#include "bench.h"

#include <errno.h>
#include <string.h>

/* ---- W8 pipeline ------------------------------------------------------- */

enum { PIPELINE_N = 1000000, PIPELINE_FAN = 4 };

static gort_chan *pl_done;      /* closed by the consumer when it stops */
static gort_waitgroup pl_all;   /* every pipeline goroutine */
static gort_waitgroup pl_fwd;   /* the merge's forwarders */

typedef struct stage {
	gort_chan *in, *out; /* unbuffered int64_t channels (in unused by the generator) */
} stage;

/* Sends v on out unless done is closed first; false when stopped. */
static bool send_or_done(gort_chan *out, int64_t v)
{
	gort_select_case cases[2] = {
		{.chan = out, .dir = GORT_SELECT_SEND, .elem = &v},
		{.chan = pl_done, .dir = GORT_SELECT_RECV},
	};
	return gort_select(cases, 2, true) == 0;
}

static void generator(void *arg)
{
	stage *s = arg;
	for (int64_t i = 0; i < PIPELINE_N; i++)
		if (!send_or_done(s->out, i))
			break;
	gort_chan_close(s->out);
	gort_waitgroup_done(&pl_all);
}

static void squarer(void *arg)
{
	stage *s = arg;
	int64_t v;
	while (gort_chan_recv(s->in, &v))
		if (!send_or_done(s->out, v * v))
			break;
	gort_chan_close(s->out);
	gort_waitgroup_done(&pl_all);
}

static void forwarder(void *arg)
{
	stage *s = arg;
	int64_t v;
	while (gort_chan_recv(s->in, &v))
		if (!send_or_done(s->out, v))
			break;
	gort_waitgroup_done(&pl_fwd);
	gort_waitgroup_done(&pl_all);
}

/* Closes the merged channel once every forwarder has returned. */
static void merge_closer(void *arg)
{
	gort_waitgroup_wait(&pl_fwd);
	gort_chan_close(arg);
	gort_waitgroup_done(&pl_all);
}

int bench_pipeline(double *ret_value)
{
	stage gen, sq[PIPELINE_FAN], fwd[PIPELINE_FAN];
	gort_chan *merged = bench_chan(sizeof(int64_t), 0);
	pl_done = bench_chan(0, 0);
	pl_all = (gort_waitgroup)GORT_WAITGROUP_INIT;
	pl_fwd = (gort_waitgroup)GORT_WAITGROUP_INIT;
	int64_t t0 = gort_now();
	gort_waitgroup_add(&pl_all, 1 + 2 * PIPELINE_FAN + 1);
	gen = (stage){NULL, bench_chan(sizeof(int64_t), 0)};
	bench_go(generator, &gen);
	gort_waitgroup_add(&pl_fwd, PIPELINE_FAN);
	for (int i = 0; i < PIPELINE_FAN; i++) {
		sq[i] = (stage){gen.out, bench_chan(sizeof(int64_t), 0)};
		bench_go(squarer, &sq[i]);
		fwd[i] = (stage){sq[i].out, merged};
		bench_go(forwarder, &fwd[i]);
	}
	bench_go(merge_closer, merged);
	int64_t v, sum = 0, n = 0;
	while (gort_chan_recv(merged, &v)) {
		sum += v;
		n++;
	}
	gort_chan_close(pl_done);
	gort_waitgroup_wait(&pl_all);
	*ret_value = bench_since(t0) / PIPELINE_N;
	for (int i = 0; i < PIPELINE_FAN; i++)
		gort_chan_unref(sq[i].out);
	gort_chan_unref(gen.out);
	gort_chan_unref(merged);
	gort_chan_unref(pl_done);
	int64_t want = (int64_t)(PIPELINE_N - 1) * PIPELINE_N * (2 * (int64_t)PIPELINE_N - 1) / 6;
	if (n != PIPELINE_N || sum != want)
		return bench_fail("received %lld squares summing to %lld, want %d summing to %lld",
		                  (long long)n, (long long)sum, PIPELINE_N, (long long)want);
	return 0;
}

/* ---- W9 cancel --------------------------------------------------------- */

enum { CANCEL_FAN = 100, CANCEL_LEAVES = CANCEL_FAN * CANCEL_FAN };

static gort_waitgroup cx_ready, cx_finished;
static int64_t cx_woken; /* waiters whose done channel was closed */

static void leaf_waiter(void *arg)
{
	gort_ctx *leaf = arg;
	gort_waitgroup_done(&cx_ready);
	if (!gort_chan_recv(gort_ctx_done(leaf), NULL))
		__atomic_fetch_add(&cx_woken, 1, __ATOMIC_RELAXED);
	gort_waitgroup_done(&cx_finished);
}

static gort_ctx *with_cancel(gort_ctx *parent)
{
	gort_ctx *ctx = gort_ctx_with_cancel(parent);
	if (!ctx)
		bench_die("gort_ctx_with_cancel: %s", strerror(errno));
	return ctx;
}

int bench_cancel(double *ret_value)
{
	static gort_ctx *children[CANCEL_FAN], *leaves[CANCEL_LEAVES];
	gort_ctx *root = with_cancel(gort_ctx_background());
	for (int i = 0; i < CANCEL_FAN; i++) {
		children[i] = with_cancel(root);
		for (int j = 0; j < CANCEL_FAN; j++)
			leaves[i * CANCEL_FAN + j] = with_cancel(children[i]);
	}
	cx_ready = (gort_waitgroup)GORT_WAITGROUP_INIT;
	cx_finished = (gort_waitgroup)GORT_WAITGROUP_INIT;
	cx_woken = 0;
	gort_waitgroup_add(&cx_ready, CANCEL_LEAVES);
	gort_waitgroup_add(&cx_finished, CANCEL_LEAVES);
	for (int i = 0; i < CANCEL_LEAVES; i++)
		bench_go(leaf_waiter, leaves[i]);
	gort_waitgroup_wait(&cx_ready);
	int64_t t0 = gort_now();
	gort_ctx_cancel(root);
	gort_waitgroup_wait(&cx_finished);
	*ret_value = bench_since(t0) / 1000;
	int bad = -1, err = 0;
	for (int i = 0; i < CANCEL_LEAVES && bad < 0; i++)
		if ((err = gort_ctx_err(leaves[i])) != -ECANCELED)
			bad = i;
	for (int i = 0; i < CANCEL_LEAVES; i++)
		gort_ctx_unref(leaves[i]);
	for (int i = 0; i < CANCEL_FAN; i++)
		gort_ctx_unref(children[i]);
	gort_ctx_unref(root);
	if (cx_woken != CANCEL_LEAVES)
		return bench_fail("%lld of %d waiters returned", (long long)cx_woken, CANCEL_LEAVES);
	if (bad >= 0)
		return bench_fail("leaf %d: err %d, want -ECANCELED", bad, err);
	return 0;
}
