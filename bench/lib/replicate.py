"""The replication figures of bench/run: `hvdisk vm replicate` from a qemu-nbd export of a qcow2
primary (docs/replication.md) against nbdcopy and qemu-img copying the same data from the same
export to a raw file, every side flushed, in one run.

- replicate/full-sync: the initial sync of a 4 GiB source holding 1 GiB of data (1 MiB every
  4 MiB; --quick 64 MiB holding 16 MiB) into a VM on an empty base, vs `nbdcopy --flush` of the
  same export (base:allocation: both skip the holes) to a fresh raw file. Goal >= 0.9x nbdcopy.
- replicate/incremental-N: one cycle (`--bitmap d`) of N% dirty (1, 10, 50) of that source, vs
  copying the same dirty extents with nbdcopy and `qemu-img convert` to a raw file. The dirty
  extents are the writes made into a qcow2 overlay over the source while its bitmap `d` ran; the
  peers read the same overlay exported without its backing file, so its allocated clusters (the
  dirty extents, nothing else) are what they copy. Goal (the apply): >= 0.8x nbdcopy.
- replicate/scaling: the time per dirty MiB of a 1% cycle on a 16 GiB disk vs a 1 GiB disk
  (--quick 1 GiB vs 64 MiB): a cycle's time grows with the dirty bytes, not the disk size (goal:
  at most 2x per byte).

Every sample starts its qemu-nbd (pinned to one CPU, the client to the other, as the NBD
figures) and stops it. The source files are made once per run and stay warm in the page cache
for every side alike."""
import json
import os
import shutil
import time

from nbd_figures import Server, pin
from tools import BenchError, hvdisk_has, remove, run

MIB = 1 << 20
LEVELS = [1, 10, 50]  # percent dirty: extent i (in units) is dirty when i % (100 // pct) == 0


def _figures():
    import figures  # figures imports this module
    return figures


class Sources:
    """The qcow2 files of the run, made on first use: the source, one overlay per dirty level
    (bitmap `d`: that level's writes), and the scaling sources."""

    def __init__(self, ctx):
        self.ctx, self.q = ctx, ctx.o.quick
        self.unit = 64 * 1024 if self.q else MIB  # one dirty extent (bitmap granularity: 64K)
        self.size = 64 * MIB if self.q else 4 << 30
        self.made = set()

    def path(self, name):
        return self.ctx.path(f"repl-{name}.qcow2")

    def write(self, path, size, every, pattern):
        """qemu-io writes of one unit at every `every`-th unit of `size`; returns the bytes."""
        n = (size // self.unit + every - 1) // every
        cmds = []
        for k in range(n):
            cmds += ["-c", f"write -P {pattern} {k * every * self.unit} {self.unit}"]
        for i in range(0, len(cmds), 2000):  # argv stays small
            run(["qemu-io", "-f", "qcow2", *cmds[i:i + 2000], path])
        return n * self.unit

    def source(self):
        """The full-sync source: 1 unit of data every 4."""
        p = self.path("src")
        if "src" not in self.made:
            remove(p)
            run(["qemu-img", "create", "-q", "-f", "qcow2", p, str(self.size)])
            self.data = self.write(p, self.size, 4, 0x5a)
            self.made.add("src")
        return p

    def dirty(self, p, size, every, backing=None):
        """A qcow2 whose bitmap `d` marks the writes of every `every`-th unit; returns the
        dirty bytes."""
        remove(p)
        args = ["-b", backing, "-F", "qcow2"] if backing else []
        run(["qemu-img", "create", "-q", "-f", "qcow2", *args, p, str(size)])
        run(["qemu-img", "bitmap", "--add", "--enable", p, "d"])
        n = self.write(p, size, every, 0x33)
        run(["qemu-img", "bitmap", "--disable", p, "d"])
        return n

    def overlay(self, pct):
        p = self.path(f"o{pct}")
        if p not in self.made:
            self.overlay_bytes = getattr(self, "overlay_bytes", {})
            self.overlay_bytes[pct] = self.dirty(p, self.size, 100 // pct, self.source())
            self.made.add(p)
        return p

    def scaled(self, side):
        p = self.path(f"s{side}")
        if p not in self.made:
            self.scaled_bytes = getattr(self, "scaled_bytes", {})
            self.scaled_bytes[side] = self.dirty(p, scaling_size(side), 100)
            self.made.add(p)
        return p


def scaling_sides(quick):
    return ["64M", "1G"] if quick else ["1G", "16G"]


def scaling_size(side):
    return int(side[:-1]) << (20 if side.endswith("M") else 30)


def qemu_nbd(sock, image, bitmap=None, without_backing=False):
    """qemu-nbd -r -t of image (with -B bitmap), or of the overlay alone (its backing file left
    out, so its allocation is exactly the clusters written into it)."""
    cmd = ["qemu-nbd", "-r", "-t", "-k", sock]
    if without_backing:
        spec = {"driver": "qcow2", "file": {"driver": "file", "filename": image}, "backing": None}
        return cmd + ["json:" + json.dumps(spec)]
    return cmd + ["-f", "qcow2"] + (["-B", bitmap] if bitmap else []) + [image]


def timed_client(cmd):
    t0 = time.perf_counter()
    out = run(pin(1) + cmd)
    return time.perf_counter() - t0, out


def replicate(ctx, store, uri, bitmap=None):
    """Seconds of `hvdisk vm replicate vm1 --from URI [--bitmap B]` (an untimed `vm show` first,
    as the store figures: the binary and records cached); checks the bytes it reports."""
    run(store.vm("show", "vm1"))
    args = ["replicate", "vm1", "--from", uri, "--json"] + (["--bitmap", bitmap] if bitmap else [])
    secs, out = timed_client(store.vm(*args))
    return secs, json.loads(out) if out.strip().startswith("{") else {}


def moved(report):
    """The bytes of data `vm replicate --json` says it applied (docs/json.md), or None."""
    return report.get("bytes") if isinstance(report.get("bytes"), int) else None


def raw_copy(tool, uri, out, size):
    """nbdcopy or qemu-img convert of uri into a fresh raw file (zero: holes skipped), flushed."""
    remove(out)
    if tool == "nbdcopy":
        cmd = ["nbdcopy", "--flush", "--destination-is-zero", uri, out]
    else:
        with open(out, "wb") as f:
            f.truncate(size)
        cmd = ["qemu-img", "convert", "-t", "writeback", "-f", "raw", "-O", "raw", "-n",
               "--target-is-zero", uri, out]
    try:
        return timed_client(cmd)[0]
    finally:
        remove(out)


def full_sync(ctx, src):
    fig = _figures()
    sides = ["nbdcopy", "hvdisk"]
    data = (src.size // 4) // MIB
    f = fig.figure("replicate/full-sync", f"full sync of a {src.size // MIB} MiB qcow2 holding "
                   f"{data} MiB over qemu-nbd: replicate vs nbdcopy to raw, flushed; MiB/s of "
                   "data", "MiB/s", sides, ref="nbdcopy", peer="nbdcopy",
                   goals=[("hvdisk", "nbdcopy", 0.9)], params={"virtual_mib": src.size // MIB,
                                                               "data_mib": data})
    sock = ctx.path("repl.sock")

    def one(side):
        image = src.source()
        if side == "hvdisk":
            store = fig.Store(ctx, "repl-store", src.size)
            try:
                with Server(ctx, qemu_nbd(sock, image), sock) as uri:
                    secs, report = replicate(ctx, store, uri)
            finally:
                store.close()
            got = moved(report)
            if got is not None and got < src.data:
                raise BenchError(f"replicate moved {got} bytes, the source holds {src.data}")
        else:
            with Server(ctx, qemu_nbd(sock, image), sock) as uri:
                secs = raw_copy("nbdcopy", uri, ctx.path("repl-out.raw"), src.size)
        return src.data / MIB / secs
    f["run"] = {s: (lambda s=s: one(s)) for s in sides}
    return f


class CycleStore:
    """The replica VM a cycle applies to: made afresh for every sample (an empty base of the
    disk's size, so the cycle writes into a fresh head, as after the previous cycle's
    --checkpoint) and removed after it, so the samples' data does not pile up on the disk."""

    def __init__(self, ctx, name, size):
        self.ctx, self.name, self.size = ctx, name, size

    def cycle(self, image, sock):
        st = _figures().Store(self.ctx, self.name, self.size)
        try:
            with Server(self.ctx, qemu_nbd(sock, image, "d"), sock) as uri:
                return replicate(self.ctx, st, uri, "d")
        finally:
            st.close()
            os.sync()  # the freed store's discards stay out of the next sample


def incremental(ctx, src, stores, pct):
    fig = _figures()
    sides = ["nbdcopy", "qemu-img", "hvdisk"]
    f = fig.figure(f"replicate/incremental-{pct}", f"incremental cycle, {pct}% of a "
                   f"{src.size // MIB} MiB disk dirty ({src.unit // 1024} KiB extents): replicate "
                   "--bitmap vs nbdcopy / qemu-img convert of the same extents to raw, flushed; "
                   "MiB/s of dirty data", "MiB/s", sides, ref="nbdcopy", peer="nbdcopy",
                   goals=[("hvdisk", "nbdcopy", 0.8)], params={"pct": pct})
    sock = ctx.path("repl.sock")

    def one(side):
        image = src.overlay(pct)
        dirty = src.overlay_bytes[pct]
        if side == "hvdisk":
            secs, report = stores.cycle(image, sock)
            got = moved(report)
            if got is not None and got != dirty:
                raise BenchError(f"the {pct}% cycle moved {got} bytes, {dirty} are dirty")
        else:
            with Server(ctx, qemu_nbd(sock, image, without_backing=True), sock) as uri:
                secs = raw_copy(side, uri, ctx.path("repl-out.raw"), src.size)
        return dirty / MIB / secs
    f["run"] = {s: (lambda s=s: one(s)) for s in sides}
    return f


def scaling(ctx, src, state):
    fig = _figures()
    sides = scaling_sides(ctx.o.quick)
    f = fig.figure("replicate/scaling", f"a 1% dirty cycle by disk size ({'/'.join(sides)}), ms "
                   "per dirty MiB (lower is better)", "ms/MiB", sides, ref=sides[0],
                   goals=[(sides[-1], sides[0], 2.0)], params={"lower_is_better": True})
    sock = ctx.path("repl.sock")

    def one(side):
        image = src.scaled(side)
        if side not in state:
            state[side] = CycleStore(ctx, f"repl-scale-{side}", scaling_size(side))
        secs, _ = state[side].cycle(image, sock)
        return secs * 1000 / (src.scaled_bytes[side] / MIB)
    f["run"] = {s: (lambda s=s: one(s)) for s in sides}
    return f


def figures(ctx):
    if not hvdisk_has(ctx.hvdisk, ["vm"], r"(?m)^\s+replicate\b"):
        from figures import not_measured
        return [not_measured("replicate/cycles", "replicate from qemu-nbd vs nbdcopy",
                             "no `hvdisk vm replicate` in this build")]
    missing = [t for t in ("nbdcopy", "qemu-io", "qemu-nbd") if shutil.which(t) is None]
    if missing:
        raise BenchError(f"the replicate figures need {', '.join(missing)} (apt-get install "
                         "libnbd-bin qemu-utils)")
    src = Sources(ctx)
    stores = CycleStore(ctx, "repl-cycle", src.size)
    return ([full_sync(ctx, src)] + [incremental(ctx, src, stores, p) for p in LEVELS]
            + [scaling(ctx, src, {})])
