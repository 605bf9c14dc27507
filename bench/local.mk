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
