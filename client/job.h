/* job.h — what goctl's job commands (submit, status, list, cancel, wait,
 * output) share: the job id argument, calls that take one id, reading keys
 * of a result map, and the status map printed for people or as JSON
 * (docs/protocol.md, section "Jobs", is the contract).  No global state.
 */
#ifndef GC_JOB_H
#define GC_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "goctl.h"
#include "pipespec.h"

/* goctl wait's exit code for a job that ended cancelled (like a shell's
 * status for SIGINT); succeeded is 0, failed and timed-out GC_EXIT_FAILURE. */
enum { GC_EXIT_CANCELLED = 130 };

/* Parses a job id argument (1 to UINT64_MAX): 0, or prints a usage error
 * for cmd and returns GC_EXIT_USAGE. */
int gc_job_id_arg(const gc_cmd *cmd, const char *s, uint64_t *id);

/* Calls method with params [id]: 0 and *ret (free with gd_message_free),
 * or prints the error and returns the exit code. */
int gc_call_id(gc_conn *c, const char *method, uint64_t id, gd_message *ret);
/* What cancel, status, wait and output do first: parse args' ID for cmd,
 * connect (without a reply timeout when patient), call cmd's method with
 * [id].  0 with *id and *ret set, or the exit code (already reported). */
int gc_job_id_call(const gc_ctx *ctx, const gc_cmd *cmd, const gc_args *args, bool patient,
                   uint64_t *id, gd_message *ret);

/* The value of key in map o, or NULL (also when o is not a map). */
const msgpack_object *gc_map_get(const msgpack_object *o, const char *key);
/* The uint under key, or 0 when absent or of another type. */
uint64_t gc_map_u64(const msgpack_object *o, const char *key);
/* The str under key copied into buf (truncated, NUL-terminated), or ""
 * when absent or of another type; returns buf. */
const char *gc_map_str(const msgpack_object *o, const char *key, char *buf, size_t size);

/* Prints a status map (the result of status and wait): with ctx->json as
 * it came, else a summary, a table of stages and the kept errors.
 * 0, or prints the error and returns GC_EXIT_FAILURE. */
/* The kept errors of a status map's "errors" array, one line each
 * ("stage PATH: message (item \"...\")") after indent, to f. */
void gc_print_errors(FILE *f, const msgpack_object *errors, const char *indent);
int gc_print_status(const gc_ctx *ctx, const msgpack_object *st);

/* The options submit and run share (their gc_cmd .opts), the request both
 * send, and its packer for gc_conn_call (userdata: a gc_job_req). */
enum { GC_JOB_OPT_TIMEOUT, GC_JOB_OPT_FAIL_FAST, GC_JOB_OPT_QUEUE_CAPACITY, GC_JOB_OPT_FILE };
extern const gc_opt gc_job_opts[];

typedef struct gc_job_req {
	gd_pipe_spec *spec;      /* the parsed pipeline, or NULL */
	char *wire;              /* or a job file's "spec": its wire form packed as
	                          * it came, unvalidated (the daemon validates) */
	size_t wire_len;         /* bytes of wire */
	int64_t timeout_ms;      /* -1: not given */
	bool fail_fast;
	uint64_t queue_capacity; /* 0: not given */
	char *cwd;               /* goctl's working directory (the job's), or NULL */
} gc_job_req;

/* Fills *q from the command line of submit or run: the job from the
 * PIPELINE argument (parsed here, so a bad one is refused before anything
 * is sent) or from the job file of -f FILE (docs/pipelines.md, "Job
 * files"; its "spec" is packed as it came, unvalidated), and the options,
 * those of the command line overriding the file's.  0 (release *q with
 * gc_job_req_free), or prints the error and returns the exit code:
 * GC_EXIT_USAGE for anything wrong with the command line or the job file
 * (both or neither of PIPELINE and -f included); *q then holds nothing.
 * The job's working directory is goctl's: relative paths in the pipeline
 * resolve against it (a warning, and none sent, if it cannot be read). */
int gc_job_req_init(const gc_cmd *cmd, const gc_args *args, gc_job_req *q);
/* Frees the spec or wire form. */
void gc_job_req_free(gc_job_req *q);
int gc_job_req_pack(msgpack_packer *pk, void *userdata);

#endif
