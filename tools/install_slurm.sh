#!/usr/bin/env bash
# What tests/test_slurm.py and `make autograde ENGINE=slurm` on one machine need from Debian (`make slurm`, run by
# `make test`): Slurm's controller, node daemon and commands, and munge for their authentication; see
# tools/apt_install.sh. A real cluster has its own Slurm; this is for the one-node test cluster (tools/slurm_cluster.py).
exec "$(dirname "$0")/apt_install.sh" "tests/test_slurm.py" "slurmctld slurmd sbatch munged" slurm-wlm munge
