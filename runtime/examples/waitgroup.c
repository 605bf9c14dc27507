/* waitgroup.c — "Concurrency in Go", chapter 3, sync.WaitGroup: add the
 * number of goroutines up front, each calls done as it ends, and main waits
 * for all of them.
 *
 * Prints five greetings in an order the scheduler decides, e.g.:
 *   Hello from 5!
 *   Hello from 1!
 *   ...
 */
#include <gort.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { NUM_GREETERS = 5 };

static gort_waitgroup wg = GORT_WAITGROUP_INIT;

static void hello(void *arg)
{
	int id = (int)(intptr_t)arg;
	printf("Hello from %d!\n", id);
	gort_waitgroup_done(&wg);
}

static int root(void *arg)
{
	(void)arg;
	gort_waitgroup_add(&wg, NUM_GREETERS);
	for (int i = 0; i < NUM_GREETERS; i++)
		if (gort_go(hello, (void *)(intptr_t)(i + 1)) < 0)
			return 1;
	gort_waitgroup_wait(&wg);
	return 0;
}

int main(void)
{
	int rc = gort_main(NULL, root, NULL);
	if (rc < 0)
		fprintf(stderr, "waitgroup: gort_main: %s\n", strerror(-rc));
	return rc == 0 ? 0 : 1;
}
