/* engine.c — a job: builds the stage graph of a validated spec, owns the
 * contexts, edges, error records, collected items and the final state.
 *
 * Contexts: parent -> stage group (value ctx; every goroutine of the job is
 * counted in job->wg) -> the job's (cancel or deadline) -> one per stage.
 * A stage's context is cancelled when the stage ends, so the stage feeding
 * it (which selects on it when its output edge is full) stops too: that is
 * how `take` stops the sources.  A waiter goroutine (not in the group)
 * joins the group, sets the final state and closes job->done.
 *
 * Locking: job->lock (a gort_mutex) guards the kept errors and collected
 * items; counters are atomics; everything else is written before the
 * goroutines start and read-only until gd_job_free.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include "engine_int.h"

#define LD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

enum { CAUSE_NONE, CAUSE_FAILED, CAUSE_CANCELLED };

struct gd_job {
	gd_job_opts opts;
	const gd_pipe_spec *spec;
	gort_waitgroup wg;
	gort_ctx *ctx;
	gd_stage *stages;
	size_t nstages, built;
	gd_stage *stdin_stage;
	bool feed_ended;
	gort_chan *done;
	int state, cause; /* atomics */
	gort_mutex lock;
	uint64_t nerrors; /* atomic */
	gd_job_error *errs;
	size_t nkept;
	gd_item **col;
	size_t ncol, capcol;
	uint64_t count; /* atomic */
};

gd_item *gd_item_new(const void *data, size_t len)
{
	gd_item *it = malloc(sizeof(*it) + len + 1);
	if (!it)
		return NULL;
	it->len = len;
	if (len)
		memcpy(it->data, data, len);
	it->data[len] = 0;
	return it;
}

const char *gd_job_state_name(gd_job_state s)
{
	static const char *const names[] = {"running", "succeeded", "failed", "cancelled",
	                                    "timed-out"};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

/* ---- stage goroutine plumbing ------------------------------------------ */

int gd_stage_go(gd_stage *s, void (*fn)(void *), void *arg)
{
	gort_go_opts o = {.name = gd_pipe_kind_name(s->spec->kind), .stack_size = 0};
	gort_waitgroup_add(&s->job->wg, 1);
	int64_t id = gort_go_with(fn, arg, &o);
	if (id < 0) {
		gort_waitgroup_done(&s->job->wg);
		return (int)id;
	}
	return 0;
}

void gd_stage_exit(gd_stage *s, bool abnormal)
{
	gort_waitgroup *wg = &s->job->wg;
	if (abnormal)
		gort_ctx_cancel(s->ctx);
	if (__atomic_sub_fetch(&s->live, 1, __ATOMIC_ACQ_REL) == 0) {
		for (uint32_t k = 0; k < s->nouts; k++)
			gort_chan_close(s->outs[k]);
		gort_ctx_cancel(s->ctx);
	}
	gort_waitgroup_done(wg);
}

int gd_stage_recv(gd_stage *s, gort_chan *c, void *elem)
{
	int err = gort_ctx_err(s->ctx);
	if (err)
		return err;
	int r = gort_chan_try_recv(c, elem);
	if (r != -EAGAIN)
		return r;
	int64_t t0 = gort_now();
	r = gort_stage_recv(s->ctx, c, elem);
	ADD(&s->blocked_recv, gort_now() - t0);
	return r;
}

static void update_max(gd_stage *d, uint64_t n)
{
	uint64_t m = LD(&d->queue_max);
	while (n > m && !__atomic_compare_exchange_n(&d->queue_max, &m, n, true, __ATOMIC_RELAXED,
	                                             __ATOMIC_RELAXED))
		;
}

int gd_stage_send(gd_stage *s, uint32_t k, gd_item *it)
{
	gort_chan *c = s->outs[k];
	int err = gort_ctx_err(s->ctx);
	if (!err && gort_ctx_err(s->down[k]->ctx))
		err = -EPIPE;
	if (!err && gort_chan_try_send(c, &it) != 0) {
		gort_select_case cs[3] = {
			{.chan = c, .dir = GORT_SELECT_SEND, .elem = &it},
			{.chan = gort_ctx_done(s->ctx), .dir = GORT_SELECT_RECV},
			{.chan = gort_ctx_done(s->down[k]->ctx), .dir = GORT_SELECT_RECV},
		};
		int64_t t0 = gort_now();
		int r = gort_select(cs, 3, true);
		ADD(&s->blocked_send, gort_now() - t0);
		err = r == 0 ? 0 : r == 1 ? gort_ctx_err(s->ctx) : r == 2 ? -EPIPE : r;
	}
	if (err) {
		free(it);
		return err;
	}
	ADD(&s->n_out, 1);
	update_max(s->down[k], gort_chan_len(c));
	return 0;
}

int gd_stage_emit(gd_stage *s, const char *data, size_t len)
{
	gd_item *it = gd_item_new(data, len);
	if (!it) {
		gd_stage_fatal(s, "out of memory");
		return -ENOMEM;
	}
	return gd_stage_send(s, 0, it);
}

/* ---- errors ------------------------------------------------------------ */

static void job_fail(gd_job *j)
{
	int none = CAUSE_NONE;
	__atomic_compare_exchange_n(&j->cause, &none, CAUSE_FAILED, false, __ATOMIC_ACQ_REL,
	                            __ATOMIC_RELAXED);
	gort_ctx_cancel(j->ctx);
}

static void record(gd_stage *s, const char *item, size_t len, const char *fmt, va_list ap)
{
	gd_job *j = s->job;
	ADD(&s->n_err, 1);
	ADD(&j->nerrors, 1);
	gort_mutex_lock(&j->lock);
	if (!j->errs && j->opts.errors_keep) /* most jobs have none: allocated at the first */
		j->errs = calloc(j->opts.errors_keep, sizeof(*j->errs));
	if (j->errs && j->nkept < j->opts.errors_keep) {
		gd_job_error *e = &j->errs[j->nkept++];
		snprintf(e->stage, sizeof(e->stage), "%s", s->path);
		size_t n = len < sizeof(e->item) - 1 ? len : sizeof(e->item) - 1;
		if (n)
			memcpy(e->item, item, n);
		e->item[n] = 0;
		vsnprintf(e->message, sizeof(e->message), fmt, ap);
	}
	gort_mutex_unlock(&j->lock);
}

void gd_stage_error(gd_stage *s, const char *item, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record(s, item, len, fmt, ap);
	va_end(ap);
	if (s->job->opts.fail_fast)
		job_fail(s->job);
}

void gd_stage_fatal(gd_stage *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record(s, "", 0, fmt, ap);
	va_end(ap);
	job_fail(s->job);
}

/* ---- identity for file access ------------------------------------------ */

struct blk {
	gd_job *job;
	intptr_t (*fn)(void *);
	void *arg;
};

static intptr_t blk_run(void *arg)
{
	struct blk *b = arg;
	const gd_job_opts *o = &b->job->opts;
	if (!o->set_ids)
		return b->fn(b->arg);
	/* fsuid/fsgid are per thread (the raw system calls; glibc does not
	 * broadcast them): only this pool thread changes, and only here. */
	uid_t ou = (uid_t)setfsuid(o->uid);
	gid_t og = (gid_t)setfsgid(o->gid);
	intptr_t r = b->fn(b->arg);
	setfsgid(og);
	setfsuid(ou);
	return r;
}

intptr_t gd_job_blocking(gd_job *job, intptr_t (*fn)(void *), void *arg)
{
	struct blk b = {job, fn, arg};
	return gort_blocking_call(blk_run, &b);
}

struct open_args {
	const char *path;
	int flags;
};

static intptr_t open_fn(void *arg)
{
	struct open_args *a = arg;
	int fd = open(a->path, a->flags | O_CLOEXEC, 0666);
	return fd < 0 ? -errno : fd;
}

char *gd_job_path(gd_job *job, const char *path, bool pattern, size_t *prefix_len)
{
	const char *dir = job->opts.cwd;
	size_t dl = dir && path[0] != '/' ? strlen(dir) : 0, pl = strlen(path);
	char *r = malloc(2 * dl + pl + 2), *p = r;
	if (!r)
		return NULL;
	for (size_t i = 0; i < dl; i++) {
		if (pattern && strchr("*?[]\\", dir[i]))
			*p++ = '\\';
		*p++ = dir[i];
	}
	if (dl && dir[dl - 1] != '/')
		*p++ = '/';
	*prefix_len = dl ? dl + (dir[dl - 1] != '/') : 0;
	memcpy(p, path, pl + 1);
	return r;
}

int gd_job_open(gd_job *job, const char *path, int flags)
{
	size_t skip;
	char *full = gd_job_path(job, path, false, &skip);
	if (!full)
		return -ENOMEM;
	struct open_args a = {full, flags};
	int r = (int)gd_job_blocking(job, open_fn, &a);
	free(full);
	return r;
}

const gd_job_opts *gd_job_opts_of(gd_job *job)
{
	return &job->opts;
}

void gd_job_count_add(gd_job *job, uint64_t n)
{
	ADD(&job->count, n);
}

int gd_job_collect(gd_job *job, gd_item *it)
{
	int r = 0;
	gort_mutex_lock(&job->lock);
	if (job->ncol == job->capcol) {
		size_t nc = job->capcol ? 2 * job->capcol : 16;
		gd_item **v = realloc(job->col, nc * sizeof(*v));
		if (v) {
			job->col = v;
			job->capcol = nc;
		}
	}
	if (job->ncol < job->capcol)
		job->col[job->ncol++] = it;
	else
		r = -ENOMEM;
	gort_mutex_unlock(&job->lock);
	if (r)
		free(it);
	return r;
}

/* ---- building the graph ------------------------------------------------- */

static size_t count_stages(const gd_pipeline *p)
{
	size_t n = p->nstages;
	for (uint32_t i = 0; i < p->nstages; i++)
		for (uint32_t b = 0; b < p->stages[i].nbranches; b++)
			n += count_stages(&p->stages[i].branches[b]);
	return n;
}

static int stage_init(gd_job *j, gd_stage *s, const gd_pipe_stage *sp, const char *prefix)
{
	s->job = j;
	s->spec = sp;
	if (snprintf(s->path, sizeof(s->path), "%s%u", prefix, sp->index) >= (int)sizeof(s->path))
		return -ENAMETOOLONG; /* cannot happen within GD_PIPE_DEPTH_MAX */
	s->ctx = gort_ctx_with_cancel(j->ctx);
	if (!s->ctx)
		return -ENOMEM;
	uint32_t n = sp->kind == GD_PIPE_TEE ? sp->nbranches
	             : gd_pipe_kind_role(sp->kind) == GD_PIPE_SINK ? 0 : 1;
	if (n) {
		s->outs = calloc(n, sizeof(*s->outs));
		s->down = calloc(n, sizeof(*s->down));
		if (!s->outs || !s->down)
			return -ENOMEM;
	}
	s->nouts = n;
	if (sp->kind == GD_PIPE_FILTER) {
		if (regcomp(&s->re, sp->u.filter.regex, REG_EXTENDED | REG_NOSUB) != 0)
			return -EINVAL;
		s->re_ok = true;
	}
	return 0;
}

/* Connects producer output k to consumer c with a new edge. */
static int connect_edge(gd_job *j, gd_stage *p, uint32_t k, gd_stage *c)
{
	gort_chan *ch = gort_chan_make(sizeof(gd_item *), j->opts.queue_capacity);
	if (!ch)
		return -ENOMEM;
	p->outs[k] = ch;
	p->down[k] = c;
	c->in = gort_chan_ref(ch);
	return 0;
}

static int build(gd_job *j, const gd_pipeline *p, gd_stage *feeder, uint32_t k,
                 const char *prefix)
{
	gd_stage *prev = feeder;
	for (uint32_t i = 0; i < p->nstages; i++) {
		const gd_pipe_stage *sp = &p->stages[i];
		gd_stage *s = &j->stages[j->built++];
		int r = stage_init(j, s, sp, prefix);
		if (!r && prev)
			r = connect_edge(j, prev, prev == feeder ? k : 0, s);
		if (r)
			return r;
		if (sp->kind == GD_PIPE_STDIN) {
			s->in = gort_chan_make(sizeof(gd_item *), j->opts.queue_capacity);
			if (!s->in)
				return -ENOMEM;
			j->stdin_stage = s;
		}
		for (uint32_t b = 0; b < sp->nbranches; b++) {
			char pre[64];
			if (snprintf(pre, sizeof(pre), "%s.%u.", s->path, b + 1) >= (int)sizeof(pre))
				return -ENAMETOOLONG;
			r = build(j, &sp->branches[b], s, b, pre);
			if (r)
				return r;
		}
		prev = s;
	}
	return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void drain(gort_chan *c)
{
	gd_item *it;
	while (c && gort_chan_try_recv(c, &it) == 0)
		free(it);
}

static void destroy(gd_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->built; i++) {
		gd_stage *s = &j->stages[i];
		gd_exec_cleanup(s);
		drain(s->in);
		gort_chan_unref(s->in);
		for (uint32_t k = 0; k < s->nouts; k++)
			gort_chan_unref(s->outs[k]);
		free(s->outs);
		free(s->down);
		if (s->re_ok)
			regfree(&s->re);
		gort_ctx_unref(s->ctx);
	}
	for (size_t i = 0; i < j->ncol; i++)
		free(j->col[i]);
	free(j->col);
	free(j->errs);
	free(j->stages);
	gort_ctx_unref(j->ctx);
	gort_chan_unref(j->done);
	free(j);
}

static gd_job_state final_state(gd_job *j)
{
	int cause = __atomic_load_n(&j->cause, __ATOMIC_ACQUIRE);
	int err = gort_ctx_err(j->ctx);
	if (cause == CAUSE_FAILED)
		return GD_JOB_FAILED;
	if (cause == CAUSE_CANCELLED)
		return GD_JOB_CANCELLED;
	if (err == -ETIMEDOUT)
		return GD_JOB_TIMED_OUT;
	return err ? GD_JOB_CANCELLED : GD_JOB_SUCCEEDED;
}

static void waiter(void *arg)
{
	gd_job *j = arg;
	gort_waitgroup_wait(&j->wg);
	gort_chan *done = gort_chan_ref(j->done);
	__atomic_store_n(&j->state, final_state(j), __ATOMIC_RELEASE);
	gort_ctx_cancel(j->ctx); /* stops a pending deadline */
	if (j->opts.on_done)
		j->opts.on_done(j, j->opts.on_done_arg);
	gort_chan_close(done);
	gort_chan_unref(done);
}

static int job_alloc(const gd_pipe_spec *spec, const gd_job_opts *opts, gort_ctx *parent,
                     gd_job **ret)
{
	gd_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->opts = *opts;
	if (!j->opts.queue_capacity)
		j->opts.queue_capacity = 64;
	if (!j->opts.errors_keep)
		j->opts.errors_keep = 16;
	j->spec = spec;
	j->lock = (gort_mutex)GORT_MUTEX_INIT;
	j->wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
	j->nstages = count_stages(&spec->root);
	j->stages = calloc(j->nstages, sizeof(*j->stages));
	j->done = gort_chan_make(0, 0);
	gort_ctx *sg = gort_ctx_with_stage_group(parent, &j->wg);
	if (sg)
		j->ctx = opts->timeout > 0 ? gort_ctx_with_timeout(sg, opts->timeout)
		                           : gort_ctx_with_cancel(sg);
	gort_ctx_unref(sg);
	*ret = j;
	return j->stages && j->done && j->ctx ? 0 : -ENOMEM;
}

int gd_job_start(const gd_pipe_spec *spec, const gd_job_opts *opts, gort_ctx *parent,
                 gd_job **ret)
{
	gd_job *j = NULL;
	int r = job_alloc(spec, opts, parent, &j);
	if (!r)
		r = build(j, &spec->root, NULL, 0, "");
	if (r) {
		destroy(j);
		return r;
	}
	for (size_t i = 0; i < j->built && !r; i++)
		r = gd_stages_start(&j->stages[i]);
	if (!r && gort_go(waiter, j) < 0)
		r = -ENOMEM;
	if (r) {
		job_fail(j);
		gort_waitgroup_wait(&j->wg);
		destroy(j);
		return r;
	}
	*ret = j;
	return 0;
}

/* ---- the caller's side --------------------------------------------------- */

int gd_job_feed(gd_job *job, const void *data, size_t len)
{
	gd_stage *s = job->stdin_stage;
	if (!s)
		return -ENOTSUP;
	if (job->feed_ended || gort_ctx_err(s->ctx))
		return -EPIPE;
	gd_item *it = gd_item_new(data, len);
	if (!it)
		return -ENOMEM;
	if (gort_chan_try_send(s->in, &it) == 0)
		goto sent;
	gort_select_case cs[2] = {
		{.chan = s->in, .dir = GORT_SELECT_SEND, .elem = &it},
		{.chan = gort_ctx_done(s->ctx), .dir = GORT_SELECT_RECV},
	};
	if (gort_select(cs, 2, true) != 0) {
		free(it);
		return -EPIPE;
	}
sent:
	update_max(s, gort_chan_len(s->in));
	return 0;
}

void gd_job_feed_end(gd_job *job)
{
	if (job->stdin_stage && !job->feed_ended) {
		job->feed_ended = true;
		gort_chan_close(job->stdin_stage->in);
	}
}

void gd_job_cancel(gd_job *job)
{
	int none = CAUSE_NONE;
	__atomic_compare_exchange_n(&job->cause, &none, CAUSE_CANCELLED, false, __ATOMIC_ACQ_REL,
	                            __ATOMIC_RELAXED);
	gort_ctx_cancel(job->ctx);
}

gort_chan *gd_job_done(gd_job *job)
{
	return job->done;
}

gd_job_state gd_job_wait(gd_job *job)
{
	gort_chan_recv(job->done, NULL);
	return gd_job_get_state(job);
}

gd_job_state gd_job_get_state(gd_job *job)
{
	return (gd_job_state)__atomic_load_n(&job->state, __ATOMIC_ACQUIRE);
}

size_t gd_job_nstages(gd_job *job)
{
	return job->built;
}

int gd_job_stage_metrics(gd_job *job, size_t i, gd_stage_metrics *ret)
{
	if (i >= job->built)
		return -ERANGE;
	gd_stage *s = &job->stages[i];
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->path, s->path, sizeof(ret->path));
	ret->kind = s->spec->kind;
	ret->items_in = LD(&s->n_in);
	ret->items_out = LD(&s->n_out);
	ret->errors = LD(&s->n_err);
	ret->queue_len = gort_chan_len(s->in);
	ret->queue_cap = gort_chan_cap(s->in);
	ret->queue_max = LD(&s->queue_max);
	ret->blocked_send_ns = LD(&s->blocked_send);
	ret->blocked_recv_ns = LD(&s->blocked_recv);
	ret->busy = LD(&s->busy);
	ret->workers = s->workers;
	return 0;
}

uint64_t gd_job_nerrors(gd_job *job)
{
	return LD(&job->nerrors);
}

size_t gd_job_nerrors_kept(gd_job *job)
{
	gort_mutex_lock(&job->lock);
	size_t n = job->nkept;
	gort_mutex_unlock(&job->lock);
	return n;
}

int gd_job_error_get(gd_job *job, size_t i, gd_job_error *ret)
{
	int r = -ERANGE;
	gort_mutex_lock(&job->lock);
	if (i < job->nkept) {
		*ret = job->errs[i];
		r = 0;
	}
	gort_mutex_unlock(&job->lock);
	return r;
}

size_t gd_job_ncollected(gd_job *job)
{
	gort_mutex_lock(&job->lock);
	size_t n = job->ncol;
	gort_mutex_unlock(&job->lock);
	return n;
}

int gd_job_collected(gd_job *job, size_t i, const char **ret_data, size_t *ret_len)
{
	int r = -ERANGE;
	gort_mutex_lock(&job->lock);
	if (i < job->ncol) {
		*ret_data = job->col[i]->data;
		*ret_len = job->col[i]->len;
		r = 0;
	}
	gort_mutex_unlock(&job->lock);
	return r;
}

uint64_t gd_job_count(gd_job *job)
{
	return LD(&job->count);
}

void gd_job_free(gd_job *job)
{
	destroy(job);
}
