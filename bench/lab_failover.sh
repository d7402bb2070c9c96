#!/bin/bash
# The failover benchmark of issue 6, end to end in the lab: each round powers the ACT's host off
# through its BMC and prints the timeline (detected, fenced, promoted, service restored,
# redundancy restored, packets lost), then median and worst over the rounds (at least 10) and a
# verdict against the aims (detected < 1 s, service < 2 s, redundancy < 10 s). The set-up and
# take-down are lab_switchover.sh's (see there; KIND=failover).
#
#   sudo bench/lab_failover.sh [lab_failover_bench options, e.g. --rounds 10 --interval-ms 2]
KIND=failover exec "$(dirname "$(readlink -f "$0")")/lab_switchover.sh" "$@"
