# bench/local.mk — benchmarks (not built by default: `make bench`).
#
# bench/gort-bench is a check program, so `make check` (and CI) compiles it
# and it cannot rot, but the suite does not run it: benchmarks are run on
# purpose, with `make bench` or bench/compare.sh (docs/benchmarks.md).  It
# links the static libgort, as an application built for speed would.

check_PROGRAMS += bench/gort-bench
bench_gort_bench_SOURCES = bench/gort-bench.c bench/bench.h bench/w_sched.c \
	bench/w_chan.c bench/w_sync.c bench/w_patterns.c bench/w_proc.c
bench_gort_bench_LDADD = runtime/libgort.la
bench_gort_bench_LDFLAGS = $(AM_LDFLAGS) -static
EXTRA_DIST += bench/compare.sh bench/go/go.mod bench/go/gobench.go
dist_doc_DATA += docs/benchmarks.md
# bench/compare.sh builds the Go twin here.
CLEANFILES += bench/gobench

.PHONY: bench
bench: bench/gort-bench
	bench/gort-bench --procs 1
	bench/gort-bench --procs 2

# bench/jobs-bench: job-level figures against a running godaemon (one
# pipeline's time, submit+wait jobs per second over C connections) and
# beanstalkd's put+reserve+delete for reference; bench/pipelines.sh starts
# both daemons on temporary sockets and runs it (docs/benchmarks.md,
# "Job pipelines").  A check program like gort-bench: compiled by `make
# check`, never run by the suite.
check_PROGRAMS += bench/jobs-bench
bench_jobs_bench_SOURCES = bench/jobs-bench.c bench/jobs-bench.h bench/jb_godaemon.c \
	bench/jb_beanstalk.c
bench_jobs_bench_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
bench_jobs_bench_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)
bench_jobs_bench_LDADD = daemon/libgodaemon.la $(PTHREAD_LIBS)
EXTRA_DIST += bench/pipelines.sh bench/go/pipeline/pipeline.go
# bench/pipelines.sh builds the Go twin of the throughput pipeline here.
CLEANFILES += bench/gopipeline
# `make bench-pipelines`: bench/pipelines.sh on this build directory.
.PHONY: bench-pipelines
bench-pipelines: bench/jobs-bench daemon/godaemon
	$(top_srcdir)/bench/pipelines.sh --build .
