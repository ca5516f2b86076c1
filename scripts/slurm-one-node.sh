#!/bin/bash
# A one-node Slurm cluster for tests (Debian/Ubuntu, as root): munge + slurmctld + slurmd on this host.
#   apt-get install -y slurm-wlm munge && scripts/slurm-one-node.sh && sinfo
# State and logs go to ${SLURM_TEST_DIR:-/tmp/gptkit-slurm}; tests/test_exec_slurm.py's real round trip
# runs when `sinfo` answers.
set -euo pipefail
dir=${SLURM_TEST_DIR:-/tmp/gptkit-slurm}
host=$(hostname -s)
mkdir -p "$dir"/{state,spool,log} /run/munge /var/log/munge /var/lib/munge
pgrep -x munged >/dev/null || munged --force
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=gptkit
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
pgrep -x slurmctld >/dev/null || slurmctld -c
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 30); do sinfo --noheader 2>/dev/null | grep -q idle && exit 0; sleep 1; done
echo "slurm did not come up; see $dir/log" >&2
exit 1
