/* patterns_int.h — what the pattern files (patterns.c, patterns_fan.c)
 * share; not installed.
 *
 * A stage is one goroutine of a pattern.  Its gort__stage holds a context
 * reference, the context's done channel (borrowed from that context, so
 * valid while the reference is held) and the stage's output channel, which
 * the stage alone closes, when it returns.  Every blocking send or receive
 * of a stage goes through gort__stage_send/recv: a non-blocking attempt
 * first (the hot path of a flowing pipeline, where the peer is usually
 * parked already), then a select on the channel and the done channel — the
 * book's for-select, so a cancelled context always frees the stage.
 * No locks here: a stage's state is confined to its goroutine.
 */
#ifndef GORT_PATTERNS_INT_H
#define GORT_PATTERNS_INT_H

#include "internal.h"
#include "gort_patterns.h"

#include <errno.h>

typedef struct gort__stage {
	gort_ctx *ctx;          /* reference owned by the stage */
	gort_chan *done;        /* gort_ctx_done(ctx), borrowed; NULL: never done */
	gort_chan *out;         /* reference owned by the stage; closed at its end */
	void (*main)(void *);   /* the stage's body; frees the stage at its end */
	gort_waitgroup *group;  /* gort_ctx_with_stage_group's, or NULL */
} gort__stage;

/* Takes a reference to ctx and makes the output channel.  0 or -errno
 * (then nothing is held). */
GORT__HIDDEN int gort__stage_open(gort__stage *s, gort_ctx *ctx, size_t out_elem_size,
                                  size_t out_cap);
/* Closes the output and drops the stage's references. */
GORT__HIDDEN void gort__stage_close(gort__stage *s);
/* Spawns main(s) as a goroutine named name and returns a new reference to
 * s->out for the caller (s->ctx must be set).  If the spawn fails, calls finish(s) (which must
 * release everything main would have) and returns NULL with errno set.
 * s must be the first member of the struct main and finish receive. */
GORT__HIDDEN gort_chan *gort__stage_start(gort__stage *s, void (*main)(void *),
                                          void (*finish)(void *), const char *name);
/* Spawns main(s) as a goroutine named name, counted in the stage group of
 * s->ctx if it has one: 0 or a negative errno.  s->ctx must be set; main
 * must free s before it returns. */
GORT__HIDDEN int gort__stage_go(gort__stage *s, void (*main)(void *), const char *name);

GORT__HIDDEN int gort__stage_send_slow(const gort__stage *s, gort_chan *c, const void *elem);
GORT__HIDDEN int gort__stage_recv_slow(const gort__stage *s, gort_chan *c, void *elem);

/* 0 while the stage's context is not done, else its error. */
static inline int gort__stage_err(const gort__stage *s)
{
	return s->done ? gort_ctx_err(s->ctx) : 0;
}

/* Sends *elem on c: 0, or the context's error once it is done. */
static inline int gort__stage_send(const gort__stage *s, gort_chan *c, const void *elem)
{
	int err = gort__stage_err(s);
	if (GORT__UNLIKELY(err))
		return err;
	if (gort_chan_try_send(c, elem) == 0)
		return 0;
	return gort__stage_send_slow(s, c, elem);
}

/* Receives from c into elem: 0, -EPIPE once c is closed and drained, or the
 * context's error once it is done. */
static inline int gort__stage_recv(const gort__stage *s, gort_chan *c, void *elem)
{
	int err = gort__stage_err(s);
	if (GORT__UNLIKELY(err))
		return err;
	err = gort_chan_try_recv(c, elem);
	if (err != -EAGAIN)
		return err;
	return gort__stage_recv_slow(s, c, elem);
}

/* Checks the common arguments of a pattern call; -EINVAL if bad. */
static inline int gort__stage_check(gort_ctx *ctx, gort_chan *in)
{
	return ctx && in ? 0 : -EINVAL;
}

#endif /* GORT_PATTERNS_INT_H */
