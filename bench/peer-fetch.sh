#!/usr/bin/env bash
# Peer fetch (docs/cache.md "Peers"): a node agent missing an image copies the committed squashfs from a node that
# holds it, instead of pulling and building it. Measured on the dev cluster's agents, in the same run: the cold pull
# from the registry on n1 (baseline), then the copy n1 -> n2, then n3 copying while n2 also holds it; bytes the
# registry served for each (its access log). Rounds alternate which node pulls from the registry.
# Usage: bench/peer-fetch.sh [ROUNDS] [IMAGE_REF]     (default: 3 rounds, the ~300 MB, 6-layer test image)
. "$(dirname "$0")/common.sh"
ROUNDS=${1:-3}
IMAGE=${2:-docker://$PLACEMENT_TEST_IMAGE_BIG}
ref=${IMAGE#docker://}; repo_tag=${ref#*/}; repo=${repo_tag%:*}
P=("$PLACEMENT" --config "$PLACEMENT_CONFIG_FILE")
ID=$("${P[@]}" ref --id "$IMAGE")
url() { tr ',' '\n' <<<"$PLACEMENT_AGENT_URLS" | sed -n "s/^$1=//p"; }
served() { awk -v r="\"GET /v2/$repo/" 'index($0, r) { n += $10 } END { printf "%.0f\n", n }' "$PLACEMENT_REGISTRY_LOG"; }
warm() { # warm NODE: seconds for the node's agent to get the image
  local t0; t0=$(now)
  "${P[@]}" warm --node-url "$(url "$1")" --wait "$IMAGE" >/dev/null
  elapsed "$t0"
}
has_feature() { sinfo -h -N -n "$1" -o "%f" | tr ',' '\n' | grep -qx "$ID"; }
wait_feature() { for _ in $(seq 100); do has_feature "$1" && return 0; sleep 0.05; done; echo "bench: $1 never showed $ID" >&2; exit 1; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "image: $IMAGE ($ID); machine: $(nproc) cores; $ROUNDS rounds; nodes n1 n2 n3 (agents of the dev cluster)"
printf '%-44s %9s %9s %16s\n' "case" "median_s" "ratio" "registry_bytes"
nodes=(n1 n2 n3)
: >"$WORK/cold"; : >"$WORK/peer"; : >"$WORK/peer2"; : >"$WORK/rb_cold"; : >"$WORK/rb_peer"
for ((r = 0; r < ROUNDS; r++)); do
  a=${nodes[$((r % 3))]}; b=${nodes[$(((r + 1) % 3))]}; c=${nodes[$(((r + 2) % 3))]}
  for n in "${nodes[@]}"; do "${P[@]}" --node "$n" rm --force "$ID" >/dev/null 2>&1 || true; done
  for n in "${nodes[@]}"; do for _ in $(seq 100); do has_feature "$n" || break; sleep 0.05; done; done
  sync
  s0=$(served); echo "$(warm "$a")" >>"$WORK/cold"; sleep 0.3; s1=$(served); echo $((s1 - s0)) >>"$WORK/rb_cold"
  wait_feature "$a"
  echo "$(warm "$b")" >>"$WORK/peer"; sleep 0.3; s2=$(served); echo $((s2 - s1)) >>"$WORK/rb_peer"
  wait_feature "$b"
  echo "$(warm "$c")" >>"$WORK/peer2"
done
cold=$(median <"$WORK/cold"); peer=$(median <"$WORK/peer"); peer2=$(median <"$WORK/peer2")
printf '%-44s %9.3f %9s %16s\n' "cold pull from the registry [baseline]" "$cold" "1.00" "$(median <"$WORK/rb_cold")"
printf '%-44s %9.3f %9s %16s\n' "copy from one holder" "$peer" "$(ratio "$peer" "$cold")" "$(median <"$WORK/rb_peer")"
printf '%-44s %9.3f %9s %16s\n' "copy with two holders" "$peer2" "$(ratio "$peer2" "$cold")" "-"
for n in "${nodes[@]}"; do
  printf '%s (since its agent started): peer fetches %s, bytes uploaded %s\n' "$n" \
    "$(curl -sf "$(url "$n")metrics" | awk '/^placement_peer_fetches_total\{result="peer"\}/ { print $2 }')" \
    "$(curl -sf "$(url "$n")metrics" | awk '/^placement_peer_uploaded_bytes_total / { print $2 }')"
done
