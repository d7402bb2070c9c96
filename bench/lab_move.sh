#!/bin/bash
# The live-migration benchmark of issue 7 in the lab: each round moves the ACT of a 1+1 group
# live (POST /v1/vms/ACT/move {"mode": "live"}, placement picks the host) under steady UDP
# traffic and prints, as the client sees it, the downtime (the longest silence of the ACT), the
# requests lost, the API call and the migration's took_ms, then median, p99 and worst over the
# rounds (at least 10) and a verdict against QEMU's default downtime limit (300 ms). The set-up
# and take-down are lab_switchover.sh's (see there; KIND=move: 4 lab hosts with a migration
# address, so a host is free besides the ACT's, the SBY's and the reserve's).
#
#   sudo bench/lab_move.sh [lab_move_bench options, e.g. --rounds 10 --interval-ms 2]
KIND=move exec "$(dirname "$(readlink -f "$0")")/lab_switchover.sh" "$@"
