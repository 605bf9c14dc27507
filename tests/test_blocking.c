/* test_blocking.c — the blocking pool (gort_blocking_call): results come
 * back, a goroutine blocked in a pool call does not stop the others (one
 * worker), the thread limit bounds concurrency, idle threads exit. */
#include "config.h"
#include "harness.h"
#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

static intptr_t twice(void *arg)
{
	return (intptr_t)arg * 2;
}

static void results_body(void *arg)
{
	(void)arg;
	for (intptr_t i = 0; i < 1000; i++)
		ck_assert_int_eq(gort_blocking_call(twice, (void *)i), 2 * i);
}

START_TEST(call_returns_the_functions_result)
{
	gt_run(1, results_body, NULL);
	gt_run(2, results_body, NULL);
}
END_TEST

START_TEST(call_outside_a_goroutine_runs_inline)
{
	ck_assert_int_eq(gort_blocking_call(twice, (void *)21), 42);
}
END_TEST

/* fn blocks reading one byte from the pipe the test controls. */
static int gate[2];
static atomic_int active, max_active;
static gort_sema started = GORT_SEMA_INIT(0);

static intptr_t gated(void *arg)
{
	(void)arg;
	int now = atomic_fetch_add(&active, 1) + 1;
	int m = atomic_load(&max_active);
	while (now > m && !atomic_compare_exchange_weak(&max_active, &m, now))
		;
	gort_sema_release(&started);
	char c;
	ssize_t n = read(gate[0], &c, 1);
	atomic_fetch_sub(&active, 1);
	return n;
}

struct caller {
	gort_waitgroup *wg;
	intptr_t result;
};

static void call_gated(void *arg)
{
	struct caller *c = arg;
	c->result = gort_blocking_call(gated, NULL);
	gort_waitgroup_done(c->wg);
}

static void pong(void *arg)
{
	gort_chan *c = arg;
	int v;
	while (gort_chan_recv(c, &v))
		gort_chan_send(c, &v);
}

static void one_worker_body(void *arg)
{
	(void)arg;
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct caller c = {&wg, 0};
	gort_waitgroup_add(&wg, 1);
	gort_go(call_gated, &c);
	gort_sema_acquire(&started); /* the call is in its pool thread now */
	gort_chan *ch = gort_chan_make(sizeof(int), 0);
	gort_go(pong, ch);
	for (int i = 0; i < 1000; i++) {
		int v = i, got;
		gort_chan_send(ch, &v);
		ck_assert(gort_chan_recv(ch, &got));
		ck_assert_int_eq(got, i);
	}
	gort_chan_close(ch);
	ck_assert_int_eq(atomic_load(&active), 1); /* still blocked meanwhile */
	ck_assert_int_eq(write(gate[1], "x", 1), 1);
	gort_waitgroup_wait(&wg);
	ck_assert_int_eq(c.result, 1);
	gort_chan_unref(ch);
}

START_TEST(blocked_pool_call_does_not_stop_other_goroutines_on_one_worker)
{
	ck_assert_int_eq(pipe(gate), 0);
	gt_run(1, one_worker_body, NULL);
}
END_TEST

enum { LIMIT = 3, CALLERS = 12 };

static void bound_body(void *arg)
{
	(void)arg;
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct caller c[CALLERS];
	for (int i = 0; i < CALLERS; i++) {
		c[i] = (struct caller){&wg, 0};
		gort_waitgroup_add(&wg, 1);
		gort_go(call_gated, &c[i]);
	}
	for (int i = 0; i < LIMIT; i++)
		gort_sema_acquire(&started);
	ck_assert_int_le(gort__blocking_threads(), LIMIT);
	/* Release them one at a time: each release lets one queued call in. */
	for (int i = 0; i < CALLERS; i++) {
		ck_assert_int_le(atomic_load(&active), LIMIT);
		ck_assert_int_eq(write(gate[1], "x", 1), 1);
		if (i + LIMIT < CALLERS)
			gort_sema_acquire(&started);
	}
	gort_waitgroup_wait(&wg);
	for (int i = 0; i < CALLERS; i++)
		ck_assert_int_eq(c[i].result, 1);
	ck_assert_int_eq(atomic_load(&max_active), LIMIT);
}

START_TEST(pool_runs_at_most_its_limit_of_calls_at_once)
{
	ck_assert_int_eq(pipe(gate), 0);
	ck_assert_int_eq(gort_blocking_configure(LIMIT, 0), 0);
	gt_run(2, bound_body, NULL);
	gt_run(1, bound_body, NULL);
}
END_TEST

static void idle_body(void *arg)
{
	(void)arg;
	ck_assert_int_eq(gort_blocking_call(twice, (void *)1), 2);
	ck_assert_int_ge(gort__blocking_threads(), 1);
	int64_t end = gort_now() + 5 * GORT_SECOND;
	while (gort__blocking_threads() > 0 && gort_now() < end)
		gort_sleep(5 * GORT_MILLISECOND); /* waits for a condition, bounded */
	ck_assert_int_eq(gort__blocking_threads(), 0);
	ck_assert_int_eq(gort_blocking_call(twice, (void *)4), 8); /* and restart */
}

START_TEST(idle_threads_exit_after_the_idle_timeout)
{
	ck_assert_int_eq(gort_blocking_configure(0, 20 * GORT_MILLISECOND), 0);
	gt_run(2, idle_body, NULL);
}
END_TEST

START_TEST(configure_rejects_bad_values)
{
	ck_assert_int_eq(gort_blocking_configure(-1, 0), -EINVAL);
	ck_assert_int_eq(gort_blocking_configure(5000, 0), -EINVAL);
	ck_assert_int_eq(gort_blocking_configure(0, -1), -EINVAL);
	ck_assert_int_eq(gort_blocking_configure(0, 0), 0);
}
END_TEST

struct many {
	gort_waitgroup *wg;
	long sum;
};

static void many_caller(void *arg)
{
	struct many *m = arg;
	for (intptr_t i = 0; i < 50; i++)
		m->sum += gort_blocking_call(twice, (void *)i);
	gort_waitgroup_done(m->wg);
}

static void stress_body(void *arg)
{
	(void)arg;
	enum { G = 64 };
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	static struct many m[G];
	long rounds = gt_scaled(20);
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < G; i++) {
			m[i] = (struct many){&wg, 0};
			gort_waitgroup_add(&wg, 1);
			gort_go(many_caller, &m[i]);
		}
		gort_waitgroup_wait(&wg);
		for (int i = 0; i < G; i++)
			ck_assert_int_eq(m[i].sum, 49 * 50);
	}
}

START_TEST(many_goroutines_share_the_pool)
{
	ck_assert_int_eq(gort_blocking_configure(4, 0), 0);
	gt_run(1, stress_body, NULL);
	gt_run(2, stress_body, NULL);
}
END_TEST

/* gort_main returning while a goroutine is parked in a pool call: the
 * call's thread later finishes without touching the discarded goroutine,
 * and the next run's calls work. */
static void orphan_caller(void *arg)
{
	(void)arg;
	gort_blocking_call(gated, NULL);
	ck_abort_msg("a discarded goroutine ran again");
}

static int orphan_root(void *arg)
{
	(void)arg;
	gort_go(orphan_caller, NULL);
	gort_sema_acquire(&started); /* the call runs on its pool thread now */
	return 7;
}

START_TEST(runtime_end_orphans_calls_in_flight)
{
	ck_assert_int_eq(pipe(gate), 0);
	gort_config cfg = {.procs = 2};
	ck_assert_int_eq(gort_main(&cfg, orphan_root, NULL), 7);
	ck_assert_int_eq(atomic_load(&active), 1);
	ck_assert_int_eq(write(gate[1], "x", 1), 1);
	while (atomic_load(&active)) /* the orphaned call returns on its thread */
		sched_yield();
	gt_run(2, results_body, NULL);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("blocking");
	TCase *tc = gt_tcase("blocking", 30);
	tcase_add_test(tc, call_returns_the_functions_result);
	tcase_add_test(tc, call_outside_a_goroutine_runs_inline);
	tcase_add_test(tc, blocked_pool_call_does_not_stop_other_goroutines_on_one_worker);
	tcase_add_test(tc, pool_runs_at_most_its_limit_of_calls_at_once);
	tcase_add_test(tc, idle_threads_exit_after_the_idle_timeout);
	tcase_add_test(tc, configure_rejects_bad_values);
	tcase_add_test(tc, many_goroutines_share_the_pool);
	tcase_add_test(tc, runtime_end_orphans_calls_in_flight);
	suite_add_tcase(s, tc);
	return s;
}
