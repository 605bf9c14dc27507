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
 *    and restored across switches, but a compiler may keep errno's address
 *    across a call within one function (glibc's __errno_location is
 *    "const"): read errno before the next blocking call, not after it.
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
 * (file:line) is recorded for dumps.  Called on a goroutine, it may yield
 * (when half a run queue of goroutines waits on its worker: backpressure
 * for spawning loops), so it is a switch point like a blocking call. */
#define gort_go(fn, arg) gort__go((fn), (arg), NULL, __FILE__, __LINE__)
#define gort_go_with(fn, arg, opts) gort__go((fn), (arg), (opts), __FILE__, __LINE__)
GORT_API int64_t gort__go(void (*fn)(void *arg), void *arg, const gort_go_opts *opts,
                          const char *file, int line);

/* Lets other runnable goroutines run: the caller goes to the back of its
 * worker's run queue and stays runnable.  On a plain thread it returns at
 * once. */
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
	uint64_t context_switches;   /* switches into a goroutine */
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
 * blocked, spawn site) to fd; async-signal-safe.  SIGQUIT does the same to
 * stderr and the program goes on, if the program has not installed its own
 * SIGQUIT handler before gort_main. */
GORT_API void gort_dump(int fd);

/* ======================================================================
 * sync: WaitGroup, Mutex, RWMutex, Cond, Once, Pool, Semaphore
 *
 * Plain structs, embeddable by value, usable once zero-initialised or set
 * with the _INIT macro; they must not be moved or copied while in use.
 * None of them owns memory, so none needs a destroy call (the Pool frees
 * its cached items on gort_pool_destroy).  Semantics follow Go's sync
 * package; docs/runtime-sync.md lists the differences.
 * ====================================================================== */

/* A queue of parked goroutines (private). */
typedef struct gort__waitq {
	struct gort__waiter *head, *tail;
} gort__waitq;

/* A counting semaphore with FIFO waiters.  A release hands its unit
 * straight to the longest waiter, so a late acquirer never overtakes one
 * that is queued.  An initial count below 0 means that many releases must
 * come before anyone gets through. */
typedef struct gort_sema {
	int64_t count;       /* private: free units; > 0 only with no waiter */
	uint32_t lock;       /* private: spinlock over count and waiters */
	gort__waitq waiters; /* private */
} gort_sema;
#define GORT_SEMA_INIT(n) {(n), 0, {0, 0}}
/* Blocks until a unit is free and takes it. */
GORT_API void gort_sema_acquire(gort_sema *s);
/* Takes a unit if one is free now; never blocks. */
GORT_API bool gort_sema_try_acquire(gort_sema *s);
GORT_API void gort_sema_release(gort_sema *s);

/* Go's sync.Mutex: lock-free when uncontended (one compare-and-swap to
 * lock, one atomic add to unlock), a short spin then a park when contended,
 * and starvation mode: once a waiter has waited over 1 ms, unlock hands
 * ownership straight to the longest waiter (newcomers queue behind), until
 * the queue drains or a waiter got the lock within 1 ms. */
typedef struct gort_mutex {
	uint32_t state;      /* private: locked, woken, starving bits + waiters */
	gort_sema sema;      /* private: where waiters park */
} gort_mutex;
#define GORT_MUTEX_INIT {0, GORT_SEMA_INIT(0)}
/* Must run on a goroutine when the mutex is contended (it may park). */
GORT_API void gort_mutex_lock(gort_mutex *m);
GORT_API bool gort_mutex_trylock(gort_mutex *m);
/* Aborts if m is not locked.  As in Go, any goroutine or thread may
 * unlock.  In starvation mode the caller yields to the new owner. */
GORT_API void gort_mutex_unlock(gort_mutex *m);

/* Go's sync.RWMutex: any number of readers or one writer.  A writer that
 * is waiting blocks new readers, so a stream of readers cannot starve it;
 * hence a reader must not take the read lock twice (recursive read
 * locking can deadlock against a waiting writer, as in Go). */
typedef struct gort_rwmutex {
	gort_mutex w;            /* private: serialises writers */
	int32_t readers;         /* private: readers in or waiting; -2^30 while a writer holds/waits */
	int32_t readers_leaving; /* private: readers a waiting writer waits for */
	gort_sema rsem;          /* private: readers waiting for the writer */
	gort_sema wsem;          /* private: the writer waiting for readers */
} gort_rwmutex;
#define GORT_RWMUTEX_INIT {GORT_MUTEX_INIT, 0, 0, GORT_SEMA_INIT(0), GORT_SEMA_INIT(0)}
GORT_API void gort_rwmutex_rlock(gort_rwmutex *rw);
/* Aborts if no read lock is held. */
GORT_API void gort_rwmutex_runlock(gort_rwmutex *rw);
GORT_API void gort_rwmutex_lock(gort_rwmutex *rw);
/* Aborts if the write lock is not held. */
GORT_API void gort_rwmutex_unlock(gort_rwmutex *rw);

typedef struct gort_cond {
	gort_mutex *L;   /* the mutex held around wait; set by GORT_COND_INIT */
	uint32_t lock;   /* private: spinlock over waiters */
	gort__waitq waiters; /* private: FIFO */
} gort_cond;
#define GORT_COND_INIT(mutexp) {(mutexp), 0, {0, 0}}
/* Atomically unlocks c->L and parks; locks c->L again before returning.
 * As in Go, a wake-up may come without the condition holding: loop.  The
 * caller must hold c->L (checked only as far as unlocking it aborts when
 * it is not locked). */
GORT_API void gort_cond_wait(gort_cond *c);
/* Wakes the longest waiter, if any.  Holding c->L is allowed, not needed. */
GORT_API void gort_cond_signal(gort_cond *c);
/* Wakes every goroutine waiting at the time of the call. */
GORT_API void gort_cond_broadcast(gort_cond *c);

typedef struct gort_waitgroup {
	int64_t count;   /* private */
	uint32_t lock;   /* private: spinlock over count and waiters */
	gort__waitq waiters; /* private */
} gort_waitgroup;
#define GORT_WAITGROUP_INIT {0, 0, {0, 0}}
/* Aborts if the counter goes negative.  When it reaches 0 every waiter is
 * released; the group may then be reused for another round. */
GORT_API void gort_waitgroup_add(gort_waitgroup *wg, int64_t delta);
GORT_API void gort_waitgroup_done(gort_waitgroup *wg);
/* Returns at once if the counter is 0; must run on a goroutine. */
GORT_API void gort_waitgroup_wait(gort_waitgroup *wg);

typedef struct gort_once {
	uint32_t done;  /* private: set (release) after fn returned */
	gort_mutex m;   /* private: held while fn runs */
} gort_once;
#define GORT_ONCE_INIT {0, GORT_MUTEX_INIT}
/* Runs fn(arg) if no call on this once has run it; every caller returns
 * only after it has completed.  fn must return: if it ends its goroutine
 * (gort_exit), the once stays locked and later callers block forever. */
GORT_API void gort_once_do(gort_once *o, void (*fn)(void *arg), void *arg);

/* A cache of reusable objects with per-worker lists (no lock on the fast
 * path).  Unlike Go's sync.Pool, items are never dropped by a garbage
 * collector: each worker keeps at most per_worker_max items, and a shared
 * overflow list (which also serves threads outside the runtime) at most
 * per_worker_max more; beyond that put() passes the item to free_fn.
 * new_fn may be NULL (get then returns NULL when nothing is cached);
 * free_fn may be NULL (items beyond the bound are then just dropped).
 * NULL with errno EINVAL (per_worker_max 0) or ENOMEM on failure. */
typedef struct gort_pool gort_pool;
GORT_API gort_pool *gort_pool_new(void *(*new_fn)(void *arg), void (*free_fn)(void *item, void *arg),
                                  void *arg, size_t per_worker_max);
/* A cached item, or new_fn(arg) when none is cached (NULL if that fails). */
GORT_API void *gort_pool_get(gort_pool *p);
/* put(NULL) does nothing, as in Go. */
GORT_API void gort_pool_put(gort_pool *p, void *item);
/* Frees every cached item with free_fn, then the pool.  No other call on
 * p may be running or follow.  NULL is a no-op. */
GORT_API void gort_pool_destroy(gort_pool *p);

/* ======================================================================
 * Channels and select
 * ====================================================================== */

/* A channel of fixed-size elements copied by value, with reference-counted
 * lifetime: gort_chan_make returns one reference; the channel is freed when
 * the last is dropped.  A NULL channel is Go's nil channel: operations on it
 * block forever and it is never ready in a select. */
typedef struct gort_chan gort_chan;

/* elem_size may be 0 (signal-only channels); cap 0 is a rendezvous channel,
 * at most UINT32_MAX.  NULL with errno ENOMEM/EINVAL on failure. */
GORT_API gort_chan *gort_chan_make(size_t elem_size, size_t cap);
GORT_API gort_chan *gort_chan_ref(gort_chan *c);
/* NULL is a no-op.  Dropping the last reference while goroutines are
 * blocked on the channel is a bug and aborts. */
GORT_API void gort_chan_unref(gort_chan *c);

/* Blocks until a receiver takes the value (cap 0) or it is buffered.
 * Sending on a closed channel aborts; so does a NULL elem unless the
 * element size is 0. */
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
 * ready.  n may be 0: blocks forever (or -EAGAIN).  A send case on a closed
 * channel aborts, as gort_chan_send does.  -EINVAL if n > 65536, cases is
 * NULL with n > 0, a dir is invalid or a send case has a NULL elem for a
 * non-zero element size; -ENOMEM if n > 32 and no scratch memory can be
 * had (up to 32 cases it lives on the stack). */
GORT_API int gort_select(gort_select_case *cases, size_t n, bool block);

/* ======================================================================
 * Time and timers
 * ====================================================================== */

#define GORT_MICROSECOND ((int64_t)1000)
#define GORT_MILLISECOND ((int64_t)1000000)
#define GORT_SECOND ((int64_t)1000000000)

/* Durations are nanoseconds; a deadline d past INT64_MAX saturates ("never").
 * Every timer runs on the runtime's one timer heap (O(log n) to arm or stop,
 * nothing per pending timer while idle: idle workers sleep until the
 * earliest deadline).  The calls below never block, except gort_sleep, and
 * may be made from any thread; stop/reset/free may spin briefly while the
 * timer's firing is in progress on another worker.  docs/runtime-context.md
 * has the details. */

/* CLOCK_MONOTONIC in nanoseconds. */
GORT_API int64_t gort_now(void);
/* Parks the calling goroutine for at least ns nanoseconds (returns at once
 * for ns <= 0, as Go's time.Sleep).  Must run on a goroutine. */
GORT_API void gort_sleep(int64_t ns);

/* A one-shot timer (Go's time.Timer): d nanoseconds after it is armed
 * (d <= 0: at once) its channel (capacity 1, int64_t elements) receives the
 * gort_now() of the firing, unless a value is still waiting there. */
typedef struct gort_timer gort_timer;
GORT_API gort_timer *gort_timer_make(int64_t d); /* NULL + errno ENOMEM on failure */
GORT_API gort_chan *gort_timer_chan(gort_timer *t); /* borrowed */
/* Returns true if the call stopped the timer, false if it had already
 * fired or been stopped.  When it returns, the firing is complete: false
 * means the value is in the channel (unless already received).  As in Go,
 * a value already in the channel stays: drain it before reusing. */
GORT_API bool gort_timer_stop(gort_timer *t);
/* Re-arms the timer to fire d from now (also after it fired or was
 * stopped); returns true if it was pending.  A stale value stays, as above. */
GORT_API bool gort_timer_reset(gort_timer *t, int64_t d);
/* Stops the timer and frees it with its channel reference (holders of
 * their own gort_chan_ref keep the channel).  NULL is a no-op. */
GORT_API void gort_timer_free(gort_timer *t);

/* A channel that receives once, d nanoseconds from now (Go's time.After).
 * The caller owns one reference; the pending timer holds another, and its
 * memory, until it fires (Go before 1.23): prefer gort_timer for long
 * timeouts that are often abandoned.  One still pending when gort_main
 * returns never fires; it is freed at process exit.  NULL + errno ENOMEM. */
GORT_API gort_chan *gort_after(int64_t d);

/* A ticker (Go's time.Ticker): its channel (capacity 1) receives the time
 * every period; ticks are dropped while the channel is full, and missed
 * periods are skipped, not bunched.  make: NULL + errno EINVAL (period
 * <= 0) or ENOMEM.  reset restarts it, stopped or not, with a new period
 * (aborts if period <= 0, as Go panics).  After stop returns no further
 * tick is sent; a tick already in the channel stays.  free stops, then
 * frees (NULL is a no-op). */
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
 * one reference, which the caller drops with gort_ctx_unref; they return
 * NULL + errno EINVAL (NULL parent, NULL key) or ENOMEM.  A child holds a
 * reference to its parent, so a parent lives while it has children; a
 * pending deadline holds none.  Dropping the last reference of a context
 * cancels it (so it detaches from its parent and its done channel closes
 * for anyone holding a reference to that channel); a cancelled context is
 * detached from its parent at once, so long-lived parents do not collect
 * dead children.  All calls are thread-safe and never block: cancel,
 * unref and deadlines may fire from any goroutine or plain thread, any
 * number at once.  docs/runtime-context.md has the rules. */
typedef struct gort_ctx gort_ctx;

/* The root: never cancelled, no deadline, no values; ref/unref are no-ops. */
GORT_API gort_ctx *gort_ctx_background(void);
/* A child cancelled by gort_ctx_cancel or with its parent; born cancelled
 * (with the parent's error) if the parent already is. */
GORT_API gort_ctx *gort_ctx_with_cancel(gort_ctx *parent);
/* As with_cancel, also cancelled with -ETIMEDOUT at deadline, an absolute
 * gort_now() time.  A deadline not before the parent's is the parent's (the
 * child behaves as with_cancel); one already past cancels it at once. */
GORT_API gort_ctx *gort_ctx_with_deadline(gort_ctx *parent, int64_t deadline);
GORT_API gort_ctx *gort_ctx_with_timeout(gort_ctx *parent, int64_t timeout);
/* key is compared by address; value is borrowed (the caller keeps it alive).
 * Cancelled with its parent: done and err are those of its nearest
 * cancellable ancestor. */
GORT_API gort_ctx *gort_ctx_with_value(gort_ctx *parent, const void *key, void *value);
GORT_API gort_ctx *gort_ctx_ref(gort_ctx *ctx);
GORT_API void gort_ctx_unref(gort_ctx *ctx); /* NULL is a no-op */

/* Cancels ctx and all its descendants, each exactly once; later calls do
 * nothing and return 0.  Background and value contexts have no cancel of
 * their own (as in Go): cancelling one (or NULL) returns -EINVAL. */
GORT_API int gort_ctx_cancel(gort_ctx *ctx);
/* A channel (elem_size 0) closed when ctx is cancelled, usable in any
 * select.  Borrowed: valid while a reference to ctx is held (take a
 * gort_chan_ref to keep it longer).  NULL (never ready) for contexts that
 * can never be cancelled. */
GORT_API gort_chan *gort_ctx_done(gort_ctx *ctx);
/* 0 while not cancelled, then -ECANCELED or -ETIMEDOUT (deadline exceeded,
 * its own or an ancestor's); it never changes again. */
GORT_API int gort_ctx_err(gort_ctx *ctx);
/* The value stored under key by ctx or its nearest ancestor, or NULL. */
GORT_API void *gort_ctx_value(gort_ctx *ctx, const void *key);
/* True and *ret set if ctx or an ancestor has a deadline (the earliest). */
GORT_API bool gort_ctx_deadline(gort_ctx *ctx, int64_t *ret);

/* ======================================================================
 * Netpoller, blocking work, processes (docs/runtime-io.md)
 * ====================================================================== */
#include <sys/socket.h>
#include <sys/types.h>

/* A file descriptor registered with the runtime's netpoller (epoll, edge
 * triggered, once).  Operations on it park the calling goroutine instead of
 * blocking its worker.  Each blocking call takes:
 *   deadline  an absolute gort_now() time, or GORT_DEADLINE_NONE (0);
 *             past it a call that would block returns -ETIMEDOUT;
 *   ctx       NULL, or a context: once it is cancelled the call returns
 *             gort_ctx_err(ctx) (-ECANCELED, or -ETIMEDOUT for a context
 *             deadline), also when it is cancelled before the call.
 * After gort_fd_close every call in progress on the handle returns -EBADF.
 * Any number of goroutines may wait on one handle (e.g. several
 * acceptors); an event wakes every waiter of its direction.  Handles belong
 * to one run of gort_main: those still open when it returns are closed. */
typedef struct gort_fd gort_fd;

#define GORT_DEADLINE_NONE ((int64_t)0)
#define GORT_FD_READ 0x1u  /* readable, or hang-up / error */
#define GORT_FD_WRITE 0x2u /* writable, or error */

/* Takes ownership of fd (closed by gort_fd_close), switches it to
 * O_NONBLOCK and registers it.  NULL + errno: ESRCH (runtime not running),
 * EPERM (a regular file or directory: use gort_blocking_call for those),
 * EBADF, ENOMEM, or epoll_ctl's error.  On failure fd stays the caller's
 * (it may have been switched to O_NONBLOCK). */
GORT_API gort_fd *gort_fd_open(int fd);
/* The descriptor number (valid until gort_fd_close). */
GORT_API int gort_fd_fileno(const gort_fd *f);
/* Wakes every waiter with -EBADF, unregisters and closes the descriptor
 * (once no call on it is between its system call and its return: at
 * once, or when the last such call returns).  Any thread.  Returns 0, or
 * close(2)'s error when this call closed it.  The handle must not be used
 * afterwards; closing twice aborts. */
GORT_API int gort_fd_close(gort_fd *f);

/* read(2): > 0 bytes, 0 end of file, or a negative errno. */
GORT_API ssize_t gort_fd_read(gort_fd *f, void *buf, size_t len, int64_t deadline, gort_ctx *ctx);
/* Writes all len bytes (looping over partial writes).  Returns len, or,
 * when an error, the deadline or ctx cut it short, the count written so
 * far if any, else the negative errno.  On a socket whose peer is gone it
 * returns -EPIPE without raising SIGPIPE (send with MSG_NOSIGNAL); on a
 * pipe, write(2) raises SIGPIPE: ignore it to get -EPIPE. */
GORT_API ssize_t gort_fd_write(gort_fd *f, const void *buf, size_t len, int64_t deadline,
                               gort_ctx *ctx);
/* accept4(2) on a listening socket; the connection comes back registered
 * in *ret_conn (non-blocking, close-on-exec).  addr/addrlen as accept4's
 * (may be NULL).  0 or a negative errno (*ret_conn untouched). */
GORT_API int gort_fd_accept(gort_fd *f, gort_fd **ret_conn, struct sockaddr *addr,
                            socklen_t *addrlen, int64_t deadline, gort_ctx *ctx);
/* connect(2), waiting for the connection to complete: 0 or a negative
 * errno (SO_ERROR's, -ETIMEDOUT, -ECANCELED...).  A Unix socket whose
 * listener's backlog is full returns -EAGAIN at once, as connect(2) does
 * (Linux gives no readiness event for it): retry later. */
GORT_API int gort_fd_connect(gort_fd *f, const struct sockaddr *addr, socklen_t addrlen,
                             int64_t deadline, gort_ctx *ctx);
/* Waits until the descriptor is ready for one of events (GORT_FD_READ
 * and/or GORT_FD_WRITE): level semantics, as poll(2): returns at once if
 * it is ready now.  Returns the ready subset of events (> 0), or a
 * negative errno (-EINVAL for an empty or unknown mask). */
GORT_API int gort_fd_wait(gort_fd *f, uint32_t events, int64_t deadline, gort_ctx *ctx);

/* Runs fn(arg) on the blocking pool, a bounded set of OS threads apart
 * from the workers, while the calling goroutine parks; returns fn's result.
 * For anything that may block its thread: file I/O, getaddrinfo, fsync...
 * Threads start on demand up to the pool's limit and exit after idling;
 * calls beyond the limit wait in FIFO order.  fn runs on a plain thread: it
 * must not call blocking gort_ functions.  Called outside a goroutine, fn
 * runs inline.  If the pool has no thread and none can be started, fn runs
 * inline on the calling goroutine (its worker blocks). */
GORT_API intptr_t gort_blocking_call(intptr_t (*fn)(void *arg), void *arg);
#define GORT_BLOCKING_MAX_DEFAULT 16
#define GORT_BLOCKING_IDLE_DEFAULT (10 * GORT_SECOND)
/* Sets the pool's thread limit (1..1024; 0 keeps it) and how long an idle
 * thread lingers before exiting (> 0; 0 keeps it).  Any time, any thread;
 * threads above a lowered limit exit after their current call.  0 or
 * -EINVAL. */
GORT_API int gort_blocking_configure(int max_threads, int64_t idle_timeout);

/* Child processes: spawned with clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)
 * (never a fork of the runtime), waited for through their pidfd on the
 * netpoller by a small reaper goroutine, so every child is reaped even if
 * nobody waits for it.  docs/runtime-io.md has the details. */
typedef enum gort_stdio_mode {
	GORT_STDIO_INHERIT = 0, /* the caller's descriptor 0, 1 or 2 */
	GORT_STDIO_NULL,        /* /dev/null */
	GORT_STDIO_FD,          /* the descriptor in .fd (the caller keeps it) */
	GORT_STDIO_PIPE,        /* a pipe; the caller's end comes back as a gort_fd */
} gort_stdio_mode;

typedef struct gort_stdio {
	gort_stdio_mode mode;
	int fd; /* GORT_STDIO_FD only */
} gort_stdio;

#define GORT_PROC_GRACE_DEFAULT (5 * GORT_SECOND)

typedef struct gort_proc_opts {
	const char *path;        /* program; NULL: argv[0], looked up in $PATH
	                            when it has no '/' */
	char *const *argv;       /* NULL-terminated, argv[0] required */
	char *const *envp;       /* NULL: the caller's environ */
	const char *cwd;         /* NULL: the caller's; entered after set_ids,
	                            as the new identity */
	gort_stdio stdio[3];     /* stdin, stdout, stderr (zero: inherit) */
	bool set_ids;            /* run as uid/gid with groups (needs privilege) */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;     /* supplementary groups (ngroups of them) */
	size_t ngroups;
	bool new_pgroup;         /* the child leads a new process group, and
	                            signals from the runtime go to the group */
	bool keep_fds;           /* keep descriptors >= 3 that are not
	                            close-on-exec (default: closed in the child) */
	gort_ctx *ctx;           /* when cancelled: SIGTERM, then SIGKILL after
	                            kill_grace (a reference is held) */
	int64_t kill_grace;      /* 0: GORT_PROC_GRACE_DEFAULT; < 0: SIGKILL at once */
} gort_proc_opts;

typedef struct gort_proc gort_proc;

typedef struct gort_proc_status {
	int exit_code;    /* 0..255 if it exited, -1 if a signal ended it */
	int signal;       /* the terminating signal, 0 if it exited */
	bool core_dumped;
	int cancel_err;   /* 0, or gort_ctx_err of the spawn context when the
	                     runtime signalled the child because of it */
} gort_proc_status;

/* Starts a child.  On success *ret_proc is set and, for each stdio[i] in
 * PIPE mode, ret_pipes[i] (ret_pipes may be NULL when no pipe is asked
 * for; other entries are set to NULL) gets the caller's end: the child's
 * stdin for writing, stdout/stderr for reading; the caller closes them.
 * Must run on a goroutine.  Returns 0 or a negative errno: the exec's
 * (-ENOENT, -EACCES...), chdir's, setuid's..., -EINVAL for bad options,
 * -ENOMEM, -ESRCH if the runtime is stopping. */
GORT_API int gort_proc_spawn(const gort_proc_opts *opts, gort_proc **ret_proc,
                             gort_fd *ret_pipes[3]);
GORT_API pid_t gort_proc_pid(const gort_proc *p);
/* Waits until the child has exited and been reaped and fills *ret_status.
 * deadline and ctx bound the wait only (the child is not signalled for
 * them): 0, or -ETIMEDOUT / gort_ctx_err(ctx) with *ret_status untouched. */
GORT_API int gort_proc_wait(gort_proc *p, gort_proc_status *ret_status, int64_t deadline,
                            gort_ctx *ctx);
/* A channel closed once the child is reaped, for selects.  Borrowed: valid
 * until gort_proc_free. */
GORT_API gort_chan *gort_proc_done(gort_proc *p);
/* Sends sig to the child (its group with new_pgroup).  0, or -ESRCH once
 * it has been reaped. */
GORT_API int gort_proc_signal(gort_proc *p, int sig);
/* Drops the caller's handle (NULL: no-op).  A child still running is not
 * signalled: its reaper goroutine stays until it exits (cancel the spawn
 * context to end it). */
GORT_API void gort_proc_free(gort_proc *p);

#ifdef __cplusplus
}
#endif
#endif /* GORT_H */
