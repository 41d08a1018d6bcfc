"""Publishing a bench/run report into bench/results/: one current report per run kind, under the
kind's name (full.md, full.json, full-*.png), and its row in the index, bench/results/README.md.

A run writes its report into the build directory; only `bench/run --publish [KIND]` copies it
here, replacing the kind's previous report (git keeps the old one)."""
import glob
import os

# The run kinds: the figures each runs (a --only regex; None: every figure) and what it is for.
KINDS = {
    "full": (None, "every figure: the matrix, allocating writes, bench -w, convert, whole-disk "
             "read, chains, the store latencies and commit/merge"),
    "store-latency": (r"^store/(revert|failover)$", "vm failover and vm revert latency by the "
                      "MiB written into the failover disk (0, 64 MiB, 1 GiB, 64 GiB)"),
    "chain-merge": (r"^(chain/|store/commit-merge$)", "reads through chains of depth 1 to 16, and "
                    "merge / vm commit against cp of the child"),
    "nbd": (r"^nbd/", "fio over NBD: the hvdisk plugin on a dynamic VHDX and a depth-8 chain vs "
            "qemu-nbd -f vhdx and nbdkit file on the raw copy"),
    "maintain": (r"^maintain/", "compact of a 16 GiB dynamic disk vs qemu-img convert to a new "
                 "VHDX, and the repair of a dirty log by virtual size (1 GiB vs 64 GiB)"),
    "shared": (r"^shared/", "vm failover / revert / commit latency and the 4K random-read row on "
               "a CephFS mount (single-node cluster, ceph-fuse) vs the local file system"),
}
# The report's file name when it is not the kind's own.
STEMS = {"shared": "shared-storage"}


def stem(kind):
    return STEMS.get(kind, kind)

BEGIN = "<!-- runs: one row per kind; bench/run --publish KIND rewrites its row -->"
END = "<!-- /runs -->"
HEADER = ["| report | what it measures | ran | machine | hvdisk | made by |",
          "|---|---|---|---|---|---|"]


def resolve(o):
    """Checks --publish against the other options and sets o.only from the kind. Returns an
    error message, or None."""
    if o.publish is None:
        return None
    if o.quick:
        return "--publish takes a full-size run, not --quick"
    kind = o.publish or "full"
    if kind not in KINDS:
        return f"--publish {kind}: unknown run kind; the kinds are {', '.join(KINDS)}"
    if o.only:
        return (f"--publish {kind} runs the figures of its kind: drop --only (the kinds: "
                f"{', '.join(KINDS)})")
    o.publish = kind
    o.only = KINDS[kind][0]
    return None


def remove_report(results, kind):
    """Removes the kind's current report (its plots may be other ones than the new run's)."""
    for f in [os.path.join(results, f"{stem(kind)}.md"),
              os.path.join(results, f"{stem(kind)}.json")]:
        if os.path.exists(f):
            os.unlink(f)
    for f in glob.glob(os.path.join(glob.escape(results), f"{stem(kind)}-*.png")):
        os.unlink(f)


def row(kind, meta):
    m = meta["machine"]
    made_by = (f"`{meta['command']}`" if meta.get("command")
               else f"`bench/run --publish {kind}` (equivalent: the run predates --publish)")
    return (f"| [{stem(kind)}.md]({stem(kind)}.md) | {KINDS[kind][1]} | {meta['date']}, "
            f"{meta.get('elapsed', 0):.0f} s | {m['host']}: {m['cpu']}, {m['cpus']} CPUs, "
            f"{m['memory']}; {m['kernel']}; {' '.join(m['filesystem'].split())} | "
            f"{meta['commit']} | {made_by} |")


def update_index(index, kind, meta):
    """Rewrites the kind's row of the index table (adding it when missing). Returns False, having
    changed nothing, when the index has no table between BEGIN and END."""
    if not os.path.exists(index):
        return False
    lines = open(index).read().split("\n")
    if BEGIN not in lines or END not in lines or lines.index(END) < lines.index(BEGIN):
        return False
    b, e = lines.index(BEGIN), lines.index(END)
    rows = {}
    for line in lines[b + 1:e]:
        for k in KINDS:
            if line.startswith(f"| [{stem(k)}.md]({stem(k)}.md) |"):
                rows[k] = line
    rows[kind] = row(kind, meta)
    table = HEADER + [rows[k] for k in KINDS if k in rows]
    with open(index, "w") as f:
        f.write("\n".join(lines[:b + 1] + table + lines[e:]))
    return True


def publish(results, kind, meta, figs, write_report):
    """Writes the report of this run into `results` as `kind` and updates the index. Returns the
    report's path and a message about the index."""
    remove_report(results, kind)
    md = write_report(results, stem(kind), meta, figs)
    index = os.path.join(results, "README.md")
    if update_index(index, kind, meta):
        return md, f"{index}: the {kind} row rewritten; review the diff and commit both"
    return md, (f"{index} has no run table ({BEGIN} ... {END}); add this row to it:\n"
                + row(kind, meta))
