/* test_engine.c — the job pipeline engine (daemon/engine.c, stages*.c):
 * every stage kind on a real runtime with 2 workers, exec's fan-out in
 * both orders, error policies, cancellation (no goroutine or child left),
 * the job timeout and backpressure as the metrics show it. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "harness.h"

typedef struct result {
	gd_job_state state;
	uint64_t count, nerrors;
	gd_job_error err0;
	size_t n;
	char **items; /* collected items, NUL-terminated copies */
} result;

static void result_free(result *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->items[i]);
	free(r->items);
}

static gd_pipe_spec *parse(const char *text)
{
	gd_pipe_spec *s = NULL;
	gd_pipe_error e;
	int r = gd_pipe_parse(text, strlen(text), &s, &e);
	ck_assert_msg(r == 0, "%s: %s", text, e.message);
	return s;
}

static void harvest(gd_job *j, result *out)
{
	memset(out, 0, sizeof(*out));
	out->state = gd_job_get_state(j);
	out->count = gd_job_count(j);
	out->nerrors = gd_job_nerrors(j);
	gd_job_error_get(j, 0, &out->err0);
	out->n = gd_job_ncollected(j);
	out->items = calloc(out->n + 1, sizeof(char *));
	for (size_t i = 0; i < out->n; i++) {
		const char *d;
		size_t len;
		ck_assert_int_eq(gd_job_collected(j, i, &d, &len), 0);
		out->items[i] = strndup(d, len);
	}
}

static void run(const char *text, const gd_job_opts *o, result *out)
{
	gd_job_opts def = {0};
	gd_pipe_spec *s = parse(text);
	gd_job *j;
	ck_assert_int_eq(gd_job_start(s, o ? o : &def, gort_ctx_background(), &j), 0);
	gd_job_wait(j);
	harvest(j, out);
	gd_job_free(j);
	gd_pipe_free(s);
}

static void expect_items(const result *r, const char *const *want, size_t n)
{
	ck_assert_uint_eq(r->n, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(r->items[i], want[i]);
}

/* ---- plain stages ---------------------------------------------------------- */

static void body_seq_map_count(void *arg)
{
	(void)arg;
	result r;
	long n = gt_scaled(100000);
	char text[128];
	snprintf(text, sizeof(text), "seq 1 %ld | map upper | count", n);
	run(text, NULL, &r);
	ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
	ck_assert_uint_eq(r.count, (uint64_t)n);
	result_free(&r);
	run("seq 10 1 -3 | collect", NULL, &r);
	expect_items(&r, (const char *[]){"10", "7", "4", "1"}, 4);
	result_free(&r);
}
START_TEST(seq_map_count)
{
	gt_run(2, body_seq_map_count, NULL);
}
END_TEST

static void write_file(const char *path, const char *text, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static char *tmp(const char *name)
{
	char *p;
	ck_assert_int_ge(asprintf(&p, "%s/%s", gt_tmpdir(), name), 0);
	return p;
}

static void body_map_fns(void *arg)
{
	(void)arg;
	char *f = tmp("words"), *text;
	write_file(f, "  Hello World \nabc\n", O_TRUNC);
	const char *fns[] = {"upper", "lower", "trim", "length", "sha256"};
	const char *want[][2] = {
		{"  HELLO WORLD ", "ABC"},
		{"  hello world ", "abc"},
		{"Hello World", "abc"},
		{"14", "3"},
		{"f86a164dd6ca36e9c07aed3cd725d3778e7a82b8accaf32e8a74b9f8af545217",
		 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	};
	for (int i = 0; i < 5; i++) {
		result r;
		ck_assert_int_ge(asprintf(&text, "lines %s | map %s | collect", f, fns[i]), 0);
		run(text, NULL, &r);
		free(text);
		ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
		ck_assert_uint_eq(r.n, 2);
		ck_assert_str_eq(r.items[0], want[i][0]);
		ck_assert_str_eq(r.items[1], want[i][1]);
		result_free(&r);
	}
	free(f);
}
START_TEST(map_fns)
{
	gt_run(2, body_map_fns, NULL);
}
END_TEST

static void hex(const uint8_t d[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

START_TEST(sha256_vectors)
{
	uint8_t d[32];
	char h[65];
	gd_sha256("", 0, d);
	hex(d, h);
	ck_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	gd_sha256(m448, strlen(m448), d);
	hex(d, h);
	ck_assert_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	size_t n = 1000000;
	char *a = malloc(n);
	memset(a, 'a', n);
	gd_sha256(a, n, d);
	free(a);
	hex(d, h);
	ck_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* 55, 56 and 64 bytes: the padding edges */
	gd_sha256("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 55, d);
	hex(d, h);
	ck_assert_str_eq(h, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
	gd_sha256("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 56, d);
	hex(d, h);
	ck_assert_str_eq(h, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
}
END_TEST

static void body_filter(void *arg)
{
	(void)arg;
	result r;
	run("seq 1 100 | filter ^1 | count", NULL, &r);
	ck_assert_uint_eq(r.count, 12); /* 1, 10..19, 100 */
	result_free(&r);
	run("seq 1 100 | filter -v ^1 | count", NULL, &r);
	ck_assert_uint_eq(r.count, 88);
	result_free(&r);
	run("seq 1 30 | filter '5$|^2[0-2]$' | collect", NULL, &r);
	expect_items(&r, (const char *[]){"5", "15", "20", "21", "22", "25"}, 6);
	result_free(&r);
}
START_TEST(filter)
{
	gt_run(2, body_filter, NULL);
}
END_TEST

static void body_take(void *arg)
{
	(void)arg;
	result r;
	/* take stops an endless source: the job ends, nothing keeps running
	 * (gt_run checks the goroutine count). */
	run("seq 1 9223372036854775807 | map upper | take 5 | collect", NULL, &r);
	ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
	expect_items(&r, (const char *[]){"1", "2", "3", "4", "5"}, 5);
	result_free(&r);
	run("seq 1 3 | take 10 | count", NULL, &r);
	ck_assert_uint_eq(r.count, 3);
	result_free(&r);
}
START_TEST(take)
{
	gt_run(2, body_take, NULL);
}
END_TEST

static void body_skip_batch_delay(void *arg)
{
	(void)arg;
	result r;
	run("seq 1 10 | skip 7 | collect", NULL, &r);
	expect_items(&r, (const char *[]){"8", "9", "10"}, 3);
	result_free(&r);
	run("seq 1 5 | batch 2 | collect", NULL, &r);
	expect_items(&r, (const char *[]){"1\n2", "3\n4", "5"}, 3);
	result_free(&r);
	int64_t t0 = gort_now();
	run("seq 1 3 | delay 20ms | collect", NULL, &r);
	ck_assert_int_ge(gort_now() - t0, 60 * GORT_MILLISECOND);
	expect_items(&r, (const char *[]){"1", "2", "3"}, 3);
	result_free(&r);
	run("seq 1 100 | collect 5", NULL, &r);
	ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
	expect_items(&r, (const char *[]){"1", "2", "3", "4", "5"}, 5);
	result_free(&r);
}
START_TEST(skip_batch_delay_collect)
{
	gt_run(2, body_skip_batch_delay, NULL);
}
END_TEST

/* ---- files ------------------------------------------------------------------ */

static void body_files(void *arg)
{
	(void)arg;
	result r;
	char *a = tmp("f1"), *b = tmp("f2"), *c = tmp("f3"), *text;
	write_file(a, "a1\na2\n", O_TRUNC);
	write_file(b, "b1\nb2\nb3", O_TRUNC); /* no final newline */
	write_file(c, "c1\n", O_TRUNC);
	ck_assert_int_ge(asprintf(&text, "lines %s | collect", b), 0);
	run(text, NULL, &r);
	free(text);
	expect_items(&r, (const char *[]){"b1", "b2", "b3"}, 3);
	result_free(&r);
	ck_assert_int_ge(asprintf(&text, "glob %s/f* | collect", gt_tmpdir()), 0);
	run(text, NULL, &r);
	free(text);
	expect_items(&r, (const char *[]){a, b, c}, 3);
	result_free(&r);
	/* bridge lines: every file's lines, file by file in order */
	ck_assert_int_ge(asprintf(&text, "glob %s/f* | bridge lines | collect", gt_tmpdir()), 0);
	run(text, NULL, &r);
	free(text);
	expect_items(&r, (const char *[]){"a1", "a2", "b1", "b2", "b3", "c1"}, 6);
	result_free(&r);
	ck_assert_int_ge(asprintf(&text, "glob %s/f[12] | bridge glob | collect", gt_tmpdir()), 0);
	run(text, NULL, &r);
	free(text);
	expect_items(&r, (const char *[]){a, b}, 2);
	result_free(&r);
	free(a);
	free(b);
	free(c);
}
START_TEST(files)
{
	gt_run(2, body_files, NULL);
}
END_TEST

static void body_file_sink(void *arg)
{
	(void)arg;
	result r;
	char *out = tmp("out"), *text, buf[64] = {0};
	ck_assert_int_ge(asprintf(&text, "seq 1 3 | file %s", out), 0);
	for (int i = 0; i < 2; i++) {
		run(text, NULL, &r);
		ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
		result_free(&r);
	}
	int fd = open(out, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, buf, sizeof(buf) - 1), 12);
	close(fd);
	ck_assert_str_eq(buf, "1\n2\n3\n1\n2\n3\n");
	free(text);
	ck_assert_int_ge(asprintf(&text, "seq 1 3 | file %s/no/such/dir", gt_tmpdir()), 0);
	run(text, NULL, &r);
	ck_assert_int_eq(r.state, GD_JOB_FAILED);
	result_free(&r);
	free(text);
	free(out);
}
START_TEST(file_sink)
{
	gt_run(2, body_file_sink, NULL);
}
END_TEST

static void body_tee(void *arg)
{
	(void)arg;
	result r;
	run("seq 1 100 | tee { count } { filter 0$ | collect }", NULL, &r);
	ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
	ck_assert_uint_eq(r.count, 100);
	ck_assert_uint_eq(r.n, 10);
	ck_assert_str_eq(r.items[9], "100");
	result_free(&r);
	/* a branch that stops early (take) does not stop the others */
	run("seq 1 1000 | tee { take 2 | collect } { count }", NULL, &r);
	ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
	ck_assert_uint_eq(r.count, 1000);
	expect_items(&r, (const char *[]){"1", "2"}, 2);
	result_free(&r);
}
START_TEST(tee_branches)
{
	gt_run(2, body_tee, NULL);
}
END_TEST

/* ---- stdin and the client sink -------------------------------------------- */

struct client {
	int n;
	char seen[8][16];
};

static int client_fn(void *arg, const char *data, size_t len)
{
	struct client *c = arg;
	if (c->n == 8)
		return -ENOSPC;
	snprintf(c->seen[c->n++], sizeof(c->seen[0]), "%.*s", (int)len, data);
	return 0;
}

static void body_stdin_client(void *arg)
{
	(void)arg;
	struct client c = {0};
	gd_job_opts o = {.client = client_fn, .client_arg = &c};
	gd_pipe_spec *s = parse("stdin | map upper");
	gd_job *j;
	ck_assert_int_eq(gd_job_start(s, &o, gort_ctx_background(), &j), 0);
	ck_assert_int_eq(gd_job_feed(j, "ab", 2), 0);
	ck_assert_int_eq(gd_job_feed(j, "cd", 2), 0);
	gd_job_feed_end(j);
	ck_assert_int_eq(gd_job_feed(j, "x", 1), -EPIPE);
	ck_assert_int_eq(gd_job_wait(j), GD_JOB_SUCCEEDED);
	ck_assert_int_eq(c.n, 2);
	ck_assert_str_eq(c.seen[0], "AB");
	ck_assert_str_eq(c.seen[1], "CD");
	gd_job_free(j);
	gd_pipe_free(s);
	/* a client that fails fails the job */
	c.n = 0;
	s = parse("seq 1 100");
	ck_assert_int_eq(gd_job_start(s, &o, gort_ctx_background(), &j), 0);
	ck_assert_int_eq(gd_job_wait(j), GD_JOB_FAILED);
	ck_assert_int_eq(c.n, 8);
	gd_job_free(j);
	gd_pipe_free(s);
}
START_TEST(stdin_client)
{
	gt_run(2, body_stdin_client, NULL);
}
END_TEST

/* ---- exec ------------------------------------------------------------------ */

static int cmp_num(const void *a, const void *b)
{
	return atoi(*(char *const *)a) - atoi(*(char *const *)b);
}

static void check_1_to_n(result *r, int n, bool ordered)
{
	ck_assert_int_eq(r->state, GD_JOB_SUCCEEDED);
	ck_assert_uint_eq(r->n, (size_t)n);
	if (!ordered)
		qsort(r->items, r->n, sizeof(char *), cmp_num);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(atoi(r->items[i]), i + 1);
}

static void body_exec(void *arg)
{
	(void)arg;
	signal(SIGPIPE, SIG_IGN);
	result r;
	int n = gt_sanitized() ? 60 : 200;
	char text[160];
	snprintf(text, sizeof(text), "seq 1 %d | exec -j 8 -- /bin/echo {} | collect 100000", n);
	run(text, NULL, &r);
	check_1_to_n(&r, n, false);
	result_free(&r);
	snprintf(text, sizeof(text),
	         "seq 1 %d | exec -j 8 --ordered -- /bin/echo {} | collect 100000", n);
	run(text, NULL, &r);
	check_1_to_n(&r, n, true);
	result_free(&r);
	snprintf(text, sizeof(text), "seq 1 %d | exec -j 8 --ordered -- /bin/cat | collect 100000",
	         n);
	run(text, NULL, &r);
	check_1_to_n(&r, n, true);
	result_free(&r);
	snprintf(text, sizeof(text), "seq 1 %d | exec -j 8 -- /bin/cat | collect 100000", n);
	run(text, NULL, &r);
	check_1_to_n(&r, n, false);
	result_free(&r);
	/* several lines per item, kept together and in order */
	run("seq 1 3 | exec -j 3 --ordered -- /usr/bin/seq {} | collect", NULL, &r);
	expect_items(&r, (const char *[]){"1", "1", "2", "1", "2", "3"}, 6);
	result_free(&r);
}
START_TEST(exec_fan)
{
	gt_run(2, body_exec, NULL);
}
END_TEST

static void body_exec_errors(void *arg)
{
	(void)arg;
	signal(SIGPIPE, SIG_IGN);
	result r;
	/* test(1) exits 1 for item 3: an error item */
	run("seq 1 5 | exec -- /usr/bin/test {} -ne 3 | count", NULL, &r);
	ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
	ck_assert_uint_eq(r.nerrors, 1);
	ck_assert_str_eq(r.err0.stage, "2");
	ck_assert_str_eq(r.err0.item, "3");
	ck_assert_str_eq(r.err0.message, "exit status 1");
	result_free(&r);
	gd_job_opts ff = {.fail_fast = true};
	run("seq 1 1000000 | exec -- /usr/bin/test {} -ne 3 | count", &ff, &r);
	ck_assert_int_eq(r.state, GD_JOB_FAILED);
	ck_assert_uint_ge(r.nerrors, 1);
	result_free(&r);
	run("seq 1 2 | exec -- /no/such/program | count", NULL, &r);
	ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
	ck_assert_uint_eq(r.nerrors, 2);
	result_free(&r);
	/* per-item timeout */
	run("seq 1 2 | exec --timeout 50ms -- /bin/sleep 10 | count", NULL, &r);
	ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
	ck_assert_uint_eq(r.nerrors, 2);
	ck_assert_msg(strstr(r.err0.message, "timed out"), "%s", r.err0.message);
	result_free(&r);
}
START_TEST(exec_errors)
{
	gt_run(2, body_exec_errors, NULL);
}
END_TEST

/* Children of this process still alive (zombies included). */
static int children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	pid_t me = getpid();
	while ((e = readdir(d))) {
		char p[300], buf[512];
		snprintf(p, sizeof(p), "/proc/%s/stat", e->d_name);
		int fd = open(p, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = 0;
		char *rp = strrchr(buf, ')');
		char st;
		int ppid;
		if (rp && sscanf(rp + 2, "%c %d", &st, &ppid) == 2 && ppid == me)
			n++;
	}
	closedir(d);
	return n;
}

static gd_stage_metrics metrics(gd_job *j, size_t i)
{
	gd_stage_metrics m;
	ck_assert_int_eq(gd_job_stage_metrics(j, i, &m), 0);
	return m;
}

static void body_cancel(void *arg)
{
	(void)arg;
	signal(SIGPIPE, SIG_IGN);
	gd_pipe_spec *s = parse("seq 1 1000000000 | exec -j 8 -- sleep 100 | discard");
	gd_job_opts o = {.kill_grace = GORT_SECOND};
	gd_job *j;
	ck_assert_int_eq(gd_job_start(s, &o, gort_ctx_background(), &j), 0);
	int64_t limit = gort_now() + 10 * GORT_SECOND;
	while (metrics(j, 1).busy < 8 || children() < 8) {
		ck_assert_int_lt(gort_now(), limit);
		gort_sleep(5 * GORT_MILLISECOND); /* polling a condition, not hiding a race */
	}
	ck_assert_int_eq(metrics(j, 1).workers, 8);
	int64_t t0 = gort_now();
	gd_job_cancel(j);
	ck_assert_int_eq(gd_job_wait(j), GD_JOB_CANCELLED);
	ck_assert_int_lt(gort_now() - t0, GORT_SECOND);
	ck_assert_int_eq(children(), 0);
	ck_assert_uint_eq(gd_job_nerrors(j), 0);
	gd_job_free(j);
	gd_pipe_free(s);
}
START_TEST(cancel)
{
	gt_run(2, body_cancel, NULL);
}
END_TEST

static void body_parent_cancel_timeout(void *arg)
{
	(void)arg;
	signal(SIGPIPE, SIG_IGN);
	result r;
	gd_job_opts o = {.timeout = 200 * GORT_MILLISECOND};
	int64_t t0 = gort_now();
	run("seq 1 1000000000 | exec -j 2 -- sleep 100 | discard", &o, &r);
	ck_assert_int_eq(r.state, GD_JOB_TIMED_OUT);
	ck_assert_int_lt(gort_now() - t0, 2 * GORT_SECOND);
	ck_assert_uint_eq(r.nerrors, 0);
	result_free(&r);
	ck_assert_int_eq(children(), 0);
	/* the parent context's cancellation (daemon shutdown) */
	gort_ctx *parent = gort_ctx_with_cancel(gort_ctx_background());
	gd_pipe_spec *s = parse("seq 1 1000000000 | delay 1ms | discard");
	gd_job *j;
	gd_job_opts def = {0};
	ck_assert_int_eq(gd_job_start(s, &def, parent, &j), 0);
	gort_ctx_cancel(parent);
	ck_assert_int_eq(gd_job_wait(j), GD_JOB_CANCELLED);
	gd_job_free(j);
	gd_pipe_free(s);
	gort_ctx_unref(parent);
}
START_TEST(timeout_parent)
{
	gt_run(2, body_parent_cancel_timeout, NULL);
}
END_TEST

static void body_backpressure(void *arg)
{
	(void)arg;
	gd_pipe_spec *s = parse("seq 1 1000000000 | map upper | delay 10ms | discard");
	gd_job_opts o = {.queue_capacity = 8};
	gd_job *j;
	ck_assert_int_eq(gd_job_start(s, &o, gort_ctx_background(), &j), 0);
	int64_t limit = gort_now() + 10 * GORT_SECOND;
	/* the queue in front of the slow stage fills up and stays full */
	while (metrics(j, 2).queue_len < 8) {
		ck_assert_int_lt(gort_now(), limit);
		gort_sleep(5 * GORT_MILLISECOND);
	}
	gort_sleep(100 * GORT_MILLISECOND);
	for (size_t i = 0; i < gd_job_nstages(j); i++) {
		gd_stage_metrics m = metrics(j, i);
		ck_assert_uint_le(m.queue_max, 8);
		ck_assert_uint_le(m.queue_len, 8);
		ck_assert_uint_eq(m.queue_cap, i == 0 ? 0 : 8);
	}
	gd_stage_metrics slow = metrics(j, 2), map = metrics(j, 1), src = metrics(j, 0);
	ck_assert_uint_eq(slow.queue_max, 8);
	ck_assert_int_gt(map.blocked_send_ns, 0); /* backpressure shows upstream */
	ck_assert_uint_le(src.items_out, 8 + 8 + 8 + slow.items_in + 2);
	ck_assert_int_lt(slow.items_in, 100);
	gd_job_cancel(j);
	ck_assert_int_eq(gd_job_wait(j), GD_JOB_CANCELLED);
	gd_job_free(j);
	gd_pipe_free(s);
}
START_TEST(backpressure)
{
	gt_run(2, body_backpressure, NULL);
}
END_TEST

static uint64_t run_count(const char *text)
{
	result r;
	run(text, NULL, &r);
	ck_assert_msg(r.state == GD_JOB_SUCCEEDED, "%s: %s", text, gd_job_state_name(r.state));
	ck_assert_msg(r.nerrors == 0, "%s: %s", text, r.err0.message);
	uint64_t n = r.count;
	result_free(&r);
	return n;
}

static void expect_run(const char *text, const char *const *want, size_t n)
{
	result r;
	run(text, NULL, &r);
	ck_assert_msg(r.state == GD_JOB_SUCCEEDED, "%s: %s", text, gd_job_state_name(r.state));
	expect_items(&r, want, n);
	result_free(&r);
}

/* The examples of docs/pipelines.md, run in a directory holding the files
 * they name. */
static void body_doc_examples(void *arg)
{
	(void)arg;
	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(chdir(gt_tmpdir()), 0);
	write_file("access.log", "GET / 200 \nGET /x 503 \nGET /y 500 \nGET /z 404 \n", O_TRUNC);
	write_file("a.log", "# comment\nkept\n", O_TRUNC);
	write_file("one.txt", "1\n2\n", O_TRUNC);
	write_file("two.txt", "3\n", O_TRUNC);
	for (int i = 1; i <= 20; i++) {
		char name[8];
		snprintf(name, sizeof(name), "%d", i);
		write_file(name, name, O_TRUNC);
	}
	long n = gt_sanitized() ? 100000 : 1000000, zeros = 0;
	for (long i = 1; i <= n; i++) {
		char b[24];
		uint8_t d[32];
		gd_sha256(b, (size_t)snprintf(b, sizeof(b), "%ld", i), d);
		zeros += d[0] == 0;
	}
	char text[96];
	snprintf(text, sizeof(text), "seq 1 %ld | map sha256 | filter ^00 | count", n);
	ck_assert_uint_eq(run_count(text), (uint64_t)zeros);
	ck_assert_uint_eq(run_count("lines access.log | tee { filter \" 5[0-9][0-9] \" | file "
	                            "errors.log } { count }"),
	                  4);
	expect_run("lines errors.log | collect", (const char *[]){"GET /x 503 ", "GET /y 500 "}, 2);
	expect_run("seq 1 10 2 | collect", (const char *[]){"1", "3", "5", "7", "9"}, 5);
	ck_assert_uint_eq(run_count("lines access.log | count"), 4);
	expect_run("glob '*.log' | collect", (const char *[]){"a.log", "access.log", "errors.log"},
	           3);
	expect_run("seq 1 5 | map sha256 | take 1 | collect",
	           (const char *[]){"6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"},
	           1);
	expect_run("lines a.log | filter -v '^#' | collect", (const char *[]){"kept"}, 1);
	ck_assert_uint_eq(run_count("seq 1 100 | take 10 | count"), 10);
	ck_assert_uint_eq(run_count("seq 1 100 | skip 90 | count"), 10);
	ck_assert_uint_eq(run_count("seq 1 100 | batch 10 | count"), 10);
	ck_assert_uint_eq(run_count("seq 1 3 | delay 10ms | count"), 3);
	ck_assert_uint_eq(run_count("seq 1 20 | exec -j 8 --ordered -- cp {} {}.bak | count"), 0);
	ck_assert_int_eq(access("1.bak", R_OK), 0);
	ck_assert_int_eq(access("20.bak", R_OK), 0);
	ck_assert_uint_eq(run_count("glob '*.txt' | bridge lines | count"), 3);
	ck_assert_uint_eq(run_count("seq 1 10 | tee { file all.txt } { count }"), 10);
	expect_run("lines all.txt | take 2 | collect", (const char *[]){"1", "2"}, 2);
	ck_assert_uint_eq(run_count("seq 1 3 | client"), 0);
	ck_assert_uint_eq(run_count("seq 1 3 | file out.txt"), 0);
	ck_assert_uint_eq(run_count("seq 1 3 | count"), 3);
	ck_assert_uint_eq(run_count("seq 1 3 | discard"), 0);
	result r;
	run("seq 1 1000 | collect 100", NULL, &r);
	ck_assert_uint_eq(r.n, 100);
	ck_assert_str_eq(r.items[99], "100");
	result_free(&r);
}
START_TEST(doc_examples)
{
	gt_run(2, body_doc_examples, NULL);
}
END_TEST

/* exec children and file access take the job's identity: as root, both
 * run as nobody (65534); otherwise setting ids is refused (an error item). */
static void body_identity(void *arg)
{
	(void)arg;
	signal(SIGPIPE, SIG_IGN);
	result r;
	gd_job_opts o = {.set_ids = true, .uid = 65534, .gid = 65534};
	run("seq 1 2 | exec -- /usr/bin/id -u | collect", &o, &r);
	ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
	if (geteuid() == 0) {
		expect_items(&r, (const char *[]){"65534", "65534"}, 2);
	} else {
		ck_assert_uint_eq(r.nerrors, 2);
		ck_assert_msg(strstr(r.err0.message, "spawn"), "%s", r.err0.message);
	}
	result_free(&r);
	char *secret = tmp("secret"), *text;
	write_file(secret, "s1\n", O_TRUNC);
	ck_assert_int_eq(chmod(secret, 0600), 0);
	ck_assert_int_ge(asprintf(&text, "lines %s | collect", secret), 0);
	o.uid = geteuid() == 0 ? 65534 : geteuid();
	o.gid = geteuid() == 0 ? 65534 : getegid();
	run(text, &o, &r);
	ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
	if (geteuid() == 0) {
		ck_assert_uint_eq(r.nerrors, 1); /* nobody may not read root's 0600 file */
		ck_assert_msg(strstr(r.err0.message, "Permission denied"), "%s", r.err0.message);
	} else {
		expect_items(&r, (const char *[]){"s1"}, 1);
	}
	result_free(&r);
	free(text);
	free(secret);
}
START_TEST(identity)
{
	gt_run(2, body_identity, NULL);
}
END_TEST

/* The same pipelines on one worker thread: nothing may depend on a second
 * worker making progress. */
/* opts.cwd: relative paths of lines, glob, bridge and file resolve in it,
 * glob's matches come out relative, exec children start in it; a
 * directory whose name holds glob metacharacters is matched literally. */
static void body_cwd(void *arg)
{
	(void)arg;
	signal(SIGPIPE, SIG_IGN); /* pwd exits without reading its stdin */
	char *dir = tmp("w[1]*"), *sub;
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_ge(asprintf(&sub, "%s/in.txt", dir), 0);
	write_file(sub, "x\ny\n", O_TRUNC);
	gd_job_opts o = {.cwd = dir};
	result r;
	run("lines in.txt | collect", &o, &r);
	expect_items(&r, (const char *[]){"x", "y"}, 2);
	result_free(&r);
	run("glob '*.txt' | collect", &o, &r);
	expect_items(&r, (const char *[]){"in.txt"}, 1);
	result_free(&r);
	run("glob '*.txt' | bridge lines | file out.log", &o, &r);
	ck_assert_int_eq(r.state, GD_JOB_SUCCEEDED);
	result_free(&r);
	run("lines out.log | collect", &o, &r);
	expect_items(&r, (const char *[]){"x", "y"}, 2);
	result_free(&r);
	run("seq 1 1 | exec -- pwd | collect", &o, &r);
	expect_items(&r, (const char *[]){dir}, 1);
	result_free(&r);
	char abs[] = "/";
	o.cwd = abs;
	run("seq 1 1 | exec -- pwd | collect", &o, &r);
	expect_items(&r, (const char *[]){"/"}, 1);
	result_free(&r);
	free(sub);
	free(dir);
}
START_TEST(cwd)
{
	gt_run(2, body_cwd, NULL);
}
END_TEST

START_TEST(one_worker)
{
	gt_run(1, body_take, NULL);
	gt_run(1, body_tee, NULL);
	gt_run(1, body_exec, NULL);
	gt_run(1, body_cancel, NULL);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = gt_tcase("stages", 60);
	tcase_add_test(tc, seq_map_count);
	tcase_add_test(tc, map_fns);
	tcase_add_test(tc, sha256_vectors);
	tcase_add_test(tc, filter);
	tcase_add_test(tc, take);
	tcase_add_test(tc, skip_batch_delay_collect);
	tcase_add_test(tc, files);
	tcase_add_test(tc, file_sink);
	tcase_add_test(tc, tee_branches);
	tcase_add_test(tc, stdin_client);
	suite_add_tcase(s, tc);
	tc = gt_tcase("exec", 60);
	tcase_add_test(tc, exec_fan);
	tcase_add_test(tc, exec_errors);
	tcase_add_test(tc, cancel);
	tcase_add_test(tc, timeout_parent);
	tcase_add_test(tc, backpressure);
	tcase_add_test(tc, one_worker);
	tcase_add_test(tc, identity);
	tcase_add_test(tc, doc_examples);
	tcase_add_test(tc, cwd);
	suite_add_tcase(s, tc);
	return s;
}
