/* watch.c — the watch and unwatch methods (see watch.h).
 *
 * A watch is a loop on its request's goroutine: take a snapshot and write
 * it as [2, "snapshot", [msgid, snapshot]], then park in a select on a
 * ticker (period: the interval) and the watch's context (a child of the
 * connection's, cancelled by unwatch, by the connection ending and by the
 * daemon stopping).  The ticker drops ticks while one is pending and skips
 * missed periods, so a watch whose write parked does not burst afterwards.
 *
 * Invariants: a gd_watch lives on gd_watch_run's stack and is linked into
 * its set from before the first snapshot until after the loop ended, both
 * under set->lock; gd_watch_stop cancels a member's context only under
 * that lock, so it never touches a watch that is gone.  Everything the
 * loop owns (ticker, context) is released before gd_watch_run returns:
 * nothing outlives the request.
 */
#include "config.h"
#include "watch.h"

struct gd_watch {
	gd_watch *next;  /* in the set, under set->lock */
	uint32_t msgid;  /* the watch request's */
	gort_ctx *ctx;   /* child of the connection's; cancelled to end the watch */
};

/* What one watch did so far. */
typedef struct watch_count {
	uint64_t sent, skipped;
} watch_count;

static void set_add(gd_watch_set *s, gd_watch *w)
{
	gort_mutex_lock(&s->lock);
	w->next = s->head;
	s->head = w;
	gort_mutex_unlock(&s->lock);
}

static void set_remove(gd_watch_set *s, gd_watch *w)
{
	gort_mutex_lock(&s->lock);
	gd_watch **p = &s->head;
	while (*p != w)
		p = &(*p)->next;
	*p = w->next;
	gort_mutex_unlock(&s->lock);
}

/* Packs and writes one snapshot notification: 0, 1 when the write failed
 * (the connection is ending), or a negative errno with *err. */
static int send_snapshot(const gd_watch_io *io, uint32_t msgid, gd_proto_error *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int r = gd_proto_pack_notification(&pk, gd_proto_method_name(GD_METHOD_SNAPSHOT), 2) |
	        msgpack_pack_uint32(&pk, msgid);
	if (r)
		r = gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for a snapshot");
	else
		r = io->snapshot(io->arg, &pk, err);
	if (r == 0 && io->send(io->arg, &sb) < 0)
		r = 1;
	msgpack_sbuffer_destroy(&sb);
	return r;
}

/* Until count snapshots were sent (0: no limit), the watch's context is
 * cancelled or the connection ends: 0, or a negative errno with *err.  When
 * the connection ends the response packed afterwards is never written (the
 * write is refused), and no error is counted for it. */
static int watch_loop(const gd_watch_io *io, gd_watch *w, gort_ticker *tk, uint64_t count,
                      watch_count *n, gd_proto_error *err)
{
	gort_select_case cases[2] = {
		{gort_ctx_done(w->ctx), GORT_SELECT_RECV, NULL, false},
		{gort_ticker_chan(tk), GORT_SELECT_RECV, NULL, false},
	};
	while (gort_ctx_err(w->ctx) == 0) {
		if (!io->writable(io->arg)) {
			n->skipped++;
		} else {
			int r = send_snapshot(io, w->msgid, err);
			if (r != 0)
				return r < 0 ? r : 0;
			if (++n->sent == count)
				return 0;
		}
		if (gort_select(cases, 2, true) < 0)
			return gd_proto_fail(err, GD_E_INTERNAL, "watch: select failed");
	}
	return 0;
}

int gd_watch_run(const gd_watch_io *io, uint32_t msgid, const msgpack_object *params,
                 msgpack_packer *pk, gd_proto_error *err)
{
	uint64_t ms = params->via.array.ptr[0].via.u64;
	uint64_t count = params->via.array.ptr[1].via.u64;
	if (ms < GD_WATCH_INTERVAL_MIN_MS || ms > GD_WATCH_INTERVAL_MAX_MS)
		return gd_proto_fail(err, GD_E_INVALID_PARAMS,
		                     "watch: interval_ms must be %d to %d (100 ms to 1 h), got %llu",
		                     GD_WATCH_INTERVAL_MIN_MS, GD_WATCH_INTERVAL_MAX_MS,
		                     (unsigned long long)ms);
	gd_watch w = {.next = NULL, .msgid = msgid, .ctx = gort_ctx_with_cancel(io->ctx)};
	gort_ticker *tk = gort_ticker_make((int64_t)ms * GORT_MILLISECOND);
	if (!w.ctx || !tk) {
		gort_ticker_free(tk);
		gort_ctx_unref(w.ctx);
		return gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for a watch");
	}
	watch_count n = {0, 0};
	set_add(io->set, &w);
	int r = watch_loop(io, &w, tk, count, &n, err);
	set_remove(io->set, &w);
	gort_ticker_free(tk);
	gort_ctx_unref(w.ctx);
	if (r < 0)
		return r;
	r = msgpack_pack_map(pk, 2) | msgpack_pack_str_with_body(pk, "snapshots", 9) |
	    msgpack_pack_uint64(pk, n.sent) | msgpack_pack_str_with_body(pk, "skipped", 7) |
	    msgpack_pack_uint64(pk, n.skipped);
	return r ? gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the response") : 0;
}

int gd_watch_stop(gd_watch_set *set, const msgpack_object *params, msgpack_packer *pk,
                  gd_proto_error *err)
{
	uint64_t id = params->via.array.ptr[0].via.u64;
	unsigned found = 0;
	gort_mutex_lock(&set->lock);
	for (gd_watch *w = set->head; w; w = w->next)
		if (w->msgid == id) {
			gort_ctx_cancel(w->ctx);
			found++;
		}
	gort_mutex_unlock(&set->lock);
	if (!found)
		return gd_proto_fail(err, GD_E_NOT_FOUND, "unwatch: no watch with msgid %llu on this "
		                     "connection", (unsigned long long)id);
	int r = msgpack_pack_map(pk, 1) | msgpack_pack_str_with_body(pk, "msgid", 5) |
	        msgpack_pack_uint64(pk, id);
	return r ? gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for the response") : 0;
}
