/* jb_godaemon.c — jobs-bench's godaemon client: a blocking connection that
 * says hello and then submits one pipeline and waits for it, request after
 * request (docs/protocol.md; the codec is the daemon's own, daemon/proto.h,
 * and the pipeline is parsed once by daemon/pipespec.c into its wire form,
 * which every submit then carries as pre-packed bytes).
 *
 * One request in flight at a time: each call writes its request and reads
 * until the response with its msgid (notifications are skipped; the fatal
 * `error` notification ends the connection with its message).  A
 * connection belongs to one thread.
 */
#include "config.h"
#include "jobs-bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipespec.h"
#include "proto.h"

#define JB_MAX_MESSAGE ((size_t)16 << 20)

struct jb_gd {
	int fd;              /* the connection */
	uint32_t msgid;      /* last msgid used */
	gd_decoder *dec;     /* responses as they arrive */
	msgpack_sbuffer out; /* the request being built */
	msgpack_packer pk;   /* packs into out */
	msgpack_sbuffer spec; /* the pipeline's wire form, packed once */
	char in[65536];      /* read buffer */
};

/* Sends c->out (and empties it). */
static int send_out(jb_gd *c, jb_error *e)
{
	int r = jb_write_all(c->fd, c->out.data, c->out.size, e);
	msgpack_sbuffer_clear(&c->out);
	return r;
}

/* The next message from the daemon into *m (free it with gd_message_free). */
static int next_message(jb_gd *c, gd_message *m, jb_error *e)
{
	for (;;) {
		gd_proto_error pe;
		int r = gd_decoder_next(c->dec, m, &pe);
		if (r == 1)
			return 0;
		if (r < 0)
			return jb_fail(e, r, "godaemon sent a bad message: %s", pe.message);
		ssize_t n = read(c->fd, c->in, sizeof c->in);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return jb_fail(e, n ? -errno : -EPIPE, "godaemon closed the connection%s%s",
			               n ? ": " : "", n ? strerror(errno) : "");
		if ((r = gd_decoder_feed(c->dec, c->in, (size_t)n, &pe)) < 0)
			return jb_fail(e, r, "godaemon sent a bad message: %s", pe.message);
	}
}

/* Sends c->out (a request with msgid c->msgid) and reads its response into
 * *m: 0 when it carries a result, else the error it carries. */
static int call(jb_gd *c, const char *method, gd_message *m, jb_error *e)
{
	int r = send_out(c, e);
	while (r == 0 && (r = next_message(c, m, e)) == 0) {
		if (m->type == GD_MSG_RESPONSE && m->msgid == c->msgid)
			break;
		if (m->type == GD_MSG_NOTIFICATION && m->method_len == 5 &&
		    memcmp(m->method_name, "error", 5) == 0) {
			gd_message_free(m);
			return jb_fail(e, -EPIPE, "%s: godaemon ended the connection", method);
		}
		gd_message_free(m); /* an item notification, or a stray response */
	}
	if (r < 0)
		return r;
	if (m->error->type != MSGPACK_OBJECT_NIL) {
		gd_proto_error pe;
		if (gd_proto_error_from_object(m->error, &pe) < 0)
			snprintf(pe.message, sizeof pe.message, "(unreadable error object)");
		gd_message_free(m);
		return jb_fail(e, -EPROTO, "%s: %s", method, pe.message);
	}
	return 0;
}

static uint64_t map_u64(const msgpack_object *o, const char *key)
{
	const msgpack_object *v = gd_proto_map_get(o, key);
	return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
}

static int hello(jb_gd *c, jb_error *e)
{
	gd_message m = {0};
	int r = gd_proto_pack_request(&c->pk, ++c->msgid, "hello", 2);
	if (!r)
		r = msgpack_pack_uint32(&c->pk, GD_PROTO_VERSION) |
		    msgpack_pack_str_with_body(&c->pk, "jobs-bench", 10) ? -ENOMEM : 0;
	if (r)
		return jb_fail(e, r, "hello: out of memory");
	if ((r = call(c, "hello", &m, e)) < 0)
		return r;
	uint64_t proto = map_u64(m.result, "protocol");
	gd_message_free(&m);
	if (proto != GD_PROTO_VERSION)
		return jb_fail(e, -EPROTO, "hello: godaemon speaks protocol %llu, not %d",
		               (unsigned long long)proto, GD_PROTO_VERSION);
	return 0;
}

static int pack_spec(jb_gd *c, const char *pipeline, jb_error *e)
{
	gd_pipe_spec *spec;
	gd_pipe_error pe;
	int r = gd_pipe_parse(pipeline, strlen(pipeline), &spec, &pe);
	if (r < 0)
		return jb_fail(e, r, "%s", r == -EINVAL ? pe.message : strerror(-r));
	msgpack_packer pk;
	msgpack_packer_init(&pk, &c->spec, msgpack_sbuffer_write);
	r = gd_pipe_pack(&pk, spec);
	gd_pipe_free(spec);
	return r ? jb_fail(e, r, "packing the spec: out of memory") : 0;
}

int jb_gd_open(const char *path, const char *pipeline, jb_gd **ret, jb_error *e)
{
	jb_gd *c = calloc(1, sizeof *c);
	if (!c)
		return jb_fail(e, -ENOMEM, "out of memory");
	c->fd = -1;
	msgpack_sbuffer_init(&c->out);
	msgpack_sbuffer_init(&c->spec);
	msgpack_packer_init(&c->pk, &c->out, msgpack_sbuffer_write);
	int r = gd_decoder_new(JB_MAX_MESSAGE, &c->dec);
	if (r < 0)
		r = jb_fail(e, r, "out of memory");
	if (r == 0)
		r = pack_spec(c, pipeline, e);
	if (r == 0 && (r = jb_connect(path, e)) >= 0) {
		c->fd = r;
		r = hello(c, e);
	}
	if (r < 0) {
		jb_gd_close(c);
		return r;
	}
	*ret = c;
	return 0;
}

void jb_gd_close(jb_gd *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	gd_decoder_free(c->dec);
	msgpack_sbuffer_destroy(&c->out);
	msgpack_sbuffer_destroy(&c->spec);
	free(c);
}

/* submit [spec, {}] -> the job's id. */
static int submit(jb_gd *c, uint64_t *id, jb_error *e)
{
	gd_message m = {0};
	int r = gd_proto_pack_request(&c->pk, ++c->msgid, "submit", 2);
	if (!r)
		r = msgpack_sbuffer_write(&c->out, c->spec.data, c->spec.size) |
		    msgpack_pack_map(&c->pk, 0) ? -ENOMEM : 0;
	if (r)
		return jb_fail(e, r, "submit: out of memory");
	if ((r = call(c, "submit", &m, e)) < 0)
		return r;
	*id = map_u64(m.result, "id");
	gd_message_free(&m);
	return *id ? 0 : jb_fail(e, -EPROTO, "submit: no job id in the result");
}

static void read_status(const msgpack_object *st, jb_gd_status *ret)
{
	memset(ret, 0, sizeof *ret);
	const msgpack_object *s = gd_proto_map_get(st, "state");
	if (s && s->type == MSGPACK_OBJECT_STR && s->via.str.size < sizeof ret->state)
		memcpy(ret->state, s->via.str.ptr, s->via.str.size);
	ret->count = map_u64(st, "count");
	ret->errors_total = map_u64(st, "errors_total");
	const msgpack_object *stages = gd_proto_map_get(st, "stages");
	if (!stages || stages->type != MSGPACK_OBJECT_ARRAY)
		return;
	ret->nstages = stages->via.array.size;
	for (uint32_t i = 0; i < ret->nstages && i < 8; i++)
		ret->stage_in[i] = map_u64(&stages->via.array.ptr[i], "items_in");
}

int jb_gd_submit_wait(jb_gd *c, jb_gd_status *ret, jb_error *e)
{
	uint64_t id;
	int r = submit(c, &id, e);
	if (r < 0)
		return r;
	gd_message m = {0};
	r = gd_proto_pack_request(&c->pk, ++c->msgid, "wait", 1);
	if (r || msgpack_pack_uint64(&c->pk, id))
		return jb_fail(e, -ENOMEM, "wait: out of memory");
	if ((r = call(c, "wait", &m, e)) < 0)
		return r;
	jb_gd_status st;
	read_status(m.result, ret ? ret : &st);
	gd_message_free(&m);
	if (!ret && strcmp(st.state, "succeeded") != 0)
		return jb_fail(e, -EPROTO, "job %llu ended %s", (unsigned long long)id, st.state);
	return 0;
}
