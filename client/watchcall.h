/* watchcall.h — the client side of the watch method (docs/protocol.md,
 * "watch"), shared by `goctl metrics --watch` and `goctl top`: parsing the
 * --interval and --count options, and one watch call handing every
 * snapshot notification to a callback until the watch ends.
 *
 * Stopping a watch from outside (Ctrl-C, `q`): shut the connection's socket
 * down (shutdown(2), async-signal-safe); the daemon sees the client go and
 * ends the watch; gc_watch_call then fails and the caller, knowing it
 * asked for it, exits 0.  No global state.
 */
#ifndef GC_WATCHCALL_H
#define GC_WATCHCALL_H

#include <stdint.h>

#include "goctl.h"

/* Default interval between snapshots, milliseconds. */
#define GC_WATCH_DEFAULT_INTERVAL_MS 1000

/* Parses an --interval DURATION (100ms to 1h, as the daemon accepts) into
 * milliseconds; s NULL leaves the default.  0, or prints cmd's usage error
 * and returns GC_EXIT_USAGE. */
int gc_watch_interval_arg(const gc_cmd *cmd, const char *s, uint64_t *ms);
/* Parses a --count N (0: until stopped); s NULL gives 0.  0 or GC_EXIT_USAGE. */
int gc_watch_count_arg(const gc_cmd *cmd, const char *s, uint64_t *n);

/* Called with each snapshot (the metrics map): 0 to go on, or a negative
 * errno with err filled to give up. */
typedef int (*gc_snapshot_fn)(void *arg, const msgpack_object *snap, gc_error *err);

/* Calls watch [interval_ms, count] on c (its time limit lifted: a watch
 * lasts) and hands each snapshot to fn.  0 once the daemon answered (count
 * snapshots sent), or a negative errno with err filled (the connection
 * failed or was shut down, the daemon refused, or fn gave up). */
int gc_watch_call(gc_conn *c, uint64_t interval_ms, uint64_t count, gc_snapshot_fn fn,
                  void *arg, gc_error *err);

#endif
