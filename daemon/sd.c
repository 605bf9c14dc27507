/* sd.c — godaemon's systemd integration (see sd.h).
 *
 * The listening socket: systemd's (LISTEN_FDS, exactly one AF_UNIX stream
 * socket) or our own.  Binding our own: the parent directory is created
 * (0755 when the socket's mode lets others in, else 0700), a socket file
 * left by a daemon that died is removed (only when connecting to it is
 * refused: a live daemon is never displaced), the socket is bound under a
 * umask that keeps it private until its mode and group are applied.
 *
 * The periodic goroutines (watchdog, status) each hold a reference to the
 * context that ends them, and a ticker of their own; nothing is shared.
 */
#include "config.h"
#include "sd.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* ---- the listening socket ------------------------------------------------ */

static int activated_socket(gd_listen *ret)
{
	int n = sd_listen_fds(1);
	if (n < 0)
		return log_error_errno(n, "cannot read the sockets passed by systemd");
	if (n == 0)
		return 0;
	if (n > 1)
		return log_error_ret(-EINVAL, "systemd passed %d sockets, godaemon takes one", n);
	int fd = SD_LISTEN_FDS_START;
	int r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
	if (r <= 0)
		return log_error_ret(r < 0 ? r : -EINVAL,
		                       "the socket systemd passed is not a listening AF_UNIX stream socket");
	*ret = (gd_listen){.fd = fd, .activated = true};
	return 1;
}

/* mkdir -p of path's parent directory. */
static int make_parent(const char *path, mode_t mode)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof dir, "%s", path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, mode) < 0 && errno != EEXIST)
			return log_error_errno(-errno, "cannot create directory %s", dir);
		*p = '/';
	}
	return 0;
}

/* Removes path if it is a socket nobody accepts on. */
static int remove_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : log_error_errno(-errno, "cannot stat %s", path);
	if (!S_ISSOCK(st.st_mode))
		return log_error_ret(-EEXIST, "%s exists and is not a socket", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(-errno, "socket");
	int r = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ? 0 : -errno;
	close(fd);
	if (r == 0 || r == -EAGAIN)
		return log_error_ret(-EADDRINUSE, "another daemon is listening on %s", path);
	if (r != -ECONNREFUSED)
		return log_error_errno(r, "cannot tell whether %s is in use", path);
	log_notice("removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return log_error_errno(-errno, "cannot remove %s", path);
	return 0;
}

static int resolve_group(const char *name, gid_t *ret)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(name, &end, 10);
	if (*name && !*end && errno == 0 && n < (gid_t)-1) {
		*ret = (gid_t)n;
		return 0;
	}
	struct group *g = getgrnam(name); /* before the runtime: one thread */
	if (!g)
		return log_error_ret(-ENOENT,
		                       "socket_group: no group \"%s\" (create it, or set socket_group "
		                       "= to leave the socket's group alone)", name);
	*ret = g->gr_gid;
	return 0;
}

static int bind_listen(int fd, const gd_config *c, const struct sockaddr_un *sa)
{
	mode_t old = umask(0177);
	int r = bind(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ? 0 : -errno;
	umask(old);
	if (r < 0)
		return log_error_errno(r, "cannot bind %s", c->socket);
	gid_t gid = (gid_t)-1;
	if (c->socket_group[0] && (r = resolve_group(c->socket_group, &gid)) < 0)
		return r;
	if (c->socket_group[0] && chown(c->socket, (uid_t)-1, gid) < 0)
		return log_error_errno(-errno, "cannot give %s to group %s", c->socket,
		                       c->socket_group);
	if (chmod(c->socket, c->socket_mode) < 0)
		return log_error_errno(-errno, "cannot chmod %s", c->socket);
	if (listen(fd, SOMAXCONN) < 0)
		return log_error_errno(-errno, "cannot listen on %s", c->socket);
	return 0;
}

static int own_socket(const gd_config *c, gd_listen *ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(c->socket) >= sizeof sa.sun_path)
		return log_error_ret(-ENAMETOOLONG, "socket path %s is too long", c->socket);
	strcpy(sa.sun_path, c->socket);
	int r = make_parent(c->socket, (c->socket_mode & 0077) ? 0755 : 0700);
	if (r < 0 || (r = remove_stale(c->socket, &sa)) < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(-errno, "socket");
	r = bind_listen(fd, c, &sa);
	if (r < 0) {
		close(fd);
		unlink(c->socket);
		return r;
	}
	*ret = (gd_listen){.fd = fd};
	strcpy(ret->bound, c->socket);
	return 0;
}

int gd_sd_listen(const gd_config *c, gd_listen *ret)
{
	int r = activated_socket(ret);
	if (r != 0)
		return r < 0 ? r : 0;
	return own_socket(c, ret);
}

void gd_sd_unlink(gd_listen *l)
{
	if (l->bound[0] && unlink(l->bound) < 0 && errno != ENOENT)
		log_warning_errno(-errno, "cannot remove %s", l->bound);
	l->bound[0] = '\0';
}

/* ---- notifications ------------------------------------------------------- */

void gd_sd_status_text(gd_server *s, char *buf, size_t size)
{
	gd_counters k;
	gd_server_counters(s, &k);
	snprintf(buf, size, "%llu connections, %llu requests, %llu errors",
	         (unsigned long long)k.connections, (unsigned long long)k.requests,
	         (unsigned long long)k.errors);
}

void gd_sd_notify_ready(gd_server *s)
{
	char status[160];
	gd_sd_status_text(s, status, sizeof status);
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void gd_sd_notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nSTATUS=Reloading the configuration\nMONOTONIC_USEC=%llu",
	           (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void gd_sd_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
}

/* ---- periodic goroutines -------------------------------------------------- */

typedef struct periodic {
	gort_ctx *ctx;      /* a reference: ends the loop when cancelled */
	gort_waitgroup *wg; /* done when the goroutine ends */
	gort_ticker *ticker; /* owned: freed when the goroutine ends */
	void (*fn)(void *arg);
	void *arg;          /* freed at the end when owned */
	bool owns_arg;
} periodic;

static void periodic_main(void *arg)
{
	periodic *p = arg;
	p->fn(p->arg);
	for (;;) {
		gort_select_case cases[2] = {
			{gort_ctx_done(p->ctx), GORT_SELECT_RECV, NULL, false},
			{gort_ticker_chan(p->ticker), GORT_SELECT_RECV, NULL, false},
		};
		if (gort_select(cases, 2, true) == 0)
			break;
		p->fn(p->arg);
	}
	gort_ticker_free(p->ticker);
	gort_ctx_unref(p->ctx);
	if (p->owns_arg)
		free(p->arg);
	gort_waitgroup_done(p->wg);
	free(p);
}

/* The ticker is made here, not in the goroutine, so that a daemon that
 * cannot make one fails to start instead of silently never pinging. */
static int periodic_start(gort_ctx *ctx, gort_waitgroup *wg, int64_t period, const char *name,
                          void (*fn)(void *arg), void *arg, bool owns_arg)
{
	periodic *p = malloc(sizeof *p);
	if (!p)
		return -ENOMEM;
	gort_ticker *t = gort_ticker_make(period);
	if (!t) {
		int r = -errno;
		free(p);
		return r;
	}
	*p = (periodic){gort_ctx_ref(ctx), wg, t, fn, arg, owns_arg};
	gort_waitgroup_add(wg, 1);
	gort_go_opts o = {.name = name};
	if (gort_go_with(periodic_main, p, &o) < 0) {
		gort_waitgroup_done(wg);
		gort_ticker_free(t);
		gort_ctx_unref(p->ctx);
		free(p);
		return -ENOMEM;
	}
	return 0;
}

static void watchdog_ping(void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

int gd_sd_watchdog_start(gort_ctx *ctx, gort_waitgroup *wg, bool watchdog)
{
	uint64_t usec = 0;
	int r = sd_watchdog_enabled(0, &usec);
	if (r < 0)
		log_warning_errno(r, "cannot read the watchdog settings (WATCHDOG_USEC)");
	if (r <= 0 || usec == 0)
		return 0;
	if (!watchdog) {
		log_notice("systemd asks for watchdog pings but [daemon] watchdog = no");
		return 0;
	}
	log_debug("watchdog: pinging every %llu us", (unsigned long long)usec / 2);
	r = periodic_start(ctx, wg, (int64_t)usec / 2 * GORT_MICROSECOND, "godaemon-watchdog",
	                   watchdog_ping, NULL, false);
	return r < 0 ? r : 1;
}

typedef struct status_state {
	gd_server *srv;
	char last[160];
} status_state;

static void status_update(void *arg)
{
	status_state *st = arg;
	char now[sizeof st->last];
	gd_sd_status_text(st->srv, now, sizeof now);
	if (strcmp(now, st->last) == 0)
		return;
	memcpy(st->last, now, sizeof now);
	sd_notifyf(0, "STATUS=%s", now);
}

int gd_sd_status_start(gort_ctx *ctx, gort_waitgroup *wg, gd_server *s, int64_t period)
{
	status_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	st->srv = s;
	int r = periodic_start(ctx, wg, period, "godaemon-status", status_update, st, true);
	if (r < 0)
		free(st);
	return r;
}
