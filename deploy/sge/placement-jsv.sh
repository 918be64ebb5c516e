#!/bin/bash
# Placement job submission verifier (docs/gridengine.md). Server side: `jsv_url /path/placement-jsv.sh` in the global
# configuration (runs as the admin user in sge_qmaster's environment); client side: `qsub -jsv /path/placement-jsv.sh`.
#
#   -l container_image=REF   or   -v CONTAINER_IMAGE=REF (or PLACEMENT_IMAGE=REF)
#     -> -soft -l img_<id>=true                  when the BOOL complex img_<id> exists (catalog images)
#     -> -soft -l placement_images=*+<id>+*      otherwise (<id> without the img_ prefix: the load sensor's list)
#     and CONTAINER_IMAGE=REF, PLACEMENT_IMAGE_ID=img_<id> in the job environment for the prolog and starter.
#   A reference the parser refuses rejects the job with the parser's message. Jobs without an image pass untouched.
#
# The id comes from `placement ref --id` (catalog aliases from the configuration: $PLACEMENT_CONFIG, else
# /etc/placement/placement.json). placement is $PLACEMENT_BIN, else ../../out/bin/placement next to this script
# (a source tree), else the one on PATH. $PLACEMENT_JSV_MODE=hard makes the request hard (jobs wait for a holder).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -n "${PLACEMENT_BIN:-}" ]; then
   placement=$PLACEMENT_BIN
elif [ -x "$here/../../out/bin/placement" ]; then
   placement=$here/../../out/bin/placement
else
   placement=placement
fi
mode=${PLACEMENT_JSV_MODE:-soft}
case $mode in soft|hard) ;; *) mode=soft ;; esac

jsv_on_start()
{
   jsv_send_env              # makes the job's -v variables visible to jsv_is_env / jsv_get_env
   # jsv_add_env keeps what it adds in jsv_env_<NAME>, and jsv_include.sh clears only the variables the job sent: a
   # server JSV verifies many jobs in one process, so without this every job after an image job would look like one.
   unset jsv_env_CONTAINER_IMAGE jsv_env_PLACEMENT_IMAGE jsv_env_PLACEMENT_IMAGE_ID
}

jsv_on_verify()
{
   local img="" from_env="" id out errfile
   if [ "$(jsv_sub_is_param l_hard container_image)" = "true" ]; then
      img=$(jsv_sub_get_param l_hard container_image)
      jsv_sub_del_param l_hard container_image
   elif [ "$(jsv_sub_is_param l_soft container_image)" = "true" ]; then
      img=$(jsv_sub_get_param l_soft container_image)
      jsv_sub_del_param l_soft container_image
   elif [ "$(jsv_is_env CONTAINER_IMAGE)" = "true" ]; then
      img=$(jsv_get_env CONTAINER_IMAGE); from_env=CONTAINER_IMAGE
   elif [ "$(jsv_is_env PLACEMENT_IMAGE)" = "true" ]; then
      img=$(jsv_get_env PLACEMENT_IMAGE); from_env=PLACEMENT_IMAGE
   fi
   if [ -z "$img" ]; then
      jsv_accept "no container image"
      return
   fi
   # The id alone on stdout; stderr (the parser's message, or any warning) only for a rejection: mixed into the id, a
   # warning line would be sent to qmaster as a broken JSV protocol line.
   errfile=$(mktemp) || { jsv_reject "placement: cannot create a temporary file to run placement ref"; return; }
   if ! id=$("$placement" ref --id "$img" 2>"$errfile" </dev/null); then
      out=$(cat "$errfile"); rm -f "$errfile"
      out=${out:-placement: '$placement ref --id' failed without a message}
      # "placement: ref: <the parser's message>"
      jsv_reject "${out//$'\n'/ }"
      return
   fi
   rm -f "$errfile"
   if ! [[ $id =~ ^img_[A-Za-z0-9_.-]+$ ]]; then
      jsv_reject "placement: 'placement ref --id' printed '${id//$'\n'/ }', not an img_ id: is $placement the Placement CLI?"
      return
   fi
   if qconf -sc 2>/dev/null | awk -v n="$id" '$1 == n {found = 1} END {exit !found}'; then
      jsv_sub_add_param "l_$mode" "$id" true
   else
      jsv_sub_add_param "l_$mode" placement_images "*+${id#img_}+*"
   fi
   [ "$from_env" = CONTAINER_IMAGE ] || jsv_add_env CONTAINER_IMAGE "$img"
   jsv_add_env PLACEMENT_IMAGE_ID "$id"
   jsv_correct "placement: image $img ($id) requested ($mode)"
}

# shellcheck source=/dev/null
. "${SGE_ROOT:-/var/lib/gridengine}/util/resources/jsv/jsv_include.sh"
jsv_main
