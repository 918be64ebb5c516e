#!/usr/bin/env bash
# Cache commit -> Slurm feature visible: how long after `placement pull` commits an image (the
# mtime of the node's inventory.json) its img_<id> feature shows in `sinfo -N -o "%N %f"`, through
# the dev cluster's node agent. Goal: <= 2 s. N distinct small images (a squashfs each, pulled as a
# file path: own id, own digest), one at a time (each on a quiet agent) and then as one burst
# (coalescing and the publish rate limit at work). Removes them afterwards.
# Usage: bench/feature-latency.sh [NODE] [N]        (default: n2 20; needs ./build.sh + cluster up)
. "$(dirname "$0")/common.sh"
NODE=${1:-n2}
N=${2:-20}
CONFIG=$PLACEMENT_CONFIG_FILE
INVENTORY=${PLACEMENT_CACHE_ROOT//%n/$NODE}/inventory.json
pl() { "$PLACEMENT" --config "$CONFIG" --node "$NODE" "$@"; }
features() { sinfo -h -N -n "$NODE" -o '%f'; }

# wait_feature ID PRESENT(1|0): poll sinfo every 20 ms (30 s at most); prints the time it was seen
wait_feature() {
  local id=$1 want=$2 i has
  for ((i = 0; i < 1500; i++)); do
    has=0; [[ ,$(features), == *,"$id",* ]] && has=1
    if [ "$has" = "$want" ]; then now; return 0; fi
    sleep 0.02
  done
  echo "bench: $id did not $([ "$want" = 1 ] && echo appear || echo disappear) on $NODE within 30 s" >&2
  return 1
}
mtime() { stat -c %.9Y "$INVENTORY"; }
stats() { # stats FILE -> "median max" of one number per line
  sort -n "$1" | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.3f %.3f\n", m, v[NR]}'
}

ids=()
for i in $(seq "$N"); do
  mkdir -p "$WORK/tree$i/etc"
  echo "feature-latency $i $RANDOM$RANDOM $(now)" >"$WORK/tree$i/etc/bench"
  mksquashfs "$WORK/tree$i" "$WORK/img$i.sqsh" -quiet -noappend -no-progress >/dev/null
  ids+=("$(pl ref --id "$WORK/img$i.sqsh")")
done
cleanup() { for id in "${ids[@]}"; do pl rm --force "$id" >/dev/null 2>&1 || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# 1. one at a time: the agent is idle (past its rate-limit window) when each commit lands.
: >"$WORK/single"
for i in $(seq "$N"); do
  sleep 1.1
  pl pull "$WORK/img$i.sqsh" >/dev/null 2>&1
  committed=$(mtime)
  seen=$(wait_feature "${ids[i-1]}" 1)
  awk -v a="$seen" -v b="$committed" 'BEGIN{printf "%.3f\n", a-b}' >>"$WORK/single"
done
read -r single_median single_max < <(stats "$WORK/single")

# 2. removal, one at a time
: >"$WORK/rm"
for i in $(seq "$N"); do
  sleep 1.1
  pl rm "${ids[i-1]}" >/dev/null
  committed=$(mtime)
  seen=$(wait_feature "${ids[i-1]}" 0)
  awk -v a="$seen" -v b="$committed" 'BEGIN{printf "%.3f\n", a-b}' >>"$WORK/rm"
done
read -r rm_median rm_max < <(stats "$WORK/rm")

# 3. a burst: N pulls back to back, then the time until the last one is visible.
publishes() { grep -c "placement agent: publish: node $NODE:" "$STATE/log/agent-$NODE.log" || true; }
sleep 1.1
before=$(publishes)
: >"$WORK/burst"
t0=$(now)
for i in $(seq "$N"); do
  pl pull "$WORK/img$i.sqsh" >/dev/null 2>&1
  echo "$(mtime) ${ids[i-1]}" >>"$WORK/burst-commits"
done
burst_pulls=$(elapsed "$t0")
while read -r committed id; do
  seen=$(wait_feature "$id" 1)
  awk -v a="$seen" -v b="$committed" 'BEGIN{printf "%.3f\n", a-b}' >>"$WORK/burst"
done <"$WORK/burst-commits"
read -r burst_median burst_max < <(stats "$WORK/burst")
sleep 1.1
burst_publishes=$(( $(publishes) - before ))

printf 'node %s, %d distinct images (squashfs files pulled by path), agent defaults (coalesce 100 ms, min interval 1000 ms, poll 500 ms); machine: %s cores\n' \
  "$NODE" "$N" "$(nproc)"
printf '%-34s %9s %9s\n' "commit -> sinfo" median_s max_s
printf '%-34s %9s %9s\n' "pull, one at a time" "$single_median" "$single_max"
printf '%-34s %9s %9s\n' "rm, one at a time" "$rm_median" "$rm_max"
printf '%-34s %9s %9s\n' "burst of $N pulls (${burst_pulls} s)" "$burst_median" "$burst_max"
printf 'the burst of %d commits took %d scontrol updates (coalesced, rate-limited)\n' "$N" "$burst_publishes"
