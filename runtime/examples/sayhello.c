/* sayhello.c — "Concurrency in Go", chapter 3, the fork-join model: main
 * forks sayHello as a goroutine and joins it with a WaitGroup.  Without the
 * join point main could return before sayHello ever ran (a race, which a
 * sleep would only make less likely).
 *
 * Prints:
 *   hello
 */
#include <gort.h>

#include <stdio.h>
#include <string.h>

static gort_waitgroup wg = GORT_WAITGROUP_INIT;

static void say_hello(void *arg)
{
	(void)arg;
	printf("hello\n");
	gort_waitgroup_done(&wg);
}

static int root(void *arg)
{
	(void)arg;
	gort_waitgroup_add(&wg, 1);
	if (gort_go(say_hello, NULL) < 0)
		return 1;
	gort_waitgroup_wait(&wg); /* the join point */
	return 0;
}

int main(void)
{
	int rc = gort_main(NULL, root, NULL);
	if (rc < 0)
		fprintf(stderr, "sayhello: gort_main: %s\n", strerror(-rc));
	return rc == 0 ? 0 : 1;
}
