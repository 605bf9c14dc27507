/* harness.h — what many Check test binaries need: a main() that runs the
 * binary's suite in fork mode, a per-test temporary directory, a scale
 * factor for stress loops, and (harness_rt.c) running a test body as the
 * root goroutine with a goroutine-leak check.
 *
 * A test file defines `Suite *gt_suite(void)` and links harness.c. */
#ifndef GT_HARNESS_H
#define GT_HARNESS_H

#include <check.h>
#include <stdint.h>

/* Assertions for hot test loops.  Check's ck_assert* record a checkpoint
 * on every call (a write to the parent process's pipe), which dominates a
 * loop of millions of checks; these call into Check only when they fail. */
#define EXPECT_MSG(cond, ...)                                                 \
	do {                                                                  \
		if (!(cond))                                                  \
			ck_abort_msg(__VA_ARGS__);                            \
	} while (0)
#define EXPECT(cond) EXPECT_MSG(cond, "check failed: %s", #cond)
#define EXPECT_INT(a, op, b)                                                  \
	do {                                                                  \
		long long expect_a_ = (long long)(a), expect_b_ = (long long)(b); \
		EXPECT_MSG(expect_a_ op expect_b_, "check failed: %s %s %s (%lld vs %lld)", #a, #op, \
		           #b, expect_a_, expect_b_);                         \
	} while (0)

/* The binary's suite (defined by each test file). */
Suite *gt_suite(void);

/* A fresh directory for the running test, removed (with its contents) when
 * the test process exits.  The path stays valid until then. */
const char *gt_tmpdir(void);

/* Multiplier for stress loops: $GT_SCALE (a number, default 1; 0.1 makes the
 * suite quick).  gt_scaled(n) is n * scale, at least 1. */
double gt_scale(void);
long gt_scaled(long n);

/* True in builds with AddressSanitizer or ThreadSanitizer, whose fake stacks
 * and shadow memory cost more per goroutine (tests lower some counts). */
int gt_sanitized(void);

/* Runs fn(arg) as the root goroutine of a runtime with `procs` workers
 * (0: default).  Afterwards the number of live goroutines must return to
 * the baseline (the root alone) within 5 s, or the test fails with a
 * goroutine dump: goroutine leaks are bugs. */
void gt_run(int procs, void (*fn)(void *arg), void *arg);

/* A join on the runtime's internal park/ready protocol (harness_rt.c), for
 * scheduler tests that must not depend on the public sync module: n
 * goroutines call gt_join_done, one goroutine waits in gt_join_wait.  The
 * count drops under the lock, so once the waiter has seen zero no goroutine
 * touches the join any more (it may live on the waiter's stack). */
struct gort__g;
struct gt_join {
	_Atomic long left;
	uint32_t lock;
	struct gort__g *waiter;
};
void gt_join_init(struct gt_join *j, long n);
void gt_join_done(struct gt_join *j);
void gt_join_wait(struct gt_join *j);

/* Allocation-failure injection (tests/faults.c, for binaries linked with it
 * and -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc): while >= 0, that
 * many more allocations succeed, the next fails with ENOMEM and it drops
 * back to -1.  Single-threaded use only. */
extern long gt_fail_at;

/* A TCase with the given per-test timeout in seconds (scaled by Check's
 * CK_TIMEOUT_MULTIPLIER and, in sanitizer builds, by 4). */
TCase *gt_tcase(const char *name, double timeout_s);

#endif
