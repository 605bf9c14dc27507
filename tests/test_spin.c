/* test_spin.c — the runtime's internal spinlock keeps a shared counter exact
 * under contention from plain OS threads. */
#include "harness.h"
#include "internal.h"

#include <pthread.h>

enum { THREADS = 4 };

static uint32_t lock;
static long counter;
static long per_thread;

static void *hammer(void *arg)
{
	(void)arg;
	for (long i = 0; i < per_thread; i++) {
		gort__spin_lock(&lock);
		counter++;
		gort__spin_unlock(&lock);
	}
	return NULL;
}

START_TEST(spinlock_counter_is_exact_under_contention)
{
	pthread_t t[THREADS];
	per_thread = gt_scaled(500000);
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(counter, per_thread * THREADS);
}
END_TEST

START_TEST(spin_trylock_fails_while_held)
{
	uint32_t l = 0;
	ck_assert(gort__spin_trylock(&l));
	ck_assert(!gort__spin_trylock(&l));
	gort__spin_unlock(&l);
	ck_assert(gort__spin_trylock(&l));
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("spin");
	TCase *tc = gt_tcase("spin", 30);
	tcase_add_test(tc, spinlock_counter_is_exact_under_contention);
	tcase_add_test(tc, spin_trylock_fails_while_held);
	suite_add_tcase(s, tc);
	return s;
}
