/* log.h — godaemon's logging: to the journal with structured fields when
 * stderr is connected to it (the $JOURNAL_STREAM check systemd documents),
 * else one plain line per message on stderr with a level prefix.
 *
 * Every message carries PRIORITY, CODE_FILE, CODE_LINE, CODE_FUNC and
 * SYSLOG_IDENTIFIER; a message about a client connection also carries
 * CONN_ID, CLIENT_UID, CLIENT_GID and CLIENT_PID (gd_log_peer).  Messages
 * less severe than the current level are dropped before formatting.
 *
 * Thread safety: every call may come from any goroutine or thread at any
 * time; the level is an atomic and each message is written with one system
 * call (sd_journal_sendv or one write(2) to stderr).
 */
#ifndef GD_LOG_H
#define GD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>
#include <sys/types.h>

/* The client a message is about. */
typedef struct gd_log_peer {
	uint64_t conn_id; /* the daemon's number for the connection (from 1) */
	uid_t uid;        /* SO_PEERCRED of the connection */
	gid_t gid;
	pid_t pid;
} gd_log_peer;

/* Picks the journal or stderr (call once, early) and sets the level. */
void gd_log_open(int level);
void gd_log_set_level(int level);

/* Logs one message; returns err (a negative errno or 0) so that
 * `return log_error_errno(r, "...")` both logs and propagates.  err != 0
 * adds an ERRNO= field and ": strerror" to the text. */
int gd_log_internal(int prio, int err, const gd_log_peer *peer, const char *file, int line,
                    const char *func, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

#define gd_log_full(prio, err, peer, ...) \
	gd_log_internal((prio), (err), (peer), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...) gd_log_full(LOG_DEBUG, 0, NULL, __VA_ARGS__)
#define log_info(...) gd_log_full(LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_notice(...) gd_log_full(LOG_NOTICE, 0, NULL, __VA_ARGS__)
#define log_warning(...) gd_log_full(LOG_WARNING, 0, NULL, __VA_ARGS__)
#define log_error(...) gd_log_full(LOG_ERR, 0, NULL, __VA_ARGS__)
#define log_error_errno(err, ...) gd_log_full(LOG_ERR, (err), NULL, __VA_ARGS__)
#define log_warning_errno(err, ...) gd_log_full(LOG_WARNING, (err), NULL, __VA_ARGS__)
/* Logs without an errno text and returns err: for errors found by the
 * daemon itself (a bad setting), not reported by a system call. */
#define log_error_ret(err, ...) (gd_log_full(LOG_ERR, 0, NULL, __VA_ARGS__), (err))
#define log_peer(prio, peer, ...) gd_log_full((prio), 0, (peer), __VA_ARGS__)

#endif
