/* spin.c — the slow path of the runtime's internal spinlock (internal.h).
 *
 * Invariant: a spinlock guards a few dozen instructions and is never held
 * across a park, a yield or a system call.
 *
 * Policy: test-and-test-and-set with exponential backoff, then yield.  A
 * waiter re-reads the lock word after 1, 2, 4 ... SPIN_PAUSE_MAX pause
 * hints (BACKOFF_ROUNDS probes; ~3.5 us in all where a pause takes ~27 ns,
 * as on the reference VM's AMD EPYC): when the holder is running, the lock
 * frees within that, and backing off keeps the waiters from pulling the
 * lock's cache line away from the holder at every probe (on a contended
 * channel that traffic, not the critical section, is the cost).  Past that
 * budget the holder has probably been preempted by the kernel (on a 2-CPU
 * machine spinning on against a descheduled holder wastes the whole time
 * slice), so the waiter gives its CPU away with sched_yield() between
 * probes.
 */
#include "internal.h"

#include <sched.h>

#define SPIN_PAUSE_MAX 64u
#define BACKOFF_ROUNDS 7u /* 1 + 2 + ... + 64 = 127 pauses */

void gort__spin_lock_slow(uint32_t *l)
{
	unsigned pauses = 1;
	for (unsigned round = 0;; round++) {
		if (!__atomic_load_n(l, __ATOMIC_RELAXED) && !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
			return;
		if (round >= BACKOFF_ROUNDS) {
			sched_yield();
			continue;
		}
		for (unsigned i = 0; i < pauses; i++)
			gort__cpu_relax();
		if (pauses < SPIN_PAUSE_MAX)
			pauses *= 2;
	}
}
