/* pipespec.h — the job pipeline *specification* (docs/pipelines.md is the
 * normative description): the table of stage kinds, the parser of the
 * human form ("seq 1 10 | map upper | count"), the structured form both
 * sides work with, its MessagePack wire form, and the validator.
 *
 * One set of rules, applied twice: the parser only builds the raw form
 * (stage names, their words, tee branches, bridge's inner stage, byte
 * positions) and reports syntax errors; the wire decoder builds the same
 * raw form from a msgpack object and reports type errors; both then run the
 * same validator, which checks the structure (one source first, sinks
 * last), every argument (numbers, ranges, durations, regexes) and fills the
 * typed fields.  The daemon never trusts a client's parse.
 *
 * This module runs nothing: the engine executing a spec is separate.  No
 * global state; a gd_pipe_spec is immutable once returned and may be read
 * from any thread.  Errors are negative errno values: -EINVAL for a bad
 * spec (with *err filled), -ENOMEM.
 */
#ifndef GD_PIPESPEC_H
#define GD_PIPESPEC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* ---- limits ------------------------------------------------------------- */
#define GD_PIPE_ARG_MAX ((size_t)64 * 1024)  /* bytes of one argument */
#define GD_PIPE_SPEC_MAX ((size_t)1 << 20)   /* bytes of a human form; of all arguments on the wire */
#define GD_PIPE_STAGES_MAX 256               /* stages in a whole spec, branches included */
#define GD_PIPE_ARGS_MAX 4096                /* words of one stage (exec's ARGV) */
#define GD_PIPE_BRANCHES_MAX 64              /* branches of one tee */
#define GD_PIPE_DEPTH_MAX 8                  /* tees nested in tee branches, plus one */
#define GD_PIPE_JOBS_MAX 1024                /* exec -j */
#define GD_PIPE_BATCH_MAX 1048576            /* batch N */
#define GD_PIPE_COLLECT_MAX 1048576          /* collect N */
#define GD_PIPE_COLLECT_DEFAULT 1000         /* collect without N */
#define GD_PIPE_DURATION_MAX (INT64_C(24) * 3600 * 1000000000) /* delay, exec --timeout: 1 day */

typedef enum gd_pipe_role {
	GD_PIPE_SOURCE,    /* produces items; only first in a top-level pipeline */
	GD_PIPE_TRANSFORM, /* items in, items out */
	GD_PIPE_SINK,      /* consumes items; only last (tee counts: its branches end in sinks) */
} gd_pipe_role;

/* ---- stage kinds ----------------------------------------------------------
 * X(ID, "name", role, min words, max words, "usage after the name")
 * The word counts are the words written after the name, options included;
 * tee's branches and bridge's inner stage are not words. */
#define GD_PIPE_STAGES(X) \
	X(SEQ, "seq", GD_PIPE_SOURCE, 2, 3, "FROM TO [STEP]") \
	X(LINES, "lines", GD_PIPE_SOURCE, 1, 1, "FILE") \
	X(GLOB, "glob", GD_PIPE_SOURCE, 1, 1, "PATTERN") \
	X(STDIN, "stdin", GD_PIPE_SOURCE, 0, 0, "") \
	X(MAP, "map", GD_PIPE_TRANSFORM, 1, 1, "FN") \
	X(FILTER, "filter", GD_PIPE_TRANSFORM, 1, 3, "[-v] [--] REGEX") \
	X(TAKE, "take", GD_PIPE_TRANSFORM, 1, 1, "N") \
	X(SKIP, "skip", GD_PIPE_TRANSFORM, 1, 1, "N") \
	X(BATCH, "batch", GD_PIPE_TRANSFORM, 1, 1, "N") \
	X(DELAY, "delay", GD_PIPE_TRANSFORM, 1, 1, "DURATION") \
	X(EXEC, "exec", GD_PIPE_TRANSFORM, 1, GD_PIPE_ARGS_MAX, \
	  "[-j N] [--ordered] [--timeout DURATION] [--] ARGV...") \
	X(BRIDGE, "bridge", GD_PIPE_TRANSFORM, 0, 0, "lines|glob") \
	X(TEE, "tee", GD_PIPE_SINK, 0, 0, "{ PIPELINE } { PIPELINE }...") \
	X(CLIENT, "client", GD_PIPE_SINK, 0, 0, "") \
	X(FILE, "file", GD_PIPE_SINK, 1, 1, "PATH") \
	X(COUNT, "count", GD_PIPE_SINK, 0, 0, "") \
	X(DISCARD, "discard", GD_PIPE_SINK, 0, 0, "") \
	X(COLLECT, "collect", GD_PIPE_SINK, 0, 1, "[N]")

typedef enum gd_pipe_kind {
#define GD_X_(id, name, role, min, max, usage) GD_PIPE_##id,
	GD_PIPE_STAGES(GD_X_)
#undef GD_X_
	GD_PIPE_NKINDS
} gd_pipe_kind;

/* map's built-in functions: X(ID, "name"). */
#define GD_PIPE_FNS(X) \
	X(UPPER, "upper") \
	X(LOWER, "lower") \
	X(TRIM, "trim") \
	X(LENGTH, "length") \
	X(SHA256, "sha256")

typedef enum gd_pipe_fn {
#define GD_X_(id, name) GD_PIPE_FN_##id,
	GD_PIPE_FNS(GD_X_)
#undef GD_X_
	GD_PIPE_NFNS
} gd_pipe_fn;

/* ---- the structured form ---------------------------------------------- */
typedef struct gd_pipe_stage gd_pipe_stage;

typedef struct gd_pipeline {
	gd_pipe_stage *stages; /* nstages >= 1 in a validated spec */
	uint32_t nstages;
} gd_pipeline;

struct gd_pipe_stage {
	gd_pipe_kind kind;
	uint32_t index;   /* 1-based position in its pipeline */
	uint32_t pos;     /* byte offset of the name in the human form (wire: "pos") */
	uint32_t nargs;   /* words after the name, as written */
	char **args;      /* NUL-terminated words without NUL bytes; args[nargs] is
	                   * NULL when nargs > 0 (so exec.argv suits execv) */
	union {           /* typed values filled by the validator, by kind: */
		struct {
			int64_t from, to, step; /* step != 0 and points from `from` towards `to` */
		} seq;
		const char *path;   /* lines FILE, glob PATTERN, file PATH (one of args) */
		gd_pipe_fn fn;      /* map */
		struct {
			bool invert;       /* -v */
			const char *regex; /* POSIX ERE, compiled fine with REG_EXTENDED|REG_NOSUB */
		} filter;
		uint64_t n;         /* take, skip, batch, collect */
		int64_t duration;   /* delay, in nanoseconds */
		struct {
			uint32_t jobs;    /* -j, 1..GD_PIPE_JOBS_MAX, default 1 */
			bool ordered;     /* --ordered */
			int64_t timeout;  /* --timeout in ns; 0: none */
			uint32_t argc;    /* ARGV is args[nargs - argc..nargs) */
			char **argv;
		} exec;
	} u;
	gd_pipe_stage *inner; /* bridge: the source (lines or glob) fed by each item */
	gd_pipeline *branches; /* tee: its branches, each ending in a sink */
	uint32_t nbranches;
};

/* A validated spec; owns all its memory (one arena). */
typedef struct gd_pipe_spec {
	gd_pipeline root;       /* starts with a source, ends in a sink */
	struct gd_pipe_arena *arena_; /* private */
} gd_pipe_spec;

/* Where and why a spec was refused.  path holds 1-based indices from the
 * top: stage, then for a stage inside a tee branch, branch and stage
 * again ("stage 2.1.3" = stage 3 of branch 1 of the tee at stage 2). */
typedef struct gd_pipe_error {
	uint32_t path[2 * GD_PIPE_DEPTH_MAX + 1];
	uint32_t depth;   /* entries of path used; 0: not about one stage */
	uint32_t pos;     /* byte offset in the human form (wire: the stage's pos) */
	char message[GD_PROTO_ERRMSG_MAX]; /* "stage 3 (filter): bad regex ..." */
} gd_pipe_error;

/* Parses the human form text[0..len) (no NUL bytes).  A top-level pipeline
 * not ending in a sink gets `client` appended.  0 and *ret (free it with
 * gd_pipe_free), -EINVAL with *err, or -ENOMEM; *ret untouched on failure. */
int gd_pipe_parse(const char *text, size_t len, gd_pipe_spec **ret, gd_pipe_error *err);

/* Decodes and validates the wire form o (an array of stage maps; see
 * docs/pipelines.md) with the same rules.  Same returns as gd_pipe_parse. */
int gd_pipe_decode(const msgpack_object *o, gd_pipe_spec **ret, gd_pipe_error *err);

/* Packs the wire form of s: 0, or -ENOMEM when the packer's write fails. */
int gd_pipe_pack(msgpack_packer *pk, const gd_pipe_spec *s);

/* Accepts NULL. */
void gd_pipe_free(gd_pipe_spec *s);

/* Same stages, words, positions, branches and inner stages. */
bool gd_pipe_equal(const gd_pipe_spec *a, const gd_pipe_spec *b);

/* Table lookups.  gd_pipe_kind_lookup: the kind named name[0..len), or -ENOENT. */
int gd_pipe_kind_lookup(const char *name, size_t len);
const char *gd_pipe_kind_name(gd_pipe_kind k);
gd_pipe_role gd_pipe_kind_role(gd_pipe_kind k);
const char *gd_pipe_kind_usage(gd_pipe_kind k);
const char *gd_pipe_fn_name(gd_pipe_fn f);

/* The error as a protocol error (INVALID_PARAMS), with the position
 * appended: "stage 3 (filter): bad regex ... (at byte 24)".  Returns -EINVAL. */
int gd_pipe_error_to_proto(const gd_pipe_error *e, gd_proto_error *ret);

#endif
