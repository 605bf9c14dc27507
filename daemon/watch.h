/* watch.h — the protocol's `watch` and `unwatch` methods (docs/protocol.md,
 * "watch"): a watch request pushes a metrics snapshot (the `metrics`
 * result) as a `snapshot` notification at once and then every interval,
 * until it sent `count`, `unwatch` names it, its connection ends or the
 * daemon stops; then its response says how many it sent.
 *
 * The connection server keeps the I/O: gd_watch_run gets callbacks to pack
 * a snapshot, to ask whether the socket has room now, and to write one
 * whole message.  A tick that finds the socket without room is skipped
 * (no snapshot is taken or queued), so a slow reader costs the daemon at
 * most the one snapshot being written, never a backlog.
 *
 * Each connection has one gd_watch_set: its watches in flight, by msgid,
 * for unwatch.  Threading: gd_watch_run runs on the watch request's own
 * goroutine for as long as the watch lasts (parked on a ticker and its
 * context between snapshots); gd_watch_stop runs on another request's
 * goroutine.  A set is guarded by its mutex; a watch is in its set exactly
 * while gd_watch_run runs, and lives on that goroutine's stack.
 */
#ifndef GD_WATCH_H
#define GD_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "gort.h"
#include "proto.h"

/* Bounds of watch's interval_ms (out of them: INVALID_PARAMS). */
#define GD_WATCH_INTERVAL_MIN_MS 100
#define GD_WATCH_INTERVAL_MAX_MS 3600000

typedef struct gd_watch gd_watch;

/* The watches in flight on one connection. */
typedef struct gd_watch_set {
	gort_mutex lock; /* guards head and every member's link and stop flag */
	gd_watch *head;
} gd_watch_set;
#define GD_WATCH_SET_INIT {GORT_MUTEX_INIT, NULL}

/* What a watch needs from its connection. */
typedef struct gd_watch_io {
	gort_ctx *ctx;     /* the connection's: the watch ends when it is cancelled */
	gd_watch_set *set; /* the connection's watches */
	/* Packs exactly one object, the metrics result: 0, or a negative errno
	 * with *err filled. */
	int (*snapshot)(void *arg, msgpack_packer *pk, gd_proto_error *err);
	/* Whether the socket has room for a message now (never parks). */
	bool (*writable)(void *arg);
	/* Writes one whole message, parking while the socket is full (the
	 * connection's write timeout applies): 0, or a negative errno after
	 * which the connection is ending. */
	int (*send)(void *arg, const msgpack_sbuffer *sb);
	void *arg;
} gd_watch_io;

/* The watch method: params [interval_ms, count] (types already checked).
 * Returns when the watch ends, having packed its result {"snapshots",
 * "skipped"}: 0 (also when the connection is ending: the response is then
 * never written), or a negative errno with *err (a bad interval, no
 * memory). */
int gd_watch_run(const gd_watch_io *io, uint32_t msgid, const msgpack_object *params,
                 msgpack_packer *pk, gd_proto_error *err);

/* The unwatch method: params [msgid] (type checked).  Ends every watch of
 * the set with that msgid and packs {"msgid"}; NOT_FOUND when none runs. */
int gd_watch_stop(gd_watch_set *set, const msgpack_object *params, msgpack_packer *pk,
                  gd_proto_error *err);

#endif
