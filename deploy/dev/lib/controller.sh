# shellcheck shell=bash
# deploy/dev/lib/controller.sh — the prefetch controllers of the dev cluster (sourced by deploy/dev/cluster). OPT-IN:
# a running controller warms images onto idle nodes by itself, which would change what tests see in the caches, so
# `cluster up` starts them only with PLACEMENT_DEV_CONTROLLER=1 (or `cluster controller up`), and a plain `cluster up`
# leaves them as they are. `cluster controller down` (and `cluster down`) stops them.
#
# Two daemons (`placement controller`, docs/prefetch.md), one per scheduler:
#   slurm  n1..n3 through their agents (127.0.0.1:9461..9463), /metrics on 127.0.0.1:9465
#   sge    the cell's hosts through their agents (127.0.0.1:9471, 9472; deploy/dev/lib/sge.sh), /metrics on 127.0.0.1:9466
# The dev Prometheus scrapes them (job placement-controller) through $PROM_DIR/controller-targets.json, which lists
# the running ones (file_sd: no Prometheus restart).

readonly CONTROLLER_KINDS=(slurm sge)
readonly CONTROLLER_INTERVAL=5

controller_listen() { if [[ $1 == slurm ]]; then echo 127.0.0.1:9465; else echo 127.0.0.1:9466; fi; }
controller_config_file() { echo "$STATE/etc/controller-$1.json"; }
controller_pidfile() { echo "$STATE/run/controller-$1.pid"; }
controller_log() { echo "$STATE/log/controller-$1.log"; }
controller_pid() { pid_of "$(controller_pidfile "$1")" placement; }
controller_ready() { controller_pid "$1" >/dev/null && curl -fsS -o /dev/null --max-time 2 "http://$(controller_listen "$1")/metrics"; }

controller_config() {
    local urls node
    if [[ $1 == slurm ]]; then
        urls=$(for node in "${NODES[@]}"; do printf '"%s": "http://%s/",' "$node" "$(agent_listen "$node")"; done)
        cat <<EOF2
{
  "Cache": { "Root": "$PLACEMENT_CACHE_ROOT" },
  "Prefetch": { "Scheduler": "slurm", "AgentUrls": { ${urls%,} }, "IntervalSeconds": $CONTROLLER_INTERVAL, "Listen": "$(controller_listen slurm)" }
}
EOF2
    else
        urls=$(for node in "$SGE_HOST" "$SGE_HOST2"; do printf '"%s": "http://%s/",' "$node" "$(sge_agent_listen "$node")"; done)
        # The cell's catalog: ids as the JSV computes them (img_tiny).
        sge_placement_config | sed '$d'
        printf '  ,"Prefetch": { "Scheduler": "sge", "AgentUrls": { %s }, "IntervalSeconds": %s, "Listen": "%s" }\n}\n' \
            "${urls%,}" "$CONTROLLER_INTERVAL" "$(controller_listen sge)"
    fi
}

# Prometheus file_sd targets: the controllers that run.
controller_write_targets() {
    local kind entries=()
    mkdir -p "$PROM_DIR"
    for kind in "${CONTROLLER_KINDS[@]}"; do
        controller_pid "$kind" >/dev/null && entries+=("{\"targets\": [\"$(controller_listen "$kind")\"], \"labels\": {\"scheduler\": \"$kind\"}}")
    done
    printf '[%s]\n' "$(IFS=,; echo "${entries[*]}")" | write_if_changed "$PROM_DIR/controller-targets.json" || true
}

# `cluster up` calls this: starts the controllers only when asked to.
controller_up() {
    if [[ ${PLACEMENT_DEV_CONTROLLER:-0} != 1 ]]; then
        controller_write_targets
        return 0
    fi
    controller_start
}

controller_start() {
    local kind pid exe config_changed
    [[ -x $PLACEMENT_BIN ]] || die "controller: $PLACEMENT_BIN is not built (run ./build.sh)"
    mkdir -p "$STATE/etc" "$STATE/run" "$STATE/log"
    for kind in "${CONTROLLER_KINDS[@]}"; do
        config_changed=0
        if controller_config "$kind" | write_if_changed "$(controller_config_file "$kind")"; then config_changed=1; fi
        if pid=$(controller_pid "$kind"); then
            exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
            if ((config_changed == 0)) && [[ $exe == "$PLACEMENT_BIN" ]]; then
                log "controller: $kind already running (pid $pid)"
                continue
            fi
            stop_pidfile "controller $kind" "$(controller_pidfile "$kind")" placement
        fi
        [[ ! -e $(controller_log "$kind") ]] || mv -f "$(controller_log "$kind")" "$(controller_log "$kind").1"
        setsid "$PLACEMENT_BIN" --config "$(controller_config_file "$kind")" controller \
            </dev/null >"$(controller_log "$kind")" 2>&1 &
        echo $! >"$(controller_pidfile "$kind")"
        wait_for "controller $kind serving /metrics" 15 "$(controller_log "$kind")" controller_ready "$kind"
        log "controller: $kind running (pid $(controller_pid "$kind")), every $CONTROLLER_INTERVAL s, /metrics on http://$(controller_listen "$kind")/, log $(controller_log "$kind")"
    done
    controller_write_targets
}

controller_down() {
    local kind
    for kind in "${CONTROLLER_KINDS[@]}"; do
        stop_pidfile "controller $kind" "$(controller_pidfile "$kind")" placement
    done
    controller_write_targets
}

# Off is a normal state (opt-in): status fails only for a controller whose pid file exists but whose process died.
controller_status() {
    local kind pid rc=0
    for kind in "${CONTROLLER_KINDS[@]}"; do
        if pid=$(controller_pid "$kind"); then
            echo "controller $kind up    pid $pid, /metrics http://$(controller_listen "$kind")/, config $(controller_config_file "$kind"), log $(controller_log "$kind")"
        elif [[ -e $(controller_pidfile "$kind") ]]; then
            echo "controller $kind DOWN  (died; log $(controller_log "$kind"))"
            rc=1
        else
            echo "controller $kind off   (opt-in: PLACEMENT_DEV_CONTROLLER=1 deploy/dev/cluster up, or deploy/dev/cluster controller up)"
        fi
    done
    return $rc
}
