/* timerheap.c — the runtime's internal timers (gort__timer_*, internal.h):
 * one binary min-heap ordered by deadline, under a spinlock.
 *
 * Who runs callbacks: every worker checks the earliest deadline (an atomic
 * copy, TH.next, read without the lock) at each scheduling round and runs
 * the due callbacks on its own stack; the idle "poller" worker (sched.c)
 * sleeps until that deadline.  A timer that becomes the earliest wakes the
 * poller if the poller would sleep past it (the store of TH.next and the
 * poller's store of S.poll_until are both followed by a full fence and a
 * read of the other, so one of the two sides always sees the other).
 *
 * A callback runs with no lock held; while it runs, its worker's
 * running_timer points to it (set under the heap lock when the timer is
 * taken off the heap), which is how gort__timer_stop waits for a callback
 * in flight without touching the timer afterwards (callbacks may free it).
 *
 * Invariant: t->heap_index is t's position in the heap, -1 when not in it.
 */
#include "sched_impl.h"

#include <sched.h>
#include <stdlib.h>

static struct {
	uint32_t lock;
	gort__timer **heap;
	uint32_t n, cap;
	_Atomic int64_t next;    /* earliest deadline, INT64_MAX if none */
	_Atomic uint32_t count;  /* == n, readable without the lock */
} TH = {.next = INT64_MAX};

static void heap_set(uint32_t i, gort__timer *t)
{
	TH.heap[i] = t;
	t->heap_index = (int32_t)i;
}

static void sift_up(uint32_t i)
{
	gort__timer *t = TH.heap[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (TH.heap[p]->when <= t->when)
			break;
		heap_set(i, TH.heap[p]);
		i = p;
	}
	heap_set(i, t);
}

static void sift_down(uint32_t i)
{
	gort__timer *t = TH.heap[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= TH.n)
			break;
		if (c + 1 < TH.n && TH.heap[c + 1]->when < TH.heap[c]->when)
			c++;
		if (t->when <= TH.heap[c]->when)
			break;
		heap_set(i, TH.heap[c]);
		i = c;
	}
	heap_set(i, t);
}

static void publish_next(void)
{
	atomic_store(&TH.next, TH.n ? TH.heap[0]->when : INT64_MAX);
	atomic_store_explicit(&TH.count, TH.n, memory_order_relaxed);
}

/* Removes the timer at index i (lock held). */
static void heap_remove(uint32_t i)
{
	gort__timer *t = TH.heap[i];
	t->heap_index = -1;
	TH.n--;
	if (i == TH.n)
		return;
	heap_set(i, TH.heap[TH.n]);
	if (i > 0 && TH.heap[i]->when < TH.heap[(i - 1) / 2]->when)
		sift_up(i);
	else
		sift_down(i);
}

static void heap_grow(void)
{
	uint32_t cap = TH.cap ? TH.cap * 2 : 64;
	gort__timer **h = realloc(TH.heap, cap * sizeof *h);
	if (!h)
		gort__fatal("out of memory growing the timer heap to %u timers", cap);
	TH.heap = h;
	TH.cap = cap;
}

void gort__timer_start(gort__timer *t, int64_t when)
{
	gort__spin_lock(&TH.lock);
	if (t->heap_index >= 0)
		heap_remove((uint32_t)t->heap_index);
	if (TH.n == TH.cap)
		heap_grow();
	t->when = when;
	heap_set(TH.n++, t);
	sift_up(TH.n - 1);
	bool earliest = TH.heap[0] == t;
	publish_next();
	gort__spin_unlock(&TH.lock);
	if (earliest) {
		gort__fence();
		if (when < atomic_load(&gort__S.poll_until))
			gort__wake_poller();
	}
}

bool gort__timer_stop(gort__timer *t)
{
	gort__spin_lock(&TH.lock);
	if (t->heap_index >= 0) {
		heap_remove((uint32_t)t->heap_index);
		publish_next();
		gort__spin_unlock(&TH.lock);
		return true;
	}
	gort__spin_unlock(&TH.lock);
	if (!atomic_load(&gort__S.running))
		return false;
	gort__worker *self = gort__current_worker();
	for (int i = 0; i < gort__S.nprocs; i++) {
		gort__worker *w = gort__S.workers[i];
		if (w == self)
			continue; /* stopping itself from its own callback */
		while (atomic_load_explicit(&w->running_timer, memory_order_acquire) == t)
			sched_yield();
	}
	return false;
}

int64_t gort__timers_next(void)
{
	return atomic_load(&TH.next);
}

uint32_t gort__timers_count(void)
{
	return atomic_load_explicit(&TH.count, memory_order_relaxed);
}

void gort__timers_run(gort__worker *w, int64_t now)
{
	while (atomic_load_explicit(&TH.next, memory_order_relaxed) <= now) {
		gort__spin_lock(&TH.lock);
		if (TH.n == 0 || TH.heap[0]->when > now) {
			gort__spin_unlock(&TH.lock);
			return;
		}
		gort__timer *t = TH.heap[0];
		void (*fn)(gort__timer *, int64_t) = t->fn;
		heap_remove(0);
		publish_next();
		atomic_store_explicit(&w->running_timer, t, memory_order_relaxed);
		gort__spin_unlock(&TH.lock);
		fn(t, now);
		atomic_store_explicit(&w->running_timer, NULL, memory_order_release);
	}
}

/* Forgets every pending timer (end of gort_main). */
void gort__timers_reset(void)
{
	gort__spin_lock(&TH.lock);
	for (uint32_t i = 0; i < TH.n; i++)
		TH.heap[i]->heap_index = -1;
	TH.n = 0;
	publish_next();
	free(TH.heap);
	TH.heap = NULL;
	TH.cap = 0;
	gort__spin_unlock(&TH.lock);
}
