/* conn.h — goctl's connection to godaemon: connect to the Unix socket, the
 * hello handshake, and one request/response at a time with msgid matching
 * and a deadline (docs/protocol.md is the contract).
 *
 * Plain blocking-style I/O for a CLI: the socket is non-blocking and every
 * wait is a poll() bounded by the call's deadline, so a stuck daemon costs
 * at most --timeout.  A connection is used by one thread.  Every failure
 * is a negative errno value with a gc_error filled for the user: its text
 * (without the "goctl: " prefix) and the exit code goctl should end with.
 */
#ifndef GC_CONN_H
#define GC_CONN_H

#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

/* goctl's exit codes (documented in goctl --help and goctl(1)). */
enum {
	GC_EXIT_OK = 0,          /* success */
	GC_EXIT_FAILURE = 1,     /* the daemon answered with an error, or the command failed */
	GC_EXIT_USAGE = 2,       /* bad command line */
	GC_EXIT_UNREACHABLE = 3, /* daemon not running, permission denied, timeout, lost */
};

/* What went wrong, for the user. */
typedef struct gc_error {
	int exit_code;   /* one of GC_EXIT_* */
	int code;        /* the protocol error code when the daemon sent one, else 0 */
	char text[1024]; /* one line, no trailing newline */
} gc_error;

/* What the daemon said in its hello result. */
typedef struct gc_hello {
	char server[64];           /* "godaemon" */
	char version[64];          /* the daemon's version */
	uint32_t protocol;         /* negotiated protocol version */
	uint64_t max_message_size; /* bytes */
	uint32_t max_inflight;
	int64_t peer_uid, peer_gid, peer_pid; /* us, as SO_PEERCRED showed us (-1: absent) */
} gc_hello;

typedef struct gc_conn gc_conn;

/* Connects to the socket at path and completes the handshake, each step
 * within timeout_ns (0: no limit).  client names us in the daemon's logs.  On
 * success *ret owns the connection (gc_conn_close) and its hello result is
 * in gc_conn_hello.  On failure *ret is untouched and err says why:
 * -ENOENT/-ECONNREFUSED (not running), -EACCES/-EPERM (permission, naming
 * the group to join), -ETIMEDOUT, -EPROTO (not a godaemon we can speak
 * to), -ENOMEM, others from the system. */
int gc_conn_open(const char *path, int64_t timeout_ns, const char *client, gc_conn **ret,
                 gc_error *err);
/* Closes the socket and frees everything; accepts NULL. */
void gc_conn_close(gc_conn *c);
const gc_hello *gc_conn_hello(const gc_conn *c);
const char *gc_conn_path(const gc_conn *c);
/* Sets the time limit of the following calls (0: none), e.g. for `wait`. */
void gc_conn_set_timeout(gc_conn *c, int64_t timeout_ns);

/* Writes the request's parameters (exactly the number announced). */
typedef int (*gc_pack_params)(msgpack_packer *pk, void *userdata);

/* Sends [0, msgid, method, params] (nparams packed by pack, which may be
 * NULL when nparams is 0) and waits for the response with that msgid,
 * ignoring notifications other than the fatal "error" one.
 *   0        *ret holds the response; its result is ret->result (free the
 *            message with gd_message_free).
 *   -EREMOTE the daemon answered with an error object: err holds its code
 *            and message (exit code 1).
 *   other    the connection failed (-ETIMEDOUT, -ECONNRESET when the
 *            daemon closed it or sent a fatal notification, -EPROTO for a
 *            reply that breaks the protocol, -ENOMEM...): err says why;
 *            the connection must not be used any more. */
int gc_conn_call(gc_conn *c, const char *method, uint32_t nparams, gc_pack_params pack,
                 void *userdata, gd_message *ret, gc_error *err);

/* A notification (not the fatal "error") received while waiting in
 * gc_conn_call_notify: 0 to wait on, or a negative errno with err filled
 * to give up (the connection is then broken). */
typedef int (*gc_notify_fn)(void *arg, const gd_message *m, gc_error *err);
/* gc_conn_call, handing every other notification to notify (e.g. `run`'s
 * "items"). */
int gc_conn_call_notify(gc_conn *c, const char *method, uint32_t nparams, gc_pack_params pack,
                        void *userdata, gc_notify_fn notify, void *notify_arg,
                        gd_message *ret, gc_error *err);
/* The socket (e.g. for shutdown(2) from a signal handler). */
int gc_conn_fd(const gc_conn *c);

/* ---- asynchronous use: one poll(2) loop driving the connection ----------
 * (goctl run: feeds, status requests and the run in flight at once.)
 * gc_conn_send queues a request and returns its msgid; gc_conn_flush
 * writes what the socket takes now (poll for POLLOUT while
 * gc_conn_out_pending is not 0); gc_conn_read reads what has arrived and
 * gc_conn_take returns the messages read, one by one.  None of them
 * blocks or looks at the call timeout.  Do not mix with gc_conn_call while
 * requests sent this way are unanswered.  Failures break the connection,
 * as for gc_conn_call. */
/* 0 and *ret_msgid, or -ENOMEM / -ENOTCONN with err filled. */
int gc_conn_send(gc_conn *c, const char *method, uint32_t nparams, gc_pack_params pack,
                 void *userdata, uint32_t *ret_msgid, gc_error *err);
int gc_conn_flush(gc_conn *c, gc_error *err);
size_t gc_conn_out_pending(const gc_conn *c);
/* 0 (also when nothing was there: EAGAIN), or -ECONNRESET when the daemon
 * closed the connection, or another failure. */
int gc_conn_read(gc_conn *c, gc_error *err);
/* 1 and *ret (free it with gd_message_free): a response (an error object
 * included: see gc_conn_response_error) or a notification other than
 * "error"; 0: no whole message buffered; negative: the daemon's fatal
 * "error" notification or an invalid message, with err filled. */
int gc_conn_take(gc_conn *c, gd_message *ret, gc_error *err);
/* For a response m: 0 if it carries no error, else -EREMOTE with err
 * filled as gc_conn_call does. */
int gc_conn_response_error(gc_conn *c, const gd_message *m, gc_error *err);

/* Formats err (printf-style) and returns r, for `return gc_fail(...)`. */
int gc_fail(gc_error *err, int r, int exit_code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Monotonic clock, nanoseconds. */
int64_t gc_now(void);

/* Scope-bound cleanup, systemd style: the variable is released when it
 * goes out of scope; hand ownership off by setting it to NULL / -1. */
#define _cleanup_(f) __attribute__((cleanup(f)))
static inline void gc_conn_closep(gc_conn **c) { gc_conn_close(*c); }
static inline void gc_message_freep(gd_message *m) { gd_message_free(m); }

#endif
