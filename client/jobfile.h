/* jobfile.h — goctl's job files (`goctl submit|run -f FILE`), for programs
 * that generate jobs: one JSON object (RFC 8259, read with jansson) whose
 * format docs/pipelines.md defines in its section "Job files":
 *
 *   {"pipeline": "seq 1 10 | count"}              the human form, or
 *   {"spec": [{"stage": "seq", "args": [...]}...]} the wire form as JSON,
 *   and optionally "timeout" ("10s", or milliseconds), "fail_fast" (bool),
 *   "queue_capacity" (1 to 1048576).
 *
 * This module reads JSON and nothing else: it parses no pipeline (the
 * caller does, as for a command-line PIPELINE) and validates no spec.  The
 * "spec" value is converted to MessagePack value for value and sent as it
 * is, so the daemon's own validation is what refuses a bad one ("never
 * trust the client").  No global state; every function is reentrant.
 * Errors are negative errno values with a one-line message for the user
 * ("FILE:LINE:COLUMN: what" for JSON syntax, "FILE: what" otherwise).
 */
#ifndef GC_JOBFILE_H
#define GC_JOBFILE_H

#include <stddef.h>
#include <stdint.h>

/* Largest job file read (the wire form carries at most 1 MiB of
 * arguments; JSON escapes may take six bytes for one). */
#define GC_JOBFILE_MAX ((size_t)16 << 20)

/* What a job file said. */
typedef struct gc_jobfile {
	char *pipeline;          /* "pipeline": the human form (no NUL bytes), or NULL */
	char *wire;              /* "spec": its MessagePack encoding, or NULL;
	                          * exactly one of pipeline and wire is set */
	size_t wire_len;         /* bytes of wire */
	int64_t timeout_ms;      /* "timeout" in milliseconds (0: none); -1: absent */
	int fail_fast;           /* "fail_fast": 0 or 1; -1: absent */
	uint64_t queue_capacity; /* "queue_capacity" (1 to 1048576); 0: absent */
} gc_jobfile;

/* How messages name the job file at path: "<stdin>" for "-", else path. */
const char *gc_jobfile_name(const char *path);

/* Reads the job file at path ("-": standard input, named "<stdin>" in
 * messages).  0 and *ret (release with gc_jobfile_free); or a negative
 * errno with msg filled and *ret untouched: -EINVAL for bad content,
 * -EFBIG past GC_JOBFILE_MAX, -ENOMEM, or the error of open/read. */
int gc_jobfile_load(const char *path, gc_jobfile *ret, char *msg, size_t size);

/* The same for text[0..len), named name in messages. */
int gc_jobfile_parse(const char *name, const char *text, size_t len, gc_jobfile *ret, char *msg,
                     size_t size);

/* Frees what *jf holds and empties it (pipeline and wire NULL, options
 * absent); accepts an empty or all-zero one. */
void gc_jobfile_free(gc_jobfile *jf);

/* A duration in godaemon.conf(5) syntax ("500ms", "10s", "1m 30s", "0")
 * in milliseconds, rounded up so that a positive duration never reads as
 * 0 (none): 0, or -EINVAL / -ERANGE (*ret untouched).  Shared by --timeout
 * and a job file's "timeout". */
int gc_duration_ms(const char *s, int64_t *ret);

#endif
