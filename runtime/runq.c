/* runq.c — run queues: one bounded ring per worker plus the global queue.
 *
 * Per-worker ring (Go's runqput/runqget/runqsteal): GORT__RUNQ_SIZE slots,
 * a head and a tail that only grow (indexes are taken modulo the size).
 *  - Only the owner writes slots and stores the tail (release).
 *  - The owner and stealers take from the head by CAS; a consumer reads the
 *    slots before its CAS and the CAS validates that nobody took them, so
 *    slots are read and written with relaxed atomics (a stale read is
 *    discarded by the failing CAS).
 *  - When the ring is full, the owner moves half of it plus the new
 *    goroutine to the global queue in one locked batch.
 *  - A stealer takes half of a victim's ring straight into its own ring (it
 *    is the owner of that ring, which is empty while it steals), and, if the
 *    ring was empty and the caller allows it, the victim's run-next slot.
 *
 * Global queue: an intrusive FIFO through g->schedlink under S.lock, with an
 * atomic length that can be read without the lock to skip empty checks.
 */
#include "sched_impl.h"

#define RQ_MASK (GORT__RUNQ_SIZE - 1)

uint32_t gort__runq_len(gort__worker *w)
{
	uint32_t h = atomic_load_explicit(&w->runq_head, memory_order_acquire);
	uint32_t t = atomic_load_explicit(&w->runq_tail, memory_order_acquire);
	return t - h;
}

/* Moves half of w's full ring plus g to the global queue; false if a
 * stealer made room meanwhile (the caller retries the fast path). */
static bool runq_put_slow(gort__worker *w, gort__g *g, uint32_t h, uint32_t t)
{
	enum { HALF = GORT__RUNQ_SIZE / 2 };
	gort__g *batch[HALF + 1];
	uint32_t n = (t - h) / 2;
	if (n != HALF)
		gort__fatal("run queue of worker %d is inconsistent", w->index);
	for (uint32_t i = 0; i < n; i++)
		batch[i] = atomic_load_explicit(&w->runq[(h + i) & RQ_MASK], memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&w->runq_head, &h, h + n, memory_order_release,
	                                             memory_order_relaxed))
		return false;
	batch[n] = g;
	for (uint32_t i = 0; i < n; i++)
		batch[i]->schedlink = batch[i + 1];
	gort__global_put_batch(batch[0], g, n + 1);
	return true;
}

void gort__runq_put(gort__worker *w, gort__g *g)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&w->runq_head, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
		if (t - h < GORT__RUNQ_SIZE) {
			atomic_store_explicit(&w->runq[t & RQ_MASK], g, memory_order_relaxed);
			atomic_store_explicit(&w->runq_tail, t + 1, memory_order_release);
			return;
		}
		if (runq_put_slow(w, g, h, t))
			return;
	}
}

gort__g *gort__runq_get(gort__worker *w)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&w->runq_head, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
		if (t == h)
			return NULL;
		gort__g *g = atomic_load_explicit(&w->runq[h & RQ_MASK], memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(&w->runq_head, &h, h + 1, memory_order_release,
		                                          memory_order_relaxed))
			return g;
	}
}

/* Copies half of victim's ring into w's ring at w's tail (not yet
 * published); returns how many were claimed. */
static uint32_t runq_grab(gort__worker *w, gort__worker *victim, bool take_next)
{
	uint32_t wt = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
	for (;;) {
		uint32_t h = atomic_load_explicit(&victim->runq_head, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&victim->runq_tail, memory_order_acquire);
		uint32_t n = t - h;
		n -= n / 2;
		if (n == 0) {
			if (!take_next)
				return 0;
			gort__g *next = atomic_load_explicit(&victim->runnext, memory_order_acquire);
			if (!next || !atomic_compare_exchange_strong(&victim->runnext, &next, NULL))
				return 0;
			atomic_store_explicit(&w->runq[wt & RQ_MASK], next, memory_order_relaxed);
			return 1;
		}
		if (n > GORT__RUNQ_SIZE / 2)
			continue; /* read head and tail at different times: retry */
		for (uint32_t i = 0; i < n; i++) {
			gort__g *g = atomic_load_explicit(&victim->runq[(h + i) & RQ_MASK],
			                                  memory_order_relaxed);
			atomic_store_explicit(&w->runq[(wt + i) & RQ_MASK], g, memory_order_relaxed);
		}
		if (atomic_compare_exchange_strong_explicit(&victim->runq_head, &h, h + n,
		                                            memory_order_acq_rel, memory_order_relaxed))
			return n;
	}
}

gort__g *gort__runq_steal(gort__worker *w, gort__worker *victim, bool take_next)
{
	uint32_t t = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
	uint32_t n = runq_grab(w, victim, take_next);
	if (n == 0)
		return NULL;
	n--;
	gort__g *g = atomic_load_explicit(&w->runq[(t + n) & RQ_MASK], memory_order_relaxed);
	if (n)
		atomic_store_explicit(&w->runq_tail, t + n, memory_order_release);
	atomic_fetch_add_explicit(&w->n_steals, 1, memory_order_relaxed);
	return g;
}

void gort__global_put_batch(gort__g *first, gort__g *last, uint32_t n)
{
	last->schedlink = NULL;
	gort__spin_lock(&gort__S.lock);
	if (gort__S.gq_tail)
		gort__S.gq_tail->schedlink = first;
	else
		gort__S.gq_head = first;
	gort__S.gq_tail = last;
	atomic_fetch_add(&gort__S.gq_len, n);
	gort__spin_unlock(&gort__S.lock);
}

/* Takes up to max goroutines (a fair share of the global queue): returns
 * the first and puts the others in w's ring. */
gort__g *gort__global_get(gort__worker *w, uint32_t max)
{
	if (atomic_load_explicit(&gort__S.gq_len, memory_order_relaxed) == 0)
		return NULL;
	gort__spin_lock(&gort__S.lock);
	uint32_t len = atomic_load_explicit(&gort__S.gq_len, memory_order_relaxed);
	uint32_t n = len / (uint32_t)gort__S.nprocs + 1;
	if (n > len)
		n = len;
	if (n > max)
		n = max;
	if (n > GORT__RUNQ_SIZE / 2)
		n = GORT__RUNQ_SIZE / 2;
	gort__g *first = gort__S.gq_head, *last = first;
	for (uint32_t i = 1; i < n; i++)
		last = last->schedlink;
	if (n) {
		gort__S.gq_head = last->schedlink;
		if (!gort__S.gq_head)
			gort__S.gq_tail = NULL;
		atomic_fetch_sub(&gort__S.gq_len, n);
	}
	gort__spin_unlock(&gort__S.lock);
	if (!n)
		return NULL;
	for (gort__g *g = first->schedlink; n > 1; n--) {
		gort__g *next = g->schedlink;
		gort__runq_put(w, g);
		g = next;
	}
	return first;
}
