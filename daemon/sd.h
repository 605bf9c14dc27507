/* sd.h — godaemon's systemd integration through libsystemd: the listening
 * socket (socket activation with sd_listen_fds, or a socket the daemon
 * binds itself), sd_notify state changes, and two goroutines: the watchdog
 * pinger and the STATUS= updater.
 *
 * gd_sd_listen and gd_sd_unlink run before/after the runtime (plain
 * thread); the notify calls from anywhere; the goroutine starters on a
 * goroutine.  No state of its own besides what the caller passes.
 */
#ifndef GD_SD_H
#define GD_SD_H

#include <stdbool.h>
#include <sys/un.h>

#include "conf.h"
#include "gort.h"
#include "server.h"

typedef struct gd_listen {
	int fd;                  /* the listening socket */
	bool activated;          /* passed by systemd (socket activation) */
	char bound[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* path we bound, or "" */
} gd_listen;

/* The socket to accept on: the one systemd passed, else a new one bound at
 * c->socket (its directory created, a stale socket file removed, mode and
 * group applied).  Logs what went wrong; 0 or a negative errno. */
int gd_sd_listen(const gd_config *c, gd_listen *ret);
/* Removes the socket file the daemon bound itself, if any. */
void gd_sd_unlink(gd_listen *l);

/* STATUS= text with the server's live counts. */
void gd_sd_status_text(gd_server *s, char *buf, size_t size);
void gd_sd_notify_ready(gd_server *s);
void gd_sd_notify_reloading(void);
void gd_sd_notify_stopping(void);

/* Spawns the WATCHDOG=1 pinger when systemd asks for one
 * (sd_watchdog_enabled) and watchdog is on: at once, then every half
 * interval, until ctx is cancelled.  The goroutine is counted in wg until
 * it ends.  Returns 1 when started, 0 when not asked, or -ENOMEM. */
int gd_sd_watchdog_start(gort_ctx *ctx, gort_waitgroup *wg, bool watchdog);
/* Spawns the STATUS= updater: every period, when the counts changed, until
 * ctx is cancelled; counted in wg.  s must outlive it.  0 or -ENOMEM. */
int gd_sd_status_start(gort_ctx *ctx, gort_waitgroup *wg, gd_server *s, int64_t period);

#endif
