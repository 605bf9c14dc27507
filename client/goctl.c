/* goctl.c — goctl's main: global options, the socket path, the command
 * table and its dispatch, generic option parsing and --help for every
 * command, and the helpers commands share to connect and report errors.
 *
 *   goctl [--socket PATH] [--user] [--json] [--timeout DURATION] COMMAND [ARGS]
 *
 * Socket path, first that applies: --socket; with --user
 * $XDG_RUNTIME_DIR/godaemon/godaemon.sock; $GODAEMON_SOCKET; the system
 * instance's /run/godaemon/godaemon.sock (the daemon's built-in default).
 * Exit codes are GC_EXIT_* (conn.h).  No global state besides getopt's.
 */
#include "config.h"

#include "goctl.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define GC_CLIENT_NAME "goctl " PACKAGE_VERSION
#define GC_DEFAULT_TIMEOUT "30s"

const gc_cmd *const gc_commands[] = {
	&gc_cmd_ping,
	&gc_cmd_version,
	&gc_cmd_stats,
	&gc_cmd_submit,
	&gc_cmd_status,
	&gc_cmd_list,
	&gc_cmd_cancel,
	&gc_cmd_wait,
	&gc_cmd_output,
	&gc_cmd_metrics,
	&gc_cmd_top,
	&gc_cmd_run,
	&gc_cmd_help,
	NULL,
};

static const char exit_codes_help[] =
	"Exit status:\n"
	"  0  success\n"
	"  1  the daemon answered with an error, or the command failed\n"
	"  2  usage error (bad command line)\n"
	"  3  the daemon is unreachable: not running, permission denied on its\n"
	"     socket, timed out, or the connection was lost\n"
	"  130  wait only: the job ended cancelled (failed or timed-out: 1)\n";

const gc_cmd *gc_cmd_find(const char *name)
{
	for (const gc_cmd *const *c = gc_commands; *c; c++)
		if (strcmp((*c)->name, name) == 0)
			return *c;
	return NULL;
}

void gc_print_main_help(FILE *f)
{
	fprintf(f,
	        "Usage: goctl [OPTIONS] COMMAND [ARGS]\n"
	        "Control godaemon, the goroutine job-pipeline service, over its Unix socket.\n\n"
	        "Options:\n"
	        "  -s, --socket PATH         connect to PATH (default: $GODAEMON_SOCKET,\n"
	        "                            else %s)\n"
	        "  -u, --user                the per-user daemon's socket:\n"
	        "                            $XDG_RUNTIME_DIR/godaemon/godaemon.sock\n"
	        "  -j, --json                print results as one JSON object\n"
	        "  -t, --timeout DURATION    give up on a connect or request after DURATION\n"
	        "                            (500ms, 10s, 1m...; 0: wait forever; default %s)\n"
	        "  -h, --help                print this help and exit\n"
	        "  -V, --version             print goctl's version and exit\n\n"
	        "Commands:\n",
	        gd_conf_key_default(GD_CK_SOCKET), GC_DEFAULT_TIMEOUT);
	for (const gc_cmd *const *c = gc_commands; *c; c++)
		fprintf(f, "  %-10s %s\n", (*c)->name, (*c)->summary);
	fprintf(f, "\nRun 'goctl COMMAND --help' for a command's options.\n\n%s"
	           "\nSee goctl(1); the protocol is described in protocol.md (the docs directory).\n",
	        exit_codes_help);
}

void gc_cmd_print_help(const gc_cmd *cmd, FILE *f)
{
	fprintf(f, "Usage: goctl [OPTIONS] %s%s%s\n%s\n\n%s\n\nOptions:\n", cmd->name,
	        cmd->usage[0] ? " " : "", cmd->usage, cmd->summary, cmd->help);
	for (const gc_opt *o = cmd->opts; o && o->name; o++) {
		char left[64];
		snprintf(left, sizeof left, "%c%c%s--%s%s%s", o->short_name ? '-' : ' ',
		         o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->name,
		         o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, "  %-22s %s\n", left, o->help);
	}
	fprintf(f, "  %-22s %s\n  %-22s %s\n\n%s", "-j, --json", "print the result as one JSON object",
	        "-h, --help", "print this help and exit", exit_codes_help);
}

void gc_errorf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("goctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int gc_usage_error(const gc_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("goctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "Usage: goctl [OPTIONS] %s%s%s\nTry 'goctl %s --help'.\n", cmd->name,
		        cmd->usage[0] ? " " : "", cmd->usage, cmd->name);
	else
		fputs("Usage: goctl [OPTIONS] COMMAND [ARGS]\nTry 'goctl --help'.\n", stderr);
	return GC_EXIT_USAGE;
}

int gc_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* ---- shared helpers for commands ----------------------------------------------- */

int gc_connect(const gc_ctx *ctx, gc_conn **ret)
{
	gc_error err;
	if (gc_conn_open(ctx->socket, ctx->timeout_ns, GC_CLIENT_NAME, ret, &err) < 0) {
		gc_errorf("%s", err.text);
		return err.exit_code;
	}
	return 0;
}

int gc_call0(gc_conn *c, const char *method, gd_message *ret)
{
	gc_error err;
	if (gc_conn_call(c, method, 0, NULL, NULL, ret, &err) < 0) {
		gc_errorf("%s", err.text);
		return err.exit_code;
	}
	return 0;
}

int gc_print_doc(gc_doc *doc)
{
	int r = gc_doc_print_json(doc, stdout);
	if (r < 0) {
		gc_errorf("cannot format the JSON output: %s", strerror(-r));
		return GC_EXIT_FAILURE;
	}
	return 0;
}

int gc_print_table(gc_table *t)
{
	int r = gc_table_print(t, stdout);
	if (r < 0) {
		gc_errorf("cannot format the output: %s", strerror(-r));
		return GC_EXIT_FAILURE;
	}
	return 0;
}

/* ---- command-line parsing ------------------------------------------------------ */

/* Builds getopt tables for cmd: its options, then --json and --help. */
static int cmd_optspec(const gc_cmd *cmd, struct option *lo, char *so)
{
	int n = 0;
	*so++ = ':'; /* report a missing argument as ':' */
	for (const gc_opt *o = cmd->opts; o && o->name; o++, n++) {
		assert(n < GC_MAX_OPTS); /* a command table entry declares too many */
		lo[n] = (struct option){ o->name, o->arg ? required_argument : no_argument, NULL,
			                 256 + n };
		if (o->short_name) {
			*so++ = (char)o->short_name;
			if (o->arg)
				*so++ = ':';
		}
	}
	lo[n] = (struct option){ "json", no_argument, NULL, 'j' };
	lo[n + 1] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n + 2] = (struct option){ 0 };
	strcpy(so, "jh");
	return n;
}

/* The index in cmd->opts of the option reported by getopt as c, or -1. */
static int cmd_opt_index(const gc_cmd *cmd, int nopts, int c)
{
	if (c >= 256 && c < 256 + nopts)
		return c - 256;
	for (int i = 0; i < nopts; i++)
		if (cmd->opts[i].short_name == c)
			return i;
	return -1;
}

static int bad_option(const gc_cmd *cmd, int c, char **argv)
{
	const char *arg = argv[optind - 1];
	if (c == ':')
		return gc_usage_error(cmd, "option '%s' needs an argument", arg);
	if (optopt && optopt != '-' && strncmp(arg, "--", 2) != 0)
		return gc_usage_error(cmd, "unknown option '-%c'", optopt);
	return gc_usage_error(cmd, "unknown option '%s'", arg);
}

/* Parses argv (argv[0] is the command's name) into *args.  Returns -1 to
 * go on, or the exit code to end with (--help, usage errors). */
static int cmd_parse(const gc_cmd *cmd, gc_ctx *ctx, int argc, char **argv, gc_args *args)
{
	struct option lo[GC_MAX_OPTS + 3];
	char so[3 * GC_MAX_OPTS + 4];
	int nopts = cmd_optspec(cmd, lo, so);
	*args = (gc_args){ 0 };
	optind = 0; /* GNU getopt: full re-initialisation */
	opterr = 0;
	for (int c; (c = getopt_long(argc, argv, so, lo, NULL)) != -1;) {
		int i = cmd_opt_index(cmd, nopts, c);
		if (c == 'h') {
			gc_cmd_print_help(cmd, stdout);
			return GC_EXIT_OK;
		} else if (c == 'j') {
			ctx->json = true;
		} else if (i >= 0) {
			args->opt[i] = cmd->opts[i].arg ? optarg : "";
		} else {
			return bad_option(cmd, c, argv);
		}
	}
	args->argc = argc - optind;
	args->argv = argv + optind;
	if (args->argc < cmd->min_args)
		return gc_usage_error(cmd, "%s: missing argument", cmd->name);
	if (cmd->max_args >= 0 && args->argc > cmd->max_args)
		return gc_usage_error(cmd, "%s: unexpected argument '%s'", cmd->name,
		                      args->argv[cmd->max_args]);
	return -1;
}

/* What the global options said. */
typedef struct gc_global {
	const char *socket;  /* --socket */
	bool user;           /* --user */
	const char *timeout; /* --timeout */
} gc_global;

static int resolve_socket(const gc_global *g, char *buf, size_t size, gc_ctx *ctx)
{
	const char *env = getenv("GODAEMON_SOCKET");
	if (g->socket) {
		ctx->socket = g->socket;
	} else if (g->user) {
		const char *rt = getenv("XDG_RUNTIME_DIR");
		if (!rt || rt[0] != '/')
			return gc_usage_error(NULL, "--user needs XDG_RUNTIME_DIR set to an absolute "
			                            "path (or use --socket PATH)");
		snprintf(buf, size, "%s/godaemon/godaemon.sock", rt);
		ctx->socket = buf;
	} else if (env && env[0]) {
		ctx->socket = env;
	} else {
		ctx->socket = gd_conf_key_default(GD_CK_SOCKET);
	}
	if (ctx->socket[0] == '\0')
		return gc_usage_error(NULL, "the socket path is empty");
	return -1;
}

static int resolve_timeout(const char *s, gc_ctx *ctx)
{
	if (gd_conf_parse_duration(s, &ctx->timeout_ns) < 0 || ctx->timeout_ns < 0)
		return gc_usage_error(NULL, "invalid --timeout '%s' (e.g. 500ms, 10s, 2m, 0)", s);
	return -1;
}

static int global_parse(int argc, char **argv, gc_global *g, gc_ctx *ctx)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' }, { "user", no_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },         { "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },         { "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	opterr = 0;
	for (int c; (c = getopt_long(argc, argv, "+:s:ujt:hV", lo, NULL)) != -1;) {
		switch (c) {
		case 's': g->socket = optarg; break;
		case 'u': g->user = true; break;
		case 'j': ctx->json = true; break;
		case 't': g->timeout = optarg; break;
		case 'h': gc_print_main_help(stdout); return GC_EXIT_OK;
		case 'V': printf("goctl %s (protocol %d)\n", PACKAGE_VERSION, GD_PROTO_VERSION); return 0;
		default: return bad_option(NULL, c, argv);
		}
	}
	if (optind >= argc)
		return gc_usage_error(NULL, "no command given");
	return -1;
}

int main(int argc, char **argv)
{
	gc_global g = { .timeout = GC_DEFAULT_TIMEOUT };
	gc_ctx ctx = { 0 };
	char sockbuf[4096];
	int r = global_parse(argc, argv, &g, &ctx);
	if (r >= 0)
		return r;
	const gc_cmd *cmd = gc_cmd_find(argv[optind]);
	if (!cmd)
		return gc_usage_error(NULL, "unknown command '%s'", argv[optind]);
	gc_args args;
	r = cmd_parse(cmd, &ctx, argc - optind, argv + optind, &args);
	if (r < 0)
		r = resolve_timeout(g.timeout, &ctx);
	if (r < 0 && !cmd->offline)
		r = resolve_socket(&g, sockbuf, sizeof sockbuf, &ctx);
	if (r >= 0)
		return r;
	r = cmd->exec(&ctx, &args);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		gc_errorf("cannot write the output: %s", strerror(errno));
		return r ? r : GC_EXIT_FAILURE;
	}
	return r;
}
