/* watchcall.c — the client side of the watch method (see watchcall.h).
 * One request is in flight on a goctl connection, so every "snapshot"
 * notification arriving during the call belongs to it.
 */
#include "config.h"

#include "watchcall.h"

#include <errno.h>

#include "conf.h"

int gc_watch_interval_arg(const gc_cmd *cmd, const char *s, uint64_t *ms)
{
	int64_t ns;
	if (!s) {
		*ms = GC_WATCH_DEFAULT_INTERVAL_MS;
		return 0;
	}
	if (gd_conf_parse_duration(s, &ns) < 0 || ns < 100 * 1000000LL ||
	    ns > 3600 * 1000000000LL)
		return gc_usage_error(cmd, "invalid --interval '%s' (100ms to 1h, e.g. 500ms, 2s)", s);
	*ms = (uint64_t)(ns / 1000000);
	return 0;
}

int gc_watch_count_arg(const gc_cmd *cmd, const char *s, uint64_t *n)
{
	*n = 0;
	if (s && gc_parse_uint(s, 0, UINT32_MAX, n) < 0)
		return gc_usage_error(cmd, "invalid count '%s' (a number, 0: until stopped)", s);
	return 0;
}

typedef struct watch_params {
	uint64_t interval_ms, count;
	gc_snapshot_fn fn;
	void *arg;
} watch_params;

static int pack_watch(msgpack_packer *pk, void *userdata)
{
	const watch_params *p = userdata;
	return msgpack_pack_uint64(pk, p->interval_ms) || msgpack_pack_uint64(pk, p->count)
	               ? -ENOMEM
	               : 0;
}

static int on_notification(void *arg, const gd_message *m, gc_error *err)
{
	const watch_params *p = arg;
	if (m->method != GD_METHOD_SNAPSHOT)
		return 0;
	const msgpack_object *a = m->params;
	if (a->via.array.size != 2 || a->via.array.ptr[1].type != MSGPACK_OBJECT_MAP)
		return gc_fail(err, -EPROTO, GC_EXIT_FAILURE, "godaemon sent a malformed snapshot");
	return p->fn(p->arg, &a->via.array.ptr[1], err);
}

int gc_watch_call(gc_conn *c, uint64_t interval_ms, uint64_t count, gc_snapshot_fn fn,
                  void *arg, gc_error *err)
{
	watch_params p = {interval_ms, count, fn, arg};
	gd_message m = { 0 };
	gc_conn_set_timeout(c, 0);
	int r = gc_conn_call_notify(c, "watch", 2, pack_watch, &p, on_notification, &p, &m, err);
	gd_message_free(&m);
	return r;
}
