/* salutations.c — "Concurrency in Go", chapter 3: one goroutine per
 * salutation, joined with a WaitGroup.  Each goroutine gets its string by
 * value (the pointer itself as its argument), not the address of the loop
 * variable: that would be the book's closure bug, where every goroutine may
 * see the last value ("good day" three times).
 *
 * Prints the three salutations, in an order the scheduler decides, e.g.:
 *   good day
 *   hello
 *   greetings
 */
#include <gort.h>

#include <stdio.h>
#include <string.h>

static gort_waitgroup wg = GORT_WAITGROUP_INIT;

static void greet(void *arg)
{
	const char *salutation = arg; /* our own copy of the value */
	printf("%s\n", salutation);
	gort_waitgroup_done(&wg);
}

static int root(void *arg)
{
	(void)arg;
	static const char *const salutations[] = {"hello", "greetings", "good day"};
	for (size_t i = 0; i < sizeof salutations / sizeof salutations[0]; i++) {
		gort_waitgroup_add(&wg, 1);
		if (gort_go(greet, (void *)salutations[i]) < 0)
			return 1;
	}
	gort_waitgroup_wait(&wg);
	return 0;
}

int main(void)
{
	int rc = gort_main(NULL, root, NULL);
	if (rc < 0)
		fprintf(stderr, "salutations: gort_main: %s\n", strerror(-rc));
	return rc == 0 ? 0 : 1;
}
