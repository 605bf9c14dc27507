/* timers.c — the public time API of gort.h: gort_now, gort_sleep, one-shot
 * timers (gort_timer_*), gort_after and tickers (gort_ticker_*).
 *
 * Everything here is a thin layer over the scheduler's timer heap
 * (gort__timer_start/stop, timerheap.c), which owns ordering, the idle
 * workers' sleep until the next deadline and the runtime hold while timers
 * are pending.  So this file adds O(1) work per timer and nothing per
 * pending timer: 100,000 pending timers cost one heap entry each.
 *
 * Invariants
 *  - A heap callback runs on a worker's own stack with no lock held and only
 *    does non-blocking things: gort__ready, gort_chan_try_send, re-arming.
 *  - gort_sleep's timer lives on the sleeper's stack and is armed from the
 *    park commit, i.e. after the goroutine is fully parked: the callback can
 *    never ready a goroutine that is still saving its registers, and after
 *    gort__ready nothing touches the timer again (the stack may be gone).
 *  - gort_after's record belongs to its pending timer; the callback frees it
 *    (the heap does not touch a timer after its callback returned).  Until
 *    then it is also on after_list, so that records the runtime forgot when
 *    gort_main returned are freed at process exit.
 *  - gort_timer/gort_ticker channels have capacity 1 and are filled with
 *    try_send: a value nobody received yet makes later ones drop (Go).
 *
 * Locking: a ticker's spinlock orders its callback (send + re-arm) against
 * stop/reset; it nests outside the channel lock and the heap lock, never
 * the other way round.  It is held across the send and the re-arm, which
 * may wake a worker (one futex/eventfd system call): a deliberate
 * exception to "no system call under a spinlock", because it makes "no
 * tick after stop returns" and "free after stop" obviously safe, and the
 * lock is only ever contended by stop/reset of that same ticker.  after_lock guards after_list only and nests in
 * nothing.  One-shot timers need no lock of their own: the heap
 * serialises start/stop and gort__timer_stop waits for a running callback.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int64_t gort_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * GORT_SECOND + ts.tv_nsec;
}

/* base + d, saturated at INT64_MAX (d may be huge: "never"). */
static int64_t time_add(int64_t base, int64_t d)
{
	if (d > 0 && base > INT64_MAX - d)
		return INT64_MAX;
	return base + d;
}

/* ----------------------------------------------------------------------
 * gort_sleep
 * ---------------------------------------------------------------------- */

static void sleep_fire(gort__timer *t, int64_t now)
{
	(void)now;
	gort__ready(t->arg); /* last touch: the timer is on the sleeper's stack */
}

/* Runs on the worker's stack once the sleeper is fully parked. */
static bool sleep_commit(gort__g *g, void *arg)
{
	gort__timer *t = arg;
	(void)g;
	gort__timer_start(t, t->when);
	return true;
}

void gort_sleep(int64_t ns)
{
	gort__g *g = gort__self_or_die("gort_sleep");
	if (ns <= 0)
		return; /* as Go's time.Sleep */
	gort__timer t = GORT__TIMER_INIT;
	t.fn = sleep_fire;
	t.arg = g;
	t.when = time_add(gort_now(), ns);
	gort__park(sleep_commit, &t, GORT__WAIT_SLEEP);
}

/* ----------------------------------------------------------------------
 * One-shot timers and gort_after
 * ---------------------------------------------------------------------- */

struct gort_timer {
	gort__timer t; /* t.arg: this gort_timer */
	gort_chan *c;  /* capacity 1, int64_t; owned */
};

/* Delivers the firing time unless a value is still waiting (Go's sendTime). */
static void timer_fire(gort__timer *t, int64_t now)
{
	gort_timer *tm = t->arg;
	(void)gort_chan_try_send(tm->c, &now);
}

gort_timer *gort_timer_make(int64_t d)
{
	gort_timer *tm = malloc(sizeof *tm);
	if (!tm) {
		errno = ENOMEM;
		return NULL;
	}
	tm->c = gort_chan_make(sizeof(int64_t), 1);
	if (!tm->c) {
		free(tm);
		errno = ENOMEM;
		return NULL;
	}
	tm->t = (gort__timer)GORT__TIMER_INIT;
	tm->t.fn = timer_fire;
	tm->t.arg = tm;
	gort__timer_start(&tm->t, time_add(gort_now(), d));
	return tm;
}

gort_chan *gort_timer_chan(gort_timer *t)
{
	return t->c;
}

bool gort_timer_stop(gort_timer *t)
{
	return gort__timer_stop(&t->t);
}

bool gort_timer_reset(gort_timer *t, int64_t d)
{
	bool was_pending = gort__timer_stop(&t->t);
	gort__timer_start(&t->t, time_add(gort_now(), d));
	return was_pending;
}

void gort_timer_free(gort_timer *t)
{
	if (!t)
		return;
	gort__timer_stop(&t->t); /* also waits for a running callback */
	gort_chan_unref(t->c);
	free(t);
}

/* gort_after's record: owned by its pending timer until it fires.  The
 * pending records are also listed here, because the runtime forgets
 * pending timers when gort_main returns: a record whose deadline had not
 * come yet then never fires, and the list lets the exit handler free it
 * (and keeps it reachable until then). */
typedef struct after_timer {
	gort__timer t;
	gort_chan *c;                     /* the timer's own reference */
	struct after_timer *prev, *next;  /* in after_list; after_lock */
} after_timer;

static uint32_t after_lock;     /* guards after_list and after_atexit */
static after_timer *after_list; /* records whose callback has not run */
static bool after_atexit;       /* after_sweep registered */

static void after_unlink(after_timer *a)
{
	if (a->prev)
		a->prev->next = a->next;
	else
		after_list = a->next;
	if (a->next)
		a->next->prev = a->prev;
}

static void after_fire(gort__timer *t, int64_t now)
{
	after_timer *a = t->arg;
	gort__spin_lock(&after_lock);
	after_unlink(a);
	gort__spin_unlock(&after_lock);
	(void)gort_chan_try_send(a->c, &now);
	gort_chan_unref(a->c);
	free(a);
}

/* At exit: frees the records the runtime forgot.  Only with no runtime
 * running: then no callback can be in flight. */
static void after_sweep(void)
{
	if (gort_nprocs() != 0)
		return;
	gort__spin_lock(&after_lock);
	after_timer *a = after_list;
	after_list = NULL;
	gort__spin_unlock(&after_lock);
	while (a) {
		after_timer *next = a->next;
		gort_chan_unref(a->c);
		free(a);
		a = next;
	}
}

/* Lists a and returns true if the exit handler still needs registering. */
static bool after_register(after_timer *a)
{
	gort__spin_lock(&after_lock);
	a->prev = NULL;
	a->next = after_list;
	if (after_list)
		after_list->prev = a;
	after_list = a;
	bool first = !after_atexit;
	after_atexit = true;
	gort__spin_unlock(&after_lock);
	return first;
}

gort_chan *gort_after(int64_t d)
{
	after_timer *a = malloc(sizeof *a);
	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	a->c = gort_chan_make(sizeof(int64_t), 1);
	if (!a->c) {
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	gort_chan *ret = gort_chan_ref(a->c);
	a->t = (gort__timer)GORT__TIMER_INIT;
	a->t.fn = after_fire;
	a->t.arg = a;
	if (after_register(a))
		atexit(after_sweep); /* if this fails, forgotten records just stay */
	gort__timer_start(&a->t, time_add(gort_now(), d));
	return ret;
}

/* ----------------------------------------------------------------------
 * Tickers
 * ---------------------------------------------------------------------- */

struct gort_ticker {
	gort__timer t;  /* t.arg: this ticker */
	gort_chan *c;   /* capacity 1, int64_t; owned */
	uint32_t lock;  /* guards the fields below and (re-)arming t */
	bool stopped;   /* set by stop: the callback must not send or re-arm */
	int64_t period; /* > 0 */
	int64_t next;   /* when the armed tick is due */
};

/* The first tick time after now on the grid next + k*period (Go skips
 * missed ticks rather than bursting them). */
static int64_t ticker_next(int64_t next, int64_t period, int64_t now)
{
	if (next > now)
		return next;
	int64_t missed = (now - next) / period;
	return time_add(next, (missed + 1 > INT64_MAX / period) ? INT64_MAX : (missed + 1) * period);
}

static void ticker_fire(gort__timer *t, int64_t now)
{
	gort_ticker *tk = t->arg;
	gort__spin_lock(&tk->lock);
	/* next > now: a reset re-armed the ticker while this call was due. */
	if (!tk->stopped && tk->next <= now) {
		(void)gort_chan_try_send(tk->c, &now);
		tk->next = ticker_next(tk->next, tk->period, now);
		gort__timer_start(&tk->t, tk->next);
	}
	gort__spin_unlock(&tk->lock);
}

gort_ticker *gort_ticker_make(int64_t period)
{
	if (period <= 0) {
		errno = EINVAL;
		return NULL;
	}
	gort_ticker *tk = calloc(1, sizeof *tk);
	if (!tk) {
		errno = ENOMEM;
		return NULL;
	}
	tk->c = gort_chan_make(sizeof(int64_t), 1);
	if (!tk->c) {
		free(tk);
		errno = ENOMEM;
		return NULL;
	}
	tk->t = (gort__timer)GORT__TIMER_INIT;
	tk->t.fn = ticker_fire;
	tk->t.arg = tk;
	gort_ticker_reset(tk, period);
	return tk;
}

gort_chan *gort_ticker_chan(gort_ticker *t)
{
	return t->c;
}

void gort_ticker_reset(gort_ticker *t, int64_t period)
{
	if (period <= 0)
		gort__fatal("gort_ticker_reset: non-positive period %lld", (long long)period);
	gort__spin_lock(&t->lock);
	t->stopped = false;
	t->period = period;
	t->next = time_add(gort_now(), period);
	gort__timer_start(&t->t, t->next);
	gort__spin_unlock(&t->lock);
}

void gort_ticker_stop(gort_ticker *t)
{
	gort__spin_lock(&t->lock);
	t->stopped = true; /* a callback that runs from now on does nothing */
	gort__spin_unlock(&t->lock);
	gort__timer_stop(&t->t);
}

void gort_ticker_free(gort_ticker *t)
{
	if (!t)
		return;
	gort_ticker_stop(t); /* gort__timer_stop waited for a running callback */
	gort_chan_unref(t->c);
	free(t);
}
