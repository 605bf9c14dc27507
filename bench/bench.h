/* bench.h — what gort-bench's driver (gort-bench.c) and its workloads
 * (w_*.c) share.
 *
 * A workload's run function is called on the root goroutine of a fresh
 * runtime (one gort_main per run), times only the work itself with
 * gort_now(), checks what the work computed and returns 0 with the figure in
 * *ret_value, or bench_fail(...) when a check fails.  Failures to get
 * resources (a spawn, a channel) end the program through bench_die().
 *
 * Every workload has a twin in bench/go/gobench.go doing the same work with
 * the same counts: change both together.
 */
#ifndef GORT_BENCH_H
#define GORT_BENCH_H

#include "gort.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_workload {
	const char *id;    /* "W1".."W9", as in docs/benchmarks.md */
	const char *name;  /* "spawn", ... (also accepted on the command line) */
	const char *unit;  /* printed after the figure; lower is better, except
	                      rates ("/s"), where higher is */
	int precision;     /* decimals printed */
	bool isolate;      /* each run in a fresh process (RSS figures) */
	const char *what;  /* one line for --help */
	int (*run)(double *ret_value);
} bench_workload;

/* The workloads (w_sched.c, w_chan.c, w_sync.c, w_patterns.c, w_proc.c). */
int bench_spawn(double *ret_value);
int bench_memory(double *ret_value);
int bench_pingpong(double *ret_value);
int bench_spsc(double *ret_value);
int bench_mpmc(double *ret_value);
int bench_select(double *ret_value);
int bench_mutex(double *ret_value);
int bench_pipeline(double *ret_value);
int bench_cancel(double *ret_value);
int bench_proc(double *ret_value);

/* Records why the running workload's result is wrong (the driver prints it
 * and the program exits 1); returns -1 for `return bench_fail(...)`. */
int bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "gort-bench: <message>" and exits 1 (out of resources). */
_Noreturn void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* gort_go / gort_chan_make that die instead of failing. */
void bench_go(void (*fn)(void *arg), void *arg);
gort_chan *bench_chan(size_t elem_size, size_t cap);

/* Nanoseconds elapsed since t0 (a gort_now() value), as a double. */
static inline double bench_since(int64_t t0)
{
	return (double)(gort_now() - t0);
}

#endif
