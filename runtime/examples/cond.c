/* cond.c — "Concurrency in Go", chapter 3, sync.Cond, the book's two
 * examples.
 *
 * 1. A queue of at most two items: main adds ten items, waiting on the
 *    condition while the queue is full; each item is removed by a
 *    goroutine after a delay (1 s in the book, 10 ms here), which signals
 *    the condition.  Unlike Go's main, ours then waits for the last
 *    removals, so every goroutine has finished when it returns.
 * 2. A button click broadcast to three subscribed handlers.  The book's
 *    subscribe() lets a handler announce itself before it waits, so a
 *    click may come before the handler waits and be lost; here the handler
 *    holds the cond's mutex from before it announces itself until it
 *    waits, and the click takes that mutex, so no click is lost.
 *
 * Prints (the handler order may vary):
 *   Adding to queue
 *   Adding to queue
 *   Removed from queue
 *   Adding to queue
 *   ...
 *   Mouse clicked.
 *   Maximizing window.
 *   Displaying annoying dialog box!
 */
#include <gort.h>

#include <stdio.h>
#include <string.h>

/* ---- 1: the queue ------------------------------------------------------ */

static gort_mutex qlock = GORT_MUTEX_INIT;
static gort_cond qcond = GORT_COND_INIT(&qlock);
static int queue_len; /* the items themselves carry nothing */
static gort_waitgroup removers = GORT_WAITGROUP_INIT;

static void remove_from_queue(void *arg)
{
	(void)arg;
	gort_sleep(10 * GORT_MILLISECOND);
	gort_mutex_lock(qcond.L);
	queue_len--;
	printf("Removed from queue\n");
	gort_mutex_unlock(qcond.L);
	gort_cond_signal(&qcond);
	gort_waitgroup_done(&removers);
}

static int queue_example(void)
{
	for (int i = 0; i < 10; i++) {
		gort_mutex_lock(qcond.L);
		while (queue_len == 2)
			gort_cond_wait(&qcond);
		printf("Adding to queue\n");
		queue_len++;
		gort_waitgroup_add(&removers, 1);
		if (gort_go(remove_from_queue, NULL) < 0)
			return 1;
		gort_mutex_unlock(qcond.L);
	}
	gort_waitgroup_wait(&removers);
	return queue_len == 0 ? 0 : 1;
}

/* ---- 2: the button ----------------------------------------------------- */

typedef struct button {
	gort_mutex lock;
	gort_cond clicked;
} button;

static button btn = {GORT_MUTEX_INIT, GORT_COND_INIT(&btn.lock)};
static gort_waitgroup click_registered = GORT_WAITGROUP_INIT;

typedef struct subscription {
	gort_cond *c;
	void (*fn)(void);
	gort_waitgroup running;
} subscription;

static void handler(void *arg)
{
	subscription *s = arg;
	gort_cond *c = s->c;
	void (*fn)(void) = s->fn;
	gort_mutex_lock(c->L);
	gort_waitgroup_done(&s->running); /* s is the subscriber's: gone after this */
	gort_cond_wait(c);
	fn();
	gort_mutex_unlock(c->L);
}

static int subscribe(gort_cond *c, void (*fn)(void))
{
	subscription s = {c, fn, GORT_WAITGROUP_INIT};
	gort_waitgroup_add(&s.running, 1);
	if (gort_go(handler, &s) < 0)
		return -1;
	gort_waitgroup_wait(&s.running);
	return 0;
}

static void maximize(void)
{
	printf("Maximizing window.\n");
	gort_waitgroup_done(&click_registered);
}

static void dialog(void)
{
	printf("Displaying annoying dialog box!\n");
	gort_waitgroup_done(&click_registered);
}

static void mouse(void)
{
	printf("Mouse clicked.\n");
	gort_waitgroup_done(&click_registered);
}

static int button_example(void)
{
	gort_waitgroup_add(&click_registered, 3);
	if (subscribe(&btn.clicked, maximize) < 0 || subscribe(&btn.clicked, dialog) < 0 ||
	    subscribe(&btn.clicked, mouse) < 0)
		return 1;
	gort_mutex_lock(btn.clicked.L); /* every handler is waiting now */
	gort_cond_broadcast(&btn.clicked);
	gort_mutex_unlock(btn.clicked.L);
	gort_waitgroup_wait(&click_registered);
	return 0;
}

static int root(void *arg)
{
	(void)arg;
	return queue_example() || button_example();
}

int main(void)
{
	int rc = gort_main(NULL, root, NULL);
	if (rc < 0)
		fprintf(stderr, "cond: gort_main: %s\n", strerror(-rc));
	return rc == 0 ? 0 : 1;
}
