/* blocking.c — the blocking pool (gort_blocking_call): a bounded set of OS
 * threads, apart from the workers, that run functions which may block
 * their thread (file I/O, getaddrinfo...) while the calling goroutine is
 * parked.  Tokio's spawn_blocking, not Go's syscall hand-off.
 *
 * Flow.  The caller puts a job (on its own stack) in the park commit, so a
 * pool thread can only finish it — and gort__ready the caller — once the
 * caller is fully parked: to an idle thread directly (hand-off, LIFO, so
 * the most recently used threads stay warm and the others time out), else
 * to a new thread if fewer than P.max exist, else to the FIFO queue.  A
 * thread runs its job, readies the caller, then takes the queue's head or
 * goes idle; after idling P.idle_ns it exits.  A caller holds the runtime
 * (gort__hold) while parked.
 *
 * Teardown (gort__blocking_fini, when gort_main returns): jobs still
 * queued are dropped and running ones are orphaned (t->cur cleared), since
 * their goroutines' stacks are about to be freed.  A thread copies fn and
 * arg before running and, after, readies the caller only if t->cur still
 * names its job, under P.mu: it never touches an orphaned job.  Threads
 * outlive the run and exit when idle.
 *
 * Locking.  P.mu (a pthread mutex: pool threads block on their condition
 * variable under it) guards everything in P and every bthread's fields;
 * gort__ready is called under it (it takes only scheduler spinlocks).  It
 * is taken in park commits (on a worker's own stack), never across a park.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define MAX_LIMIT 1024

typedef struct bjob {
	intptr_t (*fn)(void *arg);
	void *arg;
	intptr_t result;
	gort__g *g;          /* the parked caller */
	bool taken;          /* a thread or the queue has it (else: run inline) */
	struct bjob *next;   /* queue link */
} bjob;

typedef struct bthread {
	pthread_cond_t cv;          /* signalled when job is handed over */
	bjob *job;                  /* handed over, not started */
	bjob *cur;                  /* running; NULL when orphaned */
	struct bthread *idle_next;  /* P.idle stack */
	struct bthread *all_next, **all_prev; /* P.all list */
	bool idle;
} bthread;

static struct {
	pthread_mutex_t mu;
	bjob *qhead, *qtail;  /* jobs waiting for a thread */
	bthread *idle;        /* idle threads, most recent first */
	bthread *all;         /* every thread */
	_Atomic int nthreads;
	int max;
	int64_t idle_ns;
} P = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.max = GORT_BLOCKING_MAX_DEFAULT,
	.idle_ns = GORT_BLOCKING_IDLE_DEFAULT,
};

int gort__blocking_threads(void)
{
	return atomic_load(&P.nthreads);
}

static bjob *queue_pop(void)
{
	bjob *j = P.qhead;
	if (j && !(P.qhead = j->next))
		P.qtail = NULL;
	return j;
}

static void queue_push(bjob *j)
{
	j->next = NULL;
	if (P.qtail)
		P.qtail->next = j;
	else
		P.qhead = j;
	P.qtail = j;
}

/* P.mu held.  Runs j with the lock dropped, then readies its caller unless
 * the job was orphaned meanwhile. */
static void run_job(bthread *t, bjob *j)
{
	intptr_t (*fn)(void *) = j->fn;
	void *arg = j->arg;
	t->cur = j;
	pthread_mutex_unlock(&P.mu);
	intptr_t r = fn(arg);
	pthread_mutex_lock(&P.mu);
	if (t->cur == j) {
		j->result = r;
		gort__ready(j->g);
	}
	t->cur = NULL;
}

/* P.mu held.  Idles on t->cv; false once it should exit (idle too long,
 * or the limit was lowered below the thread count). */
static bool idle_wait(bthread *t)
{
	if (atomic_load(&P.nthreads) > P.max)
		return false;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t end = (int64_t)ts.tv_sec * GORT_SECOND + ts.tv_nsec + P.idle_ns;
	ts.tv_sec = end / GORT_SECOND;
	ts.tv_nsec = end % GORT_SECOND;
	t->idle = true;
	t->idle_next = P.idle;
	P.idle = t;
	int rc = 0;
	while (!t->job && rc != ETIMEDOUT && atomic_load(&P.nthreads) <= P.max)
		rc = pthread_cond_timedwait(&t->cv, &P.mu, &ts);
	if (t->idle) { /* not handed a job: take itself off the idle stack */
		for (bthread **p = &P.idle; *p; p = &(*p)->idle_next)
			if (*p == t) {
				*p = t->idle_next;
				break;
			}
		t->idle = false;
	}
	return t->job != NULL;
}

static void *pool_thread(void *p)
{
	bthread *t = p;
	pthread_mutex_lock(&P.mu);
	for (;;) {
		bjob *j = t->job;
		t->job = NULL;
		if (!j)
			j = queue_pop();
		if (j) {
			run_job(t, j);
			continue;
		}
		if (!idle_wait(t))
			break;
	}
	atomic_fetch_sub(&P.nthreads, 1);
	if ((*t->all_prev = t->all_next))
		t->all_next->all_prev = t->all_prev;
	pthread_mutex_unlock(&P.mu);
	pthread_cond_destroy(&t->cv);
	free(t);
	return NULL;
}

/* P.mu held.  A new thread record, listed in P.all, or NULL. */
static bthread *thread_new(void)
{
	bthread *t = calloc(1, sizeof *t);
	pthread_condattr_t ca;
	if (!t || pthread_condattr_init(&ca)) {
		free(t);
		return NULL;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc) {
		free(t);
		return NULL;
	}
	if ((t->all_next = P.all))
		P.all->all_prev = &t->all_next;
	t->all_prev = &P.all;
	P.all = t;
	atomic_fetch_add(&P.nthreads, 1);
	return t;
}

/* P.mu held.  Starts a thread whose first job is j; false on failure. */
static bool thread_start(bjob *j)
{
	bthread *t = thread_new();
	if (!t)
		return false;
	t->job = j;
	pthread_attr_t attr;
	pthread_t th;
	int rc = pthread_attr_init(&attr);
	if (!rc) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&th, &attr, pool_thread, t);
		pthread_attr_destroy(&attr);
	}
	if (!rc) {
		pthread_setname_np(th, "gort-blocking");
		return true;
	}
	atomic_fetch_sub(&P.nthreads, 1);
	if ((*t->all_prev = t->all_next))
		t->all_next->all_prev = t->all_prev;
	pthread_cond_destroy(&t->cv);
	free(t);
	return false;
}

/* Park commit: hands the job over; false (run inline) if no thread exists
 * and none can be started. */
static bool submit_commit(gort__g *g, void *arg)
{
	bjob *j = arg;
	j->g = g;
	j->taken = true; /* j must not be read after the unlock: it may be gone */
	pthread_mutex_lock(&P.mu);
	bthread *t = P.idle;
	if (t) {
		P.idle = t->idle_next;
		t->idle = false;
		t->job = j;
		pthread_cond_signal(&t->cv);
	} else if (atomic_load(&P.nthreads) >= P.max || !thread_start(j)) {
		if (atomic_load(&P.nthreads) > 0)
			queue_push(j);
		else
			j->taken = false;
	}
	bool taken = j->taken;
	pthread_mutex_unlock(&P.mu);
	return taken;
}

intptr_t gort_blocking_call(intptr_t (*fn)(void *arg), void *arg)
{
	if (!gort__self())
		return fn(arg);
	bjob j = {.fn = fn, .arg = arg};
	gort__hold();
	gort__park(submit_commit, &j, GORT__WAIT_BLOCKING);
	gort__release();
	return j.taken ? j.result : fn(arg);
}

int gort_blocking_configure(int max_threads, int64_t idle_timeout)
{
	if (max_threads < 0 || max_threads > MAX_LIMIT || idle_timeout < 0)
		return -EINVAL;
	pthread_mutex_lock(&P.mu);
	if (max_threads)
		P.max = max_threads;
	if (idle_timeout)
		P.idle_ns = idle_timeout;
	for (bthread *t = P.idle; t; t = t->idle_next)
		pthread_cond_signal(&t->cv); /* re-check the limit */
	pthread_mutex_unlock(&P.mu);
	return 0;
}

void gort__blocking_fini(void)
{
	pthread_mutex_lock(&P.mu);
	P.qhead = P.qtail = NULL;
	for (bthread *t = P.all; t; t = t->all_next) {
		t->cur = NULL;
		t->job = NULL;
	}
	pthread_mutex_unlock(&P.mu);
}
