# tests/local.mk — Check test binaries, one per runtime/daemon module, run by
# `make check`.  Each links harness.c (main, temp dirs, leak checks) and the
# static libgort (so internal functions are reachable).  Modules add their
# binary with `check_PROGRAMS += tests/test_X` and `TESTS += tests/test_X`.

GT_COMPILE = $(AM_CFLAGS) $(CHECK_CFLAGS) -I$(top_srcdir)/tests
GT_LIBS = runtime/libgort.la $(CHECK_LIBS)
GT_LINK = $(AM_LDFLAGS) -static
AM_TESTS_ENVIRONMENT = CK_VERBOSITY=normal; export CK_VERBOSITY;
EXTRA_DIST += tests/harness.h

check_PROGRAMS += tests/test_spin
TESTS += tests/test_spin
tests_test_spin_SOURCES = tests/test_spin.c tests/harness.c
tests_test_spin_CFLAGS = $(GT_COMPILE)
tests_test_spin_LDADD = $(GT_LIBS)
tests_test_spin_LDFLAGS = $(GT_LINK)

# The daemon's configuration and protocol codec: no runtime needed, they
# link the daemon's convenience library.  GT_SRCDIR lets test_config read the
# shipped config/godaemon.conf and docs/godaemon.conf.5.
GT_DAEMON_COMPILE = $(AM_CFLAGS) $(CHECK_CFLAGS) $(INIH_CFLAGS) $(MSGPACK_CFLAGS) \
	-I$(top_srcdir)/tests -I$(top_srcdir)/daemon
GT_DAEMON_LIBS = daemon/libgodaemon.la $(CHECK_LIBS)

check_PROGRAMS += tests/test_config tests/test_proto
TESTS += tests/test_config tests/test_proto
tests_test_config_SOURCES = tests/test_config.c tests/harness.c
tests_test_config_CPPFLAGS = $(AM_CPPFLAGS) -DGT_SRCDIR='"$(abs_top_srcdir)"'
tests_test_config_CFLAGS = $(GT_DAEMON_COMPILE)
tests_test_config_LDADD = $(GT_DAEMON_LIBS)
tests_test_config_LDFLAGS = $(GT_LINK)
tests_test_proto_SOURCES = tests/test_proto.c tests/harness.c
tests_test_proto_CFLAGS = $(GT_DAEMON_COMPILE)
tests_test_proto_LDADD = $(GT_DAEMON_LIBS)
tests_test_proto_LDFLAGS = $(GT_LINK)

# Every example program of runtime/examples (see runtime/local.mk).
TESTS += tests/examples.sh
EXTRA_DIST += tests/examples.sh

# Concurrency patterns (gort_patterns.h).
check_PROGRAMS += tests/test_patterns
TESTS += tests/test_patterns
tests_test_patterns_SOURCES = tests/test_patterns.c tests/harness.c tests/harness_rt.c
tests_test_patterns_CFLAGS = $(GT_COMPILE)
tests_test_patterns_LDADD = $(GT_LIBS)
tests_test_patterns_LDFLAGS = $(GT_LINK) -Wl,--wrap=malloc -Wl,--wrap=calloc

# The scheduler core.  Runtime test binaries link tests/harness_rt.c (gt_run).
check_PROGRAMS += tests/test_sched
TESTS += tests/test_sched
tests_test_sched_SOURCES = tests/test_sched.c tests/harness.c tests/harness_rt.c
tests_test_sched_CFLAGS = $(GT_COMPILE)
tests_test_sched_LDADD = $(GT_LIBS)
tests_test_sched_LDFLAGS = $(GT_LINK)

# Sync primitives and the pool (runtime/sync.c, runtime/pool.c).
check_PROGRAMS += tests/test_sync
TESTS += tests/test_sync
tests_test_sync_SOURCES = tests/test_sync.c tests/harness.c tests/harness_rt.c
tests_test_sync_CFLAGS = $(GT_COMPILE)
tests_test_sync_LDADD = $(GT_LIBS)
tests_test_sync_LDFLAGS = $(GT_LINK)

# Channels and select (runtime/chan.c, runtime/select.c).
check_PROGRAMS += tests/test_chan tests/test_select
TESTS += tests/test_chan tests/test_select
tests_test_chan_SOURCES = tests/test_chan.c tests/harness.c tests/harness_rt.c
tests_test_chan_CFLAGS = $(GT_COMPILE)
tests_test_chan_LDADD = $(GT_LIBS)
tests_test_chan_LDFLAGS = $(GT_LINK)
tests_test_select_SOURCES = tests/test_select.c tests/harness.c tests/harness_rt.c
tests_test_select_CFLAGS = $(GT_COMPILE)
tests_test_select_LDADD = $(GT_LIBS)
tests_test_select_LDFLAGS = $(GT_LINK)
check_PROGRAMS += tests/test_stack
TESTS += tests/test_stack
tests_test_stack_SOURCES = tests/test_stack.c tests/harness.c tests/harness_rt.c
tests_test_stack_CFLAGS = $(GT_COMPILE)
tests_test_stack_LDADD = $(GT_LIBS) -lm
tests_test_stack_LDFLAGS = $(GT_LINK)

# Public timers and the context tree (runtime/timers.c, runtime/context.c).
check_PROGRAMS += tests/test_timer tests/test_context
TESTS += tests/test_timer tests/test_context
tests_test_timer_SOURCES = tests/test_timer.c tests/harness.c tests/harness_rt.c
tests_test_timer_CFLAGS = $(GT_COMPILE)
tests_test_timer_LDADD = $(GT_LIBS)
tests_test_timer_LDFLAGS = $(GT_LINK)
tests_test_context_SOURCES = tests/test_context.c tests/harness.c tests/harness_rt.c
tests_test_context_CFLAGS = $(GT_COMPILE)
tests_test_context_LDADD = $(GT_LIBS)
tests_test_context_LDFLAGS = $(GT_LINK)

# Netpoller, blocking pool, child processes (runtime/netpoll.c, blocking.c, proc.c).
check_PROGRAMS += tests/test_netpoll tests/test_blocking tests/test_proc
TESTS += tests/test_netpoll tests/test_blocking tests/test_proc
tests_test_netpoll_SOURCES = tests/test_netpoll.c tests/harness.c tests/harness_rt.c
tests_test_netpoll_CFLAGS = $(GT_COMPILE)
tests_test_netpoll_LDADD = $(GT_LIBS)
tests_test_netpoll_LDFLAGS = $(GT_LINK)
tests_test_blocking_SOURCES = tests/test_blocking.c tests/harness.c tests/harness_rt.c
tests_test_blocking_CFLAGS = $(GT_COMPILE)
tests_test_blocking_LDADD = $(GT_LIBS)
tests_test_blocking_LDFLAGS = $(GT_LINK)
tests_test_proc_SOURCES = tests/test_proc.c tests/harness.c tests/harness_rt.c
tests_test_proc_CFLAGS = $(GT_COMPILE)
tests_test_proc_LDADD = $(GT_LIBS)
tests_test_proc_LDFLAGS = $(GT_LINK)

# godaemon itself (daemon/godaemon), started with fork/exec by the tests.
check_PROGRAMS += tests/test_daemon
TESTS += tests/test_daemon
tests_test_daemon_SOURCES = tests/test_daemon.c tests/harness.c
tests_test_daemon_CPPFLAGS = $(AM_CPPFLAGS) -DGT_DAEMON='"$(abs_top_builddir)/daemon/godaemon"'
tests_test_daemon_CFLAGS = $(GT_DAEMON_COMPILE)
tests_test_daemon_LDADD = $(GT_DAEMON_LIBS)
tests_test_daemon_LDFLAGS = $(GT_LINK)

# godaemon under a real systemd booted in a sandbox (tests/systemd/): needs
# root, overlayfs and cgroup2, and fails (never skips) without them.
TESTS += tests/systemd/e2e.sh
EXTRA_DIST += tests/systemd/e2e.sh tests/systemd/e2e-checks.sh tests/systemd/run-in-systemd.sh

# The job pipeline specification (daemon/pipespec.c): parser, wire form,
# validator.  Allocations are wrapped for fault injection.
check_PROGRAMS += tests/test_pipespec
TESTS += tests/test_pipespec
tests_test_pipespec_SOURCES = tests/test_pipespec.c tests/harness.c tests/faults.c
tests_test_pipespec_CFLAGS = $(GT_DAEMON_COMPILE)
tests_test_pipespec_LDADD = $(GT_DAEMON_LIBS)
tests_test_pipespec_LDFLAGS = $(GT_LINK) -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc

# The job pipeline engine (daemon/engine.c, stages*.c) on a real runtime.
check_PROGRAMS += tests/test_engine
TESTS += tests/test_engine
tests_test_engine_SOURCES = tests/test_engine.c tests/harness.c tests/harness_rt.c \
	$(gd_engine_sources)
tests_test_engine_CFLAGS = $(GT_DAEMON_COMPILE)
tests_test_engine_LDADD = daemon/libgodaemon.la runtime/libgort.la $(CHECK_LIBS)
tests_test_engine_LDFLAGS = $(GT_LINK)

# The job table and job methods against the real daemon (issue 7, step 3).
TESTS += tests/jobs.test
EXTRA_DIST += tests/jobs.test

# The watch and unwatch methods against the real daemon (python client),
# and goctl metrics --watch / goctl top (sh).
TESTS += tests/watch.test tests/goctl-watch.test
EXTRA_DIST += tests/watch.test tests/goctl-watch.test

# goctl's job files (client/jobfile.c): JSON to the wire form, the errors of
# a bad file, allocation failures (fault injection, also inside jansson).
check_PROGRAMS += tests/test_jobfile
TESTS += tests/test_jobfile
tests_test_jobfile_SOURCES = tests/test_jobfile.c tests/harness.c tests/faults.c client/jobfile.c client/jobfile.h
tests_test_jobfile_CFLAGS = $(GT_DAEMON_COMPILE) $(JANSSON_CFLAGS) -I$(top_srcdir)/client
tests_test_jobfile_LDADD = $(GT_DAEMON_LIBS) $(JANSSON_LIBS)
tests_test_jobfile_LDFLAGS = $(GT_LINK) -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc

# goctl submit/run -f FILE against the real daemon.
TESTS += tests/goctl-jobfile.test
EXTRA_DIST += tests/goctl-jobfile.test

# goctl run feeding its stdin to a `stdin` source, and its progress line,
# against the real daemon (sh).
TESTS += tests/goctl-stdin.test
EXTRA_DIST += tests/goctl-stdin.test

# Issue 7's acceptance list through goctl against the real daemon: every
# example of docs/pipelines.md section 2 (read from the document), exec -j 8
# ordering, tee, bridge, cancel and timeouts, backpressure, bad specs (job
# files included), two users (as root) and admission (sh).
TESTS += tests/goctl-pipelines.test
EXTRA_DIST += tests/goctl-pipelines.test
