#!/usr/bin/env python3
"""Fails when the build globs for sources, or when a .cc file is named in no CMake file.

A source that no target lists would silently not be built (a test file would silently not run).
Usage: check_sources.py SOURCE_DIR
"""
import os
import re
import sys

# Not ours to list: build trees, and the consumer project that the install test builds alone.
SKIP_DIRS = {".git", os.path.join("tests", "install", "consumer")}


def walk(root):
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        dirs[:] = [d for d in dirs if not d.startswith("build")
                   and os.path.normpath(os.path.join(rel, d)) not in SKIP_DIRS]
        for f in files:
            yield os.path.relpath(os.path.join(dirpath, f), root)


def main():
    root = sys.argv[1]
    problems, named, sources = [], set(), []
    for rel in walk(root):
        base = os.path.basename(rel)
        if base == "CMakeLists.txt" or base.endswith(".cmake"):
            with open(os.path.join(root, rel), encoding="utf-8") as f:
                text = f.read()
            if re.search(r"file\s*\(\s*GLOB", text, re.I):
                problems.append(f"{rel}: file(GLOB) instead of a source list")
            named |= {os.path.basename(n) for n in re.findall(r"[\w./-]+\.cc\b", text)}
            # hvdisk_add_fuzzer(NAME) and similar helpers name a source without its suffix.
            named |= {n + ".cc" for n in re.findall(r"hvdisk_add_\w+\((\w+)\)", text)}
        elif base.endswith(".cc"):
            sources.append(rel)
    problems += [f"{s}: named in no CMakeLists.txt" for s in sources
                 if os.path.basename(s) not in named]
    for p in problems:
        print(p)
    print(f"sources: {len(sources)} .cc files, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
