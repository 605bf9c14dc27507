/* select.c — gort_select: wait on any number of channel sends and receives
 * (Go's select.go, in C).
 *
 * Algorithm (docs/runtime-channels.md has the full protocol):
 *  1. poll order: the non-nil cases in a uniformly random permutation
 *     (inside-out Fisher-Yates with gort__rand), so that among ready cases
 *     each is chosen with equal probability;
 *  2. quick pass: in poll order, each case whose channel looks ready
 *     without its lock is tried under that one lock; the first that
 *     proceeds is done.  (Go locks every channel first; one lock is enough
 *     to perform one case, and the others stay free for their users);
 *  3. lock order: the cases sorted by channel address; every distinct
 *     channel is locked in that order (a channel appearing in several cases
 *     is locked once).  Every multi-channel locker uses address order, and
 *     chan.c never holds two locks, so lockers cannot deadlock.  Pass 1,
 *     all locked: the first case in poll order that can proceed is
 *     performed (direct hand-off to a parked partner, the buffer, or a
 *     closed channel) — done.  Only this pass may conclude "nothing is
 *     ready" (-EAGAIN, or go on to block): it sees all channels at once;
 *  4. pass 2 (blocking only): one gort__waiter per case, all sharing one
 *     select_done word, is queued on its channel; the goroutine parks and
 *     the commit function unlocks every channel (reverse order) without
 *     reading the select's state after the last unlock, since the select
 *     may be woken, finish and return right then;
 *  5. a waker (chan.c, another select's quick pass or pass 1) that pops
 *     one of these waiters moves select_done 0 -> 1 under its channel's
 *     lock; only that one wins, performs the operation for the case, clears the waiter's
 *     select_done (marking the winner) and readies the goroutine.  Wakers
 *     that lose the CAS drop the stale waiter and look further;
 *  6. pass 3, after waking: all channels locked again, every losing waiter
 *     still queued is unlinked, then unlocked.  No waker can reach our stack
 *     records after that.
 * Memory: scratch space (orders, waiters) is on the goroutine's stack for
 * up to SEL_STACK_CASES cases and malloc'ed beyond.
 */
#include "chan_impl.h"

#include <errno.h>
#include <stdlib.h>

/* Cases handled without malloc: 32 waiters are ~1.8 KiB of stack, small
 * next to GORT_STACK_MIN (16 KiB). */
#define SEL_STACK_CASES 32
#define SEL_MAX_CASES 65536

typedef struct sel {
	gort_select_case *cases;
	uint16_t *pollorder;  /* indexes of the non-nil cases, shuffled */
	uint16_t *lockorder;  /* the same, sorted by channel address */
	gort__waiter *waiters; /* one per case (pass 2), indexed like cases */
	size_t norder;        /* entries in pollorder/lockorder */
	uint32_t done;        /* the select_done word shared by the waiters */
} sel;

static inline gort_chan *lock_chan(const sel *s, size_t i)
{
	return s->cases[s->lockorder[i]].chan;
}

static inline bool chan_less(const sel *s, uint16_t a, uint16_t b)
{
	return (uintptr_t)s->cases[a].chan < (uintptr_t)s->cases[b].chan;
}

static void sift_down(sel *s, uint16_t *h, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n && chan_less(s, h[child], h[child + 1]))
			child++;
		if (!chan_less(s, h[root], h[child]))
			return;
		uint16_t t = h[root];
		h[root] = h[child];
		h[child] = t;
		root = child;
	}
}

static void heap_sort(sel *s, uint16_t *h, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(s, h, i, n);
	for (size_t end = n; end-- > 1;) {
		uint16_t t = h[0];
		h[0] = h[end];
		h[end] = t;
		sift_down(s, h, 0, end);
	}
}

/* Draws j uniform in [0, k] for successive k from one 32-bit random word
 * while the product of the ranges stays below 2^16 (multiply-shift
 * batching: the bias is below 2^-16), then from a fresh word. */
typedef struct sel_rand {
	uint32_t word;
	uint32_t range; /* product of the ranges drawn from word so far */
} sel_rand;

static inline size_t rand_upto(sel_rand *r, size_t k)
{
	if (k == 0)
		return 0;
	if ((uint64_t)r->range * (k + 1) > (1u << 16)) {
		r->word = gort__rand();
		r->range = 1;
	}
	uint64_t prod = (uint64_t)r->word * (k + 1);
	r->range *= (uint32_t)(k + 1);
	r->word = (uint32_t)prod;
	return (size_t)(prod >> 32);
}

/* pollorder: the non-nil cases in a uniformly random order (inside-out
 * Fisher-Yates). */
static void shuffle(sel *s, size_t n)
{
	sel_rand r = {0, UINT32_MAX};
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!s->cases[i].chan)
			continue;
		size_t j = rand_upto(&r, k);
		s->pollorder[k] = s->pollorder[j];
		s->pollorder[j] = (uint16_t)i;
		k++;
	}
	s->norder = k;
}

/* lockorder: the same cases sorted by channel address; insertion sort for
 * the usual few cases, heap sort (O(n log n), no allocation) for many. */
static void sort_lockorder(sel *s)
{
	uint16_t *h = s->lockorder;
	size_t n = s->norder;
	if (n > 16) {
		memcpy(h, s->pollorder, n * sizeof(*h));
		heap_sort(s, h, n);
		return;
	}
	for (size_t k = 0; k < n; k++) {
		uint16_t key = s->pollorder[k];
		size_t m = k;
		for (; m > 0 && chan_less(s, key, h[m - 1]); m--)
			h[m] = h[m - 1];
		h[m] = key;
	}
}

static void sel_lock(const sel *s)
{
	gort_chan *prev = NULL;
	for (size_t i = 0; i < s->norder; i++) {
		gort_chan *c = lock_chan(s, i);
		if (c != prev)
			gort__spin_lock(&c->lock);
		prev = c;
	}
}

/* Reverse order.  Reads nothing of *s after the last unlock: a parked
 * select may be woken by then (see sel_commit). */
static void sel_unlock(const sel *s)
{
	for (size_t i = s->norder; i-- > 0;) {
		gort_chan *c = lock_chan(s, i);
		if (i > 0 && c == lock_chan(s, i - 1))
			continue;
		gort__spin_unlock(&c->lock);
	}
}

static bool sel_commit(gort__g *g, void *arg)
{
	(void)g;
	sel_unlock(arg);
	return true;
}

/* Unlocks after a case was performed: every channel of the select, or
 * only the case's own (the quick pass). */
static inline void release(const sel *s, gort_chan *c, bool all)
{
	if (all)
		sel_unlock(s);
	else
		gort__spin_unlock(&c->lock);
}

/* Tries case i, its channel locked (with all the others if all is true).
 * Returns true if the case was performed; then the locks are released. */
static bool try_case(sel *s, size_t i, bool all)
{
	gort_select_case *sc = &s->cases[i];
	gort_chan *c = sc->chan;
	gort__waiter *w;
	if (sc->dir == GORT_SELECT_RECV) {
		if ((w = gort__chan_dequeue(&c->sendq))) {
			gort__chan_recv_direct(c, w, sc->elem);
			release(s, c, all);
			gort__ready(w->g);
		} else if (c->count > 0) {
			gort__chan_buf_get(c, sc->elem);
			release(s, c, all);
		} else if (c->closed) {
			release(s, c, all);
			if (sc->elem)
				memset(sc->elem, 0, c->elem_size);
			sc->ok = false;
			return true;
		} else {
			return false;
		}
		sc->ok = true;
		return true;
	}
	if (c->closed) {
		release(s, c, all);
		gort__fatal("send on closed channel (select)");
	}
	if ((w = gort__chan_dequeue(&c->recvq))) {
		gort__chan_send_direct(c, w, sc->elem);
		release(s, c, all);
		gort__ready(w->g);
	} else if (c->count < c->cap) {
		gort__chan_buf_put(c, sc->elem);
		release(s, c, all);
	} else {
		return false;
	}
	return true;
}

/* Lock-free hint that case sc may proceed (decided under the lock). */
static inline bool case_maybe_ready(const gort_select_case *sc)
{
	gort_chan *c = sc->chan;
	if (__atomic_load_n(&c->closed, __ATOMIC_RELAXED))
		return true;
	return sc->dir == GORT_SELECT_RECV ? !gort__chan_empty(c) : !gort__chan_full(c);
}

/* Quick pass: in poll order, each case that looks ready is tried under its
 * own channel's lock alone.  When a case is ready this costs one lock
 * instead of all of them and leaves the other channels to their users.
 * Returns the case performed, or -1 (then the full protocol decides). */
static int quick_pass(sel *s)
{
	for (size_t k = 0; k < s->norder; k++) {
		size_t i = s->pollorder[k];
		if (!case_maybe_ready(&s->cases[i]))
			continue;
		gort_chan *c = s->cases[i].chan;
		gort__spin_lock(&c->lock);
		if (try_case(s, i, false))
			return (int)i;
		gort__spin_unlock(&c->lock);
	}
	return -1;
}

/* Passes 2 and 3: queue on every channel (all locked), park, then dequeue
 * the losers.  Returns the winning case. */
static int sel_block(sel *s, gort__g *self)
{
	for (size_t k = 0; k < s->norder; k++) {
		size_t i = s->lockorder[k];
		gort_select_case *sc = &s->cases[i];
		gort__waiter *w = &s->waiters[i];
		*w = (gort__waiter){.g = self, .elem = sc->elem, .select_done = &s->done,
		                    .case_index = (int32_t)i, .chan = sc->chan};
		gort__chanq_push(sc->dir == GORT_SELECT_RECV ? &sc->chan->recvq : &sc->chan->sendq, w);
	}
	gort__park(sel_commit, s, GORT__WAIT_SELECT);

	int winner = -1;
	sel_lock(s);
	for (size_t k = 0; k < s->norder; k++) {
		size_t i = s->lockorder[k];
		gort__waiter *w = &s->waiters[i];
		gort_chan *c = s->cases[i].chan;
		if (!w->select_done)
			winner = (int)i;
		else
			gort__chanq_unlink(s->cases[i].dir == GORT_SELECT_RECV ? &c->recvq : &c->sendq, w);
	}
	sel_unlock(s);
	if (winner < 0)
		gort__fatal("select woken without a winning case");
	gort_select_case *sc = &s->cases[winner];
	if (sc->dir == GORT_SELECT_RECV)
		sc->ok = s->waiters[winner].ok;
	else if (!s->waiters[winner].ok)
		gort__fatal("send on closed channel (select)");
	return winner;
}

/* Single-case selects are plain channel operations (as Go compiles them). */
static int select_one(gort_select_case *sc, bool block)
{
	int r;
	if (sc->dir == GORT_SELECT_SEND)
		return gort__chan_send(sc->chan, sc->elem, block) == 0 ? 0 : -EAGAIN;
	r = gort__chan_recv(sc->chan, sc->elem, block);
	if (r < 0)
		return r;
	sc->ok = r == 1;
	return 0;
}

static int select_run(sel *s, size_t n, bool block)
{
	gort__g *self = block ? gort__self_or_die("gort_select") : NULL;
	shuffle(s, n);
	if (s->norder == 0) {
		if (!block)
			return -EAGAIN;
		gort__block_forever(n ? GORT__WAIT_SELECT : GORT__WAIT_SELECT_EMPTY);
	}
	int quick = quick_pass(s);
	if (quick >= 0)
		return quick;
	sort_lockorder(s);
	sel_lock(s);
	for (size_t k = 0; k < s->norder; k++) {
		size_t i = s->pollorder[k];
		if (try_case(s, i, true))
			return (int)i;
	}
	if (!block) {
		sel_unlock(s);
		return -EAGAIN;
	}
	return sel_block(s, self);
}

/* Directions are valid and every send case has a value to send. */
static bool cases_valid(const gort_select_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const gort_select_case *sc = &cases[i];
		if (sc->dir == GORT_SELECT_SEND) {
			if (!sc->elem && sc->chan && sc->chan->elem_size)
				return false;
		} else if (sc->dir != GORT_SELECT_RECV) {
			return false;
		}
	}
	return true;
}

int gort_select(gort_select_case *cases, size_t n, bool block)
{
	if (n > SEL_MAX_CASES || (n && !cases) || !cases_valid(cases, n))
		return -EINVAL;
	if (n == 1)
		return select_one(&cases[0], block);
	sel s = {.cases = cases};
	if (n <= SEL_STACK_CASES) {
		uint16_t poll[SEL_STACK_CASES], lock[SEL_STACK_CASES];
		gort__waiter waiters[SEL_STACK_CASES];
		s.pollorder = poll;
		s.lockorder = lock;
		s.waiters = waiters;
		return select_run(&s, n, block);
	}
	void *mem = malloc(n * (sizeof(gort__waiter) + 2 * sizeof(uint16_t)));
	if (!mem)
		return -ENOMEM;
	s.waiters = mem;
	s.pollorder = (uint16_t *)(s.waiters + n);
	s.lockorder = s.pollorder + n;
	int r = select_run(&s, n, block);
	free(mem);
	return r;
}
