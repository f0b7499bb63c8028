#!/usr/bin/env bash
# test_sched_truth with the agent's fallbacks forced: run-queue waits timed
# by the wakeup hooks (REQLENS_SCHED_INFO=0), as on kernels without
# sched_info, and every service's histogram buckets hashed
# (REQLENS_SCHED_DENSE_SVCS=0), as for services beyond the first 64. The
# same ground truth must hold.
RL_SCHED_FALLBACKS=1 exec bash "$(dirname "$0")/test_sched_truth.sh"
