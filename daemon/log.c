/* log.c — godaemon's log sink (see log.h): the journal's native protocol
 * with structured fields when stderr is the journal, plain lines on stderr
 * otherwise.
 *
 * Invariants: the sink is chosen once by gd_log_open (before any thread
 * exists) and never changes; only the level changes later, atomically.
 * Nothing here allocates: messages are formatted into stack buffers (a
 * message is cut at LINE_MAX bytes).
 */
#include "config.h"
#define SD_JOURNAL_SUPPRESS_LOCATION 1 /* we pass the caller's location */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#define MSG_MAX 2048

static _Atomic int log_level = LOG_INFO;
static bool log_journal;

static const char *const level_prefix[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

/* systemd.exec(5): $JOURNAL_STREAM is "DEV:INODE" of the stream systemd
 * connected stdout/stderr to; it is inherited, so compare it with what
 * stderr really is now. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void gd_log_open(int level)
{
	log_journal = stderr_is_journal();
	gd_log_set_level(level);
}

void gd_log_set_level(int level)
{
	if (level < LOG_EMERG)
		level = LOG_EMERG;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	atomic_store(&log_level, level);
}

/* Fields are formatted into one buffer, each NUL-terminated, then pointed
 * at by iovecs (without their NUL). */
typedef struct fields {
	struct iovec iov[12];
	int n;
	char buf[512];
	size_t used;
} fields;

static void field_add(fields *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void field_add(fields *f, const char *fmt, ...)
{
	size_t room = sizeof f->buf - f->used;
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(f->buf + f->used, room, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= room || f->n >= (int)(sizeof f->iov / sizeof f->iov[0]))
		return;
	f->iov[f->n++] = (struct iovec){f->buf + f->used, (size_t)len};
	f->used += (size_t)len + 1;
}

static void send_journal(int prio, int err, const gd_log_peer *peer, const char *file, int line,
                         const char *func, const char *msg)
{
	fields f = {.n = 1};
	size_t mlen = strlen(msg);
	char mbuf[MSG_MAX + 16];
	memcpy(mbuf, "MESSAGE=", 8);
	memcpy(mbuf + 8, msg, mlen);
	f.iov[0] = (struct iovec){mbuf, 8 + mlen};
	field_add(&f, "PRIORITY=%d", prio);
	field_add(&f, "SYSLOG_IDENTIFIER=godaemon");
	field_add(&f, "CODE_FILE=%s", file);
	field_add(&f, "CODE_LINE=%d", line);
	field_add(&f, "CODE_FUNC=%s", func);
	if (err)
		field_add(&f, "ERRNO=%d", -err);
	if (peer) {
		field_add(&f, "CONN_ID=%" PRIu64, peer->conn_id);
		field_add(&f, "CLIENT_UID=%u", (unsigned)peer->uid);
		field_add(&f, "CLIENT_GID=%u", (unsigned)peer->gid);
		field_add(&f, "CLIENT_PID=%d", (int)peer->pid);
	}
	sd_journal_sendv(f.iov, f.n);
}

static void send_stderr(int prio, const gd_log_peer *peer, const char *msg)
{
	char line[MSG_MAX + 160];
	int n;
	if (peer)
		n = snprintf(line, sizeof line, "godaemon: %s: %s [conn %" PRIu64 " uid %u pid %d]\n",
		             level_prefix[prio], msg, peer->conn_id, (unsigned)peer->uid,
		             (int)peer->pid);
	else
		n = snprintf(line, sizeof line, "godaemon: %s: %s\n", level_prefix[prio], msg);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
	if (write(STDERR_FILENO, line, len) < 0)
		return; /* nowhere left to report it */
}

int gd_log_internal(int prio, int err, const gd_log_peer *peer, const char *file, int line,
                    const char *func, const char *fmt, ...)
{
	int saved = errno;
	prio &= LOG_PRIMASK;
	if (prio > atomic_load(&log_level))
		return err;
	char msg[MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (err && n >= 0 && (size_t)n < sizeof msg)
		snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(err < 0 ? -err : err));
	if (log_journal)
		send_journal(prio, err < 0 ? err : -err, peer, file, line, func, msg);
	else
		send_stderr(prio, peer, msg);
	errno = saved;
	return err;
}
