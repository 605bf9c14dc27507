/* patterns.c — the single-goroutine patterns of gort_patterns.h: the stage
 * plumbing (for-select send/receive, start and finish), generators, take,
 * or-done, queuing, the or-channel, tee, bridge and heartbeats.  The
 * multi-goroutine ones (map, fan-out, fan-in, ordered fan-out) are in
 * patterns_fan.c.
 *
 * Invariants: every stage is one goroutine owning one heap struct (its
 * gort__stage first, then what it needs); the struct holds a reference to
 * each channel the stage uses and to its context, and the stage releases
 * all of them, after closing its outputs, in its finish function — run when
 * the goroutine returns, or by the constructor if the spawn failed.  Every
 * stage goroutine enters through stage_entry, whose last action, once the
 * stage is freed, is the done of its stage group if its context has one
 * (gort_ctx_with_stage_group): that is how a caller joins the stages.
 * State is confined to the stage goroutine: no locks.
 */
#include "patterns_int.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------
 * Stage plumbing
 * ---------------------------------------------------------------------- */

int gort__stage_open(gort__stage *s, gort_ctx *ctx, size_t out_elem_size, size_t out_cap)
{
	s->out = gort_chan_make(out_elem_size, out_cap);
	if (!s->out)
		return -errno;
	s->ctx = gort_ctx_ref(ctx);
	s->done = gort_ctx_done(ctx);
	return 0;
}

void gort__stage_close(gort__stage *s)
{
	gort_chan_close(s->out);
	gort_chan_unref(s->out);
	gort_ctx_unref(s->ctx);
}

/* The key of the stage group value; only its address matters. */
static const char stage_group_key;

/* Every stage goroutine runs this: the stage's body, then, as the very last
 * thing (the stage's memory and references are gone), its group's done. */
static void stage_entry(void *p)
{
	gort__stage *s = p;
	gort_waitgroup *group = s->group;
	s->main(s);
	if (group)
		gort_waitgroup_done(group);
}

int gort__stage_go(gort__stage *s, void (*main)(void *), const char *name)
{
	gort_go_opts opts = {.name = name, .stack_size = 0};
	s->main = main;
	s->group = gort_ctx_value(s->ctx, &stage_group_key);
	if (s->group)
		gort_waitgroup_add(s->group, 1);
	int64_t id = gort_go_with(stage_entry, s, &opts);
	if (id < 0) {
		if (s->group)
			gort_waitgroup_done(s->group);
		return (int)id;
	}
	return 0;
}

gort_ctx *gort_ctx_with_stage_group(gort_ctx *parent, gort_waitgroup *wg)
{
	if (!parent || !wg) {
		errno = EINVAL;
		return NULL;
	}
	return gort_ctx_with_value(parent, &stage_group_key, wg);
}

gort_chan *gort__stage_start(gort__stage *s, void (*main)(void *), void (*finish)(void *),
                             const char *name)
{
	gort_chan *ret = gort_chan_ref(s->out);
	int err = gort__stage_go(s, main, name);
	if (err) {
		gort_chan_unref(ret);
		finish(s);
		errno = -err;
		return NULL;
	}
	return ret;
}

int gort__stage_send_slow(const gort__stage *s, gort_chan *c, const void *elem)
{
	gort_select_case cases[2] = {
		{.chan = c, .dir = GORT_SELECT_SEND, .elem = (void *)elem},
		{.chan = s->done, .dir = GORT_SELECT_RECV, .elem = NULL},
	};
	return gort_select(cases, 2, true) == 0 ? 0 : gort_ctx_err(s->ctx);
}

int gort__stage_recv_slow(const gort__stage *s, gort_chan *c, void *elem)
{
	gort_select_case cases[2] = {
		{.chan = c, .dir = GORT_SELECT_RECV, .elem = elem},
		{.chan = s->done, .dir = GORT_SELECT_RECV, .elem = NULL},
	};
	if (gort_select(cases, 2, true) == 1)
		return gort_ctx_err(s->ctx);
	return cases[0].ok ? 0 : -EPIPE;
}

int gort_stage_send(gort_ctx *ctx, gort_chan *c, const void *elem)
{
	if (!ctx)
		return -EINVAL;
	gort__stage s = {.ctx = ctx, .done = gort_ctx_done(ctx), .out = NULL};
	return gort__stage_send(&s, c, elem);
}

int gort_stage_recv(gort_ctx *ctx, gort_chan *c, void *elem)
{
	if (!ctx)
		return -EINVAL;
	gort__stage s = {.ctx = ctx, .done = gort_ctx_done(ctx), .out = NULL};
	return gort__stage_recv(&s, c, elem);
}

/* Overflow-checked a * b + c for allocation sizes. */
static int size_mul_add(size_t a, size_t b, size_t c, size_t *ret)
{
	size_t m;
	if (__builtin_mul_overflow(a, b, &m) || __builtin_add_overflow(m, c, ret))
		return -ENOMEM;
	return 0;
}

/* ----------------------------------------------------------------------
 * Generators
 * ---------------------------------------------------------------------- */

struct gen {
	gort__stage st;
	size_t elem_size;
	size_t n;          /* values[] holds n elements (1 for a fn generator) */
	bool repeat;       /* start over after the last value */
	gort_gen_fn fn;    /* NULL: send values[] */
	void *arg;
	unsigned char values[];
};

static void gen_finish(void *p)
{
	struct gen *g = p;
	gort__stage_close(&g->st);
	free(g);
}

static void gen_values_main(void *p)
{
	struct gen *g = p;
	do {
		for (size_t i = 0; i < g->n; i++)
			if (gort__stage_send(&g->st, g->st.out, g->values + i * g->elem_size))
				goto out;
	} while (g->repeat);
out:
	gen_finish(g);
}

static void gen_fn_main(void *p)
{
	struct gen *g = p;
	for (;;) {
		memset(g->values, 0, g->elem_size);
		if (g->fn(g->values, g->arg) != 0)
			break;
		if (gort__stage_send(&g->st, g->st.out, g->values))
			break;
	}
	gen_finish(g);
}

/* Allocates a generator with room for n elements and opens its stage. */
static struct gen *gen_new(gort_ctx *ctx, size_t n, size_t elem_size)
{
	size_t size;
	struct gen *g;
	int err = size_mul_add(n, elem_size, sizeof *g, &size);
	if (err || !(g = calloc(1, size))) {
		errno = ENOMEM;
		return NULL;
	}
	err = gort__stage_open(&g->st, ctx, elem_size, 0);
	if (err) {
		free(g);
		errno = -err;
		return NULL;
	}
	g->elem_size = elem_size;
	g->n = n;
	return g;
}

static gort_chan *gen_array(gort_ctx *ctx, const void *values, size_t n, size_t elem_size,
                            bool repeat)
{
	if (!ctx || (n && !values && elem_size) || (repeat && !n)) {
		errno = EINVAL;
		return NULL;
	}
	struct gen *g = gen_new(ctx, n, elem_size);
	if (!g)
		return NULL;
	if (n && elem_size)
		memcpy(g->values, values, n * elem_size);
	g->repeat = repeat;
	return gort__stage_start(&g->st, gen_values_main, gen_finish,
	                         repeat ? "gort:gen_repeat" : "gort:gen_values");
}

gort_chan *gort_gen_values(gort_ctx *ctx, const void *values, size_t n, size_t elem_size)
{
	return gen_array(ctx, values, n, elem_size, false);
}

gort_chan *gort_gen_repeat(gort_ctx *ctx, const void *values, size_t n, size_t elem_size)
{
	return gen_array(ctx, values, n, elem_size, true);
}

gort_chan *gort_gen_repeat_fn(gort_ctx *ctx, size_t elem_size, gort_gen_fn fn, void *arg)
{
	if (!ctx || !fn) {
		errno = EINVAL;
		return NULL;
	}
	struct gen *g = gen_new(ctx, 1, elem_size);
	if (!g)
		return NULL;
	g->fn = fn;
	g->arg = arg;
	return gort__stage_start(&g->st, gen_fn_main, gen_finish, "gort:gen_repeat_fn");
}

/* ----------------------------------------------------------------------
 * Forwarding stages: take, or-done, queue
 * ---------------------------------------------------------------------- */

struct fwd {
	gort__stage st;
	gort_chan *in;     /* reference */
	uint64_t left;     /* values still to forward (UINT64_MAX: all) */
	unsigned char elem[];
};

static void fwd_finish(void *p)
{
	struct fwd *f = p;
	gort_chan_unref(f->in);
	gort__stage_close(&f->st);
	free(f);
}

static void fwd_main(void *p)
{
	struct fwd *f = p;
	while (f->left && gort__stage_recv(&f->st, f->in, f->elem) == 0) {
		if (gort__stage_send(&f->st, f->st.out, f->elem))
			break;
		if (f->left != UINT64_MAX)
			f->left--;
	}
	fwd_finish(f);
}

static gort_chan *fwd_start(gort_ctx *ctx, gort_chan *in, size_t elem_size, size_t cap,
                            uint64_t limit, const char *name)
{
	struct fwd *f;
	int err = gort__stage_check(ctx, in);
	if (err) {
		errno = -err;
		return NULL;
	}
	if (elem_size > SIZE_MAX - sizeof *f || !(f = malloc(sizeof *f + elem_size))) {
		errno = ENOMEM;
		return NULL;
	}
	err = gort__stage_open(&f->st, ctx, elem_size, cap);
	if (err) {
		free(f);
		errno = -err;
		return NULL;
	}
	f->in = gort_chan_ref(in);
	f->left = limit;
	return gort__stage_start(&f->st, fwd_main, fwd_finish, name);
}

gort_chan *gort_take(gort_ctx *ctx, gort_chan *in, size_t elem_size, uint64_t n)
{
	return fwd_start(ctx, in, elem_size, 0, n, "gort:take");
}

gort_chan *gort_or_done(gort_ctx *ctx, gort_chan *in, size_t elem_size)
{
	return fwd_start(ctx, in, elem_size, 0, UINT64_MAX, "gort:or_done");
}

gort_chan *gort_queue_stage(gort_ctx *ctx, gort_chan *in, size_t elem_size, size_t cap)
{
	if (!cap) {
		errno = EINVAL;
		return NULL;
	}
	return fwd_start(ctx, in, elem_size, cap, UINT64_MAX, "gort:queue");
}

/* ----------------------------------------------------------------------
 * Or-channel
 * ---------------------------------------------------------------------- */

struct orc {
	gort__stage st;
	size_t n;                    /* channels in cases[1..n] */
	gort_select_case cases[];    /* [0]: ctx done; then one per channel */
};

static void or_finish(void *p)
{
	struct orc *o = p;
	for (size_t i = 1; i <= o->n; i++)
		gort_chan_unref(o->cases[i].chan);
	gort__stage_close(&o->st);
	free(o);
}

static void or_main(void *p)
{
	struct orc *o = p;
	gort_select(o->cases, o->n + 1, true);
	or_finish(o);
}

gort_chan *gort_or(gort_ctx *ctx, gort_chan *const *chans, size_t n)
{
	struct orc *o;
	if (!ctx || !chans || n < 1 || n > 65535) {
		errno = EINVAL;
		return NULL;
	}
	if (!(o = calloc(1, sizeof *o + (n + 1) * sizeof o->cases[0]))) {
		errno = ENOMEM;
		return NULL;
	}
	int err = gort__stage_open(&o->st, ctx, 0, 0);
	if (err) {
		free(o);
		errno = -err;
		return NULL;
	}
	o->n = n;
	o->cases[0] = (gort_select_case){.chan = o->st.done, .dir = GORT_SELECT_RECV};
	for (size_t i = 0; i < n; i++)
		o->cases[i + 1] = (gort_select_case){
			.chan = chans[i] ? gort_chan_ref(chans[i]) : NULL,
			.dir = GORT_SELECT_RECV,
		};
	return gort__stage_start(&o->st, or_main, or_finish, "gort:or");
}

/* ----------------------------------------------------------------------
 * Tee
 * ---------------------------------------------------------------------- */

struct tee {
	gort__stage st;      /* st.out is the first output */
	gort_chan *out2;     /* reference; closed with st.out */
	gort_chan *in;       /* reference */
	unsigned char elem[];
};

static void tee_finish(void *p)
{
	struct tee *t = p;
	gort_chan_close(t->out2);
	gort_chan_unref(t->out2);
	gort_chan_unref(t->in);
	gort__stage_close(&t->st);
	free(t);
}

/* Hands t->elem to both outputs, whichever is ready first.  0, or the
 * context's error. */
static int tee_send_both(struct tee *t)
{
	gort_select_case cases[3] = {
		{.chan = t->st.out, .dir = GORT_SELECT_SEND, .elem = t->elem},
		{.chan = t->out2, .dir = GORT_SELECT_SEND, .elem = t->elem},
		{.chan = t->st.done, .dir = GORT_SELECT_RECV, .elem = NULL},
	};
	for (int pending = 2; pending > 0; pending--) {
		int i = gort_select(cases, 3, true);
		if (i == 2)
			return gort_ctx_err(t->st.ctx);
		cases[i].chan = NULL;
	}
	return 0;
}

static void tee_main(void *p)
{
	struct tee *t = p;
	while (gort__stage_recv(&t->st, t->in, t->elem) == 0)
		if (tee_send_both(t))
			break;
	tee_finish(t);
}

int gort_tee(gort_ctx *ctx, gort_chan *in, size_t elem_size, gort_chan **ret_out1,
             gort_chan **ret_out2)
{
	struct tee *t;
	int err = gort__stage_check(ctx, in);
	if (err || !ret_out1 || !ret_out2)
		return -EINVAL;
	if (elem_size > SIZE_MAX - sizeof *t || !(t = malloc(sizeof *t + elem_size)))
		return -ENOMEM;
	if ((err = gort__stage_open(&t->st, ctx, elem_size, 0))) {
		free(t);
		return err;
	}
	if (!(t->out2 = gort_chan_make(elem_size, 0))) {
		err = -errno;
		gort_chan_unref(t->st.out);
		gort_ctx_unref(t->st.ctx);
		free(t);
		return err;
	}
	t->in = gort_chan_ref(in);
	gort_chan *out2 = gort_chan_ref(t->out2);
	gort_chan *out1 = gort__stage_start(&t->st, tee_main, tee_finish, "gort:tee");
	if (!out1) {
		gort_chan_unref(out2);
		return -errno;
	}
	*ret_out1 = out1;
	*ret_out2 = out2;
	return 0;
}

/* ----------------------------------------------------------------------
 * Bridge
 * ---------------------------------------------------------------------- */

struct bridge {
	gort__stage st;
	gort_chan *streams;  /* reference; elements are gort_chan * references */
	unsigned char elem[];
};

static void bridge_finish(void *p)
{
	struct bridge *b = p;
	gort_chan *sub;
	while (gort_chan_try_recv(b->streams, &sub) == 0)
		gort_chan_unref(sub);
	gort_chan_unref(b->streams);
	gort__stage_close(&b->st);
	free(b);
}

/* Forwards sub until it is closed (0) or the context is done (its error). */
static int bridge_drain(struct bridge *b, gort_chan *sub)
{
	int err;
	while ((err = gort__stage_recv(&b->st, sub, b->elem)) == 0)
		if ((err = gort__stage_send(&b->st, b->st.out, b->elem)))
			return err;
	return err == -EPIPE ? 0 : err;
}

static void bridge_main(void *p)
{
	struct bridge *b = p;
	gort_chan *sub;
	while (gort__stage_recv(&b->st, b->streams, &sub) == 0) {
		if (!sub)
			continue;
		int err = bridge_drain(b, sub);
		gort_chan_unref(sub);
		if (err)
			break;
	}
	bridge_finish(b);
}

gort_chan *gort_bridge(gort_ctx *ctx, gort_chan *streams, size_t elem_size)
{
	struct bridge *b;
	int err = gort__stage_check(ctx, streams);
	if (err) {
		errno = -err;
		return NULL;
	}
	if (elem_size > SIZE_MAX - sizeof *b || !(b = malloc(sizeof *b + elem_size))) {
		errno = ENOMEM;
		return NULL;
	}
	if ((err = gort__stage_open(&b->st, ctx, elem_size, 0))) {
		free(b);
		errno = -err;
		return NULL;
	}
	b->streams = gort_chan_ref(streams);
	return gort__stage_start(&b->st, bridge_main, bridge_finish, "gort:bridge");
}

/* ----------------------------------------------------------------------
 * Heartbeats
 * ---------------------------------------------------------------------- */

struct heartbeat {
	gort__stage st;        /* st.out carries the values */
	gort_chan *beats;      /* reference; capacity 1, element size 0 */
	gort_chan *in;         /* reference */
	gort_ticker *ticker;
	unsigned char elem[];
};

static void heartbeat_finish(void *p)
{
	struct heartbeat *h = p;
	gort_ticker_free(h->ticker);
	gort_chan_close(h->beats);
	gort_chan_unref(h->beats);
	gort_chan_unref(h->in);
	gort__stage_close(&h->st);
	free(h);
}

/* A pulse if the last one was taken; never blocks. */
static void heartbeat_pulse(struct heartbeat *h)
{
	static const char pulse;
	(void)gort_chan_try_send(h->beats, &pulse);
}

/* One select of the stage: the value operation `op` (a receive from in or
 * a send to out), a tick (pulse, then wait again) or done.  Returns 0 when
 * op happened (op->ok tells a receive's result), else the context's error. */
static int heartbeat_wait(struct heartbeat *h, gort_select_case *op)
{
	int64_t tick;
	gort_select_case cases[3] = {
		*op,
		{.chan = gort_ticker_chan(h->ticker), .dir = GORT_SELECT_RECV, .elem = &tick},
		{.chan = h->st.done, .dir = GORT_SELECT_RECV, .elem = NULL},
	};
	for (;;) {
		int i = gort_select(cases, 3, true);
		if (i == 0) {
			op->ok = cases[0].ok;
			return 0;
		}
		if (i == 2)
			return gort_ctx_err(h->st.ctx);
		heartbeat_pulse(h);
	}
}

static void heartbeat_main(void *p)
{
	struct heartbeat *h = p;
	gort_select_case recv = {.chan = h->in, .dir = GORT_SELECT_RECV, .elem = h->elem};
	gort_select_case send = {.chan = h->st.out, .dir = GORT_SELECT_SEND, .elem = h->elem};
	while (heartbeat_wait(h, &recv) == 0 && recv.ok) {
		if (heartbeat_wait(h, &send))
			break;
		heartbeat_pulse(h);
	}
	heartbeat_finish(h);
}

static struct heartbeat *heartbeat_new(gort_ctx *ctx, gort_chan *in, size_t elem_size,
                                       int64_t interval, int *ret_err)
{
	struct heartbeat *h;
	if (elem_size > SIZE_MAX - sizeof *h || !(h = calloc(1, sizeof *h + elem_size))) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	if ((*ret_err = gort__stage_open(&h->st, ctx, elem_size, 0))) {
		free(h);
		return NULL;
	}
	errno = ENOMEM;
	h->beats = gort_chan_make(0, 1);
	h->ticker = h->beats ? gort_ticker_make(interval) : NULL;
	if (!h->ticker) {
		*ret_err = -errno;
		gort_chan_unref(h->beats);
		gort_chan_unref(h->st.out);
		gort_ctx_unref(h->st.ctx);
		free(h);
		return NULL;
	}
	h->in = gort_chan_ref(in);
	return h;
}

int gort_heartbeat_stage(gort_ctx *ctx, gort_chan *in, size_t elem_size, int64_t interval,
                         gort_chan **ret_out, gort_chan **ret_beats)
{
	int err = gort__stage_check(ctx, in);
	if (err || interval <= 0 || !ret_out || !ret_beats)
		return -EINVAL;
	struct heartbeat *h = heartbeat_new(ctx, in, elem_size, interval, &err);
	if (!h)
		return err;
	gort_chan *beats = gort_chan_ref(h->beats);
	gort_chan *out = gort__stage_start(&h->st, heartbeat_main, heartbeat_finish,
	                                   "gort:heartbeat");
	if (!out) {
		gort_chan_unref(beats);
		return -errno;
	}
	*ret_out = out;
	*ret_beats = beats;
	return 0;
}
