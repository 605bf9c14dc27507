/* conn.c — goctl's connection to godaemon (see conn.h): connect, explain a
 * failure to connect in words an operator can act on, the hello handshake,
 * and request/response exchanges matched by msgid.
 *
 * Invariants: gc_conn_call has one request in flight at a time (goctl's
 * commands are sequential), so a response with another msgid is stale and
 * dropped; the asynchronous calls at the end (gc_conn_send...: goctl run's
 * poll loop) leave matching msgids to their caller and queue what they
 * send in c->out, written by gc_conn_flush without blocking; the
 * socket is non-blocking after connect() and every wait is a poll() bounded
 * by the current call's deadline; after a transport or protocol failure the
 * connection is marked broken and refuses further calls.  No locking: a
 * connection belongs to one thread.
 */
#include "config.h"

#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct gc_conn {
	int fd;               /* the connected socket, non-blocking */
	gd_decoder *dec;      /* frames from the daemon */
	uint32_t next_msgid;  /* msgid of the next request */
	int64_t timeout_ns;   /* per call; 0: none */
	int64_t deadline;     /* of the call in progress (gc_now() clock); 0: none */
	bool broken;          /* a failure left the stream unusable */
	gc_hello hello;       /* the daemon's hello result */
	msgpack_sbuffer out;  /* gc_conn_send: requests not written yet, from out_off */
	size_t out_off;
	char path[sizeof ((struct sockaddr_un *)0)->sun_path];
};

int64_t gc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int gc_fail(gc_error *err, int r, int exit_code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof err->text, fmt, ap);
	va_end(ap);
	err->exit_code = exit_code;
	return r;
}

/* ---- explaining a failed connect() ---------------------------------------- */

static void user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%lu", (unsigned long)uid);
}

static void group_name(gid_t gid, char *buf, size_t size)
{
	struct group *gr = getgrgid(gid);
	if (gr)
		snprintf(buf, size, "%s", gr->gr_name);
	else
		snprintf(buf, size, "%lu", (unsigned long)gid);
}

static bool gid_listed(const gid_t *list, int n, gid_t gid)
{
	for (int i = 0; i < n; i++)
		if (list[i] == gid)
			return true;
	return false;
}

/* Whether this process (not just its user) has gid among its groups. */
static bool process_in_group(gid_t gid)
{
	if (getegid() == gid)
		return true;
	int n = getgroups(0, NULL);
	gid_t *groups = n > 0 ? calloc((size_t)n, sizeof *groups) : NULL;
	bool found = groups && gid_listed(groups, getgroups(n, groups), gid);
	free(groups);
	return found;
}

/* Whether the user's account lists gid (so logging in again would help). */
static bool user_in_group(const char *user, gid_t gid)
{
	int n = 0;
	getgrouplist(user, getegid(), NULL, &n); /* sets n to the count needed */
	gid_t *groups = n > 0 ? calloc((size_t)n, sizeof *groups) : NULL;
	bool found = groups && getgrouplist(user, getegid(), groups, &n) >= 0 &&
	             gid_listed(groups, n, gid);
	free(groups);
	return found;
}

/* The socket itself refused us: say which group (or owner) may connect. */
static int explain_socket_denied(const char *path, const struct stat *st, int r, gc_error *err)
{
	char me[64], group[64], owner[64];
	user_name(geteuid(), me, sizeof me);
	group_name(st->st_gid, group, sizeof group);
	user_name(st->st_uid, owner, sizeof owner);
	if (!(st->st_mode & S_IWGRP))
		return gc_fail(err, r, GC_EXIT_UNREACHABLE,
		               "permission denied on %s: only its owner '%s' may connect (mode %04o); "
		               "this is another user's daemon",
		               path, owner, (unsigned)(st->st_mode & 07777));
	if (!process_in_group(st->st_gid) && user_in_group(me, st->st_gid))
		return gc_fail(err, r, GC_EXIT_UNREACHABLE,
		               "permission denied on %s: your user is in the group '%s' but this "
		               "session is not yet (log in again, or run: newgrp %s)",
		               path, group, group);
	return gc_fail(err, r, GC_EXIT_UNREACHABLE,
	               "permission denied on %s: your user must be in the group '%s' "
	               "(sudo usermod -aG %s %s, then log in again)",
	               path, group, group, me);
}

/* A directory on the way refused us: name the first one we cannot search. */
static int explain_dir_denied(const char *path, int r, gc_error *err)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	for (char *slash = strchr(dir + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		struct stat st;
		if (access(dir, X_OK) < 0 && stat(dir, &st) == 0) {
			char group[64];
			group_name(st.st_gid, group, sizeof group);
			return gc_fail(err, r, GC_EXIT_UNREACHABLE,
			               "permission denied on %s: cannot enter the directory %s "
			               "(mode %04o, group '%s')",
			               path, dir, (unsigned)(st.st_mode & 07777), group);
		}
		*slash = '/';
	}
	return gc_fail(err, r, GC_EXIT_UNREACHABLE, "permission denied on %s", path);
}

static int explain_connect_error(const char *path, int e, gc_error *err)
{
	struct stat st;
	switch (e) {
	case ENOENT:
		return gc_fail(err, -e, GC_EXIT_UNREACHABLE,
		               "godaemon is not running (no socket at %s)", path);
	case ECONNREFUSED:
		return gc_fail(err, -e, GC_EXIT_UNREACHABLE,
		               "godaemon is not running (connection refused at %s)", path);
	case EACCES:
	case EPERM:
		if (stat(path, &st) == 0)
			return explain_socket_denied(path, &st, -e, err);
		return explain_dir_denied(path, -e, err);
	case EAGAIN:
	case ETIMEDOUT:
		return gc_fail(err, -ETIMEDOUT, GC_EXIT_UNREACHABLE,
		               "timed out connecting to %s (godaemon is not accepting connections)",
		               path);
	case ENOTDIR:
		return gc_fail(err, -e, GC_EXIT_UNREACHABLE,
		               "godaemon is not running (a component of %s is not a directory)", path);
	default:
		return gc_fail(err, -e, GC_EXIT_UNREACHABLE, "cannot connect to %s: %s", path,
		               strerror(e));
	}
}

/* ---- socket I/O under the deadline ----------------------------------------- */

static int conn_broken(gc_conn *c, int r)
{
	c->broken = true;
	return r;
}

static int conn_lost(gc_conn *c, int e, gc_error *err)
{
	if (e == ECONNRESET || e == EPIPE || e == 0)
		return conn_broken(c, gc_fail(err, -ECONNRESET, GC_EXIT_UNREACHABLE,
		                              "godaemon closed the connection (%s)", c->path));
	return conn_broken(c, gc_fail(err, -e, GC_EXIT_UNREACHABLE, "connection to %s failed: %s",
	                              c->path, strerror(e)));
}

/* Waits until the socket is ready for events or the deadline passes. */
static int conn_wait(gc_conn *c, short events, gc_error *err)
{
	for (;;) {
		int ms = -1;
		if (c->deadline) {
			int64_t left = c->deadline - gc_now();
			if (left <= 0)
				return conn_broken(c, gc_fail(err, -ETIMEDOUT, GC_EXIT_UNREACHABLE,
				                              "timed out after %.3g s waiting for godaemon "
				                              "at %s",
				                              (double)c->timeout_ns / 1e9, c->path));
			ms = (int)((left + 999999) / 1000000);
		}
		struct pollfd p = { .fd = c->fd, .events = events };
		int n = poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return conn_lost(c, errno, err);
	}
}

static int conn_send(gc_conn *c, const char *buf, size_t len, gc_error *err)
{
	while (len > 0) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0) {
			buf += n;
			len -= (size_t)n;
		} else if (errno == EAGAIN) {
			int r = conn_wait(c, POLLOUT, err);
			if (r < 0)
				return r;
		} else if (errno != EINTR) {
			return conn_lost(c, errno, err);
		}
	}
	return 0;
}

/* One read into the decoder, without waiting: 1 when bytes came, 0 when
 * none were there, or the error (the connection lost or broken). */
static int conn_recv(gc_conn *c, gc_error *err)
{
	char buf[65536];
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n > 0) {
			gd_proto_error perr;
			if (gd_decoder_feed(c->dec, buf, (size_t)n, &perr) < 0)
				return conn_broken(c, gc_fail(err, -EPROTO, GC_EXIT_FAILURE,
				                              "godaemon sent an invalid message: %s",
				                              perr.message));
			return 1;
		}
		if (n == 0)
			return conn_lost(c, 0, err); /* every message before it was taken */
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR)
			return conn_lost(c, errno, err);
	}
}

/* Reads more bytes into the decoder, waiting for them. */
static int conn_fill(gc_conn *c, gc_error *err)
{
	for (;;) {
		int r = conn_recv(c, err);
		if (r)
			return r < 0 ? r : 0;
		if ((r = conn_wait(c, POLLIN, err)) < 0)
			return r;
	}
}

/* The next whole message from the daemon. */
static int conn_next(gc_conn *c, gd_message *ret, gc_error *err)
{
	for (;;) {
		gd_proto_error perr;
		int r = gd_decoder_next(c->dec, ret, &perr);
		if (r == 1)
			return 0;
		if (r < 0)
			return conn_broken(c, gc_fail(err, -EPROTO, GC_EXIT_FAILURE,
			                              "godaemon sent an invalid message: %s",
			                              perr.message));
		r = conn_fill(c, err);
		if (r < 0)
			return r;
	}
}

/* ---- responses ------------------------------------------------------------- */

/* Reports a daemon error object; fatal says it came in the "error"
 * notification that precedes the daemon closing the connection. */
static int report_daemon_error(gc_conn *c, const msgpack_object *o, bool fatal, gc_error *err)
{
	gd_proto_error e;
	if (gd_proto_error_from_object(o, &e) < 0)
		return conn_broken(c, gc_fail(err, -EPROTO, GC_EXIT_FAILURE,
		                              "godaemon sent a malformed error object"));
	const char *name = gd_proto_code_name(e.code);
	err->code = e.code;
	if (!fatal)
		return gc_fail(err, -EREMOTE, GC_EXIT_FAILURE, "godaemon: %s (%s)", e.message,
		               name ? name : "INTERNAL");
	bool away = e.code == GD_E_SHUTTING_DOWN || e.code == GD_E_TOO_MANY_CONNECTIONS ||
	            e.code == GD_E_TIMED_OUT;
	return conn_broken(c, gc_fail(err, -ECONNRESET, away ? GC_EXIT_UNREACHABLE : GC_EXIT_FAILURE,
	                              "godaemon closed the connection: %s (%s)", e.message,
	                              name ? name : "INTERNAL"));
}

/* The fatal "error" notification m (freed here): reported, the connection
 * marked broken.  Its params is an array (the decoder checked); [] is no
 * error object. */
static int report_error_note(gc_conn *c, gd_message *m, gc_error *err)
{
	const msgpack_object *p = m->params;
	int r = report_daemon_error(c, p->via.array.size ? &p->via.array.ptr[0] : p, true, err);
	gd_message_free(m);
	return r;
}

/* Waits for the response to msgid; notifications other than "error" go to
 * notify (if not NULL), other messages are dropped. */
static int conn_await(gc_conn *c, uint32_t msgid, gc_notify_fn notify, void *arg,
                      gd_message *ret, gc_error *err)
{
	for (;;) {
		gd_message m = { 0 };
		int r = conn_next(c, &m, err);
		if (r < 0)
			return r;
		if (m.type == GD_MSG_RESPONSE && m.msgid == msgid) {
			*ret = m;
			return 0;
		}
		if (notify && m.type == GD_MSG_NOTIFICATION && m.method != GD_METHOD_ERROR) {
			r = notify(arg, &m, err);
			gd_message_free(&m);
			if (r < 0)
				return conn_broken(c, r);
			continue;
		}
		if (m.type == GD_MSG_NOTIFICATION && m.method == GD_METHOD_ERROR)
			return report_error_note(c, &m, err);
		gd_message_free(&m);
	}
}

/* The daemon hung up while we were sending: it may have said why first
 * (TOO_MANY_CONNECTIONS right after accepting, SHUTTING_DOWN), and what it
 * sent is still readable.  If so, err reports that instead. */
static void conn_last_words(gc_conn *c, gc_error *err)
{
	gc_error why = { 0 };
	gd_message m = { 0 };
	while (conn_next(c, &m, &why) == 0) {
		bool fatal = m.type == GD_MSG_NOTIFICATION && m.method == GD_METHOD_ERROR &&
		             m.params->via.array.size > 0;
		if (fatal)
			report_daemon_error(c, &m.params->via.array.ptr[0], true, err);
		gd_message_free(&m);
		if (fatal)
			return;
	}
}

static int msgbuf_write(void *data, const char *buf, size_t len)
{
	return msgpack_sbuffer_write(data, buf, len);
}

int gc_conn_call(gc_conn *c, const char *method, uint32_t nparams, gc_pack_params pack,
                 void *userdata, gd_message *ret, gc_error *err)
{
	return gc_conn_call_notify(c, method, nparams, pack, userdata, NULL, NULL, ret, err);
}

int gc_conn_fd(const gc_conn *c)
{
	return c->fd;
}

int gc_conn_call_notify(gc_conn *c, const char *method, uint32_t nparams, gc_pack_params pack,
                        void *userdata, gc_notify_fn notify, void *notify_arg,
                        gd_message *ret, gc_error *err)
{
	err->code = 0;
	if (c->broken)
		return gc_fail(err, -ENOTCONN, GC_EXIT_FAILURE, "the connection to %s is closed",
		               c->path);
	c->deadline = c->timeout_ns ? gc_now() + c->timeout_ns : 0;
	uint32_t msgid = c->next_msgid++;
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgbuf_write);
	int r = gd_proto_pack_request(&pk, msgid, method, nparams);
	if (r == 0 && pack)
		r = pack(&pk, userdata);
	if (r == 0)
		r = conn_send(c, sb.data, sb.size, err);
	else
		r = gc_fail(err, r, GC_EXIT_FAILURE, "cannot encode the %s request: %s", method,
		            strerror(-r));
	msgpack_sbuffer_destroy(&sb);
	if (r == -ECONNRESET)
		conn_last_words(c, err);
	if (r < 0)
		return r;
	gd_message m = { 0 };
	r = conn_await(c, msgid, notify, notify_arg, &m, err);
	if (r < 0)
		return r;
	if (m.error->type != MSGPACK_OBJECT_NIL) {
		r = report_daemon_error(c, m.error, false, err);
		gd_message_free(&m);
		return r;
	}
	*ret = m;
	return 0;
}

/* ---- the handshake --------------------------------------------------------- */

static void copy_str(const msgpack_object *map, const char *key, char *buf, size_t size)
{
	const msgpack_object *o = gd_proto_map_get(map, key);
	buf[0] = '\0';
	if (o && o->type == MSGPACK_OBJECT_STR)
		snprintf(buf, size, "%.*s", (int)o->via.str.size, o->via.str.ptr);
}

static uint64_t get_uint(const msgpack_object *map, const char *key, uint64_t dflt)
{
	const msgpack_object *o = gd_proto_map_get(map, key);
	return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : dflt;
}

static int64_t get_id(const msgpack_object *map, const char *key)
{
	uint64_t v = get_uint(map, key, UINT64_MAX);
	return v > INT64_MAX ? -1 : (int64_t)v;
}

struct hello_params {
	const char *client;
};

static int pack_hello(msgpack_packer *pk, void *userdata)
{
	const struct hello_params *p = userdata;
	size_t len = strlen(p->client);
	if (msgpack_pack_uint32(pk, GD_PROTO_VERSION) || msgpack_pack_str(pk, len) ||
	    msgpack_pack_str_body(pk, p->client, len))
		return -ENOMEM;
	return 0;
}

static int parse_hello(gc_conn *c, const msgpack_object *res, gc_error *err)
{
	gc_hello *h = &c->hello;
	if (res->type != MSGPACK_OBJECT_MAP)
		return conn_broken(c, gc_fail(err, -EPROTO, GC_EXIT_FAILURE,
		                              "%s is not a godaemon socket (bad hello result)", c->path));
	copy_str(res, "server", h->server, sizeof h->server);
	copy_str(res, "version", h->version, sizeof h->version);
	uint64_t proto = get_uint(res, "protocol", 0);
	if (proto < GD_PROTO_VERSION_MIN || proto > GD_PROTO_VERSION)
		return conn_broken(c, gc_fail(err, -EPROTO, GC_EXIT_FAILURE,
		                              "godaemon at %s chose protocol version %llu; goctl "
		                              "speaks %d to %d",
		                              c->path, (unsigned long long)proto,
		                              GD_PROTO_VERSION_MIN, GD_PROTO_VERSION));
	h->protocol = (uint32_t)proto;
	h->max_message_size = get_uint(res, "max_message_size", 0);
	h->max_inflight = (uint32_t)get_uint(res, "max_inflight", 1);
	const msgpack_object *peer = gd_proto_map_get(res, "peer");
	h->peer_uid = peer ? get_id(peer, "uid") : -1;
	h->peer_gid = peer ? get_id(peer, "gid") : -1;
	h->peer_pid = peer ? get_id(peer, "pid") : -1;
	return 0;
}

static int conn_handshake(gc_conn *c, const char *client, gc_error *err)
{
	struct hello_params p = { .client = client };
	gd_message m = { 0 };
	int r = gc_conn_call(c, "hello", 2, pack_hello, &p, &m, err);
	if (r < 0)
		return r;
	r = parse_hello(c, m.result, err);
	gd_message_free(&m);
	return r;
}

/* ---- open and close --------------------------------------------------------- */

static int conn_connect(gc_conn *c, gc_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, c->path, strlen(c->path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return gc_fail(err, -errno, GC_EXIT_FAILURE, "socket: %s", strerror(errno));
	/* A blocking connect() on a Unix socket waits while the listener's
	 * backlog is full, up to SO_SNDTIMEO, then fails with EAGAIN. */
	if (c->timeout_ns) {
		struct timeval tv = { .tv_sec = c->timeout_ns / 1000000000,
			              .tv_usec = c->timeout_ns % 1000000000 / 1000 };
		if (tv.tv_sec == 0 && tv.tv_usec == 0)
			tv.tv_usec = 1;
		setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	}
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		if (errno != EINTR)
			return explain_connect_error(c->path, errno, err);
	int fl = fcntl(c->fd, F_GETFL);
	if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return gc_fail(err, -errno, GC_EXIT_FAILURE, "fcntl: %s", strerror(errno));
	return 0;
}

int gc_conn_open(const char *path, int64_t timeout_ns, const char *client, gc_conn **ret,
                 gc_error *err)
{
	err->code = 0;
	if (strlen(path) >= sizeof ((struct sockaddr_un *)0)->sun_path)
		return gc_fail(err, -ENAMETOOLONG, GC_EXIT_USAGE,
		               "socket path too long (at most %zu bytes): %s",
		               sizeof ((struct sockaddr_un *)0)->sun_path - 1, path);
	_cleanup_(gc_conn_closep) gc_conn *c = calloc(1, sizeof *c);
	if (!c)
		return gc_fail(err, -ENOMEM, GC_EXIT_FAILURE, "out of memory");
	c->fd = -1;
	c->next_msgid = 1;
	c->timeout_ns = timeout_ns;
	snprintf(c->path, sizeof c->path, "%s", path);
	if (gd_decoder_new(GD_PROTO_MESSAGE_SIZE_MAX, &c->dec) < 0)
		return gc_fail(err, -ENOMEM, GC_EXIT_FAILURE, "out of memory");
	int r = conn_connect(c, err);
	if (r == 0)
		r = conn_handshake(c, client, err);
	if (r < 0)
		return r;
	*ret = c;
	c = NULL;
	return 0;
}

void gc_conn_close(gc_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	gd_decoder_free(c->dec);
	msgpack_sbuffer_destroy(&c->out);
	free(c);
}

const gc_hello *gc_conn_hello(const gc_conn *c)
{
	return &c->hello;
}

const char *gc_conn_path(const gc_conn *c)
{
	return c->path;
}

void gc_conn_set_timeout(gc_conn *c, int64_t timeout_ns)
{
	c->timeout_ns = timeout_ns;
}

/* ---- asynchronous use (see conn.h) ------------------------------------------------ */

int gc_conn_send(gc_conn *c, const char *method, uint32_t nparams, gc_pack_params pack,
                 void *userdata, uint32_t *ret_msgid, gc_error *err)
{
	err->code = 0;
	if (c->broken)
		return gc_fail(err, -ENOTCONN, GC_EXIT_FAILURE, "the connection to %s is closed",
		               c->path);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &c->out, msgbuf_write);
	size_t before = c->out.size;
	uint32_t msgid = c->next_msgid;
	int r = gd_proto_pack_request(&pk, msgid, method, nparams);
	if (r == 0 && pack)
		r = pack(&pk, userdata);
	if (r < 0) {
		c->out.size = before; /* drop the partial request */
		return gc_fail(err, r, GC_EXIT_FAILURE, "cannot encode the %s request: %s", method,
		               strerror(-r));
	}
	c->next_msgid++;
	*ret_msgid = msgid;
	return 0;
}

size_t gc_conn_out_pending(const gc_conn *c)
{
	return c->out.size - c->out_off;
}

int gc_conn_flush(gc_conn *c, gc_error *err)
{
	while (c->out_off < c->out.size) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.size - c->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			c->out_off += (size_t)n;
		else if (errno == EAGAIN)
			return 0;
		else if (errno != EINTR)
			return conn_lost(c, errno, err);
	}
	c->out.size = c->out_off = 0; /* all written: reuse the buffer from its start */
	return 0;
}

int gc_conn_read(gc_conn *c, gc_error *err)
{
	int r = conn_recv(c, err);
	return r < 0 ? r : 0;
}

int gc_conn_take(gc_conn *c, gd_message *ret, gc_error *err)
{
	gd_proto_error perr;
	gd_message m = { 0 };
	int r = gd_decoder_next(c->dec, &m, &perr);
	if (r == 0)
		return 0;
	if (r < 0)
		return conn_broken(c, gc_fail(err, -EPROTO, GC_EXIT_FAILURE,
		                              "godaemon sent an invalid message: %s", perr.message));
	if (m.type == GD_MSG_NOTIFICATION && m.method == GD_METHOD_ERROR)
		return report_error_note(c, &m, err);
	*ret = m;
	return 1;
}

int gc_conn_response_error(gc_conn *c, const gd_message *m, gc_error *err)
{
	if (m->type != GD_MSG_RESPONSE || m->error->type == MSGPACK_OBJECT_NIL)
		return 0;
	return report_daemon_error(c, m->error, false, err);
}
