/* pool.c — "Concurrency in Go", chapter 3, sync.Pool, the book's two
 * examples.
 *
 * 1. get on an empty pool calls New; an instance put back is reused.
 * 2. A pool seeded with four 1 KiB buffers serves many short goroutines
 *    that each get a buffer and put it back: only a handful of buffers are
 *    ever created.  The book runs 1,048,576 goroutines; the default here is
 *    65,536 so the example stays quick.
 *
 *   ex_pool [GOROUTINES]
 *
 * Prints (the last count depends on scheduling; the book's Go printed 8):
 *   Creating new instance.
 *   Creating new instance.
 *   4 calculators were created.
 */
#include <gort.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1 ------------------------------------------------------------------ */

static int instance; /* the pooled "instance": its address */

static void *new_instance(void *arg)
{
	(void)arg;
	printf("Creating new instance.\n");
	return &instance;
}

static int instance_example(void)
{
	gort_pool *my_pool = gort_pool_new(new_instance, NULL, NULL, 16);
	if (!my_pool)
		return 1;
	gort_pool_get(my_pool);
	void *inst = gort_pool_get(my_pool);
	gort_pool_put(my_pool, inst);
	gort_pool_get(my_pool); /* reuses inst: no message */
	gort_pool_destroy(my_pool);
	return 0;
}

/* ---- 2 ------------------------------------------------------------------ */

static int num_calcs_created;
static gort_pool *calc_pool;
static gort_waitgroup wg = GORT_WAITGROUP_INIT;

static void *new_calc(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&num_calcs_created, 1, __ATOMIC_RELAXED);
	return malloc(1024);
}

static void free_calc(void *mem, void *arg)
{
	(void)arg;
	free(mem);
}

static void calc_worker(void *arg)
{
	(void)arg;
	char *mem = gort_pool_get(calc_pool);
	if (mem)
		mem[0] = 1; /* "use" it */
	gort_pool_put(calc_pool, mem);
	gort_waitgroup_done(&wg);
}

static int calculators_example(long num_workers)
{
	calc_pool = gort_pool_new(new_calc, free_calc, NULL, 64);
	if (!calc_pool)
		return 1;
	for (int i = 0; i < 4; i++) /* seed the pool with 4 KiB */
		gort_pool_put(calc_pool, new_calc(NULL));
	gort_waitgroup_add(&wg, num_workers);
	for (long i = num_workers; i > 0; i--)
		if (gort_go(calc_worker, NULL) < 0)
			return 1;
	gort_waitgroup_wait(&wg);
	printf("%d calculators were created.\n", num_calcs_created);
	gort_pool_destroy(calc_pool);
	return 0;
}

static int root(void *arg)
{
	return instance_example() || calculators_example(*(long *)arg);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 65536;
	if (n <= 0) {
		fprintf(stderr, "usage: %s [goroutines > 0]\n", argv[0]);
		return 2;
	}
	int rc = gort_main(NULL, root, &n);
	if (rc < 0)
		fprintf(stderr, "pool: gort_main: %s\n", strerror(-rc));
	return rc == 0 ? 0 : 1;
}
