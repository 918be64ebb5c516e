#!/bin/sh
# Placement job submission verifier (docs/gridengine.md, "JSV"). Server side: `jsv_url /path/placement-jsv.sh` in the
# global configuration (runs as the admin user in sge_qmaster's environment); client side: `qsub -jsv /path/placement-jsv.sh`.
#
#   -l container_image=REF   or   -v CONTAINER_IMAGE=REF (or PLACEMENT_IMAGE=REF)
#     -> -soft -l img_<id>=true                  when the BOOL complex img_<id> exists (catalog images)
#     -> -soft -l placement_images=*+<id>+*      otherwise (<id> without the img_ prefix: the load sensor's list)
#     and CONTAINER_IMAGE=REF, PLACEMENT_IMAGE_ID=img_<id> in the job environment for the prolog and starter.
#   A reference the parser refuses rejects the job with the parser's message. Jobs without an image pass untouched.
#
# The protocol is spoken by `placement sge jsv`, not by Grid Engine's jsv_include.sh, which evals the job's values
# (a user's -l or -v value would run as the admin user). Catalog aliases come from the configuration
# ($PLACEMENT_CONFIG, else /etc/placement/placement.json). placement is $PLACEMENT_BIN, else ../../out/bin/placement
# next to this script (a source tree), else /usr/bin/placement, else the one on PATH. $PLACEMENT_JSV_MODE=hard makes
# the request hard (jobs wait for a holder). Which img_ complexes exist is asked (qconf -sc) in the background at start
# and every $PLACEMENT_JSV_COMPLEX_REFRESH seconds (default 30); a server JSV never waits for it.

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${PLACEMENT_BIN:-}" ]; then
   placement=$PLACEMENT_BIN
elif [ -x "$here/../../out/bin/placement" ]; then
   placement=$here/../../out/bin/placement
elif [ -x /usr/bin/placement ]; then
   placement=/usr/bin/placement
else
   placement=placement
fi
exec "$placement" sge jsv --mode="${PLACEMENT_JSV_MODE:-soft}" --complex-refresh="${PLACEMENT_JSV_COMPLEX_REFRESH:-30}"
