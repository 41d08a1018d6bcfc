"""The maintenance figures of bench/run: `hvdisk compact` against `qemu-img convert` (the only qemu
way to shrink a VHDX), and the repair of a dirty log (open + replay) by disk size."""
import json
import os
import time

from tools import BenchError, drop_cache, fdatasync, hvdisk_has, remove, run, timed

MIB = 1 << 20


def _figure(fid, title, unit, sides, ref, goals, params):
    from figures import figure  # figures imports this module
    return figure(fid, title, unit, sides, ref=ref, peer=ref, goals=goals, params=params)


def make_compact_source(ctx, path, size, block):
    """A dynamic disk of `size`: 10% of its blocks data, 40% written with zeros, the rest never
    written; the data blocks lie between zero blocks, so compact must move them down."""
    remove(path)
    run([ctx.hvdisk, "create", "--block-size", str(block), path, str(size)])
    for i in range(size // block):
        kind = i % 10
        if kind > 4:
            continue
        byte = "0x5a" if kind == 0 else "0"
        run([ctx.hvdisk, "write", path, str(i * block), "--pattern", byte, "--length", str(block)])


def compact(ctx):
    """compact --zero-scan of a copy of the source (flushed by its close) vs qemu-img convert of
    the same copy to a new dynamic VHDX (flushed), as virtual GiB per second (higher is better):
    the goal, compact's time <= 0.5x convert's, is a speed ratio >= 2."""
    size, block = (128 * MIB, MIB) if ctx.o.quick else (16 << 30, 32 * MIB)
    sides = ["qemu-convert", "compact"]
    f = _figure("maintain/compact", f"compact of a {size >> 20} MiB dynamic disk (10% data, 40% "
                "zero blocks) vs qemu-img convert to a new VHDX, both flushed; virtual GiB/s",
                "GiB/s", sides, "qemu-convert", [("compact", "qemu-convert", 2.0)],
                {"virtual_mib": size >> 20, "block": block})
    src, work, dst = ctx.path("compact-src.vhdx"), ctx.path("compact.vhdx"), ctx.path("conv.vhdx")
    state = {"made": False}

    def one(side):
        if not state["made"]:
            make_compact_source(ctx, src, size, block)
            state["made"] = True
        remove(work, dst)
        run(["cp", "--sparse=never", src, work])
        fdatasync(work)
        drop_cache(work)
        try:
            if side == "compact":
                t0 = time.perf_counter()
                out = json.loads(run([ctx.hvdisk, "compact", "--json", "--zero-scan", work]))
                secs = time.perf_counter() - t0
                if out["file-size-after"] >= out["file-size-before"]:
                    raise BenchError(f"compact freed nothing: {out}")
            else:
                t0 = time.perf_counter()
                run(["qemu-img", "convert", "-t", "writeback", "-f", "vhdx", "-O", "vhdx", "-o",
                     f"subformat=dynamic,block_size={block}", work, dst])
                fdatasync(dst)
                secs = time.perf_counter() - t0
            return size / (1 << 30) / secs
        finally:
            remove(work, dst)
    f["run"] = {s: (lambda s=s: one(s)) for s in sides}
    return f


def repair(ctx):
    """Open + log replay of a dynamic disk whose log is dirty (the same 64 MiB of writes in one
    log entry, the writer killed), by virtual size: O(log + BAT), so the largest within 2x of
    1 GiB. `check -r all` where this build has it, else a writable open and close (resize to the
    same size). Milliseconds, lower is better."""
    sizes = ["64M", "1G"] if ctx.o.quick else ["1G", "64G"]
    f = _figure("maintain/repair", "repair (open + replay of a dirty log) by virtual size "
                f"({'/'.join(sizes)}), ms (lower is better)", "ms", sizes, sizes[0],
                [(sizes[-1], sizes[0], 2.0)], {"lower_is_better": True})
    path = ctx.path("dirty.vhdx")
    use_check = hvdisk_has(ctx.hvdisk, ["check"], r"-r\b")

    def one(side):
        remove(path)
        ctx.image_bench_run(path, "vhdx", create=side, block=MIB, op="write", pattern="seq",
                            bs=MIB, bytes=64 * MIB, seconds=1e9, abandon=1)
        info = json.loads(run([ctx.hvdisk, "info", "--json", path]))
        if set(info.get("log-guid", "0").strip("{}0-")) == set():
            raise BenchError(f"the image's log is not dirty: {info.get('log-guid')}")
        drop_cache(path)
        cmd = ([ctx.hvdisk, "check", "-r", "all", path] if use_check
               else [ctx.hvdisk, "resize", path, side])
        try:
            return timed(cmd) * 1000
        finally:
            remove(path)
    f["run"] = {s: (lambda s=s: one(s)) for s in sizes}
    return f


def figures(ctx):
    if not hvdisk_has(ctx.hvdisk, [], r"\bcompact\b"):
        from figures import not_measured
        reason = "no compact/resize commands in this `hvdisk` build"
        return [not_measured("maintain/compact", "compact vs qemu-img convert", reason),
                not_measured("maintain/repair", "repair of a dirty log by size", reason)]
    return [compact(ctx), repair(ctx)]
