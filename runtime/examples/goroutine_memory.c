/* goroutine_memory.c — "Concurrency in Go", chapter 3: how much memory does
 * a goroutine cost?  Measure the process's resident memory, start N
 * goroutines that park for good (the book's noop blocks on a nil channel;
 * here a semaphore nobody releases until the end), wait until all of them
 * are parked, measure again, and divide.  Then release and join them.
 *
 *   ex_goroutine_memory [N]        N defaults to 10,000, as in the book
 *
 * Prints, e.g. (the figure depends on the runtime's stack policy):
 *   10000 goroutines: RSS +44032 KiB, 4509 bytes per goroutine
 * The book's Go 1.x prints 2.817kb.
 */
#include <gort.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __SANITIZE_THREAD__
#define DEFAULT_N 4000 /* ThreadSanitizer supports about 8,000 fibers */
#else
#define DEFAULT_N 10000
#endif

static gort_waitgroup started = GORT_WAITGROUP_INIT;
static gort_waitgroup finished = GORT_WAITGROUP_INIT;
static gort_sema blocked = GORT_SEMA_INIT(0);

/* Resident set size in bytes (second field of /proc/self/statm), -1 on error. */
static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, resident = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static void noop(void *arg)
{
	(void)arg;
	gort_waitgroup_done(&started);
	gort_sema_acquire(&blocked); /* parked until the measurement is done */
	gort_waitgroup_done(&finished);
}

static int root(void *arg)
{
	long n = *(long *)arg;
	gort_waitgroup_add(&started, n);
	gort_waitgroup_add(&finished, n);
	long before = rss_bytes();
	for (long i = 0; i < n; i++)
		if (gort_go(noop, NULL) < 0)
			return 1;
	gort_waitgroup_wait(&started);
	long after = rss_bytes();
	if (before < 0 || after < 0)
		return 1;
	printf("%ld goroutines: RSS %+ld KiB, %.0f bytes per goroutine\n", n, (after - before) / 1024,
	       (double)(after - before) / (double)n);
	for (long i = 0; i < n; i++)
		gort_sema_release(&blocked);
	gort_waitgroup_wait(&finished);
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_N;
	if (n <= 0) {
		fprintf(stderr, "usage: %s [goroutines > 0]\n", argv[0]);
		return 2;
	}
	int rc = gort_main(NULL, root, &n);
	if (rc < 0)
		fprintf(stderr, "goroutine_memory: gort_main: %s\n", strerror(-rc));
	return rc == 0 ? 0 : 1;
}
