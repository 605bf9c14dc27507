/* cmd_version.c — `goctl version`: goctl's version and protocol, the
 * daemon's (from its version method) and the protocol version the
 * handshake settled on.  The daemon's result is passed through whole in
 * --json output, so keys a newer daemon adds are not lost. */
#include "config.h"

#include "goctl.h"

static int version_json(const gc_ctx *ctx, const gc_hello *h, const msgpack_object *daemon)
{
	gc_doc d;
	gc_doc_init(&d);
	int r = msgpack_pack_map(&d.pk, 4) | gc_pk_str(&d.pk, "client") |
	        msgpack_pack_map(&d.pk, 3) | gc_pk_kv_str(&d.pk, "name", "goctl") |
	        gc_pk_kv_str(&d.pk, "version", PACKAGE_VERSION) |
	        gc_pk_kv_u64(&d.pk, "protocol", GD_PROTO_VERSION) |
	        gc_pk_kv_object(&d.pk, "daemon", daemon) |
	        gc_pk_kv_u64(&d.pk, "protocol", h->protocol) |
	        gc_pk_kv_str(&d.pk, "socket", ctx->socket);
	r = r ? (gc_errorf("out of memory"), GC_EXIT_FAILURE) : gc_print_doc(&d);
	gc_doc_destroy(&d);
	return r;
}

static int version_table(const gc_ctx *ctx, const gc_hello *h, const msgpack_object *daemon)
{
	const msgpack_object *ver = gd_proto_map_get(daemon, "version");
	const msgpack_object *proto = gd_proto_map_get(daemon, "protocol");
	char *vtext = ver ? gc_object_text(ver) : NULL;
	char *ptext = proto ? gc_object_text(proto) : NULL;
	gc_table t;
	gc_table_init(&t);
	gc_table_row(&t, 0, "goctl version", "%s", PACKAGE_VERSION);
	gc_table_row(&t, 0, "goctl protocol", "%d", GD_PROTO_VERSION);
	gc_table_row(&t, 0, "godaemon version", "%s", vtext ? vtext : "?");
	gc_table_row(&t, 0, "godaemon protocol", "%s", ptext ? ptext : "?");
	gc_table_row(&t, 0, "protocol in use", "%u", h->protocol);
	gc_table_row(&t, 0, "socket", "%s", ctx->socket);
	int r = gc_print_table(&t);
	gc_table_destroy(&t);
	free(vtext);
	free(ptext);
	return r;
}

static int version_exec(gc_ctx *ctx, const gc_args *args)
{
	_cleanup_(gc_conn_closep) gc_conn *c = NULL;
	int r = gc_connect(ctx, &c);
	if (r)
		return r;
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	r = gc_call0(c, "version", &m);
	if (r)
		return r;
	if (m.result->type != MSGPACK_OBJECT_MAP) {
		gc_errorf("godaemon's version result is not a map");
		return GC_EXIT_FAILURE;
	}
	const gc_hello *h = gc_conn_hello(c);
	return ctx->json ? version_json(ctx, h, m.result) : version_table(ctx, h, m.result);
}

const gc_cmd gc_cmd_version = {
	.name = "version",
	.usage = "",
	.summary = "show goctl's and godaemon's versions and protocol",
	.help = "Prints goctl's version and the protocol version it speaks, the daemon's\n"
	        "version and newest protocol version (its version method), and the\n"
	        "protocol version in use on the connection (the lower of the two).\n"
	        "'goctl --version' prints goctl's version alone, without the daemon.\n"
	        "With --json: {\"client\": {name, version, protocol}, \"daemon\": {server,\n"
	        "version, protocol, ...}, \"protocol\": N, \"socket\": PATH}.",
	.min_args = 0,
	.max_args = 0,
	.exec = version_exec,
};
