/* jb_beanstalk.c — jobs-bench's beanstalkd client: the reference queue the
 * issue compares godaemon's submit+wait rate with.  beanstalkd's protocol
 * is text: a command line ending in "\r\n", a body after put and after
 * RESERVED, each followed by "\r\n":
 *
 *   put <pri> <delay> <ttr> <bytes>\r\n<body>\r\n  ->  INSERTED <id>\r\n
 *   reserve\r\n                                   ->  RESERVED <id> <bytes>\r\n<body>\r\n
 *   delete <id>\r\n                               ->  DELETED\r\n
 *
 * One command in flight at a time on a blocking socket, answers read
 * through a small buffer.  A connection belongs to one thread.
 */
#include "config.h"
#include "jobs-bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct jb_bs {
	int fd;          /* the connection */
	size_t off, len; /* unread bytes are in[off..len) */
	char cmd[256];   /* the command being written */
	char in[4096];   /* read buffer */
};

int jb_bs_open(const char *path, jb_bs **ret, jb_error *e)
{
	jb_bs *c = calloc(1, sizeof *c);
	if (!c)
		return jb_fail(e, -ENOMEM, "out of memory");
	int fd = jb_connect(path, e);
	if (fd < 0) {
		free(c);
		return fd;
	}
	c->fd = fd;
	*ret = c;
	return 0;
}

void jb_bs_close(jb_bs *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

/* Reads more bytes after the unread ones (moved to the front first). */
static int fill(jb_bs *c, jb_error *e)
{
	if (c->off) {
		memmove(c->in, c->in + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == sizeof c->in)
		return jb_fail(e, -EPROTO, "beanstalkd: answer longer than %zu bytes", sizeof c->in);
	ssize_t n;
	do
		n = read(c->fd, c->in + c->len, sizeof c->in - c->len);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return jb_fail(e, n ? -errno : -EPIPE, "beanstalkd closed the connection");
	c->len += (size_t)n;
	return 0;
}

/* The next answer line, NUL-terminated in place (without its "\r\n"). */
static int read_line(jb_bs *c, char **ret, jb_error *e)
{
	for (;;) {
		char *p = c->in + c->off;
		size_t n = c->len - c->off;
		char *nl = n ? memchr(p, '\n', n) : NULL;
		if (nl && nl > p && nl[-1] == '\r') {
			nl[-1] = '\0';
			c->off += (size_t)(nl - p) + 1;
			*ret = p;
			return 0;
		}
		int r = fill(c, e);
		if (r < 0)
			return r;
	}
}

/* Skips a body of n bytes and its "\r\n". */
static int skip_body(jb_bs *c, size_t n, jb_error *e)
{
	n += 2;
	while (n) {
		if (c->off == c->len) {
			int r = fill(c, e);
			if (r < 0)
				return r;
		}
		size_t k = c->len - c->off < n ? c->len - c->off : n;
		c->off += k;
		n -= k;
	}
	return 0;
}

/* Writes the command in c->cmd (len bytes) and reads its answer line. */
static int command(jb_bs *c, size_t len, char **line, jb_error *e)
{
	int r = jb_write_all(c->fd, c->cmd, len, e);
	return r < 0 ? r : read_line(c, line, e);
}

int jb_bs_put_reserve_delete(jb_bs *c, const char *body, size_t len, jb_error *e)
{
	char *line;
	uint64_t id, n;
	int k = snprintf(c->cmd, sizeof c->cmd, "put 0 0 60 %zu\r\n", len);
	if ((size_t)k + len + 2 > sizeof c->cmd)
		return jb_fail(e, -EINVAL, "beanstalkd: body of %zu bytes too long", len);
	memcpy(c->cmd + k, body, len);
	memcpy(c->cmd + k + len, "\r\n", 2);
	int r = command(c, (size_t)k + len + 2, &line, e);
	if (r == 0 && sscanf(line, "INSERTED %" SCNu64, &id) != 1)
		r = jb_fail(e, -EPROTO, "beanstalkd: put answered \"%.64s\"", line);
	if (r == 0)
		r = command(c, (size_t)snprintf(c->cmd, sizeof c->cmd, "reserve\r\n"), &line, e);
	if (r == 0 && sscanf(line, "RESERVED %" SCNu64 " %" SCNu64, &id, &n) != 2)
		r = jb_fail(e, -EPROTO, "beanstalkd: reserve answered \"%.64s\"", line);
	if (r == 0)
		r = skip_body(c, (size_t)n, e);
	if (r == 0)
		r = command(c, (size_t)snprintf(c->cmd, sizeof c->cmd, "delete %" PRIu64 "\r\n", id),
		            &line, e);
	if (r == 0 && strcmp(line, "DELETED") != 0)
		r = jb_fail(e, -EPROTO, "beanstalkd: delete answered \"%.64s\"", line);
	return r;
}
