/* sched.c — the M:N scheduler: workers, parking and waking, spawning,
 * gort_main.
 *
 * Glossary (Go's G/M/P, folded into two roles):
 *   goroutine (G, gort__g)  a function with its own stack; its header lives
 *                           at the top of that stack (stack.c).
 *   worker (M+P, gort__worker)  an OS thread with a local run queue, a
 *                           run-next slot, a stack cache and its own "g0"
 *                           context: the thread's native stack, on which the
 *                           scheduling loop, park commits and timer
 *                           callbacks run.  Go separates M (thread) from P
 *                           (run queue) so that a thread blocked in a system
 *                           call can hand its P on; libgort has no syscall
 *                           hand-off (blocking calls go to a pool), so one
 *                           worker is both.
 *   spinning                a worker with no work looking for some (stealing),
 *                           counted in S.nmspinning.
 *   idle                    a worker asleep: on S.idle_list.  Exactly one idle
 *                           worker, the poller, sleeps in epoll_wait until the
 *                           next timer deadline or a descriptor event (handed
 *                           to netpoll.c); the others sleep on their own
 *                           futex word.  While nobody sleeps in epoll, busy
 *                           workers poll descriptors without blocking every
 *                           61 picks and before they steal.
 *
 * Scheduling policy (cooperative; see docs/runtime.md):
 *  - A worker runs the goroutine in its run-next slot, else the head of its
 *    ring, else a batch from the global queue, else it steals half of a
 *    random victim's ring, retrying for SPIN_NS, else it goes idle.
 *  - Every 61st pick looks at the global queue first, so goroutines readied
 *    from outside threads or overflowed from full rings are not starved.
 *  - The run-next slot (where gort__ready from a worker puts the woken
 *    goroutine) is taken at most RUNNEXT_CAP times in a row while the ring
 *    holds work, so two goroutines waking each other cannot starve a third.
 *  - gort_yield puts the caller at the tail of its worker's ring.
 *  - Spawn backpressure: a goroutine whose spawn leaves SPAWN_BURST (half a
 *    ring) or more goroutines queued on its worker yields (to the tail of
 *    the ring, behind them).  A spawning loop thus runs in bursts of about
 *    half a ring: the burst runs, its goroutines exit (or park) and their
 *    stacks, still hot in cache and resident, come back to the worker's
 *    stack cache for the next burst, instead of a million queued
 *    goroutines each faulting in a fresh stack page and overflowing into
 *    the global queue (Go gets the same from preempting a long spawner to
 *    the global queue).  Goroutines that park do not stop the spawner: its
 *    turn comes as soon as they have parked.  So gort_go on a goroutine is
 *    a switch point; on g0 (timer callbacks) or outside threads it never
 *    yields.
 *  - Wake-ups (Go's wakep): another worker is woken only when work it could
 *    take was queued (spawn, ring put, outside ready) and no worker is
 *    spinning; a goroutine readied into the run-next slot alone wakes nobody,
 *    because its waker's worker is about to run it (a cross-CPU wake-up costs
 *    20-46 us on the reference VM, a local switch ~20 ns).  At most half of
 *    the busy workers spin.  A spinning worker that finds work stops spinning
 *    and, if it was the last spinner and work remains, wakes another.
 *  - Stealers leave a victim's run-next slot alone unless the victim has not
 *    switched goroutines during the whole spin (it is stuck in one).
 *  - Retake (Go's sysmon retake, without a thread of its own): while any
 *    worker is busy, the idle poller sleeps at most its retake interval
 *    (1 ms, doubling to 10 ms while it finds nothing to run), then spins
 *    once more, stealing the run-next slot of a worker stuck in one
 *    goroutine; and a goroutine readied into a run-next slot while workers
 *    are idle but none polls wakes one.  So a goroutine woken by one that
 *    goes on computing without blocking waits at most about 10 ms for
 *    another worker, not until its waker blocks.  A runtime with every
 *    worker idle sleeps untimed (no CPU).
 *
 * Sleep/wake protocol (no lost wake-ups): a worker going idle first stops
 * spinning, then joins the idle list under S.lock, then (full fence)
 * re-checks every queue; a producer queues work, then (full fence) reads
 * S.npidle and S.nmspinning.  A waker pops the sleeper from the idle list
 * under S.lock, then sets its wake word and futex-wakes it (and writes the
 * eventfd if it was the poller).  A sleeper that finds work itself removes
 * itself from the list; if it is no longer there, a waker owns it and it
 * waits for its wake word.
 *
 * Parking (Go's gopark): gort__park saves the goroutine (switch to g0),
 * then g0 marks it WAITING and calls commit(g, arg), which publishes the
 * waiter (typically by unlocking the primitive's lock); so a waker always
 * finds a fully switched-out goroutine.  errno is saved on the goroutine's
 * stack around every switch; TLS is read through noinline accessors.
 *
 * Alternatives rejected: ucontext (a sigprocmask system call per switch);
 * one global run queue (lock contention at every switch); Go's syscall
 * hand-off of P (needs a monitor thread; we offload blocking calls
 * instead); preemption by signals (unsafe for C code holding locks); waking
 * a worker for every ready (each costs a cross-CPU IPI on this hardware).
 *
 * Locking: S.lock (a spinlock) guards the global queue, the idle list and
 * the poller role; no other lock is taken and no system call is made while
 * it is held.  Run queues and run-next slots are lock-free (runq.c); the
 * timer heap has its own lock (timerheap.c); stacks have per-class mutexes
 * (stack.c).  No runtime lock is held across a switch.
 *
 * Deadlock detection (Go's checkdead): when the last worker goes idle and
 * no goroutine is runnable, no timer is pending and nobody holds the runtime
 * (gort_hold, netpoller, blocking pool), nothing can ever wake a goroutine.
 */
#include "sched_impl.h"
#include "sanitizer.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RUNNEXT_CAP 3
#define GLOBAL_TICK 61
#define SPIN_NS ((int64_t)20000)
#define RETAKE_MIN_NS ((int64_t)1000000)
#define RETAKE_MAX_NS ((int64_t)10000000)
#define ID_BATCH 64
#define SPAWN_BURST (GORT__RUNQ_SIZE / 2)

struct gort__sched gort__S = {.epfd = -1, .evfd = -1};
#define S gort__S

static __thread gort__worker *tls_worker;
static __thread uint32_t tls_rand;

GORT__HIDDEN _Noreturn void gort__g_entry(gort__g *g);

/* ---------------------------------------------------------------------
 * Accessors that must not be cached across a switch.
 * --------------------------------------------------------------------- */

#if defined(__clang__)
#define NOIPA __attribute__((noinline))
#else
#define NOIPA __attribute__((noinline, noipa))
#endif

gort__worker *gort__current_worker(void)
{
	return tls_worker;
}

gort__g *gort__self(void)
{
	gort__worker *w = tls_worker;
	return w ? w->curg : NULL;
}

gort__g *gort__self_or_die(const char *what)
{
	gort__g *g = gort__self();
	if (!g)
		gort__fatal("%s called outside a goroutine", what);
	return g;
}

static NOIPA int errno_save(void)
{
	return errno;
}

static NOIPA void errno_restore(int e)
{
	errno = e;
}

int gort__worker_index(void)
{
	gort__worker *w = gort__current_worker();
	return w ? w->index : -1;
}

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

uint32_t gort__rand(void)
{
	gort__worker *w = gort__current_worker();
	if (w)
		return xorshift(&w->rand);
	if (!tls_rand)
		tls_rand = (uint32_t)gort__now() | 1u;
	return xorshift(&tls_rand);
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---------------------------------------------------------------------
 * Idle workers: the idle list, waking, the poller.
 * --------------------------------------------------------------------- */

void gort__wake_poller(void)
{
	uint64_t one = 1;
	if (S.evfd >= 0 && write(S.evfd, &one, sizeof one) < 0 && errno != EAGAIN)
		gort__fatal("eventfd write: %s", strerror(errno));
}

/* Takes w off the idle list (S.lock held); true if w is the poller.  The
 * poller role (S.poller) is given up only by the poller itself once it is
 * out of epoll_wait, so that two workers never wait on the eventfd at once
 * (one could swallow the other's wake-up). */
static bool idle_remove_locked(gort__worker *w)
{
	for (gort__worker **p = &S.idle_list; *p; p = &(*p)->idle_next) {
		if (*p == w) {
			*p = w->idle_next;
			break;
		}
	}
	w->idle = false;
	atomic_fetch_sub(&S.npidle, 1);
	return S.poller == w;
}

/* Wakes w, already taken off the idle list by the caller. */
static void worker_wake(gort__worker *w, bool spinning, bool was_poller)
{
	w->spinning = spinning;
	atomic_store_explicit(&w->wake, 1, memory_order_release);
	futex_wake(&w->wake);
	if (was_poller)
		gort__wake_poller();
}

/* Go's wakep: wake one idle worker, as a spinner, if nobody spins. */
static void wakep(void)
{
	if (S.nprocs == 1 && tls_worker)
		return; /* the only worker is the caller: it is awake */
	gort__fence();
	if (atomic_load(&S.npidle) == 0 || atomic_load(&S.nmspinning) != 0)
		return;
	int zero = 0;
	if (!atomic_compare_exchange_strong(&S.nmspinning, &zero, 1))
		return;
	gort__spin_lock(&S.lock);
	gort__worker *v = S.idle_list;
	while (v && v == S.poller && v->idle_next) /* keep the poller polling */
		v = v->idle_next;
	bool was_poller = v ? idle_remove_locked(v) : false;
	gort__spin_unlock(&S.lock);
	if (!v) {
		atomic_fetch_sub(&S.nmspinning, 1);
		return;
	}
	worker_wake(v, true, was_poller);
}

/* Removes itself from the idle list and gives up the poller role; false
 * if a waker already took it off the list (it must wait for its wake-up). */
static bool idle_cancel(gort__worker *w)
{
	gort__spin_lock(&S.lock);
	bool listed = w->idle;
	if (listed)
		idle_remove_locked(w);
	if (S.poller == w)
		S.poller = NULL;
	gort__spin_unlock(&S.lock);
	return listed;
}

static void wait_woken(gort__worker *w)
{
	while (atomic_load_explicit(&w->wake, memory_order_acquire) == 0)
		futex_wait(&w->wake, 0);
}

static bool any_queued(void)
{
	if (atomic_load(&S.gq_len))
		return true;
	for (int i = 0; i < S.nprocs; i++)
		if (gort__runq_len(S.workers[i]))
			return true;
	return false;
}

static bool work_visible(void)
{
	return any_queued() || atomic_load(&S.stopping) || gort__timers_next() <= gort__now();
}

/* Called with S.lock held by the last worker going idle. */
static void check_deadlock_locked(void)
{
	if (atomic_load(&S.holds) || gort__timers_count() || atomic_load(&S.stopping) || any_queued())
		return;
	for (int i = 0; i < S.nprocs; i++)
		if (atomic_load(&S.workers[i]->runnext))
			return;
	gort__spin_unlock(&S.lock);
	gort__deadlock();
}

/* epoll_wait with a nanosecond timeout (d < 0: none); epoll_pwait2 needs
 * Linux 5.11 (and is unknown to Valgrind 3.19): else whole milliseconds. */
static int epoll_wait_ns(struct epoll_event *ev, int max, int64_t d)
{
	static _Atomic bool no_pwait2;
	if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
		struct timespec ts = {d / GORT_SECOND, d % GORT_SECOND};
		int n = epoll_pwait2(S.epfd, ev, max, d < 0 ? NULL : &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		atomic_store(&no_pwait2, true);
	}
	int ms = d < 0 ? -1 : (int)((d + GORT_MILLISECOND - 1) / GORT_MILLISECOND);
	return epoll_wait(S.epfd, ev, max, ms);
}

/* One wait of the poller: drains the eventfd, hands descriptor events to
 * the netpoller (which readies their goroutines onto this worker). */
static void poll_once(void)
{
	struct epoll_event ev[GORT__NETPOLL_BATCH];
	int64_t deadline = atomic_load(&S.poll_until), d = -1;
	if (deadline != INT64_MAX) {
		d = deadline - gort__now();
		if (d <= 0)
			return;
	}
	int n = epoll_wait_ns(ev, GORT__NETPOLL_BATCH, d);
	for (int i = 0; i < n; i++) {
		uint64_t v;
		if (ev[i].data.fd != S.evfd)
			gort__netpoll_event(ev[i].data.u64, ev[i].events);
		else if (read(S.evfd, &v, sizeof v) < 0 && errno != EAGAIN)
			gort__fatal("eventfd read: %s", strerror(errno));
	}
}

/* A busy worker's look at the descriptors when no worker waits in epoll
 * (Go's netpoll(0) in findrunnable); true if goroutines were readied. */
static bool netpoll_nb(void)
{
	return atomic_load_explicit(&S.poll_until, memory_order_relaxed) == 0 &&
	       gort__netpoll_poll_nb(S.epfd, S.evfd);
}

/* The poller's sleep: until the next timer deadline or an eventfd write,
 * and, while another worker is busy, at most the retake interval. */
static void poll_wait(gort__worker *w)
{
	for (;;) {
		int64_t deadline = gort__timers_next();
		if (atomic_load(&S.npidle) < S.nprocs) {
			int64_t retake = gort__now() + w->retake_ns;
			deadline = retake < deadline ? retake : deadline;
			w->retake_ns = w->retake_ns * 2 < RETAKE_MAX_NS ? w->retake_ns * 2 : RETAKE_MAX_NS;
		}
		atomic_store(&S.poll_until, deadline);
		gort__fence();
		if (gort__timers_next() < deadline)
			continue; /* an earlier timer arrived meanwhile */
		if (!atomic_load(&w->wake) && !atomic_load(&S.stopping))
			poll_once();
		break;
	}
	atomic_store(&S.poll_until, 0);
	if (!idle_cancel(w))
		wait_woken(w);
}

static void idle_sleep(gort__worker *w)
{
	if (w->spinning) {
		w->spinning = false;
		atomic_fetch_sub(&S.nmspinning, 1);
	}
	/* Lazy trim of exit bursts' stacks, only by the last worker awake:
	 * returning pages shoots down TLB entries on every CPU running us, so
	 * never do it while another worker is busy. */
	if (atomic_load(&S.npidle) == S.nprocs - 1)
		gort__stack_scavenge(work_visible);
	gort__spin_lock(&S.lock);
	if (atomic_load(&S.stopping) || atomic_load(&S.gq_len)) {
		gort__spin_unlock(&S.lock);
		return;
	}
	atomic_store(&w->wake, 0);
	w->idle = true;
	w->idle_next = S.idle_list;
	S.idle_list = w;
	bool poller = !S.poller;
	if (poller)
		S.poller = w;
	if (atomic_fetch_add(&S.npidle, 1) + 1 == S.nprocs)
		check_deadlock_locked();
	gort__spin_unlock(&S.lock);
	gort__fence();
	if (work_visible() && idle_cancel(w))
		return;
	if (poller)
		poll_wait(w);
	else
		wait_woken(w);
}

/* ---------------------------------------------------------------------
 * Finding work.
 * --------------------------------------------------------------------- */

static gort__g *local_pick(gort__worker *w)
{
	gort__g *g;
	if (++w->tick % GLOBAL_TICK == 0) {
		netpoll_nb(); /* readied goroutines land in the run-next slot */
		if ((g = gort__global_get(w, 1))) {
			w->runnext_streak = 0;
			return g;
		}
	}
	gort__g *next = atomic_load_explicit(&w->runnext, memory_order_relaxed);
	if (next && (w->runnext_streak < RUNNEXT_CAP || gort__runq_len(w) == 0) &&
	    atomic_compare_exchange_strong(&w->runnext, &next, NULL)) {
		w->runnext_streak++;
		return next;
	}
	if ((g = gort__runq_get(w))) {
		w->runnext_streak = 0;
		return g;
	}
	return atomic_exchange(&w->runnext, NULL);
}

static bool start_spinning(gort__worker *w)
{
	if (w->spinning)
		return true;
	int spinning = atomic_load(&S.nmspinning);
	int busy = S.nprocs - atomic_load(&S.npidle);
	if (2 * spinning >= busy)
		return false;
	w->spinning = true;
	atomic_fetch_add(&S.nmspinning, 1);
	return true;
}

static void stop_spinning(gort__worker *w)
{
	w->spinning = false;
	if (atomic_fetch_sub(&S.nmspinning, 1) == 1 && (gort__runq_len(w) || atomic_load(&S.gq_len)))
		wakep();
}

/* Steals half of a random victim's ring, retrying for at least 4 rounds
 * and SPIN_NS (a cross-CPU wake-up costs more than that spin). */
static gort__g *steal_work(gort__worker *w)
{
	uint64_t seen[GORT_MAX_PROCS];
	int n = S.nprocs;
	if (!start_spinning(w))
		return NULL;
	for (int i = 0; i < n; i++)
		seen[i] = atomic_load_explicit(&S.workers[i]->n_switches, memory_order_relaxed);
	int64_t start = gort__now();
	for (int round = 0;; round++) {
		bool last = round >= 3 && gort__now() - start >= SPIN_NS;
		int first = (int)(xorshift(&w->rand) % (uint32_t)n);
		for (int k = 0; k < n; k++) {
			gort__worker *v = S.workers[(first + k) % n];
			if (v == w)
				continue;
			bool stuck = last && atomic_load_explicit(&v->n_switches, memory_order_relaxed) ==
			                         seen[v->index];
			gort__g *g = gort__runq_steal(w, v, stuck);
			if (g)
				return g;
		}
		gort__g *g = gort__global_get(w, GORT__RUNQ_SIZE / 2);
		if (g || last || atomic_load(&S.stopping))
			return g;
		for (int i = 0; i < 32; i++)
			gort__cpu_relax();
	}
}

static gort__g *find_runnable(gort__worker *w)
{
	for (;;) {
		if (atomic_load_explicit(&S.stopping, memory_order_relaxed))
			return NULL;
		if (gort__timers_count()) {
			int64_t now = gort__now();
			if (now >= gort__timers_next())
				gort__timers_run(w, now);
		}
		gort__g *g = local_pick(w);
		if (!g)
			g = gort__global_get(w, GORT__RUNQ_SIZE / 2);
		if (!g && netpoll_nb())
			g = local_pick(w);
		if (!g && S.nprocs > 1)
			g = steal_work(w);
		if (g) {
			w->retake_ns = RETAKE_MIN_NS;
			if (w->spinning)
				stop_spinning(w);
			return g;
		}
		idle_sleep(w);
	}
}

/* ---------------------------------------------------------------------
 * Switching.
 * --------------------------------------------------------------------- */

static void stop_all(void)
{
	gort__worker *woken[GORT_MAX_PROCS];
	bool poller[GORT_MAX_PROCS];
	int n = 0;
	atomic_store(&S.stopping, true);
	gort__spin_lock(&S.lock);
	while (S.idle_list) {
		woken[n] = S.idle_list;
		poller[n] = idle_remove_locked(S.idle_list);
		n++;
	}
	gort__spin_unlock(&S.lock);
	for (int i = 0; i < n; i++)
		worker_wake(woken[i], false, poller[i]);
	gort__wake_poller();
}

/* g0 side: run g until it comes back with a request in w->post. */
static void run_g(gort__worker *w, gort__g *g)
{
	w->curg = g;
	w->post = GORT__POST_NONE;
	atomic_store_explicit(&g->state, GORT__G_RUNNING, memory_order_relaxed);
	atomic_store_explicit(&w->n_switches, w->n_switches + 1, memory_order_relaxed);
	gort__asan_start(&w->asan_fake, g->stack_lo, (size_t)((char *)g - g->stack_lo));
	gort__tsan_switch(g->tsan_fiber);
	gort__switch(&w->g0_sp, g->sp);
	gort__asan_finish(w->asan_fake, NULL, NULL);
	w->curg = NULL;
}

/* Goroutine side: back to the worker's g0 with request post. */
static void to_g0(gort__g *g, gort__worker *w, int post)
{
	w->post = post;
	gort__asan_start(post == GORT__POST_EXIT ? NULL : &g->asan_fake, w->g0_stack_lo,
	                 w->g0_stack_size);
	gort__tsan_switch(w->tsan_g0);
	gort__switch(&g->sp, w->g0_sp);
	gort__asan_finish(g->asan_fake, NULL, NULL);
}

static void g_free(gort__worker *w, gort__g *g)
{
	atomic_store_explicit(&w->n_exited, w->n_exited + 1, memory_order_relaxed);
	gort__tsan_destroy(g->tsan_fiber);
	gort__vg_deregister(g->vg_id);
	bool root = g == S.root;
	gort__stack_put(&w->stacks, g);
	if (root)
		stop_all();
}

static void after_run(gort__worker *w, gort__g *g)
{
	switch (w->post) {
	case GORT__POST_YIELD:
		atomic_store_explicit(&g->state, GORT__G_RUNNABLE, memory_order_relaxed);
		gort__runq_put(w, g);
		if (gort__runq_len(w) > 1)
			wakep();
		break;
	case GORT__POST_PARK:
		atomic_store_explicit(&g->state, GORT__G_WAITING, memory_order_release);
		atomic_store_explicit(&w->n_parks, w->n_parks + 1, memory_order_relaxed);
		if (w->commit && !w->commit(g, w->commit_arg))
			gort__ready(g);
		break;
	case GORT__POST_EXIT:
		g_free(w, g);
		break;
	default:
		gort__fatal("goroutine %lld switched out without a request", (long long)g->id);
	}
}

static void worker_loop(gort__worker *w)
{
	gort__g *g;
	while ((g = find_runnable(w)))
		after_run(w, (run_g(w, g), g));
}

_Noreturn static void goexit(gort__g *g)
{
	to_g0(g, gort__current_worker(), GORT__POST_EXIT);
	__builtin_unreachable();
}

void gort__g_entry(gort__g *g)
{
	gort__asan_finish(NULL, NULL, NULL);
	g->fn(g->arg);
	goexit(g);
}

/* ---------------------------------------------------------------------
 * Parking, waking, yielding.
 * --------------------------------------------------------------------- */

void gort__park(gort__commit_fn commit, void *arg, enum gort__wait_reason why)
{
	gort__g *g = gort__self_or_die("gort__park");
	gort__worker *w = gort__current_worker();
	g->reason = why;
	g->wait_since = gort__now_coarse();
	w->commit = commit;
	w->commit_arg = arg;
	int e = errno_save();
	to_g0(g, w, GORT__POST_PARK);
	errno_restore(e);
	g->reason = GORT__WAIT_NONE;
}

bool gort__commit_unlock(gort__g *g, void *spinlock)
{
	(void)g;
	gort__spin_unlock(spinlock);
	return true;
}

void gort__ready(gort__g *g)
{
	uint32_t expect = GORT__G_WAITING;
	if (!atomic_compare_exchange_strong(&g->state, &expect, GORT__G_RUNNABLE))
		gort__fatal("gort__ready: goroutine %lld is not waiting (state %u)", (long long)g->id,
		            expect);
	gort__worker *w = gort__current_worker();
	if (!w) {
		gort__global_put_batch(g, g, 1);
		wakep();
		return;
	}
	gort__g *old = atomic_exchange(&w->runnext, g);
	if (old) {
		gort__runq_put(w, old);
		wakep();
	} else if (S.nprocs > 1 && !atomic_load_explicit(&S.poller, memory_order_relaxed) &&
	           atomic_load_explicit(&S.npidle, memory_order_relaxed)) {
		/* Workers are idle but none polls (the poller left with work):
		 * wake one, to become the poller that retakes g should this
		 * worker not get to it. */
		wakep();
	}
}

void gort_yield(void)
{
	gort__g *g = gort__self();
	if (!g)
		return;
	g->reason = GORT__WAIT_YIELD;
	int e = errno_save();
	to_g0(g, gort__current_worker(), GORT__POST_YIELD);
	errno_restore(e);
	g->reason = GORT__WAIT_NONE;
}

void gort_exit(void)
{
	goexit(gort__self_or_die("gort_exit"));
}

int64_t gort_self_id(void)
{
	gort__g *g = gort__self();
	return g ? g->id : 0;
}

int gort_nprocs(void)
{
	return atomic_load(&S.running) ? S.nprocs : 0;
}

/* ---------------------------------------------------------------------
 * Holds (wake sources outside the scheduler's view).
 * --------------------------------------------------------------------- */

void gort__hold(void)
{
	atomic_fetch_add(&S.holds, 1);
}

void gort__release(void)
{
	int64_t prev = atomic_fetch_sub(&S.holds, 1);
	if (prev <= 0)
		gort__fatal("gort_release without a matching gort_hold");
	if (prev == 1 && atomic_load(&S.npidle) == S.nprocs)
		gort__wake_poller(); /* let the idle workers re-check for deadlock */
}

void gort_hold(void)
{
	gort__hold();
}

void gort_release(void)
{
	gort__release();
}

/* ---------------------------------------------------------------------
 * Spawning.
 * --------------------------------------------------------------------- */

static int64_t next_id(gort__worker *w)
{
	if (!w)
		return atomic_fetch_add(&S.next_id, 1);
	if (w->id_next == w->id_end) {
		w->id_next = atomic_fetch_add(&S.next_id, ID_BATCH);
		w->id_end = w->id_next + ID_BATCH;
	}
	return w->id_next++;
}

static void set_name(gort__g *g, const char *name)
{
	size_t n = name ? strnlen(name, GORT__NAME_MAX - 1) : 0;
	memcpy(g->name, name ? name : "", n);
	g->name[n] = 0;
}

/* A new RUNNABLE goroutine, not yet queued; NULL + *err on failure. */
static gort__g *g_new(gort__worker *w, void (*fn)(void *), void *arg, const gort_go_opts *opts,
                      const char *file, int line, int *err)
{
	int cls = gort__stack_default_class();
	if (opts && opts->stack_size && (cls = gort__stack_class(opts->stack_size)) < 0) {
		*err = -EINVAL;
		return NULL;
	}
	gort__g *g = gort__stack_get(w ? &w->stacks : NULL, cls);
	if (!g) {
		*err = -ENOMEM;
		return NULL;
	}
	g->id = next_id(w);
	g->fn = fn;
	g->arg = arg;
	g->file = file;
	g->line = line;
	g->reason = GORT__WAIT_NONE;
	g->wait_since = 0;
	g->asan_fake = NULL;
	set_name(g, opts ? opts->name : NULL);
	g->sp = gort__frame_init(g, g);
	g->tsan_fiber = gort__tsan_create();
	g->vg_id = gort__vg_register(g->stack_lo, g);
	atomic_store_explicit(&g->state, GORT__G_RUNNABLE, memory_order_release);
	if (w)
		atomic_store_explicit(&w->n_created, w->n_created + 1, memory_order_relaxed);
	else
		atomic_fetch_add(&S.outside_created, 1);
	return g;
}

int64_t gort__go(void (*fn)(void *arg), void *arg, const gort_go_opts *opts, const char *file,
                 int line)
{
	if (!fn)
		return -EINVAL;
	if (!atomic_load(&S.running) || atomic_load(&S.stopping))
		return -ESRCH;
	gort__worker *w = gort__current_worker();
	int err;
	gort__g *g = g_new(w, fn, arg, opts, file, line, &err);
	if (!g)
		return err;
	int64_t id = g->id;
	if (!w) {
		gort__global_put_batch(g, g, 1);
		wakep();
		return id;
	}
	gort__runq_put(w, g);
	wakep();
	if (w->curg && gort__runq_len(w) >= SPAWN_BURST)
		gort_yield(); /* backpressure: let the burst run and free its stacks */
	return id;
}

/* ---------------------------------------------------------------------
 * Statistics.
 * --------------------------------------------------------------------- */

static uint64_t live_count(void)
{
	uint64_t created = atomic_load(&S.outside_created), exited = 0;
	for (int i = 0; i < S.nprocs; i++) {
		created += atomic_load_explicit(&S.workers[i]->n_created, memory_order_relaxed);
		exited += atomic_load_explicit(&S.workers[i]->n_exited, memory_order_relaxed);
	}
	return created > exited ? created - exited : 0;
}

void gort_stats_get(gort_stats *ret)
{
	memset(ret, 0, sizeof *ret);
	if (!atomic_load(&S.running))
		return;
	ret->goroutines_created = atomic_load(&S.outside_created);
	for (int i = 0; i < S.nprocs; i++) {
		gort__worker *w = S.workers[i];
		ret->goroutines_created += atomic_load_explicit(&w->n_created, memory_order_relaxed);
		ret->context_switches += atomic_load_explicit(&w->n_switches, memory_order_relaxed);
		ret->steals += atomic_load_explicit(&w->n_steals, memory_order_relaxed);
		ret->parks += atomic_load_explicit(&w->n_parks, memory_order_relaxed);
		ret->stacks_cached += atomic_load_explicit(&w->stacks.n, memory_order_relaxed);
		ret->runq_len[i] = gort__runq_len(w) + (atomic_load(&w->runnext) != NULL);
	}
	uint64_t cached, mapped;
	gort__stack_counts(&cached, &mapped);
	ret->stacks_cached += cached;
	ret->stacks_mapped = mapped;
	ret->goroutines_live = live_count();
	ret->procs = S.nprocs;
	ret->threads = S.nprocs + gort__blocking_threads();
	ret->global_runq_len = atomic_load(&S.gq_len);
}

/* ---------------------------------------------------------------------
 * Start and stop.
 * --------------------------------------------------------------------- */

static int procs_default(void)
{
	const char *env = getenv("GORT_PROCS");
	if (env && *env) {
		char *end;
		long v = strtol(env, &end, 10);
		if (*end == 0 && v > 0)
			return v > GORT_MAX_PROCS ? GORT_MAX_PROCS : (int)v;
	}
	cpu_set_t set;
	int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
	if (n < 1)
		n = 1;
	return n > GORT_MAX_PROCS ? GORT_MAX_PROCS : n;
}

/* Thread-side setup of w: TLS, signal stack, sanitizer contexts. */
static int worker_attach(gort__worker *w)
{
	tls_worker = w;
	w->tid = (pid_t)syscall(SYS_gettid);
	int r = gort__altstack_enable(w);
	if (r < 0)
		return r;
#ifdef GORT_ASAN
	pthread_attr_t attr;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &w->g0_stack_lo, &w->g0_stack_size);
		pthread_attr_destroy(&attr);
	}
#endif
	w->tsan_g0 = gort__tsan_current();
	return 0;
}

static void worker_detach(gort__worker *w)
{
	gort__altstack_disable(w); /* no-op if attach failed before it */
	tls_worker = NULL;
}

static void *worker_thread(void *p)
{
	gort__worker *w = p;
	if (worker_attach(w) < 0)
		gort__fatal("worker %d: cannot set up its signal stack", w->index);
	worker_loop(w);
	worker_detach(w);
	return NULL;
}

static int workers_alloc(int procs)
{
	S.workers = calloc((size_t)procs, sizeof *S.workers);
	if (!S.workers)
		return -ENOMEM;
	S.nprocs = procs; /* rt_teardown frees what was allocated */
	for (int i = 0; i < procs; i++) {
		gort__worker *w = aligned_alloc(64, sizeof *w);
		if (!w)
			return -ENOMEM;
		memset(w, 0, sizeof *w);
		w->index = i;
		w->retake_ns = RETAKE_MIN_NS;
		w->rand = (uint32_t)(gort__now() * 2654435761u) ^ (uint32_t)(i + 1) * 0x85ebca6bu;
		S.workers[i] = w;
	}
	return 0;
}

static int poller_open(void)
{
	S.epfd = epoll_create1(EPOLL_CLOEXEC);
	S.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (S.epfd < 0 || S.evfd < 0)
		return -errno;
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = S.evfd};
	return epoll_ctl(S.epfd, EPOLL_CTL_ADD, S.evfd, &ev) < 0 ? -errno : 0;
}

/* Releases everything rt_start set up; workers must have stopped. */
static void rt_teardown(void)
{
	gort__stack_fini();
	gort__timers_reset();
	if (S.epfd >= 0)
		close(S.epfd);
	if (S.evfd >= 0)
		close(S.evfd);
	S.epfd = S.evfd = -1;
	for (int i = 0; S.workers && i < S.nprocs; i++)
		free(S.workers[i]);
	free(S.workers);
	S.workers = NULL;
	gort__signals_restore();
	S.nprocs = 0;
	S.gq_head = S.gq_tail = NULL;
	atomic_store(&S.gq_len, 0);
	S.idle_list = S.poller = NULL;
	atomic_store(&S.npidle, 0);
	atomic_store(&S.nmspinning, 0);
	atomic_store(&S.holds, 0);
	atomic_store(&S.outside_created, 0);
	atomic_store(&S.stopping, false);
	S.root = NULL;
}

struct root_call {
	int (*fn)(void *arg);
	void *arg;
};

static void root_main(void *p)
{
	struct root_call *rc = p;
	S.root_result = rc->fn(rc->arg);
}

static int rt_start(int procs, size_t stack_size, struct root_call *rc)
{
	int r;
	atomic_store(&S.next_id, 1);
	S.root_result = 0;
	if ((r = gort__stack_init(stack_size)) < 0 || (r = workers_alloc(procs)) < 0 ||
	    (r = poller_open()) < 0 || (r = gort__signals_install()) < 0)
		return r;
	gort__worker *w0 = S.workers[0];
	if ((r = worker_attach(w0)) < 0)
		return r;
	gort_go_opts opts = {.name = "main"};
	S.root = g_new(w0, root_main, rc, &opts, "gort_main", 0, &r);
	if (!S.root)
		return r;
	gort__runq_put(w0, S.root);
	atomic_store(&S.running, true);
	return 0;
}

/* Tells the discarded goroutines' tools that their stacks are gone. */
static void discard_g(gort__g *g, void *arg)
{
	(void)arg;
	gort__tsan_destroy(g->tsan_fiber);
	gort__vg_deregister(g->vg_id);
}

static int start_threads(int *started)
{
	for (*started = 1; *started < S.nprocs; (*started)++) {
		gort__worker *w = S.workers[*started];
		if ((errno = pthread_create(&w->thread, NULL, worker_thread, w)) != 0)
			return errno == ENOMEM ? -ENOMEM : -EAGAIN;
	}
	return 0;
}

int gort_main(const gort_config *cfg, int (*root)(void *arg), void *arg)
{
	static _Atomic bool busy;
	int procs = cfg ? cfg->procs : 0;
	size_t stack = cfg && cfg->stack_size ? cfg->stack_size : GORT_STACK_DEFAULT;
	if (!root || procs < 0 || procs > GORT_MAX_PROCS || gort__stack_class(stack) < 0)
		return -EINVAL;
	if (atomic_exchange(&busy, true))
		return -EBUSY;
	struct root_call rc = {root, arg};
	int started = 1;
	int r = rt_start(procs ? procs : procs_default(), stack, &rc);
	if (r == 0 && (r = start_threads(&started)) < 0)
		stop_all();
	if (r == 0)
		worker_loop(S.workers[0]);
	for (int i = 1; i < started; i++)
		pthread_join(S.workers[i]->thread, NULL);
	if (r == 0)
		r = S.root_result;
	atomic_store(&S.running, false);
	gort__blocking_fini();
	gort__netpoll_fini();
	gort__stack_foreach(discard_g, NULL);
	if (gort__current_worker())
		worker_detach(gort__current_worker());
	rt_teardown();
	atomic_store(&busy, false);
	return r;
}
