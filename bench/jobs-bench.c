/* jobs-bench.c — the job-level benchmarks of bench/pipelines.sh against a
 * running godaemon (and beanstalkd as the reference for job rates):
 *
 *   jobs-bench pipeline SOCKET PIPELINE [--count N] [--stage-in I=N]...
 *       one job over one connection: submit, then wait for it; prints the
 *       seconds from sending submit to receiving wait's final status.  The
 *       job must succeed without error items, its count sinks must have
 *       counted N items and its stage I (1-based, top level) must have
 *       received N items, when asked.
 *   jobs-bench godaemon SOCKET [--conns C] [--jobs N] [PIPELINE]
 *       N jobs (default 10000; PIPELINE defaults to `seq 1 1 | discard`),
 *       each a submit then a wait for it, over C connections (default 1),
 *       each with its own thread doing its share one job after the other;
 *       prints jobs per second.  Every job must succeed.
 *   jobs-bench beanstalkd SOCKET [--conns C] [--jobs N]
 *       the same with beanstalkd (-l unix:SOCKET): put, reserve, delete per
 *       job (the body is the text of the trivial pipeline); jobs per second.
 *
 * Connections are opened (and the hello done) before the clock starts; the
 * clock stops when the last thread has finished its share.  Exit status: 0,
 * 1 when a job or a check failed (the reason on stderr), 2 on usage errors.
 */
#include "config.h"
#include "jobs-bench.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define TRIVIAL "seq 1 1 | discard"
enum { MAX_CONNS = 1024, MAX_CHECKS = 8 };

int jb_fail(jb_error *e, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof e->text, fmt, ap);
	va_end(ap);
	return err;
}

int jb_connect(const char *path, jb_error *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return jb_fail(e, -ENAMETOOLONG, "%s: socket path too long", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return jb_fail(e, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int err = errno;
		close(fd);
		return jb_fail(e, -err, "%s: %s", path, strerror(err));
	}
	return fd;
}

int jb_write_all(int fd, const void *data, size_t len, jb_error *e)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return jb_fail(e, -errno, "write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- options ------------------------------------------------------------- */

typedef struct opts {
	const char *mode, *socket, *pipeline;
	unsigned long conns, jobs;
	bool want_count;
	uint64_t count;                 /* --count */
	uint32_t nchecks;
	uint32_t check_stage[MAX_CHECKS]; /* --stage-in I=N: stage I (1-based) */
	uint64_t check_in[MAX_CHECKS];    /* received N items */
} opts;

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "jobs-bench: %s\n", why);
	fprintf(why ? stderr : stdout,
	        "Usage: jobs-bench pipeline SOCKET PIPELINE [--count N] [--stage-in I=N]...\n"
	        "       jobs-bench godaemon SOCKET [--conns C] [--jobs N] [PIPELINE]\n"
	        "       jobs-bench beanstalkd SOCKET [--conns C] [--jobs N]\n");
	return 2;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return false;
	*ret = v;
	return true;
}

static int parse_stage_in(opts *o, const char *arg)
{
	uint64_t i;
	char num[32];
	const char *eq = strchr(arg, '=');
	if (!eq || (size_t)(eq - arg) >= sizeof num || o->nchecks == MAX_CHECKS)
		return -EINVAL;
	memcpy(num, arg, (size_t)(eq - arg));
	num[eq - arg] = '\0';
	if (!parse_u64(num, 1, 8, &i) || !parse_u64(eq + 1, 0, UINT64_MAX, &o->check_in[o->nchecks]))
		return -EINVAL;
	o->check_stage[o->nchecks++] = (uint32_t)i;
	return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
	static const struct option longopts[] = {
		{"conns", required_argument, NULL, 'c'}, {"jobs", required_argument, NULL, 'n'},
		{"count", required_argument, NULL, 'C'}, {"stage-in", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	*o = (opts){.conns = 1, .jobs = 10000, .pipeline = TRIVIAL};
	int ch;
	uint64_t v;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'c' && parse_u64(optarg, 1, MAX_CONNS, &v))
			o->conns = (unsigned long)v;
		else if (ch == 'n' && parse_u64(optarg, 1, 100000000, &v))
			o->jobs = (unsigned long)v;
		else if (ch == 'C' && parse_u64(optarg, 0, UINT64_MAX, &o->count))
			o->want_count = true;
		else if (ch == 'i' && parse_stage_in(o, optarg) == 0)
			continue;
		else
			return ch == 'h' ? (usage(NULL), -1) : usage("bad option or value");
	}
	/* GNU getopt has moved the operands (MODE SOCKET [PIPELINE]) last. */
	int npos = argc - optind;
	if (npos < 2 || npos > 3)
		return usage("expected MODE SOCKET [PIPELINE]");
	o->mode = argv[optind];
	o->socket = argv[optind + 1];
	if (npos == 3)
		o->pipeline = argv[optind + 2];
	bool bs = strcmp(o->mode, "beanstalkd") == 0, gd = strcmp(o->mode, "godaemon") == 0;
	bool pl = strcmp(o->mode, "pipeline") == 0;
	if (!bs && !gd && !pl)
		return usage("MODE is pipeline, godaemon or beanstalkd");
	if ((bs && npos == 3) || (pl && npos != 3))
		return usage(bs ? "beanstalkd takes no PIPELINE" : "pipeline needs a PIPELINE");
	return 0;
}

/* ---- one pipeline ---------------------------------------------------------- */

static int check_status(const opts *o, const jb_gd_status *st, jb_error *e)
{
	if (strcmp(st->state, "succeeded") != 0)
		return jb_fail(e, -EPROTO, "the job ended %s", st->state);
	if (st->errors_total)
		return jb_fail(e, -EPROTO, "the job had %" PRIu64 " error items", st->errors_total);
	if (o->want_count && st->count != o->count)
		return jb_fail(e, -EPROTO, "the job counted %" PRIu64 " items, not %" PRIu64,
		               st->count, o->count);
	for (uint32_t i = 0; i < o->nchecks; i++) {
		uint32_t k = o->check_stage[i] - 1;
		if (k >= st->nstages || st->stage_in[k] != o->check_in[i])
			return jb_fail(e, -EPROTO, "stage %u received %" PRIu64 " items, not %" PRIu64,
			               k + 1, k < st->nstages ? st->stage_in[k] : 0, o->check_in[i]);
	}
	return 0;
}

static int run_pipeline(const opts *o)
{
	jb_error e;
	jb_gd *c;
	jb_gd_status st;
	int r = jb_gd_open(o->socket, o->pipeline, &c, &e);
	if (r < 0) {
		fprintf(stderr, "jobs-bench: %s\n", e.text);
		return 1;
	}
	double t0 = now_s();
	r = jb_gd_submit_wait(c, &st, &e);
	double t1 = now_s();
	jb_gd_close(c);
	if (r == 0)
		r = check_status(o, &st, &e);
	if (r < 0) {
		fprintf(stderr, "jobs-bench: %s\n", e.text);
		return 1;
	}
	printf("%.6f\n", t1 - t0);
	return 0;
}

/* ---- many jobs over several connections --------------------------------- */

typedef struct worker {
	const opts *o;
	pthread_barrier_t *start; /* every connection open: go */
	unsigned long njobs;      /* this thread's share */
	pthread_t thread;
	int err;                  /* 0 or the first failure */
	jb_error e;
} worker;

static void *worker_main(void *arg)
{
	worker *w = arg;
	bool gd = strcmp(w->o->mode, "godaemon") == 0;
	jb_gd *g = NULL;
	jb_bs *b = NULL;
	w->err = gd ? jb_gd_open(w->o->socket, w->o->pipeline, &g, &w->e)
	            : jb_bs_open(w->o->socket, &b, &w->e);
	pthread_barrier_wait(w->start);
	for (unsigned long i = 0; i < w->njobs && w->err == 0; i++)
		w->err = gd ? jb_gd_submit_wait(g, NULL, &w->e)
		            : jb_bs_put_reserve_delete(b, TRIVIAL, strlen(TRIVIAL), &w->e);
	jb_gd_close(g);
	jb_bs_close(b);
	return NULL;
}

static int run_jobs(const opts *o)
{
	worker *w = calloc(o->conns, sizeof *w);
	pthread_barrier_t start;
	if (!w || pthread_barrier_init(&start, NULL, (unsigned)o->conns + 1) != 0) {
		fprintf(stderr, "jobs-bench: out of memory\n");
		return 1;
	}
	unsigned long started = 0;
	for (unsigned long i = 0; i < o->conns; i++) {
		w[i] = (worker){.o = o, .start = &start, .njobs = o->jobs / o->conns};
		w[i].njobs += i < o->jobs % o->conns;
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
			break;
		started++;
	}
	if (started < o->conns) {
		fprintf(stderr, "jobs-bench: cannot start %lu threads\n", o->conns);
		exit(1); /* the barrier would never open */
	}
	pthread_barrier_wait(&start);
	double t0 = now_s();
	for (unsigned long i = 0; i < o->conns; i++)
		pthread_join(w[i].thread, NULL);
	double t1 = now_s();
	int rc = 0;
	for (unsigned long i = 0; i < o->conns && !rc; i++) {
		if (w[i].err) {
			fprintf(stderr, "jobs-bench: connection %lu: %s\n", i + 1, w[i].e.text);
			rc = 1;
		}
	}
	if (!rc)
		printf("%.0f\n", (double)o->jobs / (t1 - t0));
	pthread_barrier_destroy(&start);
	free(w);
	return rc;
}

int main(int argc, char **argv)
{
	opts o;
	int r = parse_args(argc, argv, &o);
	if (r)
		return r < 0 ? 0 : r;
	return strcmp(o.mode, "pipeline") == 0 ? run_pipeline(&o) : run_jobs(&o);
}
