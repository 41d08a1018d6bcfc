"""Process helpers, machine identity and peer discovery for bench/run."""
import os
import platform
import re
import shutil
import subprocess
import sys
import time

PYTHON = "/usr/bin/python3"  # Debian's, with python3-libvhdi (pyvhdi)


class BenchError(Exception):
    """A benchmark that could not run or report."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    """Runs cmd; returns its stdout; raises BenchError with its stderr on failure."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise BenchError(f"{' '.join(map(str, cmd))} exited {p.returncode}: "
                         f"{p.stderr.strip()[-800:]}")
    return p.stdout


def timed(cmd, **kw):
    """Runs cmd; returns its wall-clock seconds."""
    t = time.perf_counter()
    run(cmd, **kw)
    return time.perf_counter() - t


def fdatasync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def drop_cache(path):
    """Drops this file's clean pages from the page cache (only this file's: the machine is shared,
    so never /proc/sys/vm/drop_caches)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def warm_cache(path, chunk=8 << 20):
    """Reads the whole file once so that a buffered-read sample starts with all of it cached,
    whatever other tenants or earlier samples left in the page cache. The file's pages are dropped
    first: after the write samples (4K random writes, O_DIRECT writes that invalidate cached
    ranges) the cache holds the file in small pieces, and a cached read of those ran at 4-7 GB/s
    instead of 11-12 on every side, raw included; one sequential pass caches it afresh."""
    drop_cache(path)
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(chunk)
        while f.readinto(buf):
            pass


def remove(*paths):
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMGT]?)i?B?", str(text).strip(), re.I)
    if not m:
        raise ValueError(f"bad size {text!r}")
    return int(m.group(1)) << (10 * " KMGT".index((m.group(2) or " ").upper()))


def build(src, build_dir, targets):
    """Configures a release build unless build_dir has one, then builds the targets (-j2)."""
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        log(f"configuring {build_dir} (Release)")
        run(["cmake", "-S", src, "-B", build_dir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"])
    log(f"building {' '.join(targets)} in {build_dir}")
    run(["cmake", "--build", build_dir, "-j2", "--target", *targets])


def first_line(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine(data_dir, backends):
    """The identity that heads the report."""
    fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "--target", data_dir],
                        capture_output=True, text=True).stdout.strip()
    return {
        "host": platform.node(),
        "cpu": first_line("/proc/cpuinfo", "model name"),
        "cpus": os.cpu_count(),
        "memory": first_line("/proc/meminfo", "MemTotal"),
        "kernel": platform.release(),
        "data_dir": data_dir,
        "filesystem": fs or "unknown",
        "backends": backends,
        "qemu_img": run(["qemu-img", "--version"]).splitlines()[0],
        "pyvhdi": run([PYTHON, "-c", "import pyvhdi; print(pyvhdi.get_version())"]).strip(),
    }


def check_peers():
    """Every peer the benchmarks compare with; raises BenchError naming the missing ones."""
    missing = [t for t in ["qemu-img", "gnuplot", "qemu-nbd", "nbdkit", "fio"]
               if shutil.which(t) is None]
    if subprocess.run([PYTHON, "-c", "import pyvhdi"], capture_output=True).returncode != 0:
        missing.append(f"pyvhdi ({PYTHON} -c 'import pyvhdi'; apt-get install python3-libvhdi)")
    if missing:
        raise BenchError("missing peers: " + ", ".join(missing))


def hvdisk_has(hvdisk, args, pattern):
    """True when `hvdisk ARGS --help` mentions pattern (a feature probe)."""
    p = subprocess.run([hvdisk, *args, "--help"], capture_output=True, text=True)
    return p.returncode == 0 and re.search(pattern, p.stdout) is not None
