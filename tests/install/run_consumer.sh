#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, builds tests/install/consumer against the
# installed package only, runs it, and checks the man page landed. Usage: run_consumer.sh BUILD SRC
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -s "$work/prefix/share/man/man1/hvdisk.1"
test -x "$work/prefix/bin/hvdisk"
cmake -S "$src/tests/install/consumer" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
mkdir "$work/data"
digest=$("$work/build/consumer" "$work/data")
echo "consumer digest $digest"
test "$digest" = "$("$work/prefix/bin/hvdisk" digest "$work/data/child.avhdx" | cut -d' ' -f1)"
