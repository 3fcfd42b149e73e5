#!/usr/bin/env perl
# slurm.pl: run a command as a Slurm array job (sbatch), with the interface of run.pl.
#
#   slurm.pl [options] [JOB=1:N] LOGFILE COMMAND...
#
# This is queue.pl with the Slurm back-end: the generic options (--mem, --gpu, --num-threads,
# --time, ...) are mapped to sbatch flags by conf/slurm.conf (or --config FILE, or a built-in
# default), the job script goes to <logdir>/q/, and slurm.pl waits by polling squeue and each task's
# exit-status file. See utils/queue.pl for the options and docs/cluster.md for the config.
# As in run.pl, every word of COMMAND reaches the job as exactly one argument, byte for byte: the
# job script single-quotes each word, so nothing in a word is shell syntax (for a pipe, pass
# "bash -o pipefail -c '...'" as the command).
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;

require(dirname(File::Spec->rel2abs(__FILE__)) . '/queue.pl');
exit(TfgplScheduler::main('slurm', @ARGV));
