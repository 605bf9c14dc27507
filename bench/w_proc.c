/* w_proc.c — P1 spawn-proc: 5,000 /bin/true children, 8 in flight, each
 * spawned with gort_proc_spawn (clone+vfork, pidfd on the netpoller) and
 * waited for by one of 8 goroutines.  The figure is children per second
 * (higher is better; bench/compare.sh puts `xargs -P8` beside it).
 */
#include "config.h"
#include "bench.h"

#include <stdio.h>
#include <string.h>

enum { PROC_TOTAL = 5000, PROC_INFLIGHT = 8 };

static int64_t proc_next;  /* next child to start (atomic) */
static int64_t proc_ok;    /* children that exited 0 (atomic) */
static gort_waitgroup proc_wg;
static char proc_err[128];

static void spawner(void *arg)
{
	(void)arg;
	static char *const argv[] = {"/bin/true", NULL};
	gort_proc_opts opts = {.argv = argv, .stdio = {{GORT_STDIO_NULL, -1},
	                                               {GORT_STDIO_NULL, -1},
	                                               {GORT_STDIO_NULL, -1}}};
	while (__atomic_fetch_add(&proc_next, 1, __ATOMIC_RELAXED) < PROC_TOTAL) {
		gort_proc *p;
		gort_proc_status st;
		int r = gort_proc_spawn(&opts, &p, NULL);
		if (r == 0) {
			r = gort_proc_wait(p, &st, GORT_DEADLINE_NONE, NULL);
			gort_proc_free(p);
		}
		if (r < 0)
			snprintf(proc_err, sizeof proc_err, "spawn/wait: %s", strerror(-r));
		else if (st.exit_code == 0)
			__atomic_fetch_add(&proc_ok, 1, __ATOMIC_RELAXED);
	}
	gort_waitgroup_done(&proc_wg);
}

int bench_proc(double *ret_value)
{
	proc_next = proc_ok = 0;
	proc_err[0] = '\0';
	proc_wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
	int64_t t0 = gort_now();
	gort_waitgroup_add(&proc_wg, PROC_INFLIGHT);
	for (int i = 0; i < PROC_INFLIGHT; i++)
		bench_go(spawner, NULL);
	gort_waitgroup_wait(&proc_wg);
	*ret_value = (double)PROC_TOTAL / (bench_since(t0) / 1e9);
	if (proc_err[0])
		return bench_fail("%s", proc_err);
	if (proc_ok != PROC_TOTAL)
		return bench_fail("%lld of %d children exited 0", (long long)proc_ok, PROC_TOTAL);
	return 0;
}
