#!/bin/sh
# examples.sh — runs every example program built in runtime/examples/ of the
# build directory (ex_*, whoever added it) and fails if one exits non-zero,
# prints nothing on stdout, or runs longer than its timeout.
#
# Run by `make check` from the build directory; EXAMPLES_TIMEOUT (seconds,
# default 60) bounds each program.  Libtool artifacts (objects, .libs/,
# lt- wrappers) are skipped: only executable regular files named ex_*
# without a dot count.
set -u

dir=runtime/examples
timeout_s=${EXAMPLES_TIMEOUT:-60}
out=$(mktemp) && err=$(mktemp) || exit 99
trap 'rm -f "$out" "$err"' EXIT

ran=0
failed=0
for ex in "$dir"/ex_*; do
	name=${ex##*/}
	case $name in
	*.* | lt-*) continue ;;
	esac
	[ -f "$ex" ] && [ -x "$ex" ] || continue
	ran=$((ran + 1))
	timeout "$timeout_s" "$ex" >"$out" 2>"$err" </dev/null
	rc=$?
	if [ "$rc" -ne 0 ]; then
		[ "$rc" -eq 124 ] && why="timed out after ${timeout_s}s" || why="exit status $rc"
		echo "FAIL: $name: $why"
		tail -n 20 "$out" | sed 's/^/    /'
		head -n 40 "$err" | sed 's/^/    stderr: /'
		failed=$((failed + 1))
	elif [ ! -s "$out" ]; then
		echo "FAIL: $name: printed nothing"
		failed=$((failed + 1))
	else
		echo "PASS: $name ($(wc -l <"$out") lines)"
	fi
done

if [ "$ran" -eq 0 ]; then
	echo "FAIL: no example programs found in $dir (run from the build directory after make)"
	exit 1
fi
echo "$ran examples, $failed failed"
[ "$failed" -eq 0 ]
