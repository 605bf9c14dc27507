/* sched_impl.h — the scheduler's private structures, shared by the files of
 * the scheduler core only (sched.c, runq.c, stack.c, timerheap.c, diag.c).
 * Blocking primitives use internal.h, never this header.
 *
 * Ownership and locking rules (details in sched.c):
 *  - A goroutine (gort__g) lives at the top of its own stack block; the
 *    block comes from stack.c and goes back there when the goroutine ends.
 *  - g->state is atomic; every other field of a goroutine is written only by
 *    the worker running it, by its creator before it is published, or by the
 *    worker's scheduler context that parked it (before commit publishes it).
 *  - A worker's run queue has one producer (its owner) and many consumers
 *    (the owner and stealers, which claim slots by CAS on the head).
 *  - S.lock guards the global run queue, the idle worker list and the
 *    poller; it is a spinlock (short critical sections, no system calls).
 */
#ifndef GORT_SCHED_IMPL_H
#define GORT_SCHED_IMPL_H

#include "internal.h"

#include <pthread.h>
#include <signal.h>

#define GORT__PAGE 4096u
#define GORT__RUNQ_SIZE 256u
#define GORT__G_MAGIC 0x676f7274u /* "gort" */
#define GORT__NAME_MAX 32

enum gort__g_state {
	GORT__G_FREE = 0,  /* block unused (cached stack or never handed out) */
	GORT__G_RUNNABLE,  /* in a run queue or run-next slot */
	GORT__G_RUNNING,   /* on a worker */
	GORT__G_WAITING,   /* parked; gort__ready makes it runnable */
};

/* What the goroutine asked its worker's scheduler context to do. */
enum gort__post {
	GORT__POST_NONE = 0,
	GORT__POST_YIELD,
	GORT__POST_PARK,
	GORT__POST_EXIT,
};

struct gort__g {
	void *sp;                  /* saved stack pointer while switched out */
	int64_t id;                /* > 0 */
	uint32_t magic;            /* GORT__G_MAGIC: a header, for gdb/dump */
	_Atomic uint32_t state;    /* enum gort__g_state */
	uint32_t reason;           /* enum gort__wait_reason while WAITING */
	uint32_t cls;              /* stack size class (stack.c) */
	int64_t wait_since;        /* gort_now() when it parked */
	void (*fn)(void *arg);     /* body */
	void *arg;
	char *stack_lo;            /* lowest usable stack byte (above the guard) */
	gort__g *schedlink;        /* global run queue / stack free list link */
	gort__g *mag_next;         /* free: next magazine of the warm list (stack.c) */
	uint32_t mag_n;            /* free: blocks in the magazine this one heads */
	const char *file;          /* spawn site */
	int line;
	uint32_t vg_id;            /* Valgrind stack id */
	void *tsan_fiber;          /* ThreadSanitizer fiber */
	void *asan_fake;           /* ASan fake stack of the switched-out side */
	char name[GORT__NAME_MAX]; /* NUL-terminated, may be empty */
};

/* Stack cache bounds (stack.c): up to GORT__STACK_CACHE_MAX free blocks of
 * the default class per worker, and per class a global warm list trimmed
 * at once beyond GORT__STACK_WARM_MAX blocks and, by the last worker to go
 * idle, down to GORT__STACK_WARM_IDLE.  Cached blocks keep their touched
 * pages. */
#define GORT__STACK_CACHE_MAX 256u
#define GORT__STACK_WARM_MAX 16384u
#define GORT__STACK_WARM_IDLE 256u

/* Per-worker stack cache of the default size class (stack.c). */
typedef struct gort__stack_cache {
	gort__g *head;
	_Atomic uint32_t n; /* written by the owner, read by gort_stats_get */
} gort__stack_cache;

typedef struct gort__worker {
	/* Run queue: written by the owner at the tail, consumed at the head by
	 * the owner and by stealers.  Cache-line separated from the rest. */
	_Atomic uint32_t runq_head __attribute__((aligned(64)));
	_Atomic uint32_t runq_tail;
	gort__g *_Atomic runnext;  /* woken goroutine to run next */
	gort__g *_Atomic runq[GORT__RUNQ_SIZE];

	/* Owner-only scheduling state. */
	int index __attribute__((aligned(64)));
	gort__g *curg;             /* goroutine running, NULL on g0 */
	void *g0_sp;               /* scheduler context's saved sp */
	int post;                  /* enum gort__post, set by the goroutine */
	gort__commit_fn commit;    /* park: run on g0 after the switch */
	void *commit_arg;
	uint32_t tick;             /* schedule count (global queue every 61) */
	uint32_t runnext_streak;   /* consecutive run-next picks */
	int64_t retake_ns;         /* poller: next retake interval (sched.c) */
	uint32_t rand;             /* xorshift state */
	bool spinning;             /* counted in S.nmspinning */
	int64_t id_next, id_end;   /* goroutine id batch */
	gort__stack_cache stacks;
	void *g0_stack_lo;         /* ASan: this thread's own stack */
	size_t g0_stack_size;
	void *asan_fake;           /* ASan: g0's fake stack while switched out */
	void *tsan_g0;             /* TSan: this thread's own fiber */
	void *altstack;            /* sigaltstack for the overflow handler */
	stack_t old_altstack;      /* the thread's previous one, restored */
	pthread_t thread;
	pid_t tid;                 /* the thread's kernel id (tests, gdb) */

	/* Idle list (under S.lock) and wake-up word. */
	struct gort__worker *idle_next;
	bool idle;
	_Atomic uint32_t wake;     /* futex: 0 asleep, 1 woken */

	/* Timer callback running on this worker (gort__timer_stop waits). */
	gort__timer *_Atomic running_timer;

	/* Statistics, written by the owner only (relaxed atomics). */
	_Atomic uint64_t n_switches, n_steals, n_parks, n_created, n_exited;
} gort__worker;

struct gort__sched {
	int nprocs;
	gort__worker **workers;
	_Atomic bool running;      /* between gort_main's start and its end */
	_Atomic bool stopping;     /* the root returned */
	uint32_t lock;             /* spinlock: global queue, idle list, poller */
	gort__g *gq_head, *gq_tail;
	_Atomic uint32_t gq_len;
	gort__worker *idle_list;
	gort__worker *_Atomic poller; /* idle worker waiting in epoll; written
	                                 under lock, read without it by ready */
	_Atomic int npidle;
	_Atomic int nmspinning;
	_Atomic int64_t poll_until; /* poller's deadline; 0 none, INT64_MAX forever */
	int epfd, evfd;
	_Atomic int64_t holds;
	_Atomic uint64_t outside_created; /* spawned by non-worker threads */
	_Atomic int64_t next_id;
	gort__g *root;
	int root_result;
};
GORT__HIDDEN extern struct gort__sched gort__S;

/* A full memory fence.  ThreadSanitizer does not model fences; under it a
 * sequentially consistent read-modify-write of a shared word stands in. */
static inline void gort__fence(void)
{
#ifdef GORT_TSAN
	static _Atomic uint32_t word;
	atomic_fetch_add(&word, 0);
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* sched.c */
GORT__HIDDEN gort__worker *gort__current_worker(void) __attribute__((noinline));
GORT__HIDDEN void gort__wake_poller(void);

/* runq.c */
GORT__HIDDEN void gort__runq_put(gort__worker *w, gort__g *g);
GORT__HIDDEN gort__g *gort__runq_get(gort__worker *w);
GORT__HIDDEN uint32_t gort__runq_len(gort__worker *w);
GORT__HIDDEN gort__g *gort__runq_steal(gort__worker *w, gort__worker *victim, bool take_next);
GORT__HIDDEN void gort__global_put_batch(gort__g *first, gort__g *last, uint32_t n);
GORT__HIDDEN gort__g *gort__global_get(gort__worker *w, uint32_t max);

/* switch_<arch>.S */
GORT__HIDDEN void gort__switch(void **save_sp, void *new_sp);
GORT__HIDDEN void gort__g_trampoline(void);
GORT__HIDDEN void *gort__frame_init(void *top, gort__g *g);

/* stack.c: blocks of size class cls, the goroutine header at the top. */
GORT__HIDDEN int gort__stack_init(size_t default_size);
GORT__HIDDEN void gort__stack_fini(void);
GORT__HIDDEN int gort__stack_class(size_t size);
GORT__HIDDEN int gort__stack_default_class(void);
/* Forces the mprotect guard fallback (tests of pre-6.13 kernels). */
GORT__HIDDEN void gort__stack_use_mprotect_guards(void);
GORT__HIDDEN size_t gort__stack_class_size(int cls);
GORT__HIDDEN gort__g *gort__stack_get(gort__stack_cache *c, int cls);
GORT__HIDDEN void gort__stack_put(gort__stack_cache *c, gort__g *g);
GORT__HIDDEN void gort__stack_foreach(void (*fn)(gort__g *g, void *arg), void *arg);
GORT__HIDDEN gort__g *gort__stack_guard_owner(const void *addr);
GORT__HIDDEN void gort__stack_counts(uint64_t *ret_cached, uint64_t *ret_mapped);
/* The last worker awake, before it sleeps: returns warm blocks beyond
 * GORT__STACK_WARM_IDLE to the kernel, a batch at a time, until busy()
 * says work arrived. */
GORT__HIDDEN void gort__stack_scavenge(bool (*busy)(void));

/* timerheap.c */
GORT__HIDDEN void gort__timers_reset(void);
GORT__HIDDEN int64_t gort__timers_next(void);
GORT__HIDDEN uint32_t gort__timers_count(void);
GORT__HIDDEN void gort__timers_run(gort__worker *w, int64_t now);

/* diag.c */
GORT__HIDDEN int64_t gort__now(void);
GORT__HIDDEN int64_t gort__now_coarse(void);
GORT__HIDDEN int gort__signals_install(void);
GORT__HIDDEN void gort__signals_restore(void);
GORT__HIDDEN int gort__altstack_enable(gort__worker *w);
GORT__HIDDEN void gort__altstack_disable(gort__worker *w);
GORT__HIDDEN _Noreturn void gort__deadlock(void);

#endif /* GORT_SCHED_IMPL_H */
