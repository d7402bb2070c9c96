#!/usr/bin/env bash
# One command to run corepin on this machine: installs what is needed, builds, starts
# libvirtd if it is not running, then runs corepind (state in /var/lib/corepin/corepin.db)
# and adds this machine as host "local" (pCPU 0 kept for housekeeping) if it is not there yet.
#   scripts/run.sh                 # as root; Ctrl-C stops corepind
# Environment: COREPIN_LISTEN (127.0.0.1:7480), COREPIN_DB, COREPIN_HOUSEKEEPING (0).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh"

listen=${COREPIN_LISTEN:-127.0.0.1:7480}
db=${COREPIN_DB:-/var/lib/corepin/corepin.db}
export COREPIN_URL="http://$listen"
# --allow-simulated-hosts: the README's tour adds simulated 128-pCPU hosts (fixture:); a production
# corepind leaves it out and takes only real libvirt hosts.
"$top/build/src/daemon/corepind" --db "$db" --listen "$listen" --allow-simulated-hosts &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null' INT TERM EXIT
for _ in $(seq 50); do curl -sf "$COREPIN_URL/v1/health" >/dev/null && break; sleep 0.2; done
cli="$top/build/src/cli/corepin"
if ! "$cli" host show local >/dev/null 2>&1; then
  "$cli" host add local --uri qemu:///system --housekeeping "${COREPIN_HOUSEKEEPING:-0}"
fi
"$cli" host list
echo "corepind is running at $COREPIN_URL (pid $daemon). Try: $cli vm create -f $top/examples/dedicated.yaml"
wait $daemon
