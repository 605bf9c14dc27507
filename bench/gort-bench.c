/* gort-bench.c — libgort's benchmark driver: parses the command line, runs
 * each selected workload R times for each worker count and prints
 *
 *     <id> <name> procs=<N> <median> <unit>
 *
 * per workload and worker count (docs/benchmarks.md).  Each run is a fresh
 * gort_main() with N workers whose root goroutine runs the workload; only
 * the work is timed, not the runtime's start and stop.  Workloads marked
 * `isolate` (the RSS measurement) run each run in a fresh copy of this
 * program, so that memory freed by earlier runs and kept by malloc or the
 * runtime's caches cannot hide what the measured goroutines cost.
 *
 * Any failed check makes the program exit 1 after the other workloads ran;
 * usage errors exit 2.  The same command line and output are implemented by
 * bench/go/gobench.go for Go, and bench/compare.sh puts the two together.
 */
#include "config.h"
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

static const bench_workload workloads[] = {
	{"W1", "spawn", "ns/goroutine", 1, false,
	 "start 1,000,000 goroutines that each signal a WaitGroup; wait", bench_spawn},
	{"W2", "memory", "B/goroutine", 0, true,
	 "RSS growth per goroutine parked on its own channel (100,000)", bench_memory},
	{"W3", "pingpong", "ns/roundtrip", 1, false,
	 "1,000,000 round trips between two goroutines on unbuffered channels", bench_pingpong},
	{"W4", "spsc", "ns/item", 1, false,
	 "one producer, one consumer, capacity 1024, 10,000,000 items", bench_spsc},
	{"W5", "mpmc", "ns/item", 1, false,
	 "4 producers, 4 consumers, capacity 1024, 10,000,000 items", bench_mpmc},
	{"W6", "select", "ns/item", 1, false,
	 "one consumer selecting over 4 unbuffered producers, 1,000,000 each", bench_select},
	{"W7", "mutex", "ns/op", 1, false,
	 "8 goroutines x 1,250,000 lock/increment/unlock of one mutex", bench_mutex},
	{"W8", "pipeline", "ns/item", 1, false,
	 "generator -> 4 squarers -> merge -> sum, 1,000,000 items, done channel", bench_pipeline},
	{"W9", "cancel", "us", 0, false,
	 "cancel a root with 100 x 100 descendant contexts; until 10,000 waiters return", bench_cancel},
	{"P1", "spawn-proc", "children/s", 0, false,
	 "5,000 /bin/true children, 8 in flight (higher is better)", bench_proc},
};
enum { NWORKLOADS = sizeof workloads / sizeof workloads[0] };

/* Why the current run failed; written by the root goroutine, read by the
 * main thread after gort_main() has returned. */
static char run_error[512];

int bench_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(run_error, sizeof run_error, fmt, ap);
	va_end(ap);
	return -1;
}

void bench_die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("gort-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_FAILURE);
}

void bench_go(void (*fn)(void *arg), void *arg)
{
	int64_t id = gort_go(fn, arg);
	if (id < 0)
		bench_die("gort_go: %s", strerror((int)-id));
}

gort_chan *bench_chan(size_t elem_size, size_t cap)
{
	gort_chan *c = gort_chan_make(elem_size, cap);
	if (!c)
		bench_die("gort_chan_make: %s", strerror(errno));
	return c;
}

/* ---- options ----------------------------------------------------------- */

typedef struct options {
	int procs;          /* 0: run with 1, then with 2 workers */
	int runs;
	bool in_process;    /* run isolated workloads in this process too */
	const bench_workload **selected; /* in the order named */
	int nselected;
	const char *argv0;
} options;

static void usage(FILE *out)
{
	fputs("usage: gort-bench [--procs N] [--runs R] [--in-process] [WORKLOAD...]\n"
	      "Runs libgort's benchmark workloads (all when none is named) and prints\n"
	      "\"<id> <name> procs=<N> <median> <unit>\" per workload, the median of R runs\n"
	      "(default 5), each on a fresh runtime with N workers (without --procs: 1, then 2).\n"
	      "  --in-process  run W2 in this process too (normally each run is a fresh\n"
	      "                process, so memory freed by earlier work does not hide its cost)\n"
	      "Workloads (by id or name):\n",
	      out);
	for (int i = 0; i < NWORKLOADS; i++)
		fprintf(out, "  %-3s %-9s %s\n", workloads[i].id, workloads[i].name, workloads[i].what);
}

static int int_arg(const char *name, const char *s, int max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max) {
		fprintf(stderr, "gort-bench: %s: '%s' is not a number in 1..%d\n", name, s, max);
		exit(2);
	}
	return (int)v;
}

static const bench_workload *find_workload(const char *name)
{
	for (int i = 0; i < NWORKLOADS; i++)
		if (!strcasecmp(name, workloads[i].id) || !strcmp(name, workloads[i].name))
			return &workloads[i];
	return NULL;
}

static void parse(int argc, char **argv, options *o)
{
	static const struct option longopts[] = {
		{"procs", required_argument, NULL, 'p'},
		{"runs", required_argument, NULL, 'r'},
		{"in-process", no_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*o = (options){.runs = 5, .argv0 = argv[0]};
	o->selected = calloc((size_t)argc + NWORKLOADS, sizeof *o->selected);
	if (!o->selected)
		bench_die("out of memory");
	for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
		switch (c) {
		case 'p': o->procs = int_arg("--procs", optarg, GORT_MAX_PROCS); break;
		case 'r': o->runs = int_arg("--runs", optarg, 1000); break;
		case 'i': o->in_process = true; break;
		case 'h': usage(stdout); exit(0);
		default: exit(2); /* getopt_long printed why */
		}
	}
	for (int i = optind; i < argc; i++) {
		const bench_workload *w = find_workload(argv[i]);
		if (!w) {
			fprintf(stderr, "gort-bench: unknown workload '%s' (try --help)\n", argv[i]);
			exit(2);
		}
		o->selected[o->nselected++] = w;
	}
	if (!o->nselected)
		for (int i = 0; i < NWORKLOADS; i++)
			o->selected[o->nselected++] = &workloads[i];
}

/* ---- running ----------------------------------------------------------- */

typedef struct run_state {
	const bench_workload *w;
	double value;
} run_state;

static int run_root(void *arg)
{
	run_state *rs = arg;
	return rs->w->run(&rs->value);
}

/* Reads everything from fd into buf (NUL-terminated, truncated to fit). */
static void read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	for (;;) {
		char tmp[256];
		ssize_t n = read(fd, tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t take = (size_t)n < size - 1 - len ? (size_t)n : size - 1 - len;
		memcpy(buf + len, tmp, take);
		len += take;
	}
	buf[len] = '\0';
}

/* Runs one run of w in a fresh copy of this program (--in-process) and
 * parses the figure from the line it prints. */
static int run_isolated(const options *o, const bench_workload *w, int procs, double *ret)
{
	char procs_s[16];
	snprintf(procs_s, sizeof procs_s, "%d", procs);
	char *args[] = {(char *)o->argv0, "--procs", procs_s, "--runs", "1", "--in-process",
	                (char *)w->id, NULL};
	int fds[2];
	if (pipe(fds) < 0)
		bench_die("pipe: %s", strerror(errno));
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	pid_t pid;
	int err = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (err)
		bench_die("posix_spawn /proc/self/exe: %s", strerror(err));
	char out[512];
	read_all(fds[0], out, sizeof out);
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			bench_die("waitpid: %s", strerror(errno));
	char id[16];
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return bench_fail("the child run failed (status %#x)", (unsigned)status);
	if (sscanf(out, "%15s %*s procs=%*d %lf", id, ret) != 2 || strcmp(id, w->id))
		return bench_fail("the child run printed '%s'", out);
	return 0;
}

static int run_once(const options *o, const bench_workload *w, int procs, double *ret)
{
	run_error[0] = '\0';
	if (w->isolate && !o->in_process)
		return run_isolated(o, w, procs, ret);
	gort_config cfg = {.procs = procs};
	run_state rs = {.w = w};
	int r = gort_main(&cfg, run_root, &rs);
	if (r != 0 && !run_error[0])
		bench_fail("gort_main: %s", strerror(-r));
	if (r != 0)
		return -1;
	*ret = rs.value;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs w o->runs times with procs workers and prints its line; false if a
 * run failed (then the remaining runs are skipped). */
static bool bench_one(const options *o, const bench_workload *w, int procs)
{
	double *vals = calloc((size_t)o->runs, sizeof *vals);
	if (!vals)
		bench_die("out of memory");
	bool ok = true;
	for (int r = 0; r < o->runs && ok; r++)
		ok = run_once(o, w, procs, &vals[r]) == 0;
	if (ok)
		printf("%s %s procs=%d %.*f %s\n", w->id, w->name, procs, w->precision,
		       median(vals, o->runs), w->unit);
	else
		fprintf(stderr, "gort-bench: %s %s procs=%d FAILED: %s\n", w->id, w->name, procs,
		        run_error);
	fflush(stdout);
	free(vals);
	return ok;
}

int main(int argc, char **argv)
{
	options o;
	parse(argc, argv, &o);
	static const int default_procs[] = {1, 2};
	int nprocs = o.procs ? 1 : 2;
	bool ok = true;
	for (int p = 0; p < nprocs; p++) {
		int procs = o.procs ? o.procs : default_procs[p];
		for (int i = 0; i < o.nselected; i++)
			ok &= bench_one(&o, o.selected[i], procs);
	}
	free(o.selected);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
