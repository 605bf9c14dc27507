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
