#!/usr/bin/env bash
# Cache:MaxConcurrentPulls: K jobs on one node asking at once for K different images, each pulled by its own
# `placement pull` process into one empty cache, with no cap (the baseline, measured in the same run) and with caps of
# 1 and 2. Prints when the first, the average and the last image were ready, and their ratios to the baseline: with
# no cap the K pulls share the node's CPUs and link and all finish late; with a cap the first ones are ready early.
# The K images are the ~300 MB test image pushed K times with different gzip levels (distinct blobs and digests,
# the same rootfs, so each pull does the same work). Each run starts with the page cache dropped; ROUNDS runs of
# each case, alternating, median per column. The variants' manifests are deleted from the dev registry at the end;
# their blobs stay in its storage until a registry garbage-collect.
# Then Cache:MaxConcurrentPullsPerUser: through a node agent, as the SPANK plugin asks it (ensure with the job owner's
# uid), one user asks for K-1 of the images at once and another user for the last one half a second later, with a node
# cap of 2; no per-user cap (the baseline, same run) against a per-user cap of 1. Prints when the second user's image
# and the first user's images were ready.
# Usage: bench/pull-cap.sh [K] [ROUNDS]   (K from 3 to 9; default: 4 images, 3 rounds)
. "$(dirname "$0")/common.sh"
K=${1:-4}
ROUNDS=${2:-3}
[[ $K =~ ^[3-9]$ ]] || { echo "bench: K must be 3 to 9 (one gzip level per image, two users), not '$K'" >&2; exit 2; }
ref=$PLACEMENT_TEST_IMAGE_BIG; repo_tag=${ref#*/}; repo=${repo_tag%:*}
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
median() { sort -n | awk '{v[NR]=$1} END{print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# K variants: decompressed once, then pushed with gzip levels 1..K under a fresh tag. skopeo runs as nobody with an
# empty HOME of its own per variant, so its blob-info cache cannot hand back an earlier variant's blobs.
tag=cap-$(date +%s)
skopeo --insecure-policy copy -q --src-tls-verify=false --dest-decompress "docker://$ref" "dir:$WORK/plain" >/dev/null
chmod -R a+rX "$WORK/plain"
images=()
cleanup() {
  local image
  for image in "${images[@]}"; do skopeo delete --tls-verify=false "$image" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
for ((i = 1; i <= K; i++)); do
  image=$PLACEMENT_REGISTRY/$repo-cap$i:$tag
  mkdir -p "$WORK/home-$i"; chown 65534:65534 "$WORK/home-$i"
  setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$WORK/home-$i" \
    skopeo --insecure-policy copy -q --dest-tls-verify=false --dest-compress-format gzip --dest-compress-level "$i" \
    "dir:$WORK/plain" "docker://$image" >/dev/null
  images+=("docker://$image")
done
distinct=$(for ((i = 1; i <= K; i++)); do layers "$repo-cap$i" "$tag"; done | sort -u | wc -l)
per_image=$(layers "$repo-cap1" "$tag" | sort -u | wc -l)
[ "$distinct" -eq $((K * per_image)) ] || { echo "bench: the $K variants share layers ($distinct distinct of $((K * per_image)))" >&2; exit 1; }

run() { # run CAP: appends this run's first, mean and last seconds to $WORK/{first,mean,last}-CAP
  local cap=$1 root=$WORK/cache-$1 t0 i p pids=() failed=0
  drop; t0=$(now)
  for i in "${!images[@]}"; do
    ( PLACEMENT__Cache__MaxConcurrentPulls=$cap "$PLACEMENT" --cache-root "$root" pull "${images[$i]}" >/dev/null 2>"$WORK/pull-$cap-$i.log" \
        && echo "$(elapsed "$t0")" >"$WORK/done-$cap-$i" ) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done  # every pull ends before the cache is removed
  if [ "$failed" -ne 0 ]; then
    cat "$WORK"/pull-"$cap"-*.log >&2; echo "bench: a pull failed (cap $cap)" >&2; exit 1
  fi
  sort -n "$WORK"/done-"$cap"-* | awk -v f="$WORK/first-$cap" -v m="$WORK/mean-$cap" -v l="$WORK/last-$cap" \
    '{v[NR]=$1; s+=$1} END{print v[1] >>f; printf "%.3f\n", s/NR >>m; print v[NR] >>l}'
  rm -rf "$root" "$WORK"/done-"$cap"-*
}

caps=(0 1 2)
for c in "${caps[@]}"; do : >"$WORK/first-$c"; : >"$WORK/mean-$c"; : >"$WORK/last-$c"; done
for ((r = 0; r < ROUNDS; r++)); do
  for c in "${caps[@]}"; do run "$c"; done
done

# rows FORMAT NAMER FILE1 FILE2 FILE3 KEY...: per KEY, the medians of $WORK/FILEn-KEY and their ratios to the first
# KEY's (the baseline); NAMER KEY prints the row's name.
rows() {
  local format=$1 namer=$2 f1=$3 f2=$4 f3=$5 key b1 b2 b3 v1 v2 v3
  shift 5
  b1=$(median <"$WORK/$f1-$1"); b2=$(median <"$WORK/$f2-$1"); b3=$(median <"$WORK/$f3-$1")
  for key in "$@"; do
    v1=$(median <"$WORK/$f1-$key"); v2=$(median <"$WORK/$f2-$key"); v3=$(median <"$WORK/$f3-$key")
    # shellcheck disable=SC2059
    printf "$format" "$("$namer" "$key")" "$(fmt "$v1")" "$(fmt "$v2")" "$(fmt "$v3")" \
      "$(ratio "$v1" "$b1")" "$(ratio "$v2" "$b2")" "$(ratio "$v3" "$b3")"
  done
}
cap_name() { if [ "$1" -eq 0 ]; then echo "no cap (0) [baseline]"; else echo "MaxConcurrentPulls $1"; fi; }

echo "images: $K x the test image ($per_image layers, distinct gzip levels); machine: $(nproc) cores; $ROUNDS rounds, median"
format='%-28s %9s %9s %9s %12s %11s %11s\n'
# shellcheck disable=SC2059
printf "$format" case first_s mean_s last_s first_ratio mean_ratio last_ratio
rows "$format" cap_name first mean last "${caps[@]}"

# --- Cache:MaxConcurrentPullsPerUser ---------------------------------------------------------------------------------
ensure() { # ensure SOCKET REF UID HOLDER: the SPANK plugin's request to the agent; fails unless the image is ready
  python3 - "$@" <<'PY'
import json, socket, sys
path, ref, uid, holder = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall((json.dumps({"op": "ensure", "ref": ref, "holder": holder, "uid": uid}) + "\n").encode())
answer = json.loads(s.makefile().readline())
if answer.get("exitCode") != 0:
    sys.exit(f"bench: ensure {ref} for uid {uid}: {answer}")
PY
}

user_run() { # user_run PER_USER: appends when user B's image, and user A's (mean, last), were ready
  local per=$1 root=$WORK/ucache-$1 sock=$WORK/agent-$1.sock config=$WORK/agent-$1.json t0 i p agent pids=() failed=0
  cat >"$config" <<JSON
{ "Cache": { "Root": "$root", "MaxConcurrentPulls": 2, "MaxConcurrentPullsPerUser": $per },
  "Agent": { "Listen": "", "Socket": "$sock", "PublishFeatures": false, "LeaseCheckIntervalSeconds": 0 },
  "Peers": { "Enabled": false } }
JSON
  "$PLACEMENT" agent --config "$config" --node bench 2>"$WORK/agent-$per.log" &
  agent=$!
  for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
  [ -S "$sock" ] || { cat "$WORK/agent-$per.log" >&2; echo "bench: the agent did not start" >&2; exit 1; }
  drop; t0=$(now)
  for ((i = 0; i < K - 1; i++)); do
    ( ensure "$sock" "${images[$i]}" 60001 "slurm-$((100 + i)).0" && echo "$(elapsed "$t0")" >"$WORK/udone-$per-a$i" ) &
    pids+=($!)
  done
  sleep 0.5
  ( ensure "$sock" "${images[$((K - 1))]}" 60002 slurm-200.0 && echo "$(elapsed "$t0")" >"$WORK/udone-$per-b" ) &
  pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  kill "$agent"; wait "$agent" 2>/dev/null || true
  [ "$failed" -eq 0 ] || { cat "$WORK/agent-$per.log" >&2; echo "bench: a request failed (per-user cap $per)" >&2; exit 1; }
  cat "$WORK/udone-$per-b" >>"$WORK/ub-$per"
  sort -n "$WORK"/udone-"$per"-a* | awk -v m="$WORK/uamean-$per" -v l="$WORK/ualast-$per" \
    '{v[NR]=$1; s+=$1} END{printf "%.3f\n", s/NR >>m; print v[NR] >>l}'
  rm -rf "$root" "$WORK"/udone-"$per"-*
}

pers=(0 1)
for u in "${pers[@]}"; do : >"$WORK/ub-$u"; : >"$WORK/uamean-$u"; : >"$WORK/ualast-$u"; done
for ((r = 0; r < ROUNDS; r++)); do
  for u in "${pers[@]}"; do user_run "$u"; done
done
echo
echo "two users through the agent, MaxConcurrentPulls 2: user A asks for $((K - 1)) images at once, user B for 1 image 0.5 s later; $ROUNDS rounds, median"
per_user_name() { if [ "$1" -eq 0 ]; then echo "no per-user cap (0) [baseline]"; else echo "MaxConcurrentPullsPerUser $1"; fi; }
format='%-36s %9s %12s %12s %9s %13s %13s\n'
# shellcheck disable=SC2059
printf "$format" case B_s A_mean_s A_last_s B_ratio A_mean_ratio A_last_ratio
rows "$format" per_user_name ub uamean ualast "${pers[@]}"
