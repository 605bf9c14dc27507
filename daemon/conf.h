/* conf.h — godaemon's configuration: the typed table of every key (section,
 * name, type, default, range, documentation), the loader of the INI file
 * (parsed by libinih) and a printer of the effective configuration.
 *
 * (Named conf, not config: a daemon/config.h would shadow autoconf's
 * config.h for every file in daemon/, since a quoted #include searches the
 * including file's directory first.)
 *
 * Rules: built-in defaults need no file; a key may be set once; unknown
 * sections and keys, bad values and out-of-range values are errors reported
 * as "FILE:LINE: message"; a load that fails leaves the caller's config
 * untouched, so a reload keeps the old one.  The docs (config/godaemon.conf,
 * docs/godaemon.conf.5) are checked against this table by tests/test_config.
 * No global state; a gd_config is a plain value that may be copied.
 */
#ifndef GD_CONF_H
#define GD_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define GD_MSEC INT64_C(1000000)
#define GD_SEC (1000 * GD_MSEC)
#define GD_MIN (60 * GD_SEC)
#define GD_HOUR (60 * GD_MIN)
#define GD_DAY (24 * GD_HOUR)

/* Longest socket path (sizeof sockaddr_un.sun_path, less the NUL). */
#define GD_CONF_PATH_MAX 107
/* Longest group name. */
#define GD_CONF_GROUP_MAX 32

/* Value types: their syntax is in docs/godaemon.conf.5. */
typedef enum gd_conf_type {
	GD_CT_PATH,     /* absolute path of at most GD_CONF_PATH_MAX bytes */
	GD_CT_MODE,     /* octal permission bits, 0 to 0777 */
	GD_CT_GROUP,    /* group name or number; empty: leave the group alone */
	GD_CT_UINT,     /* decimal integer */
	GD_CT_SIZE,     /* bytes: 4096, 64KiB, 16MiB, 1GiB (K/M/G are KiB/MiB/GiB) */
	GD_CT_DURATION, /* 100ms, 30s, 5m, 2h, 1d, or sums like 1h30m; 0 alone */
	GD_CT_BOOL,     /* yes/no, true/false, on/off, 1/0 */
	GD_CT_LEVEL,    /* syslog level name: emerg ... debug */
} gd_conf_type;

/* X(ID, section, key, type, field, default, min, max, doc)
 * min/max bound the value (nanoseconds for durations, bytes for sizes). */
#define GD_CONF_KEYS(X) \
	X(SOCKET, "daemon", "socket", GD_CT_PATH, socket, "/run/godaemon/godaemon.sock", 0, 0, \
	  "Unix socket path the daemon binds when systemd does not pass it one. With --user, " \
	  "the default is $XDG_RUNTIME_DIR/godaemon/godaemon.sock.") \
	X(SOCKET_MODE, "daemon", "socket_mode", GD_CT_MODE, socket_mode, "0660", 0, 0777, \
	  "Permission bits (octal) of a socket the daemon binds itself.") \
	X(SOCKET_GROUP, "daemon", "socket_group", GD_CT_GROUP, socket_group, "godaemon", 0, 0, \
	  "Group owning a socket the daemon binds itself; members may connect. Empty: " \
	  "the daemon's own group.") \
	X(WORKERS, "daemon", "workers", GD_CT_UINT, workers, "0", 0, 256, \
	  "Worker threads of the goroutine runtime; 0: one per CPU the daemon may run on.") \
	X(WATCHDOG, "daemon", "watchdog", GD_CT_BOOL, watchdog, "yes", 0, 0, \
	  "Send WATCHDOG=1 to systemd at half the WatchdogSec= interval it announces " \
	  "(WATCHDOG_USEC) from a goroutine, so a stalled scheduler gets the service restarted.") \
	X(MAX_CONNECTIONS, "limits", "max_connections", GD_CT_UINT, max_connections, "1024", 1, \
	  1000000, "Client connections open at once; a further one gets a TOO_MANY_CONNECTIONS " \
	  "error and is closed.") \
	X(MAX_MESSAGE_SIZE, "limits", "max_message_size", GD_CT_SIZE, max_message_size, "16MiB", \
	  4096, 1073741824, \
	  "Largest message accepted; a client sending a larger one gets an error and is " \
	  "disconnected before the message is buffered whole.") \
	X(MAX_INFLIGHT, "limits", "max_inflight", GD_CT_UINT, max_inflight, "64", 1, 65536, \
	  "Requests one connection may have in flight (sent, not yet answered).") \
	X(HANDSHAKE_TIMEOUT, "limits", "handshake_timeout", GD_CT_DURATION, handshake_timeout, \
	  "10s", 100 * GD_MSEC, GD_HOUR, \
	  "Time a new connection has to complete the hello handshake before it is closed.") \
	X(MAX_RUNNING, "jobs", "max_running", GD_CT_UINT, max_running, "16", 1, 4096, \
	  "Jobs running at once; further ones wait in the admission queue.") \
	X(MAX_QUEUED, "jobs", "max_queued", GD_CT_UINT, max_queued, "1024", 0, 1000000, \
	  "Jobs waiting to run; when the queue is full a submission is refused at once.") \
	X(MAX_QUEUED_PER_UID, "jobs", "max_queued_per_uid", GD_CT_UINT, max_queued_per_uid, "256", \
	  0, 1000000, "Jobs one user may have waiting; at most max_queued.") \
	X(QUEUE_CAPACITY, "jobs", "queue_capacity", GD_CT_UINT, queue_capacity, "64", 1, 1048576, \
	  "Default capacity in items of the bounded queue between two stages of a pipeline.") \
	X(RETENTION, "jobs", "retention", GD_CT_DURATION, retention, "1h", 0, 30 * GD_DAY, \
	  "How long a finished job (its state, counters and collected output) is kept.") \
	X(MAX_FINISHED, "jobs", "max_finished", GD_CT_UINT, max_finished, "10000", 0, 1000000, \
	  "Finished jobs kept at most; beyond it the oldest is forgotten before its retention.") \
	X(KILL_GRACE, "jobs", "kill_grace", GD_CT_DURATION, kill_grace, "5s", 0, GD_HOUR, \
	  "Time between SIGTERM and SIGKILL when a cancelled job's child processes are stopped.") \
	X(LOG_LEVEL, "log", "level", GD_CT_LEVEL, log_level, "info", 0, 7, \
	  "Least severe messages logged: emerg, alert, crit, err, warning, notice, info or debug.")

typedef enum gd_conf_key {
#define GD_X_(id, sec, key, type, field, def, min, max, doc) GD_CK_##id,
	GD_CONF_KEYS(GD_X_)
#undef GD_X_
	GD_CONF_NKEYS
} gd_conf_key;

typedef struct gd_config {
	char socket[GD_CONF_PATH_MAX + 1];
	uint32_t socket_mode;
	char socket_group[GD_CONF_GROUP_MAX + 1];
	uint32_t workers;
	bool watchdog;
	uint32_t max_connections;
	uint64_t max_message_size;   /* bytes */
	uint32_t max_inflight;
	int64_t handshake_timeout;   /* nanoseconds */
	uint32_t max_running;
	uint32_t max_queued;
	uint32_t max_queued_per_uid;
	uint32_t queue_capacity;
	int64_t retention;           /* nanoseconds */
	uint32_t max_finished;
	int64_t kill_grace;          /* nanoseconds */
	int log_level;               /* syslog priority, LOG_EMERG (0) to LOG_DEBUG (7) */
	uint32_t line[GD_CONF_NKEYS]; /* line that set each key; 0: built-in default */
} gd_config;

/* Room for the report of a failed load: one "FILE:LINE: message" per line. */
typedef struct gd_conf_error {
	int count;       /* errors found */
	char text[2048]; /* all of them by line, one per text line ("..." if cut) */
} gd_conf_error;

/* Fills *ret with the built-in defaults. */
void gd_conf_defaults(gd_config *ret);

/* Reads the file at path over the built-in defaults.  On success stores the
 * result in *ret and returns 0.  Otherwise *ret is untouched, err says why
 * and the return is -EINVAL (bad content), -ENOENT/-EACCES/... (the file
 * could not be opened), -EIO (reading failed) or -ENOMEM. */
int gd_conf_load(const char *path, gd_config *ret, gd_conf_error *err);
/* The same from an open stream; name is used in messages. */
int gd_conf_load_stream(FILE *f, const char *name, gd_config *ret, gd_conf_error *err);

/* Writes c as a complete configuration file: every key with its
 * documentation as a comment.  Loading the output gives c back. */
void gd_conf_print(const gd_config *c, FILE *out);

/* Table lookups: the key's section, name, type and default text; and the
 * key called section.name, or -ENOENT. */
const char *gd_conf_key_section(gd_conf_key k);
const char *gd_conf_key_name(gd_conf_key k);
gd_conf_type gd_conf_key_type(gd_conf_key k);
const char *gd_conf_key_default(gd_conf_key k);
int gd_conf_key_lookup(const char *section, const char *name);

/* Whether the loaded file set key k (so --user may replace the default). */
bool gd_conf_is_set(const gd_config *c, gd_conf_key k);

/* Parsers of the value syntaxes (shared with the daemon's command line):
 * 0 and *ret, or -EINVAL / -ERANGE (overflow). */
int gd_conf_parse_duration(const char *s, int64_t *ret);
int gd_conf_parse_size(const char *s, uint64_t *ret);
/* "info" -> 6...; -EINVAL for an unknown name. */
int gd_conf_parse_level(const char *s, int *ret);
const char *gd_conf_level_name(int level);

#endif
