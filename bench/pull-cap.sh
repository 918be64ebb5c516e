#!/usr/bin/env bash
# Cache:MaxConcurrentPulls: K jobs on one node asking at once for K different images, each pulled by its own
# `placement pull` process into one empty cache, with no cap (the baseline, measured in the same run) and with caps of
# 1 and 2. Prints when the first, the average and the last image were ready, and their ratios to the baseline: with
# no cap the K pulls share the node's CPUs and link and all finish late; with a cap the first ones are ready early.
# The K images are the ~300 MB test image pushed K times with different gzip levels (distinct blobs and digests,
# the same rootfs, so each pull does the same work). Each run starts with the page cache dropped; ROUNDS runs of
# each case, alternating, median per column.
# Usage: bench/pull-cap.sh [K] [ROUNDS]   (default: 4 images, 3 rounds)
. "$(dirname "$0")/common.sh"
K=${1:-4}
ROUNDS=${2:-3}
ref=$PLACEMENT_TEST_IMAGE_BIG; repo_tag=${ref#*/}; repo=${repo_tag%:*}
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
median() { sort -n | awk '{v[NR]=$1} END{print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# K variants: decompressed once, then pushed with gzip levels 1..K under a fresh tag. skopeo runs as nobody with an
# empty HOME of its own per variant, so its blob-info cache cannot hand back an earlier variant's blobs.
tag=cap-$(date +%s)
skopeo --insecure-policy copy -q --src-tls-verify=false --dest-decompress "docker://$ref" "dir:$WORK/plain" >/dev/null
chmod -R a+rX "$WORK/plain"
images=()
for ((i = 1; i <= K; i++)); do
  image=$PLACEMENT_REGISTRY/$repo-cap$i:$tag
  mkdir -p "$WORK/home-$i"; chown 65534:65534 "$WORK/home-$i"
  setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$WORK/home-$i" \
    skopeo --insecure-policy copy -q --dest-tls-verify=false --dest-compress-format gzip --dest-compress-level "$i" \
    "dir:$WORK/plain" "docker://$image" >/dev/null
  images+=("docker://$image")
done
distinct=$(for ((i = 1; i <= K; i++)); do layers "$repo-cap$i" "$tag"; done | sort -u | wc -l)
per_image=$(layers "$repo-cap1" "$tag" | wc -l)
[ "$distinct" -eq $((K * per_image)) ] || { echo "bench: the $K variants share layers ($distinct distinct of $((K * per_image)))" >&2; exit 1; }

run() { # run CAP -> "first mean last" seconds
  local cap=$1 root=$WORK/cache-$1 t0 i pids=()
  drop; t0=$(now)
  for i in "${!images[@]}"; do
    ( PLACEMENT__Cache__MaxConcurrentPulls=$cap "$PLACEMENT" --cache-root "$root" pull "${images[$i]}" >/dev/null 2>"$WORK/pull-$cap-$i.log" \
        || { cat "$WORK/pull-$cap-$i.log" >&2; exit 1; }
      echo "$(elapsed "$t0")" >"$WORK/done-$cap-$i" ) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { echo "bench: a pull failed (cap $cap)" >&2; exit 1; }; done
  cat "$WORK"/done-"$cap"-* | sort -n | awk '{v[NR]=$1; s+=$1} END{printf "%s %.3f %s\n", v[1], s/NR, v[NR]}'
  rm -rf "$root" "$WORK"/done-"$cap"-*
}

caps=(0 1 2)
for c in "${caps[@]}"; do : >"$WORK/first-$c"; : >"$WORK/mean-$c"; : >"$WORK/last-$c"; done
for ((r = 0; r < ROUNDS; r++)); do
  for c in "${caps[@]}"; do
    read -r first mean last < <(run "$c")
    echo "$first" >>"$WORK/first-$c"; echo "$mean" >>"$WORK/mean-$c"; echo "$last" >>"$WORK/last-$c"
  done
done

echo "images: $K x the test image ($per_image layers, distinct gzip levels); machine: $(nproc) cores; $ROUNDS rounds, median"
printf '%-28s %9s %9s %9s %12s %11s %11s\n' case first_s mean_s last_s first_ratio mean_ratio last_ratio
b_first=$(median <"$WORK/first-0"); b_mean=$(median <"$WORK/mean-0"); b_last=$(median <"$WORK/last-0")
for c in "${caps[@]}"; do
  f=$(median <"$WORK/first-$c"); m=$(median <"$WORK/mean-$c"); l=$(median <"$WORK/last-$c")
  name="MaxConcurrentPulls $c"; [ "$c" -eq 0 ] && name="no cap (0) [baseline]"
  printf '%-28s %9s %9s %9s %12s %11s %11s\n' "$name" "$(fmt "$f")" "$(fmt "$m")" "$(fmt "$l")" \
    "$(ratio "$f" "$b_first")" "$(ratio "$m" "$b_mean")" "$(ratio "$l" "$b_last")"
done
