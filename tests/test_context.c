/* test_context.c — the context tree: cancellation reaches every descendant
 * exactly once (watched through the done channels), errors and deadlines
 * follow Go's rules, values resolve through ancestors, cancelled and
 * dropped children leave their parent's list at once, and all of it holds
 * under concurrent cancellers, from plain threads and on long chains.
 * Every test runs with 1 and 2 workers (the loop index is the worker count). */
#include "harness.h"
#include "context.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define MS GORT_MILLISECOND

static void join_n(gort_chan *fin, long n)
{
	for (long i = 0; i < n; i++)
		ck_assert(gort_chan_recv(fin, NULL));
}

/* A done channel that was closed: receives fail at once. */
static bool is_closed(gort_chan *c)
{
	return gort_chan_try_recv(c, NULL) == -EPIPE;
}

/* ----------------------------------------------------------------------
 * Watchers: one goroutine per node counts how often the node's done
 * channel let it through (select with a never-ready case, so it also
 * exercises done channels in select).
 * ---------------------------------------------------------------------- */

typedef struct node {
	gort_ctx *ctx;
	int seen;           /* done observations, atomic */
	gort_chan *fin;     /* completion tokens */
} node;

static void watcher(void *arg)
{
	node *n = arg;
	gort_select_case cs[2] = {
		{.chan = NULL, .dir = GORT_SELECT_RECV},
		{.chan = gort_ctx_done(n->ctx), .dir = GORT_SELECT_RECV},
	};
	ck_assert_int_eq(gort_select(cs, 2, true), 1);
	ck_assert(!cs[1].ok);
	__atomic_add_fetch(&n->seen, 1, __ATOMIC_RELAXED);
	gort_chan_send(n->fin, NULL);
}

/* Builds root -> fan children -> fan grandchildren in nodes[0..], every
 * other child behind a value context.  Returns the node count. */
static long build_tree(node *nodes, gort_ctx *root, int fan, gort_chan *fin)
{
	static const char key = 0;
	long n = 0;
	nodes[n++] = (node){.ctx = gort_ctx_ref(root), .fin = fin};
	for (int i = 0; i < fan; i++) {
		gort_ctx *parent = root, *v = NULL;
		if (i % 2) {
			v = gort_ctx_with_value(root, &key, NULL);
			parent = v;
		}
		gort_ctx *child = gort_ctx_with_cancel(parent);
		gort_ctx_unref(v); /* the child keeps it */
		nodes[n++] = (node){.ctx = child, .fin = fin};
		for (int j = 0; j < fan; j++)
			nodes[n++] = (node){.ctx = gort_ctx_with_cancel(child), .fin = fin};
	}
	return n;
}

static void free_tree(node *nodes, long n)
{
	for (long i = n - 1; i >= 0; i--)
		gort_ctx_unref(nodes[i].ctx);
}

/* arg: the fan-out (children per node). */
static void propagate_body(void *arg)
{
	int fan = (int)(intptr_t)arg;
	node *nodes = calloc((size_t)(1 + fan + fan * fan), sizeof *nodes);
	gort_chan *fin = gort_chan_make(0, 0);
	gort_ctx *root = gort_ctx_with_cancel(gort_ctx_background());
	long n = build_tree(nodes, root, fan, fin);
	ck_assert_uint_eq(gort__ctx_nchildren(root), (size_t)fan);
	for (long i = 0; i < n; i++) {
		ck_assert_int_eq(gort_ctx_err(nodes[i].ctx), 0);
		ck_assert_int_gt(gort_go(watcher, &nodes[i]), 0);
	}
	ck_assert_int_eq(gort_ctx_cancel(root), 0);
	join_n(fin, n);
	for (long i = 0; i < n; i++) {
		ck_assert_int_eq(nodes[i].seen, 1);
		ck_assert_int_eq(gort_ctx_err(nodes[i].ctx), -ECANCELED);
		ck_assert(is_closed(gort_ctx_done(nodes[i].ctx)));
		ck_assert_uint_eq(gort__ctx_nchildren(nodes[i].ctx), 0);
	}
	ck_assert_int_eq(gort_ctx_cancel(root), 0); /* again: nothing happens */
	free_tree(nodes, n);
	free(nodes);
	gort_ctx_unref(root);
	gort_chan_unref(fin);
}

START_TEST(cancel_reaches_every_descendant_exactly_once)
{
	gt_run(_i, propagate_body, (void *)(intptr_t)10);
}
END_TEST

/* The W9 shape: 100 children of 100 grandchildren, a goroutine on each. */
START_TEST(cancel_wakes_ten_thousand_waiters_each_once)
{
	gt_run(_i, propagate_body, (void *)(intptr_t)(gt_sanitized() ? 50 : 100));
}
END_TEST

/* A cancelled middle node takes its subtree only; siblings and the parent
 * stay live. */
static void subtree_body(void *arg)
{
	(void)arg;
	gort_ctx *root = gort_ctx_with_cancel(gort_ctx_background());
	gort_ctx *a = gort_ctx_with_cancel(root), *b = gort_ctx_with_cancel(root);
	gort_ctx *a1 = gort_ctx_with_cancel(a), *b1 = gort_ctx_with_cancel(b);
	ck_assert_int_eq(gort_ctx_cancel(a), 0);
	ck_assert_int_eq(gort_ctx_err(a1), -ECANCELED);
	ck_assert_int_eq(gort_ctx_err(root), 0);
	ck_assert_int_eq(gort_ctx_err(b), 0);
	ck_assert_int_eq(gort_ctx_err(b1), 0);
	ck_assert(!is_closed(gort_ctx_done(b1)));
	ck_assert_uint_eq(gort__ctx_nchildren(root), 1);
	gort_ctx_unref(a1);
	gort_ctx_unref(a);
	gort_ctx_unref(b1);
	gort_ctx_unref(b);
	ck_assert_uint_eq(gort__ctx_nchildren(root), 0);
	ck_assert_int_eq(gort_ctx_err(root), 0);
	gort_ctx_unref(root);
}

START_TEST(cancel_of_a_subtree_leaves_siblings_and_parent_alone)
{
	gt_run(_i, subtree_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

static void err_body(void *arg)
{
	(void)arg;
	static const char key = 0;
	gort_ctx *bg = gort_ctx_background();
	ck_assert_ptr_null(gort_ctx_done(bg));
	ck_assert_int_eq(gort_ctx_err(bg), 0);
	ck_assert_int_eq(gort_ctx_cancel(bg), -EINVAL);
	ck_assert_int_eq(gort_ctx_cancel(NULL), -EINVAL);
	ck_assert_ptr_eq(gort_ctx_ref(bg), bg);
	gort_ctx_unref(bg); /* no-op */
	gort_ctx_unref(NULL);

	gort_ctx *c = gort_ctx_with_cancel(bg);
	gort_ctx *v = gort_ctx_with_value(c, &key, NULL);
	gort_ctx *bv = gort_ctx_with_value(bg, &key, NULL);
	ck_assert_ptr_null(gort_ctx_done(bv)); /* can never be cancelled */
	ck_assert_ptr_eq(gort_ctx_done(v), gort_ctx_done(c));
	ck_assert_int_eq(gort_ctx_cancel(v), -EINVAL);
	ck_assert_int_eq(gort_ctx_err(v), 0);
	ck_assert_int_eq(gort_ctx_cancel(c), 0);
	ck_assert_int_eq(gort_ctx_err(c), -ECANCELED);
	ck_assert_int_eq(gort_ctx_err(v), -ECANCELED);
	ck_assert_int_eq(gort_ctx_cancel(c), 0);
	ck_assert_int_eq(gort_ctx_err(c), -ECANCELED);

	errno = 0;
	ck_assert_ptr_null(gort_ctx_with_cancel(NULL));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(gort_ctx_with_value(bg, NULL, NULL));
	gort_ctx_unref(bv);
	gort_ctx_unref(v);
	gort_ctx_unref(c);
}

START_TEST(err_is_zero_then_ecanceled_and_only_cancel_contexts_cancel)
{
	gt_run(_i, err_body, NULL);
}
END_TEST

static void deadline_body(void *arg)
{
	(void)arg;
	int64_t t0 = gort_now(), d;
	gort_ctx *c = gort_ctx_with_timeout(gort_ctx_background(), 20 * MS);
	gort_ctx *k = gort_ctx_with_cancel(c);
	ck_assert(gort_ctx_deadline(c, &d));
	ck_assert_int_ge(d - t0, 20 * MS);
	ck_assert(gort_ctx_deadline(k, &d)); /* inherited */
	ck_assert(!gort_chan_recv(gort_ctx_done(k), NULL));
	ck_assert_int_ge(gort_now() - t0, 20 * MS);
	ck_assert_int_eq(gort_ctx_err(c), -ETIMEDOUT);
	ck_assert_int_eq(gort_ctx_err(k), -ETIMEDOUT);
	ck_assert_int_eq(gort_ctx_cancel(c), 0); /* too late: stays ETIMEDOUT */
	ck_assert_int_eq(gort_ctx_err(c), -ETIMEDOUT);
	gort_ctx_unref(k);
	gort_ctx_unref(c);

	/* A deadline already past: born timed out. */
	c = gort_ctx_with_deadline(gort_ctx_background(), gort_now() - 1);
	ck_assert_int_eq(gort_ctx_err(c), -ETIMEDOUT);
	ck_assert(is_closed(gort_ctx_done(c)));
	gort_ctx_unref(c);
	ck_assert(!gort_ctx_deadline(gort_ctx_background(), &d));
}

START_TEST(deadline_exceeded_cancels_with_etimedout)
{
	gt_run(_i, deadline_body, NULL);
}
END_TEST

static void capped_body(void *arg)
{
	(void)arg;
	int64_t pd, cd;
	/* A later deadline is capped; an earlier one stays the child's own. */
	gort_ctx *p = gort_ctx_with_timeout(gort_ctx_background(), 3600 * GORT_SECOND);
	gort_ctx *late = gort_ctx_with_timeout(p, 7200 * GORT_SECOND);
	gort_ctx *early = gort_ctx_with_timeout(p, 5 * MS);
	ck_assert(gort_ctx_deadline(p, &pd));
	ck_assert(gort_ctx_deadline(late, &cd));
	ck_assert_int_eq(cd, pd);
	ck_assert(gort_ctx_deadline(early, &cd));
	ck_assert_int_lt(cd, pd);
	ck_assert(!gort_chan_recv(gort_ctx_done(early), NULL));
	ck_assert_int_eq(gort_ctx_err(early), -ETIMEDOUT);
	ck_assert_int_eq(gort_ctx_err(p), 0);
	ck_assert_int_eq(gort_ctx_err(late), 0);
	ck_assert_uint_eq(gort__ctx_nchildren(p), 1); /* early left at once */
	gort_ctx_unref(early);
	gort_ctx_unref(late);
	gort_ctx_unref(p);

	/* The capped child ends with its parent's deadline. */
	p = gort_ctx_with_timeout(gort_ctx_background(), 30 * MS);
	late = gort_ctx_with_timeout(p, 3600 * GORT_SECOND);
	ck_assert(gort_ctx_deadline(p, &pd));
	ck_assert(!gort_chan_recv(gort_ctx_done(late), NULL));
	ck_assert_int_ge(gort_now(), pd);
	ck_assert_int_eq(gort_ctx_err(late), -ETIMEDOUT);
	ck_assert_int_eq(gort_ctx_err(p), -ETIMEDOUT);
	gort_ctx_unref(late);
	gort_ctx_unref(p);
}

START_TEST(child_deadline_is_capped_by_the_parents)
{
	gt_run(_i, capped_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

static void value_body(void *arg)
{
	(void)arg;
	static const char k1 = 0, k2 = 0, k3 = 0;
	int a = 1, b = 2, c = 3;
	gort_ctx *v1 = gort_ctx_with_value(gort_ctx_background(), &k1, &a);
	gort_ctx *cc = gort_ctx_with_cancel(v1);
	gort_ctx *v2 = gort_ctx_with_value(cc, &k2, &b);
	gort_ctx *v3 = gort_ctx_with_value(v2, &k1, &c); /* shadows k1 */
	ck_assert_ptr_eq(gort_ctx_value(v3, &k1), &c);
	ck_assert_ptr_eq(gort_ctx_value(v3, &k2), &b);
	ck_assert_ptr_eq(gort_ctx_value(v2, &k1), &a);
	ck_assert_ptr_eq(gort_ctx_value(cc, &k1), &a);
	ck_assert_ptr_null(gort_ctx_value(v3, &k3));
	ck_assert_ptr_null(gort_ctx_value(gort_ctx_background(), &k1));
	/* Only the leaf is kept: it holds the chain alive. */
	gort_ctx_unref(v1);
	gort_ctx_unref(cc);
	gort_ctx_unref(v2);
	ck_assert_ptr_eq(gort_ctx_value(v3, &k2), &b);
	gort_ctx_unref(v3);
}

START_TEST(value_lookup_walks_ancestors_nearest_first)
{
	gt_run(_i, value_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

static void detach_body(void *arg)
{
	(void)arg;
	enum { N = 100 };
	static const char key = 0;
	gort_ctx *kids[N];
	gort_ctx *p = gort_ctx_with_cancel(gort_ctx_background());
	gort_ctx *pv = gort_ctx_with_value(p, &key, NULL);
	for (int i = 0; i < N; i++)
		kids[i] = gort_ctx_with_cancel(i % 2 ? pv : p); /* both register with p */
	ck_assert_uint_eq(gort__ctx_nchildren(p), N);
	ck_assert_uint_eq(gort__ctx_nchildren(pv), 0);
	for (int i = 0; i < N / 2; i++) {
		ck_assert_int_eq(gort_ctx_cancel(kids[i]), 0);
		ck_assert_uint_eq(gort__ctx_nchildren(p), (size_t)(N - 1 - i));
	}
	/* Dropping the last reference cancels and detaches; a reference to the
	 * done channel sees the cancellation. */
	gort_chan *d = gort_chan_ref(gort_ctx_done(kids[N - 1]));
	for (int i = N / 2; i < N; i++)
		gort_ctx_unref(kids[i]);
	ck_assert(is_closed(d));
	gort_chan_unref(d);
	ck_assert_uint_eq(gort__ctx_nchildren(p), 0);
	ck_assert_int_eq(gort_ctx_err(p), 0);
	for (int i = 0; i < N / 2; i++)
		gort_ctx_unref(kids[i]);
	ck_assert_int_eq(gort__ctx_refs(p), 2); /* ours and pv's */
	gort_ctx_unref(pv);
	gort_ctx_unref(p);
}

START_TEST(cancelled_or_dropped_child_leaves_parent_list_at_once)
{
	gt_run(_i, detach_body, NULL);
}
END_TEST

static void born_cancelled_body(void *arg)
{
	(void)arg;
	gort_ctx *p = gort_ctx_with_cancel(gort_ctx_background());
	gort_ctx_cancel(p);
	gort_ctx *c = gort_ctx_with_cancel(p);
	gort_ctx *t = gort_ctx_with_timeout(p, 3600 * GORT_SECOND);
	ck_assert_int_eq(gort_ctx_err(c), -ECANCELED);
	ck_assert_int_eq(gort_ctx_err(t), -ECANCELED);
	ck_assert(is_closed(gort_ctx_done(c)));
	ck_assert_uint_eq(gort__ctx_nchildren(p), 0);
	gort_ctx_unref(t);
	gort_ctx_unref(c);
	gort_ctx_unref(p);

	p = gort_ctx_with_deadline(gort_ctx_background(), gort_now());
	c = gort_ctx_with_cancel(p);
	ck_assert_int_eq(gort_ctx_err(c), -ETIMEDOUT); /* the parent's error */
	gort_ctx_unref(c);
	gort_ctx_unref(p);
}

START_TEST(child_of_a_cancelled_parent_is_born_cancelled)
{
	gt_run(_i, born_cancelled_body, NULL);
}
END_TEST

/* ----------------------------------------------------------------------
 * Concurrency
 * ---------------------------------------------------------------------- */

enum { CANCELLERS = 100 };

typedef struct storm {
	node *nodes;
	long n;
	gort_chan *start; /* closed: all cancellers go */
	gort_chan *fin;
	unsigned seed;
} storm;

static void canceller(void *arg)
{
	storm *s = arg;
	unsigned seed = __atomic_add_fetch(&s->seed, 7919, __ATOMIC_RELAXED);
	ck_assert(!gort_chan_recv(s->start, NULL));
	for (int i = 0; i < 20; i++) {
		long k = (long)(rand_r(&seed) % (unsigned)s->n);
		ck_assert_int_eq(gort_ctx_cancel(s->nodes[k].ctx), 0);
	}
	ck_assert_int_eq(gort_ctx_cancel(s->nodes[0].ctx), 0); /* everyone: root */
	gort_chan_send(s->fin, NULL);
}

static void storm_body(void *arg)
{
	(void)arg;
	enum { FAN = 20 };
	static node nodes[1 + FAN + FAN * FAN];
	storm s = {.nodes = nodes, .start = gort_chan_make(0, 0), .fin = gort_chan_make(0, 0)};
	gort_ctx *root = gort_ctx_with_cancel(gort_ctx_background());
	s.n = build_tree(nodes, root, FAN, s.fin);
	for (long i = 0; i < s.n; i++)
		ck_assert_int_gt(gort_go(watcher, &nodes[i]), 0);
	for (int i = 0; i < CANCELLERS; i++)
		ck_assert_int_gt(gort_go(canceller, &s), 0);
	gort_chan_close(s.start);
	join_n(s.fin, s.n + CANCELLERS);
	for (long i = 0; i < s.n; i++) {
		ck_assert_int_eq(nodes[i].seen, 1);
		ck_assert_int_eq(gort_ctx_err(nodes[i].ctx), -ECANCELED);
	}
	ck_assert_uint_eq(gort__ctx_nchildren(root), 0);
	free_tree(nodes, s.n);
	gort_ctx_unref(root);
	gort_chan_unref(s.start);
	gort_chan_unref(s.fin);
}

START_TEST(hundred_concurrent_cancellers_cancel_each_node_once)
{
	gt_run(_i, storm_body, NULL);
}
END_TEST

/* Children created while another goroutine cancels the parent: each is
 * either registered (then cancelled by the parent) or born cancelled. */
typedef struct race {
	gort_ctx *parent;
	gort_ctx **kids;
	long per;
	gort_chan *fin;
	int next;
} race;

static void creator(void *arg)
{
	race *r = arg;
	int me = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED);
	for (long i = 0; i < r->per; i++) {
		r->kids[me * r->per + i] = i % 2 ? gort_ctx_with_cancel(r->parent)
		                                 : gort_ctx_with_timeout(r->parent, 3600 * GORT_SECOND);
		if (i % 16 == 0)
			gort_yield();
	}
	gort_chan_send(r->fin, NULL);
}

static void parent_canceller(void *arg)
{
	race *r = arg;
	gort_yield();
	gort_ctx_cancel(r->parent);
	gort_chan_send(r->fin, NULL);
}

static void create_race_body(void *arg)
{
	(void)arg;
	enum { CREATORS = 4 };
	race r = {.per = gt_scaled(500), .fin = gort_chan_make(0, 0)};
	r.parent = gort_ctx_with_cancel(gort_ctx_background());
	r.kids = calloc((size_t)(CREATORS * r.per), sizeof *r.kids);
	for (int i = 0; i < CREATORS; i++)
		ck_assert_int_gt(gort_go(creator, &r), 0);
	ck_assert_int_gt(gort_go(parent_canceller, &r), 0);
	join_n(r.fin, CREATORS + 1);
	ck_assert_uint_eq(gort__ctx_nchildren(r.parent), 0);
	for (long i = 0; i < CREATORS * r.per; i++) {
		ck_assert_int_eq(gort_ctx_err(r.kids[i]), -ECANCELED);
		ck_assert(is_closed(gort_ctx_done(r.kids[i])));
		gort_ctx_unref(r.kids[i]);
	}
	ck_assert_int_eq(gort__ctx_refs(r.parent), 1);
	gort_ctx_unref(r.parent);
	free(r.kids);
	gort_chan_unref(r.fin);
}

START_TEST(children_created_during_parent_cancel_end_up_cancelled)
{
	gt_run(_i, create_race_body, NULL);
}
END_TEST

/* Deadlines firing while explicit cancels and unrefs run: every context
 * ends cancelled exactly once with one of the two errors, nothing leaks. */
static void deadline_race_body(void *arg)
{
	(void)arg;
	long n = gt_scaled(3000);
	gort_ctx *root = gort_ctx_with_cancel(gort_ctx_background());
	for (long i = 0; i < n; i++) {
		gort_ctx *c = gort_ctx_with_timeout(root, (int64_t)(i % 40) * GORT_MICROSECOND);
		gort_ctx *k = gort_ctx_with_timeout(c, (int64_t)(i % 7) * GORT_MICROSECOND);
		if (i % 5 == 0)
			gort_yield();
		if (i % 2)
			gort_ctx_cancel(c);
		int e = gort_ctx_err(c);
		ck_assert(e == 0 || e == -ECANCELED || e == -ETIMEDOUT);
		gort_ctx_unref(c);
		gort_ctx_unref(k);
	}
	ck_assert_uint_eq(gort__ctx_nchildren(root), 0);
	gort_ctx_unref(root);
}

START_TEST(deadlines_racing_cancels_and_unrefs_stay_consistent)
{
	gt_run(_i, deadline_race_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

typedef struct thread_arg {
	gort_ctx *ctx;
	gort_chan *cancelled; /* closed by the thread after its cancel */
} thread_arg;

static void *os_thread_canceller(void *arg)
{
	thread_arg *ta = arg;
	/* Not for correctness: gives the watchers time to park, so that the
	 * cancel below wakes parked goroutines rather than finding none. */
	usleep(20000);
	ck_assert_int_eq(gort_ctx_cancel(ta->ctx), 0);
	gort_chan_close(ta->cancelled);
	gort_release();
	return NULL;
}

static void os_thread_body(void *arg)
{
	(void)arg;
	enum { W = 50 };
	node nodes[W];
	gort_chan *fin = gort_chan_make(0, 0);
	gort_ctx *root = gort_ctx_with_cancel(gort_ctx_background());
	thread_arg ta = {.ctx = root, .cancelled = gort_chan_make(0, 0)};
	for (int i = 0; i < W; i++) {
		nodes[i] = (node){.ctx = gort_ctx_with_cancel(root), .fin = fin};
		ck_assert_int_gt(gort_go(watcher, &nodes[i]), 0);
	}
	pthread_t th;
	gort_hold(); /* the thread will wake goroutines */
	ck_assert_int_eq(pthread_create(&th, NULL, os_thread_canceller, &ta), 0);
	join_n(fin, W);
	ck_assert(!gort_chan_recv(ta.cancelled, NULL));
	pthread_join(th, NULL);
	for (int i = 0; i < W; i++) {
		ck_assert_int_eq(nodes[i].seen, 1);
		gort_ctx_unref(nodes[i].ctx);
	}
	gort_ctx_unref(root);
	gort_chan_unref(ta.cancelled);
	gort_chan_unref(fin);
}

START_TEST(cancel_from_a_plain_thread_wakes_done_waiters)
{
	gt_run(_i, os_thread_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

/* A chain far deeper than any stack could recurse: cancelling its root
 * and dropping its leaf (the only reference holding the chain) must be
 * iterative. */
static void chain_body(void *arg)
{
	(void)arg;
	long depth = gt_scaled(100000);
	static const char key = 0;
	gort_ctx *root = gort_ctx_with_cancel(gort_ctx_background());
	gort_ctx *leaf = gort_ctx_ref(root);
	for (long i = 0; i < depth; i++) {
		gort_ctx *next = i % 3 == 2 ? gort_ctx_with_value(leaf, &key, NULL)
		                            : gort_ctx_with_cancel(leaf);
		ck_assert_ptr_nonnull(next);
		gort_ctx_unref(leaf);
		leaf = next;
	}
	ck_assert_int_eq(gort_ctx_err(leaf), 0);
	ck_assert_int_eq(gort_ctx_cancel(root), 0);
	ck_assert_int_eq(gort_ctx_err(leaf), -ECANCELED);
	ck_assert(is_closed(gort_ctx_done(leaf)));
	gort_ctx_unref(leaf); /* frees the whole chain but the root */
	ck_assert_int_eq(gort__ctx_refs(root), 1);
	gort_ctx_unref(root);

	/* Without a cancel: only the leaf's reference holds the chain, and
	 * dropping it cancels and frees every context up to the root. */
	root = gort_ctx_with_cancel(gort_ctx_background());
	gort_chan *root_done = gort_chan_ref(gort_ctx_done(root));
	leaf = root;
	for (long i = 0; i < depth; i++) {
		gort_ctx *next = gort_ctx_with_cancel(leaf);
		ck_assert_ptr_nonnull(next);
		gort_ctx_unref(leaf);
		leaf = next;
	}
	ck_assert(!is_closed(root_done));
	gort_ctx_unref(leaf);
	ck_assert(is_closed(root_done));
	gort_chan_unref(root_done);
}

START_TEST(long_chains_cancel_and_free_without_recursion)
{
	gt_run(_i, chain_body, NULL);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("context");
	TCase *tc = gt_tcase("context", 30);
	tcase_add_loop_test(tc, cancel_reaches_every_descendant_exactly_once, 1, 3);
	tcase_add_loop_test(tc, cancel_wakes_ten_thousand_waiters_each_once, 1, 3);
	tcase_add_loop_test(tc, cancel_of_a_subtree_leaves_siblings_and_parent_alone, 1, 3);
	tcase_add_loop_test(tc, err_is_zero_then_ecanceled_and_only_cancel_contexts_cancel, 1, 3);
	tcase_add_loop_test(tc, deadline_exceeded_cancels_with_etimedout, 1, 3);
	tcase_add_loop_test(tc, child_deadline_is_capped_by_the_parents, 1, 3);
	tcase_add_loop_test(tc, value_lookup_walks_ancestors_nearest_first, 1, 3);
	tcase_add_loop_test(tc, cancelled_or_dropped_child_leaves_parent_list_at_once, 1, 3);
	tcase_add_loop_test(tc, child_of_a_cancelled_parent_is_born_cancelled, 1, 3);
	tcase_add_loop_test(tc, hundred_concurrent_cancellers_cancel_each_node_once, 1, 3);
	tcase_add_loop_test(tc, children_created_during_parent_cancel_end_up_cancelled, 1, 3);
	tcase_add_loop_test(tc, deadlines_racing_cancels_and_unrefs_stay_consistent, 1, 3);
	tcase_add_loop_test(tc, cancel_from_a_plain_thread_wakes_done_waiters, 1, 3);
	tcase_add_loop_test(tc, long_chains_cancel_and_free_without_recursion, 1, 3);
	suite_add_tcase(s, tc);
	return s;
}
