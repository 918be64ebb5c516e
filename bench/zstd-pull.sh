#!/usr/bin/env bash
# Cold pull + squashfs of one image whose layers are zstd-compressed, against the same image with gzip
# layers (the baseline, pulled in the same run), and the decompression floors of this machine (native
# zcat and zstd -dc over the same blobs). zstd layers are decoded by ZstdSharp, a managed port: this
# shows what that costs next to native zstd and next to gzip. Each pull goes into an empty cache with the
# page cache dropped; gzip and zstd alternate, ROUNDS times, and the median is printed.
# Usage: bench/zstd-pull.sh [IMAGE_REF] [ROUNDS]   (default: the ~300 MB, 6-layer test image, 3 rounds)
. "$(dirname "$0")/common.sh"
IMAGE=${1:-docker://$PLACEMENT_TEST_IMAGE_BIG}
ROUNDS=${2:-3}
ref=${IMAGE#docker://}; repo_tag=${ref#*/}; repo=${repo_tag%:*}; tag=${repo_tag##*:}
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
median() { sort -n | awk '{v[NR]=$1} END{print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# The zstd variant: the layers decompressed, then pushed with zstd level 3 (what podman/buildah and Docker's
# --compression zstd produce) under a fresh tag. skopeo runs as nobody with an empty HOME, so its blob-info
# cache knows no gzip variant of these layers to reuse instead of compressing (skopeo 1.9 would).
ztag=bench-$(date +%s)
zref=$PLACEMENT_REGISTRY/$repo-zstd:$ztag
mkdir -p "$WORK/home"; chown 65534:65534 "$WORK/home"
skopeo --insecure-policy copy -q --src-tls-verify=false --dest-decompress "docker://$ref" "dir:$WORK/plain" >/dev/null
chmod -R a+rX "$WORK/plain"
t0=$(now)
setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$WORK/home" \
  skopeo --insecure-policy copy -q --dest-tls-verify=false --format oci \
  --dest-compress-format zstd --dest-compress-level 3 "dir:$WORK/plain" "docker://$zref" >/dev/null
t_push=$(elapsed "$t0")
manifest() { # manifest REPO TAG
  curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$PLACEMENT_REGISTRY/v2/$1/manifests/$2"
}
types=$(manifest "$repo-zstd" "$ztag" | jq -r '[.layers[].mediaType] | unique | join(",")')
[ "$types" = "application/vnd.oci.image.layer.v1.tar+zstd" ] || { echo "bench: the zstd push has layers of type $types" >&2; exit 1; }
gzip_bytes=$(manifest "$repo" "$tag" | jq '[.layers[].size] | add')
zstd_bytes=$(manifest "$repo-zstd" "$ztag" | jq '[.layers[].size] | add')

echo "image: $IMAGE ($(manifest "$repo" "$tag" | jq '.layers | length') layers); machine: $(nproc) cores; $ROUNDS rounds, median"
echo "layers: gzip $((gzip_bytes / 1000000)) MB, zstd (level 3) $((zstd_bytes / 1000000)) MB; zstd push took $(fmt "$t_push") s"

pull() { # pull REF DIR -> seconds
  drop; local t0; t0=$(now)
  "$PLACEMENT" --cache-root "$WORK/$2" pull "docker://$1" >/dev/null 2>"$WORK/$2.log" || { cat "$WORK/$2.log" >&2; exit 1; }
  elapsed "$t0"; rm -rf "$WORK/$2"
}
: >"$WORK/gzip.times"; : >"$WORK/zstd.times"
for ((i = 0; i < ROUNDS; i++)); do
  pull "$ref" gzip-cache >>"$WORK/gzip.times"; echo >>"$WORK/gzip.times"
  pull "$zref" zstd-cache >>"$WORK/zstd.times"; echo >>"$WORK/zstd.times"
done
t_gzip=$(median <"$WORK/gzip.times"); t_zstd=$(median <"$WORK/zstd.times")

# Floors: the blobs as the registry serves them, decompressed by the native tools, one after another.
blobs() { # blobs REPO TAG DIR
  mkdir -p "$3"
  for b in $(manifest "$1" "$2" | jq -r '.layers[].digest'); do
    curl -sf "http://$PLACEMENT_REGISTRY/v2/$1/blobs/$b" -o "$3/${b#sha256:}"
  done
}
blobs "$repo" "$tag" "$WORK/gz"; blobs "$repo-zstd" "$ztag" "$WORK/zst"
t0=$(now); for f in "$WORK"/gz/*; do zcat "$f" >/dev/null; done; t_zcat=$(elapsed "$t0")
t0=$(now); for f in "$WORK"/zst/*; do zstd -dcq "$f" >/dev/null; done; t_unzstd=$(elapsed "$t0")

printf '\n%-50s %9s %12s\n' step seconds "vs gzip pull"
printf '%-50s %9s %12s\n' "baseline: placement pull, gzip layers (cold)" "$(fmt "$t_gzip")" 1.00
printf '%-50s %9s %12s\n' "placement pull, zstd layers (cold)" "$(fmt "$t_zstd")" "$(ratio "$t_zstd" "$t_gzip")"
printf '%-50s %9s %12s\n' "floor: zcat of the gzip blobs (native)" "$(fmt "$t_zcat")" "$(ratio "$t_zcat" "$t_gzip")"
printf '%-50s %9s %12s\n' "floor: zstd -dc of the zstd blobs (native)" "$(fmt "$t_unzstd")" "$(ratio "$t_unzstd" "$t_gzip")"
printf '\nrounds (s): gzip %s; zstd %s\n' "$(paste -sd' ' "$WORK/gzip.times")" "$(paste -sd' ' "$WORK/zstd.times")"
printf 'a zstd image pulls in %sx the time of its gzip twin, from %s%% of its bytes\n' \
  "$(ratio "$t_zstd" "$t_gzip")" "$(awk -v a="$zstd_bytes" -v b="$gzip_bytes" 'BEGIN{printf "%.0f", 100*a/b}')"
