/* test_stack.c — goroutine stacks and context switches: a million parked
 * goroutines on the default vm.max_map_count, memory per parked goroutine,
 * stack reuse without new mappings, per-goroutine stack sizes, stack
 * overflow reports (MADV_GUARD_INSTALL guards and the mprotect fallback),
 * and the registers a switch must keep (FPU control, callee-saved). */
#include "config.h"
#include "harness.h"
#include "internal.h"
#include "sched_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <fenv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ThreadSanitizer counts each goroutine (fiber) as a thread and dies past
 * 8128 of them: tests that keep many goroutines alive keep fewer there. */
static long live_limit(long n)
{
#ifdef GORT_TSAN
	return n < 4000 ? n : 4000;
#else
	return n;
#endif
}

/* ---------------------------------------------------------------------
 * Helper: a gate on park/ready (the join is gt_join, harness.h).
 * --------------------------------------------------------------------- */

/* Goroutines park on the gate (like a channel receive) until it opens;
 * the last of `expect` to park wakes the waiter. */
struct gate {
	uint32_t lock;
	bool open;
	long parked, expect;
	gort__g *waiter;
	gort__waitq q;
	struct gt_join done;
};

static bool gate_commit(gort__g *g, void *arg)
{
	(void)g;
	struct gate *gt = arg;
	gort__g *w = ++gt->parked == gt->expect ? gt->waiter : NULL;
	gort__spin_unlock(&gt->lock);
	if (w)
		gort__ready(w);
	return true;
}

static void gate_wait(struct gate *gt)
{
	gort__waiter w = {.g = gort__self()};
	gort__spin_lock(&gt->lock);
	gort__waitq_push(&gt->q, &w);
	gort__park(gate_commit, gt, GORT__WAIT_CHAN_RECV);
	gt_join_done(&gt->done);
}

static bool set_waiter(gort__g *g, void *arg)
{
	struct gate *gt = arg;
	gt->waiter = g;
	bool wait = gt->parked < gt->expect;
	gort__spin_unlock(&gt->lock);
	return wait;
}

static void gate_await_parked(struct gate *gt)
{
	gort__spin_lock(&gt->lock);
	if (gt->parked < gt->expect)
		gort__park(set_waiter, gt, GORT__WAIT_WAITGROUP);
	else
		gort__spin_unlock(&gt->lock);
}

static void gate_open(struct gate *gt)
{
	gort__spin_lock(&gt->lock);
	gt->open = true;
	gort__waitq q = gt->q;
	gt->q.head = gt->q.tail = NULL;
	gort__spin_unlock(&gt->lock);
	gort__waiter *w;
	while ((w = gort__waitq_pop(&q)))
		gort__ready(w->g);
	gt_join_wait(&gt->done);
}

static void parker(void *arg)
{
	gate_wait(arg);
}

/* Bytes of RSS per parked goroutine allowed: one page, plus what the
 * sanitizers keep per goroutine: ASan a shadow page (and bigger frames),
 * TSan ~900 KB of state per fiber. */
static long san_parked_limit(void)
{
#ifdef GORT_TSAN
	return 1 << 20;
#else
	return gt_sanitized() ? 2 * 4096 + 512 : 4096 + 512;
#endif
}

/* Bytes of RSS per goroutine still held once a burst of them ended: the
 * stacks are returned; ASan keeps the shadow page it wrote for each stack,
 * TSan ~130 KB per fiber it has seen. */
static long san_kept_limit(void)
{
#ifdef GORT_TSAN
	return 256 * 1024;
#else
	return gt_sanitized() ? 2 * 4096 : 256;
#endif
}

static long proc_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	ck_assert_ptr_nonnull(f);
	char line[256];
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static long map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	ck_assert_ptr_nonnull(f);
	long n = 0;
	int c;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* ---------------------------------------------------------------------
 * Many parked goroutines.
 * --------------------------------------------------------------------- */

struct parked_run {
	long n;
	long rss_per_g;      /* bytes, measured while parked */
	long rss_kept_per_g; /* bytes, once they all ended */
};

static void million_parked_body(void *arg)
{
	struct parked_run *pr = arg;
	struct gate gt = {.expect = pr->n};
	gt_join_init(&gt.done, pr->n);
	long rss0 = proc_rss_kib();
	for (long i = 0; i < pr->n; i++)
		ck_assert_int_gt(gort_go(parker, &gt), 0);
	gate_await_parked(&gt);
	long rss1 = proc_rss_kib();
	gort_stats st;
	gort_stats_get(&st);
	ck_assert_uint_eq(st.goroutines_live, (uint64_t)pr->n + 1);
	/* slabs keep the mapping count far below vm.max_map_count (65530) */
	ck_assert_int_lt(map_count(), 65530 / 2);
	pr->rss_per_g = (rss1 - rss0) * 1024 / pr->n;
	gate_open(&gt);
	pr->rss_kept_per_g = (proc_rss_kib() - rss0) * 1024 / pr->n;
}

START_TEST(million_goroutines_park_at_once)
{
	/* ASan's shadow and fake stacks cost more per goroutine: fewer there */
	struct parked_run pr = {.n = live_limit(gt_scaled(gt_sanitized() ? 100000 : 1000000))};
	gt_run(_i + 1, million_parked_body, &pr);
	fprintf(stderr, "million_goroutines_park_at_once: %ld goroutines, %ld bytes RSS each, "
	        "%ld kept after they ended\n", pr.n, pr.rss_per_g, pr.rss_kept_per_g);
	/* a burst's stacks go back to the kernel but the bounded caches (the
	 * warm list and each worker's, one touched page per block at most
	 * here), 8 bytes of bookkeeping each and the slab records' pages */
	long cached = (GORT__STACK_WARM_MAX + (_i + 1) * GORT__STACK_CACHE_MAX) * 4096L / pr.n;
	ck_assert_int_lt(pr.rss_kept_per_g, san_kept_limit() + cached);
}
END_TEST

START_TEST(parked_goroutine_touches_one_page)
{
	struct parked_run pr = {.n = live_limit(10000)};
	gt_run(1, million_parked_body, &pr);
	/* header + frames of a goroutine parked like a channel receive fit in
	 * the top page of its stack; page tables add ~1%. */
	long limit = san_parked_limit();
	ck_assert_msg(pr.rss_per_g <= limit, "%ld bytes per parked goroutine", pr.rss_per_g);
}
END_TEST

/* ---------------------------------------------------------------------
 * Stack reuse and sizes.
 * --------------------------------------------------------------------- */

static void noop(void *arg)
{
	gt_join_done(arg);
}

static void reuse_body(void *arg)
{
	int procs = *(int *)arg;
	gort_stats a, b;
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			gort_stats_get(&a);
		for (int i = 0; i < 5000; i++) {
			struct gt_join j;
			gt_join_init(&j, 1);
			ck_assert_int_gt(gort_go(noop, &j), 0);
			gt_join_wait(&j);
		}
	}
	gort_stats_get(&b);
	/* one worker: every stack comes back to its cache; two: a worker's
	 * cache may still fill up to its bound with stacks of goroutines it
	 * stole before handing half on, so the other maps a few more */
	if (procs == 1)
		ck_assert_uint_eq(b.stacks_mapped, a.stacks_mapped);
	else
		ck_assert_uint_le(b.stacks_mapped, a.stacks_mapped + GORT__STACK_CACHE_MAX);
	ck_assert_uint_ge(b.stacks_cached, 1);
}

START_TEST(spawns_reuse_cached_stacks)
{
	int procs = _i + 1;
	gt_run(procs, reuse_body, &procs);
}
END_TEST

/* A loop spawning goroutines that end at once, without waiting between
 * spawns: the spawner yields whenever half a run queue waits on its worker
 * (backpressure), so the goroutines run in bursts and their stacks come
 * back to the caches for the next burst, instead of each of them mapping a
 * fresh stack while the spawner runs on. */
static void burst_body(void *arg)
{
	int procs = *(int *)arg;
	long n = gt_scaled(100000);
	struct gt_join j;
	gt_join_init(&j, n);
	gort_stats a, b;
	gort_stats_get(&a);
	for (long i = 0; i < n; i++)
		ck_assert_int_gt(gort_go(noop, &j), 0);
	gt_join_wait(&j);
	gort_stats_get(&b);
	ck_assert_uint_le(b.stacks_mapped - a.stacks_mapped, 2u * procs * GORT__STACK_CACHE_MAX);
}

START_TEST(spawn_bursts_reuse_stacks)
{
	int procs = _i + 1;
	gt_run(procs, burst_body, &procs);
}
END_TEST

struct deep {
	size_t bytes;
	struct gt_join j;
	bool ok;
};

/* Uses `bytes` of stack through a chain of frames. */
static __attribute__((noinline)) long use_stack(size_t bytes)
{
	volatile char buf[1024];
	buf[0] = (char)bytes;
	buf[sizeof buf - 1] = 1;
	if (bytes <= sizeof buf)
		return buf[0] + buf[sizeof buf - 1];
	return use_stack(bytes - sizeof buf) + buf[sizeof buf - 1];
}

static void deep_user(void *arg)
{
	struct deep *d = arg;
	d->ok = use_stack(d->bytes) > 0;
	gt_join_done(&d->j);
}

static void sizes_body(void *arg)
{
	(void)arg;
	static const size_t sizes[] = {GORT_STACK_MIN, 100 * 1024, 1024 * 1024, 8 << 20};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		struct deep d = {.bytes = sizes[i] / 2};
		gt_join_init(&d.j, 1);
		gort_go_opts o = {.name = "deep", .stack_size = sizes[i]};
		ck_assert_int_gt(gort_go_with(deep_user, &d, &o), 0);
		gt_join_wait(&d.j);
		ck_assert(d.ok);
	}
}

START_TEST(goroutines_get_the_stack_size_they_ask_for)
{
	gt_run(_i + 1, sizes_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Stack overflow, in a child process.
 * --------------------------------------------------------------------- */

static volatile long recurse_limit = -1; /* never reached: no end */

static __attribute__((noinline)) long recurse(long n)
{
	volatile char pad[256];
	pad[0] = (char)n;
	if (n == recurse_limit)
		return pad[0];
	return recurse(n + 1) + pad[0];
}

static void overflow(void *arg)
{
	(void)arg;
	char msg[64];
	int len = snprintf(msg, sizeof msg, "id=%lld\n", (long long)gort_self_id());
	ck_assert_int_eq(write(2, msg, (size_t)len), len);
	recurse(0);
}

static int overflow_root(void *arg)
{
	(void)arg;
	gort_go_opts o = {.name = "deep-recursion", .stack_size = GORT_STACK_MIN};
	gort_go_with(overflow, NULL, &o);
	struct gt_join j;
	gt_join_init(&j, 1);
	gt_join_wait(&j);
	return 0;
}

struct overflow_case {
	int procs;
	bool mprotect_guards;
};

static void overflow_child(const struct overflow_case *oc, int fd)
{
	dup2(fd, 2);
	if (oc->mprotect_guards)
		gort__stack_use_mprotect_guards();
	gort_config cfg = {.procs = oc->procs};
	gort_main(&cfg, overflow_root, NULL);
	_exit(0);
}

static void check_overflow(const struct overflow_case *oc)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		overflow_child(oc, p[1]);
	}
	close(p[1]);
	static char out[1 << 16];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof out - 1 && (k = read(p[0], out + n, sizeof out - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = 0;
	close(p[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x: %s", status,
	              out);
	long long id = 0;
	ck_assert_msg(sscanf(out, "id=%lld", &id) == 1, "%s", out);
	char want[128];
	snprintf(want, sizeof want, "gort: fatal: stack overflow in goroutine %lld (deep-recursion)",
	         id);
	ck_assert_msg(strstr(out, want), "no \"%s\" in:\n%s", want, out);
}

START_TEST(stack_overflow_is_reported)
{
	struct overflow_case oc = {.procs = _i + 1};
	check_overflow(&oc);
}
END_TEST

START_TEST(stack_overflow_is_reported_with_mprotect_guards)
{
	struct overflow_case oc = {.procs = _i + 1, .mprotect_guards = true};
	check_overflow(&oc);
}
END_TEST

static void null_deref_child(void)
{
	int r = gort_main(NULL, (int (*)(void *))(uintptr_t)0x10, NULL);
	_exit(r);
}

START_TEST(other_faults_keep_default_action)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 2);
		signal(SIGSEGV, SIG_DFL);
		null_deref_child();
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %#x", status);
}
END_TEST

/* ---------------------------------------------------------------------
 * What a switch keeps.
 * --------------------------------------------------------------------- */

struct fpu {
	int mode;
	bool ok;
	struct gt_join *j;
};

static void keep_rounding(void *arg)
{
	struct fpu *f = arg;
	ck_assert_int_eq(fesetround(f->mode), 0);
	f->ok = true;
	for (int i = 0; i < 1000; i++) {
		gort_yield();
		if (fegetround() != f->mode)
			f->ok = false;
	}
	fesetround(FE_TONEAREST);
	gt_join_done(f->j);
}

static void fpu_body(void *arg)
{
	(void)arg;
	static const int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
	struct fpu f[8];
	struct gt_join j;
	gt_join_init(&j, 8);
	for (int i = 0; i < 8; i++) {
		f[i] = (struct fpu){.mode = modes[i % 4], .j = &j};
		ck_assert_int_gt(gort_go(keep_rounding, &f[i]), 0);
	}
	gt_join_wait(&j);
	for (int i = 0; i < 8; i++)
		ck_assert_msg(f[i].ok, "goroutine %d lost its rounding mode", i);
	ck_assert_int_eq(fegetround(), FE_TONEAREST);
}

START_TEST(switch_keeps_fpu_control_per_goroutine)
{
	gt_run(_i + 1, fpu_body, NULL);
}
END_TEST

struct regs {
	long sum;
	struct gt_join *j;
};

/* Keeps many values live across switches: callee-saved registers. */
static void keep_locals(void *arg)
{
	struct regs *r = arg;
	long a = r->sum, b = a * 3, c = a * 5, d = a * 7, e = a * 11, f = a * 13, g = a * 17;
	double x = (double)a * 0.5, y = (double)a * 0.25;
	for (int i = 0; i < 1000; i++) {
		gort_yield();
		a++, b += 3, c += 5, d += 7, e += 11, f += 13, g += 17;
		x += 0.5, y += 0.25;
	}
	r->sum = a + b + c + d + e + f + g + (long)(x * 4) + (long)(y * 8);
	gt_join_done(r->j);
}

static void regs_body(void *arg)
{
	(void)arg;
	struct regs r[16];
	struct gt_join j;
	gt_join_init(&j, 16);
	for (int i = 0; i < 16; i++) {
		r[i] = (struct regs){.sum = i, .j = &j};
		ck_assert_int_gt(gort_go(keep_locals, &r[i]), 0);
	}
	gt_join_wait(&j);
	for (long i = 0; i < 16; i++) {
		long a = i + 1000;
		long want = a + (i * 3 + 3000) + (i * 5 + 5000) + (i * 7 + 7000) + (i * 11 + 11000) +
		            (i * 13 + 13000) + (i * 17 + 17000) + (long)((i * 0.5 + 500) * 4) +
		            (long)((i * 0.25 + 250) * 8);
		ck_assert_int_eq(r[i].sum, want);
	}
}

START_TEST(switch_keeps_callee_saved_registers)
{
	gt_run(_i + 1, regs_body, NULL);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("stack");
	TCase *tc = gt_tcase("many", 60);
	tcase_add_loop_test(tc, million_goroutines_park_at_once, 0, 2);
	tcase_add_test(tc, parked_goroutine_touches_one_page);
	tcase_add_loop_test(tc, spawns_reuse_cached_stacks, 0, 2);
	tcase_add_loop_test(tc, spawn_bursts_reuse_stacks, 0, 2);
	tcase_add_loop_test(tc, goroutines_get_the_stack_size_they_ask_for, 0, 2);
	suite_add_tcase(s, tc);

	tc = gt_tcase("overflow", 30);
	tcase_add_loop_test(tc, stack_overflow_is_reported, 0, 2);
	tcase_add_loop_test(tc, stack_overflow_is_reported_with_mprotect_guards, 0, 2);
	tcase_add_test(tc, other_faults_keep_default_action);
	suite_add_tcase(s, tc);

	tc = gt_tcase("switch", 30);
	tcase_add_loop_test(tc, switch_keeps_fpu_control_per_goroutine, 0, 2);
	tcase_add_loop_test(tc, switch_keeps_callee_saved_registers, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
