#!/bin/bash
# bench/pipelines.sh — godaemon's job pipelines measured end to end against
# the real daemon, each beside a reference measured in the same run:
#
#   bench/pipelines.sh [--build DIR] [--runs K] [--jobs N] [--retention D]
#
#   J1 items  `seq 1 10000000 | map upper | count`, submit to final state,
#             items/s; beside its Go twin (bench/go/pipeline: goroutines and
#             channels of capacity 64).  Target: 2,000,000 items/s.
#   J2 exec   `seq 1 5000 | exec -j 8 -- /bin/true {}`, children/s; beside
#             `seq 1 5000 | xargs -P8 -n1 /bin/true`.  Target: xargs' rate.
#   J3 jobs-1 submit+wait of `seq 1 1 | discard`, N jobs (default 10000)
#             over one connection, jobs/s; beside beanstalkd's
#             put+reserve+delete on its Unix socket.  Target: beanstalkd.
#   J4 jobs-8 the same over 8 connections (8 threads, each sequential).
#
# Builds daemon/godaemon and bench/jobs-bench in DIR (a configured build
# directory; default: the one scripts/build makes) and the Go twin into
# DIR/bench/gopipeline; starts its own godaemon (workers = 2, [jobs]
# retention D, default 1s, other keys at their defaults) and beanstalkd on
# sockets in a temporary directory, and stops both on exit, Ctrl-C
# included.  Each of the K rounds (default 5) runs every measurement once,
# ours then the reference; the table gives medians over the rounds, the
# median of the per-round ratios ours/ref (above 1: ours is faster) and
# the load average around the runs.  Needs go and beanstalkd
# (scripts/deps --bench).  Exits 1 if a job failed or a check (counts,
# items received) did not hold.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

usage() {
	sed -n '2,29s/^# \{0,1\}//p' "$0"
}

build= runs=5 jobs=10000 retention=1s
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build needs a directory}; shift 2 ;;
	--build=*) build=${1#*=}; shift ;;
	--runs) runs=${2:?--runs needs a number}; shift 2 ;;
	--runs=*) runs=${1#*=}; shift ;;
	--jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
	--jobs=*) jobs=${1#*=}; shift ;;
	--retention) retention=${2:?--retention needs a duration}; shift 2 ;;
	--retention=*) retention=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "pipelines.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ && $jobs =~ ^[1-9][0-9]*$ ]] || {
	echo "pipelines.sh: --runs and --jobs take positive integers" >&2
	exit 2
}
for tool in go beanstalkd; do
	command -v $tool >/dev/null || {
		echo "pipelines.sh: $tool not found: install it with scripts/deps --bench" >&2
		exit 1
	}
done
if [ -z "$build" ]; then
	build=$("$top/scripts/build" | tail -n 1)
fi
build=$(cd "$build" && pwd)
make -C "$build" -s daemon/godaemon bench/jobs-bench >&2
jb=$build/bench/jobs-bench
gopipe=$build/bench/gopipeline
(cd "$top/bench/go" && GOFLAGS=-mod=mod GOPROXY=off go build -o "$gopipe" ./pipeline) >&2

items=10000000 children=5000
p_items="seq 1 $items | map upper | count"
p_exec="seq 1 $children | exec -j 8 -- /bin/true {}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pipelines-bench.XXXXXX")
gd_pid= bs_pid=
cleanup() {
	for pid in $gd_pid $bs_pid; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
	echo "pipelines.sh: $*" >&2
	[ -f "$tmp/godaemon.log" ] && tail -n 20 "$tmp/godaemon.log" >&2
	exit 1
}

# ---- the daemons -------------------------------------------------------------

# workers = 2 as the issue's target says; max_running (16) and the
# admission queue are left at their defaults: J4 has at most 8 jobs alive.
cat >"$tmp/godaemon.conf" <<EOF
[daemon]
socket_group =
workers = 2
[jobs]
retention = $retention
EOF
mkdir "$tmp/state"
env -u NOTIFY_SOCKET -u LISTEN_FDS -u LISTEN_PID -u WATCHDOG_USEC STATE_DIRECTORY="$tmp/state" \
	"$build/daemon/godaemon" -c "$tmp/godaemon.conf" --socket "$tmp/gd.sock" \
	--log-level warning 2>"$tmp/godaemon.log" &
gd_pid=$!
beanstalkd -l "unix:$tmp/bs.sock" 2>"$tmp/beanstalkd.log" &
bs_pid=$!
# Ready when a trivial job runs through each (polled, at most 10 s).
for ((i = 0; ; i++)); do
	"$jb" pipeline "$tmp/gd.sock" 'seq 1 1 | count' --count 1 >/dev/null 2>&1 &&
		"$jb" beanstalkd "$tmp/bs.sock" --jobs 1 >/dev/null 2>&1 && break
	kill -0 "$gd_pid" 2>/dev/null || die "godaemon exited"
	kill -0 "$bs_pid" 2>/dev/null || die "beanstalkd exited: $(cat "$tmp/beanstalkd.log")"
	((i < 100)) || die "the daemons did not answer within 10 s"
	sleep 0.1
done

# ---- one round ------------------------------------------------------------------

load() { cut -d' ' -f1 /proc/loadavg; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
now_ns() { date +%s%N; }

xargs_rate() {
	local t0 t1
	t0=$(now_ns)
	seq 1 $children | xargs -P8 -n1 /bin/true
	t1=$(now_ns)
	awk -v n=$children -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }'
}

# Appends "<id> <ours> <ref> <load>" lines for round $1 to $tmp/rounds.
round() {
	local l s ours ref
	l=$(load)
	s=$("$jb" pipeline "$tmp/gd.sock" "$p_items" --count $items --stage-in 2=$items) ||
		die "J1: the job failed"
	ours=$(rate $items "$s")
	s=$("$gopipe" --procs 2 --items $items --capacity 64) || die "J1: the Go twin failed"
	ref=$(rate $items "$s")
	echo "J1 $ours $ref $l" >>"$tmp/rounds"

	l=$(load)
	s=$("$jb" pipeline "$tmp/gd.sock" "$p_exec" --stage-in 2=$children) || die "J2: the job failed"
	ours=$(rate $children "$s")
	ref=$(xargs_rate)
	echo "J2 $ours $ref $l" >>"$tmp/rounds"

	for conns in 1 8; do
		l=$(load)
		ours=$("$jb" godaemon "$tmp/gd.sock" --conns $conns --jobs "$jobs") ||
			die "J$((conns == 1 ? 3 : 4)): godaemon failed"
		ref=$("$jb" beanstalkd "$tmp/bs.sock" --conns $conns --jobs "$jobs") ||
			die "J$((conns == 1 ? 3 : 4)): beanstalkd failed"
		echo "J$((conns == 1 ? 3 : 4)) $ours $ref $l" >>"$tmp/rounds"
	done
	echo "# round $1: $(grep -c . "$tmp/rounds") measurements so far" >&2
}

rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$gd_pid/status"; }

rss0=$(rss_mib)
for ((r = 1; r <= runs; r++)); do
	round $r
done
rss1=$(rss_mib)

# ---- the table ------------------------------------------------------------------

echo "# bench/pipelines.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs" \
	"($(uname -m), Linux $(uname -r)), $(go version | cut -d' ' -f3)," \
	"$(beanstalkd -v 2>&1 | head -n 1), --runs $runs --jobs $jobs"
echo "# godaemon: workers = 2, retention = $retention, max_running 16 (default);" \
	"RSS ${rss0} MiB before the rounds, ${rss1} MiB after"
echo "# per round: id ours ref load-average"
sed 's/^/#   /' "$tmp/rounds"
awk '
function median(list,    v, n, i, j, t) {
	n = split(list, v, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{
	ours[$1] = ours[$1] " " $2; ref[$1] = ref[$1] " " $3
	ratio[$1] = ratio[$1] " " ($3 > 0 ? $2 / $3 : 0)
	if (!($1 in lo) || $4 < lo[$1]) lo[$1] = $4
	if (!($1 in hi) || $4 > hi[$1]) hi[$1] = $4
}
END {
	split("J1 J2 J3 J4", ids, " ")
	name["J1"] = "items"; refn["J1"] = "go"; unit["J1"] = "items/s"; tgt["J1"] = 2000000
	name["J2"] = "exec"; refn["J2"] = "xargs"; unit["J2"] = "children/s"
	name["J3"] = "jobs-1"; refn["J3"] = "beanstalkd"; unit["J3"] = "jobs/s"
	name["J4"] = "jobs-8"; refn["J4"] = "beanstalkd"; unit["J4"] = "jobs/s"
	for (i = 1; i <= 4; i++) {
		k = ids[i]
		o = median(ours[k]); f = median(ref[k]); q = median(ratio[k])
		if (k == "J1")
			verdict = (o >= tgt[k]) ? "target met (>= 2000000)" : "TARGET MISSED (< 2000000)"
		else
			verdict = (q >= 1) ? "target met (>= " refn[k] ")" : "TARGET MISSED (< " refn[k] ")"
		printf "%s %s ours=%.0f %s=%.0f ours/%s=%.2f %s load=%s-%s %s\n", k, name[k], o,
		       refn[k], f, refn[k], q, unit[k], lo[k], hi[k], verdict
	}
}' "$tmp/rounds"
