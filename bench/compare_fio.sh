#!/usr/bin/env bash
# Runs io_queue_bench and fio back to back, with the same parameters on the same file, and prints
# ours vs fio:
#   O_DIRECT sequential 1 MiB reads at queue depth 4, and O_DIRECT 4 KiB random reads at depth 32,
#   each with io_uring and with libaio.
#
# Usage: bench/compare_fio.sh [BUILD_DIR]       (default ./build)
# Environment: HVDISK_BENCH_DIR (default /tmp), HVDISK_BENCH_FILE_MB (default 1024): the file, as
# for io_queue_bench; HVDISK_COMPARE_SECONDS (default 5): run time of each measurement;
# HVDISK_COMPARE_ROUNDS (default 3): measurements of each side, interleaved; the table shows the
# medians (a shared machine is noisy).
set -euo pipefail

build_dir=${1:-./build}
bench="${build_dir}/bench/io_queue_bench"
seconds=${HVDISK_COMPARE_SECONDS:-5}
rounds=${HVDISK_COMPARE_ROUNDS:-3}
file_mb=${HVDISK_BENCH_FILE_MB:-1024}
file="${HVDISK_BENCH_DIR:-/tmp}/hvdisk_io_bench.dat"
export HVDISK_BENCH_FILE_MB="${file_mb}"

for tool in "${bench}" fio jq; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    echo "compare_fio: ${tool} not found (build io_queue_bench; apt-get install fio jq)" >&2
    exit 1
  fi
done

# ours NAME METRIC: runs one benchmark; prints bytes_per_second or IOPS.
ours() {
  local json
  json=$("${bench}" --benchmark_filter="^$1/real_time\$" --benchmark_min_time="${seconds}" \
    --benchmark_format=json 2>/dev/null)
  if [[ "$(jq '.benchmarks | length' <<<"${json}")" != 1 ]]; then
    echo "compare_fio: benchmark $1 did not run" >&2
    exit 1
  fi
  jq -r ".benchmarks[0].$2" <<<"${json}"
}

# theirs ENGINE RW BS DEPTH METRIC: runs fio; prints bw_bytes or iops of the reads.
theirs() {
  fio --name=compare --filename="${file}" --size="${file_mb}M" --direct=1 --ioengine="$1" \
    --rw="$2" --bs="$3" --iodepth="$4" --runtime="${seconds}" --time_based --norandommap \
    --randrepeat=0 --output-format=json 2>/dev/null | jq -r ".jobs[0].read.$5"
}

# Makes sure the file exists at the size fio is told (io_queue_bench creates it).
"${bench}" --benchmark_filter='^BM_SeqRead/sync/buffered/qd4/real_time$' \
  --benchmark_min_time=0.01 >/dev/null 2>&1

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '%-18s %-9s %15s %15s %7s\n' test engine ours fio ratio
row() {  # row TEST ENGINE BENCH_NAME FIO_RW BS DEPTH UNIT
  local metric fio_metric scale i
  local -a our=() fio_values=()
  if [[ "$7" == MiB/s ]]; then metric=bytes_per_second fio_metric=bw_bytes scale=1048576
  else metric=IOPS fio_metric=iops scale=1; fi
  for ((i = 0; i < rounds; i++)); do  # alternate who goes first
    if ((i % 2 == 0)); then our+=("$(ours "$3" "${metric}")"); fi
    fio_values+=("$(theirs "$2" "$4" "$5" "$6" "${fio_metric}")")
    if ((i % 2 == 1)); then our+=("$(ours "$3" "${metric}")"); fi
  done
  awk -v t="$1" -v e="$2" -v o="$(median "${our[@]}")" -v f="$(median "${fio_values[@]}")" \
    -v s="${scale}" -v u="$7" \
    'BEGIN { printf "%-18s %-9s %9.0f %-5s %9.0f %-5s %6.2fx\n", t, e, o / s, u, f / s, u, o / f }'
}
row "seqread 1M qd4"   io_uring BM_SeqRead/uring/direct/qd4     read     1M 4  MiB/s
row "seqread 1M qd4"   libaio   BM_SeqRead/aio/direct/qd4       read     1M 4  MiB/s
row "randread 4K qd32" io_uring BM_RandRead4K/uring/direct/qd32 randread 4k 32 IOPS
row "randread 4K qd32" libaio   BM_RandRead4K/aio/direct/qd32   randread 4k 32 IOPS
