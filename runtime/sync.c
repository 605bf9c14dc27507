/* sync.c — gort.h's sync primitives: Semaphore, Mutex, RWMutex, Cond,
 * WaitGroup, Once (the Pool lives in pool.c).  Design notes and the
 * differences from Go's sync package: docs/runtime-sync.md.
 *
 * Every primitive blocks by parking the calling goroutine (internal.h's
 * protocol): under the primitive's spinlock it queues a gort__waiter that
 * lives on its own stack, then calls gort__park with a commit function that
 * drops the spinlock only once the goroutine is fully parked.  A waker pops
 * the waiter under the same spinlock, releases it, and only then calls
 * gort__ready — after which it never touches the waiter again.
 *
 * Locking rules
 *  - Each gort_sema, gort_cond and gort_waitgroup has one spinlock guarding
 *    its count and its wait queue; the queue is only touched under it.
 *  - No spinlock is held while another is taken, nor across gort__ready.
 *  - The mutex and rwmutex state words are changed only by atomic
 *    operations; their waiters park in gort_sema's (private semaphores).
 *
 * Invariants
 *  - gort_sema: count > 0 implies an empty wait queue (a release hands its
 *    unit straight to a waiter), so waiters are served in FIFO order.
 *  - gort_mutex.state = LOCKED | WOKEN | STARVING bits | waiters << 3, where
 *    "waiters" counts goroutines that announced themselves and are parked
 *    in (or about to park in) m->sema.  WOKEN is set while a woken or
 *    spinning goroutine is competing for the lock: an unlock then need not
 *    wake anybody.  In starvation mode (STARVING) an unlock passes
 *    ownership straight to the first waiter and newcomers queue at once.
 */
#include "internal.h"

_Static_assert(sizeof(gort_sema) == 32, "gort_sema layout changed");
_Static_assert(sizeof(gort_mutex) == 40, "gort_mutex layout changed");
_Static_assert(sizeof(gort_rwmutex) == 112, "gort_rwmutex layout changed");
_Static_assert(sizeof(gort_waitgroup) == 32, "gort_waitgroup layout changed");
_Static_assert(sizeof(gort_cond) == 32, "gort_cond layout changed");

/* Makes every waiter of a queue detached from its primitive runnable.  The
 * caller holds no lock; each waiter is read before its goroutine is made
 * runnable and never after. */
static void wake_all(gort__waiter *w)
{
	while (w) {
		gort__waiter *next = w->next;
		gort__ready(w->g);
		w = next;
	}
}

/* ======================================================================
 * Semaphore (also the parking place of Mutex and RWMutex)
 * ====================================================================== */

static void waitq_push_front(gort__waitq *q, gort__waiter *w)
{
	w->prev = NULL;
	w->next = q->head;
	if (q->head)
		q->head->prev = w;
	else
		q->tail = w;
	q->head = w;
}

/* Takes a unit, parking until one is handed over.  lifo queues the caller
 * at the front (a mutex waiter that was woken and lost the race keeps its
 * place).  Precondition: self is the calling goroutine. */
static void sema_acquire(gort_sema *s, gort__g *self, bool lifo, enum gort__wait_reason why)
{
	gort__spin_lock(&s->lock);
	if (s->count > 0) {
		s->count--;
		gort__spin_unlock(&s->lock);
		return;
	}
	gort__waiter w = {.g = self};
	if (lifo)
		waitq_push_front(&s->waiters, &w);
	else
		gort__waitq_push(&s->waiters, &w);
	gort__park(gort__commit_unlock, &s->lock, why);
	/* Woken by sema_release_n, which handed us the unit. */
}

/* Releases n units: hands them to the first waiters, counts the rest. */
static void sema_release_n(gort_sema *s, int64_t n)
{
	gort__waiter *first = NULL, *last = NULL;
	gort__spin_lock(&s->lock);
	for (; n > 0; n--) {
		if (s->count < 0) { /* still owed releases: nobody may pass */
			s->count++;
			continue;
		}
		gort__waiter *w = gort__waitq_pop(&s->waiters);
		if (!w)
			break;
		if (last)
			last->next = w;
		else
			first = w;
		last = w;
	}
	s->count += n;
	gort__spin_unlock(&s->lock);
	wake_all(first);
}

void gort_sema_acquire(gort_sema *s)
{
	sema_acquire(s, gort__self_or_die("gort_sema_acquire"), false, GORT__WAIT_SEMA);
}

bool gort_sema_try_acquire(gort_sema *s)
{
	bool ok = false;
	gort__spin_lock(&s->lock);
	if (s->count > 0) {
		s->count--;
		ok = true;
	}
	gort__spin_unlock(&s->lock);
	return ok;
}

void gort_sema_release(gort_sema *s)
{
	sema_release_n(s, 1);
}

/* ======================================================================
 * Mutex
 * ====================================================================== */

enum {
	MUTEX_LOCKED = 1u,
	MUTEX_WOKEN = 2u,
	MUTEX_STARVING = 4u,
	MUTEX_WAITER_SHIFT = 3,
	MUTEX_WAITER = 1u << MUTEX_WAITER_SHIFT,
};

/* A waiter that waited this long switches the mutex to starvation mode. */
#define MUTEX_STARVATION_NS (1 * GORT_MILLISECOND)
/* Spinning (Go's values): 4 rounds of 30 pause instructions, enough for a
 * holder on another worker to finish a short critical section; not worth
 * it with a single worker.  A pause costs 10-140 cycles natively and about
 * 50 ns on the development VM, so the whole spin is 1-7 us. */
#define MUTEX_SPIN_ROUNDS 4
#define MUTEX_SPIN_PAUSES 30

static bool mutex_can_spin(int round)
{
	return round < MUTEX_SPIN_ROUNDS && gort_nprocs() > 1;
}

/* One round of spinning while the lock is held in normal mode.  First sets
 * WOKEN if there are waiters and nobody is awake yet, so that unlock wakes
 * nobody while this goroutine is about to take the lock.  Returns the
 * state seen afterwards. */
static uint32_t mutex_spin(gort_mutex *m, uint32_t old, bool *awoke)
{
	if (!*awoke && !(old & MUTEX_WOKEN) && old >> MUTEX_WAITER_SHIFT &&
	    __atomic_compare_exchange_n(&m->state, &old, old | MUTEX_WOKEN, false, __ATOMIC_RELAXED,
	                                __ATOMIC_RELAXED))
		*awoke = true;
	for (int i = 0; i < MUTEX_SPIN_PAUSES; i++)
		gort__cpu_relax();
	return __atomic_load_n(&m->state, __ATOMIC_RELAXED);
}

/* After a hand-off in starvation mode: the woken waiter owns the lock and
 * fixes the state (locked, one waiter fewer, leave starvation mode when it
 * is the last waiter or did not wait long). */
static void mutex_take_handoff(gort_mutex *m, uint32_t old, bool starving)
{
	if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) || !(old >> MUTEX_WAITER_SHIFT))
		gort__fatal("gort_mutex: inconsistent state %#x after hand-off", old);
	uint32_t delta = MUTEX_LOCKED - MUTEX_WAITER;
	if (!starving || old >> MUTEX_WAITER_SHIFT == 1)
		delta -= MUTEX_STARVING;
	__atomic_add_fetch(&m->state, delta, __ATOMIC_ACQUIRE);
}

/* The state that one attempt of the slow path tries to install over old. */
static uint32_t mutex_next_state(uint32_t old, bool starving, bool awoke)
{
	uint32_t new = old;
	if (!(old & MUTEX_STARVING))
		new |= MUTEX_LOCKED; /* never barge in while ownership is handed off */
	if (old & (MUTEX_LOCKED | MUTEX_STARVING))
		new += MUTEX_WAITER;
	if (starving && (old & MUTEX_LOCKED))
		new |= MUTEX_STARVING;
	if (awoke) {
		if (!(new & MUTEX_WOKEN))
			gort__fatal("gort_mutex: inconsistent state %#x (woken bit lost)", old);
		new &= ~(uint32_t)MUTEX_WOKEN;
	}
	return new;
}

static __attribute__((noinline)) void mutex_lock_slow(gort_mutex *m)
{
	gort__g *self = gort__self_or_die("gort_mutex_lock (contended)");
	int64_t wait_start = 0;
	bool starving = false, awoke = false;
	int round = 0;
	uint32_t old = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
	for (;;) {
		if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED && mutex_can_spin(round)) {
			old = mutex_spin(m, old, &awoke);
			round++;
			continue;
		}
		uint32_t new = mutex_next_state(old, starving, awoke);
		if (!__atomic_compare_exchange_n(&m->state, &old, new, false, __ATOMIC_ACQUIRE,
		                                 __ATOMIC_RELAXED))
			continue;
		if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
			return; /* we set LOCKED */
		bool requeue = wait_start != 0;
		if (!requeue)
			wait_start = gort_now();
		sema_acquire(&m->sema, self, requeue, GORT__WAIT_MUTEX);
		starving = starving || gort_now() - wait_start > MUTEX_STARVATION_NS;
		old = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
		if (old & MUTEX_STARVING) {
			mutex_take_handoff(m, old, starving);
			return;
		}
		awoke = true;
		round = 0;
	}
}

void gort_mutex_lock(gort_mutex *m)
{
	uint32_t unlocked = 0;
	if (GORT__LIKELY(__atomic_compare_exchange_n(&m->state, &unlocked, MUTEX_LOCKED, false,
	                                             __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
		return;
	mutex_lock_slow(m);
}

bool gort_mutex_trylock(gort_mutex *m)
{
	uint32_t old = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
	if (old & (MUTEX_LOCKED | MUTEX_STARVING))
		return false;
	return __atomic_compare_exchange_n(&m->state, &old, old | MUTEX_LOCKED, false,
	                                   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* new: the state just after LOCKED was subtracted, not 0. */
static __attribute__((noinline)) void mutex_unlock_slow(gort_mutex *m, uint32_t new)
{
	if (!((new + MUTEX_LOCKED) & MUTEX_LOCKED))
		gort__fatal("gort_mutex_unlock of an unlocked mutex");
	if (new & MUTEX_STARVING) {
		/* Hand ownership to the first waiter; let it run right away. */
		sema_release_n(&m->sema, 1);
		if (gort__self())
			gort_yield();
		return;
	}
	uint32_t old = new;
	for (;;) {
		/* Nobody to wake, or someone already locked, woke or is
		 * handed the lock: done. */
		if (!(old >> MUTEX_WAITER_SHIFT) || (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)))
			return;
		new = (old - MUTEX_WAITER) | MUTEX_WOKEN;
		if (__atomic_compare_exchange_n(&m->state, &old, new, false, __ATOMIC_RELAXED,
		                                __ATOMIC_RELAXED)) {
			sema_release_n(&m->sema, 1);
			return;
		}
	}
}

void gort_mutex_unlock(gort_mutex *m)
{
	uint32_t new = __atomic_sub_fetch(&m->state, MUTEX_LOCKED, __ATOMIC_RELEASE);
	if (GORT__UNLIKELY(new != 0))
		mutex_unlock_slow(m, new);
}

/* ======================================================================
 * RWMutex (Go's algorithm: a writer subtracts RW_MAX_READERS from the
 * reader count, so new readers see it negative and queue, then waits for
 * the readers already inside to leave)
 * ====================================================================== */

#define RW_MAX_READERS (1 << 30)

void gort_rwmutex_rlock(gort_rwmutex *rw)
{
	if (GORT__UNLIKELY(__atomic_add_fetch(&rw->readers, 1, __ATOMIC_ACQ_REL) < 0))
		sema_acquire(&rw->rsem, gort__self_or_die("gort_rwmutex_rlock (writer active)"), false,
		             GORT__WAIT_RWMUTEX_R);
}

static __attribute__((noinline)) void rwmutex_runlock_slow(gort_rwmutex *rw, int32_t r)
{
	if (r + 1 == 0 || r + 1 == -RW_MAX_READERS)
		gort__fatal("gort_rwmutex_runlock of a rwmutex not read-locked");
	/* A writer is waiting: the last reader it waits for lets it in. */
	if (__atomic_sub_fetch(&rw->readers_leaving, 1, __ATOMIC_ACQ_REL) == 0)
		sema_release_n(&rw->wsem, 1);
}

void gort_rwmutex_runlock(gort_rwmutex *rw)
{
	int32_t r = __atomic_sub_fetch(&rw->readers, 1, __ATOMIC_ACQ_REL);
	if (GORT__UNLIKELY(r < 0))
		rwmutex_runlock_slow(rw, r);
}

void gort_rwmutex_lock(gort_rwmutex *rw)
{
	gort_mutex_lock(&rw->w);
	int32_t r = __atomic_add_fetch(&rw->readers, -RW_MAX_READERS, __ATOMIC_ACQ_REL) + RW_MAX_READERS;
	if (r != 0 && __atomic_add_fetch(&rw->readers_leaving, r, __ATOMIC_ACQ_REL) != 0)
		sema_acquire(&rw->wsem, gort__self_or_die("gort_rwmutex_lock (readers active)"), false,
		             GORT__WAIT_RWMUTEX_W);
}

void gort_rwmutex_unlock(gort_rwmutex *rw)
{
	int32_t r = __atomic_add_fetch(&rw->readers, RW_MAX_READERS, __ATOMIC_ACQ_REL);
	if (r >= RW_MAX_READERS)
		gort__fatal("gort_rwmutex_unlock of a rwmutex not write-locked");
	/* Let in the readers that queued while we held the lock. */
	if (r > 0)
		sema_release_n(&rw->rsem, r);
	gort_mutex_unlock(&rw->w);
}

/* ======================================================================
 * Cond
 * ====================================================================== */

struct cond_park {
	uint32_t *lock; /* the cond's spinlock, held at park */
	gort_mutex *L;  /* unlocked once the waiter is parked */
};

/* Runs after the waiter is fully parked: releases c->lock, then c->L (so
 * no wake-up runs under the spinlock).  The arguments live on the waiter's
 * stack: read them before dropping c->lock, after which a signal may wake
 * it.  A waiter woken that early finds c->L still locked and parks on it
 * until the unlock below: correct, merely slower. */
static bool cond_commit(gort__g *g, void *arg)
{
	(void)g;
	struct cond_park *cp = arg;
	gort_mutex *L = cp->L;
	gort__spin_unlock(cp->lock);
	gort_mutex_unlock(L);
	return true;
}

void gort_cond_wait(gort_cond *c)
{
	gort__g *self = gort__self_or_die("gort_cond_wait");
	if (!c->L)
		gort__fatal("gort_cond_wait on a cond without a mutex (use GORT_COND_INIT)");
	gort__waiter w = {.g = self};
	struct cond_park cp = {&c->lock, c->L};
	gort__spin_lock(&c->lock);
	gort__waitq_push(&c->waiters, &w);
	gort__park(cond_commit, &cp, GORT__WAIT_COND);
	gort_mutex_lock(cp.L);
}

void gort_cond_signal(gort_cond *c)
{
	gort__spin_lock(&c->lock);
	gort__waiter *w = gort__waitq_pop(&c->waiters);
	gort__spin_unlock(&c->lock);
	if (w)
		gort__ready(w->g);
}

void gort_cond_broadcast(gort_cond *c)
{
	gort__spin_lock(&c->lock);
	gort__waiter *first = c->waiters.head;
	c->waiters.head = c->waiters.tail = NULL;
	gort__spin_unlock(&c->lock);
	wake_all(first);
}

/* ======================================================================
 * WaitGroup
 * ====================================================================== */

void gort_waitgroup_add(gort_waitgroup *wg, int64_t delta)
{
	gort__waiter *first = NULL;
	gort__spin_lock(&wg->lock);
	int64_t count = wg->count += delta;
	if (count < 0) {
		gort__spin_unlock(&wg->lock);
		gort__fatal("gort_waitgroup: negative counter (%lld)", (long long)count);
	}
	if (count == 0) {
		first = wg->waiters.head;
		wg->waiters.head = wg->waiters.tail = NULL;
	}
	gort__spin_unlock(&wg->lock);
	/* wg may be gone now (a waiter may free it): only the detached list. */
	wake_all(first);
}

void gort_waitgroup_done(gort_waitgroup *wg)
{
	gort_waitgroup_add(wg, -1);
}

void gort_waitgroup_wait(gort_waitgroup *wg)
{
	gort__g *self = gort__self_or_die("gort_waitgroup_wait");
	gort__spin_lock(&wg->lock);
	if (wg->count == 0) {
		gort__spin_unlock(&wg->lock);
		return;
	}
	gort__waiter w = {.g = self};
	gort__waitq_push(&wg->waiters, &w);
	gort__park(gort__commit_unlock, &wg->lock, GORT__WAIT_WAITGROUP);
}

/* ======================================================================
 * Once
 * ====================================================================== */

static __attribute__((noinline)) void once_slow(gort_once *o, void (*fn)(void *arg), void *arg)
{
	gort_mutex_lock(&o->m);
	if (!__atomic_load_n(&o->done, __ATOMIC_RELAXED)) {
		fn(arg);
		__atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
	}
	gort_mutex_unlock(&o->m);
}

void gort_once_do(gort_once *o, void (*fn)(void *arg), void *arg)
{
	if (GORT__LIKELY(__atomic_load_n(&o->done, __ATOMIC_ACQUIRE)))
		return;
	once_slow(o, fn, arg);
}
