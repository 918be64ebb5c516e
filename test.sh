#!/usr/bin/env bash
# Runs every Placement test on this machine, as root: builds all artifacts (NativeAOT + C SPANK shim),
# brings up the real local cluster (MUNGE, slurmctld, 3 slurmd, OCI registry with test images; see
# deploy/dev/README.md), and runs the NUnit suite (unit tests and tests against the real components).
# Ends with "N passed, N failed, N skipped". Stops the cluster afterwards if it started it.
# Usage: ./test.sh [dotnet test --filter expression]
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
RESULTS=$ROOT/out/test-results
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

./build.sh
# The packaging specs check the Debian package with Debian's own policy checker.
if ! command -v lintian >/dev/null; then
  echo "test: installing lintian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian >/dev/null
fi
# A cluster someone brought up (cluster.env exists) is left running, even when one of its components
# happens to be restarting right now; only a cluster this run started is stopped again.
was_up=0
[ -e "${PLACEMENT_DEV_STATE:-/var/tmp/placement-dev}/cluster.env" ] && was_up=1
deploy/dev/cluster up
stop_cluster() { [ "$was_up" = 1 ] || deploy/dev/cluster down >/dev/null 2>&1 || true; }
trap stop_cluster EXIT

rm -rf "$RESULTS"
filter=()
[ $# -gt 0 ] && filter=(--filter "$1")
set +e
dotnet test tests/Placement.Tests/Placement.Tests.csproj -c Release --nologo \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  --results-directory "$RESULTS" "${filter[@]}"
rc=$?
set -e

counters=$(grep -o '<Counters [^>]*>' "$RESULTS"/results.trx 2>/dev/null || true)
num() { printf '%s' "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
passed=$(num passed); failed=$(num failed); total=$(num total); executed=$(num executed)
passed=${passed:-0}; failed=${failed:-0}; total=${total:-0}; executed=${executed:-0}
skipped=$(( total - executed ))
if [ -z "$counters" ]; then
  echo "test: no results (build or test host failure, exit $rc)"
  failed=$(( failed > 0 ? failed : 1 ))
fi
summary="$passed passed, $failed failed, $skipped skipped"
echo "$summary" > "$RESULTS/summary.txt"
stop_cluster
trap - EXIT
echo "$summary"
[ "$rc" = 0 ] && [ "$failed" = 0 ]
