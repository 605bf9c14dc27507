/* proto.c — the MessagePack-RPC codec of godaemon (see proto.h and
 * docs/protocol.md).
 *
 * Decoding happens in two steps:
 *  1. scan: an incremental reader of MessagePack *headers* only (type byte
 *     and length fields) finds where the current frame ends.  It keeps a
 *     stack of "elements still expected" per open container and the number
 *     of elements declared but not yet seen; since every element takes at
 *     least one byte, (bytes scanned + elements pending) is a lower bound of
 *     the frame's size, and the frame is refused as soon as that bound (or a
 *     declared string/binary length) passes the limit.  Payload bytes are
 *     never interpreted here.
 *  2. decode: only a complete frame of at most max_size bytes is copied out
 *     and handed to msgpack_unpack_next(), whose allocations are therefore
 *     bounded by the frame's real size; then the RPC shape is validated.
 *
 * Invariants of gd_decoder: buf[off..len) holds the unreturned bytes; the
 * current frame starts at off and its first `scan` bytes have been scanned;
 * depth/left/pending describe the containers open at buf[off + scan];
 * `complete` says a whole frame of `scan` bytes is ready; `failed` is a
 * sticky fatal error.  Once everything is returned, a buffer grown past
 * DECODER_KEEP bytes is freed, so one big message does not pin its size.
 * No locking: one owner at a time.
 */
#include "config.h"
#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * Error codes
 * ====================================================================== */

static const struct {
	int code;
	const char *name;
	int err;
	const char *desc;
} error_table[] = {
#define GD_X_(code, name, err, desc) {code, #name, err, desc},
	GD_PROTO_ERRORS(GD_X_)
#undef GD_X_
};

enum { N_ERRORS = sizeof error_table / sizeof error_table[0] };

gd_proto_code gd_proto_code_from_errno(int neg_errno)
{
	if (neg_errno == -EPERM)
		return GD_E_PERMISSION_DENIED;
	if (neg_errno == -EWOULDBLOCK)
		return GD_E_QUEUE_FULL;
	for (int i = 0; i < N_ERRORS; i++)
		if (-error_table[i].err == neg_errno)
			return (gd_proto_code)error_table[i].code;
	return GD_E_INTERNAL;
}

int gd_proto_code_errno(int code)
{
	for (int i = 0; i < N_ERRORS; i++)
		if (error_table[i].code == code)
			return -error_table[i].err;
	return -EIO;
}

const char *gd_proto_code_name(int code)
{
	for (int i = 0; i < N_ERRORS; i++)
		if (error_table[i].code == code)
			return error_table[i].name;
	return NULL;
}

const char *gd_proto_code_description(int code)
{
	for (int i = 0; i < N_ERRORS; i++)
		if (error_table[i].code == code)
			return error_table[i].desc;
	return NULL;
}

int gd_proto_fail(gd_proto_error *ret, int code, const char *fmt, ...)
{
	if (ret) {
		va_list ap;
		ret->code = code;
		va_start(ap, fmt);
		vsnprintf(ret->message, sizeof ret->message, fmt, ap);
		va_end(ap);
	}
	return gd_proto_code_errno(code);
}

/* ======================================================================
 * Methods
 * ====================================================================== */

static const struct {
	const char *name;
	gd_method_dir dir;
	const char *params;
} method_table[GD_METHOD_COUNT_] = {
#define GD_X_(id, name, dir, params, summary) [GD_METHOD_##id] = {name, dir, params},
	GD_PROTO_METHODS(GD_X_)
#undef GD_X_
};

gd_method gd_proto_method_lookup(const char *name, size_t len)
{
	for (int m = GD_METHOD_UNKNOWN + 1; m < GD_METHOD_COUNT_; m++) {
		const char *n = method_table[m].name;
		if (strlen(n) == len && memcmp(n, name, len) == 0)
			return (gd_method)m;
	}
	return GD_METHOD_UNKNOWN;
}

static bool method_in_table(gd_method m)
{
	return m > GD_METHOD_UNKNOWN && m < GD_METHOD_COUNT_;
}

const char *gd_proto_method_name(gd_method m)
{
	return method_in_table(m) ? method_table[m].name : NULL;
}

gd_method_dir gd_proto_method_dir(gd_method m)
{
	return method_in_table(m) ? method_table[m].dir : GD_DIR_CALL;
}

const char *gd_proto_method_params(gd_method m)
{
	return method_in_table(m) ? method_table[m].params : NULL;
}

/* ======================================================================
 * Scanning: where does the current frame end?
 * ====================================================================== */

/* Buffer capacity a decoder keeps once it is empty; more is freed. */
enum { DECODER_KEEP = 64 * 1024 };

struct gd_decoder {
	char *buf;          /* buf[off..len) unreturned bytes */
	size_t off, len, cap;
	size_t max;         /* frame size limit */
	size_t scan;        /* bytes of the current frame scanned */
	uint64_t pending;   /* elements declared by open containers, not yet seen */
	uint32_t depth;     /* open non-empty containers */
	uint64_t left[GD_PROTO_MAX_DEPTH]; /* elements still expected per level */
	bool complete;      /* buf[off..off+scan) is a whole frame */
	int failed;         /* sticky fatal error, 0 if none */
	gd_proto_error fail_err;
};

/* One MessagePack header: its own length, the payload bytes after it and
 * the number of elements it opens (2n for a map of n pairs). */
struct hdr {
	size_t hlen;
	uint64_t payload;
	uint64_t count;
};

static uint64_t be_read(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Header shape by type byte for 0xc0..0xdf: bytes of the length field, fixed
 * payload, and what the length counts (0 payload bytes, 1 elements, 2 pairs,
 * 3 ext: payload plus a type byte). -1: never used (0xc1). */
static const struct {
	int8_t lenbytes;
	int8_t fixed;
	int8_t kind;
} hdr_table[32] = {
	[0x00] = {0, 0, 0},  [0x01] = {-1, 0, 0}, [0x02] = {0, 0, 0},  [0x03] = {0, 0, 0},
	[0x04] = {1, 0, 0},  [0x05] = {2, 0, 0},  [0x06] = {4, 0, 0},  [0x07] = {1, 0, 3},
	[0x08] = {2, 0, 3},  [0x09] = {4, 0, 3},  [0x0a] = {0, 4, 0},  [0x0b] = {0, 8, 0},
	[0x0c] = {0, 1, 0},  [0x0d] = {0, 2, 0},  [0x0e] = {0, 4, 0},  [0x0f] = {0, 8, 0},
	[0x10] = {0, 1, 0},  [0x11] = {0, 2, 0},  [0x12] = {0, 4, 0},  [0x13] = {0, 8, 0},
	[0x14] = {0, 2, 0},  [0x15] = {0, 3, 0},  [0x16] = {0, 5, 0},  [0x17] = {0, 9, 0},
	[0x18] = {0, 17, 0}, [0x19] = {1, 0, 0},  [0x1a] = {2, 0, 0},  [0x1b] = {4, 0, 0},
	[0x1c] = {2, 0, 1},  [0x1d] = {4, 0, 1},  [0x1e] = {2, 0, 2},  [0x1f] = {4, 0, 2},
};

/* Parses the header at p (avail bytes): 1 done, 0 needs more bytes,
 * -EBADMSG for the unused type byte 0xc1. */
static int parse_header(const uint8_t *p, size_t avail, struct hdr *h)
{
	if (avail == 0)
		return 0;
	uint8_t b = p[0];
	*h = (struct hdr){1, 0, 0};
	if (b <= 0x7f || b >= 0xe0)
		return 1;                                 /* fixint */
	if (b <= 0x8f) { h->count = 2u * (b & 0x0f); return 1; } /* fixmap */
	if (b <= 0x9f) { h->count = b & 0x0f; return 1; }        /* fixarray */
	if (b <= 0xbf) { h->payload = b & 0x1f; return 1; }      /* fixstr */
	int lb = hdr_table[b - 0xc0].lenbytes, kind = hdr_table[b - 0xc0].kind;
	if (lb < 0)
		return -EBADMSG;
	h->hlen = 1 + (size_t)lb + (kind == 3);
	if (avail < h->hlen)
		return 0;
	uint64_t n = be_read(p + 1, lb);
	h->payload = kind == 0 || kind == 3 ? n + (uint64_t)hdr_table[b - 0xc0].fixed : 0;
	h->count = kind == 1 ? n : kind == 2 ? 2 * n : 0;
	return 1;
}

static int dec_fail(gd_decoder *d, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int dec_fail(gd_decoder *d, int code, const char *fmt, ...)
{
	va_list ap;
	d->fail_err.code = code;
	va_start(ap, fmt);
	vsnprintf(d->fail_err.message, sizeof d->fail_err.message, fmt, ap);
	va_end(ap);
	d->failed = gd_proto_code_errno(code);
	return d->failed;
}

/* Accounts one object that opens `count` elements. */
static int scan_account(gd_decoder *d, uint64_t count)
{
	if (d->depth > 0) {
		d->left[d->depth - 1]--;
		d->pending--;
	}
	if (count > 0) {
		if (d->depth == GD_PROTO_MAX_DEPTH)
			return dec_fail(d, GD_E_INVALID_MESSAGE,
			                "arrays and maps nested deeper than %d levels",
			                GD_PROTO_MAX_DEPTH);
		d->left[d->depth++] = count;
		d->pending += count;
	}
	while (d->depth > 0 && d->left[d->depth - 1] == 0)
		d->depth--;
	d->complete = d->depth == 0;
	return 0;
}

/* Scans on from buf[off + scan]: 1 a frame is complete, 0 needs more bytes,
 * <0 fatal (stored in d->failed). */
static int scan_frame(gd_decoder *d)
{
	while (!d->complete) {
		const uint8_t *p = (const uint8_t *)d->buf + d->off + d->scan;
		size_t avail = d->len - d->off - d->scan;
		struct hdr h;
		int r = parse_header(p, avail, &h);
		if (r < 0)
			return dec_fail(d, GD_E_INVALID_MESSAGE,
			                "byte 0xc1 at offset %zu is not valid MessagePack", d->scan);
		if (r == 0)
			return 0;
		/* Lower bound of the frame: scanned, this object, one byte per
		 * element still pending after it. */
		uint64_t bound = (uint64_t)d->scan + h.hlen + h.payload + d->pending - (d->depth > 0) +
		                 h.count;
		if (h.payload > d->max || h.count > d->max || bound > d->max)
			return dec_fail(d, GD_E_MESSAGE_TOO_LARGE,
			                "message exceeds the maximum message size of %zu bytes", d->max);
		if (h.hlen + h.payload > avail)
			return 0;
		d->scan += h.hlen + (size_t)h.payload;
		if ((r = scan_account(d, h.count)) < 0)
			return r;
	}
	return 1;
}

/* ======================================================================
 * Validation of a decoded frame
 * ====================================================================== */

static const char *type_name(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return "nil";
	case MSGPACK_OBJECT_BOOLEAN: return "boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER: return "unsigned integer";
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return "float";
	case MSGPACK_OBJECT_STR: return "string";
	case MSGPACK_OBJECT_BIN: return "binary";
	case MSGPACK_OBJECT_ARRAY: return "array";
	case MSGPACK_OBJECT_MAP: return "map";
	case MSGPACK_OBJECT_EXT: return "ext";
	}
	return "unknown";
}

#define shape_fail(err, ...) gd_proto_fail((err), GD_E_INVALID_REQUEST, __VA_ARGS__)

static int read_msgid(const msgpack_object *o, gd_message *m, gd_proto_error *err)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
		return shape_fail(err, "msgid must be an unsigned 32-bit integer, got %s",
		                  o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? "a larger integer"
		                                                             : type_name(o));
	m->has_msgid = true;
	m->msgid = (uint32_t)o->via.u64;
	return 0;
}

/* method and params of a request (e = elements 2, 3) or notification (1, 2). */
static int read_call(const msgpack_object *e, gd_message *m, gd_proto_error *err)
{
	if (e[0].type != MSGPACK_OBJECT_STR)
		return shape_fail(err, "method must be a string, got %s", type_name(&e[0]));
	if (e[1].type != MSGPACK_OBJECT_ARRAY)
		return shape_fail(err, "params must be an array, got %s", type_name(&e[1]));
	m->method_name = e[0].via.str.ptr;
	m->method_len = e[0].via.str.size;
	m->method = gd_proto_method_lookup(m->method_name, m->method_len);
	m->params = &e[1];
	return 0;
}

static const char *const shape_names[] = {
	[GD_MSG_REQUEST] = "a request has 4 elements [0, msgid, method, params]",
	[GD_MSG_RESPONSE] = "a response has 4 elements [1, msgid, error, result]",
	[GD_MSG_NOTIFICATION] = "a notification has 3 elements [2, method, params]",
};

static int validate(gd_message *m, gd_proto_error *err)
{
	const msgpack_object *o = &m->root;
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return shape_fail(err, "a message must be an array, got %s", type_name(o));
	const msgpack_object *e = o->via.array.ptr;
	uint32_t n = o->via.array.size;
	if (n == 0 || e[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || e[0].via.u64 > 2)
		return shape_fail(err, "the first element must be the message type "
		                       "0 (request), 1 (response) or 2 (notification)");
	m->type = (gd_msg_type)e[0].via.u64;
	uint32_t want = m->type == GD_MSG_NOTIFICATION ? 3 : 4;
	if (n != want)
		return shape_fail(err, "%s, got %u", shape_names[m->type], n);
	if (m->type == GD_MSG_NOTIFICATION)
		return read_call(&e[1], m, err);
	int r = read_msgid(&e[1], m, err);
	if (r < 0 || m->type == GD_MSG_REQUEST)
		return r < 0 ? r : read_call(&e[2], m, err);
	m->error = &e[2];
	m->result = &e[3];
	return 0;
}

void gd_message_free(gd_message *m)
{
	if (m->zone_)
		msgpack_zone_free(m->zone_);
	free(m->frame_);
	memset(m, 0, sizeof *m);
}

/* Decodes the whole frame data[0..len) (already delimited and bounded). */
static int decode_frame(const char *data, size_t len, gd_message *ret, gd_proto_error *err)
{
	memset(ret, 0, sizeof *ret);
	ret->frame_ = malloc(len);
	if (!ret->frame_)
		return gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory for a %zu-byte message", len);
	memcpy(ret->frame_, data, len);
	ret->size = len;
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	msgpack_unpack_return ur = msgpack_unpack_next(&u, ret->frame_, len, &off);
	ret->zone_ = msgpack_unpacked_release_zone(&u);
	ret->root = u.data;
	msgpack_unpacked_destroy(&u);
	int r;
	if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
		r = gd_proto_fail(err, GD_E_NO_MEMORY, "out of memory decoding a %zu-byte message", len);
	else if (ur != MSGPACK_UNPACK_SUCCESS || off != len)
		r = gd_proto_fail(err, GD_E_INVALID_MESSAGE, "the message is not valid MessagePack");
	else if ((r = validate(ret, err)) == 0)
		return 0;
	/* Keep what validate() could read of the shape; free the rest. */
	gd_message shape = {.type = ret->type, .has_msgid = ret->has_msgid, .msgid = ret->msgid};
	gd_message_free(ret);
	*ret = shape;
	return r;
}

/* ======================================================================
 * The streaming decoder
 * ====================================================================== */

int gd_decoder_new(size_t max_size, gd_decoder **ret)
{
	if (max_size < GD_PROTO_MESSAGE_SIZE_MIN || max_size > GD_PROTO_MESSAGE_SIZE_MAX)
		return -EINVAL;
	gd_decoder *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->max = max_size;
	*ret = d;
	return 0;
}

void gd_decoder_free(gd_decoder *d)
{
	if (!d)
		return;
	free(d->buf);
	free(d);
}

static void copy_err(gd_proto_error *dst, const gd_proto_error *src)
{
	if (dst)
		*dst = *src;
}

/* Room for n more bytes at the end: slide the unreturned bytes to the
 * front, then grow. */
static int make_room(gd_decoder *d, size_t n)
{
	if (d->off > 0 && d->cap - d->len < n) {
		memmove(d->buf, d->buf + d->off, d->len - d->off);
		d->len -= d->off;
		d->off = 0;
	}
	if (d->cap - d->len >= n)
		return 0;
	size_t cap = d->cap ? d->cap : 4096;
	while (cap - d->len < n)
		cap *= 2;
	char *b = realloc(d->buf, cap);
	if (!b)
		return dec_fail(d, GD_E_NO_MEMORY, "out of memory buffering %zu bytes", d->len + n);
	d->buf = b;
	d->cap = cap;
	return 0;
}

/* Everything buffered has been returned: start again at the front, and give
 * back a buffer grown large by a big message. */
static void drained(gd_decoder *d)
{
	d->off = d->len = 0;
	if (d->cap > DECODER_KEEP) {
		free(d->buf);
		d->buf = NULL;
		d->cap = 0;
	}
}

int gd_decoder_feed(gd_decoder *d, const void *data, size_t len, gd_proto_error *err)
{
	if (!d->failed && len > 0 && make_room(d, len) == 0) {
		memcpy(d->buf + d->len, data, len);
		d->len += len;
		scan_frame(d);
	}
	if (d->failed)
		copy_err(err, &d->fail_err);
	return d->failed;
}

int gd_decoder_next(gd_decoder *d, gd_message *ret, gd_proto_error *err)
{
	if (!d->failed && d->len == d->off)
		return 0;
	int r = d->failed ? d->failed : scan_frame(d);
	if (r < 0) {
		copy_err(err, &d->fail_err);
		return r;
	}
	if (r == 0)
		return 0;
	size_t start = d->off, n = d->scan;
	d->off += n;
	d->scan = 0;
	d->pending = 0;
	d->complete = false;
	gd_proto_error e;
	r = decode_frame(d->buf + start, n, ret, &e);
	if (d->off == d->len)
		drained(d);
	if (r < 0)
		copy_err(err, &e);
	if (r < 0 && r != -EPROTO) {
		d->fail_err = e;
		d->failed = r;
	}
	return r < 0 ? r : 1;
}

size_t gd_decoder_buffered(const gd_decoder *d)
{
	return d->len - d->off;
}

size_t gd_decoder_memory(const gd_decoder *d)
{
	return sizeof *d + d->cap;
}

int gd_proto_decode(const void *data, size_t len, size_t max_size, gd_message *ret,
                    gd_proto_error *err)
{
	gd_decoder d = {.buf = (char *)data, .len = len, .cap = len, .max = max_size};
	int r = scan_frame(&d);
	if (r == 0 || (r > 0 && d.scan != len))
		return gd_proto_fail(err, GD_E_INVALID_MESSAGE, "%s",
		                     r == 0 ? "the message is truncated"
		                            : "bytes follow the end of the message");
	if (r < 0) {
		copy_err(err, &d.fail_err);
		return r;
	}
	return decode_frame(data, len, ret, err);
}

/* ======================================================================
 * Requests: method and parameter checks, version negotiation
 * ====================================================================== */

static bool type_matches(char t, const msgpack_object *o)
{
	switch (t) {
	case 'u': return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
	case 'i': return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		         o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
	case 's': return o->type == MSGPACK_OBJECT_STR;
	case 'b': return o->type == MSGPACK_OBJECT_BOOLEAN;
	case 'a': return o->type == MSGPACK_OBJECT_ARRAY;
	case 'm': return o->type == MSGPACK_OBJECT_MAP;
	default: return true;
	}
}

static const char *type_word(char t)
{
	switch (t) {
	case 'u': return "an unsigned integer";
	case 'i': return "an integer";
	case 's': return "a string";
	case 'b': return "a boolean";
	case 'a': return "an array";
	case 'm': return "a map";
	default: return "anything";
	}
}

/* Checks params against a signature "name:t name:t ...". */
static int check_params(const char *method, const char *sig, const msgpack_object *params,
                        gd_proto_error *err)
{
	uint32_t n = params->via.array.size, i = 0;
	const char *s = sig;
	while (*s) {
		size_t nlen = strcspn(s, ":");
		char t = s[nlen + 1];
		if (i < n && !type_matches(t, &params->via.array.ptr[i]))
			return gd_proto_fail(err, GD_E_INVALID_PARAMS,
			                     "%s: parameter %u (%.*s) must be %s, got %s", method, i + 1,
			                     (int)nlen, s, type_word(t),
			                     type_name(&params->via.array.ptr[i]));
		i++;
		s += nlen + 2;
		s += *s == ' ';
	}
	if (n != i)
		return gd_proto_fail(err, GD_E_INVALID_PARAMS, "%s: expected %u parameter%s (%s), got %u",
		                     method, i, i == 1 ? "" : "s", *sig ? sig : "none", n);
	return 0;
}

void gd_proto_printable(char *dst, size_t size, const char *src, size_t len)
{
	size_t n = len < size - 1 ? len : size - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[n] = '\0';
}

int gd_proto_check_request(const gd_message *m, gd_proto_error *err)
{
	if (m->type != GD_MSG_REQUEST || !method_in_table(m->method) ||
	    method_table[m->method].dir != GD_DIR_CALL) {
		char name[65];
		gd_proto_printable(name, sizeof name, m->method_name ? m->method_name : "",
		                   m->method_len);
		return gd_proto_fail(err, GD_E_UNKNOWN_METHOD, "unknown method \"%s\"%s", name,
		                     method_in_table(m->method) ? " (a server notification)" : "");
	}
	const char *name = method_table[m->method].name;
	return check_params(name, method_table[m->method].params, m->params, err);
}

int gd_proto_negotiate(uint64_t client_version, uint32_t *ret, gd_proto_error *err)
{
	if (client_version < GD_PROTO_VERSION_MIN)
		return gd_proto_fail(err, GD_E_PROTOCOL_VERSION,
		                     "protocol version %llu is not supported (this server speaks %d to %d)",
		                     (unsigned long long)client_version, GD_PROTO_VERSION_MIN,
		                     GD_PROTO_VERSION);
	*ret = client_version < GD_PROTO_VERSION ? (uint32_t)client_version : GD_PROTO_VERSION;
	return 0;
}

/* ======================================================================
 * Encoders
 * ====================================================================== */

int gd_pk_str(msgpack_packer *pk, const char *s)
{
	return msgpack_pack_str_with_body(pk, s, strlen(s));
}

int gd_pk_kv_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
	return gd_pk_str(pk, key) | msgpack_pack_uint64(pk, v);
}

static int pk_done(int r)
{
	return r ? -ENOMEM : 0;
}

int gd_proto_pack_request(msgpack_packer *pk, uint32_t msgid, const char *method,
                          uint32_t nparams)
{
	return pk_done(msgpack_pack_array(pk, 4) | msgpack_pack_uint32(pk, GD_MSG_REQUEST) |
	               msgpack_pack_uint32(pk, msgid) | gd_pk_str(pk, method) |
	               msgpack_pack_array(pk, nparams));
}

int gd_proto_pack_response_ok(msgpack_packer *pk, uint32_t msgid)
{
	return pk_done(msgpack_pack_array(pk, 4) | msgpack_pack_uint32(pk, GD_MSG_RESPONSE) |
	               msgpack_pack_uint32(pk, msgid) | msgpack_pack_nil(pk));
}

int gd_proto_pack_error_object(msgpack_packer *pk, const gd_proto_error *e)
{
	const char *name = gd_proto_code_name(e->code);
	return pk_done(msgpack_pack_map(pk, 3) | gd_pk_str(pk, "code") | msgpack_pack_int(pk, e->code) |
	               gd_pk_str(pk, "name") | gd_pk_str(pk, name ? name : "INTERNAL") |
	               gd_pk_str(pk, "message") | gd_pk_str(pk, e->message));
}

int gd_proto_pack_response_error(msgpack_packer *pk, uint32_t msgid, const gd_proto_error *e)
{
	int r = msgpack_pack_array(pk, 4) | msgpack_pack_uint32(pk, GD_MSG_RESPONSE) |
	        msgpack_pack_uint32(pk, msgid);
	return pk_done(r | gd_proto_pack_error_object(pk, e) | msgpack_pack_nil(pk));
}

int gd_proto_pack_notification(msgpack_packer *pk, const char *method, uint32_t nparams)
{
	return pk_done(msgpack_pack_array(pk, 3) | msgpack_pack_uint32(pk, GD_MSG_NOTIFICATION) |
	               gd_pk_str(pk, method) | msgpack_pack_array(pk, nparams));
}

int gd_proto_pack_fatal(msgpack_packer *pk, const gd_proto_error *e)
{
	return pk_done(gd_proto_pack_notification(pk, method_table[GD_METHOD_ERROR].name, 1) |
	               gd_proto_pack_error_object(pk, e));
}

const msgpack_object *gd_proto_map_get(const msgpack_object *o, const char *key)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return NULL;
	size_t klen = strlen(key);
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    memcmp(k->via.str.ptr, key, klen) == 0)
			return &o->via.map.ptr[i].val;
	}
	return NULL;
}

int gd_proto_error_from_object(const msgpack_object *o, gd_proto_error *ret)
{
	const msgpack_object *code = gd_proto_map_get(o, "code");
	const msgpack_object *msg = gd_proto_map_get(o, "message");
	if (!code || !msg || code->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    code->via.u64 > INT32_MAX || msg->type != MSGPACK_OBJECT_STR)
		return -EPROTO;
	ret->code = (int)code->via.u64;
	gd_proto_printable(ret->message, sizeof ret->message, msg->via.str.ptr, msg->via.str.size);
	return 0;
}

int gd_proto_pack_version_result(msgpack_packer *pk, const char *version)
{
	return pk_done(msgpack_pack_map(pk, 3) | gd_pk_str(pk, "server") | gd_pk_str(pk, PACKAGE_NAME) |
	               gd_pk_str(pk, "version") | gd_pk_str(pk, version) |
	               gd_pk_kv_u64(pk, "protocol", GD_PROTO_VERSION));
}

int gd_proto_pack_hello_result(msgpack_packer *pk, const gd_server_info *info)
{
	int r = msgpack_pack_map(pk, 6) | gd_pk_str(pk, "server") | gd_pk_str(pk, PACKAGE_NAME) |
	        gd_pk_str(pk, "version") | gd_pk_str(pk, info->version) |
	        gd_pk_kv_u64(pk, "protocol", info->protocol) |
	        gd_pk_kv_u64(pk, "max_message_size", info->max_message_size) |
	        gd_pk_kv_u64(pk, "max_inflight", info->max_inflight);
	r |= gd_pk_str(pk, "peer") | msgpack_pack_map(pk, 3) | gd_pk_kv_u64(pk, "uid", info->peer_uid) |
	     gd_pk_kv_u64(pk, "gid", info->peer_gid) | gd_pk_str(pk, "pid") |
	     msgpack_pack_int64(pk, info->peer_pid);
	return pk_done(r);
}

int gd_proto_pack_ping_result(msgpack_packer *pk)
{
	return pk_done(gd_pk_str(pk, "pong"));
}

static int pack_runtime(msgpack_packer *pk, const gort_stats *rt)
{
	int procs = rt->procs < 0 ? 0 : rt->procs > GORT_MAX_PROCS ? GORT_MAX_PROCS : rt->procs;
	int r = msgpack_pack_map(pk, 11) |
	        gd_pk_kv_u64(pk, "goroutines_live", rt->goroutines_live) |
	        gd_pk_kv_u64(pk, "goroutines_created", rt->goroutines_created) |
	        gd_pk_kv_u64(pk, "context_switches", rt->context_switches) |
	        gd_pk_kv_u64(pk, "steals", rt->steals) | gd_pk_kv_u64(pk, "parks", rt->parks) |
	        gd_pk_kv_u64(pk, "stacks_cached", rt->stacks_cached) |
	        gd_pk_kv_u64(pk, "stacks_mapped", rt->stacks_mapped) |
	        gd_pk_kv_u64(pk, "procs", (uint64_t)procs) |
	        gd_pk_kv_u64(pk, "threads", rt->threads < 0 ? 0 : (uint64_t)rt->threads) |
	        gd_pk_kv_u64(pk, "global_runq_len", rt->global_runq_len);
	r |= gd_pk_str(pk, "runq_len") | msgpack_pack_array(pk, (size_t)procs);
	for (int i = 0; i < procs; i++)
		r |= msgpack_pack_uint32(pk, rt->runq_len[i]);
	return r;
}

int gd_proto_pack_stats_result(msgpack_packer *pk, const gort_stats *rt, const gd_counters *c)
{
	int r = msgpack_pack_map(pk, 2) | gd_pk_str(pk, "runtime") | pack_runtime(pk, rt);
	r |= gd_pk_str(pk, "daemon") | msgpack_pack_map(pk, 4) |
	     gd_pk_kv_u64(pk, "connections", c->connections) |
	     gd_pk_kv_u64(pk, "connections_total", c->connections_total) |
	     gd_pk_kv_u64(pk, "requests", c->requests) | gd_pk_kv_u64(pk, "errors", c->errors);
	return pk_done(r);
}
