/* context.c — the context chapter of "Concurrency in Go" (ch. 4, "The
 * context package"), in C.
 *
 * Part 1, cancellation propagating: main starts printGreeting and
 * printFarewell under one cancellable context.  Generating the greeting
 * gives itself a 1-second budget (a child context with a timeout) and
 * asks locale(), which needs a minute: locale sees from the deadline that
 * it cannot make it and fails at once with "deadline exceeded".  The
 * greeting side then cancels the shared parent, and the farewell side,
 * blocked in its own locale() call, is released with "canceled".
 *
 * Part 2, request-scoped values: a request handler stores the user id and
 * auth token in value contexts under private keys (compared by address, so
 * no other package can collide with them) and a function far below reads
 * them back through the ancestors.
 *
 * Output:
 *   cannot print greeting: context deadline exceeded
 *   cannot print farewell: context canceled
 *   handling response for jane (abc123)
 */
#include <gort.h>

#include <errno.h>
#include <stdio.h>

static const char *ctx_errstr(int err)
{
	return err == -ETIMEDOUT ? "context deadline exceeded" : "context canceled";
}

/* Needs a minute of "work"; gives up early when the context's deadline
 * says it would not finish, or when the context is cancelled meanwhile. */
static int locale(gort_ctx *ctx, const char **ret)
{
	int64_t deadline;
	if (gort_ctx_deadline(ctx, &deadline) && deadline - gort_now() < 60 * GORT_SECOND)
		return -ETIMEDOUT;
	/* A gort_timer rather than gort_after: it is freed at once when the
	 * wait is abandoned, instead of lingering until it would fire. */
	gort_timer *minute = gort_timer_make(60 * GORT_SECOND);
	if (!minute)
		return -errno;
	gort_select_case cs[2] = {
		{gort_ctx_done(ctx), GORT_SELECT_RECV, NULL, false},
		{gort_timer_chan(minute), GORT_SELECT_RECV, NULL, false},
	};
	int k = gort_select(cs, 2, true);
	gort_timer_free(minute);
	if (k == 0)
		return gort_ctx_err(ctx);
	*ret = "EN/US";
	return 0;
}

static int gen_greeting(gort_ctx *ctx, const char **ret)
{
	gort_ctx *budget = gort_ctx_with_timeout(ctx, GORT_SECOND);
	if (!budget)
		return -errno;
	const char *loc = NULL;
	int err = locale(budget, &loc);
	gort_ctx_unref(budget); /* as Go's "defer cancel()" */
	if (err == 0)
		*ret = "hello";
	return err;
}

static int gen_farewell(gort_ctx *ctx, const char **ret)
{
	const char *loc = NULL;
	int err = locale(ctx, &loc);
	if (err == 0)
		*ret = "goodbye";
	return err;
}

struct side {
	gort_ctx *ctx; /* the shared parent (borrowed: main outlives the sides) */
	gort_waitgroup *wg;
};

static void print_greeting(void *arg)
{
	struct side *s = arg;
	const char *g = NULL;
	int err = gen_greeting(s->ctx, &g);
	if (err) {
		printf("cannot print greeting: %s\n", ctx_errstr(err));
		fflush(stdout);
		gort_ctx_cancel(s->ctx);
	} else {
		printf("%s world!\n", g);
	}
	gort_waitgroup_done(s->wg);
}

static void print_farewell(void *arg)
{
	struct side *s = arg;
	const char *f = NULL;
	int err = gen_farewell(s->ctx, &f);
	if (err)
		printf("cannot print farewell: %s\n", ctx_errstr(err));
	else
		printf("%s world!\n", f);
	gort_waitgroup_done(s->wg);
}

static int cancellation(void)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	if (!ctx)
		return -1;
	struct side s = {ctx, &wg};
	gort_waitgroup_add(&wg, 2);
	if (gort_go(print_farewell, &s) < 0 || gort_go(print_greeting, &s) < 0)
		return -1;
	gort_waitgroup_wait(&wg);
	gort_ctx_unref(ctx); /* cancels it if nobody did */
	return 0;
}

/* Private keys: only this file can name them. */
static const char user_id_key, auth_token_key;

static void handle_response(gort_ctx *ctx)
{
	printf("handling response for %s (%s)\n", (const char *)gort_ctx_value(ctx, &user_id_key),
	       (const char *)gort_ctx_value(ctx, &auth_token_key));
}

static int values(void)
{
	gort_ctx *a = gort_ctx_with_value(gort_ctx_background(), &user_id_key, "jane");
	gort_ctx *b = a ? gort_ctx_with_value(a, &auth_token_key, "abc123") : NULL;
	gort_ctx_unref(a); /* b keeps its parent */
	if (!b)
		return -1;
	handle_response(b);
	gort_ctx_unref(b);
	return 0;
}

static int root(void *arg)
{
	(void)arg;
	return cancellation() == 0 && values() == 0 ? 0 : 1;
}

int main(void)
{
	return gort_main(NULL, root, NULL);
}
