/* once.c — "Concurrency in Go", chapter 3, sync.Once, the book's two
 * examples.
 *
 * 1. A hundred goroutines race to increment a count through one Once: the
 *    increment runs exactly once.
 * 2. Once counts calls of do, not distinct functions: after do(increment),
 *    do(decrement) on the same Once runs nothing.
 *
 * Prints:
 *   Count is 1
 *   Count: 1
 */
#include <gort.h>

#include <stdio.h>
#include <string.h>

static int count;

static void increment(void *arg)
{
	(void)arg;
	count++;
}

static void decrement(void *arg)
{
	(void)arg;
	count--;
}

static gort_once once = GORT_ONCE_INIT;
static gort_waitgroup increments = GORT_WAITGROUP_INIT;

static void racer(void *arg)
{
	(void)arg;
	gort_once_do(&once, increment, NULL);
	gort_waitgroup_done(&increments);
}

static int root(void *arg)
{
	(void)arg;
	gort_waitgroup_add(&increments, 100);
	for (int i = 0; i < 100; i++)
		if (gort_go(racer, NULL) < 0)
			return 1;
	gort_waitgroup_wait(&increments);
	printf("Count is %d\n", count);
	if (count != 1)
		return 1;

	gort_once second = GORT_ONCE_INIT;
	count = 0;
	gort_once_do(&second, increment, NULL);
	gort_once_do(&second, decrement, NULL);
	printf("Count: %d\n", count);
	return count == 1 ? 0 : 1;
}

int main(void)
{
	int rc = gort_main(NULL, root, NULL);
	if (rc < 0)
		fprintf(stderr, "once: gort_main: %s\n", strerror(-rc));
	return rc == 0 ? 0 : 1;
}
