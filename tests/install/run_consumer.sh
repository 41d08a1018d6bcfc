#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and checks what a user of the package gets:
# the tool (its --version is the project's and names the commit), the man page, only the public headers, and a
# consumer (tests/install/consumer) built against the installed package twice, through the CMake
# package and through pkg-config, whose digest equals the tool's. Usage: run_consumer.sh BUILD SRC
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
test -s "$prefix/share/man/man1/hvdisk.1"
test -x "$prefix/bin/hvdisk"
test -x "$prefix/bin/hvdisk-wsman"  # `hvdisk wsman` runs it, and its systemd unit starts that
grep -q '^ExecStart=.*/bin/hvdisk wsman --store' "$prefix/lib/systemd/system/hvdisk-wsman.service"
test -s "$prefix/share/doc/hvdisk/design.md"

# The nbdkit plugin is installed under the prefix (nbd/CMakeLists.txt), loads in nbdkit, and the
# installed `hvdisk serve` finds it there.
plugin=$(find "$prefix" -name nbdkit-hvdisk-plugin.so)
test -n "$plugin"
nbdkit "$plugin" --dump-plugin | grep -qx 'name=hvdisk'
"$prefix/bin/hvdisk" create --block-size 1M "$work/served.vhdx" 8M >/dev/null
"$prefix/bin/hvdisk" serve "$work/served.vhdx" --socket "$work/nbd.sock" \
  --pid-file "$work/nbd.pid" >/dev/null 2>&1
test "$(nbdinfo --size "nbd+unix:///?socket=$work/nbd.sock")" = 8388608
kill "$(cat "$work/nbd.pid")"
# The man pages: hvdisk(1) with its examples, exit status and pointers, and the (7) pages it names.
man1=$prefix/share/man/man1/hvdisk.1
for section in EXAMPLES '"EXIT STATUS"' '"SEE ALSO"'; do
  grep -q "^\.SH $section" "$man1" || { echo "hvdisk.1 has no $section section" >&2; exit 1; }
done
grep -q 'hvdisk-json(7)' "$man1"
grep -q '^hvdisk vm --store store create db01' "$man1"
for page in hvdisk-json hvdisk-store-layout; do
  test -s "$prefix/share/man/man7/$page.7"
  MANWIDTH=80 man -l "$prefix/share/man/man7/$page.7" 2>/dev/null | grep "$page" >/dev/null
done

# The bash completion, generated from the command tree, completes in an interactive bash.
completion=$prefix/share/bash-completion/completions/hvdisk
test -s "$completion"
complete_words() {  # the completions of the words given (the last one is completed)
  HOME=$work bash -i -c '. "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _hvdisk
    printf "%s\n" "${COMPREPLY[@]}"' "$completion" "$@" 2>/dev/null
}
test "$(complete_words hvdisk inf)" = "info"
test "$(complete_words hvdisk vm --store s sho)" = "show"
# (grep reads all its input: with -q, pipefail would fail the pipeline on SIGPIPE)
complete_words hvdisk convert --block | grep -x -- --block-size >/dev/null
complete_words hvdisk vm --store s show -- | grep -x -- --json >/dev/null

version=$(sed -n 's/^project(hvdisk VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
# (the commit the build recorded: the tree may have moved on since it was built)
commit=$(sed -n 's/^#define HVDISK_GIT_COMMIT "\(.*\)"$/\1/p' "$build/generated/cli/build_info.h")
test -n "$commit"
if [ -e "$src/.git" ]; then test "$commit" != unknown; fi
# The first line names the release and the commit built; the second the I/O backends.
"$prefix/bin/hvdisk" --version | head -1 | grep -x "hvdisk $version (commit $commit, .* build)" >/dev/null

test -f "$prefix/include/hvdisk/ops/wmi/replication_service.h"
for internal in vhdx/image_state.h vhdx/bat.h platform/posix_file.h ops/intent_runner.h; do
  if [ -e "$prefix/include/hvdisk/$internal" ]; then
    echo "internal header installed: $internal" >&2
    exit 1
  fi
done

# Every installed header's own includes are installed too.
while IFS= read -r header; do
  sed -n 's/^#include "\(.*\)"$/\1/p' "$header" | while IFS= read -r inc; do
    if [ ! -f "$prefix/include/hvdisk/$inc" ]; then
      echo "${header#"$prefix/include/hvdisk/"} includes $inc, which is not installed" >&2
      exit 1
    fi
  done
done < <(find "$prefix/include/hvdisk" -name '*.h')

cmake -S "$src/tests/install/consumer" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/build" >/dev/null
pc_flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs --static hvdisk)
# shellcheck disable=SC2086  # the flags are words
c++ -O1 -o "$work/consumer-pc" "$src/tests/install/consumer/main.cc" $pc_flags

for consumer in "$work/build/consumer" "$work/consumer-pc"; do
  rm -rf "$work/data" && mkdir "$work/data"
  digest=$("$consumer" "$work/data")
  echo "$(basename "$consumer") digest $digest"
  test "$digest" = "$("$prefix/bin/hvdisk" digest "$work/data/child.avhdx" | cut -d' ' -f1)"
done
