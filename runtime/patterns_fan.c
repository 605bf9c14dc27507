/* patterns_fan.c — map, fan-out, fan-in and the order-preserving fan-out
 * of gort_patterns.h.
 *
 * A map worker is a stage that reads an input channel, applies the
 * gort_map_spec function and sends results (gort_result + value) on its own
 * output.  gort_map is one worker; gort_fan_out is N workers sharing one
 * input; gort_fan_out_ordered is a dispatcher dealing values round-robin to
 * N workers over channels of capacity 1 and a collector taking their results
 * round-robin in the same order, so results leave in input order (a dropped
 * value travels as a marker result, err = GORT_DROP, that the collector
 * swallows).  gort_fan_in is one goroutine selecting over all its inputs.
 *
 * Setup of a multi-goroutine pattern runs its goroutines under a child
 * context of the caller's: if a spawn fails half-way, cancelling the child
 * stops the goroutines already started, so a failed call leaves nothing
 * behind.  Ownership and confinement as in patterns.c: each goroutine owns
 * its struct and a reference to every channel it touches; no locks.
 */
#include "patterns_int.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------
 * Map workers
 * ---------------------------------------------------------------------- */

struct worker {
	gort__stage st;      /* st.out: results, GORT_RESULT_SIZE(out_size) */
	gort_chan *in;       /* reference */
	gort_map_spec spec;
	size_t res_size;
	bool keep_drops;     /* ordered: forward dropped values as markers */
	unsigned char buf[] __attribute__((aligned(GORT_RESULT_ALIGN)));
	/* buf: the result (res_size bytes), then the input element */
};

/* Element size of the input channel of a map. */
static size_t spec_in_elem(const gort_map_spec *spec)
{
	return spec->flags & GORT_MAP_RESULTS_IN ? GORT_RESULT_SIZE(spec->in_size) : spec->in_size;
}

/* Applies the map to the input element in, filling res: fn's return, or
 * for an error result coming in (GORT_MAP_RESULTS_IN), its error. */
static int worker_apply(struct worker *w, const unsigned char *in, gort_result *res)
{
	memset(res, 0, w->res_size);
	if (!(w->spec.flags & GORT_MAP_RESULTS_IN))
		return w->spec.fn(in, res->value, w->spec.arg);
	const gort_result *r = (const gort_result *)in;
	if (r->err)
		return r->err < 0 ? r->err : -EINVAL;
	return w->spec.fn(r->value, res->value, w->spec.arg);
}

static void worker_finish(void *p)
{
	struct worker *w = p;
	gort_chan_unref(w->in);
	gort__stage_close(&w->st);
	free(w);
}

static void worker_main(void *p)
{
	struct worker *w = p;
	gort_result *res = (gort_result *)w->buf;
	unsigned char *in = w->buf + w->res_size;
	while (gort__stage_recv(&w->st, w->in, in) == 0) {
		int rc = worker_apply(w, in, res);
		if (rc > 0 && !w->keep_drops)
			continue;
		res->err = rc > 0 ? GORT_DROP : rc;
		if (gort__stage_send(&w->st, w->st.out, res))
			break;
	}
	worker_finish(w);
}

/* A worker reading in (a new reference is taken) under ctx, its output of
 * capacity out_cap.  NULL with errno set on failure. */
static struct worker *worker_new(gort_ctx *ctx, gort_chan *in, const gort_map_spec *spec,
                                 size_t out_cap, bool keep_drops)
{
	struct worker *w;
	size_t res_size = GORT_RESULT_SIZE(spec->out_size);
	if (spec->in_size > SIZE_MAX / 4 || spec->out_size > SIZE_MAX / 4 ||
	    !(w = malloc(sizeof *w + res_size + spec_in_elem(spec)))) {
		errno = ENOMEM;
		return NULL;
	}
	int err = gort__stage_open(&w->st, ctx, res_size, out_cap);
	if (err) {
		free(w);
		errno = -err;
		return NULL;
	}
	w->in = gort_chan_ref(in);
	w->spec = *spec;
	w->res_size = res_size;
	w->keep_drops = keep_drops;
	return w;
}

static int spec_check(gort_ctx *ctx, gort_chan *in, const gort_map_spec *spec, size_t workers)
{
	if (gort__stage_check(ctx, in) || !spec || !spec->fn || workers < 1 || workers > 65535 ||
	    (spec->flags & ~GORT_MAP_RESULTS_IN))
		return -EINVAL;
	return 0;
}

/* Spawns the n goroutines fns[i](args[i]).  If one fails, cancels ctx (so
 * the started ones return), runs finish[j](args[j]) for those not started
 * and returns the error. */
static int spawn_all(gort_ctx *ctx, size_t n, void (*const *fns)(void *),
                     void (*const *finish)(void *), void *const *args, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		int err = gort__stage_go(args[i], fns[i], name);
		if (err) {
			gort_ctx_cancel(ctx);
			for (size_t j = i; j < n; j++)
				finish[j](args[j]);
			return err;
		}
	}
	return 0;
}

/* ----------------------------------------------------------------------
 * Fan-out and map
 * ---------------------------------------------------------------------- */

/* Builds `workers` workers sharing in under sub and starts them; their
 * outputs go to ret_outs (references for the caller). */
static int fan_out_start(gort_ctx *sub, gort_chan *in, const gort_map_spec *spec,
                         size_t workers, gort_chan **ret_outs)
{
	void **args = calloc(workers, sizeof *args);
	void (**fns)(void *) = calloc(workers, sizeof *fns);
	void (**fins)(void *) = calloc(workers, sizeof *fins);
	size_t made = 0;
	int err = args && fns && fins ? 0 : -ENOMEM;
	for (; !err && made < workers; made++) {
		struct worker *w = worker_new(sub, in, spec, 0, false);
		if (!w) {
			err = -errno;
			break;
		}
		args[made] = w;
		fns[made] = worker_main;
		fins[made] = worker_finish;
		ret_outs[made] = gort_chan_ref(w->st.out);
	}
	if (err) {
		for (size_t i = 0; i < made; i++) {
			gort_chan_unref(ret_outs[i]);
			worker_finish(args[i]);
		}
	} else if ((err = spawn_all(sub, workers, fns, fins, args, "gort:fan_out"))) {
		for (size_t i = 0; i < workers; i++)
			gort_chan_unref(ret_outs[i]);
	}
	free(args);
	free(fns);
	free(fins);
	return err;
}

int gort_fan_out(gort_ctx *ctx, gort_chan *in, const gort_map_spec *spec, size_t workers,
                 gort_chan **ret_outs)
{
	int err = spec_check(ctx, in, spec, workers);
	if (err || !ret_outs)
		return -EINVAL;
	gort_chan **outs = calloc(workers, sizeof *outs);
	gort_ctx *sub = outs ? gort_ctx_with_cancel(ctx) : NULL;
	if (!sub) {
		free(outs);
		return -ENOMEM;
	}
	err = fan_out_start(sub, in, spec, workers, outs);
	gort_ctx_unref(sub);
	if (!err)
		memcpy(ret_outs, outs, workers * sizeof *outs);
	free(outs);
	return err;
}

gort_chan *gort_map(gort_ctx *ctx, gort_chan *in, const gort_map_spec *spec)
{
	int err = spec_check(ctx, in, spec, 1);
	if (err) {
		errno = -err;
		return NULL;
	}
	struct worker *w = worker_new(ctx, in, spec, 0, false);
	if (!w)
		return NULL;
	return gort__stage_start(&w->st, worker_main, worker_finish, "gort:map");
}

/* ----------------------------------------------------------------------
 * Fan-in
 * ---------------------------------------------------------------------- */

struct fan_in {
	gort__stage st;
	size_t live;              /* open inputs: cases[1..live] */
	size_t next;              /* rotates the first input polled */
	unsigned char *elem;      /* where every receive case stores */
	gort_select_case cases[]; /* [0]: ctx done; then the inputs */
};

static void fan_in_finish(void *p)
{
	struct fan_in *f = p;
	for (size_t i = 1; i <= f->live; i++)
		gort_chan_unref(f->cases[i].chan);
	gort__stage_close(&f->st);
	free(f);
}

/* Input i (1-based) is closed and drained: forget it. */
static void fan_in_drop(struct fan_in *f, size_t i)
{
	gort_chan_unref(f->cases[i].chan);
	f->cases[i] = f->cases[f->live--];
}

/* The fast path: a non-blocking receive from each open input in turn,
 * starting one further each call (round-robin fairness).  True with a value
 * in f->elem; false when none was ready (closed inputs are dropped). */
static bool fan_in_poll(struct fan_in *f)
{
	for (size_t tried = 0; tried < f->live;) {
		size_t i = 1 + f->next++ % f->live;
		int r = gort_chan_try_recv(f->cases[i].chan, f->elem);
		if (r == 0)
			return true;
		if (r == -EPIPE)
			fan_in_drop(f, i);
		else
			tried++;
	}
	return false;
}

/* Blocks until an input delivers (0) or the context is done (its error);
 * closed inputs are dropped on the way.  -EPIPE once none is left. */
static int fan_in_wait(struct fan_in *f)
{
	while (f->live) {
		int i = gort_select(f->cases, f->live + 1, true);
		if (i == 0)
			return gort_ctx_err(f->st.ctx);
		if (f->cases[i].ok)
			return 0;
		fan_in_drop(f, (size_t)i);
	}
	return -EPIPE;
}

static void fan_in_main(void *p)
{
	struct fan_in *f = p;
	while (f->live && !gort__stage_err(&f->st)) {
		if (!fan_in_poll(f) && fan_in_wait(f))
			break;
		if (gort__stage_send(&f->st, f->st.out, f->elem))
			break;
	}
	fan_in_finish(f);
}

gort_chan *gort_fan_in(gort_ctx *ctx, gort_chan *const *ins, size_t n, size_t elem_size)
{
	struct fan_in *f;
	size_t cases_size = (n + 1) * sizeof f->cases[0];
	if (!ctx || !ins || n < 1 || n > 65535) {
		errno = EINVAL;
		return NULL;
	}
	if (elem_size > SIZE_MAX / 2 || !(f = malloc(sizeof *f + cases_size + elem_size))) {
		errno = ENOMEM;
		return NULL;
	}
	int err = gort__stage_open(&f->st, ctx, elem_size, 0);
	if (err) {
		free(f);
		errno = -err;
		return NULL;
	}
	f->elem = (unsigned char *)f->cases + cases_size;
	f->cases[0] = (gort_select_case){.chan = f->st.done, .dir = GORT_SELECT_RECV};
	f->live = f->next = 0;
	for (size_t i = 0; i < n; i++)
		if (ins[i])
			f->cases[++f->live] = (gort_select_case){
				.chan = gort_chan_ref(ins[i]), .dir = GORT_SELECT_RECV, .elem = f->elem};
	return gort__stage_start(&f->st, fan_in_main, fan_in_finish, "gort:fan_in");
}

/* ----------------------------------------------------------------------
 * Ordered fan-out: dispatcher -> N workers -> collector
 * ---------------------------------------------------------------------- */

/* The dispatcher deals values of in round-robin to the workers' inputs. */
struct dispatch {
	gort__stage st;           /* st.out unused (NULL) */
	gort_chan *in;            /* reference */
	size_t n;
	gort_chan **outs;         /* references to the n worker inputs */
	unsigned char elem[];
};

static void dispatch_finish(void *p)
{
	struct dispatch *d = p;
	for (size_t i = 0; i < d->n; i++) {
		gort_chan_close(d->outs[i]);
		gort_chan_unref(d->outs[i]);
	}
	gort_chan_unref(d->in);
	gort_ctx_unref(d->st.ctx);
	free(d->outs);
	free(d);
}

static void dispatch_main(void *p)
{
	struct dispatch *d = p;
	for (size_t i = 0; gort__stage_recv(&d->st, d->in, d->elem) == 0; i = (i + 1) % d->n)
		if (gort__stage_send(&d->st, d->outs[i], d->elem))
			break;
	dispatch_finish(d);
}

/* The collector takes the workers' results round-robin, in dealing order. */
struct collect {
	gort__stage st;           /* st.out: the ordered results */
	size_t n;
	gort_chan **ins;          /* references to the n worker outputs */
	unsigned char res[] __attribute__((aligned(GORT_RESULT_ALIGN)));
};

static void collect_finish(void *p)
{
	struct collect *c = p;
	for (size_t i = 0; i < c->n; i++)
		gort_chan_unref(c->ins[i]);
	gort__stage_close(&c->st);
	free(c->ins);
	free(c);
}

/* Worker i's output closing where value k was expected means the
 * dispatcher ran out before k: every value has been collected. */
static void collect_main(void *p)
{
	struct collect *c = p;
	gort_result *res = (gort_result *)c->res;
	for (size_t i = 0; gort__stage_recv(&c->st, c->ins[i], res) == 0; i = (i + 1) % c->n) {
		if (res->err == GORT_DROP)
			continue;
		if (gort__stage_send(&c->st, c->st.out, res))
			break;
	}
	collect_finish(c);
}

/* The goroutines of one ordered fan-out, before they start. */
struct ordered {
	size_t n;
	struct dispatch *d;
	struct collect *c;
	void **args;              /* n workers, the collector, the dispatcher */
	void (**fns)(void *);
	void (**fins)(void *);
};

static int ordered_alloc(struct ordered *o, gort_ctx *sub, gort_chan *in, size_t in_size,
                         size_t res_size)
{
	size_t n = o->n;
	o->args = calloc(n + 2, sizeof *o->args);
	o->fns = calloc(n + 2, sizeof *o->fns);
	o->fins = calloc(n + 2, sizeof *o->fins);
	if (!o->args || !o->fns || !o->fins)
		return -ENOMEM;
	if (!(o->d = calloc(1, sizeof *o->d + in_size)) || !(o->d->outs = calloc(n, sizeof(gort_chan *))))
		return -ENOMEM;
	if (!(o->c = calloc(1, sizeof *o->c + res_size)) || !(o->c->ins = calloc(n, sizeof(gort_chan *))))
		return -ENOMEM;
	o->d->n = o->c->n = n;
	o->d->st = (gort__stage){.ctx = gort_ctx_ref(sub), .done = gort_ctx_done(sub), .out = NULL};
	o->d->in = gort_chan_ref(in);
	return gort__stage_open(&o->c->st, sub, res_size, 0);
}

/* Frees what ordered_alloc and ordered_add_worker made (nothing started;
 * fields not yet set are NULL). */
static void ordered_free(struct ordered *o)
{
	for (size_t i = 0; o->args && i < o->n; i++)
		if (o->args[i])
			worker_finish(o->args[i]);
	if (o->d) {
		for (size_t i = 0; o->d->outs && i < o->n; i++)
			gort_chan_unref(o->d->outs[i]);
		gort_chan_unref(o->d->in);
		gort_ctx_unref(o->d->st.ctx);
		free(o->d->outs);
		free(o->d);
	}
	if (o->c) {
		for (size_t i = 0; o->c->ins && i < o->n; i++)
			gort_chan_unref(o->c->ins[i]);
		gort_chan_unref(o->c->st.out);
		gort_ctx_unref(o->c->st.ctx);
		free(o->c->ins);
		free(o->c);
	}
}

/* Makes worker i: its input channel (capacity 1, fed by the dispatcher)
 * and its output (capacity 1, read by the collector). */
static int ordered_add_worker(struct ordered *o, size_t i, gort_ctx *sub,
                              const gort_map_spec *spec)
{
	gort_chan *win = gort_chan_make(spec_in_elem(spec), 1);
	struct worker *w = win ? worker_new(sub, win, spec, 1, true) : NULL;
	if (!w) {
		int err = -errno;
		gort_chan_unref(win);
		return err;
	}
	o->d->outs[i] = win; /* the dispatcher's reference */
	o->c->ins[i] = gort_chan_ref(w->st.out);
	o->args[i] = w;
	o->fns[i] = worker_main;
	o->fins[i] = worker_finish;
	return 0;
}

static gort_chan *ordered_start(struct ordered *o, gort_ctx *sub, gort_chan *in,
                                const gort_map_spec *spec)
{
	int err = ordered_alloc(o, sub, in, spec_in_elem(spec), GORT_RESULT_SIZE(spec->out_size));
	for (size_t i = 0; !err && i < o->n; i++)
		err = ordered_add_worker(o, i, sub, spec);
	if (err) {
		ordered_free(o);
		errno = -err;
		return NULL;
	}
	gort_chan *ret = gort_chan_ref(o->c->st.out);
	o->args[o->n] = o->c;
	o->fns[o->n] = collect_main;
	o->fins[o->n] = collect_finish;
	o->args[o->n + 1] = o->d;
	o->fns[o->n + 1] = dispatch_main;
	o->fins[o->n + 1] = dispatch_finish;
	err = spawn_all(sub, o->n + 2, o->fns, o->fins, o->args, "gort:fan_ordered");
	if (err) {
		gort_chan_unref(ret);
		errno = -err;
		return NULL;
	}
	return ret;
}

gort_chan *gort_fan_out_ordered(gort_ctx *ctx, gort_chan *in, const gort_map_spec *spec,
                                size_t workers)
{
	int err = spec_check(ctx, in, spec, workers);
	if (err) {
		errno = -err;
		return NULL;
	}
	gort_ctx *sub = gort_ctx_with_cancel(ctx);
	if (!sub) {
		errno = ENOMEM;
		return NULL;
	}
	struct ordered o = {.n = workers};
	gort_chan *ret = ordered_start(&o, sub, in, spec);
	gort_ctx_unref(sub);
	free(o.args);
	free(o.fns);
	free(o.fins);
	return ret;
}
