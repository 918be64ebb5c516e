#!/usr/bin/env bash
# Cold pull + squashfs of one image into an empty node cache: Placement against the Sarus-style
# pipeline (skopeo copy -> umoci unpack -> mksquashfs, same compressor) measured in the same run,
# and against the physical floor of this machine (raw GET of the blobs with curl, gunzip throughput,
# mksquashfs alone on the unpacked tree). Prints where the time goes. Goal: >= 1.5x the pipeline.
# Usage: bench/cold-pull.sh [IMAGE_REF]      (default: the ~300 MB, 6-layer test image)
. "$(dirname "$0")/common.sh"
IMAGE=${1:-docker://$PLACEMENT_TEST_IMAGE_BIG}
# Placement's default squashfs settings; the pipeline is measured with them and with mksquashfs's own defaults.
COMP=(-comp zstd -Xcompression-level 3)
ref=${IMAGE#docker://}; repo_tag=${ref#*/}; repo=${repo_tag%:*}; tag=${repo_tag##*:}
mapfile -t BLOBS < <(layers "$repo" "$tag")
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

echo "image: $IMAGE (${#BLOBS[@]} layers); machine: $(nproc) cores; Placement squashfs: ${COMP[*]}"

# --- Placement
drop; t0=$(now)
"$PLACEMENT" --cache-root "$WORK/placement" pull "$IMAGE" >/dev/null 2>"$WORK/placement.log"
t_placement=$(elapsed "$t0")

# --- Sarus-style pipeline
drop; t0=$(now)
skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$WORK/oci:$tag" >/dev/null
t_skopeo=$(elapsed "$t0"); t1=$(now)
umoci unpack --image "$WORK/oci:$tag" "$WORK/bundle" >/dev/null 2>&1
t_umoci=$(elapsed "$t1"); t1=$(now)
mksquashfs "$WORK/bundle/rootfs" "$WORK/pipeline.sqsh" -noappend -no-progress -quiet >/dev/null
t_mksq_pipeline=$(elapsed "$t1")
t_pipeline=$(elapsed "$t0")
# the same pipeline with Placement's squashfs settings (isolates the pipeline's structure)
t1=$(now); mksquashfs "$WORK/bundle/rootfs" "$WORK/pipeline2.sqsh" -noappend -no-progress -quiet "${COMP[@]}" >/dev/null
t_mksq_same=$(elapsed "$t1")
t_pipeline_same=$(awk -v a="$t_skopeo" -v b="$t_umoci" -v c="$t_mksq_same" 'BEGIN{printf "%.3f", a+b+c}')

# --- floor: each physical step alone
drop; t0=$(now)
for b in "${BLOBS[@]}"; do curl -sf "http://$PLACEMENT_REGISTRY/v2/$repo/blobs/$b" -o "$WORK/blob-${b#sha256:}" & done; wait
t_get=$(elapsed "$t0")
t0=$(now); for b in "${BLOBS[@]}"; do zcat "$WORK/blob-${b#sha256:}" >/dev/null; done
t_gunzip=$(elapsed "$t0")
t_mksq=$t_mksq_same
size=$(du -sb "$WORK/bundle/rootfs" | cut -f1)

printf '\n%-52s %9s %14s\n' step seconds "vs Placement"
printf '%-52s %9s %14s\n' "Placement: placement pull (cold)" "$(fmt "$t_placement")" 1.00
printf '%-52s %9s %14s\n' "pipeline: skopeo + umoci + mksquashfs (its defaults)" "$(fmt "$t_pipeline")" "$(ratio "$t_pipeline" "$t_placement")"
printf '%-52s %9s\n' "  skopeo copy" "$(fmt "$t_skopeo")"
printf '%-52s %9s\n' "  umoci unpack" "$(fmt "$t_umoci")"
printf '%-52s %9s\n' "  mksquashfs (gzip, level 9)" "$(fmt "$t_mksq_pipeline")"
printf '%-52s %9s %14s\n' "pipeline with Placement's squashfs settings" "$(fmt "$t_pipeline_same")" "$(ratio "$t_pipeline_same" "$t_placement")"
printf '%-52s %9s %14s\n' "floor: parallel raw GET of all blobs (curl)" "$(fmt "$t_get")" "$(ratio "$t_get" "$t_placement")"
printf '%-52s %9s %14s\n' "floor: gunzip of all blobs (zcat)" "$(fmt "$t_gunzip")" "$(ratio "$t_gunzip" "$t_placement")"
printf '%-52s %9s %14s\n' "floor: mksquashfs alone (Placement settings)" "$(fmt "$t_mksq")" "$(ratio "$t_mksq" "$t_placement")"
printf '\nunpacked rootfs: %s MB; Placement is %sx faster than the pipeline (%sx with the same squashfs settings)\n' \
  "$((size / 1000000))" "$(ratio "$t_pipeline" "$t_placement")" "$(ratio "$t_pipeline_same" "$t_placement")"
grep -E 'downloading|building' "$WORK/placement.log" >/dev/null || true
