#!/usr/bin/env bash
# A throwaway single-node Ceph cluster on 127.0.0.1 with CephFS mounted twice (two "hosts", a and
# b), for the shared-storage tests and benchmarks. Everything lives under one directory DIR:
#   cluster.sh start DIR [OWNER_PID]  builds the cluster and mounts DIR/mnt/a and DIR/mnt/b; prints
#                                     nothing on success. With OWNER_PID, a watchdog tears the
#                                     cluster down (and removes DIR) when that process ends: a
#                                     crashed test leaves nothing behind.
#   cluster.sh mount DIR HOST         (re)mounts host a or b (a new ceph-fuse, a new client session)
#   cluster.sh umount DIR HOST        unmounts one host and ends its ceph-fuse (SIGKILL at the end)
#   cluster.sh stop DIR               unmounts both hosts, ends every daemon by pid (SIGTERM, then
#                                     SIGKILL), leaves no process and no mount; DIR stays.
#   cluster.sh ceph DIR ARGS...       runs the ceph CLI against the cluster (e.g. fs set cephfs
#                                     session_timeout 30)
# Files: DIR/ceph.conf, DIR/pid/<name> (mon.a osd.0 mds.a fuse.a fuse.b watchdog), DIR/log/*.log.
# Every port is chosen free (the monitor's by asking the kernel, the others by Ceph's own scan of
# ms_bind_port_min..max), so several clusters may run at once. Needs root (FUSE mounts) and the
# Debian packages ceph-mon ceph-osd ceph-mds ceph-fuse ceph-common: fails, naming them, without.
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }

need_tools() {
  local t missing=()
  for t in ceph ceph-mon ceph-osd ceph-mds ceph-fuse monmaptool ceph-authtool python3 mountpoint; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  [ ${#missing[@]} -eq 0 ] ||
    die "missing ${missing[*]}: install ceph-mon ceph-osd ceph-mds ceph-fuse ceph-common (scripts/bootstrap)"
  [ -e /dev/fuse ] || die "no /dev/fuse: load the fuse module (modprobe fuse)"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

alive() {  # a pid that exists and is not a zombie
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

cephcli() { timeout 60 ceph -c "$DIR/ceph.conf" --connect-timeout 30 "$@"; }

write_conf() {
  local port=$1
  cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $(uuidgen)
mon_host = v2:127.0.0.1:$port
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
run_dir = $DIR/run
admin_socket = $DIR/run/\$name.asok
log_file = $DIR/log/\$name.log
keyring = $DIR/keyring
mon_data = $DIR/mon/\$name
osd_data = $DIR/osd/\$name
mds_data = $DIR/mds/\$name
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 4294967296
osd_memory_target = 1073741824
osd_crush_chooseleaf_type = 0
debug_ms = 0
# The MDS flushes its journal on its tick: a rename over a file another client has looked up (a
# record replaced atomically on one host after the other read it) waits for that flush, up to
# the default 5 s. HVDISK_CEPH_MDS_TICK overrides the 0.2 s kept here.
mds_tick_interval = ${HVDISK_CEPH_MDS_TICK:-0.2}
EOF
}

start_daemon() {  # NAME CMD...: runs CMD in the foreground of a detached background job
  local name=$1
  shift
  setsid "$@" -f </dev/null >>"$DIR/log/$name.out" 2>&1 &
  echo $! >"$DIR/pid/$name"
}

start_mon() {
  local attempt port
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    write_conf "$port"
    rm -rf "$DIR/mon/mon.a"
    ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    monmaptool --create --clobber --fsid "$(awk '/^fsid/{print $3}' "$DIR/ceph.conf")" \
      --addv a "[v2:127.0.0.1:$port]" "$DIR/monmap" >/dev/null
    ceph-mon -c "$DIR/ceph.conf" --mkfs -i a --monmap "$DIR/monmap" >>"$DIR/log/mkfs.out" 2>&1
    start_daemon mon.a ceph-mon -c "$DIR/ceph.conf" -i a
    if cephcli mon stat >/dev/null 2>&1; then return 0; fi
    kill -KILL "$(cat "$DIR/pid/mon.a")" 2>/dev/null || true  # the port was taken: another one
  done
  die "the monitor did not start (see $DIR/log)"
}

start_osd() {
  local id
  id=$(cephcli osd create)
  mkdir -p "$DIR/osd/osd.$id"
  ceph-osd -c "$DIR/ceph.conf" -i "$id" --mkfs >>"$DIR/log/mkfs.out" 2>&1 ||
    die "ceph-osd --mkfs failed (see $DIR/log/mkfs.out)"
  start_daemon "osd.$id" ceph-osd -c "$DIR/ceph.conf" -i "$id"
}

start_fs() {
  cephcli osd pool create cephfs_meta 8 >/dev/null 2>&1
  cephcli osd pool create cephfs_data 8 >/dev/null 2>&1
  cephcli fs new cephfs cephfs_meta cephfs_data >/dev/null 2>&1
  mkdir -p "$DIR/mds/mds.a"
  start_daemon mds.a ceph-mds -c "$DIR/ceph.conf" -i a
  local i
  for i in $(seq 1 600); do
    cephcli mds stat 2>/dev/null | grep -q up:active && return 0
    alive "$(cat "$DIR/pid/mds.a")" || die "ceph-mds exited (see $DIR/log/mds.a.log)"
    sleep 0.1
  done
  die "the MDS did not become active within 60 s (see $DIR/log)"
}

mount_host() {  # HOST: a ceph-fuse of its own (client.HOST), page cache off for coherence
  local host=$1 mnt=$DIR/mnt/$1 i
  mkdir -p "$mnt"
  start_daemon "fuse.$host" ceph-fuse -c "$DIR/ceph.conf" --id "$host" \
    --fuse_disable_pagecache=true "$mnt"
  for i in $(seq 1 300); do
    if mountpoint -q "$mnt" && stat -f "$mnt" >/dev/null 2>&1; then return 0; fi
    alive "$(cat "$DIR/pid/fuse.$host")" || die "ceph-fuse for host $host exited (see $DIR/log)"
    sleep 0.1
  done
  die "host $host did not mount within 30 s"
}

wait_gone() {  # PID SECONDS: whether PID ended within SECONDS
  local i
  for i in $(seq 1 $(($2 * 20))); do
    alive "$1" || return 0
    sleep 0.05
  done
  ! alive "$1"
}

end_pid() {  # NAME: SIGTERM (and SIGCONT, for a frozen host), SIGKILL after a grace
  local file=$DIR/pid/$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true
    wait_gone "$pid" "${2:-2}" || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
  fi
  rm -f "$file"
}

umount_host() {
  local host=$1 mnt=$DIR/mnt/$1
  if mountpoint -q "$mnt" 2>/dev/null || grep -q " $mnt fuse" /proc/mounts; then
    # Lazy: never blocks on a frozen or dead ceph-fuse; the daemon is ended by pid below.
    if command -v fusermount3 >/dev/null; then fusermount3 -u -z "$mnt" 2>/dev/null || true; fi
    umount -l "$mnt" 2>/dev/null || true
  fi
  end_pid "fuse.$host" 1
}

stop_all() {
  local n
  umount_host a
  umount_host b
  for n in "$DIR"/pid/mds.* "$DIR"/pid/osd.* "$DIR"/pid/mon.*; do
    [ -f "$n" ] && end_pid "$(basename "$n")" 1
  done
  if [ -f "$DIR/pid/watchdog" ] && [ "$(cat "$DIR/pid/watchdog")" != "${WATCHDOG_SELF:-}" ]; then
    end_pid watchdog 1
  fi
  rm -f "$DIR/pid/watchdog"
}

watchdog() {  # OWNER: tears down when the owner ends
  local owner=$1
  (
    trap '' HUP INT
    while alive "$owner" && [ -d "$DIR/pid" ]; do sleep 1; done
    WATCHDOG_SELF=$BASHPID stop_all
    grep -q " $DIR/" /proc/mounts || rm -rf "$DIR"  # the owner cannot remove it any more
  ) </dev/null >>"$DIR/log/watchdog.out" 2>&1 &
  echo $! >"$DIR/pid/watchdog"
}

# The daemons must not inherit a caller's descriptors (a test's lock file kept open by ceph-fuse
# would keep its lock): close all but stdio and the script itself (255).
for fd in $(ls /proc/$$/fd); do
  if [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
done

cmd=${1:-}
DIR=${2:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || die "usage: cluster.sh start|stop|mount|umount|ceph DIR ..."
DIR=$(realpath -m "$DIR")
case "$cmd" in
  start)
    need_tools
    [ "$(id -u)" -eq 0 ] || die "needs root (it mounts CephFS with FUSE)"
    mkdir -p "$DIR"/{run,log,pid,mon,osd,mds,mnt}
    [ -n "${3:-}" ] && watchdog "$3"
    trap 'stop_all' EXIT  # a failed start leaves nothing running
    start_mon
    start_osd
    start_fs
    mount_host a
    mount_host b
    trap - EXIT
    ;;
  mount) umount_host "$3"; mount_host "$3" ;;
  umount) umount_host "$3" ;;
  stop) stop_all ;;
  ceph) shift 2; cephcli "$@" ;;
  *) die "unknown command $cmd" ;;
esac
