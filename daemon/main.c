/* main.c — godaemon: the command line, the configuration (file, --user
 * defaults, command-line overrides), the signals, and the daemon's root
 * goroutine, which owns the root context every connection's (and later
 * every job's) context descends from.
 *
 * Order of start-up: options, configuration, log level, listening socket
 * (all on the plain main thread), then SIGHUP/SIGTERM/SIGINT are blocked
 * so every runtime thread inherits the mask, and gort_main runs
 * daemon_main: it takes the signals through a signalfd on the netpoller,
 * starts the server and the watchdog/status goroutines, sends READY=1, and
 * loops on signals: SIGHUP reloads, SIGTERM/SIGINT stop.  A reload that
 * fails keeps the old configuration.  Command-line settings stay in force
 * across reloads.  Runs in the foreground: systemd supervises it.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "gort.h"
#include "log.h"
#include "sd.h"
#include "server.h"

#ifndef GD_SYSCONFDIR
#error "GD_SYSCONFDIR must be defined (daemon/local.mk passes $(sysconfdir))"
#endif
#define DEFAULT_CONFIG GD_SYSCONFDIR "/godaemon.conf"

/* How long a stop waits for connections to close (TimeoutStopSec= is 30 s). */
#define STOP_TIMEOUT (10 * GORT_SECOND)
/* How often STATUS= is refreshed while the counts change. */
#define STATUS_PERIOD GORT_SECOND

typedef struct options {
	const char *config;      /* -c, or NULL: DEFAULT_CONFIG, which may be missing */
	const char *socket;      /* --socket, or NULL */
	int procs;               /* --procs, or 0 */
	int log_level;           /* --log-level, or -1 */
	bool user;               /* --user */
} options;

typedef struct gd_daemon {
	options opt;
	gd_config cfg;           /* in force; changed by reloads (root goroutine only) */
	gd_listen listen;
	gd_server *srv;
	char state_dir[PATH_MAX];
	int result;              /* exit status */
} gd_daemon;

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: godaemon [OPTION]...\n"
	        "Run the godaemon job pipeline service in the foreground.\n\n"
	        "  -c, --config FILE     configuration file (default: %s; a missing\n"
	        "                        default file means built-in defaults)\n"
	        "      --socket PATH     socket to bind when not socket-activated\n"
	        "      --procs N         worker threads of the goroutine runtime (1-%d)\n"
	        "      --log-level LEVEL emerg, alert, crit, err, warning, notice, info, debug\n"
	        "      --user            per-user instance: socket under $XDG_RUNTIME_DIR/godaemon,\n"
	        "                        state under $XDG_STATE_HOME/godaemon\n"
	        "  -h, --help            show this help and exit\n"
	        "      --version         show the version and exit\n\n"
	        "Signals: SIGHUP reloads the configuration, SIGTERM and SIGINT stop.\n"
	        "See godaemon(8), godaemon.conf(5) and the protocol in %s/protocol.md.\n",
	        DEFAULT_CONFIG, GORT_MAX_PROCS, GD_DOCDIR);
}

enum { OPT_SOCKET = 256, OPT_PROCS, OPT_LOG_LEVEL, OPT_USER, OPT_VERSION };

static int parse_procs(const char *arg, int *ret)
{
	char *end;
	errno = 0;
	long n = strtol(arg, &end, 10);
	if (errno || end == arg || *end || n < 1 || n > GORT_MAX_PROCS) {
		fprintf(stderr, "godaemon: --procs: expected 1 to %d, got \"%s\"\n", GORT_MAX_PROCS,
		        arg);
		return -EINVAL;
	}
	*ret = (int)n;
	return 0;
}

static int check_options(int argc, char **argv, const options *o)
{
	if (optind < argc) {
		fprintf(stderr, "godaemon: unexpected argument \"%s\"\nTry 'godaemon --help'.\n",
		        argv[optind]);
		return -EINVAL;
	}
	if (o->socket && (o->socket[0] != '/' || strlen(o->socket) > GD_CONF_PATH_MAX)) {
		fprintf(stderr, "godaemon: --socket: expected an absolute path of at most %d bytes\n",
		        GD_CONF_PATH_MAX);
		return -EINVAL;
	}
	return 0;
}

/* 0 to run, 1 to exit successfully (--help, --version), -EINVAL. */
static int parse_options(int argc, char **argv, options *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"procs", required_argument, NULL, OPT_PROCS},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"user", no_argument, NULL, OPT_USER},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{0},
	};
	*o = (options){.log_level = -1};
	int c;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case OPT_SOCKET: o->socket = optarg; break;
		case OPT_USER: o->user = true; break;
		case 'h': usage(stdout); return 1;
		case OPT_VERSION:
			printf("godaemon %s (protocol %d)\n", PACKAGE_VERSION, GD_PROTO_VERSION);
			return 1;
		case OPT_PROCS:
			if (parse_procs(optarg, &o->procs) < 0)
				return -EINVAL;
			break;
		case OPT_LOG_LEVEL:
			if (gd_conf_parse_level(optarg, &o->log_level) < 0) {
				fprintf(stderr, "godaemon: --log-level: unknown level \"%s\"\n", optarg);
				return -EINVAL;
			}
			break;
		default: fprintf(stderr, "Try 'godaemon --help'.\n"); return -EINVAL;
		}
	}
	return check_options(argc, argv, o);
}

/* --user defaults for what the file did not set, then the command line. */
static int apply_overrides(const options *o, gd_config *c)
{
	if (o->user && !gd_conf_is_set(c, GD_CK_SOCKET)) {
		const char *rt = getenv("XDG_RUNTIME_DIR");
		if (!rt || rt[0] != '/')
			return log_error_ret(-EINVAL, "--user: $XDG_RUNTIME_DIR is not set (use --socket)");
		int n = snprintf(c->socket, sizeof c->socket, "%s/godaemon/godaemon.sock", rt);
		if (n < 0 || (size_t)n >= sizeof c->socket)
			return log_error_ret(-ENAMETOOLONG, "--user: socket path under %s", rt);
	}
	if (o->user && !gd_conf_is_set(c, GD_CK_SOCKET_MODE))
		c->socket_mode = 0600;
	if (o->user && !gd_conf_is_set(c, GD_CK_SOCKET_GROUP))
		c->socket_group[0] = '\0';
	if (o->socket)
		snprintf(c->socket, sizeof c->socket, "%s", o->socket);
	if (o->procs > 0)
		c->workers = (uint32_t)o->procs;
	if (o->log_level >= 0)
		c->log_level = o->log_level;
	return 0;
}

/* The configuration as the options say: file (or defaults) + overrides.
 * Logs what is wrong; *ret is untouched on failure. */
static int load_config(const options *o, gd_config *ret)
{
	const char *path = o->config ? o->config : DEFAULT_CONFIG;
	gd_config c;
	gd_conf_error err = {0};
	int r = gd_conf_load(path, &c, &err);
	if (r == -ENOENT && !o->config) {
		gd_conf_defaults(&c);
		r = 0;
	}
	if (r == -EINVAL)
		return log_error_ret(r, "%s has %d error(s):\n%s", path, err.count, err.text);
	if (r < 0)
		return log_error_errno(r, "cannot read %s", path);
	if ((r = apply_overrides(o, &c)) < 0)
		return r;
	*ret = c;
	return 0;
}

/* --user keeps its state under $XDG_STATE_HOME/godaemon (created 0700);
 * the system instance's is systemd's StateDirectory= ($STATE_DIRECTORY). */
static int state_dir(gd_daemon *d)
{
	const char *base = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	const char *sd = getenv("STATE_DIRECTORY");
	int n;
	if (!d->opt.user)
		n = snprintf(d->state_dir, sizeof d->state_dir, "%s",
		             sd ? sd : GD_LOCALSTATEDIR "/lib/godaemon");
	else if (base && base[0] == '/')
		n = snprintf(d->state_dir, sizeof d->state_dir, "%s/godaemon", base);
	else if (home && home[0] == '/')
		n = snprintf(d->state_dir, sizeof d->state_dir, "%s/.local/state/godaemon", home);
	else
		return log_error_ret(-EINVAL, "--user: neither $XDG_STATE_HOME nor $HOME is set");
	if (n < 0 || (size_t)n >= sizeof d->state_dir)
		return log_error_ret(-ENAMETOOLONG, "state directory path");
	if (!d->opt.user)
		return 0;
	for (char *p = d->state_dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir(d->state_dir, 0700) < 0 && errno != EEXIST ? -errno : 0;
		*p = '/';
		if (r < 0)
			return log_error_errno(r, "cannot create the parents of %s", d->state_dir);
	}
	if (mkdir(d->state_dir, 0700) < 0 && errno != EEXIST)
		return log_error_errno(-errno, "cannot create %s", d->state_dir);
	return 0;
}

/* ---- on the runtime -------------------------------------------------------- */

static intptr_t load_config_blocking(void *arg)
{
	void **a = arg; /* {options, config} */
	return load_config(a[0], a[1]);
}

/* SIGHUP: re-read the file; on error keep the old configuration. */
static void reload(gd_daemon *d)
{
	gd_sd_notify_reloading();
	gd_config c;
	void *a[2] = {&d->opt, &c};
	if (gort_blocking_call(load_config_blocking, a) < 0) {
		log_error("reload failed: keeping the configuration in force");
	} else {
		if (strcmp(c.socket, d->cfg.socket) != 0 || c.socket_mode != d->cfg.socket_mode ||
		    strcmp(c.socket_group, d->cfg.socket_group) != 0 || c.workers != d->cfg.workers ||
		    c.watchdog != d->cfg.watchdog)
			log_notice("reload: socket, workers and watchdog take effect at the next start");
		d->cfg = c;
		gd_log_set_level(c.log_level);
		gd_server_set_config(d->srv, &c);
		log_info("configuration reloaded");
	}
	gd_sd_notify_ready(d->srv);
}

/* Handles signals until SIGTERM or SIGINT. */
static int signal_loop(gd_daemon *d, gort_fd *sfd)
{
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = gort_fd_read(sfd, &si, sizeof si, GORT_DEADLINE_NONE, NULL);
		if (n < 0)
			return log_error_errno((int)n, "reading signals");
		if (n != sizeof si)
			continue;
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP from pid %u: reloading", si.ssi_pid);
			reload(d);
			continue;
		}
		log_info("%s from pid %u: stopping", strsignal((int)si.ssi_signo), si.ssi_pid);
		return 0;
	}
}

static gort_fd *open_signalfd(void)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		log_error_errno(-errno, "signalfd");
		return NULL;
	}
	gort_fd *f = gort_fd_open(fd);
	if (!f) {
		log_error_errno(-errno, "registering the signalfd");
		close(fd);
	}
	return f;
}

/* Cancels everything and waits for it, within STOP_TIMEOUT. */
static void stop(gd_daemon *d, gort_ctx *root, gort_waitgroup *helpers)
{
	gd_sd_notify_stopping();
	gort_ctx_cancel(root);
	uint64_t left = 0;
	if (gd_server_stop(d->srv, STOP_TIMEOUT, &left) < 0) {
		log_warning("%llu connection(s) still open after %lld s: exiting anyway",
		            (unsigned long long)left, (long long)(STOP_TIMEOUT / GORT_SECOND));
		return; /* the server stays allocated: its goroutines still use it */
	}
	gort_waitgroup_wait(helpers);
	gd_server_free(d->srv);
	d->srv = NULL;
}

static int daemon_main(void *arg)
{
	gd_daemon *d = arg;
	gort_waitgroup helpers = GORT_WAITGROUP_INIT;
	gort_ctx *root = gort_ctx_with_cancel(gort_ctx_background());
	if (!root)
		log_error("out of memory for the root context");
	gort_fd *sfd = root ? open_signalfd() : NULL;
	int r = sfd ? gd_server_new(&d->cfg, d->listen.fd, root, &d->srv) : -ENOMEM;
	if (r < 0) {
		if (sfd)
			log_error_errno(r, "cannot start the server");
		else
			close(d->listen.fd);
		goto out;
	}
	/* Without its watchdog pinger systemd would kill a healthy daemon, and
	 * without the status updater it would show a stale STATUS=: refuse to
	 * start rather than run half-monitored. */
	if ((r = gd_sd_watchdog_start(root, &helpers, d->cfg.watchdog)) < 0 ||
	    (r = gd_sd_status_start(root, &helpers, d->srv, STATUS_PERIOD)) < 0) {
		log_error_errno(r, "cannot start the watchdog or status goroutine");
		stop(d, root, &helpers);
		goto out;
	}
	log_info("godaemon %s serving on %s (%s), %d worker threads, state in %s", PACKAGE_VERSION,
	         d->listen.activated ? "the socket systemd passed" : d->cfg.socket,
	         d->listen.activated ? "socket activation" : "bound by godaemon", gort_nprocs(),
	         d->state_dir);
	gd_sd_notify_ready(d->srv);
	r = signal_loop(d, sfd);
	stop(d, root, &helpers);
	log_info("stopped");
out:
	if (sfd)
		gort_fd_close(sfd);
	gort_ctx_unref(root);
	d->result = r < 0 ? 1 : 0;
	return 0;
}

int main(int argc, char **argv)
{
	static gd_daemon d;
	int r = parse_options(argc, argv, &d.opt);
	if (r != 0)
		return r > 0 ? EXIT_SUCCESS : 2;
	gd_log_open(d.opt.log_level >= 0 ? d.opt.log_level : LOG_INFO);
	if (load_config(&d.opt, &d.cfg) < 0 || state_dir(&d) < 0)
		return EXIT_FAILURE;
	gd_log_set_level(d.cfg.log_level);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL); /* before any thread: all inherit it */
	signal(SIGPIPE, SIG_IGN);            /* a client gone mid-write is an EPIPE */
	if (gd_sd_listen(&d.cfg, &d.listen) < 0)
		return EXIT_FAILURE;
	gort_config gc = {.procs = (int)d.cfg.workers};
	r = gort_main(&gc, daemon_main, &d);
	gd_sd_unlink(&d.listen);
	if (r < 0) {
		log_error_errno(r, "cannot start the goroutine runtime");
		return EXIT_FAILURE;
	}
	return d.result;
}
