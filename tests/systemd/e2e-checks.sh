#!/bin/bash
# e2e-checks.sh — run by tests/systemd/e2e.sh inside the systemd sandbox,
# as root on the booted machine, with godaemon installed (its units in
# /etc/systemd/system; $GD_SYSUSERS, $GD_TMPFILES: its snippets; $GD_GOCTL:
# goctl, if it was built; $GD_MANDIR: where its man pages went).  Each check prints "ok: ..." or fails the run
# with what it saw.
set -euo pipefail

SOCK=/run/godaemon/godaemon.sock
ok() { printf 'e2e: ok: %s\n' "$*"; }
fail() {
	printf 'e2e: FAIL: %s\n' "$*" >&2
	systemctl status --no-pager godaemon.service godaemon.socket >&2 || true
	journalctl --no-pager -u godaemon -n 40 >&2 || true
	exit 1
}
# wait_for SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
	local end=$((SECONDS + $1)); shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
prop() { systemctl show -p "$1" --value godaemon.service; }

# A client: goctl when it is installed, else a minimal one of
# docs/protocol.md (Debian's python3-msgpack; /usr/bin/python3 on purpose).
call() {
	if [ -x "$GD_GOCTL" ]; then
		"$GD_GOCTL" --socket "$SOCK" "$1"
	else
		/usr/bin/python3 - "$SOCK" "$1" <<'PY'
import socket, sys, msgpack
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
u = msgpack.Unpacker(raw=False)
def call(i, method, *params):
    s.sendall(msgpack.packb([0, i, method, list(params)]))
    while True:
        for m in u:
            if m[0] == 2:
                sys.exit("error: %s" % m[2][0]["message"])
            if m[2] is not None:
                sys.exit("error: %s" % m[2]["message"])
            return m[3]
        d = s.recv(65536)
        if not d:
            sys.exit("closed")
        u.feed(d)
call(1, "hello", 1, "e2e")
print(call(2, sys.argv[2]))
PY
	fi
}

systemd-sysusers "$GD_SYSUSERS" >/dev/null
systemd-tmpfiles --create "$GD_TMPFILES"
getent group godaemon >/dev/null || fail "sysusers did not create the godaemon group"
systemctl daemon-reload

# 0. The units as installed pass systemd's own checks.
# (verify runs man(1) for Documentation=: look where they were installed)
out=$(MANPATH="$GD_MANDIR:" systemd-analyze verify /etc/systemd/system/godaemon.socket /etc/systemd/system/godaemon.service 2>&1) ||
	fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
ok "systemd-analyze verify accepts godaemon.socket and godaemon.service"

# 1. The socket alone; the first request starts the service.
systemctl start godaemon.socket
[ "$(systemctl is-active godaemon.socket)" = active ] || fail "godaemon.socket is not active"
[ "$(stat -c '%a %G' "$SOCK")" = "660 godaemon" ] || fail "socket mode/group: $(stat -c '%a %G' "$SOCK")"
[ "$(systemctl is-active godaemon.service || true)" != active ] || fail "service started early"
out=$(call ping) || fail "first ping: $out"
case $out in *pong*) ;; *) fail "ping answered: $out" ;; esac
wait_for 5 test "$(prop ActiveState)" = active || fail "service not active after the ping"
ok "socket activation: the first ping started godaemon.service"

# 2. systemctl status shows the daemon's STATUS= line.
call stats >/dev/null || fail "stats"
wait_for 5 sh -c 'systemctl status --no-pager godaemon | grep -q "Status: \".*connections.*requests"' ||
	fail "no STATUS= line in systemctl status: $(systemctl status --no-pager godaemon | head -n 8)"
ok "systemctl status: $(prop StatusText)"

# 3. Reload: RELOADING=1 ... READY=1, same process, still serving.
pid=$(prop MainPID)
systemctl reload godaemon || fail "systemctl reload"
[ "$(prop MainPID)" = "$pid" ] || fail "reload changed the main pid"
wait_for 5 sh -c 'journalctl -u godaemon --no-pager | grep -q "configuration reloaded"' ||
	fail "no 'configuration reloaded' in the journal"
call ping >/dev/null || fail "ping after reload"
ok "systemctl reload"

# 4. The journal carries the structured fields.
v=$(journalctl -u godaemon -o verbose --no-pager)
for f in PRIORITY= CODE_FILE= CODE_LINE= CODE_FUNC= SYSLOG_IDENTIFIER=godaemon CONN_ID= CLIENT_UID=0 CLIENT_PID=; do
	grep -q "^ *$f" <<<"$v" || fail "journalctl -o verbose lacks $f"
done
ok "journal: structured fields (CODE_*, CONN_ID, CLIENT_UID, CLIENT_PID)"

# 5. A stalled daemon stops pinging the watchdog and is restarted.
pid=$(prop MainPID)
restarts=$(prop NRestarts)
kill -STOP "$pid"
wait_for 20 sh -c "[ \"\$(systemctl show -p NRestarts --value godaemon)\" -gt $restarts ] &&
	[ \"\$(systemctl show -p ActiveState --value godaemon)\" = active ]" ||
	fail "no restart after the watchdog stalled (NRestarts=$(prop NRestarts))"
[ "$(prop MainPID)" != "$pid" ] || fail "same main pid after the watchdog restart"
journalctl -u godaemon --no-pager | grep -qi "watchdog timeout" || fail "no watchdog timeout in the journal"
call ping >/dev/null || fail "ping after the watchdog restart"
ok "watchdog: stalled pid $pid killed, restarted as $(prop MainPID)"

# 6. A clean stop.
systemctl stop godaemon.service
[ "$(prop ActiveState)" = inactive ] || fail "still $(prop ActiveState) after stop"
[ "$(prop Result)" = success ] || fail "stop result: $(prop Result)"
[ "$(prop ExecMainStatus)" = 0 ] || fail "exit status $(prop ExecMainStatus)"
journalctl -u godaemon --no-pager | grep -q "godaemon: stopped\|stopped$" || fail "no 'stopped' log line"
systemctl stop godaemon.socket
ok "systemctl stop: clean exit 0"
echo "e2e: 7 passed, 0 failed"
