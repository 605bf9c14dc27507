/* rwmutex.c — "Concurrency in Go", chapter 3, sync.RWMutex: one producer
 * takes the write lock five times (sleeping 1 ns between), while 2^i
 * observers each take and release a lock once; the observers use either the
 * read lock (they may share it) or the write lock (one at a time).  The
 * table shows the time until all are done.  The book goes to 2^19
 * observers; the default here stops at 2^13 so the example stays quick.
 *
 *   ex_rwmutex [MAX_EXPONENT]      default 13
 *
 * Prints, e.g.:
 *   Readers  RWMutex     Mutex
 *   1        21.3µs      10.0µs
 *   ...
 */
#include <gort.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Go's sync.Locker: a lock and its unlock, on some object. */
typedef struct locker {
	void (*lock)(void *obj);
	void (*unlock)(void *obj);
	void *obj;
} locker;

static void rw_lock(void *rw) { gort_rwmutex_lock(rw); }
static void rw_unlock(void *rw) { gort_rwmutex_unlock(rw); }
static void rw_rlock(void *rw) { gort_rwmutex_rlock(rw); }
static void rw_runlock(void *rw) { gort_rwmutex_runlock(rw); }

static gort_rwmutex m = GORT_RWMUTEX_INIT;
static const locker writer_locker = {rw_lock, rw_unlock, &m};
static const locker reader_locker = {rw_rlock, rw_runlock, &m}; /* m.RLocker() */

static gort_waitgroup wg = GORT_WAITGROUP_INIT;

static void producer(void *arg)
{
	const locker *l = arg;
	for (int i = 5; i > 0; i--) {
		l->lock(l->obj);
		l->unlock(l->obj);
		gort_sleep(1);
	}
	gort_waitgroup_done(&wg);
}

static void observer(void *arg)
{
	const locker *l = arg;
	l->lock(l->obj);
	l->unlock(l->obj);
	gort_waitgroup_done(&wg);
}

/* Nanoseconds until the producer and count observers are done, or -1. */
static int64_t run_test(long count, const locker *mutex, const locker *rw_mutex)
{
	gort_waitgroup_add(&wg, count + 1);
	int64_t begin = gort_now();
	if (gort_go(producer, (void *)mutex) < 0)
		return -1;
	for (long i = count; i > 0; i--)
		if (gort_go(observer, (void *)rw_mutex) < 0)
			return -1;
	gort_waitgroup_wait(&wg);
	return gort_now() - begin;
}

/* A duration the way Go prints it (enough digits, a unit). */
static void fmt_duration(char *buf, size_t size, int64_t ns)
{
	if (ns < GORT_MICROSECOND)
		snprintf(buf, size, "%lldns", (long long)ns);
	else if (ns < GORT_MILLISECOND)
		snprintf(buf, size, "%.3fµs", (double)ns / GORT_MICROSECOND);
	else if (ns < GORT_SECOND)
		snprintf(buf, size, "%.3fms", (double)ns / GORT_MILLISECOND);
	else
		snprintf(buf, size, "%.3fs", (double)ns / GORT_SECOND);
}

static int root(void *arg)
{
	int max_exp = *(int *)arg;
	printf("%-8s %-12s %s\n", "Readers", "RWMutex", "Mutex");
	for (int i = 0; i <= max_exp; i++) {
		long count = 1L << i;
		int64_t rw = run_test(count, &writer_locker, &reader_locker);
		int64_t mu = run_test(count, &writer_locker, &writer_locker);
		if (rw < 0 || mu < 0)
			return 1;
		char a[32], b[32];
		fmt_duration(a, sizeof a, rw);
		fmt_duration(b, sizeof b, mu);
		/* Pad by characters, not bytes: "µ" takes two. */
		int width = strstr(a, "µ") ? 13 : 12;
		printf("%-8ld %-*s %s\n", count, width, a, b);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int max_exp = argc > 1 ? atoi(argv[1]) : 13;
	if (max_exp < 0 || max_exp > 24) {
		fprintf(stderr, "usage: %s [max exponent 0..24]\n", argv[0]);
		return 2;
	}
	int rc = gort_main(NULL, root, &max_exp);
	if (rc < 0)
		fprintf(stderr, "rwmutex: gort_main: %s\n", strerror(-rc));
	return rc == 0 ? 0 : 1;
}
