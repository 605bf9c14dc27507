/* context_timeout.c — one deadline stopping a whole tree of workers.
 *
 * A request gets a context with a 50 ms timeout.  It fans out to three
 * shards (each with its own cancellable child context), and each shard to
 * four workers.  Workers loop in a for-select on their context's done
 * channel and a 5 ms ticker (a unit of work per tick).  Nobody calls
 * cancel: the request's deadline fires and the cancellation reaches all
 * twelve workers; each stops at its next select and records the error it
 * saw.  Shard 2 also has its own, earlier, deadline (20 ms), so its
 * workers stop first — a child's deadline may be earlier than its
 * parent's, never later.
 *
 * Output:
 *   shard 2 stopped early: context deadline exceeded
 *   12 workers stopped: context deadline exceeded
 */
#include <gort.h>

#include <errno.h>
#include <stdio.h>

enum { SHARDS = 3, WORKERS = 4 };

static const char *ctx_errstr(int err)
{
	return err == -ETIMEDOUT ? "context deadline exceeded"
	       : err == -ECANCELED ? "context canceled"
	                           : "no error";
}

struct worker {
	gort_ctx *ctx;        /* the shard's context; the worker's own reference */
	gort_waitgroup *wg;
	int err;              /* out: what stopped it */
	long units;           /* out: units of work done */
};

static void worker(void *arg)
{
	struct worker *w = arg;
	gort_ticker *tick = gort_ticker_make(5 * GORT_MILLISECOND);
	while (tick) {
		gort_select_case cs[2] = {
			{gort_ctx_done(w->ctx), GORT_SELECT_RECV, NULL, false},
			{gort_ticker_chan(tick), GORT_SELECT_RECV, NULL, false},
		};
		if (gort_select(cs, 2, true) == 0)
			break;
		w->units++; /* a unit of work per tick */
	}
	gort_ticker_free(tick);
	w->err = gort_ctx_err(w->ctx);
	gort_ctx_unref(w->ctx);
	gort_waitgroup_done(w->wg);
}

static int root(void *arg)
{
	(void)arg;
	static struct worker ws[SHARDS][WORKERS];
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_ctx *req = gort_ctx_with_timeout(gort_ctx_background(), 50 * GORT_MILLISECOND);
	if (!req)
		return 1;
	gort_ctx *shard2 = NULL;
	for (int s = 0; s < SHARDS; s++) {
		gort_ctx *shard = s == 2 ? gort_ctx_with_timeout(req, 20 * GORT_MILLISECOND)
		                         : gort_ctx_with_cancel(req);
		if (!shard)
			return 1;
		for (int i = 0; i < WORKERS; i++) {
			ws[s][i] = (struct worker){.ctx = gort_ctx_ref(shard), .wg = &wg};
			gort_waitgroup_add(&wg, 1);
			if (gort_go(worker, &ws[s][i]) < 0)
				return 1;
		}
		if (s == 2)
			shard2 = shard; /* kept to watch it */
		else
			gort_ctx_unref(shard); /* the workers hold it now */
	}

	/* Timers fire in deadline order: shard 2's own deadline comes first. */
	gort_chan_recv(gort_ctx_done(shard2), NULL);
	printf("shard 2 stopped early: %s\n", ctx_errstr(gort_ctx_err(shard2)));
	gort_ctx_unref(shard2);

	gort_waitgroup_wait(&wg);
	int stopped = 0;
	for (int s = 0; s < SHARDS; s++)
		for (int i = 0; i < WORKERS; i++)
			stopped += ws[s][i].err == -ETIMEDOUT;
	printf("%d workers stopped: %s\n", stopped, ctx_errstr(gort_ctx_err(req)));
	gort_ctx_unref(req);
	return stopped == SHARDS * WORKERS ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
