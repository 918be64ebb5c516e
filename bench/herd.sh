#!/usr/bin/env bash
# Thundering herd: N concurrent `placement pull` of one uncached image on one node, against the
# baseline of a single pull measured in the same run. Reports registry GETs per blob (goal: 1)
# and the wall-time ratio N-pull / 1-pull (goal: <= 1.1x). Also measured in the same run: N processes
# hitting an already-cached image (the cost of starting N processes on this machine, which a real
# herd of job steps inside slurmstepd does not pay), and the ratio with that cost taken out.
# Usage: bench/herd.sh [IMAGE_REF] [N...]     (default: the ~300 MB test image, N = 50 200)
. "$(dirname "$0")/common.sh"
IMAGE=${1:-docker://$PLACEMENT_TEST_IMAGE_BIG}; shift || true
COUNTS=("$@"); [ ${#COUNTS[@]} -gt 0 ] || COUNTS=(50 200)
repo_tag=${IMAGE#docker://}; repo_tag=${repo_tag#*/}
mapfile -t BLOBS < <(layers "${repo_tag%:*}" "${repo_tag##*:}")

run() { # run N -> prints "seconds max_gets_per_blob failures"
  local n=$1 root=$WORK/cache-$1 before=() i t0 fails=0 max=0
  for b in "${BLOBS[@]}"; do before+=("$(blob_gets "$b" "${repo_tag%:*}")"); done
  t0=$(now)
  for i in $(seq "$n"); do "$PLACEMENT" --cache-root "$root" pull "$IMAGE" >"$WORK/out-$n-$i" 2>&1 & done
  for job in $(jobs -p); do wait "$job" || fails=$((fails + 1)); done
  local secs; secs=$(elapsed "$t0")
  sleep 1 # the registry logs a request after sending it
  for i in "${!BLOBS[@]}"; do
    local d=$(( $(blob_gets "${BLOBS[$i]}" "${repo_tag%:*}") - before[i] )); [ "$d" -gt "$max" ] && max=$d
  done
  # the same N processes against the now warm cache: process start-up + hit, no waiting
  t0=$(now)
  for i in $(seq "$n"); do "$PLACEMENT" --cache-root "$root" pull "$IMAGE" >/dev/null 2>&1 & done
  wait
  local warm; warm=$(elapsed "$t0")
  rm -rf "$root"
  echo "$secs $max $fails $warm"
}

echo "image: $IMAGE (${#BLOBS[@]} layers); machine: $(nproc) cores"
read -r base base_gets base_fail base_warm < <(run 1)
printf '%-9s %8s %15s %9s %11s %16s %18s\n' requests wall_s max_GETs/blob failures ratio_vs_1 warm_hits_wall_s ratio_minus_spawn
row() { printf '%-9s %8s %15s %9s %11s %16s %18s\n' "$1" "$(fmt "$2")" "$3" "$4" "$(ratio "$2" "$base")" "$(fmt "$5")" \
  "$(awk -v w="$2" -v h="$5" -v hb="$base_warm" -v b="$base" 'BEGIN{printf "%.2f", (w - (h - hb)) / b}')"; }
row 1 "$base" "$base_gets" "$base_fail" "$base_warm"
for n in "${COUNTS[@]}"; do
  read -r secs gets fails warm < <(run "$n")
  row "$n" "$secs" "$gets" "$fails" "$warm"
done
