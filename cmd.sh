# shellcheck shell=bash
# Job launchers of the recipe, sourced by run.sh. Every parallel step runs as
#
#   ${train_cmd} [--mem 4G] [--gpu 1] [--num-threads 2] [--max-jobs-run 8] JOB=1:N exp/x/log/step.JOB.log COMMAND...
#
# which runs COMMAND once per index 1..N with JOB replaced by the index (in the log name too), each
# job's output going to its own log. The launchers share that interface and differ only in where the
# jobs run (see docs/cluster.md):
#   run.pl    this machine, --max-jobs-run at a time (default: the number of cores)
#   slurm.pl  a Slurm cluster: one sbatch array job; options mapped by conf/slurm.conf
#   queue.pl  a Grid Engine cluster: one qsub array job; options mapped by conf/queue.conf
# They all exit non-zero if any job fails, naming a failed job's log.
#
# To run on a cluster: export CMD_BACKEND=slurm (or sge) before ./run.sh, or change the default
# below; then adapt conf/slurm.conf (partitions, GPU request, memory) to your site.
#   train_cmd   data preparation, simulation, statistics
#   cuda_cmd    training (asks for --gpu N when the stage uses GPUs)
#   decode_cmd  enhancement and scoring
cmd_backend=${CMD_BACKEND:-local}

case "${cmd_backend}" in
    local)
        export train_cmd="run.pl"
        export cuda_cmd="run.pl"
        export decode_cmd="run.pl"
        ;;
    slurm)
        export train_cmd="slurm.pl --mem 4G"
        export cuda_cmd="slurm.pl --mem 4G --num-threads 4"
        export decode_cmd="slurm.pl --mem 4G"
        ;;
    sge)
        export train_cmd="queue.pl --mem 4G"
        export cuda_cmd="queue.pl --mem 4G --num-threads 4"
        export decode_cmd="queue.pl --mem 4G"
        ;;
    *)
        echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (CMD_BACKEND); use local, slurm or sge" >&2
        return 1
        ;;
esac
