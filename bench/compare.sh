#!/bin/bash
# bench/compare.sh — libgort against Go on the same workloads, side by side.
#
#   bench/compare.sh [--build DIR] [--runs R] [--procs N] [WORKLOAD...]
#
# Builds bench/gort-bench (in DIR, a configured build directory, or else in
# the one scripts/build makes) and the Go twin bench/go (gobench, into
# DIR/bench/gobench, offline: no dependencies), runs both with the same
# --runs for 1 and 2 workers (or N) and prints per workload and worker count
#
#   <id> <name> procs=N gort=<x> go=<y> ratio=<x/y> <unit>
#
# The ratio is oriented so that below 1 always means libgort did better:
# gort/go for times and sizes (lower is better), go/gort for rates ("/s",
# higher is better).  P1 (spawning /bin/true) also gets `xargs=<rate>`:
# `xargs -P8 -n1 /bin/true` over the same 5,000 items, median of the same
# number of runs.  Exits 1 if either program reported a failed check.
# Run it on a quiet machine: the figures are medians of wall-clock times.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

usage() {
	sed -n '3,15s/^# \{0,1\}//p' "$0"
}

build= runs=5 procs_list=(1 2) names=()
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build needs a directory}; shift 2 ;;
	--build=*) build=${1#*=}; shift ;;
	--runs) runs=${2:?--runs needs a number}; shift 2 ;;
	--runs=*) runs=${1#*=}; shift ;;
	--procs) procs_list=("${2:?--procs needs a number}"); shift 2 ;;
	--procs=*) procs_list=("${1#*=}"); shift ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "compare.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
	*) names+=("$1"); shift ;;
	esac
done

command -v go >/dev/null || {
	echo "compare.sh: go not found: install Go 1.19 (scripts/deps --bench)" >&2
	exit 1
}
if [ -z "$build" ]; then
	build=$("$top/scripts/build" | tail -n 1)
fi
build=$(cd "$build" && pwd)
make -C "$build" -s bench/gort-bench >&2
ours=$build/bench/gort-bench
theirs=$build/bench/gobench
(cd "$top/bench/go" && GOFLAGS=-mod=mod GOPROXY=off go build -o "$theirs" .) >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Median rate (children/s) of `xargs -P8` running /bin/true 5,000 times, when
# P1 is among the selected workloads.
xargs_rate() {
	local sel=" ${names[*]:-P1} " r rates=()
	[[ $sel == *" P1 "* || $sel == *" spawn-proc "* ]] || return 0
	for ((r = 0; r < runs; r++)); do
		local t0 t1
		t0=$(date +%s%N)
		seq 5000 | xargs -P8 -n1 /bin/true
		t1=$(date +%s%N)
		rates+=("$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", 5000 / (ns / 1e9) }')")
	done
	printf '%s\n' "${rates[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(uname -m), Linux $(uname -r)), $(go version | cut -d' ' -f3), --runs $runs"
status=0
for procs in "${procs_list[@]}"; do
	"$ours" --procs "$procs" --runs "$runs" "${names[@]}" >"$tmp/gort" || status=1
	"$theirs" --procs "$procs" --runs "$runs" "${names[@]}" >"$tmp/go" || status=1
	# Lines are "<id> <name> procs=N <value> <unit>"; join on id and procs,
	# in the order of whichever program printed the line first.
	awk -v xargs="$(xargs_rate)" '
	FILENAME == ARGV[1] { gort[$1 " " $3] = $4; order[++n] = $1 " " $3; line[$1 " " $3] = $0; next }
	{ go[$1 " " $3] = $4; if (!(($1 " " $3) in line)) order[++n] = $1 " " $3; line[$1 " " $3] = $0 }
	END {
		for (i = 1; i <= n; i++) {
			k = order[i]; split(line[k], f, " ")
			x = (k in gort) ? gort[k] : "FAILED"; y = (k in go) ? go[k] : "FAILED"
			rate = f[5] ~ /\/s$/
			r = "n/a"
			if (k in gort && k in go && x + 0 != 0 && y + 0 != 0)
				r = sprintf("%.2f", rate ? y / x : x / y)
			extra = (f[1] == "P1" && xargs != "") ? " xargs=" xargs : ""
			printf "%s %s %s gort=%s go=%s ratio=%s%s %s\n", f[1], f[2], f[3], x, y, r, extra, f[5]
		}
	}' "$tmp/gort" "$tmp/go"
done
exit $status
