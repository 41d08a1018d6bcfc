#!/usr/bin/env python3
"""Fails when a .cc file of a product layer has no header of its own stem beside it.

One .h/.cc pair per concept, named alike: a .cc implements the header named after it, so a
reader finds what a file implements (and where a declaration is implemented) by its name. The
only .cc files without a header of their own are the parts of one header (vhdx/image_*.cc
implement vhdx/image.h, chain/chain_*.cc the operations of chain/chain.h), the CLI's commands
(cli/*_command.cc and *_commands.cc implement cli/commands.h) and the CLI's and the WS-Man server's main.cc.

Usage: check_headers.py SOURCE_DIR     check the tree
       check_headers.py --self-test    prove the check catches a .cc without its header
"""
import fnmatch
import os
import sys
import tempfile

# The folders of the product layers (those that exist are checked, subfolders included).
LAYERS = ["platform", "vhdx", "chain", "disk", "ops", "cli", "nbd", "wsman"]
# .cc files (repo-relative patterns) that are parts of another file's header, or none's.
PARTS = {
    "vhdx/image_*.cc": "vhdx/image.h",
    "chain/chain_*.cc": "chain/chain.h",
    "cli/*_command.cc": "cli/commands.h",
    "cli/*_commands.cc": "cli/commands.h",
    "cli/main.cc": None,
    "wsman/main.cc": None,
}


def problems(root):
    found = []
    for layer in LAYERS:
        for dirpath, _, files in os.walk(os.path.join(root, layer)):
            for f in sorted(files):
                if not f.endswith(".cc"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
                part = next((h for p, h in PARTS.items() if fnmatch.fnmatch(rel, p)), False)
                header = rel[:-3] + ".h" if part is False else part
                if header is not None and not os.path.isfile(os.path.join(root, header)):
                    found.append(f"{rel}: no {header} (one .h/.cc pair per concept, named alike)")
    return found


def self_test():
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "ops"))
        for name in ("store.cc", "store.h", "test_failover.cc"):
            open(os.path.join(root, "ops", name), "w").close()
        found = problems(root)
        if found != ["ops/test_failover.cc: no ops/test_failover.h (one .h/.cc pair per concept, "
                     "named alike)"]:
            print(f"check_headers self-test: expected one problem, got {found}")
            return 1
    print("check_headers self-test: ok")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if self_test() != 0:
        return 1
    found = problems(sys.argv[1])
    for p in found:
        print(p)
    print(f"headers: {len(found)} .cc files without their header")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
