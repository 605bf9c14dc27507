/* pool.c — gort_pool: a cache of reusable objects (Go's sync.Pool without a
 * garbage collector).
 *
 * Layout: one private cache per worker thread (a stack of at most
 * per_worker_max items, allocated on the worker's first put) and one shared
 * overflow list of at most per_worker_max items under a spinlock.
 *
 * Locking rules
 *  - A worker's private cache is touched only by goroutines running on that
 *    worker, and only between two switch points: scheduling is cooperative,
 *    so nothing else can run on the worker meanwhile and no lock is needed.
 *    new_fn and free_fn may block, so they are called with no cache pointer
 *    held across them and no lock held.
 *  - The shared list is touched only under p->lock, for a bounded memcpy.
 *  - Threads outside the runtime (gort__worker_index() < 0) use the shared
 *    list only.
 *  - gort_pool_destroy assumes no concurrent use (documented in gort.h).
 *
 * Flow: get pops the private cache; when empty it refills up to half a
 * cache from the shared list, and calls new_fn when that is empty too.  put
 * pushes on the private cache; when full it moves the older half of the
 * cache to the shared list (as far as there is room) and frees the item
 * with free_fn if there is still no room.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pool_local {
	size_t n;       /* items cached, top at items[n - 1] */
	void *items[];  /* gort_pool.max slots */
};

struct gort_pool {
	void *(*new_fn)(void *arg);
	void (*free_fn)(void *item, void *arg);
	void *arg;
	size_t max;          /* per_worker_max: capacity of each cache */
	uint32_t lock;       /* spinlock over nshared and shared */
	size_t nshared;      /* items in shared, top at shared[nshared - 1] */
	void **shared;       /* max slots */
	struct pool_local *locals[GORT_MAX_PROCS]; /* by worker index; lazily */
};

gort_pool *gort_pool_new(void *(*new_fn)(void *arg), void (*free_fn)(void *item, void *arg), void *arg,
                         size_t per_worker_max)
{
	if (per_worker_max == 0 || per_worker_max > SIZE_MAX / sizeof(void *) / 2) {
		errno = EINVAL;
		return NULL;
	}
	gort_pool *p = calloc(1, sizeof *p);
	void **shared = calloc(per_worker_max, sizeof(void *));
	if (!p || !shared) {
		free(p);
		free(shared);
		errno = ENOMEM;
		return NULL;
	}
	p->new_fn = new_fn;
	p->free_fn = free_fn;
	p->arg = arg;
	p->max = per_worker_max;
	p->shared = shared;
	return p;
}

/* The calling worker's cache, allocated on first use; NULL outside the
 * runtime or when memory is short (the shared list still works then). */
static struct pool_local *pool_local(gort_pool *p, bool create)
{
	int i = gort__worker_index();
	if (i < 0 || i >= GORT_MAX_PROCS)
		return NULL;
	if (!p->locals[i] && create) {
		/* Cache-line aligned: workers never share a line of n. */
		void *mem;
		if (posix_memalign(&mem, 64, sizeof(struct pool_local) + p->max * sizeof(void *)) == 0) {
			((struct pool_local *)mem)->n = 0;
			p->locals[i] = mem;
		}
	}
	return p->locals[i];
}

/* Moves up to want items from the shared list to l (or, l NULL, returns
 * one); returns an item taken for the caller, or NULL if shared is empty. */
static void *pool_take_shared(gort_pool *p, struct pool_local *l, size_t want)
{
	void *item = NULL;
	gort__spin_lock(&p->lock);
	if (p->nshared > 0) {
		item = p->shared[--p->nshared];
		if (l) {
			size_t k = want - 1 < p->nshared ? want - 1 : p->nshared;
			p->nshared -= k;
			memcpy(&l->items[l->n], &p->shared[p->nshared], k * sizeof(void *));
			l->n += k;
		}
	}
	gort__spin_unlock(&p->lock);
	return item;
}

void *gort_pool_get(gort_pool *p)
{
	struct pool_local *l = pool_local(p, false);
	if (l && l->n > 0)
		return l->items[--l->n];
	/* l is empty here: refill it with up to half a cache. */
	void *item = pool_take_shared(p, l, p->max / 2 + 1);
	if (item)
		return item;
	return p->new_fn ? p->new_fn(p->arg) : NULL;
}

/* Moves the older half of a full cache to the shared list, as far as there
 * is room there. */
static void pool_spill(gort_pool *p, struct pool_local *l)
{
	size_t k = l->n - l->n / 2;
	gort__spin_lock(&p->lock);
	if (k > p->max - p->nshared)
		k = p->max - p->nshared;
	memcpy(&p->shared[p->nshared], &l->items[0], k * sizeof(void *));
	p->nshared += k;
	gort__spin_unlock(&p->lock);
	l->n -= k;
	memmove(&l->items[0], &l->items[k], l->n * sizeof(void *));
}

/* Pushes item on the shared list if there is room; false otherwise. */
static bool pool_put_shared(gort_pool *p, void *item)
{
	bool ok = false;
	gort__spin_lock(&p->lock);
	if (p->nshared < p->max) {
		p->shared[p->nshared++] = item;
		ok = true;
	}
	gort__spin_unlock(&p->lock);
	return ok;
}

void gort_pool_put(gort_pool *p, void *item)
{
	if (!item)
		return;
	struct pool_local *l = pool_local(p, true);
	if (l) {
		if (l->n == p->max)
			pool_spill(p, l);
		if (l->n < p->max) {
			l->items[l->n++] = item;
			return;
		}
	} else if (pool_put_shared(p, item)) {
		return;
	}
	if (p->free_fn)
		p->free_fn(item, p->arg);
}

static void pool_free_items(gort_pool *p, void **items, size_t n)
{
	if (p->free_fn)
		for (size_t i = 0; i < n; i++)
			p->free_fn(items[i], p->arg);
}

void gort_pool_destroy(gort_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < GORT_MAX_PROCS; i++) {
		struct pool_local *l = p->locals[i];
		if (l) {
			pool_free_items(p, l->items, l->n);
			free(l);
		}
	}
	pool_free_items(p, p->shared, p->nshared);
	free(p->shared);
	free(p);
}
