/* gort.h — libgort, an M:N goroutine runtime for C: the one public header.
 *
 * Goroutines (green threads with their own stacks) run on a few worker OS
 * threads; they block on channels, select, timers and the sync primitives
 * below by parking, never by blocking their worker thread.
 *
 * Conventions
 *  - Every public name starts with gort_ (types, functions) or GORT_ (macros).
 *    Names starting with gort__ are private even when they appear here.
 *  - Errors are negative errno values (-ENOMEM, -EAGAIN, -ECANCELED,
 *    -ETIMEDOUT, -EPIPE, ...), never silent.  Misuse that Go would answer
 *    with a panic (sending on a closed channel, closing twice, unlocking an
 *    unlocked mutex) prints a message to stderr and aborts.
 *  - Calls that may block must run on a goroutine; called from a plain OS
 *    thread they abort with a message.  Calls that only wake others (unlock,
 *    signal, broadcast, waitgroup done, semaphore release, channel close,
 *    context cancel, non-blocking channel operations) may be made from any
 *    thread.
 *  - Scheduling is cooperative: a goroutine runs until it blocks, yields
 *    (gort_yield) or returns.  A loop that never blocks should call
 *    gort_yield() now and then; see docs/runtime.md for the fairness policy.
 *  - Thread-local storage (__thread, errno) belongs to the worker thread, and
 *    a goroutine may resume on another worker after any blocking call: do not
 *    keep the address of thread-local data across one.  errno itself is saved
 *    and restored across switches.
 */
#ifndef GORT_H
#define GORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GORT_API __attribute__((visibility("default")))

/* ======================================================================
 * Runtime and goroutines
 * ====================================================================== */

/* Default goroutine stack size (virtual; only touched pages use memory).
 * See docs/runtime.md for why this value. */
#define GORT_STACK_DEFAULT ((size_t)64 * 1024)
/* Smallest stack accepted by gort_go_with. */
#define GORT_STACK_MIN ((size_t)16 * 1024)

typedef struct gort_config {
	int procs;         /* worker threads; 0: $GORT_PROCS, else the CPUs in
	                      the process's affinity mask */
	size_t stack_size; /* default stack size; 0: GORT_STACK_DEFAULT */
} gort_config;

/* Starts the runtime, runs root(arg) as the first goroutine and returns its
 * result once it has returned; then stops the workers.  Goroutines still
 * alive at that point are discarded without running further (as when Go's
 * main returns).  The calling thread becomes one of the workers.  cfg may be
 * NULL.  Returns -EBUSY if the runtime is already running, -EINVAL on a bad
 * config, -ENOMEM/-EAGAIN if threads or memory cannot be had.  May be called
 * again after it returned. */
GORT_API int gort_main(const gort_config *cfg, int (*root)(void *arg), void *arg);

typedef struct gort_go_opts {
	const char *name;  /* shown in dumps; copied, truncated to 31 bytes */
	size_t stack_size; /* 0: the runtime default; else >= GORT_STACK_MIN */
} gort_go_opts;

/* Spawns fn(arg) as a new goroutine.  Returns its id (> 0), or -ENOMEM,
 * -EINVAL (bad options) or -ESRCH (runtime not running).  The spawn site
 * (file:line) is recorded for dumps. */
#define gort_go(fn, arg) gort__go((fn), (arg), NULL, __FILE__, __LINE__)
#define gort_go_with(fn, arg, opts) gort__go((fn), (arg), (opts), __FILE__, __LINE__)
GORT_API int64_t gort__go(void (*fn)(void *arg), void *arg, const gort_go_opts *opts,
                          const char *file, int line);

/* Lets other runnable goroutines run; the caller stays runnable. */
GORT_API void gort_yield(void);
/* The calling goroutine's id, 0 when not called on a goroutine. */
GORT_API int64_t gort_self_id(void);
/* Ends the calling goroutine (as returning from its function does). */
GORT_API _Noreturn void gort_exit(void);
/* Number of worker threads of the running runtime (0 when not running). */
GORT_API int gort_nprocs(void);

/* An outside source of wake-ups: a plain OS thread that will later wake a
 * goroutine (close a channel, cancel a context, unlock...) holds the runtime
 * while it may do so, so that deadlock detection does not fire while it
 * still can.  Timers, the netpoller and the blocking pool hold it themselves. */
GORT_API void gort_hold(void);
GORT_API void gort_release(void);

/* ======================================================================
 * Diagnostics
 * ====================================================================== */

#define GORT_MAX_PROCS 256

typedef struct gort_stats {
	uint64_t goroutines_live;    /* spawned and not yet returned */
	uint64_t goroutines_created; /* since start */
	uint64_t context_switches;   /* goroutine switches in or out */
	uint64_t steals;             /* successful steals of run-queue halves */
	uint64_t parks;              /* goroutines parked */
	uint64_t stacks_cached;      /* stacks kept for reuse */
	uint64_t stacks_mapped;      /* stacks mapped in total */
	int procs;                   /* worker threads */
	int threads;                 /* OS threads of the runtime (workers + pools) */
	uint32_t runq_len[GORT_MAX_PROCS]; /* per-worker local run queue length */
	uint32_t global_runq_len;
} gort_stats;

/* Fills *ret with a snapshot (approximate under concurrent change). */
GORT_API void gort_stats_get(gort_stats *ret);

/* Writes a dump of every goroutine (id, name, state, wait reason, how long
 * blocked, spawn site) to fd.  SIGQUIT does the same to stderr, if the
 * program has not installed its own SIGQUIT handler before gort_main. */
GORT_API void gort_dump(int fd);

/* ======================================================================
 * sync: WaitGroup, Mutex, RWMutex, Cond, Once, Pool, Semaphore
 *
 * Plain structs, embeddable by value, usable once zero-initialised or set
 * with the _INIT macro; they must not be moved or copied while in use.
 * None of them owns memory, so none needs a destroy call (the Pool frees
 * its cached items on gort_pool_destroy).
 * ====================================================================== */

/* A queue of parked goroutines (private). */
typedef struct gort__waitq {
	struct gort__waiter *head, *tail;
} gort__waitq;

typedef struct gort_mutex {
	uint32_t state;    /* private */
	uint32_t lock;     /* private: guards waiters */
	gort__waitq waiters;
} gort_mutex;
#define GORT_MUTEX_INIT {0, 0, {0, 0}}
GORT_API void gort_mutex_lock(gort_mutex *m);
GORT_API bool gort_mutex_trylock(gort_mutex *m);
/* Aborts if m is not locked.  As in Go, any goroutine may unlock. */
GORT_API void gort_mutex_unlock(gort_mutex *m);

typedef struct gort_rwmutex {
	gort_mutex w;          /* private: held by the writer */
	int32_t readers;       /* private */
	int32_t readers_leaving; /* private */
	uint32_t lock;         /* private */
	gort__waitq rwait, wwait;
} gort_rwmutex;
#define GORT_RWMUTEX_INIT {GORT_MUTEX_INIT, 0, 0, 0, {0, 0}, {0, 0}}
GORT_API void gort_rwmutex_rlock(gort_rwmutex *rw);
GORT_API void gort_rwmutex_runlock(gort_rwmutex *rw);
GORT_API void gort_rwmutex_lock(gort_rwmutex *rw);
GORT_API void gort_rwmutex_unlock(gort_rwmutex *rw);

typedef struct gort_cond {
	gort_mutex *L;   /* the mutex held around wait; set by GORT_COND_INIT */
	uint32_t lock;   /* private */
	gort__waitq waiters;
} gort_cond;
#define GORT_COND_INIT(mutexp) {(mutexp), 0, {0, 0}}
/* Atomically unlocks c->L and parks; locks c->L again before returning.
 * As in Go, a wake-up may come without the condition holding: loop. */
GORT_API void gort_cond_wait(gort_cond *c);
GORT_API void gort_cond_signal(gort_cond *c);
GORT_API void gort_cond_broadcast(gort_cond *c);

typedef struct gort_waitgroup {
	int64_t count;   /* private */
	uint32_t lock;   /* private */
	gort__waitq waiters;
} gort_waitgroup;
#define GORT_WAITGROUP_INIT {0, 0, {0, 0}}
/* Aborts if the counter goes negative. */
GORT_API void gort_waitgroup_add(gort_waitgroup *wg, int64_t delta);
GORT_API void gort_waitgroup_done(gort_waitgroup *wg);
GORT_API void gort_waitgroup_wait(gort_waitgroup *wg);

typedef struct gort_once {
	uint32_t done;  /* private */
	gort_mutex m;   /* private */
} gort_once;
#define GORT_ONCE_INIT {0, GORT_MUTEX_INIT}
/* Runs fn(arg) if no call on this once has run it; every caller returns
 * only after it has completed. */
GORT_API void gort_once_do(gort_once *o, void (*fn)(void *arg), void *arg);

/* A cache of reusable objects with per-worker lists (no lock on the fast
 * path).  Unlike Go's sync.Pool, items are never dropped by a garbage
 * collector: each worker keeps at most per_worker_max; beyond that put()
 * passes the item to free_fn. */
typedef struct gort_pool gort_pool;
GORT_API gort_pool *gort_pool_new(void *(*new_fn)(void *arg), void (*free_fn)(void *item, void *arg),
                                  void *arg, size_t per_worker_max);
/* A cached item, or new_fn(arg) when none is cached (NULL if that fails). */
GORT_API void *gort_pool_get(gort_pool *p);
GORT_API void gort_pool_put(gort_pool *p, void *item);
/* Frees every cached item with free_fn, then the pool. */
GORT_API void gort_pool_destroy(gort_pool *p);

typedef struct gort_sema {
	int64_t count;  /* private */
	uint32_t lock;  /* private */
	gort__waitq waiters;
} gort_sema;
#define GORT_SEMA_INIT(n) {(n), 0, {0, 0}}
GORT_API void gort_sema_acquire(gort_sema *s);
GORT_API bool gort_sema_try_acquire(gort_sema *s);
GORT_API void gort_sema_release(gort_sema *s);

/* ======================================================================
 * Channels and select
 * ====================================================================== */

/* A channel of fixed-size elements copied by value, with reference-counted
 * lifetime: gort_chan_make returns one reference; the channel is freed when
 * the last is dropped.  A NULL channel is Go's nil channel: operations on it
 * block forever and it is never ready in a select. */
typedef struct gort_chan gort_chan;

/* elem_size may be 0 (signal-only channels); cap 0 is a rendezvous channel.
 * NULL with errno ENOMEM/EINVAL on failure. */
GORT_API gort_chan *gort_chan_make(size_t elem_size, size_t cap);
GORT_API gort_chan *gort_chan_ref(gort_chan *c);
GORT_API void gort_chan_unref(gort_chan *c); /* NULL is a no-op */

/* Blocks until a receiver takes the value (cap 0) or it is buffered.
 * Sending on a closed channel aborts. */
GORT_API void gort_chan_send(gort_chan *c, const void *elem);
/* Blocks until a value arrives: returns true with *elem set, or false once
 * the channel is closed and drained (*elem zeroed).  elem may be NULL. */
GORT_API bool gort_chan_recv(gort_chan *c, void *elem);
/* Non-blocking forms: 0 done, -EAGAIN would block; try_recv returns -EPIPE
 * when closed and drained.  try_send on a closed channel aborts. */
GORT_API int gort_chan_try_send(gort_chan *c, const void *elem);
GORT_API int gort_chan_try_recv(gort_chan *c, void *elem);
/* Wakes every waiting receiver (they get false) and sender (they abort).
 * Closing twice or closing NULL aborts. */
GORT_API void gort_chan_close(gort_chan *c);
GORT_API size_t gort_chan_len(gort_chan *c);
GORT_API size_t gort_chan_cap(gort_chan *c);

typedef enum gort_select_dir {
	GORT_SELECT_RECV = 1,
	GORT_SELECT_SEND = 2,
} gort_select_dir;

typedef struct gort_select_case {
	gort_chan *chan;     /* NULL: this case is never ready */
	gort_select_dir dir;
	void *elem;          /* SEND: value to send; RECV: where to store (may be NULL) */
	bool ok;             /* RECV, out: true if the value came from a send */
} gort_select_case;

/* Waits until one of the n cases can proceed and performs it; among ready
 * cases one is chosen uniformly at random.  Returns the chosen index.  With
 * block false (a select with a default case) returns -EAGAIN when no case is
 * ready.  n may be 0: blocks forever (or -EAGAIN).  n <= 65536. */
GORT_API int gort_select(gort_select_case *cases, size_t n, bool block);

/* ======================================================================
 * Time and timers
 * ====================================================================== */

#define GORT_MICROSECOND ((int64_t)1000)
#define GORT_MILLISECOND ((int64_t)1000000)
#define GORT_SECOND ((int64_t)1000000000)

/* CLOCK_MONOTONIC in nanoseconds. */
GORT_API int64_t gort_now(void);
/* Parks the calling goroutine for at least ns nanoseconds. */
GORT_API void gort_sleep(int64_t ns);

/* A one-shot timer: after d nanoseconds its channel (capacity 1, int64_t
 * elements) receives the gort_now() of the firing. */
typedef struct gort_timer gort_timer;
GORT_API gort_timer *gort_timer_make(int64_t d); /* NULL + errno on failure */
GORT_API gort_chan *gort_timer_chan(gort_timer *t); /* borrowed */
/* Returns true if the call stopped the timer, false if it had already
 * fired or been stopped.  As in Go, a value already in the channel stays. */
GORT_API bool gort_timer_stop(gort_timer *t);
/* Re-arms the timer to fire d from now; returns true if it was pending. */
GORT_API bool gort_timer_reset(gort_timer *t, int64_t d);
GORT_API void gort_timer_free(gort_timer *t); /* stops it; NULL is a no-op */

/* A channel that receives once, d nanoseconds from now (Go's time.After).
 * The caller owns one reference; the pending timer holds another. */
GORT_API gort_chan *gort_after(int64_t d);

/* A ticker: its channel (capacity 1) receives the time every period; ticks
 * are dropped while the channel is full, as in Go. */
typedef struct gort_ticker gort_ticker;
GORT_API gort_ticker *gort_ticker_make(int64_t period);
GORT_API gort_chan *gort_ticker_chan(gort_ticker *t); /* borrowed */
GORT_API void gort_ticker_reset(gort_ticker *t, int64_t period);
GORT_API void gort_ticker_stop(gort_ticker *t);
GORT_API void gort_ticker_free(gort_ticker *t);

/* ======================================================================
 * Contexts: the cancellation tree
 * ====================================================================== */

/* Reference counted.  Every gort_ctx_with_* returns a new context holding
 * one reference, which the caller drops with gort_ctx_unref.  A child holds
 * a reference to its parent.  Dropping the last reference of a context
 * cancels it (so it detaches from its parent); a cancelled context is
 * detached from its parent at once, so long-lived parents do not collect
 * dead children.  All calls are thread-safe. */
typedef struct gort_ctx gort_ctx;

/* The root: never cancelled, no deadline, no values; ref/unref are no-ops. */
GORT_API gort_ctx *gort_ctx_background(void);
GORT_API gort_ctx *gort_ctx_with_cancel(gort_ctx *parent);
/* deadline is an absolute gort_now() time. */
GORT_API gort_ctx *gort_ctx_with_deadline(gort_ctx *parent, int64_t deadline);
GORT_API gort_ctx *gort_ctx_with_timeout(gort_ctx *parent, int64_t timeout);
/* key is compared by address; value is borrowed (the caller keeps it alive). */
GORT_API gort_ctx *gort_ctx_with_value(gort_ctx *parent, const void *key, void *value);
GORT_API gort_ctx *gort_ctx_ref(gort_ctx *ctx);
GORT_API void gort_ctx_unref(gort_ctx *ctx); /* NULL is a no-op */

/* Cancels ctx and all its descendants, each exactly once; later calls do
 * nothing and return 0.  Background and value contexts have no cancel of
 * their own (as in Go): cancelling one returns -EINVAL. */
GORT_API int gort_ctx_cancel(gort_ctx *ctx);
/* A channel closed when ctx is cancelled (borrowed: valid while ctx is);
 * NULL (never ready) for contexts that can never be cancelled. */
GORT_API gort_chan *gort_ctx_done(gort_ctx *ctx);
/* 0 while not cancelled, then -ECANCELED or -ETIMEDOUT (deadline exceeded). */
GORT_API int gort_ctx_err(gort_ctx *ctx);
/* The value stored under key by ctx or its nearest ancestor, or NULL. */
GORT_API void *gort_ctx_value(gort_ctx *ctx, const void *key);
/* True and *ret set if ctx or an ancestor has a deadline (the earliest). */
GORT_API bool gort_ctx_deadline(gort_ctx *ctx, int64_t *ret);

#ifdef __cplusplus
}
#endif
#endif /* GORT_H */
