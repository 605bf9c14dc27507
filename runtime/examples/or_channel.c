/* or_channel.c — "Concurrency in Go", chapter 4, The or-channel: combine
 * any number of done channels into one that closes as soon as any of them
 * does.
 *
 * Five signal channels close after 2 h, 5 min, 50 ms, 1 h and 1 min (the
 * book uses 1 s for the short one); gort_or closes after ~50 ms.  Unlike the
 * book's recursive version, gort_or is a single goroutine selecting over
 * every channel.  At the end the root cancels the slow signals' context so
 * that their goroutines and timers go away (the book just lets them be).
 *
 * Output: "done after 50 ms" (give or take a millisecond).
 */
#include <gort.h>
#include <gort_patterns.h>

#include <stdio.h>

typedef struct sig {
	gort_ctx *ctx;        /* cancelled to give up waiting */
	int64_t after;
	gort_chan *done;      /* closed after `after` ns (or on cancel) */
	gort_waitgroup *wg;
} sig;

/* The book's sig(after): closes s->done after s->after ns. */
static void sig_wait(void *arg)
{
	sig *s = arg;
	gort_timer *t = gort_timer_make(s->after);
	if (t) {
		gort_select_case cs[2] = {
			{gort_timer_chan(t), GORT_SELECT_RECV, NULL, false},
			{gort_ctx_done(s->ctx), GORT_SELECT_RECV, NULL, false},
		};
		gort_select(cs, 2, true);
		gort_timer_free(t);
	}
	gort_chan_close(s->done);
	gort_waitgroup_done(s->wg);
}

static int root(void *arg)
{
	(void)arg;
	static const int64_t afters[5] = {2 * 3600 * GORT_SECOND, 5 * 60 * GORT_SECOND,
	                                  50 * GORT_MILLISECOND, 3600 * GORT_SECOND,
	                                  60 * GORT_SECOND};
	gort_waitgroup stages = GORT_WAITGROUP_INIT; /* joins the pattern goroutines */
	gort_ctx *group = gort_ctx_with_stage_group(gort_ctx_background(), &stages);
	gort_ctx *ctx = gort_ctx_with_cancel(group);
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	sig sigs[5];
	gort_chan *dones[5];
	int64_t start = gort_now();
	for (int i = 0; i < 5; i++) {
		sigs[i] = (sig){ctx, afters[i], gort_chan_make(0, 0), &wg};
		dones[i] = sigs[i].done;
		gort_waitgroup_add(&wg, 1);
		if (!dones[i] || gort_go(sig_wait, &sigs[i]) < 0)
			return 1;
	}
	gort_chan *any = gort_or(ctx, dones, 5);
	if (!any)
		return 1;
	gort_chan_recv(any, NULL); /* returns false: closed */
	int64_t took = gort_now() - start;
	printf("done after %lld ms\n", (long long)(took / GORT_MILLISECOND));
	gort_chan_unref(any);
	gort_ctx_cancel(ctx);
	gort_waitgroup_wait(&wg);
	for (int i = 0; i < 5; i++)
		gort_chan_unref(dones[i]);
	gort_waitgroup_wait(&stages); /* every pattern goroutine has returned */
	gort_ctx_unref(ctx);
	gort_ctx_unref(group);
	return took >= afters[2] && took < 60 * GORT_SECOND ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
