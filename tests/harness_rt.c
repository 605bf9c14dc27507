/* harness_rt.c — gt_run() (harness.h): runs a test body as the root
 * goroutine and checks that every goroutine it started has ended.
 *
 * After fn returns, the root waits (parked on an internal timer, so the
 * workers can run the stragglers) until gort_stats' goroutines_live is back
 * to 1 (the root itself), for at most 5 s; otherwise it writes a goroutine
 * dump to stderr and the test fails.  Link this file into every test binary
 * that runs goroutines (tests/local.mk).  Also the gt_join helpers
 * (harness.h) on the internal park/ready protocol. */
#include "config.h"
#include "harness.h"
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define LEAK_WAIT_NS ((int64_t)5 * 1000000000)

struct gt_call {
	void (*fn)(void *arg);
	void *arg;
	uint64_t leaked; /* goroutines still alive after the wait, 0 if none */
};

struct gt_nap {
	gort__timer t;
	gort__g *g;
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void nap_fire(gort__timer *t, int64_t now)
{
	(void)now;
	gort__ready(((struct gt_nap *)t->arg)->g);
}

static bool nap_commit(gort__g *g, void *arg)
{
	struct gt_nap *n = arg;
	n->g = g;
	gort__timer_start(&n->t, n->t.when);
	return true;
}

/* Parks the calling goroutine for about ns nanoseconds (independent of the
 * public timers module, so that scheduler tests do not depend on it). */
static void gt_nap(int64_t ns)
{
	struct gt_nap n = {.t = GORT__TIMER_INIT};
	n.t.fn = nap_fire;
	n.t.arg = &n;
	n.t.when = mono_ns() + ns;
	gort__park(nap_commit, &n, GORT__WAIT_SLEEP);
}

void gt_join_init(struct gt_join *j, long n)
{
	atomic_store(&j->left, n);
	j->lock = 0;
	j->waiter = NULL;
}

void gt_join_done(struct gt_join *j)
{
	gort__g *g = NULL;
	gort__spin_lock(&j->lock);
	if (atomic_fetch_sub(&j->left, 1) == 1) {
		g = j->waiter;
		j->waiter = NULL;
	}
	gort__spin_unlock(&j->lock);
	if (g)
		gort__ready(g);
}

void gt_join_wait(struct gt_join *j)
{
	gort__spin_lock(&j->lock);
	while (atomic_load(&j->left) > 0) {
		j->waiter = gort__self();
		gort__park(gort__commit_unlock, &j->lock, GORT__WAIT_WAITGROUP);
		gort__spin_lock(&j->lock);
	}
	gort__spin_unlock(&j->lock);
}

static int gt_root(void *arg)
{
	struct gt_call *c = arg;
	c->fn(c->arg);
	int64_t deadline = mono_ns() + LEAK_WAIT_NS;
	gort_stats st;
	for (;;) {
		gort_stats_get(&st);
		if (st.goroutines_live <= 1)
			return 0;
		if (mono_ns() > deadline)
			break;
		gt_nap(1000000);
	}
	c->leaked = st.goroutines_live - 1;
	fprintf(stderr, "gt_run: %llu goroutine(s) still alive 5 s after the test body returned\n",
	        (unsigned long long)c->leaked);
	gort_dump(2);
	return 0;
}

void gt_run(int procs, void (*fn)(void *arg), void *arg)
{
	struct gt_call c = {fn, arg, 0};
	gort_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.procs = procs;
	int r = gort_main(&cfg, gt_root, &c);
	ck_assert_msg(r == 0, "gort_main returned %d", r);
	if (c.leaked)
		ck_abort_msg("%llu goroutine(s) leaked (dump on stderr)", (unsigned long long)c.leaked);
}
