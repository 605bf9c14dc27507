/* engine_int.h — what engine.c (the job: graph, contexts, edges, errors,
 * final state) shares with the stage bodies (stages.c, stages_exec.c).
 * Private to the engine.
 *
 * Items travel as gd_item pointers (element size sizeof(gd_item *)); an
 * item belongs to whoever last received it: a helper that fails to send
 * frees it.  Items still queued when the job ends are freed by
 * gd_job_free.  Counters are atomics (relaxed): written by stage
 * goroutines, read by anyone.
 */
#ifndef GD_ENGINE_INT_H
#define GD_ENGINE_INT_H

#include <regex.h>
#include <stdarg.h>

#include "engine.h"
#include "gort_patterns.h"

#define GD_LINE_MAX ((size_t)1 << 20) /* a longer line is cut into items of this size */
#define GD_IO_CHUNK ((size_t)64 * 1024)

typedef struct gd_item {
	size_t len;
	char data[]; /* len bytes, then a NUL */
} gd_item;

gd_item *gd_item_new(const void *data, size_t len);

typedef struct gd_stage gd_stage;

struct gd_stage {
	gd_job *job;
	const gd_pipe_stage *spec;
	char path[64];
	gort_ctx *ctx;        /* child of the job's; cancelled when the stage ends */
	gort_chan *in;        /* input edge (a reference); NULL for sources but stdin */
	gort_chan **outs;     /* output edges (references): 1, a tee's branches, or 0 */
	gd_stage **down;      /* the consuming stage, per output */
	uint32_t nouts;
	uint32_t workers;     /* goroutines started for the stage */
	uint32_t live;        /* atomic: goroutines not yet returned */
	uint64_t n_in, n_out, n_err, queue_max; /* atomics */
	int64_t blocked_send, blocked_recv;     /* atomics, ns */
	uint32_t busy;        /* atomic */
	regex_t re;           /* filter */
	bool re_ok;
	struct gd_exec *exec; /* exec --ordered: private to stages_exec.c */
};

/* Spawns fn(s) counted in the job's stage group.  0 or gort_go's error. */
int gd_stage_go(gd_stage *s, void (*fn)(void *), void *arg);
/* The end of every stage goroutine, its last call.  abnormal: cancel the
 * stage now (downstream gone, cancelled, error) so its other goroutines
 * and its upstream stop.  The last goroutine closes the outputs. */
void gd_stage_exit(gd_stage *s, bool abnormal);

/* Receives an item from c: 0, -EPIPE when c is closed and drained, or the
 * stage context's error.  Counts parked time in blocked_recv. */
int gd_stage_recv(gd_stage *s, gort_chan *c, void *elem);
/* Sends it on output k: 0; -EPIPE when the consumer is gone; the context's
 * error.  On failure it is freed.  Counts n_out and blocked_send. */
int gd_stage_send(gd_stage *s, uint32_t k, gd_item *it);
/* A new item with data[0..len) sent on output 0. */
int gd_stage_emit(gd_stage *s, const char *data, size_t len);

/* An error caused by an item (exec's exit status, a file that cannot be
 * read): counted, kept under the continue policy, fatal under fail-fast. */
void gd_stage_error(gd_stage *s, const char *item, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* An error that ends the job whatever the policy (a sink cannot write). */
void gd_stage_fatal(gd_stage *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens path on the blocking pool, as the job's user when set_ids (fsuid
 * and fsgid of the pool thread, restored after); a relative path against
 * opts.cwd.  fd or a negative errno. */
int gd_job_open(gd_job *job, const char *path, int flags);
/* path (a glob pattern when pattern is set: the directory's glob
 * metacharacters are then escaped) resolved against opts.cwd: a new
 * string, or NULL (ENOMEM); *prefix_len tells how many leading bytes the
 * directory added (0 when path is absolute or there is no cwd). */
char *gd_job_path(gd_job *job, const char *path, bool pattern, size_t *prefix_len);
const gd_job_opts *gd_job_opts_of(gd_job *job);
void gd_job_count_add(gd_job *job, uint64_t n);
/* Keeps it (takes ownership) for gd_job_collected. */
int gd_job_collect(gd_job *job, gd_item *it);
/* Runs fn on the blocking pool with the job's fs identity. */
intptr_t gd_job_blocking(gd_job *job, intptr_t (*fn)(void *), void *arg);

/* Splits a byte stream into lines; emit(arg, line, len) returning < 0
 * stops.  */
typedef int (*gd_line_fn)(void *arg, const char *line, size_t len);
typedef struct gd_linebuf {
	char *buf;
	size_t len, cap;
} gd_linebuf;
int gd_lines_push(gd_linebuf *lb, const char *data, size_t n, gd_line_fn emit, void *arg);
int gd_lines_end(gd_linebuf *lb, gd_line_fn emit, void *arg); /* also frees */

/* Starts the goroutines of s (stages.c). */
int gd_stages_start(gd_stage *s);
/* exec (stages_exec.c). */
int gd_exec_start(gd_stage *s);
/* Frees what stages_exec.c left in s (ordered channels). */
void gd_exec_cleanup(gd_stage *s);

#endif
