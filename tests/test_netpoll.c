/* test_netpoll.c — the netpoller (gort_fd_*): reads and writes park and
 * resume, 10,000 concurrent Unix-socket connections echo with 2 workers,
 * deadlines and cancellation return promptly, close wakes waiters, stale
 * events after close and reuse are ignored, busy workers still poll. */
#include "config.h"
#include "harness.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS GORT_MILLISECOND

static gort_fd *open_or_die(int fd)
{
	gort_fd *f = gort_fd_open(fd);
	ck_assert_msg(f != NULL, "gort_fd_open: %s", strerror(errno));
	return f;
}

static void fd_pipe(gort_fd *ret[2])
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ret[0] = open_or_die(p[0]);
	ret[1] = open_or_die(p[1]);
}

static void fd_socketpair(gort_fd *ret[2])
{
	int p[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
	ret[0] = open_or_die(p[0]);
	ret[1] = open_or_die(p[1]);
}

/* ---------------------------------------------------------------------- */

struct xfer {
	gort_fd *fd;
	size_t len;
	gort_waitgroup *wg;
	uint64_t sum;
};

static unsigned char pattern(size_t pos)
{
	return (unsigned char)(pos * 7 + pos / 251);
}

static void writer(void *arg)
{
	struct xfer *x = arg;
	static unsigned char buf[65536];
	for (size_t pos = 0; pos < x->len;) {
		size_t n = x->len - pos < sizeof buf ? x->len - pos : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(pos + i);
		ck_assert_int_eq(gort_fd_write(x->fd, buf, n, 0, NULL), (ssize_t)n);
		pos += n;
	}
	gort_fd_close(x->fd);
	gort_waitgroup_done(x->wg);
}

static void pipe_body(void *arg)
{
	(void)arg;
	gort_fd *p[2];
	fd_pipe(p);
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct xfer x = {p[1], 8u << 20, &wg, 0};
	gort_waitgroup_add(&wg, 1);
	gort_go(writer, &x);
	size_t got = 0;
	unsigned char buf[4096];
	ssize_t n;
	while ((n = gort_fd_read(p[0], buf, sizeof buf, 0, NULL)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(got + (size_t)i))
				ck_abort_msg("byte %zu differs", got + (size_t)i);
		got += (size_t)n;
	}
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(got, x.len);
	gort_waitgroup_wait(&wg);
	gort_fd_close(p[0]);
}

START_TEST(pipe_transfer_parks_and_resumes_both_sides)
{
	gt_run(1, pipe_body, NULL);
	gt_run(2, pipe_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

/* The echo test runs its clients in a forked process with its own runtime,
 * so each side needs one descriptor per connection (RLIMIT_NOFILE is
 * 20,000 on the reference machine: both ends of 10,000 connections would
 * not fit in one process). */
enum { MSG = 64 };

struct echo {
	struct sockaddr_un addr;
	long n;
	int listen_fd;
	int gate[2];              /* the server writes a byte once all are accepted */
	gort_fd *gate_fd;         /* client side: the read end, waited on by all */
	gort_waitgroup wg;
	atomic_long ok, failed;
};

static struct echo E;

static void server(void *arg)
{
	gort_fd *c = arg;
	char buf[MSG];
	ssize_t n, total = 0;
	while ((n = gort_fd_read(c, buf, sizeof buf, 0, NULL)) > 0) {
		ck_assert_int_eq(gort_fd_write(c, buf, (size_t)n, 0, NULL), n);
		total += n;
	}
	ck_assert_int_eq(n, 0);
	if (total > 0)
		atomic_fetch_add(&E.ok, 1);
	gort_fd_close(c);
	gort_waitgroup_done(&E.wg);
}

static void server_body(void *arg)
{
	(void)arg;
	gort_fd *l = open_or_die(E.listen_fd);
	gort_go_opts o = {.name = "echo-server", .stack_size = 32 * 1024};
	gort_waitgroup_add(&E.wg, E.n);
	for (long i = 0; i < E.n; i++) {
		gort_fd *c;
		int r = gort_fd_accept(l, &c, NULL, NULL, gort_now() + 30 * GORT_SECOND, NULL);
		ck_assert_msg(r == 0, "accept %ld: %s", i, strerror(-r));
		ck_assert_int_gt(gort_go_with(server, c, &o), 0);
	}
	/* All n connections are open at once now; let the clients talk. */
	ck_assert_int_eq(write(E.gate[1], "g", 1), 1);
	gort_waitgroup_wait(&E.wg);
	ck_assert_int_eq(atomic_load(&E.ok), E.n);
	gort_fd_close(l);
}

/* Client side (in the forked process: no Check asserts, failures counted). */
static bool client_talk(gort_fd *f, long id)
{
	int r;
	while ((r = gort_fd_connect(f, (struct sockaddr *)&E.addr, sizeof E.addr, 0, NULL)) ==
	       -EAGAIN)
		gort_yield(); /* the listener's backlog is full: the server catches up */
	if (r != 0 || gort_fd_wait(E.gate_fd, GORT_FD_READ, 0, NULL) != GORT_FD_READ)
		return false;
	char msg[MSG], back[MSG];
	int len = snprintf(msg, sizeof msg, "hello from client %ld", id);
	if (gort_fd_write(f, msg, (size_t)len, 0, NULL) != len)
		return false;
	for (int got = 0; got < len;) {
		ssize_t n = gort_fd_read(f, back + got, sizeof back - (size_t)got, 0, NULL);
		if (n <= 0)
			return false;
		got += (int)n;
	}
	return memcmp(msg, back, (size_t)len) == 0;
}

static void client(void *arg)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	gort_fd *f = s >= 0 ? gort_fd_open(s) : NULL;
	bool ok = f && client_talk(f, (long)(intptr_t)arg);
	atomic_fetch_add(ok ? &E.ok : &E.failed, 1);
	if (f)
		gort_fd_close(f);
	gort_waitgroup_done(&E.wg);
}

static int clients_root(void *arg)
{
	(void)arg;
	E.gate_fd = gort_fd_open(E.gate[0]);
	if (!E.gate_fd)
		return 1;
	gort_go_opts o = {.name = "echo-client", .stack_size = 32 * 1024};
	gort_waitgroup_add(&E.wg, E.n);
	for (long i = 0; i < E.n; i++)
		if (gort_go_with(client, (void *)(intptr_t)i, &o) <= 0)
			return 1;
	gort_waitgroup_wait(&E.wg);
	gort_fd_close(E.gate_fd);
	if (atomic_load(&E.failed))
		fprintf(stderr, "echo clients: %ld failed\n", atomic_load(&E.failed));
	return atomic_load(&E.failed) != 0 || atomic_load(&E.ok) != E.n;
}

START_TEST(ten_thousand_concurrent_unix_connections_echo_with_two_workers)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
#ifdef GORT_TSAN
	long want = gt_scaled(2000); /* ThreadSanitizer stops at 8,128 fibers */
#else
	long want = gt_scaled(10000);
#endif
	E.n = (long)rl.rlim_max - 128 < want ? (long)rl.rlim_max - 128 : want;
	if (E.n < want)
		fprintf(stderr, "test_netpoll: RLIMIT_NOFILE allows %ld connections, not %ld\n", E.n,
		        want);
	rl.rlim_cur = rl.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	E.addr.sun_family = AF_UNIX;
	snprintf(E.addr.sun_path, sizeof E.addr.sun_path, "%s/echo.sock", gt_tmpdir());
	E.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(E.listen_fd, 0);
	ck_assert_int_eq(bind(E.listen_fd, (struct sockaddr *)&E.addr, sizeof E.addr), 0);
	ck_assert_int_eq(listen(E.listen_fd, 4096), 0);
	ck_assert_int_eq(pipe2(E.gate, O_CLOEXEC), 0);
	pid_t pid = fork(); /* before any runtime thread exists */
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(E.listen_fd);
		close(E.gate[1]);
		gort_config cfg = {.procs = 2};
		_exit(gort_main(&cfg, clients_root, NULL) == 0 ? 0 : 1);
	}
	close(E.gate[0]);
	gt_run(2, server_body, NULL);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client process failed (%#x)",
	              status);
	close(E.gate[1]);
}
END_TEST

/* ---------------------------------------------------------------------- */

static void deadline_body(void *arg)
{
	(void)arg;
	gort_fd *p[2];
	fd_pipe(p);
	char c;
	int64_t t0 = gort_now();
	ck_assert_int_eq(gort_fd_read(p[0], &c, 1, t0 + 50 * MS, NULL), -ETIMEDOUT);
	int64_t el = gort_now() - t0;
	ck_assert_int_ge(el, 50 * MS);
	ck_assert_int_lt(el, 50 * MS + 500 * MS);
	/* A past deadline: the call is tried once and does not wait. */
	t0 = gort_now();
	ck_assert_int_eq(gort_fd_read(p[0], &c, 1, 1, NULL), -ETIMEDOUT);
	ck_assert_int_lt(gort_now() - t0, 100 * MS);
	ck_assert_int_eq(gort_fd_wait(p[0], GORT_FD_READ, gort_now() + 20 * MS, NULL), -ETIMEDOUT);
	/* A write that fills the pipe returns what it wrote by the deadline,
	 * then a write into the full pipe times out. */
	static char big[1 << 20];
	ssize_t w = gort_fd_write(p[1], big, sizeof big, gort_now() + 20 * MS, NULL);
	ck_assert_int_gt(w, 0);
	ck_assert_int_lt(w, (ssize_t)sizeof big);
	ck_assert_int_eq(gort_fd_write(p[1], big, 1, gort_now() + 20 * MS, NULL), -ETIMEDOUT);
	for (ssize_t left = w; left > 0;) {
		ssize_t n = gort_fd_read(p[0], big, sizeof big, 0, NULL);
		ck_assert_int_gt(n, 0);
		left -= n;
	}
	/* Data that is there is returned despite a past deadline. */
	ck_assert_int_eq(gort_fd_write(p[1], "z", 1, 0, NULL), 1);
	ck_assert_int_eq(gort_fd_read(p[0], &c, 1, 1, NULL), 1);
	gort_fd_close(p[0]);
	gort_fd_close(p[1]);
}

START_TEST(deadline_returns_etimedout_promptly)
{
	gt_run(1, deadline_body, NULL);
	gt_run(2, deadline_body, NULL);
}
END_TEST

struct canceller {
	gort_ctx *ctx;
	int64_t after;
	gort_waitgroup *wg;
};

static void cancel_later(void *arg)
{
	struct canceller *c = arg;
	gort_sleep(c->after);
	gort_ctx_cancel(c->ctx);
	gort_waitgroup_done(c->wg);
}

static void cancel_body(void *arg)
{
	(void)arg;
	gort_fd *p[2];
	fd_pipe(p);
	char c;
	for (int round = 0; round < 20; round++) {
		gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
		gort_waitgroup wg = GORT_WAITGROUP_INIT;
		struct canceller k = {ctx, (round % 4) * MS, &wg};
		gort_waitgroup_add(&wg, 1);
		gort_go(cancel_later, &k);
		int64_t t0 = gort_now();
		int64_t dl = round % 2 ? gort_now() + 10 * GORT_SECOND : 0;
		ck_assert_int_eq(gort_fd_read(p[0], &c, 1, dl, ctx), -ECANCELED);
		ck_assert_int_lt(gort_now() - t0, 500 * MS);
		gort_waitgroup_wait(&wg); /* k and ctx outlive the canceller */
		gort_ctx_unref(ctx);
	}
	/* Already cancelled: at once, even with data ready. */
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	gort_ctx_cancel(ctx);
	ck_assert_int_eq(gort_fd_write(p[1], "z", 1, 0, NULL), 1);
	ck_assert_int_eq(gort_fd_read(p[0], &c, 1, 0, ctx), -ECANCELED);
	gort_ctx_unref(ctx);
	/* A context deadline gives -ETIMEDOUT; data then flows with a context. */
	ctx = gort_ctx_with_timeout(gort_ctx_background(), 30 * MS);
	ck_assert_int_eq(gort_fd_read(p[0], &c, 1, 0, ctx), 1);
	ck_assert_int_eq(gort_fd_read(p[0], &c, 1, 0, ctx), -ETIMEDOUT);
	gort_ctx_unref(ctx);
	gort_fd_close(p[0]);
	gort_fd_close(p[1]);
}

START_TEST(cancelled_context_returns_ecanceled_promptly)
{
	gt_run(1, cancel_body, NULL);
	gt_run(2, cancel_body, NULL);
}
END_TEST

/* Data arriving while a goroutine waits with a context wakes it. */
static void ctx_data_writer(void *arg)
{
	gort_fd *w = arg;
	for (int i = 0; i < 2000; i++) {
		char c = (char)i;
		ck_assert_int_eq(gort_fd_write(w, &c, 1, 0, NULL), 1);
		if (i % 7 == 0)
			gort_yield();
	}
}

static void ctx_data_body(void *arg)
{
	(void)arg;
	gort_fd *p[2];
	fd_socketpair(p);
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	gort_go(ctx_data_writer, p[1]);
	for (int i = 0; i < 2000;) {
		char buf[64];
		ssize_t n = gort_fd_read(p[0], buf, sizeof buf, 0, ctx);
		ck_assert_int_gt(n, 0);
		for (ssize_t k = 0; k < n; k++, i++)
			ck_assert_int_eq(buf[k], (char)i);
	}
	gort_ctx_unref(ctx);
	gort_fd_close(p[0]);
	gort_fd_close(p[1]);
}

START_TEST(reads_with_a_context_get_their_data)
{
	gt_run(1, ctx_data_body, NULL);
	gt_run(2, ctx_data_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

struct closewait {
	gort_fd *fd;
	gort_ctx *ctx;
	int result;
	gort_waitgroup *wg;
	gort_sema *parked;
};

static void close_waiter(void *arg)
{
	struct closewait *c = arg;
	char b;
	gort_sema_release(c->parked);
	c->result = (int)gort_fd_read(c->fd, &b, 1, 0, c->ctx);
	gort_waitgroup_done(c->wg);
}

static void close_body(void *arg)
{
	(void)arg;
	enum { W = 8 };
	gort_fd *p[2];
	fd_pipe(p);
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_sema parked = GORT_SEMA_INIT(0);
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	struct closewait c[W];
	for (int i = 0; i < W; i++) {
		c[i] = (struct closewait){p[0], i % 2 ? ctx : NULL, 0, &wg, &parked};
		gort_waitgroup_add(&wg, 1);
		gort_go(close_waiter, &c[i]);
	}
	for (int i = 0; i < W; i++)
		gort_sema_acquire(&parked);
	gort_sleep(5 * MS); /* most are parked by now; either way they must end */
	int64_t t0 = gort_now();
	ck_assert_int_eq(gort_fd_close(p[0]), 0);
	gort_waitgroup_wait(&wg);
	ck_assert_int_lt(gort_now() - t0, 500 * MS);
	for (int i = 0; i < W; i++)
		ck_assert_int_eq(c[i].result, -EBADF);
	gort_fd_close(p[1]);
	gort_ctx_unref(ctx);
}

START_TEST(close_wakes_every_waiter_with_ebadf)
{
	gt_run(1, close_body, NULL);
	gt_run(2, close_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

static void stale_body(void *arg)
{
	(void)arg;
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	gort_fd *old = open_or_die(p[0]);
	uint64_t old_data = gort__fd_epoll_data(old);
	int num = p[0];
	int q[2];
	ck_assert_int_eq(pipe2(q, O_CLOEXEC), 0);
	gort_fd_close(old);
	/* The same descriptor number, and the same record, for a new user. */
	ck_assert_int_eq(dup3(q[0], num, O_CLOEXEC), num);
	close(q[0]);
	int fresh = num;
	gort_fd *nw = open_or_die(fresh);
	uint64_t new_data = gort__fd_epoll_data(nw);
	ck_assert_uint_eq(new_data & 0xffffffffu, old_data & 0xffffffffu); /* record reused */
	ck_assert_uint_ne(new_data >> 32, old_data >> 32);                 /* new generation */
	uint32_t seen = gort__fd_events_seen(nw, 0);
	gort__netpoll_event(old_data, 0x001 /* EPOLLIN */);
	ck_assert_uint_eq(gort__fd_events_seen(nw, 0), seen); /* ignored */
	char c;
	ck_assert_int_eq(gort_fd_read(nw, &c, 1, gort_now() + 20 * MS, NULL), -ETIMEDOUT);
	gort__netpoll_event(new_data, 0x001);
	ck_assert_uint_eq(gort__fd_events_seen(nw, 0), seen + 1); /* a current one counts */
	gort_fd_close(nw);
	close(q[1]);
	close(p[1]);
}

START_TEST(stale_event_after_close_and_reuse_is_ignored)
{
	gt_run(1, stale_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

static atomic_int io_done;

static void io_then_flag(void *arg)
{
	gort_fd *r = arg;
	char c;
	ck_assert_int_eq(gort_fd_read(r, &c, 1, 0, NULL), 1);
	atomic_store(&io_done, 1);
}

static void spinner(void *arg)
{
	int64_t end = gort_now() + 10 * GORT_SECOND;
	while (!atomic_load(&io_done) && gort_now() < end)
		gort_yield();
	ck_assert_msg(atomic_load(&io_done), "IO-ready goroutine never ran");
	gort_waitgroup_done(arg);
}

static void busy_body(void *arg)
{
	(void)arg;
	gort_fd *p[2];
	fd_pipe(p);
	atomic_store(&io_done, 0);
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_go(io_then_flag, p[0]);
	gort_yield();
	gort_waitgroup_add(&wg, 3);
	for (int i = 0; i < 3; i++)
		gort_go(spinner, &wg); /* keep every worker busy: nobody sleeps in epoll */
	ck_assert_int_eq(gort_fd_write(p[1], "x", 1, 0, NULL), 1);
	gort_waitgroup_wait(&wg);
	gort_fd_close(p[0]);
	gort_fd_close(p[1]);
}

START_TEST(io_ready_goroutines_run_while_all_workers_are_busy)
{
	gt_run(1, busy_body, NULL);
	gt_run(2, busy_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

static void wait_accept_body(void *arg)
{
	(void)arg;
	gort_fd *s[2];
	fd_socketpair(s);
	ck_assert_int_eq(gort_fd_wait(s[0], GORT_FD_READ | GORT_FD_WRITE, 0, NULL), GORT_FD_WRITE);
	ck_assert_int_eq(gort_fd_wait(s[0], 0, 0, NULL), -EINVAL);
	ck_assert_int_eq(gort_fd_write(s[1], "a", 1, 0, NULL), 1);
	ck_assert_int_eq(gort_fd_wait(s[0], GORT_FD_READ, 0, NULL), GORT_FD_READ);
	gort_fd_close(s[1]);
	ck_assert_int_eq(gort_fd_wait(s[0], GORT_FD_READ, 0, NULL), GORT_FD_READ); /* hang-up */
	/* The peer is gone: -EPIPE, and no SIGPIPE (which would end the test). */
	ck_assert_int_eq(gort_fd_write(s[0], "b", 1, 0, NULL), -EPIPE);
	gort_fd_close(s[0]);

	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s/acc.sock", gt_tmpdir());
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(l, 8), 0);
	gort_fd *lf = open_or_die(l);
	gort_fd *conn = NULL;
	ck_assert_int_eq(gort_fd_accept(lf, &conn, NULL, NULL, gort_now() + 20 * MS, NULL),
	                 -ETIMEDOUT);
	ck_assert_ptr_null(conn);
	gort_fd_close(lf);
	unlink(a.sun_path);
}

START_TEST(wait_is_level_triggered_and_accept_honours_its_deadline)
{
	gt_run(2, wait_accept_body, NULL);
}
END_TEST

static void misuse_body(void *arg)
{
	(void)arg;
	char path[256];
	snprintf(path, sizeof path, "%s/file", gt_tmpdir());
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	errno = 0;
	ck_assert_ptr_null(gort_fd_open(fd));
	ck_assert_int_eq(errno, EPERM);
	close(fd);
	ck_assert_ptr_null(gort_fd_open(fd));
	ck_assert_int_eq(errno, EBADF);
}

START_TEST(open_rejects_regular_files_and_bad_descriptors)
{
	gt_run(1, misuse_body, NULL);
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_ptr_null(gort_fd_open(p[0]));
	ck_assert_int_eq(errno, ESRCH); /* runtime not running */
}
END_TEST

/* Handles still open when gort_main returns are closed by it. */
static int leftover_fd = -1;

static void leftover_body(void *arg)
{
	(void)arg;
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	open_or_die(p[0]);
	leftover_fd = p[0];
	close(p[1]);
}

/* A goroutine left parked on a descriptor when the root returns. */
static void leftover_reader(void *arg)
{
	char c;
	gort_fd_read(arg, &c, 1, 0, NULL);
	ck_abort_msg("a discarded goroutine ran again");
}

static int leftover_root(void *arg)
{
	(void)arg;
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	gort_fd *r = open_or_die(p[0]);
	leftover_fd = p[1];
	gort_go(leftover_reader, r);
	gort_yield();
	gort_sleep(MS); /* the reader parks meanwhile; discarded either way */
	return 0;
}

START_TEST(runtime_end_closes_leftover_handles)
{
	gt_run(1, leftover_body, NULL);
	ck_assert_int_eq(fcntl(leftover_fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	/* Waiters of discarded goroutines are forgotten, records reused. */
	signal(SIGPIPE, SIG_IGN);
	gort_config cfg = {.procs = 2};
	ck_assert_int_eq(gort_main(&cfg, leftover_root, NULL), 0);
	ck_assert_int_eq(write(leftover_fd, "x", 1), -1); /* the read end is closed */
	ck_assert_int_eq(errno, EPIPE);
	close(leftover_fd);
	gt_run(2, pipe_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

static void tcp_peer(void *arg)
{
	gort_fd *l = arg;
	gort_fd *c;
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	ck_assert_int_eq(gort_fd_accept(l, &c, (struct sockaddr *)&from, &fl, 0, NULL), 0);
	ck_assert_int_eq(from.sin_family, AF_INET);
	char buf[16];
	ssize_t n = gort_fd_read(c, buf, sizeof buf, 0, NULL);
	ck_assert_int_eq(gort_fd_write(c, buf, (size_t)n, 0, NULL), n);
	gort_fd_close(c);
}

static void tcp_body(void *arg)
{
	(void)arg;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
	ck_assert_int_eq(listen(l, 8), 0);
	gort_fd *lf = open_or_die(l);
	gort_go(tcp_peer, lf);
	gort_fd *c = open_or_die(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ck_assert_int_eq(gort_fd_connect(c, (struct sockaddr *)&a, sizeof a, gort_now() + GORT_SECOND,
	                                 NULL), 0);
	ck_assert_int_eq(gort_fd_write(c, "ping", 4, 0, NULL), 4);
	char buf[8];
	ck_assert_int_eq(gort_fd_read(c, buf, sizeof buf, 0, NULL), 4);
	ck_assert(memcmp(buf, "ping", 4) == 0);
	ck_assert_int_eq(gort_fd_read(c, buf, sizeof buf, 0, NULL), 0);
	gort_fd_close(c);
	gort_fd_close(lf);
	/* Nobody listens there any more. */
	c = open_or_die(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ck_assert_int_eq(gort_fd_connect(c, (struct sockaddr *)&a, sizeof a, 0, NULL), -ECONNREFUSED);
	gort_fd_close(c);
}

START_TEST(tcp_connect_waits_for_the_outcome)
{
	gt_run(1, tcp_body, NULL);
	gt_run(2, tcp_body, NULL);
}
END_TEST

/* ---------------------------------------------------------------------- */

/* Data, cancellation and deadlines race for the same waiter; whichever
 * wins, the result is one of the three and nothing is left behind. */
struct race {
	gort_fd *rd, *wr;
	gort_ctx *ctx;
	int yields_write, yields_cancel;
	gort_waitgroup *wg;
};

static void race_writer(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < r->yields_write; i++)
		gort_yield();
	ck_assert_int_eq(gort_fd_write(r->wr, "d", 1, 0, NULL), 1);
	gort_waitgroup_done(r->wg);
}

static void race_canceller(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < r->yields_cancel; i++)
		gort_yield();
	gort_ctx_cancel(r->ctx);
	gort_waitgroup_done(r->wg);
}

static atomic_long race_counts[3];

static void race_reader(void *arg)
{
	struct race *r = arg;
	char c;
	int64_t dl = gort_now() + (int64_t)(gort__rand() % 200) * GORT_MICROSECOND;
	ssize_t n = gort_fd_read(r->rd, &c, 1, dl, r->ctx);
	ck_assert_msg(n == 1 || n == -ECANCELED || n == -ETIMEDOUT, "read gave %zd", n);
	atomic_fetch_add(&race_counts[n == 1 ? 0 : n == -ECANCELED ? 1 : 2], 1);
	gort_waitgroup_done(r->wg);
}

static void race_body(void *arg)
{
	(void)arg;
	enum { G = 32 };
	static struct race r[G];
	static gort_fd *p[G][2];
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	for (int i = 0; i < G; i++)
		fd_socketpair(p[i]);
	long rounds = gt_scaled(200);
	for (long round = 0; round < rounds; round++) {
		gort_waitgroup_add(&wg, 3 * G);
		for (int i = 0; i < G; i++) {
			r[i] = (struct race){p[i][0], p[i][1], gort_ctx_with_cancel(gort_ctx_background()),
			                     (int)(gort__rand() % 8), (int)(gort__rand() % 8), &wg};
			gort_go(race_reader, &r[i]);
			gort_go(race_writer, &r[i]);
			gort_go(race_canceller, &r[i]);
		}
		gort_waitgroup_wait(&wg);
		for (int i = 0; i < G; i++) {
			char c;
			while (gort_fd_read(p[i][0], &c, 1, 1, NULL) == 1) /* drain */
				;
			gort_ctx_unref(r[i].ctx);
		}
	}
	for (int i = 0; i < G; i++) {
		gort_fd_close(p[i][0]);
		gort_fd_close(p[i][1]);
	}
}

START_TEST(data_cancel_and_deadline_racing_for_one_waiter)
{
	gt_run(1, race_body, NULL);
	gt_run(2, race_body, NULL);
	ck_assert_int_gt(atomic_load(&race_counts[0]), 0);
	ck_assert_int_gt(atomic_load(&race_counts[1]) + atomic_load(&race_counts[2]), 0);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("netpoll");
	TCase *tc = gt_tcase("netpoll", 60);
	tcase_add_test(tc, pipe_transfer_parks_and_resumes_both_sides);
	tcase_add_test(tc, ten_thousand_concurrent_unix_connections_echo_with_two_workers);
	tcase_add_test(tc, deadline_returns_etimedout_promptly);
	tcase_add_test(tc, cancelled_context_returns_ecanceled_promptly);
	tcase_add_test(tc, reads_with_a_context_get_their_data);
	tcase_add_test(tc, close_wakes_every_waiter_with_ebadf);
	tcase_add_test(tc, stale_event_after_close_and_reuse_is_ignored);
	tcase_add_test(tc, io_ready_goroutines_run_while_all_workers_are_busy);
	tcase_add_test(tc, wait_is_level_triggered_and_accept_honours_its_deadline);
	tcase_add_test(tc, tcp_connect_waits_for_the_outcome);
	tcase_add_test(tc, data_cancel_and_deadline_racing_for_one_waiter);
	tcase_add_test(tc, open_rejects_regular_files_and_bad_descriptors);
	tcase_add_test(tc, runtime_end_closes_leftover_handles);
	suite_add_tcase(s, tc);
	return s;
}
