#!/bin/bash -p
# Placement starter_method for Grid Engine queues (queue_conf(5); docs/gridengine.md).
# Runs as the job owner with the job's environment. Script jobs arrive as ".../job_scripts/<id> ARGS" and run as Grid
# Engine would run them (script_job below: by their #! line under unix_behavior, else by $SGE_STARTER_SHELL_PATH, as a
# login shell when SGE says so); binary (-b y) jobs arrive as the command and its arguments and run as
# `<job shell> -c "CMD ARGS "`, as without a starter (exec'd directly with -shell n); script_from_stdin jobs arrive as
# "-s ARGS" and run by the job shell reading the script from stdin. qrsh jobs with a command
# arrive from qrsh_starter, one argument per qrsh argument, with SGE_STARTER_SHELL_PATH set to "": like qrsh without a
# starter they run as `<login shell> -c "ARGS joined by spaces"`, or exec'd directly with `qrsh -noshell`.
#
# Jobs without $PLACEMENT_IMAGE / $CONTAINER_IMAGE run as if there were no starter. Jobs with one run inside the image
# the prolog (`placement sge prolog`) mounted read-only at $PLACEMENT_SGE_RUN_DIR/<host>/<job>.<task>/root, with
# bubblewrap:
#   /            the image (read-only); only the directories the binds below need are synthesized around them
#   /proc /dev   fresh (--proc, --dev);  /tmp  a private tmpfs, with $TMPDIR (Grid Engine's per-job scratch) bound in
#   bound read-write at their own paths: the working directory, $HOME; read-only: the job_scripts directory;
#   plus every directory in $PLACEMENT_BINDS (colon-separated host paths, bound read-write at the same path).
# When the prolog could not provide the image, the job fails here with the prolog's message and exit code.
# Alternative runtime: PLACEMENT_RUNTIME=apptainer runs `apptainer exec <artifact> CMD` instead (binds: see docs).
#
# The job's environment is the job owner's and must not steer this script, yet must reach the job unchanged. `bash -p`
# (the #! line) reads no BASH_ENV and imports no functions (BASH_FUNC_*) and no SHELLOPTS/BASHOPTS; it still passes the
# BASH_FUNC_* variables on, but exports its own SHELLOPTS/BASHOPTS in place of the job's. So the job's environment is
# read from /proc as execve gave it, variables that would steer bash are dropped here, and every command is exec'd
# with exactly that environment (run below).
jobenv=() env_ok=0
if [ -r "/proc/$$/environ" ]; then
   while IFS= read -r -d '' kv; do case $kv in [!=]*=*) jobenv+=("$kv") ;; esac; done < "/proc/$$/environ" && env_ok=1
fi
# run CMD ARGS: exec CMD with the job's own environment (env by its full path: the job's PATH may lack it). `exec -c`:
# env gets the environment once, in its arguments, not also as its own (a job environment near 1 MB would not fit twice
# into ARG_MAX). A CMD with '=' in it (/scratch/lr=0.01/train) would be an assignment to env: /bin/sh execs it instead,
# by the same PATH search, and runs a script without #! itself as execvp does.
run() {
   local via=()
   case $1 in *=*) via=(/bin/sh -c 'exec "$@"' sh) ;; esac
   if [ $env_ok = 1 ]; then exec -c /usr/bin/env -i -- "${jobenv[@]}" "${via[@]}" "$@"; fi
   exec /usr/bin/env -- "${via[@]}" "$@"
}
unset -v CDPATH GLOBIGNORE EXECIGNORE TMOUT BASH_COMPAT POSIXLY_CORRECT
set +o posix
# nounset only where an empty array expands to nothing (bash >= 4.4); bash 4.2/4.3 (EL7) would abort at "${binds[@]}"
if ((BASH_VERSINFO[0] > 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] >= 4))); then set -u; fi
cmd=()

in_root() { # in_root SHELL [ROOT]: SHELL if ROOT (the image; "" = the host) has it, else /bin/sh
   local shell=${1:-/bin/sh}
   if [ -n "${2:-}" ] && [ ! -x "$2$shell" ] && [ ! -L "$2$shell" ]; then shell=/bin/sh; fi
   printf '%s' "$shell"
}
job_shell() { in_root "${SGE_STARTER_SHELL_PATH:-/bin/sh}" "${1:-}"; } # script jobs: SGE's choice of shell
# shell_cmd SHELL: in cmd, SHELL started as Grid Engine starts the job shell. When Grid Engine asks for a login shell
# (SGE_STARTER_USE_LOGIN_SHELL=true: the shell is in login_shells) it starts it under the name "-<shell>" ("-csh"):
# the same here through placement-holder's exec mode (`as`, set below: bash's own `exec -a` would pass bash's
# environment on instead of the job's, and bubblewrap 0.8 has no --argv0). Without placement-holder, -l for the shells
# that take it with more arguments; csh and tcsh take -l only alone, so they then start as plain shells (no .login).
as=()
holder=${PLACEMENT_HOLDER:-/usr/lib/placement/placement-holder}
login=0
if [ "${SGE_STARTER_USE_LOGIN_SHELL:-false}" = true ]; then login=1; fi
shell_cmd() {
   cmd=("$1")
   [ $login = 1 ] || return 0
   if [ ${#as[@]} -gt 0 ]; then cmd=("${as[@]}" "-${1##*/}" "$1"); return; fi
   case ${1##*/} in csh|tcsh) ;; *) cmd+=(-l) ;; esac
}
# script_job ROOT SCRIPT ARGS: the command that runs a script job, in cmd, as Grid Engine starts it without a starter
# (queue_conf(5) shell_start_mode; the shepherd tells a starter the queue's mode in SGE_STARTER_SHELL_START_MODE):
# unix_behavior and raw_exec run the script itself, so its #! line picks the interpreter (python, env, bash -l, ...; one
# without #! runs by /bin/sh, as execvp does); posix_compliant and script_from_stdin run it by the job's shell, as a
# login shell when that shell is in login_shells (SGE_STARTER_USE_LOGIN_SHELL=true: profiles, module setup).
script_job() {
   local root=$1; shift
   case ${SGE_STARTER_SHELL_START_MODE:-posix_compliant} in
      unix_behavior|raw_exec) cmd=("$@") ;;
      *) shell_cmd "$(job_shell "$root")"; cmd+=("$@") ;;
   esac
}
login_shell() { in_root "$(getent passwd "$(id -un)" | cut -d: -f7)" "${1:-}"; } # qrsh jobs: the owner's shell

# The job's config in $SGE_JOB_SPOOL_DIR (the shepherd's, readable by the job owner): whether it is a binary job
# (qsub -b y), with -shell n, and its command.
as_binary="" no_shell="" script_file=""
if [ -n "${SGE_JOB_SPOOL_DIR:-}" ] && [ -r "$SGE_JOB_SPOOL_DIR/config" ]; then
   while IFS='=' read -r key value; do
      case $key in handle_as_binary) as_binary=$value ;; no_shell) no_shell=$value ;; script_file) script_file=$value ;; esac
   done < "$SGE_JOB_SPOOL_DIR/config"
fi
script=0 qrsh=0
# (a binary job's command may lie under a directory named job_scripts too)
case "${1:-}" in */job_scripts/*) [ "$as_binary" = 1 ] || script=1 ;; esac
# qrsh_starter (qrsh <command>, builtin rsh_daemon) exports SGE_STARTER_SHELL_PATH="" and unix_behavior; batch jobs get
# the queue's shell. `qrsh -noshell` shows only as an argument of qrsh_starter, our parent.
if [ $script = 0 ] && [ -n "${SGE_STARTER_SHELL_PATH+set}" ] && [ -z "$SGE_STARTER_SHELL_PATH" ] &&
   [ "${SGE_STARTER_SHELL_START_MODE:-}" = unix_behavior ]; then
   qrsh=1
   if tr '\0' '\n' < "/proc/$PPID/cmdline" 2>/dev/null | grep -qx noshell; then qrsh=noshell; fi
fi

# Binary jobs (qsub -b y) run by the job's shell as `<shell> -c "CMD ARGS "`, as the shepherd runs them without a
# starter (SoGE 8.1.9 builtin_starter.c, start_command "Case 1": handle_as_binary and not -shell n), so $JOB_ID in their
# arguments expand and globs match; a starter is given CMD and ARGS as separate arguments instead. -shell n jobs, and
# jobs whose config cannot be read, are exec'd as given.
binary=0
if [ $script = 0 ] && [ $qrsh = 0 ] && [ "$as_binary" = 1 ] && [ "$no_shell" != 1 ]; then binary=1; fi
# script_from_stdin queues: the shepherd gives a starter "-s ARGS" with the script on stdin ("Case 2"); for a binary
# job too, whose command is then only in the config (without a starter it would run by "Case 1").
stdin=0
if [ $script = 0 ] && [ "${SGE_STARTER_SHELL_START_MODE:-}" = script_from_stdin ] && [ "${1:-}" = -s ]; then
   if [ $binary = 1 ] && [ -n "$script_file" ]; then shift; set -- "$script_file" "$@"; else stdin=1; binary=0; fi
fi
# shell_job ROOT ARGS: in cmd, the job's shell (a login shell when SGE says so, as its "-sh" argv0 does) running a
# binary job's "CMD ARGS ", or reading the script from stdin with ARGS.
shell_job() {
   local root=$1 shell; shift
   shell=$(job_shell "$root")
   if [ $binary = 1 ] && [ -n "$root" ] && [ ! -x "$root$shell" ] && [ ! -L "$root$shell" ]; then
      # An image without any shell (distroless): the command as given, unexpanded, rather than no job at all.
      printf 'placement: job %s: the image has no shell (%s): the binary job runs as given, its arguments not expanded\n' "${JOB_ID:-?}" "$shell" >&2
      cmd=("$@"); return
   fi
   shell_cmd "$shell"
   if [ $binary = 1 ]; then cmd+=(-c "$* "); else cmd+=("$@"); fi
}

image=${PLACEMENT_IMAGE:-${CONTAINER_IMAGE:-}}
if [ -z "$image" ]; then
   if [ $login = 1 ] && [ -x "$holder" ]; then as=("$holder" exec); fi
   # run: env's execvp, which runs a script without #! by /bin/sh (bash's exec would run it by bash)
   if [ $script = 1 ]; then script_job "" "$@"; run "${cmd[@]}"; fi
   if [ $binary = 1 ] || [ $stdin = 1 ]; then shell_job "" "$@"; run "${cmd[@]}"; fi
   if [ $qrsh = 1 ]; then run "$(login_shell)" -c "$*"; fi
   run "$@"
fi

host=$(uname -n); host=${host%%.*}
rundir=${PLACEMENT_SGE_RUN_DIR:-/run/placement/sge} # must be the prolog's --run-dir (docs/gridengine.md)
jobdir=$rundir/$host/${JOB_ID:-none}.${SGE_TASK_ID:-undefined}
[ "${SGE_TASK_ID:-undefined}" != undefined ] || jobdir=${jobdir%.*}.undefined

status="" exitcode=1 message="" root="" artifact=""
if [ -r "$jobdir/state" ]; then
   while IFS='=' read -r key value; do
      case $key in
         status) status=$value ;; exit) exitcode=$value ;; message) message=$value ;;
         root) root=$value ;; artifact) artifact=$value ;;
      esac
   done < "$jobdir/state"
fi
if [ "$status" != ok ]; then
   if [ -z "$status" ]; then
      if [ -n "${PLACEMENT_SGE_RUN_DIR:-}" ]; then setting="PLACEMENT_SGE_RUN_DIR=$rundir in the job environment"
      else setting="default run directory $rundir (PLACEMENT_SGE_RUN_DIR unset)"; fi
      message="no result from the Placement prolog in $jobdir/state: is queue ${QUEUE:-?} configured with 'prolog root@/usr/bin/placement sge prolog' (docs/gridengine.md), and is the prolog's --run-dir the starter's $setting?"
      # A parallel job's task on another host than its master (qrsh -inherit): Grid Engine runs the queue prolog on
      # the master host only, so no host but that one has the image mounted.
      master=""
      if [ -n "${PE:-}" ] && [ -r "${PE_HOSTFILE:-}" ]; then read -r master _ < "$PE_HOSTFILE"; master=${master%%.*}; fi
      if [ -n "$master" ] && [ "$master" != "$host" ]; then
         message="this is a task of parallel job ${JOB_ID:-?} (PE $PE) on $host, not on its master host $master: Grid Engine runs the queue prolog on the master host only, so only there is the image mounted; jobs inside an image must keep to one host (a PE with allocation_rule \$pe_slots, docs/gridengine.md)"
      fi
   fi
   printf 'placement: job %s: image %s: %s\n' "${JOB_ID:-?}" "$image" "$message" >&2
   case $exitcode in ''|*[!0-9]*|0) exitcode=1 ;; esac
   exit "$exitcode"
fi

if [ "${PLACEMENT_RUNTIME:-bwrap}" = apptainer ]; then
   if [ $script = 1 ]; then script_job "" "$@"; set -- "${cmd[@]}"; fi
   if [ $binary = 1 ] || [ $stdin = 1 ]; then shell_job "" "$@"; set -- "${cmd[@]}"; fi
   if [ $qrsh = 1 ]; then set -- "$(login_shell)" -c "$*"; fi
   run apptainer exec --bind "${TMPDIR:-/tmp}" "$artifact" "$@"
fi

# Host directories to bind at their own path. Nested ones are covered by their parent.
binds=()
is_bind() { local b; for b in "${binds[@]}"; do [ "$b" = "$1" ] && return 0; done; return 1; }
spool=""
if [ $script = 1 ]; then spool=$(dirname "$1"); fi
add_bind() { # add_bind DIR: DIR's physical path; one that cannot be resolved is left out (bwrap would fail the job)
   local real
   [ -n "$1" ] && [ -d "$1" ] && [ "$1" != / ] || return 0
   if real=$(CDPATH='' cd -- "$1" 2>/dev/null && pwd -P) && [ -n "$real" ]; then
      is_bind "$real" || binds+=("$real") # the working directory is often $HOME: one bind
   else
      printf 'placement: job %s: not bound into the image: %s (cannot enter it as %s)\n' "${JOB_ID:-?}" "$1" "$(id -un)" >&2
   fi
}
add_bind "$PWD"
add_bind "${HOME:-}"
add_bind "$spool"
case "${TMPDIR:-}" in /tmp/*|'') ;; *) add_bind "$TMPDIR" ;; esac
IFS=: read -r -a extra <<< "${PLACEMENT_BINDS:-}"
for d in "${extra[@]}"; do
   if [ -n "$d" ] && [ ! -d "$d" ]; then
      printf 'placement: job %s: not bound into the image: %s (PLACEMENT_BINDS: no such directory)\n' "${JOB_ID:-?}" "$d" >&2
   fi
   add_bind "$d"
done

covered() { # is $1 equal to or inside another bind?
   local b
   for b in "${binds[@]}"; do
      [ "$b" != "$1" ] || continue
      case "$1/" in "$b"/*) return 0 ;; esac
   done
   return 1
}
keep=()
for b in "${binds[@]}"; do covered "$b" || keep+=("$b"); done
binds=("${keep[@]}")

on_path() { local b; for b in "${binds[@]}"; do case "$b/" in "$1"/*) return 0 ;; esac; done; return 1; }

# The image is read-only, so bwrap cannot create mount points in it. Build / on bwrap's own tmpfs instead: bind
# every entry of the image at its place, except directories that lead to a bind, which are created and filled
# entry by entry the same way (one level per path component).
args=()
graft() { # graft DIR ("" for /)
   local e name p
   for e in "$root$1"/* "$root$1"/.[!.]*; do
      [ -e "$e" ] || [ -L "$e" ] || continue
      name=${e##*/}; p=$1/$name
      case $p in /proc|/dev|/tmp) continue ;; esac
      if is_bind "$p"; then
         continue
      elif [ -L "$e" ]; then
         args+=(--symlink "$(readlink "$e")" "$p")
      elif [ -d "$e" ] && on_path "$p"; then
         args+=(--dir "$p"); graft "$p"
      else
         args+=(--ro-bind "$e" "$p")
      fi
   done
}
graft ""
args+=(--proc /proc --dev /dev --tmpfs /tmp)
case "${TMPDIR:-}" in /tmp/?*) [ -d "$TMPDIR" ] && args+=(--bind "$TMPDIR" "$TMPDIR") ;; esac
for b in "${binds[@]}"; do
   if [ "$b" = "$spool" ]; then args+=(--ro-bind "$b" "$b"); else args+=(--bind "$b" "$b"); fi
done
args+=(--chdir "$PWD" --setenv PLACEMENT_IMAGE "$image" --remount-ro /)

# A login shell's name through placement-holder, which bwrap runs from a descriptor it passes on (the image has no
# placement-holder; the holder closes it before the shell starts). Opened only for a job the job shell runs: a script
# under unix_behavior or raw_exec, or a qrsh command, would inherit it.
shell_runs=0
if [ $binary = 1 ] || [ $stdin = 1 ]; then shell_runs=1; fi
if [ $script = 1 ]; then case ${SGE_STARTER_SHELL_START_MODE:-posix_compliant} in unix_behavior|raw_exec) ;; *) shell_runs=1 ;; esac; fi
if [ $login = 1 ] && [ $shell_runs = 1 ] && [ -x "$holder" ] && exec {holder_fd}<"$holder"; then as=("/proc/self/fd/$holder_fd" exec); fi
if [ $script = 1 ]; then script_job "$root" "$@"; set -- "${cmd[@]}"; fi # bwrap execvp's the command
if [ $binary = 1 ] || [ $stdin = 1 ]; then shell_job "$root" "$@"; set -- "${cmd[@]}"; fi
if [ $qrsh = 1 ]; then set -- "$(login_shell "$root")" -c "$*"; fi
run bwrap "${args[@]}" -- "$@"
