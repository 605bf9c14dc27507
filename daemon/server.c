/* server.c — the connection server (see server.h; the behaviour on the wire
 * is docs/protocol.md, sections 4, 5 and 7).
 *
 * Goroutines:
 *  - accept: one; accepts, checks max_connections (an excess connection
 *    gets the TOO_MANY_CONNECTIONS notification and is closed at once, by
 *    this goroutine, without costing a goroutine of its own), reads
 *    SO_PEERCRED and spawns the connection's reader;
 *  - reader: one per connection; reads, feeds the connection's decoder,
 *    answers hello and every error it can answer itself, and spawns a
 *    handler per other request;
 *  - handler: one per request in flight (at most max_inflight per
 *    connection); packs the response and writes it.  feed and feed_end
 *    get no handler: the reader hands them to the job table in arrival
 *    order (gd_jobs_feed, which never blocks), and the job's feeder
 *    goroutine answers them; they count in flight until answered.
 *
 * Invariants and locking:
 *  - a connection is freed by its reader only, after the reader has
 *    cancelled the connection's context and waited for its handlers
 *    (conn->handlers), so handlers never see a freed connection;
 *  - writes to a connection are serialised by conn->wlock (whole messages,
 *    never interleaved); after a failed write the connection is dead
 *    (wdead, under wlock) and its context is cancelled, which ends the
 *    reader;
 *  - s->cfg is read and written under s->cfg_lock; a connection copies its
 *    limits once, at accept;
 *  - counters are atomics; s->live counts the accept goroutine and every
 *    connection (its reader) until they are gone;
 *  - c->watches lists the connection's watch requests in flight (watch.h,
 *    its own lock), for unwatch;
 *  - s->jobs (the job table, jobs.h, its own locking) lives as long as the
 *    server; job methods get the connection's SO_PEERCRED identity and
 *    context; it is stopped only once no connection (handler) is left.
 */
#include "config.h"
#include "server.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "jobs.h"
#include "metrics.h"
#include "watch.h"
#include "log.h"

/* A response not written within this time (a client that does not read)
 * ends its connection. */
#define WRITE_TIMEOUT (10 * GORT_SECOND)
/* Room for the final error notification before a close. */
#define FATAL_WRITE_TIMEOUT (GORT_SECOND / 2)
/* Bytes read from a connection at once. */
#define READ_CHUNK 8192
/* After accept fails for lack of descriptors or memory. */
#define ACCEPT_BACKOFF (100 * GORT_MILLISECOND)

typedef struct gd_limits {
	uint32_t max_connections;
	uint64_t max_message_size;
	uint32_t max_inflight;
	int64_t handshake_timeout;
} gd_limits;

struct gd_server {
	gort_ctx *root;          /* the daemon's root context (a reference) */
	gort_fd *listener;       /* NULL once closed by gd_server_stop */
	gort_mutex cfg_lock;     /* guards lim */
	gd_limits lim;
	_Atomic uint64_t connections, connections_total, requests, errors;
	_Atomic uint64_t next_id;  /* last connection id handed out */
	_Atomic int64_t last_limit_log; /* gort_now() of the last "too many" log */
	_Atomic uint64_t refused_unlogged;
	gort_waitgroup live;     /* accept goroutine + connections */
	gd_jobs *jobs;           /* the job table (jobs.h) */
};

typedef struct gd_conn {
	gd_server *srv;
	gort_fd *fd;
	gort_ctx *ctx;           /* child of srv->root; cancelled to end the conn */
	gd_log_peer peer;        /* id and SO_PEERCRED */
	gd_limits lim;           /* copied at accept */
	gd_decoder *dec;
	bool hello_done;         /* reader only */
	uint32_t protocol;       /* negotiated by hello; reader only */
	int64_t hello_deadline;  /* gort_now() by which hello must be done */
	gort_mutex wlock;        /* serialises writes; guards wdead */
	bool wdead;
	_Atomic uint32_t inflight; /* handlers running */
	gort_waitgroup handlers;
	gd_watch_set watches;    /* watch requests in flight (watch.h) */
	char rbuf[READ_CHUNK];
} gd_conn;

typedef struct gd_request {
	gd_conn *conn;
	gd_message msg;
} gd_request;

static void limits_from(const gd_config *c, gd_limits *ret)
{
	*ret = (gd_limits){
		.max_connections = c->max_connections,
		.max_message_size = c->max_message_size,
		.max_inflight = c->max_inflight,
		.handshake_timeout = c->handshake_timeout,
	};
}

/* ---- writing --------------------------------------------------------- */

/* Writes one whole message.  A failure (peer gone, not reading within
 * the timeout, part of a message written) kills the connection; a write
 * refused because the context is cancelled wrote nothing, so the final
 * error notification (written without the context) can still follow. */
static int conn_write(gd_conn *c, const msgpack_sbuffer *sb, int64_t timeout, bool use_ctx)
{
	int r = 0;
	gort_mutex_lock(&c->wlock);
	if (c->wdead)
		r = -EPIPE;
	else {
		ssize_t n = gort_fd_write(c->fd, sb->data, sb->size, gort_now() + timeout,
		                          use_ctx ? c->ctx : NULL);
		if (n != (ssize_t)sb->size) {
			r = n < 0 ? (int)n : -EPIPE;
			c->wdead = r != -ECANCELED;
		}
	}
	gort_mutex_unlock(&c->wlock);
	if (r < 0 && r != -ECANCELED) {
		log_peer(LOG_DEBUG, &c->peer, "write failed: %s", strerror(-r));
		gort_ctx_cancel(c->ctx);
	}
	return r;
}

static int conn_reply_error(gd_conn *c, uint32_t msgid, const gd_proto_error *e)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int r = gd_proto_pack_response_error(&pk, msgid, e);
	atomic_fetch_add(&c->srv->errors, 1);
	if (r == 0)
		r = conn_write(c, &sb, WRITE_TIMEOUT, true);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

/* Sends the fatal error notification (the caller closes afterwards).
 * Written without the context: also on shutdown, when it is cancelled. */
static void conn_fatal(gd_conn *c, const gd_proto_error *e)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	atomic_fetch_add(&c->srv->errors, 1);
	int prio = e->code == GD_E_SHUTTING_DOWN ? LOG_DEBUG : LOG_NOTICE;
	log_peer(prio, &c->peer, "closing connection: %s: %s", gd_proto_code_name(e->code),
	         e->message);
	if (gd_proto_pack_fatal(&pk, e) == 0)
		(void)conn_write(c, &sb, FATAL_WRITE_TIMEOUT, false);
	msgpack_sbuffer_destroy(&sb);
}

/* ---- methods ----------------------------------------------------------- */

/* A method packs exactly one result object, or returns a negative errno
 * with *err filled (whatever it packed is then discarded). */
typedef int (*method_fn)(gd_conn *c, const gd_message *m, msgpack_packer *pk, gd_proto_error *err);

static int method_hello(gd_conn *c, const gd_message *m, msgpack_packer *pk, gd_proto_error *err)
{
	const msgpack_object *p = m->params->via.array.ptr;
	uint32_t proto;
	int r = gd_proto_negotiate(p[0].via.u64, &proto, err);
	if (r < 0)
		return r;
	gd_server_info info = {
		.version = PACKAGE_VERSION,
		.protocol = proto,
		.max_message_size = c->lim.max_message_size,
		.max_inflight = c->lim.max_inflight,
		.peer_uid = c->peer.uid,
		.peer_gid = c->peer.gid,
		.peer_pid = c->peer.pid,
	};
	r = gd_proto_pack_hello_result(pk, &info);
	if (r == 0) {
		c->protocol = proto;
		if (!c->hello_done) {
			char name[65];
			gd_proto_printable(name, sizeof name, p[1].via.str.ptr, p[1].via.str.size);
			log_peer(LOG_DEBUG, &c->peer, "hello from \"%s\", protocol %u", name, proto);
		}
		c->hello_done = true;
	}
	return r;
}

static int method_version(gd_conn *c, const gd_message *m, msgpack_packer *pk, gd_proto_error *err)
{
	return gd_proto_pack_version_result(pk, PACKAGE_VERSION);
}

static int method_ping(gd_conn *c, const gd_message *m, msgpack_packer *pk, gd_proto_error *err)
{
	return gd_proto_pack_ping_result(pk);
}

static int method_stats(gd_conn *c, const gd_message *m, msgpack_packer *pk, gd_proto_error *err)
{
	gort_stats rt;
	gd_counters k;
	gort_stats_get(&rt);
	gd_server_counters(c->srv, &k);
	return gd_proto_pack_stats_result(pk, &rt, &k);
}

/* The job methods (jobs.h), called with the connection's identity. */
#define JOB_METHOD(name)                                                             \
	static int method_##name(gd_conn *c, const gd_message *m, msgpack_packer *pk,  \
	                         gd_proto_error *err)                                  \
	{                                                                              \
		gd_caller who = {c->peer.uid, c->peer.gid, c->ctx, c->peer.conn_id};   \
		return gd_jobs_##name(c->srv->jobs, &who, m->params, pk, err);         \
	}
JOB_METHOD(submit)
JOB_METHOD(status)
JOB_METHOD(list)
JOB_METHOD(cancel)
JOB_METHOD(wait)
JOB_METHOD(output)
#undef JOB_METHOD

/* run's `client` sink: one "items" notification per item, written under the
 * connection's context; the write parks while the socket is full, which is
 * the pipeline's backpressure (a client that reads nothing for
 * WRITE_TIMEOUT ends its connection, and so the job). */
static int run_item(void *arg, const char *data, size_t len)
{
	gd_conn *c = arg;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int r = gd_proto_pack_notification(&pk, gd_proto_method_name(GD_METHOD_ITEMS), 1) |
	        msgpack_pack_array(&pk, 1) | msgpack_pack_bin_with_body(&pk, data, len);
	r = r ? -ENOMEM : conn_write(c, &sb, WRITE_TIMEOUT, true);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

/* run's other messages: the "job" notification and the feed answers. */
static int run_write(void *arg, const msgpack_sbuffer *sb)
{
	return conn_write(arg, sb, WRITE_TIMEOUT, true);
}

static int method_run(gd_conn *c, const gd_message *m, msgpack_packer *pk, gd_proto_error *err)
{
	gd_caller who = {c->peer.uid, c->peer.gid, c->ctx, c->peer.conn_id};
	gd_run_io io = {run_item, run_write, c, m->msgid};
	return gd_jobs_run(c->srv->jobs, &who, m->params, &io, pk, err);
}

static int method_metrics(gd_conn *c, const gd_message *m, msgpack_packer *pk,
                          gd_proto_error *err)
{
	gd_caller who = {c->peer.uid, c->peer.gid, c->ctx, c->peer.conn_id};
	gort_stats rt;
	gd_counters k;
	gort_stats_get(&rt);
	gd_server_counters(c->srv, &k);
	return gd_metrics_pack(c->srv->jobs, &who, &rt, &k, pk, err);
}

/* watch (watch.h): snapshots are method_metrics' result; a tick that finds
 * the socket without room is skipped; a snapshot written parks under
 * backpressure like run's items. */
static int watch_snapshot(void *arg, msgpack_packer *pk, gd_proto_error *err)
{
	return method_metrics(arg, NULL, pk, err);
}

static bool watch_writable(void *arg)
{
	gd_conn *c = arg;
	return gort_fd_wait(c->fd, GORT_FD_WRITE, gort_now(), NULL) > 0;
}

static int watch_send(void *arg, const msgpack_sbuffer *sb)
{
	return conn_write(arg, sb, WRITE_TIMEOUT, true);
}

static int method_watch(gd_conn *c, const gd_message *m, msgpack_packer *pk, gd_proto_error *err)
{
	gd_watch_io io = {c->ctx, &c->watches, watch_snapshot, watch_writable, watch_send, c};
	return gd_watch_run(&io, m->msgid, m->params, pk, err);
}

static int method_unwatch(gd_conn *c, const gd_message *m, msgpack_packer *pk,
                          gd_proto_error *err)
{
	return gd_watch_stop(&c->watches, m->params, pk, err);
}

static const method_fn methods[GD_METHOD_COUNT_] = {
	[GD_METHOD_HELLO] = method_hello,
	[GD_METHOD_VERSION] = method_version,
	[GD_METHOD_PING] = method_ping,
	[GD_METHOD_STATS] = method_stats,
	[GD_METHOD_SUBMIT] = method_submit,
	[GD_METHOD_STATUS] = method_status,
	[GD_METHOD_LIST] = method_list,
	[GD_METHOD_CANCEL] = method_cancel,
	[GD_METHOD_WAIT] = method_wait,
	[GD_METHOD_OUTPUT] = method_output,
	[GD_METHOD_RUN] = method_run,
	[GD_METHOD_METRICS] = method_metrics,
	[GD_METHOD_WATCH] = method_watch,
	[GD_METHOD_UNWATCH] = method_unwatch,
};

/* Runs the request's method and writes its response. */
static int conn_call(gd_conn *c, const gd_message *m)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	gd_proto_error err;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int r = gd_proto_pack_response_ok(&pk, m->msgid);
	if (r == 0)
		r = methods[m->method](c, m, &pk, &err);
	else
		gd_proto_fail(&err, GD_E_NO_MEMORY, "out of memory for the response");
	if (r < 0) {
		msgpack_sbuffer_destroy(&sb);
		return conn_reply_error(c, m->msgid, &err);
	}
	r = conn_write(c, &sb, WRITE_TIMEOUT, true);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

static void handler_main(void *arg)
{
	gd_request *q = arg;
	gd_conn *c = q->conn;
	(void)conn_call(c, &q->msg);
	gd_message_free(&q->msg);
	free(q);
	atomic_fetch_sub(&c->inflight, 1);
	gort_waitgroup_done(&c->handlers);
}

/* feed and feed_end: answered once by the job table, on the reader or on
 * the job's feeder goroutine; q is then released. */
static void feed_answer(gd_feed_req *q, int r, const msgpack_sbuffer *sb,
                        const gd_proto_error *e)
{
	gd_conn *c = q->arg;
	if (r == 0)
		(void)conn_write(c, sb, WRITE_TIMEOUT, true);
	else
		(void)conn_reply_error(c, q->msg.msgid, e);
	gd_message_free(&q->msg);
	free(q);
	atomic_fetch_sub(&c->inflight, 1);
	gort_waitgroup_done(&c->handlers);
}

/* Room for one more request of m's in flight: size bytes for it, or NULL
 * once m got its error response (TOO_MANY_REQUESTS, NO_MEMORY), with *r
 * the result of answering it. */
static void *request_slot(gd_conn *c, const gd_message *m, size_t size, int *r)
{
	gd_proto_error err;
	if (atomic_load(&c->inflight) >= c->lim.max_inflight) {
		gd_proto_fail(&err, GD_E_TOO_MANY_REQUESTS,
		              "more than %u requests in flight on this connection",
		              c->lim.max_inflight);
	} else {
		void *q = malloc(size);
		if (q)
			return q;
		gd_proto_fail(&err, GD_E_NO_MEMORY, "out of memory for the request");
	}
	*r = conn_reply_error(c, m->msgid, &err);
	return NULL;
}

/* Hands a feed or feed_end (moved out of *m) to the job table, on the
 * reader: requests keep their order, and a full stdin queue parks only the
 * job's feeder, never the reader. */
static int conn_feed(gd_conn *c, gd_message *m)
{
	int r;
	gd_feed_req *q = request_slot(c, m, sizeof *q, &r);
	if (!q)
		return r;
	*q = (gd_feed_req){.msg = *m, .answer = feed_answer, .arg = c};
	memset(m, 0, sizeof *m);
	atomic_fetch_add(&c->inflight, 1);
	gort_waitgroup_add(&c->handlers, 1);
	gd_caller who = {c->peer.uid, c->peer.gid, c->ctx, c->peer.conn_id};
	gd_jobs_feed(c->srv->jobs, &who, q);
	return 0;
}

/* Hands the message (moved out of *m) to a handler goroutine. */
static int conn_dispatch(gd_conn *c, gd_message *m)
{
	int r;
	gd_request *q = request_slot(c, m, sizeof *q, &r);
	if (!q)
		return r;
	q->conn = c;
	q->msg = *m;
	memset(m, 0, sizeof *m);
	atomic_fetch_add(&c->inflight, 1);
	gort_waitgroup_add(&c->handlers, 1);
	gort_go_opts o = {.name = "godaemon-request"};
	if (gort_go_with(handler_main, q, &o) < 0) {
		*m = q->msg;
		free(q);
		atomic_fetch_sub(&c->inflight, 1);
		gort_waitgroup_done(&c->handlers);
		gd_proto_error err;
		gd_proto_fail(&err, GD_E_NO_MEMORY, "out of memory for the request");
		return conn_reply_error(c, m->msgid, &err);
	}
	return 0;
}

/* One decoded request.  > 0: close after a fatal error (already sent). */
static int conn_request(gd_conn *c, gd_message *m)
{
	gd_proto_error err;
	atomic_fetch_add(&c->srv->requests, 1);
	if (m->type != GD_MSG_REQUEST) {
		gd_proto_fail(&err, GD_E_INVALID_REQUEST, "a client may send requests only, not %s",
		              m->type == GD_MSG_RESPONSE ? "responses" : "notifications");
		conn_fatal(c, &err);
		return 1;
	}
	if (gd_proto_check_request(m, &err) < 0)
		return conn_reply_error(c, m->msgid, &err);
	if (m->method == GD_METHOD_HELLO)
		return conn_call(c, m);
	if (!c->hello_done) {
		gd_proto_fail(&err, GD_E_HELLO_REQUIRED, "the first request must be hello, not %s",
		              gd_proto_method_name(m->method));
		return conn_reply_error(c, m->msgid, &err);
	}
	if (m->method == GD_METHOD_FEED || m->method == GD_METHOD_FEED_END)
		return conn_feed(c, m);
	return conn_dispatch(c, m);
}

/* Takes every complete message out of the decoder.  0 to read on, > 0 or
 * < 0 to close. */
static int conn_drain(gd_conn *c)
{
	for (;;) {
		gd_message m = {0};
		gd_proto_error err;
		int r = gd_decoder_next(c->dec, &m, &err);
		if (r == 0)
			return 0;
		if (r == -EPROTO && m.type == GD_MSG_REQUEST && m.has_msgid) {
			atomic_fetch_add(&c->srv->requests, 1);
			r = conn_reply_error(c, m.msgid, &err);
		} else if (r < 0) {
			conn_fatal(c, &err);
			return 1;
		} else {
			r = conn_request(c, &m);
			gd_message_free(&m);
		}
		if (r != 0)
			return r;
	}
}

/* Says SHUTTING_DOWN if that is why an operation was cancelled. */
static bool conn_stopping(gd_conn *c, int r)
{
	gd_proto_error err;
	if (r != -ECANCELED || gort_ctx_err(c->srv->root) == 0)
		return false;
	gd_proto_fail(&err, GD_E_SHUTTING_DOWN, "godaemon is stopping");
	conn_fatal(c, &err);
	return true;
}

/* A failed read: the error notification it deserves, if any. */
static void conn_read_failed(gd_conn *c, int r)
{
	gd_proto_error err;
	if (r == -ETIMEDOUT && !c->hello_done) {
		gd_proto_fail(&err, GD_E_TIMED_OUT, "no hello within the handshake timeout (%lld ms)",
		              (long long)(c->lim.handshake_timeout / GORT_MILLISECOND));
		conn_fatal(c, &err);
	} else if (!conn_stopping(c, r) && r != -ECANCELED) {
		log_peer(LOG_DEBUG, &c->peer, "read failed: %s", strerror(-r));
	}
}

/* Reads until end of file, a fatal error or cancellation. */
static void conn_serve(gd_conn *c)
{
	for (;;) {
		int64_t deadline = c->hello_done ? GORT_DEADLINE_NONE : c->hello_deadline;
		ssize_t n = gort_fd_read(c->fd, c->rbuf, sizeof c->rbuf, deadline, c->ctx);
		if (n == 0) {
			if (gd_decoder_buffered(c->dec) > 0)
				log_peer(LOG_DEBUG, &c->peer, "client closed in the middle of a message");
			return;
		}
		if (n < 0) {
			conn_read_failed(c, (int)n);
			return;
		}
		gd_proto_error err;
		if (gd_decoder_feed(c->dec, c->rbuf, (size_t)n, &err) < 0) {
			conn_fatal(c, &err);
			return;
		}
		int r = conn_drain(c);
		if (r != 0) {
			conn_stopping(c, r);
			return;
		}
	}
}

static void conn_free(gd_conn *c)
{
	gd_server *s = c->srv;
	gort_fd_close(c->fd);
	gd_decoder_free(c->dec);
	gort_ctx_unref(c->ctx);
	free(c);
	atomic_fetch_sub(&s->connections, 1);
	gort_waitgroup_done(&s->live);
}

static void conn_main(void *arg)
{
	gd_conn *c = arg;
	log_peer(LOG_DEBUG, &c->peer, "connection accepted");
	conn_serve(c);
	gort_ctx_cancel(c->ctx);
	gort_waitgroup_wait(&c->handlers);
	log_peer(LOG_DEBUG, &c->peer, "connection closed");
	conn_free(c);
}

/* ---- accepting --------------------------------------------------------- */

/* A refused connection: logged at most once a second, with a count. */
static void refuse(gd_server *s, gort_fd *fd, uint32_t max)
{
	gd_proto_error err;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	gd_proto_fail(&err, GD_E_TOO_MANY_CONNECTIONS,
	              "godaemon already serves %u connections (max_connections)", max);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (gd_proto_pack_fatal(&pk, &err) == 0)
		(void)gort_fd_write(fd, sb.data, sb.size, gort_now(), NULL);
	msgpack_sbuffer_destroy(&sb);
	gort_fd_close(fd);
	atomic_fetch_add(&s->errors, 1);
	uint64_t unlogged = atomic_fetch_add(&s->refused_unlogged, 1) + 1;
	int64_t now = gort_now(), last = atomic_load(&s->last_limit_log);
	if (now - last >= GORT_SECOND &&
	    atomic_compare_exchange_strong(&s->last_limit_log, &last, now)) {
		atomic_fetch_sub(&s->refused_unlogged, unlogged);
		log_warning("refused %llu connection(s): max_connections (%u) reached",
		            (unsigned long long)unlogged, max);
	}
}

static int conn_new(gd_server *s, gort_fd *fd, const gd_limits *lim, gd_conn **ret)
{
	gd_conn *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	int r = gd_decoder_new(lim->max_message_size, &c->dec);
	if (r < 0 || !(c->ctx = gort_ctx_with_cancel(s->root))) {
		if (c->dec)
			gd_decoder_free(c->dec);
		free(c);
		return r < 0 ? r : -ENOMEM;
	}
	struct ucred cred = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
	socklen_t len = sizeof cred;
	if (getsockopt(gort_fd_fileno(fd), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		log_warning_errno(-errno, "SO_PEERCRED");
	c->srv = s;
	c->fd = fd;
	c->lim = *lim;
	c->peer = (gd_log_peer){atomic_fetch_add(&s->next_id, 1) + 1, cred.uid, cred.gid, cred.pid};
	c->hello_deadline = gort_now() + lim->handshake_timeout;
	c->wlock = (gort_mutex)GORT_MUTEX_INIT;
	c->handlers = (gort_waitgroup)GORT_WAITGROUP_INIT;
	c->watches = (gd_watch_set)GD_WATCH_SET_INIT;
	*ret = c;
	return 0;
}

/* Serves one accepted connection, or refuses it. */
static void accepted(gd_server *s, gort_fd *fd)
{
	gd_limits lim;
	gort_mutex_lock(&s->cfg_lock);
	lim = s->lim;
	gort_mutex_unlock(&s->cfg_lock);
	if (atomic_load(&s->connections) >= lim.max_connections) {
		refuse(s, fd, lim.max_connections);
		return;
	}
	gd_conn *c;
	int r = conn_new(s, fd, &lim, &c);
	if (r < 0) {
		log_error_errno(r, "cannot serve a new connection");
		gort_fd_close(fd);
		return;
	}
	atomic_fetch_add(&s->connections, 1);
	atomic_fetch_add(&s->connections_total, 1);
	gort_waitgroup_add(&s->live, 1);
	gort_go_opts o = {.name = "godaemon-conn"};
	if (gort_go_with(conn_main, c, &o) < 0) {
		log_error("cannot start a goroutine for a new connection");
		conn_free(c);
	}
}

static void accept_main(void *arg)
{
	gd_server *s = arg;
	for (;;) {
		gort_fd *fd;
		int r = gort_fd_accept(s->listener, &fd, NULL, NULL, GORT_DEADLINE_NONE, s->root);
		if (r == 0) {
			accepted(s, fd);
			continue;
		}
		if (r == -ECANCELED || r == -EBADF)
			break; /* stopping: the root context is cancelled or the listener closed */
		/* Out of descriptors or memory (or anything else): back off and
		 * retry rather than stop serving; at most one line per backoff. */
		log_warning_errno(r, "accept");
		gort_sleep(ACCEPT_BACKOFF);
	}
	gort_waitgroup_done(&s->live);
}

/* ---- the server ---------------------------------------------------------- */

int gd_server_new(const gd_config *cfg, int listen_fd, gort_ctx *root, gd_server **ret)
{
	gd_server *s = calloc(1, sizeof *s);
	if (!s || !(s->listener = gort_fd_open(listen_fd))) {
		int r = s ? -errno : -ENOMEM;
		close(listen_fd);
		free(s);
		return r;
	}
	s->cfg_lock = (gort_mutex)GORT_MUTEX_INIT;
	s->live = (gort_waitgroup)GORT_WAITGROUP_INIT;
	limits_from(cfg, &s->lim);
	int r = gd_jobs_new(cfg, root, &s->jobs);
	if (r < 0) {
		gort_fd_close(s->listener);
		free(s);
		return r;
	}
	s->root = gort_ctx_ref(root);
	gort_waitgroup_add(&s->live, 1);
	gort_go_opts o = {.name = "godaemon-accept"};
	if (gort_go_with(accept_main, s, &o) < 0) {
		gd_jobs_stop(s->jobs);
		gd_jobs_free(s->jobs);
		gort_fd_close(s->listener);
		gort_ctx_unref(s->root);
		free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

void gd_server_set_config(gd_server *s, const gd_config *cfg)
{
	gort_mutex_lock(&s->cfg_lock);
	limits_from(cfg, &s->lim);
	gort_mutex_unlock(&s->cfg_lock);
	gd_jobs_set_config(s->jobs, cfg);
}

void gd_server_counters(gd_server *s, gd_counters *ret)
{
	*ret = (gd_counters){
		.connections = atomic_load(&s->connections),
		.connections_total = atomic_load(&s->connections_total),
		.requests = atomic_load(&s->requests),
		.errors = atomic_load(&s->errors),
	};
}

typedef struct live_wait {
	gd_server *srv;
	gort_chan *done; /* closed once srv->live reaches 0 (a reference) */
} live_wait;

static void live_waiter(void *arg)
{
	live_wait *w = arg;
	gort_waitgroup_wait(&w->srv->live);
	gort_chan_close(w->done);
	gort_chan_unref(w->done);
	free(w);
}

/* Waits for s->live to reach 0 for at most timeout: a helper goroutine
 * turns the waitgroup into a channel a select can bound.  0 or -ETIMEDOUT
 * (the helper then stays parked until the runtime stops). */
static int wait_live(gd_server *s, int64_t timeout)
{
	live_wait *w = malloc(sizeof *w);
	gort_chan *done = gort_chan_make(0, 0);
	gort_timer *t = gort_timer_make(timeout);
	int r = 0;
	if (!w || !done || !t) {
		free(w);
		w = NULL;
		gort_waitgroup_wait(&s->live); /* no memory to bound it: wait */
	} else {
		*w = (live_wait){s, gort_chan_ref(done)};
		if (gort_go(live_waiter, w) < 0) {
			gort_chan_unref(w->done);
			free(w);
			gort_waitgroup_wait(&s->live);
		} else {
			gort_select_case cases[2] = {{done, GORT_SELECT_RECV, NULL, false},
			                             {gort_timer_chan(t), GORT_SELECT_RECV, NULL, false}};
			r = gort_select(cases, 2, true) == 0 ? 0 : -ETIMEDOUT;
		}
	}
	gort_timer_free(t);
	gort_chan_unref(done);
	return r;
}

int gd_server_stop(gd_server *s, int64_t timeout, uint64_t *ret_left)
{
	if (s->listener) {
		gort_fd_close(s->listener);
		s->listener = NULL;
	}
	int r = wait_live(s, timeout);
	if (ret_left)
		*ret_left = atomic_load(&s->connections);
	if (r == 0)
		gd_jobs_stop(s->jobs); /* every job is cancelled with the root context */
	return r;
}

void gd_server_free(gd_server *s)
{
	if (!s)
		return;
	gd_jobs_free(s->jobs);
	gort_ctx_unref(s->root);
	free(s);
}
