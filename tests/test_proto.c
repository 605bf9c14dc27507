/* test_proto.c — godaemon's MessagePack-RPC codec (daemon/proto.c): every
 * message kind round-trips; the streaming decoder delimits frames fed in any
 * split, refuses oversized frames before buffering them, reports malformed
 * bytes and wrong shapes precisely and stays in step after a bad shape;
 * method and parameter checks; error-code mapping; encoders report a failed
 * write. */
#include "config.h"
#include "harness.h"
#include "proto.h"

#include <errno.h>
#include <string.h>

enum { MAX = 64 * 1024 };

/* A packer writing into a fresh sbuffer. */
struct out {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void out_init(struct out *o)
{
	msgpack_sbuffer_init(&o->sb);
	msgpack_packer_init(&o->pk, &o->sb, msgpack_sbuffer_write);
}

static void out_reset(struct out *o)
{
	msgpack_sbuffer_clear(&o->sb);
}

static bool str_is(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       memcmp(o->via.str.ptr, s, strlen(s)) == 0;
}

static uint64_t map_u64(const msgpack_object *map, const char *key)
{
	const msgpack_object *v = gd_proto_map_get(map, key);
	ck_assert_msg(v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "key %s", key);
	return v->via.u64;
}

/* Decodes buf as exactly one message (must succeed). */
static void decode_one(const struct out *o, gd_message *m)
{
	gd_proto_error err;
	int r = gd_proto_decode(o->sb.data, o->sb.size, MAX, m, &err);
	ck_assert_msg(r == 0, "decode: %d %s", r, err.message);
}

/* Decodes raw bytes through a decoder: the return of gd_decoder_next. */
static int decode_raw(const void *p, size_t n, gd_message *m, gd_proto_error *err)
{
	gd_decoder *d;
	ck_assert_int_eq(gd_decoder_new(MAX, &d), 0);
	int r = gd_decoder_feed(d, p, n, err);
	if (r == 0)
		r = gd_decoder_next(d, m, err);
	gd_decoder_free(d);
	return r;
}

/* ---- round trips ---------------------------------------------------------- */

START_TEST(request_round_trips)
{
	struct out o;
	out_init(&o);
	ck_assert_int_eq(gd_proto_pack_request(&o.pk, 4000000000u, "hello", 2), 0);
	msgpack_pack_uint32(&o.pk, 1);
	msgpack_pack_str_with_body(&o.pk, "goctl", 5);
	gd_message m;
	decode_one(&o, &m);
	ck_assert_int_eq(m.type, GD_MSG_REQUEST);
	ck_assert(m.has_msgid);
	ck_assert_uint_eq(m.msgid, 4000000000u);
	ck_assert_int_eq(m.method, GD_METHOD_HELLO);
	ck_assert_uint_eq(m.params->via.array.size, 2);
	ck_assert(str_is(&m.params->via.array.ptr[1], "goctl"));
	ck_assert_uint_eq(m.size, o.sb.size);
	ck_assert_int_eq(gd_proto_check_request(&m, NULL), 0);
	gd_message_free(&m);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

START_TEST(responses_round_trip)
{
	struct out o;
	out_init(&o);
	ck_assert_int_eq(gd_proto_pack_response_ok(&o.pk, 7), 0);
	ck_assert_int_eq(gd_proto_pack_ping_result(&o.pk), 0);
	gd_message m;
	decode_one(&o, &m);
	ck_assert_int_eq(m.type, GD_MSG_RESPONSE);
	ck_assert_uint_eq(m.msgid, 7);
	ck_assert_int_eq(m.method, GD_METHOD_NONE);
	ck_assert_int_eq(m.error->type, MSGPACK_OBJECT_NIL);
	ck_assert(str_is(m.result, "pong"));
	gd_message_free(&m);

	out_reset(&o);
	gd_proto_error e, back;
	gd_proto_fail(&e, GD_E_QUEUE_FULL, "queue full (%d jobs)", 3);
	ck_assert_int_eq(gd_proto_pack_response_error(&o.pk, 8, &e), 0);
	decode_one(&o, &m);
	ck_assert_uint_eq(m.msgid, 8);
	ck_assert_int_eq(m.result->type, MSGPACK_OBJECT_NIL);
	ck_assert_int_eq(gd_proto_error_from_object(m.error, &back), 0);
	ck_assert_int_eq(back.code, GD_E_QUEUE_FULL);
	ck_assert_str_eq(back.message, "queue full (3 jobs)");
	ck_assert(str_is(gd_proto_map_get(m.error, "name"), "QUEUE_FULL"));
	gd_message_free(&m);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

START_TEST(notifications_round_trip)
{
	struct out o;
	out_init(&o);
	ck_assert_int_eq(gd_proto_pack_notification(&o.pk, "progress", 1), 0);
	msgpack_pack_uint64(&o.pk, 42);
	gd_message m;
	decode_one(&o, &m);
	ck_assert_int_eq(m.type, GD_MSG_NOTIFICATION);
	ck_assert(!m.has_msgid);
	ck_assert_int_eq(m.method, GD_METHOD_UNKNOWN);
	ck_assert_uint_eq(m.method_len, 8);
	ck_assert_int_eq(memcmp(m.method_name, "progress", 8), 0);
	ck_assert_uint_eq(m.params->via.array.ptr[0].via.u64, 42);
	gd_message_free(&m);

	out_reset(&o);
	gd_proto_error e, back;
	gd_proto_fail(&e, GD_E_MESSAGE_TOO_LARGE, "too big");
	ck_assert_int_eq(gd_proto_pack_fatal(&o.pk, &e), 0);
	decode_one(&o, &m);
	ck_assert_int_eq(m.method, GD_METHOD_ERROR);
	ck_assert_int_eq(gd_proto_error_from_object(&m.params->via.array.ptr[0], &back), 0);
	ck_assert_int_eq(back.code, GD_E_MESSAGE_TOO_LARGE);
	ck_assert_str_eq(back.message, "too big");
	gd_message_free(&m);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

START_TEST(method_results_round_trip)
{
	struct out o;
	out_init(&o);
	gd_server_info info = {.version = "1.2.3", .protocol = 1, .max_message_size = 1 << 20,
	                       .max_inflight = 64, .peer_uid = 1000, .peer_gid = 100,
	                       .peer_pid = 4242};
	gd_message m;
	ck_assert_int_eq(gd_proto_pack_response_ok(&o.pk, 1), 0);
	ck_assert_int_eq(gd_proto_pack_hello_result(&o.pk, &info), 0);
	decode_one(&o, &m);
	ck_assert(str_is(gd_proto_map_get(m.result, "server"), PACKAGE_NAME));
	ck_assert(str_is(gd_proto_map_get(m.result, "version"), "1.2.3"));
	ck_assert_uint_eq(map_u64(m.result, "protocol"), 1);
	ck_assert_uint_eq(map_u64(m.result, "max_message_size"), 1 << 20);
	ck_assert_uint_eq(map_u64(m.result, "max_inflight"), 64);
	const msgpack_object *peer = gd_proto_map_get(m.result, "peer");
	ck_assert_uint_eq(map_u64(peer, "uid"), 1000);
	ck_assert_uint_eq(map_u64(peer, "gid"), 100);
	ck_assert_uint_eq(map_u64(peer, "pid"), 4242);
	gd_message_free(&m);

	out_reset(&o);
	ck_assert_int_eq(gd_proto_pack_response_ok(&o.pk, 2), 0);
	ck_assert_int_eq(gd_proto_pack_version_result(&o.pk, PACKAGE_VERSION), 0);
	decode_one(&o, &m);
	ck_assert(str_is(gd_proto_map_get(m.result, "version"), PACKAGE_VERSION));
	ck_assert_uint_eq(map_u64(m.result, "protocol"), GD_PROTO_VERSION);
	gd_message_free(&m);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

START_TEST(stats_result_carries_every_counter)
{
	struct out o;
	out_init(&o);
	gort_stats rt = {.goroutines_live = 1, .goroutines_created = 2, .context_switches = 3,
	                 .steals = 4, .parks = 5, .stacks_cached = 6, .stacks_mapped = 7,
	                 .procs = 2, .threads = 3, .global_runq_len = 8};
	rt.runq_len[0] = 9;
	rt.runq_len[1] = 10;
	gd_counters c = {.connections = 11, .connections_total = 12, .requests = 13, .errors = 14};
	ck_assert_int_eq(gd_proto_pack_response_ok(&o.pk, 3), 0);
	ck_assert_int_eq(gd_proto_pack_stats_result(&o.pk, &rt, &c), 0);
	gd_message m;
	decode_one(&o, &m);
	const msgpack_object *r = gd_proto_map_get(m.result, "runtime");
	const char *keys[] = {"goroutines_live", "goroutines_created", "context_switches", "steals",
	                      "parks", "stacks_cached", "stacks_mapped"};
	for (unsigned i = 0; i < sizeof keys / sizeof keys[0]; i++)
		ck_assert_uint_eq(map_u64(r, keys[i]), i + 1);
	ck_assert_uint_eq(map_u64(r, "procs"), 2);
	ck_assert_uint_eq(map_u64(r, "threads"), 3);
	ck_assert_uint_eq(map_u64(r, "global_runq_len"), 8);
	const msgpack_object *q = gd_proto_map_get(r, "runq_len");
	ck_assert_uint_eq(q->via.array.size, 2);
	ck_assert_uint_eq(q->via.array.ptr[1].via.u64, 10);
	const msgpack_object *d = gd_proto_map_get(m.result, "daemon");
	ck_assert_uint_eq(map_u64(d, "connections"), 11);
	ck_assert_uint_eq(map_u64(d, "connections_total"), 12);
	ck_assert_uint_eq(map_u64(d, "requests"), 13);
	ck_assert_uint_eq(map_u64(d, "errors"), 14);
	gd_message_free(&m);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

/* ---- streaming ------------------------------------------------------------- */

/* Packs requests "ping" with msgids first..first+n-1, the middle one with a
 * large string parameter (so frames differ in size). */
static void pack_pings(struct out *o, uint32_t first, int n)
{
	for (int i = 0; i < n; i++) {
		bool big = i == n / 2;
		gd_proto_pack_request(&o->pk, first + (uint32_t)i, "ping", big);
		if (big) {
			char s[3000];
			memset(s, 'x', sizeof s);
			msgpack_pack_str_with_body(&o->pk, s, sizeof s);
		}
	}
}

static void expect_ping(gd_decoder *d, uint32_t msgid)
{
	gd_message m;
	gd_proto_error err;
	ck_assert_int_eq(gd_decoder_next(d, &m, &err), 1);
	ck_assert_uint_eq(m.msgid, msgid);
	ck_assert_int_eq(m.method, GD_METHOD_PING);
	gd_message_free(&m);
}

START_TEST(byte_by_byte_feeding_decodes_every_message)
{
	struct out o;
	out_init(&o);
	pack_pings(&o, 100, 5);
	gd_decoder *d;
	ck_assert_int_eq(gd_decoder_new(MAX, &d), 0);
	uint32_t next = 100;
	gd_message m;
	for (size_t i = 0; i < o.sb.size; i++) {
		ck_assert_int_eq(gd_decoder_feed(d, o.sb.data + i, 1, NULL), 0);
		int r;
		while ((r = gd_decoder_next(d, &m, NULL)) == 1) {
			ck_assert_uint_eq(m.msgid, next++);
			gd_message_free(&m);
		}
		ck_assert_int_eq(r, 0);
	}
	ck_assert_uint_eq(next, 105);
	ck_assert_uint_eq(gd_decoder_buffered(d), 0);
	gd_decoder_free(d);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

START_TEST(two_messages_in_one_buffer)
{
	struct out o;
	out_init(&o);
	pack_pings(&o, 1, 2);
	gd_decoder *d;
	gd_message m;
	ck_assert_int_eq(gd_decoder_new(MAX, &d), 0);
	ck_assert_int_eq(gd_decoder_feed(d, o.sb.data, o.sb.size, NULL), 0);
	expect_ping(d, 1);
	expect_ping(d, 2);
	ck_assert_int_eq(gd_decoder_next(d, &m, NULL), 0);
	gd_decoder_free(d);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

START_TEST(half_a_message_waits_for_the_rest)
{
	struct out o;
	out_init(&o);
	pack_pings(&o, 9, 1);
	gd_decoder *d;
	gd_message m;
	size_t half = o.sb.size / 2;
	ck_assert_int_eq(gd_decoder_new(MAX, &d), 0);
	ck_assert_int_eq(gd_decoder_next(d, &m, NULL), 0); /* nothing at all yet */
	ck_assert_int_eq(gd_decoder_feed(d, o.sb.data, half, NULL), 0);
	ck_assert_int_eq(gd_decoder_next(d, &m, NULL), 0);
	ck_assert_int_eq(gd_decoder_next(d, &m, NULL), 0);
	ck_assert_uint_eq(gd_decoder_buffered(d), half);
	ck_assert_int_eq(gd_decoder_feed(d, o.sb.data + half, o.sb.size - half, NULL), 0);
	expect_ping(d, 9);
	gd_decoder_free(d);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

START_TEST(message_outlives_its_decoder)
{
	struct out o;
	out_init(&o);
	ck_assert_int_eq(gd_proto_pack_notification(&o.pk, "log", 1), 0);
	msgpack_pack_str_with_body(&o.pk, "a line", 6);
	pack_pings(&o, 1, 1);
	gd_decoder *d;
	gd_message m;
	ck_assert_int_eq(gd_decoder_new(MAX, &d), 0);
	ck_assert_int_eq(gd_decoder_feed(d, o.sb.data, o.sb.size, NULL), 0);
	ck_assert_int_eq(gd_decoder_next(d, &m, NULL), 1);
	expect_ping(d, 1);
	ck_assert_int_eq(gd_decoder_feed(d, o.sb.data, o.sb.size, NULL), 0);
	gd_decoder_free(d);
	ck_assert(str_is(&m.params->via.array.ptr[0], "a line"));
	gd_message_free(&m);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

START_TEST(decoder_gives_back_the_memory_of_a_big_message)
{
	struct out o;
	out_init(&o);
	static char big[512 * 1024];
	gd_proto_pack_request(&o.pk, 1, "ping", 1);
	msgpack_pack_bin_with_body(&o.pk, big, sizeof big);
	gd_decoder *d;
	gd_message m;
	ck_assert_int_eq(gd_decoder_new(1 << 20, &d), 0);
	size_t idle = gd_decoder_memory(d);
	for (size_t off = 0; off < o.sb.size; off += 65536) {
		size_t n = o.sb.size - off < 65536 ? o.sb.size - off : 65536;
		ck_assert_int_eq(gd_decoder_feed(d, o.sb.data + off, n, NULL), 0);
	}
	ck_assert_uint_ge(gd_decoder_memory(d), sizeof big);
	ck_assert_int_eq(gd_decoder_next(d, &m, NULL), 1);
	gd_message_free(&m);
	ck_assert_uint_eq(gd_decoder_memory(d), idle);
	gd_decoder_free(d);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

/* ---- limits ---------------------------------------------------------------- */

START_TEST(declared_huge_string_is_refused_before_its_bytes)
{
	/* [0, 1, "ping", [<str32 of 1 GiB>...: only the headers are sent. */
	static const uint8_t head[] = {0x94, 0x00, 0x01, 0xa4, 'p', 'i', 'n', 'g', 0x91,
	                               0xdb, 0x40, 0x00, 0x00, 0x00};
	gd_decoder *d;
	gd_proto_error err;
	gd_message m;
	ck_assert_int_eq(gd_decoder_new(MAX, &d), 0);
	ck_assert_int_eq(gd_decoder_feed(d, head, sizeof head, &err), -EMSGSIZE);
	ck_assert_int_eq(err.code, GD_E_MESSAGE_TOO_LARGE);
	ck_assert_ptr_nonnull(strstr(err.message, "65536"));
	ck_assert_uint_le(gd_decoder_buffered(d), sizeof head);
	/* Sticky: the stream cannot be followed any more. */
	ck_assert_int_eq(gd_decoder_feed(d, "x", 1, &err), -EMSGSIZE);
	ck_assert_int_eq(gd_decoder_next(d, &m, &err), -EMSGSIZE);
	ck_assert_uint_le(gd_decoder_buffered(d), sizeof head);
	gd_decoder_free(d);
}
END_TEST

START_TEST(declared_huge_array_is_refused_at_its_header)
{
	static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t map32[] = {0x91, 0xdf, 0x80, 0x00, 0x00, 0x00};
	gd_proto_error err;
	gd_message m;
	ck_assert_int_eq(decode_raw(arr32, sizeof arr32, &m, &err), -EMSGSIZE);
	ck_assert_int_eq(decode_raw(map32, sizeof map32, &m, &err), -EMSGSIZE);
	ck_assert_int_eq(err.code, GD_E_MESSAGE_TOO_LARGE);
}
END_TEST

START_TEST(frame_over_the_limit_is_refused_while_arriving)
{
	/* An array16 of 65535 small elements (~192 KiB) against a 64 KiB limit,
	 * fed in 4 KiB chunks: refused before the limit plus one chunk. */
	static uint8_t frame[3 + 65535 * 3];
	frame[0] = 0xdc;
	frame[1] = frame[2] = 0xff;
	for (size_t i = 3; i < sizeof frame; i += 3) {
		frame[i] = 0xcd; /* uint16 */
		frame[i + 1] = 0x12;
		frame[i + 2] = 0x34;
	}
	gd_decoder *d;
	gd_proto_error err;
	ck_assert_int_eq(gd_decoder_new(MAX, &d), 0);
	size_t fed = 0;
	int r = 0;
	while (r == 0 && fed < sizeof frame) {
		size_t n = sizeof frame - fed < 4096 ? sizeof frame - fed : 4096;
		r = gd_decoder_feed(d, frame + fed, n, &err);
		fed += n;
	}
	ck_assert_int_eq(r, -EMSGSIZE);
	ck_assert_uint_le(fed, MAX + 4096);
	ck_assert_uint_le(gd_decoder_buffered(d), MAX + 4096);
	gd_decoder_free(d);
}
END_TEST

START_TEST(frame_exactly_at_the_limit_is_accepted)
{
	/* [0, 1, "ping", [<bin of the right size>]] totalling MAX bytes. */
	struct out o;
	out_init(&o);
	size_t hdr = 1 + 1 + 1 + 5 + 1 + 3; /* array, 0, 1, "ping", [, bin16 header */
	char *body = calloc(1, MAX - hdr);
	gd_proto_pack_request(&o.pk, 1, "ping", 1);
	msgpack_pack_bin(&o.pk, MAX - hdr);
	msgpack_pack_bin_body(&o.pk, body, MAX - hdr);
	ck_assert_uint_eq(o.sb.size, MAX);
	gd_message m;
	gd_proto_error err;
	ck_assert_int_eq(decode_raw(o.sb.data, o.sb.size, &m, &err), 1);
	gd_message_free(&m);
	msgpack_sbuffer_write(&o.sb, "", 1); /* one byte more: a parameter 0 */
	o.sb.data[8] = (char)0x92;           /* params now has two elements */
	ck_assert_int_eq(decode_raw(o.sb.data, o.sb.size, &m, &err), -EMSGSIZE);
	free(body);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

START_TEST(nesting_limit_matches_msgpack)
{
	/* [0, 1, "ping", [[[...[nil]...]]]]: the request and params are two
	 * levels; nest arrays up to exactly the limit, then one more. */
	for (int extra = 0; extra <= 1; extra++) {
		uint8_t buf[64];
		int nested = GD_PROTO_MAX_DEPTH - 2 + extra;
		memcpy(buf, "\x94\x00\x01\xa4ping\x91", 9);
		size_t n = 9;
		for (int i = 0; i < nested; i++)
			buf[n++] = 0x91;
		buf[n++] = 0xc0;
		gd_message m;
		gd_proto_error err;
		int r = decode_raw(buf, n, &m, &err);
		if (!extra) {
			ck_assert_msg(r == 1, "depth %d: %d %s", GD_PROTO_MAX_DEPTH, r, err.message);
			gd_message_free(&m);
		} else {
			ck_assert_int_eq(r, -EBADMSG);
			ck_assert_ptr_nonnull(strstr(err.message, "nested deeper"));
		}
	}
}
END_TEST

/* ---- malformed bytes and wrong shapes ------------------------------------ */

START_TEST(malformed_msgpack_is_fatal)
{
	static const uint8_t bad[] = {0x94, 0x00, 0x01, 0xc1};
	gd_proto_error err;
	gd_message m;
	ck_assert_int_eq(decode_raw(bad, sizeof bad, &m, &err), -EBADMSG);
	ck_assert_int_eq(err.code, GD_E_INVALID_MESSAGE);
	ck_assert_ptr_nonnull(strstr(err.message, "0xc1"));

	ck_assert_int_eq(gd_proto_decode("\x92\x01", 2, MAX, &m, &err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err.message, "truncated"));
	ck_assert_int_eq(gd_proto_decode("\xc0\xc0", 2, MAX, &m, &err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err.message, "follow"));
}
END_TEST

/* A table of frames with a wrong shape and what must be said about them. */
static const struct shape_case {
	const char *name;
	const char *bytes;
	size_t len;
	bool has_msgid;
	const char *says;
} shape_cases[] = {
#define B(s) s, sizeof s - 1
	{"not an array", B("\xa3hi!"), false, "must be an array, got string"},
	{"empty array", B("\x90"), false, "message type"},
	{"type 3", B("\x94\x03\x01\xa1x\x90"), false, "message type"},
	{"type negative", B("\x94\xff\x01\xa1x\x90"), false, "message type"},
	{"request of 3", B("\x93\x00\x01\xa1x"), false, "a request has 4 elements"},
	{"request of 5", B("\x95\x00\x01\xa1x\x90\xc0"), false, "got 5"},
	{"notification of 4", B("\x94\x02\xa1x\x90\xc0"), false, "a notification has 3"},
	{"response of 2", B("\x92\x01\x01"), false, "a response has 4"},
	{"msgid string", B("\x94\x00\xa1" "1\xa1x\x90"), false, "msgid must be an unsigned 32-bit integer, got string"},
	{"msgid negative", B("\x94\x00\xff\xa1x\x90"), false, "got negative integer"},
	{"msgid 2^32", B("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa1x\x90"), false, "larger integer"},
	{"msgid float", B("\x94\x00\xca\x3f\x80\x00\x00\xa1x\x90"), false, "got float"},
	{"method integer", B("\x94\x00\x05\x07\x90"), true, "method must be a string, got unsigned integer"},
	{"method binary", B("\x94\x00\x05\xc4\x01x\x90"), true, "method must be a string, got binary"},
	{"params map", B("\x94\x00\x05\xa1x\x80"), true, "params must be an array, got map"},
	{"params nil", B("\x94\x00\x05\xa1x\xc0"), true, "params must be an array, got nil"},
	{"notification params string", B("\x93\x02\xa1x\xa1y"), false, "params must be an array"},
#undef B
};

START_TEST(wrong_shapes_get_specific_errors)
{
	const struct shape_case *c = &shape_cases[_i];
	gd_message m;
	gd_proto_error err;
	int r = decode_raw(c->bytes, c->len, &m, &err);
	ck_assert_msg(r == -EPROTO, "%s: %d", c->name, r);
	ck_assert_int_eq(err.code, GD_E_INVALID_REQUEST);
	ck_assert_msg(strstr(err.message, c->says), "%s: \"%s\" lacks \"%s\"", c->name, err.message,
	              c->says);
	ck_assert_msg(m.has_msgid == c->has_msgid, "%s: has_msgid", c->name);
	if (c->has_msgid)
		ck_assert_uint_eq(m.msgid, 5);
	gd_message_free(&m); /* nothing to free, allowed */
}
END_TEST

START_TEST(stream_stays_in_step_after_a_wrong_shape)
{
	struct out o;
	out_init(&o);
	msgpack_pack_str_with_body(&o.pk, "junk", 4);
	pack_pings(&o, 77, 1);
	gd_decoder *d;
	gd_message m;
	gd_proto_error err;
	ck_assert_int_eq(gd_decoder_new(MAX, &d), 0);
	ck_assert_int_eq(gd_decoder_feed(d, o.sb.data, o.sb.size, &err), 0);
	ck_assert_int_eq(gd_decoder_next(d, &m, &err), -EPROTO);
	expect_ping(d, 77);
	gd_decoder_free(d);
	msgpack_sbuffer_destroy(&o.sb);
}
END_TEST

/* ---- methods and parameters ---------------------------------------------- */

/* Builds request [0, 1, method, params...] from a packing callback. */
static int check(const char *method, void (*params)(msgpack_packer *), uint32_t n,
                 gd_proto_error *err)
{
	struct out o;
	out_init(&o);
	gd_proto_pack_request(&o.pk, 1, method, n);
	if (params)
		params(&o.pk);
	gd_message m;
	decode_one(&o, &m);
	int r = gd_proto_check_request(&m, err);
	gd_message_free(&m);
	msgpack_sbuffer_destroy(&o.sb);
	return r;
}

static void p_hello_ok(msgpack_packer *pk)
{
	msgpack_pack_uint32(pk, 1);
	msgpack_pack_str_with_body(pk, "t", 1);
}

static void p_hello_swapped(msgpack_packer *pk)
{
	msgpack_pack_str_with_body(pk, "t", 1);
	msgpack_pack_uint32(pk, 1);
}

static void p_hello_negative(msgpack_packer *pk)
{
	msgpack_pack_int(pk, -1);
	msgpack_pack_str_with_body(pk, "t", 1);
}

static void p_one(msgpack_packer *pk)
{
	msgpack_pack_uint32(pk, 1);
}

START_TEST(unknown_methods_are_refused)
{
	gd_proto_error err;
	ck_assert_int_eq(check("frobnicate", NULL, 0, &err), -ENOSYS);
	ck_assert_int_eq(err.code, GD_E_UNKNOWN_METHOD);
	ck_assert_str_eq(err.message, "unknown method \"frobnicate\"");
	ck_assert_int_eq(check("error", NULL, 0, &err), -ENOSYS); /* server-to-client only */
	ck_assert_ptr_nonnull(strstr(err.message, "notification"));
	ck_assert_int_eq(check("pi\nng", NULL, 0, &err), -ENOSYS);
	ck_assert_str_eq(err.message, "unknown method \"pi?ng\"");
	ck_assert_int_eq(check("", NULL, 0, &err), -ENOSYS);
}
END_TEST

START_TEST(parameters_are_checked_against_the_signature)
{
	gd_proto_error err;
	ck_assert_int_eq(check("hello", p_hello_ok, 2, &err), 0);
	ck_assert_int_eq(check("ping", NULL, 0, &err), 0);
	ck_assert_int_eq(check("stats", NULL, 0, &err), 0);
	ck_assert_int_eq(check("version", NULL, 0, &err), 0);

	ck_assert_int_eq(check("hello", p_hello_swapped, 2, &err), -EINVAL);
	ck_assert_int_eq(err.code, GD_E_INVALID_PARAMS);
	ck_assert_str_eq(err.message,
	                 "hello: parameter 1 (protocol) must be an unsigned integer, got string");
	ck_assert_int_eq(check("hello", p_hello_negative, 2, &err), -EINVAL);
	ck_assert_int_eq(check("hello", p_one, 1, &err), -EINVAL);
	ck_assert_str_eq(err.message,
	                 "hello: expected 2 parameters (protocol:u client:s), got 1");
	ck_assert_int_eq(check("ping", p_one, 1, &err), -EINVAL);
	ck_assert_str_eq(err.message, "ping: expected 0 parameters (none), got 1");
}
END_TEST

START_TEST(protocol_versions_are_negotiated)
{
	uint32_t v = 99;
	gd_proto_error err;
	ck_assert_int_eq(gd_proto_negotiate(0, &v, &err), -EPROTONOSUPPORT);
	ck_assert_int_eq(err.code, GD_E_PROTOCOL_VERSION);
	ck_assert_uint_eq(v, 99);
	ck_assert_int_eq(gd_proto_negotiate(1, &v, &err), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(gd_proto_negotiate(UINT64_MAX, &v, &err), 0);
	ck_assert_uint_eq(v, GD_PROTO_VERSION);
}
END_TEST

/* ---- error codes and encoder failures ------------------------------------ */

START_TEST(error_codes_map_to_and_from_errno)
{
	static const struct { int code, err; } table[] = {
#define GD_X_(code, name, err, desc) {code, err},
		GD_PROTO_ERRORS(GD_X_)
#undef GD_X_
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		ck_assert_int_eq(gd_proto_code_from_errno(-table[i].err), table[i].code);
		ck_assert_int_eq(gd_proto_code_errno(table[i].code), -table[i].err);
		ck_assert_ptr_nonnull(gd_proto_code_name(table[i].code));
		ck_assert_ptr_nonnull(gd_proto_code_description(table[i].code));
	}
	ck_assert_int_eq(gd_proto_code_from_errno(-EPERM), GD_E_PERMISSION_DENIED);
	ck_assert_int_eq(gd_proto_code_from_errno(-EXDEV), GD_E_INTERNAL);
	ck_assert_ptr_null(gd_proto_code_name(999));
	ck_assert_int_eq(gd_proto_code_errno(999), -EIO);
	gd_proto_error e;
	ck_assert_int_eq(gd_proto_fail(&e, GD_E_NOT_FOUND, "job %d", 12), -ENOENT);
	ck_assert_str_eq(e.message, "job 12");
}
END_TEST

static int write_fails(void *data, const char *buf, size_t len)
{
	(void)data; (void)buf; (void)len;
	return -1;
}

START_TEST(encoders_report_a_failed_write)
{
	msgpack_packer pk;
	msgpack_packer_init(&pk, NULL, write_fails);
	gd_proto_error e = {GD_E_INTERNAL, "x"};
	gort_stats rt = {.procs = 1};
	gd_counters c = {0};
	ck_assert_int_eq(gd_proto_pack_request(&pk, 1, "ping", 0), -ENOMEM);
	ck_assert_int_eq(gd_proto_pack_response_ok(&pk, 1), -ENOMEM);
	ck_assert_int_eq(gd_proto_pack_response_error(&pk, 1, &e), -ENOMEM);
	ck_assert_int_eq(gd_proto_pack_fatal(&pk, &e), -ENOMEM);
	ck_assert_int_eq(gd_proto_pack_stats_result(&pk, &rt, &c), -ENOMEM);
}
END_TEST

START_TEST(decoder_size_limits_are_checked)
{
	gd_decoder *d = NULL;
	ck_assert_int_eq(gd_decoder_new(GD_PROTO_MESSAGE_SIZE_MIN - 1, &d), -EINVAL);
	ck_assert_int_eq(gd_decoder_new(GD_PROTO_MESSAGE_SIZE_MAX + 1, &d), -EINVAL);
	ck_assert_ptr_null(d);
	ck_assert_int_eq(gd_decoder_new(GD_PROTO_MESSAGE_SIZE_MIN, &d), 0);
	gd_decoder_free(d);
	gd_decoder_free(NULL);
}
END_TEST

Suite *gt_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = gt_tcase("proto", 30);
	tcase_add_test(tc, request_round_trips);
	tcase_add_test(tc, responses_round_trip);
	tcase_add_test(tc, notifications_round_trip);
	tcase_add_test(tc, method_results_round_trip);
	tcase_add_test(tc, stats_result_carries_every_counter);
	tcase_add_test(tc, byte_by_byte_feeding_decodes_every_message);
	tcase_add_test(tc, two_messages_in_one_buffer);
	tcase_add_test(tc, half_a_message_waits_for_the_rest);
	tcase_add_test(tc, message_outlives_its_decoder);
	tcase_add_test(tc, decoder_gives_back_the_memory_of_a_big_message);
	tcase_add_test(tc, declared_huge_string_is_refused_before_its_bytes);
	tcase_add_test(tc, declared_huge_array_is_refused_at_its_header);
	tcase_add_test(tc, frame_over_the_limit_is_refused_while_arriving);
	tcase_add_test(tc, frame_exactly_at_the_limit_is_accepted);
	tcase_add_test(tc, nesting_limit_matches_msgpack);
	tcase_add_test(tc, malformed_msgpack_is_fatal);
	tcase_add_loop_test(tc, wrong_shapes_get_specific_errors, 0,
	                    (int)(sizeof shape_cases / sizeof shape_cases[0]));
	tcase_add_test(tc, stream_stays_in_step_after_a_wrong_shape);
	tcase_add_test(tc, unknown_methods_are_refused);
	tcase_add_test(tc, parameters_are_checked_against_the_signature);
	tcase_add_test(tc, protocol_versions_are_negotiated);
	tcase_add_test(tc, error_codes_map_to_and_from_errno);
	tcase_add_test(tc, encoders_report_a_failed_write);
	tcase_add_test(tc, decoder_size_limits_are_checked);
	suite_add_tcase(s, tc);
	return s;
}
