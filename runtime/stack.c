/* stack.c — goroutine stacks: slabs, guard pages, caches.
 *
 * A stack block of size class c is 16 KiB << c bytes: its lowest page is a
 * guard page, its top holds the goroutine header (gort__g), the stack grows
 * down from just below the header.  So spawning is one free-list pop and a
 * parked goroutine whose frames are small touches a single page.
 *
 * Blocks are carved from slabs (one mmap of ~16 MiB holding many blocks of
 * one class, MAP_NORESERVE: only touched pages cost memory, plus one page
 * on top for the slab's record, so spawning never mallocs), so a million
 * goroutines need a few thousand mappings, far below vm.max_map_count.
 * Guard pages are installed with MADV_GUARD_INSTALL (Linux >= 6.13), which
 * marks pages without splitting the mapping.  On older kernels (EINVAL) we
 * fall back to mprotect(PROT_NONE), which splits the slab's VMA twice per
 * stack; we do that only while the guards we created stay below a quarter
 * of vm.max_map_count, and hand out UNGUARDED stacks beyond (an overflow
 * there corrupts the header of the block below instead of faulting).
 *
 * Caches, so that a spawn rarely makes a system call or takes a lock:
 *  - each worker keeps up to GORT__STACK_CACHE_MAX freed blocks of the
 *    default class (no lock: only the owner touches its cache); a full
 *    cache hands its older half to the global warm list as one magazine,
 *    an empty one takes a whole magazine back (one lock each way);
 *  - per class, a global "warm" list of magazines (chains of free blocks
 *    with their pages left as they were) and a "cold" array of blocks whose
 *    pages were returned with MADV_DONTNEED, in batches of TRIM_BATCH (one
 *    process_madvise each where the kernel allows it); all under the class
 *    mutex, which is never held across a system call.
 *  - Trimming policy: a burst of exits (a cancelled job) must not pay a
 *    madvise per stack, and the next burst wants the same pages back, so
 *    the warm list may grow to GORT__STACK_WARM_MAX blocks (~64 MiB of top
 *    pages) before the freeing worker trims the excess at once; the rest is
 *    trimmed lazily, by the last worker awake before it sleeps
 *    (gort__stack_scavenge), down to GORT__STACK_WARM_IDLE blocks: memory
 *    goes back when the runtime has nothing better to do, a batch at a
 *    time, stopping when work arrives.
 *
 * Slabs are never unmapped while the runtime runs (gort__stack_fini unmaps
 * them all); the slab list is append-only and published with release
 * stores, so the signal handler, the dump and gdb can walk it lock-free.
 * A block's header is FREE (0) until first use and again once freed.
 */
#include "sched_impl.h"
#include "sanitizer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define NCLASS 17 /* 16 KiB .. 1 GiB */
#define SLAB_BYTES ((size_t)16 << 20)
#define TRIM_BATCH 64
#define HDR_BYTES ((sizeof(gort__g) + 63) & ~(size_t)63)

enum guard_mode { GUARD_MADVISE, GUARD_MPROTECT };

/* One mapping of `count` blocks of one class; fields fixed once published
 * except `used`, the number of blocks handed out so far. */
struct gort__slab {
	char *base;
	size_t block;               /* block size */
	uint32_t count;
	_Atomic uint32_t used;
	bool guarded;               /* all guards installed at mapping time */
	struct gort__slab *next;    /* older slab */
};

struct stack_class {
	pthread_mutex_t lock;
	gort__g *mags;              /* warm magazines, through g->mag_next; each
	                             * a chain of g->mag_n blocks (g->schedlink) */
	_Atomic uint32_t nwarm;     /* blocks in all magazines (read unlocked) */
	gort__g **cold;             /* trimmed blocks' header addresses */
	uint32_t ncold, cold_cap;
	struct gort__slab *cur;     /* slab being carved */
};

/* Read by gort-gdb.py: the newest slab first. */
GORT__HIDDEN struct gort__slab *_Atomic gort__slabs;

static struct {
	struct stack_class cls[NCLASS];
	int default_cls;
	_Atomic int guard_mode;
	long mprotect_budget;       /* mprotect guards we may still create */
	int pidfd;                  /* ours, for process_madvise; -1 if none */
	_Atomic long mprotected;
	_Atomic uint64_t mapped, cached_global;
} ST = {
	.cls = {[0 ... NCLASS - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER}},
};

static inline gort__g *header_of(char *block, size_t size)
{
	return (gort__g *)(block + size - HDR_BYTES);
}

size_t gort__stack_class_size(int cls)
{
	return (size_t)16384 << cls;
}

int gort__stack_class(size_t size)
{
	if (size < GORT_STACK_MIN)
		return -EINVAL;
	for (int c = 0; c < NCLASS; c++)
		if (gort__stack_class_size(c) >= size)
			return c;
	return -EINVAL;
}

void gort__stack_use_mprotect_guards(void)
{
	atomic_store(&ST.guard_mode, GUARD_MPROTECT);
}

int gort__stack_default_class(void)
{
	return ST.default_cls;
}

static long read_max_map_count(void)
{
	char buf[32];
	int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 65530;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 65530;
	buf[n] = 0;
	long v = strtol(buf, NULL, 10);
	return v > 0 ? v : 65530;
}

int gort__stack_init(size_t default_size)
{
	int c = gort__stack_class(default_size);
	if (c < 0)
		return c;
	ST.default_cls = c;
	ST.mprotect_budget = read_max_map_count() / 4;
	ST.pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	return 0;
}

/* Installs the guard pages of a whole new slab with one process_madvise
 * (Linux >= 6.13 lets a process apply any advice to itself that way): a
 * third cheaper than one madvise per stack.  False if unsupported. */
static bool guards_batch(struct gort__slab *s)
{
	struct iovec iov[64];
	if (ST.pidfd < 0 || atomic_load(&ST.guard_mode) != GUARD_MADVISE)
		return false;
	for (uint32_t i = 0; i < s->count;) {
		uint32_t n = 0;
		for (; n < sizeof iov / sizeof *iov && i < s->count; n++, i++) {
			iov[n].iov_base = s->base + (size_t)i * s->block;
			iov[n].iov_len = GORT__PAGE;
		}
		if (syscall(SYS_process_madvise, ST.pidfd, iov, n, MADV_GUARD_INSTALL, 0) !=
		    (ssize_t)(n * GORT__PAGE))
			return false; /* carve() installs the rest one by one */
	}
	return true;
}

/* Makes block's lowest page a guard page (see the file comment). */
static void guard_install(char *block)
{
	if (atomic_load_explicit(&ST.guard_mode, memory_order_relaxed) == GUARD_MADVISE) {
		if (madvise(block, GORT__PAGE, MADV_GUARD_INSTALL) == 0)
			return;
		atomic_store(&ST.guard_mode, GUARD_MPROTECT);
	}
	if (atomic_fetch_add(&ST.mprotected, 1) < ST.mprotect_budget)
		mprotect(block, GORT__PAGE, PROT_NONE);
}

/* Maps a slab; its record lives in an extra page above its blocks, so the
 * spawn path never calls malloc (fault-injecting tests count on that). */
static struct gort__slab *slab_map(int cls)
{
	size_t block = gort__stack_class_size(cls);
	uint32_t count = block >= SLAB_BYTES ? 1 : (uint32_t)(SLAB_BYTES / block);
	char *p = mmap(NULL, block * count + GORT__PAGE, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct gort__slab *s = (struct gort__slab *)(p + block * count);
	s->base = p;
	s->block = block;
	s->count = count;
	atomic_init(&s->used, 0);
	s->guarded = guards_batch(s);
	s->next = atomic_load(&gort__slabs);
	atomic_store_explicit(&gort__slabs, s, memory_order_release);
	return s;
}

/* A never-used block of class cls (class lock held), NULL if out of
 * memory; *ret_guarded tells whether its guard page is already there. */
static char *carve(struct stack_class *k, int cls, bool *ret_guarded)
{
	struct gort__slab *s = k->cur;
	if (!s || atomic_load_explicit(&s->used, memory_order_relaxed) == s->count) {
		s = slab_map(cls);
		if (!s)
			return NULL;
		k->cur = s;
	}
	uint32_t i = atomic_load_explicit(&s->used, memory_order_relaxed);
	atomic_store_explicit(&s->used, i + 1, memory_order_release);
	atomic_fetch_add_explicit(&ST.mapped, 1, memory_order_relaxed);
	*ret_guarded = s->guarded;
	return s->base + (size_t)i * s->block;
}

/* The header of a block handed out for the first time since it was
 * carved or trimmed (its page reads as zeros). */
static gort__g *header_init(char *block, int cls)
{
	gort__g *g = header_of(block, gort__stack_class_size(cls));
	g->magic = GORT__G_MAGIC;
	g->cls = (uint32_t)cls;
	g->stack_lo = block + GORT__PAGE;
	return g;
}

static char *block_of(gort__g *g, int cls)
{
	return (char *)g + HDR_BYTES - gort__stack_class_size(cls);
}

/* Pushes a magazine: the chain first..(n blocks, through schedlink) (class
 * lock held). */
static void mag_push(struct stack_class *k, gort__g *first, uint32_t n)
{
	first->mag_n = n;
	first->mag_next = k->mags;
	k->mags = first;
	atomic_store_explicit(&k->nwarm, k->nwarm + n, memory_order_relaxed);
}

/* Pops the newest magazine, NULL if none; *ret_n its length (class lock
 * held). */
static gort__g *mag_pop(struct stack_class *k, uint32_t *ret_n)
{
	gort__g *g = k->mags;
	if (!g)
		return NULL;
	k->mags = g->mag_next;
	*ret_n = g->mag_n;
	atomic_store_explicit(&k->nwarm, k->nwarm - g->mag_n, memory_order_relaxed);
	return g;
}

/* One cached block of class cls (class lock held), NULL if none: warm
 * first (the rest of its magazine goes back), then cold. */
static gort__g *cached_pop(struct stack_class *k, int cls)
{
	uint32_t n;
	gort__g *g = mag_pop(k, &n);
	if (g && n > 1)
		mag_push(k, g->schedlink, n - 1);
	if (!g && k->ncold)
		g = header_init(block_of(k->cold[--k->ncold], cls), cls);
	return g;
}

/* One block of class cls from the global caches or a slab. */
static gort__g *global_get(int cls)
{
	struct stack_class *k = &ST.cls[cls];
	pthread_mutex_lock(&k->lock);
	gort__g *g = cached_pop(k, cls);
	if (g) {
		pthread_mutex_unlock(&k->lock);
		atomic_fetch_sub_explicit(&ST.cached_global, 1, memory_order_relaxed);
		return g;
	}
	bool guarded;
	char *block = carve(k, cls, &guarded);
	pthread_mutex_unlock(&k->lock);
	if (!block)
		return NULL;
	if (!guarded)
		guard_install(block);
	return header_init(block, cls);
}

/* Returns every page of n blocks but their guard to the kernel, header
 * page included: one process_madvise for the batch, else one madvise per
 * block. */
static void trim(gort__g **batch, uint32_t n)
{
	struct iovec iov[TRIM_BATCH];
	size_t total = 0;
	for (uint32_t i = 0; i < n; i++) {
		iov[i].iov_base = batch[i]->stack_lo;
		iov[i].iov_len = (size_t)((char *)batch[i] + HDR_BYTES - batch[i]->stack_lo);
		total += iov[i].iov_len;
	}
	if (ST.pidfd >= 0 &&
	    syscall(SYS_process_madvise, ST.pidfd, iov, n, MADV_DONTNEED, 0) == (ssize_t)total)
		return;
	for (uint32_t i = 0; i < n; i++)
		madvise(iov[i].iov_base, iov[i].iov_len, MADV_DONTNEED);
}

/* Room for n more cold blocks (class lock held); false if out of memory. */
static bool cold_reserve(struct stack_class *k, uint32_t n)
{
	if (k->ncold + n <= k->cold_cap)
		return true;
	uint32_t cap = k->cold_cap ? k->cold_cap * 2 : 1024;
	gort__g **v = realloc(k->cold, cap * sizeof *v);
	if (!v)
		return false;
	k->cold = v;
	k->cold_cap = cap;
	return true;
}

/* Trims warm blocks of class cls, TRIM_BATCH at a time, until at most
 * keep remain or busy() (if given) says work is waiting.  Trimmed blocks
 * are listed in k->cold, as their headers are gone (should that array not
 * grow, they are re-initialised and kept warm). */
static void trim_warm(int cls, uint32_t keep, bool (*busy)(void))
{
	struct stack_class *k = &ST.cls[cls];
	gort__g *batch[TRIM_BATCH];
	while (atomic_load_explicit(&k->nwarm, memory_order_relaxed) > keep && !(busy && busy())) {
		uint32_t n = 0, m;
		pthread_mutex_lock(&k->lock);
		gort__g *g = mag_pop(k, &m);
		for (; g && m && n < TRIM_BATCH; m--) {
			batch[n++] = g;
			g = g->schedlink;
		}
		if (g && m)
			mag_push(k, g, m);
		pthread_mutex_unlock(&k->lock);
		if (!n)
			return;
		trim(batch, n);
		pthread_mutex_lock(&k->lock);
		bool room = cold_reserve(k, n);
		for (uint32_t i = 0; i < n; i++) {
			if (room)
				k->cold[k->ncold++] = batch[i];
			else
				mag_push(k, header_init(block_of(batch[i], cls), cls), 1);
		}
		pthread_mutex_unlock(&k->lock);
	}
}

/* Caches a chain of n free blocks of class cls (from first, through
 * schedlink, NULL-terminated) as one warm magazine; trims the warm list
 * back to GORT__STACK_WARM_MAX when the chain pushed it beyond. */
static void global_put(int cls, gort__g *first, uint32_t n)
{
	struct stack_class *k = &ST.cls[cls];
	atomic_fetch_add_explicit(&ST.cached_global, n, memory_order_relaxed);
	pthread_mutex_lock(&k->lock);
	mag_push(k, first, n);
	bool over = k->nwarm > GORT__STACK_WARM_MAX;
	pthread_mutex_unlock(&k->lock);
	if (over)
		trim_warm(cls, GORT__STACK_WARM_MAX, NULL);
}

void gort__stack_scavenge(bool (*busy)(void))
{
	for (int c = 0; c < NCLASS; c++)
		if (atomic_load_explicit(&ST.cls[c].nwarm, memory_order_relaxed) > GORT__STACK_WARM_IDLE)
			trim_warm(c, GORT__STACK_WARM_IDLE, busy);
}

/* Refills an empty worker cache with one warm magazine (one lock). */
static void cache_refill(gort__stack_cache *c, int cls)
{
	struct stack_class *k = &ST.cls[cls];
	uint32_t n = 0;
	if (!atomic_load_explicit(&k->nwarm, memory_order_relaxed))
		return;
	pthread_mutex_lock(&k->lock);
	gort__g *g = mag_pop(k, &n);
	pthread_mutex_unlock(&k->lock);
	if (!g)
		return;
	atomic_fetch_sub_explicit(&ST.cached_global, n, memory_order_relaxed);
	c->head = g;
	atomic_store_explicit(&c->n, n, memory_order_relaxed);
}

gort__g *gort__stack_get(gort__stack_cache *c, int cls)
{
	if (!c || cls != ST.default_cls)
		return global_get(cls);
	if (!c->head)
		cache_refill(c, cls);
	gort__g *g = c->head;
	if (!g)
		return global_get(cls);
	c->head = g->schedlink;
	atomic_store_explicit(&c->n, c->n - 1, memory_order_relaxed);
	return g;
}

/* ASan: unpoisons the frames a switched-out goroutine left on its stack
 * (from its saved sp up; ASan itself unpoisoned the frames that returned). */
static void unpoison_used(gort__g *g)
{
	char *lo = (char *)g->sp - 256;
	if (lo < g->stack_lo)
		lo = g->stack_lo;
	gort__asan_unpoison(lo, (size_t)((char *)g - lo));
}

void gort__stack_put(gort__stack_cache *c, gort__g *g)
{
	atomic_store_explicit(&g->state, GORT__G_FREE, memory_order_release);
	unpoison_used(g);
	if (!c || g->cls != (uint32_t)ST.default_cls) {
		g->schedlink = NULL; /* every magazine chain ends with NULL */
		global_put((int)g->cls, g, 1);
		return;
	}
	g->schedlink = c->head;
	c->head = g;
	atomic_store_explicit(&c->n, c->n + 1, memory_order_relaxed);
	if (c->n <= GORT__STACK_CACHE_MAX)
		return;
	/* keep the newest (hottest) half, hand the older half on as a magazine */
	uint32_t keep = GORT__STACK_CACHE_MAX / 2;
	gort__g *last = c->head;
	for (uint32_t i = 1; i < keep; i++)
		last = last->schedlink;
	gort__g *old = last->schedlink;
	last->schedlink = NULL;
	uint32_t n = c->n - keep;
	atomic_store_explicit(&c->n, keep, memory_order_relaxed);
	global_put(ST.default_cls, old, n);
}

void gort__stack_foreach(void (*fn)(gort__g *g, void *arg), void *arg)
{
	for (struct gort__slab *s = atomic_load_explicit(&gort__slabs, memory_order_acquire); s;
	     s = s->next) {
		uint32_t used = atomic_load_explicit(&s->used, memory_order_acquire);
		for (uint32_t i = 0; i < used; i++) {
			gort__g *g = header_of(s->base + (size_t)i * s->block, s->block);
			if (atomic_load_explicit(&g->state, memory_order_acquire) != GORT__G_FREE)
				fn(g, arg);
		}
	}
}

gort__g *gort__stack_guard_owner(const void *addr)
{
	const char *a = addr;
	for (struct gort__slab *s = atomic_load_explicit(&gort__slabs, memory_order_acquire); s;
	     s = s->next) {
		if (a < s->base || a >= s->base + s->block * s->count)
			continue;
		size_t i = (size_t)(a - s->base) / s->block;
		char *block = s->base + i * s->block;
		if (i >= atomic_load_explicit(&s->used, memory_order_acquire) || a >= block + GORT__PAGE)
			return NULL;
		return header_of(block, s->block);
	}
	return NULL;
}

void gort__stack_counts(uint64_t *ret_cached, uint64_t *ret_mapped)
{
	*ret_cached = atomic_load_explicit(&ST.cached_global, memory_order_relaxed);
	*ret_mapped = atomic_load_explicit(&ST.mapped, memory_order_relaxed);
}

static void unpoison_discarded(gort__g *g, void *arg)
{
	(void)arg;
	unpoison_used(g);
}

/* Unmaps every slab.  Only when no worker runs (end of gort_main). */
void gort__stack_fini(void)
{
	gort__stack_foreach(unpoison_discarded, NULL);
	struct gort__slab *s = atomic_exchange(&gort__slabs, NULL);
	while (s) {
		struct gort__slab *next = s->next;
		munmap(s->base, s->block * s->count + GORT__PAGE);
		s = next;
	}
	for (int c = 0; c < NCLASS; c++) {
		struct stack_class *k = &ST.cls[c];
		free(k->cold);
		k->mags = NULL;
		k->cold = NULL;
		atomic_store(&k->nwarm, 0);
		k->ncold = k->cold_cap = 0;
		k->cur = NULL;
	}
	atomic_store(&ST.mapped, 0);
	atomic_store(&ST.cached_global, 0);
	atomic_store(&ST.mprotected, 0);
	if (ST.pidfd >= 0)
		close(ST.pidfd);
	ST.pidfd = -1;
}
