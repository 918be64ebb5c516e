# shellcheck shell=bash
# Shared by the bench/ programs: the dev cluster's environment, the built binary, timing helpers.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PLACEMENT=${PLACEMENT:-$ROOT/out/bin/placement}
STATE=${PLACEMENT_DEV_STATE:-/var/tmp/placement-dev}
[ -x "$PLACEMENT" ] || { echo "bench: $PLACEMENT missing: run ./build.sh" >&2; exit 1; }
[ -f "$STATE/cluster.env" ] || { echo "bench: dev cluster not running: run deploy/dev/cluster up" >&2; exit 1; }
# shellcheck disable=SC1091
. "$STATE/cluster.env"
WORK=$(mktemp -d /var/tmp/placement-bench.XXXXXX)
chmod 755 "$WORK"  # file images are only taken from directories every user can read
trap 'rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN{printf "%.3f", a-b}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
fmt() { printf '%.2f' "$1"; }

# blob digests (layers) of an image in the dev registry
layers() { # layers REPO TAG
  curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$PLACEMENT_REGISTRY/v2/$1/manifests/$2" | jq -r '.layers[].digest'
}
blob_gets() { grep -c "\"GET /v2/${2:-[^ ]*}/blobs/$1 " "$PLACEMENT_REGISTRY_LOG" || true; }  # blob_gets DIGEST [REPO]
