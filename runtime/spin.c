/* spin.c — the slow path of the runtime's internal spinlock (internal.h).
 *
 * Invariant: a spinlock guards a few dozen instructions and is never held
 * across a park, a yield or a system call, so a waiter spins briefly with
 * the CPU's pause hint and then gives its time slice away with sched_yield()
 * (the holder may have been preempted by the kernel: on a 2-CPU machine
 * spinning on against a descheduled holder wastes the whole slice).
 */
#include "internal.h"

#include <sched.h>

static inline void cpu_relax(void)
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

void gort__spin_lock_slow(uint32_t *l)
{
	for (unsigned spins = 0;; spins++) {
		if (!__atomic_load_n(l, __ATOMIC_RELAXED) && !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
			return;
		if (spins < 64)
			cpu_relax();
		else
			sched_yield();
	}
}
