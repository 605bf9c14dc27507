/* gort_patterns.h — libgort's concurrency patterns: the building blocks of
 * chapter 4 of "Concurrency in Go" (generators, take, or-channel, or-done,
 * tee, bridge, fan-out/fan-in, queuing, error results, heartbeats) as
 * reusable pipeline stages over gort channels.  docs/patterns.md has the
 * long form with an example per pattern.
 *
 * Common rules (they hold for every function below)
 *  - Elements are copied by value; every function takes the element size
 *    of the channels it handles, and the caller must pass channels made with
 *    exactly that element size.
 *  - Every stage runs on goroutines it spawns and takes a context.  A stage
 *    goroutine waits on the context's done channel in every blocking send
 *    and receive (the for-select loop), so once the context is cancelled
 *    every goroutine a pattern started returns promptly and closes its
 *    output channel: a consumer that stops early cancels the context and
 *    nothing leaks.  A consumer that stops early WITHOUT cancelling leaves
 *    the stages blocked (as in Go).  With gort_ctx_background() a stage ends
 *    only when its input closes (repeat generators never end).
 *  - Channel references: input channels are borrowed — a stage takes its
 *    own reference for as long as it needs the channel, so the caller may
 *    drop its reference right after the call.  Output channels are returned
 *    with one reference that the caller owns and drops with
 *    gort_chan_unref.  The stage that produces into a channel is the only
 *    one that closes it: it does so when its input is exhausted or its
 *    context is cancelled.  The caller must never close a stage's output.
 *    Exception: gort_bridge takes ownership of the references it receives.
 *  - Functions returning a channel return NULL with errno set on failure
 *    (EINVAL for bad arguments, ENOMEM, or what gort_go returned); those
 *    returning int return 0 or a negative errno and touch their ret_
 *    arguments only on success.  On failure no goroutine is left running.
 *  - Each function must be called on a goroutine or a thread while the
 *    runtime is running (it spawns goroutines).
 */
#ifndef GORT_PATTERNS_H
#define GORT_PATTERNS_H

#include "gort.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * Joining the stages
 * ====================================================================== */

/* A context (a value context under parent, so not cancellable itself: put
 * a gort_ctx_with_cancel under it) whose pattern goroutines — those of every
 * pattern started with it or a descendant — count themselves in wg: added
 * when spawned, done as the very last thing they do, after closing their
 * outputs and releasing their memory and references.  After cancelling the
 * context (or letting the pipeline run dry), gort_waitgroup_wait(wg) joins
 * them: then no stage will call a gort_map_fn / gort_gen_fn again, their
 * args may be freed and the program may end without leaking.  wg is
 * borrowed: it must outlive the stages.  NULL with errno on failure. */
GORT_API gort_ctx *gort_ctx_with_stage_group(gort_ctx *parent, gort_waitgroup *wg);

/* ======================================================================
 * Context-aware channel operations (the for-select loop as a call)
 * ====================================================================== */

/* Sends *elem on c unless ctx is (or becomes) done first.  Returns 0 when
 * sent, else gort_ctx_err(ctx) (-ECANCELED or -ETIMEDOUT); -EINVAL if ctx
 * is NULL.  A NULL c is Go's nil channel: waits for ctx only. */
GORT_API int gort_stage_send(gort_ctx *ctx, gort_chan *c, const void *elem);
/* Receives from c into elem (may be NULL) unless ctx is done first.
 * Returns 0 with a value, -EPIPE once c is closed and drained, or
 * gort_ctx_err(ctx) when the context is done; -EINVAL if ctx is NULL. */
GORT_API int gort_stage_recv(gort_ctx *ctx, gort_chan *c, void *elem);

/* ======================================================================
 * Results: an error next to a value (the book's "Error handling")
 *
 * A stage that can fail sends results instead of bare values, so that the
 * consumer — who has the context to decide — sees each error in order with
 * the values.  The element is a gort_result header followed by the value,
 * aligned to GORT_RESULT_ALIGN; its size for a value of value_size bytes is
 * GORT_RESULT_SIZE(value_size), which equals sizeof(GORT_RESULT(T)) when
 * value_size is sizeof(T) (any T aligned to at most 16):
 *
 *     typedef GORT_RESULT(int) int_result;      // { int err; int value; }
 *     int_result r;
 *     while (gort_chan_recv(results, &r))
 *             if (r.err) ... else use(r.value);
 * ====================================================================== */

#define GORT_RESULT_ALIGN 16

typedef struct gort_result {
	int err; /* 0, or a negative errno: then value holds what the
	            producer left there (zeroed unless it wrote) */
	unsigned char value[] __attribute__((aligned(GORT_RESULT_ALIGN)));
} gort_result;

/* A typed result: the same layout as gort_result followed by a T. */
#define GORT_RESULT(T)                                                        \
	struct {                                                              \
		int err;                                                      \
		T value __attribute__((aligned(GORT_RESULT_ALIGN)));          \
	}

/* Element size of a result channel for values of value_size bytes. */
#define GORT_RESULT_SIZE(value_size)                                          \
	(((size_t)GORT_RESULT_ALIGN + (size_t)(value_size) + GORT_RESULT_ALIGN - 1) & \
	 ~((size_t)GORT_RESULT_ALIGN - 1))

static inline void *gort_result_value(gort_result *r)
{
	return r->value;
}

/* ======================================================================
 * Generators
 * ====================================================================== */

/* A channel (unbuffered) of the n values of the array values (copied at
 * the call: the caller may free it), in order; closed after the last. */
GORT_API gort_chan *gort_gen_values(gort_ctx *ctx, const void *values, size_t n,
                                    size_t elem_size);
/* The n (> 0) values of the array (copied) repeated in order forever, until
 * ctx is done. */
GORT_API gort_chan *gort_gen_repeat(gort_ctx *ctx, const void *values, size_t n,
                                    size_t elem_size);

/* Produces one value into out (elem_size bytes, zeroed before each call);
 * returns 0 to emit it, anything else to end the stream (not emitted). */
typedef int (*gort_gen_fn)(void *out, void *arg);
/* Calls fn(out, arg) for each value, on the generator goroutine, and sends
 * what it produced; the channel closes when fn returns non-zero or ctx is
 * done (the book's repeatFn; a fn that always returns 0 runs forever). */
GORT_API gort_chan *gort_gen_repeat_fn(gort_ctx *ctx, size_t elem_size, gort_gen_fn fn,
                                       void *arg);

/* The first n values of in, then closed (earlier if in closes first).
 * Values of in beyond the n-th are left unread. */
GORT_API gort_chan *gort_take(gort_ctx *ctx, gort_chan *in, size_t elem_size, uint64_t n);

/* ======================================================================
 * Or-channel, or-done, queuing
 * ====================================================================== */

/* A signal channel (element size 0) closed as soon as any of the n channels
 * chans[] is closed or delivers a value (that value is consumed), or ctx
 * is done.  One goroutine selecting over all of them (not the book's
 * recursion).  NULL entries are never ready; 1 <= n <= 65535. */
GORT_API gort_chan *gort_or(gort_ctx *ctx, gort_chan *const *chans, size_t n);

/* Forwards every value of in until in is closed or ctx is done, then
 * closes the returned channel: "range over in, unless cancelled". */
GORT_API gort_chan *gort_or_done(gort_ctx *ctx, gort_chan *in, size_t elem_size);

/* The book's Queuing: forwards in into a channel buffered with capacity
 * cap (> 0), so a fast producer can run up to cap values ahead of a slow
 * consumer.  Closed when in is closed and every value forwarded, or when
 * ctx is done (values still buffered are then still readable). */
GORT_API gort_chan *gort_queue_stage(gort_ctx *ctx, gort_chan *in, size_t elem_size,
                                     size_t cap);

/* ======================================================================
 * Tee and bridge
 * ====================================================================== */

/* Splits in into two unbuffered channels that both receive every value, in
 * order.  The next value of in is read only after both outputs took the
 * current one, so the slower reader paces both: a reader that stops must
 * cancel ctx.  Both outputs close when in closes or ctx is done. */
GORT_API int gort_tee(gort_ctx *ctx, gort_chan *in, size_t elem_size, gort_chan **ret_out1,
                      gort_chan **ret_out2);

/* Flattens streams, a channel whose elements are gort_chan * (element size
 * sizeof(gort_chan *)), into one channel: every value of the first
 * sub-channel until it closes, then the next sub-channel's, in order.  Each
 * gort_chan * received is a reference whose ownership passes to the bridge
 * (it drops it once that sub-channel is closed and drained, or on
 * cancellation); NULL elements are skipped.  Closed when streams is closed
 * and the last sub-channel drained, or when ctx is done; on exit the bridge
 * also drops the references still buffered in streams. */
GORT_API gort_chan *gort_bridge(gort_ctx *ctx, gort_chan *streams, size_t elem_size);

/* ======================================================================
 * Map, fan-out, fan-in
 * ====================================================================== */

/* What a map returns to drop the input value (no result is sent): a map
 * function can filter. */
#define GORT_DROP 1

/* Turns one input element into one output value.  out is zeroed before the
 * call.  Returns 0 (a result with err 0 and value out), GORT_DROP (no
 * result), or a negative errno (a result carrying that error, and what fn
 * left in out).  Called concurrently from several goroutines by the fan-out
 * functions: it must be safe for that with its arg. */
typedef int (*gort_map_fn)(const void *in, void *out, void *arg);

/* gort_map_spec.flags: the input elements are results too (the output of
 * an earlier map): in_size is then the size of their value, the input
 * channel's elements are GORT_RESULT_SIZE(in_size), fn receives the value,
 * and a result carrying an error is forwarded as it is (same err, value
 * zeroed) without calling fn — so maps chain and an error flows through to
 * the consumer. */
#define GORT_MAP_RESULTS_IN 1u

typedef struct gort_map_spec {
	gort_map_fn fn;
	void *arg;       /* passed to fn; borrowed, must outlive the stage */
	size_t in_size;  /* element size of the input channel (see flags) */
	size_t out_size; /* size of a value: outputs carry GORT_RESULT_SIZE(out_size) */
	unsigned flags;  /* 0 or GORT_MAP_RESULTS_IN */
} gort_map_spec;

/* One stage goroutine applying spec->fn to each value of in, in order; its
 * output elements are results (GORT_RESULT_SIZE(spec->out_size)). */
GORT_API gort_chan *gort_map(gort_ctx *ctx, gort_chan *in, const gort_map_spec *spec);

/* Fan-out: `workers` goroutines reading the same input and applying
 * spec->fn, each sending its results on its own unbuffered channel,
 * ret_outs[i] (an array of `workers` entries filled on success).  Merge
 * them with gort_fan_in.  Values are spread among the workers as each
 * becomes free; no order across outputs.  1 <= workers <= 65535. */
GORT_API int gort_fan_out(gort_ctx *ctx, gort_chan *in, const gort_map_spec *spec,
                          size_t workers, gort_chan **ret_outs);

/* Fan-in: every value of the n channels ins[] merged into one unbuffered
 * channel, in no particular order across inputs (each input's own order is
 * kept).  Closed when all inputs are closed or ctx is done.  One goroutine
 * selecting over the inputs.  1 <= n <= 65535. */
GORT_API gort_chan *gort_fan_in(gort_ctx *ctx, gort_chan *const *ins, size_t n,
                                size_t elem_size);

/* Order-preserving fan-out + fan-in: `workers` goroutines apply spec->fn
 * in parallel and the results come out on one channel in input order.
 * Values are dealt round-robin to the workers, each over its own channel,
 * and collected round-robin from them, so at most 3 * workers values are
 * in flight (the reorder buffer is bounded by the worker count) and one
 * slow value holds back the results after it.  Dropped values (GORT_DROP)
 * leave no gap.  1 <= workers <= 65535. */
GORT_API gort_chan *gort_fan_out_ordered(gort_ctx *ctx, gort_chan *in,
                                         const gort_map_spec *spec, size_t workers);

/* ======================================================================
 * Heartbeats
 * ====================================================================== */

/* Forwards in to *ret_out (as gort_or_done does) and, on *ret_beats
 * (capacity 1, element size 0), sends a pulse every `interval` ns and one
 * after each value forwarded — sent only if the previous pulse was taken,
 * so a monitor never slows the stage down.  A monitor that stops seeing
 * pulses knows the stage is stuck.  Both channels close when in closes or
 * ctx is done. */
GORT_API int gort_heartbeat_stage(gort_ctx *ctx, gort_chan *in, size_t elem_size,
                                  int64_t interval, gort_chan **ret_out, gort_chan **ret_beats);

#ifdef __cplusplus
}
#endif
#endif /* GORT_PATTERNS_H */
