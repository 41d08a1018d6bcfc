#!/bin/sh
# A small real Linux guest, built from Debian packages without root, loop devices or downloads
# other than `apt-get download` of Debian's cloud kernel; used by interop_tests' guest boot test,
# and usable by hand:
#
#   tests/interop/guest.sh kernel CACHE       Debian's cloud kernel and a busybox initramfs that
#                                             loads virtio_blk, mounts /dev/vda and switch_roots;
#                                             kept in CACHE (vmlinuz, initrd.cpio.gz, kernel.txt)
#                                             and reused when present
#   tests/interop/guest.sh root IMAGE [SIZE]  an ext4 root filesystem image (raw, default 32M)
#                                             holding busybox and an /init that writes the boot's
#                                             marker into /marker, syncs, remounts / read-only
#                                             and powers off
#   tests/interop/guest.sh boot CACHE DRIVE MARKER [SECONDS]
#                                             boots qemu-system-x86_64 (TCG) with DRIVE as its
#                                             virtio root disk (a file or an NBD URI such as
#                                             nbd+unix:///?socket=S) under a timeout (default
#                                             120 s); the console goes to stdout; exit 0 when
#                                             the guest said it wrote MARKER and powered off
#
# Needs: apt-get, dpkg-deb, busybox-static, cpio, gzip, e2fsprogs (mkfs.ext4 -d), qemu-system-x86.
set -eu

die() {
  echo "guest.sh: $*" >&2
  exit 1
}

MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk"

need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 ||
      die "$tool not found: install the guest's packages (scripts/bootstrap: busybox-static" \
        "cpio e2fsprogs qemu-system-x86)"
  done
}

busybox_path() {
  for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && file_is_static "$b"; then
      echo "$b"
      return
    fi
  done
  die "no static busybox (apt-get install busybox-static)"
}

file_is_static() {  # a dynamic busybox would need its libraries inside the guest
  ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'INTERP'
}

# kernel CACHE: vmlinuz and initrd.cpio.gz for the newest linux-image-*-cloud-amd64 apt knows.
kernel() {
  cache=$1
  if [ -s "$cache/vmlinuz" ] && [ -s "$cache/initrd.cpio.gz" ]; then
    return 0
  fi
  need apt-get apt-cache dpkg-deb cpio gzip readelf
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/.work.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    awk '/Depends: linux-image-/ { print $2; exit }')
  [ -n "$pkg" ] || die "apt-cache knows no linux-image-cloud-amd64: run apt-get update (needs" \
    "Debian's archive)"
  (cd "$work" && apt-get download "$pkg" >download.log 2>&1) ||
    die "apt-get download $pkg failed (is Debian's archive reachable?): $(tail -3 "$work/download.log")"
  dpkg-deb -x "$work"/"$pkg"_*.deb "$work/x" || die "dpkg-deb -x of $pkg failed"
  release=$(ls "$work/x/lib/modules")
  initramfs "$work" "$work/x/lib/modules/$release"
  cp "$work/x/boot/vmlinuz-$release" "$cache/vmlinuz.tmp"
  mv "$work/initrd.cpio.gz" "$cache/initrd.cpio.gz"
  mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
  echo "$pkg $release" >"$cache/kernel.txt"
}

# initramfs WORK MODULES_DIR: WORK/initrd.cpio.gz, busybox and the virtio_blk modules in order.
initramfs() {
  work=$1
  mods=$2
  root="$work/initrd"
  mkdir -p "$root/bin" "$root/lib/modules" "$root/proc" "$root/dev" "$root/newroot"
  cp "$(busybox_path)" "$root/bin/busybox"
  for m in $MODULES; do
    f=$(find "$mods/kernel" -name "$m.ko" | head -1)
    [ -n "$f" ] || die "$m.ko is not in the kernel package (expected a module, not built in)"
    cp "$f" "$root/lib/modules/"
  done
  cat >"$root/init" <<EOF
#!/bin/busybox sh
fail() { /bin/busybox echo "guest: initramfs: \$*"; /bin/busybox poweroff -f; }
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
for m in $MODULES; do
  /bin/busybox insmod /lib/modules/\$m.ko || fail "insmod \$m failed"
done
n=0
while [ ! -b /dev/vda ]; do
  n=\$((n + 1)); [ \$n -lt 100 ] || fail "no /dev/vda"; /bin/busybox sleep 0.1
done
/bin/busybox mount -t ext4 -o rw /dev/vda /newroot || fail "mount /dev/vda failed"
/bin/busybox umount /proc
/bin/busybox umount /dev
exec /bin/busybox switch_root /newroot /init
EOF
  chmod 755 "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.cpio.gz"
}

# root IMAGE [SIZE]: the ext4 root filesystem.
root() {
  image=$1
  size=${2:-32M}
  need mkfs.ext4 readelf
  dir=$(mktemp -d "${image}.dir.XXXXXX")
  trap 'rm -rf "$dir"' EXIT
  mkdir -p "$dir/bin" "$dir/proc" "$dir/dev"
  cp "$(busybox_path)" "$dir/bin/busybox"
  cat >"$dir/init" <<'EOF'
#!/bin/busybox sh
# Writes the marker the kernel command line names (hvdisk_marker=...), makes it durable and
# visible offline (sync, then remount read-only so the journal is checkpointed), powers off.
/bin/busybox mount -t proc proc /proc
marker=$(/bin/busybox sed -n 's/.*hvdisk_marker=\([^ ]*\).*/\1/p' /proc/cmdline)
/bin/busybox echo "$marker" >/marker
/bin/busybox sync
/bin/busybox mount -o remount,ro / && /bin/busybox echo "guest: wrote marker $marker"
/bin/busybox poweroff -f
EOF
  chmod 755 "$dir/init"
  rm -f "$image"
  mkfs.ext4 -q -F -d "$dir" "$image" "$size" >/dev/null || die "mkfs.ext4 -d failed"
}

# boot CACHE DRIVE MARKER [SECONDS]
boot() {
  cache=$1
  drive=$2
  marker=$3
  secs=${4:-120}
  need qemu-system-x86_64 timeout
  [ -s "$cache/vmlinuz" ] || die "$cache has no kernel: run '$0 kernel $cache' first"
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  # KVM is not required: TCG boots this guest to power-off in seconds.
  status=0
  timeout "$secs" qemu-system-x86_64 -accel tcg -m 256 -smp 1 -nodefaults -no-user-config \
    -nographic -serial stdio -no-reboot -kernel "$cache/vmlinuz" \
    -initrd "$cache/initrd.cpio.gz" \
    -append "console=ttyS0 root=/dev/vda rw panic=-1 quiet hvdisk_marker=$marker" \
    -drive "file=$drive,format=raw,if=virtio,cache=none" </dev/null >"$log" 2>&1 || status=$?
  cat "$log"
  [ "$status" -ne 124 ] || die "the guest did not power off within $secs s"
  [ "$status" -eq 0 ] || die "qemu-system-x86_64 exited $status"
  grep -q "guest: wrote marker $marker" "$log" || die "the guest did not report its marker"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  kernel) [ $# -eq 1 ] || die "usage: $0 kernel CACHE"; kernel "$1" ;;
  root) [ $# -ge 1 ] || die "usage: $0 root IMAGE [SIZE]"; root "$@" ;;
  boot) [ $# -ge 3 ] || die "usage: $0 boot CACHE DRIVE MARKER [SECONDS]"; boot "$@" ;;
  *) die "usage: $0 kernel CACHE | root IMAGE [SIZE] | boot CACHE DRIVE MARKER [SECONDS]" ;;
esac
