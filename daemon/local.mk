# daemon/local.mk — godaemon's parts that need no runtime (configuration and
# protocol codec, as the convenience library daemon/libgodaemon.la the daemon
# links), its configuration file, man page, protocol document and systemd
# units (included by the top Makefile.am).

noinst_LTLIBRARIES += daemon/libgodaemon.la
daemon_libgodaemon_la_SOURCES = daemon/conf.c daemon/conf.h daemon/proto.c daemon/proto.h
daemon_libgodaemon_la_SOURCES += daemon/pipespec.c daemon/pipespec.h
daemon_libgodaemon_la_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS) $(MSGPACK_CFLAGS)
daemon_libgodaemon_la_LIBADD = $(INIH_LIBS) $(MSGPACK_LIBS)

dist_sysconf_DATA = config/godaemon.conf
dist_man_MANS += docs/godaemon.conf.5
dist_doc_DATA += docs/protocol.md
dist_doc_DATA += docs/pipelines.md

# --- systemd units -----------------------------------------------------------
# Generated from their .in templates at make time (not by configure), the
# way the automake manual recommends for installation directories: @sbindir@
# then expands fully, and a `make sbindir=...` override is honoured.
gd_edit_unit = $(SED) \
	-e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g'
gd_gen_unit = $(AM_V_GEN)$(MKDIR_P) $(@D) && rm -f $@ $@.tmp && \
	$(gd_edit_unit) $(srcdir)/$@.in >$@.tmp && chmod a-w $@.tmp && mv $@.tmp $@

systemdsystemunit_DATA = systemd/godaemon.service systemd/godaemon.socket
systemduserunit_DATA = systemd/user/godaemon.service systemd/user/godaemon.socket
gd_units = $(systemdsystemunit_DATA) $(systemduserunit_DATA)
CLEANFILES += $(gd_units)
EXTRA_DIST += $(gd_units:=.in) systemd/godaemon.sysusers systemd/godaemon.tmpfiles

systemd/godaemon.service: $(srcdir)/systemd/godaemon.service.in Makefile
	$(gd_gen_unit)
systemd/godaemon.socket: $(srcdir)/systemd/godaemon.socket.in Makefile
	$(gd_gen_unit)
systemd/user/godaemon.service: $(srcdir)/systemd/user/godaemon.service.in Makefile
	$(gd_gen_unit)
systemd/user/godaemon.socket: $(srcdir)/systemd/user/godaemon.socket.in Makefile
	$(gd_gen_unit)

# sysusers.d and tmpfiles.d snippets are installed as godaemon.conf.
install-data-local: install-gd-snippets
uninstall-local: uninstall-gd-snippets
install-gd-snippets:
	$(MKDIR_P) '$(DESTDIR)$(sysusersdir)' '$(DESTDIR)$(tmpfilesdir)'
	$(INSTALL_DATA) $(srcdir)/systemd/godaemon.sysusers '$(DESTDIR)$(sysusersdir)/godaemon.conf'
	$(INSTALL_DATA) $(srcdir)/systemd/godaemon.tmpfiles '$(DESTDIR)$(tmpfilesdir)/godaemon.conf'
uninstall-gd-snippets:
	rm -f '$(DESTDIR)$(sysusersdir)/godaemon.conf' '$(DESTDIR)$(tmpfilesdir)/godaemon.conf'
.PHONY: install-gd-snippets uninstall-gd-snippets

# `make distcheck` installs under a throw-away prefix: keep the units there.
AM_DISTCHECK_CONFIGURE_FLAGS += \
	--with-systemdsystemunitdir='$${prefix}/lib/systemd/system' \
	--with-systemduserunitdir='$${prefix}/lib/systemd/user' \
	--with-sysusersdir='$${prefix}/lib/sysusers.d' \
	--with-tmpfilesdir='$${prefix}/lib/tmpfiles.d'

# --- the daemon ------------------------------------------------------------
sbin_PROGRAMS += daemon/godaemon
daemon_godaemon_SOURCES = daemon/main.c daemon/server.c daemon/server.h \
	daemon/sd.c daemon/sd.h daemon/log.c daemon/log.h
daemon_godaemon_CPPFLAGS = $(AM_CPPFLAGS) -DGD_SYSCONFDIR='"$(sysconfdir)"' \
	-DGD_LOCALSTATEDIR='"$(localstatedir)"' -DGD_DOCDIR='"$(docdir)"'
daemon_godaemon_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS) $(INIH_CFLAGS) $(MSGPACK_CFLAGS)
daemon_godaemon_LDADD = daemon/libgodaemon.la runtime/libgort.la $(SYSTEMD_LIBS)
# libgort linked in statically: one self-contained binary to install.
daemon_godaemon_LDFLAGS = $(AM_LDFLAGS) -static
dist_man_MANS += docs/godaemon.8

# The job pipeline engine (daemon/engine.c, stages*.c): runs a validated spec
# on libgort (so it is not in the runtime-free convenience library above).
# Only tests/test_engine builds it for now: it joins godaemon's sources with
# the protocol's job methods (issue 7), not before, so that the daemon
# carries no code it cannot reach.
gd_engine_sources = daemon/engine.c daemon/engine.h daemon/engine_int.h \
	daemon/stages.c daemon/stages_exec.c

# The job table and the job methods (issue 7): the engine joins the daemon.
daemon_godaemon_SOURCES += daemon/jobs.c daemon/jobs.h $(gd_engine_sources)
daemon_godaemon_SOURCES += daemon/metrics.c daemon/metrics.h

# The watch and unwatch methods (metrics snapshots pushed at an interval).
daemon_godaemon_SOURCES += daemon/watch.c daemon/watch.h
