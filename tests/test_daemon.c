/* test_daemon.c — the real godaemon binary, started with fork/exec: with its
 * own bind in a temporary directory and through systemd-socket-activate,
 * its sd_notify messages read from a NOTIFY_SOCKET the test binds, and
 * every kind of bad input of docs/protocol.md, the connection limit, and
 * leak checks over many connections (fds from /proc/PID/fd, goroutines and
 * connections from the stats method).
 *
 * Each test starts its own daemon in its own temporary directory (Check's
 * fork mode) and stops it with SIGTERM, expecting a clean exit 0 (in the
 * ASan build that includes LeakSanitizer's verdict).  Waits poll with a
 * bound; nothing sleeps to make a race unlikely.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "harness.h"
#include "proto.h"

#ifndef GT_DAEMON
#error "GT_DAEMON must name the built daemon binary"
#endif

/* ---- time ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sanitizer builds run slower: stretch the waits. */
static int wait_ms(int ms)
{
	return gt_sanitized() ? ms * 4 : ms;
}

/* ---- the daemon process ---------------------------------------------------- */

typedef struct dproc {
	pid_t pid;
	int notify_fd;           /* our NOTIFY_SOCKET, SOCK_DGRAM */
	char sock[108];          /* where clients connect */
	char conf[256];
	char log[256];           /* the daemon's stderr */
	int watchdog_pings;      /* WATCHDOG=1 seen so far */
} dproc;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The test's configuration: socket in the temporary directory (sock NULL:
 * none, the --user default), no group, then the given extra sections. */
static void write_conf(dproc *d, const char *sock, const char *extra)
{
	char text[2048];
	if (sock)
		snprintf(text, sizeof text, "[daemon]\nsocket = %s\nsocket_group =\n%s", sock,
		         extra ? extra : "");
	else
		snprintf(text, sizeof text, "%s", extra ? extra : "");
	write_file(d->conf, text);
}

static void notify_open(dproc *d, char *path, size_t size)
{
	snprintf(path, size, "%s/notify", gt_tmpdir());
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	unlink(path); /* a previous daemon's, in the same test */
	d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(d->notify_fd, 0);
	ck_assert_int_eq(bind(d->notify_fd, (struct sockaddr *)&sa, sizeof sa), 0);
}

/* Reads notifications until one contains needle (counting watchdog pings
 * on the way).  True if it came within timeout_ms. */
static bool notify_wait(dproc *d, const char *needle, int timeout_ms)
{
	int64_t end = now_ms() + wait_ms(timeout_ms);
	for (;;) {
		int left = (int)(end - now_ms());
		struct pollfd p = {d->notify_fd, POLLIN, 0};
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return false;
		char buf[4096];
		ssize_t n = recv(d->notify_fd, buf, sizeof buf - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, "WATCHDOG=1"))
			d->watchdog_pings++;
		if (needle && strstr(buf, needle))
			return true;
	}
}

/* OWN_BIND: godaemon -c CONF; ACTIVATED: through systemd-socket-activate;
 * USER: godaemon --user with XDG_RUNTIME_DIR and XDG_STATE_HOME in the
 * temporary directory and no socket in CONF. */
typedef enum start_mode { OWN_BIND, ACTIVATED, USER } start_mode;

/* ASAN_OPTIONS for the daemon, when a test needs its own (NULL: inherit). */
static const char *child_asan_options;
/* --procs for the daemon. */
static const char *child_procs = "2";
/* RLIMIT_NOFILE for the daemon, when a test sets one (0: inherit). */
static rlim_t child_nofile;

static void dstart_env(dproc *d, const char *extra_conf, start_mode mode, bool watchdog)
{
	char npath[100];
	memset(d, 0, sizeof *d);
	snprintf(d->sock, sizeof d->sock, "%s/d.sock", gt_tmpdir());
	snprintf(d->conf, sizeof d->conf, "%s/godaemon.conf", gt_tmpdir());
	snprintf(d->log, sizeof d->log, "%s/daemon.log", gt_tmpdir());
	char own[128], xdg_run[80], xdg_state[128];
	snprintf(own, sizeof own, "%s/own.sock", gt_tmpdir());
	snprintf(xdg_run, sizeof xdg_run, "%s/run", gt_tmpdir());
	snprintf(xdg_state, sizeof xdg_state, "%s/state", gt_tmpdir());
	if (mode == USER) {
		ck_assert_int_eq(mkdir(xdg_run, 0700) < 0 && errno != EEXIST, 0);
		snprintf(d->sock, sizeof d->sock, "%s/godaemon/godaemon.sock", xdg_run);
	}
	write_conf(d, mode == ACTIVATED ? own : mode == USER ? NULL : d->sock, extra_conf);
	notify_open(d, npath, sizeof npath);
	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid > 0)
		return;
	int lfd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (lfd < 0 || dup2(lfd, 2) < 0)
		_exit(126);
	unsetenv("JOURNAL_STREAM");
	unsetenv("LISTEN_FDS");
	setenv("NOTIFY_SOCKET", npath, 1);
	if (child_asan_options)
		setenv("ASAN_OPTIONS", child_asan_options, 1);
	struct rlimit rl = {child_nofile, child_nofile};
	if (child_nofile && setrlimit(RLIMIT_NOFILE, &rl) < 0)
		_exit(125);
	setenv("XDG_RUNTIME_DIR", xdg_run, 1);
	setenv("XDG_STATE_HOME", xdg_state, 1);
	if (watchdog) {
		char pid[32];
		snprintf(pid, sizeof pid, "%d", (int)getpid());
		setenv("WATCHDOG_USEC", "200000", 1);
		setenv("WATCHDOG_PID", pid, 1);
	}
	char notify_env[160];
	snprintf(notify_env, sizeof notify_env, "NOTIFY_SOCKET=%s", npath);
	if (mode == ACTIVATED)
		execlp("systemd-socket-activate", "systemd-socket-activate", "-l", d->sock, "-E",
		       notify_env, GT_DAEMON, "-c", d->conf, "--procs", child_procs, (char *)NULL);
	else
		execl(GT_DAEMON, "godaemon", "-c", d->conf, "--procs", child_procs,
		      mode == USER ? "--user" : (char *)NULL, (char *)NULL);
	_exit(127);
}

static void dstart(dproc *d, const char *extra_conf)
{
	dstart_env(d, extra_conf, OWN_BIND, false);
	ck_assert_msg(notify_wait(d, "READY=1", 10000), "no READY=1 from the daemon");
}

/* Waits for the process to exit; its exit status, or -1 on timeout. */
static int dwait(dproc *d, int timeout_ms)
{
	int64_t end = now_ms() + wait_ms(timeout_ms);
	int st;
	for (;;) {
		pid_t r = waitpid(d->pid, &st, WNOHANG);
		if (r == d->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (now_ms() > end)
			return -1;
		struct pollfd p = {d->notify_fd, POLLIN, 0};
		if (poll(&p, 1, 5) > 0)
			notify_wait(d, NULL, 1); /* drain, counting pings */
	}
}

static void dump_log(const dproc *d)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "cat %s >&2", d->log);
	if (system(cmd) != 0)
		return;
}

static void dstop(dproc *d)
{
	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
	int st = dwait(d, 15000);
	if (st != 0)
		dump_log(d);
	ck_assert_msg(st == 0, "godaemon exited with %d on SIGTERM", st);
	close(d->notify_fd);
}

static bool log_contains(const dproc *d, const char *needle)
{
	FILE *f = fopen(d->log, "r");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* ---- a client ---------------------------------------------------------------- */

typedef struct client {
	int fd;
	gd_decoder *dec;
	uint32_t next_id;
} client;

static int cl_try_connect(client *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	memset(c, 0, sizeof *c);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int r = -errno;
		close(c->fd);
		return r;
	}
	ck_assert_int_eq(gd_decoder_new(GD_PROTO_MESSAGE_SIZE_MAX, &c->dec), 0);
	return 0;
}

static void cl_connect(client *c, const char *path)
{
	int r = cl_try_connect(c, path);
	ck_assert_msg(r == 0, "connect %s: %s", path, strerror(-r));
}

static void cl_close(client *c)
{
	close(c->fd);
	gd_decoder_free(c->dec);
	c->fd = -1;
}

static void cl_send(client *c, const void *buf, size_t len)
{
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
	ck_assert_msg(n == (ssize_t)len, "send: %s", n < 0 ? strerror(errno) : "short");
}

/* The next message: 1, 0 at end of file, -ETIMEDOUT. */
static int cl_recv(client *c, gd_message *m, int timeout_ms)
{
	int64_t end = now_ms() + wait_ms(timeout_ms);
	for (;;) {
		gd_proto_error err;
		int r = gd_decoder_next(c->dec, m, &err);
		ck_assert_msg(r >= 0, "client decoder: %s", err.message);
		if (r == 1)
			return 1;
		int left = (int)(end - now_ms());
		struct pollfd p = {c->fd, POLLIN, 0};
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return -ETIMEDOUT;
		char buf[65536];
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n <= 0)
			return 0; /* end of file, or reset after the server closed */
		ck_assert_int_eq(gd_decoder_feed(c->dec, buf, (size_t)n, &err), 0);
	}
}

/* Sends a request whose parameters pack_params packs (nparams of them). */
typedef void (*pack_fn)(msgpack_packer *pk);

static uint32_t cl_request(client *c, const char *method, uint32_t nparams, pack_fn pack)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	uint32_t id = ++c->next_id;
	ck_assert_int_eq(gd_proto_pack_request(&pk, id, method, nparams), 0);
	if (pack)
		pack(&pk);
	cl_send(c, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return id;
}

/* Waits for the response to id; returns its error code (0: success). */
static int cl_response(client *c, uint32_t id, gd_message *ret)
{
	int r = cl_recv(c, ret, 10000);
	ck_assert_msg(r == 1, "no response to request %u (%d)", id, r);
	ck_assert_int_eq(ret->type, GD_MSG_RESPONSE);
	ck_assert_uint_eq(ret->msgid, id);
	if (ret->error->type == MSGPACK_OBJECT_NIL)
		return 0;
	gd_proto_error e;
	ck_assert_int_eq(gd_proto_error_from_object(ret->error, &e), 0);
	return e.code;
}

static void pack_hello(msgpack_packer *pk)
{
	msgpack_pack_uint32(pk, GD_PROTO_VERSION);
	msgpack_pack_str_with_body(pk, "test_daemon", 11);
}

static int cl_call(client *c, const char *method)
{
	bool hello = strcmp(method, "hello") == 0;
	uint32_t id = cl_request(c, method, hello ? 2 : 0, hello ? pack_hello : NULL);
	gd_message m;
	int code = cl_response(c, id, &m);
	gd_message_free(&m);
	return code;
}

/* The code of an error notification (failing if m is not one). */
static int fatal_code(const gd_message *m)
{
	ck_assert_int_eq(m->type, GD_MSG_NOTIFICATION);
	ck_assert_int_eq(m->method, GD_METHOD_ERROR);
	ck_assert_uint_eq(m->params->via.array.size, 1);
	gd_proto_error e;
	ck_assert_int_eq(gd_proto_error_from_object(&m->params->via.array.ptr[0], &e), 0);
	return e.code;
}

/* Expects the fatal error notification with code, then end of file. */
static void expect_fatal(client *c, int code)
{
	gd_message m;
	int r = cl_recv(c, &m, 10000);
	ck_assert_msg(r == 1, "no error notification (%d)", r);
	ck_assert_int_eq(fatal_code(&m), code);
	gd_message_free(&m);
	ck_assert_int_eq(cl_recv(c, &m, 10000), 0);
}

/* The stats result's counter section.key. */
static uint64_t stats_get(client *c, const char *section, const char *key)
{
	uint32_t id = cl_request(c, "stats", 0, NULL);
	gd_message m;
	ck_assert_int_eq(cl_response(c, id, &m), 0);
	const msgpack_object *v = gd_proto_map_get(gd_proto_map_get(m.result, section), key);
	ck_assert_msg(v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "stats %s.%s", section, key);
	uint64_t x = v->via.u64;
	gd_message_free(&m);
	return x;
}

/* A client that has completed the handshake. */
static void cl_open(client *c, const dproc *d)
{
	cl_connect(c, d->sock);
	ck_assert_int_eq(cl_call(c, "hello"), 0);
}

/* Another client can still do everything. */
static void assert_serving(const dproc *d)
{
	client c;
	cl_open(&c, d);
	ck_assert_int_eq(cl_call(&c, "ping"), 0);
	cl_close(&c);
}

/* Waits until the daemon's open connections are `want` (seen by c). */
static void wait_connections(client *c, uint64_t want)
{
	int64_t end = now_ms() + wait_ms(5000);
	uint64_t n;
	while ((n = stats_get(c, "daemon", "connections")) != want && now_ms() < end)
		poll(NULL, 0, 10);
	ck_assert_msg(n == want, "%llu connections open, expected %llu", (unsigned long long)n,
	              (unsigned long long)want);
}

/* Waits until the daemon runs `want` goroutines (seen by c); the count. */
static uint64_t wait_goroutines(client *c, uint64_t want)
{
	int64_t end = now_ms() + wait_ms(5000);
	uint64_t n;
	while ((n = stats_get(c, "runtime", "goroutines_live")) != want && now_ms() < end)
		poll(NULL, 0, 10);
	return n;
}

static int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

static long vm_rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* ---- start-up, notify, signals --------------------------------------------- */

START_TEST(own_bind_serves_every_method)
{
	dproc d;
	dstart(&d, "socket_mode = 0640\n");
	struct stat st;
	ck_assert_int_eq(stat(d.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	client c;
	cl_connect(&c, d.sock);
	uint32_t id = cl_request(&c, "hello", 2, pack_hello);
	gd_message m;
	ck_assert_int_eq(cl_response(&c, id, &m), 0);
	const msgpack_object *peer = gd_proto_map_get(m.result, "peer");
	ck_assert_uint_eq(gd_proto_map_get(peer, "pid")->via.u64, (uint64_t)getpid());
	ck_assert_uint_eq(gd_proto_map_get(peer, "uid")->via.u64, (uint64_t)getuid());
	ck_assert_uint_eq(gd_proto_map_get(m.result, "protocol")->via.u64, GD_PROTO_VERSION);
	gd_message_free(&m);
	ck_assert_int_eq(cl_call(&c, "version"), 0);
	ck_assert_int_eq(cl_call(&c, "ping"), 0);
	ck_assert_uint_eq(stats_get(&c, "daemon", "connections"), 1);
	ck_assert_uint_ge(stats_get(&c, "runtime", "goroutines_live"), 3);
	cl_close(&c);
	dstop(&d);
	ck_assert_msg(access(d.sock, F_OK) < 0, "the socket file is left behind");
}
END_TEST

START_TEST(socket_activation_uses_the_passed_socket)
{
	dproc d;
	dstart_env(&d, NULL, ACTIVATED, false);
	client c;
	int64_t end = now_ms() + wait_ms(5000);
	int r;
	while ((r = cl_try_connect(&c, d.sock)) < 0 && now_ms() < end)
		poll(NULL, 0, 10); /* until systemd-socket-activate listens */
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(cl_call(&c, "hello"), 0);
	ck_assert_int_eq(cl_call(&c, "ping"), 0);
	ck_assert_msg(notify_wait(&d, "READY=1", 10000), "no READY=1");
	char own[128];
	snprintf(own, sizeof own, "%s/own.sock", gt_tmpdir());
	ck_assert_msg(access(own, F_OK) < 0, "godaemon bound its own socket despite activation");
	ck_assert(log_contains(&d, "socket activation"));
	cl_close(&c);
	dstop(&d);
}
END_TEST

START_TEST(notify_ready_status_watchdog_reload_stopping)
{
	dproc d;
	dstart_env(&d, NULL, OWN_BIND, true);
	ck_assert_msg(notify_wait(&d, "READY=1\nSTATUS=", 10000), "no READY=1 with STATUS=");
	/* STATUS= follows the counts: a request changes them. */
	client c;
	cl_open(&c, &d);
	ck_assert_msg(notify_wait(&d, "STATUS=1 connections, 1 requests", 5000),
	              "no STATUS= update");
	/* 200 ms watchdog: a ping every 100 ms; count them over ~1 s. */
	int before = d.watchdog_pings;
	notify_wait(&d, "never sent", 1000);
	ck_assert_msg(d.watchdog_pings - before >= 4, "%d watchdog pings in 1 s",
	              d.watchdog_pings - before);
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	ck_assert_msg(notify_wait(&d, "RELOADING=1", 5000), "no RELOADING=1");
	ck_assert_msg(notify_wait(&d, "READY=1", 5000), "no READY=1 after the reload");
	ck_assert_int_eq(cl_call(&c, "ping"), 0);
	ck_assert_int_eq(kill(d.pid, SIGTERM), 0);
	ck_assert_msg(notify_wait(&d, "STOPPING=1", 5000), "no STOPPING=1");
	expect_fatal(&c, GD_E_SHUTTING_DOWN);
	cl_close(&c);
	ck_assert_int_eq(dwait(&d, 10000), 0);
}
END_TEST

START_TEST(reload_applies_good_config_and_keeps_old_on_error)
{
	dproc d;
	dstart(&d, "[limits]\nmax_inflight = 7\n");
	write_file(d.conf, "[limits]\nmax_connections = 0\n");
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	ck_assert(notify_wait(&d, "RELOADING=1", 5000));
	ck_assert(notify_wait(&d, "READY=1", 5000));
	ck_assert(log_contains(&d, "godaemon.conf:2"));
	ck_assert(log_contains(&d, "keeping the configuration in force"));
	client c;
	cl_connect(&c, d.sock);
	uint32_t id = cl_request(&c, "hello", 2, pack_hello);
	gd_message m;
	ck_assert_int_eq(cl_response(&c, id, &m), 0);
	ck_assert_uint_eq(gd_proto_map_get(m.result, "max_inflight")->via.u64, 7);
	gd_message_free(&m);
	cl_close(&c);
	write_conf(&d, d.sock, "[limits]\nmax_inflight = 9\n");
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	ck_assert(notify_wait(&d, "RELOADING=1", 5000));
	ck_assert(notify_wait(&d, "READY=1", 5000));
	cl_connect(&c, d.sock);
	id = cl_request(&c, "hello", 2, pack_hello);
	ck_assert_int_eq(cl_response(&c, id, &m), 0);
	ck_assert_uint_eq(gd_proto_map_get(m.result, "max_inflight")->via.u64, 9);
	gd_message_free(&m);
	cl_close(&c);
	dstop(&d);
}
END_TEST

/* Runs godaemon with args to its end; returns its exit status and its
 * output (stdout and stderr) in out. */
static int run_daemon(const char *const *args, char *out, size_t size)
{
	char path[300];
	snprintf(path, sizeof path, "%s/out", gt_tmpdir());
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		unsetenv("LISTEN_FDS");
		unsetenv("NOTIFY_SOCKET");
		execv(GT_DAEMON, (char *const *)args);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	fclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(user_instance_uses_the_xdg_directories)
{
	dproc d;
	dstart_env(&d, NULL, USER, false);
	ck_assert_msg(notify_wait(&d, "READY=1", 10000), "no READY=1");
	struct stat st;
	ck_assert_int_eq(stat(d.sock, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	char state[200];
	snprintf(state, sizeof state, "%s/state/godaemon", gt_tmpdir());
	ck_assert_int_eq(stat(state, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	assert_serving(&d);
	dstop(&d);
}
END_TEST

START_TEST(command_line_and_config_errors_refuse_start)
{
	char out[4096], conf[256];
	const char *missing[] = {"godaemon", "-c", "/nonexistent/godaemon.conf", NULL};
	ck_assert_int_eq(run_daemon(missing, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "/nonexistent/godaemon.conf"), "%s", out);
	snprintf(conf, sizeof conf, "%s/bad.conf", gt_tmpdir());
	write_file(conf, "[limits]\nmax_connections = 0\nbogus = 1\n");
	const char *bad[] = {"godaemon", "-c", conf, NULL};
	ck_assert_int_eq(run_daemon(bad, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "bad.conf:2") && strstr(out, "bad.conf:3"), "%s", out);
	const char *version[] = {"godaemon", "--version", NULL};
	ck_assert_int_eq(run_daemon(version, out, sizeof out), 0);
	ck_assert_msg(strstr(out, PACKAGE_VERSION), "%s", out);
	const char *help[] = {"godaemon", "--help", NULL};
	ck_assert_int_eq(run_daemon(help, out, sizeof out), 0);
	ck_assert_msg(strstr(out, "--socket"), "%s", out);
	const char *badopt[] = {"godaemon", "--procs", "0", NULL};
	ck_assert_int_eq(run_daemon(badopt, out, sizeof out), 2);
	const char *badlevel[] = {"godaemon", "--log-level", "loud", NULL};
	ck_assert_int_eq(run_daemon(badlevel, out, sizeof out), 2);
}
END_TEST

START_TEST(live_socket_is_not_taken_over_and_stale_one_is_replaced)
{
	dproc d;
	dstart(&d, NULL);
	char out[4096];
	const char *second[] = {"godaemon", "-c", d.conf, NULL};
	ck_assert_int_eq(run_daemon(second, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "another daemon"), "%s", out);
	assert_serving(&d);
	ck_assert_int_eq(kill(d.pid, SIGKILL), 0);
	ck_assert_int_eq(dwait(&d, 5000), 128 + SIGKILL);
	close(d.notify_fd);
	ck_assert_int_eq(access(d.sock, F_OK), 0); /* left by the killed daemon */
	dstart(&d, NULL);
	assert_serving(&d);
	dstop(&d);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------ */

START_TEST(malformed_msgpack_gets_invalid_message_and_close)
{
	dproc d;
	dstart(&d, NULL);
	client c;
	cl_open(&c, &d);
	cl_send(&c, "\xc1", 1);
	expect_fatal(&c, GD_E_INVALID_MESSAGE);
	cl_close(&c);
	assert_serving(&d);
	dstop(&d);
}
END_TEST

START_TEST(oversized_frame_is_refused_from_its_header)
{
	dproc d;
	dstart(&d, "[limits]\nmax_message_size = 4096\n");
	client c;
	cl_open(&c, &d);
	/* [0, 1, "ping", [<str32 of 1 MiB ...] : only the header is sent. */
	const unsigned char head[] = {0x94, 0x00, 0x01, 0xa4, 'p', 'i', 'n', 'g',
	                              0x91, 0xdb, 0x00, 0x10, 0x00, 0x00};
	cl_send(&c, head, sizeof head);
	expect_fatal(&c, GD_E_MESSAGE_TOO_LARGE);
	cl_close(&c);
	assert_serving(&d);
	dstop(&d);
}
END_TEST

static void pack_method_int(msgpack_packer *pk)
{
	msgpack_pack_int(pk, 5); /* where the method name belongs */
}

START_TEST(wrong_array_shapes)
{
	dproc d;
	dstart(&d, NULL);
	client c;
	/* The msgid is readable: an error response, the connection stays. */
	cl_open(&c, &d);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_int(&pk, 0);
	msgpack_pack_int(&pk, 42);
	pack_method_int(&pk);
	msgpack_pack_array(&pk, 0);
	cl_send(&c, sb.data, sb.size);
	gd_message m;
	ck_assert_int_eq(cl_response(&c, 42, &m), GD_E_INVALID_REQUEST);
	gd_message_free(&m);
	ck_assert_int_eq(cl_call(&c, "ping"), 0);
	/* Three elements for a request: no msgid to answer, fatal. */
	const unsigned char three[] = {0x93, 0x00, 0x07, 0xa4, 'p', 'i', 'n', 'g'};
	cl_send(&c, three, sizeof three);
	expect_fatal(&c, GD_E_INVALID_REQUEST);
	cl_close(&c);
	/* Not an array at all. */
	cl_open(&c, &d);
	cl_send(&c, "\x05", 1);
	expect_fatal(&c, GD_E_INVALID_REQUEST);
	cl_close(&c);
	/* A response from the client. */
	cl_open(&c, &d);
	const unsigned char resp[] = {0x94, 0x01, 0x01, 0xc0, 0xc0};
	cl_send(&c, resp, sizeof resp);
	expect_fatal(&c, GD_E_INVALID_REQUEST);
	cl_close(&c);
	msgpack_sbuffer_destroy(&sb);
	assert_serving(&d);
	dstop(&d);
}
END_TEST

START_TEST(unknown_method_gets_an_error_response)
{
	dproc d;
	dstart(&d, NULL);
	client c;
	cl_open(&c, &d);
	ck_assert_int_eq(cl_call(&c, "frob"), GD_E_UNKNOWN_METHOD);
	ck_assert_int_eq(cl_call(&c, "error"), GD_E_UNKNOWN_METHOD);
	ck_assert_int_eq(cl_call(&c, "ping"), 0);
	ck_assert_uint_ge(stats_get(&c, "daemon", "errors"), 2);
	cl_close(&c);
	dstop(&d);
}
END_TEST

static void pack_hello_forging_name(msgpack_packer *pk)
{
	static const char name[] = "x\ngodaemon: crit: forged line";
	msgpack_pack_uint32(pk, GD_PROTO_VERSION);
	msgpack_pack_str_with_body(pk, name, sizeof name - 1);
}

/* True if some line of the daemon's log starts with prefix. */
static bool log_has_line_starting(const dproc *d, const char *prefix)
{
	FILE *f = fopen(d->log, "r");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof line, f))
		found = strncmp(line, prefix, strlen(prefix)) == 0;
	fclose(f);
	return found;
}

START_TEST(client_name_cannot_forge_log_lines)
{
	dproc d;
	dstart(&d, "[log]\nlevel = debug\n");
	client c;
	cl_connect(&c, d.sock);
	gd_message m;
	ck_assert_int_eq(cl_response(&c, cl_request(&c, "hello", 2, pack_hello_forging_name), &m), 0);
	gd_message_free(&m);
	cl_close(&c);
	dstop(&d);
	ck_assert(log_contains(&d, "hello from \"x?godaemon: crit: forged line\""));
	ck_assert(!log_has_line_starting(&d, "godaemon: crit: forged line"));
}
END_TEST

static void pack_hello_str_version(msgpack_packer *pk)
{
	msgpack_pack_str_with_body(pk, "1", 1);
	msgpack_pack_str_with_body(pk, "x", 1);
}
static void pack_one_int(msgpack_packer *pk)
{
	msgpack_pack_int(pk, 1);
}
static void pack_hello_v0(msgpack_packer *pk)
{
	msgpack_pack_int(pk, 0);
	msgpack_pack_str_with_body(pk, "x", 1);
}

static int call_with(client *c, const char *method, uint32_t n, pack_fn pack)
{
	gd_message m;
	int code = cl_response(c, cl_request(c, method, n, pack), &m);
	gd_message_free(&m);
	return code;
}

START_TEST(wrong_parameter_types_get_invalid_params)
{
	dproc d;
	dstart(&d, NULL);
	client c;
	cl_connect(&c, d.sock);
	ck_assert_int_eq(call_with(&c, "hello", 2, pack_hello_str_version), GD_E_INVALID_PARAMS);
	ck_assert_int_eq(call_with(&c, "hello", 1, pack_one_int), GD_E_INVALID_PARAMS);
	ck_assert_int_eq(call_with(&c, "hello", 2, pack_hello_v0), GD_E_PROTOCOL_VERSION);
	ck_assert_int_eq(cl_call(&c, "hello"), 0);
	ck_assert_int_eq(call_with(&c, "ping", 1, pack_one_int), GD_E_INVALID_PARAMS);
	ck_assert_int_eq(cl_call(&c, "ping"), 0);
	cl_close(&c);
	dstop(&d);
}
END_TEST

START_TEST(requests_before_hello_get_hello_required)
{
	dproc d;
	dstart(&d, NULL);
	client c;
	cl_connect(&c, d.sock);
	ck_assert_int_eq(cl_call(&c, "ping"), GD_E_HELLO_REQUIRED);
	ck_assert_int_eq(cl_call(&c, "stats"), GD_E_HELLO_REQUIRED);
	ck_assert_int_eq(cl_call(&c, "hello"), 0);
	ck_assert_int_eq(cl_call(&c, "ping"), 0);
	cl_close(&c);
	dstop(&d);
}
END_TEST

START_TEST(silent_client_is_closed_after_the_handshake_timeout)
{
	dproc d;
	dstart(&d, "[limits]\nhandshake_timeout = 300ms\n");
	client c;
	int64_t t0 = now_ms();
	cl_connect(&c, d.sock);
	expect_fatal(&c, GD_E_TIMED_OUT);
	ck_assert_int_ge(now_ms() - t0, 300);
	cl_close(&c);
	/* After hello there is no timeout: a client may idle. */
	cl_open(&c, &d);
	gd_message m;
	ck_assert_int_eq(cl_recv(&c, &m, 600), -ETIMEDOUT);
	ck_assert_int_eq(cl_call(&c, "ping"), 0);
	cl_close(&c);
	dstop(&d);
}
END_TEST

START_TEST(half_message_then_vanish_is_dropped)
{
	dproc d;
	dstart(&d, NULL);
	client watcher, c;
	cl_open(&watcher, &d);
	cl_open(&c, &d);
	const unsigned char half[] = {0x94, 0x00, 0x09, 0xa4, 'p', 'i'};
	cl_send(&c, half, sizeof half);
	ck_assert_int_eq(cl_call(&watcher, "ping"), 0);
	cl_close(&c);
	wait_connections(&watcher, 1);
	/* Half a message and staying: kept, and answered once it completes. */
	cl_open(&c, &d);
	cl_send(&c, half, sizeof half);
	gd_message m;
	ck_assert_int_eq(cl_recv(&c, &m, 300), -ETIMEDOUT);
	const unsigned char rest[] = {'n', 'g', 0x90};
	cl_send(&c, rest, sizeof rest);
	ck_assert_int_eq(cl_response(&c, 9, &m), 0);
	gd_message_free(&m);
	cl_close(&c);
	cl_close(&watcher);
	dstop(&d);
}
END_TEST

/* ---- limits and leaks ------------------------------------------------------------- */

START_TEST(requests_beyond_max_inflight_get_too_many_requests)
{
	enum { N = 200 };
	/* One worker: the reader drains the whole batch before any handler
	 * runs, so the limit is certainly reached. */
	child_procs = "1";
	dproc d;
	dstart(&d, "[limits]\nmax_inflight = 1\n");
	client c;
	cl_open(&c, &d);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (uint32_t i = 1; i <= N; i++)
		ck_assert_int_eq(gd_proto_pack_request(&pk, 1000 + i, "ping", 0), 0);
	cl_send(&c, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	static bool seen[N + 1];
	int ok = 0, busy = 0;
	for (int i = 0; i < N; i++) {
		gd_message m;
		ck_assert_int_eq(cl_recv(&c, &m, 10000), 1);
		ck_assert_int_eq(m.type, GD_MSG_RESPONSE);
		ck_assert(m.msgid > 1000 && m.msgid <= 1000 + N && !seen[m.msgid - 1000]);
		seen[m.msgid - 1000] = true;
		gd_proto_error e;
		if (m.error->type == MSGPACK_OBJECT_NIL)
			ok++;
		else if (gd_proto_error_from_object(m.error, &e) == 0 && e.code == GD_E_TOO_MANY_REQUESTS)
			busy++;
		gd_message_free(&m);
	}
	ck_assert_int_eq(ok + busy, N);
	ck_assert_int_ge(ok, 1);
	ck_assert_int_ge(busy, 1);
	ck_assert_int_eq(cl_call(&c, "ping"), 0);
	cl_close(&c);
	dstop(&d);
}
END_TEST

enum { MANY = 1000, LIMIT = 64 };

/* Opens MANY connections at once, each sends hello; counts the served. */
static int many_connections(const dproc *d)
{
	static client cs[MANY];
	for (int i = 0; i < MANY; i++)
		cl_connect(&cs[i], d->sock);
	for (int i = 0; i < MANY; i++) {
		uint32_t id = ++cs[i].next_id;
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		gd_proto_pack_request(&pk, id, "hello", 2);
		pack_hello(&pk);
		(void)send(cs[i].fd, sb.data, sb.size, MSG_NOSIGNAL); /* refused ones may be closed */
		msgpack_sbuffer_destroy(&sb);
	}
	int served = 0;
	for (int i = 0; i < MANY; i++) {
		gd_message m;
		ck_assert_int_eq(cl_recv(&cs[i], &m, 10000), 1);
		if (m.type == GD_MSG_RESPONSE) {
			ck_assert_int_eq(m.error->type, MSGPACK_OBJECT_NIL);
			served++;
			gd_message_free(&m);
		} else {
			ck_assert_int_eq(fatal_code(&m), GD_E_TOO_MANY_CONNECTIONS);
			gd_message_free(&m);
			ck_assert_int_eq(cl_recv(&cs[i], &m, 10000), 0); /* then closed */
		}
	}
	for (int i = 0; i < MANY; i++)
		cl_close(&cs[i]);
	return served;
}

START_TEST(thousand_connections_beyond_the_limit)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_msg(rl.rlim_max >= MANY + 64, "RLIMIT_NOFILE hard limit %llu too low",
	              (unsigned long long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	dproc d;
	char extra[128];
	snprintf(extra, sizeof extra, "[limits]\nmax_connections = %d\n", LIMIT);
	/* ASan keeps freed memory in quarantine (256 MiB by default), which
	 * would hide whether memory comes back: turn it off for this daemon. */
	child_asan_options = "quarantine_size_mb=0";
	dstart(&d, extra);
	client w;
	cl_open(&w, &d);
	ck_assert_int_eq(many_connections(&d), LIMIT - 1); /* w holds one slot */
	wait_connections(&w, 1);
	long rss0 = vm_rss_kib(d.pid);
	uint64_t g0 = stats_get(&w, "runtime", "goroutines_live");
	uint64_t errors0 = stats_get(&w, "daemon", "errors");
	ck_assert_int_eq(many_connections(&d), LIMIT - 1);
	wait_connections(&w, 1);
	long rss1 = vm_rss_kib(d.pid);
	ck_assert_uint_eq(wait_goroutines(&w, g0), g0);
	ck_assert_uint_eq(stats_get(&w, "daemon", "errors") - errors0, MANY - (LIMIT - 1));
	/* The second round reuses what the first one grew (ASan's allocator
	 * keeps more on the side: a wider slack there). */
	ck_assert_msg(rss1 <= rss0 + (gt_sanitized() ? 6144 : 2048),
	              "VmRSS %ld kB after the first round, %ld after the second", rss0, rss1);
	ck_assert_int_eq(cl_call(&w, "ping"), 0);
	cl_close(&w);
	assert_serving(&d);
	dstop(&d);
}
END_TEST

START_TEST(running_out_of_descriptors_backs_off_and_recovers)
{
	enum { NOFILE = 48, CLIENTS = 64 };
	child_nofile = NOFILE;
	dproc d;
	dstart(&d, NULL);
	static client cs[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		cl_connect(&cs[i], d.sock); /* the last ones wait in the backlog */
	int64_t end = now_ms() + wait_ms(5000);
	while (!log_contains(&d, "accept: Too many open files") && now_ms() < end)
		poll(NULL, 0, 10);
	ck_assert_msg(log_contains(&d, "accept: Too many open files"), "no EMFILE from accept");
	for (int i = 0; i < CLIENTS; i++)
		cl_close(&cs[i]);
	client c;
	cl_open(&c, &d);
	ck_assert_int_eq(cl_call(&c, "ping"), 0);
	wait_connections(&c, 1);
	cl_close(&c);
	dstop(&d);
}
END_TEST

START_TEST(refused_connection_gets_too_many_connections)
{
	dproc d;
	dstart(&d, "[limits]\nmax_connections = 1\n");
	client a, b;
	cl_open(&a, &d);
	cl_connect(&b, d.sock);
	expect_fatal(&b, GD_E_TOO_MANY_CONNECTIONS);
	cl_close(&b);
	ck_assert_int_eq(cl_call(&a, "ping"), 0);
	cl_close(&a);
	dstop(&d);
}
END_TEST

START_TEST(no_fd_or_goroutine_leak_after_many_cycles)
{
	dproc d;
	dstart(&d, NULL);
	client w;
	cl_open(&w, &d);
	wait_connections(&w, 1);
	/* sd_notify opens a socket for a moment every second: take the least
	 * of a few samples, and wait for the count to come back to it. */
	int fds0 = count_fds(d.pid);
	for (int i = 0; i < 5; i++, poll(NULL, 0, 20))
		fds0 = count_fds(d.pid) < fds0 ? count_fds(d.pid) : fds0;
	uint64_t g0 = stats_get(&w, "runtime", "goroutines_live");
	long cycles = gt_scaled(10000);
	for (long i = 0; i < cycles; i++) {
		client c;
		cl_open(&c, &d);
		ck_assert_int_eq(cl_call(&c, "ping"), 0);
		cl_close(&c);
	}
	wait_connections(&w, 1);
	uint64_t g1 = wait_goroutines(&w, g0);
	ck_assert_msg(g1 == g0, "%llu goroutines before, %llu after %ld cycles",
	              (unsigned long long)g0, (unsigned long long)g1, cycles);
	int fds1;
	int64_t end = now_ms() + wait_ms(5000);
	while ((fds1 = count_fds(d.pid)) > fds0 && now_ms() < end)
		poll(NULL, 0, 10);
	ck_assert_msg(fds1 <= fds0, "%d descriptors before, %d after", fds0, fds1);
	ck_assert_uint_ge(stats_get(&w, "daemon", "connections_total"), (uint64_t)cycles + 1);
	cl_close(&w);
	dstop(&d);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = gt_tcase("lifecycle", 60);
	tcase_add_test(tc, own_bind_serves_every_method);
	tcase_add_test(tc, socket_activation_uses_the_passed_socket);
	tcase_add_test(tc, notify_ready_status_watchdog_reload_stopping);
	tcase_add_test(tc, reload_applies_good_config_and_keeps_old_on_error);
	tcase_add_test(tc, user_instance_uses_the_xdg_directories);
	tcase_add_test(tc, command_line_and_config_errors_refuse_start);
	tcase_add_test(tc, live_socket_is_not_taken_over_and_stale_one_is_replaced);
	suite_add_tcase(s, tc);
	tc = gt_tcase("bad_input", 60);
	tcase_add_test(tc, malformed_msgpack_gets_invalid_message_and_close);
	tcase_add_test(tc, oversized_frame_is_refused_from_its_header);
	tcase_add_test(tc, wrong_array_shapes);
	tcase_add_test(tc, unknown_method_gets_an_error_response);
	tcase_add_test(tc, client_name_cannot_forge_log_lines);
	tcase_add_test(tc, wrong_parameter_types_get_invalid_params);
	tcase_add_test(tc, requests_before_hello_get_hello_required);
	tcase_add_test(tc, silent_client_is_closed_after_the_handshake_timeout);
	tcase_add_test(tc, half_message_then_vanish_is_dropped);
	suite_add_tcase(s, tc);
	tc = gt_tcase("limits", 120);
	tcase_add_test(tc, refused_connection_gets_too_many_connections);
	tcase_add_test(tc, running_out_of_descriptors_backs_off_and_recovers);
	tcase_add_test(tc, requests_beyond_max_inflight_get_too_many_requests);
	tcase_add_test(tc, thousand_connections_beyond_the_limit);
	tcase_add_test(tc, no_fd_or_goroutine_leak_after_many_cycles);
	suite_add_tcase(s, tc);
	return s;
}
