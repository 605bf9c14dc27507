/* stages_exec.c — the exec stage: one child process per item.
 *
 * `{}` anywhere in ARGV is replaced by the item, else the item (and a
 * newline) is the child's stdin, written by a helper goroutine so a child
 * that writes before it reads cannot deadlock us.  Each stdout line is an
 * item; stderr goes to /dev/null.  A non-zero exit, a signal, a spawn
 * failure or the per-item --timeout is an error item (gd_stage_error).
 * Each child's context is a child of the stage's (with the --timeout
 * deadline): cancelling the job SIGTERMs every child, SIGKILL after the
 * grace, and the worker waits until its child is reaped.
 *
 * -j N unordered: N workers share the input edge and send to the output.
 * --ordered: a dispatcher deals items round-robin to the workers (one
 * channel each, capacity 1), each worker sends a batch of output lines per
 * item on its own result channel (capacity 1), and a collector reads them
 * round-robin: results leave in input order, at most 3N items in flight.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

typedef struct gd_batch {
	gd_item **v;
	size_t n, cap;
} gd_batch;

static void batch_free(gd_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i]);
	free(b->v);
	free(b);
}

static int batch_add(void *arg, const char *line, size_t len)
{
	gd_batch *b = arg;
	if (b->n == b->cap) {
		size_t nc = b->cap ? 2 * b->cap : 8;
		gd_item **v = realloc(b->v, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		b->v = v;
		b->cap = nc;
	}
	gd_item *it = gd_item_new(line, len);
	if (!it)
		return -ENOMEM;
	b->v[b->n++] = it;
	return 0;
}

static int send_line(void *arg, const char *line, size_t len)
{
	return gd_stage_emit(arg, line, len);
}

/* ARGV with every "{}" replaced by the item; NULL-terminated.  *has set
 * when a "{}" was found.  NULL on ENOMEM. */
static char **make_argv(const gd_pipe_stage *sp, const gd_item *it, bool *has)
{
	uint32_t argc = sp->u.exec.argc;
	char **v = calloc(argc + 1, sizeof(*v));
	for (uint32_t i = 0; v && i < argc; i++) {
		const char *w = sp->u.exec.argv[i];
		size_t n = 0;
		for (const char *p = strstr(w, "{}"); p; p = strstr(p + 2, "{}"))
			n++;
		*has |= n > 0;
		v[i] = malloc(strlen(w) + n * it->len + 1);
		if (!v[i])
			goto fail;
		char *o = v[i];
		for (const char *p = w; *p;) {
			if (p[0] == '{' && p[1] == '}') {
				memcpy(o, it->data, it->len);
				o += it->len;
				p += 2;
			} else {
				*o++ = *p++;
			}
		}
		*o = 0;
	}
	return v;
fail:
	for (uint32_t i = 0; i < argc; i++)
		free(v[i]);
	free(v);
	return NULL;
}

static void free_argv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

struct gd_exec {
	gort_chan **in, **res; /* --ordered: per worker, items in, batches out */
	struct wk {
		gd_stage *s;
		uint32_t i;
	} *w;
	uint32_t n;
};

struct feeder {
	gort_fd *fd;
	const gd_item *it;
	gort_ctx *ctx;
	gort_waitgroup wg;
	gd_stage *s;
};

static void feeder_main(void *arg)
{
	struct feeder *f = arg;
	gd_stage *s = f->s;
	gort_fd_write(f->fd, f->it->data, f->it->len, GORT_DEADLINE_NONE, f->ctx);
	gort_fd_write(f->fd, "\n", 1, GORT_DEADLINE_NONE, f->ctx);
	gort_fd_close(f->fd);
	gort_waitgroup_done(&f->wg);
	gd_stage_exit(s, false);
}

/* Reads the child's stdout into lines; < 0 when emit failed. */
static int read_out(gort_fd *out, gort_ctx *ctx, gd_line_fn emit, void *arg)
{
	char *buf = malloc(GD_IO_CHUNK);
	gd_linebuf lb = {0};
	int r = buf ? 0 : -ENOMEM;
	while (!r) {
		ssize_t n = gort_fd_read(out, buf, GD_IO_CHUNK, GORT_DEADLINE_NONE, ctx);
		if (n <= 0) {
			r = n == 0 ? gd_lines_end(&lb, emit, arg) : 0;
			break;
		}
		r = gd_lines_push(&lb, buf, (size_t)n, emit, arg);
	}
	gd_lines_end(&lb, NULL, NULL);
	free(buf);
	return r;
}

static int spawn(gd_stage *s, const gd_item *it, char **argv, bool via_stdin, gort_ctx *ictx,
                 gort_proc **p, gort_fd *pipes[3])
{
	const gd_job_opts *o = gd_job_opts_of(s->job);
	gort_proc_opts po = {
		.argv = argv,
		.envp = o->envp,
		.cwd = o->cwd,
		.stdio = {{via_stdin ? GORT_STDIO_PIPE : GORT_STDIO_NULL, -1},
		          {GORT_STDIO_PIPE, -1},
		          {GORT_STDIO_NULL, -1}},
		.set_ids = o->set_ids,
		.uid = o->uid,
		.gid = o->gid,
		.groups = o->groups,
		.ngroups = o->ngroups,
		.new_pgroup = true,
		.ctx = ictx,
		.kill_grace = o->kill_grace,
	};
	int r = gort_proc_spawn(&po, p, pipes);
	if (r && !gort_ctx_err(s->ctx))
		gd_stage_error(s, it->data, it->len, "spawn %s: %s", argv[0], strerror(-r));
	return r;
}

/* Why the child ended, as an error item when it is one. */
static void judge(gd_stage *s, const gd_item *it, const gort_proc_status *st)
{
	if (gort_ctx_err(s->ctx))
		return; /* the stage is being stopped: not the item's fault */
	if (st->cancel_err == -ETIMEDOUT)
		gd_stage_error(s, it->data, it->len, "timed out after %.3f s",
		               (double)s->spec->u.exec.timeout / 1e9);
	else if (st->signal)
		gd_stage_error(s, it->data, it->len, "killed by signal %d (%s)", st->signal,
		               strsignal(st->signal));
	else if (st->exit_code != 0)
		gd_stage_error(s, it->data, it->len, "exit status %d", st->exit_code);
}

static void start_feeder(gd_stage *s, struct feeder *f)
{
	gort_waitgroup_add(&f->wg, 1);
	__atomic_fetch_add(&s->live, 1, __ATOMIC_RELAXED);
	if (gd_stage_go(s, feeder_main, f)) {
		__atomic_fetch_sub(&s->live, 1, __ATOMIC_RELAXED);
		gort_fd_close(f->fd);
		gort_waitgroup_done(&f->wg);
	}
}

/* Runs the command for one item, its stdout lines to emit(arg).  < 0 when
 * emit failed or memory ran out (the stage must stop), else 0. */
static int exec_one(gd_stage *s, const gd_item *it, gd_line_fn emit, void *arg)
{
	bool has = false;
	char **argv = make_argv(s->spec, it, &has);
	int64_t to = s->spec->u.exec.timeout;
	gort_ctx *ictx = to > 0 ? gort_ctx_with_timeout(s->ctx, to) : gort_ctx_with_cancel(s->ctx);
	if (!argv || !ictx) {
		free_argv(argv);
		gort_ctx_unref(ictx);
		gd_stage_fatal(s, "out of memory");
		return -ENOMEM;
	}
	gort_proc *p;
	gort_fd *pipes[3];
	int r = spawn(s, it, argv, !has, ictx, &p, pipes);
	free_argv(argv);
	if (r) {
		gort_ctx_unref(ictx);
		return 0;
	}
	struct feeder f = {.fd = pipes[0], .it = it, .ctx = ictx, .wg = GORT_WAITGROUP_INIT, .s = s};
	if (f.fd)
		start_feeder(s, &f);
	r = read_out(pipes[1], ictx, emit, arg);
	if (r < 0)
		gort_ctx_cancel(ictx); /* nobody wants its output any more */
	gort_fd_close(pipes[1]);
	gort_waitgroup_wait(&f.wg);
	gort_proc_status st;
	gort_proc_wait(p, &st, GORT_DEADLINE_NONE, NULL);
	judge(s, it, &st);
	gort_proc_free(p);
	gort_ctx_cancel(ictx);
	gort_ctx_unref(ictx);
	return r;
}

static void worker_main(void *arg)
{
	gd_stage *s = arg;
	gd_item *it;
	bool ab = false;
	for (;;) {
		int r = gd_stage_recv(s, s->in, &it);
		if (r) {
			ab = r != -EPIPE;
			break;
		}
		ADD(&s->n_in, 1);
		ADD(&s->busy, 1);
		r = exec_one(s, it, send_line, s);
		ADD(&s->busy, -1);
		free(it);
		if (r < 0) {
			ab = true;
			break;
		}
	}
	gd_stage_exit(s, ab);
}

/* ---- --ordered ------------------------------------------------------------ */

static void dispatcher_main(void *arg)
{
	gd_stage *s = arg;
	struct gd_exec *x = s->exec;
	gd_item *it;
	bool ab = false;
	for (uint64_t k = 0;; k++) {
		int r = gd_stage_recv(s, s->in, &it);
		if (r) {
			ab = r != -EPIPE;
			break;
		}
		ADD(&s->n_in, 1);
		if (gort_stage_send(s->ctx, x->in[k % x->n], &it)) {
			free(it);
			ab = true;
			break;
		}
	}
	for (uint32_t i = 0; i < x->n; i++)
		gort_chan_close(x->in[i]);
	gd_stage_exit(s, ab);
}

static void oworker_main(void *arg)
{
	struct wk *w = arg;
	gd_stage *s = w->s;
	struct gd_exec *x = s->exec;
	gd_item *it;
	bool ab = false;
	while (!ab) {
		int r = gort_stage_recv(s->ctx, x->in[w->i], &it);
		if (r) {
			ab = r != -EPIPE;
			break;
		}
		gd_batch *b = calloc(1, sizeof(*b));
		ADD(&s->busy, 1);
		r = b ? exec_one(s, it, batch_add, b) : -ENOMEM;
		ADD(&s->busy, -1);
		free(it);
		if (r < 0)
			gd_stage_fatal(s, "out of memory");
		if (r < 0 || gort_stage_send(s->ctx, x->res[w->i], &b)) {
			batch_free(b);
			ab = true;
		}
	}
	gort_chan_close(x->res[w->i]);
	gd_stage_exit(s, ab);
}

static void collector_main(void *arg)
{
	gd_stage *s = arg;
	struct gd_exec *x = s->exec;
	bool ab = false;
	for (uint64_t k = 0; !ab; k++) {
		gd_batch *b;
		int r = gort_stage_recv(s->ctx, x->res[k % x->n], &b);
		if (r) {
			ab = r != -EPIPE;
			break;
		}
		for (size_t j = 0; j < b->n && !ab; j++) {
			ab = gd_stage_send(s, 0, b->v[j]) != 0;
			b->v[j] = NULL;
		}
		batch_free(b);
	}
	gd_stage_exit(s, ab);
}

static int ordered_alloc(gd_stage *s, uint32_t n)
{
	struct gd_exec *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	s->exec = x;
	x->n = n;
	x->in = calloc(n, sizeof(*x->in));
	x->res = calloc(n, sizeof(*x->res));
	x->w = calloc(n, sizeof(*x->w));
	if (!x->in || !x->res || !x->w)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		x->w[i] = (struct wk){s, i};
		x->in[i] = gort_chan_make(sizeof(gd_item *), 1);
		x->res[i] = gort_chan_make(sizeof(gd_batch *), 1);
		if (!x->in[i] || !x->res[i])
			return -ENOMEM;
	}
	return 0;
}

/* Starts fn(arg) for the stage; on failure forgets the `left` goroutines
 * counted in live that will now never run. */
static int go_or_forget(gd_stage *s, void (*fn)(void *), void *arg, uint32_t left)
{
	int r = gd_stage_go(s, fn, arg);
	if (r)
		__atomic_fetch_sub(&s->live, left, __ATOMIC_ACQ_REL);
	return r;
}

int gd_exec_start(gd_stage *s)
{
	uint32_t n = s->spec->u.exec.jobs;
	s->workers = n;
	if (!s->spec->u.exec.ordered || n == 1) {
		s->live = n;
		for (uint32_t i = 0; i < n; i++)
			if (go_or_forget(s, worker_main, s, n - i))
				return -ENOMEM;
		return 0;
	}
	int r = ordered_alloc(s, n);
	if (r)
		return r;
	s->live = n + 2;
	if (go_or_forget(s, dispatcher_main, s, n + 2) || go_or_forget(s, collector_main, s, n + 1))
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		if (go_or_forget(s, oworker_main, &s->exec->w[i], n - i))
			return -ENOMEM;
	return 0;
}

void gd_exec_cleanup(gd_stage *s)
{
	struct gd_exec *x = s->exec;
	if (!x)
		return;
	for (uint32_t i = 0; i < x->n; i++) {
		gd_item *it;
		gd_batch *b;
		while (x->in && x->in[i] && gort_chan_try_recv(x->in[i], &it) == 0)
			free(it);
		while (x->res && x->res[i] && gort_chan_try_recv(x->res[i], &b) == 0)
			batch_free(b);
		if (x->in)
			gort_chan_unref(x->in[i]);
		if (x->res)
			gort_chan_unref(x->res[i]);
	}
	free(x->in);
	free(x->res);
	free(x->w);
	free(x);
	s->exec = NULL;
}
