/* test_sched.c — the scheduler core: spawning and joining, parking and
 * waking (also from plain threads), yield fairness, the run-next cap,
 * gort_main's life cycle and configuration, statistics, dumps, deadlock
 * detection, the internal timer heap and idle workers sleeping.
 *
 * Joins are built here on gort__park/gort__ready (sync.c is a separate
 * module), so these tests exercise the scheduler alone. */
#include "config.h"
#include "harness.h"
#include "internal.h"
#include "sched_impl.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ThreadSanitizer counts each goroutine (fiber) as a thread and dies past
 * 8128 of them: tests that keep many goroutines alive keep fewer there. */
static long live_limit(long n)
{
#ifdef GORT_TSAN
	return n < 4000 ? n : 4000;
#else
	return n;
#endif
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------------------------------------------------------------
 * A gate: goroutines park until it opens.
 * --------------------------------------------------------------------- */

struct gate {
	uint32_t lock;
	bool open;
	long parked;
	gort__waitq q;
};

static void gate_wait(struct gate *gt, enum gort__wait_reason why)
{
	gort__waiter w = {.g = gort__self()};
	gort__spin_lock(&gt->lock);
	if (gt->open) {
		gort__spin_unlock(&gt->lock);
		return;
	}
	gort__waitq_push(&gt->q, &w);
	gt->parked++;
	gort__park(gort__commit_unlock, &gt->lock, why);
}

static long gate_parked(struct gate *gt)
{
	gort__spin_lock(&gt->lock);
	long n = gt->parked;
	gort__spin_unlock(&gt->lock);
	return n;
}

static void gate_open(struct gate *gt)
{
	gort__spin_lock(&gt->lock);
	gt->open = true;
	gort__waitq q = gt->q;
	gt->q.head = gt->q.tail = NULL;
	gort__spin_unlock(&gt->lock);
	gort__waiter *w;
	while ((w = gort__waitq_pop(&q)))
		gort__ready(w->g);
}

/* Yields until at least n goroutines are parked at the gate. */
static void gate_await_parked(struct gate *gt, long n)
{
	while (gate_parked(gt) < n)
		gort_yield();
}

/* ---------------------------------------------------------------------
 * Spawning and joining.
 * --------------------------------------------------------------------- */

static void count_down(void *arg)
{
	gt_join_done(arg);
}

static void spawn_join_body(void *arg)
{
	(void)arg;
	/* sanitizers' per-switch bookkeeping: fewer there */
	long n = gt_scaled(gt_sanitized() ? 100000 : 1000000);
	struct gt_join j;
	gt_join_init(&j, n);
	for (long i = 0; i < n; i++) {
		ck_assert_int_gt(gort_go(count_down, &j), 0);
		if (i % 256 == 255)
			gort_yield(); /* let them run: bounds the goroutines alive */
	}
	gt_join_wait(&j);
	gort_stats st;
	gort_stats_get(&st);
	ck_assert_uint_ge(st.goroutines_created, (uint64_t)n + 1);
}

START_TEST(million_spawns_are_joined)
{
	gt_run(_i + 1, spawn_join_body, NULL);
}
END_TEST

struct ids {
	struct gt_join j;
	int64_t seen[64];
};

static void record_id(void *arg)
{
	struct ids *ids = arg;
	int64_t id = gort_self_id();
	ck_assert_int_gt(id, 0);
	gt_join_done(&ids->j);
}

static void ids_body(void *arg)
{
	(void)arg;
	struct ids ids;
	gt_join_init(&ids.j, 64);
	for (int i = 0; i < 64; i++) {
		ids.seen[i] = gort_go(record_id, &ids);
		ck_assert_int_gt(ids.seen[i], 1);
		for (int k = 0; k < i; k++)
			ck_assert_int_ne(ids.seen[i], ids.seen[k]);
	}
	gt_join_wait(&ids.j);
	ck_assert_int_eq(gort_self_id(), 1);
	ck_assert_int_eq(gort__worker_index() >= 0, 1);
	ck_assert_ptr_nonnull(gort__self());
}

START_TEST(goroutine_ids_are_unique_and_root_is_1)
{
	gt_run(_i + 1, ids_body, NULL);
	ck_assert_int_eq(gort_self_id(), 0);
	ck_assert_ptr_null(gort__self());
	ck_assert_int_eq(gort__worker_index(), -1);
}
END_TEST

/* ---------------------------------------------------------------------
 * gort_main's life cycle and configuration.
 * --------------------------------------------------------------------- */

static void park_forever(void *arg)
{
	gate_wait(arg, GORT__WAIT_CHAN_RECV);
}

static int root_value(void *arg)
{
	static struct gate never;
	ck_assert_int_gt(gort_go(park_forever, &never), 0); /* discarded at the end */
	ck_assert_int_eq(gort_main(NULL, root_value, NULL), -EBUSY);
	return *(int *)arg;
}

START_TEST(main_returns_root_value_and_runs_twice)
{
	int v1 = 42, v2 = -7;
	ck_assert_int_eq(gort_main(NULL, root_value, &v1), 42);
	ck_assert_int_eq(gort_nprocs(), 0);
	gort_config cfg = {.procs = 2};
	ck_assert_int_eq(gort_main(&cfg, root_value, &v2), -7);
	ck_assert_int_eq(gort_go(count_down, NULL), -ESRCH);
}
END_TEST

static int root_nprocs(void *arg)
{
	(void)arg;
	return gort_nprocs();
}

START_TEST(procs_come_from_config_then_env)
{
	gort_config cfg = {.procs = 3};
	ck_assert_int_eq(gort_main(&cfg, root_nprocs, NULL), 3);
	setenv("GORT_PROCS", "5", 1);
	ck_assert_int_eq(gort_main(NULL, root_nprocs, NULL), 5);
	cfg.procs = 0;
	ck_assert_int_eq(gort_main(&cfg, root_nprocs, NULL), 5);
	cpu_set_t set;
	ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
	setenv("GORT_PROCS", "lots", 1); /* not a number: ignored */
	ck_assert_int_eq(gort_main(NULL, root_nprocs, NULL), CPU_COUNT(&set));
	unsetenv("GORT_PROCS");
	ck_assert_int_eq(gort_main(NULL, root_nprocs, NULL), CPU_COUNT(&set));
}
END_TEST

static void bad_opts_body(void *arg)
{
	(void)arg;
	gort_go_opts small = {.name = "x", .stack_size = GORT_STACK_MIN - 1};
	ck_assert_int_eq(gort_go_with(count_down, NULL, &small), -EINVAL);
	ck_assert_int_eq(gort__go(NULL, NULL, NULL, __FILE__, __LINE__), -EINVAL);
}

START_TEST(bad_configs_are_rejected)
{
	gort_config cfg = {.procs = -1};
	ck_assert_int_eq(gort_main(&cfg, root_nprocs, NULL), -EINVAL);
	cfg.procs = GORT_MAX_PROCS + 1;
	ck_assert_int_eq(gort_main(&cfg, root_nprocs, NULL), -EINVAL);
	cfg.procs = 1;
	cfg.stack_size = GORT_STACK_MIN - 1;
	ck_assert_int_eq(gort_main(&cfg, root_nprocs, NULL), -EINVAL);
	ck_assert_int_eq(gort_main(NULL, NULL, NULL), -EINVAL);
	gt_run(1, bad_opts_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Parking and waking.
 * --------------------------------------------------------------------- */

/* errno through calls the compiler cannot merge across a switch: glibc
 * declares __errno_location() const, so within one function a compiler may
 * keep errno's address (the old worker's) across a call that migrates the
 * goroutine (docs/runtime.md). */
static __attribute__((noinline)) void errno_set(int e)
{
	errno = e;
}

static __attribute__((noinline)) int errno_get(void)
{
	return errno;
}

struct outside {
	gort__g *_Atomic parked;
	uint32_t lock;
};

static bool publish_parked(gort__g *g, void *arg)
{
	struct outside *o = arg;
	atomic_store(&o->parked, g);
	return true;
}

static void *outside_waker(void *arg)
{
	struct outside *o = arg;
	gort__g *g;
	while (!(g = atomic_load(&o->parked)))
		sched_yield();
	errno = 0;
	gort__ready(g);
	gort_release();
	return NULL;
}

static void outside_ready_body(void *arg)
{
	(void)arg;
	for (int round = 0; round < 200; round++) {
		struct outside o = {NULL, 0};
		pthread_t t;
		gort_hold();
		ck_assert_int_eq(pthread_create(&t, NULL, outside_waker, &o), 0);
		errno_set(1234);
		gort__park(publish_parked, &o, GORT__WAIT_CHAN_RECV);
		ck_assert_int_eq(errno_get(), 1234); /* errno survives the switch */
		pthread_join(t, NULL);
	}
}

START_TEST(ready_from_plain_thread_wakes_goroutine)
{
	gt_run(_i + 1, outside_ready_body, NULL);
}
END_TEST

struct outside_spawn {
	struct gt_join j;
	long n;
};

static void *spawn_from_thread(void *arg)
{
	struct outside_spawn *os = arg;
	for (long i = 0; i < os->n; i++)
		ck_assert_int_gt(gort_go(count_down, &os->j), 0);
	gort_release();
	return NULL;
}

static void outside_spawn_body(void *arg)
{
	(void)arg;
	struct outside_spawn os = {.n = gt_scaled(20000)};
	gt_join_init(&os.j, os.n);
	pthread_t t;
	gort_hold();
	ck_assert_int_eq(pthread_create(&t, NULL, spawn_from_thread, &os), 0);
	gt_join_wait(&os.j);
	pthread_join(t, NULL);
}

START_TEST(spawn_from_plain_thread_runs)
{
	gt_run(_i + 1, outside_spawn_body, NULL);
}
END_TEST

static bool refuse(gort__g *g, void *arg)
{
	(void)g;
	(*(int *)arg)++;
	return false;
}

static void abandoned_park_body(void *arg)
{
	(void)arg;
	int calls = 0;
	for (int i = 0; i < 100; i++)
		gort__park(refuse, &calls, GORT__WAIT_SELECT);
	ck_assert_int_eq(calls, 100);
}

START_TEST(commit_returning_false_resumes_goroutine)
{
	gt_run(_i + 1, abandoned_park_body, NULL);
}
END_TEST

/* A storm of wake-ups from plain threads: goroutines park over and over
 * and two threads ready them, through the global queue and idle workers
 * being woken.  A lost wake-up hangs the test (Check's timeout). */
enum { STORM_G = 64 };

struct storm {
	gort__g *_Atomic slot[STORM_G];
	_Atomic bool done;
	long rounds;
	struct gt_join j;
};

struct storm_g {
	struct storm *s;
	int i;
};

static bool storm_commit(gort__g *g, void *arg)
{
	atomic_store((gort__g *_Atomic *)arg, g);
	return true;
}

static void storm_parker(void *arg)
{
	struct storm_g *sg = arg;
	for (long r = 0; r < sg->s->rounds; r++)
		gort__park(storm_commit, &sg->s->slot[sg->i], GORT__WAIT_CHAN_RECV);
	gt_join_done(&sg->s->j);
}

static void *storm_waker(void *arg)
{
	struct storm *s = arg;
	while (!atomic_load(&s->done)) {
		bool any = false;
		for (int i = 0; i < STORM_G; i++) {
			gort__g *g = atomic_exchange(&s->slot[i], NULL);
			if (g) {
				gort__ready(g);
				any = true;
			}
		}
		if (!any)
			sched_yield();
	}
	gort_release();
	return NULL;
}

static void storm_body(void *arg)
{
	(void)arg;
	static struct storm s;
	static struct storm_g gs[STORM_G];
	memset(&s, 0, sizeof s);
	s.rounds = gt_scaled(300);
	gt_join_init(&s.j, STORM_G);
	pthread_t t[2];
	for (int i = 0; i < 2; i++) {
		gort_hold();
		ck_assert_int_eq(pthread_create(&t[i], NULL, storm_waker, &s), 0);
	}
	for (int i = 0; i < STORM_G; i++) {
		gs[i] = (struct storm_g){&s, i};
		ck_assert_int_gt(gort_go(storm_parker, &gs[i]), 0);
	}
	gt_join_wait(&s.j);
	atomic_store(&s.done, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

START_TEST(wake_storm_from_threads_loses_nothing)
{
	gt_run(_i + 1, storm_body, NULL);
}
END_TEST

static void exits_early(void *arg)
{
	gt_join_done(arg);
	gort_exit();
	ck_abort_msg("gort_exit returned");
}

static void exit_body(void *arg)
{
	(void)arg;
	struct gt_join j;
	gt_join_init(&j, 100);
	for (int i = 0; i < 100; i++)
		ck_assert_int_gt(gort_go(exits_early, &j), 0);
	gt_join_wait(&j);
}

static int root_exits(void *arg)
{
	(void)arg;
	gort_exit();
}

START_TEST(gort_exit_ends_the_goroutine)
{
	gt_run(_i + 1, exit_body, NULL);
	ck_assert_int_eq(gort_main(NULL, root_exits, NULL), 0);
}
END_TEST

/* ---------------------------------------------------------------------
 * Fairness: yield round-robin and the run-next cap.
 * --------------------------------------------------------------------- */

enum { YIELDERS = 50, YIELD_ROUNDS = 400 };

struct yielders {
	_Atomic long count[YIELDERS];
	_Atomic long min_at_first_finish;
	struct gt_join j;
};

struct yslot {
	struct yielders *y;
	int i;
};

static void yield_loop(void *arg)
{
	struct yslot *s = arg;
	struct yielders *y = s->y;
	for (int r = 0; r < YIELD_ROUNDS; r++) {
		atomic_fetch_add(&y->count[s->i], 1);
		gort_yield();
	}
	long expect = -1;
	if (atomic_compare_exchange_strong(&y->min_at_first_finish, &expect, 0)) {
		long min = YIELD_ROUNDS;
		for (int i = 0; i < YIELDERS; i++)
			if (atomic_load(&y->count[i]) < min)
				min = atomic_load(&y->count[i]);
		atomic_store(&y->min_at_first_finish, min);
	}
	gt_join_done(&y->j);
}

static void yield_body(void *arg)
{
	int procs = *(int *)arg;
	static struct yielders y;
	static struct yslot slots[YIELDERS];
	memset(&y, 0, sizeof y);
	atomic_store(&y.min_at_first_finish, -1);
	gt_join_init(&y.j, YIELDERS);
	for (int i = 0; i < YIELDERS; i++) {
		slots[i] = (struct yslot){&y, i};
		ck_assert_int_gt(gort_go(yield_loop, &slots[i]), 0);
	}
	gt_join_wait(&y.j);
	for (int i = 0; i < YIELDERS; i++)
		ck_assert_int_eq(atomic_load(&y.count[i]), YIELD_ROUNDS);
	/* One worker round-robins: when the first yielder finishes, every other
	 * one is at most one round behind.  (With two, an OS thread preempted
	 * by the kernel legitimately lags, so only completion is checked.) */
	if (procs == 1)
		ck_assert_int_ge(atomic_load(&y.min_at_first_finish), YIELD_ROUNDS - 1);
}

START_TEST(yielders_all_make_progress)
{
	int procs = _i + 1;
	gt_run(procs, yield_body, &procs);
}
END_TEST

/* Two goroutines handing a turn to each other through park/ready (each
 * wake-up lands in the waker's run-next slot) and a third that only
 * yields: without the run-next cap the third would never run on one
 * worker. */
struct pingpong {
	uint32_t lock;
	int turn;
	bool stop;
	gort__g *parked[2];
	long rounds;
	struct gt_join j;
};

struct player {
	struct pingpong *pp;
	int me;
};

static void player(void *arg)
{
	struct player *pl = arg;
	struct pingpong *pp = pl->pp;
	gort__spin_lock(&pp->lock);
	for (;;) {
		while (pp->turn != pl->me && !pp->stop) {
			pp->parked[pl->me] = gort__self();
			gort__park(gort__commit_unlock, &pp->lock, GORT__WAIT_CHAN_RECV);
			gort__spin_lock(&pp->lock);
		}
		if (pp->stop)
			break;
		pp->turn = 1 - pl->me;
		pp->rounds++;
		gort__g *other = pp->parked[1 - pl->me];
		pp->parked[1 - pl->me] = NULL;
		gort__spin_unlock(&pp->lock);
		if (other)
			gort__ready(other);
		gort__spin_lock(&pp->lock);
	}
	gort__g *other = pp->parked[1 - pl->me];
	pp->parked[1 - pl->me] = NULL;
	gort__spin_unlock(&pp->lock);
	if (other)
		gort__ready(other);
	gt_join_done(&pp->j);
}

static void bystander(void *arg)
{
	struct pingpong *pp = arg;
	for (int i = 0; i < 1000; i++)
		gort_yield();
	gort__spin_lock(&pp->lock);
	pp->stop = true;
	gort__g *g[2] = {pp->parked[0], pp->parked[1]};
	pp->parked[0] = pp->parked[1] = NULL;
	gort__spin_unlock(&pp->lock);
	for (int i = 0; i < 2; i++)
		if (g[i])
			gort__ready(g[i]);
	gt_join_done(&pp->j);
}

static void pingpong_body(void *arg)
{
	(void)arg;
	struct pingpong pp = {0};
	struct player p0 = {&pp, 0}, p1 = {&pp, 1};
	gt_join_init(&pp.j, 3);
	ck_assert_int_gt(gort_go(player, &p0), 0);
	ck_assert_int_gt(gort_go(player, &p1), 0);
	ck_assert_int_gt(gort_go(bystander, &pp), 0);
	gt_join_wait(&pp.j);
	ck_assert_int_gt(pp.rounds, 0);
}

START_TEST(runnext_cap_lets_third_goroutine_run)
{
	gt_run(_i + 1, pingpong_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Retake: a goroutine woken into the run-next slot of a worker whose
 * current goroutine goes on computing is taken over by another worker.
 * --------------------------------------------------------------------- */

struct retake {
	gort_chan *c;
	int parking; /* the receiver is about to block */
	int ran;     /* the receiver ran after the hand-off */
};

static void retake_receiver(void *arg)
{
	struct retake *r = arg;
	__atomic_store_n(&r->parking, 1, __ATOMIC_RELEASE);
	gort_chan_recv(r->c, NULL);
	__atomic_store_n(&r->ran, 1, __ATOMIC_RELEASE);
}

/* The receiver parks, every idle worker falls asleep, and the send readies
 * the receiver into this worker's run-next slot; this goroutine then
 * computes without blocking, so only another worker can run it. */
static void retake_body(void *arg)
{
	(void)arg;
	for (int round = 0; round < 20; round++) {
		struct retake r = {.c = gort_chan_make(0, 0)};
		ck_assert_ptr_nonnull(r.c);
		ck_assert_int_gt(gort_go(retake_receiver, &r), 0);
		while (!__atomic_load_n(&r.parking, __ATOMIC_ACQUIRE))
			gort_yield();
		/* Not a race guard: the idle worker must have stopped spinning
		 * (SPIN_NS, 20 us) and gone to sleep, or it would take the
		 * receiver as a stealer and the round would prove nothing.
		 * Even rounds wait computing, so the idle worker sleeps as the
		 * poller and only the retake timer brings it back; odd rounds
		 * sleep, so the poller leaves with this goroutine and the others
		 * sleep untimed: the wake-up from gort__ready must come. */
		if (round % 2) {
			gort_sleep(20 * GORT_MILLISECOND);
		} else {
			int64_t until = mono_ns() + 20 * (int64_t)1000000;
			while (mono_ns() < until)
				;
		}
		gort_chan_send(r.c, NULL);
		int64_t give_up = mono_ns() + 5 * (int64_t)1000000000;
		while (!__atomic_load_n(&r.ran, __ATOMIC_ACQUIRE) && mono_ns() < give_up)
			;
		ck_assert_msg(__atomic_load_n(&r.ran, __ATOMIC_ACQUIRE),
		              "round %d: a woken goroutine waited 5 s while its waker computed", round);
		gort_chan_unref(r.c);
	}
}

START_TEST(woken_goroutine_is_retaken_from_a_computing_waker)
{
	gt_run(2, retake_body, NULL);
}
END_TEST

static void spawned_main(void *arg)
{
	__atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
}

/* The same for a spawn: a goroutine spawned by one that then computes
 * without blocking runs on another worker, whether that worker slept as
 * the retake poller (even rounds) or untimed (odd rounds).  (A spawn wakes
 * an idle worker today; the test holds the scheduler to this should that
 * wake-up ever be dropped, as for a goroutine readied into run-next.) */
static void spawn_retake_body(void *arg)
{
	(void)arg;
	for (int round = 0; round < 20; round++) {
		if (round % 2) {
			gort_sleep(20 * GORT_MILLISECOND);
		} else {
			int64_t until = mono_ns() + 20 * (int64_t)1000000;
			while (mono_ns() < until)
				;
		}
		int ran = 0;
		ck_assert_int_gt(gort_go(spawned_main, &ran), 0);
		int64_t give_up = mono_ns() + 5 * (int64_t)1000000000;
		while (!__atomic_load_n(&ran, __ATOMIC_ACQUIRE) && mono_ns() < give_up)
			;
		ck_assert_msg(__atomic_load_n(&ran, __ATOMIC_ACQUIRE),
		              "round %d: a spawned goroutine waited 5 s while its spawner computed",
		              round);
	}
}

START_TEST(spawned_goroutine_is_taken_from_a_computing_spawner)
{
	gt_run(2, spawn_retake_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Statistics and the dump.
 * --------------------------------------------------------------------- */

static void stats_body(void *arg)
{
	int procs = *(int *)arg;
	gort_stats a, b;
	gort_stats_get(&a);
	ck_assert_int_eq(a.procs, procs);
	ck_assert_int_ge(a.threads, procs);
	ck_assert_uint_eq(a.goroutines_live, 1);
	ck_assert_uint_ge(a.stacks_mapped, 1);
	struct gate gt = {0};
	for (int i = 0; i < 10; i++)
		ck_assert_int_gt(gort_go(park_forever, &gt), 0);
	gate_await_parked(&gt, 10);
	gort_stats_get(&b);
	ck_assert_uint_eq(b.goroutines_live, 11);
	ck_assert_uint_ge(b.goroutines_created, a.goroutines_created + 10);
	ck_assert_uint_ge(b.parks, a.parks + 10);
	ck_assert_uint_ge(b.context_switches, a.context_switches + 10);
	ck_assert_uint_ge(b.stacks_mapped, 11);
	gate_open(&gt);
}

START_TEST(stats_counters_advance)
{
	int procs = _i + 1;
	gt_run(procs, stats_body, &procs);
	gort_stats st;
	gort_stats_get(&st);
	ck_assert_int_eq(st.procs, 0); /* not running: all zero */
}
END_TEST

static char *read_all(int fd)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	ssize_t k;
	while ((k = read(fd, buf + n, cap - n - 1)) > 0) {
		n += (size_t)k;
		if (n + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
	}
	buf[n] = 0;
	return buf;
}

static void dump_body(void *arg)
{
	(void)arg;
	struct gate gt = {0};
	gort_go_opts opts = {.name = "sleeper-with-a-name-longer-than-31-bytes"};
	int line = __LINE__ + 1;
	int64_t id = gort_go_with(park_forever, &gt, &opts);
	ck_assert_int_gt(id, 0);
	gate_await_parked(&gt, 1);
	FILE *f = tmpfile();
	ck_assert_ptr_nonnull(f);
	gort_dump(fileno(f));
	rewind(f);
	char *text = read_all(fileno(f));
	fclose(f);
	char want[256];
	snprintf(want, sizeof want,
	         "goroutine %lld \"sleeper-with-a-name-longer-than\" [waiting: chan receive, ",
	         (long long)id);
	ck_assert_msg(strstr(text, want), "no \"%s\" in dump:\n%s", want, text);
	snprintf(want, sizeof want, "created at %s:%d\n", __FILE__, line);
	ck_assert_msg(strstr(text, want), "no \"%s\" in dump:\n%s", want, text);
	ck_assert_msg(strstr(text, "goroutine 1 \"main\" [running]"), "root missing:\n%s", text);
	ck_assert_msg(strstr(text, "2 goroutines\n"), "count missing:\n%s", text);
	free(text);
	gate_open(&gt);
}

START_TEST(dump_shows_id_name_reason_and_spawn_site)
{
	gt_run(_i + 1, dump_body, NULL);
}
END_TEST

START_TEST(wait_reasons_have_names)
{
	ck_assert_str_eq(gort__wait_reason_str(GORT__WAIT_CHAN_RECV), "chan receive");
	ck_assert_str_eq(gort__wait_reason_str(GORT__WAIT_SLEEP), "sleep");
	ck_assert_str_eq(gort__wait_reason_str(GORT__WAIT_COUNT_), "?");
}
END_TEST

/* ---------------------------------------------------------------------
 * Fatal conditions, in a child process.
 * --------------------------------------------------------------------- */

struct child {
	int status;
	char *err; /* its stderr */
};

/* Runs fn in a forked child with stderr captured. */
static struct child run_child(void (*fn)(void *), void *arg)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 2);
		fn(arg);
		_exit(0);
	}
	close(p[1]);
	struct child c;
	c.err = read_all(p[0]);
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &c.status, 0), pid);
	return c;
}

static int deadlock_root(void *arg)
{
	(void)arg;
	static struct gate never;
	gort_go_opts opts = {.name = "stuck"};
	gort_go_with(park_forever, &never, &opts);
	struct gate mine = {0};
	gate_wait(&mine, GORT__WAIT_WAITGROUP);
	return 0;
}

static void deadlock_child(void *arg)
{
	gort_config cfg = {.procs = *(int *)arg};
	gort_main(&cfg, deadlock_root, NULL);
}

START_TEST(deadlock_is_detected)
{
	int procs = _i + 1;
	struct child c = run_child(deadlock_child, &procs);
	ck_assert_msg(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT, "status %#x: %s",
	              c.status, c.err);
	ck_assert_msg(strstr(c.err, "gort: fatal: all goroutines are asleep - deadlock!\n"), "%s",
	              c.err);
	ck_assert_msg(strstr(c.err, "goroutine 1 \"main\" [waiting: waitgroup wait"), "%s", c.err);
	ck_assert_msg(strstr(c.err, "\"stuck\" [waiting: chan receive"), "%s", c.err);
	free(c.err);
}
END_TEST

static void *release_later(void *arg)
{
	struct outside *o = arg;
	while (!atomic_load(&o->parked))
		sched_yield();
	gort_release();
	return NULL;
}

static int held_root(void *arg)
{
	(void)arg;
	struct outside o = {NULL, 0};
	pthread_t t;
	gort_hold();
	pthread_create(&t, NULL, release_later, &o);
	gort__park(publish_parked, &o, GORT__WAIT_CHAN_RECV);
	return 0;
}

static void held_child(void *arg)
{
	(void)arg;
	gort_config cfg = {.procs = 2};
	gort_main(&cfg, held_root, NULL);
}

START_TEST(deadlock_is_detected_once_last_hold_is_released)
{
	struct child c = run_child(held_child, NULL);
	ck_assert_msg(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT, "status %#x: %s",
	              c.status, c.err);
	ck_assert_msg(strstr(c.err, "all goroutines are asleep - deadlock!"), "%s", c.err);
	free(c.err);
}
END_TEST

static void park_outside_child(void *arg)
{
	(void)arg;
	gort__park(gort__commit_unlock, &(uint32_t){1}, GORT__WAIT_SLEEP);
}

static int sigquit_root(void *arg)
{
	(void)arg;
	static struct gate gt;
	gort_go_opts opts = {.name = "quit-witness"};
	gort_go_with(park_forever, &gt, &opts);
	gate_await_parked(&gt, 1);
	raise(SIGQUIT);
	gate_open(&gt);
	return 5;
}

static void sigquit_child(void *arg)
{
	(void)arg;
	_exit(gort_main(NULL, sigquit_root, NULL));
}

START_TEST(sigquit_dumps_and_continues)
{
	struct child c = run_child(sigquit_child, NULL);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 5, "status %#x: %s",
	              c.status, c.err);
	ck_assert_msg(strstr(c.err, "\"quit-witness\" [waiting: chan receive"), "%s", c.err);
	free(c.err);
}
END_TEST

START_TEST(park_outside_goroutine_aborts)
{
	struct child c = run_child(park_outside_child, NULL);
	ck_assert_msg(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT, "status %#x", c.status);
	ck_assert_msg(strstr(c.err, "gort: fatal: gort__park called outside a goroutine"), "%s", c.err);
	free(c.err);
}
END_TEST

/* ---------------------------------------------------------------------
 * The internal timer heap.
 * --------------------------------------------------------------------- */

enum { ORDER_TIMERS = 200 };

struct tfire {
	gort__timer t;
	int64_t fired_at;
	struct tlog *log;
};

struct tlog {
	uint32_t lock;
	int n;
	int64_t when[ORDER_TIMERS];
	struct gt_join j;
	_Atomic long late; /* callbacks that ran before their deadline */
};

static void log_fire(gort__timer *t, int64_t now)
{
	struct tfire *f = t->arg;
	struct tlog *log = f->log;
	if (now < t->when || mono_ns() < t->when)
		atomic_fetch_add(&log->late, 1);
	gort__spin_lock(&log->lock);
	log->when[log->n++] = t->when;
	gort__spin_unlock(&log->lock);
	gt_join_done(&log->j);
}

static void timer_order_body(void *arg)
{
	(void)arg;
	static struct tfire f[ORDER_TIMERS];
	static struct tlog log;
	memset(&log, 0, sizeof log);
	gt_join_init(&log.j, ORDER_TIMERS);
	int64_t base = mono_ns() + 20000000;
	for (int i = 0; i < ORDER_TIMERS; i++) {
		f[i] = (struct tfire){.t = GORT__TIMER_INIT, .log = &log};
		f[i].t.fn = log_fire;
		f[i].t.arg = &f[i];
		/* a permutation of deadlines 50 us apart */
		gort__timer_start(&f[i].t, base + (int64_t)((i * 73) % ORDER_TIMERS) * 50000);
	}
	gt_join_wait(&log.j);
	ck_assert_int_eq(log.n, ORDER_TIMERS);
	ck_assert_int_eq(atomic_load(&log.late), 0);
	for (int i = 1; i < ORDER_TIMERS; i++)
		ck_assert_int_lt(log.when[i - 1], log.when[i]);
}

START_TEST(timers_fire_in_deadline_order)
{
	gt_run(1, timer_order_body, NULL);
}
END_TEST

static void never_fire(gort__timer *t, int64_t now)
{
	(void)now;
	atomic_fetch_add((_Atomic int *)t->arg, 1);
}

static void timer_stop_body(void *arg)
{
	(void)arg;
	_Atomic int fired = 0;
	gort__timer a = GORT__TIMER_INIT, b = GORT__TIMER_INIT;
	a.fn = b.fn = never_fire;
	a.arg = b.arg = &fired;
	gort__timer_start(&a, mono_ns() + 5000000);
	gort__timer_start(&b, mono_ns() + 1000000000);
	gort__timer_start(&b, mono_ns() + 6000000); /* re-arm moves it */
	ck_assert(gort__timer_stop(&a));
	ck_assert(!gort__timer_stop(&a));
	ck_assert(gort__timer_stop(&b));
	/* a later timer that does fire: both stopped ones had their chance */
	static struct tlog log;
	memset(&log, 0, sizeof log);
	gt_join_init(&log.j, 1);
	struct tfire f = {.t = GORT__TIMER_INIT, .log = &log};
	f.t.fn = log_fire;
	f.t.arg = &f;
	gort__timer_start(&f.t, mono_ns() + 20000000);
	gt_join_wait(&log.j);
	ck_assert_int_eq(atomic_load(&fired), 0);
	ck_assert(!gort__timer_stop(&f.t));
	ck_assert_int_eq(f.t.heap_index, -1);
}

START_TEST(stopped_timer_does_not_fire)
{
	gt_run(_i + 1, timer_stop_body, NULL);
}
END_TEST

struct many {
	struct gt_join j;
	_Atomic long early;
};

struct mtimer {
	gort__timer t;
	struct many *m;
};

static void many_fire(gort__timer *t, int64_t now)
{
	struct mtimer *mt = (struct mtimer *)t;
	if (now < t->when)
		atomic_fetch_add(&mt->m->early, 1);
	gt_join_done(&mt->m->j);
}

static void many_timers_body(void *arg)
{
	(void)arg;
	enum { N = 10000 };
	struct mtimer *ts = calloc(N, sizeof *ts);
	ck_assert_ptr_nonnull(ts);
	struct many m;
	gt_join_init(&m.j, N);
	atomic_store(&m.early, 0);
	int64_t now = mono_ns();
	for (int i = 0; i < N; i++) {
		ts[i].t = (gort__timer)GORT__TIMER_INIT;
		ts[i].t.fn = many_fire;
		ts[i].m = &m;
		gort__timer_start(&ts[i].t, now + (int64_t)(gort__rand() % 10000) * 1000);
	}
	gt_join_wait(&m.j);
	ck_assert_int_eq(atomic_load(&m.early), 0);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(ts[i].t.heap_index, -1);
	free(ts);
}

START_TEST(ten_thousand_timers_fire)
{
	gt_run(_i + 1, many_timers_body, NULL);
}
END_TEST

struct slow_cb {
	gort__timer t;
	_Atomic int in_cb, finished, self_stop;
};

static void slow_fire(gort__timer *t, int64_t now)
{
	struct slow_cb *c = t->arg;
	atomic_store(&c->in_cb, 1);
	atomic_store(&c->self_stop, gort__timer_stop(t) ? 2 : 1); /* own callback: no wait */
	while (mono_ns() < now + 2000000)
		; /* a callback still running when stop is called */
	atomic_store(&c->finished, 1);
}

static void stop_running_body(void *arg)
{
	(void)arg;
	struct slow_cb c = {.t = GORT__TIMER_INIT};
	c.t.fn = slow_fire;
	c.t.arg = &c;
	gort__timer_start(&c.t, mono_ns() + 1000000);
	while (!atomic_load(&c.in_cb))
		gort_yield();
	ck_assert(!gort__timer_stop(&c.t)); /* returns once the callback is done */
	ck_assert_int_eq(atomic_load(&c.finished), 1);
	ck_assert_int_eq(atomic_load(&c.self_stop), 1);
}

START_TEST(timer_stop_waits_for_running_callback)
{
	gt_run(_i + 1, stop_running_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Idle workers sleep.
 * --------------------------------------------------------------------- */

/* Context switches and CPU time of the worker threads (not of the
 * sanitizers' helper threads). */
static void threads_usage(long *ret_switches, int64_t *ret_cpu_ns)
{
	*ret_switches = 0;
	*ret_cpu_ns = 0;
	for (int i = 0; i < gort__S.nprocs; i++) {
		char path[300], line[256];
		snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)gort__S.workers[i]->tid);
		FILE *f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		while (fgets(line, sizeof line, f)) {
			long v;
			if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
			    sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
				*ret_switches += v;
		}
		fclose(f);
		snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)gort__S.workers[i]->tid);
		f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		long long run;
		ck_assert_int_eq(fscanf(f, "%lld", &run), 1);
		*ret_cpu_ns += run;
		fclose(f);
	}
}

struct idle_probe {
	gort__g *_Atomic root; /* parked until the probe is done */
	long switches;
	int64_t cpu_ns;
};

/* A plain thread: once the root is parked (nothing runnable, no timer
 * pending), samples the workers over 200 ms, then wakes the root. */
static void *probe_idle(void *arg)
{
	struct idle_probe *p = arg;
	gort__g *root;
	while (!(root = atomic_load(&p->root)))
		sched_yield();
	struct timespec settle = {0, 50000000}, window = {0, 200000000};
	nanosleep(&settle, NULL); /* the workers stop spinning and sleep */
	long s0, s1;
	int64_t c0, c1;
	threads_usage(&s0, &c0);
	nanosleep(&window, NULL);
	threads_usage(&s1, &c1);
	p->switches = s1 - s0;
	p->cpu_ns = c1 - c0;
	gort__ready(root);
	gort_release();
	return NULL;
}

static bool publish_root(gort__g *g, void *arg)
{
	atomic_store(&((struct idle_probe *)arg)->root, g);
	return true;
}

static void idle_body(void *arg)
{
	(void)arg;
	long parked = live_limit(10000);
	struct gate gt = {0};
	for (long i = 0; i < parked; i++)
		ck_assert_int_gt(gort_go(park_forever, &gt), 0);
	gate_await_parked(&gt, parked);
	struct idle_probe p = {0};
	pthread_t t;
	gort_hold(); /* the probe will wake the root */
	ck_assert_int_eq(pthread_create(&t, NULL, probe_idle, &p), 0);
	gort__park(publish_root, &p, GORT__WAIT_SLEEP);
	pthread_join(t, NULL);
	gate_open(&gt);
	/* Asleep means no context switch at all; the CPU bound is generous. */
	ck_assert_msg(p.switches == 0, "worker threads switched %ld times while idle", p.switches);
	ck_assert_msg(p.cpu_ns < 20000000, "worker threads used %lld ns of CPU while idle",
	              (long long)p.cpu_ns);
}

START_TEST(idle_workers_sleep)
{
	gt_run(_i + 1, idle_body, NULL);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = gt_tcase("spawn", 60);
	tcase_add_loop_test(tc, million_spawns_are_joined, 0, 2);
	tcase_add_loop_test(tc, goroutine_ids_are_unique_and_root_is_1, 0, 2);
	suite_add_tcase(s, tc);

	tc = gt_tcase("lifecycle", 30);
	tcase_add_test(tc, main_returns_root_value_and_runs_twice);
	tcase_add_test(tc, procs_come_from_config_then_env);
	tcase_add_test(tc, bad_configs_are_rejected);
	suite_add_tcase(s, tc);

	tc = gt_tcase("park", 30);
	tcase_add_loop_test(tc, ready_from_plain_thread_wakes_goroutine, 0, 2);
	tcase_add_loop_test(tc, commit_returning_false_resumes_goroutine, 0, 2);
	tcase_add_loop_test(tc, wake_storm_from_threads_loses_nothing, 0, 2);
	tcase_add_loop_test(tc, spawn_from_plain_thread_runs, 0, 2);
	tcase_add_loop_test(tc, gort_exit_ends_the_goroutine, 0, 2);
	tcase_add_loop_test(tc, yielders_all_make_progress, 0, 2);
	tcase_add_loop_test(tc, runnext_cap_lets_third_goroutine_run, 0, 2);
	tcase_add_test(tc, woken_goroutine_is_retaken_from_a_computing_waker);
	tcase_add_test(tc, spawned_goroutine_is_taken_from_a_computing_spawner);
	suite_add_tcase(s, tc);

	tc = gt_tcase("diagnostics", 30);
	tcase_add_loop_test(tc, stats_counters_advance, 0, 2);
	tcase_add_loop_test(tc, dump_shows_id_name_reason_and_spawn_site, 0, 2);
	tcase_add_test(tc, wait_reasons_have_names);
	tcase_add_loop_test(tc, deadlock_is_detected, 0, 2);
	tcase_add_test(tc, deadlock_is_detected_once_last_hold_is_released);
	tcase_add_test(tc, park_outside_goroutine_aborts);
	tcase_add_test(tc, sigquit_dumps_and_continues);
	suite_add_tcase(s, tc);

	tc = gt_tcase("timers", 30);
	tcase_add_test(tc, timers_fire_in_deadline_order);
	tcase_add_loop_test(tc, stopped_timer_does_not_fire, 0, 2);
	tcase_add_loop_test(tc, ten_thousand_timers_fire, 0, 2);
	tcase_add_loop_test(tc, timer_stop_waits_for_running_callback, 0, 2);
	tcase_add_loop_test(tc, idle_workers_sleep, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
