# gort-gdb.py — gdb commands for programs using libgort (docs/runtime.md).
#
#   (gdb) source runtime/gort-gdb.py
#   (gdb) gort-goroutines          list every goroutine: id, state, wait
#                                  reason, name, spawn site
#   (gdb) gort-bt ID               backtrace of goroutine ID
#
# Goroutine headers live at the top of their stack blocks, which are carved
# from the slabs listed by the global `gort__slabs` (runtime/stack.c); a
# header whose state is 0 is a free block.  A goroutine that is not running
# has its registers in the switch frame at its saved sp (runtime/switch_*.S):
#   x86-64:  +48 rbp, +56 resume address, frame size 64
#   aarch64: +80 x29 (fp), +88 x30 (resume address), frame size 176
# gort-bt loads those into the selected thread's registers, prints gdb's
# own backtrace and puts the registers back (live processes); on a core file
# it walks the frame-pointer chain itself (libgort builds with
# -fno-omit-frame-pointer).  A running goroutine is on a worker thread:
# `thread apply all bt` shows it.

import gdb

STATES = {0: "free", 1: "runnable", 2: "running", 3: "waiting"}
MAGIC = 0x676F7274


def _arch():
    name = gdb.selected_inferior().architecture().name()
    return "aarch64" if "aarch64" in name else "x86-64"


def _u64(addr):
    mem = gdb.selected_inferior().read_memory(addr, 8)
    return int.from_bytes(bytes(mem), "little")


def _goroutines():
    gtype = gdb.lookup_type("struct gort__g")
    hdr = (gtype.sizeof + 63) & ~63
    slab = gdb.parse_and_eval("gort__slabs")
    while int(slab) != 0:
        base = int(slab["base"])
        block = int(slab["block"])
        used = int(slab["used"])
        for i in range(used):
            addr = base + i * block + block - hdr
            g = gdb.Value(addr).cast(gtype.pointer()).dereference()
            if int(g["state"]) != 0 and int(g["magic"]) == MAGIC:
                yield g
        slab = slab["next"]


def _reason(g):
    try:
        r = gdb.parse_and_eval("gort__wait_reason_str(%d)" % int(g["reason"]))
        return r.string()
    except gdb.error:  # core file: no function calls; show the enum name
        return str(g["reason"].cast(gdb.lookup_type("enum gort__wait_reason")))


def _describe(g):
    state = STATES.get(int(g["state"]), "?")
    if state == "waiting":
        state = "waiting: " + _reason(g)
    name = g["name"].string()
    f = g["file"]
    line = int(g["line"])
    site = f.string() if int(f) else "?"
    site = ("at %s:%d" % (site, line)) if line else ("by " + site)
    return "goroutine %d%s [%s] created %s" % (
        int(g["id"]), ' "%s"' % name if name else "", state, site)


def _find(gid):
    for g in _goroutines():
        if int(g["id"]) == gid:
            return g
    return None


class GortGoroutines(gdb.Command):
    """List libgort goroutines: gort-goroutines"""

    def __init__(self):
        super().__init__("gort-goroutines", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        n = 0
        for g in _goroutines():
            print(_describe(g))
            n += 1
        print("%d goroutines" % n)


def _frame_regs(sp):
    if _arch() == "aarch64":
        return _u64(sp + 80), _u64(sp + 88), sp + 176, ("$x29", "$pc", "$sp")
    return _u64(sp + 48), _u64(sp + 56), sp + 64, ("$rbp", "$pc", "$sp")


def _bt_swap(fp, pc, sp, names):
    saved = [int(gdb.parse_and_eval(n)) for n in names]
    try:
        gdb.execute("set %s = %d" % (names[0], fp))
        gdb.execute("set %s = %d" % (names[1], pc))
        gdb.execute("set %s = %d" % (names[2], sp))
        gdb.execute("bt")
    finally:
        for n, v in zip(names, saved):
            gdb.execute("set %s = %d" % (n, v))
        gdb.execute("select-frame 0")


def _bt_walk(fp, pc, lo, hi):
    depth = 0
    while pc and depth < 256:
        sal = gdb.find_pc_line(pc)
        block = gdb.block_for_pc(pc)
        fn = block.function.name if block and block.function else "??"
        where = ("%s:%d" % (sal.symtab.filename, sal.line)) if sal.symtab else ""
        print("#%-3d 0x%016x in %s %s" % (depth, pc, fn, where))
        if not lo <= fp < hi:
            break
        pc = _u64(fp + 8)
        fp = _u64(fp)
        depth += 1


class GortBt(gdb.Command):
    """Backtrace of a libgort goroutine: gort-bt ID"""

    def __init__(self):
        super().__init__("gort-bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        g = _find(int(gdb.parse_and_eval(arg)))
        if g is None:
            raise gdb.GdbError("no goroutine %s" % arg)
        print(_describe(g))
        if int(g["state"]) == 2:
            print("running on a worker thread: see `thread apply all bt`")
            return
        sp = int(g["sp"])
        fp, pc, after, names = _frame_regs(sp)
        live = gdb.selected_inferior().pid > 0 and not _is_core()
        if live:
            _bt_swap(fp, pc, after, names)
        else:
            _bt_walk(fp, pc, int(g["stack_lo"]), int(g.address))


def _is_core():
    return "core dump" in gdb.execute("info target", to_string=True)


GortGoroutines()
GortBt()
