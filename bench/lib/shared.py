"""The shared-storage figures of bench/run: the replica store's failover / revert / commit latency
and the matrix's 4K random-read row, on a CephFS mount (a single-node cluster on 127.0.0.1 built
by tests/ceph/cluster.sh, mounted through ceph-fuse with the page cache off, as hvdisk requires)
against the local file system of the data dir, in one run, interleaved.

The cluster is built on the first sample that needs it (~11 s, not timed) and torn down by pid
when bench/run exits; its watchdog also tears it down if bench/run dies. Only a run that asks
for these figures (`--only '^shared/'`, `--publish shared`) builds one: `bench/run` with no
`--only` (the full kind) and `--quick` leave them out, since they need root and the Ceph
packages."""
import atexit
import copy
import os
import re
import shutil
import subprocess
import time

from tools import BenchError, run

MIB = 1 << 20
SIDES = ["local", "cephfs"]
CLUSTER = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "tests", "ceph", "cluster.sh")
READ_TARGETS = [("raw", "raw.img", "raw"), ("dyn1M", "dyn1M.vhdx", "vhdx")]
COMMIT_MIB = 64


def wanted(o):
    """Whether this run asks for the shared figures (see the module's docstring)."""
    return bool(o.only) and re.search(o.only, "shared/failover") is not None and not o.quick


class Cluster:
    """The CephFS mount of host A, built on first use."""

    def __init__(self, ctx):
        self.ctx, self.dir, self.mount = ctx, os.path.join(ctx.o.build, "bench-ceph"), None

    def path(self):
        if self.mount is None:
            shutil.rmtree(self.dir, ignore_errors=True)
            atexit.register(self.stop)
            p = subprocess.run([CLUSTER, "start", self.dir, str(os.getpid())],
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise BenchError(f"the CephFS cluster did not start: {p.stderr.strip()[-800:]}")
            self.mount = os.path.join(self.dir, "mnt", "a", "bench")
            os.makedirs(self.mount, exist_ok=True)
        return self.mount

    def stop(self):
        if self.mount is not None:
            subprocess.run([CLUSTER, "stop", self.dir], capture_output=True)
            self.mount = None
            shutil.rmtree(self.dir, ignore_errors=True)


def on(ctx, cluster, side):
    """A copy of ctx whose data dir is the side's: the local data dir, or the CephFS mount."""
    c = copy.copy(ctx)
    c.dir = ctx.dir if side == "local" else cluster.path()
    return c


def latency_figures(ctx, figure, cluster):
    """vm failover and vm revert of an empty failover disk, and vm commit of a recovery point
    holding COMMIT_MIB MiB, by side (ms, lower is better)."""
    from figures import Store  # figures imports this module
    state = {side: None for side in SIDES}
    pending = {side: [] for side in SIDES}

    def store(side):
        if state[side] is None:
            state[side] = Store(on(ctx, cluster, side), "shared-lat", 256 * MIB)
            run(state[side].vm("snapshot", "vm1"))
        return state[side]

    def cycle(side):  # failover then revert, both timed; failover's sample waits in `pending`
        st = store(side)
        t_failover = st.timed_vm("failover", "vm1")
        time.sleep(1)
        pending[side].append(t_failover * 1000)
        return st.timed_vm("revert", "vm1") * 1000

    def failover(side):
        if not pending[side]:
            raise BenchError("no failover sample: the revert of this round failed")
        return pending[side].pop(0)

    def commit(side):
        st = Store(on(ctx, cluster, side), "shared-commit", COMMIT_MIB * MIB)
        try:
            st.write(st.disk("attached"), COMMIT_MIB)  # becomes the recovery point below
            run(st.vm("snapshot", "vm1"))
            run(st.vm("failover", "vm1"))
            time.sleep(1)
            return st.timed_vm("commit", "vm1") * 1000
        finally:
            st.close()

    params = {"lower_is_better": True}
    title = "{} latency on CephFS (ceph-fuse) vs the local file system, ms (lower is better)"
    rev = figure("shared/revert", title.format("vm revert (empty failover disk)"), "ms", SIDES,
                 ref="local", params=params)
    rev["run"] = {s: (lambda s=s: cycle(s)) for s in SIDES}
    fo = figure("shared/failover", title.format("vm failover"), "ms", SIDES, ref="local",
                params=params)
    fo["run"] = {s: (lambda s=s: failover(s)) for s in SIDES}
    co = figure("shared/commit", title.format(f"vm commit ({COMMIT_MIB} MiB point)"), "ms",
                SIDES, ref="local", params=params)
    co["run"] = {s: (lambda s=s: commit(s)) for s in SIDES}
    return [rev, fo, co]


def randread_figures(ctx, figure, cluster):
    """The matrix's 4K random-read row (qd1 and qd32, buffered and O_DIRECT, io_uring) on the raw
    file and a dynamic VHDX (1 MiB blocks), each on both sides (IOPS)."""
    out = []
    for target, name, fmt in READ_TARGETS:
        for depth in (1, 32):
            for direct in (False, True):
                mode = "direct" if direct else "buffered"
                f = figure(f"shared/randread/{target}/qd{depth}/{mode}",
                           f"randread 4K qd{depth} {mode} uring, {target}: CephFS vs local",
                           "IOPS", SIDES, ref="local")
                args = dict(op="read", pattern="rand", bs=4096, depth=depth, backend="uring",
                            direct=int(direct), seconds=ctx.o.seconds * 5)
                f["run"] = {s: (lambda s=s, n=name, fm=fmt, a=args:
                                read_sample(ctx, cluster, s, n, fm, a)) for s in SIDES}
                out.append(f)
    return out


def read_sample(ctx, cluster, side, name, fmt, args):
    """One random-read sample of the side's copy of the matrix file `name` (copied onto the mount
    on first use); buffered samples start warm where there is a page cache to warm."""
    from tools import warm_cache
    path = os.path.join(on(ctx, cluster, side).dir, name)
    if not os.path.exists(path):
        run(["cp", "--sparse=always", ctx.path(name), path])
    if not args["direct"]:
        warm_cache(path)
    return ctx.image_bench_run(path, fmt, **args)["iops"]


def figures(ctx, figure):
    if not wanted(ctx.o):
        return []
    cluster = Cluster(ctx)
    return latency_figures(ctx, figure, cluster) + randread_figures(ctx, figure, cluster)
