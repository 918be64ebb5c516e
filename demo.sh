#!/usr/bin/env bash
# The Placement demo on one machine, as root: builds and installs Placement, brings up a real local
# cluster (MUNGE, slurmctld + 3 slurmd n1..n3, an OCI registry with test images), shows the node cache
# at work, and prints what to try next. Safe to run again. Stop everything: deploy/dev/cluster down
set -euo pipefail
cd "$(dirname "$0")"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "build and install (NativeAOT binaries, SPANK plugin)"
./build.sh install /usr | tail -n 3

say "bring up the local cluster"
deploy/dev/cluster up
# shellcheck disable=SC1091
. "${PLACEMENT_DEV_STATE:-/var/tmp/placement-dev}/cluster.env"

say "image references: every accepted form normalizes to one canonical string and a scheduler id"
run placement ref ubuntu:22.04
run placement ref 'nvcr.io#nvidia/pytorch:24.01-py3'
run placement ref "docker://$PLACEMENT_TEST_IMAGE_TINY"
printf '$ placement ref %q\n' 'ubuntu:22.04;rm -rf /'
placement ref 'ubuntu:22.04;rm -rf /' || echo "(exit $?: refused with the reason)"

say "node cache: the first pull downloads and builds a squashfs, the second is a hit"
run placement pull "docker://$PLACEMENT_TEST_IMAGE_TINY"
run placement pull "docker://$PLACEMENT_TEST_IMAGE_TINY"
run placement ls

say "the cluster"
run sinfo
run srun -N3 -l hostname

cat <<MSG

What to try next:
  placement --help                                   every command (docs/cli.md)
  placement pull docker://$PLACEMENT_TEST_IMAGE_BIG     a ~300 MB multi-layer image
  for i in \$(seq 20); do placement pull docker://$PLACEMENT_TEST_IMAGE_ALT & done; wait
                                                     20 concurrent pulls, one download per blob
  placement inventory                                what the schedulers are told
  placement gc --dry-run; placement verify           maintenance
  srun -w n2 hostname; sbatch --wrap 'hostname'      the 3-node Slurm cluster
  deploy/dev/cluster status | down                   inspect or stop everything
MSG
