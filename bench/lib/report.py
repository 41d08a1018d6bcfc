"""The report of bench/run: Markdown (machine identity first), JSON with every sample, and PNG
plots through gnuplot."""
import json
import os
import statistics
import subprocess

from figures import CHAIN_DEPTHS, QD_SWEEP, TARGETS, store_sizes_of


def summary(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def ratio(fig, side, other):
    a, b = summary(fig["samples"].get(side, [])), summary(fig["samples"].get(other, []))
    return a["median"] / b["median"] if a and b and b["median"] > 0 else None


def num(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def goal_rows(figs):
    """A row per goal: a ratio of at least `want`, or at most `want` for the store latencies
    (lower is better); a latency figure without a goal lists its medians."""
    rows = []
    for f in figs:
        lower = f.get("params", {}).get("lower_is_better")
        for side, vs, want in f.get("goals", []):
            r = ratio(f, side, vs)
            ok = r is not None and (r <= want if lower else r >= want)
            rows.append(f"| {f['title']} | {side} vs {vs} | {'<=' if lower else '>='} "
                        f"{want:.2f}x | {'-' if r is None else f'{r:.3f}x'} | "
                        f"{'**met**' if ok else 'SHORT'} |")
        if lower and not f.get("goals"):
            for side in f["sides"]:
                s = summary(f["samples"][side])
                rows.append(f"| {f['title']} | {side} | no goal | "
                            f"{'-' if s is None else num(s['median']) + ' ' + f['unit']} | |")
    return rows


def figure_rows(f):
    rows = []
    for side in f["sides"]:
        s = summary(f["samples"][side])
        if s is None:
            rows.append(f"| {f['title']} | {side} | FAILED: {f.get('error', 'no sample')} |"
                        " | | |")
            continue
        to_ref = ratio(f, side, f["ref"]) if side != f["ref"] else None
        to_peer = ratio(f, side, f["peer"]) if f["peer"] and side != f["peer"] else None
        rows.append(f"| {f['title']} | {side} | {num(s['median'])} {f['unit']} | "
                    f"{num(s['min'])}-{num(s['max'])} | "
                    f"{'-' if to_ref is None else f'{to_ref:.3f}x'} | "
                    f"{'-' if to_peer is None else f'{to_peer:.3f}x'} |")
    return rows


def section(title, figs):
    lines = [f"\n## {title}\n", "| benchmark | side | median | min-max | ratio to raw | "
             "ratio to peer |", "|---|---|---|---|---|---|"]
    for f in figs:
        lines += figure_rows(f)
    return lines


def markdown(meta, figs, plots, notes):
    m = meta["machine"]
    lines = [f"# hvdisk benchmarks: {meta['date']} on {m['host']}\n",
             f"- CPU: {m['cpu']} ({m['cpus']} CPUs), memory {m['memory']}",
             f"- kernel: {m['kernel']}",
             f"- data dir: `{m['data_dir']}` on {m['filesystem']}",
             f"- I/O backends: {', '.join(m['backends'])} (matrix); goals use io_uring",
             f"- peers: {m['qemu_img']}; pyvhdi {m['pyvhdi']}",
             f"- hvdisk: {meta['commit']}, build `{meta['build']}`",
             f"- run: {meta['mode']}, data size {meta['size_mib']} MiB, {meta['rounds']} rounds "
             f"interleaved (sides rotated per round), {meta['seconds']} s per matrix sample, "
             f"{meta['elapsed']:.0f} s in all\n",
             "Each figure is the median of the rounds, with min-max; `ratio to raw` divides by "
             "the raw file on the same backend in the same run (the physical limit), `ratio to "
             "peer` by qemu-img or libvhdi. Higher is better everywhere except the store "
             "latencies (ms), whose ratio column divides by the smallest failover disk, and "
             "commit/merge, whose ratio column divides by `cp`. In the NBD figures the raw side "
             "is `nbdkit file` on the raw copy and the peer `qemu-nbd -f vhdx`.\n",
             "## Goals\n", "| benchmark | comparison | goal | measured | |", "|---|---|---|---|---|"]
    lines += goal_rows(figs)
    groups = {}
    for f in figs:
        groups.setdefault(f["id"].split("/")[0], []).append(f)
    titles = {"matrix": "Matrix: raw, fixed, dynamic 1M and 32M blocks",
              "alloc": "Allocating writes", "bench": "hvdisk bench vs qemu-img bench",
              "convert": "convert vs qemu-img convert", "read": "Whole-disk read vs libvhdi",
              "chain": "Reads through differencing chains",
              "store": "Replica store: failover, revert, commit; merge",
              "maintain": "Maintenance: compact vs qemu-img convert; repair of a dirty log",
              "nbd": "NBD (fio's nbd engine): the hvdisk plugin vs qemu-nbd and nbdkit file",
              "shared": "Shared storage: CephFS (ceph-fuse, page cache off) vs the local file "
                        "system (the ratio column divides by local)"}
    for g, title in titles.items():
        if g in groups:
            lines += section(title, [f for f in groups[g] if "not_measured" not in f])
    lines += ["\n## Not measured\n"]
    lines += [f"- {f['title']} (`{f['id']}`): not measured: {f['not_measured']}"
              for f in figs if "not_measured" in f]
    lines += ["\n## Plots\n"] + [f"![{t}]({os.path.basename(p)})" for t, p in plots]
    lines += ["\n## Notes\n"] + notes
    return "\n".join(lines) + "\n"


def to_json(meta, figs):
    out = []
    for f in figs:
        g = {k: v for k, v in f.items() if k != "run"}
        if "samples" in f:
            g["summary"] = {s: summary(v) for s, v in f["samples"].items()}
        out.append(g)
    return json.dumps({"meta": meta, "figures": out}, indent=1, default=str)


def gnuplot(png, title, xlabel, ylabel, series, logx=False):
    """series: {name: [(x, y), ...]}; writes png with one line per series."""
    data = png[:-4] + ".dat"
    with open(data, "w") as d:
        for name, pts in series.items():
            d.write(f"# {name}\n" + "".join(f"{x} {y}\n" for x, y in pts) + "\n\n")
    plots = ", ".join(f"'{data}' index {i} with linespoints title '{n}'"
                      for i, n in enumerate(series))
    script = (f"set terminal pngcairo size 800,500 noenhanced\nset output '{png}'\n"
              f"set title '{title}'\nset xlabel '{xlabel}'\nset ylabel '{ylabel}'\n"
              f"set key left top\nset grid\n{'set logscale x 2' if logx else ''}\nplot {plots}\n")
    subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
    os.unlink(data)


def median_of(figs, fid, side):
    for f in figs:
        if f["id"] == fid and "samples" in f:
            s = summary(f["samples"][side])
            return s["median"] if s else None
    return None


def plots(out_dir, stem, figs):
    done = []
    series = {t: [(d, median_of(figs, f"matrix/randread/qd{d}/direct/uring", t))
                  for d in QD_SWEEP] for t in TARGETS}
    series = {t: [(x, y) for x, y in pts if y is not None] for t, pts in series.items()}
    if any(series.values()):
        png = os.path.join(out_dir, f"{stem}-iops-by-qd.png")
        gnuplot(png, "4K random read IOPS by queue depth (O_DIRECT, io_uring)", "queue depth",
                "IOPS", {t: pts for t, pts in series.items() if pts}, logx=True)
        done.append(("IOPS by queue depth", png))
    for name, what, unit in [("seqread", "seq 1M read", "MiB/s"),
                             ("randread", "4K random read", "IOPS")]:
        chain = [(d, median_of(figs, f"chain/{name}", f"depth{d}")) for d in CHAIN_DEPTHS]
        chain = [(x, y) for x, y in chain if y is not None]
        raw = median_of(figs, f"chain/{name}", "raw")
        if chain and raw is not None:
            png = os.path.join(out_dir, f"{stem}-chain-{name}.png")
            gnuplot(png, f"{what} qd32 O_DIRECT io_uring through chains (differencing layers)",
                    "chain depth", unit, {"chain (engine: leaf PlanRead)": chain,
                                          "raw file": [(d, raw) for d in CHAIN_DEPTHS]})
            done.append((f"{what} by chain depth", png))
    sizes = store_sizes_of(figs)
    series = {op: [(m, median_of(figs, f"store/{op}", f"{m}M")) for m in sizes]
              for op in ("revert", "failover")}
    series = {f"vm {op}": [(x, y) for x, y in pts if y is not None] for op, pts in series.items()}
    if any(series.values()):
        png = os.path.join(out_dir, f"{stem}-store-latency.png")
        gnuplot(png, "failover and revert latency by failover-disk size", "MiB written into the "
                "failover disk", "ms", {k: v for k, v in series.items() if v})
        done.append(("failover and revert latency by disk size", png))
    return done
