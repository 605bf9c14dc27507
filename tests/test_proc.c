/* test_proc.c — child processes (gort_proc_*): exit codes and signals,
 * pipes both ways (100 MiB out without deadlock), argv/env/cwd, exec
 * errors, cancellation (SIGTERM, then SIGKILL after the grace for a child
 * that ignores SIGTERM), uid/gid switching, and no zombie or leaked
 * descriptor after 10,000 spawns. */
#include "config.h"
#include "harness.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS GORT_MILLISECOND

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static bool no_children(void)
{
	siginfo_t si;
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

/* Spawns argv with opts (argv set here), waits, returns the status. */
static gort_proc_status run(gort_proc_opts *o, char *const *argv)
{
	gort_proc *p;
	o->argv = argv;
	int r = gort_proc_spawn(o, &p, NULL);
	ck_assert_msg(r == 0, "spawn %s: %s", argv[0], strerror(-r));
	gort_proc_status st;
	ck_assert_int_eq(gort_proc_wait(p, &st, 0, NULL), 0);
	gort_proc_free(p);
	return st;
}

/* Reads f to the end into a malloc'ed string (NUL-terminated). */
static char *slurp(gort_fd *f, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	while ((n = gort_fd_read(f, buf + len, cap - len - 1, 0, NULL)) > 0) {
		len += (size_t)n;
		if (cap - len < 1024)
			buf = realloc(buf, cap *= 2);
	}
	ck_assert_int_eq(n, 0);
	buf[len] = 0;
	if (ret_len)
		*ret_len = len;
	return buf;
}

/* Runs argv with stdout piped; returns its output, *st its status. */
static char *capture(gort_proc_opts *o, char *const *argv, gort_proc_status *st)
{
	gort_proc *p;
	gort_fd *pipes[3];
	o->argv = argv;
	o->stdio[1].mode = GORT_STDIO_PIPE;
	int r = gort_proc_spawn(o, &p, pipes);
	ck_assert_msg(r == 0, "spawn %s: %s", argv[0], strerror(-r));
	ck_assert_ptr_null(pipes[0]);
	char *out = slurp(pipes[1], NULL);
	gort_fd_close(pipes[1]);
	ck_assert_int_eq(gort_proc_wait(p, st, 0, NULL), 0);
	gort_proc_free(p);
	return out;
}

/* ---------------------------------------------------------------------- */

static void status_body(void *arg)
{
	(void)arg;
	gort_proc_opts o = {0};
	gort_proc_status st = run(&o, (char *const[]){"/bin/true", NULL});
	ck_assert_int_eq(st.exit_code, 0);
	ck_assert_int_eq(st.signal, 0);
	st = run(&o, (char *const[]){"sh", "-c", "exit 42", NULL}); /* $PATH search */
	ck_assert_int_eq(st.exit_code, 42);
	st = run(&o, (char *const[]){"/bin/sh", "-c", "kill -USR1 $$", NULL});
	ck_assert_int_eq(st.exit_code, -1);
	ck_assert_int_eq(st.signal, SIGUSR1);
	ck_assert_int_eq(st.cancel_err, 0);
	gort_proc *p;
	o.argv = NULL;
	ck_assert_int_eq(gort_proc_spawn(&o, &p, NULL), -EINVAL);
	o.argv = (char *const[]){"/nonexistent/prog", NULL};
	ck_assert_int_eq(gort_proc_spawn(&o, &p, NULL), -ENOENT);
	o.argv = (char *const[]){"no-such-program-anywhere", NULL};
	ck_assert_int_eq(gort_proc_spawn(&o, &p, NULL), -ENOENT);
	o.argv = (char *const[]){"/bin/true", NULL};
	o.cwd = "/nonexistent";
	ck_assert_int_eq(gort_proc_spawn(&o, &p, NULL), -ENOENT);
	o.cwd = NULL;
	o.stdio[1].mode = GORT_STDIO_PIPE;
	ck_assert_int_eq(gort_proc_spawn(&o, &p, NULL), -EINVAL); /* pipe, nowhere to put it */
}

START_TEST(exit_codes_signals_and_exec_errors_are_reported)
{
	int fds = count_fds();
	gt_run(1, status_body, NULL);
	gt_run(2, status_body, NULL);
	ck_assert_int_eq(count_fds(), fds);
	ck_assert(no_children());
}
END_TEST

static void env_body(void *arg)
{
	(void)arg;
	gort_proc_opts o = {0};
	gort_proc_status st;
	o.envp = (char *const[]){"GORT_TEST_VAR=forty-two", NULL};
	o.path = "/bin/sh";
	char *out = capture(&o, (char *const[]){"sh", "-c", "echo \"$GORT_TEST_VAR\"", NULL}, &st);
	ck_assert_str_eq(out, "forty-two\n");
	free(out);
	o = (gort_proc_opts){.cwd = gt_tmpdir()};
	out = capture(&o, (char *const[]){"/bin/pwd", NULL}, &st);
	char want[4096];
	ck_assert_ptr_nonnull(realpath(gt_tmpdir(), want));
	strcat(want, "\n");
	ck_assert_str_eq(out, want);
	free(out);
	/* stdin from /dev/null: cat ends at once. */
	o = (gort_proc_opts){.stdio = {{GORT_STDIO_NULL, 0}}};
	out = capture(&o, (char *const[]){"/bin/sh", "-c", "cat; echo done", NULL}, &st);
	ck_assert_str_eq(out, "done\n");
	free(out);
}

START_TEST(argv_env_cwd_and_stdio_modes_reach_the_child)
{
	gt_run(2, env_body, NULL);
}
END_TEST

static void fds_body(void *arg)
{
	(void)arg;
	int p[2];
	ck_assert_int_eq(pipe(p), 0); /* not close-on-exec: inheritable */
	char cmd[128];
	snprintf(cmd, sizeof cmd, "test -e /proc/self/fd/%d && echo open || echo closed", p[1]);
	gort_proc_status st;
	gort_proc_opts o = {0};
	char *out = capture(&o, (char *const[]){"/bin/sh", "-c", cmd, NULL}, &st);
	ck_assert_str_eq(out, "closed\n");
	free(out);
	o = (gort_proc_opts){.keep_fds = true};
	out = capture(&o, (char *const[]){"/bin/sh", "-c", cmd, NULL}, &st);
	ck_assert_str_eq(out, "open\n");
	free(out);
	close(p[0]);
	close(p[1]);
}

START_TEST(inherited_descriptors_are_closed_unless_kept)
{
	gt_run(1, fds_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

#define BIG ((size_t)100 << 20)

static void big_body(void *arg)
{
	(void)arg;
	gort_proc_opts o = {0};
	gort_proc_status st;
	gort_proc *p;
	gort_fd *pipes[3];
	o.argv = (char *const[]){"/usr/bin/head", "-c", "104857600", "/dev/zero", NULL};
	o.stdio[1].mode = GORT_STDIO_PIPE;
	ck_assert_int_eq(gort_proc_spawn(&o, &p, pipes), 0);
	static char buf[1 << 18];
	size_t total = 0;
	ssize_t n;
	while ((n = gort_fd_read(pipes[1], buf, sizeof buf, 0, NULL)) > 0) {
		for (ssize_t i = 0; i < n; i += 4096)
			ck_assert_int_eq(buf[i], 0);
		total += (size_t)n;
	}
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(total, BIG);
	gort_fd_close(pipes[1]);
	ck_assert_int_eq(gort_proc_wait(p, &st, 0, NULL), 0);
	ck_assert_int_eq(st.exit_code, 0);
	gort_proc_free(p);
}

START_TEST(hundred_mib_of_output_through_a_pipe)
{
	gt_run(2, big_body, NULL);
}
END_TEST

struct feeder {
	gort_fd *in;
	size_t len;
	gort_waitgroup *wg;
};

static unsigned char pattern(size_t pos)
{
	return (unsigned char)(pos * 13 + pos / 509);
}

static void feed(void *arg)
{
	struct feeder *f = arg;
	static unsigned char buf[1 << 16];
	for (size_t pos = 0; pos < f->len;) {
		size_t n = f->len - pos < sizeof buf ? f->len - pos : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(pos + i);
		ck_assert_int_eq(gort_fd_write(f->in, buf, n, 0, NULL), (ssize_t)n);
		pos += n;
	}
	gort_fd_close(f->in); /* EOF for cat */
	gort_waitgroup_done(f->wg);
}

static void cat_body(void *arg)
{
	(void)arg;
	gort_proc_opts o = {.argv = (char *const[]){"/bin/cat", NULL}};
	o.stdio[0].mode = o.stdio[1].mode = GORT_STDIO_PIPE;
	gort_proc *p;
	gort_fd *pipes[3];
	ck_assert_int_eq(gort_proc_spawn(&o, &p, pipes), 0);
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct feeder f = {pipes[0], (size_t)16 << 20, &wg};
	gort_waitgroup_add(&wg, 1);
	gort_go(feed, &f);
	static unsigned char buf[1 << 16];
	size_t got = 0;
	ssize_t n;
	while ((n = gort_fd_read(pipes[1], buf, sizeof buf, 0, NULL)) > 0)
		for (ssize_t i = 0; i < n; i++, got++)
			if (buf[i] != pattern(got))
				ck_abort_msg("byte %zu differs", got);
	ck_assert_uint_eq(got, f.len);
	gort_waitgroup_wait(&wg);
	gort_fd_close(pipes[1]);
	gort_proc_status st;
	ck_assert_int_eq(gort_proc_wait(p, &st, 0, NULL), 0);
	ck_assert_int_eq(st.exit_code, 0);
	gort_proc_free(p);
}

START_TEST(stdin_and_stdout_pipes_stream_both_ways)
{
	gt_run(1, cat_body, NULL);
	gt_run(2, cat_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

static void cancel_body(void *arg)
{
	(void)arg;
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	gort_proc_opts o = {.argv = (char *const[]){"/bin/sleep", "1000", NULL}, .ctx = ctx};
	gort_proc *p;
	ck_assert_int_eq(gort_proc_spawn(&o, &p, NULL), 0);
	gort_proc_status st;
	ck_assert_int_eq(gort_proc_wait(p, &st, gort_now() + 20 * MS, NULL), -ETIMEDOUT);
	int64_t t0 = gort_now();
	gort_ctx_cancel(ctx);
	ck_assert_int_eq(gort_proc_wait(p, &st, 0, NULL), 0);
	ck_assert_int_lt(gort_now() - t0, 2 * GORT_SECOND);
	ck_assert_int_eq(st.signal, SIGTERM);
	ck_assert_int_eq(st.cancel_err, -ECANCELED);
	ck_assert_int_eq(gort_proc_signal(p, SIGTERM), -ESRCH); /* reaped */
	gort_proc_free(p);
	gort_ctx_unref(ctx);
	/* A context deadline does the same. */
	ctx = gort_ctx_with_timeout(gort_ctx_background(), 30 * MS);
	o.ctx = ctx;
	ck_assert_int_eq(gort_proc_spawn(&o, &p, NULL), 0);
	ck_assert_int_eq(gort_proc_wait(p, &st, 0, NULL), 0);
	ck_assert_int_eq(st.signal, SIGTERM);
	ck_assert_int_eq(st.cancel_err, -ETIMEDOUT);
	gort_proc_free(p);
	gort_ctx_unref(ctx);
}

START_TEST(cancellation_terminates_and_reaps_the_child)
{
	int fds = count_fds();
	gt_run(2, cancel_body, NULL);
	ck_assert(no_children());
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

static void stubborn_body(void *arg)
{
	(void)arg;
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	gort_proc_opts o = {
		.argv = (char *const[]){"/bin/sh", "-c", "trap '' TERM; echo ready; sleep 1000", NULL},
		.ctx = ctx,
		.kill_grace = 200 * MS,
		.new_pgroup = true,
	};
	o.stdio[1].mode = GORT_STDIO_PIPE;
	gort_proc *p;
	gort_fd *pipes[3];
	ck_assert_int_eq(gort_proc_spawn(&o, &p, pipes), 0);
	char buf[16];
	ck_assert_int_eq(gort_fd_read(pipes[1], buf, sizeof buf, 0, NULL), 6); /* "ready\n" */
	int64_t t0 = gort_now();
	gort_ctx_cancel(ctx);
	gort_proc_status st;
	ck_assert_int_eq(gort_proc_wait(p, &st, 0, NULL), 0);
	int64_t el = gort_now() - t0;
	ck_assert_int_eq(st.signal, SIGKILL);
	ck_assert_int_eq(st.cancel_err, -ECANCELED);
	ck_assert_int_ge(el, 200 * MS);
	ck_assert_int_lt(el, 2 * GORT_SECOND);
	/* The group got it too: sleep, which held the pipe, is gone (EOF). */
	ck_assert_int_eq(gort_fd_read(pipes[1], buf, sizeof buf, gort_now() + 5 * GORT_SECOND, NULL),
	                 0);
	gort_fd_close(pipes[1]);
	gort_proc_free(p);
	gort_ctx_unref(ctx);
}

START_TEST(child_ignoring_sigterm_is_killed_after_the_grace)
{
	gt_run(2, stubborn_body, NULL);
	ck_assert(no_children());
}
END_TEST

/* ---------------------------------------------------------------------- */

static void ids_body(void *arg)
{
	(void)arg;
	gort_proc_status st;
	gort_proc_opts o = {.set_ids = true, .uid = 65534, .gid = 65534};
	if (geteuid() != 0) {
		gort_proc *p;
		o.argv = (char *const[]){"/bin/true", NULL};
		ck_assert_int_eq(gort_proc_spawn(&o, &p, NULL), -EPERM);
		return;
	}
	char *out = capture(&o, (char *const[]){"/bin/sh", "-c", "id -u; id -g; id -G", NULL}, &st);
	ck_assert_str_eq(out, "65534\n65534\n65534\n");
	free(out);
	gid_t groups[] = {65534, 4};
	o.groups = groups;
	o.ngroups = 2;
	out = capture(&o, (char *const[]){"/bin/sh", "-c", "id -G", NULL}, &st);
	ck_assert(strcmp(out, "65534 4\n") == 0 || strcmp(out, "4 65534\n") == 0);
	free(out);
	/* cwd is entered as the new identity: not a directory it cannot search */
	char *priv;
	ck_assert_int_ge(asprintf(&priv, "%s/private", gt_tmpdir()), 0);
	ck_assert_int_eq(mkdir(priv, 0700), 0);
	gort_proc *p;
	gort_proc_opts plain = {.set_ids = true, .uid = 65534, .gid = 65534, .cwd = priv,
	                        .argv = (char *const[]){"/bin/true", NULL}};
	ck_assert_int_eq(gort_proc_spawn(&plain, &p, NULL), -EACCES);
	o.cwd = priv;
	ck_assert_int_eq(chmod(priv, 0711), 0);
	ck_assert_int_eq(chmod(gt_tmpdir(), 0711), 0); /* mkdtemp made it 0700 */
	out = capture(&o, (char *const[]){"/bin/pwd", NULL}, &st);
	ck_assert_int_eq(st.exit_code, 0);
	ck_assert(strncmp(out, priv, strlen(priv)) == 0);
	free(out);
	free(priv);
	ck_assert_int_eq(getuid(), 0); /* the parent's credentials are untouched */
}

START_TEST(child_runs_as_the_given_uid_and_gid)
{
	gt_run(1, ids_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

struct spawner {
	long n;
	gort_waitgroup *wg;
};

static void spawn_loop(void *arg)
{
	struct spawner *s = arg;
	gort_proc_opts o = {.argv = (char *const[]){"/bin/true", NULL}};
	for (long i = 0; i < s->n; i++) {
		gort_proc_status st = run(&o, (char *const[]){"/bin/true", NULL});
		ck_assert_int_eq(st.exit_code, 0);
	}
	gort_waitgroup_done(s->wg);
}

static void many_body(void *arg)
{
	long total = *(long *)arg;
	enum { INFLIGHT = 8 };
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct spawner s[INFLIGHT];
	gort_waitgroup_add(&wg, INFLIGHT);
	for (int i = 0; i < INFLIGHT; i++) {
		s[i] = (struct spawner){total / INFLIGHT, &wg};
		gort_go(spawn_loop, &s[i]);
	}
	gort_waitgroup_wait(&wg);
}

START_TEST(no_zombies_and_no_leaked_fds_after_ten_thousand_spawns)
{
	long total = gt_scaled(10000);
	int fds = count_fds();
	int64_t t0 = gort_now();
	gt_run(2, many_body, &total);
	double secs = (double)(gort_now() - t0) / 1e9;
	fprintf(stderr, "test_proc: %ld spawns in %.2f s (%.0f/s)\n", total / 8 * 8, secs,
	        (double)(total / 8 * 8) / secs);
	ck_assert(no_children());
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

static void wait_bounds_body(void *arg)
{
	(void)arg;
	gort_proc_opts o = {.argv = (char *const[]){"/bin/sleep", "1000", NULL}};
	gort_proc *p;
	ck_assert_int_eq(gort_proc_spawn(&o, &p, NULL), 0);
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	gort_ctx_cancel(ctx);
	gort_proc_status st = {.exit_code = 77};
	ck_assert_int_eq(gort_proc_wait(p, &st, 0, ctx), -ECANCELED);
	ck_assert_int_eq(st.exit_code, 77); /* untouched */
	ck_assert_int_eq(gort_proc_signal(p, 0), 0); /* the child lives on */
	ck_assert_int_eq(gort_proc_signal(p, SIGKILL), 0);
	gort_select_case c = {gort_proc_done(p), GORT_SELECT_RECV, NULL, false};
	ck_assert_int_eq(gort_select(&c, 1, true), 0);
	ck_assert_int_eq(gort_proc_wait(p, &st, 0, NULL), 0);
	ck_assert_int_eq(st.signal, SIGKILL);
	ck_assert_int_eq(st.cancel_err, 0);
	gort_proc_free(p);
	gort_ctx_unref(ctx);
	/* Freed before it exits: its reaper still reaps it. */
	o.argv = (char *const[]){"/bin/sh", "-c", "exit 3", NULL};
	ck_assert_int_eq(gort_proc_spawn(&o, &p, NULL), 0);
	gort_proc_free(p);
}

START_TEST(wait_bounds_do_not_kill_and_freed_children_are_still_reaped)
{
	gt_run(2, wait_bounds_body, NULL);
	ck_assert(no_children());
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = gt_tcase("proc", 60);
	tcase_add_test(tc, exit_codes_signals_and_exec_errors_are_reported);
	tcase_add_test(tc, argv_env_cwd_and_stdio_modes_reach_the_child);
	tcase_add_test(tc, inherited_descriptors_are_closed_unless_kept);
	tcase_add_test(tc, hundred_mib_of_output_through_a_pipe);
	tcase_add_test(tc, stdin_and_stdout_pipes_stream_both_ways);
	tcase_add_test(tc, cancellation_terminates_and_reaps_the_child);
	tcase_add_test(tc, child_ignoring_sigterm_is_killed_after_the_grace);
	tcase_add_test(tc, child_runs_as_the_given_uid_and_gid);
	tcase_add_test(tc, wait_bounds_do_not_kill_and_freed_children_are_still_reaped);
	tcase_add_test(tc, no_zombies_and_no_leaked_fds_after_ten_thousand_spawns);
	suite_add_tcase(s, tc);
	return s;
}
