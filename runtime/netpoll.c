/* netpoll.c — the netpoller: goroutine-aware read, write, accept, connect
 * and readiness waits on non-blocking descriptors (gort_fd_*, gort.h).
 *
 * Shape (Go's netpoll_epoll.go and pollDesc, in C).  Each registered
 * descriptor has a descriptor record (struct gort_fd) from a table that
 * only grows: chunks of CHUNK records, never freed while the process
 * lives, recycled through a LIFO free list.  The fd is added to the
 * runtime's one epoll instance (S.epfd, owned by sched.c) once, edge
 * triggered for both directions, with epoll data = generation << 32 |
 * GORT__NETPOLL_TAG | table index.  The generation changes at every open
 * and close, so an event fetched by epoll_wait before a close and
 * dispatched after it (or after the record was reused for another fd)
 * finds a different generation and is ignored; the record itself is never
 * freed, so the lookup is always memory-safe.
 *
 * Who polls (sched.c): the idle "poller" worker sleeps in epoll_pwait2
 * until the next timer deadline and dispatches what it gets
 * (gort__netpoll_event); a worker between goroutines polls without
 * blocking (gort__netpoll_poll_nb) when no worker sleeps in epoll, so
 * ready goroutines are not left behind busy workers.
 *
 * Waiting.  Per direction (read, write) a record keeps seq, the number of
 * events seen, and a list of waiters.  An operation reads seq, tries its
 * system call, and on EAGAIN waits until seq differs from what it read
 * (pd_wait): an edge between the read of seq and the wait is never lost.
 * A waiter (io_waiter, on the goroutine's stack) is woken exactly once, by
 * whoever dequeues it under the record's lock: an event (result 0), its
 * deadline timer (-ETIMEDOUT), gort_fd_close (-EBADF), or the goroutine
 * itself when its context is cancelled.  Two ways to sleep:
 *  - direct (no context, or one that can never be cancelled): gort__park
 *    with the record's lock released by the commit; a waker calls
 *    gort__ready;
 *  - with a context: the goroutine selects on the context's done channel
 *    and on a private token channel (capacity 1, cached per direction); a
 *    waker sends one token.  If the context wins, the goroutine dequeues
 *    itself, or, if a waker already has, receives that waker's token, so
 *    no token is ever left behind and no waker touches a returned frame.
 * A deadline is a gort__timer in the waiter, started before the record's
 * lock is released and stopped (waiting for a running callback) before the
 * waiter returns.  While it waits, a goroutine holds the runtime
 * (gort__hold), so deadlock detection does not fire.
 *
 * Closing.  refs counts the open handle and the calls in progress between
 * op_begin and op_end.  gort_fd_close clears open, bumps the generation,
 * wakes every waiter with -EBADF and drops the handle's reference; whoever
 * drops the last one unregisters and closes the fd, so no call ever makes
 * a system call on a descriptor number that was closed (and maybe reused).
 *
 * Locking.  rec->lock (spinlock) guards open, gen, refs, seq and the
 * waiter lists; it is held for a few dozen instructions (plus, in the park
 * commit, arming the deadline timer: lock order rec->lock -> timer heap).
 * Waiters are woken after it is released.  T.mu (a mutex, never held by
 * wakers) guards the free list and table growth.
 *
 * Rejected: Go's per-descriptor deadlines (one per direction, set ahead
 * of calls) — a deadline per call is what C callers pass, and a timer on
 * the waiter's stack costs no allocation; a goroutine per context wait
 * (jbenet/goprocess#19 shows the cost); a cancel hook inside context.c
 * (it would need a lock order between contexts and descriptor records);
 * one waiter per direction (Go's rg/wg): several acceptors on one
 * listener, or many goroutines waiting on one descriptor, are legitimate.
 *
 * errno: after a failed system call it is read through gort__errno() (a
 * call the compiler cannot fold), since these loops park and may resume on
 * another worker, and errno's address may be kept across the park.
 *
 * From sched_impl.h this file reads only S.epfd and S.running/stopping: the
 * netpoller is the scheduler's I/O half, the epoll instance is the one its
 * idle worker sleeps in.
 */
#include "sched_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define S gort__S
#define CHUNK_SHIFT 10
#define CHUNK (1u << CHUNK_SHIFT)
#define MAX_CHUNKS 4096 /* 4 Mi records, far above any RLIMIT_NOFILE here */

enum { DIR_R = 0, DIR_W = 1, NDIR = 2 };

typedef struct io_waiter {
	gort__g *g;                      /* direct mode: the parked goroutine */
	gort_chan *token;                /* context mode: where the waker sends */
	struct io_waiter *next[NDIR];    /* links in each direction's list */
	struct io_waiter *prev[NDIR];
	struct io_waiter *wake_next;     /* the waker's private chain */
	gort_fd *rec;
	uint32_t queued;                 /* bit per direction it is listed in */
	int result;                      /* set by the waker that dequeued it */
	gort__timer timer;               /* deadline, if any */
} io_waiter;

typedef struct io_dir {
	uint32_t seq;                    /* events seen (atomic reads) */
	io_waiter *head, *tail;          /* waiters, FIFO */
	gort_chan *_Atomic token_cache;  /* one idle token channel */
} io_dir;

struct gort_fd {
	uint32_t lock;
	uint32_t gen;        /* changes at open and close */
	uint32_t index;      /* in the table; immutable */
	int fd;
	bool open;           /* between open and close */
	bool sock;           /* a socket: writes use send(MSG_NOSIGNAL) */
	uint32_t refs;       /* open handle + calls in progress */
	io_dir dir[NDIR];
	gort_fd *free_next;  /* free list (T.mu) */
} __attribute__((aligned(64)));

static struct {
	pthread_mutex_t mu;
	gort_fd *free;
	uint32_t n;                         /* records handed out so far */
	gort_fd *_Atomic chunks[MAX_CHUNKS];
} T = {.mu = PTHREAD_MUTEX_INITIALIZER};

static _Atomic int64_t nwaiters; /* goroutines queued on any record */

#if defined(__clang__)
#define NOIPA __attribute__((noinline))
#else
#define NOIPA __attribute__((noinline, noipa))
#endif

NOIPA int gort__errno(void)
{
	return errno;
}

/* ----------------------------------------------------------------------
 * The record table
 * ---------------------------------------------------------------------- */

static gort_fd *rec_lookup(uint32_t index)
{
	if ((index >> CHUNK_SHIFT) >= MAX_CHUNKS)
		return NULL;
	gort_fd *chunk = atomic_load_explicit(&T.chunks[index >> CHUNK_SHIFT], memory_order_acquire);
	return chunk ? &chunk[index & (CHUNK - 1)] : NULL;
}

/* T.mu held.  Grows the table by one chunk, all on the free list. */
static int table_grow_locked(void)
{
	uint32_t c = T.n >> CHUNK_SHIFT;
	if (c >= MAX_CHUNKS)
		return -EMFILE;
	gort_fd *chunk = aligned_alloc(64, CHUNK * sizeof *chunk);
	if (!chunk)
		return -ENOMEM;
	memset(chunk, 0, CHUNK * sizeof *chunk);
	for (uint32_t i = CHUNK; i-- > 0;) {
		chunk[i].index = T.n + i;
		chunk[i].fd = -1;
		chunk[i].free_next = T.free;
		T.free = &chunk[i];
	}
	T.n += CHUNK;
	atomic_store_explicit(&T.chunks[c], chunk, memory_order_release);
	return 0;
}

static gort_fd *rec_alloc(int *err)
{
	pthread_mutex_lock(&T.mu);
	gort_fd *r = NULL;
	if (!T.free && (*err = table_grow_locked()) < 0) {
		pthread_mutex_unlock(&T.mu);
		return NULL;
	}
	r = T.free;
	T.free = r->free_next;
	pthread_mutex_unlock(&T.mu);
	return r;
}

static void rec_free(gort_fd *r)
{
	pthread_mutex_lock(&T.mu);
	r->free_next = T.free;
	T.free = r;
	pthread_mutex_unlock(&T.mu);
}

static uint64_t rec_data(const gort_fd *r)
{
	return (uint64_t)r->gen << 32 | GORT__NETPOLL_TAG | r->index;
}

/* ----------------------------------------------------------------------
 * Waiter lists (rec->lock held)
 * ---------------------------------------------------------------------- */

static void list_push(io_dir *d, io_waiter *w, int dir)
{
	w->next[dir] = NULL;
	w->prev[dir] = d->tail;
	if (d->tail)
		d->tail->next[dir] = w;
	else
		d->head = w;
	d->tail = w;
	w->queued |= 1u << dir;
}

static void list_remove(io_dir *d, io_waiter *w, int dir)
{
	if (w->prev[dir])
		w->prev[dir]->next[dir] = w->next[dir];
	else
		d->head = w->next[dir];
	if (w->next[dir])
		w->next[dir]->prev[dir] = w->prev[dir];
	else
		d->tail = w->prev[dir];
	w->queued &= ~(1u << dir);
}

/* Dequeues w from every list it is in, for waking with result. */
static void waiter_take(gort_fd *r, io_waiter *w, int result)
{
	for (int d = 0; d < NDIR; d++)
		if (w->queued & (1u << d))
			list_remove(&r->dir[d], w, d);
	w->result = result;
	atomic_fetch_sub_explicit(&nwaiters, 1, memory_order_relaxed);
}

/* Moves every waiter of direction dir onto *chain with result. */
static void take_all(gort_fd *r, int dir, int result, io_waiter **chain)
{
	io_waiter *w;
	while ((w = r->dir[dir].head)) {
		waiter_take(r, w, result);
		w->wake_next = *chain;
		*chain = w;
	}
}

/* Wakes a dequeued waiter; w must not be touched afterwards. */
static void waiter_wake(io_waiter *w)
{
	gort_chan *tok = w->token;
	if (!tok) {
		gort__ready(w->g);
		return;
	}
	gort_chan_ref(tok);
	if (gort_chan_try_send(tok, NULL) != 0)
		gort__fatal("netpoll: a waiter's token channel is full");
	gort_chan_unref(tok);
}

static void wake_chain(io_waiter *w)
{
	while (w) {
		io_waiter *next = w->wake_next;
		waiter_wake(w);
		w = next;
	}
}

/* ----------------------------------------------------------------------
 * Events, polling, teardown (called by sched.c)
 * ---------------------------------------------------------------------- */

void gort__netpoll_event(uint64_t data, uint32_t events)
{
	gort_fd *r = rec_lookup((uint32_t)data & ~GORT__NETPOLL_TAG);
	if (!r)
		return;
	io_waiter *chain = NULL;
	gort__spin_lock(&r->lock);
	if (r->gen != (uint32_t)(data >> 32) || !r->open) {
		gort__spin_unlock(&r->lock); /* stale: closed or reused since */
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		__atomic_store_n(&r->dir[DIR_R].seq, r->dir[DIR_R].seq + 1, __ATOMIC_RELEASE);
		take_all(r, DIR_R, 0, &chain);
	}
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
		__atomic_store_n(&r->dir[DIR_W].seq, r->dir[DIR_W].seq + 1, __ATOMIC_RELEASE);
		take_all(r, DIR_W, 0, &chain);
	}
	gort__spin_unlock(&r->lock);
	wake_chain(chain);
}

bool gort__netpoll_poll_nb(int epfd, int evfd)
{
	struct epoll_event ev[GORT__NETPOLL_BATCH];
	if (atomic_load_explicit(&nwaiters, memory_order_relaxed) <= 0)
		return false;
	int n = epoll_wait(epfd, ev, GORT__NETPOLL_BATCH, 0);
	bool any = false;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.fd == evfd)
			continue; /* the poller's wake-up: not ours to consume */
		gort__netpoll_event(ev[i].data.u64, ev[i].events);
		any = true;
	}
	return any;
}

static void rec_reset_locked(gort_fd *r)
{
	for (int d = 0; d < NDIR; d++) {
		r->dir[d].head = r->dir[d].tail = NULL;
		gort_chan_unref(atomic_exchange(&r->dir[d].token_cache, NULL));
	}
	r->gen++;
	r->open = false;
	r->refs = 0;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

void gort__netpoll_fini(void)
{
	pthread_mutex_lock(&T.mu);
	T.free = NULL;
	for (uint32_t i = T.n; i-- > 0;) {
		gort_fd *r = rec_lookup(i);
		gort__spin_lock(&r->lock);
		rec_reset_locked(r);
		gort__spin_unlock(&r->lock);
		r->free_next = T.free;
		T.free = r;
	}
	pthread_mutex_unlock(&T.mu);
	atomic_store(&nwaiters, 0);
}

/* ----------------------------------------------------------------------
 * Open, references, close
 * ---------------------------------------------------------------------- */

static bool runtime_up(void)
{
	if (atomic_load(&S.running) && !atomic_load(&S.stopping))
		return true;
	errno = ESRCH;
	return false;
}

static gort_fd *fd_register(int fd, bool sock)
{
	if (!runtime_up())
		return NULL;
	int err = 0;
	gort_fd *r = rec_alloc(&err);
	if (!r) {
		errno = -err;
		return NULL;
	}
	gort__spin_lock(&r->lock);
	r->gen++;
	r->fd = fd;
	r->refs = 1;
	r->open = true;
	r->sock = sock;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
	                         .data.u64 = rec_data(r)};
	gort__spin_unlock(&r->lock);
	if (epoll_ctl(S.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = gort__errno(); /* inlined into callers that park */
		gort__spin_lock(&r->lock);
		r->open = false;
		r->refs = 0;
		r->fd = -1;
		r->gen++;
		gort__spin_unlock(&r->lock);
		rec_free(r);
		errno = e;
		return NULL;
	}
	return r;
}

gort_fd *gort_fd_open(int fd)
{
	struct stat st;
	if (!runtime_up() || fstat(fd, &st) < 0)
		return NULL;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		errno = EPERM;
		return NULL;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
		return NULL;
	return fd_register(fd, S_ISSOCK(st.st_mode));
}

gort_fd *gort__fd_open_nonblock(int fd)
{
	return fd_register(fd, false);
}

int gort_fd_fileno(const gort_fd *f)
{
	return f->fd;
}

/* The last reference is gone: unregister, close, recycle. */
static int rec_finish(gort_fd *r, int fd)
{
	epoll_ctl(S.epfd, EPOLL_CTL_DEL, fd, NULL); /* dup'ed fds keep no registration */
	int rc = close(fd) < 0 ? -gort__errno() : 0;
	if (rc == -EINTR)
		rc = 0; /* Linux closed it anyway */
	for (int d = 0; d < NDIR; d++)
		gort_chan_unref(atomic_exchange(&r->dir[d].token_cache, NULL));
	rec_free(r);
	return rc;
}

/* Drops one reference under the lock; returns the fd to close if it was
 * the last, else -1. */
static int rec_unref_locked(gort_fd *r)
{
	if (--r->refs)
		return -1;
	int fd = r->fd;
	r->fd = -1;
	return fd;
}

static int op_begin(gort_fd *r)
{
	gort__spin_lock(&r->lock);
	bool open = r->open;
	if (open)
		r->refs++;
	gort__spin_unlock(&r->lock);
	return open ? 0 : -EBADF;
}

static void op_end(gort_fd *r)
{
	gort__spin_lock(&r->lock);
	int fd = rec_unref_locked(r);
	gort__spin_unlock(&r->lock);
	if (fd >= 0)
		rec_finish(r, fd);
}

int gort_fd_close(gort_fd *f)
{
	io_waiter *chain = NULL;
	gort__spin_lock(&f->lock);
	if (!f->open) {
		gort__spin_unlock(&f->lock);
		gort__fatal("gort_fd_close: descriptor record %u is not open (closed twice?)",
		            f->index);
	}
	f->open = false;
	f->gen++; /* events fetched before this point are now stale */
	take_all(f, DIR_R, -EBADF, &chain);
	take_all(f, DIR_W, -EBADF, &chain);
	int fd = rec_unref_locked(f);
	gort__spin_unlock(&f->lock);
	wake_chain(chain);
	return fd >= 0 ? rec_finish(f, fd) : 0;
}

/* ----------------------------------------------------------------------
 * Waiting for an event
 * ---------------------------------------------------------------------- */

static void timeout_fire(gort__timer *t, int64_t now)
{
	(void)now;
	io_waiter *w = t->arg;
	gort_fd *r = w->rec;
	gort__spin_lock(&r->lock);
	bool mine = w->queued != 0;
	if (mine)
		waiter_take(r, w, -ETIMEDOUT);
	gort__spin_unlock(&r->lock);
	if (mine)
		waiter_wake(w);
}

static bool wait_commit(gort__g *g, void *arg)
{
	io_waiter *w = arg;
	w->g = g;
	if (w->timer.fn)
		gort__timer_start(&w->timer, w->timer.when);
	gort__spin_unlock(&w->rec->lock);
	return true;
}

static gort_chan *token_get(io_dir *d)
{
	gort_chan *c = atomic_exchange(&d->token_cache, NULL);
	return c ? c : gort_chan_make(0, 1);
}

static void token_put(io_dir *d, gort_chan *c)
{
	gort_chan *none = NULL;
	if (!atomic_compare_exchange_strong(&d->token_cache, &none, c))
		gort_chan_unref(c);
}

/* Context mode, after the waiter was queued and the lock released. */
static int wait_ctx(gort_fd *r, io_waiter *w, gort_chan *done, gort_ctx *ctx)
{
	gort_select_case cs[2] = {{done, GORT_SELECT_RECV, NULL, false},
	                          {w->token, GORT_SELECT_RECV, NULL, false}};
	if (gort_select(cs, 2, true) == 1)
		return w->result;
	gort__spin_lock(&r->lock);
	bool mine = w->queued != 0;
	if (mine)
		waiter_take(r, w, 0);
	gort__spin_unlock(&r->lock);
	if (!mine)
		gort_chan_recv(w->token, NULL); /* the waker's token, on its way */
	return gort_ctx_err(ctx);
}

/* Queues w on the directions of mask (lock held), arming its deadline. */
static void waiter_queue(gort_fd *r, io_waiter *w, uint32_t mask, int64_t deadline)
{
	w->rec = r;
	w->queued = 0;
	w->result = 0;
	w->timer = (gort__timer)GORT__TIMER_INIT;
	if (deadline) {
		w->timer.fn = timeout_fire;
		w->timer.arg = w;
		w->timer.when = deadline;
	}
	for (int d = 0; d < NDIR; d++)
		if (mask & (1u << d))
			list_push(&r->dir[d], w, d);
	atomic_fetch_add_explicit(&nwaiters, 1, memory_order_relaxed);
}

/* Lock held.  Whether a wait is needed: 0 yes, 1 an event came since the
 * snapshot, -EBADF closed, -ETIMEDOUT deadline already past. */
static int wait_check_locked(gort_fd *r, uint32_t mask, const uint32_t seen[NDIR],
                             int64_t deadline)
{
	if (!r->open)
		return -EBADF;
	for (int d = 0; d < NDIR; d++)
		if ((mask & (1u << d)) && r->dir[d].seq != seen[d])
			return 1;
	if (deadline && deadline <= gort__now())
		return -ETIMEDOUT;
	return 0;
}

/* Lock held (released here).  Queues w and sleeps until it is woken. */
static int wait_sleep(gort_fd *r, io_waiter *w, uint32_t mask, int64_t deadline, gort_chan *done,
                      gort_ctx *ctx)
{
	int res;
	waiter_queue(r, w, mask, deadline);
	gort__hold();
	if (done) {
		if (w->timer.fn)
			gort__timer_start(&w->timer, deadline);
		gort__spin_unlock(&r->lock);
		res = wait_ctx(r, w, done, ctx);
	} else {
		gort__park(wait_commit, w, GORT__WAIT_IO);
		res = w->result;
	}
	gort__release();
	if (w->timer.fn)
		gort__timer_stop(&w->timer);
	return res;
}

/* Waits until, for a direction d in mask, r->dir[d].seq differs from
 * seen[d]; the caller holds an op reference.  0, -EBADF (closed),
 * -ETIMEDOUT (deadline), gort_ctx_err(ctx) or -ENOMEM. */
static int pd_wait(gort_fd *r, uint32_t mask, const uint32_t seen[NDIR], int64_t deadline,
                   gort_ctx *ctx)
{
	gort_chan *done = ctx ? gort_ctx_done(ctx) : NULL;
	io_waiter w = {.token = NULL};
	int dtok = (mask & (1u << DIR_R)) ? DIR_R : DIR_W;
	if (done && !(w.token = token_get(&r->dir[dtok])))
		return -ENOMEM;
	gort__spin_lock(&r->lock);
	int res = wait_check_locked(r, mask, seen, deadline);
	if (res)
		gort__spin_unlock(&r->lock);
	else
		res = wait_sleep(r, &w, mask, deadline, done, ctx);
	if (w.token)
		token_put(&r->dir[dtok], w.token);
	return res > 0 ? 0 : res;
}

static void seq_snapshot(gort_fd *r, uint32_t seen[NDIR])
{
	for (int d = 0; d < NDIR; d++)
		seen[d] = __atomic_load_n(&r->dir[d].seq, __ATOMIC_ACQUIRE);
}

/* Entry check shared by every operation: an op reference, and a context
 * already cancelled fails at once. */
static int op_enter(gort_fd *f, gort_ctx *ctx)
{
	int e = ctx ? gort_ctx_err(ctx) : 0;
	if (e)
		return e;
	return op_begin(f);
}

/* ----------------------------------------------------------------------
 * Operations
 * ---------------------------------------------------------------------- */

/* After a system call failed with err: 0 to try again (EINTR, or EAGAIN
 * and then an event), else the negative errno to return. */
static int on_fail(gort_fd *f, int err, uint32_t mask, const uint32_t seen[NDIR],
                   int64_t deadline, gort_ctx *ctx)
{
	if (err == EINTR)
		return 0;
	return err == EAGAIN ? pd_wait(f, mask, seen, deadline, ctx) : -err;
}

ssize_t gort_fd_read(gort_fd *f, void *buf, size_t len, int64_t deadline, gort_ctx *ctx)
{
	int e = op_enter(f, ctx);
	if (e)
		return e;
	ssize_t n;
	do {
		uint32_t seen[NDIR];
		seq_snapshot(f, seen);
		if ((n = read(f->fd, buf, len)) >= 0)
			break;
		e = on_fail(f, gort__errno(), 1u << DIR_R, seen, deadline, ctx);
	} while (!e);
	op_end(f);
	return n >= 0 ? n : e;
}

ssize_t gort_fd_write(gort_fd *f, const void *buf, size_t len, int64_t deadline, gort_ctx *ctx)
{
	int e = op_enter(f, ctx);
	if (e)
		return e;
	size_t done = 0;
	do {
		uint32_t seen[NDIR];
		seq_snapshot(f, seen);
		const char *p = (const char *)buf + done;
		ssize_t n = f->sock ? send(f->fd, p, len - done, MSG_NOSIGNAL) : write(f->fd, p, len - done);
		if (n >= 0)
			done += (size_t)n;
		else
			e = on_fail(f, gort__errno(), 1u << DIR_W, seen, deadline, ctx);
	} while (e == 0 && done < len);
	op_end(f);
	return done || !e ? (ssize_t)done : e;
}

int gort_fd_accept(gort_fd *f, gort_fd **ret_conn, struct sockaddr *addr, socklen_t *addrlen,
                   int64_t deadline, gort_ctx *ctx)
{
	int e = op_enter(f, ctx);
	if (e)
		return e;
	int c;
	do {
		uint32_t seen[NDIR];
		seq_snapshot(f, seen);
		if ((c = accept4(f->fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
			break;
		int err = gort__errno();
		e = err == ECONNABORTED ? 0 : on_fail(f, err, 1u << DIR_R, seen, deadline, ctx);
	} while (!e);
	op_end(f);
	if (e)
		return e;
	gort_fd *conn = fd_register(c, true);
	if (!conn) {
		e = -gort__errno();
		close(c);
		return e;
	}
	*ret_conn = conn;
	return 0;
}

/* After connect(2) said EINPROGRESS: waits for the outcome. */
static int connect_wait(gort_fd *f, const uint32_t first_seen[NDIR], int64_t deadline,
                        gort_ctx *ctx)
{
	uint32_t seen[NDIR] = {first_seen[0], first_seen[1]};
	for (;;) {
		int e = pd_wait(f, 1u << DIR_W, seen, deadline, ctx);
		if (e)
			return e;
		seq_snapshot(f, seen);
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			return -gort__errno();
		if (soerr && soerr != EINPROGRESS && soerr != EALREADY && soerr != EINTR)
			return -soerr;
		struct sockaddr_storage peer;
		socklen_t pl = sizeof peer;
		if (!soerr && getpeername(f->fd, (struct sockaddr *)&peer, &pl) == 0)
			return 0;
		int err = soerr ? 0 : gort__errno();
		if (err && err != ENOTCONN)
			return -err;
	}
}

int gort_fd_connect(gort_fd *f, const struct sockaddr *addr, socklen_t addrlen, int64_t deadline,
                    gort_ctx *ctx)
{
	int e = op_enter(f, ctx);
	if (e)
		return e;
	uint32_t seen[NDIR];
	seq_snapshot(f, seen);
	int err = connect(f->fd, addr, addrlen) == 0 ? 0 : gort__errno();
	if (err == EINPROGRESS || err == EINTR)
		e = connect_wait(f, seen, deadline, ctx);
	else
		e = -err;
	op_end(f);
	return e;
}

/* poll(2) once: the ready subset of events (GORT_FD_*), or -errno. */
static int ready_now(int fd, uint32_t events)
{
	struct pollfd p = {.fd = fd, .events = 0};
	if (events & GORT_FD_READ)
		p.events |= POLLIN | POLLRDHUP;
	if (events & GORT_FD_WRITE)
		p.events |= POLLOUT;
	int n;
	int err = 0;
	while ((n = poll(&p, 1, 0)) < 0 && (err = gort__errno()) == EINTR)
		;
	if (n < 0)
		return -err;
	if (p.revents & POLLNVAL)
		return -EBADF;
	int got = 0;
	if ((events & GORT_FD_READ) && (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)))
		got |= GORT_FD_READ;
	if ((events & GORT_FD_WRITE) && (p.revents & (POLLOUT | POLLHUP | POLLERR)))
		got |= GORT_FD_WRITE;
	return got;
}

int gort_fd_wait(gort_fd *f, uint32_t events, int64_t deadline, gort_ctx *ctx)
{
	if (!events || (events & ~(GORT_FD_READ | GORT_FD_WRITE)))
		return -EINVAL;
	int e = op_enter(f, ctx);
	if (e)
		return e;
	uint32_t mask = ((events & GORT_FD_READ) ? 1u << DIR_R : 0) |
	                ((events & GORT_FD_WRITE) ? 1u << DIR_W : 0);
	int got;
	for (;;) {
		uint32_t seen[NDIR];
		seq_snapshot(f, seen);
		if ((got = ready_now(f->fd, events)) != 0)
			break;
		if ((got = pd_wait(f, mask, seen, deadline, ctx)) < 0)
			break;
	}
	op_end(f);
	return got;
}

/* ----------------------------------------------------------------------
 * Test accessors
 * ---------------------------------------------------------------------- */

uint64_t gort__fd_epoll_data(gort_fd *f)
{
	gort__spin_lock(&f->lock);
	uint64_t d = rec_data(f);
	gort__spin_unlock(&f->lock);
	return d;
}

uint32_t gort__fd_events_seen(gort_fd *f, int dir)
{
	return __atomic_load_n(&f->dir[dir].seq, __ATOMIC_ACQUIRE);
}
