#!/bin/bash
# e2e.sh — godaemon under a real systemd (PID 1 in a throw-away namespace
# sandbox, tests/systemd/run-in-systemd.sh), checked the way an operator
# would: socket activation by the first client request, `systemctl status`
# with the daemon's STATUS= line, `systemctl reload`, a stalled watchdog
# restarting the service, a clean `systemctl stop`, and the journal's
# structured fields.  The checks themselves are e2e-checks.sh, run inside.
#
#   tests/systemd/e2e.sh [BUILD_DIR]     (default: the current directory)
#
# Installs BUILD_DIR with `make install DESTDIR=...` into a staging tree
# that the sandbox lays over its root.  Needs root, overlayfs and cgroup2:
# without them it FAILS (exit 1) saying what is missing — it never skips.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-.}" && pwd)
say() { printf 'e2e: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (it boots systemd in new namespaces)"
grep -qw overlay /proc/filesystems || die "needs overlayfs (modprobe overlay)"
grep -qw cgroup2 /proc/filesystems || die "needs cgroup2 support in the kernel"
[ -x /lib/systemd/systemd ] || die "needs systemd installed (/lib/systemd/systemd)"
[ -x "$build/daemon/godaemon" ] || die "no daemon/godaemon in $build: build it first"

work=$(mktemp -d "${TMPDIR:-/tmp}/gd-e2e.XXXXXX")
trap 'rm -rf "$work"' EXIT
units=$work/units
mkdir -p "$units/rootfs" "$units/godaemon.service.d"

# Where `make install` puts things, as configured (a distcheck build has
# its own prefix: units then land outside systemd's search path, so they
# are copied into the unit directory below, which goes to /etc/systemd).
vars=$(make -s --no-print-directory -C "$build" -f Makefile -f - gd-e2e-vars <<'MK'
gd-e2e-vars:
	@echo "sbindir='$(sbindir)' bindir='$(bindir)' sysconfdir='$(sysconfdir)'" \
	     "unitdir='$(systemdsystemunitdir)' sysusersdir='$(sysusersdir)'" \
	     "tmpfilesdir='$(tmpfilesdir)' mandir='$(mandir)'"
MK
) || die "cannot read the install directories from $build/Makefile"
vars=$(grep "^sbindir=" <<<"$vars") || die "no install directories in $build/Makefile"
eval "$vars"

say "installing $build into the sandbox tree"
make -C "$build" install DESTDIR="$units/rootfs" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log" >&2; die "make install failed"; }
for u in godaemon.service godaemon.socket; do
	cp "$units/rootfs$unitdir/$u" "$units/$u" || die "make install did not install $u"
done

# Merged /usr (Debian 12: /lib -> usr/lib): move what landed under a real
# directory there to where the symlink points, or the overlay copy fails.
for d in lib lib64 bin sbin; do
	if [ -L "/$d" ] && [ -d "$units/rootfs/$d" ] && [ ! -L "$units/rootfs/$d" ]; then
		target=$(readlink "/$d")
		mkdir -p "$units/rootfs/${target#/}"
		cp -a "$units/rootfs/$d/." "$units/rootfs/${target#/}/"
		rm -rf "${units:?}/rootfs/$d"
	fi
done

# Debian's tmpfiles.d/tmp.conf empties /tmp when the sandbox boots ("D"),
# which would remove an install prefix under /tmp (make distcheck builds in
# the build directory, often there): create /tmp without cleaning it.
mkdir -p "$units/rootfs/etc/tmpfiles.d"
echo 'd /tmp 1777 root root -' >"$units/rootfs/etc/tmpfiles.d/tmp.conf"

# The operator's settings: debug logging (so connection lines with their
# CLIENT_* fields reach the journal) and a short watchdog for the stall test.
conf=$units/rootfs$sysconfdir/godaemon.conf
[ -f "$conf" ] || die "make install did not install $sysconfdir/godaemon.conf"
sed -i 's/^#level = info$/level = debug/' "$conf"
grep -q '^level = debug$' "$conf" || die "cannot set the log level in $conf"
cat >"$units/godaemon.service.d/e2e.conf" <<'UNIT'
[Service]
WatchdogSec=1s
TimeoutAbortSec=1s
RestartSec=100ms
UNIT
cp "$here/e2e-checks.sh" "$units/godaemon-e2e-checks"
chmod +x "$units/godaemon-e2e-checks"

say "booting systemd"
"$here/run-in-systemd.sh" -t 120 -j on-failure \
	-e GD_SYSUSERS="$sysusersdir/godaemon.conf" -e GD_TMPFILES="$tmpfilesdir/godaemon.conf" \
	-e GD_GOCTL="$bindir/goctl" -e GD_MANDIR="$mandir" \
	"$units" -- /usr/local/bin/godaemon-e2e-checks
