/* server.h — godaemon's connection server on libgort: an accept goroutine,
 * one goroutine per client connection (reading, decoding and answering its
 * requests, each request beyond hello on a goroutine of its own), the
 * limits of docs/protocol.md, the daemon's counters, and the job table
 * (jobs.h) whose methods it dispatches.
 *
 * Lifetime: gd_server_new on a goroutine with the listening socket and the
 * daemon's root context; gd_server_stop after the root context has been
 * cancelled (every connection's context descends from it, so cancelling it
 * makes every connection send SHUTTING_DOWN and close); then
 * gd_server_free.  Limits changed by gd_server_set_config apply to
 * connections accepted afterwards.  Every call is safe from any goroutine.
 */
#ifndef GD_SERVER_H
#define GD_SERVER_H

#include <stdint.h>

#include "conf.h"
#include "gort.h"
#include "proto.h"

typedef struct gd_server gd_server;

/* Takes ownership of listen_fd (a listening AF_UNIX stream socket; closed
 * on failure too) and starts accepting.  0, or -ENOMEM / gort_fd_open's
 * error. */
int gd_server_new(const gd_config *cfg, int listen_fd, gort_ctx *root, gd_server **ret);
/* New limits for connections accepted from now on. */
void gd_server_set_config(gd_server *s, const gd_config *cfg);
void gd_server_counters(gd_server *s, gd_counters *ret);
/* Closes the listener and waits up to timeout ns for the accept goroutine
 * and every connection to end (the root context must be cancelled first);
 * then stops the job table (jobs.h): queued jobs are cancelled and the
 * running ones, cancelled with the root context, are waited for (their
 * child processes get SIGTERM, SIGKILL after kill_grace).  0, or
 * -ETIMEDOUT with the number of connections still open in *ret_left. */
int gd_server_stop(gd_server *s, int64_t timeout, uint64_t *ret_left);
/* Only after gd_server_stop returned 0. */
void gd_server_free(gd_server *s);

#endif
