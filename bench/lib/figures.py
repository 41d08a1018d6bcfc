"""The benchmarks of bench/run, as figures: each has sides (raw, the hvdisk variants, peers), and
each side a callable that performs one measurement and returns a value where higher is better
(MiB/s, IOPS, ops/s). bench/run runs every side of every figure once per round, rotating the
order of the sides from round to round, so drift on a shared machine hits all sides alike."""
import json
import os
import shutil
import time

import nbd_figures
from tools import (PYTHON, BenchError, drop_cache, fdatasync, hvdisk_has, remove, run, timed,
                   warm_cache)

MIB = 1 << 20
TARGETS = ["raw", "fixed", "dyn1M", "dyn32M"]  # the matrix's files, made by prepare()
FILES = {"raw": "raw.img", "fixed": "fixed.vhdx", "dyn1M": "dyn1M.vhdx", "dyn32M": "dyn32M.vhdx"}
BACKENDS = ["uring", "aio", "sync"]
QD_SWEEP = [1, 4, 16, 32]  # 4 KiB random reads, O_DIRECT, io_uring: the IOPS-by-depth plot
CHAIN_DEPTHS = [1, 4, 8, 16]


def figure(fid, title, unit, sides, ref="raw", peer=None, goals=(), params=None, repeat=1):
    """repeat: samples per side and round (cheap, noisy figures), each pass rotating the sides."""
    return {"id": fid, "title": title, "unit": unit, "sides": sides, "ref": ref, "peer": peer,
            "goals": list(goals), "params": params or {}, "samples": {s: [] for s in sides},
            "run": {}, "repeat": repeat}


def not_measured(fid, title, reason):
    return {"id": fid, "title": title, "not_measured": reason}


class Context:
    """Paths and options shared by the benchmarks."""

    def __init__(self, opts, build_dir):
        self.o = opts
        self.dir = opts.data_dir
        self.hvdisk = os.path.join(build_dir, "cli", "hvdisk")
        self.image_bench = os.path.join(build_dir, "bench", "image_bench")

    def path(self, name):
        return os.path.join(self.dir, name)

    def image_bench_run(self, file, fmt, **kw):
        args = [self.image_bench, f"--file={file}", f"--format={fmt}"]
        args += [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
        return json.loads(run(args))


def prepare(ctx):
    """The matrix's files: a raw file full of data and VHDX copies of it (all blocks allocated)."""
    size = ctx.o.size
    os.makedirs(ctx.dir, exist_ok=True)
    raw = ctx.path(FILES["raw"])
    remove(*[ctx.path(f) for f in FILES.values()])
    ctx.image_bench_run(raw, "raw", create=size, bs=MIB, depth=4, seconds=1e9)
    for name, args in [("fixed", ["--type", "fixed", "--block-size", "32M"]),
                       ("dyn1M", ["--block-size", "1M"]), ("dyn32M", ["--block-size", "32M"])]:
        run([ctx.hvdisk, "convert", "-O", "vhdx", *args, raw, ctx.path(FILES[name])])


# ---- the matrix --------------------------------------------------------------------------------

MATRIX_OPS = [("seqread", "read", "seq", MIB), ("seqwrite", "write", "seq", MIB),
              ("randread", "read", "rand", 4096), ("randwrite", "write", "rand", 4096)]


def matrix_cell(ctx, name, op, pattern, bs, depth, direct, backend, goals=()):
    mode = "direct" if direct else "buffered"
    unit = "MiB/s" if pattern == "seq" else "IOPS"
    key = "mib_per_s" if pattern == "seq" else "iops"
    f = figure(f"matrix/{name}/qd{depth}/{mode}/{backend}",
               f"{name} {bs // 1024}K qd{depth} {mode} {backend}", unit, TARGETS, goals=goals,
               params={"op": op, "pattern": pattern, "bs": bs, "depth": depth, "direct": direct,
                       "backend": backend})
    for t in TARGETS:
        fmt = "raw" if t == "raw" else "vhdx"
        # A cell with a goal samples 5x longer: a 0.2 s sample on a shared disk catches a noise
        # burst whole, which a 0.95x goal cannot absorb.
        secs = ctx.o.seconds * (5 if goals else 1)
        args = dict(op=op, pattern=pattern, bs=bs, depth=depth, backend=backend,
                    direct=int(direct), seconds=secs)
        f["run"][t] = (lambda p=ctx.path(FILES[t]), fm=fmt, a=args:
                       sample(ctx, p, fm, a, key, warm=op == "read" and not direct))
    return f


def sample(ctx, path, fmt, args, key, warm):
    """One matrix sample. The writeback an earlier write sample left behind is finished first (it
    would otherwise compete with whichever side runs next); buffered reads start from a warm
    cache, whatever was evicted before."""
    os.sync()
    if warm:
        warm_cache(path)
    return ctx.image_bench_run(path, fmt, **args)[key]


def matrix_goals(name, depth, direct, backend):
    if backend != "uring":
        return []
    if name == "seqread" and depth == 32:
        return [("dyn1M", "raw", 0.95), ("dyn32M", "raw", 0.95)]
    if name == "randread" and depth == 32 and direct:
        return [("dyn1M", "raw", 0.9), ("dyn32M", "raw", 0.9)]
    return []


def matrix(ctx):
    out = []
    for name, op, pattern, bs in MATRIX_OPS:
        for depth in (1, 32):
            for direct in (False, True):
                for backend in ctx.o.backends:
                    out.append(matrix_cell(ctx, name, op, pattern, bs, depth, direct, backend,
                                           matrix_goals(name, depth, direct, backend)))
    for depth in QD_SWEEP:
        if depth not in (1, 32):
            out.append(matrix_cell(ctx, "randread", "read", "rand", 4096, depth, True, "uring"))
    return out


# ---- allocating writes -------------------------------------------------------------------------

def alloc_write(ctx, direct):
    mode = "direct" if direct else "buffered"
    sides = ["raw", "dyn32M", "dyn1M"]
    f = figure(f"alloc/seqwrite/{mode}", f"allocating seq 1M writes qd4 {mode} uring, fresh "
               f"file, {ctx.o.size // MIB} MiB + flush", "MiB/s", sides,
               goals=[("dyn32M", "raw", 0.85), ("dyn1M", "raw", 0.75)])

    def one(fmt, block):
        p = ctx.path("alloc." + fmt)
        try:
            return ctx.image_bench_run(p, fmt, create=ctx.o.size, block=block, bs=MIB, depth=4,
                                       direct=int(direct), seconds=1e9)["mib_per_s"]
        finally:
            remove(p)
    f["run"] = {"raw": lambda: one("raw", MIB), "dyn32M": lambda: one("vhdx", 32 * MIB),
                "dyn1M": lambda: one("vhdx", MIB)}
    return f


# ---- qemu-img bench pattern --------------------------------------------------------------------

def qemu_bench(ctx):
    count = ctx.o.bench_count
    args = ["-w", "-c", str(count), "-s", "4K", "-S", "1M"]
    sides = ["raw", "hvdisk", "qemu", "qemu-raw"]
    f = figure("bench/alloc4k", f"bench -w -c {count} -s 4K -S 1M (one 4K write into each of "
               f"{count} fresh 1 MiB blocks, then flush), ops/s", "ops/s", sides, peer="qemu",
               goals=[("hvdisk", "raw", 0.3), ("hvdisk", "qemu", 1.0)])
    size = f"{count}M"

    def one(tool, fmt):
        p = ctx.path("bench." + fmt)
        remove(p)
        if fmt == "vhdx":
            run(["qemu-img", "create", "-q", "-f", "vhdx", "-o",
                 "subformat=dynamic,block_size=1M", p, size])
        else:
            run(["qemu-img", "create", "-q", "-f", "raw", p, size])
        cmd = [ctx.hvdisk, "bench"] if tool == "hvdisk" else ["qemu-img", "bench", "-f", fmt]
        try:
            return count / timed([*cmd, *args, p])
        finally:
            remove(p)
    f["run"] = {"raw": lambda: one("hvdisk", "raw"), "hvdisk": lambda: one("hvdisk", "vhdx"),
                "qemu": lambda: one("qemu", "vhdx"), "qemu-raw": lambda: one("qemu", "raw")}
    return f


# ---- convert -----------------------------------------------------------------------------------

def convert(ctx, to_vhdx):
    name = "raw->vhdx (dynamic, 1M blocks)" if to_vhdx else "vhdx (dynamic, 1M blocks)->raw"
    sides = ["raw", "hvdisk", "qemu"]
    f = figure("convert/" + ("to-vhdx" if to_vhdx else "to-raw"),
               f"convert {name}, {ctx.o.size // MIB} MiB of data, output flushed", "MiB/s",
               sides, peer="qemu", goals=[("hvdisk", "qemu", 1.0)], repeat=2)
    raw, vhdx = ctx.path(FILES["raw"]), ctx.path(FILES["dyn1M"])
    src, dst = (raw, ctx.path("conv.vhdx")) if to_vhdx else (vhdx, ctx.path("conv.img"))
    fmt = "vhdx" if to_vhdx else "raw"
    cmds = {
        "hvdisk": [ctx.hvdisk, "convert", "-O", fmt] + (["--block-size", "1M"] if to_vhdx else []),
        "qemu": ["qemu-img", "convert", "-t", "writeback", "-O", fmt]
                + (["-o", "subformat=dynamic,block_size=1M"] if to_vhdx else []),
    }

    def one(side):
        remove(dst)
        drop_cache(raw if side == "raw" else src)  # every side reads its source cold
        try:
            if side == "raw":  # the physical copy: raw->raw with cp, flushed
                t0 = time.perf_counter()
                shutil.copyfile(raw, dst)
                fdatasync(dst)
                return ctx.o.size / MIB / (time.perf_counter() - t0)
            return ctx.o.size / MIB / timed([*cmds[side], src, dst])
        finally:
            remove(dst)
    f["run"] = {s: (lambda s=s: one(s)) for s in sides}
    return f


# ---- whole-disk read vs libvhdi ----------------------------------------------------------------

PYVHDI_READ = """
import pyvhdi, sys, time
t = time.perf_counter()
f = pyvhdi.file(); f.open(sys.argv[1]); n = f.get_media_size(); o = 0
while o < n:
    b = f.read_buffer_at_offset(min(1 << 20, n - o), o)
    if not b: raise SystemExit("short read at %d" % o)
    o += len(b)
f.close()
print(n / (time.perf_counter() - t) / 1048576)
"""


def whole_read(ctx):
    sides = ["raw", "hvdisk", "pyvhdi"]
    # hvdisk reads the whole disk as its whole-disk readers do (digest, convert, compare): through
    # disk::Copier, reads in flight ahead and zero ranges skipped through Map. raw and pyvhdi read
    # 1M at a time, qd1, buffered, synchronously (the kernel's read-ahead only).
    f = figure("read/whole-disk", "whole-disk read, cold cache, buffered, dynamic 1M blocks "
               "(hvdisk: the copier; raw, pyvhdi: 1M reads qd1 sync)", "MiB/s", sides,
               peer="pyvhdi", goals=[("hvdisk", "pyvhdi", 1.0)], repeat=3)
    vhdx = ctx.path(FILES["dyn1M"])
    args = dict(op="read", pattern="seq", bs=MIB, depth=1, backend="sync", seconds=1e9)
    raw = ctx.path(FILES["raw"])

    def cold(path, fn):  # every side reads from the device: this file's cached pages dropped
        drop_cache(path)
        return fn()
    f["run"] = {
        "raw": lambda: cold(raw, lambda: ctx.image_bench_run(raw, "raw", **args)["mib_per_s"]),
        "hvdisk": lambda: cold(vhdx, lambda: ctx.image_bench_run(vhdx, "vhdx", reader="copier",
                                                                 **args)["mib_per_s"]),
        "pyvhdi": lambda: cold(vhdx, lambda: float(run([PYTHON, "-c", PYVHDI_READ, vhdx]))),
    }
    return f


# ---- chains ------------------------------------------------------------------------------------

def chain_files(ctx, depth, prefix="chain"):
    """The files of chain_leaf's chain, base first, leaf last."""
    return [ctx.path(f"{prefix}-base.vhdx")] + [ctx.path(f"{prefix}{depth}-{i}.avhdx")
                                                for i in range(1, depth + 1)]


def chain_leaf(ctx, depth, prefix="chain"):
    """A chain of `depth` differencing layers over a copy of dyn1M (made once, on first use): with
    L = depth + 1 levels, level k owns every block whose index is k modulo L (the base keeps the
    rest of its data, hidden under the children), so the leaf's view is fully populated and a
    read of the whole disk touches every layer alike. `prefix` names a chain of its own (one that
    a benchmark writes into)."""
    files = chain_files(ctx, depth, prefix)
    base, leaf = files[0], files[-1]
    if os.path.exists(leaf):
        return leaf
    if not os.path.exists(base):
        shutil.copyfile(ctx.path(FILES["dyn1M"]), base + ".tmp")
        fdatasync(base + ".tmp")
        os.rename(base + ".tmp", base)
    parent = base
    for i in range(1, depth + 1):
        child = files[i]
        remove(child)
        run([ctx.hvdisk, "create", "-p", parent, child])
        ctx.image_bench_run(child, "chain", op="write", bs=MIB, depth=4, seconds=1e9,
                            stripe=f"{i}/{depth + 1}")
        parent = child
    return leaf


def chain_figures(ctx):
    """Seq 1M and random 4K reads, qd32, O_DIRECT, io_uring, through chains of depth 1/4/8/16
    against the raw file in the same run. `depthN` is the engine's planned read (the leaf's
    Image::PlanRead: parent ranges read synchronously through the backing); `depth16-layers` plans
    every layer's pieces on the image holding them (image_bench --chain-plan=layers), the bound an
    asynchronous chain read path would reach."""
    if not hvdisk_has(ctx.hvdisk, ["create"], r"(^|\s)-p[ ,]|--parent"):
        reason = "`hvdisk create` has no -p PARENT in this build (chains not landed on branch)"
        return [not_measured("chain/read", "reads through chains", reason)]
    sides = ["raw"] + [f"depth{d}" for d in CHAIN_DEPTHS] + [f"depth{CHAIN_DEPTHS[-1]}-layers"]
    out = []
    for name, pattern, bs, unit, key, goals in [
            ("seqread", "seq", MIB, "MiB/s", "mib_per_s", [("depth16", "raw", 0.85)]),
            ("randread", "rand", 4096, "IOPS", "iops", [("depth8", "raw", 0.8)])]:
        f = figure(f"chain/{name}", f"chain {name} {bs // 1024}K qd32 direct uring", unit, sides,
                   goals=goals,
                   params={"pattern": pattern, "bs": bs, "depths": CHAIN_DEPTHS})
        args = dict(op="read", pattern=pattern, bs=bs, depth=32, backend="uring", direct=1,
                    seconds=ctx.o.seconds)

        def one(side, a=args, k=key):
            if side == "raw":
                return ctx.image_bench_run(ctx.path(FILES["raw"]), "raw", **a)[k]
            d = int(side[5:].split("-")[0])
            plan = "layers" if side.endswith("-layers") else "leaf"
            return ctx.image_bench_run(chain_leaf(ctx, d), "chain", chain_plan=plan, **a)[k]
        f["run"] = {s: (lambda s=s, one=one: one(s)) for s in sides}
        out.append(f)
    return out


# ---- the replica store -------------------------------------------------------------------------

class Store:
    """A replica store under the data dir with one VM on an empty dynamic base of `size`."""

    def __init__(self, ctx, name, size):
        self.ctx, self.dir, self.size = ctx, ctx.path(name), size
        shutil.rmtree(self.dir, ignore_errors=True)
        base = self.dir + "-base.vhdx"
        remove(base)
        run([ctx.hvdisk, "create", base, str(size)])
        run([ctx.hvdisk, "store", "create", self.dir])
        run([*self.vm("create"), "vm1", "--base", base, "--adopt"])

    def vm(self, *args):
        return [self.ctx.hvdisk, "vm", "--store", self.dir, *args]

    def timed_vm(self, *args):
        """Seconds of one `hvdisk vm` command. The trash it leaves is freed by a detached
        `store reclaim`, outside the command's time. Waiting here until that process has exited
        (its unlink empties the trash's listing first and frees the extents after) and the file
        system has committed the free (ext4 mounted `-o discard` discards freed extents at the
        next journal commit, which would otherwise be the next command's first fsync) keeps its
        I/O out of the next sample, whichever side that is. An untimed `vm show` of the same VM
        first reads the binary, its libraries and the VM's records back into the page cache, as
        a management service has them: the 64 GiB write before a revert is buffered and cycles
        the whole page cache (24 GiB), and paging them back in cost the revert 5-15 ms, which is
        not its work."""
        run(self.vm("show", args[-1]))
        secs = timed(self.vm(*args))
        trash, deadline = os.path.join(self.dir, "trash"), time.monotonic() + 300
        while (os.path.isdir(trash) and os.listdir(trash)) or reclaim_running(self.dir):
            if time.monotonic() > deadline:
                raise BenchError(f"{trash}: the reclaim did not finish in 300 s")
            time.sleep(0.01)
        os.sync()
        return secs

    def disk(self, key):
        """The path of the VM's `attached` or `failover_disk` file (`vm show --json`)."""
        rec = json.loads(run(self.vm("show", "vm1", "--json")))
        if not rec.get(key):
            raise BenchError(f"vm show --json: no {key} in {rec}")
        if key == "attached":
            return os.path.join(self.dir, rec[key])
        vms = os.path.join(self.dir, "vms")
        return os.path.join(vms, os.listdir(vms)[0], "disks", rec[key])

    def write(self, path, mib):
        """mib MiB of data at the start of a disk of the store, flushed, then dropped from the
        page cache (so that the timed operation reads it from the device)."""
        if mib:
            run([self.ctx.hvdisk, "write", path, "0", "--pattern", "0x5a", "--length",
                 f"{mib}M"])
            drop_cache(path)
            os.sync()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        remove(self.dir + "-base.vhdx")


def rest(ctx):
    """The pause before every store and merge sample, whatever its side (10 s; --quick 1 s): what
    the machine and its host still do for the data just written (or freed) is not timed as the
    next command's work."""
    time.sleep(1 if ctx.o.quick else 10)


def pids():
    """The pids in /proc (a process may be gone by the time it is read: callers skip OSError)."""
    return filter(str.isdigit, os.listdir("/proc"))


def reclaim_running(store_dir):
    """Whether a `hvdisk store reclaim` of store_dir is running (read from /proc)."""
    want = os.path.realpath(store_dir)
    for pid in pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
            if argv[1:3] != ["store", "reclaim"] or len(argv) < 4:
                continue
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue  # gone meanwhile
        if os.path.realpath(os.path.join(cwd, argv[3])) == want:
            return True
    return False


def wait_released(path, limit=120):
    """Waits until no process holds the unlinked file `path` (its space is freed), then syncs,
    so that the freeing's I/O stays out of the next sample."""
    want, deadline = os.path.realpath(path) + " (deleted)", time.monotonic() + limit
    while any(holds(pid, want) for pid in pids()):
        if time.monotonic() > deadline:
            raise BenchError(f"{path}: still held open {limit} s after it was unlinked")
        time.sleep(0.01)
    os.sync()


def holds(pid, target):
    """Whether process pid has a descriptor whose link reads `target`."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False  # gone, or not ours to read
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False


def store_sizes_of(figs):
    """The failover-disk sizes (MiB) the store figures ran with."""
    for f in figs:
        if f["id"] == "store/revert":
            return f["params"]["sizes_mib"]
    return []


def store_sizes(ctx):
    sizes = getattr(ctx.o, "store_sizes", None)
    if sizes:
        return sizes
    return [0, 4, 16] if ctx.o.quick else [0, 64, 1024, 65536]


def latency_goals(sizes):
    """Issue 5's goal: the latency with the most data (64 GiB in a full run) at most 1.5x the
    latency with 1 GiB; none when the sizes do not span 1 GiB and more."""
    top = max(sizes)
    return [(f"{top}M", "1024M", 1.5)] if 1024 in sizes and top > 1024 else []


def ensure_free(path, mib):
    """Fails the sample when the file system of path cannot hold mib MiB more (and 1 GiB spare)."""
    free = shutil.disk_usage(path).free
    if free < (mib + 1024) * MIB:
        raise BenchError(f"{mib} MiB into the failover disk needs {mib // 1024 + 1} GiB free in "
                         f"{path}; it has {free >> 30} GiB")


def store_figures(ctx):
    """Failover and revert latency by failover-disk size; commit and merge vs cp."""
    if not hvdisk_has(ctx.hvdisk, [], r"\b(failover|store)\b"):
        reason = "no replica store commands (failover/revert/commit) in this `hvdisk` build"
        return [not_measured("store/latency", "failover/revert latency", reason),
                not_measured("store/commit-merge", "commit/merge throughput vs cp", reason)]
    sizes = store_sizes(ctx)
    sides = [f"{m}M" for m in sizes]
    state = {"store": None, "failover": {s: [] for s in sides}}

    def store():
        if state["store"] is None:
            state["store"] = Store(ctx, "store-lat", max(max(sizes), 1) * MIB)
            run(state["store"].vm("snapshot", "vm1"))
        return state["store"]

    def cycle(side):
        """vm failover (timed), N MiB written into the failover disk, vm revert (timed)."""
        st = store()
        ensure_free(st.dir, int(side[:-1]))
        t_failover = st.timed_vm("failover", "vm1")
        st.write(st.disk("failover_disk"), int(side[:-1]))
        rest(ctx)
        t_revert = st.timed_vm("revert", "vm1")
        state["failover"][side].append(t_failover * 1000)
        return t_revert * 1000

    def failover(side):
        if not state["failover"][side]:
            raise BenchError("no failover sample: the revert cycle of this size failed")
        return state["failover"][side].pop(0)

    lat = "{} latency, ms (lower is better), by MiB written into the failover disk ({})"
    goals = latency_goals(sizes)
    rev = figure("store/revert", lat.format("vm revert", "/".join(map(str, sizes))), "ms", sides,
                 ref=sides[0], goals=goals, params={"sizes_mib": sizes, "lower_is_better": True})
    rev["run"] = {s: (lambda s=s: cycle(s)) for s in sides}
    fo = figure("store/failover", lat.format("vm failover", "/".join(map(str, sizes))), "ms",
                sides, ref=sides[0], goals=goals,
                params={"sizes_mib": sizes, "lower_is_better": True})
    fo["run"] = {s: (lambda s=s: failover(s)) for s in sides}
    return [rev, fo, commit_merge(ctx)]


def commit_merge(ctx):
    """`hvdisk merge` of a child holding N MiB into an empty parent, and `vm commit` of a recovery
    point holding N MiB into an empty base, as MiB/s, beside `cp` of that same child file (the
    child's allocated bytes, flushed). Every side makes its source the same way just before (so
    each reads a file as freshly written, whose device-side writeback is equally recent) and reads
    it cold."""
    n = ctx.o.size // MIB
    sides = ["cp", "merge", "commit"]
    f = figure("store/commit-merge", f"merge / vm commit of {n} MiB into an empty parent vs cp "
               "of the child (cold source, flushed)", "MiB/s", sides,
               ref="cp", goals=[("merge", "cp", 0.8), ("commit", "cp", 0.8)], params={"mib": n})
    parent, child = ctx.path("merge.vhdx"), ctx.path("merge.avhdx")

    def make_child():
        remove(parent, child)
        run([ctx.hvdisk, "create", parent, f"{n}M"])
        run([ctx.hvdisk, "create", "-p", parent, child])
        run([ctx.hvdisk, "write", child, "0", "--pattern", "0x5a", "--length", f"{n}M"])
        drop_cache(child)
        drop_cache(parent)
        rest(ctx)

    def cp():
        dst = ctx.path("cp.img")
        remove(dst)
        try:
            make_child()
            t0 = time.perf_counter()
            run(["cp", child, dst])
            fdatasync(dst)
            return n / (time.perf_counter() - t0)
        finally:
            remove(dst, parent, child)

    def merge():
        try:
            make_child()
            t0 = time.perf_counter()
            out = json.loads(run([ctx.hvdisk, "merge", "--json", child]))
            secs = time.perf_counter() - t0
            copied = out.get("bytes-copied", out.get("bytes_copied"))
            if copied is not None and copied < n * MIB:
                raise BenchError(f"merge copied {copied} bytes, expected {n * MIB}: {out}")
            wait_released(child)  # the merged child's space, freed by a detached process
            return n / secs
        finally:
            remove(parent, child)

    def commit():
        st = Store(ctx, "store-commit", n * MIB)
        try:
            st.write(st.disk("attached"), n)  # the head: becomes the recovery point below
            run(st.vm("snapshot", "vm1"))
            run(st.vm("failover", "vm1"))
            rest(ctx)
            return n / st.timed_vm("commit", "vm1")
        finally:
            st.close()
    f["run"] = {"cp": cp, "merge": merge, "commit": commit}
    return f


def all_figures(ctx):
    figs = matrix(ctx)
    figs += [alloc_write(ctx, False), alloc_write(ctx, True), qemu_bench(ctx)]
    figs += [convert(ctx, True), convert(ctx, False), whole_read(ctx)]
    import maintain  # noqa: E402 (it imports this module)
    import shared  # noqa: E402 (it imports this module; only runs that ask build a cluster)
    return (figs + chain_figures(ctx) + store_figures(ctx) + maintain.figures(ctx) + nbd(ctx)
            + shared.figures(ctx, figure))


def nbd(ctx):
    """fio over NBD: the hvdisk plugin against qemu-nbd and nbdkit file (bench/lib/nbd_figures)."""
    if not hvdisk_has(ctx.hvdisk, [], r"(^|\s)serve\b"):
        return [not_measured("nbd/fio", "fio over NBD", "no `hvdisk serve` in this build")]
    return nbd_figures.nbd_figures(ctx, figure, FILES, chain_leaf, chain_files)
