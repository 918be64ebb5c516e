# shellcheck shell=bash
# deploy/dev/lib/sge.sh — the Son of Grid Engine 8.1.9 cell of the dev cluster (sourced by deploy/dev/cluster).
#
# Two execution hosts on this machine: "$SGE_HOST" (this host, `hostname`) and "$SGE_HOST2" (vm2), an sge_execd in a
# network namespace (veth 10.9.0.1 <-> 10.9.0.2) and its own UTS namespace, so jobs have a choice of hosts. The host
# names live in /etc/hosts (10.9.0.1 this host, 10.9.0.2 vm2): Grid Engine needs every host name to resolve to the
# address its connections come from. These in-sandbox addresses are the only non-loopback ones used.
# Order matters (DESIGN §5): /etc/hosts, qmaster, complexes + global conf + scheduler + hosts + all.q, the hosts' local configurations (gid_range), THEN execd.
# The registry (127.0.0.1:5000) is made reachable from vm2 under the same address by two socat forwarders.

readonly SGE_ROOT_DIR=/var/lib/gridengine
readonly SGE_SPOOL=/var/spool/gridengine
readonly SGE_QMASTER_PIDFILE=$SGE_SPOOL/qmaster/qmaster.pid
readonly SGE_HOST2=vm2
readonly SGE_NETNS=placement-vm2
readonly SGE_ADDR1=10.9.0.1 SGE_ADDR2=10.9.0.2
readonly SGE_VETH1=pl-vm SGE_VETH2=pl-vm2
readonly SGE_USER=placementuser
readonly SGE_STATE=$STATE/sge
readonly SGE_CONFIG=$STATE/etc/placement-sge.json
readonly SGE_AGENT_CONFIG=$STATE/etc/placement-sge-agent.json
readonly SGE_RUN_DIR=/run/placement/sge
readonly SGE_PACKAGES=(gridengine-common gridengine-client gridengine-master gridengine-exec socat)
SGE_HOST=$(hostname -s)
readonly SGE_HOST

export SGE_ROOT=$SGE_ROOT_DIR SGE_CELL=default

sge_execd_pidfile() { echo "$SGE_SPOOL/execd/$1/execd.pid"; }
sge_qmaster_pid() { pid_of "$SGE_QMASTER_PIDFILE" sge_qmaster; }
sge_execd_pid() { pid_of "$(sge_execd_pidfile "$1")" sge_execd; }
sge_answers() { qconf -sh >/dev/null 2>&1; }

# Debconf preseeding so the packages initialise the cell without questions (DESIGN §5).
sge_install() {
    local missing=() pkg p
    for pkg in "${SGE_PACKAGES[@]}"; do
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) == installed ]] || missing+=("$pkg")
    done
    ((${#missing[@]} > 0)) || return 0
    local t0=${EPOCHREALTIME/./}
    log "sge: installing ${missing[*]}"
    for p in gridengine-common gridengine-client gridengine-master gridengine-exec; do
        printf '%s shared/gridengineconfig boolean true\n%s shared/gridenginecell string default\n%s shared/gridenginemaster string %s\n' \
            "$p" "$p" "$p" "$SGE_HOST"
    done | debconf-set-selections
    local made_policy=0 rc=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
            { DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; }
    } >>"$STATE/log/apt.log" 2>&1 || rc=$?
    ((made_policy == 0)) || rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || { tail_of "$STATE/log/apt.log" 25 >&2; die "sge: apt-get failed (exit $rc) installing ${missing[*]}"; }
    log "sge: installed ${#missing[@]} packages in $(since "$t0")"
}

# /etc/hosts with both host names on the veth addresses (and nowhere else). Written in place with `cat >`:
# the file may be a bind mount, where sed -i and mv fail.
sge_hosts_content() {
    awk -v a="$SGE_HOST" -v b="$SGE_HOST2" '
        /# placement dev sge$/ { next }
        /^[[:space:]]*(#|$)/ { print; next }
        { out = $1; n = 0
          for (i = 2; i <= NF; i++) { if ($i ~ /^#/) break; if ($i != a && $i != b) { out = out " " $i; n++ } }
          if (n > 0) print out }' /etc/hosts
    printf '%s %s # placement dev sge\n%s %s # placement dev sge\n' "$SGE_ADDR1" "$SGE_HOST" "$SGE_ADDR2" "$SGE_HOST2"
}

sge_network_up() {
    local want
    want=$(sge_hosts_content)
    if [[ $want != "$(cat /etc/hosts)" ]]; then
        printf '%s\n' "$want" >"$STATE/run/hosts.new"
        cat "$STATE/run/hosts.new" >/etc/hosts
        rm -f "$STATE/run/hosts.new"
        log "sge: /etc/hosts: $SGE_HOST=$SGE_ADDR1 $SGE_HOST2=$SGE_ADDR2"
    fi
    [[ -e /run/netns/$SGE_NETNS ]] || ip netns add "$SGE_NETNS"
    if ! ip link show "$SGE_VETH1" >/dev/null 2>&1; then
        ip link add "$SGE_VETH1" type veth peer name "$SGE_VETH2"
        ip link set "$SGE_VETH2" netns "$SGE_NETNS"
    fi
    ip -br addr show "$SGE_VETH1" | grep -q "$SGE_ADDR1/" || ip addr add "$SGE_ADDR1/24" dev "$SGE_VETH1"
    ip link set "$SGE_VETH1" up
    ip netns exec "$SGE_NETNS" sh -c "
        ip -br addr show $SGE_VETH2 | grep -q '$SGE_ADDR2/' || ip addr add $SGE_ADDR2/24 dev $SGE_VETH2
        ip link set $SGE_VETH2 up; ip link set lo up"
}

# The registry under its usual address from inside vm2: vm2's 127.0.0.1:5000 -> 10.9.0.1:5000 -> 127.0.0.1:5000.
sge_forwarders_up() {
    if ! pid_of "$STATE/run/sge-fwd-host.pid" socat >/dev/null; then
        setsid socat "TCP-LISTEN:5000,bind=$SGE_ADDR1,fork,reuseaddr" "TCP:$REGISTRY" </dev/null >>"$STATE/log/sge-forward.log" 2>&1 &
        echo $! >"$STATE/run/sge-fwd-host.pid"
    fi
    if ! pid_of "$STATE/run/sge-fwd-vm2.pid" socat >/dev/null; then
        setsid nsenter "--net=/run/netns/$SGE_NETNS" -- socat "TCP-LISTEN:5000,bind=127.0.0.1,fork,reuseaddr" "TCP:$SGE_ADDR1:5000" \
            </dev/null >>"$STATE/log/sge-forward.log" 2>&1 &
        echo $! >"$STATE/run/sge-fwd-vm2.pid"
    fi
}

sge_vm2_registry_answers() {
    nsenter "--net=/run/netns/$SGE_NETNS" -- curl -fsS -o /dev/null --max-time 2 "http://$REGISTRY/v2/" 2>/dev/null
}

# Placement's configuration for the cell: one cache per execution host (%n = the host name).
sge_placement_config() {
    cat <<EOF2
{
  "Cache": { "Root": "$SGE_STATE/cache/%n", "LockTimeoutSeconds": 600 },
  "Registries": { "MaxAttempts": 2, "RetryBaseDelayMilliseconds": 100 },
  "Catalog": { "tiny": { "Ref": "$REGISTRY/placement/tiny:1" } }
}
EOF2
}

# The node agents of the execution hosts (HTTP API for the prefetch controller: inventory, warm-ups, /metrics). Their
# own file: the cell's config plus Agent (no Slurm features to publish, the load sensor reports the images; no socket).
sge_agent_config() {
    sge_placement_config | sed '$d'
    printf '  ,"Agent": { "PublishFeatures": false, "Socket": "" }\n'
    # Peer fetch between the two hosts: holders from qhost's placement_images, agents at their dev addresses.
    printf '  ,"Peers": { "Discovery": "sge" }\n'
    printf '  ,"Prefetch": { "AgentUrls": { "%s": "http://%s/", "%s": "http://%s/" } }\n}\n' \
        "$SGE_HOST" "$(sge_agent_listen "$SGE_HOST")" "$SGE_HOST2" "$(sge_agent_listen "$SGE_HOST2")"
}

# HTTP address of host $1's agent: this host 127.0.0.1:9471, vm2 127.0.0.1:9472 (both run here, in the host's network
# namespace: an agent only needs its cache directory and the registry).
sge_agent_listen() { if [[ $1 == "$SGE_HOST" ]]; then echo 127.0.0.1:9471; else echo 127.0.0.1:9472; fi; }
sge_agent_pidfile() { echo "$STATE/run/agent-sge-$1.pid"; }
sge_agent_log() { echo "$STATE/log/agent-sge-$1.log"; }
sge_agent_pid() { pid_of "$(sge_agent_pidfile "$1")" placement; }
sge_agent_ready() { sge_agent_pid "$1" >/dev/null && grep -q 'placement agent: ready' "$(sge_agent_log "$1")"; }

# One `placement agent --node HOST` per execution host; restarted when the binary or its config changed.
sge_agents_up() {
    local h pid exe config_changed=0 started=()
    if [[ ! -x $PLACEMENT_BIN ]]; then
        log "sge: $PLACEMENT_BIN is not built: no node agents for $SGE_HOST, $SGE_HOST2"
        return 0
    fi
    if sge_agent_config | write_if_changed "$SGE_AGENT_CONFIG"; then config_changed=1; fi
    for h in "$SGE_HOST" "$SGE_HOST2"; do
        if pid=$(sge_agent_pid "$h"); then
            exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
            if ((config_changed == 0)) && [[ $exe == "$PLACEMENT_BIN" ]]; then
                continue
            fi
            stop_pidfile "sge agent $h" "$(sge_agent_pidfile "$h")" placement
        fi
        [[ ! -e $(sge_agent_log "$h") ]] || mv -f "$(sge_agent_log "$h")" "$(sge_agent_log "$h").1"
        setsid "$PLACEMENT_BIN" agent --config "$SGE_AGENT_CONFIG" --node "$h" --listen "$(sge_agent_listen "$h")" \
            </dev/null >"$(sge_agent_log "$h")" 2>&1 &
        echo $! >"$(sge_agent_pidfile "$h")"
        started+=("$h")
    done
    for h in "${started[@]}"; do
        wait_for "sge agent $h ready" 15 "$(sge_agent_log "$h")" sge_agent_ready "$h"
        log "sge: agent $h on http://$(sge_agent_listen "$h")/"
    done
}

# qconf_apply WHAT SHOW_COMMAND MODIFY_OPTION FILE: modify an object only when it differs (qconf -M* is ~50 ms each).
sge_apply_if_changed() {
    local what=$1 file=$2 current=$3 option=$4
    if ! cmp -s <(tr -s " \t" " " <"$file") <(tr -s " \t" " " <"$current"); then
        qconf "$option" "$file" >>"$STATE/log/sge-config.log" 2>&1 ||
            { tail_of "$STATE/log/sge-config.log" >&2; die "sge: qconf $option ($what) failed"; }
        log "sge: configured $what"
    fi
}

# qconf wraps long values with a trailing backslash: join them so a line can be edited and compared.
sge_unwrap() {
    sed -e :a -e '/\\$/N; s/\\\n[[:space:]]*//; ta'
}

sge_configure() {
    local w=$SGE_STATE/conf placement=$REPO/out/bin/placement
    mkdir -p "$w"
    if [[ -x $placement ]]; then
        "$placement" --config "$SGE_CONFIG" sge complexes --apply >>"$STATE/log/sge-config.log" 2>&1 ||
            { tail_of "$STATE/log/sge-config.log" >&2; die "sge: placement sge complexes --apply failed"; }
    else
        log "sge: warning: $placement is not built: complexes not configured (run ./build.sh, then up again)"
    fi
    # global configuration: the load sensor, 5 s load reports, the JSV. The file name must be the config's name.
    mkdir -p "$w/new" "$w/cur"
    qconf -sconf global | sge_unwrap >"$w/cur/global"
    sed -e "s#^load_sensor .*#load_sensor                  $REPO/out/bin/placement-load-sensor#" \
        -e 's#^load_report_time .*#load_report_time             00:00:05#' \
        -e "s#^jsv_url .*#jsv_url                      $REPO/deploy/sge/placement-jsv.sh#" \
        "$w/cur/global" >"$w/new/global"
    sge_apply_if_changed "global configuration" "$w/new/global" "$w/cur/global" -Mconf
    qconf -ssconf | sge_unwrap >"$w/cur/sched"
    sed -e 's/^schedule_interval .*/schedule_interval                 0:0:1/' \
        -e 's/^flush_submit_sec .*/flush_submit_sec                  1/' \
        -e 's/^flush_finish_sec .*/flush_finish_sec                  1/' \
        -e 's/^schedd_job_info .*/schedd_job_info                   true/' "$w/cur/sched" >"$w/new/sched"
    sge_apply_if_changed "scheduler (1 s intervals)" "$w/new/sched" "$w/cur/sched" -Msconf
    local h
    for h in "$SGE_HOST" "$SGE_HOST2"; do
        if ! qconf -se "$h" >/dev/null 2>&1; then
            printf 'hostname %s\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\nprojects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n' "$h" >"$w/exechost"
            qconf -Ae "$w/exechost" >>"$STATE/log/sge-config.log" 2>&1 || die "sge: qconf -Ae $h failed"
        fi
    done
    qconf -ss 2>/dev/null | grep -qx "$SGE_HOST" || qconf -as "$SGE_HOST" >>"$STATE/log/sge-config.log" 2>&1
    local pe
    for pe in /usr/share/gridengine/util/resources/pe/*; do
        qconf -sp "${pe##*/}" >/dev/null 2>&1 || qconf -Ap "$pe" >>"$STATE/log/sge-config.log" 2>&1
    done
    printf 'group_name @allhosts\nhostlist %s %s\n' "$SGE_HOST" "$SGE_HOST2" >"$w/new/allhosts"
    if qconf -shgrp @allhosts >"$w/cur/allhosts" 2>/dev/null; then
        [[ $(qconf -shgrp_resolved @allhosts 2>/dev/null | tr ' ' '\n' | sort | paste -sd' ') == "$(printf '%s\n' "$SGE_HOST" "$SGE_HOST2" | sort | paste -sd' ')" ]] ||
            sge_apply_if_changed "@allhosts" "$w/new/allhosts" "$w/cur/allhosts" -Mhgrp
    else
        qconf -Ahgrp "$w/new/allhosts" >>"$STATE/log/sge-config.log" 2>&1 || die "sge: qconf -Ahgrp failed"
    fi
    local q_exists=0
    if qconf -sq all.q >"$w/cur/raw" 2>/dev/null; then q_exists=1; else qconf -sq >"$w/cur/raw"; fi
    sge_unwrap <"$w/cur/raw" >"$w/cur/all.q"
    sed -e 's/^qname .*/qname                 all.q/' -e 's/^hostlist .*/hostlist              @allhosts/' \
        -e 's/^slots .*/slots                 2/' \
        -e 's/^load_thresholds .*/load_thresholds       NONE/' \
        -e "s#^starter_method .*#starter_method        $REPO/deploy/sge/placement-starter.sh#" \
        -e "s#^prolog .*#prolog                root@$REPO/out/bin/placement --config $SGE_CONFIG sge prolog#" \
        -e "s#^epilog .*#epilog                root@$REPO/out/bin/placement --config $SGE_CONFIG sge epilog#" \
        "$w/cur/all.q" >"$w/new/all.q"
    if ((q_exists)); then
        sge_apply_if_changed all.q "$w/new/all.q" "$w/cur/all.q" -Mq
    else
        qconf -Aq "$w/new/all.q" >>"$STATE/log/sge-config.log" 2>&1 || die "sge: qconf -Aq all.q failed"
        log "sge: created all.q"
    fi
}

# Additional group ids: every job's processes carry one from gid_range (add_grp_id in the shepherd's config), and when
# a job ends its shepherd SIGKILLs every process on the machine with that supplementary group (SoGE 8.1.9 turns
# ENABLE_ADDGRP_KILL on by default). Each execd hands ids out of the range alone, knowing only its own jobs, and both
# execds share this machine's kernel: with one range, a job on one host got the id of a job running on the other and
# the end of either killed the other (failed 100 "assumedly after job", exit 137, often 0 s after its start). So each
# host gets its own part of the global range (65400-65500) in its local configuration (docs/gridengine.md).
sge_gid_range() { if [[ $1 == "$SGE_HOST" ]]; then echo 65400-65449; else echo 65450-65499; fi; }

# Sets gid_range in each host's local configuration (qconf -Aconf/-Mconf; the file name must be the host name) and
# stops a running execd whose range changed: an execd reads gid_range only when it starts (sge_start_execd restarts
# it; its jobs go on running).
sge_local_configs() {
    local w=$SGE_STATE/conf/local h want option
    mkdir -p "$w"
    for h in "$SGE_HOST" "$SGE_HOST2"; do
        want="gid_range $(sge_gid_range "$h")"
        option=-Aconf
        if qconf -sconf "$h" 2>/dev/null | sge_unwrap >"$w/$h.cur"; then
            option=-Mconf
            [[ $(grep -E '^gid_range[[:space:]]' "$w/$h.cur" | tr -s ' \t' ' ') != "$want" ]] || continue
        else
            : >"$w/$h.cur"
        fi
        { grep -vE '^(#|gid_range[[:space:]]|[[:space:]]*$)' "$w/$h.cur" || true; echo "$want"; } >"$w/$h"
        qconf "$option" "$w/$h" >>"$STATE/log/sge-config.log" 2>&1 ||
            { tail_of "$STATE/log/sge-config.log" >&2; die "sge: qconf $option $h (gid_range) failed"; }
        log "sge: configured $h: $want"
        if sge_execd_pid "$h" >/dev/null; then
            stop_pidfile "sge_execd $h (restarted for its gid_range)" "$(sge_execd_pidfile "$h")" sge_execd
        fi
    done
}

# The daemons run as root (bootstrap admin_user). With another admin user SoGE 8.1.9 kills the prolog and epilog of
# every job that may use a pty (qrsh <command> without -pty no, qrsh -pty yes, qlogin, qsub -pty yes) before they
# start: the shepherd opens their output as the job owner and cannot switch back to the admin user ("Cannot reset
# euid", gridengine/gridengine#10), so they exit 143 and the queue instance goes into error state (docs/gridengine.md).
# The daemons read the file when they start.
sge_admin_user_root() {
    local f=$SGE_ROOT_DIR/$SGE_CELL/common/bootstrap
    grep -qE '^admin_user[[:space:]]+root[[:space:]]*$' "$f" && return 0
    sed -E 's/^admin_user[[:space:]].*/admin_user              root/' "$f" >"$STATE/run/bootstrap.new"
    cat "$STATE/run/bootstrap.new" >"$f"
    rm -f "$STATE/run/bootstrap.new"
    log "sge: $f: admin_user root (daemons started before keep their user until restarted)"
}

sge_start_execd() { # HOST
    local h=$1
    if sge_execd_pid "$h" >/dev/null; then return 0; fi
    # The load sensor inherits execd's environment: PLACEMENT_CONFIG tells it where the cache is.
    if [[ $h == "$SGE_HOST" ]]; then
        PLACEMENT_CONFIG=$SGE_CONFIG /usr/sbin/sge_execd >>"$STATE/log/sge-execd.log" 2>&1 ||
            die "sge: sge_execd ($h) failed to start"
    else
        nsenter "--net=/run/netns/$SGE_NETNS" -- unshare --uts -- /bin/sh -c \
            "hostname $h && PLACEMENT_CONFIG=$SGE_CONFIG exec /usr/sbin/sge_execd" >>"$STATE/log/sge-execd.log" 2>&1 ||
            die "sge: sge_execd ($h) failed to start"
    fi
    log "sge: started sge_execd $h"
}

# Both hosts report load (qhost shows a load average instead of "-") and both queue instances are usable.
sge_hosts_ready() {
    local out
    out=$(qstat -f -q all.q 2>/dev/null) || return 1
    [[ $(grep -cE "^all\.q@($SGE_HOST|$SGE_HOST2) +[A-Z]+ +[0-9]+/[0-9]+/[0-9]+ +[0-9.]+ " <<<"$out") -eq 2 ]]
}

sge_up() {
    local t0=${EPOCHREALTIME/./} pid
    mkdir -p "$SGE_STATE/cache" "$SGE_STATE/out" "$STATE/run" "$STATE/log" "$STATE/etc"
    chmod 0755 "$SGE_STATE" "$SGE_STATE/cache"
    chmod 1777 "$SGE_STATE/out"
    sge_install
    sge_network_up
    sge_placement_config | write_if_changed "$SGE_CONFIG" || true
    id "$SGE_USER" >/dev/null 2>&1 || useradd -m -K UID_MIN=1000 "$SGE_USER"
    sge_forwarders_up
    sge_admin_user_root

    if pid=$(sge_qmaster_pid); then
        log "sge: sge_qmaster already running (pid $pid)"
    else
        # The JSV runs in qmaster's environment: it finds the catalog through PLACEMENT_CONFIG.
        PLACEMENT_CONFIG=$SGE_CONFIG /usr/sbin/sge_qmaster >>"$STATE/log/sge-qmaster.log" 2>&1 ||
            { tail_of "$SGE_SPOOL/qmaster/messages" >&2; die "sge: sge_qmaster failed to start"; }
        wait_for "sge_qmaster answering qconf -sh" 30 "$SGE_SPOOL/qmaster/messages" sge_answers
        log "sge: sge_qmaster up (pid $(sge_qmaster_pid)) after $(since "$t0")"
    fi
    sge_configure
    sge_local_configs
    sge_start_execd "$SGE_HOST"
    sge_start_execd "$SGE_HOST2"
    wait_for "sge execution hosts $SGE_HOST and $SGE_HOST2 reporting load" 60 "$SGE_SPOOL/qmaster/messages" sge_hosts_ready
    wait_for "registry reachable from $SGE_HOST2" 10 "$STATE/log/sge-forward.log" sge_vm2_registry_answers
    sge_agents_up
    # Queue instances left in error state by an earlier run come back.
    qmod -c '*' >/dev/null 2>&1 || true
    {
        echo "SGE_ROOT=$SGE_ROOT"
        echo "SGE_CELL=$SGE_CELL"
        echo "PLACEMENT_SGE_HOSTS=$SGE_HOST,$SGE_HOST2"
        echo "PLACEMENT_SGE_CONFIG=$SGE_CONFIG"
        echo "PLACEMENT_SGE_CACHE_ROOT=$SGE_STATE/cache/%n"
        echo "PLACEMENT_SGE_USER=$SGE_USER"
        echo "PLACEMENT_SGE_OUTPUT=$SGE_STATE/out"
        echo "PLACEMENT_SGE_RUN_DIR=$SGE_RUN_DIR"
        echo "PLACEMENT_SGE_AGENT_URLS=$SGE_HOST=http://$(sge_agent_listen "$SGE_HOST")/,$SGE_HOST2=http://$(sge_agent_listen "$SGE_HOST2")/"
    } >"$STATE/sge.env.tmp"
    mv -f "$STATE/sge.env.tmp" "$STATE/sge.env"
    log "sge: cell up in $(since "$t0"): $(qhost -h "$SGE_HOST,$SGE_HOST2" 2>/dev/null | awk 'NR > 3 {printf "%s(load %s) ", $1, $4}')"
}

sge_down() {
    local h m
    if sge_qmaster_pid >/dev/null && sge_answers; then
        if [[ -n $(qstat -u '*' 2>/dev/null) ]]; then
            log "sge: deleting all jobs"
            qdel -f -u '*' >/dev/null 2>&1 || true
        fi
    fi
    for h in "$SGE_HOST2" "$SGE_HOST"; do
        stop_pidfile "sge agent $h" "$(sge_agent_pidfile "$h")" placement
        stop_pidfile "sge_execd $h" "$(sge_execd_pidfile "$h")" sge_execd
    done
    stop_pidfile sge_qmaster "$SGE_QMASTER_PIDFILE" sge_qmaster
    stop_pidfile "registry forwarder ($SGE_HOST2)" "$STATE/run/sge-fwd-vm2.pid" socat
    stop_pidfile "registry forwarder ($SGE_HOST)" "$STATE/run/sge-fwd-host.pid" socat
    # Image mounts of jobs whose epilog never ran.
    while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done < <(awk -v d="$SGE_RUN_DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts)
    rm -f "$STATE/sge.env"
}

sge_status() {
    local rc=0 pid h load
    if pid=$(sge_qmaster_pid) && sge_answers; then
        echo "sge_qmaster up    pid $pid, cell $SGE_ROOT/$SGE_CELL, ports 6444/6445"
    else
        echo "sge_qmaster DOWN"
        rc=1
    fi
    for h in "$SGE_HOST" "$SGE_HOST2"; do
        load=$(qhost -h "$h" 2>/dev/null | awk 'NR > 3 {print $4}')
        if pid=$(sge_execd_pid "$h"); then
            echo "sge_execd $h  up    pid $pid, load ${load:--}"
        else
            echo "sge_execd $h  DOWN"
            rc=1
        fi
    done
    for h in "$SGE_HOST" "$SGE_HOST2"; do
        if pid=$(sge_agent_pid "$h"); then
            echo "sge agent $h  up    pid $pid, http://$(sge_agent_listen "$h")/, cache $SGE_STATE/cache/$h, log $(sge_agent_log "$h")"
        else
            echo "sge agent $h  DOWN  log $(sge_agent_log "$h")"
            rc=1
        fi
    done
    if pid_of "$STATE/run/sge-fwd-host.pid" socat >/dev/null && pid_of "$STATE/run/sge-fwd-vm2.pid" socat >/dev/null; then
        echo "sge registry forwarders up    $SGE_HOST2 127.0.0.1:5000 -> $SGE_ADDR1:5000 -> $REGISTRY"
    else
        echo "sge registry forwarders DOWN"
        rc=1
    fi
    return $rc
}
