/* jobs-bench.h — what jobs-bench's driver (jobs-bench.c) and its two
 * clients share: jb_godaemon.c (godaemon's protocol, through the daemon's
 * codec library) and jb_beanstalk.c (beanstalkd's text protocol).
 *
 * A client is a blocking connection over a Unix stream socket owned by one
 * thread.  Every function returns 0 or a negative errno value and, on
 * failure, leaves a one-line reason in the jb_error it is given; the driver
 * reports it and exits 1.  Nothing here is timed: the driver does that.
 */
#ifndef JOBS_BENCH_H
#define JOBS_BENCH_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jb_error {
	char text[512]; /* why, for the user; no trailing newline */
} jb_error;

/* Fills e (printf-style) and returns err (a negative errno value). */
int jb_fail(jb_error *e, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A connected, blocking AF_UNIX stream socket to path, or a negative errno. */
int jb_connect(const char *path, jb_error *e);
/* Writes all len bytes of data to fd. */
int jb_write_all(int fd, const void *data, size_t len, jb_error *e);

/* ---- godaemon (jb_godaemon.c) ------------------------------------------- */

typedef struct jb_gd jb_gd;

/* What a finished job reported in its status map (wait's result). */
typedef struct jb_gd_status {
	char state[32];          /* "succeeded", ... */
	uint64_t count;          /* items that reached count sinks */
	uint64_t errors_total;   /* error items */
	uint64_t stage_in[8];    /* items_in of the first 8 top-level stages */
	uint32_t nstages;        /* stages reported (all of them, even beyond 8) */
} jb_gd_status;

/* Connects to the daemon at path, says hello, and parses pipeline (the
 * human form, docs/pipelines.md) once into the wire form every submit of
 * this connection carries. */
int jb_gd_open(const char *path, const char *pipeline, jb_gd **ret, jb_error *e);
void jb_gd_close(jb_gd *c);
/* submit, then wait for that job: its final status in *ret (which may be
 * NULL when only success matters: then a state other than succeeded is
 * an error). */
int jb_gd_submit_wait(jb_gd *c, jb_gd_status *ret, jb_error *e);

/* ---- beanstalkd (jb_beanstalk.c) ---------------------------------------- */

typedef struct jb_bs jb_bs;

/* Connects to beanstalkd's Unix socket at path (beanstalkd -l unix:PATH). */
int jb_bs_open(const char *path, jb_bs **ret, jb_error *e);
void jb_bs_close(jb_bs *c);
/* One job's life: put (body, priority 0, no delay, ttr 60 s), reserve (any
 * ready job of the default tube: with several connections it may be
 * another's), delete what was reserved. */
int jb_bs_put_reserve_delete(jb_bs *c, const char *body, size_t len, jb_error *e);

#endif
