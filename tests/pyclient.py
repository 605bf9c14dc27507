#!/usr/bin/python3
"""pyclient.py — a second godaemon client, written from docs/protocol.md alone
(it shares no code with goctl or the daemon), used by tests/goctl.test to
check that the document is enough to talk to the daemon.

It speaks protocol version 1 over the Unix socket: the hello handshake,
ping, version and stats, and checks every documented key and type of their
results, plus a few behaviours the document promises (HELLO_REQUIRED before
the handshake, UNKNOWN_METHOD with the connection still usable, responses
matched by msgid when requests are pipelined).

Usage: /usr/bin/python3 tests/pyclient.py SOCKET [--json]
Exit status 0 when every check passed; 1 with the failed check on stderr.
Needs Debian's python3-msgpack (run it with /usr/bin/python3: a pyenv
python3 earlier on PATH may lack the module).
"""

import json
import os
import socket
import sys

import msgpack

PROTOCOL = 1
TIMEOUT = 10.0  # seconds per socket operation

# Section 4: the error codes.
ERROR_NAMES = {
    1: "INVALID_MESSAGE", 2: "MESSAGE_TOO_LARGE", 3: "INVALID_REQUEST",
    4: "UNKNOWN_METHOD", 5: "INVALID_PARAMS", 6: "HELLO_REQUIRED",
    7: "PROTOCOL_VERSION", 8: "TOO_MANY_REQUESTS", 9: "PERMISSION_DENIED",
    10: "NOT_FOUND", 11: "QUEUE_FULL", 12: "CANCELLED", 13: "TIMED_OUT",
    14: "SHUTTING_DOWN", 15: "NO_MEMORY", 16: "INTERNAL",
    17: "TOO_MANY_CONNECTIONS",
}


class CheckFailed(Exception):
    pass


class RemoteError(Exception):
    """An error object from the daemon (section 4)."""

    def __init__(self, obj):
        check(isinstance(obj, dict), "an error object is a map: %r" % (obj,))
        check(isinstance(obj.get("code"), int) and obj["code"] >= 0,
              "error code is an unsigned integer: %r" % (obj,))
        check(isinstance(obj.get("name"), str), "error name is a string: %r" % (obj,))
        check(isinstance(obj.get("message"), str), "error message is a string: %r" % (obj,))
        if obj["code"] in ERROR_NAMES:
            check(obj["name"] == ERROR_NAMES[obj["code"]],
                  "code %d is named %s, not %r" % (obj["code"], ERROR_NAMES[obj["code"]],
                                                   obj["name"]))
        super().__init__("%s: %s" % (obj["name"], obj["message"]))
        self.code = obj["code"]


class Fatal(Exception):
    """The server's "error" notification: it closes the connection after it."""


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


class Client:
    """One connection; requests may be pipelined (pending msgids kept)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        # Section 2: values back to back, no framing: a streaming decoder.
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.next_id = 0
        self.responses = {}  # msgid -> (error, result), arrived, not yet taken

    def close(self):
        self.sock.close()

    def send(self, method, *params):
        """Sends a request and returns its msgid without waiting."""
        self.next_id += 1
        msgid = self.next_id
        self.sock.sendall(msgpack.packb([0, msgid, method, list(params)], use_bin_type=True))
        return msgid

    def _read_one(self):
        for msg in self.unpacker:
            return msg
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("godaemon closed the connection")
        self.unpacker.feed(data)
        return None

    def wait(self, msgid):
        """The result of request msgid; raises RemoteError for an error."""
        while msgid not in self.responses:
            msg = self._read_one()
            if msg is None:
                continue
            check(isinstance(msg, list) and msg and msg[0] in (1, 2),
                  "the server sends responses and notifications only: %r" % (msg,))
            if msg[0] == 2:
                check(len(msg) == 3 and isinstance(msg[1], str) and isinstance(msg[2], list),
                      "a notification is [2, method, params]: %r" % (msg,))
                if msg[1] == "error":
                    raise Fatal(str(RemoteError(msg[2][0])))
                continue  # unknown notifications are ignored
            check(len(msg) == 4, "a response has 4 elements: %r" % (msg,))
            check(isinstance(msg[1], int) and 0 <= msg[1] < 2 ** 32,
                  "msgid is an unsigned 32-bit integer: %r" % (msg,))
            check(msg[1] not in self.responses, "one response per request: %r" % (msg,))
            if msg[2] is not None:
                check(msg[3] is None, "result is nil when error is set: %r" % (msg,))
            self.responses[msg[1]] = (msg[2], msg[3])
        error, result = self.responses.pop(msgid)
        if error is not None:
            raise RemoteError(error)
        return result

    def call(self, method, *params):
        return self.wait(self.send(method, *params))


def is_uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_keys(obj, spec, where):
    check(isinstance(obj, dict), "%s is a map: %r" % (where, obj))
    for key, kind in spec.items():
        check(key in obj, "%s has the key %r: %r" % (where, key, obj))
        ok = is_uint(obj[key]) if kind == "uint" else isinstance(obj[key], kind)
        check(ok, "%s.%s is a %s: %r" % (where, key, kind if isinstance(kind, str)
                                          else kind.__name__, obj[key]))


def check_hello(info):
    check_keys(info, {"server": str, "version": str, "protocol": "uint",
                      "max_message_size": "uint", "max_inflight": "uint", "peer": dict},
               "hello result")
    check(info["server"] == "godaemon", "server is godaemon: %r" % info["server"])
    check(info["protocol"] == PROTOCOL, "protocol in use is %d: %r" % (PROTOCOL, info))
    check(4096 <= info["max_message_size"] <= 2 ** 30, "max_message_size in range")
    check(info["max_inflight"] >= 1, "max_inflight at least 1")
    check_keys(info["peer"], {"uid": "uint", "gid": "uint", "pid": "uint"}, "hello peer")
    check(info["peer"]["uid"] == os.geteuid(), "peer uid is ours: %r" % info["peer"])
    check(info["peer"]["gid"] == os.getegid(), "peer gid is ours: %r" % info["peer"])
    check(info["peer"]["pid"] == os.getpid(), "peer pid is ours: %r" % info["peer"])


def check_stats(stats):
    check_keys(stats, {"runtime": dict, "daemon": dict}, "stats result")
    rt = stats["runtime"]
    check_keys(rt, {k: "uint" for k in (
        "goroutines_live", "goroutines_created", "context_switches", "steals", "parks",
        "stacks_cached", "stacks_mapped", "procs", "threads", "global_runq_len")},
        "stats runtime")
    check_keys(rt, {"runq_len": list}, "stats runtime")
    check(len(rt["runq_len"]) == rt["procs"], "runq_len has procs entries: %r" % rt)
    check(all(is_uint(n) for n in rt["runq_len"]), "runq_len entries are uints")
    check(rt["procs"] >= 1 and rt["goroutines_live"] >= 1, "a live runtime: %r" % rt)
    d = stats["daemon"]
    check_keys(d, {k: "uint" for k in ("connections", "connections_total", "requests",
                                       "errors")}, "stats daemon")
    check(d["connections"] >= 1, "our connection is counted: %r" % d)
    check(d["connections_total"] >= d["connections"], "connections_total >= connections")


def expect_error(fn, code, what):
    try:
        fn()
    except RemoteError as e:
        check(e.code == code, "%s: expected %s, got %s" % (what, ERROR_NAMES[code], e))
        return
    raise CheckFailed("%s: expected the error %s" % (what, ERROR_NAMES[code]))


def run(path):
    report = {}
    c = Client(path)
    try:
        # Section 5: nothing but hello before the handshake.
        expect_error(lambda: c.call("ping"), 6, "ping before hello")
        info = c.call("hello", PROTOCOL, "pyclient.py")
        check_hello(info)
        report["hello"] = info

        check(c.call("ping") == "pong", "ping answers pong")
        report["ping"] = "pong"

        ver = c.call("version")
        check_keys(ver, {"server": str, "version": str, "protocol": "uint"}, "version result")
        check(ver["server"] == "godaemon" and ver["version"] == info["version"],
              "version agrees with hello: %r %r" % (ver, info))
        check(ver["protocol"] >= info["protocol"], "newest protocol >= the one in use")
        report["version"] = ver

        # Section 3/4: an unknown method is an error response; the
        # connection stays usable.
        expect_error(lambda: c.call("frob"), 4, "unknown method")
        expect_error(lambda: c.call("ping", 1), 5, "ping with a parameter")

        # Pipelined requests, answered in any order, matched by msgid.
        ids = [c.send("ping") for _ in range(min(8, info["max_inflight"]))]
        sid = c.send("stats")
        stats = c.wait(sid)
        check(all(c.wait(i) == "pong" for i in reversed(ids)), "pipelined pings")
        check_stats(stats)
        check(stats["daemon"]["requests"] >= 5, "our requests are counted: %r" % stats)
        check(stats["daemon"]["errors"] >= 3, "our errors are counted: %r" % stats)
        report["stats"] = stats
    finally:
        c.close()
    return report


def main(argv):
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != "--json"):
        print("usage: pyclient.py SOCKET [--json]", file=sys.stderr)
        return 2
    try:
        report = run(argv[1])
    except (CheckFailed, RemoteError, Fatal, OSError) as e:
        print("pyclient: FAILED: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    if len(argv) == 3:
        json.dump(report, sys.stdout)
        print()
    else:
        print("pyclient: hello, ping, version, stats: ok (godaemon %s, protocol %d)"
              % (report["hello"]["version"], report["hello"]["protocol"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
