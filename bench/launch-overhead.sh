#!/usr/bin/env bash
# Step launch overhead: `srun --container-image=<cached image> true` against plain `srun true` on the
# same node, measured in the same run, alternating, median of N runs each (default 50). Also plain
# `srun true` with the plugin not loaded at all, to show what the plugin costs jobs without an image, and
# the image job with runtime=none (cache check and lease only) to separate the container's cost, once as a
# user resubmitting an image (the submit side remembers validated references, native/refmemo.c) and once
# with ref_cache=off (every submission validates with the core: a reference seen for the first time).
# Goal: <= 1.05x. Uses the dev cluster's plugstack line if present, else installs the built plugin
# with a private cache for the duration of the run.
# Usage: bench/launch-overhead.sh [N]
. "$(dirname "$0")/common.sh"
N=${1:-50}
IMAGE=docker://$PLACEMENT_TEST_IMAGE_TINY
PLUGSTACK=/etc/slurm/plugstack.conf.d/placement.conf
previous=$(cat "$PLUGSTACK" 2>/dev/null || true)
if ! grep -q spank_placement "$PLUGSTACK" 2>/dev/null; then
  printf '{ "Cache": { "Root": "%s/cache/%%n" } }\n' "$WORK" > "$WORK/placement.json"
  chmod 755 "$WORK"
  echo "required $ROOT/out/lib/spank_placement.so config=$WORK/placement.json" > "$PLUGSTACK"
fi
restore() { if [ -n "$previous" ]; then printf '%s\n' "$previous" > "$PLUGSTACK"; else rm -f "$PLUGSTACK"; fi; rm -rf "$WORK"; }
trap restore EXIT

ms_of() { local t0; t0=$(now); "$@" >/dev/null 2>&1; awk -v a="$(now)" -v b="$t0" 'BEGIN{printf "%.3f\n", (a-b)*1000}'; }
median() { sort -n | awk '{a[NR]=$1} END{printf "%.1f\n", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

srun -w n1 --container-image="$IMAGE" true >/dev/null 2>&1 || { echo "bench: a job with $IMAGE failed" >&2; exit 1; }
: > "$WORK/plain"; : > "$WORK/image"
# The third case is the same plugin line with runtime=none: the cache check and the lease, no container.
cp "$PLUGSTACK" "$WORK/plugstack.bwrap"
sed '/spank_placement/ s/$/ runtime=none/' "$WORK/plugstack.bwrap" > "$WORK/plugstack.none"
sed '/spank_placement/ s/$/ runtime=none ref_cache=off/' "$WORK/plugstack.bwrap" > "$WORK/plugstack.first"
: > "$WORK/cacheonly"; : > "$WORK/first"
for _ in $(seq "$N"); do
  ms_of srun -w n1 true >> "$WORK/plain"
  ms_of srun -w n1 --container-image="$IMAGE" true >> "$WORK/image"
  cp "$WORK/plugstack.none" "$PLUGSTACK"
  ms_of srun -w n1 --container-image="$IMAGE" true >> "$WORK/cacheonly"
  cp "$WORK/plugstack.first" "$PLUGSTACK"
  ms_of srun -w n1 --container-image="$IMAGE" true >> "$WORK/first"
  cp "$WORK/plugstack.bwrap" "$PLUGSTACK"
done
mv "$PLUGSTACK" "$WORK/plugstack.off"
: > "$WORK/none"
for _ in $(seq "$N"); do ms_of srun -w n1 true >> "$WORK/none"; done
mv "$WORK/plugstack.off" "$PLUGSTACK"

plain=$(median < "$WORK/plain"); image=$(median < "$WORK/image"); none=$(median < "$WORK/none"); cacheonly=$(median < "$WORK/cacheonly"); first=$(median < "$WORK/first")
echo "step launch, median of $N runs each, node n1, image cached: $IMAGE"
printf '%-60s %10s %8s\n' case ms ratio
printf '%-60s %10s %8s\n' "srun true (plugin not loaded)" "$none" "$(ratio "$none" "$plain")"
printf '%-60s %10s %8s\n' "srun true (plugin loaded, no image) [baseline]" "$plain" 1.00
printf '%-60s %10s %8s\n' "srun --container-image=<cached> true (runtime=none)" "$cacheonly" "$(ratio "$cacheonly" "$plain")"
printf '%-60s %10s %8s\n' "  same, reference validated by the core (first use)" "$first" "$(ratio "$first" "$plain")"
printf '%-60s %10s %8s\n' "srun --container-image=<cached> true (in bwrap)" "$image" "$(ratio "$image" "$plain")"
