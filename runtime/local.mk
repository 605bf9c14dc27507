# runtime/local.mk — libgort: the goroutine runtime library (included by
# the top Makefile.am).  Modules add their sources with +=.

lib_LTLIBRARIES += runtime/libgort.la
include_HEADERS += runtime/gort.h
pkgconfig_DATA = runtime/gort.pc
DISTCLEANFILES += runtime/gort.pc

runtime_libgort_la_SOURCES = runtime/internal.h runtime/spin.c
runtime_libgort_la_CFLAGS = $(AM_CFLAGS)
runtime_libgort_la_LDFLAGS = $(AM_LDFLAGS) -version-info $(GORT_LT_VERSION) -pthread
runtime_libgort_la_LIBADD =

# Channels and select (docs/runtime-channels.md).
runtime_libgort_la_SOURCES += runtime/chan_impl.h runtime/chan.c runtime/select.c

# Public timers and the context tree (docs/runtime-context.md).
runtime_libgort_la_SOURCES += runtime/timers.c runtime/context.h runtime/context.c
dist_doc_DATA += docs/runtime-context.md

# Sync primitives and the pool (docs/runtime-sync.md).
runtime_libgort_la_SOURCES += runtime/sync.c runtime/pool.c
dist_doc_DATA += docs/runtime-sync.md

# Concurrency patterns: generators, or, tee, bridge, fan-out/in, queuing
# (docs/patterns.md); a second installed header.
include_HEADERS += runtime/gort_patterns.h
runtime_libgort_la_SOURCES += runtime/patterns_int.h runtime/patterns.c runtime/patterns_fan.c
dist_doc_DATA += docs/patterns.md
# scheduler core (runtime core issue): workers, stacks, timers heap, diagnostics
runtime_libgort_la_SOURCES += runtime/sched.c runtime/runq.c runtime/stack.c \
	runtime/timerheap.c runtime/diag.c runtime/sched_impl.h runtime/sanitizer.h \
	runtime/switch_x86_64.S runtime/switch_aarch64.S
dist_doc_DATA += docs/runtime.md
EXTRA_DIST += runtime/gort-gdb.py

# Example programs (runtime/examples/*.c): built by `make`, not installed,
# each run by tests/examples.sh, which picks up every runtime/examples/ex_*.
# An example links the static libgort: add it with the two EX_ variables.
EX_LIBS = runtime/libgort.la
EX_LINK = $(AM_LDFLAGS) -static
# "Concurrency in Go", chapter 3: goroutines and the sync package.
noinst_PROGRAMS += runtime/examples/ex_sayhello runtime/examples/ex_salutations \
	runtime/examples/ex_waitgroup runtime/examples/ex_goroutine_memory \
	runtime/examples/ex_mutex runtime/examples/ex_rwmutex runtime/examples/ex_cond \
	runtime/examples/ex_once runtime/examples/ex_pool
runtime_examples_ex_sayhello_SOURCES = runtime/examples/sayhello.c
runtime_examples_ex_sayhello_LDADD = $(EX_LIBS)
runtime_examples_ex_sayhello_LDFLAGS = $(EX_LINK)
runtime_examples_ex_salutations_SOURCES = runtime/examples/salutations.c
runtime_examples_ex_salutations_LDADD = $(EX_LIBS)
runtime_examples_ex_salutations_LDFLAGS = $(EX_LINK)
runtime_examples_ex_waitgroup_SOURCES = runtime/examples/waitgroup.c
runtime_examples_ex_waitgroup_LDADD = $(EX_LIBS)
runtime_examples_ex_waitgroup_LDFLAGS = $(EX_LINK)
runtime_examples_ex_goroutine_memory_SOURCES = runtime/examples/goroutine_memory.c
runtime_examples_ex_goroutine_memory_LDADD = $(EX_LIBS)
runtime_examples_ex_goroutine_memory_LDFLAGS = $(EX_LINK)
runtime_examples_ex_mutex_SOURCES = runtime/examples/mutex.c
runtime_examples_ex_mutex_LDADD = $(EX_LIBS)
runtime_examples_ex_mutex_LDFLAGS = $(EX_LINK)
runtime_examples_ex_rwmutex_SOURCES = runtime/examples/rwmutex.c
runtime_examples_ex_rwmutex_LDADD = $(EX_LIBS)
runtime_examples_ex_rwmutex_LDFLAGS = $(EX_LINK)
runtime_examples_ex_cond_SOURCES = runtime/examples/cond.c
runtime_examples_ex_cond_LDADD = $(EX_LIBS)
runtime_examples_ex_cond_LDFLAGS = $(EX_LINK)
runtime_examples_ex_once_SOURCES = runtime/examples/once.c
runtime_examples_ex_once_LDADD = $(EX_LIBS)
runtime_examples_ex_once_LDFLAGS = $(EX_LINK)
runtime_examples_ex_pool_SOURCES = runtime/examples/pool.c
runtime_examples_ex_pool_LDADD = $(EX_LIBS)
runtime_examples_ex_pool_LDFLAGS = $(EX_LINK)

# "Concurrency in Go", chapter 4: the concurrency patterns (gort_patterns.h).
noinst_PROGRAMS += runtime/examples/ex_confinement runtime/examples/ex_leak_prevention \
	runtime/examples/ex_or_channel runtime/examples/ex_error_handling \
	runtime/examples/ex_pipeline runtime/examples/ex_fan_in_out runtime/examples/ex_or_done \
	runtime/examples/ex_tee runtime/examples/ex_bridge runtime/examples/ex_queuing
runtime_examples_ex_confinement_SOURCES = runtime/examples/confinement.c
runtime_examples_ex_confinement_LDADD = $(EX_LIBS)
runtime_examples_ex_confinement_LDFLAGS = $(EX_LINK)
runtime_examples_ex_leak_prevention_SOURCES = runtime/examples/leak_prevention.c
runtime_examples_ex_leak_prevention_LDADD = $(EX_LIBS)
runtime_examples_ex_leak_prevention_LDFLAGS = $(EX_LINK)
runtime_examples_ex_or_channel_SOURCES = runtime/examples/or_channel.c
runtime_examples_ex_or_channel_LDADD = $(EX_LIBS)
runtime_examples_ex_or_channel_LDFLAGS = $(EX_LINK)
runtime_examples_ex_error_handling_SOURCES = runtime/examples/error_handling.c
runtime_examples_ex_error_handling_LDADD = $(EX_LIBS)
runtime_examples_ex_error_handling_LDFLAGS = $(EX_LINK)
runtime_examples_ex_pipeline_SOURCES = runtime/examples/pipeline.c
runtime_examples_ex_pipeline_LDADD = $(EX_LIBS)
runtime_examples_ex_pipeline_LDFLAGS = $(EX_LINK)
runtime_examples_ex_fan_in_out_SOURCES = runtime/examples/fan_in_out.c
runtime_examples_ex_fan_in_out_LDADD = $(EX_LIBS)
runtime_examples_ex_fan_in_out_LDFLAGS = $(EX_LINK)
runtime_examples_ex_or_done_SOURCES = runtime/examples/or_done.c
runtime_examples_ex_or_done_LDADD = $(EX_LIBS)
runtime_examples_ex_or_done_LDFLAGS = $(EX_LINK)
runtime_examples_ex_tee_SOURCES = runtime/examples/tee.c
runtime_examples_ex_tee_LDADD = $(EX_LIBS)
runtime_examples_ex_tee_LDFLAGS = $(EX_LINK)
runtime_examples_ex_bridge_SOURCES = runtime/examples/bridge.c
runtime_examples_ex_bridge_LDADD = $(EX_LIBS)
runtime_examples_ex_bridge_LDFLAGS = $(EX_LINK)
runtime_examples_ex_queuing_SOURCES = runtime/examples/queuing.c
runtime_examples_ex_queuing_LDADD = $(EX_LIBS)
runtime_examples_ex_queuing_LDFLAGS = $(EX_LINK)

# Channels and select examples (docs/runtime-channels.md).
noinst_PROGRAMS += runtime/examples/ex_chan_unbuffered runtime/examples/ex_chan_buffered \
	runtime/examples/ex_chan_close_range runtime/examples/ex_select_default \
	runtime/examples/ex_select_timeout runtime/examples/ex_for_select
runtime_examples_ex_chan_unbuffered_SOURCES = runtime/examples/chan_unbuffered.c
runtime_examples_ex_chan_unbuffered_LDADD = $(EX_LIBS)
runtime_examples_ex_chan_unbuffered_LDFLAGS = $(EX_LINK)
runtime_examples_ex_chan_buffered_SOURCES = runtime/examples/chan_buffered.c
runtime_examples_ex_chan_buffered_LDADD = $(EX_LIBS)
runtime_examples_ex_chan_buffered_LDFLAGS = $(EX_LINK)
runtime_examples_ex_chan_close_range_SOURCES = runtime/examples/chan_close_range.c
runtime_examples_ex_chan_close_range_LDADD = $(EX_LIBS)
runtime_examples_ex_chan_close_range_LDFLAGS = $(EX_LINK)
runtime_examples_ex_select_default_SOURCES = runtime/examples/select_default.c
runtime_examples_ex_select_default_LDADD = $(EX_LIBS)
runtime_examples_ex_select_default_LDFLAGS = $(EX_LINK)
runtime_examples_ex_select_timeout_SOURCES = runtime/examples/select_timeout.c
runtime_examples_ex_select_timeout_LDADD = $(EX_LIBS)
runtime_examples_ex_select_timeout_LDFLAGS = $(EX_LINK)
runtime_examples_ex_for_select_SOURCES = runtime/examples/for_select.c
runtime_examples_ex_for_select_LDADD = $(EX_LIBS)
runtime_examples_ex_for_select_LDFLAGS = $(EX_LINK)
dist_doc_DATA += docs/runtime-channels.md

# Timer and context examples (docs/runtime-context.md).
noinst_PROGRAMS += runtime/examples/ex_context runtime/examples/ex_context_timeout
runtime_examples_ex_context_SOURCES = runtime/examples/context.c
runtime_examples_ex_context_LDADD = $(EX_LIBS)
runtime_examples_ex_context_LDFLAGS = $(EX_LINK)
runtime_examples_ex_context_timeout_SOURCES = runtime/examples/context_timeout.c
runtime_examples_ex_context_timeout_LDADD = $(EX_LIBS)
runtime_examples_ex_context_timeout_LDFLAGS = $(EX_LINK)

# Netpoller, blocking pool, child processes (docs/runtime-io.md).
runtime_libgort_la_SOURCES += runtime/netpoll.c runtime/blocking.c runtime/proc.c
dist_doc_DATA += docs/runtime-io.md
