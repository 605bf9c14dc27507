/* w_sync.c — W7 mutex: eight goroutines increment one counter under one
 * gort_mutex.  With one worker the goroutines take turns (scheduling is
 * cooperative, so each runs its loop uncontended); with two the lock is
 * contended across threads.
 */
#include "config.h"
#include "bench.h"

enum { MUTEX_G = 8, MUTEX_EACH = 1250000 };

static gort_mutex mutex_mu;
static int64_t mutex_counter; /* guarded by mutex_mu */
static gort_waitgroup mutex_wg;

static void incrementer(void *arg)
{
	(void)arg;
	for (int i = 0; i < MUTEX_EACH; i++) {
		gort_mutex_lock(&mutex_mu);
		mutex_counter++;
		gort_mutex_unlock(&mutex_mu);
	}
	gort_waitgroup_done(&mutex_wg);
}

int bench_mutex(double *ret_value)
{
	mutex_mu = (gort_mutex)GORT_MUTEX_INIT;
	mutex_wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
	mutex_counter = 0;
	int64_t t0 = gort_now();
	gort_waitgroup_add(&mutex_wg, MUTEX_G);
	for (int g = 0; g < MUTEX_G; g++)
		bench_go(incrementer, NULL);
	gort_waitgroup_wait(&mutex_wg);
	*ret_value = bench_since(t0) / ((double)MUTEX_G * MUTEX_EACH);
	if (mutex_counter != (int64_t)MUTEX_G * MUTEX_EACH)
		return bench_fail("the counter is %lld, want %lld", (long long)mutex_counter,
		                  (long long)MUTEX_G * MUTEX_EACH);
	return 0;
}
