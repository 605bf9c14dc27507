/* test_sync.c — the sync primitives (runtime/sync.c, runtime/pool.c):
 * mutual exclusion and its fairness, RWMutex parallelism and writer
 * priority, Cond signal/broadcast, WaitGroup rounds, Once under a race,
 * Semaphore bounds, Pool reuse and bounds, wake-ups from plain threads, and
 * a table of misuses that must abort.
 *
 * Concurrency bodies run through gt_run with 1 and 2 workers (loop tests:
 * procs = 1 + _i), so the goroutine count is checked back to baseline after
 * each.  Waiting for a condition is done by yielding or parking, never by
 * sleeping; a few tests peek at private fields (queue lengths, the mutex
 * waiter count) to know when a goroutine is parked.
 */
#include "harness.h"
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>

#define PROCS (1 + _i)

static void spawn(void (*fn)(void *arg), void *arg)
{
	ck_assert_int_gt(gort_go(fn, arg), 0);
}

static void yield_n(int n)
{
	for (int i = 0; i < n; i++)
		gort_yield();
}

/* Raises *max to v if v is larger. */
static void atomic_max(int *max, int v)
{
	int cur = __atomic_load_n(max, __ATOMIC_RELAXED);
	while (v > cur && !__atomic_compare_exchange_n(max, &cur, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static int load(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Fails the test if it has been running for more than limit_s seconds: a
 * guard on loops that wait for another goroutine to make progress. */
static void check_deadline(int64_t start, double limit_s, const char *what)
{
	ck_assert_msg(gort_now() - start < (int64_t)(limit_s * GORT_SECOND), "timed out: %s", what);
}

/* ======================================================================
 * Mutex
 * ====================================================================== */

enum { COUNTER_G = 8 };

static struct {
	gort_mutex m;
	gort_waitgroup wg;
	long counter;
	long each;
} mc = {GORT_MUTEX_INIT, GORT_WAITGROUP_INIT, 0, 0};

static void counter_adder(void *arg)
{
	(void)arg;
	for (long i = 0; i < mc.each; i++) {
		gort_mutex_lock(&mc.m);
		mc.counter++;
		if (i % 128 == 0)
			gort_yield(); /* holding the lock: others park */
		gort_mutex_unlock(&mc.m);
	}
	gort_waitgroup_done(&mc.wg);
}

static void body_mutex_counter(void *arg)
{
	(void)arg;
	mc.each = gt_scaled(100000);
	gort_waitgroup_add(&mc.wg, COUNTER_G);
	for (int i = 0; i < COUNTER_G; i++)
		spawn(counter_adder, NULL);
	gort_waitgroup_wait(&mc.wg);
	ck_assert_int_eq(mc.counter, mc.each * COUNTER_G);
	ck_assert_uint_eq(mc.m.state, 0);
}

START_TEST(mutex_counter_is_exact_with_8_goroutines)
{
	gt_run(PROCS, body_mutex_counter, NULL);
}
END_TEST

static void trylock_other(void *arg)
{
	gort_mutex *m = arg;
	ck_assert(!gort_mutex_trylock(m));
	gort_waitgroup_done(&mc.wg);
}

static void body_trylock(void *arg)
{
	(void)arg;
	gort_mutex m = GORT_MUTEX_INIT;
	ck_assert(gort_mutex_trylock(&m));
	ck_assert(!gort_mutex_trylock(&m));
	gort_waitgroup_add(&mc.wg, 1);
	spawn(trylock_other, &m);
	gort_waitgroup_wait(&mc.wg);
	gort_mutex_unlock(&m);
	ck_assert(gort_mutex_trylock(&m));
	gort_mutex_unlock(&m);
	gort_mutex_lock(&m);
	ck_assert(!gort_mutex_trylock(&m));
	gort_mutex_unlock(&m);
}

START_TEST(mutex_trylock_fails_only_while_locked)
{
	gt_run(PROCS, body_trylock, NULL);
}
END_TEST

/* Starvation: the owner unlocks and re-locks at once, yielding while it
 * holds the lock; without hand-off a woken waiter always finds the lock
 * taken again.  Every waiter must still get the lock. */
enum { STARVE_WAITERS = 4 };
static struct {
	gort_mutex m;
	gort_waitgroup wg;
	int acquired;
} st = {GORT_MUTEX_INIT, GORT_WAITGROUP_INIT, 0};

static void starve_waiter(void *arg)
{
	(void)arg;
	gort_mutex_lock(&st.m);
	__atomic_add_fetch(&st.acquired, 1, __ATOMIC_RELEASE);
	gort_mutex_unlock(&st.m);
	gort_waitgroup_done(&st.wg);
}

static void body_starvation(void *arg)
{
	(void)arg;
	int64_t start = gort_now();
	gort_mutex_lock(&st.m);
	gort_waitgroup_add(&st.wg, STARVE_WAITERS);
	for (int i = 0; i < STARVE_WAITERS; i++)
		spawn(starve_waiter, NULL);
	long rounds = 0;
	while (load(&st.acquired) < STARVE_WAITERS) {
		gort_mutex_unlock(&st.m);
		gort_mutex_lock(&st.m);
		gort_yield();
		rounds++;
		check_deadline(start, 10, "a mutex waiter starved");
	}
	gort_mutex_unlock(&st.m);
	gort_waitgroup_wait(&st.wg);
	ck_assert_int_gt(rounds, 0);
	ck_assert_uint_eq(st.m.state, 0);
}

START_TEST(mutex_waiters_are_not_starved_by_a_barging_owner)
{
	gt_run(PROCS, body_starvation, NULL);
}
END_TEST

/* ======================================================================
 * RWMutex
 * ====================================================================== */

enum { READERS = 8 };
static struct {
	gort_rwmutex rw;
	gort_waitgroup wg;
	int holders;     /* readers inside */
	int max_holders;
	int writers;     /* writers inside */
	int violations;  /* overlaps seen */
	int stop;
	long rounds;
} rws = {GORT_RWMUTEX_INIT, GORT_WAITGROUP_INIT, 0, 0, 0, 0, 0, 0};

static void parallel_reader(void *arg)
{
	int64_t start = gort_now();
	(void)arg;
	gort_rwmutex_rlock(&rws.rw);
	atomic_max(&rws.max_holders, __atomic_add_fetch(&rws.holders, 1, __ATOMIC_ACQ_REL));
	/* Stay inside until every reader is: only possible if they share. */
	while (load(&rws.max_holders) < READERS) {
		gort_yield();
		check_deadline(start, 10, "readers did not all get in together");
	}
	__atomic_sub_fetch(&rws.holders, 1, __ATOMIC_ACQ_REL);
	gort_rwmutex_runlock(&rws.rw);
	gort_waitgroup_done(&rws.wg);
}

static void body_readers_parallel(void *arg)
{
	(void)arg;
	gort_waitgroup_add(&rws.wg, READERS);
	for (int i = 0; i < READERS; i++)
		spawn(parallel_reader, NULL);
	gort_waitgroup_wait(&rws.wg);
	ck_assert_int_eq(rws.max_holders, READERS);
	/* The lock is free again: a writer gets in at once. */
	gort_rwmutex_lock(&rws.rw);
	gort_rwmutex_unlock(&rws.rw);
}

START_TEST(rwmutex_readers_hold_the_lock_together)
{
	gt_run(PROCS, body_readers_parallel, NULL);
}
END_TEST

static void stress_reader(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++) {
		gort_rwmutex_rlock(&rws.rw);
		__atomic_add_fetch(&rws.holders, 1, __ATOMIC_ACQ_REL);
		if (load(&rws.writers) != 0)
			__atomic_add_fetch(&rws.violations, 1, __ATOMIC_RELAXED);
		if (i % 8 == 0)
			gort_yield();
		__atomic_sub_fetch(&rws.holders, 1, __ATOMIC_ACQ_REL);
		gort_rwmutex_runlock(&rws.rw);
	}
	gort_waitgroup_done(&rws.wg);
}

static void stress_writer(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++) {
		gort_rwmutex_lock(&rws.rw);
		if (__atomic_add_fetch(&rws.writers, 1, __ATOMIC_ACQ_REL) != 1 || load(&rws.holders) != 0)
			__atomic_add_fetch(&rws.violations, 1, __ATOMIC_RELAXED);
		if (i % 4 == 0)
			gort_yield();
		rws.rounds++; /* a plain write: only exclusive writers may do it */
		__atomic_sub_fetch(&rws.writers, 1, __ATOMIC_ACQ_REL);
		gort_rwmutex_unlock(&rws.rw);
	}
	gort_waitgroup_done(&rws.wg);
}

static void body_rw_stress(void *arg)
{
	(void)arg;
	long n = gt_scaled(20000);
	gort_waitgroup_add(&rws.wg, 6 + 3);
	for (int i = 0; i < 6; i++)
		spawn(stress_reader, (void *)(intptr_t)n);
	for (int i = 0; i < 3; i++)
		spawn(stress_writer, (void *)(intptr_t)(n / 4));
	gort_waitgroup_wait(&rws.wg);
	ck_assert_int_eq(rws.violations, 0);
	ck_assert_int_eq(rws.rounds, 3 * (n / 4));
	ck_assert_int_eq(rws.rw.readers, 0);
}

START_TEST(rwmutex_writers_exclude_readers_and_writers)
{
	gt_run(PROCS, body_rw_stress, NULL);
}
END_TEST

/* Readers overlap (each yields while holding the read lock), so the lock
 * is never free of readers; a writer must get in anyway. */
static void streaming_reader(void *arg)
{
	(void)arg;
	while (!load(&rws.stop)) {
		gort_rwmutex_rlock(&rws.rw);
		gort_yield();
		gort_rwmutex_runlock(&rws.rw);
	}
	gort_waitgroup_done(&rws.wg);
}

static void body_writer_not_starved(void *arg)
{
	(void)arg;
	gort_waitgroup_add(&rws.wg, 4);
	for (int i = 0; i < 4; i++)
		spawn(streaming_reader, NULL);
	yield_n(16); /* let the stream start (not needed for correctness) */
	for (int round = 0; round < 10; round++) {
		gort_rwmutex_lock(&rws.rw);
		rws.rounds++;
		gort_rwmutex_unlock(&rws.rw);
		gort_yield();
	}
	__atomic_store_n(&rws.stop, 1, __ATOMIC_RELEASE);
	gort_waitgroup_wait(&rws.wg);
	ck_assert_int_eq(rws.rounds, 10);
}

START_TEST(rwmutex_writer_is_not_starved_by_a_stream_of_readers)
{
	gt_run(PROCS, body_writer_not_starved, NULL);
}
END_TEST

/* ======================================================================
 * Cond
 * ====================================================================== */

static struct {
	gort_mutex L;
	gort_cond c;       /* waiters wait here for `go` */
	gort_cond arrived; /* the root waits here for all arrivals */
	gort_waitgroup wg;
	int n;             /* waiters expected */
	int in;            /* arrived so far */
	int go;
	int woke;
	int order_in[8], order_out[8];
	int nout;
} cs = {GORT_MUTEX_INIT, GORT_COND_INIT(&cs.L), GORT_COND_INIT(&cs.L), GORT_WAITGROUP_INIT, 0, 0, 0, 0,
        {0}, {0}, 0};

/* Arrives, then waits under cs.L until `go` (broadcast) or its turn. */
static void cond_waiter(void *arg)
{
	int id = (int)(intptr_t)arg;
	gort_mutex_lock(&cs.L);
	if (cs.n <= 8)
		cs.order_in[cs.in] = id;
	if (++cs.in == cs.n)
		gort_cond_signal(&cs.arrived);
	while (!cs.go)
		gort_cond_wait(&cs.c);
	cs.woke++;
	if (cs.n <= 8)
		cs.order_out[cs.nout++] = id;
	gort_cond_signal(&cs.arrived);
	gort_mutex_unlock(&cs.L);
	gort_waitgroup_done(&cs.wg);
}

/* Spawns n cond_waiters and returns, holding cs.L, once all are parked in
 * gort_cond_wait (each released cs.L only by waiting). */
static void start_cond_waiters(int n)
{
	cs.n = n;
	gort_waitgroup_add(&cs.wg, n);
	for (int i = 0; i < n; i++)
		spawn(cond_waiter, (void *)(intptr_t)i);
	gort_mutex_lock(&cs.L);
	while (cs.in < n)
		gort_cond_wait(&cs.arrived);
}

/* Length of a private wait queue, read under its spinlock. */
static int queue_len(uint32_t *lock, gort__waitq *q)
{
	int n = 0;
	gort__spin_lock(lock);
	for (gort__waiter *w = q->head; w; w = w->next)
		n++;
	gort__spin_unlock(lock);
	return n;
}

static int cond_queue_len(gort_cond *c)
{
	return queue_len(&c->lock, &c->waiters);
}

static void body_broadcast(void *arg)
{
	(void)arg;
#ifdef GORT_TSAN
	int n = 2000; /* ThreadSanitizer supports about 8,000 fibers */
#else
	int n = 10000;
#endif
	start_cond_waiters(n);
	ck_assert_int_eq(cond_queue_len(&cs.c), n);
	cs.go = 1;
	gort_cond_broadcast(&cs.c);
	ck_assert_int_eq(cond_queue_len(&cs.c), 0);
	gort_mutex_unlock(&cs.L);
	gort_waitgroup_wait(&cs.wg);
	ck_assert_int_eq(cs.woke, n);
}

START_TEST(cond_broadcast_wakes_every_waiter)
{
	gt_run(PROCS, body_broadcast, NULL);
}
END_TEST

static void body_signal(void *arg)
{
	(void)arg;
	enum { N = 8 };
	start_cond_waiters(N);
	cs.go = 1; /* a woken waiter leaves; the others are not woken */
	for (int k = 1; k <= N; k++) {
		gort_cond_signal(&cs.c);
		ck_assert_int_eq(cond_queue_len(&cs.c), N - k);
		while (cs.woke < k)
			gort_cond_wait(&cs.arrived);
		ck_assert_int_eq(cs.woke, k);
	}
	gort_mutex_unlock(&cs.L);
	gort_waitgroup_wait(&cs.wg);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(cs.order_out[i], cs.order_in[i]); /* FIFO */
}

START_TEST(cond_signal_wakes_exactly_one_in_fifo_order)
{
	gt_run(PROCS, body_signal, NULL);
}
END_TEST

/* ======================================================================
 * WaitGroup
 * ====================================================================== */

static struct {
	gort_waitgroup wg, joined;
	int ran;
	int released; /* waiters past wait */
} wgs = {GORT_WAITGROUP_INIT, GORT_WAITGROUP_INIT, 0, 0};

static void wg_worker(void *arg)
{
	(void)arg;
	gort_yield();
	__atomic_add_fetch(&wgs.ran, 1, __ATOMIC_RELEASE);
	gort_waitgroup_done(&wgs.wg);
}

static void wg_waiter(void *arg)
{
	(void)arg;
	gort_waitgroup_wait(&wgs.wg);
	/* Released only once every worker of the round has run. */
	ck_assert_int_eq(load(&wgs.ran), (int)(intptr_t)arg);
	__atomic_add_fetch(&wgs.released, 1, __ATOMIC_RELEASE);
	gort_waitgroup_done(&wgs.joined);
}

static void body_waitgroup_rounds(void *arg)
{
	(void)arg;
	enum { ROUNDS = 20, WORKERS = 50, WAITERS = 5 };
	for (int r = 1; r <= ROUNDS; r++) {
		gort_waitgroup_add(&wgs.wg, WORKERS);
		gort_waitgroup_add(&wgs.joined, WAITERS);
		for (int i = 0; i < WAITERS; i++)
			spawn(wg_waiter, (void *)(intptr_t)(r * WORKERS));
		for (int i = 0; i < WORKERS; i++)
			spawn(wg_worker, NULL);
		gort_waitgroup_wait(&wgs.wg);
		ck_assert_int_eq(load(&wgs.ran), r * WORKERS);
		gort_waitgroup_wait(&wgs.joined);
		ck_assert_int_eq(load(&wgs.released), r * WAITERS);
		ck_assert_int_eq(wgs.wg.count, 0);
	}
	gort_waitgroup_wait(&wgs.wg); /* counter 0: returns at once */
}

START_TEST(waitgroup_is_reusable_and_releases_many_waiters)
{
	gt_run(PROCS, body_waitgroup_rounds, NULL);
}
END_TEST

/* ======================================================================
 * Once
 * ====================================================================== */

static struct {
	gort_once once;
	gort_waitgroup wg;
	int calls;
	int finished; /* set by the once function as it returns */
	int early;    /* callers that returned before it finished */
} once_s = {GORT_ONCE_INIT, GORT_WAITGROUP_INIT, 0, 0, 0};

static void once_fn(void *arg)
{
	ck_assert_ptr_eq(arg, &once_s);
	__atomic_add_fetch(&once_s.calls, 1, __ATOMIC_RELAXED);
	yield_n(20); /* others pile up meanwhile */
	__atomic_store_n(&once_s.finished, 1, __ATOMIC_RELEASE);
}

static void once_caller(void *arg)
{
	(void)arg;
	gort_once_do(&once_s.once, once_fn, &once_s);
	if (!load(&once_s.finished))
		__atomic_add_fetch(&once_s.early, 1, __ATOMIC_RELAXED);
	gort_waitgroup_done(&once_s.wg);
}

static void body_once(void *arg)
{
	(void)arg;
	enum { CALLERS = 200 };
	gort_waitgroup_add(&once_s.wg, CALLERS);
	for (int i = 0; i < CALLERS; i++)
		spawn(once_caller, NULL);
	gort_waitgroup_wait(&once_s.wg);
	ck_assert_int_eq(once_s.calls, 1);
	ck_assert_int_eq(once_s.early, 0);
	gort_once_do(&once_s.once, once_fn, &once_s);
	ck_assert_int_eq(once_s.calls, 1);
}

START_TEST(once_runs_exactly_once_under_a_race)
{
	gt_run(PROCS, body_once, NULL);
}
END_TEST

/* ======================================================================
 * Semaphore
 * ====================================================================== */

enum { SEMA_UNITS = 3, SEMA_G = 16 };
static struct {
	gort_sema s;
	gort_waitgroup wg, held;
	int holders, max_holders;
} ss = {GORT_SEMA_INIT(SEMA_UNITS), GORT_WAITGROUP_INIT, GORT_WAITGROUP_INIT, 0, 0};

static void sema_user(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++) {
		gort_sema_acquire(&ss.s);
		atomic_max(&ss.max_holders, __atomic_add_fetch(&ss.holders, 1, __ATOMIC_ACQ_REL));
		gort_yield();
		__atomic_sub_fetch(&ss.holders, 1, __ATOMIC_ACQ_REL);
		gort_sema_release(&ss.s);
	}
	gort_waitgroup_done(&ss.wg);
}

/* Acquires a unit and holds it until the gate channel is closed. */
static void sema_holder(void *arg)
{
	gort_sema_acquire(&ss.s);
	gort_waitgroup_done(&ss.held);
	gort_chan_recv(arg, NULL);
	gort_sema_release(&ss.s);
	gort_waitgroup_done(&ss.wg);
}

static void body_sema(void *arg)
{
	(void)arg;
	long n = gt_scaled(2000);
	gort_waitgroup_add(&ss.wg, SEMA_G);
	for (int i = 0; i < SEMA_G; i++)
		spawn(sema_user, (void *)(intptr_t)n);
	gort_waitgroup_wait(&ss.wg);
	ck_assert_int_le(ss.max_holders, SEMA_UNITS);
	ck_assert_int_eq(ss.s.count, SEMA_UNITS);
	/* Blocking acquirers hold every unit at once, and no more. */
	gort_chan *gate = gort_chan_make(0, 0);
	ck_assert_ptr_nonnull(gate);
	gort_waitgroup_add(&ss.held, SEMA_UNITS);
	gort_waitgroup_add(&ss.wg, SEMA_UNITS);
	for (int i = 0; i < SEMA_UNITS; i++)
		spawn(sema_holder, gate);
	gort_waitgroup_wait(&ss.held);
	ck_assert(!gort_sema_try_acquire(&ss.s));
	gort_chan_close(gate);
	gort_waitgroup_wait(&ss.wg);
	gort_chan_unref(gate);
	ck_assert_int_eq(ss.s.count, SEMA_UNITS);
	for (int i = 0; i < SEMA_UNITS; i++)
		ck_assert(gort_sema_try_acquire(&ss.s));
	ck_assert(!gort_sema_try_acquire(&ss.s));
	for (int i = 0; i < SEMA_UNITS; i++)
		gort_sema_release(&ss.s);
}

START_TEST(sema_never_admits_more_than_its_units)
{
	gt_run(PROCS, body_sema, NULL);
}
END_TEST

static struct {
	gort_sema s;
	gort_waitgroup wg;
	int order[8], n;
} sf = {GORT_SEMA_INIT(-2), GORT_WAITGROUP_INIT, {0}, 0};

static void sema_fifo_waiter(void *arg)
{
	gort_sema_acquire(&sf.s);
	sf.order[sf.n++] = (int)(intptr_t)arg; /* one at a time: the root releases singly */
	gort_waitgroup_done(&sf.wg);
}

static int sema_queue_len(gort_sema *s)
{
	return queue_len(&s->lock, &s->waiters);
}

/* Waiters are served in the order they queued; a negative count needs that
 * many extra releases before anyone passes. */
static void body_sema_fifo(void *arg)
{
	(void)arg;
	enum { N = 6 };
	int64_t start = gort_now();
	for (int i = 0; i < N; i++) {
		spawn(sema_fifo_waiter, (void *)(intptr_t)i);
		while (sema_queue_len(&sf.s) < i + 1) {
			gort_yield();
			check_deadline(start, 10, "semaphore waiter did not queue");
		}
	}
	gort_sema_release(&sf.s);
	gort_sema_release(&sf.s); /* count -2 -> 0: nobody passes yet */
	ck_assert_int_eq(sema_queue_len(&sf.s), N);
	for (int i = 0; i < N; i++) {
		gort_waitgroup_add(&sf.wg, 1);
		gort_sema_release(&sf.s);
		gort_waitgroup_wait(&sf.wg);
	}
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(sf.order[i], i);
	ck_assert_int_eq(sf.s.count, 0);
}

START_TEST(sema_serves_waiters_in_fifo_order)
{
	gt_run(PROCS, body_sema_fifo, NULL);
}
END_TEST

/* ======================================================================
 * Pool
 * ====================================================================== */

static struct {
	int created, freed;
} pc;

static void *pool_new_item(void *arg)
{
	ck_assert_ptr_eq(arg, &pc);
	__atomic_add_fetch(&pc.created, 1, __ATOMIC_RELAXED);
	return malloc(16);
}

static void pool_free_item(void *item, void *arg)
{
	ck_assert_ptr_eq(arg, &pc);
	__atomic_add_fetch(&pc.freed, 1, __ATOMIC_RELAXED);
	free(item);
}

static bool in_set(void *p, void **set, int n)
{
	for (int i = 0; i < n; i++)
		if (set[i] == p)
			return true;
	return false;
}

static void body_pool_reuse(void *arg)
{
	(void)arg;
	enum { MAX = 4, PUT = 3 * MAX };
	gort_pool *p = gort_pool_new(pool_new_item, pool_free_item, &pc, MAX);
	ck_assert_ptr_nonnull(p);
	/* No switch point between put and get: same worker, same item. */
	void *x = gort_pool_get(p);
	ck_assert_int_eq(pc.created, 1);
	gort_pool_put(p, x);
	ck_assert_ptr_eq(gort_pool_get(p), x);
	gort_pool_put(p, x);
	ck_assert_ptr_eq(gort_pool_get(p), x);
	ck_assert_int_eq(pc.created, 1);
	/* Bounded: MAX private + MAX shared kept, the rest freed. */
	void *items[PUT];
	items[0] = x;
	for (int i = 1; i < PUT; i++)
		items[i] = gort_pool_get(p);
	for (int i = 0; i < PUT; i++)
		gort_pool_put(p, items[i]);
	ck_assert_int_eq(pc.freed, PUT - 2 * MAX);
	void *got[2 * MAX];
	for (int i = 0; i < 2 * MAX; i++) {
		got[i] = gort_pool_get(p);
		ck_assert(in_set(got[i], items, PUT));
		ck_assert(!in_set(got[i], got, i)); /* each cached item once */
	}
	ck_assert_int_eq(pc.created, PUT);
	void *fresh = gort_pool_get(p); /* cache empty: new_fn */
	ck_assert_int_eq(pc.created, PUT + 1);
	gort_pool_put(p, fresh);
	for (int i = 0; i < 2 * MAX; i++)
		gort_pool_put(p, got[i]);
	gort_pool_put(p, NULL); /* no-op */
	gort_pool_destroy(p);
	ck_assert_int_eq(pc.freed, pc.created);
}

START_TEST(pool_reuses_items_and_stays_bounded)
{
	gt_run(PROCS, body_pool_reuse, NULL);
}
END_TEST

static struct {
	gort_pool *p;
	gort_waitgroup wg;
} ps;

static void pool_user(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++) {
		void *a = gort_pool_get(ps.p);
		void *b = gort_pool_get(ps.p);
		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_ne(a, b);
		if (i % 4 == 0)
			gort_yield(); /* may resume on another worker */
		gort_pool_put(ps.p, a);
		gort_pool_put(ps.p, b);
	}
	gort_waitgroup_done(&ps.wg);
}

static void body_pool_stress(void *arg)
{
	(void)arg;
	enum { G = 16 };
	ps.p = gort_pool_new(pool_new_item, pool_free_item, &pc, 8);
	ck_assert_ptr_nonnull(ps.p);
	gort_waitgroup_add(&ps.wg, G);
	for (int i = 0; i < G; i++)
		spawn(pool_user, (void *)(intptr_t)gt_scaled(20000));
	gort_waitgroup_wait(&ps.wg);
	gort_pool_destroy(ps.p);
	ck_assert_int_eq(pc.freed, pc.created);
	ck_assert_int_lt(pc.created, 2 * G * gt_scaled(20000) / 10); /* mostly reused */
}

START_TEST(pool_stays_consistent_across_workers)
{
	gt_run(PROCS, body_pool_stress, NULL);
}
END_TEST

START_TEST(pool_works_outside_the_runtime)
{
	gort_pool *p = gort_pool_new(pool_new_item, pool_free_item, &pc, 2);
	ck_assert_ptr_nonnull(p);
	void *a = gort_pool_get(p), *b = gort_pool_get(p), *c = gort_pool_get(p);
	gort_pool_put(p, a);
	gort_pool_put(p, b);
	gort_pool_put(p, c); /* shared list full (2): freed */
	ck_assert_int_eq(pc.freed, 1);
	void *x = gort_pool_get(p);
	ck_assert(x == a || x == b);
	gort_pool_put(p, x);
	gort_pool_destroy(p);
	ck_assert_int_eq(pc.freed, 3);
	ck_assert_ptr_null(gort_pool_new(pool_new_item, pool_free_item, &pc, 0));
	gort_pool_destroy(NULL);
}
END_TEST

/* ======================================================================
 * Wake-ups from a plain thread
 * ====================================================================== */

static struct {
	gort_mutex m;
	gort_sema s;
	gort_waitgroup wg;
	gort_mutex L;
	gort_cond c;
	gort_waitgroup finished;
	int got_mutex, got_sema, got_wg, got_cond;
} ext = {GORT_MUTEX_INIT, GORT_SEMA_INIT(0), GORT_WAITGROUP_INIT, GORT_MUTEX_INIT, GORT_COND_INIT(&ext.L),
         GORT_WAITGROUP_INIT, 0, 0, 0, 0};

static void ext_mutex_waiter(void *arg)
{
	(void)arg;
	gort_mutex_lock(&ext.m); /* parks: the root holds it */
	ext.got_mutex = 1;
	gort_mutex_unlock(&ext.m);
	gort_waitgroup_done(&ext.finished);
}

static void ext_sema_waiter(void *arg)
{
	(void)arg;
	gort_sema_acquire(&ext.s);
	ext.got_sema = 1;
	gort_waitgroup_done(&ext.finished);
}

static void ext_wg_waiter(void *arg)
{
	(void)arg;
	gort_waitgroup_wait(&ext.wg);
	ext.got_wg = 1;
	gort_waitgroup_done(&ext.finished);
}

static void ext_cond_waiter(void *arg)
{
	(void)arg;
	gort_mutex_lock(&ext.L);
	gort_cond_wait(&ext.c);
	ext.got_cond = 1;
	gort_mutex_unlock(&ext.L);
	gort_waitgroup_done(&ext.finished);
}

static bool queued(uint32_t *lock, gort__waitq *q)
{
	return queue_len(lock, q) > 0;
}

/* The plain thread: waits (sched_yield, no sleep) until each goroutine is
 * parked, then wakes it with a call that is allowed from any thread. */
static void *ext_thread(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&ext.m.state, __ATOMIC_ACQUIRE) >> 3 == 0)
		sched_yield();
	gort_mutex_unlock(&ext.m); /* locked by the root: any thread may unlock */
	while (!queued(&ext.s.lock, &ext.s.waiters))
		sched_yield();
	gort_sema_release(&ext.s);
	while (!queued(&ext.wg.lock, &ext.wg.waiters))
		sched_yield();
	gort_waitgroup_done(&ext.wg);
	while (!queued(&ext.c.lock, &ext.c.waiters))
		sched_yield();
	gort_cond_signal(&ext.c);
	gort_release();
	return NULL;
}

static void body_external_wake(void *arg)
{
	(void)arg;
	gort_mutex_lock(&ext.m);
	gort_waitgroup_add(&ext.wg, 1);
	gort_waitgroup_add(&ext.finished, 4);
	spawn(ext_mutex_waiter, NULL);
	spawn(ext_sema_waiter, NULL);
	spawn(ext_wg_waiter, NULL);
	spawn(ext_cond_waiter, NULL);
	gort_hold(); /* the thread is a wake source until it ends */
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, ext_thread, NULL), 0);
	gort_waitgroup_wait(&ext.finished);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert(ext.got_mutex && ext.got_sema && ext.got_wg && ext.got_cond);
}

START_TEST(plain_threads_can_wake_goroutines)
{
	gt_run(PROCS, body_external_wake, NULL);
}
END_TEST

/* ======================================================================
 * Misuse: each aborts (Go would panic)
 * ====================================================================== */

static void misuse_unlock_unlocked(void *arg)
{
	(void)arg;
	gort_mutex m = GORT_MUTEX_INIT;
	gort_mutex_unlock(&m);
}

static void misuse_unlock_twice(void *arg)
{
	(void)arg;
	gort_mutex m = GORT_MUTEX_INIT;
	gort_mutex_lock(&m);
	gort_mutex_unlock(&m);
	gort_mutex_unlock(&m);
}

static void misuse_rw_unlock_unlocked(void *arg)
{
	(void)arg;
	gort_rwmutex rw = GORT_RWMUTEX_INIT;
	gort_rwmutex_unlock(&rw);
}

static void misuse_rw_runlock_unlocked(void *arg)
{
	(void)arg;
	gort_rwmutex rw = GORT_RWMUTEX_INIT;
	gort_rwmutex_runlock(&rw);
}

static void misuse_rw_runlock_under_writer(void *arg)
{
	(void)arg;
	gort_rwmutex rw = GORT_RWMUTEX_INIT;
	gort_rwmutex_lock(&rw);
	gort_rwmutex_runlock(&rw);
}

static void misuse_waitgroup_negative(void *arg)
{
	(void)arg;
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_waitgroup_add(&wg, 2);
	gort_waitgroup_done(&wg);
	gort_waitgroup_add(&wg, -2);
}

static void misuse_cond_without_mutex(void *arg)
{
	(void)arg;
	gort_cond c = {0};
	gort_cond_wait(&c);
}

static void misuse_cond_wait_unlocked(void *arg)
{
	(void)arg;
	gort_mutex L = GORT_MUTEX_INIT;
	gort_cond c = GORT_COND_INIT(&L);
	gort_cond_wait(&c); /* L not held: its unlock aborts */
}

static void (*const misuses[])(void *arg) = {
	misuse_unlock_unlocked,     misuse_unlock_twice,           misuse_rw_unlock_unlocked,
	misuse_rw_runlock_unlocked, misuse_rw_runlock_under_writer, misuse_waitgroup_negative,
	misuse_cond_without_mutex,  misuse_cond_wait_unlocked,
};
enum { NMISUSES = sizeof misuses / sizeof misuses[0] };

START_TEST(misuse_aborts)
{
	gt_run(1, misuses[_i], NULL);
}
END_TEST

START_TEST(blocking_calls_outside_a_goroutine_abort)
{
	gort_sema s = GORT_SEMA_INIT(0);
	gort_sema_acquire(&s);
}
END_TEST

START_TEST(waitgroup_wait_outside_a_goroutine_aborts)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_waitgroup_wait(&wg); /* even when it would not block */
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = gt_tcase("mutex", 30);
	tcase_add_loop_test(tc, mutex_counter_is_exact_with_8_goroutines, 0, 2);
	tcase_add_loop_test(tc, mutex_trylock_fails_only_while_locked, 0, 2);
	tcase_add_loop_test(tc, mutex_waiters_are_not_starved_by_a_barging_owner, 0, 2);
	suite_add_tcase(s, tc);

	tc = gt_tcase("rwmutex", 30);
	tcase_add_loop_test(tc, rwmutex_readers_hold_the_lock_together, 0, 2);
	tcase_add_loop_test(tc, rwmutex_writers_exclude_readers_and_writers, 0, 2);
	tcase_add_loop_test(tc, rwmutex_writer_is_not_starved_by_a_stream_of_readers, 0, 2);
	suite_add_tcase(s, tc);

	tc = gt_tcase("cond", 30);
	tcase_add_loop_test(tc, cond_broadcast_wakes_every_waiter, 0, 2);
	tcase_add_loop_test(tc, cond_signal_wakes_exactly_one_in_fifo_order, 0, 2);
	suite_add_tcase(s, tc);

	tc = gt_tcase("waitgroup_once_sema", 30);
	tcase_add_loop_test(tc, waitgroup_is_reusable_and_releases_many_waiters, 0, 2);
	tcase_add_loop_test(tc, once_runs_exactly_once_under_a_race, 0, 2);
	tcase_add_loop_test(tc, sema_never_admits_more_than_its_units, 0, 2);
	tcase_add_loop_test(tc, sema_serves_waiters_in_fifo_order, 0, 2);
	suite_add_tcase(s, tc);

	tc = gt_tcase("pool", 30);
	tcase_add_loop_test(tc, pool_reuses_items_and_stays_bounded, 0, 2);
	tcase_add_loop_test(tc, pool_stays_consistent_across_workers, 0, 2);
	tcase_add_test(tc, pool_works_outside_the_runtime);
	suite_add_tcase(s, tc);

	tc = gt_tcase("external", 30);
	tcase_add_loop_test(tc, plain_threads_can_wake_goroutines, 0, 2);
	suite_add_tcase(s, tc);

	tc = gt_tcase("misuse", 10);
	tcase_add_loop_test_raise_signal(tc, misuse_aborts, SIGABRT, 0, NMISUSES);
	tcase_add_test_raise_signal(tc, blocking_calls_outside_a_goroutine_abort, SIGABRT);
	tcase_add_test_raise_signal(tc, waitgroup_wait_outside_a_goroutine_aborts, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}
