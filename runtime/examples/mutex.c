/* mutex.c — "Concurrency in Go", chapter 3, sync.Mutex: six goroutines
 * increment and six decrement a shared count, each inside the critical
 * section guarded by one mutex, so the count ends at 0 whatever the order.
 *
 * Prints twelve lines in an order the scheduler decides, then the result:
 *   Incrementing: 1
 *   Decrementing: 0
 *   ...
 *   Arithmetic complete.
 */
#include <gort.h>

#include <stdio.h>
#include <string.h>

static int count;
static gort_mutex lock = GORT_MUTEX_INIT;
static gort_waitgroup arithmetic = GORT_WAITGROUP_INIT;

static void increment(void *arg)
{
	(void)arg;
	gort_mutex_lock(&lock);
	count++;
	printf("Incrementing: %d\n", count);
	gort_mutex_unlock(&lock);
	gort_waitgroup_done(&arithmetic);
}

static void decrement(void *arg)
{
	(void)arg;
	gort_mutex_lock(&lock);
	count--;
	printf("Decrementing: %d\n", count);
	gort_mutex_unlock(&lock);
	gort_waitgroup_done(&arithmetic);
}

static int root(void *arg)
{
	(void)arg;
	for (int i = 0; i <= 5; i++) {
		gort_waitgroup_add(&arithmetic, 1);
		if (gort_go(increment, NULL) < 0)
			return 1;
	}
	for (int i = 0; i <= 5; i++) {
		gort_waitgroup_add(&arithmetic, 1);
		if (gort_go(decrement, NULL) < 0)
			return 1;
	}
	gort_waitgroup_wait(&arithmetic);
	printf("Arithmetic complete.\n");
	return count == 0 ? 0 : 1;
}

int main(void)
{
	int rc = gort_main(NULL, root, NULL);
	if (rc < 0)
		fprintf(stderr, "mutex: gort_main: %s\n", strerror(-rc));
	return rc == 0 ? 0 : 1;
}
