/* cmd_output.c — `goctl output ID`: the items job ID's collect sinks kept,
 * in arrival order (those so far for a running job): each item's bytes as
 * they are followed by a newline, or with --json an array of strings
 * (items that are not valid UTF-8 get U+FFFD, as all goctl JSON does).
 */
#include "config.h"

#include "job.h"

/* An item's bytes: bin as the protocol sends them, str accepted too. */
static const char *item_bytes(const msgpack_object *it, uint32_t *len)
{
	if (it->type == MSGPACK_OBJECT_BIN) {
		*len = it->via.bin.size;
		return it->via.bin.ptr;
	}
	*len = it->via.str.size;
	return it->via.str.ptr;
}

static int print_items(const gc_ctx *ctx, const msgpack_object *items)
{
	if (ctx->json) {
		gc_doc d;
		gc_doc_init(&d);
		int r = msgpack_pack_array(&d.pk, items->via.array.size);
		for (uint32_t i = 0; i < items->via.array.size; i++) {
			uint32_t len;
			const char *p = item_bytes(&items->via.array.ptr[i], &len);
			r |= msgpack_pack_str_with_body(&d.pk, p, len);
		}
		r = r ? (gc_errorf("out of memory"), GC_EXIT_FAILURE) : gc_print_doc(&d);
		gc_doc_destroy(&d);
		return r;
	}
	for (uint32_t i = 0; i < items->via.array.size; i++) {
		uint32_t len;
		const char *p = item_bytes(&items->via.array.ptr[i], &len);
		fwrite(p, 1, len, stdout);
		putchar('\n');
	}
	return 0;
}

static int output_exec(gc_ctx *ctx, const gc_args *args)
{
	uint64_t id;
	_cleanup_(gc_message_freep) gd_message m = { 0 };
	int r = gc_job_id_call(ctx, &gc_cmd_output, args, false, &id, &m);
	if (r)
		return r;
	const msgpack_object *items = gc_map_get(m.result, "items");
	bool ok = items && items->type == MSGPACK_OBJECT_ARRAY;
	for (uint32_t i = 0; ok && i < items->via.array.size; i++)
		ok = items->via.array.ptr[i].type == MSGPACK_OBJECT_BIN ||
		     items->via.array.ptr[i].type == MSGPACK_OBJECT_STR;
	if (!ok) {
		gc_errorf("godaemon's output result has no array of items");
		return GC_EXIT_FAILURE;
	}
	return print_items(ctx, items);
}

const gc_cmd gc_cmd_output = {
	.name = "output",
	.usage = "ID",
	.summary = "print the items a job collected",
	.help = "Prints the items job ID's collect sinks kept, in the order they\n"
	        "arrived (for a running job, those so far): each item's bytes, then a\n"
	        "newline.  Items may hold any bytes, newlines included.  With --json:\n"
	        "an array of strings (invalid UTF-8 becomes U+FFFD).",
	.min_args = 1,
	.max_args = 1,
	.exec = output_exec,
};
