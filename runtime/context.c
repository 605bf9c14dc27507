/* context.c — the context tree of gort.h (gort_ctx_*): cancellation that
 * propagates from a context to all its descendants, deadlines, values.
 *
 * Shape.  Three kinds: the static background root; cancel contexts (from
 * with_cancel/with_deadline/with_timeout), which have an error, a done
 * channel and a list of registered children; and value contexts, which
 * only carry a key/value pair.  Every context but background holds a
 * reference to its parent.  A cancel context registers in the child list
 * of its nearest cancel-kind ancestor, its "canceller" (Go's
 * parentCancelCtx): value contexts in between have no list of their own,
 * and a context with only value contexts and background above it is never
 * registered anywhere.  The list is intrusive (sib_prev/sib_next in the
 * child), so registering and unregistering are O(1) and allocation-free;
 * there are no helper goroutines.
 *
 * Lifetime.  refs counts the user's references, one per child (through
 * parent), one held by a cancellation in progress (the worklist) and one
 * held by a running deadline callback.  A pending deadline timer holds no
 * reference, so dropping the last user reference of a context with a far
 * deadline frees it at once: the finaliser stops the timer, and
 * gort__timer_stop waits for a callback already running (which found the
 * count at 0 and did nothing).  The last unref cancels the context,
 * unregisters it, then drops its parent's reference — iteratively, so a
 * long chain of last references does not recurse.  A registered child
 * keeps its canceller alive (through its parent chain) until it has
 * unregistered, so every context in a list is valid while the list's lock
 * is held; a child whose count already reached 0 is being finalised and is
 * skipped by a cancellation (nobody can observe it any more).
 *
 * Cancellation (ctx_cancel_tree) never holds two context locks at once and
 * never recurses: under a node's lock it sets err, takes a reference on
 * every live registered child, pushes them on an intrusive worklist and
 * empties the list; after unlocking it stops the node's deadline timer,
 * unregisters it and closes its done channel; then it does the same for
 * each worklist entry and drops the reference it took.  err goes from 0 to
 * non-zero once, under the node's lock, and only the thread that did so
 * closes done: each node is cancelled and its channel closed exactly once,
 * whatever the number of concurrent cancellers (explicit cancels,
 * deadlines, parents, last unrefs).  A cancelled node is unregistered at
 * once: by its canceller when that one empties its list, or by the node
 * itself (ctx_unlink).
 *
 * Locking.  ctx->lock (a spinlock, so cancel works from any thread,
 * including timer callbacks and plain OS threads) guards err's transition,
 * children, nchildren, and the sib_prev/sib_next/linked fields of the
 * registered children.  Lock order: none needed, no path holds two context
 * locks.  The heap lock and channel locks are only taken with no context
 * lock held.  A node's timer is armed before the node is published.
 *
 * Rejected: Go's cancelCtx.cancel, which takes each child's lock under its
 * parent's and recurses once per level (deep chains would overflow a
 * goroutine stack); one lock per tree, which would serialise every
 * request's contexts under a long-lived shared root.
 */
#include "context.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

enum ctx_kind { CTX_BACKGROUND, CTX_CANCEL, CTX_VALUE };

struct gort_ctx {
	int64_t refs;          /* atomic; the context is freed when it hits 0 */
	enum ctx_kind kind;
	gort_ctx *parent;      /* a reference is held; NULL for background */
	gort_ctx *canceller;   /* nearest cancel-kind strict ancestor or NULL */
	int64_t deadline;      /* earliest deadline of ctx and ancestors, or INT64_MAX */
	/* value contexts */
	const void *key;
	void *value;
	/* cancel contexts */
	uint32_t lock;         /* see the locking rules above */
	int err;               /* atomic: 0, then -ECANCELED or -ETIMEDOUT once */
	gort_chan *done;       /* elem_size 0; closed by the thread that set err */
	gort_ctx *children;    /* registered children; guarded by lock */
	size_t nchildren;      /* their number; guarded by lock */
	gort_ctx *sib_prev, *sib_next; /* in canceller->children; canceller->lock */
	bool linked;           /* in canceller->children; canceller->lock */
	gort_ctx *work_next;   /* cancellation worklist; owned by its canceller */
	bool has_timer;        /* own deadline armed at creation (immutable) */
	gort__timer timer;     /* the deadline (holds no reference) */
};

static gort_ctx background = {
	.refs = 1,
	.kind = CTX_BACKGROUND,
	.deadline = INT64_MAX,
};

gort_ctx *gort_ctx_background(void)
{
	return &background;
}

/* ----------------------------------------------------------------------
 * References
 * ---------------------------------------------------------------------- */

gort_ctx *gort_ctx_ref(gort_ctx *ctx)
{
	if (ctx && ctx->kind != CTX_BACKGROUND)
		__atomic_add_fetch(&ctx->refs, 1, __ATOMIC_RELAXED);
	return ctx;
}

/* A reference on ctx unless it is already being finalised. */
static bool ctx_tryref(gort_ctx *ctx)
{
	int64_t n = __atomic_load_n(&ctx->refs, __ATOMIC_RELAXED);
	while (n > 0)
		if (__atomic_compare_exchange_n(&ctx->refs, &n, n + 1, true, __ATOMIC_RELAXED,
		                                __ATOMIC_RELAXED))
			return true;
	return false;
}

static void ctx_finalize(gort_ctx *ctx, bool in_own_timer);

/* Drops a reference; in_own_timer: ctx's deadline callback drops the one
 * it took (then the timer is not pending, and stopping it would wait for
 * the very callback that is running). */
static void ctx_release(gort_ctx *ctx, bool in_own_timer)
{
	/* Iterative: dropping a child's last reference may drop its parent's. */
	while (ctx && ctx->kind != CTX_BACKGROUND) {
		int64_t n = __atomic_sub_fetch(&ctx->refs, 1, __ATOMIC_ACQ_REL);
		if (n > 0)
			return;
		if (n < 0)
			gort__fatal("gort_ctx_unref: context %p has no reference left", (void *)ctx);
		gort_ctx *parent = ctx->parent;
		ctx_finalize(ctx, in_own_timer);
		in_own_timer = false;
		ctx = parent;
	}
}

void gort_ctx_unref(gort_ctx *ctx)
{
	ctx_release(ctx, false);
}

int64_t gort__ctx_refs(gort_ctx *ctx)
{
	return ctx->kind == CTX_BACKGROUND ? 0 : __atomic_load_n(&ctx->refs, __ATOMIC_RELAXED);
}

/* ----------------------------------------------------------------------
 * Cancellation
 * ---------------------------------------------------------------------- */

static int ctx_load_err(gort_ctx *ctx)
{
	return __atomic_load_n(&ctx->err, __ATOMIC_SEQ_CST);
}

/* Marks ctx cancelled with err unless it is cancelled already (then
 * false); the caller then closes ctx->done.  Moves each live registered
 * child, with a new reference, onto *work. */
static bool ctx_cancel_one(gort_ctx *ctx, int err, gort_ctx **work)
{
	gort__spin_lock(&ctx->lock);
	if (ctx->err) {
		gort__spin_unlock(&ctx->lock);
		return false;
	}
	__atomic_store_n(&ctx->err, err, __ATOMIC_SEQ_CST);
	for (gort_ctx *k = ctx->children; k; k = k->sib_next) {
		k->linked = false;
		if (ctx_tryref(k)) {
			k->work_next = *work;
			*work = k;
		}
	}
	ctx->children = NULL;
	ctx->nchildren = 0;
	gort__spin_unlock(&ctx->lock);
	return true;
}

/* Removes ctx from its canceller's list if it is still there. */
static void ctx_unlink(gort_ctx *ctx)
{
	gort_ctx *p = ctx->canceller;
	if (!p)
		return;
	gort__spin_lock(&p->lock);
	if (ctx->linked) {
		if (ctx->sib_prev)
			ctx->sib_prev->sib_next = ctx->sib_next;
		else
			p->children = ctx->sib_next;
		if (ctx->sib_next)
			ctx->sib_next->sib_prev = ctx->sib_prev;
		ctx->linked = false;
		p->nchildren--;
	}
	gort__spin_unlock(&p->lock);
}

/* Disarms ctx's deadline once ctx is cancelled, so that the heap does not
 * keep it (nor the runtime's hold) until it would have fired.  Never from
 * ctx's own callback: gort__timer_stop would wait for itself. */
static void ctx_stop_timer(gort_ctx *ctx)
{
	if (ctx->has_timer)
		gort__timer_stop(&ctx->timer);
}

/* Cancels ctx and its descendants with err; the caller holds a reference
 * on ctx.  from_own_timer: called by ctx's deadline callback. */
static void ctx_cancel_tree(gort_ctx *ctx, int err, bool from_own_timer)
{
	gort_ctx *work = NULL;
	if (!ctx_cancel_one(ctx, err, &work))
		return;
	if (!from_own_timer)
		ctx_stop_timer(ctx);
	ctx_unlink(ctx);
	/* Last: whoever sees done closed also sees ctx unregistered. */
	gort_chan_close(ctx->done);
	while (work) {
		gort_ctx *k = work;
		work = k->work_next;
		if (ctx_cancel_one(k, err, &work)) {
			ctx_stop_timer(k);
			gort_chan_close(k->done);
		}
		gort_ctx_unref(k);
	}
}

int gort_ctx_cancel(gort_ctx *ctx)
{
	if (!ctx || ctx->kind != CTX_CANCEL)
		return -EINVAL;
	ctx_cancel_tree(ctx, -ECANCELED, false);
	return 0;
}

static void ctx_timer_fire(gort__timer *t, int64_t now)
{
	gort_ctx *ctx = t->arg;
	(void)now;
	/* Count 0: ctx is being finalised and its finaliser waits in
	 * gort__timer_stop for this call to return; leave it alone. */
	if (!ctx_tryref(ctx))
		return;
	ctx_cancel_tree(ctx, -ETIMEDOUT, true);
	ctx_release(ctx, true); /* may free ctx: nothing touches t afterwards */
}

/* The last reference is gone: nobody can observe ctx any more, and it has
 * no registered children (each would hold a reference). */
static void ctx_finalize(gort_ctx *ctx, bool in_own_timer)
{
	if (ctx->kind == CTX_CANCEL) {
		if (!in_own_timer)
			ctx_stop_timer(ctx); /* first: a running callback uses done */
		gort_ctx *work = NULL;
		bool closing = ctx_cancel_one(ctx, -ECANCELED, &work);
		ctx_unlink(ctx);
		if (closing)
			gort_chan_close(ctx->done);
		gort_chan_unref(ctx->done);
	}
	free(ctx);
}

/* ----------------------------------------------------------------------
 * Creation
 * ---------------------------------------------------------------------- */

static gort_ctx *ctx_alloc(gort_ctx *parent, enum ctx_kind kind)
{
	gort_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	ctx->refs = 1;
	ctx->kind = kind;
	ctx->parent = gort_ctx_ref(parent);
	ctx->canceller = parent->kind == CTX_CANCEL ? parent : parent->canceller;
	ctx->deadline = parent->deadline;
	return ctx;
}

/* Registers a new cancel context with its canceller, or cancels it at once
 * if the canceller is cancelled already (then with the canceller's error). */
static void ctx_register(gort_ctx *ctx)
{
	gort_ctx *p = ctx->canceller;
	if (!p)
		return;
	gort__spin_lock(&p->lock);
	int perr = ctx_load_err(p);
	/* ctx->err set: its own deadline fired and found it unregistered. */
	if (!perr && !ctx_load_err(ctx)) {
		ctx->sib_prev = NULL;
		ctx->sib_next = p->children;
		if (p->children)
			p->children->sib_prev = ctx;
		p->children = ctx;
		p->nchildren++;
		ctx->linked = true;
	}
	gort__spin_unlock(&p->lock);
	if (perr)
		ctx_cancel_tree(ctx, perr, false);
}

static gort_ctx *ctx_new_cancel(gort_ctx *parent, int64_t deadline)
{
	if (!parent) {
		errno = EINVAL;
		return NULL;
	}
	gort_ctx *ctx = ctx_alloc(parent, CTX_CANCEL);
	if (!ctx)
		return NULL;
	ctx->done = gort_chan_make(0, 0);
	if (!ctx->done) {
		gort_ctx_unref(ctx->parent);
		free(ctx);
		errno = ENOMEM;
		return NULL;
	}
	/* A parent deadline at or before ours makes ours irrelevant. */
	bool own = deadline < ctx->deadline;
	bool expired = own && deadline <= gort_now();
	if (own) {
		ctx->deadline = deadline;
		ctx->timer = (gort__timer)GORT__TIMER_INIT;
		ctx->timer.fn = ctx_timer_fire;
		ctx->timer.arg = ctx;
	}
	if (own && !expired) {
		ctx->has_timer = true; /* before the timer can fire: not published yet */
		gort__timer_start(&ctx->timer, deadline);
	}
	ctx_register(ctx);
	if (expired)
		ctx_cancel_tree(ctx, -ETIMEDOUT, false);
	return ctx;
}

gort_ctx *gort_ctx_with_cancel(gort_ctx *parent)
{
	return ctx_new_cancel(parent, INT64_MAX);
}

gort_ctx *gort_ctx_with_deadline(gort_ctx *parent, int64_t deadline)
{
	return ctx_new_cancel(parent, deadline);
}

gort_ctx *gort_ctx_with_timeout(gort_ctx *parent, int64_t timeout)
{
	int64_t now = gort_now();
	int64_t deadline = timeout > 0 && now > INT64_MAX - timeout ? INT64_MAX : now + timeout;
	return ctx_new_cancel(parent, deadline);
}

gort_ctx *gort_ctx_with_value(gort_ctx *parent, const void *key, void *value)
{
	if (!parent || !key) {
		errno = EINVAL;
		return NULL;
	}
	gort_ctx *ctx = ctx_alloc(parent, CTX_VALUE);
	if (!ctx)
		return NULL;
	ctx->key = key;
	ctx->value = value;
	return ctx;
}

/* ----------------------------------------------------------------------
 * Queries
 * ---------------------------------------------------------------------- */

/* The context whose error and done channel ctx reports, or NULL. */
static gort_ctx *ctx_cancel_source(gort_ctx *ctx)
{
	return ctx->kind == CTX_CANCEL ? ctx : ctx->canceller;
}

gort_chan *gort_ctx_done(gort_ctx *ctx)
{
	gort_ctx *src = ctx_cancel_source(ctx);
	return src ? src->done : NULL;
}

int gort_ctx_err(gort_ctx *ctx)
{
	gort_ctx *src = ctx_cancel_source(ctx);
	return src ? ctx_load_err(src) : 0;
}

void *gort_ctx_value(gort_ctx *ctx, const void *key)
{
	for (; ctx; ctx = ctx->parent)
		if (ctx->kind == CTX_VALUE && ctx->key == key)
			return ctx->value;
	return NULL;
}

bool gort_ctx_deadline(gort_ctx *ctx, int64_t *ret)
{
	if (ctx->deadline == INT64_MAX)
		return false;
	*ret = ctx->deadline;
	return true;
}

size_t gort__ctx_nchildren(gort_ctx *ctx)
{
	if (ctx->kind != CTX_CANCEL)
		return 0;
	gort__spin_lock(&ctx->lock);
	size_t n = ctx->nchildren;
	gort__spin_unlock(&ctx->lock);
	return n;
}
