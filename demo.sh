#!/usr/bin/env bash
# The Placement demo on one machine, as root: builds Placement's Debian package and installs it, brings up a real local
# cluster (MUNGE, slurmctld + 3 slurmd n1..n3, an OCI registry with test images), shows the node cache
# at work, and prints what to try next. Safe to run again. Stop everything: deploy/dev/cluster down
set -euo pipefail
cd "$(dirname "$0")"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "build the Debian package and install it, as an admin would on every node (docs/install.md)"
deb=$(./build.sh deb | sed -n 's/^build: Debian package //p')
[ -n "$deb" ] || { echo "demo: ./build.sh deb made no package" >&2; exit 1; }
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "$deb" >/dev/null
run dpkg-query -W -f '${Package} ${Version} ${Status}\n' placement

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

say "node cache (node n1's, as the plugin and agent on n1 use it): first pull downloads and builds a squashfs, second is a hit"
export PLACEMENT_CONFIG=$PLACEMENT_CONFIG_FILE PLACEMENT_NODE_NAME=n1
for node in n1 n2 n3; do  # start from a known state: the demo images cached nowhere
  for image in "$PLACEMENT_TEST_IMAGE_TINY" "$PLACEMENT_TEST_IMAGE_ALT"; do
    placement --node "$node" rm --force "docker://$image" >/dev/null 2>&1 || true
  done
done
run placement pull "docker://$PLACEMENT_TEST_IMAGE_TINY"
run placement pull "docker://$PLACEMENT_TEST_IMAGE_TINY"
run placement ls

say "Slurm: the SPANK plugin caches the image on the node before the job starts, and the task runs inside it"
run srun -w n3 --container-image="docker://$PLACEMENT_TEST_IMAGE_ALT" sh -c 'echo "on $SLURMD_NODENAME: $PLACEMENT_IMAGE_PATH"'
run srun -w n3 --container-image="docker://$PLACEMENT_TEST_IMAGE_ALT" cat /etc/os-release

say "the node agent publishes what n3 holds as a Slurm feature (sinfo -N -o '%N %f')"
sleep 2
run sinfo -N -o "%N %f"

say "a job without an image goes to the first free node; a job for the cached image is steered to n3"
run srun printenv SLURMD_NODENAME
run srun --container-image="docker://$PLACEMENT_TEST_IMAGE_ALT" sh -c 'echo $SLURMD_NODENAME'

say "a bad reference is refused at submit time; an unreachable registry fails the job, never the node"
printf '$ srun --container-image=%q true\n' 'ubuntu:22.04;rm -rf /'
srun --container-image='ubuntu:22.04;rm -rf /' true || true
run srun -w n2 --container-image=docker://127.0.0.1:9/nowhere/app:1 true || true
run sinfo -N -o "%N %t"

say "peer fetch: n3 holds the image; a job on n1 starts with a copy of n3's squashfs, and the registry serves no layer"
alt_repo=${PLACEMENT_TEST_IMAGE_ALT#*/}; alt_repo=${alt_repo%:*}
blob_gets() { grep -c "\"GET /v2/$alt_repo/" "$PLACEMENT_REGISTRY_LOG" || true; }
before=$(blob_gets)
run srun -w n1 --container-image="docker://$PLACEMENT_TEST_IMAGE_ALT" sh -c 'echo "on $SLURMD_NODENAME: $(head -n 1 /etc/os-release)"'
sleep 0.5
echo "registry requests for this image during the job: $(( $(blob_gets) - before )) (manifest and config; the layers came from n3)"
run grep -h 'peers: node n1: img_' "${PLACEMENT_DEV_STATE:-/var/tmp/placement-dev}/log/agent-n1.log" | tail -n 1

# ---- prefetch controller (issue 7; docs/prefetch.md) — begin ----------------------------------
say "prefetch: four jobs queue for an image no node holds; the controller warms it onto an idle node first"
for node in n1 n2 n3; do placement --node "$node" rm --force "docker://$PLACEMENT_TEST_IMAGE_TINY" >/dev/null 2>&1 || true; done
CONTROLLER_CONFIG=${PLACEMENT_DEV_STATE:-/var/tmp/placement-dev}/controller.json
agent_urls=$(tr ',' '\n' <<<"$PLACEMENT_AGENT_URLS" | sed 's/^\([^=]*\)=\(.*\)$/"\1": "\2"/' | paste -sd, -)
cat >"$CONTROLLER_CONFIG" <<JSON
{
  "Cache": { "Root": "$PLACEMENT_CACHE_ROOT" },
  "Prefetch": { "AgentUrls": { $agent_urls }, "IntervalSeconds": 2, "Listen": "" }
}
JSON
held=()
for _ in 1 2 3 4; do
  held+=("$(sbatch --parsable --hold --output=/dev/null --container-image="docker://$PLACEMENT_TEST_IMAGE_TINY" --wrap true)")
done
run squeue -t PD -o "%.6i %.8T %.30r %Y"
run placement --config "$CONTROLLER_CONFIG" controller --dry-run
run placement --config "$CONTROLLER_CONFIG" controller --once
sleep 3
for url in $(tr ',' '\n' <<<"$PLACEMENT_AGENT_URLS" | cut -d= -f2); do run placement warm --node-url "$url" --list; done
run scontrol release "$(IFS=,; echo "${held[*]}")"
sleep 3
run sinfo -N -o "%N %f"
printf 'Prometheus (agents warm-up and cache metrics): %s\n' "$PLACEMENT_PROMETHEUS_URL"

say "prefetch on Grid Engine: two held jobs for an image neither host holds; the controller warms it, the load sensor reports it"
# shellcheck disable=SC1091
. "${PLACEMENT_DEV_STATE:-/var/tmp/placement-dev}/sge.env"
IFS=, read -r -a sge_hosts <<<"$PLACEMENT_SGE_HOSTS"
for host in "${sge_hosts[@]}"; do placement --config "$PLACEMENT_SGE_CONFIG" --node "$host" rm --force "docker://$PLACEMENT_TEST_IMAGE_TINY" >/dev/null 2>&1 || true; done
SGE_CONTROLLER_CONFIG=${PLACEMENT_DEV_STATE:-/var/tmp/placement-dev}/controller-sge.json
sge_agent_urls=$(tr ',' '\n' <<<"$PLACEMENT_SGE_AGENT_URLS" | sed 's/^\([^=]*\)=\(.*\)$/"\1": "\2"/' | paste -sd, -)
sed '$d' "$PLACEMENT_SGE_CONFIG" >"$SGE_CONTROLLER_CONFIG"
printf '  ,"Prefetch": { "Scheduler": "sge", "AgentUrls": { %s }, "Listen": "" }\n}\n' "$sge_agent_urls" >>"$SGE_CONTROLLER_CONFIG"
sge_held=()
for _ in 1 2; do
  sge_held+=("$(cd /tmp && runuser -u "$PLACEMENT_SGE_USER" -- qsub -terse -h -o /dev/null -j y -l "container_image=$PLACEMENT_TEST_IMAGE_TINY" -b y true)")
done
run qstat -u '*'
run placement --config "$SGE_CONTROLLER_CONFIG" controller --once
sleep 7  # the warm-up, then one load report (5 s)
run qhost -F img_tiny,placement_images
qdel "${sge_held[@]}" >/dev/null
# ---- prefetch controller — end ------------------------------------------------------------------

cat <<MSG

What to try next (PLACEMENT_CONFIG=$PLACEMENT_CONFIG_FILE; --node n1|n2|n3 picks a node's cache):
  placement --help                                   every command (docs/cli.md)
  man placement; dpkg -L placement                   the installed package (docs/install.md)
  placement pull docker://$PLACEMENT_TEST_IMAGE_BIG     a ~300 MB multi-layer image
  for i in \$(seq 20); do placement pull docker://$PLACEMENT_TEST_IMAGE_ALT & done; wait
                                                     20 concurrent pulls, one download per blob
  placement inventory                                what the schedulers are told
  placement gc --dry-run; placement verify           maintenance
  sbatch --container-image=docker://$PLACEMENT_TEST_IMAGE_TINY --wrap 'cat /etc/os-release; env'
                                                     batch scripts run inside the image too
  srun --container-image=docker://$PLACEMENT_TEST_IMAGE_BIG true; sinfo -N -o '%N %f'
  docs/slurm.md                                      the slurm.conf lines a site adds
  placement warm --node-url http://127.0.0.1:9462/ --wait docker://$PLACEMENT_TEST_IMAGE_BIG
                                                     ask n2's agent to prefetch (MUNGE-authenticated)
  placement --config $CONTROLLER_CONFIG controller --dry-run
                                                     the prefetch plan for the current queue, with reasons
  deploy/dev/cluster controller up                   run the prefetch controllers (Slurm, Grid Engine) as daemons
  curl -s http://127.0.0.1:9461/metrics | grep ^placement_   a node agent's metrics
  $PLACEMENT_PROMETHEUS_URL                           Prometheus scraping the three agents (docs/metrics.md)
  deploy/dev/cluster status | down                   inspect or stop everything
MSG
