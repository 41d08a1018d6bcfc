#!/usr/bin/env python3
"""Fails when a file of the repository refers to a directory beside the clone.

A user clones the repository alone: code, tests, hints and docs must not point at a sibling
folder (the workplace's `shared` one included). Usage: check_self_contained.py SOURCE_DIR
"""
import os
import sys

SIBLING = "../" + "shared"  # spelt in two parts so that this file does not match itself
SKIP_DIRS = {".git"}


def main():
    root = sys.argv[1]
    hits = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("build")]
        for f in files:
            path = os.path.join(dirpath, f)
            try:
                with open(path, encoding="utf-8") as fh:
                    for n, line in enumerate(fh, 1):
                        if SIBLING in line:
                            hits.append(f"{os.path.relpath(path, root)}:{n}: {line.strip()}")
            except (UnicodeDecodeError, OSError):
                continue  # binary test data
    for h in hits:
        print(h)
    print(f"self-contained: {len(hits)} references to a folder beside the clone")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
