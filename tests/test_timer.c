/* test_timer.c — gort_sleep, one-shot timers, gort_after and tickers keep
 * Go's semantics (fire once, stop/reset results, dropped ticks), sleepers
 * never wake early and in deadline order, and a runtime whose only work is
 * 100,000 far-away timers sleeps instead of spinning.  Every test runs with
 * 1 and 2 workers (the loop index is the worker count). */
#include "harness.h"
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#define MS GORT_MILLISECOND

/* Receives n completion tokens from fin: the spawned goroutines finished. */
static void join_n(gort_chan *fin, long n)
{
	for (long i = 0; i < n; i++)
		ck_assert(gort_chan_recv(fin, NULL));
}

/* ---------------------------------------------------------------------- */

static gort_chan *sleep_fin;
static long sleep_early;

static void sleeper(void *arg)
{
	int64_t d = (int64_t)(intptr_t)arg;
	int64_t t0 = gort_now();
	gort_sleep(d);
	if (gort_now() - t0 < d)
		__atomic_add_fetch(&sleep_early, 1, __ATOMIC_RELAXED);
	gort_chan_send(sleep_fin, NULL);
}

static void many_sleepers_body(void *arg)
{
	long n = gt_scaled(gt_sanitized() ? 2000 : 10000);
	(void)arg;
	sleep_fin = gort_chan_make(0, 0);
	for (long i = 0; i < n; i++)
		ck_assert_int_gt(gort_go(sleeper, (void *)(intptr_t)(50 * MS)), 0);
	join_n(sleep_fin, n);
	ck_assert_int_eq(sleep_early, 0);
	gort_chan_unref(sleep_fin);
}

START_TEST(ten_thousand_sleepers_all_wake_none_early)
{
	gt_run(_i, many_sleepers_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

/* Sleeper k sleeps (k + 1) * 25 ms.  It must run before every longer
 * sleeper, unless it was itself still waiting to run when that one's
 * deadline passed (a stalled process: both were due, and the order among
 * due goroutines is the scheduler's). */
enum { ORDER_N = 6 };
static int order_pos;
static struct {
	int pos;         /* rank in which it ran after its sleep */
	int64_t due;     /* its deadline */
	int64_t woke;    /* gort_now() once running again */
} order[ORDER_N];

static void order_sleeper(void *arg)
{
	int k = (int)(intptr_t)arg;
	int64_t d = (k + 1) * 25 * MS;
	order[k].due = gort_now() + d;
	gort_sleep(d);
	order[k].woke = gort_now();
	order[k].pos = __atomic_fetch_add(&order_pos, 1, __ATOMIC_RELAXED);
	gort_chan_send(sleep_fin, NULL);
}

static void sleep_order_body(void *arg)
{
	(void)arg;
	sleep_fin = gort_chan_make(0, 0);
	for (int k = ORDER_N - 1; k >= 0; k--) /* longest first */
		ck_assert_int_gt(gort_go(order_sleeper, (void *)(intptr_t)k), 0);
	join_n(sleep_fin, ORDER_N);
	for (int k = 0; k < ORDER_N; k++)
		for (int j = k + 1; j < ORDER_N; j++)
			ck_assert_msg(order[k].pos < order[j].pos || order[k].woke >= order[j].due,
			              "sleeper %d ran after the longer sleeper %d", k, j);
	gort_chan_unref(sleep_fin);
}

START_TEST(shorter_sleeps_wake_first)
{
	gt_run(_i, sleep_order_body, NULL);
}
END_TEST

static void sleep_nonpositive_body(void *arg)
{
	(void)arg;
	int64_t t0 = gort_now();
	gort_sleep(0);
	gort_sleep(-5 * GORT_SECOND);
	ck_assert_int_lt(gort_now() - t0, GORT_SECOND);
}

START_TEST(sleep_of_zero_or_less_returns_at_once)
{
	gt_run(_i, sleep_nonpositive_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

static void after_body(void *arg)
{
	(void)arg;
	int64_t t0 = gort_now(), v = 0;
	gort_chan *c = gort_after(20 * MS);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(gort_chan_cap(c), 1);
	ck_assert(gort_chan_recv(c, &v));
	ck_assert_int_ge(v - t0, 20 * MS);
	ck_assert_int_le(v, gort_now());
	gort_sleep(40 * MS);
	ck_assert_int_eq(gort_chan_try_recv(c, &v), -EAGAIN); /* once only */
	gort_chan_unref(c);
	/* A dropped gort_after channel: the timer still fires, then frees
	 * both (LSan would report a leak otherwise). */
	gort_chan_unref(gort_after(MS));
	gort_sleep(20 * MS);
}

START_TEST(after_fires_exactly_once)
{
	gt_run(_i, after_body, NULL);
}
END_TEST

/* A gort_after still pending when gort_main returns never fires; its
 * record and channel are freed at exit (LSan checks this in the
 * sanitizer build), also when the runtime ran again meanwhile. */
static void after_abandoned_body(void *arg)
{
	(void)arg;
	gort_chan_unref(gort_after(3600 * GORT_SECOND));
	gort_chan *c = gort_after(3600 * GORT_SECOND);
	ck_assert_int_eq(gort_chan_try_recv(c, NULL), -EAGAIN);
	gort_chan_unref(c);
}

START_TEST(after_pending_at_runtime_end_does_not_leak)
{
	gt_run(_i, after_abandoned_body, NULL);
	gt_run(_i, after_abandoned_body, NULL);
}
END_TEST

static void timer_stop_body(void *arg)
{
	(void)arg;
	int64_t v;
	gort_timer *t = gort_timer_make(300 * MS);
	ck_assert_ptr_nonnull(t);
	ck_assert(gort_timer_stop(t));  /* stopped it */
	ck_assert(!gort_timer_stop(t)); /* already stopped */
	gort_sleep(350 * MS);           /* past the deadline it had */
	ck_assert_int_eq(gort_chan_try_recv(gort_timer_chan(t), &v), -EAGAIN);
	gort_timer_free(t);

	t = gort_timer_make(MS);
	ck_assert(gort_chan_recv(gort_timer_chan(t), &v));
	ck_assert(!gort_timer_stop(t)); /* already fired */
	gort_timer_free(t);
}

START_TEST(timer_stop_before_fire_prevents_value_after_returns_false)
{
	gt_run(_i, timer_stop_body, NULL);
}
END_TEST

static void timer_reset_body(void *arg)
{
	(void)arg;
	int64_t v;
	gort_timer *t = gort_timer_make(3600 * GORT_SECOND);
	int64_t t0 = gort_now();
	ck_assert(gort_timer_reset(t, 10 * MS)); /* was pending */
	ck_assert(gort_chan_recv(gort_timer_chan(t), &v));
	ck_assert_int_ge(v - t0, 10 * MS);
	ck_assert_int_lt(v - t0, 3600 * GORT_SECOND);

	t0 = gort_now();
	ck_assert(!gort_timer_reset(t, 10 * MS)); /* had fired: re-arms anyway */
	ck_assert(gort_chan_recv(gort_timer_chan(t), &v));
	ck_assert_int_ge(v - t0, 10 * MS);

	ck_assert(!gort_timer_stop(t));
	ck_assert(!gort_timer_reset(t, 0)); /* stopped: re-arms, fires at once */
	ck_assert(gort_chan_recv(gort_timer_chan(t), &v));
	gort_timer_free(t);
	gort_timer_free(NULL);
}

START_TEST(timer_reset_rearms_and_reports_pending)
{
	gt_run(_i, timer_reset_body, NULL);
}
END_TEST

/* Stop racing with the firing: once stop returned, the callback is done,
 * so "false" means the value is already in the channel and "true" means it
 * never will be. */
static void timer_stop_race_body(void *arg)
{
	(void)arg;
	long n = gt_scaled(2000), stopped = 0;
	for (long i = 0; i < n; i++) {
		gort_timer *t = gort_timer_make((int64_t)(i % 50) * GORT_MICROSECOND);
		ck_assert_ptr_nonnull(t);
		if (i % 3 == 0)
			gort_yield();
		bool was_pending = gort_timer_stop(t);
		stopped += was_pending;
		ck_assert_uint_eq(gort_chan_len(gort_timer_chan(t)), was_pending ? 0 : 1);
		gort_timer_free(t);
	}
	(void)stopped;
}

START_TEST(timer_stop_racing_fire_is_all_or_nothing)
{
	gt_run(_i, timer_stop_race_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

static void ticker_body(void *arg)
{
	(void)arg;
	int64_t start = gort_now(), prev = start, v;
	gort_ticker *tk = gort_ticker_make(10 * MS);
	ck_assert_ptr_nonnull(tk);
	for (int i = 1; i <= 5; i++) {
		ck_assert(gort_chan_recv(gort_ticker_chan(tk), &v));
		ck_assert_int_gt(v, prev);
		ck_assert_int_ge(v - start, i * 10 * MS);
		prev = v;
	}
	gort_ticker_stop(tk);
	(void)gort_chan_try_recv(gort_ticker_chan(tk), &v); /* one may be queued */
	gort_sleep(50 * MS);
	ck_assert_int_eq(gort_chan_try_recv(gort_ticker_chan(tk), &v), -EAGAIN);

	gort_ticker_reset(tk, 5 * MS); /* restarts a stopped ticker */
	ck_assert(gort_chan_recv(gort_ticker_chan(tk), &v));
	ck_assert(gort_chan_recv(gort_ticker_chan(tk), &v));
	gort_ticker_free(tk);
}

START_TEST(ticker_ticks_repeatedly_and_stops)
{
	gt_run(_i, ticker_body, NULL);
}
END_TEST

static void ticker_drop_body(void *arg)
{
	(void)arg;
	int64_t v;
	int64_t t0 = gort_now();
	gort_ticker *tk = gort_ticker_make(2 * MS);
	gort_sleep(60 * MS); /* ~30 periods, nobody receiving */
	gort_ticker_stop(tk);
	ck_assert_uint_eq(gort_chan_len(gort_ticker_chan(tk)), 1);
	ck_assert_int_eq(gort_chan_try_recv(gort_ticker_chan(tk), &v), 0);
	ck_assert_int_ge(v - t0, 2 * MS);
	ck_assert_int_eq(gort_chan_try_recv(gort_ticker_chan(tk), &v), -EAGAIN);
	/* The ticker goes on after its channel was full. */
	gort_ticker_reset(tk, 2 * MS);
	ck_assert(gort_chan_recv(gort_ticker_chan(tk), &v));
	gort_ticker_free(tk);
	errno = 0;
	ck_assert_ptr_null(gort_ticker_make(0));
	ck_assert_int_eq(errno, EINVAL);
}

START_TEST(ticker_drops_ticks_while_channel_is_full)
{
	gt_run(_i, ticker_drop_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

static int64_t cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * GORT_SECOND +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * GORT_MICROSECOND;
}

/* 100,000 timers due in an hour: the idle workers must sleep until the
 * first one, not poll.  Over a 200 ms window in which only the root sleeps,
 * the scheduler parks/switches just for that sleep and the process burns
 * only a small fraction of one CPU (a polling worker burns the whole). */
static void idle_timers_body(void *arg)
{
	(void)arg;
	long n = gt_scaled(100000);
	gort_timer **ts = calloc((size_t)n, sizeof *ts);
	ck_assert_ptr_nonnull(ts);
	for (long i = 0; i < n; i++) {
		ts[i] = gort_timer_make(3600 * GORT_SECOND + i);
		ck_assert_ptr_nonnull(ts[i]);
	}
	gort_sleep(10 * MS); /* let every worker settle */
	gort_stats before, after;
	gort_stats_get(&before);
	int64_t cpu0 = cpu_ns(), t0 = gort_now();
	gort_sleep(200 * MS);
	int64_t cpu = cpu_ns() - cpu0, wall = gort_now() - t0;
	gort_stats_get(&after);
	ck_assert_uint_le(after.parks - before.parks, 4);
	ck_assert_uint_le(after.context_switches - before.context_switches, 16);
	ck_assert_msg(cpu < wall / 4, "idle runtime used %lld ns CPU in %lld ns", (long long)cpu,
	              (long long)wall);
	for (long i = 0; i < n; i++)
		ck_assert(gort_timer_stop(ts[i]));
	for (long i = 0; i < n; i++)
		gort_timer_free(ts[i]);
	free(ts);
}

START_TEST(idle_runtime_with_100k_pending_timers_sleeps)
{
	gt_run(_i, idle_timers_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

START_TEST(sleep_outside_a_goroutine_aborts)
{
	gort_sleep(MS);
}
END_TEST

static void ticker_reset_zero_body(void *arg)
{
	(void)arg;
	gort_ticker *tk = gort_ticker_make(MS);
	gort_ticker_reset(tk, 0);
}

START_TEST(ticker_reset_with_nonpositive_period_aborts)
{
	gt_run(1, ticker_reset_zero_body, NULL);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = gt_tcase("timer", 30);
	tcase_add_loop_test(tc, ten_thousand_sleepers_all_wake_none_early, 1, 3);
	tcase_add_loop_test(tc, shorter_sleeps_wake_first, 1, 3);
	tcase_add_loop_test(tc, sleep_of_zero_or_less_returns_at_once, 1, 3);
	tcase_add_loop_test(tc, after_fires_exactly_once, 1, 3);
	tcase_add_loop_test(tc, after_pending_at_runtime_end_does_not_leak, 1, 3);
	tcase_add_loop_test(tc, timer_stop_before_fire_prevents_value_after_returns_false, 1, 3);
	tcase_add_loop_test(tc, timer_reset_rearms_and_reports_pending, 1, 3);
	tcase_add_loop_test(tc, timer_stop_racing_fire_is_all_or_nothing, 1, 3);
	tcase_add_loop_test(tc, ticker_ticks_repeatedly_and_stops, 1, 3);
	tcase_add_loop_test(tc, ticker_drops_ticks_while_channel_is_full, 1, 3);
	tcase_add_loop_test(tc, idle_runtime_with_100k_pending_timers_sleeps, 1, 3);
	tcase_add_test_raise_signal(tc, sleep_outside_a_goroutine_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, ticker_reset_with_nonpositive_period_aborts, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}
