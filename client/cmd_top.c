/* cmd_top.c — `goctl top [-b] [-d DURATION] [-n COUNT]`: a live view of
 * the caller's running jobs and their queues, one frame per snapshot of the
 * daemon's watch method (watchcall.h): a header with the daemon's totals
 * (jobs by state, admission queue, connections, goroutines), then per job
 * its id, uid and elapsed time and per stage its path, kind, items in and
 * out, the current output rate (the items_out difference between two
 * snapshots over their time_ns difference; the first frame shows the
 * average since the job started), its input queue's length/capacity with a
 * bar, and busy/total workers.
 *
 * Two modes.  Interactive (stdout a terminal, no -b): the alternate screen
 * with the cursor hidden, each frame drawn from the top left and cut to
 * the terminal's size (TIOCGWINSZ; redrawn at once on SIGWINCH); when
 * stdin is a terminal it is put in non-canonical mode without echo and `q`
 * quits.  Batch (-b, or stdout not a terminal): frames one after another,
 * a blank line between, no escape sequences, cut to the width only when
 * stdout is a terminal.  -n COUNT stops after COUNT frames (the watch's
 * count).
 *
 * Threads: the main thread runs the watch and draws each frame; an input
 * thread waits (poll) on a signalfd (SIGINT, SIGTERM, SIGHUP, SIGWINCH,
 * SIGTSTP, SIGCONT, blocked in both threads), on stdin for `q`, and on a
 * pipe the main thread closes when the watch is over.  Quitting (q, SIGINT,
 * SIGTERM, SIGHUP) shuts the socket down: the daemon ends the watch, the
 * main thread's call returns, the terminal is restored, exit 0.  SIGTSTP
 * restores the terminal and stops; SIGCONT sets it up again and redraws.
 * Drawing and the terminal state are guarded by top->lock.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "goctl.h"
#include "job.h"
#include "watchcall.h"

enum { OPT_BATCH, OPT_INTERVAL, OPT_COUNT };

static const gc_opt top_opts[] = {
	[OPT_BATCH] = {"batch", 'b', NULL, "frames one after another, no escape sequences"},
	[OPT_INTERVAL] = {"interval", 'd', "DURATION", "time between frames (100ms..1h, default 1s)"},
	[OPT_COUNT] = {"count", 'n', "COUNT", "stop after COUNT frames (default 0: until q/Ctrl-C)"},
	{NULL, 0, NULL, NULL},
};

#define ENTER_SCREEN "\033[?1049h\033[?25l" /* alternate screen, cursor hidden */
#define LEAVE_SCREEN "\033[?25h\033[?1049l" /* cursor shown, normal screen */
#define BAR_WIDTH 10

/* A stage's counters in the previous frame, for its rate. */
typedef struct seen_stage {
	uint64_t job;
	char path[32];
	uint64_t items_out;
} seen_stage;

typedef struct seen_list {
	seen_stage *v;
	size_t len, cap;
} seen_list;

typedef struct top {
	pthread_mutex_t lock;    /* guards everything below */
	bool interactive;        /* alternate screen */
	bool keys;               /* stdin is a terminal: raw mode, q quits */
	bool screen_on;          /* the alternate screen is entered */
	bool raw_on;             /* stdin's termios changed */
	struct termios saved;    /* stdin's termios before */
	int cols, rows;          /* 0: no limit */
	uint64_t interval_ms, frames;
	int64_t prev_time;       /* time_ns of the previous snapshot; 0: none */
	seen_list prev, cur;
	char *frame;             /* the last frame's text, for redraws */
	size_t frame_len;
	const char *socket, *version;
	int sock;                /* the connection's socket */
	int sigfd;               /* signalfd of the signals above */
	int stop_pipe[2];        /* the main thread closes [1] when done */
	atomic_bool quit;        /* the user asked to quit */
} top;

/* ---- the terminal ------------------------------------------------------------ */

static void term_size(top *t)
{
	struct winsize ws;
	t->cols = t->rows = 0;
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
		t->cols = ws.ws_col;
		t->rows = t->interactive ? ws.ws_row : 0;
	}
}

static void out(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to draw: the watch goes on, the exit says nothing */
		s += w;
		n -= (size_t)w;
	}
}

static void outs(const char *s)
{
	out(s, strlen(s));
}

/* Enters the alternate screen and raw mode (under t->lock). */
static void term_setup(top *t)
{
	if (t->keys && !t->raw_on && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
		struct termios raw = t->saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		t->raw_on = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	if (t->interactive && !t->screen_on) {
		outs(ENTER_SCREEN);
		t->screen_on = true;
	}
}

/* Leaves them, as they were before (under t->lock). */
static void term_restore(top *t)
{
	if (t->screen_on) {
		outs(LEAVE_SCREEN);
		t->screen_on = false;
	}
	if (t->raw_on) {
		(void)tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
		t->raw_on = false;
	}
}

/* Writes the last frame: from the top left, each line cut to the width
 * and cleared to its end, at most rows lines (interactive); else lines cut
 * to the width (if known) and a blank line before every frame but the
 * first. */
static void draw(top *t)
{
	size_t row = 0;
	const char *p = t->frame, *end = t->frame + t->frame_len;
	if (!p || (t->interactive && !t->screen_on)) /* none yet, or suspended */
		return;
	if (t->interactive)
		outs("\033[H");
	else if (t->frames > 1)
		outs("\n");
	while (p < end && (!t->rows || row < (size_t)t->rows)) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		out(p, t->cols && len > (size_t)t->cols ? (size_t)t->cols : len);
		if (t->interactive)
			outs("\033[K");
		row++;
		if (!t->interactive || !t->rows || row < (size_t)t->rows)
			outs("\n");
		p += len + (nl != NULL);
	}
	if (t->interactive)
		outs("\033[J");
}

/* ---- a frame ------------------------------------------------------------------ */

static int seen_add(seen_list *l, uint64_t job, const char *path, uint64_t items_out)
{
	if (l->len == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		seen_stage *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	seen_stage *s = &l->v[l->len++];
	s->job = job;
	snprintf(s->path, sizeof s->path, "%s", path);
	s->items_out = items_out;
	return 0;
}

static const seen_stage *seen_find(const seen_list *l, uint64_t job, const char *path)
{
	for (size_t i = 0; i < l->len; i++)
		if (l->v[i].job == job && strcmp(l->v[i].path, path) == 0)
			return &l->v[i];
	return NULL;
}

static double map_num(const msgpack_object *o, const char *key)
{
	const msgpack_object *v = gc_map_get(o, key);
	if (v && (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32))
		return v->via.f64;
	return (double)gc_map_u64(o, key);
}

static const char *duration(char *buf, size_t size, uint64_t ns)
{
	uint64_t s = ns / 1000000000u;
	if (s < 60)
		snprintf(buf, size, "%.1fs", (double)ns / 1e9);
	else if (s < 3600)
		snprintf(buf, size, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, size, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
	return buf;
}

static void queue_bar(char *buf, uint64_t len, uint64_t cap)
{
	size_t fill = cap ? (size_t)((len * BAR_WIDTH + cap - 1) / cap) : 0;
	if (fill > BAR_WIDTH)
		fill = BAR_WIDTH;
	buf[0] = '[';
	memset(buf + 1, '#', fill);
	memset(buf + 1 + fill, ' ', BAR_WIDTH - fill);
	buf[BAR_WIDTH + 1] = ']';
	buf[BAR_WIDTH + 2] = '\0';
}

/* One stage row; dt_ns is the time since the previous snapshot (0: none). */
static int stage_row(top *t, FILE *f, uint64_t job, const msgpack_object *s, int64_t dt_ns)
{
	char path[32], kind[32], q[48], bar[BAR_WIDTH + 3], busy[48];
	gc_map_str(s, "path", path, sizeof path);
	uint64_t in = gc_map_u64(s, "items_in"), o = gc_map_u64(s, "items_out");
	uint64_t ql = gc_map_u64(s, "queue_len"), qc = gc_map_u64(s, "queue_cap");
	const seen_stage *p = dt_ns > 0 ? seen_find(&t->prev, job, path) : NULL;
	double rate = p && o >= p->items_out ? (double)(o - p->items_out) * 1e9 / (double)dt_ns
	                                     : map_num(s, "out_per_sec");
	snprintf(busy, sizeof busy, "%" PRIu64 "/%" PRIu64, gc_map_u64(s, "busy"),
	         gc_map_u64(s, "workers"));
	if (qc) {
		snprintf(q, sizeof q, "%" PRIu64 "/%" PRIu64, ql, qc);
		queue_bar(bar, ql, qc);
	} else {
		snprintf(q, sizeof q, "-");
		bar[0] = '\0';
	}
	fprintf(f, "  %-8s %-8s %12" PRIu64 " %12" PRIu64 " %10.1f %11s %-12s %7s\n", path,
	        gc_map_str(s, "stage", kind, sizeof kind), in, o, rate, q, bar, busy);
	return seen_add(&t->cur, job, path, o);
}

static int job_rows(top *t, FILE *f, const msgpack_object *job, int64_t dt_ns)
{
	char el[32];
	uint64_t id = gc_map_u64(job, "id");
	const msgpack_object *st = gc_map_get(job, "stages");
	fprintf(f, "\nJOB %" PRIu64 "  uid %" PRIu64 "  elapsed %s\n", id, gc_map_u64(job, "uid"),
	        duration(el, sizeof el, gc_map_u64(job, "elapsed_ns")));
	fprintf(f, "  %-8s %-8s %12s %12s %10s %11s %-12s %7s\n", "STAGE", "KIND", "IN", "OUT",
	        "OUT/S", "QUEUE", "", "BUSY");
	for (uint32_t i = 0; st && st->type == MSGPACK_OBJECT_ARRAY && i < st->via.array.size; i++)
		if (stage_row(t, f, id, &st->via.array.ptr[i], dt_ns) < 0)
			return -ENOMEM;
	return 0;
}

/* gc_map_get and gc_map_u64 for a map that may be missing (NULL). */
static const msgpack_object *get(const msgpack_object *o, const char *key)
{
	return o ? gc_map_get(o, key) : NULL;
}

static uint64_t u64(const msgpack_object *o, const char *key)
{
	return o ? gc_map_u64(o, key) : 0;
}

static void header(top *t, FILE *f, const msgpack_object *snap)
{
	const msgpack_object *by = gc_map_get(snap, "jobs_by_state");
	const msgpack_object *stats = gc_map_get(snap, "stats");
	const msgpack_object *rt = get(stats, "runtime");
	const msgpack_object *dm = get(stats, "daemon");
	char every[32];
	fprintf(f, "goctl top - frame %" PRIu64 ", every %s%s - godaemon %s at %s\n", t->frames,
	        duration(every, sizeof every, t->interval_ms * 1000000u),
	        t->keys ? " - q quits" : "", t->version, t->socket);
	fprintf(f, "Jobs: %" PRIu64 " running, %" PRIu64 " queued, %" PRIu64 " succeeded, %" PRIu64
	        " failed, %" PRIu64 " cancelled, %" PRIu64 " timed-out; admission queue %" PRIu64
	        "\n", u64(by, "running"), u64(by, "queued"),
	        u64(by, "succeeded"), u64(by, "failed"), u64(by, "cancelled"),
	        u64(by, "timed-out"), gc_map_u64(snap, "admission_queue"));
	fprintf(f, "Daemon: %" PRIu64 " connections, %" PRIu64 " requests, %" PRIu64 " errors; "
	        "%" PRIu64 " goroutines, %" PRIu64 " procs, %" PRIu64 " threads\n",
	        u64(dm, "connections"), u64(dm, "requests"), u64(dm, "errors"),
	        u64(rt, "goroutines_live"), u64(rt, "procs"), u64(rt, "threads"));
}

/* Renders the snapshot into t->frame (under t->lock). */
static int render(top *t, const msgpack_object *snap)
{
	const msgpack_object *jobs = gc_map_get(snap, "jobs");
	int64_t now = (int64_t)gc_map_u64(snap, "time_ns");
	int64_t dt = t->prev_time ? now - t->prev_time : 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	t->cur.len = 0;
	header(t, f, snap);
	int r = 0;
	for (uint32_t j = 0; jobs && jobs->type == MSGPACK_OBJECT_ARRAY && j < jobs->via.array.size &&
	                     r == 0; j++)
		r = job_rows(t, f, &jobs->via.array.ptr[j], dt);
	if (!jobs || jobs->type != MSGPACK_OBJECT_ARRAY || jobs->via.array.size == 0)
		fputs("\nno running jobs\n", f);
	if (fclose(f) != 0 || r < 0) {
		free(buf);
		return -ENOMEM;
	}
	free(t->frame);
	t->frame = buf;
	t->frame_len = len;
	seen_list tmp = t->prev;
	t->prev = t->cur;
	t->cur = tmp;
	t->prev_time = now;
	return 0;
}

static int on_snapshot(void *arg, const msgpack_object *snap, gc_error *err)
{
	top *t = arg;
	pthread_mutex_lock(&t->lock);
	t->frames++;
	int r = render(t, snap);
	if (r == 0)
		draw(t);
	pthread_mutex_unlock(&t->lock);
	return r < 0 ? gc_fail(err, r, GC_EXIT_FAILURE, "out of memory") : 0;
}

/* ---- the input thread ------------------------------------------------------------ */

static void quit(top *t)
{
	atomic_store(&t->quit, true);
	(void)shutdown(t->sock, SHUT_RDWR);
}

/* Ctrl-Z: the terminal as it was, stop; on SIGCONT set it up again. */
static void suspend(top *t)
{
	pthread_mutex_lock(&t->lock);
	term_restore(t);
	pthread_mutex_unlock(&t->lock);
	(void)kill(getpid(), SIGSTOP);
}

static void on_signal(top *t, int sig)
{
	switch (sig) {
	case SIGWINCH:
	case SIGCONT:
		pthread_mutex_lock(&t->lock);
		term_size(t);
		term_setup(t);
		if (t->interactive)
			draw(t);
		pthread_mutex_unlock(&t->lock);
		break;
	case SIGTSTP:
		suspend(t);
		break;
	default:
		quit(t);
		break;
	}
}

static bool on_keys(top *t)
{
	char buf[64];
	ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
	if (n <= 0)
		return n < 0 && errno == EINTR; /* end of input: stop reading it */
	if (memchr(buf, 'q', (size_t)n) || memchr(buf, 'Q', (size_t)n))
		quit(t);
	return true;
}

static void *input_main(void *arg)
{
	top *t = arg;
	struct pollfd p[3] = {
		{.fd = t->stop_pipe[0], .events = POLLIN},
		{.fd = t->sigfd, .events = POLLIN},
		{.fd = t->keys ? STDIN_FILENO : -1, .events = POLLIN},
	};
	while (!atomic_load(&t->quit)) {
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		struct signalfd_siginfo si;
		if (p[1].revents && read(t->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
			on_signal(t, (int)si.ssi_signo);
		if (p[2].revents && !on_keys(t))
			p[2].fd = -1;
	}
	return NULL;
}

/* ---- the command ------------------------------------------------------------------- */

static void top_free(top *t)
{
	free(t->prev.v);
	free(t->cur.v);
	free(t->frame);
	if (t->sigfd >= 0)
		close(t->sigfd);
	for (int i = 0; i < 2; i++)
		if (t->stop_pipe[i] >= 0)
			close(t->stop_pipe[i]);
	pthread_mutex_destroy(&t->lock);
}

/* Blocks the signals the input thread takes (it inherits the mask). */
static int signals_setup(top *t, sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP, SIGCONT};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&set, sigs[i]);
	if (pthread_sigmask(SIG_BLOCK, &set, old) != 0)
		return -EINVAL;
	t->sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (t->sigfd < 0 || pipe(t->stop_pipe) < 0)
		return -errno;
	return 0;
}

/* Runs the watch with the input thread and the terminal set up. */
static int top_watch(top *t, gc_conn *c, uint64_t count, gc_error *err)
{
	sigset_t old;
	pthread_t th;
	int r = signals_setup(t, &old);
	if (r < 0 || (r = -pthread_create(&th, NULL, input_main, t)) < 0) {
		(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
		return gc_fail(err, r, GC_EXIT_FAILURE, "cannot set up: %s", strerror(-r));
	}
	pthread_mutex_lock(&t->lock);
	term_size(t);
	term_setup(t);
	pthread_mutex_unlock(&t->lock);
	r = gc_watch_call(c, t->interval_ms, count, on_snapshot, t, err);
	close(t->stop_pipe[1]);
	t->stop_pipe[1] = -1;
	pthread_join(th, NULL);
	pthread_mutex_lock(&t->lock);
	term_restore(t);
	pthread_mutex_unlock(&t->lock);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

static int top_exec(gc_ctx *ctx, const gc_args *args)
{
	uint64_t count;
	top t = {.lock = PTHREAD_MUTEX_INITIALIZER, .sigfd = -1, .stop_pipe = {-1, -1}};
	if (ctx->json)
		return gc_usage_error(&gc_cmd_top, "top has no JSON output (use: goctl metrics "
		                      "--watch --json)");
	int r = gc_watch_interval_arg(&gc_cmd_top, args->opt[OPT_INTERVAL], &t.interval_ms);
	if (r == 0)
		r = gc_watch_count_arg(&gc_cmd_top, args->opt[OPT_COUNT], &count);
	if (r)
		return r;
	_cleanup_(gc_conn_closep) gc_conn *c = NULL;
	r = gc_connect(ctx, &c);
	if (r)
		return r;
	t.interactive = !args->opt[OPT_BATCH] && isatty(STDOUT_FILENO);
	t.keys = t.interactive && isatty(STDIN_FILENO);
	t.socket = gc_conn_path(c);
	t.version = gc_conn_hello(c)->version;
	t.sock = gc_conn_fd(c);
	gc_error err;
	r = top_watch(&t, c, count, &err);
	bool quitted = atomic_load(&t.quit);
	top_free(&t);
	if (r < 0 && !quitted) {
		gc_errorf("%s", err.text);
		return err.exit_code;
	}
	return 0;
}

const gc_cmd gc_cmd_top = {
	.name = "top",
	.usage = "[-b] [-d DURATION] [-n COUNT]",
	.summary = "show your running jobs and their queues live, refreshed every interval",
	.help = "A live view of your running jobs (root: every job) fed by the daemon's\n"
	        "watch method: a header with the daemon's jobs by state, admission\n"
	        "queue, connections and goroutines; per job its id, uid and elapsed\n"
	        "time; per stage its path, kind, items in and out, items out per second\n"
	        "over the last interval, input queue length/capacity with a bar, and\n"
	        "busy/total workers.  On a terminal it uses the alternate screen, cut to\n"
	        "the window (redrawn when it is resized); q, Ctrl-C or SIGTERM quit\n"
	        "(exit 0) and the terminal is restored.  With -b, or when stdout is not\n"
	        "a terminal, frames are printed one after another, a blank line\n"
	        "between, without escape sequences.  -n stops after COUNT frames.",
	.opts = top_opts,
	.min_args = 0,
	.max_args = 0,
	.exec = top_exec,
};
