#!/usr/bin/env python3
"""Fails when a file includes a header of a layer above its own (docs/design.md, "Layers").

Usage: check_layers.py SOURCE_DIR      check the tree
       check_layers.py --self-test     prove the check catches a violation and passes a clean tree
"""
import os
import re
import sys
import tempfile

# Lower rank = lower layer. A file may include headers of its own layer and of lower ranks only.
# Front ends of equal rank (cli/ and the servers beside it) may not include one another.
RANKS = {"platform": 0, "vhdx": 1, "chain": 2, "disk": 3, "ops": 4, "ops/wmi": 5,
         "cli": 6, "nbd": 6, "wsman": 6}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    """The layer folder a repo-relative path belongs to (longest match), or None."""
    best = None
    for layer in RANKS:
        if path == layer or path.startswith(layer + "/"):
            if best is None or len(layer) > len(best):
                best = layer
    return best


def violations(root):
    found = []
    for layer in RANKS:
        top = os.path.join(root, layer)
        if not os.path.isdir(top):
            continue
        for name in sorted(os.listdir(top)):
            if not name.endswith((".h", ".cc")):
                continue
            rel = f"{layer}/{name}"
            with open(os.path.join(top, name), encoding="utf-8") as f:
                text = f.read()
            for header in INCLUDE.findall(text):
                target = layer_of(header)
                if target is None or target == layer:
                    continue
                if RANKS[target] >= RANKS[layer]:
                    found.append(f"{rel} includes {header}: {target}/ is not below {layer}/")
    return found


def self_test():
    with tempfile.TemporaryDirectory() as root:
        for layer, text in {"vhdx": '#include "platform/status.h"\n',
                            "ops": '#include "chain/chain.h"\n'}.items():
            os.makedirs(os.path.join(root, layer))
            with open(os.path.join(root, layer, "a.cc"), "w") as f:
                f.write(text)
        assert violations(root) == [], "a clean tree was flagged"
        with open(os.path.join(root, "vhdx", "b.h"), "w") as f:
            f.write('#include "ops/store.h"\n')
        assert len(violations(root)) == 1, "an upward include was not flagged"
    print("check_layers self-test: ok")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    self_test()
    problems = violations(sys.argv[1])
    for p in problems:
        print(p)
    print(f"layering: {len(problems)} upward includes")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
