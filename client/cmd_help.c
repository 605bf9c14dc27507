/* cmd_help.c — `goctl help [COMMAND]`: the same text as goctl --help or
 * goctl COMMAND --help.  Needs no daemon. */
#include "config.h"

#include "goctl.h"

static int help_exec(gc_ctx *ctx, const gc_args *args)
{
	if (args->argc == 0) {
		gc_print_main_help(stdout);
		return GC_EXIT_OK;
	}
	const gc_cmd *cmd = gc_cmd_find(args->argv[0]);
	if (!cmd)
		return gc_usage_error(&gc_cmd_help, "unknown command '%s'", args->argv[0]);
	gc_cmd_print_help(cmd, stdout);
	return GC_EXIT_OK;
}

const gc_cmd gc_cmd_help = {
	.name = "help",
	.usage = "[COMMAND]",
	.summary = "show goctl's help, or a command's",
	.help = "Prints the list of commands, or with COMMAND the help of that command\n"
	        "(the same as 'goctl COMMAND --help').  Does not contact the daemon.",
	.min_args = 0,
	.max_args = 1,
	.offline = true,
	.exec = help_exec,
};
