/* jobs.c — the job table and the job methods (see jobs.h; the wire side is
 * docs/protocol.md section 8).
 *
 * Records: each job record is in the id hash (t->buckets) and in exactly
 * one state list: t->queue (queued, FIFO), t->running, or t->finished
 * (in the order the jobs finished, so the head expires first).  A record
 * is reference counted: the table holds one reference until the record is
 * reaped, and every method call working on it outside the lock holds one.
 * The last reference frees it (after the engine's done channel closed).
 *
 * Locking: t->lock (a gort_mutex) guards every list, the hash, each
 * record's state, refs and finished_at, and the limits.  The engine's
 * getters (metrics, errors, collected items) are called without it, under
 * a reference.  rec->done is closed once, under the lock, when the record
 * becomes final.
 *
 * gd_job_start is called under the lock: the engine calls on_done (which
 * takes it) on a job goroutine, never from inside gd_job_start.
 *
 * Contexts: every job's parent is t->ctx, a child of the daemon's root
 * context, cancelled by gd_jobs_stop (and with the root).
 *
 * Goroutines: one scheduler (starts queued jobs when running ones end,
 * reaps expired records; woken through t->wake), the engine's, and one
 * feeder per run job with a stdin source (below), which lives within its
 * gd_jobs_run call.
 *
 * Streaming: a job started by gd_jobs_run has its `client` sink bound to
 * the caller's function (the connection), gated so that no item goes out
 * before the "job" notification; gd_jobs_run holds a reference and returns
 * only once the record is final, so the sink never outlives the
 * connection.  For submit the `client` sink's items are dropped and a
 * `stdin` source ends at once.
 *
 * Feeding: a run job whose source is `stdin` has a feeder (rec->feed): the
 * connection's reader hands feed and feed_end requests over in arrival
 * order (gd_jobs_feed, never blocking: the pending list is bounded by the
 * connection's max_inflight, since a request counts as in flight until
 * answered), and one feeder goroutine per job applies them in that order —
 * the only goroutine calling gd_job_feed and gd_job_feed_end, as the
 * engine requires.  It waits while the job is queued, parks in gd_job_feed
 * while the stdin queue is full (backpressure), and is unparked by the
 * job's end or cancellation (the stage contexts), so a client that goes
 * away while its feed is parked still cancels the job.  gd_jobs_run closes
 * the feeder once the job is final and waits for it, so every request
 * handed over is answered before run's response.
 */
#include "config.h"
#include "jobs.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "pipespec.h"

typedef enum rec_state {
	REC_QUEUED,
	REC_RUNNING,
	REC_FINAL, /* rec->final holds the engine's final state */
} rec_state;

/* The stdin side of a run job whose source is `stdin` (see the top).
 * head/tail, closed and ended are guarded by t->lock. */
typedef struct feeder {
	gd_feed_req *head, *tail; /* handed over, not applied yet, in arrival order */
	bool closed;              /* the run is ending: requests are answered at once */
	bool ended;               /* feed_end was applied */
	gort_chan *wake;          /* capacity 1: requests pending, the job started or ended */
	gort_chan *gone;          /* closed when the feeder goroutine returns */
} feeder;

typedef struct rec rec;
typedef struct rec_list {
	rec *head, *tail;
} rec_list;

struct rec {
	gd_jobs *t;
	uint64_t id;
	uid_t uid;
	gid_t gid;
	rec_state state;
	gd_job_state final;
	char start_error[128];   /* why gd_job_start failed, or "" */
	uint32_t refs;
	int64_t finished_at;     /* gort_now() once final */
	int64_t started_at;      /* gort_now() when it started running */
	gd_pipe_spec *spec;
	gd_job_opts opts;
	gd_job *job;             /* NULL while queued, or if it never started */
	gort_chan *done;         /* closed once final */
	gid_t *groups;
	char *env[5];            /* PATH, HOME, USER, LOGNAME, NULL */
	char *cwd;               /* the cwd option (opts.cwd), or NULL */
	uint64_t run_conn;       /* run: the connection running it (0: submitted) */
	const gd_run_io *io;     /* run: its connection, valid while gd_jobs_run runs */
	gort_chan *announced;    /* run: closed once the "job" notification is written */
	bool announced_flag;     /* atomic: announced is closed (the sink's fast path) */
	feeder *feed;            /* run with a stdin source: its feeder; else NULL */
	rec *prev, *next;        /* state list */
	rec *hnext;              /* hash chain */
};

struct gd_jobs {
	gort_ctx *root;          /* the daemon's root context (a reference) */
	gort_ctx *ctx;           /* child of root, parent of every job's; cancelled by stop */
	gort_mutex lock;
	uint32_t max_running, max_queued, max_queued_per_uid, queue_capacity, max_finished;
	int64_t retention, kill_grace;
	bool stopping;
	uint64_t next_id;
	uint32_t nrunning, nqueued, nfinished;
	rec_list queue, running, finished;
	rec **buckets;
	size_t nbuckets, nrecs;
	gort_chan *wake;         /* capacity 1: the scheduler has work */
	gort_waitgroup live;     /* the scheduler and every running job */
};

#define CLEAN_PATH "/usr/local/bin:/usr/bin:/bin"

/* ---- lists and the hash ------------------------------------------------ */

static void list_push(rec_list *l, rec *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void list_remove(rec_list *l, rec *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
}

static rec **hash_slot(gd_jobs *t, uint64_t id)
{
	rec **p = &t->buckets[(id * 0x9e3779b97f4a7c15ULL >> 32) & (t->nbuckets - 1)];
	while (*p && (*p)->id != id)
		p = &(*p)->hnext;
	return p;
}

static int hash_grow(gd_jobs *t)
{
	size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
	rec **b = calloc(n, sizeof *b), **old = t->buckets;
	size_t oldn = t->nbuckets;
	if (!b)
		return -ENOMEM;
	t->buckets = b;
	t->nbuckets = n;
	for (size_t i = 0; i < oldn; i++) {
		for (rec *r = old[i], *nx; r; r = nx) {
			nx = r->hnext;
			r->hnext = NULL;
			*hash_slot(t, r->id) = r;
		}
	}
	free(old);
	return 0;
}

static int hash_add(gd_jobs *t, rec *r)
{
	if (t->nrecs + 1 > t->nbuckets && hash_grow(t) < 0)
		return -ENOMEM;
	*hash_slot(t, r->id) = r;
	t->nrecs++;
	return 0;
}

static void hash_del(gd_jobs *t, rec *r)
{
	rec **p = hash_slot(t, r->id);
	*p = r->hnext;
	t->nrecs--;
}

/* ---- records -------------------------------------------------------------- */

static void rec_free(rec *r)
{
	if (r->job) {
		(void)gd_job_wait(r->job); /* the engine's done channel is closed */
		gd_job_free(r->job);
	}
	gd_pipe_free(r->spec);
	gort_chan_unref(r->done);
	gort_chan_unref(r->announced);
	if (r->feed) {
		gort_chan_unref(r->feed->wake);
		gort_chan_unref(r->feed->gone);
		free(r->feed);
	}
	free(r->groups);
	free(r->cwd);
	for (size_t i = 0; r->env[i]; i++)
		free(r->env[i]);
	free(r);
}

static void rec_unref(rec *r)
{
	gd_jobs *t = r->t;
	gort_mutex_lock(&t->lock);
	uint32_t n = --r->refs;
	gort_mutex_unlock(&t->lock);
	if (n == 0)
		rec_free(r);
}

static void wake(gd_jobs *t)
{
	(void)gort_chan_try_send(t->wake, NULL);
}

/* The job of a feeder started or ended: it may apply its requests. */
static void wake_feeder(rec *r)
{
	if (r->feed)
		(void)gort_chan_try_send(r->feed->wake, NULL);
}

/* Under the lock: the record is final now. */
static void rec_finish(gd_jobs *t, rec *r, gd_job_state st)
{
	r->state = REC_FINAL;
	r->final = st;
	r->finished_at = gort_now();
	list_push(&t->finished, r);
	t->nfinished++;
	gort_chan_close(r->done);
	wake_feeder(r);
}

/* The engine's on_done, on the job's last goroutine. */
static void job_done(gd_job *job, void *arg)
{
	rec *r = arg;
	gd_jobs *t = r->t;
	gort_mutex_lock(&t->lock);
	list_remove(&t->running, r);
	t->nrunning--;
	rec_finish(t, r, gd_job_get_state(job));
	gort_mutex_unlock(&t->lock);
	wake(t);
	gort_waitgroup_done(&t->live);
}

/* Under the lock: starts r (taken off the queue by the caller). */
static void rec_start(gd_jobs *t, rec *r)
{
	r->opts.kill_grace = t->kill_grace > 0 ? t->kill_grace : -1;
	r->opts.on_done = job_done;
	r->opts.on_done_arg = r;
	r->state = REC_RUNNING;
	r->started_at = gort_now();
	list_push(&t->running, r);
	t->nrunning++;
	gort_waitgroup_add(&t->live, 1);
	int e = gd_job_start(r->spec, &r->opts, t->ctx, &r->job);
	if (e == 0 && !r->feed)
		gd_job_feed_end(r->job); /* no feeder (submit): stdin is empty */
	if (e == 0)
		wake_feeder(r);
	if (e < 0) {
		r->job = NULL;
		snprintf(r->start_error, sizeof r->start_error, "the job could not start: %s",
		         strerror(-e));
		list_remove(&t->running, r);
		t->nrunning--;
		gort_waitgroup_done(&t->live);
		rec_finish(t, r, GD_JOB_FAILED);
	}
}

/* Under the lock: starts queued jobs, oldest first, while there is room. */
static void pump(gd_jobs *t)
{
	while (t->queue.head && t->nrunning < t->max_running) {
		rec *r = t->queue.head;
		list_remove(&t->queue, r);
		t->nqueued--;
		rec_start(t, r);
	}
}

/* Under the lock: unlinks expired records, and the oldest beyond
 * max_finished, onto *dead; returns the time until the next one expires,
 * or -1. */
static int64_t reap(gd_jobs *t, rec_list *dead)
{
	int64_t now = gort_now();
	while (t->finished.head) {
		rec *r = t->finished.head;
		int64_t left = r->finished_at + t->retention - now;
		if (left > 0 && !t->stopping && t->nfinished <= t->max_finished)
			return left;
		list_remove(&t->finished, r);
		t->nfinished--;
		hash_del(t, r);
		list_push(dead, r);
	}
	return -1;
}

static void unref_all(rec_list *l)
{
	while (l->head) {
		rec *r = l->head;
		list_remove(l, r);
		rec_unref(r);
	}
}

static void scheduler_main(void *arg)
{
	gd_jobs *t = arg;
	for (;;) {
		rec_list dead = {0};
		gort_mutex_lock(&t->lock);
		pump(t);
		int64_t next = reap(t, &dead);
		gort_mutex_unlock(&t->lock);
		unref_all(&dead);
		gort_timer *tm = next >= 0 ? gort_timer_make(next) : NULL;
		gort_select_case cases[3] = {
			{t->wake, GORT_SELECT_RECV, NULL, false},
			{gort_ctx_done(t->ctx), GORT_SELECT_RECV, NULL, false},
			{tm ? gort_timer_chan(tm) : NULL, GORT_SELECT_RECV, NULL, false},
		};
		int k = gort_select(cases, 3, true);
		gort_timer_free(tm);
		if (k == 1)
			break;
	}
	gort_waitgroup_done(&t->live);
}

/* ---- the table ------------------------------------------------------------- */

void gd_jobs_set_config(gd_jobs *t, const gd_config *cfg)
{
	gort_mutex_lock(&t->lock);
	t->max_running = cfg->max_running;
	t->max_queued = cfg->max_queued;
	t->max_queued_per_uid = cfg->max_queued_per_uid;
	t->queue_capacity = cfg->queue_capacity;
	t->retention = cfg->retention;
	t->max_finished = cfg->max_finished;
	t->kill_grace = cfg->kill_grace;
	gort_mutex_unlock(&t->lock);
	wake(t);
}

int gd_jobs_new(const gd_config *cfg, gort_ctx *root, gd_jobs **ret)
{
	gd_jobs *t = calloc(1, sizeof *t);
	if (!t || !(t->wake = gort_chan_make(0, 1)) || hash_grow(t) < 0) {
		if (t)
			gort_chan_unref(t->wake);
		free(t);
		return -ENOMEM;
	}
	t->lock = (gort_mutex)GORT_MUTEX_INIT;
	t->live = (gort_waitgroup)GORT_WAITGROUP_INIT;
	t->root = gort_ctx_ref(root);
	if (!(t->ctx = gort_ctx_with_cancel(root))) {
		gort_ctx_unref(t->root);
		gort_chan_unref(t->wake);
		free(t->buckets);
		free(t);
		return -ENOMEM;
	}
	gd_jobs_set_config(t, cfg);
	gort_waitgroup_add(&t->live, 1);
	gort_go_opts o = {.name = "godaemon-jobs"};
	int r = gort_go_with(scheduler_main, t, &o);
	if (r < 0) {
		gort_ctx_unref(t->ctx);
		gort_ctx_unref(t->root);
		gort_chan_unref(t->wake);
		free(t->buckets);
		free(t);
		return r;
	}
	*ret = t;
	return 0;
}

void gd_jobs_stop(gd_jobs *t)
{
	gort_mutex_lock(&t->lock);
	t->stopping = true;
	while (t->queue.head) {
		rec *r = t->queue.head;
		list_remove(&t->queue, r);
		t->nqueued--;
		rec_finish(t, r, GD_JOB_CANCELLED);
	}
	gort_mutex_unlock(&t->lock);
	gort_ctx_cancel(t->ctx); /* every running job, and the scheduler */
	gort_waitgroup_wait(&t->live);
}

void gd_jobs_free(gd_jobs *t)
{
	if (!t)
		return;
	rec_list dead = {0};
	gort_mutex_lock(&t->lock);
	(void)reap(t, &dead); /* stopping: every finished record */
	gort_mutex_unlock(&t->lock);
	unref_all(&dead);
	gort_ctx_unref(t->ctx);
	gort_ctx_unref(t->root);
	gort_chan_unref(t->wake);
	free(t->buckets);
	free(t);
}

/* ---- identity ------------------------------------------------------------ */

typedef struct ident_req {
	rec *r;
	int err;
} ident_req;

/* The supplementary groups of account name with primary group gid, into
 * r->groups: their number, or -ENOMEM. */
static int groups_of(rec *r, const char *name, gid_t gid)
{
	int n = 32;
	for (;;) {
		gid_t *g = realloc(r->groups, (size_t)n * sizeof *g);
		if (!g)
			return -ENOMEM;
		r->groups = g;
		if (!name) {
			g[0] = gid;
			return 1;
		}
		int want = n;
		if (getgrouplist(name, gid, g, &want) >= 0)
			return want;
		n = want > n ? want : n * 2;
	}
}

/* "KEY=value" in a new string, or NULL. */
static char *env_var(const char *key, const char *value)
{
	size_t n = strlen(key) + strlen(value) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s=%s", key, value);
	return s;
}

/* On the blocking pool (NSS may read files or ask a server): the
 * submitter's supplementary groups and a clean environment. */
static intptr_t ident_lookup(void *arg)
{
	ident_req *q = arg;
	rec *r = q->r;
	struct passwd pw, *pwp = NULL;
	char buf[16384];
	if (getpwuid_r(r->uid, &pw, buf, sizeof buf, &pwp) != 0)
		pwp = NULL; /* no account (or unreadable): no groups, HOME=/ */
	int ng = groups_of(r, pwp ? pw.pw_name : NULL, r->gid);
	if (ng < 0)
		return q->err = ng;
	r->opts.groups = r->groups;
	r->opts.ngroups = (size_t)ng;
	const char *home = pwp ? pw.pw_dir : "/", *user = pwp ? pw.pw_name : NULL;
	char *env[4] = {env_var("PATH", CLEAN_PATH), env_var("HOME", home),
	                user ? env_var("USER", user) : NULL, user ? env_var("LOGNAME", user) : NULL};
	bool bad = !env[0] || !env[1] || (user && (!env[2] || !env[3]));
	for (int i = 0; i < 4; i++) {
		if (bad)
			free(env[i]);
		else
			r->env[i] = env[i]; /* NULL-terminated: r->env[4] stays NULL */
	}
	return bad ? (q->err = -ENOMEM) : 0;
}

/* Fills the exec identity of a new record. */
static bool has_exec(const gd_pipeline *p)
{
	for (uint32_t i = 0; i < p->nstages; i++) {
		if (p->stages[i].kind == GD_PIPE_EXEC)
			return true;
		for (uint32_t b = 0; b < p->stages[i].nbranches; b++)
			if (has_exec(&p->stages[i].branches[b]))
				return true;
	}
	return false;
}

/* The account lookup (NSS: files read on the blocking pool, two thread
 * hand-offs) serves only exec children: the groups and the environment.
 * A job without exec skips it (its files are opened with the fsuid/fsgid
 * of the connection alone). */
static int rec_identity(rec *r)
{
	ident_req q = {r, 0};
	if (has_exec(&r->spec->root))
		(void)gort_blocking_call(ident_lookup, &q);
	if (q.err < 0)
		return q.err;
	r->opts.envp = r->env;
	r->opts.set_ids = geteuid() == 0;
	r->opts.uid = r->uid;
	r->opts.gid = r->gid;
	return 0;
}

/* ---- submit ---------------------------------------------------------------- */

static bool key_is(const msgpack_object *k, const char *s)
{
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(s) &&
	       memcmp(k->via.str.ptr, s, k->via.str.size) == 0;
}

/* The cwd option: an absolute path without NUL, shorter than PATH_MAX. */
static int parse_cwd(const msgpack_object *v, rec *r, gd_proto_error *err)
{
	bool ok = v->type == MSGPACK_OBJECT_STR;
	const char *p = ok ? v->via.str.ptr : NULL;
	uint32_t n = ok ? v->via.str.size : 0;
	if (!ok || n == 0 || p[0] != '/' || n >= PATH_MAX || memchr(p, 0, n))
		return gd_proto_fail(err, GD_E_INVALID_PARAMS,
		                     "options: cwd must be an absolute path without NUL bytes, "
		                     "shorter than %d bytes", PATH_MAX);
	free(r->cwd);
	if (!(r->cwd = strndup(p, n)))
		return gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the job's cwd");
	r->opts.cwd = r->cwd;
	return 0;
}

/* The options map: timeout (ms), fail_fast, queue_capacity, cwd. */
static int parse_options(const msgpack_object *o, rec *r, gd_proto_error *err)
{
	gd_job_opts *opts = &r->opts;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
		bool u = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
		if (key_is(k, "cwd")) {
			int e = parse_cwd(v, r, err);
			if (e < 0)
				return e;
		} else if (key_is(k, "timeout") && u && v->via.u64 <= INT64_MAX / GORT_MILLISECOND)
			opts->timeout = (int64_t)v->via.u64 * GORT_MILLISECOND;
		else if (key_is(k, "fail_fast") && v->type == MSGPACK_OBJECT_BOOLEAN)
			opts->fail_fast = v->via.boolean;
		else if (key_is(k, "queue_capacity") && u && v->via.u64 >= 1 && v->via.u64 <= 1048576)
			opts->queue_capacity = (uint32_t)v->via.u64;
		else
			return gd_proto_fail(err, GD_E_INVALID_PARAMS,
			                     "options: unknown key or bad value at entry %u "
			                     "(timeout: ms, fail_fast: bool, queue_capacity: 1..1048576, "
			                     "cwd: str)",
			                     i + 1);
	}
	return 0;
}

static int rec_new(const gd_caller *who, const msgpack_object *params, rec **ret,
                   gd_proto_error *err)
{
	rec *r = calloc(1, sizeof *r);
	if (!r || !(r->done = gort_chan_make(0, 0))) {
		free(r);
		return gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the job");
	}
	r->uid = who->uid;
	r->gid = who->gid;
	r->refs = 1;
	gd_pipe_error pe;
	int e = parse_options(&params->via.array.ptr[1], r, err);
	if (e == 0) {
		e = gd_pipe_decode(&params->via.array.ptr[0], &r->spec, &pe);
		if (e == -EINVAL)
			gd_pipe_error_to_proto(&pe, err);
		else if (e < 0)
			gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the spec");
	}
	if (e == 0 && (e = rec_identity(r)) < 0)
		gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the job's identity");
	if (e < 0) {
		rec_free(r);
		return e;
	}
	*ret = r;
	return 0;
}

static uint32_t queued_of(gd_jobs *t, uid_t uid)
{
	uint32_t n = 0;
	for (rec *r = t->queue.head; r; r = r->next)
		n += r->uid == uid;
	return n;
}

/* Under the lock: admits r (running or queued) or says why not. */
static int admit(gd_jobs *t, rec *r, gd_proto_error *err)
{
	if (t->stopping || gort_ctx_err(t->ctx))
		return gd_proto_fail(err, GD_E_SHUTTING_DOWN, "godaemon is stopping");
	bool room = t->nrunning < t->max_running && !t->queue.head;
	if (!room && t->nqueued >= t->max_queued)
		return gd_proto_fail(err, GD_E_QUEUE_FULL, "the admission queue is full (%u jobs)",
		                     t->max_queued);
	if (!room && queued_of(t, r->uid) >= t->max_queued_per_uid)
		return gd_proto_fail(err, GD_E_QUEUE_FULL,
		                     "uid %u already has %u jobs queued (max_queued_per_uid)",
		                     (unsigned)r->uid, t->max_queued_per_uid);
	r->id = t->next_id + 1;
	if (hash_add(t, r) < 0)
		return gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the job table");
	t->next_id++;
	r->t = t;
	if (!r->opts.queue_capacity)
		r->opts.queue_capacity = t->queue_capacity;
	r->state = REC_QUEUED;
	list_push(&t->queue, r);
	t->nqueued++;
	pump(t);
	return 0;
}

static int rec_bind_run(rec *r, const gd_caller *who, const gd_run_io *io,
                        gd_proto_error *err);

/* What submit and run share: decodes params into a new record, binds it to
 * run's connection (io not NULL) and admits it.  0 and *ret with a
 * reference for the caller (the table holds its own), or an error. */
static int rec_submit(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                      const gd_run_io *io, rec **ret, gd_proto_error *err)
{
	rec *r;
	int e = rec_new(who, params, &r, err);
	if (e < 0)
		return e;
	if (io && (e = rec_bind_run(r, who, io, err)) < 0) {
		rec_free(r);
		return e;
	}
	gort_mutex_lock(&t->lock);
	e = admit(t, r, err);
	if (e == 0)
		r->refs++;
	gort_mutex_unlock(&t->lock);
	if (e < 0) {
		rec_free(r);
		return e;
	}
	*ret = r;
	return 0;
}

int gd_jobs_submit(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                   msgpack_packer *pk, gd_proto_error *err)
{
	rec *r;
	int e = rec_submit(t, who, params, NULL, &r, err);
	if (e < 0)
		return e;
	uint64_t id = r->id;
	rec_unref(r);
	log_debug("job %llu submitted by uid %u", (unsigned long long)id, (unsigned)who->uid);
	return msgpack_pack_map(pk, 1) | msgpack_pack_str_with_body(pk, "id", 2) |
	       msgpack_pack_uint64(pk, id) ? -ENOMEM : 0;
}

/* ---- looking jobs up ------------------------------------------------------ */

static bool visible(const gd_caller *who, const rec *r)
{
	return who->uid == 0 || who->uid == r->uid;
}

/* The caller's job params[0] with a reference, or NOT_FOUND (also for
 * another user's job: its existence is not revealed). */
static int find(gd_jobs *t, const gd_caller *who, const msgpack_object *params, rec **ret,
                gd_proto_error *err)
{
	uint64_t id = params->via.array.ptr[0].via.u64;
	gort_mutex_lock(&t->lock);
	rec *r = *hash_slot(t, id);
	if (r && visible(who, r))
		r->refs++;
	else
		r = NULL;
	gort_mutex_unlock(&t->lock);
	if (!r)
		return gd_proto_fail(err, GD_E_NOT_FOUND, "no job %llu", (unsigned long long)id);
	*ret = r;
	return 0;
}

static const char *state_name(rec_state s, gd_job_state final)
{
	return s == REC_QUEUED ? "queued" : s == REC_RUNNING ? "running" : gd_job_state_name(final);
}

/* ---- packing --------------------------------------------------------------- */

int gd_jobs_pack_stage(msgpack_packer *pk, const struct gd_stage_metrics *m, uint32_t more)
{
	int e = msgpack_pack_map(pk, 12 + more) | gd_pk_str(pk, "path") | gd_pk_str(pk, m->path);
	e |= gd_pk_str(pk, "stage") | gd_pk_str(pk, gd_pipe_kind_name(m->kind));
	e |= gd_pk_kv_u64(pk, "items_in", m->items_in) | gd_pk_kv_u64(pk, "items_out", m->items_out);
	e |= gd_pk_kv_u64(pk, "errors", m->errors) | gd_pk_kv_u64(pk, "queue_len", m->queue_len);
	e |= gd_pk_kv_u64(pk, "queue_cap", m->queue_cap) | gd_pk_kv_u64(pk, "queue_max", m->queue_max);
	e |= gd_pk_kv_u64(pk, "blocked_send_ns", (uint64_t)m->blocked_send_ns);
	e |= gd_pk_kv_u64(pk, "blocked_recv_ns", (uint64_t)m->blocked_recv_ns);
	e |= gd_pk_kv_u64(pk, "busy", m->busy) | gd_pk_kv_u64(pk, "workers", m->workers);
	return e;
}

static int pack_stages(msgpack_packer *pk, gd_job *job)
{
	size_t n = job ? gd_job_nstages(job) : 0;
	int e = gd_pk_str(pk, "stages") | msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n && !e; i++) {
		gd_stage_metrics m;
		if (gd_job_stage_metrics(job, i, &m) < 0)
			memset(&m, 0, sizeof m);
		e |= gd_jobs_pack_stage(pk, &m, 0);
	}
	return e;
}

static int pack_errors(msgpack_packer *pk, gd_job *job)
{
	size_t n = job ? gd_job_nerrors_kept(job) : 0;
	int e = gd_pk_kv_u64(pk, "errors_total", job ? gd_job_nerrors(job) : 0);
	e |= gd_pk_str(pk, "errors") | msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n && !e; i++) {
		gd_job_error je;
		if (gd_job_error_get(job, i, &je) < 0)
			memset(&je, 0, sizeof je);
		e |= msgpack_pack_map(pk, 3) | gd_pk_str(pk, "stage") | gd_pk_str(pk, je.stage);
		e |= gd_pk_str(pk, "item") | msgpack_pack_bin_with_body(pk, je.item, strlen(je.item));
		e |= gd_pk_str(pk, "message") | gd_pk_str(pk, je.message);
	}
	return e;
}

/* The status object of r (held by a reference). */
static int pack_status(gd_jobs *t, msgpack_packer *pk, rec *r)
{
	gort_mutex_lock(&t->lock);
	rec_state s = r->state;
	gd_job_state final = r->final;
	gort_mutex_unlock(&t->lock);
	gd_job *job = s == REC_QUEUED ? NULL : r->job;
	int e = msgpack_pack_map(pk, 9) | gd_pk_kv_u64(pk, "id", r->id) | gd_pk_kv_u64(pk, "uid", r->uid);
	e |= gd_pk_str(pk, "state") | gd_pk_str(pk, state_name(s, final));
	e |= gd_pk_str(pk, "start_error") | gd_pk_str(pk, r->start_error);
	e |= gd_pk_kv_u64(pk, "count", job ? gd_job_count(job) : 0);
	e |= gd_pk_kv_u64(pk, "collected", job ? gd_job_ncollected(job) : 0);
	e |= pack_stages(pk, job) | pack_errors(pk, job);
	return e ? -ENOMEM : 0;
}

/* ---- the other methods ------------------------------------------------------ */

int gd_jobs_status(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                   msgpack_packer *pk, gd_proto_error *err)
{
	rec *r;
	int e = find(t, who, params, &r, err);
	if (e < 0)
		return e;
	e = pack_status(t, pk, r);
	rec_unref(r);
	if (e < 0)
		gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the status");
	return e;
}

static int pack_list_entry(msgpack_packer *pk, const rec *r)
{
	return msgpack_pack_map(pk, 3) | gd_pk_kv_u64(pk, "id", r->id) | gd_pk_kv_u64(pk, "uid", r->uid) |
	       gd_pk_str(pk, "state") | gd_pk_str(pk, state_name(r->state, r->final));
}

static int list_pack(const gd_caller *who, const rec_list *l, msgpack_packer *pk)
{
	int e = 0;
	for (rec *r = l->head; r && !e; r = r->next)
		if (visible(who, r))
			e = pack_list_entry(pk, r);
	return e;
}

static uint32_t list_count(const gd_caller *who, const rec_list *l)
{
	uint32_t n = 0;
	for (rec *r = l->head; r; r = r->next)
		n += visible(who, r);
	return n;
}

int gd_jobs_list(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                 msgpack_packer *pk, gd_proto_error *err)
{
	(void)params;
	gort_mutex_lock(&t->lock);
	const rec_list *ls[3] = {&t->finished, &t->running, &t->queue};
	uint32_t n = 0;
	for (int i = 0; i < 3; i++)
		n += list_count(who, ls[i]);
	int e = msgpack_pack_array(pk, n);
	for (int i = 0; i < 3 && !e; i++)
		e = list_pack(who, ls[i], pk);
	gort_mutex_unlock(&t->lock);
	if (e)
		return gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the list");
	return 0;
}

/* Cancels r whatever its state (queued: final at once; running: the
 * engine's cancellation; final: nothing); returns its state's name then. */
static const char *rec_cancel(gd_jobs *t, rec *r)
{
	gort_mutex_lock(&t->lock);
	if (r->state == REC_QUEUED) {
		list_remove(&t->queue, r);
		t->nqueued--;
		rec_finish(t, r, GD_JOB_CANCELLED);
	} else if (r->state == REC_RUNNING) {
		gd_job_cancel(r->job);
	}
	const char *st = state_name(r->state, r->final);
	gort_mutex_unlock(&t->lock);
	wake(t);
	return st;
}

int gd_jobs_cancel(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                   msgpack_packer *pk, gd_proto_error *err)
{
	rec *r;
	int e = find(t, who, params, &r, err);
	if (e < 0)
		return e;
	const char *st = rec_cancel(t, r);
	e = msgpack_pack_map(pk, 2) | gd_pk_kv_u64(pk, "id", r->id) | gd_pk_str(pk, "state") |
	    gd_pk_str(pk, st);
	rec_unref(r);
	if (e)
		return gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the result");
	log_debug("job %llu: cancel asked by uid %u", (unsigned long long)params->via.array.ptr[0].via.u64,
	          (unsigned)who->uid);
	return 0;
}

int gd_jobs_wait(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                 msgpack_packer *pk, gd_proto_error *err)
{
	rec *r;
	int e = find(t, who, params, &r, err);
	if (e < 0)
		return e;
	gort_select_case cases[2] = {
		{r->done, GORT_SELECT_RECV, NULL, false},
		{gort_ctx_done(who->ctx), GORT_SELECT_RECV, NULL, false},
	};
	if (gort_select(cases, 2, true) == 0) {
		e = pack_status(t, pk, r);
		if (e < 0)
			gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the status");
	} else {
		e = gd_proto_fail(err, GD_E_CANCELLED, "the wait was cancelled");
	}
	rec_unref(r);
	return e;
}

int gd_jobs_output(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                   msgpack_packer *pk, gd_proto_error *err)
{
	rec *r;
	int e = find(t, who, params, &r, err);
	if (e < 0)
		return e;
	gort_mutex_lock(&t->lock);
	gd_job *job = r->state == REC_QUEUED ? NULL : r->job;
	gort_mutex_unlock(&t->lock);
	size_t n = job ? gd_job_ncollected(job) : 0;
	e = msgpack_pack_map(pk, 2) | gd_pk_kv_u64(pk, "id", r->id) | gd_pk_str(pk, "items") |
	    msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n && !e; i++) {
		const char *d = "";
		size_t len = 0;
		(void)gd_job_collected(job, i, &d, &len);
		e = msgpack_pack_bin_with_body(pk, d, len);
	}
	rec_unref(r);
	if (e)
		return gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the output");
	return 0;
}

/* ---- the metrics method's accessors (metrics.h) ------------------------------ */

void gd_jobs_totals_get(gd_jobs *t, gd_jobs_totals *ret)
{
	memset(ret, 0, sizeof *ret);
	gort_mutex_lock(&t->lock);
	ret->queued = t->nqueued;
	ret->running = t->nrunning;
	for (const rec *r = t->finished.head; r; r = r->next) {
		switch (r->final) {
		case GD_JOB_SUCCEEDED: ret->succeeded++; break;
		case GD_JOB_FAILED: ret->failed++; break;
		case GD_JOB_CANCELLED: ret->cancelled++; break;
		case GD_JOB_TIMED_OUT: ret->timed_out++; break;
		case GD_JOB_RUNNING: break;
		}
	}
	gort_mutex_unlock(&t->lock);
}

int gd_jobs_each_running(gd_jobs *t, const gd_caller *who, gd_jobs_each_fn fn, void *arg)
{
	gort_mutex_lock(&t->lock);
	size_t n = 0, k = 0;
	for (const rec *r = t->running.head; r; r = r->next)
		n += visible(who, r) && r->job;
	rec **v = n ? malloc(n * sizeof *v) : NULL;
	if (n && !v) {
		gort_mutex_unlock(&t->lock);
		return -ENOMEM;
	}
	for (rec *r = t->running.head; r && k < n; r = r->next) {
		if (visible(who, r) && r->job) {
			r->refs++;
			v[k++] = r;
		}
	}
	gort_mutex_unlock(&t->lock);
	int e = 0;
	for (size_t i = 0; i < k; i++) {
		if (e == 0)
			e = fn(arg, v[i]->id, v[i]->uid, v[i]->started_at, v[i]->job);
		rec_unref(v[i]);
	}
	free(v);
	return e;
}

/* ---- run ----------------------------------------------------------------------- */

/* The `client` sink of a run job: nothing goes out before the "job"
 * notification (admit may start the job before run has written it). */
static int run_sink(void *arg, const char *data, size_t len)
{
	rec *r = arg;
	if (!__atomic_load_n(&r->announced_flag, __ATOMIC_ACQUIRE))
		(void)gort_chan_recv(r->announced, NULL);
	return r->io->client(r->io->arg, data, len);
}

static int rec_bind_run(rec *r, const gd_caller *who, const gd_run_io *io,
                        gd_proto_error *err)
{
	r->run_conn = who->conn;
	r->io = io;
	r->opts.client = run_sink;
	r->opts.client_arg = r;
	if (!(r->announced = gort_chan_make(0, 0)))
		return gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the job");
	if (r->spec->root.stages[0].kind != GD_PIPE_STDIN)
		return 0;
	feeder *f = calloc(1, sizeof *f);
	if (f)
		r->feed = f; /* freed with the record */
	if (!f || !(f->wake = gort_chan_make(0, 1)) || !(f->gone = gort_chan_make(0, 0)))
		return gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the job's input");
	return 0;
}

/* Writes the "job" notification, then lets the sink go. */
static void run_announce(gd_jobs *t, rec *r)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int e = gd_proto_pack_notification(&pk, gd_proto_method_name(GD_METHOD_JOB), 1) |
	        msgpack_pack_map(&pk, 2) | gd_pk_kv_u64(&pk, "msgid", r->io->msgid) |
	        gd_pk_kv_u64(&pk, "id", r->id);
	if (e == 0)
		(void)r->io->write(r->io->arg, &sb); /* a dead connection cancels the job */
	else
		(void)rec_cancel(t, r); /* out of memory: the client could not know its job */
	msgpack_sbuffer_destroy(&sb);
	__atomic_store_n(&r->announced_flag, true, __ATOMIC_RELEASE);
	gort_chan_close(r->announced);
}

/* ---- feeding --------------------------------------------------------------------- */

/* Answers q with {"open": open, "queued": queued}; q is released. */
static void feed_answer(gd_feed_req *q, bool open, uint64_t queued)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	gd_proto_error err = {0};
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int e = gd_proto_pack_response_ok(&pk, q->msg.msgid) | msgpack_pack_map(&pk, 2) |
	        gd_pk_str(&pk, "open") | (open ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) |
	        gd_pk_kv_u64(&pk, "queued", queued);
	if (e)
		e = gd_proto_fail(&err, GD_E_NO_MEMORY, "out of memory for the answer");
	q->answer(q, e, &sb, &err);
	msgpack_sbuffer_destroy(&sb);
}

static void feed_fail(gd_feed_req *q, const gd_proto_error *err)
{
	q->answer(q, gd_proto_code_errno(err->code), NULL, err);
}

/* On the feeder: one feed's items into the stdin source, in order. */
static void feed_items(rec *r, gd_feed_req *q)
{
	const msgpack_object *items = &q->msg.params->via.array.ptr[1];
	uint64_t queued = 0;
	bool open = true;
	for (uint32_t i = 0; i < items->via.array.size && open; i++) {
		const msgpack_object *o = &items->via.array.ptr[i];
		const char *d = o->via.bin.size ? o->via.bin.ptr : "";
		int e = r->job ? gd_job_feed(r->job, d, o->via.bin.size) : -EPIPE;
		if (e == -ENOMEM) {
			gd_proto_error err;
			gd_proto_fail(&err, GD_E_NO_MEMORY, "out of memory after %llu of the items",
			              (unsigned long long)queued);
			return feed_fail(q, &err);
		}
		open = e == 0;
		queued += open;
	}
	feed_answer(q, open, queued);
}

/* On the feeder: applies q (r->job is NULL if the job never started). */
static void feed_apply(gd_jobs *t, rec *r, gd_feed_req *q)
{
	gd_proto_error err;
	if (r->feed->ended) {
		gd_proto_fail(&err, GD_E_INVALID_PARAMS, "the input of job %llu has ended (feed_end)",
		              (unsigned long long)r->id);
		return feed_fail(q, &err);
	}
	if (q->msg.method == GD_METHOD_FEED)
		return feed_items(r, q);
	if (r->job)
		gd_job_feed_end(r->job);
	gort_mutex_lock(&t->lock);
	r->feed->ended = true;
	gort_mutex_unlock(&t->lock);
	feed_answer(q, false, 0);
}

/* The feeder goroutine: applies the requests handed over, in order, once
 * the job is no longer queued; returns when gd_jobs_run closes it. */
static void feeder_main(void *arg)
{
	rec *r = arg;
	gd_jobs *t = r->t;
	feeder *f = r->feed;
	for (;;) {
		gort_mutex_lock(&t->lock);
		gd_feed_req *q = NULL;
		if (r->state != REC_QUEUED) {
			q = f->head;
			f->head = f->tail = NULL;
		}
		bool closed = f->closed, any = q != NULL;
		gort_mutex_unlock(&t->lock);
		while (q) {
			gd_feed_req *next = q->next;
			feed_apply(t, r, q);
			q = next;
		}
		if (closed)
			break;
		if (!any)
			(void)gort_chan_recv(f->wake, NULL);
	}
	gort_chan_close(f->gone);
}

/* The job is final: requests from now on are answered at once; waits
 * until the feeder has answered the rest and returned. */
static void feeder_close(gd_jobs *t, rec *r)
{
	if (!r->feed)
		return;
	gort_mutex_lock(&t->lock);
	r->feed->closed = true;
	gort_mutex_unlock(&t->lock);
	(void)gort_chan_try_send(r->feed->wake, NULL);
	(void)gort_chan_recv(r->feed->gone, NULL);
}

/* Starts r's feeder, if it has one.  Without a goroutine the job cannot
 * get its input: it is cancelled, and whatever was handed over already (a
 * client guessing its id) is answered here. */
static void feeder_start(gd_jobs *t, rec *r)
{
	if (!r->feed)
		return;
	gort_go_opts o = {.name = "godaemon-feeder"};
	if (gort_go_with(feeder_main, r, &o) >= 0)
		return;
	log_warning("job %llu: no goroutine for its input: cancelled", (unsigned long long)r->id);
	(void)rec_cancel(t, r);
	gort_mutex_lock(&t->lock);
	r->feed->closed = true;
	gort_mutex_unlock(&t->lock);
	feeder_main(r); /* closed: answers what is pending, closes gone */
}

static int items_are_bin(const msgpack_object *items, gd_proto_error *err)
{
	for (uint32_t i = 0; i < items->via.array.size; i++)
		if (items->via.array.ptr[i].type != MSGPACK_OBJECT_BIN)
			return gd_proto_fail(err, GD_E_INVALID_PARAMS,
			                     "feed: item %u is not a bin (an item is a byte string)",
			                     i + 1);
	return 0;
}

/* Under the lock: may who feed r (job id)? */
static int feed_check(const rec *r, const gd_caller *who, uint64_t id, gd_proto_error *err)
{
	if (!r || !visible(who, r) || (r->run_conn && r->run_conn != who->conn))
		return gd_proto_fail(err, GD_E_NOT_FOUND, "no job %llu", (unsigned long long)id);
	if (!r->run_conn)
		return gd_proto_fail(err, GD_E_INVALID_PARAMS,
		                     "job %llu was submitted, not run: its stdin is empty "
		                     "(only run streams input)", (unsigned long long)id);
	if (!r->feed)
		return gd_proto_fail(err, GD_E_INVALID_PARAMS, "job %llu has no stdin source",
		                     (unsigned long long)id);
	return 0;
}

void gd_jobs_feed(gd_jobs *t, const gd_caller *who, gd_feed_req *q)
{
	gd_proto_error err;
	const msgpack_object *p = q->msg.params->via.array.ptr;
	uint64_t id = p[0].via.u64;
	if (q->msg.method == GD_METHOD_FEED && items_are_bin(&p[1], &err) < 0)
		return feed_fail(q, &err);
	q->next = NULL;
	gort_mutex_lock(&t->lock);
	rec *r = *hash_slot(t, id);
	int e = feed_check(r, who, id, &err);
	bool now = e == 0 && r->feed->closed, ended = now && r->feed->ended;
	if (e == 0 && !now) {
		if (r->feed->tail)
			r->feed->tail->next = q;
		else
			r->feed->head = q;
		r->feed->tail = q;
		(void)gort_chan_try_send(r->feed->wake, NULL);
	}
	gort_mutex_unlock(&t->lock);
	if (ended)
		e = gd_proto_fail(&err, GD_E_INVALID_PARAMS, "the input of job %llu has ended (feed_end)",
		                  (unsigned long long)id);
	if (e < 0)
		feed_fail(q, &err);
	else if (now)
		feed_answer(q, false, 0); /* the job is over */
}

int gd_jobs_run(gd_jobs *t, const gd_caller *who, const msgpack_object *params,
                const gd_run_io *io, msgpack_packer *pk, gd_proto_error *err)
{
	rec *r;
	int e = rec_submit(t, who, params, io, &r, err);
	if (e < 0)
		return e;
	log_debug("job %llu run by uid %u", (unsigned long long)r->id, (unsigned)who->uid);
	feeder_start(t, r);
	run_announce(t, r);
	gort_select_case cases[2] = {
		{r->done, GORT_SELECT_RECV, NULL, false},
		{gort_ctx_done(who->ctx), GORT_SELECT_RECV, NULL, false},
	};
	if (gort_select(cases, 2, true) == 1)
		(void)rec_cancel(t, r); /* the client went away (or the daemon stops) */
	/* io must not be used once we return: wait for the end. */
	(void)gort_chan_recv(r->done, NULL);
	feeder_close(t, r);
	e = pack_status(t, pk, r);
	rec_unref(r);
	if (e < 0)
		gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the status");
	return e;
}
