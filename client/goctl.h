/* goctl.h — what goctl's commands share: the command table entry (tmux
 * style: one file per command, cmd_NAME.c, registered in goctl.c), the
 * parsed global options, the parsed command line of one command, and the
 * helpers that print errors the same way everywhere.
 *
 * Conventions: a command's exec returns goctl's exit code (GC_EXIT_* in
 * conn.h); errors go to stderr as "goctl: message", results to stdout — one
 * JSON object with --json, an aligned table otherwise.  Option parsing and
 * --help are generic (goctl.c), driven by each command's gc_opt table, so
 * every command's help has the same shape.
 */
#ifndef GC_GOCTL_H
#define GC_GOCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conn.h"
#include "out.h"

/* Most options one command may declare. */
#define GC_MAX_OPTS 16

/* One option of a command (besides --help and --json, which all have). */
typedef struct gc_opt {
	const char *name;  /* long name, without the dashes */
	int short_name;    /* single letter, or 0 */
	const char *arg;   /* argument's name in help ("N"), NULL: takes none */
	const char *help;  /* one line */
} gc_opt;

/* A command line after option parsing. */
typedef struct gc_args {
	const char *opt[GC_MAX_OPTS]; /* per entry of the command's opts: its
	                                 argument ("" when it takes none), or
	                                 NULL when not given */
	int argc;                     /* positional arguments */
	char **argv;
} gc_args;

/* Global options, resolved. */
typedef struct gc_ctx {
	const char *socket; /* socket path to connect to */
	bool json;          /* --json (global or the command's) */
	int64_t timeout_ns; /* per connect and per request; 0: none */
} gc_ctx;

typedef struct gc_cmd {
	const char *name;
	const char *usage;   /* what follows the name in a synopsis, e.g. "[-c COUNT]" */
	const char *summary; /* one line for goctl --help */
	const char *help;    /* what goctl NAME --help prints after the synopsis */
	const gc_opt *opts;  /* terminated by an entry with name NULL; may be NULL */
	int min_args;        /* positional arguments accepted */
	int max_args;        /* -1: no limit */
	bool offline;        /* needs no daemon (no socket is resolved) */
	int (*exec)(gc_ctx *ctx, const gc_args *args);
} gc_cmd;

extern const gc_cmd gc_cmd_help;
extern const gc_cmd gc_cmd_ping;
extern const gc_cmd gc_cmd_stats;
extern const gc_cmd gc_cmd_version;
extern const gc_cmd gc_cmd_submit;
extern const gc_cmd gc_cmd_status;
extern const gc_cmd gc_cmd_list;
extern const gc_cmd gc_cmd_cancel;
extern const gc_cmd gc_cmd_wait;
extern const gc_cmd gc_cmd_output;
extern const gc_cmd gc_cmd_metrics;
extern const gc_cmd gc_cmd_run;
extern const gc_cmd gc_cmd_top;

/* Every command, in the order goctl --help lists them; NULL-terminated. */
extern const gc_cmd *const gc_commands[];

/* The command called name, or NULL. */
const gc_cmd *gc_cmd_find(const char *name);
/* goctl --help, and goctl NAME --help. */
void gc_print_main_help(FILE *f);
void gc_cmd_print_help(const gc_cmd *cmd, FILE *f);

/* Prints "goctl: message" on stderr. */
void gc_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage error for cmd (NULL: goctl itself) and returns GC_EXIT_USAGE. */
int gc_usage_error(const gc_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a decimal integer in [min, max]: 0, or -EINVAL / -ERANGE. */
int gc_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* Connects to ctx->socket and says hello.  0, or prints why not and
 * returns the exit code. */
int gc_connect(const gc_ctx *ctx, gc_conn **ret);
/* Calls a method that takes no parameters.  0 and *ret (free it with
 * gd_message_free), or prints the error and returns the exit code. */
int gc_call0(gc_conn *c, const char *method, gd_message *ret);
/* Prints the result of a command as JSON (one object and a newline):
 * 0, or prints the error and returns GC_EXIT_FAILURE. */
int gc_print_doc(gc_doc *doc);
/* Prints a table: 0, or prints the error and returns GC_EXIT_FAILURE. */
int gc_print_table(gc_table *t);

#endif
