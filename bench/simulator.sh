#!/usr/bin/env bash
# Policy simulator: replays the shipped trace (bench/traces/small.csv, 64 nodes), a generated 1,000-node x
# 100,000-job trace and a generated 8-day trace of the 64-node cluster through every policy; prints timings and the results tables (docs/benchmarks.md).
# Goals: 1,000 x 100,000 in < 60 s (NativeAOT, this machine); our policy >= 95 % hit rate and registry egress
# <= 5 % of no-cache. No cluster needed.
# Usage: bench/simulator.sh [JOBS] [NODES]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PLACEMENT=${PLACEMENT:-$ROOT/out/bin/placement}
JOBS=${1:-100000}
NODES=${2:-1000}
[ -x "$PLACEMENT" ] || { echo "bench: $PLACEMENT missing: run ./build.sh" >&2; exit 1; }
WORK=$(mktemp -d /var/tmp/placement-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# The daemons' defaults (85 % / 75 % watermarks, 300 s minimum age), not this machine's /etc/placement.
echo '{}' > "$WORK/placement.json"
sim() { "$PLACEMENT" --config "$WORK/placement.json" simulate "$@"; }

echo "machine: $(nproc) cores; $("$PLACEMENT" --version)"
echo
echo "== shipped trace: bench/traces/small.csv, 64 nodes, cache 100 GiB/node"
sim --trace "$ROOT/bench/traces/small.csv" --nodes 64 --cache-size 100GiB --explain
echo
# The same 20 hours with the first 8 replayed but not counted: the cluster past its cold start (docs/simulator.md, "Warm-up").
echo "== shipped trace, warm-up 8 h"
sim --trace "$ROOT/bench/traces/small.csv" --nodes 64 --cache-size 100GiB --warm-up 8h --explain
echo
echo "== generated: $NODES nodes x $JOBS jobs"
t0=$(date +%s.%N)
sim generate --jobs "$JOBS" --nodes "$NODES" --seed 1 --out "$WORK/big.csv"
t1=$(date +%s.%N)
awk -v a="$t1" -v b="$t0" 'BEGIN{printf "generate: %.2f s\n", a-b}'
t0=$(date +%s.%N)
sim --trace "$WORK/big.csv" --nodes "$NODES" --cache-size 100GiB --plot "${PLOT_DIR:-$WORK/plots}" --explain
t1=$(date +%s.%N)
awk -v a="$t1" -v b="$t0" 'BEGIN{printf "simulate (5 policies x 5 cache sizes, plots): %.2f s wall\n", a-b}'
t0=$(date +%s.%N)
sim --trace "$WORK/big.csv" --nodes "$NODES" --cache-size 100GiB --json > "$WORK/one.json"
t1=$(date +%s.%N)
awk -v a="$t1" -v b="$t0" 'BEGIN{printf "simulate (5 policies, one cache size): %.2f s wall (goal < 60 s)\n", a-b}'
echo
# The shipped trace is 20 hours of a small cluster; the same cluster over 8 days shows it past the cold start.
echo "== generated: 64 nodes x 50000 jobs (8 days)"
sim generate --jobs 50000 --nodes 64 --seed 1 --out "$WORK/small-8d.csv" >/dev/null
sim --trace "$WORK/small-8d.csv" --nodes 64 --cache-size 100GiB
echo
# Past the cold start a 64-node cluster's hit rate is bound by how much of the ~275 GiB catalogue a node can keep.
echo "== the same 8 days with 200 GiB of cache per node"
sim --trace "$WORK/small-8d.csv" --nodes 64 --cache-size 200GiB --explain
echo
# What peer fetch does (placement without it), and the popularity trade-off (docs/benchmarks.md): each popular image
# on more idle nodes buys hits with warm-ups, which peer fetch mostly serves from other nodes.
echo '{ "Peers": { "Enabled": false } }' > "$WORK/nopeers.json"
echo '{ "Prefetch": { "PopularityIdleNodes": 4 } }' > "$WORK/wide.json"
for c in "nopeers:Peers:Enabled false" "wide:PopularityIdleNodes 4"; do
  for t in "$ROOT/bench/traces/small.csv:64" "$WORK/big.csv:$NODES"; do
    echo "== placement with ${c#*:}: ${t%%:*} (${t##*:} nodes)"
    "$PLACEMENT" --config "$WORK/${c%%:*}.json" simulate --trace "${t%%:*}" --nodes "${t##*:}" --cache-size 100GiB --policies placement | grep -E '^(policy|placement|cold)'
  done
done
