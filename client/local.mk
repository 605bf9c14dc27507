# client/local.mk — goctl, the command-line client (included at the end of
# the top Makefile.am): one file per command (cmd_*.c) registered in
# goctl.c's table, the connection (conn.c), output formatting (out.c), its
# man page and bash completion, and its test against the real daemon.
# goctl links the daemon's convenience library for the protocol codec and
# the duration parser; it does not use libgort.

bin_PROGRAMS += client/goctl
client_goctl_SOURCES = client/goctl.c client/goctl.h client/conn.c client/conn.h \
	client/out.c client/out.h client/cmd_help.c client/cmd_ping.c client/cmd_stats.c \
	client/cmd_version.c client/job.c client/job.h client/cmd_submit.c client/cmd_run.c client/cmd_status.c \
	client/cmd_list.c client/cmd_cancel.c client/cmd_wait.c client/cmd_output.c
client_goctl_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
client_goctl_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)
client_goctl_LDADD = daemon/libgodaemon.la

dist_man_MANS += docs/goctl.1

# Bash completion, installed under the name of the command it completes.
EXTRA_DIST += client/goctl.bash
install-data-local: install-goctl-completion
uninstall-local: uninstall-goctl-completion
install-goctl-completion:
	$(MKDIR_P) '$(DESTDIR)$(bashcompletiondir)'
	$(INSTALL_DATA) $(srcdir)/client/goctl.bash '$(DESTDIR)$(bashcompletiondir)/goctl'
uninstall-goctl-completion:
	rm -f '$(DESTDIR)$(bashcompletiondir)/goctl'
.PHONY: install-goctl-completion uninstall-goctl-completion
AM_DISTCHECK_CONFIGURE_FLAGS += \
	--with-bashcompletiondir='$${prefix}/share/bash-completion/completions'

# goctl and tests/pyclient.py (a client written from docs/protocol.md
# alone) against the real daemon binary.
TESTS += tests/goctl.test
EXTRA_DIST += tests/goctl.test tests/pyclient.py

# Unit test of the output formatting (JSON and tables).
check_PROGRAMS += tests/test_goctl_out
TESTS += tests/test_goctl_out
tests_test_goctl_out_SOURCES = tests/test_goctl_out.c tests/harness.c client/out.c client/out.h
tests_test_goctl_out_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(MSGPACK_CFLAGS) \
	-I$(top_srcdir)/tests -I$(top_srcdir)/client
tests_test_goctl_out_LDADD = $(MSGPACK_LIBS) $(CHECK_LIBS) -lm
tests_test_goctl_out_LDFLAGS = $(GT_LINK)

# goctl's job commands (submit, status, list, cancel, wait, output) against
# the real daemon.
TESTS += tests/goctl-jobs.test
EXTRA_DIST += tests/goctl-jobs.test

# goctl metrics (the metrics method: table, JSON, Prometheus text format)
# against the real daemon.
client_goctl_SOURCES += client/cmd_metrics.c
TESTS += tests/goctl-metrics.test
EXTRA_DIST += tests/goctl-metrics.test

# goctl run: streaming a job's client sink back, cancelled by SIGINT or by
# goctl going away (tests/goctl-run.test, against the real daemon).
TESTS += tests/goctl-run.test
EXTRA_DIST += tests/goctl-run.test

# Job files (goctl submit/run -f FILE): JSON read with jansson (client/jobfile.c).
client_goctl_SOURCES += client/jobfile.c client/jobfile.h
client_goctl_CFLAGS += $(JANSSON_CFLAGS)
client_goctl_LDADD += $(JANSSON_LIBS)

# goctl metrics --watch and goctl top: the watch method (tests/goctl-watch.test).
client_goctl_SOURCES += client/watchcall.c client/watchcall.h client/cmd_top.c
client_goctl_LDADD += $(PTHREAD_LIBS)
