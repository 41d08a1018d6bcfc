"""The NBD figures of bench/run: fio's nbd engine (one connection, `--ioengine=nbd --uri=...`)
through the hvdisk plugin (`hvdisk serve`) on a dynamic VHDX and on a depth-8 chain, against
`qemu-nbd -f vhdx` on the same dynamic VHDX and `nbdkit file` on the raw copy, in one run.

Every sample starts its server, runs fio for the sample's time and stops the server (SIGTERM),
so no side keeps state (a cache, a connection) from another side's turn. The server and fio are
pinned to different CPUs (taskset) when there are two: unpinned, the scheduler moving the two
processes around spread the same side's samples by +-17%. Reads read the matrix's own files
(warm in the page cache); writes go to copies made for them (`nbd-w.*` and a chain of their own),
so that the written leaf does not change what the chain and matrix figures read."""
import json
import os
import shutil
import signal
import subprocess
import time

from tools import BenchError, fdatasync, remove, warm_cache

MIB = 1 << 20
SIDES = ["hvdisk", "hvdisk-chain8", "qemu-nbd", "nbdkit-file"]
OPS = [("seqread", "read", MIB), ("seqwrite", "write", MIB), ("randread", "randread", 4096),
       ("randwrite", "randwrite", 4096)]
CHAIN_DEPTH = 8


def pin(cpu):
    """taskset -c CPU, when this machine has a second CPU to give the other process."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


class Server:
    """One NBD server on a unix socket under the data dir, for the duration of a `with`."""

    def __init__(self, ctx, cmd, sock):
        self.ctx, self.cmd, self.sock = ctx, cmd, sock

    def __enter__(self):
        remove(self.sock)  # nbdkit 1.32 and qemu-nbd leave their socket behind
        self.log = open(self.sock + ".log", "w+")
        self.proc = subprocess.Popen(pin(0) + self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise BenchError(f"{' '.join(self.cmd)}: no socket ({self.tail()})")
            time.sleep(0.005)
        return "nbd+unix:///?socket=" + self.sock

    def tail(self):
        self.log.seek(0)
        return self.log.read().strip()[-400:] or "no output"

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        remove(self.sock, self.sock + ".log")


def fio(uri, rw, bs, depth, seconds, out):
    """One fio run over NBD; returns MiB/s (sequential) or IOPS (random)."""
    cmd = pin(1) + ["fio", "--name=nbd", "--ioengine=nbd", f"--uri={uri}", f"--rw={rw}",
                    f"--bs={bs}", f"--iodepth={depth}", "--time_based",
                    f"--runtime={max(int(seconds * 1000), 10)}ms", "--norandommap",
                    "--randrepeat=0", "--disk_util=0", "--output-format=json", f"--output={out}"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError(f"fio {rw} {bs} qd{depth} on {uri} exited {p.returncode}: "
                         f"{(p.stderr or p.stdout).strip()[-400:]}")
    with open(out) as f:
        job = json.load(f)["jobs"][0]
    remove(out)
    if job.get("error"):
        raise BenchError(f"fio {rw} on {uri}: error {job['error']}")
    io = job["write" if "write" in rw else "read"]
    return io["bw_bytes"] / MIB if rw in ("read", "write") else io["iops"]


def copy(src, dst):
    if not os.path.exists(dst):
        shutil.copyfile(src, dst + ".tmp")
        fdatasync(dst + ".tmp")
        os.rename(dst + ".tmp", dst)
    return dst


class Targets:
    """The files each side serves: read figures the matrix's files, write figures copies."""

    def __init__(self, ctx, files, chain_leaf, chain_files):
        self.ctx, self.files = ctx, files
        self.chain_leaf, self.chain_files = chain_leaf, chain_files

    @staticmethod
    def prefix(write):
        return "nbdw" if write else "chain"

    def disk(self, side, write):
        path = self.ctx.path
        if side == "nbdkit-file":
            raw = path(self.files["raw"])
            return copy(raw, path("nbd-w.img")) if write else raw
        if side == "hvdisk-chain8":
            return self.chain_leaf(self.ctx, CHAIN_DEPTH, self.prefix(write))
        dyn = path(self.files["dyn1M"])
        return copy(dyn, path("nbd-w.vhdx")) if write else dyn

    def layers(self, side, disk):
        """The files a read of side's disk touches."""
        if side != "hvdisk-chain8":
            return [disk]
        return self.chain_files(self.ctx, CHAIN_DEPTH, self.prefix(False))


def server_cmd(ctx, side, disk, sock):
    if side in ("hvdisk", "hvdisk-chain8"):
        return [ctx.hvdisk, "serve", disk, "--socket", sock, "--foreground"]
    if side == "qemu-nbd":
        return ["qemu-nbd", "-f", "vhdx", "-t", "-k", sock, disk]
    return ["nbdkit", "-f", "-U", sock, "file", disk]


def nbd_figure(ctx, figure, targets, name, rw, bs, depth):
    read = "write" not in rw
    goals = [("hvdisk", "qemu-nbd", 1.0), ("hvdisk-chain8", "hvdisk", 0.85)]
    if read:
        goals.append(("hvdisk", "nbdkit-file", 0.9))
    unit = "MiB/s" if bs == MIB else "IOPS"
    f = figure(f"nbd/{name}/qd{depth}", f"NBD {name} {bs // 1024}K qd{depth} (fio nbd engine)",
               unit, SIDES, ref="nbdkit-file", peer="qemu-nbd", goals=goals,
               params={"rw": rw, "bs": bs, "depth": depth})

    def one(side):
        disk = targets.disk(side, not read)
        if read:
            for p in targets.layers(side, disk):
                warm_cache(p)
        sock = ctx.path(f"nbd-{side}.sock")
        with Server(ctx, server_cmd(ctx, side, disk, sock), sock) as uri:
            # As the matrix's goal cells: 5x the sample time (fio's own start costs ~0.7 s here,
            # so --quick keeps the plain sample time).
            secs = ctx.o.seconds * (1 if ctx.o.quick else 5)
            return fio(uri, rw, bs, depth, secs, ctx.path("nbd-fio.json"))
    f["run"] = {s: (lambda s=s: one(s)) for s in SIDES}
    return f


def nbd_figures(ctx, figure, files, chain_leaf, chain_files):
    """Seq 1 MiB and random 4 KiB reads and writes at depth 1 and 32, every side in one run."""
    targets = Targets(ctx, files, chain_leaf, chain_files)
    return [nbd_figure(ctx, figure, targets, name, rw, bs, depth)
            for name, rw, bs in OPS for depth in (1, 32)]
