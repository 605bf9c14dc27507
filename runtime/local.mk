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
