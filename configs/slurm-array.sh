#!/usr/bin/env bash
# A study split over a Slurm job array: one shard per array task, then one merge job.
#
#   jobid=$(sbatch --parsable configs/slurm-array.sh configs/scale200.toml results/scale200)
#   sbatch --dependency=afterok:$jobid --wrap "mba merge results/scale200"
#
# Each task runs `mba simulate` without --shard: the shard is read from SLURM_ARRAY_TASK_ID
# (minus SLURM_ARRAY_TASK_MIN, so --array=1-8 works as well as 0-7) and SLURM_ARRAY_TASK_COUNT.
# Shards are 0-based and write results/.../parts/shard-I-of-N.json atomically; a task that
# finds its part already written skips the work, so resubmitting the array after a failure
# only reruns the missing shards. The output folder must be on a shared file system.
#SBATCH --job-name=mba-study
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --time=01:00:00
#SBATCH --output=mba-study-%A_%a.log
set -euo pipefail
study="${1:?usage: sbatch configs/slurm-array.sh STUDY.toml OUTDIR}"
out="${2:?usage: sbatch configs/slurm-array.sh STUDY.toml OUTDIR}"
exec mba simulate "$study" -o "$out" --threads "${SLURM_CPUS_PER_TASK:-1}"
