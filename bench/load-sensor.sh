#!/usr/bin/env bash
# Grid Engine load sensor: one report for 1,000 cached images — time per report, peak RSS and start-up time —
# placement-load-sensor (a synthetic inventory.json) against the reference shell sensor
# /work/shared/reference/sge/img-sensor.sh (the same 1,000 images as a directory of .sif files, SGE_IMG_DIR), same run.
# Goal: <= 5 ms per report, <= 30 MB RSS. No cluster needed.
# Usage: bench/load-sensor.sh [IMAGES] [REPORTS]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SENSOR=$ROOT/out/bin/placement-load-sensor
REFERENCE=${REFERENCE_SENSOR:-/work/shared/reference/sge/img-sensor.sh}
IMAGES=${1:-1000}
REPORTS=${2:-200}
REF_REPORTS=${REF_REPORTS:-3}
[ -x "$SENSOR" ] || { echo "bench: $SENSOR missing: run ./build.sh" >&2; exit 1; }
[ -r "$REFERENCE" ] || { echo "bench: reference sensor $REFERENCE missing" >&2; exit 1; }
WORK=$(mktemp -d /var/tmp/placement-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Inputs: the same image ids for both sensors.
mkdir -p "$WORK/sif"
{
  printf '{\n  "version": 1,\n  "node": "bench",\n  "updated": "2026-01-01T00:00:00+00:00",\n  "cacheBytes": %d,\n  "freeBytes": 1,\n  "filesystemBytes": 2,\n  "highWatermarkBytes": 1,\n  "images": [' $((IMAGES * 1048576))
  for ((i = 0; i < IMAGES; i++)); do
    id=$(printf '%012x' "$i")
    ((i == 0)) || printf ','
    printf '\n    {\n      "id": "img_%s",\n      "ref": "docker://registry.example/app%d:1",\n      "digest": "sha256:%064x",\n      "size": 1048576,\n      "path": "/var/cache/placement/images/%064x/image.sqsh",\n      "lastUsed": "2026-01-01T00:00:00+00:00",\n      "pinned": false\n    }' "$id" "$i" "$i" "$i"
    : > "$WORK/sif/$id.sif"
  done
  printf '\n  ]\n}\n'
} > "$WORK/inventory.json"

# startup CMD...: median ms from exec to the end of the first report, then exit (20 runs).
startup() {
  local i t0 t1
  for ((i = 0; i < 20; i++)); do
    t0=$(date +%s%N)
    printf "\nquit\n" | HOST=bench SGE_IMG_DIR="$WORK/empty" "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
  done | sort -n | awk '{a[NR]=$1} END{printf "%.2f\n", (a[10]+a[11])/2/1000}'
}
# run_reports N CMD...: N report requests then quit, output to /dev/null; per report = (wall - start-up) / N.
# Prints: ms_per_report peak_rss_kb lines_per_report
run_reports() {
  local n=$1; shift
  local t0 t1 rss lines start
  lines=$(printf "\nquit\n" | HOST=bench SGE_IMG_DIR="$WORK/sif" "$@" 2>/dev/null | wc -l)
  start=$(startup "$@")
  t0=$(date +%s%N)
  rss=$( { for ((k = 0; k < n; k++)); do echo; done; echo quit; } |
    HOST=bench SGE_IMG_DIR="$WORK/sif" /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1)
  t1=$(date +%s%N)
  awk -v a="$t1" -v b="$t0" -v n="$n" -v s="$start" -v r="$rss" -v l="$lines" 'BEGIN{printf "%.3f %d %d\n", ((a-b)/1e6 - s)/n, r, l - 2}'
}

mkdir -p "$WORK/empty"
printf '{"cacheBytes":0,"freeBytes":0,"images":[]}\n' > "$WORK/empty.json"

read -r p_ms p_rss p_lines < <(run_reports "$REPORTS" "$SENSOR" --inventory "$WORK/inventory.json")
read -r r_ms r_rss r_lines < <(run_reports "$REF_REPORTS" sh "$REFERENCE")
p_start=$(startup "$SENSOR" --inventory "$WORK/empty.json")
r_start=$(startup sh "$REFERENCE")

echo "images: $IMAGES; machine: $(nproc) cores; placement reports: $REPORTS, reference reports: $REF_REPORTS"
printf '%-24s %14s %12s %14s %12s\n' sensor ms/report peak_RSS_MB startup_ms lines/report
printf '%-24s %14.3f %12.1f %14.2f %12d\n' placement-load-sensor "$p_ms" "$(awk -v r="$p_rss" 'BEGIN{print r/1024}')" "$p_start" "$p_lines"
printf '%-24s %14.3f %12.1f %14.2f %12d\n' "img-sensor.sh (ref)" "$r_ms" "$(awk -v r="$r_rss" 'BEGIN{print r/1024}')" "$r_start" "$r_lines"
awk -v a="$r_ms" -v b="$p_ms" -v c="$r_start" -v d="$p_start" \
  'BEGIN{printf "ratio (reference / placement): per report %.0fx, startup %.2fx\n", a/b, c/d}'
awk -v a="$p_ms" -v r="$p_rss" 'BEGIN{printf "goals: <= 5 ms per report: %s; <= 30 MB RSS: %s\n", (a <= 5 ? "met" : "NOT met"), (r <= 30720 ? "met" : "NOT met")}'
echo "(peak RSS: GNU time %M, the largest process of the sensor's tree; the reference forks basename and tr per image. startup: exec to the end of an empty report, median of 20)"
