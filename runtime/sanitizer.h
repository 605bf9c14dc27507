/* sanitizer.h — hooks that tell AddressSanitizer, ThreadSanitizer and
 * Valgrind about goroutine stacks and switches (scheduler core only).
 *
 * Every hook compiles to nothing unless its tool is configured:
 *  - ASan (GORT_ASAN, --enable-sanitizers): __sanitizer_start_switch_fiber
 *    right before each switch (with a NULL fake-stack slot when the
 *    goroutine leaves for good), __sanitizer_finish_switch_fiber first thing
 *    on the new stack (also in the entry trampoline), and reused stacks are
 *    unpoisoned before a new goroutine runs on them.
 *  - TSan (GORT_TSAN, --enable-tsan): one fiber per goroutine, created at
 *    spawn, switched to right before the stack switch, destroyed by the
 *    scheduler context after the goroutine has left it.
 *  - Valgrind (HAVE_VALGRIND_VALGRIND_H): each goroutine stack registered
 *    while in use; the client requests cost a few instructions when not
 *    running under Valgrind.
 */
#ifndef GORT_SANITIZER_H
#define GORT_SANITIZER_H

#include "config.h"

#include <stddef.h>

#ifdef GORT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GORT_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

/* ASan: about to leave the current stack for [bottom, bottom+size). */
static inline void gort__asan_start(void **fake_save, const void *bottom, size_t size)
{
#ifdef GORT_ASAN
	__sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
	(void)fake_save; (void)bottom; (void)size;
#endif
}

/* ASan: arrived on a stack; old_bottom and old_size get the stack we left. */
static inline void gort__asan_finish(void *fake, const void **old_bottom, size_t *old_size)
{
#ifdef GORT_ASAN
	__sanitizer_finish_switch_fiber(fake, old_bottom, old_size);
#else
	(void)fake; (void)old_bottom; (void)old_size;
#endif
}

static inline void gort__asan_unpoison(void *p, size_t n)
{
#ifdef GORT_ASAN
	ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
	(void)p; (void)n;
#endif
}

static inline void *gort__tsan_create(void)
{
#ifdef GORT_TSAN
	return __tsan_create_fiber(0);
#else
	return NULL;
#endif
}

static inline void *gort__tsan_current(void)
{
#ifdef GORT_TSAN
	return __tsan_get_current_fiber();
#else
	return NULL;
#endif
}

static inline void gort__tsan_switch(void *fiber)
{
#ifdef GORT_TSAN
	__tsan_switch_to_fiber(fiber, 0);
#else
	(void)fiber;
#endif
}

static inline void gort__tsan_destroy(void *fiber)
{
#ifdef GORT_TSAN
	if (fiber)
		__tsan_destroy_fiber(fiber);
#else
	(void)fiber;
#endif
}

static inline unsigned gort__vg_register(void *lo, void *hi)
{
#ifdef HAVE_VALGRIND_VALGRIND_H
	return VALGRIND_STACK_REGISTER(lo, hi);
#else
	(void)lo; (void)hi;
	return 0;
#endif
}

static inline void gort__vg_deregister(unsigned id)
{
#ifdef HAVE_VALGRIND_VALGRIND_H
	VALGRIND_STACK_DEREGISTER(id);
#else
	(void)id;
#endif
}

#endif /* GORT_SANITIZER_H */
