/* proto.h — godaemon's wire protocol (docs/protocol.md is the normative
 * description): MessagePack-RPC messages sent back to back over a Unix
 * stream socket.
 *
 *   request       [0, msgid, method, params]
 *   response      [1, msgid, error, result]
 *   notification  [2, method, params]
 *
 * This module owns the codec only; it does no I/O and needs no runtime:
 *  - gd_decoder: a streaming decoder fed bytes as they arrive.  It delimits
 *    each frame with its own incremental header scan *before* msgpack-c sees
 *    it, so a frame over the size limit (or one that merely declares a huge
 *    string or array) is rejected after its first bytes, never buffered
 *    whole, and msgpack-c never allocates for sizes the peer only claims.
 *  - validation of the message shape and of each method's parameters;
 *  - encoders for requests, responses, notifications and the results of the
 *    methods defined here;
 *  - the error object {code, name, message}, with stable codes mapped from
 *    negative errno values.
 *
 * Thread safety: a decoder belongs to one reader at a time; everything else
 * is pure.  Errors are negative errno values; a gd_proto_error carries the
 * text meant for the peer.
 */
#ifndef GD_PROTO_H
#define GD_PROTO_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gort.h"

/* The protocol version this code speaks (see gd_proto_negotiate). */
#define GD_PROTO_VERSION 1
/* Oldest client protocol version the server still accepts. */
#define GD_PROTO_VERSION_MIN 1
/* Deepest nesting of non-empty arrays/maps in one message (msgpack-c's own
 * parser stack has exactly this many levels). */
#define GD_PROTO_MAX_DEPTH 32
/* Bounds on the configurable maximum message size. */
#define GD_PROTO_MESSAGE_SIZE_MIN ((size_t)4096)
#define GD_PROTO_MESSAGE_SIZE_MAX ((size_t)1 << 30)
/* Longest error message carried in an error object, including the NUL. */
#define GD_PROTO_ERRMSG_MAX 256

typedef enum gd_msg_type {
	GD_MSG_REQUEST = 0,
	GD_MSG_RESPONSE = 1,
	GD_MSG_NOTIFICATION = 2,
} gd_msg_type;

/* ---- error codes ------------------------------------------------------
 * X(code, NAME, errno, description).  The codes are part of the protocol
 * and never change meaning; the errno column is the negative errno value a
 * daemon function returns for that condition (gd_proto_code_from_errno). */
#define GD_PROTO_ERRORS(X) \
	X(1, INVALID_MESSAGE, EBADMSG, "not MessagePack, or not a MessagePack-RPC message") \
	X(2, MESSAGE_TOO_LARGE, EMSGSIZE, "the message exceeds the maximum message size") \
	X(3, INVALID_REQUEST, EPROTO, "a well-formed message with the wrong shape (element count or types)") \
	X(4, UNKNOWN_METHOD, ENOSYS, "no such method") \
	X(5, INVALID_PARAMS, EINVAL, "wrong number or types of parameters, or a bad value") \
	X(6, HELLO_REQUIRED, ENOTCONN, "the first request on a connection must be hello") \
	X(7, PROTOCOL_VERSION, EPROTONOSUPPORT, "the client's protocol version is not supported") \
	X(8, TOO_MANY_REQUESTS, EBUSY, "more requests in flight on this connection than allowed") \
	X(9, PERMISSION_DENIED, EACCES, "the caller may not do this (EPERM maps here too)") \
	X(10, NOT_FOUND, ENOENT, "the named object does not exist") \
	X(11, QUEUE_FULL, EAGAIN, "a bounded queue is full; retry later") \
	X(12, CANCELLED, ECANCELED, "the operation was cancelled") \
	X(13, TIMED_OUT, ETIMEDOUT, "the operation's deadline passed") \
	X(14, SHUTTING_DOWN, ESHUTDOWN, "the daemon is stopping") \
	X(15, NO_MEMORY, ENOMEM, "the daemon ran out of memory for this request") \
	X(16, INTERNAL, EIO, "any other failure inside the daemon") \
	X(17, TOO_MANY_CONNECTIONS, EMFILE, "the daemon already serves max_connections clients")

typedef enum gd_proto_code {
#define GD_X_(code, name, err, desc) GD_E_##name = code,
	GD_PROTO_ERRORS(GD_X_)
#undef GD_X_
} gd_proto_code;

/* An error object as carried on the wire. */
typedef struct gd_proto_error {
	int code;                          /* a gd_proto_code */
	char message[GD_PROTO_ERRMSG_MAX]; /* human-readable, NUL-terminated */
} gd_proto_error;

/* The code for a negative errno value (unknown ones map to INTERNAL). */
gd_proto_code gd_proto_code_from_errno(int neg_errno);
/* The negative errno value for a code; -EIO for codes not in the table. */
int gd_proto_code_errno(int code);
/* "UNKNOWN_METHOD"..., or NULL for a code not in the table. */
const char *gd_proto_code_name(int code);
/* The description column of the table, or NULL. */
const char *gd_proto_code_description(int code);
/* Fills *ret (printf-style message, truncated to fit) and returns
 * gd_proto_code_errno(code), so that `return gd_proto_fail(err, ...)` works. */
int gd_proto_fail(gd_proto_error *ret, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Copies a peer-supplied string (len bytes, not NUL-terminated) into dst
 * of size bytes, truncated, with every byte outside printable ASCII as '?':
 * what a peer sends never reaches an error message or a log line raw. */
void gd_proto_printable(char *dst, size_t size, const char *src, size_t len);

/* ---- methods -----------------------------------------------------------
 * X(ID, "name", direction, params, summary).  params lists the positional
 * parameters as "name:type" with type u (unsigned integer), i (integer),
 * s (string), b (boolean), a (array), m (map) or * (anything). */
typedef enum gd_method_dir {
	GD_DIR_CALL,   /* client request answered by a response */
	GD_DIR_NOTIFY, /* server-to-client notification */
} gd_method_dir;

#define GD_PROTO_METHODS(X) \
	X(HELLO, "hello", GD_DIR_CALL, "protocol:u client:s", \
	  "handshake: protocol version and client name -> server identity and limits") \
	X(VERSION, "version", GD_DIR_CALL, "", "the server's name, version and protocol version") \
	X(PING, "ping", GD_DIR_CALL, "", "answers \"pong\"") \
	X(STATS, "stats", GD_DIR_CALL, "", "runtime statistics and daemon counters") \
	X(SUBMIT, "submit", GD_DIR_CALL, "spec:a options:m", \
	  "validates a pipeline spec (wire form) and queues it as a job -> its id") \
	X(STATUS, "status", GD_DIR_CALL, "id:u", "a job's state, stage metrics and kept errors") \
	X(LIST, "list", GD_DIR_CALL, "", "the caller's jobs (every job for root)") \
	X(CANCEL, "cancel", GD_DIR_CALL, "id:u", "cancels a queued or running job") \
	X(WAIT, "wait", GD_DIR_CALL, "id:u", "waits until a job is finished -> its final status") \
	X(OUTPUT, "output", GD_DIR_CALL, "id:u", "the items a job's collect sinks kept") \
	X(METRICS, "metrics", GD_DIR_CALL, "", \
	  "a snapshot of the caller's running jobs' stage metrics, jobs by state and stats") \
	X(RUN, "run", GD_DIR_CALL, "spec:a options:m", \
	  "submit, stream the client sink's items as notifications -> the final status") \
	X(ITEMS, "items", GD_DIR_NOTIFY, "items:a", "items a run's client sink sent (bin)") \
	X(WATCH, "watch", GD_DIR_CALL, "interval_ms:u count:u", \
	  "a metrics snapshot now and every interval as notifications -> the count sent") \
	X(UNWATCH, "unwatch", GD_DIR_CALL, "msgid:u", \
	  "ends the watch request msgid of this connection") \
	X(SNAPSHOT, "snapshot", GD_DIR_NOTIFY, "msgid:u snapshot:m", \
	  "a watch's metrics snapshot (the watch request's msgid, the metrics result)") \
	X(FEED, "feed", GD_DIR_CALL, "id:u items:a", \
	  "appends items (bin) to the stdin source of a job this connection runs -> open, queued") \
	X(FEED_END, "feed_end", GD_DIR_CALL, "id:u", "ends the input of a run job's stdin source") \
	X(JOB, "job", GD_DIR_NOTIFY, "job:m", "the id of the job a run admitted, before its items") \
	X(ERROR, "error", GD_DIR_NOTIFY, "error:m", \
	  "a fatal protocol error the server reports before it closes the connection")

typedef enum gd_method {
	GD_METHOD_NONE = 0, /* a response: no method */
	GD_METHOD_UNKNOWN,  /* a name not in the table */
#define GD_X_(id, name, dir, params, summary) GD_METHOD_##id,
	GD_PROTO_METHODS(GD_X_)
#undef GD_X_
	GD_METHOD_COUNT_
} gd_method;

/* The method named name[0..len), or GD_METHOD_UNKNOWN. */
gd_method gd_proto_method_lookup(const char *name, size_t len);
/* Name, direction and parameter list of a method in the table. */
const char *gd_proto_method_name(gd_method m);
gd_method_dir gd_proto_method_dir(gd_method m);
const char *gd_proto_method_params(gd_method m);

/* ---- decoded messages ---------------------------------------------------- */
typedef struct gd_message {
	gd_msg_type type;
	bool has_msgid;              /* requests and responses */
	uint32_t msgid;
	gd_method method;            /* NONE for responses */
	const char *method_name;     /* requests/notifications, not NUL-terminated */
	uint32_t method_len;
	const msgpack_object *params; /* requests/notifications: an array */
	const msgpack_object *error;  /* responses: nil on success */
	const msgpack_object *result; /* responses */
	size_t size;                  /* bytes of the frame on the wire */
	msgpack_object root;          /* private: the decoded frame */
	char *frame_;                 /* private: the frame's bytes (strings point here) */
	msgpack_zone *zone_;          /* private: msgpack-c's allocations */
} gd_message;

/* Releases what a message owns; accepts a zeroed message.  Leaves it zeroed. */
void gd_message_free(gd_message *m);

/* ---- the streaming decoder ------------------------------------------------ */
typedef struct gd_decoder gd_decoder;

/* A decoder accepting frames of at most max_size bytes (within the
 * GD_PROTO_MESSAGE_SIZE_* bounds, else -EINVAL).  0 or -ENOMEM. */
int gd_decoder_new(size_t max_size, gd_decoder **ret);
void gd_decoder_free(gd_decoder *d);

/* Appends len bytes and scans them.  Feed again only after gd_decoder_next
 * returned 0: then the decoder holds at most max_size + len bytes.  Returns
 * 0, or a sticky fatal error (see gd_decoder_next) with *err filled; err
 * may be NULL. */
int gd_decoder_feed(gd_decoder *d, const void *data, size_t len, gd_proto_error *err);

/* Takes the next complete message.
 *   1        *ret holds it; free it with gd_message_free.
 *   0        more bytes are needed (a partial frame, or nothing buffered).
 *   -EPROTO  a whole frame arrived but is not a valid message (err says
 *            why; ret->type, ret->has_msgid and ret->msgid are set as far as
 *            they could be read, nothing to free).  The stream is still in
 *            step: call again for the next message.
 *   -EBADMSG, -EMSGSIZE, -ENOMEM  fatal: the stream cannot be followed any
 *            more; every later call returns the same.  Report and close.
 * err is filled on every negative return. */
int gd_decoder_next(gd_decoder *d, gd_message *ret, gd_proto_error *err);

/* Bytes buffered and not yet returned as messages. */
size_t gd_decoder_buffered(const gd_decoder *d);
/* Bytes of memory the decoder holds (its state and buffer). */
size_t gd_decoder_memory(const gd_decoder *d);

/* Decodes exactly one whole frame from data[0..len) (the same checks as the
 * decoder, same returns except 0: a partial frame is -EBADMSG). */
int gd_proto_decode(const void *data, size_t len, size_t max_size, gd_message *ret,
                    gd_proto_error *err);

/* Server side: 0 if the request names a callable method with parameters
 * matching its signature; -ENOSYS (UNKNOWN_METHOD) or -EINVAL
 * (INVALID_PARAMS) with *err filled. */
int gd_proto_check_request(const gd_message *m, gd_proto_error *err);

/* Server side: the protocol version to speak with a client that speaks
 * client_version (the lower of the two), or -EPROTONOSUPPORT with *err. */
int gd_proto_negotiate(uint64_t client_version, uint32_t *ret, gd_proto_error *err);

/* ---- encoders ------------------------------------------------------------
 * All return 0, or -ENOMEM when the packer's write callback fails. */

/* A str (NUL-terminated s), and a map entry "key": u64. */
int gd_pk_str(msgpack_packer *pk, const char *s);
int gd_pk_kv_u64(msgpack_packer *pk, const char *key, uint64_t v);
/* [0, msgid, method, <array header of nparams>]: pack nparams objects next. */
int gd_proto_pack_request(msgpack_packer *pk, uint32_t msgid, const char *method,
                          uint32_t nparams);
/* [1, msgid, nil, ...]: pack exactly one result object next. */
int gd_proto_pack_response_ok(msgpack_packer *pk, uint32_t msgid);
/* [1, msgid, {code, name, message}, nil]: complete. */
int gd_proto_pack_response_error(msgpack_packer *pk, uint32_t msgid, const gd_proto_error *e);
/* [2, method, <array header of nparams>]: pack nparams objects next. */
int gd_proto_pack_notification(msgpack_packer *pk, const char *method, uint32_t nparams);
/* {"code": int, "name": str, "message": str} */
int gd_proto_pack_error_object(msgpack_packer *pk, const gd_proto_error *e);
/* The complete fatal-error notification [2, "error", [{...}]]. */
int gd_proto_pack_fatal(msgpack_packer *pk, const gd_proto_error *e);

/* Reads an error object (client side): 0, or -EPROTO if o is not one. */
int gd_proto_error_from_object(const msgpack_object *o, gd_proto_error *ret);
/* The value of key in map o, or NULL (also when o is not a map). */
const msgpack_object *gd_proto_map_get(const msgpack_object *o, const char *key);

/* What hello reports besides the protocol (limits and the peer's identity
 * as the server saw it through SO_PEERCRED). */
typedef struct gd_server_info {
	const char *version;      /* the daemon's package version */
	uint32_t protocol;        /* negotiated protocol version */
	uint64_t max_message_size;
	uint32_t max_inflight;    /* requests in flight per connection */
	uid_t peer_uid;
	gid_t peer_gid;
	pid_t peer_pid;
} gd_server_info;

/* The daemon's counters reported by stats. */
typedef struct gd_counters {
	uint64_t connections;       /* open now */
	uint64_t connections_total; /* accepted since start */
	uint64_t requests;          /* requests received since start */
	uint64_t errors;            /* error responses and notifications sent */
} gd_counters;

/* Results of hello, version, ping and stats (one object each). */
int gd_proto_pack_hello_result(msgpack_packer *pk, const gd_server_info *info);
int gd_proto_pack_version_result(msgpack_packer *pk, const char *version);
int gd_proto_pack_ping_result(msgpack_packer *pk);
int gd_proto_pack_stats_result(msgpack_packer *pk, const gort_stats *rt, const gd_counters *c);

#endif
