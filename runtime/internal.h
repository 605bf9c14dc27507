/* internal.h — the interfaces between libgort's modules (not installed).
 *
 * The scheduler (sched.c) owns goroutines (gort__g), workers and run queues,
 * and exports exactly one way to block and one way to wake:
 *
 *   gort__park(commit, arg, reason)   the calling goroutine stops running;
 *   gort__ready(g)                    a parked goroutine becomes runnable.
 *
 * Protocol for every blocking primitive (sync.c, chan.c, select.c, timers):
 *   1. lock the primitive's spinlock; if the operation can complete, do it,
 *      unlock, return;
 *   2. else put a gort__waiter (on the goroutine's own stack) in the
 *      primitive's wait queue and call gort__park(commit, lock, reason);
 *      the scheduler saves the goroutine's registers, switches to the
 *      worker's own stack and only then calls commit(g, arg), which unlocks.
 *      So a waker that finds the waiter under the lock always finds a fully
 *      parked goroutine (Go's gopark/unlockf);
 *   3. a waker takes the waiter out of the queue under the lock, fills in the
 *      result (w->ok, the element), then calls gort__ready(w->g) — after
 *      which it must not touch w (the goroutine may already be running).
 *
 * Runtime-internal locks are never held across a park or a yield.
 */
#ifndef GORT_INTERNAL_H
#define GORT_INTERNAL_H

#include "config.h"
#include "gort.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GORT__HIDDEN __attribute__((visibility("hidden")))
#define GORT__LIKELY(x) __builtin_expect(!!(x), 1)
#define GORT__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Prints "gort: fatal: <message>" and the goroutine dump, then aborts. */
GORT__HIDDEN _Noreturn void gort__fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* The CPU's spin-wait hint (pause / yield): lets a hyper-thread sibling run
 * and saves power while busy-waiting. */
static inline void gort__cpu_relax(void)
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* ----------------------------------------------------------------------
 * Spinlock: a 32-bit word, 0 unlocked.  Spins with a pause instruction,
 * then sched_yield()s; critical sections must be a few dozen instructions
 * and never park.  The lock words embedded in gort.h structs are these.
 * ---------------------------------------------------------------------- */
GORT__HIDDEN void gort__spin_lock_slow(uint32_t *l);
static inline void gort__spin_lock(uint32_t *l)
{
	if (GORT__LIKELY(!__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)))
		return;
	gort__spin_lock_slow(l);
}
static inline bool gort__spin_trylock(uint32_t *l)
{
	return !__atomic_load_n(l, __ATOMIC_RELAXED) && !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE);
}
static inline void gort__spin_unlock(uint32_t *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* ----------------------------------------------------------------------
 * Goroutines, parking and waking (sched.c)
 * ---------------------------------------------------------------------- */

/* Why a goroutine is parked: shown in dumps. */
#define GORT__WAIT_REASONS(X)                                                 \
	X(NONE, "")                                                           \
	X(YIELD, "runnable")                                                  \
	X(CHAN_SEND, "chan send")                                             \
	X(CHAN_RECV, "chan receive")                                          \
	X(CHAN_NIL, "chan operation on nil channel")                          \
	X(SELECT, "select")                                                   \
	X(SELECT_EMPTY, "select (no cases)")                                  \
	X(SLEEP, "sleep")                                                     \
	X(MUTEX, "mutex lock")                                                \
	X(RWMUTEX_R, "rwmutex read lock")                                     \
	X(RWMUTEX_W, "rwmutex write lock")                                    \
	X(COND, "cond wait")                                                  \
	X(WAITGROUP, "waitgroup wait")                                        \
	X(SEMA, "semaphore acquire")                                          \
	X(IO, "IO wait")                                                      \
	X(BLOCKING, "blocking call")                                          \
	X(PROCESS, "process wait")

enum gort__wait_reason {
#define GORT__X(name, text) GORT__WAIT_##name,
	GORT__WAIT_REASONS(GORT__X)
#undef GORT__X
		GORT__WAIT_COUNT_
};
GORT__HIDDEN const char *gort__wait_reason_str(enum gort__wait_reason r);

typedef struct gort__g gort__g;

/* The calling goroutine, or NULL on a plain OS thread / a worker's own
 * stack.  Not inlined: re-read it after every switch point (migration). */
GORT__HIDDEN gort__g *gort__self(void) __attribute__((noinline));
/* Aborts with "<what> called outside a goroutine" when gort__self() is NULL. */
GORT__HIDDEN gort__g *gort__self_or_die(const char *what);

/* commit(g, arg) runs on the worker's stack after g is fully parked.  If it
 * returns false, g is made runnable again at once (the wait was abandoned). */
typedef bool (*gort__commit_fn)(gort__g *g, void *arg);
/* Parks the calling goroutine; returns after gort__ready(g).  Precondition:
 * on a goroutine (gort__self() != NULL).  errno is preserved. */
GORT__HIDDEN void gort__park(gort__commit_fn commit, void *arg, enum gort__wait_reason why);
/* commit function that unlocks the spinlock arg points to. */
GORT__HIDDEN bool gort__commit_unlock(gort__g *g, void *spinlock);
/* Makes a parked goroutine runnable.  Any thread.  From a worker thread the
 * goroutine goes to that worker's run-next slot (woken goroutines run next,
 * on the same core, with the message hot in cache); from outside, to the
 * global queue, and an idle worker is woken. */
GORT__HIDDEN void gort__ready(gort__g *g);

/* Index of the calling worker thread in [0, nprocs), -1 elsewhere. */
GORT__HIDDEN int gort__worker_index(void);
/* A fast per-worker pseudo random number (for select's shuffle). */
GORT__HIDDEN uint32_t gort__rand(void);

/* Hold/release wake sources for deadlock detection (gort_hold). */
GORT__HIDDEN void gort__hold(void);
GORT__HIDDEN void gort__release(void);

/* ----------------------------------------------------------------------
 * Wait records: one per blocked goroutine per queue it waits in, living on
 * that goroutine's stack.  Doubly linked so that select can unlink itself.
 * ---------------------------------------------------------------------- */
typedef struct gort__waiter {
	gort__g *g;                    /* the parked goroutine */
	struct gort__waiter *next, *prev;
	void *elem;                    /* channel: value to send / where to receive */
	uint32_t *select_done;         /* select: shared flag, first CAS 0->1 wins */
	int32_t case_index;            /* select: which case this waiter is */
	bool ok;                       /* result: recv got a value / woken by an op */
	void *chan;                    /* channel this waiter is queued on */
} gort__waiter;

static inline void gort__waitq_push(gort__waitq *q, gort__waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

static inline void gort__waitq_remove(gort__waitq *q, gort__waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->next = w->prev = NULL;
}

static inline gort__waiter *gort__waitq_pop(gort__waitq *q)
{
	gort__waiter *w = q->head;
	if (w)
		gort__waitq_remove(q, w);
	return w;
}

/* ----------------------------------------------------------------------
 * Timers (timer heap in sched's timer.c; public timers in timers.c)
 *
 * Callbacks run on a worker's own stack (not on a goroutine), with no lock
 * held: they may only do non-blocking things (try_send, close, ready).
 * ---------------------------------------------------------------------- */
typedef struct gort__timer {
	int64_t when;                          /* absolute gort_now() */
	void (*fn)(struct gort__timer *t, int64_t now);
	void *arg;
	int32_t heap_index;                    /* -1 when not pending (private) */
} gort__timer;

#define GORT__TIMER_INIT {0, NULL, NULL, -1}
/* Arms t to run t->fn at `when` (re-arms it if pending).  Any thread. */
GORT__HIDDEN void gort__timer_start(gort__timer *t, int64_t when);
/* Disarms t; true if it was pending (its callback will not run).  If the
 * callback is already running on another worker, waits until it returned,
 * spinning with sched_yield(): callbacks must therefore be short and must
 * never park (today they ready a goroutine, send without blocking, or
 * cancel a context), and a callback must not stop its own timer. */
GORT__HIDDEN bool gort__timer_stop(gort__timer *t);

/* ----------------------------------------------------------------------
 * Netpoller and blocking pool hooks (netpoll.c, blocking.c), called by the
 * scheduler; see docs/runtime-io.md.
 * ---------------------------------------------------------------------- */

/* Low 32 bits of the epoll data of every netpoll registration have this
 * bit set (so data.fd is negative and never equals the wake-up eventfd). */
#define GORT__NETPOLL_TAG 0x80000000u
/* Events per epoll_wait call of the poller and of non-blocking polls. */
#define GORT__NETPOLL_BATCH 128

/* Dispatches one epoll event whose data carries GORT__NETPOLL_TAG: wakes
 * the goroutines waiting for that direction (stale events, for a
 * descriptor closed or reused since, are ignored).  On a worker's g0. */
GORT__HIDDEN void gort__netpoll_event(uint64_t data, uint32_t events);
/* If goroutines wait on descriptors: one non-blocking epoll_wait on epfd,
 * dispatched (the eventfd's event, with data evfd, is left for the
 * poller).  True if anything was dispatched.  On a worker's g0. */
GORT__HIDDEN bool gort__netpoll_poll_nb(int epfd, int evfd);
/* Run teardown (workers stopped, before stacks are freed): closes the
 * descriptors still registered and forgets every waiter. */
GORT__HIDDEN void gort__netpoll_fini(void);
/* Run teardown: calls in flight on the blocking pool will not wake their
 * (discarded) goroutines; queued calls are dropped. */
GORT__HIDDEN void gort__blocking_fini(void);
/* Threads of the blocking pool alive now (gort_stats). */
GORT__HIDDEN int gort__blocking_threads(void);

/* errno of the calling thread, read afresh.  A goroutine that parked may
 * resume on another worker, and a compiler may keep errno's address
 * (__errno_location is const) across the park within one function: code
 * that loops over system calls and parks reads errno through this. */
GORT__HIDDEN int gort__errno(void);

/* Registers fd with its flags as they are: one already O_NONBLOCK, or one
 * that is only waited on, like a pidfd (netpoll.c's own callers, proc.c). */
GORT__HIDDEN gort_fd *gort__fd_open_nonblock(int fd);
/* Tests: the epoll data of f's current registration, and the number of
 * events seen for direction dir (0 read, 1 write). */
GORT__HIDDEN uint64_t gort__fd_epoll_data(gort_fd *f);
GORT__HIDDEN uint32_t gort__fd_events_seen(gort_fd *f, int dir);

#endif /* GORT_INTERNAL_H */
