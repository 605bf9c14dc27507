# goctl.bash — bash completion for goctl(1), installed as "goctl" in the
# bash-completion directory.  Completes global options, command names, each
# command's options (read from `goctl --help` and `goctl COMMAND --help`, so
# the script never falls behind the command table), and paths for --socket
# and for submit's and run's -f/--file, and durations for --timeout and for
# --interval (metrics --watch, top).

# The command names, from goctl --help ($1: the goctl being completed).
_goctl_commands()
{
	"$1" --help 2>/dev/null |
		awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }'
}

# A command's options, from goctl COMMAND --help.
_goctl_options()
{
	"$1" "$2" --help 2>/dev/null |
		awk '/^Options:/ { on = 1; next } on && /^$/ { exit }
		     on { for (f = 1; f <= NF; f++) if ($f ~ /^-/) { sub(/,$/, "", $f); print $f } }'
}

_goctl()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
	fi

	local global_opts="--socket --user --json --timeout --help --version -s -u -j -t -h -V"
	local i cmd='' prog=${words[0]}
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--socket | -s | --timeout | -t) ((i++)) ;;
		-*) ;;
		*) cmd=${words[i]}; break ;;
		esac
	done

	local candidates
	case $prev in
	--socket | -s)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	--timeout | -t)
		candidates="500ms 1s 5s 10s 30s 1m 0"
		;;
	--interval | -d)
		candidates="100ms 250ms 500ms 1s 2s 5s 10s"
		;;
	--file | -f)
		# submit and run: a job file (JSON), or - for standard input.
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	*)
		if [[ -z $cmd && $cur == -* ]]; then
			candidates=$global_opts
		elif [[ -z $cmd || $cmd == help ]]; then
			candidates=$(_goctl_commands "$prog")
		elif [[ $cur == -* ]]; then
			candidates=$(_goctl_options "$prog" "$cmd")
		else
			return
		fi
		;;
	esac
	mapfile -t COMPREPLY < <(compgen -W "$candidates" -- "$cur")
} && complete -F _goctl goctl
